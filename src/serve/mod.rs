//! `stepup serve`: the in-cluster server.
//!
//! One axum router on one listener (plain HTTP, or TLS via rustls with
//! certificate hot reload):
//! - `GET /auth?level=L&rule=R`: the runtime check ingress-nginx's
//!   `auth-url` calls for every protected request ([`auth`]).
//! - `POST /validate`, `POST /mutate`: the admission webhook for
//!   `networking.k8s.io/v1` Ingress ([`admission`]).
//! - `GET /healthz` (process up), `GET /readyz` (signing keys loaded),
//!   `GET /metrics` (Prometheus, [`metrics`]).
//!
//! Operational limits: request head at most [`MAX_HEAD_BYTES`] (64 KiB,
//! request line and every header counted; larger is a 431) and read within 10 s,
//! TLS handshakes within 10 s, keep-alive connections. SIGTERM or SIGINT
//! stops accepting, lets in-flight requests finish (up to `--grace`), then
//! exits 0. The server starts while the IdP is unreachable: `/readyz`
//! answers 503 and `/auth` fails closed until keys load (retried every few
//! seconds in the background, then refreshed every 15 minutes).
//!
//! Logs are JSON lines on stderr (`--log-format text` for people): one line
//! per deny with the request id (`X-Request-ID` from ingress-nginx, or a
//! generated one), method, host and normalised path, rule, level, outcome,
//! status and the reason; allows are logged at debug level.
//!
//! - `<signinPath>/signin`, `/callback`, `/signout`: the browser sign-in
//!   ([`signin`], on each application host via the sign-in Ingress).
//!
//! Crates: axum (routing), hyper/hyper-util (connections, graceful
//! shutdown), tokio-rustls (TLS), jsonwebtoken (JOSE), reqwest (discovery,
//! JWKS and the token endpoint), chacha20poly1305 (session cookies), ring
//! (SHA-256 for PKCE), url (authorization URLs, form encoding),
//! prometheus-client (metrics), tracing (logs), ipnet (trusted proxy
//! CIDRs), kube-core and k8s-openapi (AdmissionReview types), json-patch
//! (the mutation patch). The browser tests drive Debian's Chromium through
//! chromedriver with fantoccini (a WebDriver client).

pub mod admission;
pub mod auth;
pub mod cache;
pub mod keys;
pub mod metrics;
pub mod redirect;
pub mod session;
pub mod signin;
pub mod target;
pub mod tls;
pub mod watch;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use ipnet::IpNet;
use tower::ServiceExt;

use crate::decision::Check;
use crate::policy::Policy;

use keys::{Verifier, VerifierConfig};
use metrics::Metrics;
use session::SessionKeys;

/// Options of `stepup serve` (flags are documented in the CLI).
#[derive(Debug, Clone)]
pub struct Options {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// TLS certificate and key files (PEM); plain HTTP when absent.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Peers whose `X-Forwarded-*` headers are trusted (Traefik).
    pub trusted_proxies: Vec<String>,
    /// Session key file.
    pub session_keys: Option<PathBuf>,
    /// Browser session lifetime.
    pub session_ttl: Duration,
    /// How long a level the IdP did not deliver is answered with 403.
    pub step_up_cooldown: Duration,
    /// Scopes of the sign-in request.
    pub signin_scopes: String,
    /// Minimum interval between JWKS fetches for unknown `kid`s.
    pub jwks_min_refresh: Duration,
    /// Periodic JWKS refresh.
    pub jwks_refresh: Duration,
    /// Verified-token cache entries.
    pub token_cache: usize,
    /// How long in-flight requests may finish after SIGTERM.
    pub grace: Duration,
    /// JSON logs (default) or text.
    pub json_logs: bool,
    /// Watch the cluster's Ingresses into the admission store.
    pub watch_ingresses: bool,
    /// Load the admission store from these manifests or dumps.
    pub ingresses_from: Vec<PathBuf>,
    /// The namespace label the webhook configurations exempt (reported in
    /// `/metrics` only: the API server never sends those reviews).
    pub exempt_namespace_label: Option<crate::label::Label>,
}

/// Shared state of all requests.
pub struct AppState {
    /// The policy.
    pub policy: Arc<Policy>,
    /// Bearer-token verifier.
    pub verifier: Verifier,
    /// Session cookie keys, when configured.
    pub sessions: Option<SessionKeys>,
    /// Browser sign-in settings, or why it is not available.
    pub signin: Result<signin::Config, String>,
    /// The policy's `signinPath` (default `/.stepup`).
    pub signin_prefix: String,
    /// Trusted proxy networks.
    pub trusted: Vec<IpNet>,
    /// Metrics.
    pub metrics: Metrics,
    /// The cluster's other Ingresses, for admission (empty until a watch
    /// fills it).
    pub ingresses: Arc<admission::store::IngressStore>,
    /// Whether the store holds a complete view (a watch's first list).
    pub store_status: Arc<watch::Status>,
    next_id: AtomicU64,
}

/// The IdP settings `serve` cannot run without (also checked by
/// `stepup install`, so it does not print a Deployment that cannot start).
pub fn check_idp(policy: &Policy) -> Result<&crate::policy::Idp, String> {
    let idp = policy
        .idp
        .as_ref()
        .ok_or("the policy has no spec.idp: serve needs the issuer and audiences")?;
    if idp.issuer.is_empty() {
        return Err("spec.idp.issuer is empty".into());
    }
    if idp.audiences.is_empty() {
        return Err("spec.idp.audiences is empty: bearer tokens could not be checked".into());
    }
    Ok(idp)
}

/// The peer address of the connection, put on each request.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl AppState {
    /// Build the state from a policy and options (no network yet).
    pub fn new(policy: Policy, opts: &Options) -> Result<AppState, String> {
        let idp = check_idp(&policy)?;
        let ca_pem = match &idp.ca_file {
            Some(f) => Some(std::fs::read(f).map_err(|e| format!("idp.caFile {f}: {e}"))?),
            None => None,
        };
        let sessions = match &opts.session_keys {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| format!("--session-keys {}: {e}", p.display()))?;
                Some(SessionKeys::parse(&p.display().to_string(), &text)?)
            }
            None => None,
        };
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        let signin = signin::config(
            &policy,
            sessions.as_ref(),
            &opts.signin_scopes,
            secs(opts.session_ttl).max(60),
            secs(opts.step_up_cooldown),
        )?;
        if let Err(why) = &signin {
            tracing::warn!(reason = %why, "browser sign-in is not available");
        }
        let signin_prefix = policy
            .auth_service
            .as_ref()
            .map_or_else(|| "/.stepup".to_string(), |a| a.signin_path.clone());
        let trusted = target::parse_trusted(&opts.trusted_proxies)?;
        let ingresses = Arc::new(admission::store::IngressStore::new());
        if !opts.ingresses_from.is_empty() {
            let entries = watch::known_from(&opts.ingresses_from)
                .map_err(|e| format!("--ingresses-from: {e}"))?;
            let n = entries.len();
            ingresses.replace_known(entries);
            tracing::info!(ingresses = n, "admission store loaded from files");
        }
        let mut metrics = Metrics::new(&policy);
        if let Some(l) = &opts.exempt_namespace_label {
            metrics.namespace_exemption(&l.to_string());
        }
        let verifier = Verifier::new(
            VerifierConfig {
                issuer: idp.issuer.clone(),
                audiences: idp.audiences.clone(),
                min_refresh: opts.jwks_min_refresh,
                cache_size: opts.token_cache,
                ca_pem,
                fetch_timeout: Duration::from_secs(5),
            },
            metrics.refreshes.clone(),
        )?;
        Ok(AppState {
            policy: Arc::new(policy),
            verifier,
            sessions,
            signin,
            signin_prefix,
            trusted,
            metrics,
            ingresses,
            store_status: Arc::new(watch::Status::new(!opts.watch_ingresses)),
            next_id: AtomicU64::new(1),
        })
    }
}

/// The largest request head served: request line, headers and their line
/// ends, as [`head_len`] counts them. hyper's read buffer
/// (`max_buf_size`) stops heads far over it, but it checks only while the
/// head is incomplete, so a head that arrives in one read can be larger by
/// up to a read's worth; this is the exact cap.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The size of `req`'s head as HTTP/1.1 sends it (`METHOD SP target SP
/// HTTP/1.1 CRLF`, `name: value CRLF` per header, `CRLF`), not counting
/// optional whitespace the parser dropped.
pub fn head_len<B>(req: &axum::http::Request<B>) -> usize {
    let line =
        req.method().as_str().len() + req.uri().to_string().len() + " HTTP/1.1\r\n".len() + 1;
    req.headers().iter().fold(line + 2, |n, (k, v)| {
        n.saturating_add(k.as_str().len() + 4 + v.len())
    })
}

/// Refuse a head over [`MAX_HEAD_BYTES`] with 431 (RFC 6585 §5) before any
/// handler sees it: for `/auth` that is fail closed, as nginx's
/// `auth_request` turns any status but 2xx, 401 and 403 into an error.
async fn cap_head(req: Request, next: axum::middleware::Next) -> Response {
    let n = head_len(&req);
    if n > MAX_HEAD_BYTES {
        let path: String = req.uri().path().chars().take(128).collect();
        tracing::info!(status = 431, method = %req.method(), path = %path, head_bytes = n,
            reason = format!("request head of {n} bytes is larger than {MAX_HEAD_BYTES}"),
            "request head too large");
        return (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            [(header::CONNECTION, "close")],
            "request head too large\n",
        )
            .into_response();
    }
    next.run(req).await
}

/// The router (also used directly by tests).
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/auth", get(auth_handler))
        .route("/validate", post(admission::validate_handler))
        .route("/mutate", post(admission::mutate_handler))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_handler))
        .fallback(fallback)
        .layer(axum::middleware::from_fn(cap_head))
        .with_state(state)
}

/// The sign-in endpoints under the policy's `signinPath` (matched here, not
/// as axum routes: the path comes from the policy), else 404.
async fn fallback(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    match signin::handle(
        &st,
        &parts.method,
        parts.uri.path(),
        parts.uri.query(),
        &parts.headers,
        now_secs(),
    )
    .await
    {
        Some(r) => r,
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

async fn readyz(State(st): State<Arc<AppState>>) -> Response {
    if !st.store_status.synced() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "Ingress watch has not completed its first list yet\n",
        )
            .into_response()
    } else if st.verifier.ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "signing keys not loaded yet (IdP unreachable?)\n",
        )
            .into_response()
    }
}

async fn metrics_handler(State(st): State<Arc<AppState>>) -> Response {
    let body = st
        .metrics
        .render(st.verifier.key_count(), st.verifier.cached_tokens());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn auth_handler(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let started = Instant::now();
    let peer = req
        .extensions()
        .get::<Peer>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |p| p.0.ip());
    let (parts, _) = req.into_parts();
    let uri: &Uri = &parts.uri;
    let headers: &HeaderMap = &parts.headers;
    let a = auth::decide(&st, peer, uri.query(), headers, now_secs()).await;
    let resp = auth::respond(&a);
    st.metrics.decision(a.check.kind(), a.rule, a.level);
    st.metrics.duration.observe(started.elapsed().as_secs_f64());
    let rule = a.rule.map_or("none", |i| st.policy.rules[i].name.as_str());
    let allowed = matches!(a.check, Check::Allow(_));
    if !allowed || tracing::enabled!(tracing::Level::DEBUG) {
        let id = match headers.get("x-request-id").and_then(|v| v.to_str().ok()) {
            Some(v) => v.chars().take(64).collect::<String>(),
            None => format!("stepup-{}", st.next_id.fetch_add(1, Ordering::Relaxed)),
        };
        let level = st.metrics.level_name(a.level);
        if allowed {
            tracing::debug!(request_id = %id, outcome = "allow", status = 200, method = %a.method,
                target = %a.target, rule, level, sub = a.sub.as_deref().unwrap_or(""), "auth");
        } else {
            tracing::info!(request_id = %id, outcome = a.check.kind().as_str(),
                status = a.check.status(), method = %a.method, target = %a.target, rule, level,
                sub = a.sub.as_deref().unwrap_or(""), reason = a.reason.as_deref().unwrap_or(""),
                peer = %peer, "auth denied");
        }
    }
    resp
}

fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests) is not an error worth failing for.
    let _ = if json {
        b.json().flatten_event(true).try_init()
    } else {
        b.try_init()
    };
}

/// Run the server until SIGTERM/SIGINT. Prints `listening on ADDR` on
/// stdout once bound (tests and scripts read the port from it).
pub fn run(policy: Policy, opts: Options) -> Result<(), String> {
    init_logs(opts.json_logs);
    let state = Arc::new(AppState::new(policy, &opts)?);
    let tls = match &opts.tls {
        Some((c, k)) => Some(tls::server_config(c, k)?),
        None => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    rt.block_on(serve(state, opts, tls))
}

async fn keys_task(state: Arc<AppState>, every: Duration) {
    let mut wait = Duration::from_millis(500);
    loop {
        let ok = state.verifier.refresh(true).await.is_ok();
        if ok {
            tokio::time::sleep(every).await;
            wait = Duration::from_millis(500);
        } else {
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(30));
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = tokio::signal::ctrl_c() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn serve(
    state: Arc<AppState>,
    opts: Options,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|e| format!("listen {}: {e}", opts.listen))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("listen {}: {e}", opts.listen))?;
    println!(
        "listening on {}://{local}",
        if tls.is_some() { "https" } else { "http" }
    );
    tracing::info!(addr = %local, tls = tls.is_some(), "listening");
    tokio::spawn(keys_task(state.clone(), opts.jwks_refresh));
    if opts.watch_ingresses {
        tokio::spawn(watch::run(
            state.ingresses.clone(),
            state.store_status.clone(),
        ));
    }
    let app = router(state);
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        let acceptor = acceptor.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
                req.extensions_mut().insert(Peer(peer));
                app.clone().oneshot(req.map(axum::body::Body::new))
            });
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .max_buf_size(64 * 1024)
                .keep_alive(true);
            let result =
                match acceptor {
                    Some(acc) => {
                        let stream =
                            match tokio::time::timeout(Duration::from_secs(10), acc.accept(tcp))
                                .await
                            {
                                Ok(Ok(s)) => s,
                                Ok(Err(e)) => {
                                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                                    return;
                                }
                                Err(_) => {
                                    tracing::debug!(%peer, "TLS handshake timed out");
                                    return;
                                }
                            };
                        watcher
                            .watch(http.serve_connection(TokioIo::new(stream), svc))
                            .await
                    }
                    None => {
                        watcher
                            .watch(http.serve_connection(TokioIo::new(tcp), svc))
                            .await
                    }
                };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: draining in-flight requests");
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("drained"),
        _ = tokio::time::sleep(opts.grace) => tracing::warn!("grace period over; closing remaining connections"),
    }
    Ok(())
}
