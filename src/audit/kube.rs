//! The cluster edge of `audit`: a kube client from the kubeconfig (or the
//! in-cluster service account), and paginated lists of Ingresses and
//! IngressClasses.
//!
//! Lists go `limit`/`continue` page by page. A `continue` token can expire
//! while we page (410 Gone, `Expired`): the list then starts again from the
//! first page, once, and the run says so. Every request is bounded by the
//! request timeout (connect, each read, and the whole request).
//!
//! Each listed Ingress goes through the manifest loader
//! ([`crate::ingress::load_object`]), named `ingress/<namespace>/<name>` in
//! findings: the same reading as `lint` and `audit --from-file`.

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::params::ListParams;
use serde_json::Value;

use crate::error::InputError;
use crate::ingress::Ingress;

/// Which namespaces to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every namespace (`-A`).
    All,
    /// One namespace (`-n NS`).
    Namespace(String),
    /// The context's namespace (kubectl's default without `-n`/`-A`).
    ContextDefault,
}

/// Where and how to list.
#[derive(Debug, Clone)]
pub struct Target {
    /// `--kubeconfig`; else `KUBECONFIG` or `~/.kube/config`, else in-cluster.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`; else the kubeconfig's current context.
    pub context: Option<String>,
    /// Namespaces.
    pub scope: Scope,
    /// Bound on connecting, on each read and on each whole request.
    pub timeout: Duration,
    /// Page size (`limit`).
    pub chunk: u32,
    /// List IngressClasses too (to learn which classes ingress-nginx serves).
    pub classes: bool,
    /// The controller's ConfigMap to read (`namespace`, `name`), if any.
    pub configmap: Option<(String, String)>,
}

/// What the cluster gave.
#[derive(Debug)]
pub struct Listed {
    /// Every Ingress, in list order.
    pub ingresses: Vec<Ingress>,
    /// Names of the IngressClasses of ingress-nginx (when listed).
    pub nginx_classes: Option<Vec<String>>,
    /// The context used (`in-cluster` for the service account).
    pub context: String,
    /// The API server.
    pub server: String,
    /// The namespace listed, `None` for all.
    pub namespace: Option<String>,
    /// Things the user should know (a restarted list).
    pub notes: Vec<String>,
    /// The controller's ConfigMap (JSON), when it was asked for and read;
    /// why not is in `notes`.
    pub configmap: Option<(String, String)>,
}

/// Why listing failed.
#[derive(Debug)]
pub enum Error {
    /// Configuration or an object stepup cannot read (exit 2).
    Input(InputError),
    /// The cluster is unreachable, refused us, or answered nonsense (exit 3).
    Cluster {
        /// Context name.
        context: String,
        /// What happened.
        reason: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Input(e) => f.write_str(&e.primary),
            Error::Cluster { context, reason } => {
                write!(f, "cluster (context {context:?}): {reason}")
            }
        }
    }
}

fn input(msg: impl fmt::Display) -> Error {
    Error::Input(InputError {
        primary: msg.to_string(),
        extra: Vec::new(),
    })
}

/// List the cluster's Ingresses (and IngressClasses). `progress` is called
/// after each page with the Ingresses so far and, when the server says, the
/// total.
pub fn list(t: &Target, progress: &mut dyn FnMut(usize, Option<u64>)) -> Result<Listed, Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| input(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(list_async(t, progress))
}

async fn list_async(
    t: &Target,
    progress: &mut dyn FnMut(usize, Option<u64>),
) -> Result<Listed, Error> {
    let (mut config, context) = config(t).await?;
    config.connect_timeout = Some(t.timeout);
    config.read_timeout = Some(t.timeout);
    config.write_timeout = Some(t.timeout);
    let server = config.cluster_url.to_string();
    let namespace = match &t.scope {
        Scope::All => None,
        Scope::Namespace(n) => Some(n.clone()),
        Scope::ContextDefault => Some(config.default_namespace.clone()),
    };
    let client = kube::Client::try_from(config).map_err(|e| Error::Cluster {
        context: context.clone(),
        reason: format!("cannot build a client for {server}: {}", chain(&e)),
    })?;
    let lister = Lister {
        client: &client,
        context: &context,
        server: &server,
        timeout: t.timeout,
    };
    let path = match &namespace {
        None => "/apis/networking.k8s.io/v1/ingresses".to_string(),
        Some(ns) => format!("/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses"),
    };
    let mut notes = Vec::new();
    let ingresses = lister
        .ingresses(&path, t.chunk, progress, &mut notes)
        .await?;
    let nginx_classes = if t.classes {
        let text = lister
            .get(
                "/apis/networking.k8s.io/v1/ingressclasses",
                None,
                "ingressclasses",
            )
            .await?;
        let v: Value = serde_json::from_str(&text).map_err(|e| Error::Cluster {
            context: context.clone(),
            reason: format!("the IngressClass list from {server} is not JSON: {e}"),
        })?;
        Some(super::nginx_classes(&v))
    } else {
        None
    };
    let configmap = match &t.configmap {
        Some((ns, name)) => {
            let path = format!("/api/v1/namespaces/{ns}/configmaps/{name}");
            match lister.request(&path, None).await {
                Ok(text) => Some((format!("configmap {ns}/{name}"), text)),
                Err(f) => {
                    notes.push(format!(
                        "the controller's ConfigMap {ns}/{name} could not be read ({}): the policy's spec.controller, else ingress-nginx's defaults, are assumed; --controller-configmap NS/NAME names another, and reading it needs only `get` on that one ConfigMap (docs/audit.md)",
                        f.reason
                    ));
                    None
                }
            }
        }
        None => None,
    };
    Ok(Listed {
        ingresses,
        nginx_classes,
        context,
        server,
        namespace,
        notes,
        configmap,
    })
}

/// The client configuration and the context's name.
async fn config(t: &Target) -> Result<(kube::Config, String), Error> {
    let kc = match &t.kubeconfig {
        Some(p) => Some(
            Kubeconfig::read_from(p)
                .map_err(|e| input(format!("--kubeconfig {}: {}", p.display(), chain(&e))))?,
        ),
        None => match Kubeconfig::read() {
            Ok(k) => Some(k),
            Err(e) => {
                let in_cluster = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
                if in_cluster && t.context.is_none() {
                    None
                } else {
                    return Err(input(format!(
                        "no kubeconfig ({}); set KUBECONFIG, pass --kubeconfig, or run in a pod with a service account",
                        chain(&e)
                    )));
                }
            }
        },
    };
    let Some(kc) = kc else {
        let c = kube::Config::incluster().map_err(|e| {
            input(format!(
                "in-cluster configuration: {}; pass --kubeconfig",
                chain(&e)
            ))
        })?;
        return Ok((c, "in-cluster".to_string()));
    };
    let context = match t.context.clone().or_else(|| kc.current_context.clone()) {
        Some(c) => c,
        None => {
            return Err(input(
                "the kubeconfig names no current-context; pass --context",
            ));
        }
    };
    if !kc.contexts.iter().any(|c| c.name == context) {
        let known: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
        return Err(input(format!(
            "context {context:?} is not in the kubeconfig (known: {})",
            known.join(", ")
        )));
    }
    let opts = KubeConfigOptions {
        context: Some(context.clone()),
        cluster: None,
        user: None,
    };
    let c = kube::Config::from_custom_kubeconfig(kc, &opts)
        .await
        .map_err(|e| input(format!("context {context:?}: {}", chain(&e))))?;
    Ok((c, context))
}

struct Lister<'a> {
    client: &'a kube::Client,
    context: &'a str,
    server: &'a str,
    timeout: Duration,
}

/// A failed request: the API's status code when it answered.
struct Failed {
    code: Option<u16>,
    reason: String,
}

impl Lister<'_> {
    fn cluster(&self, reason: String) -> Error {
        Error::Cluster {
            context: self.context.to_string(),
            reason,
        }
    }

    /// GET `path` (with list parameters), bounded by the timeout.
    async fn request(&self, path: &str, lp: Option<&ListParams>) -> Result<String, Failed> {
        let req = match lp {
            Some(lp) => kube::core::Request::new(path).list(lp),
            None => kube::core::Request::new(path).list(&ListParams::default()),
        }
        .map_err(|e| Failed {
            code: None,
            reason: format!("cannot build the request: {e}"),
        })?;
        match tokio::time::timeout(self.timeout, self.client.request_text(req)).await {
            Err(_) => Err(Failed {
                code: None,
                reason: format!(
                    "no answer within {} (the request timeout)",
                    humantime::format_duration(self.timeout)
                ),
            }),
            Ok(Ok(text)) => Ok(text),
            Ok(Err(kube::Error::Api(r))) => {
                let what = match r.code {
                    401 => "the context's credentials were rejected".to_string(),
                    403 => "forbidden (RBAC: the user needs `list` on this resource)".to_string(),
                    _ => r.reason.clone(),
                };
                Err(Failed {
                    code: Some(r.code),
                    reason: format!("{} {what}: {}", r.code, r.message.trim()),
                })
            }
            Ok(Err(e)) => Err(Failed {
                code: None,
                reason: format!("unreachable: {}", chain(&e)),
            }),
        }
    }

    async fn get(&self, path: &str, lp: Option<&ListParams>, what: &str) -> Result<String, Error> {
        self.request(path, lp).await.map_err(|f| {
            self.cluster(format!(
                "cannot list {what} at {}: {}",
                self.server.trim_end_matches('/'),
                f.reason
            ))
        })
    }

    /// Every page of `path`; on 410 Gone for a continue token, once more
    /// from the start.
    async fn ingresses(
        &self,
        path: &str,
        chunk: u32,
        progress: &mut dyn FnMut(usize, Option<u64>),
        notes: &mut Vec<String>,
    ) -> Result<Vec<Ingress>, Error> {
        let mut restarted = false;
        'list: loop {
            let mut out: Vec<Ingress> = Vec::new();
            let mut seen: HashSet<String> = HashSet::new();
            let mut token: Option<String> = None;
            loop {
                let lp = ListParams {
                    limit: Some(chunk),
                    continue_token: token.clone(),
                    ..ListParams::default()
                };
                let text = match self.request(path, Some(&lp)).await {
                    Ok(t) => t,
                    Err(f) if f.code == Some(410) && token.is_some() && !restarted => {
                        restarted = true;
                        notes.push(format!(
                            "the list's continue token expired (410 Gone) after {} Ingress(es); listed again from the start",
                            out.len()
                        ));
                        progress(0, None);
                        continue 'list;
                    }
                    Err(f) => {
                        return Err(self.cluster(format!(
                            "cannot list ingresses at {}: {}",
                            self.server.trim_end_matches('/'),
                            f.reason
                        )));
                    }
                };
                let page = read_page(&text, &mut out, &mut seen).map_err(|e| match e {
                    PageError::Object(e) => Error::Input(e),
                    PageError::Shape(why) => self.cluster(format!(
                        "the Ingress list from {} is unusable: {why}",
                        self.server.trim_end_matches('/')
                    )),
                })?;
                progress(out.len(), page.remaining.map(|r| r + out.len() as u64));
                match page.token {
                    Some(t) if !t.is_empty() => {
                        if token.as_deref() == Some(t.as_str()) {
                            return Err(self.cluster(format!(
                                "the API server at {} returned the same continue token twice",
                                self.server.trim_end_matches('/')
                            )));
                        }
                        token = Some(t);
                    }
                    _ => return Ok(out),
                }
            }
        }
    }
}

/// What a page says about the rest of the list.
struct Page {
    token: Option<String>,
    remaining: Option<u64>,
}

enum PageError {
    /// The page is not an IngressList.
    Shape(String),
    /// An Ingress stepup cannot read.
    Object(InputError),
}

/// Read one IngressList page into `out` (skipping an Ingress already seen).
fn read_page(
    text: &str,
    out: &mut Vec<Ingress>,
    seen: &mut HashSet<String>,
) -> Result<Page, PageError> {
    let mut v: Value =
        serde_json::from_str(text).map_err(|e| PageError::Shape(format!("not JSON: {e}")))?;
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
    if kind != "IngressList" {
        return Err(PageError::Shape(format!(
            "expected kind IngressList, got {kind:?}"
        )));
    }
    let token = v
        .pointer("/metadata/continue")
        .and_then(Value::as_str)
        .map(str::to_string);
    let remaining = v
        .pointer("/metadata/remainingItemCount")
        .and_then(Value::as_u64);
    let Some(items) = v.get_mut("items").and_then(Value::as_array_mut) else {
        // `items: null` is how the API writes an empty list.
        return Ok(Page { token, remaining });
    };
    for item in items.iter_mut() {
        let Some(obj) = item.as_object_mut() else {
            return Err(PageError::Shape("an item is not an object".into()));
        };
        let meta = |k: &str| {
            obj.get("metadata")
                .and_then(|m| m.get(k))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let (ns, name) = (meta("namespace"), meta("name"));
        if name.is_empty() {
            return Err(PageError::Shape("an item has no metadata.name".into()));
        }
        // List items omit their kind; the loader wants one.
        obj.insert("apiVersion".into(), Value::from("networking.k8s.io/v1"));
        obj.insert("kind".into(), Value::from("Ingress"));
        let file = format!("ingress/{ns}/{name}");
        let ing = crate::ingress::load_object(&file, item).map_err(PageError::Object)?;
        if seen.insert(ing.key()) {
            out.push(ing);
        }
    }
    Ok(Page { token, remaining })
}

/// An error with its sources, `a: b: c`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_of_the_captured_list_read_and_chain() {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let p1 = include_str!("../../testdata/cluster/ingress-list-page1.json");
        let page = read_page(p1, &mut out, &mut seen).ok().unwrap_or(Page {
            token: None,
            remaining: None,
        });
        assert_eq!(out.len(), 2);
        assert_eq!(page.remaining, Some(3));
        assert!(page.token.is_some_and(|t| !t.is_empty()));
        assert_eq!(out[0].origin.file.as_ref(), "ingress/team-a/portal");
        // The same page again adds nothing.
        assert!(read_page(p1, &mut out, &mut seen).is_ok());
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn a_page_of_another_kind_is_refused() {
        let mut out = Vec::new();
        let r = read_page(
            r#"{"kind":"Status","status":"Failure"}"#,
            &mut out,
            &mut HashSet::new(),
        );
        assert!(matches!(r, Err(PageError::Shape(m)) if m.contains("Status")));
        let r = read_page("<html>", &mut out, &mut HashSet::new());
        assert!(matches!(r, Err(PageError::Shape(m)) if m.contains("not JSON")));
    }

    #[test]
    fn empty_list_with_null_items() {
        let mut out = Vec::new();
        let r = read_page(
            r#"{"kind":"IngressList","metadata":{},"items":null}"#,
            &mut out,
            &mut HashSet::new(),
        );
        assert!(r.is_ok_and(|p| p.token.is_none()));
        assert!(out.is_empty());
    }
}
