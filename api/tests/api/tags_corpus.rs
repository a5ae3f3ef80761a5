//! Template tags over the whole corpus: every `{{...}}` of every string lexes,
//! the variables they use are many, and none of them is reported as an error
//! by the `{{...}}` reference check.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use sluice_api::Config;
use sluice_api::tags::{TagKind, tags};
use sluice_api::types::Object;
use sluice_api::validate::{Context, Mode, Severity, validate};

use crate::common::{corpus_dir, manifest_files};

/// Distinct variable names the corpus uses (measured: 258).
const DISTINCT_VARIABLES_FLOOR: usize = 250;

/// Every document of a YAML or JSON file.
fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .filter(|doc| !doc.is_null())
        .collect()
}

/// Every string of a document, object keys included.
fn strings<'v>(value: &'v Value, out: &mut Vec<&'v str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(values) => values.iter().for_each(|v| strings(v, out)),
        Value::Object(fields) => {
            for (key, value) in fields {
                out.push(key);
                strings(value, out);
            }
        }
        _ => {}
    }
}

fn corpus() -> Vec<(PathBuf, Vec<Value>)> {
    let files = manifest_files(&corpus_dir());
    assert!(
        files.len() > 100,
        "corpus not found at {}",
        corpus_dir().display()
    );
    files
        .into_iter()
        .map(|path| {
            let docs = documents(&path);
            (path, docs)
        })
        .collect()
}

#[test]
fn every_corpus_tag_lexes_and_the_variables_are_many() {
    let mut failures = Vec::new();
    let mut variables = BTreeSet::new();
    let (mut simple, mut expression) = (0, 0);
    for (path, docs) in corpus() {
        for doc in &docs {
            let mut all = Vec::new();
            strings(doc, &mut all);
            for s in all.into_iter().filter(|s| s.contains("{{")) {
                match tags(s) {
                    Ok(found) => {
                        assert!(!found.is_empty(), "{}: no tag in {s:?}", path.display());
                        for tag in found {
                            assert!(s[tag.span.clone()].starts_with("{{"));
                            assert!(s[tag.span.clone()].ends_with("}}"));
                            match tag.kind {
                                TagKind::Simple => simple += 1,
                                TagKind::Expression => expression += 1,
                            }
                            variables.extend(tag.variables());
                        }
                    }
                    Err(err) => failures.push(format!("{}: {err} in {s:?}", path.display())),
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Measured: 529 simple and 18 expression tags.
    assert!(simple >= 500, "only {simple} simple tags");
    assert!(expression >= 15, "only {expression} expression tags");
    assert!(
        variables.len() >= DISTINCT_VARIABLES_FLOOR,
        "only {} distinct variables: {variables:?}",
        variables.len()
    );
    // A few that must be among them, one per kind of reference.
    for expected in [
        "inputs.parameters.message",
        "workflow.name",
        "item",
        "steps.flip-coin.outputs.result",
        "tasks.a.outputs.result",
        "workflow.creationTimestamp.Y",
        "cronworkflow.lastScheduledTime",
    ] {
        assert!(variables.contains(expected), "{expected} not found");
    }
}

fn objects(docs: &[Value]) -> Vec<Object> {
    docs.iter()
        .filter_map(|doc| Object::from_value(doc).ok().flatten())
        .collect()
}

/// Every template of the corpus, so templateRefs resolve and their outputs
/// are checked too.
fn known_templates(corpus: &[(PathBuf, Vec<Value>)]) -> Vec<Object> {
    corpus
        .iter()
        .flat_map(|(_, docs)| objects(docs))
        .filter(|o| {
            matches!(
                o,
                Object::WorkflowTemplate(_) | Object::ClusterWorkflowTemplate(_)
            )
        })
        .collect()
}

fn context<'a>(config: &'a Config, known: &'a [Object]) -> Context<'a> {
    Context {
        mode: Mode::Lint,
        config,
        known_templates: known,
        allow_missing_refs: true,
    }
}

#[test]
fn no_corpus_reference_is_an_error() {
    let corpus = corpus();
    let known = known_templates(&corpus);
    let config = Config::default();
    let ctx = context(&config, &known);
    let mut errors = Vec::new();
    let mut checked = 0;
    for (path, docs) in &corpus {
        let objects = objects(docs);
        checked += objects.len();
        for d in validate(&objects, &ctx) {
            // Every finding of the reference check starts with the tag.
            if d.severity == Severity::Error && d.message.starts_with("{{") {
                errors.push(format!("{}: {d}", path.display()));
            }
        }
    }
    assert!(checked > 200, "only {checked} objects");
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

/// Replaces `from` by `to` in every string under `value`; returns how many.
fn rename(value: &mut Value, from: &str, to: &str) -> usize {
    match value {
        Value::String(s) if s.contains(from) => {
            let count = s.matches(from).count();
            *s = s.replace(from, to);
            count
        }
        Value::Array(values) => values.iter_mut().map(|v| rename(v, from, to)).sum(),
        Value::Object(fields) => fields.values_mut().map(|v| rename(v, from, to)).sum(),
        _ => 0,
    }
}

/// Breaks every reference of one kind in the templates of every corpus
/// document; each must then be reported, once.
#[test]
fn broken_corpus_references_are_each_reported() {
    let corpus = corpus();
    let known = known_templates(&corpus);
    let config = Config::default();
    let ctx = context(&config, &known);
    let mut broken_total = 0;
    let mut mismatches = Vec::new();
    for (from, to) in [
        ("{{inputs.parameters.", "{{inputs.parameters.no-such-"),
        ("{{inputs.artifacts.", "{{inputs.artifacts.no-such-"),
        ("{{steps.", "{{steps.no-such-"),
        ("{{tasks.", "{{tasks.no-such-"),
        ("{{workflow.parameters.", "{{workflow.parameters.no-such-"),
        ("{{item.", "{{item.no-such-"),
    ] {
        for (path, docs) in &corpus {
            for doc in docs {
                let kind = doc.get("kind").and_then(Value::as_str);
                let templated_params =
                    matches!(kind, Some("WorkflowTemplate" | "ClusterWorkflowTemplate"));
                if from.starts_with("{{workflow.parameters.") && templated_params {
                    // A template alone may use any workflow parameter.
                    continue;
                }
                if from == "{{item." && doc.to_string().contains("withParam") {
                    // A withParam item may have any field.
                    continue;
                }
                let mut doc = doc.clone();
                let spec = match kind {
                    Some("CronWorkflow") => doc.pointer_mut("/spec/workflowSpec/templates"),
                    _ => doc.pointer_mut("/spec/templates"),
                };
                let Some(templates) = spec else { continue };
                let broken = rename(templates, from, to);
                if broken == 0 {
                    continue;
                }
                broken_total += broken;
                let Some(object) = Object::from_value(&doc).ok().flatten() else {
                    continue;
                };
                let reported = validate(&[object], &ctx)
                    .iter()
                    .filter(|d| d.severity == Severity::Error && d.message.starts_with(to))
                    .count();
                if reported != broken {
                    mismatches.push(format!(
                        "{}: {from}: {broken} broken, {reported} reported",
                        path.display()
                    ));
                }
            }
        }
    }
    assert!(broken_total > 300, "only {broken_total} references broken");
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
