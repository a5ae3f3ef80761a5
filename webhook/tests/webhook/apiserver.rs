//! The chart's webhook configurations registered with the real
//! kube-apiserver of ../shared/k8s (pointed at the test's server by
//! clientConfig.url and caBundle), driven through kubectl.

use std::process::Output;
use std::time::{Duration, Instant};

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::core::DynamicObject;
use serde_json::{Value, json};
use sluice_api::Config;
use sluice_e2e::{api_resource, install_crds, shared_apiserver};
use sluice_webhook::cache::TemplateCache;

use crate::harness::{self, Running};

/// The controller's service account, whose requests skip the webhook.
const CONTROLLER: &str = "system:serviceaccount:sluice:sluice-controller";

/// The chart's webhook configurations, rendered by helm for release
/// `release` in namespace `sluice` (executor injection by the webhook, the
/// controller's service account named as [`CONTROLLER`]), then pointed at
/// `server` by URL (the API server here cannot reach a Service). The
/// validating configuration comes first.
fn chart_configurations(release: &str, server: &Running, ca_pem: &str) -> Vec<Value> {
    let mut configurations = sluice_e2e::chart::template(
        release,
        "sluice",
        &[
            "--show-only",
            "templates/webhook-configurations.yaml",
            "--set",
            "config.executorInjection=webhook",
            "--set",
            "controller.serviceAccount.name=sluice-controller",
        ],
    )
    .unwrap();
    configurations.sort_by_key(|c| c["kind"] != "ValidatingWebhookConfiguration");
    let ca_bundle = k8s_openapi::ByteString(ca_pem.as_bytes().to_vec());
    for configuration in &mut configurations {
        for webhook in configuration["webhooks"].as_array_mut().unwrap() {
            let path = webhook["clientConfig"]["service"]["path"]
                .as_str()
                .unwrap()
                .to_owned();
            webhook["clientConfig"] = json!({"url": server.url(&path), "caBundle": ca_bundle});
        }
    }
    configurations
}

/// Registers the chart's configurations (release `namespaces[0]`), each
/// webhook limited to `namespaces`: tests of this binary run at once, and a
/// webhook of one must not default another's workflows.
async fn register(client: &kube::Client, server: &Running, ca_pem: &str, namespaces: &[String]) {
    let mut configurations = chart_configurations(&namespaces[0], server, ca_pem);
    for configuration in &mut configurations {
        for webhook in configuration["webhooks"].as_array_mut().unwrap() {
            webhook["namespaceSelector"] = json!({"matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "In", "values": namespaces}
            ]});
        }
    }
    let kinds: Vec<&str> = configurations
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "ValidatingWebhookConfiguration",
            "MutatingWebhookConfiguration"
        ]
    );
    let validating: ValidatingWebhookConfiguration =
        serde_json::from_value(configurations[0].clone()).unwrap();
    let mutating: MutatingWebhookConfiguration =
        serde_json::from_value(configurations[1].clone()).unwrap();
    Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .create(&PostParams::default(), &validating)
        .await
        .unwrap();
    Api::<MutatingWebhookConfiguration>::all(client.clone())
        .create(&PostParams::default(), &mutating)
        .await
        .unwrap();
}

/// Runs kubectl with the test server's kubeconfig, `stdin` as input.
fn kubectl(args: &[&str], stdin: &Value) -> Output {
    sluice_e2e::chart::kubectl(
        shared_apiserver().kubeconfig(),
        args,
        stdin.to_string().as_bytes(),
    )
    .expect("kubectl on PATH")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn webhook_config() -> Config {
    Config::from_yaml_str(
        r#"
executorInjection: webhook
workflowDefaults:
  metadata:
    labels:
      team: data
"#,
    )
    .unwrap()
}

fn workflow(namespace: &str, name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec
    })
}

/// A namespace of the test's own, named `prefix` and a random suffix.
async fn namespace(client: &kube::Client, prefix: &str) -> String {
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: ObjectMeta {
                    generate_name: Some(prefix.to_owned()),
                    ..ObjectMeta::default()
                },
                ..Namespace::default()
            },
        )
        .await
        .unwrap()
        .metadata
        .name
        .unwrap()
}

/// A webhook server with `config` registered with the API server (its
/// template cache synced first) for namespaces of the test's own; the
/// first one's name is also the release name of the configurations.
pub(crate) struct Registered {
    pub client: kube::Client,
    pub namespaces: Vec<String>,
    pub server: Running,
    /// The server's certificate files.
    _dir: tempfile::TempDir,
}

pub(crate) async fn registered(prefix: &str, namespaces: usize, config: Config) -> Registered {
    // The client lives on the servers' runtime: the template cache's
    // watchers use it after this test's runtime is gone.
    let client = harness::runtime()
        .spawn(async { shared_apiserver().client().await.unwrap() })
        .await
        .unwrap();
    install_crds(&client).await.unwrap();
    let mut names = Vec::new();
    for _ in 0..namespaces {
        names.push(namespace(&client, prefix).await);
    }

    let pki = harness::Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let watcher_client = client.clone();
    let server = harness::start(
        dir.path().to_path_buf(),
        &pki.leaf("webhook"),
        config,
        move || TemplateCache::watch(&watcher_client),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.state.templates.is_synced() {
        assert!(Instant::now() < deadline, "the template cache never synced");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    register(&client, &server, &pki.ca_pem(), &names).await;
    Registered {
        client,
        namespaces: names,
        server,
        _dir: dir,
    }
}

#[tokio::test]
async fn the_api_server_calls_the_webhook() {
    let started = Instant::now();
    let registered = registered("sluice-webhook-", 1, webhook_config()).await;
    let (client, server) = (&registered.client, &registered.server);
    let ns = registered.namespaces[0].as_str();

    // The API server picks configurations up within a second or so: wait
    // until an invalid workflow is refused.
    let invalid = workflow(
        ns,
        "broken",
        json!({"entrypoint": "nowhere", "templates": [{"name": "main"}]}),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let refused = loop {
        let output = kubectl(&["create", "-f", "-"], &invalid);
        if !output.status.success() {
            break output;
        }
        kubectl(&["delete", "-f", "-"], &invalid);
        assert!(Instant::now() < deadline, "the webhook was never called");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let stderr = text(&refused.stderr);
    // kubectl shows a 422 with causes as it shows the API server's own
    // validation errors: one line per cause.
    assert!(
        stderr.contains("The Workflow \"broken\" is invalid")
            && stderr.contains("* spec.entrypoint: entrypoint \"nowhere\" is not defined")
            && stderr.contains("* spec.templates[0]: "),
        "{stderr}"
    );
    // The causes reach API clients.
    let workflows: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), ns, &api_resource("Workflow"));
    let object: DynamicObject = serde_json::from_value(invalid.clone()).unwrap();
    match workflows.create(&PostParams::default(), &object).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            let causes = &status.details.as_ref().unwrap().causes;
            assert!(
                causes.iter().any(|c| c.field == "spec.entrypoint"),
                "{causes:?}"
            );
        }
        other => panic!("expected a 422, got {other:?}"),
    }

    // A valid workflow is stored with its spec as written, defaults added.
    let spec = json!({"entrypoint": "main", "templates": [{"name": "main", "container": {"image": "busybox", "command": ["echo", "hi"]}}]});
    let valid = workflow(ns, "hello", spec.clone());
    let output = kubectl(&["create", "-o", "json", "-f", "-"], &valid);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stored: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(stored["spec"], spec);
    assert_eq!(stored["metadata"]["labels"]["team"], "data");

    // templateRefs resolve against the cluster's templates.
    let library = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTemplate",
        "metadata": {"name": "library", "namespace": ns},
        "spec": {"templates": [{"name": "say", "container": {"image": "busybox"}}]}
    });
    let output = kubectl(&["create", "-f", "-"], &library);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server
        .state
        .templates
        .snapshot()
        .iter()
        .any(|t| t.metadata().name.as_deref() == Some("library"))
    {
        assert!(
            Instant::now() < deadline,
            "the cache never saw the WorkflowTemplate"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let calls = |target: &str| json!({"entrypoint": "main", "templates": [{"name": "main", "steps": [[{"name": "call", "templateRef": {"name": target, "template": "say"}}]]}]});
    let output = kubectl(
        &["create", "-f", "-"],
        &workflow(ns, "uses-library", calls("library")),
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        !text(&output.stderr).contains("Warning"),
        "{}",
        text(&output.stderr)
    );
    let output = kubectl(
        &["create", "-f", "-"],
        &workflow(ns, "uses-nothing", calls("nothing")),
    );
    assert!(
        output.status.success(),
        "a missing target is no rejection: {}",
        text(&output.stderr)
    );
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("Warning: ") && stderr.contains("\"nothing\" not found"),
        "{stderr}"
    );

    // A workflow pod comes back with the executor; another pod does not.
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "hello-main", "namespace": ns, "labels": {"workflows.argoproj.io/workflow": "hello"}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox", "command": ["echo", "hi"]}]}
    });
    let output = kubectl(&["create", "-o", "json", "-f", "-"], &pod);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stored: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        stored["metadata"]["annotations"]["sluice.dev/executor"].is_string(),
        "{stored:#}"
    );
    let init: Vec<&str> = stored["spec"]["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(init, ["init"]);
    let mut plain = pod.clone();
    plain["metadata"] = json!({"name": "web", "namespace": ns, "labels": {"app": "web"}});
    let output = kubectl(&["create", "-o", "json", "-f", "-"], &plain);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stored: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        stored["metadata"].get("annotations").is_none(),
        "{stored:#}"
    );

    // The controller's own requests skip the webhook.
    let binding = ClusterRoleBinding {
        metadata: ObjectMeta {
            name: Some(format!("sluice-controller-{ns}")),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".to_owned()),
            kind: "ClusterRole".to_owned(),
            name: "cluster-admin".to_owned(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_owned(),
            name: "sluice-controller".to_owned(),
            namespace: Some("sluice".to_owned()),
            api_group: None,
        }]),
    };
    Api::<ClusterRoleBinding>::all(client.clone())
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    let output = kubectl(&["create", "--as", CONTROLLER, "-f", "-"], &invalid);
    assert!(output.status.success(), "{}", text(&output.stderr));
    eprintln!("the_api_server_calls_the_webhook: {:?}", started.elapsed());
}
