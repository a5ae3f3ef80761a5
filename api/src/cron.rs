//! CronWorkflow schedules, read the way Argo's controller reads them: the
//! standard parser of robfig/cron v3.
//!
//! Accepted: five fields (minute, hour, day of month, month, day of week)
//! with `*`, `?`, numbers, ranges `a-b`, steps `/n` (`5/15` means from 5 to
//! the maximum every 15), lists `a,b` and three-letter month and weekday
//! names (`jan`, `mon`, any case); the descriptors `@yearly`, `@annually`,
//! `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly` and `@every
//! <Go duration>`; and an optional `CRON_TZ=<zone> ` (or `TZ=<zone> `)
//! prefix. Not accepted, as upstream: a seconds or year field, `L`, `W`,
//! `#`, and day of week 7.
//!
//! When both day of month and day of week are restricted (neither starts
//! with `*` or `?`), a day matches if either does, as in Vixie cron.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Timelike};
use chrono_tz::Tz;

/// A parsed schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    timezone: Option<Tz>,
    kind: Kind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    /// Fires at the times the fields match, at second 0.
    Fields(Fields),
    /// Fires every interval (`@every 1h30m`), whole seconds, at least one.
    Every(Duration),
}

/// The fields as bit sets: bit `n` set when value `n` matches. Bit 63 marks
/// a field written as `*` or `?` (it changes how days match).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fields {
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
}

const STAR: u64 = 1 << 63;

/// Which of the five fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
}

impl Field {
    const ALL: [Field; 5] = [
        Self::Minute,
        Self::Hour,
        Self::DayOfMonth,
        Self::Month,
        Self::DayOfWeek,
    ];

    fn bounds(self) -> (u32, u32) {
        match self {
            Self::Minute => (0, 59),
            Self::Hour => (0, 23),
            Self::DayOfMonth => (1, 31),
            Self::Month => (1, 12),
            Self::DayOfWeek => (0, 6),
        }
    }

    fn names(self) -> &'static [&'static str] {
        match self {
            Self::Month => &[
                "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
            ],
            Self::DayOfWeek => &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
            _ => &[],
        }
    }

    /// The value of a name (`jan` is 1, `sun` is 0).
    fn named(self, text: &str) -> Option<u32> {
        let offset = if self == Self::Month { 1 } else { 0 };
        self.names()
            .iter()
            .position(|n| n.eq_ignore_ascii_case(text))
            .and_then(|i| u32::try_from(i).ok())
            .map(|i| i + offset)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Minute => "minute",
            Self::Hour => "hour",
            Self::DayOfMonth => "day-of-month",
            Self::Month => "month",
            Self::DayOfWeek => "day-of-week",
        })
    }
}

/// Why a schedule cannot be read. Messages say what a valid one looks like.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    #[error("the schedule is empty: write five fields, e.g. \"0 * * * *\" for every hour")]
    Empty,
    #[error(
        "{prefix}{zone} names no time zone: use an IANA name such as \"America/New_York\" or \"UTC\""
    )]
    UnknownZone { prefix: String, zone: String },
    #[error(
        "nothing follows {prefix}{zone}: write \"{prefix}{zone} \" and then the schedule, e.g. \"{prefix}{zone} 0 * * * *\""
    )]
    MissingAfterZone { prefix: String, zone: String },
    #[error("{}", unknown_descriptor(text, *suggestion))]
    UnknownDescriptor {
        text: String,
        suggestion: Option<&'static str>,
    },
    #[error("@every takes a Go duration: {source}")]
    Every {
        text: String,
        source: crate::duration::DurationError,
    },
    #[error("expected 5 fields (minute hour day-of-month month day-of-week), found {found}{hint}")]
    FieldCount { found: usize, hint: &'static str },
    #[error("{field} field {text:?}: {problem}")]
    Field {
        field: Field,
        text: String,
        problem: String,
    },
}

fn unknown_descriptor(text: &str, suggestion: Option<&str>) -> String {
    match suggestion {
        Some(s) => format!("unknown descriptor {text:?}; did you mean {s:?}?"),
        None => format!(
            "unknown descriptor {text:?}: use @yearly, @annually, @monthly, @weekly, @daily, \
             @midnight, @hourly or @every <duration>"
        ),
    }
}

/// Parses a schedule as upstream's CronWorkflow controller does.
pub fn parse_schedule(text: &str) -> Result<Schedule, CronError> {
    if text.is_empty() {
        return Err(CronError::Empty);
    }
    let mut spec = text;
    let mut timezone = None;
    for prefix in ["CRON_TZ=", "TZ="] {
        let Some(rest) = text.strip_prefix(prefix) else {
            continue;
        };
        let (zone, after) = match rest.find(' ') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if after.trim().is_empty() {
            return Err(CronError::MissingAfterZone {
                prefix: prefix.to_owned(),
                zone: zone.to_owned(),
            });
        }
        timezone = parse_zone(zone).ok_or_else(|| CronError::UnknownZone {
            prefix: prefix.to_owned(),
            zone: zone.to_owned(),
        })?;
        spec = after.trim();
        break;
    }
    let kind = if spec.starts_with('@') {
        descriptor(spec)?
    } else {
        Kind::Fields(fields(spec)?)
    };
    Ok(Schedule { timezone, kind })
}

/// Reads a zone as Go's `time.LoadLocation` does: `""` and `UTC` are UTC,
/// `Local` is the controller's zone (`Some(None)`), else an IANA name.
pub fn parse_zone(name: &str) -> Option<Option<Tz>> {
    match name {
        "" | "UTC" => Some(Some(Tz::UTC)),
        "Local" => Some(None),
        _ => name.parse::<Tz>().ok().map(Some),
    }
}

const DESCRIPTORS: [&str; 7] = [
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];

fn descriptor(spec: &str) -> Result<Kind, CronError> {
    let all = |field: Field| {
        let (lo, hi) = field.bounds();
        bits(lo, hi, 1) | STAR
    };
    let at = |field: Field| 1u64 << field.bounds().0;
    let fields = match spec {
        "@yearly" | "@annually" => Fields {
            minute: at(Field::Minute),
            hour: at(Field::Hour),
            dom: at(Field::DayOfMonth),
            month: at(Field::Month),
            dow: all(Field::DayOfWeek),
        },
        "@monthly" => Fields {
            minute: at(Field::Minute),
            hour: at(Field::Hour),
            dom: at(Field::DayOfMonth),
            month: all(Field::Month),
            dow: all(Field::DayOfWeek),
        },
        "@weekly" => Fields {
            minute: at(Field::Minute),
            hour: at(Field::Hour),
            dom: all(Field::DayOfMonth),
            month: all(Field::Month),
            dow: at(Field::DayOfWeek),
        },
        "@daily" | "@midnight" => Fields {
            minute: at(Field::Minute),
            hour: at(Field::Hour),
            dom: all(Field::DayOfMonth),
            month: all(Field::Month),
            dow: all(Field::DayOfWeek),
        },
        "@hourly" => Fields {
            minute: at(Field::Minute),
            hour: all(Field::Hour),
            dom: all(Field::DayOfMonth),
            month: all(Field::Month),
            dow: all(Field::DayOfWeek),
        },
        _ => {
            if let Some(duration) = spec.strip_prefix("@every ") {
                let parsed = crate::duration::parse_go_duration(duration).map_err(|source| {
                    CronError::Every {
                        text: spec.to_owned(),
                        source,
                    }
                })?;
                // As upstream: whole seconds, at least one.
                let secs = parsed.as_secs().max(1);
                return Ok(Kind::Every(Duration::from_secs(secs)));
            }
            if spec == "@every" {
                return Err(CronError::Every {
                    text: spec.to_owned(),
                    source: crate::duration::DurationError::Empty,
                });
            }
            let word = spec.split_whitespace().next().unwrap_or(spec);
            let suggestion =
                crate::validate::closest(word, DESCRIPTORS.iter().copied().chain(["@every"]));
            return Err(CronError::UnknownDescriptor {
                text: spec.to_owned(),
                suggestion,
            });
        }
    };
    Ok(Kind::Fields(fields))
}

fn fields(spec: &str) -> Result<Fields, CronError> {
    let parts: Vec<&str> = spec.split_whitespace().collect();
    if parts.len() != 5 {
        let hint = match parts.len() {
            6 | 7 => ": Argo's schedules have no seconds or year field",
            0 => "",
            _ => ": write minute hour day-of-month month day-of-week, e.g. \"30 2 * * 1-5\"",
        };
        if parts.is_empty() {
            return Err(CronError::Empty);
        }
        return Err(CronError::FieldCount {
            found: parts.len(),
            hint,
        });
    }
    let mut out = [0u64; 5];
    for ((slot, field), text) in out.iter_mut().zip(Field::ALL).zip(&parts) {
        *slot = field_bits(field, text).map_err(|problem| CronError::Field {
            field,
            text: (*text).to_owned(),
            problem,
        })?;
    }
    let [minute, hour, dom, month, dow] = out;
    Ok(Fields {
        minute,
        hour,
        dom,
        month,
        dow,
    })
}

/// A comma-separated list of ranges.
fn field_bits(field: Field, text: &str) -> Result<u64, String> {
    let mut out = 0;
    for range in text.split(',').filter(|r| !r.is_empty()) {
        out |= range_bits(field, range)?;
    }
    Ok(out)
}

/// `*`, `?`, `n`, `a-b`, any of those with `/step`.
fn range_bits(field: Field, expr: &str) -> Result<u64, String> {
    let (lo, hi) = field.bounds();
    let mut parts = expr.split('/');
    let range = parts.next().unwrap_or("");
    let step = parts.next();
    if parts.next().is_some() {
        return Err(format!(
            "{expr:?} has more than one '/': write start-end/step"
        ));
    }
    let (start, mut end, mut extra) = if range == "*" || range == "?" {
        (lo, hi, STAR)
    } else {
        let mut bounds = range.split('-');
        let first = value(field, bounds.next().unwrap_or(""))?;
        let last = match bounds.next() {
            Some(text) => value(field, text)?,
            None => first,
        };
        if bounds.next().is_some() {
            return Err(format!("{expr:?} has more than one '-': write start-end"));
        }
        (first, last, 0)
    };
    let step = match step {
        None => 1,
        Some(text) => {
            let step: u32 = text
                .parse()
                .map_err(|_| format!("step {text:?} is not a whole number: write e.g. */15"))?;
            if step == 0 {
                return Err("a step of 0 never advances: use 1 or more".to_owned());
            }
            // `n/step` means from n to the maximum.
            if extra == 0 && !range.contains('-') {
                end = hi;
            }
            if step > 1 {
                extra = 0;
            }
            step
        }
    };
    if start < lo {
        return Err(format!("{start} is below the minimum {lo}"));
    }
    if end > hi {
        return Err(above(end, hi));
    }
    if start > end {
        return Err(format!(
            "the range starts at {start}, after its end {end}: write the smaller value first"
        ));
    }
    Ok(bits(start, end, step) | extra)
}

fn above(value: u32, hi: u32) -> String {
    if hi == 6 && value == 7 {
        "7 is not a day of week here: Sunday is 0 (or sun)".to_owned()
    } else {
        format!("{value} is above the maximum {hi}")
    }
}

/// A number or a name.
fn value(field: Field, text: &str) -> Result<u32, String> {
    if let Some(v) = field.named(text) {
        return Ok(v);
    }
    if let Ok(v) = text.parse::<u32>() {
        return Ok(v);
    }
    let names = field.names();
    if text.is_empty() {
        Err("a range needs a value on both sides of '-'".to_owned())
    } else if names.is_empty() {
        Err(format!("{text:?} is not a number"))
    } else {
        Err(format!(
            "{text:?} is neither a number nor one of {}",
            names.join(", ")
        ))
    }
}

/// Bits `lo..=hi`, every `step`.
fn bits(lo: u32, hi: u32, step: u32) -> u64 {
    (lo..=hi)
        .step_by(step as usize)
        .fold(0, |acc, i| acc | (1u64 << i))
}

impl Schedule {
    /// The zone of a `CRON_TZ=` prefix; `None` means the zone of the time
    /// given to [`Schedule::next_after`].
    pub fn timezone(&self) -> Option<Tz> {
        self.timezone
    }

    /// The interval of an `@every` schedule.
    pub fn every(&self) -> Option<Duration> {
        match self.kind {
            Kind::Every(d) => Some(d),
            Kind::Fields(_) => None,
        }
    }

    /// The first time after `after` when the schedule fires, in `after`'s
    /// zone; `None` when nothing matches within five years (`0 0 30 2 *`).
    ///
    /// Field schedules are matched in the `CRON_TZ=` zone, else in `after`'s.
    /// A local time skipped by a daylight-saving change does not fire; a
    /// repeated local time fires at its first occurrence after `after`.
    pub fn next_after(&self, after: &DateTime<Tz>) -> Option<DateTime<Tz>> {
        let fields = match self.kind {
            Kind::Every(every) => {
                let start = after.with_nanosecond(0).unwrap_or(*after);
                let step = chrono::Duration::from_std(every).ok()?;
                return start.checked_add_signed(step);
            }
            Kind::Fields(fields) => fields,
        };
        let zone = self.timezone.unwrap_or(after.timezone());
        let local = after.with_timezone(&zone).naive_local();
        // The next whole minute: schedules fire at second 0.
        let minute = chrono::Duration::minutes(1);
        let mut t = local
            .with_second(0)?
            .with_nanosecond(0)?
            .checked_add_signed(minute)?;
        let year_limit = t.year() + 5;
        while t.year() <= year_limit {
            if fields.month & (1 << t.month()) == 0 {
                t = first_of_next_month(t)?;
                continue;
            }
            if !fields.day_matches(t.date()) {
                t = t.date().succ_opt()?.and_hms_opt(0, 0, 0)?;
                continue;
            }
            if fields.hour & (1 << t.hour()) == 0 {
                t = t
                    .with_minute(0)?
                    .checked_add_signed(chrono::Duration::hours(1))?;
                continue;
            }
            if fields.minute & (1 << t.minute()) == 0 {
                t = t.checked_add_signed(minute)?;
                continue;
            }
            let candidates = match zone.from_local_datetime(&t) {
                LocalResult::Single(a) => vec![a],
                LocalResult::Ambiguous(a, b) => vec![a, b],
                LocalResult::None => vec![],
            };
            if let Some(found) = candidates.into_iter().find(|c| c > after) {
                return Some(found.with_timezone(&after.timezone()));
            }
            t = t.checked_add_signed(minute)?;
        }
        None
    }
}

impl Fields {
    fn day_matches(&self, date: NaiveDate) -> bool {
        let dom = self.dom & (1 << date.day()) != 0;
        let dow = self.dow & (1 << date.weekday().num_days_from_sunday()) != 0;
        if self.dom & STAR != 0 || self.dow & STAR != 0 {
            dom && dow
        } else {
            dom || dow
        }
    }
}

fn first_of_next_month(t: NaiveDateTime) -> Option<NaiveDateTime> {
    let (year, month) = if t.month() == 12 {
        (t.year() + 1, 1)
    } else {
        (t.year(), t.month() + 1)
    };
    NaiveDate::from_ymd_opt(year, month, 1)?.and_hms_opt(0, 0, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Schedule {
        parse_schedule(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> String {
        match parse_schedule(s) {
            Ok(schedule) => panic!("{s}: parsed as {schedule:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn at(zone: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Tz> {
        match zone.with_ymd_and_hms(y, mo, d, h, mi, 0) {
            LocalResult::Single(t) => t,
            other => panic!("{other:?}"),
        }
    }

    fn next(s: &str, after: DateTime<Tz>) -> Option<DateTime<Tz>> {
        ok(s).next_after(&after)
    }

    #[test]
    fn accepts_what_upstream_accepts() {
        for s in [
            "* * * * *",
            "*/5 * * * *",
            "0 2 * * *",
            "*/3 * * * 1-5",
            "0 0 1,15 * *",
            "0 9-17/2 * * mon-fri",
            "5/15 * * JAN-Mar sun",
            "0 0 ? * ?",
            "0 0 1 1 *",
            "@yearly",
            "@annually",
            "@monthly",
            "@weekly",
            "@daily",
            "@midnight",
            "@hourly",
            "@every 1h30m",
            "@every 90s",
            "CRON_TZ=America/Los_Angeles * * * * *",
            "TZ=UTC 0 0 * * *",
            "CRON_TZ=Asia/Tokyo @daily",
            "  0   1  *  *  * ",
        ] {
            ok(s);
        }
        assert_eq!(
            ok("CRON_TZ=Europe/Paris 0 0 * * *").timezone(),
            Some(chrono_tz::Europe::Paris)
        );
        assert_eq!(ok("@every 1500ms").every(), Some(Duration::from_secs(1)));
        assert_eq!(ok("@every 0s").every(), Some(Duration::from_secs(1)));
    }

    #[test]
    fn rejects_with_a_reason() {
        assert_eq!(
            err(""),
            "the schedule is empty: write five fields, e.g. \"0 * * * *\" for every hour"
        );
        assert_eq!(
            err("0 * * * * *"),
            "expected 5 fields (minute hour day-of-month month day-of-week), found 6: Argo's \
             schedules have no seconds or year field"
        );
        assert_eq!(
            err("61 * * * *"),
            "minute field \"61\": 61 is above the maximum 59"
        );
        assert_eq!(
            err("* * * * 7"),
            "day-of-week field \"7\": 7 is not a day of week here: Sunday is 0 (or sun)"
        );
        assert_eq!(
            err("* * 0 * *"),
            "day-of-month field \"0\": 0 is below the minimum 1"
        );
        assert_eq!(
            err("* 5-2 * * *"),
            "hour field \"5-2\": the range starts at 5, after its end 2: write the smaller value first"
        );
        assert_eq!(
            err("*/0 * * * *"),
            "minute field \"*/0\": a step of 0 never advances: use 1 or more"
        );
        assert_eq!(
            err("* * * foo *"),
            "month field \"foo\": \"foo\" is neither a number nor one of jan, feb, mar, apr, \
             may, jun, jul, aug, sep, oct, nov, dec"
        );
        assert!(err("* * L * *").starts_with("day-of-month field \"L\""));
        assert!(err("* * * * 5#3").starts_with("day-of-week field \"5#3\""));
        assert_eq!(
            err("@dayly"),
            "unknown descriptor \"@dayly\"; did you mean \"@daily\"?"
        );
        assert_eq!(
            err("@often"),
            "unknown descriptor \"@often\": use @yearly, @annually, @monthly, @weekly, @daily, \
             @midnight, @hourly or @every <duration>"
        );
        assert_eq!(
            err("@every 5d"),
            "@every takes a Go duration: unknown unit \"d\" in duration \"5d\"; use ns, us, ms, \
             s, m or h"
        );
        assert_eq!(
            err("@every"),
            "@every takes a Go duration: empty duration; write a number with a unit, such as \
             30s, 5m or 1h30m"
        );
        assert_eq!(
            err("CRON_TZ=Mars/Olympus * * * * *"),
            "CRON_TZ=Mars/Olympus names no time zone: use an IANA name such as \
             \"America/New_York\" or \"UTC\""
        );
        assert!(err("CRON_TZ=UTC").starts_with("nothing follows CRON_TZ=UTC"));
        assert!(err("1-2-3 * * * *").contains("more than one '-'"));
        assert!(err("1/2/3 * * * *").contains("more than one '/'"));
        assert_eq!(
            err("*-5 * * * *"),
            "minute field \"*-5\": \"*\" is not a number"
        );
    }

    #[test]
    fn next_runs() {
        let utc = Tz::UTC;
        let t = at(utc, 2024, 1, 31, 23, 59);
        assert_eq!(next("* * * * *", t), Some(at(utc, 2024, 2, 1, 0, 0)));
        assert_eq!(next("*/15 * * * *", t), Some(at(utc, 2024, 2, 1, 0, 0)));
        assert_eq!(next("30 2 * * *", t), Some(at(utc, 2024, 2, 1, 2, 30)));
        // Leap day.
        assert_eq!(next("0 0 29 2 *", t), Some(at(utc, 2024, 2, 29, 0, 0)));
        assert_eq!(next("0 0 30 2 *", t), None);
        // Day of month OR day of week when both are restricted: the 1st of
        // the month or any Monday (2024-02-05 is a Monday).
        let after_first = at(utc, 2024, 2, 1, 0, 0);
        assert_eq!(
            next("0 0 1 * mon", after_first),
            Some(at(utc, 2024, 2, 5, 0, 0))
        );
        // AND when one of them is a star.
        assert_eq!(
            next("0 0 * * mon", after_first),
            Some(at(utc, 2024, 2, 5, 0, 0))
        );
        assert_eq!(
            next("0 0 */10 * *", after_first),
            Some(at(utc, 2024, 2, 11, 0, 0))
        );
        assert_eq!(
            next("@weekly", after_first),
            Some(at(utc, 2024, 2, 4, 0, 0))
        );
        assert_eq!(
            next("@yearly", after_first),
            Some(at(utc, 2025, 1, 1, 0, 0))
        );
        // Strictly after.
        assert_eq!(
            next("0 0 * * *", after_first),
            Some(at(utc, 2024, 2, 2, 0, 0))
        );
        // Times at the end of the calendar have no next run rather than panic.
        let last = Tz::UTC.from_utc_datetime(&NaiveDateTime::MAX);
        assert_eq!(next("* * * * *", last), None);
        assert_eq!(next("@every 1h", last), None);
        // @every adds the interval to the whole second.
        assert_eq!(
            next("@every 1h30m", after_first),
            Some(at(utc, 2024, 2, 1, 1, 30))
        );
    }

    #[test]
    fn next_runs_in_the_schedules_zone() {
        let utc = Tz::UTC;
        // 09:00 in Tokyo (UTC+9) is 00:00 UTC.
        let t = at(utc, 2024, 6, 1, 12, 0);
        assert_eq!(
            next("CRON_TZ=Asia/Tokyo 0 9 * * *", t),
            Some(at(utc, 2024, 6, 2, 0, 0))
        );
        // Spring forward in New York on 2024-03-10: 02:30 does not exist.
        let ny = chrono_tz::America::New_York;
        let before = at(ny, 2024, 3, 10, 0, 0);
        assert_eq!(next("30 2 * * *", before), Some(at(ny, 2024, 3, 11, 2, 30)));
        // Fall back on 2024-11-03: 01:30 happens twice; both fire, in order.
        let before = at(ny, 2024, 11, 3, 0, 0);
        let first = next("30 1 * * *", before).expect("first");
        assert_eq!(first.to_rfc3339(), "2024-11-03T01:30:00-04:00");
        let second = next("30 1 * * *", first + chrono::Duration::minutes(40)).expect("second");
        assert_eq!(second.to_rfc3339(), "2024-11-03T01:30:00-05:00");
    }

    #[test]
    fn zones_as_go_loads_them() {
        assert_eq!(parse_zone("UTC"), Some(Some(Tz::UTC)));
        assert_eq!(parse_zone(""), Some(Some(Tz::UTC)));
        assert_eq!(parse_zone("Local"), Some(None));
        assert_eq!(
            parse_zone("Europe/Berlin"),
            Some(Some(chrono_tz::Europe::Berlin))
        );
        assert_eq!(parse_zone("Europe/Atlantis"), None);
    }
}
