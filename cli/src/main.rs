//! `sluice`: the command line. This file only wires subcommands to their
//! modules and outcomes to exit codes.

mod cluster;
mod lint;
mod local;
mod report;

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use sluice_engine::run::Intent;

#[derive(Debug, Parser)]
#[command(
    name = "sluice",
    version,
    about = "A Kubernetes-native workflow engine for the Argo Workflows API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The workflow a verb acts on.
#[derive(Debug, Args)]
struct Target {
    /// The workflow's name (for local runs, NAME or NAMESPACE/NAME).
    name: String,
    /// Act on a local run (under $SLUICE_STATE_DIR, default .sluice/).
    #[arg(long)]
    local: bool,
    #[command(flatten)]
    cluster: cluster::ClusterArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check manifests offline, as CI would: exit 0 clean, 1 findings, 2 usage or I/O error.
    Lint(lint::LintArgs),
    /// Print the CustomResourceDefinitions, as multi-document YAML.
    Crds,
    /// Run a workflow on this machine, without Kubernetes: exit 0 when it succeeds, 1 otherwise.
    Run(local::RunArgs),
    /// Submit workflows to the cluster (validated first, as `sluice lint` does); prints each name.
    Submit(cluster::SubmitArgs),
    /// List the workflows of the namespace.
    List(cluster::ListArgs),
    /// Show a workflow's status and node tree.
    Get {
        #[command(flatten)]
        target: Target,
        /// Print the Workflow as JSON or YAML.
        #[arg(short = 'o', long)]
        output: Option<cluster::Format>,
    },
    /// Print a workflow's logs, each line prefixed with its step.
    Logs {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        args: cluster::LogsArgs,
    },
    /// Print the tree whenever the workflow changes, until it ends: exit 0 when it succeeds, 1 otherwise.
    Watch {
        name: String,
        #[command(flatten)]
        cluster: cluster::ClusterArgs,
    },
    /// Submit a workflow again, as a new workflow named after it.
    Resubmit {
        name: String,
        #[command(flatten)]
        cluster: cluster::ClusterArgs,
    },
    /// Delete workflows.
    Delete(cluster::DeleteArgs),
    /// WorkflowTemplates (and ClusterWorkflowTemplates).
    Template {
        #[command(subcommand)]
        command: cluster::TemplateCommand,
        #[command(flatten)]
        cluster: cluster::ClusterArgs,
    },
    /// CronWorkflows.
    Cron {
        #[command(subcommand)]
        command: cluster::CronCommand,
        #[command(flatten)]
        cluster: cluster::ClusterArgs,
    },
    /// Resume a suspended workflow (or its suspended nodes).
    Resume {
        #[command(flatten)]
        target: Target,
        /// Only this node: NAME, displayName=NAME or name=NAME.
        #[arg(long = "node-field-selector", value_name = "SELECTOR")]
        node: Option<String>,
        /// Output parameters of suspend nodes: NAME=VALUE (repeatable).
        #[arg(short = 'p', long = "parameter", value_name = "NAME=VALUE")]
        parameters: Vec<String>,
    },
    /// Suspend a workflow.
    Suspend {
        #[command(flatten)]
        target: Target,
    },
    /// Stop a workflow: running steps get SIGTERM, exit handlers run.
    Stop {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        message: Option<String>,
    },
    /// Terminate a workflow: as stop, without exit handlers.
    Terminate {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        message: Option<String>,
    },
    /// Retry a finished workflow from its failed nodes.
    Retry {
        #[command(flatten)]
        target: Target,
        /// Also restart succeeded nodes matching --node-field-selector.
        #[arg(long)]
        restart_successful: bool,
        /// Only this node: NAME, displayName=NAME or name=NAME.
        #[arg(long = "node-field-selector", value_name = "SELECTOR")]
        node: Option<String>,
        /// Workflow parameters to change: NAME=VALUE (repeatable).
        #[arg(short = 'p', long = "parameter", value_name = "NAME=VALUE")]
        parameters: Vec<String>,
    },
}

fn pairs(items: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    items
        .iter()
        .map(|item| match item.split_once('=') {
            Some((k, v)) => Ok((k.to_owned(), v.to_owned())),
            None => anyhow::bail!("-p {item}: expected NAME=VALUE"),
        })
        .collect()
}

/// An intent for a local run, or for a cluster workflow's controller.
fn intent(target: &Target, intent: Intent) -> anyhow::Result<ExitCode> {
    if target.local {
        return local::intent(&target.name, intent);
    }
    cluster::run(
        &target.cluster,
        cluster::Verb::Intent {
            name: &target.name,
            intent,
        },
    )
}

fn main() -> ExitCode {
    // clap exits with 2 on a usage error.
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Lint(args) => lint::run(args).map(|outcome| match outcome {
            lint::Outcome::Clean => ExitCode::SUCCESS,
            lint::Outcome::Findings => ExitCode::from(1),
            lint::Outcome::Unreadable => ExitCode::from(2),
        }),
        Command::Crds => crds().map(|()| ExitCode::SUCCESS),
        Command::Run(args) => local::run(args),
        Command::Submit(args) => cluster::run(&args.cluster, cluster::Verb::Submit(args)),
        Command::List(args) => cluster::run(&args.cluster, cluster::Verb::List(args)),
        Command::Get { target, output } => {
            if target.local {
                local::get(&target.name, *output)
            } else {
                cluster::run(
                    &target.cluster,
                    cluster::Verb::Get {
                        name: &target.name,
                        output: *output,
                    },
                )
            }
        }
        Command::Logs { target, args } => {
            if target.local {
                if args.follow {
                    eprintln!("sluice: --follow is for cluster workflows; printing the local logs");
                }
                local::logs(&target.name, args.container.as_deref())
            } else {
                cluster::run(
                    &target.cluster,
                    cluster::Verb::Logs {
                        name: &target.name,
                        args,
                    },
                )
            }
        }
        Command::Watch { name, cluster } => cluster::run(cluster, cluster::Verb::Watch(name)),
        Command::Resubmit { name, cluster } => cluster::run(cluster, cluster::Verb::Resubmit(name)),
        Command::Delete(args) => cluster::run(&args.cluster, cluster::Verb::Delete(args)),
        Command::Template { command, cluster } => {
            cluster::run(cluster, cluster::Verb::Template(command))
        }
        Command::Cron { command, cluster } => cluster::run(cluster, cluster::Verb::Cron(command)),
        Command::Resume {
            target,
            node,
            parameters,
        } => pairs(parameters).and_then(|parameters| {
            intent(
                target,
                Intent::Resume {
                    node: node.as_deref().map(cluster::node_selector).transpose()?,
                    parameters,
                },
            )
        }),
        Command::Suspend { target } => intent(target, Intent::Suspend),
        Command::Stop { target, message } => intent(
            target,
            Intent::Stop {
                message: message.clone(),
            },
        ),
        Command::Terminate { target, message } => intent(
            target,
            Intent::Terminate {
                message: message.clone(),
            },
        ),
        Command::Retry {
            target,
            restart_successful,
            node,
            parameters,
        } => pairs(parameters).and_then(|parameters| {
            intent(
                target,
                Intent::Retry {
                    node: node.as_deref().map(cluster::node_selector).transpose()?,
                    restart_successful: *restart_successful,
                    parameters,
                },
            )
        }),
    };
    result.unwrap_or_else(|err| {
        eprintln!("sluice: error: {err:#}");
        ExitCode::from(2)
    })
}

fn crds() -> anyhow::Result<()> {
    let mut out = String::new();
    for crd in sluice_api::crd::all_crds() {
        out.push_str("---\n");
        out.push_str(&sluice_api::crd::to_yaml(&crd)?);
    }
    report::write_stdout(&out)?;
    Ok(())
}

/// mimalloc: the engine allocates much, and glibc malloc is slow at it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
