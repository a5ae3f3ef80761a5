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

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{Context, Diagnostic, Severity, closest};
use crate::path::FieldPath;
use crate::tags::{TagKind, Tags, expression_variables};
use crate::types::{DAGTemplate, Item, Object, Sequence, Template, TemplateRef, WorkflowSpec};

/// Checks every `{{...}}` of one object.
pub(crate) fn check(index: usize, object: &Object, ctx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    let Some(spec) = object.workflow_spec() else {
        return;
    };
    let Ok(Value::Object(spec_value)) = serde_json::to_value(spec) else {
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
    for (key, value) in &spec_value {
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

/// `; did you mean "x"?` when a candidate is close to `name`, else nothing.
fn did_you_mean<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str>) -> String {
    closest(name, candidates).map_or_else(String::new, |c| format!("; did you mean {c:?}?"))
}

/// `a, b and c`.
fn english_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
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
                Seg::Key(key) => path.push_key(*key),
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

/// Resolves template references against the object itself and the
/// templates the context knows.
struct Library<'a> {
    object: &'a Object,
    spec: &'a WorkflowSpec,
    ctx: &'a Context<'a>,
}

impl<'a> Library<'a> {
    fn local(&self, name: &str) -> Option<&'a Template> {
        self.spec.templates.iter().find(|t| t.name == name)
    }

    fn holder(&self, name: &str, cluster: bool) -> Option<&'a WorkflowSpec> {
        let object: &'a Object = self.object;
        let known: &'a [Object] = self.ctx.known_templates;
        std::iter::once(object).chain(known).find_map(|o| match o {
            Object::WorkflowTemplate(t) if !cluster && t.metadata.name.as_deref() == Some(name) => {
                Some(&t.spec)
            }
            Object::ClusterWorkflowTemplate(t)
                if cluster && t.metadata.name.as_deref() == Some(name) =>
            {
                Some(&t.spec)
            }
            _ => None,
        })
    }

    fn template_ref(&self, r: &TemplateRef) -> Option<&'a Template> {
        let name = r.template.as_deref()?;
        let spec = self.holder(&r.name, r.cluster_scope == Some(true))?;
        spec.templates.iter().find(|t| t.name == name)
    }

    /// The template a step or task runs, when it can be known here.
    fn target(
        &self,
        template: Option<&str>,
        template_ref: Option<&TemplateRef>,
        inline: Option<&'a Template>,
    ) -> Option<&'a Template> {
        if let Some(inline) = inline {
            return Some(inline);
        }
        if let Some(r) = template_ref {
            return self.template_ref(r);
        }
        self.local(template?)
    }

    /// The target of every templateRef of the spec's steps and tasks,
    /// `None` where it does not resolve here.
    fn refs(&self) -> Vec<Option<&'a Template>> {
        let mut found = Vec::new();
        for t in &self.spec.templates {
            let steps = t
                .steps
                .iter()
                .flatten()
                .filter_map(|s| s.template_ref.as_ref());
            let tasks = t.dag.iter().flat_map(|d| &d.tasks);
            let tasks = tasks.filter_map(|t| t.template_ref.as_ref());
            found.extend(steps.chain(tasks).map(|r| self.template_ref(r)));
        }
        found
    }
}

/// Names a global variable may take, or any name.
#[derive(Default)]
struct Names {
    any: bool,
    names: BTreeSet<String>,
}

impl Names {
    fn contains(&self, name: &str) -> bool {
        self.any || self.names.contains(name)
    }

    fn add_global(&mut self, global_name: Option<&String>) {
        match global_name {
            Some(g) if g.contains("{{") => self.any = true,
            Some(g) if !g.is_empty() => {
                self.names.insert(g.clone());
            }
            _ => {}
        }
    }
}

/// The workflow-wide variables (`workflow.*`).
struct Globals {
    params: Names,
    /// Where parameters are declared, for messages.
    params_path: FieldPath,
    priority: bool,
    exit_handler: bool,
    /// A retryStrategy applies to every template.
    retry_everywhere: bool,
    output_params: Names,
    output_artifacts: Names,
}

impl Globals {
    fn new(object: &Object, spec: &WorkflowSpec, library: &Library<'_>, base: &FieldPath) -> Self {
        let mut params = Names::default();
        let declared = spec.arguments.iter().flat_map(|a| &a.parameters);
        params.names.extend(declared.map(|p| p.name.clone()));
        let template_ref = spec.workflow_template_ref.as_ref();
        let referenced =
            template_ref.and_then(|r| library.holder(&r.name, r.cluster_scope == Some(true)));
        match (object, template_ref, referenced) {
            // Validated alone, a template's parameters may come from the
            // workflow that uses it (upstream's WorkflowTemplateValidation).
            (Object::WorkflowTemplate(_) | Object::ClusterWorkflowTemplate(_), _, _) => {
                params.any = true;
            }
            (_, Some(_), None) => params.any = true,
            (_, Some(_), Some(referenced)) => {
                let theirs = referenced.arguments.iter().flat_map(|a| &a.parameters);
                params.names.extend(theirs.map(|p| p.name.clone()));
            }
            _ => {}
        }

        let mut outputs = (Names::default(), Names::default());
        for t in &spec.templates {
            add_global_outputs(&mut outputs, t);
            let inline = t.steps.iter().flatten().filter_map(|s| s.inline.as_deref());
            let tasks = t.dag.iter().flat_map(|d| &d.tasks);
            for t in inline.chain(tasks.filter_map(|t| t.inline.as_deref())) {
                add_global_outputs(&mut outputs, t);
            }
        }
        for target in library.refs() {
            match target {
                Some(t) => add_global_outputs(&mut outputs, t),
                None => (outputs.0.any, outputs.1.any) = (true, true),
            }
        }
        match referenced {
            Some(referenced) => {
                for t in &referenced.templates {
                    add_global_outputs(&mut outputs, t);
                }
            }
            None if template_ref.is_some() => (outputs.0.any, outputs.1.any) = (true, true),
            None => {}
        }
        let (output_params, output_artifacts) = outputs;

        let on_exit = spec.on_exit.as_deref().is_some_and(|s| !s.is_empty());
        Self {
            params,
            params_path: base.key("arguments").key("parameters"),
            priority: spec.priority.is_some(),
            exit_handler: on_exit || spec.hooks.contains_key("exit") || template_ref.is_some(),
            retry_everywhere: spec.retry_strategy.is_some()
                || spec
                    .template_defaults
                    .as_ref()
                    .is_some_and(|d| d.retry_strategy.is_some()),
            output_params,
            output_artifacts,
        }
    }
}

/// Adds the `globalName`s of a template's outputs (parameters, artifacts).
fn add_global_outputs(outputs: &mut (Names, Names), t: &Template) {
    for p in t.outputs.iter().flat_map(|o| &o.parameters) {
        outputs.0.add_global(p.global_name.as_ref());
    }
    for a in t.outputs.iter().flat_map(|o| &o.artifacts) {
        outputs.1.add_global(a.global_name.as_ref());
    }
}

/// What a template is, as far as variables go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Container,
    ContainerSet,
    Script,
    Resource,
    Data,
    Http,
    Plugin,
    Steps,
    Dag,
    Suspend,
    Unknown,
}

impl Kind {
    fn of(t: &Template) -> Self {
        if t.container.is_some() {
            Self::Container
        } else if t.container_set.is_some() {
            Self::ContainerSet
        } else if t.script.is_some() {
            Self::Script
        } else if t.resource.is_some() {
            Self::Resource
        } else if t.data.is_some() {
            Self::Data
        } else if t.http.is_some() {
            Self::Http
        } else if t.plugin.is_some() {
            Self::Plugin
        } else if !t.steps.is_empty() {
            Self::Steps
        } else if t.dag.is_some() {
            Self::Dag
        } else if t.suspend.is_some() {
            Self::Suspend
        } else {
            Self::Unknown
        }
    }

    /// Runs a pod of its own (upstream's `IsPodType`).
    fn runs_pod(self) -> bool {
        matches!(
            self,
            Self::Container | Self::ContainerSet | Self::Script | Self::Resource | Self::Data
        )
    }

    /// Upstream's `IsLeaf`.
    fn is_leaf(self) -> bool {
        self.runs_pod() || matches!(self, Self::Http | Self::Plugin)
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Container => "a container template",
            Self::ContainerSet => "a containerSet template",
            Self::Script => "a script template",
            Self::Resource => "a resource template",
            Self::Data => "a data template",
            Self::Http => "an http template",
            Self::Plugin => "a plugin template",
            Self::Steps => "a steps template",
            Self::Dag => "a DAG template",
            Self::Suspend => "a suspend template",
            Self::Unknown => "a template of no kind",
        }
    }
}

/// Whether a template sets `outputs.result` and `exitCode` (upstream's
/// `HasOutput`).
fn has_output(t: &Template) -> bool {
    match Kind::of(t) {
        Kind::Container | Kind::Script | Kind::Data | Kind::Http | Kind::Plugin => true,
        Kind::ContainerSet => t
            .container_set
            .iter()
            .flat_map(|s| &s.containers)
            .any(|c| c.name() == Some("main")),
        _ => false,
    }
}

/// Whether a step or task running `t` has `outputs.result` and `exitCode`:
/// the template has them, or a loop aggregates a script's or a
/// containerSet's.
fn sets_result(t: &Template, looped: bool) -> bool {
    has_output(t) || (looped && matches!(Kind::of(t), Kind::Script | Kind::ContainerSet))
}

fn subject(t: &Template) -> String {
    if t.name.is_empty() {
        "the inline template".to_owned()
    } else {
        format!("template {:?}", t.name)
    }
}

/// The template whose fields are being checked.
struct TemplateScope<'a> {
    template: &'a Template,
    kind: Kind,
    /// Input parameters: the template's, then an enclosing template's for
    /// an inline template.
    params: Vec<&'a str>,
    artifacts: Vec<&'a str>,
    retry: bool,
}

impl<'a> TemplateScope<'a> {
    fn subject(&self) -> String {
        subject(self.template)
    }
}

/// The loop of the step or task being checked.
enum Items {
    /// `withParam`: any `item.*`.
    Param,
    /// `withSequence`: numbers.
    Sequence,
    /// `withItems`: what the listed values make available.
    List { keys: BTreeSet<String> },
}

impl Items {
    fn of(items: &[Item], param: Option<&str>, sequence: Option<&Sequence>) -> Option<Self> {
        if param.is_some_and(|p| !p.is_empty()) {
            return Some(Self::Param);
        }
        if !items.is_empty() {
            let mut keys = BTreeSet::new();
            for item in items {
                match item {
                    Value::Object(map) => keys.extend(map.keys().cloned()),
                    Value::Array(list) => keys.extend((0..list.len()).map(|i| format!("[{i}]"))),
                    _ => {}
                }
            }
            return Some(Self::List { keys });
        }
        sequence.map(|_| Self::Sequence)
    }
}

/// A step or task that can be referenced.
struct Node<'a> {
    /// The step group it runs in (0 for tasks).
    group: usize,
    /// The template it runs, when known.
    target: Option<&'a Template>,
    /// Whether it has a loop (its outputs are aggregated).
    looped: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum NodeKind {
    Step,
    Task,
}

impl NodeKind {
    fn word(self) -> &'static str {
        match self {
            Self::Step => "step",
            Self::Task => "task",
        }
    }

    fn root(self) -> &'static str {
        match self {
            Self::Step => "steps",
            Self::Task => "tasks",
        }
    }
}

/// The steps of a steps template, or the tasks of a DAG.
struct NodeIndex<'a> {
    kind: NodeKind,
    owner: &'a Template,
    nodes: BTreeMap<&'a str, Node<'a>>,
    /// Per task, its ancestors; empty for steps.
    ancestors: Vec<BTreeSet<&'a str>>,
    /// Whether the DAG uses `depends` (for the advice).
    uses_depends: bool,
}

impl<'a> NodeIndex<'a> {
    fn steps(owner: &'a Template, library: &Library<'a>) -> Self {
        let mut nodes = BTreeMap::new();
        for (group, steps) in owner.steps.iter().enumerate() {
            for step in steps {
                let looped = !step.with_items.is_empty()
                    || step.with_param.is_some()
                    || step.with_sequence.is_some();
                let target = library.target(
                    step.template.as_deref(),
                    step.template_ref.as_ref(),
                    step.inline.as_deref(),
                );
                nodes.entry(step.name.as_str()).or_insert(Node {
                    group,
                    target,
                    looped,
                });
            }
        }
        Self {
            kind: NodeKind::Step,
            owner,
            nodes,
            ancestors: Vec::new(),
            uses_depends: false,
        }
    }

    fn dag(owner: &'a Template, dag: &'a DAGTemplate, library: &Library<'a>) -> Self {
        let mut nodes = BTreeMap::new();
        let mut parents: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for task in &dag.tasks {
            let looped = !task.with_items.is_empty()
                || task.with_param.is_some()
                || task.with_sequence.is_some();
            let target = library.target(
                task.template.as_deref(),
                task.template_ref.as_ref(),
                task.inline.as_deref(),
            );
            nodes.entry(task.name.as_str()).or_insert(Node {
                group: 0,
                target,
                looped,
            });
            let deps = match task.depends.as_deref() {
                Some(depends) if !depends.trim().is_empty() => depends_tasks(depends),
                _ => task.dependencies.iter().map(String::as_str).collect(),
            };
            parents.entry(task.name.as_str()).or_insert(deps);
        }
        let ancestors = dag
            .tasks
            .iter()
            .map(|task| {
                let mut seen = BTreeSet::new();
                let mut stack = parents.get(task.name.as_str()).cloned().unwrap_or_default();
                while let Some(name) = stack.pop() {
                    if seen.insert(name) {
                        stack.extend(parents.get(name).into_iter().flatten().copied());
                    }
                }
                seen
            })
            .collect();
        let uses_depends = dag.tasks.iter().any(|t| t.depends.is_some());
        Self {
            kind: NodeKind::Task,
            owner,
            nodes,
            ancestors,
            uses_depends,
        }
    }
}

/// The task names a `depends` expression mentions, read as upstream does:
/// words of `[a-zA-Z0-9][-a-zA-Z0-9]*`, a `.Result` suffix dropped.
fn depends_tasks(depends: &str) -> Vec<&str> {
    depends
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'))
        .flat_map(|word| {
            let mut parts = word.split('.');
            let first = parts.next().unwrap_or_default();
            // `a.Succeeded` names `a`; `a.b` (no result) names both.
            let rest = parts.filter(|p| !p.starts_with(|c: char| c.is_ascii_uppercase()));
            std::iter::once(first).chain(rest)
        })
        .map(|name| name.trim_start_matches('-'))
        .filter(|name| !name.is_empty())
        .collect()
}

/// Where a reference to a step or task is written.
#[derive(Clone, Copy)]
enum Viewer<'a> {
    /// The template's outputs, or the DAG's target: every node has run.
    All,
    /// A step in group `group`, or a task (`group` is its index).
    Node {
        name: &'a str,
        group: usize,
        /// Inside the node's own `hooks`, where it may use itself.
        hooks: bool,
    },
}

#[derive(Clone, Copy)]
enum Nodes<'a> {
    None,
    Some {
        index: &'a NodeIndex<'a>,
        viewer: Viewer<'a>,
    },
}

/// What is visible at one string.
#[derive(Clone, Copy)]
struct Frame<'a> {
    globals: &'a Globals,
    /// `None` at the workflow level, where only `workflow.*` is checked.
    template: Option<&'a TemplateScope<'a>>,
    items: Option<&'a Items>,
    nodes: Nodes<'a>,
}

/// What an inline template inherits from the step or task that holds it.
struct Outer<'a> {
    frame: Frame<'a>,
    params: &'a [&'a str],
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
    if !s.contains("{{") {
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

/// Why `name` does not resolve in `frame`, if it does not.
fn resolve(frame: &Frame<'_>, name: &str) -> Option<Problem> {
    let (root, rest) = match name.split_once('.') {
        Some((root, rest)) => (root, Some(rest)),
        None => (name, None),
    };
    if root == "workflow" {
        return rest.and_then(|rest| workflow(frame.globals, rest));
    }
    // Below the workflow level every other root is template-scoped.
    let template = frame.template?;
    match (root, rest) {
        ("inputs", Some(rest)) => inputs(template, rest),
        ("pod", Some(rest)) => pod(template, rest),
        ("item", Some(rest)) => item(frame.items, rest),
        ("item", None) if frame.items.is_none() => warning(format!(
            "item is only set in a step or task with withItems, withParam or withSequence{}",
            "; add a loop or remove the reference"
        )),
        ("steps", Some("name")) | ("tasks", Some("name")) => None,
        ("steps", Some(rest)) => node(frame, NodeKind::Step, rest),
        ("tasks", Some(rest)) => node(frame, NodeKind::Task, rest),
        ("retries", None) | ("lastRetry", Some(_)) if !template.retry => warning(format!(
            "{} has no retryStrategy, so {root} is never set; add a retryStrategy or remove the \
             reference",
            template.subject()
        )),
        _ => None,
    }
}

fn inputs(t: &TemplateScope<'_>, rest: &str) -> Option<Problem> {
    if rest == "parameters" {
        if t.params.is_empty() {
            return error(format!(
                "{} declares no input parameters; declare them in inputs.parameters",
                t.subject()
            ));
        }
        return None;
    }
    if let Some(param) = rest.strip_prefix("parameters.") {
        if t.params.contains(&param) {
            return None;
        }
        let hint = match did_you_mean(param, t.params.iter().copied()) {
            hint if hint.is_empty() => "; declare it in inputs.parameters".to_owned(),
            hint => hint,
        };
        return error(format!(
            "{} declares no input parameter {param:?}{hint}",
            t.subject()
        ));
    }
    if let Some(artifact) = rest.strip_prefix("artifacts.") {
        let (name, path) = match artifact.strip_suffix(".path") {
            Some(name) => (name, true),
            None => (artifact, false),
        };
        if !t.artifacts.contains(&name) {
            let hint = match did_you_mean(name, t.artifacts.iter().copied()) {
                hint if hint.is_empty() => "; declare it in inputs.artifacts".to_owned(),
                hint => hint,
            };
            return error(format!(
                "{} declares no input artifact {name:?}{hint}",
                t.subject()
            ));
        }
        if path && !t.kind.is_leaf() {
            return error(format!(
                "an input artifact has a path only in templates that run something (container, \
                 script, containerSet, resource, data, http, plugin), and {} is {}",
                t.subject(),
                t.kind.describe()
            ));
        }
        return None;
    }
    let mut candidates = vec!["parameters".to_owned()];
    candidates.extend(t.params.iter().map(|p| format!("parameters.{p}")));
    candidates.extend(t.artifacts.iter().map(|a| format!("artifacts.{a}")));
    // A misspelt field (`paramters.x`) or a misspelt name (`parameters.x`).
    let fixed = match rest.split_once('.') {
        Some((field, name)) => {
            closest(field, ["parameters", "artifacts"]).map(|field| format!("{field}.{name}"))
        }
        None => None,
    };
    let hint = match fixed.as_deref().or_else(|| closest_in(rest, &candidates)) {
        Some(c) => format!("; did you mean \"inputs.{c}\"?"),
        None => "; inputs has parameters.<name> and artifacts.<name>".to_owned(),
    };
    error(format!("unknown input variable{hint}"))
}

fn pod(t: &TemplateScope<'_>, rest: &str) -> Option<Problem> {
    if rest != "name" {
        return error(format!(
            "unknown pod variable{}",
            match did_you_mean(rest, ["name"]) {
                hint if hint.is_empty() => "; the only one is pod.name".to_owned(),
                _ => "; did you mean \"pod.name\"?".to_owned(),
            }
        ));
    }
    if t.kind.runs_pod() {
        return None;
    }
    error(format!(
        "pod.name is only set in templates that run a pod (container, script, containerSet, \
         resource, data), and {} is {}",
        t.subject(),
        t.kind.describe()
    ))
}

fn item(items: Option<&Items>, key: &str) -> Option<Problem> {
    match items {
        None => error(
            "item is only set in a step or task with withItems, withParam or withSequence; add a \
             loop or remove the reference"
                .to_owned(),
        ),
        Some(Items::Param) => None,
        Some(Items::Sequence) => {
            error("withSequence items are numbers, with no fields; use {{item}}".to_owned())
        }
        Some(Items::List { keys }) if keys.is_empty() => error(
            "withItems holds no maps or lists, so items have no fields; use {{item}}".to_owned(),
        ),
        Some(Items::List { keys }) if keys.contains(key) => None,
        Some(Items::List { keys }) => {
            let hint = match did_you_mean(key, keys.iter().map(String::as_str)) {
                hint if hint.is_empty() => format!(
                    "; the keys are {}",
                    english_list(&keys.iter().map(String::as_str).collect::<Vec<_>>())
                ),
                hint => hint,
            };
            error(format!("no item of withItems has the key {key:?}{hint}"))
        }
    }
}

/// `steps.<name>.<value>` or `tasks.<name>.<value>`.
fn node(frame: &Frame<'_>, kind: NodeKind, rest: &str) -> Option<Problem> {
    let (index, viewer) = match frame.nodes {
        Nodes::Some { index, viewer } if index.kind == kind => (index, viewer),
        _ => {
            let (there, other) = match kind {
                NodeKind::Step => ("the steps of a steps template", "tasks"),
                NodeKind::Task => ("the tasks of a DAG template", "steps"),
            };
            let hint = match frame.nodes {
                Nodes::Some { .. } => format!("; here, use {other}.<name>"),
                Nodes::None => String::new(),
            };
            return error(format!("{}.* is only set in {there}{hint}", kind.root()));
        }
    };
    let word = kind.word();
    let Some((name, value)) = rest.split_once('.') else {
        return error(format!(
            "name a value of the {word}, e.g. {}.{rest}.outputs.result",
            kind.root()
        ));
    };
    let Some(node) = index.nodes.get(name) else {
        let hint = did_you_mean(name, index.nodes.keys().copied());
        return error(format!(
            "{} has no {word} {name:?}{hint}",
            subject(index.owner)
        ));
    };
    if let Viewer::Node {
        name: viewer,
        group,
        hooks,
    } = viewer
    {
        let visible = match kind {
            NodeKind::Step => node.group < group,
            NodeKind::Task => index.ancestors.get(group).is_some_and(|a| a.contains(name)),
        };
        let own_hooks = hooks && name == viewer;
        if !(visible || own_hooks) {
            return error(not_yet(index, kind, name, node, viewer, group));
        }
    }
    node_value(kind, name, node, value)
}

/// Why a step or task is not available to `viewer`.
fn not_yet(
    index: &NodeIndex<'_>,
    kind: NodeKind,
    name: &str,
    node: &Node<'_>,
    viewer: &str,
    group: usize,
) -> String {
    let word = kind.word();
    if name == viewer {
        return format!("a {word} cannot use its own values outside its hooks");
    }
    match kind {
        NodeKind::Step if node.group == group => format!(
            "step {name:?} is in the same group (steps[{group}]) and runs in parallel with this \
             step; move it to an earlier group"
        ),
        NodeKind::Step => format!(
            "step {name:?} runs later, in steps[{}]; a step can only use steps of earlier \
             groups: move {name:?} before steps[{group}]",
            node.group
        ),
        NodeKind::Task => {
            let field = if index.uses_depends {
                "depends"
            } else {
                "dependencies"
            };
            format!(
                "task {viewer:?} does not depend on task {name:?}, so its values are not set \
                 yet; add {name:?} to the {field} of {viewer:?}"
            )
        }
    }
}

const NODE_VALUES: &str = "id, ip, status, exitCode, startedAt, finishedAt, hostNodeName, \
                           outputs.result, outputs.parameters.<name> and outputs.artifacts.<name>";

/// One value of a visible step or task.
fn node_value(kind: NodeKind, name: &str, node: &Node<'_>, value: &str) -> Option<Problem> {
    let word = kind.word();
    let root = kind.root();
    let of = |t: &Template| format!("{} of {word} {name:?}", subject(t));
    match value {
        "id" | "status" | "startedAt" | "finishedAt" | "hostNodeName" => None,
        "ip" => match node.target {
            Some(t) if t.daemon != Some(true) => error(format!(
                "{root}.{name}.ip is only set for daemons, and {} does not set daemon: true",
                of(t)
            )),
            _ => None,
        },
        "exitCode" | "outputs.result" => match node.target {
            Some(t) if !sets_result(t, node.looped) => error(format!(
                "{} is {}, which sets no {value}; only container, script, containerSet (with \
                     a \"main\" container), data, http and plugin templates do",
                of(t),
                Kind::of(t).describe()
            )),
            _ => None,
        },
        "outputs.parameters" if node.looped => None,
        "outputs.parameters" => error(format!(
            "{root}.{name}.outputs.parameters (every iteration's parameters) is only set for a \
             {word} with withItems, withParam or withSequence; name one parameter, e.g. \
             {root}.{name}.outputs.parameters.<name>"
        )),
        _ => {
            let (field, wanted) = match (
                value.strip_prefix("outputs.parameters."),
                value.strip_prefix("outputs.artifacts."),
            ) {
                (Some(p), _) => ("parameter", p),
                (_, Some(a)) => ("artifact", a),
                _ => return error(unknown_node_value(kind, name, node, value)),
            };
            let t = node.target?;
            let outputs = t.outputs.iter();
            let names: Vec<&str> = if field == "parameter" {
                let params = outputs.flat_map(|o| &o.parameters);
                params.map(|p| p.name.as_str()).collect()
            } else {
                let artifacts = outputs.flat_map(|o| &o.artifacts);
                artifacts.map(|a| a.name.as_str()).collect()
            };
            if names.contains(&wanted) {
                return None;
            }
            let hint = match did_you_mean(wanted, names.iter().copied()) {
                hint if hint.is_empty() => format!("; declare it in its outputs.{field}s"),
                hint => hint,
            };
            error(format!(
                "{} declares no output {field} {wanted:?}{hint}",
                of(t)
            ))
        }
    }
}

fn unknown_node_value(kind: NodeKind, name: &str, node: &Node<'_>, value: &str) -> String {
    let (word, root) = (kind.word(), kind.root());
    let mut candidates: Vec<String> = [
        "id",
        "ip",
        "status",
        "exitCode",
        "startedAt",
        "finishedAt",
        "hostNodeName",
        "outputs.result",
        "outputs.parameters",
    ]
    .map(str::to_owned)
    .to_vec();
    if let Some(t) = node.target {
        let outputs = t.outputs.iter();
        let params = outputs.clone().flat_map(|o| &o.parameters);
        candidates.extend(params.map(|p| format!("outputs.parameters.{}", p.name)));
        let artifacts = outputs.flat_map(|o| &o.artifacts);
        candidates.extend(artifacts.map(|a| format!("outputs.artifacts.{}", a.name)));
    }
    let hint = match closest_in(value, &candidates) {
        Some(c) => format!("; did you mean \"{root}.{name}.{c}\"?"),
        None => format!("; a {word} has {NODE_VALUES}"),
    };
    format!("{word} {name:?} has no value {value:?}{hint}")
}

fn closest_in<'c>(name: &str, candidates: &'c [String]) -> Option<&'c str> {
    closest(name, candidates.iter().map(String::as_str))
}

/// The `workflow.*` variables every workflow has.
const WORKFLOW_VALUES: [&str; 15] = [
    "name",
    "namespace",
    "uid",
    "serviceAccountName",
    "mainEntrypoint",
    "status",
    "duration",
    "creationTimestamp",
    "scheduledTime",
    "priority",
    "failures",
    "parameters",
    "parameters.json",
    "annotations",
    "labels",
];

fn workflow(globals: &Globals, rest: &str) -> Option<Problem> {
    let (head, tail) = match rest.split_once('.') {
        Some((head, tail)) => (head, Some(tail)),
        None => (rest, None),
    };
    match (head, tail) {
        (
            "name" | "namespace" | "uid" | "serviceAccountName" | "mainEntrypoint" | "status",
            None,
        ) => None,
        // Upstream accepts anything under these (strftime formats, ...).
        _ if ["creationTimestamp", "scheduledTime", "duration"]
            .iter()
            .any(|p| rest.starts_with(p)) =>
        {
            None
        }
        ("annotations" | "labels", _) => None,
        ("priority", None) if globals.priority => None,
        ("priority", None) => error(
            "workflow.priority is only set when spec.priority is; set spec.priority or remove \
             the reference"
                .to_owned(),
        ),
        ("failures", None) if globals.exit_handler => None,
        ("failures", None) => error(
            "workflow.failures is only set for exit handlers; set spec.onExit to the template \
             that uses it"
                .to_owned(),
        ),
        ("parameters", None) | ("parameters", Some("json")) => {
            if globals.params.any || !globals.params.names.is_empty() {
                None
            } else {
                error(format!(
                    "the workflow declares no parameters; declare them in {}",
                    globals.params_path
                ))
            }
        }
        ("parameters", Some(param)) if globals.params.contains(param) => None,
        ("parameters", Some(param)) => {
            let hint = match did_you_mean(param, globals.params.names.iter().map(String::as_str)) {
                hint if hint.is_empty() => format!("; declare it in {}", globals.params_path),
                hint => hint,
            };
            error(format!(
                "the workflow declares no parameter {param:?}{hint}"
            ))
        }
        ("outputs", Some(tail))
            if tail.starts_with("parameters.") || tail.starts_with("artifacts.") =>
        {
            let (field, names, global) = match tail.strip_prefix("parameters.") {
                Some(g) => ("parameter", &globals.output_params, g),
                None => (
                    "artifact",
                    &globals.output_artifacts,
                    &tail["artifacts.".len()..],
                ),
            };
            if names.contains(global) {
                return None;
            }
            let hint = match did_you_mean(global, names.names.iter().map(String::as_str)) {
                hint if hint.is_empty() => format!(
                    "; set globalName: {global} on a template's output {field} to make it global"
                ),
                hint => hint,
            };
            error(format!(
                "no template declares an output {field} with globalName {global:?}{hint}"
            ))
        }
        _ => {
            let mut candidates: Vec<String> =
                WORKFLOW_VALUES.iter().map(|v| (*v).to_owned()).collect();
            let params = globals.params.names.iter();
            candidates.extend(params.map(|p| format!("parameters.{p}")));
            let outputs = globals.output_params.names.iter();
            candidates.extend(outputs.map(|p| format!("outputs.parameters.{p}")));
            let artifacts = globals.output_artifacts.names.iter();
            candidates.extend(artifacts.map(|a| format!("outputs.artifacts.{a}")));
            let hint = match closest_in(rest, &candidates) {
                Some(c) => format!("; did you mean \"workflow.{c}\"?"),
                None => format!(
                    "; the workflow variables are {}, parameters.<name>, annotations.<name>, \
                     labels.<name>, outputs.parameters.<name> and outputs.artifacts.<name>",
                    english_list(&WORKFLOW_VALUES)
                ),
            };
            error(format!("unknown workflow variable{hint}"))
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
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::validate::Mode;

    fn object(yaml: &str) -> Object {
        let value: Value = serde_yaml_ng::from_str(yaml).expect("yaml");
        Object::from_value(&value)
            .expect("shape")
            .expect("our kind")
    }

    fn run_with(yaml: &str, known: &[Object]) -> Vec<String> {
        let config = Config::default();
        let ctx = Context {
            mode: Mode::Lint,
            config: &config,
            known_templates: known,
            allow_missing_refs: false,
        };
        let mut out = Vec::new();
        check(0, &object(yaml), &ctx, &mut out);
        // As `validate` orders them: by path, stable.
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out.iter().map(ToString::to_string).collect()
    }

    fn run(yaml: &str) -> Vec<String> {
        run_with(yaml, &[])
    }

    /// A Workflow with these templates (YAML, indented for `templates:`).
    fn workflow(templates: &str) -> String {
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata:\n  name: w\nspec:\n  \
             entrypoint: main\n  templates:\n{templates}"
        )
    }

    #[test]
    fn undeclared_input_parameter_with_a_close_name() {
        let found = run(&workflow(
            r#"
    - name: whalesay
      inputs:
        parameters: [{name: message}]
      container:
        image: busybox
        command: [echo]
        args: ["{{inputs.parameters.mesage}}", "{{ inputs.parameters.message }}"]
"#,
        ));
        assert_eq!(
            found,
            vec![
                "error: spec.templates[0].container.args[0]: {{inputs.parameters.mesage}}: \
                 template \"whalesay\" declares no input parameter \"mesage\"; did you mean \
                 \"message\"?"
            ]
        );
    }

    #[test]
    fn inputs_in_every_string_of_a_template_with_exact_paths() {
        let found = run(&workflow(
            r#"
    - name: t
      inputs:
        parameters: [{name: a}]
        artifacts: [{name: data, path: /tmp/data}]
      podSpecPatch: '{"x": "{{inputs.parameters.b}}"}'
      metadata:
        labels: {l: "{{inputs.parameters.a}}"}
      script:
        image: busybox
        command: [sh]
        env: [{name: X, value: "{{inputs.parameters.zzz}}"}]
        source: "cat {{inputs.artifacts.data.path}} {{inputs.artifacts.dta}} {{inputs.parameters}}"
"#,
        ));
        assert_eq!(
            found,
            vec![
                "error: spec.templates[0].podSpecPatch: {{inputs.parameters.b}}: template \"t\" \
                 declares no input parameter \"b\"; declare it in inputs.parameters",
                "error: spec.templates[0].script.env[0].value: {{inputs.parameters.zzz}}: \
                 template \"t\" declares no input parameter \"zzz\"; declare it in \
                 inputs.parameters",
                "error: spec.templates[0].script.source: {{inputs.artifacts.dta}}: template \"t\" \
                 declares no input artifact \"dta\"; did you mean \"data\"?",
            ]
        );
    }

    #[test]
    fn unknown_input_and_pod_variables() {
        let found = run(&workflow(
            r#"
    - name: main
      steps:
        - - name: a
            template: c
            arguments:
              parameters:
                - {name: x, value: "{{pod.name}}"}
                - {name: y, value: "{{inputs.paramters.x}}"}
                - {name: z, value: "{{inputs.parameters}}"}
    - name: c
      inputs:
        parameters: [{name: x}, {name: y}, {name: z}]
      container: {image: busybox, command: [echo], args: ["{{pod.name}} {{pod.ip}}"]}
"#,
        ));
        assert_eq!(
            found,
            vec![
                "error: spec.templates[0].steps[0][0].arguments.parameters[0].value: \
                 {{pod.name}}: pod.name is only set in templates that run a pod (container, \
                 script, containerSet, resource, data), and template \"main\" is a steps template",
                "error: spec.templates[0].steps[0][0].arguments.parameters[1].value: \
                 {{inputs.paramters.x}}: unknown input variable; did you mean \
                 \"inputs.parameters.x\"?",
                "error: spec.templates[0].steps[0][0].arguments.parameters[2].value: \
                 {{inputs.parameters}}: template \"main\" declares no input parameters; declare \
                 them in inputs.parameters",
                "error: spec.templates[1].container.args[0]: {{pod.ip}}: unknown pod variable; \
                 the only one is pod.name",
            ]
        );
    }

    const LEAVES: &str = r#"
    - name: gen
      outputs:
        parameters: [{name: out, valueFrom: {path: /tmp/o}}]
        artifacts: [{name: art, path: /tmp/a}]
      inputs:
        parameters: [{name: p, value: ""}]
      script: {image: busybox, command: [sh], source: "echo"}
    - name: nested
      steps:
        - - name: x
            template: gen
"#;

    #[test]
    fn steps_see_only_earlier_groups() {
        let found = run(&workflow(&format!(
            r#"
    - name: main
      steps:
        - - name: first
            template: gen
          - name: sibling
            template: gen
            arguments:
              parameters: [{{name: p, value: "{{{{steps.first.outputs.result}}}}"}}]
        - - name: second
            template: gen
            arguments:
              parameters:
                - {{name: p, value: "{{{{steps.first.outputs.parameters.out}}}} {{{{steps.first.id}}}}"}}
            when: "{{{{steps.third.status}}}} == Succeeded"
        - - name: third
            template: gen
            arguments:
              parameters: [{{name: p, value: "{{{{steps.frist.outputs.result}}}}"}}]
{LEAVES}"#
        )));
        assert_eq!(
            found,
            vec![
                "error: spec.templates[0].steps[0][1].arguments.parameters[0].value: \
                 {{steps.first.outputs.result}}: step \"first\" is in the same group (steps[0]) \
                 and runs in parallel with this step; move it to an earlier group",
                "error: spec.templates[0].steps[1][0].when: {{steps.third.status}}: step \
                 \"third\" runs later, in steps[2]; a step can only use steps of earlier groups: \
                 move \"third\" before steps[1]",
                "error: spec.templates[0].steps[2][0].arguments.parameters[0].value: \
                 {{steps.frist.outputs.result}}: template \"main\" has no step \"frist\"; did you \
                 mean \"first\"?",
            ]
        );
    }

    #[test]
    fn step_values_must_exist_on_the_template_it_runs() {
        let found = run(&workflow(&format!(
            r#"
    - name: main
      steps:
        - - name: a
            template: gen
          - name: n
            template: nested
          - name: loop
            template: gen
            withItems: [1, 2]
        - - name: b
            template: gen
            arguments:
              parameters:
                - {{name: p, value: "{{{{steps.a.outputs.parameters.otu}}}}"}}
                - {{name: p, value: "{{{{steps.a.outputs.artifacts.art}}}} {{{{steps.a.ip}}}}"}}
                - {{name: p, value: "{{{{steps.n.outputs.result}}}}"}}
                - {{name: p, value: "{{{{steps.a.outputs.parameters}}}}"}}
                - {{name: p, value: "{{{{steps.loop.outputs.parameters}}}} {{{{steps.loop.outputs.result}}}}"}}
                - {{name: p, value: "{{{{steps.a.stauts}}}} {{{{steps.a}}}}"}}
{LEAVES}"#
        )));
        assert_eq!(
            found,
            vec![
                "error: spec.templates[0].steps[1][0].arguments.parameters[0].value: \
                 {{steps.a.outputs.parameters.otu}}: template \"gen\" of step \"a\" declares no \
                 output parameter \"otu\"; did you mean \"out\"?",
                "error: spec.templates[0].steps[1][0].arguments.parameters[1].value: \
                 {{steps.a.ip}}: steps.a.ip is only set for daemons, and template \"gen\" of step \
                 \"a\" does not set daemon: true",
                "error: spec.templates[0].steps[1][0].arguments.parameters[2].value: \
                 {{steps.n.outputs.result}}: template \"nested\" of step \"n\" is a steps \
                 template, which sets no outputs.result; only container, script, containerSet \
                 (with a \"main\" container), data, http and plugin templates do",
                "error: spec.templates[0].steps[1][0].arguments.parameters[3].value: \
                 {{steps.a.outputs.parameters}}: steps.a.outputs.parameters (every iteration's \
                 parameters) is only set for a step with withItems, withParam or withSequence; \
                 name one parameter, e.g. steps.a.outputs.parameters.<name>",
                "error: spec.templates[0].steps[1][0].arguments.parameters[5].value: \
                 {{steps.a.stauts}}: step \"a\" has no value \"stauts\"; did you mean \
                 \"steps.a.status\"?",
                "error: spec.templates[0].steps[1][0].arguments.parameters[5].value: {{steps.a}}: \
                 name a value of the step, e.g. steps.a.outputs.result",
            ]
        );
    }

    #[test]
    fn outputs_of_a_steps_template_see_every_step() {
        let found = run(&workflow(&format!(
            r#"
    - name: main
      outputs:
        parameters:
          - name: r
            valueFrom: {{parameter: "{{{{steps.last.outputs.parameters.out}}}}"}}
          - name: s
            valueFrom: {{parameter: "{{{{steps.nope.outputs.result}}}}"}}
      steps:
        - - name: last
            template: gen
{LEAVES}"#
        )));
        assert_eq!(
            found,
            vec![
                "error: spec.templates[0].outputs.parameters[1].valueFrom.parameter: \
                 {{steps.nope.outputs.result}}: template \"main\" has no step \"nope\""
            ]
        );
    }

    const DAG: &str = r#"
    - name: main
      dag:
        target: d
        tasks:
          - name: a
            template: gen
          - name: b
            template: gen
            dependencies: [a]
          - name: c
            template: gen
            dependencies: [b]
            arguments:
              parameters:
                - {name: p, value: "{{tasks.a.outputs.result}} {{tasks.b.status}}"}
          - name: d
            template: gen
            dependencies: [a]
            hooks:
              exit:
                template: gen
                arguments:
                  parameters: [{name: p, value: "{{tasks.d.outputs.result}}"}]
            arguments:
              parameters:
                - {name: p, value: "{{tasks.c.outputs.parameters.out}}"}
"#;

    #[test]
    fn tasks_see_only_their_ancestors() {
        let found = run(&workflow(&format!("{DAG}{LEAVES}")));
        assert_eq!(
            found,
            vec![
                "error: spec.templates[0].dag.tasks[3].arguments.parameters[0].value: \
                 {{tasks.c.outputs.parameters.out}}: task \"d\" does not depend on task \"c\", so \
                 its values are not set yet; add \"c\" to the dependencies of \"d\""
            ]
        );
        let with_depends = DAG
            .replace("dependencies: [a]", "depends: \"a.Succeeded || a.Failed\"")
            .replace("dependencies: [b]", "depends: \"!b.Failed\"");
        let found = run(&workflow(&format!("{with_depends}{LEAVES}")));
        assert_eq!(found.len(), 1);
        assert!(
            found[0].ends_with("add \"c\" to the depends of \"d\""),
            "{found:?}"
        );
    }

    #[test]
    fn steps_and_tasks_outside_their_templates() {
        let found = run(&workflow(&format!(
            r#"
    - name: main
      dag:
        tasks:
          - name: a
            template: gen
            arguments:
              parameters: [{{name: p, value: "{{{{steps.x.outputs.result}}}} {{{{tasks.name}}}}"}}]
    - name: leaf
      container: {{image: busybox, command: [echo], args: ["{{{{tasks.a.id}}}} {{{{steps.name}}}}"]}}
{LEAVES}"#
        )));
        assert_eq!(
            found,
            vec![
                "error: spec.templates[0].dag.tasks[0].arguments.parameters[0].value: \
                 {{steps.x.outputs.result}}: steps.* is only set in the steps of a steps \
                 template; here, use tasks.<name>",
                "error: spec.templates[1].container.args[0]: {{tasks.a.id}}: tasks.* is only set \
                 in the tasks of a DAG template",
            ]
        );
    }

    #[test]
    fn items_need_a_loop_that_has_them() {
        let found = run(&workflow(
            r#"
    - name: main
      steps:
        - - name: maps
            template: c
            arguments:
              parameters: [{name: p, value: "{{item.image}} {{item.tga}} {{item}}"}]
            withItems: [{image: a, tag: "1"}, {image: b, tag: "2"}]
          - name: seq
            template: c
            arguments:
              parameters: [{name: p, value: "{{item}} {{item.x}}"}]
            withSequence: {count: "3"}
          - name: param
            template: c
            arguments:
              parameters: [{name: p, value: "{{item.anything}}"}]
            withParam: "[]"
          - name: none
            template: c
            arguments:
              parameters: [{name: p, value: "{{item}} {{item.x}}"}]
    - name: c
      inputs: {parameters: [{name: p}]}
      container: {image: busybox, command: [echo], args: ["{{item.x}}"]}
"#,
        ));
        assert_eq!(
            found,
            vec![
                "error: spec.templates[0].steps[0][0].arguments.parameters[0].value: {{item.tga}}: \
                 no item of withItems has the key \"tga\"; did you mean \"tag\"?",
                "error: spec.templates[0].steps[0][1].arguments.parameters[0].value: {{item.x}}: \
                 withSequence items are numbers, with no fields; use {{item}}",
                "warning: spec.templates[0].steps[0][3].arguments.parameters[0].value: {{item}}: \
                 item is only set in a step or task with withItems, withParam or withSequence; \
                 add a loop or remove the reference",
                "error: spec.templates[0].steps[0][3].arguments.parameters[0].value: {{item.x}}: \
                 item is only set in a step or task with withItems, withParam or withSequence; \
                 add a loop or remove the reference",
                "error: spec.templates[1].container.args[0]: {{item.x}}: item is only set in a \
                 step or task with withItems, withParam or withSequence; add a loop or remove the \
                 reference",
            ]
        );
    }

    #[test]
    fn workflow_variables() {
        let found = run(r#"
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: w-}
spec:
  entrypoint: main
  arguments:
    parameters: [{name: message, value: hi}]
  volumes:
    - name: v
      persistentVolumeClaim: {claimName: "{{workflow.parameters.pvc}} {{inputs.parameters.x}}"}
  templates:
    - name: main
      outputs:
        parameters: [{name: o, globalName: result, valueFrom: {path: /tmp/o}}]
      container:
        image: busybox
        command: [echo]
        args:
          - "{{workflow.name}} {{workflow.parameters.message}} {{workflow.parameters}}"
          - "{{workflow.creationTimestamp.Y}} {{workflow.annotations.any/key}} {{workflow.labels.x}}"
          - "{{workflow.outputs.parameters.result}} {{workflow.outputs.parameters.reslt}}"
          - "{{workflow.paramters.message}} {{workflow.priority}} {{workflow.failures}}"
          - "{{workflow.bogus}}"
"#);
        assert_eq!(
            found,
            vec![
                "error: spec.templates[0].container.args[2]: \
                 {{workflow.outputs.parameters.reslt}}: no template declares an output parameter \
                 with globalName \"reslt\"; did you mean \"result\"?",
                "error: spec.templates[0].container.args[3]: {{workflow.paramters.message}}: \
                 unknown workflow variable; did you mean \"workflow.parameters.message\"?",
                "error: spec.templates[0].container.args[3]: {{workflow.priority}}: \
                 workflow.priority is only set when spec.priority is; set spec.priority or remove \
                 the reference",
                "error: spec.templates[0].container.args[3]: {{workflow.failures}}: \
                 workflow.failures is only set for exit handlers; set spec.onExit to the template \
                 that uses it",
                "error: spec.templates[0].container.args[4]: {{workflow.bogus}}: unknown workflow \
                 variable; the workflow variables are name, namespace, uid, serviceAccountName, \
                 mainEntrypoint, status, duration, creationTimestamp, scheduledTime, priority, \
                 failures, parameters, parameters.json, annotations and labels, \
                 parameters.<name>, annotations.<name>, labels.<name>, outputs.parameters.<name> \
                 and outputs.artifacts.<name>",
                "error: spec.volumes[0].persistentVolumeClaim.claimName: \
                 {{workflow.parameters.pvc}}: the workflow declares no parameter \"pvc\"; \
                 declare it in spec.arguments.parameters",
            ]
        );
    }

    #[test]
    fn a_workflow_template_may_use_any_workflow_parameter() {
        let template = r#"
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata: {name: lib}
spec:
  priority: 3
  onExit: main
  templates:
    - name: main
      container:
        image: busybox
        command: [echo]
        args: ["{{workflow.parameters.anything}} {{workflow.priority}} {{workflow.failures}}"]
"#;
        assert_eq!(run(template), Vec::<String>::new());
    }

    #[test]
    fn expression_variables_are_warnings() {
        let found = run(&workflow(
            r#"
    - name: main
      inputs:
        parameters: [{name: num}]
      container:
        image: busybox
        command: [echo]
        args: ["{{=asInt(inputs.parameters.num) + asInt(inputs.parameters['nmu'])}}"]
"#,
        ));
        assert_eq!(
            found,
            vec![
                "warning: spec.templates[0].container.args[0]: \
                 {{=asInt(inputs.parameters.num) + asInt(inputs.parameters['nmu'])}}: \
                 inputs.parameters.nmu: template \"main\" declares no input parameter \"nmu\"; \
                 did you mean \"num\"? (expression variables are not checked by Argo's validator \
                 and fail when evaluated)"
            ]
        );
    }

    #[test]
    fn retries_unterminated_tags_and_unchecked_roots() {
        let found = run(&workflow(
            r#"
    - name: main
      container:
        image: busybox
        command: [echo]
        args: ["{{retries}}", "{{ oops", "{{node.name}} {{status}} {{lastRetry.x}} {{=sprig.trim('a')}}"]
    - name: retried
      retryStrategy: {limit: "2"}
      container: {image: busybox, command: [echo], args: ["{{retries}} {{lastRetry.status}}"]}
"#,
        ));
        assert_eq!(
            found,
            vec![
                "warning: spec.templates[0].container.args[0]: {{retries}}: template \"main\" has \
                 no retryStrategy, so retries is never set; add a retryStrategy or remove the \
                 reference",
                "warning: spec.templates[0].container.args[1]: \"{{\" at byte 0 is never closed; \
                 add \"}}\" or remove it",
                "warning: spec.templates[0].container.args[2]: {{lastRetry.x}}: template \"main\" \
                 has no retryStrategy, so lastRetry is never set; add a retryStrategy or remove \
                 the reference",
            ]
        );
    }

    #[test]
    fn inline_templates_see_the_step_and_the_enclosing_inputs() {
        let found = run(&workflow(
            r#"
    - name: main
      inputs:
        parameters: [{name: outer, value: x}]
      steps:
        - - name: a
            withItems: [{k: 1}]
            inline:
              inputs:
                parameters: [{name: own, value: y}]
              container:
                image: busybox
                command: [echo]
                args: ["{{inputs.parameters.own}} {{inputs.parameters.outer}} {{item.k}} {{pod.name}}"]
          - name: b
            inline:
              container:
                image: busybox
                command: [echo]
                args: ["{{inputs.parameters.own}}"]
"#,
        ));
        assert_eq!(
            found,
            vec![
                "error: spec.templates[0].steps[0][1].inline.container.args[0]: \
                 {{inputs.parameters.own}}: the inline template declares no input parameter \
                 \"own\"; declare it in inputs.parameters"
            ]
        );
    }

    #[test]
    fn template_refs_resolve_against_known_templates() {
        let library = object(
            r#"
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata: {name: lib}
spec:
  templates:
    - name: gen
      outputs:
        parameters: [{name: out, valueFrom: {path: /tmp/o}}]
      container: {image: busybox, command: [echo]}
"#,
        );
        let yaml = workflow(
            r#"
    - name: main
      steps:
        - - name: a
            templateRef: {name: lib, template: gen}
          - name: elsewhere
            templateRef: {name: other, template: gen}
        - - name: b
            templateRef: {name: lib, template: gen}
            arguments:
              parameters:
                - {name: p, value: "{{steps.a.outputs.parameters.out}} {{steps.a.outputs.parameters.nope}}"}
                - {name: q, value: "{{steps.elsewhere.outputs.parameters.anything}}"}
"#,
        );
        assert_eq!(
            run_with(&yaml, std::slice::from_ref(&library)),
            vec![
                "error: spec.templates[0].steps[1][0].arguments.parameters[0].value: \
                 {{steps.a.outputs.parameters.nope}}: template \"gen\" of step \"a\" declares no \
                 output parameter \"nope\"; declare it in its outputs.parameters"
            ]
        );
        // Unknown templates may produce anything.
        assert_eq!(run(&yaml), Vec::<String>::new());
    }

    #[test]
    fn cron_workflow_expressions() {
        let found = run(r#"
apiVersion: argoproj.io/v1alpha1
kind: CronWorkflow
metadata: {name: c}
spec:
  schedules: ["* * * * *"]
  when: "{{= cronworkflow.failed == 0 && cronworkflow.lastSchedule == nil }}"
  stopStrategy:
    expression: "cronworkflow.succeeded >= 3 || cronworkflow.labels.x == 'y' || cronworkflow.bad"
  workflowSpec:
    entrypoint: main
    templates:
      - name: main
        container: {image: busybox, command: [echo], args: ["{{workflow.parameters.x}}"]}
"#);
        assert_eq!(
            found,
            vec![
                "warning: spec.stopStrategy.expression: cronworkflow.bad: unknown CronWorkflow \
                 variable; the cronworkflow variables are name, namespace, labels, annotations, \
                 labels.json, annotations.json, failed, succeeded and lastScheduledTime \
                 (expression variables are not checked by Argo's validator and fail when \
                 evaluated)",
                "warning: spec.when: cronworkflow.lastSchedule: unknown CronWorkflow variable; \
                 did you mean \"cronworkflow.lastScheduledTime\"? (expression variables are not \
                 checked by Argo's validator and fail when evaluated)",
                "error: spec.workflowSpec.templates[0].container.args[0]: \
                 {{workflow.parameters.x}}: the workflow declares no parameter \"x\"; declare it \
                 in spec.workflowSpec.arguments.parameters",
            ]
        );
    }

    #[test]
    fn depends_names_are_read_as_upstream() {
        assert_eq!(
            depends_tasks("(a-1.Succeeded || b) && !c.AnySucceeded"),
            vec!["a-1", "b", "c"]
        );
        assert_eq!(depends_tasks(""), Vec::<&str>::new());
    }
}
