//! `sluice-bench controller [WORKFLOWS]`: the controller against the real
//! API server of ../shared/k8s, all on this machine: etcd, kube-apiserver,
//! the simulated kubelet (sluice_e2e's: each pod finishes and writes its
//! result at once) and `sluice-controller` (the release binary beside this
//! one, as its own process so its RSS and requests are its own).
//!
//! Reports, against the targets:
//! - workflows per minute for WORKFLOWS (default 300) 3-step workflows
//!   submitted at once (≥ 1,000/min),
//! - API writes (create, update, patch, delete) the controller made per
//!   workflow, from its own `argo_workflows_k8s_request_total` (≤ 12),
//! - the controller's RSS with 1,000 finished workflows of 10 nodes in its
//!   cache (≤ 200 MiB), and its RSS when idle before them as the baseline.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use serde_json::json;
use sluice_e2e::{ApiServer, api_resource, install_crds};

const TARGET_PER_MINUTE: f64 = 1000.0;
const TARGET_WRITES: f64 = 12.0;
const TARGET_RSS_MIB: f64 = 200.0;
const CACHED: usize = 1000;
const NAMESPACE: &str = "bench";

pub fn run(args: &[String]) -> Result<()> {
    let count: usize = match args.first() {
        Some(n) => n.parse().context("WORKFLOWS: a number")?,
        None => 300,
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = ApiServer::start().context("starting the API server")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(bench(&server, count));
    let _ = server.stop(false);
    result
}

struct Controller {
    child: Child,
    admin: String,
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn controller_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("SLUICE_CONTROLLER_BIN") {
        return Ok(PathBuf::from(path));
    }
    let beside = std::env::current_exe()?.with_file_name("sluice-controller");
    if beside.is_file() {
        return Ok(beside);
    }
    bail!(
        "{}: not found; build it with `cargo build --release -p sluice-controller` or set SLUICE_CONTROLLER_BIN",
        beside.display()
    )
}

fn rss_mib(pid: u32) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmRSS")?;
    Ok(kib / 1024.0)
}

async fn metric_sum(admin: &str, name: &str, filter: &dyn Fn(&str) -> bool) -> Result<f64> {
    let text = reqwest::get(format!("http://{admin}/metrics"))
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with(name) && filter(l))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

async fn writes(admin: &str) -> Result<f64> {
    metric_sum(admin, "argo_workflows_k8s_request_total{", &|l| {
        ["create", "update", "patch", "delete"]
            .iter()
            .any(|v| l.contains(&format!("verb=\"{v}\"")))
    })
    .await
}

fn workflow(name: &str) -> Result<DynamicObject> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"entrypoint": "main", "templates": [
            {"name": "main", "steps": [[{"name": "a", "template": "ok"}],
                [{"name": "b", "template": "ok"}], [{"name": "c", "template": "ok"}]]},
            {"name": "ok", "container": {"image": "sim/exit:0", "command": ["sim"]}}
        ]}
    }))?)
}

/// A finished workflow of ten pod nodes, as the controller would have left it.
fn finished(name: &str) -> Result<DynamicObject> {
    let mut nodes = serde_json::Map::new();
    let children: Vec<String> = (0..10).map(|i| format!("{name}-{i}")).collect();
    nodes.insert(
        name.into(),
        json!({"id": name, "name": name, "displayName": name, "type": "Steps", "phase": "Succeeded",
            "templateName": "main", "children": children, "startedAt": "2026-01-01T00:00:00Z",
            "finishedAt": "2026-01-01T00:01:00Z"}),
    );
    for (i, id) in children.iter().enumerate() {
        nodes.insert(
            id.clone(),
            json!({"id": id, "name": format!("{name}[0].s{i}"), "displayName": format!("s{i}"),
                "type": "Pod", "phase": "Succeeded", "templateName": "ok", "boundaryID": name,
                "startedAt": "2026-01-01T00:00:00Z", "finishedAt": "2026-01-01T00:01:00Z",
                "outputs": {"exitCode": "0"}}),
        );
    }
    Ok(serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {
            "workflows.argoproj.io/completed": "true", "workflows.argoproj.io/phase": "Succeeded"}},
        "spec": {"entrypoint": "main", "templates": [{"name": "ok", "container": {"image": "sim/exit:0"}}]},
        "status": {"phase": "Succeeded", "startedAt": "2026-01-01T00:00:00Z",
            "finishedAt": "2026-01-01T00:01:00Z", "progress": "10/10", "nodes": nodes}
    }))?)
}

async fn bench(server: &ApiServer, count: usize) -> Result<()> {
    let client = server.client().await?;
    install_crds(&client).await?;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": NAMESPACE}}))?,
        )
        .await?;
    let _kubelet = sluice_e2e::kubelet::kubelet(&client, NAMESPACE);
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let admin = format!("127.0.0.1:{port}");
    let mut controller = Controller {
        child: Command::new(controller_binary()?)
            .args(["--no-leader-election", "--namespace", NAMESPACE])
            .args(["--admin-listen", &admin])
            .env("KUBECONFIG", server.kubeconfig())
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .spawn()?,
        admin,
    };
    // Ready once its caches are in.
    let started = Instant::now();
    while reqwest::get(format!("http://{}/readyz", controller.admin))
        .await
        .map_or(true, |r| !r.status().is_success())
    {
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the controller did not become ready");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rss = rss_mib(controller.child.id())?;
    let writes_before = writes(&controller.admin).await?;

    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), NAMESPACE, &api_resource("Workflow"));
    let start = Instant::now();
    for i in 0..count {
        api.create(&PostParams::default(), &workflow(&format!("wf-{i}"))?)
            .await?;
    }
    loop {
        let list = api
            .list(&ListParams::default().labels("workflows.argoproj.io/completed=true"))
            .await?;
        if list.items.len() >= count {
            let failed = list
                .items
                .iter()
                .filter(|w| w.data["status"]["phase"] != "Succeeded")
                .count();
            if failed > 0 {
                bail!("{failed} workflows did not succeed");
            }
            break;
        }
        if let Some(status) = controller.child.try_wait()? {
            bail!("the controller exited: {status}");
        }
        if start.elapsed() > Duration::from_secs(600) {
            bail!("{} of {count} finished in 600 s", list.items.len());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    // Let trailing events land before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let per_workflow = (writes(&controller.admin).await? - writes_before) / count as f64;
    let per_minute = count as f64 / elapsed * 60.0;
    println!(
        "controller: {count} 3-step workflows in {elapsed:.1}s: {per_minute:.0} workflows/min (target >= {TARGET_PER_MINUTE:.0}): {}",
        verdict(per_minute >= TARGET_PER_MINUTE)
    );
    println!(
        "  API writes per workflow (creates, updates, patches, deletes; events included): {per_workflow:.1} (target <= {TARGET_WRITES:.0}): {}",
        verdict(per_workflow <= TARGET_WRITES)
    );

    for i in 0..CACHED {
        api.create(&PostParams::default(), &finished(&format!("done-{i}"))?)
            .await?;
    }
    // The controller has them all once its gauge counts them.
    let target = (count + CACHED) as f64;
    let waited = Instant::now();
    loop {
        let known = metric_sum(&controller.admin, "argo_workflows_gauge{", &|_| true).await?;
        if known >= target {
            break;
        }
        if waited.elapsed() > Duration::from_secs(120) {
            bail!("the controller knows {known} of {target} workflows");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss = rss_mib(controller.child.id())?;
    println!(
        "  RSS with {} workflows in cache ({CACHED} of 10 nodes): {rss:.1} MiB, idle {idle_rss:.1} MiB (target <= {TARGET_RSS_MIB:.0} MiB): {}",
        count + CACHED,
        verdict(rss <= TARGET_RSS_MIB)
    );
    let _ = controller.child.kill();
    Ok(())
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "MISSED" }
}
