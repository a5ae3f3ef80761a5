//! Invalid manifests under api/tests/invalid/, each asserting exactly the
//! diagnostics it produces.
//!
//! Each file starts with comment lines:
//! - `# expect: <error|warning> <path>: <message>`, one per diagnostic; in a
//!   file of several documents, prefix the path with the 0-based document
//!   index: `# expect: error doc1 spec.entrypoint: ...` (no prefix means
//!   `doc0`);
//! - optionally `# mode: submit` (default: lint) and `# allow-missing-refs`.
//!
//! All documents of a file are validated in one call with a default
//! [`Config`]; the diagnostics must equal the expected lines as a multiset.

use std::path::{Path, PathBuf};

use sluice_api::Config;
use sluice_api::types::Object;
use sluice_api::validate::{Context, Mode, Severity, validate};
use sluice_api::yaml::parse_documents;

use crate::common::manifest_files;

fn invalid_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid")
}

/// One diagnostic, as written in an `# expect:` line.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Expected {
    severity: String,
    doc: usize,
    path: String,
    message: String,
}

impl Expected {
    fn line(&self, multi: bool) -> String {
        let doc = if multi {
            format!("doc{} ", self.doc)
        } else {
            String::new()
        };
        format!(
            "# expect: {} {doc}{}: {}",
            self.severity, self.path, self.message
        )
    }
}

struct Header {
    expected: Vec<Expected>,
    mode: Mode,
    allow_missing_refs: bool,
}

fn parse_header(text: &str) -> Result<Header, String> {
    let mut header = Header {
        expected: Vec::new(),
        mode: Mode::Lint,
        allow_missing_refs: false,
    };
    for line in text.lines() {
        let Some(comment) = line.strip_prefix('#') else {
            break;
        };
        let comment = comment.trim();
        if let Some(rest) = comment.strip_prefix("expect:") {
            let rest = rest.trim_start();
            let (severity, rest) = rest
                .split_once(' ')
                .ok_or_else(|| format!("no path in {line:?}"))?;
            if severity != "error" && severity != "warning" {
                return Err(format!("severity must be error or warning in {line:?}"));
            }
            let (doc, rest) = match rest.strip_prefix("doc").and_then(|r| r.split_once(' ')) {
                Some((n, rest)) if n.parse::<usize>().is_ok() => {
                    (n.parse::<usize>().map_err(|e| e.to_string())?, rest)
                }
                _ => (0, rest),
            };
            let (path, message) = rest
                .split_once(": ")
                .ok_or_else(|| format!("no ': ' after the path in {line:?}"))?;
            header.expected.push(Expected {
                severity: severity.to_owned(),
                doc,
                path: path.to_owned(),
                message: message.to_owned(),
            });
        } else if comment == "mode: submit" {
            header.mode = Mode::Submit;
        } else if comment == "mode: lint" {
            header.mode = Mode::Lint;
        } else if comment == "allow-missing-refs" {
            header.allow_missing_refs = true;
        }
    }
    Ok(header)
}

/// Validates one file; `Err` describes a mismatch.
fn run(file: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let header = parse_header(&text)?;
    let documents = parse_documents(&text).map_err(|e| format!("not YAML: {e}"))?;
    let mut objects = Vec::new();
    let mut doc_of = Vec::new();
    for (doc, document) in documents.iter().enumerate() {
        match Object::from_value(&document.value) {
            Ok(Some(object)) => {
                objects.push(object);
                doc_of.push(doc);
            }
            Ok(None) => {}
            Err(e) => return Err(format!("doc{doc} does not fit the types: {e}")),
        }
    }
    let config = Config::default();
    let ctx = Context {
        mode: header.mode,
        config: &config,
        known_templates: &[],
        allow_missing_refs: header.allow_missing_refs,
    };
    let mut produced: Vec<Expected> = validate(&objects, &ctx)
        .into_iter()
        .map(|d| Expected {
            severity: match d.severity {
                Severity::Error => "error".to_owned(),
                Severity::Warning => "warning".to_owned(),
            },
            doc: doc_of.get(d.object).copied().unwrap_or(usize::MAX),
            path: d.path.to_string(),
            message: d.message,
        })
        .collect();
    let mut expected = header.expected;
    produced.sort();
    expected.sort();
    if produced == expected && !expected.is_empty() {
        return Ok(());
    }
    let multi = documents.len() > 1;
    let show = |list: &[Expected]| {
        list.iter()
            .map(|e| format!("    {}", e.line(multi)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let problem = if expected.is_empty() {
        "no `# expect:` line: an invalid manifest must expect at least one diagnostic\n"
    } else {
        ""
    };
    Err(format!(
        "{problem}expected:\n{}\nproduced:\n{}",
        show(&expected),
        show(&produced)
    ))
}

#[test]
fn invalid_manifests_produce_exactly_the_expected_diagnostics() {
    let files = manifest_files(&invalid_dir());
    assert!(files.len() >= 45, "only {} invalid manifests", files.len());
    let failures: Vec<String> = files
        .iter()
        .filter_map(|file| run(file).err().map(|e| format!("{}:\n{e}", file.display())))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} files mismatch:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}

#[test]
fn header_lines_parse() {
    let header = parse_header(
        "# expect: error doc1 spec.entrypoint: no: really\n# mode: submit\n# allow-missing-refs\n\
         # expect: warning spec.templates[0].container.command: x\nkind: Workflow\n# expect: error a: b\n",
    )
    .expect("header");
    assert_eq!(header.mode, Mode::Submit);
    assert!(header.allow_missing_refs);
    assert_eq!(
        header.expected,
        vec![
            Expected {
                severity: "error".into(),
                doc: 1,
                path: "spec.entrypoint".into(),
                message: "no: really".into()
            },
            Expected {
                severity: "warning".into(),
                doc: 0,
                path: "spec.templates[0].container.command".into(),
                message: "x".into()
            },
        ]
    );
    assert!(parse_header("# expect: fatal a: b\n").is_err());
}
