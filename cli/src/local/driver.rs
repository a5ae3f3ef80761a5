//! The loop of a local run: step the engine, carry out its actions, save the
//! workflow, wait for the next thing to happen, turn it into observations.

use std::io::{IsTerminal as _, Write as _};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sluice_api::types::Workflow;
use sluice_engine::run::{Action, Observation, Run, node_type, phase};
use tokio::sync::mpsc::UnboundedReceiver;

use super::pods::{LogLine, PodRunner};
use super::state::RunDir;
use super::tree;

/// How often `control/` is checked for intents.
const CONTROL_POLL: Duration = Duration::from_millis(200);
/// How often the live tree is redrawn while nothing else happens.
const REDRAW: Duration = Duration::from_secs(1);
/// The shortest time between two steps of the engine: what happens
/// meanwhile (many pods ending at once) is taken in one step.
const STEP_GAP: Duration = Duration::from_millis(20);
/// The longest `workflow.json` lags behind the run while it goes on (every
/// step rewrites the whole workflow: hundreds of nodes, compressed past a
/// size); an operation, the end and an interruption save at once.
const SAVE_GAP: Duration = Duration::from_millis(250);

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Display {
    /// A live tree redrawn in place (stdout is a terminal).
    Tree,
    /// One line per node state change, on stdout.
    Lines,
    /// Nothing on stdout (`--output json`): logs and changes go to stderr.
    Quiet,
}

impl Display {
    pub fn for_stdout(json: bool) -> Self {
        if json {
            Display::Quiet
        } else if std::io::stdout().is_terminal() {
            Display::Tree
        } else {
            Display::Lines
        }
    }
}

/// Prints what happens.
#[derive(Debug)]
struct Reporter {
    display: Display,
    /// Node id to the phase last printed.
    phases: std::collections::BTreeMap<String, String>,
    /// Lines of the tree drawn last (to erase it).
    drawn: usize,
    last_draw: Option<Instant>,
}

impl Reporter {
    fn out(&self) -> Box<dyn std::io::Write> {
        match self.display {
            Display::Quiet => Box::new(std::io::stderr()),
            _ => Box::new(std::io::stdout()),
        }
    }

    fn erase(&mut self) {
        if self.display == Display::Tree && self.drawn > 0 {
            print!("\x1b[{}A\x1b[J", self.drawn);
            self.drawn = 0;
        }
    }

    fn log(&mut self, line: &LogLine) {
        self.erase();
        let _ = writeln!(self.out(), "{}: {}", line.display, line.line);
    }

    fn event(&mut self, warning: bool, reason: &str, message: &str) {
        if warning {
            self.erase();
            eprintln!("sluice: warning: {reason}: {message}");
        }
    }

    fn update(&mut self, wf: &Workflow, force: bool) {
        match self.display {
            Display::Tree => {
                if !force
                    && self
                        .last_draw
                        .is_some_and(|t| t.elapsed() < Duration::from_millis(100))
                {
                    return;
                }
                self.erase();
                let text = tree::render(wf, Utc::now());
                print!("{text}");
                let _ = std::io::stdout().flush();
                self.drawn = text.lines().count();
                self.last_draw = Some(Instant::now());
            }
            Display::Lines | Display::Quiet => {
                let Some(status) = &wf.status else { return };
                let mut out = self.out();
                for (id, node) in &status.nodes {
                    if matches!(
                        node.r#type.as_deref(),
                        Some(node_type::STEP_GROUP | node_type::TASK_GROUP)
                    ) {
                        continue;
                    }
                    let node_phase = node.phase.clone().unwrap_or_else(|| phase::PENDING.into());
                    if self.phases.get(id) == Some(&node_phase) {
                        continue;
                    }
                    let message = node
                        .message
                        .as_deref()
                        .filter(|m| !m.is_empty())
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "{} {} {}{message}",
                        tree::symbol(&node_phase),
                        tree::display_name(node),
                        node_phase
                    );
                    self.phases.insert(id.clone(), node_phase);
                }
            }
        }
    }

    /// Leaves the final tree in place.
    fn finish(&mut self, wf: &Workflow) {
        if self.display == Display::Tree {
            self.update(wf, true);
            self.drawn = 0;
        } else {
            self.update(wf, true);
        }
    }
}

/// A run of one workflow until it finishes.
#[derive(Debug)]
pub struct Driver {
    pub run: Run,
    pub dir: RunDir,
    pub runner: PodRunner,
    pub logs: UnboundedReceiver<LogLine>,
    requeue: Vec<DateTime<Utc>>,
    reporter: Reporter,
    stopping: bool,
    last_step: Option<Instant>,
    /// When `workflow.json` was last written, and whether steps came since.
    last_save: Option<Instant>,
    unsaved: bool,
}

/// How a run ended.
#[derive(Debug)]
pub enum Ending {
    Finished(Box<Workflow>),
    /// Ctrl-C: the workflow was left as it was, its pods killed.
    Interrupted,
}

impl Driver {
    pub fn new(
        run: Run,
        dir: RunDir,
        runner: PodRunner,
        logs: UnboundedReceiver<LogLine>,
        display: Display,
    ) -> Self {
        Self {
            run,
            dir,
            runner,
            logs,
            requeue: Vec::new(),
            reporter: Reporter {
                display,
                phases: Default::default(),
                drawn: 0,
                last_draw: None,
            },
            stopping: false,
            last_step: None,
            last_save: None,
            unsaved: false,
        }
    }

    /// Writes `workflow.json` when steps came since the last write and
    /// `force` or [`SAVE_GAP`] passed.
    fn save(&mut self, force: bool) -> anyhow::Result<()> {
        let due = force || self.last_save.is_none_or(|t| t.elapsed() >= SAVE_GAP);
        if self.unsaved && due {
            self.dir.save(&self.run.to_stored())?;
            self.last_save = Some(Instant::now());
            self.unsaved = false;
        }
        Ok(())
    }

    /// The observations of a workflow picked up from its stored state: the
    /// pods of unfinished nodes are gone (they died with the process that
    /// ran them); results they left are reported first.
    pub fn recovery_observations(&self) -> Vec<Observation> {
        let mut out = Vec::new();
        let Some(status) = &self.run.workflow().status else {
            return out;
        };
        for (id, node) in &status.nodes {
            let done = node.phase.as_deref().is_some_and(phase::is_done);
            if node.r#type.as_deref() != Some(node_type::POD) || done {
                continue;
            }
            out.push(Observation::PodDeleted {
                node_id: id.clone(),
            });
        }
        out
    }

    fn carry_out(&mut self, action: Action) -> anyhow::Result<()> {
        match action {
            Action::CreatePod {
                node_id,
                pod,
                template_config_map,
            } => {
                let display = self
                    .run
                    .workflow()
                    .status
                    .as_ref()
                    .and_then(|s| s.nodes.get(&node_id))
                    .map(|n| tree::display_name(n).to_owned())
                    .unwrap_or_else(|| node_id.clone());
                let images = self.runner.new_images(&pod);
                if !images.is_empty() {
                    self.reporter.erase();
                    eprintln!(
                        "sluice: images are not pulled, commands run on this machine: ignoring {}",
                        images.join(", ")
                    );
                }
                self.runner
                    .create(&node_id, *pod, template_config_map.map(|c| *c), &display);
            }
            Action::DeletePod { node_id, .. } => self.runner.delete(&node_id),
            Action::Signal {
                node_id, signal, ..
            } => self.runner.signal(&node_id, signal),
            Action::CreateClaim(claim) => {
                let name = claim.metadata.name.clone().unwrap_or_default();
                let dir = self.dir.claim_dir(&name);
                std::fs::create_dir_all(&dir)?;
            }
            Action::DeleteClaim { name } => {
                let _ = std::fs::remove_dir_all(self.dir.claim_dir(&name));
            }
            Action::RequeueAt(at) => self.requeue.push(at),
            Action::Event {
                warning,
                reason,
                message,
            } => self.reporter.event(warning, &reason, &message),
            Action::Finished { .. } => {}
        }
        Ok(())
    }

    fn step(&mut self, observations: Vec<Observation>) -> anyhow::Result<()> {
        let intent = observations
            .iter()
            .any(|o| matches!(o, Observation::Intent(_)));
        let actions = self.run.step(observations, Utc::now());
        for action in actions {
            self.carry_out(action)?;
        }
        self.last_step = Some(Instant::now());
        self.unsaved = true;
        self.save(intent || self.run.is_finished())?;
        self.reporter.update(self.run.workflow(), false);
        Ok(())
    }

    fn drain_logs(&mut self) {
        while let Ok(line) = self.logs.try_recv() {
            self.reporter.log(&line);
        }
    }

    /// Steps until the workflow finished and no pod runs.
    pub async fn drive(mut self, initial: Vec<Observation>) -> anyhow::Result<Ending> {
        let mut observations = initial;
        observations.extend(self.dir.take_intents().into_iter().map(Observation::Intent));
        loop {
            self.step(std::mem::take(&mut observations))?;
            if self.run.is_finished() {
                if self.runner.active() == 0 {
                    break;
                }
                if !self.stopping {
                    self.stopping = true;
                    self.runner.stop_all();
                }
            }
            // Wait until something is worth a step, and the last one is
            // far enough behind.
            loop {
                let now = Instant::now();
                let next_step = self.last_step.map_or(now, |t| t + STEP_GAP);
                if !observations.is_empty() && now >= next_step {
                    break;
                }
                let mut wake = now + CONTROL_POLL;
                if !observations.is_empty() {
                    wake = wake.min(next_step);
                }
                if self.unsaved {
                    let at = self.last_save.map_or(now, |t| t + SAVE_GAP);
                    if at <= now {
                        self.save(false)?;
                    } else {
                        wake = wake.min(at);
                    }
                }
                if let Some(at) = self.requeue.iter().min() {
                    let wait = (*at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
                    wake = wake.min(now + wait);
                }
                if let Some(at) = self.runner.next_deadline() {
                    wake = wake.min(at);
                }
                tokio::select! {
                    exit = self.runner.next_exit() => {
                        if let Some(exit) = exit {
                            self.runner.on_exit(exit);
                        }
                        while let Some(exit) = self.runner.try_next_exit() {
                            self.runner.on_exit(exit);
                        }
                    }
                    Some(line) = self.logs.recv() => {
                        self.reporter.log(&line);
                        self.drain_logs();
                    }
                    () = tokio::time::sleep_until(wake.into()) => {}
                    _ = tokio::signal::ctrl_c() => {
                        self.runner.kill_all();
                        self.reporter.erase();
                        self.unsaved = true;
                        self.save(true)?;
                        return Ok(Ending::Interrupted);
                    }
                }
                self.runner.enforce_deadlines(Instant::now());
                observations.extend(self.runner.take_observations());
                observations.extend(self.dir.take_intents().into_iter().map(Observation::Intent));
                let now = Utc::now();
                if self.requeue.iter().any(|at| *at <= now) {
                    self.requeue.retain(|at| *at > now);
                    observations.push(Observation::Tick);
                }
                if observations.is_empty()
                    && self.reporter.display == Display::Tree
                    && self
                        .reporter
                        .last_draw
                        .is_none_or(|t| t.elapsed() >= REDRAW)
                {
                    self.reporter.update(self.run.workflow(), true);
                }
            }
        }
        self.save(true)?;
        // Lines still in flight from the last processes.
        let Driver {
            run,
            runner,
            mut logs,
            mut reporter,
            ..
        } = self;
        drop(runner);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while let Ok(Some(line)) = tokio::time::timeout_at(deadline, logs.recv()).await {
            reporter.log(&line);
        }
        reporter.finish(run.workflow());
        Ok(Ending::Finished(Box::new(run.workflow().clone())))
    }
}
