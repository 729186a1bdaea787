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

use std::collections::HashMap;
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
    /// As received.
    pub raw: Arc<Value>,
}

/// The cluster's Ingresses, by `namespace/name`. Readers take a snapshot
/// of what concerns them; writers replace entries whole. Lock hold times
/// are a clone of a few entries: no I/O and no await under the lock.
#[derive(Debug, Default)]
pub struct IngressStore {
    inner: RwLock<HashMap<String, Known>>,
}

impl IngressStore {
    /// An empty store.
    pub fn new() -> IngressStore {
        IngressStore::default()
    }

    /// Read an object into a [`Known`] entry (the loader `lint` uses).
    pub fn read(raw: Value) -> Result<Known, InputError> {
        let ingress = load_object("(cluster)", &raw)?;
        Ok(Known {
            ingress,
            raw: Arc::new(raw),
        })
    }

    /// Insert or replace one Ingress object.
    pub fn upsert(&self, raw: Value) -> Result<(), InputError> {
        let k = IngressStore::read(raw)?;
        self.write().insert(k.ingress.key(), k);
        Ok(())
    }

    /// Forget `namespace/name`; whether it was known.
    pub fn remove(&self, namespace: &str, name: &str) -> bool {
        self.write()
            .remove(&format!("{namespace}/{name}"))
            .is_some()
    }

    /// Replace everything (a re-list). Objects that cannot be read are
    /// skipped and returned with the reason; the rest is stored.
    pub fn replace_all(&self, objects: Vec<Value>) -> Vec<InputError> {
        let mut map = HashMap::new();
        let mut bad = Vec::new();
        for raw in objects {
            match IngressStore::read(raw) {
                Ok(k) => {
                    map.insert(k.ingress.key(), k);
                }
                Err(e) => bad.push(e),
            }
        }
        *self.write() = map;
        bad
    }

    /// How many Ingresses are known.
    pub fn len(&self) -> usize {
        self.read_lock().len()
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
        let map = self.read_lock();
        let mut out: Vec<Known> = map
            .iter()
            .filter(|(k, _)| **k != key)
            .filter(|(_, k)| {
                let o = &k.ingress;
                o.rules.iter().any(|r| hosts.contains(&r.host.as_deref()))
                    || o.tls_hosts
                        .iter()
                        .any(|t| hosts.iter().any(|h| h.is_some_and(|h| tls_covers(t, h))))
                    || (ing.default_backend.is_some() && o.default_backend.is_some())
            })
            .map(|(_, k)| k.clone())
            .collect();
        // Map order is random; routing ties are broken by key anyway, but a
        // stable order keeps messages stable.
        out.sort_by_key(|k| k.ingress.key());
        out
    }

    fn read_lock(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Known>> {
        // A writer that panicked left a whole map behind (entries are
        // replaced whole), so a poisoned lock is still consistent.
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Known>> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}
