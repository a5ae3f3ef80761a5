//! The strategic merge on the corpus: `podSpecPatch` examples applied to the
//! pod spec Sluice builds, `templateDefaults`, and configured
//! `workflowDefaults` laid under every corpus workflow.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Value, json};
use sluice_api::Config;
use sluice_api::merge::{
    merge_pod_spec, merge_template_defaults, merge_workflow_defaults, parse_pod_spec_patch,
};

use crate::common::{corpus_dir, manifest_files};

/// Every document of a YAML file, as JSON.
fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .filter(|doc| !doc.is_null())
        .collect()
}

fn example(name: &str) -> Value {
    let mut docs = documents(&corpus_dir().join(name));
    assert_eq!(docs.len(), 1, "{name}");
    docs.remove(0)
}

fn template<'w>(workflow: &'w Value, name: &str) -> &'w Value {
    workflow["spec"]["templates"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["name"] == name))
        .unwrap_or_else(|| panic!("no template {name}"))
}

/// Substitutes `{{workflow.parameters.X}}` from the workflow's arguments and
/// `{{inputs.parameters.X}}` from `inputs`, as the engine does before it
/// applies a patch.
fn substitute(text: &str, workflow: &Value, inputs: &[(&str, &str)]) -> String {
    let mut out = text.to_owned();
    for parameter in workflow["spec"]["arguments"]["parameters"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let name = parameter["name"].as_str().expect("parameter name");
        let value = parameter["value"].as_str().expect("parameter value");
        out = out.replace(&format!("{{{{workflow.parameters.{name}}}}}"), value);
    }
    for (name, value) in inputs {
        out = out.replace(&format!("{{{{inputs.parameters.{name}}}}}"), value);
    }
    assert!(!out.contains("{{"), "unsubstituted tag in {out}");
    out
}

const EXECUTOR: &str = "sluice/executor:dev";

fn mounts() -> Value {
    json!([{"name": "var-run-argo", "mountPath": "/var/run/argo"}])
}

/// The main container as the pod builder makes it from a template's
/// `container` or `script`.
fn main_container(template: &Value) -> Value {
    let mut main = template
        .get("container")
        .or_else(|| template.get("script"))
        .cloned()
        .expect("a container or script template");
    let map = main.as_object_mut().expect("an object");
    map.remove("source");
    map.insert("name".into(), json!("main"));
    map.insert(
        "env".into(),
        json!([
            {"name": "ARGO_CONTAINER_NAME", "value": "main"},
            {"name": "ARGO_NODE_ID", "value": "node-1"}
        ]),
    );
    map.insert("volumeMounts".into(), mounts());
    main
}

/// A pod spec shaped as the one the engine builds: an init container, the
/// `wait` container, then `main`.
fn pod_spec(main: Value) -> Value {
    json!({
        "initContainers": [{
            "name": "init",
            "image": EXECUTOR,
            "command": ["sluice-executor", "init"],
            "volumeMounts": mounts()
        }],
        "containers": [
            {
                "name": "wait",
                "image": EXECUTOR,
                "command": ["sluice-executor", "wait"],
                "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}},
                "volumeMounts": mounts()
            },
            main
        ],
        "volumes": [{"name": "var-run-argo", "emptyDir": {}}],
        "restartPolicy": "Never",
        "serviceAccountName": "default"
    })
}

/// The pod spec with `main`'s fields replaced as given.
fn pod_spec_with_main(template: &Value, main_fields: Value) -> Value {
    let mut main = main_container(template);
    for (key, value) in main_fields.as_object().expect("fields") {
        main[key] = value.clone();
    }
    pod_spec(main)
}

fn patched(base: Value, patches: &[String]) -> Value {
    patches.iter().fold(base, |spec, text| {
        let patch = parse_pod_spec_patch(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        merge_pod_spec(&spec, &patch).unwrap_or_else(|e| panic!("{text}: {e}"))
    })
}

#[test]
fn template_json_patch_sets_main_cpu_limit() {
    let workflow = example("pod-spec-patch.yaml");
    let tmpl = template(&workflow, "hello-world");
    let patch = substitute(
        tmpl["podSpecPatch"].as_str().expect("patch"),
        &workflow,
        &[],
    );
    let result = patched(pod_spec(main_container(tmpl)), &[patch]);
    assert_eq!(
        result,
        pod_spec_with_main(tmpl, json!({"resources": {"limits": {"cpu": "100m"}}}))
    );
    // The patched container keeps what the template gave it.
    assert_eq!(result["containers"][1]["image"], "busybox");
    assert_eq!(result["containers"][1]["args"], json!(["hello world"]));
    assert_eq!(result["containers"][0]["name"], "wait");
}

#[test]
fn workflow_yaml_patch_sets_main_memory_limit() {
    let workflow = example("pod-spec-yaml-patch.yaml");
    let tmpl = template(&workflow, "hello-world");
    let patch = substitute(
        workflow["spec"]["podSpecPatch"].as_str().expect("patch"),
        &workflow,
        &[],
    );
    assert_eq!(
        patched(pod_spec(main_container(tmpl)), &[patch]),
        pod_spec_with_main(tmpl, json!({"resources": {"limits": {"memory": "100Mi"}}}))
    );
}

#[test]
fn workflow_then_template_patches_both_apply() {
    let workflow = example("pod-spec-patch-wf-tmpl.yaml");
    let tmpl = template(&workflow, "hello-world");
    let patches = [
        substitute(
            workflow["spec"]["podSpecPatch"].as_str().expect("patch"),
            &workflow,
            &[],
        ),
        substitute(
            tmpl["podSpecPatch"].as_str().expect("patch"),
            &workflow,
            &[],
        ),
    ];
    assert_eq!(
        patched(pod_spec(main_container(tmpl)), &patches),
        pod_spec_with_main(
            tmpl,
            json!({"resources": {"limits": {"memory": "100Mi", "cpu": "100m"}}})
        )
    );
}

#[test]
fn patch_built_from_a_previous_step_output() {
    let workflow = example("pod-spec-from-previous-step.yaml");
    let tmpl = template(&workflow, "setup-resources-tmpl");
    // What parse-resources-tmpl's script writes to its output parameter.
    let resources = r#"{"memory": "10Gi", "cpu": "2000m"}"#;
    let patch = substitute(
        tmpl["podSpecPatch"].as_str().expect("patch"),
        &workflow,
        &[("resources", resources)],
    );
    let limits = json!({"memory": "10Gi", "cpu": "2000m"});
    assert_eq!(
        patched(pod_spec(main_container(tmpl)), &[patch]),
        pod_spec_with_main(
            tmpl,
            json!({"resources": {"limits": limits, "requests": limits}})
        )
    );
}

#[test]
fn a_patch_merges_env_by_name_and_deletes_by_directive() {
    let workflow = example("pod-spec-patch.yaml");
    let tmpl = template(&workflow, "hello-world");
    let patch = r#"
containers:
  - name: main
    env:
      - {name: ARGO_CONTAINER_NAME, value: patched}
      - {name: EXTRA, value: "1"}
  - name: wait
    $patch: delete
initContainers:
  - $patch: replace
tolerations:
  - {key: spot, operator: Exists}
"#;
    let result = patched(pod_spec(main_container(tmpl)), &[patch.to_owned()]);
    let mut expected = pod_spec_with_main(
        tmpl,
        // Merged by name, in Kubernetes' order: the entries the patch names
        // in its order, the others after the last named one before them.
        json!({"env": [
            {"name": "ARGO_CONTAINER_NAME", "value": "patched"},
            {"name": "EXTRA", "value": "1"},
            {"name": "ARGO_NODE_ID", "value": "node-1"}
        ]}),
    );
    let main = expected["containers"][1].clone();
    expected["containers"] = json!([main]);
    expected["initContainers"] = json!([]);
    expected["tolerations"] = json!([{"key": "spot", "operator": "Exists"}]);
    assert_eq!(result, expected);
}

#[test]
fn every_corpus_pod_spec_patch_applies() {
    let mut applied = 0;
    for path in manifest_files(&corpus_dir()) {
        for workflow in documents(&path) {
            let spec = &workflow["spec"];
            let workflow_patch = spec["podSpecPatch"].as_str();
            for tmpl in spec["templates"].as_array().into_iter().flatten() {
                let template_patch = tmpl["podSpecPatch"].as_str();
                if workflow_patch.is_none() && template_patch.is_none() {
                    continue;
                }
                if tmpl.get("container").is_none() && tmpl.get("script").is_none() {
                    continue;
                }
                let inputs: Vec<(&str, &str)> = tmpl["inputs"]["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["name"].as_str())
                    .map(|name| (name, r#"{"cpu": "1"}"#))
                    .collect();
                let patches: Vec<String> = [workflow_patch, template_patch]
                    .into_iter()
                    .flatten()
                    .map(|p| substitute(p, &workflow, &inputs))
                    .collect();
                let result = patched(pod_spec(main_container(tmpl)), &patches);
                let names: Vec<&str> = result["containers"]
                    .as_array()
                    .expect("containers")
                    .iter()
                    .filter_map(|c| c["name"].as_str())
                    .collect();
                assert_eq!(names, ["wait", "main"], "{}", path.display());
                assert_eq!(
                    result["containers"][1]["image"],
                    main_container(tmpl)["image"],
                    "{}",
                    path.display()
                );
                applied += 1;
            }
        }
    }
    assert!(applied >= 4, "only {applied} podSpecPatch examples found");
}

#[test]
fn template_defaults_example_fills_every_template() {
    let workflow = example("template-defaults.yaml");
    let defaults = &workflow["spec"]["templateDefaults"];
    let merged: Vec<Value> = workflow["spec"]["templates"]
        .as_array()
        .expect("templates")
        .iter()
        .map(|t| merge_template_defaults(t, defaults).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    assert_eq!(
        merged,
        [
            json!({
                "name": "main",
                "timeout": "30s",
                "retryStrategy": {"limit": "2"},
                "steps": [
                    [{"name": "retry-backoff", "template": "retry-backoff"}],
                    [{"name": "hello-world", "template": "hello-world"}]
                ]
            }),
            json!({
                "name": "hello-world",
                "timeout": "30s",
                "retryStrategy": {"limit": "2"},
                "container": {"image": "busybox", "command": ["echo"], "args": ["hello world"]}
            }),
            json!({
                "name": "retry-backoff",
                "timeout": "30s",
                "retryStrategy": {"limit": "2"},
                "container": {
                    "image": "python:alpine3.23",
                    "command": ["python", "-c"],
                    "args": ["import random; import sys; exit_code = random.choice([0, 1, 1]); sys.exit(exit_code)"]
                }
            }),
        ]
    );
}

/// Drops `null` members, which mean "unset" to Argo's typed decoding.
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

const DEFAULTS_CONFIG: &str = r#"
workflowDefaults:
  metadata:
    labels: {sluice.dev/defaulted: "true"}
    annotations: {sluice.dev/owner: platform}
  spec:
    serviceAccountName: workflow-runner
    podGC: {strategy: OnPodSuccess}
    ttlStrategy: {secondsAfterCompletion: 86400}
    activeDeadlineSeconds: 3600
    templateDefaults:
      timeout: 1h
      container:
        imagePullPolicy: IfNotPresent
"#;

#[test]
fn workflow_defaults_lie_under_every_corpus_workflow() {
    let config = Config::from_yaml_str(DEFAULTS_CONFIG).expect("config");
    assert_eq!(config.validate(), []);
    let defaults = serde_json::to_value(config.workflow_defaults.as_deref().expect("defaults"))
        .expect("serialize");
    let mut checked = 0;
    for path in manifest_files(&corpus_dir()) {
        for workflow in documents(&path) {
            if workflow["kind"] != "Workflow" {
                continue;
            }
            let file = path.display();
            // Nothing to lay under: the workflow comes back as written.
            let alone = merge_workflow_defaults(&workflow, &json!({}))
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(alone, without_nulls(&workflow), "{file}");

            let merged = merge_workflow_defaults(&workflow, &defaults)
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            let (own, spec) = (&workflow["spec"], &merged["spec"]);
            // The workflow's own values win; the defaults fill the rest.
            for (key, default) in [
                ("serviceAccountName", json!("workflow-runner")),
                ("activeDeadlineSeconds", json!(3600)),
            ] {
                let expected = own.get(key).filter(|v| !v.is_null()).unwrap_or(&default);
                assert_eq!(&spec[key], expected, "{file}: spec.{key}");
            }
            if own.get("podGC").is_none() {
                assert_eq!(spec["podGC"], json!({"strategy": "OnPodSuccess"}), "{file}");
            }
            assert_eq!(spec["entrypoint"], own["entrypoint"], "{file}");
            assert_eq!(
                spec["templates"],
                without_nulls(&own["templates"]),
                "{file}"
            );
            assert_eq!(
                spec["arguments"],
                without_nulls(&own["arguments"]),
                "{file}"
            );
            assert_eq!(
                merged["metadata"]["labels"]["sluice.dev/defaulted"], "true",
                "{file}"
            );
            for (label, value) in workflow["metadata"]["labels"]
                .as_object()
                .into_iter()
                .flatten()
            {
                assert_eq!(
                    &merged["metadata"]["labels"][label], value,
                    "{file}: label {label}"
                );
            }
            assert_eq!(
                spec["templateDefaults"]["container"]["imagePullPolicy"], "IfNotPresent",
                "{file}"
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} workflows in the corpus");
}
