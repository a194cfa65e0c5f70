//! Evaluation of a compiled [`Node`] tree against a data context.
//!
//! Recursion depth equals the compiled tree's depth (bounded at compile time);
//! data documents are only walked iteratively (`var`), so deep data is safe.

use std::rc::Rc;

use serde_json::{Map, Value};

use crate::compile::{Fragment, LambdaKey, MemoRef, Node, Order, Var};
use crate::datetime::{parse_date_of_birth, parse_date_time, plus_time};
use crate::error::EvalError;
use crate::memo::{Memo, Slot};
use crate::value::Val;

/// The top-level context of one evaluation: the caller's document, the
/// caller's extra bindings (which shadow the document's top-level keys), and
/// the memo of shared `var` prefixes (see [`crate::memo`]).
pub(crate) struct Root<'c, 'a> {
    pub(crate) data: &'a Value,
    pub(crate) bindings: &'c [(&'c str, &'a Value)],
    pub(crate) memo: &'c Memo<'a>,
}

impl<'a> Root<'_, 'a> {
    /// Resolves a path from the top: its first fragment may name a binding.
    fn resolve(&self, path: &[Fragment]) -> Option<&'a Value> {
        if let Some((first, rest)) = path.split_first()
            && let Some((_, bound)) = self.bindings.iter().find(|(name, _)| **name == *first.key)
        {
            return walk(bound, rest);
        }
        walk(self.data, path)
    }

    /// Resolves a top-level `var`, through its memoised prefix if it has one.
    #[inline]
    fn resolve_var(&self, var: &Var) -> Option<&'a Value> {
        let Some(MemoRef { slot, len }) = var.memo else {
            return self.resolve(&var.path);
        };
        let (prefix, rest) = var.path.split_at(len);
        let cell = &self.memo[slot];
        let base = match cell.get() {
            Slot::Resolved(base) => base,
            Slot::Unresolved => {
                let base = self.resolve(prefix);
                cell.set(Slot::Resolved(base));
                base
            }
        };
        walk(base?, rest)
    }
}

/// The data context `var` reads from: the top level, or inside a `reduce`
/// lambda `{ "current", "accumulator", "data" }` where `data` is the context
/// the `reduce` itself was evaluated in (our documented extension). Built on
/// the stack, so lambda invocations allocate nothing.
pub(crate) enum Ctx<'c, 'a> {
    Root(&'c Root<'c, 'a>),
    Lambda {
        current: &'c Val<'a>,
        accumulator: &'c Val<'a>,
        data: &'c Ctx<'c, 'a>,
    },
}

impl<'a> Ctx<'_, 'a> {
    /// The whole context as a value (`{"var": ""}`): at the top level that is
    /// the data document itself, without the bindings.
    fn to_val(&self) -> Val<'a> {
        match self {
            Ctx::Root(root) => Val::from_json(root.data),
            Ctx::Lambda {
                current,
                accumulator,
                data,
            } => Val::Map(Rc::new([
                ("current", (*current).clone()),
                ("accumulator", (*accumulator).clone()),
                ("data", data.to_val()),
            ])),
        }
    }
}

/// Object member lookup. Small objects (DCC payloads) are scanned with an
/// inline byte comparison: per callgrind about 10% fewer instructions on the
/// DCC benchmarks than `Map::get`, whose ordered search calls libc `memcmp`
/// for every key it passes.
#[inline]
fn map_member<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    const SCAN_LIMIT: usize = 12;
    if map.len() > SCAN_LIMIT {
        return map.get(key);
    }
    let key = key.as_bytes();
    map.iter()
        .find(|(k, _)| {
            let k = k.as_bytes();
            k.len() == key.len() && k.iter().zip(key).all(|(a, b)| a == b)
        })
        .map(|(_, v)| v)
}

/// Walks `path` down from `value`; `None` where a step does not exist.
#[inline]
fn walk<'a>(mut value: &'a Value, path: &[Fragment]) -> Option<&'a Value> {
    for fragment in path {
        value = match value {
            Value::Object(map) => map_member(map, &fragment.key)?,
            Value::Array(items) => items.get(fragment.index?)?,
            _ => return None,
        };
    }
    Some(value)
}

#[inline]
fn lookup_json<'a>(value: &'a Value, path: &[Fragment]) -> Val<'a> {
    walk(value, path).map_or(Val::Null, Val::from_json)
}

/// Walks a computed value. Recursion is bounded by the value's own nesting,
/// which is bounded by the expression's (computed values come from it).
fn lookup_val<'a>(value: &Val<'a>, path: &[Fragment]) -> Val<'a> {
    let Some((first, rest)) = path.split_first() else {
        return value.clone();
    };
    match value {
        Val::Json(json) => lookup_json(json, path),
        Val::Array(items) => match first.index.and_then(|i| items.get(i)) {
            Some(item) => lookup_val(item, rest),
            None => Val::Null,
        },
        Val::Map(entries) => match entries.iter().find(|(k, _)| **k == *first.key) {
            Some((_, entry)) => lookup_val(entry, rest),
            None => Val::Null,
        },
        _ => Val::Null,
    }
}

#[inline]
fn lookup<'a>(ctx: &Ctx<'_, 'a>, var: &Var) -> Val<'a> {
    match ctx {
        Ctx::Root(root) => root.resolve_var(var).map_or(Val::Null, Val::from_json),
        Ctx::Lambda { .. } => lookup_in_lambda(ctx, &var.path),
    }
}

fn lookup_in_lambda<'a>(mut ctx: &Ctx<'_, 'a>, mut path: &[Fragment]) -> Val<'a> {
    loop {
        match ctx {
            Ctx::Root(root) => return root.resolve(path).map_or(Val::Null, Val::from_json),
            Ctx::Lambda {
                current,
                accumulator,
                data,
            } => {
                let Some((first, rest)) = path.split_first() else {
                    return ctx.to_val();
                };
                match first.lambda_key {
                    LambdaKey::Current => return lookup_val(current, rest),
                    LambdaKey::Accumulator => return lookup_val(accumulator, rest),
                    LambdaKey::Data => {
                        ctx = data;
                        path = rest;
                    }
                    LambdaKey::None => return Val::Null,
                }
            }
        }
    }
}

/// Errors are boxed so that the hot-path results (`Result<bool, _>`,
/// `Result<i64, _>`) fit in two registers.
pub(crate) type Fail = Box<EvalError>;

fn truthy(value: &Val<'_>, context: &'static str) -> Result<bool, Fail> {
    value.truthy().ok_or_else(|| {
        Box::new(EvalError::NotTruthyOrFalsy {
            context,
            found: value.describe(),
        })
    })
}

#[cold]
fn mismatch(op: &'static str, expected: &'static str, found: &Val<'_>) -> Fail {
    Box::new(EvalError::TypeMismatch {
        op,
        expected,
        found: found.describe(),
    })
}

fn member(needle: &Val<'_>, haystack: &Val<'_>) -> Result<bool, Fail> {
    match haystack {
        Val::Json(Value::Array(items)) => Ok(items
            .iter()
            .any(|item| needle.strict_eq(&Val::from_json(item)))),
        Val::Array(items) => Ok(items.iter().any(|item| needle.strict_eq(item))),
        other => Err(mismatch("in", "an array", other)),
    }
}

/// Evaluates an operand that must be an integer, without building a [`Val`]
/// for the common shapes (literals, `var`, nested `+`).
fn eval_int<'a>(node: &'a Node, ctx: &Ctx<'_, 'a>, op: &'static str) -> Result<i64, Fail> {
    let value = match node {
        Node::Literal(literal) => Val::from_json(literal),
        Node::Plus(pair) => return plus(pair, ctx),
        Node::Var(var) => lookup(ctx, var),
        _ => eval(node, ctx)?,
    };
    match value {
        Val::Int(i) => Ok(i),
        other => Err(mismatch(op, "an integer", &other)),
    }
}

fn plus<'a>(pair: &'a [Node; 2], ctx: &Ctx<'_, 'a>) -> Result<i64, Fail> {
    let [left, right] = pair;
    let (a, b) = (eval_int(left, ctx, "+")?, eval_int(right, ctx, "+")?);
    a.checked_add(b)
        .ok_or_else(|| Box::new(EvalError::Overflow { op: "+" }))
}

fn eval_date_time<'a>(node: &'a Node, ctx: &Ctx<'_, 'a>, op: &'static str) -> Result<i64, Fail> {
    match eval(node, ctx)? {
        Val::DateTime(ms) => Ok(ms),
        other => Err(mismatch(op, "a date-time", &other)),
    }
}

fn compare<'a>(
    op: &'static str,
    order: Order,
    date_times: bool,
    operands: &'a [Node],
    ctx: &Ctx<'_, 'a>,
) -> Result<bool, Fail> {
    let operand = |node: &'a Node| {
        if date_times {
            eval_date_time(node, ctx, op)
        } else {
            eval_int(node, ctx, op)
        }
    };
    // All operands are evaluated and type-checked before comparing.
    if let [left, right] = operands {
        let (a, b) = (operand(left)?, operand(right)?);
        return Ok(order.holds(a, b));
    }
    let mut numbers = [0i64; 3];
    for (slot, node) in numbers.iter_mut().zip(operands) {
        *slot = operand(node)?;
    }
    let n = operands.len().min(3);
    Ok(numbers[..n].windows(2).all(|w| order.holds(w[0], w[1])))
}

/// Evaluates `node` and applies truthiness, short-cutting operations whose
/// result is a boolean anyway. Same semantics as `truthy(eval(node))`.
pub(crate) fn eval_truthy<'a>(
    node: &'a Node,
    ctx: &Ctx<'_, 'a>,
    context: &'static str,
) -> Result<bool, Fail> {
    match node {
        Node::Var(var) => truthy(&lookup(ctx, var), context),
        Node::Not(operand) => Ok(!eval_truthy(operand, ctx, "operand of \"!\"")?),
        Node::And(operands) => {
            let Some((last, init)) = operands.split_last() else {
                return Ok(true);
            };
            for operand in init {
                if !eval_truthy(operand, ctx, "operand of \"and\"")? {
                    return Ok(false);
                }
            }
            eval_truthy(last, ctx, context)
        }
        Node::If(parts) => {
            let [guard, then, otherwise] = &**parts;
            if eval_truthy(guard, ctx, "guard of \"if\"")? {
                eval_truthy(then, ctx, context)
            } else {
                eval_truthy(otherwise, ctx, context)
            }
        }
        Node::StrictEq(pair) => strict_eq(pair, ctx),
        Node::In(pair) => is_in(pair, ctx),
        Node::Compare {
            op,
            order,
            date_times,
            operands,
        } => compare(op, *order, *date_times, operands, ctx),
        _ => truthy(&eval(node, ctx)?, context),
    }
}

fn strict_eq<'a>(pair: &'a [Node; 2], ctx: &Ctx<'_, 'a>) -> Result<bool, Fail> {
    let [left, right] = pair;
    Ok(eval(left, ctx)?.strict_eq(&eval(right, ctx)?))
}

fn is_in<'a>(pair: &'a [Node; 2], ctx: &Ctx<'_, 'a>) -> Result<bool, Fail> {
    let [needle, haystack] = pair;
    let needle = eval(needle, ctx)?;
    // The usual shape, a string against a literal list, compares in place.
    if let (Val::Str(needle), Node::Literal(Value::Array(items))) = (&needle, haystack) {
        return Ok(items.iter().any(|item| item.as_str() == Some(needle)));
    }
    member(&needle, &eval(haystack, ctx)?)
}

/// The term `t` of a summing lambda `{"+": [{"var": "accumulator"}, t]}`
/// (operands in either order).
fn accumulator_sum_term(lambda: &Node) -> Option<&Node> {
    let is_accumulator = |node: &Node| {
        matches!(node, Node::Var(var)
            if matches!(&*var.path, [only] if only.lambda_key == LambdaKey::Accumulator))
    };
    let Node::Plus(pair) = lambda else {
        return None;
    };
    match &**pair {
        [acc, term] | [term, acc] if is_accumulator(acc) => Some(term),
        _ => None,
    }
}

/// `reduce` with a summing lambda and an integer initial value: the
/// accumulator stays an `i64` instead of a value rebuilt per element. Same
/// results and errors as the general path (the accumulator operand of `+`
/// is always an integer there, so only the term can fail).
fn sum_fold<'a>(
    term: &'a Node,
    mut sum: i64,
    items: &Val<'a>,
    ctx: &Ctx<'_, 'a>,
) -> Result<i64, Fail> {
    let mut add = |current: &Val<'a>| -> Result<(), Fail> {
        let accumulator = Val::Int(sum);
        let lambda_ctx = Ctx::Lambda {
            current,
            accumulator: &accumulator,
            data: ctx,
        };
        let value = eval_int(term, &lambda_ctx, "+")?;
        sum = sum
            .checked_add(value)
            .ok_or_else(|| Box::new(EvalError::Overflow { op: "+" }))?;
        Ok(())
    };
    match items {
        Val::Json(Value::Array(items)) => {
            for item in items {
                add(&Val::from_json(item))?;
            }
        }
        Val::Array(items) => {
            for current in items.iter() {
                add(current)?;
            }
        }
        _ => {}
    }
    Ok(sum)
}

fn reduce<'a>(parts: &'a [Node; 3], ctx: &Ctx<'_, 'a>) -> Result<Val<'a>, Fail> {
    let [operand, lambda, initial] = parts;
    let operand = eval(operand, ctx)?;
    let mut accumulator = match &operand {
        Val::Null | Val::Json(Value::Array(_)) | Val::Array(_) => eval(initial, ctx)?,
        other => return Err(mismatch("reduce", "an array or null", other)),
    };
    if let (Some(term), Val::Int(initial)) = (accumulator_sum_term(lambda), &accumulator) {
        return sum_fold(term, *initial, &operand, ctx).map(Val::Int);
    }
    let step = |current: &Val<'a>, accumulator: &Val<'a>| {
        eval(
            lambda,
            &Ctx::Lambda {
                current,
                accumulator,
                data: ctx,
            },
        )
    };
    match &operand {
        Val::Json(Value::Array(items)) => {
            for item in items {
                accumulator = step(&Val::from_json(item), &accumulator)?;
            }
        }
        Val::Array(items) => {
            for current in items.iter() {
                accumulator = step(current, &accumulator)?;
            }
        }
        _ => {}
    }
    Ok(accumulator)
}

pub(crate) fn eval<'a>(node: &'a Node, ctx: &Ctx<'_, 'a>) -> Result<Val<'a>, Fail> {
    Ok(match node {
        Node::Literal(value) => Val::from_json(value),
        Node::Var(var) => lookup(ctx, var),
        Node::If(parts) => {
            let [guard, then, otherwise] = &**parts;
            if eval_truthy(guard, ctx, "guard of \"if\"")? {
                eval(then, ctx)?
            } else {
                eval(otherwise, ctx)?
            }
        }
        Node::And(operands) => {
            // Lazy, in order; the last operand's value is returned as is.
            let Some((last, init)) = operands.split_last() else {
                return Ok(Val::Bool(true));
            };
            for operand in init {
                let value = eval(operand, ctx)?;
                if !truthy(&value, "operand of \"and\"")? {
                    return Ok(value);
                }
            }
            eval(last, ctx)?
        }
        Node::Not(operand) => Val::Bool(!eval_truthy(operand, ctx, "operand of \"!\"")?),
        Node::StrictEq(pair) => Val::Bool(strict_eq(pair, ctx)?),
        Node::In(pair) => Val::Bool(is_in(pair, ctx)?),
        Node::Plus(pair) => Val::Int(plus(pair, ctx)?),
        Node::Compare {
            op,
            order,
            date_times,
            operands,
        } => Val::Bool(compare(op, *order, *date_times, operands, ctx)?),
        Node::PlusTime { date, amount, unit } => {
            let ms = match eval(date, ctx)? {
                Val::Str(text) => parse_date_time(text).ok_or_else(|| {
                    Box::new(EvalError::InvalidDate {
                        op: "plusTime",
                        value: text.to_owned(),
                    })
                })?,
                other => return Err(mismatch("plusTime", "a date(-time) string", &other)),
            };
            Val::DateTime(
                plus_time(ms, *amount, *unit)
                    .ok_or_else(|| Box::new(EvalError::DateOutOfRange { op: "plusTime" }))?,
            )
        }
        Node::DccDateOfBirth(operand) => match eval(operand, ctx)? {
            Val::Str(text) => Val::DateTime(parse_date_of_birth(text).ok_or_else(|| {
                Box::new(EvalError::InvalidDate {
                    op: "dccDateOfBirth",
                    value: text.to_owned(),
                })
            })?),
            other => return Err(mismatch("dccDateOfBirth", "a date string", &other)),
        },
        Node::ExtractFromUvci { operand, index } => match eval(operand, ctx)? {
            Val::Null => Val::Null,
            Val::Str(uvci) => crate::uvci::extract(uvci, *index).map_or(Val::Null, Val::Str),
            other => return Err(mismatch("extractFromUVCI", "a string or null", &other)),
        },
        Node::Reduce(parts) => reduce(parts, ctx)?,
        Node::Array(items) => Val::Array(
            items
                .iter()
                .map(|item| eval(item, ctx))
                .collect::<Result<Rc<[Val<'a>]>, Fail>>()?,
        ),
    })
}
