//! The CustomResourceDefinitions of the kinds, generated from the types.
//!
//! Each schema is derived from the strict schema of [`crate::schema`] by a
//! transform that makes it *structural* (every node typed, no `$ref`, no
//! types inside `anyOf`) and small enough for a client-side `kubectl apply`
//! (under 256 KiB): definitions are inlined, descriptions dropped, and
//! pod-shaped subtrees (marked [`RAW_MARKER`]), `status`, a task result's
//! `outputs` and the artifact drivers' locations ([`UNTYPED_DEFINITIONS`])
//! become `x-kubernetes-preserve-unknown-fields` objects. Templates, steps,
//! tasks, parameters and artifacts stay typed; the recursion of an `inline`
//! template stops at the inline template itself.
//!
//! Every object Sluice types keeps the fields it does not know (`extra`), so
//! every typed object here carries `x-kubernetes-preserve-unknown-fields`
//! too: the API server then validates the fields it knows and never prunes
//! one that Sluice would keep.
//!
//! Names, short names, scope and printer columns follow upstream's CRDs, so
//! Argo's tools read what Sluice stores. Like upstream, no kind uses the
//! `status` subresource: Argo's controller and CLI write a workflow's status
//! with an ordinary update of the whole object, which a status subresource
//! would silently ignore.

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceColumnDefinition, CustomResourceDefinition, CustomResourceDefinitionNames,
    CustomResourceDefinitionSpec, CustomResourceDefinitionVersion, CustomResourceValidation,
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Map, Value};

use crate::schema::{definitions, ref_target};
use crate::types::{GROUP, RAW_MARKER, VERSION};

/// The command that regenerates the committed CRD files.
pub const BLESS_COMMAND: &str = "SLUICE_BLESS=1 cargo test -p sluice-api --test api crds";

/// Definitions a CRD keeps as `x-kubernetes-preserve-unknown-fields`
/// objects rather than typing them: the artifact drivers' locations. Inlined
/// at every artifact (arguments, inputs, outputs, archive locations, hooks),
/// they would make up over half of each CRD and bring the workflow CRDs near
/// the size limit, for fields Sluice checks itself before the API server does.
pub const UNTYPED_DEFINITIONS: [&str; 10] = [
    "ArtifactoryArtifact",
    "AzureArtifact",
    "GCSArtifact",
    "GitArtifact",
    "HDFSArtifact",
    "HTTPArtifact",
    "OSSArtifact",
    "PluginArtifact",
    "RawArtifact",
    "S3Artifact",
];

/// The most a CRD may weigh, serialized as JSON: what fits in the
/// `last-applied-configuration` annotation of a client-side `kubectl apply`.
pub const MAX_CRD_BYTES: usize = 256 * 1024;

/// How a kind is served: its names and scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KindInfo {
    pub kind: &'static str,
    pub plural: &'static str,
    pub short_names: &'static [&'static str],
    /// Whether objects live in a namespace (else cluster-scoped).
    pub namespaced: bool,
}

/// The kinds with a CRD, in the order of [`crate::types::KINDS`].
pub const CRD_KINDS: [KindInfo; 6] = [
    KindInfo {
        kind: "Workflow",
        plural: "workflows",
        short_names: &["wf"],
        namespaced: true,
    },
    KindInfo {
        kind: "WorkflowTemplate",
        plural: "workflowtemplates",
        short_names: &["wftmpl"],
        namespaced: true,
    },
    KindInfo {
        kind: "ClusterWorkflowTemplate",
        plural: "clusterworkflowtemplates",
        // Upstream's two, and the short form of the namespaced kind's.
        short_names: &["clusterwftmpl", "cwft", "cwftmpl"],
        namespaced: false,
    },
    KindInfo {
        kind: "CronWorkflow",
        plural: "cronworkflows",
        short_names: &["cwf", "cronwf"],
        namespaced: true,
    },
    KindInfo {
        kind: "WorkflowEventBinding",
        plural: "workfloweventbindings",
        short_names: &["wfeb"],
        namespaced: true,
    },
    KindInfo {
        kind: "WorkflowTaskResult",
        plural: "workflowtaskresults",
        short_names: &["wftr"],
        namespaced: true,
    },
];

impl KindInfo {
    /// The CRD's name, `workflows.argoproj.io`.
    pub fn crd_name(&self) -> String {
        format!("{}.{GROUP}", self.plural)
    }

    /// The committed file of the CRD, relative to the chart's `crds/`.
    pub fn file_name(&self) -> String {
        format!("{}.yaml", self.crd_name())
    }
}

/// The CRD of every kind, in the order of [`CRD_KINDS`].
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    CRD_KINDS.iter().map(crd).collect()
}

/// The CRD of one kind.
pub fn crd(info: &KindInfo) -> CustomResourceDefinition {
    let singular = info.kind.to_lowercase();
    CustomResourceDefinition {
        metadata: ObjectMeta {
            name: Some(info.crd_name()),
            ..ObjectMeta::default()
        },
        spec: CustomResourceDefinitionSpec {
            group: GROUP.to_owned(),
            names: CustomResourceDefinitionNames {
                kind: info.kind.to_owned(),
                list_kind: Some(format!("{}List", info.kind)),
                plural: info.plural.to_owned(),
                singular: Some(singular),
                short_names: Some(info.short_names.iter().map(|s| (*s).to_owned()).collect()),
                categories: None,
            },
            scope: if info.namespaced {
                "Namespaced"
            } else {
                "Cluster"
            }
            .to_owned(),
            versions: vec![CustomResourceDefinitionVersion {
                name: VERSION.to_owned(),
                served: true,
                storage: true,
                schema: Some(CustomResourceValidation {
                    open_api_v3_schema: Some(structural_schema(info.kind)),
                }),
                additional_printer_columns: printer_columns(info.kind),
                ..CustomResourceDefinitionVersion::default()
            }],
            ..CustomResourceDefinitionSpec::default()
        },
        status: None,
    }
}

/// The CRD as the YAML file committed under `charts/sluice/crds/`, with a
/// header naming the command that writes it.
pub fn to_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_yaml_ng::Error> {
    let body = serde_yaml_ng::to_string(crd)?;
    Ok(format!(
        "# Generated by `{BLESS_COMMAND}` from the types in api/src/types; do not edit.\n{body}"
    ))
}

fn printer_columns(kind: &str) -> Option<Vec<CustomResourceColumnDefinition>> {
    let column = |name: &str, type_: &str, json_path: &str, description: &str| {
        CustomResourceColumnDefinition {
            name: name.to_owned(),
            type_: type_.to_owned(),
            json_path: json_path.to_owned(),
            description: Some(description.to_owned()),
            format: (type_ == "date").then(|| "date-time".to_owned()),
            priority: None,
        }
    };
    (kind == "Workflow").then(|| {
        vec![
            column("Status", "string", ".status.phase", "The phase of the run"),
            column("Age", "date", ".status.startedAt", "When the run started"),
            column(
                "Message",
                "string",
                ".status.message",
                "Why the run is in its phase",
            ),
        ]
    })
}

/// The structural `openAPIV3Schema` of a kind (see the module docs).
pub fn structural_schema(kind: &str) -> JSONSchemaProps {
    let defs = definitions();
    let mut transform = Transform {
        defs,
        stack: vec![kind.to_owned()],
    };
    let root = defs.get(kind).and_then(Value::as_object);
    let mut properties = BTreeMap::new();
    for (name, schema) in root
        .and_then(|r| r.get("properties"))
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let prop = match name.as_str() {
            // At the root, the API server allows only a plain object here.
            "metadata" => typed("object"),
            "status" => preserved_object(),
            "outputs" if kind == "WorkflowTaskResult" => preserved_object(),
            _ => transform.convert(schema),
        };
        properties.insert(name.clone(), prop);
    }
    JSONSchemaProps {
        type_: Some("object".to_owned()),
        properties: Some(properties),
        x_kubernetes_preserve_unknown_fields: Some(true),
        ..JSONSchemaProps::default()
    }
}

fn typed(type_: &str) -> JSONSchemaProps {
    JSONSchemaProps {
        type_: Some(type_.to_owned()),
        ..JSONSchemaProps::default()
    }
}

fn preserved_object() -> JSONSchemaProps {
    JSONSchemaProps {
        x_kubernetes_preserve_unknown_fields: Some(true),
        ..typed("object")
    }
}

fn preserved_untyped() -> JSONSchemaProps {
    JSONSchemaProps {
        x_kubernetes_preserve_unknown_fields: Some(true),
        ..JSONSchemaProps::default()
    }
}

fn int_or_string() -> JSONSchemaProps {
    JSONSchemaProps {
        x_kubernetes_int_or_string: Some(true),
        ..JSONSchemaProps::default()
    }
}

fn nullable(mut schema: JSONSchemaProps) -> JSONSchemaProps {
    schema.nullable = Some(true);
    schema
}

fn flag(object: &Map<String, Value>, key: &str) -> bool {
    object.get(key).and_then(Value::as_bool) == Some(true)
}

/// Inlines `$ref`s and rewrites a strict schema into a structural one.
struct Transform<'a> {
    defs: &'a Map<String, Value>,
    /// The definitions being inlined, to cut recursion (a step's `inline`
    /// template holds steps again).
    stack: Vec<String>,
}

impl Transform<'_> {
    fn convert(&mut self, schema: &Value) -> JSONSchemaProps {
        let Some(object) = schema.as_object() else {
            // `true`: any value (a `withItems` item).
            return preserved_untyped();
        };
        if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
            return self.convert_ref(reference, flag(object, RAW_MARKER));
        }
        if flag(object, RAW_MARKER) {
            return self.raw(object);
        }
        if flag(object, "x-kubernetes-int-or-string") {
            return int_or_string();
        }
        if flag(object, "x-kubernetes-preserve-unknown-fields") && !object.contains_key("type") {
            return preserved_untyped();
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = object.get(key) {
                return self.convert_branches(branches);
            }
        }
        let (type_, is_nullable) = match object.get("type") {
            Some(Value::String(name)) => (Some(name.as_str()), false),
            Some(Value::Array(names)) => {
                let names: Vec<&str> = names.iter().filter_map(Value::as_str).collect();
                let non_null: Vec<&str> = names.iter().copied().filter(|n| *n != "null").collect();
                match non_null.as_slice() {
                    [only] => (Some(*only), names.len() > 1),
                    _ => (None, false),
                }
            }
            _ => (None, false),
        };
        let converted = match type_ {
            Some("object") => self.object(object),
            Some("array") => JSONSchemaProps {
                items: Some(JSONSchemaPropsOrArray::Schema(Box::new(
                    object
                        .get("items")
                        .map_or_else(preserved_untyped, |items| self.convert(items)),
                ))),
                ..typed("array")
            },
            Some(scalar @ ("string" | "integer" | "number" | "boolean")) => typed(scalar),
            // No type, or several: take any value.
            _ => preserved_untyped(),
        };
        if is_nullable {
            nullable(converted)
        } else {
            converted
        }
    }

    fn convert_ref(&mut self, reference: &str, raw: bool) -> JSONSchemaProps {
        let Some(name) = ref_target(reference) else {
            return preserved_untyped();
        };
        let Some(def) = self.defs.get(&name) else {
            return preserved_untyped();
        };
        if let Some(object) = def.as_object()
            && (raw || flag(object, RAW_MARKER))
        {
            return self.raw(object);
        }
        if self.stack.contains(&name) || UNTYPED_DEFINITIONS.contains(&name.as_str()) {
            return preserved_object();
        }
        self.stack.push(name);
        let converted = self.convert(def);
        self.stack.pop();
        converted
    }

    /// `anyOf`/`oneOf`: an optional value (`[X, null]`) is X, nullable; the
    /// API server allows no types inside branches, so anything else takes
    /// any value (Sluice's own check is stricter).
    fn convert_branches(&mut self, branches: &[Value]) -> JSONSchemaProps {
        let is_null = |b: &Value| b.get("type").and_then(Value::as_str) == Some("null");
        let non_null: Vec<&Value> = branches.iter().filter(|b| !is_null(b)).collect();
        match non_null.as_slice() {
            [only] => {
                let converted = self.convert(only);
                if non_null.len() < branches.len() {
                    nullable(converted)
                } else {
                    converted
                }
            }
            _ => preserved_untyped(),
        }
    }

    fn object(&mut self, object: &Map<String, Value>) -> JSONSchemaProps {
        match object.get("additionalProperties") {
            Some(values @ Value::Object(_)) => JSONSchemaProps {
                additional_properties: Some(JSONSchemaPropsOrBool::Schema(Box::new(
                    self.convert(values),
                ))),
                ..typed("object")
            },
            _ => {
                let properties: BTreeMap<String, JSONSchemaProps> = object
                    .get("properties")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .map(|(name, prop)| (name.clone(), self.convert(prop)))
                    .collect();
                JSONSchemaProps {
                    properties: (!properties.is_empty()).then_some(properties),
                    ..preserved_object()
                }
            }
        }
    }

    /// A kept-as-written subtree: its outer shape only.
    fn raw(&self, object: &Map<String, Value>) -> JSONSchemaProps {
        let mut object = object;
        // Follow a `$ref` to the definition that says what the value is.
        for _ in 0..8 {
            let target = object
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(ref_target)
                .and_then(|name| self.defs.get(&name))
                .and_then(Value::as_object);
            match target {
                Some(next) => object = next,
                None => break,
            }
        }
        if flag(object, "x-kubernetes-int-or-string") {
            return int_or_string();
        }
        match object.get("type").and_then(Value::as_str) {
            Some("array") => JSONSchemaProps {
                items: Some(JSONSchemaPropsOrArray::Schema(
                    Box::new(preserved_untyped()),
                )),
                ..typed("array")
            },
            Some(scalar @ ("string" | "integer" | "number" | "boolean")) => typed(scalar),
            _ => preserved_object(),
        }
    }
}

/// The API resource of one of our kinds, for kube's `Api<DynamicObject>`:
/// the CRD's plural, else the kind in lower case with an `s`.
#[cfg(feature = "kube")]
pub fn api_resource(kind: &str) -> kube_core::ApiResource {
    let plural = CRD_KINDS.iter().find(|info| info.kind == kind).map_or_else(
        || format!("{}s", kind.to_lowercase()),
        |info| info.plural.to_owned(),
    );
    let gvk = kube_core::GroupVersionKind::gvk(crate::types::GROUP, crate::types::VERSION, kind);
    kube_core::ApiResource::from_gvk_with_plural(&gvk, &plural)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::KINDS;

    fn property<'a>(schema: &'a JSONSchemaProps, name: &str) -> &'a JSONSchemaProps {
        schema
            .properties
            .as_ref()
            .and_then(|p| p.get(name))
            .unwrap_or_else(|| panic!("no property {name}"))
    }

    fn items(schema: &JSONSchemaProps) -> &JSONSchemaProps {
        match &schema.items {
            Some(JSONSchemaPropsOrArray::Schema(items)) => items,
            other => panic!("no items schema: {other:?}"),
        }
    }

    /// Asserts the rules of a structural schema at every node, returning
    /// the number of nodes.
    fn assert_structural(schema: &JSONSchemaProps, path: &str) -> usize {
        let untyped_ok = schema.x_kubernetes_int_or_string == Some(true)
            || schema.x_kubernetes_preserve_unknown_fields == Some(true);
        assert!(
            schema.type_.is_some() || untyped_ok,
            "{path}: a node without a type"
        );
        if schema.x_kubernetes_int_or_string == Some(true) {
            assert_eq!(schema.type_, None, "{path}: int-or-string with a type");
        }
        assert_ne!(schema.type_.as_deref(), Some("null"), "{path}");
        assert!(schema.ref_path.is_none(), "{path}: a $ref");
        assert!(schema.definitions.is_none(), "{path}: definitions");
        assert!(schema.description.is_none(), "{path}: a description");
        assert!(schema.default.is_none(), "{path}: a default");
        assert!(
            schema.any_of.is_none() && schema.one_of.is_none() && schema.all_of.is_none(),
            "{path}: branches"
        );
        assert!(
            !(schema.properties.is_some() && schema.additional_properties.is_some()),
            "{path}: properties and additionalProperties"
        );
        let mut count = 1;
        for (name, prop) in schema.properties.iter().flatten() {
            count += assert_structural(prop, &format!("{path}.{name}"));
        }
        match &schema.additional_properties {
            Some(JSONSchemaPropsOrBool::Schema(values)) => {
                count += assert_structural(values, &format!("{path}{{}}"));
            }
            Some(JSONSchemaPropsOrBool::Bool(_)) => panic!("{path}: additionalProperties bool"),
            None => {}
        }
        if schema.type_.as_deref() == Some("array") {
            count += assert_structural(items(schema), &format!("{path}[]"));
        } else {
            assert!(schema.items.is_none(), "{path}: items on a non-array");
        }
        count
    }

    #[test]
    fn one_crd_per_kind() {
        let crds = all_crds();
        let kinds: Vec<&str> = crds.iter().map(|c| c.spec.names.kind.as_str()).collect();
        assert_eq!(kinds, KINDS);
        for crd in &crds {
            let name = crd.metadata.name.as_deref().unwrap_or_default();
            assert_eq!(
                name,
                format!("{}.argoproj.io", crd.spec.names.plural),
                "{name}"
            );
            let [version] = crd.spec.versions.as_slice() else {
                panic!("{name}: one version expected");
            };
            assert_eq!(
                (version.name.as_str(), version.served, version.storage),
                ("v1alpha1", true, true)
            );
            assert!(
                version.subresources.is_none(),
                "{name}: upstream has no status subresource"
            );
        }
        let cluster: Vec<&str> = crds
            .iter()
            .filter(|c| c.spec.scope == "Cluster")
            .map(|c| c.spec.names.plural.as_str())
            .collect();
        assert_eq!(cluster, ["clusterworkflowtemplates"]);
    }

    #[test]
    fn schemas_are_structural_and_small() {
        for crd in all_crds() {
            let name = crd.metadata.name.clone().unwrap_or_default();
            let schema = crd.spec.versions[0]
                .schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.as_ref())
                .expect("a schema");
            assert_eq!(schema.type_.as_deref(), Some("object"));
            let nodes = assert_structural(schema, &name);
            assert!(nodes > 4, "{name}: {nodes} nodes");
            assert_eq!(*property(schema, "metadata"), typed("object"), "{name}");
            let bytes = serde_json::to_vec(&crd).expect("serializes").len();
            assert!(bytes < MAX_CRD_BYTES, "{name}: {bytes} bytes");
        }
    }

    #[test]
    fn typed_down_to_templates_steps_and_tasks() {
        let schema = structural_schema("Workflow");
        let spec = property(&schema, "spec");
        let template = items(property(spec, "templates"));
        assert_eq!(template.x_kubernetes_preserve_unknown_fields, Some(true));
        assert_eq!(property(template, "name").type_.as_deref(), Some("string"));
        let step = items(items(property(template, "steps")));
        assert_eq!(property(step, "template").type_.as_deref(), Some("string"));
        let task = items(property(property(template, "dag"), "tasks"));
        assert_eq!(property(task, "depends").type_.as_deref(), Some("string"));
        assert_eq!(
            items(property(task, "dependencies")).type_.as_deref(),
            Some("string")
        );
        // An inline template is where the recursion stops.
        assert_eq!(*property(task, "inline"), nullable(preserved_object()));
        // Pod-shaped subtrees are kept as written.
        assert_eq!(
            *property(template, "container"),
            nullable(preserved_object())
        );
        assert_eq!(*property(template, "script"), nullable(preserved_object()));
        assert_eq!(*items(property(template, "volumes")), preserved_object());
        let artifact = items(property(property(template, "outputs"), "artifacts"));
        assert_eq!(property(artifact, "path").type_.as_deref(), Some("string"));
        assert_eq!(*property(artifact, "s3"), nullable(preserved_object()));
        // Kubernetes' int-or-string, Argo's AnyString and items.
        assert_eq!(
            *property(template, "activeDeadlineSeconds"),
            nullable(int_or_string())
        );
        let parameter = items(property(property(template, "inputs"), "parameters"));
        assert_eq!(*property(parameter, "value"), nullable(preserved_untyped()));
        assert_eq!(*items(property(step, "withItems")), preserved_untyped());
        // Maps keep their value type.
        let labels = property(property(template, "metadata"), "labels");
        assert_eq!(
            labels.additional_properties,
            Some(JSONSchemaPropsOrBool::Schema(Box::new(typed("string"))))
        );
        assert_eq!(*property(&schema, "status"), preserved_object());
        let result = structural_schema("WorkflowTaskResult");
        assert_eq!(*property(&result, "outputs"), preserved_object());
        assert_eq!(property(&result, "phase").type_.as_deref(), Some("string"));
    }

    #[test]
    fn yaml_names_the_command() {
        let crd = crd(&CRD_KINDS[0]);
        let yaml = to_yaml(&crd).expect("renders");
        assert!(
            yaml.starts_with("# Generated by `SLUICE_BLESS=1 cargo test"),
            "{yaml:.200}"
        );
        assert!(
            yaml.contains("\nkind: CustomResourceDefinition\n"),
            "{yaml:.400}"
        );
        assert_eq!(CRD_KINDS[0].file_name(), "workflows.argoproj.io.yaml");
    }
}
