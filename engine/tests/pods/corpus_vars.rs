//! Every template variable upstream's examples use, resolved by the engine.
//!
//! 1. Every `{{...}}` of every Workflow, WorkflowTemplate,
//!    ClusterWorkflowTemplate and CronWorkflow (its `workflowSpec`) of the
//!    corpus is extracted (the variables of `{{= }}` expressions too) and
//!    normalised into a shape (`steps.<name>.outputs.parameters.<p>`); the
//!    table of shapes is printed.
//! 2. Every Workflow and CronWorkflow, and every WorkflowTemplate and
//!    ClusterWorkflowTemplate (submitted through `workflowTemplateRef`), runs
//!    through the engine against a simulated backend: each pod succeeds at
//!    once with a result, an exit code and every declared output (a JSON
//!    list where a `withParam` consumes it), suspended nodes are resumed,
//!    deadlines reached by ticking a later `now`. The corpus's
//!    WorkflowTemplates, ClusterWorkflowTemplates and ConfigMaps are in the
//!    `Env`.
//! 3. No `{{` may be left in the pods the engine emitted and no node may
//!    fail because of a variable, except the explicit [`ALLOWED`] entries
//!    (upstream leaves them too) and the [`KNOWN_GAPS`] (engine bugs, each
//!    asserted to still fail); every shape must have resolved in at least
//!    one run, except the [`UNRUN_SHAPES`] (each asserted still unrun).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value as Json, json};
use sluice_api::Config;
use sluice_api::tags::{TagKind, Tags, expression_variables};
use sluice_api::types::{
    AnyString, Artifact, NodeStatus, Object, Outputs, Parameter, Workflow, WorkflowSpec,
};
use sluice_engine::run::{
    Action, ContainerObservation, ContainerState, Env, Intent, Observation, PodObservation,
    PodPhase, ResultObservation, Run, phase,
};

/// `{{...}}` that may stay in a pod or fail a node, as upstream leaves them
/// too: (file, variable, why).
const ALLOWED: &[(&str, &str, &str)] = &[];

/// Variables upstream resolves and the engine does not yet: (file, variable,
/// why). Each is asserted to still fail, so fixing one forces its removal.
const KNOWN_GAPS: &[(&str, &str, &str)] = &[];

/// Shapes no run resolves, because every workflow using them needs
/// something the engine does not run: (shape, why). Each is asserted to be
/// still unresolved.
const UNRUN_SHAPES: &[(&str, &str)] = &[
    (
        "duration",
        "only in template metrics (stripped: the engine emits no metrics)",
    ),
    (
        "status",
        "only in template metrics (stripped: the engine emits no metrics)",
    ),
    ("exitCode", SHOWCASE),
    ("outputs.parameters.<p>", SHOWCASE),
    ("outputs.result", SHOWCASE),
    ("resourcesDuration.cpu", SHOWCASE),
    ("resourcesDuration.memory", SHOWCASE),
];

/// Why a shape only variables-showcase.yaml uses is unrun.
const SHOWCASE: &str = "only in variables-showcase.yaml's template metrics (stripped)";

/// Fields removed from templates and the spec before a run: the engine
/// does not run them yet ("not supported yet"), they need a cluster
/// (semaphores, memoization caches) or they only feed a controller's
/// Prometheus metrics, and none changes how the rest of a template's
/// variables resolve. References under them are never counted as resolved.
const STRIPPED: [&str; 3] = ["metrics", "memoize", "synchronization"];

/// Simulated steps per workflow before giving up.
const MAX_STEPS: usize = 400;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/argo-examples")
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-06-01T10:00:00Z")
        .expect("time")
        .with_timezone(&Utc)
}

/// One document of the corpus holding a workflow spec.
struct Doc {
    file: String,
    kind: &'static str,
    name: String,
    metadata: Json,
    /// The workflow spec as JSON (a CronWorkflow's `workflowSpec`).
    spec: Json,
    /// Parameters a WorkflowEventBinding supplies when it submits this
    /// WorkflowTemplate.
    event_parameters: Vec<String>,
}

/// Every file under `dir` with a YAML or JSON extension, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            ) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The corpus's workflow documents and its ConfigMaps (name to data).
fn load() -> (Vec<Doc>, BTreeMap<String, BTreeMap<String, String>>) {
    let dir = corpus_dir();
    let mut docs = Vec::new();
    let mut config_maps = BTreeMap::new();
    let mut bindings: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for path in files(&dir) {
        let text = std::fs::read_to_string(&path).expect("corpus file");
        let file = path
            .strip_prefix(&dir)
            .unwrap_or(&path)
            .display()
            .to_string();
        let Ok(documents) = sluice_api::yaml::parse_documents(&text) else {
            continue;
        };
        for document in documents {
            let value = document.value;
            if value.get("kind").and_then(Json::as_str) == Some("WorkflowEventBinding") {
                // The event supplies these parameters when it submits.
                let submit = &value["spec"]["submit"];
                let template = submit["workflowTemplateRef"]["name"]
                    .as_str()
                    .unwrap_or_default();
                for p in submit["arguments"]["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    if let Some(name) = p["name"].as_str() {
                        bindings
                            .entry(template.to_owned())
                            .or_default()
                            .push(name.to_owned());
                    }
                }
                continue;
            }
            if value.get("kind").and_then(Json::as_str) == Some("ConfigMap") {
                let name = value["metadata"]["name"].as_str().unwrap_or_default();
                let data = value
                    .get("data")
                    .and_then(Json::as_object)
                    .map(|d| {
                        d.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                            .collect()
                    })
                    .unwrap_or_default();
                config_maps.insert(name.to_owned(), data);
                continue;
            }
            let Ok(Some(object)) = Object::from_value(&value) else {
                continue;
            };
            let kind = match &object {
                Object::Workflow(_) => "Workflow",
                Object::WorkflowTemplate(_) => "WorkflowTemplate",
                Object::ClusterWorkflowTemplate(_) => "ClusterWorkflowTemplate",
                Object::CronWorkflow(_) => "CronWorkflow",
                _ => continue,
            };
            if object.workflow_spec().is_none() {
                continue;
            }
            let spec = if kind == "CronWorkflow" {
                value["spec"]["workflowSpec"].clone()
            } else {
                value["spec"].clone()
            };
            let metadata = value.get("metadata").cloned().unwrap_or(json!({}));
            let name = metadata["name"]
                .as_str()
                .or_else(|| metadata["generateName"].as_str())
                .unwrap_or("wf-")
                .to_owned();
            docs.push(Doc {
                file: file.clone(),
                kind,
                name,
                metadata,
                spec,
                event_parameters: Vec::new(),
            });
        }
    }
    for doc in &mut docs {
        for name in bindings
            .get(&doc.name)
            .filter(|_| doc.kind == "WorkflowTemplate")
            .into_iter()
            .flatten()
        {
            doc.event_parameters.push(name.clone());
        }
    }
    (docs, config_maps)
}

// ---------------------------------------------------------------------------
// Extraction

/// Where in a spec a reference is written.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Place {
    /// The template (`None`: a workflow-level field).
    template: Option<String>,
    /// The step or task of that template.
    step: Option<String>,
    /// Under a field the runs strip ([`STRIPPED`]): never evaluated.
    stripped: bool,
}

/// One reference to a variable.
#[derive(Clone, Debug)]
struct Occurrence {
    doc: usize,
    place: Place,
    var: String,
    shape: String,
}

/// The shape of a variable: names of steps, tasks, parameters, artifacts,
/// labels and item keys replaced by placeholders.
fn shape(var: &str) -> String {
    let parts: Vec<&str> = var.split('.').collect();
    let named = |kind: &str| match kind {
        "parameters" => "<p>",
        _ => "<a>",
    };
    let io = |rest: &[&str]| -> String {
        // rest: [parameters|artifacts, NAME, tail...] or [result] ...
        match rest {
            [kind @ ("parameters" | "artifacts"), _name, tail @ ..] => {
                let mut s = format!("{kind}.{}", named(kind));
                for t in tail {
                    s.push('.');
                    s.push_str(t);
                }
                s
            }
            other => other.join("."),
        }
    };
    match parts.as_slice() {
        [scope @ ("steps" | "tasks"), _name, "outputs", rest @ ..] if !rest.is_empty() => {
            format!("{scope}.<name>.outputs.{}", io(rest))
        }
        [scope @ ("steps" | "tasks"), _name, rest @ ..] if !rest.is_empty() => {
            format!("{scope}.<name>.{}", rest.join("."))
        }
        [scope @ ("inputs" | "outputs"), rest @ ..] if rest.len() >= 2 => {
            format!("{scope}.{}", io(rest))
        }
        ["workflow", "parameters", p] if *p != "json" => "workflow.parameters.<p>".into(),
        ["workflow", "outputs", rest @ ..] if rest.len() >= 2 => {
            format!("workflow.outputs.{}", io(rest))
        }
        ["workflow", meta @ ("labels" | "annotations"), key @ ..]
            if !key.is_empty() && key != ["json"] =>
        {
            format!("workflow.{meta}.<key>")
        }
        ["item", _key, ..] => "item.<key>".into(),
        _ => var.to_owned(),
    }
}

/// Every reference of one document.
fn extract(index: usize, doc: &Doc, out: &mut Vec<Occurrence>) {
    let place = Place {
        template: None,
        step: None,
        stripped: false,
    };
    walk(index, &doc.spec, &mut Vec::new(), &place, out);
}

fn walk(
    index: usize,
    value: &Json,
    path: &mut Vec<String>,
    place: &Place,
    out: &mut Vec<Occurrence>,
) {
    match value {
        Json::String(s) => strings(index, s, place, out),
        Json::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let mut place = place.clone();
                let p: Vec<&str> = path.iter().map(String::as_str).collect();
                let name = item.get("name").and_then(Json::as_str).map(str::to_owned);
                match p.as_slice() {
                    ["templates"] => place.template = name,
                    [.., "steps"] | [.., "steps", _] | [.., "dag", "tasks"]
                        if place.template.is_some() && place.step.is_none() =>
                    {
                        place.step = name.or(place.step)
                    }
                    _ => {}
                }
                path.push(i.to_string());
                walk(index, item, path, &place, out);
                path.pop();
            }
        }
        Json::Object(fields) => {
            for (k, v) in fields {
                strings(index, k, place, out);
                let mut place = place.clone();
                if STRIPPED.contains(&k.as_str()) {
                    place.stripped = true;
                }
                path.push(k.clone());
                walk(index, v, path, &place, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// The variables a string refers to: (variable, whether in an expression).
fn variables_of(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for tag in Tags::new(text).flatten() {
        match tag.kind {
            TagKind::Simple => out.push(tag.body.to_owned()),
            TagKind::Expression => out.extend(expression_variables(tag.body)),
        }
    }
    out
}

fn strings(index: usize, text: &str, place: &Place, out: &mut Vec<Occurrence>) {
    if !text.contains("{{") {
        return;
    }
    for var in variables_of(text) {
        out.push(Occurrence {
            doc: index,
            place: place.clone(),
            shape: shape(&var),
            var,
        });
    }
}

// ---------------------------------------------------------------------------
// Simulation

/// What one run produced.
#[derive(Default)]
struct Outcome {
    /// `{{...}}` left in emitted pods: (template, variable).
    leftovers: BTreeSet<(String, String)>,
    /// Messages of failed nodes and of the workflow.
    failures: BTreeSet<String>,
    /// Variables named by failures about variables.
    failed_vars: BTreeSet<String>,
    /// Templates of nodes that ran: (document, template).
    ran: BTreeSet<(usize, String)>,
    /// Steps and tasks that ran: (document, template, step).
    ran_steps: BTreeSet<(usize, String, String)>,
    phase: String,
    pods: usize,
    started: bool,
}

/// Whether a failure message is about a variable.
fn about_variable(message: &str) -> bool {
    message.contains("{{") || message.contains("unable to resolve")
}

/// Values for the outputs consumers need: (step or task name, output) to
/// the item keys its `withParam` consumers use.
fn list_consumers(specs: &[&Json]) -> BTreeMap<(String, String), BTreeSet<String>> {
    let mut out: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    fn visit(v: &Json, out: &mut BTreeMap<(String, String), BTreeSet<String>>) {
        match v {
            Json::Object(fields) => {
                if let Some(Json::String(param)) = fields.get("withParam") {
                    let mut keys = BTreeSet::new();
                    for var in variables_of(&serde_json::to_string(v).unwrap_or_default()) {
                        if let Some(k) = var.strip_prefix("item.") {
                            keys.insert(k.to_owned());
                        }
                    }
                    for var in variables_of(param) {
                        let parts: Vec<&str> = var.split('.').collect();
                        if let ["steps" | "tasks", name, "outputs", rest @ ..] = parts.as_slice() {
                            let output = match rest {
                                ["result"] => "result".to_owned(),
                                ["parameters", p] => (*p).to_owned(),
                                _ => continue,
                            };
                            out.entry(((*name).to_owned(), output))
                                .or_default()
                                .extend(keys.iter().cloned());
                        }
                    }
                }
                for v in fields.values() {
                    visit(v, out);
                }
            }
            Json::Array(items) => items.iter().for_each(|v| visit(v, out)),
            _ => {}
        }
    }
    for spec in specs {
        visit(spec, &mut out);
    }
    out
}

/// Values `when` conditions compare outputs and items with:
/// (step or task, output) and ("", item key or output name) to the value.
fn when_hints(specs: &[&Json]) -> BTreeMap<(String, String), String> {
    const OPERATORS: [&str; 8] = ["==", "!=", "=~", "!~", ">=", "<=", ">", "<"];
    fn visit(v: &Json, out: &mut BTreeMap<(String, String), String>) {
        match v {
            Json::Object(fields) => {
                if let Some(Json::String(when)) = fields.get("when") {
                    for tag in Tags::new(when).flatten() {
                        if tag.kind != TagKind::Simple {
                            continue;
                        }
                        let rest = when[tag.span.end..].trim_start_matches(['"', '\'', ' ']);
                        let Some(op) = OPERATORS.iter().find(|op| rest.starts_with(**op)) else {
                            continue;
                        };
                        let value: String = rest[op.len()..]
                            .trim_start()
                            .trim_start_matches(['"', '\''])
                            .chars()
                            .take_while(|c| !c.is_whitespace() && !"\"')&|".contains(*c))
                            .collect();
                        let parts: Vec<&str> = tag.body.split('.').collect();
                        let key = match parts.as_slice() {
                            ["steps" | "tasks", name, "outputs", "result"] => {
                                ((*name).to_owned(), "result".to_owned())
                            }
                            ["steps" | "tasks", name, "outputs", "parameters", p] => {
                                ((*name).to_owned(), (*p).to_owned())
                            }
                            ["item", k] => (String::new(), (*k).to_owned()),
                            _ => continue,
                        };
                        if !value.is_empty() && !value.contains('{') {
                            out.entry(key).or_insert(value);
                        }
                    }
                }
                fields.values().for_each(|v| visit(v, out));
            }
            Json::Array(items) => items.iter().for_each(|v| visit(v, out)),
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    for spec in specs {
        visit(spec, &mut out);
    }
    out
}

/// What the simulated backend knows of the workflow's consumers.
struct Needs {
    lists: BTreeMap<(String, String), BTreeSet<String>>,
    hints: BTreeMap<(String, String), String>,
}

impl Needs {
    fn hint(&self, step: &str, output: &str) -> Option<String> {
        self.hints
            .get(&(step.to_owned(), output.to_owned()))
            .or_else(|| self.hints.get(&(String::new(), output.to_owned())))
            .cloned()
    }

    /// A value for an output of a node running `step`: a JSON list when a
    /// `withParam` consumes it (one item when the node is an iteration,
    /// whose results the engine aggregates), else the value a `when`
    /// compares it with, else `fallback`.
    fn value(&self, step: &str, iteration: bool, output: &str, fallback: Option<&str>) -> String {
        let scalar = || {
            self.hint(step, output)
                .or_else(|| fallback.map(str::to_owned))
                .unwrap_or_else(|| "1".to_owned())
        };
        let Some(keys) = self.lists.get(&(step.to_owned(), output.to_owned())) else {
            return scalar();
        };
        let item = |n: &str| -> Json {
            if keys.is_empty() {
                return json!(n);
            }
            Json::Object(
                keys.iter()
                    .map(|k| {
                        (
                            k.clone(),
                            json!(self.hint("", k).unwrap_or_else(|| n.to_owned())),
                        )
                    })
                    .collect(),
            )
        };
        if iteration {
            match item("1") {
                Json::String(s) => s,
                other => other.to_string(),
            }
        } else {
            Json::Array(vec![item("1"), item("2")]).to_string()
        }
    }
}

/// The two observations finishing a pod, with outputs for its template.
fn complete(
    node_id: &str,
    step: &str,
    iteration: bool,
    template: &Json,
    needs: &Needs,
    now: DateTime<Utc>,
) -> [Observation; 2] {
    let done = |name: &str| ContainerObservation {
        name: name.to_owned(),
        state: ContainerState::Terminated {
            exit_code: 0,
            reason: "Completed".to_owned(),
            message: String::new(),
        },
    };
    let pod = PodObservation {
        phase: PodPhase::Succeeded,
        init_containers: vec![done("init")],
        containers: vec![done("wait"), done("main")],
        started_at: Some(now),
        finished_at: Some(now),
        host_node_name: Some("node-1".into()),
        pod_ip: Some("10.0.0.7".into()),
        ..PodObservation::default()
    };
    let declared = &template["outputs"];
    let parameters = declared["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let name = p["name"].as_str().unwrap_or_default();
            let fallback = p["valueFrom"]["default"]
                .as_str()
                .or_else(|| p["value"].as_str());
            Parameter {
                name: name.to_owned(),
                value: Some(AnyString::text(
                    needs.value(step, iteration, name, fallback),
                )),
                ..Parameter::default()
            }
        })
        .collect();
    let artifacts = declared["artifacts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| {
            let name = a["name"].as_str()?;
            let art = json!({
                "name": name,
                "path": a["path"].clone(),
                "s3": {"bucket": "my-bucket", "endpoint": "minio:9000", "key": format!("{node_id}/{name}.tgz")},
            });
            serde_json::from_value::<Artifact>(art).ok()
        })
        .collect();
    let outputs = Outputs {
        result: Some(needs.value(step, iteration, "result", None)),
        exit_code: Some("0".into()),
        parameters,
        artifacts,
        ..Outputs::default()
    };
    [
        Observation::Result {
            node_id: node_id.to_owned(),
            result: Box::new(ResultObservation {
                outputs: Some(outputs),
                complete: true,
                ..ResultObservation::default()
            }),
        },
        Observation::Pod {
            node_id: node_id.to_owned(),
            pod: Box::new(pod),
        },
    ]
}

/// The step or task a node runs (`a(0:x)` gives `a`).
fn step_name(node: &NodeStatus) -> String {
    let display = node.display_name.clone().unwrap_or_else(|| {
        node.name
            .rsplit('.')
            .next()
            .unwrap_or(&node.name)
            .to_owned()
    });
    display.split('(').next().unwrap_or(&display).to_owned()
}

/// The template JSON the executor gets, from the pod or its ConfigMap.
fn pod_template(pod: &Json, config_map: Option<&Json>) -> Json {
    let from_env = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["env"].as_array())
        .flatten()
        .find(|e| e["name"] == sluice_engine::protocol::ENV_TEMPLATE)
        .and_then(|e| e["value"].as_str())
        .and_then(|s| serde_json::from_str(s).ok());
    from_env
        .or_else(|| {
            let data = config_map?.get("data")?.as_object()?;
            data.values()
                .find_map(|v| serde_json::from_str(v.as_str()?).ok())
        })
        .unwrap_or(Json::Null)
}

fn strings_of(value: &Json, out: &mut Vec<String>) {
    match value {
        Json::String(s) => out.push(s.clone()),
        Json::Array(items) => items.iter().for_each(|v| strings_of(v, out)),
        Json::Object(fields) => {
            for (k, v) in fields {
                out.push(k.clone());
                strings_of(v, out);
            }
        }
        _ => {}
    }
}

/// Runs one workflow; `own` is the document whose templates are the
/// workflow's own.
fn simulate(
    wf: Workflow,
    own: usize,
    docs: &[Doc],
    env: &Env,
    needs: &Needs,
    supplied: &BTreeMap<String, String>,
) -> Outcome {
    let mut run = Run::new(wf, env.clone());
    let mut now = t0();
    let mut observations = Vec::new();
    let mut out = Outcome::default();
    // node id -> (pod JSON, template JSON)
    let mut pods: Vec<(String, Json)> = Vec::new();
    let mut resumed = 0;
    for _ in 0..MAX_STEPS {
        let actions = run.step(std::mem::take(&mut observations), now);
        let mut requeue: Option<DateTime<Utc>> = None;
        let status = run.workflow().status.clone().unwrap_or_default();
        for action in actions {
            match action {
                Action::CreatePod {
                    node_id,
                    pod,
                    template_config_map,
                } => {
                    let pod = serde_json::to_value(&pod).expect("pod JSON");
                    let cm = template_config_map.map(|c| serde_json::to_value(&c).expect("cm"));
                    let template = pod_template(&pod, cm.as_ref());
                    let node = status.nodes.get(&node_id);
                    let step = node.map(step_name).unwrap_or_default();
                    let iteration = node
                        .and_then(|n| n.display_name.as_deref())
                        .is_some_and(|d| d.contains('('));
                    observations
                        .extend(complete(&node_id, &step, iteration, &template, needs, now));
                    let mut all = json!([pod, cm]);
                    if let Some(a) = all.as_array_mut() {
                        a.push(template);
                    }
                    pods.push((node_id, all));
                    out.pods += 1;
                }
                Action::Signal { node_id, .. } => {
                    observations.extend(complete(&node_id, "", false, &Json::Null, needs, now));
                }
                Action::RequeueAt(at) => {
                    requeue = Some(requeue.map_or(at, |r: DateTime<Utc>| r.min(at)));
                }
                _ => {}
            }
        }
        now += Duration::seconds(1);
        if !observations.is_empty() {
            continue;
        }
        if run.is_finished() {
            break;
        }
        let suspended = status.nodes.values().any(|n| {
            n.r#type.as_deref() == Some("Suspend") && n.phase.as_deref() == Some(phase::RUNNING)
        });
        if suspended && resumed < 20 {
            resumed += 1;
            observations.push(Observation::Intent(Intent::Resume {
                node: None,
                parameters: supplied.clone(),
            }));
        } else if let Some(at) = requeue {
            now = now.max(at);
            observations.push(Observation::Tick);
        } else {
            observations.push(Observation::Tick);
            now += Duration::seconds(3600);
            if resumed >= 20 {
                break;
            }
            resumed += 1;
        }
    }
    let wf = run.workflow();
    let status = wf.status.clone().unwrap_or_default();
    out.phase = run.phase().to_owned();
    out.started = !status.nodes.is_empty();
    // Where each node's template comes from.
    let by_ref = |name: &str, cluster: bool| -> Option<usize> {
        docs.iter().position(|d| {
            d.name == name
                && d.kind
                    == if cluster {
                        "ClusterWorkflowTemplate"
                    } else {
                        "WorkflowTemplate"
                    }
        })
    };
    let origin = |node: &NodeStatus| -> Option<(usize, String)> {
        match &node.template_ref {
            Some(r) => Some((
                by_ref(&r.name, r.cluster_scope == Some(true))?,
                r.template.clone()?,
            )),
            None => Some((own, node.template_name.clone()?)),
        }
    };
    for node in status.nodes.values() {
        let message = node.message.clone().unwrap_or_default();
        let unsupported = message.starts_with("not supported yet");
        if let Some(o) = origin(node).filter(|_| !unsupported && node.phase.is_some()) {
            out.ran.insert(o);
        }
        if let Some(parent) = node
            .boundary_id
            .as_ref()
            .and_then(|b| status.nodes.get(b))
            .and_then(origin)
        {
            out.ran_steps.insert((parent.0, parent.1, step_name(node)));
        }
        if matches!(node.phase.as_deref(), Some(phase::FAILED | phase::ERROR))
            && !message.is_empty()
        {
            out.failures.insert(format!("{}: {message}", node.name));
            if about_variable(&message) {
                out.failed_vars.extend(variables_of(&message));
                if message.contains("unable to resolve") && !message.contains("{{") {
                    out.failed_vars.insert(message.clone());
                }
            }
        }
    }
    if let Some(message) = &status.message
        && matches!(out.phase.as_str(), phase::FAILED | phase::ERROR)
    {
        out.failures.insert(format!("workflow: {message}"));
        if about_variable(message) {
            out.failed_vars.extend(variables_of(message));
        }
    }
    for (node_id, all) in &pods {
        let template = status
            .nodes
            .get(node_id)
            .and_then(|n| n.template_name.clone())
            .unwrap_or_default();
        let mut texts = Vec::new();
        strings_of(all, &mut texts);
        for text in texts.iter().filter(|t| t.contains("{{")) {
            let vars = variables_of(text);
            if vars.is_empty() {
                out.leftovers.insert((template.clone(), text.clone()));
            }
            for var in vars {
                out.leftovers.insert((template.clone(), var));
            }
        }
    }
    out
}

/// A workflow for a document: a Workflow as written, a CronWorkflow's
/// `workflowSpec` with the scheduled time the cron controller annotates, a
/// (Cluster)WorkflowTemplate through `workflowTemplateRef`.
/// A spec without the [`STRIPPED`] fields.
fn stripped(spec: &Json) -> Json {
    let mut spec = spec.clone();
    if let Some(fields) = spec.as_object_mut() {
        for key in STRIPPED {
            fields.remove(key);
        }
    }
    let templates = spec.get_mut("templates").and_then(Json::as_array_mut);
    for t in templates.into_iter().flatten() {
        if let Some(fields) = t.as_object_mut() {
            for key in STRIPPED {
                fields.remove(key);
            }
        }
    }
    spec
}

/// `-p NAME=1` for every workflow parameter without a value, as a user
/// submitting the workflow must give.
fn submitted_arguments(spec: &Json) -> Vec<Json> {
    spec["arguments"]["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p.get("value").is_none() && p.get("valueFrom").is_none())
        .map(|p| json!({"name": p["name"], "value": "1"}))
        .collect()
}

fn workflow_of(doc: &Doc) -> Workflow {
    let mut metadata = doc.metadata.clone();
    let base = metadata["generateName"]
        .as_str()
        .map(|g| format!("{g}abcde"))
        .or_else(|| metadata["name"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "wf-abcde".into());
    let mut supplied = submitted_arguments(&doc.spec);
    supplied.extend(
        doc.event_parameters
            .iter()
            .map(|name| json!({"name": name, "value": "1"})),
    );
    let mut spec = match doc.kind {
        "Workflow" | "CronWorkflow" => stripped(&doc.spec),
        "WorkflowTemplate" => json!({"workflowTemplateRef": {"name": doc.name}}),
        _ => json!({"workflowTemplateRef": {"name": doc.name, "clusterScope": true}}),
    };
    if !supplied.is_empty() {
        let mut params: Vec<Json> = spec["arguments"]["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|p| !supplied.iter().any(|s| s["name"] == p["name"]))
            .collect();
        params.extend(supplied);
        spec["arguments"]["parameters"] = Json::Array(params);
    }
    let meta = metadata.as_object_mut().expect("metadata");
    meta.remove("generateName");
    meta.insert("name".into(), json!(base));
    meta.insert("namespace".into(), json!("argo"));
    meta.insert("uid".into(), json!("0b7e6c1e-corpus"));
    meta.insert("creationTimestamp".into(), json!("2025-06-01T10:00:00Z"));
    if doc.kind == "CronWorkflow" {
        let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
        annotations["workflows.argoproj.io/scheduled-time"] = json!("2025-06-01T10:00:00Z");
    }
    let value = json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": metadata,
        "spec": spec,
    });
    serde_json::from_value(value).expect("workflow")
}

/// Values for suspend templates' supplied outputs: default, first enum
/// value, or `1`.
fn supplied_values(docs: &[Doc]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for doc in docs {
        for t in doc.spec["templates"].as_array().into_iter().flatten() {
            if t.get("suspend").is_none() {
                continue;
            }
            for p in t["outputs"]["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap_or_default().to_owned();
                let value = p["valueFrom"]["default"]
                    .as_str()
                    .or_else(|| p["enum"][0].as_str())
                    .unwrap_or("1");
                out.entry(name).or_insert_with(|| value.to_owned());
            }
        }
    }
    out
}

/// A template library's spec as the runs see it.
fn spec_of(doc: &Doc) -> WorkflowSpec {
    serde_json::from_value(stripped(&doc.spec)).expect("stripped spec")
}

/// A configuration whose `images:` index has the entrypoints of `images`
/// (what a controller would look up in the registry).
fn config(images: &BTreeSet<String>) -> Config {
    let index: serde_json::Map<String, Json> = images
        .iter()
        .map(|i| (i.clone(), json!({"cmd": ["/entrypoint"]})))
        .collect();
    Config::from_yaml_str(&json!({ "images": index }).to_string()).expect("configuration")
}

#[test]
fn corpus_variables_resolve() {
    let started = Instant::now();
    let (docs, config_maps) = load();
    assert!(
        docs.len() > 100,
        "the corpus has {} workflow documents",
        docs.len()
    );

    // 1. Extraction.
    let mut occurrences = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        extract(i, doc, &mut occurrences);
    }
    let mut shapes: BTreeMap<&str, usize> = BTreeMap::new();
    for o in &occurrences {
        *shapes.entry(o.shape.as_str()).or_default() += 1;
    }
    println!("{} references, {} shapes:", occurrences.len(), shapes.len());
    for (shape, count) in &shapes {
        println!("  {count:4}  {shape}");
    }

    // 2. Runs.
    let mut env = Env {
        config_maps,
        ..Env::default()
    };
    for doc in &docs {
        match doc.kind {
            "WorkflowTemplate" => {
                env.workflow_templates
                    .insert(doc.name.clone(), spec_of(doc));
            }
            "ClusterWorkflowTemplate" => {
                env.cluster_workflow_templates
                    .insert(doc.name.clone(), spec_of(doc));
            }
            _ => {}
        }
    }
    let supplied = supplied_values(&docs);
    let template_specs: Vec<&Json> = docs
        .iter()
        .filter(|d| d.kind.ends_with("WorkflowTemplate"))
        .map(|d| &d.spec)
        .collect();
    let mut outcomes = Vec::new();
    let mut images = BTreeSet::new();
    for (i, doc) in docs.iter().enumerate() {
        if doc.kind.ends_with("WorkflowTemplate") && doc.spec.get("entrypoint").is_none() {
            // A library: its templates run through other workflows' refs.
            continue;
        }
        let mut specs = template_specs.clone();
        specs.push(&doc.spec);
        let needs = Needs {
            lists: list_consumers(&specs),
            hints: when_hints(&specs),
        };
        let mut outcome = simulate(workflow_of(doc), i, &docs, &env, &needs, &supplied);
        // Images the registry would be asked about, then the run again.
        for _ in 0..8 {
            let unknown: Vec<String> = outcome
                .failures
                .iter()
                .filter_map(|f| {
                    let rest = f.split("command unknown for image ").nth(1)?;
                    Some(rest.split(": set command").next()?.to_owned())
                })
                .filter(|i| !images.contains(i))
                .collect();
            if unknown.is_empty() {
                break;
            }
            images.extend(unknown);
            env.config = config(&images);
            outcome = simulate(workflow_of(doc), i, &docs, &env, &needs, &supplied);
        }
        outcomes.push((i, outcome));
    }

    // 3. Findings: (file, variable) -> what happened.
    let mut findings: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (i, outcome) in &outcomes {
        let doc = &docs[*i];
        for (template, var) in &outcome.leftovers {
            findings
                .entry((doc.file.clone(), var.clone()))
                .or_default()
                .push(format!("left in the pod of template {template}"));
        }
        for var in &outcome.failed_vars {
            let messages: Vec<&String> = outcome
                .failures
                .iter()
                .filter(|m| m.contains(var.as_str()))
                .collect();
            findings
                .entry((doc.file.clone(), var.clone()))
                .or_default()
                .push(format!("node failed: {messages:?}"));
        }
    }
    println!("\nruns:");
    for (i, outcome) in &outcomes {
        let doc = &docs[*i];
        println!(
            "  {} {} ({}): {} pods, {}",
            doc.file, doc.name, doc.kind, outcome.pods, outcome.phase
        );
        for f in &outcome.failures {
            println!("      {f}");
        }
    }

    // Credit: a reference resolved when its template (and step) ran and
    // nothing about its variable was reported in that run.
    let mut resolved: BTreeMap<&str, usize> = BTreeMap::new();
    for o in &occurrences {
        for (i, outcome) in &outcomes {
            let file = &docs[o.doc].file;
            let unresolved = outcome.failed_vars.contains(&o.var)
                || outcome.leftovers.iter().any(|(_, v)| *v == o.var);
            let evaluated = match (&o.place.template, &o.place.step) {
                _ if o.place.stripped => false,
                (None, _) => *i == o.doc && outcome.started,
                (Some(t), None) => outcome.ran.contains(&(o.doc, t.clone())),
                (Some(t), Some(s)) => outcome.ran_steps.contains(&(o.doc, t.clone(), s.clone())),
            };
            if evaluated && !unresolved && !findings.contains_key(&(file.clone(), o.var.clone())) {
                *resolved.entry(o.shape.as_str()).or_default() += 1;
            }
        }
    }
    println!(
        "\nshapes resolved in a run: {} of {}",
        resolved.len(),
        shapes.len()
    );

    let mut problems = Vec::new();
    let listed = |list: &[(&str, &str, &str)], file: &str, var: &str| {
        list.iter().any(|(f, v, _)| *f == file && *v == var)
    };
    for ((file, var), what) in &findings {
        if !listed(ALLOWED, file, var) && !listed(KNOWN_GAPS, file, var) {
            problems.push(format!("{file}: {{{{{var}}}}}: {}", what.join("; ")));
        }
    }
    for (file, var, why) in ALLOWED.iter().chain(KNOWN_GAPS) {
        if !findings.contains_key(&((*file).to_owned(), (*var).to_owned())) {
            problems.push(format!(
                "{file}: {{{{{var}}}}} now resolves; remove it from the list ({why})"
            ));
        }
    }
    for shape in shapes.keys() {
        let unrun = UNRUN_SHAPES.iter().any(|(s, _)| s == shape);
        let gap = occurrences
            .iter()
            .filter(|o| o.shape == *shape)
            .all(|o| listed(KNOWN_GAPS, &docs[o.doc].file, &o.var));
        match (resolved.contains_key(shape), unrun) {
            (false, false) if !gap => {
                let files: BTreeSet<&str> = occurrences
                    .iter()
                    .filter(|o| o.shape == *shape)
                    .map(|o| docs[o.doc].file.as_str())
                    .collect();
                problems.push(format!("shape {shape} never resolved (used in {files:?})"));
            }
            (true, true) => problems.push(format!(
                "shape {shape} now resolves; remove it from UNRUN_SHAPES"
            )),
            _ => {}
        }
    }
    for (shape, _) in UNRUN_SHAPES {
        assert!(
            shapes.contains_key(shape),
            "UNRUN_SHAPES: {shape} is not in the corpus"
        );
    }
    let elapsed = started.elapsed();
    println!("\n{} runs in {:.2?}", outcomes.len(), elapsed);
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
