//! Every `when`, `depends`, `{{= }}` and `expression` of the corpus parses,
//! and a table of evaluations pins upstream semantics.

use serde::Deserialize;
use serde_json::Value as Json;
use sluice_api::expr::{FlatScope, Value, eval_expr, eval_when, parse_expr, to_template_string};
use sluice_api::tags::{TagKind, tags};

use crate::common::{corpus_dir, manifest_files};

fn walk(v: &Json, out: &mut Vec<(String, String)>) {
    match v {
        Json::Array(items) => items.iter().for_each(|i| walk(i, out)),
        Json::Object(fields) => {
            for (k, v) in fields {
                if let (Some(s), "when" | "depends" | "expression") = (v.as_str(), k.as_str()) {
                    out.push((k.clone(), s.to_owned()));
                }
                if let Some(s) = v.as_str() {
                    for tag in tags(s).unwrap_or_default() {
                        if tag.kind == TagKind::Expression {
                            out.push(("{{=".into(), tag.body.to_owned()));
                        }
                    }
                }
                walk(v, out);
            }
        }
        _ => {}
    }
}

/// A plausible value for a simple tag, by the kind of variable.
fn plausible(name: &str) -> String {
    if name.ends_with("status") {
        "Succeeded".into()
    } else if name.contains("num") || name.contains("limit") || name.contains("counter") {
        "5".into()
    } else if name.contains("should") || name.contains("safe") {
        "true".into()
    } else if name.contains("evenness") {
        "even".into()
    } else {
        "heads".into()
    }
}

#[test]
fn corpus_expressions_parse() {
    let mut found = Vec::new();
    for file in manifest_files(&corpus_dir()) {
        let text = std::fs::read_to_string(&file).expect("read");
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let Ok(v) = Json::deserialize(doc) else {
                continue;
            };
            walk(&v, &mut found);
        }
    }
    let mut counts = std::collections::BTreeMap::new();
    let mut failures = Vec::new();
    for (kind, text) in &found {
        *counts.entry(kind.clone()).or_insert(0) += 1;
        let substituted = sluice_api::tags::substitute(text, |n| Some(plausible(n))).expect("tags");
        let result = match kind.as_str() {
            "depends" => sluice_api::depends::parse(text)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            "when" if text.trim_start().starts_with("{{=") => Ok(()),
            "when" => sluice_api::expr::parse_when(&substituted)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            _ => parse_expr(&substituted)
                .map(|_| ())
                .map_err(|e| e.to_string()),
        };
        if let Err(e) = result {
            failures.push(format!("{kind}: {text}: {e}"));
        }
    }
    println!("corpus expression counts: {counts:?}");
    assert!(counts.get("when").copied().unwrap_or(0) >= 39, "{counts:?}");
    assert!(
        counts.get("depends").copied().unwrap_or(0) >= 89,
        "{counts:?}"
    );
    assert!(counts.get("{{=").copied().unwrap_or(0) >= 16, "{counts:?}");
    assert!(
        counts.get("expression").copied().unwrap_or(0) >= 12,
        "{counts:?}"
    );
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn when_semantics() {
    let cases: &[(&str, Result<bool, ()>)] = &[
        ("heads == heads", Ok(true)),
        ("tails == heads", Ok(false)),
        ("10 > 9", Ok(true)),
        ("'10' > '9'", Ok(false)),
        ("5 != 1 && 5 != 2", Ok(true)),
        ("Succeeded != Succeeded", Ok(false)),
        ("heads =~ hea", Ok(true)),
        ("tails !~ hea", Ok(true)),
        ("true == true", Ok(true)),
        ("(heads == heads && tails == tails) || false", Ok(true)),
        ("!(1 > 2)", Ok(true)),
        ("1 + 2 * 3 == 7", Ok(true)),
        ("10 - 4 - 3 == 3", Ok(true)),
        ("true ? false : true", Ok(false)),
        ("'a' in ('a', 'b')", Ok(true)),
        ("", Ok(true)),
        ("flip-coin == flip-coin", Err(())),
        ("a.b == c", Err(())),
        ("5", Err(())),
        ("'2024-01-02' > '2023-12-31'", Ok(true)),
    ];
    for (text, want) in cases {
        let got = eval_when(text).map_err(|_| ());
        assert_eq!(&got, want, "when {text:?}: {:?}", eval_when(text));
    }
}

#[test]
fn expr_semantics() {
    let mut scope: FlatScope = [
        ("inputs.parameters.x", "7"),
        ("inputs.parameters.should-print", "true"),
        ("steps.flip-coin.outputs.result", "heads"),
        ("steps.heads.outputs.result", "H"),
        ("steps.tails.outputs.result", "T"),
        ("tasks.A.outputs.parameters.message", "hi"),
        (
            "workflow.parameters.config",
            r#"{"a":1,"employees":[{"name":"Baris","age":43},{"name":"X","age":20}]}"#,
        ),
        ("workflow.parameters.json", r#"[{"value":"true"}]"#),
    ]
    .into_iter()
    .collect();
    scope.set("lastRetry.exitCode", "2");
    let cases: &[(&str, &str)] = &[
        ("asInt(inputs.parameters.x) > 5", "true"),
        ("asInt(inputs.parameters.x) * 10", "70"),
        ("asFloat(inputs.parameters.x) / 2", "3.5"),
        ("inputs.parameters['should-print'] == 'true'", "true"),
        (
            "steps['flip-coin'].outputs.result == 'heads' ? steps.heads.outputs.result : steps.tails.outputs.result",
            "H",
        ),
        ("tasks.A.outputs.parameters[\"message\"]", "hi"),
        (
            "tasks.A.outputs.parameters.missing ?? 'fallback'",
            "fallback",
        ),
        ("jsonpath(workflow.parameters.config, '$.a')", "1"),
        (
            "jsonpath(workflow.parameters.config, '$.employees[*].name')",
            r#"["Baris","X"]"#,
        ),
        (
            "jsonpath(workflow.parameters.config, '$.employees[?(@.age>42 && @.age<44)].age')",
            "[43]",
        ),
        (
            "jsonpath(workflow.parameters.json, '$[0].value') == 'true'",
            "true",
        ),
        ("sprig.trim('  a  ')", "a"),
        ("sprig.upper('abc')", "ABC"),
        ("sprig.replace('a', 'b', 'banana')", "bbnbnb"),
        ("sprig.add(1, '2', 3.9)", "6"),
        ("toJson(filter([1, 3], {# > 1}))", "[3]"),
        ("map([1, 2], {# * 2})", "[2,4]"),
        ("len('héllo')", "5"),
        ("string(1.5)", "1.5"),
        ("int('42') + 1", "43"),
        ("7 / 2", "3.5"),
        ("7 % 2", "1"),
        ("'a' + 'b'", "ab"),
        ("1..3", "[1,2,3]"),
        ("not ('x' in ['a'])", "true"),
        ("'foo' matches '^f'", "true"),
        ("'foo' startsWith 'f' and 'foo' endsWith 'o'", "true"),
        ("nil ?? 5", "5"),
        ("{a: 1, 'b': [true]}", r#"{"a":1,"b":[true]}"#),
        ("asInt(lastRetry.exitCode) > 1", "true"),
        ("1 < 2 < 3", "true"),
        ("let y = 2; y * y", "4"),
        ("2 ** 3", "8"),
        ("-(-3)", "3"),
    ];
    for (text, want) in cases {
        let got = eval_expr(text, &scope).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(to_template_string(&got), *want, "{text}");
    }
    assert!(eval_expr("unknown.x", &scope).is_err());
    assert!(eval_expr("asInt('5.0')", &scope).is_err());
    assert_eq!(
        Value::from(serde_json::json!({"a": 1})).to_json(),
        serde_json::json!({"a": 1})
    );
}
