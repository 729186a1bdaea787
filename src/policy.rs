//! The step-up policy (SPEC §1): levels, rules, defaults.
//!
//! Parsing is strict (`deny_unknown_fields`): a typo in a security policy is
//! an error, not a silently ignored key. Every error carries the file, the
//! line and the field path, e.g.
//! `policy.yaml:23: spec.rules[1].level: unknown level "mfaa" (known: …)`.
//!
//! Levels form a partial order, [`Requirement::satisfies`]: A satisfies B
//! when every constraint of B is implied by A. `extends` inherits the
//! parent's constraints and may only tighten them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::error::InputError;
use crate::glob::{HostPattern, PathGlob};
use crate::source::{Document, Lines};

pub mod exemptions;
pub use exemptions::{Check, Grant, Scope, Subject};

/// API version of the policy document.
pub const API_VERSION: &str = "stepup.dev/v1alpha1";
/// Kind of the policy document.
pub const KIND: &str = "StepUpPolicy";
/// Level name that needs no authentication.
pub const PUBLIC: &str = "public";
/// Level name that needs any valid login (built in unless redefined).
pub const AUTHENTICATED: &str = "authenticated";
/// Access that nobody gets (usable as `default` and as a rule level).
pub const DENY: &str = "deny";

/// What a token must show to satisfy a level. `None` fields do not constrain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirement {
    /// The token's `acr` must be one of these.
    pub acr: Option<BTreeSet<String>>,
    /// One of these sets must be contained in the token's `amr`.
    pub amr: Option<Vec<BTreeSet<String>>>,
    /// `now - auth_time` must not exceed this many seconds.
    pub max_age: Option<u64>,
    /// The token must show an interactive login by a person (`human: true`):
    /// a numeric `auth_time`, and a `sub` that is not the token's own client
    /// (`client_id` or `azp`), as in client-credentials tokens (RFC 9068
    /// §2.2). Without it a level accepts any valid token, users' and
    /// clients' alike.
    pub human: bool,
    /// Each claim must contain (or equal) one of the values.
    pub claims: BTreeMap<String, BTreeSet<String>>,
}

impl Requirement {
    /// Whether `self` implies every constraint of `other` (SPEC §1).
    pub fn satisfies(&self, other: &Requirement) -> bool {
        let acr = match (&self.acr, &other.acr) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(b)) => !a.is_empty() && a.is_subset(b),
        };
        let amr = match (&self.amr, &other.amr) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(b)) => {
                !a.is_empty() && a.iter().all(|sa| b.iter().any(|sb| sb.is_subset(sa)))
            }
        };
        let age = match (self.max_age, other.max_age) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(b)) => a <= b,
        };
        let human = self.human || !other.human;
        let claims = other.claims.iter().all(|(k, vb)| {
            self.claims
                .get(k)
                .is_some_and(|va| !va.is_empty() && va.is_subset(vb))
        });
        acr && amr && age && human && claims
    }

    /// A requirement that demands both `self` and `other` (used when the
    /// auth-url's level and the policy rule for the path differ).
    pub fn and(&self, other: &Requirement) -> Requirement {
        let acr = match (&self.acr, &other.acr) {
            (None, x) | (x, None) => x.clone(),
            (Some(a), Some(b)) => Some(a.intersection(b).cloned().collect()),
        };
        let amr = match (&self.amr, &other.amr) {
            (None, x) | (x, None) => x.clone(),
            (Some(a), Some(b)) => Some(
                a.iter()
                    .flat_map(|sa| b.iter().map(move |sb| sa.union(sb).cloned().collect()))
                    .collect(),
            ),
        };
        let max_age = match (self.max_age, other.max_age) {
            (None, x) | (x, None) => x,
            (Some(a), Some(b)) => Some(a.min(b)),
        };
        let mut claims = self.claims.clone();
        for (k, vb) in &other.claims {
            claims
                .entry(k.clone())
                .and_modify(|va| *va = va.intersection(vb).cloned().collect())
                .or_insert_with(|| vb.clone());
        }
        Requirement {
            acr,
            amr,
            max_age,
            human: self.human || other.human,
            claims,
        }
    }
}

/// A named level, resolved (`extends` applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level {
    /// Its name.
    pub name: String,
    /// What it demands.
    pub req: Requirement,
    /// Line of its definition (0 for built-ins).
    pub line: u32,
    /// `req` as a need (shared, cheap to clone).
    pub need: Need,
}

impl Level {
    fn new(name: String, req: Requirement, line: u32) -> Level {
        let need = Need::Auth {
            levels: Arc::from([name.clone()]),
            req: Arc::new(req.clone()),
        };
        Level {
            name,
            req,
            line,
            need,
        }
    }
}

/// What a route needs: nothing, a login meeting a requirement, or refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// No authentication.
    Public,
    /// A login that meets the requirement; `levels` names where it came from.
    Auth {
        /// Level names combined into `req`.
        levels: Arc<[String]>,
        /// The combined requirement.
        req: Arc<Requirement>,
    },
    /// Nobody.
    Deny,
}

impl Need {
    /// Both needs at once: deny dominates, public is neutral.
    pub fn and(&self, other: &Need) -> Need {
        match (self, other) {
            (Need::Deny, _) | (_, Need::Deny) => Need::Deny,
            (Need::Public, x) | (x, Need::Public) => x.clone(),
            (
                Need::Auth {
                    levels: la,
                    req: ra,
                },
                Need::Auth {
                    levels: lb,
                    req: rb,
                },
            ) => {
                if Arc::ptr_eq(ra, rb) || ra.satisfies(rb) {
                    return self.clone();
                }
                if rb.satisfies(ra) {
                    return other.clone();
                }
                let mut levels = la.to_vec();
                levels.extend(lb.iter().filter(|l| !la.contains(l)).cloned());
                Need::Auth {
                    levels: levels.into(),
                    req: Arc::new(ra.and(rb)),
                }
            }
        }
    }

    /// Whether meeting `self` also meets `other`.
    pub fn satisfies(&self, other: &Need) -> bool {
        match (self, other) {
            (Need::Deny, _) | (_, Need::Public) => true,
            (_, Need::Deny) | (Need::Public, _) => false,
            // One level's requirement is shared (an `Arc`): meeting it
            // meets it, without comparing the sets.
            (Need::Auth { req: a, .. }, Need::Auth { req: b, .. }) => {
                Arc::ptr_eq(a, b) || a.satisfies(b)
            }
        }
    }

    /// A short name: `public`, `deny`, or the level names joined by `+`.
    pub fn label(&self) -> String {
        match self {
            Need::Public => PUBLIC.to_string(),
            Need::Deny => DENY.to_string(),
            Need::Auth { levels, .. } => levels.join("+"),
        }
    }
}

/// One ordered rule of the policy.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Unique name (reported in decisions, annotations and findings).
    pub name: String,
    /// Hosts it applies to; empty means every host.
    pub hosts: Vec<HostPattern>,
    /// Path globs.
    pub paths: Vec<PathGlob>,
    /// Methods it applies to; `None` means all. `GET` also covers `HEAD`.
    pub methods: Option<Vec<String>>,
    /// The level name as written (`public`, `deny` or a defined level).
    pub level: String,
    /// Resolved need.
    pub need: Need,
    /// Line of the rule.
    pub line: u32,
}

impl Rule {
    /// Whether this rule applies to the request.
    pub fn matches(&self, host: &str, method: &str, path: &[u8], fold: bool) -> bool {
        crate::glob::split_path(path)
            .is_some_and(|parts| self.matches_split(host, method, &parts, fold))
    }

    /// [`matches`](Self::matches) on a path split by [`crate::glob::split_path`].
    pub fn matches_split(&self, host: &str, method: &str, parts: &[&[u8]], fold: bool) -> bool {
        (self.hosts.is_empty() || self.hosts.iter().any(|h| h.matches(host)))
            && self.methods.as_ref().is_none_or(|ms| {
                ms.iter()
                    .any(|m| m == method || (m == "GET" && method == "HEAD"))
            })
            && self.paths.iter().any(|g| g.matches_split(parts, fold))
    }
}

/// Identity provider settings (used by `serve`).
#[derive(Debug, Clone, Default)]
pub struct Idp {
    /// OIDC issuer URL.
    pub issuer: String,
    /// Accepted `aud` values.
    pub audiences: Vec<String>,
    /// OAuth client id for browser sign-in.
    pub client_id: Option<String>,
    /// File holding the client secret.
    pub client_secret_file: Option<String>,
    /// Environment variable holding the client secret.
    pub client_secret_env: Option<String>,
    /// Extra CA bundle for the IdP.
    pub ca_file: Option<String>,
}

/// Where stepup's server is reachable (used to build `auth-url`).
#[derive(Debug, Clone)]
pub struct AuthService {
    /// Base URL, e.g. `http://stepup.stepup-system.svc.cluster.local:8080`.
    pub url: String,
    /// Path prefix served on every protected host (default `/.stepup`).
    pub signin_path: String,
}

/// Extra sensitive-route heuristics for lint and audit.
#[derive(Debug, Clone, Default)]
pub struct Sensitive {
    /// Path globs.
    pub paths: Vec<PathGlob>,
    /// Host patterns; `internal.*` style suffix wildcards are kept as text.
    pub hosts: Vec<String>,
}

/// A parsed, validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// `metadata.name`.
    pub name: String,
    /// File it came from (for messages).
    pub file: String,
    /// IdP settings.
    pub idp: Option<Idp>,
    /// Auth service settings.
    pub auth_service: Option<AuthService>,
    /// Levels, user-defined first, then built-ins not redefined.
    pub levels: Vec<Level>,
    /// Ordered rules.
    pub rules: Vec<Rule>,
    /// Level name for routes no rule matches.
    pub default: String,
    /// Need for routes no rule matches.
    pub default_need: Need,
    /// Sensitive heuristics.
    pub sensitive: Sensitive,
    /// Exemption grants (`spec.exemptions`).
    pub exemptions: Vec<Grant>,
    /// The controller's settings (`spec.controller`) as written, when the
    /// policy states them; the controller model reads them.
    pub controller: Option<ControllerSection>,
}

/// `spec.controller` as written: the controller's ConfigMap-style `config`
/// keys and the command-line `flags` it runs with, each value as text with
/// its line. The policy only checks that they are scalars; what they mean
/// is the modelled controller's (see [`parse_checked`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ControllerSection {
    /// The policy file.
    pub file: String,
    /// `config`: key → (value, line).
    pub config: BTreeMap<String, (String, u32)>,
    /// `flags`, by name.
    pub flags: Vec<ControllerFlag>,
}

/// One of `spec.controller.flags`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ControllerFlag {
    /// The flag's name (`watch-ingress-without-class`).
    pub name: String,
    /// Its value as text.
    pub value: String,
    /// Its line in the policy file.
    pub line: u32,
    /// Its field, for messages (`spec.controller.flags.deep-inspect`).
    pub field: String,
}

/// A controller model's check of `spec.controller`, run while the policy
/// is read so that its errors come with the policy's own, in one run.
pub type SectionCheck = fn(&ControllerSection) -> Vec<InputError>;

/// The policy's verdict on one request: which rules matched and the need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleMatch {
    /// Index into `Policy::rules` of the rule that decided, if any.
    pub rule: Option<usize>,
    /// Other rules that matched the path with or without its `;`
    /// parameters and were combined into `need`.
    pub also: Vec<usize>,
    /// What the request needs.
    pub need: Need,
}

impl Policy {
    /// A level by name.
    pub fn level(&self, name: &str) -> Option<&Level> {
        self.levels.iter().find(|l| l.name == name)
    }

    /// The need named by `name` (`public`, `deny` or a level).
    pub fn need_of(&self, name: &str) -> Option<Need> {
        match name {
            PUBLIC => Some(Need::Public),
            DENY => Some(Need::Deny),
            _ => self.level(name).map(|l| l.need.clone()),
        }
    }

    /// The need of the rule an auth-url's `rule=` names (`default`: the
    /// policy's default), with the rule's index: a floor, so that the check
    /// never asks less than what `generate` found for the Ingress path,
    /// whatever its own view of host and path. A name the policy does not
    /// have fails closed, with this message (the runtime's and `simulate`'s).
    pub fn rule_floor(&self, name: &str) -> Result<(Option<usize>, Need), String> {
        if let Some(i) = self.rules.iter().position(|r| r.name == name) {
            return Ok((Some(i), self.rules[i].need.clone()));
        }
        if name == "default" {
            return Ok((None, self.default_need.clone()));
        }
        Err(format!(
            "auth-url rule {name:?} is not a rule of the policy (run `stepup generate` again)"
        ))
    }

    /// Whether a grant of `spec.exemptions` lets `s` switch off `scope` at
    /// `now` (Unix seconds; `None` when the clock cannot be read).
    pub fn exemption(&self, s: &Subject<'_>, scope: Scope<'_>, now: Option<u64>) -> Check<'_> {
        exemptions::check(&self.exemptions, s, scope, now)
    }

    /// Names accepted as a level (for messages).
    pub fn known_levels(&self) -> Vec<String> {
        let mut v: Vec<String> = self.levels.iter().map(|l| l.name.clone()).collect();
        v.push(PUBLIC.to_string());
        v
    }

    /// Whether `path` is under stepup's own sign-in path (`authService.
    /// signinPath`), which SPEC §2 serves without auth on every protected host.
    pub fn is_signin_path(&self, path: &[u8]) -> bool {
        self.auth_service.as_ref().is_some_and(|a| {
            let s = a.signin_path.as_bytes();
            path.strip_prefix(s)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(b"/"))
        })
    }

    /// First rule matching `path` (normalised as nginx does). When the path
    /// carries `;` parameters (which Java servlet containers and others
    /// strip, so `/admin;x` reaches the `/admin` handler), the rule for the
    /// stripped path also applies and the stricter need wins.
    pub fn rule_for(&self, host: &str, method: &str, path: &[u8], fold: bool) -> RuleMatch {
        let first = self.first_rule(host, method, path, fold);
        let need_of = |r: Option<usize>| {
            r.map_or_else(|| self.default_need.clone(), |i| self.rules[i].need.clone())
        };
        let mut m = RuleMatch {
            rule: first,
            also: Vec::new(),
            need: need_of(first),
        };
        if !path.contains(&b';') {
            return m;
        }
        // The path with `;` parameters cut, and as a servlet container
        // serves it (dot segments resolved again); the stricter need wins.
        let mut views = vec![strip_path_params(path)];
        if let Ok(Some(b)) = backend_path(path) {
            views.push(b);
        }
        for v in views {
            let second = self.first_rule(host, method, &v, fold);
            if second == m.rule || m.also.contains(&second.unwrap_or(usize::MAX)) {
                continue;
            }
            let n2 = need_of(second);
            if n2.satisfies(&m.need) && !m.need.satisfies(&n2) {
                // This view's rule is stricter: it decides.
                m.also.extend(m.rule);
                m.rule = second;
                m.need = n2;
            } else if !m.need.satisfies(&n2) {
                m.also.extend(second);
                m.need = m.need.and(&n2);
            }
        }
        m
    }

    fn first_rule(&self, host: &str, method: &str, path: &[u8], fold: bool) -> Option<usize> {
        let parts = crate::glob::split_path(path)?;
        self.rules
            .iter()
            .position(|r| r.matches_split(host, method, &parts, fold))
    }
}

/// `/a;x/b;y=1` → `/a/b`.
pub fn strip_path_params(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len());
    let mut skipping = false;
    for &b in path {
        match b {
            b'/' => {
                skipping = false;
                out.push(b);
            }
            b';' => skipping = true,
            _ if !skipping => out.push(b),
            _ => {}
        }
    }
    out
}

/// The path a servlet container (Tomcat, Jetty, Spring) serves for the raw
/// target: `;` parameters cut from each segment, `%XX` decoded, then `.`
/// and `..` segments resolved and empty ones dropped. `None` when the
/// target has no `;` (then it is nginx's path); an error when `..` climbs
/// above the root (such a container answers 400; stepup refuses).
pub fn backend_path(raw: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let end = raw
        .iter()
        .position(|b| matches!(b, b'?' | b'#'))
        .unwrap_or(raw.len());
    let raw = &raw[..end];
    if !raw.contains(&b';') {
        return Ok(None);
    }
    let mut segs: Vec<Vec<u8>> = Vec::new();
    for seg in raw.split(|b| *b == b'/').skip(1) {
        let seg = seg.split(|b| *b == b';').next().unwrap_or_default();
        let seg = percent_decode(seg);
        // A decoded `/` splits as it does in a container that allows it.
        for part in seg.split(|b| *b == b'/') {
            match part {
                b"" | b"." => {}
                b".." => {
                    if segs.pop().is_none() {
                        return Err("path parameters make `..` climb above the root".into());
                    }
                }
                p => segs.push(p.to_vec()),
            }
        }
    }
    let mut out = Vec::with_capacity(raw.len());
    for s in &segs {
        out.push(b'/');
        out.extend_from_slice(s);
    }
    let trailing = raw.ends_with(b"/") || raw.ends_with(b"/.") || raw.ends_with(b"/..");
    if out.is_empty() || trailing {
        out.push(b'/');
    }
    Ok(Some(out))
}

fn percent_decode(s: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let pair = (
            s.get(i + 1).and_then(|b| hex(*b)),
            s.get(i + 2).and_then(|b| hex(*b)),
        );
        match (s[i], pair) {
            (b'%', (Some(h), Some(l))) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

// === parsing ===

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPolicy {
    api_version: String,
    kind: String,
    #[serde(default)]
    metadata: Option<RawMeta>,
    spec: RawSpec,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMeta {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSpec {
    #[serde(default)]
    idp: Option<RawIdp>,
    #[serde(default)]
    auth_service: Option<RawAuthService>,
    #[serde(default)]
    levels: Vec<RawLevel>,
    #[serde(default)]
    rules: Vec<RawRule>,
    #[serde(default)]
    default: Option<String>,
    #[serde(default)]
    sensitive: Option<RawSensitive>,
    #[serde(default)]
    exemptions: Vec<exemptions::RawGrant>,
    #[serde(default)]
    controller: Option<RawController>,
}

/// `spec.controller`: the controller's ConfigMap `data` (`config`) and the
/// flags it runs with (`flags`).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawController {
    #[serde(default)]
    config: BTreeMap<String, Value>,
    #[serde(default)]
    flags: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawIdp {
    issuer: String,
    #[serde(default)]
    audiences: Vec<String>,
    #[serde(default, rename = "clientID")]
    client_id: Option<String>,
    #[serde(default)]
    client_secret_file: Option<String>,
    #[serde(default)]
    client_secret_env: Option<String>,
    #[serde(default)]
    ca_file: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawAuthService {
    url: String,
    #[serde(default)]
    signin_path: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawLevel {
    name: String,
    #[serde(default)]
    extends: Option<String>,
    #[serde(default)]
    acr: Option<Vec<String>>,
    #[serde(default)]
    amr: Option<Vec<Vec<String>>>,
    #[serde(default)]
    max_age: Option<Value>,
    #[serde(default)]
    human: Option<bool>,
    #[serde(default)]
    claims: Option<BTreeMap<String, OneOrMany>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRule {
    name: String,
    #[serde(default)]
    hosts: Vec<String>,
    paths: Vec<String>,
    #[serde(default)]
    methods: Option<Vec<String>>,
    level: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSensitive {
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    hosts: Vec<String>,
}

/// Parse a policy file's text. `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Policy, InputError> {
    parse_with(file, text, None)
}

fn parse_with(file: &str, text: &str, check: Option<SectionCheck>) -> Result<Policy, InputError> {
    let docs = crate::source::parse_documents(text).map_err(|e| InputError::syntax(file, &e))?;
    let doc = match docs.as_slice() {
        [d] => d,
        [] => return Err(InputError::at(file, 1, "the file holds no policy document")),
        [_, d, ..] => {
            return Err(InputError::at(
                file,
                d.line,
                "a policy file holds exactly one document",
            ));
        }
    };
    from_document(file, doc, check)
}

/// [`parse`], with the modelled controller checking `spec.controller`
/// (its errors reported with the policy's own).
pub fn parse_checked(file: &str, text: &str, check: SectionCheck) -> Result<Policy, InputError> {
    parse_with(file, text, Some(check))
}

/// Build a policy from an already parsed document.
fn from_document(
    file: &str,
    doc: &Document,
    check: Option<SectionCheck>,
) -> Result<Policy, InputError> {
    let raw: RawPolicy = crate::error::deserialize(file, doc)?;
    let mut errs = Errors {
        file,
        lines: &doc.lines,
        list: Vec::new(),
    };
    if raw.api_version != API_VERSION {
        errs.push(
            "/apiVersion",
            format!("expected {API_VERSION:?}, found {:?}", raw.api_version),
        );
    }
    if raw.kind != KIND {
        errs.push("/kind", format!("expected {KIND:?}, found {:?}", raw.kind));
    }
    let spec = raw.spec;
    let levels = resolve_levels(&spec.levels, &mut errs);

    let mut policy = Policy {
        name: raw
            .metadata
            .and_then(|m| m.name)
            .unwrap_or_else(|| "policy".to_string()),
        file: file.to_string(),
        idp: None,
        auth_service: None,
        levels,
        rules: Vec::new(),
        default: AUTHENTICATED.to_string(),
        default_need: Need::Public,
        sensitive: Sensitive::default(),
        exemptions: Vec::new(),
        controller: None,
    };
    let known = policy.known_levels().join(", ");

    if let Some(idp) = spec.idp {
        if !(idp.issuer.starts_with("https://") || idp.issuer.starts_with("http://")) {
            errs.push(
                "/spec/idp/issuer",
                format!("issuer {:?} must be an http(s) URL", idp.issuer),
            );
        }
        if idp.client_secret_file.is_some() && idp.client_secret_env.is_some() {
            errs.push(
                "/spec/idp",
                "set clientSecretFile or clientSecretEnv, not both".to_string(),
            );
        }
        policy.idp = Some(Idp {
            issuer: idp.issuer,
            audiences: idp.audiences,
            client_id: idp.client_id,
            client_secret_file: idp.client_secret_file,
            client_secret_env: idp.client_secret_env,
            ca_file: idp.ca_file,
        });
    }
    if let Some(a) = spec.auth_service {
        let url = a.url.trim_end_matches('/').to_string();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            errs.push(
                "/spec/authService/url",
                format!("{:?} must be an http(s) URL", a.url),
            );
        } else if let Some(c) = url.chars().find(|c| !is_auth_url_char(*c)) {
            errs.push(
                "/spec/authService/url",
                format!(
                    "{:?} contains {c:?}: the auth service URL may hold only letters, digits and - . _ ~ / : , ? & = \
                     (Ingress controllers' annotation validation rejects the rest in an auth URL)",
                    a.url
                ),
            );
        }
        let signin_path = a.signin_path.unwrap_or_else(|| "/.stepup".to_string());
        if !signin_path.starts_with('/') || signin_path.len() < 2 || signin_path.ends_with('/') {
            errs.push(
                "/spec/authService/signinPath",
                format!("{signin_path:?} must be an absolute path like /.stepup, without a trailing slash"),
            );
        }
        policy.auth_service = Some(AuthService { url, signin_path });
    }

    let mut names: HashMap<String, usize> = HashMap::new();
    for (i, r) in spec.rules.into_iter().enumerate() {
        let base = format!("/spec/rules/{i}");
        if r.name.is_empty() {
            errs.push(&format!("{base}/name"), "a rule needs a name".to_string());
        } else if let Some(prev) = names.insert(r.name.clone(), i) {
            errs.push(
                &format!("{base}/name"),
                format!("rule name {:?} is already used by rules[{prev}]", r.name),
            );
        }
        let mut hosts = Vec::new();
        for (j, h) in r.hosts.iter().enumerate() {
            match HostPattern::parse(h) {
                Ok(p) => hosts.push(p),
                Err(e) => errs.push(&format!("{base}/hosts/{j}"), e),
            }
        }
        if r.paths.is_empty() {
            errs.push(
                &format!("{base}/paths"),
                "a rule needs at least one path".to_string(),
            );
        }
        let mut paths = Vec::new();
        for (j, p) in r.paths.iter().enumerate() {
            match PathGlob::parse(p) {
                Ok(g) => paths.push(g),
                Err(e) => errs.push(&format!("{base}/paths/{j}"), e),
            }
        }
        if let Some(ms) = &r.methods {
            for (j, m) in ms.iter().enumerate() {
                if m.is_empty()
                    || !m
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
                {
                    errs.push(
                        &format!("{base}/methods/{j}"),
                        format!("method {m:?} must be an upper-case HTTP method"),
                    );
                }
            }
        }
        let need = match policy.need_of(&r.level) {
            Some(n) => n,
            None => {
                errs.push(
                    &format!("{base}/level"),
                    format!("unknown level {:?} (known: {known}, {DENY})", r.level),
                );
                Need::Deny
            }
        };
        let line = doc.lines.line_of(&base).unwrap_or(doc.line);
        policy.rules.push(Rule {
            name: r.name,
            hosts,
            paths,
            methods: r.methods,
            level: r.level,
            need,
            line,
        });
    }

    policy.default = spec.default.unwrap_or_else(|| AUTHENTICATED.to_string());
    match policy.need_of(&policy.default) {
        Some(n) => policy.default_need = n,
        None => errs.push(
            "/spec/default",
            format!(
                "unknown level {:?} (known: {known}, {DENY})",
                policy.default
            ),
        ),
    }

    if let Some(s) = spec.sensitive {
        for (j, p) in s.paths.iter().enumerate() {
            match PathGlob::parse(p) {
                Ok(g) => policy.sensitive.paths.push(g),
                Err(e) => errs.push(&format!("/spec/sensitive/paths/{j}"), e),
            }
        }
        policy.sensitive.hosts = s.hosts;
    }
    policy.exemptions = exemptions::resolve(spec.exemptions, &mut errs);
    if let Some(c) = spec.controller {
        let sec = controller_section(file, doc, c, &mut errs);
        if let Some(check) = check {
            errs.list.extend(check(&sec));
        }
        policy.controller = Some(sec);
    }

    if let Some(first) = InputError::merge(errs.list) {
        return Err(first);
    }
    Ok(policy)
}

/// Whether `c` may appear in `spec.authService.url`: letters, digits and
/// `- . _ ~ / : , ? & =`. Generated auth annotations carry the URL as is,
/// and the annotation validators of the modelled controllers accept these
/// (and, in some, `$` variables and spaces, which a service URL has no use
/// for); a `%` escape or a quote would be refused and the Ingress left
/// unconfigured.
fn is_auth_url_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(c, '-' | '.' | '_' | '~' | '/' | ':' | ',' | '?' | '&' | '=')
}

/// `spec.controller` as written: every value a scalar, kept as text with
/// its line.
fn controller_section(
    file: &str,
    doc: &Document,
    c: RawController,
    errs: &mut Errors<'_>,
) -> ControllerSection {
    let text = crate::source::scalar_text;
    let mut sec = ControllerSection {
        file: file.to_string(),
        ..ControllerSection::default()
    };
    for (k, v) in &c.config {
        let at = format!("/spec/controller/config/{}", crate::source::escape_token(k));
        match text(v) {
            Some(t) => {
                sec.config
                    .insert(k.clone(), (t, doc.lines.line_of(&at).unwrap_or(doc.line)));
            }
            None => errs.push(&at, "a controller setting must be a string".into()),
        }
    }
    for (k, v) in &c.flags {
        let at = format!("/spec/controller/flags/{}", crate::source::escape_token(k));
        sec.flags.push(ControllerFlag {
            name: k.clone(),
            value: text(v).unwrap_or_default(),
            line: doc.lines.line_of(&at).unwrap_or(1),
            field: crate::error::pointer_to_field(&at),
        });
    }
    sec
}

struct Errors<'a> {
    file: &'a str,
    lines: &'a Lines,
    list: Vec<InputError>,
}

impl Errors<'_> {
    fn push(&mut self, pointer: &str, msg: String) {
        let line = self.lines.line_of(pointer).unwrap_or(1);
        let field = crate::error::pointer_to_field(pointer);
        self.list
            .push(InputError::at(self.file, line, format!("{field}: {msg}")));
    }
}

fn parse_duration(v: &Value) -> Result<u64, String> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| format!("{n} is not a whole number of seconds")),
        Value::String(s) => humantime::parse_duration(s)
            .map(|d: Duration| d.as_secs())
            .map_err(|e| format!("{s:?} is not a duration like 15m or 1h30m ({e})")),
        other => Err(format!("{other} is not a duration like 15m")),
    }
}

fn valid_level_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 40
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && n.as_bytes()[0].is_ascii_lowercase()
        && !n.ends_with('-')
}

fn resolve_levels(raw: &[RawLevel], errs: &mut Errors<'_>) -> Vec<Level> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, l) in raw.iter().enumerate() {
        let p = format!("/spec/levels/{i}/name");
        if !valid_level_name(&l.name) {
            errs.push(&p, format!("level name {:?} must be lower-case letters, digits and `-`, starting with a letter", l.name));
        } else if l.name == PUBLIC || l.name == DENY {
            errs.push(
                &p,
                format!("{:?} is built in and cannot be redefined", l.name),
            );
        } else if let Some(prev) = index.insert(&l.name, i) {
            errs.push(
                &p,
                format!("level {:?} is already defined by levels[{prev}]", l.name),
            );
        }
    }
    // Own constraints of each level.
    let mut own: Vec<Requirement> = Vec::with_capacity(raw.len());
    for (i, l) in raw.iter().enumerate() {
        let base = format!("/spec/levels/{i}");
        let mut r = Requirement::default();
        if let Some(acr) = &l.acr {
            if acr.is_empty() {
                errs.push(
                    &format!("{base}/acr"),
                    "an empty acr list can never be met; omit it instead".into(),
                );
            }
            r.acr = Some(acr.iter().cloned().collect());
        }
        if let Some(amr) = &l.amr {
            if amr.is_empty() || amr.iter().any(Vec::is_empty) {
                errs.push(
                    &format!("{base}/amr"),
                    "amr is a list of non-empty lists, e.g. [[mfa], [otp]]".into(),
                );
            }
            r.amr = Some(amr.iter().map(|s| s.iter().cloned().collect()).collect());
        }
        if let Some(v) = &l.max_age {
            match parse_duration(v) {
                Ok(0) => errs.push(
                    &format!("{base}/maxAge"),
                    "maxAge must be greater than zero".into(),
                ),
                Ok(s) => r.max_age = Some(s),
                Err(e) => errs.push(&format!("{base}/maxAge"), e),
            }
        }
        r.human = l.human == Some(true);
        if let Some(c) = &l.claims {
            for (k, v) in c {
                let vals: BTreeSet<String> = match v {
                    OneOrMany::One(s) => [s.clone()].into(),
                    OneOrMany::Many(m) => m.iter().cloned().collect(),
                };
                if vals.is_empty() {
                    errs.push(
                        &format!("{base}/claims/{}", crate::source::escape_token(k)),
                        "an empty value list can never be met".into(),
                    );
                }
                r.claims.insert(k.clone(), vals);
            }
        }
        own.push(r);
    }
    // Resolve `extends` with cycle detection.
    let mut resolved: Vec<Option<Requirement>> = vec![None; raw.len()];
    for (start, slot) in resolved.iter_mut().enumerate() {
        let mut chain = vec![start];
        let mut cur = start;
        while let Some(parent) = raw[cur].extends.as_deref() {
            if parent == AUTHENTICATED && !index.contains_key(AUTHENTICATED) {
                break;
            }
            let Some(&p) = index.get(parent) else {
                errs.push(
                    &format!("/spec/levels/{cur}/extends"),
                    format!(
                        "unknown level {parent:?} (levels can extend: {})",
                        raw.iter()
                            .map(|l| l.name.as_str())
                            .chain([AUTHENTICATED])
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
                break;
            };
            if chain.contains(&p) {
                if cur == start || p == start {
                    let names: Vec<&str> = chain
                        .iter()
                        .map(|&i| raw[i].name.as_str())
                        .chain([raw[p].name.as_str()])
                        .collect();
                    errs.push(
                        &format!("/spec/levels/{start}/extends"),
                        format!("cycle in extends: {}", names.join(" -> ")),
                    );
                }
                break;
            }
            chain.push(p);
            cur = p;
        }
        // Fold from the root of the chain down to `start`.
        let mut acc = Requirement::default();
        for &i in chain.iter().rev() {
            acc = overlay(&acc, &own[i]);
        }
        *slot = Some(acc);
    }
    let mut out = Vec::new();
    for (i, l) in raw.iter().enumerate() {
        let req = resolved[i].clone().unwrap_or_default();
        if let Some(parent) = l.extends.as_deref() {
            if let Some(&p) = index.get(parent) {
                if let Some(preq) = &resolved[p] {
                    if preq.human && l.human == Some(false) {
                        errs.push(
                            &format!("/spec/levels/{i}/human"),
                            format!("level {:?} extends {parent:?}, which needs a human login; human: false cannot loosen it", l.name),
                        );
                    } else if !req.satisfies(preq) {
                        errs.push(
                            &format!("/spec/levels/{i}"),
                            format!("level {:?} extends {parent:?} but loosens it; a level may only tighten what it extends", l.name),
                        );
                    }
                }
            }
        }
        let line = errs
            .lines
            .line_of(&format!("/spec/levels/{i}"))
            .unwrap_or(0);
        out.push(Level::new(l.name.clone(), req, line));
    }
    if !index.contains_key(AUTHENTICATED) {
        out.push(Level::new(
            AUTHENTICATED.to_string(),
            Requirement::default(),
            0,
        ));
    }
    out
}

/// `child` fields replace the parent's; claims merge by key.
fn overlay(parent: &Requirement, child: &Requirement) -> Requirement {
    let mut claims = parent.claims.clone();
    claims.extend(child.claims.iter().map(|(k, v)| (k.clone(), v.clone())));
    Requirement {
        acr: child.acr.clone().or_else(|| parent.acr.clone()),
        amr: child.amr.clone().or_else(|| parent.amr.clone()),
        max_age: child.max_age.or(parent.max_age),
        human: parent.human || child.human,
        claims,
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(a) = &self.acr {
            parts.push(format!(
                "acr in [{}]",
                a.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        if let Some(a) = &self.amr {
            let alts: Vec<String> = a
                .iter()
                .map(|s| format!("[{}]", s.iter().cloned().collect::<Vec<_>>().join(", ")))
                .collect();
            parts.push(format!("amr ⊇ one of {}", alts.join(" ")));
        }
        if let Some(m) = self.max_age {
            parts.push(format!(
                "auth_time within {}",
                humantime::format_duration(Duration::from_secs(m))
            ));
        }
        if self.human {
            parts.push("a person's interactive login (auth_time, sub not the client)".into());
        }
        for (k, v) in &self.claims {
            parts.push(format!(
                "{k} has one of [{}]",
                v.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        if parts.is_empty() {
            f.write_str("any valid login")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

#[cfg(test)]
mod tests;
