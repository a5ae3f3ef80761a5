//! `POST /mutate-pods`: adds the Sluice executor to workflow pods when the
//! configuration says the webhook injects it (`executorInjection: webhook`),
//! with the function the controller uses, returned as a JSON patch.

use k8s_openapi::api::core::v1::Pod;
use kube::core::admission::Operation;
use sluice_engine::inject::{InjectContext, inject_executor, is_injected};
use sluice_engine::protocol::LABEL_WORKFLOW;

use crate::review::{self, Request, Response};

/// Answers one review. `inject` is `None` when the controller injects (the
/// webhook then changes no pod).
pub fn review(request: &Request, inject: Option<&InjectContext>) -> Response {
    let creates_pod = review::is_kind(request, "", &["Pod"])
        && request.sub_resource.is_none()
        && request.operation == Operation::Create;
    let (Some(inject), true, Some(object)) = (inject, creates_pod, &request.object) else {
        return review::allow(request);
    };
    let labelled = object
        .metadata
        .labels
        .as_ref()
        .is_some_and(|labels| labels.contains_key(LABEL_WORKFLOW));
    if !labelled {
        return review::allow(request);
    }
    let pod: Pod = match serde_json::from_str::<Pod>(object.json()) {
        Ok(pod) => pod,
        Err(err) => {
            return review::bad_request(request, format!("request.object: not a Pod: {err}"));
        }
    };
    if is_injected(&pod) {
        return review::allow(request);
    }
    // Both sides typed, so the patch holds the injection and nothing else.
    let before = serde_json::to_value(&pod);
    let after = serde_json::to_value(inject_executor(pod, inject));
    match (before, after) {
        (Ok(before), Ok(after)) => {
            let patch = json_patch::diff(&before, &after);
            match review::allow(request).with_patch(patch) {
                Ok(response) => response,
                Err(err) => review::bad_request(request, format!("writing the patch: {err}")),
            }
        }
        (Err(err), _) | (_, Err(err)) => {
            review::bad_request(request, format!("request.object: {err}"))
        }
    }
}
