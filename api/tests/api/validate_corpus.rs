//! Every upstream corpus example validates with no error, all documents in
//! one `validate` call so templateRefs between files resolve.

use std::collections::BTreeMap;

use sluice_api::Config;
use sluice_api::types::Object;
use sluice_api::validate::{Context, Mode, Severity, validate};

use crate::common::{corpus_dir, corpus_objects};

#[test]
fn corpus_has_no_errors_in_lint_mode() {
    let located = corpus_objects(&corpus_dir());
    assert!(
        located.len() > 150,
        "only {} objects in the corpus",
        located.len()
    );
    let objects: Vec<Object> = located.iter().map(|o| o.object.clone()).collect();
    let config = Config::default();
    let ctx = Context {
        mode: Mode::Lint,
        config: &config,
        known_templates: &[],
        allow_missing_refs: false,
    };
    let diagnostics = validate(&objects, &ctx);
    let mut errors = Vec::new();
    let mut warnings: BTreeMap<String, usize> = BTreeMap::new();
    for d in &diagnostics {
        let at = &located[d.object];
        match d.severity {
            Severity::Error => errors.push(format!("{}:{}: {d}", at.file, at.line)),
            Severity::Warning => {
                // Group by message shape, so the summary stays readable.
                let shape: String = d.message.split(['"', ':']).next().unwrap_or("").to_owned();
                *warnings.entry(shape).or_default() += 1;
            }
        }
    }
    let total: usize = warnings.values().sum();
    println!("{} objects, {total} warnings:", objects.len());
    for (shape, count) in &warnings {
        println!("  {count:4}  {shape}");
    }
    assert!(
        errors.is_empty(),
        "{} errors:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

/// The webhook validates the object as the API server sent it, without
/// serializing the typed object again: every corpus object gets the same
/// findings either way.
#[test]
fn validating_as_written_finds_what_validating_the_typed_object_finds() {
    use sluice_api::validate::validate_as_written;
    let located = corpus_objects(&corpus_dir());
    let objects: Vec<Object> = located.iter().map(|o| o.object.clone()).collect();
    let config = Config::default();
    let ctx = Context {
        mode: Mode::Submit,
        config: &config,
        known_templates: &objects,
        allow_missing_refs: false,
    };
    let mut compared = 0;
    for at in &located {
        let typed: Vec<String> = validate(std::slice::from_ref(&at.object), &ctx)
            .iter()
            .map(ToString::to_string)
            .collect();
        let written: Vec<String> = validate_as_written(&at.object, &at.value, &ctx)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(typed, written, "{}:{}", at.file, at.line);
        compared += typed.len();
    }
    assert!(compared > 0, "the corpus gave no finding to compare");
}
