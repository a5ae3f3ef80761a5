//! What a step, a task or a hook runs: a template of the same spec, a
//! templateRef or an inline template; with its arguments, loop, exit
//! handler and lifecycle hooks.

use std::collections::BTreeMap;

use super::durations::whole_number;
use super::refs::{describe_ref_target, local, template_names};
use super::{Checker, artifacts, is_templated, list, not_found, templates};
use crate::path::FieldPath;
use crate::types::{
    Arguments, DAGTask, IntOrString, Item, LifecycleHook, Sequence, Template, TemplateRef,
    WorkflowSpec, WorkflowStep, WorkflowTemplateRef,
};

/// The spec a `template:` name is looked up in.
#[derive(Clone, Debug)]
pub(super) struct Scope<'a> {
    /// The spec whose templates the names refer to.
    pub spec: &'a WorkflowSpec,
    /// Where that spec is in the object being checked (`spec`,
    /// `spec.workflowSpec`), for messages.
    pub root: FieldPath,
    /// Set when the names refer to a WorkflowTemplate's templates (a
    /// workflow's entrypoint under `workflowTemplateRef`).
    pub via: Option<&'a WorkflowTemplateRef>,
}

impl<'a> Scope<'a> {
    /// The template called `name`.
    pub(super) fn find(&self, name: &str) -> Option<&'a Template> {
        local(self.spec, name)
    }

    /// The message for `what` (`template`, `entrypoint`, ...) naming a
    /// template that does not exist.
    pub(super) fn missing(&self, what: &str, name: &str) -> String {
        match self.via {
            None => not_found(
                format!("{what} {name:?} is not defined in {}.templates", self.root),
                name,
                template_names(self.spec),
                "add a template with that name or fix the name",
            ),
            Some(reference) => not_found(
                format!(
                    "{what} {name:?} is not a template of {}",
                    describe_ref_target(reference)
                ),
                name,
                template_names(self.spec),
                "name one of its templates",
            ),
        }
    }
}

/// A step or a task, seen the same way.
#[derive(Clone, Copy, Debug)]
pub(super) struct Call<'a> {
    /// `step` or `task`.
    pub noun: &'static str,
    pub name: &'a str,
    pub template: Option<&'a str>,
    pub template_ref: Option<&'a TemplateRef>,
    pub inline: Option<&'a Template>,
    pub arguments: Option<&'a Arguments>,
    pub on_exit: Option<&'a str>,
    pub hooks: &'a BTreeMap<String, LifecycleHook>,
    pub with_items: &'a [Item],
    pub with_param: Option<&'a str>,
    pub with_sequence: Option<&'a Sequence>,
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

impl<'a> From<&'a WorkflowStep> for Call<'a> {
    fn from(step: &'a WorkflowStep) -> Self {
        Self {
            noun: "step",
            name: &step.name,
            template: non_empty(&step.template),
            template_ref: step.template_ref.as_ref(),
            inline: step.inline.as_deref(),
            arguments: step.arguments.as_ref(),
            on_exit: non_empty(&step.on_exit),
            hooks: &step.hooks,
            with_items: &step.with_items,
            with_param: non_empty(&step.with_param),
            with_sequence: step.with_sequence.as_ref(),
        }
    }
}

impl<'a> From<&'a DAGTask> for Call<'a> {
    fn from(task: &'a DAGTask) -> Self {
        Self {
            noun: "task",
            name: &task.name,
            template: non_empty(&task.template),
            template_ref: task.template_ref.as_ref(),
            inline: task.inline.as_deref(),
            arguments: task.arguments.as_ref(),
            on_exit: non_empty(&task.on_exit),
            hooks: &task.hooks,
            with_items: &task.with_items,
            with_param: non_empty(&task.with_param),
            with_sequence: task.with_sequence.as_ref(),
        }
    }
}

impl Call<'_> {
    /// Whether the call loops (withItems, withParam or withSequence).
    pub(super) fn loops(&self) -> bool {
        !self.with_items.is_empty() || self.with_param.is_some() || self.with_sequence.is_some()
    }

    fn label(&self) -> String {
        if self.name.is_empty() {
            format!("this {}", self.noun)
        } else {
            format!("{} {:?}", self.noun, self.name)
        }
    }
}

/// Checks a step or task at `path`.
pub(super) fn call<'a>(
    check: &mut Checker<'a>,
    scope: &Scope<'a>,
    call: &Call<'a>,
    path: &FieldPath,
    depth: usize,
) {
    let label = call.label();
    let set: Vec<&str> = [
        ("template", call.template.is_some()),
        ("templateRef", call.template_ref.is_some()),
        ("inline", call.inline.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, present)| present.then_some(name))
    .collect();
    match set.len() {
        0 => check.error(
            path.clone(),
            format!("{label} runs nothing: set template, templateRef or inline"),
        ),
        1 => {}
        _ => check.error(
            path.clone(),
            format!("{label} sets {}: keep exactly one", list(&set, "and")),
        ),
    }
    if let Some(name) = call.template {
        template_name(check, scope, "template", name, path.key("template"));
    }
    if let Some(reference) = call.template_ref {
        check.template_ref(reference, &path.key("templateRef"));
    }
    if let Some(inline) = call.inline {
        templates::template(check, scope, inline, &path.key("inline"), depth + 1);
    }
    if let Some(arguments) = call.arguments {
        artifacts::arguments(check, arguments, &path.key("arguments"), &|_| true);
    }
    if let Some(name) = call.on_exit {
        template_name(check, scope, "onExit template", name, path.key("onExit"));
    }
    hooks(check, scope, call.hooks, &path.key("hooks"));
    loops(check, call, path);
}

/// Checks that `name` is a template of `scope`.
pub(super) fn template_name(
    check: &mut Checker<'_>,
    scope: &Scope<'_>,
    what: &str,
    name: &str,
    path: FieldPath,
) {
    if is_templated(name) || scope.find(name).is_some() {
        return;
    }
    let message = scope.missing(what, name);
    check.error(path, message);
}

/// Lifecycle hooks of a workflow, step or task.
pub(super) fn hooks<'a>(
    check: &mut Checker<'a>,
    scope: &Scope<'a>,
    hooks: &'a BTreeMap<String, LifecycleHook>,
    path: &FieldPath,
) {
    for (name, hook) in hooks {
        let hook_path = path.key(name.clone());
        let expression = hook.expression.as_deref().unwrap_or("").trim();
        if name != "exit" && expression.is_empty() {
            check.error(
                hook_path.key("expression"),
                format!(
                    "hook {name:?} has no expression: write the condition that runs it \
                     (only the hook named exit runs without one)"
                ),
            );
        }
        let template = non_empty(&hook.template);
        match (template, &hook.template_ref) {
            (None, None) => check.error(
                hook_path.clone(),
                format!("hook {name:?} runs nothing: set template or templateRef"),
            ),
            (Some(_), Some(_)) => check.error(
                hook_path.clone(),
                format!("hook {name:?} sets both template and templateRef: keep one"),
            ),
            _ => {}
        }
        if let Some(template) = template {
            template_name(
                check,
                scope,
                "hook template",
                template,
                hook_path.key("template"),
            );
        }
        if let Some(reference) = &hook.template_ref {
            check.template_ref(reference, &hook_path.key("templateRef"));
        }
        if let Some(arguments) = &hook.arguments {
            artifacts::arguments(check, arguments, &hook_path.key("arguments"), &|_| false);
        }
    }
}

/// withItems, withParam and withSequence.
fn loops(check: &mut Checker<'_>, call: &Call<'_>, path: &FieldPath) {
    let set: Vec<&str> = [
        ("withItems", !call.with_items.is_empty()),
        ("withParam", call.with_param.is_some()),
        ("withSequence", call.with_sequence.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, present)| present.then_some(name))
    .collect();
    if let [_, second, ..] = set.as_slice() {
        check.error(
            path.key(*second),
            format!(
                "{} sets {}: loop over one of them",
                call.label(),
                list(&set, "and")
            ),
        );
    }
    if let Some(sequence) = call.with_sequence {
        self::sequence(check, sequence, &path.key("withSequence"));
    }
}

fn sequence(check: &mut Checker<'_>, sequence: &Sequence, path: &FieldPath) {
    match (&sequence.count, &sequence.end) {
        (Some(_), Some(_)) => check.error(
            path.clone(),
            "withSequence sets both count and end: keep count (how many numbers) or end \
             (the last number)",
        ),
        (None, None) => check.error(
            path.clone(),
            "withSequence needs count (how many numbers) or end (the last number)",
        ),
        _ => {}
    }
    let fields: [(&str, &Option<IntOrString>); 3] = [
        ("start", &sequence.start),
        ("end", &sequence.end),
        ("count", &sequence.count),
    ];
    for (name, value) in fields {
        let Some(value) = value else { continue };
        match whole_number(name, value) {
            Err(message) => check.error(path.key(name), message),
            Ok(Some(n)) if name == "count" && n < 0 => {
                check.error(path.key(name), format!("count is {n}: use 0 or more"));
            }
            Ok(_) => {}
        }
    }
}
