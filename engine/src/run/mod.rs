//! The workflow engine: `step(spec, status, observations, now) -> (status,
//! actions)`, shared by the Kubernetes controller and `sluice run`.
//!
//! The engine never does I/O and never reads a clock: a backend observes the
//! world (pods, results, operations a user asked for, the time), hands the
//! observations to [`Run::step`] and carries out the [`Action`]s it returns.
//! The same observations at the same `now` always give the same status and
//! actions.
//!
//! The status has upstream's shape (`nodes` keyed by upstream's node ids,
//! `Pod`/`Steps`/`StepGroup`/`DAG`/`TaskGroup`/`Retry`/`Skipped`/`Suspend`/
//! `Container` nodes with `boundaryID`, `children` and `outboundNodes`), so
//! Argo's CLI and UI can read a Sluice workflow.
//!
//! A [`Run`] keeps an index over the status (node names, parents, counts of
//! finished children) so that one observation costs what it changes: a pod
//! finishing touches its node and walks up its ancestors, without looking at
//! its thousands of siblings. [`step`] is the stateless form, rebuilding the
//! index once.

mod compress;
mod core;
mod exec;
mod ops;
#[cfg(test)]
mod tests;
mod vars;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod};
use sluice_api::config::Config;
use sluice_api::types::{ArtifactLocation, Outputs, Workflow, WorkflowSpec, WorkflowStatus};

pub use compress::{COMPRESS_THRESHOLD, compress_nodes, decompress_nodes, expand as expand_nodes};
pub use ops::resubmit;

/// Phases of a node and of a workflow, as upstream spells them.
pub mod phase {
    pub const PENDING: &str = "Pending";
    pub const RUNNING: &str = "Running";
    pub const SUCCEEDED: &str = "Succeeded";
    pub const FAILED: &str = "Failed";
    pub const ERROR: &str = "Error";
    pub const SKIPPED: &str = "Skipped";
    pub const OMITTED: &str = "Omitted";

    /// Whether a phase is final.
    pub fn is_done(phase: &str) -> bool {
        matches!(phase, SUCCEEDED | FAILED | ERROR | SKIPPED | OMITTED)
    }
}

/// Node types, as upstream spells them.
pub mod node_type {
    pub const POD: &str = "Pod";
    pub const CONTAINER: &str = "Container";
    pub const STEPS: &str = "Steps";
    pub const STEP_GROUP: &str = "StepGroup";
    pub const DAG: &str = "DAG";
    pub const TASK_GROUP: &str = "TaskGroup";
    pub const RETRY: &str = "Retry";
    pub const SKIPPED: &str = "Skipped";
    pub const SUSPEND: &str = "Suspend";
}

/// What the backend supplies besides the workflow: configuration and the
/// objects a workflow may refer to. Built once per workflow run.
#[derive(Clone, Debug, Default)]
pub struct Env {
    pub config: Config,
    /// `true` for `sluice run`: pods always get the executor from the builder.
    pub local: bool,
    /// The namespace's WorkflowTemplates, by name (for `templateRef` and
    /// `workflowTemplateRef`).
    pub workflow_templates: BTreeMap<String, WorkflowSpec>,
    /// ClusterWorkflowTemplates, by name.
    pub cluster_workflow_templates: BTreeMap<String, WorkflowSpec>,
    /// ConfigMaps the workflow may read (`valueFrom.configMapKeyRef`): name
    /// to data. A key missing here fails the parameter that needs it.
    pub config_maps: BTreeMap<String, BTreeMap<String, String>>,
    /// The workflow's artifact repository as a location template
    /// ([`crate::repository::resolve_location`]), when it has one.
    pub artifact_repository: Option<ArtifactLocation>,
    /// The executor service account's token secret, when the backend knows it.
    pub executor_token_secret: Option<String>,
}

/// A container's state, as the backend saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ContainerState {
    #[default]
    Waiting,
    /// Waiting with a reason (`ImagePullBackOff`, `CreateContainerConfigError`...).
    WaitingReason {
        reason: String,
        message: String,
    },
    Running,
    Terminated {
        exit_code: i32,
        /// `Error`, `OOMKilled`, `Completed`...
        reason: String,
        message: String,
    },
}

/// One container of a pod.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerObservation {
    pub name: String,
    pub state: ContainerState,
}

/// A pod's phase, as Kubernetes reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PodPhase {
    #[default]
    Pending,
    Running,
    Succeeded,
    Failed,
    Unknown,
}

/// What the backend saw of one pod.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodObservation {
    pub phase: PodPhase,
    /// The pod's `status.reason` (`Evicted`, `DeadlineExceeded`...).
    pub reason: String,
    pub message: String,
    /// Why a pending pod is not starting (`Unschedulable: ...`), if known.
    pub pending_reason: Option<String>,
    /// Init containers (the executor's `init` first) and their states.
    pub init_containers: Vec<ContainerObservation>,
    /// Main containers, sidecars and `wait`.
    pub containers: Vec<ContainerObservation>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub host_node_name: Option<String>,
    pub pod_ip: Option<String>,
}

/// A node's result (the `WorkflowTaskResult` the executor wrote).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResultObservation {
    pub outputs: Option<Outputs>,
    pub progress: Option<String>,
    /// Why an output failed, when one did.
    pub failure: Option<String>,
    /// The executor finished writing it.
    pub complete: bool,
}

/// Something the backend saw, handed to [`Run::step`].
#[derive(Clone, Debug, PartialEq)]
pub enum Observation {
    /// A pod's state (only the latest per node matters).
    Pod {
        node_id: String,
        pod: Box<PodObservation>,
    },
    /// The pod of a node is gone (deleted, evicted and collected).
    PodDeleted { node_id: String },
    /// A node's result.
    Result {
        node_id: String,
        result: Box<ResultObservation>,
    },
    /// A new spec: `suspend`, `shutdown`, `activeDeadlineSeconds` and
    /// parameters take effect; templates already running keep theirs.
    SpecChanged(Box<WorkflowSpec>),
    /// An operation a user asked for.
    Intent(Intent),
    /// Time passed: deadlines, backoffs and suspend durations are checked.
    Tick,
}

/// An operation a user asked for; `sluice` and the controller turn verbs into
/// these, and the engine applies them the same way in both backends. As
/// JSON (how backends store them): `{"intent": "resume", "node": ...}`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "intent", rename_all = "camelCase")]
pub enum Intent {
    /// Resume suspended nodes (all, or those whose name matches
    /// `node`), supplying output parameters for suspend templates.
    Resume {
        #[serde(default)]
        node: Option<String>,
        #[serde(default)]
        parameters: BTreeMap<String, String>,
    },
    /// Suspend the workflow (`spec.suspend: true`).
    Suspend,
    /// Stop: no new nodes, running pods get SIGTERM, exit handlers run.
    Stop {
        #[serde(default)]
        message: Option<String>,
    },
    /// Terminate: as stop, but exit handlers do not run.
    Terminate {
        #[serde(default)]
        message: Option<String>,
    },
    /// Retry a finished workflow: failed nodes (and, with
    /// `restart_successful`, succeeded ones matching `node`) and their
    /// descendants are reset and their pods deleted.
    #[serde(rename_all = "camelCase")]
    Retry {
        #[serde(default)]
        node: Option<String>,
        #[serde(default)]
        restart_successful: bool,
        #[serde(default)]
        parameters: BTreeMap<String, String>,
    },
}

/// Something the backend must do, returned by [`Run::step`].
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Create the pod running a node (and its template ConfigMap first).
    CreatePod {
        node_id: String,
        pod: Box<Pod>,
        template_config_map: Option<Box<ConfigMap>>,
    },
    /// Delete a node's pod (retry, or pod GC).
    DeletePod { node_id: String, pod_name: String },
    /// Send a signal to a pod's main containers (`stop`, `terminate`,
    /// deadlines): the executor's `emissary` forwards it.
    Signal {
        node_id: String,
        pod_name: String,
        signal: i32,
    },
    /// Create a claim from `volumeClaimTemplates`.
    CreateClaim(Box<PersistentVolumeClaim>),
    /// Delete a claim the workflow created.
    DeleteClaim { name: String },
    /// Call [`Run::step`] again at this time (with [`Observation::Tick`]).
    RequeueAt(DateTime<Utc>),
    /// Something worth a Kubernetes event / a log line.
    Event {
        warning: bool,
        reason: String,
        message: String,
    },
    /// The workflow reached a final phase.
    Finished { phase: String },
}

/// SIGTERM, sent to stop a node's containers.
pub const SIGTERM: i32 = 15;
/// SIGKILL, sent when a stopped container outlives its grace period.
pub const SIGKILL: i32 = 9;

/// A workflow being run: the spec, the status and an index over it.
#[derive(Debug)]
pub struct Run {
    inner: core::Engine,
}

impl Run {
    /// Starts from a workflow as stored (with or without a status; a
    /// compressed status is expanded). A workflow that cannot run at all
    /// (no entrypoint, a missing `workflowTemplateRef`...) ends in `Error`
    /// at its first step, the message naming the field.
    pub fn new(workflow: Workflow, env: Env) -> Run {
        Run {
            inner: core::Engine::new(workflow, env),
        }
    }

    /// Applies observations at `now` and returns what to do.
    /// An operation (retry, resume) may reset nodes that only a later pass
    /// starts: with an intent among the observations, the engine takes a
    /// second pass at the same `now`, so backends need not.
    pub fn step(&mut self, observations: Vec<Observation>, now: DateTime<Utc>) -> Vec<Action> {
        let intent = observations
            .iter()
            .any(|o| matches!(o, Observation::Intent(_)));
        let mut actions = self.inner.step(observations, now);
        if intent {
            actions.extend(self.inner.step(vec![Observation::Tick], now));
        }
        actions
    }

    /// The workflow with its current status (nodes uncompressed).
    pub fn workflow(&self) -> &Workflow {
        self.inner.workflow()
    }

    /// The workflow to store: nodes compressed past
    /// [`COMPRESS_THRESHOLD`] bytes.
    pub fn to_stored(&self) -> Workflow {
        compress::for_storage(self.inner.workflow())
    }

    /// Whether the workflow reached a final phase.
    pub fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }

    /// The workflow's phase (`Pending` before the first step).
    pub fn phase(&self) -> &str {
        self.inner.phase()
    }
}

/// The stateless form of [`Run::step`]: the new status and the actions.
pub fn step(
    workflow: &Workflow,
    env: &Env,
    observations: Vec<Observation>,
    now: DateTime<Utc>,
) -> (WorkflowStatus, Vec<Action>) {
    let mut run = Run::new(workflow.clone(), env.clone());
    let actions = run.step(observations, now);
    let status = *run.inner.into_workflow().status.unwrap_or_default();
    (status, actions)
}
