//! Harness for the end-to-end tests (see tests/): the real kube-apiserver of
//! ../shared/k8s, started once per test binary, a client for it, and the
//! Sluice CRDs installed on it.
//!
//! ```no_run
//! # async fn f() -> Result<(), sluice_e2e::HarnessError> {
//! let server = sluice_e2e::shared_apiserver();
//! let client = server.client().await?;
//! sluice_e2e::install_crds(&client).await?;
//! # Ok(()) }
//! ```
//!
//! [`local`] runs workflows through `sluice run` (tests/local.rs); [`chart`]
//! renders charts/sluice with the real helm.

pub mod chart;
pub mod kubelet;
pub mod local;
pub mod s3;

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::DynamicObject;

/// The field manager of everything the harness applies.
pub const FIELD_MANAGER: &str = "sluice-e2e";

/// How long the harness waits for the API server to act on a change.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(30);

/// How often the harness looks again while it waits.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// What can go wrong while setting up the end-to-end environment.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error(
        "{}: not found; the end-to-end tests need the real API server of ../shared/k8s (see its README.md)",
        .0.display()
    )]
    ScriptMissing(PathBuf),
    #[error("{}: {source}", script.display())]
    Spawn { script: PathBuf, source: io::Error },
    #[error("{} failed ({status}):\n{stderr}", script.display())]
    StartFailed {
        script: PathBuf,
        status: ExitStatus,
        stderr: String,
    },
    #[error("{} printed no `export KUBECONFIG=` line:\n{stdout}", script.display())]
    NoKubeconfig { script: PathBuf, stdout: String },
    #[error("{}: {source}", path.display())]
    Kubeconfig {
        path: PathBuf,
        source: kube::config::KubeconfigError,
    },
    #[error(transparent)]
    Client(#[from] kube::Error),
    #[error("gave up after {timeout:?} waiting for {what}")]
    Timeout { timeout: Duration, what: String },
}

/// A running etcd + kube-apiserver, started by ../shared/k8s/start-apiserver.sh
/// in a directory of its own.
///
/// It stops when dropped, and in any case when the test process exits (a
/// small reaper process waits for this process to go away, however it
/// ends, and then runs the server's `stop`), so a failing or interrupted
/// test never leaves a server behind.
#[derive(Debug)]
pub struct ApiServer {
    dir: PathBuf,
    kubeconfig: PathBuf,
    reaper: Mutex<Option<Child>>,
    stopped: AtomicBool,
}

impl ApiServer {
    /// The start script, beside the repository.
    pub fn script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/k8s/start-apiserver.sh")
    }

    /// Starts a server in a new temporary directory and waits until it is
    /// ready (about five seconds).
    pub fn start() -> Result<Self, HarnessError> {
        Self::start_with(&Self::script())
    }

    /// Starts a server with the given start script.
    pub fn start_with(script: &Path) -> Result<Self, HarnessError> {
        let script = script.to_path_buf();
        if !script.is_file() {
            return Err(HarnessError::ScriptMissing(script));
        }
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir =
            std::env::temp_dir().join(format!("sluice-e2e-{}-{nanos:09}", std::process::id()));
        let output = Command::new("bash")
            .arg(&script)
            .arg("--dir")
            .arg(&dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| HarnessError::Spawn {
                script: script.clone(),
                source,
            })?;
        if !output.status.success() {
            return Err(HarnessError::StartFailed {
                script,
                status: output.status,
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            });
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let Some(kubeconfig) = stdout
            .lines()
            .find_map(|line| line.trim().strip_prefix("export KUBECONFIG="))
            .map(PathBuf::from)
        else {
            return Err(HarnessError::NoKubeconfig {
                script,
                stdout: stdout.into_owned(),
            });
        };
        let mut server = Self {
            dir,
            kubeconfig,
            reaper: Mutex::new(None),
            stopped: AtomicBool::new(false),
        };
        // The server runs from here on: an error below drops (stops) it.
        let reaper =
            spawn_reaper(&server.dir.join("stop")).map_err(|source| HarnessError::Spawn {
                script: PathBuf::from("bash"),
                source,
            })?;
        server.reaper = Mutex::new(Some(reaper));
        Ok(server)
    }

    /// The server's directory: kubeconfig, logs, `stop`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The admin kubeconfig.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// A client with the admin's credentials.
    pub async fn client(&self) -> Result<kube::Client, HarnessError> {
        let kubeconfig_error = |source| HarnessError::Kubeconfig {
            path: self.kubeconfig.clone(),
            source,
        };
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig).map_err(kubeconfig_error)?;
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(kubeconfig_error)?;
        Ok(kube::Client::try_from(config)?)
    }

    /// Stops the server now. With `keep_dir`, its directory (and the logs
    /// in it) stays for a look after a failure.
    /// Stopping twice does nothing the second time.
    pub fn stop(&self, keep_dir: bool) -> io::Result<()> {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let reaper = self
            .reaper
            .lock()
            .map_or_else(|poisoned| poisoned.into_inner().take(), |mut r| r.take());
        if let Some(mut reaper) = reaper {
            // Stopping here instead; the reaper would also delete the logs.
            reaper.kill()?;
            reaper.wait()?;
        }
        let stop = self.dir.join("stop");
        let mut command = Command::new(&stop);
        if !keep_dir {
            command.arg("--rm");
        }
        match command.stdin(Stdio::null()).status()? {
            s if s.success() => Ok(()),
            s => Err(io::Error::other(format!("{}: {s}", stop.display()))),
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        let failing = std::thread::panicking();
        if failing {
            eprintln!(
                "sluice-e2e: keeping {} (kube-apiserver.log, etcd.log)",
                self.dir.display()
            );
        }
        if let Err(e) = self.stop(failing) {
            eprintln!("sluice-e2e: stopping the API server: {e}");
        }
    }
}

/// Starts a process that runs `stop --rm` once this process has exited:
/// it blocks reading a pipe whose only writer is this process, and the
/// kernel closes that pipe however this process ends.
fn spawn_reaper(stop: &Path) -> io::Result<Child> {
    Command::new("bash")
        .arg("-c")
        .arg(r#"trap '' INT TERM HUP; read -r _; exec "$0" --rm"#)
        .arg(stop)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

/// The API server of this test binary, started on first use and stopped
/// when the binary exits. Each test should use a namespace of its own.
///
/// # Panics
///
/// When the server cannot start (the script is missing, say): an
/// end-to-end test must fail, not pass, without its server.
pub fn shared_apiserver() -> &'static ApiServer {
    static SERVER: OnceLock<Result<ApiServer, String>> = OnceLock::new();
    let server = SERVER.get_or_init(|| ApiServer::start().map_err(|e| e.to_string()));
    match server {
        Ok(server) => server,
        Err(e) => panic!("cannot start the API server: {e}"),
    }
}

/// Polls `probe` until it returns `Some`, or gives up after `timeout`.
pub async fn poll_until<T, F, Fut>(
    what: &str,
    timeout: Duration,
    mut probe: F,
) -> Result<T, HarnessError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut interval = tokio::time::interval(POLL_INTERVAL);
    loop {
        interval.tick().await;
        if let Some(found) = probe().await {
            return Ok(found);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(HarnessError::Timeout {
                timeout,
                what: what.to_owned(),
            });
        }
    }
}

/// Applies every Sluice CRD (server-side apply, so several tests may call
/// this) and waits until each is established and its resource is served.
pub async fn install_crds(client: &kube::Client) -> Result<(), HarnessError> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for crd in sluice_api::crd::all_crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        crds.patch(&name, &params, &Patch::Apply(&crd)).await?;
    }
    for info in &sluice_api::crd::CRD_KINDS {
        let name = info.crd_name();
        poll_until(
            &format!("{name} to be established"),
            WAIT_TIMEOUT,
            || async {
                let crd = crds.get(&name).await.ok()?;
                let conditions = crd.status?.conditions?;
                conditions
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
                    .then_some(())
            },
        )
        .await?;
        // Established comes slightly before the resource is served.
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &api_resource(info.kind));
        poll_until(
            &format!("{} to be served", info.plural),
            WAIT_TIMEOUT,
            || async {
                api.list(&ListParams::default().limit(1))
                    .await
                    .ok()
                    .map(|_| ())
            },
        )
        .await?;
    }
    Ok(())
}

/// The API resource of one of our kinds, for `Api<DynamicObject>`.
pub use sluice_api::crd::api_resource;

/// The admin client of [`shared_apiserver`], with the CRDs installed once
/// per test process (and the ring crypto provider that kube's rustls uses).
pub async fn crd_client() -> kube::Client {
    static READY: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = shared_apiserver()
        .client()
        .await
        .unwrap_or_else(|e| panic!("client of the shared API server: {e}"));
    READY
        .get_or_init(|| async {
            install_crds(&client)
                .await
                .unwrap_or_else(|e| panic!("installing the CRDs: {e}"));
        })
        .await;
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_script_is_an_error_that_says_so() {
        let missing = Path::new(env!("CARGO_MANIFEST_DIR")).join("no-such-start-apiserver.sh");
        let err = ApiServer::start_with(&missing).expect_err("no server without its script");
        assert!(matches!(err, HarnessError::ScriptMissing(_)), "{err:?}");
        let message = err.to_string();
        assert!(
            message.contains("no-such-start-apiserver.sh: not found")
                && message.contains("need the real API server"),
            "{message}"
        );
    }

    #[test]
    fn api_resources_use_the_crd_plurals() {
        let resource = api_resource("ClusterWorkflowTemplate");
        assert_eq!(resource.plural, "clusterworkflowtemplates");
        assert_eq!(resource.api_version, "argoproj.io/v1alpha1");
        assert_eq!(resource.kind, "ClusterWorkflowTemplate");
    }
}
