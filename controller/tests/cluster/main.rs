//! sluice-controller against the real kube-apiserver of ../shared/k8s: the
//! test plays the kubelet (pod status, WorkflowTaskResults).

// Test code unwraps as tests do.
#![allow(clippy::unwrap_used)]

mod alerts;
mod harness;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use harness::*;
use kube::api::{Patch, PatchParams};
use serde_json::json;

const STEPS: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: steps}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: one, template: ok}
    - - {name: two, template: ok}
      - {name: three, template: ok}
  - name: ok
    container: {image: "sim/exit:0", command: [sim]}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steps_workflow_succeeds() {
    let (client, ns, name, controller) = scenario("steps", STEPS).await;
    let wf = wait_phase(&client, &ns, &name, &["Succeeded", "Failed", "Error"]).await;
    assert_eq!(
        wf.data["status"]["phase"], "Succeeded",
        "{:#}",
        wf.data["status"]
    );
    let nodes = nodes(&wf);
    assert_eq!(nodes["one"], ("Pod".into(), "Succeeded".into()));
    assert_eq!(nodes["three"], ("Pod".into(), "Succeeded".into()));
    assert_eq!(nodes["steps"].0, "Steps");
    assert_eq!(pods(&client, &ns).await.len(), 3);
    let labels = wf.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels["workflows.argoproj.io/completed"], "true");
    assert_eq!(labels["workflows.argoproj.io/phase"], "Succeeded");
    // Status is written without per-node managed fields.
    let managed = serde_json::to_string(&wf.metadata.managed_fields).unwrap();
    assert!(managed.len() < 4096, "managedFields: {managed}");
    let text = controller.0.ctx.metrics.render().unwrap();
    assert!(
        text.contains("argo_workflows_total_count{namespace=\"steps\",phase=\"Succeeded\"} 1"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dag_with_a_failing_task_retries_and_fails() {
    let (client, ns, name, world) = scenario(
        "dag",
        r#"
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: dag}
spec:
  entrypoint: main
  metrics:
    prometheus:
    - name: dag_failures_total
      help: Failed DAG runs
      when: "{{workflow.status}} == Failed"
      counter: {value: "1"}
  templates:
  - name: main
    dag:
      tasks:
      - {name: a, template: ok}
      - {name: b, template: ok, depends: a}
      - {name: c, template: bad, depends: a}
      - {name: d, template: ok, depends: b && c}
  - name: ok
    container: {image: "sim/exit:0", command: [sim]}
  - name: bad
    retryStrategy: {limit: 2}
    container: {image: "sim/exit:3", command: [sim]}
"#,
    )
    .await;
    let wf = wait_phase(&client, &ns, &name, &["Succeeded", "Failed", "Error"]).await;
    assert_eq!(
        wf.data["status"]["phase"], "Failed",
        "{:#}",
        wf.data["status"]
    );
    let nodes = nodes(&wf);
    assert_eq!(nodes["b"], ("Pod".into(), "Succeeded".into()));
    assert_eq!(nodes["c"], ("Retry".into(), "Failed".into()));
    assert_eq!(nodes["c(2)"], ("Pod".into(), "Failed".into()));
    assert_eq!(nodes["d"].1, "Omitted");
    // a, b and three attempts of c.
    assert_eq!(pods(&client, &ns).await.len(), 5);
    let text = world.0.ctx.metrics.render().unwrap();
    assert!(
        text.contains("argo_workflows_dag_failures_total 1"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_and_resume_through_intents() {
    let (client, ns, name, _controller) = scenario(
        "suspend",
        r#"
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: approve}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: wait, template: gate}
    - - {name: after, template: ok}
  - name: gate
    suspend: {}
  - name: ok
    container: {image: "sim/exit:0", command: [sim]}
"#,
    )
    .await;
    wait_for(&client, &ns, &name, "the suspend node to run", |wf| {
        nodes(wf)
            .get("wait")
            .is_some_and(|n| n.0 == "Suspend" && n.1 == "Running")
    })
    .await;
    let patch =
        json!({"metadata": {"annotations": {"sluice.dev/intents": r#"[{"intent":"resume"}]"#}}});
    workflows(&client, &ns)
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let wf = wait_phase(&client, &ns, &name, &["Succeeded", "Failed", "Error"]).await;
    assert_eq!(
        wf.data["status"]["phase"], "Succeeded",
        "{:#}",
        wf.data["status"]
    );
    // The intent was consumed.
    let annotations = wf.metadata.annotations.clone().unwrap_or_default();
    assert!(!annotations.contains_key("sluice.dev/intents"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_ends_running_pods_and_runs_the_exit_handler() {
    let (client, ns, name, _controller) = scenario(
        "stop",
        r#"
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: long}
spec:
  entrypoint: main
  onExit: cleanup
  templates:
  - name: main
    container: {image: "sim/hang", command: [sim]}
  - name: cleanup
    container: {image: "sim/exit:0", command: [sim]}
"#,
    )
    .await;
    wait_for(&client, &ns, &name, "the pod to run", |wf| {
        wf.data["status"]["nodes"][&name]["phase"] == "Running"
    })
    .await;
    let patch =
        json!({"metadata": {"annotations": {"sluice.dev/intents": r#"[{"intent":"stop"}]"#}}});
    workflows(&client, &ns)
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let wf = wait_phase(&client, &ns, &name, &["Succeeded", "Failed", "Error"]).await;
    assert_ne!(
        wf.data["status"]["phase"], "Succeeded",
        "{:#}",
        wf.data["status"]
    );
    assert_eq!(wf.data["spec"]["shutdown"], "Stop");
    let nodes = nodes(&wf);
    assert_eq!(nodes[&format!("{name}.onExit")].1, "Succeeded", "{nodes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_pod_fails_its_node_instead_of_hanging() {
    let (client, ns, name, _controller) = scenario(
        "evicted",
        r#"
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: lost}
spec:
  entrypoint: main
  templates:
  - name: main
    container: {image: "sim/hang", command: [sim]}
"#,
    )
    .await;
    wait_for(&client, &ns, &name, "the pod to run", |wf| {
        wf.data["status"]["nodes"][&name]["phase"] == "Running"
    })
    .await;
    let api: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(client.clone(), &ns);
    api.delete(&name, &Default::default()).await.unwrap();
    let wf = wait_phase(&client, &ns, &name, &["Succeeded", "Failed", "Error"]).await;
    assert_eq!(
        wf.data["status"]["phase"], "Error",
        "{:#}",
        wf.data["status"]
    );
    assert_eq!(wf.data["status"]["nodes"][&name]["message"], "pod deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_gc_and_ttl_clean_up() {
    let (client, ns, name, _controller) = scenario(
        "gc",
        r#"
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: tidy}
spec:
  entrypoint: main
  podGC: {strategy: OnWorkflowCompletion, deleteDelayDuration: 0s}
  ttlStrategy: {secondsAfterCompletion: 2}
  templates:
  - name: main
    container: {image: "sim/exit:0", command: [sim]}
"#,
    )
    .await;
    let api = workflows(&client, &ns);
    let gone = sluice_e2e::poll_until("the workflow to be deleted by its TTL", TIMEOUT, || async {
        api.get_opt(&name).await.ok()?.is_none().then_some(())
    })
    .await;
    gone.unwrap();
    assert!(pods(&client, &ns).await.is_empty(), "pods were collected");
}

/// Kills the controller at each action boundary of a workflow in turn (the
/// fault hook stops it for good there), starts a new one, and checks the
/// workflow still succeeds with exactly one pod per node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_killed_at_any_boundary_resumes_without_duplicates() {
    let client = client().await;
    // Count the boundaries of one undisturbed run.
    let ns = namespace(&client, "restart-count").await;
    let counted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&counted);
    let hook: sluice_controller::FaultHook = Arc::new(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
        false
    });
    {
        let _kubelet = kubelet(&client, &ns);
        let _controller = controller(&client, &ns, Some(hook)).await;
        let name = submit(&client, &ns, STEPS).await;
        let wf = wait_phase(&client, &ns, &name, &["Succeeded", "Failed", "Error"]).await;
        assert_eq!(wf.data["status"]["phase"], "Succeeded");
    }
    let boundaries = counted.load(Ordering::SeqCst);
    assert!(
        boundaries >= 6,
        "3 pods and several status writes: {boundaries}"
    );
    for kill_at in 0..boundaries {
        let ns = namespace(&client, &format!("restart-{kill_at}")).await;
        let _kubelet = kubelet(&client, &ns);
        let seen = Arc::new(AtomicUsize::new(0));
        let seen_in_hook = Arc::clone(&seen);
        let hook: sluice_controller::FaultHook =
            Arc::new(move |_| seen_in_hook.fetch_add(1, Ordering::SeqCst) == kill_at);
        let first = controller(&client, &ns, Some(hook)).await;
        let name = submit(&client, &ns, STEPS).await;
        // Boundaries vary a little between runs (watch events coalesce):
        // a run that ends before `kill_at` is killed after the end.
        let api = workflows(&client, &ns);
        let (seen, api, name) = (&seen, &api, &name);
        sluice_e2e::poll_until(
            "the controller to reach the boundary",
            TIMEOUT,
            || async move {
                if seen.load(Ordering::SeqCst) > kill_at {
                    return Some(());
                }
                let wf = api.get(name).await.ok()?;
                (wf.data["status"]["phase"] == "Succeeded").then_some(())
            },
        )
        .await
        .unwrap_or_else(|e| panic!("killed at boundary {kill_at}: {e}"));
        drop(first);
        let _second = controller(&client, &ns, None).await;
        let wf = wait_phase(&client, &ns, name, &["Succeeded", "Failed", "Error"]).await;
        assert_eq!(
            wf.data["status"]["phase"], "Succeeded",
            "killed at boundary {kill_at}: {:#}",
            wf.data["status"]
        );
        let pods = pods(&client, &ns).await;
        let pod_nodes = nodes(&wf).values().filter(|(t, _)| t == "Pod").count();
        assert_eq!(
            pods.len(),
            3,
            "killed at boundary {kill_at}: {:?}",
            pods.keys()
        );
        assert_eq!(pod_nodes, 3, "killed at boundary {kill_at}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cron_workflow_fires_keeps_its_history_and_reports_the_next_run() {
    let client = client().await;
    let ns = namespace(&client, "cron").await;
    let _kubelet = kubelet(&client, &ns);
    let controller = controller(&client, &ns, None).await;
    let cron: kube::api::DynamicObject = serde_yaml_ng::from_str(&format!(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: CronWorkflow
metadata: {{name: often, namespace: {ns}}}
spec:
  schedule: "@every 2s"
  concurrencyPolicy: Forbid
  successfulJobsHistoryLimit: 1
  workflowMetadata: {{labels: {{team: data}}}}
  workflowSpec:
    entrypoint: main
    templates:
    - name: main
      container: {{image: "sim/exit:0", command: [sim]}}
"#
    ))
    .unwrap();
    let crons: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        client.clone(),
        &ns,
        &sluice_controller::kinds::resource("CronWorkflow"),
    );
    crons.create(&Default::default(), &cron).await.unwrap();
    let crons = &crons;
    let counted = sluice_e2e::poll_until("two runs to succeed", TIMEOUT, || async move {
        let cron = crons.get("often").await.ok()?;
        let succeeded = cron.data["status"]["succeeded"].as_i64()?;
        (succeeded >= 2).then_some(cron)
    })
    .await
    .unwrap();
    assert!(counted.data["status"]["lastScheduledTime"].is_string());
    let api = workflows(&client, &ns);
    let runs = api.list(&Default::default()).await.unwrap().items;
    for run in &runs {
        let labels = run.metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels["workflows.argoproj.io/cron-workflow"], "often");
        assert_eq!(labels["team"], "data");
        let name = run.metadata.name.clone().unwrap_or_default();
        assert!(name.starts_with("often-"), "{name}");
    }
    // The history limit keeps one succeeded run (a second may be running).
    let api = &api;
    sluice_e2e::poll_until("the history to be trimmed", TIMEOUT, || async move {
        let runs = api.list(&Default::default()).await.ok()?.items;
        let done = runs
            .iter()
            .filter(|r| r.data["status"]["phase"] == "Succeeded")
            .count();
        (done <= 1).then_some(())
    })
    .await
    .unwrap();
    let text = controller.ctx.metrics.render().unwrap();
    assert!(
        text.contains(
            "argo_workflows_cronworkflows_triggered_total{name=\"often\",namespace=\"cron\"}"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "sluice_cronworkflow_next_scheduled_time_seconds{name=\"often\",namespace=\"cron\"}"
        ),
        "{text}"
    );
}

/// Two controller processes share a Lease: one leads; when it dies the
/// other takes over and runs the next workflow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_replica_takes_over_when_the_leader_dies() {
    let client = client().await;
    let ns = namespace(&client, "failover").await;
    let _kubelet = kubelet(&client, &ns);
    let kubeconfig = sluice_e2e::shared_apiserver().kubeconfig().to_path_buf();
    let start = |identity: &str| {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        std::process::Command::new(env!("CARGO_BIN_EXE_sluice-controller"))
            .args([
                "--namespace",
                &ns,
                "--lease-namespace",
                &ns,
                "--lease-seconds",
                "3",
            ])
            .args([
                "--identity",
                identity,
                "--admin-listen",
                &format!("127.0.0.1:{port}"),
            ])
            .env("KUBECONFIG", &kubeconfig)
            .env("RUST_LOG", "warn")
            .spawn()
            .unwrap()
    };
    let mut replicas = std::collections::BTreeMap::from([("a", start("a")), ("b", start("b"))]);
    let leases: kube::Api<k8s_openapi::api::coordination::v1::Lease> =
        kube::Api::namespaced(client.clone(), &ns);
    let holder = |leases: kube::Api<k8s_openapi::api::coordination::v1::Lease>| async move {
        leases
            .get_opt("sluice-controller")
            .await
            .ok()??
            .spec?
            .holder_identity
    };
    let first = sluice_e2e::poll_until("a leader", TIMEOUT, || holder(leases.clone()))
        .await
        .unwrap();
    let name = submit(&client, &ns, STEPS).await;
    let wf = wait_phase(&client, &ns, &name, &["Succeeded", "Failed", "Error"]).await;
    assert_eq!(wf.data["status"]["phase"], "Succeeded");
    let mut leader = replicas.remove(first.as_str()).unwrap();
    leader.kill().unwrap();
    leader.wait().unwrap();
    let second = sluice_e2e::poll_until("the other replica to lead", TIMEOUT, || async {
        holder(leases.clone()).await.filter(|h| *h != first)
    })
    .await
    .unwrap();
    assert!(replicas.contains_key(second.as_str()));
    let mut yaml = STEPS.replace("name: steps", "name: after-failover");
    yaml.push('\n');
    let name = submit(&client, &ns, &yaml).await;
    let wf = wait_phase(&client, &ns, &name, &["Succeeded", "Failed", "Error"]).await;
    assert_eq!(wf.data["status"]["phase"], "Succeeded");
    for (_, mut replica) in replicas {
        let _ = replica.kill();
        let _ = replica.wait();
    }
}

/// The chart's service accounts and RBAC in namespaced mode for `ns`
/// (release `sluice-<ns>` installed in `ns`), rendered by helm.
fn chart_rbac(ns: &str) -> Vec<serde_json::Value> {
    sluice_e2e::chart::template(
        &format!("sluice-{ns}"),
        ns,
        &[
            "--show-only",
            "templates/serviceaccounts.yaml",
            "--show-only",
            "templates/rbac.yaml",
            "--set",
            "namespaced=true",
        ],
    )
    .unwrap()
}

async fn impersonating(user: &str) -> kube::Client {
    let path = sluice_e2e::shared_apiserver().kubeconfig();
    let kubeconfig = kube::config::Kubeconfig::read_from(path).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    config.auth_info.impersonate = Some(user.to_owned());
    kube::Client::try_from(config).unwrap()
}

/// The controller runs a workflow with only the rights the chart gives it
/// (namespaced mode, as the controller here runs), and a workflow pod's
/// service account may write results and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chart_roles_are_enough() {
    let client = client().await;
    let ns = namespace(&client, "rbac").await;
    let objects = chart_rbac(&ns);
    let kinds: Vec<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
    for kind in ["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
    let text = objects
        .iter()
        .map(serde_json::Value::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    let output = sluice_e2e::chart::kubectl(
        sluice_e2e::shared_apiserver().kubeconfig(),
        &["apply", "--server-side", "-f", "-"],
        text.as_bytes(),
    )
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let as_controller = impersonating(&format!(
        "system:serviceaccount:{ns}:sluice-{ns}-controller"
    ))
    .await;
    // Leader election as sluice-controller runs it, on the chart's Lease
    // in the release namespace.
    let manager = kube_lease_manager::LeaseManagerBuilder::new(
        as_controller.clone(),
        format!("sluice-{ns}-controller"),
    )
    .with_namespace(&ns)
    .with_identity("chart-roles")
    .with_duration(5)
    .with_grace(2)
    .build()
    .await
    .unwrap();
    let (leading, election) = manager.watch().await;
    sluice_e2e::poll_until("the lease, with the chart's rights", TIMEOUT, || {
        let leading = leading.clone();
        async move { (*leading.borrow()).then_some(()) }
    })
    .await
    .unwrap();
    election.abort();
    let _kubelet = kubelet(&client, &ns);
    let _controller = controller(&as_controller, &ns, None).await;
    let name = submit(&client, &ns, STEPS).await;
    let wf = wait_phase(&client, &ns, &name, &["Succeeded", "Failed", "Error"]).await;
    assert_eq!(
        wf.data["status"]["phase"], "Succeeded",
        "{:#}",
        wf.data["status"]
    );

    let as_pod = impersonating(&format!("system:serviceaccount:{ns}:sluice-workflow")).await;
    let results: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        as_pod.clone(),
        &ns,
        &sluice_controller::kinds::resource("WorkflowTaskResult"),
    );
    let result = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTaskResult",
        "metadata": {"name": "node-1"}, "outputs": {"parameters": [{"name": "p", "value": "1"}]}});
    results
        .patch(
            "node-1",
            &PatchParams::apply("sluice-executor"),
            &Patch::Apply(&result),
        )
        .await
        .expect("a workflow pod writes its result");
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(as_pod, &ns);
    let denied = pods
        .list(&Default::default())
        .await
        .expect_err("no pod rights");
    assert!(matches!(denied, kube::Error::Api(s) if s.code == 403));
}

/// With an instanceID, the controller runs only the workflows labelled
/// with it, and leaves the others to their controller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_id_divides_the_workflows() {
    let client = client().await;
    let ns = namespace(&client, "instance").await;
    let _kubelet = kubelet(&client, &ns);
    let config = sluice_api::Config {
        instance_id: Some("blue".into()),
        ..Default::default()
    };
    let _controller = controller_with(&client, &ns, None, config).await;
    let other = submit(&client, &ns, STEPS).await;
    let ours = STEPS.replace(
        "metadata: {name: steps}",
        "metadata: {name: blue, labels: {workflows.argoproj.io/controller-instanceid: blue}}",
    );
    let name = submit(&client, &ns, &ours).await;
    let wf = wait_phase(&client, &ns, &name, &["Succeeded", "Failed", "Error"]).await;
    assert_eq!(wf.data["status"]["phase"], "Succeeded");
    let untouched = workflows(&client, &ns).get(&other).await.unwrap();
    assert!(
        untouched.data.get("status").is_none(),
        "{:#}",
        untouched.data
    );
    let pods = pods(&client, &ns).await;
    assert!(
        pods.keys().all(|p| p.starts_with("blue")),
        "{:?}",
        pods.keys()
    );
}

/// A workflow whose artifacts live in `bucket` of the test's moto server:
/// `done` goes when it completes, `later` (the workflow's strategy) when it
/// is deleted, `kept` never.
fn artifact_workflow(name: &str, bucket: &str, force: bool) -> String {
    let endpoint = sluice_e2e::s3::moto();
    let location = |key: &str| {
        format!(
            "s3: {{endpoint: \"{endpoint}\", insecure: true, bucket: {bucket}, key: {key}, \
             accessKeySecret: {{name: s3-creds, key: accessKey}}, \
             secretKeySecret: {{name: s3-creds, key: secretKey}}}}"
        )
    };
    format!(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {{name: {name}}}
spec:
  entrypoint: main
  artifactGC: {{strategy: OnWorkflowDeletion, forceFinalizerRemoval: {force}}}
  templates:
  - name: main
    container: {{image: "sim/exit:0", command: [sim]}}
    outputs:
      artifacts:
      - {{name: done, path: /tmp/done, artifactGC: {{strategy: OnWorkflowCompletion}}, {done}}}
      - {{name: later, path: /tmp/later, {later}}}
      - {{name: kept, path: /tmp/kept, artifactGC: {{strategy: Never}}, {kept}}}
"#,
        done = location(&format!("{name}/done.txt")),
        later = location(&format!("{name}/later.txt")),
        kept = location(&format!("{name}/kept.txt")),
    )
}

fn has_finalizer(wf: &kube::core::DynamicObject) -> bool {
    wf.metadata
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == sluice_controller::artgc::FINALIZER)
}

/// Artifact GC through the real executor against a real S3 server: the
/// completion strategy deletes at the end, the deletion strategy when the
/// workflow is deleted, then the finalizer goes. A deletion that fails
/// keeps the workflow (condition, Event) until the finalizer is removed by
/// hand, or goes at once with forceFinalizerRemoval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifact_gc_deletes_artifacts_then_releases_the_workflow() {
    use k8s_openapi::api::core::v1::{Event, Secret};
    use sluice_e2e::s3::{create_bucket, object_exists, put_object};
    let client = client().await;
    let ns = namespace(&client, "artgc").await;
    let executor = sluice_e2e::local::sluice_binary()
        .unwrap()
        .with_file_name("sluice-executor");
    let _kubelet = sluice_e2e::kubelet::kubelet_with_executor(&client, &ns, executor);
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "s3-creds"},
        "stringData": {"accessKey": "AKIDEXAMPLE", "secretKey": "wJalrXUtnFEMI/K7MDENG"}
    }))
    .unwrap();
    kube::Api::<Secret>::namespaced(client.clone(), &ns)
        .create(&Default::default(), &secret)
        .await
        .unwrap();
    let bucket = format!("gc-{ns}");
    create_bucket(&bucket);
    for key in ["ok/done.txt", "ok/later.txt", "ok/kept.txt"] {
        put_object(&bucket, key, b"data");
    }
    let _controller = controller(&client, &ns, None).await;
    let api = workflows(&client, &ns);

    let name = submit(&client, &ns, &artifact_workflow("ok", &bucket, false)).await;
    let wf = wait_for(&client, &ns, &name, "completion artifacts deleted", |wf| {
        wf.data["status"]["artifactGCStatus"]["podsRecouped"]
            .as_object()
            .is_some_and(|p| !p.is_empty() && p.values().all(|v| v == true))
    })
    .await;
    assert_eq!(wf.data["status"]["phase"], "Succeeded");
    assert!(has_finalizer(&wf), "the deletion strategy still holds it");
    assert!(!object_exists(&bucket, "ok/done.txt"));
    assert!(object_exists(&bucket, "ok/later.txt"));
    let pod_node = nodes(&wf)
        .into_iter()
        .find(|(_, (t, _))| t == "Pod")
        .unwrap()
        .0;
    let outputs = &wf.data["status"]["nodes"][&pod_node]["outputs"]["artifacts"];
    assert_eq!(outputs[0]["deleted"], true, "{outputs:#}");
    assert!(outputs[1].get("deleted").is_none(), "{outputs:#}");

    api.delete(&name, &Default::default()).await.unwrap();
    sluice_e2e::poll_until("the workflow to go", TIMEOUT, || async {
        api.get_opt(&name).await.ok()?.is_none().then_some(())
    })
    .await
    .unwrap();
    assert!(!object_exists(&bucket, "ok/later.txt"));
    assert!(object_exists(&bucket, "ok/kept.txt"), "Never is never");

    // A bucket that does not exist: every deletion fails.
    for (name, force) in [("stuck", false), ("forced", true)] {
        let yaml = artifact_workflow(name, "no-such-bucket", force);
        submit(&client, &ns, &yaml).await;
        wait_phase(&client, &ns, name, &["Succeeded"]).await;
        api.delete(name, &Default::default()).await.unwrap();
    }
    sluice_e2e::poll_until("the forced workflow to go", TIMEOUT, || async {
        api.get_opt("forced").await.ok()?.is_none().then_some(())
    })
    .await
    .unwrap();
    let stuck = wait_for(&client, &ns, "stuck", "the failure recorded", |wf| {
        wf.data["status"]["artifactGCStatus"]["strategiesProcessed"]["OnWorkflowDeletion"] == true
            && wf.data["status"]["artifactGCStatus"]["podsRecouped"]
                .as_object()
                .is_some_and(|p| p.values().all(|v| v == true))
    })
    .await;
    assert!(has_finalizer(&stuck));
    let conditions = stuck.data["status"]["conditions"].as_array().unwrap();
    let message = conditions
        .iter()
        .find(|c| c["type"] == "ArtifactGCError")
        .and_then(|c| c["message"].as_str())
        .unwrap_or_else(|| panic!("no ArtifactGCError in {conditions:?}"));
    assert!(message.contains("no-such-bucket"), "{message}");
    assert!(message.contains("forceFinalizerRemoval"), "{message}");
    let events: Vec<Event> = kube::Api::<Event>::namespaced(client.clone(), &ns)
        .list(&Default::default())
        .await
        .unwrap()
        .items;
    assert!(
        events
            .iter()
            .any(|e| e.reason.as_deref() == Some("ArtifactGCFailed")
                && e.involved_object.name.as_deref() == Some("stuck")),
        "an ArtifactGCFailed event"
    );
    // The way out: remove the finalizer.
    api.patch(
        "stuck",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    sluice_e2e::poll_until("the stuck workflow to go", TIMEOUT, || async {
        api.get_opt("stuck").await.ok()?.is_none().then_some(())
    })
    .await
    .unwrap();
}
