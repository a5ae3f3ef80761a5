//! The Argo kinds as kube sees them: dynamic objects with an [`ApiResource`],
//! converted to and from Sluice's typed objects at the edge.
//!
//! Sluice's types keep every field they do not know (so nothing a user wrote
//! is lost), which is why they are not `kube::Resource`s themselves; the
//! conversion is one `serde_json` pass each way.

use kube::core::{ApiResource, DynamicObject};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The API resource of the kinds the controller reads or writes.
pub use sluice_api::crd::api_resource as resource;

/// A conversion that failed: the object's kind and name, and where.
#[derive(Debug, thiserror::Error)]
#[error("{kind} {name}: {source}")]
pub struct ConvertError {
    pub kind: String,
    pub name: String,
    #[source]
    pub source: serde_json::Error,
}

/// A dynamic object as one of Sluice's types.
pub fn from_dynamic<T: DeserializeOwned>(object: &DynamicObject) -> Result<T, ConvertError> {
    let error = |source| ConvertError {
        kind: object
            .types
            .as_ref()
            .map_or_else(String::new, |t| t.kind.clone()),
        name: object.metadata.name.clone().unwrap_or_default(),
        source,
    };
    let value = serde_json::to_value(object).map_err(error)?;
    serde_json::from_value(value).map_err(error)
}

/// One of Sluice's objects as a dynamic object of `resource`.
pub fn to_dynamic<T: Serialize>(
    object: &T,
    resource: &ApiResource,
) -> Result<DynamicObject, serde_json::Error> {
    let mut value = serde_json::to_value(object)?;
    if let Some(map) = value.as_object_mut() {
        map.insert("apiVersion".into(), resource.api_version.clone().into());
        map.insert("kind".into(), resource.kind.clone().into());
    }
    serde_json::from_value(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_api::types::Workflow;

    #[test]
    fn a_workflow_survives_the_round_trip_with_unknown_fields() {
        let value = serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": "w", "namespace": "n", "resourceVersion": "7"},
            "spec": {"entrypoint": "main", "futureField": {"a": 1}},
        });
        let dynamic: DynamicObject = serde_json::from_value(value.clone()).expect("dynamic");
        let workflow: Workflow = from_dynamic(&dynamic).expect("typed");
        assert_eq!(workflow.spec.entrypoint.as_deref(), Some("main"));
        let back = to_dynamic(&workflow, &resource("Workflow")).expect("back");
        assert_eq!(serde_json::to_value(&back).expect("value"), value);
    }

    #[test]
    fn plurals_are_the_crds() {
        assert_eq!(resource("WorkflowTaskResult").plural, "workflowtaskresults");
        assert_eq!(resource("CronWorkflow").plural, "cronworkflows");
        assert_eq!(resource("Workflow").api_version, "argoproj.io/v1alpha1");
    }
}
