//! The engine's state: the workflow, an index over its nodes, and the loop
//! that turns observations into node changes and actions.
//!
//! Work is event-driven: a node that changes queues its parent, and only
//! queued nodes are looked at. Parents keep a count of their settled
//! children (done, exit handlers included), so a group of 100,000 pods
//! notices its end in one step, not by scanning its children each time.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use chrono::{DateTime, SecondsFormat, Utc};
use sluice_api::types::{NodeStatus, Outputs, Template, Workflow, WorkflowSpec, WorkflowStatus};

use super::exec::Prepared;
use super::{
    Action, ContainerState, Env, Intent, Observation, PodObservation, PodPhase, ResultObservation,
    SIGTERM, node_type as nt, phase,
};
use crate::pod::names::node_id;
use crate::result::RESULT_GRACE_SECONDS;

/// How deep templates may call templates.
pub(crate) const MAX_DEPTH: usize = 100;

/// Pods one step creates at most; a fan-out wider than this goes on in
/// the next step (the backend is asked to come back at once), so a step's
/// cost and the size of its actions stay bounded whatever the fan-out.
pub(crate) const MAX_PODS_PER_STEP: usize = 1000;

/// The engine: one workflow and everything derived from it.
#[derive(Debug)]
pub(crate) struct Engine {
    pub(crate) wf: Workflow,
    pub(crate) env: Env,
    /// The spec that runs: the workflow's, over its `workflowTemplateRef`'s,
    /// with the configured defaults merged.
    pub(crate) spec: WorkflowSpec,
    pub(crate) setup_error: Option<String>,
    pub(crate) idx: Index,
    pub(crate) now: DateTime<Utc>,
    pub(crate) actions: Vec<Action>,
    pub(crate) queue: VecDeque<(String, Option<String>)>,
    pub(crate) requeue: Option<DateTime<Utc>>,
    /// Pods created in this step (at most [`MAX_PODS_PER_STEP`]).
    pub(crate) pods_started: usize,
    /// The workflow as pods see it (built on first use).
    pub(crate) pod_wf: Option<std::sync::Arc<Workflow>>,
    /// Workflow variables for this step.
    pub(crate) wf_vars_cache: std::cell::RefCell<Option<std::sync::Arc<super::vars::Vars>>>,
    /// Templates resolved by scope and name (templates do not change).
    pub(crate) resolved_templates:
        std::cell::RefCell<HashMap<(String, String), std::sync::Arc<Template>>>,
    /// Whether a template (by address, kept alive here) has tags to
    /// substitute in its pods.
    pub(crate) tagged_templates: HashMap<usize, (std::sync::Arc<Template>, bool)>,
}

/// What the engine derives from the status (rebuilt by [`Engine::new`]).
#[derive(Debug, Default)]
pub(crate) struct Index {
    /// Child id -> the node whose `children` lists it.
    pub(crate) parent: HashMap<String, String>,
    /// Settled (done, exit handlers done) children counted by their parent.
    pub(crate) counted: HashSet<String>,
    pub(crate) settled_count: HashMap<String, usize>,
    /// Children still to start, per group node (parallelism, loops).
    pub(crate) pending: HashMap<String, VecDeque<Prepared>>,
    /// Every child a group will have.
    pub(crate) total: HashMap<String, usize>,
    /// The scope a group's pending children start in (its steps or DAG
    /// node's variables when the group started, without the workflow's),
    /// built once per group: recomputing it for each child would cost the
    /// size of every loop before it, per child.
    pub(crate) group_scopes: HashMap<String, super::vars::Layer>,
    /// The last state of each pod, by node id.
    pub(crate) pods: HashMap<String, PodObservation>,
    /// The last result of each node.
    pub(crate) results: HashMap<String, ResultObservation>,
    /// Nodes whose pods were told to stop, and the message their node gets.
    pub(crate) killed: HashMap<String, String>,
    /// The templates of nodes, as resolved when they were created.
    pub(crate) templates: HashMap<String, std::sync::Arc<Template>>,
    /// Pod nodes whose pods exist and are not done (pod names by node id;
    /// hashed: one lookup per pod event, sorted only when all are signalled).
    pub(crate) live_pods: HashMap<String, String>,
    /// Daemoned pod nodes (their pods may still be live), so a boundary
    /// that ends finds its daemons without scanning every live pod.
    pub(crate) daemons: BTreeSet<String>,
    /// Groups waiting for a slot under `spec.parallelism`.
    pub(crate) waiting_for_slot: VecDeque<String>,
    pub(crate) pods_total: usize,
    pub(crate) pods_done: usize,
    /// Nodes to look at again at a time (backoffs, suspend durations).
    pub(crate) timers: BTreeMap<DateTime<Utc>, Vec<String>>,
    /// Exit-handler (and hook) nodes, which do not stop a shutdown.
    pub(crate) exit_nodes: HashSet<String>,
}

impl Index {
    /// The live pods, by node id.
    pub(crate) fn live_pods_sorted(&self) -> Vec<(String, String)> {
        let mut live: Vec<(String, String)> = self
            .live_pods
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        live.sort_unstable();
        live
    }
}

impl Engine {
    pub(crate) fn new(mut workflow: Workflow, env: Env) -> Engine {
        let mut setup_error = super::compress::expand(&mut workflow).err();
        let (spec, spec_error) = super::exec::effective_spec(&workflow, &env);
        if setup_error.is_none() {
            setup_error = spec_error;
        }
        workflow.status.get_or_insert_default();
        let mut engine = Engine {
            wf: workflow,
            env,
            spec,
            setup_error,
            idx: Index::default(),
            now: DateTime::<Utc>::UNIX_EPOCH,
            actions: Vec::new(),
            queue: VecDeque::new(),
            requeue: None,
            pods_started: 0,
            pod_wf: None,
            wf_vars_cache: Default::default(),
            resolved_templates: Default::default(),
            tagged_templates: HashMap::new(),
        };
        engine.rebuild();
        engine
    }

    pub(crate) fn status(&self) -> &WorkflowStatus {
        self.wf
            .status
            .as_ref()
            .expect("status is set by Engine::new")
    }

    pub(crate) fn status_mut(&mut self) -> &mut WorkflowStatus {
        self.wf.status.get_or_insert_default()
    }

    pub(crate) fn wf_name(&self) -> &str {
        self.wf.metadata.name.as_deref().unwrap_or_default()
    }

    /// The id of the node named `name`: upstream's `<workflow>-<fnv32a>`,
    /// unless a node of another name already holds it (32 bits collide in
    /// fan-outs of some thousands). Then the first id of `name#1`, `name#2`,
    /// ... that is free or holds `name`: nodes are created in a deterministic
    /// order, so the same name gets the same id when the status is rebuilt.
    pub(crate) fn id_of(&self, name: &str) -> String {
        let id = node_id(self.wf_name(), name);
        match self.status().nodes.get(&id) {
            Some(taken) if taken.name != name => self.disambiguated_id(name),
            _ => id,
        }
    }

    #[cold]
    fn disambiguated_id(&self, name: &str) -> String {
        let nodes = &self.status().nodes;
        (1u64..)
            .map(|k| node_id(self.wf_name(), &format!("{name}#{k}")))
            .find(|id| nodes.get(id).is_none_or(|n| n.name == name))
            .expect("an unbounded search finds a free id")
    }

    pub(crate) fn node(&self, id: &str) -> Option<&NodeStatus> {
        self.status().nodes.get(id)
    }

    pub(crate) fn node_mut(&mut self, id: &str) -> Option<&mut NodeStatus> {
        self.status_mut().nodes.get_mut(id)
    }

    pub(crate) fn node_by_name(&self, name: &str) -> Option<&NodeStatus> {
        self.node(&self.id_of(name))
    }

    pub(crate) fn phase_of(&self, id: &str) -> &str {
        self.node(id)
            .and_then(|n| n.phase.as_deref())
            .unwrap_or(phase::PENDING)
    }

    pub(crate) fn is_done(&self, id: &str) -> bool {
        phase::is_done(self.phase_of(id))
    }

    pub(crate) fn now_text(&self) -> String {
        self.now.to_rfc3339_opts(SecondsFormat::Secs, true)
    }

    pub(crate) fn phase(&self) -> &str {
        self.status().phase.as_deref().unwrap_or(phase::PENDING)
    }

    pub(crate) fn is_finished(&self) -> bool {
        phase::is_done(self.phase())
    }

    pub(crate) fn workflow(&self) -> &Workflow {
        &self.wf
    }

    pub(crate) fn into_workflow(self) -> Workflow {
        self.wf
    }

    /// Rebuilds the index from the status, and queues every unfinished
    /// node that decides something (each once).
    fn rebuild(&mut self) {
        // Built beside the status (borrowed, not copied: a status may hold
        // 100,000 nodes), then swapped in.
        let mut idx = Index::default();
        let mut queue = Vec::new();
        let nodes = &self.status().nodes;
        for (id, node) in nodes {
            for child in &node.children {
                idx.parent.insert(child.clone(), id.clone());
            }
            let done = phase::is_done(node.phase.as_deref().unwrap_or_default());
            if node.r#type.as_deref() == Some(nt::POD) {
                idx.pods_total += 1;
                if done {
                    idx.pods_done += 1;
                } else {
                    // Pod nodes that are not done have a live pod (or one
                    // being created).
                    idx.live_pods.insert(id.clone(), self.pod_name_of(node));
                }
                if node.daemoned == Some(true) {
                    idx.daemons.insert(id.clone());
                }
            } else if !done {
                queue.push((id.clone(), None));
            }
            if node.name.ends_with(".onExit") || node.name.contains(".hooks.") {
                idx.exit_nodes.insert(id.clone());
            }
        }
        // Descendants of exit nodes are exit nodes too.
        let mut stack: Vec<String> = idx.exit_nodes.iter().cloned().collect();
        while let Some(id) = stack.pop() {
            for child in nodes
                .get(&id)
                .map(|n| n.children.as_slice())
                .unwrap_or_default()
            {
                if idx.exit_nodes.insert(child.clone()) {
                    stack.push(child.clone());
                }
            }
        }
        for id in nodes.keys() {
            if let Some(parent) = idx.parent.get(id)
                && self.is_settled(id)
            {
                *idx.settled_count.entry(parent.clone()).or_default() += 1;
                idx.counted.insert(id.clone());
            }
        }
        self.idx = idx;
        self.queue.extend(queue);
    }

    /// A done node whose exit handler and hooks are done.
    pub(crate) fn is_settled(&self, id: &str) -> bool {
        let Some(node) = self.node(id) else {
            return false;
        };
        if !phase::is_done(node.phase.as_deref().unwrap_or_default()) {
            return false;
        }
        if node.children.is_empty() {
            return true;
        }
        // Children named `<node>.onExit` or `<node>.hooks.*` (compared in
        // place: a group may have 100,000 children).
        let is_handler = |name: &str| {
            name.strip_prefix(node.name.as_str())
                .is_some_and(|rest| rest == ".onExit" || rest.starts_with(".hooks."))
        };
        node.children.iter().all(|c| match self.node(c) {
            Some(child) if is_handler(&child.name) => self.is_settled(c),
            _ => true,
        })
    }

    pub(crate) fn step(
        &mut self,
        observations: Vec<Observation>,
        now: DateTime<Utc>,
    ) -> Vec<Action> {
        self.now = now;
        self.wf_vars_cache.borrow_mut().take();
        self.actions.clear();
        self.requeue = None;
        self.pods_started = 0;
        if self.phase() == phase::PENDING || self.status().phase.is_none() {
            self.start();
        }
        for observation in observations {
            self.observe(observation);
        }
        let due: Vec<DateTime<Utc>> = self.idx.timers.range(..=now).map(|(t, _)| *t).collect();
        for t in due {
            for id in self.idx.timers.remove(&t).unwrap_or_default() {
                self.queue.push_back((id, None));
            }
        }
        if let Some((t, _)) = self.idx.timers.iter().next() {
            let t = *t;
            self.requeue_at(t);
        }
        if !self.is_finished() {
            self.check_deadlines();
            self.drain();
            self.check_finished();
        }
        self.update_progress();
        if let Some(at) = self.requeue.take()
            && !self.is_finished()
        {
            self.actions.push(Action::RequeueAt(at));
        }
        std::mem::take(&mut self.actions)
    }

    fn start(&mut self) {
        let now = self.now_text();
        let status = self.status_mut();
        status.phase = Some(phase::RUNNING.into());
        status.started_at.get_or_insert(now);
        if let Some(error) = self.setup_error.clone() {
            self.finish_workflow(phase::ERROR, Some(error));
            return;
        }
        if let Err(error) = self.start_root() {
            self.finish_workflow(phase::ERROR, Some(error));
        }
    }

    fn observe(&mut self, observation: Observation) {
        match observation {
            Observation::Pod { node_id, pod } => self.observe_pod(&node_id, *pod),
            Observation::PodDeleted { node_id } => {
                self.idx.live_pods.remove(&node_id);
                if self.node(&node_id).is_some() && !self.is_done(&node_id) {
                    let message = self
                        .idx
                        .killed
                        .get(&node_id)
                        .cloned()
                        .unwrap_or_else(|| "pod deleted".to_owned());
                    self.finish(&node_id, phase::ERROR, Some(message));
                }
            }
            Observation::Result { node_id, result } => {
                let progress = result.progress.clone();
                self.idx.results.insert(node_id.clone(), *result);
                if let Some(node) = self.node_mut(&node_id)
                    && let Some(progress) = progress
                {
                    node.progress = Some(progress);
                }
                self.try_complete_pod(&node_id);
            }
            Observation::SpecChanged(spec) => self.spec_changed(*spec),
            Observation::Intent(intent) => self.intent(intent),
            Observation::Tick => {}
        }
    }

    fn spec_changed(&mut self, spec: WorkflowSpec) {
        let was_suspended = self.spec.suspend == Some(true);
        self.wf.spec.suspend = spec.suspend;
        self.spec.suspend = spec.suspend;
        self.wf.spec.shutdown = spec.shutdown.clone();
        self.spec.shutdown = spec.shutdown;
        self.wf.spec.active_deadline_seconds = spec.active_deadline_seconds;
        self.spec.active_deadline_seconds = spec.active_deadline_seconds;
        if was_suspended && self.spec.suspend != Some(true) {
            self.requeue_all();
        }
        self.apply_shutdown();
    }

    fn intent(&mut self, intent: Intent) {
        self.wf_vars_cache.borrow_mut().take();
        match intent {
            Intent::Resume { node, parameters } => {
                if self.spec.suspend == Some(true) && node.is_none() {
                    self.wf.spec.suspend = None;
                    self.spec.suspend = None;
                    self.requeue_all();
                }
                self.resume_nodes(node.as_deref(), &parameters);
            }
            Intent::Suspend => {
                self.wf.spec.suspend = Some(true);
                self.spec.suspend = Some(true);
            }
            Intent::Stop { message } => {
                self.wf.spec.shutdown = Some("Stop".into());
                self.spec.shutdown = Some("Stop".into());
                if let Some(m) = message {
                    self.status_mut().message = Some(m);
                }
                self.apply_shutdown();
            }
            Intent::Terminate { message } => {
                self.wf.spec.shutdown = Some("Terminate".into());
                self.spec.shutdown = Some("Terminate".into());
                if let Some(m) = message {
                    self.status_mut().message = Some(m);
                }
                self.apply_shutdown();
            }
            Intent::Retry {
                node,
                restart_successful,
                parameters,
            } => {
                let actions =
                    super::ops::retry(self, node.as_deref(), restart_successful, &parameters);
                self.actions.extend(actions);
                self.rebuild();
                self.requeue_all();
                // A workflow whose root was a failed pod lost its root node.
                if let Err(error) = self.start_root() {
                    self.finish_workflow(phase::ERROR, Some(error));
                }
            }
        }
    }

    /// Queues every unfinished composite node again.
    fn requeue_all(&mut self) {
        let ids: Vec<String> = self
            .status()
            .nodes
            .iter()
            .filter(|(_, n)| {
                !phase::is_done(n.phase.as_deref().unwrap_or_default())
                    && n.r#type.as_deref() != Some(nt::POD)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            self.queue.push_back((id, None));
        }
    }

    /// `spec.shutdown` or the workflow deadline: running pods are stopped
    /// (exit handlers keep theirs unless the strategy is Terminate).
    pub(crate) fn shutdown_reason(&self) -> Option<String> {
        if let Some(strategy) = self.spec.shutdown.as_deref().filter(|s| !s.is_empty()) {
            return Some(format!("Stopped with strategy '{strategy}'"));
        }
        if self.deadline_passed() {
            return Some("Step exceeded its deadline".to_owned());
        }
        None
    }

    /// Whether a node may start now (exit handlers may, unless terminated).
    pub(crate) fn may_start(&self, exit_handler: bool) -> Result<(), String> {
        match self.shutdown_reason() {
            None => Ok(()),
            Some(_) if exit_handler && self.spec.shutdown.as_deref() != Some("Terminate") => Ok(()),
            Some(reason) => Err(reason),
        }
    }

    fn deadline_passed(&self) -> bool {
        self.workflow_deadline().is_some_and(|d| self.now >= d)
    }

    fn workflow_deadline(&self) -> Option<DateTime<Utc>> {
        let seconds = self.spec.active_deadline_seconds?;
        let started = self.status().started_at.as_deref()?;
        let started = DateTime::parse_from_rfc3339(started)
            .ok()?
            .with_timezone(&Utc);
        Some(started + chrono::Duration::seconds(seconds))
    }

    fn check_deadlines(&mut self) {
        if let Some(deadline) = self.workflow_deadline() {
            if self.now >= deadline {
                self.apply_shutdown();
            } else {
                self.requeue_at(deadline);
            }
        }
    }

    fn apply_shutdown(&mut self) {
        let Some(reason) = self.shutdown_reason() else {
            return;
        };
        let terminate = self.spec.shutdown.as_deref() == Some("Terminate");
        let live = self.idx.live_pods_sorted();
        for (id, pod_name) in live {
            if self.idx.exit_nodes.contains(&id) && !terminate {
                continue;
            }
            if self.idx.killed.contains_key(&id) {
                continue;
            }
            self.idx.killed.insert(id.clone(), reason.clone());
            self.actions.push(Action::Signal {
                node_id: id.clone(),
                pod_name,
                signal: SIGTERM,
            });
        }
        // Suspended nodes end now.
        let suspended: Vec<String> = self
            .status()
            .nodes
            .iter()
            .filter(|(id, n)| {
                n.r#type.as_deref() == Some(nt::SUSPEND)
                    && !phase::is_done(n.phase.as_deref().unwrap_or_default())
                    && (terminate || !self.idx.exit_nodes.contains(*id))
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in suspended {
            self.finish(&id, phase::FAILED, Some(reason.clone()));
        }
        self.requeue_all();
    }

    /// Looks at `id` again at `at`.
    pub(crate) fn wake_at(&mut self, id: &str, at: DateTime<Utc>) {
        let ids = self.idx.timers.entry(at).or_default();
        if !ids.iter().any(|i| i == id) {
            ids.push(id.to_owned());
        }
        self.requeue_at(at);
    }

    pub(crate) fn requeue_at(&mut self, at: DateTime<Utc>) {
        self.requeue = Some(match self.requeue {
            Some(t) if t <= at => t,
            _ => at,
        });
    }

    fn observe_pod(&mut self, id: &str, pod: PodObservation) {
        let Some(node) = self.node(id) else {
            return;
        };
        if phase::is_done(node.phase.as_deref().unwrap_or_default()) {
            // A daemon's pod, or a late report: only forget finished pods.
            if matches!(pod.phase, PodPhase::Succeeded | PodPhase::Failed) {
                self.idx.live_pods.remove(id);
            }
            self.idx.pods.insert(id.to_owned(), pod);
            return;
        }
        let daemon = self
            .idx
            .templates
            .get(id)
            .is_some_and(|t| t.daemon == Some(true));
        let started = pod
            .started_at
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true));
        let host = pod.host_node_name.clone();
        let ip = pod.pod_ip.clone();
        let pending_reason = pod.pending_reason.clone();
        let phase_now = pod.phase;
        if let Some(node) = self.node_mut(id) {
            if let Some(host) = host {
                node.host_node_name = Some(host);
            }
            if let Some(ip) = ip {
                node.pod_ip = Some(ip);
            }
            match phase_now {
                PodPhase::Pending => {
                    node.message = pending_reason;
                }
                PodPhase::Running => {
                    node.phase = Some(phase::RUNNING.into());
                    node.message = None;
                    if let Some(s) = started {
                        node.started_at = Some(s);
                    }
                }
                _ => {}
            }
        }
        self.update_containers(id, &pod);
        self.idx.pods.insert(id.to_owned(), pod);
        if daemon && phase_now == PodPhase::Running {
            if let Some(node) = self.node_mut(id) {
                node.daemoned = Some(true);
            }
            self.idx.daemons.insert(id.to_owned());
            self.finish(id, phase::SUCCEEDED, None);
            return;
        }
        self.try_complete_pod(id);
    }

    /// Container nodes of a containerSet follow their containers.
    fn update_containers(&mut self, id: &str, pod: &PodObservation) {
        let Some(node) = self.node(id) else {
            return;
        };
        if node.children.is_empty() {
            return;
        }
        let name = node.name.clone();
        let now = self.now_text();
        for c in &pod.containers {
            let child = self.id_of(&format!("{name}.{}", c.name));
            let Some(child_node) = self.node(&child) else {
                continue;
            };
            if phase::is_done(child_node.phase.as_deref().unwrap_or_default()) {
                continue;
            }
            let (new_phase, message) = match &c.state {
                ContainerState::Running => (phase::RUNNING, None),
                ContainerState::Terminated {
                    exit_code, reason, ..
                } => {
                    if *exit_code == 0 {
                        (phase::SUCCEEDED, None)
                    } else {
                        (
                            phase::FAILED,
                            Some(format!(
                                "{} (exit code {exit_code})",
                                nonempty(reason, "Error")
                            )),
                        )
                    }
                }
                _ => continue,
            };
            if let Some(n) = self.node_mut(&child) {
                n.phase = Some(new_phase.into());
                n.message = message;
                if new_phase == phase::RUNNING {
                    n.started_at.get_or_insert(now.clone());
                } else {
                    n.finished_at = Some(now.clone());
                }
            }
        }
    }

    /// Ends a pod node once its pod is done and its result is in (or the
    /// grace for the result passed).
    pub(crate) fn try_complete_pod(&mut self, id: &str) {
        if self.is_done(id) {
            return;
        }
        let Some(pod) = self.idx.pods.get(id) else {
            return;
        };
        if !matches!(pod.phase, PodPhase::Succeeded | PodPhase::Failed) {
            return;
        }
        let finished = pod.finished_at.unwrap_or(self.now);
        let result = self.idx.results.get(id);
        let complete = result.is_some_and(|r| r.complete);
        let has_result = result.is_some();
        let waited_long =
            self.now >= finished + chrono::Duration::seconds(RESULT_GRACE_SECONDS as i64);
        // Sidecars are stopped by `wait`: their exit codes say nothing.
        let sidecars: Vec<String> = self
            .idx
            .templates
            .get(id)
            .map(|t| {
                t.sidecars
                    .iter()
                    .filter_map(|s| s.container.str_field("name").map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let (mut node_phase, mut message, exit_code) = pod_outcome(pod, &sidecars);
        if !complete && !waited_long && node_phase == phase::SUCCEEDED {
            self.requeue_at(finished + chrono::Duration::seconds(RESULT_GRACE_SECONDS as i64));
            return;
        }
        if !complete && node_phase != phase::SUCCEEDED && !waited_long && has_result {
            // A failed pod whose executor is still reporting: wait for it.
            self.requeue_at(finished + chrono::Duration::seconds(RESULT_GRACE_SECONDS as i64));
            return;
        }
        let result = self.idx.results.get(id);
        let mut outputs = result.and_then(|r| r.outputs.clone());
        let failure = result.and_then(|r| r.failure.clone());
        self.status_mut()
            .task_results_completion_status
            .insert(id.to_owned(), complete);
        if let Some(failure) = failure
            && node_phase == phase::SUCCEEDED
        {
            node_phase = phase::FAILED;
            message = Some(failure);
        }
        if !complete && node_phase == phase::SUCCEEDED {
            node_phase = phase::ERROR;
            message = Some("the executor did not report the node's outputs".into());
        }
        if let Some(code) = exit_code {
            outputs
                .get_or_insert_with(Outputs::default)
                .exit_code
                .get_or_insert(code.to_string());
        }
        if let Some(reason) = self.idx.killed.get(id) {
            if node_phase != phase::SUCCEEDED {
                message = Some(reason.clone());
            }
        } else if node_phase != phase::SUCCEEDED
            && let Some(deadline) = self
                .node(id)
                .and_then(|n| n.extra.get("deadline"))
                .and_then(|d| d.as_str())
                .and_then(|d| DateTime::parse_from_rfc3339(d).ok())
            && finished >= deadline.with_timezone(&Utc) - chrono::Duration::seconds(1)
        {
            message = Some("Step exceeded its deadline".into());
        }
        let finished_text = finished.to_rfc3339_opts(SecondsFormat::Secs, true);
        if let Some(node) = self.node_mut(id) {
            node.outputs = outputs.filter(|o| *o != Outputs::default());
            node.finished_at = Some(finished_text);
            node.extra.remove("deadline");
        }
        super::exec::promote_globals(self, id);
        self.idx.live_pods.remove(id);
        // Container nodes left running end with the pod.
        self.finish(id, node_phase, message);
        let children = self
            .node(id)
            .map(|n| n.children.clone())
            .unwrap_or_default();
        for child in children {
            if !self.is_done(&child) {
                let phase_for = if node_phase == phase::SUCCEEDED {
                    phase::SUCCEEDED
                } else {
                    phase::FAILED
                };
                if let Some(n) = self.node_mut(&child) {
                    n.phase = Some(phase_for.into());
                }
            }
        }
    }

    /// Sets a node's final phase and tells its parent.
    pub(crate) fn finish(&mut self, id: &str, new_phase: &str, message: Option<String>) {
        let now = self.now_text();
        let is_pod;
        {
            let Some(node) = self.node_mut(id) else {
                return;
            };
            if phase::is_done(node.phase.as_deref().unwrap_or_default()) {
                return;
            }
            is_pod = node.r#type.as_deref() == Some(nt::POD);
            node.phase = Some(new_phase.to_owned());
            if message.is_some() {
                node.message = message;
            }
            node.started_at.get_or_insert_with(|| now.clone());
            node.finished_at.get_or_insert(now);
        }
        if !self.idx.parent.contains_key(id) {
            // The root or the exit handler: workflow.status changes.
            self.wf_vars_cache.borrow_mut().take();
        }
        if is_pod {
            self.idx.pods_done += 1;
            super::exec::wake_waiting(self);
        }
        self.notify(id);
    }

    /// Queues the parent of `id` (or the workflow, for a top-level node).
    pub(crate) fn notify(&mut self, id: &str) {
        match self.idx.parent.get(id).cloned() {
            Some(parent) => self.queue.push_back((parent, Some(id.to_owned()))),
            None => self.queue.push_back((String::new(), Some(id.to_owned()))),
        }
    }

    /// Adds `child` under `parent` in the status and the index.
    pub(crate) fn link(&mut self, parent: &str, child: &str) {
        // Callers create each node once, so no duplicate check (which
        // would cost the parent's size per child).
        if let Some(p) = self.node_mut(parent) {
            p.children.push(child.to_owned());
        }
        self.idx.parent.insert(child.to_owned(), parent.to_owned());
    }

    fn drain(&mut self) {
        let suspended = self.spec.suspend == Some(true);
        let mut deferred = VecDeque::new();
        while let Some((id, child)) = self.queue.pop_front() {
            if id.is_empty() {
                // A top-level node changed: the root or the exit handler.
                continue;
            }
            // A changed child's exit handler and hooks start before it
            // counts as settled: its parent waits for them, as upstream's
            // steps and DAGs do.
            if let Some(child) = &child
                && !self.is_done(&id)
            {
                super::exec::start_exit_and_hooks(self, &id, child);
            }
            if let Some(child) = &child
                && self.is_settled(child)
                && self.idx.counted.insert(child.clone())
            {
                *self.idx.settled_count.entry(id.clone()).or_default() += 1;
            }
            if suspended && child.is_none() {
                deferred.push_back((id, child));
                continue;
            }
            super::exec::advance(self, &id, child.as_deref());
        }
        self.queue = deferred;
    }

    /// Ends the workflow when its root (and exit handler) are done.
    fn check_finished(&mut self) {
        let name = self.wf_name().to_owned();
        let root = self.id_of(&name);
        if !self.is_settled(&root) {
            return;
        }
        let root_phase = self.phase_of(&root).to_owned();
        let root_message = self.node(&root).and_then(|n| n.message.clone());
        let exit_name = format!("{name}.onExit");
        let exit_id = self.id_of(&exit_name);
        if self.node(&exit_id).is_none() {
            match super::exec::start_workflow_exit(self, &exit_name) {
                Ok(true) => {
                    self.drain();
                    if !self.is_settled(&exit_id) {
                        return;
                    }
                }
                Ok(false) => {}
                Err(e) => {
                    self.finish_workflow(phase::ERROR, Some(e));
                    return;
                }
            }
        } else if !self.is_settled(&exit_id) {
            return;
        }
        let mut final_phase = root_phase;
        let mut message = root_message;
        if let Some(exit) = self.node(&exit_id)
            && final_phase == phase::SUCCEEDED
            && exit.phase.as_deref() != Some(phase::SUCCEEDED)
        {
            final_phase = exit.phase.clone().unwrap_or_else(|| phase::FAILED.into());
            message = exit.message.clone();
        }
        if final_phase == phase::SKIPPED || final_phase == phase::OMITTED {
            final_phase = phase::SUCCEEDED.into();
        }
        if let Some(reason) = self.shutdown_reason()
            && final_phase != phase::SUCCEEDED
        {
            message = Some(reason);
        }
        if self.status().message.is_some() && final_phase != phase::SUCCEEDED && message.is_none() {
            message = self.status().message.clone();
        }
        self.finish_workflow(&final_phase, message);
    }

    pub(crate) fn finish_workflow(&mut self, final_phase: &str, message: Option<String>) {
        let now = self.now_text();
        let status = self.status_mut();
        status.phase = Some(final_phase.to_owned());
        status.finished_at = Some(now);
        status.message = message;
        // Stop what still runs (daemons, sidecars of abandoned nodes).
        let live = self.idx.live_pods_sorted();
        for (id, pod_name) in live {
            if self
                .idx
                .killed
                .insert(id.clone(), "workflow finished".into())
                .is_none()
            {
                self.actions.push(Action::Signal {
                    node_id: id,
                    pod_name,
                    signal: SIGTERM,
                });
            }
        }
        super::exec::release_claims(self, final_phase);
        self.actions.push(Action::Finished {
            phase: final_phase.to_owned(),
        });
    }

    fn update_progress(&mut self) {
        let progress = format!("{}/{}", self.idx.pods_done, self.idx.pods_total);
        self.status_mut().progress = Some(progress);
    }

    pub(crate) fn pod_name_of(&self, node: &NodeStatus) -> String {
        let template = node.template_name.clone().unwrap_or_default();
        let id = node.id.clone().unwrap_or_default();
        crate::pod::names::pod_name(self.wf_name(), &node.name, &template, &id)
    }
}

fn nonempty<'a>(s: &'a str, default: &'a str) -> &'a str {
    if s.is_empty() { default } else { s }
}

/// A finished pod's node phase, message and main exit code.
fn pod_outcome(
    pod: &PodObservation,
    sidecars: &[String],
) -> (&'static str, Option<String>, Option<i32>) {
    let is_sidecar = |name: &str| sidecars.iter().any(|s| s == name);
    for c in &pod.init_containers {
        if let ContainerState::Terminated {
            exit_code, message, ..
        } = &c.state
            && *exit_code != 0
        {
            let text = if message.is_empty() {
                format!("init container {} failed (exit code {exit_code})", c.name)
            } else {
                message.trim().to_owned()
            };
            return (phase::ERROR, Some(text), None);
        }
    }
    let main = pod
        .containers
        .iter()
        .filter(|c| c.name != "wait" && !is_sidecar(&c.name))
        .find_map(|c| match &c.state {
            ContainerState::Terminated {
                exit_code,
                reason,
                message,
            } if c.name == "main" || *exit_code != 0 => {
                Some((*exit_code, reason.clone(), message.clone()))
            }
            _ => None,
        });
    let code = pod.containers.iter().find_map(|c| match &c.state {
        ContainerState::Terminated { exit_code, .. } if c.name == "main" => Some(*exit_code),
        _ => None,
    });
    let mains_ok = pod
        .containers
        .iter()
        .filter(|c| c.name != "wait" && !is_sidecar(&c.name))
        .all(|c| matches!(c.state, ContainerState::Terminated { exit_code: 0, .. }));
    if pod.phase == PodPhase::Succeeded
        || (mains_ok && !pod.containers.is_empty() && pod.reason != "Evicted")
    {
        return (phase::SUCCEEDED, None, code.or(Some(0)));
    }
    if pod.reason == "Evicted" {
        return (
            phase::ERROR,
            Some(format!("Pod was evicted: {}", pod.message)),
            code,
        );
    }
    if let Some((exit_code, reason, message)) = main
        && exit_code != 0
    {
        let mut text = format!("{} (exit code {exit_code})", nonempty(&reason, "Error"));
        if !message.trim().is_empty() {
            text = format!("{text}: {}", message.trim());
        }
        return (phase::FAILED, Some(text), Some(exit_code));
    }
    if let Some(c) = pod.containers.iter().find(|c| c.name == "wait")
        && let ContainerState::Terminated {
            exit_code, message, ..
        } = &c.state
        && *exit_code != 0
    {
        let text = if message.trim().is_empty() {
            format!("the executor failed (exit code {exit_code})")
        } else {
            message.trim().to_owned()
        };
        return (phase::ERROR, Some(text), code);
    }
    let text = if pod.message.is_empty() {
        "pod failed".to_owned()
    } else {
        pod.message.clone()
    };
    (phase::ERROR, Some(text), code)
}
