//! The HTTPS server of the three admission endpoints and the plain-HTTP
//! admin server (`/livez`, `/readyz`, `/metrics`).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde_json::{Value, json};
use sluice_api::Config;
use sluice_engine::inject::{InjectContext, builder_injects};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower_http::timeout::TimeoutLayer;

use crate::cache::TemplateCache;
use crate::metrics::{Metrics, Rejection};
use crate::review::{self, Request};
use crate::tls::ReloadingCert;
use crate::{mutate, pods, validate};

/// What the handlers read: fixed at start, except the template cache.
#[derive(Debug)]
pub struct AppState {
    pub config: Config,
    /// `workflowDefaults` as JSON, when set.
    pub defaults: Option<Value>,
    /// The executor settings, when the webhook injects it.
    pub inject: Option<InjectContext>,
    pub templates: TemplateCache,
    pub metrics: Metrics,
    /// The serving certificate, once loaded (for readiness).
    pub cert: Option<Arc<ReloadingCert>>,
}

impl AppState {
    /// The state for `config`.
    pub fn new(
        config: Config,
        templates: TemplateCache,
        metrics: Metrics,
        cert: Option<Arc<ReloadingCert>>,
    ) -> Result<Self, serde_json::Error> {
        let defaults = config
            .workflow_defaults
            .as_deref()
            .map(serde_json::to_value)
            .transpose()?;
        let inject =
            (!builder_injects(&config, false)).then(|| InjectContext::from_config(&config));
        Ok(Self {
            config,
            defaults,
            inject,
            templates,
            metrics,
            cert,
        })
    }
}

/// Limits of the HTTPS server.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest request body accepted, in bytes.
    pub body: usize,
    /// Time allowed to answer one request, body read included.
    pub request: Duration,
    /// Time allowed for a TLS handshake.
    pub handshake: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body: 8 * 1024 * 1024,
            request: Duration::from_secs(10),
            handshake: Duration::from_secs(10),
        }
    }
}

/// The admission endpoints.
pub fn router(state: Arc<AppState>, limits: Limits) -> Router {
    Router::new()
        .route("/validate", post(validate_handler))
        .route("/mutate", post(mutate_handler))
        .route("/mutate-pods", post(mutate_pods_handler))
        .layer(DefaultBodyLimit::max(limits.body))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            limits.request,
        ))
        .with_state(state)
}

async fn validate_handler(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let templates = state.templates.snapshot();
    admit(&state, "validate", body, |request| {
        validate::review(request, &state.config, &templates)
    })
}

async fn mutate_handler(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    admit(&state, "mutate", body, |request| {
        mutate::review(request, state.defaults.as_ref())
    })
}

async fn mutate_pods_handler(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    admit(&state, "mutate-pods", body, |request| {
        pods::review(request, state.inject.as_ref())
    })
}

/// An HTTP error with a JSON body: `{"error": "..."}`.
fn error(status: StatusCode, message: String) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

/// Reads the review, answers it with `answer`, counts and logs it.
fn admit(
    state: &AppState,
    endpoint: &'static str,
    body: Result<Bytes, BytesRejection>,
    answer: impl FnOnce(&Request) -> review::Response,
) -> Response {
    let started = Instant::now();
    let metrics = &state.metrics;
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let status = rejection.status();
            let reason = if status == StatusCode::PAYLOAD_TOO_LARGE {
                Rejection::TooLarge
            } else {
                Rejection::Body
            };
            metrics.rejected(endpoint, reason);
            tracing::warn!(endpoint, %status, "request body refused: {}", rejection.body_text());
            return error(status, rejection.body_text());
        }
    };
    let request = match review::parse(&body) {
        Ok(request) => request,
        Err(err) => {
            metrics.rejected(endpoint, Rejection::Malformed);
            tracing::warn!(endpoint, error = %err, "malformed review");
            return error(StatusCode::BAD_REQUEST, err.to_string());
        }
    };
    let response = answer(&request);
    let operation = review::operation_name(&request.operation);
    metrics.answered(endpoint, &request.kind.kind, operation, response.allowed);
    if !response.allowed {
        let reason = if response.result.code == 422 {
            Rejection::Invalid
        } else {
            Rejection::BadObject
        };
        metrics.rejected(endpoint, reason);
    }
    let namespace = request.namespace.as_deref().unwrap_or("");
    let name = review::display_name(&request);
    let (allowed, patched) = (response.allowed, response.patch.is_some());
    if allowed && !patched {
        tracing::debug!(endpoint, uid = %request.uid, kind = %request.kind.kind, namespace, %name, operation, dry_run = request.dry_run, "allowed");
    } else {
        tracing::info!(
            endpoint,
            uid = %request.uid,
            kind = %request.kind.kind,
            namespace,
            %name,
            operation,
            dry_run = request.dry_run,
            allowed,
            patched,
            message = %response.result.message,
            "reviewed"
        );
    }
    let reply = axum::Json(review::into_review(response)).into_response();
    metrics.observe(endpoint, started.elapsed());
    reply
}

/// The admin endpoints.
pub fn admin_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let mut missing = Vec::new();
    if state.cert.is_none() {
        missing.push("the serving certificate is not loaded");
    }
    if !state.templates.is_synced() {
        missing.push("the template cache has not synced");
    }
    if missing.is_empty() {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{}\n", missing.join("; ")),
        )
            .into_response()
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    match state.metrics.render() {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        Err(err) => error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
    }
}

/// Serves `app` over TLS on `listener` until `shutdown` completes, then
/// lets open requests finish (for up to `grace`).
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let acceptor = TlsAcceptor::from(tls);
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, say: wait, do not spin.
                    tracing::warn!(error = %err, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(app.clone());
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(limits.handshake, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(err)) => {
                    tracing::debug!(%peer, error = %err, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            if let Err(err) = watcher.watch(connection.into_owned()).await {
                tracing::debug!(%peer, error = %err, "connection ended");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => tracing::warn!("connections still open after {grace:?}; closing them"),
    }
}

/// Binds `addr` (port 0 picks one) for [`serve_tls`] or the admin server.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}
