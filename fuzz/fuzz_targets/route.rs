//! Path normalisation (nginx's `$uri`, `stepup::controllers::ingress_nginx::routing::normalize`),
//! route lookup (`RouteTable::route` over the routing and shop test
//! Ingresses) and the runtime's policy lookup (`serve::auth::path_need`
//! with the shop and lint policies).
//!
//! Input: `<host> <raw request target>` (the format of
//! testdata/routing/requests.txt); without a space, all of it is the
//! target on `plain.test`.
//!
//! Oracles:
//! - never panics;
//! - a normalised path starts with `/`, has no `//` and no `.` or `..`
//!   segment (nothing climbs above the root), and its query has no `#`;
//! - normalisation is idempotent: a path without the bytes it decodes to
//!   literal characters (`%`, `?`, `#`) normalises to itself, and with its
//!   query appended, to itself and the same query;
//! - route lookup is deterministic, answers 400 exactly when normalisation
//!   fails, and routes the normalised form exactly as the raw target;
//! - the policy lookup is deterministic, names a rule that exists, and the
//!   runtime's need for the path is never weaker than the plain,
//!   case-folded or `;`-stripped path's.
#![no_main]

use std::collections::HashMap;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use stepup::claims::Claims;
use stepup::ingress::{Loaded, load_text};
use stepup::policy::Policy;
use stepup::controllers::ingress_nginx::routing::{Controller, Outcome, RouteTable, normalize, normalize_host};
use stepup_fuzz::{LINT_POLICY, SHOP_POLICY, check_path_need, fixture_policy, witnesses};

const INGRESSES: [(&str, &str); 6] = [
    (
        "routing/ingresses.yaml",
        include_str!("../../testdata/routing/ingresses.yaml"),
    ),
    (
        "shop/backend.yaml",
        include_str!("../../testdata/shop/ingresses/backend.yaml"),
    ),
    (
        "shop/grafana.yaml",
        include_str!("../../testdata/shop/ingresses/grafana.yaml"),
    ),
    (
        "shop/legacy-admin.yaml",
        include_str!("../../testdata/shop/ingresses/legacy-admin.yaml"),
    ),
    (
        "shop/stepup-signin.yaml",
        include_str!("../../testdata/shop/ingresses/stepup-signin.yaml"),
    ),
    (
        "shop/www.yaml",
        include_str!("../../testdata/shop/ingresses/www.yaml"),
    ),
];

struct Fixture {
    table: RouteTable,
    policies: Vec<(Policy, Vec<Claims>)>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let mut loaded = Loaded::default();
    let mut seen = HashMap::new();
    for (file, text) in INGRESSES {
        if let Err(e) = load_text(file, text, &mut loaded, &mut seen) {
            panic!("fixture {file}: {e}");
        }
    }
    let table = match RouteTable::build(loaded.ingresses, &Controller::default()) {
        Ok(t) => t,
        Err(e) => panic!("fixture route table: {e}"),
    };
    let policies = [("shop", SHOP_POLICY), ("lint", LINT_POLICY)]
        .into_iter()
        .map(|(name, text)| {
            let p = fixture_policy(name, text);
            let ids = witnesses(&p);
            (p, ids)
        })
        .collect();
    Fixture { table, policies }
});

fuzz_target!(|data: &[u8]| {
    let (host, target) = match data.iter().position(|&b| b == b' ') {
        Some(i) => (String::from_utf8_lossy(&data[..i]), &data[i + 1..]),
        None => ("plain.test".into(), data),
    };
    let normalised = normalize(target);
    if let Ok((path, args)) = &normalised {
        normal_form(target, path, args.as_deref());
    }
    routes(&host, target, &normalised);
    if let Ok((path, _)) = &normalised {
        needs(&host, path);
    }
});

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The normalised form of `target`, and whether it normalises to itself.
fn normal_form(target: &[u8], path: &[u8], args: Option<&[u8]>) {
    let t = show(target);
    assert_eq!(
        path.first(),
        Some(&b'/'),
        "{t:?} normalised to {:?}",
        show(path)
    );
    assert!(
        !path.windows(2).any(|w| w == b"//"),
        "{t:?} normalised to {:?}",
        show(path)
    );
    assert!(
        !path[1..]
            .split(|&b| b == b'/')
            .any(|s| s == b"." || s == b".."),
        "{t:?} normalised to {:?}, which has a dot segment",
        show(path)
    );
    assert!(
        !args.is_some_and(|a| a.contains(&b'#')),
        "{t:?}: query with #"
    );
    if path.iter().any(|b| matches!(b, b'%' | b'?' | b'#')) {
        return;
    }
    let again = normalize(path);
    assert_eq!(
        again.as_ref().map(|(p, a)| (p.as_slice(), a.is_none())),
        Ok((path, true)),
        "{t:?} normalised to {:?}, which normalises differently",
        show(path)
    );
    if let Some(a) = args {
        let with = [path, b"?", a].concat();
        let again = normalize(&with);
        assert_eq!(
            again.as_ref().map(|(p, q)| (p.as_slice(), q.as_deref())),
            Ok((path, Some(a))),
            "{:?} (the normal form of {t:?}) normalises differently",
            show(&with)
        );
    }
}

fn routes(
    host: &str,
    target: &[u8],
    normalised: &Result<(Vec<u8>, Option<Vec<u8>>), impl std::fmt::Debug>,
) {
    let table = &FIXTURE.table;
    let a = table.route(host, target);
    let b = table.route(host, target);
    assert_eq!((a.server_index, &a.outcome), (b.server_index, &b.outcome));
    assert_eq!(
        matches!(a.outcome, Outcome::BadRequest(_)),
        normalised.is_err(),
        "{host} {:?}: {:?} but normalisation gave {normalised:?}",
        show(target),
        a.outcome
    );
    let Ok((path, args)) = normalised else {
        return;
    };
    if path.iter().any(|b| matches!(b, b'%' | b'?' | b'#')) {
        return;
    }
    let again = match args {
        Some(q) => [path.as_slice(), b"?", q].concat(),
        None => path.clone(),
    };
    let n = table.route(host, &again);
    assert_eq!(
        (n.server_index, &n.outcome),
        (a.server_index, &a.outcome),
        "{host} {:?} routes unlike its normal form {:?}",
        show(target),
        show(&again)
    );
}

fn needs(host: &str, path: &[u8]) {
    let host = normalize_host(host);
    for (p, ids) in &FIXTURE.policies {
        for method in ["GET", "HEAD", "POST", "DELETE"] {
            check_path_need(p, &host, method, path, ids);
        }
    }
}
