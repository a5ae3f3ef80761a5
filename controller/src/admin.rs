//! The admin port (plain HTTP): `/livez`, `/readyz`, `/metrics`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::metrics::Metrics;

/// What the admin endpoints read.
#[derive(Clone, Debug)]
pub struct Admin {
    pub metrics: Arc<Metrics>,
    /// Set once the controller can do its work: caches synced as leader,
    /// or standing by for the lease.
    pub ready: Arc<AtomicBool>,
}

/// The admin router.
pub fn router(admin: Admin) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(admin)
}

async fn readyz(State(admin): State<Admin>) -> (StatusCode, &'static str) {
    if admin.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

async fn metrics(State(admin): State<Admin>) -> (StatusCode, String) {
    match admin.metrics.render() {
        Ok(text) => (StatusCode::OK, text),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    #[tokio::test]
    async fn readiness_follows_the_flag_and_metrics_use_argo_names() {
        let admin = Admin {
            metrics: Arc::new(Metrics::new().expect("metrics")),
            ready: Arc::new(AtomicBool::new(false)),
        };
        let app = router(admin.clone());
        let get = |path: &str| Request::get(path).body(Body::empty()).expect("request");
        let response = app.clone().oneshot(get("/readyz")).await.expect("response");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        admin.ready.store(true, Ordering::SeqCst);
        let response = app.clone().oneshot(get("/readyz")).await.expect("response");
        assert_eq!(response.status(), StatusCode::OK);
        let response = app.oneshot(get("/metrics")).await.expect("response");
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.contains("argo_workflows_gauge{phase=\"Running\"} 0"),
            "{text}"
        );
        assert!(text.contains("argo_workflows_is_leader 0"), "{text}");
    }
}
