//! The pod runner with real processes, real files and (when installed)
//! real bubblewrap.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::json;
use sluice_api::Config;
use sluice_api::types::{Template, Workflow};
use sluice_engine::inject::pod_for_backend;
use sluice_engine::pod::{PodContext, PodNode};
use sluice_engine::run::{
    ContainerState, Observation, PodObservation, PodPhase, ResultObservation,
};

use super::pods::{PodRunner, RunnerConfig};
use super::sandbox;
use super::sources::Sources;
use super::state::RunDir;

/// The executor binary, built once if the test run has not built it.
fn executor() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Ok(path) = super::find_executor() {
            return path;
        }
        let exe = std::env::current_exe().expect("test binary");
        // <target>/<triple>/debug/deps/<test>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("profile dir")
            .to_path_buf();
        let target_dir = profile_dir
            .parent()
            .and_then(Path::parent)
            .expect("target dir")
            .to_path_buf();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "-p", "sluice-executor", "--target-dir"])
            .arg(&target_dir)
            .status()
            .expect("cargo build");
        assert!(status.success(), "building sluice-executor failed");
        profile_dir.join("sluice-executor")
    })
    .clone()
}

fn workflow(name: &str, templates: serde_json::Value) -> Workflow {
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name, "namespace": "default", "uid": "u-1"},
        "spec": {"entrypoint": "main", "templates": templates}
    }))
    .expect("workflow")
}

struct Harness {
    _dir: tempfile::TempDir,
    run: RunDir,
    runner: PodRunner,
    lines: tokio::sync::mpsc::UnboundedReceiver<super::pods::LogLine>,
}

fn harness(sandbox: bool, sources: Sources) -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = RunDir::new(dir.path(), "default", "wf");
    run.create().expect("create");
    let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
    let runner = PodRunner::new(
        RunnerConfig {
            run: run.clone(),
            sources,
            executor: executor(),
            sandbox,
        },
        Some(tx),
    );
    Harness {
        _dir: dir,
        run,
        runner,
        lines,
    }
}

/// Starts the pod of `template` and runs it to its end; returns every
/// observation in order.
async fn run_pod(h: &mut Harness, wf: &Workflow, template: serde_json::Value) -> Vec<Observation> {
    let template: Template = serde_json::from_value(template).expect("template");
    let config = Config::default();
    let node = PodNode::new(
        wf.metadata.name.as_deref().unwrap_or(""),
        "wf",
        &template.name,
    );
    let built =
        pod_for_backend(&PodContext::new(&config), wf, &node, &template, true).expect("pod");
    h.runner
        .create(&node.id, built.pod, built.template_config_map, "wf");
    let mut all = h.runner.take_observations();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while h.runner.active() > 0 {
        let exit = tokio::time::timeout_at(deadline, h.runner.next_exit())
            .await
            .expect("the pod ends in time")
            .expect("an exit");
        h.runner.on_exit(exit);
        all.extend(h.runner.take_observations());
    }
    all.extend(h.runner.take_observations());
    all
}

fn last_pod(obs: &[Observation]) -> PodObservation {
    obs.iter()
        .rev()
        .find_map(|o| match o {
            Observation::Pod { pod, .. } => Some((**pod).clone()),
            _ => None,
        })
        .expect("a pod observation")
}

fn result(obs: &[Observation]) -> Option<ResultObservation> {
    obs.iter().rev().find_map(|o| match o {
        Observation::Result { result, .. } => Some((**result).clone()),
        _ => None,
    })
}

fn exit_code(pod: &PodObservation, name: &str) -> Option<i32> {
    pod.containers
        .iter()
        .chain(&pod.init_containers)
        .find(|c| c.name == name)
        .and_then(|c| match c.state {
            ContainerState::Terminated { exit_code, .. } => Some(exit_code),
            _ => None,
        })
}

fn modes() -> Vec<bool> {
    if sandbox::bubblewrap_available() {
        vec![true, false]
    } else {
        vec![false]
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_runs_and_reports_its_result() {
    for sandboxed in modes() {
        let mut h = harness(sandboxed, Sources::default());
        let wf = workflow("wf", json!([]));
        let obs = run_pod(
            &mut h,
            &wf,
            json!({"name": "main", "container": {
                "image": "alpine:3", "command": ["sh", "-c"],
                "args": ["echo hello from $POD_NAME; echo 42 > /tmp/out"],
                "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
            }, "outputs": {"parameters": [{"name": "n", "valueFrom": {"path": "/tmp/out"}}]}}),
        )
        .await;
        let pod = last_pod(&obs);
        assert_eq!(
            pod.phase,
            PodPhase::Succeeded,
            "sandbox={sandboxed}: {pod:?}"
        );
        assert_eq!(exit_code(&pod, "main"), Some(0));
        assert_eq!(exit_code(&pod, "wait"), Some(0));
        assert_eq!(exit_code(&pod, "init"), Some(0));
        let result = result(&obs).expect("a result");
        assert!(result.complete, "{result:?}");
        let outputs = result.outputs.expect("outputs");
        assert_eq!(outputs.result.as_deref(), Some("hello from wf"));
        // Output parameters from a private /tmp work only in the sandbox;
        // without it /tmp is the host's, which works too.
        let n = outputs
            .parameters
            .first()
            .and_then(|p| p.value.as_ref())
            .map(|v| v.as_text());
        assert_eq!(n.as_deref(), Some("42"));
        let log = std::fs::read_to_string(h.run.log_file("wf", "main")).expect("log");
        assert!(log.contains("hello from wf"), "{log}");
        let line = h.lines.try_recv().expect("a live line");
        assert_eq!(line.display, "wf");
        assert_eq!(line.line, "hello from wf");
    }
}

/// The executor's `init` is started only when it has something to do: in the
/// sandbox the executor is in place already, so a plain container's `init`
/// ends at once without a process (and writes no log); a script's `init`
/// writes the script, so it runs. Without the sandbox `init` always runs (it
/// installs the executor).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_starts_only_with_something_to_do() {
    for sandboxed in modes() {
        let mut h = harness(sandboxed, Sources::default());
        let wf = workflow("wf", json!([]));
        let obs = run_pod(
            &mut h,
            &wf,
            json!({"name": "main", "container": {"image": "alpine:3", "command": ["true"]}}),
        )
        .await;
        let pod = last_pod(&obs);
        assert_eq!(
            pod.phase,
            PodPhase::Succeeded,
            "sandbox={sandboxed}: {pod:?}"
        );
        assert_eq!(exit_code(&pod, "init"), Some(0), "sandbox={sandboxed}");
        assert_eq!(
            h.run.log_file("wf", "init").exists(),
            !sandboxed,
            "sandbox={sandboxed}: whether init ran"
        );

        let mut h = harness(sandboxed, Sources::default());
        let obs = run_pod(
            &mut h,
            &wf,
            json!({"name": "main", "script": {"image": "alpine:3", "command": ["sh"],
                "source": "echo from the script"}}),
        )
        .await;
        let pod = last_pod(&obs);
        assert_eq!(
            pod.phase,
            PodPhase::Succeeded,
            "sandbox={sandboxed}: {pod:?}"
        );
        assert!(h.run.log_file("wf", "init").exists(), "sandbox={sandboxed}");
        let outputs = result(&obs).and_then(|r| r.outputs).expect("outputs");
        assert_eq!(outputs.result.as_deref(), Some("from the script"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_container_fails_the_pod() {
    for sandboxed in modes() {
        let mut h = harness(sandboxed, Sources::default());
        let wf = workflow("wf", json!([]));
        let obs = run_pod(
            &mut h,
            &wf,
            json!({"name": "main", "container": {
                "image": "alpine:3", "command": ["sh", "-c", "echo boom >&2; exit 3"]
            }}),
        )
        .await;
        let pod = last_pod(&obs);
        assert_eq!(pod.phase, PodPhase::Failed);
        assert_eq!(exit_code(&pod, "main"), Some(3));
        assert!(result(&obs).is_some_and(|r| r.complete));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_init_container_stops_the_pod() {
    for sandboxed in modes() {
        let mut h = harness(sandboxed, Sources::default());
        let wf = workflow("wf", json!([]));
        let obs = run_pod(
            &mut h,
            &wf,
            json!({"name": "main",
                "initContainers": [{"name": "prep", "image": "alpine:3", "command": ["sh", "-c", "echo nope; exit 7"]}],
                "container": {"image": "alpine:3", "command": ["true"]}}),
        )
        .await;
        let pod = last_pod(&obs);
        assert_eq!(pod.phase, PodPhase::Failed, "{pod:?}");
        assert_eq!(exit_code(&pod, "prep"), Some(7));
        assert!(
            pod.message.contains("prep") && pod.message.contains("nope"),
            "{}",
            pod.message
        );
        assert!(
            pod.containers
                .iter()
                .all(|c| c.state == ContainerState::Waiting)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volumes_and_private_tmp_in_the_sandbox() {
    if !sandbox::bubblewrap_available() {
        return;
    }
    let mut h = harness(true, Sources::default());
    let wf: Workflow = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
        "metadata": {"name": "wf", "namespace": "default"},
        "spec": {"entrypoint": "main",
                 "volumes": [{"name": "work", "emptyDir": {}}],
                 "templates": []}
    }))
    .expect("workflow");
    let host_tmp_marker = std::env::temp_dir().join("sluice-test-not-private");
    let _ = std::fs::remove_file(&host_tmp_marker);
    let obs = run_pod(
        &mut h,
        &wf,
        json!({"name": "main",
            "initContainers": [{"name": "prep", "image": "alpine:3",
                "command": ["sh", "-c", "mkdir -p /mnt/work/sub && echo from-init > /mnt/work/sub/file"],
                "volumeMounts": [{"name": "work", "mountPath": "/mnt/work"}]}],
            "container": {"image": "alpine:3", "workingDir": "/srv/app",
                "command": ["sh", "-c", "cat /data/file && pwd && touch /tmp/sluice-test-not-private && ! touch /etc/passwd 2>/dev/null"],
                "volumeMounts": [{"name": "work", "mountPath": "/data", "subPath": "sub"}]}}),
    )
    .await;
    let pod = last_pod(&obs);
    let log = std::fs::read_to_string(h.run.log_file("wf", "main")).unwrap_or_default();
    assert_eq!(pod.phase, PodPhase::Succeeded, "{pod:?}\n{log}");
    assert!(
        log.contains("from-init") && log.contains("/srv/app"),
        "{log}"
    );
    assert!(!host_tmp_marker.exists(), "/tmp is private");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mounts_need_bubblewrap_without_a_sandbox() {
    let mut h = harness(false, Sources::default());
    let wf: Workflow = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
        "metadata": {"name": "wf", "namespace": "default"},
        "spec": {"entrypoint": "main", "volumes": [{"name": "work", "emptyDir": {}}], "templates": []}
    }))
    .expect("workflow");
    let obs = run_pod(
        &mut h,
        &wf,
        json!({"name": "main", "container": {"image": "alpine:3", "command": ["true"],
            "volumeMounts": [{"name": "work", "mountPath": "/data"}]}}),
    )
    .await;
    let pod = last_pod(&obs);
    assert_eq!(pod.phase, PodPhase::Failed);
    assert!(pod.message.contains("needs bubblewrap"), "{}", pod.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_and_config_maps_reach_the_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("creds")).expect("mkdir");
    std::fs::write(dir.path().join("creds/token"), "s3cr3t").expect("write");
    let mut sources = Sources {
        secret_dir: Some(dir.path().to_path_buf()),
        ..Sources::default()
    };
    sources.config_maps.insert(
        "settings".into(),
        [("mode".to_string(), "fast".to_string())].into(),
    );
    for sandboxed in modes() {
        let mut h = harness(sandboxed, sources.clone());
        let wf = workflow("wf", json!([]));
        let obs = run_pod(
            &mut h,
            &wf,
            json!({"name": "main", "container": {"image": "alpine:3",
                "command": ["sh", "-c", "echo $TOKEN-$MODE-$IP"],
                "env": [
                    {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
                    {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}},
                    {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
                ]}}),
        )
        .await;
        let outputs = result(&obs).and_then(|r| r.outputs).expect("outputs");
        assert_eq!(outputs.result.as_deref(), Some("s3cr3t-fast-127.0.0.1"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_running_pod_kills_it() {
    for sandboxed in modes() {
        let mut h = harness(sandboxed, Sources::default());
        let wf = workflow("wf", json!([]));
        let template: Template = serde_json::from_value(json!({"name": "main",
            "container": {"image": "alpine:3", "command": ["sleep", "600"]}}))
        .expect("template");
        let config = Config::default();
        let node = PodNode::new("wf", "wf", "main");
        let built =
            pod_for_backend(&PodContext::new(&config), &wf, &node, &template, true).expect("pod");
        h.runner.create(&node.id, built.pod, None, "wf");
        // Wait until the main container runs.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let obs = h.runner.take_observations();
            if obs.iter().any(
                |o| matches!(o, Observation::Pod { pod, .. } if pod.phase == PodPhase::Running),
            ) {
                break;
            }
            let exit = tokio::time::timeout_at(deadline, h.runner.next_exit())
                .await
                .expect("init ends")
                .expect("exit");
            h.runner.on_exit(exit);
        }
        h.runner.delete(&node.id);
        let mut deleted = false;
        while !deleted {
            let exit = tokio::time::timeout_at(deadline, h.runner.next_exit())
                .await
                .expect("killed in time")
                .expect("exit");
            h.runner.on_exit(exit);
            deleted = h
                .runner
                .take_observations()
                .iter()
                .any(|o| matches!(o, Observation::PodDeleted { node_id } if node_id == "wf"));
        }
        assert_eq!(h.runner.active(), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_write_outside_tmp_without_touching_the_host() {
    if !sandbox::bubblewrap_available() {
        return;
    }
    let mut h = harness(true, Sources::default());
    let wf = workflow("wf", json!([]));
    // A workingDir that exists on the host, with a file of its own (not
    // under /tmp, which is private in the sandbox).
    let work = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).expect("tempdir");
    std::fs::write(work.path().join("kept"), "host file\n").expect("write");
    let top = format!("/sluice-test-{}", std::process::id());
    let script = format!(
        "mkdir -p {top}/text && echo made > {top}/text/data && \
         echo relative > here.txt && cat kept && cat here.txt && \
         mkdir -p /mnt/sluice-out && echo 3 > /mnt/sluice-out/count"
    );
    let obs = run_pod(
        &mut h,
        &wf,
        json!({"name": "main",
            "archiveLocation": {"local": {"key": "wf/main"}},
            "container": {"image": "alpine:3", "workingDir": work.path(),
                "command": ["sh", "-c", script]},
            "outputs": {
                "parameters": [{"name": "count", "valueFrom": {"path": "/mnt/sluice-out/count"}}],
                "artifacts": [{"name": "text", "path": format!("{top}/text/data"), "archive": {"none": {}}}]
            }}),
    )
    .await;
    let pod = last_pod(&obs);
    let log = std::fs::read_to_string(h.run.log_file("wf", "main")).unwrap_or_default();
    assert_eq!(pod.phase, PodPhase::Succeeded, "{pod:?}\n{log}");
    assert!(
        log.contains("host file") && log.contains("relative"),
        "{log}"
    );
    let result = result(&obs).expect("a result");
    let outputs = result.outputs.expect("outputs");
    let count = outputs
        .parameters
        .first()
        .and_then(|p| p.value.as_ref())
        .map(|v| v.as_text());
    assert_eq!(count.as_deref(), Some("3"));
    assert_eq!(outputs.artifacts.len(), 1, "{outputs:?}");
    // Nothing of it reached the host.
    assert!(!Path::new(&top).exists());
    assert!(!Path::new("/mnt/sluice-out").exists());
    assert!(!work.path().join("here.txt").exists());
}

#[test]
fn paths_a_command_mentions() {
    let found = sandbox::mentioned_paths(
        "mkdir -p /outputs/a && echo x >/mnt/out/f.txt; cat \"/data/in\" a/b http://host/x --out=/var/y.",
    );
    let found: Vec<String> = found.iter().map(|p| p.display().to_string()).collect();
    assert_eq!(
        found,
        ["/outputs/a", "/mnt/out/f.txt", "/data/in", "/var/y"],
        "{found:?}"
    );
}
