//! `stepup generate` through its library API ([`stepup::generate::generate`]):
//! the output lints clean on every testdata set (where the input holds
//! nothing generate deliberately leaves alone), is deterministic and
//! idempotent, splits per level, writes Traefik Middlewares, and carries
//! other documents through.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde_json::Value;
use stepup::generate::{Controller, Options, generate};
use stepup::ingress::{Loaded, load_text};
use stepup::lint::{Options as LintOptions, Report, Severity, lint};
use stepup::policy::Policy;
use stepup::routing::{self, RouteTable};

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
    }
}

fn traefik(split: bool) -> Options {
    Options {
        controller: Controller::Traefik,
        split,
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
    // generate does not change an Ingress's class, and does not move the
    // public paths of a protected location onto an Ingress of their own.
    "SU025", "SU028",
];

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
/// output leaves no route unprotected there, whatever else (no TLS Secrets,
/// regex paths) it cannot fix.
#[test]
fn routing_corpus_has_no_exposed_route_after_generate() {
    for pol in [LINT_POLICY, SHOP_POLICY] {
        let p = policy(pol);
        for split in [false, true] {
            let (out, _) = run(
                &p,
                &inputs("testdata/routing/ingresses.yaml"),
                &nginx(split),
            );
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

#[test]
fn without_split_mixed_levels_take_the_strictest_with_a_note() {
    let p = policy(SHOP_POLICY);
    let (out, notes) = run(&p, &text("www.yaml", STOREFRONT), &nginx(false));
    let objs = objects(&out);
    let ing = find(&objs, "Ingress", "storefront");
    assert_eq!(paths(ing), ["/", "/account", "/static"]);
    assert_eq!(annotation(ing, "stepup.dev/level"), Some("authenticated"));
    let note = notes
        .iter()
        .find(|n| n.contains("mixes levels"))
        .unwrap_or_else(|| panic!("{notes:?}"));
    assert!(note.contains("--split"), "{note}");
    assert!(note.contains("now require a login"), "{note}");
    // lint agrees: a warning (SU002), no error.
    let r = lint_text(&p, &out);
    assert_eq!(r.count(Severity::Error), 0, "{}", describe(&r));
    assert!(
        r.findings.iter().all(|f| f.rule == "SU002"),
        "{}",
        describe(&r)
    );
}

/// A `Prefix /` also serves every path no other Ingress of the host defines:
/// it is tightened to what those need, with a note naming one of them.
#[test]
fn prefix_root_is_tightened_by_what_it_also_serves() {
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
    // Policy: `/` itself is public (rule public), but /admin needs admin
    // and unknown paths need authenticated (default).
    let (out, notes) = run(&p, &text("web.yaml", ing), &nginx(false));
    // No error; lint warns (SU028) that `/`, /static/** and /healthz, which
    // the policy names public, are now behind admin too: only an Ingress of
    // their own would keep them public, and generate does not add one.
    let r = lint_text(&p, &out);
    assert!(
        r.findings.iter().all(|f| f.rule == "SU028"),
        "{}",
        describe(&r)
    );
    assert_eq!(r.findings.len(), 1, "{}", describe(&r));
    let objs = objects(&out);
    assert_eq!(
        annotation(find(&objs, "Ingress", "web"), "stepup.dev/level"),
        Some("admin")
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("web/web path shop.example.com/ (Prefix)")
                && n.contains("/admin (needs admin)")
                && n.ends_with("protected at admin")),
        "{notes:?}"
    );
    // Notes name the policy's paths, never probe samples (issue 17).
    assert!(
        notes.iter().all(|n| !n.contains("stepup-probe")),
        "{notes:?}"
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
    assert_eq!(level("console").as_deref(), Some("admin"), "{out}");
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
                    u.chars().all(stepup::annotations::is_nginx_url_char),
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
    let e = generate(&p, &text("www.yaml", STOREFRONT), &nginx(false)).unwrap_err();
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
