//! What ingress-nginx does to an Ingress before routing it.
//!
//! Once an Ingress passes the class filter (the informer), the controller
//! may still drop it whole, or serve it with some of its annotations
//! ignored or changed. [`admit`] models this, from v1.15.1's code:
//!
//! 1. **Deep inspection** (`store.go` informer `AddFunc`/`UpdateFunc`,
//!    `inspector/ingress.go` `InspectIngress`, `inspector/rules.go`
//!    `CheckRegex`, on by default with `--deep-inspect`): a path or host
//!    with `alias …;`, `root …;`, `/etc/passwd` (and the like),
//!    `/var/run/secrets` or `_by_lua` drops the Ingress ("received invalid
//!    ingress").
//! 2. **`--disable-catch-all`** (`store.go` `hasCatchAllIngressRule`): an
//!    Ingress with `spec.defaultBackend` is dropped; on an update the old
//!    version is deleted too.
//! 3. **`annotation-value-word-blocklist`** (`store.go` `syncIngress`,
//!    `checkBadAnnotationValue`): a value under the prefix containing a
//!    listed word drops the Ingress.
//! 4. **`Extract`** (`annotations/annotations.go`): for each parser,
//!    `Validate` (`parser.CheckAnnotationRisk`: an annotation riskier than
//!    `annotations-risk-level` drops the Ingress; snippets are Critical,
//!    the default level High) and then `Parse`, whose errors are sorted
//!    as [`parsers`] describes: a validator's rejection returned as is
//!    drops the Ingress, a `LocationDenied` error makes every location
//!    answer 503 ([`Ingress::denied`]), other errors switch the parser's
//!    feature off.
//!
//! A dropped Ingress never reaches the store's Ingress list
//! (`syncIngress` returns before `IngressWithAnnotation.Update`), so it
//! builds no location and its paths fall to whatever else serves them; on
//! an update the previous version stays in that list and stays live.
//!
//! An admitted Ingress comes back with its annotations as the controller
//! uses them, so the rest of stepup can keep reading the map: keys under
//! `--annotations-prefix` re-keyed to `nginx.ingress.kubernetes.io/`
//! (those under the default prefix dropped when the prefix differs, as
//! `parser.GetAnnotationWithPrefix` never reads them), booleans as
//! `true`/`false` (`strconv.ParseBool`: `"True"`, `"1"`, `"t"` are true),
//! strings trimmed line by line (`normalizeString`), values the parser
//! rejected or fell back on removed, the annotations of a parser whose
//! result is discarded removed, and snippets removed when
//! `allow-snippet-annotations` is false (`controller.go`
//! `dropSnippetDirectives`). Each removal is a [`Change`] on the Ingress.

pub mod go;
pub mod parsers;
pub mod read;

use std::collections::BTreeMap;

use super::annotations_table::{of_parser, spec};
use super::settings::Settings;
use crate::ingress::{Change, Ingress, NGINX};
use parsers::{Fail, PARSERS};
use read::{AnnErr, Reader};

/// Which of the controller's checks dropped an Ingress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Check {
    /// `--deep-inspect`: `inspector.InspectIngress`.
    DeepInspect,
    /// `--disable-catch-all`: `spec.defaultBackend`.
    CatchAll,
    /// `annotation-value-word-blocklist`.
    WordBlocklist,
    /// `annotations-risk-level`.
    Risk,
    /// A value the annotation's validator rejects
    /// (`--enable-annotation-validation`).
    Validation,
}

impl Check {
    /// The ingress-nginx code that does it (file and function).
    pub fn source(self) -> &'static str {
        match self {
            Check::DeepInspect => {
                "internal/ingress/controller/store/store.go (informer), internal/ingress/inspector/ingress.go InspectIngress"
            }
            Check::CatchAll => {
                "internal/ingress/controller/store/store.go (informer) hasCatchAllIngressRule"
            }
            Check::WordBlocklist => {
                "internal/ingress/controller/store/store.go syncIngress, checkBadAnnotationValue"
            }
            Check::Risk => {
                "internal/ingress/annotations/annotations.go Extract, parser/validators.go CheckAnnotationRisk"
            }
            Check::Validation => {
                "internal/ingress/annotations/annotations.go Extract, parser/validators.go checkAnnotation"
            }
        }
    }
}

/// One reason the controller drops an Ingress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// The check.
    pub check: Check,
    /// The annotation concerned (full key as written), if one is.
    pub annotation: Option<String>,
    /// The controller's own words (its log line or error).
    pub message: String,
}

/// An Ingress the controller drops before routing, as written.
#[derive(Debug, Clone)]
pub struct Dropped {
    /// The Ingress, unchanged.
    pub ingress: Ingress,
    /// Why (at least one). The controller stops at the first it meets, in
    /// an order that can vary (Go map iteration); all are listed.
    pub reasons: Vec<Reason>,
}

impl Dropped {
    /// Whether, on an update, the previous version stays live (every
    /// check but `--disable-catch-all`, which deletes it).
    pub fn keeps_previous(&self) -> bool {
        self.reasons.iter().all(|r| r.check != Check::CatchAll)
    }

    /// The reasons in one line.
    pub fn summary(&self) -> String {
        self.reasons
            .iter()
            .map(|r| r.message.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Admit one Ingress (of a served class) as ingress-nginx does: the
/// Ingress as the controller uses it, or why it is dropped.
pub fn admit(mut ing: Ingress, settings: &Settings) -> Result<Ingress, Box<Dropped>> {
    let early = before_extract(&ing, settings);
    if !early.is_empty() {
        return Err(Box::new(Dropped {
            ingress: ing,
            reasons: early,
        }));
    }
    let mut reasons = risky(&ing, settings);
    let (outcomes, values, unused) = parse_all(&ing, settings);
    let mut off: BTreeMap<&str, String> = BTreeMap::new();
    for (parser, outcome) in outcomes {
        match outcome {
            Ok(()) | Err(Fail::Err(AnnErr::Missing)) => {}
            Err(Fail::Err(AnnErr::Validation(full))) => reasons.push(Reason {
                check: Check::Validation,
                message: format!("annotation {full} contains invalid value (parser {parser})"),
                annotation: Some(full),
            }),
            Err(Fail::Denied(m)) => {
                ing.denied.get_or_insert(m);
            }
            Err(Fail::Err(AnnErr::Content(m)) | Fail::Other(m)) => {
                off.insert(parser, m);
            }
        }
    }
    if !reasons.is_empty() {
        ing.denied = None;
        return Err(Box::new(Dropped {
            ingress: ing,
            reasons,
        }));
    }
    rebuild(
        &mut ing,
        settings,
        &Effects {
            values,
            unused,
            off,
        },
    );
    Ok(ing)
}

/// The checks before `Extract`, in the controller's order, each stopping
/// it: deep inspection and `--disable-catch-all` (the informer), the word
/// blocklist (`syncIngress`).
fn before_extract(ing: &Ingress, settings: &Settings) -> Vec<Reason> {
    if settings.deep_inspect {
        let r = deep_inspect(ing);
        if !r.is_empty() {
            return r;
        }
    }
    let r = catch_all(ing, settings);
    if !r.is_empty() {
        return r;
    }
    word_blocklist(ing, settings)
}

/// What each parser's `Parse` made of the annotations, and the values it
/// used or did not.
type Parsed = (
    Vec<(&'static str, Result<(), Fail>)>,
    BTreeMap<String, Option<String>>,
    BTreeMap<String, String>,
);

/// Run every parser (`Extract`'s loop).
fn parse_all(ing: &Ingress, settings: &Settings) -> Parsed {
    let prefix = settings.prefix();
    // With nothing under the prefix every read is a missing annotation and
    // no parser has anything to say.
    if !ing.annotations.keys().any(|k| k.starts_with(&prefix)) {
        return Default::default();
    }
    let mut r = Reader::new(
        &ing.annotations,
        prefix,
        settings.validate_annotations,
        &ing.namespace,
        settings.allow_cross_namespace,
    );
    let outcomes = PARSERS.iter().map(|(name, f)| (*name, f(&mut r))).collect();
    (outcomes, r.values, r.unused)
}

/// `inspector.CheckRegex`: the forbidden patterns of `inspector/rules.go`
/// (`(?s)\s*alias\s*.*;`, `(?s)\s*root\s*.*;`, `/etc/(passwd|shadow|group|
/// nginx|ingress-controller)`, `/var/run/secrets`, `.*_by_lua.*`), as
/// plain searches (each regex matches exactly where these do).
pub fn forbidden(value: &str) -> bool {
    let then_semicolon = |word: &str| {
        value
            .find(word)
            .is_some_and(|i| value[i + word.len()..].contains(';'))
    };
    then_semicolon("alias")
        || then_semicolon("root")
        || [
            "/etc/passwd",
            "/etc/shadow",
            "/etc/group",
            "/etc/nginx",
            "/etc/ingress-controller",
        ]
        .iter()
        .any(|d| value.contains(d))
        || value.contains("/var/run/secrets")
        || value.contains("_by_lua")
}

/// `InspectIngress` over hosts, paths and TLS hosts (TLS secret names are
/// DNS subdomains, which cannot match).
fn deep_inspect(ing: &Ingress) -> Vec<Reason> {
    let bad = |what: &str, v: &str| Reason {
        check: Check::DeepInspect,
        annotation: None,
        message: format!(
            "received invalid ingress: {what} in ingress {}: invalid value found: {v}",
            ing.key()
        ),
    };
    for rule in &ing.rules {
        if let Some(h) = rule.host.as_deref().filter(|h| forbidden(h)) {
            return vec![bad("invalid host", h)];
        }
        if let Some(p) = rule.paths.iter().find(|p| forbidden(&p.path)) {
            return vec![bad("invalid rule", &format!("{} (http path)", p.path))];
        }
    }
    match ing.tls_hosts.iter().find(|h| forbidden(h)) {
        Some(h) => vec![bad("invalid host in ingress tls config", h)],
        None => Vec::new(),
    }
}

/// `--disable-catch-all` with `spec.defaultBackend`.
fn catch_all(ing: &Ingress, settings: &Settings) -> Vec<Reason> {
    if !(settings.disable_catch_all && ing.default_backend.is_some()) {
        return Vec::new();
    }
    vec![Reason {
        check: Check::CatchAll,
        annotation: None,
        message: "Ignoring add for catch-all ingress because of --disable-catch-all (spec.defaultBackend); on an update the old version is deleted as well".into(),
    }]
}

/// `checkBadAnnotationValue`: every annotation under the prefix with a
/// listed word (the controller reports the first it meets).
fn word_blocklist(ing: &Ingress, settings: &Settings) -> Vec<Reason> {
    let prefix = settings.prefix();
    let mut out = Vec::new();
    for (k, v) in &ing.annotations {
        if !k.starts_with(&prefix) {
            continue;
        }
        if let Some(w) = settings
            .word_blocklist
            .iter()
            .find(|w| v.contains(w.as_str()))
        {
            out.push(Reason {
                check: Check::WordBlocklist,
                annotation: Some(k.clone()),
                message: format!(
                    "skipping ingress {}: {k} annotation contains invalid word {w}",
                    ing.key()
                ),
            });
        }
    }
    out
}

/// `CheckAnnotationRisk` of every parser: each annotation (its key less
/// the prefix, so an unprefixed `server-snippet` counts too) whose risk
/// is above the level.
fn risky(ing: &Ingress, settings: &Settings) -> Vec<Reason> {
    let prefix = settings.prefix();
    let mut out = Vec::new();
    for k in ing.annotations.keys() {
        let pure = k.strip_prefix(&prefix).unwrap_or(k);
        let Some(sp) = spec(pure).filter(|s| s.risk > settings.risk_level) else {
            continue;
        };
        out.push(Reason {
            check: Check::Risk,
            annotation: Some(k.clone()),
            message: format!(
                "annotation group {} contains risky annotation based on ingress configuration: annotation {k} is too risky for environment (risk {}, annotations-risk-level {})",
                sp.parser,
                sp.risk.as_str(),
                settings.risk_level.as_str()
            ),
        });
    }
    out
}

/// What the parsers made of the annotations.
struct Effects<'a> {
    values: BTreeMap<String, Option<String>>,
    unused: BTreeMap<String, String>,
    off: BTreeMap<&'a str, String>,
}

/// The snippets `dropSnippetDirectives` clears.
const SNIPPETS: &[&str] = &[
    "configuration-snippet",
    "server-snippet",
    "modsecurity-snippet",
    "auth-snippet",
    "stream-snippet",
];

/// The annotation map as the controller uses it; what it ignores becomes
/// a [`Change`].
fn rebuild(ing: &mut Ingress, settings: &Settings, fx: &Effects) {
    let prefix = settings.prefix();
    let custom = prefix != NGINX;
    let mut out = BTreeMap::new();
    for (k, v) in std::mem::take(&mut ing.annotations) {
        let Some(short) = k.strip_prefix(&prefix) else {
            if custom && k.starts_with(NGINX) {
                ing.changes.push(Change {
                    what: format!(
                        "ignored: the controller reads {prefix} (--annotations-prefix), not {NGINX}"
                    ),
                    annotation: k,
                });
            } else {
                out.insert(k, v);
            }
            continue;
        };
        match effect(short, settings, fx) {
            Ok(None) => {
                out.insert(format!("{NGINX}{short}"), v);
            }
            Ok(Some(c)) => {
                out.insert(format!("{NGINX}{short}"), c);
            }
            Err(what) => ing.changes.push(Change {
                annotation: k,
                what,
            }),
        }
    }
    ing.annotations = out;
}

/// The value to keep for `short` (`None`: as written), or why the
/// controller does not use it.
fn effect(short: &str, settings: &Settings, fx: &Effects) -> Result<Option<String>, String> {
    if let Some(sp) = spec(short) {
        if let Some(why) = fx.off.get(sp.parser) {
            let names: Vec<&str> = of_parser(sp.parser).map(|s| s.name).collect();
            return Err(format!(
                "ignored: the controller discards the {} settings ({}) of this Ingress: {why}",
                sp.parser,
                names.join(", ")
            ));
        }
    }
    if !settings.allow_snippets && SNIPPETS.contains(&short) {
        return Err(
            "removed: allow-snippet-annotations is false (controller.go dropSnippetDirectives)"
                .into(),
        );
    }
    match fx.values.get(short) {
        Some(Some(c)) => Ok(Some(c.clone())),
        Some(None) => Err(format!(
            "ignored, the controller uses its default: {}",
            fx.unused.get(short).map_or("invalid value", String::as_str)
        )),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests;
