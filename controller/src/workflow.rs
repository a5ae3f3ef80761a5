//! The Workflow reconciler: observe the workflow's pods and results, step
//! the engine, carry out its actions, write the status.
//!
//! Order matters for a controller that may die at any moment: pods are
//! created before the status that records their nodes is written, so a
//! restart finds either no node (the engine creates it again, and the pod
//! of the same deterministic name already exists: `AlreadyExists` is
//! success) or a node whose pod exists. The status is written with the
//! resourceVersion it was computed from: a write based on a stale copy
//! fails and the reconcile starts over from the newer object.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::core::DynamicObject;
use kube::runtime::controller::Action as Requeue;
use serde_json::Value;
use sluice_api::types::{Workflow, WorkflowSpec, WorkflowTaskResult};
use sluice_engine::pod::names;
use sluice_engine::protocol::{ANNOTATION_NODE_ID, LABEL_COMPLETED};
use sluice_engine::repository::ConfigMapData;
use sluice_engine::run::{Action, Env, Intent, Observation, PodObservation, Run, node_type, phase};

use crate::index::WorkflowKey;
use crate::observe::pod_observation;
use crate::{Context, Error, artgc, gc, kinds, ops};

/// The annotation `sluice` verbs write intents to: a JSON array of
/// [`Intent`]s, consumed (removed) by the write that applies them.
pub const ANNOTATION_INTENTS: &str = "sluice.dev/intents";
/// The workflow's phase, as a label (upstream's).
pub const LABEL_PHASE: &str = "workflows.argoproj.io/phase";

/// A workflow's engine between reconciles.
#[derive(Debug)]
pub struct Cached {
    run: Run,
    /// The resourceVersion of the object the run matches.
    resource_version: String,
    /// The object's spec and status as last written or read.
    spec: Value,
    status: Value,
    /// The last observation sent per node, so only changes are sent.
    pods: HashMap<String, PodObservation>,
    results: HashMap<String, String>,
}

fn key_of(object: &DynamicObject) -> WorkflowKey {
    (
        object.metadata.namespace.clone().unwrap_or_default(),
        object.metadata.name.clone().unwrap_or_default(),
    )
}

/// Reconciles one workflow.
pub async fn reconcile(object: Arc<DynamicObject>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    let started = Instant::now();
    ctx.metrics.queued();
    let result = reconcile_inner(&object, &ctx).await;
    ctx.metrics.reconciled(started.elapsed());
    if let Err(error) = &result {
        tracing::warn!(workflow = ?key_of(&object), %error, "reconcile failed");
    }
    result
}

async fn reconcile_inner(object: &DynamicObject, ctx: &Context) -> Result<Requeue, Error> {
    let key = key_of(object);
    if object.metadata.deletion_timestamp.is_some() {
        ctx.forget(&key);
        return gc::deleting(object, ctx).await;
    }
    let labels = object.metadata.labels.clone().unwrap_or_default();
    if labels.get(LABEL_COMPLETED).map(String::as_str) == Some("true") {
        ctx.forget(&key);
        if let Some(p) = labels.get(LABEL_PHASE) {
            ctx.metrics.workflow_known(&key, p);
        }
        return gc::finished(object, ctx).await;
    }
    let mut cached = match ctx.take_run(&key, object) {
        Ok(Some(cached)) => cached,
        Ok(None) => build(object, ctx).await?,
        // Our own newer write is on its way through the watch, which
        // triggers this workflow again.
        Err(()) => return Ok(Requeue::requeue(Duration::from_secs(1))),
    };
    let mut observations = Vec::new();
    let spec = object.data.get("spec").cloned().unwrap_or(Value::Null);
    if spec != cached.spec {
        let typed: WorkflowSpec = serde_json::from_value(spec.clone()).map_err(|source| {
            Error::Convert(kinds::ConvertError {
                kind: "Workflow".into(),
                name: key.1.clone(),
                source,
            })
        })?;
        observations.push(Observation::SpecChanged(Box::new(typed)));
        cached.spec = spec;
    }
    let intents = intents_of(object, ctx).await;
    observations.extend(intents.into_iter().map(Observation::Intent));
    observe(&key, &mut cached, ctx, &mut observations).await?;

    let actions = cached.run.step(observations, Utc::now());
    let mut requeue: Option<Duration> = None;
    let mut events = Vec::new();
    let finished_now = actions.iter().any(|a| matches!(a, Action::Finished { .. }));
    let was = object.data["status"]["phase"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if was != phase::RUNNING && cached.run.phase() == phase::RUNNING {
        events.push((
            false,
            "WorkflowRunning".to_owned(),
            "Workflow Running".to_owned(),
        ));
    }
    if cached.run.workflow().spec.metrics.is_some() {
        let problems = ctx
            .metrics
            .custom
            .emit(cached.run.workflow(), finished_now, Utc::now());
        if finished_now {
            for problem in problems {
                events.push((true, "MetricError".to_owned(), problem));
            }
        }
    }
    for action in actions {
        match action {
            Action::CreatePod {
                node_id,
                pod,
                template_config_map,
            } => {
                ctx.boundary("create-pod").await;
                if let Some(config_map) = template_config_map {
                    ops::create_config_map(ctx.client(), &key.0, &config_map).await?;
                }
                if !ops::create_pod(ctx.client(), &key.0, &pod).await? {
                    // Created before a restart: its state (maybe final)
                    // is observed on the next pass, now that the node exists.
                    tracing::debug!(node = node_id, "pod existed");
                    requeue = Some(Duration::ZERO);
                }
            }
            Action::DeletePod { pod_name, .. } => {
                ctx.boundary("delete-pod").await;
                ops::delete_pod(ctx.client(), &key.0, &pod_name, None).await?;
            }
            Action::Signal {
                pod_name, signal, ..
            } => {
                // Without a kubelet API to exec into the pod, a signal is the
                // pod's deletion: SIGTERM with the grace period, SIGKILL
                // without one. The engine then sees the pod gone and ends
                // the node with the reason it recorded (stopped, deadline).
                ctx.boundary("signal").await;
                let grace = (signal == sluice_engine::run::SIGKILL).then_some(0);
                ops::delete_pod(ctx.client(), &key.0, &pod_name, grace).await?;
            }
            Action::CreateClaim(claim) => {
                ctx.boundary("create-claim").await;
                ops::create_claim(ctx.client(), &key.0, &claim).await?;
            }
            Action::DeleteClaim { name } => {
                ops::delete_claim(ctx.client(), &key.0, &name).await?;
            }
            Action::RequeueAt(at) => {
                let wait = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
                requeue = Some(requeue.map_or(wait, |r| r.min(wait)));
            }
            Action::Event {
                warning,
                reason,
                message,
            } => events.push((warning, reason, message)),
            Action::Finished { phase } => {
                let warning = phase != phase::SUCCEEDED;
                events.push((
                    warning,
                    format!("Workflow{phase}"),
                    workflow_message(&cached.run),
                ));
            }
        }
    }

    // The status, written when anything changed.
    let stored = cached.run.to_stored();
    let before = serde_json::to_value(object).map_err(Error::Json)?;
    let mut value = before.clone();
    value["status"] = serde_json::to_value(&stored.status).map_err(Error::Json)?;
    if let Some(spec) = value.get_mut("spec").and_then(Value::as_object_mut) {
        // Intents change `suspend` and `shutdown` (as upstream's verbs do).
        for (field, engine_value) in [
            ("suspend", stored.spec.suspend.map(Value::Bool)),
            ("shutdown", stored.spec.shutdown.clone().map(Value::String)),
        ] {
            match engine_value {
                Some(v) if v != Value::Bool(false) => {
                    spec.insert(field.into(), v);
                }
                _ => {
                    spec.remove(field);
                }
            }
        }
    }
    let run_phase = cached.run.phase().to_owned();
    let metadata = value["metadata"].as_object_mut();
    if let Some(metadata) = metadata {
        let labels = metadata
            .entry("labels")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(labels) = labels.as_object_mut() {
            labels.insert(LABEL_PHASE.into(), run_phase.clone().into());
            labels.insert(
                LABEL_COMPLETED.into(),
                if cached.run.is_finished() {
                    "true"
                } else {
                    "false"
                }
                .into(),
            );
        }
        // Present after the first write: the templates are walked only
        // until then.
        let has_finalizer = metadata
            .get("finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| f.iter().any(|f| f == artgc::FINALIZER));
        let defaults = ctx.config().workflow_defaults.as_ref().map(|d| &d.spec);
        if !has_finalizer && artgc::wants_finalizer(cached.run.workflow(), defaults) {
            let finalizers = metadata
                .entry("finalizers")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Some(finalizers) = finalizers.as_array_mut() {
                finalizers.push(artgc::FINALIZER.into());
            }
        }
        if let Some(annotations) = metadata
            .get_mut("annotations")
            .and_then(Value::as_object_mut)
        {
            annotations.remove(ANNOTATION_INTENTS);
            if annotations.is_empty() {
                metadata.remove("annotations");
            }
        }
    }
    if value != before {
        ctx.boundary("write-status").await;
        let update: DynamicObject = serde_json::from_value(value).map_err(Error::Json)?;
        match ops::replace_workflow(ctx.client(), &update).await {
            Ok(written) => {
                cached.resource_version = written
                    .metadata
                    .resource_version
                    .clone()
                    .unwrap_or_default();
                cached.status = written.data.get("status").cloned().unwrap_or(Value::Null);
                cached.spec = written.data.get("spec").cloned().unwrap_or(Value::Null);
            }
            Err(e) if ops::is_conflict(&e) => {
                // Someone wrote after our copy: start over from theirs.
                tracing::debug!(workflow = ?key, "conflict; reconciling again");
                return Ok(Requeue::requeue(Duration::from_millis(50)));
            }
            Err(e) => return Err(e.into()),
        }
    }
    ctx.metrics.workflow_phase(&key, &run_phase);
    for (warning, reason, message) in events {
        ctx.event(object, warning, &reason, &message).await;
    }
    if cached.run.is_finished() {
        // Finished workflows need no engine; the completed label routes
        // them to garbage collection.
        return Ok(Requeue::requeue(Duration::from_millis(10)));
    }
    ctx.put_run(key, cached);
    Ok(match requeue {
        Some(wait) => Requeue::requeue(wait.max(Duration::from_millis(10))),
        None => Requeue::await_change(),
    })
}

fn workflow_message(run: &Run) -> String {
    let status = run.workflow().status.as_ref();
    let phase = run.phase();
    match status
        .and_then(|s| s.message.as_deref())
        .filter(|m| !m.is_empty())
    {
        Some(message) => format!("Workflow {phase}: {message}"),
        None => format!("Workflow {phase}"),
    }
}

/// Reads and removes nothing: the intents the annotation holds. A malformed
/// annotation is reported (event) and ignored; the write removes it.
async fn intents_of(object: &DynamicObject, ctx: &Context) -> Vec<Intent> {
    let Some(text) = object
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_INTENTS))
    else {
        return Vec::new();
    };
    match serde_json::from_str::<Vec<Intent>>(text) {
        Ok(intents) => intents,
        Err(e) => {
            ctx.event(
                object,
                true,
                "InvalidIntent",
                &format!("annotation {ANNOTATION_INTENTS}: {e}; ignored"),
            )
            .await;
            Vec::new()
        }
    }
}

/// The observations of the workflow's pods and results that changed since
/// the last reconcile; pods missing under running nodes are confirmed with
/// the API server and reported deleted.
async fn observe(
    key: &WorkflowKey,
    cached: &mut Cached,
    ctx: &Context,
    out: &mut Vec<Observation>,
) -> Result<(), Error> {
    let uid = cached.run.workflow().metadata.uid.clone();
    let owned = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        // Objects of an older workflow of the same name are not ours.
        match (&uid, &meta.owner_references) {
            (Some(uid), Some(owners)) if !owners.is_empty() => owners.iter().any(|o| &o.uid == uid),
            _ => true,
        }
    };
    let mut present: HashMap<String, Arc<Pod>> = HashMap::new();
    for pod in ctx.pods.of(key) {
        if !owned(&pod.metadata) {
            continue;
        }
        let Some(node_id) = pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ANNOTATION_NODE_ID))
            .cloned()
        else {
            continue;
        };
        present.insert(node_id, pod);
    }
    let results = ctx.results.of(key);
    let known: std::collections::HashSet<String> = {
        let nodes = cached.run.workflow().status.as_ref().map(|s| &s.nodes);
        present
            .keys()
            .chain(results.iter().filter_map(|r| r.metadata.name.as_ref()))
            .filter(|id| nodes.is_some_and(|n| n.contains_key(id.as_str())))
            .cloned()
            .collect()
    };
    let known = |id: &str| known.contains(id);
    for (node_id, pod) in &present {
        if !known(node_id) {
            // A pod whose node is not (yet) in the status: created before a
            // restart lost the status write. Observed once the node exists.
            continue;
        }
        let observation = pod_observation(pod);
        if cached.pods.get(node_id) != Some(&observation) {
            cached.pods.insert(node_id.clone(), observation.clone());
            out.push(Observation::Pod {
                node_id: node_id.clone(),
                pod: Box::new(observation),
            });
        }
    }
    for result in results {
        if !owned(&result.metadata) {
            continue;
        }
        let Some(node_id) = result.metadata.name.clone().filter(|id| known(id)) else {
            continue;
        };
        let version = result.metadata.resource_version.clone().unwrap_or_default();
        if cached.results.get(&node_id) == Some(&version) {
            continue;
        }
        let typed: WorkflowTaskResult = match kinds::from_dynamic(&result) {
            Ok(typed) => typed,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable WorkflowTaskResult");
                continue;
            }
        };
        cached.results.insert(node_id.clone(), version);
        out.push(Observation::Result {
            node_id,
            result: Box::new(sluice_engine::result::observation(typed)),
        });
    }
    // Running pod nodes without a pod.
    let workflow = cached.run.workflow();
    let name = workflow.metadata.name.clone().unwrap_or_default();
    let mut missing = Vec::new();
    if let Some(status) = &workflow.status {
        for (id, node) in &status.nodes {
            if node.r#type.as_deref() != Some(node_type::POD)
                || node.phase.as_deref().is_some_and(phase::is_done)
                || present.contains_key(id)
            {
                continue;
            }
            let template = node.template_name.clone().unwrap_or_default();
            missing.push((
                id.clone(),
                names::pod_name(&name, &node.name, &template, id),
            ));
        }
    }
    for (node_id, pod_name) in missing {
        // Not in the watch's index: just created (the watch lags), or gone.
        // The API server decides.
        match ops::get_pod(ctx.client(), &key.0, &pod_name).await? {
            Some(pod) => {
                let observation = pod_observation(&pod);
                cached.pods.insert(node_id.clone(), observation.clone());
                out.push(Observation::Pod {
                    node_id,
                    pod: Box::new(observation),
                });
            }
            None => {
                cached.pods.remove(&node_id);
                out.push(Observation::PodDeleted { node_id });
            }
        }
    }
    Ok(())
}

/// A new engine for the object: templates and ConfigMaps it refers to are
/// read now.
async fn build(object: &DynamicObject, ctx: &Context) -> Result<Cached, Error> {
    let workflow: Workflow = kinds::from_dynamic(object)?;
    let env = environment(&workflow, object, ctx).await?;
    Ok(Cached {
        run: Run::new(workflow, env),
        resource_version: object.metadata.resource_version.clone().unwrap_or_default(),
        spec: object.data.get("spec").cloned().unwrap_or(Value::Null),
        status: object.data.get("status").cloned().unwrap_or(Value::Null),
        pods: HashMap::new(),
        results: HashMap::new(),
    })
}

impl Cached {
    /// Whether this engine was written after the object's version: etcd's
    /// resourceVersions increase, and the API server hands them out as
    /// decimal numbers (anything else is never called older).
    pub fn is_newer_than(&self, object: &DynamicObject) -> bool {
        let parse = |v: Option<&str>| v.and_then(|v| v.parse::<u64>().ok());
        match (
            parse(Some(self.resource_version.as_str())),
            parse(object.metadata.resource_version.as_deref()),
        ) {
            (Some(ours), Some(theirs)) => theirs < ours,
            _ => false,
        }
    }

    /// Whether this engine still matches the object: the same version, or
    /// only metadata or spec changed since (an intent, a label, `suspend`).
    pub fn matches(&self, object: &DynamicObject) -> bool {
        object.metadata.resource_version.as_deref() == Some(self.resource_version.as_str())
            || object.data.get("status").unwrap_or(&Value::Null) == &self.status
    }
}

/// Names of the ConfigMaps a workflow reads (`configMapKeyRef`), anywhere in
/// its spec.
fn config_map_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "configMapKeyRef"
                    && let Some(name) = v.get("name").and_then(Value::as_str)
                {
                    out.push(name.to_owned());
                }
                config_map_refs(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| config_map_refs(v, out)),
        _ => {}
    }
}

async fn environment(
    workflow: &Workflow,
    object: &DynamicObject,
    ctx: &Context,
) -> Result<Env, Error> {
    let namespace = object.metadata.namespace.clone().unwrap_or_default();
    let (workflow_templates, cluster_workflow_templates) = ctx.templates.specs(&namespace);
    let mut names = Vec::new();
    if let Some(spec) = object.data.get("spec") {
        config_map_refs(spec, &mut names);
    }
    for spec in workflow_templates
        .values()
        .chain(cluster_workflow_templates.values())
    {
        if let Ok(value) = serde_json::to_value(spec) {
            config_map_refs(&value, &mut names);
        }
    }
    let repository_map = workflow
        .spec
        .artifact_repository_ref
        .as_ref()
        .and_then(|r| r.config_map.clone())
        .unwrap_or_else(|| sluice_engine::repository::DEFAULT_CONFIG_MAP.to_owned());
    names.push(repository_map);
    names.sort();
    names.dedup();
    let api: kube::Api<ConfigMap> = kube::Api::namespaced(ctx.client().clone(), &namespace);
    let mut maps: BTreeMap<String, ConfigMapData> = BTreeMap::new();
    for name in names {
        if let Some(map) = api.get_opt(&name).await? {
            maps.insert(
                name,
                ConfigMapData {
                    data: map.data.unwrap_or_default(),
                    annotations: map.metadata.annotations.unwrap_or_default(),
                },
            );
        }
    }
    let lookup = |name: &str| maps.get(name).cloned();
    let config = ctx.config();
    let artifact_repository =
        match sluice_engine::repository::resolve_location(workflow, config, &lookup) {
            Ok(location) => location,
            Err(e) => {
                ctx.event(object, true, "ArtifactRepository", &e.to_string())
                    .await;
                None
            }
        };
    Ok(Env {
        config: config.clone(),
        local: false,
        workflow_templates,
        cluster_workflow_templates,
        config_maps: maps.into_iter().map(|(k, v)| (k, v.data)).collect(),
        artifact_repository,
        executor_token_secret: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_map_references_are_found_anywhere_in_the_spec() {
        let spec = serde_json::json!({
            "arguments": {"parameters": [{"name": "a", "valueFrom": {"configMapKeyRef": {"name": "one", "key": "k"}}}]},
            "templates": [{"inputs": {"parameters": [{"name": "b", "valueFrom": {"configMapKeyRef": {"name": "two", "key": "k"}}}]}}]
        });
        let mut names = Vec::new();
        config_map_refs(&spec, &mut names);
        assert_eq!(names, vec!["one", "two"]);
    }
}
