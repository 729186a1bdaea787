//! The Ingresses the server knows besides the one under review.
//!
//! Admission sees one object at a time, but coverage is a property of the
//! whole host: another Ingress may shadow a protected path (SU006), hold the
//! host's TLS entry (SU013) or its sign-in route (SU016). `/validate` and
//! `/mutate` therefore judge the object together with the other Ingresses
//! of its hosts, taken from this store.
//!
//! The store starts empty. A watch of the cluster's Ingresses (a
//! kube-runtime reflector, not written yet) is meant to fill it through
//! [`IngressStore::replace_all`], [`IngressStore::upsert`] and
//! [`IngressStore::remove`]; tests fill it directly. An empty store is the
//! conservative choice for the object's own findings (nothing else can take
//! a protected path away from it); it only misses problems that involve
//! other Ingresses.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use serde_json::Value;

use crate::error::InputError;
use crate::ingress::{Ingress, load_object, tls_covers};

/// One known Ingress: the model and the object as the API server has it
/// (`/mutate` plans with `generate`, which reads objects).
#[derive(Debug, Clone)]
pub struct Known {
    /// As loaded.
    pub ingress: Ingress,
    /// As received, as compact JSON text without `metadata.managedFields`
    /// (a parsed tree of every Ingress of a large cluster would double the
    /// store's memory; only `/mutate` reads this, for a few Ingresses).
    pub raw: Arc<str>,
}

/// The cluster's Ingresses, by `namespace/name`, with indexes by rule host,
/// by TLS host and of those with a default backend, so that finding the
/// Ingresses related to one object costs the size of its hosts, not of
/// the cluster (a 10,000-Ingress scan took most of a review's time).
/// Readers take a snapshot of what concerns them; writers replace entries
/// whole. Lock hold times are a clone of a few entries: no I/O and no
/// await under the lock.
#[derive(Debug, Default)]
pub struct IngressStore {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<String, Known>,
    /// Rule host (`None`: a rule without a host) → keys.
    by_host: HashMap<Option<String>, HashSet<String>>,
    /// `spec.tls` host (exact or `*.` wildcard) → keys.
    by_tls: HashMap<String, HashSet<String>>,
    /// Keys of Ingresses with a `spec.defaultBackend`.
    with_default: HashSet<String>,
}

impl Inner {
    fn insert(&mut self, k: Known) {
        let key = k.ingress.key();
        self.remove(&key);
        for r in &k.ingress.rules {
            self.by_host
                .entry(r.host.clone())
                .or_default()
                .insert(key.clone());
        }
        for t in &k.ingress.tls_hosts {
            self.by_tls
                .entry(t.clone())
                .or_default()
                .insert(key.clone());
        }
        if k.ingress.default_backend.is_some() {
            self.with_default.insert(key.clone());
        }
        self.map.insert(key, k);
    }

    fn remove(&mut self, key: &str) -> bool {
        let Some(old) = self.map.remove(key) else {
            return false;
        };
        for r in &old.ingress.rules {
            if let Some(set) = self.by_host.get_mut(&r.host) {
                set.remove(key);
                if set.is_empty() {
                    self.by_host.remove(&r.host);
                }
            }
        }
        for t in &old.ingress.tls_hosts {
            if let Some(set) = self.by_tls.get_mut(t) {
                set.remove(key);
                if set.is_empty() {
                    self.by_tls.remove(t);
                }
            }
        }
        self.with_default.remove(key);
        true
    }
}

impl IngressStore {
    /// An empty store.
    pub fn new() -> IngressStore {
        IngressStore::default()
    }

    /// Read an object into a [`Known`] entry (the loader `lint` uses).
    pub fn read(mut raw: Value) -> Result<Known, InputError> {
        let ingress = load_object("(cluster)", &raw)?;
        if let Some(m) = raw.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("managedFields");
        }
        let text = serde_json::to_string(&raw).map_err(|e| {
            InputError::file("(cluster)", format!("cannot serialise the object: {e}"))
        })?;
        Ok(Known {
            ingress,
            raw: Arc::from(text),
        })
    }

    /// Insert or replace one Ingress object.
    pub fn upsert(&self, raw: Value) -> Result<(), InputError> {
        let k = IngressStore::read(raw)?;
        self.write().insert(k);
        Ok(())
    }

    /// Forget `namespace/name`; whether it was known.
    pub fn remove(&self, namespace: &str, name: &str) -> bool {
        self.write().remove(&format!("{namespace}/{name}"))
    }

    /// Replace everything (a re-list). Objects that cannot be read are
    /// skipped and returned with the reason; the rest is stored.
    pub fn replace_all(&self, objects: Vec<Value>) -> Vec<InputError> {
        let mut inner = Inner::default();
        let mut bad = Vec::new();
        for raw in objects {
            match IngressStore::read(raw) {
                Ok(k) => inner.insert(k),
                Err(e) => bad.push(e),
            }
        }
        *self.write() = inner;
        bad
    }

    /// Replace everything with entries already read.
    pub fn replace_known(&self, entries: Vec<Known>) {
        let mut inner = Inner::default();
        for k in entries {
            inner.insert(k);
        }
        *self.write() = inner;
    }

    /// How many Ingresses are known.
    pub fn len(&self) -> usize {
        self.read_lock().map.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The known Ingresses that can change how `ing`'s hosts are routed or
    /// judged, without `ing` itself (by key): those with a rule for one of
    /// its hosts (a host-less rule counts as the catch-all host), those
    /// whose `spec.tls` names one of them, and, when `ing` has a
    /// `spec.defaultBackend`, those that have one too. Ingresses of other
    /// hosts cannot change a location of these hosts: ingress-nginx builds
    /// one server per host.
    pub fn related(&self, ing: &Ingress) -> Vec<Known> {
        let key = ing.key();
        let hosts: Vec<Option<&str>> = ing.rules.iter().map(|r| r.host.as_deref()).collect();
        let inner = self.read_lock();
        let mut keys: HashSet<&String> = HashSet::new();
        for h in &hosts {
            if let Some(set) = inner.by_host.get(&h.map(str::to_string)) {
                keys.extend(set);
            }
            let Some(h) = h else { continue };
            // TLS entries that cover h: h itself, or `*.` + its parent.
            let wildcard = h.split_once('.').map(|(_, rest)| format!("*.{rest}"));
            for t in std::iter::once(h.to_string()).chain(wildcard) {
                if let Some(set) = inner.by_tls.get(&t) {
                    keys.extend(set);
                }
            }
        }
        if ing.default_backend.is_some() {
            keys.extend(&inner.with_default);
        }
        let mut out: Vec<Known> = keys
            .into_iter()
            .filter(|k| **k != key)
            .filter_map(|k| inner.map.get(k))
            .filter(|k| {
                let o = &k.ingress;
                o.rules.iter().any(|r| hosts.contains(&r.host.as_deref()))
                    || o.tls_hosts
                        .iter()
                        .any(|t| hosts.iter().any(|h| h.is_some_and(|h| tls_covers(t, h))))
                    || (ing.default_backend.is_some() && o.default_backend.is_some())
            })
            .cloned()
            .collect();
        // Map order is random; routing ties are broken by key anyway, but a
        // stable order keeps messages stable.
        out.sort_by_key(|k| k.ingress.key());
        out
    }

    fn read_lock(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        // A writer that panicked left whole entries behind (they are
        // replaced whole), so a poisoned lock is still consistent.
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(i: usize) -> Value {
        let host = |j: usize| format!("h{}.z{}.example", j % 7, j % 3);
        let mut rules = vec![
            json!({"host": host(i), "http": {"paths": [{"path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "s", "port": {"number": 80}}}}]}}),
        ];
        if i % 11 == 0 {
            rules.push(
                json!({"http": {"paths": [{"path": "/x", "pathType": "Prefix",
                "backend": {"service": {"name": "s", "port": {"number": 80}}}}]}}),
            );
        }
        let mut v = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"namespace": format!("n{}", i % 4), "name": format!("i{i}")},
            "spec": {"rules": rules}});
        match i % 5 {
            0 => v["spec"]["tls"] = json!([{"hosts": [format!("*.z{}.example", i % 3)]}]),
            1 => v["spec"]["tls"] = json!([{"hosts": [host(i + 1)]}]),
            _ => {}
        }
        if i % 13 == 0 {
            v["spec"]["defaultBackend"] = json!({"service": {"name": "d", "port": {"number": 80}}});
        }
        v
    }

    /// The indexes only narrow the search: `related` gives exactly what a
    /// scan of every entry with the same predicate gives, after inserts,
    /// replacements and removals.
    #[test]
    fn related_matches_a_full_scan() {
        let store = IngressStore::new();
        assert!(store.replace_all((0..200).map(obj).collect()).is_empty());
        for i in (0..200).step_by(9) {
            // Replace with another shape (host and TLS change), or remove.
            if i % 2 == 0 {
                let mut v = obj(i + 3);
                v["metadata"]["name"] = json!(format!("i{i}"));
                v["metadata"]["namespace"] = json!(format!("n{}", i % 4));
                store.upsert(v).unwrap();
            } else {
                assert!(store.remove(&format!("n{}", i % 4), &format!("i{i}")));
            }
        }
        let all: Vec<Known> = store.read_lock().map.values().cloned().collect();
        for q in 0..40 {
            let ing = load_object("q", &obj(q * 5 + 1000)).unwrap();
            let hosts: Vec<Option<&str>> = ing.rules.iter().map(|r| r.host.as_deref()).collect();
            let mut want: Vec<String> = all
                .iter()
                .filter(|k| k.ingress.key() != ing.key())
                .filter(|k| {
                    let o = &k.ingress;
                    o.rules.iter().any(|r| hosts.contains(&r.host.as_deref()))
                        || o.tls_hosts
                            .iter()
                            .any(|t| hosts.iter().any(|h| h.is_some_and(|h| tls_covers(t, h))))
                        || (ing.default_backend.is_some() && o.default_backend.is_some())
                })
                .map(|k| k.ingress.key())
                .collect();
            want.sort();
            let got: Vec<String> = store
                .related(&ing)
                .iter()
                .map(|k| k.ingress.key())
                .collect();
            assert_eq!(got, want, "query {q}");
            assert!(!want.is_empty());
        }
    }
}
