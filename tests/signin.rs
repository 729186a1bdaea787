//! The browser sign-in flow end to end, with real parts only: a headless
//! Chromium (chromedriver, tests/support/browser.rs) talks HTTPS to Debian's
//! nginx configured as ingress-nginx renders `auth-url` + `auth-signin` and
//! the sign-in Ingress (tests/support/nginx.rs), in front of `stepup serve`
//! with session keys and the `stepup` client, and signs in at the
//! oidc-provider test IdP (tests/idp).
//!
//! [`cluster`] starts everything for the host `shop.test`:
//! - `/` public (no auth),
//! - `/account` with `auth-url` level `authenticated` (rule `account`),
//! - `/admin` with `auth-url` level `admin` (rule `admin`; `maxAge` 20s),
//!   both with `auth-signin https://$http_host/.stepup/signin?level=L`,
//! - `/.stepup` (Prefix) proxied to stepup without auth;
//!
//! and the host `other.test` with the same `/account` and `/.stepup`.
//!
//! Screenshots of each step: `target/test-output/signin/<test>/`.

#[path = "support/browser.rs"]
mod browser;
#[path = "support/idp.rs"]
mod idp;
#[path = "support/nginx.rs"]
mod nginx;
#[path = "support/proc.rs"]
mod proc;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use browser::Browser;
use idp::Idp;
use nginx::{Host, Loc, Opts};

/// The protected application host.
pub const HOST: &str = "shop.test";
/// A second application host behind the same stepup (`/account` and the
/// sign-in Ingress only; the IdP knows no redirect URI of it).
pub const OTHER_HOST: &str = "other.test";
/// The `stepup` client's secret at the test IdP.
pub const CLIENT_SECRET: &str = "stepup-secret";
/// The environment variable the policy's `clientSecretEnv` names.
pub const CLIENT_SECRET_ENV: &str = "STEPUP_TEST_CLIENT_SECRET";
/// The policy's `signinPath`.
pub const SIGNIN_PATH: &str = "/.stepup";

/// The policy of the cluster: levels `authenticated`, `mfa` (acr
/// urn:stepup:mfa) and `admin` (mfa, `maxAge` 20s, group shop-admins);
/// rules `public` (`/`), `account` and `admin`.
pub fn policy(issuer: &str, stepup_port: u16) -> String {
    format!(
        r#"apiVersion: stepup.dev/v1alpha1
kind: StepUpPolicy
metadata: {{name: signin-e2e}}
spec:
  idp:
    issuer: {issuer}
    audiences: [{audience}]
    clientID: stepup
    clientSecretEnv: {CLIENT_SECRET_ENV}
  authService:
    url: http://127.0.0.1:{stepup_port}
    signinPath: {SIGNIN_PATH}
  levels:
    - name: authenticated
    - name: mfa
      acr: [urn:stepup:mfa]
    - name: admin
      extends: mfa
      maxAge: 20s
      claims: {{groups: [shop-admins]}}
  rules:
    - name: public
      paths: [/]
      level: public
    - name: account
      paths: [/account, /account/**]
      level: authenticated
    - name: admin
      paths: [/admin, /admin/**]
      level: admin
"#,
        audience = idp::AUDIENCE,
    )
}

/// A session-keys file's text: one key `k1` of 32 random bytes.
pub fn session_keys() -> String {
    format!("k1 {}\n", STANDARD.encode(rand::random::<[u8; 32]>()))
}

/// What [`cluster_with`] varies.
#[derive(Clone, Debug)]
pub struct ClusterOpts {
    /// Access-token TTL at the IdP (seconds).
    pub access_ttl: u64,
    /// The policy, from the IdP's issuer and stepup's port ([`policy`] by
    /// default).
    pub policy: fn(&str, u16) -> String,
    /// Extra `stepup serve` arguments.
    pub serve_args: Vec<String>,
}

impl Default for ClusterOpts {
    fn default() -> Self {
        ClusterOpts {
            access_ttl: 600,
            policy,
            // The test IdP releases `groups` (the admin level checks it)
            // with the `groups` scope.
            serve_args: vec!["--signin-scopes".into(), "openid email groups".into()],
        }
    }
}

/// A running `stepup serve`.
pub struct Stepup {
    child: Child,
    pub port: u16,
    log: Arc<Mutex<String>>,
}

impl Drop for Stepup {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Stepup {
    /// `stepup serve -p POLICY --listen 127.0.0.1:PORT --session-keys KEYS
    /// ARGS...` with the client secret in its environment; waits for
    /// `/readyz`.
    fn start(policy: &PathBuf, keys: &PathBuf, port: u16, args: &[String]) -> Stepup {
        let proc::Started { child, log, line } = proc::start(
            Command::new(env!("CARGO_BIN_EXE_stepup"))
                .args(["serve", "-p"])
                .arg(policy)
                .arg("--listen")
                .arg(format!("127.0.0.1:{port}"))
                .arg("--session-keys")
                .arg(keys)
                .args(args)
                .env(CLIENT_SECRET_ENV, CLIENT_SECRET)
                .stdin(Stdio::null()),
        );
        let mut s = Stepup { child, port, log };
        let printed: Option<u16> = line
            .trim()
            .strip_prefix("listening on http://")
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok());
        match printed {
            Some(p) => s.port = p,
            None => {
                let _ = s.child.kill();
                let _ = s.child.wait();
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "stepup serve did not print its address: {line:?}; log:\n{}",
                    s.log()
                );
            }
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while nginx::raw(s.port, "GET", "x", "/readyz", &[]).status != 200 {
            assert!(
                Instant::now() < deadline,
                "stepup never became ready; log:\n{}",
                s.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }

    /// Its `auth-url` for a level and rule.
    pub fn auth_url(&self, level: &str, rule: &str) -> String {
        format!(
            "http://127.0.0.1:{}/auth?level={level}&rule={rule}",
            self.port
        )
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        proc::log(&self.log)
    }

    /// The log once it contains `needle` (a thread copies stderr, so a
    /// line written before a response may land a moment after it), or as
    /// it is after 5 s.
    pub fn wait_log(&self, needle: &str) -> String {
        proc::wait_log(&self.log, needle)
    }
}

/// Everything a browser test talks to. Blocking to start and to drop; the
/// IdP's helpers are blocking too (call them through
/// `tokio::task::block_in_place` or `spawn_blocking` from a test).
pub struct Cluster {
    // Dropped in this order: nginx, stepup, IdP.
    pub nginx: nginx::Nginx,
    pub stepup: Stepup,
    pub idp: Idp,
    /// nginx's HTTPS port (in every URL of the host).
    pub port: u16,
    /// Holds the policy and the session-keys file.
    pub dir: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- stepup log ----\n{}\n---- nginx error log ----\n{}",
                self.stepup.log(),
                self.nginx.error_log()
            );
        }
    }
}

impl Cluster {
    /// `https://shop.test:PORT`.
    pub fn origin(&self) -> String {
        format!("https://{HOST}:{}", self.port)
    }

    /// `https://shop.test:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin())
    }

    /// The redirect URI registered at the IdP for the `stepup` client.
    pub fn redirect_uri(&self) -> String {
        self.url(&format!("{SIGNIN_PATH}/callback"))
    }

    /// The sign-in URL nginx redirects to, up to `rd=`, for `level`.
    pub fn signin_prefix(&self, level: &str) -> String {
        self.url(&format!("{SIGNIN_PATH}/signin?level={level}&rd="))
    }

    /// The session-keys file stepup was started with.
    pub fn keys_file(&self) -> PathBuf {
        self.dir.path().join("session-keys")
    }
}

/// [`cluster_with`] the defaults.
pub fn cluster() -> Cluster {
    cluster_with(&ClusterOpts::default())
}

/// Starts the IdP (redirect URI `https://shop.test:PORT/.stepup/callback`),
/// `stepup serve` (session keys, client secret) and nginx over TLS on PORT.
/// Blocking: from an async test, `spawn_blocking(cluster)`.
pub fn cluster_with(opts: &ClusterOpts) -> Cluster {
    let port = nginx::free_port();
    let redirect = format!("https://{HOST}:{port}{SIGNIN_PATH}/callback");
    let idp = Idp::start(&[&redirect], opts.access_ttl);

    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("session-keys");
    std::fs::write(&keys, session_keys()).unwrap();
    let stepup_port = nginx::free_port();
    let policy_file = dir.path().join("policy.yaml");
    std::fs::write(&policy_file, (opts.policy)(idp.issuer(), stepup_port)).unwrap();
    let stepup = Stepup::start(&policy_file, &keys, stepup_port, &opts.serve_args);

    let signin = |level: &str| {
        Some(format!(
            "https://$http_host{SIGNIN_PATH}/signin?level={level}"
        ))
    };
    let hosts = [
        Host {
            name: HOST,
            locs: vec![
                Loc::public("/"),
                Loc::auth(
                    "/account",
                    stepup.auth_url("authenticated", "account"),
                    signin("authenticated"),
                ),
                Loc::auth("/admin", stepup.auth_url("admin", "admin"), signin("admin")),
                Loc::stepup(SIGNIN_PATH, stepup.port),
            ],
        },
        Host {
            name: OTHER_HOST,
            locs: vec![
                Loc::public("/"),
                Loc::auth(
                    "/account",
                    stepup.auth_url("authenticated", "account"),
                    signin("authenticated"),
                ),
                Loc::stepup(SIGNIN_PATH, stepup.port),
            ],
        },
    ];
    let nginx = nginx::start_opts(
        &hosts,
        &Opts {
            tls: true,
            port: Some(port),
            logs: true,
        },
    );
    Cluster {
        nginx,
        stepup,
        idp,
        port,
        dir,
    }
}

/// The harness itself: Chromium reaches nginx over TLS (public page; the
/// sign-in redirect of a protected page, followed), keeps and rewrites a
/// `__Host-` cookie on the host, and reaches the IdP.
#[tokio::test(flavor = "multi_thread")]
async fn browser_reaches_nginx_and_the_idp() {
    let started = Instant::now();
    let (c, b) = tokio::join!(
        async { tokio::task::spawn_blocking(cluster).await.unwrap() },
        Browser::start("signin", "browser_reaches_nginx_and_the_idp"),
    );
    eprintln!("cluster and browser up in {:?}", started.elapsed());

    // The public page: the backend's echo, over HTTPS.
    b.goto(&c.url("/")).await;
    b.assert_text("backend uri=/ user= ").await;
    assert_eq!(b.status().await, Some(200), "{}", b.describe().await);
    b.screenshot("public").await;

    // The browser keeps a __Host- cookie on this origin (a secure context
    // despite the test CA) and can rewrite it.
    b.add_cookie({
        let mut k = browser::fantoccini::cookies::Cookie::new("__Host-probe", "one");
        k.set_secure(true);
        k.set_path("/");
        k.set_http_only(true);
        k
    })
    .await;
    b.set_cookie_value("__Host-probe", "two").await;
    let probe = b.cookie("__Host-probe").await.expect("__Host-probe kept");
    assert_eq!(probe.value(), "two");
    assert_eq!(probe.http_only(), Some(true));
    b.delete_cookie("__Host-probe").await;
    assert!(b.cookie("__Host-probe").await.is_none());

    // A protected page without a session: nginx answers 302 to stepup's
    // sign-in on the same host, and the browser follows it (to stepup's
    // sign-in page, or on to the IdP once stepup redirects there).
    let signin = c.signin_prefix("authenticated");
    let rd = format!("https://{HOST}:{}%2Faccount", c.port);
    let nginx_302 = tokio::task::block_in_place(|| {
        c.nginx
            .client(&[HOST])
            .get(c.url("/account"))
            .send()
            .expect("GET /account")
    });
    assert_eq!(nginx_302.status(), 302);
    let location = nginx_302.headers()["location"].to_str().unwrap();
    assert!(location == format!("{signin}{rd}"), "{location}");
    b.goto(&c.url("/account")).await;
    let url = b.current_url().await;
    if url.starts_with(c.idp.issuer()) {
        b.assert_text("Sign in").await;
    } else {
        b.assert_url_prefix(&signin).await;
    }
    let followed = format!("\"GET {}{rd} HTTP/1.1\"", &signin[c.origin().len()..]);
    assert!(
        c.nginx.access_log().contains(&followed),
        "the browser did not follow the 302 ({followed}):\n{}",
        c.nginx.access_log()
    );
    eprintln!(
        "after /account: {url} (status {:?}, text {:?})",
        b.status().await,
        b.text().await
    );
    b.screenshot("account-signin").await;

    // The IdP, straight.
    let discovery = format!("{}/.well-known/openid-configuration", c.idp.issuer());
    b.goto(&discovery).await;
    b.assert_text(&format!("\"issuer\":\"{}\"", c.idp.issuer()))
        .await;
    b.screenshot("idp-discovery").await;

    b.close().await;
    eprintln!("done in {:?}", started.elapsed());
}

// ------------------------------------------------------------ scenarios

/// Starts a cluster and a browser for test `name`.
async fn setup(name: &str) -> (Cluster, Browser) {
    tokio::join!(
        async { tokio::task::spawn_blocking(cluster).await.unwrap() },
        Browser::start("signin", name),
    )
}

/// The backend's echo line, as the browser shows it.
async fn backend(b: &Browser, path: &str) -> String {
    let text = b.wait_for_text(&format!("backend uri={path} ")).await;
    text.lines()
        .find(|l| l.starts_with("backend uri="))
        .unwrap_or_default()
        .to_string()
}

/// Whether the browser is on the IdP now.
async fn at_idp(b: &Browser, c: &Cluster) -> bool {
    b.wait_for_url("on the IdP or back on the host", |u| {
        u.starts_with(c.idp.issuer()) || u.starts_with(&c.origin())
    })
    .await
    .starts_with(c.idp.issuer())
}

/// How many sign-in requests nginx has logged so far.
fn signins(c: &Cluster) -> usize {
    c.nginx
        .access_log()
        .matches(&format!("\"GET {SIGNIN_PATH}/signin?"))
        .count()
}

/// The `stepup serve` log lines of the sign-in with this outcome.
fn signin_logs(c: &Cluster, outcome: &str) -> Vec<serde_json::Value> {
    c.stepup
        .wait_log(&format!("\"outcome\":\"{outcome}\""))
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == "signin" && v["outcome"] == outcome)
        .collect()
}

/// The issue's scenario: public page without login; the account page
/// with a password login; the admin page with a second factor (asked for
/// through `acr_values`), the acr seen by the backend; past the admin
/// level's `maxAge` the admin page asks again (`prompt=login`, `max_age`)
/// while the account page does not.
#[tokio::test(flavor = "multi_thread")]
async fn step_up_in_a_real_browser() {
    let (c, b) = setup("step_up_in_a_real_browser").await;

    // 1. Public: no login, no redirect.
    b.goto(&c.url("/")).await;
    assert_eq!(
        backend(&b, "/").await,
        "backend uri=/ user= email= groups= acr="
    );
    assert!(b.current_url().await.starts_with(&c.origin()));
    b.screenshot("public").await;

    // 2. Account: nginx → stepup /signin → the IdP's password page.
    b.goto(&c.url("/account")).await;
    assert!(at_idp(&b, &c).await, "{}", b.describe().await);
    b.assert_text("Sign in").await;
    b.screenshot("idp-password").await;
    b.idp_sign_in("alice", "pw-alice").await;
    b.wait_for_url_prefix(&c.url("/account")).await;
    let line = backend(&b, "/account").await;
    assert!(
        line.contains(
            "user=alice email=alice@example.com groups=shop-admins,staff acr=urn:stepup:pwd"
        ),
        "{line}"
    );
    b.screenshot("account").await;
    let session = b.cookie("__Host-stepup").await.expect("session cookie set");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(session.secure(), Some(true));
    assert!(
        session.domain().is_none_or(|d| !d.starts_with('.')),
        "host-only"
    );
    assert!(
        b.cookies()
            .await
            .iter()
            .all(|k| !k.name().starts_with("__Host-stepup-flow-")),
        "the flow cookie is deleted at the callback"
    );

    // 3. Admin: the password session is too weak: the IdP asks again and
    // then for the one-time code (acr_values=urn:stepup:mfa).
    b.goto(&c.url("/admin")).await;
    assert!(at_idp(&b, &c).await, "{}", b.describe().await);
    if b.text().await.contains("Password") {
        b.screenshot("idp-password-again").await;
        b.idp_sign_in("alice", "pw-alice").await;
    }
    b.assert_text("One-time code").await;
    b.screenshot("idp-otp").await;
    b.idp_otp("123456").await;
    b.wait_for_url_prefix(&c.url("/admin")).await;
    let line = backend(&b, "/admin").await;
    assert!(
        line.contains("user=alice") && line.contains("acr=urn:stepup:mfa"),
        "{line}"
    );
    b.screenshot("admin").await;
    let started = signin_logs(&c, "redirect");
    assert_eq!(started.len(), 2, "{started:?}");
    assert_eq!(started[1]["level"], "admin");

    // 4. Past the admin level's maxAge (20 s): the account page still
    // opens without a login, the admin page asks again.
    let login = Instant::now();
    tokio::time::sleep(Duration::from_secs(21).saturating_sub(login.elapsed())).await;
    let before = signins(&c);
    b.goto(&c.url("/account")).await;
    assert!(backend(&b, "/account").await.contains("acr=urn:stepup:mfa"));
    assert_eq!(signins(&c), before, "the account page asked for a login");
    b.screenshot("account-after-max-age").await;
    b.goto(&c.url("/admin")).await;
    assert!(at_idp(&b, &c).await, "{}", b.describe().await);
    b.assert_text("Password").await;
    b.screenshot("idp-password-after-max-age").await;
    let fresh = signin_logs(&c, "redirect");
    let last = fresh.last().unwrap();
    assert_eq!(last["level"], "admin");
    assert!(
        last["reason"].as_str().unwrap().contains("prompt=login"),
        "{last}"
    );
    assert!(c.nginx.access_log().contains("level=admin&rd="));
    b.idp_sign_in("alice", "pw-alice").await;
    b.assert_text("One-time code").await;
    b.idp_otp("123456").await;
    b.wait_for_url_prefix(&c.url("/admin")).await;
    assert!(backend(&b, "/admin").await.contains("acr=urn:stepup:mfa"));
    b.screenshot("admin-again").await;

    // 5. Sign out: the session is gone, the account page asks again.
    b.goto(&c.url(&format!("{SIGNIN_PATH}/signout"))).await;
    b.assert_text("signed out").await;
    b.screenshot("signed-out").await;
    assert!(b.cookie("__Host-stepup").await.is_none());
    let metrics =
        tokio::task::block_in_place(|| nginx::raw(c.stepup.port, "GET", "x", "/metrics", &[]).body);
    assert!(
        metrics.contains("stepup_signins_total{step=\"callback\",outcome=\"ok\"} 3"),
        "{metrics}"
    );
    b.close().await;
}

/// Starts a sign-in outside the browser (as a script would): the IdP URL
/// stepup redirects to, and the flow cookie's name and value.
fn start_flow(c: &Cluster, level: &str, rd: &str) -> (String, String, String) {
    let url = format!(
        "{}{}",
        c.signin_prefix(level),
        url::form_urlencoded::byte_serialize(rd.as_bytes()).collect::<String>()
    );
    let r = c
        .nginx
        .client(&[HOST])
        .get(&url)
        .send()
        .expect("GET /signin");
    assert_eq!(r.status(), 302, "{url}: {:?}", r.text());
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(c.idp.issuer()), "{location}");
    let set = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("__Host-stepup-flow-"))
        .expect("a flow cookie");
    for attr in [
        "Path=/",
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
        "Max-Age=600",
    ] {
        assert!(set.contains(attr), "{set}");
    }
    let pair = set.split(';').next().unwrap();
    let (name, value) = pair.split_once('=').unwrap();
    (location, name.to_string(), value.to_string())
}

/// A GET through nginx outside the browser (no redirects followed), with
/// an optional session cookie: status, `Location`, body. Blocking work
/// (reqwest's blocking client) stays off the async threads.
fn fetch(c: &Cluster, url: &str, session: Option<&str>) -> (u16, Option<String>, String) {
    tokio::task::block_in_place(|| {
        let mut req = c.nginx.client(&[HOST, OTHER_HOST]).get(url);
        if let Some(s) = session {
            req = req.header("cookie", format!("__Host-stepup={s}"));
        }
        let r = req.send().expect("GET through nginx");
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string());
        (status, location, r.text().unwrap_or_default())
    })
}

/// A `__Host-` cookie for the browser (host-only, secure, HttpOnly).
fn host_cookie(name: &str, value: &str) -> browser::fantoccini::cookies::Cookie<'static> {
    let mut k = browser::fantoccini::cookies::Cookie::new(name.to_string(), value.to_string());
    k.set_secure(true);
    k.set_path("/");
    k.set_http_only(true);
    k
}

/// The session keys stepup runs with (the test wrote them).
fn keys(c: &Cluster) -> stepup::serve::session::SessionKeys {
    let text = std::fs::read_to_string(c.keys_file()).unwrap();
    stepup::serve::session::SessionKeys::parse("keys", &text).unwrap()
}

/// Flip one character in the middle of a cookie value's sealed part.
fn flip(v: &str) -> String {
    let mut b = v.as_bytes().to_vec();
    let i = b.len() - 10;
    b[i] = if b[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8(b).unwrap()
}

/// Sign in at the IdP if it shows its password page (it may not, when its
/// own session already satisfies the request).
async fn idp_password_if_asked(b: &Browser, c: &Cluster, user: &str) {
    if at_idp(b, c).await && b.text().await.contains("Password") {
        b.idp_sign_in(user, &format!("pw-{user}")).await;
    }
}

/// Issue 15: a real session of shop.test, replayed to other.test behind the
/// same stepup, is no session there: nginx sends the request to
/// other.test's sign-in (a plain 401 from `/auth`, logged with the reason),
/// and that sign-in starts a flow at the IdP instead of taking the session
/// as already meeting the level.
#[tokio::test(flavor = "multi_thread")]
async fn session_is_bound_to_its_host() {
    let (c, b) = setup("session_is_bound_to_its_host").await;
    b.goto(&c.url("/account")).await;
    idp_password_if_asked(&b, &c, "alice").await;
    b.wait_for_url_prefix(&c.url("/account")).await;
    assert!(backend(&b, "/account").await.contains("user=alice"));
    let session = b.cookie("__Host-stepup").await.unwrap().value().to_string();
    assert_eq!(fetch(&c, &c.url("/account"), Some(&session)).0, 200);

    let other = format!("https://{OTHER_HOST}:{}", c.port);
    let (status, location, body) = fetch(&c, &format!("{other}/account"), Some(&session));
    assert_eq!(status, 302, "{body}");
    let location = location.unwrap();
    assert!(
        location.starts_with(&format!(
            "{other}{SIGNIN_PATH}/signin?level=authenticated&rd="
        )),
        "{location}"
    );
    let why = r#"session cookie was issued for host \"shop.test\", not \"other.test\""#;
    assert!(c.stepup.wait_log(why).contains(why), "{}", c.stepup.log());
    // other.test's sign-in does not count it as a session either.
    let (status, location, _) = fetch(
        &c,
        &format!("{other}{SIGNIN_PATH}/signin?level=authenticated&rd=%2Faccount"),
        Some(&session),
    );
    assert_eq!(status, 302);
    let location = location.unwrap();
    assert!(location.starts_with(c.idp.issuer()), "{location}");
    b.close().await;
}

/// Negative paths of the flow: a tampered session cookie, a replayed
/// callback (`state` used twice), an ID token whose nonce is not the
/// flow's, and open-redirect attempts in `rd`.
#[tokio::test(flavor = "multi_thread")]
async fn tampering_replay_nonce_and_open_redirects_are_refused() {
    let (c, b) = setup("tampering_replay_nonce_and_open_redirects_are_refused").await;
    b.goto(&c.url("/account")).await;
    idp_password_if_asked(&b, &c, "alice").await;
    b.wait_for_url_prefix(&c.url("/account")).await;
    assert!(backend(&b, "/account").await.contains("user=alice"));

    // Tampered session cookie: refused by /auth (nginx sends to sign-in),
    // the untouched one is accepted.
    let good = b.cookie("__Host-stepup").await.unwrap().value().to_string();
    let account = c.url("/account");
    assert_eq!(fetch(&c, &account, Some(&good)).0, 200);
    let (status, location, _) = fetch(&c, &account, Some(&flip(&good)));
    assert_eq!(status, 302);
    assert!(
        location
            .unwrap()
            .starts_with(&c.signin_prefix("authenticated"))
    );
    // In the browser: the tampered cookie sends it through sign-in again
    // (silently: the IdP remembers alice) and a new session replaces it.
    let before = signins(&c);
    b.set_cookie_value("__Host-stepup", &flip(&good)).await;
    b.goto(&c.url("/account")).await;
    idp_password_if_asked(&b, &c, "alice").await;
    b.wait_for_url_prefix(&c.url("/account")).await;
    assert!(backend(&b, "/account").await.contains("user=alice"));
    assert_eq!(signins(&c), before + 1);
    assert!(
        c.stepup
            .wait_log("session cookie failed authentication (tampered or foreign)")
            .contains("session cookie failed authentication (tampered or foreign)")
    );
    let renewed = b.cookie("__Host-stepup").await.unwrap().value().to_string();
    assert!(renewed != good && renewed != flip(&good));

    // Replayed state: the last callback URL, opened again.
    let log = c.nginx.access_log();
    let callback = log
        .lines()
        .rev()
        .find_map(|l| {
            let start = l.find(&format!("\"GET {SIGNIN_PATH}/callback?"))? + 5;
            let end = start + l[start..].find(' ')?;
            Some(l[start..end].to_string())
        })
        .expect("a callback in nginx's access log");
    b.goto(&c.url(&callback)).await;
    b.assert_text("Sign-in expired").await;
    b.assert_text("already completed").await;
    assert_eq!(b.status().await, Some(400));
    b.screenshot("replayed-callback").await;
    assert_eq!(
        b.cookie("__Host-stepup").await.unwrap().value(),
        renewed,
        "session kept"
    );

    // Wrong nonce: a flow cookie with every value right but the nonce
    // (sealed with stepup's keys, as only stepup could): the ID token the
    // IdP returns carries the real nonce, so the callback refuses it.
    let (idp_url, name, value) =
        tokio::task::block_in_place(|| start_flow(&c, "authenticated", "/account"));
    let k = keys(&c);
    let mut flow = k.open_as(&name, &value).unwrap();
    flow.insert(
        "nonce".into(),
        serde_json::Value::from("not-the-nonce-of-this-flow"),
    );
    let forged = k.seal_as(&name, &flow).unwrap();
    b.add_cookie(host_cookie(&name, &forged)).await;
    b.goto(&idp_url).await;
    idp_password_if_asked(&b, &c, "alice").await;
    b.wait_for_url_prefix(&c.url(&format!("{SIGNIN_PATH}/callback")))
        .await;
    b.assert_text("does not belong to this sign-in").await;
    assert_eq!(b.status().await, Some(400));
    b.screenshot("wrong-nonce").await;
    assert!(
        c.stepup
            .wait_log("ID token nonce does not match the flow")
            .contains("ID token nonce does not match the flow")
    );
    assert!(
        b.cookie(&name).await.is_none(),
        "the flow cookie is deleted"
    );

    // Open redirects: refused at /signin with the reason, never a 302.
    for rd in [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "https://shop.test@evil.example/",
        "https:/\\evil.example",
        "/\t/evil.example",
    ] {
        let url = format!(
            "{}{}",
            c.signin_prefix("authenticated"),
            url::form_urlencoded::byte_serialize(rd.as_bytes()).collect::<String>()
        );
        let (status, location, body) = fetch(&c, &url, None);
        assert_eq!(status, 400, "{rd:?}");
        assert!(location.is_none(), "{rd:?}");
        assert!(body.contains("is not allowed"), "{rd:?}: {body}");
        let signout = c.url(&format!(
            "{SIGNIN_PATH}/signout?rd={}",
            url::form_urlencoded::byte_serialize(rd.as_bytes()).collect::<String>()
        ));
        let (status, location, _) = fetch(&c, &signout, None);
        assert_eq!((status, location), (200, None), "signout rd {rd:?}");
    }
    b.goto(&format!(
        "{}{}",
        c.signin_prefix("authenticated"),
        "https%3A%2F%2Fevil.example%2F"
    ))
    .await;
    b.assert_text("not allowed").await;
    b.screenshot("open-redirect-refused").await;
    // The same with a host of this site goes through (the session meets
    // the level, so straight back).
    let ok = fetch(
        &c,
        &format!("{}%2Faccount%3Fx%3D1", c.signin_prefix("authenticated")),
        Some(&renewed),
    );
    assert_eq!((ok.0, ok.1), (302, Some(c.url("/account?x=1"))));
    b.close().await;
}

/// A user without the admin group gets a 403 page after the second factor,
/// and then nginx's 403 on the admin page, not a loop through the IdP; a
/// step-up that comes back as another user is refused and keeps the
/// session's user.
#[tokio::test(flavor = "multi_thread")]
async fn missing_group_and_other_user_are_refused_without_a_loop() {
    let (c, b) = setup("missing_group_and_other_user_are_refused_without_a_loop").await;
    // bob's first visit is the admin page: password, second factor, then
    // the level check at the callback finds no shop-admins group.
    b.goto(&c.url("/admin")).await;
    idp_password_if_asked(&b, &c, "bob").await;
    b.assert_text("One-time code").await;
    b.idp_otp("123456").await;
    b.wait_for_url_prefix(&c.url(&format!("{SIGNIN_PATH}/callback")))
        .await;
    b.assert_text("Access not allowed").await;
    b.assert_text("shop-admins").await;
    assert_eq!(b.status().await, Some(403));
    b.screenshot("no-admin-group").await;
    // The admin page again: /auth answers 403 (no login can add the
    // group), nginx shows it, nobody is sent to the IdP.
    let before = signins(&c);
    b.goto(&c.url("/admin")).await;
    assert_eq!(b.status().await, Some(403), "{}", b.describe().await);
    assert!(b.current_url().await.starts_with(&c.url("/admin")));
    assert_eq!(signins(&c), before, "no new sign-in: no loop");
    b.screenshot("admin-403").await;
    // The login itself is kept: the account page opens as bob.
    b.goto(&c.url("/account")).await;
    assert!(backend(&b, "/account").await.contains("user=bob"));

    // Another user at the step-up (the person edits prompt=login into the
    // IdP URL and signs in as alice): refused, bob stays signed in.
    let (idp_url, name, value) = tokio::task::block_in_place(|| start_flow(&c, "admin", "/admin"));
    b.goto(&c.url("/")).await;
    b.add_cookie(host_cookie(&name, &value)).await;
    b.goto(&format!("{idp_url}&prompt=login")).await;
    assert!(at_idp(&b, &c).await);
    b.idp_sign_in("alice", "pw-alice").await;
    b.assert_text("One-time code").await;
    b.idp_otp("123456").await;
    b.wait_for_url_prefix(&c.url(&format!("{SIGNIN_PATH}/callback")))
        .await;
    b.assert_text("Signed in as someone else").await;
    assert_eq!(b.status().await, Some(403));
    b.screenshot("other-user").await;
    b.goto(&c.url("/account")).await;
    assert!(backend(&b, "/account").await.contains("user=bob"));
    assert_eq!(signin_logs(&c, "other_user").len(), 1);
    b.close().await;
}

/// The IdP delivers less than the level asks (the person removed
/// `acr_values` from the IdP URL): a page says so, and `/auth` answers 403
/// for that level during the cool-down, so nginx does not send the browser
/// back to the IdP; "Try again" starts a new sign-in that succeeds.
#[tokio::test(flavor = "multi_thread")]
async fn weaker_login_than_asked_gets_a_page_not_a_loop() {
    let (c, b) = setup("weaker_login_than_asked_gets_a_page_not_a_loop").await;
    let (idp_url, name, value) = tokio::task::block_in_place(|| start_flow(&c, "admin", "/admin"));
    assert!(idp_url.contains("acr_values=urn%3Astepup%3Amfa") && idp_url.contains("max_age=20"));
    let stripped: String = idp_url
        .split('&')
        .filter(|p| !p.starts_with("acr_values="))
        .collect::<Vec<_>>()
        .join("&");
    b.goto(&c.url("/")).await;
    b.add_cookie(host_cookie(&name, &value)).await;
    b.goto(&stripped).await;
    assert!(at_idp(&b, &c).await);
    b.idp_sign_in("alice", "pw-alice").await;
    b.wait_for_url_prefix(&c.url(&format!("{SIGNIN_PATH}/callback")))
        .await;
    b.assert_text("Stronger sign-in needed").await;
    assert_eq!(b.status().await, Some(403));
    b.screenshot("weaker-than-asked").await;
    let retry = b
        .script(
            "retry link",
            "return document.querySelector('main a').href;",
        )
        .await
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        retry,
        format!("{}%2Fadmin", c.signin_prefix("admin")).replace(
            "%2Fadmin",
            &url::form_urlencoded::byte_serialize(c.url("/admin").as_bytes()).collect::<String>()
        )
    );
    assert!(b.cookie("__Host-stepup-denied").await.is_some());
    // The login is kept for what it is worth: the account page opens.
    b.goto(&c.url("/account")).await;
    assert!(backend(&b, "/account").await.contains("acr=urn:stepup:pwd"));
    // The admin page: 403 from nginx, no new trip to the IdP.
    let before = signins(&c);
    b.goto(&c.url("/admin")).await;
    assert_eq!(b.status().await, Some(403), "{}", b.describe().await);
    assert_eq!(signins(&c), before, "no new sign-in during the cool-down");
    assert!(
        c.stepup
            .wait_log("did not deliver level admin")
            .contains("did not deliver level admin")
    );
    b.screenshot("admin-403-cooldown").await;

    // The page's "Try again": a fresh sign-in, this time with the code.
    b.goto(&retry).await;
    idp_password_if_asked(&b, &c, "alice").await;
    b.assert_text("One-time code").await;
    b.idp_otp("123456").await;
    b.wait_for_url_prefix(&c.url("/admin")).await;
    assert!(backend(&b, "/admin").await.contains("acr=urn:stepup:mfa"));
    assert!(
        b.cookie("__Host-stepup-denied").await.is_none(),
        "cool-down cleared"
    );
    b.screenshot("admin-after-retry").await;
    b.close().await;
}

/// What the IdP can send back instead of a code, and a flow that took too
/// long: each gets a page a person can act on, with the right status.
#[tokio::test(flavor = "multi_thread")]
async fn idp_errors_and_expired_flows_get_pages() {
    let (c, b) = setup("idp_errors_and_expired_flows_get_pages").await;
    b.goto(&c.url("/")).await;
    let state_of = |name: &str| name.trim_start_matches("__Host-stepup-flow-").to_string();
    let callback =
        |state: &str, rest: &str| c.url(&format!("{SIGNIN_PATH}/callback?state={state}&{rest}"));

    // The IdP could not reach the level (RFC 9470 / OIDC error).
    let (_, name, value) = tokio::task::block_in_place(|| start_flow(&c, "admin", "/admin"));
    b.add_cookie(host_cookie(&name, &value)).await;
    b.goto(&callback(
        &state_of(&name),
        "error=unmet_authentication_requirements&error_description=no+second+factor+enrolled",
    ))
    .await;
    b.assert_text("Stronger sign-in not completed").await;
    assert_eq!(b.status().await, Some(403));
    assert!(b.cookie("__Host-stepup-denied").await.is_some());
    assert!(b.cookie(&name).await.is_none(), "flow cookie deleted");
    b.screenshot("unmet-authentication-requirements").await;

    // Any other IdP error.
    let (_, name, value) =
        tokio::task::block_in_place(|| start_flow(&c, "authenticated", "/account"));
    b.add_cookie(host_cookie(&name, &value)).await;
    b.goto(&callback(
        &state_of(&name),
        "error=server_error&error_description=%3Cb%3Eboom%3C%2Fb%3E",
    ))
    .await;
    b.assert_text("Sign-in failed").await;
    b.assert_text("<b>boom</b>").await; // shown as text, not markup
    assert_eq!(b.status().await, Some(502));
    b.screenshot("idp-error").await;

    // A flow older than 10 minutes (sealed by stepup's keys, so only the
    // age is wrong).
    let (_, name, value) =
        tokio::task::block_in_place(|| start_flow(&c, "authenticated", "/account"));
    let k = keys(&c);
    let mut flow = k.open_as(&name, &value).unwrap();
    flow.insert("exp".into(), serde_json::Value::from(idp::now() - 1));
    b.add_cookie(host_cookie(&name, &k.seal_as(&name, &flow).unwrap()))
        .await;
    b.goto(&callback(&state_of(&name), "code=whatever")).await;
    b.assert_text("took too long").await;
    assert_eq!(b.status().await, Some(400));
    b.screenshot("expired-flow").await;

    // A state with no flow cookie at all (another browser), and none.
    b.goto(&callback("AAAAAAAAAAAAAAAAAAAAAA", "code=x")).await;
    b.assert_text("Sign-in expired").await;
    b.goto(&c.url(&format!("{SIGNIN_PATH}/callback?code=x")))
        .await;
    b.assert_text("no usable state").await;
    assert_eq!(b.status().await, Some(400));
    // An unknown level in the sign-in link.
    b.goto(&c.url(&format!("{SIGNIN_PATH}/signin?level=root&rd=%2F")))
        .await;
    b.assert_text("does not define").await;
    assert_eq!(b.status().await, Some(400));
    b.screenshot("unknown-level").await;
    let m =
        tokio::task::block_in_place(|| nginx::raw(c.stepup.port, "GET", "x", "/metrics", &[]).body);
    for line in [
        "stepup_signins_total{step=\"callback\",outcome=\"level_not_met\"} 1",
        "stepup_signins_total{step=\"callback\",outcome=\"idp_error\"} 1",
        "stepup_signins_total{step=\"callback\",outcome=\"expired\"} 2",
        "stepup_signins_total{step=\"callback\",outcome=\"bad_request\"} 1",
    ] {
        assert!(m.contains(line), "{line} not in\n{m}");
    }
    b.close().await;
}
