//! The Router in process, through tower's `oneshot`: HTTP statuses, error
//! bodies, and the admin endpoints.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use sluice_api::Config;
use sluice_webhook::cache::TemplateCache;
use sluice_webhook::metrics::Metrics;
use sluice_webhook::server::{self, AppState, Limits};
use tower::ServiceExt as _;

use crate::fixtures::*;

const LIMIT: usize = 64 * 1024;

fn state(templates: TemplateCache) -> Arc<AppState> {
    Arc::new(AppState::new(Config::default(), templates, Metrics::new().unwrap(), None).unwrap())
}

async fn call(app: axum::Router, method: &str, uri: &str, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, bytes.to_vec())
}

fn app(state: Arc<AppState>) -> axum::Router {
    server::router(
        state,
        Limits {
            body: LIMIT,
            ..Limits::default()
        },
    )
}

#[tokio::test]
async fn a_review_gets_a_review_back() {
    let app = app(state(TemplateCache::fixed(Vec::new())));
    let body = review_json(
        &WORKFLOW,
        "CREATE",
        Some(&invalid_workflow()),
        None,
        None,
        false,
    );
    let (status, bytes) = call(app, "POST", "/validate", serde_json::to_vec(&body).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let reply: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(reply["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(reply["kind"], "AdmissionReview");
    assert_eq!(reply["response"]["uid"], body["request"]["uid"]);
    assert_eq!(reply["response"]["allowed"], false);
    assert_eq!(reply["response"]["status"]["code"], 422);
    assert!(
        reply["response"]["status"]["details"]["causes"]
            .as_array()
            .unwrap()
            .len()
            >= 2
    );
}

#[tokio::test]
async fn malformed_bodies_get_400_with_a_json_error() {
    let app = app(state(TemplateCache::fixed(Vec::new())));
    for body in [
        b"{not json".to_vec(),
        serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"})).unwrap(),
        serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview",
            "request": review_json(&WORKFLOW, "CREATE", Some(&valid_workflow()), None, None, false)["request"]})).unwrap(),
        Vec::new(),
    ] {
        let (status, bytes) = call(app.clone(), "POST", "/mutate", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{}", String::from_utf8_lossy(&body));
        let error: Value = serde_json::from_slice(&bytes).unwrap();
        assert!(error["error"].as_str().is_some_and(|e| !e.is_empty()), "{error}");
    }
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    let app = app(state(TemplateCache::fixed(Vec::new())));
    let mut workflow = valid_workflow();
    workflow["metadata"]["annotations"] = json!({"big": "x".repeat(LIMIT)});
    let body = review_json(&WORKFLOW, "CREATE", Some(&workflow), None, None, false);
    let (status, bytes) = call(app, "POST", "/validate", serde_json::to_vec(&body).unwrap()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let error: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(error["error"].is_string());
}

#[tokio::test]
async fn wrong_methods_and_paths() {
    let app = app(state(TemplateCache::fixed(Vec::new())));
    let (status, _) = call(app.clone(), "GET", "/validate", Vec::new()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _) = call(app, "POST", "/elsewhere", Vec::new()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn readiness_waits_for_the_certificate_and_the_cache() {
    // No certificate, cache not synced.
    let admin = server::admin_router(state(TemplateCache::default()));
    let (status, _) = call(admin.clone(), "GET", "/livez", Vec::new()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(admin, "GET", "/readyz", Vec::new()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains("certificate") && text.contains("template cache"),
        "{text}"
    );
}

#[tokio::test]
async fn metrics_count_requests_and_rejections() {
    let state = state(TemplateCache::fixed(Vec::new()));
    let app = app(Arc::clone(&state));
    let body = review_json(
        &WORKFLOW,
        "CREATE",
        Some(&invalid_workflow()),
        None,
        None,
        false,
    );
    call(
        app.clone(),
        "POST",
        "/validate",
        serde_json::to_vec(&body).unwrap(),
    )
    .await;
    call(app, "POST", "/validate", b"nope".to_vec()).await;
    let (status, bytes) = call(server::admin_router(state), "GET", "/metrics", Vec::new()).await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(bytes).unwrap();
    for line in [
        r#"sluice_webhook_requests_total{allowed="false",endpoint="validate",kind="Workflow",operation="CREATE"} 1"#,
        r#"sluice_webhook_rejections_total{endpoint="validate",reason="invalid"} 1"#,
        r#"sluice_webhook_rejections_total{endpoint="validate",reason="malformed"} 1"#,
        r#"sluice_webhook_request_duration_seconds_count{endpoint="validate"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
    }
}
