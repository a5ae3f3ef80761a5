//! `sluice-executor`: `init`, `emissary -- CMD...`, `wait`, `version`.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sluice_executor::context::Context;
use sluice_executor::report::Sink;
use sluice_executor::secrets::Secrets;
use sluice_executor::wait::{ContainerWatch, PodWatch};
use sluice_executor::{emissary, gc, init, wait};

#[derive(Debug, Parser)]
#[command(
    name = "sluice-executor",
    version,
    about = "The binary inside every Sluice workflow pod"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Install the executor in the shared volume, write the script, load input artifacts.
    Init,
    /// Run a container's command, tee its output, stage outputs, forward signals.
    Emissary {
        /// The command and its arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<OsString>,
    },
    /// Wait for the main containers, save outputs, stop sidecars, report the result.
    Wait,
    /// Delete the artifacts listed in $SLUICE_GC_ARTIFACTS (an artifact-GC pod).
    #[command(name = "artifact-gc")]
    ArtifactGc,
    /// Print the executor version.
    Version,
}

/// A single-threaded runtime: `init` and `wait` do one thing at a time, and
/// starting worker threads was a measurable part of every pod's start-up
/// (blocking work still goes to the blocking pool).
fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

/// Reports a failure on stderr and as the container's termination message.
fn fail(step: &str, message: String) -> ExitCode {
    eprintln!("sluice-executor {step}: {message}");
    gc::write_message(&message);
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!(
                "sluice-executor {}",
                sluice_engine::protocol::EXECUTOR_VERSION
            );
            ExitCode::SUCCESS
        }
        Command::Emissary { command } => {
            let code = emissary::run(command);
            ExitCode::from(u8::try_from(code & 0xff).unwrap_or(1))
        }
        Command::ArtifactGc => {
            let artifacts = match gc::artifacts_from_env() {
                Ok(artifacts) => artifacts,
                Err(e) => return fail("artifact-gc", e),
            };
            let rt = match runtime() {
                Ok(rt) => rt,
                Err(e) => return fail("artifact-gc", e),
            };
            let report = rt.block_on(gc::delete_all(&artifacts, &Secrets::from_env()));
            let message = report.message();
            eprintln!("sluice-executor artifact-gc: {message}");
            gc::write_message(&message);
            if report.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Init => {
            let ctx = match Context::from_env() {
                Ok(ctx) => ctx,
                Err(e) => return fail("init", e.to_string()),
            };
            let rt = match runtime() {
                Ok(rt) => rt,
                Err(e) => return fail("init", e),
            };
            match rt.block_on(init::run(&ctx, &Secrets::from_env())) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail("init", e.to_string()),
            }
        }
        Command::Wait => {
            let ctx = match Context::from_env() {
                Ok(ctx) => ctx,
                Err(e) => return fail("wait", e.to_string()),
            };
            let rt = match runtime() {
                Ok(rt) => rt,
                Err(e) => return fail("wait", e),
            };
            rt.block_on(async {
                let (sink, watch) = match &ctx.result_file {
                    Some(path) => (Sink::File(path.clone()), None),
                    None => match kube::Client::try_default().await {
                        Ok(client) => (
                            Sink::Api {
                                client: client.clone(),
                                namespace: ctx.owner.namespace.clone(),
                            },
                            Some(PodWatch {
                                client,
                                namespace: ctx.owner.namespace.clone(),
                                pod: ctx.pod_name.clone(),
                            }),
                        ),
                        Err(e) => {
                            return fail(
                                "wait",
                                format!("no result file and no Kubernetes API: {e}"),
                            );
                        }
                    },
                };
                let watch = watch.as_ref().map(|w| w as &dyn ContainerWatch);
                let code = wait::run(&ctx, &Secrets::from_env(), &sink, watch).await;
                ExitCode::from(u8::try_from(code).unwrap_or(1))
            })
        }
    }
}
