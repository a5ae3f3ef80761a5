//! The workflow as `argo get` shows it: a header and the node tree.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use sluice_api::types::{NodeStatus, Workflow};
use sluice_engine::pod::pod_name;
use sluice_engine::run::{node_type, phase};

fn parse_time(text: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `1m 5s`, as the tree shows durations.
pub fn human_duration(seconds: i64) -> String {
    let seconds = seconds.max(0);
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s => format!("{}h {}m", s / 3600, (s % 3600) / 60),
    }
}

/// The symbol of a phase.
pub fn symbol(node_phase: &str) -> &'static str {
    match node_phase {
        phase::SUCCEEDED => "✔",
        phase::FAILED => "✖",
        phase::ERROR => "⚠",
        phase::SKIPPED | phase::OMITTED => "○",
        phase::RUNNING => "●",
        _ => "◷",
    }
}

fn node_duration(node: &NodeStatus, now: DateTime<Utc>) -> String {
    let Some(started) = parse_time(node.started_at.as_deref()) else {
        return String::new();
    };
    let end = parse_time(node.finished_at.as_deref()).unwrap_or(now);
    human_duration((end - started).num_seconds())
}

/// The display name of a node.
pub fn display_name(node: &NodeStatus) -> &str {
    node.display_name.as_deref().unwrap_or(&node.name)
}

struct Row {
    prefix: String,
    name: String,
    template: String,
    pod: String,
    duration: String,
    message: String,
}

fn hidden(node: &NodeStatus) -> bool {
    matches!(
        node.r#type.as_deref(),
        Some(node_type::STEP_GROUP | node_type::TASK_GROUP)
    )
}

/// Visible children: step and task groups are flattened into their parent.
fn visible_children<'a>(wf: &'a Workflow, node: &'a NodeStatus) -> Vec<&'a str> {
    let nodes = &wf.status.as_ref().map(|s| &s.nodes);
    let mut out = Vec::new();
    for child in &node.children {
        match nodes.and_then(|n| n.get(child)) {
            Some(c) if hidden(c) => out.extend(visible_children(wf, c)),
            Some(_) => out.push(child.as_str()),
            None => {}
        }
    }
    out
}

fn walk(
    wf: &Workflow,
    id: &str,
    lead: &str,
    branch: &str,
    now: DateTime<Utc>,
    seen: &mut BTreeSet<String>,
    rows: &mut Vec<Row>,
) {
    let Some(node) = wf.status.as_ref().and_then(|s| s.nodes.get(id)) else {
        return;
    };
    if !seen.insert(id.to_owned()) {
        return;
    }
    let wf_name = wf.metadata.name.as_deref().unwrap_or("");
    let is_pod = node.r#type.as_deref() == Some(node_type::POD);
    let template = node.template_name.clone().unwrap_or_default();
    rows.push(Row {
        prefix: format!(
            "{lead}{branch}{} ",
            symbol(node.phase.as_deref().unwrap_or(phase::PENDING))
        ),
        name: display_name(node).to_owned(),
        template: template.clone(),
        pod: if is_pod {
            pod_name(wf_name, &node.name, &template, id)
        } else {
            String::new()
        },
        duration: node_duration(node, now),
        message: node.message.clone().unwrap_or_default(),
    });
    let children = visible_children(wf, node);
    let next_lead = match branch {
        "" => lead.to_owned(),
        "└─" => format!("{lead}  "),
        _ => format!("{lead}│ "),
    };
    for (i, child) in children.iter().enumerate() {
        let last = i + 1 == children.len();
        walk(
            wf,
            child,
            &next_lead,
            if last { "└─" } else { "├─" },
            now,
            seen,
            rows,
        );
    }
}

/// The header and node tree of a workflow.
pub fn render(wf: &Workflow, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let status = wf.status.clone().unwrap_or_default();
    let name = wf.metadata.name.as_deref().unwrap_or("");
    let field = |out: &mut String, label: &str, value: &str| {
        let _ = writeln!(out, "{:<20} {value}", format!("{label}:"));
    };
    field(&mut out, "Name", name);
    field(
        &mut out,
        "Namespace",
        wf.metadata.namespace.as_deref().unwrap_or("default"),
    );
    field(
        &mut out,
        "Status",
        status.phase.as_deref().unwrap_or(phase::PENDING),
    );
    if let Some(message) = status.message.as_deref().filter(|m| !m.is_empty()) {
        field(&mut out, "Message", message);
    }
    if let Some(started) = &status.started_at {
        field(&mut out, "Started", started);
    }
    if let Some(finished) = &status.finished_at {
        field(&mut out, "Finished", finished);
    }
    if let Some(started) = parse_time(status.started_at.as_deref()) {
        let end = parse_time(status.finished_at.as_deref()).unwrap_or(now);
        field(
            &mut out,
            "Duration",
            &human_duration((end - started).num_seconds()),
        );
    }
    if let Some(progress) = &status.progress {
        field(&mut out, "Progress", progress);
    }
    if let Some(params) = status.outputs.as_ref().map(|o| &o.parameters)
        && !params.is_empty()
    {
        out.push_str("Output Parameters:\n");
        for p in params {
            let value = p.value.as_ref().map(|v| v.as_text()).unwrap_or_default();
            let _ = writeln!(out, "  {}: {value}", p.name);
        }
    }

    let mut rows = Vec::new();
    let mut seen = BTreeSet::new();
    walk(wf, name, " ", "", now, &mut seen, &mut rows);
    // Nodes outside the main tree (exit handlers), each as its own root.
    let roots: Vec<String> = status
        .nodes
        .iter()
        .filter(|(id, node)| {
            !seen.contains(*id)
                && !hidden(node)
                && !status.nodes.values().any(|n| n.children.contains(id))
        })
        .map(|(id, _)| id.clone())
        .collect();
    for id in roots {
        walk(wf, &id, " ", "", now, &mut seen, &mut rows);
    }
    if rows.is_empty() {
        return out;
    }
    out.push('\n');
    let width = |f: &dyn Fn(&Row) -> usize, title: &str| {
        rows.iter()
            .map(f)
            .max()
            .unwrap_or(0)
            .max(title.chars().count())
    };
    let step_w = width(
        &|r| r.prefix.chars().count() + r.name.chars().count(),
        "STEP",
    );
    let tmpl_w = width(&|r| r.template.chars().count(), "TEMPLATE");
    let pod_w = width(&|r| r.pod.chars().count(), "PODNAME");
    let dur_w = width(&|r| r.duration.chars().count(), "DURATION");
    let pad = |s: &str, w: usize| format!("{s}{}", " ".repeat(w.saturating_sub(s.chars().count())));
    let _ = writeln!(
        out,
        "{}  {}  {}  {}  MESSAGE",
        pad("STEP", step_w),
        pad("TEMPLATE", tmpl_w),
        pad("PODNAME", pod_w),
        pad("DURATION", dur_w)
    );
    for row in rows {
        let line = format!(
            "{}  {}  {}  {}  {}",
            pad(&format!("{}{}", row.prefix, row.name), step_w),
            pad(&row.template, tmpl_w),
            pad(&row.pod, pod_w),
            pad(&row.duration, dur_w),
            row.message
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_steps_flattening_groups() {
        let wf: Workflow = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"name": "wf", "namespace": "default"},
            "spec": {},
            "status": {"phase": "Running", "nodes": {
                "wf": {"id": "wf", "name": "wf", "displayName": "wf", "type": "Steps",
                       "templateName": "main", "phase": "Running", "children": ["wf-1"]},
                "wf-1": {"id": "wf-1", "name": "wf[0]", "displayName": "[0]", "type": "StepGroup",
                         "phase": "Running", "children": ["wf-2", "wf-3"]},
                "wf-2": {"id": "wf-2", "name": "wf[0].a", "displayName": "a", "type": "Pod",
                         "templateName": "say", "phase": "Succeeded"},
                "wf-3": {"id": "wf-3", "name": "wf[0].b", "displayName": "b", "type": "Pod",
                         "templateName": "say", "phase": "Failed", "message": "Error (exit code 1)"}
            }}
        }))
        .expect("workflow");
        let text = render(&wf, Utc::now());
        assert!(text.contains("Status:              Running"), "{text}");
        assert!(text.contains(" ● wf "), "{text}");
        assert!(text.contains(" ├─✔ a"), "{text}");
        assert!(text.contains(" └─✖ b"), "{text}");
        assert!(text.contains("Error (exit code 1)"), "{text}");
        assert!(!text.contains("[0]"), "{text}");
    }
}
