//! Runs workflow pods as host processes: init containers in order, then the
//! main containers, sidecars and `wait` together, as the kubelet would with
//! `restartPolicy: Never`. What happens comes back as [`Observation`]s: the
//! pod's phase and container states when they change, the node's result
//! once `wait` wrote it, and `PodDeleted` once a deleted pod's processes
//! are gone.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::Utc;
use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use sluice_api::types::{Template, WorkflowTaskResult};
use sluice_engine::inject::{INIT_CONTAINER, WAIT_CONTAINER};
use sluice_engine::protocol as p;
use sluice_engine::run::{
    ContainerObservation, ContainerState, Observation, PodObservation, PodPhase, ResultObservation,
    SIGKILL,
};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::env::{POD_IP, hostname};
use super::sandbox::{self, Launch, PodSetup, Role, Volumes};
use super::sources::Sources;
use super::state::RunDir;

/// How long sidecars get to stop once the main containers and `wait` ended.
const SIDECAR_GRACE: Duration = Duration::from_secs(10);
/// Grace period of a signalled pod when it sets none.
const DEFAULT_GRACE_SECONDS: i64 = 30;

/// What the pods of one run need.
#[derive(Clone, Debug)]
pub struct RunnerConfig {
    pub run: RunDir,
    pub sources: Sources,
    /// `sluice-executor` on the host.
    pub executor: PathBuf,
    pub sandbox: bool,
}

/// A line a main container printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub node_id: String,
    /// The node's display name.
    pub display: String,
    pub line: String,
}

/// A process of a pod ended.
#[derive(Debug)]
pub struct Exited {
    node_id: String,
    generation: u64,
    index: usize,
    code: i32,
}

#[derive(Debug)]
struct Ctr {
    container: Container,
    role: Role,
    pgid: Option<i32>,
}

#[derive(Debug)]
struct PodState {
    node_id: String,
    display: String,
    generation: u64,
    pod: Pod,
    template_config_map: Option<ConfigMap>,
    pod_dir: PathBuf,
    volumes: Volumes,
    /// Init containers, then the rest (mains, sidecars, `wait`).
    ctrs: Vec<Ctr>,
    inits: usize,
    obs: PodObservation,
    reported: Option<PodObservation>,
    last_result: Option<ResultObservation>,
    kill_at: Option<Instant>,
    deleting: bool,
}

impl PodState {
    fn state_mut(&mut self, index: usize) -> &mut ContainerState {
        if index < self.inits {
            &mut self.obs.init_containers[index].state
        } else {
            &mut self.obs.containers[index - self.inits].state
        }
    }
    fn state(&self, index: usize) -> &ContainerState {
        if index < self.inits {
            &self.obs.init_containers[index].state
        } else {
            &self.obs.containers[index - self.inits].state
        }
    }
    fn running(&self) -> impl Iterator<Item = i32> + '_ {
        self.ctrs.iter().filter_map(|c| c.pgid)
    }
    fn is_done(&self) -> bool {
        matches!(self.obs.phase, PodPhase::Succeeded | PodPhase::Failed)
    }
}

/// The pods of one run.
#[derive(Debug)]
pub struct PodRunner {
    cfg: RunnerConfig,
    pods: BTreeMap<String, PodState>,
    tx: UnboundedSender<Exited>,
    rx: UnboundedReceiver<Exited>,
    logs: Option<UnboundedSender<LogLine>>,
    generation: u64,
    pending: Vec<Observation>,
    images: BTreeSet<String>,
    trash: Trash,
}

/// Removes the directories of ended pods on a thread of its own: removing
/// files is the slowest thing a pod's end does (a journalled file system,
/// discards), and the loop that starts the next pods must not wait for it.
/// A directory is first renamed aside, so a new pod of the same name starts
/// with a fresh one; dropping the `Trash` waits until all are gone.
struct Trash {
    tx: Option<std::sync::mpsc::Sender<PathBuf>>,
    thread: Option<std::thread::JoinHandle<()>>,
    renamed: u64,
}

impl std::fmt::Debug for Trash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trash")
            .field("renamed", &self.renamed)
            .finish_non_exhaustive()
    }
}

impl Trash {
    fn new() -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<PathBuf>();
        let thread = std::thread::Builder::new()
            .name("sluice-trash".into())
            .spawn(move || {
                for dir in rx {
                    let _ = std::fs::remove_dir_all(&dir);
                }
            })
            .ok();
        Self {
            tx: thread.is_some().then_some(tx),
            thread,
            renamed: 0,
        }
    }

    /// Removes `dir` (soon).
    fn remove(&mut self, dir: &Path) {
        if let Some(tx) = &self.tx
            && let (Some(parent), Some(name)) = (dir.parent(), dir.file_name())
        {
            self.renamed += 1;
            let aside = parent.join(format!(
                ".removed-{}-{}-{}",
                std::process::id(),
                self.renamed,
                name.to_string_lossy()
            ));
            match std::fs::rename(dir, &aside) {
                Ok(()) => {
                    if let Err(e) = tx.send(aside) {
                        let _ = std::fs::remove_dir_all(e.0);
                    }
                    return;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
                Err(_) => {}
            }
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}

impl Drop for Trash {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn waiting(name: &str) -> ContainerObservation {
    ContainerObservation {
        name: name.to_owned(),
        state: ContainerState::Waiting,
    }
}

fn last_line(path: &Path) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| {
            text.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.trim().to_owned())
        })
        .unwrap_or_default()
}

fn kill_group(pgid: i32, signal: Signal) {
    let _ = killpg(Pid::from_raw(pgid), signal);
}

impl PodRunner {
    /// `logs` receives the lines of main containers as they print them.
    pub fn new(cfg: RunnerConfig, logs: Option<UnboundedSender<LogLine>>) -> Self {
        let (tx, rx) = unbounded_channel();
        Self {
            cfg,
            pods: BTreeMap::new(),
            tx,
            rx,
            logs,
            generation: 0,
            pending: Vec::new(),
            images: BTreeSet::new(),
            trash: Trash::new(),
        }
    }

    /// Pods whose processes are still running (or not yet started).
    pub fn active(&self) -> usize {
        self.pods
            .values()
            .filter(|p| !p.is_done() || p.deleting)
            .count()
    }

    /// Images of containers that were started, the first time each is seen
    /// (commands run on the host; images are not pulled).
    pub fn new_images(&mut self, pod: &Pod) -> Vec<String> {
        let spec = pod.spec.as_ref();
        let all = spec
            .map(|s| s.containers.iter())
            .into_iter()
            .flatten()
            .chain(
                spec.and_then(|s| s.init_containers.as_ref())
                    .into_iter()
                    .flatten(),
            )
            .filter(|c| c.name != INIT_CONTAINER && c.name != WAIT_CONTAINER)
            .filter_map(|c| c.image.clone());
        all.filter(|image| self.images.insert(image.clone()))
            .collect()
    }

    /// Observations gathered since the last call.
    pub fn take_observations(&mut self) -> Vec<Observation> {
        let ids: Vec<String> = self.pods.keys().cloned().collect();
        for id in ids {
            self.report(&id);
        }
        std::mem::take(&mut self.pending)
    }

    fn report(&mut self, node_id: &str) {
        let Some(pod) = self.pods.get_mut(node_id) else {
            return;
        };
        if pod.deleting {
            return;
        }
        if pod.reported.as_ref() != Some(&pod.obs) {
            pod.reported = Some(pod.obs.clone());
            self.pending.push(Observation::Pod {
                node_id: node_id.to_owned(),
                pod: Box::new(pod.obs.clone()),
            });
        }
    }

    /// Starts the pod of a node (a pod already there is left alone).
    pub fn create(
        &mut self,
        node_id: &str,
        pod: Pod,
        template_config_map: Option<ConfigMap>,
        display: &str,
    ) {
        if self.pods.get(node_id).is_some_and(|p| !p.deleting) {
            return;
        }
        if let Some(old) = self.pods.remove(node_id) {
            for pgid in old.running() {
                kill_group(pgid, Signal::SIGKILL);
            }
        }
        self.generation += 1;
        // A deletion not yet reported is overtaken by the new pod.
        self.pending
            .retain(|o| !matches!(o, Observation::PodDeleted { node_id: n } if n == node_id));
        let pod_name = pod
            .metadata
            .name
            .clone()
            .unwrap_or_else(|| node_id.to_owned());
        let spec = pod.spec.clone().unwrap_or_default();
        let mut ctrs = Vec::new();
        for c in spec.init_containers.iter().flatten() {
            ctrs.push(Ctr {
                container: c.clone(),
                role: Role::Init,
                pgid: None,
            });
        }
        let inits = ctrs.len();
        let mains: Vec<String> = spec
            .containers
            .iter()
            .find_map(|c| {
                c.env
                    .iter()
                    .flatten()
                    .find(|e| e.name == p::ENV_MAIN_CONTAINERS)?
                    .value
                    .clone()
            })
            .map(|v| {
                v.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        for c in &spec.containers {
            let role = if c.name == WAIT_CONTAINER {
                Role::Wait
            } else if mains.is_empty() || mains.contains(&c.name) {
                Role::Main
            } else {
                Role::Sidecar
            };
            ctrs.push(Ctr {
                container: c.clone(),
                role,
                pgid: None,
            });
        }
        let obs = PodObservation {
            phase: PodPhase::Pending,
            init_containers: ctrs[..inits]
                .iter()
                .map(|c| waiting(&c.container.name))
                .collect(),
            containers: ctrs[inits..]
                .iter()
                .map(|c| waiting(&c.container.name))
                .collect(),
            host_node_name: Some(hostname()),
            pod_ip: Some(POD_IP.to_owned()),
            ..PodObservation::default()
        };
        let pod_dir = self.cfg.run.pods_dir().join(&pod_name);
        // A result left by an earlier pod of the node is not this pod's.
        let _ = std::fs::remove_file(self.cfg.run.result_file(node_id));
        let state = PodState {
            node_id: node_id.to_owned(),
            display: display.to_owned(),
            generation: self.generation,
            pod,
            template_config_map,
            pod_dir,
            volumes: Volumes::new(),
            ctrs,
            inits,
            obs,
            reported: None,
            last_result: None,
            kill_at: None,
            deleting: false,
        };
        self.pods.insert(node_id.to_owned(), state);
        let prepared = {
            let pod = &self.pods[node_id];
            let setup = self.setup(pod);
            sandbox::prepare_volumes(&setup)
        };
        match prepared {
            Ok(volumes) => {
                if let Some(pod) = self.pods.get_mut(node_id) {
                    pod.volumes = volumes;
                }
                self.start_next(node_id);
            }
            Err(message) => self.fail_config(node_id, None, message),
        }
    }

    fn setup<'a>(&'a self, pod: &'a PodState) -> PodSetup<'a> {
        PodSetup {
            pod: &pod.pod,
            node_id: &pod.node_id,
            pod_dir: &pod.pod_dir,
            run: &self.cfg.run,
            sources: &self.cfg.sources,
            executor: &self.cfg.executor,
            sandbox: self.cfg.sandbox,
            template_config_map: pod.template_config_map.as_ref(),
        }
    }

    /// Fails a pod that cannot start: the container (if any) waits with
    /// `CreateContainerConfigError`, the pod is `Failed` with the message.
    fn fail_config(&mut self, node_id: &str, index: Option<usize>, message: String) {
        let Some(pod) = self.pods.get_mut(node_id) else {
            return;
        };
        if let Some(index) = index {
            *pod.state_mut(index) = ContainerState::WaitingReason {
                reason: "CreateContainerConfigError".into(),
                message: message.clone(),
            };
        }
        pod.obs.message = message;
        pod.obs.phase = PodPhase::Failed;
        pod.obs.finished_at = Some(Utc::now());
        for pgid in pod.running() {
            kill_group(pgid, Signal::SIGKILL);
        }
        self.finish_if_idle(node_id);
    }

    /// Whether container `index` of `pod` is the executor's `init` with
    /// nothing to do: its one other task, installing the executor in the
    /// shared volume, the sandbox has done already ([`sandbox::prepare_volumes`]).
    /// Such an `init` is not started: a sandbox and a process fewer for most
    /// pods. A template only in a file (a large one) is not read here; its
    /// `init` runs.
    fn init_is_idle(&self, pod: &PodState, index: usize) -> bool {
        let ctr = &pod.ctrs[index];
        let is_executor_init = ctr.role == Role::Init
            && ctr.container.name == INIT_CONTAINER
            && ctr
                .container
                .command
                .as_ref()
                .and_then(|c| c.last())
                .map(String::as_str)
                == Some("init");
        if !(is_executor_init && self.cfg.sandbox && pod.volumes.contains_key(p::VAR_RUN_VOLUME)) {
            return false;
        }
        let template = ctr
            .container
            .env
            .iter()
            .flatten()
            .find(|e| e.name == p::ENV_TEMPLATE)
            .and_then(|e| e.value.as_deref());
        match template.map(serde_json::from_str::<Template>) {
            Some(Ok(template)) => !sluice_executor::init::has_work(&template),
            _ => false,
        }
    }

    /// Starts the next init container, or all the others once inits are done.
    fn start_next(&mut self, node_id: &str) {
        let Some(pod) = self.pods.get(node_id) else {
            return;
        };
        let next_init = (0..pod.inits).find(|&i| matches!(pod.state(i), ContainerState::Waiting));
        if let Some(index) = next_init.filter(|&i| self.init_is_idle(pod, i)) {
            // Ends at once, as the process would have: through the channel
            // every exit takes, so the next containers start the same way.
            let generation = pod.generation;
            if let Some(pod) = self.pods.get_mut(node_id) {
                *pod.state_mut(index) = ContainerState::Running;
            }
            let _ = self.tx.send(Exited {
                node_id: node_id.to_owned(),
                generation,
                index,
                code: 0,
            });
            return;
        }
        let indices: Vec<usize> = match next_init {
            Some(i) => vec![i],
            None => (pod.inits..pod.ctrs.len()).collect(),
        };
        if next_init.is_none()
            && let Some(pod) = self.pods.get_mut(node_id)
        {
            pod.obs.phase = PodPhase::Running;
            pod.obs.started_at.get_or_insert_with(Utc::now);
        }
        for index in indices {
            let launched = {
                let pod = &self.pods[node_id];
                let setup = self.setup(pod);
                let ctr = &pod.ctrs[index];
                sandbox::launch(&setup, &pod.volumes, &ctr.container, ctr.role)
            };
            match launched {
                Ok(launch) => self.spawn(node_id, index, launch),
                Err(message) => {
                    self.fail_config(node_id, Some(index), message);
                    return;
                }
            }
        }
    }

    fn spawn(&mut self, node_id: &str, index: usize, launch: Launch) {
        let Some(pod) = self.pods.get_mut(node_id) else {
            return;
        };
        let name = pod.ctrs[index].container.name.clone();
        let role = pod.ctrs[index].role;
        let log_path = self.cfg.run.log_file(node_id, &name);
        let outcome = (|| -> std::io::Result<tokio::process::Child> {
            if let Some(parent) = log_path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)?;
            let mut command = tokio::process::Command::new(&launch.program);
            command
                .args(&launch.args)
                .env_clear()
                .envs(launch.env.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::null())
                .process_group(0);
            // A working directory makes the standard library fork this
            // (large) process instead of using `posix_spawn` (in a static
            // binary): set it only where it matters.
            if let Some(cwd) = &launch.cwd {
                command.current_dir(cwd);
            }
            match (&self.logs, role) {
                (Some(logs), Role::Main) => {
                    let (reader, writer) = std::io::pipe()?;
                    command.stdout(writer.try_clone()?).stderr(writer);
                    let child = command.spawn()?;
                    drop(command);
                    let logs = logs.clone();
                    let node_id = node_id.to_owned();
                    let display = pod.display.clone();
                    std::thread::spawn(move || tee(reader, log, &logs, &node_id, &display));
                    Ok(child)
                }
                _ => {
                    command.stdout(log.try_clone()?).stderr(log);
                    command.spawn()
                }
            }
        })();
        match outcome {
            Ok(mut child) => {
                pod.ctrs[index].pgid = child.id().and_then(|id| i32::try_from(id).ok());
                *pod.state_mut(index) = ContainerState::Running;
                let tx = self.tx.clone();
                let node_id = node_id.to_owned();
                let generation = pod.generation;
                tokio::spawn(async move {
                    let code = match child.wait().await {
                        Ok(status) => {
                            use std::os::unix::process::ExitStatusExt as _;
                            status
                                .code()
                                .or_else(|| status.signal().map(|s| 128 + s))
                                .unwrap_or(1)
                        }
                        Err(_) => 1,
                    };
                    let _ = tx.send(Exited {
                        node_id,
                        generation,
                        index,
                        code,
                    });
                });
            }
            Err(e) => {
                let message = format!("cannot start {}: {e}", launch.program.to_string_lossy());
                *pod.state_mut(index) = ContainerState::Terminated {
                    exit_code: 127,
                    reason: "StartError".into(),
                    message: message.clone(),
                };
                let _ = self.tx.send(Exited {
                    node_id: node_id.to_owned(),
                    generation: pod.generation,
                    index,
                    code: 127,
                });
            }
        }
    }

    /// Waits for the next process exit.
    pub async fn next_exit(&mut self) -> Option<Exited> {
        self.rx.recv().await
    }

    /// Takes an exit that is already there, without waiting.
    pub fn try_next_exit(&mut self) -> Option<Exited> {
        self.rx.try_recv().ok()
    }

    /// Records a process exit and moves its pod on.
    pub fn on_exit(&mut self, exit: Exited) {
        let Exited {
            node_id,
            generation,
            index,
            code,
        } = exit;
        let log_file = {
            let Some(pod) = self.pods.get_mut(&node_id) else {
                return;
            };
            if pod.generation != generation {
                return;
            }
            pod.ctrs[index].pgid = None;
            self.cfg
                .run
                .log_file(&node_id, &pod.ctrs[index].container.name)
        };
        let Some(pod) = self.pods.get_mut(&node_id) else {
            return;
        };
        let name = pod.ctrs[index].container.name.clone();
        let role = pod.ctrs[index].role;
        if !matches!(pod.state(index), ContainerState::Terminated { .. }) {
            let message = if code == 0 {
                String::new()
            } else {
                last_line(&log_file)
            };
            *pod.state_mut(index) = ContainerState::Terminated {
                exit_code: code,
                reason: if code == 0 { "Completed" } else { "Error" }.into(),
                message,
            };
        }
        if pod.deleting {
            self.finish_if_idle(&node_id);
            return;
        }
        match role {
            Role::Init if !pod.is_done() => {
                if code == 0 {
                    self.start_next(&node_id);
                } else {
                    let detail = last_line(&log_file);
                    pod.obs.phase = PodPhase::Failed;
                    pod.obs.message =
                        format!("init container {name} failed with exit code {code}: {detail}");
                    pod.obs.finished_at = Some(Utc::now());
                    self.finish_if_idle(&node_id);
                }
                return;
            }
            Role::Main => {
                // `emissary` writes the exit code last; a process killed
                // before that must not leave `wait` waiting forever.
                if let Some(var_run) = pod.volumes.get(p::VAR_RUN_VOLUME) {
                    let file = var_run.join("ctr").join(&name).join("exitcode");
                    if !file.exists() {
                        if let Some(parent) = file.parent() {
                            let _ = std::fs::create_dir_all(parent);
                        }
                        let _ = super::state::write_atomic(&file, code.to_string().as_bytes());
                    }
                }
            }
            Role::Wait => self.read_result(&node_id),
            _ => {}
        }
        let Some(pod) = self.pods.get_mut(&node_id) else {
            return;
        };
        let ended = |c: &Ctr, i: usize| {
            !matches!(c.role, Role::Main | Role::Wait)
                || matches!(pod.state(i), ContainerState::Terminated { .. })
        };
        let mains_done = pod
            .ctrs
            .iter()
            .enumerate()
            .skip(pod.inits)
            .all(|(i, c)| ended(c, i));
        if mains_done && pod.kill_at.is_none() && pod.running().next().is_some() {
            pod.kill_at = Some(Instant::now() + SIDECAR_GRACE);
        }
        self.finish_if_idle(&node_id);
    }

    /// Once no process of the pod runs: its final phase, its result, its
    /// volumes removed (or, when deleted, the pod forgotten).
    fn finish_if_idle(&mut self, node_id: &str) {
        let Some(pod) = self.pods.get_mut(node_id) else {
            return;
        };
        if pod.running().next().is_some() {
            return;
        }
        let started = pod.inits < pod.ctrs.len()
            && (pod.inits..pod.ctrs.len())
                .all(|i| !matches!(pod.state(i), ContainerState::Waiting));
        if pod.deleting {
            self.trash.remove(&pod.pod_dir);
            let _ = std::fs::remove_file(self.cfg.run.result_file(node_id));
            self.pending.push(Observation::PodDeleted {
                node_id: node_id.to_owned(),
            });
            self.pods.remove(node_id);
            return;
        }
        if !pod.is_done() {
            if !started {
                return;
            }
            let all_ok = (pod.inits..pod.ctrs.len()).all(|i| {
                matches!(
                    pod.state(i),
                    ContainerState::Terminated { exit_code: 0, .. }
                )
            });
            pod.obs.phase = if all_ok {
                PodPhase::Succeeded
            } else {
                PodPhase::Failed
            };
            pod.obs.finished_at = Some(Utc::now());
        }
        pod.kill_at = None;
        self.trash.remove(&pod.pod_dir);
        self.read_result(node_id);
    }

    fn read_result(&mut self, node_id: &str) {
        let Some(pod) = self.pods.get_mut(node_id) else {
            return;
        };
        let Ok(bytes) = std::fs::read(self.cfg.run.result_file(node_id)) else {
            return;
        };
        let Ok(result) = serde_json::from_slice::<WorkflowTaskResult>(&bytes) else {
            return;
        };
        let observation = sluice_engine::result::observation(result);
        if pod.last_result.as_ref() != Some(&observation) {
            pod.last_result = Some(observation.clone());
            self.pending.push(Observation::Result {
                node_id: node_id.to_owned(),
                result: Box::new(observation),
            });
        }
    }

    /// Sends a signal to a node's main containers: through their `signal`
    /// files (`emissary` forwards it), SIGKILL directly; processes still
    /// there after the grace period are killed.
    pub fn signal(&mut self, node_id: &str, signal: i32) {
        let Some(pod) = self.pods.get_mut(node_id) else {
            return;
        };
        if signal == SIGKILL {
            for pgid in pod.running() {
                kill_group(pgid, Signal::SIGKILL);
            }
            return;
        }
        let var_run = pod.volumes.get(p::VAR_RUN_VOLUME).cloned();
        for (i, ctr) in pod.ctrs.iter().enumerate() {
            let Some(pgid) = ctr.pgid else { continue };
            match (ctr.role, &var_run) {
                (Role::Main, Some(var_run)) => {
                    let dir = var_run.join("ctr").join(&ctr.container.name);
                    let _ = std::fs::create_dir_all(&dir);
                    let _ = super::state::write_atomic(
                        &dir.join("signal"),
                        signal.to_string().as_bytes(),
                    );
                }
                (Role::Init, _) if i < pod.inits => {
                    if let Ok(sig) = Signal::try_from(signal) {
                        kill_group(pgid, sig);
                    }
                }
                _ => {}
            }
        }
        let grace = pod
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.termination_grace_period_seconds)
            .unwrap_or(DEFAULT_GRACE_SECONDS);
        let at = Instant::now() + Duration::from_secs(u64::try_from(grace).unwrap_or(0));
        pod.kill_at = Some(pod.kill_at.map_or(at, |k| k.min(at)));
    }

    /// Deletes a node's pod: its processes are killed, and `PodDeleted` is
    /// observed once they are gone.
    pub fn delete(&mut self, node_id: &str) {
        match self.pods.get_mut(node_id) {
            Some(pod) => {
                pod.deleting = true;
                for pgid in pod.running() {
                    kill_group(pgid, Signal::SIGKILL);
                }
                self.finish_if_idle(node_id);
            }
            // Nothing ran: nothing to observe (a retried node's pod from
            // an earlier process, say).
            None => {
                let _ = std::fs::remove_file(self.cfg.run.result_file(node_id));
            }
        }
    }

    /// Kills every process of every pod (the run is interrupted).
    pub fn kill_all(&mut self) {
        for pod in self.pods.values() {
            for pgid in pod.running() {
                kill_group(pgid, Signal::SIGKILL);
            }
        }
    }

    /// When the next grace period ends.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pods.values().filter_map(|p| p.kill_at).min()
    }

    /// Kills the processes whose grace period ended.
    pub fn enforce_deadlines(&mut self, now: Instant) {
        for pod in self.pods.values_mut() {
            if pod.kill_at.is_some_and(|at| at <= now) {
                pod.kill_at = None;
                for pgid in pod.running() {
                    kill_group(pgid, Signal::SIGKILL);
                }
            }
        }
    }

    /// Stops every running pod: SIGTERM through the signal files, SIGKILL
    /// after the grace period.
    pub fn stop_all(&mut self) {
        let ids: Vec<String> = self
            .pods
            .iter()
            .filter(|(_, p)| !p.is_done())
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            self.signal(&id, sluice_engine::run::SIGTERM);
        }
    }
}

/// Copies a main container's output to its log file and the live output.
fn tee(
    reader: std::io::PipeReader,
    mut log: std::fs::File,
    logs: &UnboundedSender<LogLine>,
    node_id: &str,
    display: &str,
) {
    let mut reader = std::io::BufReader::new(reader);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let _ = log.write_all(&buf);
                let line = String::from_utf8_lossy(&buf)
                    .trim_end_matches(['\n', '\r'])
                    .to_owned();
                let _ = logs.send(LogLine {
                    node_id: node_id.to_owned(),
                    display: display.to_owned(),
                    line,
                });
            }
        }
    }
}
