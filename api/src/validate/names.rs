//! Names: of objects (Kubernetes rules plus Argo's length limits) and of the
//! fields inside a spec (templates, steps, tasks, parameters, artifacts),
//! and their uniqueness.

use std::collections::HashMap;

use super::Checker;
use crate::path::FieldPath;
use crate::types::Object;

/// Longest Workflow, WorkflowTemplate or ClusterWorkflowTemplate name: Argo
/// writes it into label values, which Kubernetes caps at 63 characters.
pub const MAX_WORKFLOW_NAME: usize = 63;
/// Longest CronWorkflow name: its workflows are named `<name>-<10-digit
/// timestamp>`, which must still fit in 63.
pub const MAX_CRON_WORKFLOW_NAME: usize = 52;
/// Longest template, step or task name Argo accepts.
pub const MAX_FIELD_NAME: usize = 128;
/// Longest DNS-1123 subdomain (a Kubernetes object name).
const MAX_SUBDOMAIN: usize = 253;
/// Longest DNS-1123 label (a namespace).
const MAX_LABEL: usize = 63;

/// Checks `metadata.name`, `generateName` and `namespace`.
pub(super) fn metadata(check: &mut Checker<'_>, object: &Object) {
    let meta = object.metadata();
    let path = FieldPath::root().key("metadata");
    let limit = match object {
        Object::CronWorkflow(_) => Some((
            MAX_CRON_WORKFLOW_NAME,
            "the workflows it creates append -<10-digit timestamp> and must fit in 63",
        )),
        Object::Workflow(_) | Object::WorkflowTemplate(_) | Object::ClusterWorkflowTemplate(_) => {
            Some((MAX_WORKFLOW_NAME, "Argo writes it into label values"))
        }
        Object::WorkflowEventBinding(_) | Object::WorkflowTaskResult(_) => None,
    };
    match (&meta.name, &meta.generate_name) {
        (None, None) => check.warning(
            path.clone(),
            format!(
                "{} has neither name nor generateName, so the API server will reject it: \
                 set metadata.generateName (e.g. \"my-workflow-\") or metadata.name",
                object.kind()
            ),
        ),
        (Some(name), _) => {
            let name_path = path.key("name");
            if let Some(problem) = subdomain_problem(name) {
                check.error(
                    name_path,
                    format!("{name:?} is not a valid object name: {problem}"),
                );
            } else if let Some((max, why)) = limit
                && name.len() > max
            {
                check.error(
                    name_path,
                    format!(
                        "name is {} characters long; a {} name may have at most {max} ({why}): \
                         shorten it",
                        name.len(),
                        object.kind()
                    ),
                );
            }
        }
        (None, Some(_)) => {}
    }
    if let Some(prefix) = &meta.generate_name
        && let Some(problem) = generate_name_problem(prefix)
    {
        check.error(
            path.key("generateName"),
            format!("{prefix:?} is not a valid generateName: {problem}"),
        );
    }
    if let Some(namespace) = &meta.namespace
        && let Some(problem) = label_problem(namespace)
    {
        check.error(
            path.key("namespace"),
            format!("{namespace:?} is not a valid namespace: {problem}"),
        );
    }
}

const SUBDOMAIN_RULE: &str =
    "use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit";

/// Why `name` is not a DNS-1123 subdomain, if it is not.
pub fn subdomain_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some(format!("it is empty: {SUBDOMAIN_RULE}"));
    }
    if name.len() > MAX_SUBDOMAIN {
        return Some(format!(
            "it is {} characters long, at most {MAX_SUBDOMAIN} are allowed",
            name.len()
        ));
    }
    let valid = name.split('.').all(|part| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !part.starts_with('-')
            && !part.ends_with('-')
    });
    (!valid).then(|| with_suggestion(SUBDOMAIN_RULE, name))
}

/// Why `prefix` cannot start a generated DNS-1123 subdomain, if it cannot.
fn generate_name_problem(prefix: &str) -> Option<String> {
    // The API server appends five random characters (and truncates long
    // prefixes), so the prefix may end with '-' or '.' but must otherwise
    // be a valid start of a name.
    let first_ok = prefix
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let chars_ok = prefix
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    (!first_ok || !chars_ok || prefix.contains("..")).then(|| {
        let rule = "use lowercase letters, digits, '-' and '.', starting with a letter or digit";
        let fixed = fixed_name(prefix);
        if fixed.is_empty() {
            rule.to_owned()
        } else {
            format!("{rule} (e.g. \"{fixed}-\")")
        }
    })
}

/// Why `name` is not a DNS-1123 label, if it is not.
fn label_problem(name: &str) -> Option<String> {
    const RULE: &str = "use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit";
    let valid = !name.is_empty()
        && name.len() <= MAX_LABEL
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    (!valid).then(|| RULE.to_owned())
}

/// `rule (e.g. "fixed-name")` when a fixed spelling exists.
fn with_suggestion(rule: &str, name: &str) -> String {
    let fixed = fixed_name(name);
    if fixed.is_empty() || fixed == name {
        rule.to_owned()
    } else {
        format!("{rule} (e.g. {fixed:?})")
    }
}

/// `name` lowercased, with runs of other characters turned into one '-'.
fn fixed_name(name: &str) -> String {
    let mut fixed: String = name
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '.' | '-') => c,
            _ => '-',
        })
        .collect();
    while fixed.contains("--") {
        fixed = fixed.replace("--", "-");
    }
    fixed.trim_matches(|c| c == '-' || c == '.').to_owned()
}

/// What kind of name a field name is, for the rules and the messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FieldKind {
    Template,
    Step,
    Task,
    Container,
    Parameter,
    Artifact,
}

impl FieldKind {
    pub(super) fn noun(self) -> &'static str {
        match self {
            Self::Template => "template",
            Self::Step => "step",
            Self::Task => "task",
            Self::Container => "container",
            Self::Parameter => "parameter",
            Self::Artifact => "artifact",
        }
    }
}

/// Why `name` is not a valid name for a field of this kind, if it is not.
pub(super) fn field_name_problem(kind: FieldKind, name: &str) -> Option<String> {
    match kind {
        FieldKind::Parameter | FieldKind::Artifact => {
            let ok = name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            (!ok).then(|| "use letters, digits, '_' and '-' (e.g. my_param-1)".to_owned())
        }
        FieldKind::Template | FieldKind::Step | FieldKind::Task | FieldKind::Container => {
            // Step and task names may carry template tags (`{{item}}`) that
            // resolve at run time; check the literal parts around them.
            let literal = if matches!(kind, FieldKind::Step | FieldKind::Task) {
                replace_tags(name)
            } else {
                name.to_owned()
            };
            if literal.len() > MAX_FIELD_NAME {
                return Some(format!(
                    "it is {} characters long, at most {MAX_FIELD_NAME} are allowed",
                    literal.len()
                ));
            }
            let ok = literal
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric())
                && literal
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-');
            (!ok).then(|| {
                "use letters, digits and '-', starting with a letter or digit (e.g. print-message)"
                    .to_owned()
            })
        }
    }
}

/// `name` with every `{{...}}` replaced by `x`.
fn replace_tags(name: &str) -> String {
    let mut out = String::new();
    let mut rest = name;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push('x');
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

/// Checks one list of named fields: every name present, valid and unique.
/// `names` yields each name with the path of the element that declares it.
pub(super) fn unique_names<'n>(
    check: &mut Checker<'_>,
    kind: FieldKind,
    names: impl IntoIterator<Item = (&'n str, FieldPath)>,
    scope: &str,
) {
    let mut seen: HashMap<&str, FieldPath> = HashMap::new();
    let noun = kind.noun();
    for (name, element) in names {
        let path = element.key("name");
        if name.is_empty() {
            check.error(
                path,
                format!("{noun} has no name: add name: (it must be unique {scope})"),
            );
            continue;
        }
        if let Some(problem) = field_name_problem(kind, name) {
            check.error(
                path.clone(),
                format!("{name:?} is not a valid {noun} name: {problem}"),
            );
        }
        match seen.get(name) {
            Some(first) => check.error(
                path,
                format!(
                    "{noun} name {name:?} is already used by {first}: {noun} names must be \
                     unique {scope}, rename one"
                ),
            ),
            None => {
                seen.insert(name, element);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomains() {
        assert_eq!(subdomain_problem("hello-world"), None);
        assert_eq!(subdomain_problem("a.b-c.d"), None);
        assert!(
            subdomain_problem("Hello_World").is_some_and(|p| p.ends_with("(e.g. \"hello-world\")"))
        );
        assert!(subdomain_problem("-a").is_some());
        assert!(subdomain_problem("a..b").is_some());
        assert!(subdomain_problem("").is_some());
        assert!(subdomain_problem(&"a".repeat(254)).is_some());
    }

    #[test]
    fn generate_names_may_end_with_a_dash() {
        assert_eq!(generate_name_problem("hello-world-"), None);
        assert!(
            generate_name_problem("Hello_World-")
                .is_some_and(|p| p.ends_with("(e.g. \"hello-world-\")"))
        );
        assert!(generate_name_problem("Hello-").is_some());
        assert!(generate_name_problem("-a").is_some());
        assert!(generate_name_problem("").is_some());
    }

    #[test]
    fn field_names() {
        assert_eq!(
            field_name_problem(FieldKind::Template, "Print-Message2"),
            None
        );
        assert!(field_name_problem(FieldKind::Template, "print_message").is_some());
        assert!(field_name_problem(FieldKind::Template, "-a").is_some());
        assert!(field_name_problem(FieldKind::Template, "{{x}}").is_some());
        assert_eq!(field_name_problem(FieldKind::Step, "step-{{item}}"), None);
        assert_eq!(
            field_name_problem(FieldKind::Task, "{{inputs.parameters.n}}"),
            None
        );
        assert!(field_name_problem(FieldKind::Task, "a.b").is_some());
        assert_eq!(field_name_problem(FieldKind::Parameter, "my_param-1"), None);
        assert!(field_name_problem(FieldKind::Parameter, "my param").is_some());
        assert!(field_name_problem(FieldKind::Step, &"a".repeat(129)).is_some());
    }
}
