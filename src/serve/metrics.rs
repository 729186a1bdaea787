//! Prometheus metrics (`/metrics`, text exposition format).
//!
//! - `stepup_decisions_total{outcome,rule,level}`: `/auth` answers. `rule`
//!   is the policy rule that matched the normalised path (`none` when the
//!   default applied), `level` the auth-url's `level` parameter (`unknown`
//!   when missing or not a level of the policy), so cardinality is bounded
//!   by the policy, never by request data.
//! - `stepup_auth_duration_seconds`: `/auth` handling time, histogram.
//! - `stepup_jwks_refreshes_total{outcome}`: `ok`, `error`, `rate_limited`.
//! - `stepup_jwks_keys`, `stepup_token_cache_entries`: gauges, read at
//!   scrape time.
//! - `stepup_signins_total{step,outcome}`: the browser sign-in, `step` one
//!   of `signin`, `callback`, `signout`; `outcome` a fixed word (`redirect`,
//!   `ok`, `bad_request`, `expired`, `idp_error`, `rejected`,
//!   `level_not_met`, `forbidden`, `other_user`, `unavailable`).
//! - `stepup_admission_reviews_total{webhook,outcome}`: `/validate` and
//!   `/mutate` answers; `outcome` one of `allowed`, `denied`, `exempt`,
//!   `skipped`, `patched`, `unchanged`, `invalid` (HTTP 4xx).
//! - `stepup_admission_exemptions_total{operation,annotation,outcome}`: uses
//!   of an exemption annotation at `/validate` (`CREATE`, `UPDATE`):
//!   `annotation` is `exempt` (`stepup.dev/exempt`) or `ignore` (one error
//!   finding suppressed by `stepup.dev/ignore`), `outcome` is `granted` (a
//!   grant of the policy's `spec.exemptions` covers it), `denied` (none
//!   does) or `expired` (its grant expired); dry runs are not counted.
//! - `stepup_admission_namespace_exemption_info{selector}`: 1, with the
//!   `--exempt-namespace-label` of the webhook configurations
//!   (`stepup.dev/exempt=true`). Reviews in those namespaces are never sent
//!   to stepup (the API server's `namespaceSelector` drops them), so they
//!   cannot be counted; this says that the exemption exists and which label.
//!
//! The per-request path does no label allocation: each (outcome, rule,
//! level) counter is created on first use and then reached by index.

use std::sync::OnceLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::decision::Kind;
use crate::policy::Policy;

use super::keys::RefreshCounters;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    outcome: &'static str,
    rule: String,
    level: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AdmissionLabels {
    webhook: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExemptionLabels {
    operation: &'static str,
    annotation: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SigninLabels {
    step: &'static str,
    outcome: &'static str,
}

const OUTCOMES: [Kind; 4] = [
    Kind::Allow,
    Kind::StepUp,
    Kind::Unauthenticated,
    Kind::Forbidden,
];

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    decisions: Family<DecisionLabels, Counter>,
    slots: Vec<OnceLock<Counter>>,
    rules: Vec<String>,
    levels: Vec<String>,
    /// `/auth` latency.
    pub duration: Histogram,
    /// JWKS refresh outcomes (handed to the verifier).
    pub refreshes: RefreshCounters,
    keys: Gauge,
    cached: Gauge,
    signins: Family<SigninLabels, Counter>,
    admissions: Family<AdmissionLabels, Counter>,
    exemptions: Family<ExemptionLabels, Counter>,
}

impl Metrics {
    /// Metrics for `policy`'s rules and levels.
    pub fn new(policy: &Policy) -> Metrics {
        let mut registry = Registry::default();
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "stepup_decisions",
            "auth-url decisions by outcome, policy rule and requested level",
            decisions.clone(),
        );
        let duration = Histogram::new(exponential_buckets(0.000_025, 2.0, 16));
        registry.register(
            "stepup_auth_duration_seconds",
            "time to answer /auth",
            duration.clone(),
        );
        let refresh_family = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "stepup_jwks_refreshes",
            "JWKS fetches by outcome",
            refresh_family.clone(),
        );
        let counter = |outcome| {
            refresh_family
                .get_or_create(&OutcomeLabels { outcome })
                .clone()
        };
        let refreshes = RefreshCounters {
            ok: counter("ok"),
            error: counter("error"),
            rate_limited: counter("rate_limited"),
        };
        let keys = Gauge::default();
        registry.register("stepup_jwks_keys", "signing keys held", keys.clone());
        let cached = Gauge::default();
        registry.register(
            "stepup_token_cache_entries",
            "verified tokens cached",
            cached.clone(),
        );
        let signins = Family::<SigninLabels, Counter>::default();
        registry.register(
            "stepup_signins",
            "browser sign-in steps by outcome",
            signins.clone(),
        );
        let admissions = Family::<AdmissionLabels, Counter>::default();
        registry.register(
            "stepup_admission_reviews",
            "admission reviews answered, by webhook and outcome",
            admissions.clone(),
        );
        let exemptions = Family::<ExemptionLabels, Counter>::default();
        registry.register(
            "stepup_admission_exemptions",
            "uses of stepup.dev/exempt and stepup.dev/ignore (error findings) at /validate, by grant outcome (dry runs not counted)",
            exemptions.clone(),
        );
        let mut rules: Vec<String> = vec!["none".into()];
        rules.extend(policy.rules.iter().map(|r| r.name.clone()));
        let mut levels: Vec<String> = vec!["unknown".into()];
        levels.extend(policy.known_levels());
        let slots = (0..OUTCOMES.len() * rules.len() * levels.len())
            .map(|_| OnceLock::new())
            .collect();
        Metrics {
            registry,
            decisions,
            slots,
            rules,
            levels,
            duration,
            refreshes,
            keys,
            cached,
            signins,
            admissions,
            exemptions,
        }
    }

    /// Report the namespace exemption selector (`key=value`) as an info
    /// metric.
    pub fn namespace_exemption(&mut self, selector: &str) {
        self.registry.register(
            "stepup_admission_namespace_exemption",
            "namespaces with this label are exempt: the API server does not send their reviews",
            Info::new(vec![("selector".to_string(), selector.to_string())]),
        );
    }

    /// Count one admission answer (both labels are fixed words).
    pub fn admission(&self, webhook: &'static str, outcome: &'static str) {
        self.admissions
            .get_or_create(&AdmissionLabels { webhook, outcome })
            .inc();
    }

    /// Count one use of an exemption annotation (`annotation` and
    /// `outcome` are fixed words).
    pub fn exemption(
        &self,
        operation: &kube_core::admission::Operation,
        annotation: &'static str,
        outcome: &'static str,
    ) {
        use kube_core::admission::Operation;
        let operation = match operation {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        };
        self.exemptions
            .get_or_create(&ExemptionLabels {
                operation,
                annotation,
                outcome,
            })
            .inc();
    }

    /// Count one sign-in step (both labels are fixed words).
    pub fn signin(&self, step: &'static str, outcome: &'static str) {
        self.signins
            .get_or_create(&SigninLabels { step, outcome })
            .inc();
    }

    /// Index of a level name for [`Metrics::decision`] (0 = unknown).
    pub fn level_index(&self, name: Option<&str>) -> usize {
        name.and_then(|n| self.levels.iter().skip(1).position(|l| l == n))
            .map_or(0, |i| i + 1)
    }

    /// The level name of an index from [`Metrics::level_index`].
    pub fn level_name(&self, index: usize) -> &str {
        self.levels.get(index).map_or("unknown", String::as_str)
    }

    /// Count one decision.
    pub fn decision(&self, kind: Kind, rule: Option<usize>, level: usize) {
        let Some(o) = OUTCOMES.iter().position(|k| *k == kind) else {
            return;
        };
        let r = rule.map_or(0, |i| i + 1).min(self.rules.len() - 1);
        let l = level.min(self.levels.len() - 1);
        let slot = (o * self.rules.len() + r) * self.levels.len() + l;
        let Some(cell) = self.slots.get(slot) else {
            return;
        };
        cell.get_or_init(|| {
            self.decisions
                .get_or_create(&DecisionLabels {
                    outcome: kind.as_str(),
                    rule: self.rules[r].clone(),
                    level: self.levels[l].clone(),
                })
                .clone()
        })
        .inc();
    }

    /// The exposition text, with the gauges set to `keys` and `cached`.
    pub fn render(&self, keys: usize, cached: usize) -> String {
        self.keys.set(keys as i64);
        self.cached.set(cached as i64);
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
