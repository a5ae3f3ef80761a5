//! A workflow spec: what a Workflow, a WorkflowTemplate, a
//! ClusterWorkflowTemplate and a CronWorkflow's `workflowSpec` share.

use super::artifacts;
use super::calls::{self, Scope, template_name};
use super::durations::seconds_or_duration;
use super::names::{FieldKind, unique_names};
use super::{Checker, Mode, is_templated, one_of, templates};
use crate::path::FieldPath;
use crate::types::WorkflowSpec;

/// `podGC.strategy` values.
const POD_GC_STRATEGIES: [&str; 4] = [
    "OnPodCompletion",
    "OnPodSuccess",
    "OnWorkflowCompletion",
    "OnWorkflowSuccess",
];
/// `volumeClaimGC.strategy` values.
const VOLUME_CLAIM_GC_STRATEGIES: [&str; 2] = ["OnWorkflowCompletion", "OnWorkflowSuccess"];

/// Checks a workflow spec at `path` (`spec`, `spec.workflowSpec`).
pub(super) fn workflow_spec<'a>(check: &mut Checker<'a>, spec: &'a WorkflowSpec, path: &FieldPath) {
    // Whether this kind runs as written (needs an entrypoint) or is a
    // library whose entrypoint is optional.
    let runs = matches!(check.kind, "Workflow" | "CronWorkflow");
    let local = Scope {
        spec,
        root: path.clone(),
        via: None,
    };

    // With workflowTemplateRef, the entrypoint and onExit name templates of
    // the referenced WorkflowTemplate.
    let reference = spec.workflow_template_ref.as_ref();
    let referenced = reference.and_then(|r| {
        check
            .workflow_template_ref(r, &path.key("workflowTemplateRef"))
            .map(|target| Scope {
                spec: target,
                root: path.clone(),
                via: Some(r),
            })
    });
    if reference.is_some() && !spec.templates.is_empty() {
        check.error(
            path.key("templates"),
            "a workflow with workflowTemplateRef runs the WorkflowTemplate's templates: remove \
             spec.templates (or remove workflowTemplateRef)",
        );
    }
    let outer = match (reference, referenced) {
        (None, _) => Some(local.clone()),
        (Some(_), found) => found,
    };

    let entrypoint = spec.entrypoint.as_deref().filter(|e| !e.is_empty());
    match (entrypoint, &outer) {
        (Some(name), Some(scope)) => {
            template_name(check, scope, "entrypoint", name, path.key("entrypoint"));
        }
        (Some(_), None) => {}
        (None, None) => {}
        (None, Some(scope)) if runs => {
            if let Some(r) = scope.via {
                if scope.spec.entrypoint.as_deref().is_none_or(str::is_empty) {
                    check.error(
                        path.key("entrypoint"),
                        format!(
                            "neither this {} nor WorkflowTemplate {:?} sets an entrypoint: set \
                             spec.entrypoint to the template to run first",
                            check.kind, r.name
                        ),
                    );
                }
            } else {
                let example = spec
                    .templates
                    .first()
                    .map(|t| t.name.as_str())
                    .filter(|n| !n.is_empty())
                    .unwrap_or("main");
                check.error(
                    path.key("entrypoint"),
                    format!(
                        "{} has no entrypoint: set entrypoint to the template to run first \
                         (e.g. {example:?})",
                        check.kind
                    ),
                );
            }
        }
        (None, Some(_)) => {}
    }
    if let Some(name) = spec.on_exit.as_deref().filter(|e| !e.is_empty())
        && let Some(scope) = &outer
    {
        template_name(check, scope, "onExit template", name, path.key("onExit"));
    }
    if let Some(scope) = &outer {
        calls::hooks(check, scope, &spec.hooks, &path.key("hooks"));
    }
    if let Some(arguments) = &spec.arguments {
        // As upstream: a CronWorkflow's arguments need values always, a
        // Workflow's once submitted, a WorkflowTemplate's never (the
        // workflows using it supply them). Under workflowTemplateRef the
        // template's own values fill in, and an unknown template may too.
        let required = match check.kind {
            "CronWorkflow" => true,
            "Workflow" => check.ctx.mode == Mode::Submit,
            _ => false,
        };
        let filled = |name: &str| match (reference, &outer) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(_), Some(scope)) => scope.spec.arguments.iter().any(|a| {
                a.parameters
                    .iter()
                    .any(|p| p.name == name && (p.value.is_some() || p.value_from.is_some()))
            }),
        };
        let needs_value = |name: &str| required && !filled(name);
        artifacts::arguments(check, arguments, &path.key("arguments"), &needs_value);
    }

    gc_and_deadlines(check, spec, path);
    if spec.synchronization.is_some() {
        check.warning(
            path.key("synchronization"),
            "not supported yet: workflow-level synchronization (mutexes and semaphores); the \
             workflow will fail at run time",
        );
    }
    if spec.metrics.is_some() {
        check.warning(
            path.key("metrics"),
            "not supported yet: workflow-level metrics; the workflow will fail at run time",
        );
    }
    if let Some(retry) = &spec.retry_strategy {
        templates::retry_strategy(check, retry, &path.key("retryStrategy"));
    }

    let templates_path = path.key("templates");
    unique_names(
        check,
        FieldKind::Template,
        spec.templates
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.as_str(), templates_path.index(i))),
        "within a workflow",
    );
    for (i, template) in spec.templates.iter().enumerate() {
        templates::template(check, &local, template, &templates_path.index(i), 0);
    }
}

/// podGC, artifactGC, volumeClaimGC, ttlStrategy, activeDeadlineSeconds.
fn gc_and_deadlines(check: &mut Checker<'_>, spec: &WorkflowSpec, path: &FieldPath) {
    if let Some(pod_gc) = &spec.pod_gc {
        let gc_path = path.key("podGC");
        if let Some(strategy) = pod_gc.strategy.as_deref() {
            one_of(
                check,
                gc_path.key("strategy"),
                "podGC strategy",
                strategy,
                &POD_GC_STRATEGIES,
            );
        }
        if let Some(delay) = pod_gc.delete_delay_duration.as_deref()
            && let Err(message) = seconds_or_duration(delay)
        {
            check.error(gc_path.key("deleteDelayDuration"), message);
        }
    }
    artifacts::artifact_gc_strategy(
        check,
        path,
        spec.artifact_gc
            .as_ref()
            .and_then(|g| g.strategy.as_deref()),
    );
    if let Some(strategy) = spec
        .volume_claim_gc
        .as_ref()
        .and_then(|g| g.strategy.as_deref())
    {
        one_of(
            check,
            path.key("volumeClaimGC").key("strategy"),
            "volumeClaimGC strategy",
            strategy,
            &VOLUME_CLAIM_GC_STRATEGIES,
        );
    }
    if let Some(ttl) = &spec.ttl_strategy {
        for (name, value) in [
            ("secondsAfterCompletion", ttl.seconds_after_completion),
            ("secondsAfterSuccess", ttl.seconds_after_success),
            ("secondsAfterFailure", ttl.seconds_after_failure),
        ] {
            if let Some(n) = value.filter(|n| *n < 0) {
                check.error(
                    path.key("ttlStrategy").key(name),
                    format!("{name} is {n}: use 0 or more seconds"),
                );
            }
        }
    }
    if let Some(n) = spec.active_deadline_seconds.filter(|n| *n < 0) {
        check.error(
            path.key("activeDeadlineSeconds"),
            format!("activeDeadlineSeconds is {n}: use 0 or more seconds"),
        );
    }
    // `shutdown` takes the values `argo stop` and `argo terminate` write.
    if let Some(shutdown) = spec.shutdown.as_deref()
        && !is_templated(shutdown)
    {
        one_of(
            check,
            path.key("shutdown"),
            "shutdown strategy",
            shutdown,
            &["Terminate", "Stop"],
        );
    }
}
