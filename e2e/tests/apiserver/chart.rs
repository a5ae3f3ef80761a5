//! charts/sluice with the real helm: lint, render with the default values
//! and with each file of charts/sluice/ci/, rejections by
//! values.schema.json, every rendered object accepted by the real API
//! server (server-side dry run), the certificate kept across upgrades.
//! chart_rbac.rs checks each service account's rights, chart_run.rs runs
//! the containers as rendered.

use std::collections::BTreeSet;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use sluice_api::Config;
use sluice_api::validate::Severity;
use sluice_e2e::chart::{self, find, of_kind, template};
use sluice_e2e::{FIELD_MANAGER, WAIT_TIMEOUT, install_crds, poll_until, shared_apiserver};

use super::create_namespace;

/// The files of charts/sluice/ci/, each a non-default configuration.
const CI_VALUES: [&str; 4] = [
    "namespaced-values.yaml",
    "cert-manager-values.yaml",
    "ha-values.yaml",
    "monitoring-values.yaml",
];

fn ci_file(name: &str) -> String {
    chart::chart_dir()
        .join("ci")
        .join(name)
        .display()
        .to_string()
}

fn render_ci(release: &str, namespace: &str, file: &str) -> Result<Vec<Value>> {
    Ok(template(release, namespace, &["--values", &ci_file(file)])?)
}

fn app_version() -> Result<String> {
    let text = std::fs::read_to_string(chart::chart_dir().join("Chart.yaml"))?;
    let chart: Value = serde_yaml_ng::from_str(&text)?;
    chart["appVersion"]
        .as_str()
        .map(str::to_owned)
        .context("Chart.yaml has no appVersion")
}

#[test]
fn chart_lints_with_every_values_file() -> Result<()> {
    let chart_dir = chart::chart_dir().display().to_string();
    let mut runs = vec![Vec::new()];
    runs.extend(
        CI_VALUES
            .iter()
            .map(|f| vec!["--values".to_owned(), ci_file(f)]),
    );
    for extra in runs {
        let mut args = vec!["lint".to_owned(), "--strict".to_owned(), chart_dir.clone()];
        args.extend(extra.iter().cloned());
        let out = chart::run_helm(&args)?;
        ensure!(
            out.contains("1 chart(s) linted, 0 chart(s) failed"),
            "helm lint {extra:?}:\n{out}"
        );
    }
    Ok(())
}

/// The rights of one rule list as (apiGroup, resource, verb) triples.
fn rights(rules: &Value) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for rule in rules.as_array().into_iter().flatten() {
        for group in rule["apiGroups"].as_array().into_iter().flatten() {
            for resource in rule["resources"].as_array().into_iter().flatten() {
                for verb in rule["verbs"].as_array().into_iter().flatten() {
                    out.insert((
                        group.as_str().unwrap_or_default().to_owned(),
                        resource.as_str().unwrap_or_default().to_owned(),
                        verb.as_str().unwrap_or_default().to_owned(),
                    ));
                }
            }
        }
    }
    out
}

/// Pod Security "restricted", resources and probes on the admin port.
fn check_pod(deployment: &Value) -> Result<()> {
    let name = deployment["metadata"]["name"].as_str().unwrap_or_default();
    let pod = &deployment["spec"]["template"]["spec"];
    ensure!(
        pod["securityContext"]["runAsNonRoot"] == true
            && pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
            && pod["securityContext"]["runAsUser"].as_i64() > Some(0),
        "{name}: pod securityContext {:#}",
        pod["securityContext"]
    );
    let containers = pod["containers"].as_array().context("containers")?;
    ensure!(!containers.is_empty(), "{name}: no containers");
    for container in containers {
        let security = &container["securityContext"];
        ensure!(
            security["runAsNonRoot"] == true
                && security["readOnlyRootFilesystem"] == true
                && security["allowPrivilegeEscalation"] == false
                && security["seccompProfile"]["type"] == "RuntimeDefault"
                && security["capabilities"]["drop"] == json!(["ALL"]),
            "{name}: container securityContext {security:#}"
        );
        for kind in ["requests", "limits"] {
            for resource in ["cpu", "memory"] {
                ensure!(
                    !container["resources"][kind][resource].is_null(),
                    "{name}: no resources.{kind}.{resource}"
                );
            }
        }
        let admin = container["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == "metrics")
            .context("an admin port named metrics")?;
        let admin_port = admin["containerPort"].as_i64().context("admin port")?;
        let listen = format!("--admin-listen=0.0.0.0:{admin_port}");
        ensure!(
            container["args"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| *x == listen.as_str())),
            "{name}: the admin port is not the one served: {:#}",
            container["args"]
        );
        for (probe, path) in [("livenessProbe", "/livez"), ("readinessProbe", "/readyz")] {
            ensure!(
                container[probe]["httpGet"] == json!({"path": path, "port": "metrics"}),
                "{name}: {probe} {:#}",
                container[probe]
            );
        }
    }
    Ok(())
}

fn args_of(deployment: &Value) -> Vec<String> {
    deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect()
}

/// The configuration the ConfigMap gives the binaries, with no errors.
fn rendered_config(objects: &[Value], fullname: &str) -> Result<Config> {
    let configmap = find(objects, "ConfigMap", &format!("{fullname}-config"));
    let config = Config::from_configmap(configmap).map_err(|e| anyhow::anyhow!("{e}"))?;
    let errors: Vec<String> = config
        .validate()
        .into_iter()
        .filter(|p| p.severity == Severity::Error)
        .map(|p| p.to_string())
        .collect();
    ensure!(errors.is_empty(), "{errors:?}");
    Ok(config)
}

fn webhooks(objects: &[Value]) -> Vec<&Value> {
    of_kind(objects, "ValidatingWebhookConfiguration")
        .into_iter()
        .chain(of_kind(objects, "MutatingWebhookConfiguration"))
        .flat_map(|c| c["webhooks"].as_array().into_iter().flatten())
        .collect()
}

#[test]
fn chart_renders_the_default_values() -> Result<()> {
    let objects = template("demo", "sluice", &[])?;
    let kinds: Vec<(&str, &str)> = objects
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap_or_default(),
                o["metadata"]["name"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    let expected = [
        ("ServiceAccount", "demo-sluice-controller"),
        ("ServiceAccount", "demo-sluice-webhook"),
        ("ServiceAccount", "sluice-workflow"),
        ("Secret", "demo-sluice-webhook-tls"),
        ("ConfigMap", "demo-sluice-config"),
        ("ClusterRole", "demo-sluice-controller"),
        ("ClusterRole", "demo-sluice-webhook"),
        ("ClusterRole", "demo-sluice-executor"),
        ("ClusterRoleBinding", "demo-sluice-controller"),
        ("ClusterRoleBinding", "demo-sluice-webhook"),
        ("Role", "demo-sluice-controller-lease"),
        ("RoleBinding", "demo-sluice-controller-lease"),
        ("RoleBinding", "demo-sluice-executor"),
        ("Service", "demo-sluice-controller-metrics"),
        ("Service", "demo-sluice-webhook"),
        ("Deployment", "demo-sluice-controller"),
        ("Deployment", "demo-sluice-webhook"),
        ("MutatingWebhookConfiguration", "demo-sluice-mutate"),
        ("ValidatingWebhookConfiguration", "demo-sluice-validate"),
    ];
    let rendered: BTreeSet<_> = kinds.iter().copied().collect();
    let wanted: BTreeSet<_> = expected.iter().copied().collect();
    assert_eq!(rendered, wanted);
    assert_eq!(kinds.len(), expected.len(), "{kinds:?}");

    // One certificate, its CA in every webhook's caBundle.
    let secret = find(&objects, "Secret", "demo-sluice-webhook-tls");
    assert_eq!(secret["type"], "kubernetes.io/tls");
    let ca = &secret["data"]["ca.crt"];
    for key in ["ca.crt", "tls.crt", "tls.key"] {
        let pem: ByteString = serde_json::from_value(secret["data"][key].clone())?;
        let pem = String::from_utf8(pem.0)?;
        assert!(pem.starts_with("-----BEGIN "), "{key}: {pem}");
    }
    let hooks = webhooks(&objects);
    let names: Vec<&str> = hooks.iter().filter_map(|w| w["name"].as_str()).collect();
    // The pods webhook only comes with executorInjection: webhook.
    assert_eq!(
        names,
        [
            "validate.workflows.argoproj.io",
            "templates.workflows.argoproj.io",
            "mutate.workflows.argoproj.io"
        ]
    );
    for hook in &hooks {
        assert_eq!(&hook["clientConfig"]["caBundle"], ca, "{hook:#}");
        assert_eq!(
            hook["clientConfig"]["service"]["name"], "demo-sluice-webhook",
            "{hook:#}"
        );
        assert_eq!(
            hook["matchConditions"][0]["expression"],
            "request.userInfo.username != \"system:serviceaccount:sluice:demo-sluice-controller\""
        );
    }

    let image = format!("ghcr.io/sluice-dev/sluice:{}", app_version()?);
    for name in ["demo-sluice-controller", "demo-sluice-webhook"] {
        let deployment = find(&objects, "Deployment", name);
        check_pod(deployment)?;
        let pod = &deployment["spec"]["template"]["spec"];
        assert_eq!(pod["containers"][0]["image"], image.as_str());
        assert!(args_of(deployment).contains(&"--config=/etc/sluice/config".to_owned()));
        assert_eq!(
            pod["containers"][0]["volumeMounts"][0]["mountPath"],
            "/etc/sluice/config"
        );
        assert_eq!(pod["volumes"][0]["configMap"]["name"], "demo-sluice-config");
    }
    let controller = find(&objects, "Deployment", "demo-sluice-controller");
    let args = args_of(controller);
    assert!(
        args.contains(&"--lease-name=demo-sluice-controller".to_owned())
            && args.contains(&"--lease-namespace=sluice".to_owned())
            && !args.iter().any(|a| a.starts_with("--namespace")),
        "{args:?}"
    );
    let webhook = find(&objects, "Deployment", "demo-sluice-webhook");
    let tls = &webhook["spec"]["template"]["spec"]["volumes"][1];
    assert_eq!(tls["secret"]["secretName"], "demo-sluice-webhook-tls");
    assert!(args_of(webhook).contains(&"--tls-cert=/etc/sluice/tls/tls.crt".to_owned()));

    // Cluster mode: the controller's rights in one ClusterRole.
    let role = find(&objects, "ClusterRole", "demo-sluice-controller");
    let controller_rights = rights(&role["rules"]);
    for (group, resource) in [
        ("argoproj.io", "workflows"),
        ("argoproj.io", "clusterworkflowtemplates"),
        ("", "pods"),
    ] {
        assert!(
            controller_rights.contains(&(group.into(), resource.into(), "watch".into())),
            "{controller_rights:?}"
        );
    }
    let config = rendered_config(&objects, "demo-sluice")?;
    assert_eq!(
        config.executor_injection(),
        sluice_api::config::ExecutorInjection::Controller
    );
    // Workflow pods run the executor from the chart's image.
    let executor = config.executor.as_ref().and_then(|e| e.str_field("image"));
    assert_eq!(executor, Some(image.as_str()));
    Ok(())
}

#[test]
fn chart_renders_every_ci_values_file() -> Result<()> {
    // Namespaced mode.
    let objects = render_ci("demo", "sluice", "namespaced-values.yaml")?;
    let cluster = find(&objects, "ClusterRole", "demo-sluice-controller");
    assert_eq!(
        rights(&cluster["rules"]),
        [
            ("argoproj.io", "clusterworkflowtemplates", "list"),
            ("argoproj.io", "clusterworkflowtemplates", "watch")
        ]
        .iter()
        .map(|(g, r, v)| ((*g).to_owned(), (*r).to_owned(), (*v).to_owned()))
        .collect(),
        "namespaced mode: only the cluster-scoped templates cluster-wide"
    );
    let role = of_kind(&objects, "Role")
        .into_iter()
        .find(|r| r["metadata"]["name"] == "demo-sluice-controller")
        .context("the controller's Role")?;
    assert_eq!(role["metadata"]["namespace"], "workflows");
    assert!(rights(&role["rules"]).contains(&(
        "argoproj.io".into(),
        "workflows".into(),
        "update".into()
    )));
    let executors: BTreeSet<&str> = of_kind(&objects, "RoleBinding")
        .into_iter()
        .filter(|b| b["metadata"]["name"] == "demo-sluice-executor")
        .filter_map(|b| b["metadata"]["namespace"].as_str())
        .collect();
    assert_eq!(executors, BTreeSet::from(["workflows", "workflows-batch"]));
    let args = args_of(find(&objects, "Deployment", "demo-sluice-controller"));
    assert!(
        args.contains(&"--namespace=workflows".to_owned()),
        "{args:?}"
    );
    for hook in webhooks(&objects) {
        assert_eq!(
            hook["namespaceSelector"],
            json!({"matchLabels": {"kubernetes.io/metadata.name": "workflows"}})
        );
        if hook["name"] != "templates.workflows.argoproj.io" {
            assert!(
                hook["objectSelector"]["matchExpressions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|e| *e
                        == json!({"key": "workflows.argoproj.io/controller-instanceid",
                            "operator": "In", "values": ["team-a"]})),
                "{hook:#}"
            );
        }
    }
    let config = rendered_config(&objects, "demo-sluice")?;
    assert_eq!(config.instance_id.as_deref(), Some("team-a"));
    assert_eq!(config.parallelism, Some(20));

    // cert-manager with the chart's own CA.
    let objects = render_ci("demo", "sluice", "cert-manager-values.yaml")?;
    assert!(of_kind(&objects, "Secret").is_empty());
    assert_eq!(of_kind(&objects, "Issuer").len(), 2);
    let certificate = find(&objects, "Certificate", "demo-sluice-webhook");
    assert_eq!(certificate["spec"]["secretName"], "demo-sluice-webhook-tls");
    assert_eq!(certificate["spec"]["issuerRef"]["name"], "demo-sluice-ca");
    assert_eq!(
        certificate["spec"]["dnsNames"][0],
        "demo-sluice-webhook.sluice.svc"
    );
    for kind in [
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    ] {
        let configuration = &of_kind(&objects, kind)[0];
        assert_eq!(
            configuration["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
            "sluice/demo-sluice-webhook"
        );
    }
    let hooks = webhooks(&objects);
    assert!(
        hooks
            .iter()
            .all(|w| w["clientConfig"].get("caBundle").is_none())
    );
    assert!(
        hooks
            .iter()
            .any(|w| w["clientConfig"]["service"]["path"] == "/mutate-pods"),
        "executorInjection webhook: the pods webhook"
    );

    // Two replicas of each, a ClusterIssuer of the user's.
    let objects = render_ci("demo", "sluice", "ha-values.yaml")?;
    for name in ["demo-sluice-controller", "demo-sluice-webhook"] {
        let deployment = find(&objects, "Deployment", name);
        assert_eq!(deployment["spec"]["replicas"], 2);
        // A drain keeps one of each.
        let budget = find(&objects, "PodDisruptionBudget", name);
        assert_eq!(budget["spec"]["minAvailable"], 1);
        assert_eq!(budget["spec"]["selector"], deployment["spec"]["selector"]);
    }
    assert!(of_kind(&objects, "Issuer").is_empty());
    let certificate = find(&objects, "Certificate", "demo-sluice-webhook");
    assert_eq!(
        certificate["spec"]["issuerRef"],
        json!({"name": "company-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"})
    );
    let config = rendered_config(&objects, "demo-sluice")?;
    let bucket = config
        .artifact_repository
        .as_ref()
        .and_then(|r| r.s3.as_ref())
        .and_then(|s| s.bucket.clone());
    assert_eq!(bucket.as_deref(), Some("workflows"));
    assert!(config.workflow_defaults.is_some());
    let executor = config.executor.as_ref().context("executor")?;
    assert_eq!(
        (
            executor.str_field("image"),
            executor.value()["resources"]["requests"]["cpu"].as_str()
        ),
        (
            Some(format!("ghcr.io/sluice-dev/sluice:{}", app_version()?).as_str()),
            Some("10m")
        )
    );

    let objects = render_ci("demo", "sluice", "monitoring-values.yaml")?;
    assert_eq!(of_kind(&objects, "Deployment").len(), 2);
    Ok(())
}

#[test]
fn chart_rejects_bad_values_with_their_path() -> Result<()> {
    let cases: [(&str, &str); 8] = [
        (
            "controller.replicas=two",
            "at '/controller/replicas': got string, want integer",
        ),
        (
            "config.executorInjection=pods",
            "at '/config/executorInjection': value must be one of 'controller', 'webhook'",
        ),
        ("replicas=2", "additional properties 'replicas' not allowed"),
        (
            "controller.leaderElection.enabled=false,controller.replicas=2",
            "at '/controller/replicas': maximum: got 2, want 1",
        ),
        (
            "webhook.failurePolicy=Never",
            "at '/webhook/failurePolicy': value must be one of 'Fail', 'Ignore'",
        ),
        (
            "watchNamespace=Team_A",
            "at '/watchNamespace': 'Team_A' does not match pattern",
        ),
        (
            "certManager.issuerRef.kind=Vault",
            "at '/certManager/issuerRef/kind': value must be one of 'Issuer', 'ClusterIssuer'",
        ),
        (
            "config.namespace=x",
            "config.namespace: the chart sets the controller's namespace; use `namespaced: true` and `watchNamespace` instead",
        ),
    ];
    for (set, message) in cases {
        let err = template("demo", "sluice", &["--set", set])
            .err()
            .with_context(|| format!("--set {set} was accepted"))?;
        ensure!(
            err.to_string().contains(message),
            "--set {set}: expected {message:?} in:\n{err}"
        );
    }
    Ok(())
}

/// kubectl with the test server's admin kubeconfig, `stdin` as input: its
/// output, or an error with what it printed.
pub(crate) fn kubectl(args: &[&str], stdin: &str) -> Result<String> {
    let output = chart::kubectl(shared_apiserver().kubeconfig(), args, stdin.as_bytes())?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "kubectl {}: {}\n{stdout}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(stdout)
}

/// Creates or updates the objects of a manifest text for real (server-side
/// apply).
pub(crate) fn apply(manifests: &str) -> Result<String> {
    kubectl(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            FIELD_MANAGER,
            "-f",
            "-",
        ],
        manifests,
    )
}

/// A CRD that accepts any object of its kind: enough to dry-run the
/// chart's ServiceMonitor, PrometheusRule, Certificate and Issuer.
fn minimal_crd(group: &str, kind: &str, plural: &str) -> Result<CustomResourceDefinition> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{group}")},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase(),
                      "listKind": format!("{kind}List")},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object",
                    "x-kubernetes-preserve-unknown-fields": true}}}]
        }
    }))?)
}

async fn install_foreign_crds(client: &kube::Client) -> Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let wanted = [
        ("monitoring.coreos.com", "ServiceMonitor", "servicemonitors"),
        ("monitoring.coreos.com", "PrometheusRule", "prometheusrules"),
        ("cert-manager.io", "Certificate", "certificates"),
        ("cert-manager.io", "Issuer", "issuers"),
    ];
    for (group, kind, plural) in wanted {
        let crd = minimal_crd(group, kind, plural)?;
        let name = format!("{plural}.{group}");
        crds.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&crd),
        )
        .await?;
        poll_until(
            &format!("{name} to be established"),
            WAIT_TIMEOUT,
            || async {
                let crd = crds.get(&name).await.ok()?;
                crd.status?
                    .conditions?
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
                    .then_some(())
            },
        )
        .await?;
    }
    // Established comes slightly before the resources are served.
    poll_until("the foreign kinds to be served", WAIT_TIMEOUT, || async {
        kubectl(
            &[
                "get",
                "servicemonitors,prometheusrules,certificates,issuers",
                "-A",
            ],
            "",
        )
        .ok()
    })
    .await?;
    Ok(())
}

async fn ensure_namespace(client: &kube::Client, name: &str) -> Result<()> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    match namespaces.create(&PostParams::default(), &namespace).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[tokio::test]
async fn chart_manifests_pass_a_server_side_dry_run() -> Result<()> {
    let started = Instant::now();
    let client = shared_apiserver().client().await?;
    install_crds(&client).await?;
    install_foreign_crds(&client).await?;
    // The namespaces of charts/sluice/ci/namespaced-values.yaml.
    for name in ["workflows", "workflows-batch"] {
        ensure_namespace(&client, name).await?;
    }
    let mut runs = vec![None];
    runs.extend(CI_VALUES.iter().map(|f| Some(*f)));
    for run in runs {
        let namespace = create_namespace(&client, "chart-dry").await?;
        let values = run.map(ci_file);
        // The CRDs once (they are the same in every run, and large).
        let mut args = Vec::new();
        match &values {
            Some(values) => args.extend(["--values", values.as_str()]),
            None => args.push("--include-crds"),
        }
        let text = chart::template_text("dry", &namespace, &args)?;
        let objects = chart::parse_manifests(&text).map_err(anyhow::Error::msg)?;
        let out = kubectl(
            &[
                "apply",
                "--server-side",
                "--dry-run=server",
                "--field-manager",
                FIELD_MANAGER,
                "-f",
                "-",
            ],
            &text,
        )
        .with_context(|| format!("values {run:?}"))?;
        let accepted = out
            .lines()
            .filter(|l| l.ends_with("(server dry run)"))
            .count();
        assert_eq!(accepted, objects.len(), "values {run:?}:\n{out}");
    }
    eprintln!(
        "chart_manifests_pass_a_server_side_dry_run: {:?}",
        started.elapsed()
    );
    Ok(())
}

/// Without cert-manager, an upgrade keeps the certificate of the install:
/// helm's `lookup` finds the Secret, and the caBundle still matches it.
#[tokio::test]
async fn chart_upgrades_keep_the_webhook_certificate() -> Result<()> {
    let client = shared_apiserver().client().await?;
    let namespace = create_namespace(&client, "chart-cert").await?;
    let kubeconfig = shared_apiserver().kubeconfig().display().to_string();
    let secret_only = ["--show-only", "templates/webhook-certificates.yaml"];
    let rendered = template("demo", &namespace, &secret_only)?;
    let mut installed = find(&rendered, "Secret", "demo-sluice-webhook-tls").clone();
    // As `helm install` leaves it: owned by the release.
    installed["metadata"]["annotations"] = json!({
        "meta.helm.sh/release-name": "demo",
        "meta.helm.sh/release-namespace": namespace,
    });
    apply(&installed.to_string())?;
    // A render that cannot look (client-side) makes a new CA each time.
    let offline = template("demo", &namespace, &[])?;
    let offline = find(&offline, "Secret", "demo-sluice-webhook-tls");
    assert_ne!(offline["data"], installed["data"]);
    // An upgrade looks the Secret up.
    let upgrade = template(
        "demo",
        &namespace,
        &["--dry-run=server", "--kubeconfig", &kubeconfig],
    )?;
    let secret = find(&upgrade, "Secret", "demo-sluice-webhook-tls");
    assert_eq!(secret["data"], installed["data"]);
    let hooks = webhooks(&upgrade);
    assert!(!hooks.is_empty());
    for hook in hooks {
        assert_eq!(
            hook["clientConfig"]["caBundle"],
            installed["data"]["ca.crt"]
        );
    }
    Ok(())
}
