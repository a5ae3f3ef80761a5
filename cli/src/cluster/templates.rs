//! `sluice template list|get|create` (WorkflowTemplates, or with `--cluster`
//! ClusterWorkflowTemplates) and `sluice cron list|get|create|suspend|resume`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::bail;
use chrono::Utc;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::workflows::{age, table};
use super::{Cluster, Format, format, resource};
use crate::report;

#[derive(Debug, clap::Subcommand)]
pub enum TemplateCommand {
    /// List the WorkflowTemplates of the namespace.
    List {
        /// ClusterWorkflowTemplates instead.
        #[arg(long)]
        cluster: bool,
    },
    /// Print a WorkflowTemplate.
    Get {
        name: String,
        /// A ClusterWorkflowTemplate instead.
        #[arg(long)]
        cluster: bool,
        #[arg(short = 'o', long, default_value = "yaml")]
        output: Format,
    },
    /// Validate and create the WorkflowTemplates and ClusterWorkflowTemplates of a file.
    Create { file: PathBuf },
}

#[derive(Debug, clap::Subcommand)]
pub enum CronCommand {
    /// List the CronWorkflows of the namespace.
    List,
    /// Print a CronWorkflow.
    Get {
        name: String,
        #[arg(short = 'o', long, default_value = "yaml")]
        output: Format,
    },
    /// Validate and create the CronWorkflows of a file.
    Create { file: PathBuf },
    /// Stop scheduling runs (`spec.suspend: true`).
    Suspend { name: String },
    /// Schedule runs again (`spec.suspend: false`).
    Resume { name: String },
}

/// The API of a kind: namespaced, or cluster-wide for ClusterWorkflowTemplates.
fn api(cluster: &Cluster, kind: &str) -> Api<DynamicObject> {
    if kind == "ClusterWorkflowTemplate" {
        Api::all_with(cluster.client.clone(), &resource(kind))
    } else {
        cluster.api(kind)
    }
}

fn template_kind(cluster_scope: bool) -> &'static str {
    if cluster_scope {
        "ClusterWorkflowTemplate"
    } else {
        "WorkflowTemplate"
    }
}

pub async fn template(cluster: &Cluster, command: &TemplateCommand) -> anyhow::Result<ExitCode> {
    match command {
        TemplateCommand::List { cluster: scope } => {
            let kind = template_kind(*scope);
            let items = list(cluster, kind).await?;
            let now = Utc::now();
            let rows: Vec<Vec<String>> = items.iter().map(|t| vec![name(t), age(t, now)]).collect();
            print_table(cluster, kind, &["NAME", "AGE"], &rows)
        }
        TemplateCommand::Get {
            name,
            cluster: scope,
            output,
        } => get(cluster, template_kind(*scope), name, *output).await,
        TemplateCommand::Create { file } => {
            create(
                cluster,
                file,
                &["WorkflowTemplate", "ClusterWorkflowTemplate"],
                "sluice template create",
            )
            .await
        }
    }
}

pub async fn cron(cluster: &Cluster, command: &CronCommand) -> anyhow::Result<ExitCode> {
    const KIND: &str = "CronWorkflow";
    match command {
        CronCommand::List => {
            let items = list(cluster, KIND).await?;
            let now = Utc::now();
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|c| {
                    let spec = &c["spec"];
                    let schedule = match spec["schedules"].as_array() {
                        Some(all) if !all.is_empty() => all
                            .iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(","),
                        _ => spec["schedule"].as_str().unwrap_or_default().to_owned(),
                    };
                    let last = c["status"]["lastScheduledTime"]
                        .as_str()
                        .map(|t| age(&json!({"metadata": {"creationTimestamp": t}}), now))
                        .unwrap_or_else(|| "N/A".into());
                    vec![
                        name(c),
                        age(c, now),
                        last,
                        schedule,
                        spec["suspend"].as_bool().unwrap_or(false).to_string(),
                    ]
                })
                .collect();
            print_table(
                cluster,
                KIND,
                &["NAME", "AGE", "LAST RUN", "SCHEDULE", "SUSPENDED"],
                &rows,
            )
        }
        CronCommand::Get { name, output } => get(cluster, KIND, name, *output).await,
        CronCommand::Create { file } => create(cluster, file, &[KIND], "sluice cron create").await,
        CronCommand::Suspend { name } => set_suspend(cluster, name, true).await,
        CronCommand::Resume { name } => set_suspend(cluster, name, false).await,
    }
}

fn name(value: &Value) -> String {
    value["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn list(cluster: &Cluster, kind: &str) -> anyhow::Result<Vec<Value>> {
    let list = api(cluster, kind)
        .list(&ListParams::default())
        .await
        .map_err(|e| cluster.error(e, &format!("listing {}s", kind.to_lowercase()), ""))?;
    let mut items: Vec<Value> = list
        .items
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()?;
    items.sort_by_key(name);
    Ok(items)
}

fn print_table(
    cluster: &Cluster,
    kind: &str,
    header: &[&str],
    rows: &[Vec<String>],
) -> anyhow::Result<ExitCode> {
    if rows.is_empty() {
        if kind == "ClusterWorkflowTemplate" {
            eprintln!("No {kind}s found.");
        } else {
            eprintln!("No {kind}s found in namespace {}.", cluster.namespace);
        }
    } else {
        report::write_stdout(&table(header, rows))?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn get(
    cluster: &Cluster,
    kind: &str,
    name: &str,
    output: Format,
) -> anyhow::Result<ExitCode> {
    let object = api(cluster, kind).get(name).await.map_err(|e| match e {
        kube::Error::Api(s) if s.code == 404 && kind == "ClusterWorkflowTemplate" => {
            anyhow::anyhow!("clusterworkflowtemplate {name} not found")
        }
        e => cluster.error(e, &kind.to_lowercase(), name),
    })?;
    let mut value = serde_json::to_value(&object)?;
    if let Some(metadata) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
    }
    report::write_stdout(&format(&value, output)?)?;
    Ok(ExitCode::SUCCESS)
}

/// Validates a file as `sluice lint` does and creates its objects of the
/// `kinds` given.
async fn create(
    cluster: &Cluster,
    file: &Path,
    kinds: &[&str],
    verb: &str,
) -> anyhow::Result<ExitCode> {
    let (name, objects) = super::read_checked(file, "nothing created")?;
    if objects.is_empty() {
        bail!("{name}: no {} in it", kinds.join(" or "));
    }
    if let Some(other) = objects.iter().find(|o| !kinds.contains(&o.kind())) {
        bail!(
            "{name}: `{verb}` creates {}, not a {}",
            kinds.join(" and "),
            other.kind()
        );
    }
    for object in &objects {
        let kind = object.kind();
        let mut value = object.to_value()?;
        if kind != "ClusterWorkflowTemplate" {
            value["metadata"]["namespace"] = json!(cluster.namespace);
        }
        let wanted = value["metadata"]["name"]
            .as_str()
            .or_else(|| value["metadata"]["generateName"].as_str())
            .unwrap_or_default()
            .to_owned();
        let dynamic: DynamicObject = serde_json::from_value(value)?;
        let created = api(cluster, kind)
            .create(&PostParams::default(), &dynamic)
            .await
            .map_err(|e| cluster.error(e, &kind.to_lowercase(), &wanted))?;
        println!(
            "{} {} created",
            kind.to_lowercase(),
            created.metadata.name.unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn set_suspend(cluster: &Cluster, name: &str, suspend: bool) -> anyhow::Result<ExitCode> {
    cluster
        .api("CronWorkflow")
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"suspend": suspend}})),
        )
        .await
        .map_err(|e| cluster.error(e, "cronworkflow", name))?;
    println!(
        "cronworkflow {name} {}",
        if suspend { "suspended" } else { "resumed" }
    );
    Ok(ExitCode::SUCCESS)
}
