//! `cargo bench --bench core`: load, route lookup and `decide` on a
//! generated cluster of 10,000 Ingresses (and of 100, for the scaling ratio).
//!
//! Everything is generated here, deterministically (no files, no clock, no
//! randomness), so two runs measure the same work. Each group also measures a
//! baseline in the same run (a plain `HashMap` host lookup, `serde_json` on
//! the same objects), so figures can be read as ratios as well as absolute
//! times. BENCHMARKS.md records the figures and how to read them.
//!
//! The cluster: N Ingresses over N/4 hosts (4 Ingresses per host), each host
//! served by
//! - a "web" Ingress: `/` Prefix, `/static` ImplementationSpecific,
//!   `/healthz` Exact, TLS; stepup `level=authenticated` on every other host;
//! - an "admin" Ingress: `/admin` Prefix, `/admin/audit` Exact, stepup
//!   `level=admin` (none on every 10th host: exposed), `auth-signin` on some;
//! - an "api" Ingress: `/api` ImplementationSpecific, `/api/payments` Prefix,
//!   stepup `level=mfa`;
//! - an "app" Ingress: `/app-<i>` Prefix and `/app-<i>/v1/items` Exact, or a
//!   `use-regex: "true"` Ingress with `/app-<i>/v[0-9]+/items` (every 25th
//!   host: the whole host is then in regex mode), an oauth2-proxy auth-url on
//!   every 7th host, and an Ingress of another class on every 100th.
//!
//! Every 20th host is a wildcard (`*.apps-<h>.example.com`).

use std::cell::OnceCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};

use stepup::claims::Claims;
use stepup::controllers::ingress_nginx::annotations::auth_of;
use stepup::controllers::ingress_nginx::routing::{Controller, RouteTable};
use stepup::decision::{Request, Route, Verdict, check, decide, decide_fast};
use stepup::ingress::{Ingress, Loaded, load_text};
use stepup::policy::{Policy, parse};
use stepup::simulate::{ClaimsInput, run};

/// The simulation clock (seconds since the epoch).
const NOW: i64 = 1_750_000_000;
/// Requests in one lookup iteration (times below are divided by this).
const MIX: usize = 256;
const STEPUP: &str = "http://stepup.stepup-system.svc.cluster.local:8080/auth";

// === cluster generation ===

fn is_wildcard(h: usize) -> bool {
    h % 20 == 3
}

fn is_regex(h: usize) -> bool {
    h % 25 == 11
}

/// The host as written in the Ingress.
fn host_name(h: usize) -> String {
    if is_wildcard(h) {
        format!("*.apps-{h}.example.com")
    } else {
        format!("svc-{h}.team-{}.example.com", h % 50)
    }
}

/// A Host header that reaches host `h` (`r` varies the wildcard label, case
/// and port, as clients do).
fn host_header(h: usize, r: usize) -> String {
    if is_wildcard(h) {
        format!("u{r}.apps-{h}.example.com")
    } else if r % 5 == 0 {
        format!("SVC-{h}.team-{}.example.com:443", h % 50)
    } else {
        host_name(h)
    }
}

fn path_entry(out: &mut String, path: &str, path_type: &str, service: &str, port: u32) {
    let _ = write!(
        out,
        "          - path: {path}\n            pathType: {path_type}\n            backend:\n              service:\n                name: {service}\n                port:\n                  number: {port}\n"
    );
}

/// One Ingress as YAML (a document, without the `---`).
fn ingress_yaml(out: &mut String, i: usize, hosts: usize) {
    let h = i % hosts;
    let role = (i / hosts) % 4;
    let ns = format!("team-{}", h % 50);
    let name = ["web", "admin", "api", "app"][role];
    let _ = write!(
        out,
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}-{i}\n  namespace: {ns}\n  \
         creationTimestamp: \"2024-{:02}-{:02}T{:02}:{:02}:{:02}Z\"\n  labels:\n    app.kubernetes.io/name: {name}\n    \
         app.kubernetes.io/instance: {name}-{i}\n",
        1 + (i / 100_000) % 12,
        1 + (i / 3600) % 28,
        (i / 60) % 24,
        i % 60,
        (i * 7) % 60,
    );
    let mut ann: Vec<(&str, String)> =
        vec![("nginx.ingress.kubernetes.io/proxy-body-size", "8m".into())];
    match role {
        0 if h % 2 == 0 => ann.push(("auth-url", format!("{STEPUP}?level=authenticated&rule=web"))),
        1 if h % 10 != 0 => {
            ann.push((
                "auth-url",
                format!("{STEPUP}?level=admin&rule=admin-console"),
            ));
            if h % 3 == 0 {
                ann.push((
                    "auth-signin",
                    "https://$host/.stepup/start?rd=$escaped_request_uri".into(),
                ));
            }
            ann.push((
                "auth-response-headers",
                "X-Auth-Request-User, X-Auth-Request-Groups".into(),
            ));
        }
        2 => ann.push(("auth-url", format!("{STEPUP}?level=mfa&rule=payments"))),
        3 => {
            if is_regex(h) {
                ann.push(("use-regex", "true".into()));
            }
            if h % 7 == 0 {
                ann.push(("auth-url", "https://$host/oauth2/auth".into()));
                ann.push((
                    "auth-signin",
                    "https://$host/oauth2/start?rd=$escaped_request_uri".into(),
                ));
            }
        }
        _ => {}
    }
    out.push_str("  annotations:\n");
    for (k, v) in &ann {
        let key = if k.contains('/') {
            (*k).to_string()
        } else {
            format!("nginx.ingress.kubernetes.io/{k}")
        };
        let _ = writeln!(out, "    {key}: \"{v}\"");
    }
    let class = if role == 3 && h % 100 == 42 {
        "traefik"
    } else {
        "nginx"
    };
    let host = host_name(h);
    let _ = writeln!(out, "spec:\n  ingressClassName: {class}");
    if role == 0 {
        let _ = writeln!(
            out,
            "  tls:\n    - hosts: [\"{host}\"]\n      secretName: tls-{h}"
        );
    }
    let _ = write!(
        out,
        "  rules:\n    - host: \"{host}\"\n      http:\n        paths:\n"
    );
    match role {
        0 => {
            path_entry(out, "/", "Prefix", &format!("web-{h}"), 80);
            path_entry(
                out,
                "/static",
                "ImplementationSpecific",
                &format!("cdn-{h}"),
                80,
            );
            path_entry(out, "/healthz", "Exact", &format!("web-{h}"), 8081);
        }
        1 => {
            path_entry(out, "/admin", "Prefix", &format!("admin-{h}"), 8080);
            path_entry(out, "/admin/audit", "Exact", &format!("audit-{h}"), 8080);
        }
        2 => {
            path_entry(
                out,
                "/api",
                "ImplementationSpecific",
                &format!("api-{h}"),
                8080,
            );
            path_entry(
                out,
                "/api/payments",
                "Prefix",
                &format!("payments-{h}"),
                8443,
            );
        }
        _ if is_regex(h) => {
            path_entry(
                out,
                &format!("/app-{i}/v[0-9]+/items"),
                "ImplementationSpecific",
                &format!("app-{i}"),
                80,
            );
            path_entry(out, &format!("/app-{i}"), "Prefix", &format!("app-{i}"), 80);
        }
        _ => {
            path_entry(out, &format!("/app-{i}"), "Prefix", &format!("app-{i}"), 80);
            path_entry(
                out,
                &format!("/app-{i}/v1/items"),
                "Exact",
                &format!("items-{i}"),
                80,
            );
        }
    }
}

/// Multi-document YAML of `n` Ingresses over `n / 4` hosts.
fn cluster_yaml(n: usize) -> String {
    let hosts = (n / 4).max(1);
    let mut out = String::with_capacity(n * 1024);
    for i in 0..n {
        out.push_str("---\n");
        ingress_yaml(&mut out, i, hosts);
    }
    out
}

fn load(text: &str) -> Vec<Ingress> {
    let mut loaded = Loaded::default();
    load_text("cluster.yaml", text, &mut loaded, &mut HashMap::new())
        .expect("generated YAML loads");
    loaded.ingresses
}

fn build(ingresses: Vec<Ingress>) -> RouteTable {
    RouteTable::build(ingresses, &Controller::default()).expect("generated cluster builds")
}

/// The same cluster as one JSON array (baseline: `serde_json` on the same
/// objects, no line tracking, no model).
fn cluster_json(text: &str) -> String {
    let docs = stepup::source::parse_documents(text).expect("generated YAML parses");
    serde_json::to_string(&Value::Array(docs.into_iter().map(|d| d.value).collect()))
        .expect("serialises")
}

/// The same cluster as one `kind: List` document (`kubectl get ingress -A -o
/// yaml` prints this shape).
fn cluster_list_yaml(n: usize) -> String {
    let hosts = (n / 4).max(1);
    let mut out = String::from("apiVersion: v1\nkind: List\nitems:\n");
    let mut one = String::new();
    for i in 0..n {
        one.clear();
        ingress_yaml(&mut one, i, hosts);
        for (k, line) in one.lines().enumerate() {
            out.push_str(if k == 0 { "- " } else { "  " });
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

// === requests ===

struct Req {
    method: &'static str,
    host: String,
    target: String,
    url: String,
    claims: Option<Claims>,
}

fn strong_claims() -> Claims {
    let v = json!({
        "sub": "alice", "email": "alice@example.com", "groups": ["admins", "dev"],
        "acr": "urn:stepup:mfa", "amr": ["pwd", "mfa"],
        "auth_time": NOW - 60, "iat": NOW - 60, "exp": NOW + 3600,
    });
    v.as_object().expect("object").clone()
}

fn weak_claims() -> Claims {
    let v = json!({
        "sub": "bob", "groups": ["dev"], "acr": "urn:stepup:pwd", "amr": ["pwd"],
        "auth_time": NOW - 7200, "iat": NOW - 600, "exp": NOW + 3000,
    });
    v.as_object().expect("object").clone()
}

/// Weak login of an admin: passes the group check of `admin`, fails its acr,
/// amr and maxAge (step-up, not forbidden).
fn weak_admin_claims() -> Claims {
    let mut c = weak_claims();
    c.insert("groups".into(), json!(["admins"]));
    c
}

/// `MIX` requests spread over the hosts of an `n`-Ingress cluster. Paths
/// cycle through plain hits, policy-sensitive paths and the normalisation
/// cases (`..`, `%2F`, `%2e%2e`, `//`, `;`, case, 400); claims cycle through
/// strong (passes admin), weak (needs step-up; without the admins group,
/// forbidden on admin paths) and none.
fn requests(n: usize) -> Vec<Req> {
    let hosts = (n / 4).max(1);
    (0..MIX)
        .map(|r| {
            let h = (r * 7919 + r / 16) % hosts;
            let app = h + 3 * hosts; // the "app" Ingress of host h
            let (method, target) = match r % 16 {
                0 => ("GET", "/".to_string()),
                1 => ("GET", "/static/app.js".to_string()),
                2 => ("GET", "/healthz".to_string()),
                3 => ("GET", "/admin".to_string()),
                4 => ("GET", "/admin/users/42".to_string()),
                5 => ("POST", "/api/payments/charge".to_string()),
                6 => ("GET", "/api/orders?page=2&sort=desc".to_string()),
                7 => ("GET", format!("/app-{app}/v2/items")),
                8 => ("GET", "/static/../admin/users".to_string()),
                9 => ("POST", "/api%2Fpayments/charge".to_string()),
                10 => ("GET", "//admin//settings".to_string()),
                11 => ("GET", "/static/%2e%2e/admin/audit".to_string()),
                12 => ("GET", "/admin;jsessionid=1/users".to_string()),
                13 => ("PUT", "/API/Payments/refund".to_string()),
                14 => ("GET", format!("/app-{app}/a/b/c/../../d?x=1")),
                _ => ("GET", "/static/../../etc/passwd".to_string()),
            };
            let host = if r % 32 == 31 {
                format!("unknown-{r}.example.org")
            } else {
                host_header(h, r)
            };
            let claims = match r % 3 {
                0 => Some(strong_claims()),
                1 if (r / 3) % 2 == 0 => Some(weak_claims()),
                1 => Some(weak_admin_claims()),
                _ => None,
            };
            let url = format!("https://{host}{target}");
            Req {
                method,
                host,
                target,
                url,
                claims,
            }
        })
        .collect()
}

// === the measured operations ===

fn route_all(table: &RouteTable, reqs: &[Req]) -> usize {
    let mut acc = 0;
    for q in reqs {
        let routed = table.route(black_box(&q.host), black_box(q.target.as_bytes()));
        acc += routed.server_index + routed.location().map_or(0, |l| l.name.len());
    }
    acc
}

fn route_decide(table: &RouteTable, policy: &Policy, q: &Req) -> u16 {
    route_decide_with(table, policy, q, decide_fast)
}

type DecideFn = fn(&Policy, Option<&Route<'_>>, &Request<'_>, Option<&Claims>, i64) -> Verdict;

/// Route plus a decision function: `decide_fast` is the per-request runtime
/// path; `decide` also formats the trace `simulate -v` prints.
fn route_decide_with(table: &RouteTable, policy: &Policy, q: &Req, decide: DecideFn) -> u16 {
    let routed = table.route(black_box(&q.host), black_box(q.target.as_bytes()));
    let ingress = routed
        .location()
        .and_then(|l| l.ingress)
        .and_then(|i| table.ingresses.get(i));
    let route = Route {
        routed: &routed,
        ingress,
    };
    let req = Request {
        method: q.method,
        scheme: "https",
        host: &q.host,
        target: &q.target,
    };
    decide(policy, Some(&route), &req, q.claims.as_ref(), NOW).status
}

fn route_decide_all(table: &RouteTable, policy: &Policy, reqs: &[Req]) -> usize {
    reqs.iter()
        .map(|q| usize::from(route_decide(table, policy, q)))
        .sum()
}

fn route_decide_traced_all(table: &RouteTable, policy: &Policy, reqs: &[Req]) -> usize {
    reqs.iter()
        .map(|q| usize::from(route_decide_with(table, policy, q, decide)))
        .sum()
}

fn simulate_all(
    table: &RouteTable,
    policy: &Policy,
    reqs: &[Req],
    inputs: &[ClaimsInput],
) -> usize {
    reqs.iter()
        .zip(inputs)
        .map(|(q, c)| {
            usize::from(
                run(
                    policy,
                    Some(table),
                    q.method,
                    black_box(&q.url),
                    c,
                    &Default::default(),
                    NOW,
                )
                .expect("valid URL")
                .verdict
                .status,
            )
        })
        .sum()
}

/// Baseline: what a plain map lookup of the Host header costs (lower-casing
/// and port stripping included, as any server must do).
fn hashmap_all(map: &HashMap<String, usize>, reqs: &[Req]) -> usize {
    reqs.iter()
        .map(|q| {
            let h = q
                .host
                .rsplit_once(':')
                .map_or(q.host.as_str(), |(h, _)| h)
                .to_ascii_lowercase();
            map.get(black_box(&h)).copied().unwrap_or(0)
        })
        .sum()
}

struct Fixture {
    table: RouteTable,
    reqs: Vec<Req>,
    inputs: Vec<ClaimsInput>,
    hosts: HashMap<String, usize>,
}

fn fixture(n: usize, policy: &Policy) -> Fixture {
    let table = build(load(&cluster_yaml(n)));
    let reqs = requests(n);
    let inputs = reqs
        .iter()
        .map(|q| ClaimsInput {
            claims: q.claims.clone(),
            unverified_token: false,
        })
        .collect();
    let hosts = table
        .servers
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.clone(), i))
        .collect();
    // What the mix exercises, printed once so the figures can be read.
    let mut kinds: std::collections::BTreeMap<&str, usize> = Default::default();
    for q in &reqs {
        let routed = table.route(&q.host, q.target.as_bytes());
        let ingress = routed
            .location()
            .and_then(|l| l.ingress)
            .and_then(|i| table.ingresses.get(i));
        let route = Route {
            routed: &routed,
            ingress,
        };
        let req = Request {
            method: q.method,
            scheme: "https",
            host: &q.host,
            target: &q.target,
        };
        *kinds
            .entry(
                decide(policy, Some(&route), &req, q.claims.as_ref(), NOW)
                    .kind
                    .as_str(),
            )
            .or_default() += 1;
    }
    eprintln!(
        "cluster n={n}: {} Ingresses routed ({} ignored), {} servers ({} regex mode), {} locations; mix of {MIX}: {kinds:?}",
        table.ingresses.len(),
        table.ignored.len(),
        table.servers.len(),
        table.servers.iter().filter(|s| s.regex_mode).count(),
        table.location_count(),
    );
    Fixture {
        table,
        reqs,
        inputs,
        hosts,
    }
}

/// Print what a single request exercises (server, location, decision).
fn describe(name: &str, table: &RouteTable, policy: &Policy, q: &Req) {
    let routed = table.route(&q.host, q.target.as_bytes());
    let ingress = routed
        .location()
        .and_then(|l| l.ingress)
        .and_then(|i| table.ingresses.get(i));
    let route = Route {
        routed: &routed,
        ingress,
    };
    let req = Request {
        method: q.method,
        scheme: "https",
        host: &q.host,
        target: &q.target,
    };
    let v = decide(policy, Some(&route), &req, q.claims.as_ref(), NOW);
    eprintln!(
        "{name}: {} {} {} → server {}, location {}, {} {}",
        q.method,
        q.host,
        q.target,
        routed.server.name,
        routed.location().map_or("none".into(), |l| l.directive()),
        v.kind.as_str(),
        v.status,
    );
}

fn policy() -> Policy {
    parse("starter.yaml", stepup::cli::STARTER_POLICY).expect("starter policy parses")
}

// === benchmarks ===

// === benchmarks ===
//
// Expensive set-up (parsing 10,000 Ingresses, the List form) happens lazily
// inside the benchmark closures, once, so a filtered run (`cargo bench
// --bench core -- lookup/route/`) or a profile (`--profile-time`) spends its
// time on the benchmark asked for.

fn bench_load(c: &mut Criterion) {
    let mut g = c.benchmark_group("load");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1));
    for n in [100usize, 10_000] {
        let text = cluster_yaml(n);
        let json = OnceCell::new();
        let loaded = OnceCell::new();
        g.measurement_time(Duration::from_secs(if n >= 10_000 { 8 } else { 2 }));
        g.throughput(Throughput::Elements(n as u64));
        // Baseline: serde_json on the same objects.
        g.bench_function(format!("serde_json_value/{n}"), |b| {
            let json = json.get_or_init(|| {
                let j = cluster_json(&text);
                eprintln!(
                    "cluster n={n}: {} bytes of YAML, {} bytes of JSON",
                    text.len(),
                    j.len()
                );
                j
            });
            b.iter_with_large_drop(|| serde_json::from_str::<Value>(black_box(json)).expect("json"))
        });
        // The YAML parse alone (spanned tree with line numbers).
        g.bench_function(format!("parse_documents/{n}"), |b| {
            b.iter_with_large_drop(|| {
                stepup::source::parse_documents(black_box(&text)).expect("yaml")
            })
        });
        // Parse + Ingress model.
        g.bench_function(format!("load_text/{n}"), |b| {
            b.iter_with_large_drop(|| load(black_box(&text)))
        });
        // The route table alone, from loaded Ingresses.
        g.bench_function(format!("build/{n}"), |b| {
            let loaded = loaded.get_or_init(|| load(&text));
            b.iter_batched(|| loaded.clone(), build, BatchSize::LargeInput)
        });
        // The whole load: text to route table (the 1 s target).
        g.bench_function(format!("load_and_build/{n}"), |b| {
            b.iter_with_large_drop(|| build(load(black_box(&text))))
        });
    }
    g.finish();
}

/// `kind: List` input, one document holding every Ingress (what `kubectl get
/// ingress -A -o yaml` prints). Kept small: its cost grows quadratically
/// (see BENCHMARKS.md); 100 and 300 are enough to show it.
fn bench_load_list(c: &mut Criterion) {
    let mut g = c.benchmark_group("load_list");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for n in [100usize, 300] {
        let text = cluster_list_yaml(n);
        let checked = OnceCell::new();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("parse_documents/{n}"), |b| {
            b.iter_with_large_drop(|| {
                stepup::source::parse_documents(black_box(&text)).expect("yaml")
            })
        });
        g.bench_function(format!("load_text/{n}"), |b| {
            checked.get_or_init(|| {
                assert_eq!(
                    load(&text).len(),
                    n,
                    "the List form holds the same Ingresses"
                )
            });
            b.iter_with_large_drop(|| load(black_box(&text)))
        });
    }
    g.finish();
}

fn bench_lookup(c: &mut Criterion) {
    let policy = policy();
    let fixtures = [(100, OnceCell::new()), (10_000, OnceCell::new())];
    let mut g = c.benchmark_group("lookup");
    g.sample_size(50)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    // One iteration = the whole mix of MIX requests; per request = time / MIX.
    g.throughput(Throughput::Elements(MIX as u64));
    for (n, cell) in &fixtures {
        let n = *n;
        let get = || cell.get_or_init(|| fixture(n, &policy));
        g.bench_function(format!("baseline_hashmap_host/{n}"), |b| {
            let f = get();
            b.iter(|| hashmap_all(&f.hosts, &f.reqs))
        });
        g.bench_function(format!("route/{n}"), |b| {
            let f = get();
            b.iter(|| route_all(&f.table, &f.reqs))
        });
        g.bench_function(format!("route_decide/{n}"), |b| {
            let f = get();
            b.iter(|| route_decide_all(&f.table, &policy, &f.reqs))
        });
        g.bench_function(format!("route_decide_traced/{n}"), |b| {
            let f = get();
            b.iter(|| route_decide_traced_all(&f.table, &policy, &f.reqs))
        });
        g.bench_function(format!("simulate_run/{n}"), |b| {
            let f = get();
            b.iter(|| simulate_all(&f.table, &policy, &f.reqs, &f.inputs))
        });
    }
    g.finish();

    // Single requests on the 10k table: the spread behind the mix average.
    let hosts = 10_000 / 4;
    let plain = (0..hosts)
        .find(|&h| !is_wildcard(h) && !is_regex(h) && h % 10 != 0 && h % 3 != 0)
        .expect("a plain host");
    let regex = (0..hosts).find(|&h| is_regex(h)).expect("a regex host");
    let wild = (0..hosts)
        .find(|&h| is_wildcard(h))
        .expect("a wildcard host");
    let one = |name: &'static str,
               method: &'static str,
               host: String,
               target: String,
               claims: Option<Claims>| {
        let url = format!("https://{host}{target}");
        (
            name,
            Req {
                method,
                host,
                target,
                url,
                claims,
            },
        )
    };
    let singles = [
        one(
            "static_public",
            "GET",
            host_name(plain),
            "/static/app.js".into(),
            None,
        ),
        one(
            "admin_allow",
            "GET",
            host_name(plain),
            "/admin/users/42".into(),
            Some(strong_claims()),
        ),
        one(
            "admin_step_up",
            "GET",
            host_name(plain),
            "/admin/users/42".into(),
            Some(weak_admin_claims()),
        ),
        one(
            "dotdot_pct2f",
            "POST",
            host_name(plain),
            "/static/..%2Fapi%2Fpayments//charge".into(),
            Some(strong_claims()),
        ),
        one(
            "regex_host",
            "GET",
            host_name(regex),
            format!("/APP-{}/v12/items", regex + 3 * hosts),
            Some(weak_claims()),
        ),
        one(
            "wildcard_host",
            "GET",
            format!("x.apps-{wild}.example.com"),
            "/api/payments/x".into(),
            Some(weak_claims()),
        ),
        one(
            "catch_all",
            "GET",
            "nobody.example.org".into(),
            "/admin".into(),
            None,
        ),
    ];
    let (_, cell) = &fixtures[1];
    let get = || cell.get_or_init(|| fixture(10_000, &policy));
    let mut g = c.benchmark_group("route_decide_single");
    g.sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for (name, q) in &singles {
        let shown = OnceCell::new();
        g.bench_function(format!("{name}/10000"), |b| {
            let f = get();
            shown.get_or_init(|| describe(name, &f.table, &policy, q));
            b.iter(|| route_decide(&f.table, &policy, q))
        });
    }
    g.finish();

    // Where `decide` spends its time, for the admin_allow request above:
    // the pieces it calls, each on its own (same inputs as decide uses).
    let (_, q) = &singles[1];
    let mut g = c.benchmark_group("decide_parts");
    g.sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    g.bench_function("route/10000", |b| {
        let f = get();
        b.iter(|| {
            f.table
                .route(black_box(&q.host), black_box(q.target.as_bytes()))
                .server_index
        })
    });
    g.bench_function("decide_policy_only", |b| {
        let req = Request {
            method: q.method,
            scheme: "https",
            host: &q.host,
            target: &q.target,
        };
        b.iter(|| decide(&policy, None, black_box(&req), q.claims.as_ref(), NOW).status)
    });
    g.bench_function("rule_for", |b| {
        b.iter(|| {
            policy
                .rule_for(
                    black_box(&q.host),
                    "GET",
                    black_box(b"/admin/users/42"),
                    false,
                )
                .rule
        })
    });
    g.bench_function("auth_of", |b| {
        let f = get();
        let routed = f.table.route(&q.host, q.target.as_bytes());
        let i = routed
            .location()
            .and_then(|l| l.ingress)
            .expect("admin Ingress");
        let ing = &f.table.ingresses[i];
        b.iter(|| auth_of(black_box(ing), Some(&policy)).enforcement)
    });
    g.bench_function("need_of_and", |b| {
        let rule = policy.rule_for(&q.host, "GET", b"/admin/users/42", false);
        b.iter(|| {
            policy
                .need_of(black_box("admin"))
                .expect("level")
                .and(&rule.need)
        })
    });
    g.bench_function("check", |b| {
        let need = policy.need_of("admin").expect("level");
        b.iter(|| check(black_box(&need), q.claims.as_ref(), NOW).status())
    });
    g.finish();
}

criterion_group!(benches, bench_lookup, bench_load, bench_load_list);
criterion_main!(benches);
