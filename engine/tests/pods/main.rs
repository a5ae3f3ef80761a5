//! Workflow pods: golden pod specs per template feature, names, injection,
//! artifact repositories and the restricted Pod Security Standard.
//!
//! Regenerate the golden files with `SLUICE_BLESS=1 cargo test -p sluice-engine --test pods`.

mod corpus_vars;
mod golden;
mod inject;
mod names;
mod repository;
mod units;

use std::path::Path;

use sluice_api::Config;
use sluice_api::types::{ArtifactLocation, Template, Workflow};
use sluice_engine::inject::pod_for_backend;
use sluice_engine::pod::{BuiltPod, PodContext, PodNode};

/// Upstream's examples, read in place.
pub const CORPUS: &str = "/work/shared/corpus/argo-examples";

/// A restricted-compliant security context, for containers in test templates.
pub const SC: &str = "{runAsNonRoot: true, runAsUser: 1000, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}, seccompProfile: {type: RuntimeDefault}}";

/// A configuration whose main-container defaults meet the restricted profile,
/// with an `images:` index for the examples' images, plus `extra` YAML.
pub fn config(extra: &str) -> Config {
    let text = format!(
        "mainContainer:\n  securityContext: {SC}\nimages:\n  argoproj/argosay:v2: {{cmd: [/argosay]}}\n  nginx:1.13: {{entrypoint: [/docker-entrypoint.sh], cmd: [nginx, -g, 'daemon off;']}}\n{extra}"
    );
    Config::from_yaml_str(&text).expect("test configuration")
}

/// Parses a workflow, naming it `<generateName>abcde` (or `wf-test`) in
/// namespace `argo` with uid `uid-1` when it has none.
pub fn workflow(text: &str) -> Workflow {
    let mut wf: Workflow = serde_yaml_ng::from_str(text).expect("workflow YAML");
    if wf.metadata.name.is_none() {
        let base = wf
            .metadata
            .generate_name
            .clone()
            .unwrap_or_else(|| "wf-test-".into());
        wf.metadata.name = Some(format!("{base}abcde"));
    }
    wf.metadata.namespace.get_or_insert_with(|| "argo".into());
    wf.metadata.uid.get_or_insert_with(|| "uid-1".into());
    wf.metadata
        .creation_timestamp
        .get_or_insert_with(|| "2024-03-05T06:07:08Z".into());
    wf
}

/// A workflow from upstream's examples.
pub fn corpus(path: &str) -> Workflow {
    let file = Path::new(CORPUS).join(path);
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    workflow(&text)
}

/// The workflow's template `name`.
pub fn template<'a>(wf: &'a Workflow, name: &str) -> &'a Template {
    wf.spec
        .templates
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no template {name}"))
}

/// The node `node` (`None`: the root node) running template `name`.
pub fn node(wf: &Workflow, node: Option<&str>, name: &str) -> PodNode {
    let wf_name = wf.metadata.name.clone().expect("name");
    let node_name = node.map_or_else(|| wf_name.clone(), |n| format!("{wf_name}{n}"));
    PodNode::new(&wf_name, &node_name, name)
}

/// Builds and injects (controller injection) the pod of template `name`.
pub fn build(
    config: &Config,
    wf: &Workflow,
    name: &str,
    node_suffix: Option<&str>,
    repository: Option<&ArtifactLocation>,
) -> BuiltPod {
    let ctx = PodContext {
        artifact_repository: repository,
        ..PodContext::new(config)
    };
    pod_for_backend(
        &ctx,
        wf,
        &node(wf, node_suffix, name),
        template(wf, name),
        false,
    )
    .expect("pod builds")
}
