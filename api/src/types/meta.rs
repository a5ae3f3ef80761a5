//! Building blocks shared by every kind: kept-as-written values, Kubernetes
//! scalars with two shapes, and object metadata.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Fields of an object that Sluice does not model, kept exactly as written so
/// that a round trip never drops them.
pub type Extra = BTreeMap<String, Value>;

/// Extension key marking a subtree whose value is kept as written and checked
/// against a Kubernetes type (a pod-shaped field). The CRD generator turns
/// such subtrees into `x-kubernetes-preserve-unknown-fields` objects.
pub const RAW_MARKER: &str = "x-sluice-raw";

/// A Kubernetes-shaped value (a container, a volume, an affinity, ...) kept
/// exactly as written, with a typed view on demand.
///
/// k8s-openapi's types drop unknown fields and explicit nulls; storing the
/// JSON keeps every manifest byte-for-byte equivalent after a round trip,
/// while [`Raw::typed`] gives the typed view where code needs it.
pub struct Raw<T> {
    value: Value,
    marker: PhantomData<fn() -> T>,
}

impl<T> Raw<T> {
    /// Wraps a JSON value as written.
    pub fn new(value: Value) -> Self {
        Self {
            value,
            marker: PhantomData,
        }
    }

    /// The value as written.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The value as written, for in-place edits (defaults, patches).
    pub fn value_mut(&mut self) -> &mut Value {
        &mut self.value
    }

    /// Consumes the wrapper, returning the value as written.
    pub fn into_value(self) -> Value {
        self.value
    }

    /// A top-level field of an object value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.value.get(key)
    }

    /// A top-level string field of an object value.
    pub fn str_field(&self, key: &str) -> Option<&str> {
        self.value.get(key).and_then(Value::as_str)
    }
}

impl<T: DeserializeOwned> Raw<T> {
    /// The typed view. The error names the path inside this value
    /// (`env[0].valueFrom`) where the shape does not fit `T`.
    pub fn typed(&self) -> Result<T, serde_path_to_error::Error<serde_json::Error>> {
        serde_path_to_error::deserialize(&self.value)
    }
}

impl<T: Serialize> Raw<T> {
    /// Wraps a typed value.
    pub fn from_typed(typed: &T) -> Result<Self, serde_json::Error> {
        Ok(Self::new(serde_json::to_value(typed)?))
    }
}

impl<T> Clone for Raw<T> {
    fn clone(&self) -> Self {
        Self::new(self.value.clone())
    }
}

impl<T> PartialEq for Raw<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T> Default for Raw<T> {
    fn default() -> Self {
        Self::new(Value::Object(serde_json::Map::new()))
    }
}

impl<T> fmt::Debug for Raw<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl<T> Serialize for Raw<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(serializer)
    }
}

impl<'de, T> Deserialize<'de> for Raw<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(Self::new)
    }
}

impl<T: JsonSchema> JsonSchema for Raw<T> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = generator.subschema_for::<T>();
        schema.insert(RAW_MARKER.to_owned(), Value::Bool(true));
        schema
    }
}

/// Kubernetes `IntOrString`, kept in the shape it was written in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IntOrString {
    /// A whole number (`activeDeadlineSeconds: 30`).
    Int(i64),
    /// A string: a number in quotes, a duration or a `{{...}}` expression.
    String(String),
}

impl IntOrString {
    /// The value as text, as a template tag would substitute it.
    pub fn as_text(&self) -> String {
        match self {
            Self::Int(n) => n.to_string(),
            Self::String(s) => s.clone(),
        }
    }
}

impl fmt::Display for IntOrString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(n) => write!(f, "{n}"),
            Self::String(s) => f.write_str(s),
        }
    }
}

impl JsonSchema for IntOrString {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "IntOrString".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [{ "type": "integer" }, { "type": "string" }],
            "x-kubernetes-int-or-string": true
        })
    }
}

/// Argo's `AnyString`: a parameter value written as a string, number or
/// boolean. Kept as written; [`AnyString::as_text`] is the string Argo uses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AnyString(pub Value);

impl AnyString {
    /// Wraps a string.
    pub fn text(s: impl Into<String>) -> Self {
        Self(Value::String(s.into()))
    }

    /// The value as the string Argo substitutes (`5`, `true`, `hello`).
    pub fn as_text(&self) -> String {
        match &self.0 {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        }
    }

    /// Whether the value was written as a scalar (string, number, boolean).
    pub fn is_scalar(&self) -> bool {
        matches!(self.0, Value::String(_) | Value::Number(_) | Value::Bool(_))
    }
}

impl JsonSchema for AnyString {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "AnyString".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [{ "type": "string" }, { "type": "number" }, { "type": "boolean" }],
            "x-kubernetes-preserve-unknown-fields": true
        })
    }
}

/// An element of `withItems`: any JSON value.
pub type Item = Value;

/// A number kept as written (`1` stays an integer, `1.5` a float).
pub type Amount = serde_json::Number;

/// Kubernetes `ObjectMeta`, with the fields a manifest or a controller writes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_grace_period_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owner_references: Vec<Raw<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_fields:
        Vec<Raw<k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_link: Option<String>,
    /// Fields this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}
