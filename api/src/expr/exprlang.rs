//! expr-lang (`github.com/expr-lang/expr`) as Argo uses it: `{{= expr }}`
//! tags, retry and hook `expression`s, `valueFrom.expression` and data
//! transformations.
//!
//! Grammar and precedence follow expr-lang: unary `not !` (50) and `- +`
//! (90); binary `|` pipe (0), `or ||` (10), `and &&` (15), comparisons,
//! `in matches contains startsWith endsWith` and their `not` forms (20),
//! `..` (25), `+ -` (30), `* / %` (60), `** ^` (100, right), `??` (500);
//! then `? :` and `?:` loosest. `a < b < c` means `a < b && b < c`.
//! Postfix `.name`, `?.name`, `[index]`, `[from:to]` and calls; literals,
//! `[...]` arrays, `{k: v}` maps, `let x = ...; body`, and closures
//! (`{# > 1}`, `#index`, `#acc`, `.field`) for the predicate builtins.

use std::collections::BTreeMap;

use chrono::TimeDelta;

use super::functions::{self, PREDICATES};
use super::value::{Value, duration_nanos};
use super::{ExprError, MAX_COLLECTION, MAX_DEPTH, Scope, check_len};

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Int(i64),
    Float(f64),
    Str(String),
    Ident(String),
    /// Operators, punctuation and word operators (`and`, `not`, `in`, ...).
    Op(&'static str),
    End,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    offset: usize,
    /// The token as written, for error messages.
    text: String,
}

const OPERATORS: [&str; 35] = [
    "...", "**", "==", "!=", "<=", ">=", "&&", "||", "..", "?.", "??", "::", "+", "-", "*", "/",
    "%", "^", "<", ">", "!", "?", ":", ",", ".", "(", ")", "[", "]", "{", "}", "#", "|", "=", ";",
];
const WORD_OPERATORS: [&str; 11] = [
    "and",
    "or",
    "not",
    "in",
    "matches",
    "contains",
    "startsWith",
    "endsWith",
    "let",
    "if",
    "else",
];

fn lex(src: &str) -> Result<Vec<Token>, ExprError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < src.len() {
        let c = src[i..].chars().next().unwrap_or(' ');
        if c.is_whitespace() {
            i += c.len_utf8();
            continue;
        }
        let start = i;
        if src[i..].starts_with("//") {
            i = src[i..].find('\n').map_or(src.len(), |n| i + n);
            continue;
        }
        if src[i..].starts_with("/*") {
            let end = src[i + 2..]
                .find("*/")
                .ok_or_else(|| ExprError::at(src, i, "unclosed comment '/*'"))?;
            i += end + 4;
            continue;
        }
        let digit_after_dot = c == '.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
        let prev_is_value = matches!(
            out.last(),
            Some(Token {
                tok: Tok::Ident(_) | Tok::Op(")" | "]"),
                ..
            })
        );
        if c.is_ascii_digit() || (digit_after_dot && !prev_is_value) {
            let (tok, len) = number(&src[i..]).map_err(|m| ExprError::at(src, start, m))?;
            i += len;
            out.push(Token {
                tok,
                offset: start,
                text: src[start..i].to_owned(),
            });
            continue;
        }
        if c.is_alphabetic() || c == '_' || c == '$' {
            let len = src[i..]
                .char_indices()
                .find(|&(_, c)| !(c.is_alphanumeric() || c == '_' || c == '$'))
                .map_or(src.len() - i, |(n, _)| n);
            let word = &src[i..i + len];
            i += len;
            let tok = match WORD_OPERATORS.iter().find(|w| **w == word) {
                Some(w) => Tok::Op(w),
                None => Tok::Ident(word.to_owned()),
            };
            out.push(Token {
                tok,
                offset: start,
                text: word.to_owned(),
            });
            continue;
        }
        if matches!(c, '"' | '\'' | '`') {
            let (value, len) =
                string(&src[i..]).map_err(|(at, m)| ExprError::at(src, start + at, m))?;
            i += len;
            out.push(Token {
                tok: Tok::Str(value),
                offset: start,
                text: src[start..i].to_owned(),
            });
            continue;
        }
        match OPERATORS.iter().find(|op| src[i..].starts_with(**op)) {
            Some(op) if *op != "..." => {
                i += op.len();
                out.push(Token {
                    tok: Tok::Op(op),
                    offset: start,
                    text: (*op).to_owned(),
                });
            }
            _ => {
                return Err(ExprError::at(
                    src,
                    start,
                    format!("unexpected character '{c}'"),
                ));
            }
        }
    }
    out.push(Token {
        tok: Tok::End,
        offset: src.len(),
        text: "end of expression".to_owned(),
    });
    Ok(out)
}

fn number(s: &str) -> Result<(Tok, usize), String> {
    let b = s.as_bytes();
    let radix = match (b.first(), b.get(1).map(u8::to_ascii_lowercase)) {
        (Some(b'0'), Some(b'x')) => 16,
        (Some(b'0'), Some(b'o')) => 8,
        (Some(b'0'), Some(b'b')) => 2,
        _ => 10,
    };
    if radix != 10 {
        let len = 2 + s[2..]
            .bytes()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
            .count();
        let digits = s[2..len].replace('_', "");
        let value = i64::from_str_radix(&digits, radix)
            .map_err(|e| format!("invalid integer literal '{}': {e}", &s[..len]))?;
        return Ok((Tok::Int(value), len));
    }
    let mut len = b
        .iter()
        .take_while(|c| c.is_ascii_digit() || **c == b'_')
        .count();
    let mut float = false;
    if b.get(len) == Some(&b'.') && b.get(len + 1) != Some(&b'.') {
        float = true;
        len += 1;
        len += b[len..]
            .iter()
            .take_while(|c| c.is_ascii_digit() || **c == b'_')
            .count();
    }
    if matches!(b.get(len), Some(b'e' | b'E')) {
        let mut j = len + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let digits = b[j.min(b.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if digits > 0 {
            float = true;
            len = j + digits;
        }
    }
    let text = s[..len].replace('_', "");
    if float {
        let value: f64 = text
            .parse()
            .map_err(|e| format!("invalid float literal '{}': {e}", &s[..len]))?;
        Ok((Tok::Float(value), len))
    } else {
        let value: i64 = text
            .parse()
            .map_err(|e| format!("invalid integer literal '{}': {e}", &s[..len]))?;
        Ok((Tok::Int(value), len))
    }
}

/// Reads a quoted literal; returns its value and length, or the byte offset
/// (within `s`) and message of an error.
fn string(s: &str) -> Result<(String, usize), (usize, String)> {
    let quote = s.chars().next().unwrap_or('"');
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1).peekable();
    while let Some((at, c)) = chars.next() {
        if c == quote {
            return Ok((out, at + 1));
        }
        if c != '\\' || quote == '`' {
            out.push(c);
            continue;
        }
        let Some((_, e)) = chars.next() else { break };
        let mut hex = |n: usize| -> Result<char, (usize, String)> {
            let mut code = 0u32;
            for _ in 0..n {
                let d = chars.next().and_then(|(_, c)| c.to_digit(16));
                code = code * 16 + d.ok_or((at, "invalid escape in string literal".to_owned()))?;
            }
            char::from_u32(code).ok_or((
                at,
                format!("invalid character code {code:#x} in string literal"),
            ))
        };
        out.push(match e {
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            'a' => '\u{7}',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'v' => '\u{b}',
            '0'..='7' => {
                let mut code = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    let d = chars.next().and_then(|(_, c)| c.to_digit(8));
                    code = code * 8
                        + d.ok_or((at, "invalid octal escape in string literal".to_owned()))?;
                }
                char::from_u32(code).ok_or((at, "invalid octal escape".to_owned()))?
            }
            'x' => hex(2)?,
            'u' => hex(4)?,
            'U' => hex(8)?,
            '\\' | '"' | '\'' | '`' => e,
            other => return Err((at, format!("unknown escape '\\{other}' in string literal"))),
        });
    }
    Err((
        0,
        format!("string literal starting {quote} is not terminated"),
    ))
}

/// A node of the syntax tree, with the byte offset it starts at.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    kind: NodeKind,
    offset: usize,
}

#[derive(Clone, Debug)]
pub(crate) enum NodeKind {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Ident(String),
    /// `#`, `#index`, `#acc` (and `.field`'s implied `#`).
    Pointer(String),
    Member {
        object: Box<Node>,
        property: Box<Node>,
        optional: bool,
    },
    Slice {
        object: Box<Node>,
        from: Option<Box<Node>>,
        to: Option<Box<Node>>,
    },
    /// A function: a builtin, an Argo function or `sprig.name`.
    Call {
        name: String,
        args: Vec<Node>,
    },
    /// A method of a value (`(a - b).Seconds()`).
    Method {
        object: Box<Node>,
        name: String,
        args: Vec<Node>,
    },
    Closure(Box<Node>),
    Unary(&'static str, Box<Node>),
    Binary(&'static str, Box<Node>, Box<Node>),
    Conditional(Box<Node>, Box<Node>, Box<Node>),
    Array(Vec<Node>),
    Map(Vec<(Node, Node)>),
    Let(String, Box<Node>, Box<Node>),
}

/// A parsed expr-lang expression.
#[derive(Clone, Debug)]
pub struct Ast {
    source: String,
    root: Node,
}

fn binary_precedence(op: &str) -> Option<(u32, bool)> {
    Some(match op {
        "|" => (0, false),
        "or" | "||" => (10, false),
        "and" | "&&" => (15, false),
        "==" | "!=" | "<" | ">" | ">=" | "<=" | "in" | "matches" | "contains" | "startsWith"
        | "endsWith" => (20, false),
        ".." => (25, false),
        "+" | "-" => (30, false),
        "*" | "/" | "%" => (60, false),
        "**" | "^" => (100, true),
        "??" => (500, false),
        _ => return None,
    })
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    /// Nesting of closures: `#` and `.field` are valid only inside one.
    closures: usize,
}

type PResult = Result<Node, ExprError>;

impl Parser<'_> {
    fn peek(&self) -> &Token {
        let last = self.tokens.len() - 1;
        &self.tokens[self.pos.min(last)]
    }

    fn peek_at(&self, n: usize) -> &Token {
        let last = self.tokens.len() - 1;
        &self.tokens[(self.pos + n).min(last)]
    }

    fn advance(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(&self.peek().tok, Tok::Op(o) if *o == op)
    }

    fn error_here(&self, message: String) -> ExprError {
        let t = self.peek();
        ExprError::at(self.src, t.offset, message)
    }

    fn unexpected(&self, wanted: &str) -> ExprError {
        let t = self.peek();
        self.error_here(format!("unexpected token '{}'; expected {wanted}", t.text))
    }

    fn expect(&mut self, op: &str) -> Result<Token, ExprError> {
        if self.is_op(op) {
            Ok(self.advance())
        } else {
            Err(self.unexpected(&format!("'{op}'")))
        }
    }

    fn enter(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_here(format!("expression nests deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn node(kind: NodeKind, offset: usize) -> Node {
        Node { kind, offset }
    }

    /// `let` bindings and `;` sequences, or one expression.
    fn sequence(&mut self) -> PResult {
        if self.is_op("let") {
            let start = self.advance().offset;
            let name = match self.advance() {
                Token {
                    tok: Tok::Ident(name),
                    ..
                } => name,
                t => {
                    return Err(ExprError::at(
                        self.src,
                        t.offset,
                        format!("unexpected token '{}'; expected a variable name", t.text),
                    ));
                }
            };
            self.expect("=")?;
            self.enter()?;
            let value = self.expression(0)?;
            self.expect(";")?;
            let body = self.sequence()?;
            self.depth -= 1;
            return Ok(Self::node(
                NodeKind::Let(name, Box::new(value), Box::new(body)),
                start,
            ));
        }
        self.expression(0)
    }

    fn expression(&mut self, precedence: u32) -> PResult {
        self.enter()?;
        let mut left = self.primary()?;
        let mut chained = 0;
        let mut prev_op = "";
        loop {
            let token = self.peek().clone();
            let Tok::Op(mut op) = token.tok else { break };
            let mut negate = false;
            if op == "not" {
                let next = self.peek_at(1).clone();
                match next.tok {
                    Tok::Op(o @ ("in" | "matches" | "contains" | "startsWith" | "endsWith")) => {
                        op = o;
                        negate = true;
                    }
                    _ => break,
                }
            }
            let Some((prec, right_assoc)) = binary_precedence(op) else {
                break;
            };
            if prec < precedence {
                break;
            }
            if prev_op == "??" && op != "??" {
                return Err(ExprError::at(
                    self.src,
                    token.offset,
                    format!("operator '{op}' and '??' cannot be mixed; wrap either in parentheses"),
                ));
            }
            self.advance();
            if negate {
                self.advance();
            }
            chained += 1;
            self.enter()?;
            if op == "|" {
                // `x | f(args)` is `f(x, args)`.
                let name_token = self.advance();
                let Tok::Ident(name) = name_token.tok else {
                    return Err(ExprError::at(
                        self.src,
                        name_token.offset,
                        format!(
                            "unexpected token '{}'; expected a function name after '|'",
                            name_token.text
                        ),
                    ));
                };
                let mut args = vec![left];
                if self.is_op("(") {
                    self.advance();
                    self.arguments(&name, &mut args)?;
                }
                left = Self::node(NodeKind::Call { name, args }, name_token.offset);
                prev_op = op;
                continue;
            }
            let right = self.expression(if right_assoc { prec } else { prec + 1 })?;
            let is_comparison = matches!(op, "<" | ">" | "<=" | ">=");
            left = match (&left.kind, is_comparison) {
                // `a < b < c` is `a < b && b < c`.
                (NodeKind::Binary(prev @ ("<" | ">" | "<=" | ">="), _, middle), true)
                    if matches!(prev_op, "<" | ">" | "<=" | ">=") =>
                {
                    let middle = (**middle).clone();
                    let offset = left.offset;
                    let second = Self::node(
                        NodeKind::Binary(op, Box::new(middle), Box::new(right)),
                        token.offset,
                    );
                    Self::node(
                        NodeKind::Binary("&&", Box::new(left), Box::new(second)),
                        offset,
                    )
                }
                _ => {
                    let offset = left.offset;
                    Self::node(
                        NodeKind::Binary(op, Box::new(left), Box::new(right)),
                        offset,
                    )
                }
            };
            if negate {
                left = Self::node(NodeKind::Unary("not", Box::new(left)), token.offset);
            }
            prev_op = op;
        }
        if precedence == 0 {
            while self.is_op("?") {
                let q = self.advance();
                chained += 1;
                self.enter()?;
                let offset = left.offset;
                if self.is_op(":") {
                    // `a ?: b`: `a` unless it is nil or false.
                    self.advance();
                    let no = self.expression(0)?;
                    left = Self::node(
                        NodeKind::Binary("?:", Box::new(left), Box::new(no)),
                        q.offset,
                    );
                    continue;
                }
                let yes = self.expression(0)?;
                self.expect(":")?;
                let no = self.expression(0)?;
                left = Self::node(
                    NodeKind::Conditional(Box::new(left), Box::new(yes), Box::new(no)),
                    offset,
                );
            }
        }
        self.depth -= 1 + chained;
        Ok(left)
    }

    fn primary(&mut self) -> PResult {
        let token = self.peek().clone();
        if let Tok::Op(op @ ("not" | "!" | "-" | "+")) = token.tok {
            self.advance();
            let prec = if matches!(op, "not" | "!") { 50 } else { 90 };
            let operand = self.expression(prec)?;
            let op = if op == "!" { "not" } else { op };
            let node = Self::node(NodeKind::Unary(op, Box::new(operand)), token.offset);
            return self.postfix(node);
        }
        if self.is_op("(") {
            self.advance();
            let inner = self.sequence()?;
            self.expect(")")?;
            return self.postfix(inner);
        }
        if self.closures > 0 && (self.is_op("#") || self.is_op(".")) {
            let name = if self.is_op("#") {
                self.advance();
                match &self.peek().tok {
                    Tok::Ident(name) => {
                        let name = name.clone();
                        self.advance();
                        name
                    }
                    _ => String::new(),
                }
            } else {
                String::new()
            };
            let node = Self::node(NodeKind::Pointer(name), token.offset);
            return self.postfix(node);
        }
        self.advance();
        let node = match token.tok {
            Tok::Int(i) => NodeKind::Int(i),
            Tok::Float(f) => NodeKind::Float(f),
            Tok::Str(s) => NodeKind::Str(s),
            Tok::Ident(name) => match name.as_str() {
                "true" => NodeKind::Bool(true),
                "false" => NodeKind::Bool(false),
                "nil" => NodeKind::Nil,
                _ if self.is_op("(") => {
                    self.advance();
                    let mut args = Vec::new();
                    self.arguments(&name, &mut args)?;
                    NodeKind::Call { name, args }
                }
                _ => NodeKind::Ident(name),
            },
            Tok::Op("[") => {
                let mut items = Vec::new();
                while !self.is_op("]") {
                    items.push(self.expression(0)?);
                    if !self.is_op("]") {
                        self.expect(",")?;
                    }
                }
                self.advance();
                NodeKind::Array(items)
            }
            Tok::Op("{") => {
                let mut entries = Vec::new();
                while !self.is_op("}") {
                    let key_token = self.peek().clone();
                    let key = match key_token.tok {
                        Tok::Ident(name) => {
                            self.advance();
                            Self::node(NodeKind::Str(name), key_token.offset)
                        }
                        Tok::Str(s) => {
                            self.advance();
                            Self::node(NodeKind::Str(s), key_token.offset)
                        }
                        Tok::Int(i) => {
                            self.advance();
                            Self::node(NodeKind::Str(i.to_string()), key_token.offset)
                        }
                        Tok::Op("(") => self.primary()?,
                        _ => return Err(self.unexpected("a map key")),
                    };
                    self.expect(":")?;
                    let value = self.expression(0)?;
                    entries.push((key, value));
                    if !self.is_op("}") {
                        self.expect(",")?;
                    }
                }
                self.advance();
                NodeKind::Map(entries)
            }
            _ => {
                self.pos -= 1;
                return Err(self.unexpected("a value"));
            }
        };
        let node = Self::node(node, token.offset);
        self.postfix(node)
    }

    /// Arguments after `(`, through `)`. The predicate argument of a
    /// predicate builtin is a closure.
    fn arguments(&mut self, name: &str, args: &mut Vec<Node>) -> Result<(), ExprError> {
        let predicate = PREDICATES.contains(&name);
        while !self.is_op(")") {
            if predicate && args.len() == 1 {
                let offset = self.peek().offset;
                self.closures += 1;
                let body = if self.is_op("{") {
                    self.advance();
                    let body = self.sequence()?;
                    self.expect("}")?;
                    body
                } else {
                    self.expression(0)?
                };
                self.closures -= 1;
                args.push(Self::node(NodeKind::Closure(Box::new(body)), offset));
            } else {
                args.push(self.expression(0)?);
            }
            if !self.is_op(")") {
                self.expect(",")?;
            }
        }
        self.advance();
        Ok(())
    }

    fn postfix(&mut self, mut node: Node) -> PResult {
        let mut chained = 0;
        loop {
            let token = self.peek().clone();
            match token.tok {
                Tok::Op(op @ ("." | "?.")) => {
                    self.advance();
                    let optional = op == "?.";
                    if optional && self.is_op("[") {
                        continue;
                    }
                    let name_token = self.advance();
                    let name = match name_token.tok {
                        Tok::Ident(name) => name,
                        Tok::Op(word) if word.chars().all(char::is_alphabetic) => word.to_owned(),
                        _ => {
                            return Err(ExprError::at(
                                self.src,
                                name_token.offset,
                                format!(
                                    "unexpected token '{}'; expected a property name",
                                    name_token.text
                                ),
                            ));
                        }
                    };
                    chained += 1;
                    self.enter()?;
                    if self.is_op("(") {
                        self.advance();
                        let mut args = Vec::new();
                        let offset = node.offset;
                        let call = match &node.kind {
                            NodeKind::Ident(root) if root == "sprig" => {
                                let name = format!("sprig.{name}");
                                self.arguments(&name, &mut args)?;
                                NodeKind::Call { name, args }
                            }
                            _ => {
                                self.arguments(&name, &mut args)?;
                                NodeKind::Method {
                                    object: Box::new(node),
                                    name,
                                    args,
                                }
                            }
                        };
                        node = Self::node(call, offset);
                    } else {
                        let property = Self::node(NodeKind::Str(name), name_token.offset);
                        let offset = node.offset;
                        node = Self::node(
                            NodeKind::Member {
                                object: Box::new(node),
                                property: Box::new(property),
                                optional,
                            },
                            offset,
                        );
                    }
                }
                Tok::Op("[") => {
                    self.advance();
                    chained += 1;
                    self.enter()?;
                    let offset = node.offset;
                    let from = if self.is_op(":") {
                        None
                    } else {
                        Some(self.expression(0)?)
                    };
                    if self.is_op(":") {
                        self.advance();
                        let to = if self.is_op("]") {
                            None
                        } else {
                            Some(self.expression(0)?)
                        };
                        self.expect("]")?;
                        node = Self::node(
                            NodeKind::Slice {
                                object: Box::new(node),
                                from: from.map(Box::new),
                                to: to.map(Box::new),
                            },
                            offset,
                        );
                    } else {
                        self.expect("]")?;
                        let Some(property) = from else {
                            return Err(self.unexpected("an index"));
                        };
                        let optional = matches!(
                            self.tokens.get(self.pos.wrapping_sub(3)),
                            Some(Token {
                                tok: Tok::Op("?."),
                                ..
                            })
                        );
                        node = Self::node(
                            NodeKind::Member {
                                object: Box::new(node),
                                property: Box::new(property),
                                optional,
                            },
                            offset,
                        );
                    }
                }
                _ => break,
            }
        }
        self.depth -= chained;
        Ok(node)
    }
}

/// Parses an expr-lang expression.
pub fn parse_expr(text: &str) -> Result<Ast, ExprError> {
    check_len(text)?;
    let tokens = lex(text)?;
    let mut parser = Parser {
        src: text,
        tokens,
        pos: 0,
        depth: 0,
        closures: 0,
    };
    if parser.peek().tok == Tok::End {
        return Err(parser.error_here("empty expression".to_owned()));
    }
    let root = parser.sequence()?;
    if parser.peek().tok != Tok::End {
        return Err(parser.unexpected("an operator or the end of the expression"));
    }
    Ok(Ast {
        source: text.to_owned(),
        root,
    })
}

/// What a closure sees: `#`, `#index` and `#acc`.
#[derive(Clone, Debug)]
pub(crate) struct Frame {
    pub(crate) item: Value,
    pub(crate) index: i64,
    pub(crate) acc: Option<Value>,
}

pub(crate) struct Eval<'a> {
    src: &'a str,
    scope: &'a dyn Scope,
    lets: Vec<(String, Value)>,
    frames: Vec<Frame>,
    /// Inside the left side of `??`: member and index accesses on nil (or
    /// a missing name) give nil, as expr-lang makes that side optional.
    optional: u32,
}

impl Ast {
    /// Evaluates the expression against `scope`.
    pub fn eval(&self, scope: &dyn Scope) -> Result<Value, ExprError> {
        let mut ev = Eval {
            optional: 0,
            src: &self.source,
            scope,
            lets: Vec::new(),
            frames: Vec::new(),
        };
        ev.eval(&self.root)
    }

    /// The expression text.
    pub fn source(&self) -> &str {
        &self.source
    }
}

fn type_name(v: &Value) -> &'static str {
    v.kind()
}

/// expr-lang's equality: numbers compare by value across int and float.
pub(crate) fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Int(x), Value::Float(y)) | (Value::Float(y), Value::Int(x)) => (*x as f64) == *y,
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| equal(a, b))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => a == b,
    }
}

pub(crate) fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Time(x), Value::Time(y)) => Some(x.cmp(y)),
        (Value::Duration(x), Value::Duration(y)) => Some(x.cmp(y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

fn mismatched(op: &str, a: &Value, b: &Value) -> String {
    format!(
        "invalid operation: {op} (mismatched types {} and {})",
        type_name(a),
        type_name(b)
    )
}

impl Eval<'_> {
    fn err(&self, node: &Node, message: impl Into<String>) -> ExprError {
        ExprError::at(self.src, node.offset, message)
    }

    /// The identifiers and string properties of a member chain rooted at a
    /// variable: `a.b["c"]` gives `["a", "b", "c"]`.
    fn static_path<'n>(&self, node: &'n Node, out: &mut Vec<&'n str>) -> bool {
        match &node.kind {
            NodeKind::Ident(name) => {
                if self.lets.iter().any(|(n, _)| n == name) {
                    return false;
                }
                out.push(name);
                true
            }
            NodeKind::Member {
                object,
                property,
                optional: false,
            } => match &property.kind {
                NodeKind::Str(key) => {
                    if !self.static_path(object, out) {
                        return false;
                    }
                    out.push(key);
                    true
                }
                _ => false,
            },
            _ => false,
        }
    }

    /// Looks a chain up in the scope, longest known prefix first.
    fn lookup(&self, node: &Node, path: &[&str]) -> Result<Value, ExprError> {
        for k in (1..=path.len()).rev() {
            if let Some(found) = self.scope.get(&path[..k].join(".")) {
                let mut value = found;
                for (i, key) in path[k..].iter().enumerate() {
                    if self.optional > 0 && value == Value::Null {
                        return Ok(Value::Null);
                    }
                    value = fetch(&value, &Value::String((*key).to_owned())).map_err(|_| {
                        self.err(
                            node,
                            format!(
                                "cannot fetch {key} from nil ({} is nil)",
                                path[..k + i].join(".")
                            ),
                        )
                    })?;
                }
                return Ok(value);
            }
        }
        if self.optional > 0 {
            return Ok(Value::Null);
        }
        Err(self.err(node, format!("unknown name {}", path[0])))
    }

    fn eval(&mut self, node: &Node) -> Result<Value, ExprError> {
        Ok(match &node.kind {
            NodeKind::Nil => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Int(i) => Value::Int(*i),
            NodeKind::Float(f) => Value::Float(*f),
            NodeKind::Str(s) => Value::String(s.clone()),
            NodeKind::Ident(name) => {
                if let Some((_, v)) = self.lets.iter().rev().find(|(n, _)| n == name) {
                    return Ok(v.clone());
                }
                self.lookup(node, &[name])?
            }
            NodeKind::Pointer(name) => {
                let frame = self
                    .frames
                    .last()
                    .ok_or_else(|| self.err(node, "'#' outside a closure"))?;
                match name.as_str() {
                    "" => frame.item.clone(),
                    "index" => Value::Int(frame.index),
                    "acc" => frame.acc.clone().unwrap_or(Value::Null),
                    other => return Err(self.err(node, format!("unknown pointer #{other}"))),
                }
            }
            NodeKind::Member {
                object,
                property,
                optional,
            } => {
                let mut path = Vec::new();
                if self.static_path(node, &mut path) {
                    return self.lookup(node, &path);
                }
                let base = self.eval(object)?;
                if base == Value::Null && (*optional || self.optional > 0 || chain_optional(object))
                {
                    return Ok(Value::Null);
                }
                let key = self.eval(property)?;
                match fetch(&base, &key) {
                    Ok(v) => v,
                    Err(_) if self.optional > 0 => Value::Null,
                    Err(m) => return Err(self.err(property, m)),
                }
            }
            NodeKind::Slice { object, from, to } => {
                let base = self.eval(object)?;
                let from = match from {
                    Some(n) => Some(self.eval(n)?),
                    None => None,
                };
                let to = match to {
                    Some(n) => Some(self.eval(n)?),
                    None => None,
                };
                slice(&base, from.as_ref(), to.as_ref()).map_err(|m| self.err(node, m))?
            }
            NodeKind::Call { name, args } => {
                if PREDICATES.contains(&name.as_str()) {
                    return functions::predicate(self, node, name, args);
                }
                let mut values = Vec::with_capacity(args.len());
                for arg in args {
                    values.push(self.eval(arg)?);
                }
                functions::call(name, values, self.scope).map_err(|m| self.err(node, m))?
            }
            NodeKind::Method { object, name, args } => {
                let base = self.eval(object)?;
                let mut values = Vec::with_capacity(args.len());
                for arg in args {
                    values.push(self.eval(arg)?);
                }
                functions::method(&base, name, values).map_err(|m| self.err(node, m))?
            }
            NodeKind::Closure(_) => {
                return Err(self.err(node, "a closure can only be a predicate argument"));
            }
            NodeKind::Unary(op, operand) => {
                let v = self.eval(operand)?;
                match (*op, v) {
                    ("not", Value::Bool(b)) => Value::Bool(!b),
                    ("-", Value::Int(i)) => Value::Int(i.wrapping_neg()),
                    ("-", Value::Float(f)) => Value::Float(-f),
                    ("-", Value::Duration(d)) => Value::Duration(-d),
                    ("+", v @ (Value::Int(_) | Value::Float(_))) => v,
                    (op, v) => {
                        return Err(
                            self.err(node, format!("invalid operation: {op} {}", type_name(&v)))
                        );
                    }
                }
            }
            NodeKind::Binary(op, left, right) => self.binary(node, op, left, right)?,
            NodeKind::Conditional(cond, yes, no) => match self.eval(cond)? {
                Value::Bool(true) => self.eval(yes)?,
                Value::Bool(false) => self.eval(no)?,
                other => {
                    return Err(self.err(
                        cond,
                        format!(
                            "non-bool expression (type {}) used as condition",
                            type_name(&other)
                        ),
                    ));
                }
            },
            NodeKind::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(self.eval(item)?);
                }
                Value::List(out)
            }
            NodeKind::Map(entries) => {
                let mut out = BTreeMap::new();
                for (k, v) in entries {
                    let key = match self.eval(k)? {
                        Value::String(s) => s,
                        other => other.to_go_string(),
                    };
                    out.insert(key, self.eval(v)?);
                }
                Value::Map(out)
            }
            NodeKind::Let(name, value, body) => {
                let v = self.eval(value)?;
                self.lets.push((name.clone(), v));
                let result = self.eval(body);
                self.lets.pop();
                result?
            }
        })
    }

    /// Runs a closure body with `frame` as `#`.
    pub(crate) fn run_closure(&mut self, closure: &Node, frame: Frame) -> Result<Value, ExprError> {
        let NodeKind::Closure(body) = &closure.kind else {
            return Err(self.err(closure, "expected a closure"));
        };
        self.frames.push(frame);
        let result = self.eval(body);
        self.frames.pop();
        result
    }

    pub(crate) fn eval_node(&mut self, node: &Node) -> Result<Value, ExprError> {
        self.eval(node)
    }

    pub(crate) fn error_at(&self, node: &Node, message: impl Into<String>) -> ExprError {
        self.err(node, message)
    }

    fn binary(
        &mut self,
        node: &Node,
        op: &str,
        left: &Node,
        right: &Node,
    ) -> Result<Value, ExprError> {
        let l = if op == "??" {
            self.optional += 1;
            let l = self.eval(left);
            self.optional -= 1;
            l?
        } else {
            self.eval(left)?
        };
        match (op, &l) {
            ("and" | "&&", Value::Bool(false)) => return Ok(Value::Bool(false)),
            ("or" | "||", Value::Bool(true)) => return Ok(Value::Bool(true)),
            ("and" | "&&" | "or" | "||", Value::Bool(_)) => {}
            ("and" | "&&" | "or" | "||", other) => {
                return Err(self.err(
                    left,
                    format!(
                        "invalid operation: {op} on {} (a bool is needed)",
                        type_name(other)
                    ),
                ));
            }
            ("??", Value::Null) => return self.eval(right),
            ("??", _) => return Ok(l),
            ("?:", Value::Null | Value::Bool(false)) => return self.eval(right),
            ("?:", _) => return Ok(l),
            _ => {}
        }
        let r = self.eval(right)?;
        let fail = |m: String| ExprError::at(self.src, node.offset, m);
        Ok(match op {
            "and" | "&&" | "or" | "||" => match r {
                Value::Bool(b) => Value::Bool(b),
                other => {
                    return Err(self.err(
                        right,
                        format!(
                            "invalid operation: {op} on {} (a bool is needed)",
                            type_name(&other)
                        ),
                    ));
                }
            },
            "==" => Value::Bool(equal(&l, &r)),
            "!=" => Value::Bool(!equal(&l, &r)),
            "<" | ">" | "<=" | ">=" => {
                let ord = compare(&l, &r).ok_or_else(|| fail(mismatched(op, &l, &r)))?;
                Value::Bool(match op {
                    "<" => ord.is_lt(),
                    ">" => ord.is_gt(),
                    "<=" => ord.is_le(),
                    _ => ord.is_ge(),
                })
            }
            "in" => match &r {
                Value::List(items) => Value::Bool(items.iter().any(|i| equal(i, &l))),
                Value::Map(fields) => match &l {
                    Value::String(k) => Value::Bool(fields.contains_key(k)),
                    _ => Value::Bool(false),
                },
                Value::Null => Value::Bool(false),
                other => {
                    return Err(fail(format!(
                        "invalid operation: in (mismatched types {} and {})",
                        type_name(&l),
                        type_name(other)
                    )));
                }
            },
            "matches" | "contains" | "startsWith" | "endsWith" => {
                let (Value::String(s), Value::String(p)) = (&l, &r) else {
                    return Err(fail(mismatched(op, &l, &r)));
                };
                Value::Bool(match op {
                    "matches" => regex::Regex::new(p)
                        .map_err(|e| {
                            ExprError::at(
                                self.src,
                                right.offset,
                                format!("invalid regular expression {p:?}: {e}"),
                            )
                        })?
                        .is_match(s),
                    "contains" => s.contains(p.as_str()),
                    "startsWith" => s.starts_with(p.as_str()),
                    _ => s.ends_with(p.as_str()),
                })
            }
            ".." => match (&l, &r) {
                (Value::Int(a), Value::Int(b)) => {
                    if b >= a && (b - a) as u64 >= MAX_COLLECTION as u64 {
                        return Err(fail(format!(
                            "range {a}..{b} has more than {MAX_COLLECTION} elements"
                        )));
                    }
                    Value::List((*a..=*b).map(Value::Int).collect())
                }
                _ => return Err(fail(mismatched(op, &l, &r))),
            },
            _ => arithmetic(op, &l, &r).map_err(fail)?,
        })
    }
}

fn chain_optional(node: &Node) -> bool {
    match &node.kind {
        NodeKind::Member {
            object, optional, ..
        } => *optional || chain_optional(object),
        NodeKind::Method { object, .. } => chain_optional(object),
        _ => false,
    }
}

pub(crate) fn arithmetic(op: &str, l: &Value, r: &Value) -> Result<Value, String> {
    use Value::{Duration, Float, Int, List, String as Str, Time};
    Ok(match (op, l, r) {
        ("+", Int(a), Int(b)) => Int(a.wrapping_add(*b)),
        ("-", Int(a), Int(b)) => Int(a.wrapping_sub(*b)),
        ("*", Int(a), Int(b)) => Int(a.wrapping_mul(*b)),
        ("%", Int(a), Int(b)) => {
            if *b == 0 {
                return Err("integer divide by zero".to_owned());
            }
            Int(a.wrapping_rem(*b))
        }
        ("%", _, _) => return Err(mismatched(op, l, r)),
        ("+", Str(a), Str(b)) => Str(format!("{a}{b}")),
        ("+", List(a), List(b)) => List(a.iter().chain(b).cloned().collect()),
        ("+", Time(t), Duration(d)) | ("+", Duration(d), Time(t)) => Time(*t + *d),
        ("-", Time(t), Duration(d)) => Time(*t - *d),
        ("-", Time(a), Time(b)) => Duration(a.signed_duration_since(*b)),
        ("+", Duration(a), Duration(b)) => Duration(*a + *b),
        ("-", Duration(a), Duration(b)) => Duration(*a - *b),
        ("*", Duration(d), Int(n)) | ("*", Int(n), Duration(d)) => {
            Duration(TimeDelta::nanoseconds(duration_nanos(*d).wrapping_mul(*n)))
        }
        (_, a, b) => {
            let (Some(x), Some(y)) = (a.as_f64(), b.as_f64()) else {
                return Err(mismatched(op, l, r));
            };
            match op {
                "+" => Float(x + y),
                "-" => Float(x - y),
                "*" => Float(x * y),
                "/" => Float(x / y),
                "**" | "^" => Float(x.powf(y)),
                _ => return Err(format!("unknown operator {op}")),
            }
        }
    })
}

/// expr-lang's member access: map key (missing gives nil), list index
/// (negative from the end), string byte.
pub(crate) fn fetch(base: &Value, key: &Value) -> Result<Value, String> {
    match (base, key) {
        (Value::Map(fields), Value::String(k)) => Ok(fields.get(k).cloned().unwrap_or(Value::Null)),
        (Value::Map(_), _) => Ok(Value::Null),
        (Value::List(items), Value::Int(i)) => {
            let len = items.len() as i64;
            let at = if *i < 0 { len + i } else { *i };
            if at < 0 || at >= len {
                return Err(format!("index out of range: {i} (array length is {len})"));
            }
            Ok(items[at as usize].clone())
        }
        (Value::List(items), Value::Float(f)) => {
            fetch(&Value::List(items.clone()), &Value::Int(*f as i64))
        }
        (Value::String(s), Value::Int(i)) => {
            let chars: Vec<char> = s.chars().collect();
            let len = chars.len() as i64;
            let at = if *i < 0 { len + i } else { *i };
            if at < 0 || at >= len {
                return Err(format!("index out of range: {i} (string length is {len})"));
            }
            Ok(Value::String(chars[at as usize].to_string()))
        }
        (Value::Null, k) => Err(format!("cannot fetch {} from nil", k.to_go_string())),
        (b, k) => Err(format!(
            "cannot fetch {} from {}",
            k.to_go_string(),
            type_name(b)
        )),
    }
}

fn slice(base: &Value, from: Option<&Value>, to: Option<&Value>) -> Result<Value, String> {
    let bound = |v: Option<&Value>, default: i64, len: i64| -> Result<i64, String> {
        match v {
            None => Ok(default),
            Some(Value::Int(i)) => Ok(if *i < 0 {
                (len + i).max(0)
            } else {
                (*i).min(len)
            }),
            Some(other) => Err(format!(
                "slice bound must be an int, not {}",
                type_name(other)
            )),
        }
    };
    match base {
        Value::List(items) => {
            let len = items.len() as i64;
            let (a, b) = (bound(from, 0, len)?, bound(to, len, len)?);
            Ok(Value::List(if a < b {
                items[a as usize..b as usize].to_vec()
            } else {
                Vec::new()
            }))
        }
        Value::String(s) => {
            let chars: Vec<char> = s.chars().collect();
            let len = chars.len() as i64;
            let (a, b) = (bound(from, 0, len)?, bound(to, len, len)?);
            Ok(Value::String(if a < b {
                chars[a as usize..b as usize].iter().collect()
            } else {
                String::new()
            }))
        }
        other => Err(format!("cannot slice {}", type_name(other))),
    }
}
