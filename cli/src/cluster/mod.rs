//! The cluster verbs: `sluice submit|list|get|logs|watch|...` against the
//! API server of the user's kubeconfig, as kubectl finds it
//! (`$KUBECONFIG`, `~/.kube/config`, in-cluster), with `--context` and
//! `--namespace` (default: the context's namespace).
//!
//! Verbs that change a workflow never write its status: they append the
//! engine's [`Intent`]s to the annotation the controller consumes.

mod intents;
mod logs;
mod templates;
mod workflows;

use std::process::ExitCode;

use anyhow::anyhow;
use kube::api::{Api, DynamicObject};
use kube::config::KubeConfigOptions;
use serde_json::Value;
use sluice_api::types::Workflow;
use sluice_engine::run::{Intent, expand_nodes};

pub use intents::node_selector;
pub use logs::LogsArgs;
pub use templates::{CronCommand, TemplateCommand};
pub use workflows::{DeleteArgs, ListArgs, SubmitArgs};

/// Where the cluster is: kubeconfig context and namespace.
#[derive(Debug, Default, clap::Args)]
pub struct ClusterArgs {
    /// The namespace (default: the kubeconfig context's, else `default`).
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// The kubeconfig context (default: the current context).
    #[arg(long, global = true)]
    pub context: Option<String>,
}

/// A client and the namespace the verb acts in.
#[derive(Clone)]
pub struct Cluster {
    pub client: kube::Client,
    pub namespace: String,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    pub async fn connect(args: &ClusterArgs) -> anyhow::Result<Self> {
        // kube and the S3 driver use rustls with ring; once per process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = match &args.context {
            Some(context) => {
                let options = KubeConfigOptions {
                    context: Some(context.clone()),
                    ..KubeConfigOptions::default()
                };
                kube::Config::from_kubeconfig(&options)
                    .await
                    .map_err(|e| anyhow!("kubeconfig context {context}: {e}"))?
            }
            None => kube::Config::infer()
                .await
                .map_err(|e| anyhow!("no cluster configuration (kubeconfig): {e}"))?,
        };
        let namespace = args
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let client = kube::Client::try_from(config).map_err(|e| anyhow!("kube client: {e}"))?;
        Ok(Cluster { client, namespace })
    }

    /// One of our kinds in the namespace.
    pub fn api(&self, kind: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), &self.namespace, &resource(kind))
    }

    pub fn workflows(&self) -> Api<DynamicObject> {
        self.api("Workflow")
    }

    /// The workflow `name`, or "workflow NAME not found in namespace NS".
    pub async fn workflow(&self, name: &str) -> anyhow::Result<DynamicObject> {
        self.workflows()
            .get(name)
            .await
            .map_err(|e| self.error(e, "workflow", name))
    }

    /// An API error, readably: "KIND NAME not found in namespace NS", or
    /// the server's message with the causes it lists (webhook rejections
    /// name the fields there).
    pub fn error(&self, error: kube::Error, kind: &str, name: &str) -> anyhow::Error {
        api_error(error, kind, name, &self.namespace)
    }
}

pub fn api_error(error: kube::Error, kind: &str, name: &str, namespace: &str) -> anyhow::Error {
    let what = if name.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind} {name}")
    };
    let kube::Error::Api(status) = &error else {
        return anyhow!("{what}: {error}");
    };
    if status.code == 404 && name.is_empty() {
        // A list of a kind the server does not serve.
        return anyhow!(
            "{what}: the API server does not serve it; are Sluice's CRDs installed? (`sluice crds | kubectl apply --server-side -f -`)"
        );
    }
    if status.code == 404 {
        return anyhow!("{what} not found in namespace {namespace}");
    }
    let mut text = format!("{what}: ");
    if status.message.is_empty() {
        text.push_str(&format!("{} ({})", status.reason, status.code));
    } else {
        text.push_str(&status.message);
    }
    // One line per cause (a webhook's rejection lists every field there).
    for cause in status.details.iter().flat_map(|d| &d.causes) {
        match (cause.field.is_empty(), cause.message.is_empty()) {
            (_, true) => {}
            (true, false) => text.push_str(&format!("\n  {}", cause.message)),
            (false, false) => text.push_str(&format!("\n  {}: {}", cause.field, cause.message)),
        }
    }
    anyhow!(text)
}

/// The API resource of one of our kinds.
pub use sluice_api::crd::api_resource as resource;

/// A stored workflow as the typed Workflow, nodes decompressed.
pub fn typed(object: &DynamicObject) -> anyhow::Result<Workflow> {
    let value = serde_json::to_value(object)?;
    let mut wf: Workflow =
        serde_json::from_value(value).map_err(|e| anyhow!("reading the stored workflow: {e}"))?;
    expand_nodes(&mut wf).map_err(|e| anyhow!("status.compressedNodes: {e}"))?;
    Ok(wf)
}

/// Reads a manifest file (`-` for stdin) and checks it as `sluice lint`
/// does: its name and objects, or the errors at `file:line:col` after
/// `outcome` ("not submitted").
fn read_checked(
    file: &std::path::Path,
    outcome: &str,
) -> anyhow::Result<(String, Vec<sluice_api::types::Object>)> {
    use anyhow::Context as _;
    let (name, text) = if file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).context("reading stdin")?;
        ("<stdin>".to_owned(), text)
    } else {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(file).with_context(|| name.clone())?;
        (name, text)
    };
    let (findings, objects) = crate::lint::check_text(&name, &text, &sluice_api::Config::default());
    let errors: Vec<_> = findings
        .into_iter()
        .filter(|f| f.severity == sluice_api::validate::Severity::Error)
        .collect();
    if !errors.is_empty() {
        let text = crate::report::render(&errors, crate::report::Format::Text)?;
        anyhow::bail!("{name}: {outcome}:\n{}", text.trim_end());
    }
    Ok((name, objects))
}

/// `-o json|yaml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Yaml,
}

/// A value as JSON or YAML text.
pub fn format(value: &impl serde::Serialize, format: Format) -> anyhow::Result<String> {
    Ok(match format {
        Format::Json => {
            let mut text = serde_json::to_string_pretty(value)?;
            text.push('\n');
            text
        }
        Format::Yaml => serde_yaml_ng::to_string(value)?,
    })
}

/// The verbs, as `main` hands them over.
#[derive(Debug)]
pub enum Verb<'a> {
    Submit(&'a SubmitArgs),
    List(&'a ListArgs),
    Get {
        name: &'a str,
        output: Option<Format>,
    },
    Logs {
        name: &'a str,
        args: &'a LogsArgs,
    },
    Watch(&'a str),
    Intent {
        name: &'a str,
        intent: Intent,
    },
    Resubmit(&'a str),
    Delete(&'a DeleteArgs),
    Template(&'a TemplateCommand),
    Cron(&'a CronCommand),
}

/// Runs a verb on its own runtime.
pub fn run(args: &ClusterArgs, verb: Verb<'_>) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let cluster = Cluster::connect(args).await?;
        match verb {
            Verb::Submit(args) => workflows::submit(&cluster, args).await,
            Verb::List(args) => workflows::list(&cluster, args).await,
            Verb::Get { name, output } => workflows::get(&cluster, name, output).await,
            Verb::Logs { name, args } => logs::logs(&cluster, name, args).await,
            Verb::Watch(name) => workflows::watch(&cluster, name).await,
            Verb::Intent { name, intent } => {
                intents::append(&cluster, name, &intent).await?;
                println!("workflow {name}: {} requested", intent_verb(&intent));
                Ok(ExitCode::SUCCESS)
            }
            Verb::Resubmit(name) => workflows::resubmit(&cluster, name).await,
            Verb::Delete(args) => workflows::delete(&cluster, args).await,
            Verb::Template(command) => templates::template(&cluster, command).await,
            Verb::Cron(command) => templates::cron(&cluster, command).await,
        }
    })
}

fn intent_verb(intent: &Intent) -> &'static str {
    match intent {
        Intent::Resume { .. } => "resume",
        Intent::Suspend => "suspend",
        Intent::Stop { .. } => "stop",
        Intent::Terminate { .. } => "terminate",
        Intent::Retry { .. } => "retry",
    }
}

/// `metadata.creationTimestamp` of an object, as text.
fn created(value: &Value) -> Option<&str> {
    value
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(value: serde_json::Value) -> kube::Error {
        kube::Error::Api(Box::new(serde_json::from_value(value).expect("status")))
    }

    #[test]
    fn api_errors_read_plainly() {
        let missing = status(serde_json::json!({"code": 404, "reason": "NotFound",
            "message": "workflows.argoproj.io \"x\" not found"}));
        assert_eq!(
            api_error(missing, "workflow", "x", "ns").to_string(),
            "workflow x not found in namespace ns"
        );
        let rejected = status(serde_json::json!({"code": 422, "reason": "Invalid",
            "message": "admission webhook \"validate.sluice.dev\" denied the request: Workflow \"x\" is invalid (2 problems): spec.entrypoint: not defined; spec.templates[0]: no type",
            "details": {"causes": [
                {"field": "spec.entrypoint", "message": "not defined"},
                {"field": "spec.templates[0]", "message": "no type"}]}}));
        assert_eq!(
            api_error(rejected, "workflow", "x", "ns").to_string(),
            "workflow x: admission webhook \"validate.sluice.dev\" denied the request: Workflow \"x\" is invalid (2 problems): spec.entrypoint: not defined; spec.templates[0]: no type\n  spec.entrypoint: not defined\n  spec.templates[0]: no type"
        );
        let unserved = status(serde_json::json!({"code": 404, "reason": "NotFound"}));
        assert!(
            api_error(unserved, "listing workflows", "", "ns")
                .to_string()
                .starts_with("listing workflows: the API server does not serve it; are Sluice's CRDs installed?")
        );
        let bare = status(serde_json::json!({"code": 500, "reason": "InternalError"}));
        assert_eq!(
            api_error(bare, "listing workflows", "", "ns").to_string(),
            "listing workflows: InternalError (500)"
        );
    }
}
