//! Session cookie decoding (`stepup::serve::session`): `SessionKeys::open`
//! / `open_as` with the committed TEST-ONLY keys, `seal_as` round trips,
//! `find_cookie` / `request_cookie` on arbitrary `Cookie` headers, and the
//! key file parser.
//!
//! Input: a mode byte, then the mode's data.
//! - 0: a cookie value, opened under each name the server uses. Oracle: a
//!   value that opens is one of the committed sealed values (same key id,
//!   same cookie name, same sealed bytes): a mutated value never opens.
//! - 1: claims built from the bytes (`arbitrary`) and a mutation. Oracle:
//!   `open_as(name, seal_as(name, c)) == c`; the value opens under no
//!   other name, not without its key, and not once one byte of its sealed
//!   part is changed or it is truncated.
//! - 2: a `Cookie` header. Oracle: `find_cookie` returns a part of the
//!   header, `request_cookie` agrees with it, and a well-formed
//!   `name=value` placed in the header is found.
//! - 3: a session key file. Oracle: never panics; keys that parse seal and
//!   open.
#![no_main]

use std::sync::LazyLock;

use arbitrary::{Arbitrary, Unstructured};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderValue, header::COOKIE};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use stepup::serve::session::{CookieError, SessionKeys, find_cookie, request_cookie};
use stepup_fuzz::{COOKIE_NAMES, SEALED_COOKIES, SESSION_KEYS};

static KEYS: LazyLock<SessionKeys> =
    LazyLock::new(
        || match SessionKeys::parse("session-keys.txt", SESSION_KEYS) {
            Ok(k) => k,
            Err(e) => panic!("material/session-keys.txt: {e}"),
        },
    );

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => open_any(rest),
        1 => round_trip(rest),
        2 => headers(rest),
        _ => key_file(rest),
    }
});

/// `v1.<kid>.<data>` split, with `data` decoded.
fn parts(value: &str) -> Option<(&str, Vec<u8>)> {
    let mut p = value.splitn(3, '.');
    let (_, kid, data) = (p.next()?, p.next()?, p.next()?);
    Some((kid, URL_SAFE_NO_PAD.decode(data).ok()?))
}

fn open_any(rest: &[u8]) {
    let Ok(value) = std::str::from_utf8(rest) else {
        return;
    };
    for name in COOKIE_NAMES {
        let Ok(claims) = KEYS.open_as(name, value) else {
            continue;
        };
        let ours = SEALED_COOKIES.lines().any(|l| {
            l.split_once(' ').is_some_and(|(n, v)| {
                n == name && value.starts_with("v1.") && parts(v) == parts(value)
            })
        });
        assert!(ours, "{value:?} opened under {name} as {claims:?}");
    }
}

/// A JSON value from fuzz bytes: strings, integers, booleans, null,
/// arrays and objects, nested at most `depth` deep.
fn value(u: &mut Unstructured, depth: u32) -> arbitrary::Result<Value> {
    Ok(match u.int_in_range(0..=if depth == 0 { 3 } else { 5 })? {
        0 => Value::String(String::arbitrary(u)?),
        1 => Value::from(i64::arbitrary(u)?),
        2 => Value::Bool(bool::arbitrary(u)?),
        3 => Value::Null,
        4 => Value::Array(
            (0..u.int_in_range(0..=4)?)
                .map(|_| value(u, depth - 1))
                .collect::<arbitrary::Result<_>>()?,
        ),
        _ => Value::Object(object(u, depth - 1)?),
    })
}

fn object(u: &mut Unstructured, depth: u32) -> arbitrary::Result<Map<String, Value>> {
    let mut m = Map::new();
    for _ in 0..u.int_in_range(0..=8)? {
        m.insert(String::arbitrary(u)?, value(u, depth)?);
    }
    Ok(m)
}

fn round_trip(rest: &[u8]) {
    let mut u = Unstructured::new(rest);
    let (Ok(name), Ok(claims), Ok(at), Ok(bit)) = (
        u.choose(&COOKIE_NAMES),
        object(&mut u, 2),
        u.arbitrary::<usize>(),
        u.int_in_range(0..=7u8),
    ) else {
        return;
    };
    let sealed = match KEYS.seal_as(name, &claims) {
        Ok(s) => s,
        Err(e) => {
            assert!(e.contains("more than a cookie holds"), "seal failed: {e}");
            return;
        }
    };
    assert_eq!(KEYS.open_as(name, &sealed), Ok(claims.clone()));
    for other in COOKIE_NAMES.iter().filter(|n| *n != name) {
        assert_eq!(KEYS.open_as(other, &sealed), Err(CookieError::Forged));
    }
    let Some((kid, data)) = parts(&sealed) else {
        panic!("sealed value {sealed:?} is not v1.<kid>.<base64url>");
    };
    let prefix = format!("v1.{kid}.");
    let mut changed = data.clone();
    let i = at % changed.len();
    changed[i] ^= 1 << bit;
    let forged = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(&changed));
    assert!(
        KEYS.open_as(name, &forged).is_err(),
        "opened with byte {i} changed"
    );
    let cut = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(&data[..i]));
    assert!(KEYS.open_as(name, &cut).is_err(), "opened cut to {i} bytes");
    let without = SessionKeys::parse("k", "other AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    if let Ok(k) = without {
        assert!(k.open_as(name, &sealed).is_err(), "opened with another key");
    }
}

fn headers(rest: &[u8]) {
    let Ok(h) = std::str::from_utf8(rest) else {
        return;
    };
    let range = h.as_ptr() as usize..=h.as_ptr() as usize + h.len();
    for name in COOKIE_NAMES.iter().copied().chain(["a", ""]) {
        let found = find_cookie(h, name);
        if let Some(v) = found {
            let at = v.as_ptr() as usize;
            assert!(
                range.contains(&at) && range.contains(&(at + v.len())),
                "find_cookie({h:?}, {name:?}) returned {v:?}, not a part of the header"
            );
        }
        if let Ok(hv) = HeaderValue::from_str(h) {
            let mut map = HeaderMap::new();
            map.append(COOKIE, hv);
            map.append(COOKIE, HeaderValue::from_static("zz=1"));
            assert_eq!(request_cookie(&map, name), found, "{h:?} {name:?}");
        }
    }
    // A well-formed cookie (RFC 6265 cookie-octets) placed after the
    // header's own pairs is found, unless the header already names it.
    let Some((head, v)) = h.split_once('\n') else {
        return;
    };
    let octet = |c: char| c.is_ascii_graphic() && !matches!(c, '"' | ',' | ';' | '\\');
    if v.chars().all(octet) && !head.contains(COOKIE_NAMES[0]) {
        let header = format!("{head}; {}={v}", COOKIE_NAMES[0]);
        assert_eq!(find_cookie(&header, COOKIE_NAMES[0]), Some(v), "{header:?}");
    }
}

fn key_file(rest: &[u8]) {
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if let Ok(keys) = SessionKeys::parse("keys", text) {
        let mut c = Map::new();
        c.insert("sub".into(), Value::from("alice"));
        match keys.seal(&c) {
            Ok(v) => assert_eq!(keys.open(&v), Ok(c)),
            Err(e) => panic!("keys parsed from {text:?} cannot seal: {e}"),
        }
    }
}
