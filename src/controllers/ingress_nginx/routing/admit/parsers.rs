//! Each annotation parser's `Parse`, reduced to what decides its outcome
//! (`internal/ingress/annotations/<parser>/main.go`): which errors it
//! returns, which it swallows (falling back to a default), and which deny
//! its locations. `annotations.go` `Extract` then sorts the outcome:
//!
//! - a `ValidationError` returned as is: the Ingress is dropped;
//! - `ErrMissingAnnotations`: the parser's feature is off;
//! - a `LocationDeniedError`: every location answers 503;
//! - any other error (a wrapped `ValidationError` included, as `Extract`
//!   tests the type, not the chain): the parser's result is discarded, so
//!   its feature is off, silently. For `ExternalAuth` that removes the
//!   auth-url.
//!
//! What the controller looks up in the cluster (Secrets, ConfigMaps,
//! Services, certificates) is not modelled: it is taken to exist.

use super::go::{parse_name_ns, split_meta_namespace_key, string_to_url, url_parse};
use super::read::{AnnErr, Reader};
use crate::controllers::ingress_nginx::routing::annotations_table::{Pattern, parse_cidrs};

/// Why a parser's `Parse` failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fail {
    /// An error of reading one annotation, returned as is.
    Err(AnnErr),
    /// A `LocationDeniedError`, with its message.
    Denied(String),
    /// Any other error, with its message.
    Other(String),
}

impl From<AnnErr> for Fail {
    fn from(e: AnnErr) -> Fail {
        Fail::Err(e)
    }
}

type Flow = Result<(), Fail>;

/// `errors.NewLocationDenied(reason)`.
fn denied(reason: &str) -> Fail {
    Fail::Denied(format!("location denied, reason: {reason}"))
}

/// A `ValidationError` returned as is; any other read error swallowed.
fn fatal_validation<T>(r: Result<T, AnnErr>) -> Result<Option<T>, Fail> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_validation() => Err(Fail::Err(e)),
        Err(_) => Ok(None),
    }
}

/// Every error but `ErrMissingAnnotations` returned as is.
fn unless_missing<T>(r: Result<T, AnnErr>) -> Result<Option<T>, Fail> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(AnnErr::Missing) => Ok(None),
        Err(e) => Err(Fail::Err(e)),
    }
}

/// A parser: its name in `NewAnnotationFactory` and its `Parse`.
pub type Parser = (&'static str, fn(&mut Reader) -> Flow);

/// Every parser, by name (`Extract` ranges over a Go map: in no fixed
/// order).
pub const PARSERS: &[Parser] = &[
    ("Aliases", |r| direct(r, "server-alias")),
    ("Allowlist", |r| source_range(r, "allowlist-source-range")),
    ("BackendProtocol", |r| soft(r, &["backend-protocol"])),
    ("BasicDigestAuth", basic_digest_auth),
    ("Canary", canary),
    ("CertificateAuth", certificate_auth),
    ("ClientBodyBufferSize", |r| {
        direct(r, "client-body-buffer-size")
    }),
    ("ConfigurationSnippet", |r| {
        direct(r, "configuration-snippet")
    }),
    ("Connection", |r| direct(r, "connection-proxy-header")),
    ("CorsConfig", cors),
    ("CustomHTTPErrors", custom_http_errors),
    ("CustomHeaders", |r| soft(r, &["custom-headers"])),
    ("DefaultBackend", |r| direct(r, "default-backend")),
    ("Denylist", |r| source_range(r, "denylist-source-range")),
    ("DisableProxyInterceptErrors", |r| {
        soft(r, &["disable-proxy-intercept-errors"])
    }),
    ("EnableGlobalAuth", |r| soft(r, &["enable-global-auth"])),
    ("ExternalAuth", external_auth),
    ("FastCGI", fastcgi),
    ("HTTP2PushPreload", |r| direct(r, "http2-push-preload")),
    ("LoadBalancing", |r| direct(r, "load-balance")),
    ("Logs", |r| {
        soft(r, &["enable-access-log", "enable-rewrite-log"])
    }),
    ("Mirror", |r| {
        soft(r, &["mirror-request-body", "mirror-target", "mirror-host"])
    }),
    ("ModSecurity", modsecurity),
    ("Opentelemetry", opentelemetry),
    ("Proxy", proxy),
    ("ProxySSL", proxy_ssl),
    ("RateLimit", rate_limit),
    ("Redirect", redirect),
    ("Rewrite", rewrite),
    ("SSLCipher", ssl_cipher),
    ("SSLPassthrough", |r| direct(r, "ssl-passthrough")),
    ("Satisfy", satisfy),
    ("ServerSnippet", |r| direct(r, "server-snippet")),
    ("ServiceUpstream", |r| soft(r, &["service-upstream"])),
    ("SessionAffinity", session_affinity),
    ("StreamSnippet", |r| direct(r, "stream-snippet")),
    ("UpstreamHashBy", upstream_hash_by),
    ("UpstreamVhost", |r| direct(r, "upstream-vhost")),
    ("UsePortInRedirects", |r| {
        soft(r, &["use-port-in-redirects"])
    }),
    ("XForwardedPrefix", |r| direct(r, "x-forwarded-prefix")),
];

/// Parsers that return `parser.Get*Annotation`'s result as is
/// (`snippet`, `serversnippet`, `alias`, `connection`, …).
fn direct(r: &mut Reader, name: &str) -> Flow {
    r.read(name)?;
    Ok(())
}

/// Parsers that fall back to a default on every error (`proxy`, `log`,
/// `mirror`, `authreqglobal`, `backendprotocol`, …).
fn soft(r: &mut Reader, names: &[&str]) -> Flow {
    r.soft(names);
    Ok(())
}

/// `ipallowlist`/`ipdenylist` `Parse`: any error but a missing annotation
/// denies the location, and so does an entry that is no address or
/// network (`net.ParseIPNets`).
fn source_range(r: &mut Reader, name: &str) -> Flow {
    let v = match r.str(name) {
        Err(AnnErr::Missing) => return Ok(()),
        Err(e) => return Err(Fail::Denied(e.message())),
        Ok(v) => v,
    };
    if let Some(bad) = v
        .split(',')
        .find(|s| parse_cidrs(s.trim()).is_none() || s.trim().is_empty())
    {
        return Err(Fail::Denied(format!(
            "the annotation does not contain a valid IP address or network: invalid CIDR address: {}",
            bad.trim()
        )));
    }
    Ok(())
}

/// `auth` `Parse` (basic and digest auth). The Secret itself (and its
/// `auth` key) is not looked up.
fn basic_digest_auth(r: &mut Reader) -> Flow {
    let at = r.str("auth-type")?;
    if !Pattern::AuthType.is_match(&at) {
        return Err(denied("invalid authentication type"));
    }
    let secret_type = fatal_validation(r.str("auth-secret-type"))?.unwrap_or("auth-file".into());
    let secret = r.str("auth-secret").map_err(|e| {
        Fail::Denied(format!(
            "error reading secret name from annotation: {}",
            e.message()
        ))
    })?;
    let (ns, _) = split_meta_namespace_key(&secret)
        .map_err(|e| Fail::Denied(format!("error reading secret name from annotation: {e}")))?;
    let ns = if ns.is_empty() { r.namespace } else { ns };
    if !r.allow_cross && ns != r.namespace {
        return Err(Fail::Denied(
            "cross namespace usage of secrets is not allowed".into(),
        ));
    }
    fatal_validation(r.str("auth-realm"))?;
    if secret_type != "auth-file" && secret_type != "auth-map" {
        return Err(Fail::Denied(
            "invalid auth-secret-type in annotation, must be 'auth-file' or 'auth-map'".into(),
        ));
    }
    Ok(())
}

/// `canary` `Parse`: every value falls back to a default; settings
/// without `canary: "true"` discard the whole canary config.
fn canary(r: &mut Reader) -> Flow {
    let enabled = r.bool("canary").unwrap_or(false);
    let weight = r.int("canary-weight").unwrap_or(0);
    r.soft(&["canary-weight-total"]);
    let mut set = weight > 0;
    for n in [
        "canary-by-header",
        "canary-by-header-value",
        "canary-by-header-pattern",
        "canary-by-cookie",
    ] {
        set |= r.str(n).is_ok_and(|v| !v.is_empty());
    }
    if !enabled && set {
        return Err(Fail::Other(
            "the annotation canary does not contain a valid configuration: configured but not enabled"
                .into(),
        ));
    }
    Ok(())
}

/// `authtls` `Parse` (client certificates). The certificate is not looked
/// up.
fn certificate_auth(r: &mut Reader) -> Flow {
    let secret = r.str("auth-tls-secret")?;
    let (ns, _) = parse_name_ns(&secret).map_err(|e| denied(&e))?;
    let ns = if ns.is_empty() { r.namespace } else { ns };
    if !r.allow_cross && ns != r.namespace {
        return Err(denied("cross namespace secrets are not supported"));
    }
    if let Ok(v) = r.str("auth-tls-verify-client") {
        if !Pattern::AuthVerifyClient.is_match(&v) {
            r.reject(
                "auth-tls-verify-client",
                "not on, off, optional or optional_no_ca".into(),
            );
        }
    }
    r.soft(&["auth-tls-verify-depth"]);
    fatal_validation(r.str("auth-tls-error-page"))?;
    fatal_validation(r.bool("auth-tls-pass-certificate-to-upstream"))?;
    fatal_validation(r.str("auth-tls-match-cn"))?;
    Ok(())
}

/// `cors` `Parse`: never fails; values the second check rejects fall back.
fn cors(r: &mut Reader) -> Flow {
    r.soft(&[
        "enable-cors",
        "cors-allow-origin",
        "cors-allow-credentials",
        "cors-max-age",
    ]);
    for (n, p) in [
        ("cors-allow-headers", Pattern::HeadersVariable),
        ("cors-allow-methods", Pattern::CorsMethods),
        ("cors-expose-headers", Pattern::CorsExposeHeaders),
    ] {
        if r.str(n).is_ok_and(|v| !p.is_match(&v)) {
            r.reject(n, format!("does not match {}", p.source()));
        }
    }
    Ok(())
}

/// `customhttperrors` `Parse`.
fn custom_http_errors(r: &mut Reader) -> Flow {
    let c = r.str("custom-http-errors")?;
    for t in c.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if t.parse::<i64>().is_err() {
            return Err(Fail::Other(format!(
                "invalid HTTP status code {t:?}: strconv.Atoi: parsing {t:?}: invalid syntax"
            )));
        }
    }
    Ok(())
}

/// `authreq` `Parse` (`auth-url`). The `auth-proxy-set-headers` ConfigMap
/// is not looked up.
fn external_auth(r: &mut Reader) -> Flow {
    let url = r.str("auth-url")?;
    string_to_url(&url)
        .map_err(|e| Fail::Denied(format!("could not parse auth-url annotation: {e}")))?;
    if r.str("auth-method").is_err_and(|e| e.is_validation()) {
        return Err(denied("invalid HTTP method"));
    }
    r.soft(&[
        "auth-signin",
        "auth-signin-redirect-param",
        "auth-snippet",
        "auth-cache-key",
        "auth-keepalive",
        "auth-keepalive-share-vars",
        "auth-keepalive-requests",
        "auth-keepalive-timeout",
    ]);
    let dur = match r.str("auth-cache-duration") {
        Err(e) if e.is_validation() => {
            return Err(Fail::Other(
                "auth-cache-duration contains invalid value".into(),
            ));
        }
        Ok(v) => v,
        Err(_) => String::new(),
    };
    cache_durations(&dur)?;
    auth_headers(r)?;
    auth_proxy_set_headers(r)?;
    for n in ["auth-request-redirect", "auth-always-set-cookie"] {
        if let Err(e) = r.read(n) {
            if e.is_validation() {
                return Err(Fail::Other(format!("{n} is invalid: {}", e.message())));
            }
        }
    }
    Ok(())
}

/// `authreq.ParseStringToCacheDurations` and `ValidCacheDuration`.
fn cache_durations(input: &str) -> Flow {
    for d in input.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let mut seen = false;
        let mut ok = true;
        for e in d.split(' ').filter(|e| !e.is_empty()) {
            if Pattern::StatusCode.is_match(e) {
                ok &= !seen;
            } else if Pattern::CacheDuration.is_match(e) {
                seen = true;
            }
        }
        if !(ok && seen) {
            return Err(denied(&format!("invalid cache duration: {d}")));
        }
    }
    Ok(())
}

/// `authreq`: `auth-response-headers`.
fn auth_headers(r: &mut Reader) -> Flow {
    let h = match r.str("auth-response-headers") {
        Err(e) if e.is_validation() => return Err(denied("validation error")),
        Ok(v) => v,
        Err(_) => return Ok(()),
    };
    if h.split(',')
        .map(str::trim)
        .any(|x| !x.is_empty() && !Pattern::Header.is_match(x))
    {
        return Err(denied("invalid headers list"));
    }
    Ok(())
}

/// `authreq`: `auth-proxy-set-headers` names a ConfigMap of this
/// namespace.
fn auth_proxy_set_headers(r: &mut Reader) -> Flow {
    let name = r.str("auth-proxy-set-headers").unwrap_or_default();
    let (ns, _) = split_meta_namespace_key(&name).map_err(|e| {
        Fail::Denied(format!(
            "error reading configmap name {name} from annotation: {e}"
        ))
    })?;
    if !r.allow_cross && !ns.is_empty() && ns != r.namespace {
        return Err(Fail::Denied(
            "cross namespace usage of secrets is not allowed".into(),
        ));
    }
    Ok(())
}

/// `fastcgi` `Parse`. The ConfigMap is not looked up.
fn fastcgi(r: &mut Reader) -> Flow {
    fatal_validation(r.str("fastcgi-index"))?;
    let Some(cm) = fatal_validation(r.str("fastcgi-params-configmap"))? else {
        return Ok(());
    };
    let (ns, _) = split_meta_namespace_key(&cm)
        .map_err(|e| Fail::Denied(format!("error reading configmap name from annotation: {e}")))?;
    if !ns.is_empty() && !r.allow_cross && ns != r.namespace {
        return Err(Fail::Other(
            "different namespace is not supported on fast_cgi param configmap".into(),
        ));
    }
    Ok(())
}

/// `modsecurity` `Parse`: every value falls back to a default.
fn modsecurity(r: &mut Reader) -> Flow {
    soft(
        r,
        &[
            "enable-modsecurity",
            "enable-owasp-core-rules",
            "modsecurity-transaction-id",
            "modsecurity-snippet",
        ],
    )
}

/// `opentelemetry` `Parse`: an invalid operation name of an enabled
/// Ingress is returned as is.
fn opentelemetry(r: &mut Reader) -> Flow {
    if !r.bool("enable-opentelemetry").unwrap_or(false) {
        return Ok(());
    }
    r.soft(&["opentelemetry-trust-incoming-span"]);
    fatal_validation(r.str("opentelemetry-operation-name"))?;
    Ok(())
}

/// `proxy` `Parse`: every value falls back to the ConfigMap's.
fn proxy(r: &mut Reader) -> Flow {
    soft(
        r,
        &[
            "proxy-connect-timeout",
            "proxy-send-timeout",
            "proxy-read-timeout",
            "proxy-buffers-number",
            "proxy-buffer-size",
            "proxy-busy-buffers-size",
            "proxy-cookie-path",
            "proxy-cookie-domain",
            "proxy-body-size",
            "proxy-next-upstream",
            "proxy-next-upstream-timeout",
            "proxy-next-upstream-tries",
            "proxy-request-buffering",
            "proxy-redirect-from",
            "proxy-redirect-to",
            "proxy-buffering",
            "proxy-http-version",
            "proxy-max-temp-file-size",
        ],
    )
}

/// `proxyssl` `Parse`. The certificate is not looked up.
fn proxy_ssl(r: &mut Reader) -> Flow {
    let secret = r.str("proxy-ssl-secret")?;
    let (ns, _) = parse_name_ns(&secret).map_err(|e| denied(&e))?;
    if !r.allow_cross && ns != r.namespace {
        return Err(denied("cross namespace secrets are not supported"));
    }
    r.soft(&[
        "proxy-ssl-ciphers",
        "proxy-ssl-protocols",
        "proxy-ssl-name",
        "proxy-ssl-verify-depth",
    ]);
    for n in ["proxy-ssl-verify", "proxy-ssl-server-name"] {
        if r.str(n).is_ok_and(|v| !Pattern::OnOff.is_match(&v)) {
            r.reject(n, "not on or off".into());
        }
    }
    Ok(())
}

/// `ratelimit` `Parse`.
fn rate_limit(r: &mut Reader) -> Flow {
    r.soft(&["limit-rate", "limit-rate-after", "limit-burst-multiplier"]);
    for n in ["limit-rpm", "limit-rps", "limit-connections"] {
        fatal_validation(r.int(n))?;
    }
    let v = fatal_validation(r.str("limit-allowlist"))?.unwrap_or_default();
    if parse_cidrs(&v).is_none() {
        return Err(Fail::Other(format!("invalid CIDR address: {v}")));
    }
    Ok(())
}

/// `redirect` `Parse`: every read error but a missing annotation is
/// returned as is.
fn redirect(r: &mut Reader) -> Flow {
    unless_missing(r.bool("from-to-www-redirect"))?;
    unless_missing(r.bool("relative-redirects"))?;
    let tr = unless_missing(r.str("temporal-redirect"))?.unwrap_or_default();
    if !tr.is_empty() {
        unless_missing(r.int("temporal-redirect-code"))?;
        // isValidURL
        let u = url_parse(&tr).map_err(Fail::Other)?;
        if !u.scheme.starts_with("http") {
            return Err(Fail::Other(format!(
                "only http and https are valid protocols ({})",
                u.scheme
            )));
        }
        return Ok(());
    }
    unless_missing(r.str("permanent-redirect"))?;
    unless_missing(r.int("permanent-redirect-code"))?;
    Ok(())
}

/// `rewrite` `Parse`: every value falls back to a default; an invalid
/// `rewrite-target` becomes `""` (no rewrite, no regex mode), an
/// `app-root` that `url.ParseRequestURI` rejects or finds absolute too.
fn rewrite(r: &mut Reader) -> Flow {
    r.soft(&[
        "rewrite-target",
        "ssl-redirect",
        "preserve-trailing-slash",
        "force-ssl-redirect",
        "use-regex",
    ]);
    if r.str("app-root").is_ok_and(|v| !v.starts_with('/')) {
        r.reject("app-root", "not a path (url.ParseRequestURI)".into());
    }
    Ok(())
}

/// `satisfy` `Parse`: anything but `any` or `all` is `""`.
fn satisfy(r: &mut Reader) -> Flow {
    if r.str("satisfy").is_ok_and(|v| v != "any" && v != "all") {
        r.reject("satisfy", "neither any nor all".into());
    }
    Ok(())
}

/// `sessionaffinity` `Parse`: never fails; cookie settings are read only
/// for `affinity: cookie`.
fn session_affinity(r: &mut Reader) -> Flow {
    let at = r.str("affinity").unwrap_or_default();
    r.soft(&["affinity-mode", "affinity-canary-behavior"]);
    if at != "cookie" {
        return Ok(());
    }
    r.soft(&[
        "session-cookie-name",
        "session-cookie-path",
        "session-cookie-domain",
        "session-cookie-samesite",
        "session-cookie-secure",
        "session-cookie-conditional-samesite-none",
        "session-cookie-change-on-failure",
    ]);
    for n in ["session-cookie-expires", "session-cookie-max-age"] {
        if r.str(n).is_ok_and(|v| !Pattern::CookieExpires.is_match(&v)) {
            r.reject(n, "not a number of seconds".into());
        }
    }
    Ok(())
}

/// `sslcipher` `Parse`.
fn ssl_cipher(r: &mut Reader) -> Flow {
    r.soft(&["ssl-prefer-server-ciphers"]);
    match r.str("ssl-ciphers") {
        Err(e @ AnnErr::Validation(_)) => Err(Fail::Err(e)),
        _ => Ok(()),
    }
}

/// `upstreamhashby` `Parse`.
fn upstream_hash_by(r: &mut Reader) -> Flow {
    unless_missing(r.str("upstream-hash-by"))?;
    unless_missing(r.bool("upstream-hash-by-subset"))?;
    unless_missing(r.int("upstream-hash-by-subset-size"))?;
    Ok(())
}
