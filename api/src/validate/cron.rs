//! CronWorkflow: when it schedules (`schedules`, `timezone`, `when`,
//! `stopStrategy`) and what it runs (`workflowSpec`).

use super::{Checker, not_found, one_of, spec};
use crate::cron::{parse_schedule, parse_zone};
use crate::path::FieldPath;
use crate::types::CronWorkflowSpec;

/// `concurrencyPolicy` values.
const CONCURRENCY_POLICIES: [&str; 3] = ["Allow", "Forbid", "Replace"];

/// Checks a CronWorkflow's spec at `path` (`spec`).
pub(super) fn cron_workflow<'a>(
    check: &mut Checker<'a>,
    cron: &'a CronWorkflowSpec,
    path: &FieldPath,
) {
    let zone_set = cron.timezone.as_deref().is_some_and(|z| !z.is_empty());
    if let Some(schedule) = &cron.schedule {
        let schedule_path = path.key("schedule");
        if cron.schedules.is_empty() {
            check.warning(
                schedule_path.clone(),
                format!(
                    "schedule is deprecated (Argo 3.6 replaced it with schedules, and 4.0 no \
                     longer reads it): write schedules: [{schedule:?}] instead"
                ),
            );
            self::schedule(check, schedule, schedule_path, zone_set);
        } else {
            check.error(
                schedule_path,
                "schedule and schedules are both set: move this schedule into schedules and \
                 remove schedule",
            );
        }
    } else if cron.schedules.is_empty() {
        check.error(
            path.key("schedules"),
            "CronWorkflow has no schedule: add schedules, e.g. schedules: [\"0 * * * *\"] for \
             every hour",
        );
    }
    for (i, schedule) in cron.schedules.iter().enumerate() {
        self::schedule(check, schedule, path.key("schedules").index(i), zone_set);
    }

    if let Some(zone) = cron.timezone.as_deref().filter(|z| !z.is_empty())
        && parse_zone(zone).is_none()
    {
        let message = not_found(
            format!("{zone:?} is not a time zone"),
            zone,
            chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()),
            "use an IANA name such as \"America/New_York\" or \"UTC\"",
        );
        check.error(path.key("timezone"), message);
    }
    if let Some(policy) = cron.concurrency_policy.as_deref() {
        one_of(
            check,
            path.key("concurrencyPolicy"),
            "concurrency policy",
            policy,
            &CONCURRENCY_POLICIES,
        );
    }
    for (name, value) in [
        ("startingDeadlineSeconds", cron.starting_deadline_seconds),
        (
            "successfulJobsHistoryLimit",
            cron.successful_jobs_history_limit,
        ),
        ("failedJobsHistoryLimit", cron.failed_jobs_history_limit),
    ] {
        if let Some(n) = value.filter(|n| *n < 0) {
            check.error(path.key(name), format!("{name} is {n}: use 0 or more"));
        }
    }
    if cron.when.as_deref().is_some_and(|w| w.trim().is_empty()) {
        check.error(
            path.key("when"),
            "when is empty: write the expression that decides whether a run is scheduled, or \
             remove when",
        );
    }
    if let Some(stop) = &cron.stop_strategy
        && stop
            .expression
            .as_deref()
            .is_none_or(|e| e.trim().is_empty())
    {
        check.error(
            path.key("stopStrategy").key("expression"),
            "stopStrategy has no expression: write the condition that stops scheduling \
             (e.g. cronworkflow.failed >= 3)",
        );
    }
    match &cron.workflow_spec {
        Some(workflow) => spec::workflow_spec(check, workflow, &path.key("workflowSpec")),
        None => check.error(
            path.key("workflowSpec"),
            "CronWorkflow has no workflowSpec: add the workflow to run (entrypoint and templates)",
        ),
    }
}

fn schedule(check: &mut Checker<'_>, schedule: &str, path: FieldPath, zone_set: bool) {
    if let Err(e) = parse_schedule(schedule) {
        check.error(path, format!("invalid schedule {schedule:?}: {e}"));
        return;
    }
    if zone_set && (schedule.starts_with("CRON_TZ=") || schedule.starts_with("TZ=")) {
        check.error(
            path,
            "this schedule has its own CRON_TZ= and spec.timezone is set too, which Argo cannot \
             combine: keep one",
        );
    }
}
