//! `sluice`: the command line. This file only wires subcommands to their
//! modules and outcomes to exit codes.

mod lint;
mod report;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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

#[derive(Debug, Subcommand)]
enum Command {
    /// Check manifests offline, as CI would: exit 0 clean, 1 findings, 2 usage or I/O error.
    Lint(lint::LintArgs),
    /// Print the CustomResourceDefinitions, as multi-document YAML.
    Crds,
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
