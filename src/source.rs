//! YAML and JSON documents with source positions.
//!
//! This is the only module that parses YAML. It turns a file's text into
//! [`Document`]s: a `serde_json::Value` (what the typed model deserialises
//! from) plus a [`Lines`] index from JSON pointer (`/spec/rules/0/http`) to
//! the 1-based line where that node starts. Every later diagnostic —
//! a policy error, a lint finding on one Ingress path — names `file:line`
//! through that index.
//!
//! Why not serde_yaml: it has no span API, so it cannot say on which line
//! `rules[3].level` was written. yaml-rust2's event parser gives a marker per
//! event, and the tree is built here with the limits untrusted input needs:
//! duplicate keys are errors (Kubernetes rejects them too), nesting depth and
//! alias expansion are bounded (no "billion laughs"), and file size is capped
//! by the caller through [`MAX_FILE_BYTES`].
//!
//! Scalars resolve with the YAML 1.2 core schema (`true`, `null`, `12`,
//! `1.5`; quoted scalars are always strings). JSON is valid YAML 1.2, so one
//! path reads both.

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasherDefault;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Files larger than this are refused before parsing (a policy is a few KiB;
/// a `kubectl get ingress -A -o yaml` dump of 10,000 Ingresses is ~30 MiB).
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;
/// Deepest nesting accepted; Kubernetes objects stay well under 32.
pub const MAX_DEPTH: usize = 128;
/// Nodes an alias may copy in one document, in total.
pub const MAX_ALIAS_NODES: usize = 100_000;

/// One YAML document of a file.
#[derive(Debug, Clone)]
pub struct Document {
    /// The document as JSON data.
    pub value: Value,
    /// Line of each node, by JSON pointer.
    pub lines: Lines,
    /// Line where the document's root node starts.
    pub line: u32,
}

/// Map from JSON pointer (RFC 6901) to the 1-based line the node starts on.
///
/// Keyed by a 64-bit hash of the pointer, built token by token while
/// parsing, so no pointer string is formatted or stored per node (loading
/// 10,000 Ingresses creates about a million nodes). A collision could only
/// misplace a line number in a message, never change what is parsed.
#[derive(Debug, Clone, Default)]
pub struct Lines {
    map: HashMap<u64, u32, BuildHasherDefault<KeyHasher>>,
}

const ROOT_KEY: u64 = 0xcbf2_9ce4_8422_2325;

/// The key of a child node: FNV-1a over the parent key and the unescaped
/// reference token.
fn child_key(parent: u64, token: &[u8]) -> u64 {
    let mut h = (parent ^ 0x2f).wrapping_mul(0x0100_0000_01b3);
    for &b in token {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Keys are already hashes: pass them through.
#[derive(Default)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl Lines {
    /// The line of the node at `pointer`, or of its nearest ancestor that has
    /// one (a missing field is reported on the line of its parent).
    pub fn line_of(&self, pointer: &str) -> Option<u32> {
        let mut key = ROOT_KEY;
        let mut best = self.map.get(&key).copied();
        for tok in pointer.split('/').skip(1) {
            key = if tok.contains('~') {
                child_key(key, tok.replace("~1", "/").replace("~0", "~").as_bytes())
            } else {
                child_key(key, tok.as_bytes())
            };
            if let Some(l) = self.map.get(&key) {
                best = Some(*l);
            }
        }
        best
    }
}

/// Escape one reference token of a JSON pointer (`~` → `~0`, `/` → `~1`).
pub fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// A document that could not be read, with where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

/// Parse every document of `text`. Empty documents (a lone `---`, comments
/// only) are dropped.
pub fn parse_documents(text: &str) -> Result<Vec<Document>, SyntaxError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(8);
    let chunks = if text.len() >= PARALLEL_MIN_BYTES && threads > 1 {
        split_streams(text, threads)
    } else {
        Vec::new()
    };
    if chunks.len() < 2 {
        return parse_chunk(text, 0);
    }
    // Large multi-document streams (a cluster dump) are parsed on every
    // core: split at document markers, parse each part with its line
    // offset, concatenate in order. The first error (in input order) wins.
    let results: Vec<Result<Vec<Document>, SyntaxError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|&(start, offset)| {
                let end = chunks
                    .iter()
                    .map(|c| c.0)
                    .find(|&s| s > start)
                    .unwrap_or(text.len());
                let part = &text[start..end];
                scope.spawn(move || parse_chunk(part, offset))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(SyntaxError {
                        line: 0,
                        column: 0,
                        message: "parser thread failed".into(),
                    })
                })
            })
            .collect()
    });
    let mut docs = Vec::new();
    for r in results {
        docs.extend(r?);
    }
    Ok(docs)
}

/// Streams at least this large are parsed in parallel.
pub const PARALLEL_MIN_BYTES: usize = 1 << 20;

/// Split points `(byte offset, lines before it)` of `text` into about `n`
/// parts, each starting at a `---` document marker in column 0. A marker
/// line always starts a new document in YAML (it even ends a block scalar),
/// so parts parse exactly as the whole stream would. Streams with
/// directives (`%YAML`, `%TAG`) are not split.
fn split_streams(text: &str, n: usize) -> Vec<(usize, usize)> {
    if text.starts_with('%') || text.contains("\n%") {
        return Vec::new();
    }
    let target = text.len() / n;
    let mut out = vec![(0usize, 0usize)];
    let (mut pos, mut line) = (0usize, 0usize);
    let bytes = text.as_bytes();
    while pos < bytes.len() {
        let eol = text[pos..].find('\n').map_or(bytes.len(), |i| pos + i + 1);
        let is_marker = text[pos..eol].starts_with("---")
            && text[pos + 3..eol]
                .chars()
                .next()
                .is_none_or(|c| c == ' ' || c == '\t' || c == '\n' || c == '\r');
        if is_marker && pos > 0 && pos - out.last().map_or(0, |l| l.0) >= target && out.len() < n {
            out.push((pos, line));
        }
        pos = eol;
        line += 1;
    }
    out
}

fn parse_chunk(text: &str, line_offset: usize) -> Result<Vec<Document>, SyntaxError> {
    let mut builder = Builder {
        line_offset,
        ..Builder::default()
    };
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, true) {
        let m = e.marker();
        return Err(SyntaxError {
            line: line_u32(m.line() + line_offset),
            column: line_u32(m.col() + 1),
            message: e.info().to_string(),
        });
    }
    if let Some(err) = builder.error {
        return Err(err);
    }
    Ok(builder.docs)
}

/// `n` in decimal, written into `buf` (no allocation).
fn decimal(mut n: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

fn line_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

enum Frame {
    Seq {
        items: Vec<Value>,
        pointer: u64,
        anchor: usize,
    },
    Map {
        map: Map<String, Value>,
        pointer: u64,
        anchor: usize,
        /// Key read, value not yet.
        key: Option<String>,
    },
}

#[derive(Default)]
struct Builder {
    docs: Vec<Document>,
    stack: Vec<Frame>,
    lines: HashMap<u64, u32, BuildHasherDefault<KeyHasher>>,
    anchors: HashMap<usize, Value>,
    alias_budget: usize,
    root: Option<(Value, u32)>,
    root_line: u32,
    error: Option<SyntaxError>,
    /// Lines before this part of the stream.
    line_offset: usize,
}

impl Builder {
    fn fail(&mut self, mark: Marker, message: String) {
        if self.error.is_none() {
            self.error = Some(SyntaxError {
                line: line_u32(mark.line() + self.line_offset),
                column: line_u32(mark.col() + 1),
                message,
            });
        }
    }

    /// Pointer for the node about to be added in the current container, or
    /// `None` when the node is a mapping key.
    fn child_pointer(&self) -> Option<u64> {
        match self.stack.last() {
            None => Some(ROOT_KEY),
            Some(Frame::Seq { items, pointer, .. }) => {
                let mut buf = [0u8; 20];
                Some(child_key(*pointer, decimal(items.len(), &mut buf)))
            }
            Some(Frame::Map {
                key: Some(k),
                pointer,
                ..
            }) => Some(child_key(*pointer, k.as_bytes())),
            Some(Frame::Map { key: None, .. }) => None,
        }
    }

    /// Attach a finished node to its parent (or make it the root).
    fn attach(&mut self, value: Value, mark: Marker) {
        match self.stack.last_mut() {
            None => self.root = Some((value, self.root_line)),
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map { map, key, .. }) => match key.take() {
                Some(k) => {
                    map.insert(k, value);
                }
                None => {
                    let k = match value {
                        Value::String(s) => s,
                        Value::Null => String::new(),
                        Value::Bool(b) => b.to_string(),
                        Value::Number(n) => n.to_string(),
                        Value::Array(_) | Value::Object(_) => {
                            self.fail(mark, "mapping keys must be scalars".into());
                            return;
                        }
                    };
                    if k == "<<" {
                        self.fail(
                            mark,
                            "YAML merge keys (`<<`) are not supported; write the keys out".into(),
                        );
                        return;
                    }
                    if map.contains_key(&k) {
                        self.fail(mark, format!("duplicate key `{k}`"));
                        return;
                    }
                    if let Some(Frame::Map { key, .. }) = self.stack.last_mut() {
                        *key = Some(k);
                    }
                }
            },
        }
    }

    fn record(&mut self, mark: Marker) {
        if self.stack.is_empty() {
            self.root_line = line_u32(mark.line() + self.line_offset);
        }
        if let Some(p) = self.child_pointer() {
            self.lines
                .insert(p, line_u32(mark.line() + self.line_offset));
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        match ev {
            Event::DocumentStart => {
                self.stack.clear();
                self.lines.clear();
                self.anchors.clear();
                self.alias_budget = MAX_ALIAS_NODES;
                self.root = None;
            }
            Event::DocumentEnd => {
                if let Some((value, line)) = self.root.take() {
                    if !value.is_null() {
                        self.docs.push(Document {
                            value,
                            lines: Lines {
                                map: std::mem::take(&mut self.lines),
                            },
                            line,
                        });
                    }
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.record(mark);
                let is_key = self.child_pointer().is_none();
                let value = resolve_scalar(text, style, tag.as_ref(), is_key);
                if anchor > 0 {
                    self.anchors.insert(anchor, value.clone());
                }
                self.attach(value, mark);
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    self.fail(mark, format!("nesting deeper than {MAX_DEPTH} levels"));
                    return;
                }
                let Some(pointer) = self.child_pointer() else {
                    self.fail(mark, "mapping keys must be scalars".into());
                    return;
                };
                if self.stack.is_empty() {
                    self.root_line = line_u32(mark.line() + self.line_offset);
                }
                self.lines
                    .insert(pointer, line_u32(mark.line() + self.line_offset));
                let frame = if matches!(ev, Event::SequenceStart(..)) {
                    Frame::Seq {
                        items: Vec::new(),
                        pointer,
                        anchor,
                    }
                } else {
                    Frame::Map {
                        map: Map::new(),
                        pointer,
                        anchor,
                        key: None,
                    }
                };
                self.stack.push(frame);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, anchor) = match self.stack.pop() {
                    Some(Frame::Seq { items, anchor, .. }) => (Value::Array(items), anchor),
                    Some(Frame::Map { map, anchor, .. }) => (Value::Object(map), anchor),
                    None => return,
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, value.clone());
                }
                self.attach(value, mark);
            }
            Event::Alias(id) => {
                self.record(mark);
                let Some(value) = self.anchors.get(&id).cloned() else {
                    self.fail(mark, "alias to an unknown anchor".into());
                    return;
                };
                let n = count_nodes(&value);
                if n > self.alias_budget {
                    self.fail(
                        mark,
                        format!("aliases expand to more than {MAX_ALIAS_NODES} nodes"),
                    );
                    return;
                }
                self.alias_budget -= n;
                self.attach(value, mark);
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
    }
}

fn count_nodes(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(count_nodes).sum::<usize>(),
        Value::Object(m) => 1 + m.values().map(count_nodes).sum::<usize>(),
        _ => 1,
    }
}

/// YAML 1.2 core schema resolution for plain scalars; keys stay strings.
fn resolve_scalar(text: String, style: TScalarStyle, tag: Option<&Tag>, is_key: bool) -> Value {
    if let Some(tag) = tag {
        if tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!" {
            match tag.suffix.as_str() {
                "str" => return Value::String(text),
                "null" => return Value::Null,
                _ => {}
            }
        } else {
            return Value::String(text);
        }
    }
    if is_key || style != TScalarStyle::Plain {
        return Value::String(text);
    }
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Some(n) = parse_int(&text) {
        return Value::Number(n);
    }
    if looks_like_float(&text) {
        if let Ok(f) = text.parse::<f64>() {
            if let Some(n) = Number::from_f64(f) {
                return Value::Number(n);
            }
        }
    }
    Value::String(text)
}

fn parse_int(s: &str) -> Option<Number> {
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, body) = if let Some(h) = digits.strip_prefix("0x") {
        (16, h)
    } else if let Some(o) = digits.strip_prefix("0o") {
        (8, o)
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = i64::from_str_radix(body, radix).ok()?;
    Some(Number::from(if neg { -v } else { v }))
}

fn looks_like_float(s: &str) -> bool {
    let b = s.trim_start_matches(['-', '+']);
    !b.is_empty()
        && b.bytes()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == b'.')
        && b.bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'-' | b'+'))
        && b.bytes().any(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_follow_nodes() {
        let docs =
            parse_documents("a: 1\nb:\n  - x\n  - {c: d}\n---\n# empty\n---\nz: true\n").unwrap();
        assert_eq!(docs.len(), 2);
        let d = &docs[0];
        assert_eq!(d.lines.line_of("/a"), Some(1));
        assert_eq!(d.lines.line_of("/b/1/c"), Some(4));
        assert_eq!(d.lines.line_of("/b/1/missing"), Some(4));
        assert_eq!(docs[1].value["z"], Value::Bool(true));
        assert_eq!(docs[1].line, 8);
    }

    #[test]
    fn scalars_resolve_with_core_schema() {
        let d = &parse_documents("a: 12\nb: '12'\nc: 1.5\nd: ~\ne: on\nf: 0x1F\ng: 1.2.3\n")
            .unwrap()[0];
        assert_eq!(d.value["a"], Value::from(12));
        assert_eq!(d.value["b"], Value::from("12"));
        assert_eq!(d.value["c"], Value::from(1.5));
        assert_eq!(d.value["d"], Value::Null);
        assert_eq!(d.value["e"], Value::from("on"));
        assert_eq!(d.value["f"], Value::from(31));
        assert_eq!(d.value["g"], Value::from("1.2.3"));
    }

    #[test]
    fn duplicate_keys_are_errors_with_line() {
        let e = parse_documents("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("duplicate key `a`"), "{e}");
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = parse_documents("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e.line >= 1, "{e}");
        let e = parse_documents("a: b: c\n").unwrap_err();
        assert_eq!(e.line, 1, "{e}");
    }

    #[test]
    fn billion_laughs_is_bounded() {
        let mut y = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..9 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("l{}", i - 1)
            };
            y.push_str(&format!("l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        let e = parse_documents(&y).unwrap_err();
        assert!(e.message.contains("aliases expand"), "{e}");
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let y = "[".repeat(10_000);
        assert!(parse_documents(&y).is_err());
    }

    /// Large streams parse in parallel with exactly the sequential result:
    /// values, document lines, node lines, and error positions.
    #[test]
    fn parallel_parse_matches_sequential() {
        let mut text = String::new();
        let mut i = 0;
        while text.len() < 2 * PARALLEL_MIN_BYTES + 4096 {
            text.push_str(&format!(
                "---\n# doc {i}\nkind: Ingress\nmetadata:\n  name: n{i}\nspec:\n  rules:\n    - host: h{i}.test\n      text: |\n        block\n        ---not a marker\n"
            ));
            i += 1;
        }
        assert!(split_streams(&text, 2).len() == 2);
        let par = parse_documents(&text).unwrap();
        let seq = parse_chunk(&text, 0).unwrap();
        assert_eq!(par.len(), seq.len());
        for (a, b) in par.iter().zip(&seq) {
            assert_eq!(a.value, b.value);
            assert_eq!(a.line, b.line);
            for p in [
                "/kind",
                "/metadata/name",
                "/spec/rules/0/host",
                "/spec/rules/0/text",
            ] {
                assert_eq!(a.lines.line_of(p), b.lines.line_of(p), "{p}");
            }
        }
        // An error in the second half is reported at its real line.
        let bad_at = text.len() * 3 / 4;
        let cut = text[bad_at..].find("kind: Ingress").unwrap() + bad_at;
        let mut broken = text.clone();
        broken.insert_str(cut, "kind: [\n");
        let line = broken[..cut].lines().count() + 1;
        let e = parse_documents(&broken).unwrap_err();
        let e_seq = parse_chunk(&broken, 0).unwrap_err();
        assert_eq!(e, e_seq);
        assert!(e.line as usize >= line, "{e} vs {line}");
    }

    #[test]
    fn json_is_accepted() {
        let d = &parse_documents("{\"kind\": \"List\", \"items\": [{\"a\": 1}]}").unwrap()[0];
        assert_eq!(d.value["items"][0]["a"], Value::from(1));
        assert_eq!(d.lines.line_of("/items/0/a"), Some(1));
    }
}
