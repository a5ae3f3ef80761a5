//! Findings as `sluice lint` prints them: text for people, JSON for tools,
//! GitHub workflow commands for annotations on a pull request.

use std::fmt::Write as _;

use serde::Serialize;
use sluice_api::FieldPath;
use sluice_api::validate::Severity;

/// How findings are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `file:line:col: error: path: message`, one per line.
    Text,
    /// One JSON array of `{file, line, column, severity, path, message}`.
    Json,
    /// GitHub Actions workflow commands (`::error file=...::...`).
    Github,
}

/// One finding, placed in a file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub severity: Severity,
    /// The field the finding is about; `None` for a file that is not YAML.
    pub path: Option<FieldPath>,
    pub message: String,
}

impl Finding {
    /// `path: message`, or the message alone when there is no path.
    fn body(&self) -> String {
        match &self.path {
            Some(path) => format!("{path}: {}", self.message),
            None => self.message.clone(),
        }
    }
}

/// The findings in `format`, ready for stdout.
pub fn render(findings: &[Finding], format: Format) -> Result<String, serde_json::Error> {
    let mut out = String::new();
    match format {
        Format::Text => {
            for f in findings {
                let _ = writeln!(
                    out,
                    "{}:{}:{}: {}: {}",
                    f.file,
                    f.line,
                    f.column,
                    f.severity,
                    f.body()
                );
            }
        }
        Format::Json => {
            out = serde_json::to_string_pretty(findings)?;
            out.push('\n');
        }
        Format::Github => {
            for f in findings {
                let _ = writeln!(
                    out,
                    "::{} file={},line={},col={}::{}",
                    f.severity,
                    escape_property(&f.file),
                    f.line,
                    f.column,
                    escape_data(&f.body())
                );
            }
        }
    }
    Ok(out)
}

/// Writes to stdout; a reader that went away (`sluice crds | head`) is not
/// an error.
pub fn write_stdout(text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Escapes a workflow command's message.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value, where `:` and `,` delimit.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// The closing line: what was checked and what was found.
pub fn summary(findings: &[Finding], files: usize, documents: usize) -> String {
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = findings.len() - errors;
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    format!(
        "{}, {} in {} ({} of ours checked)",
        plural(errors, "error"),
        plural(warnings, "warning"),
        plural(files, "file"),
        plural(documents, "document"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(severity: Severity, path: Option<&str>, message: &str) -> Finding {
        Finding {
            file: "dir/a,b:c.yaml".into(),
            line: 3,
            column: 5,
            severity,
            path: path.and_then(FieldPath::parse),
            message: message.into(),
        }
    }

    #[test]
    fn text_lines() {
        let findings = [
            finding(
                Severity::Error,
                Some("spec.templates[2].dag.tasks[0].depends"),
                "bad",
            ),
            finding(Severity::Warning, None, "not YAML"),
        ];
        let text = render(&findings, Format::Text).expect("renders");
        assert_eq!(
            text,
            "dir/a,b:c.yaml:3:5: error: spec.templates[2].dag.tasks[0].depends: bad\n\
             dir/a,b:c.yaml:3:5: warning: not YAML\n"
        );
    }

    #[test]
    fn github_commands_escape_their_parts() {
        let findings = [finding(Severity::Warning, Some("spec"), "50% done\nnext")];
        let text = render(&findings, Format::Github).expect("renders");
        assert_eq!(
            text,
            "::warning file=dir/a%2Cb%3Ac.yaml,line=3,col=5::spec: 50%25 done%0Anext\n"
        );
    }

    #[test]
    fn json_array() {
        let findings = [finding(Severity::Error, Some("spec.entrypoint"), "missing")];
        let text = render(&findings, Format::Json).expect("renders");
        let value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(
            value,
            serde_json::json!([{
                "file": "dir/a,b:c.yaml", "line": 3, "column": 5, "severity": "error",
                "path": "spec.entrypoint", "message": "missing"
            }])
        );
        assert_eq!(render(&[], Format::Json).expect("renders"), "[]\n");
    }

    #[test]
    fn summary_counts() {
        let findings = [
            finding(Severity::Error, None, "a"),
            finding(Severity::Warning, None, "b"),
            finding(Severity::Warning, None, "c"),
        ];
        assert_eq!(
            summary(&findings, 1, 2),
            "1 error, 2 warnings in 1 file (2 documents of ours checked)"
        );
    }
}
