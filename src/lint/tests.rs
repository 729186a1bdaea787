use super::*;
use crate::controllers::ingress_nginx::routing::Controller;
use crate::ingress::{Loaded, load_text};

fn lint_yaml(policy: &str, yaml: &str) -> Report {
    let p = crate::policy::parse("p.yaml", policy).unwrap();
    let mut l = Loaded::default();
    load_text(
        "t.yaml",
        yaml,
        &mut l,
        &mut std::collections::HashMap::new(),
    )
    .unwrap();
    let t = RouteTable::build(l.ingresses, &Controller::watching_classless()).unwrap();
    lint(&p, &t, &Options::default())
}

const POLICY: &str = "apiVersion: stepup.dev/v1alpha1\nkind: StepUpPolicy\nspec:\n  levels: [{name: mfa, acr: [phrh]}]\n  rules:\n    - {name: admin, paths: [/admin, /admin/**], level: mfa}\n  default: public\n";

/// Every rule ID is unique, in order, and has explain text.
#[test]
fn registry_is_consistent() {
    let ids: Vec<&str> = rules().iter().map(|r| r.id).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(ids, sorted);
    assert!(
        rules()
            .iter()
            .all(|r| r.explain.len() > 100 && !r.summary.is_empty())
    );
    assert_eq!(rule("su006").map(|r| r.name), Some("shadowed"));
    assert_eq!(rule("prefix-leak").map(|r| r.id), Some("SU007"));
}

/// Suppressions need a reason; reasonless ones are findings themselves.
#[test]
fn suppressions() {
    let ing = |ann: &str| {
        format!(
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: a\n  annotations: {{{ann}}}\nspec:\n  rules:\n    - host: h.test\n      http:\n        paths:\n          - {{path: /admin, pathType: Prefix, backend: {{service: {{name: s, port: {{number: 80}}}}}}}}\n"
        )
    };
    let r = lint_yaml(POLICY, &ing(""));
    assert!(
        r.findings.iter().any(|f| f.rule == "SU001"),
        "{:?}",
        r.findings
    );
    let r = lint_yaml(
        POLICY,
        &ing("stepup.dev/ignore: \"SU001: reviewed, internal only\""),
    );
    assert!(
        r.findings.iter().all(|f| f.rule != "SU001"),
        "{:?}",
        r.findings
    );
    assert_eq!(r.suppressed, 1);
    // An error suppression no grant covers: lint honours it but says that
    // admission will not.
    let su017: Vec<&Finding> = r.findings.iter().filter(|f| f.rule == "SU017").collect();
    assert_eq!(su017.len(), 1, "{:?}", r.findings);
    assert!(
        su017[0]
            .message
            .contains("admission (/validate) will deny it")
            && su017[0].message.contains("spec.exemptions"),
        "{}",
        su017[0].message
    );
    assert_eq!(r.grant_uses.len(), 1);
    let r = lint_yaml(POLICY, &ing("stepup.dev/ignore: \"SU001\""));
    assert!(r.findings.iter().any(|f| f.rule == "SU001"));
    assert!(r.findings.iter().any(|f| f.rule == "SU017"));
}

/// cert-manager's solver Ingresses are exempt.
#[test]
fn acme_solvers_are_exempt() {
    let y = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: cm-acme-http-solver-x\n  labels: {acme.cert-manager.io/http01-solver: \"true\"}\nspec:\n  rules:\n    - host: h.test\n      http:\n        paths:\n          - {path: /.well-known/acme-challenge/abc, pathType: ImplementationSpecific, backend: {service: {name: s, port: {number: 8089}}}}\n";
    let r = lint_yaml(POLICY, y);
    assert!(r.findings.is_empty(), "{:?}", r.findings);
}

/// With `grants_required` (what `/validate` runs), an error suppression
/// holds only where a policy grant covers the Ingress and the rule; a
/// warning suppression needs no grant.
#[test]
fn error_suppressions_need_a_grant_when_required() {
    let ing = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: a\n  namespace: ops\n  annotations: {stepup.dev/ignore: \"SU001: internal only\"}\nspec:\n  rules:\n    - host: h.test\n      http:\n        paths:\n          - {path: /admin, pathType: Prefix, backend: {service: {name: s, port: {number: 80}}}}\n";
    let run = |policy: &str, strict: bool| {
        let p = crate::policy::parse("p.yaml", policy).unwrap();
        let mut l = Loaded::default();
        load_text("t.yaml", ing, &mut l, &mut std::collections::HashMap::new()).unwrap();
        let t = RouteTable::build(l.ingresses, &Controller::watching_classless()).unwrap();
        let opts = Options {
            grants_required: strict,
            ..Options::default()
        };
        lint(&p, &t, &opts)
    };
    let r = run(POLICY, true);
    let f = r
        .findings
        .iter()
        .find(|f| f.rule == "SU001")
        .expect("SU001 kept");
    assert!(
        f.message
            .contains("stepup.dev/ignore names SU001, but it is not granted"),
        "{}",
        f.message
    );
    assert_eq!(r.suppressed, 0);
    let granted = format!(
        "{POLICY}  exemptions:\n    - {{namespaces: [ops], rules: [SU001], reason: \"ops tools, SEC-7\"}}\n"
    );
    for strict in [true, false] {
        let r = run(&granted, strict);
        assert!(
            r.findings
                .iter()
                .all(|f| f.rule != "SU001" && f.rule != "SU017"),
            "{:?}",
            r.findings
        );
        assert_eq!(r.suppressed, 1);
        assert_eq!(r.grant_uses[0].outcome.as_str(), "granted");
    }
}

// === SU018: rewrite-target onto protected paths (issue 15) ===

const REWRITE_POLICY: &str = "apiVersion: stepup.dev/v1alpha1\nkind: StepUpPolicy\nspec:\n  authService: {url: http://stepup.stepup-system.svc.cluster.local:8080, signinPath: /.stepup}\n  levels: [{name: authenticated}, {name: mfa, acr: [phrh]}]\n  rules:\n    - {name: admin, paths: [/admin, /admin/**], level: mfa}\n    - {name: reports, paths: [/reports, /reports/**], level: authenticated}\n  default: public\n";

/// The Ingress: `/reports(/|$)(.*)` at level authenticated, with
/// `annotations` (a flow mapping's entries) added.
fn rewrite_ingress(target: &str, level: &str) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: reports\n  namespace: shop\n  annotations:\n    nginx.ingress.kubernetes.io/use-regex: \"true\"\n    nginx.ingress.kubernetes.io/rewrite-target: \"{target}\"\n    nginx.ingress.kubernetes.io/auth-url: \"http://stepup.stepup-system.svc.cluster.local:8080/auth?level={level}\"\nspec:\n  rules:\n    - host: shop.test\n      http:\n        paths:\n          - {{path: \"/reports(/|$)(.*)\", pathType: ImplementationSpecific, backend: {{service: {{name: s, port: {{number: 80}}}}}}}}\n"
    )
}

fn su018(target: &str, level: &str) -> Vec<Finding> {
    lint_yaml(REWRITE_POLICY, &rewrite_ingress(target, level))
        .findings
        .into_iter()
        .filter(|f| f.rule == "SU018")
        .collect()
}

/// The sample: the backend's /admin/... behind a password login.
#[test]
fn rewrite_onto_a_stricter_rule_is_an_error() {
    let f = su018("/admin/$2", "authenticated");
    assert_eq!(f.len(), 1, "{f:?}");
    let f = &f[0];
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(
        (f.ingress.as_str(), f.path.as_str()),
        ("reports", "/reports(/|$)(.*)")
    );
    for part in [
        "rewrite-target /admin/$2",
        "any path under /admin/",
        "policy rule admin requires mfa",
        "Ingress shop/reports",
        "level authenticated",
    ] {
        assert!(f.message.contains(part), "{part:?} not in {}", f.message);
    }
    assert!(f.fix.contains("level mfa"), "{}", f.fix);
    // At the stricter level it is fine.
    assert!(su018("/admin/$2", "mfa").is_empty());
}

/// A target under the same rule, or one no stricter rule covers, is fine.
#[test]
fn rewrite_to_the_same_or_a_weaker_rule_is_fine() {
    assert!(su018("/reports-v2/$2", "authenticated").is_empty());
    assert!(su018("/reports/$2", "authenticated").is_empty());
    assert!(su018("/public/$2", "authenticated").is_empty());
    assert!(su018("/reports/summary", "authenticated").is_empty());
}

/// With no `$`, the target is one exact path: the rule the policy picks.
#[test]
fn rewrite_to_an_exact_protected_path_is_an_error() {
    let f = su018("/admin/settings", "authenticated");
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].message.contains("as /admin/settings"),
        "{}",
        f[0].message
    );
    // `?` and `=` are not in `parser.RegexPathWithCapture`: the controller
    // sets such a target to "" (`annotations/rewrite/main.go` `Parse`), so
    // there is no rewrite to check.
    assert!(su018("/admin?from=$2", "authenticated").is_empty());
}

/// `/$2` can reach anything: any stricter rule on the host is an error
/// (fail closed), and an absent capture expands to nothing.
#[test]
fn rewrite_to_an_open_prefix_fails_closed() {
    let f = su018("/$2", "authenticated");
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].message.contains("any path under /"),
        "{}",
        f[0].message
    );
    assert_eq!(su018("$2", "authenticated").len(), 1);
    assert_eq!(su018("/adm$1", "authenticated").len(), 1);
    // `$5`: /reports(/|$)(.*) has two groups, so the target is exactly `/`.
    assert!(su018("/$5", "authenticated").is_empty());
    // An absolute URL is a redirect, not an upstream rewrite.
    assert!(su018("https://other.test/admin/$2", "authenticated").is_empty());
}

/// A public Ingress (no auth) rewriting onto a protected path; `app-root`
/// and `x-forwarded-prefix` are not rewrites.
#[test]
fn rewrite_from_a_public_ingress_and_non_rewrites() {
    let open = rewrite_ingress("/admin/$2", "authenticated")
        .replace("    nginx.ingress.kubernetes.io/auth-url: \"http://stepup.stepup-system.svc.cluster.local:8080/auth?level=authenticated\"\n", "");
    let f: Vec<Finding> = lint_yaml(REWRITE_POLICY, &open)
        .findings
        .into_iter()
        .filter(|f| f.rule == "SU018")
        .collect();
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].message.contains("with no auth"), "{}", f[0].message);
    let other = rewrite_ingress("/admin/$2", "authenticated").replace(
        "    nginx.ingress.kubernetes.io/rewrite-target: \"/admin/$2\"\n",
        "    nginx.ingress.kubernetes.io/app-root: /admin\n    nginx.ingress.kubernetes.io/x-forwarded-prefix: /admin\n",
    );
    let r = lint_yaml(REWRITE_POLICY, &other);
    assert!(
        r.findings.iter().all(|f| f.rule != "SU018"),
        "{:?}",
        r.findings
    );
}

/// Where a target can land.
#[test]
fn rewrite_reach() {
    use super::rewrite::{Reach, reach};
    let p = "/reports(/|$)(.*)";
    assert_eq!(reach(p, "/admin/$2"), Some(Reach::Under("/admin/".into())));
    assert_eq!(reach(p, "/admin"), Some(Reach::Exact("/admin".into())));
    assert_eq!(reach(p, "/a/$9/b"), Some(Reach::Exact("/a//b".into())));
    assert_eq!(reach(p, "/a$host"), Some(Reach::Under("/a".into())));
    assert_eq!(reach(p, "/a${1}"), Some(Reach::Under("/a".into())));
    assert_eq!(reach(p, "$scheme://x/"), Some(Reach::Under("/".into())));
    assert_eq!(reach(p, "HTTP://x/$1"), None);
    // Groups are counted as PCRE2 counts them: a lookbehind is no group.
    assert_eq!(
        reach("/a(?<=a)(.*)", "/x/$2"),
        Some(Reach::Exact("/x/".into()))
    );
    // A regex nginx cannot compile: every capture may be set.
    assert_eq!(reach("/a((.*)", "/x/$5"), Some(Reach::Under("/x/".into())));
}

/// `aggregate` merges exactly the findings whose rule, Ingress, host, path
/// and fix agree, counting the rest into the first (its index is a hash of
/// the borrowed key, no longer the cloned strings).
#[test]
fn regression_aggregate_merges_equal_keys_only() {
    let f = |ingress: &str, path: &str, fix: &str, message: &str| Finding {
        rule: "SU001",
        severity: Severity::Error,
        message: message.into(),
        file: "a.yaml".into(),
        line: 1,
        namespace: "ns".into(),
        ingress: ingress.into(),
        host: "h".into(),
        path: path.into(),
        fix: fix.into(),
    };
    let out = aggregate(vec![
        f("a", "/", "x", "first"),
        f("a", "/", "x", "second"),
        f("a", "/", "y", "other fix"),
        f("b", "/", "x", "other ingress"),
        f("a", "/", "x", "third"),
        f("a", "/p", "x", "other path"),
    ]);
    let messages: Vec<&str> = out.iter().map(|f| f.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "first (and 2 more probe path(s) through the same location)",
            "other fix",
            "other ingress",
            "other path"
        ]
    );
}
