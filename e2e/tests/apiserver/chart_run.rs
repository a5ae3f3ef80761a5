//! The chart's controller and webhook containers run as rendered: the
//! binaries with the Deployment's command, args and env, as the chart's
//! service accounts (impersonated) with only the chart's RBAC, the Config
//! ConfigMap laid out as the kubelet mounts it, the webhook's Secret as its
//! files. Only what a pod gets from its node is stood in: listen addresses
//! on 127.0.0.1 (free ports), /etc/sluice/ under a temporary directory,
//! POD_NAME.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, Result, ensure};
use k8s_openapi::ByteString;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, DynamicObject, PostParams};
use serde_json::{Value, json};
use sluice_e2e::chart::{self, find, of_kind};
use sluice_e2e::{WAIT_TIMEOUT, api_resource, install_crds, poll_until, shared_apiserver};

use super::{create_namespace, workspace_binary};
use crate::chart::apply;

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The admin kubeconfig acting as `user` (kubeconfig's `as`).
fn kubeconfig_as(dir: &Path, user: &str) -> Result<PathBuf> {
    let text = std::fs::read_to_string(shared_apiserver().kubeconfig())?;
    let mut config: Value = serde_yaml_ng::from_str(&text)?;
    for entry in config["users"].as_array_mut().context("kubeconfig users")? {
        entry["user"]["as"] = json!(user);
    }
    let path = dir.join(format!("kubeconfig-{}", user.replace(':', "-")));
    std::fs::write(&path, serde_yaml_ng::to_string(&config)?)?;
    Ok(path)
}

/// Writes `files` as the kubelet mounts a ConfigMap or Secret volume: a
/// timestamped directory, `..data` linking to it, one link per key.
fn mount(dir: &Path, files: &BTreeMap<String, Vec<u8>>) -> Result<()> {
    let stamped = dir.join("..2026_11_23_21_00_00.000000001");
    std::fs::create_dir_all(&stamped)?;
    for (key, content) in files {
        std::fs::write(stamped.join(key), content)?;
    }
    std::os::unix::fs::symlink(&stamped, dir.join("..data"))?;
    for key in files.keys() {
        std::os::unix::fs::symlink(format!("..data/{key}"), dir.join(key))?;
    }
    Ok(())
}

/// A process of one container, killed when dropped; its output in `log`.
struct Container {
    child: tokio::process::Child,
    log: PathBuf,
}

impl Container {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Starts the first container of `deployment` as the chart renders it:
/// `/etc/sluice/` is `root`, each `0.0.0.0:PORT` a free port on 127.0.0.1
/// (returned by the rendered port), `metadata.name` is `pod`.
fn start(
    deployment: &Value,
    root: &Path,
    kubeconfig: &Path,
    pod: &str,
) -> Result<(Container, BTreeMap<u16, u16>)> {
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let command = container["command"][0].as_str().context("command")?;
    let mut ports = BTreeMap::new();
    let mut args = Vec::new();
    for arg in container["args"].as_array().into_iter().flatten() {
        let mut arg = arg.as_str().context("args are text")?.to_owned();
        arg = arg.replace("/etc/sluice/", &format!("{}/", root.display()));
        if let Some((flag, port)) = arg.split_once("=0.0.0.0:") {
            let port: u16 = port.parse()?;
            let local = free_port()?;
            ports.insert(port, local);
            arg = format!("{flag}=127.0.0.1:{local}");
        }
        args.push(arg);
    }
    let log = root.join(format!("{command}.log"));
    let output = File::create(&log)?;
    let mut process = tokio::process::Command::new(workspace_binary(command)?);
    process
        .args(&args)
        .env_clear()
        .env("KUBECONFIG", kubeconfig)
        .kill_on_drop(true);
    // Debug builds need the larger thread stacks of .cargo/config.toml
    // (release builds, as in the image, do not).
    if let Some(stack) = std::env::var_os("RUST_MIN_STACK") {
        process.env("RUST_MIN_STACK", stack);
    }
    process
        .stdin(Stdio::null())
        .stdout(output.try_clone()?)
        .stderr(output);
    for variable in container["env"].as_array().into_iter().flatten() {
        let name = variable["name"].as_str().context("env name")?;
        let value = match variable.get("value") {
            Some(value) => value.as_str().context("env value")?.to_owned(),
            None if variable["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name" => {
                pod.to_owned()
            }
            None => anyhow::bail!("env {name}: no value the test can give"),
        };
        process.env(name, value);
    }
    let child = process.spawn().with_context(|| command.to_owned())?;
    Ok((Container { child, log }, ports))
}

/// The HTTP status of GET `path` on 127.0.0.1:`port`, if it answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}

async fn wait_ready(container: &mut Container, port: u16) -> Result<()> {
    let ready = poll_until("/readyz to answer 200", WAIT_TIMEOUT, || async {
        (http_status(port, "/readyz") == Some(200)).then_some(())
    })
    .await;
    if let Ok(Some(status)) = container.child.try_wait() {
        anyhow::bail!("exited ({status}):\n{}", container.log());
    }
    ready.with_context(|| container.log())
}

#[tokio::test]
async fn chart_containers_run_as_rendered() -> Result<()> {
    let client = shared_apiserver().client().await?;
    install_crds(&client).await?;
    let namespace = create_namespace(&client, "chart-run").await?;
    // Namespaced mode: this controller must not run other tests' workflows.
    let watch = format!("watchNamespace={namespace}");
    let values = [
        "--set",
        "namespaced=true",
        "--set",
        watch.as_str(),
        "--set",
        "config.parallelism=5",
    ];
    let objects = chart::template(&namespace, &namespace, &values)?;
    let rbac: Vec<Value> = objects
        .iter()
        .filter(|o| {
            matches!(
                o["kind"].as_str(),
                Some(
                    "ServiceAccount"
                        | "ClusterRole"
                        | "ClusterRoleBinding"
                        | "Role"
                        | "RoleBinding"
                )
            )
        })
        .cloned()
        .collect();
    let text: Vec<String> = rbac.iter().map(Value::to_string).collect();
    apply(&text.join("\n"))?;
    let dir = tempfile::tempdir()?;
    let fullname = namespace.clone();

    // The ConfigMap and the Secret, mounted.
    let configmap = find(&objects, "ConfigMap", &format!("{fullname}-config"));
    let config: BTreeMap<String, Vec<u8>> = configmap["data"]
        .as_object()
        .context("ConfigMap data")?
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().unwrap_or_default().as_bytes().to_vec(),
            )
        })
        .collect();
    ensure!(config.contains_key("parallelism"), "{config:?}");
    mount(&dir.path().join("config"), &config)?;
    let secret = find(&objects, "Secret", &format!("{fullname}-webhook-tls"));
    let mut tls = BTreeMap::new();
    for key in ["tls.crt", "tls.key", "ca.crt"] {
        let bytes: ByteString = serde_json::from_value(secret["data"][key].clone())?;
        tls.insert(key.to_owned(), bytes.0);
    }
    mount(&dir.path().join("tls"), &tls)?;

    // The controller leads and runs a workflow.
    let account = |name: &str| format!("system:serviceaccount:{namespace}:{fullname}-{name}");
    let controller = find(&objects, "Deployment", &format!("{fullname}-controller"));
    let kubeconfig = kubeconfig_as(dir.path(), &account("controller"))?;
    let (mut running, ports) = start(controller, dir.path(), &kubeconfig, "controller-0")?;
    let admin = *ports.values().next().context("the admin port")?;
    wait_ready(&mut running, admin).await?;
    let leases: Api<Lease> = Api::namespaced(client.clone(), &namespace);
    let lease = format!("{fullname}-controller");
    poll_until("the controller to lead", WAIT_TIMEOUT, || async {
        let holder = leases.get(&lease).await.ok()?.spec?.holder_identity?;
        (holder == "controller-0").then_some(())
    })
    .await
    .with_context(|| running.log())?;
    let _kubelet = sluice_e2e::kubelet::kubelet(&client, &namespace);
    let workflows: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &namespace, &api_resource("Workflow"));
    let workflow: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
        "metadata": {"name": "hello", "namespace": namespace},
        "spec": {"entrypoint": "main", "templates": [
            {"name": "main", "container": {"image": "sim/exit:0", "command": ["sim"]}}]}
    }))?;
    workflows.create(&PostParams::default(), &workflow).await?;
    poll_until("the workflow to succeed", WAIT_TIMEOUT, || async {
        let wf = workflows.get("hello").await.ok()?;
        (wf.data["status"]["phase"] == "Succeeded").then_some(())
    })
    .await
    .with_context(|| running.log())?;

    // The webhook is ready (certificate loaded, templates listed with its
    // account's rights) and answers the API server's call: its certificate
    // is valid for the Service's name under the configurations' caBundle.
    let webhook = find(&objects, "Deployment", &format!("{fullname}-webhook"));
    let kubeconfig = kubeconfig_as(dir.path(), &account("webhook"))?;
    let (mut running, ports) = start(webhook, dir.path(), &kubeconfig, "webhook-0")?;
    let container = &webhook["spec"]["template"]["spec"]["containers"][0];
    let port_of = |name: &str| {
        container["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == name)
            .and_then(|p| p["containerPort"].as_u64())
            .and_then(|p| u16::try_from(p).ok())
            .and_then(|p| ports.get(&p).copied())
    };
    let admin = port_of("metrics").context("the admin port")?;
    let https = port_of("https").context("the https port")?;
    wait_ready(&mut running, admin).await?;
    let configuration = of_kind(&objects, "ValidatingWebhookConfiguration")[0];
    let client_config = &configuration["webhooks"][0]["clientConfig"];
    let ca: ByteString = serde_json::from_value(client_config["caBundle"].clone())?;
    let ca_file = dir.path().join("ca-bundle.pem");
    std::fs::write(&ca_file, ca.0)?;
    let host = format!(
        "{}.{}.svc",
        client_config["service"]["name"]
            .as_str()
            .context("service")?,
        namespace
    );
    let review = json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "0b7c6f7e-1111-4222-8333-444455556666",
            "kind": {"group": "argoproj.io", "version": "v1alpha1", "kind": "Workflow"},
            "resource": {"group": "argoproj.io", "version": "v1alpha1", "resource": "workflows"},
            "name": "broken", "namespace": namespace, "operation": "CREATE",
            "userInfo": {"username": "someone"},
            "object": {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                "metadata": {"name": "broken", "namespace": namespace},
                "spec": {"entrypoint": "nowhere", "templates": [{"name": "main"}]}}
        }
    });
    let path = client_config["service"]["path"].as_str().context("path")?;
    let output = tokio::process::Command::new("curl")
        .args(["--silent", "--show-error", "--fail", "--cacert"])
        .arg(&ca_file)
        .arg("--resolve")
        .arg(format!("{host}:{https}:127.0.0.1"))
        .args(["-H", "Content-Type: application/json", "--data-binary"])
        .arg(review.to_string())
        .arg(format!("https://{host}:{https}{path}"))
        .output()
        .await
        .context("curl on PATH")?;
    ensure!(
        output.status.success(),
        "curl: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        running.log()
    );
    let answer: Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!(answer["response"]["allowed"], false, "{answer:#}");
    assert!(
        answer["response"]["status"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("nowhere")),
        "{answer:#}"
    );
    Ok(())
}
