//! The auth annotations of an Ingress, read as ingress-nginx reads them.
//!
//! Only what decides a request's fate is modelled here: `auth-url` (stepup's
//! own, carrying `level=` and `rule=`, or a foreign service), `auth-type:
//! basic`, `auth-signin` (turns a 401 into a 302), and
//! `auth-response-headers`. Lint (a later module) reads the rest.

use crate::controllers::ingress_nginx::routing::{Gate, Location};
use crate::ingress::Ingress;
use crate::policy::Policy;

/// Whether `c` passes ingress-nginx's `auth-url`/`auth-signin` validator
/// (`URLWithNginxVariableRegex`: letters, digits and `- . _ ~ / : , ? & = $`
/// and space).
pub fn is_nginx_url_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '-' | '.' | '_' | '~' | '/' | ':' | ',' | ' ' | '?' | '&' | '=' | '$'
        )
}

/// How a location is protected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enforcement {
    /// No auth annotation: requests reach the backend.
    None,
    /// stepup's auth-url with this level (and rule).
    Stepup {
        /// `level=` of the auth-url.
        level: String,
        /// `rule=` of the auth-url, if present.
        rule: Option<String>,
        /// `host=` of the auth-url, if present (`$host` as generated).
        host: Option<String>,
        /// Why the query fails closed, if it does.
        fault: Option<QueryFault>,
    },
    /// An auth-url stepup does not own (oauth2-proxy and the like).
    External(String),
    /// An auth-url part of which the request picks (see [`Owner`]).
    RequestChosen(String),
    /// `auth-type: basic|digest`.
    Basic,
}

impl Enforcement {
    /// Short label for output.
    pub fn label(&self) -> String {
        match self {
            Enforcement::None => "none".into(),
            Enforcement::Stepup { level, .. } => format!("stepup:{level}"),
            Enforcement::External(u) => format!("external:{u}"),
            Enforcement::RequestChosen(u) => format!("request-chosen:{u}"),
            Enforcement::Basic => "basic".into(),
        }
    }
}

/// The auth settings of one Ingress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// What checks requests.
    pub enforcement: Enforcement,
    /// `auth-signin`, if set.
    pub signin: Option<String>,
    /// `auth-response-headers`.
    pub response_headers: Vec<String>,
}

/// Query parameter `key` of a URL (no percent-decoding: ingress-nginx's
/// validator forbids `%` in auth-url anyway).
pub fn query_param<'a>(url: &'a str, key: &str) -> Option<&'a str> {
    let q = url.split_once('?')?.1;
    q.split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

/// The one nginx variable stepup's auth-url may carry: `host=$host`, the
/// host nginx selected the server by (validated by nginx).
pub const HOST_PARAM: &str = "$host";

/// Why a stepup auth-url's query says nothing usable. The runtime's `/auth`
/// refuses such a query with exactly this message, and `simulate` and lint
/// say the same: the check fails closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryFault {
    /// A parameter is present with an empty value (`level=`).
    Empty(&'static str),
    /// A parameter appears twice (`level=admin&level=public`).
    Repeated(&'static str),
}

impl std::fmt::Display for QueryFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryFault::Empty(k) => write!(f, "auth-url parameter {k} is empty"),
            QueryFault::Repeated(k) => write!(f, "auth-url parameter {k} appears more than once"),
        }
    }
}

/// The parameters of stepup's auth-url: `level`, `rule` and `host`, each
/// at most once and never empty (an auth-url that says two things, such as
/// `level=admin&level=public`, fails closed instead of taking one).
/// Values are taken as written: ingress-nginx's validator forbids `%` in an
/// auth-url, and `$host` expands to a name nginx has validated.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AuthQuery<'a> {
    /// `level=`: the need the location was annotated with.
    pub level: Option<&'a str>,
    /// `rule=`: the policy rule `generate` matched the Ingress path to.
    pub rule: Option<&'a str>,
    /// `host=$host`: the host nginx selected the server by.
    pub host: Option<&'a str>,
}

impl<'a> AuthQuery<'a> {
    /// Parse a query string; other parameters are ignored.
    pub fn parse(q: &'a str) -> Result<AuthQuery<'a>, QueryFault> {
        let mut out = AuthQuery::default();
        for kv in q.split('&') {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let (name, slot) = match k {
                "level" => ("level", &mut out.level),
                "rule" => ("rule", &mut out.rule),
                "host" => ("host", &mut out.host),
                _ => continue,
            };
            if v.is_empty() {
                return Err(QueryFault::Empty(name));
            }
            if slot.replace(v).is_some() {
                return Err(QueryFault::Repeated(name));
            }
        }
        Ok(out)
    }
}

/// Whose check an auth-url is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// stepup's `/auth` at `authService.url` (or one of its in-cluster
    /// spellings).
    Stepup,
    /// Another service.
    Foreign,
    /// The request picks part of the URL (`$http_x_auth_host`, `$arg_level`,
    /// `$uri`, ...): whoever sends it can point the check at a server of
    /// their own or choose what it is asked. The reason says which part.
    RequestChosen(&'static str),
}

/// The base URL taken as stepup's when the policy has no `authService`: the
/// Service `stepup install` creates, in its default namespace, on any port.
const DEFAULT_SERVICE: (&str, &str) = ("stepup", "stepup-system");

/// `scheme://authority/path?query`, split. `None` when not an http(s) URL.
struct Parts<'a> {
    https: bool,
    authority: &'a str,
    path: &'a str,
    query: &'a str,
}

fn parts(url: &str) -> Option<Parts<'_>> {
    let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else {
        (false, url.strip_prefix("http://")?)
    };
    let (before_q, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = match before_q.find('/') {
        Some(i) => before_q.split_at(i),
        None => (before_q, ""),
    };
    Some(Parts {
        https,
        authority,
        path,
        query,
    })
}

/// Host (lower case, without a trailing dot) and port of an authority
/// without userinfo; `None` if the port is not a number.
fn host_port(authority: &str, https: bool) -> Option<(String, u16)> {
    let default = if https { 443 } else { 80 };
    // The port follows the last `:` that is not inside `[...]` (IPv6).
    let (host, port) = match authority
        .rfind(':')
        .filter(|&i| !authority[i..].contains(']'))
    {
        Some(i) => (&authority[..i], authority[i + 1..].parse::<u16>().ok()?),
        None => (authority, default),
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    Some((host, port))
}

/// The Service `(name, namespace)` an in-cluster host names, spelt
/// `name.ns`, `name.ns.svc` or `name.ns.svc.cluster.local` (what the
/// controller's resolver, with the cluster's search domains, resolves to
/// the same Service). A bare `name` resolves in the controller's own
/// namespace, so it names no fixed Service and is not taken.
fn service_of(host: &str) -> Option<(&str, &str)> {
    let h = host
        .strip_suffix(".svc.cluster.local")
        .or_else(|| host.strip_suffix(".svc"))
        .unwrap_or(host);
    let (name, ns) = h.split_once('.')?;
    (!ns.contains('.') && !name.is_empty() && !ns.is_empty()).then_some((name, ns))
}

/// Whether two hosts name the same server: equal, or the same Service.
fn same_host(a: &str, b: &str) -> bool {
    a == b || service_of(a).is_some_and(|s| service_of(b) == Some(s))
}

/// Whose check `url` is. It is stepup's only when its scheme, host and port
/// are `authService.url`'s (the host in any in-cluster spelling, case and a
/// trailing dot aside), it has no userinfo, and its path is that URL's path
/// plus `/auth`. Without `authService`, the `stepup` Service in
/// `stepup-system` on any port is taken as stepup's. Any nginx variable in
/// the scheme, host or path, or in the query other than `host=$host`, is
/// chosen by the request; `$host` or `$server_name` as the whole host name
/// the server nginx routed to, and makes the URL foreign (never stepup's).
pub fn owner(url: &str, policy: Option<&Policy>) -> Owner {
    let Some(u) = parts(url) else {
        return if url.contains('$') {
            Owner::RequestChosen("the scheme")
        } else {
            Owner::Foreign
        };
    };
    if u.authority.contains('$') {
        // `$host` and `$server_name` are the server nginx routed to (a
        // name it validated and serves): the documented oauth2-proxy set-up,
        // a foreign check. Any other variable is the client's choice.
        let h = u.authority.split(':').next().unwrap_or("");
        let routed = matches!(h, "$host" | "$server_name") && !u.authority[h.len()..].contains('$');
        return if routed {
            Owner::Foreign
        } else {
            Owner::RequestChosen("the auth server's host")
        };
    }
    if u.path.contains('$') {
        return Owner::RequestChosen("the path on the auth server");
    }
    let var_in_query = u
        .query
        .split('&')
        .any(|kv| kv.contains('$') && kv != "host=$host");
    if u.authority.contains('@') {
        return Owner::Foreign;
    }
    let Some((host, port)) = host_port(u.authority, u.https) else {
        return Owner::Foreign;
    };
    let ours = match policy.and_then(|p| p.auth_service.as_ref()) {
        Some(a) => parts(&a.url).is_some_and(|b| {
            b.https == u.https
                && host_port(b.authority, b.https)
                    .is_some_and(|(bh, bp)| bp == port && same_host(&bh, &host))
                && u.path.strip_prefix(b.path.trim_end_matches('/')) == Some("/auth")
        }),
        None => service_of(&host) == Some(DEFAULT_SERVICE) && u.path == "/auth",
    };
    match (ours, var_in_query) {
        (true, true) => Owner::RequestChosen("a parameter of stepup's auth-url"),
        (true, false) => Owner::Stepup,
        (false, _) => Owner::Foreign,
    }
}

/// Whether `url` is stepup's auth endpoint (see [`owner`]).
pub fn is_stepup_url(url: &str, policy: Option<&Policy>) -> bool {
    owner(url, policy) == Owner::Stepup
}

/// Whether a foreign `url` looks like stepup's (a path ending in `/auth`
/// and a `level=`): another host or Service impersonating it.
pub fn looks_like_stepup(url: &str) -> bool {
    let path = url.split_once('?').map_or(url, |(p, _)| p);
    path.ends_with("/auth") && query_param(url, "level").is_some()
}

/// [`Enforcement`], borrowed from the Ingress (no allocation; the per-request
/// path of `decide` uses it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnforcementRef<'a> {
    /// No auth annotation.
    None,
    /// stepup's auth-url.
    Stepup {
        /// `level=` (empty when absent).
        level: &'a str,
        /// `rule=`.
        rule: Option<&'a str>,
        /// `host=`.
        host: Option<&'a str>,
        /// Why the query fails closed, if it does.
        fault: Option<QueryFault>,
    },
    /// A foreign auth-url.
    External(&'a str),
    /// An auth-url part of which the request picks.
    RequestChosen(&'a str),
    /// Basic or digest auth.
    Basic,
}

impl EnforcementRef<'_> {
    /// The owned form.
    pub fn to_owned(self) -> Enforcement {
        match self {
            EnforcementRef::None => Enforcement::None,
            EnforcementRef::Stepup {
                level,
                rule,
                host,
                fault,
            } => Enforcement::Stepup {
                level: level.to_string(),
                rule: rule.map(str::to_string),
                host: host.map(str::to_string),
                fault,
            },
            EnforcementRef::External(u) => Enforcement::External(u.to_string()),
            EnforcementRef::RequestChosen(u) => Enforcement::RequestChosen(u.to_string()),
            EnforcementRef::Basic => Enforcement::Basic,
        }
    }
}

/// [`Auth`], borrowed from the Ingress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthRef<'a> {
    /// What checks requests.
    pub enforcement: EnforcementRef<'a>,
    /// `auth-signin`, if set.
    pub signin: Option<&'a str>,
    /// `auth-response-headers`, as written (comma-separated).
    pub response_headers: Option<&'a str>,
}

impl AuthRef<'_> {
    /// Whether `header` is passed to the backend (all are when the
    /// annotation is absent, as stepup's identity headers are then unused).
    pub fn passes(&self, header: &str) -> bool {
        self.response_headers.is_none_or(|list| {
            list.split(',')
                .any(|h| h.trim().eq_ignore_ascii_case(header))
        })
    }
}

/// Read an Ingress's auth annotations without allocating.
pub fn auth_ref<'a>(ing: &'a Ingress, policy: Option<&Policy>) -> AuthRef<'a> {
    // One descent into the sorted map: every key we need starts with
    // `nginx.ingress.kubernetes.io/auth-` (`-` + 1 is `.`).
    const FROM: &str = "nginx.ingress.kubernetes.io/auth-";
    const TO: &str = "nginx.ingress.kubernetes.io/auth.";
    let (mut url, mut signin, mut kind, mut secret, mut headers) = (None, None, None, false, None);
    for (k, v) in ing.annotations.range::<str, _>((
        std::ops::Bound::Included(FROM),
        std::ops::Bound::Excluded(TO),
    )) {
        match &k[FROM.len()..] {
            "url" => url = Some(v.trim()),
            "signin" => signin = Some(v.as_str()).filter(|s| !s.is_empty()),
            "type" => kind = Some(v.as_str()),
            "secret" => secret = true,
            "response-headers" => headers = Some(v.as_str()).filter(|s| !s.trim().is_empty()),
            _ => {}
        }
    }
    let enforcement = match url {
        Some(url) if !url.is_empty() => url_enforcement(url, policy),
        _ => match kind {
            Some("basic" | "digest") if secret => EnforcementRef::Basic,
            _ => EnforcementRef::None,
        },
    };
    AuthRef {
        enforcement,
        signin,
        response_headers: headers,
    }
}

/// What an auth URL enforces: stepup's (with its query), a foreign check,
/// or one the request picks.
fn url_enforcement<'a>(url: &'a str, policy: Option<&Policy>) -> EnforcementRef<'a> {
    match owner(url, policy) {
        Owner::Stepup => {
            let query = url.split_once('?').map_or("", |(_, q)| q);
            let (q, fault) = match AuthQuery::parse(query) {
                Ok(q) => (q, None),
                Err(f) => (AuthQuery::default(), Some(f)),
            };
            EnforcementRef::Stepup {
                level: q.level.unwrap_or(""),
                rule: q.rule,
                host: q.host,
                fault,
            }
        }
        Owner::Foreign => EnforcementRef::External(url),
        Owner::RequestChosen(_) => EnforcementRef::RequestChosen(url),
    }
}

/// The auth the controller renders at `loc`, from its Ingress's `base`:
/// none under a `no-auth-locations` entry, the ConfigMap's
/// `global-auth-url` where it applies (`nginx.tmpl`, the location block).
pub fn at_location<'a>(
    base: AuthRef<'a>,
    loc: &'a Location,
    policy: Option<&Policy>,
) -> AuthRef<'a> {
    match &loc.gate {
        Gate::Ingress | Gate::OptedOut(_) => base,
        Gate::NoAuth(_) => AuthRef {
            enforcement: EnforcementRef::None,
            signin: base.signin,
            response_headers: base.response_headers,
        },
        Gate::Global(url) => AuthRef {
            enforcement: url_enforcement(url, policy),
            signin: None,
            response_headers: None,
        },
    }
}

/// Read an Ingress's auth annotations.
pub fn auth_of(ing: &Ingress, policy: Option<&Policy>) -> Auth {
    let r = auth_ref(ing, policy);
    Auth {
        enforcement: r.enforcement.to_owned(),
        signin: r.signin.map(str::to_string),
        response_headers: r
            .response_headers
            .map(|h| {
                h.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stepup_urls_are_recognised() {
        let u = "http://stepup.stepup-system.svc.cluster.local:8080/auth?level=admin&rule=admin-console";
        assert!(is_stepup_url(u, None));
        assert_eq!(query_param(u, "level"), Some("admin"));
        assert_eq!(query_param(u, "rule"), Some("admin-console"));
        assert!(!is_stepup_url("https://$host/oauth2/auth", None));
        assert_eq!(query_param("http://x/auth?levelx=1", "level"), None);
    }

    #[test]
    fn validator_charset() {
        assert!(
            "http://a.b:80/auth?level=x&rule=y"
                .chars()
                .all(is_nginx_url_char)
        );
        for bad in ['%', '#', ';', '{', '}', '"', '\'', '\n'] {
            assert!(!is_nginx_url_char(bad), "{bad:?}");
        }
    }
}
