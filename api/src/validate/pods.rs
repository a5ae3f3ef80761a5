//! Containers: images, commands Sluice can run, names, and volume mounts
//! that name a declared volume.

use serde_json::Value;

use super::calls::Scope;
use super::names::{FieldKind, unique_names};
use super::{Checker, Severity, dag, is_templated, not_found};
use crate::path::FieldPath;
use crate::types::{ContainerSetTemplate, Template, WorkflowSpec};

/// What a container is to its template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    /// `container`: the main container.
    Main,
    /// `script`: the main container, running `source`.
    Script,
    /// One of `containerSet.containers`.
    Member,
    /// One of `sidecars`.
    Sidecar,
    /// One of `initContainers`.
    Init,
}

/// Names of the volumes a template's containers may mount: the template's
/// `volumes`, those of `spec.templateDefaults`, the spec's `volumes` and its
/// `volumeClaimTemplates`. `None` when a `podSpecPatch` may add volumes, so
/// mounts cannot be checked.
pub(super) fn declared_volumes<'a>(
    spec: &'a WorkflowSpec,
    t: &'a Template,
) -> Option<Vec<&'a str>> {
    let patches = [&t.pod_spec_patch, &spec.pod_spec_patch];
    if patches
        .into_iter()
        .any(|p| p.as_deref().is_some_and(|p| p.contains("volumes")))
    {
        return None;
    }
    let defaults = spec.template_defaults.iter().flat_map(|d| &d.volumes);
    let volumes = t
        .volumes
        .iter()
        .chain(defaults)
        .chain(&spec.volumes)
        .filter_map(|v| v.str_field("name"));
    let claims = spec.volume_claim_templates.iter().filter_map(|c| {
        c.get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
    });
    Some(volumes.chain(claims).collect())
}

/// Checks one container at `path`.
pub(super) fn container(
    check: &mut Checker<'_>,
    scope: &Scope<'_>,
    container: &Value,
    path: &FieldPath,
    role: Role,
    declared: Option<&[&str]>,
) {
    if matches!(role, Role::Main | Role::Script | Role::Member) {
        image_and_command(check, scope, container, path, role);
    }
    if role == Role::Init
        && container
            .get("name")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    {
        check.error(
            path.key("name"),
            "init container has no name: add name: (every container of a pod needs one)",
        );
    }
    let mounts = container.get("volumeMounts").and_then(Value::as_array);
    volume_mounts(
        check,
        mounts.into_iter().flatten(),
        &path.key("volumeMounts"),
        declared,
    );
}

/// The default from `spec.templateDefaults` for a container field of this role.
fn default_of<'s>(scope: &Scope<'s>, role: Role, field: &str) -> Option<&'s Value> {
    let defaults = scope.spec.template_defaults.as_ref()?;
    let value = match role {
        Role::Main => defaults.container.as_ref()?.get(field),
        Role::Script => defaults.script.as_ref()?.container.get(field),
        _ => None,
    }?;
    let set = match value {
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => false,
    };
    set.then_some(value)
}

fn image_and_command(
    check: &mut Checker<'_>,
    scope: &Scope<'_>,
    container: &Value,
    path: &FieldPath,
    role: Role,
) {
    let image = container
        .get("image")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .or_else(|| default_of(scope, role, "image").and_then(Value::as_str));
    let Some(image) = image else {
        check.error(
            path.key("image"),
            "container has no image: set image (e.g. alpine:3.20), or a default in \
             spec.templateDefaults",
        );
        return;
    };
    let has_command = container
        .get("command")
        .and_then(Value::as_array)
        .is_some_and(|c| !c.is_empty())
        || default_of(scope, role, "command").is_some();
    if !has_command && !check.ctx.config.images.contains_key(image) {
        check.warning(
            path.key("command"),
            format!(
                "command unknown for image {image}: set command or add the image to images: in \
                 the controller config"
            ),
        );
    }
}

fn volume_mounts<'v>(
    check: &mut Checker<'_>,
    mounts: impl IntoIterator<Item = &'v Value>,
    path: &FieldPath,
    declared: Option<&[&str]>,
) {
    let Some(declared) = declared else {
        return;
    };
    for (i, mount) in mounts.into_iter().enumerate() {
        let Some(name) = mount.get("name").and_then(Value::as_str) else {
            continue;
        };
        if is_templated(name) || declared.contains(&name) {
            continue;
        }
        let problem = format!("volume {name:?} is not declared");
        // A WorkflowTemplate's templates also run inside the workflows that
        // reference them, which may declare the volume themselves.
        let (severity, fix) = match check.kind {
            "WorkflowTemplate" | "ClusterWorkflowTemplate" => (
                Severity::Warning,
                "add it to the template's volumes, spec.volumes or spec.volumeClaimTemplates \
                 (or make sure every workflow that uses this template declares it)",
            ),
            _ => (
                Severity::Error,
                "add it to the template's volumes, spec.volumes or spec.volumeClaimTemplates",
            ),
        };
        let message = not_found(problem, name, declared.iter().copied(), fix);
        check.push(severity, path.index(i).key("name"), message);
    }
}

/// A `containerSet`: its containers, their names and in-pod dependencies.
pub(super) fn container_set(
    check: &mut Checker<'_>,
    scope: &Scope<'_>,
    set: &ContainerSetTemplate,
    path: &FieldPath,
    declared: Option<&[&str]>,
) {
    let containers_path = path.key("containers");
    if set.containers.is_empty() {
        check.error(
            containers_path.clone(),
            "containerSet has no containers: add at least one",
        );
    }
    let names: Vec<&str> = set
        .containers
        .iter()
        .map(|c| c.name().unwrap_or(""))
        .collect();
    unique_names(
        check,
        FieldKind::Container,
        names
            .iter()
            .enumerate()
            .map(|(i, name)| (*name, containers_path.index(i))),
        "within a containerSet",
    );
    let mut edges = vec![Vec::new(); set.containers.len()];
    for (i, member) in set.containers.iter().enumerate() {
        let member_path = containers_path.index(i);
        container(
            check,
            scope,
            member.container.value(),
            &member_path,
            Role::Member,
            declared,
        );
        for (j, dependency) in member.dependencies.iter().enumerate() {
            match names.iter().position(|n| n == dependency) {
                Some(target) => edges[i].push(target),
                None => {
                    let message = not_found(
                        format!("container {dependency:?} is not defined in this containerSet"),
                        dependency,
                        names.iter().copied(),
                        "name one of its containers",
                    );
                    check.error(member_path.key("dependencies").index(j), message);
                }
            }
        }
    }
    for cycle in dag::cycles(&edges) {
        let Some(&first) = cycle.first() else {
            continue;
        };
        let printed: Vec<&str> = cycle
            .iter()
            .chain(std::iter::once(&first))
            .map(|&i| names[i])
            .collect();
        check.error(
            containers_path.index(first).key("dependencies"),
            format!(
                "dependency cycle {}: each container waits for the next, so none can start; \
                 remove one of these dependencies",
                printed.join(" -> ")
            ),
        );
    }
    let mounts = set.volume_mounts.iter().map(|m| m.value());
    volume_mounts(check, mounts, &path.key("volumeMounts"), declared);
}
