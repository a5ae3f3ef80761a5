//! `sluice-bench lint [CORPUS_DIR]`: parse + validate the upstream corpus.
//!
//! Reports documents per second on one core for
//! - `json`: JSON text -> typed objects -> validate (what the webhook does),
//! - `yaml`: YAML text with positions -> typed objects -> validate (what
//!   `sluice lint` does),
//!
//! next to the baseline: a plain `serde_json::from_str` of the same documents.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use sluice_api::Config;
use sluice_api::types::Object;
use sluice_api::validate::{Context, Mode, validate};
use sluice_api::yaml::parse_documents;

const TARGET_DOCS_PER_SEC: f64 = 10_000.0;

pub fn run(args: &[String]) -> Result<()> {
    let dir = args.first().map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/argo-examples")
    });
    let mut yaml_files = Vec::new();
    collect(&dir, &mut yaml_files)?;
    let mut json_docs = Vec::new();
    for text in &yaml_files {
        for doc in parse_documents(text).map_err(|e| anyhow::anyhow!("{e}"))? {
            if Object::from_value(&doc.value).ok().flatten().is_some() {
                json_docs.push(serde_json::to_string(&doc.value)?);
            }
        }
    }
    let docs = json_docs.len();
    anyhow::ensure!(docs > 0, "no Argo documents under {}", dir.display());
    let config = Config::default();
    let ctx = Context {
        mode: Mode::Lint,
        config: &config,
        known_templates: &[],
        allow_missing_refs: false,
    };

    let baseline = measure(docs, || {
        for text in &json_docs {
            let value: serde_json::Value = serde_json::from_str(text).expect("valid JSON");
            black_box(value);
        }
    });
    let json = measure(docs, || {
        let objects: Vec<Object> = json_docs
            .iter()
            .filter_map(|text| {
                let value: serde_json::Value = serde_json::from_str(text).ok()?;
                Object::from_value(&value).ok().flatten()
            })
            .collect();
        black_box(validate(&objects, &ctx));
    });
    let yaml = measure(docs, || {
        let mut objects = Vec::new();
        for text in &yaml_files {
            for doc in parse_documents(text).expect("corpus parses") {
                if let Ok(Some(object)) = Object::from_value(&doc.value) {
                    objects.push(object);
                }
            }
        }
        black_box(validate(&objects, &ctx));
    });

    println!("lint: {docs} documents from {} files", yaml_files.len());
    println!(
        "  baseline serde_json::from_str   {:>10.0} docs/s",
        baseline
    );
    println!(
        "  json -> typed -> validate       {:>10.0} docs/s  ({:.2}x baseline time)",
        json,
        baseline / json
    );
    println!(
        "  yaml -> typed -> validate       {:>10.0} docs/s  ({:.2}x baseline time)",
        yaml,
        baseline / yaml
    );
    let verdict = if json >= TARGET_DOCS_PER_SEC {
        "met"
    } else {
        "MISSED"
    };
    println!("  target >= {TARGET_DOCS_PER_SEC:.0} docs/s (json path): {verdict}");
    Ok(())
}

/// Runs `work` (one pass over `docs` documents) repeatedly for about two
/// seconds after a warm-up and returns documents per second.
fn measure(docs: usize, mut work: impl FnMut()) -> f64 {
    work();
    let budget = Duration::from_secs(2);
    let start = Instant::now();
    let mut passes = 0u32;
    while start.elapsed() < budget {
        work();
        passes += 1;
    }
    (docs as f64 * f64::from(passes)) / start.elapsed().as_secs_f64()
}

fn collect(dir: &Path, out: &mut Vec<String>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            out.push(std::fs::read_to_string(&path)?);
        }
    }
    Ok(())
}
