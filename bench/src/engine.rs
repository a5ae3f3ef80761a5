//! `sluice-bench engine [NODES]`: the pure engine alone, with instant
//! simulated pods. A fan-out/fan-in workflow (`generate` → `withSequence`
//! fan-out of NODES pods → `fan-in`) is driven to completion: every
//! `CreatePod` is answered with a succeeded pod (containers terminated with
//! exit code 0) and a complete result, in batches of [`BATCH`] pods per
//! step, as a controller would batch its watch events.
//!
//! Reports, against the targets:
//! - the engine time to run 10,000 nodes (≤ 1 s) and 100,000 nodes (≤ 12×
//!   the 10,000 figure),
//! - one pod-completion observation in the middle of a 100,000-node fan-out
//!   against the same at 1,000 nodes (≤ 2×),
//! - the stored workflow at 10,000 nodes (`compressedNodes`, ≤ 1 MiB) and
//!   its raw size.
//!
//! Engine time is this thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`)
//! around [`Run::step`] calls only (building observations is the simulated
//! backend's work, not the engine's): the targets are CPU, and CPU
//! time does not grow when other processes share the machine.

use std::hint::black_box;
use std::time::Duration;

use anyhow::{Context as _, Result, bail, ensure};
use chrono::{DateTime, TimeDelta, Utc};
use sluice_api::types::{Outputs, Workflow};
use sluice_engine::run::{
    Action, ContainerObservation, ContainerState, Env, Observation, PodObservation, PodPhase,
    ResultObservation, Run,
};

/// Pods answered per engine step.
const BATCH: usize = 100;
const TARGET_10K: Duration = Duration::from_secs(1);
const TARGET_SCALE: f64 = 12.0;
const TARGET_OBSERVATION: f64 = 2.0;
const TARGET_STORED: usize = 1024 * 1024;
/// Node ids are upstream's `<workflow>-<fnv32a(node name)>`, and 32 bits
/// collide within a fan-out of this size: with the name `fan-out`, one
/// collision among 3,000 items, ten among 100,000 (`fan-out[1].fan-out(i:i)`).
/// This name has none up to 100,000 items, so the benchmark measures the
/// engine rather than a collision (a node whose id is taken is never run).
const WORKFLOW_NAME: &str = "bench-18";
/// Observations timed per size for the single-observation figure.
const SAMPLES: usize = 31;

pub fn run(args: &[String]) -> Result<()> {
    let small: usize = match args.first() {
        Some(n) => n.parse().context("NODES: a number")?,
        None => 10_000,
    };
    let large = small * 10;

    let ten = drive(small)?;
    println!(
        "engine: fan-out of {small} ({} nodes): {:.3}s CPU in {} steps; {} {}",
        ten.nodes,
        ten.engine.as_secs_f64(),
        ten.steps,
        ten.phase,
        verdict(ten.engine <= TARGET_10K)
    );
    println!(
        "  target <= {:.1}s for 10,000 nodes",
        TARGET_10K.as_secs_f64()
    );
    let hundred = drive(large)?;
    let ratio = hundred.engine.as_secs_f64() / ten.engine.as_secs_f64();
    println!(
        "engine: fan-out of {large} ({} nodes): {:.3}s CPU in {} steps; {}",
        hundred.nodes,
        hundred.engine.as_secs_f64(),
        hundred.steps,
        hundred.phase
    );
    println!(
        "  {ratio:.1}x the {small} figure (target <= {TARGET_SCALE:.0}x): {}",
        verdict(ratio <= TARGET_SCALE)
    );

    let at_1k = one_observation(1_000)?;
    let at_100k = one_observation(100_000)?;
    let obs_ratio = at_100k.as_secs_f64() / at_1k.as_secs_f64();
    println!(
        "one pod completion (median of {SAMPLES}): {:.1}us at 1,000 nodes, {:.1}us at 100,000 nodes",
        micros(at_1k),
        micros(at_100k)
    );
    println!(
        "  {obs_ratio:.2}x (target <= {TARGET_OBSERVATION:.0}x): {}",
        verdict(obs_ratio <= TARGET_OBSERVATION)
    );

    let stored = serde_json::to_vec(&ten.stored)?.len();
    println!(
        "stored workflow at {} nodes: {} bytes ({:.2} MiB; raw, uncompressed nodes: {} bytes, {:.2} MiB)",
        ten.nodes,
        stored,
        mib(stored),
        ten.raw_size,
        mib(ten.raw_size)
    );
    println!(
        "  target <= 1 MiB stored: {}",
        verdict(stored <= TARGET_STORED)
    );
    Ok(())
}

fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "FAIL" }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The benchmark workflow: `generate`, a fan-out of `width` pods, `fan-in`.
pub fn fan_out_workflow(width: usize) -> Result<Workflow> {
    let value = serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": WORKFLOW_NAME, "namespace": "bench", "uid": "0b7e6c1e-bench"},
        "spec": {
            "entrypoint": "main",
            "templates": [
                {
                    "name": "main",
                    "steps": [
                        [{"name": "generate", "template": "work"}],
                        [{
                            "name": "fan-out",
                            "template": "work",
                            "withSequence": {"count": width.to_string()}
                        }],
                        [{"name": "fan-in", "template": "work"}]
                    ]
                },
                {
                    "name": "work",
                    "container": {"image": "busybox:1.36", "command": ["true"]}
                }
            ]
        }
    });
    serde_json::from_value(value).context("the benchmark workflow")
}

/// A pod that ran to completion, as a backend would report it.
fn succeeded_pod(now: DateTime<Utc>) -> PodObservation {
    let done = |name: &str| ContainerObservation {
        name: name.to_owned(),
        state: ContainerState::Terminated {
            exit_code: 0,
            reason: "Completed".to_owned(),
            message: String::new(),
        },
    };
    PodObservation {
        phase: PodPhase::Succeeded,
        init_containers: vec![done("init")],
        containers: vec![done("wait"), done("main")],
        started_at: Some(now),
        finished_at: Some(now),
        ..PodObservation::default()
    }
}

/// The two observations that finish one pod's node.
fn completion(node_id: String, now: DateTime<Utc>) -> [Observation; 2] {
    [
        Observation::Pod {
            node_id: node_id.clone(),
            pod: Box::new(succeeded_pod(now)),
        },
        Observation::Result {
            node_id,
            result: Box::new(ResultObservation {
                outputs: Some(Outputs::default()),
                complete: true,
                ..ResultObservation::default()
            }),
        },
    ]
}

/// A simulated backend: the engine's pods, not yet answered.
struct Sim {
    run: Run,
    now: DateTime<Utc>,
    pending: Vec<String>,
    /// Pods the engine asked for so far.
    created: usize,
    engine: Duration,
    steps: usize,
    requeue: bool,
}

impl Sim {
    fn new(width: usize) -> Result<Sim> {
        let env = Env {
            local: true,
            ..Env::default()
        };
        let start = DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")?.with_timezone(&Utc);
        Ok(Sim {
            run: Run::new(fan_out_workflow(width)?, env),
            now: start,
            pending: Vec::new(),
            created: 0,
            engine: Duration::ZERO,
            steps: 0,
            requeue: false,
        })
    }

    fn step(&mut self, observations: Vec<Observation>) -> Result<()> {
        let start = thread_cpu();
        let actions = self.run.step(observations, self.now);
        self.engine += thread_cpu().saturating_sub(start);
        self.steps += 1;
        self.absorb(actions)
    }

    fn absorb(&mut self, actions: Vec<Action>) -> Result<()> {
        for action in actions {
            match action {
                Action::CreatePod { node_id, .. } => {
                    self.pending.push(node_id);
                    self.created += 1;
                }
                Action::RequeueAt(_) => self.requeue = true,
                Action::Finished { .. }
                | Action::Event { .. }
                | Action::DeletePod { .. }
                | Action::Signal { .. }
                | Action::CreateClaim(_)
                | Action::DeleteClaim { .. } => {}
            }
        }
        Ok(())
    }

    /// Answers up to `batch` pending pods in one step (a tick when none is
    /// pending). Returns false when there was nothing to do.
    fn advance(&mut self, batch: usize) -> Result<bool> {
        self.now += TimeDelta::milliseconds(10);
        if self.pending.is_empty() || batch == 0 {
            if self.run.is_finished() {
                return Ok(false);
            }
            self.requeue = false;
            self.step(vec![Observation::Tick])?;
            return Ok(true);
        }
        let take = batch.min(self.pending.len());
        let now = self.now;
        let observations: Vec<Observation> = self
            .pending
            .drain(..take)
            .flat_map(|id| completion(id, now))
            .collect();
        self.step(observations)?;
        Ok(true)
    }
}

/// The first unfinished nodes, for an error message.
fn unfinished(run: &Run) -> String {
    let Some(status) = run.workflow().status.as_ref() else {
        return "no status".to_owned();
    };
    status
        .nodes
        .values()
        .filter(|n| {
            !matches!(
                n.phase.as_deref(),
                Some("Succeeded" | "Skipped" | "Omitted")
            )
        })
        .take(5)
        .map(|n| {
            format!(
                "{} ({}, {}: {})",
                n.name,
                n.r#type.as_deref().unwrap_or("?"),
                n.phase.as_deref().unwrap_or("no phase"),
                n.message.as_deref().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The result of one full run.
struct Drive {
    nodes: usize,
    engine: Duration,
    steps: usize,
    phase: String,
    stored: Workflow,
    raw_size: usize,
}

fn drive(width: usize) -> Result<Drive> {
    let mut sim = Sim::new(width)?;
    sim.step(Vec::new())?;
    // Ticks without a pod to answer: a few are normal (step groups), a long
    // run of them means the engine is stuck.
    let mut idle = 0;
    while !sim.run.is_finished() {
        let had_pods = !sim.pending.is_empty();
        if !sim.advance(BATCH)? {
            break;
        }
        idle = if had_pods { 0 } else { idle + 1 };
        if idle > 100 {
            bail!(
                "fan-out of {width}: the engine is stuck in phase {} with no pod to run; unfinished: {}",
                sim.run.phase(),
                unfinished(&sim.run)
            );
        }
    }
    let phase = sim.run.phase().to_owned();
    ensure!(
        phase == "Succeeded",
        "fan-out of {width} ended {phase}: {:?}",
        sim.run
            .workflow()
            .status
            .as_ref()
            .and_then(|s| s.message.clone())
    );
    let workflow = sim.run.workflow();
    let nodes = workflow.status.as_ref().map_or(0, |s| s.nodes.len());
    ensure!(
        nodes > width,
        "fan-out of {width}: only {nodes} nodes in the status"
    );
    let raw_size = serde_json::to_vec(workflow)?.len();
    Ok(Drive {
        nodes,
        engine: sim.engine,
        steps: sim.steps,
        phase,
        stored: sim.run.to_stored(),
        raw_size,
    })
}

/// The median engine time of one pod-completion step in the middle of a
/// fan-out of `width`: every pod created, half of them done.
fn one_observation(width: usize) -> Result<Duration> {
    let mut sim = Sim::new(width)?;
    sim.step(Vec::new())?;
    // Finish `generate`, then tick until every pod of the fan-out exists.
    ensure!(
        sim.created == 1,
        "fan-out of {width}: {} pods at the first step, want 1 (generate)",
        sim.created
    );
    sim.advance(1)?;
    let mut rounds = 0;
    while sim.created < width + 1 {
        sim.advance(0)?;
        rounds += 1;
        ensure!(
            rounds < 1000 && !sim.run.is_finished(),
            "fan-out of {width}: only {} of its pods appeared",
            sim.created - 1
        );
    }
    // Finish half of them in batches.
    while sim.pending.len() > width / 2 {
        sim.advance(BATCH)?;
    }
    let mut times = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let id = sim
            .pending
            .pop()
            .context("ran out of pending pods to time")?;
        sim.now += TimeDelta::milliseconds(10);
        let observations = completion(id, sim.now).into();
        let start = thread_cpu();
        let actions = sim.run.step(observations, sim.now);
        times.push(thread_cpu().saturating_sub(start));
        black_box(&actions);
        sim.absorb(actions)?;
    }
    times.sort();
    Ok(times[SAMPLES / 2])
}

/// This thread's CPU time so far.
fn thread_cpu() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(Duration::from)
        .unwrap_or_default()
}
