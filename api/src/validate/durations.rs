//! Numbers of seconds and durations, in the forms Argo reads.

use super::is_templated;
use crate::duration::parse_go_duration;
use crate::types::IntOrString;

/// A whole number that must not be negative, or a template tag
/// (`activeDeadlineSeconds`, `retryStrategy.limit`, `withSequence.count`).
pub(super) fn non_negative(what: &str, value: &IntOrString) -> Result<(), String> {
    let n = whole_number(what, value)?;
    match n {
        Some(n) if n < 0 => Err(format!("{what} is {n}: use 0 or more")),
        _ => Ok(()),
    }
}

/// A whole number, possibly negative, or a template tag. `Ok(None)` for a tag.
pub(super) fn whole_number(what: &str, value: &IntOrString) -> Result<Option<i64>, String> {
    match value {
        IntOrString::Int(n) => Ok(Some(*n)),
        IntOrString::String(s) if is_templated(s) => Ok(None),
        IntOrString::String(s) => s.trim().parse::<i64>().map(Some).map_err(|_| {
            format!(
                "{what} {s:?} is not a whole number: write a number such as 30, or a template \
                 tag such as {{{{inputs.parameters.n}}}}"
            )
        }),
    }
}

/// A Go duration (`30s`, `1h30m`) or a template tag: a template's `timeout`.
/// A bare number is refused, as upstream does.
pub(super) fn go_duration(text: &str) -> Result<(), String> {
    if is_templated(text) {
        return Ok(());
    }
    parse_go_duration(text)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A whole number of seconds or a Go duration, or a template tag: upstream's
/// `ParseStringToDuration` (suspend `duration`, retry backoff,
/// `podGC.deleteDelayDuration`).
pub(super) fn seconds_or_duration(text: &str) -> Result<(), String> {
    if is_templated(text) {
        return Ok(());
    }
    if let Ok(n) = text.parse::<i64>() {
        return if n < 0 {
            Err(format!("{n} seconds is negative: use 0 or more"))
        } else {
            Ok(())
        };
    }
    parse_go_duration(text)
        .map(|_| ())
        .map_err(|e| format!("{e} (a bare number counts as seconds)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds() {
        assert_eq!(non_negative("limit", &IntOrString::Int(3)), Ok(()));
        assert_eq!(
            non_negative("limit", &IntOrString::String("3".into())),
            Ok(())
        );
        assert_eq!(
            non_negative(
                "limit",
                &IntOrString::String("{{inputs.parameters.n}}".into())
            ),
            Ok(())
        );
        assert_eq!(
            non_negative("limit", &IntOrString::Int(-1)),
            Err("limit is -1: use 0 or more".into())
        );
        assert!(non_negative("limit", &IntOrString::String("three".into())).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(go_duration("1h30m"), Ok(()));
        assert_eq!(go_duration("{{inputs.parameters.t}}"), Ok(()));
        assert!(go_duration("30").is_err());
        assert_eq!(seconds_or_duration("30"), Ok(()));
        assert_eq!(seconds_or_duration("2m"), Ok(()));
        assert!(seconds_or_duration("-3").is_err());
        assert!(seconds_or_duration("2 minutes").is_err());
    }
}
