//! stepup: step-up authentication at the Kubernetes Ingress layer.
//!
//! One policy ([`policy`]) says which routes need which assurance. The pure
//! core answers, for a request to a cluster's Ingresses: which route the
//! controller picks ([`controllers`]), which policy rule and level apply,
//! and what the decision is for a set of token claims ([`decision`]). The CLI
//! ([`cli`]) is a thin adapter over it.
//!
//! Module map (I/O at the edges: parsing → model → decision → rendering):
//! - [`source`]: YAML/JSON with line numbers (the only YAML parser user).
//! - [`error`]: located input errors.
//! - [`policy`], [`glob`]: the policy model and its matchers.
//! - [`ingress`]: Ingress objects and manifest loading.
//! - [`controllers`]: one folder per controller family, each with what the
//!   controller does with its objects. [`controllers::ingress_nginx`] holds
//!   `routing` (ingress-nginx's server/location model, nginx's `$uri`
//!   normalisation and location selection, and an nginx.conf renderer used
//!   to prove the model against real nginx) and `annotations` (auth annotations as ingress-nginx reads them).
//! - [`claims`], [`decision`]: claims handling and the decision core.
//! - [`simulate`]: `simulate` and `test` on top of the core.
//! - [`coverage`]: which request paths to probe and what each needs (shared
//!   by lint and generate).
//! - [`findings`]: the one diagnostic type and the rule catalog (a leaf).
//! - [`lint`]: the rules SU001–SU020; [`render`]: human, JSON, SARIF, JUnit
//!   and GitHub output.
//! - [`audit`]: lint over a live cluster's Ingresses (kube client at its
//!   edge) or a `kubectl get -o json|yaml` dump, with a route map per host
//!   and an HTML report.
//! - [`generate`]: manifests with stepup's annotations, per controller.
//! - [`label`]: `KEY=VALUE` labels and Kubernetes name rules (install's
//!   flags, serve's metrics).
//! - [`install`]: `stepup install`'s manifests (pure; the CA and keys are
//!   generated at the edge, in [`install::pki`]).
//! - [`serve`]: the in-cluster server (runtime `/auth` check, browser
//!   sign-in, admission webhook; its module docs name the crates it uses
//!   and why).
//! - `par`: the scoped-thread chunking lint's linear passes share.
//! - [`cli`]: argument parsing and output.
//!
//! The core modules do no I/O and never read the clock: time is a parameter.
//!
//! Crates chosen: `clap` (CLI), `colored` (terminal colour), `yaml-rust2`
//! (YAML events with positions; see [`source`] for why not `serde_yaml`),
//! `serde`/`serde_json`/`serde_path_to_error` (typed model with field paths
//! in errors), `pcre2` (ingress-nginx regex-mode locations and rewrites:
//! nginx compiles them with PCRE2, whose semantics Rust's `regex` crate does
//! not share; see [`controllers::ingress_nginx::routing::pcre`]; also `server-alias` regexes), `regex`
//! (ingress-nginx's annotation validators, which are Go regexps: RE2
//! semantics, as the `regex` crate has them), `base64`
//! (JWT segments), `humantime` (durations), `serde_yaml` (generate's YAML
//! output). SARIF, JUnit and GitHub output are small hand-written
//! serialisers over serde_json/escaping, validated in tests against the
//! official SARIF schema and Microsoft's SARIF Multitool.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod audit;
pub mod claims;
pub mod cli;
pub mod controllers;
pub mod coverage;
pub mod decision;
pub mod error;
pub mod exit;
pub mod findings;
pub mod generate;
pub mod glob;
pub mod ingress;
pub mod install;
pub mod label;
pub mod lint;
mod par;
pub mod policy;
pub mod render;
pub mod serve;
pub mod simulate;
pub mod source;

/// A hash map for lookups only (never iterated into output): foldhash,
/// several times cheaper than SipHash on the short keys routing and lint
/// look up per probe. Their keys come from the manifests being checked,
/// not from a network peer, so HashDoS resistance buys nothing here.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// The set of [`FastMap`].
pub(crate) type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
