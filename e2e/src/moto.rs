//! A real S3 API for tests: one `moto_server` on 127.0.0.1 per test
//! process (stopped by a watcher once the process is gone, however it
//! ends), one bucket per test.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// `host:port` of this process's moto server, started on first use.
///
/// # Panics
///
/// When `moto_server` cannot start (`pip install 'moto[server]'`): a test
/// that needs S3 must fail without it.
pub fn moto() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("no free port: {e}"));
        let script = r#"moto_server -H 127.0.0.1 -p "$1" >/dev/null 2>&1 & m=$!
while kill -0 "$2" 2>/dev/null && kill -0 "$m" 2>/dev/null; do sleep 1; done
kill "$m" 2>/dev/null"#;
        let mut watcher = Command::new("sh")
            .args(["-c", script, "sh"])
            .arg(port.to_string())
            .arg(std::process::id().to_string())
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start moto_server: {e}"));
        std::thread::spawn(move || watcher.wait());
        let endpoint = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while request(&endpoint, "GET", "/").is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not start on {endpoint}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        endpoint
    })
}

/// One body-less HTTP/1.1 request to `endpoint`; the status code.
pub fn request(endpoint: &str, method: &str, path: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(endpoint)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {endpoint}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {response:?}")))
}

/// Creates a bucket on the moto server.
///
/// # Panics
///
/// When moto does not answer 200.
pub fn bucket(name: &str) {
    let status = request(moto(), "PUT", &format!("/{name}"))
        .unwrap_or_else(|e| panic!("create bucket {name}: {e}"));
    assert_eq!(status, 200, "create bucket {name}");
}
