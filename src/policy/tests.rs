use super::*;

const BASE: &str = "apiVersion: stepup.dev/v1alpha1
kind: StepUpPolicy
metadata: {name: t}
spec:
  levels:
    - name: mfa
      acr: [urn:stepup:mfa, phrh]
      amr: [[mfa], [otp], [hwk]]
      maxAge: 15m
    - name: admin
      extends: mfa
      maxAge: 5m
      claims: {groups: [shop-admins]}
  rules:
    - name: admin-console
      hosts: [admin.example.com, \"*.shop.example.com\"]
      paths: [/admin, /admin/**]
      level: admin
    - name: payments
      paths: [/api/payments/**]
      methods: [POST]
      level: mfa
    - name: public
      paths: [/, /static/**]
      level: public
  default: authenticated
";

fn pol(text: &str) -> Result<Policy, InputError> {
    parse("p.yaml", text)
}

fn err(text: &str) -> String {
    pol(text).unwrap_err().to_string()
}

fn req(
    acr: Option<&[&str]>,
    amr: Option<&[&[&str]]>,
    max_age: Option<u64>,
    claims: &[(&str, &[&str])],
) -> Requirement {
    Requirement {
        acr: acr.map(|a| a.iter().map(|s| s.to_string()).collect()),
        amr: amr.map(|alts| {
            alts.iter()
                .map(|s| s.iter().map(|x| x.to_string()).collect())
                .collect()
        }),
        max_age,
        human: false,
        claims: claims
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|x| x.to_string()).collect()))
            .collect(),
    }
}

/// A valid policy parses; extends inherits and tightens.
#[test]
fn parses_and_resolves_extends() {
    let p = pol(BASE).unwrap();
    let admin = p.level("admin").unwrap();
    assert_eq!(admin.req.max_age, Some(300));
    assert_eq!(admin.req.acr.as_ref().unwrap().len(), 2);
    assert_eq!(admin.req.amr.as_ref().unwrap().len(), 3);
    assert!(admin.req.claims.contains_key("groups"));
    assert_eq!(admin.line, 10);
    assert!(
        p.level(AUTHENTICATED).is_some(),
        "authenticated is built in"
    );
    assert_eq!(p.rules[0].line, 15);
    assert_eq!(p.default_need, p.need_of(AUTHENTICATED).unwrap());
}

/// JSON policies are accepted too.
#[test]
fn json_policy() {
    let json = r#"{"apiVersion":"stepup.dev/v1alpha1","kind":"StepUpPolicy","spec":{"rules":[{"name":"a","paths":["/a"],"level":"authenticated"}]}}"#;
    let p = pol(json).unwrap();
    assert_eq!(p.rules[0].name, "a");
}

/// The level order of SPEC §1.
#[test]
fn satisfies_order() {
    let mfa = req(
        Some(&["urn:stepup:mfa", "phrh"]),
        Some(&[&["mfa"], &["otp"]]),
        Some(900),
        &[],
    );
    let stronger = req(
        Some(&["phrh"]),
        Some(&[&["mfa", "hwk"]]),
        Some(300),
        &[("groups", &["a"])],
    );
    assert!(stronger.satisfies(&mfa));
    assert!(!mfa.satisfies(&stronger));
    assert!(mfa.satisfies(&mfa));
    assert!(mfa.satisfies(&Requirement::default()));
    assert!(!Requirement::default().satisfies(&mfa));
    // acr outside B's set
    assert!(!req(Some(&["other"]), None, None, &[]).satisfies(&req(
        Some(&["phrh"]),
        None,
        None,
        &[]
    )));
    // an amr alternative that implies none of B's
    assert!(
        !req(None, Some(&[&["mfa"], &["pwd"]]), None, &[]).satisfies(&req(
            None,
            Some(&[&["mfa"]]),
            None,
            &[]
        ))
    );
    // longer maxAge is weaker
    assert!(!req(None, None, Some(901), &[]).satisfies(&req(None, None, Some(900), &[])));
    // claims: fewer accepted values is stronger
    let ab = req(None, None, None, &[("groups", &["a", "b"])]);
    let a = req(None, None, None, &[("groups", &["a"])]);
    assert!(a.satisfies(&ab));
    assert!(!ab.satisfies(&a));
}

/// Needs: deny dominates, public is neutral, incomparable levels combine.
#[test]
fn needs_combine() {
    let p = pol(BASE).unwrap();
    let mfa = p.need_of("mfa").unwrap();
    let admin = p.need_of("admin").unwrap();
    assert_eq!(mfa.and(&admin), admin);
    assert_eq!(Need::Public.and(&mfa), mfa);
    assert_eq!(Need::Deny.and(&mfa), Need::Deny);
    assert!(admin.satisfies(&mfa) && !mfa.satisfies(&admin));
    let g = Need::Auth {
        levels: vec!["g".to_string()].into(),
        req: req(None, None, None, &[("groups", &["x"])]).into(),
    };
    let combined = mfa.and(&g);
    assert_eq!(combined.label(), "mfa+g");
    assert!(combined.satisfies(&mfa) && combined.satisfies(&g));
}

/// First matching rule wins; methods, hosts and GET-covers-HEAD apply.
#[test]
fn rule_matching() {
    let p = pol(BASE).unwrap();
    let name = |h: &str, m: &str, path: &str| {
        p.rule_for(h, m, path.as_bytes(), false)
            .rule
            .map(|i| p.rules[i].name.clone())
    };
    assert_eq!(
        name("admin.example.com", "GET", "/admin").as_deref(),
        Some("admin-console")
    );
    assert_eq!(
        name("x.shop.example.com", "GET", "/admin/a").as_deref(),
        Some("admin-console")
    );
    assert_eq!(name("x.y.shop.example.com", "GET", "/admin/a"), None);
    assert_eq!(
        name("www.example.com", "POST", "/api/payments/1").as_deref(),
        Some("payments")
    );
    assert_eq!(name("www.example.com", "GET", "/api/payments/1"), None);
    assert_eq!(
        name("www.example.com", "GET", "/static/a.css").as_deref(),
        Some("public")
    );
    let head = pol(&BASE.replace("methods: [POST]", "methods: [GET]")).unwrap();
    assert!(
        head.rule_for("h", "HEAD", b"/api/payments/1", false)
            .rule
            .is_some()
    );
}

/// `;` path parameters cannot dodge a stricter rule.
#[test]
fn path_parameters_tighten() {
    let p = pol(&BASE.replace(
        "      hosts: [admin.example.com, \"*.shop.example.com\"]\n",
        "",
    ))
    .unwrap();
    let m = p.rule_for("h", "GET", b"/admin;jsessionid=x/users", false);
    assert_eq!(m.need.label(), "admin");
    assert_eq!(strip_path_params(b"/a;x/b;y=1/c"), b"/a/b/c");
}

/// Case folding applies only when asked (regex-mode hosts).
#[test]
fn case_folding() {
    let p = pol(BASE).unwrap();
    assert!(
        p.rule_for("admin.example.com", "GET", b"/ADMIN", false)
            .rule
            .is_none()
    );
    assert!(
        p.rule_for("admin.example.com", "GET", b"/ADMIN", true)
            .rule
            .is_some()
    );
}

/// Errors name file, line and field path (SPEC §1's example message).
#[test]
fn unknown_level_error_is_located() {
    let e = err(&BASE.replace("level: mfa\n", "level: mfaa\n"));
    assert_eq!(
        e,
        "p.yaml:22: spec.rules[1].level: unknown level \"mfaa\" (known: mfa, admin, authenticated, public, deny)"
    );
}

#[test]
fn extends_cycles_are_errors() {
    let e = err(&BASE.replace(
        "    - name: mfa\n",
        "    - name: mfa\n      extends: admin\n",
    ));
    assert!(e.contains("cycle in extends: mfa -> admin -> mfa"), "{e}");
    assert!(e.starts_with("p.yaml:7:"), "{e}");
    let selfref = err(&BASE.replace("extends: mfa", "extends: admin"));
    assert!(
        selfref.contains("cycle in extends: admin -> admin"),
        "{selfref}"
    );
}

#[test]
fn extends_may_not_loosen() {
    let e = err(&BASE.replace("maxAge: 5m", "maxAge: 30m"));
    assert!(e.contains("loosens"), "{e}");
    assert!(e.starts_with("p.yaml:10:"), "{e}");
}

#[test]
fn invalid_globs_and_hosts_are_located() {
    let e = err(&BASE.replace("[/api/payments/**]", "[/api/pay**]"));
    assert!(e.starts_with("p.yaml:20: spec.rules[1].paths[0]:"), "{e}");
    let e = err(&BASE.replace("admin.example.com,", "admin.*.com,"));
    assert!(e.starts_with("p.yaml:16: spec.rules[0].hosts[0]:"), "{e}");
}

#[test]
fn unknown_fields_and_wrong_types_are_located() {
    let e = err(&BASE.replace("maxAge: 15m", "maxAge: 15m\n      maxage: 1m"));
    assert!(
        e.starts_with("p.yaml:10: spec.levels[0].maxage: unknown field `maxage`"),
        "{e}"
    );
    let e = err(&BASE.replace("paths: [/admin, /admin/**]", "paths: /admin"));
    assert!(
        e.starts_with("p.yaml:17: spec.rules[0].paths: invalid type"),
        "{e}"
    );
    let e = err(&BASE.replace("maxAge: 15m", "maxAge: soon"));
    assert!(e.starts_with("p.yaml:9: spec.levels[0].maxAge:"), "{e}");
}

#[test]
fn wrong_kind_and_version() {
    let e = err(&BASE.replace("kind: StepUpPolicy", "kind: Ingress"));
    assert!(
        e.contains("p.yaml:2: kind: expected \"StepUpPolicy\""),
        "{e}"
    );
    let e = err(&BASE.replace("stepup.dev/v1alpha1", "stepup.dev/v9"));
    assert!(e.contains("apiVersion"), "{e}");
}

#[test]
fn syntax_errors_and_duplicates_are_located() {
    let e = err("apiVersion: stepup.dev/v1alpha1\nkind: StepUpPolicy\nspec: {rules: [\n");
    assert!(e.starts_with("p.yaml:"), "{e}");
    assert!(e.contains("invalid YAML/JSON"), "{e}");
    let e = err(&BASE.replace(
        "  default: authenticated\n",
        "  default: authenticated\n  default: public\n",
    ));
    assert!(
        e.starts_with("p.yaml:27:3:") && e.contains("duplicate key `default`"),
        "{e}"
    );
    assert!(err("").contains("no policy document"));
    assert!(err(&format!("{BASE}---\n{BASE}")).contains("exactly one document"));
}

#[test]
fn duplicate_and_reserved_names() {
    let e = err(&BASE.replace("name: payments", "name: admin-console"));
    assert!(e.contains("already used by rules[0]"), "{e}");
    let e = err(&BASE.replace("name: admin\n", "name: public\n"));
    assert!(e.contains("built in"), "{e}");
    let e = err(&BASE.replace("name: admin\n", "name: Admin\n"));
    assert!(e.contains("lower-case"), "{e}");
}

#[test]
fn several_errors_are_all_reported() {
    let e = pol(&BASE
        .replace("level: mfa\n", "level: x\n")
        .replace("level: public\n", "level: y\n"))
    .unwrap_err();
    assert_eq!(e.messages().count(), 2, "{e}");
}

#[test]
fn auth_service_url_must_pass_annotation_validation() {
    for bad in ["%7Bx", "a$b", "a%20b", "a'b"] {
        let text = BASE.replace(
            "spec:\n",
            &format!("spec:\n  authService: {{url: \"http://stepup.x.svc:8080/{bad}\"}}\n"),
        );
        let e = err(&text);
        assert!(e.contains("may hold only letters, digits"), "{bad}: {e}");
    }
    let ok = BASE.replace(
        "spec:\n",
        "spec:\n  authService: {url: \"http://stepup.x.svc:8080/a-b_c.d~e\"}\n",
    );
    assert!(pol(&ok).is_ok());
}

/// `spec.exemptions` parses into grants; each mistake is an error naming
/// the file, line and field.
#[test]
fn exemption_grants() {
    let ok = format!(
        "{BASE}  exemptions:
    - namespaces: [status]
      names: [status/public-page]
      selector:
        matchLabels: {{team: sre}}
        matchExpressions: [{{key: tier, operator: NotIn, values: [prod]}}]
      rules: [su001, shadowed]
      reason: \"public status page, SEC-123\"
      expires: 2027-03-01
    - names: [shop/legacy]
      reason: whole Ingress
"
    );
    let p = pol(&ok).unwrap();
    assert_eq!(p.exemptions.len(), 2);
    let g = &p.exemptions[0];
    assert_eq!(g.line, 28);
    assert_eq!(g.rules.as_ref().unwrap().len(), 2, "{:?}", g.rules);
    assert!(g.rules.as_ref().unwrap().contains("SU001"));
    assert_eq!(g.expires.as_ref().unwrap().text, "2027-03-01");
    assert!(p.exemptions[1].rules.is_none());
    let labels: BTreeMap<String, String> = [("team".to_string(), "sre".to_string())].into();
    let s = Subject {
        namespace: "status",
        name: "public-page",
        labels: &labels,
    };
    assert!(g.applies_to(&s));
    let prod: BTreeMap<String, String> = [("team", "sre"), ("tier", "prod")]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into();
    assert!(!g.applies_to(&Subject { labels: &prod, ..s }));
    assert!(!g.applies_to(&Subject {
        namespace: "shop",
        ..s
    }));
    // Covers its rules, not the whole Ingress.
    assert!(matches!(
        p.exemption(&s, Scope::Rule("SU001"), Some(0)),
        Check::Granted(_)
    ));
    assert!(matches!(
        p.exemption(&s, Scope::Whole, Some(0)),
        Check::NotGranted
    ));
    assert!(matches!(
        p.exemption(&s, Scope::Rule("SU001"), Some(u64::MAX)),
        Check::Expired(_)
    ));
    assert!(matches!(
        p.exemption(&s, Scope::Rule("SU001"), None),
        Check::ClockUnknown(_)
    ));

    let bad = |grant: &str, want: &str| {
        let e = err(&format!("{BASE}  exemptions:\n{grant}"));
        assert!(e.contains(want), "{want}\n{e}");
    };
    bad(
        "    - {reason: x}\n",
        "p.yaml:28: spec.exemptions[0]: a grant needs namespaces, names or a selector",
    );
    bad(
        "    - {namespaces: [a]}\n",
        "p.yaml:28: spec.exemptions[0].reason: a grant needs a reason",
    );
    bad(
        "    - {namespaces: [a], reason: \"  \"}\n",
        "needs a reason",
    );
    bad(
        "    - {namespaces: [], reason: x}\n",
        "spec.exemptions[0].namespaces: an empty list matches nothing",
    );
    bad(
        "    - {namespaces: [A_b], reason: x}\n",
        "is not a namespace name",
    );
    bad(
        "    - {names: [legacy], reason: x}\n",
        "spec.exemptions[0].names[0]: \"legacy\" must be namespace/name",
    );
    bad(
        "    - {names: [a/b/c], reason: x}\n",
        "must be namespace/name",
    );
    bad(
        "    - {selector: {}, reason: x}\n",
        "spec.exemptions[0].selector: an empty selector matches every Ingress",
    );
    bad(
        "    - {selector: {matchExpressions: [{key: a, operator: Has}]}, reason: x}\n",
        "unknown operator \"Has\"",
    );
    bad(
        "    - {selector: {matchExpressions: [{key: a, operator: In}]}, reason: x}\n",
        "In needs values",
    );
    bad(
        "    - {selector: {matchExpressions: [{key: a, operator: Exists, values: [b]}]}, reason: x}\n",
        "Exists takes no values",
    );
    bad(
        "    - {namespaces: [a], rules: [SU999], reason: x}\n",
        "spec.exemptions[0].rules[0]: unknown rule \"SU999\"",
    );
    bad(
        "    - {namespaces: [a], rules: [], reason: x}\n",
        "spec.exemptions[0].rules: an empty list",
    );
    bad(
        "    - {namespaces: [a], reason: x, expires: 2027-02-30}\n",
        "spec.exemptions[0].expires: \"2027-02-30\" is not a date like 2027-03-01",
    );
    bad(
        "    - {namespaces: [a], reason: x, expires: 20270301}\n",
        "is not a date",
    );
    bad(
        "    - {namespaces: [a], reason: x, until: 2027-01-01}\n",
        "unknown field `until`",
    );
}

/// `human` is a level option: inherited through `extends`, never loosened,
/// part of the order, and a non-boolean or misspelt key is an error.
#[test]
fn human_levels() {
    let text = BASE.replace(
        "      claims: {groups: [shop-admins]}\n",
        "      claims: {groups: [shop-admins]}\n    - {name: people, human: true}\n    - {name: staff, extends: people, claims: {groups: [staff]}}\n",
    );
    let p = pol(&text).unwrap();
    assert!(p.level("people").unwrap().req.human);
    assert!(p.level("staff").unwrap().req.human, "inherited");
    assert!(!p.level("mfa").unwrap().req.human);
    assert!(!p.level(AUTHENTICATED).unwrap().req.human);
    let people = &p.level("people").unwrap().req;
    let authn = &p.level(AUTHENTICATED).unwrap().req;
    assert!(people.satisfies(authn));
    assert!(!authn.satisfies(people));
    assert!(authn.and(people).human);
    assert!(
        p.level("people")
            .unwrap()
            .req
            .to_string()
            .contains("interactive login")
    );
    let e = err(&text.replace(
        "{name: staff, extends: people,",
        "{name: staff, extends: people, human: false,",
    ));
    assert!(
        e.contains(
            "spec.levels[3].human: level \"staff\" extends \"people\", which needs a human login"
        ),
        "{e}"
    );
    let e = err(&text.replace("human: true", "human: yes please"));
    assert!(e.contains("spec.levels[2].human"), "{e}");
    let e = err(&text.replace("human: true", "humans: true"));
    assert!(e.contains("unknown field `humans`"), "{e}");
}

/// `spec.controller` is kept as written (the policy names no controller);
/// the controller model's check runs while the policy is read, so its
/// errors come with the policy's own, each at its line.
#[test]
fn controller_section_errors_come_with_the_policys_own() {
    let text = format!(
        "{}  controller:\n    config: {{no-auth-locations: /adm}}\n    flags: {{deep-inspect: sometimes}}\n",
        BASE.replace("level: public\n", "level: nope\n")
    );
    let plain = pol(&text).unwrap_err().to_string();
    assert!(plain.contains("nope"), "{plain}");
    assert!(!plain.contains("sometimes"), "{plain}");

    let checked = parse_checked(
        "p.yaml",
        &text,
        crate::controllers::ingress_nginx::routing::Settings::check_section,
    )
    .unwrap_err()
    .to_string();
    assert!(checked.contains("nope"), "{checked}");
    assert!(
        checked.contains("deep-inspect") && checked.contains("sometimes"),
        "{checked}"
    );
    let line_of = |t: &str, what: &str| t.lines().position(|l| l.contains(what)).unwrap() + 1;
    let flags = format!("p.yaml:{}", line_of(&text, "flags:"));
    assert!(
        checked.contains(&flags),
        "the flag's own line {flags}: {checked}"
    );

    let ok = format!(
        "{BASE}  controller:\n    config: {{no-auth-locations: /adm, proxy-body-size: 8}}\n    flags: {{watch-ingress-without-class: true}}\n"
    );
    let p = parse_checked(
        "p.yaml",
        &ok,
        crate::controllers::ingress_nginx::routing::Settings::check_section,
    )
    .unwrap();
    let sec = p.controller.as_ref().unwrap();
    let config = line_of(&ok, "config:") as u32;
    assert_eq!(
        sec.config["no-auth-locations"],
        ("/adm".to_string(), config)
    );
    assert_eq!(sec.config["proxy-body-size"].0, "8");
    assert_eq!(sec.flags[0].value, "true");
    let s = crate::controllers::ingress_nginx::routing::Settings::from_section(sec).unwrap();
    assert!(s.watch_without_class);
    assert_eq!(s.no_auth_locations, vec!["/adm".to_string()]);
}

/// Regression: an error of several lines (the controller settings' own
/// merged errors) that follows another policy error keeps every line.
#[test]
fn regression_merged_errors_keep_their_extra_lines() {
    let text = format!(
        "{}  controller:\n    config: {{ssl-redirect: maybe, force-ssl-redirect: perhaps}}\n",
        BASE.replace("level: public\n", "level: nope\n")
    );
    let e = parse_checked(
        "p.yaml",
        &text,
        crate::controllers::ingress_nginx::routing::Settings::check_section,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("nope"), "{e}");
    assert!(e.contains("maybe") && e.contains("perhaps"), "{e}");
}
