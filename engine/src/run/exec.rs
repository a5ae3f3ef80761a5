//! What each kind of node does: starting templates (pods, steps, DAGs,
//! suspend, retries) and advancing composite nodes when a child changes.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value as Json;
use sluice_api::depends::{self, TaskResult};
use sluice_api::duration::parse_go_duration;
use sluice_api::expr::{self, Value};
use sluice_api::merge::{merge_template_defaults, merge_workflow_defaults};
use sluice_api::tags::Tags;
use sluice_api::types::{
    Arguments, Artifact, ContinueOn, DAGTask, Inputs, LifecycleHook, NodeStatus, Outputs,
    Parameter, Sequence, Template, TemplateRef, Workflow, WorkflowSpec, WorkflowStep,
};

use super::core::{Engine, MAX_DEPTH, MAX_PODS_PER_STEP};
use super::vars::{Vars, check_resolved, go_json, has_location, item_description, with_location};
use super::{Action, SIGTERM, node_type as nt, phase};
use crate::inject::pod_for_backend;
use crate::pod::{PodContext, PodNode};

/// A step or a task: what to call, with what, when.
#[derive(Clone, Debug, Default)]
pub(crate) struct Call {
    pub(crate) name: String,
    pub(crate) template: Option<String>,
    pub(crate) template_ref: Option<TemplateRef>,
    pub(crate) inline: Option<Box<Template>>,
    pub(crate) arguments: Arguments,
    pub(crate) when: Option<String>,
    pub(crate) continue_on: Option<ContinueOn>,
    pub(crate) on_exit: Option<String>,
    pub(crate) hooks: BTreeMap<String, LifecycleHook>,
    pub(crate) with_items: Vec<Json>,
    pub(crate) with_param: Option<String>,
    pub(crate) with_sequence: Option<Sequence>,
}

impl From<&WorkflowStep> for Call {
    fn from(s: &WorkflowStep) -> Call {
        Call {
            name: s.name.clone(),
            template: s.template.clone(),
            template_ref: s.template_ref.clone(),
            inline: s.inline.clone(),
            arguments: s.arguments.clone().unwrap_or_default(),
            when: s.when.clone(),
            continue_on: s.continue_on.clone(),
            on_exit: s.on_exit.clone(),
            hooks: s.hooks.clone(),
            with_items: s.with_items.clone(),
            with_param: s.with_param.clone(),
            with_sequence: s.with_sequence.clone(),
        }
    }
}

impl From<&DAGTask> for Call {
    fn from(t: &DAGTask) -> Call {
        Call {
            name: t.name.clone(),
            template: t.template.clone(),
            template_ref: t.template_ref.clone(),
            inline: t.inline.clone(),
            arguments: t.arguments.clone().unwrap_or_default(),
            when: t.when.clone(),
            continue_on: t.continue_on.clone(),
            on_exit: t.on_exit.clone(),
            hooks: t.hooks.clone(),
            with_items: t.with_items.clone(),
            with_param: t.with_param.clone(),
            with_sequence: t.with_sequence.clone(),
        }
    }
}

impl Call {
    fn is_loop(&self) -> bool {
        !self.with_items.is_empty() || self.with_param.is_some() || self.with_sequence.is_some()
    }

    fn tolerates(&self, node_phase: &str) -> bool {
        let Some(c) = &self.continue_on else {
            return false;
        };
        match node_phase {
            phase::FAILED => c.failed == Some(true),
            phase::ERROR => c.error == Some(true),
            _ => false,
        }
    }
}

/// A child a group will start: its node name and the call.
#[derive(Clone, Debug)]
pub(crate) struct Prepared {
    pub(crate) name: String,
    pub(crate) display: String,
    pub(crate) call: Arc<Call>,
    pub(crate) item: Option<Json>,
    /// Set when the child is known not to run (empty loop).
    pub(crate) skip: Option<String>,
}

/// How a node was asked to run.
#[derive(Clone, Debug)]
pub(crate) struct Start {
    pub(crate) name: String,
    pub(crate) display: String,
    pub(crate) parent: Option<String>,
    pub(crate) boundary: Option<String>,
    pub(crate) scope: String,
    pub(crate) exit_handler: bool,
}

/// The workflow's spec as it runs: over its `workflowTemplateRef`, with the
/// configuration's `workflowDefaults`; the error names what is missing.
pub(crate) fn effective_spec(
    workflow: &Workflow,
    env: &super::Env,
) -> (WorkflowSpec, Option<String>) {
    let mut spec = workflow.spec.clone();
    let mut error = None;
    if let Some(reference) = &workflow.spec.workflow_template_ref {
        let library = if reference.cluster_scope == Some(true) {
            &env.cluster_workflow_templates
        } else {
            &env.workflow_templates
        };
        match library.get(&reference.name) {
            Some(base) => {
                let base_json = serde_json::json!({"spec": base});
                let mut own = serde_json::to_value(&workflow.spec).unwrap_or(Json::Null);
                if let Some(o) = own.as_object_mut() {
                    o.remove("workflowTemplateRef");
                }
                let own_json = serde_json::json!({"spec": own});
                match merge_workflow_defaults(&own_json, &base_json)
                    .map_err(|e| e.to_string())
                    .and_then(|m| {
                        serde_json::from_value::<WorkflowSpec>(m["spec"].clone())
                            .map_err(|e| e.to_string())
                    }) {
                    Ok(merged) => spec = merged,
                    Err(e) => error = Some(format!("spec.workflowTemplateRef: {e}")),
                }
            }
            None => {
                error = Some(format!(
                    "spec.workflowTemplateRef.name: {}WorkflowTemplate {:?} not found",
                    if reference.cluster_scope == Some(true) {
                        "Cluster"
                    } else {
                        ""
                    },
                    reference.name
                ))
            }
        }
    }
    if let Some(defaults) = &env.config.workflow_defaults {
        let defaults_json = serde_json::to_value(defaults.as_ref()).unwrap_or(Json::Null);
        let own = serde_json::json!({"metadata": {}, "spec": spec});
        match merge_workflow_defaults(&own, &defaults_json)
            .map_err(|e| e.to_string())
            .and_then(|m| {
                serde_json::from_value::<WorkflowSpec>(m["spec"].clone()).map_err(|e| e.to_string())
            }) {
            Ok(merged) => spec = merged,
            Err(e) => error = error.or(Some(format!("workflowDefaults: {e}"))),
        }
    }
    (spec, error)
}

/// A node name's display name: the part after its parent's name.
fn display_after(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix)
        .map(|s| s.trim_start_matches('.').to_owned())
        .unwrap_or_else(|| name.to_owned())
}

impl Engine {
    /// Workflow-level variables, built once per step (and again when the
    /// workflow's outputs or root change).
    pub(crate) fn wf_vars(&self) -> Arc<Vars> {
        if let Some(v) = self.wf_vars_cache.borrow().as_ref() {
            return v.clone();
        }
        let v = Arc::new(self.build_wf_vars());
        *self.wf_vars_cache.borrow_mut() = Some(v.clone());
        v
    }

    fn build_wf_vars(&self) -> Vars {
        let mut v = Vars::new(self.now);
        let meta = &self.wf.metadata;
        v.set("workflow.name", self.wf_name());
        v.set(
            "workflow.namespace",
            meta.namespace.clone().unwrap_or_else(|| "default".into()),
        );
        v.set("workflow.uid", meta.uid.clone().unwrap_or_default());
        v.set(
            "workflow.serviceAccountName",
            self.spec
                .service_account_name
                .clone()
                .unwrap_or_else(|| "default".into()),
        );
        if let Some(entry) = &self.spec.entrypoint {
            v.set("workflow.mainEntrypoint", entry.as_str());
        }
        if let Some(p) = self.spec.priority {
            v.set("workflow.priority", p.to_string());
        }
        let created = meta
            .creation_timestamp
            .clone()
            .or_else(|| self.status().started_at.clone());
        if let Some(created) = created {
            v.set("workflow.creationTimestamp", created.as_str());
            if let Ok(t) = DateTime::parse_from_rfc3339(&created) {
                for c in [
                    'Y', 'm', 'd', 'H', 'M', 'S', 'y', 'b', 'B', 'j', 'e', 'I', 'p', 'Z', 'z', 's',
                ] {
                    v.set(
                        format!("workflow.creationTimestamp.{c}"),
                        t.format(&format!("%{c}")).to_string(),
                    );
                }
                v.set("workflow.creationTimestamp.RFC3339", t.to_rfc3339());
            }
        }
        if let Some(t) = meta.annotations.get("workflows.argoproj.io/scheduled-time") {
            v.set("workflow.scheduledTime", t.as_str());
        }
        for (k, val) in &meta.labels {
            v.set(format!("workflow.labels.{k}"), val.as_str());
        }
        for (k, val) in &meta.annotations {
            v.set(format!("workflow.annotations.{k}"), val.as_str());
        }
        let labels = serde_json::to_string(&meta.labels).unwrap_or_default();
        v.set("workflow.labels", labels.as_str());
        v.set("workflow.labels.json", labels);
        let annotations = serde_json::to_string(&meta.annotations).unwrap_or_default();
        v.set("workflow.annotations", annotations.as_str());
        v.set("workflow.annotations.json", annotations);
        for p in self.global_parameters() {
            v.set(format!("workflow.parameters.{}", p.0), p.1.as_str());
        }
        // Upstream's `workflow.parameters` and `.json`: the spec's argument
        // parameters as JSON (an array of {name, value, ...}).
        let declared = self
            .spec
            .arguments
            .as_ref()
            .map(|a| serde_json::to_value(&a.parameters).unwrap_or(Json::Null))
            .unwrap_or_else(|| Json::Array(Vec::new()));
        let all = go_json(&declared);
        v.set("workflow.parameters", all.as_str());
        v.set("workflow.parameters.json", all);
        if let Some(outputs) = &self.status().outputs {
            for p in &outputs.parameters {
                if let Some(val) = &p.value {
                    v.set(
                        format!("workflow.outputs.parameters.{}", p.name),
                        val.as_text(),
                    );
                }
            }
            for a in &outputs.artifacts {
                v.set(
                    format!("workflow.outputs.artifacts.{}", a.name),
                    serde_json::to_string(a).unwrap_or_default(),
                );
            }
        }
        if let Some(started) = self
            .status()
            .started_at
            .as_deref()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        {
            let secs = (self.now - started.with_timezone(&Utc)).num_milliseconds() as f64 / 1000.0;
            v.set("workflow.duration", expr::go_float_v(secs));
        }
        let root = self.id_of(self.wf_name());
        if self.is_done(&root) {
            // Exit handlers see the phase the workflow ends with.
            let p = match self.phase_of(&root) {
                phase::SKIPPED | phase::OMITTED => phase::SUCCEEDED,
                p => p,
            };
            v.set("workflow.status", p.to_owned());
            v.set("workflow.failures", self.failures_json());
        } else {
            v.set("workflow.status", self.phase().to_owned());
        }
        v
    }

    /// `workflow.failures`: the failed pods, as upstream lists them.
    fn failures_json(&self) -> String {
        let failures: Vec<Json> = self
            .status()
            .nodes
            .values()
            .filter(|n| {
                matches!(n.phase.as_deref(), Some(phase::FAILED | phase::ERROR))
                    && matches!(n.r#type.as_deref(), Some(nt::POD | nt::SKIPPED))
            })
            .map(|n| {
                serde_json::json!({
                    "displayName": n.display_name.clone().unwrap_or_default(),
                    "message": n.message.clone().unwrap_or_default(),
                    "templateName": n.template_name.clone().unwrap_or_default(),
                    "phase": n.phase.clone().unwrap_or_default(),
                    "podName": self.pod_name_of(n),
                    "finishedAt": n.finished_at.clone().unwrap_or_default(),
                })
            })
            .collect();
        go_json(&Json::Array(failures))
    }

    /// `spec.arguments.parameters` with their values (`valueFrom` read).
    pub(crate) fn global_parameters(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(args) = &self.spec.arguments {
            for p in &args.parameters {
                if let Ok(Some(value)) = self.parameter_value(p, None) {
                    out.push((p.name.clone(), value));
                }
            }
        }
        out
    }

    /// A parameter's value: supplied, `value`, `valueFrom` or `default`.
    fn parameter_value(
        &self,
        p: &Parameter,
        supplied: Option<&Parameter>,
    ) -> Result<Option<String>, String> {
        if let Some(s) = supplied {
            if let Some(v) = &s.value {
                return Ok(Some(v.as_text()));
            }
            if let Some(from) = &s.value_from
                && let Some(v) = self.value_from(&p.name, from)?
            {
                return Ok(Some(v));
            }
        }
        if let Some(v) = &p.value {
            return Ok(Some(v.as_text()));
        }
        if let Some(from) = &p.value_from
            && let Some(v) = self.value_from(&p.name, from)?
        {
            return Ok(Some(v));
        }
        Ok(p.default.as_ref().map(|d| d.as_text()))
    }

    fn value_from(
        &self,
        name: &str,
        from: &sluice_api::types::ValueFrom,
    ) -> Result<Option<String>, String> {
        if let Some(selector) = &from.config_map_key_ref {
            let cm = selector.str_field("name").unwrap_or_default();
            let key = selector.str_field("key").unwrap_or_default();
            let optional = selector.get("optional").and_then(Json::as_bool) == Some(true);
            match self.env.config_maps.get(cm).and_then(|d| d.get(key)) {
                Some(v) => return Ok(Some(v.clone())),
                None => {
                    if let Some(d) = &from.default {
                        return Ok(Some(d.as_text()));
                    }
                    if optional {
                        return Ok(None);
                    }
                    return Err(format!(
                        "parameter {name}: key {key:?} of ConfigMap {cm:?} not found"
                    ));
                }
            }
        }
        Ok(from.default.as_ref().map(|d| d.as_text()))
    }

    /// Resolves a template by a call's reference, in a template scope
    /// (`local/<wf>`, `namespaced/<name>`, `cluster/<name>`).
    pub(crate) fn resolve_template(
        &self,
        scope: &str,
        call: &Call,
        vars: &Vars,
    ) -> Result<(Arc<Template>, String, Option<TemplateRef>), String> {
        if let Some(inline) = &call.inline {
            return Ok((
                Arc::new(self.with_defaults(inline)?),
                scope.to_owned(),
                None,
            ));
        }
        if let Some(reference) = &call.template_ref {
            let name = vars.substitute_strict(&reference.name)?;
            let template =
                vars.substitute_strict(reference.template.as_deref().unwrap_or_default())?;
            let cluster = reference.cluster_scope == Some(true);
            let library = if cluster {
                &self.env.cluster_workflow_templates
            } else {
                &self.env.workflow_templates
            };
            let kind = if cluster {
                "ClusterWorkflowTemplate"
            } else {
                "WorkflowTemplate"
            };
            let spec = library
                .get(&name)
                .ok_or_else(|| format!("templateRef: {kind} {name:?} not found"))?;
            let found = spec
                .templates
                .iter()
                .find(|t| t.name == template)
                .ok_or_else(|| {
                    format!("templateRef: template {template:?} not found in {kind} {name:?}")
                })?;
            let new_scope = format!("{}/{name}", if cluster { "cluster" } else { "namespaced" });
            let resolved = TemplateRef {
                name,
                template: Some(template),
                cluster_scope: reference.cluster_scope,
                ..TemplateRef::default()
            };
            return Ok((
                Arc::new(self.with_defaults(found)?),
                new_scope,
                Some(resolved),
            ));
        }
        let name = vars.substitute_strict(call.template.as_deref().unwrap_or_default())?;
        if name.is_empty() {
            return Err(format!("{}: names no template", call.name));
        }
        // Templates do not change while the workflow runs: resolved (and
        // merged with `templateDefaults`) once per scope and name.
        let key = (scope.to_owned(), name);
        if let Some(t) = self.resolved_templates.borrow().get(&key) {
            return Ok((t.clone(), key.0, None));
        }
        let found = self.find_template(scope, &key.1)?;
        let t = Arc::new(self.with_defaults(found)?);
        self.resolved_templates.borrow_mut().insert(key, t.clone());
        Ok((t, scope.to_owned(), None))
    }

    fn find_template(&self, scope: &str, name: &str) -> Result<&Template, String> {
        let (kind, owner) = scope.split_once('/').unwrap_or(("local", ""));
        let templates = match kind {
            "namespaced" => {
                &self
                    .env
                    .workflow_templates
                    .get(owner)
                    .ok_or_else(|| format!("WorkflowTemplate {owner:?} not found"))?
                    .templates
            }
            "cluster" => {
                &self
                    .env
                    .cluster_workflow_templates
                    .get(owner)
                    .ok_or_else(|| format!("ClusterWorkflowTemplate {owner:?} not found"))?
                    .templates
            }
            _ => &self.spec.templates,
        };
        templates
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| format!("template {name:?} not found"))
    }

    fn with_defaults(&self, template: &Template) -> Result<Template, String> {
        let Some(defaults) = &self.spec.template_defaults else {
            return Ok(template.clone());
        };
        let t = serde_json::to_value(template).map_err(|e| e.to_string())?;
        let d = serde_json::to_value(defaults).map_err(|e| e.to_string())?;
        let merged =
            merge_template_defaults(&t, &d).map_err(|e| format!("templateDefaults: {e}"))?;
        serde_json::from_value(merged).map_err(|e| format!("templateDefaults: {e}"))
    }

    /// The template a node runs.
    pub(crate) fn template_of(&self, id: &str) -> Option<Arc<Template>> {
        if let Some(t) = self.idx.templates.get(id) {
            return Some(t.clone());
        }
        let node = self.node(id)?;
        let scope = node.template_scope.clone().unwrap_or_default();
        if node.template_name.is_none() && node.template_ref.is_none() {
            // An inline template: the step or task that declares it says.
            return self.inline_template_of(id);
        }
        let call = Call {
            name: node.name.clone(),
            template: node.template_name.clone(),
            template_ref: node.template_ref.clone(),
            ..Call::default()
        };
        self.resolve_template(&scope, &call, &Vars::default())
            .ok()
            .map(|(t, _, _)| t)
    }

    /// The inline template of a step or task (after a rebuild, when the
    /// index no longer holds it): a retry attempt runs its Retry node's, a
    /// loop item its step's or task's.
    fn inline_template_of(&self, id: &str) -> Option<Arc<Template>> {
        let parent = self.idx.parent.get(id)?;
        let parent_node = self.node(parent)?;
        if parent_node.r#type.as_deref() == Some(nt::RETRY) {
            return self.template_of(parent);
        }
        let call = call_of(self, parent, id)?;
        let scope = parent_node.template_scope.clone().unwrap_or_default();
        self.resolve_template(&scope, &call, &Vars::default())
            .ok()
            .map(|(t, _, _)| t)
    }

    /// Starts the entrypoint.
    pub(crate) fn start_root(&mut self) -> Result<(), String> {
        let name = self.wf_name().to_owned();
        if name.is_empty() {
            return Err("metadata.name: the workflow has no name".into());
        }
        let root_id = self.id_of(&name);
        if self.node(&root_id).is_some() {
            return Ok(());
        }
        let entry = self
            .spec
            .entrypoint
            .clone()
            .filter(|e| !e.is_empty())
            .ok_or("spec.entrypoint: not set, and no workflowTemplateRef supplies one")?;
        if let Some((field, what)) = unsupported_spec(&self.spec) {
            return Err(format!("{field}: not supported yet: {what}"));
        }
        let vars = Vars::over(self.wf_vars());
        let call = Call {
            name: name.clone(),
            template: Some(entry),
            arguments: self.spec.arguments.clone().unwrap_or_default(),
            ..Call::default()
        };
        self.start_claims();
        let start = Start {
            name: name.clone(),
            display: name,
            parent: None,
            boundary: None,
            scope: format!("local/{}", self.wf_name()),
            exit_handler: false,
        };
        self.execute(&start, &call, &vars, None);
        Ok(())
    }

    fn start_claims(&mut self) {
        let name = self.wf_name().to_owned();
        for claim in self.spec.volume_claim_templates.clone() {
            let mut value = claim.value().clone();
            let claim_name = value
                .pointer("/metadata/name")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_owned();
            if let Some(meta) = value.get_mut("metadata").and_then(Json::as_object_mut) {
                meta.insert("name".into(), Json::String(format!("{name}-{claim_name}")));
            }
            if let Ok(pvc) = serde_json::from_value(value) {
                self.actions.push(Action::CreateClaim(Box::new(pvc)));
            }
        }
    }

    /// Creates a node for a call (after `when`), resolving its template and
    /// inputs; failures become an Error node naming the problem.
    pub(crate) fn execute(
        &mut self,
        start: &Start,
        call: &Call,
        vars: &Vars,
        attempt: Option<(Arc<Template>, Inputs, usize)>,
    ) -> String {
        let id = self.id_of(&start.name);
        if self.node(&id).is_some() {
            return id;
        }
        let resolved = match &attempt {
            Some((t, inputs, _)) => Ok((t.clone(), start.scope.clone(), None, inputs.clone())),
            None => self
                .resolve_template(&start.scope, call, vars)
                .and_then(|(t, scope, r)| {
                    let inputs = self.resolve_inputs(&t, &call.arguments, vars)?;
                    Ok((t, scope, r, inputs))
                }),
        };
        let depth = self.depth(start.parent.as_deref());
        let (template, scope, template_ref, inputs) = match resolved {
            Ok(r) if depth <= MAX_DEPTH => r,
            Ok(_) => {
                self.new_node(start, nt::POD, None, None);
                self.finish(
                    &id,
                    phase::ERROR,
                    Some(format!("maximum recursion depth exceeded ({MAX_DEPTH})")),
                );
                return id;
            }
            Err(e) => {
                self.new_node(start, nt::SKIPPED, None, None);
                if let Some(n) = self.node_mut(&id) {
                    n.template_name = call.template.clone();
                }
                self.finish(&id, phase::ERROR, Some(e));
                return id;
            }
        };
        let kind = template_kind(&template);
        let node_kind =
            if attempt.is_none() && template.retry_strategy.is_some() && kind != nt::SUSPEND {
                nt::RETRY
            } else {
                kind
            };
        self.new_node(start, node_kind, Some(&template), template_ref.as_ref());
        if let Some(n) = self.node_mut(&id) {
            n.template_scope = Some(scope.clone());
            if inputs != Inputs::default() {
                n.inputs = Some(inputs.clone());
            }
        }
        self.idx.templates.insert(id.clone(), template.clone());
        if start.exit_handler {
            self.idx.exit_nodes.insert(id.clone());
        }
        if let Err(reason) = self.may_start(start.exit_handler) {
            self.finish(&id, phase::FAILED, Some(reason));
            return id;
        }
        if let Some(what) = unsupported_template(&template) {
            self.finish(
                &id,
                phase::ERROR,
                Some(format!("not supported yet: {what}")),
            );
            return id;
        }
        match node_kind {
            nt::RETRY => {
                self.start_attempt(&id, &template, &inputs, 0);
            }
            nt::POD => {
                let retries = attempt.as_ref().map(|a| a.2);
                self.start_pod(&id, &template, &inputs, retries, start.exit_handler);
            }
            nt::SUSPEND => self.start_suspend(&id, &template),
            nt::STEPS | nt::DAG => {
                if let Some(n) = self.node_mut(&id) {
                    n.phase = Some(phase::RUNNING.into());
                }
                self.queue.push_back((id.clone(), None));
            }
            _ => {
                self.finish(
                    &id,
                    phase::ERROR,
                    Some("template has nothing to run".into()),
                );
            }
        }
        id
    }

    fn depth(&self, parent: Option<&str>) -> usize {
        let mut depth = 0;
        let mut at = parent.map(str::to_owned);
        while let Some(p) = at {
            depth += 1;
            if depth > MAX_DEPTH * 4 {
                break;
            }
            at = self.idx.parent.get(&p).cloned();
        }
        depth / 2
    }

    fn new_node(
        &mut self,
        start: &Start,
        kind: &str,
        template: Option<&Template>,
        template_ref: Option<&TemplateRef>,
    ) {
        let id = self.id_of(&start.name);
        let node = NodeStatus {
            id: Some(id.clone()),
            name: start.name.clone(),
            display_name: Some(start.display.clone()),
            r#type: Some(kind.to_owned()),
            template_name: template
                .filter(|_| template_ref.is_none())
                .map(|t| t.name.clone())
                .filter(|n| !n.is_empty()),
            template_ref: template_ref.cloned(),
            phase: Some(phase::PENDING.into()),
            boundary_id: start.boundary.clone(),
            started_at: Some(self.now_text()),
            ..NodeStatus::default()
        };
        self.status_mut().nodes.insert(id.clone(), node);
        if kind == nt::POD {
            self.idx.pods_total += 1;
        }
        if let Some(parent) = &start.parent {
            self.link(parent, &id);
        }
    }

    /// Resolves a template's inputs from arguments.
    pub(crate) fn resolve_inputs(
        &self,
        template: &Template,
        args: &Arguments,
        vars: &Vars,
    ) -> Result<Inputs, String> {
        let Some(declared) = &template.inputs else {
            return Ok(Inputs::default());
        };
        let wf = self.wf_vars();
        let mut out = Inputs::default();
        for p in &declared.parameters {
            let supplied = args.parameters.iter().find(|a| a.name == p.name);
            let mut value = self.parameter_value(p, supplied)?;
            if let Some(v) = &value {
                value = Some(wf.substitute(v)?);
            }
            let Some(value) = value else {
                return Err(format!(
                    "inputs.parameters.{}: no value given, and it has no default",
                    p.name
                ));
            };
            if !p.r#enum.is_empty() && !p.r#enum.iter().any(|e| e.as_text() == value) {
                let allowed: Vec<String> = p.r#enum.iter().map(|e| e.as_text()).collect();
                return Err(format!(
                    "inputs.parameters.{}: {value:?} is not one of its enum [{}]",
                    p.name,
                    allowed.join(", ")
                ));
            }
            out.parameters.push(Parameter {
                name: p.name.clone(),
                value: Some(sluice_api::types::AnyString::text(value)),
                description: p.description.clone(),
                ..Parameter::default()
            });
        }
        for a in &declared.artifacts {
            let supplied = args.artifacts.iter().find(|s| s.name == a.name);
            let resolved = match supplied {
                Some(s) => {
                    if let Some(from) = &s.from {
                        let mut source = vars.artifact(from).ok_or_else(|| {
                            format!(
                                "inputs.artifacts.{}: from {from:?} does not name an artifact",
                                a.name
                            )
                        })?;
                        if let Some(sub) = s.sub_path.as_deref().filter(|p| !p.is_empty()) {
                            let sub = vars.substitute_strict(sub)?;
                            append_to_key(&mut source, &sub)
                                .map_err(|e| format!("inputs.artifacts.{}.subPath: {e}", a.name))?;
                        }
                        Some(with_location(a, &source))
                    } else if has_location(s) {
                        let mut s_json = serde_json::to_value(s).unwrap_or(Json::Null);
                        vars.substitute_json(&mut s_json, true)?;
                        let s: Artifact =
                            serde_json::from_value(s_json).map_err(|e| e.to_string())?;
                        Some(with_location(a, &s))
                    } else if has_location(a) {
                        Some(a.clone())
                    } else if s.optional == Some(true) || a.optional == Some(true) {
                        None
                    } else {
                        return Err(format!("inputs.artifacts.{}: no location given", a.name));
                    }
                }
                None if has_location(a) => Some(a.clone()),
                None if a.optional == Some(true) => None,
                None => return Err(format!("inputs.artifacts.{}: not supplied", a.name)),
            };
            if let Some(r) = resolved {
                out.artifacts.push(r);
            }
        }
        Ok(out)
    }

    /// Variables inside a template: its inputs and the workflow's.
    fn template_vars(&self, inputs: &Inputs) -> Vars {
        let mut v = Vars::over(self.wf_vars());
        let mut list = Vec::new();
        for p in &inputs.parameters {
            let text = p.value.as_ref().map(|v| v.as_text()).unwrap_or_default();
            v.set(format!("inputs.parameters.{}", p.name), text.clone());
            let mut m = serde_json::Map::new();
            m.insert("name".into(), Json::String(p.name.clone()));
            m.insert("value".into(), Json::String(text));
            list.push(Json::Object(m));
        }
        if !list.is_empty() {
            v.set("inputs.parameters", go_json(&Json::Array(list)));
        }
        for a in &inputs.artifacts {
            v.set(
                format!("inputs.artifacts.{}", a.name),
                serde_json::to_string(a).unwrap_or_default(),
            );
            if let Some(path) = &a.path {
                v.set(format!("inputs.artifacts.{}.path", a.name), path.as_str());
            }
        }
        v
    }

    fn start_attempt(
        &mut self,
        retry_id: &str,
        template: &Arc<Template>,
        inputs: &Inputs,
        n: usize,
    ) {
        let Some(retry) = self.node(retry_id).cloned() else {
            return;
        };
        if let Some(r) = self.node_mut(retry_id) {
            r.phase = Some(phase::RUNNING.into());
        }
        let mut attempt_template = (**template).clone();
        attempt_template.retry_strategy = None;
        let start = Start {
            name: format!("{}({n})", retry.name),
            display: format!("{}({n})", retry.display_name.clone().unwrap_or_default()),
            parent: Some(retry_id.to_owned()),
            boundary: retry.boundary_id.clone(),
            scope: retry.template_scope.clone().unwrap_or_default(),
            exit_handler: self.idx.exit_nodes.contains(retry_id),
        };
        let call = Call::default();
        let vars = Vars::new(self.now);
        let child = self.execute(
            &start,
            &call,
            &vars,
            Some((Arc::new(attempt_template), inputs.clone(), n)),
        );
        // Attempts are named after the retry node's template.
        if let Some(c) = self.node_mut(&child) {
            c.template_name = retry.template_name.clone();
            c.template_ref = retry.template_ref.clone();
        }
        self.idx.templates.insert(child, template.clone());
    }

    fn start_pod(
        &mut self,
        id: &str,
        template: &Arc<Template>,
        inputs: &Inputs,
        retries: Option<usize>,
        exit_handler: bool,
    ) {
        let Some(node) = self.node(id).cloned() else {
            return;
        };
        let mut vars = self.template_vars(inputs);
        self.set_node_context(&mut vars, id, &node.name);
        if let Some(r) = retries {
            vars.set("retries", r.to_string());
            let previous = (r > 0)
                .then(|| self.idx.parent.get(id))
                .flatten()
                .and_then(|retry| self.node(retry))
                .and_then(|retry| retry.children.get(r - 1))
                .and_then(|c| self.node(c));
            set_last_retry(&mut vars, previous, "0");
        }
        // A template's own output paths: `{{outputs.parameters.<p>.path}}`
        // and `{{outputs.artifacts.<a>.path}}`.
        if let Some(outputs) = &template.outputs {
            for p in &outputs.parameters {
                if let Some(path) = p.value_from.as_ref().and_then(|f| f.path.as_deref()) {
                    vars.set(format!("outputs.parameters.{}.path", p.name), path);
                }
            }
            for a in &outputs.artifacts {
                if let Some(path) = a.path.as_deref() {
                    vars.set(format!("outputs.artifacts.{}.path", a.name), path);
                }
            }
        }
        let tagged = self.has_tags(template);
        let resolve = || {
            if tagged {
                let mut json = serde_json::to_value(&**template).unwrap_or(Json::Null);
                if let Some(o) = json.as_object_mut() {
                    o.remove("inputs");
                }
                vars.substitute_json(&mut json, true).and_then(|_| {
                    serde_json::from_value::<Template>(json).map_err(|e| e.to_string())
                })
            } else {
                // Nothing to substitute (inputs aside, which are replaced).
                Ok((**template).clone())
            }
        };
        let shared = !tagged && template.inputs.is_none() && *inputs == Inputs::default();
        let built = if shared {
            // The pod runs the template as resolved: shared, not copied
            // per pod (a fan-out keeps one per node).
            Ok(template.clone())
        } else {
            resolve().and_then(|mut t| {
                // Input artifacts' locations (`git.revision:
                // "{{inputs.parameters.rev}}"`) resolve like the rest.
                let mut inputs = inputs.clone();
                if !inputs.artifacts.is_empty() {
                    let mut artifacts =
                        serde_json::to_value(&inputs.artifacts).map_err(|e| e.to_string())?;
                    vars.substitute_json(&mut artifacts, true)
                        .map_err(|e| format!("inputs.artifacts: {e}"))?;
                    inputs.artifacts =
                        serde_json::from_value(artifacts).map_err(|e| e.to_string())?;
                }
                t.inputs = Some(inputs).filter(|i| *i != Inputs::default());
                Ok(Arc::new(t))
            })
        }
        .and_then(|t| self.build(id, &node, &t, exit_handler).map(|b| (t, b)));
        let (t, (pod, cm, pod_name)) = match built {
            Ok(b) => b,
            Err(e) => {
                self.finish(id, phase::ERROR, Some(e));
                return;
            }
        };
        if let Some(cs) = &t.container_set {
            for c in &cs.containers {
                let name = c.container.str_field("name").unwrap_or_default().to_owned();
                let start = Start {
                    name: format!("{}.{name}", node.name),
                    display: name,
                    parent: Some(id.to_owned()),
                    boundary: node.boundary_id.clone(),
                    scope: String::new(),
                    exit_handler,
                };
                self.new_node(&start, nt::CONTAINER, None, None);
                if let Some(n) = self.node_mut(&self.id_of(&start.name)) {
                    n.template_name = node.template_name.clone();
                }
            }
        }
        self.idx.templates.insert(id.to_owned(), t);
        self.idx.live_pods.insert(id.to_owned(), pod_name);
        self.pods_started += 1;
        self.actions.push(Action::CreatePod {
            node_id: id.to_owned(),
            pod: Box::new(pod),
            template_config_map: cm.map(Box::new),
        });
    }

    /// Whether a template (its inputs aside) has a `{{` anywhere: only
    /// then does a pod's template need substituting. Known per template.
    fn has_tags(&mut self, template: &Arc<Template>) -> bool {
        let key = Arc::as_ptr(template) as usize;
        if let Some((_, tags)) = self.tagged_templates.get(&key) {
            return *tags;
        }
        let mut json = serde_json::to_value(&**template).unwrap_or(Json::Null);
        if let Some(o) = json.as_object_mut() {
            o.remove("inputs");
        }
        let tags = json_has_tags(&json);
        // The Arc is kept so that its address names this template only.
        self.tagged_templates.insert(key, (template.clone(), tags));
        tags
    }

    #[allow(clippy::type_complexity)]
    fn build(
        &mut self,
        id: &str,
        node: &NodeStatus,
        template: &Template,
        exit_handler: bool,
    ) -> Result<
        (
            k8s_openapi::api::core::v1::Pod,
            Option<k8s_openapi::api::core::v1::ConfigMap>,
            String,
        ),
        String,
    > {
        let pod_wf = self.pod_workflow()?;
        let mut pod_node = PodNode::new(self.wf_name(), &node.name, &template.name);
        pod_node.id = id.to_owned();
        pod_node.on_exit = exit_handler;
        let mut deadline = if exit_handler {
            None
        } else {
            self.spec.active_deadline_seconds.and_then(|s| {
                let started =
                    DateTime::parse_from_rfc3339(self.status().started_at.as_deref()?).ok()?;
                Some(started.with_timezone(&Utc) + chrono::Duration::seconds(s))
            })
        };
        let own = template
            .active_deadline_seconds
            .as_ref()
            .and_then(|a| a.as_text().parse::<i64>().ok())
            .map(chrono::Duration::seconds)
            .or_else(|| {
                template
                    .timeout
                    .as_deref()
                    .and_then(|t| parse_go_duration(t).ok())
                    .and_then(|d| chrono::Duration::from_std(d).ok())
            });
        if let Some(d) = own {
            let t = self.now + d;
            deadline = Some(deadline.map_or(t, |w| w.min(t)));
        }
        if let Some(d) = deadline {
            pod_node.deadline = Some(d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            if let Some(n) = self.node_mut(id) {
                n.extra.insert(
                    "deadline".into(),
                    Json::String(d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                );
            }
        }
        let ctx = PodContext {
            config: &self.env.config,
            artifact_repository: self.env.artifact_repository.as_ref(),
            executor_token_secret: self.env.executor_token_secret.as_deref(),
        };
        let built = pod_for_backend(&ctx, &pod_wf, &pod_node, template, self.env.local)
            .map_err(|e| e.to_string())?;
        let pod_name = built.pod.metadata.name.clone().unwrap_or_default();
        Ok((built.pod, built.template_config_map, pod_name))
    }

    /// The workflow as pods see it: the running spec, workflow variables
    /// substituted (`podSpecPatch`, volumes, metadata...).
    fn pod_workflow(&mut self) -> Result<Arc<Workflow>, String> {
        if let Some(w) = &self.pod_wf {
            return Ok(w.clone());
        }
        let mut spec = self.spec.clone();
        spec.templates.clear();
        spec.arguments = None;
        let mut json = serde_json::to_value(&spec).map_err(|e| e.to_string())?;
        self.wf_vars().substitute_json(&mut json, false)?;
        let spec: WorkflowSpec = serde_json::from_value(json).map_err(|e| e.to_string())?;
        let wf = Arc::new(Workflow {
            api_version: self.wf.api_version.clone(),
            kind: self.wf.kind.clone(),
            metadata: self.wf.metadata.clone(),
            spec,
            status: None,
            extra: Default::default(),
        });
        self.pod_wf = Some(wf.clone());
        Ok(wf)
    }

    fn start_suspend(&mut self, id: &str, template: &Template) {
        if let Some(n) = self.node_mut(id) {
            n.phase = Some(phase::RUNNING.into());
        }
        if let Some(until) = self.suspend_until(id, template) {
            if self.now >= until {
                self.finish_suspend(id, &BTreeMap::new());
            } else {
                self.wake_at(id, until);
            }
        }
    }

    fn suspend_until(&self, id: &str, template: &Template) -> Option<DateTime<Utc>> {
        let text = template.suspend.as_ref()?.duration.clone()?;
        let inputs = self
            .node(id)
            .and_then(|n| n.inputs.clone())
            .unwrap_or_default();
        let text = self.template_vars(&inputs).substitute(&text).ok()?;
        let d = match text.trim().parse::<i64>() {
            Ok(secs) => chrono::Duration::seconds(secs),
            Err(_) => chrono::Duration::from_std(parse_go_duration(text.trim()).ok()?).ok()?,
        };
        let started = DateTime::parse_from_rfc3339(self.node(id)?.started_at.as_deref()?).ok()?;
        Some(started.with_timezone(&Utc) + d)
    }

    fn finish_suspend(&mut self, id: &str, supplied: &BTreeMap<String, String>) {
        let template = self.template_of(id);
        let mut outputs = Outputs::default();
        if let Some(t) = &template
            && let Some(o) = &t.outputs
        {
            for p in &o.parameters {
                let value = supplied
                    .get(&p.name)
                    .cloned()
                    .or_else(|| p.value.as_ref().map(|v| v.as_text()))
                    .or_else(|| {
                        p.value_from
                            .as_ref()
                            .and_then(|f| f.default.as_ref())
                            .map(|d| d.as_text())
                    })
                    .or_else(|| p.default.as_ref().map(|d| d.as_text()));
                if let Some(v) = value {
                    outputs.parameters.push(Parameter {
                        name: p.name.clone(),
                        value: Some(sluice_api::types::AnyString::text(v)),
                        global_name: p.global_name.clone(),
                        ..Parameter::default()
                    });
                }
            }
        }
        if let Some(n) = self.node_mut(id)
            && outputs != Outputs::default()
        {
            n.outputs = Some(outputs);
        }
        promote_globals(self, id);
        self.finish(id, phase::SUCCEEDED, None);
    }

    /// Resumes suspended nodes (all, or those named or displayed `node`).
    pub(crate) fn resume_nodes(
        &mut self,
        node: Option<&str>,
        parameters: &BTreeMap<String, String>,
    ) {
        let ids: Vec<String> = self
            .status()
            .nodes
            .iter()
            .filter(|(_, n)| {
                n.r#type.as_deref() == Some(nt::SUSPEND)
                    && !phase::is_done(n.phase.as_deref().unwrap_or_default())
                    && node.is_none_or(|want| {
                        n.name == want || n.display_name.as_deref() == Some(want)
                    })
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            self.finish_suspend(&id, parameters);
        }
    }

    /// Scope of a steps or DAG node's children.
    fn scope_vars(&self, id: &str, template: &Template) -> Vars {
        let node = self.node(id);
        let inputs = node.and_then(|n| n.inputs.clone()).unwrap_or_default();
        let mut v = self.template_vars(&inputs);
        let Some(node) = node else {
            return v;
        };
        self.set_node_context(&mut v, id, &node.name);
        for (i, group) in template.steps.iter().enumerate() {
            for step in group.iter() {
                let name = format!("{}[{i}].{}", node.name, step.name);
                let prefix = format!("steps.{}", step.name);
                if let Some(n) = self.node_by_name(&name) {
                    v.set_node(&prefix, n);
                    if n.r#type.as_deref() == Some(nt::RETRY) {
                        // A retried step's outputs are its last attempt's.
                        if let Some(last) = n.children.last().and_then(|c| self.node(c)) {
                            v.set_node(&prefix, last);
                        }
                        v.set_node(&prefix, n);
                    }
                } else if step.with_param.is_some()
                    || !step.with_items.is_empty()
                    || step.with_sequence.is_some()
                {
                    let group_name = format!("{}[{i}]", node.name);
                    if let Some(g) = self.node_by_name(&group_name) {
                        let start = format!("{name}(");
                        let children: Vec<&NodeStatus> = g
                            .children
                            .iter()
                            .filter_map(|c| self.node(c))
                            .filter(|c| c.name.starts_with(&start))
                            .collect();
                        if !children.is_empty() {
                            v.set_aggregate(&prefix, children.into_iter());
                        }
                    }
                }
            }
        }
        if let Some(dag) = &template.dag {
            for task in &dag.tasks {
                let name = format!("{}.{}", node.name, task.name);
                let prefix = format!("tasks.{}", task.name);
                if let Some(n) = self.node_by_name(&name) {
                    if n.r#type.as_deref() == Some(nt::TASK_GROUP) {
                        let children: Vec<&NodeStatus> =
                            n.children.iter().filter_map(|c| self.node(c)).collect();
                        v.set_aggregate(&prefix, children.into_iter());
                        if let Some(p) = &n.phase {
                            v.set(format!("{prefix}.status"), p.as_str());
                        }
                    } else {
                        v.set_node(&prefix, n);
                    }
                }
            }
        }
        v
    }

    /// Upstream's node-context variables of a template body: `node.name`,
    /// and `steps.name` or `tasks.name`, the name of the step or task that
    /// called it (empty for the entrypoint, which upstream runs as a
    /// nameless step).
    fn set_node_context(&self, v: &mut Vars, id: &str, node_name: &str) {
        v.set("node.name", node_name);
        // A retry attempt is called by its Retry node's step or task.
        let mut at = id;
        let mut parent = self.idx.parent.get(at);
        if let Some(p) = parent
            && self.node(p).and_then(|n| n.r#type.as_deref()) == Some(nt::RETRY)
        {
            at = p;
            parent = self.idx.parent.get(at);
        }
        let Some(parent) = parent else {
            if at == self.id_of(self.wf_name()) {
                v.set("steps.name", "");
            }
            return;
        };
        let (Some(parent_node), Some(node)) = (self.node(parent), self.node(at)) else {
            return;
        };
        let (kind, prefix) = match parent_node.r#type.as_deref() {
            Some(nt::STEP_GROUP) => ("steps.name", parent_node.name.as_str()),
            Some(nt::DAG) => ("tasks.name", parent_node.name.as_str()),
            Some(nt::TASK_GROUP) => {
                // A loop item: `<dag>.<task>(i:item)`, the group named `<dag>.<task>`.
                let Some(dag) = parent_node
                    .boundary_id
                    .as_deref()
                    .and_then(|b| self.node(b))
                else {
                    return;
                };
                ("tasks.name", dag.name.as_str())
            }
            _ => return,
        };
        if let Some(rest) = node
            .name
            .strip_prefix(prefix)
            .and_then(|r| r.strip_prefix('.'))
        {
            let call = rest.split('(').next().unwrap_or(rest);
            v.set(kind, call);
        }
    }

    /// The items of a loop.
    fn expand(&self, call: &Call, vars: &Vars) -> Result<Option<Vec<Json>>, String> {
        if !call.with_items.is_empty() {
            let mut items = Vec::new();
            for item in &call.with_items {
                let mut item = item.clone();
                vars.substitute_json(&mut item, true)?;
                items.push(item);
            }
            return Ok(Some(items));
        }
        if let Some(param) = &call.with_param {
            let text = vars.substitute_strict(param)?;
            let parsed: Json = serde_json::from_str(&text)
                .map_err(|e| format!("withParam: {text:?} is not a JSON list: {e}"))?;
            let Json::Array(items) = parsed else {
                return Err(format!("withParam: {text:?} is not a JSON list"));
            };
            return Ok(Some(items));
        }
        if let Some(seq) = &call.with_sequence {
            return expand_sequence(seq, vars).map(Some);
        }
        Ok(None)
    }

    /// The children a group starts for a call.
    fn prepare(&self, parent_name: &str, call: &Call, vars: &Vars, out: &mut VecDeque<Prepared>) {
        let call_rc = Arc::new(call.clone());
        let base = format!("{parent_name}.{}", call.name);
        match self.expand(call, vars) {
            Ok(None) => out.push_back(Prepared {
                name: base,
                display: call.name.clone(),
                call: call_rc,
                item: None,
                skip: None,
            }),
            Ok(Some(items)) if items.is_empty() => out.push_back(Prepared {
                name: base,
                display: call.name.clone(),
                call: call_rc,
                item: None,
                skip: Some("Skipped, empty params".into()),
            }),
            Ok(Some(items)) => {
                for (i, item) in items.into_iter().enumerate() {
                    let desc = item_description(&item);
                    out.push_back(Prepared {
                        name: format!("{base}({i}:{desc})"),
                        display: format!("{}({i}:{desc})", call.name),
                        call: call_rc.clone(),
                        item: Some(item),
                        skip: None,
                    });
                }
            }
            Err(e) => out.push_back(Prepared {
                name: base,
                display: call.name.clone(),
                call: call_rc,
                item: None,
                skip: Some(format!("ERROR: {e}")),
            }),
        }
    }

    /// A node that did not run (`when` false, omitted) gets its template's
    /// output parameters that have a `valueFrom.default`, as upstream's do:
    /// a consumer of a skipped producer reads the default.
    pub(crate) fn set_unrun_outputs(&mut self, id: &str, scope: &str, call: &Call, vars: &Vars) {
        let Ok((template, _, _)) = self.resolve_template(scope, call, vars) else {
            return;
        };
        let parameters: Vec<Parameter> = template
            .outputs
            .iter()
            .flat_map(|o| &o.parameters)
            .filter_map(|p| {
                let default = p.value_from.as_ref()?.default.clone()?;
                Some(Parameter {
                    name: p.name.clone(),
                    value: Some(default),
                    ..Parameter::default()
                })
            })
            .collect();
        if !parameters.is_empty()
            && let Some(node) = self.node_mut(id)
        {
            node.outputs = Some(Outputs {
                parameters,
                ..Outputs::default()
            });
        }
    }

    /// Starts one prepared child of `parent` (a group).
    fn start_prepared(&mut self, parent: &str, boundary: &str, p: &Prepared, vars: &Vars) {
        let scope = self
            .node(boundary)
            .and_then(|n| n.template_scope.clone())
            .unwrap_or_default();
        let exit_handler = self.idx.exit_nodes.contains(parent);
        let start = Start {
            name: p.name.clone(),
            display: p.display.clone(),
            parent: Some(parent.to_owned()),
            boundary: Some(boundary.to_owned()),
            scope,
            exit_handler,
        };
        let id = self.id_of(&p.name);
        if let Some(reason) = &p.skip {
            self.new_node(&start, nt::SKIPPED, None, None);
            if let Some(e) = reason.strip_prefix("ERROR: ") {
                self.finish(&id, phase::ERROR, Some(e.to_owned()));
            } else {
                self.finish(&id, phase::SKIPPED, Some(reason.clone()));
            }
            return;
        }
        let mut vars = vars.clone();
        if let Some(item) = &p.item {
            vars.set_item(item);
        }
        if let Some(when) = &p.call.when {
            let decided = vars
                .substitute_strict(when)
                .and_then(|text| expr::eval_when(&text).map_err(|e| format!("when {text:?}: {e}")));
            match decided {
                Ok(true) => {}
                Ok(false) => {
                    self.new_node(&start, nt::SKIPPED, None, None);
                    if let Some(n) = self.node_mut(&id) {
                        n.template_name = p.call.template.clone();
                    }
                    self.set_unrun_outputs(&id, &start.scope, &p.call, &vars);
                    let text = vars.substitute(when).unwrap_or_else(|_| when.clone());
                    self.finish(
                        &id,
                        phase::SKIPPED,
                        Some(format!("when '{text}' evaluated false")),
                    );
                    return;
                }
                Err(e) => {
                    self.new_node(&start, nt::SKIPPED, None, None);
                    self.finish(&id, phase::ERROR, Some(e));
                    return;
                }
            }
        }
        let mut call = (*p.call).clone();
        let mut args = serde_json::to_value(&call.arguments).unwrap_or(Json::Null);
        // `from` references stay for resolve_inputs; everything else resolves now.
        if let Err(e) = vars.substitute_json(&mut args, false) {
            self.new_node(&start, nt::SKIPPED, None, None);
            self.finish(&id, phase::ERROR, Some(e));
            return;
        }
        if let Some(params) = args.get_mut("parameters").and_then(Json::as_array_mut) {
            // An output of a node that did not run is absent: the argument
            // goes, and the input's default applies (upstream's rule).
            params.retain(|p| {
                p.get("value")
                    .and_then(Json::as_str)
                    .is_none_or(|v| !names_unrun_output(v, &vars))
            });
            for p in params.iter() {
                if let Some(v) = p.get("value").and_then(Json::as_str)
                    && let Err(e) = check_resolved(v)
                {
                    self.new_node(&start, nt::SKIPPED, None, None);
                    self.finish(
                        &id,
                        phase::ERROR,
                        Some(format!(
                            "arguments.parameters.{}: {e}",
                            p["name"].as_str().unwrap_or_default()
                        )),
                    );
                    return;
                }
            }
        }
        call.arguments = serde_json::from_value(args).unwrap_or_default();
        self.execute(&start, &call, &vars, None);
    }
}

/// The kind of node a template makes.
fn template_kind(t: &Template) -> &'static str {
    if !t.steps.is_empty() {
        nt::STEPS
    } else if t.dag.is_some() {
        nt::DAG
    } else if t.suspend.is_some() {
        nt::SUSPEND
    } else if t.container.is_some()
        || t.script.is_some()
        || t.container_set.is_some()
        || t.resource.is_some()
        || t.http.is_some()
        || t.data.is_some()
        || t.plugin.is_some()
    {
        nt::POD
    } else {
        ""
    }
}

/// A template feature this version does not run.
fn unsupported_template(t: &Template) -> Option<&'static str> {
    if t.synchronization.is_some() {
        return Some("synchronization");
    }
    if t.memoize.is_some() {
        return Some("memoize");
    }
    if t.http.is_some() {
        return Some("http templates");
    }
    if t.data.is_some() {
        return Some("data templates");
    }
    if t.plugin.is_some() {
        return Some("plugin templates");
    }
    if t.resource.is_some() {
        return Some("resource templates");
    }
    if t.metrics.is_some() {
        return Some("template-level metrics");
    }
    None
}

fn unsupported_spec(spec: &WorkflowSpec) -> Option<(&'static str, &'static str)> {
    spec.synchronization
        .as_ref()
        .map(|_| ("spec.synchronization", "synchronization"))
}

fn expand_sequence(seq: &Sequence, vars: &Vars) -> Result<Vec<Json>, String> {
    let num =
        |v: &Option<sluice_api::types::IntOrString>, field: &str| -> Result<Option<i64>, String> {
            match v {
                None => Ok(None),
                Some(v) => {
                    let text = vars.substitute_strict(&v.as_text())?;
                    text.trim()
                        .parse::<i64>()
                        .map(Some)
                        .map_err(|_| format!("withSequence.{field}: {text:?} is not an integer"))
                }
            }
        };
    let start = num(&seq.start, "start")?.unwrap_or(0);
    let (from, to) = match (num(&seq.count, "count")?, num(&seq.end, "end")?) {
        (Some(count), None) => {
            if count <= 0 {
                return Ok(Vec::new());
            }
            (start, start + count - 1)
        }
        (None, Some(end)) => (start, end),
        (Some(_), Some(_)) => {
            return Err("withSequence: count and end are mutually exclusive".into());
        }
        (None, None) => return Err("withSequence: set count or end".into()),
    };
    let values: Vec<i64> = if from <= to {
        (from..=to).collect()
    } else {
        (to..=from).rev().collect()
    };
    Ok(values
        .into_iter()
        .map(|i| match &seq.format {
            Some(f) => Json::String(sprintf_int(f, i)),
            None => Json::String(i.to_string()),
        })
        .collect())
}

/// `%d`, `%02d`, `%x`... applied to one integer (withSequence.format).
fn sprintf_int(format: &str, n: i64) -> String {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&d) = chars.peek() {
            if d.is_ascii_digit() || d == '-' {
                spec.push(d);
                chars.next();
            } else {
                break;
            }
        }
        let zero = spec.starts_with('0');
        let width: usize = spec.trim_start_matches(['0', '-']).parse().unwrap_or(0);
        let body = match chars.next() {
            Some('d') => n.to_string(),
            Some('x') => format!("{n:x}"),
            Some('X') => format!("{n:X}"),
            Some('o') => format!("{n:o}"),
            Some('%') => "%".into(),
            Some(other) => format!("%{spec}{other}"),
            None => format!("%{spec}"),
        };
        if zero {
            out.push_str(&format!("{body:0>width$}"));
        } else if spec.starts_with('-') {
            out.push_str(&format!("{body:<width$}"));
        } else {
            out.push_str(&format!("{body:>width$}"));
        }
    }
    out
}

/// Advances a composite node after `child` changed (or on its own).
pub(crate) fn advance(e: &mut Engine, id: &str, child: Option<&str>) {
    let Some(node) = e.node(id) else {
        return;
    };
    let kind = node.r#type.clone().unwrap_or_default();
    if phase::is_done(node.phase.as_deref().unwrap_or_default()) {
        // A done node whose exit handler changed: tell its parent.
        if child.is_some() {
            e.notify(id);
        }
        return;
    }
    match kind.as_str() {
        nt::STEPS => advance_steps(e, id),
        nt::STEP_GROUP | nt::TASK_GROUP => advance_group(e, id),
        nt::DAG => advance_dag(e, id),
        nt::RETRY => advance_retry(e, id),
        nt::SUSPEND => {
            if let Some(t) = e.template_of(id)
                && let Some(until) = e.suspend_until(id, &t)
            {
                if e.now >= until {
                    e.finish_suspend(id, &BTreeMap::new());
                } else {
                    e.wake_at(id, until);
                }
            }
        }
        _ => {}
    }
}

/// The call (step or task definition) that made a node, found through its
/// group or DAG.
fn call_of(e: &Engine, parent: &str, child: &str) -> Option<Call> {
    with_call(
        e,
        parent,
        child,
        |s| Some(Call::from(s)),
        |t| Some(Call::from(t)),
    )
}

/// Whether the call that made a node has an exit handler or hooks (found
/// without copying the call: this runs for every child that finishes).
fn has_handlers(e: &Engine, parent: &str, child: &str) -> bool {
    with_call(
        e,
        parent,
        child,
        |s| Some(s.on_exit.is_some() || !s.hooks.is_empty()),
        |t| Some(t.on_exit.is_some() || !t.hooks.is_empty()),
    )
    .unwrap_or(false)
}

/// Applies `step` or `task` to the definition that made `child`.
fn with_call<R>(
    e: &Engine,
    parent: &str,
    child: &str,
    step: impl FnOnce(&WorkflowStep) -> Option<R>,
    task: impl FnOnce(&DAGTask) -> Option<R>,
) -> Option<R> {
    let parent_node = e.node(parent)?;
    let child_node = e.node(child)?;
    match parent_node.r#type.as_deref()? {
        nt::STEP_GROUP => {
            let steps_id = parent_node.boundary_id.clone()?;
            let t = e.template_of(&steps_id)?;
            let index = group_index(&parent_node.name)?;
            let rest = child_node
                .name
                .strip_prefix(&parent_node.name)?
                .strip_prefix('.')?;
            let step_name = rest.split('(').next()?;
            t.steps
                .get(index)?
                .iter()
                .find(|s| s.name == step_name)
                .and_then(step)
        }
        nt::DAG | nt::TASK_GROUP => {
            let dag_id = if parent_node.r#type.as_deref() == Some(nt::DAG) {
                parent.to_owned()
            } else {
                parent_node.boundary_id.clone()?
            };
            let dag = e.node(&dag_id)?;
            let t = e.template_of(&dag_id)?;
            let rest = child_node.name.strip_prefix(&dag.name)?.strip_prefix('.')?;
            let task_name = rest.split('(').next()?;
            t.dag
                .as_ref()?
                .tasks
                .iter()
                .find(|t| t.name == task_name)
                .and_then(task)
        }
        _ => None,
    }
}

/// Whether a string (or an object key) of a JSON value holds `{{`.
fn json_has_tags(value: &Json) -> bool {
    match value {
        Json::String(s) => s.contains("{{"),
        Json::Array(items) => items.iter().any(json_has_tags),
        Json::Object(fields) => fields
            .iter()
            .any(|(k, v)| k.contains("{{") || json_has_tags(v)),
        _ => false,
    }
}

fn group_index(name: &str) -> Option<usize> {
    let open = name.rfind('[')?;
    name[open + 1..].strip_suffix(']')?.parse().ok()
}

/// Starts a done child's `onExit` and its hooks whose expressions hold.
pub(crate) fn start_exit_and_hooks(e: &mut Engine, parent: &str, child: &str) {
    if !has_handlers(e, parent, child) {
        return;
    }
    let Some(call) = call_of(e, parent, child) else {
        return;
    };
    let Some(child_node) = e.node(child).cloned() else {
        return;
    };
    let done = phase::is_done(child_node.phase.as_deref().unwrap_or_default());
    let boundary = child_node.boundary_id.clone().unwrap_or_default();
    let mut handlers: Vec<(String, Call)> = Vec::new();
    let exit_template = call
        .on_exit
        .clone()
        .map(|t| Call {
            name: "onExit".into(),
            template: Some(t),
            ..Call::default()
        })
        .or_else(|| call.hooks.get("exit").map(|h| hook_call("onExit", h)));
    if done && let Some(c) = exit_template {
        handlers.push((format!("{}.onExit", child_node.name), c));
    }
    if handlers.is_empty() && call.hooks.is_empty() {
        return;
    }
    let Some(t) = e.template_of(&boundary) else {
        return;
    };
    // The boundary's scope, built once for every hook and handler.
    let base = e.scope_vars(&boundary, &t);
    for (name, hook) in &call.hooks {
        if name == "exit" {
            continue;
        }
        let Some(expression) = &hook.expression else {
            continue;
        };
        let hook_name = format!("{}.hooks.{name}", child_node.name);
        if e.node_by_name(&hook_name).is_some() {
            continue;
        }
        let holds = base
            .eval(expression)
            .map(|v| matches!(v, Value::Bool(true)))
            .unwrap_or(false);
        if holds {
            handlers.push((hook_name, hook_call(name, hook)));
        }
    }
    for (name, c) in handlers {
        if e.node_by_name(&name).is_some() {
            continue;
        }
        let mut vars = base.clone();
        let short = call.name.clone();
        vars.set_node(&format!("steps.{short}"), &child_node);
        vars.set_node(&format!("tasks.{short}"), &child_node);
        let scope = e
            .node(&boundary)
            .and_then(|n| n.template_scope.clone())
            .unwrap_or_default();
        let start = Start {
            display: display_after(&name, &child_node.name),
            name,
            parent: Some(child.to_owned()),
            boundary: Some(boundary.clone()),
            scope,
            exit_handler: true,
        };
        let mut resolved = c.clone();
        let mut args = serde_json::to_value(&resolved.arguments).unwrap_or(Json::Null);
        if vars.substitute_json(&mut args, false).is_ok() {
            resolved.arguments = serde_json::from_value(args).unwrap_or_default();
        }
        let new_id = e.execute(&start, &resolved, &vars, None);
        e.idx.exit_nodes.insert(new_id);
    }
}

fn hook_call(name: &str, hook: &LifecycleHook) -> Call {
    Call {
        name: name.to_owned(),
        template: hook.template.clone(),
        template_ref: hook.template_ref.clone(),
        arguments: hook.arguments.clone().unwrap_or_default(),
        ..Call::default()
    }
}

fn settled_count(e: &Engine, id: &str) -> usize {
    e.idx.settled_count.get(id).copied().unwrap_or(0)
}

fn advance_steps(e: &mut Engine, id: &str) {
    let Some(template) = e.template_of(id) else {
        e.finish(id, phase::ERROR, Some("template not found".into()));
        return;
    };
    let node = match e.node(id) {
        Some(n) => n.clone(),
        None => return,
    };
    let next = match node.children.last() {
        None => 0,
        Some(last) => {
            if !e.is_settled(last) {
                return;
            }
            let group = e.node(last).cloned().unwrap_or_default();
            if group.phase.as_deref() != Some(phase::SUCCEEDED) {
                let message = group
                    .message
                    .clone()
                    .unwrap_or_else(|| "a step failed".into());
                complete_boundary(e, id);
                e.finish(
                    id,
                    group.phase.as_deref().unwrap_or(phase::FAILED),
                    Some(message),
                );
                return;
            }
            node.children.len()
        }
    };
    if next >= template.steps.len() {
        let outputs = resolve_outputs(e, id, &template);
        match outputs {
            Ok(o) => {
                if let Some(n) = e.node_mut(id) {
                    n.outputs = o;
                    n.outbound_nodes = Vec::new();
                }
                let outbound = outbound_of(e, node.children.last().map(String::as_str));
                if let Some(n) = e.node_mut(id) {
                    n.outbound_nodes = outbound;
                }
                promote_globals(e, id);
                complete_boundary(e, id);
                e.finish(id, phase::SUCCEEDED, None);
            }
            Err(err) => {
                complete_boundary(e, id);
                e.finish(id, phase::ERROR, Some(err));
            }
        }
        return;
    }
    if let Err(reason) = e.may_start(e.idx.exit_nodes.contains(id)) {
        complete_boundary(e, id);
        e.finish(id, phase::FAILED, Some(reason));
        return;
    }
    // Start group `next`.
    let group_name = format!("{}[{next}]", node.name);
    let start = Start {
        name: group_name.clone(),
        display: format!("[{next}]"),
        parent: Some(id.to_owned()),
        boundary: Some(id.to_owned()),
        scope: node.template_scope.clone().unwrap_or_default(),
        exit_handler: e.idx.exit_nodes.contains(id),
    };
    e.new_node(&start, nt::STEP_GROUP, None, None);
    let gid = e.id_of(&group_name);
    if let Some(g) = e.node_mut(&gid) {
        g.phase = Some(phase::RUNNING.into());
        g.template_name = node.template_name.clone();
    }
    if start.exit_handler {
        e.idx.exit_nodes.insert(gid.clone());
    }
    advance_group(e, &gid);
}

/// The nodes a finished steps/DAG node ends in.
fn outbound_of(e: &Engine, last: Option<&str>) -> Vec<String> {
    let Some(last) = last else {
        return Vec::new();
    };
    let Some(node) = e.node(last) else {
        return Vec::new();
    };
    match node.r#type.as_deref() {
        Some(nt::STEP_GROUP) | Some(nt::TASK_GROUP) => node
            .children
            .iter()
            .flat_map(|c| outbound_of(e, Some(c)))
            .collect(),
        Some(nt::STEPS) | Some(nt::DAG) => {
            if node.outbound_nodes.is_empty() {
                vec![last.to_owned()]
            } else {
                node.outbound_nodes.clone()
            }
        }
        Some(nt::RETRY) => node
            .children
            .last()
            .map(|c| vec![c.clone()])
            .unwrap_or_default(),
        _ => vec![last.to_owned()],
    }
}

/// Fills a group's pending children on first sight (or after a rebuild).
fn ensure_prepared(e: &mut Engine, gid: &str) {
    if e.idx.total.contains_key(gid) {
        return;
    }
    let Some(group) = e.node(gid).cloned() else {
        return;
    };
    let boundary = group.boundary_id.clone().unwrap_or_default();
    let Some(template) = e.template_of(&boundary) else {
        return;
    };
    let vars = e.scope_vars(&boundary, &template);
    let mut prepared = VecDeque::new();
    match group.r#type.as_deref() {
        Some(nt::STEP_GROUP) => {
            let index = group_index(&group.name).unwrap_or(0);
            if let Some(steps) = template.steps.get(index) {
                for step in steps.iter() {
                    e.prepare(&group.name, &Call::from(step), &vars, &mut prepared);
                }
            }
        }
        Some(nt::TASK_GROUP) => {
            let dag = e
                .node(&boundary)
                .map(|n| n.name.clone())
                .unwrap_or_default();
            let task_name = display_after(&group.name, &dag);
            if let Some(task) = template
                .dag
                .as_ref()
                .and_then(|d| d.tasks.iter().find(|t| t.name == task_name))
            {
                let mut items = VecDeque::new();
                let parent_name = dag.clone();
                e.prepare(&parent_name, &Call::from(task), &vars, &mut items);
                prepared = items;
            }
        }
        _ => {}
    }
    let total = prepared.len();
    // Children that already exist (after a rebuild) are not started again.
    let pending: VecDeque<Prepared> = prepared
        .into_iter()
        .filter(|p| e.node_by_name(&p.name).is_none())
        .collect();
    if !pending.is_empty() {
        // Children that start in later steps (parallelism, the per-step
        // pod cap) start in this scope, not one rebuilt each time: the
        // steps of earlier groups (and the tasks a loop task depends on)
        // are done, so it does not change while the group runs.
        e.idx.group_scopes.insert(gid.to_owned(), vars.into_layer());
    }
    e.idx.total.insert(gid.to_owned(), total);
    e.idx.pending.insert(gid.to_owned(), pending);
}

fn advance_group(e: &mut Engine, gid: &str) {
    ensure_prepared(e, gid);
    // Not cloned: a group may have 100,000 children.
    let Some(boundary) = e
        .node(gid)
        .map(|g| g.boundary_id.clone().unwrap_or_default())
    else {
        return;
    };
    let limit = e
        .template_of(&boundary)
        .and_then(|t| t.parallelism)
        .filter(|p| *p > 0)
        .map(|p| p as usize);
    let pending = e.idx.pending.get(gid).map_or(0, VecDeque::len);
    if pending > 0 {
        if let Err(reason) = e.may_start(e.idx.exit_nodes.contains(gid)) {
            e.idx.pending.insert(gid.to_owned(), VecDeque::new());
            e.idx.group_scopes.remove(gid);
            let total = e.node(gid).map_or(0, |n| n.children.len());
            e.idx.total.insert(gid.to_owned(), total);
            if settled_count(e, gid) >= total {
                e.finish(gid, phase::FAILED, Some(reason));
            }
            return;
        }
        let vars = match e.idx.group_scopes.get(gid) {
            Some(layer) => Vars::over_layer(e.wf_vars(), layer.clone()),
            None => match e.template_of(&boundary) {
                Some(t) => e.scope_vars(&boundary, &t),
                None => Vars::over(e.wf_vars()),
            },
        };
        loop {
            let created = e.node(gid).map_or(0, |n| n.children.len());
            let running = created - settled_count(e, gid).min(created);
            if limit.is_some_and(|l| running >= l) || !workflow_slot(e, gid) {
                break;
            }
            if e.pods_started >= MAX_PODS_PER_STEP {
                e.wake_at(gid, e.now);
                break;
            }
            let Some(next) = e.idx.pending.get_mut(gid).and_then(VecDeque::pop_front) else {
                break;
            };
            e.start_prepared(gid, &boundary, &next, &vars);
        }
        if e.idx.pending.get(gid).is_none_or(VecDeque::is_empty) {
            e.idx.group_scopes.remove(gid);
        }
    }
    let total = e.idx.total.get(gid).copied().unwrap_or(0);
    if settled_count(e, gid) < total {
        return;
    }
    // Every child settled (once per group): the group's phase.
    let Some(group) = e.node(gid).cloned() else {
        return;
    };
    let mut failed: Option<(String, String)> = None;
    for c in &group.children {
        let Some(child) = e.node(c) else {
            continue;
        };
        let p = child.phase.clone().unwrap_or_default();
        if (p == phase::FAILED || p == phase::ERROR)
            && failed.is_none()
            && !call_of(e, gid, c).is_some_and(|call| call.tolerates(&p))
        {
            failed = Some((p.clone(), child.display_name.clone().unwrap_or_default()));
        }
    }
    let outbound = outbound_of_children(e, &group.children);
    if let Some(g) = e.node_mut(gid) {
        g.outbound_nodes = outbound;
    }
    match failed {
        Some((p, name)) => {
            let message = format!("child '{name}' failed");
            let p = if p == phase::ERROR {
                phase::ERROR
            } else {
                phase::FAILED
            };
            e.finish(gid, p, Some(message));
        }
        None => e.finish(gid, phase::SUCCEEDED, None),
    }
}

fn outbound_of_children(e: &Engine, children: &[String]) -> Vec<String> {
    children
        .iter()
        .flat_map(|c| outbound_of(e, Some(c)))
        .collect()
}

/// Whether `spec.parallelism` leaves room for one more pod.
fn workflow_slot(e: &mut Engine, gid: &str) -> bool {
    let Some(limit) = e.spec.parallelism.filter(|p| *p > 0) else {
        return true;
    };
    if e.idx.live_pods.len() < limit as usize {
        return true;
    }
    if !e.idx.waiting_for_slot.iter().any(|g| g == gid) {
        e.idx.waiting_for_slot.push_back(gid.to_owned());
    }
    false
}

/// Wakes groups waiting for a pod slot.
pub(crate) fn wake_waiting(e: &mut Engine) {
    while let Some(g) = e.idx.waiting_for_slot.pop_front() {
        e.queue.push_back((g, None));
    }
}

fn advance_retry(e: &mut Engine, id: &str) {
    let Some(node) = e.node(id).cloned() else {
        return;
    };
    let Some(template) = e.template_of(id) else {
        return;
    };
    let Some(last_id) = node.children.last().cloned() else {
        let inputs = node.inputs.clone().unwrap_or_default();
        e.start_attempt(id, &template, &inputs, 0);
        return;
    };
    if !e.is_settled(&last_id) {
        return;
    }
    let last = e.node(&last_id).cloned().unwrap_or_default();
    let last_phase = last.phase.clone().unwrap_or_default();
    if last_phase == phase::SUCCEEDED || last_phase == phase::SKIPPED {
        if let Some(n) = e.node_mut(id) {
            n.outputs = last.outputs.clone();
            n.daemoned = last.daemoned;
            n.host_node_name = last.host_node_name.clone();
            n.pod_ip = last.pod_ip.clone();
        }
        promote_globals(e, id);
        e.finish(id, &last_phase, last.message.clone());
        return;
    }
    let strategy = template.retry_strategy.clone().unwrap_or_default();
    let attempts = node.children.len();
    let limit = strategy.limit.as_ref().and_then(|l| {
        let vars = e.template_vars(&node.inputs.clone().unwrap_or_default());
        vars.substitute(&l.as_text())
            .ok()?
            .trim()
            .parse::<usize>()
            .ok()
    });
    let fail = |e: &mut Engine, message: String| {
        e.finish(id, &last_phase, Some(message));
    };
    let last_message = last.message.clone().unwrap_or_default();
    if limit.is_some_and(|l| attempts > l) {
        fail(
            e,
            format!("No more retries left; last attempt: {last_message}"),
        );
        return;
    }
    if let Err(reason) = e.may_start(e.idx.exit_nodes.contains(id)) {
        fail(e, reason);
        return;
    }
    let policy = strategy.retry_policy.as_deref().unwrap_or("OnFailure");
    let retryable = match policy {
        "Always" => true,
        "OnError" => last_phase == phase::ERROR,
        "OnTransientError" => last_phase == phase::ERROR && is_transient(&last_message),
        _ => last_phase == phase::FAILED,
    };
    if !retryable {
        fail(e, last_message);
        return;
    }
    if let Some(expression) = &strategy.expression {
        let mut vars = e.template_vars(&node.inputs.clone().unwrap_or_default());
        set_last_retry(&mut vars, Some(&last), "-1");
        match vars.eval(expression) {
            Ok(Value::Bool(true)) => {}
            Ok(_) => {
                fail(e, last_message);
                return;
            }
            Err(err) => {
                e.finish(
                    id,
                    phase::ERROR,
                    Some(format!("retryStrategy.expression: {err}")),
                );
                return;
            }
        }
    }
    if let Some(backoff) = &strategy.backoff {
        let base = backoff
            .duration
            .as_deref()
            .and_then(parse_seconds)
            .unwrap_or(0.0);
        let factor = backoff
            .factor
            .as_ref()
            .and_then(|f| f.as_text().parse::<f64>().ok())
            .unwrap_or(1.0);
        let mut wait = base * factor.powi(attempts.saturating_sub(1) as i32);
        if let Some(cap) = backoff.cap.as_deref().and_then(parse_seconds) {
            wait = wait.min(cap);
        }
        let started = node
            .started_at
            .as_deref()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or(e.now);
        if let Some(max) = backoff.max_duration.as_deref().and_then(parse_seconds)
            && (e.now - started).num_milliseconds() as f64 / 1000.0 >= max
        {
            fail(
                e,
                format!("Max duration limit exceeded; last attempt: {last_message}"),
            );
            return;
        }
        let finished = last
            .finished_at
            .as_deref()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or(e.now);
        let at = finished + chrono::Duration::milliseconds((wait * 1000.0) as i64);
        if e.now < at {
            if let Some(n) = e.node_mut(id) {
                n.message = Some(format!("Backoff for {}", humantime(wait)));
            }
            e.wake_at(id, at);
            return;
        }
    }
    if let Some(n) = e.node_mut(id) {
        n.message = None;
    }
    let inputs = node.inputs.clone().unwrap_or_default();
    e.start_attempt(id, &template, &inputs, attempts);
}

fn humantime(seconds: f64) -> String {
    format!("{}s", expr::go_float_v(seconds))
}

fn parse_seconds(text: &str) -> Option<f64> {
    if let Ok(n) = text.trim().parse::<f64>() {
        return Some(n);
    }
    parse_go_duration(text.trim()).ok().map(|d| d.as_secs_f64())
}

fn is_transient(message: &str) -> bool {
    [
        "pod deleted",
        "evicted",
        "connection reset",
        "timeout",
        "exceeded quota",
    ]
    .iter()
    .any(|m| message.to_lowercase().contains(m))
}

/// What a task's node says about it, for `depends`.
fn task_holds(e: &Engine, dag_name: &str, task: &str, result: Option<TaskResult>) -> bool {
    let Some(node) = e.node_by_name(&format!("{dag_name}.{task}")) else {
        return false;
    };
    let p = node.phase.as_deref().unwrap_or_default();
    let daemoned = node.daemoned == Some(true);
    match result {
        None => p == phase::SUCCEEDED || p == phase::SKIPPED || daemoned,
        Some(TaskResult::Succeeded) => p == phase::SUCCEEDED,
        Some(TaskResult::Failed) => p == phase::FAILED,
        Some(TaskResult::Errored) => p == phase::ERROR,
        Some(TaskResult::Skipped) => p == phase::SKIPPED,
        Some(TaskResult::Omitted) => p == phase::OMITTED,
        Some(TaskResult::Daemoned) => daemoned,
        Some(TaskResult::AnySucceeded) => node
            .children
            .iter()
            .any(|c| e.phase_of(c) == phase::SUCCEEDED),
        Some(TaskResult::AllFailed) => {
            !node.children.is_empty()
                && node
                    .children
                    .iter()
                    .all(|c| matches!(e.phase_of(c), phase::FAILED | phase::ERROR))
        }
    }
}

/// The `depends` of a task (its `dependencies` as an expression).
fn depends_of(task: &DAGTask) -> Result<Option<depends::Expr>, String> {
    if let Some(d) = task.depends.as_deref().filter(|d| !d.trim().is_empty()) {
        return depends::parse(d)
            .map(Some)
            .map_err(|err| format!("depends: {err}"));
    }
    if task.dependencies.is_empty() {
        return Ok(None);
    }
    let text = task.dependencies.join(" && ");
    depends::parse(&text)
        .map(Some)
        .map_err(|err| format!("dependencies: {err}"))
}

fn advance_dag(e: &mut Engine, id: &str) {
    let Some(template) = e.template_of(id) else {
        e.finish(id, phase::ERROR, Some("template not found".into()));
        return;
    };
    let Some(dag) = template.dag.clone() else {
        return;
    };
    let Some(node) = e.node(id).cloned() else {
        return;
    };
    let tasks: HashMap<&str, &DAGTask> = dag.tasks.iter().map(|t| (t.name.as_str(), t)).collect();
    // Target tasks and everything they need.
    let targets: Vec<String> = match dag.target.as_deref().filter(|t| !t.trim().is_empty()) {
        Some(t) => {
            let vars = e.template_vars(&node.inputs.clone().unwrap_or_default());
            vars.substitute(t)
                .unwrap_or_else(|_| t.to_owned())
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        }
        None => {
            let mut has_dependents = BTreeSet::new();
            for t in &dag.tasks {
                if let Ok(Some(d)) = depends_of(t) {
                    for r in d.referenced_tasks() {
                        has_dependents.insert(r.task.clone());
                    }
                }
            }
            dag.tasks
                .iter()
                .filter(|t| !has_dependents.contains(&t.name))
                .map(|t| t.name.clone())
                .collect()
        }
    };
    let mut needed = BTreeSet::new();
    let mut stack = targets.clone();
    while let Some(t) = stack.pop() {
        if !needed.insert(t.clone()) {
            continue;
        }
        if let Some(task) = tasks.get(t.as_str())
            && let Ok(Some(d)) = depends_of(task)
        {
            for r in d.referenced_tasks() {
                stack.push(r.task.clone());
            }
        }
    }
    let fail_fast = dag.fail_fast.unwrap_or(true);
    let exit_handler = e.idx.exit_nodes.contains(id);
    let mut vars: Option<Vars> = None;
    let mut running = false;
    for task in &dag.tasks {
        if !needed.contains(&task.name) {
            continue;
        }
        let name = format!("{}.{}", node.name, task.name);
        if let Some(n) = e.node_by_name(&name)
            && !e.is_settled(&n.id.clone().unwrap_or_default())
        {
            running = true;
        }
    }
    let parallelism = template.parallelism.filter(|p| *p > 0).map(|p| p as usize);
    let mut live = node.children.iter().filter(|c| !e.is_settled(c)).count();
    for task in &dag.tasks {
        if !needed.contains(&task.name) {
            continue;
        }
        let name = format!("{}.{}", node.name, task.name);
        if e.node_by_name(&name).is_some() {
            continue;
        }
        let expr = match depends_of(task) {
            Ok(x) => x,
            Err(err) => {
                end_task_unrun(e, id, &node, task, phase::ERROR, err);
                continue;
            }
        };
        if let Some(x) = &expr {
            let refs = x.referenced_tasks();
            let all_done = refs.iter().all(|r| {
                e.node_by_name(&format!("{}.{}", node.name, r.task))
                    .and_then(|n| n.id.clone())
                    .is_some_and(|tid| e.is_settled(&tid))
            });
            if !all_done {
                continue;
            }
            // Plain `dependencies` tolerate failures their continueOn allows.
            let holds = if task.depends.as_deref().is_none_or(|d| d.trim().is_empty()) {
                task.dependencies.iter().all(|d| {
                    task_holds(e, &node.name, d, None)
                        || tasks.get(d.as_str()).is_some_and(|dt| {
                            Call::from(*dt).tolerates(
                                e.node_by_name(&format!("{}.{d}", node.name))
                                    .and_then(|n| n.phase.as_deref())
                                    .unwrap_or_default(),
                            )
                        })
                })
            } else {
                x.eval(&|r| task_holds(e, &node.name, &r.task, r.result))
            };
            if !holds {
                end_task_unrun(
                    e,
                    id,
                    &node,
                    task,
                    phase::OMITTED,
                    "omitted: depends condition not met".into(),
                );
                vars = None;
                continue;
            }
        }
        if let Err(_reason) = e.may_start(exit_handler) {
            continue;
        }
        if parallelism.is_some_and(|p| live >= p) {
            running = true;
            continue;
        }
        if !workflow_slot(e, id) {
            running = true;
            continue;
        }
        if e.pods_started >= MAX_PODS_PER_STEP {
            e.wake_at(id, e.now);
            running = true;
            break;
        }
        let v = vars
            .get_or_insert_with(|| e.scope_vars(id, &template))
            .clone();
        start_task(e, id, &node, task, &v);
        live += 1;
        running = true;
        // A task that ended at once (skipped, an error) changes the scope
        // of the tasks after it in this pass.
        if e.node_by_name(&name)
            .is_some_and(|n| phase::is_done(n.phase.as_deref().unwrap_or_default()))
        {
            vars = None;
        }
    }
    if running {
        // With failFast, a failed target branch ends the DAG at once.
        if fail_fast {
            let mut memo: HashMap<String, String> = HashMap::new();
            for t in &targets {
                let p = branch_phase(e, &node.name, t, &tasks, &mut memo);
                if (p == phase::FAILED || p == phase::ERROR)
                    && e.node_by_name(&format!("{}.{t}", node.name)).is_some()
                    && !tasks
                        .get(t.as_str())
                        .is_some_and(|task| Call::from(*task).tolerates(&p))
                {
                    let message =
                        format!("child '{}' failed", failed_leaf(e, &node.name, t, &tasks));
                    complete_boundary(e, id);
                    e.finish(id, &p, Some(message));
                    return;
                }
            }
        }
        return;
    }
    // Nothing runs and nothing can start: the DAG's phase.
    let stopped = e.may_start(exit_handler).is_err();
    for task in &dag.tasks {
        if !needed.contains(&task.name) {
            continue;
        }
        let name = format!("{}.{}", node.name, task.name);
        if let Some(n) = e.node_by_name(&name)
            && !e.is_settled(&n.id.clone().unwrap_or_default())
        {
            return;
        }
    }
    let mut memo: HashMap<String, String> = HashMap::new();
    let mut result = phase::SUCCEEDED.to_owned();
    let mut message = None;
    for t in &targets {
        let p = branch_phase(e, &node.name, t, &tasks, &mut memo);
        if (p == phase::FAILED || p == phase::ERROR)
            && !tasks
                .get(t.as_str())
                .is_some_and(|task| Call::from(*task).tolerates(&p))
        {
            result = p;
            message = Some(format!(
                "child '{}' failed",
                failed_leaf(e, &node.name, t, &tasks)
            ));
            break;
        }
    }
    if stopped && result == phase::SUCCEEDED {
        let missing = needed
            .iter()
            .any(|t| e.node_by_name(&format!("{}.{t}", node.name)).is_none());
        if missing {
            result = phase::FAILED.into();
            message = e.shutdown_reason();
        }
    }
    if result == phase::SUCCEEDED {
        match resolve_outputs(e, id, &template) {
            Ok(o) => {
                if let Some(n) = e.node_mut(id) {
                    n.outputs = o;
                }
                promote_globals(e, id);
            }
            Err(err) => {
                result = phase::ERROR.into();
                message = Some(err);
            }
        }
    }
    let outbound: Vec<String> = targets
        .iter()
        .filter_map(|t| {
            e.node_by_name(&format!("{}.{t}", node.name))
                .and_then(|n| n.id.clone())
        })
        .flat_map(|tid| outbound_of(e, Some(&tid)))
        .collect();
    if let Some(n) = e.node_mut(id) {
        n.outbound_nodes = outbound;
    }
    complete_boundary(e, id);
    e.finish(id, &result, message);
}

fn failed_leaf(e: &Engine, dag: &str, task: &str, tasks: &HashMap<&str, &DAGTask>) -> String {
    if let Some(n) = e.node_by_name(&format!("{dag}.{task}"))
        && matches!(n.phase.as_deref(), Some(phase::FAILED | phase::ERROR))
    {
        return n.display_name.clone().unwrap_or_else(|| task.to_owned());
    }
    if let Some(t) = tasks.get(task)
        && let Ok(Some(d)) = depends_of(t)
    {
        for r in d.referenced_tasks() {
            let found = failed_leaf(e, dag, &r.task, tasks);
            if e.node_by_name(&format!("{dag}.{found}"))
                .is_some_and(|n| matches!(n.phase.as_deref(), Some(phase::FAILED | phase::ERROR)))
            {
                return found;
            }
        }
    }
    task.to_owned()
}

/// A task's branch phase: its own when it ran, else its dependencies'
/// worst (upstream's rule for omitted tasks).
fn branch_phase(
    e: &Engine,
    dag: &str,
    task: &str,
    tasks: &HashMap<&str, &DAGTask>,
    memo: &mut HashMap<String, String>,
) -> String {
    if let Some(p) = memo.get(task) {
        return p.clone();
    }
    memo.insert(task.to_owned(), phase::SUCCEEDED.into());
    let own = e
        .node_by_name(&format!("{dag}.{task}"))
        .and_then(|n| n.phase.clone());
    let result = match own.as_deref() {
        Some(p) if p != phase::OMITTED => p.to_owned(),
        _ => {
            let mut worst = phase::SUCCEEDED.to_owned();
            if let Some(t) = tasks.get(task)
                && let Ok(Some(d)) = depends_of(t)
            {
                for r in d.referenced_tasks() {
                    let p = branch_phase(e, dag, &r.task, tasks, memo);
                    if p == phase::FAILED || p == phase::ERROR {
                        worst = p;
                    }
                }
            }
            worst
        }
    };
    memo.insert(task.to_owned(), result.clone());
    result
}

/// Whether `text` still holds a reference to the outputs of a step or task
/// that was skipped or omitted (whose outputs without defaults are absent).
fn names_unrun_output(text: &str, vars: &Vars) -> bool {
    Tags::new(text).flatten().any(|tag| {
        let body = tag.body.trim();
        let Some(at) = body.find(".outputs.") else {
            return false;
        };
        let node = &body[..at];
        (node.starts_with("steps.") || node.starts_with("tasks."))
            && matches!(
                vars.get_text(&format!("{node}.status")).as_deref(),
                Some(phase::SKIPPED | phase::OMITTED)
            )
    })
}

/// Narrows an artifact's location to `sub` inside it (an argument's
/// `subPath`): the key, blob, path or URL of its location gets `/sub`.
pub(crate) fn append_to_key(artifact: &mut Artifact, sub: &str) -> Result<(), String> {
    if sub.split('/').any(|part| part == "..") {
        return Err(format!("{sub:?} leaves the artifact"));
    }
    let sub = sub.trim_matches('/');
    let mut json = serde_json::to_value(&*artifact).map_err(|e| e.to_string())?;
    let mut done = false;
    for field in super::vars::LOCATION_FIELDS {
        let Some(location) = json.get_mut(field).and_then(Json::as_object_mut) else {
            continue;
        };
        for key in ["key", "blob", "path", "url"] {
            if let Some(Json::String(k)) = location.get_mut(key) {
                *k = if k.is_empty() {
                    sub.to_owned()
                } else {
                    format!("{}/{sub}", k.trim_end_matches('/'))
                };
                done = true;
                break;
            }
        }
    }
    if !done {
        return Err("the artifact's location has no key to narrow".into());
    }
    *artifact = serde_json::from_value(json).map_err(|e| e.to_string())?;
    Ok(())
}

/// `lastRetry.*`: the previous attempt's exit code, phase, duration in
/// seconds and message; on the first attempt (`last` is None) "0", "", "0"
/// and "", as upstream's defaults. `missing_code` stands for an attempt
/// that reported no exit code.
fn set_last_retry(vars: &mut Vars, last: Option<&NodeStatus>, missing_code: &str) {
    let Some(last) = last else {
        vars.set("lastRetry.exitCode", "0");
        vars.set("lastRetry.status", "");
        vars.set("lastRetry.duration", "0");
        vars.set("lastRetry.message", "");
        return;
    };
    let code = last
        .outputs
        .as_ref()
        .and_then(|o| o.exit_code.clone())
        .unwrap_or_else(|| missing_code.to_owned());
    vars.set("lastRetry.exitCode", code);
    vars.set("lastRetry.status", last.phase.clone().unwrap_or_default());
    vars.set(
        "lastRetry.message",
        last.message.clone().unwrap_or_default(),
    );
    let seconds = |t: &Option<String>| {
        t.as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
    };
    let duration = match (seconds(&last.started_at), seconds(&last.finished_at)) {
        (Some(s), Some(f)) => (f - s).num_seconds().to_string(),
        _ => "0".into(),
    };
    vars.set("lastRetry.duration", duration);
}

/// A task that will not run: a Skipped-type node ending in `end_phase`.
fn end_task_unrun(
    e: &mut Engine,
    dag_id: &str,
    dag: &NodeStatus,
    task: &DAGTask,
    end_phase: &str,
    message: String,
) {
    let name = format!("{}.{}", dag.name, task.name);
    let start = Start {
        name: name.clone(),
        display: task.name.clone(),
        parent: Some(dag_id.to_owned()),
        boundary: Some(dag_id.to_owned()),
        scope: dag.template_scope.clone().unwrap_or_default(),
        exit_handler: e.idx.exit_nodes.contains(dag_id),
    };
    e.new_node(&start, nt::SKIPPED, None, None);
    let id = e.id_of(&name);
    if let Some(n) = e.node_mut(&id) {
        n.template_name = task.template.clone();
    }
    if end_phase == phase::OMITTED {
        e.set_unrun_outputs(&id, &start.scope, &Call::from(task), &Vars::default());
    }
    e.finish(&id, end_phase, Some(message));
}

fn start_task(e: &mut Engine, dag_id: &str, dag: &NodeStatus, task: &DAGTask, vars: &Vars) {
    let call = Call::from(task);
    if call.is_loop() {
        let name = format!("{}.{}", dag.name, task.name);
        let start = Start {
            name: name.clone(),
            display: task.name.clone(),
            parent: Some(dag_id.to_owned()),
            boundary: Some(dag_id.to_owned()),
            scope: dag.template_scope.clone().unwrap_or_default(),
            exit_handler: e.idx.exit_nodes.contains(dag_id),
        };
        // `when` applies to the whole loop when it does not use the item.
        if let Some(when) = &task.when
            && !when.contains("item")
        {
            let decided = vars.substitute_strict(when).and_then(|text| {
                expr::eval_when(&text).map_err(|err| format!("when {text:?}: {err}"))
            });
            if let Ok(false) | Err(_) = decided {
                e.new_node(&start, nt::SKIPPED, None, None);
                let id = e.id_of(&name);
                match decided {
                    Err(err) => e.finish(&id, phase::ERROR, Some(err)),
                    _ => e.finish(
                        &id,
                        phase::SKIPPED,
                        Some(format!("when '{when}' evaluated false")),
                    ),
                }
                return;
            }
        }
        e.new_node(&start, nt::TASK_GROUP, None, None);
        let gid = e.id_of(&name);
        if let Some(g) = e.node_mut(&gid) {
            g.phase = Some(phase::RUNNING.into());
            g.template_name = task.template.clone();
        }
        if start.exit_handler {
            e.idx.exit_nodes.insert(gid.clone());
        }
        advance_group(e, &gid);
        return;
    }
    let mut prepared = VecDeque::new();
    e.prepare(&dag.name, &call, vars, &mut prepared);
    if let Some(p) = prepared.pop_front() {
        e.start_prepared(dag_id, dag_id, &p, vars);
    }
}

/// A steps/DAG template's outputs, from its children's.
fn resolve_outputs(e: &Engine, id: &str, template: &Template) -> Result<Option<Outputs>, String> {
    let Some(declared) = &template.outputs else {
        return Ok(None);
    };
    let vars = e.scope_vars(id, template);
    let mut out = Outputs::default();
    for p in &declared.parameters {
        let value = match &p.value_from {
            Some(from) => {
                if let Some(param) = &from.parameter {
                    match vars.substitute_strict(param) {
                        Ok(v) => Some(v),
                        Err(err) => match &from.default {
                            Some(d) => Some(d.as_text()),
                            None => return Err(format!("outputs.parameters.{}: {err}", p.name)),
                        },
                    }
                } else if let Some(expression) = &from.expression {
                    match vars.eval(expression) {
                        Ok(v) => Some(expr::to_template_string(&v)),
                        Err(err) => match &from.default {
                            Some(d) => Some(d.as_text()),
                            None => return Err(format!("outputs.parameters.{}: {err}", p.name)),
                        },
                    }
                } else {
                    from.default.as_ref().map(|d| d.as_text())
                }
            }
            None => p
                .value
                .as_ref()
                .map(|v| vars.substitute(&v.as_text()))
                .transpose()?,
        };
        if let Some(v) = value {
            out.parameters.push(Parameter {
                name: p.name.clone(),
                value: Some(sluice_api::types::AnyString::text(v)),
                global_name: p.global_name.clone(),
                ..Parameter::default()
            });
        }
    }
    for a in &declared.artifacts {
        let Some(from) = &a.from else {
            continue;
        };
        match vars.artifact(from) {
            Some(source) => {
                let mut art = with_location(a, &source);
                art.global_name = a.global_name.clone();
                out.artifacts.push(art);
            }
            None if a.optional == Some(true) => {}
            None => {
                return Err(format!(
                    "outputs.artifacts.{}: from {from:?} does not name an artifact",
                    a.name
                ));
            }
        }
    }
    Ok(Some(out).filter(|o| *o != Outputs::default()))
}

/// Copies outputs marked `globalName` to the workflow's outputs.
pub(crate) fn promote_globals(e: &mut Engine, id: &str) {
    let Some(outputs) = e.node(id).and_then(|n| n.outputs.clone()) else {
        return;
    };
    let declared = e.idx.templates.get(id).and_then(|t| t.outputs.clone());
    let global_of = |name: &str, own: &Option<String>, artifact: bool| -> Option<String> {
        own.clone().or_else(|| {
            let d = declared.as_ref()?;
            if artifact {
                d.artifacts
                    .iter()
                    .find(|a| a.name == name)?
                    .global_name
                    .clone()
            } else {
                d.parameters
                    .iter()
                    .find(|p| p.name == name)?
                    .global_name
                    .clone()
            }
        })
    };
    let mut params = Vec::new();
    for p in &outputs.parameters {
        if let Some(g) = global_of(&p.name, &p.global_name, false) {
            params.push(Parameter {
                name: g,
                value: p.value.clone(),
                ..Parameter::default()
            });
        }
    }
    let mut arts = Vec::new();
    for a in &outputs.artifacts {
        if let Some(g) = global_of(&a.name, &a.global_name, true) {
            let mut art = a.clone();
            art.name = g;
            art.global_name = None;
            arts.push(art);
        }
    }
    if params.is_empty() && arts.is_empty() {
        return;
    }
    e.wf_vars_cache.borrow_mut().take();
    let status = e.status_mut();
    let out = status.outputs.get_or_insert_with(Outputs::default);
    for p in params {
        out.parameters.retain(|x| x.name != p.name);
        out.parameters.push(p);
    }
    for a in arts {
        out.artifacts.retain(|x| x.name != a.name);
        out.artifacts.push(a);
    }
}

/// A steps/DAG node ends: its daemons are stopped.
fn complete_boundary(e: &mut Engine, id: &str) {
    let daemons: Vec<(String, String)> = e
        .idx
        .daemons
        .iter()
        .filter_map(|pid| Some((pid, e.idx.live_pods.get(pid)?)))
        .filter(|(pid, _)| {
            e.node(pid)
                .is_some_and(|n| n.daemoned == Some(true) && n.boundary_id.as_deref() == Some(id))
        })
        .map(|(a, b)| (a.clone(), b.clone()))
        .collect();
    for (pid, pod_name) in daemons {
        if e.idx
            .killed
            .insert(pid.clone(), "daemon stopped".into())
            .is_none()
        {
            e.actions.push(Action::Signal {
                node_id: pid,
                pod_name,
                signal: SIGTERM,
            });
        }
    }
}

/// Starts the workflow's exit handler (`onExit` or `hooks.exit`);
/// `Ok(false)` when it has none.
pub(crate) fn start_workflow_exit(e: &mut Engine, name: &str) -> Result<bool, String> {
    if e.spec.shutdown.as_deref() == Some("Terminate") {
        return Ok(false);
    }
    let call = match (&e.spec.on_exit, e.spec.hooks.get("exit")) {
        (Some(t), _) if !t.is_empty() => Call {
            name: "onExit".into(),
            template: Some(t.clone()),
            ..Call::default()
        },
        (_, Some(h)) => hook_call("onExit", h),
        _ => return Ok(false),
    };
    let vars = Vars::over(e.wf_vars());
    let mut resolved = call.clone();
    let mut args = serde_json::to_value(&resolved.arguments).unwrap_or(Json::Null);
    vars.substitute_json(&mut args, false)?;
    resolved.arguments = serde_json::from_value(args).unwrap_or_default();
    let start = Start {
        name: name.to_owned(),
        display: name.to_owned(),
        parent: None,
        boundary: None,
        scope: format!("local/{}", e.wf_name()),
        exit_handler: true,
    };
    e.pod_wf = None;
    let id = e.execute(&start, &resolved, &vars, None);
    e.idx.exit_nodes.insert(id);
    Ok(true)
}

/// Deletes the claims of `volumeClaimTemplates` (upstream's default GC:
/// on success).
pub(crate) fn release_claims(e: &mut Engine, final_phase: &str) {
    let strategy = e
        .spec
        .volume_claim_gc
        .as_ref()
        .and_then(|g| g.strategy.clone())
        .unwrap_or_else(|| "OnWorkflowSuccess".into());
    let delete = match strategy.as_str() {
        "OnWorkflowCompletion" => true,
        _ => final_phase == phase::SUCCEEDED,
    };
    if !delete {
        return;
    }
    let name = e.wf_name().to_owned();
    for claim in e.spec.volume_claim_templates.clone() {
        if let Some(claim_name) = claim
            .value()
            .pointer("/metadata/name")
            .and_then(Json::as_str)
        {
            e.actions.push(Action::DeleteClaim {
                name: format!("{name}-{claim_name}"),
            });
        }
    }
}
