//! `sluice-executor wait`: the last container of every workflow pod.
//!
//! It reports an incomplete result at once (so the backend knows one is
//! coming), waits for every main container's `exitcode` (terminating them
//! at the deadline), then collects the outputs `emissary` staged: uploads
//! artifacts (streaming), reads parameters and `outputs.result`, archives
//! logs when asked, stops the sidecars, and reports the complete result.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use sluice_api::types::{AnyString, Artifact, Outputs};
use sluice_engine::protocol as p;
use sluice_engine::result::task_result;

use crate::context::Context;
use crate::drivers;
use crate::emissary::write_atomic;
use crate::locate;
use crate::report::Sink;
use crate::secrets::Secrets;

/// How long main containers get between SIGTERM and SIGKILL at the deadline.
const KILL_GRACE: Duration = Duration::from_secs(10);

/// Something that can tell whether a main container ended without writing
/// its exit code (killed before `emissary` could: OOM, eviction). In a
/// cluster it reads the pod's container statuses.
pub trait ContainerWatch: Send + Sync {
    /// Exit codes of containers the platform saw terminate.
    fn terminated(&self) -> futures::future::BoxFuture<'_, BTreeMap<String, i32>>;
}

/// Reads the pod's container statuses through the Kubernetes API.
#[derive(Clone)]
pub struct PodWatch {
    pub client: kube::Client,
    pub namespace: String,
    pub pod: String,
}

impl std::fmt::Debug for PodWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PodWatch({}/{})", self.namespace, self.pod)
    }
}

impl ContainerWatch for PodWatch {
    fn terminated(&self) -> futures::future::BoxFuture<'_, BTreeMap<String, i32>> {
        Box::pin(async move {
            let api: kube::Api<k8s_openapi::api::core::v1::Pod> =
                kube::Api::namespaced(self.client.clone(), &self.namespace);
            let Ok(pod) = api.get(&self.pod).await else {
                return BTreeMap::new();
            };
            pod.status
                .and_then(|s| s.container_statuses)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|c| {
                    let t = c.state?.terminated?;
                    Some((c.name, t.exit_code))
                })
                .collect()
        })
    }
}

/// Runs `wait`; returns the process exit code (0, or 1 when an output
/// could not be saved — the result then says why).
pub async fn run(
    ctx: &Context,
    secrets: &Secrets,
    sink: &Sink,
    watch: Option<&dyn ContainerWatch>,
) -> i32 {
    if sink.reports_early()
        && let Err(e) = sink
            .write(&task_result(&ctx.owner, None, None, None, false))
            .await
    {
        eprintln!("sluice-executor wait: cannot report the result yet: {e:#}");
    }
    let codes = tokio::select! {
        codes = wait_for_main_containers(ctx, watch) => codes,
        () = orphaned(ctx) => {
            eprintln!("sluice-executor wait: the local run that started this pod is gone; giving up");
            return 1;
        }
    };
    let (outputs, failures) = collect_outputs(ctx, secrets, &codes).await;
    stop_sidecars(ctx);
    let progress = std::fs::read_to_string(ctx.shared(p::PROGRESS_FILE))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let failure = (!failures.is_empty()).then(|| failures.join("; "));
    for f in &failures {
        eprintln!("sluice-executor wait: {f}");
    }
    let outputs = (outputs != Outputs::default()).then_some(outputs);
    let result = task_result(&ctx.owner, outputs, progress, failure.clone(), true);
    if let Err(e) = sink.write(&result).await {
        eprintln!("sluice-executor wait: cannot report the result: {e:#}");
        return 1;
    }
    i32::from(failure.is_some())
}

/// Resolves once the process that started `wait` is gone, in the local
/// backend (which runs `wait` as its own child, outside any sandbox whose
/// end would take it along); never in a cluster.
async fn orphaned(ctx: &Context) {
    if ctx.result_file.is_none() {
        return std::future::pending().await;
    }
    let parent = std::os::unix::process::parent_id();
    while std::os::unix::process::parent_id() == parent {
        tokio::time::sleep(ORPHAN_POLL).await;
    }
}

/// How often `wait` checks that its local run is still there.
const ORPHAN_POLL: Duration = Duration::from_secs(1);
/// The longest pause between two looks for the main containers' exit codes.
const MAX_POLL: Duration = Duration::from_millis(100);

/// Waits until every main container has an exit code; returns them.
pub async fn wait_for_main_containers(
    ctx: &Context,
    watch: Option<&dyn ContainerWatch>,
) -> BTreeMap<String, i32> {
    let mut codes = BTreeMap::new();
    let mut poll = Duration::from_millis(20);
    let mut last_watch = std::time::Instant::now();
    let mut terminated_at: Option<std::time::Instant> = None;
    loop {
        for name in &ctx.main_containers {
            if codes.contains_key(name) {
                continue;
            }
            if let Ok(text) = std::fs::read_to_string(ctx.ctr_file(name, "exitcode"))
                && let Ok(code) = text.trim().parse::<i32>()
            {
                codes.insert(name.clone(), code);
            }
        }
        if codes.len() == ctx.main_containers.len() {
            return codes;
        }
        if let Some(watch) = watch
            && last_watch.elapsed() >= Duration::from_secs(5)
        {
            last_watch = std::time::Instant::now();
            for (name, code) in watch.terminated().await {
                if ctx.main_containers.contains(&name) && !codes.contains_key(&name) {
                    // Give emissary a moment to write its own code first.
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    if !ctx.ctr_file(&name, "exitcode").exists() {
                        eprintln!(
                            "sluice-executor wait: container {name} ended with {code} before writing its exit code"
                        );
                        codes.insert(name, code);
                    }
                }
            }
        }
        if let Some(deadline) = ctx.deadline
            && chrono::Utc::now() >= deadline
        {
            match terminated_at {
                None => {
                    eprintln!(
                        "sluice-executor wait: deadline {deadline} exceeded: terminating the main containers"
                    );
                    signal(ctx, &ctx.main_containers, 15);
                    terminated_at = Some(std::time::Instant::now());
                }
                Some(at) if at.elapsed() >= KILL_GRACE => {
                    signal(ctx, &ctx.main_containers, 9);
                    terminated_at = Some(std::time::Instant::now() + Duration::from_secs(3600));
                }
                Some(_) => {}
            }
        }
        tokio::time::sleep(poll).await;
        poll = (poll * 2).min(MAX_POLL);
    }
}

fn signal(ctx: &Context, containers: &[String], number: i32) {
    for name in containers {
        let path = ctx.ctr_file(name, "signal");
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        if let Err(e) = write_atomic(&path, number.to_string().as_bytes()) {
            eprintln!("sluice-executor wait: cannot signal {name}: {e}");
        }
    }
}

/// Tells every sidecar to stop (SIGTERM through its signal file).
pub fn stop_sidecars(ctx: &Context) {
    signal(ctx, &ctx.sidecars, 15);
}

/// The outputs of the node and what could not be saved.
pub async fn collect_outputs(
    ctx: &Context,
    secrets: &Secrets,
    codes: &BTreeMap<String, i32>,
) -> (Outputs, Vec<String>) {
    let mut outputs = Outputs::default();
    let mut failures = Vec::new();
    let main = ctx.outputs_container().to_string();
    if let Some(code) = codes.get(&main) {
        outputs.exit_code = Some(code.to_string());
    }
    let template = &ctx.template;
    if ctx.capture_result
        && (template.script.is_some()
            || template.container.is_some()
            || template.container_set.is_some())
    {
        match read_result(&ctx.ctr_file(&main, "stdout")) {
            Ok(Some(result)) => outputs.result = Some(result),
            Ok(None) => {}
            Err(e) => failures.push(format!("outputs.result: {e}")),
        }
    }
    let errors = ctx.shared(p::OUTPUT_ERRORS_DIR);
    let staging_error = |kind: &str, name: &str| {
        std::fs::read_to_string(errors.join(format!("{kind}-{name}"))).ok()
    };
    let declared = template.outputs.clone().unwrap_or_default();
    for param in &declared.parameters {
        let Some(value_from) = &param.value_from else {
            continue;
        };
        let Some(path) = value_from.path.as_deref() else {
            continue;
        };
        let staged = ctx.shared(p::OUTPUT_PARAMETERS_DIR).join(&param.name);
        let value = match std::fs::read(&staged) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                Some(text.strip_suffix('\n').unwrap_or(&text).to_string())
            }
            Err(_) => value_from.default.as_ref().map(AnyString::as_text),
        };
        match value {
            Some(value) => {
                let mut out = param.clone();
                out.value = Some(AnyString::text(value));
                outputs.parameters.push(out);
            }
            None => failures.push(format!(
                "output parameter {:?}: {}",
                param.name,
                staging_error("parameter", &param.name)
                    .unwrap_or_else(|| format!("{path} was not produced"))
            )),
        }
    }
    let repo = template.archive_location.as_deref();
    for art in &declared.artifacts {
        if art.path.is_none() {
            continue;
        }
        let file_name = locate::file_name(art);
        let staged = ctx
            .shared(p::OUTPUT_ARTIFACTS_DIR)
            .join(&art.name)
            .join(&file_name);
        if std::fs::symlink_metadata(&staged).is_err() {
            if let Some(err) = staging_error("artifact", &art.name)
                && !art.optional.unwrap_or(false)
            {
                failures.push(format!("output artifact {:?}: {err}", art.name));
            }
            continue;
        }
        match save(art, repo, &file_name, &staged, secrets).await {
            Ok(saved) => outputs.artifacts.push(saved),
            Err(e) => failures.push(format!("output artifact {:?}: {e}", art.name)),
        }
    }
    let archive_logs = repo.and_then(|r| r.archive_logs).unwrap_or(false);
    if archive_logs {
        for name in &ctx.main_containers {
            let log = ctx.ctr_file(name, "combined");
            if !log.exists() {
                continue;
            }
            let art = Artifact {
                name: format!("{name}-logs"),
                ..Artifact::default()
            };
            match save(&art, repo, &format!("{name}.log"), &log, secrets).await {
                Ok(saved) => outputs.artifacts.push(saved),
                Err(e) => failures.push(format!("logs of {name}: {e}")),
            }
        }
    }
    (outputs, failures)
}

async fn save(
    art: &Artifact,
    repo: Option<&sluice_api::types::ArtifactLocation>,
    file_name: &str,
    staged: &Path,
    secrets: &Secrets,
) -> Result<Artifact, drivers::ArtifactError> {
    let located = locate::output(art, repo, file_name)?;
    let driver = drivers::driver_for(&located, secrets)?;
    driver.save(staged, &located).await?;
    Ok(located)
}

/// The last [`p::MAX_RESULT_BYTES`] of stdout, without one trailing newline.
fn read_result(path: &Path) -> std::io::Result<Option<String>> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    // One more byte than the limit, so a trailing newline can be trimmed first.
    let keep = (p::MAX_RESULT_BYTES + 1) as u64;
    if len > keep {
        file.seek(SeekFrom::Start(len - keep))?;
    }
    let mut bytes = Vec::with_capacity(len.min(keep) as usize);
    file.read_to_end(&mut bytes)?;
    let mut total = len;
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        total -= 1;
    }
    if total > p::MAX_RESULT_BYTES as u64 {
        eprintln!(
            "sluice-executor wait: stdout is larger than 256 KiB; outputs.result keeps only the last 256 KiB"
        );
    }
    if bytes.len() > p::MAX_RESULT_BYTES {
        bytes.drain(..bytes.len() - p::MAX_RESULT_BYTES);
    }
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}
