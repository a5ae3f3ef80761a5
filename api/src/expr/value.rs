//! The one value model both expression languages evaluate to.
//!
//! Upstream evaluates over Go's `any`: `float64` (govaluate's only number,
//! and what `encoding/json` gives), `int` (expr-lang integer literals and
//! arithmetic), `string`, `bool`, `nil`, slices and `map[string]any`, plus
//! `time.Time` and `time.Duration` for `now()` and timestamps. [`Value`]
//! keeps exactly those kinds apart, so integer and float semantics match.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, FixedOffset, TimeDelta};

/// A value of an expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// Go `int` (64 bits): integer literals and integer arithmetic.
    Int(i64),
    /// Go `float64`.
    Float(f64),
    String(String),
    List(Vec<Value>),
    /// Go maps marshal with sorted keys; a `BTreeMap` keeps that order.
    Map(BTreeMap<String, Value>),
    /// Go `time.Time`, e.g. from `now()`.
    Time(DateTime<FixedOffset>),
    /// Go `time.Duration`, e.g. the difference of two times.
    Duration(TimeDelta),
}

impl Value {
    /// The name of the value's kind, as used in error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::String(_) => "string",
            Value::List(_) => "array",
            Value::Map(_) => "map",
            Value::Time(_) => "time.Time",
            Value::Duration(_) => "time.Duration",
        }
    }

    /// The value as JSON numbers decode in Rust: integers that fit `i64`
    /// become [`Value::Int`], every other number [`Value::Float`].
    pub fn from_json(json: &serde_json::Value) -> Value {
        Self::convert_json(json, false)
    }

    /// The value as Go's `encoding/json` decodes into `any`: every number
    /// is a `float64`. This is what `jsonpath` and `fromJSON` see upstream.
    pub fn from_json_go(json: &serde_json::Value) -> Value {
        Self::convert_json(json, true)
    }

    fn convert_json(json: &serde_json::Value, all_float: bool) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) if !all_float => Value::Int(i),
                _ => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(items) => Value::List(
                items
                    .iter()
                    .map(|v| Self::convert_json(v, all_float))
                    .collect(),
            ),
            serde_json::Value::Object(fields) => Value::Map(
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), Self::convert_json(v, all_float)))
                    .collect(),
            ),
        }
    }

    /// The value as JSON. Non-finite floats, which JSON cannot hold, become
    /// `null`; times become RFC 3339 strings and durations nanoseconds, as
    /// Go marshals them.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::List(items) => {
                serde_json::Value::Array(items.iter().map(Value::to_json).collect())
            }
            Value::Map(fields) => serde_json::Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
            Value::Time(t) => serde_json::Value::String(go_time_rfc3339_nano(t)),
            Value::Duration(d) => serde_json::Value::from(duration_nanos(*d)),
        }
    }

    /// Go's `encoding/json` text of the value (`json.Marshal`): map keys
    /// sorted, floats in Go's shortest form, `<`, `>` and `&` escaped.
    /// `None` for a non-finite float, which Go refuses to marshal.
    pub fn to_go_json(&self) -> Option<String> {
        let mut out = String::new();
        write_go_json(self, &mut out)?;
        Some(out)
    }

    /// Go's `fmt.Sprintf("%v", v)` of the value: what expr-lang's `string()`
    /// and govaluate's string concatenation produce.
    pub fn to_go_string(&self) -> String {
        let mut out = String::new();
        write_go_v(self, &mut out);
        out
    }

    /// Numbers as `f64`, for mixed arithmetic.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }
}

impl From<&serde_json::Value> for Value {
    fn from(json: &serde_json::Value) -> Self {
        Value::from_json(json)
    }
}

impl From<serde_json::Value> for Value {
    fn from(json: serde_json::Value) -> Self {
        Value::from_json(&json)
    }
}

impl From<&Value> for serde_json::Value {
    fn from(value: &Value) -> Self {
        value.to_json()
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

/// Nanoseconds of a duration, saturating as Go's `int64` would overflow.
pub(crate) fn duration_nanos(d: TimeDelta) -> i64 {
    d.num_nanoseconds().unwrap_or(if d < TimeDelta::zero() {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// The shortest decimal digits of a finite, non-zero float and its decimal
/// exponent: `1234.5` gives `("12345", 3)`, meaning 1.2345e3.
fn shortest_digits(f: f64) -> (String, i32) {
    let text = format!("{:e}", f.abs());
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    (digits, exponent.parse().unwrap_or(0))
}

/// Go's `strconv.FormatFloat(f, 'e', -1, 64)` from shortest digits.
fn go_exponent_form(negative: bool, digits: &str, exp: i32) -> String {
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    out
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)` from shortest digits.
fn go_fixed_form(negative: bool, digits: &str, exp: i32) -> String {
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    let point = exp + 1;
    if point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', point.unsigned_abs() as usize));
        out.push_str(digits);
    } else if point as usize >= digits.len() {
        out.push_str(digits);
        out.extend(std::iter::repeat_n('0', point as usize - digits.len()));
    } else {
        out.push_str(&digits[..point as usize]);
        out.push('.');
        out.push_str(&digits[point as usize..]);
    }
    out
}

fn non_finite(f: f64) -> Option<&'static str> {
    if f.is_nan() {
        Some("NaN")
    } else if f == f64::INFINITY {
        Some("+Inf")
    } else if f == f64::NEG_INFINITY {
        Some("-Inf")
    } else {
        None
    }
}

/// Go's `%v` of a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`):
/// `10`, `0.5`, `1e+06`, `1e-05`.
pub fn go_float_v(f: f64) -> String {
    if let Some(s) = non_finite(f) {
        return s.to_owned();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    let (digits, exp) = shortest_digits(f);
    if !(-4..6).contains(&exp) {
        go_exponent_form(f < 0.0, &digits, exp)
    } else {
        go_fixed_form(f < 0.0, &digits, exp)
    }
}

/// Go's `encoding/json` text of a finite float64: fixed notation unless
/// the magnitude is below 1e-6 or at least 1e21, and `e-7` not `e-07`.
pub fn go_float_json(f: f64) -> Option<String> {
    if non_finite(f).is_some() {
        return None;
    }
    if f == 0.0 {
        return Some(if f.is_sign_negative() { "-0" } else { "0" }.to_owned());
    }
    let (digits, exp) = shortest_digits(f);
    let abs = f.abs();
    if !(1e-6..1e21).contains(&abs) {
        let text = go_exponent_form(f < 0.0, &digits, exp);
        // Go trims the exponent's leading zero: e-07 becomes e-7.
        Some(text.replacen("e-0", "e-", 1).replacen("e+0", "e+", 1))
    } else {
        Some(go_fixed_form(f < 0.0, &digits, exp))
    }
}

/// Go's `time.RFC3339Nano` rendering.
pub(crate) fn go_time_rfc3339_nano(t: &DateTime<FixedOffset>) -> String {
    let mut s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.timestamp_subsec_nanos();
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    if t.offset().local_minus_utc() == 0 {
        s.push('Z');
    } else {
        s.push_str(&t.format("%:z").to_string());
    }
    s
}

/// Go's `time.Duration.String()`: `1h2m3.5s`, `150ms`, `0s`.
pub(crate) fn go_duration_string(d: TimeDelta) -> String {
    let nanos = duration_nanos(d);
    if nanos == 0 {
        return "0s".to_owned();
    }
    let negative = nanos < 0;
    let mut n = nanos.unsigned_abs();
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if n < 1_000_000_000 {
        let (unit, scale) = if n < 1_000 {
            ("ns", 1)
        } else if n < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        out.push_str(&fraction(n, scale));
        out.push_str(unit);
        return out;
    }
    let hours = n / 3_600_000_000_000;
    n %= 3_600_000_000_000;
    let minutes = n / 60_000_000_000;
    n %= 60_000_000_000;
    if hours > 0 {
        let _ = write!(out, "{hours}h");
    }
    if hours > 0 || minutes > 0 {
        let _ = write!(out, "{minutes}m");
    }
    out.push_str(&fraction(n, 1_000_000_000));
    out.push('s');
    out
}

/// `n / scale` with the remainder as trimmed decimal fraction.
fn fraction(n: u64, scale: u64) -> String {
    let whole = n / scale;
    let rest = n % scale;
    if rest == 0 {
        return whole.to_string();
    }
    let width = scale.to_string().len() - 1;
    let frac = format!("{rest:0width$}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

fn write_go_v(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => out.push_str(&go_float_v(*f)),
        Value::String(s) => out.push_str(s),
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_go_v(item, out);
            }
            out.push(']');
        }
        Value::Map(fields) => {
            out.push_str("map[");
            for (i, (key, item)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(key);
                out.push(':');
                write_go_v(item, out);
            }
            out.push(']');
        }
        Value::Time(t) => {
            out.push_str(&t.format("%Y-%m-%d %H:%M:%S").to_string());
            let nanos = t.timestamp_subsec_nanos();
            if nanos > 0 {
                let frac = format!("{nanos:09}");
                out.push('.');
                out.push_str(frac.trim_end_matches('0'));
            }
            let zone = t.format("%z").to_string();
            out.push(' ');
            out.push_str(&zone);
            out.push(' ');
            if t.offset().local_minus_utc() == 0 {
                out.push_str("UTC");
            } else {
                out.push_str(&zone);
            }
        }
        Value::Duration(d) => out.push_str(&go_duration_string(*d)),
    }
}

fn write_go_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_go_json(value: &Value, out: &mut String) -> Option<()> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => out.push_str(&go_float_json(*f)?),
        Value::String(s) => write_go_json_string(s, out),
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json(item, out)?;
            }
            out.push(']');
        }
        Value::Map(fields) => {
            out.push('{');
            for (i, (key, item)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json_string(key, out);
                out.push(':');
                write_go_json(item, out)?;
            }
            out.push('}');
        }
        Value::Time(t) => write_go_json_string(&go_time_rfc3339_nano(t), out),
        Value::Duration(d) => {
            let _ = write!(out, "{}", duration_nanos(*d));
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_float_forms() {
        assert_eq!(go_float_v(10.0), "10");
        assert_eq!(go_float_v(0.5), "0.5");
        assert_eq!(go_float_v(1e6), "1e+06");
        assert_eq!(go_float_v(123456.0), "123456");
        assert_eq!(go_float_v(0.00001), "1e-05");
        assert_eq!(go_float_v(-2.5), "-2.5");
        assert_eq!(go_float_json(1e6).as_deref(), Some("1000000"));
        assert_eq!(go_float_json(1e21).as_deref(), Some("1e+21"));
        assert_eq!(go_float_json(1e-7).as_deref(), Some("1e-7"));
        assert_eq!(go_float_json(42.5).as_deref(), Some("42.5"));
        assert_eq!(go_float_json(f64::NAN), None);
    }

    #[test]
    fn go_json_sorts_and_escapes() {
        let v = Value::from(serde_json::json!({"b": [1, 2.5], "a": "<x>"}));
        assert_eq!(
            v.to_go_json().as_deref(),
            Some(r#"{"a":"\u003cx\u003e","b":[1,2.5]}"#)
        );
        assert_eq!(v.to_go_string(), "map[a:<x> b:[1 2.5]]");
    }

    #[test]
    fn durations_render_as_go() {
        assert_eq!(go_duration_string(TimeDelta::seconds(3723)), "1h2m3s");
        assert_eq!(go_duration_string(TimeDelta::milliseconds(1500)), "1.5s");
        assert_eq!(go_duration_string(TimeDelta::milliseconds(150)), "150ms");
        assert_eq!(go_duration_string(TimeDelta::zero()), "0s");
    }
}
