//! Adds the Sluice executor to a workflow pod built by
//! [`crate::pod::build_pod`]: the `init` init container, the `emissary`
//! wrapper around every main and sidecar container, the `wait` container
//! and the shared volume. The controller and the mutating webhook call the
//! same function, so their pods are the same.
//!
//! Injection reads only the pod (see [`crate::pod`] for what `build_pod`
//! leaves on it) and the executor settings of the configuration, and marks
//! the pod with [`INJECTED_ANNOTATION`]; a marked pod is returned unchanged.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, Container, EmptyDirVolumeSource, EnvVar, Pod, ResourceRequirements,
    SeccompProfile, SecurityContext, Volume, VolumeMount,
};
use sluice_api::Config;
use sluice_api::config::ExecutorInjection;
use sluice_api::types::{Template, Workflow};

use crate::pod::{
    ANNOTATION_ARTIFACT_SECRETS, BuiltPod, EXECUTOR_ENV, EXECUTOR_TOKEN_VOLUME, PodContext,
    PodError, PodNode, SERVICE_ACCOUNT_TOKEN_PATH, build_pod,
};
use crate::protocol::{
    ENV_CONTAINER_NAME, ENV_MAIN_CONTAINERS, ENV_SIDECARS, EXECUTOR_PATH, EXECUTOR_VERSION,
    INJECTED_ANNOTATION, INPUT_ARTIFACTS_DIR, INPUT_ARTIFACTS_VOLUME, SECRETS_DIR, TEMPLATE_DIR,
    TEMPLATE_VOLUME, VAR_RUN, VAR_RUN_VOLUME,
};

/// The executor image when the configuration names none.
pub fn default_executor_image() -> String {
    format!("ghcr.io/sluice-dev/sluice-executor:{EXECUTOR_VERSION}")
}

/// The user the executor containers run as by default.
pub const EXECUTOR_UID: i64 = 8737;
/// Name of the executor's init container.
pub const INIT_CONTAINER: &str = "init";
/// Name of the executor's waiting container.
pub const WAIT_CONTAINER: &str = "wait";
/// The executor binary's name in its image (on its `PATH`).
pub const EXECUTOR_BINARY: &str = "sluice-executor";

/// The executor settings injection uses (the configuration's `executor`).
#[derive(Clone, Debug, PartialEq)]
pub struct InjectContext {
    pub image: String,
    pub image_pull_policy: Option<String>,
    /// Extra arguments of `init` and `wait`.
    pub args: Vec<String>,
    /// Extra environment of `init` and `wait`.
    pub env: Vec<EnvVar>,
    pub resources: Option<ResourceRequirements>,
    pub security_context: SecurityContext,
}

/// A security context meeting the Pod Security Standards' restricted
/// profile: non-root ([`EXECUTOR_UID`]), no privilege escalation, no
/// capabilities, the runtime's seccomp profile, a read-only root.
pub fn restricted_security_context() -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(EXECUTOR_UID),
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_owned()]),
            add: None,
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".to_owned(),
            localhost_profile: None,
        }),
        ..SecurityContext::default()
    }
}

impl InjectContext {
    /// From the configuration's `executor` container; fields it does not
    /// set (or sets to values of the wrong shape, which
    /// [`Config::validate`] reports) take the defaults.
    pub fn from_config(config: &Config) -> Self {
        fn field<T: serde::de::DeserializeOwned>(config: &Config, name: &str) -> Option<T> {
            let value = config.executor.as_ref()?.get(name)?.clone();
            serde_json::from_value(value).ok()
        }
        Self {
            image: field::<String>(config, "image")
                .filter(|s| !s.is_empty())
                .unwrap_or_else(default_executor_image),
            image_pull_policy: field(config, "imagePullPolicy"),
            args: field(config, "args").unwrap_or_default(),
            env: field(config, "env").unwrap_or_default(),
            resources: field(config, "resources"),
            security_context: field(config, "securityContext")
                .unwrap_or_else(restricted_security_context),
        }
    }
}

/// Whether the pod carries the executor.
pub fn is_injected(pod: &Pod) -> bool {
    pod.metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(INJECTED_ANNOTATION))
}

/// `Ok` when the pod carries the executor, else the message a backend puts
/// on the node.
pub fn require_injected(pod: &Pod) -> Result<(), String> {
    if is_injected(pod) {
        return Ok(());
    }
    let name = pod.metadata.name.as_deref().unwrap_or("<unnamed>");
    Err(format!(
        "pod {name} has no executor: the webhook did not inject it (executorInjection: webhook); \
         check the webhook is installed and its objectSelector matches workflow pods"
    ))
}

fn env_value(container: &Container, name: &str) -> Option<String> {
    container
        .env
        .as_ref()?
        .iter()
        .find(|e| e.name == name)
        .map(|e| e.value.clone().unwrap_or_default())
}

fn set_env(container: &mut Container, name: &str, value: &str) {
    let env = container.env.get_or_insert_with(Vec::new);
    let var = EnvVar {
        name: name.to_owned(),
        value: Some(value.to_owned()),
        value_from: None,
    };
    match env.iter_mut().find(|e| e.name == name) {
        Some(existing) => *existing = var,
        None => env.push(var),
    }
}

fn split_names(list: &str) -> Vec<String> {
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn add_mount(container: &mut Container, mount: VolumeMount) {
    let mounts = container.volume_mounts.get_or_insert_with(Vec::new);
    if !mounts.iter().any(|m| m.mount_path == mount.mount_path) {
        mounts.push(mount);
    }
}

fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.to_owned(),
        mount_path: path.to_owned(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    }
}

/// Adds the executor to the pod (see the module documentation); a pod
/// already marked is returned as is.
pub fn inject_executor(mut pod: Pod, ctx: &InjectContext) -> Pod {
    if is_injected(&pod) {
        return pod;
    }
    let secrets: Vec<String> = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_ARTIFACT_SECRETS))
        .map(|s| split_names(s))
        .unwrap_or_default();
    let spec = pod.spec.get_or_insert_with(Default::default);
    let volumes = spec.volumes.get_or_insert_with(Vec::new);
    if !volumes.iter().any(|v| v.name == VAR_RUN_VOLUME) {
        volumes.push(Volume {
            name: VAR_RUN_VOLUME.to_owned(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        });
    }
    let has_volume = |name: &str| volumes.iter().any(|v| v.name == name);
    let has_inputs = has_volume(INPUT_ARTIFACTS_VOLUME);
    let has_template = has_volume(TEMPLATE_VOLUME);
    let has_token = has_volume(EXECUTOR_TOKEN_VOLUME);
    let secrets: Vec<String> = secrets.into_iter().filter(|s| has_volume(s)).collect();

    // Which containers are main containers and which are sidecars.
    let declared = spec.containers.iter().find_map(|c| {
        Some((
            split_names(&env_value(c, ENV_MAIN_CONTAINERS)?),
            split_names(&env_value(c, ENV_SIDECARS).unwrap_or_default()),
        ))
    });
    let (mains, sidecars) = declared.unwrap_or_else(|| {
        (
            spec.containers.iter().map(|c| c.name.clone()).collect(),
            Vec::new(),
        )
    });
    let executor_env: Vec<EnvVar> = spec
        .containers
        .iter()
        .find(|c| mains.contains(&c.name))
        .and_then(|c| c.env.as_ref())
        .map(|env| {
            env.iter()
                .filter(|e| EXECUTOR_ENV.contains(&e.name.as_str()))
                .cloned()
                .collect()
        })
        .unwrap_or_default();

    let var_run = mount(VAR_RUN_VOLUME, VAR_RUN, false);
    for container in &mut spec.containers {
        if mains.contains(&container.name) || sidecars.contains(&container.name) {
            let mut command = vec![
                EXECUTOR_PATH.to_owned(),
                "emissary".to_owned(),
                "--".to_owned(),
            ];
            command.extend(container.command.take().unwrap_or_default());
            command.extend(container.args.take().unwrap_or_default());
            container.command = Some(command);
            let name = container.name.clone();
            set_env(container, ENV_CONTAINER_NAME, &name);
            set_env(container, ENV_MAIN_CONTAINERS, &mains.join(","));
            set_env(container, ENV_SIDECARS, &sidecars.join(","));
        }
        add_mount(container, var_run.clone());
    }
    for container in spec.init_containers.iter_mut().flatten() {
        add_mount(container, var_run.clone());
    }

    let executor = |name: &str, inputs: bool| {
        let mut env = ctx.env.clone();
        env.extend(executor_env.iter().cloned());
        let mut container = Container {
            name: name.to_owned(),
            image: Some(ctx.image.clone()),
            image_pull_policy: ctx.image_pull_policy.clone(),
            command: Some(vec![EXECUTOR_BINARY.to_owned(), name.to_owned()]),
            args: (!ctx.args.is_empty()).then(|| ctx.args.clone()),
            env: Some(env),
            resources: ctx.resources.clone(),
            security_context: Some(ctx.security_context.clone()),
            ..Container::default()
        };
        set_env(&mut container, ENV_CONTAINER_NAME, name);
        add_mount(&mut container, var_run.clone());
        if inputs && has_inputs {
            add_mount(
                &mut container,
                mount(INPUT_ARTIFACTS_VOLUME, INPUT_ARTIFACTS_DIR, false),
            );
        }
        if has_template {
            add_mount(&mut container, mount(TEMPLATE_VOLUME, TEMPLATE_DIR, true));
        }
        for secret in &secrets {
            add_mount(
                &mut container,
                mount(secret, &format!("{SECRETS_DIR}/{secret}"), true),
            );
        }
        if has_token {
            add_mount(
                &mut container,
                mount(EXECUTOR_TOKEN_VOLUME, SERVICE_ACCOUNT_TOKEN_PATH, true),
            );
        }
        container
    };
    let init = executor(INIT_CONTAINER, true);
    let wait = executor(WAIT_CONTAINER, false);
    spec.init_containers
        .get_or_insert_with(Vec::new)
        .insert(0, init);
    spec.containers.push(wait);

    pod.metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(INJECTED_ANNOTATION.to_owned(), EXECUTOR_VERSION.to_owned());
    pod
}

/// Whether pods built for a backend get the executor from the builder:
/// always for the local backend, on Kubernetes unless the webhook injects
/// (`executorInjection: webhook`). An unknown value (which
/// [`Config::validate`] reports) injects, so pods never run without it.
pub fn builder_injects(config: &Config, local: bool) -> bool {
    local || config.executor_injection() != ExecutorInjection::Webhook
}

/// Builds the pod for a backend, injecting the executor when the builder is
/// the one to ([`builder_injects`]).
pub fn pod_for_backend(
    ctx: &PodContext,
    workflow: &Workflow,
    node: &PodNode,
    template: &Template,
    local: bool,
) -> Result<BuiltPod, PodError> {
    let mut built = build_pod(ctx, workflow, node, template)?;
    if builder_injects(ctx.config, local) {
        built.pod = inject_executor(built.pod, &InjectContext::from_config(ctx.config));
    }
    Ok(built)
}
