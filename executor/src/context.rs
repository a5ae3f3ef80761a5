//! What a container of the pod knows about its node: read once from the
//! environment the pod builder set (see [`sluice_engine::protocol`]).

use std::path::{Path, PathBuf};

use sluice_api::types::Template;
use sluice_engine::protocol as p;
use sluice_engine::result::ResultOwner;

/// The executor's view of its pod.
#[derive(Clone, Debug)]
pub struct Context {
    /// Root of the shared volume (`/var/run/sluice`).
    pub var_run: PathBuf,
    /// Root of the input-artifacts volume as `init` sees it.
    pub inputs_dir: PathBuf,
    /// The resolved template this pod runs.
    pub template: Template,
    pub owner: ResultOwner,
    pub node_name: String,
    pub pod_name: String,
    /// Main containers, in order (`main` for container and script templates).
    pub main_containers: Vec<String>,
    pub sidecars: Vec<String>,
    /// When the main containers must be stopped (activeDeadlineSeconds).
    pub deadline: Option<chrono::DateTime<chrono::Utc>>,
    /// Capture `outputs.result` from the main container's stdout.
    pub capture_result: bool,
    /// Where the result goes in the local backend (else the Kubernetes API).
    pub result_file: Option<PathBuf>,
}

/// A missing or malformed environment variable.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {message}")]
pub struct EnvError {
    pub var: &'static str,
    pub message: String,
}

fn var(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn list(name: &'static str) -> Vec<String> {
    var(name)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

impl Context {
    /// Reads the environment.
    pub fn from_env() -> Result<Self, EnvError> {
        let var_run = var(p::ENV_VAR_RUN).map_or_else(|| PathBuf::from(p::VAR_RUN), PathBuf::from);
        let inputs_dir = var(p::ENV_INPUTS_DIR)
            .map_or_else(|| PathBuf::from(p::INPUT_ARTIFACTS_DIR), PathBuf::from);
        let template = read_template()?;
        let owner = ResultOwner {
            namespace: var(p::ENV_NAMESPACE).unwrap_or_else(|| "default".to_string()),
            workflow_name: var(p::ENV_WORKFLOW_NAME).unwrap_or_default(),
            workflow_uid: var(p::ENV_WORKFLOW_UID).unwrap_or_default(),
            node_id: var(p::ENV_NODE_ID).unwrap_or_default(),
        };
        let deadline = match var(p::ENV_DEADLINE) {
            None => None,
            Some(text) => Some(
                chrono::DateTime::parse_from_rfc3339(&text)
                    .map_err(|e| EnvError {
                        var: p::ENV_DEADLINE,
                        message: format!("{text:?} is not an RFC 3339 time: {e}"),
                    })?
                    .with_timezone(&chrono::Utc),
            ),
        };
        let mut main_containers = list(p::ENV_MAIN_CONTAINERS);
        if main_containers.is_empty() {
            main_containers.push("main".to_string());
        }
        Ok(Context {
            var_run,
            inputs_dir,
            template,
            node_name: var(p::ENV_NODE_NAME).unwrap_or_else(|| owner.node_id.clone()),
            owner,
            pod_name: var(p::ENV_POD_NAME).unwrap_or_default(),
            main_containers,
            sidecars: list(p::ENV_SIDECARS),
            deadline,
            capture_result: var(p::ENV_CAPTURE_RESULT).is_none_or(|v| v != "false"),
            result_file: var(p::ENV_RESULT_FILE).map(PathBuf::from),
        })
    }

    /// `ctr/<container>/<file>` under the shared volume.
    pub fn ctr_file(&self, container: &str, file: &str) -> PathBuf {
        self.var_run.join("ctr").join(container).join(file)
    }

    /// A path under the shared volume, given its absolute in-pod form
    /// (a constant of [`sluice_engine::protocol`]).
    pub fn shared(&self, in_pod: &str) -> PathBuf {
        let rel = in_pod
            .strip_prefix(p::VAR_RUN)
            .unwrap_or(in_pod)
            .trim_start_matches('/');
        self.var_run.join(rel)
    }

    /// The container whose outputs are the template's outputs: `main` when
    /// there is one, else the first main container.
    pub fn outputs_container(&self) -> &str {
        self.main_containers
            .iter()
            .find(|c| *c == "main")
            .or_else(|| self.main_containers.first())
            .map_or("main", String::as_str)
    }
}

fn read_template() -> Result<Template, EnvError> {
    let (var_name, text) = if let Some(text) = var(p::ENV_TEMPLATE) {
        (p::ENV_TEMPLATE, text)
    } else if let Some(file) = var(p::ENV_TEMPLATE_FILE) {
        let text = std::fs::read_to_string(Path::new(&file)).map_err(|e| EnvError {
            var: p::ENV_TEMPLATE_FILE,
            message: format!("cannot read {file}: {e}"),
        })?;
        (p::ENV_TEMPLATE_FILE, text)
    } else {
        return Err(EnvError {
            var: p::ENV_TEMPLATE,
            message: format!("not set (nor {})", p::ENV_TEMPLATE_FILE),
        });
    };
    let de = &mut serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(de).map_err(|e| EnvError {
        var: var_name,
        message: format!("not a template: {}: {}", e.path(), e.inner()),
    })
}
