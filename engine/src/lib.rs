//! The pure Sluice engine: spec + status + observations -> new status +
//! actions, `build_pod` and `inject_executor`. No Kubernetes client, no
//! tokio, no clock.
//!
//! - [`protocol`]: how the containers of a workflow pod talk (shared volume).
//! - [`result`]: the one `WorkflowTaskResult` per node.

/// Adds the Sluice executor's containers to a workflow pod.
pub mod inject;
/// Builds the pod that runs one node (without the executor).
pub mod pod;
pub mod protocol;
/// Checks a pod against the Pod Security Standards' restricted profile.
pub mod pss;
/// Resolves the artifact repository and the keys artifacts get in it.
pub mod repository;
pub mod result;
/// The workflow engine: observations in, status and actions out.
pub mod run;
