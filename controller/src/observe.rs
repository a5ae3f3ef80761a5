//! What the engine learns from the cluster's objects: a pod's phase and
//! container states, a pending pod's reason.

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use sluice_engine::run::{ContainerObservation, ContainerState, PodObservation, PodPhase};

/// A Kubernetes time as chrono's.
pub fn to_chrono(time: &Time) -> Option<DateTime<Utc>> {
    let ts = time.0;
    DateTime::from_timestamp(
        ts.as_second(),
        u32::try_from(ts.subsec_nanosecond()).unwrap_or(0),
    )
}

/// The engine's view of a pod.
pub fn pod_observation(pod: &Pod) -> PodObservation {
    let Some(status) = &pod.status else {
        return PodObservation::default();
    };
    let phase = match status.phase.as_deref() {
        Some("Running") => PodPhase::Running,
        Some("Succeeded") => PodPhase::Succeeded,
        Some("Failed") => PodPhase::Failed,
        Some("Unknown") => PodPhase::Unknown,
        _ => PodPhase::Pending,
    };
    let pending_reason = (phase == PodPhase::Pending)
        .then(|| {
            status
                .conditions
                .iter()
                .flatten()
                .find(|c| c.type_ == "PodScheduled" && c.status == "False")
                .map(|c| {
                    let reason = c.reason.clone().unwrap_or_default();
                    match &c.message {
                        Some(m) if !m.is_empty() => format!("{reason}: {m}"),
                        _ => reason,
                    }
                })
        })
        .flatten();
    let containers = |statuses: &Option<Vec<ContainerStatus>>| -> Vec<ContainerObservation> {
        statuses
            .iter()
            .flatten()
            .map(|c| ContainerObservation {
                name: c.name.clone(),
                state: container_state(c),
            })
            .collect()
    };
    let finished_at = status
        .container_statuses
        .iter()
        .flatten()
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
        .filter_map(to_chrono)
        .max()
        .filter(|_| matches!(phase, PodPhase::Succeeded | PodPhase::Failed));
    PodObservation {
        phase,
        reason: status.reason.clone().unwrap_or_default(),
        message: status.message.clone().unwrap_or_default(),
        pending_reason,
        init_containers: containers(&status.init_container_statuses),
        containers: containers(&status.container_statuses),
        started_at: status.start_time.as_ref().and_then(to_chrono),
        finished_at,
        host_node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        pod_ip: status.pod_ip.clone(),
    }
}

fn container_state(status: &ContainerStatus) -> ContainerState {
    let Some(state) = &status.state else {
        return ContainerState::Waiting;
    };
    if let Some(t) = &state.terminated {
        return ContainerState::Terminated {
            exit_code: t.exit_code,
            reason: t.reason.clone().unwrap_or_default(),
            message: t.message.clone().unwrap_or_default(),
        };
    }
    if state.running.is_some() {
        return ContainerState::Running;
    }
    match &state.waiting {
        Some(w) if w.reason.as_deref().is_some_and(|r| r != "PodInitializing") => {
            ContainerState::WaitingReason {
                reason: w.reason.clone().unwrap_or_default(),
                message: w.message.clone().unwrap_or_default(),
            }
        }
        _ => ContainerState::Waiting,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [], "nodeName": "node-1"},
            "status": status,
        }))
        .expect("pod")
    }

    #[test]
    fn a_succeeded_pod_reports_exit_codes_and_the_last_finish() {
        let observed = pod_observation(&pod(serde_json::json!({
            "phase": "Succeeded",
            "startTime": "2026-01-01T00:00:00Z",
            "podIP": "10.0.0.9",
            "initContainerStatuses": [{"name": "init", "image": "x", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}],
            "containerStatuses": [
                {"name": "main", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
                 "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                     "finishedAt": "2026-01-01T00:00:05Z"}}},
                {"name": "wait", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
                 "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                     "finishedAt": "2026-01-01T00:00:07Z"}}}
            ]
        })));
        assert_eq!(observed.phase, PodPhase::Succeeded);
        assert_eq!(observed.containers.len(), 2);
        assert_eq!(
            observed.containers[0].state,
            ContainerState::Terminated {
                exit_code: 0,
                reason: "Completed".into(),
                message: String::new()
            }
        );
        assert_eq!(
            observed.finished_at.map(|t| t.to_rfc3339()),
            Some("2026-01-01T00:00:07+00:00".into())
        );
        assert_eq!(observed.host_node_name.as_deref(), Some("node-1"));
        assert_eq!(observed.pod_ip.as_deref(), Some("10.0.0.9"));
    }

    #[test]
    fn an_unschedulable_pod_says_why() {
        let observed = pod_observation(&pod(serde_json::json!({
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/3 nodes are available"}],
            "containerStatuses": [{"name": "main", "image": "x", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff",
                "message": "no such image"}}}]
        })));
        assert_eq!(observed.phase, PodPhase::Pending);
        assert_eq!(
            observed.pending_reason.as_deref(),
            Some("Unschedulable: 0/3 nodes are available")
        );
        assert_eq!(
            observed.containers[0].state,
            ContainerState::WaitingReason {
                reason: "ImagePullBackOff".into(),
                message: "no such image".into()
            }
        );
    }

    #[test]
    fn an_evicted_pod_keeps_its_reason() {
        let observed = pod_observation(&pod(serde_json::json!({
            "phase": "Failed", "reason": "Evicted", "message": "low on memory"
        })));
        assert_eq!(observed.phase, PodPhase::Failed);
        assert_eq!(observed.reason, "Evicted");
        assert_eq!(observed.message, "low on memory");
    }
}
