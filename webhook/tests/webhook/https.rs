//! The real server over real TLS: a CA minted here, a client trusting only
//! it, keep-alive connections.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;
use sluice_engine::inject::is_injected;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::fixtures::*;
use crate::harness::{self, BODY_LIMIT, Leaf, RELOAD_INTERVAL, client, post, shared};

fn body(target: &Target<'_>, object: &Value) -> Vec<u8> {
    serde_json::to_vec(&review_json(
        target,
        "CREATE",
        Some(object),
        None,
        None,
        false,
    ))
    .unwrap()
}

fn apply(object: &Value, response: &Value) -> Value {
    let mut object = object.clone();
    if let Some(patch) = response.get("patch") {
        assert_eq!(response["patchType"], "JSONPatch");
        // The patch's bytes (kube's AdmissionResponse writes them as a
        // list of numbers, which the API server decodes like base64).
        let bytes: Vec<u8> = serde_json::from_value(patch.clone()).unwrap();
        let patch: json_patch::Patch = serde_json::from_slice(&bytes).unwrap();
        json_patch::patch(&mut object, &patch).unwrap();
    }
    object
}

#[tokio::test]
async fn valid_and_invalid_workflows_over_https() {
    let shared = shared();
    let client = client(shared.pki.ca_der());
    let url = shared.server.url("/validate");
    let (status, reply) = post(&client, &url, body(&WORKFLOW, &valid_workflow())).await;
    assert_eq!(status, 200);
    assert_eq!(reply["response"]["allowed"], true, "{reply}");

    let (status, reply) = post(&client, &url, body(&WORKFLOW, &invalid_workflow())).await;
    assert_eq!(status, 200);
    let response = &reply["response"];
    assert_eq!(response["allowed"], false);
    assert_eq!(response["status"]["code"], 422);
    let fields: Vec<&str> = response["status"]["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"spec.entrypoint"), "{fields:?}");
}

#[tokio::test]
async fn defaults_and_injection_patches_apply() {
    let shared = shared();
    let client = client(shared.pki.ca_der());
    let workflow = valid_workflow();
    let (status, reply) = post(
        &client,
        &shared.server.url("/mutate"),
        body(&WORKFLOW, &workflow),
    )
    .await;
    assert_eq!(status, 200);
    let result = apply(&workflow, &reply["response"]);
    assert_eq!(result["spec"]["serviceAccountName"], "workflow-runner");
    assert_eq!(result["spec"]["activeDeadlineSeconds"], 60);
    assert_eq!(result["metadata"]["labels"]["team"], "data");

    let pod = workflow_pod();
    let url = shared.server.url("/mutate-pods");
    let (status, reply) = post(&client, &url, body(&POD, &pod)).await;
    assert_eq!(status, 200);
    let injected = apply(&pod, &reply["response"]);
    let typed: Pod = serde_json::from_value(injected.clone()).unwrap();
    assert!(is_injected(&typed));
    assert!(
        typed
            .spec
            .unwrap()
            .init_containers
            .is_some_and(|c| !c.is_empty())
    );
    // Sent again, the injected pod comes back unchanged.
    let (_, reply) = post(&client, &url, body(&POD, &injected)).await;
    assert_eq!(reply["response"]["allowed"], true);
    assert!(reply["response"].get("patch").is_none(), "{reply}");
}

#[tokio::test]
async fn oversized_and_malformed_bodies_over_https() {
    let shared = shared();
    let client = client(shared.pki.ca_der());
    let url = shared.server.url("/validate");
    let (status, reply) = post(&client, &url, vec![b' '; BODY_LIMIT + 1]).await;
    assert_eq!(status, 413, "{reply}");
    let (status, reply) = post(&client, &url, b"{\"apiVersion\":".to_vec()).await;
    assert_eq!(status, 400);
    assert!(
        reply["error"].as_str().unwrap().contains("AdmissionReview"),
        "{reply}"
    );
    // The connection pool still works after both.
    let (status, _) = post(&client, &url, body(&WORKFLOW, &valid_workflow())).await;
    assert_eq!(status, 200);
}

/// The certificate a new connection is served.
async fn served_certificate(ca: rustls_pki_types::CertificateDer<'static>, url: &str) -> Vec<u8> {
    let response = client(ca).get(url).send().await.unwrap();
    let info = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .unwrap();
    info.peer_certificate().unwrap().to_vec()
}

fn rewrite(files: &sluice_webhook::tls::CertFiles, leaf: &Leaf) {
    // Written in place and one after the other, as a Secret volume
    // update or an editor would: the server must not serve a half pair.
    std::fs::write(&files.cert, &leaf.cert_pem).unwrap();
    std::thread::sleep(RELOAD_INTERVAL * 2);
    std::fs::write(&files.key, &leaf.key_pem).unwrap();
}

#[tokio::test]
async fn certificates_rotate_without_failed_requests() {
    // A server of its own: the others' certificate stays put.
    let pki = harness::Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let first = pki.leaf("first");
    let server = harness::start(dir.path().to_path_buf(), &first, config(), || {
        sluice_webhook::cache::TemplateCache::fixed(Vec::new())
    });
    let probe = server.url("/");
    assert_eq!(
        served_certificate(pki.ca_der(), &probe).await,
        first.der.to_vec()
    );

    // Requests on a few keep-alive connections all along.
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for _ in 0..4 {
        let client = client(pki.ca_der());
        let url = server.url("/validate");
        let stop = Arc::clone(&stop);
        let done = Arc::clone(&done);
        load.push(tokio::spawn(async move {
            let body = body(&WORKFLOW, &valid_workflow());
            while !stop.load(Ordering::SeqCst) {
                let response = client.post(&url).body(body.clone()).send().await;
                let response = response.expect("a request failed during rotation");
                assert_eq!(response.status(), 200);
                response
                    .bytes()
                    .await
                    .expect("a response body failed during rotation");
                done.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    let second = pki.leaf("second");
    rewrite(&server.files, &second);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let served = served_certificate(pki.ca_der(), &probe).await;
        if served == second.der.to_vec() {
            break;
        }
        assert_eq!(served, first.der.to_vec(), "served neither certificate");
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(RELOAD_INTERVAL).await;
    }
    let before = done.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::SeqCst);
    for task in load {
        task.await.unwrap();
    }
    let after = done.load(Ordering::SeqCst);
    assert!(
        before > 0 && after > before,
        "requests went on: {before} then {after}"
    );

    // A broken file is not picked up: the second certificate stays.
    std::fs::write(&server.files.cert, "not a certificate").unwrap();
    tokio::time::sleep(RELOAD_INTERVAL * 3).await;
    assert_eq!(
        served_certificate(pki.ca_der(), &probe).await,
        second.der.to_vec()
    );
}

#[tokio::test]
async fn only_tls_and_only_our_ca() {
    let shared = shared();
    // Another CA's client refuses the server.
    let stranger = harness::Pki::new();
    let result = client(stranger.ca_der())
        .post(shared.server.url("/validate"))
        .body(body(&WORKFLOW, &valid_workflow()))
        .send()
        .await;
    assert!(result.is_err());
    // Plain HTTP on the TLS port gets no HTTP answer: the handshake fails
    // and the connection is closed.
    let mut stream = tokio::net::TcpStream::connect(shared.server.addr)
        .await
        .unwrap();
    let request = "POST /validate HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}";
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut reply)).await;
    assert!(read.is_ok(), "the server kept a plain-HTTP connection open");
    assert!(
        !String::from_utf8_lossy(&reply).contains("HTTP/1.1"),
        "{reply:?}"
    );
}

#[tokio::test]
async fn admin_port_serves_health_and_metrics_over_plain_http() {
    let shared = shared();
    let client = client(shared.pki.ca_der());
    let admin = format!("http://127.0.0.1:{}", shared.server.admin.port());
    for path in ["/livez", "/readyz"] {
        let response = client.get(format!("{admin}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    post(
        &client,
        &shared.server.url("/validate"),
        body(&WORKFLOW, &valid_workflow()),
    )
    .await;
    let text = client
        .get(format!("{admin}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"sluice_webhook_requests_total{allowed="true",endpoint="validate",kind="Workflow",operation="CREATE"}"#),
        "{text}"
    );
}
