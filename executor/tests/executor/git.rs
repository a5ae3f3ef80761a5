//! The git driver against repositories served by `git http-backend` (CGI)
//! behind a small HTTP server of the test's own, one of them behind HTTP
//! basic auth; and against a local repository through `file://`.

use std::io::{BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use sluice_api::types::{Artifact, GitArtifact, Raw};
use sluice_executor::drivers::{ArtifactError, driver_for};
use sluice_executor::secrets::Secrets;

use crate::common;

const USER: &str = "alice";
const PASSWORD: &str = "s3cret-pw";

/// The served repositories and what is in them.
struct Fixture {
    /// `http://127.0.0.1:PORT`
    base: String,
    /// The bare repositories (`public.git`, `private.git`, `sub.git`).
    projects: PathBuf,
    /// Secrets: `creds/username`, `creds/password`, `creds/wrong`.
    secrets: PathBuf,
    /// main: c1 (tag v1), c2, c3; feature: c2 + f1; refs/pull/1/head: p1.
    c1: String,
    c2: String,
    c3: String,
    f1: String,
    p1: String,
    _tmp: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(Fixture::start)
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

fn commit(dir: &Path, file: &str, contents: &str, msg: &str) -> String {
    common::write(dir, file, contents.as_bytes());
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", msg]);
    git(dir, &["rev-parse", "HEAD"])
}

impl Fixture {
    fn start() -> Fixture {
        let tmp = tempfile::tempdir().expect("tempdir");
        let projects = tmp.path().join("projects");
        std::fs::create_dir_all(&projects).expect("projects dir");

        // A repository for the submodule.
        let sub = tmp.path().join("sub-src");
        std::fs::create_dir_all(&sub).expect("sub dir");
        git(&sub, &["init", "-q", "-b", "main"]);
        commit(&sub, "sub.txt", "from the submodule", "sub");
        git(
            tmp.path(),
            &["clone", "-q", "--bare", "sub-src", "projects/sub.git"],
        );

        let src = tmp.path().join("src");
        std::fs::create_dir_all(&src).expect("src dir");
        git(&src, &["init", "-q", "-b", "main"]);
        let c1 = commit(&src, "a.txt", "one", "c1");
        git(&src, &["tag", "-a", "v1", "-m", "version 1"]);
        common::write(&src, "a.txt", b"two");
        let c2 = commit(&src, "b.txt", "bee", "c2");
        git(&src, &["checkout", "-q", "-b", "feature"]);
        let f1 = commit(&src, "feature.txt", "feature work", "f1");
        git(&src, &["checkout", "-q", "--detach", &c2]);
        let p1 = commit(&src, "pr.txt", "pull request", "p1");
        git(&src, &["update-ref", "refs/pull/1/head", &p1]);
        git(&src, &["checkout", "-q", "main"]);
        let c3 = commit(&src, "a.txt", "three", "c3");
        // A branch with a submodule (an absolute path; libgit2 clones it directly).
        git(&src, &["checkout", "-q", "-b", "with-sub"]);
        let sub_url = projects.join("sub.git");
        git(
            &src,
            &[
                "-c",
                "protocol.file.allow=always",
                "submodule",
                "add",
                "-q",
                sub_url.to_str().expect("utf-8"),
                "sub",
            ],
        );
        git(&src, &["commit", "-q", "-m", "add submodule"]);
        git(&src, &["checkout", "-q", "main"]);

        git(
            &projects,
            &["init", "-q", "--bare", "-b", "main", "empty.git"],
        );
        for name in ["public.git", "private.git"] {
            git(
                tmp.path(),
                &[
                    "clone",
                    "-q",
                    "--mirror",
                    "src",
                    &format!("projects/{name}"),
                ],
            );
        }

        let secrets = tmp.path().join("secrets");
        common::write(&secrets, "creds/username", USER.as_bytes());
        common::write(&secrets, "creds/password", PASSWORD.as_bytes());
        common::write(&secrets, "creds/wrong", b"not-the-password");

        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let root = projects.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let root = root.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &root);
                });
            }
        });
        Fixture {
            base,
            projects,
            secrets,
            c1,
            c2,
            c3,
            f1,
            p1,
            _tmp: tmp,
        }
    }

    /// The same repositories over HTTPS, with a certificate from a CA no
    /// one trusts.
    fn https_url(&self, repo: &str) -> String {
        static BASE: OnceLock<String> = OnceLock::new();
        let base = BASE.get_or_init(|| {
            let files = common::tls_files(&self._tmp.path().join("tls"));
            common::serve_tls(&files, false, |conn| {
                let _ = serve(conn, &fixture().projects);
            })
        });
        format!("{base}/{repo}")
    }

    fn url(&self, repo: &str) -> String {
        format!("{}/{repo}", self.base)
    }
}

/// One HTTP/1.1 request handed to `git http-backend`; the connection closes after it.
fn serve(conn: impl common::Conn, root: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn);
    let Some(req) = common::read_request(&mut reader, true)? else {
        return Ok(());
    };
    let conn = reader.get_mut();
    let header = |name: &str| req.header(name).map(str::to_string);
    let (method, target, body) = (req.method.clone(), req.target.clone(), req.body.clone());
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut remote_user = None;
    if path.starts_with("/private.git/") {
        let expected = common::basic_auth(USER, PASSWORD);
        if header("authorization").as_deref() != Some(expected.as_str()) {
            let msg = "authentication required\n";
            write!(
                conn,
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{msg}",
                msg.len()
            )?;
            return conn.flush();
        }
        remote_user = Some(USER);
    }

    let backend = PathBuf::from(git(root, &["--exec-path"])).join("git-http-backend");
    let mut cmd = Command::new(backend);
    cmd.env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(t) = header("content-type") {
        cmd.env("CONTENT_TYPE", t);
    }
    if let Some(p) = header("git-protocol") {
        cmd.env("GIT_PROTOCOL", p);
    }
    if let Some(e) = header("content-encoding") {
        cmd.env("HTTP_CONTENT_ENCODING", e);
    }
    if let Some(u) = remote_user {
        cmd.env("REMOTE_USER", u);
    }
    let mut child = cmd.spawn()?;
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let mut out = Vec::new();
    child.stdout.take().expect("stdout").read_to_end(&mut out)?;
    let _ = writer.join();
    child.wait()?;

    // CGI output: headers, a blank line, the body.
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4))
        .or_else(|| {
            out.windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, i + 2))
        })
        .unwrap_or((0, 0));
    let head = String::from_utf8_lossy(&out[..split.0]).to_string();
    let payload = &out[split.1..];
    let mut status = "200 OK".to_string();
    let mut response = Vec::new();
    for h in head.lines() {
        if let Some(s) = h.strip_prefix("Status:") {
            status = s.trim().to_string();
        } else if !h.is_empty() {
            response.extend_from_slice(h.as_bytes());
            response.extend_from_slice(b"\r\n");
        }
    }
    write!(conn, "HTTP/1.1 {status}\r\n")?;
    conn.write_all(&response)?;
    write!(
        conn,
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        payload.len()
    )?;
    conn.write_all(payload)?;
    conn.flush()
}

fn selector(name: &str, key: &str) -> Raw<k8s_openapi::api::core::v1::SecretKeySelector> {
    Raw::new(serde_json::json!({"name": name, "key": key}))
}

fn artifact(git: GitArtifact) -> Artifact {
    Artifact {
        name: "src".into(),
        git: Some(git),
        ..Default::default()
    }
}

fn load(git: GitArtifact) -> (tempfile::TempDir, Result<PathBuf, ArtifactError>) {
    let fx = fixture();
    let art = artifact(git);
    let out = tempfile::tempdir().expect("tempdir");
    let dest = out.path().join("checkout");
    let result = driver_for(&art, &Secrets::new(&fx.secrets)).and_then(|d| {
        common::runtime()
            .block_on(d.load(&art, &dest))
            .map(|()| dest)
    });
    (out, result)
}

fn load_ok(git: GitArtifact) -> (tempfile::TempDir, PathBuf) {
    let (tmp, result) = load(git);
    let dest = result.expect("load");
    (tmp, dest)
}

fn read(dest: &Path, file: &str) -> String {
    std::fs::read_to_string(dest.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn head(dest: &Path) -> (String, bool) {
    let repo = git2::Repository::open(dest).expect("open checkout");
    let id = repo
        .head()
        .expect("HEAD")
        .peel_to_commit()
        .expect("commit")
        .id()
        .to_string();
    (id, repo.head_detached().expect("head_detached"))
}

fn public(f: impl FnOnce(&mut GitArtifact)) -> GitArtifact {
    let mut g = GitArtifact {
        repo: Some(fixture().url("public.git")),
        ..Default::default()
    };
    f(&mut g);
    g
}

#[test]
fn git_clones_the_default_branch_over_http() {
    let fx = fixture();
    let (_tmp, dest) = load_ok(public(|_| {}));
    assert_eq!(read(&dest, "a.txt"), "three");
    assert!(!dest.join("feature.txt").exists());
    assert_eq!(head(&dest), (fx.c3.clone(), false));
    assert!(!git2::Repository::open(&dest).expect("open").is_shallow());
}

#[test]
fn git_branch_field_checks_out_that_branch() {
    let fx = fixture();
    let (_tmp, dest) = load_ok(public(|g| g.branch = Some("feature".into())));
    assert_eq!(read(&dest, "feature.txt"), "feature work");
    assert_eq!(head(&dest), (fx.f1.clone(), false));
}

#[test]
fn git_revision_names_a_branch() {
    let fx = fixture();
    let (_tmp, dest) = load_ok(public(|g| g.revision = Some("feature".into())));
    assert_eq!(read(&dest, "feature.txt"), "feature work");
    assert_eq!(
        head(&dest),
        (fx.f1.clone(), true),
        "detached at the branch tip"
    );
}

#[test]
fn git_revision_names_an_annotated_tag() {
    let fx = fixture();
    let (_tmp, dest) = load_ok(public(|g| g.revision = Some("v1".into())));
    assert_eq!(read(&dest, "a.txt"), "one");
    assert!(
        !dest.join("b.txt").exists(),
        "files of later commits are gone"
    );
    assert_eq!(head(&dest), (fx.c1.clone(), true));
}

#[test]
fn git_revision_names_a_commit_full_or_abbreviated() {
    let fx = fixture();
    for rev in [fx.c2.clone(), fx.c2[..10].to_string()] {
        let (_tmp, dest) = load_ok(public(|g| g.revision = Some(rev.clone())));
        assert_eq!(read(&dest, "a.txt"), "two", "revision {rev}");
        assert_eq!(read(&dest, "b.txt"), "bee");
        assert_eq!(head(&dest), (fx.c2.clone(), true));
    }
}

#[test]
fn git_depth_one_makes_a_shallow_clone() {
    let fx = fixture();
    let (_tmp, dest) = load_ok(public(|g| g.depth = Some(1)));
    let repo = git2::Repository::open(&dest).expect("open");
    assert!(repo.is_shallow(), "depth 1 must give a shallow clone");
    let mut walk = repo.revwalk().expect("revwalk");
    walk.push_head().expect("push head");
    assert_eq!(walk.count(), 1, "only the tip commit is there");
    assert_eq!(read(&dest, "a.txt"), "three");
    assert_eq!(head(&dest).0, fx.c3);
}

#[test]
fn git_depth_one_still_finds_an_older_revision() {
    let fx = fixture();
    let (_tmp, dest) = load_ok(public(|g| {
        g.depth = Some(1);
        g.revision = Some(fx.c2.clone());
    }));
    assert_eq!(read(&dest, "a.txt"), "two");
    assert_eq!(head(&dest), (fx.c2.clone(), true));
}

#[test]
fn git_fetch_refspec_brings_in_other_refs() {
    let fx = fixture();
    let (_tmp, dest) = load_ok(public(|g| {
        g.fetch = vec!["+refs/pull/*/head:refs/remotes/origin/pull/*".into()];
        g.revision = Some(fx.p1.clone());
    }));
    assert_eq!(read(&dest, "pr.txt"), "pull request");
    assert_eq!(head(&dest), (fx.p1.clone(), true));
    let repo = git2::Repository::open(&dest).expect("open");
    assert!(repo.find_reference("refs/remotes/origin/pull/1").is_ok());

    // Without the refspec the commit is out of reach.
    let (tmp, result) = load(public(|g| g.revision = Some(fx.p1.clone())));
    let err = result
        .expect_err("a commit only under refs/pull is not fetched by default")
        .to_string();
    assert!(
        err.contains(&fx.p1) && err.contains("revision not found"),
        "{err}"
    );
    assert!(
        !tmp.path().join("checkout").exists(),
        "nothing is left behind: {err}"
    );
}

#[test]
fn git_single_branch_fetches_only_that_branch() {
    let (_tmp, dest) = load_ok(public(|g| {
        g.single_branch = Some(true);
        g.branch = Some("feature".into());
    }));
    assert_eq!(read(&dest, "feature.txt"), "feature work");
    let repo = git2::Repository::open(&dest).expect("open");
    let remote_branches: Vec<String> = repo
        .branches(Some(git2::BranchType::Remote))
        .expect("branches")
        .map(|b| {
            b.expect("branch")
                .0
                .name()
                .expect("name")
                .expect("utf-8")
                .to_string()
        })
        .collect();
    assert_eq!(remote_branches, ["origin/feature"]);

    let (_tmp, result) = load(public(|g| g.single_branch = Some(true)));
    let err = result
        .expect_err("singleBranch without a branch")
        .to_string();
    assert!(
        err.contains("singleBranch") && err.contains("public.git"),
        "{err}"
    );
}

#[test]
fn git_basic_auth_clones_a_private_repo() {
    let fx = fixture();
    let private = |password_key: Option<&str>| GitArtifact {
        repo: Some(fx.url("private.git")),
        revision: Some("v1".into()),
        username_secret: password_key.map(|_| selector("creds", "username")),
        password_secret: password_key.map(|k| selector("creds", k)),
        ..Default::default()
    };
    let (_tmp, dest) = load_ok(private(Some("password")));
    assert_eq!(read(&dest, "a.txt"), "one");
    assert_eq!(head(&dest), (fx.c1.clone(), true));

    let (tmp, result) = load(private(Some("wrong")));
    let err = result.expect_err("a wrong password is refused").to_string();
    assert!(
        err.contains(&fx.url("private.git")) && err.contains("\"v1\""),
        "{err}"
    );
    assert!(err.contains("refused"), "{err}");
    assert!(!tmp.path().join("checkout").exists());

    let (_tmp, result) = load(private(None));
    let err = result.expect_err("no credentials").to_string();
    assert!(err.contains(&fx.url("private.git")), "{err}");
}

#[test]
fn git_missing_revision_names_repo_and_revision() {
    let fx = fixture();
    let (tmp, result) = load(public(|g| g.revision = Some("no-such-branch".into())));
    let err = result.expect_err("missing revision");
    assert!(matches!(err, ArtifactError::Remote(_)), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&fx.url("public.git")) && msg.contains("no-such-branch"),
        "{msg}"
    );
    assert!(!tmp.path().join("checkout").exists());

    let (_tmp, result) = load(GitArtifact {
        repo: Some(fx.url("absent.git")),
        revision: Some("main".into()),
        ..Default::default()
    });
    let msg = result.expect_err("missing repository").to_string();
    assert!(
        msg.contains("absent.git") && msg.contains("\"main\""),
        "{msg}"
    );
}

#[test]
fn git_clones_a_local_repo_through_file_url() {
    let fx = fixture();
    let url = format!("file://{}", fx.projects.join("public.git").display());
    let (_tmp, dest) = load_ok(GitArtifact {
        repo: Some(url),
        revision: Some("v1".into()),
        ..Default::default()
    });
    assert_eq!(read(&dest, "a.txt"), "one");
    assert_eq!(head(&dest), (fx.c1.clone(), true));
}

#[test]
fn git_updates_submodules_unless_disabled() {
    let (_tmp, dest) = load_ok(public(|g| g.branch = Some("with-sub".into())));
    assert_eq!(read(&dest, "sub/sub.txt"), "from the submodule");

    let (_tmp, dest) = load_ok(public(|g| {
        g.branch = Some("with-sub".into());
        g.disable_submodules = Some(true);
    }));
    assert!(dest.join(".gitmodules").exists());
    assert!(
        !dest.join("sub/sub.txt").exists(),
        "disableSubmodules leaves the submodule empty"
    );
}

#[test]
fn git_artifacts_are_input_only() {
    let fx = fixture();
    let art = artifact(public(|_| {}));
    let driver = driver_for(&art, &Secrets::new(&fx.secrets)).expect("driver");
    let rt = common::runtime();
    let src = tempfile::tempdir().expect("tempdir");
    for err in [
        rt.block_on(driver.save(src.path(), &art))
            .expect_err("save"),
        rt.block_on(driver.list(&art))
            .map(|_| ())
            .expect_err("list"),
        rt.block_on(driver.delete(&art)).expect_err("delete"),
    ] {
        assert!(
            matches!(&err, ArtifactError::Unsupported(m) if m.contains("input-only")),
            "{err:?}"
        );
    }
}

#[test]
fn git_https_with_an_untrusted_certificate_needs_insecure_skip_tls() {
    let fx = fixture();
    let url = fx.https_url("public.git");
    let (_tmp, dest) = load_ok(GitArtifact {
        repo: Some(url.clone()),
        revision: Some("v1".into()),
        insecure_skip_tls: Some(true),
        ..Default::default()
    });
    assert_eq!(read(&dest, "a.txt"), "one");
    assert_eq!(head(&dest), (fx.c1.clone(), true));

    let (tmp, result) = load(GitArtifact {
        repo: Some(url.clone()),
        revision: Some("v1".into()),
        ..Default::default()
    });
    let err = result
        .expect_err("an untrusted certificate is refused")
        .to_string();
    assert!(
        err.contains(&url) && err.to_lowercase().contains("certificate"),
        "{err}"
    );
    assert!(!tmp.path().join("checkout").exists());
}

#[test]
fn git_clones_an_empty_repository() {
    let (_tmp, dest) = load_ok(GitArtifact {
        repo: Some(fixture().url("empty.git")),
        ..Default::default()
    });
    let repo = git2::Repository::open(&dest).expect("open");
    assert!(repo.is_empty().expect("is_empty"));
    assert_eq!(
        repo.find_remote("origin")
            .expect("origin")
            .url()
            .expect("url"),
        fixture().url("empty.git")
    );
}

#[test]
fn git_failed_load_keeps_an_existing_destination() {
    let fx = fixture();
    let art = artifact(public(|_| {}));
    let out = tempfile::tempdir().expect("tempdir");
    let dest = out.path().join("checkout");
    common::write(&dest, "keep.txt", b"mine");
    let driver = driver_for(&art, &Secrets::new(&fx.secrets)).expect("driver");
    let err = common::runtime()
        .block_on(driver.load(&art, &dest))
        .expect_err("dest is not empty");
    assert!(err.to_string().contains(&fx.url("public.git")), "{err}");
    assert_eq!(
        common::tree(&dest),
        vec![("keep.txt".to_string(), b"mine".to_vec())]
    );
}

/// HTTPS verified against a CA trusted through `SSL_CERT_FILE` (what the
/// executor image's OpenSSL reads when its default CA store is elsewhere):
/// run in a child process of this test binary with that variable set.
#[test]
fn git_https_verifies_against_ssl_cert_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let files = common::tls_files(tmp.path());
    common::run_child_test_trusting("git::https_trusted_child", &files);
}

#[test]
#[ignore = "run by git_https_verifies_against_ssl_cert_file in a child process with SSL_CERT_FILE set"]
fn https_trusted_child() {
    let dir = std::env::var_os("SLUICE_TEST_TLS_DIR")
        .expect("run by git_https_verifies_against_ssl_cert_file");
    let files = common::TlsFiles::at(Path::new(&dir));
    let base = common::serve_tls(&files, false, |conn| {
        let _ = serve(conn, &fixture().projects);
    });
    let fx = fixture();
    let (_tmp, dest) = load_ok(GitArtifact {
        repo: Some(format!("{base}/public.git")),
        revision: Some("v1".into()),
        ..Default::default()
    });
    assert_eq!(read(&dest, "a.txt"), "one");
    assert_eq!(head(&dest), (fx.c1.clone(), true));
}
