//! Builds the pod that runs one node of a workflow, as upstream's controller
//! builds it (labels, annotations, volumes, scheduling, service accounts,
//! `podSpecPatch`), with the Sluice executor's environment in place.
//!
//! [`build_pod`] gives the pod without the executor containers;
//! [`crate::inject::inject_executor`] adds them. The split lets the
//! mutating webhook inject pods the controller built (`executorInjection:
//! webhook`), with the same result as the controller injecting them.
//!
//! # What `build_pod` leaves for `inject_executor`
//!
//! Everything inject needs is on the pod itself:
//! - every main container carries the executor environment: [`ENV_TEMPLATE`]
//!   (or [`ENV_TEMPLATE_FILE`] with the [`TEMPLATE_VOLUME`] mounted at
//!   [`TEMPLATE_DIR`]), [`ENV_NODE_ID`], [`ENV_NODE_NAME`],
//!   [`ENV_WORKFLOW_NAME`], [`ENV_WORKFLOW_UID`] (when the workflow has a
//!   uid), [`ENV_NAMESPACE`] and [`ENV_POD_NAME`] (downward API),
//!   [`ENV_DEADLINE`] (when the node has one), [`ENV_MAIN_CONTAINERS`] and
//!   [`ENV_SIDECARS`] (comma-separated names, possibly empty). Inject copies
//!   these ([`EXECUTOR_ENV`]) from the first main container to `init` and
//!   `wait`, and tells main containers from sidecars by the two lists;
//! - the secret volumes artifact drivers need are named after their secret
//!   and listed, comma-separated, in [`ANNOTATION_ARTIFACT_SECRETS`]; inject
//!   mounts each at `SECRETS_DIR/<secret>` in `init` and `wait` only;
//! - the input-artifacts volume [`INPUT_ARTIFACTS_VOLUME`] exists when the
//!   template has input artifacts; each main container mounts every input
//!   artifact at its `path` with `subPath: <artifact name>`;
//! - the executor's service-account token, when
//!   `executor.serviceAccountName` is set, is the volume
//!   [`EXECUTOR_TOKEN_VOLUME`].
//!
//! Commands are explicit: a container without `command` gets its image's
//! entrypoint (and `cmd` as args when it has no args) from the
//! configuration's `images:` index, or [`PodError::CommandUnknown`].

pub mod artifacts;
pub mod names;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde_json::{Map, Value, json};
use sluice_api::Config;
use sluice_api::merge::{
    MergeError, merge_container_defaults, merge_pod_spec, parse_pod_spec_patch,
};
use sluice_api::types::{API_VERSION, ArtifactLocation, Inputs, IntOrString, Template, Workflow};

use crate::protocol::{
    ANNOTATION_NODE_ID, ANNOTATION_NODE_NAME, ENV_DEADLINE, ENV_DEPENDENCIES, ENV_MAIN_CONTAINERS,
    ENV_NAMESPACE, ENV_NODE_ID, ENV_NODE_NAME, ENV_POD_NAME, ENV_SIDECARS, ENV_TEMPLATE,
    ENV_TEMPLATE_FILE, ENV_WORKFLOW_NAME, ENV_WORKFLOW_UID, INPUT_ARTIFACTS_VOLUME,
    LABEL_COMPLETED, LABEL_WORKFLOW, MAX_ENV_TEMPLATE, SCRIPT_PATH, TEMPLATE_DIR,
    TEMPLATE_FILE_NAME, TEMPLATE_VOLUME,
};
use crate::repository::{self, substitute_strings};

pub use names::{node_id, pod_name};

/// Name of the main container of container and script templates (and of a
/// container-set container without a name).
pub const MAIN_CONTAINER: &str = "main";
/// Annotation listing, comma-separated, the secret volumes the executor's
/// artifact drivers read (Sluice).
pub const ANNOTATION_ARTIFACT_SECRETS: &str = "sluice.dev/artifact-secrets";
/// The container `kubectl logs/exec` picks (as upstream).
pub const ANNOTATION_DEFAULT_CONTAINER: &str = "kubectl.kubernetes.io/default-container";
/// Label on the pods of exit handlers (as upstream).
pub const LABEL_ON_EXIT: &str = "workflows.argoproj.io/on-exit";
/// Label carrying the controller's `instanceID` (as upstream).
pub const LABEL_INSTANCE_ID: &str = "workflows.argoproj.io/controller-instanceid";
/// Volume of the executor's service-account token (as upstream).
pub const EXECUTOR_TOKEN_VOLUME: &str = "exec-sa-token";
/// Where the executor containers mount that token.
pub const SERVICE_ACCOUNT_TOKEN_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The environment variables build_pod puts on main containers and inject
/// copies to the executor's containers.
pub const EXECUTOR_ENV: [&str; 11] = [
    ENV_TEMPLATE,
    ENV_TEMPLATE_FILE,
    ENV_NODE_ID,
    ENV_NODE_NAME,
    ENV_WORKFLOW_NAME,
    ENV_WORKFLOW_UID,
    ENV_NAMESPACE,
    ENV_POD_NAME,
    ENV_DEADLINE,
    ENV_MAIN_CONTAINERS,
    ENV_SIDECARS,
];

/// What a pod is built with besides the workflow and the node.
#[derive(Clone, Copy, Debug)]
pub struct PodContext<'a> {
    pub config: &'a Config,
    /// The workflow's artifact repository as a location template
    /// ([`repository::resolve_location`]): its key format is substituted for
    /// the pod and it becomes the template's `archiveLocation` when the
    /// template has none and needs one.
    pub artifact_repository: Option<&'a ArtifactLocation>,
    /// The token secret of the executor's service account, as the backend
    /// found it; `<account>.service-account-token` (upstream's default)
    /// when `None`.
    pub executor_token_secret: Option<&'a str>,
}

impl<'a> PodContext<'a> {
    /// A context with no repository.
    pub fn new(config: &'a Config) -> Self {
        Self {
            config,
            artifact_repository: None,
            executor_token_secret: None,
        }
    }
}

/// The node a pod runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodNode {
    pub id: String,
    /// The node's name (`wf[0].step`).
    pub name: String,
    /// The template's name, part of the pod name (may be empty).
    pub template_name: String,
    /// RFC 3339 time after which the executor stops the main containers.
    pub deadline: Option<String>,
    /// The node runs an exit handler: the pod gets the on-exit label and
    /// ignores the workflow's `activeDeadlineSeconds`.
    pub on_exit: bool,
}

impl PodNode {
    /// The node `node_name` of the workflow, its id computed as upstream.
    pub fn new(workflow_name: &str, node_name: &str, template_name: &str) -> Self {
        Self {
            id: node_id(workflow_name, node_name),
            name: node_name.to_owned(),
            template_name: template_name.to_owned(),
            deadline: None,
            on_exit: false,
        }
    }
}

/// A built pod, and the ConfigMap holding its template when the template is
/// too large for an environment variable (create it before the pod).
#[derive(Clone, Debug, PartialEq)]
pub struct BuiltPod {
    pub pod: Pod,
    pub template_config_map: Option<ConfigMap>,
}

/// Why a pod could not be built.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PodError {
    /// A template of a kind that does not run in a pod.
    #[error("template {template}: a {kind} template does not run in a pod")]
    NotAPod {
        template: String,
        kind: &'static str,
    },
    /// A container without `command` whose image is not in `images:`.
    #[error("command unknown for image {0}: set command or add the image to images:")]
    CommandUnknown(String),
    /// A volume mount naming no volume of the template or workflow.
    #[error("template {template}: volume '{volume}' not found in workflow spec")]
    VolumeNotFound { template: String, volume: String },
    /// A `podSpecPatch` that could not be applied.
    #[error("template {template}: error applying podSpecPatch: {error}")]
    PodSpecPatch { template: String, error: MergeError },
    /// Anything else wrong with the template for a pod.
    #[error("template {template}: {message}")]
    Invalid { template: String, message: String },
}

fn kind_of(t: &Template) -> &'static str {
    if !t.steps.is_empty() {
        "steps"
    } else if t.dag.is_some() {
        "dag"
    } else if t.suspend.is_some() {
        "suspend"
    } else if t.resource.is_some() {
        "resource"
    } else if t.http.is_some() {
        "http"
    } else if t.plugin.is_some() {
        "plugin"
    } else if t.data.is_some() {
        "data"
    } else {
        "empty"
    }
}

fn env(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}

fn field_env(name: &str, path: &str) -> Value {
    json!({"name": name, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": path}}})
}

fn name_of(container: &Value) -> &str {
    container.get("name").and_then(Value::as_str).unwrap_or("")
}

/// Appends to the list `field` of an object value.
fn push(object: &mut Value, field: &str, items: impl IntoIterator<Item = Value>) {
    let Value::Object(map) = object else { return };
    let list = map
        .entry(field.to_owned())
        .or_insert_with(|| Value::Array(Vec::new()));
    if !list.is_array() {
        *list = Value::Array(Vec::new());
    }
    if let Value::Array(list) = list {
        list.extend(items);
    }
}

fn mounts(container: &Value) -> Vec<Value> {
    container
        .get("volumeMounts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn clean_path(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

/// Builds the pod (without the executor) running `node` with the resolved
/// `template`.
pub fn build_pod(
    ctx: &PodContext,
    workflow: &Workflow,
    node: &PodNode,
    template: &Template,
) -> Result<BuiltPod, PodError> {
    let tname = if template.name.is_empty() {
        node.template_name.clone()
    } else {
        template.name.clone()
    };
    let invalid = |message: String| PodError::Invalid {
        template: tname.clone(),
        message,
    };
    if template.container.is_none() && template.script.is_none() && template.container_set.is_none()
    {
        return Err(PodError::NotAPod {
            template: tname,
            kind: kind_of(template),
        });
    }
    let spec = &workflow.spec;
    let wf_name = workflow.metadata.name.clone().unwrap_or_default();
    let namespace = workflow.metadata.namespace.clone();
    let pod_name = pod_name(&wf_name, &node.name, &node.template_name, &node.id);

    // `{{pod.name}}` is known only now (upstream substitutes it last).
    let pod_lookup = |name: &str| (name == "pod.name").then(|| pod_name.clone());
    let mut tmpl_value = serde_json::to_value(template).map_err(|e| invalid(e.to_string()))?;
    substitute_strings(&mut tmpl_value, &pod_lookup).map_err(&invalid)?;
    let mut tmpl: Template =
        serde_json::from_value(tmpl_value).map_err(|e| invalid(e.to_string()))?;

    set_archive_location(ctx, workflow, &pod_name, &mut tmpl)
        .map_err(|e| invalid(e.to_string()))?;

    // Main containers, the configuration's defaults under each.
    let mut mains: Vec<Value> = Vec::new();
    if let Some(container) = &tmpl.container {
        mains.push(container.value().clone());
    } else if let Some(script) = &tmpl.script {
        let mut container = script.container.value().clone();
        if script.source.as_deref().is_some_and(|s| !s.is_empty()) {
            push(&mut container, "args", [Value::String(SCRIPT_PATH.into())]);
        }
        container.as_object_mut().map(|c| c.remove("source"));
        mains.push(container);
    } else if let Some(set) = &tmpl.container_set {
        for member in &set.containers {
            let mut container = member.container.value().clone();
            container.as_object_mut().map(|c| c.remove("dependencies"));
            if !member.dependencies.is_empty() {
                // The emissary waits for these to exit 0 before it starts.
                push(
                    &mut container,
                    "env",
                    [env(ENV_DEPENDENCIES, &member.dependencies.join(","))],
                );
            }
            push(
                &mut container,
                "volumeMounts",
                set.volume_mounts.iter().map(|m| m.value().clone()),
            );
            mains.push(container);
        }
    }
    let is_set = tmpl.container_set.is_some();
    for container in &mut mains {
        if !container.is_object() {
            return Err(invalid("the container is not an object".into()));
        }
        if !is_set || name_of(container).is_empty() {
            container["name"] = Value::String(MAIN_CONTAINER.into());
        }
        if let Some(defaults) = &ctx.config.main_container {
            *container = merge_container_defaults(container, defaults.value())
                .map_err(|e| invalid(format!("mainContainer defaults: {e}")))?;
        }
    }
    let main_names: Vec<String> = mains.iter().map(|c| name_of(c).to_owned()).collect();

    // Volumes: the template's, then those of the workflow its mounts name.
    let mut volumes: Vec<Value> = tmpl.volumes.iter().map(|v| v.value().clone()).collect();
    let claim_volumes: Vec<Value> = spec
        .volume_claim_templates
        .iter()
        .filter_map(|claim| {
            let name = claim.value().get("metadata")?.get("name")?.as_str()?;
            Some(json!({"name": name, "persistentVolumeClaim": {"claimName": format!("{wf_name}-{name}")}}))
        })
        .collect();
    let user_mounts: Vec<Value> = mains
        .iter()
        .flat_map(mounts)
        .chain(
            tmpl.init_containers
                .iter()
                .flat_map(|c| mounts(c.container.value())),
        )
        .chain(
            tmpl.sidecars
                .iter()
                .flat_map(|c| mounts(c.container.value())),
        )
        .collect();
    for mount in &user_mounts {
        let volume = name_of(mount);
        if volumes.iter().any(|v| name_of(v) == volume) {
            continue;
        }
        let found = spec
            .volumes
            .iter()
            .map(|v| v.value())
            .chain(claim_volumes.iter())
            .find(|v| name_of(v) == volume);
        match found {
            Some(v) => volumes.push(v.clone()),
            None => {
                return Err(PodError::VolumeNotFound {
                    template: tname,
                    volume: volume.to_owned(),
                });
            }
        }
    }

    // Secrets the artifact drivers read.
    let archive = tmpl
        .archive_location
        .as_ref()
        .map(serde_json::to_value)
        .transpose();
    let archive = archive.map_err(|e| invalid(e.to_string()))?;
    let outputs = tmpl
        .outputs
        .as_ref()
        .map(|o| o.artifacts.clone())
        .unwrap_or_default();
    let inputs = tmpl
        .inputs
        .as_ref()
        .map(|i| i.artifacts.clone())
        .unwrap_or_default();
    let to_values = |arts: &[sluice_api::types::Artifact]| -> Result<Vec<Value>, PodError> {
        arts.iter()
            .map(|a| serde_json::to_value(a).map_err(|e| invalid(e.to_string())))
            .collect()
    };
    let output_values = to_values(&outputs)?;
    let input_values = to_values(&inputs)?;
    let secret_refs = archive
        .iter()
        .chain(output_values.iter())
        .chain(input_values.iter())
        .flat_map(artifacts::secret_refs);
    let secret_volumes = artifacts::secret_volumes(secret_refs);
    let secret_names: Vec<String> = secret_volumes
        .iter()
        .map(|v| name_of(v).to_owned())
        .collect();
    for volume in secret_volumes {
        if volumes.iter().any(|v| name_of(v) == name_of(&volume)) {
            return Err(invalid(format!(
                "volume '{}' has the name of a secret an artifact reads; rename the volume",
                name_of(&volume)
            )));
        }
        volumes.push(volume);
    }

    // Input artifacts: loaded by `init` into one volume, mounted by path.
    if !inputs.is_empty() {
        volumes.push(json!({"name": INPUT_ARTIFACTS_VOLUME, "emptyDir": {}}));
        for container in &mut mains {
            let mut extra = Vec::new();
            for (artifact, value) in inputs.iter().zip(&input_values) {
                if artifact.optional == Some(true) && !artifacts::has_location_or_key(value) {
                    continue;
                }
                let Some(path) = artifact.path.as_deref().filter(|p| !p.is_empty()) else {
                    return Err(invalid(format!(
                        "inputs.artifacts.{}: path is required",
                        artifact.name
                    )));
                };
                extra.push(json!({
                    "name": INPUT_ARTIFACTS_VOLUME,
                    "mountPath": clean_path(path),
                    "subPath": artifact.name,
                }));
            }
            push(container, "volumeMounts", extra);
        }
    }

    // User init containers and sidecars, mirroring the main mounts if asked.
    let mirror_source = mains
        .iter()
        .find(|c| name_of(c) == MAIN_CONTAINER)
        .or(mains.first())
        .map(mounts)
        .unwrap_or_default();
    let user = |list: &[sluice_api::types::UserContainer]| -> Vec<Value> {
        list.iter()
            .map(|c| {
                let mut container = c.container.value().clone();
                container
                    .as_object_mut()
                    .map(|o| o.remove("mirrorVolumeMounts"));
                if c.mirror_volume_mounts == Some(true) {
                    push(&mut container, "volumeMounts", mirror_source.clone());
                }
                container
            })
            .collect()
    };
    let init_containers = user(&tmpl.init_containers);
    let sidecars = user(&tmpl.sidecars);
    let sidecar_names: Vec<String> = sidecars.iter().map(|c| name_of(c).to_owned()).collect();

    // The template for the executor, without the (substituted) parameters.
    let mut for_executor = tmpl.clone();
    if let Some(inputs) = &tmpl.inputs {
        for_executor.inputs = Some(Inputs {
            artifacts: inputs.artifacts.clone(),
            ..Inputs::default()
        });
    }
    let template_json = serde_json::to_string(&for_executor).map_err(|e| invalid(e.to_string()))?;
    let large = template_json.len() > MAX_ENV_TEMPLATE;

    let mut executor_env = Vec::new();
    if large {
        executor_env.push(env(
            ENV_TEMPLATE_FILE,
            &format!("{TEMPLATE_DIR}/{TEMPLATE_FILE_NAME}"),
        ));
    } else {
        executor_env.push(env(ENV_TEMPLATE, &template_json));
    }
    executor_env.push(env(ENV_NODE_ID, &node.id));
    executor_env.push(env(ENV_NODE_NAME, &node.name));
    executor_env.push(env(ENV_WORKFLOW_NAME, &wf_name));
    if let Some(uid) = &workflow.metadata.uid {
        executor_env.push(env(ENV_WORKFLOW_UID, uid));
    }
    executor_env.push(field_env(ENV_NAMESPACE, "metadata.namespace"));
    executor_env.push(field_env(ENV_POD_NAME, "metadata.name"));
    if let Some(deadline) = &node.deadline {
        executor_env.push(env(ENV_DEADLINE, deadline));
    }
    executor_env.push(env(ENV_MAIN_CONTAINERS, &main_names.join(",")));
    executor_env.push(env(ENV_SIDECARS, &sidecar_names.join(",")));
    for container in &mut mains {
        push(container, "env", executor_env.clone());
        if large {
            push(
                container,
                "volumeMounts",
                [json!({"name": TEMPLATE_VOLUME, "mountPath": TEMPLATE_DIR, "readOnly": true})],
            );
        }
    }
    if large {
        volumes.push(json!({"name": TEMPLATE_VOLUME, "configMap": {"name": pod_name}}));
    }

    let mut pod_spec = Map::new();
    pod_spec.insert("restartPolicy".into(), "Never".into());
    let default_container = if main_names.iter().any(|n| n == MAIN_CONTAINER) {
        MAIN_CONTAINER.to_owned()
    } else {
        main_names.last().cloned().unwrap_or_default()
    };
    let mut containers = mains;
    containers.extend(sidecars);
    if !init_containers.is_empty() {
        pod_spec.insert("initContainers".into(), Value::Array(init_containers));
    }
    pod_spec.insert("containers".into(), Value::Array(containers));

    // activeDeadlineSeconds: the template's, else the workflow's (not for
    // exit handlers).
    let template_deadline = match &tmpl.active_deadline_seconds {
        None => None,
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(s)) => Some(s.trim().parse::<i64>().map_err(|_| {
            invalid(format!(
                "activeDeadlineSeconds {s:?} is not a whole number of seconds"
            ))
        })?),
    };
    let deadline = template_deadline.or(if node.on_exit {
        None
    } else {
        spec.active_deadline_seconds
    });
    if let Some(seconds) = deadline {
        pod_spec.insert("activeDeadlineSeconds".into(), seconds.into());
    }
    if !spec.image_pull_secrets.is_empty() {
        pod_spec.insert(
            "imagePullSecrets".into(),
            spec.image_pull_secrets
                .iter()
                .map(|s| s.value().clone())
                .collect(),
        );
    }
    if let Some(host_network) = spec.host_network {
        pod_spec.insert("hostNetwork".into(), host_network.into());
    }
    if let Some(policy) = &spec.dns_policy {
        pod_spec.insert("dnsPolicy".into(), policy.clone().into());
    }
    if let Some(dns) = &spec.dns_config {
        pod_spec.insert("dnsConfig".into(), dns.value().clone());
    }

    // Service accounts.
    if let Some(account) = tmpl
        .service_account_name
        .as_ref()
        .or(spec.service_account_name.as_ref())
    {
        pod_spec.insert("serviceAccountName".into(), account.clone().into());
    }
    let automount = tmpl
        .automount_service_account_token
        .or(spec.automount_service_account_token);
    if automount == Some(false) {
        pod_spec.insert("automountServiceAccountToken".into(), false.into());
    }
    let executor_account = tmpl
        .executor
        .as_ref()
        .and_then(|e| e.service_account_name.clone())
        .filter(|s| !s.is_empty())
        .or_else(|| {
            spec.executor
                .as_ref()
                .and_then(|e| e.service_account_name.clone())
                .filter(|s| !s.is_empty())
        });
    match executor_account {
        Some(account) => {
            let secret = ctx
                .executor_token_secret
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{account}.service-account-token"));
            volumes.push(json!({"name": EXECUTOR_TOKEN_VOLUME, "secret": {"secretName": secret}}));
        }
        None if automount == Some(false) => {
            return Err(invalid(
                "executor.serviceAccountName must not be empty if automountServiceAccountToken is false".into(),
            ));
        }
        None => {}
    }

    // Scheduling: the template's, else the workflow's.
    if !tmpl.node_selector.is_empty() {
        pod_spec.insert("nodeSelector".into(), json!(tmpl.node_selector));
    } else if !spec.node_selector.is_empty() {
        pod_spec.insert("nodeSelector".into(), json!(spec.node_selector));
    }
    if let Some(affinity) = tmpl.affinity.as_ref().or(spec.affinity.as_ref()) {
        pod_spec.insert("affinity".into(), affinity.value().clone());
    }
    let tolerations = if tmpl.tolerations.is_empty() {
        &spec.tolerations
    } else {
        &tmpl.tolerations
    };
    if !tolerations.is_empty() {
        pod_spec.insert(
            "tolerations".into(),
            tolerations.iter().map(|t| t.value().clone()).collect(),
        );
    }
    if let Some(scheduler) = tmpl
        .scheduler_name
        .as_ref()
        .or(spec.scheduler_name.as_ref())
    {
        pod_spec.insert("schedulerName".into(), scheduler.clone().into());
    }
    if let Some(class) = tmpl
        .priority_class_name
        .as_ref()
        .or(spec.pod_priority_class_name.as_ref())
    {
        pod_spec.insert("priorityClassName".into(), class.clone().into());
    }
    let aliases: Vec<Value> = spec
        .host_aliases
        .iter()
        .chain(&tmpl.host_aliases)
        .map(|a| a.value().clone())
        .collect();
    if !aliases.is_empty() {
        pod_spec.insert("hostAliases".into(), Value::Array(aliases));
    }
    if let Some(context) = tmpl
        .security_context
        .as_ref()
        .or(spec.security_context.as_ref())
    {
        pod_spec.insert("securityContext".into(), context.value().clone());
    }
    if let Some(resources) = tmpl.pod_resources.as_ref().or(spec.pod_resources.as_ref()) {
        pod_spec.insert("resources".into(), resources.value().clone());
    }
    let claims = if tmpl.resource_claims.is_empty() {
        &spec.resource_claims
    } else {
        &tmpl.resource_claims
    };
    if !claims.is_empty() {
        pod_spec.insert(
            "resourceClaims".into(),
            claims.iter().map(|c| c.value().clone()).collect(),
        );
    }
    pod_spec.insert("volumes".into(), Value::Array(volumes));

    // podSpecPatch: the workflow's, then the template's.
    let mut pod_spec = Value::Object(pod_spec);
    let patches = [spec.pod_spec_patch.clone(), tmpl.pod_spec_patch.clone()];
    for text in patches.into_iter().flatten() {
        let patch_error = |error| PodError::PodSpecPatch {
            template: tname.clone(),
            error,
        };
        let mut patch = parse_pod_spec_patch(&text).map_err(patch_error)?;
        substitute_strings(&mut patch, &pod_lookup).map_err(&invalid)?;
        pod_spec = merge_pod_spec(&pod_spec, &patch).map_err(patch_error)?;
    }

    // Explicit commands for every container the executor wraps.
    if let Some(containers) = pod_spec.get_mut("containers").and_then(Value::as_array_mut) {
        for container in containers {
            let name = name_of(container).to_owned();
            if main_names.contains(&name) || sidecar_names.contains(&name) {
                resolve_command(ctx.config, container)?;
            }
        }
    }

    // Metadata.
    let mut labels = BTreeMap::from([
        (LABEL_WORKFLOW.to_owned(), wf_name.clone()),
        (LABEL_COMPLETED.to_owned(), "false".to_owned()),
    ]);
    if let Some(instance) = ctx.config.instance_id.as_ref().filter(|s| !s.is_empty()) {
        labels.insert(LABEL_INSTANCE_ID.to_owned(), instance.clone());
    }
    if node.on_exit {
        labels.insert(LABEL_ON_EXIT.to_owned(), "true".to_owned());
    }
    let mut annotations = BTreeMap::from([
        (ANNOTATION_NODE_NAME.to_owned(), node.name.clone()),
        (ANNOTATION_NODE_ID.to_owned(), node.id.clone()),
        (ANNOTATION_DEFAULT_CONTAINER.to_owned(), default_container),
    ]);
    for metadata in [spec.pod_metadata.as_ref(), tmpl.metadata.as_ref()]
        .into_iter()
        .flatten()
    {
        labels.extend(metadata.labels.clone());
        annotations.extend(metadata.annotations.clone());
    }
    if !secret_names.is_empty() {
        annotations.insert(
            ANNOTATION_ARTIFACT_SECRETS.to_owned(),
            secret_names.join(","),
        );
    }
    let owner = workflow.metadata.uid.as_ref().map(|uid| OwnerReference {
        api_version: API_VERSION.to_owned(),
        kind: "Workflow".to_owned(),
        name: wf_name.clone(),
        uid: uid.clone(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    });

    let spec_typed =
        serde_json::from_value(pod_spec).map_err(|e| invalid(format!("pod spec: {e}")))?;
    let pod = Pod {
        metadata: ObjectMeta {
            name: Some(pod_name.clone()),
            namespace: namespace.clone(),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: owner.clone().map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        spec: Some(spec_typed),
        status: None,
    };
    let template_config_map = large.then(|| ConfigMap {
        metadata: ObjectMeta {
            name: Some(pod_name.clone()),
            namespace,
            labels: Some(BTreeMap::from([(
                LABEL_WORKFLOW.to_owned(),
                wf_name.clone(),
            )])),
            annotations: Some(BTreeMap::from([
                (ANNOTATION_NODE_NAME.to_owned(), node.name.clone()),
                (ANNOTATION_NODE_ID.to_owned(), node.id.clone()),
            ])),
            owner_references: owner.map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(
            TEMPLATE_FILE_NAME.to_owned(),
            template_json,
        )])),
        ..ConfigMap::default()
    });
    Ok(BuiltPod {
        pod,
        template_config_map,
    })
}

/// Sets the template's `archiveLocation` from the repository when it has
/// none and needs one (logs to archive, or an artifact without a location),
/// as upstream's `addArchiveLocation`.
fn set_archive_location(
    ctx: &PodContext,
    workflow: &Workflow,
    pod_name: &str,
    tmpl: &mut Template,
) -> Result<(), repository::RepositoryError> {
    let current = tmpl
        .archive_location
        .as_ref()
        .map(serde_json::to_value)
        .transpose();
    let current = current.map_err(|e| repository::RepositoryError::KeyFormat(e.to_string()))?;
    if current.as_ref().is_some_and(artifacts::has_location) {
        return Ok(());
    }
    let repository_logs = ctx.artifact_repository.and_then(|r| r.archive_logs) == Some(true);
    let archive_logs = repository_logs
        || tmpl
            .archive_location
            .as_ref()
            .and_then(|l| l.archive_logs)
            .or(workflow.spec.archive_logs)
            .unwrap_or(false);
    let artifacts = tmpl
        .inputs
        .iter()
        .flat_map(|i| &i.artifacts)
        .chain(tmpl.outputs.iter().flat_map(|o| &o.artifacts));
    let mut need = archive_logs;
    for artifact in artifacts {
        let value = serde_json::to_value(artifact)
            .map_err(|e| repository::RepositoryError::KeyFormat(e.to_string()))?;
        if !artifacts::has_location(&value) {
            need = true;
        }
    }
    if !need {
        return Ok(());
    }
    if let Some(location) = ctx.artifact_repository {
        let mut location = repository::substitute_location(location, workflow, pod_name)?;
        location.archive_logs = Some(archive_logs);
        tmpl.archive_location = Some(Box::new(location));
    }
    Ok(())
}

/// Gives a container without `command` its image's entrypoint (and `cmd` as
/// args when it has no args) from the `images:` index.
fn resolve_command(config: &Config, container: &mut Value) -> Result<(), PodError> {
    let has_command = container
        .get("command")
        .and_then(Value::as_array)
        .is_some_and(|c| !c.is_empty());
    if has_command {
        return Ok(());
    }
    let image = container
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let Some(entry) = config.image(&image) else {
        return Err(PodError::CommandUnknown(image));
    };
    let has_args = container.get("args").is_some_and(|a| !a.is_null());
    if entry.entrypoint.is_empty() && entry.cmd.is_empty() && !has_args {
        return Err(PodError::CommandUnknown(image));
    }
    if !entry.entrypoint.is_empty() {
        container["command"] = json!(entry.entrypoint);
    }
    if !has_args && !entry.cmd.is_empty() {
        container["args"] = json!(entry.cmd);
    }
    Ok(())
}
