//! HTTP(S) artifacts: GET to load, PUT to save, as Argo does.
//!
//! - Loading streams the body through [`crate::archive::write_input_as`] (the
//!   artifact's `archive` strategy, else sniffed: tarballs and zips are
//!   unpacked) into a temporary sibling of `dest`, renamed onto `dest` only
//!   once the whole body has arrived: a body cut short (fewer bytes than
//!   `Content-Length`, a dropped connection) fails and leaves nothing at
//!   `dest`. Redirects are followed (at most [`MAX_REDIRECTS`]).
//! - Saving PUTs one file, streamed, with its `Content-Length`; a `307`/`308`
//!   redirect is followed by sending the file again (webHDFS does this), any
//!   other redirect is an error (a PUT silently turned into a GET would lose
//!   the upload). Directories cannot be saved (archive them first).
//! - Listing is a HEAD request: the URL itself when it exists, nothing on 404.
//! - Deleting is not supported (as in Argo, artifact GC skips HTTP artifacts).
//!
//! Authentication: the artifact's `headers` (e.g. `Authorization: Bearer ...`),
//! `auth.basicAuth` (username and password secrets), `auth.oauth2` (the OAuth2
//! client-credentials grant: a token is fetched from the token URL and sent as
//! `Authorization: <type> <token>`), and `auth.clientCert` (a TLS client
//! certificate and key, PEM).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::TryStreamExt;
use futures::future::BoxFuture;
use reqwest::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HeaderMap, HeaderName, HeaderValue,
    LOCATION, PROXY_AUTHORIZATION,
};
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode, Url};
use sluice_api::types::{Artifact, HTTPArtifact, OAuth2Auth};
use tokio_util::io::{ReaderStream, StreamReader, SyncIoBridge};

use super::{ArtifactError, Driver};
use crate::secrets::Secrets;

/// Redirects followed before giving up.
pub const MAX_REDIRECTS: usize = 10;
/// A connection idle this long (no byte received) fails the transfer.
const READ_TIMEOUT: Duration = Duration::from_secs(300);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Loads and saves HTTP artifacts.
pub struct HttpDriver {
    url: Url,
    headers: HeaderMap,
    basic: Option<(String, String)>,
    oauth2: Option<OAuth2>,
    /// Follows redirects (GET, HEAD).
    client: Client,
    /// Follows none, for PUT (see the module documentation).
    put_client: Client,
}

impl fmt::Debug for HttpDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpDriver")
            .field("url", &self.url.as_str())
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("basic_auth", &self.basic.is_some())
            .field("oauth2", &self.oauth2.as_ref().map(|o| &o.token_url))
            .finish_non_exhaustive()
    }
}

/// The OAuth2 client-credentials grant.
struct OAuth2 {
    client_id: String,
    client_secret: String,
    token_url: String,
    scopes: Vec<String>,
    params: Vec<(String, String)>,
}

impl HttpDriver {
    /// Resolves the location and reads its secrets; builds the client.
    pub fn new(loc: &HTTPArtifact, secrets: &Secrets) -> Result<Self, ArtifactError> {
        let raw_url = loc
            .url
            .as_deref()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| ArtifactError::Config("http artifact: url is required".into()))?;
        let url = Url::parse(raw_url)
            .map_err(|e| ArtifactError::Config(format!("http artifact: url {raw_url:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ArtifactError::Config(format!(
                "http artifact: url {raw_url:?}: the scheme must be http or https"
            )));
        }
        let config = |what: &str, e: &dyn fmt::Display| {
            ArtifactError::Config(format!("http artifact {url}: {what}: {e}"))
        };

        let mut headers = HeaderMap::new();
        for h in &loc.headers {
            let name = HeaderName::from_bytes(h.name.as_bytes())
                .map_err(|e| config(&format!("header {:?}", h.name), &e))?;
            let value = HeaderValue::from_str(h.value.as_deref().unwrap_or(""))
                .map_err(|e| config(&format!("header {:?} value", h.name), &e))?;
            headers.append(name, value);
        }

        let mut basic = None;
        let mut oauth2 = None;
        let mut identity = None;
        if let Some(auth) = &loc.auth {
            if let Some(b) = &auth.basic_auth {
                let user = secrets
                    .optional(b.username_secret.as_ref())
                    .map_err(|e| config("basicAuth.usernameSecret", &e))?;
                let pass = secrets
                    .optional(b.password_secret.as_ref())
                    .map_err(|e| config("basicAuth.passwordSecret", &e))?;
                // As Argo: basic auth only when both are given and non-empty.
                if let (Some(user), Some(pass)) = (user, pass)
                    && !user.is_empty()
                    && !pass.is_empty()
                {
                    basic = Some((user, pass));
                }
            }
            if let Some(o) = &auth.oauth2 {
                oauth2 = OAuth2::new(o, secrets).map_err(|e| config("oauth2", &e))?;
            }
            if let Some(c) = &auth.client_cert
                && let (Some(cert), Some(key)) = (&c.client_cert_secret, &c.client_key_secret)
            {
                let cert = secrets
                    .selector(cert)
                    .map_err(|e| config("clientCert.clientCertSecret", &e))?;
                let key = secrets
                    .selector(key)
                    .map_err(|e| config("clientCert.clientKeySecret", &e))?;
                let pem = format!("{}\n{}\n", cert.trim_end(), key.trim_end());
                identity = Some(
                    reqwest::Identity::from_pem(pem.as_bytes())
                        .map_err(|e| config("clientCert", &chain(&e)))?,
                );
            }
        }

        install_crypto_provider();
        let build = |policy: reqwest::redirect::Policy| {
            let mut b = Client::builder()
                .redirect(policy)
                .connect_timeout(CONNECT_TIMEOUT)
                .read_timeout(READ_TIMEOUT);
            if let Some(id) = identity.clone() {
                b = b.identity(id);
            }
            b.build()
                .map_err(|e| config("building the HTTP client", &chain(&e)))
        };
        let client = build(reqwest::redirect::Policy::limited(MAX_REDIRECTS))?;
        let put_client = build(reqwest::redirect::Policy::none())?;
        Ok(HttpDriver {
            url,
            headers,
            basic,
            oauth2,
            client,
            put_client,
        })
    }

    /// A request with the artifact's headers and authentication.
    async fn request(
        &self,
        client: &Client,
        method: Method,
        url: Url,
        same_origin: bool,
    ) -> Result<RequestBuilder, ArtifactError> {
        let mut headers = self.headers.clone();
        if !same_origin {
            // As reqwest does on redirects: credentials stay with their origin.
            for h in [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION] {
                headers.remove(h);
            }
        }
        let mut req = client.request(method, url).headers(headers);
        if same_origin {
            if let Some((user, pass)) = &self.basic {
                req = req.basic_auth(user, Some(pass));
            }
            if let Some(o) = &self.oauth2 {
                req = req.header(AUTHORIZATION, o.token(&self.client).await?);
            }
        }
        Ok(req)
    }

    async fn send(&self, method: Method) -> Result<Response, ArtifactError> {
        let req = self
            .request(&self.client, method.clone(), self.url.clone(), true)
            .await?;
        req.send()
            .await
            .map_err(|e| ArtifactError::Remote(format!("{method} {}: {}", self.url, chain(&e))))
    }

    /// Fails on a non-2xx status (404: [`ArtifactError::NotFound`]).
    fn check(&self, method: &Method, url: &Url, resp: &Response) -> Result<(), ArtifactError> {
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        if status == StatusCode::NOT_FOUND {
            return Err(ArtifactError::NotFound(format!("{method} {url}: {status}")));
        }
        let hint = if status.is_redirection() {
            " (redirect not followed)"
        } else {
            ""
        };
        Err(ArtifactError::Remote(format!(
            "{method} {url}: {status}{hint}"
        )))
    }

    async fn load_into(&self, art: &Artifact, dest: &Path) -> Result<(), ArtifactError> {
        let resp = self.send(Method::GET).await?;
        self.check(&Method::GET, &self.url, &resp)?;
        let final_url = resp.url().clone();
        let declared = resp.content_length();

        // Remember why the body stopped: the archive code sees only an io::Error.
        let failure: Arc<Mutex<Option<String>>> = Arc::default();
        let received = Arc::new(AtomicU64::new(0));
        let (failure_w, received_w) = (Arc::clone(&failure), Arc::clone(&received));
        let stream = resp
            .bytes_stream()
            .inspect_ok(move |chunk| {
                received_w.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            })
            .map_err(move |e| {
                let msg = chain(&e);
                if let Ok(mut f) = failure_w.lock() {
                    f.get_or_insert_with(|| msg.clone());
                }
                io::Error::other(msg)
            });
        let reader = SyncIoBridge::new(StreamReader::new(stream));

        let tmp = partial_path(dest)?;
        let tmp_w = tmp.clone();
        let dest_w = dest.to_path_buf();
        let archive = art.archive.clone();
        let written = tokio::task::spawn_blocking(move || -> Result<(), ArtifactError> {
            let mut reader = reader;
            crate::archive::write_input_as(&mut reader, &tmp_w, archive.as_ref())?;
            // An archive may end before the body does: the rest must arrive too.
            io::copy(&mut reader, &mut io::sink()).map_err(|e| ArtifactError::io(&tmp_w, e))?;
            std::fs::rename(&tmp_w, &dest_w).map_err(|e| ArtifactError::io(&dest_w, e))
        })
        .await
        .map_err(|e| {
            ArtifactError::Remote(format!("GET {}: the writing task failed: {e}", self.url))
        });
        let result = written.and_then(|r| r);
        if result.is_err() {
            remove_partial(&tmp);
        }
        let broken = failure.lock().ok().and_then(|f| f.clone());
        match (result, broken) {
            (Ok(()), _) => Ok(()),
            (Err(_), Some(why)) => {
                let got = received.load(Ordering::Relaxed);
                let of = declared.map(|n| format!(" of {n}")).unwrap_or_default();
                Err(ArtifactError::Remote(format!(
                    "GET {final_url}: the body broke off after {got}{of} bytes: {why}; nothing was written to {}",
                    dest.display()
                )))
            }
            (Err(e), None) => Err(e),
        }
    }

    async fn put(&self, src: &Path) -> Result<(), ArtifactError> {
        let meta = tokio::fs::metadata(src)
            .await
            .map_err(|e| ArtifactError::io(src, e))?;
        if meta.is_dir() {
            return Err(ArtifactError::Unsupported(format!(
                "http artifact {}: {} is a directory; an HTTP artifact holds one file (archive the directory, e.g. archive: tar)",
                self.url,
                src.display()
            )));
        }
        let mut url = self.url.clone();
        for _ in 0..=MAX_REDIRECTS {
            let file = tokio::fs::File::open(src)
                .await
                .map_err(|e| ArtifactError::io(src, e))?;
            let len = file
                .metadata()
                .await
                .map_err(|e| ArtifactError::io(src, e))?
                .len();
            let same_origin = url.origin() == self.url.origin();
            let resp = self
                .request(&self.put_client, Method::PUT, url.clone(), same_origin)
                .await?
                .header(CONTENT_LENGTH, len)
                .body(reqwest::Body::wrap_stream(ReaderStream::new(file)))
                .send()
                .await
                .map_err(|e| {
                    ArtifactError::Remote(format!(
                        "PUT {url} (from {}): {}",
                        src.display(),
                        chain(&e)
                    ))
                })?;
            let status = resp.status();
            if matches!(
                status,
                StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
            ) {
                let location = resp
                    .headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .ok_or_else(|| {
                        ArtifactError::Remote(format!("PUT {url}: {status} without a Location"))
                    })?;
                url = url.join(location).map_err(|e| {
                    ArtifactError::Remote(format!(
                        "PUT {url}: {status} to a bad Location {location:?}: {e}"
                    ))
                })?;
                continue;
            }
            return self.check(&Method::PUT, &url, &resp);
        }
        Err(ArtifactError::Remote(format!(
            "PUT {}: more than {MAX_REDIRECTS} redirects",
            self.url
        )))
    }
}

impl Driver for HttpDriver {
    fn load<'a>(
        &'a self,
        art: &'a Artifact,
        dest: &'a Path,
    ) -> BoxFuture<'a, Result<(), ArtifactError>> {
        Box::pin(self.load_into(art, dest))
    }

    fn save<'a>(
        &'a self,
        src: &'a Path,
        _art: &'a Artifact,
    ) -> BoxFuture<'a, Result<(), ArtifactError>> {
        Box::pin(self.put(src))
    }

    fn list<'a>(&'a self, _art: &'a Artifact) -> BoxFuture<'a, Result<Vec<String>, ArtifactError>> {
        Box::pin(async move {
            let resp = self.send(Method::HEAD).await?;
            match self.check(&Method::HEAD, &self.url, &resp) {
                Ok(()) => Ok(vec![self.url.to_string()]),
                Err(ArtifactError::NotFound(_)) => Ok(Vec::new()),
                Err(e) => Err(e),
            }
        })
    }

    fn delete<'a>(&'a self, _art: &'a Artifact) -> BoxFuture<'a, Result<(), ArtifactError>> {
        Box::pin(async move {
            Err(ArtifactError::Unsupported(format!(
                "http artifact {}: HTTP artifacts cannot be deleted (artifact GC does not cover them)",
                self.url
            )))
        })
    }
}

impl OAuth2 {
    fn new(o: &OAuth2Auth, secrets: &Secrets) -> Result<Option<Self>, ArtifactError> {
        // As Argo: the grant is used only when all three secrets are given.
        let (Some(id), Some(secret), Some(token_url)) = (
            &o.client_id_secret,
            &o.client_secret_secret,
            &o.token_url_secret,
        ) else {
            return Ok(None);
        };
        let params = o
            .endpoint_params
            .iter()
            .map(|p| {
                (
                    p.key.clone().unwrap_or_default(),
                    p.value.clone().unwrap_or_default(),
                )
            })
            .collect();
        Ok(Some(OAuth2 {
            client_id: secrets.selector(id)?,
            client_secret: secrets.selector(secret)?,
            token_url: secrets.selector(token_url)?.trim().to_string(),
            scopes: o.scopes.clone(),
            params,
        }))
    }

    /// The token request's form body.
    fn form(&self, with_credentials: bool) -> String {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials");
        if !self.scopes.is_empty() {
            form.append_pair("scope", &self.scopes.join(" "));
        }
        for (k, v) in &self.params {
            form.append_pair(k, v);
        }
        if with_credentials {
            form.append_pair("client_id", &self.client_id);
            form.append_pair("client_secret", &self.client_secret);
        }
        form.finish()
    }

    /// Fetches a token: client credentials in a basic-auth header first, then
    /// (if the server refuses that) in the form, as Go's oauth2 does.
    async fn token(&self, client: &Client) -> Result<String, ArtifactError> {
        let fail =
            |e: String| ArtifactError::Remote(format!("oauth2 token from {}: {e}", self.token_url));
        let mut last = String::new();
        for creds_in_header in [true, false] {
            let mut req = client.post(&self.token_url);
            if creds_in_header {
                let enc = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                req = req.basic_auth(enc(&self.client_id), Some(enc(&self.client_secret)));
            }
            let form = self.form(!creds_in_header);
            let resp = req
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form)
                .send()
                .await
                .map_err(|e| fail(chain(&e)))?;
            let status = resp.status();
            let is_form = resp
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| {
                    v.starts_with("application/x-www-form-urlencoded")
                        || v.starts_with("text/plain")
                });
            let body = resp.bytes().await.map_err(|e| fail(chain(&e)))?;
            if !status.is_success() {
                last = format!(
                    "{status}: {}",
                    String::from_utf8_lossy(&body[..body.len().min(512)])
                );
                continue;
            }
            let (token, kind) = if is_form {
                let pairs: Vec<(String, String)> =
                    url::form_urlencoded::parse(&body).into_owned().collect();
                let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                (get("access_token"), get("token_type"))
            } else {
                let v: serde_json::Value = serde_json::from_slice(&body)
                    .map_err(|e| fail(format!("the response is not JSON: {e}")))?;
                let get = |k: &str| v.get(k).and_then(|s| s.as_str()).map(str::to_string);
                (get("access_token"), get("token_type"))
            };
            let token = token
                .filter(|t| !t.is_empty())
                .ok_or_else(|| fail("the response has no access_token".into()))?;
            let kind = match kind.as_deref().map(str::to_ascii_lowercase).as_deref() {
                None | Some("") | Some("bearer") => "Bearer".to_string(),
                Some("mac") => "MAC".to_string(),
                Some("basic") => "Basic".to_string(),
                Some(_) => kind.unwrap_or_default(),
            };
            return Ok(format!("{kind} {token}"));
        }
        Err(fail(last))
    }
}

/// Installs ring as rustls's process-wide provider (once; a provider someone
/// else installed first is kept).
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// An error with its causes, `a: b: c`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let msg = s.to_string();
        if !out.ends_with(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        cur = s.source();
    }
    out
}

/// A fresh name beside `dest` to write into before the rename.
fn partial_path(dest: &Path) -> Result<PathBuf, ArtifactError> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let name = dest.file_name().ok_or_else(|| {
        ArtifactError::Config(format!(
            "{}: the destination has no file name",
            dest.display()
        ))
    })?;
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    Ok(dest.with_file_name(format!(
        ".{}.partial-{}-{n}",
        name.to_string_lossy(),
        std::process::id()
    )))
}

fn remove_partial(path: &Path) {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {
            let _ = std::fs::remove_dir_all(path);
        }
        Ok(_) => {
            let _ = std::fs::remove_file(path);
        }
        Err(_) => {}
    }
}
