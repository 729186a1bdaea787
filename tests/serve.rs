//! `stepup serve` end to end, with real parts: the oidc-provider IdP
//! (tests/idp), the `stepup` binary, and Debian's nginx configured as
//! ingress-nginx renders `auth-url`/`auth-signin`/`auth-response-headers`
//! (tests/support/nginx.rs). Requests go to nginx over raw sockets, so the
//! request target reaches nginx byte for byte; what the client and the
//! backend see is asserted.
//!
//! Bad input (forged and broken tokens, path tricks, forged forwarding
//! headers, `rd` elsewhere, ...) is tests/hostile.rs's table.

#[path = "support/certs.rs"]
mod certs;
#[path = "support/idp.rs"]
mod idp;
#[path = "support/nginx.rs"]
mod nginx;
#[path = "support/proc.rs"]
mod proc;
#[path = "support/shop_policy.rs"]
mod shop_policy;

use std::io::Read;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use certs::{issue, publish};
use idp::{Alg, Idp, Login};
use nginx::{Host, Loc, Resp, raw};
use serde_json::json;
use shop_policy::policy;

/// A running `stepup serve`.
struct Stepup {
    child: Child,
    port: u16,
    log: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl Drop for Stepup {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Stepup {
    fn start(policy_text: &str, extra: &[&str]) -> Stepup {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("policy.yaml");
        std::fs::write(&p, policy_text).unwrap();
        let proc::Started { child, log, line } = proc::start(
            Command::new(env!("CARGO_BIN_EXE_stepup"))
                .args(["serve", "-p"])
                .arg(&p)
                .args(["--listen", "127.0.0.1:0", "--jwks-min-refresh", "1s"])
                .args(extra),
        );
        let port = proc::listening_port(&line).unwrap_or_else(|| {
            panic!(
                "stepup serve did not print its address: {line:?}; log: {}",
                proc::log(&log)
            )
        });
        Stepup {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    /// Wait until `/readyz` says 200 (keys loaded).
    fn ready(self) -> Stepup {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if raw(self.port, "GET", "x", "/readyz", &[]).status == 200 {
                return self;
            }
            assert!(
                Instant::now() < deadline,
                "stepup never became ready; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn url(&self, level: &str, rule: &str) -> String {
        format!(
            "http://127.0.0.1:{}/auth?level={level}&rule={rule}",
            self.port
        )
    }

    fn log(&self) -> String {
        proc::log(&self.log)
    }

    fn wait_log(&self, needle: &str) -> String {
        proc::wait_log(&self.log, needle)
    }

    fn metrics(&self) -> String {
        raw(self.port, "GET", "x", "/metrics", &[]).body
    }
}

/// The cluster the tests route through: shop.test (a public root, an
/// authenticated account area without sign-in, an admin area, an API),
/// legacy.test (one Ingress for everything at the default level) and
/// app.test (browser host with auth-signin).
fn cluster(s: &Stepup) -> nginx::Nginx {
    let auth = |level: &str, rule: &str| Some(s.url(level, rule));
    nginx::start(&[
        Host {
            name: "shop.test",
            locs: vec![
                Loc {
                    path: "/",
                    auth_url: None,
                    signin: None,
                    upstream: None,
                },
                Loc {
                    path: "/account",
                    auth_url: auth("authenticated", "default"),
                    signin: None,
                    upstream: None,
                },
                Loc {
                    path: "/admin",
                    auth_url: auth("admin", "admin-console"),
                    signin: None,
                    upstream: None,
                },
                Loc {
                    path: "/api",
                    auth_url: auth("authenticated", "default"),
                    signin: None,
                    upstream: None,
                },
            ],
        },
        Host {
            name: "legacy.test",
            locs: vec![Loc {
                path: "/",
                auth_url: auth("authenticated", "default"),
                signin: None,
                upstream: None,
            }],
        },
        Host {
            name: "app.test",
            locs: vec![Loc {
                path: "/",
                auth_url: auth("authenticated", "default"),
                signin: Some("https://$host/.stepup/signin?level=authenticated".into()),
                upstream: None,
            }],
        },
    ])
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

fn get(n: &nginx::Nginx, host: &str, target: &str, token: Option<&str>) -> Resp {
    let auth = token.map(bearer);
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    raw(n.port, "GET", host, target, &headers)
}

fn www(r: &Resp) -> &str {
    r.header("www-authenticate").unwrap_or("")
}

#[test]
fn bearer_tokens_through_nginx() {
    let idp = Idp::start(&[], 600);
    let s = Stepup::start(&policy(idp.issuer(), "shop"), &[]).ready();
    let n = cluster(&s);
    let pwd = idp.login(&Login::new("alice"));
    let mfa = idp.login(&Login::new("alice").mfa().alg(Alg::Es256));
    let bob_mfa = idp.login(&Login::new("bob").mfa());
    let stale_mfa = idp.login(&Login::new("alice").mfa().auth_time_offset(-600));
    let ctx = |r: &Resp| format!("{r:?}\nstepup log:\n{}\nnginx:\n{}", s.log(), n.error_log());

    // Public route: no auth at all.
    let r = get(&n, "shop.test", "/", None);
    assert_eq!(r.status, 200, "{}", ctx(&r));
    assert!(r.body.starts_with("backend uri=/ user= "), "{}", r.body);

    // Authenticated route without a token: 401, plain challenge.
    let r = get(&n, "shop.test", "/account", None);
    assert_eq!(r.status, 401, "{}", ctx(&r));
    assert_eq!(www(&r), "Bearer realm=\"stepup\"");

    // With a password login: allowed, identity reaches the backend.
    let r = get(&n, "shop.test", "/account/orders", Some(&pwd.access_token));
    assert_eq!(r.status, 200, "{}", ctx(&r));
    assert!(
        r.body.contains(
            "user=alice email=alice@example.com groups=shop-admins,staff acr=urn:stepup:pwd"
        ),
        "{}",
        r.body
    );

    // Step-up route with the weak token: RFC 9470 challenge reaches the client.
    let r = get(&n, "shop.test", "/admin/users", Some(&pwd.access_token));
    assert_eq!(r.status, 401, "{}", ctx(&r));
    let w = www(&r);
    assert!(
        w.starts_with("Bearer realm=\"stepup\", error=\"insufficient_user_authentication\""),
        "{w}"
    );
    assert!(w.contains("acr_values=\"urn:stepup:mfa\""), "{w}");
    assert!(w.contains("max_age=300"), "{w}");

    // Strong token (ES256): allowed, acr reaches the backend.
    let r = get(&n, "shop.test", "/admin/users", Some(&mfa.access_token));
    assert_eq!(r.status, 200, "{}", ctx(&r));
    assert!(r.body.contains("user=alice"), "{}", r.body);
    assert!(r.body.contains("acr=urn:stepup:mfa"), "{}", r.body);

    // MFA but not an admin: 403, never a loop.
    let r = get(&n, "shop.test", "/admin", Some(&bob_mfa.access_token));
    assert_eq!(r.status, 403, "{}", ctx(&r));
    assert!(
        s.log()
            .contains("claim groups does not contain one of [shop-admins]"),
        "{}",
        s.log()
    );

    // MFA ten minutes ago: fresh enough for mfa (15m), not for admin (5m).
    let r = get(&n, "shop.test", "/admin", Some(&stale_mfa.access_token));
    assert_eq!(r.status, 401, "{}", ctx(&r));
    assert!(www(&r).contains("max_age=300"), "{}", www(&r));
    let r = raw(
        n.port,
        "POST",
        "shop.test",
        "/api/payments/1",
        &[
            ("Authorization", &bearer(&stale_mfa.access_token)),
            ("Content-Length", "0"),
        ],
    );
    assert_eq!(r.status, 200, "{}", ctx(&r));

    // The payments rule tightens the API location (level authenticated)
    // for POST only.
    let r = raw(
        n.port,
        "POST",
        "shop.test",
        "/api/payments/1",
        &[
            ("Authorization", &bearer(&pwd.access_token)),
            ("Content-Length", "0"),
        ],
    );
    assert_eq!(r.status, 401, "{}", ctx(&r));
    assert!(www(&r).contains("insufficient_user_authentication"));
    let r = get(&n, "shop.test", "/api/payments/1", Some(&pwd.access_token));
    assert_eq!(r.status, 200, "{}", ctx(&r));

    // A client-sent identity header is replaced by stepup's.
    let r = raw(
        n.port,
        "GET",
        "shop.test",
        "/account",
        &[
            ("Authorization", &bearer(&bob_mfa.access_token)),
            ("X-Auth-Request-User", "alice"),
        ],
    );
    assert_eq!(r.status, 200);
    assert!(r.body.contains("user=bob "), "{}", r.body);

    // Browser host: the 401 becomes the sign-in redirect with rd.
    let r = get(&n, "app.test", "/orders?id=7", None);
    assert_eq!(r.status, 302, "{}", ctx(&r));
    assert_eq!(
        r.header("location"),
        Some(
            "https://app.test/.stepup/signin?level=authenticated&rd=http://app.test%2Forders%3Fid%3D7"
        )
    );

    // Metrics counted the decisions by outcome, rule and level.
    let m = s.metrics();
    for want in [
        r#"stepup_decisions_total{outcome="allow",rule="admin-console",level="admin"}"#,
        r#"stepup_decisions_total{outcome="step_up",rule="admin-console",level="admin"}"#,
        r#"stepup_decisions_total{outcome="forbidden",rule="admin-console",level="admin"}"#,
        r#"stepup_decisions_total{outcome="unauthenticated",rule="none",level="authenticated"}"#,
        "stepup_auth_duration_seconds_bucket",
        r#"stepup_jwks_refreshes_total{outcome="ok"} 1"#,
    ] {
        assert!(m.contains(want), "{want} missing from\n{m}");
    }
    // Every deny is logged with its request id and reason.
    let log = s.wait_log("acr urn:stepup:pwd is not one of the required values");
    assert!(
        log.lines().any(|l| l.contains("\"outcome\":\"step_up\"")
            && l.contains("\"request_id\"")
            && l.contains("\"reason\":\"acr urn:stepup:pwd is not one of the required values")),
        "{log}"
    );
}

#[test]
fn forwarded_headers_trusted_only_from_configured_proxies() {
    let idp = Idp::start(&[], 600);
    let untrusting = Stepup::start(&policy(idp.issuer(), "shop"), &[]).ready();
    let trusting = Stepup::start(
        &policy(idp.issuer(), "shop"),
        &["--trusted-proxy", "127.0.0.1/32"],
    )
    .ready();
    let pwd = idp.login(&Login::new("alice"));
    let b = bearer(&pwd.access_token);
    let fwd = |uri: &'static str| {
        vec![
            ("X-Forwarded-Method", "GET"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "shop.test"),
            ("X-Forwarded-Uri", uri),
        ]
    };
    // Untrusted peer: forged X-Forwarded-* are not believed (403, reason
    // logged), whatever they claim.
    let mut h = fwd("/public");
    h.push(("Authorization", &b));
    let r = raw(untrusting.port, "GET", "x", "/auth?level=authenticated", &h);
    assert_eq!(r.status, 403);
    assert!(
        untrusting
            .wait_log("which is not a trusted proxy")
            .contains("which is not a trusted proxy")
    );
    // Trusted proxy (Traefik): its X-Forwarded-* decide the path.
    let mut h = fwd("/account");
    h.push(("Authorization", &b));
    let r = raw(trusting.port, "GET", "x", "/auth?level=authenticated", &h);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("x-auth-request-user"), Some("alice"));
    let mut h = fwd("/admin/x");
    h.push(("Authorization", &b));
    let r = raw(trusting.port, "GET", "x", "/auth?level=authenticated", &h);
    assert_eq!(r.status, 401);
    // A client's X-Original-URL passed through by Traefik is ignored.
    let mut h = fwd("/admin/x");
    h.push(("Authorization", &b));
    h.push(("X-Original-URL", "https://shop.test/public"));
    h.push(("X-Original-Method", "GET"));
    let r = raw(trusting.port, "GET", "x", "/auth?level=authenticated", &h);
    assert_eq!(r.status, 401);
}

#[test]
fn level_parameter_fails_closed() {
    let idp = Idp::start(&[], 600);
    let s = Stepup::start(&policy(idp.issuer(), "shop"), &[]).ready();
    let t = idp.login(&Login::new("alice").mfa());
    let b = bearer(&t.access_token);
    let h = [
        ("X-Original-URL", "https://shop.test/account"),
        ("X-Original-Method", "GET"),
        ("Authorization", b.as_str()),
    ];
    for q in ["/auth", "/auth?level=", "/auth?level=mfaa", "/auth?rule=x"] {
        let r = raw(s.port, "GET", "x", q, &h);
        assert_eq!(r.status, 403, "{q}");
    }
    assert_eq!(raw(s.port, "GET", "x", "/auth?level=mfa", &h).status, 200);
    let log = s.wait_log("is not a level of the policy");
    assert!(log.contains("auth-url has no level parameter"), "{log}");
    assert!(
        log.contains("auth-url level \\\"mfaa\\\" is not a level of the policy"),
        "{log}"
    );
}

#[test]
fn key_rotation_and_idp_outage() {
    let mut idp = Idp::start(&[], 600);
    let s = Stepup::start(&policy(idp.issuer(), "shop"), &[]).ready();
    let n = cluster(&s);
    let before = idp.login(&Login::new("alice"));
    assert_eq!(
        get(&n, "shop.test", "/account", Some(&before.access_token)).status,
        200
    );
    // Rotation: the new kid is unknown to stepup until it refreshes, which
    // the unknown kid triggers (the minimum interval is 1s in this test).
    std::thread::sleep(Duration::from_millis(1100));
    let new_kid = idp.rotate(Alg::Rs256);
    let after = idp.login(&Login::new("alice"));
    assert_eq!(
        idp::jwt_header(&after.access_token)["kid"],
        new_kid.as_str()
    );
    let r = get(&n, "shop.test", "/account", Some(&after.access_token));
    assert_eq!(r.status, 200, "{r:?}\n{}", s.log());
    let m = s.metrics();
    assert!(
        m.contains(r#"stepup_jwks_refreshes_total{outcome="ok"} 2"#),
        "{m}"
    );
    // Rotate again, then take the IdP down: tokens signed with known keys
    // keep working; the newest key was never fetched, so its tokens fail
    // closed (401), never open.
    std::thread::sleep(Duration::from_millis(1100));
    idp.rotate(Alg::Es256);
    let unseen = idp.login(&Login::new("alice").alg(Alg::Es256));
    let known = idp.login(&Login::new("alice").mfa());
    assert_ne!(
        idp::jwt_header(&unseen.access_token)["kid"],
        idp::jwt_header(&known.access_token)["kid"]
    );
    idp.kill();
    let r = get(&n, "shop.test", "/account", Some(&known.access_token));
    assert_eq!(r.status, 200, "{r:?}\n{}", s.log());
    let r = get(&n, "shop.test", "/account", Some(&unseen.access_token));
    assert_eq!(r.status, 401, "{r:?}");
    assert!(www(&r).contains("unknown signing key"), "{}", www(&r));
    let m = s.metrics();
    assert!(
        m.contains(r#"stepup_jwks_refreshes_total{outcome="error"} 1"#),
        "{m}"
    );
}

#[test]
fn starts_while_the_idp_is_down_and_fails_closed() {
    let mut idp = Idp::start(&[], 600);
    let token = idp.login(&Login::new("alice").mfa());
    let issuer = idp.issuer().to_string();
    idp.kill();
    let s = Stepup::start(&policy(&issuer, "shop"), &[]);
    assert_eq!(raw(s.port, "GET", "x", "/healthz", &[]).status, 200);
    let r = raw(s.port, "GET", "x", "/readyz", &[]);
    assert_eq!(r.status, 503);
    assert!(r.body.contains("signing keys not loaded"));
    let r = raw(
        s.port,
        "GET",
        "x",
        "/auth?level=authenticated",
        &[
            ("X-Original-URL", "https://shop.test/account"),
            ("X-Original-Method", "GET"),
            ("Authorization", &bearer(&token.access_token)),
        ],
    );
    assert_eq!(r.status, 401);
    assert!(www(&r).contains("invalid_token"));
    // Public paths need no keys.
    let r = raw(
        s.port,
        "GET",
        "x",
        "/auth?level=public",
        &[
            ("X-Original-URL", "https://shop.test/static/x.js"),
            ("X-Original-Method", "GET"),
        ],
    );
    assert_eq!(r.status, 200);
}

/// Handshake with the server; returns the served certificate and the
/// answer to GET /healthz.
fn tls_get(port: u16, roots: &[&[u8]]) -> (Vec<u8>, Resp) {
    use std::io::Write as _;
    let cfg = certs::client_config(roots);
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(cfg, name).unwrap();
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let _ = tls.read_to_end(&mut buf);
    let served = tls.conn.peer_certificates().unwrap()[0].to_vec();
    (served, nginx::parse(&buf))
}

#[test]
fn tls_certificate_hot_reload_on_secret_swap() {
    let dir = tempfile::tempdir().unwrap();
    let a = issue("first");
    let b = issue("second");
    publish(dir.path(), "..2026_11_24_a", &a.cert_pem, &a.key_pem);
    let cert = dir.path().join("tls.crt");
    let key = dir.path().join("tls.key");
    let s = Stepup::start(
        &policy("http://127.0.0.1:9", "shop"),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let roots = [a.ca_der.as_slice(), b.ca_der.as_slice()];
    let (served, r) = tls_get(s.port, &roots);
    assert_eq!(served, a.cert_der);
    assert_eq!((r.status, r.body.as_str()), (200, "ok\n"));
    // The Secret is updated: the very next handshake serves the new pair.
    publish(dir.path(), "..2026_11_24_b", &b.cert_pem, &b.key_pem);
    let (served, r) = tls_get(s.port, &roots);
    assert_eq!(served, b.cert_der, "{}", s.log());
    assert_eq!(r.status, 200);
    assert!(
        s.wait_log("TLS certificate reloaded")
            .contains("TLS certificate reloaded")
    );
    // A broken update (key of another pair) keeps the working certificate.
    publish(dir.path(), "..2026_11_24_c", &a.cert_pem, &b.key_pem);
    let (served, _) = tls_get(s.port, &roots);
    assert_eq!(served, b.cert_der);
    assert!(
        s.wait_log("TLS certificate reload failed")
            .contains("TLS certificate reload failed"),
        "{}",
        s.log()
    );
    // Plain HTTP on the TLS port gets no answer it could mistake for one.
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    use std::io::Write as _;
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let _ = tcp.read_to_end(&mut buf);
    assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));
}

/// stepup with a session-keys file, behind nginx: the keys to seal session
/// cookies with, and the time now (Unix seconds).
struct Sessions {
    idp: Idp,
    _dir: tempfile::TempDir,
    s: Stepup,
    n: nginx::Nginx,
    keys: stepup::serve::session::SessionKeys,
    now: i64,
}

impl Sessions {
    fn start() -> Sessions {
        use stepup::serve::session::SessionKeys;
        let idp = Idp::start(&[], 600);
        let dir = tempfile::tempdir().unwrap();
        let keyfile = dir.path().join("session-keys");
        std::fs::write(&keyfile, SessionKeys::generate_line("k1") + "\n").unwrap();
        let s = Stepup::start(
            &policy(idp.issuer(), "shop"),
            &["--session-keys", keyfile.to_str().unwrap()],
        )
        .ready();
        let n = cluster(&s);
        let keys = SessionKeys::parse("k", &std::fs::read_to_string(&keyfile).unwrap()).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        Sessions {
            idp,
            _dir: dir,
            s,
            n,
            keys,
            now,
        }
    }
}

/// Issue 15: a session signed in on shop.test, replayed to another host
/// behind the same stepup (one set of session keys), is no session there:
/// a plain 401 (a browser goes to sign-in), and the log says why. A
/// session that names no host (sealed before sessions were bound) is
/// refused everywhere.
#[test]
fn session_for_another_host_is_no_session() {
    use stepup::serve::session::COOKIE_NAME;
    let Sessions {
        idp,
        s,
        n,
        keys,
        now,
        ..
    } = Sessions::start();
    let claims = json!({"sub": "alice", "acr": "urn:stepup:pwd", "amr": ["pwd"],
        "auth_time": now - 10, "iss": idp.issuer(), "iat": now, "exp": now + 3600,
        "stepup_host": "shop.test"});
    let sealed = keys.seal(claims.as_object().unwrap()).unwrap();
    let cookie = format!("{COOKIE_NAME}={sealed}");
    // On its own host (any case, any port in Host): accepted.
    let r = raw(
        n.port,
        "GET",
        "shop.test",
        "/account",
        &[("Cookie", &cookie)],
    );
    assert_eq!(r.status, 200, "{r:?}\n{}", s.log());
    assert!(r.body.contains("user=alice"), "{r:?}");
    let r = raw(
        n.port,
        "GET",
        "SHOP.test",
        "/account",
        &[("Cookie", &cookie)],
    );
    assert_eq!(r.status, 200, "{r:?}\n{}", s.log());
    // Replayed to legacy.test: no session.
    let r = raw(
        n.port,
        "GET",
        "legacy.test",
        "/account",
        &[("Cookie", &cookie)],
    );
    assert_eq!(r.status, 401, "{r:?}\n{}", s.log());
    assert_eq!(www(&r), "Bearer realm=\"stepup\"");
    assert!(!r.body.contains("backend uri="), "{r:?}");
    let why = r#"session cookie was issued for host \"shop.test\", not \"legacy.test\""#;
    assert!(s.wait_log(why).contains(why), "{}", s.log());
    // A session bound to no host opens nowhere.
    let mut unbound = claims.clone();
    unbound.as_object_mut().unwrap().remove("stepup_host");
    let sealed = keys.seal(unbound.as_object().unwrap()).unwrap();
    let r = raw(
        n.port,
        "GET",
        "shop.test",
        "/account",
        &[("Cookie", &format!("{COOKIE_NAME}={sealed}"))],
    );
    assert_eq!(r.status, 401, "{r:?}\n{}", s.log());
    assert!(
        s.wait_log("session cookie names no host")
            .contains("session cookie names no host"),
        "{}",
        s.log()
    );
}

#[test]
fn session_cookie_accepted_and_tampering_refused() {
    use stepup::serve::session::COOKIE_NAME;
    let Sessions {
        idp,
        s,
        n,
        keys,
        now,
        ..
    } = Sessions::start();
    let claims = json!({"sub": "alice", "email": "alice@example.com", "groups": ["shop-admins"],
        "acr": "urn:stepup:mfa", "amr": ["pwd", "otp", "mfa"], "auth_time": now - 10,
        "iss": idp.issuer(), "iat": now, "exp": now + 3600, "stepup_host": "shop.test"});
    let sealed = keys.seal(claims.as_object().unwrap()).unwrap();
    let cookie = format!("other=1; {COOKIE_NAME}={sealed}");
    let r = raw(n.port, "GET", "shop.test", "/admin", &[("Cookie", &cookie)]);
    assert_eq!(r.status, 200, "{r:?}\n{}", s.log());
    assert!(r.body.contains("user=alice") && r.body.contains("acr=urn:stepup:mfa"));
    // One flipped character: plain 401 (the browser goes to sign-in), and
    // the log says why.
    let mut forged = sealed.clone().into_bytes();
    let i = forged.len() - 5;
    forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let r = raw(
        n.port,
        "GET",
        "shop.test",
        "/admin",
        &[("Cookie", &format!("{COOKIE_NAME}={forged}"))],
    );
    assert_eq!(r.status, 401);
    assert_eq!(www(&r), "Bearer realm=\"stepup\"");
    assert!(
        s.wait_log("session cookie failed authentication")
            .contains("session cookie failed authentication"),
        "{}",
        s.log()
    );
    // An expired session is a 401 too.
    let mut old = claims.clone();
    old["exp"] = json!(now - 3600);
    let sealed = keys.seal(old.as_object().unwrap()).unwrap();
    let r = raw(
        n.port,
        "GET",
        "shop.test",
        "/account",
        &[("Cookie", &format!("{COOKIE_NAME}={sealed}"))],
    );
    assert_eq!(r.status, 401);
}

#[test]
fn graceful_shutdown_finishes_the_request_in_flight() {
    use std::io::Write as _;
    let s = Stepup::start(&policy("http://127.0.0.1:9", "shop"), &[]);
    // A request whose head is half sent when SIGTERM arrives.
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let pid = s.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    // New connections are refused once the listener is closed.
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(("127.0.0.1", s.port)).is_ok() {
        assert!(
            Instant::now() < deadline,
            "listener still open after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The request in flight completes.
    tcp.write_all(b"Connection: close\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    tcp.read_to_end(&mut buf).unwrap();
    let r = nginx::parse(&buf);
    assert_eq!((r.status, r.body.as_str()), (200, "ok\n"));
    let mut s = s;
    let status = s.child.wait().unwrap();
    assert!(status.success(), "{status:?}\n{}", s.log());
    assert!(s.log().contains("drained"), "{}", s.log());
}

#[test]
fn oversized_request_head_is_refused() {
    let s = Stepup::start(&policy("http://127.0.0.1:9", "shop"), &[]);
    let big = "x".repeat(200 * 1024);
    let r = raw(s.port, "GET", "x", "/healthz", &[("X-Big", &big)]);
    assert_eq!(r.status, 431);
    // The server is still fine.
    assert_eq!(raw(s.port, "GET", "x", "/healthz", &[]).status, 200);
}

/// Issue 15: the 64 KiB cap covers the whole head, `X-Original-URL`
/// included. hyper's buffer limit alone let a 70 KB `X-Original-URL`
/// through to `/auth` (it checks only while the head is incomplete).
#[test]
fn oversized_x_original_url_is_refused() {
    let s = Stepup::start(&policy("http://127.0.0.1:9", "shop"), &[]);
    let url = |n: usize| format!("https://shop.test/static/{}", "a".repeat(n));
    let auth = |url: &str| {
        raw(
            s.port,
            "GET",
            "x",
            "/auth?level=public",
            &[("X-Original-URL", url), ("X-Original-Method", "GET")],
        )
    };
    let r = auth(&url(70_000));
    assert_eq!(r.status, 431, "{r:?}");
    // The log line can follow the answer: wait for it (5 s at most).
    s.wait_log("request head too large");
    let log = s.wait_log("\"status\":431");
    assert!(
        log.contains("request head too large") && log.contains("\"status\":431"),
        "{log}"
    );
    // The cap is exact: `raw` sends the head as stepup counts it.
    let head = |n: usize| {
        format!(
            "GET /auth?level=public HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Original-URL: {}\r\nX-Original-Method: GET\r\n\r\n",
            url(n)
        )
        .len()
    };
    let fits = 64 * 1024 - head(0);
    assert_eq!(head(fits), 64 * 1024);
    assert_eq!(auth(&url(fits)).status, 200);
    assert_eq!(auth(&url(fits + 1)).status, 431);
    // A public path with a short head still passes, the server is fine.
    assert_eq!(auth(&url(10)).status, 200);
}
