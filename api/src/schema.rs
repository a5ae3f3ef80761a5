//! The full Argo + Kubernetes JSON Schema, generated from the types, and the
//! check that reports unknown fields and mistyped values against it.
//!
//! The schema is generated once per process. For speed, [`check_fields`]
//! does not walk the JSON Schema maps: at first use every definition is
//! compiled into a flat table of [`Shape`]s (allowed JSON types, sorted
//! property tables, item and map-value shapes), and documents are checked
//! against that table.

use std::collections::HashMap;
use std::sync::OnceLock;

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};

use crate::path::{FieldPath, Segment};
use crate::types::{self, KINDS};

/// Where the generated schema keeps its definitions: a `$ref` reads
/// `#/definitions/Template`.
pub const DEFINITIONS_PREFIX: &str = "#/definitions/";

/// The definition of Kubernetes' `Quantity`: written as a string or as any
/// number (`cpu: 0.5`), not only as an integer.
const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";

/// How many known fields an unknown-field message lists at most.
const LISTED_FIELDS: usize = 8;

/// One place where a document does not fit the schema of its kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldFinding {
    /// Where in the document (`spec.templates[0].contianer`).
    pub path: FieldPath,
    /// What is wrong (`unknown field; did you mean "container"?`).
    pub message: String,
}

/// Every definition of the schema, by name: the Argo types under their Rust
/// names (`Template`, `WorkflowStep`), the Kubernetes ones under their
/// OpenAPI names (`io.k8s.api.core.v1.Container`). Each kind's root schema is
/// the definition named like the kind (`Workflow`).
pub fn definitions() -> &'static Map<String, Value> {
    &schema().definitions
}

/// The name of the root definition of `kind`, if it is one of ours.
pub fn kind_definition(kind: &str) -> Option<&'static str> {
    KINDS.iter().copied().find(|k| *k == kind)
}

/// Checks `value`, a document of `kind`, against the schema of that kind.
///
/// Reports fields the schema does not know (with the closest known name when
/// one is close) and values of the wrong JSON type. Below a subtree marked
/// `x-kubernetes-preserve-unknown-fields` nothing is reported; `null` is
/// accepted everywhere, as the Kubernetes and Argo decoders read it as unset.
/// Returns nothing for kinds that are not ours.
pub fn check_fields(kind: &str, value: &Value) -> Vec<FieldFinding> {
    let schema = schema();
    let mut out = Vec::new();
    if let Some(root) = schema.compiled.root(kind) {
        let mut path = Vec::new();
        schema.compiled.check(root, value, &mut path, &mut out);
    }
    out
}

struct ApiSchema {
    definitions: Map<String, Value>,
    compiled: Compiled,
}

fn schema() -> &'static ApiSchema {
    static SCHEMA: OnceLock<ApiSchema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let definitions = generate();
        let compiled = Compiled::new(&definitions);
        ApiSchema {
            definitions,
            compiled,
        }
    })
}

fn generate() -> Map<String, Value> {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/definitions".into();
            s.meta_schema = None;
        })
        .into_generator();
    generator.subschema_for::<types::Workflow>();
    generator.subschema_for::<types::WorkflowTemplate>();
    generator.subschema_for::<types::ClusterWorkflowTemplate>();
    generator.subschema_for::<types::CronWorkflow>();
    generator.subschema_for::<types::WorkflowEventBinding>();
    generator.subschema_for::<types::WorkflowTaskResult>();
    generator.take_definitions(true)
}

/// The definition a `$ref` names, if it points into the definitions.
pub fn ref_target(reference: &str) -> Option<String> {
    reference
        .strip_prefix(DEFINITIONS_PREFIX)
        .map(|name| name.replace("~1", "/").replace("~0", "~"))
}

// ---------------------------------------------------------------------------
// JSON types as a bit set.

type Types = u8;
const NULL: Types = 1;
const BOOLEAN: Types = 1 << 1;
const INTEGER: Types = 1 << 2;
/// A number with a fractional part; `"type": "number"` is `INTEGER | FRACTION`.
const FRACTION: Types = 1 << 3;
const STRING: Types = 1 << 4;
const ARRAY: Types = 1 << 5;
const OBJECT: Types = 1 << 6;
const ANY: Types = NULL | BOOLEAN | INTEGER | FRACTION | STRING | ARRAY | OBJECT;

fn type_named(name: &str) -> Types {
    match name {
        "null" => NULL,
        "boolean" => BOOLEAN,
        "integer" => INTEGER,
        "number" => INTEGER | FRACTION,
        "string" => STRING,
        "array" => ARRAY,
        "object" => OBJECT,
        _ => ANY,
    }
}

fn type_of(value: &Value) -> Types {
    match value {
        Value::Null => NULL,
        Value::Bool(_) => BOOLEAN,
        // Kubernetes takes `2.0` for an integer, as Go's decoder does.
        Value::Number(n) if n.is_i64() || n.is_u64() => INTEGER,
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 => INTEGER,
            _ => FRACTION,
        },
        Value::String(_) => STRING,
        Value::Array(_) => ARRAY,
        Value::Object(_) => OBJECT,
    }
}

/// `a string`, `an integer or a string`: the types of `types`, for a message.
fn describe(types: Types) -> String {
    let mut names = Vec::new();
    if types & (INTEGER | FRACTION) == INTEGER | FRACTION {
        names.push("a number");
    } else if types & INTEGER != 0 {
        names.push("an integer");
    } else if types & FRACTION != 0 {
        names.push("a number with a fraction");
    }
    for (bit, name) in [
        (STRING, "a string"),
        (BOOLEAN, "a boolean"),
        (OBJECT, "an object"),
        (ARRAY, "an array"),
    ] {
        if types & bit != 0 {
            names.push(name);
        }
    }
    match names.split_last() {
        None => "no value".to_owned(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

fn describe_value(types: Types) -> &'static str {
    match types {
        NULL => "null",
        BOOLEAN => "a boolean",
        INTEGER => "an integer",
        FRACTION => "a number",
        STRING => "a string",
        ARRAY => "an array",
        _ => "an object",
    }
}

// ---------------------------------------------------------------------------
// The compiled schema.

type ShapeId = u32;

/// A known property: its name and shape.
type Property = (Box<str>, ShapeId);

/// One schema node, compiled.
#[derive(Debug)]
enum Shape {
    /// A definition whose body is another definition (or one being built).
    Alias(ShapeId),
    Node(Node),
}

#[derive(Debug)]
struct Node {
    /// The JSON types the value may have.
    types: Types,
    /// Nothing below this node is checked (`x-kubernetes-preserve-unknown-fields`).
    open: bool,
    /// Known properties, sorted by [`by_length`]. An object schema with neither
    /// properties nor `additionalProperties` takes any fields.
    properties: Option<Box<[Property]>>,
    /// The shape of map values (`additionalProperties`).
    values: Option<ShapeId>,
    /// The shape of array items.
    items: Option<ShapeId>,
    /// `anyOf`/`oneOf` branches; when set, the value must fit one of them.
    branches: Vec<ShapeId>,
}

/// A node that takes any value.
static ANY_NODE: Node = Node::any();

impl Node {
    const fn any() -> Self {
        Self {
            types: ANY,
            open: true,
            properties: None,
            values: None,
            items: None,
            branches: Vec::new(),
        }
    }
}

#[derive(Debug)]
struct Compiled {
    shapes: Vec<Shape>,
    /// The root shape of each of [`KINDS`], in that order.
    roots: Vec<Option<ShapeId>>,
}

/// The shape every unknown `$ref` and `true` schema compiles to.
const ANY_SHAPE: ShapeId = 0;

struct Compiler<'a> {
    /// The id of each definition's shape.
    ids: HashMap<&'a str, ShapeId>,
    shapes: Vec<Shape>,
}

impl Compiler<'_> {
    fn push(&mut self, shape: Shape) -> ShapeId {
        let id = ShapeId::try_from(self.shapes.len()).unwrap_or(ShapeId::MAX);
        self.shapes.push(shape);
        id
    }

    /// The shape of the definition `name` (any value for an unknown name).
    fn definition(&self, name: &str) -> ShapeId {
        self.ids.get(name).copied().unwrap_or(ANY_SHAPE)
    }

    fn compile(&mut self, schema: &Value) -> ShapeId {
        let Some(object) = schema.as_object() else {
            return match schema {
                Value::Bool(false) => self.push(Shape::Node(Node {
                    types: 0,
                    ..Node::any()
                })),
                _ => ANY_SHAPE,
            };
        };
        if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
            return match ref_target(reference) {
                Some(name) => self.definition(&name),
                None => ANY_SHAPE,
            };
        }
        let node = self.node(object, ANY);
        self.push(Shape::Node(node))
    }

    fn node(&mut self, object: &Map<String, Value>, numbers: Types) -> Node {
        let flag = |key: &str| object.get(key).and_then(Value::as_bool) == Some(true);
        let types = match object.get("type") {
            Some(Value::String(name)) => type_named(name),
            Some(Value::Array(names)) => names
                .iter()
                .filter_map(Value::as_str)
                .map(type_named)
                .fold(0, |acc, t| acc | t),
            _ => ANY,
        };
        if flag("x-kubernetes-int-or-string") {
            return Node {
                types: (INTEGER | STRING | numbers) & ANY,
                ..Node::any()
            };
        }
        let mut branches = Vec::new();
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(list)) = object.get(key) {
                branches.extend(list.iter().map(|branch| self.compile(branch)));
            }
        }
        // `allOf` of one schema is how some generators attach siblings to a
        // `$ref`; the value must fit that schema.
        if let Some(Value::Array(list)) = object.get("allOf")
            && let [only] = list.as_slice()
        {
            branches.push(self.compile(only));
        }
        let properties = match object.get("properties") {
            Some(Value::Object(props)) => {
                let mut table: Vec<Property> = props
                    .iter()
                    .map(|(name, prop)| (name.as_str().into(), self.compile(prop)))
                    .collect();
                table.sort_by(|a, b| by_length(&a.0).cmp(&by_length(&b.0)));
                Some(table.into_boxed_slice())
            }
            _ => None,
        };
        let (values, closed) = match object.get("additionalProperties") {
            Some(Value::Bool(false)) => (None, true),
            Some(Value::Bool(true)) | None => (None, false),
            Some(schema) => (Some(self.compile(schema)), false),
        };
        let items = match object.get("items") {
            Some(schema @ (Value::Object(_) | Value::Bool(_))) => Some(self.compile(schema)),
            _ => None,
        };
        let open = flag("x-kubernetes-preserve-unknown-fields");
        Node {
            types,
            open,
            properties: properties.or_else(|| closed.then(|| Box::new([]) as Box<[_]>)),
            values,
            items,
            branches,
        }
    }
}

impl Compiled {
    fn new(definitions: &Map<String, Value>) -> Self {
        let mut compiler = Compiler {
            ids: HashMap::with_capacity(definitions.len()),
            shapes: Vec::with_capacity(definitions.len() * 4),
        };
        compiler.push(Shape::Node(Node::any()));
        // Reserve one id per definition first, so that `$ref`s (recursive
        // ones included) resolve while the bodies are compiled.
        for name in definitions.keys() {
            let id = compiler.push(Shape::Alias(ANY_SHAPE));
            compiler.ids.insert(name, id);
        }
        for (index, (name, body)) in definitions.iter().enumerate() {
            let numbers = if name == QUANTITY { FRACTION } else { 0 };
            let shape = match body {
                Value::Object(object) => match object.get("$ref").and_then(Value::as_str) {
                    Some(reference) => Shape::Alias(
                        ref_target(reference).map_or(ANY_SHAPE, |n| compiler.definition(&n)),
                    ),
                    None => Shape::Node(compiler.node(object, numbers)),
                },
                other => Shape::Alias(compiler.compile(other)),
            };
            compiler.shapes[index + 1] = shape;
        }
        let roots = KINDS
            .iter()
            .map(|kind| {
                definitions
                    .contains_key(*kind)
                    .then(|| compiler.definition(kind))
            })
            .collect();
        Self {
            shapes: compiler.shapes,
            roots,
        }
    }

    fn root(&self, kind: &str) -> Option<ShapeId> {
        let index = KINDS.iter().position(|k| *k == kind)?;
        self.roots.get(index).copied().flatten()
    }

    fn node(&self, mut id: ShapeId) -> &Node {
        // Alias chains are short; the bound guards against a cycle of aliases.
        for _ in 0..16 {
            match self.shapes.get(id as usize) {
                Some(Shape::Alias(target)) => id = *target,
                Some(Shape::Node(node)) => return node,
                None => break,
            }
        }
        &ANY_NODE
    }

    fn check<'v>(
        &self,
        id: ShapeId,
        value: &'v Value,
        path: &mut Vec<Step<'v>>,
        out: &mut Vec<FieldFinding>,
    ) {
        if value.is_null() {
            return;
        }
        let node = self.node(id);
        let found = type_of(value);
        if node.types & found == 0 {
            out.push(finding(
                path,
                format!(
                    "expected {}, found {}",
                    describe(node.types),
                    describe_value(found)
                ),
            ));
            return;
        }
        if !node.branches.is_empty() {
            self.check_branches(node, found, value, path, out);
            return;
        }
        if node.open {
            return;
        }
        match value {
            Value::Object(map) if node.properties.is_some() || node.values.is_some() => {
                for (key, item) in map {
                    let shape = node
                        .properties
                        .as_deref()
                        .and_then(|props| {
                            props
                                .binary_search_by(|(name, _)| by_length(name).cmp(&by_length(key)))
                                .ok()
                                .map(|i| props[i].1)
                        })
                        .or(node.values);
                    path.push(Step::Key(key));
                    match shape {
                        Some(shape) => self.check(shape, item, path, out),
                        None => {
                            let known = node.properties.as_deref().unwrap_or_default();
                            out.push(finding(path, unknown_field(key, known)));
                        }
                    }
                    path.pop();
                }
            }
            Value::Array(list) => {
                if let Some(items) = node.items {
                    for (index, item) in list.iter().enumerate() {
                        path.push(Step::Index(index));
                        self.check(items, item, path, out);
                        path.pop();
                    }
                }
            }
            _ => {}
        }
    }

    /// `anyOf`/`oneOf`: the value must fit one branch. When only one branch
    /// takes the value's JSON type, that branch's findings are reported (so a
    /// misspelled field inside an optional object is named, not "no branch
    /// matched").
    fn check_branches<'v>(
        &self,
        node: &Node,
        found: Types,
        value: &'v Value,
        path: &mut Vec<Step<'v>>,
        out: &mut Vec<FieldFinding>,
    ) {
        let mut fitting = node
            .branches
            .iter()
            .copied()
            .filter(|branch| self.node(*branch).types & found != 0);
        let Some(first) = fitting.next() else {
            let expected = node
                .branches
                .iter()
                .fold(0, |acc, branch| acc | self.node(*branch).types);
            out.push(finding(
                path,
                format!(
                    "expected {}, found {}",
                    describe(expected),
                    describe_value(found)
                ),
            ));
            return;
        };
        let mut first_findings = Vec::new();
        self.check(first, value, path, &mut first_findings);
        if first_findings.is_empty() {
            return;
        }
        for other in fitting {
            let mut findings = Vec::new();
            self.check(other, value, path, &mut findings);
            if findings.is_empty() {
                return;
            }
        }
        out.append(&mut first_findings);
    }
}

/// One step of the path being walked, borrowed from the document; turned
/// into a [`FieldPath`] only when there is something to report.
#[derive(Clone, Copy, Debug)]
enum Step<'v> {
    Key(&'v str),
    Index(usize),
}

fn finding(path: &[Step<'_>], message: String) -> FieldFinding {
    let segments: Vec<Segment> = path
        .iter()
        .map(|step| match step {
            Step::Key(key) => Segment::Key((*key).to_owned().into()),
            Step::Index(index) => Segment::Index(*index),
        })
        .collect();
    FieldFinding {
        path: FieldPath::from(segments),
        message,
    }
}

/// The order of a node's property table: by length, then by bytes, so that
/// a lookup compares the bytes of names of the key's length only (most
/// comparisons end at the length).
fn by_length(name: &str) -> (usize, &[u8]) {
    (name.len(), name.as_bytes())
}

/// `unknown field; did you mean "container"?` when a known name is close,
/// else the known names (the first few).
fn unknown_field(key: &str, known: &[Property]) -> String {
    let mut known: Vec<&str> = known.iter().map(|(name, _)| name.as_ref()).collect();
    known.sort_unstable();
    if let Some(name) = closest(key, known.iter().copied()) {
        return format!("unknown field; did you mean {name:?}?");
    }
    if known.is_empty() {
        return "unknown field; no fields are allowed here".to_owned();
    }
    let names: Vec<&str> = known.iter().take(LISTED_FIELDS).copied().collect();
    let mut message = format!("unknown field; known fields here: {}", names.join(", "));
    if known.len() > LISTED_FIELDS {
        message.push_str(&format!(", ... ({} more)", known.len() - LISTED_FIELDS));
    }
    message
}

/// The candidate closest to `key`, ignoring case, when it is close enough to
/// be a likely typo: at most one edit in four characters (one to three).
pub(crate) fn closest<'a>(key: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let lower = key.to_lowercase();
    let limit = (key.chars().count() / 4).clamp(1, 3);
    candidates
        .map(|name| {
            (
                strsim::damerau_levenshtein(&lower, &name.to_lowercase()),
                name,
            )
        })
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn findings(kind: &str, value: Value) -> Vec<(String, String)> {
        check_fields(kind, &value)
            .into_iter()
            .map(|f| (f.path.to_string(), f.message))
            .collect()
    }

    fn workflow(template: Value) -> Value {
        json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": { "generateName": "hello-" },
            "spec": { "entrypoint": "main", "templates": [template] }
        })
    }

    #[test]
    fn every_kind_has_a_root_definition() {
        for kind in KINDS {
            assert_eq!(kind_definition(kind), Some(kind));
            assert!(definitions().contains_key(kind), "{kind}");
            assert!(schema().compiled.root(kind).is_some(), "{kind}");
        }
        assert_eq!(kind_definition("ConfigMap"), None);
        assert!(definitions().contains_key("io.k8s.api.core.v1.Container"));
    }

    #[test]
    fn misspelled_template_field_suggests_the_right_one() {
        let doc = workflow(json!({ "name": "main", "contianer": { "image": "alpine" } }));
        assert_eq!(
            findings("Workflow", doc),
            [(
                "spec.templates[0].contianer".to_owned(),
                r#"unknown field; did you mean "container"?"#.to_owned()
            )]
        );
    }

    #[test]
    fn unknown_field_inside_a_kubernetes_container() {
        let doc = workflow(json!({
            "name": "main",
            "container": { "image": "alpine", "imagePullPolicyy": "Always" }
        }));
        assert_eq!(
            findings("Workflow", doc),
            [(
                "spec.templates[0].container.imagePullPolicyy".to_owned(),
                r#"unknown field; did you mean "imagePullPolicy"?"#.to_owned()
            )]
        );
    }

    #[test]
    fn unknown_field_far_from_every_name_lists_some() {
        let doc = json!({
            "kind": "WorkflowEventBinding",
            "spec": { "event": { "selector": "true" }, "zzzzzz": 1 }
        });
        assert_eq!(
            findings("WorkflowEventBinding", doc),
            [(
                "spec.zzzzzz".to_owned(),
                "unknown field; known fields here: event, submit".to_owned()
            )]
        );
        let doc = workflow(json!({ "name": "main", "xxxxxxxxxxxx": 1 }));
        let found = findings("Workflow", doc);
        assert_eq!(found.len(), 1);
        assert!(
            found[0]
                .1
                .starts_with("unknown field; known fields here: activeDeadlineSeconds, affinity,"),
            "{found:?}"
        );
        assert!(found[0].1.ends_with(" more)"), "{found:?}");
    }

    #[test]
    fn quantities_and_int_or_strings_take_both_shapes() {
        let doc = workflow(json!({
            "name": "main",
            "activeDeadlineSeconds": "{{inputs.parameters.deadline}}",
            "retryStrategy": { "limit": 3 },
            "container": {
                "image": "alpine",
                "resources": { "limits": { "memory": "1Gi", "cpu": 0.5 }, "requests": { "cpu": 1 } },
                "ports": [{ "containerPort": 8080 }]
            }
        }));
        assert_eq!(findings("Workflow", doc), []);
    }

    #[test]
    fn wrong_json_types_are_named() {
        let doc = json!({
            "kind": "Workflow",
            "metadata": { "name": "x", "labels": { "team": "a", "tier": 3 } },
            "spec": {
                "parallelism": "two",
                "templates": [{
                    "name": "main",
                    "retryStrategy": { "limit": { "a": 1 } },
                    "container": { "image": "alpine", "args": "echo hi", "tty": "yes" },
                    "steps": [[{ "name": "a", "template": ["x"] }]]
                }],
                "arguments": { "parameters": [{ "name": "p", "value": 5 }, { "name": "q", "value": [] }] }
            }
        });
        let mut got = findings("Workflow", doc);
        got.sort();
        let want = [
            (
                "metadata.labels.tier",
                "expected a string, found an integer",
            ),
            (
                "spec.arguments.parameters[1].value",
                "expected a number, a string or a boolean, found an array",
            ),
            ("spec.parallelism", "expected an integer, found a string"),
            (
                "spec.templates[0].container.args",
                "expected an array, found a string",
            ),
            (
                "spec.templates[0].container.tty",
                "expected a boolean, found a string",
            ),
            (
                "spec.templates[0].retryStrategy.limit",
                "expected an integer or a string, found an object",
            ),
            (
                "spec.templates[0].steps[0][0].template",
                "expected a string, found an array",
            ),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(p, m)| ((*p).to_owned(), (*m).to_owned()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn preserved_and_free_subtrees_take_anything() {
        let doc = workflow(json!({
            "name": "main",
            "plugin": { "hello": { "anything": [1, { "goes": true }] } },
            "steps": [[{ "name": "a", "template": "b", "withItems": [{ "x": 1 }, "y", 3] }]],
            "inputs": { "parameters": [{ "name": "p", "enum": ["a", 1, true] }] }
        }));
        assert_eq!(findings("Workflow", doc), []);
    }

    #[test]
    fn nulls_are_unset() {
        let doc =
            workflow(json!({ "name": "main", "container": null, "script": { "image": null } }));
        assert_eq!(findings("Workflow", doc), []);
    }

    #[test]
    fn status_and_task_results_are_checked_too() {
        let doc = json!({
            "kind": "WorkflowTaskResult",
            "metadata": { "name": "x" },
            "outputs": { "parameters": [{ "name": "p", "valu": "1" }] },
            "phase": "Succeeded"
        });
        assert_eq!(
            findings("WorkflowTaskResult", doc),
            [(
                "outputs.parameters[0].valu".to_owned(),
                r#"unknown field; did you mean "value"?"#.to_owned()
            )]
        );
        let doc = json!({ "kind": "CronWorkflow", "spec": { "schedules": ["* * * * *"] }, "status": { "phse": "Active" } });
        assert_eq!(
            findings("CronWorkflow", doc),
            [(
                "status.phse".to_owned(),
                r#"unknown field; did you mean "phase"?"#.to_owned()
            )]
        );
    }

    #[test]
    fn unknown_kinds_have_no_findings() {
        assert_eq!(findings("ConfigMap", json!({ "data": { "a": 1 } })), []);
    }

    #[test]
    fn closest_is_case_insensitive_and_bounded() {
        let names = ["container", "script", "name", "imagePullPolicy"];
        assert_eq!(closest("Container", names.into_iter()), Some("container"));
        assert_eq!(closest("scrpit", names.into_iter()), Some("script"));
        assert_eq!(closest("nmae", names.into_iter()), Some("name"));
        assert_eq!(closest("image", names.into_iter()), None);
        assert_eq!(closest("resource", names.into_iter()), None);
    }
}
