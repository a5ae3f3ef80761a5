//! Argo template tags: `{{inputs.parameters.x}}` and `{{=expression}}`.
//!
//! The lexer follows the rules of upstream's `fasttemplate` usage exactly,
//! so the validator and the engine see the same tags Argo sees:
//! - a tag runs from `{{` to the first `}}` after it (there is no nesting:
//!   `{{a {{b}}` is one tag whose text is `a {{b`);
//! - a tag whose text starts with `=` (no space before it) is an
//!   expression tag; every other tag is a simple tag, looked up by its text
//!   with surrounding whitespace trimmed;
//! - a `{{` with no `}}` after it is an error;
//! - a `}}` outside a tag is plain text.

use std::collections::HashSet;
use std::ops::Range;

const OPEN: &str = "{{";
const CLOSE: &str = "}}";

/// Which syntax a tag uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TagKind {
    /// `{{ name }}`: replaced by the variable of that name.
    Simple,
    /// `{{= expr }}`: replaced by the value of an expr-lang expression.
    Expression,
}

/// One tag found in a string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tag<'a> {
    /// Byte range of the whole tag in the source, braces included.
    pub span: Range<usize>,
    pub kind: TagKind,
    /// For a simple tag, the variable name with surrounding whitespace
    /// trimmed; for an expression tag, the expression after `=`, trimmed.
    pub body: &'a str,
    /// The text between the braces exactly as written.
    pub raw: &'a str,
}

impl Tag<'_> {
    /// The variables the tag uses: the name of a simple tag, or the
    /// variable references of an expression (see [`expression_variables`]).
    pub fn variables(&self) -> Vec<String> {
        match self.kind {
            TagKind::Simple => vec![self.body.to_owned()],
            TagKind::Expression => expression_variables(self.body),
        }
    }
}

/// A string whose tags cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    /// A `{{` with no `}}` after it.
    #[error("\"{{{{\" at byte {offset} is never closed; add \"}}}}\" or remove it")]
    Unterminated {
        /// Byte offset of the `{{`.
        offset: usize,
    },
}

/// An iterator over the tags of a string, in order. After an error it
/// yields nothing more.
#[derive(Clone, Debug)]
pub struct Tags<'a> {
    source: &'a str,
    pos: usize,
}

impl<'a> Tags<'a> {
    /// Iterates over the tags of `source`.
    pub fn new(source: &'a str) -> Self {
        Self { source, pos: 0 }
    }
}

impl<'a> Iterator for Tags<'a> {
    type Item = Result<Tag<'a>, TagError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.source.get(self.pos..)?;
        let start = self.pos + rest.find(OPEN)?;
        let inner_start = start + OPEN.len();
        let Some(len) = self.source[inner_start..].find(CLOSE) else {
            self.pos = self.source.len();
            return Some(Err(TagError::Unterminated { offset: start }));
        };
        let inner_end = inner_start + len;
        let end = inner_end + CLOSE.len();
        self.pos = end;
        let raw = &self.source[inner_start..inner_end];
        let (kind, body) = match raw.strip_prefix('=') {
            Some(expr) => (TagKind::Expression, expr.trim()),
            None => (TagKind::Simple, raw.trim()),
        };
        Some(Ok(Tag {
            span: start..end,
            kind,
            body,
            raw,
        }))
    }
}

/// Every tag of `s`, in order, or the first unterminated `{{`.
pub fn tags(s: &str) -> Result<Vec<Tag<'_>>, TagError> {
    Tags::new(s).collect()
}

/// Replaces the simple tags of `s` whose variable `lookup` knows. Tags it
/// does not know, and expression tags, are left as written (upstream's
/// `allowUnresolved`), so a later pass with more variables can fill them.
///
/// As upstream, a simple tag that is not a variable but contains a nested
/// `{{name` (as in `{{workflow.outputs.parameters.{{inputs.parameters.p}}}}`)
/// has the nested variable replaced and its own `{{` kept, so the outer tag
/// becomes resolvable by a later pass.
pub fn substitute(s: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, TagError> {
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for tag in Tags::new(s) {
        let tag = tag?;
        out.push_str(&s[last..tag.span.start]);
        last = tag.span.end;
        if tag.kind == TagKind::Expression {
            out.push_str(&s[tag.span.clone()]);
            continue;
        }
        if let Some(value) = lookup(tag.body) {
            out.push_str(&value);
            continue;
        }
        let nested = tag
            .raw
            .rfind(OPEN)
            .filter(|&i| i > 0)
            .and_then(|i| Some((&tag.raw[..i], lookup(&tag.raw[i + OPEN.len()..])?)));
        match nested {
            Some((prefix, value)) => {
                out.push_str(OPEN);
                out.push_str(prefix);
                out.push_str(&value);
            }
            None => out.push_str(&s[tag.span.clone()]),
        }
    }
    out.push_str(&s[last..]);
    Ok(out)
}

/// Words of expr-lang that are operators or literals, never variables.
const KEYWORDS: [&str; 14] = [
    "true",
    "false",
    "nil",
    "not",
    "and",
    "or",
    "in",
    "matches",
    "contains",
    "startsWith",
    "endsWith",
    "let",
    "if",
    "else",
];

/// The variables an expr-lang expression reads, each once, in order of first
/// use, as dotted paths: `inputs.parameters['my-param']` and
/// `inputs.parameters["my-param"]` give `inputs.parameters.my-param`.
///
/// Function calls are not variables (`asInt(x)`, `sprig.trim(x)`,
/// `jsonpath(x, '$.a')` give only their arguments' variables); nor are
/// literals, keywords, `let` bindings, map literal keys, `#` and the
/// `.field` shorthand of predicates, or members of a parenthesised or
/// indexed value (`(a - b).Seconds()` gives `a` and `b`). A path ends at an
/// index that is not a string literal (`a.b[0]` gives `a.b`).
pub fn expression_variables(expr: &str) -> Vec<String> {
    ExprScanner::new(expr).run()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Prev {
    /// Start of input, an operator, `(`, `[` or `?`.
    Operator,
    /// `{` or `,`: where a map literal key may start.
    KeyStart,
    /// A value: identifier chain, literal, `)` or `]`.
    Value,
}

struct ExprScanner<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// Open brackets, innermost last.
    brackets: Vec<u8>,
    prev: Prev,
    locals: HashSet<String>,
    found: Vec<String>,
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b'$'
}

fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

impl<'a> ExprScanner<'a> {
    fn new(src: &'a str) -> Self {
        Self {
            src,
            bytes: src.as_bytes(),
            pos: 0,
            brackets: Vec::new(),
            prev: Prev::Operator,
            locals: HashSet::new(),
            found: Vec::new(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.pos + offset).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    /// Reads an identifier at the cursor.
    fn ident(&mut self) -> Option<&'a str> {
        let start = self.pos;
        if !self.peek().is_some_and(is_ident_start) {
            return None;
        }
        while self.peek().is_some_and(is_ident_char) {
            self.pos += 1;
        }
        Some(&self.src[start..self.pos])
    }

    /// Reads a quoted string literal at the cursor, returning its value
    /// with simple escapes undone.
    fn string(&mut self) -> Option<String> {
        let quote = self.peek().filter(|q| matches!(q, b'\'' | b'"' | b'`'))?;
        self.pos += 1;
        let mut value = String::new();
        let mut chunk_start = self.pos;
        while let Some(b) = self.peek() {
            if b == quote {
                value.push_str(&self.src[chunk_start..self.pos]);
                self.pos += 1;
                return Some(value);
            }
            if b == b'\\' && quote != b'`' {
                value.push_str(&self.src[chunk_start..self.pos]);
                self.pos += 1;
                if let Some(escaped) = self.src[self.pos..].chars().next() {
                    value.push(escaped);
                    self.pos += escaped.len_utf8();
                }
                chunk_start = self.pos;
                continue;
            }
            self.pos += 1;
        }
        // Unterminated literal: the rest is its text.
        value.push_str(&self.src[chunk_start..]);
        Some(value)
    }

    fn number(&mut self) {
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            self.pos += 1;
        }
        // A fraction, but not the range operator `1..5`.
        if self.peek() == Some(b'.') && self.peek_at(1).is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
            self.number();
        }
    }

    /// After `[`: a string literal index followed by `]`, consumed only when
    /// the whole form matches.
    fn string_index(&mut self) -> Option<String> {
        let save = self.pos;
        self.pos += 1;
        self.skip_space();
        if let Some(key) = self.string() {
            self.skip_space();
            if self.peek() == Some(b']') {
                self.pos += 1;
                return Some(key);
            }
        }
        self.pos = save;
        None
    }

    /// After an identifier: `.name`, `?.name` and `['name']` members.
    fn chain(&mut self, path: &mut Vec<String>) {
        loop {
            let save = self.pos;
            self.skip_space();
            let member = match (self.peek(), self.peek_at(1)) {
                (Some(b'.'), Some(b'.')) => None,
                (Some(b'.'), _) => {
                    self.pos += 1;
                    self.skip_space();
                    self.ident().map(str::to_owned)
                }
                (Some(b'?'), Some(b'.')) => {
                    self.pos += 2;
                    if self.peek() == Some(b'[') {
                        self.string_index()
                    } else {
                        self.ident().map(str::to_owned)
                    }
                }
                (Some(b'['), _) => self.string_index(),
                _ => None,
            };
            match member {
                Some(member) => path.push(member),
                None => {
                    self.pos = save;
                    return;
                }
            }
        }
    }

    fn next_significant(&self) -> Option<u8> {
        self.bytes[self.pos..]
            .iter()
            .copied()
            .find(|b| !b.is_ascii_whitespace())
    }

    fn record(&mut self, path: Vec<String>) {
        let joined = path.join(".");
        if !self.found.contains(&joined) {
            self.found.push(joined);
        }
    }

    fn run(mut self) -> Vec<String> {
        let mut after_let = false;
        while let Some(b) = self.peek() {
            match b {
                _ if b.is_ascii_whitespace() => self.pos += 1,
                b'\'' | b'"' | b'`' => {
                    self.string();
                    self.prev = Prev::Value;
                }
                b'0'..=b'9' => {
                    self.number();
                    self.prev = Prev::Value;
                }
                b'.' if self.peek_at(1) == Some(b'.') => {
                    self.pos += 2;
                    self.prev = Prev::Operator;
                }
                b'.' | b'#' => {
                    // A member of a value that is not a variable
                    // (`(a).b`, `x[0].b`), the predicate shorthand `.b`,
                    // or the predicate element `#`: never a variable.
                    self.pos += 1;
                    self.skip_space();
                    self.ident();
                    self.prev = Prev::Value;
                }
                _ if is_ident_start(b) => {
                    let key_position = self.prev == Prev::KeyStart;
                    let Some(first) = self.ident() else { break };
                    if after_let {
                        self.locals.insert(first.to_owned());
                        after_let = false;
                        self.prev = Prev::Value;
                        continue;
                    }
                    if first == "let" {
                        after_let = true;
                        self.prev = Prev::Operator;
                        continue;
                    }
                    if KEYWORDS.contains(&first) {
                        self.prev = Prev::Operator;
                        continue;
                    }
                    let mut path = vec![first.to_owned()];
                    self.chain(&mut path);
                    let next = self.next_significant();
                    let is_map_key = key_position
                        && path.len() == 1
                        && self.brackets.last() == Some(&b'{')
                        && next == Some(b':');
                    let is_call = next == Some(b'(');
                    if !is_map_key && !is_call && !self.locals.contains(&path[0]) {
                        self.record(path);
                    }
                    self.prev = Prev::Value;
                }
                b'(' | b'[' | b'{' => {
                    self.brackets.push(b);
                    self.pos += 1;
                    self.prev = if b == b'{' {
                        Prev::KeyStart
                    } else {
                        Prev::Operator
                    };
                }
                b')' | b']' | b'}' => {
                    self.brackets.pop();
                    self.pos += 1;
                    self.prev = Prev::Value;
                }
                b',' => {
                    self.pos += 1;
                    self.prev = if self.brackets.last() == Some(&b'{') {
                        Prev::KeyStart
                    } else {
                        Prev::Operator
                    };
                }
                _ => {
                    // Operators and anything else: one character at a time
                    // (UTF-8 continuation bytes never match the arms above).
                    self.pos += self.src[self.pos..]
                        .chars()
                        .next()
                        .map_or(1, char::len_utf8);
                    self.prev = Prev::Operator;
                }
            }
        }
        self.found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bodies(s: &str) -> Vec<(TagKind, &str)> {
        tags(s)
            .expect("tags")
            .into_iter()
            .map(|t| (t.kind, t.body))
            .collect()
    }

    #[test]
    fn finds_simple_and_expression_tags_with_spans() {
        let s = "echo {{inputs.parameters.x}} and {{= asInt(item) + 1 }}!";
        let found = tags(s).expect("tags");
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].kind, TagKind::Simple);
        assert_eq!(found[0].body, "inputs.parameters.x");
        assert_eq!(&s[found[0].span.clone()], "{{inputs.parameters.x}}");
        assert_eq!(found[1].kind, TagKind::Expression);
        assert_eq!(found[1].body, "asInt(item) + 1");
        assert_eq!(found[1].raw, "= asInt(item) + 1 ");
        assert_eq!(&s[found[1].span.clone()], "{{= asInt(item) + 1 }}");
    }

    #[test]
    fn whitespace_inside_simple_tags_is_trimmed() {
        assert_eq!(
            bodies("{{ inputs.parameters.x }}{{\tworkflow.name\n}}"),
            vec![
                (TagKind::Simple, "inputs.parameters.x"),
                (TagKind::Simple, "workflow.name")
            ]
        );
    }

    #[test]
    fn equals_after_a_space_is_a_simple_tag_as_upstream() {
        assert_eq!(bodies("{{ =x }}"), vec![(TagKind::Simple, "=x")]);
    }

    #[test]
    fn a_tag_ends_at_the_first_close() {
        let found = tags("{{a {{b}} }}").expect("tags");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].raw, "a {{b");
        assert_eq!(found[0].span, 0..9);
        assert_eq!(bodies("}} {{x}}}"), vec![(TagKind::Simple, "x")]);
    }

    #[test]
    fn text_without_tags_has_none() {
        assert!(tags("plain ${HOME} { {x} }").expect("tags").is_empty());
        assert!(tags("").expect("tags").is_empty());
    }

    #[test]
    fn unterminated_open_is_an_error_with_its_offset() {
        assert_eq!(
            tags("ok {{x}} then {{ oops"),
            Err(TagError::Unterminated { offset: 14 })
        );
        let err = tags("{{").expect_err("unterminated");
        assert_eq!(
            err.to_string(),
            "\"{{\" at byte 0 is never closed; add \"}}\" or remove it"
        );
    }

    #[test]
    fn non_ascii_text_around_tags_keeps_byte_spans() {
        let s = "héllo {{ item }} wörld";
        let found = tags(s).expect("tags");
        assert_eq!(&s[found[0].span.clone()], "{{ item }}");
    }

    #[test]
    fn substitute_replaces_known_simple_tags_only() {
        let lookup = |name: &str| match name {
            "inputs.parameters.x" => Some("X".to_owned()),
            "item" => Some("I".to_owned()),
            _ => None,
        };
        let out = substitute(
            "a={{inputs.parameters.x}} b={{ item }} c={{unknown}} d={{=item}}",
            lookup,
        )
        .expect("substitute");
        assert_eq!(out, "a=X b=I c={{unknown}} d={{=item}}");
    }

    #[test]
    fn substitute_resolves_a_nested_tag_for_a_later_pass() {
        let lookup = |name: &str| match name {
            "inputs.parameters.p" => Some("out".to_owned()),
            "workflow.outputs.parameters.out" => Some("V".to_owned()),
            _ => None,
        };
        let once = substitute(
            "{{workflow.outputs.parameters.{{inputs.parameters.p}}}}",
            lookup,
        )
        .expect("substitute");
        assert_eq!(once, "{{workflow.outputs.parameters.out}}");
        assert_eq!(substitute(&once, lookup).expect("substitute"), "V");
    }

    #[test]
    fn substitute_reports_unterminated_tags() {
        assert_eq!(
            substitute("x {{y", |_| None),
            Err(TagError::Unterminated { offset: 2 })
        );
    }

    #[test]
    fn expression_variables_follow_dotted_and_bracket_paths() {
        assert_eq!(
            expression_variables("steps['flip-coin'].outputs.result == 'heads'"),
            vec!["steps.flip-coin.outputs.result"]
        );
        assert_eq!(
            expression_variables(r#"tasks.a.outputs.parameters["x"] + inputs.parameters.y"#),
            vec!["tasks.a.outputs.parameters.x", "inputs.parameters.y"]
        );
        assert_eq!(expression_variables("a?.b ?? c .d"), vec!["a.b", "c.d"]);
    }

    #[test]
    fn expression_function_calls_are_not_variables() {
        assert_eq!(
            expression_variables("asInt(inputs.parameters.num) * 10"),
            vec!["inputs.parameters.num"]
        );
        assert_eq!(
            expression_variables(
                "sprig.trim(inputs.parameters['s']) + jsonpath(workflow.parameters.config, '$.a.b')"
            ),
            vec!["inputs.parameters.s", "workflow.parameters.config"]
        );
        assert_eq!(
            expression_variables(
                "cronworkflow.lastScheduledTime == nil || (now() - cronworkflow.lastScheduledTime).Seconds() > 360"
            ),
            vec!["cronworkflow.lastScheduledTime"]
        );
    }

    #[test]
    fn expression_literals_keywords_and_predicates_are_skipped() {
        assert_eq!(
            expression_variables(
                r#"filter([1, 2.5, 0x1F], {# > 1 && .x in ["a", 'b\'c']}) and not true or nil"#
            ),
            Vec::<String>::new()
        );
        assert_eq!(expression_variables("1..5"), Vec::<String>::new());
        assert_eq!(
            expression_variables("{a: item, 'b': item.c}"),
            vec!["item", "item.c"]
        );
        assert_eq!(
            expression_variables("let x = inputs.parameters.n; x * x"),
            vec!["inputs.parameters.n"]
        );
        assert_eq!(expression_variables("a ? b : c"), vec!["a", "b", "c"]);
    }

    #[test]
    fn expression_variables_of_a_multi_line_expression() {
        let expr = "map([\n  jsonpath(sprig.b64dec(jsonpath(workflow.parameters.weather, '$.w')), '$.t')\n], \
                    {\n  toJson({\n    avg: sprig.add(#[0], #[1]) / 2,\n    min: sprig.min(#[0], #[1])\n  })\n})[0]";
        assert_eq!(
            expression_variables(expr),
            vec!["workflow.parameters.weather"]
        );
    }

    #[test]
    fn expression_paths_end_at_non_string_indexes() {
        assert_eq!(
            expression_variables("steps.s.outputs.parameters[0].x + m[k]"),
            vec!["steps.s.outputs.parameters", "m", "k"]
        );
    }

    #[test]
    fn tag_variables_cover_both_kinds() {
        let found = tags("{{ item.a }}{{=item.b + asInt(inputs.parameters.c)}}").expect("tags");
        assert_eq!(found[0].variables(), vec!["item.a"]);
        assert_eq!(found[1].variables(), vec!["item.b", "inputs.parameters.c"]);
    }
}
