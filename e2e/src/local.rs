//! Harness for running workflows through `sluice run` (the local backend):
//! finding the `sluice` binary, running one workflow file with a time cap in
//! its own state directory, reading the final phase, and the corpus table
//! (`e2e/corpus-expected.tsv`).
//!
//! The binary is found by path, not through `CARGO_BIN_EXE_sluice`: cargo
//! sets that only for the tests of the crate that owns the binary, a
//! dev-dependency on the binary-only `sluice-cli` builds nothing, and
//! artifact dependencies are unstable. So the harness asks the cargo that
//! built this test to build `sluice` and `sluice-executor` when they are
//! missing or older than their sources, then takes `sluice` from beside the
//! test executable (`<target>/<triple>/<profile>/sluice`, the test running
//! from `.../deps/`). `SLUICE_BIN` overrides both.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{self, Read};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The annotation giving an example's expected final phase (default
/// `Succeeded`).
pub const EXPECTED_PHASE: &str = "sluice.dev/expected-phase";
/// The annotation giving extra `sluice run` arguments (split on whitespace),
/// e.g. `-p colour=blue`.
pub const RUN_ARGS: &str = "sluice.dev/run-args";
/// Upstream's label (an annotation in a few files) for examples its own
/// e2e suite does not run.
pub const NO_TEST: &str = "workflows.argoproj.io/no-test";

/// How often the harness looks at a running `sluice run` again.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// What can go wrong around a run (not the run's own outcome).
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("building sluice with `{command}` failed ({status})")]
    Build { command: String, status: ExitStatus },
    #[error("{}: no sluice binary there after the build (set SLUICE_BIN to use another)", .0.display())]
    BinaryMissing(PathBuf),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: {message}")]
    Manifest { path: String, message: String },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> LocalError + '_ {
    move |source| LocalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from(".."), Path::to_path_buf)
}

/// The `sluice` binary, built once per test process (see the module docs).
pub fn sluice_binary() -> Result<&'static Path, &'static LocalError> {
    static BINARY: OnceLock<Result<PathBuf, LocalError>> = OnceLock::new();
    BINARY.get_or_init(find_or_build).as_deref()
}

fn find_or_build() -> Result<PathBuf, LocalError> {
    if let Some(path) = std::env::var_os("SLUICE_BIN") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(LocalError::BinaryMissing(path))
        };
    }
    let exe = std::env::current_exe().map_err(io_error(Path::new("current_exe")))?;
    // <target>/<triple>/<profile>/deps/<test>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| LocalError::BinaryMissing(exe.clone()))?;
    let profile = profile_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let binary = profile_dir.join("sluice");
    let binaries = [binary.clone(), profile_dir.join("sluice-executor")];
    if !stale(&binaries) {
        return Ok(binary);
    }
    let mut cargo = Command::new(env!("CARGO"));
    // `sluice run` finds `sluice-executor` beside itself.
    cargo.current_dir(workspace_root()).args([
        "build",
        "--quiet",
        "-p",
        "sluice-cli",
        "--bin",
        "sluice",
        "-p",
        "sluice-executor",
        "--bin",
        "sluice-executor",
    ]);
    match profile.as_str() {
        "debug" => {}
        "release" => {
            cargo.arg("--release");
        }
        other => {
            cargo.args(["--profile", other]);
        }
    }
    let status = cargo.status().map_err(io_error(Path::new(env!("CARGO"))))?;
    if !status.success() {
        return Err(LocalError::Build {
            command: format!("{cargo:?}"),
            status,
        });
    }
    if binary.is_file() {
        Ok(binary)
    } else {
        Err(LocalError::BinaryMissing(binary))
    }
}

/// Whether a binary is missing or older than a source it is built from.
/// `cargo test --workspace` builds both binaries with the workspace's
/// features, and building them again with `-p` would recompile their
/// dependencies with other features, so the harness builds only when needed.
fn stale(binaries: &[PathBuf]) -> bool {
    let Some(built) = binaries
        .iter()
        .map(|b| std::fs::metadata(b).and_then(|m| m.modified()).ok())
        .collect::<Option<Vec<_>>>()
        .and_then(|times| times.into_iter().min())
    else {
        return true;
    };
    let root = workspace_root();
    let mut dirs: Vec<PathBuf> = ["api", "engine", "executor", "cli"]
        .iter()
        .map(|c| root.join(c))
        .collect();
    let mut files = vec![root.join("Cargo.lock"), root.join("Cargo.toml")];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.iter().any(|f| {
        std::fs::metadata(f)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t > built)
    })
}

/// `("PATH", ...)`: this process's `PATH` with `dirs` put first, for
/// [`Case::env`]. `sluice run` gives the containers it runs its own `PATH`,
/// so programs of an image the corpus relies on (`argosay`, `cowsay`) can
/// come from a directory of stand-ins (`e2e/bin`).
pub fn path_with(dirs: &[PathBuf]) -> (OsString, OsString) {
    let rest = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let all = dirs.iter().cloned().chain(std::env::split_paths(&rest));
    let joined = std::env::join_paths(all).unwrap_or(rest);
    ("PATH".into(), joined)
}

/// A counting semaphore: how many `sluice run`s may run at once across all
/// the tests of a binary (they share the machine's cores).
#[derive(Debug)]
pub struct Slots {
    free: Mutex<usize>,
    changed: Condvar,
}

impl Slots {
    pub const fn new(count: usize) -> Slots {
        Slots {
            free: Mutex::new(count),
            changed: Condvar::new(),
        }
    }

    /// Runs `work` while holding one slot.
    pub fn with<T>(&self, work: impl FnOnce() -> T) -> T {
        {
            let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
            while *free == 0 {
                free = self.changed.wait(free).unwrap_or_else(|e| e.into_inner());
            }
            *free -= 1;
        }
        let result = work();
        *self.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.changed.notify_one();
        result
    }
}

/// One workflow file to run.
#[derive(Clone, Debug)]
pub struct Case {
    /// The file, as shown in reports (relative to its suite's directory).
    pub name: String,
    pub file: PathBuf,
    /// Extra `sluice run` arguments (`-p`, `--template-dir`...).
    pub args: Vec<String>,
    /// Environment variables set for `sluice run` (and so for the
    /// containers it runs, which inherit its `PATH`), e.g. from
    /// [`path_with`].
    pub env: Vec<(OsString, OsString)>,
    pub timeout: Duration,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// `sluice run` printed a workflow with this final phase and exited
    /// accordingly (0 exactly when it is `Succeeded`).
    Phase(String),
    /// It outlived its time cap and was killed.
    TimedOut,
    /// It ended without a usable answer: no JSON, a phase that disagrees
    /// with the exit code, or not a final phase.
    Broken(String),
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ending::Phase(phase) => f.write_str(phase),
            Ending::TimedOut => f.write_str("timed out"),
            Ending::Broken(why) => write!(f, "broken: {why}"),
        }
    }
}

/// The outcome of one [`Case`].
#[derive(Clone, Debug)]
pub struct Outcome {
    pub ending: Ending,
    pub elapsed: Duration,
    /// The workflow's `status.message`, when it has one.
    pub message: Option<String>,
    /// The last lines `sluice run` wrote on stderr.
    pub stderr_tail: String,
}

/// Runs `sluice run FILE ARGS --output json` from the workspace root in a
/// fresh `$SLUICE_STATE_DIR`, killed (with every process it started) after
/// the case's timeout.
pub fn run_case(binary: &Path, case: &Case) -> Result<Outcome, LocalError> {
    let state = tempfile::tempdir().map_err(io_error(Path::new("tempdir")))?;
    let stderr_path = state.path().join("sluice-run.stderr");
    let stderr_file = std::fs::File::create(&stderr_path).map_err(io_error(&stderr_path))?;
    let start = Instant::now();
    let mut child = Command::new(binary)
        .current_dir(workspace_root())
        .arg("run")
        .arg(&case.file)
        .args(&case.args)
        .args(["--output", "json"])
        .envs(case.env.iter().map(|(k, v)| (k, v)))
        .env("SLUICE_STATE_DIR", state.path().join("state"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr_file)
        // Its own process group, so a timeout kills the sandboxes too.
        .process_group(0)
        .spawn()
        .map_err(io_error(binary))?;
    let mut stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(out) = stdout.as_mut() {
            let _ = out.read_to_string(&mut text);
        }
        text
    });
    let deadline = start + case.timeout;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(io_error(binary))? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            kill_group(child.id());
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(POLL_INTERVAL);
    };
    let elapsed = start.elapsed();
    // A sandboxed process that outlived `sluice run` would hold stdout open.
    kill_group(child.id());
    let stdout = reader.join().unwrap_or_default();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let stderr_tail = tail(&stderr, 15);
    let Some(status) = status else {
        return Ok(Outcome {
            ending: Ending::TimedOut,
            elapsed,
            message: None,
            stderr_tail,
        });
    };
    let (ending, message) = judge(status, &stdout);
    Ok(Outcome {
        ending,
        elapsed,
        message,
        stderr_tail,
    })
}

fn kill_group(pid: u32) {
    // Without libc (unsafe is forbidden): kill(1) with a negative pid.
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .stderr(Stdio::null())
        .status();
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The ending from the exit status and the JSON printed on stdout.
fn judge(status: ExitStatus, stdout: &str) -> (Ending, Option<String>) {
    let workflow: Value = match serde_json::from_str(stdout.trim()) {
        Ok(value) => value,
        Err(err) => {
            return (
                Ending::Broken(format!(
                    "exit {status}, stdout is not one JSON workflow ({err}): {:.200}",
                    stdout.trim()
                )),
                None,
            );
        }
    };
    let message = workflow
        .pointer("/status/message")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let Some(phase) = workflow.pointer("/status/phase").and_then(Value::as_str) else {
        return (
            Ending::Broken(format!("exit {status}, no status.phase")),
            message,
        );
    };
    if !matches!(phase, "Succeeded" | "Failed" | "Error") {
        return (
            Ending::Broken(format!("exit {status} with phase {phase}")),
            message,
        );
    }
    if status.success() != (phase == "Succeeded") {
        return (
            Ending::Broken(format!("phase {phase} but exit {status}")),
            message,
        );
    }
    (Ending::Phase(phase.to_owned()), message)
}

/// Runs every case on `slots`, in order of `cases`, stopping to start new
/// ones after `budget`; calls `report` as each finishes. Cases not started
/// in time have no outcome.
pub fn run_all(
    binary: &Path,
    cases: &[Case],
    slots: &Slots,
    workers: usize,
    budget: Duration,
    report: impl Fn(&Case, &Result<Outcome, LocalError>) + Sync,
) -> Vec<Option<Result<Outcome, LocalError>>> {
    let start = Instant::now();
    let next = Mutex::new(0usize);
    let results: Mutex<Vec<Option<Result<Outcome, LocalError>>>> =
        Mutex::new(cases.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            scope.spawn(|| {
                loop {
                    let index = {
                        let mut next = next.lock().unwrap_or_else(|e| e.into_inner());
                        let index = *next;
                        *next += 1;
                        index
                    };
                    let Some(case) = cases.get(index) else {
                        return;
                    };
                    let outcome = slots.with(|| {
                        // Never start a case that could overrun the budget.
                        let left = budget.saturating_sub(start.elapsed());
                        (left >= case.timeout.min(budget)).then(|| run_case(binary, case))
                    });
                    let Some(outcome) = outcome else {
                        continue;
                    };
                    report(case, &outcome);
                    results.lock().unwrap_or_else(|e| e.into_inner())[index] = Some(outcome);
                }
            });
        }
    });
    results.into_inner().unwrap_or_else(|e| e.into_inner())
}

/// The labels and annotations of a manifest's Workflow.
#[derive(Clone, Debug, Default)]
pub struct WorkflowMeta {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// The metadata of a manifest file's first `kind: Workflow` document
/// (`None` when it has none).
pub fn workflow_meta(path: &Path) -> Result<Option<WorkflowMeta>, LocalError> {
    let text = std::fs::read_to_string(path).map_err(io_error(path))?;
    let documents =
        sluice_api::yaml::parse_documents(&text).map_err(|err| LocalError::Manifest {
            path: path.display().to_string(),
            message: format!("{}:{}: {}", err.line, err.column, err.message),
        })?;
    let strings = |value: &Value, pointer: &str| -> BTreeMap<String, String> {
        value
            .pointer(pointer)
            .and_then(Value::as_object)
            .map(|map| {
                map.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(documents
        .into_iter()
        .map(|document| document.value)
        .find(|value| value.get("kind").and_then(Value::as_str) == Some("Workflow"))
        .map(|value| WorkflowMeta {
            labels: strings(&value, "/metadata/labels"),
            annotations: strings(&value, "/metadata/annotations"),
        }))
}

/// Every `.yaml`/`.yml` file under `dir` (recursively, sorted), skipping
/// the directories named in `skip_dirs`.
pub fn manifest_files(dir: &Path, skip_dirs: &[&Path]) -> Result<Vec<PathBuf>, LocalError> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        if skip_dirs.iter().any(|skip| *skip == dir) {
            continue;
        }
        for entry in std::fs::read_dir(&dir).map_err(io_error(&dir))? {
            let path = entry.map_err(io_error(&dir))?.path();
            if path.is_dir() {
                dirs.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            ) {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// What the corpus table expects of one example.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expectation {
    /// A final phase: `Succeeded`, `Failed` or `Error`.
    Phase(String),
    /// Not run, with the reason.
    Skip(String),
}

/// `e2e/corpus-expected.tsv`: `# floor: N` in the header, then one
/// `path<TAB>expectation` line per example (`#` lines are comments).
#[derive(Clone, Debug, Default)]
pub struct CorpusTable {
    pub floor: usize,
    pub entries: BTreeMap<String, Expectation>,
}

impl CorpusTable {
    pub fn parse(text: &str) -> Result<CorpusTable, String> {
        let mut table = CorpusTable::default();
        let mut floor = None;
        for (number, line) in text.lines().enumerate() {
            let number = number + 1;
            let line = line.trim_end();
            if let Some(comment) = line.strip_prefix('#') {
                if let Some(value) = comment.trim().strip_prefix("floor:") {
                    floor = Some(
                        value
                            .trim()
                            .parse()
                            .map_err(|e| format!("line {number}: floor: {e}"))?,
                    );
                }
                continue;
            }
            if line.is_empty() {
                continue;
            }
            let Some((path, expected)) = line.split_once('\t') else {
                return Err(format!("line {number}: want `path<TAB>expectation`"));
            };
            let expected = expected.trim();
            let expectation = if let Some(reason) = expected.strip_prefix("skip:") {
                let reason = reason.trim();
                if reason.is_empty() {
                    return Err(format!("line {number}: a skip needs a reason"));
                }
                Expectation::Skip(reason.to_owned())
            } else if matches!(expected, "Succeeded" | "Failed" | "Error") {
                Expectation::Phase(expected.to_owned())
            } else {
                return Err(format!(
                    "line {number}: {expected:?}: want Succeeded, Failed, Error or `skip: <reason>`"
                ));
            };
            if table
                .entries
                .insert(path.trim().to_owned(), expectation)
                .is_some()
            {
                return Err(format!("line {number}: {path} listed twice"));
            }
        }
        table.floor = floor.ok_or("no `# floor: N` line in the header")?;
        Ok(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_parses_and_rejects_bad_lines() {
        let table = CorpusTable::parse(
            "# comment\n# floor: 2\na.yaml\tSucceeded\nb/c.yaml\tskip: needs a cluster\n",
        )
        .expect("parses");
        assert_eq!(table.floor, 2);
        assert_eq!(
            table.entries.get("b/c.yaml"),
            Some(&Expectation::Skip("needs a cluster".into()))
        );
        assert!(CorpusTable::parse("a.yaml\tSucceeded\n").is_err());
        assert!(CorpusTable::parse("# floor: 1\na.yaml\tPending\n").is_err());
        assert!(CorpusTable::parse("# floor: 1\na.yaml\tskip:\n").is_err());
        assert!(CorpusTable::parse("# floor: 1\na.yaml\tFailed\na.yaml\tFailed\n").is_err());
    }

    #[test]
    fn path_with_puts_dirs_first() {
        let (name, value) = path_with(&[PathBuf::from("/a/bin"), PathBuf::from("/b")]);
        assert_eq!(name, "PATH");
        let dirs: Vec<PathBuf> = std::env::split_paths(&value).collect();
        assert_eq!(dirs[..2], [PathBuf::from("/a/bin"), PathBuf::from("/b")]);
        if let Some(host) = std::env::var_os("PATH") {
            let host: Vec<PathBuf> = std::env::split_paths(&host).collect();
            assert_eq!(dirs[2..], host[..]);
        }
    }

    fn exit(code: i32) -> ExitStatus {
        Command::new("sh")
            .args(["-c", &format!("exit {code}")])
            .status()
            .expect("sh runs")
    }

    #[test]
    fn judge_checks_phase_against_exit_code() {
        let ok = r#"{"status":{"phase":"Succeeded"}}"#;
        let failed = r#"{"status":{"phase":"Failed","message":"boom"}}"#;
        assert_eq!(judge(exit(0), ok).0, Ending::Phase("Succeeded".into()));
        let (ending, message) = judge(exit(1), failed);
        assert_eq!(ending, Ending::Phase("Failed".into()));
        assert_eq!(message.as_deref(), Some("boom"));
        assert!(matches!(judge(exit(1), ok).0, Ending::Broken(_)));
        assert!(matches!(judge(exit(0), failed).0, Ending::Broken(_)));
        assert!(matches!(judge(exit(0), "not json").0, Ending::Broken(_)));
        assert!(matches!(
            judge(exit(1), r#"{"status":{"phase":"Running"}}"#).0,
            Ending::Broken(_)
        ));
    }
}
