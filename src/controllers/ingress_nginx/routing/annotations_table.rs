//! Every annotation ingress-nginx v1.15.1 knows, with its risk and its
//! validator, as the parsers declare them (`internal/ingress/annotations/
//! <parser>/main.go`, each parser's `parser.AnnotationFields`), and the
//! validators themselves (`annotations/parser/validators.go`).
//!
//! `parser` is the name the parser has in `annotations.go`
//! `NewAnnotationFactory` (the name the controller's messages use:
//! "annotation group ExternalAuth contains risky annotation …").
//!
//! The Go regular expressions are mirrored with the `regex` crate, which
//! follows RE2 like Go's `regexp`. Go's `\d` and `\s` are ASCII-only while
//! the crate's are Unicode, so they are written out as `[0-9]` and
//! `[\t\n\f\r ]`; escapes of non-punctuation (`\_`, `\~`) are written plain.
//! `tests` compiles every pattern and checks each against the strings the
//! Go one accepts and rejects.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::OnceLock;

use regex::Regex;

use super::settings::{Risk, parse_bool};

/// A Go regular expression of the validators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// `parser.IsValidRegex`.
    IsValidRegex,
    /// `parser.SizeRegex`.
    Size,
    /// `parser.URLIsValidRegex`.
    UrlIsValid,
    /// `parser.BasicCharsRegex`.
    BasicChars,
    /// `parser.ExtendedCharsRegex`.
    ExtendedChars,
    /// `parser.CharsWithSpace`.
    CharsWithSpace,
    /// `parser.NGINXVariable`.
    NginxVariable,
    /// `parser.RegexPathWithCapture`.
    RegexPathWithCapture,
    /// `parser.HeadersVariable`.
    HeadersVariable,
    /// `parser.URLWithNginxVariableRegex`.
    UrlWithNginxVariable,
    /// `auth.authTypeRegex` (unanchored).
    AuthType,
    /// `auth.authSecretTypeRegex` (unanchored).
    AuthSecretType,
    /// `authreq.methodsRegex`.
    Methods,
    /// `authreq.headerRegexp` (`ValidHeader`).
    Header,
    /// `authreq.statusCodeRegex`.
    StatusCode,
    /// `authreq.durationRegex`.
    CacheDuration,
    /// `authtls.authVerifyClientRegex`.
    AuthVerifyClient,
    /// `authtls.redirectRegex`.
    AuthTlsErrorPage,
    /// `connection.validConnectionHeaderValue`.
    ConnectionHeader,
    /// `cors.corsOriginRegexValidator`.
    CorsOrigins,
    /// `cors.corsMethodsRegex`.
    CorsMethods,
    /// `cors.corsExposeHeadersRegex`.
    CorsExposeHeaders,
    /// `customhttperrors.arrayOfHTTPErrors`.
    HttpErrors,
    /// `fastcgi.regexValidIndexAnnotationAndKey`.
    FastcgiIndex,
    /// `mirror.OnOffRegex`, `proxyssl.proxySSLOnOffRegex`.
    OnOff,
    /// `opentelemetry.regexOperationName`.
    OperationName,
    /// `proxy.validUpstreamAnnotation`.
    NextUpstream,
    /// `proxy.cookieDomainRegex`.
    CookieDomain,
    /// `proxyssl.proxySSLProtocolRegex`.
    ProxySslProtocols,
    /// `proxyssl.proxySSLCiphersRegex`.
    ProxySslCiphers,
    /// `sessionaffinity.affinityCookieExpiresRegex` (anchored on one side
    /// of each alternative only, as in Go).
    CookieExpires,
    /// `sslcipher.regexValidSSLCipher`.
    SslCiphers,
    /// `upstreamhashby.hashByRegex` (POSIX, which for a match test of an
    /// anchored pattern decides the same).
    HashBy,
    /// `parser.MaliciousRegex`.
    Malicious,
}

/// `parser.alphaNumericChars`, `\-\.\_\~a-zA-Z0-9\/:` in Go.
macro_rules! alnum {
    () => {
        r"\-\._~a-zA-Z0-9/:"
    };
}

const PATTERNS: &[(Pattern, &str)] = &[
    // "^[/" + alphaNumericChars + regexp.QuoteMeta(`^$[](){}*+?|&=\`) + "]*$"
    (
        Pattern::IsValidRegex,
        concat!(r"^[/", alnum!(), r"\^\$\[\]\(\)\{\}\*\+\?\|&=\\]*$"),
    ),
    // `^(?i)\d+[bkmg]?$`
    (Pattern::Size, r"^(?i)[0-9]+[bkmg]?$"),
    // "^[" + alphaNumericChars + regexp.QuoteMeta(`,:?&=`) + "]*$"
    (Pattern::UrlIsValid, concat!(r"^[", alnum!(), r",:\?&=]*$")),
    (Pattern::BasicChars, concat!(r"^[/", alnum!(), r"]*$")),
    (Pattern::ExtendedChars, concat!(r"^[/", alnum!(), r", ]*$")),
    (Pattern::CharsWithSpace, concat!(r"^[/", alnum!(), r" ]*$")),
    // `^[A-Za-z0-9\-\_\$\{\}]*$`
    (Pattern::NginxVariable, r"^[A-Za-z0-9\-_\$\{\}]*$"),
    // `^/?[` + alphaNumericChars + `\/\$]*$`
    (
        Pattern::RegexPathWithCapture,
        concat!(r"^/?[", alnum!(), r"/\$]*$"),
    ),
    // `^[A-Za-z0-9-_, ]*$`: `0-9` is a range, then `-` and `_` (as in Go).
    (Pattern::HeadersVariable, r"^[A-Za-z0-9-_, ]*$"),
    // "^[" + extendedAlphaNumeric + urlEnabledChars + "$]*$"
    (
        Pattern::UrlWithNginxVariable,
        concat!(r"^[", alnum!(), r", ,:\?&=$]*$"),
    ),
    (Pattern::AuthType, r"basic|digest"),
    (Pattern::AuthSecretType, r"auth-file|auth-map"),
    (
        Pattern::Methods,
        r"^(GET|HEAD|POST|PUT|PATCH|DELETE|CONNECT|OPTIONS|TRACE)$",
    ),
    // `^[a-zA-Z\d\-_]+$`
    (Pattern::Header, r"^[a-zA-Z0-9\-_]+$"),
    (Pattern::StatusCode, r"^[0-9]{3}$"),
    (Pattern::CacheDuration, r"^[0-9]+(ms|s|m|h|d|w|M|y)$"),
    (
        Pattern::AuthVerifyClient,
        r"^(on|off|optional|optional_no_ca)$",
    ),
    // `^(@[A-Za-z0-9_-]+|((https?://)?[A-Za-z0-9\-.]+(:\d+)?)?(/[A-Za-z0-9\-_.]+)*/?)$`
    (
        Pattern::AuthTlsErrorPage,
        r"^(@[A-Za-z0-9_-]+|((https?://)?[A-Za-z0-9\-.]+(:[0-9]+)?)?(/[A-Za-z0-9\-_.]+)*/?)$",
    ),
    (Pattern::ConnectionHeader, r"^(close|keep-alive)$"),
    // `^((((([a-z]+://)?(\*\.)?[A-Za-z0-9\-.]*(:\d+)?,?)|null)+)|\*)?$`
    (
        Pattern::CorsOrigins,
        r"^((((([a-z]+://)?(\*\.)?[A-Za-z0-9\-.]*(:[0-9]+)?,?)|null)+)|\*)?$",
    ),
    // `^([A-Za-z]+,?\s?)+$`
    (Pattern::CorsMethods, r"^([A-Za-z]+,?[\t\n\f\r ]?)+$"),
    // `^(([A-Za-z0-9\-\_]+|\*),?\s?)+$`
    (
        Pattern::CorsExposeHeaders,
        r"^(([A-Za-z0-9\-_]+|\*),?[\t\n\f\r ]?)+$",
    ),
    // `^(?:[4,5]\d{2},?)*$`
    (Pattern::HttpErrors, r"^(?:[4,5][0-9]{2},?)*$"),
    // `^[A-Za-z0-9.\-\_]+$`
    (Pattern::FastcgiIndex, r"^[A-Za-z0-9.\-_]+$"),
    (Pattern::OnOff, r"^(on|off)$"),
    (Pattern::OperationName, r"^[A-Za-z0-9_\-]*$"),
    // `^((error|timeout|…|off)\s?)+$`
    (
        Pattern::NextUpstream,
        r"^((error|timeout|invalid_header|http_500|http_502|http_503|http_504|http_403|http_404|http_429|non_idempotent|off)[\t\n\f\r ]?)+$",
    ),
    // `^(off|[` + cookieDomainChars + `]+\s+[` + cookieDomainChars + `]+)$`
    (
        Pattern::CookieDomain,
        concat!(r"^(off|[", alnum!(), r"]+[\t\n\f\r ]+[", alnum!(), r"]+)$"),
    ),
    (Pattern::ProxySslProtocols, r"^(TLSv1\.2|TLSv1\.3| )*$"),
    // `^[A-Za-z0-9\+:\_\-!]*$`
    (Pattern::ProxySslCiphers, r"^[A-Za-z0-9\+:_\-!]*$"),
    // `(^0|-?[1-9]\d*$)`
    (Pattern::CookieExpires, r"(^0|-?[1-9][0-9]*$)"),
    (
        Pattern::SslCiphers,
        r"^(?:(?:[A-Za-z0-9!:+\-_])*(?:@STRENGTH)*(?:@SECLEVEL=[0-5])*(?:@STRENGTH)*)*$",
    ),
    // `^[A-Za-z0-9\-` + regexp.QuoteMeta("_${}") + `]*$`
    (Pattern::HashBy, r"^[A-Za-z0-9\-_\$\{\}]*$"),
    (Pattern::Malicious, r"\r|\n"),
];

impl Pattern {
    /// The Rust spelling of the Go pattern.
    pub fn source(self) -> &'static str {
        PATTERNS
            .iter()
            .find(|(p, _)| *p == self)
            .map_or("", |(_, s)| s)
    }

    /// Whether `s` matches (Go's `MatchString`). A pattern that did not
    /// compile (a bug the tests catch) matches nothing.
    pub fn is_match(self, s: &str) -> bool {
        static COMPILED: OnceLock<Vec<(Pattern, Option<Regex>)>> = OnceLock::new();
        let all = COMPILED.get_or_init(|| {
            PATTERNS
                .iter()
                .map(|(p, src)| (*p, Regex::new(src).ok()))
                .collect()
        });
        all.iter()
            .find(|(p, _)| *p == self)
            .and_then(|(_, re)| re.as_ref())
            .is_some_and(|re| re.is_match(s))
    }
}

/// An annotation's validator (`parser.AnnotationValidator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validator {
    /// `ValidateNull` (snippets): accepts everything.
    Null,
    /// `ValidateBool`: `strconv.ParseBool`.
    Bool,
    /// `ValidateInt`: `strconv.Atoi`.
    Int,
    /// `ValidateCIDRs`: `net.ParseCIDRs`.
    Cidrs,
    /// `ValidateServiceName`: a DNS-1035 label.
    ServiceName,
    /// `ValidateServerName`: trimmed, then `IsValidRegex`.
    ServerName,
    /// `ValidateArrayOfServerName`: each `,`-separated part a server name.
    ServerNames,
    /// `CommonNameAnnotationValidator`: `CN=` and a regex.
    CommonName,
    /// `ValidateOptions(options, caseSensitive, trimSpace)`.
    Options(&'static [&'static str], bool, bool),
    /// `ValidateRegex(regex, removeSpace)`.
    Regex(Pattern, bool),
}

impl Validator {
    /// Whether the validator accepts `v` (its `error` is nil).
    pub fn accepts(self, v: &str) -> bool {
        match self {
            Validator::Null => true,
            Validator::Bool => parse_bool(v).is_some(),
            Validator::Int => atoi(v).is_some(),
            Validator::Cidrs => parse_cidrs(v).is_some(),
            Validator::ServiceName => is_dns1035_label(v),
            Validator::ServerName => Pattern::IsValidRegex.is_match(v.trim()),
            Validator::ServerNames => v
                .split(',')
                .all(|p| Pattern::IsValidRegex.is_match(p.trim())),
            // Go's regexp and the regex crate accept nearly the same syntax.
            Validator::CommonName => v
                .strip_prefix("CN=")
                .is_some_and(|re| Regex::new(re).is_ok()),
            Validator::Options(opts, case_sensitive, trim) => {
                let s = if trim { v.trim() } else { v };
                let s = if case_sensitive {
                    s.to_string()
                } else {
                    s.to_lowercase()
                };
                opts.contains(&s.as_str())
            }
            Validator::Regex(p, remove_space) => {
                let s = if remove_space {
                    v.replace(' ', "")
                } else {
                    v.to_string()
                };
                p.is_match(&s) && !Pattern::Malicious.is_match(&s)
            }
        }
    }

    /// How the parser reads the value.
    pub fn kind(self) -> Kind {
        match self {
            Validator::Bool => Kind::Bool,
            Validator::Int => Kind::Int,
            _ => Kind::Str,
        }
    }
}

/// How a parser reads an annotation (`parser.GetBoolAnnotation`,
/// `GetIntAnnotation`, `GetStringAnnotation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `strconv.ParseBool` of the raw value.
    Bool,
    /// `strconv.Atoi` of the raw value.
    Int,
    /// The value with each line trimmed (`normalizeString`); empty is an
    /// error.
    Str,
}

/// One annotation the controller knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// The name after the prefix.
    pub name: &'static str,
    /// The parser it belongs to (`NewAnnotationFactory`'s key).
    pub parser: &'static str,
    /// Its risk (`AnnotationConfig.Risk`).
    pub risk: Risk,
    /// Its validator.
    pub validator: Validator,
    /// Its one alias (`AnnotationAliases`), read when the name's value is
    /// empty or absent.
    pub alias: Option<&'static str>,
}

const fn s(
    name: &'static str,
    parser: &'static str,
    risk: Risk,
    validator: Validator,
    alias: Option<&'static str>,
) -> Spec {
    Spec {
        name,
        parser,
        risk,
        validator,
        alias,
    }
}

use Pattern::*;
use Risk::{Critical, High, Low, Medium};
use Validator::{
    Bool, Cidrs, CommonName, Int, Null, Options, Regex as Re, ServerName, ServerNames, ServiceName,
};

/// Every annotation of ingress-nginx v1.15.1, parser by parser in the
/// order of `internal/ingress/annotations/`. `auth-secret` is
/// `auth.AuthSecretConfig`.
pub const SPECS: &[Spec] = &[
    s("server-alias", "Aliases", High, ServerNames, None),
    s(
        "auth-secret",
        "BasicDigestAuth",
        Medium,
        Re(BasicChars, true),
        None,
    ),
    s(
        "auth-secret-type",
        "BasicDigestAuth",
        Low,
        Re(AuthSecretType, true),
        None,
    ),
    s(
        "auth-realm",
        "BasicDigestAuth",
        Medium,
        Re(CharsWithSpace, false),
        None,
    ),
    s(
        "auth-type",
        "BasicDigestAuth",
        Low,
        Re(AuthType, true),
        None,
    ),
    s(
        "auth-url",
        "ExternalAuth",
        High,
        Re(UrlWithNginxVariable, true),
        None,
    ),
    s("auth-method", "ExternalAuth", Low, Re(Methods, true), None),
    s(
        "auth-signin",
        "ExternalAuth",
        High,
        Re(UrlWithNginxVariable, true),
        None,
    ),
    s(
        "auth-signin-redirect-param",
        "ExternalAuth",
        Medium,
        Re(UrlIsValid, true),
        None,
    ),
    s("auth-snippet", "ExternalAuth", Critical, Null, None),
    s(
        "auth-cache-key",
        "ExternalAuth",
        Medium,
        Re(NginxVariable, true),
        None,
    ),
    s("auth-keepalive", "ExternalAuth", Low, Int, None),
    s("auth-keepalive-share-vars", "ExternalAuth", Low, Bool, None),
    s("auth-keepalive-requests", "ExternalAuth", Low, Int, None),
    s("auth-keepalive-timeout", "ExternalAuth", Low, Int, None),
    s(
        "auth-cache-duration",
        "ExternalAuth",
        Medium,
        Re(ExtendedChars, false),
        None,
    ),
    s(
        "auth-response-headers",
        "ExternalAuth",
        Medium,
        Re(HeadersVariable, true),
        None,
    ),
    s(
        "auth-proxy-set-headers",
        "ExternalAuth",
        Medium,
        Re(BasicChars, true),
        None,
    ),
    s(
        "auth-request-redirect",
        "ExternalAuth",
        Medium,
        Re(UrlIsValid, true),
        None,
    ),
    s("auth-always-set-cookie", "ExternalAuth", Low, Bool, None),
    s("enable-global-auth", "EnableGlobalAuth", Low, Bool, None),
    s(
        "auth-tls-secret",
        "CertificateAuth",
        Medium,
        Re(BasicChars, true),
        None,
    ),
    s(
        "auth-tls-verify-client",
        "CertificateAuth",
        Medium,
        Re(AuthVerifyClient, true),
        None,
    ),
    s("auth-tls-verify-depth", "CertificateAuth", Low, Int, None),
    s(
        "auth-tls-error-page",
        "CertificateAuth",
        High,
        Re(AuthTlsErrorPage, true),
        None,
    ),
    s(
        "auth-tls-pass-certificate-to-upstream",
        "CertificateAuth",
        Low,
        Bool,
        None,
    ),
    s(
        "auth-tls-match-cn",
        "CertificateAuth",
        High,
        CommonName,
        None,
    ),
    s(
        "backend-protocol",
        "BackendProtocol",
        Low,
        Options(
            &["auto_http", "http", "https", "grpc", "grpcs", "fcgi"],
            false,
            true,
        ),
        None,
    ),
    s("canary", "Canary", Low, Bool, None),
    s("canary-weight", "Canary", Low, Int, None),
    s("canary-weight-total", "Canary", Low, Int, None),
    s(
        "canary-by-header",
        "Canary",
        Medium,
        Re(BasicChars, true),
        None,
    ),
    s(
        "canary-by-header-value",
        "Canary",
        Medium,
        Re(BasicChars, true),
        None,
    ),
    s(
        "canary-by-header-pattern",
        "Canary",
        Medium,
        Re(IsValidRegex, false),
        None,
    ),
    s(
        "canary-by-cookie",
        "Canary",
        Medium,
        Re(BasicChars, true),
        None,
    ),
    s(
        "client-body-buffer-size",
        "ClientBodyBufferSize",
        Low,
        Re(Size, true),
        None,
    ),
    s(
        "connection-proxy-header",
        "Connection",
        Low,
        Re(ConnectionHeader, true),
        None,
    ),
    s("enable-cors", "CorsConfig", Low, Bool, None),
    s(
        "cors-allow-origin",
        "CorsConfig",
        Medium,
        Re(CorsOrigins, true),
        None,
    ),
    s(
        "cors-allow-headers",
        "CorsConfig",
        Medium,
        Re(HeadersVariable, true),
        None,
    ),
    s(
        "cors-allow-methods",
        "CorsConfig",
        Medium,
        Re(CorsMethods, true),
        None,
    ),
    s("cors-allow-credentials", "CorsConfig", Low, Bool, None),
    s(
        "cors-expose-headers",
        "CorsConfig",
        Medium,
        Re(CorsExposeHeaders, true),
        None,
    ),
    s("cors-max-age", "CorsConfig", Low, Int, None),
    s(
        "custom-headers",
        "CustomHeaders",
        Medium,
        Re(BasicChars, true),
        None,
    ),
    s(
        "custom-http-errors",
        "CustomHTTPErrors",
        Low,
        Re(HttpErrors, true),
        None,
    ),
    s("default-backend", "DefaultBackend", Low, ServiceName, None),
    s(
        "disable-proxy-intercept-errors",
        "DisableProxyInterceptErrors",
        Low,
        Bool,
        None,
    ),
    s(
        "fastcgi-index",
        "FastCGI",
        Medium,
        Re(FastcgiIndex, true),
        None,
    ),
    s(
        "fastcgi-params-configmap",
        "FastCGI",
        Medium,
        Re(BasicChars, true),
        None,
    ),
    s("http2-push-preload", "HTTP2PushPreload", Low, Bool, None),
    s(
        "allowlist-source-range",
        "Allowlist",
        Medium,
        Cidrs,
        Some("whitelist-source-range"),
    ),
    s("denylist-source-range", "Denylist", Medium, Cidrs, None),
    s(
        "load-balance",
        "LoadBalancing",
        Low,
        Options(
            &[
                "round_robin",
                "chash",
                "chashsubset",
                "sticky_balanced",
                "sticky_persistent",
                "ewma",
            ],
            true,
            true,
        ),
        None,
    ),
    s("enable-access-log", "Logs", Low, Bool, None),
    s("enable-rewrite-log", "Logs", Low, Bool, None),
    s("mirror-request-body", "Mirror", Low, Re(OnOff, true), None),
    s("mirror-target", "Mirror", High, ServerName, None),
    s("mirror-host", "Mirror", High, ServerName, None),
    s("enable-modsecurity", "ModSecurity", Low, Bool, None),
    s("enable-owasp-core-rules", "ModSecurity", Low, Bool, None),
    s(
        "modsecurity-transaction-id",
        "ModSecurity",
        High,
        Re(NginxVariable, true),
        None,
    ),
    s("modsecurity-snippet", "ModSecurity", Critical, Null, None),
    s("enable-opentelemetry", "Opentelemetry", Low, Bool, None),
    s(
        "opentelemetry-trust-incoming-span",
        "Opentelemetry",
        Low,
        Bool,
        None,
    ),
    s(
        "opentelemetry-operation-name",
        "Opentelemetry",
        Medium,
        Re(OperationName, true),
        None,
    ),
    s(
        "use-port-in-redirects",
        "UsePortInRedirects",
        Low,
        Bool,
        None,
    ),
    s("proxy-connect-timeout", "Proxy", Low, Int, None),
    s("proxy-send-timeout", "Proxy", Low, Int, None),
    s("proxy-read-timeout", "Proxy", Low, Int, None),
    s("proxy-buffers-number", "Proxy", Low, Int, None),
    s("proxy-buffer-size", "Proxy", Low, Re(Size, true), None),
    s(
        "proxy-busy-buffers-size",
        "Proxy",
        Low,
        Re(Size, true),
        None,
    ),
    s(
        "proxy-cookie-path",
        "Proxy",
        Medium,
        Re(UrlIsValid, true),
        None,
    ),
    s(
        "proxy-cookie-domain",
        "Proxy",
        Medium,
        Re(CookieDomain, false),
        None,
    ),
    s("proxy-body-size", "Proxy", Medium, Re(Size, true), None),
    s(
        "proxy-next-upstream",
        "Proxy",
        Medium,
        Re(NextUpstream, false),
        None,
    ),
    s("proxy-next-upstream-timeout", "Proxy", Low, Int, None),
    s("proxy-next-upstream-tries", "Proxy", Low, Int, None),
    s(
        "proxy-request-buffering",
        "Proxy",
        Low,
        Options(&["on", "off"], true, true),
        None,
    ),
    s(
        "proxy-redirect-from",
        "Proxy",
        Medium,
        Re(UrlIsValid, true),
        None,
    ),
    s(
        "proxy-redirect-to",
        "Proxy",
        Medium,
        Re(UrlIsValid, true),
        None,
    ),
    s(
        "proxy-buffering",
        "Proxy",
        Low,
        Options(&["on", "off"], true, true),
        None,
    ),
    s(
        "proxy-http-version",
        "Proxy",
        Low,
        Options(&["1.0", "1.1"], true, true),
        None,
    ),
    s(
        "proxy-max-temp-file-size",
        "Proxy",
        Low,
        Re(Size, true),
        None,
    ),
    s(
        "proxy-ssl-secret",
        "ProxySSL",
        Medium,
        Re(BasicChars, true),
        None,
    ),
    s(
        "proxy-ssl-ciphers",
        "ProxySSL",
        Medium,
        Re(ProxySslCiphers, true),
        None,
    ),
    s(
        "proxy-ssl-protocols",
        "ProxySSL",
        Low,
        Re(ProxySslProtocols, true),
        None,
    ),
    s("proxy-ssl-name", "ProxySSL", High, ServerName, None),
    s("proxy-ssl-verify", "ProxySSL", Low, Re(OnOff, true), None),
    s("proxy-ssl-verify-depth", "ProxySSL", Low, Int, None),
    s(
        "proxy-ssl-server-name",
        "ProxySSL",
        Low,
        Re(OnOff, true),
        None,
    ),
    s("limit-rate", "RateLimit", Low, Int, None),
    s("limit-rate-after", "RateLimit", Low, Int, None),
    s("limit-rpm", "RateLimit", Low, Int, None),
    s("limit-rps", "RateLimit", Low, Int, None),
    s("limit-connections", "RateLimit", Low, Int, None),
    s("limit-burst-multiplier", "RateLimit", Low, Int, None),
    s(
        "limit-allowlist",
        "RateLimit",
        Low,
        Cidrs,
        Some("limit-whitelist"),
    ),
    s("from-to-www-redirect", "Redirect", Low, Bool, None),
    s(
        "temporal-redirect",
        "Redirect",
        Medium,
        Re(UrlIsValid, false),
        None,
    ),
    s("temporal-redirect-code", "Redirect", Low, Int, None),
    s(
        "permanent-redirect",
        "Redirect",
        Medium,
        Re(UrlIsValid, false),
        None,
    ),
    s("permanent-redirect-code", "Redirect", Low, Int, None),
    s("relative-redirects", "Redirect", Low, Bool, None),
    s(
        "rewrite-target",
        "Rewrite",
        Medium,
        Re(RegexPathWithCapture, false),
        None,
    ),
    s("ssl-redirect", "Rewrite", Low, Bool, None),
    s("preserve-trailing-slash", "Rewrite", Medium, Bool, None),
    s("force-ssl-redirect", "Rewrite", Medium, Bool, None),
    s("use-regex", "Rewrite", Low, Bool, None),
    s(
        "app-root",
        "Rewrite",
        Medium,
        Re(RegexPathWithCapture, false),
        None,
    ),
    s(
        "satisfy",
        "Satisfy",
        Low,
        Options(&["any", "all"], true, true),
        None,
    ),
    s("server-snippet", "ServerSnippet", Critical, Null, None),
    s("service-upstream", "ServiceUpstream", Low, Bool, None),
    s(
        "affinity",
        "SessionAffinity",
        Low,
        Options(&["cookie"], true, true),
        None,
    ),
    s(
        "affinity-mode",
        "SessionAffinity",
        Medium,
        Options(&["balanced", "persistent"], true, true),
        None,
    ),
    s(
        "affinity-canary-behavior",
        "SessionAffinity",
        Low,
        Options(&["sticky", "legacy"], true, true),
        None,
    ),
    s(
        "session-cookie-name",
        "SessionAffinity",
        Medium,
        Re(BasicChars, true),
        None,
    ),
    s("session-cookie-secure", "SessionAffinity", Low, Bool, None),
    s(
        "session-cookie-expires",
        "SessionAffinity",
        Medium,
        Re(CookieExpires, true),
        None,
    ),
    s(
        "session-cookie-max-age",
        "SessionAffinity",
        Medium,
        Re(CookieExpires, false),
        None,
    ),
    s(
        "session-cookie-path",
        "SessionAffinity",
        Medium,
        Re(UrlIsValid, true),
        None,
    ),
    s(
        "session-cookie-domain",
        "SessionAffinity",
        Medium,
        Re(BasicChars, true),
        None,
    ),
    s(
        "session-cookie-samesite",
        "SessionAffinity",
        Low,
        Options(&["none", "lax", "strict"], false, true),
        None,
    ),
    s(
        "session-cookie-conditional-samesite-none",
        "SessionAffinity",
        Low,
        Bool,
        None,
    ),
    s(
        "session-cookie-change-on-failure",
        "SessionAffinity",
        Low,
        Bool,
        None,
    ),
    s(
        "configuration-snippet",
        "ConfigurationSnippet",
        Critical,
        Null,
        None,
    ),
    s("ssl-prefer-server-ciphers", "SSLCipher", Low, Bool, None),
    s("ssl-ciphers", "SSLCipher", Low, Re(SslCiphers, true), None),
    s("ssl-passthrough", "SSLPassthrough", Low, Bool, None),
    s("stream-snippet", "StreamSnippet", Critical, Null, None),
    s(
        "upstream-hash-by",
        "UpstreamHashBy",
        High,
        Re(HashBy, true),
        None,
    ),
    s("upstream-hash-by-subset", "UpstreamHashBy", Low, Bool, None),
    s(
        "upstream-hash-by-subset-size",
        "UpstreamHashBy",
        Low,
        Int,
        None,
    ),
    s("upstream-vhost", "UpstreamVhost", Low, ServerName, None),
    s(
        "x-forwarded-prefix",
        "XForwardedPrefix",
        Medium,
        Re(RegexPathWithCapture, true),
        None,
    ),
];

/// The spec of an annotation by its name after the prefix, or by its alias.
pub fn spec(name: &str) -> Option<&'static Spec> {
    static INDEX: OnceLock<HashMap<&'static str, &'static Spec>> = OnceLock::new();
    INDEX
        .get_or_init(|| {
            let mut m = HashMap::new();
            for s in SPECS {
                m.insert(s.name, s);
                if let Some(a) = s.alias {
                    m.insert(a, s);
                }
            }
            m
        })
        .get(name)
        .copied()
}

/// The specs of one parser.
pub fn of_parser(parser: &str) -> impl Iterator<Item = &'static Spec> + '_ {
    SPECS.iter().filter(move |s| s.parser == parser)
}

/// Go's `strconv.Atoi` (64-bit `int`): an optional sign and decimal digits.
pub fn atoi(s: &str) -> Option<i64> {
    s.parse::<i64>().ok()
}

/// Go's `net.ParseIP` or `net.ParseCIDR` of one trimmed entry.
fn parse_net(spec: &str) -> bool {
    let spec = spec.trim();
    match spec.split_once('/') {
        None => spec.parse::<IpAddr>().is_ok(),
        Some((ip, bits)) => {
            let Ok(ip) = ip.parse::<IpAddr>() else {
                return false;
            };
            let max = if ip.is_ipv4() { 32 } else { 128 };
            !bits.is_empty()
                && bits.bytes().all(|b| b.is_ascii_digit())
                && bits.parse::<u32>().is_ok_and(|n| n <= max)
        }
    }
}

/// Go's `net.ParseCIDRs` (`internal/net/ipnet.go`): empty is none; else
/// every `,`-separated entry an address or a network.
pub fn parse_cidrs(s: &str) -> Option<()> {
    if s.is_empty() {
        return Some(());
    }
    s.split(',').all(parse_net).then_some(())
}

/// apimachinery's `NameIsDNS1035Label`: `[a-z]([-a-z0-9]*[a-z0-9])?`, at
/// most 63 characters.
pub fn is_dns1035_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_lowercase()
        && b[b.len() - 1] != b'-'
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

#[cfg(test)]
mod tests;
