//! `sluice-bench NAME`: every Sluice benchmark. Each prints its figures next
//! to a baseline measured in the same run, so results compare across machines.

mod artifacts;
mod controller;
mod engine;
mod lint;
mod local;
mod webhook;

use anyhow::{Result, bail};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(name) = args.next() else {
        bail!(
            "usage: sluice-bench NAME [ARGS]\nbenchmarks: lint, artifacts, engine, local, webhook, controller"
        );
    };
    let rest: Vec<String> = args.collect();
    match name.as_str() {
        "lint" => lint::run(&rest),
        "artifacts" => artifacts::run(&rest),
        "controller" => controller::run(&rest),
        "engine" => engine::run(&rest),
        "local" => local::run(&rest),
        "webhook" => webhook::run(&rest),
        other => bail!(
            "unknown benchmark {other:?}; benchmarks: lint, artifacts, engine, local, webhook, controller"
        ),
    }
}

/// mimalloc: the engine allocates much, and glibc malloc is slow at it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
