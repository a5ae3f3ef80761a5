//! S3-compatible object stores (AWS, MinIO, Ceph, ...) through `object_store`.
//!
//! As upstream: `endpoint` may be given with or without a scheme (without
//! one, `insecure: true` means `http://`, else `https://`); the region
//! defaults to `us-east-1`; non-AWS endpoints are addressed path-style unless
//! `addressingStyle: virtual` says otherwise (AWS and the default endpoint:
//! virtual-hosted unless `addressingStyle: path`). Credentials come from
//! `accessKeySecret`/`secretKeySecret` (and `sessionTokenSecret`); without
//! them, from the environment and the instance metadata (`useSDKCreds`).
//! `caSecret` adds a trusted root certificate; `encryptionOptions` with a KMS
//! key id asks for SSE-KMS.
//!
//! A file is one object; a directory is one object per file under the key as
//! a prefix (`key/rel/path`), as upstream's `PutDirectory` (empty directories
//! are not kept in that form: archive them). Loading a key that is an object
//! streams it through [`crate::archive::write_input_as`]; a key that is a
//! prefix becomes the directory `dest`.
//!
//! Not supported: `roleARN` and customer keys (`serverSideCustomerKeySecret`)
//! are rejected with a message; `createBucketIfNotPresent` is not acted on
//! (`object_store` has no bucket API): the bucket must exist, and a save to
//! a missing bucket fails with S3's `NoSuchBucket`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use sluice_api::types::{Artifact, S3Artifact};
use tokio::io::AsyncReadExt;

use super::{ArtifactError, Driver};
use crate::archive;
use crate::secrets::Secrets;

/// Multipart part size: S3 wants at least 5 MiB for every part but the last.
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts in flight at once while uploading one object (memory stays below
/// `PART_SIZE * (MAX_PARTS_IN_FLIGHT + 1)`).
pub const MAX_PARTS_IN_FLIGHT: usize = 4;
/// Objects transferred at once for a directory.
const MAX_OBJECTS_IN_FLIGHT: usize = 4;

/// One bucket of an S3-compatible store.
#[derive(Debug)]
pub struct S3Driver {
    store: Arc<AmazonS3>,
    bucket: String,
    key: Option<String>,
}

impl S3Driver {
    /// Builds the client for the artifact's location (no request is made).
    pub fn new(loc: &S3Artifact, secrets: &Secrets) -> Result<Self, ArtifactError> {
        // reqwest is built without a default rustls provider: install ring
        // once per process (a second install fails harmlessly).
        let _ = rustls::crypto::ring::default_provider().install_default();

        let bucket = loc
            .bucket
            .clone()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| ArtifactError::Config("s3 artifact has no bucket".into()))?;
        if loc.role_arn.as_deref().is_some_and(|r| !r.is_empty()) {
            return Err(ArtifactError::Unsupported(format!(
                "s3 bucket {bucket:?}: roleARN is not supported; use accessKeySecret/secretKeySecret or useSDKCreds"
            )));
        }
        let access_key = secrets.optional(loc.access_key_secret.as_ref())?;
        let secret_key = secrets.optional(loc.secret_key_secret.as_ref())?;
        let session_token = secrets.optional(loc.session_token_secret.as_ref())?;
        let insecure = loc.insecure.unwrap_or(false);
        let region = loc
            .region
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "us-east-1".to_string());

        let mut builder = match (&access_key, &secret_key) {
            (Some(a), Some(s)) => {
                let mut b = AmazonS3Builder::new()
                    .with_access_key_id(a.trim())
                    .with_secret_access_key(s.trim());
                if let Some(t) = &session_token {
                    b = b.with_token(t.trim());
                }
                b
            }
            (None, None) => AmazonS3Builder::from_env(),
            _ => {
                return Err(ArtifactError::Config(format!(
                    "s3 bucket {bucket:?}: accessKeySecret and secretKeySecret must be given together"
                )));
            }
        };
        builder = builder.with_region(&region).with_bucket_name(&bucket);

        let virtual_style = match loc.addressing_style.as_deref() {
            Some("path") => false,
            Some("virtual") => true,
            Some("") | None => loc.endpoint.as_deref().is_none_or(is_aws_endpoint),
            Some(other) => {
                return Err(ArtifactError::Config(format!(
                    "s3 bucket {bucket:?}: addressingStyle {other:?} is not \"path\" or \"virtual\""
                )));
            }
        };
        // Large objects stream for as long as they take: no total timeout.
        let mut options = ClientOptions::new().with_timeout_disabled();
        if let Some(pem) = secrets.optional(loc.ca_secret.as_ref())? {
            let cert = object_store::Certificate::from_pem(pem.as_bytes())
                .map_err(|e| ArtifactError::Config(format!("s3 caSecret: {e}")))?;
            options = options.with_root_certificate(cert);
        }
        if let Some(endpoint) = loc.endpoint.as_deref().filter(|e| !e.is_empty()) {
            let url = endpoint_url(endpoint, insecure)?;
            let url = if virtual_style {
                let mut u = url;
                let host = u
                    .host_str()
                    .ok_or_else(|| {
                        ArtifactError::Config(format!("s3 endpoint {endpoint:?} has no host"))
                    })?
                    .to_string();
                u.set_host(Some(&format!("{bucket}.{host}")))
                    .map_err(|e| ArtifactError::Config(format!("s3 endpoint {endpoint:?}: {e}")))?;
                u
            } else {
                url
            };
            builder = builder.with_endpoint(url.as_str().trim_end_matches('/'));
            options = options.with_allow_http(url.scheme() == "http");
        }
        // Set last: the client options replace any set before.
        builder = builder.with_client_options(options);
        builder = builder.with_virtual_hosted_style_request(virtual_style);

        if let Some(enc) = &loc.encryption_options {
            if enc.server_side_customer_key_secret.is_some() {
                return Err(ArtifactError::Unsupported(format!(
                    "s3 bucket {bucket:?}: serverSideCustomerKeySecret is not supported"
                )));
            }
            if enc.enable_encryption.unwrap_or(false)
                && let Some(kms) = enc.kms_key_id.as_deref().filter(|k| !k.is_empty())
            {
                builder = builder.with_sse_kms_encryption(kms);
            }
        }

        let store = builder
            .build()
            .map_err(|e| ArtifactError::Config(format!("s3 bucket {bucket:?}: {e}")))?;
        Ok(S3Driver {
            store: Arc::new(store),
            bucket,
            key: loc.key.clone(),
        })
    }

    /// The key to use for `art` (its own `s3.key`, else the driver's).
    fn key_of<'k>(&'k self, art: &'k Artifact) -> Result<&'k str, ArtifactError> {
        art.s3
            .as_ref()
            .and_then(|s| s.key.as_deref())
            .or(self.key.as_deref())
            .filter(|k| !k.trim_matches('/').is_empty())
            .ok_or_else(|| ArtifactError::Config(format!("s3 artifact {:?} has no key", art.name)))
    }

    fn object_path(&self, key: &str) -> Result<ObjectPath, ArtifactError> {
        ObjectPath::parse(key).map_err(|e| ArtifactError::Config(format!("s3 key {key:?}: {e}")))
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{}", self.bucket, key)
    }

    fn remote(&self, key: &str, e: object_store::Error) -> ArtifactError {
        match e {
            object_store::Error::NotFound { .. } => ArtifactError::NotFound(self.url(key)),
            e => ArtifactError::Remote(format!("{}: {e}", self.url(key))),
        }
    }

    /// Every object under `prefix/`.
    async fn list_under(
        &self,
        key: &str,
        prefix: &ObjectPath,
    ) -> Result<Vec<object_store::ObjectMeta>, ArtifactError> {
        self.store
            .list(Some(prefix))
            .try_collect()
            .await
            .map_err(|e| self.remote(key, e))
    }

    async fn load_object(
        &self,
        key: &str,
        path: &ObjectPath,
        art: &Artifact,
        dest: &Path,
    ) -> Result<bool, ArtifactError> {
        let got = match self.store.get(path).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(self.remote(key, e)),
        };
        let stream = got.into_stream().map_err(std::io::Error::other);
        let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream));
        let dest = dest.to_path_buf();
        let strategy = art.archive.clone();
        tokio::task::spawn_blocking(move || {
            archive::write_input_as(reader, &dest, strategy.as_ref())
        })
        .await
        .map_err(|e| {
            ArtifactError::Remote(format!("{}: loading task failed: {e}", self.url(key)))
        })??;
        Ok(true)
    }

    async fn load_prefix(
        &self,
        key: &str,
        path: &ObjectPath,
        dest: &Path,
    ) -> Result<(), ArtifactError> {
        let objects = self.list_under(key, path).await?;
        if objects.is_empty() {
            return Err(ArtifactError::NotFound(self.url(key)));
        }
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".sluice-load-")
            .tempdir_in(&parent)
            .map_err(|e| ArtifactError::io(&parent, e))?;
        let mut jobs = Vec::new();
        for obj in objects {
            let rel_parts: Vec<String> = obj
                .location
                .prefix_match(path)
                .map(|parts| parts.map(|p| p.as_ref().to_string()).collect())
                .unwrap_or_default();
            let rel = rel_parts.join("/");
            let rel_path = archive::entry_path(&rel).map_err(|reason| {
                ArtifactError::Archive(archive::ArchiveError::Unsafe {
                    entry: obj.location.to_string(),
                    reason,
                    target: dest.to_path_buf(),
                })
            })?;
            if rel_path.as_os_str().is_empty() {
                continue;
            }
            jobs.push((obj.location, tmp.path().join(rel_path)));
        }
        futures::stream::iter(jobs)
            .map(|(location, file)| async move { self.download(&location, &file).await })
            .buffer_unordered(MAX_OBJECTS_IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        let kept = tmp.keep();
        if let Err(e) = std::fs::rename(&kept, dest) {
            let _ = std::fs::remove_dir_all(&kept);
            return Err(ArtifactError::io(dest, e));
        }
        Ok(())
    }

    async fn download(&self, location: &ObjectPath, file: &Path) -> Result<(), ArtifactError> {
        let key = location.as_ref();
        if let Some(parent) = file.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| ArtifactError::io(parent, e))?;
        }
        let got = self
            .store
            .get(location)
            .await
            .map_err(|e| self.remote(key, e))?;
        let mut stream = got.into_stream();
        let mut out = tokio::fs::File::create(file)
            .await
            .map_err(|e| ArtifactError::io(file, e))?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.remote(key, e))?;
            tokio::io::AsyncWriteExt::write_all(&mut out, &chunk)
                .await
                .map_err(|e| ArtifactError::io(file, e))?;
        }
        tokio::io::AsyncWriteExt::flush(&mut out)
            .await
            .map_err(|e| ArtifactError::io(file, e))?;
        Ok(())
    }

    /// Uploads one file: a single PUT when it fits in one part, else a
    /// multipart upload with at most [`MAX_PARTS_IN_FLIGHT`] parts in flight.
    async fn upload_file(&self, file: &Path, key: &str) -> Result<(), ArtifactError> {
        let path = self.object_path(key)?;
        let mut f = tokio::fs::File::open(file)
            .await
            .map_err(|e| ArtifactError::io(file, e))?;
        let size = f
            .metadata()
            .await
            .map_err(|e| ArtifactError::io(file, e))?
            .len();
        if size <= PART_SIZE as u64 {
            let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            f.read_to_end(&mut buf)
                .await
                .map_err(|e| ArtifactError::io(file, e))?;
            self.store
                .put(&path, PutPayload::from(Bytes::from(buf)))
                .await
                .map_err(|e| self.remote(key, e))?;
            return Ok(());
        }
        let upload = self
            .store
            .put_multipart(&path)
            .await
            .map_err(|e| self.remote(key, e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut buf = vec![0u8; 1024 * 1024];
        let result: Result<(), ArtifactError> = async {
            loop {
                let n = f
                    .read(&mut buf)
                    .await
                    .map_err(|e| ArtifactError::io(file, e))?;
                if n == 0 {
                    return Ok(());
                }
                writer
                    .wait_for_capacity(MAX_PARTS_IN_FLIGHT)
                    .await
                    .map_err(|e| self.remote(key, e))?;
                writer.write(&buf[..n]);
            }
        }
        .await;
        match result {
            Ok(()) => {
                writer.finish().await.map_err(|e| self.remote(key, e))?;
                Ok(())
            }
            Err(e) => {
                let _ = writer.abort().await;
                Err(e)
            }
        }
    }
}

fn is_aws_endpoint(endpoint: &str) -> bool {
    endpoint.contains("amazonaws.com")
}

/// The endpoint as a URL: a scheme is added when missing.
fn endpoint_url(endpoint: &str, insecure: bool) -> Result<url::Url, ArtifactError> {
    let with_scheme = if endpoint.contains("://") {
        endpoint.to_string()
    } else if insecure {
        format!("http://{endpoint}")
    } else {
        format!("https://{endpoint}")
    };
    url::Url::parse(&with_scheme)
        .map_err(|e| ArtifactError::Config(format!("s3 endpoint {endpoint:?}: {e}")))
}

impl Driver for S3Driver {
    fn load<'a>(
        &'a self,
        art: &'a Artifact,
        dest: &'a Path,
    ) -> BoxFuture<'a, Result<(), ArtifactError>> {
        Box::pin(async move {
            let key = self.key_of(art)?;
            let path = self.object_path(key)?;
            if self.load_object(key, &path, art, dest).await? {
                return Ok(());
            }
            self.load_prefix(key, &path, dest).await
        })
    }

    fn save<'a>(
        &'a self,
        src: &'a Path,
        art: &'a Artifact,
    ) -> BoxFuture<'a, Result<(), ArtifactError>> {
        Box::pin(async move {
            let key = self.key_of(art)?;
            let meta = tokio::fs::metadata(src)
                .await
                .map_err(|e| ArtifactError::io(src, e))?;
            if !meta.is_dir() {
                return self.upload_file(src, key).await;
            }
            let root = src.to_path_buf();
            let files = tokio::task::spawn_blocking(move || archive::files_under(&root))
                .await
                .map_err(|e| ArtifactError::Remote(format!("listing {}: {e}", src.display())))??;
            let prefix = key.trim_end_matches('/');
            futures::stream::iter(files)
                .map(|(rel, file)| async move {
                    self.upload_file(&file, &format!("{prefix}/{rel}")).await
                })
                .buffer_unordered(MAX_OBJECTS_IN_FLIGHT)
                .try_collect::<Vec<()>>()
                .await?;
            Ok(())
        })
    }

    fn list<'a>(&'a self, art: &'a Artifact) -> BoxFuture<'a, Result<Vec<String>, ArtifactError>> {
        Box::pin(async move {
            let key = self.key_of(art)?;
            let path = self.object_path(key)?;
            match self.store.head(&path).await {
                Ok(_) => return Ok(vec![path.to_string()]),
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.remote(key, e)),
            }
            let mut keys: Vec<String> = self
                .list_under(key, &path)
                .await?
                .into_iter()
                .map(|o| o.location.to_string())
                .collect();
            keys.sort();
            Ok(keys)
        })
    }

    fn delete<'a>(&'a self, art: &'a Artifact) -> BoxFuture<'a, Result<(), ArtifactError>> {
        Box::pin(async move {
            let key = self.key_of(art)?;
            let path = self.object_path(key)?;
            match self.store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.remote(key, e)),
            }
            let under = self.store.list(Some(&path)).map_ok(|o| o.location).boxed();
            self.store
                .delete_stream(under)
                .try_collect::<Vec<_>>()
                .await
                .map_err(|e| self.remote(key, e))?;
            Ok(())
        })
    }
}
