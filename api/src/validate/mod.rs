//! The one semantic validator. `sluice lint`, the webhook and the controller
//! all call [`validate`] and print the same messages.
//!
//! The checks follow upstream's `workflow/validate` (what Argo accepts and
//! rejects, and where `Opts.Lint` relaxes it), split by concept:
//! - `names`: object and field names, duplicates;
//! - `refs`: the library of WorkflowTemplates and templateRef resolution;
//! - `spec`: workflow-level fields (entrypoint, onExit, hooks, GC, TTL);
//! - `templates`: one template (its kind, container, script, resource,
//!   retries, deadlines, outputs, features Sluice does not run yet);
//! - `pods`: containers and volume mounts;
//! - `calls`: what a step or a task runs (template, templateRef, inline,
//!   loops, hooks, onExit);
//! - `steps`, `dag`: the two orchestrating template kinds;
//! - `artifacts`: parameter and artifact declarations, archives, artifact GC;
//! - `cron`: CronWorkflow scheduling fields;
//! - `durations`: numbers of seconds and Go durations;
//! - `variables`: template tags (`{{...}}`) that cannot resolve.
//!
//! Unknown and mistyped fields come from [`crate::schema::check_fields`].

mod artifacts;
mod calls;
mod cron;
mod dag;
mod durations;
mod names;
mod pods;
mod refs;
mod spec;
mod steps;
mod templates;
mod variables;

use std::fmt;

use serde::Serialize;

use crate::config::Config;
use crate::path::FieldPath;
use crate::types::Object;

pub(crate) use refs::Library;

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The object cannot run as written; lint fails, the webhook rejects.
    Error,
    /// Worth fixing; nothing is rejected for it.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Error => "error",
            Self::Warning => "warning",
        })
    }
}

/// One finding: which object, where in it, what is wrong and what to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Index of the object in the slice given to [`validate`].
    pub object: usize,
    /// Path of the offending value inside that object.
    pub path: FieldPath,
    pub severity: Severity,
    /// What is wrong and what to do, in one or two sentences.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.severity, self.path, self.message)
    }
}

/// Where validation runs, as upstream's `Opts.Lint`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// Offline, over a set of files (`sluice lint`): unknown fields are
    /// errors, and a templateRef must resolve among the objects given unless
    /// `allow_missing_refs` is set.
    #[default]
    Lint,
    /// At admission or submission: unknown fields are warnings, and a
    /// missing templateRef target is a warning (it may be synced later).
    Submit,
}

/// What the validator knows besides the objects themselves.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    pub mode: Mode,
    /// The controller configuration (the `images:` index, defaults).
    pub config: &'a Config,
    /// WorkflowTemplates and ClusterWorkflowTemplates known besides the
    /// objects validated (the webhook's cache), for templateRef targets.
    pub known_templates: &'a [Object],
    /// In lint mode, report a missing templateRef target as a warning.
    pub allow_missing_refs: bool,
}

/// Validates every object, resolving references among them and
/// `ctx.known_templates`. Findings are sorted by object, then path.
pub fn validate(objects: &[Object], ctx: &Context<'_>) -> Vec<Diagnostic> {
    let library = Library::new(objects, ctx.known_templates);
    let mut out = Vec::new();
    for (index, object) in objects.iter().enumerate() {
        // Serialized once: the schema check and the tag check both walk it.
        let value = object.to_value().ok();
        check_one(index, object, value.as_ref(), ctx, &library, &mut out);
    }
    // Stable: findings at one path keep the order they were found in.
    out.sort_by(|a: &Diagnostic, b| (a.object, &a.path).cmp(&(b.object, &b.path)));
    out
}

/// [`validate`] for one object whose JSON is at hand (the admission
/// webhook's, as the API server sent it: `object` was read from `value`),
/// which spares serializing it again.
pub fn validate_as_written(
    object: &Object,
    value: &serde_json::Value,
    ctx: &Context<'_>,
) -> Vec<Diagnostic> {
    let objects = std::slice::from_ref(object);
    let library = Library::new(objects, ctx.known_templates);
    let mut out = Vec::new();
    check_one(0, object, Some(value), ctx, &library, &mut out);
    out.sort_by(|a: &Diagnostic, b| a.path.cmp(&b.path));
    out
}

fn check_one(
    index: usize,
    object: &Object,
    value: Option<&serde_json::Value>,
    ctx: &Context<'_>,
    library: &Library<'_>,
    out: &mut Vec<Diagnostic>,
) {
    let mut check = Checker::new(index, object, ctx, library);
    check.object(object, value);
    out.append(&mut check.out);
    if let Some(value) = value {
        variables::check(index, object, value, ctx, out);
    }
}

/// The state of checking one object: where findings go and what references
/// resolve against.
pub(crate) struct Checker<'a> {
    pub ctx: &'a Context<'a>,
    pub library: &'a Library<'a>,
    /// Index of the object in the slice given to [`validate`].
    pub index: usize,
    /// The object's kind (`Workflow`, ...).
    pub kind: &'static str,
    /// The object's namespace, where templateRefs to WorkflowTemplates look.
    pub namespace: Option<&'a str>,
    pub out: Vec<Diagnostic>,
}

impl<'a> Checker<'a> {
    fn new(
        index: usize,
        object: &'a Object,
        ctx: &'a Context<'a>,
        library: &'a Library<'a>,
    ) -> Self {
        Self {
            ctx,
            library,
            index,
            kind: object.kind(),
            namespace: object.metadata().namespace.as_deref(),
            out: Vec::new(),
        }
    }

    /// Records an error.
    pub fn error(&mut self, path: FieldPath, message: impl Into<String>) {
        self.push(Severity::Error, path, message);
    }

    /// Records a warning.
    pub fn warning(&mut self, path: FieldPath, message: impl Into<String>) {
        self.push(Severity::Warning, path, message);
    }

    /// Records a finding.
    pub fn push(&mut self, severity: Severity, path: FieldPath, message: impl Into<String>) {
        self.out.push(Diagnostic {
            object: self.index,
            path,
            severity,
            message: message.into(),
        });
    }

    /// Records a feature Sluice's engine does not run yet.
    pub fn unsupported(&mut self, path: FieldPath, feature: &str) {
        self.warning(
            path,
            format!("not supported yet: {feature}; the node will fail at run time"),
        );
    }

    fn object(&mut self, object: &'a Object, value: Option<&serde_json::Value>) {
        if let Some(value) = value {
            self.schema(object.kind(), value);
        }
        names::metadata(self, object);
        let root = FieldPath::root().key("spec");
        match object {
            Object::Workflow(o) => spec::workflow_spec(self, &o.spec, &root),
            Object::WorkflowTemplate(o) => spec::workflow_spec(self, &o.spec, &root),
            Object::ClusterWorkflowTemplate(o) => spec::workflow_spec(self, &o.spec, &root),
            Object::CronWorkflow(o) => cron::cron_workflow(self, &o.spec, &root),
            Object::WorkflowEventBinding(_) => self.warning(
                FieldPath::root().key("kind"),
                "not supported yet: WorkflowEventBinding; Sluice does not submit workflows \
                 for events, so this binding does nothing",
            ),
            Object::WorkflowTaskResult(_) => {}
        }
    }

    /// Unknown or misspelled fields and type mismatches, against the full
    /// Argo + Kubernetes schema (an error in lint, a warning elsewhere).
    fn schema(&mut self, kind: &str, value: &serde_json::Value) {
        let severity = match self.ctx.mode {
            Mode::Lint => Severity::Error,
            Mode::Submit => Severity::Warning,
        };
        for finding in crate::schema::check_fields(kind, value) {
            self.push(severity, finding.path, finding.message);
        }
    }
}

/// Whether a value is (or contains) a template tag, resolved only at run time.
pub(crate) fn is_templated(s: &str) -> bool {
    // A byte scan: for this two-byte needle in short strings, cheaper than
    // setting up a substring search (the validator asks for every string).
    s.as_bytes().windows(2).any(|pair| pair == b"{{")
}

/// The candidate closest to `name`, if one is close enough to be a likely typo.
pub(crate) fn closest<'c>(
    name: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        if candidate == name || candidate.is_empty() {
            continue;
        }
        let distance = if candidate.eq_ignore_ascii_case(name) {
            0
        } else {
            strsim::damerau_levenshtein(name, candidate)
        };
        let longest = name.chars().count().max(candidate.chars().count());
        let allowed = (longest / 3).max(1);
        if distance <= allowed && distance < longest && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// `problem; did you mean "x"?` when a candidate is close to `name`, else
/// `problem: fix`.
pub(crate) fn not_found<'c>(
    problem: impl fmt::Display,
    name: &str,
    candidates: impl IntoIterator<Item = &'c str>,
    fix: impl fmt::Display,
) -> String {
    match closest(name, candidates) {
        Some(c) => format!("{problem}; did you mean {c:?}?"),
        None => format!("{problem}: {fix}"),
    }
}

/// `a, b and c` (or `a, b or c` with `conjunction` "or").
pub(crate) fn list(items: &[&str], conjunction: &str) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} {conjunction} {last}", init.join(", ")),
    }
}

/// Checks a value that must be one of `allowed` (empty means the default;
/// a template tag is resolved at run time).
pub(crate) fn one_of(
    check: &mut Checker<'_>,
    path: FieldPath,
    what: &str,
    value: &str,
    allowed: &[&str],
) {
    if value.is_empty() || is_templated(value) || allowed.contains(&value) {
        return;
    }
    let message = not_found(
        format!("{value:?} is not a valid {what}"),
        value,
        allowed.iter().copied(),
        format!("use {}", list(allowed, "or")),
    );
    check.error(path, message);
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod helper_tests {
    use super::*;

    #[test]
    fn closest_finds_typos_only() {
        let names = ["main", "print-message", "whalesay"];
        assert_eq!(closest("mian", names), Some("main"));
        assert_eq!(closest("print-mesage", names), Some("print-message"));
        assert_eq!(closest("Main", names), Some("main"));
        assert_eq!(closest("deploy", names), None);
        assert_eq!(closest("a", ["b"]), None);
        assert_eq!(closest("main", names), None);
    }

    #[test]
    fn lists_read_as_english() {
        assert_eq!(list(&[], "and"), "");
        assert_eq!(list(&["a"], "and"), "a");
        assert_eq!(list(&["a", "b"], "or"), "a or b");
        assert_eq!(list(&["a", "b", "c"], "and"), "a, b and c");
    }
}
