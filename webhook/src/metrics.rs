//! Prometheus metrics, in a registry of their own. Every label takes a
//! value from a short fixed list.

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

/// The kinds named in labels; any other is `other`.
const KINDS: [&str; 5] = [
    "Workflow",
    "WorkflowTemplate",
    "ClusterWorkflowTemplate",
    "CronWorkflow",
    "Pod",
];

/// Why a request was refused (the `reason` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// The object failed validation (422).
    Invalid,
    /// The handler could not read the request's object (400 in the response).
    BadObject,
    /// The body was not an AdmissionReview (HTTP 400).
    Malformed,
    /// The body was over the limit (HTTP 413).
    TooLarge,
    /// The body could not be read (client gone, timeout).
    Body,
}

impl Rejection {
    fn label(self) -> &'static str {
        match self {
            Self::Invalid => "invalid",
            Self::BadObject => "bad_object",
            Self::Malformed => "malformed",
            Self::TooLarge => "too_large",
            Self::Body => "body",
        }
    }
}

/// The webhook's metrics.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    rejections: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("sluice_webhook".to_owned()), None)?;
        let requests = IntCounterVec::new(
            Opts::new("requests_total", "Admission reviews answered"),
            &["endpoint", "kind", "operation", "allowed"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "request_duration_seconds",
                "Time to answer an admission review, body read included",
            )
            .buckets(vec![
                0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ]),
            &["endpoint"],
        )?;
        let rejections = IntCounterVec::new(
            Opts::new("rejections_total", "Requests refused, by reason"),
            &["endpoint", "reason"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(rejections.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            rejections,
        })
    }

    /// Counts an answered review.
    pub fn answered(
        &self,
        endpoint: &'static str,
        kind: &str,
        operation: &'static str,
        allowed: bool,
    ) {
        let kind = KINDS
            .iter()
            .find(|k| **k == kind)
            .copied()
            .unwrap_or("other");
        self.requests
            .with_label_values(&[
                endpoint,
                kind,
                operation,
                if allowed { "true" } else { "false" },
            ])
            .inc();
    }

    /// Records how long a request took.
    pub fn observe(&self, endpoint: &'static str, elapsed: Duration) {
        self.latency
            .with_label_values(&[endpoint])
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a refusal.
    pub fn rejected(&self, endpoint: &'static str, reason: Rejection) {
        self.rejections
            .with_label_values(&[endpoint, reason.label()])
            .inc();
    }

    /// The metrics in Prometheus' text format.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}
