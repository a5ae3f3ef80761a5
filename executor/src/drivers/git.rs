//! Git input artifacts: a checkout of a repository, made with libgit2.
//!
//! Loading follows Argo's semantics:
//!
//! - the repository is cloned into `dest` (`depth` makes the clone shallow,
//!   `singleBranch` fetches only `branch`, and `branch` is what the clone
//!   checks out);
//! - `fetch` refspecs are fetched after the clone;
//! - `revision` (a branch, a tag or a commit, full or abbreviated) is checked
//!   out detached after every branch and tag has been fetched; a commit older
//!   than a shallow clone's `depth` deepens the clone to find it;
//! - submodules are initialised and updated recursively unless
//!   `disableSubmodules`.
//!
//! Authentication: `usernameSecret`/`passwordSecret` for HTTP(S),
//! `sshPrivateKeySecret` for SSH (the user from the URL, else `git`).
//! `insecureSkipTLS` accepts any HTTPS certificate. `insecureIgnoreHostKey`
//! accepts any SSH host key; otherwise the host key must be known, as
//! OpenSSH and go-git (Argo) decide it: listed in the files of
//! `$SSH_KNOWN_HOSTS` (`:`-separated), else `/etc/ssh/ssh_known_hosts`
//! (plain or hashed host names, `[host]:port` for other ports than 22,
//! wildcards, negation, `@revoked`), or else in `~/.ssh/known_hosts`, which
//! libgit2 checks itself. A key that differs from the one listed for the host
//! (same algorithm), a revoked key, or an unknown host is refused.
//!
//! libgit2 writes objects and files to disk as they arrive, so nothing is held
//! in memory. Git artifacts are input-only: saving, listing and deleting are
//! not supported (as in Argo).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures::future::BoxFuture;
use git2::build::{CheckoutBuilder, RepoBuilder};
use git2::{
    AutotagOption, CertificateCheckStatus, Cred, CredentialType, FetchOptions, Oid,
    RemoteCallbacks, Repository, SubmoduleUpdateOptions,
};
use sluice_api::types::{Artifact, GitArtifact};

use super::{ArtifactError, Driver};
use crate::secrets::Secrets;

/// libgit2's "fetch everything" depth (`GIT_FETCH_DEPTH_UNSHALLOW`).
const UNSHALLOW: i32 = i32::MAX;
/// How deep nested submodules are followed (as go-git, which Argo uses).
const MAX_SUBMODULE_DEPTH: usize = 10;
/// The remote's name in the checkout.
const REMOTE: &str = "origin";

/// Loads git artifacts (input-only).
#[derive(Debug)]
pub struct GitDriver {
    cfg: Arc<Config>,
}

/// Everything a load needs, resolved from the artifact and its secrets.
struct Config {
    repo: String,
    revision: Option<String>,
    branch: Option<String>,
    depth: Option<i32>,
    fetch: Vec<String>,
    single_branch: bool,
    disable_submodules: bool,
    username: Option<String>,
    password: Option<String>,
    ssh_key: Option<String>,
    /// The SSH port of `repo` (22 unless an `ssh://` URL says otherwise).
    ssh_port: u16,
    insecure_ignore_host_key: bool,
    insecure_skip_tls: bool,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("repo", &self.repo)
            .field("revision", &self.revision)
            .field("branch", &self.branch)
            .field("depth", &self.depth)
            .field("fetch", &self.fetch)
            .field("single_branch", &self.single_branch)
            .field("disable_submodules", &self.disable_submodules)
            .field("username", &self.username.as_ref().map(|_| "<secret>"))
            .field("password", &self.password.as_ref().map(|_| "<secret>"))
            .field("ssh_key", &self.ssh_key.as_ref().map(|_| "<secret>"))
            .field("insecure_ignore_host_key", &self.insecure_ignore_host_key)
            .field("insecure_skip_tls", &self.insecure_skip_tls)
            .finish()
    }
}

impl GitDriver {
    /// Resolves the location and reads its secrets.
    pub fn new(loc: &GitArtifact, secrets: &Secrets) -> Result<Self, ArtifactError> {
        let repo = loc
            .repo
            .as_deref()
            .filter(|r| !r.is_empty())
            .ok_or_else(|| ArtifactError::Config("git artifact: repo is required".into()))?
            .to_string();
        let depth = match loc.depth {
            None | Some(0) => None,
            Some(d) => Some(i32::try_from(d).ok().filter(|d| *d > 0).ok_or_else(|| {
                ArtifactError::Config(format!(
                    "git artifact {repo:?}: depth must be a positive number, not {d}"
                ))
            })?),
        };
        let branch = loc.branch.clone().filter(|b| !b.is_empty());
        let single_branch = loc.single_branch.unwrap_or(false);
        if single_branch && branch.is_none() {
            return Err(ArtifactError::Config(format!(
                "git artifact {repo:?}: singleBranch needs a branch to fetch"
            )));
        }
        let secret = |what: &str, sel| {
            secrets
                .optional(sel)
                .map_err(|e| ArtifactError::Config(format!("git artifact {repo:?}: {what}: {e}")))
        };
        let username = secret("usernameSecret", loc.username_secret.as_ref())?;
        let password = secret("passwordSecret", loc.password_secret.as_ref())?;
        let ssh_key = secret("sshPrivateKeySecret", loc.ssh_private_key_secret.as_ref())?;
        Ok(GitDriver {
            cfg: Arc::new(Config {
                revision: loc.revision.clone().filter(|r| !r.is_empty()),
                branch,
                depth,
                fetch: loc.fetch.clone(),
                single_branch,
                disable_submodules: loc.disable_submodules.unwrap_or(false),
                username,
                password,
                ssh_key,
                ssh_port: ssh_port(&repo),
                insecure_ignore_host_key: loc.insecure_ignore_host_key.unwrap_or(false),
                insecure_skip_tls: loc.insecure_skip_tls.unwrap_or(false),
                repo,
            }),
        })
    }
}

impl Driver for GitDriver {
    fn load<'a>(
        &'a self,
        _art: &'a Artifact,
        dest: &'a Path,
    ) -> BoxFuture<'a, Result<(), ArtifactError>> {
        Box::pin(async move {
            let cfg = Arc::clone(&self.cfg);
            let dest_owned = dest.to_path_buf();
            // Clean up only what this load wrote: `dest` itself, or the
            // contents of an empty directory that was there (libgit2 clones
            // into one; a non-empty one makes the clone fail untouched).
            let existed = std::fs::symlink_metadata(dest).is_ok();
            let was_empty_dir = std::fs::read_dir(dest).is_ok_and(|mut d| d.next().is_none());
            let result = tokio::task::spawn_blocking(move || cfg.checkout(&dest_owned))
                .await
                .map_err(|e| {
                    ArtifactError::Remote(format!(
                        "{}: the clone task failed: {e}",
                        self.cfg.what()
                    ))
                })?;
            if result.is_err() {
                if !existed {
                    remove_partial(dest);
                } else if was_empty_dir && let Ok(entries) = std::fs::read_dir(dest) {
                    for entry in entries.flatten() {
                        remove_partial(&entry.path());
                    }
                }
            }
            result
        })
    }

    fn save<'a>(
        &'a self,
        _src: &'a Path,
        _art: &'a Artifact,
    ) -> BoxFuture<'a, Result<(), ArtifactError>> {
        Box::pin(async move { Err(self.input_only("cannot be saved")) })
    }

    fn list<'a>(&'a self, _art: &'a Artifact) -> BoxFuture<'a, Result<Vec<String>, ArtifactError>> {
        Box::pin(async move { Err(self.input_only("cannot be listed")) })
    }

    fn delete<'a>(&'a self, _art: &'a Artifact) -> BoxFuture<'a, Result<(), ArtifactError>> {
        Box::pin(async move { Err(self.input_only("cannot be deleted")) })
    }
}

impl GitDriver {
    fn input_only(&self, what: &str) -> ArtifactError {
        ArtifactError::Unsupported(format!(
            "git artifacts are input-only: {} {what}",
            self.cfg.repo
        ))
    }
}

fn remove_partial(dest: &Path) {
    match std::fs::symlink_metadata(dest) {
        Ok(m) if m.is_dir() => {
            let _ = std::fs::remove_dir_all(dest);
        }
        Ok(_) => {
            let _ = std::fs::remove_file(dest);
        }
        Err(_) => {}
    }
}

impl Config {
    /// "git repo URL at revision R" for error messages.
    fn what(&self) -> String {
        match (&self.revision, &self.branch) {
            (Some(rev), _) => format!("git repo {} at revision {rev:?}", self.repo),
            (None, Some(branch)) => format!("git repo {} at branch {branch:?}", self.repo),
            (None, None) => format!("git repo {} at its default branch", self.repo),
        }
    }

    fn err(&self, doing: &str, e: impl fmt::Display) -> ArtifactError {
        ArtifactError::Remote(format!("{}: {doing}: {e}", self.what()))
    }

    /// Callbacks answering credential and certificate questions.
    fn callbacks(&self) -> RemoteCallbacks<'_> {
        let mut cb = RemoteCallbacks::new();
        // libgit2 asks again after the server refuses; answer each kind once.
        let mut tried = CredentialType::empty();
        cb.credentials(move |_url, user_from_url, allowed| {
            let user = user_from_url.unwrap_or("git");
            if allowed.contains(CredentialType::SSH_KEY)
                && let Some(key) = &self.ssh_key
            {
                if tried.contains(CredentialType::SSH_KEY) {
                    return Err(git2::Error::from_str("the server refused the SSH key (sshPrivateKeySecret)"));
                }
                tried |= CredentialType::SSH_KEY;
                return Cred::ssh_key_from_memory(user, None, key, None);
            }
            if allowed.contains(CredentialType::USER_PASS_PLAINTEXT)
                && (self.username.is_some() || self.password.is_some())
            {
                if tried.contains(CredentialType::USER_PASS_PLAINTEXT) {
                    return Err(git2::Error::from_str(
                        "the server refused the username and password (usernameSecret/passwordSecret)",
                    ));
                }
                tried |= CredentialType::USER_PASS_PLAINTEXT;
                let username = self.username.as_deref().or(user_from_url).unwrap_or("");
                return Cred::userpass_plaintext(username, self.password.as_deref().unwrap_or(""));
            }
            if allowed.contains(CredentialType::USERNAME) && !tried.contains(CredentialType::USERNAME) {
                tried |= CredentialType::USERNAME;
                return Cred::username(user);
            }
            Err(git2::Error::from_str(
                "the server asks for credentials the artifact does not give \
                 (usernameSecret/passwordSecret for HTTP, sshPrivateKeySecret for SSH)",
            ))
        });
        cb.certificate_check(move |cert, host| {
            if let Some(hostkey) = cert.as_hostkey() {
                if self.insecure_ignore_host_key {
                    return Ok(CertificateCheckStatus::CertificateOk);
                }
                let Some(key) = hostkey.hostkey() else {
                    return Ok(CertificateCheckStatus::CertificatePassthrough);
                };
                return match known_host(&known_hosts_files(), host, self.ssh_port, key) {
                    HostKey::Known => Ok(CertificateCheckStatus::CertificateOk),
                    // libgit2 then checks ~/.ssh/known_hosts, refusing a host not there.
                    HostKey::Unknown => Ok(CertificateCheckStatus::CertificatePassthrough),
                    HostKey::Changed(at) => Err(git2::Error::from_str(&format!(
                        "the SSH host key of {host} differs from the one in {at} (set insecureIgnoreHostKey to accept any key)"
                    ))),
                    HostKey::Revoked(at) => Err(git2::Error::from_str(&format!(
                        "the SSH host key of {host} is revoked in {at}"
                    ))),
                };
            }
            Ok(if self.insecure_skip_tls {
                CertificateCheckStatus::CertificateOk
            } else {
                // libgit2's own check against the CA store.
                CertificateCheckStatus::CertificatePassthrough
            })
        });
        cb
    }

    fn fetch_options(&self, depth: Option<i32>, tags: AutotagOption) -> FetchOptions<'_> {
        let mut opts = FetchOptions::new();
        opts.remote_callbacks(self.callbacks());
        if let Some(d) = depth {
            opts.depth(d);
        }
        opts.download_tags(tags);
        opts
    }

    /// The refspec fetching `branch` alone into its remote-tracking ref.
    fn branch_refspec(branch: &str) -> String {
        format!("+refs/heads/{branch}:refs/remotes/{REMOTE}/{branch}")
    }

    /// Clones into `dest` and checks out what the artifact asks for.
    fn checkout(&self, dest: &Path) -> Result<(), ArtifactError> {
        let repo = self.clone_into(dest)?;
        if !self.fetch.is_empty() {
            let mut remote = repo
                .find_remote(REMOTE)
                .map_err(|e| self.err("finding the remote", e))?;
            remote
                .fetch(
                    &self.fetch,
                    Some(&mut self.fetch_options(self.depth, AutotagOption::Unspecified)),
                    None,
                )
                .map_err(|e| self.err(&format!("fetching {:?}", self.fetch), e))?;
        }
        if let Some(rev) = &self.revision {
            let id = self.find_revision(&repo, rev)?;
            let commit = repo
                .find_commit(id)
                .map_err(|e| self.err(&format!("reading commit {id}"), e))?;
            repo.checkout_tree(commit.as_object(), Some(CheckoutBuilder::new().force()))
                .map_err(|e| self.err(&format!("checking out {id}"), e))?;
            repo.set_head_detached(id)
                .map_err(|e| self.err(&format!("detaching HEAD at {id}"), e))?;
        }
        if !self.disable_submodules {
            self.update_submodules(&repo, dest, 0)?;
        }
        Ok(())
    }

    fn clone_into(&self, dest: &Path) -> Result<Repository, ArtifactError> {
        let mut builder = RepoBuilder::new();
        builder.fetch_options(self.fetch_options(self.depth, AutotagOption::Unspecified));
        if let Some(branch) = &self.branch {
            builder.branch(branch);
        }
        if self.single_branch
            && let Some(branch) = self.branch.clone()
        {
            builder.remote_create(move |repo, name, url| {
                repo.remote_with_fetch(name, url, &Self::branch_refspec(&branch))
            });
        }
        builder
            .clone(&self.repo, dest)
            .map_err(|e| self.err("cloning", e))
    }

    /// Fetches every branch (only `branch` with `singleBranch`) and every tag,
    /// then resolves `rev` to a commit; a shallow clone is deepened when the
    /// revision is not in it.
    fn find_revision(&self, repo: &Repository, rev: &str) -> Result<Oid, ArtifactError> {
        let refspecs = match (&self.branch, self.single_branch) {
            (Some(branch), true) => vec![Self::branch_refspec(branch)],
            _ => vec![format!("+refs/heads/*:refs/remotes/{REMOTE}/*")],
        };
        let mut remote = repo
            .find_remote(REMOTE)
            .map_err(|e| self.err("finding the remote", e))?;
        let tags = if self.single_branch {
            AutotagOption::Auto
        } else {
            AutotagOption::All
        };
        remote
            .fetch(
                &refspecs,
                Some(&mut self.fetch_options(self.depth, tags)),
                None,
            )
            .map_err(|e| self.err(&format!("fetching {refspecs:?}"), e))?;
        if let Some(id) = resolve(repo, rev) {
            return Ok(id);
        }
        if repo.is_shallow() {
            remote
                .fetch(
                    &refspecs,
                    Some(&mut self.fetch_options(Some(UNSHALLOW), tags)),
                    None,
                )
                .map_err(|e| self.err(&format!("deepening the shallow clone ({refspecs:?})"), e))?;
            if let Some(id) = resolve(repo, rev) {
                return Ok(id);
            }
        }
        Err(ArtifactError::Remote(format!(
            "{}: revision not found (no such branch, tag or commit in the repository)",
            self.what()
        )))
    }

    fn update_submodules(
        &self,
        repo: &Repository,
        dir: &Path,
        level: usize,
    ) -> Result<(), ArtifactError> {
        if level >= MAX_SUBMODULE_DEPTH {
            return Ok(());
        }
        let submodules = repo
            .submodules()
            .map_err(|e| self.err("listing submodules", e))?;
        for mut sm in submodules {
            let path: PathBuf = dir.join(sm.path());
            let name = sm.name().unwrap_or("?").to_string();
            let mut opts = SubmoduleUpdateOptions::new();
            opts.fetch(self.fetch_options(None, AutotagOption::Unspecified));
            sm.update(true, Some(&mut opts)).map_err(|e| {
                self.err(
                    &format!(
                        "updating submodule {name:?} ({})",
                        sm.url().ok().flatten().unwrap_or("?")
                    ),
                    e,
                )
            })?;
            let sub = sm
                .open()
                .map_err(|e| self.err(&format!("opening submodule {name:?}"), e))?;
            self.update_submodules(&sub, &path, level + 1)?;
        }
        Ok(())
    }
}

/// The commit `rev` names: a remote branch, a tag, or anything rev-parse
/// understands (a commit id, possibly abbreviated; a local branch).
fn resolve(repo: &Repository, rev: &str) -> Option<Oid> {
    [
        format!("refs/remotes/{REMOTE}/{rev}"),
        format!("refs/tags/{rev}"),
        rev.to_string(),
    ]
    .iter()
    .find_map(|spec| {
        repo.revparse_single(spec)
            .ok()?
            .peel_to_commit()
            .ok()
            .map(|c| c.id())
    })
}

/// The port an SSH repository URL names (22 for `user@host:path` and when
/// `ssh://` gives none).
fn ssh_port(repo: &str) -> u16 {
    url::Url::parse(repo)
        .ok()
        .filter(|u| matches!(u.scheme(), "ssh" | "git+ssh" | "ssh+git"))
        .and_then(|u| u.port())
        .unwrap_or(22)
}

/// `$SSH_KNOWN_HOSTS` (`:`-separated), else `/etc/ssh/ssh_known_hosts`.
fn known_hosts_files() -> Vec<PathBuf> {
    match std::env::var_os("SSH_KNOWN_HOSTS") {
        Some(v) if !v.is_empty() => std::env::split_paths(&v).collect(),
        _ => vec![PathBuf::from("/etc/ssh/ssh_known_hosts")],
    }
}

/// What the known-hosts files say about a host's key.
#[derive(Debug, PartialEq)]
enum HostKey {
    /// Listed for the host.
    Known,
    /// Not listed, nor another key of its algorithm.
    Unknown,
    /// The host has another key of the same algorithm (`file:line`).
    Changed(String),
    /// Marked `@revoked` (`file:line`).
    Revoked(String),
}

/// Looks `key` (the SSH wire-format public key blob) up for `host`:`port`
/// in `files` (missing files are skipped), as OpenSSH does.
fn known_host(files: &[PathBuf], host: &str, port: u16, key: &[u8]) -> HostKey {
    let name = if port == 22 {
        host.to_ascii_lowercase()
    } else {
        format!("[{}]:{port}", host.to_ascii_lowercase())
    };
    let key_type = blob_type(key);
    let (mut known, mut changed) = (false, None);
    for file in files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            let mut fields = line.split_whitespace();
            let Some(mut first) = fields.next() else {
                continue;
            };
            if first.starts_with('#') {
                continue;
            }
            let revoked = first == "@revoked";
            if first.starts_with('@') {
                if !revoked {
                    continue; // @cert-authority: host certificates are not used
                }
                let Some(next) = fields.next() else { continue };
                first = next;
            }
            let (Some(_algo), Some(b64)) = (fields.next(), fields.next()) else {
                continue;
            };
            let Ok(listed) = BASE64.decode(b64) else {
                continue;
            };
            if !hosts_match(first, &name) {
                continue;
            }
            let at = || format!("{}:{}", file.display(), n + 1);
            if listed == key {
                if revoked {
                    return HostKey::Revoked(at());
                }
                known = true;
            } else if !revoked && key_type.is_some() && blob_type(&listed) == key_type {
                changed.get_or_insert_with(at);
            }
        }
    }
    match (known, changed) {
        (true, _) => HostKey::Known,
        (false, Some(at)) => HostKey::Changed(at),
        (false, None) => HostKey::Unknown,
    }
}

/// The algorithm name a public key blob starts with.
fn blob_type(blob: &[u8]) -> Option<&[u8]> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    blob.get(4..4 + len)
}

/// Whether the comma-separated `patterns` (plain, wildcard, `!`negated, or
/// hashed `|1|salt|hash`) match `name`; a negated match wins.
fn hosts_match(patterns: &str, name: &str) -> bool {
    let mut matched = false;
    for pattern in patterns.split(',') {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pattern),
        };
        let hit = match pattern.strip_prefix("|1|") {
            Some(hashed) => hashed_match(hashed, name),
            None => wildcard_match(&pattern.to_ascii_lowercase(), name),
        };
        if hit && negated {
            return false;
        }
        matched |= hit;
    }
    matched
}

/// `salt|hash`, both base64: HMAC-SHA1(salt, name) == hash.
fn hashed_match(hashed: &str, name: &str) -> bool {
    let Some((salt, hash)) = hashed.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (BASE64.decode(salt), BASE64.decode(hash)) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &salt);
    ring::hmac::verify(&key, name.as_bytes(), &hash).is_ok()
}

/// `*` (any run) and `?` (any one character) glob matching.
fn wildcard_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(algo: &str, body: &[u8]) -> Vec<u8> {
        let mut b = (algo.len() as u32).to_be_bytes().to_vec();
        b.extend_from_slice(algo.as_bytes());
        b.extend_from_slice(body);
        b
    }

    fn hashed(salt: &[u8], name: &str) -> String {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, salt);
        let tag = ring::hmac::sign(&key, name.as_bytes());
        format!("|1|{}|{}", BASE64.encode(salt), BASE64.encode(tag.as_ref()))
    }

    #[test]
    fn known_hosts_lookup() {
        let ed = blob("ssh-ed25519", b"key-one");
        let ed_other = blob("ssh-ed25519", b"key-two");
        let rsa = blob("ssh-rsa", b"rsa-key");
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("known_hosts");
        let text = format!(
            "# comment\n\
             github.com,140.82.*.* ssh-ed25519 {ed}\n\
             [git.example.com]:2222 ssh-ed25519 {ed}\n\
             *.corp,!bad.corp ssh-ed25519 {ed}\n\
             {hashed} ssh-ed25519 {ed}\n\
             changed.example.com ssh-ed25519 {ed_other}\n\
             @revoked * ssh-ed25519 {revoked}\n\
             @cert-authority * ssh-ed25519 {ed_other}\n",
            ed = BASE64.encode(&ed),
            ed_other = BASE64.encode(&ed_other),
            hashed = hashed(b"0123456789abcdefghij", "hidden.example.com"),
            revoked = BASE64.encode(blob("ssh-ed25519", b"stolen")),
        );
        std::fs::write(&file, text).expect("write");
        let files = [dir.path().join("absent"), file.clone()];
        let at = |line: usize| format!("{}:{line}", file.display());

        assert_eq!(known_host(&files, "github.com", 22, &ed), HostKey::Known);
        assert_eq!(known_host(&files, "GitHub.com", 22, &ed), HostKey::Known);
        assert_eq!(known_host(&files, "140.82.112.3", 22, &ed), HostKey::Known);
        assert_eq!(
            known_host(&files, "github.com", 22, &ed_other),
            HostKey::Changed(at(2))
        );
        assert_eq!(
            known_host(&files, "github.com", 22, &rsa),
            HostKey::Unknown,
            "another algorithm"
        );
        assert_eq!(
            known_host(&files, "git.example.com", 2222, &ed),
            HostKey::Known
        );
        assert_eq!(
            known_host(&files, "git.example.com", 22, &ed),
            HostKey::Unknown,
            "the port matters"
        );
        assert_eq!(known_host(&files, "a.corp", 22, &ed), HostKey::Known);
        assert_eq!(
            known_host(&files, "bad.corp", 22, &ed),
            HostKey::Unknown,
            "negated"
        );
        assert_eq!(
            known_host(&files, "hidden.example.com", 22, &ed),
            HostKey::Known,
            "hashed"
        );
        assert_eq!(
            known_host(&files, "other.example.com", 22, &ed),
            HostKey::Unknown
        );
        assert_eq!(
            known_host(&files, "changed.example.com", 22, &ed),
            HostKey::Changed(at(6))
        );
        let stolen = blob("ssh-ed25519", b"stolen");
        assert_eq!(
            known_host(&files, "github.com", 22, &stolen),
            HostKey::Revoked(at(7))
        );
    }

    #[test]
    fn ssh_ports() {
        assert_eq!(ssh_port("ssh://git@example.com:2222/repo.git"), 2222);
        assert_eq!(ssh_port("ssh://example.com/repo.git"), 22);
        assert_eq!(ssh_port("git@github.com:argoproj/argo-workflows.git"), 22);
        assert_eq!(ssh_port("https://example.com:8443/repo.git"), 22);
    }
}
