//! Operations: retrying a finished workflow, resubmitting it.

use std::collections::{BTreeMap, BTreeSet};

use sluice_api::types::{AnyString, ObjectMeta, Workflow};

use super::core::Engine;
use super::{Action, node_type as nt, phase};

/// Resets a finished workflow for another run of its failed parts:
/// failed leaves (and, with `restart_successful`, succeeded nodes named
/// `node`) go with everything under them, their ancestors run again, exit
/// handlers run again. Returns the pods to delete.
pub(crate) fn retry(
    e: &mut Engine,
    node: Option<&str>,
    restart_successful: bool,
    parameters: &BTreeMap<String, String>,
) -> Vec<Action> {
    let mut actions = Vec::new();
    if !phase::is_done(e.phase()) {
        actions.push(Action::Event {
            warning: true,
            reason: "RetryRefused".into(),
            message: "only a finished workflow can be retried".into(),
        });
        return actions;
    }
    if let Some(args) = e.spec.arguments.as_mut() {
        for p in args.parameters.iter_mut() {
            if let Some(v) = parameters.get(&p.name) {
                p.value = Some(AnyString::text(v.clone()));
            }
        }
    }
    if let Some(args) = e.wf.spec.arguments.as_mut() {
        for p in args.parameters.iter_mut() {
            if let Some(v) = parameters.get(&p.name) {
                p.value = Some(AnyString::text(v.clone()));
            }
        }
    }
    let nodes = e.status().nodes.clone();
    let mut remove: BTreeSet<String> = BTreeSet::new();
    for (id, n) in &nodes {
        let p = n.phase.as_deref().unwrap_or_default();
        let kind = n.r#type.as_deref().unwrap_or_default();
        let leaf = matches!(kind, nt::POD | nt::SUSPEND | nt::SKIPPED | nt::CONTAINER);
        let failed = matches!(p, phase::FAILED | phase::ERROR | phase::OMITTED);
        let selected = restart_successful
            && node.is_some_and(|want| n.name == want || n.display_name.as_deref() == Some(want));
        let exit = n.name.ends_with(".onExit") || n.name.contains(".hooks.");
        if (leaf && failed) || selected || exit {
            remove.insert(id.clone());
        }
    }
    // Everything under a removed node goes too.
    let mut stack: Vec<String> = remove.iter().cloned().collect();
    while let Some(id) = stack.pop() {
        if let Some(n) = nodes.get(&id) {
            for c in &n.children {
                if remove.insert(c.clone()) {
                    stack.push(c.clone());
                }
            }
        }
    }
    // Ancestors of removed nodes run again.
    let mut parent = BTreeMap::new();
    for (id, n) in &nodes {
        for c in &n.children {
            parent.insert(c.clone(), id.clone());
        }
    }
    let mut reset = BTreeSet::new();
    for id in &remove {
        let mut at = parent.get(id).cloned();
        while let Some(p) = at {
            if remove.contains(&p) || !reset.insert(p.clone()) {
                break;
            }
            at = parent.get(&p).cloned();
        }
    }
    // A failed composite that lost no child still runs again (its
    // children are re-evaluated).
    for (id, n) in &nodes {
        if matches!(n.phase.as_deref(), Some(phase::FAILED | phase::ERROR)) && !remove.contains(id)
        {
            reset.insert(id.clone());
        }
    }
    for id in &remove {
        if let Some(n) = nodes.get(id)
            && n.r#type.as_deref() == Some(nt::POD)
        {
            actions.push(Action::DeletePod {
                node_id: id.clone(),
                pod_name: e.pod_name_of(n),
            });
        }
    }
    let status = e.status_mut();
    status.nodes.retain(|id, _| !remove.contains(id));
    status
        .task_results_completion_status
        .retain(|id, _| !remove.contains(id));
    for n in status.nodes.values_mut() {
        n.children.retain(|c| !remove.contains(c));
        n.outbound_nodes.retain(|c| !remove.contains(c));
    }
    for id in &reset {
        if let Some(n) = status.nodes.get_mut(id) {
            n.phase = Some(phase::RUNNING.into());
            n.finished_at = None;
            n.message = None;
            n.outputs = None;
        }
    }
    status.phase = Some(phase::RUNNING.into());
    status.finished_at = None;
    status.message = None;
    e.wf.spec.shutdown = None;
    e.spec.shutdown = None;
    actions
}

/// A new workflow with the same spec (upstream's `resubmit`): named
/// `<name>-` plus a suffix the backend generates, labels and annotations
/// kept, no status.
pub fn resubmit(workflow: &Workflow) -> Workflow {
    let mut metadata = ObjectMeta {
        generate_name: Some(format!(
            "{}-",
            workflow.metadata.name.as_deref().unwrap_or("workflow")
        )),
        namespace: workflow.metadata.namespace.clone(),
        labels: workflow.metadata.labels.clone(),
        annotations: workflow.metadata.annotations.clone(),
        ..ObjectMeta::default()
    };
    metadata.labels.insert(
        "workflows.argoproj.io/resubmitted-from-workflow".into(),
        workflow.metadata.name.clone().unwrap_or_default(),
    );
    let mut spec = workflow.spec.clone();
    spec.shutdown = None;
    spec.suspend = None;
    Workflow {
        api_version: workflow.api_version.clone(),
        kind: workflow.kind.clone(),
        metadata,
        spec,
        status: None,
        extra: Default::default(),
    }
}
