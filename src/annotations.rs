//! The auth annotations of an Ingress, read as ingress-nginx reads them.
//!
//! Only what decides a request's fate is modelled here: `auth-url` (stepup's
//! own, carrying `level=` and `rule=`, or a foreign service), `auth-type:
//! basic`, `auth-signin` (turns a 401 into a 302), and
//! `auth-response-headers`. Lint (a later module) reads the rest.

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
    },
    /// An auth-url stepup does not own (oauth2-proxy and the like).
    External(String),
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

/// Whether `url` is stepup's auth endpoint: under the policy's
/// `authService.url` when one is set, else any URL whose path ends in `/auth`
/// and that carries `level=`.
pub fn is_stepup_url(url: &str, policy: Option<&Policy>) -> bool {
    if let Some(base) = policy
        .and_then(|p| p.auth_service.as_ref())
        .map(|a| a.url.as_str())
    {
        if let Some(rest) = url.strip_prefix(base) {
            return rest.starts_with("/auth?") || rest == "/auth";
        }
    }
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
        /// `level=`.
        level: &'a str,
        /// `rule=`.
        rule: Option<&'a str>,
    },
    /// A foreign auth-url.
    External(&'a str),
    /// Basic or digest auth.
    Basic,
}

impl EnforcementRef<'_> {
    /// The owned form.
    pub fn to_owned(self) -> Enforcement {
        match self {
            EnforcementRef::None => Enforcement::None,
            EnforcementRef::Stepup { level, rule } => Enforcement::Stepup {
                level: level.to_string(),
                rule: rule.map(str::to_string),
            },
            EnforcementRef::External(u) => Enforcement::External(u.to_string()),
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
        Some(url) if !url.is_empty() => {
            if is_stepup_url(url, policy) {
                EnforcementRef::Stepup {
                    level: query_param(url, "level").unwrap_or(""),
                    rule: query_param(url, "rule"),
                }
            } else {
                EnforcementRef::External(url)
            }
        }
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
