//! The `sluice` binary, run as CI runs it, on files written here.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use tempfile::TempDir;

// The cluster verbs against the real API server.
#[path = "cli/cluster.rs"]
mod cluster;

/// Flags' environment variables, cleared so the caller's shell cannot leak in.
const ENV: [&str; 4] = [
    "SLUICE_ALLOW_MISSING_REFS",
    "SLUICE_CONFIG",
    "SLUICE_OUTPUT",
    "SLUICE_QUIET",
];

const HELLO: &str = "\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: hello-
spec:
  entrypoint: main
  templates:
    - name: main
      container:
        image: busybox
        command: [echo, hello]
";

/// Ours, but `templates` is not a list: fails whatever the validator checks.
const MISSHAPEN: &str = "\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: bad-
spec:
  templates: 5
";

const LIBRARY: &str = "\
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata:
  name: library
spec:
  templates:
    - name: say
      container:
        image: busybox
        command: [echo, hi]
";

const USES_LIBRARY: &str = "\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: uses-
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - name: a
            templateRef:
              name: library
              template: say
";

/// A container without `command` whose image the config may know.
const NO_COMMAND: &str = "\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: nocmd-
spec:
  entrypoint: main
  templates:
    - name: main
      container:
        image: example.com/tool:1
";

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
    command.args(args);
    for name in ENV {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("sluice starts");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(text.as_bytes()).expect("write stdin");
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("sluice ends");
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

fn lint(args: &[&str]) -> Run {
    let mut all = vec!["lint"];
    all.extend_from_slice(args);
    run(&all, None, &[])
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}

fn tempdir() -> TempDir {
    tempfile::tempdir().expect("temporary directory")
}

#[test]
fn clean_file_exits_0_with_a_summary() {
    let dir = tempdir();
    let file = write(dir.path(), "hello.yaml", HELLO);
    let out = lint(&[&file]);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert!(!out.stdout.contains("error"), "{}", out.stdout);
    assert!(out.stderr.contains("0 errors"), "{}", out.stderr);
    assert!(
        out.stderr.contains("1 document of ours checked"),
        "{}",
        out.stderr
    );
}

#[test]
fn malformed_yaml_exits_1_with_the_parser_position() {
    let dir = tempdir();
    let bad = write(dir.path(), "bad.yaml", "a: b\n c: d\n");
    let good = write(dir.path(), "good.yaml", HELLO);
    let out = lint(&[&bad, &good]);
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
    let want = format!("{bad}:2:3: error: mapping values are not allowed in this context\n");
    assert_eq!(out.stdout, want);
    // The other file was still checked.
    assert!(
        out.stderr
            .contains("in 2 files (1 document of ours checked)"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_document_that_does_not_fit_the_types_is_an_error_at_its_path() {
    let dir = tempdir();
    let file = write(dir.path(), "shape.yaml", MISSHAPEN);
    let out = lint(&[&file]);
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
    let prefix = format!("{file}:6:3: error: spec.templates: invalid type");
    assert!(out.stdout.starts_with(&prefix), "{}", out.stdout);
}

#[test]
fn duplicate_keys_are_errors() {
    let dir = tempdir();
    let text = HELLO.replace(
        "  generateName: hello-\n",
        "  generateName: hello-\n  generateName: again-\n",
    );
    let file = write(dir.path(), "dup.yaml", &text);
    let out = lint(&[&file]);
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
    let want = format!(
        "{file}:5:3: error: metadata.generateName: duplicate key \"generateName\" (first at line 4)"
    );
    assert!(out.stdout.starts_with(&want), "{}", out.stdout);
}

#[test]
fn stdin_is_read_for_a_dash() {
    let out = run(&["lint", "-"], Some(MISSHAPEN), &[]);
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .starts_with("<stdin>:6:3: error: spec.templates:"),
        "{}",
        out.stdout
    );
    let out = run(&["lint", "-"], Some(HELLO), &[]);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
}

#[test]
fn unreadable_or_missing_paths_exit_2() {
    let dir = tempdir();
    let missing = dir.path().join("nope.yaml").display().to_string();
    let good = write(dir.path(), "good.yaml", HELLO);
    let out = lint(&[&missing, &good]);
    assert_eq!(out.code, Some(2), "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("nope.yaml"), "{}", out.stderr);
    // Usage errors too: no path at all, an unknown format.
    assert_eq!(lint(&[]).code, Some(2));
    assert_eq!(lint(&["--output", "xml", &good]).code, Some(2));
    // An unusable --config file.
    let config = write(dir.path(), "config.yaml", "parallelism: ten\n");
    let out = lint(&["--config", &config, &good]);
    assert_eq!(out.code, Some(2), "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("parallelism"), "{}", out.stderr);
}

#[test]
fn json_output_is_one_array_of_findings() {
    let dir = tempdir();
    let bad = write(dir.path(), "bad.yaml", "a: [1\n");
    let shape = write(dir.path(), "shape.yaml", MISSHAPEN);
    let out = lint(&["--output", "json", &bad, &shape]);
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
    let value: Value = serde_json::from_str(&out.stdout).expect("stdout is JSON");
    let findings = value.as_array().expect("an array");
    assert_eq!(findings.len(), 2, "{value:#}");
    assert_eq!(findings[0]["file"], Value::from(bad));
    assert_eq!(findings[0]["line"], Value::from(2));
    assert_eq!(findings[0]["path"], Value::Null);
    assert_eq!(findings[1]["file"], Value::from(shape));
    assert_eq!(findings[1]["line"], Value::from(6));
    assert_eq!(findings[1]["column"], Value::from(3));
    assert_eq!(findings[1]["severity"], Value::from("error"));
    assert_eq!(findings[1]["path"], Value::from("spec.templates"));
    assert!(
        findings[1]["message"]
            .as_str()
            .is_some_and(|m| m.contains("invalid type"))
    );
    // Clean input is an empty array, still valid JSON.
    let good = write(dir.path(), "good.yaml", HELLO);
    let out = lint(&["-o", "json", &good]);
    assert_eq!(
        serde_json::from_str::<Value>(&out.stdout).ok(),
        Some(Value::Array(vec![]))
    );
}

#[test]
fn github_output_is_workflow_commands() {
    let dir = tempdir();
    let shape = write(dir.path(), "shape.yaml", MISSHAPEN);
    let out = run(&["lint", &shape], None, &[("SLUICE_OUTPUT", "github")]);
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
    let want = format!("::error file={shape},line=6,col=3::spec.templates: invalid type");
    assert!(out.stdout.starts_with(&want), "{}", out.stdout);
}

#[test]
fn template_refs_resolve_among_the_files_of_a_directory() {
    let dir = tempdir();
    write(dir.path(), "library.yaml", LIBRARY);
    let workflow = write(dir.path(), "nested/workflow.yml", USES_LIBRARY);
    let out = lint(&[&dir.path().display().to_string()]);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("in 2 files (2 documents"),
        "{}",
        out.stderr
    );

    // Alone, the reference does not resolve: an error at the ref's name...
    let out = lint(&[&workflow]);
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
    let want = format!("{workflow}:12:15: error: spec.templates[0].steps[0][0].templateRef.name: ");
    assert!(out.stdout.starts_with(&want), "{}", out.stdout);
    // ...a warning when the target may live in the cluster...
    let out = lint(&["--allow-missing-refs", &workflow]);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains(": warning: spec.templates[0].steps[0][0].templateRef.name"),
        "{}",
        out.stdout
    );
    // ...and --quiet keeps errors only.
    let out = run(
        &["lint", "-q", &workflow],
        None,
        &[("SLUICE_ALLOW_MISSING_REFS", "1")],
    );
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (Some(0), "", "")
    );
}

#[test]
fn kinds_that_are_not_ours_and_other_files_are_skipped() {
    let dir = tempdir();
    // Shaped like a broken workflow, but a ConfigMap: not ours.
    let other = MISSHAPEN
        .replace("argoproj.io/v1alpha1", "v1")
        .replace("Workflow", "ConfigMap");
    write(
        dir.path(),
        "configmap.yaml",
        &format!("{other}---\n{HELLO}"),
    );
    write(dir.path(), "notes.txt", "a: [1\n");
    write(dir.path(), ".hidden/bad.yaml", "a: [1\n");
    write(
        dir.path(),
        "hello.json",
        r#"{"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"generateName": "j-"}, "spec": {"entrypoint": "main", "templates": [{"name": "main", "container": {"image": "busybox", "command": ["true"]}}]}}"#,
    );
    let out = lint(&[&dir.path().display().to_string()]);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("in 2 files (2 documents of ours checked)"),
        "{}",
        out.stderr
    );
}

#[test]
fn config_images_index_is_used() {
    let dir = tempdir();
    let workflow = write(dir.path(), "nocmd.yaml", NO_COMMAND);
    let out = lint(&[&workflow]);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains(": warning: spec.templates[0].container"),
        "{}",
        out.stdout
    );
    let configmap = write(
        dir.path(),
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: workflow-controller-configmap\ndata:\n  config: |\n    images:\n      example.com/tool:1:\n        cmd: [/tool]\n",
    );
    let out = lint(&["--config", &configmap, &workflow]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (Some(0), ""),
        "{}",
        out.stderr
    );
}

#[test]
fn crds_print_as_multi_document_yaml() {
    let out = run(&["crds"], None, &[]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let documents = sluice_api::yaml::parse_documents(&out.stdout).expect("YAML");
    assert!(documents.len() >= 5, "{} CRDs", documents.len());
    for document in &documents {
        assert_eq!(
            document.value["kind"],
            Value::from("CustomResourceDefinition")
        );
    }
    let names: Vec<_> = documents
        .iter()
        .filter_map(|d| d.value["metadata"]["name"].as_str())
        .collect();
    assert!(names.contains(&"workflows.argoproj.io"), "{names:?}");
}

/// Every file in examples/ is ours and lints with no error (until the engine
/// lands, this is how the tests run them); each names its expected phase only
/// with a value the engine knows.
#[test]
fn examples_lint_clean() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_file())
        .collect();
    assert!(files.len() >= 4, "examples/ has {} files", files.len());
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read example");
        if let Some(line) = text
            .lines()
            .find(|l| l.contains("sluice.dev/expected-phase"))
        {
            let phase = line.split(':').nth(1).map(str::trim);
            assert!(
                matches!(phase, Some("Succeeded" | "Failed" | "Error")),
                "{}: {line}",
                file.display()
            );
        }
    }
    let out = lint(&[dir.to_str().expect("utf-8 path")]);
    assert_eq!(
        out.code,
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        out.stdout,
        out.stderr
    );
    assert!(!out.stdout.contains("error:"), "{}", out.stdout);
}
