//! Parameters and artifacts: declarations in arguments, inputs and outputs,
//! where output parameters take their value from, archives and artifact GC.

use super::names::{FieldKind, unique_names};
use super::{Checker, is_templated, list, one_of};
use crate::path::FieldPath;
use crate::types::{Arguments, Artifact, Inputs, Outputs, Parameter, ValueFrom};

/// Artifact GC strategies (upstream `ArtifactGCStrategy`).
const ARTIFACT_GC_STRATEGIES: [&str; 3] = ["OnWorkflowCompletion", "OnWorkflowDeletion", "Never"];

/// The lowest and highest gzip level of `archive.tar.compressionLevel`.
const COMPRESSION_LEVELS: std::ops::RangeInclusive<i64> = -1..=9;

/// `arguments` of a workflow, step, task or hook. `needs_value` says which
/// parameters must carry a value (upstream requires one for steps and tasks,
/// and for a workflow's own arguments except while linting).
pub(super) fn arguments(
    check: &mut Checker<'_>,
    args: &Arguments,
    path: &FieldPath,
    needs_value: &dyn Fn(&str) -> bool,
) {
    let parameters = path.key("parameters");
    parameter_names(check, &args.parameters, &parameters, "in arguments");
    for (i, parameter) in args.parameters.iter().enumerate() {
        argument_value(check, parameter, &parameters.index(i), needs_value);
    }
    artifact_list(
        check,
        &args.artifacts,
        &path.key("artifacts"),
        "in arguments",
    );
}

/// Where an argument's value comes from, and whether its enum allows it.
fn argument_value(
    check: &mut Checker<'_>,
    parameter: &Parameter,
    path: &FieldPath,
    needs_value: &dyn Fn(&str) -> bool,
) {
    let name = &parameter.name;
    match (&parameter.value, &parameter.value_from) {
        (None, None) if !name.is_empty() && needs_value(name) => check.error(
            path.key("value"),
            format!("argument {name:?} has no value: set value (or valueFrom.configMapKeyRef)"),
        ),
        (_, Some(from)) => {
            let from_path = path.key("valueFrom");
            let outputs = sources(from);
            let misplaced = outputs
                .iter()
                .find(|s| matches!(**s, "path" | "jsonPath" | "parameter" | "expression"));
            if let Some(source) = misplaced {
                check.error(
                    from_path.key(*source),
                    format!(
                        "valueFrom.{source} reads a template's outputs, not an argument: give \
                         argument {name:?} a value (a template tag such as \
                         {{{{steps.x.outputs.parameters.y}}}} works) or valueFrom.configMapKeyRef"
                    ),
                );
            } else if from.config_map_key_ref.is_none()
                && from.event.as_deref().is_none_or(str::is_empty)
                && from.supplied.is_none()
            {
                check.error(
                    from_path,
                    format!(
                        "valueFrom of argument {name:?} names no source: set configMapKeyRef, \
                         event or supplied (default is only the fallback)"
                    ),
                );
            }
        }
        _ => {}
    }
    if let Some(value) = &parameter.value
        && !parameter.r#enum.is_empty()
    {
        let text = value.as_text();
        let allowed: Vec<String> = parameter.r#enum.iter().map(|e| e.as_text()).collect();
        if !is_templated(&text) && !allowed.contains(&text) {
            let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
            check.error(
                path.key("value"),
                format!(
                    "{text:?} is not in the enum of parameter {name:?}: use {}",
                    list(&allowed, "or")
                ),
            );
        }
    }
}

/// A template's `inputs`.
pub(super) fn inputs(check: &mut Checker<'_>, inputs: &Inputs, path: &FieldPath) {
    parameter_names(
        check,
        &inputs.parameters,
        &path.key("parameters"),
        "in inputs",
    );
    artifact_list(
        check,
        &inputs.artifacts,
        &path.key("artifacts"),
        "in inputs",
    );
}

/// A template's `outputs`; `kind` is the template's type when it has one.
pub(super) fn outputs(
    check: &mut Checker<'_>,
    outputs: &Outputs,
    path: &FieldPath,
    kind: Option<&str>,
) {
    let parameters = path.key("parameters");
    parameter_names(check, &outputs.parameters, &parameters, "in outputs");
    for (i, parameter) in outputs.parameters.iter().enumerate() {
        output_parameter(check, parameter, &parameters.index(i), kind);
    }
    artifact_list(
        check,
        &outputs.artifacts,
        &path.key("artifacts"),
        "in outputs",
    );
}

fn parameter_names(
    check: &mut Checker<'_>,
    parameters: &[Parameter],
    path: &FieldPath,
    scope: &str,
) {
    let names = parameters
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.as_str(), path.index(i)));
    unique_names(check, FieldKind::Parameter, names, scope);
}

fn artifact_list(check: &mut Checker<'_>, artifacts: &[Artifact], path: &FieldPath, scope: &str) {
    let names = artifacts
        .iter()
        .enumerate()
        .map(|(i, a)| (a.name.as_str(), path.index(i)));
    unique_names(check, FieldKind::Artifact, names, scope);
    for (i, artifact) in artifacts.iter().enumerate() {
        self::artifact(check, artifact, &path.index(i));
    }
}

/// One artifact: its archive options and GC strategy.
fn artifact(check: &mut Checker<'_>, artifact: &Artifact, path: &FieldPath) {
    if let Some(archive) = &artifact.archive {
        let archive_path = path.key("archive");
        let set: Vec<&str> = [
            ("none", archive.none.is_some()),
            ("tar", archive.tar.is_some()),
            ("zip", archive.zip.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, present)| present.then_some(name))
        .collect();
        if set.len() > 1 {
            check.error(
                archive_path.clone(),
                format!(
                    "archive sets {}: keep one (none uploads the file as it is, tar and zip pack it)",
                    list(&set, "and")
                ),
            );
        }
        if let Some(level) = archive.tar.as_ref().and_then(|t| t.compression_level)
            && !COMPRESSION_LEVELS.contains(&level)
        {
            check.error(
                archive_path.key("tar").key("compressionLevel"),
                format!(
                    "compression level {level} is out of range: use -1 (the default) to 9 (smallest); \
                     0 stores without compressing"
                ),
            );
        }
    }
    artifact_gc_strategy(
        check,
        path,
        artifact
            .artifact_gc
            .as_ref()
            .and_then(|g| g.strategy.as_deref()),
    );
}

/// `artifactGC.strategy` under `path` (a workflow spec's or one artifact's).
pub(super) fn artifact_gc_strategy(
    check: &mut Checker<'_>,
    path: &FieldPath,
    strategy: Option<&str>,
) {
    if let Some(strategy) = strategy {
        one_of(
            check,
            path.key("artifactGC").key("strategy"),
            "artifact GC strategy",
            strategy,
            &ARTIFACT_GC_STRATEGIES,
        );
    }
}

/// The sources an output parameter can take its value from, as set.
fn sources(from: &ValueFrom) -> Vec<&'static str> {
    let text = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
    [
        ("path", text(&from.path)),
        ("jsonPath", text(&from.json_path)),
        ("jqFilter", text(&from.jq_filter)),
        ("parameter", text(&from.parameter)),
        ("expression", text(&from.expression)),
        ("event", text(&from.event)),
        ("supplied", from.supplied.is_some()),
        ("configMapKeyRef", from.config_map_key_ref.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect()
}

/// An output parameter: a value or exactly one `valueFrom` source, and a
/// source the template's type can produce.
fn output_parameter(
    check: &mut Checker<'_>,
    parameter: &Parameter,
    path: &FieldPath,
    kind: Option<&str>,
) {
    let name = &parameter.name;
    let Some(from) = &parameter.value_from else {
        if parameter.value.is_none() {
            check.error(
                path.clone(),
                format!(
                    "output parameter {name:?} has neither value nor valueFrom: set valueFrom \
                     (e.g. valueFrom.path for a file the container writes)"
                ),
            );
        }
        return;
    };
    let from_path = path.key("valueFrom");
    if parameter.value.is_some() {
        check.error(
            from_path.clone(),
            format!("output parameter {name:?} sets both value and valueFrom: keep one"),
        );
        return;
    }
    let set = sources(from);
    let source = match set.as_slice() {
        [] => {
            let also = if from.default.is_some() {
                " (default is only the fallback)"
            } else {
                ""
            };
            check.error(
                from_path,
                format!(
                    "valueFrom of output parameter {name:?} names no source{also}: set one of \
                     path, jsonPath, jqFilter, parameter, expression, event, supplied or \
                     configMapKeyRef"
                ),
            );
            return;
        }
        [one] => *one,
        many => {
            check.error(
                from_path,
                format!(
                    "valueFrom of output parameter {name:?} sets {}: keep exactly one",
                    list(many, "and")
                ),
            );
            return;
        }
    };
    // What each kind of template can produce, as upstream checks it.
    let (allowed, fix): (&[&str], &str) = match kind {
        Some("container" | "containerSet" | "script") => (
            &["path"],
            "use valueFrom.path, the file the container writes",
        ),
        Some("resource") => (
            &["jsonPath", "jqFilter"],
            "use valueFrom.jsonPath or valueFrom.jqFilter on the resource",
        ),
        Some("steps" | "dag") => (
            &["parameter", "expression"],
            "use valueFrom.parameter (e.g. {{steps.x.outputs.parameters.y}}) or valueFrom.expression",
        ),
        _ => return,
    };
    if !allowed.contains(&source) {
        check.error(
            from_path.key(source),
            format!(
                "a {} template cannot produce output parameter {name:?} from valueFrom.{source}: \
                 {fix}",
                kind.unwrap_or_default()
            ),
        );
    }
}
