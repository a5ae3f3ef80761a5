//! A simulated kubelet for tests and benchmarks against the real API server
//! (which has none): it finishes each workflow pod of a namespace as its
//! main container's image says — `sim/exit:N` exits with N, `sim/hang`
//! keeps running until the pod is deleted — and, like the real `wait`
//! container, writes the node's WorkflowTaskResult (complete) before the
//! pod ends.

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt as _, watcher};
use serde_json::json;
use sluice_engine::protocol::{ANNOTATION_NODE_ID, LABEL_WORKFLOW};
use sluice_engine::result::{ResultOwner, task_result};

use crate::api_resource;

/// The kubelet of a namespace, stopped when dropped.
#[derive(Debug)]
pub struct Kubelet {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the kubelet of `namespace` on the current runtime.
pub fn kubelet(client: &kube::Client, namespace: &str) -> Kubelet {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let results: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        namespace,
        &api_resource("WorkflowTaskResult"),
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
            done.insert(name.clone());
            // Each pod on its own task, as a kubelet runs pods side by side.
            let (pods, results, namespace) = (pods.clone(), results.clone(), namespace.clone());
            tokio::spawn(async move { finish(pod, name, pods, results, namespace).await });
        }
    });
    Kubelet { task }
}

/// Plays one pod to its end, as its image says.
async fn finish(
    pod: Pod,
    name: String,
    pods: Api<Pod>,
    results: Api<DynamicObject>,
    namespace: String,
) {
    let Some(spec) = &pod.spec else { return };
    let image = spec
        .containers
        .iter()
        .find(|c| c.name == "main")
        .and_then(|c| c.image.clone())
        .unwrap_or_default();
    if image == "sim/hang" {
        let status = json!({"status": {"phase": "Running", "containerStatuses":
            statuses(spec, None)}});
        let _ = pods
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
            .await;
        return;
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
    // task_result sets apiVersion and kind.
    let Ok(object) =
        serde_json::to_value(&result).and_then(serde_json::from_value::<DynamicObject>)
    else {
        return;
    };
    let _ = results.create(&PostParams::default(), &object).await;
    let phase = if code == 0 { "Succeeded" } else { "Failed" };
    let status = json!({"status": {"phase": phase, "containerStatuses":
        statuses(spec, Some(code))}});
    let _ = pods
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
        .await;
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
