//! The Helm chart (charts/sluice) rendered by the real `helm` binary, for
//! the tests that install what it renders on the real API server.
//!
//! ```no_run
//! # fn f() -> Result<(), sluice_e2e::chart::ChartError> {
//! let objects = sluice_e2e::chart::template("demo", "sluice", &["--set", "namespaced=true"])?;
//! # Ok(()) }
//! ```

use std::ffi::OsStr;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};

use serde::Deserialize as _;
use serde_json::Value;

/// What can go wrong running helm.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error(
        "helm not found: neither {} nor `helm` on PATH; run scripts/install-helm",
        .workspace.display()
    )]
    HelmMissing { workspace: PathBuf },
    #[error("{command}: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("{command} failed ({status}):\n{stderr}")]
    Failed {
        command: String,
        status: ExitStatus,
        stderr: String,
    },
    #[error("{command}: the rendered manifests are not YAML: {message}")]
    Yaml { command: String, message: String },
}

impl ChartError {
    /// What helm printed on failure (empty for other errors).
    pub fn stderr(&self) -> &str {
        match self {
            Self::Failed { stderr, .. } => stderr,
            _ => "",
        }
    }
}

/// The repository checkout this crate is part of.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The chart's directory.
pub fn chart_dir() -> PathBuf {
    workspace().join("charts/sluice")
}

/// The helm binary: `<workspace>/.tools/bin/helm` (what scripts/install-helm
/// installs), else `helm` on PATH.
pub fn helm() -> Result<PathBuf, ChartError> {
    let installed = workspace().join(".tools/bin/helm");
    if installed.is_file() {
        return Ok(installed);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("helm"))
        .find(|candidate| candidate.is_file())
        .ok_or(ChartError::HelmMissing {
            workspace: installed,
        })
}

/// Runs helm with `args`; its standard output on success.
pub fn run_helm<S: AsRef<OsStr>>(args: &[S]) -> Result<String, ChartError> {
    let helm = helm()?;
    let command = std::iter::once(helm.display().to_string())
        .chain(
            args.iter()
                .map(|a| a.as_ref().to_string_lossy().into_owned()),
        )
        .collect::<Vec<_>>()
        .join(" ");
    let output = Command::new(&helm)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| ChartError::Spawn {
            command: command.clone(),
            source,
        })?;
    if !output.status.success() {
        return Err(ChartError::Failed {
            command,
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `helm template <release> charts/sluice --namespace <namespace> <args>`:
/// the rendered text.
pub fn template_text(release: &str, namespace: &str, args: &[&str]) -> Result<String, ChartError> {
    let chart = chart_dir();
    let mut all: Vec<&OsStr> = vec![
        OsStr::new("template"),
        OsStr::new(release),
        chart.as_os_str(),
        OsStr::new("--namespace"),
        OsStr::new(namespace),
    ];
    all.extend(args.iter().map(OsStr::new));
    run_helm(&all)
}

/// `helm template` (see [`template_text`]) parsed into one JSON object per
/// manifest, in helm's order; empty documents are left out.
pub fn template(release: &str, namespace: &str, args: &[&str]) -> Result<Vec<Value>, ChartError> {
    let text = template_text(release, namespace, args)?;
    parse_manifests(&text).map_err(|message| ChartError::Yaml {
        command: format!(
            "helm template {release} --namespace {namespace} {}",
            args.join(" ")
        ),
        message,
    })
}

/// Runs kubectl with `kubeconfig`, `stdin` as its input: what it printed
/// and its status (kubectl must be on PATH).
pub fn kubectl(kubeconfig: &Path, args: &[&str], stdin: &[u8]) -> std::io::Result<Output> {
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| std::io::Error::new(e.kind(), format!("kubectl: {e}")))?;
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin)?;
    }
    child.wait_with_output()
}

/// The manifests of a multi-document YAML text, without empty documents.
pub fn parse_manifests(text: &str) -> Result<Vec<Value>, String> {
    let mut objects = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        match Value::deserialize(document).map_err(|e| e.to_string())? {
            Value::Null => {}
            value => objects.push(value),
        }
    }
    Ok(objects)
}

/// The objects of one kind, in order.
pub fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

/// The one object of `kind` named `name`.
///
/// # Panics
///
/// When there is none: the tests use it to say what the chart lacks.
pub fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("the chart renders no {kind} {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_skip_empty_documents() {
        let text = "---\n# Source: a.yaml\n---\nkind: A\n---\n\n---\nkind: B\n";
        let objects = parse_manifests(text).expect("YAML");
        assert_eq!(objects.len(), 2);
        assert_eq!(of_kind(&objects, "B").len(), 1);
        assert!(parse_manifests("kind: [").is_err());
    }

    #[test]
    fn helm_failures_carry_its_message() {
        let err = run_helm(&["template", "no-such-chart-dir"]).expect_err("no chart there");
        assert!(matches!(err, ChartError::Failed { .. }), "{err:?}");
        assert!(err.stderr().contains("no-such-chart-dir"), "{err}");
    }
}
