//! One golden pod (built, injected) per template feature, with its
//! restricted-profile violations. `SLUICE_BLESS=1` rewrites the files.

use std::path::PathBuf;

use serde_json::{Value, json};
use sluice_api::Config;
use sluice_engine::pod::BuiltPod;
use sluice_engine::protocol::TEMPLATE_FILE_NAME;
use sluice_engine::pss::restricted_violations;
use sluice_engine::repository;

use crate::{SC, build, config, corpus, workflow};

/// A line diff (longest common subsequence), `-` expected, `+` actual.
fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("{:>4} + {}\n", j + 1, b[j]));
            j += 1;
        } else {
            out.push_str(&format!("{:>4} - {}\n", i + 1, a[i]));
            i += 1;
        }
    }
    out
}

/// Compares (or, with `SLUICE_BLESS=1`, writes) `golden/<name>.yaml`, and
/// returns the pod's restricted-profile violations.
fn check(name: &str, built: &BuiltPod) -> Vec<String> {
    let violations = restricted_violations(&built.pod);
    let config_map = built.template_config_map.as_ref().map(|cm| {
        let mut value = serde_json::to_value(cm).expect("configmap JSON");
        // The template itself is too large to read; keep its size.
        let size = cm
            .data
            .as_ref()
            .and_then(|d| d.get(TEMPLATE_FILE_NAME))
            .map_or(0, String::len);
        value["data"] = json!({ TEMPLATE_FILE_NAME: format!("<{size} bytes>") });
        value
    });
    let document = json!({
        "pod": built.pod,
        "templateConfigMap": config_map,
        "restrictedViolations": violations,
    });
    let actual = serde_yaml_ng::to_string(&document).expect("YAML");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/pods/golden")
        .join(format!("{name}.yaml"));
    if std::env::var_os("SLUICE_BLESS").is_some() {
        std::fs::write(&path, &actual).expect("write golden");
    } else {
        let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run with SLUICE_BLESS=1 to create it",
                path.display()
            )
        });
        if expected != actual {
            panic!(
                "{} differs from the built pod (run with SLUICE_BLESS=1 to accept):\n{}",
                path.display(),
                diff(&expected, &actual)
            );
        }
    }
    violations
}

fn assert_restricted(name: &str, built: &BuiltPod) {
    let violations = check(name, built);
    assert!(violations.is_empty(), "{name}: {violations:#?}");
}

fn containers(built: &BuiltPod) -> Vec<Value> {
    let spec = serde_json::to_value(built.pod.spec.as_ref().expect("spec")).expect("JSON");
    spec["containers"].as_array().cloned().unwrap_or_default()
}

#[test]
fn container() {
    let wf = corpus("hello-world.yaml");
    let built = build(&config(""), &wf, "hello-world", None, None);
    assert_eq!(
        built.pod.metadata.name.as_deref(),
        Some("hello-world-abcde")
    );
    assert_restricted("container", &built);
}

#[test]
fn script() {
    let wf = corpus("scripts-python.yaml");
    let built = build(
        &config(""),
        &wf,
        "gen-random-int",
        Some("[0].generate"),
        None,
    );
    assert_eq!(
        built.pod.metadata.name.as_deref(),
        Some("scripts-python-abcde-gen-random-int-2171448017")
    );
    let main = &containers(&built)[0];
    assert_eq!(
        main["command"],
        json!([
            "/var/run/sluice/sluice-executor",
            "emissary",
            "--",
            "python",
            "/var/run/sluice/staging/script"
        ])
    );
    assert_restricted("script", &built);
}

#[test]
fn container_set() {
    let wf = corpus("container-set-template/graph-workflow.yaml");
    let built = build(&config(""), &wf, "main", None, None);
    let names: Vec<Value> = containers(&built)
        .iter()
        .map(|c| c["name"].clone())
        .collect();
    assert_eq!(
        names,
        vec![
            json!("a"),
            json!("b"),
            json!("c"),
            json!("d"),
            json!("wait")
        ]
    );
    assert_restricted("container-set", &built);
}

#[test]
fn input_artifacts() {
    let wf = workflow(
        r#"
metadata: {name: inputs}
spec:
  templates:
  - name: consume
    inputs:
      artifacts:
      - name: data
        path: /tmp/data
        s3:
          endpoint: minio:9000
          bucket: my-bucket
          key: path/to/data.tgz
          accessKeySecret: {name: my-s3-credentials, key: accessKey}
          secretKeySecret: {name: my-s3-credentials, key: secretKey}
      - name: source
        path: /src
        git:
          repo: git@github.com:argoproj/argo-workflows.git
          revision: v3.5.0
          sshPrivateKeySecret: {name: github-creds, key: ssh-private-key}
      - name: kubectl
        path: /bin/kubectl
        mode: 493
        http:
          url: https://example.com/kubectl
          auth:
            basicAuth:
              usernameSecret: {name: http-creds, key: user}
              passwordSecret: {name: http-creds, key: password}
      - name: config
        path: /etc/config.txt
        raw: {data: "hello"}
      - name: maybe
        path: /tmp/maybe
        optional: true
    container:
      image: alpine:3.23
      command: [sh, -c, "ls -l /tmp/data /src /bin/kubectl /etc/config.txt"]
"#,
    );
    let built = build(&config(""), &wf, "consume", Some("[0].consume"), None);
    assert_restricted("input-artifacts", &built);
}

#[test]
fn output_artifacts_with_repository() {
    let config = config(
        r#"artifactRepository:
  archiveLogs: true
  s3:
    endpoint: minio:9000
    bucket: my-bucket
    insecure: true
    keyFormat: "{{workflow.creationTimestamp.Y}}/{{workflow.creationTimestamp.m}}/{{workflow.name}}/{{pod.name}}"
    accessKeySecret: {name: my-minio-cred, key: accesskey}
    secretKeySecret: {name: my-minio-cred, key: secretkey}
"#,
    );
    let wf = workflow(
        r#"
metadata: {name: outputs}
spec:
  templates:
  - name: produce
    container:
      image: alpine:3.23
      command: [sh, -c, "echo hi > /tmp/hello.txt"]
    outputs:
      artifacts:
      - name: hello
        path: /tmp/hello.txt
      - name: raw-file
        path: /tmp/hello.txt
        archive: {none: {}}
"#,
    );
    let location = repository::resolve_location(&wf, &config, &|_| None)
        .expect("repository")
        .expect("a repository");
    let built = build(
        &config,
        &wf,
        "produce",
        Some("[0].produce"),
        Some(&location),
    );
    let env = serde_json::to_string(&containers(&built)[0]["env"]).expect("env");
    assert!(env.contains("2024/03/outputs/outputs-produce-"), "{env}");
    assert_restricted("output-artifacts-repository", &built);
}

#[test]
fn sidecars_with_mirror_volume_mounts() {
    let wf = workflow(&format!(
        r#"
metadata: {{name: sidecars}}
spec:
  volumes:
  - name: workdir
    emptyDir: {{}}
  templates:
  - name: with-sidecar
    container:
      image: alpine:3.23
      command: [sh, -c, "sleep 5"]
      volumeMounts:
      - {{name: workdir, mountPath: /work}}
    sidecars:
    - name: watcher
      image: alpine:3.23
      command: [sh, -c, "tail -F /work/log"]
      mirrorVolumeMounts: true
      securityContext: {SC}
"#
    ));
    let built = build(&config(""), &wf, "with-sidecar", Some("[0].s"), None);
    let watcher = &containers(&built)[1];
    assert_eq!(
        watcher["volumeMounts"][0],
        json!({"name": "workdir", "mountPath": "/work"})
    );
    assert_restricted("sidecar-mirror", &built);
}

#[test]
fn sidecar_without_security_context_violates_restricted() {
    let wf = corpus("sidecar-nginx.yaml");
    let built = build(&config(""), &wf, "sidecar-nginx-example", None, None);
    let violations = check("sidecar-nginx", &built);
    assert!(
        violations.iter().all(|v| v.contains("container \"nginx\"")) && !violations.is_empty(),
        "{violations:#?}"
    );
}

#[test]
fn daemon() {
    let wf = corpus("daemon-nginx.yaml");
    let built = build(
        &config(""),
        &wf,
        "nginx-server",
        Some("[0].nginx-server"),
        None,
    );
    // No command in the template: the images index gives it.
    assert_eq!(
        containers(&built)[0]["command"],
        json!([
            "/var/run/sluice/sluice-executor",
            "emissary",
            "--",
            "/docker-entrypoint.sh",
            "nginx",
            "-g",
            "daemon off;"
        ])
    );
    assert_restricted("daemon", &built);
}

#[test]
fn user_init_containers() {
    let wf = corpus("init-container.yaml");
    let built = build(&config(""), &wf, "init-container-example", None, None);
    let spec = built.pod.spec.as_ref().expect("spec");
    let inits: Vec<&str> = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(inits, ["init", "hello"]);
    let violations = check("init-containers", &built);
    assert!(
        !violations.is_empty() && violations.iter().all(|v| v.contains("container \"hello\"")),
        "{violations:#?}"
    );
}

#[test]
fn volumes() {
    let wf = workflow(
        r#"
metadata: {name: volumes}
spec:
  volumeClaimTemplates:
  - metadata: {name: workdir}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
  volumes:
  - name: creds
    secret: {secretName: my-secret}
  - name: settings
    configMap: {name: my-config}
  - name: unused
    emptyDir: {}
  templates:
  - name: use
    volumes:
    - name: scratch
      emptyDir: {medium: Memory}
    container:
      image: alpine:3.23
      command: [sh, -c, "ls /work /creds /settings /scratch"]
      volumeMounts:
      - {name: workdir, mountPath: /work}
      - {name: creds, mountPath: /creds, readOnly: true}
      - {name: settings, mountPath: /settings}
      - {name: scratch, mountPath: /scratch}
"#,
    );
    let built = build(&config(""), &wf, "use", Some("[0].use"), None);
    assert_restricted("volumes", &built);
}

#[test]
fn pod_spec_patch_both_levels() {
    let wf = workflow(
        r#"
metadata: {name: patched}
spec:
  podSpecPatch: |
    containers:
    - name: main
      resources: {limits: {memory: 100Mi}}
    terminationGracePeriodSeconds: 5
  templates:
  - name: patched
    podSpecPatch: '{"containers":[{"name":"main","resources":{"limits":{"cpu":"100m"}}}],"terminationGracePeriodSeconds":7}'
    container:
      image: busybox
      command: [echo]
      args: ["{{pod.name}}"]
"#,
    );
    let built = build(&config(""), &wf, "patched", Some("[0].p"), None);
    let spec = built.pod.spec.as_ref().expect("spec");
    assert_eq!(spec.termination_grace_period_seconds, Some(7));
    assert_restricted("pod-spec-patch", &built);
}

#[test]
fn active_deadline_seconds() {
    let wf = workflow(
        r#"
metadata: {name: deadline}
spec:
  activeDeadlineSeconds: 600
  templates:
  - name: short
    activeDeadlineSeconds: "30"
    container: {image: busybox, command: [sleep, "60"]}
"#,
    );
    let built = build(&config(""), &wf, "short", Some("[0].short"), None);
    assert_eq!(
        built
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.active_deadline_seconds),
        Some(30)
    );
    assert_restricted("active-deadline", &built);
}

#[test]
fn service_account() {
    let wf = workflow(
        r#"
metadata: {name: accounts}
spec:
  serviceAccountName: workflow-sa
  automountServiceAccountToken: false
  executor: {serviceAccountName: executor-sa}
  templates:
  - name: run
    serviceAccountName: template-sa
    container: {image: busybox, command: ["true"]}
"#,
    );
    let built = build(&config(""), &wf, "run", Some("[0].run"), None);
    let spec = built.pod.spec.as_ref().expect("spec");
    assert_eq!(spec.service_account_name.as_deref(), Some("template-sa"));
    assert_eq!(spec.automount_service_account_token, Some(false));
    assert_restricted("service-account", &built);
}

#[test]
fn scheduling() {
    let wf = workflow(
        r#"
metadata: {name: scheduling}
spec:
  nodeSelector: {disk: ssd}
  tolerations:
  - {key: dedicated, operator: Equal, value: workflows, effect: NoSchedule}
  schedulerName: wf-scheduler
  podPriorityClassName: low
  hostAliases:
  - {ip: 10.0.0.1, hostnames: [wf.local]}
  dnsPolicy: None
  dnsConfig: {nameservers: [1.1.1.1]}
  imagePullSecrets:
  - name: registry-creds
  templates:
  - name: placed
    nodeSelector: {zone: a}
    affinity:
      nodeAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
          nodeSelectorTerms:
          - matchExpressions:
            - {key: kubernetes.io/os, operator: In, values: [linux]}
    priorityClassName: high
    hostAliases:
    - {ip: 10.0.0.2, hostnames: [tmpl.local]}
    container: {image: busybox, command: ["true"]}
"#,
    );
    let built = build(&config(""), &wf, "placed", Some("[0].placed"), None);
    assert_restricted("scheduling", &built);
}

#[test]
fn security_context_privileged_shows_violations() {
    let wf = workflow(
        r#"
metadata: {name: privileged}
spec:
  hostNetwork: true
  securityContext: {runAsUser: 0}
  templates:
  - name: root
    volumes:
    - name: host
      hostPath: {path: /var/lib}
    container:
      image: docker:dind
      command: [dockerd]
      securityContext: {privileged: true, capabilities: {add: [SYS_ADMIN]}}
      volumeMounts:
      - {name: host, mountPath: /host}
"#,
    );
    let built = build(&Config::default(), &wf, "root", Some("[0].root"), None);
    let violations = check("privileged", &built);
    for expected in [
        "host namespaces: hostNetwork=true",
        "hostPath volumes: volume \"host\" uses hostPath",
        "runAsUser=0: pod securityContext.runAsUser is 0",
        "privileged: container \"main\" is privileged",
        "unrestricted capabilities: container \"main\" adds SYS_ADMIN",
    ] {
        assert!(
            violations.iter().any(|v| v == expected),
            "{expected}: {violations:#?}"
        );
    }
    // The executor's own containers are compliant.
    assert!(
        !violations
            .iter()
            .any(|v| v.contains("\"init\"") || v.contains("\"wait\"")),
        "{violations:#?}"
    );
}

#[test]
fn template_metadata() {
    let wf = workflow(
        r#"
metadata: {name: meta}
spec:
  podMetadata:
    labels: {team: data, tier: wf}
    annotations: {owner: wf-level}
  templates:
  - name: labelled
    metadata:
      labels: {tier: template}
      annotations: {owner: template-level, note: hi}
    container: {image: busybox, command: ["true"]}
"#,
    );
    let built = build(
        &config("instanceID: blue\n"),
        &wf,
        "labelled",
        Some("[0].l"),
        None,
    );
    let labels = built.pod.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("tier").map(String::as_str), Some("template"));
    assert_eq!(labels.get("team").map(String::as_str), Some("data"));
    assert_restricted("template-metadata", &built);
}

#[test]
fn images_index_entrypoint() {
    let wf = workflow(
        r#"
metadata: {name: images}
spec:
  templates:
  - name: say
    container: {image: "argoproj/argosay:v2"}
  - name: say-args
    container: {image: "argoproj/argosay:v2", args: [echo, hi]}
"#,
    );
    let config = config("");
    let built = build(&config, &wf, "say", Some("[0].say"), None);
    assert_eq!(
        containers(&built)[0]["command"],
        json!([
            "/var/run/sluice/sluice-executor",
            "emissary",
            "--",
            "/argosay"
        ])
    );
    let with_args = build(&config, &wf, "say-args", Some("[0].say-args"), None);
    assert_eq!(
        containers(&with_args)[0]["command"],
        json!([
            "/var/run/sluice/sluice-executor",
            "emissary",
            "--",
            "echo",
            "hi"
        ])
    );
    assert_restricted("images-index", &built);
}

#[test]
fn large_template_goes_to_a_config_map() {
    let source = format!("# {}\necho done\n", "x".repeat(140 * 1024));
    let mut wf = workflow(
        r#"
metadata: {name: large}
spec:
  templates:
  - name: big
    script: {image: alpine:3.23, command: [sh], source: placeholder}
"#,
    );
    wf.spec.templates[0].script.as_mut().expect("script").source = Some(source.clone());
    let built = build(&config(""), &wf, "big", Some("[0].big"), None);
    let cm = built.template_config_map.as_ref().expect("a ConfigMap");
    assert_eq!(cm.metadata.name, built.pod.metadata.name);
    let text = cm
        .data
        .as_ref()
        .and_then(|d| d.get(TEMPLATE_FILE_NAME))
        .expect("template.json");
    let template: Value = serde_json::from_str(text).expect("template JSON");
    assert_eq!(template["script"]["source"], json!(source));
    assert_restricted("large-template", &built);
}
