//! A CA and serving certificates minted here, the webhook server started
//! once for the whole binary (on a runtime of its own, so it outlives each
//! test's runtime), and HTTPS clients trusting only that CA.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls_pki_types::CertificateDer;
use serde_json::Value;
use sluice_api::Config;
use sluice_webhook::cache::TemplateCache;
use sluice_webhook::metrics::Metrics;
use sluice_webhook::server::{self, AppState, Limits};
use sluice_webhook::tls::{CertFiles, ReloadingCert};

/// A certificate authority of the test.
pub struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

/// A serving certificate: PEM files' contents and the DER served.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
}

impl Pki {
    pub fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "sluice-webhook test CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { ca }
    }

    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.ca.der().clone()
    }

    /// A new serving certificate for 127.0.0.1 and localhost, with a key
    /// of its own.
    pub fn leaf(&self, common_name: &str) -> Leaf {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }
}

/// The runtime the servers run on.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("webhook-test-server")
            .enable_all()
            .build()
            .unwrap()
    })
}

/// A running webhook server.
pub struct Running {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub files: CertFiles,
    pub state: Arc<AppState>,
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.addr.port())
    }
}

/// How often the servers look at their certificate files.
pub const RELOAD_INTERVAL: Duration = Duration::from_millis(100);
/// The body limit of the servers (small, so the test needs no big body).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Starts a server with `config` and `templates`, serving `leaf` from files
/// in `dir`.
pub fn start(
    dir: PathBuf,
    leaf: &Leaf,
    config: Config,
    templates: impl FnOnce() -> TemplateCache + Send + 'static,
) -> Running {
    let files = CertFiles {
        cert: dir.join("tls.crt"),
        key: dir.join("tls.key"),
    };
    std::fs::write(&files.cert, &leaf.cert_pem).unwrap();
    std::fs::write(&files.key, &leaf.key_pem).unwrap();
    let cert = Arc::new(ReloadingCert::load(files.clone()).unwrap());
    let tls = Arc::new(cert.server_config().unwrap());
    let limits = Limits {
        body: BODY_LIMIT,
        ..Limits::default()
    };
    let (sender, receiver) = std::sync::mpsc::channel();
    runtime().spawn(async move {
        let state = Arc::new(
            AppState::new(
                config,
                templates(),
                Metrics::new().unwrap(),
                Some(Arc::clone(&cert)),
            )
            .unwrap(),
        );
        tokio::spawn(Arc::clone(&cert).watch(RELOAD_INTERVAL));
        let (admin, admin_addr) = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        tokio::spawn(axum::serve(admin, server::admin_router(Arc::clone(&state))).into_future());
        let (listener, addr) = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let app = server::router(Arc::clone(&state), limits);
        sender.send((addr, admin_addr, state)).unwrap();
        server::serve_tls(
            listener,
            tls,
            app,
            limits,
            std::future::pending(),
            Duration::ZERO,
        )
        .await;
    });
    let (addr, admin, state) = receiver.recv().unwrap();
    Running {
        addr,
        admin,
        files,
        state,
    }
}

/// The CA and the server most tests share, started on first use.
pub struct Shared {
    pub pki: Pki,
    pub server: Running,
    _dir: tempfile::TempDir,
}

pub fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let pki = Pki::new();
        let dir = tempfile::tempdir().unwrap();
        let leaf = pki.leaf("sluice-webhook");
        let server = start(
            dir.path().to_path_buf(),
            &leaf,
            crate::fixtures::config(),
            || TemplateCache::fixed(Vec::new()),
        );
        Shared {
            pki,
            server,
            _dir: dir,
        }
    })
}

/// An HTTPS client trusting only `ca`, keeping connections alive.
pub fn client(ca: CertificateDer<'static>) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .tls_info(true)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Posts a review; returns the HTTP status and the JSON body.
pub async fn post(client: &reqwest::Client, url: &str, body: Vec<u8>) -> (u16, Value) {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    let value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{status}: not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, value)
}
