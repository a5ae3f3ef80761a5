//! One template: its type, and the fields each type and every template has
//! (resource, script, retries, deadlines, outputs, features not run yet).

use super::calls::Scope;
use super::durations::{go_duration, non_negative, seconds_or_duration};
use super::pods::{self, Role};
use super::{Checker, artifacts, dag, is_templated, list, not_found, one_of, steps};
use crate::path::FieldPath;
use crate::types::{ResourceTemplate, RetryStrategy, Template};

/// How deep inline templates may nest before the validator stops descending.
pub(super) const MAX_INLINE_DEPTH: usize = 16;

/// The template types, in the order messages list them.
const KINDS: [&str; 10] = [
    "container",
    "script",
    "resource",
    "dag",
    "steps",
    "suspend",
    "containerSet",
    "data",
    "http",
    "plugin",
];

/// Types whose templates are leaves (upstream `IsLeaf`).
const LEAF_KINDS: [&str; 7] = [
    "container",
    "containerSet",
    "script",
    "resource",
    "data",
    "http",
    "plugin",
];

/// Resource template actions.
const ACTIONS: [&str; 6] = ["get", "create", "apply", "delete", "replace", "patch"];
/// `resource.mergeStrategy` values (`kubectl patch --type`).
const MERGE_STRATEGIES: [&str; 3] = ["strategic", "merge", "json"];
/// `retryStrategy.retryPolicy` values.
const RETRY_POLICIES: [&str; 4] = ["Always", "OnFailure", "OnError", "OnTransientError"];

/// The types a template sets.
pub(super) fn kinds(t: &Template) -> Vec<&'static str> {
    let present = [
        t.container.is_some(),
        t.script.is_some(),
        t.resource.is_some(),
        t.dag.is_some(),
        !t.steps.is_empty(),
        t.suspend.is_some(),
        t.container_set.is_some(),
        t.data.is_some(),
        t.http.is_some(),
        t.plugin.is_some(),
    ];
    KINDS
        .into_iter()
        .zip(present)
        .filter_map(|(kind, set)| set.then_some(kind))
        .collect()
}

/// Checks one template at `path` (`spec.templates[2]`, `...steps[0][1].inline`).
pub(super) fn template<'a>(
    check: &mut Checker<'a>,
    scope: &Scope<'a>,
    t: &'a Template,
    path: &FieldPath,
    depth: usize,
) {
    if depth > MAX_INLINE_DEPTH {
        check.error(
            path.clone(),
            format!(
                "inline templates nest more than {MAX_INLINE_DEPTH} deep: move some of them \
                 into spec.templates and call them by name"
            ),
        );
        return;
    }
    let label = if t.name.is_empty() {
        "inline template".to_owned()
    } else {
        format!("template {:?}", t.name)
    };
    let kinds = kinds(t);
    match kinds.as_slice() {
        [] => check.error(
            path.clone(),
            format!("{label} has no type: set one of {}", list(&KINDS, "or")),
        ),
        [_] => {}
        many => check.error(
            path.clone(),
            format!(
                "{label} has more than one type ({}): keep exactly one",
                list(many, "and")
            ),
        ),
    }
    let kind = match kinds.as_slice() {
        [one] => Some(*one),
        _ => None,
    };
    let leaf = kinds.iter().any(|k| LEAF_KINDS.contains(k));
    let orchestrates = t.dag.is_some() || !t.steps.is_empty();

    let volumes = pods::declared_volumes(scope.spec, t);
    let declared = volumes.as_deref();
    if let Some(container) = &t.container {
        pods::container(
            check,
            scope,
            container.value(),
            &path.key("container"),
            Role::Main,
            declared,
        );
    }
    if let Some(script) = &t.script {
        let script_path = path.key("script");
        if script.source.as_deref().is_none_or(|s| s.trim().is_empty()) {
            check.error(
                script_path.key("source"),
                "script has no source: write the code to run in source (the command runs it as a file)",
            );
        }
        pods::container(
            check,
            scope,
            script.container.value(),
            &script_path,
            Role::Script,
            declared,
        );
    }
    if let Some(set) = &t.container_set {
        pods::container_set(check, scope, set, &path.key("containerSet"), declared);
    }
    for (i, sidecar) in t.sidecars.iter().enumerate() {
        let sidecar_path = path.key("sidecars").index(i);
        pods::container(
            check,
            scope,
            sidecar.container.value(),
            &sidecar_path,
            Role::Sidecar,
            declared,
        );
    }
    for (i, init) in t.init_containers.iter().enumerate() {
        let init_path = path.key("initContainers").index(i);
        pods::container(
            check,
            scope,
            init.container.value(),
            &init_path,
            Role::Init,
            declared,
        );
    }
    if let Some(resource) = &t.resource {
        self::resource(check, t, resource, &path.key("resource"));
    }
    if !t.steps.is_empty() {
        steps::steps(check, scope, t, path, depth);
    }
    if let Some(d) = &t.dag {
        dag::dag(check, scope, d, &path.key("dag"), depth);
    }
    if let Some(duration) = t.suspend.as_ref().and_then(|s| s.duration.as_deref())
        && let Err(message) = seconds_or_duration(duration)
    {
        check.error(path.key("suspend").key("duration"), message);
    }
    if t.http.is_some() {
        check.unsupported(path.key("http"), "http templates");
    }
    if t.data.is_some() {
        check.unsupported(path.key("data"), "data templates");
    }
    if t.plugin.is_some() {
        check.unsupported(path.key("plugin"), "plugin templates");
    }

    if let Some(inputs) = &t.inputs {
        artifacts::inputs(check, inputs, &path.key("inputs"));
    }
    if let Some(outputs) = &t.outputs {
        artifacts::outputs(check, outputs, &path.key("outputs"), kind);
    }
    if let Some(retry) = &t.retry_strategy {
        retry_strategy(check, retry, &path.key("retryStrategy"));
    }
    if let Some(deadline) = &t.active_deadline_seconds {
        let deadline_path = path.key("activeDeadlineSeconds");
        if orchestrates {
            check.error(
                deadline_path,
                format!(
                    "activeDeadlineSeconds applies to templates that run something themselves, not \
                     to {} templates: set it on the templates this one calls, or use the \
                     workflow's spec.activeDeadlineSeconds",
                    kind.unwrap_or("steps or dag")
                ),
            );
        } else if let Err(message) = non_negative("activeDeadlineSeconds", deadline) {
            check.error(deadline_path, message);
        }
    }
    if let Some(timeout) = t.timeout.as_deref().filter(|s| !s.is_empty()) {
        let timeout_path = path.key("timeout");
        if !leaf && !kinds.is_empty() {
            check.error(
                timeout_path,
                format!(
                    "timeout applies to templates that run something themselves, not to {} \
                     templates: set it on the templates this one calls",
                    list(&kinds, "and")
                ),
            );
        } else if let Err(message) = go_duration(timeout) {
            check.error(timeout_path, message);
        }
    }
    if t.parallelism.is_some() && !orchestrates && !kinds.is_empty() {
        check.error(
            path.key("parallelism"),
            "parallelism limits how many steps or tasks run at once, so it applies only to \
             steps and dag templates: remove it",
        );
    }
    if t.memoize.is_some() {
        check.unsupported(path.key("memoize"), "memoize");
    }
    if t.synchronization.is_some() {
        check.unsupported(
            path.key("synchronization"),
            "synchronization (mutexes and semaphores)",
        );
    }
    if t.metrics.is_some() {
        check.unsupported(path.key("metrics"), "template-level metrics");
    }
}

fn resource(check: &mut Checker<'_>, t: &Template, resource: &ResourceTemplate, path: &FieldPath) {
    let action = resource.action.as_deref().unwrap_or("");
    if action.is_empty() {
        check.error(
            path.key("action"),
            format!(
                "resource template has no action: set one of {}",
                list(&ACTIONS, "or")
            ),
        );
    } else {
        one_of(
            check,
            path.key("action"),
            "resource action",
            action,
            &ACTIONS,
        );
    }
    let manifest = resource
        .manifest
        .as_deref()
        .filter(|m| !m.trim().is_empty());
    match (manifest, &resource.manifest_from) {
        (Some(_), Some(_)) => check.error(
            path.key("manifestFrom"),
            "resource template sets both manifest and manifestFrom: keep one",
        ),
        (None, None) if !matches!(action, "get" | "delete") && !is_templated(action) => check
            .error(
                path.clone(),
                format!(
                    "resource template with action {action:?} has no manifest: set manifest to the \
                 object to {action}, or manifestFrom to an input artifact holding it"
                ),
            ),
        _ => {}
    }
    if let Some(artifact) = resource
        .manifest_from
        .as_ref()
        .and_then(|m| m.artifact.as_ref())
    {
        let inputs: Vec<&str> = t
            .inputs
            .iter()
            .flat_map(|i| &i.artifacts)
            .map(|a| a.name.as_str())
            .collect();
        if !is_templated(&artifact.name) && !inputs.contains(&artifact.name.as_str()) {
            let message = not_found(
                format!(
                    "manifestFrom names artifact {:?}, which is not an input artifact of this template",
                    artifact.name
                ),
                &artifact.name,
                inputs.iter().copied(),
                "declare it in inputs.artifacts",
            );
            check.error(
                path.key("manifestFrom").key("artifact").key("name"),
                message,
            );
        }
    }
    if let Some(manifest) = manifest
        && !is_templated(manifest)
        && let Err(problem) = parse_manifest(manifest)
    {
        check.error(
            path.key("manifest"),
            format!("manifest is not valid YAML ({problem}): fix the syntax"),
        );
    }
    if let Some(strategy) = resource.merge_strategy.as_deref() {
        one_of(
            check,
            path.key("mergeStrategy"),
            "merge strategy",
            strategy,
            &MERGE_STRATEGIES,
        );
    }
}

/// Parses every document of a manifest.
fn parse_manifest(manifest: &str) -> Result<(), String> {
    use serde::Deserialize;
    for document in serde_yaml_ng::Deserializer::from_str(manifest) {
        serde_yaml_ng::Value::deserialize(document).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A template's or the workflow's `retryStrategy`.
pub(super) fn retry_strategy(check: &mut Checker<'_>, retry: &RetryStrategy, path: &FieldPath) {
    if let Some(limit) = &retry.limit
        && let Err(message) = non_negative("limit", limit)
    {
        check.error(path.key("limit"), message);
    }
    if let Some(policy) = retry.retry_policy.as_deref() {
        one_of(
            check,
            path.key("retryPolicy"),
            "retry policy",
            policy,
            &RETRY_POLICIES,
        );
    }
    if let Some(backoff) = &retry.backoff {
        let backoff_path = path.key("backoff");
        for (name, value) in [
            ("duration", &backoff.duration),
            ("maxDuration", &backoff.max_duration),
            ("cap", &backoff.cap),
        ] {
            if let Some(value) = value.as_deref()
                && let Err(message) = seconds_or_duration(value)
            {
                check.error(backoff_path.key(name), message);
            }
        }
        if let Some(factor) = &backoff.factor
            && let Err(message) = non_negative("factor", factor)
        {
            check.error(backoff_path.key("factor"), message);
        }
    }
}
