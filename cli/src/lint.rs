//! `sluice lint`: read manifests, validate every object of ours in one call
//! (so templateRefs resolve among all the files given), and place each
//! finding at `file:line:col`.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::builder::BoolishValueParser;
use sluice_api::Config;
use sluice_api::types::Object;
use sluice_api::validate::{self, Context, Mode, Severity};
use sluice_api::yaml::{self, Document};

use crate::report::{self, Finding, Format};

/// Check workflow manifests: files or directories (searched recursively for
/// .yaml, .yml and .json), or `-` for stdin.
#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// Files or directories to check; `-` reads stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Report a templateRef whose target is not among the files as a warning,
    /// not an error (the target lives in the cluster).
    #[arg(long, env = "SLUICE_ALLOW_MISSING_REFS", value_parser = BoolishValueParser::new())]
    pub allow_missing_refs: bool,
    /// The controller configuration: a workflow-controller-configmap
    /// ConfigMap, or the configuration document it holds (for the `images:`
    /// index and defaults).
    #[arg(long, env = "SLUICE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// How to print findings.
    #[arg(long, short, value_enum, default_value_t = Format::Text, env = "SLUICE_OUTPUT")]
    pub output: Format,
    /// Print errors only: no warnings, no summary.
    #[arg(long, short, env = "SLUICE_QUIET", value_parser = BoolishValueParser::new())]
    pub quiet: bool,
}

/// How a run ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No errors (warnings allowed).
    Clean,
    /// At least one error.
    Findings,
    /// A path could not be read (the others were still checked).
    Unreadable,
}

/// The name findings in stdin are reported under.
const STDIN: &str = "<stdin>";

/// One input: where it came from and its text.
struct Source {
    name: String,
    text: String,
}

/// A document of ours, and where it came from.
struct Located {
    source: usize,
    document: Document,
}

pub fn run(args: &LintArgs) -> anyhow::Result<Outcome> {
    let config = match &args.config {
        Some(path) => load_config(path)?,
        None => Config::default(),
    };
    let mut unreadable = false;
    let mut sources: Vec<Source> = Vec::new();
    for path in &args.paths {
        if let Err(err) = collect(path, &mut sources) {
            eprintln!("sluice: error: {err:#}");
            unreadable = true;
        }
    }
    // A file named twice (itself and through its directory) is read once.
    let mut seen = std::collections::HashSet::new();
    sources.retain(|s| s.name == STDIN || seen.insert(s.name.clone()));

    let ctx = Context {
        mode: Mode::Lint,
        config: &config,
        known_templates: &[],
        allow_missing_refs: args.allow_missing_refs,
    };
    let (mut findings, objects) = check(&sources, &ctx);

    // In the order the files were given, then by place in the file.
    let order: std::collections::HashMap<&str, usize> = sources
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    findings.sort_by_key(|f| (order.get(f.file.as_str()).copied(), f.line, f.column));
    if args.quiet {
        findings.retain(|f| f.severity == Severity::Error);
    }
    report::write_stdout(&report::render(&findings, args.output)?)
        .context("writing the findings")?;
    if !args.quiet {
        eprintln!(
            "{}",
            report::summary(&findings, sources.len(), objects.len())
        );
    }

    Ok(if unreadable {
        Outcome::Unreadable
    } else if findings.iter().any(|f| f.severity == Severity::Error) {
        Outcome::Findings
    } else {
        Outcome::Clean
    })
}

/// Reads and validates the sources: the findings, and the objects of ours
/// (in the order they were found).
fn check(sources: &[Source], ctx: &Context<'_>) -> (Vec<Finding>, Vec<Object>) {
    let mut findings = Vec::new();
    let mut objects = Vec::new();
    let mut located = Vec::new();
    for (index, source) in sources.iter().enumerate() {
        let documents = match yaml::parse_documents(&source.text) {
            Ok(documents) => documents,
            Err(err) => {
                findings.push(Finding {
                    file: source.name.clone(),
                    line: err.line,
                    column: err.column,
                    severity: Severity::Error,
                    path: None,
                    message: err.message,
                });
                continue;
            }
        };
        for document in documents {
            read_document(
                index,
                source,
                document,
                &mut findings,
                &mut objects,
                &mut located,
            );
        }
    }

    for diagnostic in validate::validate(&objects, ctx) {
        let Some(at) = located.get(diagnostic.object) else {
            continue;
        };
        let mark = at.document.positions.lookup(&diagnostic.path);
        findings.push(Finding {
            file: sources[at.source].name.clone(),
            line: mark.line,
            column: mark.column,
            severity: diagnostic.severity,
            path: Some(diagnostic.path),
            message: diagnostic.message,
        });
    }

    (findings, objects)
}

/// Validates one manifest text as `sluice submit` does before sending
/// (submission mode: templateRef targets may live in the cluster): the
/// findings, placed at `name:line:col`, and the objects of ours.
pub fn check_text(name: &str, text: &str, config: &Config) -> (Vec<Finding>, Vec<Object>) {
    let ctx = Context {
        mode: Mode::Submit,
        config,
        known_templates: &[],
        allow_missing_refs: true,
    };
    let sources = [Source {
        name: name.to_owned(),
        text: text.to_owned(),
    }];
    check(&sources, &ctx)
}

/// Turns one document into an object to validate, or into findings.
fn read_document(
    index: usize,
    source: &Source,
    document: Document,
    findings: &mut Vec<Finding>,
    objects: &mut Vec<Object>,
    located: &mut Vec<Located>,
) {
    let finding = |mark: yaml::Mark, path, message| Finding {
        file: source.name.clone(),
        line: mark.line,
        column: mark.column,
        severity: Severity::Error,
        path: Some(path),
        message,
    };
    let object = Object::from_value(&document.value);
    if matches!(object, Ok(None)) {
        // Not ours (a ConfigMap beside the workflows): skipped entirely.
        return;
    }
    for duplicate in &document.duplicate_keys {
        let message = duplicate.to_string();
        findings.push(finding(duplicate.at, duplicate.path.clone(), message));
    }
    match object {
        Ok(Some(object)) => {
            objects.push(object);
            located.push(Located {
                source: index,
                document,
            });
        }
        Ok(None) => {}
        Err(shape) => {
            let mark = document.positions.lookup(&shape.path);
            findings.push(finding(mark, shape.path, shape.message));
        }
    }
}

/// Adds the sources `path` names: stdin, a file, or a directory's manifests.
fn collect(path: &Path, sources: &mut Vec<Source>) -> anyhow::Result<()> {
    if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("reading stdin")?;
        sources.push(source(STDIN.to_owned(), bytes));
        return Ok(());
    }
    let metadata = std::fs::metadata(path).with_context(|| path.display().to_string())?;
    if !metadata.is_dir() {
        let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
        sources.push(source(path.display().to_string(), bytes));
        return Ok(());
    }
    let mut files = Vec::new();
    walk(path, &mut files)?;
    files.sort();
    for file in files {
        let bytes = std::fs::read(&file).with_context(|| file.display().to_string())?;
        sources.push(source(file.display().to_string(), bytes));
    }
    Ok(())
}

/// The text of a source; bytes that are not UTF-8 become U+FFFD, which the
/// YAML parser then reports where they are.
fn source(name: String, bytes: Vec<u8>) -> Source {
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
    };
    Source { name, text }
}

/// Manifest files under `dir`, recursively. Hidden entries (`.git`) and
/// symbolic links to directories are not followed.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| dir.display().to_string())?;
    for entry in entries {
        let entry = entry.with_context(|| dir.display().to_string())?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let kind = entry
            .file_type()
            .with_context(|| path.display().to_string())?;
        if kind.is_dir() {
            walk(&path, out)?;
        } else if is_manifest(&path) && (kind.is_file() || path.is_file()) {
            out.push(path);
        }
    }
    Ok(())
}

fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// Reads `--config`: a ConfigMap, or the configuration document itself.
fn load_config(path: &Path) -> anyhow::Result<Config> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| name.clone())?;
    Config::from_file_text(&text).map_err(|e| anyhow::anyhow!("{name}: {e}"))
}
