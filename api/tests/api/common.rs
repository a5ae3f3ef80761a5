//! Shared helpers: where the corpus is, and how to list its files.

use std::path::{Path, PathBuf};

/// The upstream examples, beside the repository (../shared/corpus).
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/argo-examples")
}

/// Every YAML or JSON file under `dir`, recursively, sorted.
pub fn manifest_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            ) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// A document of one of our kinds, read from a file.
#[derive(Clone, Debug)]
pub struct LocatedObject {
    /// The file, relative to the directory listed.
    pub file: String,
    /// The 1-based line where the document starts.
    pub line: usize,
    /// The document as JSON.
    pub value: serde_json::Value,
    /// The document read as one of our kinds.
    pub object: sluice_api::types::Object,
}

/// Every document of our kinds under `dir`, in file order, read with the
/// position-aware loader (Kubernetes' scalar rules: `0755` is octal).
pub fn corpus_objects(dir: &Path) -> Vec<LocatedObject> {
    let mut out = Vec::new();
    for file in manifest_files(dir) {
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let documents = sluice_api::yaml::parse_documents(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let name = file
            .strip_prefix(dir)
            .unwrap_or(&file)
            .display()
            .to_string();
        for document in documents {
            let object = sluice_api::types::Object::from_value(&document.value)
                .unwrap_or_else(|e| panic!("{name}:{}: {e}", document.line));
            if let Some(object) = object {
                out.push(LocatedObject {
                    file: name.clone(),
                    line: document.line,
                    value: document.value,
                    object,
                });
            }
        }
    }
    out
}
