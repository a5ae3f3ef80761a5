//! Raw artifacts: the data is in the manifest (`raw.data`); loading writes it
//! as the file `dest`. There is nowhere to save, list or delete.

use std::io::Write;
use std::path::Path;

use futures::future::BoxFuture;
use sluice_api::types::{Artifact, RawArtifact};

use super::{ArtifactError, Driver};

/// A raw artifact's data.
#[derive(Debug)]
pub struct RawDriver {
    data: String,
}

impl RawDriver {
    /// `raw.data` (absent data is the empty file, as upstream's empty string).
    pub fn new(loc: &RawArtifact) -> Result<Self, ArtifactError> {
        Ok(RawDriver {
            data: loc.data.clone().unwrap_or_default(),
        })
    }
}

fn unsupported(what: &str, art: &Artifact) -> ArtifactError {
    ArtifactError::Unsupported(format!(
        "cannot {what} raw artifact {:?}: its data is part of the manifest (raw artifacts are inputs only)",
        art.name
    ))
}

impl Driver for RawDriver {
    fn load<'a>(
        &'a self,
        art: &'a Artifact,
        dest: &'a Path,
    ) -> BoxFuture<'a, Result<(), ArtifactError>> {
        // The artifact's own data, when it carries one; else the driver's.
        let data = art
            .raw
            .as_ref()
            .and_then(|r| r.data.as_deref())
            .unwrap_or(&self.data)
            .as_bytes()
            .to_vec();
        Box::pin(async move {
            let parent = match dest.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => std::path::PathBuf::from("."),
            };
            let dest = dest.to_path_buf();
            tokio::task::spawn_blocking(move || {
                let mut tmp = tempfile::Builder::new()
                    .prefix(".sluice-raw-")
                    .tempfile_in(&parent)
                    .map_err(|e| ArtifactError::io(&parent, e))?;
                tmp.write_all(&data)
                    .map_err(|e| ArtifactError::io(&dest, e))?;
                std::fs::set_permissions(
                    tmp.path(),
                    std::os::unix::fs::PermissionsExt::from_mode(0o644),
                )
                .map_err(|e| ArtifactError::io(&dest, e))?;
                tmp.persist(&dest)
                    .map_err(|e| ArtifactError::io(&dest, e.error))?;
                Ok(())
            })
            .await
            .map_err(|e| ArtifactError::Remote(format!("writing raw artifact: task failed: {e}")))?
        })
    }

    fn save<'a>(
        &'a self,
        _src: &'a Path,
        art: &'a Artifact,
    ) -> BoxFuture<'a, Result<(), ArtifactError>> {
        Box::pin(async move { Err(unsupported("save", art)) })
    }

    fn list<'a>(&'a self, art: &'a Artifact) -> BoxFuture<'a, Result<Vec<String>, ArtifactError>> {
        Box::pin(async move { Err(unsupported("list", art)) })
    }

    fn delete<'a>(&'a self, art: &'a Artifact) -> BoxFuture<'a, Result<(), ArtifactError>> {
        Box::pin(async move { Err(unsupported("delete", art)) })
    }
}
