//! `stepup.dev/exempt` at `/validate`: the Ingress names the exemption it
//! relies on, and the policy's `spec.exemptions` decides whether it has
//! one. Both are needed: a grant alone exempts nothing (the Ingress says
//! it is exempt, so its author and reviewers see it), and the annotation
//! alone is judged as if it were absent, with a note saying why and how
//! to get a grant. (`stepup.dev/ignore` for error findings follows the
//! same rule inside [`crate::lint`] with `grants_required`.)

use crate::generate::EXEMPT_ANNOTATION;
use crate::ingress::Ingress;
use crate::lint::{GrantUse, subject};
use crate::policy::{Check, Policy, Scope};

use super::message::{MAX_WARNING_CHARS, clip};

/// What `stepup.dev/exempt` on an Ingress comes to.
#[derive(Debug, Clone)]
pub enum Whole {
    /// No annotation.
    Absent,
    /// An annotation without a reason: the deny message.
    NoReason(String),
    /// A grant covers it: checks are skipped.
    Granted {
        /// The annotation's reason.
        reason: String,
        /// The response's warning.
        warning: String,
        /// For the log and the counter.
        used: GrantUse,
    },
    /// No grant in force covers it: checks run as if it were absent.
    Refused {
        /// Put before a deny message: what is wrong and how to get a grant.
        note: String,
        /// The warning when the checks pass anyway.
        warning: String,
        /// For the log and the counter.
        used: GrantUse,
    },
}

/// Judge `ing`'s `stepup.dev/exempt` at `now` (Unix seconds; `None`: the
/// clock cannot be read).
pub fn whole(policy: &Policy, ing: &Ingress, now: Option<u64>) -> Whole {
    let Some(reason) = ing.annotations.get(EXEMPT_ANNOTATION) else {
        return Whole::Absent;
    };
    let key = ing.key();
    let reason = reason.trim();
    if reason.is_empty() {
        return Whole::NoReason(format!(
            "{EXEMPT_ANNOTATION} on Ingress {key} gives no reason; an exemption needs one a reviewer can read, e.g. {EXEMPT_ANNOTATION}: \"public status page, approved by security in SEC-123\""
        ));
    }
    let check = policy.exemption(&subject(ing), Scope::Whole, now);
    let used = GrantUse::new(policy, ing, None, &check);
    match check {
        Check::Granted(g) => Whole::Granted {
            reason: reason.to_string(),
            warning: clip(
                &format!(
                    "stepup checks skipped ({EXEMPT_ANNOTATION}, {}): {reason}",
                    g.label()
                ),
                MAX_WARNING_CHARS,
            ),
            used,
        },
        other => {
            let short = match other {
                Check::Expired(g) => format!(
                    "{EXEMPT_ANNOTATION} not honoured: grant {} expired on {}; checks ran",
                    g.label(),
                    g.expires.as_ref().map_or("?", |e| e.text.as_str())
                ),
                _ => format!(
                    "{EXEMPT_ANNOTATION} is not granted by the policy ({}); checks ran",
                    crate::policy::exemptions::SECTION
                ),
            };
            Whole::Refused {
                note: format!("{EXEMPT_ANNOTATION} on Ingress {key} is {}.", used.detail),
                warning: clip(&short, MAX_WARNING_CHARS),
                used,
            }
        }
    }
}
