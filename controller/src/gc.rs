//! Garbage collection: workflow pods (`podGC`) and finished workflows
//! (`ttlStrategy`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Pod;
use kube::core::DynamicObject;
use kube::runtime::controller::Action as Requeue;
use sluice_api::duration::parse_go_duration;
use sluice_api::types::{PodGC, TTLStrategy, Workflow};

use crate::workflow::LABEL_PHASE;
use crate::{Context, Error, artgc, kinds, ops};

/// When a pod may be deleted under `strategy`, given the workflow's phase
/// (`None` while it runs) and when the workflow finished: `None` when it
/// must stay.
pub fn pod_deletion_time(
    gc: &PodGC,
    pod: &Pod,
    workflow_phase: Option<&str>,
    workflow_finished: Option<DateTime<Utc>>,
    default_delay: Duration,
) -> Option<DateTime<Utc>> {
    let strategy = gc.strategy.as_deref().unwrap_or_default();
    if !selected(gc, pod) {
        return None;
    }
    let pod_phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    let pod_finished = pod
        .status
        .iter()
        .flat_map(|s| s.container_statuses.iter().flatten())
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
        .filter_map(crate::observe::to_chrono)
        .max();
    let since = match strategy {
        "OnPodCompletion" if matches!(pod_phase, Some("Succeeded" | "Failed")) => {
            pod_finished.or(workflow_finished)
        }
        "OnPodSuccess" if pod_phase == Some("Succeeded") => pod_finished.or(workflow_finished),
        "OnWorkflowCompletion" if workflow_phase.is_some() => workflow_finished,
        "OnWorkflowSuccess" if workflow_phase == Some("Succeeded") => workflow_finished,
        _ => return None,
    };
    let delay = gc
        .delete_delay_duration
        .as_deref()
        .and_then(|d| parse_go_duration(d).ok())
        .unwrap_or(default_delay);
    let since = since.unwrap_or_else(Utc::now);
    Some(since + chrono::Duration::from_std(delay).unwrap_or_default())
}

/// Whether the pod matches the podGC's `labelSelector` (all pods without one).
fn selected(gc: &PodGC, pod: &Pod) -> bool {
    let Some(selector) = &gc.label_selector else {
        return true;
    };
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let value = selector.value();
    if let Some(match_labels) = value.get("matchLabels").and_then(|m| m.as_object()) {
        for (k, v) in match_labels {
            if labels.get(k).map(String::as_str) != v.as_str() {
                return false;
            }
        }
    }
    for expression in value
        .get("matchExpressions")
        .and_then(|m| m.as_array())
        .into_iter()
        .flatten()
    {
        let key = expression
            .get("key")
            .and_then(|k| k.as_str())
            .unwrap_or_default();
        let values: Vec<&str> = expression
            .get("values")
            .and_then(|v| v.as_array())
            .map(|v| v.iter().filter_map(|x| x.as_str()).collect())
            .unwrap_or_default();
        let actual = labels.get(key).map(String::as_str);
        let ok = match expression.get("operator").and_then(|o| o.as_str()) {
            Some("In") => actual.is_some_and(|a| values.contains(&a)),
            Some("NotIn") => actual.is_none_or(|a| !values.contains(&a)),
            Some("Exists") => actual.is_some(),
            Some("DoesNotExist") => actual.is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

/// When a finished workflow is deleted under its TTL strategy.
pub fn ttl_deletion_time(
    ttl: &TTLStrategy,
    phase: &str,
    finished: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let seconds = match phase {
        "Succeeded" => ttl.seconds_after_success.or(ttl.seconds_after_completion),
        _ => ttl.seconds_after_failure.or(ttl.seconds_after_completion),
    }?;
    Some(finished + chrono::Duration::seconds(seconds.max(0)))
}

fn parse_time(text: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Deletes the pods of a workflow that `podGC` says may go now; returns when
/// to look again for those that may go later.
pub async fn collect_pods(
    workflow: &Workflow,
    ctx: &Context,
    workflow_phase: Option<&str>,
) -> Result<Option<DateTime<Utc>>, Error> {
    let Some(gc) = &workflow.spec.pod_gc else {
        return Ok(None);
    };
    let namespace = workflow.metadata.namespace.clone().unwrap_or_default();
    let name = workflow.metadata.name.clone().unwrap_or_default();
    let finished = parse_time(
        workflow
            .status
            .as_ref()
            .and_then(|s| s.finished_at.as_deref()),
    );
    let config = ctx.config();
    let default_delay = config
        .pod_gc_delete_delay()
        .unwrap_or(Duration::from_secs(5));
    let grace = config
        .pod_gc_grace_period_seconds
        .and_then(|s| u32::try_from(s).ok());
    let now = Utc::now();
    let mut next: Option<DateTime<Utc>> = None;
    for pod in ctx.pods.of(&(namespace.clone(), name)) {
        // GC pods are not the workflow's: they go with it.
        if pod.metadata.deletion_timestamp.is_some() || artgc::is_gc_pod(&pod) {
            continue;
        }
        let Some(at) = pod_deletion_time(gc, &pod, workflow_phase, finished, default_delay) else {
            continue;
        };
        if at <= now {
            let pod_name = pod.metadata.name.clone().unwrap_or_default();
            ops::delete_pod(ctx.client(), &namespace, &pod_name, grace).await?;
        } else {
            next = Some(next.map_or(at, |n| n.min(at)));
        }
    }
    Ok(next)
}

/// A finished workflow: pods collected, then the workflow itself when its
/// TTL has passed.
pub async fn finished(object: &DynamicObject, ctx: &Context) -> Result<Requeue, Error> {
    if let Some(requeue) = artgc::collect(object, ctx, false).await? {
        return Ok(requeue);
    }
    let workflow: Workflow = kinds::from_dynamic(object)?;
    let phase = object
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(LABEL_PHASE))
        .cloned()
        .or_else(|| workflow.status.as_ref().and_then(|s| s.phase.clone()))
        .unwrap_or_default();
    let mut next = collect_pods(&workflow, ctx, Some(&phase)).await?;
    let finished = parse_time(
        workflow
            .status
            .as_ref()
            .and_then(|s| s.finished_at.as_deref()),
    );
    let ttl = workflow.spec.ttl_strategy.clone().or_else(|| {
        ctx.config()
            .workflow_defaults
            .as_ref()
            .and_then(|d| d.spec.ttl_strategy.clone())
    });
    if let (Some(ttl), Some(finished)) = (ttl, finished)
        && let Some(at) = ttl_deletion_time(&ttl, &phase, finished)
    {
        if at <= Utc::now() {
            let namespace = object.metadata.namespace.clone().unwrap_or_default();
            let name = object.metadata.name.clone().unwrap_or_default();
            ops::delete_workflow(ctx.client(), &namespace, &name).await?;
            ctx.metrics.workflow_deleted(&(namespace, name));
            return Ok(Requeue::await_change());
        }
        next = Some(next.map_or(at, |n| n.min(at)));
    }
    Ok(match next {
        Some(at) => Requeue::requeue(
            (at - Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .max(Duration::from_millis(100)),
        ),
        None => Requeue::await_change(),
    })
}

/// A workflow being deleted: only the artifact GC finalizer holds it (its
/// pods and results go with it through their owner references).
pub async fn deleting(object: &DynamicObject, ctx: &Context) -> Result<Requeue, Error> {
    if let Some(requeue) = artgc::collect(object, ctx, true).await? {
        return Ok(requeue);
    }
    let key = (
        object.metadata.namespace.clone().unwrap_or_default(),
        object.metadata.name.clone().unwrap_or_default(),
    );
    ctx.metrics.workflow_deleted(&key);
    Ok(Requeue::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(phase: &str, labels: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "labels": labels},
            "status": {"phase": phase, "containerStatuses": [{"name": "main", "image": "x",
                "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 0, "finishedAt": "2026-01-01T00:00:10Z"}}}]}
        }))
        .expect("pod")
    }

    fn gc(strategy: &str, delay: Option<&str>) -> PodGC {
        PodGC {
            strategy: Some(strategy.into()),
            delete_delay_duration: delay.map(Into::into),
            ..PodGC::default()
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        parse_time(Some(text)).expect("time")
    }

    #[test]
    fn pod_strategies_follow_upstream() {
        let succeeded = pod("Succeeded", serde_json::json!({}));
        let failed = pod("Failed", serde_json::json!({}));
        let running = pod("Running", serde_json::json!({}));
        let end = Some(at("2026-01-01T00:01:00Z"));
        let d = Duration::from_secs(5);
        assert_eq!(
            pod_deletion_time(&gc("OnPodCompletion", None), &failed, None, None, d),
            Some(at("2026-01-01T00:00:15Z"))
        );
        assert_eq!(
            pod_deletion_time(&gc("OnPodCompletion", None), &running, None, None, d),
            None
        );
        assert_eq!(
            pod_deletion_time(&gc("OnPodSuccess", None), &failed, None, None, d),
            None
        );
        assert_eq!(
            pod_deletion_time(&gc("OnPodSuccess", Some("1m")), &succeeded, None, None, d),
            Some(at("2026-01-01T00:01:10Z"))
        );
        assert_eq!(
            pod_deletion_time(&gc("OnWorkflowCompletion", None), &succeeded, None, None, d),
            None
        );
        assert_eq!(
            pod_deletion_time(
                &gc("OnWorkflowCompletion", Some("0s")),
                &running,
                Some("Failed"),
                end,
                d
            ),
            end
        );
        assert_eq!(
            pod_deletion_time(
                &gc("OnWorkflowSuccess", None),
                &succeeded,
                Some("Failed"),
                end,
                d
            ),
            None
        );
    }

    #[test]
    fn the_label_selector_narrows_the_pods() {
        let mut strategy = gc("OnPodCompletion", Some("0s"));
        strategy.label_selector = serde_json::from_value(serde_json::json!({
            "matchLabels": {"keep": "no"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]
        }))
        .expect("selector");
        let d = Duration::ZERO;
        let chosen = pod("Succeeded", serde_json::json!({"keep": "no", "tier": "a"}));
        let other = pod("Succeeded", serde_json::json!({"keep": "no", "tier": "c"}));
        assert!(pod_deletion_time(&strategy, &chosen, None, None, d).is_some());
        assert!(pod_deletion_time(&strategy, &other, None, None, d).is_none());
    }

    #[test]
    fn ttl_picks_the_phase_specific_figure_first() {
        let ttl = TTLStrategy {
            seconds_after_completion: Some(100),
            seconds_after_success: Some(10),
            ..TTLStrategy::default()
        };
        let end = at("2026-01-01T00:00:00Z");
        assert_eq!(
            ttl_deletion_time(&ttl, "Succeeded", end),
            Some(at("2026-01-01T00:00:10Z"))
        );
        assert_eq!(
            ttl_deletion_time(&ttl, "Failed", end),
            Some(at("2026-01-01T00:01:40Z"))
        );
        assert_eq!(
            ttl_deletion_time(&TTLStrategy::default(), "Failed", end),
            None
        );
    }
}
