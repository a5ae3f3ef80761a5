//! `sluice-webhook`: the admission webhook server. Every flag can also be set
//! through the `SLUICE_WEBHOOK_*` (or `SLUICE_CONFIG`) environment variable
//! named in `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use clap::builder::BoolishValueParser;
use sluice_api::Config;
use sluice_webhook::cache::TemplateCache;
use sluice_webhook::metrics::Metrics;
use sluice_webhook::server::{self, AppState, Limits};
use sluice_webhook::tls::{CertFiles, ReloadingCert};

/// Admission webhook for Sluice: validates and defaults workflows, injects
/// the executor into workflow pods.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address of the HTTPS admission endpoints.
    #[arg(long, env = "SLUICE_WEBHOOK_LISTEN", default_value = "0.0.0.0:8443")]
    listen: SocketAddr,
    /// Address of the plain-HTTP admin endpoints (/livez, /readyz, /metrics).
    #[arg(
        long,
        env = "SLUICE_WEBHOOK_ADMIN_LISTEN",
        default_value = "0.0.0.0:8080"
    )]
    admin_listen: SocketAddr,
    /// PEM certificate chain served; read again when it changes.
    #[arg(long, env = "SLUICE_WEBHOOK_TLS_CERT", value_name = "FILE")]
    tls_cert: PathBuf,
    /// PEM private key of the certificate; read again when it changes.
    #[arg(long, env = "SLUICE_WEBHOOK_TLS_KEY", value_name = "FILE")]
    tls_key: PathBuf,
    /// How often the certificate files are checked for changes (Go duration).
    #[arg(long, env = "SLUICE_WEBHOOK_CERT_RELOAD_INTERVAL", default_value = "10s", value_parser = go_duration)]
    cert_reload_interval: Duration,
    /// The controller configuration: a workflow-controller-configmap
    /// ConfigMap, the configuration document it holds, or a directory of
    /// one file per key (the ConfigMap mounted as a volume).
    #[arg(long, env = "SLUICE_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    /// Largest request body accepted, in bytes (larger ones get 413).
    #[arg(long, env = "SLUICE_WEBHOOK_BODY_LIMIT", default_value_t = 8 * 1024 * 1024)]
    body_limit: usize,
    /// Time allowed to answer one request (Go duration).
    #[arg(long, env = "SLUICE_WEBHOOK_REQUEST_TIMEOUT", default_value = "10s", value_parser = go_duration)]
    request_timeout: Duration,
    /// Validate without a cluster: templateRef targets are never found
    /// (each is a warning) and no kubeconfig is needed.
    #[arg(long, env = "SLUICE_WEBHOOK_NO_TEMPLATE_CACHE", value_parser = BoolishValueParser::new())]
    no_template_cache: bool,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "SLUICE_WEBHOOK_LOG_JSON", value_parser = BoolishValueParser::new())]
    log_json: bool,
}

fn go_duration(text: &str) -> Result<Duration, String> {
    sluice_api::duration::parse_go_duration(text).map_err(|e| e.to_string())
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot watch SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
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

    let config = match &args.config {
        Some(path) => Config::load(path).map_err(|e| anyhow::anyhow!("--config {e}"))?,
        None => Config::default(),
    };
    let cert = Arc::new(
        ReloadingCert::load(CertFiles {
            cert: args.tls_cert.clone(),
            key: args.tls_key.clone(),
        })
        .context("loading the serving certificate")?,
    );
    let tls = Arc::new(cert.server_config().context("configuring TLS")?);
    let templates = if args.no_template_cache {
        TemplateCache::fixed(Vec::new())
    } else {
        let client = kube::Client::try_default()
            .await
            .context("connecting to the Kubernetes API (for the template cache)")?;
        TemplateCache::watch(&client)
    };
    let metrics = Metrics::new().context("registering metrics")?;
    let state = Arc::new(AppState::new(
        config,
        templates,
        metrics,
        Some(Arc::clone(&cert)),
    )?);
    let limits = Limits {
        body: args.body_limit,
        request: args.request_timeout,
        ..Limits::default()
    };

    tokio::spawn(Arc::clone(&cert).watch(args.cert_reload_interval));
    let (admin, admin_addr) = server::bind(args.admin_listen)
        .await
        .with_context(|| format!("binding {}", args.admin_listen))?;
    let admin_app = server::admin_router(Arc::clone(&state));
    tokio::spawn(async move {
        if let Err(err) = axum::serve(admin, admin_app).await {
            tracing::error!(error = %err, "admin server stopped");
        }
    });
    let (listener, addr) = server::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    tracing::info!(%addr, admin = %admin_addr, injects = state.inject.is_some(), "serving");
    server::serve_tls(
        listener,
        tls,
        server::router(state, limits),
        limits,
        shutdown_signal(),
        args.request_timeout,
    )
    .await;
    Ok(())
}

/// mimalloc, as the sluice CLI: every review allocates many small objects.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
