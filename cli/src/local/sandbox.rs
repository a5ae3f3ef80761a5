//! Turns one container of a workflow pod into a host process: with
//! bubblewrap, a sandbox with the host's root read-only, a private `/tmp`,
//! the pod's volumes mounted where the container mounts them, and the
//! executor bind-mounted at [`EXECUTOR_PATH`]; without it, the process runs
//! directly with the protocol's path overrides, and a container whose mounts
//! cannot be honoured fails with "needs bubblewrap".

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use k8s_openapi::api::core::v1::{ConfigMap, Container, KeyToPath, Pod, Volume};
use sluice_api::types::Template;
use sluice_engine::inject::EXECUTOR_BINARY;
use sluice_engine::protocol as p;

use super::env::{container_env, expand, field_value};
use super::sources::Sources;
use super::state::{RunDir, write_atomic};

/// What a container is in its pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// An init container (the executor's `init` first).
    Init,
    /// A main container (wrapped by `emissary`).
    Main,
    Sidecar,
    /// The executor's `wait`.
    Wait,
}

/// Everything a pod's containers are started with.
#[derive(Clone, Copy, Debug)]
pub struct PodSetup<'a> {
    pub pod: &'a Pod,
    pub node_id: &'a str,
    /// `pods/<pod name>` in the run's state: volumes and private `/tmp`s.
    pub pod_dir: &'a Path,
    pub run: &'a RunDir,
    pub sources: &'a Sources,
    /// The `sluice-executor` binary on the host.
    pub executor: &'a Path,
    /// Run inside bubblewrap.
    pub sandbox: bool,
    /// The ConfigMap holding a large template (from `CreatePod`).
    pub template_config_map: Option<&'a ConfigMap>,
}

/// How to start one container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    pub program: OsString,
    pub args: Vec<OsString>,
    /// The whole environment of the process (the host's is not inherited).
    pub env: Vec<(String, String)>,
    /// The working directory; `None` when it does not matter (bubblewrap
    /// changes to the container's own; the executor's `init` and `wait`
    /// use absolute paths only).
    pub cwd: Option<PathBuf>,
}

/// The host directory (or file) behind each of the pod's volumes.
pub type Volumes = BTreeMap<String, PathBuf>;

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Whether a relative path stays inside its base (no `..`, not absolute).
fn is_inside(path: &str) -> bool {
    Path::new(path)
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

fn write_items(
    dir: &Path,
    data: &BTreeMap<String, String>,
    items: Option<&Vec<KeyToPath>>,
    what: &str,
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let pairs: Vec<(String, String)> = match items {
        Some(items) => {
            let mut pairs = Vec::new();
            for item in items {
                let Some(value) = data.get(&item.key) else {
                    return Err(format!("{what} has no key \"{}\"", item.key));
                };
                pairs.push((item.path.clone(), value.clone()));
            }
            pairs
        }
        None => data.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    };
    for (path, value) in pairs {
        if !is_inside(&path) {
            return Err(format!("{what}: item path {path:?} leaves the volume"));
        }
        let file = dir.join(&path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        write_atomic(&file, value.as_bytes()).map_err(|e| format!("{}: {e}", file.display()))?;
    }
    Ok(())
}

/// Makes the host side of every volume of the pod. `Err` fails the pod.
pub fn prepare_volumes(setup: &PodSetup) -> Result<Volumes, String> {
    let spec = setup.pod.spec.as_ref();
    let mut out = Volumes::new();
    for volume in spec.and_then(|s| s.volumes.as_ref()).into_iter().flatten() {
        let path = prepare_volume(setup, volume)?;
        out.insert(volume.name.clone(), path);
    }
    if setup.sandbox
        && let Some(var_run) = out.get(p::VAR_RUN_VOLUME)
    {
        place_executor(setup, var_run)?;
    }
    Ok(out)
}

/// Puts the executor in the shared volume before `init` runs (so that it
/// does not copy itself there): a symbolic link to the binary when every
/// sandbox of the pod sees the binary at its host path (the host's root is
/// there read-only), which spares a bind mount per container; else an empty
/// file each sandbox binds the binary over.
fn place_executor(setup: &PodSetup, var_run: &Path) -> Result<(), String> {
    let link = var_run.join(EXECUTOR_LINK);
    if std::fs::symlink_metadata(&link).is_ok() {
        return Ok(());
    }
    let executor = setup
        .executor
        .canonicalize()
        .unwrap_or_else(|_| absolute(setup.executor));
    let spec = setup.pod.spec.as_ref();
    let mount_points = spec
        .into_iter()
        .flat_map(|s| {
            s.containers
                .iter()
                .chain(s.init_containers.iter().flatten())
        })
        .flat_map(|c| c.volume_mounts.iter().flatten())
        .map(|m| resolve_dest(Path::new(&m.mount_path)));
    let hidden = ["/tmp", "/proc", "/dev", "/sys", p::LOCAL_REPOSITORY_DIR]
        .iter()
        .map(|d| resolve_dest(Path::new(d)))
        .chain(mount_points)
        .any(|dest| executor.starts_with(dest));
    let made = if hidden {
        std::fs::write(&link, b"")
    } else {
        std::os::unix::fs::symlink(&executor, &link)
    };
    made.map_err(|e| format!("{}: {e}", link.display()))
}

fn prepare_volume(setup: &PodSetup, volume: &Volume) -> Result<PathBuf, String> {
    let name = &volume.name;
    let io = |path: &Path, e: std::io::Error| format!("volume {name}: {}: {e}", path.display());
    let own = absolute(&setup.pod_dir.join("volumes").join(name));
    if volume.empty_dir.is_some() {
        std::fs::create_dir_all(&own).map_err(|e| io(&own, e))?;
        return Ok(own);
    }
    if let Some(host) = &volume.host_path {
        let path = PathBuf::from(&host.path);
        match host.type_.as_deref().unwrap_or("") {
            "DirectoryOrCreate" => std::fs::create_dir_all(&path).map_err(|e| io(&path, e))?,
            "FileOrCreate" if !path.exists() => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
                }
                std::fs::write(&path, b"").map_err(|e| io(&path, e))?;
            }
            "" | "FileOrCreate" => {}
            _ if !path.exists() => {
                return Err(format!(
                    "volume {name}: hostPath {} does not exist",
                    host.path
                ));
            }
            _ => {}
        }
        return Ok(path);
    }
    if let Some(claim) = &volume.persistent_volume_claim {
        let dir = absolute(&setup.run.claim_dir(&claim.claim_name));
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        return Ok(dir);
    }
    if let Some(cm) = &volume.config_map {
        let data = match setup.template_config_map {
            Some(t) if t.metadata.name.as_deref() == Some(cm.name.as_str()) => {
                t.data.clone().unwrap_or_default()
            }
            _ => match setup.sources.config_maps.get(&cm.name) {
                Some(data) => data.clone(),
                None if cm.optional == Some(true) => BTreeMap::new(),
                None => {
                    return Err(format!(
                        "volume {name}: configmap \"{}\" not found (pass it with --configmap FILE)",
                        cm.name
                    ));
                }
            },
        };
        let what = format!("volume {name}: configmap \"{}\"", cm.name);
        write_items(&own, &data, cm.items.as_ref(), &what)?;
        return Ok(own);
    }
    if let Some(secret) = &volume.secret {
        let secret_name = secret.secret_name.clone().unwrap_or_default();
        let data = match setup.sources.secret_data(&secret_name) {
            Some(data) => data,
            None if secret.optional == Some(true) => BTreeMap::new(),
            None => {
                return Err(format!(
                    "volume {name}: secret \"{secret_name}\" not found (give --secret-dir DIR holding {secret_name}/<key> files)"
                ));
            }
        };
        let dir = absolute(&setup.pod_dir.join("secrets").join(name));
        let what = format!("volume {name}: secret \"{secret_name}\"");
        write_items(&dir, &data, secret.items.as_ref(), &what)?;
        return Ok(dir);
    }
    if let Some(downward) = &volume.downward_api {
        let mut data = BTreeMap::new();
        for item in downward.items.iter().flatten() {
            if let Some(field) = &item.field_ref {
                let value =
                    field_value(setup.pod, field).map_err(|e| format!("volume {name}: {e}"))?;
                data.insert(item.path.clone(), value);
            }
        }
        write_items(&own, &data, None, &format!("volume {name}"))?;
        return Ok(own);
    }
    let kind = serde_json::to_value(volume)
        .ok()
        .and_then(|v| {
            v.as_object()?
                .keys()
                .find(|k| k.as_str() != "name")
                .cloned()
        })
        .unwrap_or_else(|| "empty".into());
    Err(format!(
        "volume {name}: {kind} volumes are not supported by the local backend"
    ))
}

/// One bind mount of a container.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Mount {
    src: PathBuf,
    dest: PathBuf,
    read_only: bool,
}

/// The path with every existing ancestor's symbolic links resolved on the
/// host (`/var/run/sluice` -> `/run/sluice`), as bubblewrap needs it.
fn resolve_dest(dest: &Path) -> PathBuf {
    let mut existing = dest.to_path_buf();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            let mut out = real;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return out;
        }
        match (
            existing.file_name().map(ToOwned::to_owned),
            existing.parent(),
        ) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => return dest.to_path_buf(),
        }
    }
}

fn deepest_existing(path: &Path) -> PathBuf {
    let mut at = path.to_path_buf();
    while std::fs::symlink_metadata(&at).is_err() {
        match at.parent() {
            Some(parent) => at = parent.to_path_buf(),
            None => break,
        }
    }
    at
}

/// The directories that need a writable tmpfs (with their host entries
/// bound back) so that bubblewrap can create mount points under them, and
/// so that the container can create the `writable` paths: an existing
/// directory there is shadowed itself, a missing path its deepest existing
/// ancestor. Paths inside a mount (the volumes, the private `/tmp`) and
/// the kernel's file systems are left alone.
fn shadows_for(targets: &[PathBuf], mounts: &[Mount], writable: &[PathBuf]) -> Vec<PathBuf> {
    let mut shadows: Vec<PathBuf> = Vec::new();
    for target in targets {
        let inside_mount = mounts
            .iter()
            .any(|m| target != &m.dest && target.starts_with(&m.dest));
        if inside_mount || std::fs::symlink_metadata(target).is_ok() {
            continue;
        }
        let ancestor = deepest_existing(target);
        if !shadows.contains(&ancestor) {
            shadows.push(ancestor);
        }
    }
    for path in writable {
        let kernel = ["/proc", "/dev", "/sys"]
            .iter()
            .any(|k| path.starts_with(k));
        if kernel || mounts.iter().any(|m| path.starts_with(&m.dest)) {
            continue;
        }
        let dir = deepest_existing(path);
        if !std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        if !shadows.contains(&dir) {
            shadows.push(dir);
        }
    }
    shadows.sort_by_key(|s| s.components().count());
    shadows
}

/// Where a shadowed directory (other than the root) keeps the host's
/// directory, bound once, read-only; its entries point there.
const HOST_ENTRIES: &str = ".sluice-host";

/// A writable tmpfs over `dir` showing the host's entries read-only. Each
/// entry is a symbolic link into one read-only bind of the host directory
/// ([`HOST_ENTRIES`]): bubblewrap reads the whole mount table for every
/// bind, so one bind instead of one per entry makes a sandbox much cheaper
/// to set up. Entries that lead to a mount point or to a deeper shadow stay
/// real (bound back one by one), and so do the root's, whose paths
/// programs resolve with `realpath`.
fn shadow_args(dir: &Path, real: &[PathBuf], args: &mut Vec<OsString>) {
    // The sandbox's root is a tmpfs already; other directories get one.
    let root = dir.parent().is_none();
    if !root {
        args.push("--tmpfs".into());
        args.push(dir.into());
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    let mut host_bound = false;
    for entry in entries {
        if root && (entry == Path::new("/proc") || entry == Path::new("/dev")) {
            continue;
        }
        if let Ok(target) = std::fs::read_link(&entry) {
            args.push("--symlink".into());
            args.push(target.into());
            args.push(entry.into());
            continue;
        }
        let leads_on = real.iter().any(|r| r.starts_with(&entry));
        if root || leads_on {
            args.push("--ro-bind-try".into());
            args.push(entry.clone().into());
            args.push(entry.into());
            continue;
        }
        if !host_bound {
            args.push("--ro-bind".into());
            args.push(dir.into());
            args.push(dir.join(HOST_ENTRIES).into());
            host_bound = true;
        }
        let Some(name) = entry.file_name() else {
            continue;
        };
        args.push("--symlink".into());
        args.push(Path::new(HOST_ENTRIES).join(name).into());
        args.push(entry.into());
    }
}

/// The bubblewrap arguments (before `--` and the command).
fn bwrap_args(
    mounts: &[Mount],
    private_tmp: Option<&Path>,
    working_dir: &Path,
    writable: &[PathBuf],
    hostname: &str,
) -> Vec<OsString> {
    let mut all: Vec<Mount> = Vec::new();
    if let Some(tmp) = private_tmp {
        all.push(Mount {
            src: tmp.to_path_buf(),
            dest: PathBuf::from("/tmp"),
            read_only: false,
        });
    }
    all.extend(mounts.iter().cloned());
    all.sort_by_key(|m| m.dest.components().count());
    let mut targets: Vec<PathBuf> = all.iter().map(|m| m.dest.clone()).collect();
    targets.push(working_dir.to_path_buf());
    let shadows = shadows_for(&targets, &all, writable);

    let mut args: Vec<OsString> = [
        "--die-with-parent",
        "--new-session",
        "--unshare-pid",
        "--unshare-uts",
        "--hostname",
        hostname,
    ]
    .iter()
    .map(OsString::from)
    .collect();
    // Paths that must stay real directories inside a shadow.
    let real: Vec<PathBuf> = shadows
        .iter()
        .chain(all.iter().map(|m| &m.dest))
        .chain([working_dir.to_path_buf()].iter())
        .cloned()
        .collect();
    let mut shadows = shadows.into_iter().peekable();
    // The host's root, read-only: bound whole, or entry by entry when a
    // mount point must be created at the top.
    match shadows.peek() {
        Some(root) if root.parent().is_none() => {
            shadow_args(root, &real, &mut args);
            shadows.next();
        }
        _ => args.extend(["--ro-bind", "/", "/"].map(OsString::from)),
    }
    args.extend(["--dev", "/dev", "--proc", "/proc"].map(OsString::from));
    for shadow in shadows {
        shadow_args(&shadow, &real, &mut args);
    }
    for mount in &all {
        args.push(
            if mount.read_only {
                "--ro-bind"
            } else {
                "--bind"
            }
            .into(),
        );
        args.push(mount.src.clone().into());
        args.push(mount.dest.clone().into());
    }
    if std::fs::symlink_metadata(working_dir).is_err() {
        args.push("--dir".into());
        args.push(working_dir.into());
    }
    args.push("--chdir".into());
    args.push(working_dir.into());
    args
}

/// Why a container cannot run without a sandbox.
fn needs_bubblewrap(container: &str, what: String) -> String {
    format!(
        "container {container} needs bubblewrap: {what}; install bubblewrap (bwrap) or unset SLUICE_NO_SANDBOX"
    )
}

/// How to start `container` of the pod; `Err` is the message of the
/// container's configuration error (the pod fails with it).
pub fn launch(
    setup: &PodSetup,
    volumes: &Volumes,
    container: &Container,
    role: Role,
) -> Result<Launch, String> {
    let name = container.name.as_str();
    let pod_name = setup.pod.metadata.name.clone().unwrap_or_default();
    let mut env = container_env(setup.pod, container, setup.sources)?;
    let set = |env: &mut Vec<(String, String)>, k: &str, v: String| match env
        .iter_mut()
        .find(|(n, _)| n == k)
    {
        Some(slot) => slot.1 = v,
        None => env.push((k.to_owned(), v)),
    };
    let host_path = std::env::var("PATH")
        .unwrap_or_else(|_| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.insert(0, ("PATH".into(), host_path));
    }
    if !env.iter().any(|(k, _)| k == "HOSTNAME") {
        env.insert(0, ("HOSTNAME".into(), pod_name.clone()));
    }
    if !env.iter().any(|(k, _)| k == "HOME") {
        env.insert(0, ("HOME".into(), "/tmp".into()));
    }
    let results = absolute(&setup.run.results_dir());
    if role == Role::Wait {
        let file = results.join(format!("{}.json", setup.node_id));
        set(&mut env, p::ENV_RESULT_FILE, file.display().to_string());
    }

    let lookup = |n: &str| env.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let mut argv: Vec<String> = container
        .command
        .iter()
        .flatten()
        .chain(container.args.iter().flatten())
        .map(|a| expand(a, &lookup))
        .collect();
    if argv.is_empty() {
        return Err(format!(
            "container {name} has no command: the local backend runs commands on the host, so give command"
        ));
    }

    let var_run = volumes.get(p::VAR_RUN_VOLUME).cloned();
    let artifacts = absolute(&setup.run.artifacts_dir());
    let mut mounts = Vec::new();
    for mount in container.volume_mounts.iter().flatten() {
        let Some(src) = volumes.get(&mount.name) else {
            return Err(format!(
                "container {name}: volume mount {} names no volume of the pod",
                mount.name
            ));
        };
        let sub = match (&mount.sub_path, &mount.sub_path_expr) {
            (Some(s), _) if !s.is_empty() => Some(s.clone()),
            (_, Some(e)) if !e.is_empty() => Some(expand(e, &lookup)),
            _ => None,
        };
        let src = match &sub {
            Some(sub) if !is_inside(sub) => {
                return Err(format!(
                    "container {name}: subPath {sub:?} leaves the volume"
                ));
            }
            Some(sub) => {
                let path = src.join(sub);
                if std::fs::symlink_metadata(&path).is_err() {
                    std::fs::create_dir_all(&path)
                        .map_err(|e| format!("container {name}: {}: {e}", path.display()))?;
                }
                path
            }
            None => src.clone(),
        };
        mounts.push((
            mount.name.clone(),
            sub.is_some(),
            mount.mount_path.clone(),
            src,
            mount.read_only == Some(true),
        ));
    }

    let working_dir = container
        .working_dir
        .clone()
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".into());

    // The protocol's paths moved to the host, for a container that runs
    // outside a sandbox.
    let honoured = |volume: &str, has_sub: bool, path: &str| match path {
        p::VAR_RUN => volume == p::VAR_RUN_VOLUME,
        p::INPUT_ARTIFACTS_DIR => volume == p::INPUT_ARTIFACTS_VOLUME && !has_sub,
        p::TEMPLATE_DIR => volume == p::TEMPLATE_VOLUME,
        other => other.starts_with(&format!("{}/", p::SECRETS_DIR)) && !has_sub,
    };
    // The executor's own `init` and `wait` need nothing of a sandbox: every
    // path they use has a host form. Running them directly spares two
    // sandboxes per pod (most of a pod's start-up cost).
    let is_executor = argv[0] == EXECUTOR_BINARY || argv[0] == p::EXECUTOR_PATH;
    let executor_direct = setup.sandbox
        && is_executor
        && matches!(role, Role::Init | Role::Wait)
        && mounts
            .iter()
            .all(|(volume, has_sub, path, _, _)| honoured(volume, *has_sub, path));
    if !setup.sandbox || executor_direct {
        let mut secrets_root = None;
        for (volume, has_sub, path, src, _) in &mounts {
            if !honoured(volume, *has_sub, path) {
                return Err(needs_bubblewrap(
                    name,
                    format!("it mounts volume {volume} at {path}"),
                ));
            }
            if path.starts_with(&format!("{}/", p::SECRETS_DIR)) {
                secrets_root = src.parent().map(Path::to_path_buf);
            }
        }
        if let Some(var_run) = &var_run {
            set(&mut env, p::ENV_VAR_RUN, var_run.display().to_string());
            let link = var_run.join(EXECUTOR_LINK);
            if !setup.sandbox && std::fs::symlink_metadata(&link).is_err() {
                let _ = std::os::unix::fs::symlink(setup.executor, &link);
            }
        }
        if let Some(inputs) = volumes.get(p::INPUT_ARTIFACTS_VOLUME) {
            set(&mut env, p::ENV_INPUTS_DIR, inputs.display().to_string());
        }
        if let Some(root) = secrets_root {
            set(&mut env, p::ENV_SECRETS_DIR, root.display().to_string());
        }
        set(
            &mut env,
            p::ENV_LOCAL_REPOSITORY,
            artifacts.display().to_string(),
        );
        if let Some(template) = volumes.get(p::TEMPLATE_VOLUME) {
            let file = template.join(p::TEMPLATE_FILE_NAME);
            set(&mut env, p::ENV_TEMPLATE_FILE, file.display().to_string());
        }
        if executor_direct {
            // Its temporary files stay with the pod (removed with it).
            let tmp = absolute(setup.pod_dir);
            set(&mut env, "TMPDIR", tmp.display().to_string());
        }
        if is_executor {
            argv[0] = setup.executor.display().to_string();
        }
        if let Some(var_run) = &var_run {
            let script =
                var_run.join(p::SCRIPT_PATH.trim_start_matches(&format!("{}/", p::VAR_RUN)));
            for arg in argv.iter_mut().skip(1) {
                if arg == p::SCRIPT_PATH {
                    *arg = script.display().to_string();
                }
            }
        }
        let cwd = PathBuf::from(&working_dir);
        if !cwd.is_dir() {
            return Err(needs_bubblewrap(
                name,
                format!("its workingDir {working_dir} does not exist on this machine"),
            ));
        }
        let mut argv = argv.into_iter().map(OsString::from);
        let program = argv.next().unwrap_or_default();
        return Ok(Launch {
            program,
            args: argv.collect(),
            env,
            cwd: (!executor_direct).then_some(cwd),
        });
    }

    // What the container may write outside its volumes and `/tmp`, as it
    // could in a container's writable root: its workingDir when given, the
    // places of its outputs, and the paths its command names that do not
    // exist here (those it creates). Each becomes a private tmpfs with the
    // host's entries bound back read-only; the host is never written.
    let mut writable: Vec<PathBuf> = Vec::new();
    if matches!(role, Role::Main | Role::Sidecar) {
        if container
            .working_dir
            .as_deref()
            .is_some_and(|w| !w.is_empty())
        {
            writable.push(resolve_dest(Path::new(&working_dir)));
        }
        let template = (role == Role::Main)
            .then(|| container_template(container, volumes))
            .flatten();
        if let Some(outputs) = template.as_ref().and_then(|t| t.outputs.as_ref()) {
            let declared = outputs
                .parameters
                .iter()
                .filter_map(|p| p.value_from.as_ref()?.path.clone())
                .chain(outputs.artifacts.iter().filter_map(|a| a.path.clone()));
            for path in declared {
                let path = resolve_dest(Path::new(&path));
                if path.is_absolute() && !writable.contains(&path) {
                    writable.push(path);
                }
            }
        }
        let source = template
            .as_ref()
            .and_then(|t| t.script.as_ref())
            .and_then(|s| s.source.clone());
        for text in argv.iter().chain(source.as_ref()) {
            for path in mentioned_paths(text) {
                if std::fs::symlink_metadata(&path).is_ok() {
                    continue;
                }
                let path = resolve_dest(&path);
                let few_entries = std::fs::read_dir(deepest_existing(&path))
                    .is_ok_and(|entries| entries.count() <= MAX_SHADOW_ENTRIES);
                if few_entries && !writable.contains(&path) {
                    writable.push(path);
                }
            }
        }
    }

    if argv[0] == EXECUTOR_BINARY {
        argv[0] = p::EXECUTOR_PATH.to_owned();
    }
    let mut binds: Vec<Mount> = mounts
        .into_iter()
        .map(|(_, _, path, src, read_only)| Mount {
            src,
            dest: resolve_dest(Path::new(&path)),
            read_only,
        })
        .collect();
    let private_tmp = if binds.iter().any(|m| m.dest == Path::new("/tmp")) {
        None
    } else {
        let tmp = absolute(&setup.pod_dir.join("tmp").join(name));
        std::fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        Some(tmp)
    };
    // `prepare_volumes` left a symbolic link to the executor when the
    // sandbox sees it where it is; else the binary is bound in.
    let linked = var_run.as_ref().is_some_and(|v| {
        std::fs::symlink_metadata(v.join(EXECUTOR_LINK)).is_ok_and(|m| m.file_type().is_symlink())
    });
    if var_run.is_some() && !linked {
        binds.push(Mount {
            src: setup.executor.to_path_buf(),
            dest: resolve_dest(Path::new(p::EXECUTOR_PATH)),
            read_only: true,
        });
    }
    if matches!(role, Role::Init | Role::Wait) {
        binds.push(Mount {
            src: artifacts,
            dest: resolve_dest(Path::new(p::LOCAL_REPOSITORY_DIR)),
            read_only: false,
        });
    }
    if role == Role::Wait {
        binds.push(Mount {
            src: results.clone(),
            dest: results,
            read_only: false,
        });
    }
    let hostname: String = pod_name.chars().take(63).collect();
    let mut args = bwrap_args(
        &binds,
        private_tmp.as_deref(),
        &resolve_dest(Path::new(&working_dir)),
        &writable,
        &hostname,
    );
    args.push("--".into());
    args.extend(argv.into_iter().map(OsString::from));
    Ok(Launch {
        program: bwrap_program(),
        args,
        env,
        cwd: None,
    })
}

/// The executor's name in the shared volume (`/var/run/sluice/sluice-executor`).
const EXECUTOR_LINK: &str = "sluice-executor";

/// A directory with more entries than this is not shadowed for a path a
/// command merely mentions (binding every entry back costs a mount each).
const MAX_SHADOW_ENTRIES: usize = 64;

/// The template a main container runs: from its environment, or the
/// template volume when the template is too large for it.
fn container_template(container: &Container, volumes: &Volumes) -> Option<Template> {
    let inline = container
        .env
        .iter()
        .flatten()
        .find(|e| e.name == p::ENV_TEMPLATE)
        .and_then(|e| e.value.clone());
    let text = match inline {
        Some(text) => text,
        None => {
            let dir = volumes.get(p::TEMPLATE_VOLUME)?;
            std::fs::read_to_string(dir.join(p::TEMPLATE_FILE_NAME)).ok()?
        }
    };
    serde_json::from_str(&text).ok()
}

/// The absolute paths written in a command or script: `/` at the start of
/// a word (or after `=`, a quote, a redirection...) and the path characters
/// after it.
pub(crate) fn mentioned_paths(text: &str) -> Vec<PathBuf> {
    let is_path_char = |c: char| c.is_ascii_alphanumeric() || "._-/+@%,".contains(c);
    let mut out = Vec::new();
    let mut prev: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let starts =
            c == '/' && prev.is_none_or(|p| !p.is_ascii_alphanumeric() && !".-_/".contains(p));
        prev = Some(c);
        if !starts {
            continue;
        }
        let mut end = i + c.len_utf8();
        while let Some(&(j, d)) = chars.peek() {
            if !is_path_char(d) {
                break;
            }
            end = j + d.len_utf8();
            prev = Some(d);
            chars.next();
        }
        let path = text[i..end].trim_end_matches(['.', ',']);
        if path.len() > 1 && !path.starts_with("//") {
            out.push(PathBuf::from(path));
        }
    }
    out
}

/// `bwrap` by its full path: a program given by name with the environment
/// replaced makes the standard library fork `sluice` (copying its memory
/// map) for every container, where a full path lets it use `posix_spawn`.
fn bwrap_program() -> OsString {
    static PATH: std::sync::OnceLock<OsString> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        std::env::var_os("PATH")
            .and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join("bwrap"))
                    .find(|file| file.is_file())
            })
            .map_or_else(|| OsString::from("bwrap"), PathBuf::into_os_string)
    })
    .clone()
}

/// Whether bubblewrap can be used: on `PATH`, and not turned off with
/// `SLUICE_NO_SANDBOX=1`.
pub fn bubblewrap_available() -> bool {
    if std::env::var("SLUICE_NO_SANDBOX").is_ok_and(|v| !v.is_empty() && v != "0") {
        return false;
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join("bwrap").is_file()))
}
