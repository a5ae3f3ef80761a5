//! AdmissionReviews shaped as the API server sends them, and the objects in
//! them.

use serde_json::{Value, json};
use sluice_api::Config;
use sluice_webhook::review::{self, Request};

/// What a review is about.
pub struct Target<'a> {
    pub group: &'a str,
    pub version: &'a str,
    pub kind: &'a str,
    pub resource: &'a str,
}

pub const WORKFLOW: Target<'static> = Target {
    group: "argoproj.io",
    version: "v1alpha1",
    kind: "Workflow",
    resource: "workflows",
};
pub const WORKFLOW_TEMPLATE: Target<'static> = Target {
    group: "argoproj.io",
    version: "v1alpha1",
    kind: "WorkflowTemplate",
    resource: "workflowtemplates",
};
pub const CLUSTER_WORKFLOW_TEMPLATE: Target<'static> = Target {
    group: "argoproj.io",
    version: "v1alpha1",
    kind: "ClusterWorkflowTemplate",
    resource: "clusterworkflowtemplates",
};
pub const CRON_WORKFLOW: Target<'static> = Target {
    group: "argoproj.io",
    version: "v1alpha1",
    kind: "CronWorkflow",
    resource: "cronworkflows",
};
pub const POD: Target<'static> = Target {
    group: "",
    version: "v1",
    kind: "Pod",
    resource: "pods",
};
pub const CONFIG_MAP: Target<'static> = Target {
    group: "",
    version: "v1",
    kind: "ConfigMap",
    resource: "configmaps",
};

/// A review of `operation` on `object` (and `old` for UPDATE), with the
/// fields the API server fills: uid, kind, resource, requestKind,
/// requestResource, name, namespace, userInfo, dryRun, options.
pub fn review_json(
    target: &Target<'_>,
    operation: &str,
    object: Option<&Value>,
    old: Option<&Value>,
    sub_resource: Option<&str>,
    dry_run: bool,
) -> Value {
    let any = object.or(old).cloned().unwrap_or(Value::Null);
    let name = any["metadata"]["name"].as_str().unwrap_or("");
    let namespace = any["metadata"]["namespace"].as_str();
    let options_kind = match operation {
        "CREATE" => "CreateOptions",
        "UPDATE" => "UpdateOptions",
        _ => "DeleteOptions",
    };
    let gvk = json!({"group": target.group, "version": target.version, "kind": target.kind});
    let gvr =
        json!({"group": target.group, "version": target.version, "resource": target.resource});
    let mut request = json!({
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": gvk,
        "resource": gvr,
        "requestKind": gvk,
        "requestResource": gvr,
        "name": name,
        "operation": operation,
        "userInfo": {
            "username": "admin",
            "uid": "014fbff9a07c",
            "groups": ["system:authenticated", "my-admin-group"],
            "extra": {"some-key": ["some-value1", "some-value2"]}
        },
        "object": object.cloned().unwrap_or(Value::Null),
        "oldObject": old.cloned().unwrap_or(Value::Null),
        "dryRun": dry_run,
        "options": {"kind": options_kind, "apiVersion": "meta.k8s.io/v1"}
    });
    if let Some(namespace) = namespace {
        request["namespace"] = json!(namespace);
    }
    if let Some(sub) = sub_resource {
        request["subResource"] = json!(sub);
        request["requestSubResource"] = json!(sub);
    }
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": request
    })
}

/// The request of a review, read as the server reads it.
pub fn request(
    target: &Target<'_>,
    operation: &str,
    object: Option<&Value>,
    old: Option<&Value>,
) -> Request {
    let body = review_json(target, operation, object, old, None, false);
    review::parse(&serde_json::to_vec(&body).unwrap()).unwrap()
}

pub fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

/// A Workflow that validates cleanly.
pub fn valid_workflow() -> Value {
    yaml(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: hello
  namespace: default
  uid: 1f7e5a1e-5cf0-4f6c-9b5e-6d1a1c1e2f3a
  creationTimestamp: "2026-01-01T00:00:00Z"
spec:
  entrypoint: main
  activeDeadlineSeconds: 60
  templates:
    - name: main
      container:
        image: busybox
        command: [echo, hello]
"#,
    )
}

/// A Workflow whose entrypoint names no template and whose one template
/// has no kind.
pub fn invalid_workflow() -> Value {
    yaml(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: broken
  namespace: default
spec:
  entrypoint: nowhere
  templates:
    - name: main
"#,
    )
}

/// A workflow pod as the controller builds it when the webhook injects.
pub fn workflow_pod() -> Value {
    yaml(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: hello-main-1234
  namespace: default
  labels:
    workflows.argoproj.io/workflow: hello
  annotations:
    workflows.argoproj.io/node-name: hello
spec:
  restartPolicy: Never
  containers:
    - name: main
      image: busybox
      command: [echo, hello]
"#,
    )
}

/// A configuration with workflowDefaults, in which the webhook injects.
pub fn config() -> Config {
    Config::from_yaml_str(
        r#"
executorInjection: webhook
workflowDefaults:
  metadata:
    labels:
      team: data
  spec:
    serviceAccountName: workflow-runner
    activeDeadlineSeconds: 3600
    podGC:
      strategy: OnPodSuccess
"#,
    )
    .unwrap()
}
