use super::*;
use crate::ingress::{Loaded, load_text};
use crate::routing::Classes;

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
    let t = RouteTable::build(l.ingresses, &Classes::default()).unwrap();
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
        let t = RouteTable::build(l.ingresses, &Classes::default()).unwrap();
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
