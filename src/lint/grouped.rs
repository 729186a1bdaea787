//! Route findings as a reviewer reads them: the probes that hit one
//! Ingress path for one rule are grouped (`Groups`), and each group is one
//! finding with the strictest need as its fix and the paths, as the policy
//! or the Ingress writes them, per need ([`group_finding`]); SU014's
//! opt-out and SU028's over-protection are built here too.

use std::borrow::Cow;
use std::collections::BTreeSet;

use super::Finding;
use super::rules::finding;
use crate::controllers::ingress_nginx::annotations::EnforcementRef;
use crate::controllers::ingress_nginx::routing::{Location, RouteTable, Server};
use crate::ingress::Ingress;
use crate::policy::{Need, Policy};

/// What one probe found at a location: the path it stands for (as the
/// policy or the Ingress writes it), what that needs and why.
pub(super) struct Hit {
    pub(super) shown: std::sync::Arc<str>,
    pub(super) need: Need,
    pub(super) why: Why,
}

/// Why a probe needs what it needs; words only when a finding is written
/// (most probes make none, and a `format!` per probe was a tenth of lint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Why {
    Rule(usize),
    Heuristic,
    Default,
}

impl Why {
    fn text(self, policy: &Policy) -> String {
        match self {
            Why::Rule(i) => policy.rules.get(i).map_or_else(
                || "a policy rule".into(),
                |r| format!("policy rule {}", r.name),
            ),
            Why::Heuristic => "it looks sensitive and no policy rule covers it".into(),
            Why::Default => "the policy default".into(),
        }
    }
}

/// What [`Group::list`] and the group's strictest need say of a list of
/// hits, remembered per thread: servers of one shape list the same hits,
/// and the words depend on nothing else (the policy is one per run).
#[derive(Default)]
pub(super) struct Lists {
    /// By a hash of the hits; the entries of one hash are compared in full.
    map: crate::FastMap<u64, Vec<(ListKey, Words)>>,
    hasher: foldhash::fast::RandomState,
    len: usize,
}

/// A group's path list and the label of its strictest need.
type Words = (std::rc::Rc<str>, std::rc::Rc<str>);

/// Lists remembered, at most.
const LISTS_MAX: usize = 4096;

/// A list of hits as remembered. Needs compare by identity (the same shared
/// requirement), which equal needs of different origins fail: a miss, never
/// a wrong hit. The key holds its needs, so no address it compares is
/// reused while it is remembered.
type ListKey = Vec<(std::sync::Arc<str>, Need, Why)>;

fn need_id(n: &Need) -> (u8, usize, usize) {
    match n {
        Need::Public => (0, 0, 0),
        Need::Deny => (1, 0, 0),
        Need::Auth { levels, req } => (
            2,
            std::sync::Arc::as_ptr(levels).cast::<()>() as usize,
            std::sync::Arc::as_ptr(req) as usize,
        ),
    }
}

impl Lists {
    /// The group's list of paths and the label of its strictest need.
    fn of(&mut self, policy: &Policy, g: &Group<'_>) -> Words {
        use std::hash::{BuildHasher, Hash, Hasher};
        let mut st = self.hasher.build_hasher();
        for h in &g.hits {
            (&*h.shown, need_id(&h.need), h.why).hash(&mut st);
        }
        let h = st.finish();
        let same = |k: &ListKey| {
            k.len() == g.hits.len()
                && k.iter().zip(&g.hits).all(|(a, b)| {
                    *a.0 == *b.shown && a.2 == b.why && need_id(&a.1) == need_id(&b.need)
                })
        };
        if let Some((_, w)) = self
            .map
            .get(&h)
            .and_then(|v| v.iter().find(|(k, _)| same(k)))
        {
            return w.clone();
        }
        let w: Words = (g.list(policy).into(), g.need().label().into());
        if self.len < LISTS_MAX {
            self.len += 1;
            let key = g
                .hits
                .iter()
                .map(|h| (h.shown.clone(), h.need.clone(), h.why))
                .collect();
            self.map.entry(h).or_default().push((key, w.clone()));
        }
        w
    }
}

/// The hits of one rule at one location (SU014: one Ingress), reported as
/// one finding once every probe of the server is in.
pub(super) struct Group<'a> {
    pub(super) rule: &'static str,
    pub(super) li: usize,
    pub(super) ing: &'a Ingress,
    /// SU006: the Ingress shadowed; SU003: the check; SU002, SU005: the level.
    pub(super) detail: String,
    pub(super) hits: Vec<Hit>,
}

/// Groups by rule, location (or Ingress) and detail, in first-hit order.
#[derive(Default)]
pub(super) struct Groups<'a> {
    pub(super) list: Vec<Group<'a>>,
}

/// `a == b`, deciding most pairs on their length and last byte (a group
/// compares every new hit with each of its paths).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && (a.is_empty() || (a.as_bytes().last() == b.as_bytes().last() && a == b))
}

impl<'a> Groups<'a> {
    /// Add `hit`; a path already listed keeps the stricter need.
    pub(super) fn add(
        &mut self,
        rule: &'static str,
        li: usize,
        ing: &'a Ingress,
        detail: &str,
        hit: Hit,
    ) {
        // A server has a handful of groups: a scan, no key to allocate.
        let found = self
            .list
            .iter()
            .position(|g| g.li == li && same(g.rule, rule) && same(&g.detail, detail));
        let i = match found {
            Some(i) => i,
            None => {
                self.list.push(Group {
                    rule,
                    li,
                    ing,
                    detail: detail.to_string(),
                    hits: Vec::new(),
                });
                self.list.len() - 1
            }
        };
        let hits = &mut self.list[i].hits;
        match hits
            .iter_mut()
            .find(|h| std::sync::Arc::ptr_eq(&h.shown, &hit.shown) || same(&h.shown, &hit.shown))
        {
            Some(h) if !h.need.satisfies(&hit.need) => {
                h.need = h.need.and(&hit.need);
                h.why = hit.why;
            }
            Some(_) => {}
            None => hits.push(hit),
        }
    }
}

impl Group<'_> {
    /// The strictest need of the group: the level its fix must name.
    fn need(&self) -> Need {
        self.hits.iter().fold(Need::Public, |n, h| n.and(&h.need))
    }

    /// `/admin/** needs admin (policy rule admin-console); /api/** needs …`.
    /// Paths of the same need and reason share one entry.
    fn list(&self, policy: &Policy) -> String {
        // Each glob once, not once per pair of hits: the policy's own
        // parsed glob when the hit stands for one (it nearly always does),
        // else parsed here.
        let globs: Vec<Option<Cow<'_, crate::glob::PathGlob>>> = self
            .hits
            .iter()
            .map(|h| {
                if !h.shown.contains('*') {
                    return None;
                }
                policy_glob(policy, &h.shown)
                    .map(Cow::Borrowed)
                    .or_else(|| crate::glob::PathGlob::parse(&h.shown).ok().map(Cow::Owned))
            })
            .collect();
        let mut parts: Vec<(&Need, Why, Vec<&str>)> = Vec::new();
        for h in self.hits.iter().filter(|h| {
            !self
                .hits
                .iter()
                .zip(&globs)
                .any(|(o, g)| g.as_ref().is_some_and(|g| covers(o, g, h)))
        }) {
            match parts
                .iter_mut()
                .find(|(n, w, _)| **n == h.need && *w == h.why)
            {
                Some((_, _, paths)) => paths.push(&h.shown),
                None => parts.push((&h.need, h.why, vec![&h.shown])),
            }
        }
        let text: Vec<String> = parts
            .iter()
            .map(|(need, why, paths)| {
                let verb = if paths.len() > 1 { "need" } else { "needs" };
                format!(
                    "{} {verb} {} ({})",
                    paths.join(", "),
                    need.label(),
                    why.text(policy)
                )
            })
            .collect();
        text.join("; ")
    }
}

/// The policy's parsed glob written as `text` (a rule's or a sensitive
/// path's).
fn policy_glob<'p>(policy: &'p Policy, text: &str) -> Option<&'p crate::glob::PathGlob> {
    policy
        .rules
        .iter()
        .flat_map(|r| r.paths.iter())
        .chain(policy.sensitive.paths.iter())
        .find(|g| g.as_str() == text)
}

/// Whether `o`'s glob names the literal path of `h` too, with the same
/// need and reason (`/admin/**` lists `/admin`): only `o` is worth saying.
fn covers(o: &Hit, glob: &crate::glob::PathGlob, h: &Hit) -> bool {
    o.shown != h.shown
        && o.need == h.need
        && o.why == h.why
        && !h.shown.contains('*')
        && glob.matches(h.shown.as_bytes(), false)
}

/// Why a probe needs what it needs, for messages.
pub(super) fn why_text(rule: Option<usize>, heuristic: bool) -> Why {
    match (rule, heuristic) {
        (Some(i), _) => Why::Rule(i),
        (None, true) => Why::Heuristic,
        (None, false) => Why::Default,
    }
}

/// A location's path as findings name it.
pub(super) fn shown_path(l: &Location) -> &str {
    if l.is_default {
        "/"
    } else {
        l.ingress_path.as_str()
    }
}

/// Public paths served behind auth at one location (SU028).
#[derive(Default)]
pub(super) struct Over {
    pub(super) what: String,
    /// Public paths, each with whether a `public` rule names it.
    pub(super) hits: Vec<(Hit, bool)>,
}

/// What a location's auth is, for SU028.
pub(super) fn auth_words(
    auth: &EnforcementRef<'_>,
    gate: &crate::controllers::ingress_nginx::routing::Gate,
) -> String {
    match (gate, auth) {
        (crate::controllers::ingress_nginx::routing::Gate::Global(url), _) => {
            format!("the controller's global-auth-url {url}")
        }
        (_, EnforcementRef::Stepup { level, .. }) => format!("stepup's auth-url, level {level}"),
        (_, EnforcementRef::External(url)) => format!("auth-url {url}"),
        (_, EnforcementRef::Basic) => "basic auth".into(),
        _ => "auth".into(),
    }
}

/// The finding of one group.
pub(super) fn group_finding(
    policy: &Policy,
    s: &Server,
    host: &str,
    g: &Group<'_>,
    lists: &mut Lists,
) -> Finding {
    let ing = g.ing;
    let l = s.locations.get(g.li);
    let (path, backend) = l.map_or(("", String::new()), |l| {
        (shown_path(l), l.backend.to_string())
    });
    let key = ing.key();
    let (list, need) = lists.of(policy, g);
    let (msg, fix) = match g.rule {
        "SU006" => (
            format!(
                "{host}{path} is served by Ingress {key} without auth, shadowing Ingress {} which protects it: {list}",
                g.detail
            ),
            format!("Protect Ingress {key} at level {need} or remove its path {path}."),
        ),
        "SU003" if g.detail == "basic auth" => (
            format!(
                "{host}{path} uses basic auth, which cannot enforce what the policy requires: {list}"
            ),
            "Replace basic auth with stepup's auth-url (`stepup generate`).".into(),
        ),
        "SU003" => (
            format!(
                "{host}{path} is checked by {}, not stepup, which cannot enforce what the policy requires: {list}",
                g.detail
            ),
            "Replace the auth-url with stepup's (`stepup generate`).".into(),
        ),
        "SU002" => (
            format!(
                "{host}{path}: auth-url level {} does not satisfy what the policy requires for GET: {list}",
                g.detail
            ),
            format!("Set level={need} in the auth-url (or `stepup generate --split`)."),
        ),
        "SU005" => (
            format!("{host}{path} is protected but has no auth-signin: browsers get a bare 401"),
            format!(
                "Add nginx.ingress.kubernetes.io/auth-signin: https://$host{}/signin?level={}",
                signin_path(policy),
                g.detail
            ),
        ),
        "SU014" => return opt_out_finding(s, host, g, &list),
        _ => (
            format!(
                "{host}{path} reaches {backend} through Ingress {key} with no auth, and the policy protects what it serves: {list}"
            ),
            format!(
                "Run `stepup generate` and apply it, or add stepup's auth-url with level={need} to Ingress {key}."
            ),
        ),
    };
    let mut f = finding(g.rule, ing, host, path, msg, fix);
    if g.rule == "SU003" {
        f.severity = super::Severity::Warning;
    }
    f
}

/// SU014 for an Ingress that opts out of global auth where the policy
/// requires auth, at the `enable-global-auth` annotation.
fn opt_out_finding(s: &Server, host: &str, g: &Group<'_>, list: &str) -> Finding {
    let url = s
        .locations
        .iter()
        .filter(|l| l.ingress.is_some())
        .find_map(|l| match &l.gate {
            crate::controllers::ingress_nginx::routing::Gate::OptedOut(u) => Some(u.to_string()),
            _ => None,
        });
    let whose = match url {
        Some(u) => format!("the controller's global-auth-url ({u})"),
        None => "any global-auth-url the controller has (none is modelled: lint with --controller-config to check it)".into(),
    };
    let f = finding(
        "SU014",
        g.ing,
        host,
        "",
        format!(
            "enable-global-auth: \"false\" opts Ingress {} out of {whose}, and it has no auth of its own on {host}: {}",
            g.ing.key(),
            list
        ),
        "Remove enable-global-auth, or protect the Ingress with stepup's auth-url (`stepup generate`).".into(),
    );
    super::rules::at_annotation(f, g.ing, "enable-global-auth")
}

/// SU028 for a location whose auth the policy says some of its paths must
/// not have: all of them public, or paths a `public` rule names.
pub(super) fn over_protected(
    policy: &Policy,
    s: &Server,
    t: &RouteTable,
    host: &str,
    li: usize,
    o: &Over,
    mixed: bool,
) -> Option<Finding> {
    let l = s.locations.get(li)?;
    let ing = l.ingress.and_then(|i| t.ingresses.get(i))?;
    // Paths with the same reason share one entry.
    let mut seen = BTreeSet::new();
    let mut by_why: Vec<(Why, Vec<&str>)> = Vec::new();
    for (h, _) in o.hits.iter().filter(|(_, explicit)| !mixed || *explicit) {
        if !seen.insert(h.shown.clone()) {
            continue;
        }
        match by_why.iter_mut().find(|(w, _)| *w == h.why) {
            Some((_, paths)) => paths.push(&h.shown),
            None => by_why.push((h.why, vec![&h.shown])),
        }
    }
    if by_why.is_empty() {
        return None;
    }
    let listed: Vec<String> = by_why
        .iter()
        .map(|(why, paths)| format!("{} ({})", paths.join(", "), why.text(policy)))
        .collect();
    let path = shown_path(l);
    let public: Vec<&str> = by_why.iter().flat_map(|(_, p)| p.iter().copied()).collect();
    let fix = if mixed {
        format!(
            "Serve {} from an Ingress without auth (an Exact path, or a longer Prefix, wins over {path}), or change the policy if they need a login.",
            public.join(", ")
        )
    } else {
        format!(
            "Remove the auth from Ingress {} (for global auth: enable-global-auth: \"false\"), or change the policy if these paths need a login.",
            ing.key()
        )
    };
    Some(finding(
        "SU028",
        ing,
        host,
        path,
        format!(
            "{host}{path} demands a login ({}) on paths the policy calls public: {}",
            o.what,
            listed.join("; ")
        ),
        fix,
    ))
}

pub(super) fn signin_path(policy: &Policy) -> String {
    policy
        .auth_service
        .as_ref()
        .map_or_else(|| "/.stepup".to_string(), |a| a.signin_path.clone())
}
