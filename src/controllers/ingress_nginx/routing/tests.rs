use std::collections::HashMap;

use super::*;
use crate::ingress::{Loaded, load_text};

fn table(yaml: &str) -> RouteTable {
    try_table(yaml).unwrap()
}

fn try_table(yaml: &str) -> Result<RouteTable, InputError> {
    let mut l = Loaded::default();
    load_text("t.yaml", yaml, &mut l, &mut HashMap::new())?;
    RouteTable::build(l.ingresses, &Controller::watching_classless())
}

fn ing(name: &str, ts: &str, annotations: &str, spec: &str) -> String {
    format!(
        "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n  namespace: ns\n  creationTimestamp: \"{ts}\"\n  annotations: {{{annotations}}}\nspec:\n{spec}\n"
    )
}

fn paths(host: &str, entries: &[(&str, &str, &str)]) -> String {
    let mut s = format!("  rules:\n    - host: \"{host}\"\n      http:\n        paths:\n");
    for (p, t, svc) in entries {
        s.push_str(&format!(
            "          - {{path: \"{p}\", pathType: {t}, backend: {{service: {{name: {svc}, port: {{number: 80}}}}}}}}\n"
        ));
    }
    s
}

fn directives(t: &RouteTable, host: &str) -> Vec<String> {
    let s = t.servers.iter().find(|s| s.name == host).unwrap();
    s.locations
        .iter()
        .map(|l| format!("{} {}", l.directive(), l.backend))
        .collect()
}

fn served_by(t: &RouteTable, host: &str, path: &str) -> String {
    let r = t.route(host, path.as_bytes());
    match &r.outcome {
        Outcome::Location(_) => r
            .location()
            .map(|l| l.backend.to_string())
            .unwrap_or_default(),
        other => format!("{other:?}"),
    }
}

/// Prefix expands to `/p/` + `= /p`; IS is treated as Prefix; Exact stays.
#[test]
fn locations_are_rendered_like_ingress_nginx() {
    let t = table(&ing(
        "a",
        "2024-01-01T00:00:00Z",
        "",
        &paths(
            "h.test",
            &[
                ("/admin", "Prefix", "a"),
                ("/is", "ImplementationSpecific", "b"),
                ("/x", "Exact", "c"),
                ("/d/", "Prefix", "d"),
            ],
        ),
    ));
    assert_eq!(
        directives(&t, "h.test"),
        // length descending, ties by path descending ("/is" > "/d/")
        [
            "/admin/ a:80",
            "= /admin a:80",
            "/is/ b:80",
            "= /is b:80",
            "/d/ d:80",
            "= /d/ d:80",
            "= /x c:80",
            "/ default-backend"
        ]
    );
}

/// An Exact path with the same string suppresses the extra exact copy.
#[test]
fn exact_blocks_the_prefix_copy() {
    let t = table(&ing(
        "a",
        "2024-01-01T00:00:00Z",
        "",
        &paths("h.test", &[("/p", "Prefix", "pre"), ("/p", "Exact", "ex")]),
    ));
    assert_eq!(
        directives(&t, "h.test"),
        ["/p/ pre:80", "= /p ex:80", "/ default-backend"]
    );
    assert_eq!(served_by(&t, "h.test", "/p"), "ex:80");
    assert_eq!(served_by(&t, "h.test", "/p/x"), "pre:80");
}

/// The root location carries the annotations of the Ingress that created
/// the server, even while it still goes to the default backend.
#[test]
fn root_belongs_to_the_creating_ingress() {
    let y = ing(
        "first",
        "2024-01-01T00:00:00Z",
        "nginx.ingress.kubernetes.io/auth-url: http://a/auth?level=mfa",
        &paths("h.test", &[("/a", "Prefix", "a")]),
    ) + &ing(
        "second",
        "2024-02-01T00:00:00Z",
        "",
        &paths("h.test", &[("/b", "Prefix", "b")]),
    );
    let t = table(&y);
    let r = t.route("h.test", b"/nowhere");
    let l = r.location().unwrap();
    assert!(l.is_default);
    assert_eq!(l.backend, Backend::Default);
    assert_eq!(t.ingresses[l.ingress.unwrap()].name, "first");
}

/// A user `Prefix /` replaces the default root; an `Exact /` is added beside it.
#[test]
fn user_root_paths() {
    let t = table(&ing(
        "a",
        "2024-01-01T00:00:00Z",
        "",
        &paths("h.test", &[("/", "Prefix", "front")]),
    ));
    assert_eq!(directives(&t, "h.test"), ["/ front:80"]);
    let t = table(&ing(
        "a",
        "2024-01-01T00:00:00Z",
        "",
        &paths("h.test", &[("/", "Exact", "home")]),
    ));
    assert_eq!(
        directives(&t, "h.test"),
        ["/ default-backend", "= / home:80"]
    );
    assert_eq!(served_by(&t, "h.test", "/"), "home:80");
    assert_eq!(served_by(&t, "h.test", "/x"), "default-backend");
    let t = table(&ing(
        "a",
        "2024-01-01T00:00:00Z",
        "",
        &paths("h.test", &[("", "ImplementationSpecific", "empty")]),
    ));
    assert_eq!(directives(&t, "h.test"), ["/ empty:80"]);
}

/// spec.defaultBackend: with rules it backs the hosts' root; without rules
/// it configures the catch-all server.
#[test]
fn default_backends() {
    let with_rules = "  defaultBackend: {service: {name: fb, port: {number: 80}}}\n".to_string()
        + &paths("h.test", &[("/a", "Prefix", "a")]);
    let t = table(
        &(ing("a", "2024-01-01T00:00:00Z", "", &with_rules)
            + &ing(
                "b",
                "2024-01-02T00:00:00Z",
                "",
                "  defaultBackend: {service: {name: catch, port: {number: 80}}}",
            )),
    );
    assert_eq!(served_by(&t, "h.test", "/zzz"), "fb:80");
    assert_eq!(served_by(&t, "unknown.test", "/zzz"), "catch:80");
}

/// Ingresses sort oldest first; equal timestamps by namespace/name
/// descending; a missing timestamp counts as newest.
#[test]
fn ingress_order() {
    let y = ing(
        "zz",
        "2024-05-01T00:00:00Z",
        "",
        &paths("h.test", &[("/p", "Prefix", "zz")]),
    ) + &ing(
        "aa",
        "2024-05-01T00:00:00Z",
        "",
        &paths("h.test", &[("/p", "Prefix", "aa")]),
    ) + &ing(
        "old",
        "2023-01-01T00:00:00Z",
        "",
        &paths("o.test", &[("/p", "Prefix", "old")]),
    ) + "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: new, namespace: ns}\nspec:\n"
        + &paths("o.test", &[("/p", "Prefix", "new")]);
    let t = table(&y);
    assert_eq!(served_by(&t, "h.test", "/p"), "zz:80");
    assert_eq!(served_by(&t, "o.test", "/p"), "old:80");
    let order: Vec<&str> = t.ingresses.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(order, ["old", "zz", "aa", "new"]);
}

/// ingress-nginx's loop stops at the first same-path entry: a path of a
/// third type after a type mismatch is added again (kept, first one wins
/// in selection).
#[test]
fn same_path_different_type_loop() {
    let y = ing(
        "a",
        "2024-01-01T00:00:00Z",
        "",
        &paths("h.test", &[("/x", "Exact", "ex")]),
    ) + &ing(
        "b",
        "2024-01-02T00:00:00Z",
        "",
        &paths("h.test", &[("/x", "Prefix", "p1")]),
    ) + &ing(
        "c",
        "2024-01-03T00:00:00Z",
        "",
        &paths("h.test", &[("/x", "Prefix", "p2")]),
    );
    let t = table(&y);
    let d = directives(&t, "h.test");
    assert_eq!(
        d.iter().filter(|x| x.starts_with("/x/ ")).count(),
        2,
        "{d:?}"
    );
    assert_eq!(served_by(&t, "h.test", "/x/y"), "p1:80");
}

/// use-regex on one Ingress makes every location on the host a
/// case-insensitive, end-unanchored regex, Exact included.
#[test]
fn regex_mode_is_host_wide() {
    let y = ing(
        "r",
        "2024-01-01T00:00:00Z",
        "nginx.ingress.kubernetes.io/use-regex: \"true\"",
        &paths("h.test", &[("/u/[0-9]+", "ImplementationSpecific", "u")]),
    ) + &ing(
        "e",
        "2024-01-02T00:00:00Z",
        "",
        &paths("h.test", &[("/health", "Exact", "health")]),
    );
    let t = table(&y);
    assert!(t.servers.iter().any(|s| s.name == "h.test" && s.regex_mode));
    assert_eq!(served_by(&t, "h.test", "/healthz"), "health:80");
    assert_eq!(served_by(&t, "h.test", "/HEALTH"), "health:80");
    assert_eq!(served_by(&t, "h.test", "/U/12"), "u:80");
}

/// A regex-mode path the regex engine cannot compile is an input error
/// naming the Ingress path's line.
#[test]
fn bad_regex_is_located() {
    let y = ing(
        "r",
        "2024-01-01T00:00:00Z",
        "nginx.ingress.kubernetes.io/use-regex: \"true\"",
        &paths("h.test", &[("/a(", "ImplementationSpecific", "u")]),
    );
    let e = try_table(&y).unwrap_err();
    assert!(e.primary.starts_with("t.yaml:14:"), "{e}");
    assert!(e.primary.contains("regex mode"), "{e}");
}

/// Class filtering; a canary whose Service no older Ingress uses builds no
/// location (`createUpstreams` marks its upstream `NoServer`) and no server
/// (`createServers` skips canaries).
/// Regression: regex-mode locations are PCRE2, as nginx compiles them. An
/// `$`-anchored path also matches a `$uri` with a final newline (`%0A`),
/// which Rust's regex crate did not: stepup sent `/id/123%0A` to `/` while
/// nginx serves it from `/id/[0-9]+$` (tests/nginx_routing.rs shows it).
#[test]
fn regression_dollar_matches_before_a_final_newline() {
    let y = ing(
        "r",
        "2024-01-01T00:00:00Z",
        "nginx.ingress.kubernetes.io/use-regex: \"true\"",
        &paths("h.test", &[("/id/[0-9]+$", "ImplementationSpecific", "id")]),
    );
    let t = table(&y);
    assert_eq!(served_by(&t, "h.test", "/id/123"), "id:80");
    assert_eq!(served_by(&t, "h.test", "/id/123%0A"), "id:80");
    assert_eq!(served_by(&t, "h.test", "/id/123%0Ax"), "default-backend");
}

/// Regression: PCRE-only syntax (lookahead, backreferences, possessive
/// quantifiers, `\Q..\E`) is a location nginx loads, not an input error,
/// and nginx.conf's unescaping of the quoted regex applies (`\\.` is `\.`).
#[test]
fn regression_pcre_only_paths_route() {
    let y = ing(
        "r",
        "2024-01-01T00:00:00Z",
        "nginx.ingress.kubernetes.io/use-regex: \"true\"",
        &paths(
            "h.test",
            &[
                ("/api/(?!public)", "ImplementationSpecific", "private"),
                ("/rep/(a|b)\\\\1", "ImplementationSpecific", "backref"),
                ("/pos/[a-z]++z", "ImplementationSpecific", "possessive"),
                ("/q/\\\\Qa.b\\\\E", "ImplementationSpecific", "quoted"),
                ("/bs/a\\\\\\\\.b", "ImplementationSpecific", "backslash"),
            ],
        ),
    );
    let t = table(&y);
    assert_eq!(served_by(&t, "h.test", "/api/private"), "private:80");
    assert_eq!(served_by(&t, "h.test", "/API/Public"), "default-backend");
    assert_eq!(served_by(&t, "h.test", "/rep/aA"), "backref:80");
    assert_eq!(served_by(&t, "h.test", "/rep/ab"), "default-backend");
    assert_eq!(served_by(&t, "h.test", "/pos/abz"), "default-backend");
    assert_eq!(served_by(&t, "h.test", "/q/a.b"), "quoted:80");
    assert_eq!(served_by(&t, "h.test", "/q/axb"), "default-backend");
    assert_eq!(served_by(&t, "h.test", "/bs/a.b"), "backslash:80");
    assert_eq!(served_by(&t, "h.test", "/bs/a\\xb"), "default-backend");
}

/// Class filtering and canaries.
#[test]
fn ignored_ingresses() {
    let y = ing(
        "other",
        "2024-01-01T00:00:00Z",
        "kubernetes.io/ingress.class: traefik",
        &paths("h.test", &[("/t", "Prefix", "t")]),
    ) + &ing(
        "can",
        "2024-01-01T00:00:00Z",
        "nginx.ingress.kubernetes.io/canary: \"true\"",
        &paths("h.test", &[("/c", "Prefix", "c")]),
    );
    let t = table(&y);
    assert_eq!(t.ignored.len(), 1);
    assert!(t.servers.iter().all(|s| s.name != "h.test"));
    assert!(
        t.servers
            .iter()
            .all(|s| s.locations.iter().all(|l| l.ingress_path != "/c"))
    );
}

/// Host selection: exact beats the wildcard regex; the wildcard is one
/// label of `[A-Za-z0-9_-]`; everything else is the catch-all.
#[test]
fn host_selection() {
    let y = ing(
        "w",
        "2024-01-01T00:00:00Z",
        "",
        &(paths("*.w.test", &[("/a", "Prefix", "wild")])
            + "    - host: e.w.test\n      http:\n        paths:\n          - {path: /a, pathType: Prefix, backend: {service: {name: exact, port: {number: 80}}}}\n"),
    );
    let t = table(&y);
    assert_eq!(served_by(&t, "x.w.test", "/a"), "wild:80");
    assert_eq!(served_by(&t, "X_1.W.TEST:443", "/a"), "wild:80");
    assert_eq!(served_by(&t, "e.w.test", "/a"), "exact:80");
    assert_eq!(served_by(&t, "a.b.w.test", "/a"), "default-backend");
    assert_eq!(served_by(&t, "w.test", "/a"), "default-backend");
}
