//! Every corpus document of our kinds fits the schema: no unknown fields,
//! no mistyped values.

use serde_json::Value;
use sluice_api::schema::check_fields;
use sluice_api::types::{API_VERSION, KINDS};
use sluice_api::yaml::parse_documents;

use crate::common::{corpus_dir, manifest_files};

#[test]
fn corpus_documents_have_no_field_findings() {
    let mut checked = 0;
    let mut problems = Vec::new();
    for file in manifest_files(&corpus_dir()) {
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        // Kubernetes' scalar rules (YAML 1.1: `mode: 0755` is an integer).
        let documents =
            parse_documents(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for document in documents {
            let value = &document.value;
            if value.get("apiVersion").and_then(Value::as_str) != Some(API_VERSION) {
                continue;
            }
            let Some(kind) = value.get("kind").and_then(Value::as_str) else {
                continue;
            };
            if !KINDS.contains(&kind) {
                continue;
            }
            checked += 1;
            for finding in check_fields(kind, value) {
                problems.push(format!(
                    "{}:{}: {}: {}",
                    file.display(),
                    document.line,
                    finding.path,
                    finding.message
                ));
            }
        }
    }
    assert!(
        checked > 150,
        "only {checked} documents of our kinds in the corpus"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
