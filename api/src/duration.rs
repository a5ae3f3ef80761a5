//! Durations in the syntaxes Argo reads: Go's `time.ParseDuration`
//! (`30s`, `1h5m`, `1.5h`, `300ms`) and the TTL form of the controller
//! configuration (`7d`, `12h`), which adds days.

use std::time::Duration;

/// Why a duration could not be read. Every message quotes the text and says
/// what a valid one looks like.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Nothing was written.
    #[error("empty duration; write a number with a unit, such as 30s, 5m or 1h30m")]
    Empty,
    /// The text is not a sequence of numbers with units.
    #[error("invalid duration {text:?}; write numbers with units, such as 30s, 5m or 1h30m")]
    Invalid { text: String },
    /// A number has no unit after it (`30`).
    #[error(
        "missing unit in duration {text:?}; add one of ns, us, ms, s, m, h (30 seconds is 30s)"
    )]
    MissingUnit { text: String },
    /// A unit Go does not know (`5d`, `2w`).
    #[error("unknown unit {unit:?} in duration {text:?}; use ns, us, ms, s, m or h")]
    UnknownUnit { text: String, unit: String },
    /// Longer than Go's `time.Duration` holds (about 292 years).
    #[error("duration {text:?} is too long; the longest is about 292 years (2562047h)")]
    Overflow { text: String },
    /// Negative: valid Go, but never meaningful where Argo reads one.
    #[error("duration {text:?} is negative; write a duration of zero or more")]
    Negative { text: String },
    /// A TTL (`metricsTTL`, `archiveTTL`) that is neither a whole number with
    /// one of `d`, `h`, `m`, `s` nor a Go duration without those suffixes.
    #[error(
        "invalid TTL {text:?}; write a whole number with one unit, such as 30s, 10m, 12h or 7d"
    )]
    InvalidTtl { text: String },
}

const NANOS_PER_SECOND: u128 = 1_000_000_000;

/// Go's longest duration: `math.MaxInt64` nanoseconds.
const MAX_NANOS: u128 = i64::MAX as u128;

/// Nanoseconds per unit, as Go's `time` package names them.
fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        // Go accepts the micro sign (U+00B5) and the Greek mu (U+03BC).
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => NANOS_PER_SECOND,
        "m" => 60 * NANOS_PER_SECOND,
        "h" => 3_600 * NANOS_PER_SECOND,
        _ => return None,
    })
}

/// Parses a duration the way Go's `time.ParseDuration` does: an optional
/// sign, then one or more decimal numbers each followed by a unit (`ns`,
/// `us`, `µs`, `ms`, `s`, `m`, `h`), as in `300ms`, `1.5h` or `2h45m`. A bare
/// `0` is zero.
///
/// Differences from Go, both deliberate: a negative result is an error
/// ([`DurationError::Negative`]) because `std::time::Duration` cannot hold
/// one and no Argo setting means anything by it; fractions are exact
/// (integer arithmetic, truncated to the nanosecond) where Go rounds through
/// a float.
pub fn parse_go_duration(text: &str) -> Result<Duration, DurationError> {
    let invalid = || DurationError::Invalid {
        text: text.to_owned(),
    };
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(if text.is_empty() {
            DurationError::Empty
        } else {
            invalid()
        });
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_digits, after_int) = rest.split_at(int_len);
        let (frac_digits, after_number) = match after_int.strip_prefix('.') {
            Some(after_dot) => {
                let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
                after_dot.split_at(frac_len)
            }
            None => ("", after_int),
        };
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(invalid());
        }
        let unit_len = after_number
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(after_number.len());
        if unit_len == 0 {
            return Err(DurationError::MissingUnit {
                text: text.to_owned(),
            });
        }
        let (unit, after_unit) = after_number.split_at(unit_len);
        let per_unit = unit_nanos(unit).ok_or_else(|| DurationError::UnknownUnit {
            text: text.to_owned(),
            unit: unit.to_owned(),
        })?;
        let overflow = || DurationError::Overflow {
            text: text.to_owned(),
        };
        let whole: u128 = if int_digits.is_empty() {
            0
        } else {
            int_digits.parse().map_err(|_| overflow())?
        };
        let mut nanos = whole.checked_mul(per_unit).ok_or_else(overflow)?;
        // Digits past the 18th change no unit's nanoseconds by a whole one.
        let frac_digits = &frac_digits[..frac_digits.len().min(18)];
        if !frac_digits.is_empty() {
            let numerator: u128 = frac_digits.parse().map_err(|_| invalid())?;
            let scale = 10u128.pow(u32::try_from(frac_digits.len()).map_err(|_| invalid())?);
            nanos += numerator * per_unit / scale;
        }
        total = total.checked_add(nanos).ok_or_else(overflow)?;
        if total > MAX_NANOS {
            return Err(overflow());
        }
        rest = after_unit;
    }
    if negative && total > 0 {
        return Err(DurationError::Negative {
            text: text.to_owned(),
        });
    }
    Ok(nanos_to_duration(total))
}

/// Parses a TTL as Argo's controller configuration reads one (`metricsTTL`,
/// `persistence.archiveTTL`): a whole number with exactly one of the units
/// `d` (days), `h`, `m` or `s` (`7d`, `12h`), or else a Go duration whose
/// last unit is none of those (`500ms` is not one: it ends in `s`, and Argo
/// rejects it too). The empty string is zero.
pub fn parse_ttl(text: &str) -> Result<Duration, DurationError> {
    if text.is_empty() {
        return Ok(Duration::ZERO);
    }
    let per_unit_seconds: Option<u64> = match text.as_bytes().last() {
        Some(b'd') => Some(86_400),
        Some(b'h') => Some(3_600),
        Some(b'm') => Some(60),
        Some(b's') => Some(1),
        _ => None,
    };
    let Some(per_unit) = per_unit_seconds else {
        return parse_go_duration(text);
    };
    let number = &text[..text.len() - 1];
    let invalid = || DurationError::InvalidTtl {
        text: text.to_owned(),
    };
    let (negative, digits) = match number.as_bytes().first() {
        Some(b'-') => (true, &number[1..]),
        Some(b'+') => (false, &number[1..]),
        _ => (false, number),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    if negative && !digits.bytes().all(|b| b == b'0') {
        return Err(DurationError::Negative {
            text: text.to_owned(),
        });
    }
    let count: u64 = digits.parse().map_err(|_| DurationError::Overflow {
        text: text.to_owned(),
    })?;
    let seconds = count
        .checked_mul(per_unit)
        .filter(|s| u128::from(*s) * NANOS_PER_SECOND <= MAX_NANOS)
        .ok_or_else(|| DurationError::Overflow {
            text: text.to_owned(),
        })?;
    Ok(Duration::from_secs(seconds))
}

fn nanos_to_duration(nanos: u128) -> Duration {
    // `nanos` is at most i64::MAX, so both parts fit.
    let seconds = (nanos / NANOS_PER_SECOND) as u64;
    let subsec = (nanos % NANOS_PER_SECOND) as u32;
    Duration::new(seconds, subsec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Duration {
        parse_go_duration(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn reads_what_go_reads() {
        assert_eq!(ok("0"), Duration::ZERO);
        assert_eq!(ok("+0"), Duration::ZERO);
        assert_eq!(ok("-0"), Duration::ZERO);
        assert_eq!(ok("0s"), Duration::ZERO);
        assert_eq!(ok("30s"), Duration::from_secs(30));
        assert_eq!(ok("+30s"), Duration::from_secs(30));
        assert_eq!(ok("1h5m"), Duration::from_secs(3_900));
        assert_eq!(ok("2h45m30s"), Duration::from_secs(9_930));
        assert_eq!(ok("1.5h"), Duration::from_secs(5_400));
        assert_eq!(ok(".5s"), Duration::from_millis(500));
        assert_eq!(ok("5.s"), Duration::from_secs(5));
        assert_eq!(ok("300ms"), Duration::from_millis(300));
        assert_eq!(ok("10us"), Duration::from_micros(10));
        assert_eq!(ok("10µs"), Duration::from_micros(10));
        assert_eq!(ok("10μs"), Duration::from_micros(10));
        assert_eq!(ok("7ns"), Duration::from_nanos(7));
        assert_eq!(ok("1m1m"), Duration::from_secs(120));
        assert_eq!(ok("0.000000001s"), Duration::from_nanos(1));
        assert_eq!(ok("0.0000000019s"), Duration::from_nanos(1));
        assert_eq!(ok("2562047h"), Duration::from_secs(2_562_047 * 3_600));
    }

    #[test]
    fn rejects_what_go_rejects() {
        assert_eq!(parse_go_duration(""), Err(DurationError::Empty));
        for text in ["-", "+", "s", ".s", " 1s", "1h.s"] {
            assert_eq!(
                parse_go_duration(text),
                Err(DurationError::Invalid {
                    text: text.to_owned()
                }),
                "{text}"
            );
        }
        for text in ["30", "1h30", "1.5", "1.2.3s"] {
            assert_eq!(
                parse_go_duration(text),
                Err(DurationError::MissingUnit {
                    text: text.to_owned()
                }),
                "{text}"
            );
        }
        assert_eq!(
            parse_go_duration("5d"),
            Err(DurationError::UnknownUnit {
                text: "5d".into(),
                unit: "d".into()
            })
        );
        assert_eq!(
            parse_go_duration("1h 5m"),
            Err(DurationError::UnknownUnit {
                text: "1h 5m".into(),
                unit: "h ".into()
            })
        );
        assert_eq!(
            parse_go_duration("1H"),
            Err(DurationError::UnknownUnit {
                text: "1H".into(),
                unit: "H".into()
            })
        );
        assert_eq!(
            parse_go_duration("2562048h"),
            Err(DurationError::Overflow {
                text: "2562048h".into()
            })
        );
        assert_eq!(
            parse_go_duration("99999999999999999999999999999999999999999h"),
            Err(DurationError::Overflow {
                text: "99999999999999999999999999999999999999999h".into()
            })
        );
        assert_eq!(
            parse_go_duration("-5s"),
            Err(DurationError::Negative { text: "-5s".into() })
        );
    }

    #[test]
    fn messages_say_what_to_write() {
        let err = parse_go_duration("30").expect_err("no unit");
        assert_eq!(
            err.to_string(),
            "missing unit in duration \"30\"; add one of ns, us, ms, s, m, h (30 seconds is 30s)"
        );
    }

    #[test]
    fn reads_ttls_as_argo_does() {
        assert_eq!(parse_ttl(""), Ok(Duration::ZERO));
        assert_eq!(parse_ttl("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_ttl("180d"), Ok(Duration::from_secs(180 * 86_400)));
        assert_eq!(parse_ttl("12h"), Ok(Duration::from_secs(12 * 3_600)));
        assert_eq!(parse_ttl("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_ttl("+30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_ttl("-0s"), Ok(Duration::ZERO));
        // Not ending in d/h/m/s: a Go duration.
        assert_eq!(parse_ttl("0"), Ok(Duration::ZERO));
        assert_eq!(
            parse_ttl("5"),
            Err(DurationError::MissingUnit { text: "5".into() })
        );
        // Argo's TTL reader takes the last letter as the unit, so these fail.
        for text in ["1h30m", "500ms", "100us", "1.5h", "d", "x5m", "+-5m"] {
            assert_eq!(
                parse_ttl(text),
                Err(DurationError::InvalidTtl {
                    text: text.to_owned()
                }),
                "{text}"
            );
        }
        assert_eq!(
            parse_ttl("-1d"),
            Err(DurationError::Negative { text: "-1d".into() })
        );
        assert_eq!(
            parse_ttl("999999999999d"),
            Err(DurationError::Overflow {
                text: "999999999999d".into()
            })
        );
        assert_eq!(
            parse_ttl("5w"),
            Err(DurationError::UnknownUnit {
                text: "5w".into(),
                unit: "w".into()
            })
        );
    }
}
