//! `stepup generate` through its library API ([`stepup::generate::generate`]):
//! the output lints clean on every testdata set (where the input holds
//! nothing generate deliberately leaves alone), is deterministic and
//! idempotent, splits per level, writes Traefik Middlewares, and carries
//! other documents through.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde_json::Value;
use stepup::controllers::ingress_nginx::routing::{self, RouteTable};
use stepup::generate::{Controller, Options, generate};
use stepup::ingress::{Loaded, load_text};
use stepup::lint::{Options as LintOptions, Report, Severity, lint};
use stepup::policy::Policy;

const SHOP_POLICY: &str = "testdata/shop/policy.yaml";
const LINT_POLICY: &str = "testdata/lint/policy.yaml";
const AUTH: &str = "http://stepup.stepup-system.svc.cluster.local:8080";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn policy(rel: &str) -> Policy {
    let text = std::fs::read_to_string(root().join(rel)).unwrap();
    stepup::policy::parse(rel, &text).unwrap()
}

fn manifest_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            manifest_files(&p, out);
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            out.push(p);
        }
    }
}

/// Every manifest under `rel` (a file or a directory), in name order, as
/// (file name, text).
fn inputs(rel: &str) -> Vec<(String, String)> {
    let p = root().join(rel);
    let mut files = Vec::new();
    if p.is_dir() {
        manifest_files(&p, &mut files);
    } else {
        files.push(p);
    }
    files
        .into_iter()
        .map(|f| {
            let name = f.strip_prefix(root()).unwrap().display().to_string();
            (name, std::fs::read_to_string(&f).unwrap())
        })
        .collect()
}

fn text(name: &str, t: &str) -> Vec<(String, String)> {
    vec![(name.to_string(), t.to_string())]
}

fn nginx(split: bool) -> Options {
    Options {
        controller: Controller::Nginx,
        split,
        classes: Vec::new(),
    }
}

fn traefik(split: bool) -> Options {
    Options {
        controller: Controller::Traefik,
        split,
        classes: Vec::new(),
    }
}

/// Lint generate's output as `stepup lint` would (default classes).
fn lint_text(policy: &Policy, text: &str) -> Report {
    let mut loaded = Loaded::default();
    load_text("generated.yaml", text, &mut loaded, &mut HashMap::new())
        .unwrap_or_else(|e| panic!("generate's output does not load: {e}\n{text}"));
    let table =
        RouteTable::build(loaded.ingresses, &routing::Controller::watching_classless()).unwrap();
    lint(policy, &table, &LintOptions::default())
}

fn describe(r: &Report) -> String {
    r.findings
        .iter()
        .map(|f| {
            format!(
                "  {} {} {}/{} {}{}: {}",
                f.rule, f.severity, f.namespace, f.ingress, f.host, f.path, f.message
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn run(policy: &Policy, ins: &[(String, String)], opts: &Options) -> (String, Vec<String>) {
    generate(policy, ins, opts).unwrap_or_else(|e| panic!("generate failed: {e}"))
}

fn assert_clean(policy: &Policy, what: &str, out: &str) {
    let r = lint_text(policy, out);
    assert!(
        r.findings.is_empty(),
        "lint of generate's output for {what} is not clean:\n{}\n--- output ---\n{out}",
        describe(&r)
    );
}

/// All documents of a YAML stream.
fn docs(out: &str) -> Vec<Value> {
    stepup::source::parse_documents(out)
        .unwrap()
        .into_iter()
        .map(|d| d.value)
        .collect()
}

/// Every object of a stream, list items included.
fn objects(out: &str) -> Vec<Value> {
    fn walk(v: &Value, out: &mut Vec<Value>) {
        if v["kind"] == "List" {
            for it in v["items"].as_array().unwrap() {
                walk(it, out);
            }
        } else {
            out.push(v.clone());
        }
    }
    let mut o = Vec::new();
    for d in docs(out) {
        walk(&d, &mut o);
    }
    o
}

fn find<'a>(objs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objs.iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in the output"))
}

fn annotation<'a>(o: &'a Value, key: &str) -> Option<&'a str> {
    o["metadata"]["annotations"][key].as_str()
}

fn paths(o: &Value) -> Vec<String> {
    o["spec"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["http"]["paths"].as_array().cloned().unwrap_or_default())
        .map(|p| p["path"].as_str().unwrap().to_string())
        .collect()
}

// === (a) lint of generate's output is clean ===

#[test]
fn shop_output_lints_clean() {
    let p = policy(SHOP_POLICY);
    let ins = inputs("testdata/shop/ingresses");
    // The input itself is not clean: legacy-admin exposes /admin/reports.
    let before = {
        let mut all = String::new();
        for (_, t) in &ins {
            all.push_str(t);
            all.push_str("\n---\n");
        }
        lint_text(&p, &all)
    };
    assert!(before.count(Severity::Error) > 0, "{}", describe(&before));
    for split in [false, true] {
        let (out, notes) = run(&p, &ins, &nginx(split));
        let r = lint_text(&p, &out);
        assert_eq!(
            (r.count(Severity::Error), r.count(Severity::Warning)),
            (0, 0),
            "split={split}:\n{}",
            describe(&r)
        );
        assert_clean(&p, &format!("testdata/shop (split={split})"), &out);
        // legacy-admin is now protected at admin, with the TLS entry of the
        // console (same namespace, same host) and a note saying so.
        let objs = objects(&out);
        let legacy = find(&objs, "Ingress", "legacy-admin");
        assert_eq!(annotation(legacy, "stepup.dev/level"), Some("admin"));
        assert_eq!(
            annotation(legacy, "nginx.ingress.kubernetes.io/auth-url"),
            Some(format!("{AUTH}/auth?level=admin&rule=admin-console&host=$host").as_str())
        );
        assert_eq!(
            legacy["spec"]["tls"][0]["secretName"],
            "admin-shop-example-tls"
        );
        assert!(
            notes
                .iter()
                .any(|n| n.contains("shop/legacy-admin") && n.contains("admin-shop-example-tls")),
            "{notes:?}"
        );
        // The payments API gets no auth-signin (API host).
        let api = find(&objs, "Ingress", "payments-api");
        assert!(annotation(api, "nginx.ingress.kubernetes.io/auth-url").is_some());
        assert_eq!(
            annotation(api, "nginx.ingress.kubernetes.io/auth-signin"),
            None
        );
        // The storefront stays public: no auth annotations at all.
        let front = find(&objs, "Ingress", "storefront");
        assert!(front["metadata"]["annotations"].is_null(), "{front}");
        // stepup-signin already routes /.stepup on every browser host.
        assert!(
            !objs.iter().any(|o| o["metadata"]["name"]
                .as_str()
                .unwrap()
                .starts_with("stepup-signin-")),
            "{out}"
        );
    }
}

/// Rules whose findings generate deliberately leaves for a person: what
/// they flag is not an auth annotation generate owns (snippets, injection,
/// cache settings, TLS it has no Secret for, opt-outs, another controller's
/// annotations, suppressions, regex paths, canaries, another auth service).
const NOT_FIXED: &[&str] = &[
    "SU003", "SU007", "SU008", "SU009", "SU010", "SU011", "SU012", "SU013", "SU014", "SU015",
    "SU017",
    // generate protects by the request path; it does not follow a
    // rewrite-target to the backend path (SU018 says to raise the level).
    "SU018",
    // generate adds auth annotations; it does not remove what makes the
    // controller drop an Ingress (a snippet, an invalid value) or ignore
    // an annotation.
    "SU019", "SU020",
    // Controller-side: the no-auth-locations setting and a canary's
    // Service are not annotations generate writes.
    "SU021", "SU022",
    // Ingresses of a class the controller does not serve are left
    // unchanged (issue 17); a policy rule an earlier one shadows is the
    // policy's to fix.
    "SU025", "SU029",
];

/// Rules about the input itself (lint's loader findings): their fixtures
/// are input generate refuses, as it writes the manifests back and must not
/// answer on partial input — unreadable objects (SU023), a name defined
/// twice (SU024), a removed API version (SU026) — or does not substitute
/// (SU027: GitOps variables are not read by generate).
const INPUT_RULES: &[&str] = &["SU023", "SU024", "SU026", "SU027"];

/// Findings allowed to remain on top of the fixture's own rule, per file
/// (relative to testdata/lint) and mode.
fn extra_allowed(file: &str, split: bool) -> &'static [&'static str] {
    match (file, split) {
        // Two levels in one Ingress: without --split it is protected at the
        // stricter one and lint warns (generate's note says to use --split).
        ("SU002/fires.yaml", false) => &["SU002"],
        // shop-web's own auth-url asks for admin on /account and /admin:
        // --split never lowers that explicit level, so /account stays at
        // admin and lint still warns that it is over-protected.
        ("SU002/fires.yaml", true) => &["SU002"],
        // Regex mode (use-regex) on the host: generate does not rewrite paths.
        ("SU006/fires.yaml", _) => &["SU008"],
        // A suppression without a reason suppresses nothing; no TLS Secret.
        ("SU017/fires.yaml", _) => &["SU013"],
        // The snippets and injected values stay, so the controller still
        // drops those Ingresses (SU019), and the snippet stays (SU009).
        ("SU009/fires.yaml" | "SU010/fires.yaml", _) => &["SU019"],
        ("SU019/fires.yaml", _) => &["SU009"],
        // The traefik-class Ingress stays unrouted (SU025).
        ("SU015/fires.yaml", _) => &["SU025"],
        // generate protects the modsec-class Ingress with ingress-nginx
        // annotations, which the modelled controller never reads (SU015).
        ("SU025/fires.yaml", _) => &["SU015"],
        // no-auth-locations turns off whatever generate writes there.
        ("SU021/fires.yaml", _) => &["SU001"],
        // generate leaves canaries alone; a canary that shares a Service
        // needs a Service of its own (SU022's fix), not annotations.
        ("SU022/fires.yaml", _) => &["SU006", "SU001"],
        // Its over-protection is stepup's own auth-url with a level written
        // by hand: generate keeps a written level as a floor (raises, never
        // lowers) and says so in a note. Another auth service's over-
        // protection is carved out (regression_public_paths_leave_other_auth).
        ("SU028/fires.yaml", _) => &["SU028"],
        _ => &[],
    }
}

#[test]
fn lint_fixtures_generate_lint_clean() {
    let p = policy(LINT_POLICY);
    let dir = root().join("testdata/lint");
    let mut files = Vec::new();
    manifest_files(&dir, &mut files);
    let mut failures = Vec::new();
    let mut checked = 0;
    for f in files {
        let rel = f.strip_prefix(&dir).unwrap().display().to_string();
        // Policies: the shared one, and a fixture's own (SU029's).
        if rel == "policy.yaml" || rel.ends_with(".policy.yaml") {
            continue;
        }
        let rule = rel.split('/').next().unwrap().to_string();
        if INPUT_RULES.contains(&rule.as_str()) {
            continue;
        }
        let fires = rel.ends_with("fires.yaml");
        for split in [false, true] {
            let mut allowed: BTreeSet<&str> = extra_allowed(&rel, split).iter().copied().collect();
            if fires && NOT_FIXED.contains(&rule.as_str()) {
                allowed.insert(rule.as_str());
            }
            let ins = inputs(&format!("testdata/lint/{rel}"));
            let out = match generate(&p, &ins, &nginx(split)) {
                Ok((out, _)) => out,
                Err(e) => {
                    failures.push(format!("{rel} (split={split}): generate failed: {e}"));
                    continue;
                }
            };
            checked += 1;
            let r = lint_text(&p, &out);
            let left: Vec<_> = r
                .findings
                .iter()
                .filter(|f| !allowed.contains(f.rule))
                .collect();
            if !left.is_empty() {
                failures.push(format!(
                    "{rel} (split={split}): lint of the output still reports\n{}",
                    describe(&Report {
                        findings: left.into_iter().cloned().collect(),
                        ..Report::default()
                    })
                ));
            }
        }
    }
    assert!(checked >= 2, "no lint fixtures found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The routing corpus exercises every ingress-nginx merge rule; generate's
/// output with --split leaves no route unprotected there, whatever else (no
/// TLS Secrets, regex paths) it cannot fix. Without --split, what stays
/// exposed is what a note names (a path serving sub-paths of other levels
/// keeps its level).
#[test]
fn routing_corpus_has_no_exposed_route_after_generate() {
    for pol in [LINT_POLICY, SHOP_POLICY] {
        let p = policy(pol);
        for split in [false, true] {
            let (out, notes) = run(
                &p,
                &inputs("testdata/routing/ingresses.yaml"),
                &nginx(split),
            );
            if !split {
                let r = lint_text(&p, &out);
                for f in r.findings.iter().filter(|f| f.rule == "SU001") {
                    let key = format!("{}/{}", f.namespace, f.ingress);
                    assert!(
                        notes
                            .iter()
                            .any(|n| n.starts_with(&key) && n.contains("--split")),
                        "{pol}: {key} exposed without a note:\n{}\n{notes:#?}\n{out}",
                        describe(&r)
                    );
                }
                continue;
            }
            let r = lint_text(&p, &out);
            let exposed: Vec<_> = r
                .findings
                .iter()
                .filter(|f| {
                    matches!(f.rule, "SU001" | "SU005" | "SU006" | "SU016")
                        || (f.rule == "SU002" && f.severity == Severity::Error)
                })
                .cloned()
                .collect();
            assert!(
                exposed.is_empty(),
                "{pol} split={split}:\n{}",
                describe(&Report {
                    findings: exposed,
                    ..Report::default()
                })
            );
        }
    }
}

// === (b) determinism ===

#[test]
fn output_is_deterministic() {
    let p = policy(SHOP_POLICY);
    let ins = inputs("testdata/shop/ingresses");
    for opts in [nginx(false), nginx(true), traefik(false), traefik(true)] {
        let a = run(&p, &ins, &opts);
        let b = run(&p, &ins, &opts);
        assert_eq!(a, b, "{opts:?}");
    }
    let lp = policy(LINT_POLICY);
    let corpus = inputs("testdata/routing/ingresses.yaml");
    assert_eq!(
        run(&lp, &corpus, &nginx(true)),
        run(&lp, &corpus, &nginx(true))
    );
}

// === (c) --split ===

/// The storefront host is public as a whole under the shop policy, except
/// /account (rule account: authenticated).
const STOREFRONT: &str = "
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: storefront
  namespace: shop
  creationTimestamp: \"2023-03-01T09:00:00Z\"
  uid: 0b6f3c7e-1111-2222-3333-444455556666
  resourceVersion: \"4711\"
  labels: {app: shop}
  annotations:
    nginx.ingress.kubernetes.io/proxy-body-size: 8m
spec:
  ingressClassName: nginx
  tls:
    - hosts: [www.shop.example]
      secretName: www-tls
  rules:
    - host: www.shop.example
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
          - {path: /account, pathType: Prefix, backend: {service: {name: account, port: {number: 80}}}}
          - {path: /static, pathType: Prefix, backend: {service: {name: static, port: {number: 80}}}}
";

#[test]
fn split_names_and_paths() {
    let p = policy(SHOP_POLICY);
    let (out, notes) = run(&p, &text("www.yaml", STOREFRONT), &nginx(true));
    assert_clean(&p, "storefront --split", &out);
    let objs = objects(&out);
    let ings: Vec<&str> = objs
        .iter()
        .filter(|o| o["kind"] == "Ingress")
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        ings,
        [
            "storefront",
            "storefront-authenticated",
            "stepup-signin-www-shop-example"
        ]
    );
    // The public part keeps the name and the object's identity, without auth.
    let public = find(&objs, "Ingress", "storefront");
    assert_eq!(paths(public), ["/", "/static"]);
    assert_eq!(
        public["metadata"]["uid"],
        "0b6f3c7e-1111-2222-3333-444455556666"
    );
    assert_eq!(
        annotation(public, "nginx.ingress.kubernetes.io/auth-url"),
        None
    );
    assert_eq!(annotation(public, "stepup.dev/level"), None);
    assert_eq!(
        annotation(public, "nginx.ingress.kubernetes.io/proxy-body-size"),
        Some("8m")
    );
    // The protected part: its paths only, the same labels, annotations, class
    // and TLS, no server-set metadata.
    let auth = find(&objs, "Ingress", "storefront-authenticated");
    assert_eq!(paths(auth), ["/account"]);
    assert_eq!(auth["metadata"]["labels"]["app"], "shop");
    assert_eq!(auth["spec"]["ingressClassName"], "nginx");
    assert_eq!(auth["spec"]["tls"], public["spec"]["tls"]);
    assert!(auth["metadata"]["uid"].is_null());
    assert!(auth["metadata"]["resourceVersion"].is_null());
    assert!(auth["metadata"]["creationTimestamp"].is_null());
    assert_eq!(
        annotation(auth, "nginx.ingress.kubernetes.io/proxy-body-size"),
        Some("8m")
    );
    assert_eq!(
        annotation(auth, "nginx.ingress.kubernetes.io/auth-url"),
        Some(format!("{AUTH}/auth?level=authenticated&rule=account&host=$host").as_str())
    );
    assert_eq!(
        annotation(auth, "nginx.ingress.kubernetes.io/auth-signin"),
        Some("https://$host/.stepup/signin?level=authenticated")
    );
    assert_eq!(
        annotation(auth, "nginx.ingress.kubernetes.io/auth-response-headers"),
        Some("X-Auth-Request-User,X-Auth-Request-Email,X-Auth-Request-Groups,X-Auth-Request-Acr")
    );
    assert_eq!(annotation(auth, "stepup.dev/level"), Some("authenticated"));
    assert_eq!(annotation(auth, "stepup.dev/rule"), Some("account"));
    assert!(
        notes.iter().any(|n| n.contains("split into")
            && n.contains("shop/storefront (public)")
            && n.contains("shop/storefront-authenticated (authenticated)")),
        "{notes:?}"
    );
    // The sign-in Ingress for the protected browser host.
    let si = find(&objs, "Ingress", "stepup-signin-www-shop-example");
    assert_eq!(si["metadata"]["namespace"], "stepup-system");
    assert_eq!(si["spec"]["ingressClassName"], "nginx");
    assert_eq!(si["spec"]["tls"][0]["hosts"][0], "www.shop.example");
    assert_eq!(si["spec"]["tls"][0]["secretName"], "www-tls");
    let path = &si["spec"]["rules"][0]["http"]["paths"][0];
    assert_eq!(si["spec"]["rules"][0]["host"], "www.shop.example");
    assert_eq!(path["path"], "/.stepup");
    assert_eq!(path["pathType"], "Prefix");
    assert_eq!(path["backend"]["service"]["name"], "stepup");
    assert_eq!(path["backend"]["service"]["port"]["number"], 8080);
    assert!(si["metadata"]["annotations"].is_null());
}

/// Issue 17: without --split, an Ingress whose public catch-all `/` shares
/// the annotation with a protected path was protected at the strictest
/// level, so the whole site needed a login. Its level is now left as it was
/// (public), the note says what that leaves exposed and to pass --split,
/// and lint agrees (SU001 on exactly that path).
#[test]
fn regression_without_split_a_public_catch_all_is_not_raised() {
    let p = policy(SHOP_POLICY);
    let (out, notes) = run(&p, &text("www.yaml", STOREFRONT), &nginx(false));
    let objs = objects(&out);
    let ing = find(&objs, "Ingress", "storefront");
    assert_eq!(paths(ing), ["/", "/account", "/static"]);
    assert_eq!(annotation(ing, "stepup.dev/level"), None, "{out}");
    let note = notes
        .iter()
        .find(|n| n.contains("mixes levels"))
        .unwrap_or_else(|| panic!("{notes:?}"));
    assert!(note.contains("--split"), "{note}");
    assert!(note.contains("left public"), "{note}");
    assert!(
        note.contains("www.shop.example/account (Prefix) are exposed"),
        "{note}"
    );
    let r = lint_text(&p, &out);
    let su001: Vec<&str> = r
        .findings
        .iter()
        .filter(|f| f.rule == "SU001")
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(su001, ["/account"], "{}", describe(&r));
}

/// The level an output routes `host` `path` to: the `stepup.dev/level` of
/// the Ingress whose location serves it (`public` without one).
fn routed_level(out: &str, host: &str, path: &str) -> String {
    let mut loaded = Loaded::default();
    load_text("generated.yaml", out, &mut loaded, &mut HashMap::new()).unwrap();
    let table =
        RouteTable::build(loaded.ingresses, &routing::Controller::watching_classless()).unwrap();
    let routed = table.route(host, path.as_bytes());
    let l = routed
        .location()
        .unwrap_or_else(|| panic!("{host}{path} is not routed\n{out}"));
    let ing = &table.ingresses[l.ingress.unwrap()];
    ing.annotations
        .get("stepup.dev/level")
        .cloned()
        .unwrap_or_else(|| "public".into())
}

/// Issue 17: a `Prefix /` that serves public pages, /admin and /payments
/// got the strictest level (or deny), taking the site down. Its own level
/// is what the rest of it needs; --split writes each protected policy path
/// as a path of its own (same backend) in an Ingress of its level, and the
/// output routes every policy path to exactly its level.
#[test]
fn regression_split_carves_protected_sub_paths_out_of_a_catch_all() {
    let p = policy("testdata/realworld-policy.yaml");
    let site = "
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: site, namespace: web}
spec:
  ingressClassName: nginx
  tls: [{hosts: [www.example.org], secretName: web-tls}]
  rules:
    - host: www.example.org
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
";
    let (plain, notes) = run(&p, &text("site.yaml", site), &nginx(false));
    // Without --split: not raised, and the note says what to do.
    assert_eq!(routed_level(&plain, "www.example.org", "/"), "public");
    assert!(
        notes.iter().any(|n| n.starts_with(
            "web/site: path www.example.org/ (Prefix) is public but serves /admin Prefix admin"
        ) && n.contains("--split")),
        "{notes:?}"
    );
    let (out, notes) = run(&p, &text("site.yaml", site), &nginx(true));
    assert_clean(&p, "site --split", &out);
    let objs = objects(&out);
    let names: Vec<&str> = objs
        .iter()
        .filter(|o| o["kind"] == "Ingress")
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "site",
            "site-authenticated",
            "site-mfa",
            "site-admin",
            "stepup-signin-www-example-org"
        ]
    );
    assert_eq!(paths(find(&objs, "Ingress", "site")), ["/"]);
    assert_eq!(
        paths(find(&objs, "Ingress", "site-mfa")),
        ["/payments", "/api/payments"]
    );
    assert_eq!(paths(find(&objs, "Ingress", "site-admin")), ["/admin"]);
    let admin = find(&objs, "Ingress", "site-admin");
    let path = &admin["spec"]["rules"][0]["http"]["paths"][0];
    assert_eq!(path["pathType"], "Prefix");
    assert_eq!(path["backend"]["service"]["name"], "web");
    for (path, level) in [
        ("/", "public"),
        ("/index.html", "public"),
        ("/adminx", "public"),
        ("/healthz", "public"),
        ("/admin", "admin"),
        ("/admin/users", "admin"),
        ("/payments", "mfa"),
        ("/payments/1/refund", "mfa"),
        ("/api/payments/1", "mfa"),
        ("/api", "authenticated"),
        ("/api/orders", "authenticated"),
    ] {
        assert_eq!(
            routed_level(&out, "www.example.org", path),
            level,
            "{path}\n{out}"
        );
    }
    assert!(
        notes
            .iter()
            .any(|n| n.contains("web/site split into web/site (public)")
                && n.contains(
                    "web/site-admin (admin; carved out: www.example.org/admin (Prefix))"
                )),
        "{notes:?}"
    );
    // Generating again on the output changes nothing.
    let (again, _) = run(&p, &text("out.yaml", &out), &nginx(true));
    assert_eq!(again, out);
}

/// An exact public rule below a protected catch-all (`/` public, anything
/// else authenticated by default): the catch-all takes the default, the
/// exact root is carved out as `Exact /` and stays public. Before, the
/// catch-all took the strictest level of all it served (admin).
#[test]
fn regression_exact_public_root_is_carved_out_of_a_protected_catch_all() {
    let p = policy(LINT_POLICY);
    let ing = "
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: web}
spec:
  tls: [{hosts: [shop.example.com], secretName: shop-tls}]
  rules:
    - host: shop.example.com
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
";
    let (out, notes) = run(&p, &text("web.yaml", ing), &nginx(false));
    assert_eq!(routed_level(&out, "shop.example.com", "/x"), "public");
    assert!(
        notes
            .iter()
            .any(|n| n.contains("is authenticated but serves / Exact public")
                && n.contains("/admin Prefix admin")),
        "{notes:?}"
    );
    let (out, _) = run(&p, &text("web.yaml", ing), &nginx(true));
    assert_clean(&p, "web --split", &out);
    for (path, level) in [
        ("/", "public"),
        ("/static/app.css", "public"),
        ("/healthz", "public"),
        ("/other", "authenticated"),
        ("/account", "authenticated"),
        ("/admin", "admin"),
        ("/admin/x", "admin"),
    ] {
        assert_eq!(
            routed_level(&out, "shop.example.com", path),
            level,
            "{path}\n{out}"
        );
    }
}

/// Two levels neither of which satisfies the other (no policy level meets
/// both): a path serving both became `deny`. Now never: without --split it
/// is left as it was, with --split each is carved out at its level.
#[test]
fn regression_a_path_covering_incomparable_levels_is_never_deny() {
    let p = stepup::policy::parse(
        "p.yaml",
        "apiVersion: stepup.dev/v1alpha1
kind: StepUpPolicy
metadata: {name: p}
spec:
  authService: {url: 'http://stepup.stepup-system.svc.cluster.local:8080'}
  levels:
    - {name: hwk, amr: [[hwk]]}
    - {name: staff, claims: {groups: [staff]}}
  rules:
    - {name: keys, paths: [/keys/**], level: hwk}
    - {name: staff, paths: [/staff/**], level: staff}
  default: public
",
    )
    .unwrap();
    let ing = "
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: app, namespace: app}
spec:
  ingressClassName: nginx
  tls: [{hosts: [app.example], secretName: t}]
  rules:
    - host: app.example
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: app, port: {number: 80}}}}
";
    for split in [false, true] {
        let (out, notes) = run(&p, &text("app.yaml", ing), &nginx(split));
        assert!(!out.contains("level=deny"), "split={split}\n{out}");
        assert!(!notes.iter().any(|n| n.contains("denied")), "{notes:?}");
        assert_eq!(routed_level(&out, "app.example", "/"), "public");
        if split {
            assert_eq!(routed_level(&out, "app.example", "/keys/1"), "hwk");
            assert_eq!(routed_level(&out, "app.example", "/staff"), "staff");
            assert_clean(&p, "app --split", &out);
        }
    }
}

/// Issue 17: Ingresses of a class ingress-nginx does not serve got nginx
/// annotations. They are left unchanged with a note; an IngressClass of
/// the input with controller k8s.io/ingress-nginx makes its class served,
/// and so does --ingress-class.
#[test]
fn regression_unserved_class_gets_no_nginx_annotations() {
    let p = policy("testdata/realworld-policy.yaml");
    let mk = |name: &str, class: &str| {
        format!(
            "apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: {name}, namespace: web}}
spec:
  ingressClassName: {class}
  tls: [{{hosts: [{name}.example], secretName: t}}]
  rules:
    - host: {name}.example
      http:
        paths:
          - {{path: /admin, pathType: Prefix, backend: {{service: {{name: web, port: {{number: 80}}}}}}}}
"
        )
    };
    let class = "apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: public}
spec: {controller: k8s.io/ingress-nginx}
";
    let input = format!(
        "{}---\n{}---\n{class}",
        mk("other", "modsec"),
        mk("mine", "public")
    );
    let (out, notes) = run(&p, &text("in.yaml", &input), &nginx(false));
    let objs = objects(&out);
    let other = find(&objs, "Ingress", "other");
    assert!(other["metadata"]["annotations"].is_null(), "{out}");
    assert!(
        notes.iter().any(|n| n
            .starts_with("web/other: left unchanged (class modsec is not served by ingress-nginx")),
        "{notes:?}"
    );
    let mine = find(&objs, "Ingress", "mine");
    assert_eq!(annotation(mine, "stepup.dev/level"), Some("admin"));
    let opts = Options {
        classes: vec!["modsec".into()],
        ..nginx(false)
    };
    let (out, _) = run(&p, &text("in.yaml", &input), &opts);
    let objs = objects(&out);
    assert_eq!(
        annotation(find(&objs, "Ingress", "other"), "stepup.dev/level"),
        Some("admin")
    );
}

// === (d) idempotence ===

#[test]
fn generating_again_changes_nothing() {
    let shop = policy(SHOP_POLICY);
    let lint_p = policy(LINT_POLICY);
    let cases: Vec<(&Policy, Vec<(String, String)>)> = vec![
        (&shop, inputs("testdata/shop/ingresses")),
        (&shop, text("www.yaml", STOREFRONT)),
        (&lint_p, inputs("testdata/routing/ingresses.yaml")),
        (&lint_p, inputs("testdata/lint/SU002/fires.yaml")),
    ];
    for (p, ins) in &cases {
        for opts in [nginx(false), nginx(true), traefik(false), traefik(true)] {
            let (once, _) = run(p, ins, &opts);
            let (twice, _) = run(p, &text("generated.yaml", &once), &opts);
            assert_eq!(once, twice, "{} {opts:?}", ins[0].0);
        }
    }
}

// === (e) Traefik ===

#[test]
fn traefik_writes_middlewares_and_references_them() {
    let p = policy(SHOP_POLICY);
    let with_mw = STOREFRONT.replace(
        "    nginx.ingress.kubernetes.io/proxy-body-size: 8m\n",
        "    nginx.ingress.kubernetes.io/proxy-body-size: 8m\n    traefik.ingress.kubernetes.io/router.middlewares: shop-compress@kubernetescrd\n",
    );
    let (out, _) = run(&p, &text("www.yaml", &with_mw), &traefik(true));
    let objs = objects(&out);
    let mw = find(&objs, "Middleware", "stepup-authenticated");
    assert_eq!(mw["apiVersion"], "traefik.io/v1alpha1");
    assert_eq!(mw["metadata"]["namespace"], "shop");
    assert_eq!(
        mw["spec"]["forwardAuth"]["address"],
        format!("{AUTH}/auth?level=authenticated")
    );
    assert_eq!(
        mw["spec"]["forwardAuth"]["authResponseHeaders"],
        serde_json::json!([
            "X-Auth-Request-User",
            "X-Auth-Request-Email",
            "X-Auth-Request-Groups",
            "X-Auth-Request-Acr"
        ])
    );
    let auth = find(&objs, "Ingress", "storefront-authenticated");
    assert_eq!(
        annotation(auth, "traefik.ingress.kubernetes.io/router.middlewares"),
        Some("shop-compress@kubernetescrd,shop-stepup-authenticated@kubernetescrd")
    );
    assert_eq!(
        annotation(auth, "nginx.ingress.kubernetes.io/auth-url"),
        None
    );
    assert_eq!(annotation(auth, "stepup.dev/level"), Some("authenticated"));
    // The public part keeps only the user's middleware.
    let public = find(&objs, "Ingress", "storefront");
    assert_eq!(
        annotation(public, "traefik.ingress.kubernetes.io/router.middlewares"),
        Some("shop-compress@kubernetescrd")
    );
    // Middlewares come last, one per namespace and level.
    let last = docs(&out).last().cloned().unwrap();
    assert_eq!(last["kind"], "Middleware");
    assert_eq!(objs.iter().filter(|o| o["kind"] == "Middleware").count(), 1);

    // The shop: one Middleware per namespace and level.
    let (out, _) = run(&p, &inputs("testdata/shop/ingresses"), &traefik(false));
    let mws: BTreeSet<(String, String)> = objects(&out)
        .iter()
        .filter(|o| o["kind"] == "Middleware")
        .map(|o| {
            (
                o["metadata"]["namespace"].as_str().unwrap().to_string(),
                o["metadata"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // payments-api's input auth-url says level=mfa, which generate keeps
    // (it raises levels, never lowers them), so shop gets stepup-mfa too.
    let want: BTreeSet<(String, String)> = [
        ("monitoring", "stepup-ops"),
        ("shop", "stepup-admin"),
        ("shop", "stepup-authenticated"),
        ("shop", "stepup-mfa"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(mws, want);
    let objs = objects(&out);
    let grafana = find(&objs, "Ingress", "grafana");
    assert_eq!(
        annotation(grafana, "traefik.ingress.kubernetes.io/router.middlewares"),
        Some("monitoring-stepup-ops@kubernetescrd")
    );
    // stepup's nginx annotations from the input are replaced.
    assert_eq!(
        annotation(grafana, "nginx.ingress.kubernetes.io/auth-url"),
        None
    );
}

// === (f) other documents ===

#[test]
fn other_documents_pass_through_in_order() {
    let p = policy(SHOP_POLICY);
    let input = format!(
        "# a comment (not kept)
apiVersion: v1
kind: ConfigMap
metadata: {{name: cfg, namespace: shop}}
data: {{flag: \"on\", mode: \"0755\", when: \"2024-01-01\", n: \"12\"}}
---
apiVersion: v1
kind: List
metadata: {{}}
items:
  - apiVersion: v1
    kind: Service
    metadata: {{name: web, namespace: shop}}
    spec: {{ports: [{{port: 80}}]}}
{}
  - apiVersion: apps/v1
    kind: Deployment
    metadata: {{name: web, namespace: shop}}
---
apiVersion: v1
kind: Secret
metadata: {{name: s, namespace: shop}}
stringData: {{password: \"yes\"}}
",
        STOREFRONT
            .trim_start()
            .lines()
            .enumerate()
            .map(|(i, l)| if i == 0 {
                format!("  - {l}")
            } else {
                format!("    {l}")
            })
            .collect::<Vec<_>>()
            .join("\n")
    );
    let input_docs = docs(&input);
    let (out, _) = run(&p, &text("all.yaml", &input), &nginx(true));
    let out_docs = docs(&out);
    assert_eq!(out_docs[0], input_docs[0], "ConfigMap unchanged");
    assert_eq!(out_docs[2], input_docs[2], "Secret unchanged");
    // YAML 1.1 readers (kubectl) must read the same strings.
    assert!(out.contains("flag: 'on'"), "{out}");
    assert!(out.contains("password: 'yes'"), "{out}");
    assert!(out.contains("mode: '0755'"), "{out}");
    // The List stays a List, its items in order, the Ingress split in place.
    let list = &out_docs[1];
    assert_eq!(list["kind"], "List");
    let kinds: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{}/{}",
                i["kind"].as_str().unwrap(),
                i["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "Service/web",
            "Ingress/storefront",
            "Ingress/storefront-authenticated",
            "Deployment/web"
        ]
    );
    assert_eq!(list["items"][0], input_docs[1]["items"][0]);
    assert_eq!(list["items"][3], input_docs[1]["items"][2]);
    // Then the sign-in Ingress, last.
    assert_eq!(out_docs.len(), 4);
    assert_eq!(
        out_docs[3]["metadata"]["name"],
        "stepup-signin-www-shop-example"
    );
    // Comments are not kept.
    assert!(!out.contains("a comment"));
}

#[test]
fn ingress_list_items_without_kind_are_processed() {
    let p = policy(SHOP_POLICY);
    let input = r#"{"apiVersion":"networking.k8s.io/v1","kind":"IngressList","items":[
      {"metadata":{"name":"acct","namespace":"shop"},
       "spec":{"ingressClassName":"nginx","tls":[{"hosts":["www.shop.example"],"secretName":"www-tls"}],
               "rules":[{"host":"www.shop.example","http":{"paths":[
                 {"path":"/account","pathType":"Prefix","backend":{"service":{"name":"a","port":{"number":80}}}}]}}]}}]}"#;
    let (out, _) = run(&p, &text("list.json", input), &nginx(false));
    let d = docs(&out);
    assert_eq!(d[0]["kind"], "IngressList");
    let item = &d[0]["items"][0];
    assert!(item["kind"].is_null(), "items keep their shape");
    assert_eq!(annotation(item, "stepup.dev/level"), Some("authenticated"));
    assert_clean(&p, "IngressList", &out);
}

// === what generate leaves alone, and input errors ===

#[test]
fn stale_stepup_annotations_go_user_annotations_stay() {
    let p = policy(SHOP_POLICY);
    let input = format!(
        "apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: front
  namespace: shop
  annotations:
    nginx.ingress.kubernetes.io/auth-url: \"{AUTH}/auth?level=retired&rule=old\"
    nginx.ingress.kubernetes.io/auth-signin: \"https://$host/.stepup/signin?level=retired\"
    nginx.ingress.kubernetes.io/auth-response-headers: X-Auth-Request-User
    stepup.dev/level: retired
    stepup.dev/rule: old
    stepup.dev/ignore: \"SU013: TLS ends at the load balancer\"
    nginx.ingress.kubernetes.io/ssl-redirect: \"true\"
spec:
  ingressClassName: nginx
  rules:
    - host: www.shop.example
      http:
        paths:
          - {{path: /products, pathType: Prefix, backend: {{service: {{name: p, port: {{number: 80}}}}}}}}
"
    );
    let (out, _) = run(&p, &text("front.yaml", &input), &nginx(false));
    let objs = objects(&out);
    let front = find(&objs, "Ingress", "front");
    let keys: Vec<&str> = front["metadata"]["annotations"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "stepup.dev/ignore",
            "nginx.ingress.kubernetes.io/ssl-redirect"
        ],
        "{out}"
    );
}

/// An explicit level on stepup's auth-url is a floor: generate keeps one
/// stronger than the policy asks (with a note) and raises a weaker one;
/// it never lowers a level. (A level the policy does not define is
/// replaced, above: `/auth` refuses it.)
#[test]
fn explicit_stronger_level_is_kept_weaker_is_raised() {
    let p = policy(SHOP_POLICY);
    let mk = |name: &str, host: &str, path: &str, level: &str| {
        format!(
            "apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {name}
  namespace: shop
  annotations:
    nginx.ingress.kubernetes.io/auth-url: \"{AUTH}/auth?level={level}\"
spec:
  ingressClassName: nginx
  tls: [{{hosts: [{host}], secretName: t}}]
  rules:
    - host: {host}
      http:
        paths:
          - {{path: {path}, pathType: Prefix, backend: {{service: {{name: {name}, port: {{number: 80}}}}}}}}
"
        )
    };
    // /products is public by policy; the console needs admin.
    let input = format!(
        "{}---\n{}",
        mk("catalog", "www.shop.example", "/products", "admin"),
        mk("console", "admin.shop.example", "/", "authenticated")
    );
    let (out, notes) = run(&p, &text("levels.yaml", &input), &nginx(false));
    let objs = objects(&out);
    let level = |name: &str| {
        annotation(find(&objs, "Ingress", name), "stepup.dev/level").map(str::to_string)
    };
    assert_eq!(level("catalog").as_deref(), Some("admin"), "{out}");
    let url = annotation(
        find(&objs, "Ingress", "catalog"),
        "nginx.ingress.kubernetes.io/auth-url",
    )
    .unwrap_or_default()
    .to_string();
    assert!(url.contains("level=admin"), "{url}");
    assert!(
        notes
            .iter()
            .any(|n| n.contains("shop/catalog: keeps its auth-url level admin")),
        "{notes:?}"
    );
    // The console's `/` also serves /admin (admin): without --split its
    // level is left as written (not raised to the strictest, issue 17),
    // and the note says to split; --split carves /admin out at admin.
    assert_eq!(level("console").as_deref(), Some("authenticated"), "{out}");
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("shop/console:") && n.contains("/admin Prefix admin")),
        "{notes:?}"
    );
    let (split, _) = run(&p, &text("levels.yaml", &input), &nginx(true));
    assert_eq!(
        routed_level(&split, "admin.shop.example", "/admin"),
        "admin"
    );
    assert_eq!(
        routed_level(&split, "admin.shop.example", "/"),
        "authenticated"
    );
    // Generating again changes nothing.
    let (again, _) = run(&p, &text("out.yaml", &out), &nginx(false));
    assert_eq!(again, out);
}

#[test]
fn foreign_auth_canary_and_exempt_are_left_alone() {
    let p = policy(SHOP_POLICY);
    let input = "apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: sso
  namespace: shop
  annotations:
    nginx.ingress.kubernetes.io/auth-url: https://oauth2-proxy.example/oauth2/auth
spec:
  rules:
    - host: admin.shop.example
      http:
        paths:
          - {path: /admin, pathType: Prefix, backend: {service: {name: a, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: exempt
  namespace: shop
  annotations:
    stepup.dev/exempt: \"internal load test, firewalled\"
spec:
  rules:
    - host: load.shop.example
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: l, port: {number: 80}}}}
";
    let input_docs = docs(input);
    let (out, notes) = run(&p, &text("x.yaml", input), &nginx(false));
    let out_docs = docs(&out);
    assert_eq!(out_docs, input_docs);
    assert!(
        notes
            .iter()
            .any(|n| n.contains("shop/sso") && n.contains("another auth service")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("shop/exempt") && n.contains("stepup.dev/exempt")),
        "{notes:?}"
    );
}

#[test]
fn old_api_versions_are_input_errors() {
    let p = policy(SHOP_POLICY);
    let e = generate(
        &p,
        &text(
            "old.yaml",
            "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata: {name: old}\n",
        ),
        &nginx(false),
    )
    .unwrap_err();
    assert!(e.primary.starts_with("old.yaml:1:"), "{e}");
    assert!(e.primary.contains("networking.k8s.io/v1 only"), "{e}");
}

#[test]
fn auth_url_passes_ingress_nginx_validation() {
    let p = policy(SHOP_POLICY);
    let (out, _) = run(&p, &inputs("testdata/shop/ingresses"), &nginx(true));
    let mut seen = BTreeMap::new();
    for o in objects(&out) {
        for key in [
            "nginx.ingress.kubernetes.io/auth-url",
            "nginx.ingress.kubernetes.io/auth-signin",
        ] {
            if let Some(u) = annotation(&o, key) {
                assert!(
                    u.chars()
                        .all(stepup::controllers::ingress_nginx::annotations::is_nginx_url_char),
                    "{key}: {u}"
                );
                seen.insert(key, u.to_string());
            }
        }
    }
    assert_eq!(seen.len(), 2);
}

#[test]
fn protecting_without_auth_service_is_an_input_error() {
    let p = stepup::policy::parse(
        "p.yaml",
        "apiVersion: stepup.dev/v1alpha1
kind: StepUpPolicy
metadata: {name: p}
spec:
  rules:
    - {name: public, paths: [/public/**], level: public}
  default: authenticated
",
    )
    .unwrap();
    let e = generate(&p, &text("www.yaml", STOREFRONT), &nginx(true)).unwrap_err();
    assert!(e.primary.starts_with("p.yaml:"), "{e}");
    assert!(e.primary.contains("authService"), "{e}");
    // Nothing to protect: no error, the Ingress is carried over.
    let only_public = STOREFRONT.replace("path: /account", "path: /public/a");
    let p2 = stepup::policy::parse(
        "p.yaml",
        "apiVersion: stepup.dev/v1alpha1
kind: StepUpPolicy
metadata: {name: p}
spec:
  rules:
    - {name: public, paths: [/, /**], level: public}
  default: authenticated
",
    )
    .unwrap();
    let (out, _) = run(&p2, &text("www.yaml", &only_public), &nginx(true));
    assert_eq!(objects(&out).len(), 1);
}

// === (e) the real-world corpus ===

/// Every corpus file the loader reads (hidden folders included), one run
/// each: several repositories reuse Ingress names across example folders.
fn realworld_files() -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            ) {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root().join("testdata/realworld"), &mut files);
    files
        .into_iter()
        .map(|f| f.strip_prefix(root()).unwrap().display().to_string())
        .collect()
}

/// The policy's request paths to check on a host: each rule path (an exact
/// one, and for `/x/**` both `/x` and a path below it), `/` and a path no
/// rule names.
fn policy_samples(p: &Policy) -> Vec<String> {
    let mut out = vec!["/".to_string(), "/stepup-probe".to_string()];
    for r in &p.rules {
        for g in &r.paths {
            match g.literal() {
                Some(l) => out.push(l.to_string()),
                None => {
                    let lp = g.literal_prefix();
                    out.push(lp.clone());
                    out.push(format!("{}/stepup-probe", lp.trim_end_matches('/')));
                }
            }
        }
    }
    out
}

/// Issue 17, end to end: `generate --split` over the real-world corpus with
/// a realistic policy (public sites, admin consoles, payments, APIs), then
/// lint of the output: no exposure (SU001) and no over-protection (SU028,
/// matched by ID). And routing the output gives each policy path of every
/// host exactly its level, wherever the route is one generate protects (not
/// another auth service's, not an Ingress the controller drops).
#[test]
fn realworld_corpus_split_output_enforces_exactly_the_policy() {
    let p = policy("testdata/realworld-policy.yaml");
    let samples = policy_samples(&p);
    let mut generated = 0;
    let mut routes_checked = 0;
    let mut failures = Vec::new();
    for file in realworld_files() {
        let ins = inputs(&file);
        let Ok((out, _)) = generate(&p, &ins, &nginx(true)) else {
            // Input errors (placeholder hosts such as `__INGRESS_HOST__`)
            // are the loader's to report.
            continue;
        };
        generated += 1;
        let r = lint_text(&p, &out);
        let bad: Vec<_> = r
            .findings
            .iter()
            .filter(|f| matches!(f.rule, "SU001" | "SU028"))
            .cloned()
            .collect();
        if !bad.is_empty() {
            failures.push(format!(
                "{file}:\n{}",
                describe(&Report {
                    findings: bad,
                    ..Report::default()
                })
            ));
        }
        let mut loaded = Loaded::default();
        load_text("out.yaml", &out, &mut loaded, &mut HashMap::new()).unwrap();
        let t = RouteTable::build(loaded.ingresses, &routing::Controller::watching_classless())
            .unwrap();
        for s in &t.servers {
            let host = if s.name == routing::CATCH_ALL {
                "stepup-probe.invalid".to_string()
            } else if let Some(rest) = s.name.strip_prefix("*.") {
                format!("stepup-probe.{rest}")
            } else {
                s.name.clone()
            };
            for path in &samples {
                let routed = t.route(&host, path.as_bytes());
                let Some(l) = routed.location() else { continue };
                let Some(ing) = l.ingress.and_then(|i| t.ingresses.get(i)) else {
                    continue;
                };
                let level = ing.annotations.get("stepup.dev/level");
                let foreign = level.is_none()
                    && ing
                        .annotations
                        .keys()
                        .any(|k| k.ends_with("/auth-url") || k.ends_with("/auth-type"));
                if foreign || l.is_default || l.backend == stepup::ingress::Backend::Default {
                    continue;
                }
                let want = p.rule_for(&host, "GET", &routed.uri, s.regex_mode).need;
                let have = level.map_or("public", String::as_str);
                routes_checked += 1;
                if have != want.label() {
                    failures.push(format!(
                        "{file}: {host}{path} is routed to {} at {have}, the policy says {}",
                        ing.key(),
                        want.label()
                    ));
                }
            }
        }
    }
    assert!(generated >= 40, "only {generated} corpus files generated");
    // Measured at this commit: 47 files, 160 routes (the rest are other
    // classes, other auth services, or Ingresses the controller drops).
    println!("{generated} corpus files generated, {routes_checked} routes checked");
    assert!(
        routes_checked >= 150,
        "only {routes_checked} routes checked"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// === (f) what cannot be carved ===

const WILDCARD_POLICY: &str = "apiVersion: stepup.dev/v1alpha1
kind: StepUpPolicy
metadata: {name: t}
spec:
  authService: {url: 'http://stepup.stepup-system.svc.cluster.local:8080'}
  levels:
    - {name: authenticated}
    - {name: mfa, acr: [urn:mfa]}
    - {name: admin, extends: mfa, claims: {groups: [admins]}}
  rules:
    - {name: tenant-admin, paths: [/api/*/admin], level: admin}
    - {name: deep, paths: ['/*/secret/**'], level: admin}
    - {name: pay, paths: [/pay/**], methods: [POST], level: mfa}
    - {name: api, paths: [/api/**], level: authenticated}
  default: public
";

const SITE_A: &str = "
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: site, namespace: web}
spec:
  ingressClassName: nginx
  tls: [{hosts: [a.example], secretName: t}]
  rules:
    - host: a.example
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
";

/// Patterns no Ingress path can write are not dropped silently. A `*`
/// before the end is carved at its literal start (`/api/*/admin` →
/// `Prefix /api` at admin), which over-protects the rest of /api; a note
/// says so. When the literal start is the catch-all itself (`/*/secret/**`)
/// the public `/` is not raised: the note says the pattern is exposed, and
/// lint reports exactly that (it now probes a path such a pattern matches:
/// before, its probe `/stepup-probe` missed it and nobody said anything);
/// both name the policy's pattern, never the probe path. A
/// POST-only rule is carved at its level (nginx cannot tell methods apart),
/// over-protecting GET there, with a note.
#[test]
fn regression_unwritable_patterns_fall_back_with_a_note() {
    let p = stepup::policy::parse("p.yaml", WILDCARD_POLICY).unwrap();
    let (out, notes) = run(&p, &text("site.yaml", SITE_A), &nginx(true));
    assert_eq!(routed_level(&out, "a.example", "/"), "public");
    assert_eq!(routed_level(&out, "a.example", "/api/t1/admin"), "admin");
    assert_eq!(routed_level(&out, "a.example", "/api/orders"), "admin");
    assert_eq!(routed_level(&out, "a.example", "/pay/x"), "mfa");
    assert!(
        notes.iter().any(|n| n.contains("pattern /api/*/admin cannot be written as an Ingress path; its literal start /api (Prefix) is protected at admin")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("/*/secret/** needs admin")
                && n.contains("is exposed; lint reports it")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("GET /pay needs nothing") && n.contains("over-protected")),
        "{notes:?}"
    );
    let r = lint_text(&p, &out);
    let su001: Vec<&str> = r
        .findings
        .iter()
        .filter(|f| f.rule == "SU001")
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(su001.len(), 1, "{}", describe(&r));
    assert!(
        su001[0].contains("/*/secret/**") && !su001[0].contains("stepup-probe"),
        "{}",
        su001[0]
    );
}

/// In regex mode (use-regex on the host) every location is `~* "^path"`,
/// tried longest first: the carved paths are longer than `/`, so they win,
/// and the plan settles (an `Exact` beside a `Prefix` of the same path is
/// the same regex there, so it is not cut).
#[test]
fn regression_split_in_regex_mode_carves_win_and_the_plan_settles() {
    let p = policy("testdata/realworld-policy.yaml");
    let ing = SITE_A.replace(
        "metadata: {name: site, namespace: web}",
        "metadata: {name: site, namespace: web, annotations: {nginx.ingress.kubernetes.io/use-regex: \"true\"}}",
    );
    let (out, notes) = run(&p, &text("site.yaml", &ing), &nginx(true));
    assert!(
        !notes.iter().any(|n| n.contains("did not settle")),
        "{notes:?}"
    );
    for (path, level) in [
        ("/", "public"),
        ("/ADMIN/x", "admin"),
        ("/admin", "admin"),
        ("/payments/1", "mfa"),
        ("/api/payments", "mfa"),
        ("/api/x", "authenticated"),
        ("/healthz", "public"),
    ] {
        assert_eq!(
            routed_level(&out, "a.example", path),
            level,
            "{path}\n{out}"
        );
    }
    let r = lint_text(&p, &out);
    assert!(
        !r.findings
            .iter()
            .any(|f| matches!(f.rule, "SU001" | "SU002" | "SU028")),
        "{}",
        describe(&r)
    );
}

/// A policy rule bound to a host that a host-less (catch-all) or wildcard
/// Ingress serves among others cannot be written as an Ingress path, and
/// lint's probes (one sample host per server) never see it: it was
/// dropped without a word. Now a note names the rule, the host and the fix.
#[test]
fn regression_host_bound_rule_on_a_catch_all_is_noted() {
    let p = stepup::policy::parse(
        "p.yaml",
        "apiVersion: stepup.dev/v1alpha1
kind: StepUpPolicy
metadata: {name: p}
spec:
  authService: {url: 'http://stepup.stepup-system.svc.cluster.local:8080'}
  levels: [{name: admin, acr: [urn:admin]}]
  rules:
    - {name: console, hosts: [console.example.com], paths: ['/**'], level: admin}
  default: public
",
    )
    .unwrap();
    for host in ["", "host: '*.example.com'"] {
        let ing = format!(
            "apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: any, namespace: web}}
spec:
  ingressClassName: nginx
  rules:
    - {host}
      http:
        paths:
          - {{path: /, pathType: Prefix, backend: {{service: {{name: web, port: {{number: 80}}}}}}}}
"
        );
        let (_, notes) = run(&p, &text("any.yaml", &ing), &nginx(true));
        assert!(
            notes.iter().any(|n| n.starts_with("web/any: host")
                && n.contains("also serves console.example.com where policy rule console applies")),
            "{host:?}: {notes:?}"
        );
    }
}

const OTHER_AUTH_POLICY: &str = "apiVersion: stepup.dev/v1alpha1
kind: StepUpPolicy
metadata: {name: t}
spec:
  authService: {url: 'http://stepup.stepup-system.svc.cluster.local:8080'}
  levels:
    - {name: authenticated}
    - {name: admin, claims: {groups: [admins]}}
  rules:
    - {name: admin, paths: ['/admin/**', '/assets/admin/**'], level: admin}
    - {name: health, paths: [/healthz, '/static/**', '/assets/**'], level: public}
    - {name: feed, paths: [/feed], methods: [GET], level: public}
  default: authenticated
";

/// An Ingress left unchanged because another auth service protects it
/// (oauth2-proxy's auth-url on `Prefix /`).
const OTHER_AUTH_SITE: &str = "apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: site
  namespace: web
  annotations:
    nginx.ingress.kubernetes.io/auth-url: https://oauth2-proxy.example/oauth2/auth
    nginx.ingress.kubernetes.io/auth-signin: https://oauth2-proxy.example/oauth2/start
    nginx.ingress.kubernetes.io/proxy-body-size: 8m
spec:
  ingressClassName: nginx
  rules:
    - host: a.example
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
";

/// Another auth service's auth-url over paths a `public` rule names (the
/// load balancer's /healthz, the assets) is over-protection (SU028) that
/// took the health check down; generate left the Ingress unchanged and
/// lint of its output reported it (3 real repositories of the corpus).
/// With --split those paths are served from `<name>-public` without the
/// auth annotations; the rest keeps the other auth. Not carved: a public
/// rule for GET only (other methods keep the auth) and a `/**` pattern with
/// a stricter earlier rule below it (`/assets/admin/**`).
#[test]
fn regression_public_paths_leave_other_auth() {
    let p = stepup::policy::parse("p.yaml", OTHER_AUTH_POLICY).unwrap();
    let input = text("site.yaml", OTHER_AUTH_SITE);
    let before = lint_text(&p, OTHER_AUTH_SITE);
    assert!(
        before.findings.iter().any(|f| f.rule == "SU028"),
        "{}",
        describe(&before)
    );

    let (out, notes) = run(&p, &input, &nginx(true));
    let objs = objects(&out);
    let site = find(&objs, "Ingress", "site");
    assert_eq!(
        docs(&out)[0],
        docs(OTHER_AUTH_SITE)[0],
        "the source is unchanged"
    );
    assert!(annotation(site, "nginx.ingress.kubernetes.io/auth-url").is_some());
    let public = find(&objs, "Ingress", "site-public");
    assert_eq!(paths(public), ["/healthz", "/static"], "{out}");
    let keys: Vec<&String> = public["metadata"]["annotations"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    assert!(keys.iter().all(|k| !k.contains("/auth-")), "{keys:?}");
    assert_eq!(
        annotation(public, "nginx.ingress.kubernetes.io/proxy-body-size"),
        Some("8m"),
        "other annotations are kept"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("web/site:") && n.contains("site-public")),
        "{notes:?}"
    );
    // What is left over-protected is what carving would expose.
    let r = lint_text(&p, &out);
    let over: Vec<&str> = r
        .findings
        .iter()
        .filter(|f| f.rule == "SU028")
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(over.len(), 1, "{}", describe(&r));
    assert!(
        over[0].ends_with("/assets/** (policy rule health); /feed (policy rule feed)"),
        "{}",
        over[0]
    );

    // Another Ingress of the host puts it in regex mode: every path is a
    // regex there (`^/healthz` matches `/healthzx`), so nothing is carved.
    let regex = format!(
        "{OTHER_AUTH_SITE}---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: legacy
  namespace: web
  annotations: {{nginx.ingress.kubernetes.io/use-regex: \"True\"}}
spec:
  ingressClassName: nginx
  rules:
    - host: a.example
      http:
        paths:
          - {{path: /old, pathType: Prefix, backend: {{service: {{name: old, port: {{number: 80}}}}}}}}
"
    );
    let (out, _) = run(&p, &text("site.yaml", &regex), &nginx(true));
    assert!(
        objects(&out)
            .iter()
            .all(|o| o["metadata"]["name"] != "site-public"),
        "{out}"
    );

    // Without --split: unchanged, and a note says what --split would do.
    let (out, notes) = run(&p, &input, &nginx(false));
    assert_eq!(docs(&out), docs(OTHER_AUTH_SITE));
    assert!(
        notes
            .iter()
            .any(|n| n.contains("/healthz") && n.contains("--split serves them")),
        "{notes:?}"
    );
}
