//! `sluice logs NAME`: each pod node's log lines, prefixed with the node's
//! display name, in the order the nodes started. From the pod's log endpoint
//! while the pod exists; once it is gone, from the node's archived log (the
//! `<container>-logs` output artifact the executor's `wait` saves when the
//! artifact repository has `archiveLogs`), read through the executor's
//! artifact drivers with the secrets the location names.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use futures::{AsyncBufRead, AsyncBufReadExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, ListParams, LogParams};
use sluice_api::types::{Artifact, NodeStatus, Workflow};
use sluice_engine::protocol::{ANNOTATION_NODE_ID, LABEL_WORKFLOW};
use sluice_engine::run::node_type;
use sluice_executor::drivers::driver_for;
use sluice_executor::secrets::Secrets;

use super::{Cluster, typed};
use crate::local::tree::display_name;

/// `sluice logs`.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// The container (default main).
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// Keep printing as the workflow runs, until it ends.
    #[arg(short = 'f', long)]
    pub follow: bool,
}

/// The request for a pod's log.
fn params(container: &str, follow: bool) -> LogParams {
    LogParams {
        container: Some(container.to_owned()),
        follow,
        ..LogParams::default()
    }
}

/// A pod's log, whole.
pub async fn pod_log(
    client: &kube::Client,
    namespace: &str,
    pod: &str,
    container: &str,
) -> kube::Result<String> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    api.logs(pod, &params(container, false)).await
}

/// A pod's log as it is written, until the container ends.
pub async fn pod_log_stream(
    client: &kube::Client,
    namespace: &str,
    pod: &str,
    container: &str,
) -> kube::Result<impl AsyncBufRead + use<>> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    api.log_stream(pod, &params(container, true)).await
}

/// The workflow's pod nodes, in the order they started.
fn pod_nodes(wf: &Workflow) -> Vec<(String, NodeStatus)> {
    let mut nodes: Vec<(String, NodeStatus)> = wf
        .status
        .iter()
        .flat_map(|s| &s.nodes)
        .filter(|(_, n)| n.r#type.as_deref() == Some(node_type::POD))
        .map(|(id, n)| (id.clone(), n.clone()))
        .collect();
    nodes.sort_by(|a, b| (&a.1.started_at, &a.0).cmp(&(&b.1.started_at, &b.0)));
    nodes
}

/// The workflow's pods, by node id.
async fn pods_by_node(cluster: &Cluster, name: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let pods = api
        .list_metadata(&ListParams::default().labels(&format!("{LABEL_WORKFLOW}={name}")))
        .await
        .map_err(|e| cluster.error(e, "pods of workflow", name))?;
    Ok(pods
        .items
        .into_iter()
        .filter_map(|p| {
            let node = p.metadata.annotations?.get(ANNOTATION_NODE_ID)?.clone();
            Some((node, p.metadata.name?))
        })
        .collect())
}

fn prefixed(prefix: &str, text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        out.push_str(prefix);
        out.push_str(": ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

pub async fn logs(cluster: &Cluster, name: &str, args: &LogsArgs) -> anyhow::Result<ExitCode> {
    let container = args.container.as_deref().unwrap_or("main");
    if args.follow {
        return follow(cluster, name, container).await;
    }
    let (text, missing) = collect(cluster, name, container).await?;
    crate::report::write_stdout(&text)?;
    if !missing.is_empty() {
        eprintln!(
            "sluice: no logs of {} (container {container}): not started yet, or the pod is gone and no archived log was recorded (archiveLogs)",
            missing.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Every pod node's log of `container`, prefixed; and the display names of
/// the nodes that had none to read.
async fn collect(
    cluster: &Cluster,
    name: &str,
    container: &str,
) -> anyhow::Result<(String, Vec<String>)> {
    let wf = typed(&cluster.workflow(name).await?)?;
    let pods = pods_by_node(cluster, name).await?;
    let mut out = String::new();
    let mut missing = Vec::new();
    for (id, node) in pod_nodes(&wf) {
        let text = match pods.get(&id) {
            Some(pod) => {
                match pod_log(&cluster.client, &cluster.namespace, pod, container).await {
                    Ok(text) => Some(text),
                    // Gone since the list: the archive may have it.
                    Err(kube::Error::Api(s)) if s.code == 404 => {
                        archived_log(cluster, &node, container).await?
                    }
                    // The container has not started.
                    Err(kube::Error::Api(s)) if s.code == 400 => None,
                    Err(e) => return Err(cluster.error(e, "pod", pod)),
                }
            }
            None => archived_log(cluster, &node, container).await?,
        };
        match text {
            Some(text) => out.push_str(&prefixed(display_name(&node), &text)),
            None => missing.push(display_name(&node).to_owned()),
        }
    }
    Ok((out, missing))
}

/// How often `logs --follow` looks for new pods.
const FOLLOW_INTERVAL: Duration = Duration::from_secs(1);

/// Streams every pod's log as pods appear, until the workflow has ended and
/// every stream is done.
async fn follow(cluster: &Cluster, name: &str, container: &str) -> anyhow::Result<ExitCode> {
    let mut streams = tokio::task::JoinSet::new();
    let mut seen = BTreeSet::new();
    loop {
        let object = cluster.workflow(name).await?;
        let wf = typed(&object)?;
        let done = wf
            .status
            .as_ref()
            .and_then(|s| s.finished_at.as_ref())
            .is_some();
        let pods = pods_by_node(cluster, name).await?;
        for (id, node) in pod_nodes(&wf) {
            if seen.contains(&id) {
                continue;
            }
            let prefix = display_name(&node).to_owned();
            let Some(pod) = pods.get(&id).cloned() else {
                // Finished and gone: its archive, once.
                if node.finished_at.is_some() {
                    seen.insert(id);
                    if let Some(text) = archived_log(cluster, &node, container).await? {
                        crate::report::write_stdout(&prefixed(&prefix, &text))?;
                    }
                }
                continue;
            };
            // A pod whose container has not started answers 400: later.
            let (client, namespace, container) = (
                cluster.client.clone(),
                cluster.namespace.clone(),
                container.to_owned(),
            );
            match pod_log_stream(&client, &namespace, &pod, &container).await {
                Ok(stream) => {
                    seen.insert(id);
                    streams.spawn(async move {
                        let mut lines = stream.lines();
                        while let Ok(Some(line)) = lines.try_next().await {
                            let _ = crate::report::write_stdout(&prefixed(&prefix, &line));
                        }
                    });
                }
                Err(kube::Error::Api(s)) if s.code == 400 || s.code == 404 => {}
                Err(e) => return Err(cluster.error(e, "pod", &pod)),
            }
        }
        if done {
            while streams.join_next().await.is_some() {}
            return Ok(ExitCode::SUCCESS);
        }
        tokio::time::sleep(FOLLOW_INTERVAL).await;
    }
}

/// The node's archived log of `container`, if it has one.
async fn archived_log(
    cluster: &Cluster,
    node: &NodeStatus,
    container: &str,
) -> anyhow::Result<Option<String>> {
    let wanted = format!("{container}-logs");
    let Some(art) = node
        .outputs
        .iter()
        .flat_map(|o| &o.artifacts)
        .find(|a| a.name == wanted)
    else {
        return Ok(None);
    };
    let text = read_artifact(cluster, art)
        .await
        .with_context(|| format!("the archived log of {}", display_name(node)))?;
    Ok(Some(text))
}

/// Reads a (small) artifact as text: the secrets its location names are
/// fetched from the namespace into a private directory for the driver.
pub async fn read_artifact(cluster: &Cluster, art: &Artifact) -> anyhow::Result<String> {
    let dir = tempfile::tempdir()?;
    let secrets_dir = dir.path().join("secrets");
    let selectors = art.s3.iter().flat_map(|s3| {
        [
            &s3.access_key_secret,
            &s3.secret_key_secret,
            &s3.session_token_secret,
            &s3.ca_secret,
        ]
        .into_iter()
        .flatten()
    });
    let secrets_api: Api<Secret> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    for selector in selectors {
        let selector = selector
            .typed()
            .map_err(|e| anyhow!("secret selector: {e}"))?;
        let secret = secrets_api
            .get(&selector.name)
            .await
            .map_err(|e| cluster.error(e, "secret", &selector.name))?;
        let value = secret
            .data
            .as_ref()
            .and_then(|d| d.get(&selector.key))
            .ok_or_else(|| {
                anyhow!(
                    "secret {} has no key {} in namespace {}",
                    selector.name,
                    selector.key,
                    cluster.namespace
                )
            })?;
        let path = secrets_dir.join(&selector.name);
        std::fs::create_dir_all(&path)?;
        std::fs::write(path.join(&selector.key), &value.0)?;
    }
    let driver = driver_for(art, &Secrets::new(&secrets_dir))?;
    let dest = dir.path().join("artifact");
    driver.load(art, &dest).await?;
    read_tree(&dest)
}

/// A file's text, or a directory's files' texts in path order.
fn read_tree(path: &std::path::Path) -> anyhow::Result<String> {
    if !path.is_dir() {
        let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
        return Ok(String::from_utf8_lossy(&bytes).into_owned());
    }
    let mut entries: Vec<_> = std::fs::read_dir(path)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    let mut out = String::new();
    for entry in entries {
        out.push_str(&read_tree(&entry)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    //! kube's `tower_test` pattern: the client talks to a mock service; the
    //! test asserts the exact request and answers it.

    use super::*;
    use http::{Request, Response};
    use kube::client::Body;

    fn mock() -> (
        kube::Client,
        tower_test::mock::Handle<Request<Body>, Response<Body>>,
    ) {
        let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        (kube::Client::new(service, "default"), handle)
    }

    #[tokio::test]
    async fn a_followed_log_asks_for_the_container_and_follow() {
        let (client, mut handle) = mock();
        let server = tokio::spawn(async move {
            let (request, send) = handle.next_request().await.expect("request");
            assert_eq!(request.method(), http::Method::GET);
            assert_eq!(
                request.uri().to_string(),
                "/api/v1/namespaces/ns/pods/wf-main-1/log?&container=main&follow=true"
            );
            send.send_response(
                Response::builder()
                    .body(Body::from(b"one\ntwo\n".to_vec()))
                    .expect("response"),
            );
        });
        let stream = pod_log_stream(&client, "ns", "wf-main-1", "main")
            .await
            .expect("stream");
        let lines: Vec<String> = stream.lines().try_collect().await.expect("lines");
        assert_eq!(lines, ["one", "two"]);
        server.await.expect("server");
    }

    /// Answers the next request with `body` after checking its path and query.
    async fn answer(
        handle: &mut tower_test::mock::Handle<Request<Body>, Response<Body>>,
        uri: &str,
        body: Vec<u8>,
    ) {
        let (request, send) = handle.next_request().await.expect("request");
        assert_eq!(request.method(), http::Method::GET);
        assert_eq!(request.uri().to_string(), uri);
        send.send_response(
            Response::builder()
                .body(Body::from(body))
                .expect("response"),
        );
    }

    #[tokio::test]
    async fn logs_read_the_workflow_its_pods_and_each_pods_log() {
        let (client, mut handle) = mock();
        let server = tokio::spawn(async move {
            let node = |id: &str, name: &str, started: &str| {
                serde_json::json!({"id": id, "name": format!("wf.{name}"), "displayName": name,
                    "type": "Pod", "phase": "Running", "startedAt": started})
            };
            let wf = serde_json::json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                "metadata": {"name": "wf", "namespace": "ns"}, "spec": {},
                "status": {"phase": "Running", "nodes": {
                    "wf-2": node("wf-2", "second", "2026-01-01T00:00:02Z"),
                    "wf-1": node("wf-1", "first", "2026-01-01T00:00:01Z"),
                    "wf-3": node("wf-3", "pending", "2026-01-01T00:00:03Z")}}});
            answer(
                &mut handle,
                "/apis/argoproj.io/v1alpha1/namespaces/ns/workflows/wf",
                serde_json::to_vec(&wf).expect("json"),
            )
            .await;
            let meta = |pod: &str, node: &str| {
                serde_json::json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
                    "metadata": {"name": pod, "annotations": {ANNOTATION_NODE_ID: node}}})
            };
            let pods = serde_json::json!({"apiVersion": "meta.k8s.io/v1",
                "kind": "PartialObjectMetadataList", "metadata": {},
                "items": [meta("wf-second-2", "wf-2"), meta("wf-first-1", "wf-1"),
                    meta("wf-pending-3", "wf-3")]});
            answer(
                &mut handle,
                "/api/v1/namespaces/ns/pods?&labelSelector=workflows.argoproj.io%2Fworkflow%3Dwf",
                serde_json::to_vec(&pods).expect("json"),
            )
            .await;
            answer(
                &mut handle,
                "/api/v1/namespaces/ns/pods/wf-first-1/log?&container=main",
                b"hello\n".to_vec(),
            )
            .await;
            answer(
                &mut handle,
                "/api/v1/namespaces/ns/pods/wf-second-2/log?&container=main",
                b"a\nb\n".to_vec(),
            )
            .await;
            let (request, send) = handle.next_request().await.expect("request");
            assert_eq!(
                request.uri().to_string(),
                "/api/v1/namespaces/ns/pods/wf-pending-3/log?&container=main"
            );
            let status = serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                "status": "Failure", "reason": "BadRequest", "code": 400,
                "message": "container \"main\" in pod \"wf-pending-3\" is waiting to start"});
            send.send_response(
                Response::builder()
                    .status(400)
                    .body(Body::from(serde_json::to_vec(&status).expect("json")))
                    .expect("response"),
            );
        });
        let cluster = Cluster {
            client,
            namespace: "ns".into(),
        };
        let (text, missing) = collect(&cluster, "wf", "main").await.expect("logs");
        assert_eq!(text, "first: hello\nsecond: a\nsecond: b\n");
        assert_eq!(missing, ["pending"]);
        server.await.expect("server");
    }

    #[tokio::test]
    async fn a_whole_log_asks_for_the_container_only() {
        let (client, mut handle) = mock();
        let server = tokio::spawn(async move {
            let (request, send) = handle.next_request().await.expect("request");
            assert_eq!(
                request.uri().to_string(),
                "/api/v1/namespaces/ns/pods/wf-main-1/log?&container=wait"
            );
            send.send_response(
                Response::builder()
                    .body(Body::from(b"done\n".to_vec()))
                    .expect("response"),
            );
        });
        let text = pod_log(&client, "ns", "wf-main-1", "wait")
            .await
            .expect("log");
        assert_eq!(prefixed("step", &text), "step: done\n");
        server.await.expect("server");
    }
}
