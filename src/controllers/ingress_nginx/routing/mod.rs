//! ingress-nginx's routing, modelled from the controller's code.
//!
//! [`RouteTable::build`] turns Ingresses into the `server {}` and
//! `location` blocks ingress-nginx would render, and [`RouteTable::route`]
//! picks one for a request the way nginx does. The reasoning, with the
//! controller functions each step mirrors, is in `docs/routing.md`; in short:
//!
//! 1. **Order.** Ingresses sort by `creationTimestamp` (oldest first; a
//!    missing one counts as newest), ties by `namespace/name` *descending*
//!    (`store.go` `sortIngressSlice`). Canary Ingresses and other classes
//!    build no locations.
//! 2. **Servers** (`createServers`). One per host; host-less rules land in the
//!    catch-all `_`. The first Ingress naming a host creates its server with a
//!    root location `/` to the default backend (or that Ingress's
//!    `spec.defaultBackend`), and *its annotations apply to that root*.
//!    An Ingress with a `defaultBackend` and no rules configures `_`'s root.
//! 3. **Locations** (`getBackendServers`). `ImplementationSpecific` is treated
//!    as `Prefix` (`SetDefaultNGINXPathType`). A path equal in string and type
//!    to one already present is dropped (oldest wins), except that it
//!    replaces the root default. Annotations stay per Ingress.
//! 4. **Sort**, then **expand** (`updateServerLocations`): locations sort by
//!    path length descending, ties by path descending; then each `Prefix`
//!    path `/p` becomes `location /p/` plus `location = /p` (so `/p` does not
//!    match `/pfoo`), unless its Ingress uses regex or a rewrite, or an
//!    `Exact` `/p` exists.
//! 5. **Regex mode** (`enforceRegexModifier`, `buildLocation`): if any location
//!    of the host comes from an Ingress with `use-regex: "true"` or a
//!    `rewrite-target`, *every* location of the host becomes
//!    `location ~* "^<path>"` — case-insensitive, unanchored at the end,
//!    `Exact` ones included — tried in the order of step 4, and matched
//!    with PCRE2 as nginx compiles them ([`pcre`]).
//! 6. **Selection** (nginx): host by exact `server_name`, then the one-label
//!    wildcard regex ingress-nginx writes for `*.` hosts, else `_`; the
//!    normalised URI ([`normalize`]) against `=` locations, then the longest
//!    prefix, then regexes in order (first match wins), else the remembered
//!    prefix. A URI one `/` short of a prefix location gets nginx's 301 (every
//!    ingress-nginx location uses `proxy_pass`, which turns on
//!    `auto_redirect`), before any auth.

pub mod admit;
pub mod annotations_table;
mod build;
pub mod conf;
pub mod normalize;
pub mod pcre;
pub mod settings;

use crate::error::InputError;
use crate::ingress::{Backend, Ingress, Origin, PathType};
pub use normalize::{HostError, NormError, normalize, normalize_host, validate_host};
use pcre::Pattern;
pub use settings::Settings;

/// Name of the catch-all server.
pub const CATCH_ALL: &str = "_";

/// How a location is written in nginx.conf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modifier {
    /// `location = /p`
    Exact,
    /// `location /p`
    Prefix,
    /// `location ~* "^/p"`
    Regex,
}

/// One rendered location.
#[derive(Debug, Clone)]
pub struct Location {
    /// The nginx location path (`/admin/` for a `Prefix /admin`).
    pub name: String,
    /// How nginx matches it.
    pub modifier: Modifier,
    /// The Ingress pathType, as ingress-nginx sees it (IS → Prefix).
    pub path_type: PathType,
    /// The path as written in the Ingress (`/` for the root default).
    pub ingress_path: String,
    /// The pathType as written in the Ingress.
    pub written_type: PathType,
    /// Index into [`RouteTable::ingresses`] whose annotations apply.
    pub ingress: Option<usize>,
    /// Where traffic goes.
    pub backend: Backend,
    /// Still the server's default root (no Ingress path claimed `/`).
    pub is_default: bool,
    /// The Ingress path entry it came from.
    pub origin: Option<Origin>,
    /// Whose auth applies here, as the controller renders it.
    pub gate: Gate,
    /// What the location answers before any auth (nginx's rewrite phase).
    pub answer: Option<Answer>,
    /// A plain-HTTP request gets a 308 to HTTPS before auth (the
    /// `ssl-redirect`/`force-ssl-redirect` Lua in `lua_ingress.lua`
    /// `rewrite`).
    pub https_redirect: bool,
    use_regex: bool,
    rewrite: Option<String>,
}

/// Whose auth applies to a location (`nginx.tmpl`, the location block).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// The location's Ingress annotations decide.
    Ingress,
    /// A `no-auth-locations` entry is a prefix of the location path
    /// (`template.go` `isLocationInLocationList`): neither `auth_request`
    /// nor basic auth is rendered.
    NoAuth(String),
    /// The ConfigMap's `global-auth-url` (`shouldApplyGlobalAuth`: the
    /// Ingress has no `auth-url` and does not set `enable-global-auth:
    /// "false"`).
    Global(std::sync::Arc<str>),
    /// The ConfigMap's `global-auth-url` would apply, but the Ingress sets
    /// `enable-global-auth: "false"` (`authreqglobal` Parse, Go
    /// `strconv.ParseBool`): its own annotations decide, as for `Ingress`.
    OptedOut(std::sync::Arc<str>),
}

/// An answer nginx gives before auth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A redirect (`return <code> <url>`).
    Redirect {
        /// 301, 302, 308, …
        code: u16,
        /// The `Location`, as written (nginx variables unexpanded, except
        /// `$request_uri` where the model knows it).
        url: String,
        /// Which annotation or setting wrote it.
        why: String,
    },
    /// `return 503` (`isLocationAllowed`: the location is denied).
    Unavailable(String),
}

impl Location {
    /// `= /admin`, `/admin/` or `~* "^/admin"`.
    pub fn directive(&self) -> String {
        match self.modifier {
            Modifier::Exact => format!("= {}", self.name),
            Modifier::Prefix => self.name.clone(),
            Modifier::Regex => format!("~* \"^{}\"", self.name),
        }
    }

    /// The `rewrite-target` nginx applies in this location (`rewrite
    /// "(?i)<path>" <target> break;`): set, non-empty and not the path itself.
    pub fn rewrite_target(&self) -> Option<&str> {
        self.rewrite
            .as_deref()
            .filter(|t| !t.is_empty() && *t != self.name)
    }

    fn needs_rewrite(&self) -> bool {
        self.rewrite
            .as_deref()
            .is_some_and(|t| !t.is_empty() && t != self.name)
    }
}

/// One `server {}`.
#[derive(Debug, Clone)]
pub struct Server {
    /// Host name, `*.suffix`, or `_`.
    pub name: String,
    /// Every location is a case-insensitive regex.
    pub regex_mode: bool,
    /// `server-alias` names (`createServers`), as nginx's `server_name`
    /// reads them: exact, `*.`/`.`-wildcards, or `~regex`.
    pub aliases: Vec<String>,
    /// `app-root`: `$uri = /` gets a 302 to it, before any location.
    pub app_root: Option<String>,
    /// Locations in rendered order.
    pub locations: Vec<Location>,
    exact: crate::FastMap<Vec<u8>, usize>,
    /// Prefix locations, longest first.
    prefixes: Vec<usize>,
    /// Names of (non-regex) locations that end in `/`, without the `/`:
    /// requests for these get nginx's 301 when nothing matches exactly.
    slash_names: crate::FastSet<Vec<u8>>,
    /// Regex-mode locations compiled as nginx compiles them (PCRE2).
    regexes: Vec<(Pattern, usize)>,
}

/// The controller's whole routing state.
#[derive(Debug, Clone)]
pub struct RouteTable {
    /// Ingresses that build locations, in ingress-nginx order.
    pub ingresses: Vec<Ingress>,
    /// Ingresses left out, with the reason.
    pub ignored: Vec<(Ingress, String)>,
    /// Ingresses of a served class the controller drops before routing
    /// ([`admit`]), as written, with the reasons.
    pub dropped: Vec<admit::Dropped>,
    /// Servers sorted by name (`_` included).
    pub servers: Vec<Server>,
    names: Names,
    catch_all: usize,
    /// Indexes into `ingresses` of the Ingresses with a rule for each host,
    /// in ingress-nginx order.
    rule_hosts: crate::FastMap<String, Vec<usize>>,
    /// The same for host-less rules.
    hostless: Vec<usize>,
}

/// What nginx does with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Served by this location of the server.
    Location(usize),
    /// nginx's automatic 301 to the location with a trailing slash.
    Redirect(String),
    /// No location matched (nginx's own 404; cannot happen while `/` exists),
    /// or PCRE2 gave up on a regex location (a match limit: nginx's 500).
    /// Either way no location serves the request.
    NoLocation,
    /// nginx rejects the request target with 400.
    BadRequest(NormError),
    /// nginx answers before any auth (a redirect or a 503); `at` is the
    /// location chosen, when one was.
    Answer {
        /// The answer.
        answer: Answer,
        /// Index of the location, when the answer is the location's own.
        at: Option<usize>,
    },
}

/// The result of routing one request.
#[derive(Debug, Clone)]
pub struct Routed<'a> {
    /// The server chosen by host.
    pub server: &'a Server,
    /// Index of that server in [`RouteTable::servers`].
    pub server_index: usize,
    /// `$uri` (empty on 400).
    pub uri: Vec<u8>,
    /// Raw query, if any.
    pub args: Option<Vec<u8>>,
    /// The outcome.
    pub outcome: Outcome,
}

impl Routed<'_> {
    /// The chosen location (also when it answers before auth).
    pub fn location(&self) -> Option<&Location> {
        match self.outcome {
            Outcome::Location(i) | Outcome::Answer { at: Some(i), .. } => {
                self.server.locations.get(i)
            }
            _ => None,
        }
    }
}

/// Which Ingress classes the modelled controller serves.
#[derive(Debug, Clone)]
pub struct Classes {
    /// Class names served (ingress-nginx's default is `nginx`).
    pub names: Vec<String>,
    /// Whether Ingresses with no class are served (a default IngressClass,
    /// or `--watch-ingress-without-class`).
    pub classless: bool,
}

impl Default for Classes {
    fn default() -> Self {
        Classes {
            names: vec!["nginx".to_string()],
            classless: false,
        }
    }
}

/// The modelled controller: the classes it serves and its own settings.
#[derive(Debug, Clone, Default)]
pub struct Controller {
    /// Classes served.
    pub classes: Classes,
    /// ConfigMap and flags.
    pub settings: Settings,
}

impl Controller {
    /// ingress-nginx's defaults, run with `--watch-ingress-without-class`:
    /// Ingresses that name no class are served.
    pub fn watching_classless() -> Controller {
        let mut c = Controller::default();
        c.classes.classless = true;
        c.settings.watch_without_class = true;
        c
    }
}

impl From<Classes> for Controller {
    fn from(classes: Classes) -> Controller {
        Controller {
            classes,
            settings: Settings::default(),
        }
    }
}

fn sort_key(i: &Ingress) -> (bool, &str) {
    (i.created.is_none(), i.created.as_deref().unwrap_or(""))
}

/// Sort as `store.go` does: oldest first, ties by `namespace/name` descending.
pub fn sort_ingresses(list: Vec<Ingress>) -> Vec<Ingress> {
    // Ties are common (Ingresses applied together share a timestamp): each
    // distinct timestamp is ranked once, `namespace/name` is built once per
    // Ingress, and compact (rank, key, index) triples are sorted instead of
    // the Ingresses themselves (large to move, and far apart in memory).
    // The index makes the unstable sort give the stable order.
    let mut stamps: Vec<(bool, &str)> = list.iter().map(sort_key).collect();
    stamps.sort_unstable();
    stamps.dedup();
    let keys: Vec<Vec<u8>> = list.iter().map(key_bytes).collect();
    let mut order: Vec<(usize, std::cmp::Reverse<&[u8]>, usize)> = list
        .iter()
        .zip(&keys)
        .enumerate()
        .map(|(i, (ing, k))| {
            let rank = stamps.binary_search(&sort_key(ing)).unwrap_or(usize::MAX);
            (rank, std::cmp::Reverse(k.as_slice()), i)
        })
        .collect();
    order.sort_unstable();
    let order: Vec<usize> = order.into_iter().map(|(_, _, i)| i).collect();
    drop(stamps);
    let mut slots: Vec<Option<Ingress>> = list.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// The bytes of [`Ingress::key`].
fn key_bytes(i: &Ingress) -> Vec<u8> {
    let mut k = Vec::with_capacity(i.namespace.len() + 1 + i.name.len());
    k.extend_from_slice(i.namespace.as_bytes());
    k.push(b'/');
    k.extend_from_slice(i.name.as_bytes());
    k
}

/// Put built servers in nginx.conf order (by name, as `getBackendServers`
/// sorts them), with the `from-to-www-redirect` companions, and index them
/// for host selection.
fn assemble(
    list: Vec<Ingress>,
    ignored: Vec<(Ingress, String)>,
    dropped: Vec<admit::Dropped>,
    built: Vec<(Server, bool)>,
) -> RouteTable {
    let redirects = build::www_redirects(&built);
    let mut servers: Vec<Server> = built.into_iter().map(|(s, _)| s).chain(redirects).collect();
    servers.sort_by(|a, b| a.name.cmp(&b.name));
    let mut names = Names::default();
    let mut catch_all = 0;
    for (i, s) in servers.iter().enumerate() {
        if s.name == CATCH_ALL {
            catch_all = i;
        } else if let Some(suffix) = s.name.strip_prefix("*.") {
            names.wildcards.insert(suffix.to_string(), i);
        } else {
            names.exact.entry(s.name.clone()).or_insert(i);
        }
    }
    for (i, s) in servers.iter().enumerate() {
        for a in &s.aliases {
            names.add_alias(a, i);
        }
    }
    let mut rule_hosts: crate::FastMap<String, Vec<usize>> = Default::default();
    let mut hostless = Vec::new();
    for (i, ing) in list.iter().enumerate() {
        for r in &ing.rules {
            let v = match &r.host {
                Some(h) => rule_hosts.entry(h.clone()).or_default(),
                None => &mut hostless,
            };
            if v.last() != Some(&i) {
                v.push(i);
            }
        }
    }
    RouteTable {
        ingresses: list,
        ignored,
        dropped,
        servers,
        names,
        catch_all,
        rule_hosts,
        hostless,
    }
}

/// nginx's `server_name` lookup tables (`ngx_http_find_virtual_server`):
/// exact names, then the longest `*.`/`.` head wildcard, then the longest
/// `.*` tail wildcard, then regexes in the order of the config. The
/// one-label `*.` hosts ingress-nginx writes as regexes are all
/// disjoint, so they are found by hash and only ordered against `~` aliases.
#[derive(Debug, Clone, Default)]
struct Names {
    exact: crate::FastMap<String, usize>,
    /// ingress-nginx `*.suffix` hosts (regex `^[\w-]+\.suffix$`).
    wildcards: crate::FastMap<String, usize>,
    /// Alias `*.suffix` or `.suffix` (which also matches `suffix`).
    heads: Vec<(String, bool, usize)>,
    /// Alias `prefix.*`.
    tails: Vec<(String, usize)>,
    /// Alias `~regex`, in config order.
    regexes: Vec<(pcre::Pattern, usize)>,
}

impl Names {
    fn add_alias(&mut self, a: &str, i: usize) {
        let a = a.to_ascii_lowercase();
        if let Some(re) = a.strip_prefix('~') {
            // nginx compiles server_name regexes caseless.
            if let Ok(r) = pcre::Pattern::server_name(re) {
                self.regexes.push((r, i));
            }
        } else if let Some(rest) = a.strip_prefix("*.") {
            self.heads.push((rest.to_string(), false, i));
        } else if let Some(rest) = a.strip_prefix('.') {
            self.heads.push((rest.to_string(), true, i));
        } else if let Some(rest) = a.strip_suffix(".*") {
            self.tails.push((rest.to_string(), i));
        } else {
            self.exact.entry(a).or_insert(i);
        }
    }

    fn find(&self, h: &str) -> Option<usize> {
        if let Some(&i) = self.exact.get(h) {
            return Some(i);
        }
        let head = self
            .heads
            .iter()
            .filter(|(suffix, dot, _)| {
                h.strip_suffix(suffix.as_str())
                    .is_some_and(|p| p.ends_with('.') && p.len() > 1 || (*dot && p.is_empty()))
            })
            .max_by_key(|(suffix, _, _)| suffix.len());
        if let Some(&(_, _, i)) = head {
            return Some(i);
        }
        let tail = self
            .tails
            .iter()
            .filter(|(prefix, _)| {
                h.strip_prefix(prefix.as_str())
                    .is_some_and(|r| r.len() > 1 && r.starts_with('.'))
            })
            .max_by_key(|(prefix, _)| prefix.len());
        if let Some(&(_, i)) = tail {
            return Some(i);
        }
        let wild = h.split_once('.').and_then(|(label, rest)| {
            let one_label = !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            one_label
                .then(|| self.wildcards.get(rest).copied())
                .flatten()
        });
        // A `~` alias of an earlier server comes first in nginx.conf.
        self.regexes
            .iter()
            .find(|(r, i)| wild.is_none_or(|w| *i < w) && r.is_match(h.as_bytes()).unwrap_or(false))
            .map(|(_, i)| *i)
            .or(wild)
    }
}

impl RouteTable {
    /// Upstreams (`namespace/service/port`) a canary created first: no
    /// path to them builds a location (`createUpstreams` `NoServer`).
    pub fn canary_upstreams(&self) -> std::collections::HashSet<String> {
        build::no_server(&self.ingresses)
    }

    /// The upstream a backend sends to (`upstreamName`), for Services.
    pub fn upstream_of(namespace: &str, backend: &Backend) -> Option<String> {
        build::upstream(namespace, backend)
    }

    /// Indexes into [`RouteTable::ingresses`] of the Ingresses with a rule
    /// for `host` (`None`: host-less rules), oldest first.
    pub fn ingresses_on(&self, host: Option<&str>) -> &[usize] {
        match host {
            Some(h) => self.rule_hosts.get(h).map_or(&[], Vec::as_slice),
            None => &self.hostless,
        }
    }

    /// The server nginx picks for a (raw) Host header.
    pub fn server_for(&self, host: &str) -> usize {
        let h = normalize_host(host);
        self.names.find(h.as_ref()).unwrap_or(self.catch_all)
    }

    /// Route a request: `host` as sent, `target` the raw request target
    /// (path and query, as on the request line).
    pub fn route(&self, host: &str, target: &[u8]) -> Routed<'_> {
        self.route_on(self.server_for(host), host, target)
    }

    /// [`route`](Self::route) once the server is known: `server_index` must
    /// be [`server_for`](Self::server_for)`(host)` (callers that route many
    /// paths on one host look it up once). An index out of range is the
    /// catch-all's.
    pub fn route_on(&self, server_index: usize, host: &str, target: &[u8]) -> Routed<'_> {
        let server_index = if server_index < self.servers.len() {
            server_index
        } else {
            self.catch_all
        };
        let server = &self.servers[server_index];
        let (uri, args) = match normalize(target) {
            Ok(x) => x,
            Err(e) => {
                return Routed {
                    server,
                    server_index,
                    uri: Vec::new(),
                    args: None,
                    outcome: Outcome::BadRequest(e),
                };
            }
        };
        let outcome = server.answer(&uri, server.select(&uri, args.as_deref(), host));
        Routed {
            server,
            server_index,
            uri,
            args,
            outcome,
        }
    }

    /// Total number of locations (for statistics).
    pub fn location_count(&self) -> usize {
        self.servers.iter().map(|s| s.locations.len()).sum()
    }
}

impl Server {
    /// What nginx answers before auth: `app-root` (a server-level `if ($uri
    /// = /)`, before any location), then the chosen location's own `return`.
    fn answer(&self, uri: &[u8], chosen: Outcome) -> Outcome {
        if let Some(root) = self.app_root.as_ref().filter(|_| uri == b"/") {
            return Outcome::Answer {
                answer: Answer::Redirect {
                    code: 302,
                    url: format!("$scheme://$http_host{root}"),
                    why: "app-root".into(),
                },
                at: None,
            };
        }
        match chosen {
            Outcome::Location(i) => match self.locations.get(i).and_then(|l| l.answer.clone()) {
                Some(answer) => Outcome::Answer {
                    answer,
                    at: Some(i),
                },
                None => Outcome::Location(i),
            },
            other => other,
        }
    }

    fn select(&self, uri: &[u8], args: Option<&[u8]>, host: &str) -> Outcome {
        if self.regex_mode {
            // First match wins. A regex PCRE2 gives up on (a match limit)
            // ends the search: nginx answers 500 and serves no location.
            for (re, i) in &self.regexes {
                match re.is_match(uri) {
                    Ok(true) => return Outcome::Location(*i),
                    Ok(false) => {}
                    Err(_) => return Outcome::NoLocation,
                }
            }
            return Outcome::NoLocation;
        }
        if let Some(&i) = self.exact.get(uri) {
            return Outcome::Location(i);
        }
        let mut best = None;
        for &i in &self.prefixes {
            let name = self.locations[i].name.as_bytes();
            if name == uri {
                best = Some(i);
                break;
            }
            if best.is_none() && uri.starts_with(name) {
                best = Some(i);
            }
        }
        let is_equal = best.is_some_and(|i| self.locations[i].name.as_bytes() == uri);
        // nginx's auto_redirect: a location named `uri + "/"`.
        if !is_equal && self.slash_names.contains(uri) {
            let mut loc = format!(
                "http://{}{}/",
                normalize_host(host),
                String::from_utf8_lossy(uri)
            );
            if let Some(a) = args {
                loc.push('?');
                loc.push_str(&String::from_utf8_lossy(a));
            }
            return Outcome::Redirect(loc);
        }
        best.map_or(Outcome::NoLocation, Outcome::Location)
    }
}

fn update_server_locations(locations: Vec<Location>) -> Vec<Location> {
    let exact: Vec<String> = locations
        .iter()
        .filter(|l| l.path_type == PathType::Exact)
        .map(|l| l.name.clone())
        .collect();
    let mut out = Vec::with_capacity(locations.len() * 2);
    for mut l in locations {
        if l.name == "/" || l.path_type != PathType::Prefix || l.needs_rewrite() || l.use_regex {
            out.push(l);
            continue;
        }
        let had_exact = exact.contains(&l.name);
        let copy = l.clone();
        if !l.name.ends_with('/') {
            l.name.push('/');
        }
        out.push(l);
        if !had_exact {
            let mut e = copy;
            e.path_type = PathType::Exact;
            out.push(e);
        }
    }
    // Kept for the table's life: drop the room reserved for twins not made.
    out.shrink_to_fit();
    out
}

fn compile(
    name: String,
    mut locations: Vec<Location>,
    ings: &[Ingress],
) -> Result<Server, InputError> {
    let regex_mode = locations.iter().any(|l| l.use_regex || l.needs_rewrite());
    let mut exact = crate::FastMap::default();
    let mut prefixes = Vec::new();
    let mut regexes = Vec::new();
    for (i, l) in locations.iter_mut().enumerate() {
        if regex_mode {
            l.modifier = Modifier::Regex;
            let re = Pattern::new(&l.name).map_err(|e| {
                let (file, line) = l.origin.as_ref().map_or(("?".into(), 0), |o| (o.file.to_string(), o.line));
                let who = l.ingress.and_then(|x| ings.get(x)).map(|x| x.key()).unwrap_or_default();
                InputError::at(
                    &file,
                    line,
                    format!(
                        "Ingress {who}: path {:?} is not a regular expression nginx can compile (PCRE2), and host {name} \
                         is in regex mode (use-regex or rewrite-target on one of its Ingresses): {e}",
                        l.name,
                    ),
                )
            })?;
            regexes.push((re, i));
        } else if l.path_type == PathType::Exact {
            l.modifier = Modifier::Exact;
            exact.entry(l.name.as_bytes().to_vec()).or_insert(i);
        } else {
            l.modifier = Modifier::Prefix;
            prefixes.push(i);
        }
    }
    prefixes.sort_by_key(|&i| std::cmp::Reverse(locations[i].name.len()));
    let slash_names = if regex_mode {
        Default::default()
    } else {
        locations
            .iter()
            .filter_map(|l| l.name.strip_suffix('/').map(|n| n.as_bytes().to_vec()))
            .collect()
    };
    Ok(Server {
        name,
        regex_mode,
        aliases: Vec::new(),
        app_root: None,
        locations,
        exact,
        prefixes,
        slash_names,
        regexes,
    })
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod controller_tests;
