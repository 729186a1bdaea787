//! Manifest loading: the YAML/JSON reader (`stepup::source`, with its
//! hand-written fast path for plain block YAML) and the Ingress loader
//! (`stepup::ingress::load_text`), then the routing model built from what
//! loaded.
//!
//! Oracles:
//! - never panics;
//! - the fast path is differential-tested against yaml-rust2 on every input:
//!   each document part it accepts gives yaml-rust2's events at yaml-rust2's
//!   positions (`source::oracle::check_fast_path`, the comparison the unit
//!   tests use), and the whole reader gives the same documents, lines and
//!   errors with and without it (`source::oracle::check_documents`);
//! - loader errors name the file and a line within it;
//! - the route table builds or fails with an error, and routing a request
//!   through it is deterministic.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use stepup::ingress::{Loaded, load_text};
use stepup::controllers::ingress_nginx::routing::{Controller, RouteTable};
use stepup::source::oracle::{check_documents, check_fast_path};
use stepup_fuzz::{last_line, located};

const FILE: &str = "m.yaml";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = check_fast_path(text) {
        panic!("fast path and yaml-rust2 differ: {e}");
    }
    if let Err(e) = check_documents(text, 0) {
        panic!("the reader differs with and without the fast path: {e}");
    }
    let mut out = Loaded::default();
    if let Err(e) = load_text(FILE, text, &mut out, &mut HashMap::new()) {
        let lines = last_line(text);
        for m in e.messages() {
            assert!(
                located(m, FILE, lines),
                "loader error not located in the file: {m}"
            );
        }
        return;
    }
    let hosts: Vec<String> = out
        .ingresses
        .iter()
        .flat_map(|i| i.rules.iter().filter_map(|r| r.host.clone()))
        .take(4)
        .chain(["unknown.example".to_string()])
        .collect();
    let Ok(table) = RouteTable::build(out.ingresses, &Controller::default()) else {
        return;
    };
    for host in &hosts {
        for target in [&b"/"[..], b"/admin/x", b"/API/v1?x=1", b"/a/../b/"] {
            let a = table.route(host, target);
            let b = table.route(host, target);
            assert_eq!((a.server_index, &a.outcome), (b.server_index, &b.outcome));
        }
    }
});
