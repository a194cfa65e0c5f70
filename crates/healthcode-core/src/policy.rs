//! The colour policy: a published, versioned document of CertLogic rules, and its evaluation.
//!
//! A person's colour is `policy.evaluate(facts, now)`: the most severe colour among the rules that
//! apply, green when none does, with every applying rule given as a reason. Nothing else sets a
//! colour.

use crate::color::Color;
use crate::facts::{Fact, FactDocument, LISTS, rfc3339};
use crate::text::Text;
use certlogic::Expr;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// How deep `{"param": …}` references may nest inside each other; bounds a cycle.
const MAX_PARAM_DEPTH: usize = 16;

/// The policy as published: JSON, readable by anyone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PolicyDocument {
    /// The region that publishes it (GB/T 2260 code; `000000` for the national baseline).
    pub region: String,
    pub version: String,
    #[serde(with = "time::serde::rfc3339")]
    pub valid_from: OffsetDateTime,
    pub title: Text,
    /// The UTC offset times are shown in to residents, e.g. `+08:00`.
    #[serde(default = "default_display_offset")]
    pub display_offset: String,
    /// Named values (durations, thresholds, lists) and named CertLogic sub-expressions. A rule
    /// refers to one as `{"param": "name"}`, which is replaced by its value before compiling, so
    /// the compiled rule is plain CertLogic (where `plusTime` needs a literal amount).
    #[serde(default)]
    pub parameters: Map<String, Value>,
    pub rules: Vec<RuleDocument>,
    /// The words of the SMS and in-app notice of a colour change; the shipped ones when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Messages>,
}

/// The templates of what a person is told when their colour changes, so that a region words
/// them (and names its hotline) by publishing a policy version, without a new release.
/// Placeholders: `{from}` and `{to}` (the colours' words), `{why}` (the weightiest reason),
/// `{what_to_do}` (its notice, or nothing), `{hotline}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Messages {
    /// A change to yellow or red (or to green while another reason still applies).
    pub colour_change: Text,
    /// A change back to green: no reason applies any more.
    pub back_to_green: Text,
    /// The number to call, e.g. 12320 (the health hotline).
    pub hotline: String,
}

/// The placeholders a message template may use.
pub const MESSAGE_PLACEHOLDERS: [&str; 5] = ["from", "to", "why", "what_to_do", "hotline"];

fn default_display_offset() -> String {
    "+08:00".into()
}

/// The colours a rule can give; green is what remains when no rule applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RuleColor {
    Yellow,
    Red,
    /// Changes no colour: a tag shown beside it, as 北京健康宝 showed 居家观察.
    Tag,
}

impl From<RuleColor> for Color {
    fn from(c: RuleColor) -> Color {
        match c {
            RuleColor::Yellow => Color::Yellow,
            RuleColor::Red => Color::Red,
            RuleColor::Tag => Color::Green,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RuleDocument {
    pub id: String,
    pub color: RuleColor,
    /// When set, the rule is judged once per fact of that list, with the fact as `fact`; the
    /// reason then names that fact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_each: Option<String>,
    /// CertLogic: the rule applies where this is truthy (and `until` has not passed).
    pub when: Value,
    /// CertLogic giving when the rule stops applying: a date-time, or an array of candidates of
    /// which the earliest counts; `null` or `false` (alone or as a candidate) means no end from
    /// it. Absent: no end by time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Value>,
    /// Why, in words a resident understands; `{fact.field}` and `{param.name}` are filled in.
    pub description: Text,
    /// A notice shown beside the colour (弹窗), such as "report to your community".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<Text>,
}

/// A policy whose rules are compiled and ready to evaluate many times.
#[derive(Debug, Clone)]
pub struct Policy {
    document: PolicyDocument,
    /// The parameters as one value, the `param` root of reasons' placeholders.
    parameters: Value,
    rules: Vec<CompiledRule>,
    display_offset: UtcOffset,
}

#[derive(Debug, Clone)]
struct CompiledRule {
    when: Expr,
    until: Option<Expr>,
}

/// Everything wrong with a policy document, each problem on its own line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the policy has {} problem(s):\n{}", .problems.len(), .problems.join("\n"))]
pub struct PolicyError {
    pub problems: Vec<String>,
}

/// The colour a person has at an instant, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Status {
    pub color: Color,
    pub reasons: Vec<Reason>,
    /// The earliest moment a reason ends by time alone: when the colour may next change without a
    /// new fact.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_change: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub evaluated_at: OffsetDateTime,
    pub region: String,
    pub policy_version: String,
    /// Tags beside the colour (rules of colour `tag`): what the person is in, such as home
    /// observation, whatever the colour.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Reason>,
    /// Rules that could not be judged (a policy or data error). The code then shows pending
    /// (审核中) with a reason saying so, unless a rule that did apply gives red: a decision that
    /// cannot be made fails safe, never green.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<RuleFailure>,
}

/// One applying rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reason {
    pub rule: String,
    pub color: Color,
    pub text: Text,
    /// The facts that made the rule apply.
    pub facts: Vec<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub until: Option<OffsetDateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<Text>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleFailure {
    pub rule: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fact: Option<String>,
    pub message: String,
}

impl Policy {
    /// Parses and compiles a policy from its JSON text.
    pub fn from_json(text: &str) -> Result<Policy, PolicyError> {
        let document: PolicyDocument = serde_json::from_str(text).map_err(|e| PolicyError {
            problems: vec![format!("not a policy document: {e}")],
        })?;
        Policy::new(document)
    }

    /// The policy shipped with the program: the baseline of DESIGN.md §5.
    pub fn default_policy() -> Result<Policy, PolicyError> {
        Policy::from_json(DEFAULT_POLICY_JSON)
    }

    /// Checks and compiles a policy document, reporting every problem at once.
    pub fn new(document: PolicyDocument) -> Result<Policy, PolicyError> {
        let mut problems = Vec::new();
        let display_offset = parse_offset(&document.display_offset).unwrap_or_else(|| {
            problems.push(format!(
                "display_offset {:?} is not an offset such as +08:00",
                document.display_offset
            ));
            UtcOffset::UTC
        });
        if let Some(m) = &document.messages {
            let hotline = m.hotline.trim();
            if !(3..=20).contains(&hotline.len())
                || !hotline.bytes().all(|b| b.is_ascii_digit() || b == b'-')
            {
                problems.push(format!(
                    "messages.hotline {:?} is not a phone number (3 to 20 digits and dashes)",
                    m.hotline
                ));
            }
            for (name, text) in [
                ("colour_change", &m.colour_change),
                ("back_to_green", &m.back_to_green),
            ] {
                for (lang, words) in [("zh", &text.zh), ("en", &text.en)] {
                    if !words.contains("{to}") {
                        problems.push(format!(
                            "messages.{name}.{lang} does not say the new colour ({{to}})"
                        ));
                    }
                }
                for path in text.placeholders() {
                    if !MESSAGE_PLACEHOLDERS.contains(&path) {
                        problems.push(format!(
                            "messages.{name}: placeholder {{{path}}} refers to nothing (one of {})",
                            MESSAGE_PLACEHOLDERS.join(", ")
                        ));
                    }
                }
            }
        }
        let mut seen = HashSet::new();
        let mut rules = Vec::with_capacity(document.rules.len());
        for rule in &document.rules {
            let at = format!("rule {:?}", rule.id);
            if !seen.insert(rule.id.as_str()) {
                problems.push(format!("{at}: the id is used twice"));
            }
            if let Some(list) = &rule.for_each
                && !LISTS.contains(&list.as_str())
            {
                problems.push(format!(
                    "{at}: for_each {list:?} is not a fact list (one of {})",
                    LISTS.join(", ")
                ));
            }
            for path in rule.description.placeholders() {
                let known = path.starts_with("fact.") && rule.for_each.is_some()
                    || path
                        .strip_prefix("param.")
                        .is_some_and(|p| document.parameters.contains_key(p));
                if !known {
                    problems.push(format!(
                        "{at}: description placeholder {{{path}}} refers to nothing"
                    ));
                }
            }
            let when = compile(
                &document.parameters,
                &rule.when,
                &format!("{at} when"),
                &mut problems,
            );
            // `Some(None)`: no until; `None`: an until that failed to compile.
            let until = match &rule.until {
                Some(u) => compile(
                    &document.parameters,
                    u,
                    &format!("{at} until"),
                    &mut problems,
                )
                .map(Some),
                None => Some(None),
            };
            if let (Some(when), Some(until)) = (when, until) {
                rules.push(CompiledRule { when, until });
            }
        }
        if !problems.is_empty() {
            return Err(PolicyError { problems });
        }
        let policy = Policy {
            parameters: Value::Object(document.parameters.clone()),
            document,
            rules,
            display_offset,
        };
        let problems = policy.trial();
        if problems.is_empty() {
            Ok(policy)
        } else {
            Err(PolicyError { problems })
        }
    }

    /// Judges every rule on a sample of every kind of fact, alone and together, at several
    /// instants, so a rule that fails at evaluation time (a type error, a missing field) is
    /// found before the policy is published rather than on a person's record.
    fn trial(&self) -> Vec<String> {
        let start = self.document.valid_from;
        let samples = crate::facts::samples(start);
        let mut problems: Vec<String> = Vec::new();
        let sets = samples
            .iter()
            .map(std::slice::from_ref)
            .chain([samples.as_slice()]);
        for facts in sets {
            for days in [0, 1, 3, 8, 15, 30] {
                let at = start + time::Duration::days(days) + time::Duration::hours(12);
                for e in self.evaluate(facts, at).errors {
                    let on = match facts.iter().find(|f| Some(&f.id) == e.fact.as_ref()) {
                        Some(f) => format!("a sample {} fact", f.body.list()),
                        None => "a sample record".to_owned(),
                    };
                    let problem = format!("rule {:?} fails on {on}: {}", e.rule, e.message);
                    if !problems.contains(&problem) {
                        problems.push(problem);
                    }
                }
            }
        }
        problems
    }

    /// The offset the region's local time is in: the day a daily check-in counts for.
    pub fn display_offset(&self) -> UtcOffset {
        self.display_offset
    }

    pub fn document(&self) -> &PolicyDocument {
        &self.document
    }

    /// The colour the rules give at `now` for the facts on record about one person.
    pub fn evaluate(&self, facts: &[Fact], now: OffsetDateTime) -> Status {
        let lists = FactDocument::as_of(facts, now).lists;
        let now_ms = unix_ms(now);
        let context = json!({ "now": rfc3339(now), "facts": lists });
        let none: &[Value] = &[];
        let mut reasons = Vec::new();
        let mut tags = Vec::new();
        let mut errors = Vec::new();
        for (rule, compiled) in self.document.rules.iter().zip(&self.rules) {
            // A per-fact rule sees each fact as `fact`, bound without copying it; a whole-person
            // rule sees `fact` as null.
            let judged: &[Value] = match &rule.for_each {
                Some(list) => context["facts"][list.as_str()]
                    .as_array()
                    .map_or(none, Vec::as_slice),
                None => std::slice::from_ref(&Value::Null),
            };
            for fact in judged {
                let fact_id = fact["id"].as_str().map(str::to_owned);
                match self.judge(compiled, &context, fact, now_ms) {
                    Ok(Some(until)) => {
                        let reason = self.reason(rule, fact, fact_id, until);
                        match rule.color {
                            RuleColor::Tag => tags.push(reason),
                            _ => reasons.push(reason),
                        }
                    }
                    Ok(None) => {}
                    Err(message) => errors.push(RuleFailure {
                        rule: rule.id.clone(),
                        fact: fact_id,
                        message,
                    }),
                }
            }
        }
        if !errors.is_empty() {
            reasons.push(undecided(&errors));
        }
        // Most severe first; within a colour, the one that lasts longest first.
        reasons.sort_by(|a, b| {
            b.color
                .cmp(&a.color)
                .then_with(|| until_key(b.until).cmp(&until_key(a.until)))
        });
        Status {
            color: reasons
                .iter()
                .map(|r| r.color)
                .max()
                .unwrap_or(Color::Green),
            next_change: reasons.iter().filter_map(|r| r.until).min(),
            reasons,
            evaluated_at: now,
            region: self.document.region.clone(),
            policy_version: self.document.version.clone(),
            tags,
            errors,
        }
    }

    /// `Ok(Some(until))` when the rule applies at `now_ms`.
    fn judge(
        &self,
        rule: &CompiledRule,
        context: &Value,
        fact: &Value,
        now_ms: i64,
    ) -> Result<Option<Option<i64>>, String> {
        let bindings = [("fact", fact)];
        if !rule
            .when
            .evaluate_truthy_with(context, &bindings)
            .map_err(|e| format!("when: {e}"))?
        {
            return Ok(None);
        }
        let until = match &rule.until {
            Some(expr) => {
                let value = expr
                    .evaluate_with(context, &bindings)
                    .map_err(|e| format!("until: {e}"))?;
                earliest(&value).map_err(|e| format!("until: {e}"))?
            }
            None => None,
        };
        Ok(match until {
            Some(end) if end <= now_ms => None,
            _ => Some(until),
        })
    }

    fn reason(
        &self,
        rule: &RuleDocument,
        fact_value: &Value,
        fact: Option<String>,
        until: Option<i64>,
    ) -> Reason {
        let roots = [("fact", fact_value), ("param", &self.parameters)];
        let render = |s: &str| self.render_value(s);
        Reason {
            rule: rule.id.clone(),
            color: rule.color.into(),
            text: rule.description.fill(&roots, &render),
            facts: fact.into_iter().collect(),
            until: until.and_then(from_unix_ms),
            notice: rule.notice.as_ref().map(|n| n.fill(&roots, &render)),
        }
    }

    /// The words of this version's colour-change messages, or the shipped ones.
    pub fn messages(&self) -> std::borrow::Cow<'_, Messages> {
        match &self.document.messages {
            Some(m) => std::borrow::Cow::Borrowed(m),
            None => std::borrow::Cow::Owned(Messages::default()),
        }
    }

    /// A fact's value as a resident reads it in a reason: a date-time in the display offset, a
    /// region code by its name (武汉市 for `420100`), anything else as it is.
    pub fn render_value(&self, s: &str) -> Option<String> {
        self.render_time(s).or_else(|| {
            (s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| crate::region::name(s).map(str::to_owned))
                .flatten()
        })
    }

    /// A date-time string shown in the policy's display offset, minutes precision.
    pub fn render_time(&self, s: &str) -> Option<String> {
        if !s.contains('T') {
            return None;
        }
        let t = OffsetDateTime::parse(s, &Rfc3339)
            .ok()
            .or_else(|| certlogic::parse_date_time(s).and_then(from_unix_ms))?;
        self.format_time(t)
    }

    /// `2020-04-03 14:02` in the display offset.
    pub fn format_time(&self, t: OffsetDateTime) -> Option<String> {
        t.checked_to_offset(self.display_offset)?
            .format(format_description!("[year]-[month]-[day] [hour]:[minute]"))
            .ok()
    }
}

/// The reason a status is pending: rules that could not be judged, and the facts they judged.
fn undecided(errors: &[RuleFailure]) -> Reason {
    let mut rules: Vec<&str> = errors.iter().map(|e| e.rule.as_str()).collect();
    rules.dedup();
    let rules = rules.join(", ");
    let mut facts: Vec<String> = errors.iter().filter_map(|e| e.fact.clone()).collect();
    facts.sort();
    facts.dedup();
    Reason {
        rule: UNDECIDED.to_owned(),
        color: Color::Pending,
        text: Text {
            zh: format!(
                "赋码规则（{rules}）无法对您的记录作出判定，健康码暂为审核中，工作人员将尽快核实。"
            ),
            en: format!(
                "The policy's rules ({rules}) could not be judged on your records: your code shows pending until staff check them."
            ),
        },
        facts,
        until: None,
        notice: None,
    }
}

/// The rule id of the reason a status is pending because a rule could not be judged.
pub const UNDECIDED: &str = "rule-not-judged";

fn until_key(until: Option<OffsetDateTime>) -> (bool, Option<OffsetDateTime>) {
    // No end sorts as the longest.
    (until.is_none(), until)
}

/// Replaces `{"param": name}` references and compiles; problems are collected, not returned early.
fn compile(
    params: &Map<String, Value>,
    expr: &Value,
    at: &str,
    problems: &mut Vec<String>,
) -> Option<Expr> {
    let spliced = match splice(params, expr, 0) {
        Ok(v) => v,
        Err(e) => {
            problems.push(format!("{at}: {e}"));
            return None;
        }
    };
    match Expr::compile(&spliced) {
        Ok(e) => Some(e),
        Err(e) => {
            for issue in &e.issues {
                problems.push(format!("{at}: {issue}"));
            }
            None
        }
    }
}

fn splice(params: &Map<String, Value>, expr: &Value, depth: usize) -> Result<Value, String> {
    if depth > MAX_PARAM_DEPTH {
        return Err(format!(
            "parameters nest deeper than {MAX_PARAM_DEPTH} levels (a cycle?)"
        ));
    }
    Ok(match expr {
        Value::Object(map) if map.len() == 1 && map.contains_key("param") => {
            let name = map["param"]
                .as_str()
                .ok_or("{\"param\": …} takes a parameter name")?;
            let value = params
                .get(name)
                .ok_or_else(|| format!("unknown parameter {name:?}"))?;
            splice(params, value, depth + 1)?
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), splice(params, v, depth)?)))
                .collect::<Result<_, String>>()?,
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| splice(params, v, depth))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// The earliest end among an `until` value's candidates, in ms since the epoch.
fn earliest(value: &Value) -> Result<Option<i64>, String> {
    match value {
        Value::Null | Value::Bool(false) => Ok(None),
        Value::String(s) => certlogic::parse_date_time(s)
            .map(Some)
            .ok_or_else(|| format!("{s:?} is not a date-time")),
        Value::Array(items) => {
            let mut best: Option<i64> = None;
            for item in items {
                if let Some(t) = earliest(item)? {
                    best = Some(best.map_or(t, |b| b.min(t)));
                }
            }
            Ok(best)
        }
        other => Err(format!("gives {other}, not a date-time, false or null")),
    }
}

fn unix_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn from_unix_ms(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

fn parse_offset(s: &str) -> Option<UtcOffset> {
    UtcOffset::parse(
        s,
        format_description!("[offset_hour sign:mandatory]:[offset_minute]"),
    )
    .ok()
}

/// The default policy's JSON, shipped inside the program.
pub const DEFAULT_POLICY_JSON: &str = include_str!("../policy/default.json");
