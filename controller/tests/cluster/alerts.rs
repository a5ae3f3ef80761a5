//! The chart's alerts (charts/sluice/templates/prometheusrule.yaml): the
//! rules helm renders pass `promtool check rules` and the unit tests of
//! charts/sluice/tests/alerts_test.yaml, and a real Prometheus scraping a
//! controller that runs a failing workflow fires `SluiceWorkflowsFailing`.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde_json::Value;
use sluice_controller::admin::{self, Admin};
use sluice_e2e::local::workspace_root;
use sluice_e2e::poll_until;

use crate::harness::*;

/// The release the rules are rendered for; alerts_test.yaml's job labels
/// follow from it.
const RELEASE: &str = "sluice";
/// The job the default controller selector matches (the metrics Service's name).
const CONTROLLER_JOB: &str = "sluice-controller-metrics";
/// The runbook base alerts_test.yaml expects.
const RUNBOOK_BASE: &str = "https://sluice.test/README.md";

fn chart_dir() -> PathBuf {
    workspace_root().join("charts/sluice")
}

/// `<workspace>/.tools/bin/helm` (scripts/install-helm), else `helm` on PATH.
fn helm() -> PathBuf {
    let local = workspace_root().join(".tools/bin/helm");
    if local.is_file() {
        local
    } else {
        PathBuf::from("helm")
    }
}

/// Runs `command`, panicking with its output unless it succeeds.
fn run(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e} (is it installed?)"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The PrometheusRule's `spec` (a Prometheus rules file) rendered by helm
/// with the rules enabled and `sets` (`key=value`) on top.
fn rendered_rules(sets: &[&str]) -> String {
    let mut command = Command::new(helm());
    command
        .arg("template")
        .arg(RELEASE)
        .arg(chart_dir())
        .args(["--namespace", "sluice-system"])
        .args(["--show-only", "templates/prometheusrule.yaml"])
        .args(["--set", "monitoring.prometheusRule.enabled=true"])
        .arg("--set")
        .arg(format!(
            "monitoring.prometheusRule.runbookBaseUrl={RUNBOOK_BASE}"
        ));
    for set in sets {
        command.args(["--set", set]);
    }
    let output = run(&mut command);
    let rule: serde_yaml_ng::Value =
        serde_yaml_ng::from_slice(&output.stdout).expect("helm's output is YAML");
    assert_eq!(rule["kind"].as_str(), Some("PrometheusRule"), "{rule:?}");
    serde_yaml_ng::to_string(&rule["spec"]).expect("rules file")
}

/// The alert names of a rules file.
fn alert_names(rules: &str) -> BTreeSet<String> {
    let rules: serde_yaml_ng::Value = serde_yaml_ng::from_str(rules).expect("rules YAML");
    rules["groups"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_sequence().into_iter().flatten())
        .filter_map(|r| r["alert"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn the_chart_rules_pass_promtool_and_their_unit_tests() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = rendered_rules(&[]);
    std::fs::write(dir.path().join("rules.yaml"), &rules).expect("rules.yaml");
    let tests_file = chart_dir().join("tests/alerts_test.yaml");
    let tests = std::fs::read_to_string(&tests_file).expect("alerts_test.yaml");
    std::fs::write(dir.path().join("alerts_test.yaml"), &tests).expect("copy");

    let check = run(Command::new("promtool")
        .args(["check", "rules", "rules.yaml"])
        .current_dir(dir.path()));
    let names = alert_names(&rules);
    let found = format!("SUCCESS: {} rules found", names.len());
    assert!(
        String::from_utf8_lossy(&check.stdout).contains(&found),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    run(Command::new("promtool")
        .args(["test", "rules", "alerts_test.yaml"])
        .current_dir(dir.path()));

    // Every alert is tested firing and not firing, and has its runbook.
    let tests: serde_yaml_ng::Value = serde_yaml_ng::from_str(&tests).expect("tests YAML");
    let cases: Vec<(&str, bool)> = tests["tests"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|t| t["alert_rule_test"].as_sequence().into_iter().flatten())
        .filter_map(|case| {
            let fires = case["exp_alerts"]
                .as_sequence()
                .is_some_and(|a| !a.is_empty());
            Some((case["alertname"].as_str()?, fires))
        })
        .collect();
    let readme = std::fs::read_to_string(chart_dir().join("README.md")).expect("README");
    for name in &names {
        for fires in [true, false] {
            assert!(
                cases.contains(&(name.as_str(), fires)),
                "alerts_test.yaml has no case of {name} {}",
                if fires { "firing" } else { "not firing" }
            );
        }
        assert!(
            readme.lines().any(|l| l == format!("### {name}")),
            "README.md has no runbook section `### {name}`"
        );
    }
    for required in [
        "SluiceWorkflowsFailing",
        "SluiceCronWorkflowMissed",
        "SluiceNoLeader",
        "SluiceControllerDown",
        "SluiceWebhookErrors",
        "SluiceQueueGrowing",
        "SluicePodsPending",
    ] {
        assert!(
            names.contains(required),
            "{required} missing from {names:?}"
        );
    }
}

#[test]
fn for_override_and_extra_labels_reach_every_alert() {
    let rules = rendered_rules(&[
        "monitoring.prometheusRule.forOverride=0s",
        "monitoring.prometheusRule.additionalLabels.team=data",
        "monitoring.prometheusRule.alerts.podsPending.labels.team=infra",
        "monitoring.prometheusRule.alerts.noLeader.enabled=false",
    ]);
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(&rules).expect("rules YAML");
    let alerts: Vec<&serde_yaml_ng::Value> = value["groups"][0]["rules"]
        .as_sequence()
        .expect("rules")
        .iter()
        .collect();
    assert!(!alert_names(&rules).contains("SluiceNoLeader"));
    assert!(!alerts.is_empty());
    for alert in alerts {
        let name = alert["alert"].as_str().unwrap_or_default();
        assert_eq!(alert["for"].as_str(), Some("0s"), "{name}");
        let team = if name == "SluicePodsPending" {
            "infra"
        } else {
            "data"
        };
        assert_eq!(alert["labels"]["team"].as_str(), Some(team), "{name}");
        assert!(alert["labels"]["severity"].as_str().is_some(), "{name}");
        let runbook = alert["annotations"]["runbook_url"]
            .as_str()
            .unwrap_or_default();
        assert_eq!(
            runbook,
            format!("{RUNBOOK_BASE}#{}", name.to_lowercase()),
            "{name}"
        );
    }
}

/// Without `runbookBaseUrl` the runbooks are the chart README at the
/// release's tag under Chart.yaml's `home`; with no `home` either, helm
/// refuses the rules naming the value to set.
#[test]
fn the_runbook_base_defaults_to_the_chart_home_or_is_required() {
    let chart: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(chart_dir().join("Chart.yaml")).expect("Chart.yaml"),
    )
    .expect("Chart.yaml is YAML");
    let output = Command::new(helm())
        .arg("template")
        .arg(RELEASE)
        .arg(chart_dir())
        .args(["--show-only", "templates/prometheusrule.yaml"])
        .args(["--set", "monitoring.prometheusRule.enabled=true"])
        .output()
        .expect("helm");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    match chart["home"].as_str() {
        Some(home) => {
            let version = chart["appVersion"].as_str().expect("appVersion");
            let url = format!(
                "{}/blob/v{version}/charts/sluice/README.md#sluiceworkflowsfailing",
                home.trim_end_matches('/')
            );
            assert!(stdout.contains(&url), "{url} not in:\n{stdout}{stderr}");
        }
        None => {
            assert!(!output.status.success(), "{stdout}");
            assert!(
                stderr.contains("monitoring.prometheusRule.runbookBaseUrl"),
                "{stderr}"
            );
        }
    }
}

/// A free port on 127.0.0.1 (bound and released).
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A Prometheus server on 127.0.0.1, killed when dropped.
struct Prometheus {
    child: Child,
    url: String,
    http: reqwest::Client,
    dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Starts Prometheus scraping `target` (as the controller's job) every
    /// second and evaluating `rules` every second; returns once it is ready.
    async fn start(target: SocketAddr, rules: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("rules.yaml"), rules).expect("rules");
        let config = format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
             rule_files: [rules.yaml]\n\
             scrape_configs:\n\
             - job_name: {CONTROLLER_JOB}\n  \
               honor_labels: true\n  \
               static_configs: [{{targets: ['{target}']}}]\n"
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).expect("config");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log");
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus (Debian package `prometheus`)");
        let prometheus = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            dir,
        };
        let ready = format!("{}/-/ready", prometheus.url);
        let http = &prometheus.http;
        let started = poll_until("Prometheus to be ready", TIMEOUT, || async {
            let response = http.get(&ready).send().await.ok()?;
            response.status().is_success().then_some(())
        })
        .await;
        if let Err(e) = started {
            panic!("{e}; log:\n{}", prometheus.log());
        }
        prometheus
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// `data` of an API answer at `path` (None until it answers `success`).
    async fn api(&self, path: &str, query: &[(&str, &str)]) -> Option<Value> {
        let mut url = reqwest::Url::parse(&format!("{}{path}", self.url)).ok()?;
        url.query_pairs_mut().extend_pairs(query);
        let response = self.http.get(url).send().await.ok()?;
        let body: Value = serde_json::from_slice(&response.bytes().await.ok()?).ok()?;
        (body["status"] == "success").then(|| body["data"].clone())
    }

    /// The value of the one series `query` answers, once there is one.
    async fn value(&self, query: &str) -> Option<f64> {
        let data = self.api("/api/v1/query", &[("query", query)]).await?;
        data["result"][0]["value"][1].as_str()?.parse().ok()
    }

    /// The rule of alert `name`, as the rules API shows it.
    async fn rule(&self, name: &str) -> Option<Value> {
        let data = self.api("/api/v1/rules", &[]).await?;
        let groups = data["groups"].as_array()?;
        groups
            .iter()
            .flat_map(|g| g["rules"].as_array().into_iter().flatten())
            .find(|r| r["name"] == name)
            .cloned()
    }

    /// The active alerts named `name`.
    async fn alerts(&self, name: &str) -> Vec<Value> {
        let data = self.api("/api/v1/alerts", &[]).await.unwrap_or_default();
        data["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["labels"]["alertname"] == name)
            .cloned()
            .collect()
    }

    /// Polls until `probe` answers, panicking with Prometheus' log if it
    /// never does.
    async fn wait<T, Fut>(&self, what: &str, probe: impl FnMut() -> Fut) -> T
    where
        Fut: std::future::Future<Output = Option<T>>,
    {
        match poll_until(what, Duration::from_secs(20), probe).await {
            Ok(found) => found,
            Err(e) => panic!("{e}; Prometheus log:\n{}", self.log()),
        }
    }
}

/// The controller's admin endpoints on 127.0.0.1 (as its binary serves
/// them), stopped when dropped.
struct AdminServer {
    task: tokio::task::JoinHandle<()>,
    addr: SocketAddr,
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn admin_server(controller: &Controller) -> AdminServer {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("admin port");
    let addr = listener.local_addr().expect("admin address");
    let app = admin::router(Admin {
        metrics: Arc::clone(&controller.ctx.metrics),
        ready: Arc::new(AtomicBool::new(true)),
    });
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    AdminServer { task, addr }
}

const PASSES: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: passes}
spec:
  entrypoint: main
  templates:
  - name: main
    container: {image: "sim/exit:0", command: [sim]}
"#;

const FAILS: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: fails}
spec:
  entrypoint: main
  templates:
  - name: main
    container: {image: "sim/exit:1", command: [sim]}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_fires_workflows_failing_when_a_workflow_fails() {
    let client = client().await;
    let ns = namespace(&client, "alerts").await;
    let _kubelet = kubelet(&client, &ns);
    let controller = controller(&client, &ns, None).await;
    let admin = admin_server(&controller).await;
    let rules = rendered_rules(&["monitoring.prometheusRule.forOverride=0s"]);
    let prometheus = Prometheus::start(admin.addr, &rules).await;

    // A workflow that succeeds: the namespace's counters appear at 0.
    let name = submit(&client, &ns, PASSES).await;
    let wf = wait_phase(&client, &ns, &name, &["Succeeded", "Failed", "Error"]).await;
    assert_eq!(wf.data["status"]["phase"], "Succeeded");
    let failed = format!(
        r#"argo_workflows_total_count{{job="{CONTROLLER_JOB}",namespace="{ns}",phase="Failed"}}"#
    );
    prometheus
        .wait("Prometheus to scrape the Failed counter at 0", || async {
            (prometheus.value(&failed).await? == 0.0).then_some(())
        })
        .await;
    // A rule evaluation after that sample: the alert is inactive.
    let seen = chrono::Utc::now();
    let state = prometheus
        .wait("SluiceWorkflowsFailing to be evaluated", || async {
            let rule = prometheus.rule("SluiceWorkflowsFailing").await?;
            let last = chrono::DateTime::parse_from_rfc3339(rule["lastEvaluation"].as_str()?);
            (last.ok()? > seen).then(|| rule["state"].clone())
        })
        .await;
    assert_eq!(state, "inactive", "a succeeded workflow is no failure");

    let name = submit(&client, &ns, FAILS).await;
    let wf = wait_phase(&client, &ns, &name, &["Succeeded", "Failed", "Error"]).await;
    assert_eq!(wf.data["status"]["phase"], "Failed");
    let alert = prometheus
        .wait("SluiceWorkflowsFailing to fire", || async {
            let alerts = prometheus.alerts("SluiceWorkflowsFailing").await;
            alerts.into_iter().find(|a| a["state"] == "firing")
        })
        .await;
    assert_eq!(alert["labels"]["namespace"], ns.as_str(), "{alert:#}");
    assert_eq!(alert["labels"]["severity"], "warning", "{alert:#}");
    assert_eq!(
        alert["annotations"]["runbook_url"],
        format!("{RUNBOOK_BASE}#sluiceworkflowsfailing"),
        "{alert:#}"
    );
}
