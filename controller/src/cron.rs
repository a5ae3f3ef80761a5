//! CronWorkflows: submit a workflow at each scheduled time.
//!
//! Every second each CronWorkflow is looked at: the latest scheduled time
//! since its `lastScheduledTime` (or its creation) is due when it is at most
//! [`ON_TIME`] old, or older but within `startingDeadlineSeconds` (a run
//! missed while no controller ran; only the most recent one, as upstream).
//! Every scheduled time not run is an Event and a
//! `sluice_cronworkflows_skipped_total` count. A run's name is
//! `<cron>-<unix seconds of its scheduled time>`, so a restart never
//! submits one twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use futures::StreamExt as _;
use kube::api::{Api, Patch, PatchParams};
use kube::core::DynamicObject;
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::{WatchStreamExt as _, watcher};
use serde_json::json;
use sluice_api::cron::{Schedule, parse_schedule, parse_zone};
use sluice_api::expr::{FlatScope, Value as ExprValue, eval_expr, eval_when};
use sluice_api::types::{CronWorkflow, Workflow};
use sluice_engine::protocol::LABEL_COMPLETED;

use crate::workflow::LABEL_PHASE;
use crate::{Context, Error, kinds, ops};

/// The label naming a run's CronWorkflow (upstream's).
pub const LABEL_CRON: &str = "workflows.argoproj.io/cron-workflow";
/// The annotation with a run's scheduled time (upstream's).
pub const ANNOTATION_SCHEDULED: &str = "workflows.argoproj.io/scheduled-time";
/// Set on a finished run once counted in its CronWorkflow's status.
pub const LABEL_COUNTED: &str = "sluice.dev/cron-counted";
/// How late a scheduled time may be seen and still count as on time.
pub const ON_TIME: Duration = Duration::from_secs(10);

/// What to do about a CronWorkflow now.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The scheduled time to run now, if any.
    pub run: Option<DateTime<Utc>>,
    /// Scheduled times not run, with why.
    pub skipped: Vec<(DateTime<Utc>, &'static str)>,
    /// The next scheduled time after now.
    pub next: Option<DateTime<Utc>>,
}

/// The schedules of a CronWorkflow, in its zone.
pub fn schedules(
    spec: &sluice_api::types::CronWorkflowSpec,
) -> Result<(Vec<Schedule>, Tz), String> {
    let zone = match spec.timezone.as_deref() {
        None => Tz::UTC,
        Some(name) => match parse_zone(name) {
            Some(Some(tz)) => tz,
            Some(None) => Tz::UTC,
            None => return Err(format!("spec.timezone: unknown zone {name:?}")),
        },
    };
    let mut texts: Vec<&String> = spec.schedules.iter().collect();
    if let Some(one) = &spec.schedule {
        texts.push(one);
    }
    if texts.is_empty() {
        return Err("spec.schedule: a CronWorkflow needs a schedule".into());
    }
    let parsed = texts
        .into_iter()
        .map(|t| parse_schedule(t).map_err(|e| format!("spec.schedule {t:?}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((parsed, zone))
}

/// Decides which scheduled time (if any) runs now: `since` is the last
/// scheduled time handled (or the creation time).
pub fn decide(
    schedules: &[Schedule],
    zone: Tz,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    starting_deadline: Option<Duration>,
) -> Decision {
    let mut due: Vec<DateTime<Utc>> = Vec::new();
    for schedule in schedules {
        let mut t = since.with_timezone(&zone);
        // A bounded walk: a per-second schedule down for a day is 86,400
        // steps; beyond that only the latest time matters.
        for _ in 0..100_000 {
            match schedule.next_after(&t) {
                Some(next) if next.with_timezone(&Utc) <= now => {
                    due.push(next.with_timezone(&Utc));
                    t = next;
                }
                _ => break,
            }
        }
    }
    due.sort();
    due.dedup();
    let next = schedules
        .iter()
        .filter_map(|s| s.next_after(&now.with_timezone(&zone)))
        .map(|t| t.with_timezone(&Utc))
        .min();
    let Some(latest) = due.pop() else {
        return Decision {
            run: None,
            skipped: Vec::new(),
            next,
        };
    };
    let mut skipped: Vec<(DateTime<Utc>, &'static str)> =
        due.into_iter().map(|t| (t, "missed")).collect();
    let late = (now - latest).to_std().unwrap_or_default();
    let in_time = late <= ON_TIME || starting_deadline.is_some_and(|d| late <= d);
    let run = if in_time {
        Some(latest)
    } else {
        skipped.push((latest, "startingDeadlineSeconds"));
        None
    };
    Decision { run, skipped, next }
}

/// The variables of `when` and `stopStrategy.expression`.
fn scope(cron: &CronWorkflow, now: DateTime<Utc>) -> FlatScope {
    let status = cron.status.clone().unwrap_or_default();
    let mut scope = FlatScope::new().with_now(now);
    scope.set(
        "cronworkflow.name",
        cron.metadata.name.clone().unwrap_or_default(),
    );
    scope.set(
        "cronworkflow.namespace",
        cron.metadata.namespace.clone().unwrap_or_default(),
    );
    scope.set("cronworkflow.failed", status.failed.unwrap_or(0));
    scope.set("cronworkflow.succeeded", status.succeeded.unwrap_or(0));
    let last = status
        .last_scheduled_time
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
    match last {
        Some(t) => scope.set("cronworkflow.lastScheduledTime", ExprValue::Time(t)),
        None => scope.set("cronworkflow.lastScheduledTime", ExprValue::Null),
    };
    for (k, v) in &cron.metadata.labels {
        scope.set(format!("cronworkflow.labels.{k}"), v.clone());
    }
    for (k, v) in &cron.metadata.annotations {
        scope.set(format!("cronworkflow.annotations.{k}"), v.clone());
    }
    scope
}

/// Evaluates `when`: `{{= expr }}` parts with expr-lang over the
/// `cronworkflow.*` variables, `{{cronworkflow.x}}` substituted, then the
/// condition as upstream reads it.
pub fn eval_cron_when(text: &str, cron: &CronWorkflow, now: DateTime<Utc>) -> Result<bool, String> {
    let scope = scope(cron, now);
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(format!("when {text:?}: unclosed {{{{"));
        };
        let inner = after[..end].trim();
        let value = match inner.strip_prefix('=') {
            Some(expr) => eval_expr(expr.trim(), &scope).map_err(|e| format!("when: {e}"))?,
            None => eval_expr(inner, &scope).map_err(|e| format!("when: {e}"))?,
        };
        out.push_str(&sluice_api::expr::to_template_string(&value));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    eval_when(&out).map_err(|e| format!("when {text:?}: {e}"))
}

/// Evaluates `stopStrategy.expression`.
pub fn eval_stop(
    expression: &str,
    cron: &CronWorkflow,
    now: DateTime<Utc>,
) -> Result<bool, String> {
    match eval_expr(expression, &scope(cron, now)) {
        Ok(ExprValue::Bool(b)) => Ok(b),
        Ok(other) => Err(format!(
            "stopStrategy.expression {expression:?}: not a boolean: {}",
            sluice_api::expr::to_template_string(&other)
        )),
        Err(e) => Err(format!("stopStrategy.expression {expression:?}: {e}")),
    }
}

/// The run of `cron` scheduled at `at`, labelled with the controller's
/// `instanceID` when it has one.
pub fn run_for(cron: &CronWorkflow, at: DateTime<Utc>, instance: Option<&str>) -> Workflow {
    let name = cron.metadata.name.clone().unwrap_or_default();
    let mut workflow = Workflow {
        api_version: Some(sluice_api::types::API_VERSION.into()),
        kind: Some("Workflow".into()),
        spec: cron.spec.workflow_spec.clone().unwrap_or_default(),
        ..Workflow::default()
    };
    if let Some(meta) = &cron.spec.workflow_metadata {
        workflow.metadata.labels = meta.labels.clone();
        workflow.metadata.annotations = meta.annotations.clone();
    }
    workflow.metadata.name = Some(format!("{name}-{}", at.timestamp()));
    workflow.metadata.namespace = cron.metadata.namespace.clone();
    workflow
        .metadata
        .labels
        .insert(LABEL_CRON.into(), name.clone());
    if let Some(id) = instance.filter(|id| !id.is_empty()) {
        workflow
            .metadata
            .labels
            .insert(sluice_engine::pod::LABEL_INSTANCE_ID.into(), id.to_owned());
    }
    workflow.metadata.annotations.insert(
        ANNOTATION_SCHEDULED.into(),
        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    );
    if let Some(uid) = &cron.metadata.uid {
        let reference = json!({"apiVersion": sluice_api::types::API_VERSION, "kind": "CronWorkflow",
            "name": name, "uid": uid, "controller": true, "blockOwnerDeletion": true});
        if let Ok(raw) = serde_json::from_value(reference) {
            workflow.metadata.owner_references.push(raw);
        }
    }
    workflow
}

/// Watches CronWorkflows and their runs; looks at each every second.
pub async fn run(ctx: Arc<Context>, namespace: Option<String>) {
    let client = ctx.client().clone();
    let api = |kind: &str| match &namespace {
        Some(ns) => {
            Api::<DynamicObject>::namespaced_with(client.clone(), ns, &kinds::resource(kind))
        }
        None => Api::all_with(client.clone(), &kinds::resource(kind)),
    };
    let cron_writer = Writer::new(kinds::resource("CronWorkflow"));
    let crons = cron_writer.as_reader();
    let runs_writer = Writer::new(kinds::resource("Workflow"));
    let runs = runs_writer.as_reader();
    let watch_crons = reflector::reflector(
        cron_writer,
        watcher::watcher(
            api("CronWorkflow"),
            watcher::Config::default().labels(&ctx.instance_selector()),
        ),
    )
    .default_backoff()
    .for_each(|_| futures::future::ready(()));
    let watch_runs = reflector::reflector(
        runs_writer,
        watcher::watcher(
            api("Workflow"),
            watcher::Config::default().labels(&format!("{LABEL_CRON},{}", ctx.instance_selector())),
        ),
    )
    .default_backoff()
    .for_each(|_| futures::future::ready(()));
    let tick = async {
        let _ = crons.wait_until_ready().await;
        let _ = runs.wait_until_ready().await;
        let mut reported: HashMap<(String, String), String> = HashMap::new();
        loop {
            // The runs, by CronWorkflow, once per tick.
            let mut by_cron: HashMap<(String, String), Vec<Arc<DynamicObject>>> = HashMap::new();
            for run in runs.state() {
                let cron = run.metadata.labels.as_ref().and_then(|l| l.get(LABEL_CRON));
                if let Some(cron) = cron
                    && run.metadata.deletion_timestamp.is_none()
                {
                    let namespace = run.metadata.namespace.clone().unwrap_or_default();
                    by_cron
                        .entry((namespace, cron.clone()))
                        .or_default()
                        .push(run);
                }
            }
            for cron in crons.state() {
                let key = (
                    cron.metadata.namespace.clone().unwrap_or_default(),
                    cron.metadata.name.clone().unwrap_or_default(),
                );
                let mine = by_cron.remove(&key).unwrap_or_default();
                if let Err(error) = look_at(&ctx, &cron, &mine, &mut reported).await {
                    ctx.metrics.error("CronWorkflowSubmissionError");
                    tracing::warn!(cron = ?cron.metadata.name, %error, "cron workflow");
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    };
    futures::join!(watch_crons, watch_runs, tick);
}

async fn look_at(
    ctx: &Context,
    object: &DynamicObject,
    mine: &[Arc<DynamicObject>],
    reported: &mut HashMap<(String, String), String>,
) -> Result<(), Error> {
    let cron: CronWorkflow = kinds::from_dynamic(object)?;
    let namespace = cron.metadata.namespace.clone().unwrap_or_default();
    let name = cron.metadata.name.clone().unwrap_or_default();
    let key = (namespace.clone(), name.clone());
    let now = Utc::now();
    let mut status = cron.status.clone().unwrap_or_default();
    let before = serde_json::to_value(&status).map_err(Error::Json)?;

    // Its runs: count the newly finished, trim the history.
    let label = |w: &DynamicObject, l: &str| {
        w.metadata
            .labels
            .as_ref()
            .and_then(|m| m.get(l))
            .cloned()
            .unwrap_or_default()
    };
    let workflows = Api::<DynamicObject>::namespaced_with(
        ctx.client().clone(),
        &namespace,
        &kinds::resource("Workflow"),
    );
    let mut active = Vec::new();
    let mut finished: Vec<(String, String, String)> = Vec::new();
    for w in mine {
        let run_name = w.metadata.name.clone().unwrap_or_default();
        if label(w, LABEL_COMPLETED) != "true" {
            active.push(
                json!({"apiVersion": sluice_api::types::API_VERSION, "kind": "Workflow",
                "name": run_name, "namespace": namespace, "uid": w.metadata.uid}),
            );
            continue;
        }
        let phase = label(w, LABEL_PHASE);
        if label(w, LABEL_COUNTED) != "true" {
            if phase == "Succeeded" {
                status.succeeded = Some(status.succeeded.unwrap_or(0) + 1);
            } else {
                status.failed = Some(status.failed.unwrap_or(0) + 1);
            }
            let patch = json!({"metadata": {"labels": {LABEL_COUNTED: "true"}}});
            workflows
                .patch(&run_name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
        }
        let scheduled = w
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ANNOTATION_SCHEDULED))
            .cloned()
            .unwrap_or_default();
        finished.push((scheduled, run_name, phase));
    }
    finished.sort();
    for (succeeded, limit) in [
        (true, cron.spec.successful_jobs_history_limit.unwrap_or(3)),
        (false, cron.spec.failed_jobs_history_limit.unwrap_or(1)),
    ] {
        let of_kind: Vec<&(String, String, String)> = finished
            .iter()
            .filter(|(_, _, p)| (p == "Succeeded") == succeeded)
            .collect();
        let excess = of_kind
            .len()
            .saturating_sub(usize::try_from(limit.max(0)).unwrap_or(0));
        for (_, run_name, _) in of_kind.into_iter().take(excess) {
            ops::delete_workflow(ctx.client(), &namespace, run_name).await?;
        }
    }
    status.active = active
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect();

    // Stopped for good?
    let mut stopped = status.phase.as_deref() == Some("Stopped");
    if !stopped
        && let Some(expression) = cron
            .spec
            .stop_strategy
            .as_ref()
            .and_then(|s| s.expression.as_deref())
    {
        let mut counted = cron.clone();
        counted.status = Some(status.clone());
        match eval_stop(expression, &counted, now) {
            Ok(true) => {
                stopped = true;
                status.phase = Some("Stopped".into());
                ctx.event(
                    object,
                    false,
                    "CronWorkflowStopped",
                    &format!("stopStrategy {expression:?} holds"),
                )
                .await;
            }
            Ok(false) => {}
            Err(e) => report(ctx, object, reported, &key, "CronWorkflowSpecError", &e).await,
        }
    }
    if status.phase.is_none() {
        status.phase = Some("Active".into());
    }

    match schedules(&cron.spec) {
        Err(e) => {
            ctx.metrics.cron_next(&namespace, &name, None);
            report(ctx, object, reported, &key, "CronWorkflowSpecError", &e).await;
        }
        Ok(_) if stopped || cron.spec.suspend == Some(true) => {
            ctx.metrics.cron_next(&namespace, &name, None);
        }
        Ok((schedules, zone)) => {
            let since = status
                .last_scheduled_time
                .as_deref()
                .or(cron.metadata.creation_timestamp.as_deref())
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map_or(now, |t| t.with_timezone(&Utc));
            let deadline = cron
                .spec
                .starting_deadline_seconds
                .and_then(|s| u64::try_from(s).ok())
                .map(Duration::from_secs);
            let decision = decide(&schedules, zone, since, now, deadline);
            ctx.metrics.cron_next(
                &namespace,
                &name,
                decision.next.map(|t| t.timestamp() as f64),
            );
            for (at, reason) in &decision.skipped {
                ctx.metrics.cron_skipped(&namespace, &name, reason);
                ctx.event(
                    object,
                    true,
                    "MissedSchedule",
                    &format!("the run scheduled at {at} was not submitted: {reason}"),
                )
                .await;
            }
            let latest = decision
                .skipped
                .iter()
                .map(|(t, _)| *t)
                .chain(decision.run)
                .max();
            if let Some(at) = decision.run {
                submit(ctx, object, &cron, at, mine, now).await?;
            }
            if let Some(latest) = latest {
                status.last_scheduled_time =
                    Some(latest.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            }
        }
    }

    let after = serde_json::to_value(&status).map_err(Error::Json)?;
    if after != before {
        let mut value = serde_json::to_value(object).map_err(Error::Json)?;
        value["status"] = after;
        let update: DynamicObject = serde_json::from_value(value).map_err(Error::Json)?;
        let api = Api::<DynamicObject>::namespaced_with(
            ctx.client().clone(),
            &namespace,
            &kinds::resource("CronWorkflow"),
        );
        match api
            .replace(&name, &kube::api::PostParams::default(), &update)
            .await
        {
            Ok(_) => {}
            Err(e) if ops::is_conflict(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Submits the run scheduled at `at`, as `when` and `concurrencyPolicy` allow.
async fn submit(
    ctx: &Context,
    object: &DynamicObject,
    cron: &CronWorkflow,
    at: DateTime<Utc>,
    mine: &[Arc<DynamicObject>],
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let namespace = cron.metadata.namespace.clone().unwrap_or_default();
    let name = cron.metadata.name.clone().unwrap_or_default();
    if let Some(when) = cron.spec.when.as_deref().filter(|w| !w.trim().is_empty()) {
        match eval_cron_when(when, cron, now) {
            Ok(true) => {}
            Ok(false) => {
                ctx.metrics.cron_skipped(&namespace, &name, "when");
                ctx.event(
                    object,
                    false,
                    "WhenFalse",
                    &format!("the run scheduled at {at} was skipped: when {when:?} is false"),
                )
                .await;
                return Ok(());
            }
            Err(e) => {
                ctx.metrics.cron_skipped(&namespace, &name, "when");
                ctx.event(object, true, "CronWorkflowSpecError", &e).await;
                return Ok(());
            }
        }
    }
    let running: Vec<String> = mine
        .iter()
        .filter(|w| {
            w.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(LABEL_COMPLETED))
                .map(String::as_str)
                != Some("true")
        })
        .filter_map(|w| w.metadata.name.clone())
        .collect();
    match cron.spec.concurrency_policy.as_deref().unwrap_or("Allow") {
        "Forbid" if !running.is_empty() => {
            ctx.metrics
                .cron_skipped(&namespace, &name, "concurrencyPolicy");
            ctx.event(
                object,
                false,
                "ConcurrencyForbid",
                &format!(
                    "the run scheduled at {at} was skipped: {} still runs",
                    running.join(", ")
                ),
            )
            .await;
            return Ok(());
        }
        "Replace" => {
            let workflows = Api::<DynamicObject>::namespaced_with(
                ctx.client().clone(),
                &namespace,
                &kinds::resource("Workflow"),
            );
            for run in &running {
                let patch = json!({"spec": {"shutdown": "Terminate"}});
                workflows
                    .patch(run, &PatchParams::default(), &Patch::Merge(&patch))
                    .await?;
            }
        }
        _ => {}
    }
    let workflow = run_for(cron, at, ctx.config().instance_id.as_deref());
    let dynamic =
        kinds::to_dynamic(&workflow, &kinds::resource("Workflow")).map_err(Error::Json)?;
    let run_name = workflow.metadata.name.clone().unwrap_or_default();
    if ops::create_workflow(ctx.client(), &dynamic).await? {
        ctx.metrics.cron_triggered(&namespace, &name);
        ctx.event(
            object,
            false,
            "WorkflowSubmitted",
            &format!("submitted {run_name} (scheduled at {at})"),
        )
        .await;
    }
    Ok(())
}

/// Reports a problem once per object version.
async fn report(
    ctx: &Context,
    object: &DynamicObject,
    reported: &mut HashMap<(String, String), String>,
    key: &(String, String),
    reason: &str,
    message: &str,
) {
    let version = object.metadata.resource_version.clone().unwrap_or_default();
    if reported.get(key) == Some(&version) {
        return;
    }
    reported.insert(key.clone(), version);
    ctx.metrics.error(reason);
    ctx.event(object, true, reason, message).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn every_minute() -> Vec<Schedule> {
        vec![parse_schedule("* * * * *").expect("schedule")]
    }

    #[test]
    fn an_on_time_run_is_due() {
        let d = decide(
            &every_minute(),
            Tz::UTC,
            at("2026-01-01T00:00:30Z"),
            at("2026-01-01T00:01:02Z"),
            None,
        );
        assert_eq!(d.run, Some(at("2026-01-01T00:01:00Z")));
        assert!(d.skipped.is_empty());
        assert_eq!(d.next, Some(at("2026-01-01T00:02:00Z")));
    }

    #[test]
    fn after_downtime_only_the_latest_missed_run_counts_and_only_within_the_deadline() {
        let since = at("2026-01-01T00:00:00Z");
        let now = at("2026-01-01T00:05:30Z");
        let d = decide(
            &every_minute(),
            Tz::UTC,
            since,
            now,
            Some(Duration::from_secs(60)),
        );
        assert_eq!(d.run, Some(at("2026-01-01T00:05:00Z")));
        assert_eq!(d.skipped.len(), 4, "{:?}", d.skipped);
        assert!(d.skipped.iter().all(|(_, r)| *r == "missed"));
        let d = decide(&every_minute(), Tz::UTC, since, now, None);
        assert_eq!(d.run, None);
        assert_eq!(
            d.skipped.last(),
            Some(&(at("2026-01-01T00:05:00Z"), "startingDeadlineSeconds"))
        );
    }

    #[test]
    fn schedules_take_the_timezone() {
        let spec = sluice_api::types::CronWorkflowSpec {
            schedule: Some("0 9 * * *".into()),
            timezone: Some("Europe/Paris".into()),
            ..Default::default()
        };
        let (parsed, zone) = schedules(&spec).expect("schedules");
        let d = decide(
            &parsed,
            zone,
            at("2026-01-01T07:00:00Z"),
            at("2026-01-01T08:00:05Z"),
            None,
        );
        assert_eq!(
            d.run,
            Some(at("2026-01-01T08:00:00Z")),
            "09:00 in Paris in winter"
        );
        let bad = sluice_api::types::CronWorkflowSpec {
            schedule: Some("0 9 * * *".into()),
            timezone: Some("Mars/Olympus".into()),
            ..Default::default()
        };
        assert!(schedules(&bad).unwrap_err().contains("spec.timezone"));
    }

    #[test]
    fn when_and_stop_expressions_see_the_cron_workflow() {
        let mut cron = CronWorkflow::default();
        cron.metadata.name = Some("nightly".into());
        cron.status = Some(sluice_api::types::CronWorkflowStatus {
            failed: Some(3),
            last_scheduled_time: Some("2026-01-01T00:00:00Z".into()),
            ..Default::default()
        });
        let now = at("2026-01-01T00:10:00Z");
        assert_eq!(eval_stop("cronworkflow.failed >= 3", &cron, now), Ok(true));
        assert_eq!(
            eval_stop("cronworkflow.succeeded > 0", &cron, now),
            Ok(false)
        );
        assert_eq!(
            eval_cron_when("{{= cronworkflow.name == 'nightly' }}", &cron, now),
            Ok(true)
        );
        assert_eq!(
            eval_cron_when("{{cronworkflow.failed}} < 2", &cron, now),
            Ok(false)
        );
    }

    #[test]
    fn a_run_is_named_by_its_scheduled_time() {
        let mut cron = CronWorkflow::default();
        cron.metadata.name = Some("nightly".into());
        cron.metadata.uid = Some("u1".into());
        let run = run_for(&cron, at("2026-01-01T00:01:00Z"), Some("blue"));
        assert_eq!(
            run.metadata.labels[sluice_engine::pod::LABEL_INSTANCE_ID],
            "blue"
        );
        assert_eq!(run.metadata.name.as_deref(), Some("nightly-1767225660"));
        assert_eq!(run.metadata.labels[LABEL_CRON], "nightly");
        assert_eq!(
            run.metadata.annotations[ANNOTATION_SCHEDULED],
            "2026-01-01T00:01:00Z"
        );
        assert_eq!(run.metadata.owner_references.len(), 1);
    }
}
