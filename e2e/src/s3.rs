//! A real S3-compatible server for tests: one `moto_server` per test
//! process on 127.0.0.1 (installed by `scripts/check`), stopped once the
//! process is gone, and the few plain requests tests make to it.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// `host:port` of this process's moto server, started on first use.
pub fn moto() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("no free port: {e}"));
        // moto runs under a watcher that stops it once this process is gone.
        let script = r#"moto_server -H 127.0.0.1 -p "$1" >/dev/null 2>&1 & m=$!
while kill -0 "$2" 2>/dev/null && kill -0 "$m" 2>/dev/null; do sleep 1; done
kill "$m" 2>/dev/null"#;
        let mut watcher = Command::new("sh")
            .args([
                "-c",
                script,
                "sh",
                &port.to_string(),
                &std::process::id().to_string(),
            ])
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start moto_server (pip install 'moto[server]'): {e}"));
        // Reaped when it ends (after this process, in practice).
        std::thread::spawn(move || watcher.wait());
        let endpoint = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(status) = request(&endpoint, "GET", "/", b"") {
                assert!(status < 500, "moto answered {status}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not start on {endpoint}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        endpoint
    })
}

/// One plain HTTP/1.1 request; the response's status code.
pub fn request(endpoint: &str, method: &str, path: &str, body: &[u8]) -> std::io::Result<u16> {
    exchange(endpoint, method, path, body).map(|(status, _)| status)
}

/// One plain HTTP/1.1 request; the response's status code and text.
fn exchange(
    endpoint: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(endpoint)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {endpoint}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    s.write_all(body)?;
    let mut response = Vec::new();
    s.read_to_end(&mut response)?;
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad response {response:?}")))?;
    Ok((status, response))
}

/// Creates the bucket (moto takes unsigned requests).
pub fn create_bucket(bucket: &str) {
    let status = request(moto(), "PUT", &format!("/{bucket}"), b"")
        .unwrap_or_else(|e| panic!("create bucket {bucket}: {e}"));
    assert_eq!(status, 200, "create bucket {bucket}");
}

/// Puts one object.
pub fn put_object(bucket: &str, key: &str, body: &[u8]) {
    let status = request(moto(), "PUT", &format!("/{bucket}/{key}"), body)
        .unwrap_or_else(|e| panic!("put s3://{bucket}/{key}: {e}"));
    assert_eq!(status, 200, "put s3://{bucket}/{key}");
}

/// Whether the object exists (from a listing: moto refuses unsigned reads
/// of objects, not of listings).
pub fn object_exists(bucket: &str, key: &str) -> bool {
    let path = format!("/{bucket}?list-type=2&prefix={key}");
    let (status, text) = exchange(moto(), "GET", &path, b"")
        .unwrap_or_else(|e| panic!("list s3://{bucket}/{key}: {e}"));
    assert_eq!(status, 200, "list s3://{bucket}/{key}: {text}");
    text.contains(&format!("<Key>{key}</Key>"))
}
