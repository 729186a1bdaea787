//! `stepup generate`: the manifests with stepup's auth added (SPEC §2).
//!
//! Input is a set of manifest files; output is one YAML stream holding every
//! input document, in input order, with each `networking.k8s.io/v1` Ingress
//! protected as the policy requires, followed by the objects stepup needs on
//! top: one sign-in Ingress per protected browser host, and (with
//! `--controller traefik`) the forwardAuth Middlewares.
//!
//! **Which level a path gets** (`generate/assess.rs`, docs/generate.md). A location
//! serves more than the path that wrote it: a `Prefix /` also serves every
//! path no other Ingress of the host defines, a `Prefix /api` serves
//! `/api/admin`, a `spec.defaultBackend` of the host's first Ingress serves
//! its unmatched paths. The request paths ingress-nginx routes to a
//! location are the ones `stepup lint` probes (each location's own path, a
//! sample of every policy rule path, the built-in and configured sensitive
//! paths, `/` on sensitive hosts), routed through the same [`RouteTable`]
//! model; that is what makes generate's output lint clean. A path's level
//! is its *own*: what a path below it that no narrower pattern names needs
//! (for an exact path, the path itself; a rule for `POST` only counts where
//! `GET` needs nothing, as nginx cannot tell methods apart per location).
//! It is never raised to the strictest of what it serves, nor to `deny`
//! because those needs differ: that took whole sites down (issue 17).
//! Requests of another level are sub-paths: `--split` writes each as a path
//! of its own (`generate/carve.rs`); what cannot be written falls back as that
//! says, with a note. Splitting changes the routing (new objects are the
//! newest, and a host's root location belongs to its oldest Ingress), so
//! the plan is recomputed on its own output until it no longer changes.
//! Paths no rule covers that look sensitive (lint's heuristics, or an
//! Ingress labelled or annotated `stepup.dev/sensitive: "true"`) need at
//! least `authenticated`.
//!
//! **What is written.** ingress-nginx (`--controller nginx`, the default):
//! `auth-url: <authService.url>/auth?level=L&rule=R&host=$host` (`&rule=` only when one
//! policy rule decides every path), `auth-signin:
//! https://$host<signinPath>/signin?level=L` (not for API routes: hosts
//! starting with `api.`, paths under `/api`; nor at level `deny`),
//! `auth-response-headers` (user-added headers kept) and
//! `stepup.dev/level`/`stepup.dev/rule`. Traefik (`--controller traefik`):
//! one `traefik.io/v1alpha1` Middleware `stepup-<level>` per namespace and
//! level (forwardAuth to `<authService.url>/auth?level=L`, no `rule=` since
//! the Middleware is shared), referenced from
//! `traefik.ingress.kubernetes.io/router.middlewares` (appended to an
//! existing value). Public paths get no auth annotations.
//!
//! **One auth annotation covers a whole Ingress.** Without `--split`, an
//! Ingress with a path that serves sub-paths of other levels keeps its level
//! (none, or what its auth-url asks for), with a note listing them and
//! `--split`; an Ingress whose paths need different levels is protected at
//! the strictest one, with a note (public paths then need a login), unless
//! that would raise a public catch-all (`/`, a defaultBackend) or no policy
//! level meets them all: then its level is left unchanged, with a note.
//! With `--split`, it becomes one Ingress per level: the public paths keep
//! the original name, each protected level is `<name>-<level>`; an Ingress
//! of a single level keeps its name. Carved sub-paths go to the part of
//! their level. The parts keep the original's labels, annotations, class
//! and TLS; new parts drop server-set metadata (`uid`, `resourceVersion`,
//! `creationTimestamp`, …) and `status`. Rules without paths stay in the
//! first part; `spec.defaultBackend` goes to the part of its level.
//!
//! **Classes.** An Ingress of a class the controller does not serve
//! (`--ingress-class`, default `nginx`, and the input's IngressClasses with
//! controller `k8s.io/ingress-nginx`) is passed through unchanged, with a
//! note.
//!
//! **Only stepup's own annotations are replaced**: a stepup auth-url, an
//! auth-signin pointing at `<signinPath>/signin`, an auth-response-headers
//! listing only stepup's headers, `stepup.dev/level`, `stepup.dev/rule`, and
//! `<ns>-stepup-<level>@kubernetescrd` middleware references. Everything
//! else the user wrote stays, including other `stepup.dev/*` annotations
//! (`ignore`, `exempt`, `sensitive`) and any snippet. These Ingresses are
//! passed through unchanged (with a note where it matters): canaries
//! (ingress-nginx ignores their annotations), cert-manager ACME solvers,
//! Ingresses annotated `stepup.dev/exempt: <reason>`, and Ingresses with a
//! foreign auth-url (stepup does not take over another auth service).
//!
//! **An explicit level is a floor.** A level stepup's auth on an Ingress
//! already asks for (its auth-url's `level=`, or its
//! `<ns>-stepup-<level>@kubernetescrd` references) is kept when it meets or
//! exceeds what the policy asks (with a note when it exceeds it) and raised
//! when it does not: generate, and `/mutate` which plans with it, raise a
//! level, never lower one. A level the policy does not define (which `/auth`
//! refuses), `public`, and auth on a route of the sign-in path (which must
//! stay public, SU016) are not floors.
//!
//! **TLS.** A protected Ingress whose host has no `spec.tls` entry gets the
//! entry of another Ingress of the same namespace for that host (same
//! Secret), with a note; without one, a note says so (lint reports SU013).
//!
//! **Sign-in Ingresses** (SPEC §2): one per protected browser host, named
//! `stepup-signin-<host with dots as dashes>`, in stepup's namespace (from
//! `authService.url` `http://<svc>.<ns>.svc…`, else `stepup-system`),
//! routing `<signinPath>` (Prefix) to the Service of `authService.url`
//! without auth, with the protected Ingress's class and its TLS entry for the
//! host (the Secret must exist in stepup's namespace too, or ingress-nginx
//! keeps the certificate of the older application Ingress). None is written
//! for a host where an Ingress already routes the sign-in path without auth,
//! so generating again on the output adds nothing. With `--controller
//! traefik` they are written too: the session cookie lives on the
//! application's host.
//!
//! **Output.** YAML via serde_yaml, keys in input order; strings a YAML 1.1
//! reader (kubectl's) would take for something else (`on`, `yes`, `0755`,
//! dates) are single-quoted. Deterministic: the same input gives the same
//! bytes. Comments are not preserved (the documents are re-serialised),
//! and JSON input comes out as YAML. An Ingress of a removed API version is
//! an input error, as everywhere. Routing is modelled per ingress class: each
//! class (class-less Ingresses with the controller's default class) is one
//! controller.

mod assess;
mod carve;
mod public;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Value, json};

use crate::annotations::{Enforcement, auth_of, is_stepup_url};
use crate::coverage::{Probe, literal_sample, probe_host, probe_host_of, probes, required};
use crate::error::InputError;
use crate::ingress::{Backend, Ingress, Loaded, NGINX, PathType, load_text};
use crate::policy::{DENY, Need, Policy};
use crate::routing::{CATCH_ALL, Classes, Location, Outcome, RouteTable, Server};

/// Which controller's configuration to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Controller {
    /// ingress-nginx annotations (also read by Traefik's NGINX provider).
    #[default]
    Nginx,
    /// Traefik native: forwardAuth Middlewares.
    Traefik,
}

/// Options of a run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Options {
    /// Target controller.
    pub controller: Controller,
    /// One Ingress per level, and sub-paths of another level as paths of
    /// their own (see `carve.rs`).
    pub split: bool,
    /// Ingress classes the controller serves (`--ingress-class`); empty:
    /// `nginx` (`traefik` for Traefik). IngressClass objects of the input
    /// whose `spec.controller` is the controller's are served too.
    pub classes: Vec<String>,
}

/// `spec.controller` of ingress-nginx's IngressClasses.
pub const NGINX_CONTROLLER: &str = "k8s.io/ingress-nginx";
/// `spec.controller` of Traefik's IngressClasses.
pub const TRAEFIK_CONTROLLER: &str = "traefik.io/ingress-controller";

/// Annotation recording the level stepup chose.
pub const LEVEL_ANNOTATION: &str = "stepup.dev/level";
/// Annotation recording the policy rule behind the level.
pub const RULE_ANNOTATION: &str = "stepup.dev/rule";
/// Annotation exempting an Ingress (value: the reason).
pub const EXEMPT_ANNOTATION: &str = "stepup.dev/exempt";
/// Annotation or label marking an Ingress sensitive.
pub const SENSITIVE_ANNOTATION: &str = crate::coverage::SENSITIVE_MARK;
/// Headers stepup's `/auth` answers with, passed on to the backend.
pub const RESPONSE_HEADERS: [&str; 4] = [
    "X-Auth-Request-User",
    "X-Auth-Request-Email",
    "X-Auth-Request-Groups",
    "X-Auth-Request-Acr",
];
/// Traefik's middleware list annotation.
pub const MIDDLEWARES_ANNOTATION: &str = "traefik.ingress.kubernetes.io/router.middlewares";
/// stepup's namespace when `authService.url` does not name one.
pub const DEFAULT_NAMESPACE: &str = "stepup-system";
/// Service port when `authService.url` does not point at a Service.
const DEFAULT_PORT: u16 = 8080;
/// Longest Kubernetes object name (DNS-1123 subdomain).
const MAX_NAME: usize = 253;
/// Re-planning rounds before giving up on a fixpoint.
const MAX_ROUNDS: usize = 16;

/// Generate the protected manifests. Inputs are (file name, file text).
/// Returns the output manifests as one YAML stream (documents separated by
/// `---`), plus notes for a person (paths whose level had to be tightened,
/// Ingresses that mix levels, …).
pub fn generate(
    policy: &Policy,
    inputs: &[(String, String)],
    opts: &Options,
) -> Result<(String, Vec<String>), InputError> {
    let mut g = Gen::new(policy, opts, inputs)?;
    let docs = g.run()?;
    let yaml = to_yaml(&docs)?;
    Ok((yaml, g.notes))
}

/// What `generate` (ingress-nginx, without `--split`) makes of one Ingress
/// of a set: the admission webhook's `/mutate` uses it so that it writes
/// exactly what `generate` writes.
#[derive(Debug, Clone)]
pub struct IngressPlan {
    /// Why the Ingress is left unchanged (canary, ACME solver,
    /// `stepup.dev/exempt`, another auth service), if it is.
    pub skip: Option<String>,
    /// The level it is protected at (`None`: public, nothing to add).
    pub level: Option<String>,
    /// The policy rule recorded in `stepup.dev/rule`, when one decides.
    pub rule: Option<String>,
    /// Its paths need different levels (`--split` would make one Ingress
    /// per level); `None` when they all need the same. The text lists the
    /// levels and paths.
    pub mixed: Option<String>,
    /// `metadata.annotations` as `generate` writes them.
    pub annotations: Map<String, Value>,
    /// `generate`'s notes about this Ingress.
    pub notes: Vec<String>,
    /// Hosts of this Ingress that need the sign-in Ingress `generate` would
    /// write (no Ingress of `inputs` routes `<signinPath>` there yet).
    pub signin_missing: Vec<String>,
}

/// Plan the Ingress `key` (`namespace/name`) of `inputs` (the other
/// Ingresses give the routing context) as `generate` would, with its items'
/// needs raised to at least `floor` (a declared `stepup.dev/level`).
/// `Ok(None)` when `inputs` hold no such Ingress.
pub fn plan_ingress(
    policy: &Policy,
    inputs: &[(String, String)],
    key: &str,
    floor: Option<&Need>,
) -> Result<Option<IngressPlan>, InputError> {
    let opts = Options::default();
    let mut g = Gen::new(policy, &opts, inputs)?;
    let Some(si) = g.srcs.iter().position(|s| s.typed.key() == key) else {
        return Ok(None);
    };
    let floors: Vec<(usize, Need)> = floor.map(|f| (si, f.clone())).into_iter().collect();
    let (round, needs) = g.settle(&floors)?;
    let s = &g.srcs[si];
    let part = round.parts[si].first();
    let levels: BTreeSet<Option<String>> = needs[si]
        .iter()
        .map(|n| g.resolve(n, key, &mut Vec::new()).map(|l| l.name))
        .collect();
    let mixed = if levels.len() > 1 && s.skip.is_none() {
        let mut notes = Vec::new();
        g.mixed_note(
            s,
            &needs[si],
            part.and_then(|p| p.level.as_ref()),
            &mut notes,
        );
        notes.pop()
    } else {
        // One path serving sub-paths of other levels (a `Prefix /` with
        // /admin below): what --split would carve out.
        let carves = round.accs[si]
            .iter()
            .enumerate()
            .any(|(ii, a)| !g.assess(s, ii, a).cuts.is_empty());
        let prefix = format!("{key}: path ");
        carves
            .then(|| g.notes.iter().find(|n| n.starts_with(&prefix)).cloned())
            .flatten()
    };
    let annotations = round.values[si]
        .first()
        .and_then(|v| v.get("metadata"))
        .and_then(|m| m.get("annotations"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    Ok(Some(IngressPlan {
        skip: s.skip.clone(),
        level: part.and_then(|p| p.level.as_ref()).map(|l| l.name.clone()),
        rule: part.and_then(|p| p.rule.clone()),
        mixed,
        annotations,
        signin_missing: {
            let mine: BTreeSet<Option<&str>> =
                s.typed.rules.iter().map(|r| r.host.as_deref()).collect();
            round
                .signins
                .iter()
                .filter_map(|v| v["spec"]["rules"][0].as_object())
                .map(|r| r.get("host").and_then(Value::as_str))
                .filter(|h| mine.contains(h))
                .map(|h| h.unwrap_or("*").to_string())
                .collect()
        },
        notes: g
            .notes
            .iter()
            .filter(|n| {
                n.strip_prefix(key)
                    .is_some_and(|rest| rest.starts_with([':', ' ']))
            })
            .cloned()
            .collect(),
    }))
}

// === input model ===

/// One input document (or list item).
enum Node {
    /// Passed through unchanged.
    Keep(Value),
    /// stepup's own object, regenerated at the end.
    Drop,
    /// An Ingress: index into `Gen::srcs`.
    Ingress(usize),
    /// A `kind: List`: the value and its processed items.
    List(Value, Vec<Node>),
}

/// Something an Ingress serves: one of its paths, its defaultBackend, or a
/// sub-path `--split` carved out of one of its paths (`Src::carves`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    Path { rule: usize, path: usize },
    DefaultBackend,
    Carve { carve: usize },
}

/// A sub-path written as an Ingress path of its own (`carve.rs`): the same
/// host and backend as path `path` of rule `rule`.
#[derive(Debug, Clone)]
struct Carved {
    rule: usize,
    path: usize,
    /// The item it was carved from.
    parent: usize,
    cut: carve::Cut,
    /// At least this need (a narrowed cut is protected at the need of the
    /// pattern it stands for).
    floor: Need,
}

/// An input Ingress.
struct Src {
    /// As written.
    raw: Value,
    /// As loaded.
    typed: Ingress,
    /// Why it is passed through unchanged.
    skip: Option<String>,
    /// What it serves.
    items: Vec<Item>,
    /// Labelled or annotated `stepup.dev/sensitive: "true"`.
    sensitive: bool,
    /// Sub-paths carved out (`--split`), referenced by `Item::Carve`.
    carves: Vec<Carved>,
    /// Left unchanged only because another auth service's auth-url
    /// protects it ([`public`] serves its public paths without it).
    foreign_auth: bool,
}

/// The level stepup's auth already on `s` asks for, as a need: its
/// auth-url's `level=` and its `<ns>-stepup-<level>@kubernetescrd`
/// middleware references, combined. An explicit level is a floor: generate
/// and `/mutate` raise it to what the policy asks, never lower it. None
/// for a pass-through source, a route of the sign-in path (which must stay
/// public: auth there is SU016's redirect loop, not a level to keep),
/// `public`, and a level the policy does not define (`/auth` refuses it, so
/// there is nothing to keep).
fn written_floor(policy: &Policy, s: &Src) -> Option<Need> {
    let routes_signin = s
        .typed
        .rules
        .iter()
        .flat_map(|r| &r.paths)
        .any(|p| policy.is_signin_path(p.path.as_bytes()));
    if s.skip.is_some() || routes_signin {
        return None;
    }
    let mut levels: Vec<String> = Vec::new();
    if let Enforcement::Stepup { level, .. } = auth_of(&s.typed, Some(policy)).enforcement {
        levels.push(level);
    }
    let prefix = format!("{}-stepup-", s.typed.namespace);
    if let Some(refs) = s.typed.annotations.get(MIDDLEWARES_ANNOTATION) {
        levels.extend(refs.split(',').filter_map(|e| {
            let l = e
                .trim()
                .strip_prefix(&prefix)?
                .strip_suffix("@kubernetescrd")?;
            Some(l.to_string())
        }));
    }
    levels
        .iter()
        .filter_map(|l| policy.need_of(l))
        .filter(|n| *n != Need::Public)
        .reduce(|a, b| a.and(&b))
}

/// A named level (or deny) an Ingress part is protected at.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Lvl {
    name: String,
    need: Need,
}

/// One output Ingress made from an input one.
#[derive(Debug, Clone)]
struct Part {
    name: String,
    renamed: bool,
    /// Indices into the source's items.
    items: Vec<usize>,
    /// Keeps the rules that have no paths.
    primary: bool,
    level: Option<Lvl>,
    rule: Option<String>,
    signin: bool,
}

/// One request path that reaches an item, and what it needs.
#[derive(Debug, Clone)]
struct Source {
    /// The request path judged: a probe sample or the item's own path
    /// (what cuts and comparisons are computed from).
    path: String,
    /// The path in notes: the policy's glob or the path as written, never
    /// a probe sample (`/admin/stepup-probe`).
    shown: String,
    method: &'static str,
    get: Need,
    get_rule: Option<usize>,
    meth: Need,
    meth_rule: Option<usize>,
}

/// What reaches an item: its own path first (when it has a literal one).
#[derive(Debug, Clone, Default)]
struct Acc {
    base: Option<Source>,
    /// For a prefix, a path below it no narrower pattern names
    /// ([`carve::below`]): the level of the prefix as a whole.
    own: Option<Source>,
    probes: Vec<Source>,
    /// The host is in regex mode (paths compare case-insensitively).
    fold: bool,
}

impl Acc {
    fn all(&self) -> impl Iterator<Item = &Source> {
        self.base.iter().chain(self.probes.iter())
    }

    /// The need: every GET need together; when those need nothing, the
    /// other methods' needs.
    fn need(&self) -> Need {
        let get = self.all().fold(Need::Public, |a, s| a.and(&s.get));
        if get != Need::Public {
            return get;
        }
        self.all().fold(Need::Public, |a, s| a.and(&s.meth))
    }
}

/// The rendered output of one round.
struct Round {
    parts: Vec<Vec<Part>>,
    /// Rendered parts, per source.
    values: Vec<Vec<Value>>,
    signins: Vec<Value>,
    accs: Vec<Vec<Acc>>,
}

struct Gen<'a> {
    policy: &'a Policy,
    opts: &'a Options,
    files: Vec<Vec<Node>>,
    srcs: Vec<Src>,
    notes: Vec<String>,
    /// Names of every input Ingress (`ns/name`).
    keys: BTreeSet<String>,
    /// TLS entries with a Secret, per namespace, in input order:
    /// (hosts, secretName, `ns/name` of the Ingress).
    tls: BTreeMap<String, Vec<(Vec<String>, String, String)>>,
}

impl<'a> Gen<'a> {
    fn new(
        policy: &'a Policy,
        opts: &'a Options,
        inputs: &[(String, String)],
    ) -> Result<Gen<'a>, InputError> {
        let mut loaded = Loaded::default();
        let mut seen = HashMap::new();
        let mut files = Vec::new();
        let mut raws: Vec<Value> = Vec::new();
        for (name, text) in inputs {
            load_text(name, text, &mut loaded, &mut seen)?;
            let docs =
                crate::source::parse_documents(text).map_err(|e| InputError::syntax(name, &e))?;
            let nodes = docs
                .into_iter()
                .map(|d| node(policy, d.value, false, &mut raws))
                .collect();
            files.push(nodes);
        }
        if raws.len() != loaded.ingresses.len() {
            return Err(InputError::file(
                "generate",
                format!(
                    "internal error: {} Ingresses read, {} found in the documents",
                    loaded.ingresses.len(),
                    raws.len()
                ),
            ));
        }
        let served = served_classes(opts, &loaded.classes);
        let mut srcs = Vec::new();
        for (raw, typed) in raws.into_iter().zip(loaded.ingresses) {
            let mut items = Vec::new();
            for (ri, r) in typed.rules.iter().enumerate() {
                for pi in 0..r.paths.len() {
                    items.push(Item::Path { rule: ri, path: pi });
                }
            }
            if typed.default_backend.is_some() {
                items.push(Item::DefaultBackend);
            }
            let unserved = unserved(opts, &typed, &served);
            let passed = pass_reason(&typed);
            let foreign = foreign_auth_url(policy, &typed);
            let foreign_auth = unserved.is_none() && passed.is_none() && foreign.is_some();
            let skip = unserved.or(passed).or_else(|| {
                foreign.map(|u| format!(
                    "it uses another auth service ({u}); replace its auth-url with stepup's to enforce levels"
                ))
            });
            let sensitive = crate::coverage::marked_sensitive(&typed);
            srcs.push(Src {
                raw,
                typed,
                skip,
                items,
                sensitive,
                carves: Vec::new(),
                foreign_auth,
            });
        }
        let keys = srcs.iter().map(|s| s.typed.key()).collect();
        let mut tls: BTreeMap<String, Vec<(Vec<String>, String, String)>> = BTreeMap::new();
        for s in &srcs {
            for (hosts, secret) in tls_entries(&s.raw) {
                if let Some(secret) = secret {
                    tls.entry(s.typed.namespace.clone()).or_default().push((
                        hosts,
                        secret,
                        s.typed.key(),
                    ));
                }
            }
        }
        Ok(Gen {
            policy,
            opts,
            files,
            srcs,
            notes: Vec::new(),
            keys,
            tls,
        })
    }

    /// Plan until the plan is stable on its own output, then assemble.
    fn run(&mut self) -> Result<Vec<Value>, InputError> {
        let (round, _) = self.settle(&[])?;
        Ok(self.assemble(&round))
    }

    /// Plan until the plan is stable on its own output: the final round and
    /// each item's need. `floors` raise the needs of a source's items to at
    /// least the given need from the start (`(source index, need)`), and so
    /// does the level of stepup's auth-url a source already carries
    /// ([`written_floor`]): generate raises a level, never lowers one.
    fn settle(&mut self, floors: &[(usize, Need)]) -> Result<(Round, Vec<Vec<Need>>), InputError> {
        let written: Vec<(usize, Need)> = self
            .srcs
            .iter()
            .enumerate()
            .filter_map(|(i, s)| written_floor(self.policy, s).map(|n| (i, n)))
            .collect();
        let mut floor = vec![Need::Public; self.srcs.len()];
        for (si, f) in floors.iter().chain(&written) {
            if let Some(x) = floor.get_mut(*si) {
                *x = x.and(f);
            }
        }
        let mut needs: Vec<Vec<Need>> = self
            .srcs
            .iter()
            .zip(&floor)
            .map(|(s, f)| vec![f.clone(); s.items.len()])
            .collect();
        let mut accs: Vec<Vec<Acc>> = self
            .srcs
            .iter()
            .map(|s| vec![Acc::default(); s.items.len()])
            .collect();
        let mut converged = false;
        for _ in 0..MAX_ROUNDS {
            let round = self.round(&needs, &accs, &mut Vec::new())?;
            accs = round.accs;
            let grew = self.opts.split && self.carve_round(&accs, &floor);
            let next = self.next_needs(&accs, &floor);
            if !grew && next == needs {
                converged = true;
                break;
            }
            needs = next;
            for (si, s) in self.srcs.iter().enumerate() {
                accs[si].resize(s.items.len(), Acc::default());
            }
        }
        let mut notes = Vec::new();
        for s in &self.srcs {
            if let Some(why) = &s.skip {
                notes.push(format!("{}: left unchanged ({why})", s.typed.key()));
            }
        }
        if !converged {
            notes.push(format!(
                "the plan did not settle after {MAX_ROUNDS} rounds; run `stepup lint` on the output"
            ));
        }
        let round = self.round(&needs, &accs, &mut notes)?;
        self.fallback_notes(&round, &mut notes);
        self.host_rule_notes(&mut notes);
        self.kept_level_notes(&round, &written, &mut notes);
        let mut seen = BTreeSet::new();
        notes.retain(|n| seen.insert(n.clone()));
        self.notes = notes;
        Ok((round, needs))
    }

    /// Each item's need from what reached it, with its source's floor.
    fn next_needs(&self, accs: &[Vec<Acc>], floor: &[Need]) -> Vec<Vec<Need>> {
        self.srcs
            .iter()
            .enumerate()
            .map(|(si, s)| {
                (0..s.items.len())
                    .map(|ii| match accs[si].get(ii) {
                        Some(a) => self.assess(s, ii, a).need.and(&floor[si]),
                        None => floor[si].clone(),
                    })
                    .collect()
            })
            .collect()
    }

    /// `--split`: add the sub-paths the round's verdicts ask for as items
    /// of their own. Whether each serves what it was cut for shows in the
    /// next round's routing. True when an item was added.
    fn carve_round(&mut self, accs: &[Vec<Acc>], floor: &[Need]) -> bool {
        let mut add: Vec<(usize, Carved)> = Vec::new();
        for (si, s) in self.srcs.iter().enumerate() {
            if s.skip.is_some() {
                continue;
            }
            for (ii, acc) in accs[si].iter().enumerate().take(s.items.len()) {
                let Some((rule, _, _)) = item_path(s, s.items[ii]) else {
                    continue;
                };
                let path = match s.items[ii] {
                    Item::Path { path, .. } => path,
                    Item::Carve { carve } => s.carves[carve].path,
                    Item::DefaultBackend => continue,
                };
                for (cut, need, _) in self.assess(s, ii, acc).cuts {
                    let floor = if cut.narrowed {
                        need.and(&floor[si])
                    } else {
                        floor[si].clone()
                    };
                    let dup = add.iter_mut().find(|(i, c)| {
                        *i == si
                            && c.rule == rule
                            && c.cut.path == cut.path
                            && c.cut.exact == cut.exact
                    });
                    match dup {
                        Some((_, c)) => c.floor = c.floor.and(&floor),
                        None => add.push((
                            si,
                            Carved {
                                rule,
                                path,
                                parent: ii,
                                cut,
                                floor,
                            },
                        )),
                    }
                }
            }
        }
        let grew = !add.is_empty();
        for (si, c) in add {
            let s = &mut self.srcs[si];
            s.carves.push(c);
            s.items.push(Item::Carve {
                carve: s.carves.len() - 1,
            });
        }
        grew
    }

    /// One round: plan with `needs`, render, route, and collect what reaches
    /// each item.
    fn round(
        &self,
        needs: &[Vec<Need>],
        accs: &[Vec<Acc>],
        notes: &mut Vec<String>,
    ) -> Result<Round, InputError> {
        let mut parts = Vec::new();
        for (i, s) in self.srcs.iter().enumerate() {
            parts.push(self.plan(s, &needs[i], &accs[i], notes)?);
        }
        let mut values = Vec::new();
        for (i, ps) in parts.iter().enumerate() {
            let mut vs = Vec::new();
            for p in ps {
                vs.push(self.render(&self.srcs[i], p, notes)?);
            }
            values.push(vs);
        }

        // Typed output Ingresses, per class group.
        let mut groups: BTreeMap<String, Vec<Ingress>> = BTreeMap::new();
        let mut owner: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for (i, vs) in values.iter().enumerate() {
            for (pi, v) in vs.iter().enumerate() {
                let ing = typed_part(&self.srcs[i], &parts[i][pi], v);
                if self.srcs[i].skip.is_none() {
                    owner.insert(ing.key(), (i, pi));
                }
                groups.entry(self.group_of(&ing)).or_default().push(ing);
            }
        }
        let mut tables = BTreeMap::new();
        for (g, list) in &groups {
            tables.insert(
                g.clone(),
                RouteTable::build(list.clone(), &self.classes(g).into())?,
            );
        }
        let signins = self.signins(&parts, &values, &tables, notes)?;
        for v in &signins {
            let ing = self.reload(v)?;
            groups.entry(self.group_of(&ing)).or_default().push(ing);
        }
        // Public paths out of another auth service's Ingress, judged on
        // this round's routing (a host in regex mode is left alone). After
        // the parts: `values[i]` beyond `parts[i]` are emitted, not planned.
        for (i, vs) in values.iter_mut().enumerate() {
            let s = &self.srcs[i];
            let Some(t) = tables.get(&self.group_of(&s.typed)) else {
                continue;
            };
            if let Some(v) = self.public_sibling(s, t, notes) {
                let ing = self.reload(&v)?;
                groups.entry(self.group_of(&ing)).or_default().push(ing);
                vs.push(v);
            }
        }
        let mut accs: Vec<Vec<Acc>> = self
            .srcs
            .iter()
            .map(|s| vec![Acc::default(); s.items.len()])
            .collect();
        for (g, list) in groups {
            let t = RouteTable::build(list, &self.classes(&g).into())?;
            self.probe(&t, &g, &parts, &owner, &mut accs);
        }
        Ok(Round {
            parts,
            values,
            signins,
            accs,
        })
    }

    fn default_class(&self) -> &'static str {
        match self.opts.controller {
            Controller::Nginx => "nginx",
            Controller::Traefik => "traefik",
        }
    }

    fn group_of(&self, ing: &Ingress) -> String {
        ing.class
            .clone()
            .unwrap_or_else(|| self.default_class().to_string())
    }

    fn classes(&self, group: &str) -> Classes {
        Classes {
            names: vec![group.to_string()],
            classless: group == self.default_class(),
        }
    }

    /// A generated object as loaded (for the sign-in Ingresses).
    fn reload(&self, v: &Value) -> Result<Ingress, InputError> {
        let text = serde_json::to_string(&v)
            .map_err(|e| InputError::file("generate", format!("internal error: {e}")))?;
        let mut loaded = Loaded::default();
        load_text("(generated)", &text, &mut loaded, &mut HashMap::new())?;
        loaded
            .ingresses
            .pop()
            .ok_or_else(|| InputError::file("generate", "internal error: Ingress lost"))
    }

    // === planning ===

    fn plan(
        &self,
        s: &Src,
        needs: &[Need],
        accs: &[Acc],
        notes: &mut Vec<String>,
    ) -> Result<Vec<Part>, InputError> {
        if s.skip.is_some() {
            return Ok(vec![self.whole(s, None)]);
        }
        let mut parts = if self.opts.split {
            self.split_parts(s, needs, notes)?
        } else {
            vec![self.whole(s, self.single_level(s, needs, accs, notes))]
        };
        for p in &mut parts {
            if let Some(l) = &p.level {
                p.rule = self.rule_of(p, l, accs);
                p.signin =
                    self.opts.controller == Controller::Nginx && l.name != DENY && is_browser(s, p);
            }
        }
        Ok(parts)
    }

    /// The source as one part.
    fn whole(&self, s: &Src, level: Option<Lvl>) -> Part {
        Part {
            name: s.typed.name.clone(),
            renamed: false,
            items: (0..s.items.len()).collect(),
            primary: true,
            level,
            rule: None,
            signin: false,
        }
    }

    /// Without `--split`: one level for the whole Ingress. A path that
    /// serves sub-paths of other levels, a public catch-all that the other
    /// paths would raise, or levels no policy level meets together leave
    /// the level unchanged (what the Ingress already asks for, if anything),
    /// with a note; otherwise the strictest of its paths' levels.
    fn single_level(
        &self,
        s: &Src,
        needs: &[Need],
        accs: &[Acc],
        notes: &mut Vec<String>,
    ) -> Option<Lvl> {
        let key = s.typed.key();
        let all = needs.iter().fold(Need::Public, |a, n| a.and(n));
        let unchanged =
            || written_floor(self.policy, s).and_then(|f| self.resolve(&f, &key, &mut Vec::new()));
        let mut mixed = Vec::new();
        for (ii, acc) in accs.iter().enumerate().take(s.items.len()) {
            let v = self.assess(s, ii, acc);
            let mut subs: Vec<String> = Vec::new();
            for (cut, need, _) in &v.cuts {
                let l = self.resolve(need, "", &mut Vec::new());
                let ty = if cut.exact { "Exact" } else { "Prefix" };
                let d = format!(
                    "{} {ty} {}",
                    cut.path,
                    l.map_or("public".to_string(), |l| l.name)
                );
                if !subs.contains(&d) {
                    subs.push(d);
                }
            }
            if !subs.is_empty() {
                let own = self.resolve(&v.own, "", &mut Vec::new());
                mixed.push(format!(
                    "path {} is {} but serves {}",
                    item_label(s, s.items[ii]),
                    own.map_or("public".to_string(), |l| l.name),
                    subs.join(", ")
                ));
            }
        }
        if !mixed.is_empty() {
            let l = unchanged();
            notes.push(format!(
                "{key}: {}; one auth annotation covers every path of an Ingress, so its level is left {} (neither deny nor the strictest); pass --split to write each sub-path as a path of its own at its level",
                mixed.join("; "),
                l.as_ref().map_or("unset (public)".to_string(), |l| format!("at {}", l.name))
            ));
            return l;
        }
        let raises_catch_all = (0..s.items.len())
            .any(|ii| is_catch_all(s, s.items[ii]) && needs[ii] == Need::Public)
            && all != Need::Public;
        if raises_catch_all || !self.satisfiable(&all) {
            let l = unchanged();
            self.mixed_note(s, needs, l.as_ref(), notes);
            return l;
        }
        let level = self.resolve(&all, &key, notes);
        let labels: BTreeSet<Option<String>> = needs
            .iter()
            .map(|n| self.resolve(n, &key, &mut Vec::new()).map(|l| l.name))
            .collect();
        if labels.len() > 1 {
            self.mixed_note(s, needs, level.as_ref(), notes);
        }
        level
    }

    /// With `--split`: one part per level. A carved sub-path of the same
    /// level as the path it was carved from is not written.
    fn split_parts(
        &self,
        s: &Src,
        needs: &[Need],
        notes: &mut Vec<String>,
    ) -> Result<Vec<Part>, InputError> {
        let key = s.typed.key();
        let levels: Vec<Option<Lvl>> = needs.iter().map(|n| self.resolve(n, &key, notes)).collect();
        let name_of = |l: &Option<Lvl>| l.as_ref().map(|l| l.name.clone());
        let mut groups: BTreeMap<(usize, String), (Option<Lvl>, Vec<usize>)> = BTreeMap::new();
        for (ii, l) in levels.iter().enumerate() {
            if let Item::Carve { carve } = s.items[ii] {
                let parent = s.carves.get(carve).map(|c| c.parent);
                if parent.and_then(|pi| levels.get(pi)).map(name_of) == Some(name_of(l)) {
                    continue;
                }
            }
            let order = self.level_order(l.as_ref());
            let name = name_of(l).unwrap_or_default();
            groups
                .entry((order, name))
                .or_insert((l.clone(), Vec::new()))
                .1
                .push(ii);
        }
        if groups.len() <= 1 {
            let (level, items) = groups.into_values().next().unwrap_or((None, Vec::new()));
            let mut p = self.whole(s, level);
            if !s.carves.is_empty() {
                p.items = items;
            }
            return Ok(vec![p]);
        }
        let mut out = Vec::new();
        for (i, (level, items)) in groups.into_values().enumerate() {
            let name = match &level {
                None => s.typed.name.clone(),
                Some(l) => part_name(&s.typed.name, &l.name),
            };
            let renamed = name != s.typed.name;
            if renamed {
                let k = format!("{}/{name}", s.typed.namespace);
                if self.keys.contains(&k) {
                    return Err(InputError::at(
                        &s.typed.origin.file,
                        s.typed.origin.line,
                        format!(
                            "cannot split Ingress {key}: its part {k} would replace an existing Ingress of that name; rename one of them"
                        ),
                    ));
                }
            }
            out.push(Part {
                name,
                renamed,
                items,
                primary: i == 0,
                level,
                rule: None,
                signin: false,
            });
        }
        self.split_note(s, &out, notes);
        Ok(out)
    }

    fn split_note(&self, s: &Src, out: &[Part], notes: &mut Vec<String>) {
        let key = s.typed.key();
        let names: Vec<String> = out
            .iter()
            .map(|p| {
                let l = p.level.as_ref().map_or("public", |l| l.name.as_str());
                let carved: Vec<String> = p
                    .items
                    .iter()
                    .filter(|&&ii| matches!(s.items[ii], Item::Carve { .. }))
                    .map(|&ii| item_label(s, s.items[ii]))
                    .collect();
                if carved.is_empty() {
                    format!("{}/{} ({l})", s.typed.namespace, p.name)
                } else {
                    format!(
                        "{}/{} ({l}; carved out: {})",
                        s.typed.namespace,
                        p.name,
                        carved.join(" ")
                    )
                }
            })
            .collect();
        let mut msg = format!("{key} split into {}", names.join(", "));
        if out.iter().all(|p| p.renamed) {
            msg.push_str(&format!(
                "; delete {key} when applying (or use kubectl apply --prune)"
            ));
        }
        notes.push(msg);
    }

    /// Sort key of a level: public, then policy order, then deny.
    fn level_order(&self, l: Option<&Lvl>) -> usize {
        match l {
            None => 0,
            Some(l) if l.name == DENY => usize::MAX,
            Some(l) => {
                1 + self
                    .policy
                    .levels
                    .iter()
                    .position(|x| x.name == l.name)
                    .unwrap_or(self.policy.levels.len())
            }
        }
    }

    /// A need as a level an auth-url can name.
    fn resolve(&self, need: &Need, key: &str, notes: &mut Vec<String>) -> Option<Lvl> {
        match need {
            Need::Public => None,
            Need::Deny => Some(Lvl {
                name: DENY.into(),
                need: Need::Deny,
            }),
            Need::Auth { levels, .. } if levels.len() == 1 => Some(Lvl {
                name: levels[0].clone(),
                need: need.clone(),
            }),
            Need::Auth { levels, .. } => {
                let cands: Vec<(String, Need)> = self
                    .policy
                    .levels
                    .iter()
                    .filter_map(|l| Some((l.name.clone(), self.policy.need_of(&l.name)?)))
                    .filter(|(_, n)| n.satisfies(need))
                    .collect();
                let best = cands
                    .iter()
                    .find(|(_, n)| cands.iter().all(|(_, m)| m.satisfies(n)))
                    .or_else(|| cands.first());
                match best {
                    Some((name, n)) => Some(Lvl {
                        name: name.clone(),
                        need: n.clone(),
                    }),
                    None => {
                        notes.push(format!(
                            "{key}: needs {} at once and no policy level satisfies all of them: denied (define a level that extends them)",
                            levels.join(" and ")
                        ));
                        Some(Lvl {
                            name: DENY.into(),
                            need: Need::Deny,
                        })
                    }
                }
            }
        }
    }

    /// The one policy rule whose need decides the part's level, if there is
    /// exactly one.
    fn rule_of(&self, p: &Part, l: &Lvl, accs: &[Acc]) -> Option<String> {
        let mut rules = BTreeSet::new();
        for &ii in &p.items {
            for s in accs.get(ii).into_iter().flat_map(Acc::all) {
                for (n, r) in [(&s.get, s.get_rule), (&s.meth, s.meth_rule)] {
                    if *n != Need::Public && n.satisfies(&l.need) {
                        rules.insert(r);
                    }
                }
            }
        }
        match (rules.len(), rules.into_iter().next()) {
            (1, Some(Some(r))) => Some(self.policy.rules[r].name.clone()),
            _ => None,
        }
    }

    fn mixed_note(&self, s: &Src, needs: &[Need], level: Option<&Lvl>, notes: &mut Vec<String>) {
        let mut by: BTreeMap<(usize, String), Vec<String>> = BTreeMap::new();
        for (ii, n) in needs.iter().enumerate() {
            let l = self.resolve(n, "", &mut Vec::new());
            let name = l.as_ref().map_or("public".to_string(), |l| l.name.clone());
            by.entry((self.level_order(l.as_ref()), name))
                .or_default()
                .push(item_label(s, s.items[ii]));
        }
        let desc: Vec<String> = by
            .iter()
            .map(|((_, l), ps)| format!("{l}: {}", ps.join(" ")))
            .collect();
        let at = level.map_or("public", |l| l.name.as_str());
        let strictest = by.keys().next_back().map_or("public", |(_, l)| l.as_str());
        let mut msg = format!(
            "{} mixes levels ({}); one auth annotation covers every path of an Ingress",
            s.typed.key(),
            desc.join("; ")
        );
        if at == strictest {
            msg.push_str(&format!(", so all are protected at {at}"));
            if let Some(((0, _), ps)) = by.iter().next() {
                msg.push_str(&format!(
                    " and the public paths {} now require a login",
                    ps.join(" ")
                ));
            }
        } else {
            // A public catch-all, or levels no policy level meets at once.
            let exposed: Vec<&str> = by
                .iter()
                .filter(|((o, _), _)| *o > self.level_order(level))
                .flat_map(|(_, ps)| ps.iter().map(String::as_str))
                .collect();
            msg.push_str(&format!(
                "; its level is left {at} (neither deny nor the strictest, which would put its public catch-all behind a login or refuse every request), so {} are exposed",
                exposed.join(" ")
            ));
        }
        msg.push_str("; use --split for one Ingress per level");
        notes.push(msg);
    }

    /// A note for each Ingress whose written auth-url level is kept although
    /// the policy asks less of some of its paths.
    fn kept_level_notes(&self, r: &Round, written: &[(usize, Need)], notes: &mut Vec<String>) {
        for (si, floor) in written {
            let s = &self.srcs[*si];
            let lower = r.accs[*si].iter().any(|a| !a.need().satisfies(floor));
            if lower {
                notes.push(format!(
                    "{}: keeps its auth-url level {}, stricter than the policy asks of some of its paths (generate raises a level, never lowers one)",
                    s.typed.key(),
                    floor.label()
                ));
            }
        }
    }

    /// Notes for the requests no carved path serves, per rendered item.
    fn fallback_notes(&self, r: &Round, notes: &mut Vec<String>) {
        for (si, s) in self.srcs.iter().enumerate() {
            if s.skip.is_some() {
                continue;
            }
            for p in &r.parts[si] {
                for &ii in &p.items {
                    if let Some(acc) = r.accs[si].get(ii) {
                        let v = self.assess(s, ii, acc);
                        self.verdict_notes(s, ii, &v, notes);
                    }
                }
            }
        }
    }

    // === routing probes ===

    /// Each item's own need, whether or not it is rendered this round: its
    /// path as a request (`base`) and, for a prefix, a path below it
    /// (`own`); in the regex mode of the server it is on.
    fn own_needs(&self, t: &RouteTable, group: &str, accs: &mut [Vec<Acc>]) {
        for (si, s) in self.srcs.iter().enumerate() {
            if s.skip.is_some() || self.group_of(&s.typed) != group {
                continue;
            }
            for (ii, &it) in s.items.iter().enumerate() {
                let Some((rule, raw, ty)) = item_path(s, it) else {
                    continue;
                };
                let host = probe_host_of(s.typed.rules[rule].host.as_deref());
                let fold = t.servers[t.server_for(&host)].regex_mode;
                let acc = &mut accs[si][ii];
                acc.fold = fold;
                let Some(sample) = literal_sample(raw) else {
                    continue;
                };
                if ty != PathType::Exact {
                    acc.own = Some(self.own_source(&host, carve::below(&sample), fold, s));
                }
                acc.base = Some(self.own_source(&host, sample, fold, s));
            }
        }
    }

    /// A request path's need for `GET`, and for the first other method that
    /// needs more (a rule for `POST` only).
    fn own_source(&self, host: &str, path: String, fold: bool, s: &Src) -> Source {
        let need = |m: &str| required(self.policy, host, m, path.as_bytes(), fold, s.sensitive);
        let (get, get_rule, _) = need("GET");
        let (method, (meth, meth_rule, _)) = ["POST", "PUT", "PATCH", "DELETE"]
            .into_iter()
            .map(|m| (m, need(m)))
            .find(|(_, n)| n.0 != Need::Public)
            .unwrap_or(("GET", (get.clone(), get_rule, false)));
        Source {
            shown: path.clone(),
            path,
            method,
            get,
            get_rule,
            meth,
            meth_rule,
        }
    }

    /// Route lint's probe paths through `t` and record, per item of ours,
    /// which request paths reach it.
    fn probe(
        &self,
        t: &RouteTable,
        group: &str,
        parts: &[Vec<Part>],
        owner: &BTreeMap<String, (usize, usize)>,
        accs: &mut [Vec<Acc>],
    ) {
        let policy = self.policy;
        self.own_needs(t, group, accs);
        for s in &t.servers {
            let host = probe_host(s);
            for Probe {
                path,
                shown,
                method,
                at,
            } in probes(policy, s, &host)
            {
                let routed = t.route(&host, path.as_bytes());
                let (li, uri) = match (at, &routed.outcome) {
                    (Some(i), _) => (i, path.as_bytes().to_vec()),
                    (None, Outcome::Location(i)) => (*i, routed.uri.clone()),
                    _ => continue,
                };
                let l = &s.locations[li];
                let Some(ing) = l.ingress.and_then(|i| t.ingresses.get(i)) else {
                    continue;
                };
                if l.backend == Backend::Default {
                    continue;
                }
                let Some(&(si, pi)) = owner.get(&ing.key()) else {
                    continue;
                };
                let src = &self.srcs[si];
                let sens = src.sensitive;
                let (meth, meth_rule, _) =
                    required(policy, &host, method, &uri, s.regex_mode, sens);
                let (get, get_rule, _) = required(policy, &host, "GET", &uri, s.regex_mode, sens);
                let source = Source {
                    path,
                    shown,
                    method,
                    get,
                    get_rule,
                    meth,
                    meth_rule,
                };
                for &ii in &parts[si][pi].items {
                    if serves(src, src.items[ii], s, l) {
                        accs[si][ii].probes.push(source.clone());
                    }
                }
            }
        }
    }

    // === rendering ===

    fn auth_base(&self) -> Result<&'a crate::policy::AuthService, InputError> {
        self.policy.auth_service.as_ref().ok_or_else(|| {
            InputError::file(
                &self.policy.file,
                "spec.authService is not set: generate needs its url to write auth-url",
            )
        })
    }

    fn render(&self, s: &Src, p: &Part, notes: &mut Vec<String>) -> Result<Value, InputError> {
        let mut v = s.raw.clone();
        if s.skip.is_some() {
            return Ok(v);
        }
        if p.renamed {
            rename(&mut v, &p.name);
        }
        if p.items.len() != s.items.len() || !p.primary || !s.carves.is_empty() {
            keep_items(&mut v, s, p);
        }
        if let Some(l) = &p.level {
            check_url_token(self.policy, "level", &l.name)?;
            self.copy_tls(&mut v, s, p, notes);
        }
        let ns = s.typed.namespace.clone();
        let policy = self.policy;
        let signin_path = policy.auth_service.as_ref().map(|a| a.signin_path.clone());
        let (desired, keep_signin) = self.desired(s, p, notes)?;
        let known: BTreeSet<String> = policy
            .levels
            .iter()
            .map(|l| dns_label(&l.name))
            .chain([DENY.to_string()])
            .collect();
        let controller = self.opts.controller;
        let level = p.level.as_ref().map(|l| l.name.clone());
        with_annotations(&mut v, |a| {
            let mut stale: Vec<String> = vec![LEVEL_ANNOTATION.into(), RULE_ANNOTATION.into()];
            if a.get(&format!("{NGINX}auth-url"))
                .and_then(Value::as_str)
                .is_some_and(|u| meant_for_stepup(u.trim(), policy))
            {
                stale.push(format!("{NGINX}auth-url"));
            }
            if !keep_signin
                && a.get(&format!("{NGINX}auth-signin"))
                    .and_then(Value::as_str)
                    .zip(signin_path.as_deref())
                    .is_some_and(|(v, sp)| is_stepup_signin(v, sp))
            {
                stale.push(format!("{NGINX}auth-signin"));
            }
            if a.get(&format!("{NGINX}auth-response-headers"))
                .and_then(Value::as_str)
                .is_some_and(|h| {
                    h.split(',')
                        .map(str::trim)
                        .filter(|x| !x.is_empty())
                        .all(|x| RESPONSE_HEADERS.iter().any(|r| r.eq_ignore_ascii_case(x)))
                })
            {
                stale.push(format!("{NGINX}auth-response-headers"));
            }
            for k in stale {
                if !desired.iter().any(|(d, _)| *d == k) {
                    a.shift_remove(&k);
                }
            }
            for (k, val) in &desired {
                match a.get_mut(k) {
                    Some(x) => *x = Value::from(val.as_str()),
                    None => {
                        a.insert(k.clone(), Value::from(val.as_str()));
                    }
                }
            }
            // Traefik middleware references.
            let want = match controller {
                Controller::Traefik => {
                    level.map(|l| format!("{ns}-stepup-{}@kubernetescrd", dns_label(&l)))
                }
                Controller::Nginx => None,
            };
            let old = a.get(MIDDLEWARES_ANNOTATION).and_then(Value::as_str);
            if old.is_some() || want.is_some() {
                let prefix = format!("{ns}-stepup-");
                let mut list: Vec<String> = Vec::new();
                for e in old
                    .unwrap_or("")
                    .split(',')
                    .map(str::trim)
                    .filter(|e| !e.is_empty())
                {
                    let ours = e
                        .strip_prefix(&prefix)
                        .and_then(|r| r.strip_suffix("@kubernetescrd"))
                        .is_some_and(|l| known.contains(l));
                    if (ours && want.as_deref() != Some(e)) || list.iter().any(|x| x == e) {
                        continue;
                    }
                    list.push(e.to_string());
                }
                if let Some(w) = want {
                    if !list.contains(&w) {
                        list.push(w);
                    }
                }
                if list.is_empty() {
                    a.shift_remove(MIDDLEWARES_ANNOTATION);
                } else {
                    let joined = list.join(",");
                    match a.get_mut(MIDDLEWARES_ANNOTATION) {
                        Some(x) => *x = Value::from(joined),
                        None => {
                            a.insert(MIDDLEWARES_ANNOTATION.into(), Value::from(joined));
                        }
                    }
                }
            }
        });
        Ok(v)
    }

    /// The annotations stepup wants on part `p` (key, value), and whether
    /// the Ingress keeps an auth-signin of its own.
    fn desired(
        &self,
        s: &Src,
        p: &Part,
        notes: &mut Vec<String>,
    ) -> Result<(Vec<(String, String)>, bool), InputError> {
        let ns = &s.typed.namespace;
        let policy = self.policy;
        let mut desired: Vec<(String, String)> = Vec::new();
        let mut keep_signin = false;
        if let Some(l) = &p.level {
            let base = self.auth_base()?;
            match self.opts.controller {
                Controller::Nginx => {
                    let mut url = format!("{}/auth?level={}", base.url, l.name);
                    if let Some(r) = p.rule.as_deref().filter(|r| url_token(r)) {
                        url.push_str(&format!("&rule={r}"));
                    }
                    // nginx's `$host` in the auth-url (its validator allows
                    // variables; the template expands them in `set $target`):
                    // the host nginx routed on, which X-Original-URL
                    // (`$http_host`) is not for an absolute-form request.
                    url.push_str("&host=$host");
                    desired.push((format!("{NGINX}auth-url"), url));
                    if p.signin {
                        let existing = s
                            .typed
                            .nginx("auth-signin")
                            .filter(|v| !is_stepup_signin(v, &base.signin_path));
                        if let Some(e) = existing {
                            keep_signin = true;
                            notes.push(format!("{ns}/{}: keeps its own auth-signin {e}", p.name));
                        } else {
                            if !base
                                .signin_path
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || "-._~/".contains(c))
                            {
                                return Err(InputError::file(
                                    &policy.file,
                                    format!(
                                        "spec.authService.signinPath {:?} cannot be written into auth-signin (letters, digits and - . _ ~ / only)",
                                        base.signin_path
                                    ),
                                ));
                            }
                            desired.push((
                                format!("{NGINX}auth-signin"),
                                format!(
                                    "https://$host{}/signin?level={}",
                                    base.signin_path, l.name
                                ),
                            ));
                        }
                    }
                    let mut hs: Vec<String> = s
                        .typed
                        .nginx("auth-response-headers")
                        .map(|h| {
                            h.split(',')
                                .map(|x| x.trim().to_string())
                                .filter(|x| !x.is_empty())
                                .collect()
                        })
                        .unwrap_or_default();
                    for h in RESPONSE_HEADERS {
                        if !hs.iter().any(|x| x.eq_ignore_ascii_case(h)) {
                            hs.push(h.to_string());
                        }
                    }
                    desired.push((format!("{NGINX}auth-response-headers"), hs.join(",")));
                }
                Controller::Traefik => {}
            }
            desired.push((LEVEL_ANNOTATION.into(), l.name.clone()));
            if let Some(r) = &p.rule {
                desired.push((RULE_ANNOTATION.into(), r.clone()));
            }
        }
        Ok((desired, keep_signin))
    }

    /// Give a protected part's hosts a TLS entry from another Ingress of the
    /// same namespace when it has none.
    fn copy_tls(&self, v: &mut Value, s: &Src, p: &Part, notes: &mut Vec<String>) {
        let hosts: BTreeSet<String> = p
            .items
            .iter()
            .filter_map(|&ii| item_path(s, s.items[ii]))
            .filter_map(|(rule, _, _)| s.typed.rules[rule].host.clone())
            .collect();
        for h in hosts {
            if s.typed
                .tls_hosts
                .iter()
                .any(|t| crate::ingress::tls_covers(t, &h))
            {
                continue;
            }
            let found = self.tls.get(&s.typed.namespace).and_then(|list| {
                list.iter()
                    .find(|(hs, _, _)| hs.iter().any(|t| crate::ingress::tls_covers(t, &h)))
                    .map(|(_, sec, from)| (from.clone(), sec.clone()))
            });
            let key = format!("{}/{}", s.typed.namespace, p.name);
            match found {
                Some((from, secret)) => {
                    if let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) {
                        let tls = spec.entry("tls").or_insert_with(|| json!([]));
                        if !tls.is_array() {
                            *tls = json!([]);
                        }
                        if let Some(a) = tls.as_array_mut() {
                            a.push(json!({"hosts": [h.clone()], "secretName": secret}));
                        }
                        notes.push(format!(
                            "{key}: protected host {h} had no TLS entry; copied Secret {secret} from {from}"
                        ));
                    }
                }
                None => notes.push(format!(
                    "{key}: protected host {h} has no TLS entry: tokens and cookies would cross in clear text; add spec.tls"
                )),
            }
        }
    }

    // === sign-in Ingresses ===

    fn signins(
        &self,
        parts: &[Vec<Part>],
        values: &[Vec<Value>],
        tables: &BTreeMap<String, RouteTable>,
        notes: &mut Vec<String>,
    ) -> Result<Vec<Value>, InputError> {
        let needed = parts.iter().flatten().any(|p| p.signin)
            || (self.opts.controller == Controller::Traefik
                && parts.iter().flatten().any(|p| p.level.is_some()));
        if !needed {
            return Ok(Vec::new());
        }
        let base = self.auth_base()?;
        let (svc, ns, port) = service_of(&base.url);
        // (group, host) → (class spec, tls secret)
        let mut want: BTreeMap<(String, Option<String>), (ClassRef, Option<String>)> =
            BTreeMap::new();
        for (si, ps) in parts.iter().enumerate() {
            let s = &self.srcs[si];
            for (pi, p) in ps.iter().enumerate() {
                let browser = match (self.opts.controller, &p.level) {
                    (Controller::Nginx, _) => p.signin,
                    (Controller::Traefik, Some(l)) => l.name != DENY && is_browser(s, p),
                    (Controller::Traefik, None) => false,
                };
                if !browser {
                    continue;
                }
                let group = self.group_of(&s.typed);
                let v = &values[si][pi];
                for &ii in &p.items {
                    let Some((rule, _, _)) = item_path(s, s.items[ii]) else {
                        continue;
                    };
                    let host = s.typed.rules[rule].host.clone();
                    want.entry((group.clone(), host.clone()))
                        .or_insert_with(|| {
                            let secret = host.as_ref().and_then(|h| {
                                tls_entries(v)
                                    .into_iter()
                                    .find(|(hs, _)| {
                                        hs.iter().any(|t| crate::ingress::tls_covers(t, h))
                                    })
                                    .and_then(|(_, s)| s)
                            });
                            (class_ref(&s.raw), secret)
                        });
                }
            }
        }
        let mut out = Vec::new();
        let mut used = BTreeSet::new();
        for ((group, host), (class, secret)) in want {
            let probe = probe_host_of(host.as_deref());
            if let Some(t) = tables.get(&group) {
                let target = format!("{}/signin", base.signin_path);
                let routed = t.route(&probe, target.as_bytes());
                let served = routed.location().is_some_and(|l| {
                    !l.is_default
                        && l.ingress_path.starts_with(&base.signin_path)
                        && l.ingress.and_then(|i| t.ingresses.get(i)).is_some_and(|o| {
                            auth_of(o, Some(self.policy)).enforcement == Enforcement::None
                        })
                });
                if served {
                    continue;
                }
            }
            let stem = match &host {
                Some(h) => h.replace('*', "wildcard").replace('.', "-"),
                None => "catch-all".to_string(),
            };
            let mut name = fit_name(&format!("stepup-signin-{stem}"));
            if used.contains(&name) {
                name = fit_name(&format!("stepup-signin-{stem}-{}", dns_label(&group)));
            }
            if self.keys.contains(&format!("{ns}/{name}")) {
                notes.push(format!(
                    "{ns}/{name} exists but does not route {} on {} to stepup without auth; fix or delete it and generate again",
                    base.signin_path,
                    host.as_deref().unwrap_or("the catch-all server")
                ));
                continue;
            }
            used.insert(name.clone());
            let mut meta = Map::new();
            meta.insert("name".into(), Value::from(name));
            meta.insert("namespace".into(), Value::from(ns.clone()));
            meta.insert(
                "labels".into(),
                json!({"app.kubernetes.io/name": "stepup", "app.kubernetes.io/component": "signin"}),
            );
            let mut spec = Map::new();
            match class {
                ClassRef::Spec(c) => {
                    spec.insert("ingressClassName".into(), Value::from(c));
                }
                ClassRef::Annotation(c) => {
                    meta.insert(
                        "annotations".into(),
                        json!({"kubernetes.io/ingress.class": c}),
                    );
                }
                ClassRef::None => {}
            }
            if let (Some(h), Some(sec)) = (&host, secret) {
                spec.insert("tls".into(), json!([{"hosts": [h], "secretName": sec}]));
            }
            let mut rule = Map::new();
            if let Some(h) = &host {
                rule.insert("host".into(), Value::from(h.as_str()));
            }
            rule.insert(
                "http".into(),
                json!({"paths": [{
                    "path": base.signin_path,
                    "pathType": "Prefix",
                    "backend": {"service": {"name": svc, "port": {"number": port}}}
                }]}),
            );
            spec.insert("rules".into(), Value::Array(vec![Value::Object(rule)]));
            out.push(json!({
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": meta,
                "spec": spec,
            }));
        }
        Ok(out)
    }

    // === output ===

    fn assemble(&self, r: &Round) -> Vec<Value> {
        let mut docs = Vec::new();
        for file in &self.files {
            for n in file {
                emit(n, r, &mut docs);
            }
        }
        docs.extend(r.signins.iter().cloned());
        if self.opts.controller == Controller::Traefik {
            docs.extend(self.middlewares(r));
        }
        docs
    }

    fn middlewares(&self, r: &Round) -> Vec<Value> {
        let Some(base) = self.policy.auth_service.as_ref() else {
            return Vec::new();
        };
        let mut want: BTreeSet<(String, usize, String)> = BTreeSet::new();
        for (si, ps) in r.parts.iter().enumerate() {
            for p in ps {
                if let Some(l) = &p.level {
                    let order = self.level_order(Some(l));
                    want.insert((self.srcs[si].typed.namespace.clone(), order, l.name.clone()));
                }
            }
        }
        want.into_iter()
            .map(|(ns, _, level)| {
                json!({
                    "apiVersion": "traefik.io/v1alpha1",
                    "kind": "Middleware",
                    "metadata": {
                        "name": format!("stepup-{}", dns_label(&level)),
                        "namespace": ns,
                        "labels": {"app.kubernetes.io/name": "stepup"},
                    },
                    "spec": {"forwardAuth": {
                        "address": format!("{}/auth?level={level}", base.url),
                        "authResponseHeaders": RESPONSE_HEADERS,
                    }},
                })
            })
            .collect()
    }
}

/// The loaded form of a rendered part, derived from its source's (the same
/// as loading the rendered value, without parsing it again).
fn typed_part(s: &Src, p: &Part, v: &Value) -> Ingress {
    let t = &s.typed;
    let mut ing = Ingress {
        namespace: t.namespace.clone(),
        name: p.name.clone(),
        created: if p.renamed { None } else { t.created.clone() },
        annotations: BTreeMap::new(),
        annotation_lines: t.annotation_lines.clone(),
        labels: t.labels.clone(),
        class: t.class.clone(),
        default_backend: t.default_backend.clone(),
        rules: t.rules.clone(),
        tls_hosts: Vec::new(),
        origin: t.origin.clone(),
        denied: None,
        changes: Vec::new(),
    };
    ing.annotations = v["metadata"]["annotations"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, x)| Some((k.clone(), x.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let has = |it: Item| p.items.iter().any(|&ii| s.items[ii] == it);
    if !has(Item::DefaultBackend) {
        ing.default_backend = None;
    }
    let mut rules = Vec::new();
    for (ri, mut r) in std::mem::take(&mut ing.rules).into_iter().enumerate() {
        if r.paths.is_empty() {
            if p.primary {
                rules.push(r);
            }
            continue;
        }
        let orig = r.paths.clone();
        let mut pi = 0;
        r.paths.retain(|_| {
            pi += 1;
            has(Item::Path {
                rule: ri,
                path: pi - 1,
            })
        });
        for c in carved_in(s, p, ri) {
            if let Some(base) = orig.get(c.path) {
                let mut x = base.clone();
                x.path = c.cut.path.clone();
                x.path_type = if c.cut.exact {
                    PathType::Exact
                } else {
                    PathType::Prefix
                };
                r.paths.push(x);
            }
        }
        if !r.paths.is_empty() {
            rules.push(r);
        }
    }
    ing.rules = rules;
    ing.tls_hosts = tls_entries(v).into_iter().flat_map(|(h, _)| h).collect();
    ing
}

fn emit(n: &Node, r: &Round, out: &mut Vec<Value>) {
    match n {
        Node::Keep(v) => out.push(v.clone()),
        Node::Drop => {}
        Node::Ingress(i) => out.extend(r.values[*i].iter().cloned()),
        Node::List(v, items) => {
            let mut list = Vec::new();
            for it in items {
                emit(it, r, &mut list);
            }
            let mut v = v.clone();
            if let Some(m) = v.as_object_mut() {
                m.insert("items".into(), Value::Array(list));
            }
            out.push(v);
        }
    }
}

/// Mirror of `ingress::collect`'s walk: the same objects, in the same order.
/// `in_ingress_list`: an item of an `IngressList`, an Ingress even without
/// `kind`.
fn node(policy: &Policy, value: Value, in_ingress_list: bool, raws: &mut Vec<Value>) -> Node {
    let Some(obj) = value.as_object() else {
        return Node::Keep(value);
    };
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let api = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if in_ingress_list && obj.get("kind").is_none() {
        raws.push(value);
        return Node::Ingress(raws.len() - 1);
    }
    let is_list =
        kind == "List" || (kind.ends_with("List") && obj.get("items").is_some_and(Value::is_array));
    if is_list {
        let Some(items) = obj.get("items").and_then(Value::as_array).cloned() else {
            return Node::Keep(value);
        };
        let typed = kind == "IngressList";
        let nodes = items
            .into_iter()
            .map(|it| node(policy, it, typed, raws))
            .collect();
        return Node::List(value, nodes);
    }
    if kind == "Ingress" {
        raws.push(value);
        return Node::Ingress(raws.len() - 1);
    }
    if kind == "Middleware" && api.starts_with("traefik.") {
        let name = obj
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let addr = obj
            .get("spec")
            .and_then(|s| s.get("forwardAuth"))
            .and_then(|f| f.get("address"))
            .and_then(Value::as_str);
        if name.starts_with("stepup-") && addr.is_some_and(|a| is_stepup_url(a, Some(policy))) {
            return Node::Drop;
        }
    }
    Node::Keep(value)
}

/// The classes the target controller serves: `--ingress-class` (default
/// `nginx`, `traefik` for Traefik) and the input's IngressClasses whose
/// `spec.controller` is the controller's (`k8s.io/ingress-nginx`).
fn served_classes(opts: &Options, classes: &[crate::ingress::IngressClass]) -> BTreeSet<String> {
    let (default, controller) = match opts.controller {
        Controller::Nginx => ("nginx", NGINX_CONTROLLER),
        Controller::Traefik => ("traefik", TRAEFIK_CONTROLLER),
    };
    let mut out: BTreeSet<String> = if opts.classes.is_empty() {
        [default.to_string()].into()
    } else {
        opts.classes.iter().cloned().collect()
    };
    out.extend(
        classes
            .iter()
            .filter(|c| c.controller == controller && !c.name.is_empty())
            .map(|c| c.name.clone()),
    );
    out
}

/// Why an Ingress of a class the controller does not serve is left alone:
/// that controller never reads its annotations (ingress-nginx `store.go`,
/// the informer's handlers drop an Ingress `GetIngressClass` rejects), and whatever serves it would read
/// `nginx.ingress.kubernetes.io/*` differently or not at all. Class-less
/// Ingresses count as served (the safe side: a controller run with
/// `--watch-ingress-without-class`, or a default IngressClass, serves them).
/// With `--controller traefik` every class is taken as Traefik's (its
/// NGINX-annotation provider reads `nginx`-class Ingresses), unless
/// `--ingress-class` names the classes.
fn unserved(opts: &Options, ing: &Ingress, served: &BTreeSet<String>) -> Option<String> {
    let class = ing.class.as_deref()?;
    if served.contains(class) || (opts.controller == Controller::Traefik && opts.classes.is_empty())
    {
        return None;
    }
    let (who, what) = match opts.controller {
        Controller::Nginx => ("ingress-nginx", "nginx annotations"),
        Controller::Traefik => ("Traefik", "Traefik middlewares"),
    };
    let list: Vec<&str> = served.iter().map(String::as_str).collect();
    Some(format!(
        "class {class} is not served by {who} (it serves {}; --ingress-class adds a class): no {what} written",
        list.join(", ")
    ))
}

/// Why an Ingress is passed through whatever its auth: a canary, an ACME
/// solver, an exemption.
fn pass_reason(ing: &Ingress) -> Option<String> {
    if ing.is_canary() {
        return Some("canary Ingress: ingress-nginx ignores its auth annotations".into());
    }
    if crate::lint::is_acme_solver(ing) {
        return Some("cert-manager ACME solver".into());
    }
    ing.annotations
        .get(EXEMPT_ANNOTATION)
        .filter(|w| !w.trim().is_empty())
        .map(|why| format!("{EXEMPT_ANNOTATION}: {why}"))
}

/// Another auth service's auth-url on the Ingress (not stepup's, and not
/// one that was meant to be).
fn foreign_auth_url<'i>(policy: &Policy, ing: &'i Ingress) -> Option<&'i str> {
    ing.nginx("auth-url")
        .map(str::trim)
        .filter(|u| !u.is_empty() && !meant_for_stepup(u, policy))
}

/// Whether `generate` rewrites auth-url `u` with stepup's: it is stepup's,
/// or looks like it (`…/auth?level=`) at another host or Service, or with
/// a part the request picks; lint reports those as errors, and the policy's
/// `authService.url` is what they meant.
fn meant_for_stepup(u: &str, policy: &Policy) -> bool {
    is_stepup_url(u, Some(policy)) || crate::annotations::looks_like_stepup(u)
}

/// The rule, path and type an item writes (`None`: the defaultBackend).
fn item_path(s: &Src, it: Item) -> Option<(usize, &str, PathType)> {
    match it {
        Item::Path { rule, path } => {
            let p = &s.typed.rules[rule].paths[path];
            Some((rule, p.path.as_str(), p.path_type))
        }
        Item::Carve { carve } => {
            let c = s.carves.get(carve)?;
            let ty = if c.cut.exact {
                PathType::Exact
            } else {
                PathType::Prefix
            };
            Some((c.rule, c.cut.path.as_str(), ty))
        }
        Item::DefaultBackend => None,
    }
}

/// A path `/` (Prefix, ImplementationSpecific, or a regex starting there)
/// or a defaultBackend: it serves every path of its host nothing longer
/// claims.
fn is_catch_all(s: &Src, it: Item) -> bool {
    match it {
        Item::DefaultBackend => true,
        Item::Carve { .. } => false,
        Item::Path { .. } => item_path(s, it).is_some_and(|(_, p, ty)| {
            ty != PathType::Exact && matches!(crate::coverage::regex_literal_prefix(p), "" | "/")
        }),
    }
}

/// Whether the location `l` of server `s` was written by `item`.
fn serves(src: &Src, item: Item, s: &Server, l: &Location) -> bool {
    match item {
        Item::Carve { carve } => src.carves.get(carve).is_some_and(|c| {
            let ty = if c.cut.exact {
                PathType::Exact
            } else {
                PathType::Prefix
            };
            !l.is_default
                && src.typed.rules[c.rule].host.as_deref().unwrap_or(CATCH_ALL) == s.name
                && c.cut.path == l.ingress_path
                && ty == l.written_type
        }),
        // The root of a host whose first Ingress this is, or the catch-all
        // root a rule-less Ingress configures.
        Item::DefaultBackend => l.is_default || src.typed.rules.is_empty(),
        Item::Path { rule, path } => {
            let r = &src.typed.rules[rule];
            let p = &r.paths[path];
            !l.is_default
                && r.host.as_deref().unwrap_or(CATCH_ALL) == s.name
                && p.path == l.ingress_path
                && p.path_type == l.written_type
        }
    }
}

fn item_label(s: &Src, it: Item) -> String {
    match item_path(s, it) {
        None => "defaultBackend".into(),
        Some((rule, path, ty)) => {
            let path = if path.is_empty() { "/" } else { path };
            format!(
                "{}{path} ({})",
                s.typed.rules[rule].host.as_deref().unwrap_or("*"),
                ty.as_str()
            )
        }
    }
}

/// API routes expect a 401, not a sign-in redirect: every host of the part
/// starts with `api.` or every path is under `/api`.
fn is_browser(s: &Src, p: &Part) -> bool {
    !p.items.iter().all(|&ii| match item_path(s, s.items[ii]) {
        Some((rule, path, _)) => {
            let r = &s.typed.rules[rule];
            r.host.as_deref().is_some_and(|h| h.starts_with("api."))
                || path
                    .strip_prefix("/api")
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '(']))
        }
        None => false,
    })
}

fn is_stepup_signin(v: &str, signin_path: &str) -> bool {
    v.contains(&format!("{signin_path}/signin"))
}

/// Letters, digits and `- . _ ~`: safe in a query value and in ingress-nginx's
/// annotation validation, and no nginx variable.
fn url_token(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~'))
}

fn check_url_token(policy: &Policy, what: &str, v: &str) -> Result<(), InputError> {
    if url_token(v) {
        Ok(())
    } else {
        Err(InputError::file(
            &policy.file,
            format!(
                "{what} name {v:?} cannot be written into an auth-url (letters, digits and - . _ ~ only)"
            ),
        ))
    }
}

fn rename(v: &mut Value, name: &str) {
    if let Some(m) = v.as_object_mut() {
        m.shift_remove("status");
        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("name".into(), Value::from(name));
            for k in [
                "uid",
                "resourceVersion",
                "generation",
                "creationTimestamp",
                "managedFields",
                "selfLink",
            ] {
                meta.shift_remove(k);
            }
            if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
                a.shift_remove("kubectl.kubernetes.io/last-applied-configuration");
            }
        }
    }
}

/// Keep only the part's paths (and its defaultBackend).
fn keep_items(v: &mut Value, s: &Src, p: &Part) {
    let has = |it: Item| p.items.iter().any(|&ii| s.items[ii] == it);
    let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if !has(Item::DefaultBackend) {
        spec.shift_remove("defaultBackend");
    }
    let Some(rules) = spec.get_mut("rules").and_then(Value::as_array_mut) else {
        return;
    };
    let mut kept = Vec::new();
    for (ri, r) in std::mem::take(rules).into_iter().enumerate() {
        let mut r = r;
        let paths = r
            .get_mut("http")
            .and_then(|h| h.get_mut("paths"))
            .and_then(Value::as_array_mut);
        match paths {
            Some(paths) if !paths.is_empty() => {
                let orig = std::mem::take(paths);
                let mut mine: Vec<Value> = orig
                    .iter()
                    .enumerate()
                    .filter(|(pi, _)| {
                        has(Item::Path {
                            rule: ri,
                            path: *pi,
                        })
                    })
                    .map(|(_, x)| x.clone())
                    .collect();
                for c in carved_in(s, p, ri) {
                    let Some(mut x) = orig.get(c.path).cloned() else {
                        continue;
                    };
                    if let Some(o) = x.as_object_mut() {
                        o.insert("path".into(), Value::from(c.cut.path.as_str()));
                        let ty = if c.cut.exact { "Exact" } else { "Prefix" };
                        o.insert("pathType".into(), Value::from(ty));
                    }
                    mine.push(x);
                }
                if !mine.is_empty() {
                    *paths = mine;
                    kept.push(r);
                }
            }
            _ => {
                if p.primary {
                    kept.push(r);
                }
            }
        }
    }
    *rules = kept;
}

/// The carved sub-paths of rule `ri` in part `p`, in the part's order.
fn carved_in<'s>(s: &'s Src, p: &Part, ri: usize) -> Vec<&'s Carved> {
    p.items
        .iter()
        .filter_map(|&ii| match s.items[ii] {
            Item::Carve { carve } => s.carves.get(carve),
            _ => None,
        })
        .filter(|c| c.rule == ri)
        .collect()
}

fn with_annotations(v: &mut Value, f: impl FnOnce(&mut Map<String, Value>)) {
    let Some(obj) = v.as_object_mut() else { return };
    let meta = obj.entry("metadata").or_insert_with(|| json!({}));
    let Some(meta) = meta.as_object_mut() else {
        return;
    };
    let had = meta.get("annotations").is_some_and(Value::is_object);
    let mut a = match meta.get("annotations") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    f(&mut a);
    if had || !a.is_empty() {
        meta.insert("annotations".into(), Value::Object(a));
    }
}

/// `(hosts, secretName)` of each `spec.tls` entry.
fn tls_entries(v: &Value) -> Vec<(Vec<String>, Option<String>)> {
    v.get("spec")
        .and_then(|s| s.get("tls"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|t| {
                    let hosts = t
                        .get("hosts")
                        .and_then(Value::as_array)
                        .map(|hs| {
                            hs.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_ascii_lowercase)
                                .collect()
                        })
                        .unwrap_or_default();
                    let secret = t
                        .get("secretName")
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string);
                    (hosts, secret)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether TLS host `t` covers host `h` (as lint checks it).
enum ClassRef {
    Spec(String),
    Annotation(String),
    None,
}

fn class_ref(raw: &Value) -> ClassRef {
    if let Some(c) = raw
        .get("spec")
        .and_then(|s| s.get("ingressClassName"))
        .and_then(Value::as_str)
    {
        return ClassRef::Spec(c.to_string());
    }
    match raw
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get("kubernetes.io/ingress.class"))
        .and_then(Value::as_str)
    {
        Some(c) => ClassRef::Annotation(c.to_string()),
        None => ClassRef::None,
    }
}

/// Service name, namespace and port of `authService.url`:
/// `http://<svc>.<ns>.svc…:<port>` or `http://<svc>:<port>`.
fn service_of(url: &str) -> (String, String, u16) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let hostport = rest.split(['/', '?']).next().unwrap_or("");
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => (h, p.parse::<u16>().ok()),
        _ => (hostport, None),
    };
    let labels: Vec<&str> = host.split('.').collect();
    let default_port = if scheme == "https" { 443 } else { 80 };
    let cluster = match labels.as_slice() {
        [svc] => Some((*svc, DEFAULT_NAMESPACE)),
        [svc, ns] => Some((*svc, *ns)),
        [svc, ns, "svc", ..] => Some((*svc, *ns)),
        _ => None,
    };
    match cluster {
        Some((svc, ns)) if !svc.is_empty() && !ns.is_empty() => (
            svc.to_string(),
            ns.to_string(),
            port.unwrap_or(default_port),
        ),
        _ => (
            "stepup".into(),
            DEFAULT_NAMESPACE.into(),
            port.unwrap_or(DEFAULT_PORT),
        ),
    }
}

/// A level name as part of an object name.
fn dns_label(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    out.trim_matches('-').to_string()
}

fn part_name(name: &str, level: &str) -> String {
    fit_name(&format!("{name}-{}", dns_label(level)))
}

/// Cut a name to 253 characters, keeping it unique with a hash suffix.
fn fit_name(name: &str) -> String {
    if name.len() <= MAX_NAME {
        return name.to_string();
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let keep = MAX_NAME - 9;
    let mut cut = name[..keep].trim_end_matches(['-', '.']).to_string();
    cut.push_str(&format!("-{:08x}", h as u32));
    cut
}

// === YAML ===

/// Strings a YAML 1.1 reader (kubectl's) would resolve to a bool, null,
/// number or timestamp when written plain. serde_yaml quotes by YAML 1.2
/// rules only, so these are wrapped in sentinels and quoted afterwards.
fn yaml11_ambiguous(s: &str) -> bool {
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.:+-~=<".contains(c))
    {
        return false;
    }
    let l = s.to_ascii_lowercase();
    matches!(
        l.as_str(),
        "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null" | "~" | "=" | "<<"
    ) || s
        .trim_start_matches(['-', '+'])
        .starts_with(|c: char| c.is_ascii_digit() || c == '.')
}

fn wrap(v: &Value, open: char, close: char) -> Value {
    let w = |s: &str| {
        if yaml11_ambiguous(s) {
            format!("{open}{s}{close}")
        } else {
            s.to_string()
        }
    };
    match v {
        Value::String(s) => Value::String(w(s)),
        Value::Array(a) => Value::Array(a.iter().map(|x| wrap(x, open, close)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (w(k), wrap(x, open, close)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn contains_char(v: &Value, c: char) -> bool {
    match v {
        Value::String(s) => s.contains(c),
        Value::Array(a) => a.iter().any(|x| contains_char(x, c)),
        Value::Object(m) => m.iter().any(|(k, x)| k.contains(c) || contains_char(x, c)),
        _ => false,
    }
}

/// Documents as one YAML stream.
fn to_yaml(docs: &[Value]) -> Result<String, InputError> {
    let mut out = String::new();
    for (i, d) in docs.iter().enumerate() {
        // Private-use sentinels that the document does not contain.
        let (open, close) = (0xE000u32..0xF8FE)
            .step_by(2)
            .filter_map(|c| Some((char::from_u32(c)?, char::from_u32(c + 1)?)))
            .find(|(a, b)| !contains_char(d, *a) && !contains_char(d, *b))
            .unwrap_or(('\u{E000}', '\u{E001}'));
        let text = serde_yaml::to_string(&wrap(d, open, close))
            .map_err(|e| InputError::file("generate", format!("cannot write YAML: {e}")))?;
        let mut fixed = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(a) = rest.find(open) {
            fixed.push_str(&rest[..a]);
            let after = &rest[a + open.len_utf8()..];
            let Some(b) = after.find(close) else {
                fixed.push(open);
                rest = after;
                continue;
            };
            fixed.push('\'');
            fixed.push_str(&after[..b]);
            fixed.push('\'');
            rest = &after[b + close.len_utf8()..];
        }
        fixed.push_str(rest);
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&fixed);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml11_scalars_are_quoted() {
        let v =
            json!({"a": "on", "b": "yes", "c": "0755", "d": "2024-01-01", "e": "plain", "on": 1});
        let y = to_yaml(std::slice::from_ref(&v)).unwrap();
        assert!(y.contains("a: 'on'"), "{y}");
        assert!(y.contains("b: 'yes'"), "{y}");
        assert!(y.contains("c: '0755'"), "{y}");
        assert!(y.contains("d: '2024-01-01'"), "{y}");
        assert!(y.contains("e: plain"), "{y}");
        assert!(y.contains("'on': 1"), "{y}");
        let back = crate::source::parse_documents(&y).unwrap();
        assert_eq!(back[0].value, v);
    }

    #[test]
    fn service_from_url() {
        assert_eq!(
            service_of("http://stepup.auth.svc.cluster.local:8080"),
            ("stepup".into(), "auth".into(), 8080)
        );
        assert_eq!(
            service_of("http://stepup:9000"),
            ("stepup".into(), DEFAULT_NAMESPACE.into(), 9000)
        );
        assert_eq!(
            service_of("https://auth.example.com"),
            ("stepup".into(), DEFAULT_NAMESPACE.into(), DEFAULT_PORT)
        );
    }

    #[test]
    fn long_names_fit() {
        let n = fit_name(&format!("stepup-signin-{}", "a".repeat(300)));
        assert_eq!(n.len(), MAX_NAME);
        assert_ne!(n, fit_name(&format!("stepup-signin-{}", "a".repeat(301))));
        assert_eq!(dns_label("Admin_Plus"), "admin-plus");
    }
}
