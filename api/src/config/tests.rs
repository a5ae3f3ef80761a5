//! Unit tests of the configuration: reading, ConfigMap layouts, validation.

use serde_json::json;

use super::*;

/// A configuration using most settings, in the shape Argo's documentation
/// describes (written for these tests).
const FULL: &str = r#"
instanceID: ci
namespace: workflows
parallelism: 10
namespaceParallelism: 4
podGCGracePeriodSeconds: 60
podGCDeleteDelayDuration: 30s
initialDelay: 5s
executorInjection: webhook
executor:
  imagePullPolicy: IfNotPresent
  resources:
    requests: {cpu: 10m, memory: 64Mi}
  args: [--loglevel, debug]
  env:
    - {name: DEBUG, value: "1"}
mainContainer:
  imagePullPolicy: Always
  securityContext: {runAsNonRoot: true}
images:
  argoproj/argosay:v2:
    cmd: [/argosay]
  python:3.12:
    entrypoint: [python3]
artifactRepository:
  archiveLogs: true
  s3:
    bucket: my-bucket
    endpoint: minio:9000
    insecure: true
    accessKeySecret: {name: minio, key: accesskey}
    secretKeySecret: {name: minio, key: secretkey}
workflowDefaults:
  metadata:
    labels: {team: data}
  spec:
    serviceAccountName: argo
    ttlStrategy: {secondsAfterCompletion: 86400}
    podGC: {strategy: OnPodSuccess}
    templateDefaults:
      timeout: 1h
metricsConfig:
  enabled: true
  path: /metrics
  port: 9090
  metricsTTL: 10m
  temporality: Delta
telemetryConfig:
  secure: false
retentionPolicy: {completed: 10, failed: 3, errored: 3}
nodeEvents: {enabled: true, sendAsPod: true}
workflowEvents: {enabled: false}
resourceRateLimit: {limit: 10, burst: 25}
persistence:
  archive: true
  archiveTTL: 180d
links:
  - {name: Logs, scope: workflow, url: "http://logs?ns=${metadata.namespace}"}
navColor: red
"#;

fn full() -> Config {
    Config::from_yaml_str(FULL).unwrap_or_else(|e| panic!("{e}"))
}

fn yaml_value(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn reads_the_upstream_keys() {
    let config = full();
    assert_eq!(config.instance_id.as_deref(), Some("ci"));
    assert_eq!(config.namespace.as_deref(), Some("workflows"));
    assert_eq!(config.parallelism, Some(10));
    assert_eq!(config.namespace_parallelism, Some(4));
    assert_eq!(config.pod_gc_grace_period_seconds, Some(60));
    assert_eq!(config.pod_gc_delete_delay(), Ok(Duration::from_secs(30)));
    assert_eq!(config.executor_injection(), ExecutorInjection::Webhook);
    assert_eq!(
        config.image("argoproj/argosay:v2"),
        Some(&ImageEntry {
            entrypoint: vec![],
            cmd: vec!["/argosay".into()]
        })
    );
    assert_eq!(config.images["python:3.12"].entrypoint, ["python3"]);
    let executor = config
        .executor
        .as_ref()
        .expect("executor")
        .typed()
        .expect("a container");
    assert_eq!(executor.image_pull_policy.as_deref(), Some("IfNotPresent"));
    assert_eq!(
        executor.args,
        Some(vec!["--loglevel".into(), "debug".into()])
    );
    let repository = config.artifact_repository.as_ref().expect("repository");
    assert_eq!(repository.archive_logs, Some(true));
    assert!(repository.s3.is_some());
    let defaults = config.workflow_defaults.as_ref().expect("defaults");
    assert_eq!(defaults.metadata.labels["team"], "data");
    assert_eq!(defaults.spec.service_account_name.as_deref(), Some("argo"));
    assert_eq!(
        defaults
            .spec
            .template_defaults
            .as_ref()
            .and_then(|t| t.timeout.as_deref()),
        Some("1h")
    );
    let metrics = config.metrics_config.as_ref().expect("metrics");
    assert_eq!(
        (metrics.port, metrics.metrics_ttl.as_deref()),
        (Some(9090), Some("10m"))
    );
    assert_eq!(
        config.retention_policy.as_ref().and_then(|r| r.failed),
        Some(3)
    );
    assert_eq!(
        config.node_events.as_ref().and_then(|n| n.send_as_pod),
        Some(true)
    );
    assert_eq!(
        config
            .resource_rate_limit
            .as_ref()
            .and_then(|r| r.limit.clone()),
        Some(10.into())
    );
    assert_eq!(config.links.len(), 1);
    assert!(config.extra.is_empty(), "{:?}", config.extra);
    assert_eq!(config.validate(), []);
}

#[test]
fn writes_back_what_it_read() {
    let written = yaml_value(FULL);
    let read_back = serde_json::to_value(full()).expect("serialize");
    assert_eq!(read_back, written);
}

#[test]
fn empty_text_is_the_default() {
    assert_eq!(Config::from_yaml_str(""), Ok(Config::default()));
    assert_eq!(
        Config::from_yaml_str("# nothing set\n"),
        Ok(Config::default())
    );
    let config = Config::default();
    assert_eq!(config.executor_injection(), ExecutorInjection::Controller);
    assert_eq!(config.pod_gc_delete_delay(), Ok(Duration::from_secs(5)));
}

#[test]
fn reads_both_configmap_layouts() {
    let whole = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "workflow-controller-configmap"},
        "data": {"config": FULL}
    });
    assert_eq!(Config::from_configmap(&whole), Ok(full()));

    // One key per setting: scalars on one line, sections as nested YAML.
    let per_key = json!({
        "kind": "ConfigMap",
        "data": {
            "parallelism": "10",
            "podGCDeleteDelayDuration": "30s",
            "instanceID": "ci",
            "images": "argoproj/argosay:v2:\n  cmd: [/argosay]\n",
            "artifactRepository": "archiveLogs: true\ns3:\n  bucket: my-bucket\n",
            "executorInjection": "webhook"
        }
    });
    let config = Config::from_configmap(&per_key).expect("per-key layout");
    assert_eq!(config.parallelism, Some(10));
    assert_eq!(config.instance_id.as_deref(), Some("ci"));
    assert_eq!(config.images["argoproj/argosay:v2"].cmd, ["/argosay"]);
    assert_eq!(
        config
            .artifact_repository
            .as_ref()
            .and_then(|r| r.s3.as_ref())
            .and_then(|s3| s3.bucket.as_deref()),
        Some("my-bucket")
    );
    assert_eq!(config.executor_injection(), ExecutorInjection::Webhook);

    assert_eq!(
        Config::from_configmap(&json!({"kind": "ConfigMap"})),
        Ok(Config::default())
    );
}

/// Lays `keys` out as the kubelet mounts a ConfigMap volume: the files in
/// a timestamped directory, `..data` linking to it, one link per key.
fn mounted_configmap(keys: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary directory");
    let stamped = dir.path().join("..2026_11_23_21_00_00.123456789");
    std::fs::create_dir(&stamped).expect("timestamped directory");
    for (key, text) in keys {
        std::fs::write(stamped.join(key), text).expect("key file");
    }
    std::os::unix::fs::symlink(&stamped, dir.path().join("..data")).expect("..data link");
    for (key, _) in keys {
        std::os::unix::fs::symlink(format!("..data/{key}"), dir.path().join(key))
            .expect("key link");
    }
    dir
}

#[test]
fn loads_a_mounted_configmap_directory() {
    let dir = mounted_configmap(&[
        ("parallelism", "10"),
        ("instanceID", "ci"),
        ("images", "argoproj/argosay:v2:\n  cmd: [/argosay]\n"),
        ("executorInjection", "webhook"),
    ]);
    let config = Config::load(dir.path()).expect("directory layout");
    assert_eq!(config.parallelism, Some(10));
    assert_eq!(config.instance_id.as_deref(), Some("ci"));
    assert_eq!(config.images["argoproj/argosay:v2"].cmd, ["/argosay"]);
    assert_eq!(config.executor_injection(), ExecutorInjection::Webhook);
    assert!(config.extra.is_empty(), "{:?}", config.extra);

    // The one-key layout works from a directory too.
    let whole = mounted_configmap(&[("config", FULL)]);
    assert_eq!(Config::load(whole.path()), Ok(full()));

    let empty = tempfile::tempdir().expect("temporary directory");
    assert_eq!(Config::load(empty.path()), Ok(Config::default()));
}

#[test]
fn loads_a_file_of_either_kind() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let document = dir.path().join("config.yaml");
    std::fs::write(&document, FULL).expect("write");
    assert_eq!(Config::load(&document), Ok(full()));
    let configmap = dir.path().join("configmap.yaml");
    std::fs::write(&configmap, "kind: ConfigMap\ndata:\n  parallelism: \"3\"\n").expect("write");
    assert_eq!(Config::load(&configmap).map(|c| c.parallelism), Ok(Some(3)));
}

#[test]
fn load_errors_name_the_file_and_key() {
    let dir = mounted_configmap(&[("parallelism", "ten")]);
    let err = Config::load(dir.path()).expect_err("not a number");
    assert!(
        err.starts_with(&format!("{}: ", dir.path().display())) && err.contains("parallelism"),
        "{err}"
    );
    let mixed = mounted_configmap(&[("config", "parallelism: 1"), ("namespace", "x")]);
    let err = Config::load(mixed.path()).expect_err("both layouts");
    assert!(err.contains("holds `config` and other keys"), "{err}");
    let missing = dir.path().join("absent");
    let err = Config::load(&missing).expect_err("no such file");
    assert!(
        err.starts_with(&format!("{}: ", missing.display())),
        "{err}"
    );
    std::fs::create_dir(dir.path().join("nested")).expect("nested directory");
    let err = Config::load(dir.path()).expect_err("a directory inside");
    assert!(err.contains("nested: a directory"), "{err}");
}

#[test]
fn rejects_configmaps_argo_rejects() {
    let mixed =
        json!({"kind": "ConfigMap", "data": {"config": "parallelism: 1", "namespace": "x"}});
    assert_eq!(
        Config::from_configmap(&mixed),
        Err(ConfigError::ConfigMap {
            path: FieldPath::root().key("data"),
            message: "holds `config` and other keys; put every setting inside `config`, \
                      or give each setting its own key, not both"
                .into()
        })
    );
    let number = json!({"data": {"parallelism": 10}});
    assert_eq!(
        Config::from_configmap(&number),
        Err(ConfigError::ConfigMap {
            path: FieldPath::parse("data.parallelism").expect("path"),
            message: "ConfigMap values are text; quote the value".into()
        })
    );
    let secret = json!({"kind": "Secret", "data": {}});
    assert_eq!(
        Config::from_configmap(&secret),
        Err(ConfigError::ConfigMap {
            path: FieldPath::root().key("kind"),
            message: "expected a ConfigMap, found a Secret".into()
        })
    );
}

#[test]
fn yaml_errors_say_where() {
    let err = Config::from_yaml_str("parallelism: 1\nimages: [\n").expect_err("bad YAML");
    match &err {
        ConfigError::Yaml { path, line, .. } => {
            assert!(path.is_root());
            assert!(line.is_some_and(|l| l >= 2), "{line:?}");
        }
        other => panic!("expected a YAML error, got {other:?}"),
    }
    assert!(err.to_string().starts_with("invalid YAML: "), "{err}");

    let configmap = json!({"data": {"executor": "image: [\n"}});
    let err = Config::from_configmap(&configmap).expect_err("bad YAML");
    assert!(
        err.to_string().starts_with("data.executor: invalid YAML: "),
        "{err}"
    );
}

#[test]
fn shape_errors_name_the_setting() {
    let err = Config::from_yaml_str("metricsConfig:\n  port: ninety\n").expect_err("bad port");
    match err {
        ConfigError::Shape { path, message } => {
            assert_eq!(path.to_string(), "metricsConfig.port");
            assert!(message.contains("invalid type"), "{message}");
        }
        other => panic!("expected a shape error, got {other:?}"),
    }
    let err =
        Config::from_yaml_str("images:\n  busybox:\n    command: [sh]\n").expect_err("bad image");
    match err {
        ConfigError::Shape { path, message } => {
            assert_eq!(path.to_string(), "images.busybox.command");
            assert!(message.contains("unknown field `command`"), "{message}");
        }
        other => panic!("expected a shape error, got {other:?}"),
    }
    assert_eq!(
        Config::from_yaml_str("- parallelism: 1"),
        Err(ConfigError::Shape {
            path: FieldPath::root(),
            message: "expected a map of settings, found a list".into()
        })
    );
}

#[test]
fn keeps_unknown_settings_and_warns() {
    let text = "instanceId: ci\nexecutorImage: argoproj/argoexec:v3\nsomethingElse: 1\nnodeEvents: {enabled: true, sendAsPods: true}\n";
    let config = Config::from_yaml_str(text).expect("config");
    assert_eq!(config.extra.len(), 3);
    assert_eq!(
        serde_json::to_value(&config).expect("serialize"),
        yaml_value(text)
    );
    let found: Vec<String> = config.validate().iter().map(ToString::to_string).collect();
    assert_eq!(
        found,
        [
            "warning: executorImage: no longer read; set `executor.image` instead",
            "warning: instanceId: unknown setting; did you mean \"instanceID\"?",
            "warning: somethingElse: unknown setting; it is kept but has no effect",
            "warning: nodeEvents.sendAsPods: unknown setting; it is kept but has no effect",
        ]
    );
}

fn problems(text: &str) -> Vec<String> {
    Config::from_yaml_str(text)
        .unwrap_or_else(|e| panic!("{e}"))
        .validate()
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn validates_enums_durations_and_numbers() {
    assert_eq!(
        problems(
            "executorInjection: sidecar\npodGCDeleteDelayDuration: \"30\"\ninitialDelay: 5d\n\
             parallelism: -1\nnamespaceParallelism: -2\npodGCGracePeriodSeconds: -3\n\
             retentionPolicy: {failed: -1}\nresourceRateLimit: {limit: -0.5, burst: -1}\n\
             failedPodRestart: {enabled: true, maxRestarts: -1}\n\
             workflowRestrictions: {templateReferencing: Loose}\n"
        ),
        [
            "error: podGCGracePeriodSeconds: is -3; it must be zero or more",
            "error: parallelism: is -1; it must be zero or more",
            "error: namespaceParallelism: is -2; it must be zero or more",
            "error: podGCDeleteDelayDuration: missing unit in duration \"30\"; add one of ns, us, ms, s, m, h (30 seconds is 30s)",
            "error: initialDelay: unknown unit \"d\" in duration \"5d\"; use ns, us, ms, s, m or h",
            "error: retentionPolicy.failed: is -1; it must be zero or more",
            "error: resourceRateLimit.limit: must be zero or more (pods per second)",
            "error: resourceRateLimit.burst: is -1; it must be zero or more",
            "error: failedPodRestart.maxRestarts: is -1; it must be zero or more",
            "error: workflowRestrictions.templateReferencing: unknown value \"Loose\"; use `Strict` or `Secure`",
            "error: executorInjection: unknown value \"sidecar\"; use `controller` or `webhook`",
        ]
    );
    let config = Config::from_yaml_str("executorInjection: sidecar").expect("config");
    assert_eq!(
        config.executor_injection(),
        ExecutorInjection::Unknown("sidecar".into())
    );
    assert_eq!(
        serde_json::to_value(&config).expect("serialize"),
        json!({"executorInjection": "sidecar"})
    );
}

#[test]
fn validates_metrics_names_and_kube_config() {
    assert_eq!(
        problems(
            "metricsConfig: {metricsTTL: 1h30m, port: 70000, path: metrics, temporality: Weekly}\n\
             telemetryConfig: {metricsTTL: 7d}\n\
             instanceID: -ci-\nnamespace: My_NS\nkubeConfig: {secretName: kube}\n\
             persistence: {archiveTTL: 10x}\n"
        ),
        [
            "error: instanceID: \"-ci-\" cannot be a label value; use at most 63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit",
            "error: namespace: \"My_NS\" is not a namespace name; use at most 63 lower-case letters, digits or `-`, starting and ending with a letter or digit",
            "error: metricsConfig.metricsTTL: invalid TTL \"1h30m\"; write a whole number with one unit, such as 30s, 10m, 12h or 7d",
            "error: metricsConfig.port: 70000 is not a port; use 1 to 65535",
            "error: metricsConfig.path: must start with `/`; write \"/metrics\"",
            "error: metricsConfig.temporality: unknown value \"Weekly\"; use `Cumulative` or `Delta`",
            "error: kubeConfig.secretKey: required with `kubeConfig`; name the Secret holding the kubeconfig and its key",
            "error: persistence.archiveTTL: unknown unit \"x\" in duration \"10x\"; use ns, us, ms, s, m or h",
        ]
    );
}

#[test]
fn an_artifact_repository_has_exactly_one_storage() {
    assert_eq!(
        problems("artifactRepository: {s3: {bucket: a}, gcs: {bucket: b}}"),
        [
            "error: artifactRepository: gcs, s3 are all set; a repository has exactly one storage, so keep one of them"
        ]
    );
    assert_eq!(
        problems("artifactRepository: {archiveLogs: true}"),
        [
            "error: artifactRepository: no storage configured; set one of s3, gcs, azure, oss, hdfs, artifactory or plugin"
        ]
    );
    assert!(problems("artifactRepository: {}").is_empty());
    assert!(problems("artifactRepository: {azure: {container: c}}").is_empty());
}

#[test]
fn validates_containers_images_and_defaults() {
    assert_eq!(
        problems(
            "executor: {resources: {limits: {cpu: [1]}}}\nmainContainer: {env: {A: b}}\n\
             images: {busybox: {}}\n\
             workflowDefaults:\n  spec:\n    templates:\n      - {name: a, container: {image: x}}\n      - {name: a, sidecars: [{image: y}]}\n\
             \x20   templateDefaults: {name: all}\n    podSpecPatch: 'containers: ['\n"
        ),
        [
            "error: workflowDefaults.spec.templates[1].sidecars[0]: no `name`; workflows are merged over these defaults by `name`, so add one",
            "error: workflowDefaults.spec.templates[1].name: \"a\" is also the name of templates[0]; template names must be unique",
            "warning: workflowDefaults.spec.templateDefaults.name: template defaults apply to every template; a name here is ignored, remove it",
            "error: workflowDefaults.spec.podSpecPatch: podSpecPatch is not valid YAML: did not find expected node content at line 2 column 1, while parsing a flow node",
            "error: executor.resources.limits.cpu: invalid type: sequence, expected Quantity",
            "error: mainContainer.env: invalid type: map, expected a sequence",
            "warning: images.busybox: neither `entrypoint` nor `cmd`; give the image's ENTRYPOINT or CMD so containers without `command` can run",
        ]
    );
}

#[test]
fn known_keys_are_exactly_the_modelled_settings() {
    let every = Config {
        artifact_repository: Some(Box::default()),
        workflow_defaults: Some(Box::default()),
        executor: Some(Default::default()),
        main_container: Some(Default::default()),
        images: [("busybox".to_owned(), ImageEntry::default())].into(),
        pod_gc_grace_period_seconds: Some(0),
        pod_gc_delete_delay_duration: Some(String::new()),
        parallelism: Some(0),
        namespace_parallelism: Some(0),
        instance_id: Some(String::new()),
        namespace: Some(String::new()),
        metrics_config: Some(Default::default()),
        telemetry_config: Some(Default::default()),
        retention_policy: Some(Default::default()),
        node_events: Some(Default::default()),
        workflow_events: Some(Default::default()),
        resource_rate_limit: Some(Default::default()),
        kube_config: Some(Default::default()),
        workflow_restrictions: Some(Default::default()),
        failed_pod_restart: Some(Default::default()),
        initial_delay: Some(String::new()),
        disable_agent_pod_creation: Some(false),
        persistence: Some(Value::Null),
        synchronization: Some(Value::Null),
        sso: Some(Value::Null),
        links: vec![Value::Null],
        columns: vec![Value::Null],
        nav_color: Some(String::new()),
        pod_spec_log_strategy: Some(Value::Null),
        artifact_drivers: vec![Value::Null],
        initless_pod: Some(Value::Null),
        executor_injection: Some(ExecutorInjection::Controller),
        extra: Extra::new(),
    };
    let value = serde_json::to_value(&every).expect("serialize");
    let mut written: Vec<&str> = value
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut known = KNOWN_KEYS.to_vec();
    written.sort_unstable();
    known.sort_unstable();
    assert_eq!(written, known);
}
