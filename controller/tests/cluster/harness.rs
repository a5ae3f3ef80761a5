//! The test's cluster: the shared real API server, our CRDs, a controller
//! running in this process (one per test, scoped to the test's namespace),
//! and a kubelet played by the test.
//!
//! The simulated kubelet finishes each workflow pod as its main container's
//! image says: `sim/exit:N` exits with N, `sim/hang` keeps running until the
//! pod is deleted. Like the real `wait` container, it writes the node's
//! WorkflowTaskResult (complete) before the pod ends.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt as _, watcher};
use serde_json::json;
use sluice_api::Config;
use sluice_controller::metrics::Metrics;
use sluice_controller::{Context, FaultHook, Options, kinds};
use sluice_e2e::{install_crds, poll_until, shared_apiserver};
use sluice_engine::protocol::{ANNOTATION_NODE_ID, LABEL_WORKFLOW};
use sluice_engine::result::{ResultOwner, task_result};
use tokio::sync::OnceCell;

pub const TIMEOUT: Duration = Duration::from_secs(60);

/// The admin client of the shared server, with the CRDs installed once.
pub async fn client() -> kube::Client {
    static READY: OnceCell<()> = OnceCell::const_new();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = shared_apiserver().client().await.expect("client");
    READY
        .get_or_init(|| async {
            install_crds(&client).await.expect("CRDs");
        })
        .await;
    client
}

/// A fresh namespace.
pub async fn namespace(client: &kube::Client, name: &str) -> String {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).expect("ns");
    api.create(&PostParams::default(), &ns)
        .await
        .expect("namespace");
    name.to_owned()
}

/// A controller running in this process, stopped when dropped.
pub struct Controller {
    task: tokio::task::JoinHandle<()>,
    pub ctx: Arc<Context>,
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn controller(
    client: &kube::Client,
    namespace: &str,
    fault: Option<FaultHook>,
) -> Controller {
    controller_with(client, namespace, fault, Config::default()).await
}

pub async fn controller_with(
    client: &kube::Client,
    namespace: &str,
    fault: Option<FaultHook>,
    config: Config,
) -> Controller {
    let options = Options {
        workers: 4,
        instance: format!("test-{namespace}"),
        namespace: Some(namespace.to_owned()),
    };
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let mut ctx = Context::new(client.clone(), config, metrics, &options);
    if let Some(fault) = fault {
        ctx = ctx.with_fault(fault);
    }
    let ctx = Arc::new(ctx);
    let run_ctx = Arc::clone(&ctx);
    let task = tokio::spawn(async move {
        sluice_controller::run(run_ctx, &options, std::future::pending()).await;
    });
    Controller { task, ctx }
}

/// The kubelet of a namespace, stopped when dropped.
pub struct Kubelet {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn kubelet(client: &kube::Client, namespace: &str) -> Kubelet {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let results: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        namespace,
        &kinds::resource("WorkflowTaskResult"),
    );
    let namespace = namespace.to_owned();
    let task = tokio::spawn(async move {
        let mut events = watcher::watcher(
            pods.clone(),
            watcher::Config::default().labels(LABEL_WORKFLOW),
        )
        .default_backoff()
        .applied_objects()
        .boxed();
        let mut done = std::collections::BTreeSet::new();
        while let Some(Ok(pod)) = events.next().await {
            let name = pod.metadata.name.clone().unwrap_or_default();
            if pod.metadata.deletion_timestamp.is_some() || done.contains(&name) {
                continue;
            }
            let Some(spec) = &pod.spec else { continue };
            let image = spec
                .containers
                .iter()
                .find(|c| c.name == "main")
                .and_then(|c| c.image.clone())
                .unwrap_or_default();
            done.insert(name.clone());
            if image == "sim/hang" {
                let status = json!({"status": {"phase": "Running", "containerStatuses":
                    statuses(spec, None)}});
                let _ = pods
                    .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                    .await;
                continue;
            }
            let code: i32 = image
                .strip_prefix("sim/exit:")
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let annotations = pod.metadata.annotations.clone().unwrap_or_default();
            let labels = pod.metadata.labels.clone().unwrap_or_default();
            let owner = ResultOwner {
                namespace: namespace.clone(),
                workflow_name: labels.get(LABEL_WORKFLOW).cloned().unwrap_or_default(),
                workflow_uid: pod
                    .metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .next()
                    .map(|o| o.uid.clone())
                    .unwrap_or_default(),
                node_id: annotations
                    .get(ANNOTATION_NODE_ID)
                    .cloned()
                    .unwrap_or_default(),
            };
            let result = task_result(&owner, None, None, None, true);
            let object =
                kinds::to_dynamic(&result, &kinds::resource("WorkflowTaskResult")).expect("result");
            let _ = results.create(&PostParams::default(), &object).await;
            let phase = if code == 0 { "Succeeded" } else { "Failed" };
            let status = json!({"status": {"phase": phase, "containerStatuses":
                statuses(spec, Some(code))}});
            let _ = pods
                .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                .await;
        }
    });
    Kubelet { task }
}

fn statuses(spec: &k8s_openapi::api::core::v1::PodSpec, code: Option<i32>) -> serde_json::Value {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    spec.containers
        .iter()
        .map(|c| {
            let state = match code {
                None => json!({"running": {"startedAt": now}}),
                Some(code) => {
                    let code = if c.name == "main" { code } else { 0 };
                    json!({"terminated": {"exitCode": code, "startedAt": now, "finishedAt": now,
                        "reason": if code == 0 { "Completed" } else { "Error" }}})
                }
            };
            json!({"name": c.name, "image": c.image, "imageID": "", "ready": false,
                "restartCount": 0, "state": state})
        })
        .collect()
}

/// A test's world: a namespace with a kubelet and a controller, and the
/// workflow submitted there. The kubelet stops with the controller.
pub async fn scenario(
    namespace_name: &str,
    yaml: &str,
) -> (kube::Client, String, String, (Controller, Kubelet)) {
    let client = client().await;
    let ns = namespace(&client, namespace_name).await;
    let kubelet = kubelet(&client, &ns);
    let controller = controller(&client, &ns, None).await;
    let name = submit(&client, &ns, yaml).await;
    (client, ns, name, (controller, kubelet))
}

/// Submits a workflow from YAML into the namespace.
pub async fn submit(client: &kube::Client, namespace: &str, yaml: &str) -> String {
    let mut value: serde_json::Value = serde_yaml_ng::from_str(yaml).expect("yaml");
    value["metadata"]["namespace"] = json!(namespace);
    let object: DynamicObject = serde_json::from_value(value).expect("object");
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &kinds::resource("Workflow"));
    let created = api
        .create(&PostParams::default(), &object)
        .await
        .expect("create workflow");
    created.metadata.name.unwrap_or_default()
}

pub fn workflows(client: &kube::Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, &kinds::resource("Workflow"))
}

/// Waits for the workflow to reach one of `phases`; returns it.
pub async fn wait_phase(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    phases: &[&str],
) -> DynamicObject {
    let api = workflows(client, namespace);
    let result = poll_until(
        &format!("workflow {name} to reach {phases:?}"),
        TIMEOUT,
        || async {
            let wf = api.get(name).await.ok()?;
            let phase = wf.data["status"]["phase"].as_str()?;
            phases.contains(&phase).then_some(wf)
        },
    )
    .await;
    match result {
        Ok(wf) => wf,
        Err(e) => {
            let now = api.get(name).await.ok();
            panic!(
                "{e}; workflow now: {}",
                now.map(|w| serde_json::to_string_pretty(&w.data["status"]).unwrap_or_default())
                    .unwrap_or_default()
            )
        }
    }
}

/// Waits until `check` holds for the workflow.
pub async fn wait_for(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    what: &str,
    check: impl Fn(&DynamicObject) -> bool,
) -> DynamicObject {
    let api = workflows(client, namespace);
    let check = &check;
    let api = &api;
    poll_until(what, TIMEOUT, || async move {
        let wf = api.get(name).await.ok()?;
        check(&wf).then_some(wf)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The workflow's pods by name.
pub async fn pods(client: &kube::Client, namespace: &str) -> BTreeMap<String, Pod> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    api.list(&ListParams::default())
        .await
        .expect("pods")
        .items
        .into_iter()
        .map(|p| (p.metadata.name.clone().unwrap_or_default(), p))
        .collect()
}

/// The nodes of a workflow's status, by display name: `(type, phase)`.
pub fn nodes(wf: &DynamicObject) -> BTreeMap<String, (String, String)> {
    wf.data["status"]["nodes"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, n)| {
            (
                n["displayName"].as_str().unwrap_or_default().to_owned(),
                (
                    n["type"].as_str().unwrap_or_default().to_owned(),
                    n["phase"].as_str().unwrap_or_default().to_owned(),
                ),
            )
        })
        .collect()
}
