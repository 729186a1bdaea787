//! `stepup lint`: auth coverage as code review.
//!
//! Findings are values, never errors. Each has a stable rule ID (`SU001`…),
//! a severity, a message a person can act on, where it is (`file:line`,
//! namespace/name, host, path) and a fix hint. The rules:
//!
//! - **Route rules** probe the routing model ([`crate::controllers::ingress_nginx::routing`]): for every
//!   host, a set of request paths (each location's own path, the policy's
//!   rule paths, the built-in and configured sensitive paths) is routed
//!   exactly as `simulate` routes it, and what the serving location enforces
//!   is compared with what the policy requires. Shadowing, regex-mode
//!   case-folding and prefix leaks therefore come out of the same model that
//!   the nginx differential test proves. Their findings are one per
//!   Ingress path and rule ([`probe`]), naming the paths as the policy or
//!   the Ingress writes them, never the probe samples.
//! - **Not served** (SU025): an Ingress the modelled controller skips for
//!   its class; every route rule skipped it too, so it is said.
//! - **Policy rule** (SU029, [`shadow`]): a rule earlier ones shadow.
//! - **Annotation rules** read each Ingress's annotations (snippets,
//!   injection characters, auth-url shape, canary, cache key, TLS, …).
//! - **Admission rules** (SU019, SU020): an Ingress the controller drops
//!   before routing ([`crate::controllers::ingress_nginx::routing::admit`]), and one it serves with
//!   annotations ignored or changed, or with every location denied.
//! - **Rewrite rule** (SU018, [`rewrite`]): where each location's
//!   `rewrite-target` can send a request on the backend, against the
//!   policy rules there.
//!
//! Suppression: `stepup.dev/ignore: "SU007: reason, SU013: reason"` on an
//! Ingress; a suppression without a reason is itself a finding (SU017);
//! `--no-suppress` ignores them all. Suppressing a warning is the author's
//! call. Suppressing an error is the platform's: `/validate` honours it
//! only where a grant of the policy's `spec.exemptions` covers the Ingress
//! and the rule ([`Options::grants_required`]). `stepup lint` still
//! honours it (CI keeps its suppressions) but reports each one no grant
//! covers as SU017, saying that admission will deny it and why.
//! cert-manager's ACME solver Ingresses are exempt.

mod controller;
mod grouped;
pub mod inputs;
mod probe;
mod rewrite;
mod rules;
mod shadow;

pub use crate::findings::{Finding, RuleInfo, Severity, rule, rules};
pub use rules::{PREVIOUS_DELETED, PREVIOUS_STAYS};

use std::collections::HashMap;
use std::hash::BuildHasher;

use crate::controllers::ingress_nginx::routing::RouteTable;
use crate::ingress::Ingress;
use crate::policy::Policy;
use crate::policy::exemptions::{self, Check, Outcome, Scope, Subject};

/// Options of a lint run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Ignore `stepup.dev/ignore` suppressions.
    pub no_suppress: bool,
    /// Suppress an error finding only where a grant of `spec.exemptions`
    /// covers it (as `/validate` does); other error suppressions are not
    /// honoured and the finding's message says why. Off (`stepup lint`):
    /// they are honoured and each is reported as SU017.
    pub grants_required: bool,
    /// The time (Unix seconds) grant expiries are judged at; `None` reads
    /// the system clock.
    pub now: Option<u64>,
}

/// One error finding an Ingress's `stepup.dev/ignore` asked to suppress
/// (or its `stepup.dev/exempt`, at admission), and what the policy said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantUse {
    /// Namespace of the Ingress.
    pub namespace: String,
    /// Name of the Ingress.
    pub ingress: String,
    /// The rule suppressed; `None` for the whole Ingress (`stepup.dev/exempt`).
    pub rule: Option<&'static str>,
    /// Honoured or not.
    pub outcome: Outcome,
    /// The grant's label and reason when honoured, else why not.
    pub detail: String,
}

impl GrantUse {
    /// The use of `scope` on `ing`, as `check` judged it.
    pub fn new(
        policy: &Policy,
        ing: &Ingress,
        rule: Option<&'static str>,
        check: &Check<'_>,
    ) -> GrantUse {
        let scope = rule.map_or(Scope::Whole, Scope::Rule);
        let detail = match check {
            Check::Granted(g) => format!("{}: {}", g.label(), g.reason),
            other => other.why_not(&policy.file, &subject(ing), scope),
        };
        GrantUse {
            namespace: ing.namespace.clone(),
            ingress: ing.name.clone(),
            rule,
            outcome: check.outcome(),
            detail,
        }
    }
}

/// The exemption subject of an Ingress.
pub fn subject(ing: &Ingress) -> Subject<'_> {
    Subject {
        namespace: &ing.namespace,
        name: &ing.name,
        labels: &ing.labels,
    }
}

/// What a run found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Findings, sorted by file, line, rule.
    pub findings: Vec<Finding>,
    /// Findings that were suppressed (kept for reporting).
    pub suppressed: usize,
    /// Ingresses looked at.
    pub ingresses: usize,
    /// Error suppressions and what the policy's grants said of each.
    pub grant_uses: Vec<GrantUse>,
}

impl Report {
    /// Count of findings at exactly `sev`.
    pub fn count(&self, sev: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity == sev).count()
    }
}

/// How a finding names a server's host: `*` for the catch-all.
fn report_host(server: &str) -> &str {
    if server == crate::controllers::ingress_nginx::routing::CATCH_ALL {
        "*"
    } else {
        server
    }
}

/// Ingresses below this count get their annotation rules on one thread.
const PARALLEL_MIN_INGRESSES: usize = 1024;

/// Lint a cluster's Ingresses against a policy. `table` must have been built
/// from the same Ingresses; its `ignored` list is linted too.
pub fn lint(policy: &Policy, table: &RouteTable, opts: &Options) -> Report {
    let mut findings = Vec::new();
    let all: Vec<&Ingress> = table
        .ingresses
        .iter()
        .chain(table.ignored.iter().map(|(i, _)| i))
        .chain(table.dropped.iter().map(|d| &d.ingress))
        .collect();
    // Everything below is linear in the number of Ingresses: per-object
    // lookups go through these indexes, never a scan of `all`.
    let by_key: crate::FastMap<(&str, &str), &Ingress> = all
        .iter()
        .map(|i| ((i.namespace.as_str(), i.name.as_str()), *i))
        .collect();
    let ctx = rules::Context::new(table);
    for part in crate::par::chunks(&all, PARALLEL_MIN_INGRESSES, |chunk| {
        let mut found = Vec::new();
        for ing in chunk {
            if !is_acme_solver(ing) {
                rules::annotations(policy, &ctx, ing, &mut found);
            }
        }
        found
    }) {
        findings.extend(part);
    }
    // SU019, SU020: what the controller does before routing.
    findings.extend(table.dropped.iter().map(rules::dropped));
    findings.extend(all.iter().filter_map(|i| rules::changed(i)));
    // SU025: what the controller does not serve (its class) is skipped
    // by every route rule; say so.
    findings.extend(
        table
            .ignored
            .iter()
            .map(|(i, why)| rules::not_served(i, why)),
    );
    // Aggregated as they are made (probe::routes).
    probe::routes(policy, table, &mut findings);
    rewrite::check(policy, table, &mut findings);
    controller::check(policy, table, &mut findings);
    // SU029: the policy's own dead rules.
    shadow::check(policy, &mut findings);
    findings.retain(|f| {
        by_key
            .get(&(f.namespace.as_str(), f.ingress.as_str()))
            .is_none_or(|i| !is_acme_solver(i))
    });

    let (suppressed, grant_uses) = if opts.no_suppress {
        (0, Vec::new())
    } else {
        suppress(policy, opts, &all, &by_key, &mut findings)
    };
    findings.sort_by(|a, b| {
        (&a.file, a.line, a.rule, &a.host, &a.path)
            .cmp(&(&b.file, b.line, b.rule, &b.host, &b.path))
    });
    findings.dedup();
    Report {
        findings,
        suppressed,
        ingresses: all.len(),
        grant_uses,
    }
}

/// `stepup.dev/ignore` suppressions: drop each finding an Ingress
/// suppresses (an error only where the policy's grants allow it when
/// [`Options::grants_required`]), and add SU017 for each suppression
/// without a reason or a grant. The count suppressed, and each error
/// suppression with what the policy said of it.
fn suppress(
    policy: &Policy,
    opts: &Options,
    all: &[&Ingress],
    by_key: &crate::FastMap<(&str, &str), &Ingress>,
    findings: &mut Vec<Finding>,
) -> (usize, Vec<GrantUse>) {
    let mut suppressed = 0;
    let mut grant_uses = Vec::new();
    let now = opts.now.or_else(exemptions::now);
    let mut extra = Vec::new();
    findings.retain_mut(|f| {
        let Some(ing) = by_key.get(&(f.namespace.as_str(), f.ingress.as_str())) else {
            return true;
        };
        let (ids, _) = suppressions(ing);
        if !ids.iter().any(|id| id.eq_ignore_ascii_case(f.rule)) {
            return true;
        }
        if f.severity < Severity::Error {
            suppressed += 1;
            return false;
        }
        let check = policy.exemption(&subject(ing), Scope::Rule(f.rule), now);
        let used = GrantUse::new(policy, ing, Some(f.rule), &check);
        let keep = !matches!(check, Check::Granted(_)) && opts.grants_required;
        if keep {
            f.message = format!(
                "{} ({IGNORE_ANNOTATION} names {}, but it is {})",
                f.message.trim_end_matches('.'),
                f.rule,
                used.detail
            );
        } else {
            suppressed += 1;
            if !matches!(check, Check::Granted(_)) {
                extra.push(ungranted(ing, f, &used.detail));
            }
        }
        grant_uses.push(used);
        keep
    });
    for ing in all {
        for bad in suppressions(ing).1 {
            let host = ing
                .rules
                .iter()
                .find_map(|r| r.host.clone())
                .unwrap_or_default();
            let f = rules::finding(
                "SU017",
                ing,
                &host,
                "",
                bad,
                "Add a reason after the rule ID, e.g. `stepup.dev/ignore: \"SU013: TLS ends at the cloud load balancer\"`.".into(),
            );
            extra.push(rules::at_annotation(f, ing, IGNORE_ANNOTATION));
        }
    }
    findings.extend(extra);
    (suppressed, grant_uses)
}

/// SU017 for an error finding `stepup lint` suppressed but `/validate`
/// will not, as no grant covers it.
fn ungranted(ing: &Ingress, f: &Finding, why: &str) -> Finding {
    let found = rules::finding(
        "SU017",
        ing,
        &f.host,
        &f.path,
        format!(
            "{IGNORE_ANNOTATION} suppresses error {} here, but admission (/validate) will deny it: it is {why}",
            f.rule
        ),
        format!(
            "Fix the {} finding, or have the policy grant the exemption under {}.",
            f.rule,
            exemptions::SECTION
        ),
    );
    rules::at_annotation(found, ing, IGNORE_ANNOTATION)
}

/// One finding per rule, Ingress, host and path: further probe paths that
/// hit the same location for the same reason are listed in the first one.
fn aggregate(list: Vec<Finding>) -> Vec<Finding> {
    // Indexed by a hash of the key, borrowing nothing (a key of cloned
    // strings cost five allocations per probe finding); a hash shared by
    // two different keys falls back to a scan, so the result is exact.
    fn key(f: &Finding) -> (&str, &str, &str, &str, &str, &str) {
        (f.rule, &f.namespace, &f.ingress, &f.host, &f.path, &f.fix)
    }
    let hasher = foldhash::fast::RandomState::default();
    let mut index: HashMap<u64, usize> = HashMap::new();
    let mut out: Vec<(Finding, usize)> = Vec::new();
    for f in list {
        let h = hasher.hash_one(key(&f));
        let hit = match index.get(&h) {
            Some(&i) if key(&out[i].0) == key(&f) => Some(i),
            Some(_) => out.iter().position(|(o, _)| key(o) == key(&f)),
            None => None,
        };
        match hit {
            Some(i) => out[i].1 += 1,
            None => {
                index.entry(h).or_insert(out.len());
                out.push((f, 0));
            }
        }
    }
    out.into_iter()
        .map(|(mut f, more)| {
            if more > 0 {
                f.message.push_str(&format!(
                    " (and {more} more probe path(s) through the same location)"
                ));
            }
            f
        })
        .collect()
}

/// Annotation naming suppressed rules.
pub const IGNORE_ANNOTATION: &str = "stepup.dev/ignore";

/// Parse `stepup.dev/ignore`: the rule IDs suppressed with a reason, and
/// the problems with entries that suppress nothing.
///
/// Entries are `SU0NN: reason`, separated by `,`, `;` or newlines; a
/// separator only starts a new entry when a rule ID follows it, so reasons
/// may contain commas.
pub fn suppressions(ing: &Ingress) -> (Vec<String>, Vec<String>) {
    let Some(v) = ing.annotations.get(IGNORE_ANNOTATION) else {
        return (Vec::new(), Vec::new());
    };
    let starts_entry = |t: &str| {
        let t = t.trim_start();
        t.len() >= 5
            && t[..2].eq_ignore_ascii_case("SU")
            && t.as_bytes()[2..5].iter().all(u8::is_ascii_digit)
    };
    let mut entries: Vec<String> = Vec::new();
    let mut cur = String::new();
    for piece in v.split_inclusive([',', ';', '\n']) {
        if !cur.trim().is_empty() && starts_entry(piece) {
            entries.push(std::mem::take(&mut cur));
        }
        cur.push_str(piece);
    }
    entries.push(cur);
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for e in entries {
        let e = e.trim().trim_end_matches([',', ';']).trim();
        if e.is_empty() {
            continue;
        }
        match e.split_once(':') {
            Some((id, why)) => {
                let id = id.trim();
                if rule(id).is_none() {
                    bad.push(format!("suppression {e:?} names unknown rule {id} (`stepup explain` lists the rules)"));
                } else if why.trim().is_empty() {
                    bad.push(format!(
                        "suppression {e:?} gives no reason; write `{id}: why it is safe`"
                    ));
                } else {
                    ok.push(id.to_ascii_uppercase());
                }
            }
            None => bad.push(format!(
                "suppression {e:?} gives no reason; write `SU0NN: why it is safe`"
            )),
        }
    }
    (ok, bad)
}

/// cert-manager's HTTP-01 solver Ingresses (temporary, public by design).
pub fn is_acme_solver(ing: &Ingress) -> bool {
    ing.labels
        .get("acme.cert-manager.io/http01-solver")
        .is_some_and(|v| v == "true")
        || (ing.rules.iter().all(|r| {
            r.paths
                .iter()
                .all(|p| p.path.starts_with("/.well-known/acme-challenge/"))
        }) && ing.rules.iter().any(|r| !r.paths.is_empty()))
}

#[cfg(test)]
mod tests;
