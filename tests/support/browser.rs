//! A real headless Chromium driven over WebDriver (chromedriver +
//! fantoccini), for the browser sign-in tests.
//!
//! [`Browser::start`] runs `chromedriver` on a free loopback port and opens a
//! session with a fresh profile; every `*.test` host resolves to 127.0.0.1
//! (`--host-resolver-rules`), so `https://shop.test:PORT/` reaches the test
//! nginx on loopback; certificate errors are ignored (the test CA is not in
//! Chromium's store). Every step is bounded by a timeout, and a step that
//! fails panics with the page's URL and text. [`Browser::screenshot`] keeps
//! PNGs of the steps under `target/test-output/<suite>/<test>/`.
//!
//! The methods are async (fantoccini runs on tokio): use them from
//! `#[tokio::test(flavor = "multi_thread")]`. Dropping the browser ends
//! Chromium and chromedriver; [`Browser::close`] ends the session first.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them).
//!
//! Use from a test file with `#[path = "support/browser.rs"] mod browser;`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::cookies::Cookie;
use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

pub use fantoccini;

/// The Chromium binary (Debian's launcher script).
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's chromedriver.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Longest wait for one navigation, element or condition.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest wait for chromedriver and Chromium to start.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Poll interval of the `wait_for_*` helpers.
const POLL: Duration = Duration::from_millis(50);

/// A running `chromedriver --port=P`; dropping it kills it.
pub struct Driver {
    child: Child,
    pub port: u16,
    log: Arc<Mutex<String>>,
}

impl Driver {
    /// Starts chromedriver on a free loopback port and waits until it says it
    /// listens. Blocking.
    pub fn start() -> Driver {
        assert!(
            Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists(),
            "{CHROMEDRIVER} or {CHROMIUM} missing: apt-get install chromium chromium-driver (.ci/run does)"
        );
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            let mut child = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
            let log = Arc::new(Mutex::new(String::new()));
            let (tx, rx) = mpsc::channel::<bool>();
            for pipe in [
                Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
                Box::new(child.stderr.take().unwrap()),
            ] {
                let log = Arc::clone(&log);
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for line in BufReader::new(pipe).lines() {
                        let Ok(line) = line else { break };
                        if line.contains("started successfully") {
                            let _ = tx.send(true);
                        }
                        let mut l = log.lock().unwrap_or_else(|p| p.into_inner());
                        l.push_str(&line);
                        l.push('\n');
                    }
                    let _ = tx.send(false);
                });
            }
            drop(tx);
            let mut driver = Driver { child, port, log };
            let deadline = Instant::now() + START_TIMEOUT;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match rx.recv_timeout(left) {
                    Ok(true) => return driver,
                    // One pipe closed: keep waiting for the other (or the deadline).
                    Ok(false) if driver.child.try_wait().ok().flatten().is_none() => continue,
                    _ => break,
                }
            }
            let _ = driver.child.kill();
            let _ = driver.child.wait();
            last = driver.log();
            // The port may have been taken meanwhile: try another.
        }
        panic!("chromedriver did not start; its output:\n{last}");
    }

    /// What chromedriver printed so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `target/test-output` (or `$CARGO_TARGET_DIR/test-output`).
pub fn output_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|t| manifest.join(t))
        .unwrap_or_else(|| manifest.join("target"));
    target.join("test-output")
}

/// The Chromium command-line flags of every session (plus
/// `--user-data-dir`).
pub fn chromium_args() -> Vec<&'static str> {
    vec![
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--no-default-browser-check",
        // Without these Chromium's own background connections fail here,
        // and its page connections are refused.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--ignore-certificate-errors",
        "--window-size=1000,800",
        // Every *.test host is nginx on loopback (the port stays the URL's).
        "--host-resolver-rules=MAP *.test 127.0.0.1",
    ]
}

/// One headless Chromium session.
pub struct Browser {
    client: Client,
    /// Declared after `client`: dropped after it.
    driver: Driver,
    profile: tempfile::TempDir,
    out: PathBuf,
    step: AtomicUsize,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver does not outlive us, and neither may the Chromium it
        // started (that would keep running after a SIGKILL of chromedriver):
        // its processes are the ones using our profile directory.
        let _ = self.driver.child.kill();
        let _ = self.driver.child.wait();
        kill_processes_using(self.profile.path());
    }
}

/// SIGKILL every process whose command line names `dir` (Chromium's
/// processes of one profile), by pid.
fn kill_processes_using(dir: &Path) {
    let needle = dir.display().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    let mine = std::process::id().to_string();
    let pids: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.bytes().all(|b| b.is_ascii_digit()) || name == mine {
                return None;
            }
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            String::from_utf8_lossy(&cmdline)
                .contains(&needle)
                .then_some(name)
        })
        .collect();
    if !pids.is_empty() {
        let _ = Command::new("kill")
            .arg("-KILL")
            .args(&pids)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// W3C "Add Cookie" with the cookie object as given.
#[derive(Debug)]
struct AddCookie(Value);

impl fantoccini::wd::WebDriverCompatibleCommand for AddCookie {
    fn endpoint(
        &self,
        base_url: &reqwest::Url,
        session_id: Option<&str>,
    ) -> Result<reqwest::Url, <reqwest::Url as std::str::FromStr>::Err> {
        base_url.join(&format!(
            "session/{}/cookie",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &reqwest::Url) -> (hyper::Method, Option<String>) {
        (hyper::Method::POST, Some(self.0.to_string()))
    }
}

/// Runs `fut`, panicking with `what` when it takes longer than `limit`.
async fn bounded<T>(what: &str, limit: Duration, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, fut).await {
        Ok(v) => v,
        Err(_) => panic!("browser: {what}: no answer within {}s", limit.as_secs()),
    }
}

impl Browser {
    /// Starts chromedriver and a fresh Chromium. Screenshots go to
    /// `target/test-output/<suite>/<test>/` (emptied first).
    pub async fn start(suite: &str, test: &str) -> Browser {
        let out = output_root().join(suite).join(test);
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", out.display()));
        let driver = tokio::task::spawn_blocking(Driver::start)
            .await
            .expect("chromedriver start");
        let profile = tempfile::Builder::new()
            .prefix("stepup-chromium-")
            .tempdir()
            .unwrap();
        let mut args: Vec<String> = chromium_args().into_iter().map(String::from).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let caps = json!({
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "pageLoadStrategy": "normal",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": args,
            },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let url = format!("http://127.0.0.1:{}", driver.port);
        let mut builder =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(caps);
        let connect = builder.connect(&url);
        let client = match tokio::time::timeout(START_TIMEOUT, connect).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                let log = driver.log();
                drop(driver);
                kill_processes_using(profile.path());
                panic!(
                    "cannot open a Chromium session through chromedriver: {e}\nchromedriver:\n{log}"
                )
            }
            Err(_) => {
                let log = driver.log();
                drop(driver);
                kill_processes_using(profile.path());
                panic!(
                    "Chromium did not start within {}s\nchromedriver:\n{log}",
                    START_TIMEOUT.as_secs()
                )
            }
        };
        let browser = Browser {
            client,
            driver,
            profile,
            out,
            step: AtomicUsize::new(0),
        };
        bounded(
            "set timeouts",
            STEP_TIMEOUT,
            browser.client.update_timeouts(TimeoutConfiguration::new(
                Some(Duration::from_secs(10)),
                Some(STEP_TIMEOUT),
                Some(Duration::ZERO),
            )),
        )
        .await
        .expect("set WebDriver timeouts");
        browser
    }

    /// The fantoccini client, for what the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Where [`Browser::screenshot`] writes.
    pub fn output_dir(&self) -> &Path {
        &self.out
    }

    /// What chromedriver printed (for failure messages).
    pub fn driver_log(&self) -> String {
        self.driver.log()
    }

    /// Ends the WebDriver session (Chromium quits), then chromedriver.
    pub async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_secs(10), self.client.clone().close()).await;
        drop(self);
    }

    // ------------------------------------------------------------ reading

    /// The current URL (after redirects).
    pub async fn current_url(&self) -> String {
        bounded("current URL", STEP_TIMEOUT, self.client.current_url())
            .await
            .unwrap_or_else(|e| panic!("browser: current URL: {e}"))
            .to_string()
    }

    /// The document's title.
    pub async fn title(&self) -> String {
        bounded("title", STEP_TIMEOUT, self.client.title())
            .await
            .unwrap_or_else(|e| panic!("browser: title: {e}"))
    }

    /// The page's visible text (`document.body.innerText`; for text/plain
    /// and JSON responses, the body as Chromium shows it).
    pub async fn text(&self) -> String {
        let v = self
            .script(
                "text",
                "return document.body ? document.body.innerText : (document.documentElement ? document.documentElement.textContent : '');",
            )
            .await;
        v.as_str().unwrap_or_default().to_string()
    }

    /// The page's HTML as the browser holds it now.
    pub async fn html(&self) -> String {
        bounded("page source", STEP_TIMEOUT, self.client.source())
            .await
            .unwrap_or_else(|e| panic!("browser: page source: {e}"))
    }

    /// The HTTP status of the current document's response (the last one of
    /// a redirect chain), from the Navigation Timing API's
    /// `responseStatus`. `None` when the browser does not say (e.g. its own
    /// error page for a refused connection).
    pub async fn status(&self) -> Option<u16> {
        let v = self
            .script(
                "status",
                "const n = performance.getEntriesByType('navigation')[0]; return n && n.responseStatus ? n.responseStatus : null;",
            )
            .await;
        v.as_u64().and_then(|s| u16::try_from(s).ok())
    }

    /// URL and text of the current page, for failure messages (bounded,
    /// never panics).
    pub async fn describe(&self) -> String {
        let quick = Duration::from_secs(5);
        let url = match tokio::time::timeout(quick, self.client.current_url()).await {
            Ok(Ok(u)) => u.to_string(),
            Ok(Err(e)) => format!("(unknown: {e})"),
            Err(_) => "(unknown: timed out)".into(),
        };
        let text = match tokio::time::timeout(
            quick,
            self.client.execute(
                "return document.body ? document.body.innerText : '';",
                vec![],
            ),
        )
        .await
        {
            Ok(Ok(v)) => v.as_str().unwrap_or_default().to_string(),
            Ok(Err(e)) => format!("(unknown: {e})"),
            Err(_) => "(unknown: timed out)".into(),
        };
        let text: String = text.chars().take(3000).collect();
        format!("page URL: {url}\npage text:\n{text}")
    }

    /// Runs `js` in the page and returns its result.
    pub async fn script(&self, what: &str, js: &str) -> Value {
        match tokio::time::timeout(STEP_TIMEOUT, self.client.execute(js, vec![])).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => panic!("browser: {what}: {e}\n{}", self.describe().await),
            Err(_) => panic!(
                "browser: {what}: no answer within {}s\n{}",
                STEP_TIMEOUT.as_secs(),
                self.describe().await
            ),
        }
    }

    // --------------------------------------------------------- navigating

    /// Navigates to `url` and waits for the page to load (redirects
    /// followed).
    pub async fn goto(&self, url: &str) {
        match tokio::time::timeout(STEP_TIMEOUT + Duration::from_secs(5), self.client.goto(url))
            .await
        {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("browser: goto {url}: {e}\n{}", self.describe().await),
            Err(_) => panic!(
                "browser: goto {url}: no answer within {}s\n{}",
                STEP_TIMEOUT.as_secs(),
                self.describe().await
            ),
        }
    }

    /// Waits until the current URL satisfies `ok` (`what` describes it in
    /// the panic message); returns that URL.
    pub async fn wait_for_url(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + STEP_TIMEOUT;
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(Ok(u)) = tokio::time::timeout(POLL * 20, self.client.current_url()).await {
                last = u.to_string();
                if ok(&last) {
                    return last;
                }
            }
            tokio::time::sleep(POLL).await;
        }
        panic!(
            "browser: the URL never became {what} within {}s (last {last})\n{}",
            STEP_TIMEOUT.as_secs(),
            self.describe().await
        );
    }

    /// Waits until the current URL starts with `prefix`; returns it.
    pub async fn wait_for_url_prefix(&self, prefix: &str) -> String {
        self.wait_for_url(&format!("a URL starting with {prefix}"), |u| {
            u.starts_with(prefix)
        })
        .await
    }

    /// Waits until the page text contains `needle`; returns the text.
    pub async fn wait_for_text(&self, needle: &str) -> String {
        let deadline = Instant::now() + STEP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Ok(v)) = tokio::time::timeout(
                POLL * 20,
                self.client.execute(
                    "return document.body ? document.body.innerText : '';",
                    vec![],
                ),
            )
            .await
            {
                let text = v.as_str().unwrap_or_default();
                if text.contains(needle) {
                    return text.to_string();
                }
            }
            tokio::time::sleep(POLL).await;
        }
        panic!(
            "browser: the page never showed {needle:?} within {}s\n{}",
            STEP_TIMEOUT.as_secs(),
            self.describe().await
        );
    }

    /// Asserts that the current URL starts with `prefix` (now, no wait);
    /// returns the URL.
    pub async fn assert_url_prefix(&self, prefix: &str) -> String {
        let url = self.current_url().await;
        if !url.starts_with(prefix) {
            panic!(
                "browser: expected a URL starting with {prefix}\n{}",
                self.describe().await
            );
        }
        url
    }

    /// Asserts that the page text contains `needle` (now, no wait);
    /// returns the text.
    pub async fn assert_text(&self, needle: &str) -> String {
        let text = self.text().await;
        if !text.contains(needle) {
            panic!(
                "browser: expected the page to show {needle:?}\n{}",
                self.describe().await
            );
        }
        text
    }

    // -------------------------------------------------------------- forms

    /// The element whose `id` or `name` is `field`.
    async fn field(&self, field: &str) -> fantoccini::elements::Element {
        let css = format!("[id=\"{field}\"], [name=\"{field}\"]");
        match tokio::time::timeout(STEP_TIMEOUT, self.client.find(Locator::Css(&css))).await {
            Ok(Ok(e)) => e,
            Ok(Err(e)) => panic!(
                "browser: no field with id or name {field:?} ({e})\n{}",
                self.describe().await
            ),
            Err(_) => panic!(
                "browser: looking for field {field:?}: no answer\n{}",
                self.describe().await
            ),
        }
    }

    /// Types `value` into the field whose `id` or `name` is `field`
    /// (cleared first).
    pub async fn fill(&self, field: &str, value: &str) {
        let el = self.field(field).await;
        let typed = async {
            el.clear().await?;
            el.send_keys(value).await
        };
        match tokio::time::timeout(STEP_TIMEOUT, typed).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!(
                "browser: typing into {field:?}: {e}\n{}",
                self.describe().await
            ),
            Err(_) => panic!("browser: typing into {field:?}: no answer"),
        }
    }

    /// Sets the `value` of the field whose `id` or `name` is `field` by
    /// script (works on hidden fields, e.g. for tampering).
    pub async fn set_value(&self, field: &str, value: &str) {
        self.field(field).await;
        let js = format!(
            "const e = document.querySelector({sel}); e.value = {value}; return true;",
            sel = json!(format!("[id=\"{field}\"], [name=\"{field}\"]")),
            value = json!(value)
        );
        self.script(&format!("set {field}"), &js).await;
    }

    /// Clicks the submit button of the form holding the field `field` and
    /// waits for the next page to load.
    pub async fn submit(&self, field: &str) {
        let xpath = format!(
            "//*[@id='{field}' or @name='{field}']/ancestor::form[1]//*[(self::button and (not(@type) or @type='submit')) or (self::input and @type='submit')]"
        );
        let button = match tokio::time::timeout(
            STEP_TIMEOUT,
            self.client.find(Locator::XPath(&xpath)),
        )
        .await
        {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => panic!(
                "browser: no submit button in the form of {field:?} ({e})\n{}",
                self.describe().await
            ),
            Err(_) => panic!("browser: looking for the submit button of {field:?}: no answer"),
        };
        self.navigating(&format!("submit the form of {field:?}"), async {
            button.click().await
        })
        .await;
    }

    /// Fills the fields (id or name → value) and submits their form (the
    /// form of the first field).
    pub async fn fill_and_submit(&self, fields: &[(&str, &str)]) {
        for (field, value) in fields {
            self.fill(field, value).await;
        }
        let (first, _) = fields.first().expect("at least one field");
        self.submit(first).await;
    }

    /// Clicks the first element matching the CSS selector `css` and waits
    /// for the page it leads to (the click must navigate).
    pub async fn click(&self, css: &str) {
        let el = match tokio::time::timeout(STEP_TIMEOUT, self.client.find(Locator::Css(css))).await
        {
            Ok(Ok(e)) => e,
            Ok(Err(e)) => panic!(
                "browser: nothing matches {css:?} ({e})\n{}",
                self.describe().await
            ),
            Err(_) => panic!("browser: looking for {css:?}: no answer"),
        };
        self.navigating(&format!("click {css:?}"), async { el.click().await })
            .await;
    }

    /// Runs `action` (which makes the page navigate) and waits until a new
    /// document has replaced the current one and finished loading.
    async fn navigating(
        &self,
        what: &str,
        action: impl Future<Output = Result<(), fantoccini::error::CmdError>>,
    ) {
        self.script(what, "window.__stepupHarnessOldPage = true; return true;")
            .await;
        match tokio::time::timeout(STEP_TIMEOUT, action).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("browser: {what}: {e}\n{}", self.describe().await),
            Err(_) => panic!("browser: {what}: no answer\n{}", self.describe().await),
        }
        let deadline = Instant::now() + STEP_TIMEOUT;
        while Instant::now() < deadline {
            // Errors while the old page goes away are expected: retry.
            let state = tokio::time::timeout(
                POLL * 20,
                self.client.execute(
                    "return window.__stepupHarnessOldPage === true ? 'old' : document.readyState;",
                    vec![],
                ),
            )
            .await;
            if let Ok(Ok(v)) = state {
                if v.as_str() == Some("complete") {
                    return;
                }
            }
            tokio::time::sleep(POLL).await;
        }
        panic!(
            "browser: {what}: no new page loaded within {}s\n{}",
            STEP_TIMEOUT.as_secs(),
            self.describe().await
        );
    }

    // ------------------------------------------------------ the test IdP

    /// On the test IdP's sign-in page: types `user` and `password` and
    /// submits; waits for the next page (the one-time-code page, an error,
    /// or the redirect back to the application).
    pub async fn idp_sign_in(&self, user: &str, password: &str) {
        self.fill_and_submit(&[("username", user), ("password", password)])
            .await;
    }

    /// On the test IdP's one-time-code page: types `code` and submits.
    pub async fn idp_otp(&self, code: &str) {
        self.fill_and_submit(&[("otp", code)]).await;
    }

    // ------------------------------------------------------------ cookies

    /// The cookies the browser would send to the current page's URL
    /// (navigate to the origin first). `HttpOnly` cookies included.
    pub async fn cookies(&self) -> Vec<Cookie<'static>> {
        match tokio::time::timeout(STEP_TIMEOUT, self.client.get_all_cookies()).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => panic!("browser: cookies: {e}\n{}", self.describe().await),
            Err(_) => panic!("browser: cookies: no answer"),
        }
    }

    /// The cookie `name` of the current page, if any.
    pub async fn cookie(&self, name: &str) -> Option<Cookie<'static>> {
        self.cookies().await.into_iter().find(|c| c.name() == name)
    }

    /// Adds `cookie` for the current page's host (no `Domain` keeps it
    /// host-only, as `__Host-` cookies must be).
    pub async fn add_cookie(&self, cookie: Cookie<'static>) {
        let shown = cookie.to_string();
        // fantoccini's add_cookie sends `"domain": null` for a cookie without
        // a domain, which chromedriver rejects ("invalid 'domain'"), so a
        // host-only cookie could not be added: send the command ourselves.
        let mut c = json!({
            "name": cookie.name(),
            "value": cookie.value(),
            "path": cookie.path().unwrap_or("/"),
            "secure": cookie.secure().unwrap_or(false),
            "httpOnly": cookie.http_only().unwrap_or(false),
        });
        if let Some(domain) = cookie.domain() {
            c["domain"] = json!(domain);
        }
        if let Some(expiry) = cookie.expires_datetime() {
            c["expiry"] = json!(expiry.unix_timestamp());
        }
        if let Some(same_site) = cookie.same_site() {
            c["sameSite"] = json!(same_site.to_string());
        }
        let cmd = AddCookie(json!({ "cookie": c }));
        match tokio::time::timeout(STEP_TIMEOUT, self.client.issue_cmd(cmd)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!(
                "browser: add cookie {shown}: {e}\n{}",
                self.describe().await
            ),
            Err(_) => panic!("browser: add cookie {shown}: no answer"),
        }
    }

    /// Replaces the value of the current page's cookie `name`, keeping its
    /// attributes (a host-only cookie stays host-only). Panics if there is
    /// no such cookie.
    pub async fn set_cookie_value(&self, name: &str, value: &str) {
        let Some(old) = self.cookie(name).await else {
            let names: Vec<String> = self
                .cookies()
                .await
                .iter()
                .map(|c| c.name().to_string())
                .collect();
            panic!(
                "browser: no cookie {name:?} to rewrite (cookies: {names:?})\n{}",
                self.describe().await
            );
        };
        let mut new = old.clone();
        new.set_value(value.to_string());
        // WebDriver reports a host-only cookie with its host as domain;
        // adding it back with that Domain would make it a domain cookie
        // (and a `__Host-` cookie with a Domain is rejected).
        if old.domain().is_some_and(|d| !d.starts_with('.')) {
            new.unset_domain();
        }
        self.delete_cookie(name).await;
        self.add_cookie(new).await;
    }

    /// Deletes the current page's cookie `name`.
    pub async fn delete_cookie(&self, name: &str) {
        match tokio::time::timeout(STEP_TIMEOUT, self.client.delete_cookie(name)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("browser: delete cookie {name}: {e}"),
            Err(_) => panic!("browser: delete cookie {name}: no answer"),
        }
    }

    /// Deletes every cookie of the current page's host.
    pub async fn delete_all_cookies(&self) {
        match tokio::time::timeout(STEP_TIMEOUT, self.client.delete_all_cookies()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("browser: delete cookies: {e}"),
            Err(_) => panic!("browser: delete cookies: no answer"),
        }
    }

    // -------------------------------------------------------- screenshots

    /// Saves a PNG of the viewport as `NN-<step>.png` in the output
    /// directory (NN counts this browser's screenshots), prints and
    /// returns its path.
    pub async fn screenshot(&self, step: &str) -> PathBuf {
        let n = self.step.fetch_add(1, Ordering::SeqCst) + 1;
        let safe: String = step
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let path = self.out.join(format!("{n:02}-{safe}.png"));
        let png = match tokio::time::timeout(STEP_TIMEOUT, self.client.screenshot()).await {
            Ok(Ok(png)) => png,
            Ok(Err(e)) => panic!("browser: screenshot {step}: {e}\n{}", self.describe().await),
            Err(_) => panic!("browser: screenshot {step}: no answer"),
        };
        std::fs::write(&path, png)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        println!("screenshot {}", path.display());
        path
    }
}
