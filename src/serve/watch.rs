//! Filling the admission webhook's Ingress store ([`IngressStore`]).
//!
//! - `--watch-ingresses`: a kube-runtime watcher on every namespace's
//!   `networking.k8s.io/v1` Ingresses (list + watch, the only permissions
//!   `stepup install` grants), with the client from the in-cluster service
//!   account or `KUBECONFIG`. The initial list (and every re-list after the
//!   watch expired) replaces the store atomically once complete; later
//!   events add, replace or remove one entry. Until the first complete
//!   list, `/readyz` answers 503: a webhook that judged cross-Ingress
//!   shadowing against a half-filled store would let a shadowing Ingress
//!   in. Errors (API server gone, 410 Gone) are logged and retried with
//!   kube-runtime's default backoff; the store keeps what it had.
//! - `--ingresses-from FILE|DIR`: load the store once from manifests or a
//!   `kubectl get ingress -A -o yaml|json` dump (no cluster access: CI
//!   pipelines, air-gapped reviews, benchmarks).
//!
//! The event handling ([`Sync::apply`]) is pure and unit-tested; there is
//! no API server to watch in this project's tests.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt;
use k8s_openapi::api::networking::v1::Ingress as K8sIngress;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::Value;

use super::admission::store::{IngressStore, Known};

/// Whether the store holds a complete view (always, for a static load).
#[derive(Debug)]
pub struct Status {
    synced: AtomicBool,
}

impl Status {
    /// A status; `synced` for a store that needs no watch.
    pub fn new(synced: bool) -> Status {
        Status {
            synced: AtomicBool::new(synced),
        }
    }

    /// Whether the first complete list has been stored.
    pub fn synced(&self) -> bool {
        self.synced.load(Ordering::Relaxed)
    }
}

/// The watch's view of the store: buffers a re-list until it is complete
/// (as store entries, read on arrival, so the buffer holds models and
/// compact text, not JSON trees).
#[derive(Debug, Default)]
pub struct Sync {
    buffer: Option<Vec<Known>>,
}

/// An Ingress from the API server as the JSON object the loader reads.
pub fn to_object(ing: &K8sIngress) -> Result<Value, String> {
    let mut v = serde_json::to_value(ing).map_err(|e| format!("cannot serialise: {e}"))?;
    if let Some(m) = v.as_object_mut() {
        m.entry("apiVersion")
            .or_insert_with(|| Value::from("networking.k8s.io/v1"));
        m.entry("kind").or_insert_with(|| Value::from("Ingress"));
    }
    Ok(v)
}

impl Sync {
    /// Apply one watcher event to `store`; returns whether a complete list
    /// was just stored.
    pub fn apply(&mut self, store: &IngressStore, event: Event<Value>) -> bool {
        match event {
            Event::Init => {
                self.buffer = Some(Vec::new());
                false
            }
            Event::InitApply(v) => {
                match IngressStore::read(v) {
                    Ok(k) => self.buffer.get_or_insert_with(Vec::new).push(k),
                    Err(e) => tracing::warn!(error = %e, "watched Ingress not stored"),
                }
                false
            }
            Event::InitDone => {
                let all = self.buffer.take().unwrap_or_default();
                let n = all.len();
                store.replace_known(all);
                tracing::info!(ingresses = n, "Ingress list stored");
                true
            }
            Event::Apply(v) => {
                if let Err(e) = store.upsert(v) {
                    tracing::warn!(error = %e, "watched Ingress not stored");
                }
                false
            }
            Event::Delete(v) => {
                let meta = |k: &str| {
                    v.pointer(&format!("/metadata/{k}"))
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                };
                store.remove(&meta("namespace"), &meta("name"));
                false
            }
        }
    }
}

/// Watch the cluster's Ingresses into `store` until the process ends.
pub async fn run(store: Arc<IngressStore>, status: Arc<Status>) {
    let client = match kube::Client::try_default().await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "--watch-ingresses: no Kubernetes client (in-cluster config or KUBECONFIG); /readyz stays 503");
            return;
        }
    };
    let api: kube::Api<K8sIngress> = kube::Api::all(client);
    let mut events = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut sync = Sync::default();
    while let Some(ev) = events.next().await {
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                tracing::warn!(error = %e, "Ingress watch failed; retrying (the store keeps what it has)");
                continue;
            }
        };
        let converted = match ev {
            Event::Init => Ok(Event::Init),
            Event::InitDone => Ok(Event::InitDone),
            Event::InitApply(i) => to_object(&i).map(Event::InitApply),
            Event::Apply(i) => to_object(&i).map(Event::Apply),
            Event::Delete(i) => to_object(&i).map(Event::Delete),
        };
        match converted {
            Ok(ev) => {
                if sync.apply(&store, ev) {
                    status.synced.store(true, Ordering::Relaxed);
                }
            }
            Err(e) => tracing::warn!(error = %e, "watched Ingress not stored"),
        }
    }
}

/// The store entries of manifests or dumps, each document read into
/// entries as soon as it is parsed (in parallel for large files), so the
/// JSON trees of a whole dump are never held at once. The first object the
/// loader refuses is the error.
pub fn known_from(paths: &[PathBuf]) -> Result<Vec<Known>, String> {
    let mut out = Vec::new();
    let files = crate::ingress::read_inputs(paths).map_err(|e| e.to_string())?;
    for (name, text) in files {
        let per_doc = crate::source::parse_each(&text, |d| {
            let mut objs = Vec::new();
            collect(d.value, &mut objs);
            objs.into_iter()
                .map(|o| IngressStore::read(o).map_err(|e| e.to_string()))
                .collect::<Vec<_>>()
        })
        .map_err(|e| format!("{name}:{}: {}", e.line, e.message))?;
        for k in per_doc.into_iter().flatten() {
            out.push(k.map_err(|e| format!("{name}: {e}"))?);
        }
    }
    Ok(out)
}

fn collect(v: Value, out: &mut Vec<Value>) {
    match v.get("kind").and_then(Value::as_str) {
        Some("List") | Some("IngressList") => {
            if let Some(Value::Array(items)) = v.get("items") {
                for i in items {
                    collect(i.clone(), out);
                }
            }
        }
        Some("Ingress") => out.push(v),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ing(ns: &str, name: &str, host: &str) -> Value {
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
               "metadata": {"namespace": ns, "name": name},
               "spec": {"rules": [{"host": host, "http": {"paths": [
                   {"path": "/", "pathType": "Prefix",
                    "backend": {"service": {"name": "s", "port": {"number": 80}}}}]}}]}})
    }

    #[test]
    fn a_relist_replaces_the_store_only_when_complete() {
        let store = IngressStore::new();
        let mut s = Sync::default();
        assert!(!s.apply(&store, Event::Apply(ing("a", "old", "old.example"))));
        assert_eq!(store.len(), 1);
        assert!(!s.apply(&store, Event::Init));
        assert!(!s.apply(&store, Event::InitApply(ing("a", "x", "x.example"))));
        assert!(!s.apply(&store, Event::InitApply(ing("b", "y", "y.example"))));
        // Not yet complete: the old view stays.
        assert_eq!(store.len(), 1);
        assert!(s.apply(&store, Event::InitDone));
        assert_eq!(store.len(), 2);
        assert!(!store.remove("a", "old"), "gone with the re-list");
        // Later events change one entry each.
        s.apply(&store, Event::Apply(ing("c", "z", "z.example")));
        assert_eq!(store.len(), 3);
        s.apply(&store, Event::Delete(ing("a", "x", "x.example")));
        assert_eq!(store.len(), 2);
        // An object the loader refuses is skipped, the rest kept.
        s.apply(
            &store,
            Event::Apply(json!({"kind": "Ingress", "metadata": {"name": 5}})),
        );
        assert_eq!(store.len(), 2);
        // A re-list with nothing in it empties the store.
        s.apply(&store, Event::Init);
        assert!(s.apply(&store, Event::InitDone));
        assert!(store.is_empty());
    }

    #[test]
    fn typed_ingress_becomes_a_loadable_object() {
        let typed: K8sIngress = serde_json::from_value(ing("ns", "n", "h.example")).unwrap();
        let v = to_object(&typed).unwrap();
        assert_eq!(v["kind"], "Ingress");
        assert_eq!(v["apiVersion"], "networking.k8s.io/v1");
        let store = IngressStore::new();
        store.upsert(v).unwrap();
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn lists_are_flattened_and_other_kinds_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("dump.json");
        let list = json!({"apiVersion": "v1", "kind": "List", "items": [
            ing("a", "x", "x.example"), {"kind": "Service", "metadata": {"name": "s"}},
            ing("b", "y", "y.example")]});
        std::fs::write(&p, list.to_string()).unwrap();
        let known = known_from(&[p]).unwrap();
        assert_eq!(known.len(), 2);
        assert!(known_from(&[dir.path().join("missing.yaml")]).is_err());
    }
}
