//! A fake Kubernetes API server for the audit tests and benchmark: axum
//! over rustls on 127.0.0.1, a fresh CA per server (rcgen), a bearer token.
//!
//! It serves `GET /apis/networking.k8s.io/v1/ingresses` (and the namespaced
//! path) with `limit`/`continue` paging, and the IngressClass list:
//! - [`Data::Captured`]: the real captured pages in `testdata/cluster/`
//!   (page 1, then page 1's `metadata.continue` → page 2 → page 3);
//! - [`Data::Generated`]: N generated Ingresses, paged by `limit`.
//!
//! [`Fault`] adds the failures a real API server produces: 401, 403, a 410
//! Gone for the first continue token, or never answering at all.
//! [`ApiServer::kubeconfig`] writes a kubeconfig that points at it.
//!
//! Use with `#[path = "support/apiserver.rs"] mod apiserver;`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;

/// The bearer token the server accepts.
pub const TOKEN: &str = "audit-test-token";

/// What the server lists.
#[derive(Clone)]
pub enum Data {
    /// testdata/cluster's captured pages.
    Captured,
    /// This many generated Ingresses.
    Generated(usize),
}

/// How the server misbehaves.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Fault {
    None,
    /// 401 to everything.
    Unauthorized,
    /// 403 to the Ingress list.
    Forbidden,
    /// 410 Gone (Expired) for the first request with a continue token.
    GoneOnce,
    /// Accept connections and never answer.
    Hang,
}

struct Shared {
    data: Data,
    fault: Fault,
    generated: Vec<String>,
    captured: HashMap<String, String>,
    captured_all: serde_json::Value,
    gone_sent: Mutex<bool>,
    log: Mutex<Vec<String>>,
    /// The ingress-nginx controller's ConfigMap `data`, served at
    /// ingress-nginx/ingress-nginx-controller; `None`: 404.
    configmap: Option<serde_json::Value>,
}

pub struct ApiServer {
    pub port: u16,
    pub ca_pem: String,
    shared: Arc<Shared>,
    _thread: std::thread::JoinHandle<()>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(p: &str) -> String {
    std::fs::read_to_string(root().join("testdata/cluster").join(p)).unwrap()
}

/// One generated Ingress (list-item form: no kind). Every third one has no
/// auth and a sensitive path; the rest carry stepup's auth-url.
pub fn generated_item(i: usize) -> serde_json::Value {
    let ns = format!("ns-{:02}", i % 50);
    let mut annotations = serde_json::Map::new();
    if i % 3 != 0 {
        annotations.insert(
            "nginx.ingress.kubernetes.io/auth-url".into(),
            "http://stepup.stepup-system.svc.cluster.local:8080/auth?level=admin&rule=admin-console"
                .into(),
        );
        annotations.insert(
            "nginx.ingress.kubernetes.io/auth-signin".into(),
            "https://$host/.stepup/signin?level=admin".into(),
        );
    }
    serde_json::json!({
        "metadata": {
            "name": format!("app-{i}"), "namespace": ns,
            "uid": format!("00000000-0000-0000-0000-{i:012}"),
            "resourceVersion": "1000", "creationTimestamp": "2026-01-01T00:00:00Z",
            "annotations": annotations,
        },
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": [format!("app-{i}.example.com")], "secretName": format!("app-{i}-tls")}],
            "rules": [{"host": format!("app-{i}.example.com"), "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": format!("app-{i}"), "port": {"number": 80}}}},
                {"path": "/admin", "pathType": "Prefix", "backend": {"service": {"name": format!("app-{i}-admin"), "port": {"number": 8080}}}}
            ]}}]
        }
    })
}

fn status(code: u16, reason: &str, message: &str) -> Response {
    let body = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code,
    });
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn json(text: String) -> Response {
    ([("content-type", "application/json")], text).into_response()
}

fn authorized(s: &Shared, h: &HeaderMap) -> bool {
    s.fault != Fault::Unauthorized
        && h.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"))
}

async fn list_all(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
    h: HeaderMap,
) -> Response {
    list(&s, &q, &h, None)
}

async fn list_ns(
    State(s): State<Arc<Shared>>,
    axum::extract::Path(ns): axum::extract::Path<String>,
    Query(q): Query<HashMap<String, String>>,
    h: HeaderMap,
) -> Response {
    list(&s, &q, &h, Some(ns))
}

fn list(s: &Shared, q: &HashMap<String, String>, h: &HeaderMap, ns: Option<String>) -> Response {
    let token = q.get("continue").cloned().unwrap_or_default();
    s.log.lock().unwrap().push(format!(
        "ingresses ns={} limit={} continue={}",
        ns.as_deref().unwrap_or("*"),
        q.get("limit").map_or("-", String::as_str),
        token
    ));
    if !authorized(s, h) {
        return status(401, "Unauthorized", "Unauthorized");
    }
    if s.fault == Fault::Forbidden {
        return status(
            403,
            "Forbidden",
            "ingresses.networking.k8s.io is forbidden: User \"system:serviceaccount:ci:auditor\" cannot list resource \"ingresses\" in API group \"networking.k8s.io\" at the cluster scope",
        );
    }
    if s.fault == Fault::GoneOnce && !token.is_empty() {
        let mut sent = s.gone_sent.lock().unwrap();
        if !*sent {
            *sent = true;
            return status(
                410,
                "Expired",
                "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
            );
        }
    }
    if let Some(ns) = ns {
        let items: Vec<serde_json::Value> = match &s.data {
            Data::Captured => s.captured_all["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|i| i["metadata"]["namespace"] == ns.as_str())
                .cloned()
                .collect(),
            Data::Generated(n) => (0..*n)
                .map(generated_item)
                .filter(|i| i["metadata"]["namespace"] == ns.as_str())
                .collect(),
        };
        return json(
            serde_json::json!({"kind": "IngressList", "apiVersion": "networking.k8s.io/v1",
                "metadata": {"resourceVersion": "257"}, "items": items})
            .to_string(),
        );
    }
    match &s.data {
        Data::Captured => match s.captured.get(&token) {
            Some(page) => json(page.clone()),
            None => status(400, "BadRequest", "continue key is not valid"),
        },
        Data::Generated(_) => {
            let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(0);
            let start: usize = if token.is_empty() {
                0
            } else {
                match token.strip_prefix("gen-").and_then(|t| t.parse().ok()) {
                    Some(n) => n,
                    None => return status(400, "BadRequest", "continue key is not valid"),
                }
            };
            let total = s.generated.len();
            let end = if limit == 0 {
                total
            } else {
                (start + limit).min(total)
            };
            let mut meta = String::from("\"resourceVersion\":\"1000\"");
            if end < total {
                meta.push_str(&format!(
                    ",\"continue\":\"gen-{end}\",\"remainingItemCount\":{}",
                    total - end
                ));
            }
            let items = s.generated[start.min(total)..end].join(",");
            json(format!(
                "{{\"kind\":\"IngressList\",\"apiVersion\":\"networking.k8s.io/v1\",\"metadata\":{{{meta}}},\"items\":[{items}]}}"
            ))
        }
    }
}

async fn classes(State(s): State<Arc<Shared>>, h: HeaderMap) -> Response {
    s.log.lock().unwrap().push("ingressclasses".into());
    if !authorized(&s, &h) {
        return status(401, "Unauthorized", "Unauthorized");
    }
    json(
        serde_json::json!({"kind": "IngressClassList", "apiVersion": "networking.k8s.io/v1",
        "metadata": {"resourceVersion": "257"}, "items": [
            {"metadata": {"name": "nginx", "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"}},
             "spec": {"controller": "k8s.io/ingress-nginx"}},
            {"metadata": {"name": "traefik"}, "spec": {"controller": "traefik.io/ingress-controller"}}
        ]})
        .to_string(),
    )
}

/// `GET /api/v1/namespaces/{ns}/configmaps/{name}`: a ConfigMap in the
/// shape the API server returns, or its 404 Status.
async fn get_configmap(
    State(s): State<Arc<Shared>>,
    axum::extract::Path((ns, name)): axum::extract::Path<(String, String)>,
    h: HeaderMap,
) -> Response {
    s.log.lock().unwrap().push(format!("configmap {ns}/{name}"));
    if !authorized(&s, &h) {
        return status(401, "Unauthorized", "Unauthorized");
    }
    match &s.configmap {
        Some(data) if ns == "ingress-nginx" && name == "ingress-nginx-controller" => json(
            serde_json::json!({"kind": "ConfigMap", "apiVersion": "v1",
                "metadata": {"name": name, "namespace": ns, "resourceVersion": "301",
                    "labels": {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}},
                "data": data})
            .to_string(),
        ),
        _ => status(404, "NotFound", &format!("configmaps \"{name}\" not found")),
    }
}

impl ApiServer {
    pub fn start(data: Data, fault: Fault) -> ApiServer {
        Self::start_with(data, fault, None)
    }

    /// Serve `configmap` as the controller's ConfigMap `data` too.
    pub fn start_with(data: Data, fault: Fault, configmap: Option<serde_json::Value>) -> ApiServer {
        let _ = rustls::crypto::ring::default_provider().install_default();
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "fake apiserver CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
        let certs = vec![cert.der().clone()];
        let pkey = rustls_pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        let cfg = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(certs, pkey)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));

        let mut captured = HashMap::new();
        let mut token = String::new();
        for p in [
            "ingress-list-page1.json",
            "ingress-list-page2.json",
            "ingress-list-page3.json",
        ] {
            let text = read(p);
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            captured.insert(token.clone(), text);
            token = v["metadata"]["continue"].as_str().unwrap_or("").to_string();
        }
        let generated = match &data {
            Data::Generated(n) => (0..*n).map(|i| generated_item(i).to_string()).collect(),
            Data::Captured => Vec::new(),
        };
        let shared = Arc::new(Shared {
            data,
            fault,
            generated,
            captured,
            captured_all: serde_json::from_str(&read("ingress-list.json")).unwrap(),
            gone_sent: Mutex::new(false),
            log: Mutex::new(Vec::new()),
            configmap,
        });
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let port = std_listener.local_addr().unwrap().port();
        let app = axum::Router::new()
            .route("/apis/networking.k8s.io/v1/ingresses", get(list_all))
            .route(
                "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses",
                get(list_ns),
            )
            .route("/apis/networking.k8s.io/v1/ingressclasses", get(classes))
            .route(
                "/api/v1/namespaces/{ns}/configmaps/{name}",
                get(get_configmap),
            )
            .with_state(shared.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                let mut held = Vec::new();
                loop {
                    let Ok((tcp, _)) = listener.accept().await else {
                        continue;
                    };
                    if fault == Fault::Hang {
                        // Keep the socket open, never answer.
                        held.push(tcp);
                        continue;
                    }
                    let acceptor = acceptor.clone();
                    let app = app.clone();
                    tokio::spawn(async move {
                        let Ok(tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let svc = hyper::service::service_fn(move |req: hyper::Request<_>| {
                            use tower::ServiceExt;
                            app.clone().oneshot(req.map(axum::body::Body::new))
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                            .await;
                    });
                }
            });
        });
        ApiServer {
            port,
            ca_pem: ca.pem(),
            shared,
            _thread: thread,
        }
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// Requests seen so far (`ingresses ns=* limit=2 continue=…`).
    pub fn log(&self) -> Vec<String> {
        self.shared.log.lock().unwrap().clone()
    }

    /// A kubeconfig with context `context` pointing at this server.
    pub fn kubeconfig(&self, dir: &Path, context: &str) -> PathBuf {
        write_kubeconfig(dir, context, &self.url(), &self.ca_pem)
    }
}

/// A kubeconfig with one context `context` → `server`, the CA and the token.
pub fn write_kubeconfig(dir: &Path, context: &str, server: &str, ca_pem: &str) -> PathBuf {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let text = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: {context}\nclusters:\n- name: fake\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: auditor\n  user:\n    token: {TOKEN}\ncontexts:\n- name: {context}\n  context:\n    cluster: fake\n    user: auditor\n    namespace: team-b\n"
    );
    let p = dir.join(format!("kubeconfig-{context}"));
    std::fs::write(&p, text).unwrap();
    p
}
