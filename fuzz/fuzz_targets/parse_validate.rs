//! Any bytes through the YAML loader, the types and the validator: nothing
//! may panic, hang or overflow the stack.
//!
//! `cargo +nightly fuzz run parse_validate -- -max_total_time=600`
//! (seed it with the corpus: `cp ../../shared/corpus/argo-examples/*.yaml corpus/parse_validate/`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_api::Config;
use sluice_api::types::Object;
use sluice_api::validate::{Context, Mode, validate};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(documents) = sluice_api::yaml::parse_documents(text) else {
        return;
    };
    let objects: Vec<Object> = documents
        .iter()
        .filter_map(|doc| Object::from_value(&doc.value).ok().flatten())
        .collect();
    let config = Config::default();
    for mode in [Mode::Lint, Mode::Submit] {
        let ctx = Context {
            mode,
            config: &config,
            known_templates: &[],
            allow_missing_refs: false,
        };
        let _ = validate(&objects, &ctx);
    }
});
