//! [`Config::validate`]: what is wrong in a configuration, with the path of
//! the setting and what to do about it.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1 as core;
use serde_json::Value;

use super::{Config, ConfigProblem, ExecutorInjection, KNOWN_KEYS, MetricsConfig};
use crate::duration::{DurationError, parse_go_duration, parse_ttl};
use crate::merge::{self, Schema};
use crate::path::FieldPath;
use crate::types::{ArtifactRepository, Extra, Raw, Workflow};
use crate::validate::Severity;

/// Keys older Argo versions read and the current one rejects, with what to
/// do instead.
const RETIRED_KEYS: [(&str, &str); 8] = [
    ("executorImage", "set `executor.image` instead"),
    (
        "executorImagePullPolicy",
        "set `executor.imagePullPolicy` instead",
    ),
    ("executorResources", "set `executor.resources` instead"),
    (
        "containerRuntimeExecutor",
        "Argo 3.4 removed every executor but emissary, and Sluice has its own; remove it",
    ),
    (
        "containerRuntimeExecutors",
        "Argo 3.4 removed every executor but emissary, and Sluice has its own; remove it",
    ),
    (
        "kubeletInsecure",
        "the kubelet executor is gone (Argo 3.4); remove it",
    ),
    (
        "kubeletPort",
        "the kubelet executor is gone (Argo 3.4); remove it",
    ),
    ("featureFlags", "no longer read (Argo 3.0); remove it"),
];

impl Config {
    /// Everything wrong in the configuration, in document order of the
    /// checks: errors make it unusable, warnings (unknown or retired keys,
    /// images with nothing to run) do not.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut out = Problems::default();
        let root = FieldPath::root();
        self.check_keys(&mut out);
        if let Some(repository) = &self.artifact_repository {
            check_artifact_repository(repository, &root.key("artifactRepository"), &mut out);
        }
        if let Some(defaults) = &self.workflow_defaults {
            check_workflow_defaults(defaults, &root.key("workflowDefaults"), &mut out);
        }
        for (key, container) in [
            ("executor", &self.executor),
            ("mainContainer", &self.main_container),
        ] {
            if let Some(container) = container {
                check_container(container, &root.key(key), &mut out);
            }
        }
        for (image, entry) in &self.images {
            let path = root.key("images").key(image.clone());
            if image.trim().is_empty() {
                out.error(
                    path,
                    "empty image reference; write the image as pods name it",
                );
            } else if entry.entrypoint.is_empty() && entry.cmd.is_empty() {
                out.warning(
                    path,
                    "neither `entrypoint` nor `cmd`; give the image's ENTRYPOINT or CMD so \
                     containers without `command` can run",
                );
            }
        }
        for (key, value) in [
            ("podGCGracePeriodSeconds", self.pod_gc_grace_period_seconds),
            ("parallelism", self.parallelism),
            ("namespaceParallelism", self.namespace_parallelism),
        ] {
            out.non_negative(&root.key(key), value);
        }
        for (key, value) in [
            (
                "podGCDeleteDelayDuration",
                &self.pod_gc_delete_delay_duration,
            ),
            ("initialDelay", &self.initial_delay),
        ] {
            if let Some(text) = value {
                out.duration(root.key(key), parse_go_duration(text));
            }
        }
        if let Some(id) = &self.instance_id {
            check_label_value(id, &root.key("instanceID"), &mut out);
        }
        if let Some(namespace) = &self.namespace {
            check_namespace(namespace, &root.key("namespace"), &mut out);
        }
        for (key, metrics) in [
            ("metricsConfig", &self.metrics_config),
            ("telemetryConfig", &self.telemetry_config),
        ] {
            if let Some(metrics) = metrics {
                check_metrics(metrics, &root.key(key), &mut out);
            }
        }
        self.check_small_settings(&root, &mut out);
        if let Some(ExecutorInjection::Unknown(value)) = &self.executor_injection {
            out.error(
                root.key("executorInjection"),
                format!("unknown value {value:?}; use `controller` or `webhook`"),
            );
        }
        out.0
    }

    fn check_keys(&self, out: &mut Problems) {
        let root = FieldPath::root();
        for key in self.extra.keys() {
            let path = root.key(key.clone());
            if let Some((_, advice)) = RETIRED_KEYS.iter().find(|(retired, _)| retired == key) {
                out.warning(path, format!("no longer read; {advice}"));
            } else if let Some(close) = did_you_mean(key, &KNOWN_KEYS) {
                out.warning(path, format!("unknown setting; did you mean {close:?}?"));
            } else {
                out.warning(path, "unknown setting; it is kept but has no effect");
            }
        }
        let sections: [(&str, &Extra); 10] = [
            ("nodeEvents", opt_extra(&self.node_events, |s| &s.extra)),
            (
                "workflowEvents",
                opt_extra(&self.workflow_events, |s| &s.extra),
            ),
            (
                "retentionPolicy",
                opt_extra(&self.retention_policy, |s| &s.extra),
            ),
            (
                "resourceRateLimit",
                opt_extra(&self.resource_rate_limit, |s| &s.extra),
            ),
            ("kubeConfig", opt_extra(&self.kube_config, |s| &s.extra)),
            (
                "workflowRestrictions",
                opt_extra(&self.workflow_restrictions, |s| &s.extra),
            ),
            (
                "failedPodRestart",
                opt_extra(&self.failed_pod_restart, |s| &s.extra),
            ),
            (
                "metricsConfig",
                opt_extra(&self.metrics_config, |s| &s.extra),
            ),
            (
                "telemetryConfig",
                opt_extra(&self.telemetry_config, |s| &s.extra),
            ),
            (
                "artifactRepository",
                opt_extra(&self.artifact_repository, |s| &s.extra),
            ),
        ];
        for (section, extra) in sections {
            for key in extra.keys() {
                out.warning(
                    root.key(section).key(key.clone()),
                    "unknown setting; it is kept but has no effect",
                );
            }
        }
    }

    fn check_small_settings(&self, root: &FieldPath, out: &mut Problems) {
        if let Some(policy) = &self.retention_policy {
            let path = root.key("retentionPolicy");
            out.non_negative(&path.key("completed"), policy.completed);
            out.non_negative(&path.key("failed"), policy.failed);
            out.non_negative(&path.key("errored"), policy.errored);
        }
        if let Some(limit) = &self.resource_rate_limit {
            let path = root.key("resourceRateLimit");
            if limit
                .limit
                .as_ref()
                .is_some_and(|l| l.as_f64().is_none_or(|l| l < 0.0))
            {
                out.error(path.key("limit"), "must be zero or more (pods per second)");
            }
            out.non_negative(&path.key("burst"), limit.burst);
        }
        if let Some(restart) = &self.failed_pod_restart {
            out.non_negative(
                &root.key("failedPodRestart").key("maxRestarts"),
                restart.max_restarts,
            );
        }
        if let Some(kube) = &self.kube_config {
            let path = root.key("kubeConfig");
            for (key, value) in [
                ("secretName", &kube.secret_name),
                ("secretKey", &kube.secret_key),
            ] {
                if value.as_deref().is_none_or(str::is_empty) {
                    out.error(
                        path.key(key),
                        "required with `kubeConfig`; name the Secret holding the kubeconfig and its key",
                    );
                }
            }
        }
        if let Some(restrictions) = &self.workflow_restrictions
            && let Some(mode) = &restrictions.template_referencing
            && !matches!(mode.as_str(), "" | "Strict" | "Secure")
        {
            out.error(
                root.key("workflowRestrictions").key("templateReferencing"),
                format!("unknown value {mode:?}; use `Strict` or `Secure`"),
            );
        }
        if let Some(Value::Object(persistence)) = &self.persistence
            && let Some(Value::String(ttl)) = persistence.get("archiveTTL")
        {
            out.duration(root.key("persistence").key("archiveTTL"), parse_ttl(ttl));
        }
    }
}

fn opt_extra<T>(section: &Option<T>, extra: impl Fn(&T) -> &Extra) -> &Extra {
    static EMPTY: Extra = BTreeMap::new();
    section.as_ref().map_or(&EMPTY, extra)
}

/// The closest known key, when one is close enough to be a misspelling.
fn did_you_mean<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let lower = key.to_ascii_lowercase();
    known
        .iter()
        .map(|k| {
            (
                *k,
                strsim::normalized_damerau_levenshtein(&lower, &k.to_ascii_lowercase()),
            )
        })
        .filter(|(_, score)| *score >= 0.7)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(k, _)| k)
}

#[derive(Default)]
struct Problems(Vec<ConfigProblem>);

impl Problems {
    fn push(&mut self, path: FieldPath, severity: Severity, message: impl Into<String>) {
        self.0.push(ConfigProblem {
            path,
            severity,
            message: message.into(),
        });
    }

    fn error(&mut self, path: FieldPath, message: impl Into<String>) {
        self.push(path, Severity::Error, message);
    }

    fn warning(&mut self, path: FieldPath, message: impl Into<String>) {
        self.push(path, Severity::Warning, message);
    }

    fn non_negative(&mut self, path: &FieldPath, value: Option<i64>) {
        if let Some(value) = value.filter(|v| *v < 0) {
            self.error(path.clone(), format!("is {value}; it must be zero or more"));
        }
    }

    fn duration(&mut self, path: FieldPath, parsed: Result<Duration, DurationError>) {
        if let Err(err) = parsed {
            self.error(path, err.to_string());
        }
    }
}

/// The artifact drivers a repository may name; exactly one must be set.
fn check_artifact_repository(
    repository: &ArtifactRepository,
    path: &FieldPath,
    out: &mut Problems,
) {
    let drivers: Vec<&str> = [
        ("artifactory", repository.artifactory.is_some()),
        ("azure", repository.azure.is_some()),
        ("gcs", repository.gcs.is_some()),
        ("hdfs", repository.hdfs.is_some()),
        ("oss", repository.oss.is_some()),
        ("plugin", repository.plugin.is_some()),
        ("s3", repository.s3.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    let empty = *repository == ArtifactRepository::default();
    match drivers.as_slice() {
        [_] => {}
        [] if empty => {}
        [] => out.error(
            path.clone(),
            "no storage configured; set one of s3, gcs, azure, oss, hdfs, artifactory or plugin",
        ),
        several => out.error(
            path.clone(),
            format!(
                "{} are all set; a repository has exactly one storage, so keep one of them",
                several.join(", ")
            ),
        ),
    }
}

fn check_workflow_defaults(defaults: &Workflow, path: &FieldPath, out: &mut Problems) {
    let value = match serde_json::to_value(defaults) {
        Ok(value) => value,
        Err(err) => {
            out.error(path.clone(), format!("cannot be serialized: {err}"));
            return;
        }
    };
    for problem in merge::merge_key_problems(&value, Schema::Workflow) {
        let (inner, message) = match &problem {
            merge::MergeError::MissingMergeKey { path, key, .. } => (
                path.clone(),
                format!(
                    "no `{key}`; workflows are merged over these defaults by `{key}`, so add one"
                ),
            ),
            merge::MergeError::TypeMismatch {
                path,
                expected,
                found,
            } => (path.clone(), format!("expected {expected}, found {found}")),
            other => (FieldPath::root(), other.to_string()),
        };
        out.error(path.join(&inner), message);
    }
    let spec = &defaults.spec;
    let mut seen = BTreeMap::new();
    for (i, template) in spec.templates.iter().enumerate() {
        if let Some(first) = seen.insert(template.name.as_str(), i) {
            out.error(
                path.key("spec").key("templates").index(i).key("name"),
                format!(
                    "{:?} is also the name of templates[{first}]; template names must be unique",
                    template.name
                ),
            );
        }
    }
    if let Some(defaults) = &spec.template_defaults
        && !defaults.name.is_empty()
    {
        out.warning(
            path.key("spec").key("templateDefaults").key("name"),
            "template defaults apply to every template; a name here is ignored, remove it",
        );
    }
    if let Some(patch) = &spec.pod_spec_patch
        && !patch.contains("{{")
        && let Err(err) = merge::parse_pod_spec_patch(patch)
    {
        out.error(path.key("spec").key("podSpecPatch"), err.to_string());
    }
}

fn check_container(container: &Raw<core::Container>, path: &FieldPath, out: &mut Problems) {
    if !container.value().is_object() {
        out.error(
            path.clone(),
            "expected a container (a map of container fields)",
        );
        return;
    }
    // The name is the controller's to set; the typed view needs one.
    let mut value = container.value().clone();
    if let Value::Object(map) = &mut value {
        map.entry("name")
            .or_insert_with(|| Value::String("main".into()));
    }
    if let Err(err) = serde_path_to_error::deserialize::<_, core::Container>(&value) {
        out.error(
            path.join(&FieldPath::from_serde(err.path())),
            err.inner().to_string(),
        );
    }
}

fn check_metrics(metrics: &MetricsConfig, path: &FieldPath, out: &mut Problems) {
    if let Some(ttl) = &metrics.metrics_ttl {
        out.duration(path.key("metricsTTL"), parse_ttl(ttl));
    }
    if let Some(port) = metrics.port
        && !(0..=65_535).contains(&port)
    {
        out.error(
            path.key("port"),
            format!("{port} is not a port; use 1 to 65535"),
        );
    }
    if let Some(url_path) = &metrics.path
        && !url_path.is_empty()
        && !url_path.starts_with('/')
    {
        out.error(
            path.key("path"),
            format!("must start with `/`; write \"/{url_path}\""),
        );
    }
    if let Some(temporality) = &metrics.temporality
        && !matches!(temporality.as_str(), "" | "Cumulative" | "Delta")
    {
        out.error(
            path.key("temporality"),
            format!("unknown value {temporality:?}; use `Cumulative` or `Delta`"),
        );
    }
}

/// `instanceID` becomes a label value on every workflow and pod.
fn check_label_value(value: &str, path: &FieldPath, out: &mut Problems) {
    let bytes = value.as_bytes();
    let valid = bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && bytes.first().is_none_or(u8::is_ascii_alphanumeric)
        && bytes.last().is_none_or(u8::is_ascii_alphanumeric);
    if !valid {
        out.error(
            path.clone(),
            format!(
                "{value:?} cannot be a label value; use at most 63 letters, digits, `-`, `_` or `.`, \
                 starting and ending with a letter or digit"
            ),
        );
    }
}

fn check_namespace(value: &str, path: &FieldPath, out: &mut Problems) {
    let bytes = value.as_bytes();
    let valid = !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric);
    if !valid {
        out.error(
            path.clone(),
            format!(
                "{value:?} is not a namespace name; use at most 63 lower-case letters, digits or `-`, \
                 starting and ending with a letter or digit"
            ),
        );
    }
}
