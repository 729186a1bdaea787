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
//! paths, `/` on sensitive hosts), routed through the same [`RouteTable`](crate::controllers::ingress_nginx::routing::RouteTable)
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
//!
//! **Modules**, in the order a run uses them: `Gen` here reads the input
//! and holds the sources; `rounds` repeats route → needs → carve until the
//! levels settle; `needs` probes each source's routes (`coverage`);
//! `levels` chooses each part's level (and splits with `--split`); `carve`
//! and `public` cut a catch-all path into its protected and public parts;
//! `assess` says what a written floor keeps; `write` renders each part's
//! annotations, TLS, sign-in Ingresses and Middlewares; `doc` holds names,
//! annotation maps and the YAML output.

mod assess;
mod carve;
mod doc;
mod levels;
mod needs;
mod public;
mod rounds;
mod write;

use doc::{
    ClassRef, class_ref, dns_label, fit_name, part_name, rename, service_of, tls_entries, to_yaml,
    with_annotations,
};

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Value};

use crate::controllers::ingress_nginx::annotations::{Enforcement, auth_of, is_stepup_url};
use crate::controllers::ingress_nginx::routing::{CATCH_ALL, Classes, Location, Server};
use crate::error::InputError;
use crate::ingress::{Ingress, Loaded, PathType, load_text};
use crate::policy::{Need, Policy};

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
    is_stepup_url(u, Some(policy))
        || crate::controllers::ingress_nginx::annotations::looks_like_stepup(u)
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
