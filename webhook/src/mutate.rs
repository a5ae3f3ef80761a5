//! `POST /mutate`: fills a new Workflow's unset fields from the
//! configuration's `workflowDefaults`, with the merge the engine uses. The
//! patch only adds: a value the user wrote (a list included) is never
//! rewritten; the engine merges the defaults into lists again when the
//! workflow runs.

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation};
use kube::core::admission::Operation;
use serde_json::Value;
use sluice_api::merge::merge_workflow_defaults;

use crate::review::{self, GROUP, Request, Response};

/// Answers one review. `defaults` is the configuration's `workflowDefaults`
/// as JSON (a whole Workflow), `None` when there are none.
pub fn review(request: &Request, defaults: Option<&Value>) -> Response {
    let creates_workflow = review::is_kind(request, GROUP, &["Workflow"])
        && request.sub_resource.is_none()
        && request.operation == Operation::Create;
    let (Some(defaults), true) = (defaults, creates_workflow) else {
        return review::allow(request);
    };
    let Some(object) = &request.object else {
        return review::bad_request(request, "request.object is missing");
    };
    let workflow = match object.value() {
        Ok(workflow) => workflow,
        Err(err) => return review::bad_request(request, format!("request.object: {err}")),
    };
    let workflow = &workflow;
    let merged = match merge_workflow_defaults(workflow, defaults) {
        Ok(merged) => merged,
        Err(err) => {
            // The workflow's own shape is wrong (validation rejects it);
            // admit it as written and say why nothing was added.
            let mut response = review::allow(request);
            response.warnings = Some(vec![format!("workflowDefaults not applied: {err}")]);
            return response;
        }
    };
    let patch = additions(workflow, &merged);
    if patch.0.is_empty() {
        return review::allow(request);
    }
    match review::allow(request).with_patch(patch) {
        Ok(response) => response,
        Err(err) => review::bad_request(request, format!("writing the patch: {err}")),
    }
}

/// The operations that add to `original` what `merged` has and it lacks:
/// keys it does not have (or has as `null`, which means unset), within
/// objects both have. Only `spec`, `metadata.labels` and
/// `metadata.annotations` are filled.
pub fn additions(original: &Value, merged: &Value) -> Patch {
    let mut ops = Vec::new();
    let mut at = PointerBuf::root();
    at.push_back("spec");
    fill(original.get("spec"), merged.get("spec"), &mut at, &mut ops);
    at.pop_back();
    if let (Some(mine @ Value::Object(_)), Some(theirs)) =
        (original.get("metadata"), merged.get("metadata"))
    {
        at.push_back("metadata");
        for field in ["labels", "annotations"] {
            at.push_back(field);
            fill(mine.get(field), theirs.get(field), &mut at, &mut ops);
            at.pop_back();
        }
    }
    Patch(ops)
}

fn fill(
    mine: Option<&Value>,
    theirs: Option<&Value>,
    at: &mut PointerBuf,
    ops: &mut Vec<PatchOperation>,
) {
    match (mine, theirs) {
        (None | Some(Value::Null), Some(value)) if !value.is_null() => {
            ops.push(PatchOperation::Add(AddOperation {
                path: at.clone(),
                value: value.clone(),
            }));
        }
        (Some(Value::Object(mine)), Some(Value::Object(theirs))) => {
            for (key, value) in theirs {
                at.push_back(key.as_str());
                fill(mine.get(key), Some(value), at, ops);
                at.pop_back();
            }
        }
        _ => {}
    }
}
