//! The evaluator's internal value: borrows from the data document and from
//! the compiled expression wherever possible, owning only what evaluation
//! computes (integers, booleans, date-times, array literals, lambda contexts).

use std::rc::Rc;

use serde_json::{Map, Number, Value};

use crate::datetime::format_date_time;

/// Converts a JSON number to an integer when it is integral (`42.0` counts).
pub(crate) fn json_integer(n: &Number) -> Option<i64> {
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    let f = n.as_f64()?;
    // The range check keeps the cast exact; u64 values above i64::MAX land here too.
    (f.fract() == 0.0 && (-9.223_372_036_854_775e18..9.223_372_036_854_775e18).contains(&f))
        .then_some(f as i64)
}

/// CertLogic's strict truthiness of a JSON value: `Some(true)` for truthy,
/// `Some(false)` for falsy, `None` for values that are neither (non-integer
/// numbers).
pub fn is_truthy(value: &Value) -> Option<bool> {
    match value {
        Value::Null => Some(false),
        Value::Bool(b) => Some(*b),
        Value::Number(n) => json_integer(n).map(|i| i != 0),
        Value::String(s) => Some(!s.is_empty()),
        Value::Array(a) => Some(!a.is_empty()),
        Value::Object(o) => Some(!o.is_empty()),
    }
}

#[derive(Clone, Debug)]
pub(crate) enum Val<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Str(&'a str),
    /// Milliseconds since the epoch; only `plusTime`/`dccDateOfBirth` make these.
    DateTime(i64),
    /// Borrowed JSON that is not a scalar above: arrays, objects, non-integer numbers.
    Json(&'a Value),
    /// A computed array (from an array literal with non-literal items).
    Array(Rc<[Val<'a>]>),
    /// A materialised `reduce` lambda context (only when it is accessed whole).
    Map(Rc<[(&'static str, Val<'a>)]>),
}

impl<'a> Val<'a> {
    #[inline]
    pub(crate) fn from_json(value: &'a Value) -> Self {
        match value {
            Value::Null => Val::Null,
            Value::Bool(b) => Val::Bool(*b),
            Value::String(s) => Val::Str(s),
            Value::Number(n) => match json_integer(n) {
                Some(i) => Val::Int(i),
                None => Val::Json(value),
            },
            Value::Array(_) | Value::Object(_) => Val::Json(value),
        }
    }

    pub(crate) fn truthy(&self) -> Option<bool> {
        match self {
            Val::Null => Some(false),
            Val::Bool(b) => Some(*b),
            Val::Int(i) => Some(*i != 0),
            Val::Str(s) => Some(!s.is_empty()),
            Val::DateTime(_) => None,
            Val::Json(v) => is_truthy(v),
            Val::Array(items) => Some(!items.is_empty()),
            Val::Map(entries) => Some(!entries.is_empty()),
        }
    }

    /// JavaScript `===` restricted to what CertLogic values can be: primitives
    /// compare by value; arrays, objects and date-times are never equal (they
    /// would be distinct objects in the reference implementation).
    pub(crate) fn strict_eq(&self, other: &Val<'_>) -> bool {
        match (self, other) {
            (Val::Null, Val::Null) => true,
            (Val::Bool(a), Val::Bool(b)) => a == b,
            (Val::Int(a), Val::Int(b)) => a == b,
            (Val::Str(a), Val::Str(b)) => a == b,
            (Val::Json(Value::Number(a)), Val::Json(Value::Number(b))) => a.as_f64() == b.as_f64(),
            _ => false,
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        match self {
            Val::Null => Value::Null,
            Val::Bool(b) => Value::Bool(*b),
            Val::Int(i) => Value::from(*i),
            Val::Str(s) => Value::String((*s).to_owned()),
            Val::DateTime(ms) => Value::String(format_date_time(*ms)),
            Val::Json(v) => (*v).clone(),
            Val::Array(items) => Value::Array(items.iter().map(Val::to_json).collect()),
            Val::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.to_json()))
                    .collect::<Map<_, _>>(),
            ),
        }
    }

    /// A short description for error messages: never the whole document
    /// (which could be huge, or deep enough to overflow a recursive printer).
    pub(crate) fn describe(&self) -> String {
        const MAX_CHARS: usize = 60;
        match self {
            Val::Null => "null".to_owned(),
            Val::Bool(b) => format!("boolean {b}"),
            Val::Int(i) => format!("integer {i}"),
            Val::DateTime(ms) => format!("date-time {}", format_date_time(*ms)),
            Val::Str(s) if s.chars().count() > MAX_CHARS => {
                let cut: String = s.chars().take(MAX_CHARS).collect();
                format!("string {cut:?}…")
            }
            Val::Str(s) => format!("string {s:?}"),
            Val::Json(Value::Number(n)) => format!("non-integer number {n}"),
            Val::Json(Value::Array(items)) => format!("an array of {} items", items.len()),
            Val::Array(items) => format!("an array of {} items", items.len()),
            Val::Json(_) | Val::Map(_) => "an object".to_owned(),
        }
    }
}
