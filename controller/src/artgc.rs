//! Artifact garbage collection: the `workflows.argoproj.io/artifact-gc`
//! finalizer, as upstream.
//!
//! A workflow whose output artifacts have a GC strategy (their own
//! `artifactGC.strategy`, else the workflow's `spec.artifactGC.strategy`)
//! gets the finalizer with its first status write. When a strategy is due
//! (`OnWorkflowCompletion` once the workflow ends or is deleted,
//! `OnWorkflowDeletion` once it is deleted) the controller starts GC pods:
//! one per service account and pod metadata the artifacts ask for, running
//! `sluice-executor artifact-gc` with the workflow's credentials, so the
//! controller reads no Secret. A pod that succeeds marks its artifacts
//! `deleted`; one that fails leaves an `ArtifactGCError` condition and a
//! warning Event. The finalizer goes once every artifact is deleted, or,
//! with `forceFinalizerRemoval`, once every GC pod has ended; otherwise it
//! stays, and the condition says how to let the workflow go.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::core::DynamicObject;
use kube::runtime::controller::Action as Requeue;
use serde_json::{Value, json};
use sluice_api::types::{
    ArtGCStatus, Artifact, Condition, Workflow, WorkflowLevelArtifactGC, WorkflowSpec,
};
use sluice_engine::inject::{EXECUTOR_BINARY, InjectContext};
use sluice_engine::pod::artifacts;
use sluice_engine::pod::names::fnv32a;
use sluice_engine::protocol::{
    ENV_GC_ARTIFACTS, INJECTED_ANNOTATION, LABEL_COMPLETED, LABEL_WORKFLOW, SECRETS_DIR,
};
use sluice_engine::run::{compress_nodes, decompress_nodes, node_type};

use crate::{Context, Error, kinds, ops};

/// The finalizer that holds a workflow until its artifacts are deleted.
pub const FINALIZER: &str = "workflows.argoproj.io/artifact-gc";
pub use sluice_engine::protocol::{COMPONENT_ARTIFACT_GC as COMPONENT, LABEL_COMPONENT};
/// The strategy a GC pod carries out (upstream's annotation).
pub const ANNOTATION_STRATEGY: &str = "workflows.argoproj.io/artifact-gc-strategy";
/// The artifacts a GC pod deletes, as `[[node id, artifact name], ...]`.
pub const ANNOTATION_ARTIFACTS: &str = "sluice.dev/artifact-gc-artifacts";
/// The condition recording deletions that failed.
pub const CONDITION_ERROR: &str = "ArtifactGCError";
/// Artifacts per GC pod: its environment and annotation stay well under
/// the API server's object size limit.
const ARTIFACTS_PER_POD: usize = 200;

/// When a strategy's artifacts are deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Strategy {
    OnWorkflowCompletion,
    OnWorkflowDeletion,
}

impl Strategy {
    pub const ALL: [Strategy; 2] = [Strategy::OnWorkflowCompletion, Strategy::OnWorkflowDeletion];

    pub fn name(self) -> &'static str {
        match self {
            Strategy::OnWorkflowCompletion => "OnWorkflowCompletion",
            Strategy::OnWorkflowDeletion => "OnWorkflowDeletion",
        }
    }

    /// Upstream's abbreviation in GC pod names.
    fn abbreviation(self) -> &'static str {
        match self {
            Strategy::OnWorkflowCompletion => "wfcomp",
            Strategy::OnWorkflowDeletion => "wfdel",
        }
    }

    fn parse(text: &str) -> Option<Strategy> {
        Strategy::ALL.into_iter().find(|s| s.name() == text)
    }

    /// Whether the strategy is due for a workflow in this state.
    pub fn is_due(self, completed: bool, deleting: bool) -> bool {
        match self {
            Strategy::OnWorkflowCompletion => completed || deleting,
            Strategy::OnWorkflowDeletion => deleting,
        }
    }
}

/// The workflow-level settings: the workflow's own, else the configured
/// `workflowDefaults`.
pub fn workflow_level<'a>(
    spec: &'a WorkflowSpec,
    defaults: Option<&'a WorkflowSpec>,
) -> Option<&'a WorkflowLevelArtifactGC> {
    spec.artifact_gc
        .as_ref()
        .or_else(|| defaults.and_then(|d| d.artifact_gc.as_ref()))
}

/// The artifact's strategy: its own, else the workflow's; `None` for
/// `Never` and unset.
pub fn strategy_of(
    artifact: &Artifact,
    level: Option<&WorkflowLevelArtifactGC>,
) -> Option<Strategy> {
    let own = artifact
        .artifact_gc
        .as_ref()
        .and_then(|g| g.strategy.as_deref())
        .filter(|s| !s.is_empty());
    let text = own.or_else(|| level.and_then(|l| l.strategy.as_deref()))?;
    Strategy::parse(text)
}

/// Whether any output artifact of the workflow's templates has a strategy.
pub fn wants_finalizer(workflow: &Workflow, defaults: Option<&WorkflowSpec>) -> bool {
    let level = workflow_level(&workflow.spec, defaults);
    let stored = workflow
        .status
        .iter()
        .flat_map(|s| s.stored_templates.values());
    workflow
        .spec
        .templates
        .iter()
        .chain(stored)
        .filter_map(|t| t.outputs.as_ref())
        .flat_map(|o| &o.artifacts)
        .any(|a| strategy_of(a, level).is_some())
}

/// Who runs a GC pod: its service account and extra metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct PodInfo {
    pub service_account: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// The artifact's pod: the workflow-level `artifactGC` settings, overridden
/// by the artifact's; the workflow's service account when neither names one.
fn pod_info(
    artifact: &Artifact,
    level: Option<&WorkflowLevelArtifactGC>,
    spec: &WorkflowSpec,
) -> PodInfo {
    let mut info = PodInfo::default();
    if let Some(meta) = level.and_then(|l| l.pod_metadata.as_ref()) {
        info.labels.extend(meta.labels.clone());
        info.annotations.extend(meta.annotations.clone());
    }
    let own = artifact.artifact_gc.as_ref();
    if let Some(meta) = own.and_then(|g| g.pod_metadata.as_ref()) {
        info.labels.extend(meta.labels.clone());
        info.annotations.extend(meta.annotations.clone());
    }
    info.service_account = own
        .and_then(|g| g.service_account_name.clone())
        .or_else(|| level.and_then(|l| l.service_account_name.clone()))
        .or_else(|| spec.service_account_name.clone())
        .filter(|s| !s.is_empty());
    info
}

/// The artifacts one GC pod deletes.
#[derive(Clone, Debug, PartialEq)]
pub struct GcPod {
    pub name: String,
    pub strategy: Strategy,
    pub info: PodInfo,
    /// (node id, artifact) in status order.
    pub artifacts: Vec<(String, Artifact)>,
}

/// The GC pods of a strategy: the not yet deleted output artifacts of pod
/// nodes whose strategy it is, grouped by [`PodInfo`], named after the
/// workflow, the strategy and a hash of the group (deterministic, so a
/// restarted controller finds the pods it created).
pub fn plan(
    workflow: &Workflow,
    level: Option<&WorkflowLevelArtifactGC>,
    strategy: Strategy,
) -> Vec<GcPod> {
    let mut groups: BTreeMap<PodInfo, Vec<(String, Artifact)>> = BTreeMap::new();
    for (id, node) in workflow.status.iter().flat_map(|s| s.nodes.iter()) {
        if node.r#type.as_deref() != Some(node_type::POD) {
            continue;
        }
        for artifact in node.outputs.iter().flat_map(|o| &o.artifacts) {
            if artifact.deleted == Some(true) || strategy_of(artifact, level) != Some(strategy) {
                continue;
            }
            let located = serde_json::to_value(artifact).is_ok_and(|v| artifacts::has_location(&v));
            if !located {
                continue;
            }
            groups
                .entry(pod_info(artifact, level, &workflow.spec))
                .or_default()
                .push((id.clone(), artifact.clone()));
        }
    }
    let workflow_name = workflow.metadata.name.clone().unwrap_or_default();
    let prefix: String = workflow_name.chars().take(200).collect();
    let mut pods = Vec::new();
    for (info, artifacts) in groups {
        let hash = fnv32a(format!("{info:?}").as_bytes());
        for (i, chunk) in artifacts.chunks(ARTIFACTS_PER_POD).enumerate() {
            let mut name = format!("{prefix}-artgc-{}-{hash}", strategy.abbreviation());
            if i > 0 {
                name.push_str(&format!("-{i}"));
            }
            pods.push(GcPod {
                name,
                strategy,
                info: info.clone(),
                artifacts: chunk.to_vec(),
            });
        }
    }
    pods
}

/// The pod of a [`GcPod`]: the executor image running `artifact-gc`, as
/// the chosen service account, with the secrets the artifacts name mounted
/// where the executor's drivers read them, owned by the workflow.
pub fn build_pod(
    workflow: &Workflow,
    gc: &GcPod,
    executor: &InjectContext,
) -> Result<Pod, serde_json::Error> {
    let located: Vec<&Artifact> = gc.artifacts.iter().map(|(_, a)| a).collect();
    let ids: Vec<[&str; 2]> = gc
        .artifacts
        .iter()
        .map(|(id, a)| [id.as_str(), a.name.as_str()])
        .collect();
    let values = located
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()?;
    let volumes = artifacts::secret_volumes(values.iter().flat_map(artifacts::secret_refs));
    let mounts: Vec<Value> = volumes
        .iter()
        .filter_map(|v| v["name"].as_str())
        .map(|name| json!({"name": name, "mountPath": format!("{SECRETS_DIR}/{name}"), "readOnly": true}))
        .collect();
    let mut labels = gc.info.labels.clone();
    let workflow_name = workflow.metadata.name.clone().unwrap_or_default();
    labels.insert(LABEL_WORKFLOW.into(), workflow_name.clone());
    labels.insert(LABEL_COMPONENT.into(), COMPONENT.into());
    labels.insert(LABEL_COMPLETED.into(), "false".into());
    let mut annotations = gc.info.annotations.clone();
    annotations.insert(ANNOTATION_STRATEGY.into(), gc.strategy.name().into());
    annotations.insert(ANNOTATION_ARTIFACTS.into(), serde_json::to_string(&ids)?);
    // The executor is the image itself: nothing for the pod webhook to add.
    annotations.insert(INJECTED_ANNOTATION.into(), COMPONENT.into());
    let mut container = json!({
        "name": "main",
        "image": executor.image,
        "command": [EXECUTOR_BINARY, "artifact-gc"],
        "env": [{"name": ENV_GC_ARTIFACTS, "value": serde_json::to_string(&located)?}],
        "volumeMounts": mounts,
        "securityContext": executor.security_context,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    });
    if let Some(policy) = &executor.image_pull_policy {
        container["imagePullPolicy"] = json!(policy);
    }
    if let Some(resources) = &executor.resources {
        container["resources"] = serde_json::to_value(resources)?;
    }
    let mut spec = json!({
        "restartPolicy": "Never",
        "containers": [container],
        "volumes": volumes,
    });
    if let Some(account) = &gc.info.service_account {
        spec["serviceAccountName"] = json!(account);
    }
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": gc.name,
            "namespace": workflow.metadata.namespace,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [{
                "apiVersion": sluice_api::types::API_VERSION,
                "kind": "Workflow",
                "name": workflow_name,
                "uid": workflow.metadata.uid.clone().unwrap_or_default(),
            }],
        },
        "spec": spec,
    }))
}

/// Whether a pod is a GC pod.
pub fn is_gc_pod(pod: &Pod) -> bool {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(LABEL_COMPONENT))
        .is_some_and(|c| c == COMPONENT)
}

/// What a finished GC pod says: `Ok` when it deleted everything, else its
/// message.
fn outcome(pod: &Pod) -> Option<Result<(), String>> {
    let status = pod.status.as_ref()?;
    match status.phase.as_deref()? {
        "Succeeded" => Some(Ok(())),
        "Failed" => {
            let terminated = status
                .container_statuses
                .iter()
                .flatten()
                .find_map(|c| c.state.as_ref()?.terminated.as_ref());
            let message = terminated
                .and_then(|t| t.message.clone().or_else(|| t.reason.clone()))
                .or_else(|| status.message.clone())
                .unwrap_or_else(|| "the pod failed without a message".into());
            Some(Err(message.trim().to_owned()))
        }
        _ => None,
    }
}

/// The state of one workflow's artifact GC, changed by [`Gc::recoup`],
/// [`Gc::start`] and [`Gc::settle`], all pure.
#[derive(Debug)]
pub struct Gc {
    pub workflow: Workflow,
    pub status: ArtGCStatus,
    pub failures: Vec<String>,
    pub changed: bool,
}

impl Gc {
    pub fn new(mut workflow: Workflow) -> Result<Gc, String> {
        let status = workflow.status.get_or_insert_with(Default::default);
        if let Some(text) = status.compressed_nodes.as_deref() {
            status.nodes = decompress_nodes(text)?;
        }
        let gc_status = status.artifact_gc_status.clone().unwrap_or_default();
        Ok(Gc {
            workflow,
            status: gc_status,
            failures: Vec::new(),
            changed: false,
        })
    }

    /// Takes in the ended GC pods not yet recorded: a success marks its
    /// artifacts deleted, a failure is recorded.
    pub fn recoup(&mut self, pods: &[std::sync::Arc<Pod>]) {
        for pod in pods.iter().filter(|p| is_gc_pod(p)) {
            let name = pod.metadata.name.clone().unwrap_or_default();
            if self.status.pods_recouped.get(&name) == Some(&true) {
                continue;
            }
            let Some(outcome) = outcome(pod) else {
                continue;
            };
            match outcome {
                Ok(()) => {
                    let listed = pod
                        .metadata
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get(ANNOTATION_ARTIFACTS))
                        .and_then(|text| serde_json::from_str::<Vec<[String; 2]>>(text).ok())
                        .unwrap_or_default();
                    self.mark_deleted(&listed);
                }
                Err(message) => self
                    .failures
                    .push(format!("artifact GC pod {name} failed: {message}")),
            }
            self.status.pods_recouped.insert(name, true);
            self.changed = true;
        }
    }

    fn mark_deleted(&mut self, listed: &[[String; 2]]) {
        let Some(status) = self.workflow.status.as_mut() else {
            return;
        };
        for [id, name] in listed {
            let artifacts = status
                .nodes
                .get_mut(id)
                .and_then(|n| n.outputs.as_mut())
                .map(|o| o.artifacts.iter_mut());
            for artifact in artifacts.into_iter().flatten() {
                if &artifact.name == name {
                    artifact.deleted = Some(true);
                }
            }
        }
    }

    /// The GC pods of the strategies now due and not yet started; they are
    /// recorded as started (and not yet recouped).
    pub fn start(
        &mut self,
        level: Option<&WorkflowLevelArtifactGC>,
        completed: bool,
        deleting: bool,
    ) -> Vec<GcPod> {
        let mut pods = Vec::new();
        for strategy in Strategy::ALL {
            let processed = self.status.strategies_processed.get(strategy.name()) == Some(&true);
            if processed || !strategy.is_due(completed, deleting) {
                continue;
            }
            for pod in plan(&self.workflow, level, strategy) {
                self.status
                    .pods_recouped
                    .entry(pod.name.clone())
                    .or_insert(false);
                pods.push(pod);
            }
            self.status
                .strategies_processed
                .insert(strategy.name().into(), true);
            self.changed = true;
        }
        pods
    }

    /// A GC pod that could not be created: recorded as ended in failure.
    pub fn not_started(&mut self, name: &str, error: &str) {
        self.failures
            .push(format!("cannot create artifact GC pod {name}: {error}"));
        self.status.pods_recouped.insert(name.to_owned(), true);
        self.changed = true;
    }

    /// Whether the finalizer may go: no GC pod still running, no artifact
    /// left for a strategy not yet due, and every artifact deleted (or
    /// `forceFinalizerRemoval`). Failures become the `ArtifactGCError`
    /// condition.
    pub fn settle(
        &mut self,
        level: Option<&WorkflowLevelArtifactGC>,
        completed: bool,
        deleting: bool,
    ) -> bool {
        let running = self.status.pods_recouped.values().any(|done| !done);
        let mut left = false;
        let mut left_undue = false;
        for node in self.workflow.status.iter().flat_map(|s| s.nodes.values()) {
            if node.r#type.as_deref() != Some(node_type::POD) {
                continue;
            }
            for artifact in node.outputs.iter().flat_map(|o| &o.artifacts) {
                let Some(strategy) = strategy_of(artifact, level) else {
                    continue;
                };
                if artifact.deleted == Some(true) {
                    continue;
                }
                left = true;
                left_undue |= !strategy.is_due(completed, deleting);
            }
        }
        let force = level.and_then(|l| l.force_finalizer_removal) == Some(true);
        if !self.failures.is_empty() {
            let mut message = self.failures.join("; ");
            if !force {
                message.push_str(&format!(
                    "; the workflow keeps its finalizer {FINALIZER}: set spec.artifactGC.forceFinalizerRemoval: true, or remove the finalizer, to let it go"
                ));
            }
            let status = self.workflow.status.get_or_insert_with(Default::default);
            status
                .conditions
                .retain(|c| c.r#type.as_deref() != Some(CONDITION_ERROR));
            status.conditions.push(Condition {
                r#type: Some(CONDITION_ERROR.into()),
                status: Some("True".into()),
                message: Some(message),
                ..Condition::default()
            });
        }
        !running && !left_undue && (!left || force)
    }

    /// The status to store: nodes compressed again if they were.
    pub fn stored_status(mut self) -> Result<Value, serde_json::Error> {
        let status = self.workflow.status.get_or_insert_with(Default::default);
        status.artifact_gc_status = Some(self.status);
        if status.compressed_nodes.is_some() {
            status.compressed_nodes = Some(compress_nodes(&status.nodes));
            status.nodes = Default::default();
        }
        serde_json::to_value(status)
    }
}

/// Carries artifact GC forward for a finished or deleted workflow: `Some`
/// when it wrote the workflow (or must try again), `None` when there was
/// nothing to do (no artifact GC finalizer, or nothing changed).
pub async fn collect(
    object: &DynamicObject,
    ctx: &Context,
    deleting: bool,
) -> Result<Option<Requeue>, Error> {
    let finalizers = object.metadata.finalizers.clone().unwrap_or_default();
    if !finalizers.iter().any(|f| f == FINALIZER) {
        return Ok(None);
    }
    let workflow: Workflow = kinds::from_dynamic(object)?;
    let key = (
        object.metadata.namespace.clone().unwrap_or_default(),
        object.metadata.name.clone().unwrap_or_default(),
    );
    let completed = object
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(LABEL_COMPLETED))
        .is_some_and(|c| c == "true");
    let config = ctx.config();
    let defaults = config.workflow_defaults.as_ref().map(|d| &d.spec);
    let level = workflow_level(&workflow.spec, defaults).cloned();
    let level = level.as_ref();
    let mut gc = Gc::new(workflow)
        .map_err(|e| Error::Status(format!("{}/{}: status.compressedNodes: {e}", key.0, key.1)))?;
    gc.recoup(&ctx.pods.of(&key));
    let executor = InjectContext::from_config(config);
    for pod in gc.start(level, completed, deleting) {
        let built = build_pod(&gc.workflow, &pod, &executor).map_err(Error::Json)?;
        ctx.boundary("create-gc-pod").await;
        if let Err(e) = ops::create_pod(ctx.client(), &key.0, &built).await {
            gc.not_started(&pod.name, &e.to_string());
        }
    }
    let release = gc.settle(level, completed, deleting);
    let mut finalizers = finalizers;
    if release {
        finalizers.retain(|f| f != FINALIZER);
    }
    if !gc.changed && !release {
        return Ok(None);
    }
    let failures = gc.failures.clone();
    let mut value = serde_json::to_value(object).map_err(Error::Json)?;
    value["status"] = gc.stored_status().map_err(Error::Json)?;
    value["metadata"]["finalizers"] = json!(finalizers);
    let update: DynamicObject = serde_json::from_value(value).map_err(Error::Json)?;
    ctx.boundary("write-gc-status").await;
    match ops::replace_workflow(ctx.client(), &update).await {
        Ok(_) => {}
        Err(e) if ops::is_conflict(&e) => {
            return Ok(Some(Requeue::requeue(Duration::from_millis(50))));
        }
        Err(e) => return Err(e.into()),
    }
    for failure in failures {
        ctx.event(object, true, "ArtifactGCFailed", &failure).await;
    }
    Ok(Some(Requeue::await_change()))
}

#[cfg(test)]
mod tests;
