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
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, RwLock};

use crate::claims::Claims;

/// Cached, already verified claims.
pub type Verified = Arc<Claims>;

/// Hashes only the last 32 bytes of a token and its length (FNV-1a). A
/// JWT ends with its signature, which is unique per token, so this spreads
/// as well as hashing everything at a fraction of the cost. Only verified
/// tokens are ever inserted, so nobody can fill a bucket with chosen
/// collisions; a lookup of a colliding forgery costs one comparison.
#[derive(Default)]
pub struct TailHasher(u64);

impl Hasher for TailHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        let tail = &bytes[bytes.len().saturating_sub(32)..];
        for &b in tail.iter().chain((bytes.len() as u64).to_le_bytes().iter()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

struct Entry {
    claims: Verified,
    exp: i64,
}

/// The cache.
pub struct TokenCache {
    max: usize,
    map: RwLock<HashMap<Box<str>, Entry, BuildHasherDefault<TailHasher>>>,
}

impl TokenCache {
    /// A cache of at most `max` tokens (`0` disables caching).
    pub fn new(max: usize) -> TokenCache {
        TokenCache {
            max,
            map: RwLock::new(HashMap::default()),
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
    fn tail_hash_separates_tokens() {
        use std::hash::BuildHasher;
        let b = BuildHasherDefault::<TailHasher>::default();
        let h = |s: &str| b.hash_one(s);
        assert_ne!(h("a.b.sig1"), h("a.b.sig2"));
        // Same tail, different length.
        assert_ne!(h("x.sig"), h("xx.sig"));
        // Same tail and length collide by design; the map still tells them
        // apart by comparing keys.
        let cache = TokenCache::new(10);
        let (t1, t2) = (
            "A".repeat(10) + &"s".repeat(32),
            "B".repeat(10) + &"s".repeat(32),
        );
        assert_eq!(h(&t1), h(&t2));
        cache.put(&t1, c(), 100, 0);
        assert!(cache.get(&t1, 0).is_some());
        assert!(cache.get(&t2, 0).is_none());
    }

    #[test]
    fn disabled() {
        let cache = TokenCache::new(0);
        cache.put("t", c(), 100, 0);
        assert!(cache.is_empty());
    }
}
