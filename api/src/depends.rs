//! The `depends` expression of a DAG task: `A && (B.Failed || !C.Succeeded)`.
//!
//! The grammar is the one Argo evaluates: task names (`[a-zA-Z0-9][-a-zA-Z0-9]*`),
//! optionally followed by `.` and a task result, combined with `&&`, `||`,
//! `!` and parentheses. `!` binds tightest, then `&&`, then `||`.
//!
//! The validator parses it to report syntax errors and unknown task names;
//! the engine evaluates the same [`Expr`] with [`Expr::eval`]. What a bare
//! task reference (`A` without a result) means depends on that task's
//! `continueOn`, so the caller decides it.

use std::fmt;

/// The result of a task that a `depends` expression can test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskResult {
    Succeeded,
    Failed,
    Errored,
    Skipped,
    Omitted,
    Daemoned,
    /// At least one iteration of an expanded task (withItems/withParam/withSequence) succeeded.
    AnySucceeded,
    /// Every iteration of an expanded task failed.
    AllFailed,
}

impl TaskResult {
    /// Every result, in the order Argo documents them.
    pub const ALL: [TaskResult; 8] = [
        Self::Succeeded,
        Self::Failed,
        Self::Errored,
        Self::Skipped,
        Self::Omitted,
        Self::Daemoned,
        Self::AnySucceeded,
        Self::AllFailed,
    ];

    /// The name as written after the dot.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::Errored => "Errored",
            Self::Skipped => "Skipped",
            Self::Omitted => "Omitted",
            Self::Daemoned => "Daemoned",
            Self::AnySucceeded => "AnySucceeded",
            Self::AllFailed => "AllFailed",
        }
    }

    /// The result with this exact name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// Whether the result is about the iterations of an expanded task
    /// (`AnySucceeded`, `AllFailed`), which only a task with a loop has.
    pub fn needs_loop(self) -> bool {
        matches!(self, Self::AnySucceeded | Self::AllFailed)
    }
}

impl fmt::Display for TaskResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One reference to a task: `A` or `A.Failed`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskRef {
    /// The task's name.
    pub task: String,
    /// The result tested; `None` for a bare reference.
    pub result: Option<TaskResult>,
    /// Byte offset of the task name in the expression.
    pub offset: usize,
}

/// A parsed `depends` expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    Task(TaskRef),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

impl Expr {
    /// Every task reference, in the order written.
    pub fn referenced_tasks(&self) -> Vec<&TaskRef> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect<'a>(&'a self, out: &mut Vec<&'a TaskRef>) {
        match self {
            Self::Task(r) => out.push(r),
            Self::Not(e) => e.collect(out),
            Self::And(a, b) | Self::Or(a, b) => {
                a.collect(out);
                b.collect(out);
            }
        }
    }

    /// Evaluates the expression; `holds` answers each task reference
    /// (a bare `A` means "A succeeded, was skipped or is daemoned", widened
    /// by A's `continueOn`: the caller knows that).
    pub fn eval(&self, holds: &dyn Fn(&TaskRef) -> bool) -> bool {
        match self {
            Self::Task(r) => holds(r),
            Self::Not(e) => !e.eval(holds),
            Self::And(a, b) => a.eval(holds) && b.eval(holds),
            Self::Or(a, b) => a.eval(holds) || b.eval(holds),
        }
    }

    fn precedence(&self) -> u8 {
        match self {
            Self::Or(..) => 0,
            Self::And(..) => 1,
            Self::Not(_) | Self::Task(_) => 2,
        }
    }

    fn fmt_operand(&self, f: &mut fmt::Formatter<'_>, min: u8) -> fmt::Result {
        if self.precedence() < min {
            write!(f, "({self})")
        } else {
            write!(f, "{self}")
        }
    }
}

impl fmt::Display for Expr {
    /// The canonical form: single spaces around operators, parentheses only
    /// where precedence needs them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Task(r) => match r.result {
                Some(result) => write!(f, "{}.{result}", r.task),
                None => f.write_str(&r.task),
            },
            Self::Not(e) => {
                f.write_str("!")?;
                e.fmt_operand(f, 2)
            }
            Self::And(a, b) => {
                a.fmt_operand(f, 1)?;
                f.write_str(" && ")?;
                b.fmt_operand(f, 2)
            }
            Self::Or(a, b) => {
                a.fmt_operand(f, 0)?;
                f.write_str(" || ")?;
                b.fmt_operand(f, 1)
            }
        }
    }
}

/// What is wrong with a `depends` expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// Nothing but blanks.
    Empty,
    /// A character that is not part of the grammar.
    UnexpectedChar(char),
    /// A single `&` or `|`.
    SingleOperator(char),
    /// An operator, `)` or the end where a task name belongs.
    ExpectedTask { found: String },
    /// A task name or `(` where `&&`, `||` or `)` belongs.
    ExpectedOperator { found: String },
    /// `A.` with nothing after the dot.
    MissingResult,
    /// `A.Succeded`.
    UnknownResult {
        result: String,
        suggestion: Option<TaskResult>,
    },
    /// A `(` never closed.
    Unclosed,
    /// A `)` with no `(`.
    Unopened,
    /// More nested `(` and `!` than [`MAX_DEPTH`].
    TooDeep,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => {
                f.write_str("the expression is empty: name the tasks to wait for, e.g. \"A && B\"")
            }
            Self::UnexpectedChar(c) => write!(
                f,
                "unexpected character {c:?}: use task names, &&, ||, ! and parentheses"
            ),
            Self::SingleOperator(c) => write!(f, "single {c:?}: write {c}{c}"),
            Self::ExpectedTask { found } => write!(f, "expected a task name, found {found}"),
            Self::ExpectedOperator { found } => {
                write!(f, "expected && or || before {found}")?;
                match found.trim_matches('"') {
                    "and" => f.write_str(": write && instead of and"),
                    "or" => f.write_str(": write || instead of or"),
                    "not" => f.write_str(": write ! instead of not"),
                    _ => Ok(()),
                }
            }
            Self::MissingResult => write!(
                f,
                "expected a task result after '.': one of {}",
                result_names()
            ),
            Self::UnknownResult { result, suggestion } => {
                write!(f, "unknown task result {result:?}")?;
                if let Some(s) = suggestion {
                    write!(f, "; did you mean \"{s}\"?")?;
                }
                write!(f, " (one of {})", result_names())
            }
            Self::Unclosed => f.write_str("this '(' is never closed: add ')'"),
            Self::Unopened => f.write_str("this ')' has no matching '(': remove it"),
            Self::TooDeep => write!(
                f,
                "more than {MAX_DEPTH} nested parentheses or '!': simplify the expression"
            ),
        }
    }
}

fn result_names() -> String {
    TaskResult::ALL.map(TaskResult::as_str).join(", ")
}

/// A syntax error in a `depends` expression, with its byte offset.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{problem} (at byte {offset})")]
pub struct DependsError {
    /// Byte offset in the expression where the problem is.
    pub offset: usize,
    pub problem: Problem,
}

/// How deep `(` and `!` may nest; deeper input is rejected rather than
/// risking the stack on a hostile manifest.
pub const MAX_DEPTH: usize = 256;

/// Parses a `depends` expression.
pub fn parse(expr: &str) -> Result<Expr, DependsError> {
    let tokens = tokenize(expr)?;
    let mut parser = Parser {
        tokens,
        pos: 0,
        open: Vec::new(),
        depth: 0,
    };
    if parser.peek().kind == Tok::End {
        return Err(DependsError {
            offset: 0,
            problem: Problem::Empty,
        });
    }
    let out = parser.or()?;
    let next = parser.peek();
    match next.kind {
        Tok::End => Ok(out),
        Tok::Close => Err(DependsError {
            offset: next.offset,
            problem: Problem::Unopened,
        }),
        _ => Err(DependsError {
            offset: next.offset,
            problem: Problem::ExpectedOperator {
                found: next.describe(),
            },
        }),
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Name(String),
    Dot,
    And,
    Or,
    Not,
    Open,
    Close,
    End,
}

#[derive(Clone, Debug)]
struct Token {
    kind: Tok,
    offset: usize,
}

impl Token {
    fn describe(&self) -> String {
        match &self.kind {
            Tok::Name(n) => format!("{n:?}"),
            Tok::Dot => "'.'".into(),
            Tok::And => "'&&'".into(),
            Tok::Or => "'||'".into(),
            Tok::Not => "'!'".into(),
            Tok::Open => "'('".into(),
            Tok::Close => "')'".into(),
            Tok::End => "the end".into(),
        }
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

fn tokenize(expr: &str) -> Result<Vec<Token>, DependsError> {
    let bytes = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let start = i;
        let kind = match b {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'&' | b'|' => {
                if bytes.get(i + 1) == Some(&b) {
                    i += 2;
                    if b == b'&' { Tok::And } else { Tok::Or }
                } else {
                    return Err(DependsError {
                        offset: i,
                        problem: Problem::SingleOperator(b as char),
                    });
                }
            }
            b'!' => {
                i += 1;
                Tok::Not
            }
            b'(' => {
                i += 1;
                Tok::Open
            }
            b')' => {
                i += 1;
                Tok::Close
            }
            b'.' => {
                i += 1;
                Tok::Dot
            }
            b if is_name_byte(b) => {
                while i < bytes.len() && is_name_byte(bytes[i]) {
                    i += 1;
                }
                Tok::Name(expr[start..i].to_owned())
            }
            _ => {
                let c = expr[i..].chars().next().unwrap_or('\u{fffd}');
                return Err(DependsError {
                    offset: i,
                    problem: Problem::UnexpectedChar(c),
                });
            }
        };
        out.push(Token {
            kind,
            offset: start,
        });
    }
    out.push(Token {
        kind: Tok::End,
        offset: expr.len(),
    });
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// Offsets of the `(` currently open.
    open: Vec<usize>,
    /// Current nesting of `(` and `!`.
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Token {
        // The last token is always End, and `pos` never moves past it.
        self.tokens[self.pos.min(self.tokens.len() - 1)].clone()
    }

    fn bump(&mut self) -> Token {
        let t = self.peek();
        if t.kind != Tok::End {
            self.pos += 1;
        }
        t
    }

    fn or(&mut self) -> Result<Expr, DependsError> {
        let mut left = self.and()?;
        while self.peek().kind == Tok::Or {
            self.bump();
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, DependsError> {
        let mut left = self.unary()?;
        while self.peek().kind == Tok::And {
            self.bump();
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, DependsError> {
        let t = self.bump();
        if !matches!(t.kind, Tok::Not | Tok::Open) {
            return self.unary_inner(t);
        }
        if self.depth == MAX_DEPTH {
            return Err(DependsError {
                offset: t.offset,
                problem: Problem::TooDeep,
            });
        }
        self.depth += 1;
        let out = self.unary_inner(t);
        self.depth -= 1;
        out
    }

    fn unary_inner(&mut self, t: Token) -> Result<Expr, DependsError> {
        match t.kind {
            Tok::Not => Ok(Expr::Not(Box::new(self.unary()?))),
            Tok::Open => {
                self.open.push(t.offset);
                let inner = self.or()?;
                let close = self.bump();
                match close.kind {
                    Tok::Close => {
                        self.open.pop();
                        Ok(inner)
                    }
                    Tok::End => Err(DependsError {
                        offset: t.offset,
                        problem: Problem::Unclosed,
                    }),
                    _ => Err(DependsError {
                        offset: close.offset,
                        problem: Problem::ExpectedOperator {
                            found: close.describe(),
                        },
                    }),
                }
            }
            Tok::Name(task) => {
                let result = if self.peek().kind == Tok::Dot {
                    let dot = self.bump();
                    let name = self.bump();
                    match name.kind {
                        Tok::Name(result) => match TaskResult::from_name(&result) {
                            Some(r) => Some(r),
                            None => {
                                return Err(DependsError {
                                    offset: name.offset,
                                    problem: Problem::UnknownResult {
                                        suggestion: suggest_result(&result),
                                        result,
                                    },
                                });
                            }
                        },
                        _ => {
                            return Err(DependsError {
                                offset: dot.offset + 1,
                                problem: Problem::MissingResult,
                            });
                        }
                    }
                } else {
                    None
                };
                Ok(Expr::Task(TaskRef {
                    task,
                    result,
                    offset: t.offset,
                }))
            }
            Tok::Close if self.open.is_empty() => Err(DependsError {
                offset: t.offset,
                problem: Problem::Unopened,
            }),
            Tok::End if !self.open.is_empty() => Err(DependsError {
                offset: self.open.last().copied().unwrap_or(0),
                problem: Problem::Unclosed,
            }),
            _ => Err(DependsError {
                offset: t.offset,
                problem: Problem::ExpectedTask {
                    found: t.describe(),
                },
            }),
        }
    }
}

fn suggest_result(written: &str) -> Option<TaskResult> {
    let lower = written.to_ascii_lowercase();
    TaskResult::ALL
        .into_iter()
        .map(|r| {
            let d = strsim::damerau_levenshtein(&lower, &r.as_str().to_ascii_lowercase());
            (d, r)
        })
        .filter(|(d, r)| *d <= (r.as_str().len() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, r)| r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Expr {
        parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> DependsError {
        match parse(s) {
            Ok(e) => panic!("{s}: parsed as {e}"),
            Err(e) => e,
        }
    }

    #[test]
    fn precedence_and_canonical_form() {
        assert_eq!(ok("A").to_string(), "A");
        assert_eq!(ok("A&&B||C").to_string(), "A && B || C");
        assert_eq!(ok("A && (B || C)").to_string(), "A && (B || C)");
        assert_eq!(
            ok("!A.Failed && !(B || C)").to_string(),
            "!A.Failed && !(B || C)"
        );
        assert_eq!(ok("((A))").to_string(), "A");
        assert_eq!(
            ok("(task-1.Succeeded || task-1.Skipped) && 2nd.AnySucceeded").to_string(),
            "(task-1.Succeeded || task-1.Skipped) && 2nd.AnySucceeded"
        );
        // && binds tighter than ||.
        assert!(matches!(ok("A || B && C"), Expr::Or(_, _)));
        assert!(matches!(ok("A && B || C"), Expr::Or(_, _)));
    }

    #[test]
    fn referenced_tasks_in_order_with_offsets() {
        let e = ok("A.Failed || (B && !C.AllFailed)");
        let refs: Vec<(&str, Option<TaskResult>, usize)> = e
            .referenced_tasks()
            .into_iter()
            .map(|r| (r.task.as_str(), r.result, r.offset))
            .collect();
        assert_eq!(
            refs,
            vec![
                ("A", Some(TaskResult::Failed), 0),
                ("B", None, 13),
                ("C", Some(TaskResult::AllFailed), 19),
            ]
        );
    }

    #[test]
    fn evaluates_with_the_callers_answers() {
        let e = ok("A && (B.Failed || !C)");
        let run = |a: bool, b_failed: bool, c: bool| {
            e.eval(&|r: &TaskRef| match (r.task.as_str(), r.result) {
                ("A", None) => a,
                ("B", Some(TaskResult::Failed)) => b_failed,
                ("C", None) => c,
                other => panic!("unexpected reference {other:?}"),
            })
        };
        assert!(run(true, true, true));
        assert!(run(true, false, false));
        assert!(!run(true, false, true));
        assert!(!run(false, true, false));
    }

    #[test]
    fn every_result_name_parses() {
        for r in TaskResult::ALL {
            let e = ok(&format!("t.{r}"));
            assert_eq!(e.referenced_tasks()[0].result, Some(r));
        }
        assert!(TaskResult::AnySucceeded.needs_loop());
        assert!(!TaskResult::Succeeded.needs_loop());
    }

    #[test]
    fn syntax_errors_carry_offsets() {
        assert_eq!(err("").problem, Problem::Empty);
        assert_eq!(err("   ").problem, Problem::Empty);
        let e = err("A & B");
        assert_eq!((e.offset, e.problem), (2, Problem::SingleOperator('&')));
        let e = err("A && ");
        assert_eq!(e.offset, 5);
        assert!(matches!(e.problem, Problem::ExpectedTask { .. }));
        let e = err("(A || B");
        assert_eq!((e.offset, e.problem), (0, Problem::Unclosed));
        let e = err("A || B)");
        assert_eq!((e.offset, e.problem), (6, Problem::Unopened));
        let e = err(")");
        assert_eq!((e.offset, e.problem), (0, Problem::Unopened));
        let e = err("A B");
        assert_eq!(e.offset, 2);
        assert!(matches!(e.problem, Problem::ExpectedOperator { .. }));
        let e = err("A.");
        assert_eq!((e.offset, e.problem), (2, Problem::MissingResult));
        let e = err("A_B");
        assert_eq!((e.offset, e.problem), (1, Problem::UnexpectedChar('_')));
        let e = err("A && é");
        assert_eq!((e.offset, e.problem), (5, Problem::UnexpectedChar('é')));
    }

    #[test]
    fn unknown_results_suggest_the_closest() {
        let e = err("A.Succeded");
        assert_eq!(e.offset, 2);
        assert_eq!(
            e.problem,
            Problem::UnknownResult {
                result: "Succeded".into(),
                suggestion: Some(TaskResult::Succeeded)
            }
        );
        assert_eq!(
            e.to_string(),
            "unknown task result \"Succeded\"; did you mean \"Succeeded\"? (one of Succeeded, \
             Failed, Errored, Skipped, Omitted, Daemoned, AnySucceeded, AllFailed) (at byte 2)"
        );
        let e = err("A.failed");
        assert!(matches!(
            e.problem,
            Problem::UnknownResult {
                suggestion: Some(TaskResult::Failed),
                ..
            }
        ));
        let e = err("A.Banana");
        assert!(matches!(
            e.problem,
            Problem::UnknownResult {
                suggestion: None,
                ..
            }
        ));
    }

    #[test]
    fn words_for_operators_get_a_hint() {
        let e = err("A and B");
        assert_eq!(
            e.to_string(),
            "expected && or || before \"and\": write && instead of and (at byte 2)"
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let s = format!("{}A{}", "(".repeat(200), ")".repeat(200));
        assert_eq!(ok(&s).to_string(), "A");
        let s = format!("{}A", "!".repeat(200));
        assert_eq!(ok(&s).referenced_tasks().len(), 1);
        let s = format!("{}A{}", "(".repeat(100_000), ")".repeat(100_000));
        let e = err(&s);
        assert_eq!((e.offset, e.problem), (MAX_DEPTH, Problem::TooDeep));
    }
}
