//! The result contract: one `WorkflowTaskResult` per node.
//!
//! The `wait` container writes it, the engine reads it, and both backends
//! carry it unchanged: on Kubernetes it is an object in the workflow's
//! namespace, in the local backend the same object as JSON at
//! `<state>/<namespace>/<workflow>/results/<nodeId>.json`.
//!
//! - named after the node id;
//! - labelled [`LABEL_WORKFLOW`](crate::protocol::LABEL_WORKFLOW) = the
//!   workflow's name and [`LABEL_REPORT_COMPLETED`] = `"false"` while the
//!   executor is still writing, `"true"` once `outputs` are final;
//! - owned by the workflow (so it is deleted with it);
//! - holding `outputs` and `progress` (and `phase`/`message` when the
//!   executor itself failed, e.g. an upload error).
//!
//! A node is complete only when its pod has ended and its result is complete,
//! or the pod failed without one after a bounded wait
//! ([`RESULT_GRACE_SECONDS`]).

use sluice_api::types::{ObjectMeta, Outputs, WorkflowTaskResult};

use crate::protocol::LABEL_WORKFLOW;

/// `"true"` once the result is complete.
pub const LABEL_REPORT_COMPLETED: &str = "workflows.argoproj.io/report-outputs-completed";
/// How long a backend waits for the result of a pod that ended without one.
pub const RESULT_GRACE_SECONDS: u64 = 30;

/// Who the result belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResultOwner {
    pub namespace: String,
    pub workflow_name: String,
    pub workflow_uid: String,
    pub node_id: String,
}

/// Builds the node's result object (`complete` sets the completion label).
pub fn task_result(
    owner: &ResultOwner,
    outputs: Option<Outputs>,
    progress: Option<String>,
    failure: Option<String>,
    complete: bool,
) -> WorkflowTaskResult {
    let mut metadata = ObjectMeta {
        name: Some(owner.node_id.clone()),
        namespace: Some(owner.namespace.clone()),
        ..ObjectMeta::default()
    };
    metadata
        .labels
        .insert(LABEL_WORKFLOW.to_string(), owner.workflow_name.clone());
    metadata.labels.insert(
        LABEL_REPORT_COMPLETED.to_string(),
        if complete { "true" } else { "false" }.to_string(),
    );
    if !owner.workflow_uid.is_empty() {
        let reference = serde_json::json!({
            "apiVersion": sluice_api::types::API_VERSION,
            "kind": "Workflow",
            "name": owner.workflow_name,
            "uid": owner.workflow_uid,
        });
        if let Ok(raw) = serde_json::from_value(reference) {
            metadata.owner_references.push(raw);
        }
    }
    WorkflowTaskResult {
        api_version: Some(sluice_api::types::API_VERSION.to_string()),
        kind: Some("WorkflowTaskResult".to_string()),
        metadata,
        phase: failure.as_ref().map(|_| "Failed".to_string()),
        message: failure,
        outputs,
        progress,
        ..WorkflowTaskResult::default()
    }
}

/// Whether a result object is complete.
pub fn is_complete(result: &WorkflowTaskResult) -> bool {
    result
        .metadata
        .labels
        .get(LABEL_REPORT_COMPLETED)
        .is_some_and(|v| v == "true")
}

/// What the engine learns from a result object (both backends read results
/// through this).
pub fn observation(result: WorkflowTaskResult) -> crate::run::ResultObservation {
    crate::run::ResultObservation {
        complete: is_complete(&result),
        failure: result
            .message
            .filter(|_| result.phase.as_deref() == Some("Failed")),
        outputs: result.outputs,
        progress: result.progress,
    }
}
