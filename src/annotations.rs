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

/// Read an Ingress's auth annotations.
pub fn auth_of(ing: &Ingress, policy: Option<&Policy>) -> Auth {
    let enforcement = match ing.nginx("auth-url").map(str::trim) {
        Some(url) if !url.is_empty() => {
            if is_stepup_url(url, policy) {
                Enforcement::Stepup {
                    level: query_param(url, "level").unwrap_or("").to_string(),
                    rule: query_param(url, "rule").map(str::to_string),
                }
            } else {
                Enforcement::External(url.to_string())
            }
        }
        _ => match ing.nginx("auth-type") {
            Some("basic" | "digest") if ing.nginx("auth-secret").is_some() => Enforcement::Basic,
            _ => Enforcement::None,
        },
    };
    Auth {
        enforcement,
        signin: ing
            .nginx("auth-signin")
            .map(str::to_string)
            .filter(|s| !s.is_empty()),
        response_headers: ing
            .nginx("auth-response-headers")
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
