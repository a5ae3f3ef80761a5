//! The JSONPath subset Argo's `jsonpath(json, path)` is used with: `$`,
//! `.name`, `['name']`, `[n]`, `[*]`/`.*`, `[a:b]`, `..name`, unions
//! `[0,1]`, and filters `[?(@.a == 'x' && @.b > 1)]`. As upstream's
//! library, a path without wildcards, slices, filters or descent gives the
//! value itself (an error when absent); any other gives a list.

use super::exprlang::{compare, equal};
use super::value::Value;

#[derive(Debug)]
enum Step {
    Key(String),
    Index(i64),
    Wild,
    Slice(Option<i64>, Option<i64>),
    Union(Vec<Step>),
    Descend(String),
    Filter(String),
}

fn parse(path: &str) -> Result<Vec<Step>, String> {
    let rest = path
        .trim()
        .strip_prefix('$')
        .ok_or_else(|| format!("jsonpath {path:?} must start with '$'"))?;
    let mut steps = Vec::new();
    let mut s = rest;
    while !s.is_empty() {
        if let Some(r) = s.strip_prefix("..") {
            let n = r.find(['.', '[']).unwrap_or(r.len());
            steps.push(Step::Descend(r[..n].to_owned()));
            s = &r[n..];
        } else if let Some(r) = s.strip_prefix('.') {
            let n = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..n];
            if key.is_empty() {
                return Err(format!("jsonpath {path:?}: empty name after '.'"));
            }
            steps.push(if key == "*" {
                Step::Wild
            } else {
                Step::Key(key.to_owned())
            });
            s = &r[n..];
        } else if let Some(r) = s.strip_prefix('[') {
            let end =
                closing(r).ok_or_else(|| format!("jsonpath {path:?}: '[' is never closed"))?;
            steps.push(bracket(r[..end].trim(), path)?);
            s = &r[end + 1..];
        } else {
            return Err(format!("jsonpath {path:?}: unexpected {s:?}"));
        }
    }
    Ok(steps)
}

/// The `]` closing a bracket, skipping quoted text and nested brackets.
fn closing(s: &str) -> Option<usize> {
    let mut depth = 0;
    let mut quote = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') if depth == 0 => return Some(i),
            (None, ']') => depth -= 1,
            _ => {}
        }
    }
    None
}

fn bracket(inner: &str, path: &str) -> Result<Step, String> {
    if inner == "*" {
        return Ok(Step::Wild);
    }
    if let Some(f) = inner.strip_prefix('?') {
        let f = f.trim();
        let f = f
            .strip_prefix('(')
            .and_then(|x| x.strip_suffix(')'))
            .unwrap_or(f);
        return Ok(Step::Filter(f.to_owned()));
    }
    if inner.starts_with(['\'', '"']) {
        let parts: Vec<Step> = inner
            .split(',')
            .map(|p| Step::Key(p.trim().trim_matches(['\'', '"']).to_owned()))
            .collect();
        return Ok(if parts.len() == 1 {
            parts.into_iter().next().unwrap_or(Step::Wild)
        } else {
            Step::Union(parts)
        });
    }
    let int = |t: &str| -> Result<Option<i64>, String> {
        let t = t.trim();
        if t.is_empty() {
            return Ok(None);
        }
        t.parse()
            .map(Some)
            .map_err(|_| format!("jsonpath {path:?}: {t:?} is not an index"))
    };
    if let Some((a, b)) = inner.split_once(':') {
        return Ok(Step::Slice(
            int(a)?,
            int(b.split(':').next().unwrap_or(""))?,
        ));
    }
    if inner.contains(',') {
        let parts: Result<Vec<Step>, String> = inner
            .split(',')
            .map(|p| int(p).map(|i| Step::Index(i.unwrap_or(0))))
            .collect();
        return Ok(Step::Union(parts?));
    }
    Ok(Step::Index(int(inner)?.ok_or_else(|| {
        format!("jsonpath {path:?}: empty brackets")
    })?))
}

fn index(len: usize, i: i64) -> Option<usize> {
    let at = if i < 0 { len as i64 + i } else { i };
    (0..len as i64).contains(&at).then_some(at as usize)
}

fn descend(v: &Value, key: &str, out: &mut Vec<Value>) {
    match v {
        Value::Map(m) => {
            for (k, child) in m {
                if k == key || key == "*" {
                    out.push(child.clone());
                }
                descend(child, key, out);
            }
        }
        Value::List(items) => items.iter().for_each(|c| descend(c, key, out)),
        _ => {}
    }
}

fn apply(step: &Step, v: &Value, out: &mut Vec<Value>) -> Result<(), String> {
    match (step, v) {
        (Step::Key(k), Value::Map(m)) => out.extend(m.get(k).cloned()),
        (Step::Index(i), Value::List(items)) => {
            out.extend(index(items.len(), *i).map(|i| items[i].clone()))
        }
        (Step::Wild, Value::List(items)) => out.extend(items.iter().cloned()),
        (Step::Wild, Value::Map(m)) => out.extend(m.values().cloned()),
        (Step::Slice(a, b), Value::List(items)) => {
            let len = items.len() as i64;
            let clamp = |x: i64| if x < 0 { (len + x).max(0) } else { x.min(len) };
            let (a, b) = (clamp(a.unwrap_or(0)), clamp(b.unwrap_or(len)));
            if a < b {
                out.extend(items[a as usize..b as usize].iter().cloned());
            }
        }
        (Step::Union(parts), _) => {
            for p in parts {
                apply(p, v, out)?;
            }
        }
        (Step::Descend(k), _) => descend(v, k, out),
        (Step::Filter(f), Value::List(items)) => {
            for item in items {
                if filter(f, item)? {
                    out.push(item.clone());
                }
            }
        }
        (Step::Filter(f), Value::Map(m)) => {
            for item in m.values() {
                if filter(f, item)? {
                    out.push(item.clone());
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Evaluates a filter: `||` of `&&` of comparisons or existence tests.
fn filter(f: &str, item: &Value) -> Result<bool, String> {
    for alt in split_top(f, "||") {
        let mut all = true;
        for term in split_top(alt, "&&") {
            if !term_holds(term.trim(), item)? {
                all = false;
                break;
            }
        }
        if all {
            return Ok(true);
        }
    }
    Ok(false)
}

fn split_top<'a>(s: &'a str, sep: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut quote = None;
    let mut start = 0;
    let mut i = 0;
    while i < s.len() {
        let c = s[i..].chars().next().unwrap_or(' ');
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if s[i..].starts_with(sep) => {
                out.push(&s[start..i]);
                i += sep.len();
                start = i;
                continue;
            }
            None => {}
        }
        i += c.len_utf8();
    }
    out.push(&s[start..]);
    out
}

fn operand(t: &str, item: &Value) -> Result<Option<Value>, String> {
    let t = t.trim();
    if let Some(path) = t.strip_prefix('@') {
        let found = select(item, &parse(&format!("${path}"))?)?;
        return Ok(found.into_iter().next());
    }
    if let Some(s) = t.strip_prefix(['\'', '"']) {
        return Ok(Some(Value::String(
            s.trim_end_matches(['\'', '"']).to_owned(),
        )));
    }
    match t {
        "true" => return Ok(Some(Value::Bool(true))),
        "false" => return Ok(Some(Value::Bool(false))),
        "null" => return Ok(Some(Value::Null)),
        _ => {}
    }
    t.parse::<f64>()
        .map(|f| Some(Value::Float(f)))
        .map_err(|_| format!("jsonpath filter: cannot read {t:?}"))
}

fn term_holds(term: &str, item: &Value) -> Result<bool, String> {
    for op in ["==", "!=", "<=", ">=", "<", ">"] {
        let parts = split_top(term, op);
        if parts.len() == 2 {
            let (Some(a), Some(b)) = (operand(parts[0], item)?, operand(parts[1], item)?) else {
                return Ok(false);
            };
            let ord = compare(&a, &b);
            return Ok(match op {
                "==" => equal(&a, &b),
                "!=" => !equal(&a, &b),
                "<" => ord.is_some_and(|o| o.is_lt()),
                ">" => ord.is_some_and(|o| o.is_gt()),
                "<=" => ord.is_some_and(|o| o.is_le()),
                _ => ord.is_some_and(|o| o.is_ge()),
            });
        }
    }
    Ok(operand(term, item)?.is_some_and(|v| v != Value::Null && v != Value::Bool(false)))
}

fn select(doc: &Value, steps: &[Step]) -> Result<Vec<Value>, String> {
    let mut current = vec![doc.clone()];
    for step in steps {
        let mut next = Vec::new();
        for v in &current {
            apply(step, v, &mut next)?;
        }
        current = next;
    }
    Ok(current)
}

/// Queries `doc` with `path`.
pub(crate) fn query(doc: &Value, path: &str) -> Result<Value, String> {
    let steps = parse(path)?;
    let definite = steps
        .iter()
        .all(|s| matches!(s, Step::Key(_) | Step::Index(_)));
    let mut found = select(doc, &steps)?;
    if definite {
        if found.is_empty() {
            return Err(format!("jsonpath {path:?} matches nothing"));
        }
        return Ok(found.swap_remove(0));
    }
    Ok(Value::List(found))
}
