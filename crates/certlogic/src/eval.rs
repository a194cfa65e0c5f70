//! Evaluation of a compiled [`Node`] tree against a data context.
//!
//! Recursion depth equals the compiled tree's depth (bounded at compile time);
//! data documents are only walked iteratively (`var`), so deep data is safe.

use std::rc::Rc;

use serde_json::Value;

use crate::compile::{Fragment, Node};
use crate::datetime::{parse_date_of_birth, parse_date_time, plus_time};
use crate::error::EvalError;
use crate::value::Val;

/// The data context `var` reads from: the caller's document, or inside a
/// `reduce` lambda `{ "current", "accumulator", "data" }` where `data` is the
/// context the `reduce` itself was evaluated in (our documented extension).
/// Built on the stack, so lambda invocations allocate nothing.
pub(crate) enum Ctx<'c, 'a> {
    Root(&'a Value),
    Lambda {
        current: &'c Val<'a>,
        accumulator: &'c Val<'a>,
        data: &'c Ctx<'c, 'a>,
    },
}

impl<'a> Ctx<'_, 'a> {
    fn to_val(&self) -> Val<'a> {
        match self {
            Ctx::Root(data) => Val::from_json(data),
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

fn lookup_json<'a>(mut value: &'a Value, path: &[Fragment]) -> Val<'a> {
    for fragment in path {
        let next = match value {
            Value::Object(map) => map.get(&*fragment.key),
            Value::Array(items) => fragment.index.and_then(|i| items.get(i)),
            _ => None,
        };
        match next {
            Some(v) => value = v,
            None => return Val::Null,
        }
    }
    Val::from_json(value)
}

fn lookup_val<'a>(value: &Val<'a>, path: &[Fragment]) -> Val<'a> {
    let mut current = value.clone();
    for (i, fragment) in path.iter().enumerate() {
        current = match &current {
            Val::Json(json) => return lookup_json(json, &path[i..]),
            Val::Array(items) => match fragment.index.and_then(|i| items.get(i)) {
                Some(v) => v.clone(),
                None => return Val::Null,
            },
            Val::Map(entries) => match entries.iter().find(|(k, _)| **k == *fragment.key) {
                Some((_, v)) => v.clone(),
                None => return Val::Null,
            },
            _ => return Val::Null,
        };
    }
    current
}

fn lookup<'a>(mut ctx: &Ctx<'_, 'a>, mut path: &[Fragment]) -> Val<'a> {
    loop {
        match ctx {
            Ctx::Root(data) => return lookup_json(data, path),
            Ctx::Lambda {
                current,
                accumulator,
                data,
            } => {
                let Some((first, rest)) = path.split_first() else {
                    return ctx.to_val();
                };
                match &*first.key {
                    "current" => return lookup_val(current, rest),
                    "accumulator" => return lookup_val(accumulator, rest),
                    "data" => {
                        ctx = data;
                        path = rest;
                    }
                    _ => return Val::Null,
                }
            }
        }
    }
}

fn truthy(value: &Val<'_>, context: &'static str) -> Result<bool, EvalError> {
    value.truthy().ok_or_else(|| EvalError::NotTruthyOrFalsy {
        context,
        found: value.describe(),
    })
}

fn mismatch(op: &'static str, expected: &'static str, found: &Val<'_>) -> EvalError {
    EvalError::TypeMismatch {
        op,
        expected,
        found: found.describe(),
    }
}

fn member(needle: &Val<'_>, haystack: &Val<'_>) -> Result<bool, EvalError> {
    match haystack {
        Val::Json(Value::Array(items)) => Ok(items
            .iter()
            .any(|item| needle.strict_eq(&Val::from_json(item)))),
        Val::Array(items) => Ok(items.iter().any(|item| needle.strict_eq(item))),
        other => Err(mismatch("in", "an array", other)),
    }
}

pub(crate) fn eval<'a>(node: &'a Node, ctx: &Ctx<'_, 'a>) -> Result<Val<'a>, EvalError> {
    Ok(match node {
        Node::Literal(value) => Val::from_json(value),
        Node::Var(path) => lookup(ctx, path),
        Node::If(parts) => {
            let [guard, then, otherwise] = &**parts;
            if truthy(&eval(guard, ctx)?, "guard of \"if\"")? {
                eval(then, ctx)?
            } else {
                eval(otherwise, ctx)?
            }
        }
        Node::And(operands) => {
            // Lazy, in order; the last operand's value is returned as is.
            let (last, init) = operands.split_last().ok_or(EvalError::TypeMismatch {
                op: "and",
                expected: "at least one operand",
                found: "none".to_owned(),
            })?;
            for operand in init {
                let value = eval(operand, ctx)?;
                if !truthy(&value, "operand of \"and\"")? {
                    return Ok(value);
                }
            }
            eval(last, ctx)?
        }
        Node::Not(operand) => Val::Bool(!truthy(&eval(operand, ctx)?, "operand of \"!\"")?),
        Node::StrictEq(pair) => {
            let [left, right] = &**pair;
            Val::Bool(eval(left, ctx)?.strict_eq(&eval(right, ctx)?))
        }
        Node::In(pair) => {
            let [needle, haystack] = &**pair;
            let needle = eval(needle, ctx)?;
            Val::Bool(member(&needle, &eval(haystack, ctx)?)?)
        }
        Node::Plus(pair) => {
            let [left, right] = &**pair;
            match (eval(left, ctx)?, eval(right, ctx)?) {
                (Val::Int(a), Val::Int(b)) => {
                    Val::Int(a.checked_add(b).ok_or(EvalError::Overflow { op: "+" })?)
                }
                (Val::Int(_), other) | (other, _) => return Err(mismatch("+", "an integer", &other)),
            }
        }
        Node::Compare {
            op,
            order,
            date_times,
            operands,
        } => {
            // All operands are evaluated and type-checked before comparing.
            let mut numbers = [0i64; 3];
            for (slot, operand) in numbers.iter_mut().zip(operands) {
                *slot = match (eval(operand, ctx)?, date_times) {
                    (Val::Int(i), false) | (Val::DateTime(i), true) => i,
                    (other, false) => return Err(mismatch(op, "an integer", &other)),
                    (other, true) => return Err(mismatch(op, "a date-time", &other)),
                };
            }
            let n = operands.len();
            Val::Bool(numbers[..n].windows(2).all(|w| order.holds(w[0], w[1])))
        }
        Node::PlusTime { date, amount, unit } => {
            let ms = match eval(date, ctx)? {
                Val::Str(text) => parse_date_time(text).ok_or_else(|| EvalError::InvalidDate {
                    op: "plusTime",
                    value: text.to_owned(),
                })?,
                other => return Err(mismatch("plusTime", "a date(-time) string", &other)),
            };
            Val::DateTime(
                plus_time(ms, *amount, *unit).ok_or(EvalError::DateOutOfRange { op: "plusTime" })?,
            )
        }
        Node::DccDateOfBirth(operand) => match eval(operand, ctx)? {
            Val::Str(text) => {
                Val::DateTime(
                    parse_date_of_birth(text).ok_or_else(|| EvalError::InvalidDate {
                        op: "dccDateOfBirth",
                        value: text.to_owned(),
                    })?,
                )
            }
            other => return Err(mismatch("dccDateOfBirth", "a date string", &other)),
        },
        Node::ExtractFromUvci { operand, index } => match eval(operand, ctx)? {
            Val::Null => Val::Null,
            Val::Str(uvci) => crate::uvci::extract(uvci, *index).map_or(Val::Null, Val::Str),
            other => return Err(mismatch("extractFromUVCI", "a string or null", &other)),
        },
        Node::Reduce(parts) => {
            let [operand, lambda, initial] = &**parts;
            let operand = eval(operand, ctx)?;
            match &operand {
                Val::Null => eval(initial, ctx)?,
                Val::Json(Value::Array(items)) => {
                    let mut accumulator = eval(initial, ctx)?;
                    for item in items {
                        let current = Val::from_json(item);
                        accumulator = eval(
                            lambda,
                            &Ctx::Lambda {
                                current: &current,
                                accumulator: &accumulator,
                                data: ctx,
                            },
                        )?;
                    }
                    accumulator
                }
                Val::Array(items) => {
                    let mut accumulator = eval(initial, ctx)?;
                    for current in items.iter() {
                        accumulator = eval(
                            lambda,
                            &Ctx::Lambda {
                                current,
                                accumulator: &accumulator,
                                data: ctx,
                            },
                        )?;
                    }
                    accumulator
                }
                other => return Err(mismatch("reduce", "an array or null", other)),
            }
        }
        Node::Array(items) => Val::Array(
            items
                .iter()
                .map(|item| eval(item, ctx))
                .collect::<Result<Rc<[Val<'a>]>, EvalError>>()?,
        ),
    })
}
