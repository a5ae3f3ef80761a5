//! Intents for the controller: appended to the annotation it reads
//! (`sluice.dev/intents`, a JSON array of [`Intent`]s) and removes with the
//! write that applies them.
//!
//! The append is a merge patch carrying the `resourceVersion` read, so two
//! verbs in quick succession (or a controller write in between) cannot lose
//! one another's intents: a 409 reads again and appends again.

use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use sluice_engine::run::Intent;

use super::Cluster;

/// The annotation (the controller's `workflow::ANNOTATION_INTENTS`).
pub const ANNOTATION_INTENTS: &str = "sluice.dev/intents";

/// Conflicts retried before giving up.
const ATTEMPTS: usize = 20;

/// Appends `intent` to the workflow's pending intents.
pub async fn append(cluster: &Cluster, name: &str, intent: &Intent) -> anyhow::Result<()> {
    let api = cluster.workflows();
    for _ in 0..ATTEMPTS {
        let wf = cluster.workflow(name).await?;
        let patch = patch(
            wf.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(ANNOTATION_INTENTS))
                .map(String::as_str),
            wf.metadata.resource_version.as_deref().unwrap_or_default(),
            intent,
        )?;
        match api
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(status)) if status.code == 409 => continue,
            Err(e) => return Err(cluster.error(e, "workflow", name)),
        }
    }
    anyhow::bail!("workflow {name}: still changing after {ATTEMPTS} attempts; try again")
}

/// The merge patch appending `intent` to `existing` (a malformed annotation,
/// which the controller ignores, is replaced), guarded by `resource_version`.
fn patch(existing: Option<&str>, resource_version: &str, intent: &Intent) -> anyhow::Result<Value> {
    let mut intents: Vec<Value> = existing
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default();
    intents.push(serde_json::to_value(intent)?);
    Ok(json!({"metadata": {
        "resourceVersion": resource_version,
        "annotations": {ANNOTATION_INTENTS: serde_json::to_string(&intents)?},
    }}))
}

/// `--node-field-selector`: a node's name or display name, bare or as
/// Argo writes it (`displayName=approve`, `name=wf[0].approve`). The engine
/// matches either; other fields (`templateName`, `phase`, ...) are not
/// supported yet.
pub fn node_selector(text: &str) -> anyhow::Result<String> {
    match text.split_once('=') {
        None => Ok(text.to_owned()),
        Some(("name" | "displayName", value)) if !value.is_empty() => Ok(value.to_owned()),
        Some((key, _)) => anyhow::bail!(
            "--node-field-selector {text}: select by name=NAME or displayName=NAME (or a bare name); {key} is not supported"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_selectors_as_argo_writes_them() {
        assert_eq!(node_selector("approve").expect("bare"), "approve");
        assert_eq!(
            node_selector("displayName=approve").expect("display"),
            "approve"
        );
        assert_eq!(
            node_selector("name=wf[0].approve").expect("name"),
            "wf[0].approve"
        );
        let error = node_selector("phase=Running").expect_err("phase");
        assert!(
            error.to_string().contains("phase is not supported"),
            "{error}"
        );
    }

    #[test]
    fn appends_to_what_is_there_and_replaces_what_is_malformed() {
        let p = patch(Some(r#"[{"intent":"suspend"}]"#), "7", &Intent::Suspend).expect("patch");
        assert_eq!(
            p,
            json!({"metadata": {"resourceVersion": "7", "annotations":
                {"sluice.dev/intents": r#"[{"intent":"suspend"},{"intent":"suspend"}]"#}}})
        );
        let p = patch(Some("{oops"), "8", &Intent::Suspend).expect("patch");
        assert_eq!(
            p["metadata"]["annotations"][ANNOTATION_INTENTS],
            r#"[{"intent":"suspend"}]"#
        );
    }
}
