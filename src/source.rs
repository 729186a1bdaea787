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
use std::hash::{BuildHasher, BuildHasherDefault, RandomState};

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

mod fast;
#[doc(hidden)]
pub mod oracle;

use fast::Pos;

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
        self.cursor(pointer).line()
    }

    /// [`Lines::line_of`] as a cursor that can walk further down without
    /// formatting pointers.
    pub fn cursor(&self, pointer: &str) -> LineCursor {
        let mut at = LineCursor {
            key: ROOT_KEY,
            line: self.map.get(&ROOT_KEY).copied(),
        };
        for tok in pointer.split('/').skip(1) {
            at = if tok.contains('~') {
                self.child(at, &tok.replace("~1", "/").replace("~0", "~"))
            } else {
                self.child(at, tok)
            };
        }
        at
    }

    /// The member `token` (unescaped) of the node at `at`.
    pub fn child(&self, at: LineCursor, token: &str) -> LineCursor {
        self.step(at, child_key(at.key, token.as_bytes()))
    }

    /// The item `index` of the node at `at`.
    pub fn item(&self, at: LineCursor, index: usize) -> LineCursor {
        let mut buf = [0u8; 20];
        self.step(at, child_key(at.key, decimal(index, &mut buf)))
    }

    fn step(&self, at: LineCursor, key: u64) -> LineCursor {
        LineCursor {
            key,
            line: self.map.get(&key).copied().or(at.line),
        }
    }
}

/// A node of a [`Lines`] index, reached from a pointer.
#[derive(Debug, Clone, Copy)]
pub struct LineCursor {
    key: u64,
    /// Line of the node or of its nearest ancestor with one.
    line: Option<u32>,
}

impl LineCursor {
    /// The line of the node, or of its nearest ancestor that has one.
    pub fn line(self) -> Option<u32> {
        self.line
    }
}

/// A scalar's text: a string as is, a YAML boolean or number as written
/// (`true`, `8`); `None` for anything else.
pub fn scalar_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
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
    parse_each(text, |doc| doc)
}

/// Parts per core of a large stream ([`parse_each`]).
const PARTS_PER_CORE: usize = 4;

/// Parse every document of `text` and hand each one to `each` as soon as it
/// is complete, on the thread that parsed it; the results come back in input
/// order. Empty documents are dropped, as in [`parse_documents`].
///
/// A loader that turns each document into its own model (and drops the
/// document) does that work in parallel with the parse, and the memory of
/// one document's tree is reused for the next. A syntax error anywhere in
/// `text` is the result, whatever `each` returned for earlier documents.
pub fn parse_each<T, F>(text: &str, each: F) -> Result<Vec<T>, SyntaxError>
where
    T: Send,
    F: Fn(Document) -> T + Sync,
{
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(8);
    let chunks = if text.len() >= PARALLEL_MIN_BYTES && threads > 1 {
        // More parts than cores: a core that is busy elsewhere (or a part
        // slower to parse) holds up only a small part, and the scheduler
        // balances the rest.
        split_streams(text, threads * PARTS_PER_CORE)
    } else {
        Vec::new()
    };
    if chunks.len() < 2 {
        return parse_chunk(text, 0, &each);
    }
    // Large multi-document streams (a cluster dump) are parsed on every
    // core: split at document markers, parse each part with its line
    // offset, concatenate in order. The first error (in input order) wins.
    let each = &each;
    let results: Vec<Result<Vec<T>, SyntaxError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|&(start, offset)| {
                let end = chunks
                    .iter()
                    .map(|c| c.0)
                    .find(|&s| s > start)
                    .unwrap_or(text.len());
                let part = &text[start..end];
                scope.spawn(move || parse_chunk(part, offset, each))
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
    if has_directives(text) {
        return Vec::new();
    }
    let target = text.len() / n;
    let mut out = vec![(0usize, 0usize)];
    let mut counted = (0usize, 0usize);
    while out.len() < n {
        let last = out.last().map_or(0, |l| l.0);
        // The first marker at or after `last + target`.
        let from = (last + target.max(1)).saturating_sub(1);
        let Some(pos) = next_marker(text.as_bytes(), from) else {
            break;
        };
        counted = (
            pos,
            counted.1 + count_newlines(&text.as_bytes()[counted.0..pos]),
        );
        out.push(counted);
    }
    out
}

/// The start of the first `---` marker line whose line break is at or
/// after `from` (so the line starts after `from`).
fn next_marker(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    loop {
        i += bytes.get(i..)?.iter().position(|&b| b == b'\n')?;
        let pos = i + 1;
        if bytes.get(pos..pos + 3) == Some(b"---")
            && bytes
                .get(pos + 3)
                .is_none_or(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
        {
            return Some(pos);
        }
        i = pos;
    }
}

/// Number of `\n` in `bytes` (vectorises: 16 byte counters, emptied
/// before they can overflow).
fn count_newlines(bytes: &[u8]) -> usize {
    let mut total = 0usize;
    for block in bytes.chunks(16 * 255) {
        let mut lanes = [0u8; 16];
        let mut it = block.chunks_exact(16);
        for c in &mut it {
            for (lane, &b) in lanes.iter_mut().zip(c) {
                *lane += u8::from(b == b'\n');
            }
        }
        total += lanes.iter().map(|&l| usize::from(l)).sum::<usize>()
            + it.remainder().iter().filter(|&&b| b == b'\n').count();
    }
    total
}

fn parse_chunk<T, F: Fn(Document) -> T>(
    text: &str,
    line_offset: usize,
    each: &F,
) -> Result<Vec<T>, SyntaxError> {
    if has_directives(text) || !fast::clean(text.as_bytes()) {
        return parse_chunk_slow(text, line_offset, each);
    }
    // Document by document (parts between column-0 `---` lines): the fast
    // path when it accepts the document, else yaml-rust2 on that part.
    // Any error — syntax or from the builder (duplicate key, depth, alias
    // budget) — parses the whole chunk again with yaml-rust2 alone, so that
    // which error is reported, and where, does not depend on the fast path.
    let mut builder = Builder::new(each, line_offset);
    let (mut pos, mut lines) = (0usize, 0usize);
    while pos < text.len() {
        let rest = &text[pos..];
        builder.line_offset = line_offset + lines;
        // Events go to the builder as they are read; if the fast path gives
        // up, the document's partial tree is dropped and yaml-rust2 reads
        // the part. (Events before the give-up point can only cause a
        // spurious builder error, which sends the chunk to yaml-rust2 anyway.)
        let len = match fast::parse(rest, &mut |ev, at| builder.event(ev, at)) {
            Some(len) if len > 0 => len,
            _ => {
                builder.abandon_document();
                let len = next_marker(rest.as_bytes(), 0).unwrap_or(rest.len());
                if Parser::new_from_str(&rest[..len])
                    .load(&mut builder, true)
                    .is_err()
                {
                    return parse_chunk_slow(text, line_offset, each);
                }
                len
            }
        };
        if builder.error.is_some() {
            return parse_chunk_slow(text, line_offset, each);
        }
        pos += len;
        lines += count_newlines(&rest.as_bytes()[..len]);
    }
    Ok(builder.docs)
}

/// Whether `text` has a directive line (`%YAML`, `%TAG`): such streams are
/// neither split nor parsed on the fast path.
fn has_directives(text: &str) -> bool {
    text.starts_with('%') || text.contains("\n%")
}

/// The whole chunk through yaml-rust2 (the reference behaviour).
fn parse_chunk_slow<T, F: Fn(Document) -> T>(
    text: &str,
    line_offset: usize,
    each: &F,
) -> Result<Vec<T>, SyntaxError> {
    let mut builder = Builder::new(each, line_offset);
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
        /// Entries so far (keys unique); becomes a `Map` at the end, with
        /// one allocation of the right size.
        entries: Vec<(String, Value)>,
        /// Hashes of the keys, once the map is too large to check for a
        /// duplicate key by scanning.
        hashes: Option<std::collections::HashSet<u64, BuildHasherDefault<KeyHasher>>>,
        pointer: u64,
        anchor: usize,
        /// Key read, value not yet.
        key: Option<String>,
    },
}

/// Maps up to this size are checked for a duplicate key by scanning.
const SCAN_KEYS: usize = 16;

/// Whether `k` is already a key of the map being built. Larger maps keep a
/// set of key hashes (randomly keyed, so crafted keys cannot collide on
/// purpose); a hash hit is confirmed by a scan, so the answer is exact.
fn has_key(
    entries: &[(String, Value)],
    hashes: &mut Option<std::collections::HashSet<u64, BuildHasherDefault<KeyHasher>>>,
    seed: &RandomState,
    k: &str,
) -> bool {
    let scan = |entries: &[(String, Value)]| entries.iter().any(|(e, _)| e == k);
    if hashes.is_none() && entries.len() < SCAN_KEYS {
        return scan(entries);
    }
    let set = hashes.get_or_insert_with(|| {
        entries
            .iter()
            .map(|(e, _)| seed.hash_one(e.as_str()))
            .collect()
    });
    !set.insert(seed.hash_one(k)) && scan(entries)
}

struct Builder<'f, T, F> {
    /// What `each` made of every finished document.
    docs: Vec<T>,
    each: &'f F,
    stack: Vec<Frame>,
    lines: HashMap<u64, u32, BuildHasherDefault<KeyHasher>>,
    /// Size of the previous document's line index (capacity hint).
    last_lines: usize,
    /// Emptied entry lists of finished maps, for reuse.
    pool: Vec<Vec<(String, Value)>>,
    /// Key of the duplicate-key hashes of large maps.
    seed: RandomState,
    anchors: HashMap<usize, Value>,
    alias_budget: usize,
    root: Option<(Value, u32)>,
    root_line: u32,
    error: Option<SyntaxError>,
    /// Lines before this part of the stream.
    line_offset: usize,
}

impl<'f, T, F: Fn(Document) -> T> Builder<'f, T, F> {
    fn new(each: &'f F, line_offset: usize) -> Self {
        Builder {
            docs: Vec::new(),
            each,
            stack: Vec::new(),
            lines: HashMap::default(),
            last_lines: 0,
            pool: Vec::new(),
            seed: RandomState::new(),
            anchors: HashMap::new(),
            alias_budget: 0,
            root: None,
            root_line: 0,
            error: None,
            line_offset,
        }
    }

    /// Forget the document being built (not its finished ones).
    fn abandon_document(&mut self) {
        self.stack.clear();
        self.lines.clear();
        self.anchors.clear();
        self.root = None;
    }

    fn fail(&mut self, mark: Pos, message: String) {
        if self.error.is_none() {
            self.error = Some(SyntaxError {
                line: line_u32(mark.line + self.line_offset),
                column: line_u32(mark.col + 1),
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
    fn attach(&mut self, value: Value, mark: Pos) {
        match self.stack.last_mut() {
            None => self.root = Some((value, self.root_line)),
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map {
                entries,
                hashes,
                key,
                ..
            }) => match key.take() {
                Some(k) => {
                    entries.push((k, value));
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
                    if has_key(entries, hashes, &self.seed, &k) {
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

    fn record(&mut self, mark: Pos) {
        if self.stack.is_empty() {
            self.root_line = line_u32(mark.line + self.line_offset);
        }
        if let Some(p) = self.child_pointer() {
            self.lines.insert(p, line_u32(mark.line + self.line_offset));
        }
    }
}

impl<T, F: Fn(Document) -> T> MarkedEventReceiver for Builder<'_, T, F> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        self.event(
            ev,
            Pos {
                line: mark.line(),
                col: mark.col(),
            },
        );
    }
}

impl<T, F: Fn(Document) -> T> Builder<'_, T, F> {
    /// One parser event at `mark` (line within the part being parsed).
    fn event(&mut self, ev: Event, mark: Pos) {
        if self.error.is_some() {
            return;
        }
        match ev {
            Event::DocumentStart => {
                self.stack.clear();
                self.lines.clear();
                self.lines.reserve(self.last_lines);
                self.anchors.clear();
                self.alias_budget = MAX_ALIAS_NODES;
                self.root = None;
            }
            Event::DocumentEnd => {
                if let Some((value, line)) = self.root.take() {
                    if !value.is_null() {
                        self.last_lines = self.lines.len();
                        let doc = Document {
                            value,
                            lines: Lines {
                                map: std::mem::take(&mut self.lines),
                            },
                            line,
                        };
                        self.docs.push((self.each)(doc));
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
                    self.root_line = line_u32(mark.line + self.line_offset);
                }
                self.lines
                    .insert(pointer, line_u32(mark.line + self.line_offset));
                let frame = if matches!(ev, Event::SequenceStart(..)) {
                    Frame::Seq {
                        items: Vec::new(),
                        pointer,
                        anchor,
                    }
                } else {
                    Frame::Map {
                        entries: self.pool.pop().unwrap_or_default(),
                        hashes: None,
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
                    Some(Frame::Map {
                        mut entries,
                        anchor,
                        ..
                    }) => {
                        let mut map = Map::with_capacity(entries.len());
                        for (k, v) in entries.drain(..) {
                            map.insert(k, v);
                        }
                        self.pool.push(entries);
                        (Value::Object(map), anchor)
                    }
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

    /// Large maps check duplicates through hashes, with the same answers.
    #[test]
    fn duplicate_keys_in_large_maps() {
        let keys: String = (0..100).map(|i| format!("k{i}: {i}\n")).collect();
        let d = &parse_documents(&keys).unwrap()[0];
        assert_eq!(d.value.as_object().map(|m| m.len()), Some(100));
        assert_eq!(d.lines.line_of("/k99"), Some(100));
        let e = parse_documents(&format!("{keys}k42: again\n")).unwrap_err();
        assert_eq!(e.line, 101);
        assert!(e.message.contains("duplicate key `k42`"), "{e}");
        let e = parse_documents(&format!(
            "{{{}, k7: x}}",
            keys.trim_end().replace('\n', ", ")
        ))
        .unwrap_err();
        assert!(e.message.contains("duplicate key `k7`"), "{e}");
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
        let seq = parse_chunk(&text, 0, &|d| d).unwrap();
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
        let e_seq = parse_chunk(&broken, 0, &|d| d).unwrap_err();
        assert_eq!(e, e_seq);
        assert!(e.line as usize >= line, "{e} vs {line}");
    }

    /// [`oracle::check_fast_path`], failing the test with its message.
    fn check_fast(text: &str) -> (usize, usize) {
        oracle::check_fast_path(text).unwrap_or_else(|e| panic!("{e}"))
    }

    const K8S: &str = "---
# Source: shop/templates/ingress.yaml
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web-0   # trailing comment
  namespace: team-0
  creationTimestamp: \"2024-01-01T00:00:00Z\"
  labels:
    app.kubernetes.io/name: web
  annotations:
    nginx.ingress.kubernetes.io/auth-url: http://stepup.x.svc:8080/auth?level=mfa&rule=a#b
    nginx.ingress.kubernetes.io/auth-signin: 'https://$host/.stepup/signin?level=it''s'
    nginx.ingress.kubernetes.io/proxy-body-size: \"8m\"
    kubectl.kubernetes.io/last-applied-configuration: |
      {\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"Ingress\"}
    nginx.ingress.kubernetes.io/configuration-snippet: |-
      more_set_headers \"X: y\";

        # indented more, and a comment line: content
      location /x { deny all; }


    empty:
    stepup.dev/ignore: \"SU013: TLS ends at the LB, SU001: public\"
spec:
  ingressClassName: nginx
  tls:
    - hosts: [\"shop-0.example\", b.example, 'c.example']
      secretName: shop-0-tls
  rules:
  - host: shop-0.example
    http:
      paths:
        - path: /
          pathType: Exact
          backend: {service: {name: storefront, port: {number: 80}}}
        -   path: /static
            pathType: Prefix
            backend:
              service:
                name: static-0

                port:
                  number: -80
  - http:
      paths: []
  defaultBackend: {}
status:
  loadBalancer: {ingress: [{ip: 10.0.0.1}, {hostname: lb.example}]}
  x: [ ab , -1, 1.5, true, null, ~ ]
  y:
# comment at column 0
  z: end
---
---   # comment
a: 1
--- 
# only a comment
---
items:
- a: 1
  b:
  - x
  - y
- c:
    d: e
- f
last:
";

    #[test]
    fn fast_path_matches_yaml_rust2() {
        let (parts, accepted) = check_fast(K8S);
        assert_eq!((parts, accepted), (5, 5));
        let accepted_cases = [
            "a: 1\n",
            "a:\n",
            "a:\n  b:\n\n# c\n",
            "a:\n- x\n-   k: v\n    j: [1, \"2\", {a: b}]\nb: c\n\n# trailing\n",
            "a: x # c\nb: \"y\" # d\nc: http://a:80/#x?y&z\n",
            "a: foo[1]\nb: foo]\nc: a,b\nd: -x\ne: foo :bar\nf: x#y\n",
            "a: ''\nb: \"\"\nc: ' x '\n",
            "a: [ ]\nb: { }\nc: [[], {}]\n",
            "1: one\ntrue: yes\nnull: ~\n",
            "a:\n  - b:\n    - c\n  - d\n",
        ];
        for c in accepted_cases {
            assert_eq!(check_fast(c), (1, 1), "{c}");
        }
        // Outside the subset (or invalid): the fast path must give up.
        for c in [
            "a: |\n  x\n",
            "a: |-\n  x\n\n  y\n\n\nb: 1\n",
            "a: |  # c\n\n   x\n    y\n  # c\nb:\n  c: |\n    z\n---\nd: 1\n",
        ] {
            assert_eq!(check_fast(c).1, check_fast(c).0, "{c}");
        }
        let refused = [
            "a: |+\n  x\n",
            "a: |2\n  x\n",
            "a: |\nb: 1\n",
            "a: |\n  x\n   \n",
            "a:\n- |\n  x\n",
            "a: >\n  x\n",
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "? a\n: 1\n",
            "\"a\": 1\n",
            "a: 1",
            "a:\tb\n",
            "a: 1\r\n",
            "a: caf\u{e9}\n",
            "a: foo\n  bar\n",
            "a: \"x\\ny\"\n",
            "a: \"x\n  y\"\n",
            "a: [1,\n  2]\n",
            "a: b: c\n",
            "a: b:\n",
            "- a\n",
            "  a: 1\n",
            "a: 1\n  b: 2\n",
            "a:\n  - x\n  b: 1\n",
            "a: 1\n- b\n",
            "a: [1, ]\n",
            "a: {b}\n",
            "a: {b: 1, c:d}\n",
            "a: \"x\"y\n",
            "a: \"x\"#y\n",
            "a: - b\n",
            "a:\n-\n",
            "a:\n- - b\n",
            "a: 1\n...\n",
            "--- !tag\na: 1\n",
            "--- a: 1\n",
            "a: @x\n",
            "a: `x`\n",
            "a:b: 1\n",
            "a : 1\n",
        ];
        for c in refused {
            let mut ev = Vec::new();
            assert!(
                !fast::clean(c.as_bytes()) || fast::parse(c, &mut |e, p| ev.push((e, p))).is_none(),
                "accepted {c:?}"
            );
        }
    }

    /// Every document of the repository's test data that the fast path
    /// accepts parses to the same events as with yaml-rust2.
    #[test]
    fn fast_path_matches_on_testdata() {
        let mut files = Vec::new();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
        let mut dirs = vec![root];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                    files.push(p);
                }
            }
        }
        let (mut parts, mut accepted) = (0, 0);
        for f in &files {
            let (p, a) = check_fast(&std::fs::read_to_string(f).unwrap());
            parts += p;
            accepted += a;
        }
        assert!(
            files.len() > 20 && accepted * 2 > parts,
            "{accepted}/{parts}"
        );
    }

    /// Random small edits of valid documents (deterministic): whenever the
    /// fast path accepts the result, yaml-rust2 agrees event for event.
    #[test]
    fn fast_path_matches_on_mutations() {
        const PIECES: &[&str] = &[
            "|-",
            "|\n  ",
            "\n   ",
            "\n    ",
            "   ",
            " ",
            "  ",
            ":",
            ": ",
            "-",
            "- ",
            "#",
            " #",
            "\"",
            "'",
            "[",
            "]",
            "{",
            "}",
            ",",
            ", ",
            "\n",
            "\n  ",
            "\n- ",
            "|",
            ">",
            "&a ",
            "*a",
            "!",
            "?",
            "%",
            "@",
            "---\n",
            "...",
            "\\",
            "''",
            "x",
            "1",
            "\t",
            "~",
            "a: ",
            "\n#",
            "\n\n",
            "\u{e9}",
            "\u{2192}",
            "\u{feff}",
            "\u{85}",
            "\u{2028}",
            "\u{a0}",
            " # \u{2192}",
            "\r",
        ];
        let literals = "a: |\n  one\n    two\n\n  # three\nb:\n  c: |-\n      x\n\n\n  d: |\n   y\n  e: [1]\nf: |  # c\n  {\"k\": \"v\"}\n";
        let mut texts = vec![K8S.to_string(), literals.repeat(3)];
        for dir in [
            "lint/SU001",
            "lint/SU006",
            "lint/SU008",
            "render",
            "routing",
        ] {
            let d = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("testdata")
                .join(dir);
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.extension().is_some_and(|x| x == "yaml") {
                    texts.push(std::fs::read_to_string(p).unwrap());
                }
            }
        }
        let bases: Vec<&str> = texts
            .iter()
            .flat_map(|t| t.split("---\n"))
            .filter(|b| b.len() > 10)
            .collect();
        // STEPUP_FAST_FUZZ=N runs N edits (and seeds differently) for a
        // longer local run.
        let iters = std::env::var("STEPUP_FAST_FUZZ")
            .ok()
            .and_then(|v| v.parse::<u64>().ok());
        let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ iters.unwrap_or(0);
        let mut rand = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let (mut tried, mut accepted) = (0, 0);
        for _ in 0..iters.unwrap_or(3000) {
            let mut t = bases[rand(bases.len())].to_string();
            for _ in 0..=rand(3) {
                let at = rand(t.len() + 1);
                if !t.is_char_boundary(at) {
                    continue;
                }
                let line_start = t[..at].rfind('\n').map_or(0, |i| i + 1);
                let line_end = t[at..].find('\n').map_or(t.len(), |i| at + i + 1);
                match rand(6) {
                    0 => t.insert_str(at, PIECES[rand(PIECES.len())]),
                    3 => t.replace_range(line_start..line_end, ""),
                    4 => {
                        let line = t[line_start..line_end].to_string();
                        t.insert_str(line_start, &line);
                    }
                    5 => {
                        if rand(2) == 0 {
                            t.insert_str(line_start, "  ");
                        } else if t[line_start..].starts_with("  ") {
                            t.replace_range(line_start..line_start + 2, "");
                        }
                    }
                    1 => {
                        let end = (at + 1 + rand(3)).min(t.len());
                        if t.is_char_boundary(end) {
                            t.replace_range(at..end, "");
                        }
                    }
                    _ => {
                        let end = (at + 1).min(t.len());
                        if t.is_char_boundary(end) {
                            t.replace_range(at..end, PIECES[rand(PIECES.len())]);
                        }
                    }
                }
            }
            let (p, a) = check_fast(&t);
            tried += p;
            accepted += a;
        }
        assert!(accepted > 100, "{accepted}/{tried}");
    }

    /// The fast path and yaml-rust2 alone give the same documents: values,
    /// document lines and node lines.
    #[test]
    fn fast_path_documents_match_reference() {
        let mut text = String::new();
        for i in 0..50 {
            text.push_str(&K8S.replace("web-0", &format!("web-{i}")));
        }
        // Also: a last document without a final line break, and one the
        // fast path gives up on half-way (a folded scalar).
        let folded = format!("{text}---\na: 1\nb: >\n  x\nc: 2\n");
        for t in [text.as_str(), text.trim_end(), folded.as_str()] {
            assert!(parse_chunk(t, 7, &|d| d).is_ok());
            oracle::check_documents(t, 7).unwrap();
        }
        // Errors come from yaml-rust2 alone, wherever they are.
        for bad in ["a: 1\na: 2\n", "a: [\n", "a: *x\n"] {
            let broken = format!("{}---\n{bad}{}", &text[..text.len() / 2], K8S);
            assert!(parse_chunk(&broken, 0, &|d| d).is_err());
            oracle::check_documents(&broken, 0).unwrap();
        }
    }

    #[test]
    fn json_is_accepted() {
        let d = &parse_documents("{\"kind\": \"List\", \"items\": [{\"a\": 1}]}").unwrap()[0];
        assert_eq!(d.value["items"][0]["a"], Value::from(1));
        assert_eq!(d.lines.line_of("/items/0/a"), Some(1));
    }
}
