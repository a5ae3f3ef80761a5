//! The HTTP driver against a small HTTP/1.1 server of the test's own on
//! 127.0.0.1 (std sockets, so a response can be cut short on purpose).

use std::collections::HashMap;
use std::io::{BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use sluice_api::types::{
    ArchiveStrategy, Artifact, BasicAuth, ClientCertAuth, HTTPArtifact, HTTPAuth, Header,
    NoneStrategy, OAuth2Auth, OAuth2EndpointParam, Raw,
};
use sluice_executor::drivers::{ArtifactError, driver_for};
use sluice_executor::secrets::Secrets;

use crate::common;

const USER: &str = "bob";
const PASSWORD: &str = "hunter2";
const LARGE: u64 = 50 * 1024 * 1024;
const TRUNCATED_DECLARED: usize = 100_000;
const TRUNCATED_SENT: usize = 5_000;
const TOKEN: &str = "tok-123";

struct Server {
    base: String,
    secrets: PathBuf,
    /// What PUT requests delivered, by path.
    uploads: Mutex<HashMap<String, Vec<u8>>>,
    /// A gzipped tarball: `dir/a.txt`, `b.txt`.
    tgz: Vec<u8>,
    _tmp: tempfile::TempDir,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let tmp = tempfile::tempdir().expect("tempdir");
        let secrets = tmp.path().join("secrets");
        common::write(&secrets, "http/username", USER.as_bytes());
        common::write(&secrets, "http/password", PASSWORD.as_bytes());
        common::write(&secrets, "http/wrong", b"nope");
        common::write(&secrets, "oauth/id", b"client-1");
        common::write(&secrets, "oauth/secret", b"shh");
        common::write(
            &secrets,
            "tls/cert",
            b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        );
        common::write(&secrets, "tls/key", b"garbage");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        common::write(&secrets, "oauth/url", format!("{base}/token").as_bytes());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                std::thread::spawn(move || {
                    let _ = handle(conn);
                });
            }
        });
        Server {
            base,
            secrets,
            uploads: Mutex::default(),
            tgz: tgz(),
            _tmp: tmp,
        }
    })
}

fn tgz() -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (path, data) in [("dir/a.txt", &b"alpha"[..]), ("b.txt", &b"beta"[..])] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, path, data).expect("tar entry");
    }
    tar.into_inner().expect("tar").finish().expect("gzip")
}

/// Byte `i` of the large body.
fn pattern(i: u64) -> u8 {
    (i % 251) as u8
}

fn respond(
    conn: &mut dyn Write,
    status: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    write!(conn, "HTTP/1.1 {status}\r\n")?;
    for (k, v) in headers {
        write!(conn, "{k}: {v}\r\n")?;
    }
    write!(
        conn,
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    conn.write_all(body)?;
    conn.flush()
}

fn handle(conn: impl common::Conn) -> std::io::Result<()> {
    let srv = server();
    let mut reader = BufReader::new(conn);
    let Some(req) = common::read_request(&mut reader, true)? else {
        return Ok(());
    };
    let conn = reader.get_mut();
    let path = req.target.split('?').next().unwrap_or("").to_string();
    let head = req.method == "HEAD";
    let body = |b: &[u8]| if head { Vec::new() } else { b.to_vec() };
    match (req.method.as_str(), path.as_str()) {
        ("GET" | "HEAD", "/files/hello.txt") => {
            respond(conn, "200 OK", &[], &body(b"hello world\n"))
        }
        ("GET", "/basic/secret.txt") => {
            if req.header("authorization") == Some(common::basic_auth(USER, PASSWORD).as_str()) {
                respond(conn, "200 OK", &[], b"top secret")
            } else {
                respond(
                    conn,
                    "401 Unauthorized",
                    &[("WWW-Authenticate", "Basic realm=\"t\"".into())],
                    b"no",
                )
            }
        }
        ("GET", "/redirect/loop") => respond(
            conn,
            "302 Found",
            &[("Location", "/redirect/loop".into())],
            b"",
        ),
        ("GET", p) if p.starts_with("/redirect/") => {
            let n: u32 = p["/redirect/".len()..].parse().unwrap_or(0);
            if n == 0 {
                respond(conn, "200 OK", &[], b"arrived")
            } else {
                let status = if n.is_multiple_of(2) {
                    "301 Moved Permanently"
                } else {
                    "302 Found"
                };
                respond(
                    conn,
                    status,
                    &[("Location", format!("/redirect/{}", n - 1))],
                    b"",
                )
            }
        }
        ("GET", "/truncated") => {
            write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Length: {TRUNCATED_DECLARED}\r\nConnection: close\r\n\r\n"
            )?;
            conn.write_all(&vec![b'x'; TRUNCATED_SENT])?;
            // Dropping the connection closes it mid-body.
            conn.flush()
        }
        ("GET", "/archive.tgz") => respond(conn, "200 OK", &[], &srv.tgz),
        ("GET", "/large") => {
            write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Length: {LARGE}\r\nConnection: close\r\n\r\n"
            )?;
            let mut buf = vec![0u8; 64 * 1024];
            let mut sent = 0u64;
            while sent < LARGE {
                let n = buf.len().min((LARGE - sent) as usize);
                for (i, b) in buf[..n].iter_mut().enumerate() {
                    *b = pattern(sent + i as u64);
                }
                conn.write_all(&buf[..n])?;
                sent += n as u64;
            }
            conn.flush()
        }
        ("GET", "/echo-headers") => {
            let text: String = req
                .headers
                .iter()
                .map(|(k, v)| format!("{k}: {v}\n"))
                .collect();
            respond(conn, "200 OK", &[], text.as_bytes())
        }
        ("POST", "/token") => {
            let form: HashMap<String, String> = url::form_urlencoded::parse(&req.body)
                .into_owned()
                .collect();
            let creds_ok =
                req.header("authorization") == Some(common::basic_auth("client-1", "shh").as_str());
            if creds_ok
                && form.get("grant_type").map(String::as_str) == Some("client_credentials")
                && form.get("scope").map(String::as_str) == Some("read write")
                && form.get("audience").map(String::as_str) == Some("artifacts")
            {
                let json = format!(
                    r#"{{"access_token":"{TOKEN}","token_type":"bearer","expires_in":3600}}"#
                );
                respond(
                    conn,
                    "200 OK",
                    &[("Content-Type", "application/json".into())],
                    json.as_bytes(),
                )
            } else {
                respond(
                    conn,
                    "401 Unauthorized",
                    &[],
                    format!("bad token request {form:?}").as_bytes(),
                )
            }
        }
        ("GET", "/oauth/data") => {
            if req.header("authorization") == Some(format!("Bearer {TOKEN}").as_str()) {
                respond(conn, "200 OK", &[], b"oauth data")
            } else {
                respond(conn, "401 Unauthorized", &[], b"")
            }
        }
        ("PUT", "/put-redirect") => respond(
            conn,
            "307 Temporary Redirect",
            &[("Location", "/upload/redirected.bin".into())],
            b"",
        ),
        ("PUT", "/put-found") => respond(
            conn,
            "302 Found",
            &[("Location", "/upload/lost.bin".into())],
            b"",
        ),
        ("PUT", p) if p.starts_with("/upload/") => {
            if req.header("content-length").is_none() {
                return respond(conn, "411 Length Required", &[], b"");
            }
            if req.header("x-upload-token") != Some("t0k") {
                return respond(conn, "403 Forbidden", &[], b"missing X-Upload-Token");
            }
            srv.uploads
                .lock()
                .expect("uploads")
                .insert(p.to_string(), req.body);
            respond(conn, "201 Created", &[], b"")
        }
        (_, "/put-fails") => respond(conn, "500 Internal Server Error", &[], b"boom"),
        _ => respond(conn, "404 Not Found", &[], &body(b"not found")),
    }
}

fn selector(name: &str, key: &str) -> Raw<k8s_openapi::api::core::v1::SecretKeySelector> {
    Raw::new(serde_json::json!({"name": name, "key": key}))
}

fn http(path: &str, f: impl FnOnce(&mut HTTPArtifact)) -> Artifact {
    let mut h = HTTPArtifact {
        url: Some(format!("{}{path}", server().base)),
        ..Default::default()
    };
    f(&mut h);
    Artifact {
        name: "art".into(),
        http: Some(h),
        ..Default::default()
    }
}

fn load(art: &Artifact) -> (tempfile::TempDir, Result<PathBuf, ArtifactError>) {
    let out = tempfile::tempdir().expect("tempdir");
    let dest = out.path().join("dest");
    let result = driver_for(art, &Secrets::new(&server().secrets)).and_then(|d| {
        common::runtime()
            .block_on(d.load(art, &dest))
            .map(|()| dest)
    });
    (out, result)
}

fn load_bytes(art: &Artifact) -> Vec<u8> {
    let (_tmp, result) = load(art);
    std::fs::read(result.expect("load")).expect("read dest")
}

/// The names in `dir`.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn basic(password_key: &str) -> impl FnOnce(&mut HTTPArtifact) {
    let password_key = password_key.to_string();
    move |h| {
        h.auth = Some(HTTPAuth {
            basic_auth: Some(BasicAuth {
                username_secret: Some(selector("http", "username")),
                password_secret: Some(selector("http", &password_key)),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
}

#[test]
fn http_loads_a_plain_file() {
    assert_eq!(
        load_bytes(&http("/files/hello.txt", |_| {})),
        b"hello world\n"
    );
}

#[test]
fn http_basic_auth_from_secrets() {
    assert_eq!(
        load_bytes(&http("/basic/secret.txt", basic("password"))),
        b"top secret"
    );

    let (tmp, result) = load(&http("/basic/secret.txt", basic("wrong")));
    let err = result.expect_err("a wrong password is refused").to_string();
    assert!(
        err.contains("/basic/secret.txt") && err.contains("401"),
        "{err}"
    );
    assert!(
        listing(tmp.path()).is_empty(),
        "nothing written: {:?}",
        listing(tmp.path())
    );
}

#[test]
fn http_follows_a_redirect_chain_but_not_forever() {
    assert_eq!(load_bytes(&http("/redirect/4", |_| {})), b"arrived");

    let (_tmp, result) = load(&http("/redirect/loop", |_| {}));
    let err = result.expect_err("a redirect loop ends").to_string();
    assert!(
        err.contains("/redirect/loop") && err.contains("redirect"),
        "{err}"
    );
}

#[test]
fn http_404_is_not_found() {
    let (tmp, result) = load(&http("/missing.txt", |_| {}));
    let err = result.expect_err("404");
    assert!(
        matches!(&err, ArtifactError::NotFound(m) if m.contains("/missing.txt") && m.contains("404")),
        "{err:?}"
    );
    assert!(listing(tmp.path()).is_empty());
}

#[test]
fn http_truncated_body_fails_and_leaves_nothing() {
    let (tmp, result) = load(&http("/truncated", |_| {}));
    let err = result.expect_err("a body shorter than its Content-Length must fail");
    let msg = err.to_string();
    assert!(msg.contains("/truncated"), "{msg}");
    assert!(
        msg.contains(&format!("of {TRUNCATED_DECLARED} bytes")),
        "{msg}"
    );
    assert!(
        listing(tmp.path()).is_empty(),
        "no partial file: {:?}",
        listing(tmp.path())
    );
}

#[test]
fn http_unpacks_a_tarball() {
    let (_tmp, result) = load(&http("/archive.tgz", |_| {}));
    let dest = result.expect("load tgz");
    assert_eq!(
        common::tree(&dest),
        vec![
            ("b.txt".to_string(), b"beta".to_vec()),
            ("dir/".to_string(), Vec::new()),
            ("dir/a.txt".to_string(), b"alpha".to_vec()),
        ]
    );

    // archive: none keeps the tarball as it is.
    let mut art = http("/archive.tgz", |_| {});
    art.archive = Some(ArchiveStrategy {
        none: Some(NoneStrategy::default()),
        ..Default::default()
    });
    assert_eq!(load_bytes(&art), server().tgz);
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

#[test]
fn http_streams_a_large_body() {
    let before = peak_rss_kib();
    let (_tmp, result) = load(&http("/large", |_| {}));
    let dest = result.expect("load large");
    let grew = peak_rss_kib().saturating_sub(before);

    let mut file = std::fs::File::open(&dest).expect("open");
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0u64;
    loop {
        let n = file.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        for (i, b) in buf[..n].iter().enumerate() {
            assert_eq!(*b, pattern(at + i as u64), "byte {}", at + i as u64);
        }
        at += n as u64;
    }
    assert_eq!(at, LARGE);
    // Held whole, 50 MiB would show; streamed, the peak barely moves.
    assert!(
        grew < 32 * 1024,
        "peak RSS grew by {grew} KiB while loading {LARGE} bytes"
    );
}

#[test]
fn http_sends_custom_headers() {
    let art = http("/echo-headers", |h| {
        h.headers = vec![
            Header {
                name: "X-Custom".into(),
                value: Some("value 1".into()),
                ..Default::default()
            },
            Header {
                name: "Authorization".into(),
                value: Some("Bearer abc.def".into()),
                ..Default::default()
            },
        ];
    });
    let text = String::from_utf8(load_bytes(&art)).expect("utf-8");
    assert!(text.lines().any(|l| l == "x-custom: value 1"), "{text}");
    assert!(
        text.lines().any(|l| l == "authorization: Bearer abc.def"),
        "{text}"
    );
}

#[test]
fn http_oauth2_client_credentials() {
    let oauth = |secret_key: &str| {
        let secret_key = secret_key.to_string();
        move |h: &mut HTTPArtifact| {
            h.auth = Some(HTTPAuth {
                oauth2: Some(OAuth2Auth {
                    client_id_secret: Some(selector("oauth", "id")),
                    client_secret_secret: Some(selector("oauth", &secret_key)),
                    token_url_secret: Some(selector("oauth", "url")),
                    scopes: vec!["read".into(), "write".into()],
                    endpoint_params: vec![OAuth2EndpointParam {
                        key: Some("audience".into()),
                        value: Some("artifacts".into()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
    };
    assert_eq!(
        load_bytes(&http("/oauth/data", oauth("secret"))),
        b"oauth data"
    );

    let (_tmp, result) = load(&http("/oauth/data", oauth("id")));
    let err = result
        .expect_err("a wrong client secret gets no token")
        .to_string();
    assert!(
        err.contains("oauth2") && err.contains("/token") && err.contains("401"),
        "{err}"
    );
}

#[test]
fn http_client_cert_must_be_valid_pem() {
    let art = http("/files/hello.txt", |h| {
        h.auth = Some(HTTPAuth {
            client_cert: Some(ClientCertAuth {
                client_cert_secret: Some(selector("tls", "cert")),
                client_key_secret: Some(selector("tls", "key")),
                ..Default::default()
            }),
            ..Default::default()
        });
    });
    let err = driver_for(&art, &Secrets::new(&server().secrets)).expect_err("bad PEM");
    assert!(
        matches!(&err, ArtifactError::Config(m) if m.contains("clientCert")),
        "{err:?}"
    );
}

fn upload_headers(h: &mut HTTPArtifact) {
    h.headers = vec![Header {
        name: "X-Upload-Token".into(),
        value: Some("t0k".into()),
        ..Default::default()
    }];
}

fn save(art: &Artifact, src: &Path) -> Result<(), ArtifactError> {
    let driver = driver_for(art, &Secrets::new(&server().secrets))?;
    common::runtime().block_on(driver.save(src, art))
}

#[test]
fn http_put_uploads_the_file_intact() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let src = common::write(tmp.path(), "out.bin", &data);

    save(&http("/upload/out.bin", upload_headers), &src).expect("save");
    assert!(
        server()
            .uploads
            .lock()
            .expect("uploads")
            .get("/upload/out.bin")
            == Some(&data)
    );

    // A 307 is followed with the file sent again.
    save(&http("/put-redirect", upload_headers), &src).expect("save through 307");
    assert!(
        server()
            .uploads
            .lock()
            .expect("uploads")
            .get("/upload/redirected.bin")
            == Some(&data)
    );

    // A 302 would turn the PUT into a GET: refused, not reported as saved.
    let err = save(&http("/put-found", upload_headers), &src)
        .expect_err("302 on PUT")
        .to_string();
    assert!(err.contains("/put-found") && err.contains("302"), "{err}");
    assert!(
        !server()
            .uploads
            .lock()
            .expect("uploads")
            .contains_key("/upload/lost.bin")
    );

    let err = save(&http("/put-fails", upload_headers), &src)
        .expect_err("500")
        .to_string();
    assert!(err.contains("/put-fails") && err.contains("500"), "{err}");

    let err = save(&http("/upload/dir", upload_headers), tmp.path()).expect_err("a directory");
    assert!(
        matches!(&err, ArtifactError::Unsupported(m) if m.contains("directory")),
        "{err:?}"
    );
}

#[test]
fn http_list_heads_and_delete_is_unsupported() {
    let rt = common::runtime();
    let secrets = Secrets::new(&server().secrets);
    let art = http("/files/hello.txt", |_| {});
    let driver = driver_for(&art, &secrets).expect("driver");
    assert_eq!(
        rt.block_on(driver.list(&art)).expect("list"),
        [format!("{}/files/hello.txt", server().base)]
    );
    let err = rt.block_on(driver.delete(&art)).expect_err("delete");
    assert!(matches!(&err, ArtifactError::Unsupported(_)), "{err:?}");

    let missing = http("/missing.txt", |_| {});
    let driver = driver_for(&missing, &secrets).expect("driver");
    assert!(rt.block_on(driver.list(&missing)).expect("list").is_empty());
}

/// HTTPS with a client certificate. The server's CA must be trusted, which
/// the platform verifier learns from `SSL_CERT_FILE` at start: the checks run
/// in a child process of this test binary with that variable set.
#[test]
fn http_client_cert_over_tls() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let files = common::tls_files(tmp.path());
    common::run_child_test_trusting("http::client_cert_over_tls_child", &files);
}

#[test]
#[ignore = "run by http_client_cert_over_tls in a child process with SSL_CERT_FILE set"]
fn client_cert_over_tls_child() {
    let dir = std::env::var_os("SLUICE_TEST_TLS_DIR").expect("run by http_client_cert_over_tls");
    let files = common::TlsFiles::at(Path::new(&dir));
    let base = common::serve_tls(&files, true, |conn| {
        let _ = handle(conn);
    });
    let secrets = tempfile::tempdir().expect("tempdir");
    common::write(
        secrets.path(),
        "tls/cert",
        &std::fs::read(&files.client_cert).expect("client cert"),
    );
    common::write(
        secrets.path(),
        "tls/key",
        &std::fs::read(&files.client_key).expect("client key"),
    );
    let art = |with_cert: bool| {
        let client_cert = with_cert.then(|| ClientCertAuth {
            client_cert_secret: Some(selector("tls", "cert")),
            client_key_secret: Some(selector("tls", "key")),
            ..Default::default()
        });
        Artifact {
            name: "art".into(),
            http: Some(HTTPArtifact {
                url: Some(format!("{base}/files/hello.txt")),
                auth: Some(HTTPAuth {
                    client_cert,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    };
    let rt = common::runtime();
    let out = tempfile::tempdir().expect("tempdir");
    let load = |art: &Artifact, name: &str| {
        let dest = out.path().join(name);
        driver_for(art, &Secrets::new(secrets.path()))
            .and_then(|d| rt.block_on(d.load(art, &dest)))
            .map(|()| std::fs::read(&dest).expect("read dest"))
    };
    assert_eq!(
        load(&art(true), "with-cert").expect("load with a client certificate"),
        b"hello world\n"
    );
    let err = load(&art(false), "without-cert")
        .expect_err("no client certificate")
        .to_string();
    assert!(err.contains(&base), "{err}");
}
