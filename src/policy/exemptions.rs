//! `spec.exemptions`: the platform's grants of exemption (SPEC §5).
//!
//! A control its subject can switch off is not a control, so an Ingress's
//! own `stepup.dev/exempt` or `stepup.dev/ignore` annotation says which
//! exemption it relies on, and only a grant here makes it count:
//!
//! ```yaml
//! exemptions:
//!   - namespaces: [status]               # any of these namespaces
//!     names: [status/public-page]        # any of these namespace/name
//!     selector: {matchLabels: {team: sre}}   # labels of the Ingress
//!     rules: [SU001]                     # omit: the whole Ingress (stepup.dev/exempt)
//!     reason: "public status page, SEC-123"
//!     expires: 2027-03-01                # last day it applies (UTC)
//! ```
//!
//! A grant applies to an Ingress when every criterion it names matches
//! (criteria AND, the entries of one list OR); it must name at least one.
//! `rules` limits it to suppressing those findings (`stepup.dev/ignore`);
//! without `rules` it also covers `stepup.dev/exempt`. `expires` is a date
//! (the grant applies through that day, UTC) or an RFC 3339 time; after it
//! the grant is reported as expired and honoured nowhere. A clock that
//! cannot be read honours no expiring grant (fail closed).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::Value;

use super::Errors;

/// Where the grants live, for messages.
pub const SECTION: &str = "spec.exemptions";

/// One grant, `spec.exemptions[index]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Position in `spec.exemptions`.
    pub index: usize,
    /// Line of the entry.
    pub line: u32,
    /// Namespaces it applies to (empty: not a criterion).
    pub namespaces: BTreeSet<String>,
    /// `(namespace, name)` of Ingresses it applies to (empty: not a criterion).
    pub names: BTreeSet<(String, String)>,
    /// Labels the Ingress must have.
    pub selector: Option<Selector>,
    /// Rule IDs it lets `stepup.dev/ignore` suppress; `None`: everything,
    /// `stepup.dev/exempt` included.
    pub rules: Option<BTreeSet<String>>,
    /// Why (required).
    pub reason: String,
    /// When it stops applying.
    pub expires: Option<Expiry>,
}

/// A grant's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiry {
    /// As written (`2027-03-01`).
    pub text: String,
    /// First Unix second at which the grant no longer applies.
    pub end: u64,
}

/// A label selector on the Ingress (Kubernetes `LabelSelector`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    /// Labels that must be present with these values.
    pub match_labels: BTreeMap<String, String>,
    /// Further requirements.
    pub match_expressions: Vec<Expression>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expression {
    /// Label key.
    pub key: String,
    /// Operator.
    pub op: Operator,
    /// Values (`In`, `NotIn`).
    pub values: BTreeSet<String>,
}

/// `matchExpressions` operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// The label has one of the values.
    In,
    /// The label is absent or has none of the values.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

impl Selector {
    /// Whether `labels` satisfy the selector.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|e| {
                let got = labels.get(&e.key);
                match e.op {
                    Operator::In => got.is_some_and(|v| e.values.contains(v)),
                    Operator::NotIn => got.is_none_or(|v| !e.values.contains(v)),
                    Operator::Exists => got.is_some(),
                    Operator::DoesNotExist => got.is_none(),
                }
            })
    }
}

/// What an annotation asks to switch off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    /// The whole Ingress (`stepup.dev/exempt`).
    Whole,
    /// One rule's findings (`stepup.dev/ignore: "SU001: …"`).
    Rule(&'a str),
}

/// The Ingress an exemption is asked for.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// Namespace.
    pub namespace: &'a str,
    /// Name.
    pub name: &'a str,
    /// Labels.
    pub labels: &'a BTreeMap<String, String>,
}

impl Grant {
    /// `spec.exemptions[i]`.
    pub fn label(&self) -> String {
        format!("{SECTION}[{}]", self.index)
    }

    /// Whether the grant names `s` (every criterion it sets matches).
    pub fn applies_to(&self, s: &Subject<'_>) -> bool {
        (self.namespaces.is_empty() || self.namespaces.contains(s.namespace))
            && (self.names.is_empty()
                || self
                    .names
                    .iter()
                    .any(|(ns, n)| ns == s.namespace && n == s.name))
            && self
                .selector
                .as_ref()
                .is_none_or(|sel| sel.matches(s.labels))
    }

    /// Whether the grant lets `scope` be switched off.
    pub fn covers(&self, scope: Scope<'_>) -> bool {
        match (&self.rules, scope) {
            (None, _) => true,
            (Some(_), Scope::Whole) => false,
            (Some(r), Scope::Rule(id)) => r.iter().any(|g| g.eq_ignore_ascii_case(id)),
        }
    }
}

/// The policy's answer to an exemption request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check<'a> {
    /// A grant in force covers it.
    Granted(&'a Grant),
    /// The only covering grant(s) expired; the first.
    Expired(&'a Grant),
    /// A covering grant has an expiry and the clock could not be read.
    ClockUnknown(&'a Grant),
    /// No grant covers it.
    NotGranted,
}

/// The outcome of one use of an exemption annotation (a metrics label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Honoured.
    Granted,
    /// Not honoured: no grant (or the clock is unreadable).
    Denied,
    /// Not honoured: the grant expired.
    Expired,
}

impl Outcome {
    /// `granted`, `denied` or `expired`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Granted => "granted",
            Outcome::Denied => "denied",
            Outcome::Expired => "expired",
        }
    }
}

impl<'a> Check<'a> {
    /// Outcome for logs and metrics.
    pub fn outcome(&self) -> Outcome {
        match self {
            Check::Granted(_) => Outcome::Granted,
            Check::Expired(_) => Outcome::Expired,
            Check::ClockUnknown(_) | Check::NotGranted => Outcome::Denied,
        }
    }

    /// The grant involved, if any.
    pub fn grant(&self) -> Option<&'a Grant> {
        match self {
            Check::Granted(g) | Check::Expired(g) | Check::ClockUnknown(g) => Some(g),
            Check::NotGranted => None,
        }
    }

    /// Why an exemption is not honoured (empty for [`Check::Granted`]):
    /// what is wrong and how to get a grant, naming the policy file.
    pub fn why_not(&self, policy_file: &str, s: &Subject<'_>, scope: Scope<'_>) -> String {
        let file = std::path::Path::new(policy_file)
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| !n.is_empty())
            .unwrap_or("the policy");
        let what = match scope {
            Scope::Whole => String::new(),
            Scope::Rule(id) => format!(", rules: [{id}]"),
        };
        let ask = format!(
            "a grant is added by the policy's owners under {SECTION} in {file} (namespaces, names or selector{what}, reason, expires)"
        );
        match self {
            Check::Granted(_) => String::new(),
            Check::Expired(g) => format!(
                "not honoured: its grant {} expired on {}; {ask}",
                g.label(),
                g.expires.as_ref().map_or("?", |e| e.text.as_str())
            ),
            Check::ClockUnknown(g) => format!(
                "not honoured: its grant {} expires on {} and the clock cannot be read (fail closed)",
                g.label(),
                g.expires.as_ref().map_or("?", |e| e.text.as_str())
            ),
            Check::NotGranted => format!(
                "not granted by the policy: no grant covers {}/{}{}; {ask}",
                s.namespace,
                s.name,
                match scope {
                    Scope::Whole => String::new(),
                    Scope::Rule(id) => format!(" for {id}"),
                }
            ),
        }
    }
}

/// Seconds since the Unix epoch, `None` when the clock reads before it.
pub fn now() -> Option<u64> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// The grants' answer for `s` and `scope` at `now` (`None`: unknown time).
pub fn check<'a>(
    grants: &'a [Grant],
    s: &Subject<'_>,
    scope: Scope<'_>,
    now: Option<u64>,
) -> Check<'a> {
    let mut expired = None;
    let mut unknown = None;
    for g in grants.iter().filter(|g| g.applies_to(s) && g.covers(scope)) {
        match (&g.expires, now) {
            (None, _) => return Check::Granted(g),
            (Some(e), Some(t)) if t < e.end => return Check::Granted(g),
            (Some(_), Some(_)) => {
                expired.get_or_insert(g);
            }
            (Some(_), None) => {
                unknown.get_or_insert(g);
            }
        }
    }
    match (expired, unknown) {
        (Some(g), _) => Check::Expired(g),
        (None, Some(g)) => Check::ClockUnknown(g),
        (None, None) => Check::NotGranted,
    }
}

// === parsing ===

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawGrant {
    #[serde(default)]
    namespaces: Option<Vec<String>>,
    #[serde(default)]
    names: Option<Vec<String>>,
    #[serde(default)]
    selector: Option<RawSelector>,
    #[serde(default)]
    rules: Option<Vec<String>>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    expires: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSelector {
    #[serde(default)]
    match_labels: BTreeMap<String, String>,
    #[serde(default)]
    match_expressions: Vec<RawExpression>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawExpression {
    key: String,
    operator: String,
    #[serde(default)]
    values: Vec<String>,
}

/// Validate `spec.exemptions`; problems go to `errs` with their line.
pub(super) fn resolve(raw: Vec<RawGrant>, errs: &mut Errors<'_>) -> Vec<Grant> {
    raw.into_iter()
        .enumerate()
        .map(|(i, r)| resolve_one(i, r, errs))
        .collect()
}

fn resolve_one(index: usize, r: RawGrant, errs: &mut Errors<'_>) -> Grant {
    let base = format!("/spec/exemptions/{index}");
    let line = errs.lines.line_of(&base).unwrap_or(1);
    if r.namespaces.is_none() && r.names.is_none() && r.selector.is_none() {
        errs.push(
            &base,
            "a grant needs namespaces, names or a selector; one for every Ingress would switch stepup off".into(),
        );
    }
    let namespaces = r
        .namespaces
        .map(|ns| resolve_namespaces(&base, ns, errs))
        .unwrap_or_default();
    let names = r
        .names
        .map(|ns| resolve_names(&base, ns, errs))
        .unwrap_or_default();
    let selector = r.selector.map(|s| resolve_selector(&base, s, errs));
    let rules = r.rules.map(|rs| resolve_rules(&base, rs, errs));
    let reason = r.reason.unwrap_or_default().trim().to_string();
    if reason.is_empty() {
        errs.push(
            &format!("{base}/reason"),
            "a grant needs a reason a reviewer can read, e.g. \"public status page, SEC-123\""
                .into(),
        );
    }
    let expires = r.expires.and_then(|v| match parse_expiry(&v) {
        Ok(e) => Some(e),
        Err(e) => {
            errs.push(&format!("{base}/expires"), e);
            None
        }
    });
    Grant {
        index,
        line,
        namespaces,
        names,
        selector,
        rules,
        reason,
        expires,
    }
}

fn non_empty_list(p: &str, len: usize, errs: &mut Errors<'_>) {
    if len == 0 {
        errs.push(
            p,
            "an empty list matches nothing; omit the field instead".into(),
        );
    }
}

fn resolve_namespaces(base: &str, ns: Vec<String>, errs: &mut Errors<'_>) -> BTreeSet<String> {
    let p = format!("{base}/namespaces");
    non_empty_list(&p, ns.len(), errs);
    for (j, n) in ns.iter().enumerate() {
        if !valid_dns_label(n) {
            errs.push(
                &format!("{p}/{j}"),
                format!("{n:?} is not a namespace name (lower-case letters, digits and `-`)"),
            );
        }
    }
    ns.into_iter().collect()
}

fn resolve_names(
    base: &str,
    names: Vec<String>,
    errs: &mut Errors<'_>,
) -> BTreeSet<(String, String)> {
    let p = format!("{base}/names");
    non_empty_list(&p, names.len(), errs);
    let mut out = BTreeSet::new();
    for (j, n) in names.iter().enumerate() {
        match n.split_once('/') {
            Some((ns, name)) if valid_dns_label(ns) && !name.is_empty() && !name.contains('/') => {
                out.insert((ns.to_string(), name.to_string()));
            }
            _ => errs.push(
                &format!("{p}/{j}"),
                format!("{n:?} must be namespace/name, e.g. status/public-page"),
            ),
        }
    }
    out
}

fn resolve_selector(base: &str, s: RawSelector, errs: &mut Errors<'_>) -> Selector {
    let p = format!("{base}/selector");
    if s.match_labels.is_empty() && s.match_expressions.is_empty() {
        errs.push(
            &p,
            "an empty selector matches every Ingress; give matchLabels or matchExpressions".into(),
        );
    }
    let mut match_expressions = Vec::new();
    for (j, e) in s.match_expressions.into_iter().enumerate() {
        let ep = format!("{p}/matchExpressions/{j}");
        let op = match e.operator.as_str() {
            "In" => Operator::In,
            "NotIn" => Operator::NotIn,
            "Exists" => Operator::Exists,
            "DoesNotExist" => Operator::DoesNotExist,
            other => {
                errs.push(
                    &format!("{ep}/operator"),
                    format!("unknown operator {other:?} (known: In, NotIn, Exists, DoesNotExist)"),
                );
                continue;
            }
        };
        let wants_values = matches!(op, Operator::In | Operator::NotIn);
        if wants_values == e.values.is_empty() {
            errs.push(
                &format!("{ep}/values"),
                if wants_values {
                    format!("{} needs values", e.operator)
                } else {
                    format!("{} takes no values", e.operator)
                },
            );
        }
        match_expressions.push(Expression {
            key: e.key,
            op,
            values: e.values.into_iter().collect(),
        });
    }
    Selector {
        match_labels: s.match_labels,
        match_expressions,
    }
}

fn resolve_rules(base: &str, rules: Vec<String>, errs: &mut Errors<'_>) -> BTreeSet<String> {
    let p = format!("{base}/rules");
    non_empty_list(&p, rules.len(), errs);
    let mut out = BTreeSet::new();
    for (j, id) in rules.iter().enumerate() {
        match crate::findings::rule(id.trim()) {
            Some(r) => {
                out.insert(r.id.to_string());
            }
            None => errs.push(
                &format!("{p}/{j}"),
                format!("unknown rule {id:?} (`stepup explain` lists the rules)"),
            ),
        }
    }
    out
}

fn valid_dns_label(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 63
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !n.starts_with('-')
        && !n.ends_with('-')
}

/// `2027-03-01` (through that day, UTC) or an RFC 3339 time.
fn parse_expiry(v: &Value) -> Result<Expiry, String> {
    let bad = || format!("{v} is not a date like 2027-03-01 or a time like 2027-03-01T12:00:00Z");
    let Value::String(s) = v else {
        return Err(bad());
    };
    let text = s.trim().to_string();
    let end = if text.len() == 10 {
        parse_date(&text).ok_or_else(bad)?
    } else {
        humantime::parse_rfc3339(&text)
            .map_err(|e| format!("{}: {e}", bad()))?
            .duration_since(UNIX_EPOCH)
            .map_err(|_| bad())?
            .as_secs()
    };
    Ok(Expiry { text, end })
}

/// The first second after `YYYY-MM-DD` (UTC), when it is a real date.
fn parse_date(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if y < 1970 || !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    Some((days_before(y, m) + d) * 86_400)
}

fn is_leap(y: u64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: u64, m: u64) -> u64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the first of month `m` of year `y`.
fn days_before(y: u64, m: u64) -> u64 {
    let years: u64 = (1970..y)
        .map(|yy| if is_leap(yy) { 366 } else { 365 })
        .sum();
    let months: u64 = (1..m).map(|mm| days_in_month(y, mm)).sum();
    years + months
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_end_after_their_day() {
        // 1970-01-01 ends at 86400; 2000-03-01 is day 11017 since the epoch.
        assert_eq!(parse_date("1970-01-01"), Some(86_400));
        assert_eq!(parse_date("2000-03-01"), Some(11_018 * 86_400));
        assert_eq!(parse_date("2024-02-29"), Some(19_783 * 86_400));
        for bad in [
            "2023-02-29",
            "2027-13-01",
            "2027-00-10",
            "1969-12-31",
            "2027-3-011",
            "+027-03-01",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        let e = parse_expiry(&Value::from("2027-03-01T12:00:00Z")).unwrap();
        assert_eq!(e.end, parse_date("2027-03-01").unwrap() - 43_200);
        assert!(parse_expiry(&Value::from(20270301)).is_err());
    }
}
