//! `steps` templates: groups of steps run in sequence, the steps of a group
//! in parallel.

use super::Checker;
use super::calls::{self, Call, Scope};
use super::names::{FieldKind, unique_names};
use crate::path::FieldPath;
use crate::types::Template;

/// Checks the `steps` of template `t` at `path` (the template's path).
pub(super) fn steps<'a>(
    check: &mut Checker<'a>,
    scope: &Scope<'a>,
    t: &'a Template,
    path: &FieldPath,
    depth: usize,
) {
    let steps_path = path.key("steps");
    let all = t.steps.iter().enumerate().flat_map(|(g, group)| {
        let steps_path = &steps_path;
        group
            .iter()
            .enumerate()
            .map(move |(s, step)| (step, steps_path.index(g).index(s)))
    });
    let located: Vec<_> = all.collect();
    unique_names(
        check,
        FieldKind::Step,
        located
            .iter()
            .map(|(step, p)| (step.name.as_str(), p.clone())),
        "within a template",
    );
    for (step, step_path) in &located {
        calls::call(check, scope, &Call::from(*step), step_path, depth);
    }
}
