use serde_json::json;

use super::*;
use crate::path::FieldPath;

fn one(text: &str) -> Document {
    let mut docs = parse_documents(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(docs.len(), 1, "{text}");
    docs.remove(0)
}

fn value(text: &str) -> Value {
    one(text).value
}

fn error(text: &str) -> YamlError {
    match parse_documents(text) {
        Ok(docs) => panic!("expected an error, got {docs:?}"),
        Err(e) => e,
    }
}

fn at(doc: &Document, path: &str) -> (usize, usize) {
    let path = FieldPath::parse(path).unwrap_or_else(|| panic!("bad path {path}"));
    let mark = doc.positions.lookup(&path);
    (mark.line, mark.column)
}

#[test]
fn multi_document_streams_skip_empty_documents() {
    let text = "# leading comment\n---\n---\na: 1\n---\n# only a comment\n---\nb: 2\n...\n---\n~\n---\n- x\n";
    let docs = parse_documents(text).expect("parses");
    let values: Vec<_> = docs.iter().map(|d| d.value.clone()).collect();
    assert_eq!(values, vec![json!({"a": 1}), json!({"b": 2}), json!(["x"])]);
    assert_eq!(
        docs.iter().map(|d| d.line).collect::<Vec<_>>(),
        vec![3, 7, 12]
    );
    assert!(parse_documents("").expect("empty").is_empty());
    assert!(
        parse_documents("# nothing\n---\n")
            .expect("comments")
            .is_empty()
    );
}

#[test]
fn implicit_document_starts_at_its_content() {
    let doc = one("# comment\n\nkind: Workflow\n");
    assert_eq!(doc.line, 3);
    assert_eq!(at(&doc, "kind"), (3, 1));
}

#[test]
fn json_input() {
    let doc =
        one("{\n  \"apiVersion\": \"v1\",\n  \"items\": [1, 2.5, true, null, \"0755\", 1e3]\n}\n");
    assert_eq!(
        doc.value,
        json!({"apiVersion": "v1", "items": [1, 2.5, true, null, "0755", 1000]})
    );
    assert_eq!(at(&doc, "items"), (3, 3));
    assert_eq!(at(&doc, "items[4]"), (3, 33));
}

#[test]
fn positions_point_at_keys_and_items() {
    let text = "\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
spec:
  templates:
    - name: main
      dag:
        tasks:
          - name: a
            depends: \"b &&\"
    -   name: second
        container: {image: alpine, command: [sh, -c]}
";
    let doc = one(text);
    assert_eq!(at(&doc, "kind"), (2, 1));
    assert_eq!(at(&doc, "spec.templates"), (4, 3));
    assert_eq!(at(&doc, "spec.templates[0]"), (5, 7));
    assert_eq!(at(&doc, "spec.templates[0].name"), (5, 7));
    assert_eq!(at(&doc, "spec.templates[0].dag.tasks[0].depends"), (9, 13));
    assert_eq!(at(&doc, "spec.templates[1]"), (10, 9));
    assert_eq!(at(&doc, "spec.templates[1].container.image"), (11, 21));
    assert_eq!(at(&doc, "spec.templates[1].container.command[1]"), (11, 50));
    // Nearest ancestor for what is not there.
    assert_eq!(at(&doc, "spec.templates[0].dag.tasks[0].nope"), (8, 13));
    assert_eq!(at(&doc, "spec.templates[9]"), (4, 3));
    assert_eq!(at(&doc, ""), (1, 1));
    let exact = doc
        .positions
        .get(&FieldPath::root().key("spec").key("nope"));
    assert_eq!(exact, None);
}

#[test]
fn crlf_tabs_in_text_and_bom() {
    let doc = one("\u{feff}a: 1\r\nb:\r\n  - \"x\ty\"\r\n");
    assert_eq!(doc.value, json!({"a": 1, "b": ["x\ty"]}));
    assert_eq!(at(&doc, "a"), (1, 1));
    assert_eq!(at(&doc, "b[0]"), (3, 5));
}

#[test]
fn scalars_resolve_as_kubernetes_does() {
    let doc = value(
        "a: yes\nb: off\nc: ~\nd:\ne: 0755\nf: 0x1F\ng: 1_000\nh: 1.5\ni: 2001-12-14\nj: \"yes\"\nk: 'null'\nl: |\n  true\nm: >-\n  12\nnn: 0b11\no: 09\np: 1.0\nq: 12:30\n",
    );
    let want = json!({
        "a": true, "b": false, "c": null, "d": null, "e": 493, "f": 31, "g": 1000,
        "h": 1.5, "i": "2001-12-14", "j": "yes", "k": "null", "l": "true\n", "m": "12",
        "nn": 3, "o": 9, "p": 1, "q": "12:30"
    });
    assert_eq!(doc, want);
}

#[test]
fn tags() {
    let doc = value(
        "a: !!str 12\nb: !!int \"12\"\nc: !!float 1.5\nd: !!bool yes\ne: !!null ~\nf: !!binary aGVsbG8=\ng: !!map {x: 1}\nh: !!seq [1]\ni: !custom 5\nj: !<tag:yaml.org,2002:str> true\n",
    );
    let want = json!({"a": "12", "b": 12, "c": 1.5, "d": true, "e": null, "f": "hello", "g": {"x": 1}, "h": [1], "i": "5", "j": "true"});
    assert_eq!(doc, want);
    let err = error("a: 1\nb: !!int nope\n");
    assert_eq!((err.line, err.column), (2, 10));
    assert_eq!(err.message, "cannot read !!str `nope` as !!int");
    let err = error("a: !!seq {x: 1}\n");
    assert_eq!(err.message, "the tag !!seq cannot be used on a mapping");
}

#[test]
fn infinity_and_nan_are_errors_with_their_position() {
    let err = error("a: 1\nb:\n  - .inf\n");
    assert_eq!((err.line, err.column), (3, 5));
    assert!(
        err.message.contains("cannot be represented in JSON"),
        "{err}"
    );
    assert!(
        error("x: .NaN\n")
            .to_string()
            .starts_with("1:4: .nan cannot")
    );
    // As keys they are just names.
    assert_eq!(value(".inf: 1\n"), json!({".inf": 1}));
}

#[test]
fn keys_become_strings() {
    let doc = value("1: a\ntrue: b\n1.5: d\n0x10: e\n\"2\": f\nno: g\n");
    assert_eq!(
        doc,
        json!({"1": "a", "true": "b", "1.5": "d", "16": "e", "2": "f", "false": "g"})
    );
    assert_eq!(
        error("? [1]\n: x\n").message,
        "a mapping key must be a string, number or boolean"
    );
    assert_eq!(error("~: x\n").message, "a mapping key cannot be null");
}

#[test]
fn duplicate_keys_keep_the_last_value_and_are_listed() {
    let doc = one("a: 1\nb:\n  c: 1\n  d: 2\n  c: {e: 3}\n");
    assert_eq!(doc.value, json!({"a": 1, "b": {"c": {"e": 3}, "d": 2}}));
    let dup = &doc.duplicate_keys[..];
    assert_eq!(dup.len(), 1);
    assert_eq!(dup[0].path.to_string(), "b.c");
    assert_eq!(dup[0].at, Mark { line: 5, column: 3 });
    assert_eq!(dup[0].first, Some(Mark { line: 3, column: 3 }));
    assert_eq!(
        dup[0].to_string(),
        "duplicate key \"c\" (first at line 3); only the last value is kept, and kubectl rejects the file: keep one"
    );
    // Positions follow the value kept.
    assert_eq!(at(&doc, "b.c"), (5, 3));
    assert_eq!(at(&doc, "b.c.e"), (5, 7));
    // `on` and `true` are the same key once resolved.
    let doc = one("- true: 1\n  on: 2\n");
    assert_eq!(doc.value, json!([{"true": 2}]));
    assert_eq!(doc.duplicate_keys[0].path.to_string(), "[0].true");
    assert_eq!(one("{a: 1, a: 2}").duplicate_keys.len(), 1);
    // A written key overriding a merged one is not a duplicate.
    assert!(
        one("x: &x {a: 1}\ny:\n  <<: *x\n  a: 2\n")
            .duplicate_keys
            .is_empty()
    );
    assert!(one("a: 1\nb: 2\n").duplicate_keys.is_empty());
}

#[test]
fn flow_and_quoted_indentation_is_lenient_like_libyaml() {
    // A closing bracket at the indentation of its key.
    let text = "spec:\n  args: [\n    a,\n    b\n  ]\n  next: 1\n";
    let doc = one(text);
    assert_eq!(doc.value, json!({"spec": {"args": ["a", "b"], "next": 1}}));
    assert_eq!(at(&doc, "spec.next"), (6, 3));
    // A quoted scalar continued left of its key.
    let text =
        "x:\n  - name: a\n    args: [\"\n      echo hi &&\n  echo bye\n    \"]\n    after: true\n";
    let doc = one(text);
    assert_eq!(
        doc.value,
        json!({"x": [{"name": "a", "args": [" echo hi && echo bye "], "after": true}]})
    );
    assert_eq!(at(&doc, "x[0].args[0]"), (3, 12));
    assert_eq!(at(&doc, "x[0].after"), (7, 5));
    // Columns of later errors on a moved line are the original ones.
    let err = error("a:\n  b: [\n 1, ]]\n");
    assert_eq!(err.line, 3);
    assert!(err.column <= 7, "{err}");
    // Positions are counted in characters, not bytes, on moved lines too.
    let doc = one("x:\n  é: [a,\n  ]\n  ü: \"p\n q\"\n");
    assert_eq!(doc.value, json!({"x": {"é": ["a"], "ü": "p q"}}));
    assert_eq!(at(&doc, "x.é[0]"), (2, 7));
    assert_eq!(at(&doc, "x.ü"), (4, 3));
    // Block indentation stays strict.
    assert!(parse_documents("a:\n  b: 1\n c: 2\n").is_err());
}

#[test]
fn anchors_aliases_and_merges() {
    let text = "\
defaults: &defaults
  image: alpine
  command: [sh]
base: &base {cpu: 1, memory: 2}
one:
  <<: *defaults
  image: busybox
two:
  <<: [*base, {cpu: 9, disk: 3}]
  memory: 5
copy: *defaults
inline:
  <<: {a: 1}
  b: 2
name: &n hello
again: *n
";
    let doc = one(text);
    let want = json!({
        "defaults": {"image": "alpine", "command": ["sh"]},
        "base": {"cpu": 1, "memory": 2},
        "one": {"image": "busybox", "command": ["sh"]},
        "two": {"cpu": 1, "memory": 5, "disk": 3},
        "copy": {"image": "alpine", "command": ["sh"]},
        "inline": {"a": 1, "b": 2},
        "name": "hello",
        "again": "hello",
    });
    assert_eq!(doc.value, want);
    assert_eq!(at(&doc, "one.image"), (7, 3));
    // Merged and aliased values are found at the nearest written ancestor.
    assert_eq!(at(&doc, "one.command"), (5, 1));
    assert_eq!(at(&doc, "copy.image"), (11, 1));
    // A written key still may not repeat, even after a merge overrode it.
    let doc = one("a: &a {x: 1}\nb:\n  <<: *a\n  x: 2\n  x: 3\n");
    assert_eq!(doc.value["b"], json!({"x": 3}));
    assert_eq!(
        doc.duplicate_keys[0].first,
        Some(Mark { line: 4, column: 3 })
    );
    let err = error("a: &a [1]\nb:\n  <<: *a\n");
    assert_eq!(
        err.message,
        "a merge key `<<` takes a mapping or a list of mappings"
    );
    // A quoted "<<" is an ordinary key.
    assert_eq!(value("\"<<\": 1\n"), json!({"<<": 1}));
}

#[test]
fn alias_keys_and_bad_aliases() {
    assert_eq!(
        value("- &k name\n- {*k : v}\n"),
        json!(["name", {"name": "v"}])
    );
    let err = error("a: &a [*a]\n");
    assert!(
        err.message.contains("inside the node its anchor names"),
        "{err}"
    );
    let err = error("--- &a {x: 1}\n--- \n*a\n");
    assert_eq!(
        (err.line, err.message.as_str()),
        (3, "this alias names an anchor of another document")
    );
}

#[test]
fn nesting_is_bounded() {
    // `- - - x` nests one sequence per dash.
    let deep = format!("{}x\n", "- ".repeat(MAX_DEPTH + 1));
    let err = error(&deep);
    assert_eq!((err.line, err.column), (1, 2 * MAX_DEPTH + 1));
    assert!(err.message.contains("nesting deeper than 256"), "{err}");
    let fits = format!("{}x\n", "- ".repeat(MAX_DEPTH));
    let mut value = &one(&fits).value;
    for _ in 0..MAX_DEPTH {
        value = &value[0];
    }
    assert_eq!(value, &json!("x"));
    // Very deep input must not overflow the stack anywhere.
    let huge = "[".repeat(200_000);
    assert!(parse_documents(&huge).is_err());
    let block: String = (0..2000)
        .map(|i| format!("{}- \n", "  ".repeat(i)))
        .collect();
    assert!(parse_documents(&block).is_err());
    // Aliases cannot nest past the limit either.
    let half = MAX_DEPTH / 2 + 1;
    let text = format!(
        "a: &a {}{}\nb: {}*a{}\n",
        "[".repeat(half),
        "]".repeat(half),
        "[".repeat(half),
        "]".repeat(half)
    );
    assert!(error(&text).message.contains("nests deeper"), "{text}");
}

#[test]
fn billion_laughs_is_refused_quickly() {
    let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    let start = std::time::Instant::now();
    let err = error(&text);
    assert!(
        err.message.starts_with("aliases expand to more than"),
        "{err}"
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    // Nested anchors over a large node are copied once each: also counted.
    let depth = 200;
    let items = vec!["x"; 2000].join(", ");
    let nested: String = (0..depth).map(|i| format!("&a{i} [")).collect();
    let text = format!("{nested}{items}{}", "]".repeat(depth));
    let err = error(&text);
    assert!(
        err.message.starts_with("aliases expand to more than"),
        "{err}"
    );
}

#[test]
fn scan_errors_keep_their_position() {
    let err = error("a: b\n c: d\n");
    assert_eq!((err.line, err.column), (2, 3));
    assert_eq!(
        err.message,
        "mapping values are not allowed in this context"
    );
    assert_eq!(
        err.to_string(),
        "2:3: mapping values are not allowed in this context"
    );
    let err = error("a: [1, 2\n");
    assert_eq!(err.line, 2);
    let err = error("a: *nowhere\n");
    assert_eq!((err.line, err.column), (1, 4));
}

#[test]
fn garbage_never_panics() {
    let samples = [
        "",
        "-",
        "?",
        ":",
        "[",
        "]",
        "{",
        "}",
        "&",
        "*",
        "!",
        "|",
        ">",
        "%",
        "@",
        "`",
        "'",
        "\"",
        "- - - -",
        "? ? ?",
        "[[[",
        "{a: [}",
        "a: |\n b\nc",
        "&a &b x",
        "!!int !!str 1",
        "*a",
        "--- |\n  x\n--- >\n",
        "%YAML 1.1\n%YAML 1.1\n---\n",
        "%TAG ! !foo\n--- !x 1\n",
        "a:\n- b\n -c",
        "\t- x",
        "a: 'unterminated",
        "a: \"\\x\"",
        "? a\n? b\n",
        "{? a}",
        "[a: b]",
        "- !!binary |\n  aGVs\n  bG8=\n",
        "... \n...",
        "--- &x\n",
        "\u{0}",
        "a: \u{85}b",
    ];
    for text in samples {
        let _ = parse_documents(text);
    }
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_text_never_panics(text in "[-a-z0-9 :\\[\\]{},&*!|>?'\"#%@.\\n\\t~<]{0,80}") {
            let _ = parse_documents(&text);
        }

        #[test]
        fn positions_of_generated_mappings(keys in proptest::collection::btree_set("k[a-z]{0,8}", 1..20)) {
            let text: String = keys.iter().map(|k| format!("{k}: v\n")).collect();
            let doc = one(&text);
            for (line, key) in keys.iter().enumerate() {
                let mark = doc.positions.get(&FieldPath::root().key(key.clone()));
                prop_assert_eq!(mark, Some(Mark { line: line + 1, column: 1 }));
            }
        }
    }
}
