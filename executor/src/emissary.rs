//! `sluice-executor emissary -- CMD ARGS...`: wraps a main or sidecar
//! container's command.
//!
//! It runs the command with the container's stdin, tees stdout to
//! `ctr/<name>/stdout` and stdout+stderr to `ctr/<name>/combined` (while
//! still printing both, so `kubectl logs` works), forwards SIGTERM/SIGINT and
//! whatever signal number appears in `ctr/<name>/signal`, and when the
//! command ends stages the template's outputs (main containers only) before
//! writing `ctr/<name>/exitcode` last. It exits with the command's code
//! (128+N when a signal N killed it).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use sluice_engine::protocol as p;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Mutex;

use crate::archive;
use crate::context::Context;
use crate::locate;

/// How often the signal file is checked.
const SIGNAL_POLL: Duration = Duration::from_millis(100);

/// Runs the emissary; returns the process exit code.
pub fn run(argv: Vec<OsString>) -> i32 {
    let container = std::env::var(p::ENV_CONTAINER_NAME).unwrap_or_else(|_| "main".to_string());
    let var_run =
        std::env::var_os(p::ENV_VAR_RUN).map_or_else(|| PathBuf::from(p::VAR_RUN), PathBuf::from);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sluice-executor emissary: cannot start: {e}");
            return 1;
        }
    };
    let ctr_dir = var_run.join("ctr").join(&container);
    let code = runtime.block_on(supervise(&ctr_dir, argv));
    if is_main(&container) {
        stage_outputs(&container);
    }
    if let Err(e) = write_atomic(&ctr_dir.join("exitcode"), code.to_string().as_bytes()) {
        eprintln!("sluice-executor emissary: cannot write exit code: {e}");
    }
    code
}

fn is_main(container: &str) -> bool {
    match std::env::var(p::ENV_MAIN_CONTAINERS) {
        Ok(list) if !list.trim().is_empty() => list.split(',').any(|c| c.trim() == container),
        _ => container == "main",
    }
}

/// Writes `contents` to a temporary sibling and renames it into place.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path)
}

async fn supervise(ctr_dir: &Path, argv: Vec<OsString>) -> i32 {
    let Some((program, args)) = argv.split_first() else {
        eprintln!("sluice-executor emissary: no command given after --");
        return 127;
    };
    if let Err(e) = tokio::fs::create_dir_all(ctr_dir).await {
        eprintln!(
            "sluice-executor emissary: cannot create {}: {e}",
            ctr_dir.display()
        );
        return 1;
    }
    let open = |name: &str| {
        let path = ctr_dir.join(name);
        async move { tokio::fs::File::create(&path).await.map_err(|e| (path, e)) }
    };
    let (stdout_file, combined_file) = match (open("stdout").await, open("combined").await) {
        (Ok(a), Ok(b)) => (a, b),
        (Err((path, e)), _) | (_, Err((path, e))) => {
            eprintln!(
                "sluice-executor emissary: cannot create {}: {e}",
                path.display()
            );
            return 1;
        }
    };
    if let Some(code) = wait_for_dependencies(ctr_dir).await {
        let mut combined = combined_file;
        let _ = combined
            .write_all(b"sluice-executor emissary: not started\n")
            .await;
        return code;
    }
    let mut child = match tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::inherit())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            let code = if e.kind() == std::io::ErrorKind::PermissionDenied {
                126
            } else {
                127
            };
            let message = format!(
                "sluice-executor emissary: cannot run {}: {e}\n",
                program.to_string_lossy()
            );
            eprint!("{message}");
            let mut combined = combined_file;
            let _ = combined.write_all(message.as_bytes()).await;
            return code;
        }
    };
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);
    let combined = Arc::new(Mutex::new(combined_file));
    let out = child.stdout.take().map(|s| {
        tokio::spawn(tee(
            s,
            tokio::io::stdout(),
            Some(stdout_file),
            combined.clone(),
        ))
    });
    let err = child
        .stderr
        .take()
        .map(|s| tokio::spawn(tee(s, tokio::io::stderr(), None, combined.clone())));

    let signal_file = ctr_dir.join("signal");
    let mut delivered: Option<i32> = None;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            _ = recv(&mut term) => forward(pid, Signal::SIGTERM as i32),
            _ = recv(&mut int) => forward(pid, Signal::SIGINT as i32),
            () = tokio::time::sleep(SIGNAL_POLL) => {
                if let Some(n) = read_signal(&signal_file).await
                    && delivered != Some(n)
                {
                    forward(pid, n);
                    delivered = Some(n);
                }
            }
        }
    };
    for task in [out, err].into_iter().flatten() {
        let _ = task.await;
    }
    match status {
        Ok(status) => {
            use std::os::unix::process::ExitStatusExt;
            status
                .code()
                .or_else(|| status.signal().map(|s| 128 + s))
                .unwrap_or(1)
        }
        Err(e) => {
            eprintln!("sluice-executor emissary: waiting for the command: {e}");
            1
        }
    }
}

/// Waits until every container named in [`p::ENV_DEPENDENCIES`] has written
/// its exit code. Returns `None` when all exited 0 (start the command), or
/// the code to exit with without starting it: 1 when a dependency failed,
/// 128+N when signal N arrived in this container's `signal` file meanwhile.
async fn wait_for_dependencies(ctr_dir: &Path) -> Option<i32> {
    let list = std::env::var(p::ENV_DEPENDENCIES).unwrap_or_default();
    let root = ctr_dir.parent()?;
    for dependency in list.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let path = root.join(dependency).join("exitcode");
        loop {
            if let Ok(text) = tokio::fs::read_to_string(&path).await {
                match text.trim().parse::<i32>() {
                    Ok(0) => break,
                    Ok(code) => {
                        eprintln!(
                            "sluice-executor emissary: dependency {dependency:?} exited with code {code}; not starting"
                        );
                        return Some(1);
                    }
                    Err(_) => {
                        eprintln!(
                            "sluice-executor emissary: dependency {dependency:?} wrote a malformed exit code {text:?}; not starting"
                        );
                        return Some(1);
                    }
                }
            }
            if let Some(signal) = read_signal(&ctr_dir.join("signal")).await {
                return Some(128 + signal);
            }
            tokio::time::sleep(SIGNAL_POLL).await;
        }
    }
    None
}

async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

async fn read_signal(path: &Path) -> Option<i32> {
    let text = tokio::fs::read_to_string(path).await.ok()?;
    text.trim().parse().ok()
}

fn forward(pid: Option<Pid>, signal: i32) {
    let (Some(pid), Ok(signal)) = (pid, Signal::try_from(signal)) else {
        return;
    };
    let _ = kill(pid, signal);
}

async fn tee<R, W>(
    mut from: R,
    mut echo: W,
    mut copy: Option<tokio::fs::File>,
    combined: Arc<Mutex<tokio::fs::File>>,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        let _ = echo.write_all(chunk).await;
        let _ = echo.flush().await;
        if let Some(file) = copy.as_mut() {
            let _ = file.write_all(chunk).await;
        }
        let _ = combined.lock().await.write_all(chunk).await;
    }
    if let Some(file) = copy.as_mut() {
        let _ = file.flush().await;
    }
    let _ = combined.lock().await.flush().await;
}

/// In a containerSet, the outputs may be written by any member into a
/// shared volume (upstream's workspace pattern), so the container that
/// stages them first waits for every other member to exit, except those
/// that (transitively) depend on it and so cannot start before it ends.
/// A signal to this container stops the wait.
fn wait_for_set_members(ctx: &Context, container: &str) {
    let Some(set) = &ctx.template.container_set else {
        return;
    };
    let name_of = |c: &sluice_api::types::ContainerNode| {
        c.container.str_field("name").unwrap_or_default().to_owned()
    };
    let mut after_me: std::collections::BTreeSet<String> = [container.to_owned()].into();
    loop {
        let before = after_me.len();
        for member in &set.containers {
            if member.dependencies.iter().any(|d| after_me.contains(d)) {
                after_me.insert(name_of(member));
            }
        }
        if after_me.len() == before {
            break;
        }
    }
    let ctr = ctx.var_run.join("ctr");
    let signal = ctr.join(container).join("signal");
    for member in set.containers.iter().map(name_of) {
        if after_me.contains(&member) {
            continue;
        }
        while !ctr.join(&member).join("exitcode").exists() {
            if signal.exists() {
                return;
            }
            std::thread::sleep(SIGNAL_POLL);
        }
    }
}

/// Stages the template's output parameters and artifacts into the shared
/// volume; what cannot be staged is written to `outputs/errors/`.
fn stage_outputs(container: &str) {
    let ctx = match Context::from_env() {
        Ok(ctx) => ctx,
        Err(e) => {
            eprintln!("sluice-executor emissary: cannot stage outputs: {e}");
            return;
        }
    };
    if container != ctx.outputs_container() {
        return;
    }
    let Some(outputs) = ctx.template.outputs.as_ref() else {
        return;
    };
    wait_for_set_members(&ctx, container);
    let errors = ctx.shared(p::OUTPUT_ERRORS_DIR);
    let report = |kind: &str, name: &str, message: String| {
        let _ = std::fs::create_dir_all(&errors);
        let _ = std::fs::write(errors.join(format!("{kind}-{name}")), message);
    };
    let params_dir = ctx.shared(p::OUTPUT_PARAMETERS_DIR);
    for param in &outputs.parameters {
        let Some(path) = param.value_from.as_ref().and_then(|v| v.path.as_deref()) else {
            continue;
        };
        let staged = params_dir.join(&param.name);
        let result =
            std::fs::create_dir_all(&params_dir).and_then(|()| std::fs::copy(path, &staged));
        if let Err(e) = result {
            report("parameter", &param.name, format!("cannot read {path}: {e}"));
        }
    }
    let artifacts_dir = ctx.shared(p::OUTPUT_ARTIFACTS_DIR);
    for art in &outputs.artifacts {
        let Some(path) = art.path.as_deref() else {
            continue;
        };
        let src = Path::new(path);
        if std::fs::symlink_metadata(src).is_err() {
            if !art.optional.unwrap_or(false) {
                report("artifact", &art.name, format!("path {path} does not exist"));
            }
            continue;
        }
        let staged = artifacts_dir.join(&art.name).join(locate::file_name(art));
        let result = std::fs::create_dir_all(artifacts_dir.join(&art.name))
            .map_err(|e| e.to_string())
            .and_then(|()| {
                archive::stage(src, &archive::format_of(art.archive.as_ref()), &staged)
                    .map_err(|e| e.to_string())
            });
        if let Err(e) = result {
            report("artifact", &art.name, format!("cannot archive {path}: {e}"));
        }
    }
}
