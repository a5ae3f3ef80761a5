//! End-to-end tests against the real kube-apiserver of ../shared/k8s: one
//! server for this whole binary (see `sluice_e2e::shared_apiserver`), one
//! namespace per test.

#[path = "apiserver/chart.rs"]
mod chart;
#[path = "apiserver/chart_rbac.rs"]
mod chart_rbac;
#[path = "apiserver/chart_run.rs"]
mod chart_run;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::core::DynamicObject;
use serde_json::{Value, json};
use sluice_api::crd::CRD_KINDS;
use sluice_api::types::API_VERSION;
use sluice_e2e::{api_resource, install_crds, shared_apiserver};

/// The label that marks what a test created, for cleaning up
/// cluster-scoped objects.
const RUN_LABEL: &str = "sluice.dev/e2e-test";

/// The kinds a user creates; a WorkflowTaskResult is written by the
/// executor only.
const USER_KINDS: [&str; 5] = [
    "Workflow",
    "WorkflowTemplate",
    "ClusterWorkflowTemplate",
    "CronWorkflow",
    "WorkflowEventBinding",
];

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/argo-examples")
}

/// One corpus document of a kind in [`USER_KINDS`].
struct CorpusDocument {
    origin: String,
    kind: String,
    value: Value,
}

fn corpus_documents() -> Result<Vec<CorpusDocument>> {
    let mut files = Vec::new();
    let mut dirs = vec![corpus_dir()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| dir.display().to_string())? {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            ) {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).with_context(|| file.display().to_string())?;
        // Kubernetes' scalar rules, as kubectl would send the file.
        let documents =
            sluice_api::yaml::parse_documents(&text).with_context(|| file.display().to_string())?;
        for document in documents {
            let value = document.value;
            if value.get("apiVersion").and_then(Value::as_str) != Some(API_VERSION) {
                continue;
            }
            let Some(kind) = value.get("kind").and_then(Value::as_str) else {
                continue;
            };
            if USER_KINDS.contains(&kind) {
                out.push(CorpusDocument {
                    origin: format!("{}:{}", file.display(), document.line),
                    kind: kind.to_owned(),
                    value,
                });
            }
        }
    }
    Ok(out)
}

async fn create_namespace(client: &kube::Client, prefix: &str) -> Result<String> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace = Namespace {
        metadata: ObjectMeta {
            generate_name: Some(format!("sluice-e2e-{prefix}-")),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    let created = namespaces
        .create(&PostParams::default(), &namespace)
        .await?;
    created
        .metadata
        .name
        .context("the created namespace has no name")
}

/// The document as this test creates it: in `namespace` when the kind is
/// namespaced, with a generated name (corpus names repeat), labelled as
/// created by the run `run`.
fn prepared(document: &CorpusDocument, namespace: Option<&str>, run: &str) -> Result<Value> {
    let mut value = document.value.clone();
    let metadata = value
        .as_object_mut()
        .context("a document is an object")?
        .entry("metadata")
        .or_insert_with(|| json!({}));
    let metadata = metadata.as_object_mut().context("metadata is an object")?;
    if let Some(Value::String(name)) = metadata.remove("name") {
        metadata
            .entry("generateName")
            .or_insert_with(|| Value::String(format!("{name}-")));
    }
    metadata
        .entry("generateName")
        .or_insert_with(|| Value::String("corpus-".to_owned()));
    metadata.remove("namespace");
    if let Some(namespace) = namespace {
        metadata.insert("namespace".to_owned(), Value::String(namespace.to_owned()));
    }
    // Only the spec is compared. The corpus' own labels are replaced: one
    // example has its `generateName` misplaced among them, which is no
    // valid label value.
    metadata.insert("labels".to_owned(), json!({ RUN_LABEL: run }));
    Ok(value)
}

#[tokio::test]
async fn crds_store_every_corpus_example_unchanged() -> Result<()> {
    let started = Instant::now();
    let server = shared_apiserver();
    let client = server.client().await?;
    install_crds(&client).await?;
    let namespace = create_namespace(&client, "corpus").await?;

    let documents = corpus_documents()?;
    assert!(
        documents.len() > 150,
        "only {} corpus documents of our kinds",
        documents.len()
    );
    let mut failures = Vec::new();
    for document in &documents {
        let info = CRD_KINDS
            .iter()
            .find(|info| info.kind == document.kind)
            .context("every user kind has a CRD")?;
        let resource = api_resource(info.kind);
        let api: Api<DynamicObject> = if info.namespaced {
            Api::namespaced_with(client.clone(), &namespace, &resource)
        } else {
            Api::all_with(client.clone(), &resource)
        };
        let sent = prepared(
            document,
            info.namespaced.then_some(namespace.as_str()),
            &namespace,
        )?;
        let object: DynamicObject = serde_json::from_value(sent.clone())
            .with_context(|| format!("{}: not an object", document.origin))?;
        let created = match api.create(&PostParams::default(), &object).await {
            Ok(created) => created,
            Err(e) => {
                failures.push(format!("{}: create: {e}", document.origin));
                continue;
            }
        };
        let name = created
            .metadata
            .name
            .with_context(|| format!("{}: created without a name", document.origin))?;
        let read = api.get(&name).await?;
        let (want, got) = (sent.get("spec"), read.data.get("spec"));
        if want.is_none() {
            failures.push(format!("{}: no spec to compare", document.origin));
        } else if want != got {
            failures.push(format!(
                "{}: spec differs after a round trip\n  sent: {}\n  read: {}",
                document.origin,
                want.map(Value::to_string).unwrap_or_default(),
                got.map(Value::to_string).unwrap_or_default()
            ));
        }
    }

    // Namespaced objects go with their namespace (never reused); the
    // cluster-scoped ones are deleted here.
    let templates: Api<DynamicObject> =
        Api::all_with(client.clone(), &api_resource("ClusterWorkflowTemplate"));
    templates
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels(&format!("{RUN_LABEL}={namespace}")),
        )
        .await?;

    assert!(
        failures.is_empty(),
        "{} of {} documents failed:\n{}",
        failures.len(),
        documents.len(),
        failures.join("\n")
    );
    let elapsed = started.elapsed();
    eprintln!(
        "created and read back {} corpus documents in {elapsed:.1?} (server start included)",
        documents.len()
    );
    assert!(
        elapsed < Duration::from_secs(60),
        "took {elapsed:?}; keep it well under a minute"
    );
    Ok(())
}

/// Fields Sluice keeps but does not type survive at every level, and typed
/// fields are still checked.
#[tokio::test]
async fn unknown_fields_are_kept_and_known_ones_typed() -> Result<()> {
    let client = shared_apiserver().client().await?;
    install_crds(&client).await?;
    let namespace = create_namespace(&client, "fields").await?;
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &namespace, &api_resource("Workflow"));
    let spec = json!({
        "entrypoint": "main",
        "futureField": { "a": [1, 2] },
        "templates": [{
            "name": "main",
            "futureTemplateField": true,
            "steps": [[{ "name": "a", "template": "b", "futureStepField": "x" }]]
        }, {
            "name": "b",
            "container": { "image": "alpine", "futureContainerField": 1 },
            "inputs": { "parameters": [{ "name": "p", "value": 3, "futureParameterField": {} }] }
        }],
        "arguments": { "artifacts": [{ "name": "a", "s3": { "key": "k", "futureS3Field": 1 } }] }
    });
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": API_VERSION,
        "kind": "Workflow",
        "metadata": { "generateName": "fields-" },
        "spec": spec,
    }))?;
    let created = api.create(&PostParams::default(), &object).await?;
    let name = created.metadata.name.context("a generated name")?;
    let read = api.get(&name).await?;
    assert_eq!(read.data.get("spec"), Some(&spec));

    let mistyped: DynamicObject = serde_json::from_value(json!({
        "apiVersion": API_VERSION,
        "kind": "Workflow",
        "metadata": { "generateName": "mistyped-" },
        "spec": { "entrypoint": "main", "parallelism": "two", "templates": [] },
    }))?;
    let err = api
        .create(&PostParams::default(), &mistyped)
        .await
        .expect_err("a string where an integer belongs is rejected");
    let message = err.to_string();
    assert!(message.contains("spec.parallelism"), "{message}");
    Ok(())
}

/// The `sluice-executor` binary of this build (built on demand when only
/// this package's tests are run).
fn executor_binary() -> Result<PathBuf> {
    workspace_binary("sluice-executor")
}

/// A binary of the workspace beside the test binary, built when missing.
fn workspace_binary(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .context("test binary has no target directory")?;
    let path = dir.join(name);
    if !path.exists() {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "-p", name])
            .status()?;
        anyhow::ensure!(status.success(), "cargo build -p {name} failed");
    }
    Ok(path)
}

/// `wait` reports the node's WorkflowTaskResult through the API as the
/// result contract says: named after the node id, labelled with the
/// workflow and report-outputs-completed=true, holding the outputs.
#[tokio::test]
async fn executor_reports_the_task_result_through_the_api() -> Result<()> {
    let server = shared_apiserver();
    let client = server.client().await?;
    install_crds(&client).await?;
    let namespace = create_namespace(&client, "result").await?;
    let shared = tempfile::tempdir()?;
    let ctr = shared.path().join("ctr/main");
    std::fs::create_dir_all(&ctr)?;
    std::fs::write(ctr.join("stdout"), "42\n")?;
    std::fs::write(ctr.join("exitcode"), "0")?;
    let params = shared.path().join("outputs/parameters");
    std::fs::create_dir_all(&params)?;
    std::fs::write(params.join("answer"), "forty-two\n")?;
    let template = json!({
        "name": "step",
        "script": { "image": "alpine", "command": ["sh"], "source": "echo 42" },
        "outputs": { "parameters": [ { "name": "answer", "valueFrom": { "path": "/tmp/answer" } } ] }
    });
    let output = tokio::process::Command::new(executor_binary()?)
        .arg("wait")
        .env("KUBECONFIG", server.kubeconfig())
        .env("SLUICE_TEMPLATE", template.to_string())
        .env("SLUICE_VAR_RUN", shared.path())
        .env("SLUICE_NODE_ID", "wf-1234")
        .env("SLUICE_WORKFLOW_NAME", "wf")
        .env(
            "SLUICE_WORKFLOW_UID",
            "9a4f4c9e-0000-4000-8000-000000000001",
        )
        .env("SLUICE_NAMESPACE", &namespace)
        .env("SLUICE_POD_NAME", "wf-step-1234")
        .env("SLUICE_MAIN_CONTAINERS", "main")
        .output()
        .await?;
    anyhow::ensure!(
        output.status.success(),
        "wait failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &namespace,
        &api_resource("WorkflowTaskResult"),
    );
    let result = serde_json::to_value(api.get("wf-1234").await?)?;
    let labels = &result["metadata"]["labels"];
    assert_eq!(labels["workflows.argoproj.io/workflow"], "wf");
    assert_eq!(
        labels["workflows.argoproj.io/report-outputs-completed"],
        "true"
    );
    assert_eq!(result["metadata"]["ownerReferences"][0]["kind"], "Workflow");
    assert_eq!(result["outputs"]["result"], "42");
    assert_eq!(result["outputs"]["exitCode"], "0");
    assert_eq!(result["outputs"]["parameters"][0]["value"], "forty-two");
    Ok(())
}
