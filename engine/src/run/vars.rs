//! Variables and their substitution: `{{inputs.parameters.x}}`,
//! `{{steps.a.outputs.result}}`, `{{= asInt(item) + 1 }}`...
//!
//! A [`Vars`] is the flat map upstream builds for one template, step or
//! task (keys are whole dotted paths, values upstream's strings, `item`
//! keeping its JSON shape), and it is also the expr-lang scope of `{{= }}`.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value as Json;
use sluice_api::expr::{self, FlatScope, Value};
use sluice_api::tags::{TagKind, Tags};
use sluice_api::types::{Artifact, NodeStatus};

/// Variable prefixes that must resolve where they are used: a reference
/// left over after substitution is an error naming it.
const MUST_RESOLVE: [&str; 5] = [
    "inputs.",
    "steps.",
    "tasks.",
    "item",
    "workflow.parameters.",
];

/// The fields of an artifact that say where it is stored.
pub(crate) const LOCATION_FIELDS: [&str; 11] = [
    "s3",
    "git",
    "http",
    "raw",
    "gcs",
    "azure",
    "oss",
    "hdfs",
    "artifactory",
    "plugin",
    "local",
];

/// Variables shared by many scopes (a steps or DAG node's, kept while its
/// group starts children), without the workflow's under them.
pub(crate) type Layer = Arc<BTreeMap<String, Value>>;

/// One substitution scope: its own variables over a shared layer (a
/// steps or DAG node's variables) over a shared, immutable base (the
/// workflow's variables), so that a scope per pod or per loop item costs
/// what it adds, not a copy of every variable under it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Vars {
    base: Option<Arc<Vars>>,
    layer: Option<Layer>,
    map: BTreeMap<String, Value>,
    now: Option<DateTime<Utc>>,
}

impl Vars {
    pub(crate) fn new(now: DateTime<Utc>) -> Vars {
        Vars {
            base: None,
            layer: None,
            map: BTreeMap::new(),
            now: Some(now),
        }
    }

    /// An empty scope over `base`: `base`'s variables, until set here.
    pub(crate) fn over(base: Arc<Vars>) -> Vars {
        Vars {
            now: base.now,
            base: Some(base),
            layer: None,
            map: BTreeMap::new(),
        }
    }

    /// An empty scope over `layer` over `base` (the layer's variables win).
    pub(crate) fn over_layer(base: Arc<Vars>, layer: Layer) -> Vars {
        Vars {
            layer: Some(layer),
            ..Vars::over(base)
        }
    }

    /// The variables set here (and in this scope's layer), as a layer to
    /// share: what [`Vars::over_layer`] puts back over a base.
    pub(crate) fn into_layer(self) -> Layer {
        match self.layer {
            None => Arc::new(self.map),
            Some(layer) if self.map.is_empty() => layer,
            Some(layer) => {
                let mut all = (*layer).clone();
                all.extend(self.map);
                Arc::new(all)
            }
        }
    }

    pub(crate) fn set(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        self.map.insert(key.into(), value.into());
    }

    /// A variable's value as upstream's string, when it is set.
    pub(crate) fn get_text(&self, key: &str) -> Option<String> {
        self.get(key).map(expr::to_template_string)
    }

    /// The value of a variable, set here or in the base.
    fn get(&self, key: &str) -> Option<&Value> {
        if let Some(v) = self.map.get(key) {
            return Some(v);
        }
        if let Some(v) = self.layer.as_ref().and_then(|l| l.get(key)) {
            return Some(v);
        }
        self.base.as_ref()?.get(key)
    }

    /// Every variable (base first, then the layer, then those set here,
    /// which win).
    fn collect_into(&self, out: &mut BTreeMap<String, Value>) {
        if let Some(base) = &self.base {
            base.collect_into(out);
        }
        for (k, v) in self.layer.iter().flat_map(|l| l.iter()) {
            out.insert(k.clone(), v.clone());
        }
        for (k, v) in &self.map {
            out.insert(k.clone(), v.clone());
        }
    }

    /// The expr-lang scope of these variables.
    fn scope(&self) -> FlatScope {
        let scope: FlatScope = if self.base.is_none() && self.layer.is_none() {
            self.map
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        } else {
            let mut all = BTreeMap::new();
            self.collect_into(&mut all);
            all.into_iter().collect()
        };
        match self.now {
            Some(now) => scope.with_now(now),
            None => scope,
        }
    }

    /// Evaluates an expr-lang expression (`depends`-free: retry and hook
    /// expressions, `{{= }}`).
    pub(crate) fn eval(&self, expression: &str) -> Result<Value, String> {
        expr::eval_expr(expression, &self.scope()).map_err(|e| e.to_string())
    }

    /// Substitutes the tags of one string. Unknown simple tags stay as
    /// written (a later pass may know them); expression tags must evaluate.
    pub(crate) fn substitute(&self, text: &str) -> Result<String, String> {
        if !text.contains("{{") {
            return Ok(text.to_owned());
        }
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        let mut scope = None;
        for tag in Tags::new(text) {
            let tag = tag.map_err(|e| e.to_string())?;
            out.push_str(&text[last..tag.span.start]);
            last = tag.span.end;
            match tag.kind {
                TagKind::Simple => match self.get(tag.body) {
                    Some(value) => out.push_str(&expr::to_template_string(value)),
                    None => out.push_str(&text[tag.span.clone()]),
                },
                TagKind::Expression => {
                    let scope = scope.get_or_insert_with(|| self.scope());
                    let value = expr::eval_expr(tag.body, scope)
                        .and_then(|v| expr::render_template_value(&v))
                        .map_err(|e| format!("failed to evaluate {{{{={}}}}}: {e}", tag.body))?;
                    out.push_str(&value);
                }
            }
        }
        out.push_str(&text[last..]);
        Ok(out)
    }

    /// [`Vars::substitute`], then an error for a reference that had to
    /// resolve here and did not.
    pub(crate) fn substitute_strict(&self, text: &str) -> Result<String, String> {
        let out = self.substitute(text)?;
        check_resolved(&out)?;
        Ok(out)
    }

    /// Substitutes every string of a JSON value in place (keys included).
    pub(crate) fn substitute_json(&self, value: &mut Json, strict: bool) -> Result<(), String> {
        match value {
            Json::String(s) if s.contains("{{") => {
                *s = if strict {
                    self.substitute_strict(s)?
                } else {
                    self.substitute(s)?
                };
            }
            Json::Array(items) => {
                for item in items {
                    self.substitute_json(item, strict)?;
                }
            }
            Json::Object(fields) => {
                let needs_key_change = fields.keys().any(|k| k.contains("{{"));
                if needs_key_change {
                    let old = std::mem::take(fields);
                    for (k, mut v) in old {
                        self.substitute_json(&mut v, strict)?;
                        fields.insert(self.substitute(&k)?, v);
                    }
                } else {
                    for v in fields.values_mut() {
                        self.substitute_json(v, strict)?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Sets the variables of a node's results under `prefix`
    /// (`steps.NAME` or `tasks.NAME`).
    pub(crate) fn set_node(&mut self, prefix: &str, node: &NodeStatus) {
        if let Some(id) = &node.id {
            self.set(format!("{prefix}.id"), id.as_str());
        }
        if let Some(ip) = &node.pod_ip {
            self.set(format!("{prefix}.ip"), ip.as_str());
        }
        if let Some(phase) = &node.phase {
            self.set(format!("{prefix}.status"), phase.as_str());
        }
        if let Some(t) = &node.started_at {
            self.set(format!("{prefix}.startedAt"), t.as_str());
        }
        if let Some(t) = &node.finished_at {
            self.set(format!("{prefix}.finishedAt"), t.as_str());
        }
        if let Some(h) = &node.host_node_name {
            self.set(format!("{prefix}.hostNodeName"), h.as_str());
        }
        let Some(outputs) = &node.outputs else {
            return;
        };
        if let Some(result) = &outputs.result {
            self.set(format!("{prefix}.outputs.result"), result.as_str());
        }
        if let Some(code) = &outputs.exit_code {
            self.set(format!("{prefix}.exitCode"), code.as_str());
            self.set(format!("{prefix}.outputs.exitCode"), code.as_str());
        }
        for p in &outputs.parameters {
            if let Some(v) = &p.value {
                self.set(
                    format!("{prefix}.outputs.parameters.{}", p.name),
                    v.as_text(),
                );
            }
        }
        for a in &outputs.artifacts {
            self.set(
                format!("{prefix}.outputs.artifacts.{}", a.name),
                serde_json::to_string(a).unwrap_or_default(),
            );
        }
    }

    /// Sets the aggregated variables of an expanded step or task: lists of
    /// every iteration's results and parameters, as JSON.
    pub(crate) fn set_aggregate<'a>(
        &mut self,
        prefix: &str,
        children: impl Iterator<Item = &'a NodeStatus>,
    ) {
        let mut results = Vec::new();
        let mut params: Vec<Json> = Vec::new();
        let mut by_name: BTreeMap<String, Vec<Json>> = BTreeMap::new();
        for child in children {
            let Some(outputs) = &child.outputs else {
                continue;
            };
            if let Some(result) = &outputs.result {
                results.push(
                    serde_json::from_str::<Json>(result)
                        .ok()
                        .filter(|v| v.is_object() || v.is_array())
                        .unwrap_or_else(|| Json::String(result.clone())),
                );
            }
            if !outputs.parameters.is_empty() {
                let mut map = serde_json::Map::new();
                for p in &outputs.parameters {
                    let text = p.value.as_ref().map(|v| v.as_text()).unwrap_or_default();
                    map.insert(p.name.clone(), Json::String(text.clone()));
                    by_name
                        .entry(p.name.clone())
                        .or_default()
                        .push(Json::String(text));
                }
                params.push(Json::Object(map));
            }
        }
        if !results.is_empty() {
            self.set(
                format!("{prefix}.outputs.result"),
                go_json(&Json::Array(results)),
            );
        }
        if !params.is_empty() {
            self.set(
                format!("{prefix}.outputs.parameters"),
                go_json(&Json::Array(params)),
            );
        }
        for (name, values) in by_name {
            self.set(
                format!("{prefix}.outputs.parameters.{name}"),
                go_json(&Json::Array(values)),
            );
        }
    }

    /// Sets `item` (and `item.KEY` for maps, as upstream does).
    pub(crate) fn set_item(&mut self, item: &Json) {
        match item {
            Json::String(s) => self.set("item", s.as_str()),
            Json::Object(fields) => {
                self.map.insert("item".into(), Value::from_json_go(item));
                for (k, v) in fields {
                    let value = match v {
                        Json::String(s) => Value::String(s.clone()),
                        other => Value::String(go_json(other)),
                    };
                    self.map.insert(format!("item.{k}"), value);
                }
            }
            other => {
                self.map
                    .insert("item".into(), Value::String(go_json(other)));
            }
        }
    }

    /// The artifact a `from` reference (`{{steps.a.outputs.artifacts.x}}`)
    /// names, when known.
    pub(crate) fn artifact(&self, reference: &str) -> Option<Artifact> {
        // Already substituted (arguments are substituted before inputs
        // resolve): the reference is the artifact itself.
        if reference.trim_start().starts_with('{') && !reference.trim_start().starts_with("{{") {
            return serde_json::from_str(reference).ok();
        }
        let key = reference
            .trim()
            .strip_prefix("{{")?
            .strip_suffix("}}")?
            .trim();
        let Value::String(json) = self.get(key)? else {
            return None;
        };
        serde_json::from_str(json).ok()
    }
}

/// An error naming the first reference of `text` that had to resolve.
pub(crate) fn check_resolved(text: &str) -> Result<(), String> {
    for tag in Tags::new(text).flatten() {
        if tag.kind == TagKind::Simple && MUST_RESOLVE.iter().any(|p| tag.body.starts_with(p)) {
            return Err(format!("unable to resolve {{{{{}}}}}", tag.body));
        }
    }
    Ok(())
}

/// Go's `json.Marshal` of a value (sorted keys), with upstream's
/// un-escaping of `<`, `>` and `&`.
pub(crate) fn go_json(value: &Json) -> String {
    let text = Value::from_json_go(value)
        .to_go_json()
        .unwrap_or_else(|| value.to_string());
    text.replace("\\u003c", "<")
        .replace("\\u003e", ">")
        .replace("\\u0026", "&")
}

/// How an item appears in a node name: `name(i:desc)`.
pub(crate) fn item_description(item: &Json) -> String {
    let text = match item {
        Json::String(s) => s.clone(),
        other => go_json(other),
    };
    text.replace(['(', ')'], "")
}

/// Whether an artifact says where it is, or has a key the repository
/// completes (the pod builder's rule).
pub(crate) fn has_location(artifact: &Artifact) -> bool {
    let json = serde_json::to_value(artifact).unwrap_or(Json::Null);
    crate::pod::artifacts::has_location_or_key(&json)
}

/// `target` with the location of `source` (its name, path and mode kept).
pub(crate) fn with_location(target: &Artifact, source: &Artifact) -> Artifact {
    let mut out = serde_json::to_value(target).unwrap_or(Json::Null);
    let src = serde_json::to_value(source).unwrap_or(Json::Null);
    if let (Some(out), Some(src)) = (out.as_object_mut(), src.as_object()) {
        for field in LOCATION_FIELDS {
            out.remove(field);
            if let Some(v) = src.get(field) {
                out.insert(field.to_owned(), v.clone());
            }
        }
        out.remove("from");
        out.remove("fromExpression");
    }
    serde_json::from_value(out).unwrap_or_else(|_| target.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        let mut v = Vars::new(DateTime::<Utc>::UNIX_EPOCH);
        v.set("inputs.parameters.x", "5");
        v.set("workflow.name", "wf");
        v
    }

    #[test]
    fn substitutes_simple_and_expression_tags() {
        let v = vars();
        assert_eq!(
            v.substitute("a {{inputs.parameters.x}} b").unwrap(),
            "a 5 b"
        );
        assert_eq!(
            v.substitute("{{=asInt(inputs.parameters.x) + 1}}").unwrap(),
            "6"
        );
        assert_eq!(v.substitute("{{pod.name}}").unwrap(), "{{pod.name}}");
        let err = v.substitute_strict("{{inputs.parameters.y}}").unwrap_err();
        assert_eq!(err, "unable to resolve {{inputs.parameters.y}}");
        assert!(
            v.substitute("{{=nope(}}")
                .unwrap_err()
                .contains("failed to evaluate")
        );
    }

    #[test]
    fn items_and_names() {
        let mut v = vars();
        v.set_item(&serde_json::json!({"b": 2, "a": "x"}));
        assert_eq!(v.substitute("{{item.a}}-{{item.b}}").unwrap(), "x-2");
        assert_eq!(v.substitute("{{item}}").unwrap(), r#"{"a":"x","b":2}"#);
        assert_eq!(item_description(&serde_json::json!("a(b)")), "ab");
        assert_eq!(item_description(&serde_json::json!(3)), "3");
    }
}
