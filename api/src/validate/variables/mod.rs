//! `{{...}}` references that cannot resolve where they are written.
//!
//! Scopes follow upstream's `workflow/validate` (which variables exist in
//! which template, step or task), checking what upstream checks and no
//! more, with two exceptions that are certain failures at run time:
//! a step may only use steps of *earlier* groups (upstream's validator also
//! accepts earlier steps of the same group, which the controller never
//! resolves), and a task may only use its ancestors' values (upstream checks
//! this only for arguments that start with the reference).
//!
//! - Only simple tags under `inputs.`, `outputs.`, `pod.`, `item.`,
//!   `steps.`, `tasks.` and `workflow.` are checked, as upstream; `outputs.*`
//!   always passes (a template's own outputs, and metrics).
//! - Variables inside `{{= }}` expressions, which upstream never checks,
//!   are reported as warnings; so are a bare `{{item}}` outside a loop,
//!   `{{retries}}` without a retryStrategy and an unterminated `{{`.
//! - A step or task whose template cannot be resolved here (a templateRef
//!   outside `ctx.known_templates`, a templated name) may expose any output.
//! - Workflow-level fields are checked for `workflow.*` only;
//!   `templateDefaults` is not checked (its scope is every template's).

mod resolve;
mod scope;

use serde_json::Value;

use super::{Context, Diagnostic, Severity, closest};
use crate::path::FieldPath;
use crate::tags::{TagKind, Tags, expression_variables};
use crate::types::{Object, Template};
use resolve::{english_list, resolve};
use scope::{
    Frame, Globals, Items, Kind, Library, NodeIndex, NodeKind, Nodes, Outer, TemplateScope, Viewer,
};

/// Checks every `{{...}}` of one object.
///
/// `value` is the object serialized (as [`Object::to_value`] gives it).
pub(crate) fn check(
    index: usize,
    object: &Object,
    value: &Value,
    ctx: &Context<'_>,
    out: &mut Vec<Diagnostic>,
) {
    let Some(spec) = object.workflow_spec() else {
        return;
    };
    let spec_json = match object {
        Object::CronWorkflow(_) => value.get("spec").and_then(|s| s.get("workflowSpec")),
        _ => value.get("spec"),
    };
    let Some(Value::Object(spec_value)) = spec_json else {
        return;
    };
    let base = match object {
        Object::CronWorkflow(_) => FieldPath::root().key("spec").key("workflowSpec"),
        _ => FieldPath::root().key("spec"),
    };
    let library = Library { object, spec, ctx };
    let globals = Globals::new(object, spec, &library, &base);
    let mut sink = Sink {
        index,
        base: base.clone(),
        out,
    };
    let spec_frame = Frame {
        globals: &globals,
        template: None,
        items: None,
        nodes: Nodes::None,
    };
    let mut trail = Vec::new();
    for (key, value) in spec_value {
        trail.push(Seg::Key(key));
        match (key.as_str(), value) {
            ("templates", Value::Array(values)) => {
                let outer = Outer {
                    frame: spec_frame,
                    params: &[],
                };
                for (i, (template, value)) in spec.templates.iter().zip(values).enumerate() {
                    trail.push(Seg::Index(i));
                    check_template(template, value, &mut trail, &outer, &library, &mut sink);
                    trail.pop();
                }
            }
            ("templateDefaults", _) => {}
            _ => walk(value, &mut trail, &spec_frame, &mut sink),
        }
        trail.pop();
    }
    if let Object::CronWorkflow(cron) = object {
        let spec_path = FieldPath::root().key("spec");
        if let Some(when) = &cron.spec.when {
            cron_expression(when, false, spec_path.key("when"), &mut sink);
        }
        if let Some(expression) = cron
            .spec
            .stop_strategy
            .as_ref()
            .and_then(|s| s.expression.as_ref())
        {
            let path = spec_path.key("stopStrategy").key("expression");
            cron_expression(expression, true, path, &mut sink);
        }
    }
}

/// One step of a path below the walked spec, borrowed from it: a
/// [`FieldPath`] is only built for a finding.
#[derive(Clone, Copy)]
enum Seg<'v> {
    Key(&'v str),
    Index(usize),
}

/// Where findings go.
struct Sink<'o> {
    index: usize,
    /// The path of the walked spec (`spec`, `spec.workflowSpec`).
    base: FieldPath,
    out: &'o mut Vec<Diagnostic>,
}

impl Sink<'_> {
    /// Records a finding at `trail` below the spec.
    fn push(&mut self, trail: &[Seg<'_>], problem: Problem) {
        let mut path = self.base.clone();
        for seg in trail {
            match seg {
                Seg::Key(key) => path.push_key(key.to_string()),
                Seg::Index(i) => path.push_index(*i),
            }
        }
        self.push_at(path, problem);
    }

    /// Records a finding at `path` from the object's root.
    fn push_at(&mut self, path: FieldPath, problem: Problem) {
        self.out.push(Diagnostic {
            object: self.index,
            path,
            severity: problem.severity,
            message: problem.message,
        });
    }
}

/// What is wrong with one reference.
struct Problem {
    severity: Severity,
    message: String,
}

fn error(message: String) -> Option<Problem> {
    Some(Problem {
        severity: Severity::Error,
        message,
    })
}

fn warning(message: String) -> Option<Problem> {
    Some(Problem {
        severity: Severity::Warning,
        message,
    })
}

fn check_template<'v>(
    template: &Template,
    value: &'v Value,
    trail: &mut Vec<Seg<'v>>,
    outer: &Outer<'_>,
    library: &Library<'_>,
    sink: &mut Sink<'_>,
) {
    let Value::Object(fields) = value else {
        return;
    };
    let inputs = template.inputs.as_ref();
    let mut params: Vec<&str> = inputs
        .iter()
        .flat_map(|i| &i.parameters)
        .map(|p| p.name.as_str())
        .collect();
    params.extend(outer.params.iter().copied());
    let scope = TemplateScope {
        template,
        kind: Kind::of(template),
        params,
        artifacts: inputs
            .iter()
            .flat_map(|i| &i.artifacts)
            .map(|a| a.name.as_str())
            .collect(),
        retry: template.retry_strategy.is_some() || outer.frame.globals.retry_everywhere,
    };
    let index = match (&template.dag, template.steps.is_empty()) {
        (_, false) => Some(NodeIndex::steps(template, library)),
        (Some(dag), true) => Some(NodeIndex::dag(template, dag, library)),
        (None, true) => None,
    };
    let frame = Frame {
        template: Some(&scope),
        ..outer.frame
    };
    let all = match &index {
        Some(index) => Nodes::Some {
            index,
            viewer: Viewer::All,
        },
        None => frame.nodes,
    };
    for (key, value) in fields {
        trail.push(Seg::Key(key));
        match (key.as_str(), &index) {
            ("steps", Some(index)) if index.kind == NodeKind::Step => {
                check_steps(template, value, trail, &frame, index, library, sink);
            }
            ("dag", Some(index)) if index.kind == NodeKind::Task => {
                check_dag(template, value, trail, &frame, index, library, sink);
            }
            ("outputs", _) => {
                let frame = Frame {
                    nodes: all,
                    ..frame
                };
                walk(value, trail, &frame, sink);
            }
            _ => walk(value, trail, &frame, sink),
        }
        trail.pop();
    }
}

fn check_steps<'v>(
    template: &Template,
    value: &'v Value,
    trail: &mut Vec<Seg<'v>>,
    frame: &Frame<'_>,
    index: &NodeIndex<'_>,
    library: &Library<'_>,
    sink: &mut Sink<'_>,
) {
    let Value::Array(groups) = value else { return };
    for (group, (steps, values)) in template.steps.iter().zip(groups).enumerate() {
        let Value::Array(values) = values else {
            continue;
        };
        for (i, (step, value)) in steps.iter().zip(values).enumerate() {
            let items = Items::of(
                &step.with_items,
                step.with_param.as_deref(),
                step.with_sequence.as_ref(),
            );
            let frame = Frame {
                items: items.as_ref().or(frame.items),
                nodes: Nodes::Some {
                    index,
                    viewer: Viewer::Node {
                        name: &step.name,
                        group,
                        hooks: false,
                    },
                },
                ..*frame
            };
            trail.extend([Seg::Index(group), Seg::Index(i)]);
            check_call(value, trail, &frame, step.inline.as_deref(), library, sink);
            trail.truncate(trail.len() - 2);
        }
    }
}

fn check_dag<'v>(
    template: &Template,
    value: &'v Value,
    trail: &mut Vec<Seg<'v>>,
    frame: &Frame<'_>,
    index: &NodeIndex<'_>,
    library: &Library<'_>,
    sink: &mut Sink<'_>,
) {
    let Value::Object(fields) = value else { return };
    let tasks = template.dag.iter().flat_map(|d| &d.tasks);
    for (key, value) in fields {
        trail.push(Seg::Key(key));
        match (key.as_str(), value) {
            ("tasks", Value::Array(values)) => {
                for (i, (task, value)) in tasks.clone().zip(values).enumerate() {
                    let items = Items::of(
                        &task.with_items,
                        task.with_param.as_deref(),
                        task.with_sequence.as_ref(),
                    );
                    let frame = Frame {
                        items: items.as_ref().or(frame.items),
                        nodes: Nodes::Some {
                            index,
                            viewer: Viewer::Node {
                                name: &task.name,
                                group: i,
                                hooks: false,
                            },
                        },
                        ..*frame
                    };
                    trail.push(Seg::Index(i));
                    check_call(value, trail, &frame, task.inline.as_deref(), library, sink);
                    trail.pop();
                }
            }
            ("target", _) => {
                let nodes = Nodes::Some {
                    index,
                    viewer: Viewer::All,
                };
                walk(value, trail, &Frame { nodes, ..*frame }, sink);
            }
            _ => walk(value, trail, frame, sink),
        }
        trail.pop();
    }
}

/// One step or task: its own `hooks` may use the node itself, and its
/// inline template sees the node's scope.
fn check_call<'v>(
    value: &'v Value,
    trail: &mut Vec<Seg<'v>>,
    frame: &Frame<'_>,
    inline: Option<&Template>,
    library: &Library<'_>,
    sink: &mut Sink<'_>,
) {
    let Value::Object(fields) = value else { return };
    for (key, value) in fields {
        trail.push(Seg::Key(key));
        match (key.as_str(), inline) {
            ("hooks", _) => {
                let nodes = match frame.nodes {
                    Nodes::Some {
                        index,
                        viewer: Viewer::Node { name, group, .. },
                    } => Nodes::Some {
                        index,
                        viewer: Viewer::Node {
                            name,
                            group,
                            hooks: true,
                        },
                    },
                    other => other,
                };
                walk(value, trail, &Frame { nodes, ..*frame }, sink);
            }
            ("inline", Some(inline)) => {
                let params = frame.template.map(|t| t.params.as_slice()).unwrap_or(&[]);
                let outer = Outer {
                    frame: *frame,
                    params,
                };
                check_template(inline, value, trail, &outer, library, sink);
            }
            _ => walk(value, trail, frame, sink),
        }
        trail.pop();
    }
}

/// Checks every string under `value`, object keys included.
fn walk<'v>(value: &'v Value, trail: &mut Vec<Seg<'v>>, frame: &Frame<'_>, sink: &mut Sink<'_>) {
    match value {
        Value::String(s) => check_string(s, trail, frame, sink),
        Value::Array(values) => {
            for (i, value) in values.iter().enumerate() {
                trail.push(Seg::Index(i));
                walk(value, trail, frame, sink);
                trail.pop();
            }
        }
        Value::Object(fields) => {
            for (key, value) in fields {
                trail.push(Seg::Key(key));
                check_string(key, trail, frame, sink);
                walk(value, trail, frame, sink);
                trail.pop();
            }
        }
        _ => {}
    }
}

fn check_string(s: &str, trail: &[Seg<'_>], frame: &Frame<'_>, sink: &mut Sink<'_>) {
    if !super::is_templated(s) {
        return;
    }
    for tag in Tags::new(s) {
        let tag = match tag {
            Ok(tag) => tag,
            Err(err) => {
                let message = err.to_string();
                sink.push(
                    trail,
                    Problem {
                        severity: Severity::Warning,
                        message,
                    },
                );
                continue;
            }
        };
        match tag.kind {
            TagKind::Simple => {
                // `{{a.{{b}}}}`: the inner `{{b` is resolved first, and the
                // outer tag only once it is substituted.
                let name = match tag.raw.rfind("{{") {
                    Some(i) => tag.raw[i + 2..].trim(),
                    None => tag.body,
                };
                if let Some(problem) = resolve(frame, name) {
                    let message = format!("{{{{{name}}}}}: {}", problem.message);
                    sink.push(trail, Problem { message, ..problem });
                }
            }
            TagKind::Expression => {
                for variable in expression_variables(tag.body) {
                    if let Some(problem) = resolve(frame, &variable) {
                        let message = format!(
                            "{{{{={}}}}}: {variable}: {} (expression variables are not checked \
                             by Argo's validator and fail when evaluated)",
                            tag.body, problem.message
                        );
                        sink.push(
                            trail,
                            Problem {
                                severity: Severity::Warning,
                                message,
                            },
                        );
                    }
                }
            }
        }
    }
}

/// The variables of a CronWorkflow's `when` (a tag) and
/// `stopStrategy.expression` (a bare expression).
fn cron_expression(text: &str, bare: bool, path: FieldPath, sink: &mut Sink<'_>) {
    let variables: Vec<String> = if bare {
        expression_variables(text)
    } else {
        Tags::new(text)
            .filter_map(Result::ok)
            .filter(|t| t.kind == TagKind::Expression)
            .flat_map(|t| expression_variables(t.body))
            .collect()
    };
    const CRON_VALUES: [&str; 9] = [
        "name",
        "namespace",
        "labels",
        "annotations",
        "labels.json",
        "annotations.json",
        "failed",
        "succeeded",
        "lastScheduledTime",
    ];
    for variable in variables {
        let Some(rest) = variable.strip_prefix("cronworkflow.") else {
            continue;
        };
        let known = CRON_VALUES.contains(&rest)
            || rest.starts_with("labels.")
            || rest.starts_with("annotations.");
        if known {
            continue;
        }
        let hint = match closest(rest, CRON_VALUES) {
            Some(c) => format!("; did you mean \"cronworkflow.{c}\"?"),
            None => format!(
                "; the cronworkflow variables are {}",
                english_list(&CRON_VALUES)
            ),
        };
        sink.push_at(
            path.clone(),
            Problem {
                severity: Severity::Warning,
                message: format!(
                    "{variable}: unknown CronWorkflow variable{hint} (expression variables are not \
                 checked by Argo's validator and fail when evaluated)"
                ),
            },
        );
    }
}

#[cfg(test)]
mod tests;
