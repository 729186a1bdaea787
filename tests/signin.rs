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
//! - `/.stepup` (Prefix) proxied to stepup without auth.
//!
//! Screenshots of each step: `target/test-output/signin/<test>/`.

#[path = "support/browser.rs"]
mod browser;
#[path = "support/idp.rs"]
mod idp;
#[path = "support/nginx.rs"]
mod nginx;

use std::io::{BufRead, BufReader, Read};
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
        let mut child = Command::new(env!("CARGO_BIN_EXE_stepup"))
            .args(["serve", "-p"])
            .arg(policy)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--session-keys")
            .arg(keys)
            .args(args)
            .env(CLIENT_SECRET_ENV, CLIENT_SECRET)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start stepup serve");
        let log = Arc::new(Mutex::new(String::new()));
        let mut stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let _ = stdout.read_line(&mut line);
        // Drain the rest so the pipe never fills.
        std::thread::spawn(move || {
            let mut rest = Vec::new();
            let _ = stdout.read_to_end(&mut rest);
        });
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
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
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
    let hosts = [Host {
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
    }];
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
        .log()
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
