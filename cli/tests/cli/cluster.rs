//! The cluster verbs against the real API server of ../shared/k8s: the
//! `sluice` binary with KUBECONFIG pointing at it, a namespace per test.
//! Where a controller is needed it runs in this process (the controller
//! crate), with the simulated kubelet of sluice_e2e; elsewhere the test
//! writes status as the controller would.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use sluice_api::types::{IdMap, NodeStatus};
use sluice_e2e::{api_resource, shared_apiserver};

use super::{tempdir, write};

const TIMEOUT: Duration = Duration::from_secs(60);

use sluice_e2e::crd_client as client;

async fn namespace(name: &str) -> kube::Client {
    let client = client().await;
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).expect("ns");
    api.create(&PostParams::default(), &ns)
        .await
        .expect("namespace");
    client
}

fn api(client: &kube::Client, ns: &str, kind: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &api_resource(kind))
}

/// Creates an object from JSON in the namespace; its name.
async fn create(client: &kube::Client, ns: &str, value: Value) -> String {
    let kind = value["kind"].as_str().expect("kind").to_owned();
    let object: DynamicObject = serde_json::from_value(value).expect("object");
    api(client, ns, &kind)
        .create(&PostParams::default(), &object)
        .await
        .expect("create")
        .metadata
        .name
        .expect("name")
}

async fn workflow(client: &kube::Client, ns: &str, name: &str) -> DynamicObject {
    api(client, ns, "Workflow").get(name).await.expect("get")
}

#[derive(Debug)]
struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// `sluice -n NS ARGS...` with the harness's kubeconfig.
async fn sluice(ns: &str, args: &[&str]) -> Out {
    sluice_with(&["-n", ns], args, shared_apiserver().kubeconfig()).await
}

async fn sluice_with(last: &[&str], args: &[&str], kubeconfig: &Path) -> Out {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_sluice"));
    command
        .args(args)
        .args(last)
        .env("KUBECONFIG", kubeconfig)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("sluice {args:?} did not end"))
        .expect("sluice runs");
    Out {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

const GREET: &str = "\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: greet-
  labels: {team: a}
spec:
  entrypoint: main
  arguments:
    parameters:
      - name: message
        value: hello
  templates:
    - name: main
      inputs:
        parameters: [{name: message}]
      container:
        image: busybox
        command: [echo, '{{inputs.parameters.message}}']
";

fn node(id: &str, display: &str, kind: &str, phase: &str, children: &[&str]) -> NodeStatus {
    serde_json::from_value(json!({
        "id": id, "name": display, "displayName": display, "type": kind,
        "phase": phase, "templateName": "main", "children": children,
        "startedAt": "2026-01-01T00:00:00Z", "finishedAt": "2026-01-01T00:00:05Z",
    }))
    .expect("node")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_list_get_delete() {
    let ns = "cli-submit";
    let client = namespace(ns).await;
    let dir = tempdir();
    let file = write(dir.path(), "greet.yaml", GREET);

    let out = sluice(ns, &["submit", &file, "-p", "message=hi"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let name = out.stdout.trim().to_owned();
    assert!(name.starts_with("greet-"), "{out:?}");
    let wf = workflow(&client, ns, &name).await;
    assert_eq!(
        wf.data["spec"]["arguments"]["parameters"],
        json!([{"name": "message", "value": "hi"}])
    );
    assert_eq!(wf.metadata.labels.as_ref().expect("labels")["team"], "a");

    let out = sluice(ns, &["list"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{out:?}");
    assert!(lines[0].starts_with("NAME"), "{out:?}");
    assert!(lines[0].contains("STATUS") && lines[0].ends_with("DURATION"));
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(row[..2], [name.as_str(), "Pending"], "{out:?}");

    // The status the controller writes: nodes compressed, labels.
    let mut nodes = IdMap::<NodeStatus>::default();
    let pod = format!("{name}-1234");
    nodes.insert(
        name.clone(),
        node(&name, &name, "Steps", "Succeeded", &[&pod]),
    );
    nodes.insert(pod.clone(), node(&pod, "say", "Pod", "Succeeded", &[]));
    let compressed = sluice_engine::run::compress_nodes(&nodes);
    let patch = json!({
        "metadata": {"labels": {"workflows.argoproj.io/completed": "true",
            "workflows.argoproj.io/phase": "Succeeded"}},
        "status": {"phase": "Succeeded", "startedAt": "2026-01-01T00:00:00Z",
            "finishedAt": "2026-01-01T00:00:07Z", "compressedNodes": compressed},
    });
    api(&client, ns, "Workflow")
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("status");

    let out = sluice(ns, &["get", &name]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.contains("Status:              Succeeded"),
        "{out:?}"
    );
    assert!(out.stdout.contains("Duration:            7s"), "{out:?}");
    let say = out
        .stdout
        .lines()
        .find(|l| l.contains("say"))
        .unwrap_or_else(|| panic!("no node line: {out:?}"));
    assert!(say.contains('✔') && say.contains("main"), "{say}");

    let out = sluice(ns, &["get", &name, "-o", "json"]).await;
    let got: Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(got["status"]["nodes"][&pod]["displayName"], "say");
    assert!(got["status"].get("compressedNodes").is_none());
    let out = sluice(ns, &["get", &name, "-o", "yaml"]).await;
    assert!(out.stdout.contains("displayName: say"), "{out:?}");

    // A second, running workflow: the filters tell them apart.
    let running = create(
        &client,
        ns,
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"name": "still-going", "labels": {"workflows.argoproj.io/completed": "false"}},
            "spec": {"entrypoint": "main", "templates": [{"name": "main", "suspend": {}}]},
            "status": {"phase": "Running", "startedAt": "2026-01-01T00:00:00Z"}}),
    )
    .await;
    let names = |out: &Out| -> Vec<String> {
        out.stdout
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().next().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(
        names(&sluice(ns, &["list", "--running"]).await),
        [running.as_str()]
    );
    assert_eq!(
        names(&sluice(ns, &["list", "--completed"]).await),
        [name.as_str()]
    );
    assert_eq!(
        names(&sluice(ns, &["list", "-l", "team=a"]).await),
        [name.as_str()]
    );

    // The default namespace is the kubeconfig context's.
    let kubeconfig = dir.path().join("kubeconfig");
    let mut config: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(shared_apiserver().kubeconfig()).expect("kubeconfig"),
    )
    .expect("yaml");
    for context in config["contexts"].as_array_mut().expect("contexts") {
        context["context"]["namespace"] = json!(ns);
    }
    std::fs::write(
        &kubeconfig,
        serde_yaml_ng::to_string(&config).expect("yaml"),
    )
    .expect("write");
    let out = sluice_with(&[], &["list", "--running"], &kubeconfig).await;
    assert_eq!(names(&out), [running.as_str()], "{out:?}");

    let out = sluice(ns, &["delete", &running]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, format!("workflow {running} deleted\n"));
    let out = sluice(ns, &["delete", "nope"]).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr
            .contains("workflow nope not found in namespace cli-submit"),
        "{out:?}"
    );
    let out = sluice(ns, &["get", "nope"]).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr
            .contains("workflow nope not found in namespace cli-submit")
    );
    let out = sluice(ns, &["delete", "--completed"]).await;
    assert_eq!(out.stdout, format!("workflow {name} deleted\n"), "{out:?}");
    assert!(sluice(ns, &["list"]).await.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_validates_before_sending() {
    let ns = "cli-invalid";
    let client = namespace(ns).await;
    let dir = tempdir();
    let bad = write(
        dir.path(),
        "bad.yaml",
        &GREET.replace("entrypoint: main", "entrypoint: nowhere"),
    );
    let out = sluice(ns, &["submit", &bad]).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("bad.yaml:"), "{out:?}");
    assert!(out.stderr.contains("spec.entrypoint"), "{out:?}");

    let good = write(dir.path(), "greet.yaml", GREET);
    let out = sluice(ns, &["submit", &good, "-p", "nosuch=1"]).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr
            .contains("parameter nosuch is not declared in spec.arguments"),
        "{out:?}"
    );
    let out = sluice(ns, &["submit", &good, "-p", "novalue"]).await;
    assert!(
        out.stderr.contains("-p novalue: expected NAME=VALUE"),
        "{out:?}"
    );
    let template = write(
        dir.path(),
        "t.yaml",
        &GREET
            .replace("kind: Workflow", "kind: WorkflowTemplate")
            .replace("generateName: greet-", "name: t"),
    );
    let out = sluice(ns, &["submit", &template]).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr
            .contains("a WorkflowTemplate cannot be submitted"),
        "{out:?}"
    );
    let list = api(&client, ns, "Workflow")
        .list(&Default::default())
        .await
        .expect("list");
    assert!(list.items.is_empty(), "nothing was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_and_cron_workflows() {
    let ns = "cli-templates";
    let client = namespace(ns).await;
    let dir = tempdir();
    let template = write(
        dir.path(),
        "template.yaml",
        &GREET
            .replace("kind: Workflow", "kind: WorkflowTemplate")
            .replace("generateName: greet-", "name: greeter"),
    );
    let out = sluice(ns, &["template", "create", &template]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, "workflowtemplate greeter created\n");
    let out = sluice(ns, &["template", "list"]).await;
    assert_eq!(
        out.stdout
            .lines()
            .nth(1)
            .and_then(|l| l.split_whitespace().next()),
        Some("greeter"),
        "{out:?}"
    );
    let out = sluice(ns, &["template", "get", "greeter", "-o", "json"]).await;
    let got: Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(got["spec"]["entrypoint"], "main");
    let out = sluice(ns, &["template", "get", "nope"]).await;
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr
            .contains("workflowtemplate nope not found in namespace cli-templates"),
        "{out:?}"
    );

    let out = sluice(
        ns,
        &[
            "submit",
            "--from",
            "workflowtemplate/greeter",
            "-p",
            "message=yo",
        ],
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let name = out.stdout.trim();
    assert!(name.starts_with("greeter-"), "{out:?}");
    let wf = workflow(&client, ns, name).await;
    assert_eq!(
        wf.data["spec"]["workflowTemplateRef"],
        json!({"name": "greeter"})
    );
    assert_eq!(
        wf.data["spec"]["arguments"]["parameters"],
        json!([{"name": "message", "value": "yo"}])
    );
    assert_eq!(
        wf.metadata.labels.as_ref().expect("labels")["workflows.argoproj.io/workflow-template"],
        "greeter"
    );
    let out = sluice(ns, &["submit", "--from", "workflowtemplate/missing"]).await;
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr
            .contains("workflowtemplate missing not found in namespace cli-templates"),
        "{out:?}"
    );

    // ClusterWorkflowTemplates: --cluster, and clusterScope in the ref.
    let shared = write(
        dir.path(),
        "shared.yaml",
        &GREET
            .replace("kind: Workflow", "kind: ClusterWorkflowTemplate")
            .replace("generateName: greet-", "name: shared-greeter"),
    );
    let out = sluice(ns, &["template", "create", &shared]).await;
    assert_eq!(
        out.stdout, "clusterworkflowtemplate shared-greeter created\n",
        "{out:?}"
    );
    let out = sluice(ns, &["template", "list", "--cluster"]).await;
    assert!(
        out.stdout.lines().any(|l| l.starts_with("shared-greeter ")),
        "{out:?}"
    );
    let out = sluice(ns, &["template", "get", "--cluster", "shared-greeter"]).await;
    assert!(
        out.stdout.contains("kind: ClusterWorkflowTemplate"),
        "{out:?}"
    );
    let out = sluice(
        ns,
        &["submit", "--from", "clusterworkflowtemplate/shared-greeter"],
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let wf = workflow(&client, ns, out.stdout.trim()).await;
    assert_eq!(
        wf.data["spec"]["workflowTemplateRef"],
        json!({"name": "shared-greeter", "clusterScope": true})
    );
    let out = sluice(ns, &["submit", "--from", "clusterworkflowtemplate/none"]).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr
            .contains("clusterworkflowtemplate none not found"),
        "{out:?}"
    );
    let out = sluice(ns, &["submit", "--from", "pod/x"]).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("unknown kind \"pod\""), "{out:?}");

    let cron = write(
        dir.path(),
        "cron.yaml",
        "\
apiVersion: argoproj.io/v1alpha1
kind: CronWorkflow
metadata:
  name: nightly
spec:
  schedule: '0 3 * * *'
  workflowMetadata:
    labels: {team: night}
  workflowSpec:
    entrypoint: main
    templates:
      - name: main
        container: {image: busybox, command: [true]}
",
    );
    let out = sluice(ns, &["cron", "create", &cron]).await;
    assert_eq!(out.stdout, "cronworkflow nightly created\n", "{out:?}");
    let out = sluice(ns, &["cron", "list"]).await;
    let row: Vec<&str> = out
        .stdout
        .lines()
        .nth(1)
        .expect("row")
        .split_whitespace()
        .collect();
    assert_eq!((row[0], row[2]), ("nightly", "N/A"), "{out:?}");
    assert_eq!(row.last(), Some(&"false"));
    let out = sluice(ns, &["cron", "suspend", "nightly"]).await;
    assert_eq!(out.stdout, "cronworkflow nightly suspended\n", "{out:?}");
    let suspended = |c: DynamicObject| c.data["spec"]["suspend"].clone();
    let crons = api(&client, ns, "CronWorkflow");
    assert_eq!(
        suspended(crons.get("nightly").await.expect("cron")),
        json!(true)
    );
    sluice(ns, &["cron", "resume", "nightly"]).await;
    assert_eq!(
        suspended(crons.get("nightly").await.expect("cron")),
        json!(false)
    );
    let out = sluice(ns, &["cron", "get", "nightly"]).await;
    assert!(out.stdout.contains("schedule: 0 3 * * *"), "{out:?}");

    let out = sluice(ns, &["submit", "--from", "cronworkflow/nightly"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let wf = workflow(&client, ns, out.stdout.trim()).await;
    let labels = wf.metadata.labels.clone().expect("labels");
    assert_eq!(labels["workflows.argoproj.io/cron-workflow"], "nightly");
    assert_eq!(labels["team"], "night");
    assert_eq!(wf.data["spec"]["entrypoint"], "main");
    assert_eq!(
        wf.metadata.owner_references.expect("owner")[0].name,
        "nightly"
    );

    // A workflow is not a template.
    let out = sluice(ns, &["template", "create", &cron]).await;
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("not a CronWorkflow"), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intent_verbs_append_to_the_annotation() {
    let ns = "cli-intents";
    let client = namespace(ns).await;
    let name = create(
        &client,
        ns,
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"name": "paused"},
            "spec": {"entrypoint": "main", "templates": [{"name": "main", "suspend": {}}]}}),
    )
    .await;
    let verbs: [&[&str]; 6] = [
        &[
            "resume",
            &name,
            "--node-field-selector",
            "displayName=approve",
            "-p",
            "ok=yes",
        ],
        &["suspend", &name],
        &["stop", &name, "--message", "enough"],
        &["terminate", &name],
        &[
            "retry",
            &name,
            "--restart-successful",
            "--node-field-selector",
            "b",
            "-p",
            "x=1",
        ],
        &["resume", &name],
    ];
    for verb in verbs {
        let out = sluice(ns, verb).await;
        assert_eq!(out.code, Some(0), "{verb:?}: {out:?}");
        assert_eq!(
            out.stdout,
            format!("workflow {name}: {} requested\n", verb[0])
        );
    }
    let wf = workflow(&client, ns, &name).await;
    let text = &wf.metadata.annotations.expect("annotations")
        [sluice_controller::workflow::ANNOTATION_INTENTS];
    assert_eq!(
        text,
        r#"[{"intent":"resume","node":"approve","parameters":{"ok":"yes"}},{"intent":"suspend"},{"intent":"stop","message":"enough"},{"intent":"terminate","message":null},{"intent":"retry","node":"b","restartSuccessful":true,"parameters":{"x":"1"}},{"intent":"resume","node":null,"parameters":{}}]"#
    );
    // The controller reads them as the engine's intents.
    let intents: Vec<sluice_engine::run::Intent> = serde_json::from_str(text).expect("intents");
    assert_eq!(intents.len(), 6);
    assert!(
        wf.data.get("status").is_none_or(Value::is_null),
        "status untouched"
    );

    // Many verbs at once: every one lands.
    let args = ["suspend", name.as_str()];
    let runs: Vec<_> = (0..4).map(|_| sluice(ns, &args)).collect();
    for out in futures::future::join_all(runs).await {
        assert_eq!(out.code, Some(0), "{out:?}");
    }
    let wf = workflow(&client, ns, &name).await;
    let text = &wf.metadata.annotations.expect("annotations")["sluice.dev/intents"];
    let intents: Vec<Value> = serde_json::from_str(text).expect("json");
    assert_eq!(intents.len(), 10, "{text}");

    let out = sluice(ns, &["suspend", "nope"]).await;
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr
            .contains("workflow nope not found in namespace cli-intents"),
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resubmit_creates_a_new_workflow_from_the_spec() {
    let ns = "cli-resubmit";
    let client = namespace(ns).await;
    create(
        &client,
        ns,
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"name": "first", "labels": {"team": "a",
                "workflows.argoproj.io/completed": "true", "workflows.argoproj.io/phase": "Failed"},
                "annotations": {"note": "kept", "sluice.dev/intents": "[{\"intent\":\"suspend\"}]"}},
            "spec": {"entrypoint": "main", "shutdown": "Terminate",
                "templates": [{"name": "main", "container": {"image": "busybox"}}]},
            "status": {"phase": "Failed"}}),
    )
    .await;
    let out = sluice(ns, &["resubmit", "first"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let name = out.stdout.trim();
    assert!(
        name.starts_with("first-") && name.len() > "first-".len(),
        "{out:?}"
    );
    let wf = workflow(&client, ns, name).await;
    let labels = wf.metadata.labels.clone().expect("labels");
    assert_eq!(
        labels.into_iter().collect::<Vec<_>>(),
        [
            ("team".to_owned(), "a".to_owned()),
            (
                "workflows.argoproj.io/resubmitted-from-workflow".to_owned(),
                "first".to_owned()
            )
        ]
    );
    assert_eq!(
        wf.metadata
            .annotations
            .clone()
            .expect("annotations")
            .into_iter()
            .collect::<Vec<_>>(),
        [("note".to_owned(), "kept".to_owned())]
    );
    assert!(wf.data["spec"].get("shutdown").is_none());
    assert!(wf.data.get("status").is_none_or(Value::is_null));
}

/// A controller of this process for the namespace, with the simulated kubelet.
async fn controller(client: &kube::Client, ns: &str) -> impl Drop {
    /// The kubelet stops when dropped, the controller task is aborted.
    struct World {
        controller: tokio::task::JoinHandle<()>,
        _kubelet: sluice_e2e::kubelet::Kubelet,
    }
    impl Drop for World {
        fn drop(&mut self) {
            self.controller.abort();
        }
    }
    let options = sluice_controller::Options {
        workers: 2,
        instance: format!("test-{ns}"),
        namespace: Some(ns.to_owned()),
    };
    let metrics = Arc::new(sluice_controller::metrics::Metrics::new().expect("metrics"));
    let ctx = Arc::new(sluice_controller::Context::new(
        client.clone(),
        sluice_api::Config::default(),
        metrics,
        &options,
    ));
    let kubelet = sluice_e2e::kubelet::kubelet(client, ns);
    let task = tokio::spawn(async move {
        sluice_controller::run(ctx, &options, std::future::pending()).await;
    });
    World {
        controller: task,
        _kubelet: kubelet,
    }
}

const SIM: &str = "\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: sim-
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - {name: first, template: run}
    - name: run
      container: {image: 'sim/exit:CODE', command: [sim]}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_watch_and_resume_with_the_controller() {
    let ns = "cli-watch";
    let client = namespace(ns).await;
    let _world = controller(&client, ns).await;
    let dir = tempdir();

    let ok = write(dir.path(), "ok.yaml", &SIM.replace("CODE", "0"));
    let out = sluice(ns, &["submit", "--watch", &ok]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let name = out.stdout.lines().next().expect("name").to_owned();
    assert!(
        out.stdout.contains("Status:              Succeeded"),
        "{out:?}"
    );
    assert!(
        out.stdout
            .lines()
            .any(|l| l.contains("first") && l.contains('✔')),
        "{out:?}"
    );
    let out = sluice(ns, &["watch", &name]).await;
    assert_eq!(out.code, Some(0), "{out:?}");

    let failing = write(dir.path(), "fail.yaml", &SIM.replace("CODE", "3"));
    let out = sluice(ns, &["submit", "--watch", &failing]).await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stdout.contains("Status:              Failed"),
        "{out:?}"
    );
    let failed = out.stdout.lines().next().expect("name").to_owned();
    let out = sluice(ns, &["watch", &failed]).await;
    assert_eq!(out.code, Some(1), "{out:?}");

    // A suspend node, resumed through the intents annotation.
    let gate = write(
        dir.path(),
        "gate.yaml",
        "\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: gate
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - {name: approve, template: wait}
        - - {name: after, template: run}
    - name: wait
      suspend: {}
    - name: run
      container: {image: 'sim/exit:0', command: [sim]}
",
    );
    assert_eq!(sluice(ns, &["submit", &gate]).await.stdout, "gate\n");
    sluice_e2e::poll_until("the suspend node to run", TIMEOUT, || async {
        let wf = workflow(&client, ns, "gate").await;
        let nodes = wf.data["status"]["nodes"].as_object()?.clone();
        nodes
            .values()
            .any(|n| n["displayName"] == "approve" && n["phase"] == "Running")
            .then_some(())
    })
    .await
    .expect("suspended");
    let out = sluice(
        ns,
        &[
            "resume",
            "gate",
            "--node-field-selector",
            "displayName=approve",
        ],
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let out = sluice(ns, &["watch", "gate"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout
            .lines()
            .any(|l| l.contains("after") && l.contains('✔')),
        "{out:?}"
    );
    let wf = workflow(&client, ns, "gate").await;
    assert!(
        !wf.metadata
            .annotations
            .unwrap_or_default()
            .contains_key("sluice.dev/intents"),
        "the controller consumed the intent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_of_a_workflow_whose_pods_are_gone_come_from_the_archive() {
    let ns = "cli-logs";
    let client = namespace(ns).await;
    let endpoint = sluice_e2e::s3::moto();
    sluice_e2e::s3::create_bucket("cli-logs");
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "s3-creds"},
        "stringData": {"accessKey": "AKIDEXAMPLE", "secretKey": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"},
    }))
    .expect("secret");
    Api::<Secret>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret");
    let location = |key: &str| {
        json!({"endpoint": endpoint, "insecure": true, "bucket": "cli-logs", "key": key,
            "accessKeySecret": {"name": "s3-creds", "key": "accessKey"},
            "secretKeySecret": {"name": "s3-creds", "key": "secretKey"}})
    };
    // What the executor's wait container saved, through its own driver.
    let dir = tempdir();
    for (step, text) in [("one", "first line\nsecond line\n"), ("two", "done\n")] {
        let key = format!("archived/{step}/main.log");
        let art: sluice_api::types::Artifact =
            serde_json::from_value(json!({"name": "main-logs", "s3": location(&key)}))
                .expect("artifact");
        let file = dir.path().join(step);
        std::fs::write(&file, text).expect("write");
        let secrets_dir = dir.path().join("secrets/s3-creds");
        std::fs::create_dir_all(&secrets_dir).expect("mkdir");
        std::fs::write(secrets_dir.join("accessKey"), "AKIDEXAMPLE").expect("write");
        std::fs::write(
            secrets_dir.join("secretKey"),
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        )
        .expect("write");
        let secrets = sluice_executor::secrets::Secrets::new(dir.path().join("secrets"));
        sluice_executor::drivers::driver_for(&art, &secrets)
            .expect("driver")
            .save(&file, &art)
            .await
            .expect("save");
    }
    let pod_node = |id: &str, step: &str, started: &str| {
        json!({"id": id, "name": format!("archived.{step}"), "displayName": step, "type": "Pod",
            "phase": "Succeeded", "templateName": "run", "startedAt": started,
            "outputs": {"artifacts": [{"name": "main-logs",
                "s3": location(&format!("archived/{step}/main.log"))}]}})
    };
    create(
        &client,
        ns,
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"name": "archived"},
            "spec": {"entrypoint": "main", "templates": [{"name": "main", "container": {"image": "busybox"}}]},
            "status": {"phase": "Succeeded", "nodes": {
                "archived-2": pod_node("archived-2", "two", "2026-01-01T00:00:09Z"),
                "archived-1": pod_node("archived-1", "one", "2026-01-01T00:00:01Z"),
            }}}),
    )
    .await;
    let out = sluice(ns, &["logs", "archived"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, "one: first line\none: second line\ntwo: done\n");
    // Another container has no archive: nothing to print.
    let out = sluice(ns, &["logs", "archived", "-c", "sidecar"]).await;
    assert_eq!((out.code, out.stdout.as_str()), (Some(0), ""), "{out:?}");
    assert!(
        out.stderr.contains(
            "no logs of one, two (container sidecar): not started yet, or the pod is gone"
        ),
        "{out:?}"
    );

    // Without the secret the error says which one.
    Api::<Secret>::namespaced(client.clone(), ns)
        .delete("s3-creds", &Default::default())
        .await
        .expect("delete");
    let out = sluice(ns, &["logs", "archived"]).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr
            .contains("secret s3-creds not found in namespace cli-logs"),
        "{out:?}"
    );
}
