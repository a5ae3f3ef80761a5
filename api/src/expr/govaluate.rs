//! `when` conditions, read as upstream reads them: the text (tags already
//! substituted) is lexed and planned by govaluate's rules, every variable
//! token is then turned into a string (so `heads == heads` compares two
//! strings), and the result must be a boolean.
//!
//! Behaviour kept from govaluate: numbers are `float64` (`10 > 9` compares
//! numbers, `'10' > '9'` compares strings); a word runs over letters,
//! digits, `_` and `.` only, so `flip-coin` is `flip - coin` (an error on
//! strings); `a.B` is a field accessor, and `a.b` is refused; quoted text
//! that reads as a date is a time (compared as Unix seconds); `!` binds to
//! the value right after it; operators of one precedence group left to
//! right; `? :` and `??` share the lowest precedence above `,`.

use super::value::Value;
use super::{ExprError, MAX_DEPTH, check_len, gotime};

/// govaluate's token kinds (its lexer states).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Prefix,
    Numeric,
    Boolean,
    Str,
    Time,
    Variable,
    Accessor,
    Comparator,
    Logical,
    Modifier,
    Ternary,
    Clause,
    ClauseClose,
    Separator,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Prefix => "PREFIX",
            Kind::Numeric => "NUMERIC",
            Kind::Boolean => "BOOLEAN",
            Kind::Str => "STRING",
            Kind::Time => "TIME",
            Kind::Variable => "VARIABLE",
            Kind::Accessor => "ACCESSOR",
            Kind::Comparator => "COMPARATOR",
            Kind::Logical => "LOGICALOP",
            Kind::Modifier => "MODIFIER",
            Kind::Ternary => "TERNARY",
            Kind::Clause => "CLAUSE",
            Kind::ClauseClose => "CLAUSE_CLOSE",
            Kind::Separator => "SEPARATOR",
        }
    }

    /// Whether a token of kind `next` may follow one of this kind
    /// (`None` is the start of the expression).
    fn allows(this: Option<Kind>, next: Kind) -> bool {
        use Kind::*;
        let operand = matches!(
            next,
            Prefix | Numeric | Boolean | Variable | Accessor | Str | Time | Clause
        );
        match this {
            None => operand,
            Some(Clause) => operand || next == ClauseClose,
            Some(ClauseClose) => !matches!(next, Prefix | Accessor),
            Some(Numeric | Boolean | Str | Variable) => {
                matches!(
                    next,
                    Modifier | Comparator | Logical | ClauseClose | Ternary | Separator
                )
            }
            Some(Time) => matches!(
                next,
                Modifier | Comparator | Logical | ClauseClose | Separator
            ),
            Some(Modifier) => {
                matches!(
                    next,
                    Prefix | Numeric | Variable | Accessor | Str | Boolean | Clause | ClauseClose
                )
            }
            Some(Comparator) => operand || next == ClauseClose,
            Some(Logical) => operand || next == ClauseClose,
            Some(Prefix) => matches!(
                next,
                Numeric | Boolean | Variable | Accessor | Clause | ClauseClose
            ),
            Some(Ternary) => operand || next == Separator,
            Some(Accessor) => {
                matches!(
                    next,
                    Clause | Modifier | Comparator | Logical | ClauseClose | Ternary | Separator
                )
            }
            Some(Separator) => operand,
        }
    }

    /// Whether an expression may end after this kind.
    fn can_end(this: Option<Kind>) -> bool {
        matches!(
            this,
            Some(
                Kind::ClauseClose
                    | Kind::Numeric
                    | Kind::Boolean
                    | Kind::Str
                    | Kind::Time
                    | Kind::Variable
                    | Kind::Accessor
            )
        )
    }
}

#[derive(Clone, Debug)]
struct Token {
    kind: Kind,
    /// Operator or word text; string contents for strings.
    text: String,
    number: f64,
    offset: usize,
}

struct Lexer<'a> {
    src: &'a str,
    chars: Vec<(usize, char)>,
    pos: usize,
}

impl Lexer<'_> {
    /// govaluate's `readUntilFalse`: backslash escapes the next character;
    /// whitespace ends a non-empty token (`break_ws`) or is kept
    /// (`keep_ws`) or skipped. Returns the text and whether a character
    /// failing `cond` ended it (rather than the end of input).
    fn read_until(
        &mut self,
        keep_ws: bool,
        break_ws: bool,
        cond: impl Fn(char) -> bool,
    ) -> (String, bool) {
        let mut buf = String::new();
        while let Some(&(_, c)) = self.chars.get(self.pos) {
            self.pos += 1;
            if c == '\\' {
                if let Some(&(_, escaped)) = self.chars.get(self.pos) {
                    self.pos += 1;
                    buf.push(escaped);
                }
                continue;
            }
            if c.is_whitespace() {
                if break_ws && !buf.is_empty() {
                    return (buf, true);
                }
                if !keep_ws {
                    continue;
                }
            }
            if cond(c) {
                buf.push(c);
            } else {
                self.pos -= 1;
                return (buf, true);
            }
        }
        (buf, false)
    }

    fn error(&self, offset: usize, message: String) -> ExprError {
        ExprError::at(self.src, offset, message)
    }

    fn next(&mut self, prev: Option<Kind>) -> Result<Option<Token>, ExprError> {
        while self
            .chars
            .get(self.pos)
            .is_some_and(|c| c.1.is_whitespace())
        {
            self.pos += 1;
        }
        let Some(&(offset, c)) = self.chars.get(self.pos) else {
            return Ok(None);
        };
        let token = |kind, text: String, number| Token {
            kind,
            text,
            number,
            offset,
        };
        if is_numeric(c) {
            if c == '0'
                && self.chars.get(self.pos + 1).is_some_and(|c| c.1 == 'x')
                && self.pos + 2 < self.chars.len()
            {
                self.pos += 2;
                let (hex, _) = self.read_until(false, true, |c| c.is_ascii_hexdigit());
                let value = u64::from_str_radix(&hex, 16).map_err(|_| {
                    self.error(offset, format!("unable to parse hex value '0x{hex}'"))
                })?;
                return Ok(Some(token(Kind::Numeric, format!("0x{hex}"), value as f64)));
            }
            let (text, _) = self.read_until(false, true, is_numeric);
            let value: f64 = text.parse().map_err(|_| {
                self.error(
                    offset,
                    format!("unable to parse numeric value '{text}' to float64"),
                )
            })?;
            return Ok(Some(token(Kind::Numeric, text, value)));
        }
        match c {
            ',' => {
                self.pos += 1;
                return Ok(Some(token(Kind::Separator, ",".into(), 0.0)));
            }
            '(' | ')' => {
                self.pos += 1;
                let kind = if c == '(' {
                    Kind::Clause
                } else {
                    Kind::ClauseClose
                };
                return Ok(Some(token(kind, c.to_string(), 0.0)));
            }
            '[' => {
                self.pos += 1;
                let (name, closed) = self.read_until(true, false, |c| c != ']');
                if !closed {
                    return Err(self.error(offset, "unclosed parameter bracket '['".into()));
                }
                self.pos += 1;
                return Ok(Some(token(Kind::Variable, name, 0.0)));
            }
            '\'' | '"' => {
                self.pos += 1;
                let (text, closed) = self.read_until(true, false, |c| c != '\'' && c != '"');
                if !closed {
                    return Err(self.error(offset, format!("unclosed string literal {c}{text}")));
                }
                self.pos += 1;
                return Ok(Some(match parse_time(&text) {
                    Some(seconds) => token(Kind::Time, text, seconds),
                    None => token(Kind::Str, text, 0.0),
                }));
            }
            _ => {}
        }
        if c.is_alphabetic() {
            let (word, _) =
                self.read_until(false, true, |c| c.is_alphanumeric() || c == '_' || c == '.');
            let kind = match word.as_str() {
                "true" | "false" => Kind::Boolean,
                "in" | "IN" => Kind::Comparator,
                w if w.contains('.') => {
                    if w.ends_with('.') {
                        return Err(self.error(offset, format!("hanging accessor on token '{w}'")));
                    }
                    for part in w.split('.').skip(1) {
                        if part
                            .chars()
                            .next()
                            .is_some_and(|c| c.to_uppercase().next() != Some(c))
                        {
                            return Err(self.error(
                                offset,
                                format!(
                                    "unable to access unexported field '{part}' in token '{w}'"
                                ),
                            ));
                        }
                    }
                    Kind::Accessor
                }
                _ => Kind::Variable,
            };
            let text = if kind == Kind::Comparator {
                "in".to_owned()
            } else {
                word
            };
            return Ok(Some(token(kind, text, 0.0)));
        }
        let (symbol, _) = self.read_until(false, true, |c| {
            !(c.is_numeric()
                || c.is_alphabetic()
                || matches!(c, '(' | ')' | '[' | ']' | '\'' | '"'))
        });
        let kind = match symbol.as_str() {
            "-" | "!" | "~" if Kind::allows(prev, Kind::Prefix) => Kind::Prefix,
            "+" | "-" | "*" | "/" | "%" | "**" | "&" | "|" | "^" | ">>" | "<<" => Kind::Modifier,
            "&&" | "||" => Kind::Logical,
            "==" | "!=" | ">" | ">=" | "<" | "<=" | "=~" | "!~" => Kind::Comparator,
            "?" | ":" | "??" => Kind::Ternary,
            _ => {
                if symbol.is_empty() {
                    self.pos += 1;
                    return Err(self.error(offset, format!("invalid token: '{c}'")));
                }
                return Err(self.error(offset, format!("invalid token: '{symbol}'")));
            }
        };
        Ok(Some(token(kind, symbol, 0.0)))
    }
}

fn is_numeric(c: char) -> bool {
    c.is_ascii_digit() || c == '.'
}

/// govaluate's date literals: quoted text in one of its formats is a time,
/// evaluated as Unix seconds (zone-less times read as UTC).
fn parse_time(text: &str) -> Option<f64> {
    const LAYOUTS: [&str; 14] = [
        "Mon Jan _2 15:04:05 2006",
        "Mon Jan _2 15:04:05 MST 2006",
        "Mon Jan 02 15:04:05 -0700 2006",
        "3:04PM",
        "2006-01-02T15:04:05Z07:00",
        "2006-01-02T15:04:05.999999999Z07:00",
        "2006-01-02",
        "2006-01-02 15:04",
        "2006-01-02 15:04:05",
        "2006-01-02 15:04:05-07:00",
        "2006-01-02T15Z0700",
        "2006-01-02T15:04Z0700",
        "2006-01-02T15:04:05Z0700",
        "2006-01-02T15:04:05.999999999Z0700",
    ];
    LAYOUTS
        .iter()
        .find_map(|layout| gotime::parse(text, layout))
        .map(|t| t.timestamp() as f64)
}

/// A planned `when` expression.
#[derive(Clone, Debug)]
enum Node {
    Literal(Value),
    /// A regular expression literal (a string right of `=~`/`!~`).
    Pattern(String),
    /// A field accessor such as `a.B`; upstream has no parameters, so it
    /// always fails to evaluate.
    Accessor(String),
    /// `()`: nothing, which evaluates to nil.
    Empty,
    Prefix(String, Box<Node>),
    Binary(String, Box<Node>, Box<Node>),
}

/// Precedence groups, loosest first.
const LEVELS: [&[&str]; 10] = [
    &[","],
    &["?", ":", "??"],
    &["||"],
    &["&&"],
    &["==", "!=", ">", ">=", "<", "<=", "=~", "!~", "in"],
    &["&", "|", "^"],
    &["<<", ">>"],
    &["+", "-"],
    &["*", "/", "%"],
    &["**"],
];

struct Planner<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Planner<'_> {
    fn deeper(&mut self, offset: usize) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ExprError::at(
                self.src,
                offset,
                format!("expression nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn plan(&mut self, level: usize) -> Result<Node, ExprError> {
        if level == LEVELS.len() {
            return self.value();
        }
        let offset = self
            .tokens
            .get(self.pos)
            .map_or(self.src.len(), |t| t.offset);
        let mut left = self.plan(level + 1)?;
        let mut chain = 0;
        while let Some(token) = self.tokens.get(self.pos) {
            let is_op = matches!(
                token.kind,
                Kind::Separator | Kind::Ternary | Kind::Logical | Kind::Comparator | Kind::Modifier
            );
            if !is_op || !LEVELS[level].contains(&token.text.as_str()) {
                break;
            }
            let op = token.text.clone();
            self.pos += 1;
            chain += 1;
            self.deeper(offset)?;
            let right = self.plan(level + 1)?;
            left = Node::Binary(op, Box::new(left), Box::new(right));
        }
        self.depth -= chain;
        Ok(left)
    }

    fn value(&mut self) -> Result<Node, ExprError> {
        let Some(token) = self.tokens.get(self.pos).cloned() else {
            return Ok(Node::Empty);
        };
        self.pos += 1;
        Ok(match token.kind {
            Kind::Clause => {
                self.deeper(token.offset)?;
                let inner = if self
                    .tokens
                    .get(self.pos)
                    .is_some_and(|t| t.kind == Kind::ClauseClose)
                {
                    Node::Empty
                } else {
                    self.plan(0)?
                };
                // Balance was checked: this is the `)`.
                self.pos += 1;
                self.depth -= 1;
                inner
            }
            Kind::ClauseClose => {
                self.pos -= 1;
                Node::Empty
            }
            Kind::Prefix => {
                self.deeper(token.offset)?;
                let operand = self.value()?;
                self.depth -= 1;
                Node::Prefix(token.text, Box::new(operand))
            }
            Kind::Numeric | Kind::Time => Node::Literal(Value::Float(token.number)),
            Kind::Boolean => Node::Literal(Value::Bool(token.text == "true")),
            Kind::Str | Kind::Variable => Node::Literal(Value::String(token.text)),
            Kind::Accessor => Node::Accessor(token.text),
            _ => {
                return Err(ExprError::at(
                    self.src,
                    token.offset,
                    format!("unexpected token '{}'", token.text),
                ));
            }
        })
    }
}

/// Lexes, checks and plans a `when` expression without evaluating it.
/// Returns the number of tokens.
pub fn parse_when(text: &str) -> Result<usize, ExprError> {
    plan(text).map(|(_, n)| n)
}

fn plan(text: &str) -> Result<(Option<Node>, usize), ExprError> {
    check_len(text)?;
    let mut lexer = Lexer {
        src: text,
        chars: text.char_indices().collect(),
        pos: 0,
    };
    let mut tokens: Vec<Token> = Vec::new();
    let mut prev = None;
    while let Some(token) = lexer.next(prev)? {
        prev = Some(token.kind);
        tokens.push(token);
    }
    // Parentheses must balance.
    let mut open: Vec<usize> = Vec::new();
    let mut unbalanced = None;
    for token in &tokens {
        match token.kind {
            Kind::Clause => open.push(token.offset),
            Kind::ClauseClose if open.pop().is_none() && unbalanced.is_none() => {
                unbalanced = Some(token.offset);
            }
            _ => {}
        }
    }
    if let Some(offset) = unbalanced.or(open.last().copied()) {
        return Err(ExprError::at(text, offset, "unbalanced parenthesis"));
    }
    // Each token must be allowed after the one before it.
    let mut prev: Option<&Token> = None;
    for token in &tokens {
        if !Kind::allows(prev.map(|t| t.kind), token.kind) {
            let message = match prev {
                Some(p) if p.kind == Kind::Variable && token.kind == Kind::Clause => {
                    format!("undefined function '{}'", p.text)
                }
                Some(p) => format!(
                    "'{}' ({}) cannot follow '{}' ({})",
                    token.text,
                    token.kind.name(),
                    p.text,
                    p.kind.name()
                ),
                None => format!(
                    "'{}' ({}) cannot start an expression",
                    token.text,
                    token.kind.name()
                ),
            };
            return Err(ExprError::at(text, token.offset, message));
        }
        prev = Some(token);
    }
    if !tokens.is_empty() && !Kind::can_end(prev.map(|t| t.kind)) {
        return Err(ExprError::at(
            text,
            text.len(),
            "unexpected end of expression",
        ));
    }
    // A string right of `=~`/`!~` is a pattern, compiled now.
    let mut patterns = Vec::new();
    for pair in tokens.windows(2) {
        if pair[0].kind == Kind::Comparator
            && matches!(pair[0].text.as_str(), "=~" | "!~")
            && matches!(pair[1].kind, Kind::Str | Kind::Variable)
        {
            regex::Regex::new(&pair[1].text).map_err(|e| {
                ExprError::at(
                    text,
                    pair[1].offset,
                    format!("invalid regular expression '{}': {e}", pair[1].text),
                )
            })?;
            patterns.push(pair[1].offset);
        }
    }
    let count = tokens.len();
    if tokens.is_empty() {
        return Ok((None, 0));
    }
    let mut planner = Planner {
        src: text,
        tokens,
        pos: 0,
        depth: 0,
    };
    let node = planner.plan(0)?;
    if let Some(extra) = planner.tokens.get(planner.pos) {
        return Err(ExprError::at(
            text,
            extra.offset,
            format!("unexpected token '{}'", extra.text),
        ));
    }
    Ok((Some(mark_patterns(node)), count))
}

/// Turns string literals right of `=~`/`!~` into patterns.
fn mark_patterns(node: Node) -> Node {
    match node {
        Node::Binary(op, left, right) => {
            let right = mark_patterns(*right);
            let right = match (op.as_str(), right) {
                ("=~" | "!~", Node::Literal(Value::String(p))) => Node::Pattern(p),
                (_, right) => right,
            };
            Node::Binary(op, Box::new(mark_patterns(*left)), Box::new(right))
        }
        Node::Prefix(op, operand) => Node::Prefix(op, Box::new(mark_patterns(*operand))),
        other => other,
    }
}

/// govaluate's runtime values: a pattern stays apart from a string.
#[derive(Clone, Debug, PartialEq)]
enum GValue {
    V(Value),
    Pattern(String),
}

fn show(v: &GValue) -> String {
    match v {
        GValue::V(v) => v.to_go_string(),
        GValue::Pattern(p) => p.clone(),
    }
}

fn num(v: &GValue) -> Option<f64> {
    match v {
        GValue::V(Value::Float(f)) => Some(*f),
        _ => None,
    }
}

fn boolean(v: &GValue) -> Option<bool> {
    match v {
        GValue::V(Value::Bool(b)) => Some(*b),
        _ => None,
    }
}

fn string(v: &GValue) -> Option<&str> {
    match v {
        GValue::V(Value::String(s)) => Some(s),
        _ => None,
    }
}

fn type_error(v: &GValue, op: &str, what: &str) -> ExprError {
    ExprError::new(format!(
        "value '{}' cannot be used with {what} '{op}'",
        show(v)
    ))
}

fn eval(node: &Node) -> Result<GValue, ExprError> {
    Ok(match node {
        Node::Literal(v) => GValue::V(v.clone()),
        Node::Pattern(p) => GValue::Pattern(p.clone()),
        Node::Empty => GValue::V(Value::Null),
        Node::Accessor(name) => {
            let root = name.split('.').next().unwrap_or(name);
            return Err(ExprError::new(format!(
                "no parameter '{root}' found (in accessor '{name}')"
            )));
        }
        Node::Prefix(op, operand) => {
            let v = eval(operand)?;
            match op.as_str() {
                "!" => GValue::V(Value::Bool(
                    !boolean(&v).ok_or_else(|| type_error(&v, op, "the prefix"))?,
                )),
                "-" => GValue::V(Value::Float(
                    -num(&v).ok_or_else(|| type_error(&v, op, "the prefix"))?,
                )),
                _ => {
                    let n = num(&v).ok_or_else(|| type_error(&v, op, "the prefix"))?;
                    GValue::V(Value::Float(!(n as i64) as f64))
                }
            }
        }
        Node::Binary(op, left, right) => binary(op, left, right)?,
    })
}

fn binary(op: &str, left: &Node, right: &Node) -> Result<GValue, ExprError> {
    let l = eval(left)?;
    // Short circuits, before any type check, as govaluate does.
    match op {
        "&&" if l == GValue::V(Value::Bool(false)) => return Ok(l),
        "||" if l == GValue::V(Value::Bool(true)) => return Ok(l),
        "??" | ":" if l != GValue::V(Value::Null) => return Ok(l),
        "?" => {
            let cond = boolean(&l).ok_or_else(|| {
                ExprError::new(format!(
                    "value '{}' cannot be used with the ternary operator '?', it is not a bool",
                    show(&l)
                ))
            })?;
            return if cond {
                eval(right)
            } else {
                Ok(GValue::V(Value::Null))
            };
        }
        _ => {}
    }
    let r = eval(right)?;
    let numbers = || -> Result<(f64, f64), ExprError> {
        let a = num(&l).ok_or_else(|| {
            ExprError::new(format!(
                "value '{}' cannot be used with the modifier '{op}', it is not a number",
                show(&l)
            ))
        })?;
        let b = num(&r).ok_or_else(|| {
            ExprError::new(format!(
                "value '{}' cannot be used with the modifier '{op}', it is not a number",
                show(&r)
            ))
        })?;
        Ok((a, b))
    };
    let float = |f: f64| Ok(GValue::V(Value::Float(f)));
    let boolv = |b: bool| Ok(GValue::V(Value::Bool(b)));
    match op {
        "," => {
            let GValue::V(r) = r else {
                return Err(ExprError::new("a pattern cannot be a list element"));
            };
            match l {
                GValue::V(Value::List(mut items)) => {
                    items.push(r);
                    Ok(GValue::V(Value::List(items)))
                }
                GValue::V(l) => Ok(GValue::V(Value::List(vec![l, r]))),
                GValue::Pattern(_) => Err(ExprError::new("a pattern cannot be a list element")),
            }
        }
        "??" | ":" => Ok(r),
        "&&" | "||" => {
            let a = boolean(&l).ok_or_else(|| {
                ExprError::new(format!(
                    "value '{}' cannot be used with the logical operator '{op}', it is not a bool",
                    show(&l)
                ))
            })?;
            let b = boolean(&r).ok_or_else(|| {
                ExprError::new(format!(
                    "value '{}' cannot be used with the logical operator '{op}', it is not a bool",
                    show(&r)
                ))
            })?;
            boolv(if op == "&&" { a && b } else { a || b })
        }
        "==" => boolv(l == r),
        "!=" => boolv(l != r),
        ">" | ">=" | "<" | "<=" => {
            let ordering = match (&l, &r) {
                (GValue::V(Value::Float(a)), GValue::V(Value::Float(b))) => a.partial_cmp(b),
                (GValue::V(Value::String(a)), GValue::V(Value::String(b))) => Some(a.cmp(b)),
                _ => {
                    return Err(ExprError::new(format!(
                        "value '{}' cannot be used with the comparator '{op}', it is not a number",
                        show(&l)
                    )));
                }
            };
            let Some(ordering) = ordering else {
                return boolv(false);
            };
            boolv(match op {
                ">" => ordering.is_gt(),
                ">=" => ordering.is_ge(),
                "<" => ordering.is_lt(),
                _ => ordering.is_le(),
            })
        }
        "=~" | "!~" => {
            let subject = string(&l).ok_or_else(|| {
                ExprError::new(format!(
                    "value '{}' cannot be used with the comparator '{op}', it is not a string",
                    show(&l)
                ))
            })?;
            let pattern = match &r {
                GValue::Pattern(p) => p.as_str(),
                GValue::V(Value::String(p)) => p.as_str(),
                other => {
                    return Err(ExprError::new(format!(
                        "value '{}' cannot be used with the comparator '{op}', it is not a pattern",
                        show(other)
                    )));
                }
            };
            let re = regex::Regex::new(pattern).map_err(|e| {
                ExprError::new(format!("unable to compile regexp pattern '{pattern}': {e}"))
            })?;
            boolv(re.is_match(subject) == (op == "=~"))
        }
        "in" => match &r {
            GValue::V(Value::List(items)) => boolv(match &l {
                GValue::V(l) => items.contains(l),
                GValue::Pattern(_) => false,
            }),
            other => Err(ExprError::new(format!(
                "value '{}' cannot be used with the comparator 'in', it is not an array",
                show(other)
            ))),
        },
        "+" => match (&l, &r) {
            (GValue::V(Value::Float(a)), GValue::V(Value::Float(b))) => float(a + b),
            _ if string(&l).is_some() || string(&r).is_some() => Ok(GValue::V(Value::String(
                format!("{}{}", show(&l), show(&r)),
            ))),
            _ => Err(ExprError::new(format!(
                "value '{}' cannot be used with the modifier '+', it is not a number",
                show(&l)
            ))),
        },
        "-" => numbers().and_then(|(a, b)| float(a - b)),
        "*" => numbers().and_then(|(a, b)| float(a * b)),
        "/" => numbers().and_then(|(a, b)| float(a / b)),
        "%" => numbers().and_then(|(a, b)| float(a % b)),
        "**" => numbers().and_then(|(a, b)| float(a.powf(b))),
        "&" => numbers().and_then(|(a, b)| float(((a as i64) & (b as i64)) as f64)),
        "|" => numbers().and_then(|(a, b)| float(((a as i64) | (b as i64)) as f64)),
        "^" => numbers().and_then(|(a, b)| float(((a as i64) ^ (b as i64)) as f64)),
        "<<" => numbers().and_then(|(a, b)| float((a as u64).wrapping_shl(b as u32) as f64)),
        ">>" => numbers().and_then(|(a, b)| float((a as u64).wrapping_shr(b as u32) as f64)),
        other => Err(ExprError::new(format!("unknown operator '{other}'"))),
    }
}

/// See [`super::eval_when`].
pub fn eval_when(text: &str) -> Result<bool, ExprError> {
    if text.is_empty() {
        return Ok(true);
    }
    let (node, _) = plan(text).map_err(|e| ExprError {
        message: format!("invalid 'when' expression '{text}': {}", e.message),
        location: e.location,
    })?;
    let result = match node {
        Some(node) => eval(&node).map_err(|e| ExprError {
            message: format!(
                "failed to evaluate 'when' expression '{text}': {}",
                e.message
            ),
            location: e.location,
        })?,
        None => GValue::V(Value::Null),
    };
    match result {
        GValue::V(Value::Bool(b)) => Ok(b),
        other => Err(ExprError::new(format!(
            "expected a boolean from 'when' expression '{text}', got '{}'",
            show(&other)
        ))),
    }
}
