//! Artifact repository resolution and keys.

use std::collections::BTreeMap;

use serde_json::json;
use sluice_api::types::Artifact;
use sluice_engine::repository::{
    ConfigMapData, DEFAULT_KEY_ANNOTATION, RepositoryError, output_artifact_key, resolve,
    resolve_location, substitute_location,
};

use crate::{config, workflow};

const S3_A: &str = "s3:\n  endpoint: a:9000\n  bucket: bucket-a\n";
const S3_B: &str =
    "s3:\n  endpoint: b:9000\n  bucket: bucket-b\n  keyFormat: 'b/{{workflow.uid}}/{{pod.name}}'\n";

fn config_map(default_key: Option<&str>) -> ConfigMapData {
    ConfigMapData {
        data: BTreeMap::from([
            ("a".to_owned(), S3_A.to_owned()),
            ("b".to_owned(), S3_B.to_owned()),
        ]),
        annotations: default_key
            .map(|k| BTreeMap::from([(DEFAULT_KEY_ANNOTATION.to_owned(), k.to_owned())]))
            .unwrap_or_default(),
    }
}

fn with_ref(reference: &str) -> sluice_api::types::Workflow {
    workflow(&format!(
        "metadata: {{name: repo-wf}}\nspec:\n  artifactRepositoryRef: {reference}\n  templates: []\n"
    ))
}

#[test]
fn ref_with_explicit_key() {
    let wf = with_ref("{configMap: my-repos, key: b}");
    let lookup = |name: &str| (name == "my-repos").then(|| config_map(Some("a")));
    let resolved = resolve(&wf, &config(""), &lookup)
        .expect("ok")
        .expect("some");
    assert_eq!(resolved.source, Some(("my-repos".into(), "b".into())));
    let s3 = resolved.repository.s3.expect("s3");
    assert_eq!(s3.bucket.as_deref(), Some("bucket-b"));
}

#[test]
fn ref_without_key_uses_the_default_key_annotation() {
    let wf = with_ref("{configMap: my-repos}");
    let lookup = |name: &str| (name == "my-repos").then(|| config_map(Some("a")));
    let resolved = resolve(&wf, &config(""), &lookup)
        .expect("ok")
        .expect("some");
    assert_eq!(resolved.source, Some(("my-repos".into(), "a".into())));
}

#[test]
fn ref_defaults_to_the_artifact_repositories_config_map() {
    let wf = with_ref("{key: a}");
    let lookup = |name: &str| (name == "artifact-repositories").then(|| config_map(None));
    let resolved = resolve(&wf, &config(""), &lookup)
        .expect("ok")
        .expect("some");
    assert_eq!(
        resolved.source,
        Some(("artifact-repositories".into(), "a".into()))
    );
}

#[test]
fn missing_config_map_is_an_error_naming_it() {
    let wf = with_ref("{configMap: nowhere, key: a}");
    let err = resolve(&wf, &config(""), &|_| None).expect_err("missing");
    assert_eq!(
        err,
        RepositoryError::ConfigMapNotFound {
            config_map: "nowhere".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "artifactRepositoryRef: configmap nowhere not found"
    );
}

#[test]
fn missing_key_is_an_error_naming_config_map_and_key() {
    let wf = with_ref("{configMap: my-repos, key: c}");
    let lookup = |_: &str| Some(config_map(None));
    let err = resolve(&wf, &config(""), &lookup).expect_err("missing key");
    assert!(
        err.to_string()
            .contains("configmap my-repos has no key \"c\""),
        "{err}"
    );
}

#[test]
fn without_ref_the_namespace_default_then_the_configuration() {
    let wf = workflow("metadata: {name: plain}\nspec: {templates: []}\n");
    let configured = config("artifactRepository:\n  s3: {endpoint: c:9000, bucket: from-config}\n");
    // The namespace's ConfigMap with a default key wins.
    let lookup = |name: &str| (name == "artifact-repositories").then(|| config_map(Some("b")));
    let resolved = resolve(&wf, &configured, &lookup)
        .expect("ok")
        .expect("some");
    assert_eq!(
        resolved.source,
        Some(("artifact-repositories".into(), "b".into()))
    );
    // Without a default key there, the configuration's.
    let lookup = |name: &str| (name == "artifact-repositories").then(|| config_map(None));
    let resolved = resolve(&wf, &configured, &lookup)
        .expect("ok")
        .expect("some");
    assert_eq!(resolved.source, None);
    assert_eq!(
        resolved.repository.s3.and_then(|s| s.bucket).as_deref(),
        Some("from-config")
    );
    // Nothing anywhere: no repository.
    assert_eq!(resolve(&wf, &config(""), &|_| None).expect("ok"), None);
}

#[test]
fn key_format_is_substituted_for_the_pod() {
    let wf = workflow("metadata: {name: keyed, namespace: team}\nspec: {templates: []}\n");
    let configured = config(
        "artifactRepository:\n  s3:\n    bucket: x\n    keyFormat: '{{workflow.namespace}}/{{workflow.creationTimestamp.Y}}-{{workflow.creationTimestamp.m}}-{{workflow.creationTimestamp.d}}T{{workflow.creationTimestamp.H}}{{workflow.creationTimestamp.M}}{{workflow.creationTimestamp.S}}/{{workflow.uid}}/{{workflow.name}}/{{pod.name}}/{{other}}'\n",
    );
    let location = resolve_location(&wf, &configured, &|_| None)
        .expect("ok")
        .expect("some");
    let concrete = substitute_location(&location, &wf, "keyed-main-1").expect("substituted");
    assert_eq!(
        concrete.s3.and_then(|s| s.key).as_deref(),
        Some("team/2024-03-05T060708/uid-1/keyed/keyed-main-1/{{other}}")
    );
}

#[test]
fn default_key_format_joins_the_key_prefix() {
    let wf = workflow("metadata: {name: prefixed}\nspec: {templates: []}\n");
    let configured = config("artifactRepository:\n  s3: {bucket: x, keyPrefix: archive/}\n");
    let location = resolve_location(&wf, &configured, &|_| None)
        .expect("ok")
        .expect("some");
    assert_eq!(
        location.s3.and_then(|s| s.key).as_deref(),
        Some("archive/{{workflow.name}}/{{pod.name}}")
    );
}

#[test]
fn local_repository_extension() {
    let wf = workflow("metadata: {name: local-wf}\nspec: {templates: []}\n");
    let configured = config("artifactRepository:\n  local: {}\n");
    let location = resolve_location(&wf, &configured, &|_| None)
        .expect("ok")
        .expect("some");
    let concrete = substitute_location(&location, &wf, "local-wf-a-1").expect("substituted");
    assert_eq!(
        concrete.extra.get("local"),
        Some(&json!({"key": "local-wf/local-wf-a-1"}))
    );
}

#[test]
fn output_artifact_keys_follow_the_archive_strategy() {
    let art = |yaml: &str| -> Artifact { serde_yaml_ng::from_str(yaml).expect("artifact") };
    assert_eq!(
        output_artifact_key("wf/pod", &art("{name: out, path: /tmp/out}")),
        "wf/pod/out.tgz"
    );
    assert_eq!(
        output_artifact_key(
            "wf/pod",
            &art("{name: out, path: /tmp/out, archive: {tar: {compressionLevel: 1}}}")
        ),
        "wf/pod/out.tgz"
    );
    assert_eq!(
        output_artifact_key(
            "wf/pod/",
            &art("{name: out, path: /tmp/out, archive: {zip: {}}}")
        ),
        "wf/pod/out.zip"
    );
    assert_eq!(
        output_artifact_key(
            "wf/pod",
            &art("{name: out, path: /tmp/dir/report.txt, archive: {none: {}}}")
        ),
        "wf/pod/report.txt"
    );
}
