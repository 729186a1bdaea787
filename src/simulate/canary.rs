//! A canary's second backend at a location, and when it is picked.
//!
//! - **Merge** (`controller.go` `mergeAlternativeBackends`, run in
//!   `getBackendServers` for each canary Ingress in the sorted order): a
//!   canary path whose host's server has a location with the same path and
//!   pathType adds the canary's upstream to the *primary upstream's*
//!   `AlternativeBackends` (`mergeAlternativeBackend`), unless both are the
//!   same upstream or the primary is the default backend
//!   (`canMergeBackend`). The alternative belongs to the upstream, so every
//!   location sending to that Service gets it.
//! - **Choice** (`balancer.lua` `route_to_alternative_balancer`, only the
//!   first alternative): session affinity aside, the header
//!   (`canary-by-header`, with `canary-by-header-value` compared exactly or
//!   else `canary-by-header-pattern` matched as a PCRE, or else the values
//!   `always`/`never`), then the cookie (`canary-by-cookie`: `always` or
//!   `never`), then `canary-weight` out of `canary-weight-total` (100)
//!   at random. A header or cookie with another value falls through.
//! - **Policy** comes from the Ingress that created the alternative
//!   upstream (`createUpstreams`, `TrafficShapingPolicy` of a canary).
//! - **Annotations**: the location is the primary Ingress's; the canary
//!   Ingress's own auth annotations are not rendered there.

use crate::controllers::ingress_nginx::routing::pcre::Pattern;
use crate::controllers::ingress_nginx::routing::{CATCH_ALL, Location, RouteTable};
use crate::ingress::{Backend, Ingress, PathType};

/// What `simulate` shows about a canary at the chosen location.
#[derive(Debug, Clone, PartialEq)]
pub struct CanaryView {
    /// The canary Ingress (`namespace/name`).
    pub ingress: String,
    /// Its backend (`service:port`).
    pub backend: String,
    /// The location's own backend.
    pub primary: String,
    /// When the canary is picked, in a sentence.
    pub condition: String,
    /// `Some(true)`: this request goes to the canary; `Some(false)`: to the
    /// primary; `None`: by chance (`probability`).
    pub selected: Option<bool>,
    /// Chance of the canary when the weight decides.
    pub probability: Option<f64>,
    /// The canary's auth annotations differ from the location's, and are
    /// not applied.
    pub auth_note: Option<String>,
}

/// The request's headers and cookies, as given.
#[derive(Debug, Clone, Default)]
pub struct Sent {
    /// `Name: value` pairs.
    pub headers: Vec<(String, String)>,
    /// `name=value` pairs.
    pub cookies: Vec<(String, String)>,
}

fn norm(t: PathType) -> PathType {
    match t {
        PathType::ImplementationSpecific => PathType::Prefix,
        t => t,
    }
}

/// The first canary merged into upstream `primary` (canaries in the
/// sorted order, as `getBackendServers` merges them), as (canary Ingress,
/// its backend).
fn first_alternative<'t>(t: &'t RouteTable, primary: &str) -> Option<(&'t Ingress, &'t Backend)> {
    for c in t.ingresses.iter().filter(|i| i.is_canary()) {
        for rule in &c.rules {
            let host = rule.host.as_deref().unwrap_or(CATCH_ALL);
            let Some(server) = t.servers.iter().find(|s| s.name == host) else {
                continue;
            };
            for p in &rule.paths {
                let Some(alt) = RouteTable::upstream_of(&c.namespace, &p.backend) else {
                    continue;
                };
                for loc in &server.locations {
                    let Some(pri) = loc
                        .ingress
                        .and_then(|i| t.ingresses.get(i))
                        .and_then(|o| RouteTable::upstream_of(&o.namespace, &loc.backend))
                    else {
                        continue;
                    };
                    if pri == alt {
                        break;
                    }
                    if pri == primary
                        && loc.ingress_path == p.path
                        && norm(loc.written_type) == norm(p.path_type)
                    {
                        return Some((c, &p.backend));
                    }
                }
            }
        }
    }
    None
}

/// The canary Ingress whose traffic-shaping policy the alternative
/// upstream carries: the first Ingress (in order) to use it, if a canary.
fn policy_owner<'t>(t: &'t RouteTable, alt: &str) -> Option<&'t Ingress> {
    t.ingresses
        .iter()
        .find(|i| {
            i.default_backend
                .iter()
                .chain(
                    i.rules
                        .iter()
                        .flat_map(|r| r.paths.iter().map(|p| &p.backend)),
                )
                .any(|b| RouteTable::upstream_of(&i.namespace, b).as_deref() == Some(alt))
        })
        .filter(|i| i.is_canary())
}

/// A canary at location `l` (of Ingress `owner`), if one is merged there.
pub fn at_location(
    t: &RouteTable,
    l: &Location,
    owner: &Ingress,
    sent: &Sent,
) -> Option<CanaryView> {
    let primary = RouteTable::upstream_of(&owner.namespace, &l.backend)?;
    let (canary, backend) = first_alternative(t, &primary)?;
    let alt = RouteTable::upstream_of(&canary.namespace, backend)?;
    let mut view = CanaryView {
        ingress: canary.key(),
        backend: backend.to_string(),
        primary: l.backend.to_string(),
        condition: String::new(),
        selected: Some(false),
        probability: None,
        auth_note: auth_note(owner, canary),
    };
    let Some(pol) = policy_owner(t, &alt) else {
        view.condition = "never: the canary's Service is also a primary backend (an older non-canary Ingress created its upstream), so it has no traffic-shaping policy".into();
        return Some(view);
    };
    choose(&Shaping::of(pol), sent, &mut view);
    Some(view)
}

fn auth_note(owner: &Ingress, canary: &Ingress) -> Option<String> {
    let auth = |i: &Ingress| {
        ["auth-url", "auth-type", "auth-secret", "auth-signin"]
            .map(|k| i.nginx(k).map(str::to_string))
    };
    (auth(owner) != auth(canary)).then(|| {
        format!(
            "the canary Ingress {}'s auth annotations differ, but are not applied: both backends get the auth of Ingress {} (the location's)",
            canary.key(),
            owner.key()
        )
    })
}

/// `canary/main.go` `Parse`, as `newTrafficShapingPolicy` keeps it.
struct Shaping {
    weight: i64,
    total: i64,
    header: String,
    header_value: String,
    header_pattern: String,
    cookie: String,
}

impl Shaping {
    fn of(i: &Ingress) -> Shaping {
        let s = |k: &str| i.nginx(k).map(str::trim).unwrap_or("").to_string();
        let n = |k: &str| i.nginx(k).and_then(|v| v.trim().parse::<i64>().ok());
        Shaping {
            weight: n("canary-weight").unwrap_or(0),
            total: n("canary-weight-total").unwrap_or(100),
            header: s("canary-by-header"),
            header_value: s("canary-by-header-value"),
            header_pattern: s("canary-by-header-pattern"),
            cookie: s("canary-by-cookie"),
        }
    }
}

/// What the header rule decides (`None`: falls through), and its wording.
fn by_header(p: &Shaping, sent: &Sent) -> (Option<bool>, Option<String>) {
    if p.header.is_empty() {
        return (None, None);
    }
    // `util.replace_special_char(header, "-", "_")` then `ngx.var.http_*`:
    // header names match case-insensitively, `-` and `_` alike.
    let key = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    let got = sent
        .headers
        .iter()
        .find(|(k, _)| key(k) == key(&p.header))
        .map(|(_, v)| v.as_str());
    let (rule, hit) = if !p.header_value.is_empty() {
        (
            format!("header {}: {}", p.header, p.header_value),
            got.map(|v| v == p.header_value).filter(|m| *m),
        )
    } else if !p.header_pattern.is_empty() {
        let m = got.map(|v| {
            Pattern::rewrite(&p.header_pattern)
                .ok()
                .and_then(|re| re.is_match(v.as_bytes()).ok())
                .unwrap_or(false)
        });
        (
            format!("header {} matching {:?}", p.header, p.header_pattern),
            m.filter(|m| *m),
        )
    } else {
        let d = match got {
            Some("always") => Some(true),
            Some("never") => Some(false),
            _ => None,
        };
        (format!("header {}: always (never: primary)", p.header), d)
    };
    (hit, Some(rule))
}

fn by_cookie(p: &Shaping, sent: &Sent) -> (Option<bool>, Option<String>) {
    if p.cookie.is_empty() {
        return (None, None);
    }
    let d = match sent
        .cookies
        .iter()
        .find(|(k, _)| *k == p.cookie)
        .map(|(_, v)| v.as_str())
    {
        Some("always") => Some(true),
        Some("never") => Some(false),
        _ => None,
    };
    (
        d,
        Some(format!("cookie {}=always (never: primary)", p.cookie)),
    )
}

fn choose(p: &Shaping, sent: &Sent, view: &mut CanaryView) {
    let (h, hr) = by_header(p, sent);
    let (c, cr) = by_cookie(p, sent);
    let total = if p.total > 100 { p.total } else { 100 };
    let weight = p.weight.clamp(0, total);
    let wr = format!("weight {weight} of {total}");
    view.condition = [hr, cr, Some(wr)]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", else ");
    view.selected = h.or(c);
    if view.selected.is_none() {
        // `math.random(total) <= weight`.
        let prob = weight as f64 / total as f64;
        view.selected = match weight {
            0 => Some(false),
            w if w >= total => Some(true),
            _ => None,
        };
        view.probability = view.selected.is_none().then_some(prob);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shaping(header: &str, value: &str, pattern: &str, cookie: &str, weight: i64) -> Shaping {
        Shaping {
            weight,
            total: 100,
            header: header.into(),
            header_value: value.into(),
            header_pattern: pattern.into(),
            cookie: cookie.into(),
        }
    }

    fn view() -> CanaryView {
        CanaryView {
            ingress: String::new(),
            backend: String::new(),
            primary: String::new(),
            condition: String::new(),
            selected: None,
            probability: None,
            auth_note: None,
        }
    }

    fn sent(h: &[(&str, &str)], c: &[(&str, &str)]) -> Sent {
        let own = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        Sent {
            headers: own(h),
            cookies: own(c),
        }
    }

    /// `balancer.lua`: header, then cookie, then weight; a header value
    /// that does not match falls through to the cookie.
    #[test]
    fn header_then_cookie_then_weight() {
        let p = shaping("X-Canary", "yes", "", "canary", 25);
        let mut v = view();
        choose(&p, &sent(&[("x-canary", "yes")], &[]), &mut v);
        assert_eq!(v.selected, Some(true));
        choose(
            &p,
            &sent(&[("X-Canary", "no")], &[("canary", "always")]),
            &mut v,
        );
        assert_eq!(v.selected, Some(true));
        choose(
            &p,
            &sent(&[("X-Canary", "no")], &[("canary", "never")]),
            &mut v,
        );
        assert_eq!(v.selected, Some(false));
        choose(&p, &sent(&[], &[]), &mut v);
        assert_eq!((v.selected, v.probability), (None, Some(0.25)));
        assert_eq!(
            v.condition,
            "header X-Canary: yes, else cookie canary=always (never: primary), else weight 25 of 100"
        );
        let pat = shaping("X-Canary", "", "^b(eta|1)$", "", 0);
        choose(&pat, &sent(&[("X-Canary", "beta")], &[]), &mut v);
        assert_eq!(v.selected, Some(true));
        choose(&pat, &sent(&[("X-Canary", "gamma")], &[]), &mut v);
        assert_eq!(v.selected, Some(false));
    }
}
