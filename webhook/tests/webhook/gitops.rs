//! The GitOps walkthrough (docs/gitops.md): the sample repository lints
//! clean with the validator `sluice lint` calls, and every object its Argo CD
//! Application syncs, with every WorkflowTemplate, ClusterWorkflowTemplate
//! and CronWorkflow of the upstream corpus (../shared/corpus/argo-examples),
//! comes back from the real API server, through the webhook registered as
//! apiserver.rs registers it, with the `spec`, labels and annotations it was
//! sent with: created, and server-side applied as Argo CD applies (field
//! manager `argocd-controller`), where applying again changes nothing.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::core::DynamicObject;
use serde_json::{Value, json};
use sluice_api::Config;
use sluice_api::types::Object;
use sluice_api::validate::{self, Context, Mode};
use sluice_e2e::local::manifest_files;
use sluice_e2e::{api_resource, poll_until};

use crate::apiserver::registered;

/// The field manager of Argo CD's server-side apply.
const ARGO_CD: &str = "argocd-controller";
/// The kinds a GitOps repository of workflows holds.
const KINDS: [&str; 3] = [
    "WorkflowTemplate",
    "ClusterWorkflowTemplate",
    "CronWorkflow",
];
const WAIT: Duration = Duration::from_secs(30);

fn docs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/gitops")
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/argo-examples")
}

/// One document of a manifest file, as JSON (what a client sends), and
/// where it came from.
struct Manifest {
    origin: String,
    value: Value,
    /// Keys written twice (`sluice lint` reports them).
    duplicate_keys: usize,
}

/// Every document under `dir` as the API server receives it.
fn manifests(dir: &Path) -> Vec<Manifest> {
    let mut out = Vec::new();
    for file in manifest_files(dir, &[]).unwrap() {
        let text = std::fs::read_to_string(&file).unwrap();
        let documents = sluice_api::yaml::parse_documents(&text)
            .unwrap_or_else(|e| panic!("{}: {e:?}", file.display()));
        for document in documents {
            let name = document.value["metadata"]["name"].as_str().unwrap_or("");
            out.push(Manifest {
                origin: format!("{}:{} ({name})", file.display(), document.line),
                duplicate_keys: document.duplicate_keys.len(),
                value: document.value,
            });
        }
    }
    out
}

fn kind(value: &Value) -> &str {
    value["kind"].as_str().unwrap_or("")
}

/// The directory the sample Argo CD Application syncs.
fn synced_dir() -> PathBuf {
    let application = manifests(&docs_dir().join("argocd"))
        .into_iter()
        .find(|m| m.value["metadata"]["name"] == "data-workflows")
        .expect("docs/gitops/argocd: the Application data-workflows");
    let source = &application.value["spec"]["source"];
    assert_eq!(source["directory"]["recurse"], true, "{source:#}");
    docs_dir().join(source["path"].as_str().expect("spec.source.path"))
}

/// Where `got` first differs from `want`, for a readable failure.
fn first_difference(want: &Value, got: &Value, path: &str) -> Option<String> {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => w
            .iter()
            .find_map(|(k, v)| {
                first_difference(v, g.get(k).unwrap_or(&Value::Null), &format!("{path}.{k}"))
            })
            .or_else(|| {
                g.keys()
                    .find(|k| !w.contains_key(*k))
                    .map(|k| format!("{path}.{k}: added {}", g[k]))
            }),
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => w
            .iter()
            .zip(g)
            .enumerate()
            .find_map(|(i, (w, g))| first_difference(w, g, &format!("{path}[{i}]"))),
        _ => (want != got).then(|| format!("{path}: sent {want}, stored {got}")),
    }
}

/// Asserts that what the API server stored is what was sent: `spec` (the
/// whole of it), labels and annotations.
fn assert_unchanged(origin: &str, how: &str, sent: &Value, stored: &Value) {
    let fields = [
        ("spec", &sent["spec"], &stored["spec"]),
        (
            "metadata.labels",
            &sent["metadata"]["labels"],
            &stored["metadata"]["labels"],
        ),
        (
            "metadata.annotations",
            &sent["metadata"]["annotations"],
            &stored["metadata"]["annotations"],
        ),
    ];
    for (field, want, got) in fields {
        if want != got {
            let at = first_difference(want, got, field).unwrap_or_default();
            panic!("{origin}, {how}: {field} drifted: {at}");
        }
    }
}

#[test]
fn the_gitops_sample_lints_clean() {
    let all = manifests(&docs_dir());
    for manifest in &all {
        assert_eq!(
            manifest.duplicate_keys, 0,
            "{}: duplicate keys",
            manifest.origin
        );
    }
    let (origins, objects): (Vec<&str>, Vec<Object>) = all
        .iter()
        .filter_map(|m| {
            Object::from_value(&m.value)
                .unwrap_or_else(|e| panic!("{}: {e:?}", m.origin))
                .map(|object| (m.origin.as_str(), object))
        })
        .unzip();
    // `sluice lint docs/gitops`: the Applications are skipped (not kinds of
    // Argo Workflows), everything the Application syncs is checked.
    let synced = manifests(&synced_dir());
    assert_eq!(objects.len(), synced.len());
    for manifest in &synced {
        assert!(
            KINDS.contains(&kind(&manifest.value)),
            "{}",
            manifest.origin
        );
    }
    for kind in KINDS {
        assert!(
            objects.iter().any(|o| o.kind() == kind),
            "no {kind} in docs/gitops"
        );
    }
    let config = Config::default();
    let ctx = Context {
        mode: Mode::Lint,
        config: &config,
        known_templates: &[],
        allow_missing_refs: false,
    };
    let findings: Vec<String> = validate::validate(&objects, &ctx)
        .iter()
        .map(|d| format!("{}: {d}", origins[d.object]))
        .collect();
    assert!(findings.is_empty(), "{}", findings.join("\n"));
}

/// Defaults the mutating webhook would add to a Workflow: none of them may
/// reach the templates or the CronWorkflows.
fn webhook_config() -> Config {
    Config::from_yaml_str(
        r#"
workflowDefaults:
  metadata:
    labels:
      defaulted: "yes"
  spec:
    serviceAccountName: defaulted
    activeDeadlineSeconds: 7200
    ttlStrategy:
      secondsAfterCompletion: 600
"#,
    )
    .unwrap()
}

/// `manifest` in namespace `ns` when it is namespaced (only metadata
/// changes), and the API for it.
fn placed(client: &kube::Client, manifest: &Value, ns: &str) -> (Value, Api<DynamicObject>) {
    let mut value = manifest.clone();
    let resource = api_resource(kind(manifest));
    if kind(manifest) == "ClusterWorkflowTemplate" {
        (value, Api::all_with(client.clone(), &resource))
    } else {
        value["metadata"]["namespace"] = json!(ns);
        (value, Api::namespaced_with(client.clone(), ns, &resource))
    }
}

fn name_of(value: &Value) -> &str {
    value["metadata"]["name"].as_str().unwrap()
}

#[tokio::test]
async fn gitops_objects_come_back_as_sent() {
    let started = Instant::now();
    let registered = registered("sluice-gitops-", 2, webhook_config()).await;
    let client = &registered.client;
    let [created_ns, applied_ns] = [&registered.namespaces[0], &registered.namespaces[1]];

    // The configurations take effect within a second or so: wait until an
    // invalid WorkflowTemplate is refused.
    let (invalid, templates) = placed(
        client,
        &json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTemplate",
            "metadata": {"name": "broken"},
            "spec": {"entrypoint": "nowhere", "templates": [{"name": "main", "container": {"image": "busybox"}}]}
        }),
        created_ns,
    );
    let invalid: DynamicObject = serde_json::from_value(invalid).unwrap();
    poll_until(
        "the webhook to refuse an invalid template",
        WAIT,
        || async {
            match templates.create(&PostParams::default(), &invalid).await {
                Err(kube::Error::Api(status)) if status.code == 422 => Some(()),
                Ok(_) => {
                    templates.delete("broken", &Default::default()).await.ok();
                    None
                }
                Err(_) => None,
            }
        },
    )
    .await
    .unwrap();

    let mut objects: Vec<Manifest> = manifests(&synced_dir());
    let samples = objects.len();
    objects.extend(
        manifests(&corpus_dir())
            .into_iter()
            .filter(|m| KINDS.contains(&kind(&m.value))),
    );
    assert!(
        objects.len() >= samples + 20,
        "only {} corpus objects",
        objects.len() - samples
    );

    let apply = PatchParams::apply(ARGO_CD).force();
    for Manifest { origin, value, .. } in &objects {
        // Created, as `kubectl create` or Argo CD's client-side sync of a
        // new object do.
        let (sent, api) = placed(client, value, created_ns);
        let object: DynamicObject = serde_json::from_value(sent.clone()).unwrap();
        api.create(&PostParams::default(), &object)
            .await
            .unwrap_or_else(|e| panic!("{origin}: create: {e}"));
        let stored = serde_json::to_value(api.get(name_of(&sent)).await.unwrap()).unwrap();
        assert_unchanged(origin, "created", &sent, &stored);
        if kind(value) == "ClusterWorkflowTemplate" {
            // One name cluster-wide: gone before it is applied below.
            let name = name_of(&sent);
            api.delete(name, &DeleteParams::default()).await.unwrap();
            poll_until(&format!("{origin}: deleted"), WAIT, || async {
                api.get_opt(name).await.unwrap().is_none().then_some(())
            })
            .await
            .unwrap();
        }

        // Server-side applied, as Argo CD with ServerSideApply=true.
        let (sent, api) = placed(client, value, applied_ns);
        let name = name_of(&sent);
        api.patch(name, &apply, &Patch::Apply(&sent))
            .await
            .unwrap_or_else(|e| panic!("{origin}: apply: {e}"));
        let stored = api.get(name).await.unwrap();
        assert_unchanged(
            origin,
            "applied",
            &sent,
            &serde_json::to_value(&stored).unwrap(),
        );
        // The next sync finds nothing to change: no write at all.
        let again = api
            .patch(name, &apply, &Patch::Apply(&sent))
            .await
            .unwrap_or_else(|e| panic!("{origin}: apply again: {e}"));
        assert_eq!(
            again.metadata.resource_version, stored.metadata.resource_version,
            "{origin}: applying the same manifest again wrote the object"
        );
    }

    // A Workflow gets the configured defaults it does not set, and nothing
    // it sets changes.
    let spec = json!({
        "entrypoint": "main",
        "serviceAccountName": "from-git",
        "templates": [{"name": "main", "container": {"image": "busybox", "command": ["true"]}}]
    });
    let (sent, workflows) = placed(
        client,
        &json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "defaults"}, "spec": spec}),
        created_ns,
    );
    let object: DynamicObject = serde_json::from_value(sent).unwrap();
    workflows
        .create(&PostParams::default(), &object)
        .await
        .unwrap();
    let stored = serde_json::to_value(workflows.get("defaults").await.unwrap()).unwrap();
    let mut expected = spec.clone();
    expected["activeDeadlineSeconds"] = json!(7200);
    expected["ttlStrategy"] = json!({"secondsAfterCompletion": 600});
    assert_eq!(stored["spec"], expected);
    assert_eq!(stored["metadata"]["labels"]["defaulted"], "yes");

    eprintln!(
        "gitops_objects_come_back_as_sent: {} objects ({samples} of docs/gitops) in {:?}",
        objects.len(),
        started.elapsed()
    );
}
