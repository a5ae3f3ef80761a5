//! Argo's container-shaped types: a Kubernetes `Container` written inline
//! with one extra field. The container part is kept as written.

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::meta::{RAW_MARKER, Raw};
use k8s_openapi::api::core::v1 as core;

/// A `script` template: a container plus the `source` the executor writes to
/// a file and runs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScriptTemplate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(flatten)]
    pub container: Raw<core::Container>,
}

/// A container of `initContainers` or `sidecars`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserContainer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror_volume_mounts: Option<bool>,
    #[serde(flatten)]
    pub container: Raw<core::Container>,
}

/// A container of a `containerSet` template, with its in-pod dependencies.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerNode {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<String>,
    #[serde(flatten)]
    pub container: Raw<core::Container>,
}

/// The schema of a Kubernetes `Container` object with extra properties,
/// marked as kept-as-written.
fn container_with(generator: &mut SchemaGenerator, extra: &[(&str, Value)]) -> Schema {
    let mut schema = core::Container::json_schema(generator);
    if let Some(Value::Object(props)) = schema.get_mut("properties") {
        for (name, prop) in extra {
            props.insert((*name).to_owned(), prop.clone());
        }
    }
    // `name` is optional for Argo's container-shaped types.
    schema.remove("required");
    schema.insert(RAW_MARKER.to_owned(), Value::Bool(true));
    schema
}

macro_rules! container_like_schema {
    ($ty:ident, $name:literal, $( $field:literal => $schema:tt ),*) => {
        impl JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }

            fn json_schema(generator: &mut SchemaGenerator) -> Schema {
                container_with(generator, &[$( ($field, serde_json::json!($schema)) ),*])
            }
        }
    };
}

container_like_schema!(ScriptTemplate, "ScriptTemplate", "source" => { "type": "string" });
container_like_schema!(UserContainer, "UserContainer", "mirrorVolumeMounts" => { "type": "boolean" });
container_like_schema!(ContainerNode, "ContainerNode", "dependencies" => { "type": "array", "items": { "type": "string" } });

impl ScriptTemplate {
    /// The container's image.
    pub fn image(&self) -> Option<&str> {
        self.container.str_field("image")
    }
}

impl UserContainer {
    /// The container's name.
    pub fn name(&self) -> Option<&str> {
        self.container.str_field("name")
    }
}

impl ContainerNode {
    /// The container's name.
    pub fn name(&self) -> Option<&str> {
        self.container.str_field("name")
    }
}
