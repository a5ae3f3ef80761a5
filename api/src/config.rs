//! The controller configuration, in the shape of Argo's
//! `workflow-controller-configmap`: the same keys, read from the same
//! ConfigMap layouts, so an Argo installation's configuration works as is.
//!
//! [`Config::from_yaml_str`] reads the configuration document,
//! [`Config::from_configmap`] the ConfigMap holding it, and
//! [`Config::validate`] reports what is wrong in it with field paths.
//! Settings Sluice does not model are kept as written (typed `Value`s or
//! [`Config::extra`]), so nothing is lost when a configuration is read and
//! written back.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use k8s_openapi::api::core::v1 as core;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::duration::{DurationError, parse_go_duration};
use crate::path::FieldPath;
use crate::types::{Amount, ArtifactRepository, Extra, Raw, Workflow};
use crate::validate::Severity;

mod checks;

/// An entry of the `images:` index: what a container without `command` runs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageEntry {
    /// The image's ENTRYPOINT.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entrypoint: Vec<String>,
    /// The image's CMD.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cmd: Vec<String>,
}

/// Who adds the Sluice executor to workflow pods (the Sluice key
/// `executorInjection`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ExecutorInjection {
    /// The controller builds pods with the executor in them (the default).
    #[default]
    Controller,
    /// The mutating webhook adds the executor when a pod is created, so pods
    /// built by other tools get it too.
    Webhook,
    /// A value that is neither; [`Config::validate`] reports it.
    Unknown(String),
}

impl ExecutorInjection {
    /// The values accepted, as written in the configuration.
    pub const VALUES: [&'static str; 2] = ["controller", "webhook"];

    /// The value as written.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Controller => "controller",
            Self::Webhook => "webhook",
            Self::Unknown(other) => other,
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "controller" => Self::Controller,
            "webhook" => Self::Webhook,
            other => Self::Unknown(other.to_owned()),
        }
    }
}

impl fmt::Display for ExecutorInjection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ExecutorInjection {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ExecutorInjection {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|s| Self::parse(&s))
    }
}

macro_rules! settings {
    ($(#[$doc:meta])* $name:ident { $( $(#[$fdoc:meta])* $field:ident : $ty:ty ),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            $(
                $(#[$fdoc])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
            /// Keys this version of Sluice does not know, kept as written.
            #[serde(flatten)]
            pub extra: Extra,
        }
    };
}

settings!(
    /// `nodeEvents`: Kubernetes events for node completions.
    NodeEvents {
        /// Emit them (default true).
        enabled: bool,
        /// Emit them as if from the pod rather than the workflow.
        send_as_pod: bool,
    }
);

settings!(
    /// `workflowEvents`: Kubernetes events for workflow phase changes.
    WorkflowEvents {
        /// Emit them (default true).
        enabled: bool,
    }
);

settings!(
    /// `retentionPolicy`: how many finished workflows to keep, by phase.
    RetentionPolicy {
        completed: i64,
        failed: i64,
        errored: i64,
    }
);

settings!(
    /// `resourceRateLimit`: how fast pods are created.
    ResourceRateLimit {
        /// Pods per second.
        limit: Amount,
        /// Pods allowed in a burst above the rate.
        burst: i64,
    }
);

settings!(
    /// `kubeConfig`: a kubeconfig for the executor, when the controller runs
    /// outside the cluster of its pods.
    KubeConfig {
        secret_name: String,
        secret_key: String,
        volume_name: String,
        mount_path: String,
    }
);

settings!(
    /// `workflowRestrictions`: which workflows the controller runs.
    WorkflowRestrictions {
        /// `Strict` (workflows must use `workflowTemplateRef`) or `Secure`
        /// (and the referenced spec must not change while running).
        template_referencing: String,
    }
);

settings!(
    /// `failedPodRestart`: recreate pods that failed before running (evicted,
    /// preempted) without a retry strategy.
    FailedPodRestart {
        enabled: bool,
        max_restarts: i64,
    }
);

/// `metricsConfig` and `telemetryConfig`: where and how metrics are served.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricsConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_legacy: Option<bool>,
    /// How long custom metrics are kept after their last update (a TTL:
    /// `10m`, `1d`).
    #[serde(
        rename = "metricsTTL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub metrics_ttl: Option<String>,
    /// URL path, starting with `/` (default `/metrics`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Port (default 9090).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_errors: Option<bool>,
    /// Serve over TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secure: Option<bool>,
    /// Per-metric adjustments, kept as written.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub modifiers: BTreeMap<String, Value>,
    /// `Cumulative` or `Delta`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temporality: Option<String>,
    /// Keys this version of Sluice does not know, kept as written.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The controller configuration: the `workflow-controller-configmap` of Argo,
/// plus the Sluice keys documented as such below.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    /// Where artifacts go when a workflow names no repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_repository: Option<Box<ArtifactRepository>>,
    /// Defaults for every workflow: the workflow is merged over them
    /// ([`crate::merge::merge_workflow_defaults`]). Its
    /// `spec.templateDefaults` are the defaults of every template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_defaults: Option<Box<Workflow>>,
    /// Customizes the executor's containers in workflow pods: `image`,
    /// `imagePullPolicy`, `resources`, `args`, `env`, `securityContext`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor: Option<Raw<core::Container>>,
    /// Defaults for every main container; the template's container is
    /// merged over them ([`crate::merge::merge_container_defaults`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main_container: Option<Raw<core::Container>>,
    /// Entrypoints of images used without `command`, by image reference:
    /// `images: {"argoproj/argosay:v2": {cmd: [/argosay]}}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub images: BTreeMap<String, ImageEntry>,
    /// Grace period, in seconds, of the pods the garbage collector deletes
    /// (default: Kubernetes' 30).
    #[serde(
        rename = "podGCGracePeriodSeconds",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub pod_gc_grace_period_seconds: Option<i64>,
    /// How long a pod waits in the garbage-collection queue before it is
    /// deleted, as a Go duration (default `5s`).
    #[serde(
        rename = "podGCDeleteDelayDuration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub pod_gc_delete_delay_duration: Option<String>,
    /// How many workflows run at once, in all (0 or unset: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<i64>,
    /// How many workflows run at once in one namespace (0 or unset: no
    /// limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_parallelism: Option<i64>,
    /// Only workflows labelled `workflows.argoproj.io/controller-instanceid`
    /// with this value are this controller's; unset, only unlabelled ones.
    #[serde(
        rename = "instanceID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub instance_id: Option<String>,
    /// Watch this namespace only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_config: Option<MetricsConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry_config: Option<MetricsConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_policy: Option<RetentionPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_events: Option<NodeEvents>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_events: Option<WorkflowEvents>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_rate_limit: Option<ResourceRateLimit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_config: Option<KubeConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_restrictions: Option<WorkflowRestrictions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_pod_restart: Option<FailedPodRestart>,
    /// Delay before a new workflow is first processed, as a Go duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_delay: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_agent_pod_creation: Option<bool>,
    /// Workflow archive database (kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence: Option<Value>,
    /// Database-backed semaphores and mutexes (kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synchronization: Option<Value>,
    /// Argo Server single sign-on (kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sso: Option<Value>,
    /// UI links (kept as written).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Value>,
    /// UI list columns (kept as written).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<Value>,
    /// UI navigation bar colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nav_color: Option<String>,
    /// Pod spec logging for debugging (kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_spec_log_strategy: Option<Value>,
    /// Artifact driver plugins (kept as written).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifact_drivers: Vec<Value>,
    /// Upstream's init-less pod layout (kept as written; Sluice's executor
    /// has its own layout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initless_pod: Option<Value>,
    /// Sluice key: who injects the executor into workflow pods,
    /// `controller` (the default: pods are built with it) or `webhook` (the
    /// mutating webhook adds it at pod creation). Both use the same
    /// injection, so the pods are the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_injection: Option<ExecutorInjection>,
    /// Keys this version of Sluice does not know, kept as written;
    /// [`Config::validate`] warns about them.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Every top-level key [`Config`] models, as written in the configuration.
pub const KNOWN_KEYS: [&str; 32] = [
    "artifactRepository",
    "workflowDefaults",
    "executor",
    "mainContainer",
    "images",
    "podGCGracePeriodSeconds",
    "podGCDeleteDelayDuration",
    "parallelism",
    "namespaceParallelism",
    "instanceID",
    "namespace",
    "metricsConfig",
    "telemetryConfig",
    "retentionPolicy",
    "nodeEvents",
    "workflowEvents",
    "resourceRateLimit",
    "kubeConfig",
    "workflowRestrictions",
    "failedPodRestart",
    "initialDelay",
    "disableAgentPodCreation",
    "persistence",
    "synchronization",
    "sso",
    "links",
    "columns",
    "navColor",
    "podSpecLogStrategy",
    "artifactDrivers",
    "initlessPod",
    "executorInjection",
];

/// Why a configuration could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Text that is not YAML. `path` is where the text came from: the root
    /// for [`Config::from_yaml_str`], `data.config` or `data.<key>` in a
    /// ConfigMap.
    #[error("{}invalid YAML: {message}", location_prefix(.path))]
    Yaml {
        path: FieldPath,
        message: String,
        line: Option<usize>,
        column: Option<usize>,
    },
    /// A setting whose value does not fit (`parallelism: ten`).
    #[error("{path}: {message}")]
    Shape { path: FieldPath, message: String },
    /// A ConfigMap laid out in a way Argo does not read.
    #[error("{path}: {message}")]
    ConfigMap { path: FieldPath, message: String },
}

fn location_prefix(path: &FieldPath) -> String {
    if path.is_root() {
        String::new()
    } else {
        format!("{path}: ")
    }
}

/// One finding of [`Config::validate`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConfigProblem {
    /// The setting, from the top of the configuration document
    /// (`metricsConfig.metricsTTL`).
    pub path: FieldPath,
    /// Errors make the configuration unusable; warnings do not.
    pub severity: Severity,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.severity, self.path, self.message)
    }
}

impl Config {
    /// Reads the configuration document (what a ConfigMap holds under
    /// `data.config`). Empty text is the default configuration.
    pub fn from_yaml_str(text: &str) -> Result<Self, ConfigError> {
        let value = parse_yaml(text, &FieldPath::root())?;
        Self::from_value(&value)
    }

    /// A configuration file's text: a ConfigMap (upstream's
    /// `workflow-controller-configmap`) or the configuration document
    /// itself; an empty file is the default configuration.
    pub fn from_file_text(text: &str) -> Result<Self, String> {
        let documents = crate::yaml::parse_documents(text).map_err(|e| e.to_string())?;
        match documents.as_slice() {
            [] => Ok(Config::default()),
            [document] => {
                let value = &document.value;
                let config = if value.get("kind").and_then(Value::as_str) == Some("ConfigMap") {
                    Config::from_configmap(value)
                } else {
                    Config::from_value(value)
                };
                config.map_err(|e| e.to_string())
            }
            more => Err(format!(
                "holds {} documents; give one configuration",
                more.len()
            )),
        }
    }

    /// Reads the configuration from `path`: a file (see
    /// [`Config::from_file_text`]) or a directory holding one file per
    /// ConfigMap key, as a ConfigMap mounted as a volume is (see
    /// [`Config::from_key_files`]).
    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let name = path.display();
        if !path.is_dir() {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: {e}"))?;
            return Self::from_file_text(&text).map_err(|e| format!("{name}: {e}"));
        }
        let entries = std::fs::read_dir(path).map_err(|e| format!("{name}: {e}"))?;
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| format!("{name}: {e}"))?;
            let key = entry.file_name().to_string_lossy().into_owned();
            // The kubelet's own entries (`..data`, `..2026_01_01_...`) hold
            // the same files again; the keys are the other names.
            if key.starts_with("..") {
                continue;
            }
            let file = entry.path();
            if file.is_dir() {
                return Err(format!(
                    "{}: a directory; a configuration directory holds one file per key",
                    file.display()
                ));
            }
            let text =
                std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            files.push((key, text));
        }
        Self::from_key_files(files).map_err(|e| format!("{name}: {e}"))
    }

    /// Reads the configuration from a ConfigMap's keys and values, as the
    /// files of a mounted ConfigMap volume give them (file name, text):
    /// the same layouts as [`Config::from_configmap`].
    pub fn from_key_files(
        files: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let data: serde_json::Map<String, Value> = files
            .into_iter()
            .map(|(key, text)| (key, Value::String(text)))
            .collect();
        Self::from_configmap(&serde_json::json!({ "data": data }))
    }

    /// Reads the configuration from a ConfigMap object as Argo does: either
    /// one key `config` holding the whole document, or one key per setting,
    /// each holding that setting's YAML (`parallelism: "10"`,
    /// `artifactRepository: |` followed by the repository). A ConfigMap
    /// without `data` is the default configuration.
    pub fn from_configmap(configmap: &Value) -> Result<Self, ConfigError> {
        let root = FieldPath::root();
        let Value::Object(object) = configmap else {
            return Err(ConfigError::ConfigMap {
                path: root,
                message: "expected a ConfigMap object".into(),
            });
        };
        if let Some(kind) = object.get("kind").and_then(Value::as_str)
            && kind != "ConfigMap"
        {
            return Err(ConfigError::ConfigMap {
                path: root.key("kind"),
                message: format!("expected a ConfigMap, found a {kind}"),
            });
        }
        let data_path = root.key("data");
        let data = match object.get("data") {
            None | Some(Value::Null) => return Ok(Self::default()),
            Some(Value::Object(data)) => data,
            Some(_) => {
                return Err(ConfigError::ConfigMap {
                    path: data_path,
                    message: "expected a map of keys to text".into(),
                });
            }
        };
        let text_of = |key: &str, value: &Value| match value {
            Value::String(text) => Ok(text.clone()),
            _ => Err(ConfigError::ConfigMap {
                path: data_path.key(key.to_owned()),
                message: "ConfigMap values are text; quote the value".into(),
            }),
        };
        if let Some(config) = data.get("config") {
            if data.len() != 1 {
                return Err(ConfigError::ConfigMap {
                    path: data_path,
                    message: "holds `config` and other keys; put every setting inside `config`, \
                              or give each setting its own key, not both"
                        .into(),
                });
            }
            let text = text_of("config", config)?;
            let value = parse_yaml(&text, &data_path.key("config"))?;
            return Self::from_value(&value);
        }
        let mut settings = serde_json::Map::new();
        for (key, value) in data {
            let text = text_of(key, value)?;
            settings.insert(key.clone(), parse_yaml(&text, &data_path.key(key.clone()))?);
        }
        Self::from_value(&Value::Object(settings))
    }

    /// Reads the configuration document already parsed into JSON.
    pub fn from_value(value: &Value) -> Result<Self, ConfigError> {
        match value {
            Value::Null => Ok(Self::default()),
            Value::Object(_) => {
                serde_path_to_error::deserialize(value).map_err(|err| ConfigError::Shape {
                    path: FieldPath::from_serde(err.path()),
                    message: err.inner().to_string(),
                })
            }
            other => Err(ConfigError::Shape {
                path: FieldPath::root(),
                message: format!(
                    "expected a map of settings, found {}",
                    match other {
                        Value::Array(_) => "a list",
                        _ => "a single value",
                    }
                ),
            }),
        }
    }

    /// Who injects the executor; `controller` when unset.
    pub fn executor_injection(&self) -> ExecutorInjection {
        self.executor_injection.clone().unwrap_or_default()
    }

    /// `podGCDeleteDelayDuration`, 5 seconds when unset.
    pub fn pod_gc_delete_delay(&self) -> Result<Duration, DurationError> {
        match &self.pod_gc_delete_delay_duration {
            None => Ok(Duration::from_secs(5)),
            Some(text) => parse_go_duration(text),
        }
    }

    /// The entrypoint index entry for an image, if it has one.
    pub fn image(&self, image: &str) -> Option<&ImageEntry> {
        self.images.get(image)
    }
}

fn parse_yaml(text: &str, path: &FieldPath) -> Result<Value, ConfigError> {
    serde_yaml_ng::from_str::<Value>(text).map_err(|e| {
        let location = e.location();
        ConfigError::Yaml {
            path: path.clone(),
            message: e.to_string(),
            line: location.as_ref().map(|l| l.line()),
            column: location.as_ref().map(|l| l.column()),
        }
    })
}

#[cfg(test)]
mod tests;
