//! The state of local runs on disk:
//!
//! ```text
//! $SLUICE_STATE_DIR (default .sluice/)
//!   <namespace>/<name>/
//!     workflow.json     the Workflow with its status (rewritten after every step)
//!     lock              locked (flock) by the process running the workflow
//!     results/<node-id>.json   WorkflowTaskResults written by `wait`
//!     logs/<node-id>/<container>.log
//!     artifacts/        the `local:` artifact repository
//!     control/          intents (resume, suspend, stop...) for the runner
//!     claims/<name>/    PersistentVolumeClaims
//!     pods/<pod>/       a running pod's volumes and private /tmp
//! ```
//!
//! Every file is written atomically (a temporary sibling, then a rename).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use sluice_api::types::Workflow;
use sluice_engine::run::Intent;

/// The environment variable naming the state root.
pub const ENV_STATE_DIR: &str = "SLUICE_STATE_DIR";
/// The state root when the variable is unset.
pub const DEFAULT_STATE_DIR: &str = ".sluice";

/// The state root: `$SLUICE_STATE_DIR`, else `.sluice`.
pub fn state_root() -> PathBuf {
    std::env::var_os(ENV_STATE_DIR)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_STATE_DIR), PathBuf::from)
}

/// Writes `contents` to a temporary sibling of `path` and renames it over `path`.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    {
        let mut file = File::create(&tmp)?;
        file.write_all(contents)?;
    }
    std::fs::rename(&tmp, path)
}

/// The directory of one workflow's run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunDir {
    pub root: PathBuf,
}

/// The lock of a workflow, held while a process runs it.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunDir {
    /// `<root>/<namespace>/<name>`.
    pub fn new(state_root: &Path, namespace: &str, name: &str) -> Self {
        Self {
            root: state_root.join(namespace).join(name),
        }
    }

    /// Finds a run by name: `NAME` or `NAMESPACE/NAME`; without a namespace,
    /// the one namespace holding it (an error when several do).
    pub fn find(state_root: &Path, name: &str) -> anyhow::Result<Self> {
        if let Some((namespace, name)) = name.split_once('/') {
            let dir = Self::new(state_root, namespace, name);
            if !dir.workflow_file().exists() {
                bail!(
                    "no local run {namespace}/{name} under {}",
                    state_root.display()
                );
            }
            return Ok(dir);
        }
        let mut found = Vec::new();
        if let Ok(entries) = std::fs::read_dir(state_root) {
            for entry in entries.flatten() {
                let dir = Self {
                    root: entry.path().join(name),
                };
                if dir.workflow_file().exists() {
                    found.push(dir);
                }
            }
        }
        match found.len() {
            0 => bail!(
                "no local run named {name} under {} (set {ENV_STATE_DIR} to look elsewhere)",
                state_root.display()
            ),
            1 => Ok(found.remove(0)),
            _ => bail!("several namespaces hold a run named {name}: give NAMESPACE/{name}"),
        }
    }

    /// Creates the directories of the run.
    pub fn create(&self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.root)
            .with_context(|| format!("creating {}", self.root.display()))?;
        spread_children(&self.root);
        for dir in [
            self.results_dir(),
            self.logs_dir(),
            self.artifacts_dir(),
            self.control_dir(),
            self.claims_dir(),
            self.pods_dir(),
        ] {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        for dir in [self.pods_dir(), self.logs_dir()] {
            spread_children(&dir);
        }
        Ok(())
    }

    pub fn workflow_file(&self) -> PathBuf {
        self.root.join("workflow.json")
    }
    pub fn results_dir(&self) -> PathBuf {
        self.root.join("results")
    }
    pub fn result_file(&self, node_id: &str) -> PathBuf {
        self.results_dir().join(format!("{node_id}.json"))
    }
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }
    pub fn log_file(&self, node_id: &str, container: &str) -> PathBuf {
        self.logs_dir()
            .join(node_id)
            .join(format!("{container}.log"))
    }
    pub fn artifacts_dir(&self) -> PathBuf {
        self.root.join("artifacts")
    }
    pub fn control_dir(&self) -> PathBuf {
        self.root.join("control")
    }
    pub fn claims_dir(&self) -> PathBuf {
        self.root.join("claims")
    }
    pub fn claim_dir(&self, name: &str) -> PathBuf {
        self.claims_dir().join(name)
    }
    pub fn pods_dir(&self) -> PathBuf {
        self.root.join("pods")
    }

    /// Takes the workflow's lock; `Ok(None)` when another process holds it.
    pub fn try_lock(&self) -> anyhow::Result<Option<RunLock>> {
        let path = self.root.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(RunLock { _file: file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("locking {}", path.display()))
            }
        }
    }

    /// Reads `workflow.json`.
    pub fn load(&self) -> anyhow::Result<Workflow> {
        let path = self.workflow_file();
        let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_slice(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Writes `workflow.json` atomically.
    pub fn save(&self, workflow: &Workflow) -> anyhow::Result<()> {
        let path = self.workflow_file();
        let bytes = serde_json::to_vec_pretty(workflow)?;
        write_atomic(&path, &bytes).with_context(|| format!("writing {}", path.display()))
    }

    /// Leaves an intent for the runner in `control/`.
    pub fn send_intent(&self, intent: &Intent) -> anyhow::Result<PathBuf> {
        let dir = self.control_dir();
        std::fs::create_dir_all(&dir)?;
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.9f");
        let path = dir.join(format!("{stamp}-{}.json", std::process::id()));
        let bytes = serde_json::to_vec(intent)?;
        write_atomic(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// Takes the intents waiting in `control/`, oldest first, removing their
    /// files. Unreadable files are removed with a warning.
    pub fn take_intents(&self) -> Vec<Intent> {
        let Ok(entries) = std::fs::read_dir(self.control_dir()) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.extension().is_some_and(|e| e == "json")
                    && !p
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        files.sort();
        let mut intents = Vec::new();
        for file in files {
            let parsed = std::fs::read(&file)
                .map_err(anyhow::Error::from)
                .and_then(|b| Ok(serde_json::from_slice::<Intent>(&b)?));
            match parsed {
                Ok(intent) => intents.push(intent),
                Err(e) => eprintln!("sluice: warning: ignoring {}: {e:#}", file.display()),
            }
            let _ = std::fs::remove_file(&file);
        }
        intents
    }
}

/// Marks `dir` as the top of unrelated directory trees (`chattr +T`), so
/// that ext4 places each of its subdirectories (the run's results, a pod's
/// scratch, its logs) in a block group of its own choosing instead of the
/// parent's. Every pod creates and deletes a dozen inodes, and ext4 without
/// a journal skips, one by one, the inodes of a group freed in the last
/// minute when it allocates one: with every pod in the same group a run
/// slows down as it goes, and more so right after a build deleted thousands
/// of files there. Where the flag means nothing (tmpfs, other file systems)
/// the call fails and nothing changes.
fn spread_children(dir: &Path) {
    let Ok(file) = File::open(dir) else {
        return;
    };
    if let Ok(flags) = rustix::fs::ioctl_getflags(&file)
        && !flags.contains(rustix::fs::IFlags::TOPDIR)
    {
        let _ = rustix::fs::ioctl_setflags(&file, flags | rustix::fs::IFlags::TOPDIR);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_directories_spread_their_children_where_the_file_system_can() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Whether this file system takes the flag at all (ext4 does, tmpfs
        // does not): asked of a directory of its own.
        let probe = dir.path().join("probe");
        std::fs::create_dir(&probe).expect("probe");
        let takes_flag = File::open(&probe).is_ok_and(|f| {
            rustix::fs::ioctl_getflags(&f).is_ok_and(|flags| {
                rustix::fs::ioctl_setflags(&f, flags | rustix::fs::IFlags::TOPDIR).is_ok()
            })
        });
        let run = RunDir::new(dir.path(), "default", "spread");
        run.create().expect("create");
        for path in [run.root.clone(), run.pods_dir(), run.logs_dir()] {
            let flags = rustix::fs::ioctl_getflags(File::open(&path).expect("open"));
            assert_eq!(
                flags.is_ok_and(|f| f.contains(rustix::fs::IFlags::TOPDIR)),
                takes_flag,
                "{}",
                path.display()
            );
        }
        let results = File::open(run.results_dir()).expect("open");
        assert!(
            !rustix::fs::ioctl_getflags(results)
                .is_ok_and(|f| f.contains(rustix::fs::IFlags::TOPDIR))
        );
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("workflow.json");
        write_atomic(&path, b"one").expect("write");
        write_atomic(&path, b"two").expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("workflow.json")]);
    }

    #[test]
    fn one_lock_per_workflow() {
        let dir = tempfile::tempdir().expect("tempdir");
        let run = RunDir::new(dir.path(), "default", "wf");
        run.create().expect("create");
        let held = run.try_lock().expect("lock").expect("free");
        assert!(run.try_lock().expect("lock").is_none());
        drop(held);
        assert!(run.try_lock().expect("lock").is_some());
    }

    #[test]
    fn intents_round_trip_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let run = RunDir::new(dir.path(), "default", "wf");
        run.create().expect("create");
        let first = Intent::Resume {
            node: Some("approve".into()),
            parameters: [("ok".to_string(), "yes".to_string())].into(),
        };
        let second = Intent::Stop {
            message: Some("enough".into()),
        };
        run.send_intent(&first).expect("send");
        run.send_intent(&second).expect("send");
        std::fs::write(run.control_dir().join("junk.json"), b"{").expect("junk");
        let taken = run.take_intents();
        assert_eq!(taken, vec![first, second]);
        assert!(run.take_intents().is_empty());
    }

    #[test]
    fn find_by_name_and_namespace() {
        let dir = tempfile::tempdir().expect("tempdir");
        let run = RunDir::new(dir.path(), "team", "wf");
        run.create().expect("create");
        run.save(&Workflow::default()).expect("save");
        assert_eq!(RunDir::find(dir.path(), "wf").expect("found"), run);
        assert_eq!(RunDir::find(dir.path(), "team/wf").expect("found"), run);
        let err = RunDir::find(dir.path(), "nope").expect_err("missing");
        assert!(err.to_string().contains("no local run named nope"), "{err}");
    }
}
