//! Scalar resolution as Kubernetes sees it: sigs.k8s.io/yaml decodes with
//! go-yaml v2, which follows YAML 1.1 (`yes`/`on` are booleans, `0755` is
//! octal), then turns map keys into strings.

use serde_json::{Number, Value};
use yaml_rust2::parser::Tag;
use yaml_rust2::scanner::TScalarStyle;

/// The prefix `!!` expands to.
const CORE: &str = "tag:yaml.org,2002:";

/// A resolved scalar, before it becomes JSON (floats may still be infinite,
/// which is fine for a map key and an error for a value).
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(String),
}

/// Words go-yaml v2 resolves by table lookup, before trying numbers.
fn word(text: &str) -> Option<Scalar> {
    Some(match text {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            Scalar::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            Scalar::Bool(false)
        }
        "" | "~" | "null" | "Null" | "NULL" => Scalar::Null,
        ".nan" | ".NaN" | ".NAN" => Scalar::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Scalar::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Scalar::Float(f64::NEG_INFINITY),
        _ => return None,
    })
}

/// The full name of a tag (`!!int` → `tag:yaml.org,2002:int`, `!foo` → `!foo`).
pub(super) fn tag_name(tag: &Tag) -> String {
    format!("{}{}", tag.handle, tag.suffix)
}

/// The short form of a core tag for messages (`!!int`), else the tag itself.
fn short(tag: &str) -> String {
    match tag.strip_prefix(CORE) {
        Some(suffix) => format!("!!{suffix}"),
        None => tag.to_owned(),
    }
}

/// Whether a plain scalar is the merge key `<<` (also `!!merge <<`).
pub(super) fn is_merge_key(text: &str, style: TScalarStyle, tag: Option<&Tag>) -> bool {
    text == "<<"
        && match tag {
            None => style == TScalarStyle::Plain,
            Some(tag) => tag_name(tag) == format!("{CORE}merge"),
        }
}

/// Checks the tag on a mapping or sequence: core tags must name that kind;
/// other tags are ignored, as go-yaml does.
pub(super) fn check_collection_tag(tag: Option<&Tag>, mapping: bool) -> Result<(), String> {
    let Some(tag) = tag else { return Ok(()) };
    let name = tag_name(tag);
    let Some(suffix) = name.strip_prefix(CORE) else {
        return Ok(());
    };
    let (want, what) = if mapping {
        ("map", "a mapping")
    } else {
        ("seq", "a sequence")
    };
    if suffix == want || (mapping && matches!(suffix, "omap" | "pairs" | "set")) {
        Ok(())
    } else {
        Err(format!("the tag !!{suffix} cannot be used on {what}"))
    }
}

/// Resolves a scalar by its style and tag. The error is a message (the
/// caller knows the position).
pub(super) fn resolve(
    text: String,
    style: TScalarStyle,
    tag: Option<&Tag>,
) -> Result<Scalar, String> {
    let Some(tag) = tag else {
        return Ok(if style == TScalarStyle::Plain {
            resolve_plain(text)
        } else {
            Scalar::Str(text)
        });
    };
    let name = tag_name(tag);
    let Some(suffix) = name.strip_prefix(CORE) else {
        // Local and unknown tags (and the non-specific `!`) keep the text.
        return Ok(Scalar::Str(text));
    };
    let mismatch = |text: &str, found: &Scalar| {
        let found = match found {
            Scalar::Null => "!!null",
            Scalar::Bool(_) => "!!bool",
            Scalar::Int(_) | Scalar::Uint(_) => "!!int",
            Scalar::Float(_) => "!!float",
            Scalar::Str(_) => "!!str",
        };
        format!("cannot read {found} `{text}` as {}", short(&name))
    };
    match suffix {
        "str" | "merge" => Ok(Scalar::Str(text)),
        "binary" => decode_base64(&text)
            .map(|bytes| Scalar::Str(String::from_utf8_lossy(&bytes).into_owned()))
            .ok_or_else(|| "the !!binary value is not valid base64".to_owned()),
        "timestamp" => {
            if looks_like_date(&text) {
                Ok(Scalar::Str(text))
            } else {
                Err(format!("`{text}` is not a valid !!timestamp"))
            }
        }
        "null" | "bool" | "int" | "float" => {
            let resolved = resolve_plain(text.clone());
            match (suffix, resolved) {
                ("null", Scalar::Null) => Ok(Scalar::Null),
                ("bool", found @ Scalar::Bool(_)) => Ok(found),
                ("int", found @ (Scalar::Int(_) | Scalar::Uint(_))) => Ok(found),
                ("float", found @ Scalar::Float(_)) => Ok(found),
                ("float", Scalar::Int(i)) => Ok(Scalar::Float(i as f64)),
                ("float", Scalar::Uint(u)) => Ok(Scalar::Float(u as f64)),
                (_, found) => Err(mismatch(&text, &found)),
            }
        }
        "map" | "seq" | "omap" | "pairs" | "set" => {
            Err(format!("the tag !!{suffix} cannot be used on a scalar"))
        }
        _ => Ok(Scalar::Str(text)),
    }
}

/// go-yaml v2's resolution of an untagged plain scalar.
fn resolve_plain(text: String) -> Scalar {
    let hint = match text.as_bytes().first() {
        None => b'M',
        Some(b'+' | b'-') => b'S',
        Some(b'0'..=b'9') => b'D',
        Some(b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~') => b'M',
        Some(b'.') => b'.',
        Some(_) => return Scalar::Str(text),
    };
    if let Some(scalar) = word(&text) {
        return scalar;
    }
    match hint {
        b'.' if is_dot_float(&text) => match text.parse::<f64>() {
            // Go's ParseFloat reports overflow as an error: the text stays a string.
            Ok(f) if f.is_finite() => Scalar::Float(f),
            _ => Scalar::Str(text),
        },
        b'D' | b'S' => {
            let plain = text.replace('_', "");
            if let Some(int) = parse_go_int(&plain) {
                return int;
            }
            if is_yaml_float(&plain) {
                let unsigned = plain.strip_prefix('+').unwrap_or(&plain);
                if let Ok(f) = unsigned.parse::<f64>()
                    && f.is_finite()
                {
                    return Scalar::Float(f);
                }
            }
            Scalar::Str(text)
        }
        _ => Scalar::Str(text),
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`, falling back to `ParseUint` as go-yaml
/// does: sign, then `0x`/`0o`/`0b` or a leading `0` for octal.
fn parse_go_int(s: &str) -> Option<Scalar> {
    let (sign, body) = match s.as_bytes().first() {
        Some(b'+') => (Some(false), &s[1..]),
        Some(b'-') => (Some(true), &s[1..]),
        _ => (None, s),
    };
    let lower = body.get(..2).map(str::to_ascii_lowercase);
    let (radix, digits) = match lower.as_deref() {
        Some("0x") => (16, &body[2..]),
        Some("0o") => (8, &body[2..]),
        Some("0b") => (2, &body[2..]),
        _ if body.len() > 1 && body.starts_with('0') => (8, &body[1..]),
        _ => (10, body),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    match sign {
        Some(true) => {
            let negative = -i128::from(magnitude);
            i64::try_from(negative).ok().map(Scalar::Int)
        }
        Some(false) => i64::try_from(magnitude).ok().map(Scalar::Int),
        // ParseUint takes no sign, so only an unsigned text gets past i64.
        None => Some(
            i64::try_from(magnitude)
                .map(Scalar::Int)
                .unwrap_or(Scalar::Uint(magnitude)),
        ),
    }
}

/// go-yaml v2's float syntax:
/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// A float that starts with a dot (`.5`, `.5e3`), as Go's ParseFloat reads it.
fn is_dot_float(s: &str) -> bool {
    s.starts_with('.') && is_yaml_float(s)
}

/// The shape go-yaml checks before calling a scalar a timestamp: a
/// four-digit year and a dash.
fn looks_like_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() > 4 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-'
}

/// Go's `base64.StdEncoding.DecodeString`: padded, line breaks ignored.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    fn sextet(c: u8) -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    }
    let clean: Vec<u8> = text
        .bytes()
        .filter(|b| !matches!(b, b'\r' | b'\n'))
        .collect();
    if !clean.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(clean.len() / 4 * 3);
    let chunks = clean.chunks_exact(4);
    let last = chunks.len().saturating_sub(1);
    for (n, chunk) in chunks.enumerate() {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && n != last) {
            return None;
        }
        let mut bits = 0u32;
        for &c in &chunk[..4 - pad] {
            bits = (bits << 6) | sextet(c)?;
        }
        bits <<= 6 * pad as u32;
        let bytes = bits.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - pad]);
    }
    Some(out)
}

impl Scalar {
    /// The JSON value. Infinity and NaN have no JSON form: that is an error.
    /// Integral floats become integers, as Go's JSON encoder writes them
    /// (`1.0` reaches the API server as `1`).
    pub(super) fn into_value(self) -> Result<Value, String> {
        Ok(match self {
            Self::Null => Value::Null,
            Self::Bool(b) => Value::Bool(b),
            Self::Int(i) => Value::from(i),
            Self::Uint(u) => Value::from(u),
            Self::Str(s) => Value::String(s),
            Self::Float(f) => {
                if !f.is_finite() {
                    return Err(format!(
                        "{} cannot be represented in JSON; quote it if a string is meant",
                        float_key(f)
                    ));
                }
                // 2^63 is exactly representable; below it the cast is exact.
                if f.fract() == 0.0 && f.abs() < 9_223_372_036_854_775_808.0 {
                    Value::from(f as i64)
                } else {
                    Number::from_f64(f).map_or(Value::Null, Value::Number)
                }
            }
        })
    }

    /// The string a map key becomes, as sigs.k8s.io/yaml converts it.
    pub(super) fn into_key(self) -> Result<String, String> {
        match self {
            Self::Str(s) => Ok(s),
            Self::Bool(b) => Ok(b.to_string()),
            Self::Int(i) => Ok(i.to_string()),
            Self::Uint(u) => Ok(u.to_string()),
            Self::Float(f) => Ok(float_key(f)),
            Self::Null => Err("a mapping key cannot be null".to_owned()),
        }
    }
}

/// The key form of a JSON scalar met through an alias.
pub(super) fn value_key(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => Ok(float_key(f)),
            _ => Ok(n.to_string()),
        },
        Value::Null => Err("a mapping key cannot be null".to_owned()),
        Value::Array(_) | Value::Object(_) => {
            Err("a mapping key must be a string, number or boolean".to_owned())
        }
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 32)` with go-yaml's names for the
/// special values, which is how sigs.k8s.io/yaml spells a float key.
fn float_key(f: f64) -> String {
    let x = f as f32;
    if x.is_nan() {
        return ".nan".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { ".inf" } else { "-.inf" }.to_owned();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    // Rust's `{:e}` gives the shortest digits that round-trip as f32.
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if x < 0.0 { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{dot}{rest}e{esign}{:02}", exp.abs());
    }
    let point = exp + 1;
    let text = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else {
        let point = point as usize;
        if digits.len() <= point {
            format!("{digits}{}", "0".repeat(point - digits.len()))
        } else {
            format!("{}.{}", &digits[..point], &digits[point..])
        }
    };
    format!("{sign}{text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(text: &str) -> Scalar {
        resolve_plain(text.to_owned())
    }

    fn core(suffix: &str) -> Tag {
        Tag {
            handle: CORE.to_owned(),
            suffix: suffix.to_owned(),
        }
    }

    #[test]
    fn booleans_and_nulls_follow_yaml_1_1() {
        for word in [
            "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON",
        ] {
            assert_eq!(plain(word), Scalar::Bool(true), "{word}");
        }
        for word in [
            "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF",
        ] {
            assert_eq!(plain(word), Scalar::Bool(false), "{word}");
        }
        for word in ["", "~", "null", "Null", "NULL"] {
            assert_eq!(plain(word), Scalar::Null, "{word}");
        }
        for word in ["yEs", "tRUE", "nULL", "nil", "None", "y es"] {
            assert_eq!(plain(word), Scalar::Str(word.to_owned()), "{word}");
        }
    }

    #[test]
    fn integers_in_every_base_go_yaml_reads() {
        let cases = [
            ("0", 0),
            ("42", 42),
            ("-42", -42),
            ("+42", 42),
            ("0x1F", 31),
            ("0X1f", 31),
            ("-0x10", -16),
            ("0o17", 15),
            ("0755", 493),
            ("0b101", 5),
            ("-0b101", -5),
            ("1_000_000", 1_000_000),
            ("0x_ff", 255),
            ("1__0", 10),
            ("-9223372036854775808", i64::MIN),
        ];
        for (text, want) in cases {
            assert_eq!(plain(text), Scalar::Int(want), "{text}");
        }
        assert_eq!(plain("18446744073709551615"), Scalar::Uint(u64::MAX));
        // Out of range with a sign or past u64: a float, as Go falls back.
        assert_eq!(
            plain("+9223372036854775808"),
            Scalar::Float(9.223_372_036_854_776e18)
        );
        assert_eq!(plain("99999999999999999999"), Scalar::Float(1e20));
        for text in [
            "0x",
            "0xZZ",
            "0b102",
            "1-2",
            "12:30",
            "1.2.3",
            "_1",
            "2001-12-14",
            "-",
        ] {
            assert_eq!(plain(text), Scalar::Str(text.to_owned()), "{text}");
        }
    }

    #[test]
    fn floats_and_invalid_octal() {
        assert_eq!(plain("1.5"), Scalar::Float(1.5));
        assert_eq!(plain("-.5"), Scalar::Float(-0.5));
        assert_eq!(plain(".5"), Scalar::Float(0.5));
        assert_eq!(plain("1e3"), Scalar::Float(1000.0));
        assert_eq!(plain("+1.5E-2"), Scalar::Float(0.015));
        assert_eq!(plain("1."), Scalar::Float(1.0));
        assert_eq!(plain("1_0.5"), Scalar::Float(10.5));
        // `09` is not octal; go-yaml then reads it as the float 9.
        assert_eq!(plain("09"), Scalar::Float(9.0));
        assert_eq!(plain(".inf"), Scalar::Float(f64::INFINITY));
        assert_eq!(plain("-.Inf"), Scalar::Float(f64::NEG_INFINITY));
        assert!(matches!(plain(".NaN"), Scalar::Float(f) if f.is_nan()));
        // Overflow is an error for Go's ParseFloat: the text stays a string.
        assert_eq!(plain("1e400"), Scalar::Str("1e400".to_owned()));
        for text in [".", ".e3", "1e", "1.5.", "e3", "1e3.5", ".5_0"] {
            assert_eq!(plain(text), Scalar::Str(text.to_owned()), "{text}");
        }
    }

    #[test]
    fn values_in_json() {
        assert_eq!(Scalar::Float(1.0).into_value(), Ok(Value::from(1)));
        assert_eq!(Scalar::Float(1.5).into_value(), Ok(Value::from(1.5)));
        assert_eq!(Scalar::Float(1e20).into_value(), Ok(Value::from(1e20)));
        assert_eq!(
            Scalar::Uint(u64::MAX).into_value(),
            Ok(Value::from(u64::MAX))
        );
        let err = Scalar::Float(f64::INFINITY)
            .into_value()
            .expect_err("infinite");
        assert!(
            err.starts_with(".inf cannot be represented in JSON"),
            "{err}"
        );
        assert!(Scalar::Float(f64::NAN).into_value().is_err());
    }

    #[test]
    fn keys_become_strings_like_sigs_k8s_yaml() {
        let key = |text: &str| plain(text).into_key();
        assert_eq!(key("1"), Ok("1".to_owned()));
        assert_eq!(key("0x10"), Ok("16".to_owned()));
        assert_eq!(key("yes"), Ok("true".to_owned()));
        assert_eq!(key("off"), Ok("false".to_owned()));
        assert_eq!(key("1.5"), Ok("1.5".to_owned()));
        assert_eq!(key("1.0"), Ok("1".to_owned()));
        assert_eq!(key("1e6"), Ok("1e+06".to_owned()));
        assert_eq!(key("123456"), Ok("123456".to_owned()));
        assert_eq!(key("123456.5"), Ok("123456.5".to_owned()));
        assert_eq!(key("1234567.0"), Ok("1.234567e+06".to_owned()));
        assert_eq!(key("0.0001"), Ok("0.0001".to_owned()));
        assert_eq!(key("0.00001"), Ok("1e-05".to_owned()));
        assert_eq!(key("-2.5e-7"), Ok("-2.5e-07".to_owned()));
        // float32 precision, as the Go code asks for.
        assert_eq!(key("0.1"), Ok("0.1".to_owned()));
        assert_eq!(key("3.14159265358979"), Ok("3.1415927".to_owned()));
        assert_eq!(key(".inf"), Ok(".inf".to_owned()));
        assert_eq!(key("-.inf"), Ok("-.inf".to_owned()));
        assert_eq!(key(".nan"), Ok(".nan".to_owned()));
        assert_eq!(key("1e300"), Ok(".inf".to_owned()));
        assert!(key("~").is_err());
        assert_eq!(value_key(&Value::from(7)), Ok("7".to_owned()));
        assert_eq!(value_key(&Value::from(2.5)), Ok("2.5".to_owned()));
        assert!(value_key(&serde_json::json!([1])).is_err());
    }

    #[test]
    fn quoted_and_block_scalars_are_strings() {
        for style in [
            TScalarStyle::SingleQuoted,
            TScalarStyle::DoubleQuoted,
            TScalarStyle::Literal,
            TScalarStyle::Folded,
        ] {
            assert_eq!(
                resolve("true".into(), style, None),
                Ok(Scalar::Str("true".into()))
            );
            assert_eq!(
                resolve("".into(), style, None),
                Ok(Scalar::Str(String::new()))
            );
        }
    }

    #[test]
    fn tags_are_honoured() {
        let r = |text: &str, suffix: &str| {
            resolve(text.into(), TScalarStyle::Plain, Some(&core(suffix)))
        };
        assert_eq!(r("12", "str"), Ok(Scalar::Str("12".into())));
        assert_eq!(r("12", "int"), Ok(Scalar::Int(12)));
        assert_eq!(r("12", "float"), Ok(Scalar::Float(12.0)));
        assert_eq!(r("yes", "bool"), Ok(Scalar::Bool(true)));
        assert_eq!(r("~", "null"), Ok(Scalar::Null));
        assert_eq!(r("aGVsbG8=", "binary"), Ok(Scalar::Str("hello".into())));
        assert_eq!(r("aGVs\nbG8h", "binary"), Ok(Scalar::Str("hello!".into())));
        assert_eq!(r("aGk=", "binary"), Ok(Scalar::Str("hi".into())));
        assert_eq!(
            r("2001-12-14", "timestamp"),
            Ok(Scalar::Str("2001-12-14".into()))
        );
        assert_eq!(
            r("abc", "int"),
            Err("cannot read !!str `abc` as !!int".to_owned())
        );
        assert_eq!(
            r("1.5", "int"),
            Err("cannot read !!float `1.5` as !!int".to_owned())
        );
        assert_eq!(
            r("1", "bool"),
            Err("cannot read !!int `1` as !!bool".to_owned())
        );
        assert!(r("a=bc", "binary").is_err());
        assert!(r("abc", "binary").is_err());
        assert!(r("a b", "map").is_err());
        // A tag applies to quoted text too.
        let quoted = resolve("12".into(), TScalarStyle::DoubleQuoted, Some(&core("int")));
        assert_eq!(quoted, Ok(Scalar::Int(12)));
        // Local tags keep the text.
        let local = Tag {
            handle: "!".into(),
            suffix: "foo".into(),
        };
        assert_eq!(
            resolve("12".into(), TScalarStyle::Plain, Some(&local)),
            Ok(Scalar::Str("12".into()))
        );
    }

    #[test]
    fn collection_tags() {
        assert_eq!(check_collection_tag(Some(&core("map")), true), Ok(()));
        assert_eq!(check_collection_tag(Some(&core("seq")), false), Ok(()));
        assert_eq!(check_collection_tag(None, false), Ok(()));
        assert!(check_collection_tag(Some(&core("seq")), true).is_err());
        assert!(check_collection_tag(Some(&core("str")), false).is_err());
        let local = Tag {
            handle: "!".into(),
            suffix: "thing".into(),
        };
        assert_eq!(check_collection_tag(Some(&local), true), Ok(()));
    }
}
