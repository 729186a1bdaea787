//! SU018: a `rewrite-target` that sends requests to a backend path a
//! stricter policy rule protects (issue 15).
//!
//! ingress-nginx writes `rewrite "(?i)<path>" <target> break;` into every
//! location of an Ingress with a rewrite-target that differs from the path
//! (`buildProxyPass` in its template.go), so the backend receives the target
//! with the path regex's captures substituted. Auth, though, is decided by
//! the request path and the Ingress's auth-url. This module bounds where the
//! rewrite can land ([`reach`]) and compares the strictest policy rule there
//! with the level the Ingress gives the request.
//!
//! `app-root` (a 302 at `/`) and `x-forwarded-prefix` (a request header) do
//! not change the upstream path: they are not rewrites and are not read.

use super::Finding;
use super::rules::finding;
use crate::controllers::ingress_nginx::annotations::{EnforcementRef, at_location, auth_ref};
use crate::controllers::ingress_nginx::routing::RouteTable;
use crate::controllers::ingress_nginx::routing::pcre::Pattern;
use crate::coverage::probe_host;
use crate::ingress::Backend;
use crate::policy::{AUTHENTICATED, Need, Policy};

/// The backend paths a rewrite can produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Reach {
    /// Exactly this path (the target has no variable left).
    Exact(String),
    /// Any path starting with this (the literal start of the target, up to
    /// the first `$` that can expand to something).
    Under(String),
}

/// Where `target` sends a request whose location path regex is `path`, or
/// `None` when the target is an absolute URL (nginx answers with a
/// redirect; the upstream path is not rewritten).
///
/// `$1`…`$9` beyond the regex's capture groups expand to nothing in nginx;
/// any other `$` (a capture that exists, `$0`, `${..}`, a variable) can be
/// anything, so the literal text before it is all that is known. A `?`
/// before that starts the query string: the path is exact. A target that
/// does not start with `/` is taken to reach anything (fail closed).
pub(super) fn reach(path: &str, target: &str) -> Option<Reach> {
    let t = target.trim();
    let lower = t.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return None;
    }
    // Capture groups of the rewrite's regex, as nginx compiles it (PCRE2);
    // unknown when it does not compile (every `$n` may then be non-empty).
    let groups = Pattern::rewrite(path).ok().map(|re| re.captures());
    let mut lit = String::new();
    let mut chars = t.chars().peekable();
    let mut open = false;
    while let Some(c) = chars.next() {
        match c {
            '$' => {
                let absent = chars
                    .peek()
                    .and_then(|d| d.to_digit(10))
                    .filter(|n| *n >= 1)
                    .is_some_and(|n| groups.is_some_and(|g| n as usize > g));
                if absent {
                    chars.next();
                    continue;
                }
                open = true;
                break;
            }
            '?' => break,
            _ => lit.push(c),
        }
    }
    if !lit.starts_with('/') {
        return Some(Reach::Under("/".into()));
    }
    Some(if open {
        Reach::Under(lit)
    } else {
        Reach::Exact(lit)
    })
}

/// A policy rule (or the default) a rewritten request can fall under.
struct Candidate {
    what: String,
    need: Need,
}

/// Every rule the backend path can fall under on `host`. For an exact path,
/// the rule the policy picks for it under each method a rule names (folded
/// and not); for a prefix, every rule with a glob that can match a path
/// under it, whatever the rule order or methods, and the default unless a
/// rule for every method matches all of them.
fn candidates(policy: &Policy, host: &str, reach: &Reach) -> Vec<Candidate> {
    let rule_name = |i: Option<usize>| {
        i.and_then(|i| policy.rules.get(i)).map_or_else(
            || "the policy default".to_string(),
            |r| format!("policy rule {}", r.name),
        )
    };
    let mut out = Vec::new();
    match reach {
        Reach::Exact(p) => {
            let mut methods = vec!["GET"];
            for r in &policy.rules {
                for m in r.methods.iter().flatten() {
                    if !methods.contains(&m.as_str()) {
                        methods.push(m.as_str());
                    }
                }
            }
            for m in methods {
                for fold in [false, true] {
                    let rm = policy.rule_for(host, m, p.as_bytes(), fold);
                    out.push(Candidate {
                        what: rule_name(rm.rule),
                        need: rm.need,
                    });
                }
            }
        }
        Reach::Under(p) => {
            let on_host = |r: &crate::policy::Rule| {
                r.hosts.is_empty() || r.hosts.iter().any(|h| h.matches(host))
            };
            let mut covered = false;
            for (i, r) in policy.rules.iter().enumerate() {
                if !on_host(r) {
                    continue;
                }
                if r.paths
                    .iter()
                    .any(|g| g.may_match_under(p.as_bytes(), true))
                {
                    out.push(Candidate {
                        what: rule_name(Some(i)),
                        need: r.need.clone(),
                    });
                }
                covered |=
                    r.methods.is_none() && r.paths.iter().any(|g| g.covers_all_under(p.as_bytes()));
            }
            if !covered {
                out.push(Candidate {
                    what: rule_name(None),
                    need: policy.default_need.clone(),
                });
            }
        }
    }
    out
}

/// Run SU018 over every served location with a rewrite.
pub(super) fn check(policy: &Policy, t: &RouteTable, out: &mut Vec<Finding>) {
    for s in &t.servers {
        let host = probe_host(s);
        let report_host = super::report_host(&s.name);
        for l in &s.locations {
            let (Some(target), Some(ii)) = (l.rewrite_target(), l.ingress) else {
                continue;
            };
            if l.backend == Backend::Default {
                // The default backend answers 404 to any path.
                continue;
            }
            let Some(ing) = t.ingresses.get(ii) else {
                continue;
            };
            let (have, have_label) =
                match at_location(auth_ref(ing, Some(policy)), l, Some(policy)).enforcement {
                    EnforcementRef::None => (Need::Public, "no auth".to_string()),
                    // A query that fails closed is SU003's.
                    EnforcementRef::Stepup { fault: Some(_), .. } => continue,
                    EnforcementRef::Stepup { level, rule, .. } => match policy.need_of(level) {
                        // `rule=` is a floor at runtime: its rule's level applies too.
                        Some(n) => match rule.map(|r| (r, policy.rule_floor(r))) {
                            Some((r, Ok((_, floor)))) => {
                                (n.and(&floor), format!("level {level} (rule {r})"))
                            }
                            _ => (n, format!("level {level}")),
                        },
                        // An unknown level fails closed at runtime (SU003).
                        None => continue,
                    },
                    // Whoever sends the request picks the check (SU003).
                    EnforcementRef::RequestChosen(_) => {
                        (Need::Public, "auth the request picks".to_string())
                    }
                    EnforcementRef::External(_) | EnforcementRef::Basic => (
                        policy.need_of(AUTHENTICATED).unwrap_or(Need::Public),
                        "a login only (auth is not stepup's)".to_string(),
                    ),
                };
            let Some(reach) = reach(&l.name, target) else {
                continue;
            };
            let weaker: Vec<Candidate> = candidates(policy, &host, &reach)
                .into_iter()
                .filter(|c| !have.satisfies(&c.need))
                .collect();
            // The strictest of them: one meeting all the others, else the first.
            let Some(worst) = weaker
                .iter()
                .find(|c| weaker.iter().all(|o| c.need.satisfies(&o.need)))
                .or_else(|| weaker.first())
            else {
                continue;
            };
            let lands = match &reach {
                Reach::Exact(p) => format!("as {p}"),
                Reach::Under(p) => format!("as any path under {p}"),
            };
            let ing_path = if l.is_default {
                "/"
            } else {
                l.ingress_path.as_str()
            };
            let need = worst.need.label();
            out.push(finding(
                "SU018",
                ing,
                report_host,
                ing_path,
                format!(
                    "{report_host}{ing_path}: rewrite-target {target} sends requests to the backend {lands}, where {} requires {need}, but Ingress {} lets them through with {have_label}",
                    worst.what,
                    ing.key(),
                ),
                format!(
                    "Protect Ingress {} at level {need} (`stepup generate --split` gives it its own Ingress), or rewrite to a path no rule stricter than {have_label} covers.",
                    ing.key()
                ),
            ));
        }
    }
}
