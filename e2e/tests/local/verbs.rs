//! The `--local` verbs against real runs: `resume` with supplied outputs
//! while `sluice run` waits on a suspend node, `stop` of a running workflow
//! (its exit handler still runs), and `retry` of a failed one (only the
//! failed step runs again).

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::binary;

fn sluice(state: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(binary());
    cmd.args(args)
        .env("SLUICE_STATE_DIR", state)
        .stdin(Stdio::null());
    cmd
}

fn output(state: &Path, args: &[&str]) -> Output {
    sluice(state, args).output().expect("run sluice")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Starts `sluice run FILE --output json` in the background.
fn start(state: &Path, file: &Path) -> Child {
    sluice(
        state,
        &["run", &file.display().to_string(), "--output", "json"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn sluice run")
}

/// Waits for `sluice get --local NAME -o json` to show a node of `name`
/// in `phase`.
fn wait_for_node(state: &Path, workflow: &str, node: &str, phase: &str) {
    let start = Instant::now();
    loop {
        let out = output(state, &["get", "--local", workflow, "--output", "json"]);
        if let Ok(wf) = serde_json::from_slice::<serde_json::Value>(&out.stdout) {
            let found = wf["status"]["nodes"]
                .as_object()
                .into_iter()
                .flat_map(|nodes| nodes.values())
                .any(|n| n["displayName"] == node && n["phase"] == phase);
            if found {
                return;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "node {node} of {workflow} never reached {phase}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn finish(child: Child) -> (i32, serde_json::Value, String) {
    let out = child.wait_with_output().expect("wait for sluice run");
    let stderr = text(&out.stderr);
    let wf = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no workflow JSON ({e}): {stderr}"));
    (out.status.code().unwrap_or(-1), wf, stderr)
}

fn node<'a>(wf: &'a serde_json::Value, display: &str) -> &'a serde_json::Value {
    wf["status"]["nodes"]
        .as_object()
        .and_then(|nodes| nodes.values().find(|n| n["displayName"] == display))
        .unwrap_or_else(|| panic!("no node {display}: {wf:#}"))
}

#[test]
fn resume_supplies_the_suspend_nodes_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let file = dir.path().join("approve.yaml");
    std::fs::write(
        &file,
        r#"
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: approve}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: wait, template: approve}
    - - name: after
        template: say
        arguments: {parameters: [{name: m, value: "{{steps.wait.outputs.parameters.answer}}"}]}
  - name: approve
    suspend: {}
    outputs: {parameters: [{name: answer, valueFrom: {supplied: {}}}]}
  - name: say
    inputs: {parameters: [{name: m}]}
    container: {image: alpine, command: [echo, "answer={{inputs.parameters.m}}"]}
"#,
    )
    .expect("write");
    let run = start(&state, &file);
    wait_for_node(&state, "approve", "wait", "Running");
    let resumed = output(
        &state,
        &["resume", "--local", "approve", "-p", "answer=yes"],
    );
    assert!(resumed.status.success(), "{}", text(&resumed.stderr));
    let (code, wf, stderr) = finish(run);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(wf["status"]["phase"], "Succeeded");
    assert_eq!(
        node(&wf, "wait")["outputs"]["parameters"][0]["value"],
        "yes"
    );
    let logs = output(&state, &["logs", "--local", "approve"]);
    assert!(
        text(&logs.stdout).contains("answer=yes"),
        "{}",
        text(&logs.stdout)
    );
}

#[test]
fn stop_ends_running_steps_and_runs_the_exit_handler() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let file = dir.path().join("stop.yaml");
    std::fs::write(
        &file,
        r#"
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: long}
spec:
  entrypoint: main
  onExit: bye
  templates:
  - name: main
    steps:
    - - {name: sleep, template: sleep}
  - name: sleep
    container: {image: alpine, command: [sleep, "60"]}
  - name: bye
    container: {image: alpine, command: [echo, "status={{workflow.status}}"]}
"#,
    )
    .expect("write");
    let begun = Instant::now();
    let run = start(&state, &file);
    wait_for_node(&state, "long", "sleep", "Running");
    let stopped = output(&state, &["stop", "--local", "long"]);
    assert!(stopped.status.success(), "{}", text(&stopped.stderr));
    let (code, wf, stderr) = finish(run);
    assert!(
        begun.elapsed() < Duration::from_secs(50),
        "the step was not stopped"
    );
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(wf["status"]["phase"], "Failed", "{wf:#}");
    assert_eq!(node(&wf, "long.onExit")["phase"], "Succeeded", "{wf:#}");
    let logs = text(&output(&state, &["logs", "--local", "long"]).stdout);
    assert!(logs.contains("status=Failed"), "{logs}");
}

#[test]
fn retry_runs_only_the_failed_step_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let shared = dir.path().join("shared");
    std::fs::create_dir_all(&shared).expect("mkdir");
    let file = dir.path().join("flaky.yaml");
    std::fs::write(
        &file,
        format!(
            r#"
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {{name: flaky}}
spec:
  entrypoint: main
  volumes: [{{name: shared, hostPath: {{path: "{shared}"}}}}]
  templates:
  - name: main
    steps:
    - - {{name: first, template: count}}
    - - {{name: second, template: gate}}
  - name: count
    container:
      image: alpine
      command: [sh, -c, "echo ran >> /shared/count"]
      volumeMounts: [{{name: shared, mountPath: /shared}}]
  - name: gate
    container:
      image: alpine
      command: [sh, -c, "test -e /shared/open"]
      volumeMounts: [{{name: shared, mountPath: /shared}}]
"#,
            shared = shared.display()
        ),
    )
    .expect("write");
    let (code, wf, stderr) = finish(start(&state, &file));
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(wf["status"]["phase"], "Failed");
    std::fs::write(shared.join("open"), "").expect("open the gate");
    let retried = output(&state, &["retry", "--local", "flaky"]);
    assert!(
        retried.status.success(),
        "{}{}",
        text(&retried.stdout),
        text(&retried.stderr)
    );
    let got = output(&state, &["get", "--local", "flaky", "--output", "json"]);
    let wf: serde_json::Value = serde_json::from_slice(&got.stdout).expect("workflow JSON");
    assert_eq!(wf["status"]["phase"], "Succeeded", "{wf:#}");
    assert_eq!(
        std::fs::read_to_string(shared.join("count")).expect("count"),
        "ran\n",
        "the succeeded step ran once"
    );
}
