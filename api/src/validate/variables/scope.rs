//! What is visible where: the workflow's globals, the template being
//! checked, the loop of a step or task, and the steps or tasks it may use.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::path::FieldPath;
use crate::types::{DAGTemplate, Item, Object, Sequence, Template, TemplateRef, WorkflowSpec};
use crate::validate::Context;

/// Resolves template references against the object itself and the
/// templates the context knows.
pub(super) struct Library<'a> {
    pub(super) object: &'a Object,
    pub(super) spec: &'a WorkflowSpec,
    pub(super) ctx: &'a Context<'a>,
}

impl<'a> Library<'a> {
    pub(super) fn local(&self, name: &str) -> Option<&'a Template> {
        self.spec.templates.iter().find(|t| t.name == name)
    }

    pub(super) fn holder(&self, name: &str, cluster: bool) -> Option<&'a WorkflowSpec> {
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

    pub(super) fn template_ref(&self, r: &TemplateRef) -> Option<&'a Template> {
        let name = r.template.as_deref()?;
        let spec = self.holder(&r.name, r.cluster_scope == Some(true))?;
        spec.templates.iter().find(|t| t.name == name)
    }

    /// The template a step or task runs, when it can be known here.
    pub(super) fn target(
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
    pub(super) fn refs(&self) -> Vec<Option<&'a Template>> {
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
pub(super) struct Names {
    pub(super) any: bool,
    pub(super) names: BTreeSet<String>,
}

impl Names {
    pub(super) fn contains(&self, name: &str) -> bool {
        self.any || self.names.contains(name)
    }

    pub(super) fn add_global(&mut self, global_name: Option<&String>) {
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
pub(super) struct Globals {
    pub(super) params: Names,
    /// Where parameters are declared, for messages.
    pub(super) params_path: FieldPath,
    pub(super) priority: bool,
    pub(super) exit_handler: bool,
    /// A retryStrategy applies to every template.
    pub(super) retry_everywhere: bool,
    pub(super) output_params: Names,
    pub(super) output_artifacts: Names,
}

impl Globals {
    pub(super) fn new(
        object: &Object,
        spec: &WorkflowSpec,
        library: &Library<'_>,
        base: &FieldPath,
    ) -> Self {
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
pub(super) fn add_global_outputs(outputs: &mut (Names, Names), t: &Template) {
    for p in t.outputs.iter().flat_map(|o| &o.parameters) {
        outputs.0.add_global(p.global_name.as_ref());
    }
    for a in t.outputs.iter().flat_map(|o| &o.artifacts) {
        outputs.1.add_global(a.global_name.as_ref());
    }
}

/// What a template is, as far as variables go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
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
    pub(super) fn of(t: &Template) -> Self {
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
    pub(super) fn runs_pod(self) -> bool {
        matches!(
            self,
            Self::Container | Self::ContainerSet | Self::Script | Self::Resource | Self::Data
        )
    }

    /// Upstream's `IsLeaf`.
    pub(super) fn is_leaf(self) -> bool {
        self.runs_pod() || matches!(self, Self::Http | Self::Plugin)
    }

    pub(super) fn describe(self) -> &'static str {
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
pub(super) fn has_output(t: &Template) -> bool {
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
pub(super) fn sets_result(t: &Template, looped: bool) -> bool {
    has_output(t) || (looped && matches!(Kind::of(t), Kind::Script | Kind::ContainerSet))
}

pub(super) fn subject(t: &Template) -> String {
    if t.name.is_empty() {
        "the inline template".to_owned()
    } else {
        format!("template {:?}", t.name)
    }
}

/// The template whose fields are being checked.
pub(super) struct TemplateScope<'a> {
    pub(super) template: &'a Template,
    pub(super) kind: Kind,
    /// Input parameters: the template's, then an enclosing template's for
    /// an inline template.
    pub(super) params: Vec<&'a str>,
    pub(super) artifacts: Vec<&'a str>,
    pub(super) retry: bool,
}

impl<'a> TemplateScope<'a> {
    pub(super) fn subject(&self) -> String {
        subject(self.template)
    }
}

/// The loop of the step or task being checked.
pub(super) enum Items {
    /// `withParam`: any `item.*`.
    Param,
    /// `withSequence`: numbers.
    Sequence,
    /// `withItems`: what the listed values make available.
    List { keys: BTreeSet<String> },
}

impl Items {
    pub(super) fn of(
        items: &[Item],
        param: Option<&str>,
        sequence: Option<&Sequence>,
    ) -> Option<Self> {
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
pub(super) struct Node<'a> {
    /// The step group it runs in (0 for tasks).
    pub(super) group: usize,
    /// The template it runs, when known.
    pub(super) target: Option<&'a Template>,
    /// Whether it has a loop (its outputs are aggregated).
    pub(super) looped: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum NodeKind {
    Step,
    Task,
}

impl NodeKind {
    pub(super) fn word(self) -> &'static str {
        match self {
            Self::Step => "step",
            Self::Task => "task",
        }
    }

    pub(super) fn root(self) -> &'static str {
        match self {
            Self::Step => "steps",
            Self::Task => "tasks",
        }
    }
}

/// The steps of a steps template, or the tasks of a DAG.
pub(super) struct NodeIndex<'a> {
    pub(super) kind: NodeKind,
    pub(super) owner: &'a Template,
    pub(super) nodes: BTreeMap<&'a str, Node<'a>>,
    /// Per task, its ancestors; empty for steps.
    pub(super) ancestors: Vec<BTreeSet<&'a str>>,
    /// Whether the DAG uses `depends` (for the advice).
    pub(super) uses_depends: bool,
}

impl<'a> NodeIndex<'a> {
    pub(super) fn steps(owner: &'a Template, library: &Library<'a>) -> Self {
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

    pub(super) fn dag(owner: &'a Template, dag: &'a DAGTemplate, library: &Library<'a>) -> Self {
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
pub(super) fn depends_tasks(depends: &str) -> Vec<&str> {
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
pub(super) enum Viewer<'a> {
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
pub(super) enum Nodes<'a> {
    None,
    Some {
        index: &'a NodeIndex<'a>,
        viewer: Viewer<'a>,
    },
}

/// What is visible at one string.
#[derive(Clone, Copy)]
pub(super) struct Frame<'a> {
    pub(super) globals: &'a Globals,
    /// `None` at the workflow level, where only `workflow.*` is checked.
    pub(super) template: Option<&'a TemplateScope<'a>>,
    pub(super) items: Option<&'a Items>,
    pub(super) nodes: Nodes<'a>,
}

/// What an inline template inherits from the step or task that holds it.
pub(super) struct Outer<'a> {
    pub(super) frame: Frame<'a>,
    pub(super) params: &'a [&'a str],
}
