//! `sluice-controller`: runs Argo workflows in a cluster. Every flag can also
//! be set through the `SLUICE_CONTROLLER_*` (or `SLUICE_CONFIG`) environment
//! variable named in `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use clap::Parser;
use clap::builder::BoolishValueParser;
use sluice_api::Config;
use sluice_controller::admin::{self, Admin};
use sluice_controller::metrics::Metrics;
use sluice_controller::{Context, Options};

/// Runs Argo workflows (argoproj.io/v1alpha1) with the Sluice engine.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The controller configuration: a workflow-controller-configmap
    /// ConfigMap, the configuration document it holds, or a directory of
    /// one file per key (the ConfigMap mounted as a volume).
    #[arg(long, env = "SLUICE_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    /// Address of the plain-HTTP admin endpoints (/livez, /readyz, /metrics).
    #[arg(
        long,
        env = "SLUICE_CONTROLLER_ADMIN_LISTEN",
        default_value = "0.0.0.0:9090"
    )]
    admin_listen: SocketAddr,
    /// Workflows reconciled at once.
    #[arg(long, env = "SLUICE_CONTROLLER_WORKERS", default_value_t = 32)]
    workers: u16,
    /// Only this namespace's workflows (namespaced mode).
    #[arg(long, env = "SLUICE_CONTROLLER_NAMESPACE")]
    namespace: Option<String>,
    /// Run without leader election (one replica only).
    #[arg(long, env = "SLUICE_CONTROLLER_NO_LEADER_ELECTION", value_parser = BoolishValueParser::new())]
    no_leader_election: bool,
    /// The Lease that elects the leader.
    #[arg(
        long,
        env = "SLUICE_CONTROLLER_LEASE_NAME",
        default_value = "sluice-controller"
    )]
    lease_name: String,
    /// Namespace of the Lease (default: the pod's, else `default`).
    #[arg(long, env = "SLUICE_CONTROLLER_LEASE_NAMESPACE")]
    lease_namespace: Option<String>,
    /// Seconds a leader holds the lease without renewing it.
    #[arg(long, env = "SLUICE_CONTROLLER_LEASE_SECONDS", default_value_t = 15)]
    lease_seconds: u64,
    /// This replica's identity in the Lease and in events (default: the
    /// pod's name from `POD_NAME` or `HOSTNAME`).
    #[arg(long, env = "SLUICE_CONTROLLER_IDENTITY")]
    identity: Option<String>,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "SLUICE_CONTROLLER_LOG_JSON", value_parser = BoolishValueParser::new())]
    log_json: bool,
}

fn identity(args: &Args) -> String {
    args.identity
        .clone()
        .or_else(|| std::env::var("POD_NAME").ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| format!("sluice-controller-{}", std::process::id()))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if args.log_json {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // The engine deserializes whole workflows (a Workflow is ~34 KB of
        // stack in debug builds, nested in templates): 8 MiB per worker, as
        // the tests' RUST_MIN_STACK gives, instead of tokio's 2 MiB.
        .thread_stack_size(8 << 20)
        .build()?
        .block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let config = match &args.config {
        Some(path) => Config::load(path).map_err(|e| anyhow::anyhow!("--config {e}"))?,
        None => Config::default(),
    };
    let metrics = Arc::new(Metrics::new()?);
    let kube_config = kube::Config::infer().await.context("kubeconfig")?;
    let lease_namespace = args
        .lease_namespace
        .clone()
        .unwrap_or_else(|| kube_config.default_namespace.clone());
    let client = sluice_controller::client::counted(kube_config, Arc::clone(&metrics))?;
    let ready = Arc::new(AtomicBool::new(false));
    let listener = tokio::net::TcpListener::bind(args.admin_listen)
        .await
        .with_context(|| format!("--admin-listen {}", args.admin_listen))?;
    let app = admin::router(Admin {
        metrics: Arc::clone(&metrics),
        ready: Arc::clone(&ready),
    });
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "admin server stopped");
        }
    });
    let identity = identity(&args);
    let options = Options {
        workers: args.workers,
        instance: identity.clone(),
        namespace: args.namespace.clone(),
    };
    let ctx = Arc::new(Context::new(
        client.clone(),
        config,
        Arc::clone(&metrics),
        &options,
    ));
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if args.no_leader_election {
        metrics.leader(true);
        ready.store(true, Ordering::SeqCst);
        sluice_controller::run(ctx, &options, shutdown).await;
        return Ok(());
    }
    let manager = kube_lease_manager::LeaseManagerBuilder::new(client, &args.lease_name)
        .with_namespace(&lease_namespace)
        .with_identity(&identity)
        .with_duration(args.lease_seconds)
        .with_grace(args.lease_seconds.div_ceil(3).max(1))
        .build()
        .await
        .context("lease")?;
    let (mut leading, _task) = manager.watch().await;
    // A standby is ready: it is healthy and waits for the lease.
    ready.store(true, Ordering::SeqCst);
    tracing::info!(%identity, lease = %args.lease_name, "waiting for the lease");
    while !*leading.borrow_and_update() {
        if leading.changed().await.is_err() {
            anyhow::bail!("leader election stopped");
        }
    }
    tracing::info!(%identity, "leading");
    metrics.leader(true);
    let mut lost = leading.clone();
    let lost = async move {
        loop {
            if lost.changed().await.is_err() || !*lost.borrow() {
                return;
            }
        }
    };
    tokio::select! {
        () = sluice_controller::run(ctx, &options, shutdown) => Ok(()),
        () = lost => {
            // Another replica leads now: stop at once (upstream does too),
            // so two controllers never write the same workflow.
            metrics.leader(false);
            anyhow::bail!("lost the lease to another replica")
        }
    }
}

/// mimalloc, as the other Sluice binaries: the engine allocates much.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
