//! Validation and compilation of CertLogic expressions into a typed tree.
//!
//! One pass does both: it collects every issue (in the reference validator's
//! wording) and, when there are none, yields the [`Node`] tree the evaluator
//! runs. Recursion is bounded by [`MAX_NESTING`], checked before descending,
//! so hostile inputs get an issue instead of a stack overflow.

use serde_json::Value;

use crate::datetime::TimeUnit;
use crate::error::Issue;
use crate::value::json_integer;

/// Maximum JSON nesting (arrays and objects) of an expression; the same bound
/// `serde_json` applies when parsing text, so anything it parses compiles.
pub const MAX_NESTING: usize = 128;

/// One fragment of a pre-split `var` path.
#[derive(Clone, Debug)]
pub(crate) struct Fragment {
    pub(crate) key: Box<str>,
    /// The fragment as an array index, if it is all digits.
    pub(crate) index: Option<usize>,
    /// Which key of a `reduce` lambda context this fragment names, resolved
    /// here so evaluation does not compare strings.
    pub(crate) lambda_key: LambdaKey,
}

/// A compiled `var`.
#[derive(Clone, Debug)]
pub(crate) struct Var {
    pub(crate) path: Box<[Fragment]>,
    /// Set by [`crate::memo::assign`] when this `var` is read in the
    /// top-level context and shares a path prefix with other `var`s there.
    pub(crate) memo: Option<MemoRef>,
}

/// Which memo slot caches the first `len` fragments of a `var`'s path.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MemoRef {
    pub(crate) slot: usize,
    pub(crate) len: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LambdaKey {
    Current,
    Accumulator,
    Data,
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Order {
    Less,
    Greater,
    LessOrEqual,
    GreaterOrEqual,
}

impl Order {
    #[inline]
    pub(crate) fn holds(self, a: i64, b: i64) -> bool {
        match self {
            Order::Less => a < b,
            Order::Greater => a > b,
            Order::LessOrEqual => a <= b,
            Order::GreaterOrEqual => a >= b,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) enum Node {
    /// A literal (boolean, integer, string, or an array of only literals).
    Literal(Value),
    /// An array literal with at least one non-literal item.
    Array(Vec<Node>),
    Var(Var),
    If(Box<[Node; 3]>),
    And(Vec<Node>),
    Not(Box<Node>),
    StrictEq(Box<[Node; 2]>),
    In(Box<[Node; 2]>),
    Plus(Box<[Node; 2]>),
    /// `<`, `>`, `<=`, `>=` (integers) and `before`, `after`, `not-after`,
    /// `not-before` (date-times); 2 or 3 operands.
    Compare {
        op: &'static str,
        order: Order,
        date_times: bool,
        operands: Vec<Node>,
    },
    PlusTime {
        date: Box<Node>,
        amount: i64,
        unit: TimeUnit,
    },
    /// operand, lambda, initial
    Reduce(Box<[Node; 3]>),
    ExtractFromUvci {
        operand: Box<Node>,
        index: i64,
    },
    DccDateOfBirth(Box<Node>),
}

impl Node {
    /// Calls `f` on each direct sub-expression.
    pub(crate) fn for_each_child<'n>(&'n self, mut f: impl FnMut(&'n Node)) {
        match self {
            Node::Literal(_) | Node::Var(_) => {}
            Node::Array(items) | Node::And(items) => items.iter().for_each(f),
            Node::Compare { operands, .. } => operands.iter().for_each(f),
            Node::If(parts) | Node::Reduce(parts) => parts.iter().for_each(f),
            Node::StrictEq(pair) | Node::In(pair) | Node::Plus(pair) => pair.iter().for_each(f),
            Node::Not(operand)
            | Node::DccDateOfBirth(operand)
            | Node::PlusTime { date: operand, .. }
            | Node::ExtractFromUvci { operand, .. } => f(operand),
        }
    }

    /// As [`Node::for_each_child`], mutably.
    pub(crate) fn for_each_child_mut(&mut self, mut f: impl FnMut(&mut Node)) {
        match self {
            Node::Literal(_) | Node::Var(_) => {}
            Node::Array(items) | Node::And(items) => items.iter_mut().for_each(f),
            Node::Compare { operands, .. } => operands.iter_mut().for_each(f),
            Node::If(parts) | Node::Reduce(parts) => parts.iter_mut().for_each(f),
            Node::StrictEq(pair) | Node::In(pair) | Node::Plus(pair) => pair.iter_mut().for_each(f),
            Node::Not(operand)
            | Node::DccDateOfBirth(operand)
            | Node::PlusTime { date: operand, .. }
            | Node::ExtractFromUvci { operand, .. } => f(operand),
        }
    }

    /// Operations that always evaluate to `true`/`false`.
    pub(crate) fn is_boolean_valued(&self) -> bool {
        matches!(
            self,
            Node::Not(_) | Node::StrictEq(_) | Node::In(_) | Node::Compare { .. }
        )
    }
}

/// How many operands an operator takes.
enum Arity {
    Exactly(usize),
    AtLeast(usize),
    TwoOrThree,
}

impl Arity {
    fn accepts(&self, n: usize) -> bool {
        match self {
            Arity::Exactly(k) => n == *k,
            Arity::AtLeast(k) => n >= *k,
            Arity::TwoOrThree => n == 2 || n == 3,
        }
    }

    fn describe(&self) -> String {
        match self {
            Arity::Exactly(1) => "exactly 1 operand".to_owned(),
            Arity::Exactly(k) => format!("exactly {k} operands"),
            Arity::AtLeast(k) => format!("at least {k} operands"),
            Arity::TwoOrThree => "2 or 3 operands".to_owned(),
        }
    }
}

fn comparison(op: &str) -> Option<(&'static str, Order, bool)> {
    Some(match op {
        "<" => ("<", Order::Less, false),
        ">" => (">", Order::Greater, false),
        "<=" => ("<=", Order::LessOrEqual, false),
        ">=" => (">=", Order::GreaterOrEqual, false),
        "before" => ("before", Order::Less, true),
        "after" => ("after", Order::Greater, true),
        "not-after" => ("not-after", Order::LessOrEqual, true),
        "not-before" => ("not-before", Order::GreaterOrEqual, true),
        _ => return None,
    })
}

fn arity(op: &str) -> Option<Arity> {
    Some(match op {
        "if" | "reduce" | "plusTime" => Arity::Exactly(3),
        "===" | "in" | "+" | "extractFromUVCI" => Arity::Exactly(2),
        "!" | "dccDateOfBirth" => Arity::Exactly(1),
        "and" => Arity::AtLeast(2),
        _ if comparison(op).is_some() => Arity::TwoOrThree,
        _ => return None,
    })
}

/// Whether `value` nests deeper than `limit` (iteratively, so it is safe on
/// arbitrarily deep values).
fn nests_deeper_than(value: &Value, limit: usize) -> bool {
    let mut stack = vec![(value, 0usize)];
    while let Some((v, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        if depth + 1 > limit {
            return true;
        }
        stack.extend(children.map(|c| (c, depth + 1)));
    }
    false
}

/// Issues quote the offending expression; a copy of something nested too
/// deeply would itself be a hazard (cloning/dropping/printing recurse).
fn quote(expr: &Value) -> Value {
    if nests_deeper_than(expr, MAX_NESTING) {
        Value::String("<expression elided: nested too deeply>".to_owned())
    } else {
        expr.clone()
    }
}

/// Collects issues while building the tree; `None` means "issues recorded".
#[derive(Default)]
pub(crate) struct Compiler {
    pub(crate) issues: Vec<Issue>,
}

impl Compiler {
    fn issue(&mut self, expr: &Value, message: String) -> Option<Node> {
        self.issues.push(Issue {
            expr: quote(expr),
            message,
        });
        None
    }

    /// `depth` is the JSON nesting level of the container holding `expr`.
    pub(crate) fn compile(&mut self, expr: &Value, depth: usize) -> Option<Node> {
        if matches!(expr, Value::Array(_) | Value::Object(_)) && depth + 1 > MAX_NESTING {
            self.issues.push(Issue {
                expr: Value::Null,
                message: format!(
                    "expression nests deeper than the maximum of {MAX_NESTING} levels"
                ),
            });
            return None;
        }
        match expr {
            Value::Bool(_) | Value::String(_) => Some(Node::Literal(expr.clone())),
            Value::Number(n) => match json_integer(n) {
                Some(i) => Some(Node::Literal(Value::from(i))),
                None => self.issue(expr, format!("{n} is a non-integer number")),
            },
            Value::Null => self.issue(expr, "invalid CertLogic expression".to_owned()),
            Value::Array(items) => {
                let nodes = self.compile_all(items, depth + 1)?;
                // All-literal arrays stay JSON, so evaluating them borrows, not builds.
                if nodes.iter().all(|n| matches!(n, Node::Literal(_))) {
                    let values = nodes
                        .into_iter()
                        .filter_map(|n| match n {
                            Node::Literal(v) => Some(v),
                            _ => None,
                        })
                        .collect();
                    Some(Node::Literal(Value::Array(values)))
                } else {
                    Some(Node::Array(nodes))
                }
            }
            Value::Object(map) => {
                let mut entries = map.iter();
                let (Some((op, values)), None) = (entries.next(), entries.next()) else {
                    return self.issue(
                        expr,
                        format!(
                            "expression object must have exactly one key, but it has {}",
                            map.len()
                        ),
                    );
                };
                if op == "var" {
                    return self.compile_var(expr, values);
                }
                let Value::Array(operands) = values else {
                    return self.issue(
                        expr,
                        "operation not of the form { \"<operator>\": [ <values...> ] }".to_owned(),
                    );
                };
                let Some(arity) = arity(op) else {
                    return self.issue(expr, format!("unrecognised operator: {op:?}"));
                };
                if !arity.accepts(operands.len()) {
                    // Still validate the operands, to report every issue at once.
                    let _ = self.compile_all(operands, depth + 2);
                    return self.issue(
                        expr,
                        format!(
                            "operation with operator {op:?} must have {}, but it has {}",
                            arity.describe(),
                            operands.len()
                        ),
                    );
                }
                self.compile_operation(expr, op, operands, depth + 2)
            }
        }
    }

    /// Compiles every item (reporting all issues); `None` if any failed.
    fn compile_all(&mut self, items: &[Value], depth: usize) -> Option<Vec<Node>> {
        let nodes: Vec<Option<Node>> = items.iter().map(|i| self.compile(i, depth)).collect();
        nodes.into_iter().collect()
    }

    fn compile_var(&mut self, expr: &Value, path: &Value) -> Option<Node> {
        let Value::String(path) = path else {
            return self.issue(expr, "not of the form { \"var\": \"<path>\" }".to_owned());
        };
        if path.is_empty() {
            return Some(Node::Var(Var {
                path: Box::new([]),
                memo: None,
            }));
        }
        if path.split('.').any(str::is_empty) {
            return self.issue(
                expr,
                format!("data access path doesn't have a valid format: {path}"),
            );
        }
        let fragments = path
            .split('.')
            .map(|key| Fragment {
                key: key.into(),
                index: if key.bytes().all(|b| b.is_ascii_digit()) {
                    key.parse().ok()
                } else {
                    None
                },
                lambda_key: match key {
                    "current" => LambdaKey::Current,
                    "accumulator" => LambdaKey::Accumulator,
                    "data" => LambdaKey::Data,
                    _ => LambdaKey::None,
                },
            })
            .collect();
        Some(Node::Var(Var {
            path: fragments,
            memo: None,
        }))
    }

    /// `operands` has the right count; `depth` is the level of the operands.
    fn compile_operation(
        &mut self,
        expr: &Value,
        op: &str,
        operands: &[Value],
        depth: usize,
    ) -> Option<Node> {
        match op {
            "plusTime" => return self.compile_plus_time(expr, operands, depth),
            "extractFromUVCI" => {
                let operand = self.compile(&operands[0], depth);
                let index = match &operands[1] {
                    Value::Number(n) => json_integer(n),
                    _ => None,
                };
                if index.is_none() {
                    self.issue(
                        expr,
                        "\"index\" argument (#2) of \"extractFromUVCI\" must be an integer"
                            .to_owned(),
                    );
                }
                return Some(Node::ExtractFromUvci {
                    operand: Box::new(operand?),
                    index: index?,
                });
            }
            _ => {}
        }
        let mut nodes = self.compile_all(operands, depth)?;
        let node = match op {
            "if" => Node::If(Box::new(take::<3>(nodes)?)),
            "reduce" => Node::Reduce(Box::new(take::<3>(nodes)?)),
            "===" => Node::StrictEq(Box::new(take::<2>(nodes)?)),
            "in" => Node::In(Box::new(take::<2>(nodes)?)),
            "+" => Node::Plus(Box::new(take::<2>(nodes)?)),
            "and" => Node::And(nodes),
            "!" => Node::Not(Box::new(nodes.pop()?)),
            "dccDateOfBirth" => Node::DccDateOfBirth(Box::new(nodes.pop()?)),
            _ => {
                let (op, order, date_times) = comparison(op)?;
                Node::Compare {
                    op,
                    order,
                    date_times,
                    operands: nodes,
                }
            }
        };
        Some(node)
    }

    fn compile_plus_time(
        &mut self,
        expr: &Value,
        operands: &[Value],
        depth: usize,
    ) -> Option<Node> {
        let date = self.compile(&operands[0], depth);
        let amount = match &operands[1] {
            Value::Number(n) => json_integer(n),
            _ => None,
        };
        if amount.is_none() {
            self.issue(
                expr,
                "\"amount\" argument (#2) of \"plusTime\" must be an integer".to_owned(),
            );
        }
        let unit = operands[2].as_str().and_then(TimeUnit::from_name);
        if unit.is_none() {
            self.issue(
                expr,
                "\"unit\" argument (#3) of \"plusTime\" must be a string equal to one of \"year\", \"month\", \"day\", \"hour\"".to_owned(),
            );
        }
        Some(Node::PlusTime {
            date: Box::new(date?),
            amount: amount?,
            unit: unit?,
        })
    }
}

fn take<const N: usize>(nodes: Vec<Node>) -> Option<[Node; N]> {
    nodes.try_into().ok()
}
