//! How `validate` uses its context: modes, known templates, the images
//! index, unknown fields; and the order of its findings.

use super::*;
use crate::config::ImageEntry;

fn objects(yaml: &str) -> Vec<Object> {
    crate::yaml::parse_documents(yaml)
        .expect("yaml")
        .iter()
        .filter_map(|d| Object::from_value(&d.value).expect("shape"))
        .collect()
}

fn run(objects: &[Object], known: &[Object], mode: Mode, config: &Config) -> Vec<String> {
    let ctx = Context {
        mode,
        config,
        known_templates: known,
        allow_missing_refs: false,
    };
    validate(objects, &ctx)
        .iter()
        .map(|d| format!("{} {d}", d.object))
        .collect()
}

const LIBRARY: &str = "
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata:
  name: library
  namespace: team-a
spec:
  templates:
  - name: echo
    container:
      image: alpine:3.20
      command: [echo]
";

fn caller(namespace: Option<&str>) -> String {
    let namespace = namespace
        .map(|n| format!("  namespace: {n}\n"))
        .unwrap_or_default();
    format!(
        "
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: caller-
{namespace}spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: hello
        templateRef:
          name: library
          template: echo
"
    )
}

#[test]
fn template_refs_resolve_against_known_templates_in_the_same_namespace() {
    let config = Config::default();
    let known = objects(LIBRARY);
    for namespace in [Some("team-a"), None] {
        let workflow = objects(&caller(namespace));
        assert_eq!(
            run(&workflow, &known, Mode::Lint, &config),
            Vec::<String>::new()
        );
    }
    let elsewhere = objects(&caller(Some("team-b")));
    let found = run(&elsewhere, &known, Mode::Lint, &config);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with(
            "0 error: spec.templates[0].steps[0][0].templateRef.name: WorkflowTemplate \"library\" \
             not found among the objects given"
        ),
        "{found:?}"
    );
    let submitted = run(&elsewhere, &known, Mode::Submit, &config);
    assert_eq!(
        submitted,
        vec![
            "0 warning: spec.templates[0].steps[0][0].templateRef.name: WorkflowTemplate \
             \"library\" not found: create the WorkflowTemplate before this runs, or fix the name"
        ]
    );
}

#[test]
fn unknown_fields_are_errors_in_lint_and_warnings_at_submission() {
    let config = Config::default();
    let workflow = objects(
        "
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: typo-
spec:
  entrypoint: main
  templates:
  - name: main
    container:
      image: alpine:3.20
      command: [echo]
      imagePullPolicyy: Always
",
    );
    for (mode, severity) in [(Mode::Lint, "error"), (Mode::Submit, "warning")] {
        let found = run(&workflow, &[], mode, &config);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with(&format!(
                "0 {severity}: spec.templates[0].container.imagePullPolicyy: "
            )),
            "{found:?}"
        );
    }
}

#[test]
fn the_images_index_and_template_defaults_supply_what_a_container_lacks() {
    let workflow = objects(
        "
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: defaults-
spec:
  entrypoint: main
  templateDefaults:
    script:
      image: python:3.12
  templates:
  - name: main
    steps:
    - - name: a
        template: argosay
    - - name: b
        template: py
  - name: argosay
    container:
      image: argoproj/argosay:v2
  - name: py
    script:
      command: [python]
      source: print(1)
",
    );
    let empty = Config::default();
    assert_eq!(
        run(&workflow, &[], Mode::Lint, &empty),
        vec![
            "0 warning: spec.templates[1].container.command: command unknown for image \
             argoproj/argosay:v2: set command or add the image to images: in the controller config"
        ]
    );
    let mut config = Config::default();
    config.images.insert(
        "argoproj/argosay:v2".to_owned(),
        ImageEntry {
            entrypoint: vec!["/argosay".to_owned()],
            cmd: Vec::new(),
        },
    );
    assert_eq!(
        run(&workflow, &[], Mode::Lint, &config),
        Vec::<String>::new()
    );
}

#[test]
fn a_pod_spec_patch_with_volumes_may_declare_what_is_mounted() {
    let workflow = objects(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: patched-
spec:
  entrypoint: main
  podSpecPatch: '{"volumes": [{"name": "scratch", "emptyDir": {}}]}'
  templates:
  - name: main
    container:
      image: alpine:3.20
      command: [ls, /scratch]
      volumeMounts:
      - name: scratch
        mountPath: /scratch
"#,
    );
    assert_eq!(
        run(&workflow, &[], Mode::Lint, &Config::default()),
        Vec::<String>::new()
    );
}

#[test]
fn findings_are_sorted_by_object_then_path() {
    let mut all = objects(&caller(None));
    all.extend(objects(
        "
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: two-
spec:
  templates:
  - name: main
    steps:
    - - name: a
        template: nope
",
    ));
    let found = run(&all, &[], Mode::Lint, &Config::default());
    let keys: Vec<(&str, &str)> = found
        .iter()
        .map(|f| {
            let (object, rest) = f.split_once(' ').unwrap_or_default();
            let path = rest.split(": ").nth(1).unwrap_or_default();
            (object, path)
        })
        .collect();
    assert_eq!(
        keys,
        vec![
            ("0", "spec.templates[0].steps[0][0].templateRef.name"),
            ("1", "spec.entrypoint"),
            ("1", "spec.templates[0].steps[0][0].template"),
        ]
    );
}

#[test]
fn workflow_arguments_need_values_only_once_submitted() {
    let workflow = objects(
        "
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: args-
spec:
  entrypoint: main
  arguments:
    parameters:
    - name: message
  templates:
  - name: main
    container:
      image: alpine:3.20
      command: [echo]
",
    );
    let config = Config::default();
    assert_eq!(
        run(&workflow, &[], Mode::Lint, &config),
        Vec::<String>::new()
    );
    assert_eq!(
        run(&workflow, &[], Mode::Submit, &config),
        vec![
            "0 error: spec.arguments.parameters[0].value: argument \"message\" has no value: set \
             value (or valueFrom.configMapKeyRef)"
        ]
    );
}
