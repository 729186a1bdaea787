//! [`RouteTable::build`], step by step as ingress-nginx's controller does it
//! (v1.15.1, `internal/ingress/controller/controller.go`): which Ingresses
//! are served, `createUpstreams` (only to learn which Services a canary
//! owns), `createServers`, `getBackendServers`, then the server aliases and
//! what each location answers before auth. `docs/routing.md` cites each
//! step.

use std::collections::HashSet;
use std::sync::Arc;

use super::settings::parse_bool;
use super::{
    Answer, CATCH_ALL, Controller, Gate, Location, Modifier, RouteTable, Server, admit, compile,
    sort_ingresses, update_server_locations,
};
use crate::error::InputError;
use crate::ingress::{Backend, Ingress, PathType};

/// A location before it is placed: the controller's `ingress.Location`.
fn location(
    name: String,
    ingress: Option<usize>,
    backend: Backend,
    ing: Option<&Ingress>,
) -> Location {
    let (use_regex, rewrite) = ing.map_or((false, None), |i| {
        (
            bool_annotation(i, "use-regex") == Some(true),
            i.nginx("rewrite-target").map(str::to_string),
        )
    });
    Location {
        ingress_path: name.clone(),
        name,
        modifier: Modifier::Prefix,
        path_type: PathType::Prefix,
        written_type: PathType::Prefix,
        ingress,
        backend,
        is_default: true,
        origin: None,
        gate: Gate::Ingress,
        answer: None,
        https_redirect: false,
        use_regex,
        rewrite,
    }
}

/// A boolean annotation as `parser.GetBoolAnnotation` reads it
/// (`strconv.ParseBool`); `None` when absent or not a boolean.
pub(super) fn bool_annotation(ing: &Ingress, short: &str) -> Option<bool> {
    ing.nginx(short).and_then(|v| parse_bool(v.trim()))
}

/// `ingress.Ingress` → upstream name (`upstreamName`: namespace, Service,
/// port).
pub(super) fn upstream(ns: &str, b: &Backend) -> Option<String> {
    match b {
        Backend::Service { name, port } => Some(format!("{ns}/{name}/{port}")),
        _ => None,
    }
}

/// Split into served, ignored (class) and dropped ([`admit`]: what
/// `store.go` refuses, `--disable-catch-all` included), served
/// sorted as `store.go` `sortIngressSlice` does.
/// Served Ingresses (sorted), ignored ones, and those the controller drops.
type Served = (Vec<Ingress>, Vec<(Ingress, String)>, Vec<admit::Dropped>);

fn served(ingresses: Vec<Ingress>, ctl: &Controller) -> Served {
    // Each Ingress is judged alone (its class, then `admit`'s annotation
    // parsing, the costly part): in chunks, concatenated in input order.
    let parts = crate::par::owned_chunks(ingresses, PARALLEL_MIN_INGRESSES, |_, part| {
        let mut out: Served = (Vec::new(), Vec::new(), Vec::new());
        for ing in part {
            sort_one(ing, ctl, &mut out);
        }
        out
    });
    let (mut list, mut ignored, mut dropped) = (Vec::new(), Vec::new(), Vec::new());
    for (l, i, d) in parts {
        list.extend(l);
        ignored.extend(i);
        dropped.extend(d);
    }
    (sort_ingresses(list), ignored, dropped)
}

/// Ingresses below this count are admitted on one thread.
const PARALLEL_MIN_INGRESSES: usize = 1024;

/// One Ingress into served, ignored (with why) or dropped.
fn sort_one(ing: Ingress, ctl: &Controller, (list, ignored, dropped): &mut Served) {
    let classes = &ctl.classes;
    match &ing.class {
        Some(c) if !classes.names.iter().any(|n| n == c) => {
            let why = format!(
                "ingress class {c:?} is not served by the modelled controller ({})",
                classes.names.join(", ")
            );
            ignored.push((ing, why));
        }
        None if !classes.classless => ignored.push((
            ing,
            "no ingress class, and the controller does not run with --watch-ingress-without-class (store.go GetIngressClass)".into(),
        )),
        // store.go syncIngress, after the informer's class filter.
        _ => match admit::admit(ing, &ctl.settings) {
            Ok(ing) => list.push(ing),
            Err(d) => dropped.push(*d),
        },
    }
}

/// `createUpstreams`: the first Ingress (in order) to use a Service port
/// creates its upstream; when that Ingress is a canary the upstream has
/// `NoServer`, and `getBackendServers` builds no location for any path
/// that sends to it, canary or not.
pub(super) fn no_server(list: &[Ingress]) -> HashSet<String> {
    // Only a canary's upstream is named: none, nothing to look at.
    if !list.iter().any(Ingress::is_canary) {
        return HashSet::new();
    }
    // Seen upstreams by their parts, borrowed.
    let mut seen: HashSet<(&str, &str, &str), foldhash::fast::RandomState> = HashSet::default();
    let mut out = HashSet::new();
    for ing in list {
        let canary = ing.is_canary();
        let paths = ing
            .rules
            .iter()
            .flat_map(|r| r.paths.iter().map(|p| &p.backend));
        for b in ing.default_backend.iter().chain(paths) {
            if let Backend::Service { name, port } = b {
                if seen.insert((&ing.namespace, name, port)) && canary {
                    out.extend(upstream(&ing.namespace, b));
                }
            }
        }
    }
    out
}

/// Servers in the making: names, locations, and name → index.
struct Draft {
    names: Vec<String>,
    locs: Vec<Vec<Location>>,
    index: crate::FastMap<String, usize>,
    /// Servers that get a `from-to-www-redirect` companion.
    to_www: HashSet<usize>,
    /// The `_` root took a rules-less Ingress's annotations without its
    /// redirect and rewrite settings.
    catch_all_root: bool,
}

/// `createServers`: `_` with the default backend, then one server per host
/// (canaries skipped), whose root takes the creating Ingress's annotations.
fn create_servers(list: &[Ingress]) -> Draft {
    let mut d = Draft {
        names: vec![CATCH_ALL.into()],
        locs: vec![vec![location("/".into(), None, Backend::Default, None)]],
        index: [(CATCH_ALL.to_string(), 0)].into_iter().collect(),
        to_www: HashSet::new(),
        catch_all_root: false,
    };
    for (i, ing) in list.iter().enumerate() {
        if ing.is_canary() {
            continue;
        }
        if let (true, Some(b @ Backend::Service { .. })) =
            (ing.rules.is_empty(), &ing.default_backend)
        {
            let r = &mut d.locs[0][0];
            if r.is_default && r.ingress.is_none() {
                // "Redirect and rewrite can affect the catch all behavior,
                // skip for now": the root keeps its own.
                r.backend = b.clone();
                r.is_default = false;
                r.ingress = Some(i);
                r.origin = Some(ing.origin.clone());
                d.catch_all_root = true;
            }
        }
        for rule in &ing.rules {
            let host = rule.host.clone().unwrap_or_else(|| CATCH_ALL.into());
            if d.index.contains_key(&host) {
                continue;
            }
            let backend = match &ing.default_backend {
                Some(b @ Backend::Service { .. }) => b.clone(),
                _ => Backend::Default,
            };
            d.index.insert(host.clone(), d.names.len());
            d.names.push(host);
            d.locs
                .push(vec![location("/".into(), Some(i), backend, Some(ing))]);
        }
    }
    d
}

/// `getBackendServers`: every path with a Service backend (canaries
/// included) becomes a location of its host's server (`_` when the host
/// has none, as for a canary-only host), unless its upstream is a canary's
/// (`NoServer`) or the same path and type is already there (oldest wins;
/// a default root is taken over).
fn backend_servers(list: &[Ingress], no_server: &HashSet<String>, d: &mut Draft) {
    for (i, ing) in list.iter().enumerate() {
        for rule in &ing.rules {
            let host = rule.host.as_deref().unwrap_or(CATCH_ALL);
            let s = d.index.get(host).copied().unwrap_or(0);
            for p in &rule.paths {
                if !matches!(p.backend, Backend::Service { .. }) {
                    // "does not contain a service backend, using default backend"
                    continue;
                }
                // Named only when some upstream has no server (a canary's).
                if !no_server.is_empty()
                    && upstream(&ing.namespace, &p.backend).is_some_and(|u| no_server.contains(&u))
                {
                    continue;
                }
                let name = if p.path.is_empty() {
                    "/".to_string()
                } else {
                    p.path.clone()
                };
                let pt = match p.path_type {
                    PathType::ImplementationSpecific => PathType::Prefix,
                    t => t,
                };
                let fresh = || {
                    let mut l = location(name.clone(), Some(i), p.backend.clone(), Some(ing));
                    l.path_type = pt;
                    l.ingress_path = p.path.clone();
                    l.written_type = p.path_type;
                    l.is_default = false;
                    l.origin = Some(p.origin.clone());
                    l
                };
                // The first location with the same path decides: another
                // type ends the scan (both kept), the same type drops the
                // path unless that location is still the default root.
                let placed = match d.locs[s].iter_mut().find(|l| l.name == name) {
                    Some(loc) if loc.path_type == pt => {
                        let take = loc.is_default;
                        if take {
                            *loc = fresh();
                        }
                        take
                    }
                    _ => {
                        d.locs[s].push(fresh());
                        true
                    }
                };
                if placed && bool_annotation(ing, "from-to-www-redirect") == Some(true) {
                    d.to_www.insert(s);
                }
            }
        }
    }
}

/// `server-alias` (`createServers`, the alias loop, and `alias.Parse`): the
/// first Ingress of a host with aliases sets them; an alias that is the
/// host itself or another server's name is dropped.
fn aliases(list: &[Ingress], d: &Draft) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = vec![Vec::new(); d.names.len()];
    for ing in list.iter().filter(|i| !i.is_canary()) {
        let Some(v) = ing.nginx("server-alias") else {
            continue;
        };
        let mut mine: Vec<String> = v
            .split(',')
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .collect();
        mine.sort();
        mine.dedup();
        for rule in &ing.rules {
            let host = rule.host.as_deref().unwrap_or(CATCH_ALL);
            if let Some(&s) = d.index.get(host) {
                if out[s].is_empty() {
                    out[s] = mine.clone();
                }
            }
        }
    }
    for (s, a) in out.iter_mut().enumerate() {
        let host = d.names[s].as_str();
        a.retain(|x| x != host && !d.index.contains_key(x));
    }
    out
}

/// A redirect annotation of the location's Ingress (`redirect.Parse`):
/// `temporal-redirect` first (code 300–307, default 302), then
/// `permanent-redirect` (300–308, default 301).
fn redirect(ing: &Ingress) -> Option<Answer> {
    let code = |key: &str, max: u16, default: u16| {
        ing.nginx(key)
            .and_then(|c| c.trim().parse::<u16>().ok())
            .filter(|c| (300..=max).contains(c))
            .unwrap_or(default)
    };
    let url = |key: &str| ing.nginx(key).map(str::trim).filter(|u| !u.is_empty());
    if let Some(u) = url("temporal-redirect") {
        return Some(Answer::Redirect {
            code: code("temporal-redirect-code", 307, 302),
            url: u.to_string(),
            why: "temporal-redirect".into(),
        });
    }
    url("permanent-redirect").map(|u| Answer::Redirect {
        code: code("permanent-redirect-code", 308, 301),
        url: u.to_string(),
        why: "permanent-redirect".into(),
    })
}

/// `app-root` (`rewrite.Parse`): a path, not an absolute URL.
fn app_root(ing: &Ingress) -> Option<String> {
    let v = ing.nginx("app-root")?.trim();
    (v.starts_with('/') && !v.contains(char::is_whitespace)).then(|| v.to_string())
}

/// Whether the location path is under a `no-auth-locations` (or
/// `no-tls-redirect-locations`) entry: `strings.HasPrefix` on the path.
fn listed<'a>(list: &'a [String], path: &str) -> Option<&'a String> {
    list.iter().find(|e| path.starts_with(e.as_str()))
}

/// Gates, answers and HTTPS redirects of one server's locations.
fn finish_locations(
    locs: &mut [Location],
    list: &[Ingress],
    ctl: &Controller,
    tls: bool,
    catch_all_root: bool,
) {
    let st = &ctl.settings;
    let global: Option<Arc<str>> = st.global_auth.as_ref().map(|g| Arc::from(g.url.as_str()));
    for (k, l) in locs.iter_mut().enumerate() {
        let ing = l.ingress.and_then(|i| list.get(i));
        let own_rewrite = !(catch_all_root && k == 0 && l.name == "/");
        l.gate = match (listed(&st.no_auth_locations, &l.name), &global, ing) {
            (Some(e), _, _) => Gate::NoAuth(e.clone()),
            (None, Some(g), Some(i)) if i.nginx("auth-url").is_none_or(|u| u.trim().is_empty()) => {
                if bool_annotation(i, "enable-global-auth") == Some(false) {
                    Gate::OptedOut(g.clone())
                } else {
                    Gate::Global(g.clone())
                }
            }
            _ => Gate::Ingress,
        };
        // `isLocationAllowed`: a denied location answers 503 (every
        // location of the Ingress, as `locationApplyAnnotations` copies
        // `Denied`); a redirect's `return` comes first in nginx.tmpl, and
        // nginx runs the first `return`.
        l.answer = ing
            .and_then(|i| i.denied.as_ref())
            .map(|why| Answer::Unavailable(why.clone()));
        let Some(ing) = ing.filter(|_| own_rewrite) else {
            continue;
        };
        if let Some(r) = redirect(ing) {
            l.answer = Some(r);
        }
        let force = bool_annotation(ing, "force-ssl-redirect").unwrap_or(st.force_ssl_redirect);
        let ssl = bool_annotation(ing, "ssl-redirect").unwrap_or(st.ssl_redirect);
        l.https_redirect =
            (force || (ssl && tls)) && listed(&st.no_tls_redirect_locations, &l.name).is_none();
    }
}

/// Hosts with a certificate (`createServers`' SSL loop): a non-canary
/// Ingress with a rule for the host lists it in `spec.tls`. One pass over
/// the rules, not one per server.
fn tls_hosts(list: &[Ingress]) -> HashSet<&str> {
    list.iter()
        .filter(|i| !i.is_canary())
        .flat_map(|i| {
            i.rules.iter().filter_map(move |r| {
                let h = r.host.as_deref()?;
                i.tls_hosts
                    .iter()
                    .any(|t| crate::ingress::tls_covers(t, h))
                    .then_some(h)
            })
        })
        .collect()
}

impl RouteTable {
    /// Build the table. Errors only for a regex-mode path nginx could not
    /// compile (the controller would fail to reload).
    pub fn build(ingresses: Vec<Ingress>, ctl: &Controller) -> Result<RouteTable, InputError> {
        let (list, ignored, dropped) = served(ingresses, ctl);
        let no_server = no_server(&list);
        let mut d = create_servers(&list);
        backend_servers(&list, &no_server, &mut d);
        let aliases = aliases(&list, &d);
        let tls = tls_hosts(&list);
        let Draft {
            names,
            locs,
            to_www,
            catch_all_root,
            ..
        } = d;
        let drafts: Vec<_> = names.into_iter().zip(locs).zip(aliases).collect();
        // Servers are independent once drafted: finish them in chunks (in
        // parallel on large tables), in server order; the first error in
        // that order is the one returned, as in one sequential pass.
        let parts = crate::par::owned_chunks(drafts, PARALLEL_MIN_SERVERS, |at, part| {
            let mut done = Vec::with_capacity(part.len());
            for (k, ((name, l), alias)) in part.into_iter().enumerate() {
                let s = at + k;
                let root = s == 0 && catch_all_root;
                let tls = tls.contains(name.as_str());
                let server = finish_server(name, l, alias, &list, ctl, tls, root)?;
                done.push((server, to_www.contains(&s)));
            }
            Ok::<_, InputError>(done)
        });
        let mut servers = Vec::new();
        for part in parts {
            servers.extend(part?);
        }
        Ok(super::assemble(list, ignored, dropped, servers))
    }
}

/// Servers below this count are finished on one thread.
const PARALLEL_MIN_SERVERS: usize = 256;

/// One drafted server as the controller writes it: locations sorted
/// (`updateServerLocations` after the longest-first sort of
/// `getBackendServers`), gated and answered, `app-root` read, compiled.
/// `root` says that location 0 is the `_` root a rules-less Ingress took.
fn finish_server(
    name: String,
    mut l: Vec<Location>,
    alias: Vec<String>,
    list: &[Ingress],
    ctl: &Controller,
    tls: bool,
    root: bool,
) -> Result<Server, InputError> {
    l.sort_by(|a, b| b.name.cmp(&a.name));
    l.sort_by_key(|a| std::cmp::Reverse(a.name.len()));
    let mut l = update_server_locations(l);
    finish_locations(&mut l, list, ctl, tls, root);
    let app_root = l
        .iter()
        .enumerate()
        .filter(|(k, _)| !(root && *k == 0))
        .find_map(|(_, x)| x.ingress.and_then(|i| list.get(i)).and_then(app_root));
    let mut server = compile(name, l, list)?;
    server.aliases = alias;
    server.app_root = app_root;
    Ok(server)
}

/// `BuildRedirects` (`pkg/util/ingress/ingress.go`): a server with
/// `from-to-www-redirect` gets a companion server for `www.` + its name (or
/// its name without `www.`) answering the ConfigMap's `http-redirect-code`
/// (308) to itself, unless a server of that name exists.
pub(super) fn www_redirects(servers: &[(Server, bool)]) -> Vec<Server> {
    if !servers.iter().any(|(_, on)| *on) {
        return Vec::new();
    }
    let names: HashSet<&str> = servers.iter().map(|(s, _)| s.name.as_str()).collect();
    let mut out = Vec::new();
    let mut done = HashSet::new();
    for (s, on) in servers {
        if !on || s.name == CATCH_ALL || !done.insert(s.name.as_str()) {
            continue;
        }
        let from = match s.name.strip_prefix("www.") {
            Some(rest) => rest.to_string(),
            None => format!("www.{}", s.name),
        };
        if names.contains(from.as_str()) {
            continue;
        }
        let mut root = location("/".into(), None, Backend::Default, None);
        root.answer = Some(Answer::Redirect {
            code: 308,
            url: format!("$scheme://{}$request_uri", s.name),
            why: "from-to-www-redirect".into(),
        });
        if let Ok(server) = compile(from, vec![root], &[]) {
            out.push(server);
        }
    }
    out
}
