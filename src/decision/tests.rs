use std::collections::HashMap;

use serde_json::json;

use super::*;
use crate::controllers::ingress_nginx::routing::{Controller, RouteTable};
use crate::ingress::{Loaded, load_text};

const NOW: i64 = 1_700_000_000;

const POLICY: &str = "apiVersion: stepup.dev/v1alpha1
kind: StepUpPolicy
spec:
  authService: {url: \"http://stepup.sys.svc:8080\"}
  levels:
    - name: mfa
      acr: [urn:mfa, phrh]
      amr: [[mfa], [hwk]]
      maxAge: 15m
    - name: admin
      extends: mfa
      maxAge: 5m
      claims: {groups: [admins]}
    - name: people
      human: true
    - name: fresh-people
      human: true
      maxAge: 1h
  rules:
    - {name: admin, paths: [/admin, /admin/**], level: admin}
    - {name: pay, paths: [/pay/**], level: mfa}
    - {name: blocked, paths: [/actuator/**], level: deny}
    - {name: pub, paths: [/, /static/**], level: public}
  default: authenticated
";

fn policy() -> Policy {
    crate::policy::parse("p.yaml", POLICY).unwrap()
}

fn claims(v: serde_json::Value) -> Claims {
    v.as_object().unwrap().clone()
}

fn strong() -> Claims {
    claims(
        json!({"sub": "alice", "email": "a@x", "acr": "phrh", "amr": ["pwd", "hwk"], "auth_time": NOW - 60, "exp": NOW + 600, "groups": ["admins", "dev"]}),
    )
}

fn need(p: &Policy, name: &str) -> Need {
    p.need_of(name).unwrap()
}

/// A strong, fresh token in the right group passes admin, with identity headers.
#[test]
fn allow_with_identity() {
    let p = policy();
    match check(&need(&p, "admin"), Some(&strong()), NOW) {
        Check::Allow(h) => {
            let h: std::collections::BTreeMap<&str, String> = h.into_iter().collect();
            assert_eq!(h["X-Auth-Request-User"], "alice");
            assert_eq!(h["X-Auth-Request-Email"], "a@x");
            assert_eq!(h["X-Auth-Request-Groups"], "admins,dev");
            assert_eq!(h["X-Auth-Request-Acr"], "phrh");
        }
        other => panic!("{other:?}"),
    }
}

/// No credentials: 401 with a plain Bearer challenge.
#[test]
fn unauthenticated() {
    let c = check(&need(&p_auth(), "authenticated"), None, NOW);
    assert_eq!(c.status(), 401);
    assert_eq!(c.www_authenticate().unwrap(), "Bearer realm=\"stepup\"");
}

fn p_auth() -> Policy {
    policy()
}

/// Weak or stale logins get an RFC 9470 challenge naming acr_values and max_age.
#[test]
fn step_up_challenges() {
    let p = policy();
    let mut weak = strong();
    weak.insert("acr".into(), json!("pwd-only"));
    let c = check(&need(&p, "admin"), Some(&weak), NOW);
    assert_eq!(c.kind(), Kind::StepUp);
    let h = c.www_authenticate().unwrap();
    assert!(
        h.contains("error=\"insufficient_user_authentication\""),
        "{h}"
    );
    assert!(h.contains("acr_values=\"phrh urn:mfa\""), "{h}");
    assert!(h.contains("max_age=300"), "{h}");

    let mut stale = strong();
    stale.insert("auth_time".into(), json!(NOW - 600));
    assert_eq!(
        check(&need(&p, "admin"), Some(&stale), NOW).kind(),
        Kind::StepUp
    );
    assert_eq!(
        check(&need(&p, "mfa"), Some(&stale), NOW).kind(),
        Kind::Allow,
        "10 minutes is fresh enough for mfa"
    );

    let mut no_amr = strong();
    no_amr.insert("amr".into(), json!(["pwd"]));
    assert_eq!(
        check(&need(&p, "mfa"), Some(&no_amr), NOW).kind(),
        Kind::StepUp
    );

    let mut no_time = strong();
    no_time.remove("auth_time");
    assert_eq!(
        check(&need(&p, "mfa"), Some(&no_time), NOW).kind(),
        Kind::StepUp
    );
}

/// A missing group cannot be fixed by logging in again: 403, not a loop.
#[test]
fn missing_claim_is_forbidden() {
    let p = policy();
    let mut c = strong();
    c.insert("groups".into(), json!(["dev"]));
    assert_eq!(check(&need(&p, "admin"), Some(&c), NOW).status(), 403);
    c.remove("groups");
    assert_eq!(check(&need(&p, "admin"), Some(&c), NOW).status(), 403);
    c.insert("groups".into(), json!("admins"));
    assert_eq!(
        check(&need(&p, "admin"), Some(&c), NOW).status(),
        200,
        "a string claim counts as one value"
    );
}

/// SPEC §6 claim classes: each is an invalid token (401 invalid_token), never an allow.
#[test]
fn bad_claims_are_invalid_tokens() {
    let p = policy();
    type Mutation = Box<dyn Fn(&mut Claims)>;
    let cases: Vec<(&str, Mutation)> = vec![
        (
            "expired",
            Box::new(|c: &mut Claims| {
                c.insert("exp".into(), json!(NOW - 3600));
            }),
        ),
        (
            "nbf in the future",
            Box::new(|c: &mut Claims| {
                c.insert("nbf".into(), json!(NOW + 3600));
            }),
        ),
        (
            "auth_time in the future",
            Box::new(|c: &mut Claims| {
                c.insert("auth_time".into(), json!(NOW + 3600));
            }),
        ),
        (
            "iat in the future",
            Box::new(|c: &mut Claims| {
                c.insert("iat".into(), json!(NOW + LEEWAY_SECS + 1));
            }),
        ),
        (
            "iat as a string",
            Box::new(|c: &mut Claims| {
                c.insert("iat".into(), json!("now"));
            }),
        ),
        (
            "auth_time just past the leeway",
            Box::new(|c: &mut Claims| {
                c.insert("auth_time".into(), json!(NOW + LEEWAY_SECS + 1));
            }),
        ),
        (
            "acr of the wrong type",
            Box::new(|c: &mut Claims| {
                c.insert("acr".into(), json!(2));
            }),
        ),
        (
            "acr as an array",
            Box::new(|c: &mut Claims| {
                c.insert("acr".into(), json!(["phrh"]));
            }),
        ),
        (
            "amr not an array",
            Box::new(|c: &mut Claims| {
                c.insert("amr".into(), json!("hwk"));
            }),
        ),
        (
            "exp as a string",
            Box::new(|c: &mut Claims| {
                c.insert("exp".into(), json!("tomorrow"));
            }),
        ),
        (
            "no sub",
            Box::new(|c: &mut Claims| {
                c.remove("sub");
            }),
        ),
        (
            "empty sub",
            Box::new(|c: &mut Claims| {
                c.insert("sub".into(), json!(""));
            }),
        ),
    ];
    for (name, mutate) in cases {
        let mut c = strong();
        mutate(&mut c);
        let r = check(&need(&p, "authenticated"), Some(&c), NOW);
        if name == "iat in the future" {
            assert_eq!(
                r,
                Check::Unauthenticated(Some("iat is in the future (61s ahead)".into()))
            );
        }
        assert!(
            matches!(r, Check::Unauthenticated(Some(_))),
            "{name}: {r:?}"
        );
        assert!(
            r.www_authenticate()
                .unwrap()
                .contains("error=\"invalid_token\""),
            "{name}"
        );
    }
    // Within the leeway is fine.
    let mut c = strong();
    c.insert("exp".into(), json!(NOW - LEEWAY_SECS + 1));
    c.insert("iat".into(), json!(NOW + LEEWAY_SECS));
    c.insert("auth_time".into(), json!(NOW + LEEWAY_SECS));
    assert_eq!(
        check(&need(&p, "authenticated"), Some(&c), NOW).kind(),
        Kind::Allow
    );
}

/// Header parameters cannot be broken out of by claim content.
#[test]
fn challenge_is_quote_safe() {
    let c = Check::Unauthenticated(Some("bad \"x\"\r\nInjected: 1".into()));
    let h = c.www_authenticate().unwrap();
    assert!(
        !h.contains('\r') && !h.contains('\n') && h.matches('"').count() == 6,
        "{h}"
    );
}

fn cluster(annotations: &str) -> RouteTable {
    let y = format!(
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: app\n  namespace: shop\n  annotations: {{{annotations}}}\nspec:\n  rules:\n    - host: shop.test\n      http:\n        paths:\n          - {{path: /admin, pathType: Prefix, backend: {{service: {{name: admin, port: {{number: 80}}}}}}}}\n          - {{path: /pay, pathType: Prefix, backend: {{service: {{name: pay, port: {{number: 80}}}}}}}}\n"
    );
    let mut l = Loaded::default();
    load_text("t.yaml", &y, &mut l, &mut HashMap::new()).unwrap();
    RouteTable::build(l.ingresses, &Controller::watching_classless()).unwrap()
}

fn run(t: &RouteTable, target: &str, c: Option<&Claims>) -> Verdict {
    let p = policy();
    let routed = t.route("shop.test", target.as_bytes());
    let ingress = routed
        .location()
        .and_then(|l| l.ingress)
        .map(|i| &t.ingresses[i]);
    let route = Route {
        routed: &routed,
        ingress,
    };
    let req = Request {
        method: "GET",
        scheme: "https",
        host: "shop.test",
        target,
    };
    decide(&p, Some(&route), &req, c, NOW)
}

/// The auth-url level and the path's rule combine: a route annotated with
/// a weaker level still needs the rule's level.
#[test]
fn stricter_of_level_and_rule() {
    let t = cluster(
        "nginx.ingress.kubernetes.io/auth-url: \"http://stepup.sys.svc:8080/auth?level=authenticated\"",
    );
    let mut mfa_only = strong();
    mfa_only.insert("groups".into(), json!(["dev"]));
    let v = run(&t, "/admin/users", Some(&mfa_only));
    assert_eq!(v.kind, Kind::Forbidden);
    assert_eq!(v.effective.label(), "admin");
    assert_eq!(v.rule.as_deref(), Some("admin"));
    let v = run(&t, "/pay/x", Some(&mfa_only));
    assert_eq!((v.kind, v.status), (Kind::Allow, 200));
}

/// Without auth-signin the RFC 9470 401 reaches the client; with it, a 302
/// to the sign-in URL carrying `rd`.
#[test]
fn signin_turns_401_into_302() {
    let base =
        "nginx.ingress.kubernetes.io/auth-url: \"http://stepup.sys.svc:8080/auth?level=admin\"";
    let v = run(&cluster(base), "/admin", None);
    assert_eq!((v.kind, v.status), (Kind::Unauthenticated, 401));
    assert_eq!(v.headers["WWW-Authenticate"], "Bearer realm=\"stepup\"");
    let with = format!(
        "{base}, nginx.ingress.kubernetes.io/auth-signin: \"https://$host/.stepup/signin?level=admin\""
    );
    let v = run(&cluster(&with), "/admin/x?a=1", None);
    assert_eq!(v.status, 302);
    assert_eq!(
        v.headers["Location"],
        "https://shop.test/.stepup/signin?level=admin&rd=https://shop.test%2Fadmin%2Fx%3Fa%3D1"
    );
}

/// No auth annotation on a route the policy protects: allowed, and exposed.
#[test]
fn missing_auth_is_exposed() {
    let v = run(&cluster(""), "/admin", None);
    assert_eq!((v.kind, v.status, v.exposed), (Kind::Allow, 200, true));
    let v = run(&cluster(""), "/static/a.css", None);
    assert_eq!(
        (v.kind, v.exposed),
        (Kind::NotFound, false),
        "default backend, public"
    );
}

/// A foreign auth service cannot enforce step-up levels.
#[test]
fn external_auth() {
    let t = cluster("nginx.ingress.kubernetes.io/auth-url: \"https://$host/oauth2/auth\"");
    let v = run(&t, "/admin", None);
    assert_eq!(v.kind, Kind::Unauthenticated);
    let v = run(&t, "/admin", Some(&strong()));
    assert_eq!((v.kind, v.exposed), (Kind::Allow, true));
}

/// An auth-url naming a level the policy lacks fails closed.
#[test]
fn unknown_level_fails_closed() {
    let t = cluster(
        "nginx.ingress.kubernetes.io/auth-url: \"http://stepup.sys.svc:8080/auth?level=nope\"",
    );
    let v = run(&t, "/admin", Some(&strong()));
    assert_eq!((v.kind, v.status), (Kind::Forbidden, 403));
}

/// deny rules refuse everyone; nginx-level outcomes come first.
#[test]
fn deny_redirect_and_bad_request() {
    let t = cluster(
        "nginx.ingress.kubernetes.io/auth-url: \"http://stepup.sys.svc:8080/auth?level=authenticated\"",
    );
    let v = run(&t, "/actuator/env", Some(&strong()));
    assert_eq!((v.kind, v.status), (Kind::Forbidden, 403));
    let v = run(&cluster(""), "/admin/../../etc", None);
    assert_eq!((v.kind, v.status), (Kind::BadRequest, 400));
    let v = run(&cluster(""), "/x%zz", None);
    assert_eq!(v.kind, Kind::BadRequest);
}

/// Path tricks normalise before the rule is chosen.
#[test]
fn path_tricks_hit_the_admin_rule() {
    let t = cluster(
        "nginx.ingress.kubernetes.io/auth-url: \"http://stepup.sys.svc:8080/auth?level=authenticated\"",
    );
    for p in [
        "/x/../admin",
        "//admin",
        "/%61dmin",
        "/admin%2Fusers",
        "/x/%2e%2e/admin/",
        "/admin;jsessionid=1",
    ] {
        let v = run(&t, p, None);
        assert_eq!(v.rule.as_deref(), Some("admin"), "{p}");
    }
}

/// Policy-only mode answers as stepup's /auth would.
#[test]
fn policy_only() {
    let p = policy();
    let req = Request {
        method: "GET",
        scheme: "https",
        host: "any",
        target: "/admin",
    };
    let v = decide(&p, None, &req, Some(&strong()), NOW);
    assert_eq!((v.kind, v.status), (Kind::Allow, 200));
    let v = decide(&p, None, &req, None, NOW);
    assert_eq!((v.kind, v.status), (Kind::Unauthenticated, 401));
}

/// stepup's own sign-in path is public, not an exposed route.
#[test]
fn signin_path_is_public() {
    let p = crate::policy::parse(
        "p.yaml",
        &POLICY.replace(
            "url: \"http://stepup.sys.svc:8080\"",
            "url: \"http://stepup.sys.svc:8080\", signinPath: /.stepup",
        ),
    )
    .unwrap();
    let req = Request {
        method: "GET",
        scheme: "https",
        host: "h",
        target: "/.stepup/signin?level=admin",
    };
    let v = decide(&p, None, &req, None, NOW);
    assert_eq!(
        (v.kind, v.required.clone(), v.exposed),
        (Kind::Allow, Need::Public, false)
    );
    let req = Request {
        method: "GET",
        scheme: "https",
        host: "h",
        target: "/.stepupx",
    };
    assert_ne!(decide(&p, None, &req, None, NOW).required, Need::Public);
}

fn admin_claims() -> Claims {
    let mut c = strong();
    c.insert("groups".into(), json!(["admins"]));
    c
}

fn with_url(url: &str) -> RouteTable {
    cluster(&format!("nginx.ingress.kubernetes.io/auth-url: \"{url}\""))
}

/// Issue 15: an auth-url query that says two things, or nothing, fails
/// closed in `simulate` with the runtime's own words.
#[test]
fn regression_ambiguous_auth_url_query_fails_closed() {
    for (query, why) in [
        ("level=&level=public", "auth-url parameter level is empty"),
        (
            "level=admin&level=public",
            "auth-url parameter level appears more than once",
        ),
        (
            "level=public&rule=admin&rule=pub",
            "auth-url parameter rule appears more than once",
        ),
        ("level=admin&host=", "auth-url parameter host is empty"),
        ("rule=admin", "auth-url has no level parameter"),
    ] {
        let t = with_url(&format!("http://stepup.sys.svc:8080/auth?{query}"));
        let v = run(&t, "/admin", Some(&admin_claims()));
        assert_eq!(v.kind, Kind::Forbidden, "{query}");
        assert_eq!(v.effective, Need::Deny, "{query}");
        assert!(
            v.trace.iter().any(|l| l.contains(why)),
            "{query}: {:?}",
            v.trace
        );
    }
}

/// Issue 15: `rule=` is a floor in `simulate` as at runtime; a rule the
/// policy does not have fails closed.
#[test]
fn regression_rule_param_is_a_floor() {
    let mut mfa_only = strong();
    mfa_only.insert("groups".into(), json!(["dev"]));
    let t = with_url("http://stepup.sys.svc:8080/auth?level=authenticated&rule=admin");
    let v = run(&t, "/pay/x", Some(&mfa_only));
    assert_eq!(
        (v.kind, v.effective.label().as_str()),
        (Kind::Forbidden, "admin")
    );
    let t = with_url("http://stepup.sys.svc:8080/auth?level=admin&rule=nope");
    let v = run(&t, "/admin", Some(&admin_claims()));
    assert_eq!(v.kind, Kind::Forbidden);
}

/// Issue 15: only `authService.url` (in its in-cluster spellings) is
/// stepup; a look-alike is a foreign check that cannot enforce `admin`.
#[test]
fn regression_only_the_auth_service_is_stepup() {
    for url in [
        "http://stepup.sys:8080/auth?level=admin",
        "http://stepup.sys.svc:8080/auth?level=admin&host=$host",
        "http://STEPUP.sys.svc.cluster.local.:8080/auth?level=admin",
    ] {
        let mut dev = strong();
        dev.insert("groups".into(), json!(["dev"]));
        let v = run(&with_url(url), "/admin", Some(&dev));
        assert!(matches!(v.enforced, Enforcement::Stepup { .. }), "{url}");
        assert_eq!((v.kind, v.exposed), (Kind::Forbidden, false), "{url}");
    }
    for url in [
        "http://stepup.other.svc:8080/auth?level=admin",
        "http://stepup.sys.svc:8081/auth?level=admin",
        "https://stepup.sys.svc:8080/auth?level=admin",
        "http://stepup.sys.svc:8080/x/auth?level=admin",
        "http://evil.example/auth?level=admin",
        "http://stepup/auth?level=admin",
        "https://$host/auth?level=admin",
    ] {
        let v = run(&with_url(url), "/admin", Some(&strong()));
        assert!(
            matches!(v.enforced, Enforcement::External(_)),
            "{url}: {:?}",
            v.enforced
        );
        assert!(v.exposed, "{url}");
    }
}

/// `@` is not a character `parser.URLWithNginxVariableRegex` allows: the
/// controller drops the Ingress (`annotations.go` `Extract`, a
/// `ValidationError` from `checkAnnotation`), so its paths are not routed
/// to it at all, rather than checked by evil.example.
#[test]
fn regression_an_auth_url_with_userinfo_drops_the_ingress() {
    let t = with_url("http://stepup.sys.svc:8080@evil.example/auth?level=admin");
    assert_eq!(t.dropped.len(), 1);
    assert!(t.ingresses.is_empty());
    let v = run(&t, "/admin", Some(&strong()));
    assert_eq!(v.enforced, Enforcement::None);
}

/// An auth-url Go's `url.Parse` rejects (a variable as the port) denies
/// the location (`authreq.Parse` → `LocationDenied`): nginx answers 503
/// before any auth (`isLocationAllowed`).
#[test]
fn an_auth_url_that_does_not_parse_answers_503() {
    for url in [
        "http://stepup.sys.svc:$arg_port/auth?level=admin",
        "$scheme://stepup.sys.svc:8080/auth?level=admin",
    ] {
        let v = run(&with_url(url), "/admin", None);
        assert_eq!((v.kind, v.status), (Kind::Unavailable, 503), "{url}: {v:?}");
        assert!(!v.exposed, "{url}");
    }
}

/// Issue 15: a URL part of which the request picks is no check at all.
#[test]
fn regression_request_chosen_auth_url_is_exposed() {
    for url in [
        "https://$http_x_auth_host/auth?level=admin",
        "http://stepup.sys.svc:8080/$arg_p?level=admin",
        "http://stepup.sys.svc:8080/auth?level=$arg_level",
        "http://stepup.sys.svc:8080/auth?level=admin&host=$http_x_host",
        "http://stepup.sys.svc:8080/auth?level=admin&x=$http_x",
    ] {
        let v = run(&with_url(url), "/admin", None);
        assert!(
            matches!(v.enforced, Enforcement::RequestChosen(_)),
            "{url}: {:?}",
            v.enforced
        );
        assert_eq!((v.kind, v.exposed), (Kind::Allow, true), "{url}");
    }
}

/// Issue 15: a client-credentials token (no user: no `auth_time`, no `acr`,
/// `sub` the client id) passes a level without `human`, with the client as
/// the user; a `human: true` level asks for a person's login instead.
#[test]
fn human_levels_refuse_client_credentials() {
    let p = policy();
    let robot = claims(
        json!({"sub": "robot", "client_id": "robot", "scope": "shop", "exp": NOW + 600, "iat": NOW}),
    );
    match check(&need(&p, "authenticated"), Some(&robot), NOW) {
        Check::Allow(h) => assert!(
            h.contains(&("X-Auth-Request-User", "robot".to_string())),
            "{h:?}"
        ),
        r => panic!("{r:?}"),
    }
    let r = check(&need(&p, "people"), Some(&robot), NOW);
    assert_eq!(
        r,
        Check::StepUp {
            acr_values: None,
            max_age: None,
            reason: "token shows no interactive login (no auth_time); token's sub is its own client (no user)".into(),
        }
    );
    // Its challenge is RFC 9470's, without acr_values or max_age.
    let h = r.www_authenticate().unwrap_or_default();
    assert!(h.contains("insufficient_user_authentication"), "{h}");
    assert!(!h.contains("acr_values") && !h.contains("max_age"), "{h}");
    // auth_time alone is not enough when sub is the client itself (azp too).
    for k in ["client_id", "azp"] {
        let mut c = claims(json!({"sub": "robot", "exp": NOW + 600, "auth_time": NOW - 5}));
        c.insert(k.into(), json!("robot"));
        assert_eq!(
            check(&need(&p, "people"), Some(&c), NOW),
            Check::StepUp {
                acr_values: None,
                max_age: None,
                reason: "token's sub is its own client (no user)".into(),
            },
            "{k}"
        );
    }
    // With maxAge, a missing auth_time is said once.
    match check(&need(&p, "fresh-people"), Some(&robot), NOW) {
        Check::StepUp {
            reason, max_age, ..
        } => {
            assert_eq!(max_age, Some(3600));
            assert_eq!(
                reason,
                "token has no auth_time; token's sub is its own client (no user)"
            );
        }
        r => panic!("{r:?}"),
    }
    // A person's login passes, whatever client it was issued to.
    let mut alice = strong();
    alice.insert("azp".into(), json!("shop-web"));
    alice.insert("client_id".into(), json!("shop-web"));
    assert_eq!(
        check(&need(&p, "people"), Some(&alice), NOW).kind(),
        Kind::Allow
    );
    assert_eq!(
        check(&need(&p, "fresh-people"), Some(&alice), NOW).kind(),
        Kind::Allow
    );
    // A human level combined with another keeps demanding it.
    let both = need(&p, "people").and(&need(&p, "authenticated"));
    assert_eq!(check(&both, Some(&robot), NOW).kind(), Kind::StepUp);
}
