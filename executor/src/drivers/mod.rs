//! Artifact drivers behind one trait: S3-compatible, git, HTTP, raw and the
//! local-directory repository of `sluice run`.
//!
//! Every driver streams: nothing is held whole in memory, whatever the
//! artifact's size. Loading writes into a destination path (archives are
//! unpacked as they arrive, see [`crate::archive`]); saving uploads a staged
//! file (one object) or directory (one object per file, where the driver can).

use std::fmt;
use std::path::{Path, PathBuf};

use futures::future::BoxFuture;
use sluice_api::types::Artifact;

use crate::archive::ArchiveError;
use crate::secrets::Secrets;

pub mod git;
pub mod http;
pub mod local;
pub mod raw;
pub mod s3;

/// Why an artifact could not be loaded, saved, listed or deleted.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The location is incomplete or wrong (missing bucket, bad URL, secret).
    #[error("{0}")]
    Config(String),
    /// The object does not exist (optional input artifacts are skipped).
    #[error("not found: {0}")]
    NotFound(String),
    /// A local file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An archive entry was unsafe or the archive was corrupt.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// The remote end failed (HTTP status, S3 error, git error), with its message.
    #[error("{0}")]
    Remote(String),
    /// The driver cannot do this (e.g. save to a git artifact).
    #[error("not supported: {0}")]
    Unsupported(String),
}

impl ArtifactError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ArtifactError::Io {
            path: path.into(),
            source,
        }
    }
}

/// One artifact store.
pub trait Driver: Send + Sync + fmt::Debug {
    /// Loads the artifact into `dest` (which must not exist yet; its parent
    /// does). A single object is streamed through
    /// [`crate::archive::write_input`] (tarballs are unpacked into the
    /// directory `dest`, anything else becomes the file `dest`); a
    /// directory-shaped artifact (an S3 prefix, a git checkout) becomes the
    /// directory `dest`.
    fn load<'a>(
        &'a self,
        art: &'a Artifact,
        dest: &'a Path,
    ) -> BoxFuture<'a, Result<(), ArtifactError>>;

    /// Saves `src` to the artifact's location: a file as one object, a
    /// directory as one object per file under the key (a prefix).
    fn save<'a>(
        &'a self,
        src: &'a Path,
        art: &'a Artifact,
    ) -> BoxFuture<'a, Result<(), ArtifactError>>;

    /// The keys at the location: the key itself if it is an object, else every
    /// key under it as a prefix (empty when nothing is there).
    fn list<'a>(&'a self, art: &'a Artifact) -> BoxFuture<'a, Result<Vec<String>, ArtifactError>>;

    /// Deletes the object, or every object under the prefix (artifact GC).
    fn delete<'a>(&'a self, art: &'a Artifact) -> BoxFuture<'a, Result<(), ArtifactError>>;
}

/// The driver for an artifact's location (the location must be filled in:
/// see [`crate::locate`] for output artifacts and key-only inputs).
pub fn driver_for(art: &Artifact, secrets: &Secrets) -> Result<Box<dyn Driver>, ArtifactError> {
    if let Some(s3) = &art.s3 {
        return Ok(Box::new(s3::S3Driver::new(s3, secrets)?));
    }
    if let Some(git) = &art.git {
        return Ok(Box::new(git::GitDriver::new(git, secrets)?));
    }
    if let Some(http) = &art.http {
        return Ok(Box::new(http::HttpDriver::new(http, secrets)?));
    }
    if let Some(raw) = &art.raw {
        return Ok(Box::new(raw::RawDriver::new(raw)?));
    }
    if let Some(local) = art.extra.get(sluice_engine::protocol::LOCAL_LOCATION_KEY) {
        return Ok(Box::new(local::LocalDriver::new(local)?));
    }
    let kind = [
        ("artifactory", art.artifactory.is_some()),
        ("azure", art.azure.is_some()),
        ("gcs", art.gcs.is_some()),
        ("hdfs", art.hdfs.is_some()),
        ("oss", art.oss.is_some()),
        ("plugin", art.plugin.is_some()),
    ]
    .into_iter()
    .find(|(_, set)| *set)
    .map(|(k, _)| k);
    Err(match kind {
        Some(k) => ArtifactError::Unsupported(format!(
            "artifact {:?}: {k} artifacts are not supported yet",
            art.name
        )),
        None => ArtifactError::Config(format!(
            "artifact {:?} has no location (s3, git, http, raw, ...)",
            art.name
        )),
    })
}
