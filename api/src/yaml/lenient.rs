//! Indentation leniency, as libyaml has it.
//!
//! libyaml (and so go-yaml and Kubernetes) does not check indentation inside
//! flow collections, nor of a quoted scalar's continuation lines. yaml-rust2
//! follows YAML 1.2 and does, so it rejects manifests Argo's own examples
//! rely on, such as a closing `]` at the indentation of its key:
//!
//! ```yaml
//!       args: ["
//!         echo hello
//!       "]
//! ```
//!
//! When the parser reports one of those errors, the offending lines are moved
//! right (in those places leading blanks carry no meaning, so no value
//! changes) and the text is parsed again; the shifts are taken off the
//! columns reported afterwards.

use std::collections::BTreeMap;

use yaml_rust2::scanner::ScanError;

/// Most re-parses for one stream.
pub(super) const MAX_ATTEMPTS: usize = 256;

/// Most blanks added to one line.
const MAX_SHIFT: usize = 4096;

/// Blanks added at the start of lines, by 1-based line number.
pub(super) type Shifts = BTreeMap<usize, usize>;

/// The text with the lines behind `err` moved right, if `err` is an
/// indentation error libyaml would not raise. Records the shifts.
pub(super) fn reindent(text: &str, err: &ScanError, shifts: &mut Shifts) -> Option<String> {
    let marker = err.marker();
    match err.info() {
        // The marker is at the offending token: move its line right, one
        // column, then two, four... until the parser is content.
        "invalid indentation" | "invalid indentation in flow construct" => {
            let line_start = char_to_byte(text, marker.index().checked_sub(marker.col())?)?;
            let already = shifts.get(&marker.line()).copied().unwrap_or(0);
            let add = already.max(1);
            if already + add > MAX_SHIFT {
                return None;
            }
            *shifts.entry(marker.line()).or_default() += add;
            Some(insert_blanks(text, &[(line_start, add)]))
        }
        // The marker is at the opening quote. The parser's indentation is
        // never right of it, so lines that start at least that far right
        // pass: move each continuation line by the quote's column.
        "invalid indentation in quoted scalar" => {
            let quote = char_to_byte(text, marker.index())?;
            let add = marker.col().max(1);
            let lines = continuation_lines(text, quote)?;
            if lines.is_empty() {
                return None;
            }
            let mut inserts = Vec::with_capacity(lines.len());
            for (n, start) in lines.into_iter().enumerate() {
                let line = marker.line() + n + 1;
                let total = shifts.entry(line).or_default();
                *total += add;
                if *total > MAX_SHIFT {
                    return None;
                }
                inserts.push((start, add));
            }
            Some(insert_blanks(text, &inserts))
        }
        _ => None,
    }
}

/// The byte offset of the `index`th character.
fn char_to_byte(text: &str, index: usize) -> Option<usize> {
    text.char_indices()
        .map(|(byte, _)| byte)
        .chain(std::iter::once(text.len()))
        .nth(index)
}

/// Byte offsets of the lines a quoted scalar opened at `quote` continues on,
/// up to its closing quote. `None` if it does not close, or if a line would
/// look like a document marker (that error is the parser's to report).
fn continuation_lines(text: &str, quote: usize) -> Option<Vec<usize>> {
    let bytes = text.as_bytes();
    let single = *bytes.get(quote)? == b'\'';
    let mut lines = Vec::new();
    let mut at = quote + 1;
    while at < bytes.len() {
        match bytes[at] {
            // An escaped line break still starts a continuation line.
            b'\\' if !single => {
                at += if matches!(bytes.get(at + 1), Some(b'\r' | b'\n')) {
                    1
                } else {
                    2
                }
            }
            b'\'' if single && bytes.get(at + 1) == Some(&b'\'') => at += 2,
            b'\'' if single => return Some(lines),
            b'"' if !single => return Some(lines),
            b'\r' | b'\n' => {
                if bytes[at] == b'\r' && bytes.get(at + 1) == Some(&b'\n') {
                    at += 1;
                }
                at += 1;
                let rest = &bytes[at..];
                if (rest.starts_with(b"---") || rest.starts_with(b"..."))
                    && rest.get(3).is_none_or(|b| b.is_ascii_whitespace())
                {
                    return None;
                }
                lines.push(at);
            }
            _ => at += 1,
        }
    }
    None
}

/// `text` with `count` blanks inserted at each byte offset (ascending).
fn insert_blanks(text: &str, inserts: &[(usize, usize)]) -> String {
    let extra: usize = inserts.iter().map(|(_, count)| count).sum();
    let mut out = String::with_capacity(text.len() + extra);
    let mut from = 0;
    for &(at, count) in inserts {
        out.push_str(&text[from..at]);
        out.extend(std::iter::repeat_n(' ', count));
        from = at;
    }
    out.push_str(&text[from..]);
    out
}

/// A column in the re-indented text, as it is in the original.
pub(super) fn unshift(shifts: &Shifts, line: usize, column: usize) -> usize {
    match shifts.get(&line) {
        Some(&shift) => column.saturating_sub(shift).max(1),
        None => column,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_continuation_lines() {
        let text = "a: \"x\n  y \\\"q\\\"\r\n z\" b\nc";
        let quote = 3;
        let lines = continuation_lines(text, quote).expect("closes");
        assert_eq!(
            lines.iter().map(|&l| &text[l..l + 2]).collect::<Vec<_>>(),
            vec!["  ", " z"]
        );
        assert_eq!(
            continuation_lines("'it''s\n x'", 0).map(|l| l.len()),
            Some(1)
        );
        assert_eq!(continuation_lines("\"open\n", 0), None);
        assert_eq!(continuation_lines("\"x\n--- y\"", 0), None);
    }

    #[test]
    fn inserts_and_unshifts() {
        assert_eq!(insert_blanks("ab\ncd\n", &[(0, 1), (3, 2)]), " ab\n  cd\n");
        let shifts = Shifts::from([(2, 3)]);
        assert_eq!(unshift(&shifts, 2, 10), 7);
        assert_eq!(unshift(&shifts, 2, 2), 1);
        assert_eq!(unshift(&shifts, 3, 10), 10);
        assert_eq!(char_to_byte("é=x", 1), Some(2));
        assert_eq!(char_to_byte("é", 1), Some(2));
        assert_eq!(char_to_byte("é", 2), None);
    }
}
