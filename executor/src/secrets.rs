//! Secrets the artifact drivers need, read from files.
//!
//! On Kubernetes the pod builder mounts every secret an artifact references
//! at `/var/run/sluice/secrets/<secret>/<key>` (only into `init` and `wait`);
//! the local backend points [`ENV_SECRETS_DIR`] at `--secret-dir`.

use std::path::{Component, Path, PathBuf};

use k8s_openapi::api::core::v1::SecretKeySelector;
use sluice_api::types::Raw;
use sluice_engine::protocol::{ENV_SECRETS_DIR, SECRETS_DIR};

use crate::drivers::ArtifactError;

/// A directory of `<secret>/<key>` files.
#[derive(Clone, Debug)]
pub struct Secrets {
    root: PathBuf,
}

impl Secrets {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Secrets { root: root.into() }
    }

    /// `$SLUICE_SECRETS_DIR`, else `/var/run/sluice/secrets`.
    pub fn from_env() -> Self {
        Secrets::new(
            std::env::var_os(ENV_SECRETS_DIR)
                .map_or_else(|| PathBuf::from(SECRETS_DIR), PathBuf::from),
        )
    }

    /// The value of `key` in secret `name`, trailing newline kept as written.
    pub fn get(&self, name: &str, key: &str) -> Result<String, ArtifactError> {
        for part in [name, key] {
            let p = Path::new(part);
            if part.is_empty()
                || p.components().any(|c| !matches!(c, Component::Normal(_)))
                || p.components().count() != 1
            {
                return Err(ArtifactError::Config(format!(
                    "invalid secret reference {name:?}/{key:?}"
                )));
            }
        }
        let path = self.root.join(name).join(key);
        std::fs::read_to_string(&path).map_err(|e| {
            ArtifactError::Config(format!(
                "secret {name:?} key {key:?}: cannot read {}: {e}",
                path.display()
            ))
        })
    }

    /// Resolves a `SecretKeySelector` as written in an artifact.
    pub fn selector(&self, selector: &Raw<SecretKeySelector>) -> Result<String, ArtifactError> {
        let sel = selector
            .typed()
            .map_err(|e| ArtifactError::Config(format!("secret selector: {e}")))?;
        self.get(&sel.name, &sel.key)
    }

    /// Like [`Secrets::selector`] for an optional selector.
    pub fn optional(
        &self,
        selector: Option<&Raw<SecretKeySelector>>,
    ) -> Result<Option<String>, ArtifactError> {
        selector.map(|s| self.selector(s)).transpose()
    }
}
