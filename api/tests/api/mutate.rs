//! Mutated corpus manifests never make reading or validating panic.
//!
//! A bounded property test for CI; the `fuzz/` target runs longer.

use std::sync::OnceLock;

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use sluice_api::Config;
use sluice_api::types::Object;
use sluice_api::validate::{Context, Mode, validate};

use crate::common::{corpus_dir, corpus_objects};

/// The corpus documents of our kinds, as JSON.
fn corpus() -> &'static [Value] {
    static CORPUS: OnceLock<Vec<Value>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        corpus_objects(&corpus_dir())
            .into_iter()
            .map(|o| o.value)
            .collect()
    })
}

/// One change to a document. `at` picks the node, `pick` what to put there.
#[derive(Clone, Debug)]
enum Mutation {
    DeleteKey { at: u64, pick: u64 },
    ChangeType { at: u64, pick: u64 },
    RenameKey { at: u64, pick: u64 },
    DuplicateElement { at: u64, pick: u64 },
    Nest { at: u64, depth: u8 },
    OddShape { at: u64, pick: u64 },
    TrickyText { at: u64, pick: u64 },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<u64>(), any::<u64>()).prop_map(|(at, pick)| Mutation::DeleteKey { at, pick }),
        (any::<u64>(), any::<u64>()).prop_map(|(at, pick)| Mutation::ChangeType { at, pick }),
        (any::<u64>(), any::<u64>()).prop_map(|(at, pick)| Mutation::RenameKey { at, pick }),
        (any::<u64>(), any::<u64>()).prop_map(|(at, pick)| Mutation::DuplicateElement { at, pick }),
        (any::<u64>(), 1u8..48).prop_map(|(at, depth)| Mutation::Nest { at, depth }),
        (any::<u64>(), any::<u64>()).prop_map(|(at, pick)| Mutation::OddShape { at, pick }),
        (any::<u64>(), any::<u64>()).prop_map(|(at, pick)| Mutation::TrickyText { at, pick }),
    ]
}

/// Keys the validator looks at, so renames land where they matter.
const KEYS: [&str; 24] = [
    "name",
    "template",
    "templateRef",
    "inline",
    "steps",
    "dag",
    "tasks",
    "depends",
    "dependencies",
    "target",
    "entrypoint",
    "onExit",
    "hooks",
    "withItems",
    "withParam",
    "withSequence",
    "container",
    "script",
    "resource",
    "volumeMounts",
    "schedules",
    "workflowTemplateRef",
    "valueFrom",
    "retryStrategy",
];

const TEXTS: [&str; 20] = [
    "",
    " ",
    "{{",
    "{{inputs.parameters.x}}",
    "a && (b || !c.Failed",
    "a.Succeded || ",
    "a -> b",
    ")(",
    "@every",
    "@every -1h",
    "CRON_TZ=",
    "CRON_TZ=Nowhere * * * * *",
    "TZ=UTC",
    "*/0 * * * *",
    "60-1/0 * * * *",
    "main",
    "é\u{0}\u{202e}",
    "9999999999999999999999",
    "-0",
    "1e400",
];

/// Every node of `value`, as JSON pointers, in document order.
fn pointers(value: &Value, at: &mut String, out: &mut Vec<String>) {
    out.push(at.clone());
    let len = at.len();
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                at.push('/');
                at.push_str(&key.replace('~', "~0").replace('/', "~1"));
                pointers(child, at, out);
                at.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                at.push('/');
                at.push_str(&i.to_string());
                pointers(child, at, out);
                at.truncate(len);
            }
        }
        _ => {}
    }
}

fn node(value: &mut Value, at: u64) -> Option<&mut Value> {
    let mut all = Vec::new();
    pointers(value, &mut String::new(), &mut all);
    let index = usize::try_from(at % u64::try_from(all.len()).ok()?).ok()?;
    value.pointer_mut(&all[index])
}

fn pick<T: Clone>(items: &[T], pick: u64) -> T {
    let index = usize::try_from(pick % items.len() as u64).unwrap_or(0);
    items[index].clone()
}

fn apply(value: &mut Value, mutation: &Mutation) {
    match *mutation {
        Mutation::DeleteKey { at, pick: p } => {
            if let Some(Value::Object(map)) = node(value, at)
                && !map.is_empty()
            {
                let keys: Vec<String> = map.keys().cloned().collect();
                map.remove(&pick(&keys, p));
            }
        }
        Mutation::ChangeType { at, pick: p } => {
            let replacements = [
                Value::Null,
                json!(true),
                json!(0),
                json!(-1),
                json!(i64::MIN),
                json!(u64::MAX),
                json!(1.5),
                json!(""),
                json!("x"),
                json!([]),
                json!({}),
                json!([null]),
            ];
            if let Some(target) = node(value, at) {
                *target = pick(&replacements, p);
            }
        }
        Mutation::RenameKey { at, pick: p } => {
            if let Some(Value::Object(map)) = node(value, at)
                && !map.is_empty()
            {
                let keys: Vec<String> = map.keys().cloned().collect();
                let from = pick(&keys, p);
                let to = pick(&KEYS, p / 7).to_owned();
                if let Some(moved) = map.remove(&from) {
                    map.insert(to, moved);
                }
            }
        }
        Mutation::DuplicateElement { at, pick: p } => {
            if let Some(Value::Array(items)) = node(value, at)
                && !items.is_empty()
            {
                let copy = pick(items, p);
                items.push(copy);
            }
        }
        Mutation::Nest { at, depth } => {
            if let Some(target) = node(value, at) {
                let mut nested = target.take();
                for level in 0..depth {
                    nested = if level % 2 == 0 {
                        Value::Array(vec![nested])
                    } else {
                        let mut map = Map::new();
                        map.insert(pick(&KEYS, u64::from(level)).to_owned(), nested);
                        Value::Object(map)
                    };
                }
                *target = nested;
            }
        }
        Mutation::OddShape { at, pick: p } => {
            let shapes = [
                json!([[]]),
                json!([[[]]]),
                json!([{}]),
                json!([null, {"name": ""}]),
                json!({"tasks": [{"name": "a", "depends": "a"}, {"name": "a"}]}),
                json!([[{"name": "s", "inline": {"steps": [[{"name": "s", "template": "s"}]]}}]]),
                json!([{"name": "t", "dag": {"tasks": [{"name": "x", "dependencies": ["x"]}]}}]),
                json!({"name": "x", "template": "x", "templateRef": {}, "inline": {}}),
                json!("steps"),
            ];
            // Odd shapes go where templates, steps and tasks live.
            let mut all = Vec::new();
            pointers(value, &mut String::new(), &mut all);
            let targets: Vec<&String> = all
                .iter()
                .filter(|p| {
                    p.ends_with("/templates")
                        || p.ends_with("/steps")
                        || p.ends_with("/tasks")
                        || p.ends_with("/dag")
                        || p.ends_with("/inline")
                })
                .collect();
            if targets.is_empty() {
                return;
            }
            let chosen = pick(&targets, at).clone();
            if let Some(target) = value.pointer_mut(&chosen) {
                *target = pick(&shapes, p);
            }
        }
        Mutation::TrickyText { at, pick: p } => {
            if let Some(target) = node(value, at)
                && target.is_string()
            {
                *target = json!(pick(&TEXTS, p));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_corpus_documents_never_panic(
        first in any::<u64>(),
        second in any::<u64>(),
        mutations in prop::collection::vec(mutation(), 1..8),
        submit in any::<bool>(),
        allow_missing_refs in any::<bool>(),
    ) {
        let corpus = corpus();
        prop_assume!(!corpus.is_empty());
        let mut documents = [pick(corpus, first), pick(corpus, second)];
        for (i, m) in mutations.iter().enumerate() {
            apply(&mut documents[i % 2], m);
        }
        let objects: Vec<Object> = documents
            .iter()
            .filter_map(|d| Object::from_value(d).ok().flatten())
            .collect();
        let config = Config::default();
        let ctx = Context {
            mode: if submit { Mode::Submit } else { Mode::Lint },
            config: &config,
            known_templates: &objects,
            allow_missing_refs,
        };
        let diagnostics = validate(&objects, &ctx);
        for d in &diagnostics {
            prop_assert!(d.object < objects.len());
            prop_assert!(!d.message.is_empty());
        }
    }
}
