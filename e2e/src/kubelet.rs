//! A simulated kubelet for tests and benchmarks against the real API server
//! (which has none): it finishes each workflow pod of a namespace as its
//! main container's image says — `sim/exit:N` exits with N, `sim/hang`
//! keeps running until the pod is deleted — and, like the real `wait`
//! container, writes the node's WorkflowTaskResult (complete) before the
//! pod ends. Output artifacts the template locates completely (an S3
//! bucket and key) are reported as saved there: the test puts the objects.
//!
//! Artifact-GC pods run for real, when the kubelet is given the
//! `sluice-executor` binary: the pod's command with the binary in its
//! place, its environment, and its secret volumes written out from the
//! API server's Secrets; the termination message becomes the container's.

use futures::StreamExt as _;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt as _, watcher};
use serde_json::json;
use sluice_api::types::{Outputs, Template};
use sluice_engine::protocol::{
    ANNOTATION_NODE_ID, COMPONENT_ARTIFACT_GC, ENV_SECRETS_DIR, ENV_TEMPLATE, ENV_TERMINATION_LOG,
    LABEL_COMPONENT, LABEL_WORKFLOW, SECRETS_DIR,
};
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
    start(client, namespace, None)
}

/// A kubelet that also runs artifact-GC pods with `executor`.
pub fn kubelet_with_executor(client: &kube::Client, namespace: &str, executor: PathBuf) -> Kubelet {
    start(client, namespace, Some(executor))
}

fn start(client: &kube::Client, namespace: &str, executor: Option<PathBuf>) -> Kubelet {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
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
            if is_gc_pod(&pod) {
                let (secrets, executor) = (secrets.clone(), executor.clone());
                tokio::spawn(async move { run_gc(pod, name, pods, secrets, executor).await });
                continue;
            }
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
    let outputs = if code == 0 {
        located_outputs(spec)
    } else {
        None
    };
    let result = task_result(&owner, outputs, None, None, true);
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

/// The template's output artifacts that name a complete S3 location, as
/// the `wait` container reports them once saved.
fn located_outputs(spec: &k8s_openapi::api::core::v1::PodSpec) -> Option<Outputs> {
    let text = spec
        .containers
        .iter()
        .flat_map(|c| c.env.iter().flatten())
        .find(|e| e.name == ENV_TEMPLATE)?
        .value
        .clone()?;
    let template: Template = serde_json::from_str(&text).ok()?;
    let artifacts: Vec<_> = template
        .outputs?
        .artifacts
        .into_iter()
        .filter(|a| {
            a.s3.as_ref()
                .is_some_and(|s3| s3.bucket.is_some() && s3.key.is_some())
        })
        .collect();
    (!artifacts.is_empty()).then(|| Outputs {
        artifacts,
        ..Outputs::default()
    })
}

fn is_gc_pod(pod: &Pod) -> bool {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(LABEL_COMPONENT))
        .is_some_and(|c| c == COMPONENT_ARTIFACT_GC)
}

/// Runs an artifact-GC pod's main container with the real executor.
async fn run_gc(
    pod: Pod,
    name: String,
    pods: Api<Pod>,
    secrets: Api<Secret>,
    executor: Option<PathBuf>,
) {
    let (code, message) = match executor {
        Some(executor) => match execute(&pod, &secrets, &executor).await {
            Ok(outcome) => outcome,
            Err(e) => (1, format!("simulated kubelet: {e}")),
        },
        None => (
            1,
            "simulated kubelet: no executor binary to run this pod".into(),
        ),
    };
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let status = json!({"status": {
        "phase": if code == 0 { "Succeeded" } else { "Failed" },
        "containerStatuses": [{"name": "main", "image": "", "imageID": "", "ready": false,
            "restartCount": 0, "state": {"terminated": {"exitCode": code, "startedAt": now,
            "finishedAt": now, "message": message,
            "reason": if code == 0 { "Completed" } else { "Error" }}}}]}});
    let _ = pods
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
        .await;
}

/// The exit code and termination message of the pod's main container.
async fn execute(
    pod: &Pod,
    secrets: &Api<Secret>,
    executor: &Path,
) -> Result<(i32, String), String> {
    let spec = pod.spec.as_ref().ok_or("pod without spec")?;
    let main = spec
        .containers
        .iter()
        .find(|c| c.name == "main")
        .ok_or("pod without a main container")?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let root = dir.path().join("secrets");
    // Each secret volume mounted under SECRETS_DIR, written out.
    for mount in main.volume_mounts.iter().flatten() {
        let Some(under) = mount.mount_path.strip_prefix(SECRETS_DIR) else {
            continue;
        };
        let Some(volume) = spec.volumes.iter().flatten().find(|v| v.name == mount.name) else {
            continue;
        };
        let Some(source) = &volume.secret else {
            continue;
        };
        let secret_name = source.secret_name.clone().unwrap_or_default();
        let secret = secrets
            .get(&secret_name)
            .await
            .map_err(|e| format!("secret {secret_name}: {e}"))?;
        let data = secret.data.unwrap_or_default();
        let target = root.join(under.trim_start_matches('/'));
        std::fs::create_dir_all(&target).map_err(|e| e.to_string())?;
        let items: Vec<(String, String)> = match &source.items {
            Some(items) => items
                .iter()
                .map(|i| (i.key.clone(), i.path.clone()))
                .collect(),
            None => data.keys().map(|k| (k.clone(), k.clone())).collect(),
        };
        for (key, path) in items {
            let value = data
                .get(&key)
                .ok_or_else(|| format!("secret {secret_name} has no key {key}"))?;
            std::fs::write(target.join(path), &value.0).map_err(|e| e.to_string())?;
        }
    }
    let log = dir.path().join("termination-log");
    let args = main
        .command
        .iter()
        .flatten()
        .skip(1)
        .chain(main.args.iter().flatten());
    let env = main
        .env
        .iter()
        .flatten()
        .filter_map(|e| Some((e.name.clone(), e.value.clone()?)));
    let output = tokio::process::Command::new(executor)
        .args(args)
        .env_clear()
        .envs(env)
        .env(ENV_SECRETS_DIR, &root)
        .env(ENV_TERMINATION_LOG, &log)
        .output()
        .await
        .map_err(|e| format!("{}: {e}", executor.display()))?;
    let message = std::fs::read_to_string(&log)
        .unwrap_or_else(|_| String::from_utf8_lossy(&output.stderr).into_owned());
    Ok((output.status.code().unwrap_or(1), message))
}
