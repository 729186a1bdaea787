//! Differential checks of the fast path ([`super::fast`]) against
//! yaml-rust2, shared by the unit tests in `source.rs` and the
//! `manifests` fuzz target (`fuzz/`). Not part of the API: the functions
//! parse `text` twice and say how the two parsers differ, if they do.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

use super::fast::{self, Pos};
use super::{count_newlines, has_directives, next_marker, parse_chunk, parse_chunk_slow};

/// `(byte offset, lines before it)` of the start of every document part of
/// `text`: 0, then each line that is a `---` marker in column 0 (`---`
/// followed by a blank or the end of the line). A marker line always starts
/// a new document in YAML, so the parts parse exactly as the whole stream.
fn document_starts(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut out = vec![(0, 0)];
    while let Some(pos) = next_marker(bytes, out.last().map_or(0, |l| l.0)) {
        out.push((pos, count_newlines(&bytes[..pos])));
    }
    out
}

/// yaml-rust2's events for `text`, positions as the fast path gives them
/// (`None` on a syntax error).
fn reference_events(text: &str) -> Option<Vec<(Event, Pos)>> {
    struct Rec(Vec<(Event, Pos)>);
    impl MarkedEventReceiver for Rec {
        fn on_event(&mut self, ev: Event, m: Marker) {
            if !matches!(ev, Event::StreamStart | Event::StreamEnd) {
                let pos = Pos {
                    line: m.line(),
                    col: m.col(),
                };
                self.0.push((ev, pos));
            }
        }
    }
    let mut rec = Rec(Vec::new());
    Parser::new_from_str(text).load(&mut rec, true).ok()?;
    Some(rec.0)
}

/// What the builder reads of an event: end and document events carry
/// no position it uses.
fn comparable(events: &[(Event, Pos)]) -> Vec<(Event, Option<Pos>)> {
    events
        .iter()
        .map(|(e, p)| match e {
            Event::Scalar(..) | Event::SequenceStart(..) | Event::MappingStart(..) => {
                (e.clone(), Some(*p))
            }
            _ => (e.clone(), None),
        })
        .collect()
}

/// For every document part of `text` the fast path accepts, yaml-rust2
/// must accept it too and produce the same events at the same positions.
/// Returns (parts, parts accepted), or how the two differ.
pub fn check_fast_path(text: &str) -> Result<(usize, usize), String> {
    let mut events = Vec::new();
    if !fast::clean(text.as_bytes()) || has_directives(text) {
        return Ok((0, 0));
    }
    let starts: Vec<(usize, usize)> = document_starts(text);
    let mut accepted = 0;
    for (k, &(from, _)) in starts.iter().enumerate() {
        let to = starts.get(k + 1).map_or(text.len(), |n| n.0);
        let part = &text[from..to];
        // Parsing on from the part's start stops at the next marker
        // with the same result.
        let mut streamed = Vec::new();
        let from_here = fast::parse(&text[from..], &mut |e, p| streamed.push((e, p)));
        events.clear();
        let Some(len) = fast::parse(part, &mut |e, p| events.push((e, p))) else {
            if from_here.is_some() {
                return Err(format!(
                    "fast path accepts the part only when the stream goes on:\n{part}"
                ));
            }
            continue;
        };
        if from_here != Some(len) || streamed != events || len != part.len() {
            return Err(format!(
                "fast path reads the part differently within the stream \
                 ({from_here:?} vs {len} of {} bytes):\n{part}",
                part.len()
            ));
        }
        accepted += 1;
        let Some(reference) = reference_events(part) else {
            return Err(format!(
                "fast path accepted what yaml-rust2 rejects:\n{part}"
            ));
        };
        // yaml-rust2 reports an empty document as DocumentStart, an
        // empty scalar, DocumentEnd; the fast path gives nothing. The
        // builder drops both.
        let reference = if events.is_empty() {
            let empty = reference.len() <= 3
                && reference
                    .iter()
                    .all(|(e, _)| !matches!(e, Event::Scalar(t, ..) if !t.is_empty()));
            if !empty {
                return Err(format!(
                    "fast path gave no events, yaml-rust2 {reference:?}:\n{part}"
                ));
            }
            Vec::new()
        } else {
            reference
        };
        let (ours, theirs) = (comparable(&events), comparable(&reference));
        if ours != theirs {
            return Err(format!(
                "events differ for:\n{part}\nfast: {ours:?}\nyaml-rust2: {theirs:?}"
            ));
        }
    }
    Ok((starts.len(), accepted))
}

/// The whole loader with the fast path ([`parse_chunk`]) and with
/// yaml-rust2 alone ([`parse_chunk_slow`]) must give the same documents
/// (values, document lines, node lines) or the same error.
pub fn check_documents(text: &str, line_offset: usize) -> Result<(), String> {
    let fast = parse_chunk(text, line_offset, &|d| d);
    let slow = parse_chunk_slow(text, line_offset, &|d| d);
    match (fast, slow) {
        (Err(a), Err(b)) if a == b => Ok(()),
        (Ok(a), Ok(b)) => {
            if a.len() != b.len() {
                return Err(format!(
                    "{} documents vs {} with yaml-rust2",
                    a.len(),
                    b.len()
                ));
            }
            for (i, (a, b)) in a.iter().zip(&b).enumerate() {
                if a.value != b.value || a.line != b.line || a.lines.map != b.lines.map {
                    return Err(format!(
                        "document {i} differs: {} at line {} vs {} at line {} with yaml-rust2",
                        a.value, a.line, b.value, b.line
                    ));
                }
            }
            Ok(())
        }
        (a, b) => Err(format!(
            "fast path: {:?}; yaml-rust2: {:?}",
            a.map(|d| d.len()),
            b.map(|d| d.len())
        )),
    }
}
