//! What ingress-nginx (v1.15.1) does to Ingresses before nginx routes:
//! each test names the controller code it follows.

use std::collections::HashMap;

use super::*;
use crate::ingress::{Loaded, load_text};

fn build(yaml: &str, ctl: &Controller) -> RouteTable {
    let mut l = Loaded::default();
    load_text("t.yaml", yaml, &mut l, &mut HashMap::new()).unwrap();
    RouteTable::build(l.ingresses, ctl).unwrap()
}

fn table(yaml: &str) -> RouteTable {
    build(yaml, &Controller::watching_classless())
}

/// One Ingress: `annotations` as YAML flow-map entries, `rules` as
/// `(host, path, type, service)`.
fn ing(name: &str, ts: &str, annotations: &str, rules: &[(&str, &str, &str, &str)]) -> String {
    let mut s = format!(
        "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n  namespace: ns\n  creationTimestamp: \"{ts}\"\n  annotations: {{{annotations}}}\nspec:\n  rules:\n"
    );
    for (host, path, t, svc) in rules {
        s.push_str(&format!(
            "    - host: \"{host}\"\n      http:\n        paths:\n          - {{path: \"{path}\", pathType: {t}, backend: {{service: {{name: {svc}, port: {{number: 80}}}}}}}}\n"
        ));
    }
    s
}

/// `(ingress name, location directive)` of what serves `host` `path`, or the
/// outcome when no location does.
fn who(t: &RouteTable, host: &str, path: &str) -> String {
    let r = t.route(host, path.as_bytes());
    match (&r.outcome, r.location()) {
        (Outcome::Location(_), Some(l)) => {
            let name = l.ingress.map_or("-", |i| t.ingresses[i].name.as_str());
            format!("{} {name} {}", r.server.name, l.directive())
        }
        (Outcome::Answer { answer, .. }, _) => format!("{answer:?}"),
        (o, _) => format!("{o:?}"),
    }
}

const AUTH: &str = "nginx.ingress.kubernetes.io/auth-url: \"http://stepup.stepup-system.svc.cluster.local:8080/auth?level=admin&host=$host\"";
const CANARY: &str = "nginx.ingress.kubernetes.io/canary: \"true\"";

/// `controller.go` `createUpstreams` + `getBackendServers`: a canary that
/// sends to a Service an older Ingress already uses gets real locations,
/// with the canary's own (here: no) auth.
#[test]
fn regression_canary_sharing_a_service_gets_locations_with_its_own_annotations() {
    let y = ing(
        "main",
        "2024-01-01T00:00:00Z",
        AUTH,
        &[("h.test", "/admin", "Prefix", "admin")],
    ) + &ing(
        "can",
        "2024-02-01T00:00:00Z",
        CANARY,
        &[("h.test", "/admin/beta", "Prefix", "admin")],
    );
    let t = table(&y);
    assert_eq!(
        who(&t, "h.test", "/admin/beta/x"),
        "h.test can /admin/beta/"
    );
    assert_eq!(who(&t, "h.test", "/admin/x"), "h.test main /admin/");
    assert!(t.ignored.is_empty());
}

/// The other order: an older canary creates the upstream with `NoServer`,
/// so the newer Ingress's paths to that Service build no location.
#[test]
fn regression_an_older_canary_makes_the_paths_to_its_service_vanish() {
    let y = ing(
        "can",
        "2024-01-01T00:00:00Z",
        CANARY,
        &[("h.test", "/x", "Prefix", "shared")],
    ) + &ing(
        "main",
        "2024-02-01T00:00:00Z",
        AUTH,
        &[("h.test", "/admin", "Prefix", "shared")],
    ) + &ing(
        "main2",
        "2024-02-01T00:00:01Z",
        "",
        &[("h.test", "/other", "Prefix", "other")],
    );
    let t = table(&y);
    // main still creates the server (createServers), and its root.
    assert_eq!(who(&t, "h.test", "/admin"), "h.test main /");
    assert_eq!(who(&t, "h.test", "/other"), "h.test main2 = /other");
}

/// A canary on a host no other Ingress names: `getBackendServers` falls
/// back to the default server when `servers[host]` is nil.
#[test]
fn canary_only_host_with_a_shared_service_lands_on_the_catch_all() {
    let y = ing(
        "main",
        "2024-01-01T00:00:00Z",
        "",
        &[("a.test", "/", "Prefix", "svc")],
    ) + &ing(
        "can",
        "2024-02-01T00:00:00Z",
        CANARY,
        &[("b.test", "/beta", "Prefix", "svc")],
    );
    let t = table(&y);
    assert!(t.servers.iter().all(|s| s.name != "b.test"));
    assert_eq!(who(&t, "anything.test", "/beta"), "_ can = /beta");
}

/// `getBackendServers`: "does not contain a service backend, using default
/// backend" — a `resource` backend builds no location.
#[test]
fn resource_backends_build_no_location() {
    let y = ing(
        "a",
        "2024-01-01T00:00:00Z",
        AUTH,
        &[("h.test", "/app", "Prefix", "app")],
    ) + "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: r, namespace: ns, creationTimestamp: \"2024-02-01T00:00:00Z\"}\nspec:\n  rules:\n    - host: h.test\n      http:\n        paths:\n          - {path: /static, pathType: Prefix, backend: {resource: {apiGroup: k8s.example.com, kind: StorageBucket, name: b}}}\n";
    let t = table(&y);
    assert_eq!(who(&t, "h.test", "/static/x"), "h.test a /");
}

/// `createServers` (alias loop) and `alias.Parse`; nginx's `server_name`
/// order: exact, head wildcard, tail wildcard, regexes in config order.
#[test]
fn server_alias_names_are_served_by_the_aliased_server() {
    let aliases = "nginx.ingress.kubernetes.io/server-alias: \"alias.test, *.wild.test, ~^r[0-9]+\\\\.test$, www.tail.*, b.test\"";
    let y = ing(
        "a",
        "2024-01-01T00:00:00Z",
        aliases,
        &[("a.test", "/", "Prefix", "a")],
    ) + &ing(
        "b",
        "2024-02-01T00:00:00Z",
        "",
        &[("b.test", "/", "Prefix", "b")],
    );
    let t = table(&y);
    assert_eq!(who(&t, "ALIAS.test", "/x"), "a.test a /");
    assert_eq!(who(&t, "x.y.wild.test", "/x"), "a.test a /");
    assert_eq!(who(&t, "r42.test", "/x"), "a.test a /");
    assert_eq!(who(&t, "www.tail.example", "/x"), "a.test a /");
    // An alias that is another server's name is dropped.
    assert_eq!(who(&t, "b.test", "/x"), "b.test b /");
    assert_eq!(who(&t, "wild.test", "/x"), "_ - /");
    let a = t.servers.iter().find(|s| s.name == "a.test").unwrap();
    assert!(!a.aliases.contains(&"b.test".to_string()));
}

/// `nginx.tmpl` + `template.go` `isLocationInLocationList`: a plain string
/// prefix test of `no-auth-locations` on the location path turns off
/// auth_request and basic auth.
#[test]
fn regression_no_auth_locations_turn_auth_off_by_string_prefix() {
    let y = ing(
        "a",
        "2024-01-01T00:00:00Z",
        AUTH,
        &[
            ("h.test", "/.well-known/acme-challenge-x", "Prefix", "a"),
            ("h.test", "/admin", "Prefix", "a"),
        ],
    );
    let t = table(&y);
    let gate = |p: &str| {
        t.route("h.test", p.as_bytes())
            .location()
            .map(|l| l.gate.clone())
    };
    assert_eq!(
        gate("/.well-known/acme-challenge-x/evil"),
        Some(Gate::NoAuth("/.well-known/acme-challenge".into()))
    );
    assert_eq!(gate("/admin"), Some(Gate::Ingress));

    let mut ctl = Controller::watching_classless();
    ctl.settings.no_auth_locations = vec!["/ad".into()];
    let t = build(&y, &ctl);
    let l = t
        .route("h.test", b"/admin/x")
        .location()
        .map(|l| l.gate.clone());
    assert_eq!(l, Some(Gate::NoAuth("/ad".into())));
}

/// `template.go` `shouldApplyGlobalAuth` and `authreqglobal.Parse`: the
/// global auth URL covers locations whose Ingress has no auth-url, unless
/// `enable-global-auth` is false; the `_` default root has no Ingress
/// annotations and so no global auth.
#[test]
fn global_auth_covers_locations_without_their_own_auth() {
    let y = ing(
        "own",
        "2024-01-01T00:00:00Z",
        AUTH,
        &[("h.test", "/admin", "Prefix", "a")],
    ) + &ing(
        "plain",
        "2024-01-02T00:00:00Z",
        "",
        &[("h.test", "/app", "Prefix", "b")],
    ) + &ing(
        "off",
        "2024-01-03T00:00:00Z",
        "nginx.ingress.kubernetes.io/enable-global-auth: \"False\"",
        &[("h.test", "/open", "Prefix", "c")],
    );
    let mut ctl = Controller::watching_classless();
    ctl.settings.global_auth = Some(settings::GlobalAuth {
        url: "https://auth.example.com/check".into(),
        ..Default::default()
    });
    let t = build(&y, &ctl);
    let gate = |h: &str, p: &str| t.route(h, p.as_bytes()).location().map(|l| l.gate.clone());
    assert_eq!(gate("h.test", "/admin"), Some(Gate::Ingress));
    assert_eq!(
        gate("h.test", "/app"),
        Some(Gate::Global("https://auth.example.com/check".into()))
    );
    assert_eq!(
        gate("h.test", "/open"),
        Some(Gate::OptedOut("https://auth.example.com/check".into()))
    );
    assert_eq!(gate("other.test", "/"), Some(Gate::Ingress));
}

/// `redirect.Parse`: temporal-redirect before permanent-redirect, codes
/// outside the allowed range fall back to the default; nginx.tmpl writes
/// `return` in the location, which runs before `auth_request`.
#[test]
fn redirect_annotations_answer_before_auth() {
    let perm = format!(
        "{AUTH}, nginx.ingress.kubernetes.io/permanent-redirect: https://new.example.com, nginx.ingress.kubernetes.io/permanent-redirect-code: \"999\""
    );
    let temp = "nginx.ingress.kubernetes.io/temporal-redirect: https://t.example.com, nginx.ingress.kubernetes.io/permanent-redirect: https://p.example.com";
    let y = ing(
        "p",
        "2024-01-01T00:00:00Z",
        &perm,
        &[("h.test", "/old", "Prefix", "a")],
    ) + &ing(
        "t",
        "2024-01-02T00:00:00Z",
        temp,
        &[("h.test", "/tmp", "Prefix", "b")],
    );
    let t = table(&y);
    let answer = |p: &str| match t.route("h.test", p.as_bytes()).outcome {
        Outcome::Answer {
            answer: Answer::Redirect { code, url, .. },
            ..
        } => format!("{code} {url}"),
        o => format!("{o:?}"),
    };
    assert_eq!(answer("/old/x"), "301 https://new.example.com");
    assert_eq!(answer("/tmp"), "302 https://t.example.com");
}

/// `rewrite.Parse` (`app-root`) and nginx.tmpl's server-level `if ($uri =
/// /)`: only `/` is redirected, before any location.
#[test]
fn app_root_redirects_only_the_root() {
    let y = ing(
        "a",
        "2024-01-01T00:00:00Z",
        "nginx.ingress.kubernetes.io/app-root: /app1",
        &[("h.test", "/app1", "Prefix", "a")],
    );
    let t = table(&y);
    assert!(
        who(&t, "h.test", "/").contains("app-root"),
        "{}",
        who(&t, "h.test", "/")
    );
    assert_eq!(who(&t, "h.test", "/app1"), "h.test a = /app1");
}

/// `pkg/util/ingress/ingress.go` `BuildRedirects`: `from-to-www-redirect`
/// adds a `www.` server that redirects with 308, unless one exists.
#[test]
fn from_to_www_adds_a_redirect_server() {
    let y = ing(
        "a",
        "2024-01-01T00:00:00Z",
        "nginx.ingress.kubernetes.io/from-to-www-redirect: \"true\"",
        &[("h.test", "/x", "Prefix", "a")],
    );
    let t = table(&y);
    let r = t.route("www.h.test", b"/x?y=1");
    match r.outcome {
        Outcome::Answer {
            answer: Answer::Redirect { code, url, .. },
            ..
        } => {
            assert_eq!((code, url.as_str()), (308, "$scheme://h.test$request_uri"))
        }
        o => panic!("{o:?}"),
    }
}

/// `lua_ingress.lua` `redirect_to_https`: ssl-redirect needs a certificate
/// for the host; force-ssl-redirect does not; the default comes from the
/// ConfigMap; `no-tls-redirect-locations` exempts.
#[test]
fn https_redirects_follow_tls_and_the_annotations() {
    let tls = "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: t, namespace: ns, creationTimestamp: \"2024-01-01T00:00:00Z\"}\nspec:\n  tls: [{hosts: [s.test], secretName: c}]\n  rules:\n    - host: s.test\n      http:\n        paths:\n          - {path: /a, pathType: Prefix, backend: {service: {name: a, port: {number: 80}}}}\n          - {path: /.well-known/acme-challenge, pathType: Prefix, backend: {service: {name: a, port: {number: 80}}}}\n";
    let y = tls.to_string()
        + &ing(
            "plain",
            "2024-01-02T00:00:00Z",
            "",
            &[("p.test", "/a", "Prefix", "a")],
        )
        + &ing(
            "forced",
            "2024-01-03T00:00:00Z",
            "nginx.ingress.kubernetes.io/force-ssl-redirect: \"1\"",
            &[("f.test", "/a", "Prefix", "a")],
        );
    let t = table(&y);
    let https = |h: &str, p: &str| {
        t.route(h, p.as_bytes())
            .location()
            .is_some_and(|l| l.https_redirect)
    };
    assert!(https("s.test", "/a"));
    assert!(!https("s.test", "/.well-known/acme-challenge/x"));
    assert!(!https("p.test", "/a"));
    assert!(https("f.test", "/a"));
}

/// `store.go`: with `--disable-catch-all`, an Ingress with
/// `spec.defaultBackend` is ignored whole (SU019 names it).
#[test]
fn disable_catch_all_ignores_ingresses_with_a_default_backend() {
    let y = "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: d, namespace: ns}\nspec:\n  defaultBackend: {service: {name: d, port: {number: 80}}}\n  rules:\n    - host: d.test\n      http:\n        paths:\n          - {path: /, pathType: Prefix, backend: {service: {name: d, port: {number: 80}}}}\n";
    let mut ctl = Controller::watching_classless();
    assert!(build(y, &ctl).ignored.is_empty());
    ctl.settings.disable_catch_all = true;
    let t = build(y, &ctl);
    assert_eq!(t.dropped.len(), 1);
    assert!(t.ingresses.is_empty());
    let why = format!("{:?}", t.dropped[0]);
    assert!(why.contains("--disable-catch-all"), "{why}");
}

/// `store.go` `GetIngressClass`: without `--watch-ingress-without-class`,
/// an Ingress that names no class is not served.
#[test]
fn regression_classless_ingresses_are_not_served_by_default() {
    let y = ing(
        "a",
        "2024-01-01T00:00:00Z",
        AUTH,
        &[("h.test", "/", "Prefix", "a")],
    );
    let t = build(&y, &Controller::default());
    assert_eq!(t.ignored.len(), 1);
    assert!(t.servers.iter().all(|s| s.name != "h.test"));
    let t = table(&y);
    assert!(t.ignored.is_empty());
}
