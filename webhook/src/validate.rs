//! `POST /validate`: Workflows, WorkflowTemplates, ClusterWorkflowTemplates
//! and CronWorkflows go through the validator `sluice lint` uses, in submit
//! mode. Errors reject (422, one cause each); warnings come back as
//! admission warnings.

use kube::core::admission::Operation;
use sluice_api::Config;
use sluice_api::types::Object;
use sluice_api::validate::{self, Context, Mode, Severity};

use crate::review::{self, GROUP, Problem, Request, Response};

/// The kinds this endpoint checks.
pub const KINDS: [&str; 4] = [
    "Workflow",
    "WorkflowTemplate",
    "ClusterWorkflowTemplate",
    "CronWorkflow",
];

/// Answers one review. `known_templates` are the WorkflowTemplates and
/// ClusterWorkflowTemplates in the cluster, for templateRef targets.
pub fn review(request: &Request, config: &Config, known_templates: &[Object]) -> Response {
    if !review::is_kind(request, GROUP, &KINDS) || request.sub_resource.is_some() {
        return review::allow(request);
    }
    if !matches!(request.operation, Operation::Create | Operation::Update) {
        return review::allow(request);
    }
    let Some(object) = &request.object else {
        return review::bad_request(request, "request.object is missing");
    };
    let value = match object.value() {
        Ok(value) => value,
        Err(err) => return review::bad_request(request, format!("request.object: {err}")),
    };
    let value = &value;
    // Metadata, label, finalizer and status edits are never blocked.
    if request.operation == Operation::Update && !spec_changed(value, request) {
        return review::allow(request);
    }
    let object = match Object::from_value(value) {
        Ok(Some(object)) => object,
        Ok(None) => return review::allow(request),
        Err(shape) => {
            return review::invalid(
                request,
                &[Problem {
                    field: shape.path.to_string(),
                    message: shape.message,
                }],
            );
        }
    };
    let ctx = Context {
        mode: Mode::Submit,
        config,
        known_templates,
        allow_missing_refs: false,
    };
    let diagnostics = validate::validate_as_written(&object, value, &ctx);
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    for diagnostic in diagnostics {
        match diagnostic.severity {
            Severity::Error => problems.push(Problem {
                field: diagnostic.path.to_string(),
                message: diagnostic.message,
            }),
            Severity::Warning => {
                warnings.push(format!("{}: {}", diagnostic.path, diagnostic.message))
            }
        }
    }
    let mut response = if problems.is_empty() {
        review::allow(request)
    } else {
        review::invalid(request, &problems)
    };
    if !warnings.is_empty() {
        response.warnings = Some(warnings);
    }
    response
}

/// Whether an update changes `spec`: `new` is the request's object, already
/// read (a missing or unreadable old object counts as a change, so nothing
/// unchecked gets through).
fn spec_changed(new: &serde_json::Value, request: &Request) -> bool {
    match request.old_object.as_ref().map(|old| old.value()) {
        Some(Ok(old)) => new.get("spec") != old.get("spec"),
        _ => true,
    }
}
