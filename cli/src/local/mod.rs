//! The local backend: `sluice run` and the `--local` verbs. Runs a workflow
//! on this machine with no Kubernetes: the engine decides, [`pods`] runs
//! the pods it asks for as sandboxed host processes ([`sandbox`]), and the
//! run's state lives in a directory ([`state`]).

pub mod driver;
pub mod env;
pub mod pods;
pub mod sandbox;
pub mod sources;
pub mod state;
pub mod tree;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use sluice_api::Config;
use sluice_api::types::{AnyString, ArtifactRepository, Object, Parameter, Workflow};
use sluice_api::validate::{self, Mode, Severity};
use sluice_engine::protocol::LOCAL_LOCATION_KEY;
use sluice_engine::repository::{self, ConfigMapData};
use sluice_engine::run::{Env, Intent, Run, decompress_nodes, node_type, phase};

use driver::{Display, Driver, Ending};
use pods::{PodRunner, RunnerConfig};
use sources::{Sources, Templates};
use state::RunDir;

/// The environment variable naming the executor binary.
pub const ENV_EXECUTOR: &str = "SLUICE_EXECUTOR";

/// Where a run's ConfigMaps, secrets and templates come from.
#[derive(Clone, Debug, Default, clap::Args, Serialize, Deserialize)]
pub struct SourceArgs {
    /// A directory of WorkflowTemplates and ClusterWorkflowTemplates (repeatable).
    #[arg(long = "template-dir", value_name = "DIR")]
    #[serde(default)]
    pub template_dirs: Vec<PathBuf>,
    /// A directory of secrets: DIR/<secret>/<key> files.
    #[arg(long = "secret-dir", value_name = "DIR", env = "SLUICE_SECRET_DIR")]
    #[serde(default)]
    pub secret_dir: Option<PathBuf>,
    /// A YAML file of ConfigMaps (repeatable).
    #[arg(long = "configmap", value_name = "FILE")]
    #[serde(default)]
    pub configmaps: Vec<PathBuf>,
    /// The controller configuration (workflow-controller-configmap).
    #[arg(long, value_name = "FILE", env = "SLUICE_CONFIG")]
    #[serde(default)]
    pub config: Option<PathBuf>,
}

impl SourceArgs {
    fn absolute(&self) -> Self {
        let abs = |p: &PathBuf| std::path::absolute(p).unwrap_or_else(|_| p.clone());
        Self {
            template_dirs: self.template_dirs.iter().map(abs).collect(),
            secret_dir: self.secret_dir.as_ref().map(abs),
            configmaps: self.configmaps.iter().map(abs).collect(),
            config: self.config.as_ref().map(abs),
        }
    }

    fn load(&self) -> anyhow::Result<(Config, Templates, Sources)> {
        let config = match &self.config {
            Some(path) => sources::load_config(path)?,
            None => Config::default(),
        };
        let mut templates = Templates::default();
        for dir in &self.template_dirs {
            templates.add_dir(dir)?;
        }
        let mut srcs = Sources {
            secret_dir: self.secret_dir.clone(),
            ..Sources::default()
        };
        for file in &self.configmaps {
            srcs.add_config_map_file(file)?;
        }
        Ok((config, templates, srcs))
    }
}

/// `--output`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Json,
}

/// `sluice run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The Workflow manifest (`-` for stdin).
    pub file: PathBuf,
    /// Set a workflow argument: NAME=VALUE (repeatable).
    #[arg(short = 'p', long = "parameter", value_name = "NAME=VALUE")]
    pub parameters: Vec<String>,
    #[command(flatten)]
    pub sources: SourceArgs,
    /// Print only the final Workflow as JSON.
    #[arg(short = 'o', long)]
    pub output: Option<Output>,
    /// The workflow's name (instead of its name or generateName).
    #[arg(long)]
    pub name: Option<String>,
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut bytes);
    }
    bytes
}

/// A 5-character suffix from the alphabet Kubernetes uses for generateName.
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    random_bytes::<5>()
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

fn random_uid() -> String {
    let mut b = random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Sets `spec.arguments.parameters` from `-p NAME=VALUE`.
pub fn apply_parameters(wf: &mut Workflow, parameters: &[String]) -> anyhow::Result<()> {
    let by_ref = wf.spec.workflow_template_ref.is_some();
    for item in parameters {
        let Some((name, value)) = item.split_once('=') else {
            bail!("-p {item}: expected NAME=VALUE");
        };
        let arguments = wf.spec.arguments.get_or_insert_with(Default::default);
        match arguments.parameters.iter_mut().find(|p| p.name == name) {
            Some(p) => p.value = Some(AnyString::text(value)),
            // The template the workflow refers to declares them.
            None if by_ref => arguments.parameters.push(Parameter {
                name: name.to_owned(),
                value: Some(AnyString::text(value)),
                ..Parameter::default()
            }),
            None => bail!("parameter {name} is not declared in spec.arguments"),
        }
    }
    Ok(())
}

fn read_workflow(path: &Path) -> anyhow::Result<(String, Workflow)> {
    let text = if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading stdin")?;
        s
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
    };
    let documents = sluice_api::yaml::parse_documents(&text).map_err(|e| {
        anyhow::anyhow!("{}:{}:{}: {}", path.display(), e.line, e.column, e.message)
    })?;
    for document in documents {
        match Object::from_value(&document.value) {
            Ok(Some(Object::Workflow(wf))) => return Ok((text, *wf)),
            Ok(_) => continue,
            Err(e) => {
                let mark = document.positions.lookup(&e.path);
                bail!("{}:{}:{}: {e}", path.display(), mark.line, mark.column);
            }
        }
    }
    bail!("{}: no Workflow in the file", path.display())
}

fn validate_workflow(
    path: &Path,
    wf: &Workflow,
    config: &Config,
    templates: &Templates,
) -> anyhow::Result<()> {
    let ctx = validate::Context {
        mode: Mode::Submit,
        config,
        known_templates: &templates.objects,
        allow_missing_refs: false,
    };
    let objects = [Object::Workflow(Box::new(wf.clone()))];
    let mut errors = 0;
    for d in validate::validate(&objects, &ctx) {
        let level = match d.severity {
            Severity::Error => {
                errors += 1;
                "error"
            }
            _ => "warning",
        };
        eprintln!("{}: {level}: {}: {}", path.display(), d.path, d.message);
    }
    if errors > 0 {
        bail!(
            "{}: the workflow is invalid ({errors} errors)",
            path.display()
        );
    }
    Ok(())
}

/// The engine's environment for a workflow.
fn engine_env(wf: &Workflow, config: Config, templates: &Templates, srcs: &Sources) -> Env {
    let lookup = |name: &str| {
        srcs.config_maps.get(name).map(|data| ConfigMapData {
            data: data.clone(),
            annotations: srcs
                .config_map_annotations
                .get(name)
                .cloned()
                .unwrap_or_default(),
        })
    };
    let named = repository::resolve_location(wf, &config, &lookup);
    let artifact_repository = match named {
        Ok(Some(location)) => Some(location),
        Ok(None) => {
            let mut local = ArtifactRepository::default();
            local
                .extra
                .insert(LOCAL_LOCATION_KEY.to_owned(), serde_json::json!({}));
            repository::to_location(&local)
        }
        Err(e) => {
            eprintln!("sluice: warning: {e}; artifacts go to the local repository");
            let mut local = ArtifactRepository::default();
            local
                .extra
                .insert(LOCAL_LOCATION_KEY.to_owned(), serde_json::json!({}));
            repository::to_location(&local)
        }
    };
    Env {
        config,
        local: true,
        workflow_templates: templates.workflow_templates.clone(),
        cluster_workflow_templates: templates.cluster_workflow_templates.clone(),
        config_maps: srcs.config_maps.clone(),
        artifact_repository,
        executor_token_secret: None,
    }
}

/// `sluice-executor`: `$SLUICE_EXECUTOR`, else beside `sluice` (or one
/// directory up, for test binaries in `deps/`).
pub fn find_executor() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os(ENV_EXECUTOR).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("{ENV_EXECUTOR}={} is not a file", path.display());
        }
        return Ok(std::path::absolute(&path)?);
    }
    let exe = std::env::current_exe().context("locating sluice")?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    for candidate in [dir.join("sluice-executor"), dir.join("../sluice-executor")] {
        if candidate.is_file() {
            return Ok(candidate.canonicalize()?);
        }
    }
    bail!(
        "cannot find sluice-executor beside {}: build it (cargo build -p sluice-executor) or set {ENV_EXECUTOR}",
        exe.display()
    )
}

fn sandbox_mode() -> bool {
    let available = sandbox::bubblewrap_available();
    if !available {
        eprintln!(
            "sluice: warning: running without a sandbox (bubblewrap not found or SLUICE_NO_SANDBOX set): \
             commands see this machine as is, and templates with volume mounts or input artifacts fail"
        );
    }
    available
}

/// Runs a stored workflow to its end in this process, holding its lock.
fn drive(
    dir: RunDir,
    run: Run,
    srcs: Sources,
    display: Display,
    recover: bool,
    extra: Vec<sluice_engine::run::Observation>,
) -> anyhow::Result<Option<Workflow>> {
    let executor = find_executor()?;
    let sandbox = sandbox_mode();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let (log_tx, log_rx) = tokio::sync::mpsc::unbounded_channel();
        let cfg = RunnerConfig {
            run: dir.clone(),
            sources: srcs,
            executor,
            sandbox,
        };
        let runner = PodRunner::new(cfg, Some(log_tx));
        let driver = Driver::new(run, dir, runner, log_rx, display);
        let mut initial = if recover {
            driver.recovery_observations()
        } else {
            Vec::new()
        };
        initial.extend(extra);
        match driver.drive(initial).await? {
            Ending::Finished(wf) => Ok(Some(*wf)),
            Ending::Interrupted => Ok(None),
        }
    })
}

fn conclude(wf: Option<Workflow>, json: bool) -> anyhow::Result<ExitCode> {
    let Some(wf) = wf else {
        eprintln!(
            "sluice: interrupted; the run is left as it was (resume it with `sluice resume --local NAME`)"
        );
        return Ok(ExitCode::from(130));
    };
    let status = wf.status.clone().unwrap_or_default();
    let final_phase = status
        .phase
        .clone()
        .unwrap_or_else(|| phase::PENDING.into());
    if json {
        let mut out = serde_json::to_string_pretty(&wf)?;
        out.push('\n');
        crate::report::write_stdout(&out)?;
    } else {
        let message = status
            .message
            .filter(|m| !m.is_empty())
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        let name = wf.metadata.name.as_deref().unwrap_or("");
        crate::report::write_stdout(&format!("Workflow {name} {final_phase}{message}\n"))?;
    }
    Ok(if final_phase == phase::SUCCEEDED {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `sluice run FILE`.
pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let json = args.output == Some(Output::Json);
    let sources_args = args.sources.absolute();
    let (config, templates, srcs) = sources_args.load()?;
    let (_, mut wf) = read_workflow(&args.file)?;
    apply_parameters(&mut wf, &args.parameters)?;
    validate_workflow(&args.file, &wf, &config, &templates)?;

    let name = match (&args.name, &wf.metadata.name, &wf.metadata.generate_name) {
        (Some(name), _, _) => name.clone(),
        (None, Some(name), _) if !name.is_empty() => name.clone(),
        (None, _, Some(prefix)) if !prefix.is_empty() => format!("{prefix}{}", random_suffix()),
        _ => bail!(
            "{}: metadata.name or metadata.generateName is required",
            args.file.display()
        ),
    };
    wf.metadata.name = Some(name.clone());
    let namespace = wf
        .metadata
        .namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".into());
    wf.metadata.namespace = Some(namespace.clone());
    wf.metadata.uid = Some(random_uid());
    wf.metadata.creation_timestamp =
        Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    wf.status = None;

    let dir = RunDir::new(&state::state_root(), &namespace, &name);
    if dir.workflow_file().exists() {
        bail!(
            "a local run {namespace}/{name} exists already: retry it with `sluice retry --local {name}`, or pick another --name"
        );
    }
    dir.create()?;
    let Some(_lock) = dir.try_lock()? else {
        bail!("{namespace}/{name} is being run by another process");
    };
    let bytes = serde_json::to_vec_pretty(&sources_args)?;
    state::write_atomic(&dir.root.join("sources.json"), &bytes)?;
    dir.save(&wf)?;
    let env = engine_env(&wf, config, &templates, &srcs);
    let run = Run::new(wf, env);
    let display = Display::for_stdout(json);
    let wf = drive(dir, run, srcs, display, false, Vec::new())?;
    conclude(wf, json)
}

/// `sluice get --local NAME`.
pub fn get(name: &str, output: Option<crate::cluster::Format>) -> anyhow::Result<ExitCode> {
    let dir = RunDir::find(&state::state_root(), name)?;
    let mut wf = dir.load()?;
    if let Some(status) = wf.status.as_mut()
        && let Some(compressed) = status.compressed_nodes.take()
    {
        status.nodes = decompress_nodes(&compressed).map_err(|e| anyhow::anyhow!(e))?;
    }
    let text = match output {
        Some(format) => crate::cluster::format(&wf, format)?,
        None => tree::render(&wf, chrono::Utc::now()),
    };
    crate::report::write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// `sluice logs --local NAME`: every pod's logs, prefixed with its node's
/// display name, in the order the pods started.
pub fn logs(name: &str, container: Option<&str>) -> anyhow::Result<ExitCode> {
    let dir = RunDir::find(&state::state_root(), name)?;
    let mut wf = dir.load()?;
    let status = wf.status.take().unwrap_or_default();
    let nodes = match &status.compressed_nodes {
        Some(c) => decompress_nodes(c).map_err(|e| anyhow::anyhow!(e))?,
        None => status.nodes,
    };
    let mut pods: Vec<_> = nodes
        .iter()
        .filter(|(_, n)| n.r#type.as_deref() == Some(node_type::POD))
        .collect();
    pods.sort_by(|a, b| (&a.1.started_at, a.0).cmp(&(&b.1.started_at, b.0)));
    let mut out = String::new();
    for (id, node) in pods {
        let wanted = container.unwrap_or("main");
        let path = dir.log_file(id, wanted);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for line in text.lines() {
            out.push_str(tree::display_name(node));
            out.push_str(": ");
            out.push_str(line);
            out.push('\n');
        }
    }
    crate::report::write_stdout(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// `resume`, `suspend`, `stop`, `retry` on a local run: handed to the
/// process running it, or, when none does, applied and run to the end here.
pub fn intent(name: &str, intent: Intent) -> anyhow::Result<ExitCode> {
    let dir = RunDir::find(&state::state_root(), name)?;
    let Some(_lock) = dir.try_lock()? else {
        let file = dir.send_intent(&intent)?;
        eprintln!(
            "sluice: asked the running `sluice run` ({})",
            file.file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        return Ok(ExitCode::SUCCESS);
    };
    let sources_args: SourceArgs = std::fs::read(dir.root.join("sources.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let (config, templates, srcs) = sources_args.load()?;
    let wf = dir.load()?;
    let env = engine_env(&wf, config, &templates, &srcs);
    let run = Run::new(wf, env);
    // Intents left for a runner that is gone apply first.
    let mut extra: Vec<_> = dir
        .take_intents()
        .into_iter()
        .map(sluice_engine::run::Observation::Intent)
        .collect();
    extra.push(sluice_engine::run::Observation::Intent(intent));
    let wf = drive(dir, run, srcs, Display::for_stdout(false), true, extra)?;
    conclude(wf, false)
}

#[cfg(test)]
mod tests;
