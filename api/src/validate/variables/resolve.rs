//! Whether one variable resolves in a [`Frame`], and if not, what to say.

use super::scope::{
    Frame, Globals, Items, Kind, Node, NodeIndex, NodeKind, Nodes, TemplateScope, Viewer,
    sets_result, subject,
};
use super::{Problem, error, warning};
use crate::types::Template;
use crate::validate::closest;

/// `; did you mean "x"?` when a candidate is close to `name`, else nothing.
fn did_you_mean<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str>) -> String {
    closest(name, candidates).map_or_else(String::new, |c| format!("; did you mean {c:?}?"))
}

/// `a, b and c`.
pub(super) fn english_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Why `name` does not resolve in `frame`, if it does not.
pub(super) fn resolve(frame: &Frame<'_>, name: &str) -> Option<Problem> {
    let (root, rest) = match name.split_once('.') {
        Some((root, rest)) => (root, Some(rest)),
        None => (name, None),
    };
    if root == "workflow" {
        return rest.and_then(|rest| workflow(frame.globals, rest));
    }
    // Below the workflow level every other root is template-scoped.
    let template = frame.template?;
    match (root, rest) {
        ("inputs", Some(rest)) => inputs(template, rest),
        ("pod", Some(rest)) => pod(template, rest),
        ("item", Some(rest)) => item(frame.items, rest),
        ("item", None) if frame.items.is_none() => warning(NO_LOOP.to_owned()),
        ("steps", Some("name")) | ("tasks", Some("name")) => None,
        ("steps", Some(rest)) => node(frame, NodeKind::Step, rest),
        ("tasks", Some(rest)) => node(frame, NodeKind::Task, rest),
        ("retries", None) | ("lastRetry", Some(_)) if !template.retry => warning(format!(
            "{} has no retryStrategy, so {root} is never set; add a retryStrategy or remove the \
             reference",
            template.subject()
        )),
        _ => None,
    }
}

fn inputs(t: &TemplateScope<'_>, rest: &str) -> Option<Problem> {
    if rest == "parameters" {
        if t.params.is_empty() {
            return error(format!(
                "{} declares no input parameters; declare them in inputs.parameters",
                t.subject()
            ));
        }
        return None;
    }
    if let Some(param) = rest.strip_prefix("parameters.") {
        if t.params.contains(&param) {
            return None;
        }
        let hint = match did_you_mean(param, t.params.iter().copied()) {
            hint if hint.is_empty() => "; declare it in inputs.parameters".to_owned(),
            hint => hint,
        };
        return error(format!(
            "{} declares no input parameter {param:?}{hint}",
            t.subject()
        ));
    }
    if let Some(artifact) = rest.strip_prefix("artifacts.") {
        let (name, path) = match artifact.strip_suffix(".path") {
            Some(name) => (name, true),
            None => (artifact, false),
        };
        if !t.artifacts.contains(&name) {
            let hint = match did_you_mean(name, t.artifacts.iter().copied()) {
                hint if hint.is_empty() => "; declare it in inputs.artifacts".to_owned(),
                hint => hint,
            };
            return error(format!(
                "{} declares no input artifact {name:?}{hint}",
                t.subject()
            ));
        }
        if path && !t.kind.is_leaf() {
            return error(format!(
                "an input artifact has a path only in templates that run something (container, \
                 script, containerSet, resource, data, http, plugin), and {} is {}",
                t.subject(),
                t.kind.describe()
            ));
        }
        return None;
    }
    let mut candidates = vec!["parameters".to_owned()];
    candidates.extend(t.params.iter().map(|p| format!("parameters.{p}")));
    candidates.extend(t.artifacts.iter().map(|a| format!("artifacts.{a}")));
    // A misspelt field (`paramters.x`) or a misspelt name (`parameters.x`).
    let fixed = match rest.split_once('.') {
        Some((field, name)) => {
            closest(field, ["parameters", "artifacts"]).map(|field| format!("{field}.{name}"))
        }
        None => None,
    };
    let hint = match fixed.as_deref().or_else(|| closest_in(rest, &candidates)) {
        Some(c) => format!("; did you mean \"inputs.{c}\"?"),
        None => "; inputs has parameters.<name> and artifacts.<name>".to_owned(),
    };
    error(format!("unknown input variable{hint}"))
}

fn pod(t: &TemplateScope<'_>, rest: &str) -> Option<Problem> {
    if rest != "name" {
        return error(format!(
            "unknown pod variable{}",
            match did_you_mean(rest, ["name"]) {
                hint if hint.is_empty() => "; the only one is pod.name".to_owned(),
                _ => "; did you mean \"pod.name\"?".to_owned(),
            }
        ));
    }
    if t.kind.runs_pod() {
        return None;
    }
    error(format!(
        "pod.name is only set in templates that run a pod (container, script, containerSet, \
         resource, data), and {} is {}",
        t.subject(),
        t.kind.describe()
    ))
}

/// Why `item` is not set outside a loop.
const NO_LOOP: &str = "item is only set in a step or task with withItems, withParam or \
                       withSequence; add a loop or remove the reference";

fn item(items: Option<&Items>, key: &str) -> Option<Problem> {
    match items {
        None => error(NO_LOOP.to_owned()),
        Some(Items::Param) => None,
        Some(Items::Sequence) => {
            error("withSequence items are numbers, with no fields; use {{item}}".to_owned())
        }
        Some(Items::List { keys }) if keys.is_empty() => error(
            "withItems holds no maps or lists, so items have no fields; use {{item}}".to_owned(),
        ),
        Some(Items::List { keys }) if keys.contains(key) => None,
        Some(Items::List { keys }) => {
            let hint = match did_you_mean(key, keys.iter().map(String::as_str)) {
                hint if hint.is_empty() => format!(
                    "; the keys are {}",
                    english_list(&keys.iter().map(String::as_str).collect::<Vec<_>>())
                ),
                hint => hint,
            };
            error(format!("no item of withItems has the key {key:?}{hint}"))
        }
    }
}

/// `steps.<name>.<value>` or `tasks.<name>.<value>`.
fn node(frame: &Frame<'_>, kind: NodeKind, rest: &str) -> Option<Problem> {
    let (index, viewer) = match frame.nodes {
        Nodes::Some { index, viewer } if index.kind == kind => (index, viewer),
        _ => {
            let (there, other) = match kind {
                NodeKind::Step => ("the steps of a steps template", "tasks"),
                NodeKind::Task => ("the tasks of a DAG template", "steps"),
            };
            let hint = match frame.nodes {
                Nodes::Some { .. } => format!("; here, use {other}.<name>"),
                Nodes::None => String::new(),
            };
            return error(format!("{}.* is only set in {there}{hint}", kind.root()));
        }
    };
    let word = kind.word();
    let Some((name, value)) = rest.split_once('.') else {
        return error(format!(
            "name a value of the {word}, e.g. {}.{rest}.outputs.result",
            kind.root()
        ));
    };
    let Some(node) = index.nodes.get(name) else {
        let hint = did_you_mean(name, index.nodes.keys().copied());
        return error(format!(
            "{} has no {word} {name:?}{hint}",
            subject(index.owner)
        ));
    };
    if let Viewer::Node {
        name: viewer,
        group,
        hooks,
    } = viewer
    {
        let visible = match kind {
            NodeKind::Step => node.group < group,
            NodeKind::Task => index.ancestors.get(group).is_some_and(|a| a.contains(name)),
        };
        let own_hooks = hooks && name == viewer;
        if !(visible || own_hooks) {
            return error(not_yet(index, kind, name, node, viewer, group));
        }
    }
    node_value(kind, name, node, value)
}

/// Why a step or task is not available to `viewer`.
fn not_yet(
    index: &NodeIndex<'_>,
    kind: NodeKind,
    name: &str,
    node: &Node<'_>,
    viewer: &str,
    group: usize,
) -> String {
    let word = kind.word();
    if name == viewer {
        return format!("a {word} cannot use its own values outside its hooks");
    }
    match kind {
        NodeKind::Step if node.group == group => format!(
            "step {name:?} is in the same group (steps[{group}]) and runs in parallel with this \
             step; move it to an earlier group"
        ),
        NodeKind::Step => format!(
            "step {name:?} runs later, in steps[{}]; a step can only use steps of earlier \
             groups: move {name:?} before steps[{group}]",
            node.group
        ),
        NodeKind::Task => {
            let field = if index.uses_depends {
                "depends"
            } else {
                "dependencies"
            };
            format!(
                "task {viewer:?} does not depend on task {name:?}, so its values are not set \
                 yet; add {name:?} to the {field} of {viewer:?}"
            )
        }
    }
}

const NODE_VALUES: &str = "id, ip, status, exitCode, startedAt, finishedAt, hostNodeName, \
                           outputs.result, outputs.parameters.<name> and outputs.artifacts.<name>";

/// One value of a visible step or task.
fn node_value(kind: NodeKind, name: &str, node: &Node<'_>, value: &str) -> Option<Problem> {
    let word = kind.word();
    let root = kind.root();
    let of = |t: &Template| format!("{} of {word} {name:?}", subject(t));
    match value {
        "id" | "status" | "startedAt" | "finishedAt" | "hostNodeName" => None,
        "ip" => match node.target {
            Some(t) if t.daemon != Some(true) => error(format!(
                "{root}.{name}.ip is only set for daemons, and {} does not set daemon: true",
                of(t)
            )),
            _ => None,
        },
        "exitCode" | "outputs.result" => match node.target {
            Some(t) if !sets_result(t, node.looped) => error(format!(
                "{} is {}, which sets no {value}; only container, script, containerSet (with \
                     a \"main\" container), data, http and plugin templates do",
                of(t),
                Kind::of(t).describe()
            )),
            _ => None,
        },
        "outputs.parameters" if node.looped => None,
        "outputs.parameters" => error(format!(
            "{root}.{name}.outputs.parameters (every iteration's parameters) is only set for a \
             {word} with withItems, withParam or withSequence; name one parameter, e.g. \
             {root}.{name}.outputs.parameters.<name>"
        )),
        _ => {
            let (field, wanted) = match (
                value.strip_prefix("outputs.parameters."),
                value.strip_prefix("outputs.artifacts."),
            ) {
                (Some(p), _) => ("parameter", p),
                (_, Some(a)) => ("artifact", a),
                _ => return error(unknown_node_value(kind, name, node, value)),
            };
            let t = node.target?;
            let outputs = t.outputs.iter();
            let names: Vec<&str> = if field == "parameter" {
                let params = outputs.flat_map(|o| &o.parameters);
                params.map(|p| p.name.as_str()).collect()
            } else {
                let artifacts = outputs.flat_map(|o| &o.artifacts);
                artifacts.map(|a| a.name.as_str()).collect()
            };
            if names.contains(&wanted) {
                return None;
            }
            let hint = match did_you_mean(wanted, names.iter().copied()) {
                hint if hint.is_empty() => format!("; declare it in its outputs.{field}s"),
                hint => hint,
            };
            error(format!(
                "{} declares no output {field} {wanted:?}{hint}",
                of(t)
            ))
        }
    }
}

fn unknown_node_value(kind: NodeKind, name: &str, node: &Node<'_>, value: &str) -> String {
    let (word, root) = (kind.word(), kind.root());
    let mut candidates: Vec<String> = [
        "id",
        "ip",
        "status",
        "exitCode",
        "startedAt",
        "finishedAt",
        "hostNodeName",
        "outputs.result",
        "outputs.parameters",
    ]
    .map(str::to_owned)
    .to_vec();
    if let Some(t) = node.target {
        let outputs = t.outputs.iter();
        let params = outputs.clone().flat_map(|o| &o.parameters);
        candidates.extend(params.map(|p| format!("outputs.parameters.{}", p.name)));
        let artifacts = outputs.flat_map(|o| &o.artifacts);
        candidates.extend(artifacts.map(|a| format!("outputs.artifacts.{}", a.name)));
    }
    let hint = match closest_in(value, &candidates) {
        Some(c) => format!("; did you mean \"{root}.{name}.{c}\"?"),
        None => format!("; a {word} has {NODE_VALUES}"),
    };
    format!("{word} {name:?} has no value {value:?}{hint}")
}

fn closest_in<'c>(name: &str, candidates: &'c [String]) -> Option<&'c str> {
    closest(name, candidates.iter().map(String::as_str))
}

/// The `workflow.*` variables every workflow has.
const WORKFLOW_VALUES: [&str; 15] = [
    "name",
    "namespace",
    "uid",
    "serviceAccountName",
    "mainEntrypoint",
    "status",
    "duration",
    "creationTimestamp",
    "scheduledTime",
    "priority",
    "failures",
    "parameters",
    "parameters.json",
    "annotations",
    "labels",
];

fn workflow(globals: &Globals, rest: &str) -> Option<Problem> {
    let (head, tail) = match rest.split_once('.') {
        Some((head, tail)) => (head, Some(tail)),
        None => (rest, None),
    };
    match (head, tail) {
        (
            "name" | "namespace" | "uid" | "serviceAccountName" | "mainEntrypoint" | "status",
            None,
        ) => None,
        // Upstream accepts anything under these (strftime formats, ...).
        _ if ["creationTimestamp", "scheduledTime", "duration"]
            .iter()
            .any(|p| rest.starts_with(p)) =>
        {
            None
        }
        ("annotations" | "labels", _) => None,
        ("priority", None) if globals.priority => None,
        ("priority", None) => error(
            "workflow.priority is only set when spec.priority is; set spec.priority or remove \
             the reference"
                .to_owned(),
        ),
        ("failures", None) if globals.exit_handler => None,
        ("failures", None) => error(
            "workflow.failures is only set for exit handlers; set spec.onExit to the template \
             that uses it"
                .to_owned(),
        ),
        ("parameters", None) | ("parameters", Some("json")) => {
            if globals.params.any || !globals.params.names.is_empty() {
                None
            } else {
                error(format!(
                    "the workflow declares no parameters; declare them in {}",
                    globals.params_path
                ))
            }
        }
        ("parameters", Some(param)) if globals.params.contains(param) => None,
        ("parameters", Some(param)) => {
            let hint = match did_you_mean(param, globals.params.names.iter().map(String::as_str)) {
                hint if hint.is_empty() => format!("; declare it in {}", globals.params_path),
                hint => hint,
            };
            error(format!(
                "the workflow declares no parameter {param:?}{hint}"
            ))
        }
        ("outputs", Some(tail))
            if tail.starts_with("parameters.") || tail.starts_with("artifacts.") =>
        {
            let (field, names, global) = match tail.strip_prefix("parameters.") {
                Some(g) => ("parameter", &globals.output_params, g),
                None => (
                    "artifact",
                    &globals.output_artifacts,
                    &tail["artifacts.".len()..],
                ),
            };
            if names.contains(global) {
                return None;
            }
            let hint = match did_you_mean(global, names.names.iter().map(String::as_str)) {
                hint if hint.is_empty() => format!(
                    "; set globalName: {global} on a template's output {field} to make it global"
                ),
                hint => hint,
            };
            error(format!(
                "no template declares an output {field} with globalName {global:?}{hint}"
            ))
        }
        _ => {
            let mut candidates: Vec<String> =
                WORKFLOW_VALUES.iter().map(|v| (*v).to_owned()).collect();
            let params = globals.params.names.iter();
            candidates.extend(params.map(|p| format!("parameters.{p}")));
            let outputs = globals.output_params.names.iter();
            candidates.extend(outputs.map(|p| format!("outputs.parameters.{p}")));
            let artifacts = globals.output_artifacts.names.iter();
            candidates.extend(artifacts.map(|a| format!("outputs.artifacts.{a}")));
            let hint = match closest_in(rest, &candidates) {
                Some(c) => format!("; did you mean \"workflow.{c}\"?"),
                None => format!(
                    "; the workflow variables are {}, parameters.<name>, annotations.<name>, \
                     labels.<name>, outputs.parameters.<name> and outputs.artifacts.<name>",
                    english_list(&WORKFLOW_VALUES)
                ),
            };
            error(format!("unknown workflow variable{hint}"))
        }
    }
}
