//! The local artifact repository of `sluice run`: a directory on the host,
//! mounted into the sandbox at [`LOCAL_REPOSITORY_DIR`] (or
//! `$SLUICE_LOCAL_REPOSITORY`). An artifact stored there carries the Sluice
//! location `local: {key: <relative key>}`.
//!
//! The semantics are those of S3: a file is stored as the file `root/key`, a
//! directory as the directory `root/key` (one file per file; here empty
//! directories are kept too). Writes go to a temporary name beside the
//! target and are renamed into place, so a reader never sees half an
//! artifact.

use std::path::{Path, PathBuf};

use futures::future::BoxFuture;
use sluice_api::types::Artifact;
use sluice_engine::protocol::{ENV_LOCAL_REPOSITORY, LOCAL_LOCATION_KEY, LOCAL_REPOSITORY_DIR};

use super::{ArtifactError, Driver};
use crate::archive::{self, Format};

/// The local repository, one key.
#[derive(Debug)]
pub struct LocalDriver {
    root: PathBuf,
    key: String,
    rel: PathBuf,
}

impl LocalDriver {
    /// The location `{"key": "..."}` under the repository root
    /// (`$SLUICE_LOCAL_REPOSITORY`, else [`LOCAL_REPOSITORY_DIR`]).
    pub fn new(loc: &serde_json::Value) -> Result<Self, ArtifactError> {
        let root = std::env::var_os(ENV_LOCAL_REPOSITORY)
            .filter(|r| !r.is_empty())
            .map_or_else(|| PathBuf::from(LOCAL_REPOSITORY_DIR), PathBuf::from);
        Self::with_root(root, loc)
    }

    /// The location under an explicit repository root.
    pub fn with_root(
        root: impl Into<PathBuf>,
        loc: &serde_json::Value,
    ) -> Result<Self, ArtifactError> {
        let key = loc
            .get("key")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| {
                ArtifactError::Config(format!(
                    "local artifact location {loc} has no string \"key\""
                ))
            })?
            .to_string();
        let rel = archive::entry_path(&key).map_err(|reason| {
            ArtifactError::Config(format!("local artifact key {key:?}: {reason}"))
        })?;
        if rel.as_os_str().is_empty() {
            return Err(ArtifactError::Config(format!(
                "local artifact key {key:?} names the repository root"
            )));
        }
        Ok(LocalDriver {
            root: root.into(),
            key,
            rel,
        })
    }

    /// The key of `art`'s own local location when it has one, else ours.
    fn target(&self, art: &Artifact) -> Result<(String, PathBuf), ArtifactError> {
        match art.extra.get(LOCAL_LOCATION_KEY) {
            Some(loc) => {
                let other = LocalDriver::with_root(&self.root, loc)?;
                Ok((other.key, self.root.join(other.rel)))
            }
            None => Ok((self.key.clone(), self.root.join(&self.rel))),
        }
    }
}

fn blocking<T: Send + 'static>(
    what: String,
    f: impl FnOnce() -> Result<T, ArtifactError> + Send + 'static,
) -> BoxFuture<'static, Result<T, ArtifactError>> {
    Box::pin(async move {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| ArtifactError::Remote(format!("{what}: task failed: {e}")))?
    })
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Copies the file or directory `src` to a fresh temporary name beside
/// `dest` and renames it into place, replacing whatever was at `dest`.
fn copy_into_place(src: &Path, dest: &Path) -> Result<(), ArtifactError> {
    let parent = parent_of(dest);
    std::fs::create_dir_all(&parent).map_err(|e| ArtifactError::io(&parent, e))?;
    let tmp = tempfile::Builder::new()
        .prefix(".sluice-save-")
        .tempdir_in(&parent)
        .map_err(|e| ArtifactError::io(&parent, e))?;
    let staged = tmp.path().join("artifact");
    archive::stage(src, &Format::None, &staged)?;
    // A file replaces a file atomically; anything else clears the way first.
    match std::fs::symlink_metadata(dest) {
        Ok(m) if m.is_dir() => {
            std::fs::remove_dir_all(dest).map_err(|e| ArtifactError::io(dest, e))?
        }
        Ok(_) if staged.is_dir() => {
            std::fs::remove_file(dest).map_err(|e| ArtifactError::io(dest, e))?
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(ArtifactError::io(dest, e)),
    }
    std::fs::rename(&staged, dest).map_err(|e| ArtifactError::io(dest, e))?;
    Ok(())
}

impl Driver for LocalDriver {
    fn load<'a>(
        &'a self,
        art: &'a Artifact,
        dest: &'a Path,
    ) -> BoxFuture<'a, Result<(), ArtifactError>> {
        let target = self.target(art);
        let dest = dest.to_path_buf();
        let strategy = art.archive.clone();
        Box::pin(async move {
            let (key, path) = target?;
            blocking(format!("loading local artifact {key:?}"), move || {
                let meta = match std::fs::metadata(&path) {
                    Ok(m) => m,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Err(ArtifactError::NotFound(format!("local artifact {key:?}")));
                    }
                    Err(e) => return Err(ArtifactError::io(&path, e)),
                };
                if meta.is_dir() {
                    return copy_into_place(&path, &dest);
                }
                let f = std::fs::File::open(&path).map_err(|e| ArtifactError::io(&path, e))?;
                archive::write_input_as(f, &dest, strategy.as_ref())?;
                Ok(())
            })
            .await
        })
    }

    fn save<'a>(
        &'a self,
        src: &'a Path,
        art: &'a Artifact,
    ) -> BoxFuture<'a, Result<(), ArtifactError>> {
        let target = self.target(art);
        let src = src.to_path_buf();
        Box::pin(async move {
            let (key, path) = target?;
            blocking(format!("saving local artifact {key:?}"), move || {
                copy_into_place(&src, &path)
            })
            .await
        })
    }

    fn list<'a>(&'a self, art: &'a Artifact) -> BoxFuture<'a, Result<Vec<String>, ArtifactError>> {
        let target = self.target(art);
        Box::pin(async move {
            let (key, path) = target?;
            blocking(format!("listing local artifact {key:?}"), move || {
                match std::fs::metadata(&path) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => return Ok(vec![key]),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                    Err(e) => return Err(ArtifactError::io(&path, e)),
                }
                let prefix = key.trim_end_matches('/');
                Ok(archive::files_under(&path)?
                    .into_iter()
                    .map(|(rel, _)| format!("{prefix}/{rel}"))
                    .collect())
            })
            .await
        })
    }

    fn delete<'a>(&'a self, art: &'a Artifact) -> BoxFuture<'a, Result<(), ArtifactError>> {
        let target = self.target(art);
        Box::pin(async move {
            let (key, path) = target?;
            blocking(format!("deleting local artifact {key:?}"), move || {
                let result = match std::fs::symlink_metadata(&path) {
                    Ok(m) if m.is_dir() => std::fs::remove_dir_all(&path),
                    Ok(_) => std::fs::remove_file(&path),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(e),
                };
                result.map_err(|e| ArtifactError::io(&path, e))
            })
            .await
        })
    }
}
