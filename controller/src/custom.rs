//! A workflow's own metrics (`spec.metrics.prometheus`), emitted as upstream
//! does: named `argo_workflows_<name>`, with the labels the user gave; a
//! realtime gauge follows the workflow while it runs, everything else is
//! emitted once when it finishes, when its `when` holds. Values and `when`
//! may use `{{workflow.status}}`, `{{workflow.duration}}` (seconds),
//! `{{workflow.name}}`, `{{workflow.namespace}}`, `{{workflow.failures}}`,
//! `{{workflow.labels.<k>}}`, `{{workflow.annotations.<k>}}` and the
//! workflow's global output parameters `{{workflow.outputs.parameters.<n>}}`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use prometheus::{GaugeVec, HistogramOpts, HistogramVec, Opts, Registry};
use sluice_api::types::{Prometheus, Workflow};

/// A registered metric.
#[derive(Clone, Debug)]
enum Collector {
    Gauge(GaugeVec),
    Counter(prometheus::CounterVec),
    Histogram(HistogramVec),
}

/// The workflows' own metrics, in the controller's registry.
#[derive(Debug)]
pub struct CustomMetrics {
    registry: Registry,
    /// By full name, with the label names they were registered with.
    collectors: Mutex<HashMap<String, (Vec<String>, Collector)>>,
}

/// The variables of a workflow-level metric.
pub fn variables(workflow: &Workflow, now: DateTime<Utc>) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    let status = workflow.status.clone().unwrap_or_default();
    let meta = &workflow.metadata;
    vars.insert(
        "workflow.name".into(),
        meta.name.clone().unwrap_or_default(),
    );
    vars.insert(
        "workflow.namespace".into(),
        meta.namespace.clone().unwrap_or_default(),
    );
    let phase = status.phase.clone().unwrap_or_else(|| "Pending".into());
    vars.insert("workflow.status".into(), phase.clone());
    vars.insert("status".into(), phase);
    let parse = |t: Option<&str>| {
        t.and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let started = parse(status.started_at.as_deref());
    let finished = parse(status.finished_at.as_deref()).unwrap_or(now);
    let duration = started.map_or(0.0, |s| (finished - s).num_milliseconds() as f64 / 1000.0);
    vars.insert("workflow.duration".into(), duration.to_string());
    vars.insert("duration".into(), duration.to_string());
    let failures = status
        .nodes
        .values()
        .filter(|n| matches!(n.phase.as_deref(), Some("Failed" | "Error")))
        .count();
    vars.insert("workflow.failures".into(), failures.to_string());
    for (k, v) in &meta.labels {
        vars.insert(format!("workflow.labels.{k}"), v.clone());
    }
    for (k, v) in &meta.annotations {
        vars.insert(format!("workflow.annotations.{k}"), v.clone());
    }
    if let Some(outputs) = &status.outputs {
        for p in &outputs.parameters {
            if let Some(value) = &p.value {
                vars.insert(
                    format!("workflow.outputs.parameters.{}", p.name),
                    value.as_text(),
                );
            }
        }
    }
    vars
}

/// `{{name}}` replaced by its variable; an unknown one is an error naming it.
pub fn substitute(text: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("{text:?}: unclosed {{{{"))?;
        let name = after[..end].trim();
        let value = vars
            .get(name)
            .ok_or_else(|| format!("{text:?}: unknown variable {{{{{name}}}}}"))?;
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

impl CustomMetrics {
    pub fn new(registry: Registry) -> Self {
        Self {
            registry,
            collectors: Mutex::default(),
        }
    }

    /// Emits the workflow's metrics: realtime gauges always, the others
    /// only when `finished`. Returns the problems (for an event).
    pub fn emit(&self, workflow: &Workflow, finished: bool, now: DateTime<Utc>) -> Vec<String> {
        let Some(metrics) = &workflow.spec.metrics else {
            return Vec::new();
        };
        let vars = variables(workflow, now);
        let mut problems = Vec::new();
        for (i, metric) in metrics.prometheus.iter().enumerate() {
            let realtime = metric
                .gauge
                .as_ref()
                .is_some_and(|g| g.realtime == Some(true));
            if !realtime && !finished {
                continue;
            }
            if let Err(e) = self.emit_one(metric, &vars) {
                problems.push(format!(
                    "spec.metrics.prometheus[{i}] ({}): {e}",
                    metric.name
                ));
            }
        }
        problems
    }

    fn emit_one(&self, metric: &Prometheus, vars: &BTreeMap<String, String>) -> Result<(), String> {
        if let Some(when) = metric.when.as_deref().filter(|w| !w.trim().is_empty()) {
            let condition = substitute(when, vars)?;
            if !sluice_api::expr::eval_when(&condition).map_err(|e| format!("when: {e}"))? {
                return Ok(());
            }
        }
        let mut names = Vec::new();
        let mut values = Vec::new();
        for label in &metric.labels {
            names.push(label.key.clone().unwrap_or_default());
            values.push(substitute(
                label.value.as_deref().unwrap_or_default(),
                vars,
            )?);
        }
        let number = |text: Option<&String>, default: Option<f64>| -> Result<f64, String> {
            match text {
                Some(t) => {
                    let v = substitute(t, vars)?;
                    v.trim()
                        .parse::<f64>()
                        .map_err(|_| format!("value {v:?} is not a number"))
                }
                None => default.ok_or_else(|| "no value".to_owned()),
            }
        };
        let collector = self.collector(metric, &names)?;
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        match collector {
            Collector::Gauge(g) => {
                let value = number(metric.gauge.as_ref().and_then(|g| g.value.as_ref()), None)?;
                let gauge = g.with_label_values(&values);
                match metric.gauge.as_ref().and_then(|g| g.operation.as_deref()) {
                    Some("Add") => gauge.add(value),
                    Some("Sub") => gauge.sub(value),
                    _ => gauge.set(value),
                }
            }
            Collector::Counter(c) => {
                let value = number(
                    metric.counter.as_ref().and_then(|c| c.value.as_ref()),
                    Some(1.0),
                )?;
                if value < 0.0 {
                    return Err(format!("a counter cannot go down by {value}"));
                }
                c.with_label_values(&values).inc_by(value);
            }
            Collector::Histogram(h) => {
                let value = number(
                    metric.histogram.as_ref().and_then(|h| h.value.as_ref()),
                    None,
                )?;
                h.with_label_values(&values).observe(value);
            }
        }
        Ok(())
    }

    fn collector(&self, metric: &Prometheus, labels: &[String]) -> Result<Collector, String> {
        let name = format!("argo_workflows_{}", metric.name);
        let mut collectors = self.collectors.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((registered, collector)) = collectors.get(&name) {
            if registered != labels {
                return Err(format!(
                    "labels {labels:?} differ from {registered:?}, registered first for {name}"
                ));
            }
            return Ok(collector.clone());
        }
        let help = metric
            .help
            .clone()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| metric.name.clone());
        let label_refs: Vec<&str> = labels.iter().map(String::as_str).collect();
        let opts = Opts::new(name.clone(), help.clone());
        let error = |e: prometheus::Error| e.to_string();
        let collector = if metric.gauge.is_some() {
            let g = GaugeVec::new(opts, &label_refs).map_err(error)?;
            self.registry.register(Box::new(g.clone())).map_err(error)?;
            Collector::Gauge(g)
        } else if metric.counter.is_some() {
            let c = prometheus::CounterVec::new(opts, &label_refs).map_err(error)?;
            self.registry.register(Box::new(c.clone())).map_err(error)?;
            Collector::Counter(c)
        } else if let Some(histogram) = &metric.histogram {
            let buckets: Vec<f64> = histogram
                .buckets
                .iter()
                .filter_map(|b| b.as_f64())
                .collect();
            let opts = HistogramOpts::new(name.clone(), help).buckets(buckets);
            let h = HistogramVec::new(opts, &label_refs).map_err(error)?;
            self.registry.register(Box::new(h.clone())).map_err(error)?;
            Collector::Histogram(h)
        } else {
            return Err("one of gauge, counter or histogram is needed".into());
        };
        collectors.insert(name, (labels.to_vec(), collector.clone()));
        Ok(collector)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::Encoder as _;

    fn render(registry: &Registry) -> String {
        let mut buffer = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&registry.gather(), &mut buffer)
            .expect("encode");
        String::from_utf8_lossy(&buffer).into_owned()
    }

    fn workflow(phase: &str) -> Workflow {
        serde_yaml_ng::from_str(&format!(
            r#"
metadata: {{name: wf, namespace: ns, labels: {{team: data}}}}
spec:
  metrics:
    prometheus:
    - name: duration_gauge
      labels: [{{key: name, value: workflow}}]
      help: Duration
      gauge: {{realtime: true, value: "{{{{workflow.duration}}}}"}}
    - name: failures_total
      help: Failed runs by team
      when: "{{{{workflow.status}}}} == Failed"
      labels: [{{key: team, value: "{{{{workflow.labels.team}}}}"}}]
      counter: {{value: "1"}}
    - name: duration_histogram
      help: Durations
      histogram: {{buckets: [1, 10, 100], value: "{{{{workflow.duration}}}}"}}
status: {{phase: {phase}, startedAt: "2026-01-01T00:00:00Z", finishedAt: "2026-01-01T00:00:05Z"}}
"#
        ))
        .expect("workflow")
    }

    #[test]
    fn realtime_gauges_run_along_and_the_rest_waits_for_the_end() {
        let registry = Registry::new();
        let custom = CustomMetrics::new(registry.clone());
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:09Z")
            .expect("now")
            .with_timezone(&Utc);
        assert!(custom.emit(&workflow("Running"), false, now).is_empty());
        let text = render(&registry);
        assert!(
            text.contains("argo_workflows_duration_gauge{name=\"workflow\"} 5"),
            "{text}"
        );
        assert!(!text.contains("failures_total"), "{text}");
        assert!(custom.emit(&workflow("Failed"), true, now).is_empty());
        let text = render(&registry);
        assert!(
            text.contains("argo_workflows_failures_total{team=\"data\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("argo_workflows_duration_histogram_bucket{le=\"10\"} 1"),
            "{text}"
        );
        // A succeeded run does not count as failed.
        assert!(custom.emit(&workflow("Succeeded"), true, now).is_empty());
        assert!(render(&registry).contains("argo_workflows_failures_total{team=\"data\"} 1"));
    }

    #[test]
    fn problems_name_the_metric_and_the_variable() {
        let registry = Registry::new();
        let custom = CustomMetrics::new(registry);
        let mut wf = workflow("Succeeded");
        if let Some(m) = wf.spec.metrics.as_mut() {
            m.prometheus[0].gauge.as_mut().expect("gauge").value = Some("{{workflow.nope}}".into());
        }
        let problems = custom.emit(&wf, true, Utc::now());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("spec.metrics.prometheus[0] (duration_gauge)"),
            "{problems:?}"
        );
        assert!(problems[0].contains("{{workflow.nope}}"), "{problems:?}");
    }
}
