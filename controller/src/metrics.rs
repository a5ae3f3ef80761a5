//! Prometheus metrics under Argo's names, so existing dashboards and alerts
//! keep working. Labels are bounded: phases, namespaces, causes, kinds and
//! verbs, CronWorkflow names (as upstream) — never a workflow or pod name.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use prometheus::{
    Encoder as _, Gauge, GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::index::WorkflowKey;

/// The phases the workflow gauge always reports (0 when none).
const PHASES: [&str; 5] = ["Pending", "Running", "Succeeded", "Failed", "Error"];

/// The controller's metrics, in an explicit registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    workflows_gauge: IntGaugeVec,
    total_count: IntCounterVec,
    error_count: IntCounterVec,
    pods_gauge: IntGaugeVec,
    queue_depth: prometheus::IntGauge,
    queue_adds: IntCounter,
    operation_duration: Histogram,
    k8s_requests: IntCounterVec,
    cron_triggered: IntCounterVec,
    cron_skipped: IntCounterVec,
    cron_next: GaugeVec,
    is_leader: Gauge,
    /// The workflows' own metrics (`spec.metrics`).
    pub custom: crate::custom::CustomMetrics,
    /// The phase last seen of each workflow, for the gauge.
    phases: Mutex<HashMap<WorkflowKey, String>>,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let workflows_gauge = IntGaugeVec::new(
            Opts::new(
                "argo_workflows_gauge",
                "Workflows the controller knows, by phase",
            ),
            &["phase"],
        )?;
        let total_count = IntCounterVec::new(
            Opts::new(
                "argo_workflows_total_count",
                "Workflows that entered each phase",
            ),
            &["phase", "namespace"],
        )?;
        let error_count = IntCounterVec::new(
            Opts::new(
                "argo_workflows_error_count",
                "Errors of the controller, by cause",
            ),
            &["cause"],
        )?;
        let pods_gauge = IntGaugeVec::new(
            Opts::new("argo_workflows_pods_gauge", "Workflow pods, by phase"),
            &["phase"],
        )?;
        let queue_depth = prometheus::IntGauge::new(
            "argo_workflows_queue_depth_gauge",
            "Workflow reconciliations in progress",
        )?;
        let queue_adds =
            IntCounter::new("argo_workflows_queue_adds_count", "Reconciliations queued")?;
        let operation_duration = Histogram::with_opts(
            HistogramOpts::new(
                "argo_workflows_operation_duration_seconds",
                "Time of one reconciliation of a workflow",
            )
            .buckets(vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]),
        )?;
        let k8s_requests = IntCounterVec::new(
            Opts::new(
                "argo_workflows_k8s_request_total",
                "Requests to the Kubernetes API server",
            ),
            &["kind", "verb", "status_code"],
        )?;
        let cron_triggered = IntCounterVec::new(
            Opts::new(
                "argo_workflows_cronworkflows_triggered_total",
                "Workflows a CronWorkflow submitted",
            ),
            &["name", "namespace"],
        )?;
        let cron_skipped = IntCounterVec::new(
            Opts::new(
                "sluice_cronworkflows_skipped_total",
                "Scheduled runs of a CronWorkflow that were not submitted, by reason",
            ),
            &["name", "namespace", "reason"],
        )?;
        let cron_next = GaugeVec::new(
            Opts::new(
                "sluice_cronworkflow_next_scheduled_time_seconds",
                "When a CronWorkflow runs next (Unix time)",
            ),
            &["name", "namespace"],
        )?;
        let is_leader = Gauge::new(
            "argo_workflows_is_leader",
            "1 when this controller is the leader",
        )?;
        registry.register(Box::new(workflows_gauge.clone()))?;
        registry.register(Box::new(total_count.clone()))?;
        registry.register(Box::new(error_count.clone()))?;
        registry.register(Box::new(pods_gauge.clone()))?;
        registry.register(Box::new(queue_depth.clone()))?;
        registry.register(Box::new(queue_adds.clone()))?;
        registry.register(Box::new(operation_duration.clone()))?;
        registry.register(Box::new(k8s_requests.clone()))?;
        registry.register(Box::new(cron_triggered.clone()))?;
        registry.register(Box::new(cron_skipped.clone()))?;
        registry.register(Box::new(cron_next.clone()))?;
        registry.register(Box::new(is_leader.clone()))?;
        for phase in PHASES {
            workflows_gauge.with_label_values(&[phase]).set(0);
        }
        let custom = crate::custom::CustomMetrics::new(registry.clone());
        Ok(Self {
            registry,
            custom,
            workflows_gauge,
            total_count,
            error_count,
            pods_gauge,
            queue_depth,
            queue_adds,
            operation_duration,
            k8s_requests,
            cron_triggered,
            cron_skipped,
            cron_next,
            is_leader,
            phases: Mutex::default(),
        })
    }

    /// A workflow is in `phase` now (counted once per phase entered).
    pub fn workflow_phase(&self, key: &WorkflowKey, phase: &str) {
        let mut phases = self.phases.lock().unwrap_or_else(|p| p.into_inner());
        let previous = phases.insert(key.clone(), phase.to_owned());
        if previous.as_deref() == Some(phase) {
            return;
        }
        match previous {
            Some(previous) => self.workflows_gauge.with_label_values(&[&previous]).dec(),
            None => self.namespace_seen(&key.0),
        }
        self.workflows_gauge.with_label_values(&[phase]).inc();
        self.total_count.with_label_values(&[phase, &key.0]).inc();
    }

    /// Seeds a workflow's phase without counting it as entered (a workflow
    /// found finished at start-up).
    pub fn workflow_known(&self, key: &WorkflowKey, phase: &str) {
        let mut phases = self.phases.lock().unwrap_or_else(|p| p.into_inner());
        if phases.contains_key(key) {
            return;
        }
        phases.insert(key.clone(), phase.to_owned());
        self.workflows_gauge.with_label_values(&[phase]).inc();
        self.namespace_seen(&key.0);
    }

    /// Exports the namespace's phase counters at 0 from its first workflow
    /// on: `increase()` (the failure alert) sees nothing in a counter whose
    /// first sample is already 1.
    fn namespace_seen(&self, namespace: &str) {
        for phase in PHASES {
            self.total_count.with_label_values(&[phase, namespace]);
        }
    }

    /// A workflow is gone.
    pub fn workflow_deleted(&self, key: &WorkflowKey) {
        let mut phases = self.phases.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(previous) = phases.remove(key) {
            self.workflows_gauge.with_label_values(&[&previous]).dec();
        }
    }

    pub fn error(&self, cause: &str) {
        self.error_count.with_label_values(&[cause]).inc();
    }

    /// Sets the pods gauge from counts by phase.
    pub fn pods(&self, counts: &HashMap<String, i64>) {
        self.pods_gauge.reset();
        for (phase, count) in counts {
            self.pods_gauge.with_label_values(&[phase]).set(*count);
        }
    }

    pub fn queued(&self) {
        self.queue_adds.inc();
        self.queue_depth.inc();
    }

    pub fn reconciled(&self, elapsed: Duration) {
        self.queue_depth.dec();
        self.operation_duration.observe(elapsed.as_secs_f64());
    }

    pub fn k8s_request(&self, kind: &str, verb: &str, status_code: u16) {
        self.k8s_requests
            .with_label_values(&[kind, verb, &status_code.to_string()])
            .inc();
    }

    /// Requests counted so far with `verb`.
    pub fn k8s_request_count(&self, verb: &str) -> u64 {
        let families = self.registry.gather();
        families
            .iter()
            .filter(|f| f.name() == "argo_workflows_k8s_request_total")
            .flat_map(|f| f.get_metric())
            .filter(|m| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == "verb" && l.value() == verb)
            })
            .map(|m| m.get_counter().get_value() as u64)
            .sum()
    }

    pub fn cron_triggered(&self, namespace: &str, name: &str) {
        self.cron_triggered
            .with_label_values(&[name, namespace])
            .inc();
    }

    pub fn cron_skipped(&self, namespace: &str, name: &str, reason: &str) {
        self.cron_skipped
            .with_label_values(&[name, namespace, reason])
            .inc();
    }

    pub fn cron_next(&self, namespace: &str, name: &str, unix_seconds: Option<f64>) {
        match unix_seconds {
            Some(t) => self.cron_next.with_label_values(&[name, namespace]).set(t),
            None => {
                let _ = self.cron_next.remove_label_values(&[name, namespace]);
            }
        }
    }

    pub fn leader(&self, leading: bool) {
        self.is_leader.set(if leading { 1.0 } else { 0.0 });
    }

    /// The text exposition format.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        Ok(String::from_utf8_lossy(&buffer).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_move_the_gauge_and_count_each_entry_once() -> Result<(), prometheus::Error> {
        let metrics = Metrics::new()?;
        let key = ("ns".to_owned(), "wf".to_owned());
        metrics.workflow_phase(&key, "Running");
        metrics.workflow_phase(&key, "Running");
        metrics.workflow_phase(&key, "Failed");
        let text = metrics.render()?;
        assert!(text.contains("argo_workflows_gauge{phase=\"Running\"} 0"));
        assert!(text.contains("argo_workflows_gauge{phase=\"Failed\"} 1"));
        assert!(text.contains("argo_workflows_total_count{namespace=\"ns\",phase=\"Running\"} 1"));
        assert!(text.contains("argo_workflows_total_count{namespace=\"ns\",phase=\"Failed\"} 1"));
        // The namespace's other phases are exported from its first workflow on.
        assert!(text.contains("argo_workflows_total_count{namespace=\"ns\",phase=\"Error\"} 0"));
        metrics.workflow_deleted(&key);
        assert!(
            metrics
                .render()?
                .contains("argo_workflows_gauge{phase=\"Failed\"} 0")
        );
        Ok(())
    }

    #[test]
    fn request_counts_are_read_back_by_verb() -> Result<(), prometheus::Error> {
        let metrics = Metrics::new()?;
        metrics.k8s_request("pods", "create", 201);
        metrics.k8s_request("workflows", "update", 200);
        metrics.k8s_request("workflows", "update", 409);
        assert_eq!(metrics.k8s_request_count("update"), 2);
        assert_eq!(metrics.k8s_request_count("create"), 1);
        Ok(())
    }
}
