use super::*;

/// Every pattern compiles (a pattern that does not would match nothing).
#[test]
fn every_pattern_compiles() {
    for (p, src) in PATTERNS {
        assert!(Regex::new(src).is_ok(), "{p:?}: {src}");
    }
}

/// Every annotation once; names and aliases unique.
#[test]
fn the_table_names_each_annotation_once() {
    let mut seen = std::collections::HashSet::new();
    for s in SPECS {
        assert!(seen.insert(s.name), "{} twice", s.name);
        if let Some(a) = s.alias {
            assert!(seen.insert(a), "{a} twice");
        }
    }
    assert_eq!(SPECS.len(), 136);
}

/// The snippets are Critical (`snippet`, `serversnippet`, `authreq`,
/// `modsecurity`, `streamsnippet` `AnnotationFields`), the auth-url High
/// (`authreq`), use-regex and canary Low (`rewrite`, `canary`).
#[test]
fn risks_follow_the_parsers() {
    for n in [
        "configuration-snippet",
        "server-snippet",
        "auth-snippet",
        "modsecurity-snippet",
        "stream-snippet",
    ] {
        assert_eq!(spec(n).map(|s| s.risk), Some(Risk::Critical), "{n}");
    }
    assert_eq!(spec("auth-url").map(|s| s.risk), Some(Risk::High));
    assert_eq!(spec("auth-signin").map(|s| s.risk), Some(Risk::High));
    assert_eq!(spec("use-regex").map(|s| s.risk), Some(Risk::Low));
    assert_eq!(spec("rewrite-target").map(|s| s.risk), Some(Risk::Medium));
    assert_eq!(
        spec("whitelist-source-range").map(|s| s.name),
        Some("allowlist-source-range")
    );
}

/// `URLWithNginxVariableRegex` with spaces removed, then `MaliciousRegex`
/// (`parser/validators.go` `ValidateRegex`).
#[test]
fn auth_url_validator_follows_validators_go() {
    let v = spec("auth-url").map(|s| s.validator);
    let ok = |s: &str| v.is_some_and(|v| v.accepts(s));
    assert!(ok("http://stepup.sys.svc:8080/auth?level=mfa&host=$host"));
    assert!(ok("http://a b/auth"));
    for bad in [
        "http://a/auth?x=%41",
        "http://a/#x",
        "http://a/auth;x",
        "http://u@a/",
        "http://a/{x}",
        "http://a/\"",
        "http://a/\nx",
    ] {
        assert!(!ok(bad), "{bad}");
    }
}

/// `RegexPathWithCapture`: `^/?[\-\.\_\~a-zA-Z0-9\/:\/\$]*$`.
#[test]
fn rewrite_target_validator_follows_validators_go() {
    let ok = |s: &str| Validator::Regex(Pattern::RegexPathWithCapture, false).accepts(s);
    assert!(ok("/admin/$2"));
    assert!(ok("$1"));
    assert!(ok("/a:b~c_d.e-f"));
    for bad in ["/x?a=b", "/x y", "/(x)", "/x%20", "/x#"] {
        assert!(!ok(bad), "{bad}");
    }
}

/// Go's `\d` is ASCII; the crate's would take `٣`.
#[test]
fn digits_are_ascii_as_in_go() {
    assert!(Pattern::Size.is_match("10m"));
    assert!(Pattern::Size.is_match("10M"));
    assert!(!Pattern::Size.is_match("١٠m"));
    assert!(!Pattern::StatusCode.is_match("٢٠٠"));
}

/// `HeadersVariable` `^[A-Za-z0-9-_, ]*$`: after the range `0-9`, `-`
/// is a plain character in Go's parser as in the crate's.
#[test]
fn headers_variable_is_letters_digits_dash_underscore_comma_space() {
    assert!(Pattern::HeadersVariable.is_match("X-Auth_User, X-Email"));
    assert!(!Pattern::HeadersVariable.is_match("X:Y"));
    assert!(!Pattern::HeadersVariable.is_match("X;Y"));
}

/// `ValidateOptions(options, caseSensitive, trimSpace)`.
#[test]
fn options_trim_and_fold_as_told() {
    let satisfy = spec("satisfy").map(|s| s.validator);
    assert!(satisfy.is_some_and(|v| v.accepts(" any ")));
    assert!(!satisfy.is_some_and(|v| v.accepts("ANY")));
    let proto = spec("backend-protocol").map(|s| s.validator);
    assert!(proto.is_some_and(|v| v.accepts("HTTPS")));
}

/// `ValidateInt` is `strconv.Atoi`, `ValidateCIDRs` `net.ParseCIDRs`,
/// `ValidateServiceName` a DNS-1035 label, `ValidateServerName` trims.
#[test]
fn scalar_validators_follow_go() {
    assert!(Validator::Int.accepts("+5") && Validator::Int.accepts("-5"));
    assert!(!Validator::Int.accepts(" 5") && !Validator::Int.accepts("5.0"));
    assert!(Validator::Cidrs.accepts("10.0.0.0/8, 192.168.1.1,::1/128"));
    assert!(!Validator::Cidrs.accepts("10.0.0.0/33"));
    assert!(!Validator::Cidrs.accepts("10.0.0.1,"));
    assert!(Validator::Cidrs.accepts(""));
    assert!(Validator::ServiceName.accepts("web-1"));
    assert!(!Validator::ServiceName.accepts("1web") && !Validator::ServiceName.accepts("Web"));
    assert!(Validator::ServerName.accepts(" ~^www\\d+\\.example\\.com$ "));
    assert!(!Validator::ServerName.accepts("a;b"));
    assert!(Validator::ServerNames.accepts("a.example.com, *.b.example.com"));
    assert!(Validator::CommonName.accepts("CN=a.*"));
    assert!(!Validator::CommonName.accepts("a.*") && !Validator::CommonName.accepts("CN=("));
}
