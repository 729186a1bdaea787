//! The JSON Patch (RFC 6902) `/mutate` answers with: the annotations
//! `stepup generate` writes, and nothing else.
//!
//! Paths are RFC 6901 pointers built token by token, so an annotation key's
//! `/` becomes `~1` and `~` becomes `~0`
//! (`/metadata/annotations/nginx.ingress.kubernetes.io~1auth-url`). A
//! pointer into a map that does not exist fails the whole patch, so an
//! object without `metadata.annotations` gets one `add` of the whole map.
//! An unchanged value produces no operation: mutating again is a no-op.

use std::collections::BTreeMap;

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation, RemoveOperation, ReplaceOperation};
use serde_json::{Map, Value};

/// The pointer to annotation `key`.
pub fn annotation_pointer(key: &str) -> PointerBuf {
    PointerBuf::from_tokens(["metadata", "annotations", key])
}

/// The annotations `generate` writes and may drop; the only keys the patch
/// ever removes (a guard: nothing else of the user's is taken away).
pub const OWNED: [&str; 5] = [
    "nginx.ingress.kubernetes.io/auth-url",
    "nginx.ingress.kubernetes.io/auth-signin",
    "nginx.ingress.kubernetes.io/auth-response-headers",
    crate::generate::LEVEL_ANNOTATION,
    crate::generate::RULE_ANNOTATION,
];

/// The patch turning `current` (`None`: the object has no
/// `metadata.annotations`) into `wanted`. Keys of [`OWNED`] in `current`
/// but not in `wanted` are removed (generate drops stale stepup
/// annotations); other keys are never removed; values that are not strings
/// in `wanted` are skipped (annotations are strings).
pub fn annotations_patch(
    current: Option<&BTreeMap<String, String>>,
    wanted: &Map<String, Value>,
) -> Patch {
    let wanted: BTreeMap<&str, &str> = wanted
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
        .collect();
    let Some(current) = current else {
        if wanted.is_empty() {
            return Patch(Vec::new());
        }
        let map: Map<String, Value> = wanted
            .iter()
            .map(|(k, v)| ((*k).to_string(), Value::from(*v)))
            .collect();
        return Patch(vec![PatchOperation::Add(AddOperation {
            path: PointerBuf::from_tokens(["metadata", "annotations"]),
            value: Value::Object(map),
        })]);
    };
    let mut ops = Vec::new();
    for (k, v) in &wanted {
        match current.get(*k) {
            Some(old) if old == v => {}
            Some(_) => ops.push(PatchOperation::Replace(ReplaceOperation {
                path: annotation_pointer(k),
                value: Value::from(*v),
            })),
            None => ops.push(PatchOperation::Add(AddOperation {
                path: annotation_pointer(k),
                value: Value::from(*v),
            })),
        }
    }
    for k in current.keys() {
        if !wanted.contains_key(k.as_str()) && OWNED.contains(&k.as_str()) {
            ops.push(PatchOperation::Remove(RemoveOperation {
                path: annotation_pointer(k),
            }));
        }
    }
    Patch(ops)
}
