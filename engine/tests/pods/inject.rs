//! Executor injection: idempotence, the marker, and who injects.

use sluice_engine::inject::{
    InjectContext, builder_injects, default_executor_image, inject_executor, is_injected,
    pod_for_backend, require_injected,
};
use sluice_engine::pod::{PodContext, build_pod};
use sluice_engine::protocol::{EXECUTOR_VERSION, INJECTED_ANNOTATION};

use crate::{config, corpus, node, template};

fn plain_pod() -> k8s_openapi::api::core::v1::Pod {
    let wf = corpus("hello-world.yaml");
    let config = config("");
    let ctx = PodContext::new(&config);
    build_pod(
        &ctx,
        &wf,
        &node(&wf, None, "hello-world"),
        template(&wf, "hello-world"),
    )
    .expect("pod")
    .pod
}

#[test]
fn inject_is_idempotent() {
    let ctx = InjectContext::from_config(&config(""));
    let once = inject_executor(plain_pod(), &ctx);
    let twice = inject_executor(once.clone(), &ctx);
    assert_eq!(once, twice);
    assert_ne!(once, plain_pod());
}

#[test]
fn injected_pods_carry_the_marker() {
    let pod = plain_pod();
    assert!(!is_injected(&pod));
    let injected = inject_executor(pod, &InjectContext::from_config(&config("")));
    assert!(is_injected(&injected));
    let value = injected
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(INJECTED_ANNOTATION))
        .cloned();
    assert_eq!(value.as_deref(), Some(EXECUTOR_VERSION));
    assert_eq!(require_injected(&injected), Ok(()));
}

#[test]
fn uninjected_pod_message_names_the_pod_and_the_webhook() {
    let message = require_injected(&plain_pod()).expect_err("not injected");
    assert_eq!(
        message,
        "pod hello-world-abcde has no executor: the webhook did not inject it (executorInjection: webhook); \
         check the webhook is installed and its objectSelector matches workflow pods"
    );
}

#[test]
fn executor_image_comes_from_the_configuration() {
    let configured = InjectContext::from_config(&config(
        "executor:\n  image: registry.local/sluice-executor:dev\n  imagePullPolicy: Always\n",
    ));
    let pod = inject_executor(plain_pod(), &configured);
    let spec = pod.spec.expect("spec");
    let init = &spec.init_containers.expect("init containers")[0];
    assert_eq!(init.name, "init");
    assert_eq!(
        init.image.as_deref(),
        Some("registry.local/sluice-executor:dev")
    );
    assert_eq!(init.image_pull_policy.as_deref(), Some("Always"));
    let default = InjectContext::from_config(&config(""));
    assert_eq!(default.image, default_executor_image());
    assert_eq!(
        default.image,
        format!("ghcr.io/sluice-dev/sluice-executor:{EXECUTOR_VERSION}")
    );
}

#[test]
fn backend_modes() {
    let wf = corpus("hello-world.yaml");
    let n = node(&wf, None, "hello-world");
    let t = template(&wf, "hello-world");
    let controller = config("");
    let webhook = config("executorInjection: webhook\n");
    let built = |c: &sluice_api::Config, local| {
        pod_for_backend(&PodContext::new(c), &wf, &n, t, local).expect("pod")
    };
    assert!(is_injected(&built(&controller, false).pod));
    assert!(is_injected(&built(&controller, true).pod));
    assert!(
        is_injected(&built(&webhook, true).pod),
        "the local backend always injects"
    );
    assert!(
        !is_injected(&built(&webhook, false).pod),
        "the webhook injects on Kubernetes"
    );
    assert!(builder_injects(&controller, false));
    assert!(!builder_injects(&webhook, false));
}

#[test]
fn webhook_injection_equals_controller_injection() {
    let wf = corpus("hello-world.yaml");
    let n = node(&wf, None, "hello-world");
    let t = template(&wf, "hello-world");
    let webhook = config("executorInjection: webhook\n");
    let controller = config("");
    let by_webhook = pod_for_backend(&PodContext::new(&webhook), &wf, &n, t, false).expect("pod");
    let injected = inject_executor(by_webhook.pod, &InjectContext::from_config(&webhook));
    let by_controller =
        pod_for_backend(&PodContext::new(&controller), &wf, &n, t, false).expect("pod");
    assert_eq!(injected, by_controller.pod);
}
