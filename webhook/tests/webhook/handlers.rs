//! The handlers as plain functions: a review in, a response out.

use json_patch::{Patch, PatchOperation};
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};
use sluice_api::Config;
use sluice_api::types::Object;
use sluice_engine::inject::{InjectContext, inject_executor, is_injected};
use sluice_webhook::review::{self, Response};
use sluice_webhook::{mutate, pods, validate};

use crate::fixtures::*;

fn patch_of(response: &Response) -> Option<Patch> {
    response
        .patch
        .as_ref()
        .map(|bytes| serde_json::from_slice(bytes).unwrap())
}

fn patched(object: &Value, response: &Response) -> Value {
    let mut object = object.clone();
    if let Some(patch) = patch_of(response) {
        json_patch::patch(&mut object, &patch).unwrap();
    }
    object
}

fn fields(response: &Response) -> Vec<String> {
    response
        .result
        .details
        .as_ref()
        .map(|d| d.causes.iter().map(|c| c.field.clone()).collect())
        .unwrap_or_default()
}

fn check(target: &Target<'_>, operation: &str, object: &Value, old: Option<&Value>) -> Response {
    validate::review(
        &request(target, operation, Some(object), old),
        &Config::default(),
        &[],
    )
}

#[test]
fn a_valid_workflow_is_allowed_without_warnings() {
    let response = check(&WORKFLOW, "CREATE", &valid_workflow(), None);
    assert!(response.allowed, "{:?}", response.result);
    assert_eq!(response.uid, "705ab4f5-6393-11e8-b7cc-42010a800002");
    assert_eq!(response.warnings, None);
    assert_eq!(response.patch, None);
}

#[test]
fn an_invalid_workflow_is_rejected_with_one_cause_per_problem() {
    let response = check(&WORKFLOW, "CREATE", &invalid_workflow(), None);
    assert!(!response.allowed);
    assert_eq!(response.result.code, 422);
    assert_eq!(response.result.reason, "Invalid");
    let causes = &response.result.details.as_ref().unwrap().causes;
    assert!(causes.len() >= 2, "{causes:#?}");
    let fields = fields(&response);
    assert!(fields.iter().any(|f| f == "spec.entrypoint"), "{fields:?}");
    assert!(
        fields.iter().any(|f| f.starts_with("spec.templates[0]")),
        "{fields:?}"
    );
    // The message names the object and lists every problem.
    let message = &response.result.message;
    assert!(
        message.starts_with("Workflow \"broken\" is invalid"),
        "{message}"
    );
    for cause in causes {
        assert!(
            message.contains(&cause.message),
            "{message} lacks {}",
            cause.message
        );
    }
}

#[test]
fn unknown_fields_are_warnings_not_rejections() {
    let mut workflow = valid_workflow();
    workflow["spec"]["entrypointt"] = json!("main");
    let response = check(&WORKFLOW, "CREATE", &workflow, None);
    assert!(response.allowed, "{:?}", response.result);
    let warnings = response.warnings.unwrap();
    assert!(
        warnings.iter().any(|w| w.starts_with("spec.entrypointt: ")),
        "{warnings:?}"
    );
}

#[test]
fn updates_are_checked_only_when_the_spec_changes() {
    let broken = invalid_workflow();
    let mut relabelled = broken.clone();
    relabelled["metadata"]["labels"] = json!({"a": "b"});
    relabelled["metadata"]["finalizers"] = json!(["x/y"]);
    relabelled["status"] = json!({"phase": "Running"});
    let response = check(&WORKFLOW, "UPDATE", &relabelled, Some(&broken));
    assert!(
        response.allowed,
        "metadata and status edits are never blocked"
    );

    let good = valid_workflow();
    let mut changed = good.clone();
    changed["metadata"] = broken["metadata"].clone();
    changed["spec"] = broken["spec"].clone();
    let response = check(&WORKFLOW, "UPDATE", &changed, Some(&good));
    assert!(!response.allowed);
    assert_eq!(response.result.code, 422);
}

#[test]
fn status_subresource_delete_and_dry_run() {
    let broken = invalid_workflow();
    let body = review_json(
        &WORKFLOW,
        "UPDATE",
        Some(&broken),
        Some(&valid_workflow()),
        Some("status"),
        false,
    );
    let request = review::parse(&serde_json::to_vec(&body).unwrap()).unwrap();
    assert!(validate::review(&request, &Config::default(), &[]).allowed);

    let response = check(&WORKFLOW, "DELETE", &broken, None);
    assert!(response.allowed);

    let body = review_json(&WORKFLOW, "CREATE", Some(&broken), None, None, true);
    let request = review::parse(&serde_json::to_vec(&body).unwrap()).unwrap();
    assert!(request.dry_run);
    let response = validate::review(&request, &Config::default(), &[]);
    assert!(!response.allowed, "a dry run is checked as a real request");
    assert_eq!(response.result.code, 422);
}

#[test]
fn every_kind_of_ours_is_validated() {
    let template = yaml(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata: {name: t, namespace: default}
spec:
  entrypoint: nowhere
  templates:
    - name: main
      container: {image: busybox}
"#,
    );
    let response = check(&WORKFLOW_TEMPLATE, "CREATE", &template, None);
    assert_eq!(fields(&response), ["spec.entrypoint"]);

    let mut cluster = template.clone();
    cluster["kind"] = json!("ClusterWorkflowTemplate");
    cluster["metadata"] = json!({"name": "c"});
    let response = check(&CLUSTER_WORKFLOW_TEMPLATE, "CREATE", &cluster, None);
    assert_eq!(fields(&response), ["spec.entrypoint"]);

    let cron = yaml(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: CronWorkflow
metadata: {name: c, namespace: default}
spec:
  schedule: "not a schedule"
  workflowSpec:
    entrypoint: main
    templates:
      - name: main
        container: {image: busybox}
"#,
    );
    let response = check(&CRON_WORKFLOW, "CREATE", &cron, None);
    assert!(!response.allowed);
    assert!(
        fields(&response)
            .iter()
            .any(|f| f.starts_with("spec.schedule")),
        "{:?}",
        fields(&response)
    );
}

#[test]
fn other_kinds_are_allowed_untouched() {
    let configmap = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "default"}});
    let request = request(&CONFIG_MAP, "CREATE", Some(&configmap), None);
    let config = config();
    let response = validate::review(&request, &config, &[]);
    assert!(response.allowed);
    let response = mutate::review(
        &request,
        Some(&json!({"spec": {"serviceAccountName": "x"}})),
    );
    assert!(response.allowed && response.patch.is_none());
    let inject = InjectContext::from_config(&config);
    let response = pods::review(&request, Some(&inject));
    assert!(response.allowed && response.patch.is_none());
}

#[test]
fn template_refs_resolve_against_the_cache_and_a_missing_target_warns() {
    let workflow = yaml(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: uses-ref, namespace: default}
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - name: call
            templateRef: {name: library, template: say}
"#,
    );
    let request = request(&WORKFLOW, "CREATE", Some(&workflow), None);
    let response = validate::review(&request, &Config::default(), &[]);
    assert!(response.allowed, "{:?}", response.result);
    let warnings = response.warnings.unwrap_or_default();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("templateRef") && w.contains("\"library\" not found")),
        "{warnings:?}"
    );

    let library = Object::from_value(&yaml(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata: {name: library, namespace: default}
spec:
  templates:
    - name: say
      container: {image: busybox}
"#,
    ))
    .unwrap()
    .unwrap();
    let response = validate::review(&request, &Config::default(), std::slice::from_ref(&library));
    assert!(response.allowed);
    assert_eq!(response.warnings, None);
}

#[test]
fn defaults_fill_only_unset_fields_of_new_workflows() {
    let config = config();
    let defaults = serde_json::to_value(config.workflow_defaults.as_deref().unwrap()).unwrap();
    let workflow = valid_workflow();
    let response = mutate::review(
        &request(&WORKFLOW, "CREATE", Some(&workflow), None),
        Some(&defaults),
    );
    assert!(response.allowed);
    let patch = patch_of(&response).unwrap();
    assert!(
        patch
            .0
            .iter()
            .all(|op| matches!(op, PatchOperation::Add(_))),
        "{patch:?}"
    );
    let result = patched(&workflow, &response);
    // What the user wrote stays; what was unset comes from the defaults.
    assert_eq!(result["spec"]["activeDeadlineSeconds"], 60);
    assert_eq!(result["spec"]["serviceAccountName"], "workflow-runner");
    assert_eq!(result["spec"]["podGC"], json!({"strategy": "OnPodSuccess"}));
    assert_eq!(result["metadata"]["labels"], json!({"team": "data"}));
    assert_eq!(result["spec"]["templates"], workflow["spec"]["templates"]);
    // The result is what the engine's merge gives.
    let merged = sluice_api::merge::merge_workflow_defaults(&workflow, &defaults).unwrap();
    assert_eq!(result["spec"], merged["spec"]);
    // Mutating the result again adds nothing.
    let again = mutate::review(
        &request(&WORKFLOW, "CREATE", Some(&result), None),
        Some(&defaults),
    );
    assert_eq!(again.patch, None);
}

#[test]
fn defaults_never_touch_templates_cron_workflows_or_updates() {
    let defaults = json!({"spec": {"serviceAccountName": "x"}});
    let mut template = valid_workflow();
    template["kind"] = json!("WorkflowTemplate");
    for target in [
        &WORKFLOW_TEMPLATE,
        &CLUSTER_WORKFLOW_TEMPLATE,
        &CRON_WORKFLOW,
    ] {
        let response = mutate::review(
            &request(target, "CREATE", Some(&template), None),
            Some(&defaults),
        );
        assert!(
            response.allowed && response.patch.is_none(),
            "{}",
            target.kind
        );
    }
    let workflow = valid_workflow();
    let response = mutate::review(
        &request(&WORKFLOW, "UPDATE", Some(&workflow), Some(&workflow)),
        Some(&defaults),
    );
    assert!(response.allowed && response.patch.is_none());
    let response = mutate::review(&request(&WORKFLOW, "CREATE", Some(&workflow), None), None);
    assert!(response.allowed && response.patch.is_none());
}

#[test]
fn workflow_pods_get_the_executor_once() {
    let config = config();
    let inject = InjectContext::from_config(&config);
    let pod = workflow_pod();
    let response = pods::review(&request(&POD, "CREATE", Some(&pod), None), Some(&inject));
    assert!(response.allowed);
    let result = patched(&pod, &response);
    let typed: Pod = serde_json::from_value(result.clone()).unwrap();
    assert!(is_injected(&typed));
    // Exactly what the controller would have built.
    let expected = inject_executor(serde_json::from_value(pod.clone()).unwrap(), &inject);
    assert_eq!(typed, expected);
    // Idempotent: the injected pod gets no patch.
    let again = pods::review(&request(&POD, "CREATE", Some(&result), None), Some(&inject));
    assert!(again.allowed && again.patch.is_none());
}

#[test]
fn pods_outside_workflows_or_with_controller_injection_are_untouched() {
    let inject = InjectContext::from_config(&config());
    let mut plain = workflow_pod();
    plain["metadata"]["labels"] = json!({"app": "web"});
    let response = pods::review(&request(&POD, "CREATE", Some(&plain), None), Some(&inject));
    assert!(response.allowed && response.patch.is_none());
    let response = pods::review(&request(&POD, "CREATE", Some(&workflow_pod()), None), None);
    assert!(response.allowed && response.patch.is_none());
}

#[test]
fn lists_the_user_wrote_are_not_rewritten_and_nulls_count_as_unset() {
    let defaults = json!({"spec": {
        "volumes": [{"name": "shared", "emptyDir": {}}],
        "arguments": {"parameters": [{"name": "region", "value": "eu"}]},
        "podGC": {"strategy": "OnPodSuccess"}
    }});
    let mut workflow = valid_workflow();
    workflow["spec"]["volumes"] = json!([{"name": "mine", "emptyDir": {}}]);
    workflow["spec"]["podGC"] = Value::Null;
    let response = mutate::review(
        &request(&WORKFLOW, "CREATE", Some(&workflow), None),
        Some(&defaults),
    );
    let result = patched(&workflow, &response);
    // The merge would join the two lists; the patch leaves the user's.
    let merged = sluice_api::merge::merge_workflow_defaults(&workflow, &defaults).unwrap();
    assert_eq!(merged["spec"]["volumes"].as_array().unwrap().len(), 2);
    assert_eq!(result["spec"]["volumes"], workflow["spec"]["volumes"]);
    assert_eq!(result["spec"]["arguments"], defaults["spec"]["arguments"]);
    assert_eq!(result["spec"]["podGC"], json!({"strategy": "OnPodSuccess"}));
}
