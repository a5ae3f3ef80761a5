//! The test's cluster: the shared real API server, our CRDs, a controller
//! running in this process (one per test, scoped to the test's namespace),
//! and a kubelet played by the test.
//!
//! The kubelet is sluice_e2e's simulated one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use serde_json::json;
use sluice_api::Config;
use sluice_controller::metrics::Metrics;
use sluice_controller::{Context, FaultHook, Options, kinds};
pub use sluice_e2e::kubelet::{Kubelet, kubelet};
use sluice_e2e::poll_until;

pub const TIMEOUT: Duration = Duration::from_secs(60);

/// The admin client of the shared server, with the CRDs installed once.
pub use sluice_e2e::crd_client as client;

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
