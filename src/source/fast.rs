//! A fast path for the plain block YAML that Kubernetes tools write
//! (`kubectl get -o yaml`, Helm and kustomize output, hand-written
//! manifests).
//!
//! yaml-rust2's scanner reads the input one `char` at a time through a
//! look-ahead buffer; on a cluster dump it is most of the load time. This
//! module reads one document (a part of the stream between column-0 `---`
//! lines) byte by byte and produces **exactly the events and positions
//! yaml-rust2 would** — the same scalar text and style, and the same line and
//! column for every scalar and collection start (including yaml-rust2's own
//! conventions: a block mapping starts at its first `:`, an indentless
//! sequence after its first `- `, an empty value at the next token). The
//! events then go through the same tree builder, so duplicate keys, depth,
//! and every line number behave as before.
//!
//! It accepts only a conservative subset and gives up (`None`) on anything
//! else; the caller then parses that document with yaml-rust2. Outside the
//! subset: a tab, CR or other control character anywhere in the stream
//! (checked once, [`clean`]); non-ASCII outside comments; anchors, aliases,
//! tags, directives, `?` keys; quoted keys or keys with characters other
//! than letters, digits and `_ . / -`; multi-line plain or quoted scalars
//! and flow collections; a backslash in a double-quoted scalar; folded
//! (`>`) block scalars, `|+`, indentation indicators, and literal ones that
//! are not the value of a mapping key; a root that is not a block mapping in
//! column 0; a last document without a final line break; and anything
//! yaml-rust2 would reject. The differential tests in `source.rs` compare
//! both parsers on every document this path accepts (hand-written cases,
//! the repository's test data, and a million random edits on request).

use yaml_rust2::parser::Event;
use yaml_rust2::scanner::TScalarStyle;

/// Where an event is: 1-based line within the document's text, 0-based
/// column (yaml-rust2's `Marker` convention).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pos {
    pub(super) line: usize,
    pub(super) col: usize,
}

/// Deepest nesting this path handles (the builder's own limit is higher, so
/// its depth error always comes from yaml-rust2's events).
const MAX_DEPTH: usize = 64;

/// Longest key accepted (YAML caps implicit keys at 1024 characters).
const MAX_KEY: usize = 1000;

struct Bail;

type R = Result<(), Bail>;

/// Whether the fast path may read `text` at all: no control character but
/// `\n` anywhere (to yaml-rust2 a `\r` ends a line even inside a comment, and
/// a tab is only whitespace in some places).
pub(super) fn clean(text: &[u8]) -> bool {
    !text.iter().any(|&b| (b < 0x20 && b != b'\n') || b == 0x7f)
}

/// The events of the document at the start of `text` (a part of the stream:
/// its start, or a `---` line), up to the next column-0 `---` line or the
/// end, handed to `out` as they are read; `None` when that document is
/// outside the subset (the events given so far are then to be discarded).
/// Returns the bytes read. An empty document (comments only)
/// gives no events. `text` must be [`clean`].
pub(super) fn parse(text: &str, out: &mut impl FnMut(Event, Pos)) -> Option<usize> {
    let s = text.as_bytes();
    let mut p = P {
        s,
        p: 0,
        ls: 0,
        line: 1,
        ind: None,
        depth: 0,
        out,
    };
    p.document().ok()?;
    Some(p.ls.min(s.len()))
}

/// Whether a `---` document marker line starts at `at` (`---` then a blank
/// or the end of the line), as `next_marker` in `source.rs` finds them.
fn is_marker(s: &[u8], at: usize) -> bool {
    s.get(at..at + 3) == Some(b"---")
        && s.get(at + 3)
            .is_none_or(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
}

struct P<'a, F> {
    s: &'a [u8],
    /// Cursor.
    p: usize,
    /// Start of the current line.
    ls: usize,
    /// Current line number (1-based).
    line: usize,
    /// Indentation of the content line the cursor is on (`None`: end).
    ind: Option<usize>,
    depth: usize,
    out: &'a mut F,
}

fn is_key_start(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn is_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'/' | b'-')
}

fn is_plain_after_dash(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.'
}

impl<F: FnMut(Event, Pos)> P<'_, F> {
    fn at(&self, i: usize) -> u8 {
        self.s.get(i).copied().unwrap_or(b'\n')
    }

    fn pos(&self, at: usize) -> Pos {
        Pos {
            line: self.line,
            col: at - self.ls,
        }
    }

    fn emit(&mut self, ev: Event, at: usize) {
        let pos = self.pos(at);
        (self.out)(ev, pos);
    }

    fn scalar(&mut self, from: usize, to: usize, style: TScalarStyle, at: usize) -> R {
        let bytes = &self.s[from..to];
        if !bytes.is_ascii() {
            return Err(Bail);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| Bail)?;
        self.emit(Event::Scalar(text.to_string(), style, 0, None), at);
        Ok(())
    }

    fn eol(&self, from: usize) -> usize {
        self.s[from..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(self.s.len(), |i| from + i)
    }

    fn skip_spaces(&self, mut i: usize) -> usize {
        while self.at(i) == b' ' && i < self.s.len() {
            i += 1;
        }
        i
    }

    fn enter(&mut self) -> R {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Bail);
        }
        Ok(())
    }

    /// Examine the line starting at `self.ls` and the ones after it: skip
    /// blank and comment lines, stop on the first content line (cursor on
    /// its first non-space byte) or at the end.
    /// A `---` line ends the document: the cursor stops at its start.
    fn settle(&mut self) {
        loop {
            if self.ls >= self.s.len() || is_marker(self.s, self.ls) {
                self.ls = self.ls.min(self.s.len());
                self.p = self.ls;
                self.ind = None;
                return;
            }
            let q = self.skip_spaces(self.ls);
            match self.at(q) {
                b'\n' => {}
                b'#' => {}
                _ => {
                    self.p = q;
                    self.ind = Some(q - self.ls);
                    return;
                }
            }
            let e = self.eol(q);
            self.ls = e + 1;
            self.line += 1;
        }
    }

    /// Move past the end of the current line (the cursor must be at its
    /// `\n`) to the next content line.
    fn next_line(&mut self) {
        self.ls = self.p + 1;
        self.line += 1;
        self.settle();
    }

    /// After a node on one line: only spaces and a comment may follow.
    fn end_of_line(&mut self, from: usize) -> R {
        let q = self.skip_spaces(from);
        match self.at(q) {
            b'\n' => {}
            b'#' if q > from => {}
            _ => return Err(Bail),
        }
        self.p = self.eol(q);
        Ok(())
    }

    /// `key:` at `q` (followed by a space or the end of the line): the
    /// position of the `:`.
    fn key_at(&self, q: usize) -> Option<usize> {
        if !is_key_start(self.at(q)) {
            return None;
        }
        let mut e = q + 1;
        while is_key_char(self.at(e)) && e < self.s.len() {
            e += 1;
        }
        (self.at(e) == b':' && matches!(self.at(e + 1), b' ' | b'\n') && e - q <= MAX_KEY)
            .then_some(e)
    }

    /// `- ` at `q`.
    fn is_entry(&self, q: usize) -> bool {
        self.at(q) == b'-' && self.at(q + 1) == b' '
    }

    fn document(&mut self) -> R {
        if is_marker(self.s, 0) {
            // Split points are `---` followed by a blank; only a comment may
            // follow on that line here.
            let e = self.eol(0);
            let q = self.skip_spaces(3);
            if !(q == e || (self.at(q) == b'#' && q > 3)) {
                return Err(Bail);
            }
            self.p = e;
            self.next_line();
        } else {
            self.settle();
        }
        match self.ind {
            None => return Ok(()),
            Some(0) if self.key_at(self.p).is_some() => {}
            Some(_) => return Err(Bail),
        }
        self.emit(Event::DocumentStart, self.p);
        self.mapping(0)?;
        if self.ind.is_some() {
            return Err(Bail);
        }
        // The last document must end in a line break (yaml-rust2's positions
        // at the end of the input assume one).
        if self.ls >= self.s.len() && self.s.last().is_some_and(|&b| b != b'\n') {
            return Err(Bail);
        }
        self.emit(Event::DocumentEnd, self.p);
        Ok(())
    }

    /// A block mapping whose first key is at the cursor, in column `n`.
    /// Returns with the cursor on the first content line indented less
    /// than `n` (or at the end).
    fn mapping(&mut self, n: usize) -> R {
        self.enter()?;
        let mut first = true;
        loop {
            let k = self.p;
            let colon = self.key_at(k).ok_or(Bail)?;
            if first {
                self.emit(Event::MappingStart(0, None), colon);
                first = false;
            }
            self.scalar(k, colon, TScalarStyle::Plain, k)?;
            let q = self.skip_spaces(colon + 1);
            if matches!(self.at(q), b'\n' | b'#') {
                // The value is on the next lines, or empty.
                self.p = self.eol(q);
                self.next_line();
                match self.ind {
                    Some(i) if i > n => {
                        if self.is_entry(self.p) {
                            self.sequence(i, false)?;
                        } else if self.key_at(self.p).is_some() {
                            self.mapping(i)?;
                        } else {
                            return Err(Bail);
                        }
                    }
                    Some(i) if i == n && self.is_entry(self.p) => self.sequence(n, true)?,
                    _ => self.emit(
                        Event::Scalar(String::new(), TScalarStyle::Plain, 0, None),
                        self.p,
                    ),
                }
            } else if self.at(q) == b'|' {
                self.literal(q, n)?;
            } else {
                self.p = q;
                self.inline_value()?;
                self.next_line();
            }
            match self.ind {
                Some(i) if i == n && self.key_at(self.p).is_some() => {}
                Some(i) if i < n => break,
                None => break,
                Some(_) => return Err(Bail),
            }
        }
        self.emit(Event::MappingEnd, self.p);
        self.depth -= 1;
        Ok(())
    }

    /// A block sequence whose first `- ` is at the cursor, in column `n`.
    /// `indentless`: the value of a mapping key in the same column.
    fn sequence(&mut self, n: usize, indentless: bool) -> R {
        self.enter()?;
        let mut first = true;
        loop {
            let dash = self.p;
            let q = self.skip_spaces(dash + 1);
            if matches!(self.at(q), b'\n' | b'#') {
                return Err(Bail);
            }
            if first {
                self.emit(
                    Event::SequenceStart(0, None),
                    if indentless { q } else { dash },
                );
                first = false;
            }
            self.p = q;
            if self.key_at(q).is_some() {
                self.mapping(q - self.ls)?;
            } else if self.is_entry(q) {
                return Err(Bail);
            } else {
                self.inline_value()?;
                self.next_line();
            }
            match self.ind {
                Some(i) if i == n && self.is_entry(self.p) => {}
                Some(i) if i == n && indentless => break,
                Some(i) if i < n => break,
                None => break,
                Some(_) => return Err(Bail),
            }
        }
        self.emit(Event::SequenceEnd, self.p);
        self.depth -= 1;
        Ok(())
    }

    /// A literal block scalar (`|` or `|-`) at `q`, the value of a key in
    /// column `n`: its content lines are indented more than `n` (the first
    /// one sets the indentation). Leaves the cursor on the next content line.
    /// Gives up on `|+`, an explicit indentation, an empty scalar and lines
    /// of spaces only.
    fn literal(&mut self, q: usize, n: usize) -> R {
        let mut h = q + 1;
        let strip = self.at(h) == b'-';
        if strip {
            h += 1;
        }
        if !matches!(self.at(h), b' ' | b'\n') {
            return Err(Bail);
        }
        self.end_of_line(h)?;
        let mut text: Vec<u8> = Vec::new();
        // Indentation of the content and where the event is (yaml-rust2:
        // the first content line, after its indentation).
        let mut first: Option<(usize, Pos)> = None;
        let mut empty = 0usize;
        loop {
            self.ls = self.p + 1;
            self.line += 1;
            if self.ls >= self.s.len() {
                break;
            }
            let end = self.eol(self.ls);
            let line = &self.s[self.ls..end];
            if line.is_empty() {
                empty += 1;
                self.p = end;
                continue;
            }
            let ind = line.iter().take_while(|&&b| b == b' ').count();
            if ind == line.len() {
                return Err(Bail);
            }
            let m = match first {
                None if ind <= n => return Err(Bail),
                None => {
                    first = Some((
                        ind,
                        Pos {
                            line: self.line,
                            col: ind,
                        },
                    ));
                    ind
                }
                Some((m, _)) if ind < m => break,
                Some((m, _)) => m,
            };
            text.extend(std::iter::repeat_n(b'\n', empty));
            empty = 0;
            text.extend_from_slice(&line[m..]);
            text.push(b'\n');
            self.p = end;
        }
        // Clip keeps one final line break, strip none; trailing empty lines
        // go either way.
        let Some((_, pos)) = first else {
            return Err(Bail);
        };
        if strip {
            text.pop();
        }
        if !text.is_ascii() {
            return Err(Bail);
        }
        let text = String::from_utf8(text).map_err(|_| Bail)?;
        (self.out)(Event::Scalar(text, TScalarStyle::Literal, 0, None), pos);
        self.ls = self.ls.min(self.s.len());
        self.settle();
        Ok(())
    }

    /// A scalar or flow collection that ends on this line (a comment may
    /// follow). Leaves the cursor at the end of the line.
    fn inline_value(&mut self) -> R {
        let q = self.p;
        match self.at(q) {
            b'"' | b'\'' => {
                let e = self.quoted(q)?;
                self.end_of_line(e)
            }
            b'[' | b'{' => {
                self.p = q;
                self.flow()?;
                let e = self.p;
                self.end_of_line(e)
            }
            // `-` starts a plain scalar only before a safe character.
            b'-' if !is_plain_after_dash(self.at(q + 1)) => Err(Bail),
            b'|' | b'>' | b'&' | b'*' | b'!' | b'%' | b'@' | b'`' | b'?' | b':' | b',' | b']'
            | b'}' | b'#' => Err(Bail),
            _ => {
                let e = self.eol(q);
                let line = &self.s[q..e];
                let cut = line
                    .windows(2)
                    .position(|w| w == b" #")
                    .map_or(e, |i| q + i);
                let mut end = cut;
                while end > q && self.s[end - 1] == b' ' {
                    end -= 1;
                }
                let text = &self.s[q..end];
                if text.ends_with(b":") || text.windows(2).any(|w| w == b": ") {
                    return Err(Bail);
                }
                self.scalar(q, end, TScalarStyle::Plain, q)?;
                self.p = e;
                Ok(())
            }
        }
    }

    /// A one-line quoted scalar at `q`; returns the position after it.
    fn quoted(&mut self, q: usize) -> Result<usize, Bail> {
        if self.at(q) == b'"' {
            let mut i = q + 1;
            loop {
                match self.at(i) {
                    b'"' => break,
                    b'\\' | b'\n' => return Err(Bail),
                    _ => i += 1,
                }
            }
            self.scalar(q + 1, i, TScalarStyle::DoubleQuoted, q)?;
            Ok(i + 1)
        } else {
            let mut text = Vec::new();
            let mut i = q + 1;
            loop {
                match self.at(i) {
                    b'\'' if self.at(i + 1) == b'\'' => {
                        text.push(b'\'');
                        i += 2;
                    }
                    b'\'' => break,
                    b'\n' => return Err(Bail),
                    b => {
                        text.push(b);
                        i += 1;
                    }
                }
            }
            if !text.is_ascii() {
                return Err(Bail);
            }
            let text = String::from_utf8(text).map_err(|_| Bail)?;
            self.emit(Event::Scalar(text, TScalarStyle::SingleQuoted, 0, None), q);
            Ok(i + 1)
        }
    }

    /// A one-line flow collection at the cursor; leaves the cursor after
    /// its closing bracket.
    fn flow(&mut self) -> R {
        self.enter()?;
        let open = self.p;
        let seq = self.at(open) == b'[';
        let close = if seq { b']' } else { b'}' };
        self.emit(
            if seq {
                Event::SequenceStart(0, None)
            } else {
                Event::MappingStart(0, None)
            },
            open,
        );
        let mut i = self.skip_spaces(open + 1);
        if self.at(i) != close {
            loop {
                if !seq {
                    // `key: ` with a plain key.
                    let k = i;
                    if !is_key_start(self.at(k)) {
                        return Err(Bail);
                    }
                    let mut e = k + 1;
                    while is_key_char(self.at(e)) && e < self.s.len() {
                        e += 1;
                    }
                    if self.at(e) != b':' || self.at(e + 1) != b' ' {
                        return Err(Bail);
                    }
                    self.scalar(k, e, TScalarStyle::Plain, k)?;
                    i = self.skip_spaces(e + 1);
                }
                i = self.flow_node(i)?;
                i = self.skip_spaces(i);
                match self.at(i) {
                    b',' => {
                        i = self.skip_spaces(i + 1);
                        if self.at(i) == close {
                            return Err(Bail);
                        }
                    }
                    b if b == close => break,
                    _ => return Err(Bail),
                }
            }
        }
        self.emit(
            if seq {
                Event::SequenceEnd
            } else {
                Event::MappingEnd
            },
            i,
        );
        self.p = i + 1;
        self.depth -= 1;
        Ok(())
    }

    /// One node inside a flow collection at `q`; returns the position after it.
    fn flow_node(&mut self, q: usize) -> Result<usize, Bail> {
        match self.at(q) {
            b'"' | b'\'' => self.quoted(q),
            b'[' | b'{' => {
                self.p = q;
                self.flow()?;
                Ok(self.p)
            }
            b'-' if !is_plain_after_dash(self.at(q + 1)) => Err(Bail),
            b'|' | b'>' | b'&' | b'*' | b'!' | b'%' | b'@' | b'`' | b'?' | b':' | b',' | b']'
            | b'}' | b'#' | b'\n' | b' ' => Err(Bail),
            _ => {
                // One word: a space may only come before the delimiter
                // (yaml-rust2 has rules of its own for `-` after a space).
                let mut e = q;
                loop {
                    match self.at(e) {
                        b',' | b'[' | b']' | b'{' | b'}' | b'\n' => break,
                        b' ' => {
                            let n = self.skip_spaces(e);
                            if !matches!(self.at(n), b',' | b']' | b'}') {
                                return Err(Bail);
                            }
                            break;
                        }
                        b':' | b'#' => return Err(Bail),
                        _ => e += 1,
                    }
                }
                let mut end = e;
                while end > q && self.s[end - 1] == b' ' {
                    end -= 1;
                }
                self.scalar(q, end, TScalarStyle::Plain, q)?;
                Ok(e)
            }
        }
    }
}
