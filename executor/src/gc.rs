//! `artifact-gc`: the main container of an artifact-GC pod. It deletes the
//! artifacts the controller lists in [`ENV_GC_ARTIFACTS`] through the same
//! drivers that saved them, with the credentials of the pod's service
//! account and secrets (so the controller itself reads no Secret).
//!
//! Exit 0 when every artifact is gone (one already gone counts), else 1;
//! either way the termination message says what happened, artifact by
//! artifact for the failures.

use futures::StreamExt as _;
use sluice_api::types::Artifact;
use sluice_engine::protocol::{ENV_GC_ARTIFACTS, ENV_TERMINATION_LOG, TERMINATION_LOG};

use crate::drivers::driver_for;
use crate::secrets::Secrets;

/// Deletions run side by side, up to this many.
const CONCURRENCY: usize = 8;
/// Kubernetes keeps the first 4 KiB of a termination message.
const MESSAGE_LIMIT: usize = 4096;

/// What a run deleted and what it could not.
#[derive(Debug, Default, PartialEq)]
pub struct Report {
    pub deleted: usize,
    /// Each failure: the artifact (name and where it lives) and why.
    pub failed: Vec<String>,
}

impl Report {
    /// The termination message: a count, then one line per failure, cut
    /// at Kubernetes' limit.
    pub fn message(&self) -> String {
        let total = self.deleted + self.failed.len();
        let mut out = if self.failed.is_empty() {
            format!("deleted {total} artifact(s)")
        } else {
            format!(
                "could not delete {} of {total} artifact(s):",
                self.failed.len()
            )
        };
        for failure in &self.failed {
            let line = format!("\n- {failure}");
            if out.len() + line.len() > MESSAGE_LIMIT {
                out.push_str("\n- ...");
                break;
            }
            out.push_str(&line);
        }
        out
    }
}

/// Where the artifact lives, for messages.
fn describe(art: &Artifact) -> String {
    if let Some(s3) = &art.s3 {
        return format!(
            "{:?} (s3://{}/{})",
            art.name,
            s3.bucket.as_deref().unwrap_or_default(),
            s3.key.as_deref().unwrap_or_default()
        );
    }
    format!("{:?}", art.name)
}

/// Deletes every artifact.
pub async fn delete_all(artifacts: &[Artifact], secrets: &Secrets) -> Report {
    let outcomes: Vec<Result<(), String>> = futures::stream::iter(artifacts)
        .map(|art| async move {
            let driver = driver_for(art, secrets).map_err(|e| format!("{}: {e}", describe(art)))?;
            driver
                .delete(art)
                .await
                .map_err(|e| format!("{}: {e}", describe(art)))
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let mut report = Report::default();
    for outcome in outcomes {
        match outcome {
            Ok(()) => report.deleted += 1,
            Err(failure) => report.failed.push(failure),
        }
    }
    report
}

/// The artifacts of [`ENV_GC_ARTIFACTS`].
pub fn artifacts_from_env() -> Result<Vec<Artifact>, String> {
    let text = std::env::var(ENV_GC_ARTIFACTS)
        .map_err(|_| format!("{ENV_GC_ARTIFACTS} is not set: nothing says what to delete"))?;
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(&text))
        .map_err(|e| format!("{ENV_GC_ARTIFACTS}: {}: {}", e.path(), e.inner()))
}

/// Writes the report where Kubernetes reads the termination message.
pub fn write_message(message: &str) {
    let path = std::env::var_os(ENV_TERMINATION_LOG).unwrap_or_else(|| TERMINATION_LOG.into());
    // Best effort: outside a pod there may be no such file.
    let _ = std::fs::write(path, message);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_lists_failures_within_the_limit() {
        let ok = Report {
            deleted: 2,
            failed: vec![],
        };
        assert_eq!(ok.message(), "deleted 2 artifact(s)");
        let bad = Report {
            deleted: 1,
            failed: vec!["\"a\" (s3://b/k): denied".into()],
        };
        assert_eq!(
            bad.message(),
            "could not delete 1 of 2 artifact(s):\n- \"a\" (s3://b/k): denied"
        );
        let many = Report {
            deleted: 0,
            failed: vec!["x".repeat(100); 100],
        };
        let message = many.message();
        assert!(message.len() <= MESSAGE_LIMIT + 6, "{}", message.len());
        assert!(message.ends_with("\n- ..."));
    }

    #[tokio::test]
    async fn an_artifact_without_a_location_is_a_failure_naming_it() {
        let art = Artifact {
            name: "lost".into(),
            ..Artifact::default()
        };
        let report = delete_all(&[art], &Secrets::new("/nonexistent")).await;
        assert_eq!(report.deleted, 0);
        assert_eq!(report.failed.len(), 1);
        assert!(report.failed[0].contains("\"lost\""), "{:?}", report.failed);
    }
}
