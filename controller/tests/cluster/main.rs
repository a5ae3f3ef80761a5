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

/// The chart's ClusterRoles, rendered for release `test`.
fn chart_roles() -> Vec<serde_json::Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../charts/sluice/templates/rbac.yaml"
    );
    let template = std::fs::read_to_string(path).unwrap();
    let body = template.split_once("*/ -}}").unwrap().1;
    let rendered = body.replace("{{ .Release.Name }}", "test");
    assert!(!rendered.contains("{{"), "unrendered template:\n{rendered}");
    rendered
        .split("\n---\n")
        .map(|d| serde_yaml_ng::from_str(d).unwrap())
        .collect()
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

/// The controller runs a workflow with only the chart's controller role,
/// and a workflow pod's service account may write results and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chart_roles_are_enough() {
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, RoleBinding};
    let client = client().await;
    let ns = namespace(&client, "rbac").await;
    let roles: kube::Api<ClusterRole> = kube::Api::all(client.clone());
    for role in chart_roles() {
        let role: ClusterRole = serde_json::from_value(role).unwrap();
        roles.create(&Default::default(), &role).await.unwrap();
    }
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "test-sluice-controller"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "test-sluice-controller"},
        "subjects": [{"kind": "ServiceAccount", "name": "sluice-controller", "namespace": ns}]
    }))
    .unwrap();
    kube::Api::<ClusterRoleBinding>::all(client.clone())
        .create(&Default::default(), &binding)
        .await
        .unwrap();
    let executor: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "executor", "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "test-sluice-executor"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": ns}]
    }))
    .unwrap();
    kube::Api::<RoleBinding>::namespaced(client.clone(), &ns)
        .create(&Default::default(), &executor)
        .await
        .unwrap();

    let as_controller =
        impersonating(&format!("system:serviceaccount:{ns}:sluice-controller")).await;
    let _kubelet = kubelet(&client, &ns);
    let _controller = controller(&as_controller, &ns, None).await;
    let name = submit(&client, &ns, STEPS).await;
    let wf = wait_phase(&client, &ns, &name, &["Succeeded", "Failed", "Error"]).await;
    assert_eq!(
        wf.data["status"]["phase"], "Succeeded",
        "{:#}",
        wf.data["status"]
    );

    let as_pod = impersonating(&format!("system:serviceaccount:{ns}:default")).await;
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
