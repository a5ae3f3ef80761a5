//! `sluice-bench webhook [SECONDS]`: `POST /validate` of sluice-webhook with
//! a typical Workflow review, over HTTPS on 32 keep-alive connections, next
//! to the baseline measured in the same run: a bare axum + rustls endpoint
//! answering a fixed response. Each server runs in a child process (this
//! binary again, `webhook --serve KIND CERT KEY`), so its memory is its own.
//!
//! Targets: at least 70% of the baseline's requests/s, p99 at most 5 ms,
//! RSS at most 32 MiB under load.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use axum::Router;
use axum::routing::post;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use sluice_webhook::cache::TemplateCache;
use sluice_webhook::metrics::Metrics;
use sluice_webhook::server::{self, AppState, Limits};
use sluice_webhook::tls::{CertFiles, ReloadingCert};

const CONCURRENCY: usize = 32;
const TARGET_RATIO: f64 = 0.70;
const TARGET_P99: Duration = Duration::from_millis(5);
const TARGET_RSS_MIB: f64 = 32.0;

/// The review sent: a Workflow as `kubectl create` would send it.
const REVIEW: &str = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{
"uid":"705ab4f5-6393-11e8-b7cc-42010a800002",
"kind":{"group":"argoproj.io","version":"v1alpha1","kind":"Workflow"},
"resource":{"group":"argoproj.io","version":"v1alpha1","resource":"workflows"},
"requestKind":{"group":"argoproj.io","version":"v1alpha1","kind":"Workflow"},
"requestResource":{"group":"argoproj.io","version":"v1alpha1","resource":"workflows"},
"name":"","namespace":"default","operation":"CREATE",
"userInfo":{"username":"alice","uid":"1","groups":["system:authenticated"]},
"object":{"apiVersion":"argoproj.io/v1alpha1","kind":"Workflow",
 "metadata":{"generateName":"dag-diamond-","namespace":"default","labels":{"team":"data"}},
 "spec":{"entrypoint":"diamond","serviceAccountName":"workflow",
  "arguments":{"parameters":[{"name":"message","value":"hello"}]},
  "templates":[
   {"name":"echo","inputs":{"parameters":[{"name":"message"}]},
    "container":{"image":"alpine:3.20","command":["echo","{{inputs.parameters.message}}"],
     "resources":{"requests":{"cpu":"100m","memory":"64Mi"}}}},
   {"name":"diamond","dag":{"tasks":[
    {"name":"A","template":"echo","arguments":{"parameters":[{"name":"message","value":"{{workflow.parameters.message}}"}]}},
    {"name":"B","depends":"A","template":"echo","arguments":{"parameters":[{"name":"message","value":"B"}]}},
    {"name":"C","depends":"A","template":"echo","arguments":{"parameters":[{"name":"message","value":"C"}]}},
    {"name":"D","depends":"B && C","template":"echo","arguments":{"parameters":[{"name":"message","value":"D"}]}}]}}]}},
"oldObject":null,"dryRun":false,
"options":{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1"}}}"#;

/// What the baseline answers.
const FIXED: &str = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"705ab4f5-6393-11e8-b7cc-42010a800002","allowed":true,"status":{}}}"#;

pub fn run(args: &[String]) -> Result<()> {
    match args {
        [flag, kind, cert, key] if flag == "--serve" => {
            serve(kind, Path::new(cert), Path::new(key))
        }
        [] => drive(Duration::from_secs(5)),
        [seconds] => drive(Duration::from_secs_f64(
            seconds
                .parse()
                .context("usage: sluice-bench webhook [SECONDS]")?,
        )),
        _ => bail!("usage: sluice-bench webhook [SECONDS]"),
    }
}

/// Child mode: serves `kind` (`webhook` or `bare`) on 127.0.0.1, prints
/// the port, and runs until killed.
fn serve(kind: &str, cert: &Path, key: &Path) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let files = CertFiles {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        };
        let limits = Limits::default();
        let (tls, app) = match kind {
            "webhook" => {
                let certs = Arc::new(ReloadingCert::load(files)?);
                let tls = certs.server_config()?;
                let state = AppState::new(
                    sluice_api::Config::default(),
                    TemplateCache::fixed(Vec::new()),
                    Metrics::new()?,
                    Some(certs),
                )?;
                (tls, server::router(Arc::new(state), limits))
            }
            "bare" => {
                let chain = CertificateDer::pem_file_iter(cert)?.collect::<Result<Vec<_>, _>>()?;
                let key = rustls_pki_types::PrivateKeyDer::from_pem_file(key)?;
                let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()?
                .with_no_client_auth()
                .with_single_cert(chain, key)?;
                tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
                let app = Router::new().route(
                    "/validate",
                    post(|| async {
                        (
                            [(axum::http::header::CONTENT_TYPE, "application/json")],
                            FIXED,
                        )
                    }),
                );
                (tls, app)
            }
            other => bail!("unknown server kind {other:?}"),
        };
        let (listener, addr) = server::bind("127.0.0.1:0".parse()?).await?;
        println!("{}", addr.port());
        server::serve_tls(
            listener,
            Arc::new(tls),
            app,
            limits,
            std::future::pending(),
            Duration::ZERO,
        )
        .await;
        Ok(())
    })
}

/// A server child, killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(kind: &str, cert: &Path, key: &Path) -> Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["webhook", "--serve", kind])
            .arg(cert)
            .arg(key)
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().context("child stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let port = line
            .trim()
            .parse()
            .with_context(|| format!("{kind} server printed {line:?}"))?;
        Ok(Self { child, port })
    }

    /// CPU time (user and system) the server has used, in seconds.
    fn cpu_seconds(&self) -> Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // Fields after the command (which may hold spaces): state is the
        // 3rd field, utime the 14th and stime the 15th.
        let rest = stat.rsplit_once(')').context("no ) in stat")?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks =
            |i: usize| -> Result<f64> { Ok(fields.get(i).context("short stat")?.parse::<f64>()?) };
        // Clock ticks are 100 per second on Linux.
        Ok((ticks(11)? + ticks(12)?) / 100.0)
    }

    /// Resident memory now, in MiB.
    fn rss_mib(&self) -> Result<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .context("no VmRSS")?;
        Ok(kib / 1024.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one run measured.
struct Figures {
    requests_per_sec: f64,
    p50: Duration,
    p99: Duration,
    rss_mib: f64,
    /// The server's CPU time per request.
    server_cpu_us: f64,
}

fn client(ca: &CertificateDer<'static>) -> Result<reqwest::Client> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone())?;
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .http1_only()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()?)
}

/// Drives `server` with 32 concurrent requests, in a loop, for `duration`
/// after a second of warm-up.
async fn load(server: &Server, client: &reqwest::Client, duration: Duration) -> Result<Figures> {
    let url = format!("https://127.0.0.1:{}/validate", server.port);
    let body = bytes_of(REVIEW);
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (client, url, body) = (client.clone(), url.clone(), body.clone());
        let (measuring, stop) = (Arc::clone(&measuring), Arc::clone(&stop));
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await?;
                anyhow::ensure!(response.status().is_success(), "HTTP {}", response.status());
                let reply = response.bytes().await?;
                anyhow::ensure!(
                    reply.windows(14).any(|w| w == b"\"allowed\":true"),
                    "not allowed: {}",
                    String::from_utf8_lossy(&reply)
                );
                if measuring.load(Ordering::Relaxed) {
                    latencies.push(started.elapsed());
                }
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    measuring.store(true, Ordering::Relaxed);
    let cpu_before = server.cpu_seconds()?;
    let started = Instant::now();
    let mut rss_mib: f64 = 0.0;
    while started.elapsed() < duration {
        tokio::time::sleep(Duration::from_millis(100)).await;
        rss_mib = rss_mib.max(server.rss_mib()?);
    }
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let cpu = server.cpu_seconds()? - cpu_before;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    anyhow::ensure!(!latencies.is_empty(), "no request completed");
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    Ok(Figures {
        requests_per_sec: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
        rss_mib,
        server_cpu_us: cpu * 1e6 / latencies.len() as f64,
    })
}

fn bytes_of(text: &str) -> Vec<u8> {
    text.as_bytes().to_vec()
}

/// Microseconds per call of each stage of answering [`REVIEW`].
struct Stages {
    parse: f64,
    handler: f64,
    typed: f64,
    validator: f64,
    write: f64,
}

fn per_call_us(mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    const CALLS: u32 = 2000;
    for _ in 0..CALLS / 10 {
        f()?;
    }
    let started = Instant::now();
    for _ in 0..CALLS {
        f()?;
    }
    Ok(started.elapsed().as_secs_f64() * 1e6 / f64::from(CALLS))
}

fn stages() -> Result<Stages> {
    use sluice_api::types::Object;
    use sluice_api::validate::{Context, Mode};
    use sluice_webhook::review;

    let config = sluice_api::Config::default();
    let request = review::parse(REVIEW.as_bytes())?;
    let object = request
        .object
        .as_ref()
        .context("the review has an object")?;
    let value = object.value()?;
    let object = Object::from_value(&value)?.context("a Workflow")?;
    let ctx = Context {
        mode: Mode::Submit,
        config: &config,
        known_templates: &[],
        allow_missing_refs: false,
    };
    let response = sluice_webhook::validate::review(&request, &config, &[]);
    anyhow::ensure!(response.allowed, "{:?}", response.result);
    Ok(Stages {
        parse: per_call_us(|| {
            std::hint::black_box(review::parse(REVIEW.as_bytes())?);
            Ok(())
        })?,
        handler: per_call_us(|| {
            std::hint::black_box(sluice_webhook::validate::review(&request, &config, &[]));
            Ok(())
        })?,
        typed: per_call_us(|| {
            std::hint::black_box(Object::from_value(&value)?);
            Ok(())
        })?,
        validator: per_call_us(|| {
            std::hint::black_box(sluice_api::validate::validate_as_written(
                &object, &value, &ctx,
            ));
            Ok(())
        })?,
        write: per_call_us(|| {
            std::hint::black_box(serde_json::to_vec(&review::into_review(response.clone()))?);
            Ok(())
        })?,
    })
}

fn drive(duration: Duration) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
    let key = KeyPair::generate()?;
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])?.signed_by(&key, &ca)?;
    let (cert_path, key_path) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert_path, leaf.pem())?;
    std::fs::write(&key_path, key.serialize_pem())?;

    let bare = Server::start("bare", &cert_path, &key_path)?;
    let webhook = Server::start("webhook", &cert_path, &key_path)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let (base, ours) = runtime.block_on(async {
        let client = client(ca.der())?;
        let base = load(&bare, &client, duration).await?;
        let ours = load(&webhook, &client, duration).await?;
        Ok::<_, anyhow::Error>((base, ours))
    })?;

    let stages = stages()?;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "webhook: POST /validate, typical Workflow review ({} bytes), {CONCURRENCY} keep-alive HTTPS connections, {:.0} s each",
        REVIEW.len(),
        duration.as_secs_f64()
    );
    println!(
        "  baseline (bare axum+rustls, fixed response): {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, RSS {:.1} MiB, server CPU {:.0} us/request",
        base.requests_per_sec,
        ms(base.p50),
        ms(base.p99),
        base.rss_mib,
        base.server_cpu_us
    );
    println!(
        "  /validate: {:.0} req/s ({:.2}x baseline), p50 {:.2} ms ({:.2}x), p99 {:.2} ms ({:.2}x), RSS {:.1} MiB ({:.2}x), server CPU {:.0} us/request",
        ours.requests_per_sec,
        ours.requests_per_sec / base.requests_per_sec,
        ms(ours.p50),
        ms(ours.p50) / ms(base.p50),
        ms(ours.p99),
        ms(ours.p99) / ms(base.p99),
        ours.rss_mib,
        ours.rss_mib / base.rss_mib,
        ours.server_cpu_us
    );
    println!(
        "  where a /validate request's time goes (one core, in process): read review {:.0} us, \
         whole handler {:.0} us (typed {:.0} us, validator {:.0} us), write response {:.0} us",
        stages.parse, stages.handler, stages.typed, stages.validator, stages.write
    );
    let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };
    println!(
        "  targets: >= {TARGET_RATIO:.2}x baseline req/s: {}; p99 <= {} ms: {}; RSS <= {TARGET_RSS_MIB} MiB: {}",
        verdict(ours.requests_per_sec >= TARGET_RATIO * base.requests_per_sec),
        TARGET_P99.as_millis(),
        verdict(ours.p99 <= TARGET_P99),
        verdict(ours.rss_mib <= TARGET_RSS_MIB)
    );
    Ok(())
}
