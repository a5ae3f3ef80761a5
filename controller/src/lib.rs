//! `sluice-controller`: runs Argo Workflows on a Kubernetes API server with
//! the Sluice engine.
//!
//! The reconcilers are thin: [`workflow`] turns the cluster's objects into
//! the engine's observations ([`observe`]) and its actions into requests
//! ([`ops`]); everything a workflow means is decided by
//! `sluice_engine::run`, the same engine `sluice run` drives locally.

pub mod admin;
pub mod artgc;
pub mod client;
pub mod cron;
pub mod custom;
pub mod gc;
pub mod index;
pub mod kinds;
pub mod metrics;
pub mod observe;
pub mod ops;
pub mod templates;
pub mod workflow;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Pod;
use kube::Resource as _;
use kube::api::Api;
use kube::core::DynamicObject;
use kube::runtime::Controller;
use kube::runtime::controller::{self, Action as Requeue};
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use sluice_api::Config;

use crate::index::{Index, WorkflowKey};
use crate::metrics::Metrics;
use crate::templates::Templates;
use crate::workflow::Cached;

/// What a reconcile can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Convert(#[from] kinds::ConvertError),
    #[error("json: {0}")]
    Json(serde_json::Error),
    #[error("workflow status: {0}")]
    Status(String),
}

/// Decides, at each action boundary (`create-pod`, `write-status`...),
/// whether the controller dies there: for tests that kill the controller at
/// every boundary in turn.
pub type FaultHook = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// What the reconcilers share.
pub struct Context {
    client: kube::Client,
    config: Config,
    pub pods: Index<Pod>,
    pub results: Index<DynamicObject>,
    pub templates: Templates,
    pub metrics: Arc<Metrics>,
    recorder: Recorder,
    runs: Mutex<HashMap<WorkflowKey, Cached>>,
    fault: Option<FaultHook>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}

/// Options of a controller.
#[derive(Clone, Debug)]
pub struct Options {
    /// Workflows reconciled at once.
    pub workers: u16,
    /// This instance's name in events.
    pub instance: String,
    /// Only this namespace's workflows (namespaced mode); all when `None`.
    pub namespace: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            workers: 8,
            instance: "sluice-controller".into(),
            namespace: None,
        }
    }
}

impl Context {
    pub fn new(
        client: kube::Client,
        config: Config,
        metrics: Arc<Metrics>,
        options: &Options,
    ) -> Self {
        let reporter = Reporter {
            controller: "sluice-controller".into(),
            instance: Some(options.instance.clone()),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            config,
            pods: Index::default(),
            results: Index::default(),
            templates: Templates::default(),
            metrics,
            runs: Mutex::default(),
            fault: None,
        }
    }

    /// The label selector of the objects this controller owns: those of its
    /// `instanceID`, or those without one when it has none (as upstream).
    pub fn instance_selector(&self) -> String {
        let label = sluice_engine::pod::LABEL_INSTANCE_ID;
        match self
            .config()
            .instance_id
            .as_deref()
            .filter(|id| !id.is_empty())
        {
            Some(id) => format!("{label}={id}"),
            None => format!("!{label}"),
        }
    }

    /// Installs a fault hook (tests).
    pub fn with_fault(mut self, hook: FaultHook) -> Self {
        self.fault = Some(hook);
        self
    }

    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// An action boundary: with a fault hook that says so, the controller
    /// stops here for good (as if the process died).
    pub async fn boundary(&self, name: &str) {
        if let Some(hook) = &self.fault
            && hook(name)
        {
            std::future::pending::<()>().await;
        }
    }

    /// The engine kept for the workflow, if it still matches the object;
    /// `Err(())` when the object is older than what this controller last
    /// wrote (the watch has not caught up: work on it would only conflict).
    fn take_run(&self, key: &WorkflowKey, object: &DynamicObject) -> Result<Option<Cached>, ()> {
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        let Some(cached) = runs.remove(key) else {
            return Ok(None);
        };
        if cached.is_newer_than(object) {
            runs.insert(key.clone(), cached);
            return Err(());
        }
        Ok(cached.matches(object).then_some(cached))
    }

    fn put_run(&self, key: WorkflowKey, cached: Cached) {
        self.runs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, cached);
    }

    fn forget(&self, key: &WorkflowKey) {
        self.runs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// Publishes a Kubernetes event about an object (failures are logged).
    pub async fn event(&self, object: &DynamicObject, warning: bool, reason: &str, message: &str) {
        let resource = match object.types.as_ref() {
            Some(t) if t.kind == "CronWorkflow" => kinds::resource("CronWorkflow"),
            _ => kinds::resource("Workflow"),
        };
        let reference = object.object_ref(&resource);
        let mut note = message.to_owned();
        if note.len() > 1000 {
            let mut end = 1000;
            while !note.is_char_boundary(end) {
                end -= 1;
            }
            note.truncate(end);
        }
        let event = KubeEvent {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.chars().take(128).collect(),
            note: Some(note),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, &reference).await {
            tracing::warn!(%error, reason, "event not published");
        }
    }
}

fn error_policy(_object: Arc<DynamicObject>, error: &Error, ctx: Arc<Context>) -> Requeue {
    ctx.metrics.error(match error {
        Error::Kube(_) => "KubernetesError",
        Error::Convert(_) | Error::Json(_) | Error::Status(_) => "InvalidObject",
    });
    Requeue::requeue(Duration::from_secs(2))
}

/// Runs the reconcilers until `shutdown` completes: watches the workflows'
/// pods and results (which trigger their workflow), the templates, and
/// the workflows; CronWorkflows run beside them.
pub async fn run(
    ctx: Arc<Context>,
    options: &Options,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client().clone();
    let workflows = kinds::resource("Workflow");
    let (sender, triggers) = futures::channel::mpsc::unbounded::<WorkflowKey>();
    let scoped = |resource: &kube::core::ApiResource| match &options.namespace {
        Some(namespace) => {
            Api::<DynamicObject>::namespaced_with(client.clone(), namespace, resource)
        }
        None => Api::all_with(client.clone(), resource),
    };
    let pods = ctx.pods.watch(
        match &options.namespace {
            Some(namespace) => Api::namespaced(client.clone(), namespace),
            None => Api::all(client.clone()),
        },
        index::trim_pod,
    );
    let results = ctx.results.watch(
        scoped(&kinds::resource("WorkflowTaskResult")),
        index::trim_dynamic,
    );
    let feeder = tokio::spawn(async move {
        let mut merged = futures::stream::select(pods.boxed(), results.boxed());
        while let Some(key) = merged.next().await {
            if sender.unbounded_send(key).is_err() {
                break;
            }
        }
    });
    let templates = ctx.templates.watch(&client, options.namespace.as_deref());
    let cron = tokio::spawn(cron::run(Arc::clone(&ctx), options.namespace.clone()));
    ctx.pods.wait_ready().await;
    ctx.results.wait_ready().await;
    ctx.templates.wait_ready().await;
    let gauges = tokio::spawn(pod_gauge(Arc::clone(&ctx)));
    tracing::info!("caches synced; reconciling");
    let resource = workflows.clone();
    let triggers = triggers.map(move |(namespace, name)| {
        ObjectRef::new_with(&name, resource.clone()).within(&namespace)
    });
    let owned = watcher::Config::default().labels(&ctx.instance_selector());
    Controller::new_with(scoped(&workflows), owned, workflows)
        .reconcile_on(triggers)
        .with_config(controller::Config::default().concurrency(options.workers))
        .graceful_shutdown_on(shutdown)
        .run(workflow::reconcile, error_policy, Arc::clone(&ctx))
        .for_each(|_| futures::future::ready(()))
        .await;
    feeder.abort();
    templates.abort();
    gauges.abort();
    cron.abort();
}

/// Keeps `argo_workflows_pods_gauge` current.
async fn pod_gauge(ctx: Arc<Context>) {
    loop {
        let mut counts: HashMap<String, i64> = HashMap::new();
        for pod in ctx.pods.all() {
            let phase = pod
                .status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_else(|| "Pending".into());
            *counts.entry(phase).or_default() += 1;
        }
        ctx.metrics.pods(&counts);
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}
