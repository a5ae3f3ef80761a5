//! `submit`, `list`, `get`, `watch`, `resubmit`, `delete`.

use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail};
use chrono::{DateTime, Utc};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use serde_json::{Value, json};
use sluice_api::Config;
use sluice_api::types::{Object, Workflow};
use sluice_api::validate::{self, Mode, Severity};
use sluice_engine::run::phase;

use super::{Cluster, Format, created, format, intents::ANNOTATION_INTENTS, resource, typed};
use crate::local::tree;
use crate::report;

/// Labels upstream sets on the workflows it creates from another object.
const LABEL_WORKFLOW_TEMPLATE: &str = "workflows.argoproj.io/workflow-template";
const LABEL_CLUSTER_WORKFLOW_TEMPLATE: &str = "workflows.argoproj.io/cluster-workflow-template";
const LABEL_CRON_WORKFLOW: &str = "workflows.argoproj.io/cron-workflow";
const LABEL_RESUBMITTED_FROM: &str = "workflows.argoproj.io/resubmitted-from-workflow";
const LABEL_COMPLETED: &str = "workflows.argoproj.io/completed";
/// Labels a resubmitted workflow does not inherit (upstream's list).
const NOT_RESUBMITTED: [&str; 6] = [
    "workflows.argoproj.io/creator",
    "workflows.argoproj.io/creator-email",
    "workflows.argoproj.io/creator-preferred-username",
    "workflows.argoproj.io/phase",
    LABEL_COMPLETED,
    "workflows.argoproj.io/workflow-archiving-status",
];

/// `sluice submit`.
#[derive(Debug, clap::Args)]
pub struct SubmitArgs {
    /// The Workflow manifest (`-` for stdin).
    #[arg(required_unless_present = "from", conflicts_with = "from")]
    pub file: Option<PathBuf>,
    /// Set a workflow argument: NAME=VALUE (repeatable).
    #[arg(short = 'p', long = "parameter", value_name = "NAME=VALUE")]
    pub parameters: Vec<String>,
    /// Follow the workflow until it ends: exit 0 when it succeeds, 1 otherwise.
    #[arg(long, short = 'w')]
    pub watch: bool,
    /// Submit from an object in the cluster: workflowtemplate/NAME,
    /// clusterworkflowtemplate/NAME or cronworkflow/NAME.
    #[arg(long, value_name = "KIND/NAME")]
    pub from: Option<String>,
    #[command(flatten)]
    pub cluster: super::ClusterArgs,
}

/// `sluice list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only workflows that have not completed.
    #[arg(long, conflicts_with = "completed")]
    pub running: bool,
    /// Only completed workflows.
    #[arg(long)]
    pub completed: bool,
    /// A label selector (`key=value,other!=x`).
    #[arg(short = 'l', long = "selector")]
    pub selector: Option<String>,
    #[command(flatten)]
    pub cluster: super::ClusterArgs,
}

/// `sluice delete`.
#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// The workflows to delete.
    #[arg(required_unless_present_any = ["all", "completed"])]
    pub names: Vec<String>,
    /// Every workflow of the namespace.
    #[arg(long, conflicts_with = "names")]
    pub all: bool,
    /// Every completed workflow of the namespace.
    #[arg(long, conflicts_with = "names")]
    pub completed: bool,
    /// With --all/--completed: only workflows with these labels.
    #[arg(short = 'l', long = "selector")]
    pub selector: Option<String>,
    #[command(flatten)]
    pub cluster: super::ClusterArgs,
}

fn finished(workflow_phase: &str) -> bool {
    matches!(
        workflow_phase,
        phase::SUCCEEDED | phase::FAILED | phase::ERROR
    )
}

fn phase_of(object: &DynamicObject) -> &str {
    object
        .data
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn name_of(value: &Value) -> String {
    let metadata = &value["metadata"];
    metadata["name"]
        .as_str()
        .or_else(|| metadata["generateName"].as_str())
        .unwrap_or_default()
        .to_owned()
}

pub async fn submit(cluster: &Cluster, args: &SubmitArgs) -> anyhow::Result<ExitCode> {
    let mut workflows = match (&args.file, &args.from) {
        (_, Some(from)) => vec![from_object(cluster, from).await?],
        (Some(file), None) => read_workflows(file)?,
        (None, None) => bail!("submit: give a FILE or --from KIND/NAME"),
    };
    // Parameters apply to every workflow; then the validator sees the
    // workflows as they will be sent.
    let config = Config::default();
    let mut objects = Vec::new();
    for wf in &mut workflows {
        crate::local::apply_parameters(wf, &args.parameters)?;
        wf.status = None;
        wf.metadata.namespace = Some(cluster.namespace.clone());
        objects.push(Object::Workflow(Box::new(wf.clone())));
    }
    let ctx = validate::Context {
        mode: Mode::Submit,
        config: &config,
        known_templates: &[],
        allow_missing_refs: true,
    };
    let errors: Vec<_> = validate::validate(&objects, &ctx)
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    if !errors.is_empty() {
        let mut text = String::new();
        for e in &errors {
            let name = name_of(&serde_json::to_value(&workflows[e.object])?);
            let _ = writeln!(text, "  workflow {name}: {}: {}", e.path, e.message);
        }
        bail!("not submitted; with the parameters given:\n{text}");
    }
    let api = cluster.workflows();
    let mut names = Vec::new();
    for wf in &workflows {
        let value = serde_json::to_value(wf)?;
        let wanted = name_of(&value);
        let object: DynamicObject = serde_json::from_value(value)?;
        let created = api
            .create(&PostParams::default(), &object)
            .await
            .map_err(|e| cluster.error(e, "workflow", &wanted))?;
        let name = created.metadata.name.unwrap_or_default();
        println!("{name}");
        names.push(name);
    }
    if !args.watch {
        return Ok(ExitCode::SUCCESS);
    }
    let mut code = ExitCode::SUCCESS;
    for name in &names {
        if watch(cluster, name).await? != ExitCode::SUCCESS {
            code = ExitCode::from(1);
        }
    }
    Ok(code)
}

/// The Workflows of a manifest file, checked as `sluice lint` checks (the
/// errors name the file, line and field).
fn read_workflows(file: &Path) -> anyhow::Result<Vec<Workflow>> {
    let (name, objects) = super::read_checked(file, "not submitted")?;
    let mut workflows = Vec::new();
    for object in objects {
        match object {
            Object::Workflow(wf) => workflows.push(*wf),
            other => bail!(
                "{name}: a {} cannot be submitted (submit takes Workflows; see `sluice template create` and `sluice cron create`)",
                other.kind()
            ),
        }
    }
    if workflows.is_empty() {
        bail!("{name}: no Workflow (apiVersion argoproj.io/v1alpha1, kind Workflow) in it");
    }
    Ok(workflows)
}

/// A Workflow from `workflowtemplate/NAME`, `clusterworkflowtemplate/NAME`
/// or `cronworkflow/NAME`, as upstream's `argo submit --from` makes it.
async fn from_object(cluster: &Cluster, from: &str) -> anyhow::Result<Workflow> {
    let Some((kind, name)) = from.split_once('/') else {
        bail!(
            "--from {from}: expected KIND/NAME (workflowtemplate/NAME, clusterworkflowtemplate/NAME, cronworkflow/NAME)"
        );
    };
    let mut metadata = json!({"generateName": format!("{name}-")});
    let spec = match kind.to_ascii_lowercase().as_str() {
        "workflowtemplate" | "workflowtemplates" | "wftmpl" => {
            cluster
                .api("WorkflowTemplate")
                .get(name)
                .await
                .map_err(|e| cluster.error(e, "workflowtemplate", name))?;
            metadata["labels"] = json!({LABEL_WORKFLOW_TEMPLATE: name});
            json!({"workflowTemplateRef": {"name": name}})
        }
        "clusterworkflowtemplate" | "clusterworkflowtemplates" | "cwftmpl" => {
            let api: Api<DynamicObject> =
                Api::all_with(cluster.client.clone(), &resource("ClusterWorkflowTemplate"));
            api.get(name).await.map_err(|e| match e {
                kube::Error::Api(s) if s.code == 404 => {
                    anyhow!("clusterworkflowtemplate {name} not found")
                }
                e => cluster.error(e, "clusterworkflowtemplate", name),
            })?;
            metadata["labels"] = json!({LABEL_CLUSTER_WORKFLOW_TEMPLATE: name});
            json!({"workflowTemplateRef": {"name": name, "clusterScope": true}})
        }
        "cronworkflow" | "cronworkflows" | "cwf" => {
            let cron = cluster
                .api("CronWorkflow")
                .get(name)
                .await
                .map_err(|e| cluster.error(e, "cronworkflow", name))?;
            let cron_metadata = &cron.data["spec"]["workflowMetadata"];
            let mut labels = cron_metadata["labels"].clone();
            if !labels.is_object() {
                labels = json!({});
            }
            labels[LABEL_CRON_WORKFLOW] = json!(name);
            metadata["labels"] = labels;
            if cron_metadata["annotations"].is_object() {
                metadata["annotations"] = cron_metadata["annotations"].clone();
            }
            metadata["ownerReferences"] = json!([{
                "apiVersion": resource("CronWorkflow").api_version,
                "kind": "CronWorkflow",
                "name": name,
                "uid": cron.metadata.uid.clone().unwrap_or_default(),
                "controller": true,
                "blockOwnerDeletion": true,
            }]);
            cron.data["spec"]["workflowSpec"].clone()
        }
        other => bail!(
            "--from {from}: unknown kind {other:?} (workflowtemplate, clusterworkflowtemplate, cronworkflow)"
        ),
    };
    let value = json!({
        "apiVersion": resource("Workflow").api_version,
        "kind": "Workflow",
        "metadata": metadata,
        "spec": spec,
    });
    serde_json::from_value(value).map_err(|e| anyhow!("--from {from}: {e}"))
}

/// `5s`, `3m`, `2h`, `4d`: the AGE and DURATION columns.
fn short_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn time(value: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn selector(base: Option<&str>, extra: Option<&str>) -> String {
    [base, extra]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(",")
}

/// Rows as aligned columns.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: Vec<&str>| {
        let last = cells.len() - 1;
        for (i, cell) in cells.iter().enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                let _ = write!(out, "{cell:<width$}   ", width = widths[i]);
            }
        }
        // An empty last column leaves no trailing blanks.
        let trimmed = out.trim_end_matches(' ').len();
        out.truncate(trimmed);
        out.push('\n');
    };
    line(&mut out, header.to_vec());
    for row in rows {
        line(&mut out, row.iter().map(String::as_str).collect());
    }
    out
}

/// The age of an object, for AGE columns.
pub fn age(value: &Value, now: DateTime<Utc>) -> String {
    time(created(value)).map_or_else(String::new, |t| short_duration((now - t).num_seconds()))
}

pub async fn list(cluster: &Cluster, args: &ListArgs) -> anyhow::Result<ExitCode> {
    let completed = if args.running {
        Some(format!("{LABEL_COMPLETED}!=true"))
    } else if args.completed {
        Some(format!("{LABEL_COMPLETED}=true"))
    } else {
        None
    };
    let labels = selector(completed.as_deref(), args.selector.as_deref());
    let list = cluster
        .workflows()
        .list(&ListParams::default().labels(&labels))
        .await
        .map_err(|e| cluster.error(e, "listing workflows", ""))?;
    if list.items.is_empty() {
        eprintln!("No workflows found in namespace {}.", cluster.namespace);
        return Ok(ExitCode::SUCCESS);
    }
    let now = Utc::now();
    let mut items: Vec<Value> = list
        .items
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()?;
    // Newest first, as `argo list`.
    items.sort_by(|a, b| {
        created(b)
            .cmp(&created(a))
            .then(name_of(a).cmp(&name_of(b)))
    });
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|wf| {
            let status = &wf["status"];
            let started = time(status["startedAt"].as_str());
            let duration = started.map_or_else(String::new, |s| {
                let end = time(status["finishedAt"].as_str()).unwrap_or(now);
                short_duration((end - s).num_seconds())
            });
            vec![
                name_of(wf),
                status["phase"]
                    .as_str()
                    .unwrap_or(phase::PENDING)
                    .to_owned(),
                age(wf, now),
                duration,
            ]
        })
        .collect();
    report::write_stdout(&table(&["NAME", "STATUS", "AGE", "DURATION"], &rows))?;
    Ok(ExitCode::SUCCESS)
}

pub async fn get(
    cluster: &Cluster,
    name: &str,
    output: Option<Format>,
) -> anyhow::Result<ExitCode> {
    let wf = typed(&cluster.workflow(name).await?)?;
    let text = match output {
        Some(f) => format(&wf, f)?,
        None => tree::render(&wf, Utc::now()),
    };
    report::write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// How often `watch` looks.
const WATCH_INTERVAL: Duration = Duration::from_millis(500);

/// Prints the tree whenever the workflow changes, until it ends: exit 0 when
/// it succeeded, 1 otherwise.
pub async fn watch(cluster: &Cluster, name: &str) -> anyhow::Result<ExitCode> {
    let tty = std::io::stdout().is_terminal();
    let mut seen = None;
    loop {
        let object = cluster.workflow(name).await?;
        let version = object.metadata.resource_version.clone();
        let workflow_phase = phase_of(&object).to_owned();
        if version != seen {
            seen = version;
            let wf = typed(&object)?;
            let mut text = String::new();
            if tty {
                // Home and clear, as `argo watch` redraws.
                text.push_str("\x1b[H\x1b[2J");
            }
            text.push_str(&tree::render(&wf, Utc::now()));
            text.push('\n');
            report::write_stdout(&text)?;
        }
        if finished(&workflow_phase) {
            return Ok(if workflow_phase == phase::SUCCEEDED {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        tokio::time::sleep(WATCH_INTERVAL).await;
    }
}

/// The workflow a resubmit creates, as upstream's: the spec again (not
/// shut down, no zero deadline), a generated name, the user's labels and
/// annotations, and a label naming the original.
fn resubmitted(old: &DynamicObject) -> anyhow::Result<Value> {
    let name = old.metadata.name.clone().unwrap_or_default();
    let generate_name = old
        .metadata
        .generate_name
        .clone()
        .filter(|g| !g.is_empty())
        .unwrap_or_else(|| format!("{name}-"));
    let mut labels = old.metadata.labels.clone().unwrap_or_default();
    labels.retain(|k, _| !NOT_RESUBMITTED.contains(&k.as_str()));
    labels.insert(LABEL_RESUBMITTED_FROM.into(), name);
    let mut annotations = old.metadata.annotations.clone().unwrap_or_default();
    annotations.remove(ANNOTATION_INTENTS);
    let mut spec = old.data["spec"].clone();
    if let Some(spec) = spec.as_object_mut() {
        spec.remove("shutdown");
        if spec.get("activeDeadlineSeconds").and_then(Value::as_i64) == Some(0) {
            spec.remove("activeDeadlineSeconds");
        }
    }
    let mut metadata = json!({
        "generateName": generate_name,
        "namespace": old.metadata.namespace,
        "labels": labels,
    });
    if !annotations.is_empty() {
        metadata["annotations"] = json!(annotations);
    }
    if let Some(owners) = old
        .metadata
        .owner_references
        .as_ref()
        .filter(|o| !o.is_empty())
    {
        metadata["ownerReferences"] = serde_json::to_value(owners)?;
    }
    Ok(json!({
        "apiVersion": resource("Workflow").api_version,
        "kind": "Workflow",
        "metadata": metadata,
        "spec": spec,
    }))
}

pub async fn resubmit(cluster: &Cluster, name: &str) -> anyhow::Result<ExitCode> {
    let old = cluster.workflow(name).await?;
    let object: DynamicObject = serde_json::from_value(resubmitted(&old)?)?;
    let created = cluster
        .workflows()
        .create(&PostParams::default(), &object)
        .await
        .map_err(|e| cluster.error(e, "workflow", &format!("{name}-")))?;
    println!("{}", created.metadata.name.unwrap_or_default());
    Ok(ExitCode::SUCCESS)
}

pub async fn delete(cluster: &Cluster, args: &DeleteArgs) -> anyhow::Result<ExitCode> {
    let api = cluster.workflows();
    let names = if args.all || args.completed {
        let completed = args.completed.then(|| format!("{LABEL_COMPLETED}=true"));
        let labels = selector(completed.as_deref(), args.selector.as_deref());
        api.list_metadata(&ListParams::default().labels(&labels))
            .await
            .map_err(|e| cluster.error(e, "listing workflows", ""))?
            .items
            .into_iter()
            .filter_map(|m| m.metadata.name)
            .collect()
    } else {
        args.names.clone()
    };
    for name in &names {
        api.delete(name, &DeleteParams::background())
            .await
            .map_err(|e| cluster.error(e, "workflow", name))?;
        println!("workflow {name} deleted");
    }
    if names.is_empty() {
        eprintln!("No workflows to delete in namespace {}.", cluster.namespace);
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_selectors() {
        assert_eq!(short_duration(5), "5s");
        assert_eq!(short_duration(125), "2m");
        assert_eq!(short_duration(7300), "2h");
        assert_eq!(short_duration(200_000), "2d");
        assert_eq!(selector(Some("a=b"), None), "a=b");
        assert_eq!(selector(Some("a=b"), Some("c!=d")), "a=b,c!=d");
        assert_eq!(selector(None, Some("")), "");
    }

    #[test]
    fn a_resubmitted_workflow_keeps_user_labels_and_names_its_original() {
        let old: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"name": "hello", "namespace": "ns", "uid": "u",
                "labels": {"team": "a", "workflows.argoproj.io/phase": "Failed",
                    "workflows.argoproj.io/completed": "true"},
                "annotations": {"note": "x", "sluice.dev/intents": "[]"}},
            "spec": {"entrypoint": "main", "shutdown": "Terminate", "activeDeadlineSeconds": 0},
            "status": {"phase": "Failed"},
        }))
        .expect("object");
        assert_eq!(
            resubmitted(&old).expect("new"),
            json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                "metadata": {"generateName": "hello-", "namespace": "ns",
                    "labels": {"team": "a",
                        "workflows.argoproj.io/resubmitted-from-workflow": "hello"},
                    "annotations": {"note": "x"}},
                "spec": {"entrypoint": "main"},
            })
        );
    }
}
