//! The two expression languages upstream Argo evaluates, as two front ends
//! over one [`Value`] model:
//!
//! - [`eval_when`]: a step's or task's `when`, after its `{{...}}` tags are
//!   substituted, read as upstream reads it with govaluate (bare words are
//!   strings, so `heads == heads` holds and `10 > 9` compares numbers);
//! - [`eval_expr`]: expr-lang, for `{{= expr }}` tags, retry and hook
//!   `expression`s, `valueFrom.expression` and data transformations, with
//!   Argo's functions (`asInt`, `asFloat`, `jsonpath`, `toJson`, `sprig.*`)
//!   beside expr-lang's own builtins.
//!
//! Both are pure. Variables come from a [`Scope`]; `now()` reads the
//! scope's clock, so evaluation never looks at the system time.

mod exprlang;
mod functions;
mod gotime;
mod govaluate;
mod jsonpath;
mod value;

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use chrono::{DateTime, Utc};

pub use exprlang::{Ast, parse_expr};
pub use govaluate::parse_when;
pub use value::{Value, go_float_json, go_float_v};

/// Longest expression text either front end reads, in bytes. Longer text is
/// rejected before lexing rather than risking time and memory on it.
pub const MAX_INPUT_LEN: usize = 64 * 1024;

/// Deepest nesting of the syntax tree (parentheses, operators, calls,
/// chains of members). Deeper input is rejected rather than risking the
/// stack.
pub const MAX_DEPTH: usize = 200;

/// Most elements a single list or string built by an expression may have
/// (`1..n`, `repeat`), so an expression cannot exhaust memory.
pub const MAX_COLLECTION: usize = 1 << 20;

/// Where in the expression text a problem is: 1-based line and column
/// (columns count characters, not bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl Location {
    /// The location of byte `offset` of `source`.
    pub fn of(source: &str, offset: usize) -> Location {
        let offset = offset.min(source.len());
        let before = source.get(..offset).unwrap_or(source);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Location { line, column }
    }
}

/// An expression that cannot be read or evaluated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExprError {
    /// What is wrong, naming the offending token or value.
    pub message: String,
    /// Where, when the problem is tied to a place in the text.
    pub location: Option<Location>,
}

impl ExprError {
    pub(crate) fn at(source: &str, offset: usize, message: impl Into<String>) -> Self {
        ExprError {
            message: message.into(),
            location: Some(Location::of(source, offset)),
        }
    }

    pub(crate) fn new(message: impl Into<String>) -> Self {
        ExprError {
            message: message.into(),
            location: None,
        }
    }
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some(Location { line, column }) if line > 1 => {
                write!(f, "{} (line {line}, column {column})", self.message)
            }
            Some(Location { column, .. }) => write!(f, "{} (column {column})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ExprError {}

pub(crate) fn check_len(text: &str) -> Result<(), ExprError> {
    if text.len() > MAX_INPUT_LEN {
        return Err(ExprError::new(format!(
            "expression is {} bytes long; the limit is {MAX_INPUT_LEN} bytes",
            text.len()
        )));
    }
    Ok(())
}

/// The variables an expr-lang expression can read.
///
/// `get` receives a dotted path (`inputs.parameters.x`). A scope may be
/// flat, keyed by whole dotted paths as Argo's substitution map is, or
/// nested; the evaluator asks for the longest static path of a member chain
/// first and indexes into shorter prefixes' values for the rest, so
/// `inputs.parameters.x`, `inputs.parameters["x"]` and `inputs.parameters`
/// followed by `.x` all work with either kind.
pub trait Scope {
    /// The value at a dotted path, or `None` when the scope has none.
    fn get(&self, path: &str) -> Option<Value>;

    /// The time `now()` returns. A scope without a clock makes `now()` an
    /// error, keeping evaluation pure.
    fn now(&self) -> Option<DateTime<Utc>> {
        None
    }
}

/// A scope with no variables.
#[derive(Clone, Copy, Debug, Default)]
pub struct EmptyScope;

impl Scope for EmptyScope {
    fn get(&self, _path: &str) -> Option<Value> {
        None
    }
}

/// A nested value is a scope: `get("a.b")` walks map keys `a` then `b`.
/// A key that itself contains dots is found too (the longest key first).
impl Scope for Value {
    fn get(&self, path: &str) -> Option<Value> {
        walk(self, path)
    }
}

fn walk(value: &Value, path: &str) -> Option<Value> {
    let Value::Map(fields) = value else {
        return None;
    };
    if let Some(found) = fields.get(path) {
        return Some(found.clone());
    }
    // Longest key that is a dotted prefix of the path.
    let mut cut = path.len();
    while let Some(dot) = path[..cut].rfind('.') {
        if let Some(inner) = fields.get(&path[..dot])
            && let Some(found) = walk(inner, &path[dot + 1..])
        {
            return Some(found);
        }
        cut = dot;
    }
    None
}

/// Flat variables keyed by dotted paths, as Argo's substitution map:
/// `"inputs.parameters.x" -> "5"`. A path that is a prefix of other keys is
/// the nested map of them (Argo expands the map before expr-lang sees it,
/// dropping a key that also has children).
#[derive(Clone, Debug, Default)]
pub struct FlatScope {
    vars: BTreeMap<String, Value>,
    now: Option<DateTime<Utc>>,
}

impl FlatScope {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a variable.
    pub fn set(&mut self, path: impl Into<String>, value: impl Into<Value>) -> &mut Self {
        self.vars.insert(path.into(), value.into());
        self
    }

    /// Sets the time `now()` returns.
    pub fn with_now(mut self, now: DateTime<Utc>) -> Self {
        self.now = Some(now);
        self
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for FlatScope {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        FlatScope {
            vars: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            now: None,
        }
    }
}

impl From<&HashMap<String, String>> for FlatScope {
    fn from(map: &HashMap<String, String>) -> Self {
        map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

impl From<&BTreeMap<String, String>> for FlatScope {
    fn from(map: &BTreeMap<String, String>) -> Self {
        map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

impl Scope for FlatScope {
    fn get(&self, path: &str) -> Option<Value> {
        let prefix = format!("{path}.");
        let children: Vec<(&String, &Value)> = self
            .vars
            .range::<String, _>(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .collect();
        if children.is_empty() {
            return self.vars.get(path).cloned().or_else(|| {
                // A variable holding a map, indexed by the rest of the path.
                let mut cut = path.len();
                while let Some(dot) = path[..cut].rfind('.') {
                    if let Some(inner) = self.vars.get(&path[..dot]) {
                        return walk(inner, &path[dot + 1..]);
                    }
                    cut = dot;
                }
                None
            });
        }
        let mut root = Value::Map(BTreeMap::new());
        for (key, value) in children {
            insert_path(&mut root, &key[prefix.len()..], value.clone());
        }
        Some(root)
    }

    fn now(&self) -> Option<DateTime<Utc>> {
        self.now
    }
}

/// Inserts `value` at dotted `path` in a nested map; a key with children
/// wins over a leaf of the same name, as Argo's expansion does.
fn insert_path(root: &mut Value, path: &str, value: Value) {
    let Value::Map(fields) = root else {
        return;
    };
    match path.split_once('.') {
        None => match (fields.get_mut(path), value) {
            // A key that has children wins over a leaf of the same name.
            (Some(Value::Map(_)), leaf) if !matches!(leaf, Value::Map(_)) => {}
            (_, value) => {
                fields.insert(path.to_owned(), value);
            }
        },
        Some((head, rest)) => {
            let slot = fields
                .entry(head.to_owned())
                .or_insert_with(|| Value::Map(BTreeMap::new()));
            if !matches!(slot, Value::Map(_)) {
                *slot = Value::Map(BTreeMap::new());
            }
            insert_path(slot, rest, value);
        }
    }
}

/// Evaluates a `when` condition whose `{{...}}` tags have already been
/// substituted, as upstream does with govaluate: an empty condition holds,
/// bare words are strings, and the result must be a boolean.
pub fn eval_when(text: &str) -> Result<bool, ExprError> {
    govaluate::eval_when(text)
}

/// Evaluates an expr-lang expression against `scope`.
pub fn eval_expr(text: &str, scope: &dyn Scope) -> Result<Value, ExprError> {
    let ast = parse_expr(text)?;
    ast.eval(scope)
}

/// How upstream writes an expression's result into a template: strings as
/// they are, everything else as Go's JSON (`5`, `2.5`, `true`,
/// `{"a":1}`), `nil` as an empty string. See [`render_template_value`] for
/// the form that refuses what upstream refuses.
pub fn to_template_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Float(f) => go_float_json(*f).unwrap_or_else(|| go_float_v(*f)),
        other => other.to_go_json().unwrap_or_else(|| other.to_go_string()),
    }
}

/// [`to_template_string`], but with upstream's refusals: a `nil` result is
/// an error ("failed to evaluate expression"), and so is a value Go cannot
/// marshal (NaN or an infinity anywhere in it).
pub fn render_template_value(v: &Value) -> Result<String, ExprError> {
    match v {
        Value::Null => Err(ExprError::new("the expression evaluated to nil")),
        Value::String(s) => Ok(s.clone()),
        other => other.to_go_json().ok_or_else(|| {
            ExprError::new(format!(
                "cannot write {} into a template: JSON has no NaN or infinity",
                other.to_go_string()
            ))
        }),
    }
}
