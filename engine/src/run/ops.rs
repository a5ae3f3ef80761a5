//! Operations on workflows that are not observations.

use sluice_api::types::Workflow;

/// A new workflow with the same spec (upstream's `resubmit`).
pub fn resubmit(workflow: &Workflow) -> Workflow {
    let _ = workflow;
    unimplemented!("engine being written")
}
