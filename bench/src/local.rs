//! `sluice-bench local [STEPS]`: STEPS (500 by default) trivial steps in
//! parallel (`withSequence`, each `true`) through the real `sluice run`, in
//! pods per second, next to the baseline measured in the same run: the same
//! number of bare `bwrap ... true` sandboxes, spawned with as many at a
//! time as the machine has cores.
//!
//! `sluice` is taken from beside this binary (`cargo build --release -p
//! sluice-cli -p sluice-bench` puts both in the same directory) or from
//! `SLUICE_BIN`.
//!
//! The run is timed with its state where a user's would be (a temporary
//! directory of the root file system); then, for comparison only, again with
//! its state on a tmpfs: the target applies to the first.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use serde_json::Value;

const TARGET_PODS_PER_SEC: f64 = 100.0;

pub fn run(args: &[String]) -> Result<()> {
    let steps: usize = match args.first() {
        Some(n) => n.parse().context("STEPS: a number")?,
        None => 500,
    };
    let sluice = sluice_binary()?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("fan-out.yaml");
    std::fs::write(&file, workflow(steps))?;

    let (wall, pods) = run_sluice(&sluice, &file, &dir.path().join("state"), steps)?;
    let rate = pods as f64 / wall.as_secs_f64();
    // The same run with its state on a tmpfs, when the machine has one: the
    // difference is the file system's (a pod creates a dozen files; ext4
    // without a journal allocates inodes slowly among recently deleted ones).
    let shm = Path::new("/dev/shm");
    let on_tmpfs = if shm.is_dir() {
        let state = tempfile::tempdir_in(shm)?;
        Some(run_sluice(&sluice, &file, state.path(), steps)?)
    } else {
        None
    };

    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let bwrap = bwrap_baseline(steps, workers)?;
    let bwrap_rate = steps as f64 / bwrap.as_secs_f64();

    println!("local: {steps} parallel steps through `sluice run` ({pods} pods)");
    println!(
        "  baseline bwrap ... true x{steps}, {workers} at a time  {:>8.3}s  {:>8.1} spawns/s",
        bwrap.as_secs_f64(),
        bwrap_rate
    );
    println!(
        "  sluice run                                 {:>8.3}s  {:>8.1} pods/s  ({:.2}x baseline rate)",
        wall.as_secs_f64(),
        rate,
        rate / bwrap_rate
    );
    if let Some((wall, pods)) = on_tmpfs {
        let rate = pods as f64 / wall.as_secs_f64();
        println!(
            "  the same, state on tmpfs (/dev/shm)        {:>8.3}s  {:>8.1} pods/s  ({:.2}x baseline rate; for comparison only)",
            wall.as_secs_f64(),
            rate,
            rate / bwrap_rate
        );
    }
    let verdict = if rate >= TARGET_PODS_PER_SEC {
        "PASS"
    } else {
        "FAIL"
    };
    println!("  target >= {TARGET_PODS_PER_SEC:.0} pods/s: {verdict}");
    Ok(())
}

/// Runs the workflow in `file` through `sluice run`, with its state in
/// `state`: the wall time and the number of pods it ran.
fn run_sluice(sluice: &Path, file: &Path, state: &Path, steps: usize) -> Result<(Duration, usize)> {
    let start = Instant::now();
    let output = Command::new(sluice)
        .arg("run")
        .arg(file)
        .args(["--output", "json"])
        .env("SLUICE_STATE_DIR", state)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("running {}", sluice.display()))?;
    let wall = start.elapsed();
    let workflow: Value = serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "sluice run printed no workflow JSON (exit {}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    let phase = workflow
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("?");
    ensure!(
        output.status.success() && phase == "Succeeded",
        "sluice run ended {phase} (exit {}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let pods = count_pods(&workflow);
    ensure!(
        pods >= steps,
        "the workflow ran {pods} pods, expected at least {steps}"
    );
    Ok((wall, pods))
}

fn sluice_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("SLUICE_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe()?;
    let beside = exe.with_file_name("sluice");
    if beside.is_file() {
        return Ok(beside);
    }
    bail!(
        "{}: not found; build it with `cargo build --release -p sluice-cli` or set SLUICE_BIN",
        beside.display()
    )
}

fn workflow(steps: usize) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: bench-local-
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - name: trivial
            template: trivial
            withSequence:
              count: \"{steps}\"
    - name: trivial
      container:
        image: busybox:1.36
        command: [\"true\"]
"
    )
}

fn count_pods(workflow: &Value) -> usize {
    workflow
        .pointer("/status/nodes")
        .and_then(Value::as_object)
        .map_or(0, |nodes| {
            nodes
                .values()
                .filter(|n| n.get("type").and_then(Value::as_str) == Some("Pod"))
                .count()
        })
}

/// Spawns `count` bare sandboxes running `true`, `workers` at a time.
fn bwrap_baseline(count: usize, workers: usize) -> Result<Duration> {
    let next = AtomicUsize::new(0);
    let failures = AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while next.fetch_add(1, Ordering::Relaxed) < count {
                    let ok = Command::new("bwrap")
                        .args([
                            "--ro-bind",
                            "/",
                            "/",
                            "--dev",
                            "/dev",
                            "--proc",
                            "/proc",
                            "--tmpfs",
                            "/tmp",
                            "--unshare-pid",
                            "--die-with-parent",
                            "true",
                        ])
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .is_ok_and(|s| s.success());
                    if !ok {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let elapsed = start.elapsed();
    let failed = failures.load(Ordering::Relaxed);
    ensure!(
        failed == 0,
        "{failed} of {count} bwrap spawns failed (is bubblewrap installed and allowed here?)"
    );
    Ok(elapsed)
}
