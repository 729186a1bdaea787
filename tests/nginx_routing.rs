//! Differential test: the routing model against the real nginx binary.
//!
//! The Ingress corpus (`testdata/routing/ingresses.yaml`) is turned into
//! servers and locations by the model, rendered as nginx.conf the way
//! ingress-nginx lays them out (`stepup::controllers::ingress_nginx::routing::conf`), and served by the
//! Debian `nginx` on loopback. Every raw request of
//! `testdata/routing/requests.txt` is sent over a plain TCP socket (so nothing
//! normalises it on the way) and nginx's answer — which location served it
//! and with which `$uri`, or a 301, or a 400 — must equal what
//! `RouteTable::route` predicts.
//!
//! Needs `nginx` on PATH or at /usr/sbin/nginx (`.ci/run` installs
//! nginx-light). It fails, not skips, when nginx is missing.

#[path = "support/nginx.rs"]
mod nginx;

use std::path::Path;

use stepup::controllers::ingress_nginx::routing::{Answer, Controller, Outcome, RouteTable, conf};

fn corpus() -> RouteTable {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/routing");
    let loaded = stepup::ingress::load_paths(&[dir.join("ingresses.yaml")]).unwrap();
    RouteTable::build(loaded.ingresses, &Controller::watching_classless()).unwrap()
}

fn requests() -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/routing/requests.txt");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (h, t) = l.split_once(' ').unwrap();
            (h.to_string(), t.to_string())
        })
        .collect()
}

/// The probe upstream's `200` answer, `<location id> <$uri escaped>`, with
/// `$uri` percent-decoded back to its bytes (shown as the model's are).
fn probe_answer(body: &str) -> String {
    let body = body.trim_end();
    let (id, escaped) = body.split_once(' ').unwrap_or((body, ""));
    let b = escaped.as_bytes();
    let mut uri = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(x)) => {
                uri.push(x);
                i += 3;
            }
            (c, _) => {
                uri.push(c);
                i += 1;
            }
        }
    }
    format!("200 {id} {}", String::from_utf8_lossy(&uri))
}

/// The model picks the same location, `$uri`, redirect or rejection as nginx
/// for every request of the corpus.
#[test]
fn model_matches_real_nginx() {
    let table = corpus();
    let nginx = nginx::start_with(
        |port, upstream| conf::render(&table, port, upstream).unwrap(),
        false,
    );
    let port = nginx.port;

    let cases = requests();
    assert!(
        cases.len() >= 60,
        "the corpus must keep at least 60 cases, has {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for (host, target) in &cases {
        let got = nginx::raw(port, "GET", host, target, &[]);
        let routed = table.route(host, target.as_bytes());
        let expected = match &routed.outcome {
            Outcome::Location(l) => format!(
                "200 {} {}",
                conf::location_id(routed.server_index, *l),
                String::from_utf8_lossy(&routed.uri)
            ),
            Outcome::Redirect(loc) => format!("301 {loc}"),
            Outcome::BadRequest(_) => "400".to_string(),
            Outcome::NoLocation => "404".to_string(),
            Outcome::Answer {
                answer: Answer::Redirect { code, url, .. },
                ..
            } => format!(
                "{code} {}",
                url.replace("$scheme", "http")
                    .replace("$http_host", host)
                    .replace("$request_uri", target)
            ),
            Outcome::Answer { .. } => "503".to_string(),
        };
        let actual = match got.status {
            200 => format!("200 {}", got.body.trim_end()),
            s @ 301..=308 => format!("{s} {}", got.header("location").unwrap_or_default()),
            s => s.to_string(),
        };
        let actual = if got.status == 200 {
            probe_answer(&got.body)
        } else {
            actual
        };
        if expected != actual {
            let describe = |a: &str| {
                let mut p = a.split(' ');
                let (_, id) = (p.next(), p.next().unwrap_or(""));
                let loc = id.split_once(':').and_then(|(s, l)| {
                    let s: usize = s.parse().ok()?;
                    let l: usize = l.parse().ok()?;
                    let srv = table.servers.get(s)?;
                    Some(format!(
                        "{} location {}",
                        srv.name,
                        srv.locations.get(l)?.directive()
                    ))
                });
                format!("{} [{}]", a.escape_debug(), loc.unwrap_or_default())
            };
            failures.push(format!(
                "{host} {target}\n    model: {}\n    nginx: {}",
                describe(&expected),
                describe(&actual)
            ));
        }
    }
    if !failures.is_empty() {
        let log = nginx.error_log();
        let body = std::fs::read_to_string(nginx.dir.path().join("nginx.conf")).unwrap_or_default();
        panic!(
            "{} of {} requests differ from nginx:\n{}\n--- nginx.conf ---\n{body}\n--- error.log ---\n{log}",
            failures.len(),
            cases.len(),
            failures.join("\n")
        );
    }
    eprintln!("{} requests: model and nginx agree", cases.len());
}

/// The corpus exercises what it claims to: regex mode, wildcard, merges,
/// canary and class filtering all leave their mark on the table.
#[test]
fn corpus_covers_the_model() {
    let t = corpus();
    let server = |n: &str| t.servers.iter().find(|s| s.name == n).unwrap();
    assert!(server("regex.test").regex_mode);
    assert!(server("rewrite.test").regex_mode);
    assert!(!server("plain.test").regex_mode);
    assert!(t.servers.iter().any(|s| s.name == "*.wild.test"));
    let ignored: Vec<&str> = t.ignored.iter().map(|(i, _)| i.name.as_str()).collect();
    assert_eq!(ignored, ["other-class"]);
    // Oldest wins the duplicate Prefix /admin on merge.test.
    let merge = server("merge.test");
    let admin = merge
        .locations
        .iter()
        .find(|l| l.name == "/admin/")
        .unwrap();
    assert_eq!(admin.backend.to_string(), "old-admin:80");
    // Equal timestamps: namespace/name descending, so tie-b wins.
    let tie = merge.locations.iter().find(|l| l.name == "/tie/").unwrap();
    assert_eq!(tie.backend.to_string(), "tie-b:80");
}

/// Issue 15: the host nginx selects a server by (`$host`), or its 400, for
/// Host headers and absolute-form request lines, against
/// `stepup::controllers::ingress_nginx::routing::validate_host` (which `/auth` uses): the real nginx
/// answers `$host` from one catch-all server.
#[test]
fn host_parsing_matches_real_nginx() {
    let nginx = nginx::start_with(
        |port, backend| {
            format!(
                "  server {{\n    listen 127.0.0.1:{port} default_server;\n    server_name _;\n    \
                 location / {{ default_type text/plain; return 200 \"$host\"; }}\n  }}\n  \
                 server {{ listen 127.0.0.1:{backend}; return 204; }}"
            )
        },
        false,
    );
    let hosts = [
        "admin.example.com",
        "Admin.Example.COM",
        "admin.example.com:8443",
        "admin.example.com:x",
        "admin.example.com:1:2",
        "admin.example.com.:443",
        "admin.example.com.",
        "admin.example.com..",
        "admin..example.com",
        ".admin.example.com",
        "admin.example.com:",
        ":443",
        ".",
        "[::1]:80",
        "[::1]",
        "a_b.example.com",
        "a%2fb.example.com",
        "a&level=public",
        "a;b",
        "a\\b",
        "x.y:1..2",
    ];
    let mut failures = Vec::new();
    for h in hosts {
        let got = nginx::raw(nginx.port, "GET", h, "/", &[]);
        let want = match stepup::controllers::ingress_nginx::routing::validate_host(h) {
            Ok(v) => format!("200 {v}"),
            Err(_) => "400".to_string(),
        };
        let actual = match got.status {
            200 => format!("200 {}", got.body.trim_end()),
            s => s.to_string(),
        };
        if want != actual {
            failures.push(format!("Host {h:?}: stepup {want}, nginx {actual}"));
        }
    }
    // Absolute form: nginx takes the request line's host, not the header.
    for (target, want) in [
        ("http://Admin.Example.com/x", "admin.example.com"),
        ("http://admin.example.com:8080/x", "admin.example.com"),
        ("https://admin.example.com./x", "admin.example.com"),
    ] {
        let got = nginx::raw(nginx.port, "GET", "www.example.com", target, &[]);
        if got.status != 200 || got.body.trim_end() != want {
            failures.push(format!(
                "{target}: want {want}, nginx {} {}",
                got.status, got.body
            ));
        }
        let line_host = target.split('/').nth(2).unwrap_or_default();
        if stepup::controllers::ingress_nginx::routing::validate_host(line_host).as_deref()
            != Ok(want)
        {
            failures.push(format!("{target}: validate_host disagrees"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Issue 15: the class SU018 reports is real. The fixture's Ingress
/// (`/reports(/|$)(.*)` at level authenticated, `rewrite-target:
/// /admin/$2`) rendered as ingress-nginx renders it and served by the real
/// nginx sends `/reports/x` to the backend as `/admin/x` — a path the policy
/// protects at level admin — and lint reports it as an SU018 error.
#[test]
fn rewrite_target_reaches_the_backend_rewritten_and_lint_flags_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let loaded =
        stepup::ingress::load_paths(&[root.join("testdata/lint/SU018/fires.yaml")]).unwrap();
    let table = RouteTable::build(loaded.ingresses, &Controller::watching_classless()).unwrap();
    let nginx = nginx::start_with(
        |port, upstream| conf::render(&table, port, upstream).unwrap(),
        false,
    );
    for (target, backend) in [
        ("/reports/x", "/admin/x"),
        ("/reports/users/1?page=2", "/admin/users/1?page=2"),
        ("/REPORTS/x", "/admin/x"),
        ("/reports", "/admin/"),
    ] {
        let got = nginx::raw(nginx.port, "GET", "shop.example.com", target, &[]);
        assert_eq!(got.status, 200, "{target}: {got:?}\n{}", nginx.error_log());
        // The location the model picks served it...
        let routed = table.route("shop.example.com", target.as_bytes());
        let Outcome::Location(l) = routed.outcome else {
            panic!("{target}: model {:?}", routed.outcome);
        };
        let id = conf::location_id(routed.server_index, l);
        assert!(
            got.body.starts_with(&format!("{id} ")),
            "{target}: {}",
            got.body
        );
        // ...and the backend was sent the rewritten path.
        assert_eq!(
            got.header("x-stepup-backend-uri"),
            Some(backend),
            "{target}: {got:?}"
        );
    }

    let policy = stepup::policy::parse(
        "policy.yaml",
        &std::fs::read_to_string(root.join("testdata/lint/policy.yaml")).unwrap(),
    )
    .unwrap();
    let report = stepup::lint::lint(&policy, &table, &stepup::lint::Options::default());
    let f: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.rule == "SU018")
        .collect();
    assert_eq!(f.len(), 1, "{:?}", report.findings);
    assert_eq!(f[0].severity, stepup::lint::Severity::Error);
    assert!(
        f[0].message.contains("any path under /admin/")
            && f[0].message.contains("admin-console requires admin"),
        "{}",
        f[0].message
    );
}

/// Issue 15 (which auth-url is stepup's): an auth-url whose host comes from
/// a request header is no check. Through Debian's nginx rendered as
/// ingress-nginx renders auth-url (`set $target <url>; proxy_pass $target;`),
/// a client that names its own server in `X-Auth-Host` gets `/admin`; stepup's
/// lint calls it an SU003 error and `simulate` says the route is exposed.
#[test]
fn regression_request_chosen_auth_server_is_no_check() {
    use std::io::{Read, Write};
    // The attacker's auth server: 200 to anything, a bounded number of times.
    let attacker = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let aport = attacker.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in attacker.incoming().take(4).flatten() {
            let mut c = conn;
            let _ = c.set_read_timeout(Some(std::time::Duration::from_secs(5)));
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let _ =
                c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    let url = "http://$http_x_auth_host/auth?level=admin";
    let n = nginx::start(&[nginx::Host {
        name: "shop.test",
        locs: vec![nginx::Loc::auth("/admin", url, None)],
    }]);
    let own = format!("127.0.0.1:{aport}");
    let r = nginx::raw(
        n.port,
        "GET",
        "shop.test",
        "/admin/users",
        &[("X-Auth-Host", &own)],
    );
    assert_eq!(r.status, 200, "{r:?}\n{}", n.error_log());
    assert!(r.body.starts_with("backend uri=/admin/users"), "{}", r.body);

    let yaml = format!(
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: app\n  namespace: shop\n  annotations:\n    nginx.ingress.kubernetes.io/auth-url: \"{url}\"\nspec:\n  tls: [{{hosts: [shop.test], secretName: t}}]\n  rules:\n    - host: shop.test\n      http:\n        paths:\n          - {{path: /admin, pathType: Prefix, backend: {{service: {{name: admin, port: {{number: 80}}}}}}}}\n"
    );
    let mut loaded = stepup::ingress::Loaded::default();
    stepup::ingress::load_text("app.yaml", &yaml, &mut loaded, &mut Default::default()).unwrap();
    let table = RouteTable::build(loaded.ingresses, &Controller::watching_classless()).unwrap();
    let policy = stepup::policy::parse(
        "policy.yaml",
        "apiVersion: stepup.dev/v1alpha1\nkind: StepUpPolicy\nspec:\n  authService: {url: \"http://stepup.stepup-system.svc.cluster.local:8080\"}\n  levels: [{name: admin, acr: [urn:stepup:admin]}]\n  rules: [{name: admin, paths: [/admin, /admin/**], level: admin}]\n  default: public\n",
    )
    .unwrap();
    let report = stepup::lint::lint(&policy, &table, &stepup::lint::Options::default());
    assert!(
        report.findings.iter().any(|f| f.rule == "SU003"
            && f.severity == stepup::lint::Severity::Error
            && f.message
                .contains("lets the request pick the auth server's host")),
        "{:?}",
        report.findings
    );
    let routed = table.route("shop.test", b"/admin/users");
    let ingress = routed
        .location()
        .and_then(|l| l.ingress)
        .map(|i| &table.ingresses[i]);
    let route = stepup::decision::Route {
        routed: &routed,
        ingress,
    };
    let req = stepup::decision::Request {
        method: "GET",
        scheme: "https",
        host: "shop.test",
        target: "/admin/users",
    };
    let v = stepup::decision::decide(&policy, Some(&route), &req, None, 1_700_000_000);
    assert!(v.exposed && v.status == 200, "{v:?}");
}

/// Where PCRE2 runs out of room, the model follows nginx (which runs the
/// interpreter unless `pcre_jit on`): a subject too long for the JIT's
/// stack is still matched (stepup falls back to the interpreter), and a
/// runaway pattern that hits PCRE2's match limit gets nginx's 500, which
/// the model reports as no location served.
#[test]
fn regex_match_limits_match_real_nginx() {
    let yaml = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: limits\n  namespace: corpus\n  annotations:\n    nginx.ingress.kubernetes.io/use-regex: \"true\"\nspec:\n  ingressClassName: nginx\n  rules:\n    - host: limits.test\n      http:\n        paths:\n          - {path: '/jit/(a|b)*c', pathType: ImplementationSpecific, backend: {service: {name: jit, port: {number: 80}}}}\n          - {path: '/run/(a+)+$', pathType: ImplementationSpecific, backend: {service: {name: run, port: {number: 80}}}}\n";
    let mut loaded = stepup::ingress::Loaded::default();
    stepup::ingress::load_text("limits.yaml", yaml, &mut loaded, &mut Default::default()).unwrap();
    let table = RouteTable::build(loaded.ingresses, &Controller::default()).unwrap();
    let nginx = nginx::start_with(
        |port, upstream| conf::render(&table, port, upstream).unwrap(),
        false,
    );

    // 2,000 bytes: past the JIT's default stack, within the probe's header buffer.
    let long = format!("/jit/{}c", "ab".repeat(1000));
    let routed = table.route("limits.test", long.as_bytes());
    let Outcome::Location(l) = routed.outcome else {
        panic!("model: {:?}", routed.outcome);
    };
    assert_eq!(routed.server.locations[l].name, "/jit/(a|b)*c");
    let got = nginx::raw(nginx.port, "GET", "limits.test", &long, &[]);
    assert_eq!(got.status, 200, "{}", nginx.error_log());
    assert_eq!(
        probe_answer(&got.body),
        format!("200 {} {long}", conf::location_id(routed.server_index, l))
    );

    let runaway = format!("/run/{}!", "a".repeat(64));
    let routed = table.route("limits.test", runaway.as_bytes());
    assert_eq!(routed.outcome, Outcome::NoLocation);
    let got = nginx::raw(nginx.port, "GET", "limits.test", &runaway, &[]);
    assert_eq!(got.status, 500, "{got:?}");
}
