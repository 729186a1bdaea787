//! Differential test: the routing model against the real nginx binary.
//!
//! The Ingress corpus (`testdata/routing/ingresses.yaml`) is turned into
//! servers and locations by the model, rendered as nginx.conf the way
//! ingress-nginx lays them out (`stepup::routing::conf`), and served by the
//! Debian `nginx` on loopback. Every raw request of
//! `testdata/routing/requests.txt` is sent over a plain TCP socket (so nothing
//! normalises it on the way) and nginx's answer — which location served it
//! and with which `$uri`, or a 301, or a 400 — must equal what
//! `RouteTable::route` predicts.
//!
//! Needs `nginx` on PATH or at /usr/sbin/nginx (`.ci/run` installs
//! nginx-light). It fails, not skips, when nginx is missing.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stepup::routing::{Classes, Outcome, RouteTable, conf};

struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_binary() -> PathBuf {
    for p in ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("nginx not found: install it (apt-get install -y nginx-light); .ci/run does");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_nginx(http_body: &str, port: u16) -> Nginx {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().display().to_string();
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {p}/nginx.pid;\nerror_log {p}/error.log warn;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n    access_log off;\n    client_body_temp_path {p}/body;\n    proxy_temp_path {p}/proxy;\n\
         fastcgi_temp_path {p}/fastcgi;\n    uwsgi_temp_path {p}/uwsgi;\n    scgi_temp_path {p}/scgi;\n\
         # as ingress-nginx's nginx.tmpl\n    server_name_in_redirect off;\n    port_in_redirect off;\n\
         {http_body}\n}}\n"
    );
    std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
    let test = Command::new(nginx_binary())
        .args(["-t", "-p", &p, "-c", &format!("{p}/nginx.conf")])
        .output()
        .unwrap();
    assert!(
        test.status.success(),
        "nginx -t failed:\n{}",
        String::from_utf8_lossy(&test.stderr)
    );
    let child = Command::new(nginx_binary())
        .args(["-p", &p, "-c", &format!("{p}/nginx.conf")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not start listening on {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Nginx { child, dir }
}

struct Answer {
    status: u16,
    location: Option<String>,
    body: String,
}

fn raw_get(port: u16, host: &str, target: &str) -> Answer {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let location = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("Location: ")
                .or_else(|| l.strip_prefix("location: "))
        })
        .map(str::to_string);
    Answer {
        status,
        location,
        body: body.to_string(),
    }
}

fn corpus() -> RouteTable {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/routing");
    let loaded = stepup::ingress::load_paths(&[dir.join("ingresses.yaml")]).unwrap();
    RouteTable::build(loaded.ingresses, &Classes::default()).unwrap()
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

/// The model picks the same location, `$uri`, redirect or rejection as nginx
/// for every request of the corpus.
#[test]
fn model_matches_real_nginx() {
    let table = corpus();
    let port = free_port();
    let upstream = free_port();
    let body = conf::render(&table, port, upstream).unwrap();
    let nginx = start_nginx(&body, port);

    let cases = requests();
    assert!(
        cases.len() >= 60,
        "the corpus must keep at least 60 cases, has {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for (host, target) in &cases {
        let got = raw_get(port, host, target);
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
        };
        let actual = match got.status {
            200 => format!("200 {}", got.body.trim_end()),
            301 => format!("301 {}", got.location.clone().unwrap_or_default()),
            s => s.to_string(),
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
                format!("{a} [{}]", loc.unwrap_or_default())
            };
            failures.push(format!(
                "{host} {target}\n    model: {}\n    nginx: {}",
                describe(&expected),
                describe(&actual)
            ));
        }
    }
    if !failures.is_empty() {
        let log = std::fs::read_to_string(nginx.dir.path().join("error.log")).unwrap_or_default();
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
    assert_eq!(ignored, ["plain-canary", "other-class"]);
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
