//! The shape memo ([`Memo::probed`]) against the per-server probes it
//! replaces: it must give every server exactly what probing it alone gives.

use super::*;
use crate::controllers::ingress_nginx::routing::Controller;
use crate::ingress::{LoadOptions, Loaded, load_paths_with, load_text};
use std::path::PathBuf;

fn table(yaml: &str) -> RouteTable {
    let mut l = Loaded::default();
    load_text("t.yaml", yaml, &mut l, &mut HashMap::new()).unwrap();
    RouteTable::build(l.ingresses, &Controller::watching_classless()).unwrap()
}

fn policy(text: &str) -> Policy {
    crate::policy::parse("p.yaml", text).unwrap()
}

/// Each server's probes through one long-lived memo (shared shapes hit),
/// and through a new memo per server (nothing shared).
fn check_all(p: &Policy, t: &RouteTable) -> usize {
    let mut shared = Memo::default();
    let mut hits = 0;
    for s in &t.servers {
        let host = probe_host(s);
        let before = shared.shapes.len();
        let got = shared.probed(p, t, s, &host);
        hits += usize::from(shared.shapes.len() == before);
        let alone = Memo::default().probed_fresh(p, t, s, &host);
        assert!(*got == *alone, "server {} differs", s.name);
    }
    hits
}

fn ing(name: &str, host: &str, paths: &[&str], extra: &str) -> String {
    let paths: String = paths
        .iter()
        .map(|p| format!("          - {{path: {p}, pathType: Prefix, backend: {{service: {{name: app, port: {{number: 80}}}}}}}}\n"))
        .collect();
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n  namespace: default\n{extra}spec:\n  rules:\n    - host: {host}\n      http:\n        paths:\n{paths}---\n"
    )
}

const POLICY: &str = "apiVersion: stepup.dev/v1alpha1\nkind: StepUpPolicy\nspec:\n  levels: [{name: mfa, acr: [phrh]}]\n  rules:\n    - {name: admin, paths: [/admin/**], level: mfa}\n    - {name: shop, hosts: [shop.example.com], paths: [/cart/**], level: mfa}\n  default: public\n";

/// Servers alike but for what the key holds get answers of their own:
/// a sensitive mark, a host rule, regex mode, an extra path.
#[test]
fn shape_memo_keeps_servers_that_differ_apart() {
    let yaml = [
        ing("a", "a.example.com", &["/", "/cart"], ""),
        ing("b", "b.example.com", &["/", "/cart"], ""),
        ing("c", "shop.example.com", &["/", "/cart"], ""),
        ing(
            "d",
            "d.example.com",
            &["/", "/cart"],
            "  labels: {stepup.dev/sensitive: \"true\"}\n",
        ),
        ing(
            "e",
            "e.example.com",
            &["/", "/cart"],
            "  annotations: {nginx.ingress.kubernetes.io/use-regex: \"true\"}\n",
        ),
        ing("f", "f.example.com", &["/", "/cart", "/admin"], ""),
        ing("g", "grafana.example.com", &["/", "/cart"], ""),
    ]
    .concat();
    let p = policy(POLICY);
    let t = table(&yaml);
    // a and b share a shape; nothing else does.
    assert_eq!(check_all(&p, &t), 1);
    let need_at = |host: &str, path: &str| {
        let s = t.servers.iter().find(|s| s.name == host).unwrap();
        Memo::default()
            .probed(&p, &t, s, &probe_host(s))
            .iter()
            .find(|x| &*x.probe.path == path)
            .and_then(|x| x.hit.as_ref())
            .map(|h| h.need.label())
    };
    assert_eq!(need_at("a.example.com", "/cart").as_deref(), Some("public"));
    assert_eq!(need_at("shop.example.com", "/cart").as_deref(), Some("mfa"));
    assert_eq!(
        need_at("d.example.com", "/cart").as_deref(),
        Some("authenticated")
    );
}

/// Every corpus of the repository: lint's fixtures, the real-world
/// repositories, the routing and shop examples, each under the policy
/// beside it.
#[test]
fn shape_memo_equals_per_server_probes_on_every_corpus() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let corpora = [
        ("lint", "lint/policy.yaml"),
        ("realworld", "realworld-policy.yaml"),
        ("routing", "lint/policy.yaml"),
        ("shop", "shop/policy.yaml"),
    ];
    let mut servers = 0;
    for (dir, pol) in corpora {
        let Ok(text) = std::fs::read_to_string(root.join(pol)) else {
            panic!("no policy {pol}");
        };
        let p = policy(&text);
        let opts = LoadOptions {
            convert_removed: true,
            each_file: true,
            ..Default::default()
        };
        let loaded = load_paths_with(&[root.join(dir)], &opts);
        // One cluster per file, as `lint --each-file` reads them.
        let mut by_file: std::collections::BTreeMap<String, Vec<crate::ingress::Ingress>> =
            Default::default();
        for i in loaded.ingresses {
            by_file
                .entry(i.origin.file.to_string())
                .or_default()
                .push(i);
        }
        for (_, ings) in by_file {
            let Ok(t) = RouteTable::build(ings, &Controller::watching_classless()) else {
                continue;
            };
            servers += t.servers.len();
            check_all(&p, &t);
        }
    }
    assert!(servers > 100, "only {servers} servers checked");
}
