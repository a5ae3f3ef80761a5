//! Kubernetes strategic merge patch over JSON values, with the merge keys
//! Kubernetes and Argo declare for the objects Sluice merges.
//!
//! One merge serves every caller, so a pod built by the controller and a pod
//! mutated by the webhook come out the same:
//! - [`merge_pod_spec`] applies a `podSpecPatch` (workflow-level, then
//!   template-level) to a pod spec;
//! - [`merge_workflow_defaults`] lays a workflow over the configuration's
//!   `workflowDefaults`, as Argo's controller does;
//! - [`merge_template_defaults`] lays a template over `templateDefaults`;
//! - [`merge_container_defaults`] lays a container over the configuration's
//!   `mainContainer`.
//!
//! # Rules
//!
//! Objects merge key by key and `null` in the patch deletes the key. Lists
//! whose field declares a merge key (a pod's `containers` by `name`, a
//! container's `volumeMounts` by `mountPath`, ...) merge element by element;
//! every other list is replaced by the patch's. The merge keys come from a
//! table keyed by what kind of object holds the field ([`Schema`]), copied
//! from the `patchMergeKey` tags of Kubernetes' `core/v1` and Argo's
//! `v1alpha1` types. Note that the two disagree on `tolerations`: a pod spec
//! replaces them, while Argo merges a workflow's or template's by `key`.
//!
//! Directives:
//! - `$patch: replace` in an object replaces the object by the patch's;
//!   `$patch: delete` empties it (Kubernetes keeps the key, holding `{}`);
//! - a list element `{$patch: replace}` replaces the whole list by the other
//!   elements of the patch; `{name: x, $patch: delete}` deletes the element
//!   whose merge key is `x`;
//! - `$retainKeys: [...]` drops the keys of the object not listed;
//! - `$deleteFromPrimitiveList/<field>: [...]` removes those scalars from the
//!   list `<field>`;
//! - `$setElementOrder/<field>` is ignored: without it Kubernetes orders a
//!   merged list as described below, and so does this module.
//!
//! Order of a merged list, as Kubernetes computes it: the elements the patch
//! names come in the patch's order; the elements only the document has keep
//! their order and are placed before the first patch element that came
//! after them in the document. An element new to the document therefore
//! goes before the document's remaining elements (a patch that only adds a
//! container puts it first), and a patch that names existing elements keeps
//! them where they were.
//!
//! A patch value with no counterpart in the document is copied, with its
//! `null`s dropped and its directives applied as if merged into an empty
//! value; a keyed list the document lacks is copied element by element
//! (neither keys nor uniqueness required). Kubernetes copies such a value
//! verbatim and leaves directive keys and nulls to the typed decoder that
//! always follows (in Argo too), which drops them: the result is the same,
//! except that an element marked `$patch: delete` in a list the document
//! lacks is dropped here, where Kubernetes would keep it without the mark.
//!
//! Where Kubernetes would silently replace an object or list by a value of
//! another kind (or a scalar by an object or list), which the typed decoder
//! then rejects, this module returns [`MergeError::TypeMismatch`] naming the
//! path.

use std::fmt;

use serde_json::{Map, Value};

use crate::path::FieldPath;

mod schema;

pub use schema::Schema;
use schema::{Entries, Field};

/// Which of the two documents an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The document being patched (the pod spec, the defaults).
    Base,
    /// The patch (the `podSpecPatch`, the workflow over its defaults).
    Patch,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Base => "the document being patched",
            Self::Patch => "the patch",
        })
    }
}

/// Why two documents could not be merged. Paths are inside the documents
/// (`containers[0].resources`); list indexes are the patch's unless the error
/// is about the document being patched.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// A value of another kind than the document has, or than the field
    /// takes (a string where a list of containers belongs).
    #[error("{path}: expected {expected}, found {found}")]
    TypeMismatch {
        path: FieldPath,
        expected: &'static str,
        found: &'static str,
    },
    /// An element of a list merged by key lacks the key.
    #[error(
        "{path}: no `{key}` in {side}; elements of this list are merged by `{key}`, so each needs one"
    )]
    MissingMergeKey {
        path: FieldPath,
        key: &'static str,
        side: Side,
    },
    /// A `$patch` other than `replace` or `delete`.
    #[error(
        "{path}: unknown directive `$patch: {directive}`; use `$patch: replace` or `$patch: delete`"
    )]
    UnknownDirective { path: FieldPath, directive: String },
    /// A malformed `$retainKeys`, or a patch setting a key it does not retain.
    #[error("{path}: {message}")]
    RetainKeys { path: FieldPath, message: String },
    /// A `podSpecPatch` that is neither JSON nor YAML.
    #[error("podSpecPatch is not valid {format}: {message}")]
    Parse {
        format: &'static str,
        message: String,
        line: Option<usize>,
        column: Option<usize>,
    },
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn is_directive_key(key: &str) -> bool {
    key == "$patch"
        || key == "$retainKeys"
        || key.starts_with("$setElementOrder/")
        || key.starts_with("$deleteFromPrimitiveList/")
}

/// A value with its directives and `null` members removed, at every depth:
/// what a typed decoder keeps of a patch value that has no counterpart.
fn strip(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, v)| !v.is_null() && !is_directive_key(k))
                .map(|(k, v)| (k.clone(), strip(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip).collect()),
        other => other.clone(),
    }
}

/// Merge-key values compare as Go compares them after `encoding/json`: every
/// number is a float64, so `80` matches `80.0`.
fn same_key(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Directive {
    Replace,
    Delete,
}

fn directive(map: &Map<String, Value>, path: &FieldPath) -> Result<Option<Directive>, MergeError> {
    match map.get("$patch") {
        None => Ok(None),
        Some(Value::String(s)) if s == "replace" => Ok(Some(Directive::Replace)),
        Some(Value::String(s)) if s == "delete" => Ok(Some(Directive::Delete)),
        Some(other) => Err(MergeError::UnknownDirective {
            path: path.key("$patch"),
            directive: match other {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            },
        }),
    }
}

/// Strategic-merges `patch` into `base`, both objects of the kind `schema`.
///
/// This is the one merge every caller uses; the functions below only choose
/// the schema and prepare the two documents as Argo does.
pub fn strategic_merge(base: &Value, patch: &Value, schema: Schema) -> Result<Value, MergeError> {
    let root = FieldPath::root();
    let base = match base {
        Value::Object(map) => Some(map),
        Value::Null => None,
        other => {
            return Err(MergeError::TypeMismatch {
                path: root,
                expected: "an object",
                found: kind(other),
            });
        }
    };
    let Value::Object(patch) = patch else {
        return Err(MergeError::TypeMismatch {
            path: root,
            expected: "an object",
            found: kind(patch),
        });
    };
    merge_object(base, patch, Entries::Schema(schema), &root).map(Value::Object)
}

fn merge_object(
    base: Option<&Map<String, Value>>,
    patch: &Map<String, Value>,
    entries: Entries,
    path: &FieldPath,
) -> Result<Map<String, Value>, MergeError> {
    let mut out = match directive(patch, path)? {
        // Kubernetes returns the patch as it is; merging it into nothing
        // applies the directives and drops the nulls inside it instead.
        Some(Directive::Replace) => Map::new(),
        Some(Directive::Delete) => return Ok(Map::new()),
        None => base.cloned().unwrap_or_default(),
    };
    if let Some(retain) = patch.get("$retainKeys") {
        retain_keys(&mut out, patch, retain, path)?;
    }
    let mut deletions = Vec::new();
    for (key, value) in patch {
        if let Some(list) = key.strip_prefix("$deleteFromPrimitiveList/") {
            deletions.push((list, value));
            continue;
        }
        if is_directive_key(key) {
            continue;
        }
        if value.is_null() {
            out.shift_remove(key);
            continue;
        }
        let merged = merge_field(
            out.get(key),
            value,
            entries.field(key),
            &path.key(key.to_owned()),
        )?;
        out.insert(key.clone(), merged);
    }
    for (list, values) in deletions {
        delete_from_list(&mut out, list, values, &path.key(list.to_owned()))?;
    }
    Ok(out)
}

/// Merges one field's patch value into the document's (absent or `null`
/// when `base` is `None`).
fn merge_field(
    base: Option<&Value>,
    patch: &Value,
    field: Field,
    path: &FieldPath,
) -> Result<Value, MergeError> {
    let mismatch = |expected: &'static str, found: &Value| MergeError::TypeMismatch {
        path: path.clone(),
        expected,
        found: kind(found),
    };
    let base = base.filter(|b| !b.is_null());
    match field {
        Field::Whole => return merge_field(None, patch, Field::Plain(Schema::Opaque), path),
        Field::ByKey { .. } | Field::ScalarSet if !patch.is_array() => {
            return Err(mismatch("a list", patch));
        }
        Field::WholeEntries | Field::Plain(_)
            if !patch.is_object() && field_wants_object(field) =>
        {
            return Err(mismatch("an object", patch));
        }
        _ => {}
    }
    match (base, patch) {
        (None, Value::Object(p)) => {
            let entries = entries_of(field);
            merge_object(None, p, entries, path).map(Value::Object)
        }
        (Some(Value::Object(b)), Value::Object(p)) => {
            merge_object(Some(b), p, entries_of(field), path).map(Value::Object)
        }
        (Some(Value::Array(b)), Value::Array(p)) => match field {
            Field::ByKey { key, element } => merge_keyed_list(b, p, key, element, path),
            Field::ScalarSet => merge_scalar_set(b, p, path),
            _ => Ok(strip(patch)),
        },
        (None, Value::Array(p)) => match field {
            Field::ByKey { element, .. } => copy_keyed_list(p, element, path),
            _ => Ok(strip(patch)),
        },
        (Some(b @ (Value::Object(_) | Value::Array(_))), p) => Err(mismatch(
            if b.is_object() { "an object" } else { "a list" },
            p,
        )),
        (Some(_), p @ (Value::Object(_) | Value::Array(_))) => Err(mismatch("a scalar", p)),
        (_, scalar) => Ok(scalar.clone()),
    }
}

fn field_wants_object(field: Field) -> bool {
    matches!(field, Field::WholeEntries)
        || matches!(field, Field::Plain(schema) if schema != Schema::Opaque)
}

fn entries_of(field: Field) -> Entries {
    match field {
        Field::Plain(schema) => Entries::Schema(schema),
        Field::WholeEntries => Entries::Whole,
        Field::ByKey { element, .. } => Entries::Schema(element),
        Field::ScalarSet | Field::Whole => Entries::Schema(Schema::Opaque),
    }
}

fn retain_keys(
    out: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    retain: &Value,
    path: &FieldPath,
) -> Result<(), MergeError> {
    let Some(list) = retain.as_array() else {
        return Err(MergeError::RetainKeys {
            path: path.key("$retainKeys"),
            message: format!("expected a list of keys, found {}", kind(retain)),
        });
    };
    let keep = |key: &str| list.iter().any(|k| k.as_str() == Some(key));
    if let Some((key, _)) = patch
        .iter()
        .find(|(k, v)| !v.is_null() && !is_directive_key(k) && !keep(k))
    {
        return Err(MergeError::RetainKeys {
            path: path.key(key.clone()),
            message: "set by the patch but not listed in `$retainKeys`; list it or remove it"
                .into(),
        });
    }
    out.retain(|key, _| keep(key));
    Ok(())
}

fn delete_from_list(
    out: &mut Map<String, Value>,
    list: &str,
    values: &Value,
    path: &FieldPath,
) -> Result<(), MergeError> {
    let Some(values) = values.as_array() else {
        return Err(MergeError::TypeMismatch {
            path: path.clone(),
            expected: "a list",
            found: kind(values),
        });
    };
    match out.get_mut(list) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(items)) => {
            items.retain(|item| !values.iter().any(|v| same_key(v, item)));
            Ok(())
        }
        Some(other) => Err(MergeError::TypeMismatch {
            path: path.clone(),
            expected: "a list",
            found: kind(other),
        }),
    }
}

/// A keyed list: element `i` of the patch merges into the document's element
/// with the same key, or is added. Ordered as the module documentation says.
fn merge_keyed_list(
    base: &[Value],
    patch: &[Value],
    key: &'static str,
    element: Schema,
    path: &FieldPath,
) -> Result<Value, MergeError> {
    for (i, item) in base.iter().enumerate() {
        keyed_element(item, key, &path.index(i), Side::Base)?;
    }
    let mut original: Vec<Value> = base.to_vec();
    let mut plain: Vec<(usize, &Map<String, Value>)> = Vec::new();
    let mut replace = false;
    for (i, item) in patch.iter().enumerate() {
        let item_path = path.index(i);
        let Value::Object(map) = item else {
            return Err(MergeError::TypeMismatch {
                path: item_path,
                expected: "an object",
                found: kind(item),
            });
        };
        match directive(map, &item_path)? {
            None => {
                keyed_element(item, key, &item_path, Side::Patch)?;
                plain.push((i, map));
            }
            Some(Directive::Delete) => {
                let value = keyed_element(item, key, &item_path, Side::Patch)?;
                original.retain(|o| !o.get(key).is_some_and(|k| same_key(k, value)));
            }
            Some(Directive::Replace) => replace = true,
        }
    }
    if replace {
        let items = plain
            .iter()
            .map(|(i, map)| merge_object(None, map, Entries::Schema(element), &path.index(*i)))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Value::Array(items.into_iter().map(Value::Object).collect()));
    }
    let server_order: Vec<Value> = original.iter().map(|o| o[key].clone()).collect();
    let mut merged = original;
    for (i, map) in &plain {
        let value = &map[key];
        let at = merged.iter().position(|m| same_key(&m[key], value));
        let current = at.and_then(|at| merged[at].as_object());
        let next = Value::Object(merge_object(
            current,
            map,
            Entries::Schema(element),
            &path.index(*i),
        )?);
        match at {
            Some(at) => merged[at] = next,
            None => merged.push(next),
        }
    }
    let patch_keys: Vec<&Value> = plain.iter().map(|(_, map)| &map[key]).collect();
    Ok(Value::Array(order_like_kubernetes(
        merged,
        &patch_keys,
        &server_order,
        |item| &item[key],
    )))
}

/// A keyed list the document lacks: each element is copied on its own (as
/// Kubernetes copies the list whole, duplicates and elements without the
/// key stay), but directives still apply: elements marked `$patch` are
/// dropped.
fn copy_keyed_list(
    patch: &[Value],
    element: Schema,
    path: &FieldPath,
) -> Result<Value, MergeError> {
    let mut out = Vec::with_capacity(patch.len());
    for (i, item) in patch.iter().enumerate() {
        let item_path = path.index(i);
        let Value::Object(map) = item else {
            return Err(MergeError::TypeMismatch {
                path: item_path,
                expected: "an object",
                found: kind(item),
            });
        };
        if directive(map, &item_path)?.is_none() {
            out.push(Value::Object(merge_object(
                None,
                map,
                Entries::Schema(element),
                &item_path,
            )?));
        }
    }
    Ok(Value::Array(out))
}

/// Checks that a keyed list's element is an object with the key; returns the
/// key's value.
fn keyed_element<'v>(
    item: &'v Value,
    key: &'static str,
    path: &FieldPath,
    side: Side,
) -> Result<&'v Value, MergeError> {
    let Value::Object(map) = item else {
        return Err(MergeError::TypeMismatch {
            path: path.clone(),
            expected: "an object",
            found: kind(item),
        });
    };
    map.get(key).ok_or_else(|| MergeError::MissingMergeKey {
        path: path.clone(),
        key,
        side,
    })
}

/// A list of scalars merged as a set: the document's, then the patch's new
/// values, without duplicates, ordered as keyed lists are.
fn merge_scalar_set(
    base: &[Value],
    patch: &[Value],
    path: &FieldPath,
) -> Result<Value, MergeError> {
    for (i, item) in patch.iter().enumerate() {
        if item.is_object() || item.is_array() {
            return Err(MergeError::TypeMismatch {
                path: path.index(i),
                expected: "a scalar",
                found: kind(item),
            });
        }
    }
    let mut merged: Vec<Value> = Vec::new();
    for item in base.iter().chain(patch) {
        if !merged.iter().any(|m| same_key(m, item)) {
            merged.push(item.clone());
        }
    }
    let patch_keys: Vec<&Value> = patch.iter().collect();
    Ok(Value::Array(order_like_kubernetes(
        merged,
        &patch_keys,
        base,
        |item| item,
    )))
}

/// Kubernetes' `normalizeElementOrder`: the merged elements the patch names,
/// in the patch's order, with the document-only elements inserted among
/// them by their place in the document.
fn order_like_kubernetes<F>(
    merged: Vec<Value>,
    patch_keys: &[&Value],
    server_order: &[Value],
    key_of: F,
) -> Vec<Value>
where
    F: Fn(&Value) -> &Value,
{
    let in_patch = |item: &Value| patch_keys.iter().position(|k| same_key(k, key_of(item)));
    let in_server = |item: &Value| server_order.iter().position(|k| same_key(k, key_of(item)));
    let (mut named, server_only): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|item| in_patch(item).is_some());
    named.sort_by_key(|item| in_patch(item));
    let mut out = Vec::with_capacity(named.len() + server_only.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = named.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => matches!(
                (in_server(l), in_server(r)),
                (Some(li), Some(ri)) if li < ri
            ),
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

/// Applies a `podSpecPatch` to a pod spec.
///
/// Call it once per patch, the workflow's `spec.podSpecPatch` first and the
/// template's second, after template tags in the patch were substituted, as
/// Argo does. The result is the pod spec as JSON; decoding it into the typed
/// pod spec (which rejects values of the wrong type) is the caller's.
pub fn merge_pod_spec(base: &Value, patch: &Value) -> Result<Value, MergeError> {
    strategic_merge(base, patch, Schema::PodSpec)
}

/// Reads a `podSpecPatch`: JSON when it starts with `{` (as upstream
/// decides), YAML otherwise. An empty patch is an empty object.
pub fn parse_pod_spec_patch(text: &str) -> Result<Value, MergeError> {
    let value = if text.trim_start().starts_with('{') {
        serde_json::from_str::<Value>(text).map_err(|e| MergeError::Parse {
            format: "JSON",
            message: e.to_string(),
            line: Some(e.line()),
            column: Some(e.column()),
        })?
    } else {
        serde_yaml_ng::from_str::<Value>(text).map_err(|e| {
            let location = e.location();
            MergeError::Parse {
                format: "YAML",
                message: e.to_string(),
                line: location.as_ref().map(|l| l.line()),
                column: location.as_ref().map(|l| l.column()),
            }
        })?
    };
    match value {
        Value::Null => Ok(Value::Object(Map::new())),
        Value::Object(_) => Ok(value),
        other => Err(MergeError::TypeMismatch {
            path: FieldPath::root(),
            expected: "an object (fields of a pod spec)",
            found: kind(&other),
        }),
    }
}

/// Lays a workflow over the configuration's `workflowDefaults`, as Argo's
/// controller does (`MergeTo`): the workflow is the patch, so every value it
/// sets wins; lists merge by their keys (`templates` by name, `volumes` by
/// name, `arguments.parameters` by name, ...); `spec.hooks` and
/// `spec.workflowMetadata.labelsFrom` take the workflow's entry whole where
/// both name it. Both are whole Workflow objects (metadata and spec).
///
/// Argo decodes both documents into its types first, which drops `null`s
/// and unknown keys such as `$patch`; so `null` here means "unset", not
/// "delete", and directives are ignored.
pub fn merge_workflow_defaults(workflow: &Value, defaults: &Value) -> Result<Value, MergeError> {
    strategic_merge(&strip(defaults), &strip(workflow), Schema::Workflow)
}

/// The template-kind fields, in the order Argo decides a template's kind.
const TEMPLATE_KINDS: [&str; 10] = [
    "container",
    "containerSet",
    "steps",
    "dag",
    "script",
    "resource",
    "data",
    "suspend",
    "http",
    "plugin",
];

/// Lays a template over the workflow's `templateDefaults`, as Argo does
/// before running it: the template wins wherever it sets a value, and of the
/// defaults' template-kind fields (`container`, `script`, `dag`, ...) only
/// the one of the template's own kind applies (defaults for `container`
/// reach container templates only).
///
/// As for [`merge_workflow_defaults`], `null`s and directives in either
/// document are ignored. Upstream clears the other kinds after the merge only
/// for some kinds; this clears them for every kind, so a template never
/// gains a second kind from its defaults.
pub fn merge_template_defaults(template: &Value, defaults: &Value) -> Result<Value, MergeError> {
    let template = strip(template);
    let mut defaults = strip(defaults);
    let own_kind = TEMPLATE_KINDS
        .iter()
        .find(|kind| template.get(**kind).is_some());
    if let Value::Object(map) = &mut defaults {
        for kind in TEMPLATE_KINDS {
            if Some(&kind) != own_kind {
                map.shift_remove(kind);
            }
        }
    }
    strategic_merge(&defaults, &template, Schema::Template)
}

/// Lays a container over container defaults (the configuration's
/// `mainContainer`), as Argo does for every main container: the container
/// wins, its `env`, `volumeMounts` and `ports` merge by key with the
/// defaults'. `null`s and directives are ignored as in
/// [`merge_workflow_defaults`].
pub fn merge_container_defaults(container: &Value, defaults: &Value) -> Result<Value, MergeError> {
    strategic_merge(&strip(defaults), &strip(container), Schema::Container)
}

/// Every place in `value`, an object of kind `schema`, that a merge would
/// reject: elements of keyed lists that are not objects or lack their key,
/// and fields whose kind of value is wrong (a string where a list belongs).
/// Used to check documents that will be merged later, such as
/// `workflowDefaults`, when they are loaded.
pub fn merge_key_problems(value: &Value, schema: Schema) -> Vec<MergeError> {
    let mut out = Vec::new();
    match value {
        Value::Object(map) => {
            check_object(map, Entries::Schema(schema), &FieldPath::root(), &mut out)
        }
        Value::Null => {}
        other => out.push(MergeError::TypeMismatch {
            path: FieldPath::root(),
            expected: "an object",
            found: kind(other),
        }),
    }
    out
}

fn check_object(
    map: &Map<String, Value>,
    entries: Entries,
    path: &FieldPath,
    out: &mut Vec<MergeError>,
) {
    for (key, value) in map {
        if value.is_null() || is_directive_key(key) {
            continue;
        }
        check_field(value, entries.field(key), &path.key(key.to_owned()), out);
    }
}

fn check_field(value: &Value, field: Field, path: &FieldPath, out: &mut Vec<MergeError>) {
    let mismatch = |expected| MergeError::TypeMismatch {
        path: path.clone(),
        expected,
        found: kind(value),
    };
    match (field, value) {
        (Field::ByKey { key, element }, Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let item_path = path.index(i);
                match keyed_element(item, key, &item_path, Side::Base) {
                    Ok(_) => {
                        if let Value::Object(map) = item {
                            check_object(map, Entries::Schema(element), &item_path, out);
                        }
                    }
                    Err(e) => out.push(e),
                }
            }
        }
        (Field::ScalarSet, Value::Array(_)) => {}
        (Field::ByKey { .. } | Field::ScalarSet, _) => out.push(mismatch("a list")),
        (_, Value::Object(map)) => check_object(map, entries_of(field), path, out),
        _ if field_wants_object(field) => out.push(mismatch("an object")),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
