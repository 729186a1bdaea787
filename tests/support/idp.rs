//! Test harness around the real OpenID provider in `tests/idp/idp.mjs`
//! (node + oidc-provider). Tokens only ever come from oidc-provider's real
//! authorization-code flow: [`Idp::login`] plays the browser (cookies,
//! redirects, login form, one-time code) and then the client (code exchange
//! with PKCE) without a browser; [`Idp::client_credentials`] uses its
//! client-credentials grant (a token with no user).
//!
//! Needs `node` on PATH and `npm ci --prefix tests/idp` once.
//!
//! Use from a test file with `#[path = "support/idp.rs"] mod idp;`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// The redirect URI of the `tester` client (also registered for `stepup`).
/// Nothing listens there: the harness reads the code from the `Location`.
pub const TEST_REDIRECT_URI: &str = "http://127.0.0.1/cb";
/// `acr` of a password-only login.
pub const ACR_PWD: &str = "urn:stepup:pwd";
/// `acr` of a password + one-time-code login.
pub const ACR_MFA: &str = "urn:stepup:mfa";
/// `aud` of every access token.
pub const AUDIENCE: &str = "shop";
/// The one-time code the IdP accepts.
pub const OTP: &str = "123456";

const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Signing algorithm of the access token, chosen through the resource
/// indicator asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Alg {
    #[default]
    Rs256,
    Es256,
}

impl Alg {
    /// The JWS `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
        }
    }

    /// The resource indicator (RFC 8707) whose access tokens use this alg.
    pub fn resource(self) -> &'static str {
        match self {
            Alg::Rs256 => "urn:stepup:shop:rs256",
            Alg::Es256 => "urn:stepup:shop:es256",
        }
    }
}

/// One login through the authorization-code flow. `Login::new("alice")`
/// logs alice in with her password only; chain the setters for the rest.
#[derive(Clone, Debug)]
pub struct Login<'a> {
    /// `alice`, `bob` or `carol`.
    pub user: &'a str,
    /// Password to type; `None` = the right one (`pw-<user>`).
    pub password: Option<&'a str>,
    /// Ask for `urn:stepup:mfa` (acr_values) and type the one-time code.
    pub mfa: bool,
    /// One-time code to type; `None` = the right one.
    pub otp: Option<&'a str>,
    /// Access-token signing algorithm (picks the resource).
    pub alg: Alg,
    /// Seconds added to the login's `auth_time` (-600 = 10 min ago); 0 sends
    /// none, so the IdP's default (normally now) applies.
    pub auth_time_offset: i64,
    /// `max_age` authorization parameter.
    pub max_age: Option<u64>,
    /// `prompt=login`.
    pub prompt_login: bool,
    /// Raw `claims` authorization parameter (JSON), e.g. an essential acr.
    pub claims: Option<&'a str>,
    /// `tester` (default) or `stepup`; the secret is `<client>-secret`.
    pub client_id: &'a str,
    /// Send the client secret in the token request body
    /// (`client_secret_post`) instead of HTTP Basic.
    pub secret_in_body: bool,
}

impl<'a> Login<'a> {
    pub fn new(user: &'a str) -> Self {
        Login {
            user,
            password: None,
            mfa: false,
            otp: None,
            alg: Alg::Rs256,
            auth_time_offset: 0,
            max_age: None,
            prompt_login: false,
            claims: None,
            client_id: "tester",
            secret_in_body: false,
        }
    }

    pub fn mfa(mut self) -> Self {
        self.mfa = true;
        self
    }

    pub fn alg(mut self, alg: Alg) -> Self {
        self.alg = alg;
        self
    }

    pub fn auth_time_offset(mut self, seconds: i64) -> Self {
        self.auth_time_offset = seconds;
        self
    }

    pub fn password(mut self, password: &'a str) -> Self {
        self.password = Some(password);
        self
    }

    pub fn otp(mut self, otp: &'a str) -> Self {
        self.otp = Some(otp);
        self
    }

    pub fn max_age(mut self, seconds: u64) -> Self {
        self.max_age = Some(seconds);
        self
    }

    pub fn prompt_login(mut self) -> Self {
        self.prompt_login = true;
        self
    }

    pub fn claims(mut self, claims: &'a str) -> Self {
        self.claims = Some(claims);
        self
    }

    pub fn client(mut self, client_id: &'a str) -> Self {
        self.client_id = client_id;
        self
    }

    pub fn client_secret_post(mut self) -> Self {
        self.secret_in_body = true;
        self
    }
}

/// What the token endpoint returned (plus the nonce the request sent).
#[derive(Clone, Debug)]
pub struct Tokens {
    pub access_token: String,
    pub id_token: String,
    pub expires_in: u64,
    /// The `nonce` sent in the authorization request.
    pub nonce: String,
}

/// A running `tests/idp/idp.mjs`. Dropping it kills the process.
pub struct Idp {
    child: Option<Child>,
    /// Kept open: the IdP exits when its stdin closes.
    stdin: Option<ChildStdin>,
    issuer: String,
    port: u16,
    stderr: Arc<Mutex<String>>,
}

impl Idp {
    /// Starts the IdP on a free loopback port. `redirect_uris` are added to
    /// the `stepup` client (besides [`TEST_REDIRECT_URI`]); access tokens
    /// live `access_ttl_secs`.
    ///
    /// A node process that prints no ready line in time is killed and
    /// started once more (seen once in a CI run: one start of many hung
    /// before listening, with nothing on stderr); a second failure panics
    /// with both stderr outputs.
    pub fn start(redirect_uris: &[&str], access_ttl_secs: u64) -> Idp {
        Idp::start_opts(redirect_uris, access_ttl_secs, None)
    }

    /// Like [`Idp::start`], with the issuer replaced by `issuer` (`--issuer`
    /// of idp.mjs): an address that forwards to the IdP's own port, such as
    /// a test's delaying proxy. Discovery, every token's `iss` and the
    /// harness's own requests ([`Idp::login`]) then go through it.
    pub fn start_with_issuer(issuer: &str, access_ttl_secs: u64) -> Idp {
        Idp::start_opts(&[], access_ttl_secs, Some(issuer))
    }

    fn start_opts(redirect_uris: &[&str], access_ttl_secs: u64, issuer: Option<&str>) -> Idp {
        match Idp::spawn(redirect_uris, access_ttl_secs, issuer) {
            Ok(idp) => idp,
            Err(first) => {
                eprintln!("[idp] {first}; starting it once more");
                Idp::spawn(redirect_uris, access_ttl_secs, issuer).unwrap_or_else(|second| {
                    panic!("the test IdP (node tests/idp/idp.mjs) did not start twice:\n1: {first}\n2: {second}")
                })
            }
        }
    }

    /// One start; `Err` only when no ready line came in time.
    fn spawn(
        redirect_uris: &[&str],
        access_ttl_secs: u64,
        issuer: Option<&str>,
    ) -> Result<Idp, String> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/idp");
        if !dir.join("node_modules/oidc-provider").is_dir() {
            panic!(
                "the test IdP's dependencies are missing ({}): run `npm ci --prefix tests/idp`",
                dir.join("node_modules").display()
            );
        }
        let mut cmd = Command::new("node");
        cmd.arg(dir.join("idp.mjs"))
            .args(["--port", "0", "--access-ttl"])
            .arg(access_ttl_secs.to_string());
        for uri in redirect_uris {
            cmd.arg("--redirect-uri").arg(uri);
        }
        if let Some(issuer) = issuer {
            cmd.args(["--issuer", issuer]);
        }
        cmd.current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot start the test IdP with `node` (is Node.js >= 20.18 on PATH?): {e}")
        });

        // stderr: kept for failure messages, echoed to the test's (captured) output.
        let stderr = Arc::new(Mutex::new(String::new()));
        {
            let pipe = child.stderr.take().expect("stderr piped");
            let sink = Arc::clone(&stderr);
            thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    eprintln!("[idp] {line}");
                    let mut s = sink.lock().unwrap_or_else(|p| p.into_inner());
                    s.push_str(&line);
                    s.push('\n');
                }
            });
        }

        // stdout: the ready line, then nothing (drained so the pipe never fills).
        let (tx, rx) = mpsc::channel();
        {
            let pipe = child.stdout.take().expect("stdout piped");
            thread::spawn(move || {
                let mut reader = BufReader::new(pipe);
                let mut line = String::new();
                let read = reader.read_line(&mut line);
                let _ = tx.send(read.map(|_| line));
                let mut rest = Vec::new();
                let _ = reader.read_to_end(&mut rest);
            });
        }
        let stdin = child.stdin.take();

        let mut idp = Idp {
            child: Some(child),
            stdin,
            issuer: String::new(),
            port: 0,
            stderr,
        };
        let line = match rx.recv_timeout(READY_TIMEOUT) {
            Ok(Ok(line)) if !line.trim().is_empty() => line,
            Ok(Ok(_)) => idp.fail_start("exited before printing its ready line"),
            Ok(Err(e)) => idp.fail_start(&format!("reading its stdout failed: {e}")),
            Err(_) => {
                idp.kill();
                thread::sleep(Duration::from_millis(200));
                return Err(format!(
                    "printed no ready line within {}s; its stderr:\n{}",
                    READY_TIMEOUT.as_secs(),
                    idp.stderr()
                ));
            }
        };
        let ready: Value = serde_json::from_str(line.trim())
            .unwrap_or_else(|e| idp.fail_start(&format!("bad ready line {line:?}: {e}")));
        idp.issuer = ready["issuer"]
            .as_str()
            .unwrap_or_else(|| idp.fail_start(&format!("ready line without issuer: {line}")))
            .to_string();
        idp.port = ready["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or_else(|| idp.fail_start(&format!("ready line without port: {line}")));
        Ok(idp)
    }

    fn fail_start(&mut self, what: &str) -> ! {
        self.kill();
        // Let the stderr reader drain what the process wrote before it died.
        thread::sleep(Duration::from_millis(200));
        panic!(
            "the test IdP (node tests/idp/idp.mjs) {what}.\n\
             If its dependencies are missing, run `npm ci --prefix tests/idp`.\n\
             Its stderr:\n{}",
            self.stderr()
        );
    }

    /// `http://127.0.0.1:PORT`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// What the IdP has logged so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stops the IdP now (to simulate it being down). Idempotent.
    pub fn kill(&mut self) {
        self.stdin.take();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path)
    }

    fn http() -> reqwest::blocking::Client {
        reqwest::blocking::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(15))
            .build()
            .expect("reqwest client")
    }

    fn get_json(&self, path: &str) -> Value {
        let url = self.url(path);
        let resp = Self::http()
            .get(&url)
            .send()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = resp.status();
        let body = resp.text().unwrap_or_default();
        assert!(status.is_success(), "GET {url}: {status}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: not JSON ({e}): {body}"))
    }

    fn post_json(&self, path: &str) -> Value {
        self.post_json_body(path, None)
    }

    /// POST (with `body` as JSON, if given) and read the JSON answer.
    fn post_json_body(&self, path: &str, body: Option<&Value>) -> Value {
        let url = self.url(path);
        let mut req = Self::http().post(&url);
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().unwrap_or_else(|e| panic!("POST {url}: {e}"));
        let status = resp.status();
        let body = resp.text().unwrap_or_default();
        assert!(status.is_success(), "POST {url}: {status}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("POST {url}: not JSON ({e}): {body}"))
    }

    /// `/.well-known/openid-configuration`.
    pub fn discovery(&self) -> Value {
        self.get_json("/.well-known/openid-configuration")
    }

    /// The public JWKS (`{"keys":[...]}`).
    pub fn jwks(&self) -> Value {
        let jwks_uri = self.discovery()["jwks_uri"]
            .as_str()
            .expect("discovery has jwks_uri")
            .to_string();
        let path = jwks_uri
            .strip_prefix(&self.issuer)
            .expect("jwks_uri on the issuer")
            .to_string();
        self.get_json(&path)
    }

    /// New signing key of that kind, used for every token from now on; the
    /// old keys stay in the JWKS. Returns the new `kid`.
    pub fn rotate(&self, alg: Alg) -> String {
        let answer = self.post_json(&format!("/__admin/rotate?alg={}", alg.name()));
        answer["kid"]
            .as_str()
            .unwrap_or_else(|| panic!("rotate answered without kid: {answer}"))
            .to_string()
    }

    /// Removes all but the newest key of each alg from the JWKS; returns the
    /// kids left.
    pub fn drop_old_keys(&self) -> Vec<String> {
        let answer = self.post_json("/__admin/drop-old-keys");
        answer["kids"]
            .as_array()
            .unwrap_or_else(|| panic!("drop-old-keys answered without kids: {answer}"))
            .iter()
            .map(|k| k.as_str().expect("kid is a string").to_string())
            .collect()
    }

    /// Shifts the IdP's clock by `seconds` while it answers token requests
    /// (0 restores it): tokens issued meanwhile carry skewed `iat` and `exp`.
    pub fn set_clock_offset(&self, seconds: i64) {
        let answer = self.post_json(&format!("/__admin/clock?offset={seconds}"));
        assert_eq!(answer["offset"], seconds, "clock answered {answer}");
    }

    /// A JWT of exactly `claims`, signed by the IdP with its current `alg`
    /// signing key (the one its JWKS publishes), through the test-only
    /// `/__admin/sign` control: for tokens a real IdP would never issue
    /// (wrong `iss`, `nbf` in the future, an `acr` that is not a string).
    /// `header` members (`{}` for none) are merged over `alg`, `typ` and
    /// `kid`.
    pub fn sign(&self, claims: &Value, header: &Value, alg: Alg) -> String {
        let body = serde_json::json!({"claims": claims, "header": header, "alg": alg.name()});
        let answer = self.post_json_body("/__admin/sign", Some(&body));
        answer["token"]
            .as_str()
            .unwrap_or_else(|| panic!("sign answered without token: {answer}"))
            .to_string()
    }

    /// An access token of the client-credentials grant (RFC 6749 §4.4) for
    /// the default resource: the `robot` client acting for itself, no user.
    pub fn client_credentials(&self, client_id: &str, secret: &str) -> String {
        let token_endpoint = self.discovery()["token_endpoint"]
            .as_str()
            .expect("discovery has no token_endpoint")
            .to_string();
        let r = Self::http()
            .post(token_endpoint)
            .basic_auth(client_id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .expect("token request");
        let status = r.status();
        let answer: Value = r.json().expect("token endpoint answered JSON");
        assert!(status.is_success(), "client_credentials: {status} {answer}");
        answer["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access_token: {answer}"))
            .to_string()
    }

    /// Offset (seconds) added to `auth_time` by logins whose form does not
    /// send `auth_time_offset` (browser logins); 0 restores the default.
    /// A [`Login`] with a non-zero `auth_time_offset` sends its own.
    pub fn set_default_auth_time_offset(&self, seconds: i64) {
        let answer = self.post_json(&format!("/__admin/auth-time-offset?seconds={seconds}"));
        assert_eq!(
            answer["seconds"], seconds,
            "auth-time-offset answered {answer}"
        );
    }

    /// Logs in through the real authorization-code flow; panics (with the
    /// IdP's answer) when the login does not yield tokens.
    pub fn login(&self, req: &Login) -> Tokens {
        self.try_login(req)
            .unwrap_or_else(|e| panic!("login of {} failed: {e}", req.user))
    }

    /// Like [`Idp::login`], but says why no tokens came (wrong password, ...).
    pub fn try_login(&self, req: &Login) -> Result<Tokens, String> {
        self.session().try_login(req)
    }

    /// A browser-like session (one cookie jar) for several logins in a row,
    /// e.g. a password login followed by a step-up.
    pub fn session(&self) -> IdpSession<'_> {
        IdpSession {
            idp: self,
            http: Self::http(),
        }
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One user agent (cookie jar) talking to the IdP.
pub struct IdpSession<'i> {
    idp: &'i Idp,
    http: reqwest::blocking::Client,
}

impl IdpSession<'_> {
    pub fn login(&self, req: &Login) -> Tokens {
        self.try_login(req)
            .unwrap_or_else(|e| panic!("login of {} failed: {e}", req.user))
    }

    /// Runs the flow; a reused session may get a code without any form.
    pub fn try_login(&self, req: &Login) -> Result<Tokens, String> {
        let discovery = self.idp.discovery();
        let endpoint = |name: &str| -> String {
            discovery[name]
                .as_str()
                .unwrap_or_else(|| panic!("discovery has no {name}"))
                .to_string()
        };
        let authorization_endpoint = endpoint("authorization_endpoint");
        let token_endpoint = endpoint("token_endpoint");

        let state = random_token();
        let nonce = random_token();
        let verifier = random_token();
        let challenge = URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes()));

        let mut params: Vec<(&str, String)> = vec![
            ("client_id", req.client_id.to_string()),
            ("response_type", "code".into()),
            ("redirect_uri", TEST_REDIRECT_URI.into()),
            ("scope", "openid email groups".into()),
            ("resource", req.alg.resource().into()),
            ("state", state.clone()),
            ("nonce", nonce.clone()),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256".into()),
        ];
        if req.mfa {
            params.push(("acr_values", ACR_MFA.into()));
        }
        if let Some(max_age) = req.max_age {
            params.push(("max_age", max_age.to_string()));
        }
        if req.prompt_login {
            params.push(("prompt", "login".into()));
        }
        if let Some(claims) = req.claims {
            params.push(("claims", claims.to_string()));
        }
        let mut url = reqwest::Url::parse_with_params(&authorization_endpoint, &params)
            .map_err(|e| format!("authorization URL: {e}"))?;

        let password = req
            .password
            .map(str::to_string)
            .unwrap_or_else(|| format!("pw-{}", req.user));
        let offset = (req.auth_time_offset != 0).then(|| req.auth_time_offset.to_string());
        let mut resp = self.send(self.http.get(url.clone()), &url)?;
        let mut posted_login = false;
        let mut posted_otp = false;
        let code = loop {
            let status = resp.status();
            if status.is_redirection() {
                let location = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| format!("{status} from {url} without Location"))?
                    .to_string();
                let next = url
                    .join(&location)
                    .map_err(|e| format!("bad Location {location:?}: {e}"))?;
                if next.as_str().starts_with(TEST_REDIRECT_URI) {
                    break callback_code(&next, &state)?;
                }
                url = next;
                resp = self.send(self.http.get(url.clone()), &url)?;
                continue;
            }
            let body = resp.text().unwrap_or_default();
            if !status.is_success() {
                return Err(format!("{status} from {url}: {}", excerpt(&body)));
            }
            let action = form_action(&body)
                .ok_or_else(|| format!("{status} from {url} without a form: {}", excerpt(&body)))?;
            let target = url
                .join(&action)
                .map_err(|e| format!("bad form action {action:?}: {e}"))?;
            if body.contains("name=\"otp\"") {
                if posted_otp {
                    return Err(format!(
                        "one-time code form shown again: {}",
                        excerpt(&body)
                    ));
                }
                posted_otp = true;
                let otp = req.otp.unwrap_or(OTP);
                let mut form = vec![("otp", otp)];
                if let Some(offset) = &offset {
                    form.push(("auth_time_offset", offset.as_str()));
                }
                resp = self.send(self.http.post(target.clone()).form(&form), &target)?;
            } else if body.contains("name=\"username\"") {
                if posted_login {
                    return Err(format!("login form shown again: {}", excerpt(&body)));
                }
                posted_login = true;
                let mut form = vec![("username", req.user), ("password", password.as_str())];
                if let Some(offset) = &offset {
                    form.push(("auth_time_offset", offset.as_str()));
                }
                resp = self.send(self.http.post(target.clone()).form(&form), &target)?;
            } else {
                return Err(format!("unexpected page at {url}: {}", excerpt(&body)));
            }
            url = target;
            // A rejected password or code comes back as the form with an
            // error and a 4xx status.
            if resp.status().is_client_error() {
                let status = resp.status();
                let body = resp.text().unwrap_or_default();
                return Err(format!("{status} from {url}: {}", excerpt(&body)));
            }
        };

        let secret = format!("{}-secret", req.client_id);
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", TEST_REDIRECT_URI),
            ("code_verifier", verifier.as_str()),
            ("resource", req.alg.resource()),
        ];
        let token_url =
            reqwest::Url::parse(&token_endpoint).map_err(|e| format!("token endpoint: {e}"))?;
        let mut request = self.http.post(token_url.clone());
        if req.secret_in_body {
            form.push(("client_id", req.client_id));
            form.push(("client_secret", secret.as_str()));
        } else {
            request = request.basic_auth(req.client_id, Some(&secret));
        }
        let resp = self.send(request.form(&form), &token_url)?;
        let status = resp.status();
        let body = resp.text().unwrap_or_default();
        if !status.is_success() {
            return Err(format!("token endpoint answered {status}: {body}"));
        }
        let json: Value = serde_json::from_str(&body)
            .map_err(|e| format!("token response is not JSON ({e}): {body}"))?;
        let field = |name: &str| -> Result<String, String> {
            json[name]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("token response without {name}: {body}"))
        };
        Ok(Tokens {
            access_token: field("access_token")?,
            id_token: field("id_token")?,
            expires_in: json["expires_in"]
                .as_u64()
                .ok_or_else(|| format!("token response without expires_in: {body}"))?,
            nonce,
        })
    }

    fn send(
        &self,
        builder: reqwest::blocking::RequestBuilder,
        url: &reqwest::Url,
    ) -> Result<reqwest::blocking::Response, String> {
        builder.send().map_err(|e| format!("request to {url}: {e}"))
    }
}

/// The `code` of the redirect to the client, after checking `state`.
fn callback_code(url: &reqwest::Url, state: &str) -> Result<String, String> {
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if let Some(error) = get("error") {
        return Err(format!(
            "authorization error {error}: {} ({url})",
            get("error_description").unwrap_or_default()
        ));
    }
    if get("state").as_deref() != Some(state) {
        return Err(format!("callback with a wrong state: {url}"));
    }
    get("code").ok_or_else(|| format!("callback without code: {url}"))
}

/// The `action` of the first form of a page.
fn form_action(body: &str) -> Option<String> {
    let form = body.find("<form")?;
    let rest = &body[form..];
    let start = rest.find("action=\"")? + "action=\"".len();
    let end = rest[start..].find('"')?;
    Some(rest[start..start + end].replace("&amp;", "&"))
}

/// The visible text of a page (or the start of a non-HTML body), for errors.
fn excerpt(body: &str) -> String {
    let mut text = String::new();
    let mut rest = body;
    // Drop the <head> (title aside, the error is in the body).
    if let Some(i) = rest.find("<body") {
        rest = &rest[i..];
    }
    let mut in_tag = false;
    for c in rest.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    let words: Vec<&str> = text.split_whitespace().collect();
    words.join(" ").chars().take(500).collect()
}

fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// SHA-256 for the PKCE challenge, from rustls's ring provider (no extra
/// dependency).
fn sha256(data: &[u8]) -> Vec<u8> {
    match rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256 {
        rustls::SupportedCipherSuite::Tls13(suite) => {
            suite.common.hash_provider.hash(data).as_ref().to_vec()
        }
        _ => unreachable!("TLS13_AES_128_GCM_SHA256 is a TLS 1.3 suite"),
    }
}

fn decode_segment(token: &str, index: usize) -> Value {
    let segment = token
        .split('.')
        .nth(index)
        .unwrap_or_else(|| panic!("not a JWT (segment {index} missing): {token}"));
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .unwrap_or_else(|e| panic!("JWT segment {index} is not base64url ({e}): {token}"));
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("JWT segment {index} is not JSON ({e}): {token}"))
}

/// The JOSE header of a JWT, not verified.
pub fn jwt_header(token: &str) -> Value {
    decode_segment(token, 0)
}

/// The claims of a JWT, not verified.
pub fn jwt_claims(token: &str) -> Value {
    decode_segment(token, 1)
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}
