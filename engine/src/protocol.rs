//! The shared-volume protocol between the containers of a workflow pod.
//!
//! Both backends (Kubernetes and `sluice run`) build the same pod with
//! [`crate::pod::build_pod`] and [`crate::inject::inject_executor`], and the
//! `sluice-executor` binary inside it follows this protocol. Everything the
//! containers say to each other goes through files under [`VAR_RUN`], an
//! `emptyDir` volume mounted into every container of the pod:
//!
//! ```text
//! /var/run/sluice/
//!   sluice-executor            the executor binary, copied there by `init`
//!                              (the local backend bind-mounts it instead)
//!   template.json              the template, when it is not in $SLUICE_TEMPLATE
//!   staging/script             a script template's source, written by `init`
//!   ctr/<container>/
//!     stdout                   the container's stdout (tee'd by `emissary`)
//!     combined                 stdout and stderr interleaved (for archiveLogs)
//!     exitcode                 decimal exit code, written last and atomically
//!     signal                   a signal number; `emissary` forwards it to its
//!                              child (written by `wait`, the backend or `kill`)
//!   outputs/parameters/<name>  output parameters staged by `emissary`
//!   outputs/artifacts/<name>   output artifacts staged by `emissary`: a
//!                              `.tgz`/`.tar`/`.zip` file (archived and
//!                              compressed as it is read), or the file or
//!                              directory itself for `archive: none`
//!   secrets/<secret>/<key>     secrets the artifact drivers need (mounted
//!                              into `init` and `wait` only)
//! /var/run/sluice-inputs/<name>  input artifacts loaded by `init`; the main
//!                              containers mount each one at its `path`
//!                              (volume [`INPUT_ARTIFACTS_VOLUME`], subPath)
//! ```
//!
//! The containers:
//!
//! - `init` (an init container, image `Config.executor.image`): copies the
//!   executor binary to [`EXECUTOR_PATH`], writes the script source, loads
//!   every input artifact (streaming; archives unpacked as they arrive).
//! - every main and sidecar container runs
//!   `/var/run/sluice/sluice-executor emissary -- <command> <args>`:
//!   `emissary` runs the command, tees its output, writes `exitcode`,
//!   then (main containers only) stages output parameters and artifacts, and
//!   exits with the command's exit code. It forwards whatever signal appears
//!   in its `signal` file.
//! - `wait` (a regular container, image `Config.executor.image`): waits for
//!   every main container's `exitcode`, uploads staged artifacts, reads
//!   parameters and `outputs.result` (the last 256 KiB of stdout, with a
//!   warning past that), archives logs when asked, writes `15` to every
//!   sidecar's `signal`, and reports the node's outputs as one
//!   `WorkflowTaskResult` (see [`crate::result`]).
//!
//! The executor learns what to do from environment variables (below); the
//! template itself is in [`ENV_TEMPLATE`] when it is at most
//! [`MAX_ENV_TEMPLATE`] bytes, else in a file at [`ENV_TEMPLATE_FILE`]
//! (a ConfigMap on Kubernetes, a plain file in the local backend).

/// The shared volume's mount path in every container.
pub const VAR_RUN: &str = "/var/run/sluice";
/// The shared volume's name in the pod.
pub const VAR_RUN_VOLUME: &str = "var-run-sluice";
/// Where `init` puts the executor binary (and where the local backend mounts it).
pub const EXECUTOR_PATH: &str = "/var/run/sluice/sluice-executor";
/// Where a script template's source is written.
pub const SCRIPT_PATH: &str = "/var/run/sluice/staging/script";
/// Directory of per-container files (`ctr/<name>/...`).
pub const CTR_DIR: &str = "/var/run/sluice/ctr";
/// Staged output parameters.
pub const OUTPUT_PARAMETERS_DIR: &str = "/var/run/sluice/outputs/parameters";
/// Staged output artifacts.
pub const OUTPUT_ARTIFACTS_DIR: &str = "/var/run/sluice/outputs/artifacts";
/// Mounted secrets: `secrets/<secret name>/<key>`.
pub const SECRETS_DIR: &str = "/var/run/sluice/secrets";
/// The volume holding loaded input artifacts.
pub const INPUT_ARTIFACTS_VOLUME: &str = "sluice-inputs";
/// Its mount path in `init`.
pub const INPUT_ARTIFACTS_DIR: &str = "/var/run/sluice-inputs";
/// The volume that carries a large template (a ConfigMap on Kubernetes).
pub const TEMPLATE_VOLUME: &str = "sluice-template";
/// Its mount path.
pub const TEMPLATE_DIR: &str = "/var/run/sluice-template";
/// The file inside [`TEMPLATE_DIR`].
pub const TEMPLATE_FILE_NAME: &str = "template.json";

/// Templates up to this size travel in [`ENV_TEMPLATE`].
pub const MAX_ENV_TEMPLATE: usize = 128 * 1024;
/// `outputs.result` keeps at most this many trailing bytes of stdout.
pub const MAX_RESULT_BYTES: usize = 256 * 1024;

/// The template as JSON.
pub const ENV_TEMPLATE: &str = "SLUICE_TEMPLATE";
/// Path of the template JSON when it is too large for [`ENV_TEMPLATE`].
pub const ENV_TEMPLATE_FILE: &str = "SLUICE_TEMPLATE_FILE";
/// The node id (also the WorkflowTaskResult's name).
pub const ENV_NODE_ID: &str = "SLUICE_NODE_ID";
/// The node name (`wf.steps[0].a`), for messages.
pub const ENV_NODE_NAME: &str = "SLUICE_NODE_NAME";
/// The workflow's name.
pub const ENV_WORKFLOW_NAME: &str = "SLUICE_WORKFLOW_NAME";
/// The workflow's uid (owner of the WorkflowTaskResult).
pub const ENV_WORKFLOW_UID: &str = "SLUICE_WORKFLOW_UID";
/// The namespace (downward API on Kubernetes).
pub const ENV_NAMESPACE: &str = "SLUICE_NAMESPACE";
/// The pod's name (downward API on Kubernetes).
pub const ENV_POD_NAME: &str = "SLUICE_POD_NAME";
/// The container `emissary` runs in.
pub const ENV_CONTAINER_NAME: &str = "SLUICE_CONTAINER_NAME";
/// Comma-separated names of the main containers (`wait` waits for these).
pub const ENV_MAIN_CONTAINERS: &str = "SLUICE_MAIN_CONTAINERS";
/// Comma-separated names of the containers of a containerSet that must exit
/// 0 before this one starts (`emissary` waits for their `exitcode` files).
pub const ENV_DEPENDENCIES: &str = "SLUICE_DEPENDENCIES";
/// Comma-separated names of the sidecars (`wait` stops these).
pub const ENV_SIDECARS: &str = "SLUICE_SIDECARS";
/// RFC 3339 time after which `wait` terminates the main containers.
pub const ENV_DEADLINE: &str = "SLUICE_DEADLINE";
/// When set, `wait` writes the WorkflowTaskResult as JSON to this path
/// (local backend) instead of creating it through the Kubernetes API.
pub const ENV_RESULT_FILE: &str = "SLUICE_RESULT_FILE";
/// The artifacts an artifact-GC pod deletes (`sluice-executor artifact-gc`):
/// a JSON array of located output artifacts, as the workflow's status
/// records them.
pub const ENV_GC_ARTIFACTS: &str = "SLUICE_GC_ARTIFACTS";
/// Where `sluice-executor artifact-gc` writes its report (the container's
/// termination message), when not [`TERMINATION_LOG`] (tests only).
pub const ENV_TERMINATION_LOG: &str = "SLUICE_TERMINATION_LOG";
/// The container's termination message file (Kubernetes' default path).
pub const TERMINATION_LOG: &str = "/dev/termination-log";
/// Root of mounted secrets, when not [`SECRETS_DIR`] (tests, local backend).
pub const ENV_SECRETS_DIR: &str = "SLUICE_SECRETS_DIR";
/// Root of the shared volume, when not [`VAR_RUN`] (tests only).
pub const ENV_VAR_RUN: &str = "SLUICE_VAR_RUN";
/// Root of the input-artifacts volume, when not [`INPUT_ARTIFACTS_DIR`] (tests only).
pub const ENV_INPUTS_DIR: &str = "SLUICE_INPUTS_DIR";

/// Annotation marking a pod whose executor is injected; its value is the
/// executor version. [`crate::inject::inject_executor`] checks it to stay
/// idempotent, and both backends refuse to wait on a workflow pod without it.
pub const INJECTED_ANNOTATION: &str = "sluice.dev/executor";
/// Label on every workflow pod: the workflow's name (as upstream).
pub const LABEL_WORKFLOW: &str = "workflows.argoproj.io/workflow";
/// Label on every workflow pod, `"true"` once the node is complete.
pub const LABEL_COMPLETED: &str = "workflows.argoproj.io/completed";
/// The label naming what a pod is for (upstream's); artifact-GC pods carry
/// [`COMPONENT_ARTIFACT_GC`].
pub const LABEL_COMPONENT: &str = "workflows.argoproj.io/component";
/// [`LABEL_COMPONENT`] of artifact-GC pods.
pub const COMPONENT_ARTIFACT_GC: &str = "artifact-gc";
/// Annotation: the node's name (as upstream).
pub const ANNOTATION_NODE_NAME: &str = "workflows.argoproj.io/node-name";
/// Annotation: the node's id (as upstream).
pub const ANNOTATION_NODE_ID: &str = "workflows.argoproj.io/node-id";

/// Paths inside the shared volume for one container.
pub fn ctr_file(var_run: &str, container: &str, file: &str) -> String {
    format!("{var_run}/ctr/{container}/{file}")
}

/// Where a secret key is mounted.
pub fn secret_path(secrets_dir: &str, secret: &str, key: &str) -> String {
    format!("{secrets_dir}/{secret}/{key}")
}

/// The executor version written into [`INJECTED_ANNOTATION`].
pub const EXECUTOR_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The local backend's artifact repository, as mounted in the sandbox.
/// Artifacts stored there carry the Sluice extension location
/// `local: {key: <relative key>}` (Argo has no local repository).
pub const LOCAL_REPOSITORY_DIR: &str = "/var/run/sluice-artifacts";
/// Root of the local repository, when not [`LOCAL_REPOSITORY_DIR`] (tests).
pub const ENV_LOCAL_REPOSITORY: &str = "SLUICE_LOCAL_REPOSITORY";
/// The `extra` key of the local location in an artifact or repository.
pub const LOCAL_LOCATION_KEY: &str = "local";

/// `"false"` turns off capturing `outputs.result` from the main container's
/// stdout (the engine sets it when nothing references the result).
pub const ENV_CAPTURE_RESULT: &str = "SLUICE_CAPTURE_RESULT";
/// Where the user's command may write its progress (`N/M`), as upstream's
/// `ARGO_PROGRESS_FILE`; `wait` reports it.
pub const PROGRESS_FILE: &str = "/var/run/sluice/progress";
/// Staging errors `emissary` hit (one file per output, the message inside);
/// `wait` reports them.
pub const OUTPUT_ERRORS_DIR: &str = "/var/run/sluice/outputs/errors";
