//! Verified-token cache: a token whose signature, `iss` and `aud` checked
//! out is not verified again until its `exp`.
//!
//! Keyed by the whole token text (no hash collisions to reason about),
//! bounded by entry count. When full, expired entries are dropped first; if
//! it is still full, the entries closest to expiry go (half of them), so one
//! burst of distinct tokens cannot grow memory. The decision core still
//! checks `exp`, `nbf` and `auth_time` against the clock on every request,
//! so a cached token is never accepted after it expired.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::claims::Claims;

/// Cached, already verified claims.
pub type Verified = Arc<Claims>;

struct Entry {
    claims: Verified,
    exp: i64,
}

/// The cache.
pub struct TokenCache {
    max: usize,
    map: RwLock<HashMap<Box<str>, Entry>>,
}

impl TokenCache {
    /// A cache of at most `max` tokens (`0` disables caching).
    pub fn new(max: usize) -> TokenCache {
        TokenCache {
            max,
            map: RwLock::new(HashMap::new()),
        }
    }

    /// Claims of a cached token that has not expired at `now`.
    pub fn get(&self, token: &str, now: i64) -> Option<Verified> {
        let map = self.map.read().ok()?;
        let e = map.get(token)?;
        (e.exp >= now).then(|| e.claims.clone())
    }

    /// Remember a verified token until `exp`.
    pub fn put(&self, token: &str, claims: Verified, exp: i64, now: i64) {
        if self.max == 0 || exp < now {
            return;
        }
        let Ok(mut map) = self.map.write() else {
            return;
        };
        if map.len() >= self.max && !map.contains_key(token) {
            map.retain(|_, e| e.exp >= now);
            if map.len() >= self.max {
                let mut exps: Vec<i64> = map.values().map(|e| e.exp).collect();
                let mid = exps.len() / 2;
                let (_, cut, _) = exps.select_nth_unstable(mid);
                let cut = *cut;
                map.retain(|_, e| e.exp > cut);
            }
        }
        map.insert(token.into(), Entry { claims, exp });
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.read().map_or(0, |m| m.len())
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c() -> Verified {
        Arc::new(Claims::new())
    }

    #[test]
    fn hit_until_exp() {
        let cache = TokenCache::new(10);
        cache.put("t", c(), 100, 50);
        assert!(cache.get("t", 100).is_some());
        assert!(cache.get("t", 101).is_none());
        assert!(cache.get("u", 50).is_none());
        // Already expired tokens are not stored.
        cache.put("old", c(), 10, 50);
        assert!(cache.get("old", 5).is_none());
    }

    #[test]
    fn bounded() {
        let cache = TokenCache::new(100);
        for i in 0..1000 {
            cache.put(&format!("t{i}"), c(), 1000 + i, 0);
            assert!(cache.len() <= 100, "{}", cache.len());
        }
        // The latest insert is always present.
        assert!(cache.get("t999", 0).is_some());
        // Expired entries are dropped first when full.
        let cache = TokenCache::new(2);
        cache.put("a", c(), 10, 0);
        cache.put("b", c(), 100, 0);
        cache.put("c", c(), 100, 50);
        assert!(cache.get("b", 50).is_some() && cache.get("c", 50).is_some());
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn disabled() {
        let cache = TokenCache::new(0);
        cache.put("t", c(), 100, 0);
        assert!(cache.is_empty());
    }
}
