//! Functions an expression can call: expr-lang's builtins, Argo's
//! additions (`asInt`, `asFloat`, `jsonpath`, `toJson`) and the `sprig.*`
//! functions (Sprig's generic function map, less `env`/`expandenv`).

use std::collections::BTreeMap;

use base64::Engine as _;
use chrono::{DateTime, FixedOffset, TimeDelta, Utc};

use super::exprlang::{Eval, Frame, Node, compare, equal};
use super::value::{Value, duration_nanos, go_duration_string};
use super::{ExprError, MAX_COLLECTION, Scope, gotime, jsonpath};

/// Builtins whose second argument is a closure.
pub(crate) const PREDICATES: [&str; 14] = [
    "all",
    "none",
    "any",
    "one",
    "filter",
    "map",
    "count",
    "find",
    "findIndex",
    "findLast",
    "findLastIndex",
    "groupBy",
    "sortBy",
    "reduce",
];

type R = Result<Value, String>;

fn arity(name: &str, args: &[Value], min: usize, max: usize) -> Result<(), String> {
    if args.len() < min || args.len() > max {
        let want = if min == max {
            min.to_string()
        } else {
            format!("{min} to {max}")
        };
        return Err(format!(
            "{name}() takes {want} arguments, got {}",
            args.len()
        ));
    }
    Ok(())
}

fn str_arg<'a>(name: &str, v: &'a Value) -> Result<&'a str, String> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(format!(
            "{name}(): a string is needed, not {}",
            other.kind()
        )),
    }
}

/// expr-lang's `int()` (and Argo's `asInt`).
fn to_int(name: &str, v: &Value) -> R {
    Ok(Value::Int(match v {
        Value::Int(i) => *i,
        Value::Float(f) => *f as i64,
        Value::String(s) => s
            .parse()
            .map_err(|_| format!("invalid operation: {name}({s:?}): not an integer"))?,
        Value::Duration(d) => duration_nanos(*d),
        other => return Err(format!("invalid operation: {name}({})", other.kind())),
    }))
}

/// expr-lang's `float()` (and Argo's `asFloat`).
fn to_float(name: &str, v: &Value) -> R {
    Ok(Value::Float(match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::String(s) => s
            .trim()
            .parse()
            .ok()
            .filter(|_| s.trim() == s)
            .ok_or_else(|| format!("invalid operation: {name}({s:?}): not a number"))?,
        other => return Err(format!("invalid operation: {name}({})", other.kind())),
    }))
}

/// Sprig's `toInt64` (spf13/cast): lenient, 0 when it cannot convert.
fn cast_i64(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => i64::from(*b),
        Value::String(s) => {
            let t = s.trim();
            let (neg, t) = t.strip_prefix('-').map_or((false, t), |r| (true, r));
            let parsed = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                i64::from_str_radix(h, 16).ok()
            } else if t.len() > 1 && t.starts_with('0') {
                i64::from_str_radix(&t[1..], 8).ok()
            } else {
                t.parse().ok()
            };
            parsed.map_or(0, |n| if neg { -n } else { n })
        }
        _ => 0,
    }
}

/// Sprig's `toFloat64`.
fn cast_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::String(s) => s.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// Sprig's `toString` / Go's `%v`, with strings as they are.
fn cast_string(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        other => other.to_go_string(),
    }
}

/// Sprig's `empty`: the zero value of its type.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Int(i) => *i == 0,
        Value::Float(f) => *f == 0.0,
        Value::String(s) => s.is_empty(),
        Value::List(l) => l.is_empty(),
        Value::Map(m) => m.is_empty(),
        Value::Time(_) => false,
        Value::Duration(d) => d.is_zero(),
    }
}

fn list_arg<'a>(name: &str, v: &'a Value) -> Result<&'a [Value], String> {
    match v {
        Value::List(items) => Ok(items),
        other => Err(format!(
            "{name}(): an array is needed, not {}",
            other.kind()
        )),
    }
}

fn go_json(v: &Value) -> R {
    v.to_go_json()
        .map(Value::String)
        .ok_or_else(|| "json: unsupported value: NaN or infinity".to_owned())
}

fn from_json(s: &str) -> R {
    let parsed: serde_json::Value =
        serde_json::from_str(s).map_err(|e| format!("invalid JSON: {e}"))?;
    Ok(Value::from_json_go(&parsed))
}

/// Sprig's date argument: a time, or Unix seconds. Upstream falls back to
/// the current time for anything else; here an RFC 3339 string is read as
/// the time it names and other values are an error, so results never
/// depend on the clock.
fn date_arg(v: &Value) -> Result<DateTime<FixedOffset>, String> {
    match v {
        Value::Time(t) => Ok(*t),
        Value::Int(secs) => DateTime::from_timestamp(*secs, 0)
            .map(|t| t.fixed_offset())
            .ok_or_else(|| format!("timestamp {secs} is out of range")),
        Value::String(s) => {
            DateTime::parse_from_rfc3339(s).map_err(|e| format!("cannot read {s:?} as a date: {e}"))
        }
        // `workflow.creationTimestamp` in an expression: its `.Y`, `.m`...
        // children make it a map (upstream then formats the current time;
        // the map's own RFC 3339 form is what the author meant).
        Value::Map(fields) if fields.contains_key("RFC3339") => date_arg(&fields["RFC3339"]),
        other => Err(format!("cannot use {} as a date", other.kind())),
    }
}

fn repeat(s: &str, n: i64) -> R {
    let n = usize::try_from(n).map_err(|_| "repeat count must not be negative".to_owned())?;
    if s.len().saturating_mul(n) > MAX_COLLECTION {
        return Err(format!(
            "repeat would build a string longer than {MAX_COLLECTION} bytes"
        ));
    }
    Ok(Value::String(s.repeat(n)))
}

fn min_max(name: &str, args: &[Value], want_max: bool) -> R {
    let items: &[Value] = match args {
        [Value::List(items)] => items,
        _ => args,
    };
    let mut best: Option<&Value> = None;
    for item in items {
        if item.as_f64().is_none() {
            return Err(format!("{name}(): a number is needed, not {}", item.kind()));
        }
        best = match best {
            Some(b) if (compare(item, b) == Some(std::cmp::Ordering::Greater)) != want_max => {
                Some(b)
            }
            _ => Some(item),
        };
    }
    best.cloned()
        .ok_or_else(|| format!("{name}() needs at least one value"))
}

/// Calls a non-predicate function by name.
pub(crate) fn call(name: &str, args: Vec<Value>, scope: &dyn Scope) -> R {
    if let Some(sprig) = name.strip_prefix("sprig.") {
        return call_sprig(sprig, args);
    }
    let a = &args;
    match name {
        "asInt" | "int" => {
            arity(name, a, 1, 1)?;
            to_int(name, &a[0])
        }
        "asFloat" | "float" => {
            arity(name, a, 1, 1)?;
            to_float(name, &a[0])
        }
        "string" => {
            arity(name, a, 1, 1)?;
            Ok(Value::String(a[0].to_go_string()))
        }
        "jsonpath" => {
            arity(name, a, 2, 2)?;
            let doc = from_json(str_arg(name, &a[0])?)?;
            jsonpath::query(&doc, str_arg(name, &a[1])?)
        }
        "toJson" | "toJSON" => {
            arity(name, a, 1, 1)?;
            go_json(&a[0])
        }
        "fromJSON" | "fromJson" => {
            arity(name, a, 1, 1)?;
            from_json(str_arg(name, &a[0])?)
        }
        "len" => {
            arity(name, a, 1, 1)?;
            Ok(Value::Int(match &a[0] {
                Value::String(s) => s.chars().count() as i64,
                Value::List(l) => l.len() as i64,
                Value::Map(m) => m.len() as i64,
                other => return Err(format!("invalid argument for len (type {})", other.kind())),
            }))
        }
        "abs" => {
            arity(name, a, 1, 1)?;
            match &a[0] {
                Value::Int(i) => Ok(Value::Int(i.wrapping_abs())),
                Value::Float(f) => Ok(Value::Float(f.abs())),
                other => Err(format!("invalid argument for abs (type {})", other.kind())),
            }
        }
        "ceil" | "floor" | "round" => {
            arity(name, a, 1, 1)?;
            let f = a[0]
                .as_f64()
                .ok_or_else(|| format!("invalid argument for {name} (type {})", a[0].kind()))?;
            Ok(Value::Float(match name {
                "ceil" => f.ceil(),
                "floor" => f.floor(),
                _ => f.round(),
            }))
        }
        "max" | "min" => min_max(name, a, name == "max"),
        "sum" | "mean" => {
            arity(name, a, 1, 1)?;
            let items = list_arg(name, &a[0])?;
            let mut int_sum = 0i64;
            let mut float_sum = 0.0;
            let mut all_int = true;
            for item in items {
                match item {
                    Value::Int(i) => {
                        int_sum = int_sum.wrapping_add(*i);
                        float_sum += *i as f64;
                    }
                    Value::Float(f) => {
                        all_int = false;
                        float_sum += f;
                    }
                    other => {
                        return Err(format!(
                            "{name}(): a number is needed, not {}",
                            other.kind()
                        ));
                    }
                }
            }
            if name == "mean" {
                return Ok(Value::Float(if items.is_empty() {
                    0.0
                } else {
                    float_sum / items.len() as f64
                }));
            }
            Ok(if all_int {
                Value::Int(int_sum)
            } else {
                Value::Float(float_sum)
            })
        }
        "trim" | "trimPrefix" | "trimSuffix" => {
            arity(name, a, 1, 2)?;
            let s = str_arg(name, &a[0])?;
            let cut = match a.get(1) {
                Some(v) => Some(str_arg(name, v)?),
                None => None,
            };
            Ok(Value::String(match (name, cut) {
                ("trim", None) => s.trim().to_owned(),
                ("trim", Some(set)) => s.trim_matches(|c| set.contains(c)).to_owned(),
                ("trimPrefix", Some(p)) => s.strip_prefix(p).unwrap_or(s).to_owned(),
                ("trimPrefix", None) => s.trim_start().to_owned(),
                ("trimSuffix", Some(p)) => s.strip_suffix(p).unwrap_or(s).to_owned(),
                _ => s.trim_end().to_owned(),
            }))
        }
        "upper" | "lower" => {
            arity(name, a, 1, 1)?;
            let s = str_arg(name, &a[0])?;
            Ok(Value::String(if name == "upper" {
                s.to_uppercase()
            } else {
                s.to_lowercase()
            }))
        }
        "split" => {
            arity(name, a, 2, 2)?;
            let (s, sep) = (str_arg(name, &a[0])?, str_arg(name, &a[1])?);
            Ok(Value::List(s.split(sep).map(Value::from).collect()))
        }
        "replace" => {
            arity(name, a, 3, 3)?;
            Ok(Value::String(
                str_arg(name, &a[0])?.replace(str_arg(name, &a[1])?, str_arg(name, &a[2])?),
            ))
        }
        "repeat" => {
            arity(name, a, 2, 2)?;
            let Value::Int(n) = a[1] else {
                return Err("repeat(): the count must be an int".to_owned());
            };
            repeat(str_arg(name, &a[0])?, n)
        }
        "join" => {
            arity(name, a, 1, 2)?;
            let items = list_arg(name, &a[0])?;
            let sep = match a.get(1) {
                Some(v) => str_arg(name, v)?,
                None => "",
            };
            let parts: Result<Vec<&str>, String> = items.iter().map(|i| str_arg(name, i)).collect();
            Ok(Value::String(parts?.join(sep)))
        }
        "indexOf" | "lastIndexOf" => {
            arity(name, a, 2, 2)?;
            let (s, sub) = (str_arg(name, &a[0])?, str_arg(name, &a[1])?);
            let found = if name == "indexOf" {
                s.find(sub)
            } else {
                s.rfind(sub)
            };
            Ok(Value::Int(
                found.map_or(-1, |b| s[..b].chars().count() as i64),
            ))
        }
        "hasPrefix" | "hasSuffix" => {
            arity(name, a, 2, 2)?;
            let (s, p) = (str_arg(name, &a[0])?, str_arg(name, &a[1])?);
            Ok(Value::Bool(if name == "hasPrefix" {
                s.starts_with(p)
            } else {
                s.ends_with(p)
            }))
        }
        "toBase64" => {
            arity(name, a, 1, 1)?;
            Ok(Value::String(
                base64::engine::general_purpose::STANDARD.encode(str_arg(name, &a[0])?),
            ))
        }
        "fromBase64" => {
            arity(name, a, 1, 1)?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(str_arg(name, &a[0])?)
                .map_err(|e| format!("fromBase64(): {e}"))?;
            Ok(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        }
        "first" | "last" => {
            arity(name, a, 1, 1)?;
            let items = list_arg(name, &a[0])?;
            let item = if name == "first" {
                items.first()
            } else {
                items.last()
            };
            Ok(item.cloned().unwrap_or(Value::Null))
        }
        "keys" | "values" => {
            arity(name, a, 1, 1)?;
            let Value::Map(m) = &a[0] else {
                return Err(format!("{name}(): a map is needed, not {}", a[0].kind()));
            };
            Ok(Value::List(if name == "keys" {
                m.keys().map(|k| Value::String(k.clone())).collect()
            } else {
                m.values().cloned().collect()
            }))
        }
        "reverse" => {
            arity(name, a, 1, 1)?;
            Ok(Value::List(
                list_arg(name, &a[0])?.iter().rev().cloned().collect(),
            ))
        }
        "uniq" => {
            arity(name, a, 1, 1)?;
            let mut out: Vec<Value> = Vec::new();
            for item in list_arg(name, &a[0])? {
                if !out.iter().any(|o| equal(o, item)) {
                    out.push(item.clone());
                }
            }
            Ok(Value::List(out))
        }
        "concat" => {
            let mut out = Vec::new();
            for v in a {
                out.extend_from_slice(list_arg(name, v)?);
            }
            Ok(Value::List(out))
        }
        "get" => {
            arity(name, a, 2, 2)?;
            Ok(super::exprlang::fetch(&a[0], &a[1]).unwrap_or(Value::Null))
        }
        "type" => {
            arity(name, a, 1, 1)?;
            Ok(Value::String(a[0].kind().to_owned()))
        }
        "now" => {
            arity(name, a, 0, 0)?;
            scope
                .now()
                .map(|t| Value::Time(t.fixed_offset()))
                .ok_or_else(|| "now() needs a clock, and this evaluation has none".to_owned())
        }
        "duration" => {
            arity(name, a, 1, 1)?;
            parse_go_duration(str_arg(name, &a[0])?).map(Value::Duration)
        }
        "date" => {
            arity(name, a, 1, 2)?;
            let s = str_arg(name, &a[0])?;
            let t = match a.get(1) {
                Some(layout) => gotime::parse(s, str_arg(name, layout)?)
                    .ok_or_else(|| format!("date(): {s:?} does not match the layout"))?,
                None => DateTime::parse_from_rfc3339(s).map_err(|e| format!("date(): {e}"))?,
            };
            Ok(Value::Time(t))
        }
        other => Err(format!("unknown function {other}")),
    }
}

/// Go's `time.ParseDuration`: `1h30m`, `1.5s`, `-2ms`.
fn parse_go_duration(s: &str) -> Result<TimeDelta, String> {
    let bad = || format!("time: invalid duration {s:?}");
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(TimeDelta::zero());
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        let value: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest
            .bytes()
            .take_while(|b| !b.is_ascii_digit() && *b != b'.')
            .count();
        let scale = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        rest = &rest[u..];
        total += value * scale;
    }
    let nanos = if neg { -total } else { total };
    Ok(TimeDelta::nanoseconds(nanos as i64))
}

/// Methods of times and durations (`(now() - t).Seconds()`).
pub(crate) fn method(base: &Value, name: &str, args: Vec<Value>) -> R {
    match (base, name) {
        (Value::Duration(d), _) => {
            arity(name, &args, 0, 0)?;
            let nanos = duration_nanos(*d);
            Ok(match name {
                "Seconds" => Value::Float(nanos as f64 / 1e9),
                "Minutes" => Value::Float(nanos as f64 / 60e9),
                "Hours" => Value::Float(nanos as f64 / 3600e9),
                "Milliseconds" => Value::Int(nanos / 1_000_000),
                "Microseconds" => Value::Int(nanos / 1_000),
                "Nanoseconds" => Value::Int(nanos),
                "String" => Value::String(go_duration_string(*d)),
                _ => return Err(format!("type time.Duration has no method {name}")),
            })
        }
        (Value::Time(t), _) => match name {
            "Unix" => Ok(Value::Int(t.timestamp())),
            "UnixMilli" => Ok(Value::Int(t.timestamp_millis())),
            "Year" => Ok(Value::Int(i64::from(chrono::Datelike::year(t)))),
            "Format" => {
                arity(name, &args, 1, 1)?;
                Ok(Value::String(gotime::format(t, str_arg(name, &args[0])?)))
            }
            "UTC" => Ok(Value::Time(t.with_timezone(&Utc).fixed_offset())),
            "Sub" | "After" | "Before" | "Equal" => {
                arity(name, &args, 1, 1)?;
                let Value::Time(other) = &args[0] else {
                    return Err(format!(
                        "{name}(): a time is needed, not {}",
                        args[0].kind()
                    ));
                };
                Ok(match name {
                    "Sub" => Value::Duration(t.signed_duration_since(*other)),
                    "After" => Value::Bool(t > other),
                    "Before" => Value::Bool(t < other),
                    _ => Value::Bool(t == other),
                })
            }
            "Add" => {
                arity(name, &args, 1, 1)?;
                let Value::Duration(d) = &args[0] else {
                    return Err(format!(
                        "Add(): a duration is needed, not {}",
                        args[0].kind()
                    ));
                };
                Ok(Value::Time(*t + *d))
            }
            _ => Err(format!("type time.Time has no method {name}")),
        },
        (other, _) => Err(format!("type {} has no method {name}", other.kind())),
    }
}

/// The Sprig functions, as Sprig defines them (numbers through its lenient
/// casts, so `sprig.add("1", 2)` is 3).
fn call_sprig(name: &str, args: Vec<Value>) -> R {
    let a = &args;
    let s = |i: usize| a.get(i).map(cast_string).unwrap_or_default();
    let full = format!("sprig.{name}");
    let n = &full;
    Ok(match name {
        "trim" => {
            arity(n, a, 1, 1)?;
            Value::String(s(0).trim().to_owned())
        }
        "trimAll" => {
            arity(n, a, 2, 2)?;
            let cut = s(0);
            Value::String(s(1).trim_matches(|c| cut.contains(c)).to_owned())
        }
        "trimPrefix" => {
            arity(n, a, 2, 2)?;
            let (p, v) = (s(0), s(1));
            Value::String(v.strip_prefix(p.as_str()).unwrap_or(&v).to_owned())
        }
        "trimSuffix" => {
            arity(n, a, 2, 2)?;
            let (p, v) = (s(0), s(1));
            Value::String(v.strip_suffix(p.as_str()).unwrap_or(&v).to_owned())
        }
        "upper" => {
            arity(n, a, 1, 1)?;
            Value::String(s(0).to_uppercase())
        }
        "lower" => {
            arity(n, a, 1, 1)?;
            Value::String(s(0).to_lowercase())
        }
        "title" => {
            arity(n, a, 1, 1)?;
            let mut out = String::new();
            let mut start = true;
            for c in s(0).chars() {
                if start {
                    out.extend(c.to_uppercase());
                } else {
                    out.push(c);
                }
                start = c.is_whitespace();
            }
            Value::String(out)
        }
        "replace" => {
            arity(n, a, 3, 3)?;
            Value::String(s(2).replace(&s(0), &s(1)))
        }
        "contains" => {
            arity(n, a, 2, 2)?;
            Value::Bool(s(1).contains(&s(0)))
        }
        "hasPrefix" => {
            arity(n, a, 2, 2)?;
            Value::Bool(s(1).starts_with(&s(0)))
        }
        "hasSuffix" => {
            arity(n, a, 2, 2)?;
            Value::Bool(s(1).ends_with(&s(0)))
        }
        "repeat" => {
            arity(n, a, 2, 2)?;
            return repeat(&s(1), cast_i64(&a[0]));
        }
        "substr" => {
            arity(n, a, 3, 3)?;
            let chars: Vec<char> = s(2).chars().collect();
            let (start, end) = (cast_i64(&a[0]), cast_i64(&a[1]));
            let len = chars.len() as i64;
            let start = start.clamp(0, len);
            let end = if end < 0 || end > len {
                len
            } else {
                end.max(start)
            };
            Value::String(chars[start as usize..end as usize].iter().collect())
        }
        "trunc" => {
            arity(n, a, 2, 2)?;
            let chars: Vec<char> = s(1).chars().collect();
            let c = cast_i64(&a[0]);
            let len = chars.len() as i64;
            Value::String(if c >= 0 {
                chars[..c.min(len) as usize].iter().collect()
            } else {
                chars[(len + c).max(0) as usize..].iter().collect()
            })
        }
        "nospace" => {
            arity(n, a, 1, 1)?;
            Value::String(s(0).chars().filter(|c| !c.is_whitespace()).collect())
        }
        "quote" | "squote" => {
            let q = if name == "quote" { '"' } else { '\'' };
            let parts: Vec<String> = a
                .iter()
                .filter(|v| **v != Value::Null)
                .map(|v| {
                    if name == "quote" {
                        format!("{:?}", cast_string(v))
                    } else {
                        format!("{q}{}{q}", cast_string(v))
                    }
                })
                .collect();
            Value::String(parts.join(" "))
        }
        "cat" => Value::String(
            a.iter()
                .filter(|v| **v != Value::Null)
                .map(cast_string)
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "indent" | "nindent" => {
            arity(n, a, 2, 2)?;
            let pad = " ".repeat(
                usize::try_from(cast_i64(&a[0]))
                    .unwrap_or(0)
                    .min(MAX_COLLECTION),
            );
            let text = format!("{pad}{}", s(1).replace('\n', &format!("\n{pad}")));
            Value::String(if name == "nindent" {
                format!("\n{text}")
            } else {
                text
            })
        }
        "splitList" => {
            arity(n, a, 2, 2)?;
            Value::List(s(1).split(s(0).as_str()).map(Value::from).collect())
        }
        "join" => {
            arity(n, a, 2, 2)?;
            let items: Vec<String> = match &a[1] {
                Value::List(items) => items.iter().map(cast_string).collect(),
                other => vec![cast_string(other)],
            };
            Value::String(items.join(&s(0)))
        }
        "b64enc" => {
            arity(n, a, 1, 1)?;
            Value::String(base64::engine::general_purpose::STANDARD.encode(s(0)))
        }
        "b64dec" => {
            arity(n, a, 1, 1)?;
            // Sprig returns the error text instead of failing.
            match base64::engine::general_purpose::STANDARD.decode(s(0)) {
                Ok(bytes) => Value::String(String::from_utf8_lossy(&bytes).into_owned()),
                Err(e) => Value::String(e.to_string()),
            }
        }
        "toString" => {
            arity(n, a, 1, 1)?;
            Value::String(s(0))
        }
        "atoi" => {
            arity(n, a, 1, 1)?;
            Value::Int(s(0).trim().parse().unwrap_or(0))
        }
        "int" | "int64" => {
            arity(n, a, 1, 1)?;
            Value::Int(cast_i64(&a[0]))
        }
        "float64" => {
            arity(n, a, 1, 1)?;
            Value::Float(cast_f64(&a[0]))
        }
        "add" | "mul" => {
            let mut acc: i64 = if name == "add" { 0 } else { 1 };
            for v in a {
                acc = if name == "add" {
                    acc.wrapping_add(cast_i64(v))
                } else {
                    acc.wrapping_mul(cast_i64(v))
                };
            }
            Value::Int(acc)
        }
        "add1" => {
            arity(n, a, 1, 1)?;
            Value::Int(cast_i64(&a[0]).wrapping_add(1))
        }
        "sub" | "div" | "mod" => {
            arity(n, a, 2, 2)?;
            let (x, y) = (cast_i64(&a[0]), cast_i64(&a[1]));
            if name != "sub" && y == 0 {
                return Err(format!("{n}(): integer divide by zero"));
            }
            Value::Int(match name {
                "sub" => x.wrapping_sub(y),
                "div" => x.wrapping_div(y),
                _ => x.wrapping_rem(y),
            })
        }
        "max" | "min" => {
            let first = a
                .first()
                .ok_or_else(|| format!("{n}() needs at least one value"))?;
            let mut best = cast_i64(first);
            for v in &a[1..] {
                let x = cast_i64(v);
                best = if name == "max" {
                    best.max(x)
                } else {
                    best.min(x)
                };
            }
            Value::Int(best)
        }
        "maxf" | "minf" => {
            let first = a
                .first()
                .ok_or_else(|| format!("{n}() needs at least one value"))?;
            let mut best = cast_f64(first);
            for v in &a[1..] {
                let x = cast_f64(v);
                best = if name == "maxf" {
                    best.max(x)
                } else {
                    best.min(x)
                };
            }
            Value::Float(best)
        }
        "floor" | "ceil" => {
            arity(n, a, 1, 1)?;
            let f = cast_f64(&a[0]);
            Value::Float(if name == "floor" { f.floor() } else { f.ceil() })
        }
        "round" => {
            arity(n, a, 2, 3)?;
            let places = cast_i64(&a[1]).clamp(0, 15) as i32;
            let scale = 10f64.powi(places);
            let half = a.get(2).map_or(0.5, cast_f64);
            let x = cast_f64(&a[0]) * scale;
            let rounded = if x.fract().abs() >= half {
                x.trunc() + x.signum()
            } else {
                x.trunc()
            };
            Value::Float(rounded / scale)
        }
        "default" => {
            arity(n, a, 1, 2)?;
            match a.get(1) {
                Some(v) if !is_empty(v) => v.clone(),
                _ => a[0].clone(),
            }
        }
        "empty" => {
            arity(n, a, 1, 1)?;
            Value::Bool(is_empty(&a[0]))
        }
        "coalesce" => a
            .iter()
            .find(|v| !is_empty(v))
            .cloned()
            .unwrap_or(Value::Null),
        "ternary" => {
            arity(n, a, 3, 3)?;
            if a[2] == Value::Bool(true) {
                a[0].clone()
            } else {
                a[1].clone()
            }
        }
        "list" => Value::List(args.clone()),
        "dict" => {
            let mut m = BTreeMap::new();
            for pair in a.chunks(2) {
                m.insert(
                    cast_string(&pair[0]),
                    pair.get(1).cloned().unwrap_or(Value::String(String::new())),
                );
            }
            Value::Map(m)
        }
        "first" | "last" | "rest" | "initial" => {
            arity(n, a, 1, 1)?;
            let items = list_arg(n, &a[0])?;
            match name {
                "first" => items.first().cloned().unwrap_or(Value::Null),
                "last" => items.last().cloned().unwrap_or(Value::Null),
                "rest" => Value::List(items.iter().skip(1).cloned().collect()),
                _ => Value::List(items[..items.len().saturating_sub(1)].to_vec()),
            }
        }
        "has" => {
            arity(n, a, 2, 2)?;
            Value::Bool(list_arg(n, &a[1])?.iter().any(|v| equal(v, &a[0])))
        }
        "uniq" | "compact" => {
            arity(n, a, 1, 1)?;
            let mut out: Vec<Value> = Vec::new();
            for item in list_arg(n, &a[0])? {
                let keep = if name == "uniq" {
                    !out.iter().any(|o| equal(o, item))
                } else {
                    !is_empty(item)
                };
                if keep {
                    out.push(item.clone());
                }
            }
            Value::List(out)
        }
        "toJson" | "mustToJson" => {
            arity(n, a, 1, 1)?;
            return go_json(&a[0]);
        }
        "fromJson" | "mustFromJson" => {
            arity(n, a, 1, 1)?;
            return from_json(&s(0));
        }
        "regexMatch" => {
            arity(n, a, 2, 2)?;
            let re = regex::Regex::new(&s(0)).map_err(|e| format!("{n}(): {e}"))?;
            Value::Bool(re.is_match(&s(1)))
        }
        "regexFindAll" => {
            arity(n, a, 3, 3)?;
            let re = regex::Regex::new(&s(0)).map_err(|e| format!("{n}(): {e}"))?;
            let limit = cast_i64(&a[2]);
            let text = s(1);
            let found = re.find_iter(&text).map(|m| Value::from(m.as_str()));
            Value::List(if limit < 0 {
                found.collect()
            } else {
                found.take(limit as usize).collect()
            })
        }
        "regexReplaceAll" => {
            arity(n, a, 3, 3)?;
            let re = regex::Regex::new(&s(0)).map_err(|e| format!("{n}(): {e}"))?;
            Value::String(re.replace_all(&s(1), s(2).as_str()).into_owned())
        }
        "date" => {
            arity(n, a, 2, 2)?;
            Value::String(gotime::format(
                &date_arg(&a[1])?.with_timezone(&Utc).fixed_offset(),
                &s(0),
            ))
        }
        "dateInZone" => {
            arity(n, a, 3, 3)?;
            let zone: chrono_tz::Tz = s(2)
                .parse()
                .map_err(|_| format!("{n}(): unknown time zone {:?}", s(2)))?;
            let t = date_arg(&a[1])?.with_timezone(&zone).fixed_offset();
            Value::String(gotime::format(&t, &s(0)))
        }
        "unixEpoch" => {
            arity(n, a, 1, 1)?;
            Value::String(date_arg(&a[0])?.timestamp().to_string())
        }
        other => return Err(format!("unknown function sprig.{other}")),
    })
}

/// The predicate builtins: their second argument is a closure run per
/// element with `#` (and `#index`, `#acc`) bound.
pub(crate) fn predicate(
    ev: &mut Eval<'_>,
    node: &Node,
    name: &str,
    args: &[Node],
) -> Result<Value, ExprError> {
    let max = if matches!(name, "reduce" | "sortBy") {
        3
    } else {
        2
    };
    if args.len() < 2 || args.len() > max {
        return Err(ev.error_at(
            node,
            format!("{name}() takes 2 arguments, got {}", args.len()),
        ));
    }
    let items = match ev.eval_node(&args[0])? {
        Value::List(items) => items,
        Value::Map(m) => m.into_values().collect(),
        other => {
            return Err(ev.error_at(
                &args[0],
                format!("{name}(): cannot iterate over {}", other.kind()),
            ));
        }
    };
    let closure = &args[1];
    let frame = |item: &Value, index: usize| Frame {
        item: item.clone(),
        index: index as i64,
        acc: None,
    };
    let test = |ev: &mut Eval<'_>, item: &Value, index: usize| -> Result<bool, ExprError> {
        match ev.run_closure(closure, frame(item, index))? {
            Value::Bool(b) => Ok(b),
            other => Err(ev.error_at(
                closure,
                format!("{name}(): the predicate gave {}, not a bool", other.kind()),
            )),
        }
    };
    Ok(match name {
        "filter" => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                if test(ev, item, i)? {
                    out.push(item.clone());
                }
            }
            Value::List(out)
        }
        "map" => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(ev.run_closure(closure, frame(item, i))?);
            }
            Value::List(out)
        }
        "all" | "any" | "none" | "one" | "count" => {
            let mut hits = 0usize;
            for (i, item) in items.iter().enumerate() {
                if test(ev, item, i)? {
                    hits += 1;
                    if name == "any" || name == "none" {
                        break;
                    }
                } else if name == "all" {
                    return Ok(Value::Bool(false));
                }
            }
            match name {
                "all" => Value::Bool(true),
                "any" => Value::Bool(hits > 0),
                "none" => Value::Bool(hits == 0),
                "one" => Value::Bool(hits == 1),
                _ => Value::Int(hits as i64),
            }
        }
        "find" | "findIndex" | "findLast" | "findLastIndex" => {
            let last = name.starts_with("findLast");
            let order: Vec<usize> = if last {
                (0..items.len()).rev().collect()
            } else {
                (0..items.len()).collect()
            };
            for i in order {
                if test(ev, &items[i], i)? {
                    return Ok(if name.ends_with("Index") {
                        Value::Int(i as i64)
                    } else {
                        items[i].clone()
                    });
                }
            }
            if name.ends_with("Index") {
                Value::Int(-1)
            } else {
                Value::Null
            }
        }
        "groupBy" => {
            let mut groups: BTreeMap<String, Value> = BTreeMap::new();
            for (i, item) in items.iter().enumerate() {
                let key = ev.run_closure(closure, frame(item, i))?.to_go_string();
                if let Value::List(group) =
                    groups.entry(key).or_insert_with(|| Value::List(Vec::new()))
                {
                    group.push(item.clone());
                }
            }
            Value::Map(groups)
        }
        "sortBy" => {
            let descending = match args.get(2) {
                Some(order) => match ev.eval_node(order)? {
                    Value::String(o) if o == "asc" => false,
                    Value::String(o) if o == "desc" => true,
                    other => {
                        return Err(ev.error_at(
                            order,
                            format!("sortBy(): unknown order {}", other.to_go_string()),
                        ));
                    }
                },
                None => false,
            };
            let mut keyed = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                keyed.push((ev.run_closure(closure, frame(&item, i))?, item));
            }
            let mut failed = false;
            keyed.sort_by(|(a, _), (b, _)| {
                compare(a, b).unwrap_or_else(|| {
                    failed = true;
                    std::cmp::Ordering::Equal
                })
            });
            if failed {
                return Err(ev.error_at(closure, "sortBy(): keys cannot be compared"));
            }
            if descending {
                keyed.reverse();
            }
            Value::List(keyed.into_iter().map(|(_, v)| v).collect())
        }
        _ => {
            // reduce
            let (mut acc, start) = match args.get(2) {
                Some(init) => (ev.eval_node(init)?, 0),
                None => match items.first() {
                    Some(first) => (first.clone(), 1),
                    None => {
                        return Err(
                            ev.error_at(node, "reduce() of an empty array needs an initial value")
                        );
                    }
                },
            };
            for (i, item) in items.iter().enumerate().skip(start) {
                let f = Frame {
                    item: item.clone(),
                    index: i as i64,
                    acc: Some(acc),
                };
                acc = ev.run_closure(closure, f)?;
            }
            acc
        }
    })
}
