use std::sync::Arc;

use serde_json::json;

use super::*;

fn s3(key: &str, gc: Option<Value>) -> Value {
    let mut art = json!({"name": key, "path": "/tmp/x", "s3": {
        "endpoint": "127.0.0.1:9000", "bucket": "b", "key": key,
        "accessKeySecret": {"name": "creds", "key": "ak"},
        "secretKeySecret": {"name": "creds", "key": "sk"}}});
    if let Some(gc) = gc {
        art["artifactGC"] = gc;
    }
    art
}

/// A finished workflow: node `wf-1` produced `outputs`; `wf` is its Steps node.
fn workflow(level: Value, outputs: Vec<Value>) -> Workflow {
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
        "metadata": {"name": "wf", "namespace": "ns", "uid": "u-1"},
        "spec": {"entrypoint": "main", "serviceAccountName": "runner", "artifactGC": level,
            "templates": [{"name": "main", "container": {"image": "x"},
                "outputs": {"artifacts": outputs.clone()}}]},
        "status": {"phase": "Succeeded", "nodes": {
            "wf": {"id": "wf", "name": "wf", "type": "Steps", "phase": "Succeeded",
                "outputs": {"artifacts": outputs.clone()}},
            "wf-1": {"id": "wf-1", "name": "wf[0].a", "type": "Pod", "phase": "Succeeded",
                "templateName": "main", "outputs": {"artifacts": outputs}}}}
    }))
    .expect("workflow")
}

fn level(wf: &Workflow) -> Option<&WorkflowLevelArtifactGC> {
    workflow_level(&wf.spec, None)
}

#[test]
fn an_artifact_strategy_overrides_the_workflow_one_and_never_opts_out() {
    let wf = workflow(
        json!({"strategy": "OnWorkflowDeletion"}),
        vec![
            s3("a", None),
            s3("b", Some(json!({"strategy": "OnWorkflowCompletion"}))),
            s3("c", Some(json!({"strategy": "Never"}))),
        ],
    );
    let arts = &wf.spec.templates[0]
        .outputs
        .as_ref()
        .expect("outputs")
        .artifacts;
    let strategies: Vec<_> = arts.iter().map(|a| strategy_of(a, level(&wf))).collect();
    assert_eq!(
        strategies,
        [
            Some(Strategy::OnWorkflowDeletion),
            Some(Strategy::OnWorkflowCompletion),
            None
        ]
    );
    assert!(wants_finalizer(&wf, None));
    let none = workflow(json!({}), vec![s3("a", Some(json!({"strategy": "Never"})))]);
    assert!(!wants_finalizer(&none, None));
    // The configured workflowDefaults count when the workflow sets nothing.
    let defaults: WorkflowSpec =
        serde_json::from_value(json!({"artifactGC": {"strategy": "OnWorkflowCompletion"}}))
            .expect("defaults");
    let plain = workflow(json!(null), vec![s3("a", None)]);
    assert!(!wants_finalizer(&plain, None));
    assert!(wants_finalizer(&plain, Some(&defaults)));
}

#[test]
fn pods_are_planned_per_service_account_for_pod_nodes_only() {
    let wf = workflow(
        json!({"strategy": "OnWorkflowCompletion"}),
        vec![
            s3("a", None),
            s3("b", Some(json!({"serviceAccountName": "cleaner"}))),
            s3("c", None),
            json!({"name": "raw-only", "path": "/tmp/y"}),
        ],
    );
    let pods = plan(&wf, level(&wf), Strategy::OnWorkflowCompletion);
    // The Steps node's copies of the outputs are not collected twice; an
    // artifact without a location has nothing to delete.
    let summary: Vec<(Option<&str>, Vec<&str>)> = pods
        .iter()
        .map(|p| {
            (
                p.info.service_account.as_deref(),
                p.artifacts.iter().map(|(_, a)| a.name.as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (Some("cleaner"), vec!["b"]),
            (Some("runner"), vec!["a", "c"])
        ]
    );
    assert!(
        pods.iter().all(|p| p.name.starts_with("wf-artgc-wfcomp-")),
        "{pods:?}"
    );
    assert_ne!(pods[0].name, pods[1].name);
    // The same status plans the same pods (a restarted controller finds them).
    assert_eq!(pods, plan(&wf, level(&wf), Strategy::OnWorkflowCompletion));
    assert!(plan(&wf, level(&wf), Strategy::OnWorkflowDeletion).is_empty());
}

#[test]
fn the_pod_runs_the_executor_with_the_artifacts_and_their_secrets() {
    let wf = workflow(
        json!({"strategy": "OnWorkflowDeletion", "podMetadata": {"labels": {"team": "x"}}}),
        vec![s3("a", None)],
    );
    let planned = plan(&wf, level(&wf), Strategy::OnWorkflowDeletion);
    let executor = InjectContext::from_config(&sluice_api::config::Config::default());
    let pod = build_pod(&wf, &planned[0], &executor).expect("pod");
    let pod = serde_json::to_value(&pod).expect("json");
    assert_eq!(pod["metadata"]["labels"][LABEL_COMPONENT], COMPONENT);
    assert_eq!(pod["metadata"]["labels"][LABEL_WORKFLOW], "wf");
    assert_eq!(pod["metadata"]["labels"]["team"], "x");
    assert_eq!(
        pod["metadata"]["annotations"][ANNOTATION_STRATEGY],
        "OnWorkflowDeletion"
    );
    assert_eq!(
        pod["metadata"]["annotations"][ANNOTATION_ARTIFACTS],
        r#"[["wf-1","a"]]"#
    );
    assert_eq!(pod["metadata"]["ownerReferences"][0]["uid"], "u-1");
    assert_eq!(pod["spec"]["serviceAccountName"], "runner");
    assert_eq!(pod["spec"]["restartPolicy"], "Never");
    let main = &pod["spec"]["containers"][0];
    assert_eq!(main["command"], json!(["sluice-executor", "artifact-gc"]));
    assert_eq!(main["image"], executor.image);
    let listed: Vec<Artifact> =
        serde_json::from_str(main["env"][0]["value"].as_str().expect("env")).expect("artifacts");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].s3.as_ref().and_then(|s| s.key.as_deref()),
        Some("a")
    );
    assert_eq!(
        main["volumeMounts"],
        json!([{"name": "creds", "mountPath": "/var/run/sluice/secrets/creds", "readOnly": true}])
    );
    assert_eq!(pod["spec"]["volumes"][0]["secret"]["secretName"], "creds");
}

fn gc_pod(name: &str, phase: &str, listed: &str, message: Option<&str>) -> Arc<Pod> {
    let mut terminated = json!({"exitCode": if phase == "Succeeded" {0} else {1}});
    if let Some(m) = message {
        terminated["message"] = json!(m);
    }
    Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {LABEL_COMPONENT: COMPONENT},
                "annotations": {ANNOTATION_ARTIFACTS: listed}},
            "status": {"phase": phase, "containerStatuses": [{"name": "main", "image": "e",
                "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": terminated}}]}
        }))
        .expect("pod"),
    )
}

fn deleted(gc: &Gc, node: &str) -> Vec<Option<bool>> {
    gc.workflow.status.as_ref().expect("status").nodes[node]
        .outputs
        .as_ref()
        .expect("outputs")
        .artifacts
        .iter()
        .map(|a| a.deleted)
        .collect()
}

#[test]
fn completion_pods_start_once_and_their_success_releases_the_finalizer() {
    let wf = workflow(
        json!({"strategy": "OnWorkflowCompletion"}),
        vec![s3("a", None)],
    );
    let lvl = level(&wf).cloned();
    let mut gc = Gc::new(wf).expect("gc");
    // Running: nothing is due.
    assert!(gc.start(lvl.as_ref(), false, false).is_empty());
    assert!(!gc.changed);
    let started = gc.start(lvl.as_ref(), true, false);
    assert_eq!(started.len(), 1);
    assert!(
        gc.start(lvl.as_ref(), true, false).is_empty(),
        "started once"
    );
    assert!(!gc.settle(lvl.as_ref(), true, false), "its pod still runs");
    gc.recoup(&[gc_pod(
        &started[0].name,
        "Running",
        r#"[["wf-1","a"]]"#,
        None,
    )]);
    assert!(!gc.settle(lvl.as_ref(), true, false));
    gc.recoup(&[gc_pod(
        &started[0].name,
        "Succeeded",
        r#"[["wf-1","a"]]"#,
        None,
    )]);
    assert_eq!(deleted(&gc, "wf-1"), [Some(true)]);
    assert_eq!(deleted(&gc, "wf"), [None], "only the pod node's record");
    assert!(gc.settle(lvl.as_ref(), true, false));
    assert!(gc.failures.is_empty());
    let status = gc.stored_status().expect("status");
    assert_eq!(
        status["artifactGCStatus"],
        json!({"podsRecouped": {started[0].name.clone(): true},
            "strategiesProcessed": {"OnWorkflowCompletion": true}})
    );
}

#[test]
fn deletion_artifacts_hold_the_finalizer_until_the_workflow_is_deleted() {
    let wf = workflow(
        json!({"strategy": "OnWorkflowDeletion", "forceFinalizerRemoval": true}),
        vec![s3("a", None)],
    );
    let lvl = level(&wf).cloned();
    let mut gc = Gc::new(wf).expect("gc");
    assert!(gc.start(lvl.as_ref(), true, false).is_empty());
    assert!(
        !gc.settle(lvl.as_ref(), true, false),
        "force does not skip a strategy not yet due"
    );
    assert_eq!(gc.start(lvl.as_ref(), true, true).len(), 1);
}

#[test]
fn a_failure_is_a_condition_and_only_force_releases_the_finalizer() {
    for force in [false, true] {
        let wf = workflow(
            json!({"strategy": "OnWorkflowCompletion", "forceFinalizerRemoval": force}),
            vec![s3("a", None)],
        );
        let lvl = level(&wf).cloned();
        let mut gc = Gc::new(wf).expect("gc");
        let started = gc.start(lvl.as_ref(), true, false);
        gc.recoup(&[gc_pod(
            &started[0].name,
            "Failed",
            "[]",
            Some("could not delete 1 of 1 artifact(s):\n- \"a\": denied"),
        )]);
        assert_eq!(gc.settle(lvl.as_ref(), true, false), force);
        assert_eq!(deleted(&gc, "wf-1"), [None]);
        let conditions = &gc.workflow.status.as_ref().expect("status").conditions;
        assert_eq!(conditions.len(), 1);
        let message = conditions[0].message.clone().unwrap_or_default();
        assert!(message.contains("denied"), "{message}");
        assert_eq!(
            message.contains("forceFinalizerRemoval"),
            !force,
            "{message}"
        );
    }
}

#[test]
fn a_pod_that_cannot_be_created_counts_as_failed() {
    let wf = workflow(
        json!({"strategy": "OnWorkflowCompletion", "forceFinalizerRemoval": true}),
        vec![s3("a", None)],
    );
    let lvl = level(&wf).cloned();
    let mut gc = Gc::new(wf).expect("gc");
    let started = gc.start(lvl.as_ref(), true, false);
    gc.not_started(&started[0].name, "forbidden");
    assert!(gc.settle(lvl.as_ref(), true, false));
    assert!(gc.failures[0].contains("forbidden"));
}

#[test]
fn compressed_nodes_stay_compressed() {
    let mut wf = workflow(
        json!({"strategy": "OnWorkflowCompletion"}),
        vec![s3("a", None)],
    );
    let status = wf.status.as_mut().expect("status");
    status.compressed_nodes = Some(compress_nodes(&status.nodes));
    status.nodes = Default::default();
    let lvl = level(&wf).cloned();
    let mut gc = Gc::new(wf).expect("gc");
    let started = gc.start(lvl.as_ref(), true, false);
    assert_eq!(started.len(), 1, "nodes were read from compressedNodes");
    gc.recoup(&[gc_pod(
        &started[0].name,
        "Succeeded",
        r#"[["wf-1","a"]]"#,
        None,
    )]);
    let status = gc.stored_status().expect("status");
    assert!(status.get("nodes").is_none());
    let nodes = decompress_nodes(status["compressedNodes"].as_str().expect("compressed"))
        .expect("decompress");
    assert_eq!(
        nodes["wf-1"].outputs.as_ref().expect("outputs").artifacts[0].deleted,
        Some(true)
    );
}
