//! Each test names the ingress-nginx v1.15.1 code it follows. Those named
//! `regression_…` catch what stepup got wrong before admission existed.

use std::collections::HashMap;

use super::*;
use crate::controllers::ingress_nginx::routing::settings::Risk;
use crate::controllers::ingress_nginx::routing::{Controller, RouteTable};
use crate::ingress::{Loaded, load_text};

const N: &str = "nginx.ingress.kubernetes.io/";

fn yaml(name: &str, annotations: &[(&str, &str)], path: &str) -> String {
    let anns: String = annotations
        .iter()
        .map(|(k, v)| format!("    {k}: {}\n", serde_json::Value::from(*v)))
        .collect();
    let anns = if anns.is_empty() {
        "  annotations: {}\n".to_string()
    } else {
        format!("  annotations:\n{anns}")
    };
    format!(
        "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n  namespace: ns\n  creationTimestamp: \"2024-01-01T00:00:00Z\"\n{anns}spec:\n  ingressClassName: nginx\n  rules:\n    - host: h.test\n      http:\n        paths:\n          - {{path: \"{path}\", pathType: ImplementationSpecific, backend: {{service: {{name: {name}, port: {{number: 80}}}}}}}}\n"
    )
}

fn load(text: &str) -> Vec<Ingress> {
    let mut l = Loaded::default();
    load_text("t.yaml", text, &mut l, &mut HashMap::new()).unwrap();
    l.ingresses
}

fn one(annotations: &[(&str, &str)], settings: &Settings) -> Result<Ingress, Box<Dropped>> {
    let ing = load(&yaml("app", annotations, "/app")).remove(0);
    admit(ing, settings)
}

fn n(short: &str) -> String {
    format!("{N}{short}")
}

fn admitted(annotations: &[(&str, &str)]) -> Ingress {
    one(annotations, &Settings::default()).unwrap()
}

fn dropped(annotations: &[(&str, &str)]) -> Dropped {
    *one(annotations, &Settings::default()).unwrap_err()
}

fn table(text: &str, settings: Settings) -> RouteTable {
    let ctl = Controller {
        settings,
        ..Controller::default()
    };
    RouteTable::build(load(text), &ctl).unwrap()
}

/// `rewrite/main.go` `Parse`: `parser.GetBoolAnnotation` is
/// `strconv.ParseBool`, so `"True"` is true and the host is in regex mode.
#[test]
fn regression_use_regex_true_capitalised_switches_on_regex_mode() {
    let t = table(
        &yaml("app", &[(&n("use-regex"), "True")], "/app"),
        Settings::default(),
    );
    assert!(t.servers.iter().any(|s| s.name == "h.test" && s.regex_mode));
    assert_eq!(t.ingresses[0].nginx("use-regex"), Some("true"));
}

/// `canary/main.go` `Parse`: `canary: "1"` is `strconv.ParseBool` true,
/// so the Ingress is a canary and builds no location (`controller.go`
/// `createServers`: "is marked as Canary, ignoring").
#[test]
fn regression_canary_one_is_a_canary() {
    let t = table(
        &yaml("app", &[(&n("canary"), "1")], "/app"),
        Settings::default(),
    );
    // A canary whose Service no older Ingress uses builds no location
    // (`createUpstreams` NoServer).
    assert!(t.ingresses.iter().all(|i| i.is_canary()));
    assert!(
        t.servers
            .iter()
            .all(|s| s.locations.iter().all(|l| l.ingress.is_none()))
    );
}

/// `canary/main.go` `Parse`: canary settings without `canary: "true"`
/// are an `InvalidConfiguration` error, which `Extract` skips: the whole
/// canary config is discarded and the Ingress served as any other.
#[test]
fn canary_settings_without_canary_are_discarded() {
    let ing = admitted(&[(&n("canary"), "yes"), (&n("canary-weight"), "50")]);
    assert!(!ing.is_canary());
    assert!(ing.nginx("canary-weight").is_none());
    assert!(
        ing.changes
            .iter()
            .any(|c| c.what.contains("configured but not enabled"))
    );
}

/// `annotations.go` `Extract` → `Validate` → `parser.CheckAnnotationRisk`:
/// `configuration-snippet` is Critical (`snippet/main.go`), above the
/// default `annotations-risk-level` High, so the Ingress is dropped and its
/// auth goes with it: `/app` falls to the other Ingress, which has none.
#[test]
fn regression_a_configuration_snippet_drops_the_ingress_and_its_auth() {
    let auth = "http://stepup.sys.svc:8080/auth?level=admin";
    let text = yaml(
        "app",
        &[
            (&n("auth-url"), auth),
            (&n("configuration-snippet"), "more_set_headers \"X: 1\";"),
        ],
        "/app",
    ) + &yaml("other", &[], "/");
    let t = table(&text, Settings::default());
    assert_eq!(t.dropped.len(), 1);
    let d = &t.dropped[0];
    assert_eq!(d.reasons[0].check, Check::Risk);
    assert!(
        d.reasons[0]
            .message
            .contains("annotation group ConfigurationSnippet contains risky annotation"),
        "{}",
        d.reasons[0].message
    );
    assert!(d.keeps_previous());
    let r = t.route("h.test", b"/app/x");
    let loc = r.location().unwrap();
    assert_eq!(
        loc.ingress.map(|i| t.ingresses[i].name.as_str()),
        Some("other")
    );
}

/// `CheckAnnotationRisk` trims the prefix with `TrimAnnotationPrefix`, so
/// a key written without any prefix is checked too.
#[test]
fn an_unprefixed_snippet_key_is_still_risky() {
    let d = dropped(&[("server-snippet", "x")]);
    assert_eq!(d.reasons[0].annotation.as_deref(), Some("server-snippet"));
}

/// At `annotations-risk-level: Critical` snippets pass the risk check;
/// with `allow-snippet-annotations: false` `controller.go`
/// `dropSnippetDirectives` clears them and the Ingress is served.
#[test]
fn snippets_are_stripped_when_not_allowed() {
    let s = Settings {
        risk_level: Risk::Critical,
        ..Settings::default()
    };
    let ing = one(&[(&n("server-snippet"), "x")], &s).unwrap();
    assert!(ing.nginx("server-snippet").is_none());
    assert!(ing.changes[0].what.contains("allow-snippet-annotations"));
    let s = Settings {
        allow_snippets: true,
        ..s
    };
    let ing = one(&[(&n("server-snippet"), "x")], &s).unwrap();
    assert_eq!(ing.nginx("server-snippet"), Some("x"));
}

/// `store.go` `syncIngress` → `checkBadAnnotationValue`: a value under the
/// prefix containing a word drops the Ingress; an empty word (a trailing
/// comma) is in every value; annotations outside the prefix are not
/// looked at.
#[test]
fn the_word_blocklist_drops_the_ingress() {
    let s = Settings {
        word_blocklist: vec!["load_module".into()],
        ..Settings::default()
    };
    let d = *one(&[(&n("auth-signin"), "x load_module y")], &s).unwrap_err();
    assert_eq!(d.reasons[0].check, Check::WordBlocklist);
    assert!(
        d.reasons[0]
            .message
            .contains("contains invalid word load_module")
    );
    assert!(one(&[("example.com/x", "load_module")], &s).is_ok());
    let s = Settings {
        word_blocklist: vec!["a".into(), String::new()],
        ..Settings::default()
    };
    assert!(one(&[(&n("use-regex"), "true")], &s).is_err());
    assert!(one(&[], &s).is_ok());
}

/// `parser/validators.go` `checkAnnotation`: an auth-url with `%` fails
/// `URLWithNginxVariableRegex`; `authreq/main.go` `Parse` returns the
/// `ValidationError` as is and `Extract` drops the Ingress. Without
/// `--enable-annotation-validation` it is served.
#[test]
fn an_auth_url_the_validator_rejects_drops_the_ingress() {
    let bad = [(n("auth-url"), "http://a.svc/auth?x=%2F".to_string())];
    let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let d = *one(&bad, &Settings::default()).unwrap_err();
    assert_eq!(d.reasons[0].check, Check::Validation);
    assert!(d.reasons[0].message.contains("contains invalid value"));
    let s = Settings {
        validate_annotations: false,
        ..Settings::default()
    };
    assert!(one(&bad, &s).is_ok());
}

/// `authreq/main.go` `Parse`: `parser.StringToURL` failing is a
/// `LocationDeniedError`: the Ingress is served, every location 503.
#[test]
fn an_auth_url_without_scheme_denies_the_locations() {
    let ing = admitted(&[(&n("auth-url"), "stepup.sys.svc/auth")]);
    assert_eq!(
        ing.denied.as_deref(),
        Some("could not parse auth-url annotation: url scheme is empty")
    );
    let ing = admitted(&[(&n("auth-url"), "http://stepup.sys.svc:$p/auth")]);
    assert!(
        ing.denied
            .as_deref()
            .is_some_and(|d| d.contains("invalid port"))
    );
    let ing = admitted(&[
        (&n("auth-url"), "http://a.svc/auth"),
        (&n("auth-method"), "FETCH"),
    ]);
    assert_eq!(
        ing.denied.as_deref(),
        Some("location denied, reason: invalid HTTP method")
    );
    // The auth annotations stay: the location answers 503, not the backend.
    assert!(ing.nginx("auth-url").is_some());
}

/// `authreq/main.go` `Parse` wraps the `ValidationError` of
/// `auth-always-set-cookie` and of `auth-request-redirect` in
/// `fmt.Errorf("%s is invalid: %w")`, and of `auth-cache-duration` in a
/// new error; `errors.IsValidationError` is a type assertion, so
/// `Extract` skips the parser: no `ExternalAuth`, the auth-url is gone.
#[test]
fn regression_an_invalid_auth_side_setting_removes_the_auth_url() {
    for (k, v) in [
        ("auth-always-set-cookie", "yes"),
        ("auth-request-redirect", "/x y;"),
        ("auth-cache-duration", "200 5m;"),
    ] {
        let ing = admitted(&[(&n("auth-url"), "http://a.svc/auth"), (&n(k), v)]);
        assert!(ing.nginx("auth-url").is_none(), "{k}");
        assert!(
            ing.changes
                .iter()
                .any(|c| c.annotation == n("auth-url") && c.what.contains("ExternalAuth")),
            "{k}: {:?}",
            ing.changes
        );
    }
}

/// `auth/main.go` `Parse`: an `auth-type` without `auth-secret` denies
/// the location ("error reading secret name from annotation").
#[test]
fn basic_auth_without_secret_is_denied() {
    let ing = admitted(&[(&n("auth-type"), "basic")]);
    assert!(
        ing.denied
            .as_deref()
            .is_some_and(|d| d.starts_with("error reading secret name from annotation"))
    );
    let ing = admitted(&[(&n("auth-type"), "basic"), (&n("auth-secret"), "other/s")]);
    assert_eq!(
        ing.denied.as_deref(),
        Some("cross namespace usage of secrets is not allowed")
    );
    let ing = admitted(&[(&n("auth-type"), "basic"), (&n("auth-secret"), "s")]);
    assert_eq!(ing.denied, None);
}

/// `rewrite/main.go` `Parse`: a `rewrite-target` that
/// `RegexPathWithCapture` rejects (`?`, `=`) is a warning and `Target =
/// ""`; `controller.go` then neither rewrites nor switches the host to
/// regex mode.
#[test]
fn regression_an_invalid_rewrite_target_is_empty() {
    let text = yaml("app", &[(&n("rewrite-target"), "/x?a=b")], "/app");
    let t = table(&text, Settings::default());
    assert!(t.servers.iter().all(|s| !s.regex_mode));
    assert!(t.ingresses[0].nginx("rewrite-target").is_none());
    let text = yaml("app", &[(&n("rewrite-target"), "/x/$1")], "/app");
    let t = table(&text, Settings::default());
    assert!(t.servers.iter().any(|s| s.regex_mode));
}

/// `parser.GetAnnotationWithPrefix`: only `<prefix>/…` is read. Under a
/// custom prefix the keys are re-keyed; the default prefix's are ignored.
#[test]
fn the_annotation_prefix_is_the_only_one_read() {
    let mut s = Settings::default();
    s.set_flag("annotations-prefix", "example.com").unwrap();
    let ing = one(
        &[
            ("example.com/use-regex", "t"),
            (&n("auth-url"), "http://a.svc/auth"),
        ],
        &s,
    )
    .unwrap();
    assert_eq!(ing.nginx("use-regex"), Some("true"));
    assert!(ing.nginx("auth-url").is_none());
    assert!(ing.changes[0].what.contains("reads example.com/"));
    // The risk check trims the configured prefix only.
    assert!(one(&[("example.com/server-snippet", "x")], &s).is_err());
    assert!(one(&[(&n("server-snippet"), "x")], &s).is_ok());
}

/// `inspector/rules.go` `CheckRegex` (from the informer, with
/// `--deep-inspect`, the default): a path with `alias …;` drops it.
#[test]
fn deep_inspection_drops_a_forbidden_path() {
    let ing = load(&yaml("app", &[], "/alias;x")).remove(0);
    let d = *admit(ing.clone(), &Settings::default()).unwrap_err();
    assert_eq!(d.reasons[0].check, Check::DeepInspect);
    let s = Settings {
        deep_inspect: false,
        ..Settings::default()
    };
    assert!(admit(ing, &s).is_ok());
    assert!(forbidden("/x_by_lua_block") && forbidden("/etc/nginx/x"));
    assert!(!forbidden("/aliases") && !forbidden("/root"));
}

/// `store.go` informer: `--disable-catch-all` ignores an Ingress with a
/// `defaultBackend`, and on an update deletes the old one.
#[test]
fn disable_catch_all_drops_a_default_backend() {
    let text = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: d, namespace: ns}\nspec:\n  ingressClassName: nginx\n  defaultBackend: {service: {name: x, port: {number: 80}}}\n";
    let ing = load(text).remove(0);
    assert!(admit(ing.clone(), &Settings::default()).is_ok());
    let s = Settings {
        disable_catch_all: true,
        ..Settings::default()
    };
    let d = *admit(ing, &s).unwrap_err();
    assert!(!d.keeps_previous());
}

/// `ipallowlist/main.go` `Parse`: any error but a missing annotation is a
/// `LocationDeniedError`.
#[test]
fn an_invalid_allowlist_denies() {
    let ing = admitted(&[(&n("whitelist-source-range"), "10.0.0.0/8,")]);
    assert!(ing.denied.is_some());
    let ing = admitted(&[(&n("allowlist-source-range"), "10.0.0.0/8, 1.2.3.4")]);
    assert_eq!(ing.denied, None);
}

/// `redirect/redirect.go` `Parse` returns every read error but a missing
/// annotation: a `ValidationError` (`#` in a URL) drops the Ingress.
#[test]
fn an_invalid_redirect_drops_the_ingress() {
    let d = dropped(&[(&n("permanent-redirect"), "https://x/#y")]);
    assert_eq!(d.reasons[0].check, Check::Validation);
    assert!(
        admitted(&[(&n("permanent-redirect"), "https://x/y")])
            .denied
            .is_none()
    );
}

/// Values the parsers fall back on are removed (`satisfy/main.go`,
/// `authreqglobal/main.go`, `rewrite/main.go`): `satisfy: ANY` is `""`,
/// `enable-global-auth: no` is true, `use-regex: yes` false.
#[test]
fn fallbacks_remove_the_value() {
    let ing = admitted(&[
        (&n("satisfy"), "ANY"),
        (&n("enable-global-auth"), "no"),
        (&n("use-regex"), "yes"),
    ]);
    for k in ["satisfy", "enable-global-auth", "use-regex"] {
        assert!(ing.nginx(k).is_none(), "{k}");
    }
    assert_eq!(ing.changes.len(), 3, "{:?}", ing.changes);
    let ing = admitted(&[(&n("satisfy"), " any "), (&n("enable-global-auth"), "F")]);
    assert_eq!(ing.nginx("satisfy"), Some("any"));
    assert_eq!(ing.nginx("enable-global-auth"), Some("false"));
}

/// `parser.parseBool` without validation: an unparsable boolean is an
/// `InvalidContentError`; `rewrite` falls back to false.
#[test]
fn without_validation_an_unparsable_boolean_is_its_default() {
    let s = Settings {
        validate_annotations: false,
        ..Settings::default()
    };
    let ing = one(&[(&n("use-regex"), "yes")], &s).unwrap();
    assert!(ing.nginx("use-regex").is_none());
    // ssl-passthrough returns the error as is: not a ValidationError, so
    // the parser is skipped, not the Ingress.
    assert!(one(&[(&n("ssl-passthrough"), "yes")], &s).is_ok());
    assert!(one(&[(&n("ssl-passthrough"), "yes")], &Settings::default()).is_err());
}

/// `parser/main.go` `StringRiskToRisk`: an unknown `annotations-risk-level` is Low
/// (its `default` case), which drops an Ingress with an auth-url
/// (High).
#[test]
fn regression_a_misspelt_risk_level_drops_auth_urls() {
    let s = Settings {
        risk_level: Risk::from_name("Critcal"),
        ..Settings::default()
    };
    assert!(one(&[(&n("auth-url"), "http://a.svc/auth")], &s).is_err());
}

/// `parser.StringToURL` on what the auth-url validator lets through.
#[test]
fn go_url_parse_cases() {
    use go::string_to_url;
    assert!(string_to_url("http://stepup.sys.svc:8080/auth?level=a&host=$host").is_ok());
    assert!(string_to_url("https://$host/auth").is_ok());
    for (u, why) in [
        ("http:x", "url host is empty"),
        ("http:///x", "url host is empty"),
        (
            "$scheme://a/auth",
            "first path segment in URL cannot contain colon",
        ),
        ("http://a b/auth", "invalid character"),
        ("http://a..b/auth", "invalid url host"),
        ("http://a:8o/", "invalid port"),
        ("://a/", "missing protocol scheme"),
    ] {
        let e = string_to_url(u).unwrap_err();
        assert!(e.contains(why), "{u}: {e}");
    }
}
