//! build_pod errors and rules not covered by the golden pods.

use sluice_api::Config;
use sluice_engine::pod::{PodContext, PodError, PodNode, build_pod};

use crate::{config, node, template, workflow};

#[test]
fn command_unknown_message() {
    let wf = workflow(
        "metadata: {name: cmd}\nspec:\n  templates:\n  - name: t\n    container: {image: 'unknown/image:1'}\n",
    );
    let config = Config::default();
    let err = build_pod(
        &PodContext::new(&config),
        &wf,
        &node(&wf, Some(".t"), "t"),
        template(&wf, "t"),
    )
    .expect_err("no command");
    assert_eq!(err, PodError::CommandUnknown("unknown/image:1".into()));
    assert_eq!(
        err.to_string(),
        "command unknown for image unknown/image:1: set command or add the image to images:"
    );
}

#[test]
fn sidecar_without_command_needs_the_images_index_too() {
    let wf = workflow(
        "metadata: {name: cmd}\nspec:\n  templates:\n  - name: t\n    container: {image: busybox, command: ['true']}\n    sidecars:\n    - {name: db, image: 'postgres:16'}\n",
    );
    let config = Config::default();
    let err = build_pod(
        &PodContext::new(&config),
        &wf,
        &node(&wf, Some(".t"), "t"),
        template(&wf, "t"),
    )
    .expect_err("no command");
    assert_eq!(err, PodError::CommandUnknown("postgres:16".into()));
}

#[test]
fn templates_that_do_not_run_in_a_pod_are_refused() {
    let wf = workflow(
        "metadata: {name: kinds}\nspec:\n  templates:\n  - name: s\n    steps: [[{name: a, template: x}]]\n  - name: p\n    suspend: {}\n  - name: r\n    resource: {action: create, manifest: ''}\n",
    );
    let config = Config::default();
    for (name, kind) in [("s", "steps"), ("p", "suspend"), ("r", "resource")] {
        let err = build_pod(
            &PodContext::new(&config),
            &wf,
            &node(&wf, Some(".x"), name),
            template(&wf, name),
        )
        .expect_err("not a pod");
        assert_eq!(
            err,
            PodError::NotAPod {
                template: name.into(),
                kind
            }
        );
        assert_eq!(
            err.to_string(),
            format!("template {name}: a {kind} template does not run in a pod")
        );
    }
}

#[test]
fn unknown_volume_is_an_error() {
    let wf = workflow(
        "metadata: {name: vols}\nspec:\n  templates:\n  - name: t\n    container:\n      image: busybox\n      command: ['true']\n      volumeMounts: [{name: nowhere, mountPath: /x}]\n",
    );
    let config = Config::default();
    let err = build_pod(
        &PodContext::new(&config),
        &wf,
        &node(&wf, Some(".t"), "t"),
        template(&wf, "t"),
    )
    .expect_err("unknown volume");
    assert_eq!(
        err.to_string(),
        "template t: volume 'nowhere' not found in workflow spec"
    );
}

#[test]
fn workflow_deadline_applies_unless_exit_handler() {
    let wf = workflow(
        "metadata: {name: dl}\nspec:\n  activeDeadlineSeconds: 600\n  templates:\n  - name: t\n    container: {image: busybox, command: ['true']}\n",
    );
    let config = config("");
    let ctx = PodContext::new(&config);
    let mut n: PodNode = node(&wf, Some(".t"), "t");
    let built = build_pod(&ctx, &wf, &n, template(&wf, "t")).expect("pod");
    assert_eq!(
        built.pod.spec.and_then(|s| s.active_deadline_seconds),
        Some(600)
    );
    n.on_exit = true;
    let built = build_pod(&ctx, &wf, &n, template(&wf, "t")).expect("pod");
    let labels = built.pod.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels
            .get("workflows.argoproj.io/on-exit")
            .map(String::as_str),
        Some("true")
    );
    assert_eq!(built.pod.spec.and_then(|s| s.active_deadline_seconds), None);
}

#[test]
fn automount_off_without_executor_account_is_an_error() {
    let wf = workflow(
        "metadata: {name: sa}\nspec:\n  automountServiceAccountToken: false\n  templates:\n  - name: t\n    container: {image: busybox, command: ['true']}\n",
    );
    let config = config("");
    let err = build_pod(
        &PodContext::new(&config),
        &wf,
        &node(&wf, Some(".t"), "t"),
        template(&wf, "t"),
    )
    .expect_err("needs executor account");
    assert!(
        err.to_string()
            .contains("executor.serviceAccountName must not be empty"),
        "{err}"
    );
}

#[test]
fn deadline_reaches_the_executor() {
    let wf = workflow(
        "metadata: {name: dl}\nspec:\n  templates:\n  - name: t\n    container: {image: busybox, command: ['true']}\n",
    );
    let config = config("");
    let mut n = node(&wf, Some(".t"), "t");
    n.deadline = Some("2024-03-05T07:00:00Z".into());
    let built = build_pod(&PodContext::new(&config), &wf, &n, template(&wf, "t")).expect("pod");
    let env = &built.pod.spec.expect("spec").containers[0]
        .env
        .clone()
        .unwrap_or_default();
    let deadline = env
        .iter()
        .find(|e| e.name == "SLUICE_DEADLINE")
        .and_then(|e| e.value.clone());
    assert_eq!(deadline.as_deref(), Some("2024-03-05T07:00:00Z"));
}
