//! What a local run reads besides the workflow: the controller
//! configuration (`--config`), WorkflowTemplates (`--template-dir`),
//! ConfigMaps (`--configmap`) and secrets (`--secret-dir`, one directory per
//! secret holding one file per key).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::Deserialize as _;
use serde_json::Value;
use sluice_api::Config;
use sluice_api::types::{Object, WorkflowSpec};

/// ConfigMaps and secrets the pods of a local run may read.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    /// ConfigMap name to data.
    pub config_maps: BTreeMap<String, BTreeMap<String, String>>,
    /// ConfigMap name to annotations (artifact repository defaults).
    pub config_map_annotations: BTreeMap<String, BTreeMap<String, String>>,
    /// `<dir>/<secret>/<key>` files.
    pub secret_dir: Option<PathBuf>,
}

impl Sources {
    /// A key of a ConfigMap.
    pub fn config_map_key(&self, name: &str, key: &str) -> Option<&str> {
        self.config_maps.get(name)?.get(key).map(String::as_str)
    }

    /// The directory of a secret, when `--secret-dir` has it.
    pub fn secret(&self, name: &str) -> Option<PathBuf> {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return None;
        }
        let dir = self.secret_dir.as_ref()?.join(name);
        dir.is_dir().then_some(dir)
    }

    /// A key of a secret (its file's bytes, as text).
    pub fn secret_key(&self, name: &str, key: &str) -> Option<String> {
        if key.is_empty() || key.contains('/') || key == "." || key == ".." {
            return None;
        }
        std::fs::read_to_string(self.secret(name)?.join(key)).ok()
    }

    /// The keys of a secret with their values.
    pub fn secret_data(&self, name: &str) -> Option<BTreeMap<String, String>> {
        let dir = self.secret(name)?;
        let mut data = BTreeMap::new();
        for entry in std::fs::read_dir(dir).ok()?.flatten() {
            let key = entry.file_name().to_string_lossy().into_owned();
            if key.starts_with('.') || !entry.path().is_file() {
                continue;
            }
            if let Ok(value) = std::fs::read_to_string(entry.path()) {
                data.insert(key, value);
            }
        }
        Some(data)
    }

    /// Reads every ConfigMap of a (multi-document) YAML file.
    pub fn add_config_map_file(&mut self, path: &Path) -> anyhow::Result<()> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut found = 0;
        for document in serde_yaml_ng::Deserializer::from_str(&text) {
            let value = Value::deserialize(document)
                .with_context(|| format!("parsing {}", path.display()))?;
            if value.get("kind").and_then(Value::as_str) != Some("ConfigMap") {
                continue;
            }
            let Some(name) = value.pointer("/metadata/name").and_then(Value::as_str) else {
                bail!("{}: a ConfigMap without metadata.name", path.display());
            };
            let strings = |pointer: &str| -> BTreeMap<String, String> {
                value
                    .pointer(pointer)
                    .and_then(Value::as_object)
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), scalar_text(v))).collect())
                    .unwrap_or_default()
            };
            self.config_maps.insert(name.to_owned(), strings("/data"));
            self.config_map_annotations
                .insert(name.to_owned(), strings("/metadata/annotations"));
            found += 1;
        }
        if found == 0 {
            bail!("{}: no ConfigMap in the file", path.display());
        }
        Ok(())
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The WorkflowTemplates and ClusterWorkflowTemplates of every manifest under
/// `dir` (recursively), by name.
#[derive(Clone, Debug, Default)]
pub struct Templates {
    pub workflow_templates: BTreeMap<String, WorkflowSpec>,
    pub cluster_workflow_templates: BTreeMap<String, WorkflowSpec>,
    /// The objects, for validation of `templateRef`s.
    pub objects: Vec<Object>,
}

impl Templates {
    pub fn add_dir(&mut self, dir: &Path) -> anyhow::Result<()> {
        let mut files = Vec::new();
        walk(dir, &mut files)?;
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let documents = sluice_api::yaml::parse_documents(&text).map_err(|e| {
                anyhow::anyhow!("{}:{}:{}: {}", file.display(), e.line, e.column, e.message)
            })?;
            for document in documents {
                let object = Object::from_value(&document.value)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
                match object {
                    Some(Object::WorkflowTemplate(t)) => {
                        let name = t.metadata.name.clone().unwrap_or_default();
                        self.workflow_templates.insert(name, t.spec.clone());
                        self.objects.push(Object::WorkflowTemplate(t));
                    }
                    Some(Object::ClusterWorkflowTemplate(t)) => {
                        let name = t.metadata.name.clone().unwrap_or_default();
                        self.cluster_workflow_templates.insert(name, t.spec.clone());
                        self.objects.push(Object::ClusterWorkflowTemplate(t));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            walk(&path, out)?;
        } else if path
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Reads the controller configuration: the ConfigMap
/// (`workflow-controller-configmap`) or its `config` YAML alone.
pub fn load_config(path: &Path) -> anyhow::Result<Config> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Config::from_file_text(&text)
        .map_err(|e| anyhow::anyhow!("{}: not a controller configuration: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_maps_and_secrets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("cm.yaml");
        std::fs::write(
            &file,
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: one}\ndata: {a: x, n: 3}\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata: {name: two}\ndata: {b: y}\n",
        )
        .expect("write");
        std::fs::create_dir_all(dir.path().join("secrets/creds")).expect("mkdir");
        std::fs::write(dir.path().join("secrets/creds/user"), "me").expect("write");
        let mut sources = Sources {
            secret_dir: Some(dir.path().join("secrets")),
            ..Sources::default()
        };
        sources.add_config_map_file(&file).expect("read");
        assert_eq!(sources.config_map_key("one", "n"), Some("3"));
        assert_eq!(sources.config_map_key("two", "b"), Some("y"));
        assert_eq!(sources.secret_key("creds", "user").as_deref(), Some("me"));
        assert_eq!(sources.secret_key("creds", "../creds/user"), None);
        assert_eq!(sources.secret_key("nope", "user"), None);
    }
}
