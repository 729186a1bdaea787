//! nginx's access phase at an ingress-nginx location, before stepup's
//! `auth_request`: the source ranges (`allow`/`deny`) and basic or digest
//! auth.
//!
//! - `nginx.tmpl`, the location block, inside `isLocationAllowed`: the
//!   `denylist-source-range` entries as `deny`, then the
//!   `allowlist-source-range` entries (alias `whitelist-source-range`, read
//!   only when the main name is empty: `parser/validators.go`
//!   `checkAnnotation`) as `allow` followed by `deny all`; then
//!   `auth_request`; then `auth_basic`/`auth_digest` when `auth-type` and
//!   `auth-secret` parse (`annotations/auth/main.go` `Parse`).
//! - nginx runs a phase's handlers in the reverse order the modules
//!   registered them (`ngx_http_init_phase_handlers`), and `auto/modules`
//!   lists `ngx_http_auth_request_module`, then `ngx_http_auth_basic_module`,
//!   then `ngx_http_access_module`: so `allow`/`deny` answer first (403),
//!   then basic auth (401), then `auth_request`. With `satisfy any`
//!   (`ngx_http_core_access_phase`) a 403 of `allow`/`deny` only counts
//!   when no auth lets the request in, and a 401 of auth wins over it. The
//!   digest module is
//!   dynamic (`load_module` in `nginx.tmpl`), registers last and so runs
//!   before `allow`/`deny`: without credentials its 401 comes first. With `satisfy any`
//!   (`annotations/satisfy`) a matching `allow` lets the request in without
//!   auth.
//! - A source range with an entry that is no address or network makes the
//!   parser deny the location (`ipallowlist/main.go` `Parse`, via
//!   `net.ParseIPNets`): the routing model answers 503 before this runs.
//!
//! What stepup cannot know is said, not guessed: the client's address (give
//! `--client-ip`), and whether basic credentials are in the Secret (stepup
//! never reads Secrets; `--basic-auth` says credentials are sent, and they
//! are taken as valid).

use std::net::IpAddr;

use crate::ingress::Ingress;

/// What the request carries beyond its URL and claims (`simulate` flags,
/// `test` case fields). The default knows nothing.
#[derive(Debug, Clone, Default)]
pub struct Client {
    /// The address nginx sees as `$remote_addr` (after `real_ip`, when
    /// `use-forwarded-headers` or the PROXY protocol is on).
    pub ip: Option<IpAddr>,
    /// `user:password` sent as `Authorization: Basic` (or answered to a
    /// digest challenge).
    pub basic_auth: Option<String>,
}

/// One `allow`/`deny` argument: an address or a network.
#[derive(Debug, Clone, Copy)]
struct Net {
    addr: IpAddr,
    bits: u32,
}

impl Net {
    fn parse(spec: &str) -> Option<Net> {
        let spec = spec.trim();
        let (ip, bits) = match spec.split_once('/') {
            None => (spec, None),
            Some((ip, b)) => (ip, Some(b.parse::<u32>().ok()?)),
        };
        let addr: IpAddr = ip.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        (bits <= max).then_some(Net { addr, bits })
    }

    /// `ngx_http_access_module`: an IPv4-mapped IPv6 client matches IPv4
    /// rules.
    fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(c)) => {
                masked(u32::from(n).into(), self.bits, 32)
                    == masked(u32::from(c).into(), self.bits, 32)
            }
            (IpAddr::V6(n), IpAddr::V6(c)) => {
                masked(u128::from(n), self.bits, 128) == masked(u128::from(c), self.bits, 128)
            }
            _ => false,
        }
    }
}

fn masked(v: u128, bits: u32, width: u32) -> u128 {
    if bits == 0 { 0 } else { v >> (width - bits) }
}

/// A location's source ranges, as written (comma-separated).
#[derive(Debug, Clone, Default)]
pub(super) struct Ranges {
    allow: Option<String>,
    deny: Option<String>,
    any: bool,
}

fn non_empty(v: Option<&str>) -> Option<String> {
    v.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl Ranges {
    /// The ranges an Ingress's annotations render.
    pub(super) fn of(ing: &Ingress) -> Ranges {
        Ranges {
            allow: non_empty(ing.nginx("allowlist-source-range"))
                .or_else(|| non_empty(ing.nginx("whitelist-source-range"))),
            deny: non_empty(ing.nginx("denylist-source-range")),
            any: ing.nginx("satisfy").map(str::trim) == Some("any"),
        }
    }

    fn nets(list: &Option<String>) -> Vec<Net> {
        list.as_deref()
            .map(|l| l.split(',').filter_map(Net::parse).collect())
            .unwrap_or_default()
    }
}

/// What `allow`/`deny` do with the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Gate {
    /// No rule decides (none written, or none matched and no `deny all`).
    Continue,
    /// An `allow` matched; with `satisfy any` auth is not asked.
    Allowed {
        /// `satisfy any` is set.
        skip_auth: bool,
    },
    /// 403 before auth.
    Denied(String),
    /// Rules are written but the client's address is not known: the answer
    /// below holds for an allowed address (the condition says which).
    Unknown(String),
}

/// `ngx_http_access_module`: `deny` entries, then `allow` entries and
/// `deny all`; the first rule that matches decides.
pub(super) fn source_gate(r: &Ranges, ip: Option<IpAddr>) -> Gate {
    let (deny, allow) = (Ranges::nets(&r.deny), Ranges::nets(&r.allow));
    if deny.is_empty() && allow.is_empty() {
        return Gate::Continue;
    }
    let Some(ip) = ip else {
        let mut parts = Vec::new();
        if let Some(d) = &r.deny {
            parts.push(format!("403 from {d} (denylist-source-range)"));
        }
        if let (Some(a), true) = (&r.allow, r.any) {
            return Gate::Unknown(format!(
                "the answer depends on the client address (--client-ip; clientIP in a test case): with satisfy: any, a client inside {a} (allowlist-source-range) gets in without auth; this answer is for one outside it{}",
                r.deny
                    .as_ref()
                    .map(|d| format!(
                        ", and one in {d} (denylist-source-range) must pass the auth too"
                    ))
                    .unwrap_or_default()
            ));
        }
        if let Some(a) = &r.allow {
            parts.push(format!("403 from outside {a} (allowlist-source-range)"));
        }
        return Gate::Unknown(format!(
            "the answer depends on the client address (--client-ip; clientIP in a test case): nginx answers {} before any auth",
            parts.join(", and ")
        ));
    };
    if let Some(n) = deny.iter().find(|n| n.contains(ip)) {
        return Gate::Denied(format!(
            "client {ip} is in denylist-source-range {}/{}",
            n.addr, n.bits
        ));
    }
    if allow.is_empty() {
        return Gate::Continue;
    }
    if allow.iter().any(|n| n.contains(ip)) {
        return Gate::Allowed { skip_auth: r.any };
    }
    Gate::Denied(format!(
        "client {ip} is outside allowlist-source-range {} (`deny all`)",
        r.allow.as_deref().unwrap_or_default()
    ))
}

/// `auth_digest` without credentials answers before `allow`/`deny`: the
/// digest module is loaded with `load_module` (`nginx.tmpl`), so it
/// registers its access handler after every static module and runs first.
pub(super) fn digest_first(ing: Option<&Ingress>, client: &Client) -> bool {
    client.basic_auth.is_none() && auth_kind(ing) != "basic"
}

fn auth_kind(ing: Option<&Ingress>) -> &str {
    ing.and_then(|i| i.nginx("auth-type"))
        .map(str::trim)
        .unwrap_or("basic")
}

/// What basic or digest auth does with the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Basic {
    /// `auth_basic off`: the realm is `off`, which nginx reads as "no auth".
    Off,
    /// 401 with this `WWW-Authenticate`.
    Challenge(String),
    /// Credentials were sent; stepup cannot check them against the Secret,
    /// so they are taken as valid.
    Assumed,
}

/// `auth_basic "<realm>"` / `auth_digest "<realm>"` at a location whose
/// Ingress sets `auth-type` (`basic|digest`) and `auth-secret`.
pub(super) fn basic(ing: Option<&Ingress>, client: &Client) -> (Basic, String) {
    let kind = auth_kind(ing);
    // `nginx.tmpl`: `auth_basic` when the type is exactly `basic`, else
    // `auth_digest` (the parser's `basic|digest` regex is unanchored).
    let digest = kind != "basic";
    let realm = ing
        .and_then(|i| i.nginx("auth-realm"))
        .map(str::trim)
        .unwrap_or("");
    let secret = ing
        .and_then(|i| i.nginx("auth-secret"))
        .map(str::trim)
        .unwrap_or("");
    let secret = match (secret.contains('/'), ing) {
        (false, Some(i)) => format!("{}/{secret}", i.namespace),
        _ => secret.to_string(),
    };
    if realm == "off" && !digest {
        return (
            Basic::Off,
            "auth-realm is \"off\": nginx reads `auth_basic off` as no basic auth".into(),
        );
    }
    let scheme = if digest { "Digest" } else { "Basic" };
    match &client.basic_auth {
        Some(cred) => {
            let user = cred.split_once(':').map_or(cred.as_str(), |(u, _)| u);
            (
                Basic::Assumed,
                format!(
                    "{scheme} auth (realm {realm:?}): credentials of user {user:?} sent; stepup does not read Secret {secret}, so they are taken as valid (wrong ones get 401)"
                ),
            )
        }
        None => {
            let header = if digest {
                format!("Digest realm=\"{realm}\", qop=\"auth\", nonce=\"…\"")
            } else {
                format!("Basic realm=\"{realm}\"")
            };
            (
                Basic::Challenge(header),
                format!(
                    "{scheme} auth (realm {realm:?}, Secret {secret}) and no credentials: nginx answers 401; with valid credentials (--basic-auth user:password; basicAuth in a test case) it would pass"
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn ranges(allow: Option<&str>, deny: Option<&str>, any: bool) -> Ranges {
        Ranges {
            allow: allow.map(String::from),
            deny: deny.map(String::from),
            any,
        }
    }

    #[test]
    fn first_matching_rule_decides() {
        let r = ranges(Some("10.0.0.0/8, 192.168.1.7"), Some("10.9.0.0/16"), false);
        assert_eq!(
            source_gate(&r, ip("10.1.2.3")),
            Gate::Allowed { skip_auth: false }
        );
        assert!(matches!(source_gate(&r, ip("10.9.1.1")), Gate::Denied(_)));
        assert!(matches!(
            source_gate(&r, ip("192.168.1.8")),
            Gate::Denied(_)
        ));
        assert_eq!(
            source_gate(&r, ip("::ffff:192.168.1.7")),
            Gate::Allowed { skip_auth: false }
        );
        assert!(matches!(source_gate(&r, None), Gate::Unknown(_)));
        let only_deny = ranges(None, Some("2001:db8::/32"), true);
        assert_eq!(source_gate(&only_deny, ip("10.0.0.1")), Gate::Continue);
        assert!(matches!(
            source_gate(&only_deny, ip("2001:db8::1")),
            Gate::Denied(_)
        ));
        assert_eq!(
            source_gate(&ranges(Some("0.0.0.0/0"), None, true), ip("8.8.8.8")),
            Gate::Allowed { skip_auth: true }
        );
    }
}
