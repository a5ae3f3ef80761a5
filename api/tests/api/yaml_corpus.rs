//! The position-aware loader over the upstream corpus: every file parses,
//! positions point where a person would look, and every document of our
//! kinds survives parse → types → JSON unchanged.

use serde_json::Value;
use sluice_api::FieldPath;
use sluice_api::types::Object;
use sluice_api::yaml::{Document, Mark, parse_documents};

use crate::common::{corpus_dir, manifest_files};

/// Every corpus file with its documents.
fn corpus() -> Vec<(String, Vec<Document>)> {
    let dir = corpus_dir();
    manifest_files(&dir)
        .into_iter()
        .map(|file| {
            let name = file
                .strip_prefix(&dir)
                .unwrap_or(&file)
                .display()
                .to_string();
            let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{name}: {e}"));
            let documents = parse_documents(&text).unwrap_or_else(|e| panic!("{name}:{e}"));
            (name, documents)
        })
        .collect()
}

fn document(name: &str) -> Document {
    let text = std::fs::read_to_string(corpus_dir().join(name)).expect("corpus file");
    let mut documents = parse_documents(&text).expect("parses");
    assert!(!documents.is_empty(), "{name}");
    documents.remove(0)
}

fn at(document: &Document, path: &str) -> Mark {
    let path = FieldPath::parse(path).unwrap_or_else(|| panic!("bad path {path}"));
    document
        .positions
        .get(&path)
        .unwrap_or_else(|| panic!("no position for {path}"))
}

fn mark(line: usize, column: usize) -> Mark {
    Mark { line, column }
}

#[test]
fn every_corpus_file_parses_to_documents() {
    let files = corpus();
    assert!(files.len() > 200, "only {} corpus files", files.len());
    for (name, documents) in &files {
        assert!(!documents.is_empty(), "{name}: no documents");
    }
}

#[test]
fn corpus_positions_point_at_keys_and_items() {
    let hello = document("hello-world.yaml");
    assert_eq!(hello.line, 1);
    assert_eq!(at(&hello, "kind"), mark(2, 1));
    assert_eq!(at(&hello, "spec.templates[0]"), mark(13, 5));
    assert_eq!(at(&hello, "spec.templates[0].container.image"), mark(15, 7));
    assert_eq!(
        at(&hello, "spec.templates[0].container.args[0]"),
        mark(17, 14)
    );
    let path = r#"metadata.annotations["workflows.argoproj.io/description"]"#;
    assert_eq!(at(&hello, path), mark(8, 5));

    let diamond = document("dag-diamond.yaml");
    // The comment block above is not part of the document's content.
    assert_eq!(diamond.line, 8);
    assert_eq!(
        at(&diamond, "spec.templates[0].dag.tasks[3].depends"),
        mark(33, 9)
    );
    let flow = "spec.templates[0].dag.tasks[1].arguments.parameters[0].value";
    assert_eq!(at(&diamond, flow), mark(26, 40));
}

#[test]
fn lenient_indentation_keeps_original_columns() {
    // Its `args: ["` continues on lines left of the quote and closes at the
    // key's indentation, which libyaml (and so kubectl) accepts.
    let sidecar = document("sidecar.yaml");
    assert_eq!(
        at(&sidecar, "spec.templates[0].container.args"),
        mark(12, 7)
    );
    assert_eq!(
        at(&sidecar, "spec.templates[0].container.args[0]"),
        mark(12, 14)
    );
    let args = &sidecar.value["spec"]["templates"][0]["container"]["args"][0];
    assert!(
        args.as_str().is_some_and(|s| s.contains("apk add curl")),
        "{args}"
    );
}

#[test]
fn yaml_1_1_scalars_in_the_corpus() {
    let documents: Vec<Document> = corpus().into_iter().flat_map(|(_, docs)| docs).collect();
    // `mode: 0755`-style permissions are octal integers, as for kubectl.
    let mut modes = Vec::new();
    for doc in &documents {
        collect_modes(&doc.value, &mut modes);
    }
    assert!(!modes.is_empty(), "the corpus has file modes");
    assert!(modes.iter().all(Value::is_u64), "{modes:?}");
    assert!(modes.contains(&Value::from(0o755)), "{modes:?}");
}

fn collect_modes(value: &Value, out: &mut Vec<Value>) {
    match value {
        Value::Object(map) => {
            // An artifact's file mode sits beside its `path`.
            if let Some(mode) = map.get("mode").filter(|_| map.contains_key("path")) {
                out.push(mode.clone());
            }
            map.values().for_each(|v| collect_modes(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_modes(v, out)),
        _ => {}
    }
}

/// The issue's lossless requirement: parse → typed → serialize gives the
/// same JSON value, for every document of our kinds in every file.
#[test]
fn corpus_round_trips_through_the_types_losslessly() {
    let mut count = 0;
    let mut failures = Vec::new();
    for (name, documents) in corpus() {
        for document in documents {
            let value = &document.value;
            if value.get("apiVersion").and_then(Value::as_str) != Some("argoproj.io/v1alpha1") {
                continue;
            }
            let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
            if !sluice_api::types::KINDS.contains(&kind) {
                continue;
            }
            count += 1;
            let where_ = format!("{name}:{}", document.line);
            match Object::from_value(value) {
                Ok(Some(object)) => match object.to_value() {
                    Ok(back) if &back == value => {}
                    Ok(back) => {
                        failures.push(format!("{where_}: {}", first_difference(value, &back)))
                    }
                    Err(e) => failures.push(format!("{where_}: serialize: {e}")),
                },
                Ok(None) => failures.push(format!("{where_}: {kind} not recognised")),
                Err(e) => failures.push(format!("{where_}: {e}")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} documents differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(count > 200, "only {count} documents of our kinds");
}

/// The first path where two values differ, for a readable failure.
fn first_difference(want: &Value, got: &Value) -> String {
    fn walk(path: FieldPath, want: &Value, got: &Value) -> Option<String> {
        match (want, got) {
            (Value::Object(a), Value::Object(b)) => {
                for (key, value) in a {
                    match b.get(key) {
                        Some(other) => {
                            if let Some(found) = walk(path.key(key.clone()), value, other) {
                                return Some(found);
                            }
                        }
                        None => return Some(format!("{}: dropped", path.key(key.clone()))),
                    }
                }
                b.keys()
                    .find(|key| !a.contains_key(*key))
                    .map(|key| format!("{}: added", path.key(key.clone())))
            }
            (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
                .iter()
                .zip(b)
                .enumerate()
                .find_map(|(i, (x, y))| walk(path.index(i), x, y)),
            _ if want == got => None,
            _ => Some(format!("{path}: {want} became {got}")),
        }
    }
    walk(FieldPath::root(), want, got).unwrap_or_else(|| "key order differs".to_owned())
}
