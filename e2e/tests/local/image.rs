//! The container image: `scripts/image` assembles it from the debug binaries
//! the test build left beside this test executable (`cargo test --workspace`
//! builds all four: each crate has integration tests), then the image is
//! read back as a runtime would: its configuration, its one layer's entries,
//! and each binary run from the unpacked root in a bubblewrap sandbox holding
//! nothing else, as the image's user.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::Value;
use sluice_e2e::local::workspace_root;

const BINARIES: [&str; 4] = [
    "sluice",
    "sluice-controller",
    "sluice-webhook",
    "sluice-executor",
];
/// The workspace version (this crate's `version.workspace = true`).
const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The image's user and group (distroless's `nonroot`).
const NONROOT: u64 = 65532;
const TAG: &str = "e2e";

/// `<target>/<triple>/<profile>/`: the test runs from its `deps/`.
fn binaries_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test runs from <target>/<triple>/<profile>/deps/")
        .to_path_buf();
    for name in BINARIES {
        assert!(
            dir.join(name).is_file(),
            "{}: missing; `cargo test --workspace` builds it, or \
             `cargo build -p sluice-cli -p sluice-controller -p sluice-webhook -p sluice-executor`",
            dir.join(name).display()
        );
    }
    dir
}

/// Runs `command`; panics with its stderr unless it succeeds; its stdout.
fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?}: {}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// A blob of the layout, by digest (`sha256:...`).
fn blob_path(layout: &Path, digest: &Value) -> PathBuf {
    let digest = digest.as_str().expect("a digest");
    let hex = digest
        .strip_prefix("sha256:")
        .unwrap_or_else(|| panic!("{digest}: not sha256"));
    layout.join("blobs/sha256").join(hex)
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The layer's entries as `name -> (mode, owner)`, from `tar -tv`.
fn layer_entries(layer: &Path) -> BTreeMap<String, (String, String)> {
    let listing = run(Command::new("tar")
        .arg("--numeric-owner")
        .arg("-tvzf")
        .arg(layer));
    listing
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(fields.len(), 6, "unexpected tar listing line: {line}");
            let name = fields[5].trim_end_matches('/').to_owned();
            (name, (fields[0].to_owned(), fields[1].to_owned()))
        })
        .collect()
}

#[test]
fn image_runs_each_binary_as_nonroot_from_scratch() {
    let started = Instant::now();
    let root = workspace_root();
    let binaries = binaries_dir();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let layout = dir.path().join("layout");
    let archive = dir.path().join("sluice.tar");
    run(Command::new(root.join("scripts/image"))
        .arg("--binaries")
        .arg(&binaries)
        .arg("--out")
        .arg(&layout)
        .args(["--tag", TAG, "--label", "org.example.test=yes"])
        .arg("--archive")
        .arg(&archive));

    // index.json -> the tag's manifest -> one gzip layer and the config.
    let index = read_json(&layout.join("index.json"));
    let tagged: Vec<&Value> = index["manifests"]
        .as_array()
        .expect("index.json: manifests")
        .iter()
        .filter(|m| m["annotations"]["org.opencontainers.image.ref.name"] == TAG)
        .collect();
    assert_eq!(tagged.len(), 1, "{index:#}");
    let digest = tagged[0]["digest"].as_str().expect("a manifest digest");
    let manifest = read_json(&blob_path(&layout, &tagged[0]["digest"]));
    let layers = manifest["layers"].as_array().expect("manifest: layers");
    assert_eq!(layers.len(), 1, "{manifest:#}");
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    let config = read_json(&blob_path(&layout, &manifest["config"]["digest"]));
    assert_eq!(config["os"], "linux");
    assert_eq!(config["architecture"], "amd64");
    let image = &config["config"];
    assert_eq!(image["User"], format!("{NONROOT}:{NONROOT}"), "{config:#}");
    assert!(image.get("Entrypoint").is_none_or(Value::is_null));
    assert_eq!(image["Cmd"], serde_json::json!(["sluice", "--help"]));
    let labels = &image["Labels"];
    assert_eq!(labels["org.opencontainers.image.title"], "sluice");
    assert_eq!(labels["org.opencontainers.image.version"], VERSION);
    assert_eq!(labels["org.opencontainers.image.licenses"], "Apache-2.0");
    assert_eq!(labels["org.example.test"], "yes");
    assert_eq!(
        labels["org.opencontainers.image.created"], config["created"],
        "{config:#}"
    );
    if let Ok(head) = Command::new("git")
        .arg("-C")
        .arg(&root)
        .args(["rev-parse", "HEAD"])
        .output()
        && head.status.success()
    {
        let head = String::from_utf8_lossy(&head.stdout);
        assert_eq!(labels["org.opencontainers.image.revision"], head.trim());
    }

    // The layer holds exactly these, all owned by root: the binaries are
    // not writable by the user they run as.
    let entries = layer_entries(&blob_path(&layout, &layers[0]["digest"]));
    let mut expected: BTreeMap<String, &str> = [
        (".", "drwxr-xr-x"),
        ("etc", "drwxr-xr-x"),
        ("etc/group", "-rw-r--r--"),
        ("etc/passwd", "-rw-r--r--"),
        ("etc/ssl", "drwxr-xr-x"),
        ("etc/ssl/certs", "drwxr-xr-x"),
        ("etc/ssl/certs/ca-certificates.crt", "-rw-r--r--"),
        ("tmp", "drwxrwxrwt"),
        ("usr", "drwxr-xr-x"),
        ("usr/local", "drwxr-xr-x"),
        ("usr/local/bin", "drwxr-xr-x"),
    ]
    .into_iter()
    .map(|(name, mode)| (name.to_owned(), mode))
    .collect();
    for name in BINARIES {
        expected.insert(format!("usr/local/bin/{name}"), "-rwxr-xr-x");
    }
    let found: BTreeMap<String, &str> = entries
        .iter()
        .map(|(name, (mode, _))| (name.clone(), mode.as_str()))
        .collect();
    assert_eq!(found, expected);
    for (name, (_, owner)) in &entries {
        assert_eq!(owner, "0/0", "{name} is not owned by root");
    }

    // The archive holds the same image.
    let archived = run(Command::new("skopeo")
        .args(["inspect", "--format", "{{.Digest}}"])
        .arg(format!("oci-archive:{}:{TAG}", archive.display())));
    assert_eq!(archived.trim(), digest);

    // Unpacked as a runtime would (umoci writes the runtime configuration
    // from the image's: the user resolved through its /etc/passwd).
    let bundle = dir.path().join("bundle");
    run(Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:{TAG}", layout.display()))
        .arg(&bundle));
    let rootfs = bundle.join("rootfs");
    let process = read_json(&bundle.join("config.json"))["process"].clone();
    assert_eq!(process["user"]["uid"], NONROOT, "{process:#}");
    assert_eq!(process["user"]["gid"], NONROOT, "{process:#}");
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).expect("/etc/passwd");
    assert!(
        passwd
            .lines()
            .any(|l| l.starts_with(&format!("nonroot:x:{NONROOT}:{NONROOT}:"))),
        "{passwd}"
    );
    // bubblewrap with the unpacked root as `/` and nothing else: no loader,
    // no libc, the image's environment and user.
    let sandbox = |args: &[&str]| {
        let mut command = Command::new("bwrap");
        command
            .arg("--ro-bind")
            .arg(&rootfs)
            .args(["/", "--unshare-all", "--die-with-parent", "--clearenv"])
            .args(["--uid", &process["user"]["uid"].to_string()])
            .args(["--gid", &process["user"]["gid"].to_string()])
            .args(["--chdir", process["cwd"].as_str().expect("process.cwd")]);
        for pair in process["env"].as_array().expect("process.env") {
            let pair = pair.as_str().expect("an environment entry");
            let (key, value) = pair.split_once('=').expect("KEY=VALUE");
            command.args(["--setenv", key, value]);
        }
        command.args(args);
        run(&mut command)
    };
    for name in BINARIES {
        assert_eq!(sandbox(&[name, "--version"]), format!("{name} {VERSION}\n"));
    }
    let default: Vec<&str> = process["args"]
        .as_array()
        .expect("process.args")
        .iter()
        .map(|a| a.as_str().expect("an argument"))
        .collect();
    let help = sandbox(&default);
    assert!(help.contains("Usage: sluice"), "{help}");

    // The Dockerfile labels its image with the same version.
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).expect("Dockerfile");
    assert!(
        dockerfile
            .lines()
            .any(|l| l.trim() == format!("ARG VERSION={VERSION}")),
        "Dockerfile: `ARG VERSION=` is not the workspace version {VERSION}"
    );
    eprintln!(
        "image_runs_each_binary_as_nonroot_from_scratch: {:?}",
        started.elapsed()
    );
}

/// `scripts/image` with `binaries` (name -> file, linked into a directory
/// of their own): its stderr, the run having failed.
fn refused(binaries: &[(&str, PathBuf)]) -> String {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).expect("mkdir");
    for (name, file) in binaries {
        std::os::unix::fs::symlink(file, bin.join(name)).expect("symlink");
    }
    let output = Command::new(workspace_root().join("scripts/image"))
        .arg("--binaries")
        .arg(&bin)
        .arg("--out")
        .arg(dir.path().join("layout"))
        .output()
        .expect("run scripts/image");
    assert!(
        !output.status.success(),
        "scripts/image accepted {binaries:?}"
    );
    assert!(
        !dir.path().join("layout").exists(),
        "scripts/image wrote a layout before refusing"
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn image_script_refuses_missing_and_dynamic_binaries() {
    let built = binaries_dir();
    // The three others as built, sluice-executor (checked last) as given.
    let with = |last: &Path| -> Vec<(&str, PathBuf)> {
        BINARIES[..3]
            .iter()
            .map(|name| (*name, built.join(name)))
            .chain([(BINARIES[3], last.to_path_buf())])
            .collect()
    };

    let stderr = refused(&with(Path::new("/nonexistent")));
    assert!(stderr.contains("/bin/sluice-executor: missing"), "{stderr}");

    // A dynamically linked program of the host: it needs a loader the
    // image does not have.
    let dynamic = ["/usr/bin/env", "/bin/ls"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.is_file())
        .expect("a program of the host");
    let stderr = refused(&with(dynamic));
    assert!(
        stderr.contains("/bin/sluice-executor: dynamically linked (needs /lib"),
        "{stderr}"
    );

    let text = tempfile::NamedTempFile::new().expect("a temporary file");
    let stderr = refused(&with(text.path()));
    assert!(
        stderr.contains("/bin/sluice-executor: not an ELF file"),
        "{stderr}"
    );
}
