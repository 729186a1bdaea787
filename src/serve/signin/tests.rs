use super::*;

fn policy() -> Policy {
    crate::policy::parse(
        "p.yaml",
        r#"apiVersion: stepup.dev/v1alpha1
kind: StepUpPolicy
metadata: {name: t}
spec:
  idp: {issuer: "https://idp.example", audiences: [shop], clientID: stepup}
  levels:
    - {name: authenticated}
    - {name: mfa, acr: [urn:stepup:mfa, phrh], maxAge: 15m}
    - {name: admin, extends: mfa, maxAge: 5m, claims: {groups: [shop-admins], department: [ops]}}
    - {name: people, human: true}
  rules:
    - {name: admin, paths: ["/admin/**"], level: admin}
  default: authenticated
"#,
    )
    .unwrap()
}

fn keys() -> SessionKeys {
    SessionKeys::parse("keys", &SessionKeys::generate_line("k1")).unwrap()
}

#[test]
fn pkce_matches_rfc_7636_appendix_b() {
    assert_eq!(
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
}

#[test]
fn authorization_url_asks_for_the_level() {
    let p = policy();
    let admin = p.level("admin").unwrap();
    let u = authorization_url(
        "https://idp.example/auth?tenant=a",
        "stepup",
        "https://shop.example/.stepup/callback",
        "openid email",
        "st",
        "no",
        "ch",
        admin,
        true,
    )
    .unwrap();
    let parsed = url::Url::parse(&u).unwrap();
    let q: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("tenant"), Some("a"));
    assert_eq!(get("response_type"), Some("code"));
    assert_eq!(get("client_id"), Some("stepup"));
    assert_eq!(
        get("redirect_uri"),
        Some("https://shop.example/.stepup/callback")
    );
    assert_eq!(get("scope"), Some("openid email"));
    assert_eq!(get("state"), Some("st"));
    assert_eq!(get("nonce"), Some("no"));
    assert_eq!(get("code_challenge"), Some("ch"));
    assert_eq!(get("code_challenge_method"), Some("S256"));
    assert_eq!(get("acr_values"), Some("phrh urn:stepup:mfa"));
    assert_eq!(get("max_age"), Some("300"));
    assert_eq!(get("prompt"), Some("login"));
    // A level without acr or maxAge asks for neither, nor for prompt.
    let u = authorization_url(
        "https://idp.example/auth",
        "c",
        "https://h/cb",
        "openid",
        "s",
        "n",
        "c",
        p.level("authenticated").unwrap(),
        false,
    )
    .unwrap();
    assert!(!u.contains("acr_values") && !u.contains("max_age") && !u.contains("prompt"));
    assert!(!u.contains("claims"));
    // A human level without maxAge asks for auth_time as an essential claim
    // (with maxAge the IdP must send it anyway).
    let u = authorization_url(
        "https://idp.example/auth",
        "c",
        "https://h/cb",
        "openid",
        "s",
        "n",
        "c",
        p.level("people").unwrap(),
        false,
    )
    .unwrap();
    let parsed = url::Url::parse(&u).unwrap();
    let claims: Vec<String> = parsed
        .query_pairs()
        .filter(|(k, _)| k == "claims")
        .map(|(_, v)| v.into_owned())
        .collect();
    assert_eq!(claims, [r#"{"id_token":{"auth_time":{"essential":true}}}"#]);
    assert!(
        authorization_url("not a url", "c", "r", "openid", "s", "n", "c", admin, false).is_err()
    );
}

#[test]
fn host_header_must_be_a_host() {
    let h = |v: &str| {
        let mut m = HeaderMap::new();
        m.insert(header::HOST, HeaderValue::from_str(v).unwrap());
        request_host(&m)
    };
    assert_eq!(h("Shop.Example:8443").unwrap(), "shop.example:8443");
    assert_eq!(h("shop.example").unwrap(), "shop.example");
    for bad in [
        "",
        "shop.example:",
        "shop.example:x",
        "evil.example/x",
        "a@b",
        "shop.example:123456",
        "[::1]",
        "a b",
    ] {
        assert!(h(bad).is_err(), "{bad:?} accepted");
    }
    assert!(request_host(&HeaderMap::new()).is_err());
}

#[test]
fn pages_escape_what_they_show() {
    let r = page(
        StatusCode::BAD_REQUEST,
        "<t>",
        &["a <script>alert(1)</script> & \"q\""],
        Some(("https://x/?a=1&b=\"", "go")),
    );
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let h = r.headers();
    assert_eq!(h[header::CACHE_CONTROL], "no-store");
    assert!(
        h[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'")
    );
    assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
    assert_eq!(
        escape_html("<a href=\"x\">'&"),
        "&lt;a href=&quot;x&quot;&gt;&#39;&amp;"
    );
    assert_eq!(escape_html("a\u{0}b\nc"), "a b c");
}

#[test]
fn session_keeps_identity_strength_and_policy_claims_only() {
    let p = policy();
    let id: Claims = serde_json::from_value(serde_json::json!({
        "sub": "alice", "email": "a@example.com", "groups": ["shop-admins"],
        "department": "ops", "acr": "urn:stepup:mfa", "amr": ["pwd", "otp"],
        "auth_time": 100, "nonce": "n", "at_hash": "x", "aud": "stepup",
        "iss": "https://idp.example", "iat": 90, "exp": 400, "sid": "s"
    }))
    .unwrap();
    let s = session_claims(
        &id,
        &p,
        "https://idp.example",
        "Shop.Example:8443",
        1_000,
        3_600,
    );
    let mut keys: Vec<&str> = s.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "acr",
            "amr",
            "auth_time",
            "department",
            "email",
            "exp",
            "groups",
            "iat",
            "iss",
            "stepup_host",
            "sub"
        ]
    );
    // Bound to the host as nginx routes it (no port, lower case).
    assert_eq!(s["stepup_host"], "shop.example");
    assert_eq!(foreign_host(&s, "shop.example"), None);
    assert_eq!(foreign_host(&s, "SHOP.example.:443"), None);
    assert_eq!(
        foreign_host(&s, "b.example").as_deref(),
        Some(
            "session cookie was issued for host \"shop.example\", not \"b.example\"; ignored (sessions are per host)"
        )
    );
    let mut unbound = s.clone();
    unbound.remove("stepup_host");
    assert!(foreign_host(&unbound, "shop.example").is_some());
    assert_eq!(s["exp"], 4_600);
    assert_eq!(s["iat"], 1_000);
    assert_eq!(s["auth_time"], 100);
}

#[test]
fn cooldown_covers_its_level_and_user_until_it_expires() {
    let p = policy();
    let k = keys();
    let seal = |v: serde_json::Value| k.seal_as(DENIED_COOKIE, v.as_object().unwrap()).unwrap();
    let with = |value: &str| {
        let mut m = HeaderMap::new();
        m.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("a=b; {DENIED_COOKIE}={value}")).unwrap(),
        );
        m
    };
    let admin = &p.level("admin").unwrap().need;
    let mfa = &p.level("mfa").unwrap().need;
    let c = seal(serde_json::json!({"level": "admin", "sub": "alice", "exp": 160}));
    assert!(cooldown(&k, &with(&c), admin, Some("alice"), 100).is_some());
    // Another level, another user, after expiry, no cookie: no effect.
    assert!(cooldown(&k, &with(&c), mfa, Some("alice"), 100).is_none());
    assert!(cooldown(&k, &with(&c), admin, Some("bob"), 100).is_none());
    assert!(cooldown(&k, &with(&c), admin, Some("alice"), 161).is_none());
    assert!(cooldown(&k, &HeaderMap::new(), admin, Some("alice"), 100).is_none());
    // Without a sub (the IdP answered with an error): any user.
    let any = seal(serde_json::json!({"level": "admin", "exp": 160}));
    assert!(cooldown(&k, &with(&any), admin, Some("bob"), 100).is_some());
    // A session cookie value or another cookie's sealed value does not
    // open as the denied cookie (the name is bound), nor does a forgery.
    let session = k
        .seal(
            serde_json::json!({"level": "admin", "exp": 160})
                .as_object()
                .unwrap(),
        )
        .unwrap();
    assert!(cooldown(&k, &with(&session), admin, None, 100).is_none());
    let mut forged = c.clone();
    forged.pop();
    forged.push(if c.ends_with('A') { 'B' } else { 'A' });
    assert!(cooldown(&k, &with(&forged), admin, Some("alice"), 100).is_none());
    assert!(cooldown(&k, &with(&c), &Need::Public, Some("alice"), 100).is_none());
}

#[test]
fn config_reports_what_is_missing() {
    let p = policy();
    let k = keys();
    let cfg = config(&p, Some(&k), "openid email", 3600, 60)
        .unwrap()
        .unwrap();
    assert_eq!(cfg.client_id, "stepup");
    assert_eq!(cfg.client_secret, None);
    assert!(
        config(&p, None, "openid", 3600, 60)
            .unwrap()
            .unwrap_err()
            .contains("--session-keys")
    );
    assert!(config(&p, Some(&k), "email", 3600, 60).is_err());
    let mut no_client = p.clone();
    if let Some(i) = no_client.idp.as_mut() {
        i.client_id = None;
    }
    assert!(
        config(&no_client, Some(&k), "openid", 3600, 60)
            .unwrap()
            .unwrap_err()
            .contains("clientID")
    );
    let mut bad_env = p.clone();
    if let Some(i) = bad_env.idp.as_mut() {
        i.client_secret_env = Some("STEPUP_UNIT_TEST_UNSET_VARIABLE".into());
    }
    assert!(
        config(&bad_env, Some(&k), "openid", 3600, 60)
            .unwrap_err()
            .contains("STEPUP_UNIT_TEST_UNSET_VARIABLE")
    );
}

#[test]
fn constant_time_eq_is_equality() {
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"ab"));
    assert!(constant_time_eq(b"", b""));
}
