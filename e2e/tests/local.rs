//! End-to-end runs through `sluice run` (the local backend, no cluster):
//! every example of examples/ against its `sluice.dev/expected-phase`, and
//! the upstream corpus in ../shared/corpus/argo-examples against
//! e2e/corpus-expected.tsv. Both share two run slots (the CI machine has two
//! cores); see `sluice_e2e::local` for how the `sluice` binary is found.
//! Modules: the `--local` verbs (local/verbs.rs) and the container image
//! `scripts/image` assembles from the built binaries (local/image.rs).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use sluice_e2e::local::{
    Case, CorpusTable, EXPECTED_PHASE, Ending, Expectation, LocalError, NO_TEST, Outcome, RUN_ARGS,
    Slots, manifest_files, path_with, run_all, sluice_binary, workflow_meta, workspace_root,
};

#[path = "local/image.rs"]
mod image;
#[path = "local/verbs.rs"]
mod verbs;

/// Runs at once, across both tests.
static SLOTS: Slots = Slots::new(2);
/// Workers per suite: each waits for a slot, so two suites share them.
const WORKERS: usize = 2;

/// One of our examples may take this long (they are meant to take < 5 s).
const EXAMPLE_TIMEOUT: Duration = Duration::from_secs(30);
/// One corpus example may take this long.
const CORPUS_TIMEOUT: Duration = Duration::from_secs(60);
/// The whole corpus run may take this long; cases that could not start in
/// time count as not as expected.
const CORPUS_BUDGET: Duration = Duration::from_secs(20 * 60);

fn binary() -> &'static Path {
    match sluice_binary() {
        Ok(path) => path,
        Err(err) => panic!("{err}"),
    }
}

fn describe(outcome: &Result<Outcome, LocalError>) -> String {
    match outcome {
        Ok(outcome) => format!(
            "{} in {:.1}s",
            outcome.ending,
            outcome.elapsed.as_secs_f64()
        ),
        Err(err) => format!("harness error: {err}"),
    }
}

fn details(outcome: &Result<Outcome, LocalError>) -> String {
    let Ok(outcome) = outcome else {
        return String::new();
    };
    let mut text = String::new();
    if let Some(message) = &outcome.message {
        text.push_str(&format!("\n    message: {message}"));
    }
    if !outcome.stderr_tail.is_empty() {
        text.push_str("\n    stderr:\n      ");
        text.push_str(&outcome.stderr_tail.replace('\n', "\n      "));
    }
    text
}

#[test]
fn examples_reach_their_expected_phase() {
    let root = workspace_root();
    let examples = root.join("examples");
    let templates = examples.join("templates");
    let files = manifest_files(&examples, &[templates.as_path()]).expect("examples/ is readable");
    let mut cases = Vec::new();
    let mut expected = Vec::new();
    for file in files {
        let annotations = workflow_meta(&file)
            .expect("an example parses")
            .unwrap_or_else(|| panic!("{}: no Workflow in an example", file.display()))
            .annotations;
        let mut args: Vec<String> = vec!["--template-dir".into(), "examples/templates".into()];
        if let Some(extra) = annotations.get(RUN_ARGS) {
            args.extend(extra.split_whitespace().map(str::to_owned));
        }
        let phase = annotations
            .get(EXPECTED_PHASE)
            .cloned()
            .unwrap_or_else(|| "Succeeded".into());
        assert!(
            matches!(phase.as_str(), "Succeeded" | "Failed" | "Error"),
            "{}: {EXPECTED_PHASE}: {phase:?} is not a final phase",
            file.display()
        );
        let name = file
            .strip_prefix(&root)
            .unwrap_or(&file)
            .display()
            .to_string();
        cases.push(Case {
            name,
            file,
            args,
            env: Vec::new(),
            timeout: EXAMPLE_TIMEOUT,
        });
        expected.push(phase);
    }
    assert!(cases.len() >= 20, "only {} examples found", cases.len());

    let binary = binary();
    let lines = Mutex::new(Vec::new());
    let results = run_all(
        binary,
        &cases,
        &SLOTS,
        WORKERS,
        Duration::MAX,
        |case, outcome| {
            let index = cases
                .iter()
                .position(|c| c.name == case.name)
                .unwrap_or_default();
            let ok = matches!(outcome, Ok(o) if o.ending == Ending::Phase(expected[index].clone()));
            let verdict = if ok { "ok  " } else { "FAIL" };
            println!(
                "{verdict} {:<45} {} (expected {})",
                case.name,
                describe(outcome),
                expected[index]
            );
            if !ok {
                lines
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(format!(
                        "{}: {}{}",
                        case.name,
                        describe(outcome),
                        details(outcome)
                    ));
            }
        },
    );
    assert!(
        results.iter().all(Option::is_some),
        "every example ran (no budget)"
    );
    let failures = lines.into_inner().unwrap_or_else(|e| e.into_inner());
    assert!(
        failures.is_empty(),
        "{} of {} examples did not reach their expected phase:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn corpus_dir() -> PathBuf {
    workspace_root().join("../shared/corpus/argo-examples")
}

#[test]
fn corpus_runs_as_the_table_expects() {
    let corpus = corpus_dir();
    let table_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus-expected.tsv");
    let table_text = std::fs::read_to_string(&table_path).expect("e2e/corpus-expected.tsv");
    let table = CorpusTable::parse(&table_text)
        .unwrap_or_else(|err| panic!("{}: {err}", table_path.display()));

    // Every Workflow of the corpus upstream's own e2e runs must be in the
    // table, and the table names nothing else.
    let mut wanted = BTreeSet::new();
    for file in manifest_files(&corpus, &[]).expect("the corpus is readable") {
        let Some(meta) = workflow_meta(&file).expect("a corpus file parses") else {
            continue;
        };
        if meta.labels.contains_key(NO_TEST) || meta.annotations.contains_key(NO_TEST) {
            continue;
        }
        let name = file
            .strip_prefix(&corpus)
            .unwrap_or(&file)
            .display()
            .to_string();
        wanted.insert(name);
    }
    let listed: BTreeSet<String> = table.entries.keys().cloned().collect();
    let missing: Vec<_> = wanted.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&wanted).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "{}: missing {missing:?}; listed but not a tested corpus workflow {stale:?}",
        table_path.display()
    );

    // Upstream's e2e setup installs these templates and this ConfigMap.
    // Many examples give the argosay images only `args`: the configuration
    // names those images' commands, and e2e/bin (first on the PATH `sluice
    // run` gives the containers) holds Sluice's own `argosay` and `cowsay`.
    let e2e_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared_env = vec![path_with(&[e2e_dir.join("bin")])];
    let shared_args = vec![
        "--config".to_owned(),
        e2e_dir.join("argosay-config.yaml").display().to_string(),
        "--template-dir".to_owned(),
        corpus.join("workflow-template").display().to_string(),
        "--template-dir".to_owned(),
        corpus
            .join("cluster-workflow-template")
            .display()
            .to_string(),
        "--configmap".to_owned(),
        corpus
            .join("configmaps/simple-parameters-configmap.yaml")
            .display()
            .to_string(),
    ];
    let mut cases = Vec::new();
    let mut skipped = 0;
    for (name, expectation) in &table.entries {
        match expectation {
            Expectation::Skip(_) => skipped += 1,
            Expectation::Phase(_) => cases.push(Case {
                name: name.clone(),
                file: corpus.join(name),
                args: shared_args.clone(),
                env: shared_env.clone(),
                timeout: CORPUS_TIMEOUT,
            }),
        }
    }

    let binary = binary();
    let as_expected = Mutex::new(0usize);
    let results = run_all(
        binary,
        &cases,
        &SLOTS,
        WORKERS,
        CORPUS_BUDGET,
        |case, outcome| {
            let want = match table.entries.get(&case.name) {
                Some(Expectation::Phase(phase)) => phase.as_str(),
                _ => "",
            };
            let ok = matches!(outcome, Ok(o) if o.ending == Ending::Phase(want.to_owned()));
            if ok {
                *as_expected.lock().unwrap_or_else(|e| e.into_inner()) += 1;
            }
            let verdict = if ok { "ok  " } else { "MISS" };
            let more = if ok { String::new() } else { details(outcome) };
            println!(
                "{verdict} {:<60} {} (expected {want}){more}",
                case.name,
                describe(outcome)
            );
        },
    );
    let ran = results.iter().filter(|r| r.is_some()).count();
    let not_started = results.len() - ran;
    let as_expected = as_expected.into_inner().unwrap_or_else(|e| e.into_inner());
    println!(
        "ran {ran}, as expected {as_expected} (skipped {skipped}, not started within {}s: {not_started}; floor {})",
        CORPUS_BUDGET.as_secs(),
        table.floor
    );
    assert!(
        as_expected >= table.floor,
        "only {as_expected} corpus examples ran as expected; the floor in {} is {}",
        table_path.display(),
        table.floor
    );
}
