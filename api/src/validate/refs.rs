//! References between objects: the library of WorkflowTemplates and
//! ClusterWorkflowTemplates, and the checks of `templateRef` and
//! `workflowTemplateRef`.

use super::{Checker, Mode, Severity, is_templated, not_found};
use crate::path::FieldPath;
use crate::types::{Object, Template, TemplateRef, WorkflowSpec, WorkflowTemplateRef};

/// One WorkflowTemplate or ClusterWorkflowTemplate that references can name.
#[derive(Debug)]
struct Entry<'a> {
    cluster: bool,
    name: &'a str,
    namespace: Option<&'a str>,
    spec: &'a WorkflowSpec,
}

/// Every template object given to the validator or known besides.
#[derive(Debug)]
pub(crate) struct Library<'a> {
    entries: Vec<Entry<'a>>,
}

impl<'a> Library<'a> {
    pub(crate) fn new(objects: &'a [Object], known: &'a [Object]) -> Self {
        let entries = objects
            .iter()
            .chain(known)
            .filter_map(|object| {
                let (cluster, spec) = match object {
                    Object::WorkflowTemplate(t) => (false, &t.spec),
                    Object::ClusterWorkflowTemplate(t) => (true, &t.spec),
                    _ => return None,
                };
                let meta = object.metadata();
                Some(Entry {
                    cluster,
                    name: meta.name.as_deref()?,
                    namespace: meta.namespace.as_deref(),
                    spec,
                })
            })
            .collect();
        Self { entries }
    }

    /// Whether an entry is visible from an object in `namespace`. Objects
    /// written without a namespace take the one they are applied to, so a
    /// missing namespace on either side matches.
    fn visible(entry: &Entry<'_>, cluster: bool, namespace: Option<&str>) -> bool {
        entry.cluster == cluster
            && (cluster
                || entry.namespace.is_none()
                || namespace.is_none()
                || entry.namespace == namespace)
    }

    /// The spec of the template object `name`.
    pub(crate) fn find(
        &self,
        cluster: bool,
        name: &str,
        namespace: Option<&str>,
    ) -> Option<&'a WorkflowSpec> {
        self.entries
            .iter()
            .find(|e| e.name == name && Self::visible(e, cluster, namespace))
            .map(|e| e.spec)
    }

    /// Names of the template objects visible from `namespace`.
    fn names(&self, cluster: bool, namespace: Option<&str>) -> impl Iterator<Item = &'a str> {
        self.entries
            .iter()
            .filter(move |e| Self::visible(e, cluster, namespace))
            .map(|e| e.name)
    }
}

fn kind_name(cluster: bool) -> &'static str {
    if cluster {
        "ClusterWorkflowTemplate"
    } else {
        "WorkflowTemplate"
    }
}

/// The template of `spec` called `name`.
pub(super) fn local<'s>(spec: &'s WorkflowSpec, name: &str) -> Option<&'s Template> {
    spec.templates.iter().find(|t| t.name == name)
}

/// Names of the templates of `spec`.
pub(super) fn template_names(spec: &WorkflowSpec) -> impl Iterator<Item = &str> {
    spec.templates.iter().map(|t| t.name.as_str())
}

impl<'a> Checker<'a> {
    /// How a reference to an object that cannot be found is reported.
    fn missing_object_severity(&self) -> Severity {
        match self.ctx.mode {
            Mode::Lint if !self.ctx.allow_missing_refs => Severity::Error,
            _ => Severity::Warning,
        }
    }

    /// Reports a reference to a template object that is not known.
    fn missing_object(&mut self, path: FieldPath, cluster: bool, name: &str) {
        let kind = kind_name(cluster);
        let (problem, fix) = match self.ctx.mode {
            Mode::Lint => (
                format!("{kind} {name:?} not found among the objects given"),
                format!(
                    "lint the file that defines it together with this one, fix the name, or \
                     pass --allow-missing-refs if the {kind} exists only in the cluster"
                ),
            ),
            Mode::Submit => (
                format!("{kind} {name:?} not found"),
                format!("create the {kind} before this runs, or fix the name"),
            ),
        };
        let message = not_found(
            problem,
            name,
            self.library.names(cluster, self.namespace),
            fix,
        );
        let severity = self.missing_object_severity();
        self.push(severity, path, message);
    }

    /// Checks a `templateRef` (`path` points at it) and returns the template
    /// it names when it can be found.
    pub(super) fn template_ref(
        &mut self,
        reference: &TemplateRef,
        path: &FieldPath,
    ) -> Option<&'a Template> {
        let cluster = reference.cluster_scope.unwrap_or(false);
        let template = reference.template.as_deref().unwrap_or("");
        let mut complete = true;
        if reference.name.is_empty() {
            self.error(
                path.key("name"),
                format!(
                    "templateRef has no name: set it to the {} that holds the template",
                    kind_name(cluster)
                ),
            );
            complete = false;
        }
        if template.is_empty() {
            self.error(
                path.key("template"),
                "templateRef has no template: set it to the name of the template to run",
            );
            complete = false;
        }
        if !complete || is_templated(&reference.name) || is_templated(template) {
            return None;
        }
        let Some(spec) = self.library.find(cluster, &reference.name, self.namespace) else {
            self.missing_object(path.key("name"), cluster, &reference.name);
            return None;
        };
        let found = local(spec, template);
        if found.is_none() {
            let severity = match self.ctx.mode {
                Mode::Lint => Severity::Error,
                Mode::Submit => Severity::Warning,
            };
            let message = not_found(
                format!(
                    "{} {:?} has no template {template:?}",
                    kind_name(cluster),
                    reference.name
                ),
                template,
                template_names(spec),
                "name one of its templates",
            );
            self.push(severity, path.key("template"), message);
        }
        found
    }

    /// Checks a `workflowTemplateRef` and returns the spec it names when it
    /// can be found.
    pub(super) fn workflow_template_ref(
        &mut self,
        reference: &WorkflowTemplateRef,
        path: &FieldPath,
    ) -> Option<&'a WorkflowSpec> {
        let cluster = reference.cluster_scope.unwrap_or(false);
        if reference.name.is_empty() {
            self.error(
                path.key("name"),
                format!(
                    "workflowTemplateRef has no name: set it to the {} to run",
                    kind_name(cluster)
                ),
            );
            return None;
        }
        if is_templated(&reference.name) {
            return None;
        }
        let found = self.library.find(cluster, &reference.name, self.namespace);
        if found.is_none() {
            self.missing_object(path.key("name"), cluster, &reference.name);
        }
        found
    }
}

/// Describes where a `template:` name is looked up, for messages.
pub(super) fn describe_ref_target(reference: &WorkflowTemplateRef) -> String {
    format!(
        "{} {:?}",
        kind_name(reference.cluster_scope.unwrap_or(false)),
        reference.name
    )
}
