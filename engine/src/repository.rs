//! Which artifact repository a workflow's pods use, and where in it a pod's
//! artifacts go, as upstream resolves them.
//!
//! - [`resolve`]: the workflow's `spec.artifactRepositoryRef` (a ConfigMap,
//!   `artifact-repositories` by default, and a key in it, by default the one
//!   its `workflows.argoproj.io/default-artifact-repository` annotation
//!   names), else the namespace's `artifact-repositories` ConfigMap when its
//!   default key is there, else the configuration's `artifactRepository`.
//! - [`to_location`]: the repository as the `archiveLocation` template a pod
//!   gets, its key still holding `{{workflow.name}}`/`{{pod.name}}`.
//! - [`substitute_location`]: that template made concrete for one pod.
//! - [`output_artifact_key`]: the key of one output artifact under it.
//!
//! Sluice extension: a repository with a `local: {}` entry (and optionally
//! `local: {keyFormat: ...}`) is the local backend's repository; its
//! location is `local: {key: <prefix>}`
//! ([`LOCAL_LOCATION_KEY`](crate::protocol::LOCAL_LOCATION_KEY)).

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use sluice_api::Config;
use sluice_api::types::{
    Artifact, ArtifactLocation, ArtifactRepository, ArtifactoryArtifact, AzureArtifact,
    GCSArtifact, HDFSArtifact, OSSArtifact, PluginArtifact, S3Artifact, Workflow,
};

use crate::protocol::LOCAL_LOCATION_KEY;

/// The ConfigMap a ref names when it names none.
pub const DEFAULT_CONFIG_MAP: &str = "artifact-repositories";
/// The annotation of that ConfigMap naming its default key.
pub const DEFAULT_KEY_ANNOTATION: &str = "workflows.argoproj.io/default-artifact-repository";
/// The key pattern of a repository without `keyFormat`.
pub const DEFAULT_KEY_FORMAT: &str = "{{workflow.name}}/{{pod.name}}";

/// What the caller's lookup returns for a ConfigMap.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigMapData {
    pub data: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// A resolved repository and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedRepository {
    pub repository: ArtifactRepository,
    /// The ConfigMap and key it was read from; `None` for the configuration's
    /// `artifactRepository`.
    pub source: Option<(String, String)>,
}

/// Why no repository could be resolved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RepositoryError {
    #[error("artifactRepositoryRef: configmap {config_map} not found")]
    ConfigMapNotFound { config_map: String },
    #[error(
        "artifactRepositoryRef: configmap {config_map} has no key {key:?} (set artifactRepositoryRef.key or annotate the configmap with {DEFAULT_KEY_ANNOTATION})"
    )]
    MissingKey { config_map: String, key: String },
    #[error("artifactRepositoryRef: configmap {config_map} key {key}: {message}")]
    Invalid {
        config_map: String,
        key: String,
        message: String,
    },
    #[error("artifact repository key format: {0}")]
    KeyFormat(String),
}

/// Resolves the workflow's artifact repository; `lookup` returns a ConfigMap
/// of the workflow's namespace by name.
pub fn resolve(
    workflow: &Workflow,
    config: &Config,
    lookup: &dyn Fn(&str) -> Option<ConfigMapData>,
) -> Result<Option<ResolvedRepository>, RepositoryError> {
    if let Some(reference) = &workflow.spec.artifact_repository_ref {
        let config_map = reference
            .config_map
            .clone()
            .unwrap_or_else(|| DEFAULT_CONFIG_MAP.to_owned());
        let Some(data) = lookup(&config_map) else {
            return Err(RepositoryError::ConfigMapNotFound { config_map });
        };
        let key = match &reference.key {
            Some(key) => key.clone(),
            None => data
                .annotations
                .get(DEFAULT_KEY_ANNOTATION)
                .cloned()
                .unwrap_or_default(),
        };
        return read(&config_map, &key, &data).map(Some);
    }
    if let Some(data) = lookup(DEFAULT_CONFIG_MAP) {
        let key = data
            .annotations
            .get(DEFAULT_KEY_ANNOTATION)
            .cloned()
            .unwrap_or_default();
        if data.data.contains_key(&key) {
            return read(DEFAULT_CONFIG_MAP, &key, &data).map(Some);
        }
    }
    Ok(config
        .artifact_repository
        .as_deref()
        .map(|repository| ResolvedRepository {
            repository: repository.clone(),
            source: None,
        }))
}

fn read(
    config_map: &str,
    key: &str,
    data: &ConfigMapData,
) -> Result<ResolvedRepository, RepositoryError> {
    let Some(text) = data.data.get(key) else {
        return Err(RepositoryError::MissingKey {
            config_map: config_map.to_owned(),
            key: key.to_owned(),
        });
    };
    let repository: ArtifactRepository =
        serde_yaml_ng::from_str(text).map_err(|e| RepositoryError::Invalid {
            config_map: config_map.to_owned(),
            key: key.to_owned(),
            message: e.to_string(),
        })?;
    Ok(ResolvedRepository {
        repository,
        source: Some((config_map.to_owned(), key.to_owned())),
    })
}

fn key_format(format: Option<&String>) -> String {
    match format {
        Some(format) if !format.is_empty() => format.clone(),
        _ => DEFAULT_KEY_FORMAT.to_owned(),
    }
}

/// The repository as an artifact location whose key is the repository's key
/// format (upstream's `ToArtifactLocation`), not yet substituted. `None` for
/// a repository of no kind Sluice knows.
pub fn to_location(repository: &ArtifactRepository) -> Option<ArtifactLocation> {
    let mut location = ArtifactLocation {
        archive_logs: repository.archive_logs,
        ..ArtifactLocation::default()
    };
    if let Some(s3) = &repository.s3 {
        let key = match &s3.key_format {
            Some(format) if !format.is_empty() => format.clone(),
            _ => join(s3.key_prefix.as_deref().unwrap_or(""), DEFAULT_KEY_FORMAT),
        };
        location.s3 = Some(S3Artifact {
            access_key_secret: s3.access_key_secret.clone(),
            addressing_style: s3.addressing_style.clone(),
            bucket: s3.bucket.clone(),
            ca_secret: s3.ca_secret.clone(),
            create_bucket_if_not_present: s3.create_bucket_if_not_present.clone(),
            encryption_options: s3.encryption_options.clone(),
            endpoint: s3.endpoint.clone(),
            insecure: s3.insecure,
            key: Some(key),
            region: s3.region.clone(),
            role_arn: s3.role_arn.clone(),
            secret_key_secret: s3.secret_key_secret.clone(),
            session_token_secret: s3.session_token_secret.clone(),
            use_sdk_creds: s3.use_sdk_creds,
            extra: s3.extra.clone(),
        });
    } else if let Some(oss) = &repository.oss {
        location.oss = Some(OSSArtifact {
            access_key_secret: oss.access_key_secret.clone(),
            bucket: oss.bucket.clone(),
            create_bucket_if_not_present: oss.create_bucket_if_not_present,
            endpoint: oss.endpoint.clone(),
            key: Some(key_format(oss.key_format.as_ref())),
            lifecycle_rule: oss.lifecycle_rule.clone(),
            secret_key_secret: oss.secret_key_secret.clone(),
            security_token: oss.security_token.clone(),
            use_sdk_creds: oss.use_sdk_creds,
            extra: oss.extra.clone(),
        });
    } else if let Some(gcs) = &repository.gcs {
        location.gcs = Some(GCSArtifact {
            bucket: gcs.bucket.clone(),
            key: Some(key_format(gcs.key_format.as_ref())),
            service_account_key_secret: gcs.service_account_key_secret.clone(),
            extra: gcs.extra.clone(),
        });
    } else if let Some(artifactory) = &repository.artifactory {
        let mut url = artifactory.repo_url.clone().unwrap_or_default();
        if !url.ends_with('/') {
            url.push('/');
        }
        url.push_str(&key_format(artifactory.key_format.as_ref()));
        location.artifactory = Some(ArtifactoryArtifact {
            password_secret: artifactory.password_secret.clone(),
            url: Some(url),
            username_secret: artifactory.username_secret.clone(),
            extra: artifactory.extra.clone(),
        });
    } else if let Some(azure) = &repository.azure {
        location.azure = Some(AzureArtifact {
            account_key_secret: azure.account_key_secret.clone(),
            blob: Some(key_format(azure.blob_name_format.as_ref())),
            container: azure.container.clone(),
            endpoint: azure.endpoint.clone(),
            use_sdk_creds: azure.use_sdk_creds,
            extra: azure.extra.clone(),
        });
    } else if let Some(hdfs) = &repository.hdfs {
        location.hdfs = Some(HDFSArtifact {
            addresses: hdfs.addresses.clone(),
            data_transfer_protection: hdfs.data_transfer_protection.clone(),
            force: hdfs.force,
            hdfs_user: hdfs.hdfs_user.clone(),
            krb_c_cache_secret: hdfs.krb_c_cache_secret.clone(),
            krb_config_config_map: hdfs.krb_config_config_map.clone(),
            krb_keytab_secret: hdfs.krb_keytab_secret.clone(),
            krb_realm: hdfs.krb_realm.clone(),
            krb_service_principal_name: hdfs.krb_service_principal_name.clone(),
            krb_username: hdfs.krb_username.clone(),
            path: Some(key_format(hdfs.path_format.as_ref())),
            extra: Default::default(),
        });
    } else if let Some(plugin) = &repository.plugin {
        location.plugin = Some(PluginArtifact {
            name: plugin.name.clone(),
            configuration: plugin.configuration.clone(),
            connection_timeout_seconds: None,
            key: Some(key_format(plugin.key_format.as_ref())),
            extra: Default::default(),
        });
    } else if let Some(local) = repository.extra.get(LOCAL_LOCATION_KEY) {
        let format = local
            .get("keyFormat")
            .and_then(Value::as_str)
            .filter(|f| !f.is_empty())
            .unwrap_or(DEFAULT_KEY_FORMAT);
        let mut entry = Map::new();
        entry.insert("key".into(), Value::String(format.to_owned()));
        location
            .extra
            .insert(LOCAL_LOCATION_KEY.to_owned(), Value::Object(entry));
    } else {
        return None;
    }
    Some(location)
}

/// `path.Join` of two key parts, as upstream joins keys.
fn join(prefix: &str, name: &str) -> String {
    let prefix = prefix.trim_end_matches('/');
    let name = name.trim_start_matches('/');
    match (prefix.is_empty(), name.is_empty()) {
        (true, _) => name.to_owned(),
        (false, true) => prefix.to_owned(),
        (false, false) => format!("{prefix}/{name}"),
    }
}

/// The variables a key format may use, for one pod of the workflow:
/// `workflow.name`, `workflow.namespace`, `workflow.uid`, `pod.name`,
/// `workflow.creationTimestamp` and its parts `.Y .m .d .H .M .S .y`.
pub fn key_variables(workflow: &Workflow, pod_name: &str) -> BTreeMap<String, String> {
    let meta = &workflow.metadata;
    let mut vars = BTreeMap::new();
    let mut put = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            vars.insert(k.to_owned(), v.to_owned());
        }
    };
    put("workflow.name", meta.name.as_deref());
    put("workflow.namespace", meta.namespace.as_deref());
    put("workflow.uid", meta.uid.as_deref());
    put("pod.name", Some(pod_name));
    if let Some(ts) = &meta.creation_timestamp {
        put("workflow.creationTimestamp", Some(ts));
        // RFC 3339: YYYY-MM-DDTHH:MM:SS...
        let parts = [
            ("Y", 0..4),
            ("y", 2..4),
            ("m", 5..7),
            ("d", 8..10),
            ("H", 11..13),
            ("M", 14..16),
            ("S", 17..19),
        ];
        if ts.len() >= 19 && ts.is_char_boundary(19) {
            for (letter, range) in parts {
                put(
                    &format!("workflow.creationTimestamp.{letter}"),
                    ts.get(range),
                );
            }
        }
    }
    vars
}

/// The location with the key variables of [`key_variables`] substituted in
/// every string of it; tags it does not know are left as written.
pub fn substitute_location(
    location: &ArtifactLocation,
    workflow: &Workflow,
    pod_name: &str,
) -> Result<ArtifactLocation, RepositoryError> {
    let vars = key_variables(workflow, pod_name);
    let mut value =
        serde_json::to_value(location).map_err(|e| RepositoryError::KeyFormat(e.to_string()))?;
    substitute_strings(&mut value, &|name| vars.get(name).cloned())
        .map_err(RepositoryError::KeyFormat)?;
    serde_json::from_value(value).map_err(|e| RepositoryError::KeyFormat(e.to_string()))
}

/// Substitutes simple tags in every string of a JSON value.
pub(crate) fn substitute_strings(
    value: &mut Value,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), String> {
    match value {
        Value::String(s) if s.contains("{{") => {
            *s = sluice_api::tags::substitute(s, lookup).map_err(|e| e.to_string())?;
        }
        Value::Array(items) => {
            for item in items {
                substitute_strings(item, lookup)?;
            }
        }
        Value::Object(map) => {
            for item in map.values_mut() {
                substitute_strings(item, lookup)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Resolves the repository and gives its location template (see
/// [`to_location`]), what [`crate::pod::PodContext::artifact_repository`]
/// takes.
pub fn resolve_location(
    workflow: &Workflow,
    config: &Config,
    lookup: &dyn Fn(&str) -> Option<ConfigMapData>,
) -> Result<Option<ArtifactLocation>, RepositoryError> {
    Ok(resolve(workflow, config, lookup)?.and_then(|r| to_location(&r.repository)))
}

/// The key of an output artifact under the pod's key `prefix`: `<name>.tgz`
/// (tar, the default), `<name>.zip` (zip), or the base name of the
/// artifact's path (`archive: none`), as upstream names the uploaded file.
pub fn output_artifact_key(prefix: &str, artifact: &Artifact) -> String {
    join(prefix, &output_file_name(artifact))
}

/// The file name an output artifact is stored under: `<name>.tgz` for tar
/// (the default), `<name>.zip` for zip, the path's base name for `none`.
pub fn output_file_name(artifact: &Artifact) -> String {
    let archive = artifact.archive.as_ref();
    if archive.is_some_and(|a| a.none.is_some()) {
        let path = artifact.path.as_deref().unwrap_or("").trim_end_matches('/');
        let base = path.rsplit('/').next().unwrap_or(path);
        if base.is_empty() {
            artifact.name.clone()
        } else {
            base.to_owned()
        }
    } else if archive.is_some_and(|a| a.zip.is_some()) {
        format!("{}.zip", artifact.name)
    } else {
        format!("{}.tgz", artifact.name)
    }
}
