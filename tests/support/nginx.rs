//! A real nginx configured the way ingress-nginx renders the `auth-url`,
//! `auth-signin` and `auth-response-headers` annotations (its nginx.tmpl:
//! an internal `/_external-auth-…` location per protected location,
//! `auth_request` to it, `auth_request_set` of each response header,
//! `error_page 401 = @…` to a named location returning the sign-in 302 with
//! `rd`, `set_escape_uri` from the set-misc module), plus a backend server
//! that echoes what it received, and a raw HTTP/1.1 client that sends
//! request targets byte for byte.
//!
//! [`start_opts`] serves the hosts over TLS (a test CA and a serving
//! certificate for the hosts and `*.test`, made with rcgen) on a port chosen
//! beforehand, for the browser tests; [`Loc::upstream`] renders the
//! sign-in Ingress (a Prefix path proxied to stepup without auth).
//!
//! Needs Debian's nginx with the `auth_request` module and the
//! `libnginx-mod-http-ndk` + `libnginx-mod-http-set-misc` modules
//! (`.ci/run` installs them).
#![allow(dead_code)]

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One `location` of a server.
#[derive(Debug, Clone)]
pub struct Loc {
    /// Prefix path (`/admin`); rendered as ingress-nginx renders a Prefix
    /// path: `location /admin/` plus `location = /admin`.
    pub path: &'static str,
    /// `auth-url` (absolute), if protected.
    pub auth_url: Option<String>,
    /// `auth-signin`, if set.
    pub signin: Option<String>,
    /// Proxy to this upstream (`http://127.0.0.1:PORT`) with the headers
    /// ingress-nginx sets on every proxied request (`Host $http_host`,
    /// `X-Forwarded-Proto`, `X-Forwarded-Host`, `X-Real-IP`, ...) instead of
    /// to the echo backend; with no `auth_url` this is the sign-in Ingress
    /// routing `<signinPath>` (Prefix) to the stepup Service.
    pub upstream: Option<String>,
}

impl Loc {
    /// A location without auth, served by the echo backend.
    pub fn public(path: &'static str) -> Loc {
        Loc {
            path,
            auth_url: None,
            signin: None,
            upstream: None,
        }
    }

    /// A location with `auth-url` (and `auth-signin`, if given), served by
    /// the echo backend.
    pub fn auth(path: &'static str, auth_url: impl Into<String>, signin: Option<String>) -> Loc {
        Loc {
            path,
            auth_url: Some(auth_url.into()),
            signin,
            upstream: None,
        }
    }

    /// The sign-in Ingress: `path` (Prefix) proxied to stepup on
    /// `127.0.0.1:port` with no auth.
    pub fn stepup(path: &'static str, port: u16) -> Loc {
        Loc {
            path,
            auth_url: None,
            signin: None,
            upstream: Some(format!("http://127.0.0.1:{port}")),
        }
    }
}

/// One server block (one host).
#[derive(Debug, Clone)]
pub struct Host {
    /// `server_name`.
    pub name: &'static str,
    /// Its locations.
    pub locs: Vec<Loc>,
}

/// The response headers ingress-nginx copies to the backend
/// (`auth-response-headers`, as `stepup generate` writes it).
pub const RESPONSE_HEADERS: [&str; 4] = [
    "X-Auth-Request-User",
    "X-Auth-Request-Email",
    "X-Auth-Request-Groups",
    "X-Auth-Request-Acr",
];

pub struct Nginx {
    child: Child,
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// The certificates when the hosts are served over TLS.
    pub tls: Option<Tls>,
}

/// How [`start_opts`] runs nginx.
#[derive(Debug, Clone, Default)]
pub struct Opts {
    /// Serve the hosts over TLS (`listen ... ssl`), with a serving
    /// certificate for the hosts' names and `*.test` from a test CA.
    pub tls: bool,
    /// The hosts' port; `None` picks a free one. Choose it beforehand (with
    /// [`free_port`]) when something started before nginx must know it,
    /// e.g. an IdP redirect URI.
    pub port: Option<u16>,
    /// Access log and `info` error log.
    pub logs: bool,
}

/// The PEM files of a TLS nginx, in its temp dir.
#[derive(Debug, Clone)]
pub struct Tls {
    /// The test CA that signed the serving certificate.
    pub ca: PathBuf,
    /// The serving certificate.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn nginx_binary() -> PathBuf {
    for p in ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("nginx not found: install nginx-light (.ci/run does)");
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn module(name: &str) -> String {
    let p = format!("/usr/lib/nginx/modules/{name}");
    assert!(
        Path::new(&p).exists(),
        "{p} missing: apt-get install libnginx-mod-http-ndk libnginx-mod-http-set-misc (.ci/run does)"
    );
    format!("load_module {p};\n")
}

/// Render the `http {}` body for `hosts`, listening on `port`, backend on
/// `backend`.
pub fn render(hosts: &[Host], port: u16, backend: u16) -> String {
    render_tls(hosts, port, backend, None)
}

/// [`render`], over TLS with `tls`'s certificate when given.
pub fn render_tls(hosts: &[Host], port: u16, backend: u16, tls: Option<&Tls>) -> String {
    let mut out = String::new();
    let mut n = 0;
    // ingress-nginx sets `$pass_access_scheme` to `$scheme`: https on its
    // TLS listener.
    let (ssl, certs, scheme) = match tls {
        Some(t) => (
            " ssl",
            format!(
                "\n  ssl_certificate {};\n  ssl_certificate_key {};",
                t.cert.display(),
                t.key.display()
            ),
            "https",
        ),
        None => ("", String::new(), "$scheme"),
    };
    for h in hosts {
        let _ = writeln!(
            out,
            "server {{\n  listen 127.0.0.1:{port}{ssl};\n  server_name {};{certs}\n  set $pass_access_scheme {scheme};",
            h.name
        );
        for l in &h.locs {
            let mut directives = vec![l.path.trim_end_matches('/').to_string() + "/"];
            if l.path != "/" {
                directives.push(format!("= {}", l.path.trim_end_matches('/')));
            }
            for d in directives {
                n += 1;
                let mut body = String::new();
                if let Some(url) = &l.auth_url {
                    let auth_loc = format!("/_external-auth-{n}-Prefix");
                    // The internal auth location, as nginx.tmpl renders it.
                    let _ = writeln!(
                        out,
                        "  location = {auth_loc} {{\n    internal;\n    proxy_pass_request_body off;\n    proxy_set_header Content-Length \"\";\n    proxy_set_header X-Forwarded-Proto \"\";\n    proxy_set_header X-Request-ID $request_id;\n    proxy_set_header Host 127.0.0.1;\n    proxy_set_header X-Original-URL $scheme://$http_host$request_uri;\n    proxy_set_header X-Original-Method $request_method;\n    proxy_set_header X-Sent-From \"nginx-ingress-controller\";\n    proxy_set_header X-Real-IP $remote_addr;\n    proxy_set_header X-Forwarded-For $remote_addr;\n    proxy_set_header X-Auth-Request-Redirect $request_uri;\n    proxy_buffering off;\n    proxy_http_version 1.1;\n    proxy_ssl_server_name on;\n    proxy_pass_request_headers on;\n    set $target {url};\n    proxy_pass $target;\n  }}"
                    );
                    let _ = writeln!(
                        body,
                        "    auth_request {auth_loc};\n    auth_request_set $auth_cookie $upstream_http_set_cookie;\n    add_header Set-Cookie $auth_cookie;"
                    );
                    for (i, hdr) in RESPONSE_HEADERS.iter().enumerate() {
                        let var = hdr.to_ascii_lowercase().replace('-', "_");
                        let _ = writeln!(
                            body,
                            "    auth_request_set $authHeader{i} $upstream_http_{var};\n    proxy_set_header '{hdr}' $authHeader{i};"
                        );
                    }
                    if let Some(signin) = &l.signin {
                        let named = format!("@signin_{n}");
                        let sep = if signin.contains('?') { '&' } else { '?' };
                        let _ = writeln!(
                            body,
                            "    set_escape_uri $escaped_request_uri $request_uri;\n    error_page 401 = {named};"
                        );
                        let _ = writeln!(
                            out,
                            "  location {named} {{\n    internal;\n    add_header Set-Cookie $auth_cookie;\n    return 302 {signin}{sep}rd=$pass_access_scheme://$http_host$escaped_request_uri;\n  }}"
                        );
                    }
                }
                match &l.upstream {
                    // The proxy headers of ingress-nginx's template.
                    Some(upstream) => {
                        let _ = writeln!(
                            out,
                            "  location {d} {{\n{body}    proxy_set_header Host $http_host;\n    proxy_set_header X-Request-ID $request_id;\n    proxy_set_header X-Real-IP $remote_addr;\n    proxy_set_header X-Forwarded-For $remote_addr;\n    proxy_set_header X-Forwarded-Host $http_host;\n    proxy_set_header X-Forwarded-Port $server_port;\n    proxy_set_header X-Forwarded-Proto $pass_access_scheme;\n    proxy_set_header X-Scheme $pass_access_scheme;\n    proxy_set_header X-Original-URI $request_uri;\n    proxy_http_version 1.1;\n    proxy_pass {upstream};\n  }}"
                        );
                    }
                    None => {
                        let _ = writeln!(
                            out,
                            "  location {d} {{\n{body}    proxy_set_header Host $host;\n    proxy_pass http://127.0.0.1:{backend};\n  }}"
                        );
                    }
                }
            }
        }
        out.push_str("}\n");
    }
    // The backend: echoes the request target and the identity headers.
    let _ = writeln!(
        out,
        "server {{\n  listen 127.0.0.1:{backend};\n  location / {{\n    default_type text/plain;\n    return 200 \"backend uri=$request_uri user=$http_x_auth_request_user email=$http_x_auth_request_email groups=$http_x_auth_request_groups acr=$http_x_auth_request_acr\\n\";\n  }}\n}}"
    );
    out
}

/// Start nginx with `hosts` in front of a stepup at its `auth_url`s.
pub fn start(hosts: &[Host]) -> Nginx {
    start_with(|port, backend| render(hosts, port, backend), true)
}

/// Start nginx with `hosts` as `opts` says (TLS, port, logs).
pub fn start_opts(hosts: &[Host], opts: &Opts) -> Nginx {
    let port = opts.port.unwrap_or_else(free_port);
    let backend = free_port();
    let dir = tempfile::tempdir().unwrap();
    let tls = opts.tls.then(|| write_certs(dir.path(), hosts));
    let body = render_tls(hosts, port, backend, tls.as_ref());
    launch(dir, port, backend, body, opts.logs, tls)
}

/// A test CA and a serving certificate signed by it for the hosts' names,
/// `*.test` and `localhost`, written as PEM files to `dir`.
pub fn write_certs(dir: &Path, hosts: &[Host]) -> Tls {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "stepup test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();

    let mut names: Vec<String> = vec!["*.test".into(), "localhost".into()];
    for h in hosts {
        if !names.iter().any(|n| n == h.name) {
            names.push(h.name.to_string());
        }
    }
    let mut params = CertificateParams::new(names).unwrap();
    params.distinguished_name.push(
        DnType::CommonName,
        hosts.first().map_or("localhost", |h| h.name),
    );
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();

    let tls = Tls {
        ca: dir.join("ca.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    std::fs::write(&tls.ca, ca.pem()).unwrap();
    std::fs::write(&tls.cert, cert.pem()).unwrap();
    std::fs::write(&tls.key, key.serialize_pem()).unwrap();
    tls
}

/// Start nginx with the `http {}` body `body(port, backend)`; the body must
/// serve both ports. `logs` turns the access log on.
pub fn start_with(body: impl FnOnce(u16, u16) -> String, logs: bool) -> Nginx {
    let port = free_port();
    let backend = free_port();
    let body = body(port, backend);
    let dir = tempfile::tempdir().unwrap();
    launch(dir, port, backend, body, logs, None)
}

fn launch(
    dir: tempfile::TempDir,
    port: u16,
    backend: u16,
    body: String,
    logs: bool,
    tls: Option<Tls>,
) -> Nginx {
    let p = dir.path().display().to_string();
    let level = if logs { "info" } else { "warn" };
    let access = if logs {
        format!("{p}/access.log")
    } else {
        "off".to_string()
    };
    let conf = format!(
        "{}{}daemon off;\nmaster_process off;\nworker_processes 1;\npid {p}/nginx.pid;\nerror_log {p}/error.log {level};\n\
         events {{ worker_connections 512; }}\n\
         http {{\n  access_log {access};\n  client_body_temp_path {p}/body;\n  proxy_temp_path {p}/proxy;\n\
         fastcgi_temp_path {p}/fastcgi;\n  uwsgi_temp_path {p}/uwsgi;\n  scgi_temp_path {p}/scgi;\n\
         server_name_in_redirect off;\n  port_in_redirect off;\n{}\n}}\n",
        module("ndk_http_module.so"),
        module("ngx_http_set_misc_module.so"),
        body
    );
    std::fs::write(dir.path().join("nginx.conf"), &conf).unwrap();
    let test = Command::new(nginx_binary())
        .args(["-t", "-p", &p, "-c", &format!("{p}/nginx.conf")])
        .output()
        .unwrap();
    assert!(
        test.status.success(),
        "nginx -t failed:\n{}\n{conf}",
        String::from_utf8_lossy(&test.stderr)
    );
    let child = Command::new(nginx_binary())
        .args(["-p", &p, "-c", &format!("{p}/nginx.conf")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err()
        || TcpStream::connect(("127.0.0.1", backend)).is_err()
    {
        assert!(
            Instant::now() < deadline,
            "nginx did not start (port {port} taken?); error log:\n{}",
            std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Nginx {
        child,
        dir,
        port,
        tls,
    }
}

impl Nginx {
    /// `https://HOST:PORT` (or `http://` without TLS): the origin a client
    /// uses for `host`.
    pub fn origin(&self, host: &str) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{host}:{}", self.port)
    }

    /// A blocking HTTP client for `hosts` on this nginx (resolved to
    /// loopback), trusting its test CA, not following redirects: to see
    /// the status codes and headers a browser hides. Not from inside an
    /// async context (reqwest's blocking client runs its own runtime).
    pub fn client(&self, hosts: &[&str]) -> reqwest::blocking::Client {
        let mut b = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(15));
        if let Some(tls) = &self.tls {
            let pem = std::fs::read(&tls.ca).unwrap();
            b = b
                .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
                .https_only(true);
        }
        for h in hosts {
            b = b.resolve(h, std::net::SocketAddr::from(([127, 0, 0, 1], self.port)));
        }
        b.build().unwrap()
    }

    /// nginx's error log so far (for failure messages).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// nginx's access log so far (`combined` format; empty unless started
    /// with logs on).
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }
}

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Send one raw HTTP/1.1 request (target byte for byte) and read the answer.
pub fn raw(port: u16, method: &str, host: &str, target: &str, headers: &[(&str, &str)]) -> Resp {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        let _ = write!(req, "{k}: {v}\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    parse(&buf)
}

/// Parse a complete HTTP/1.1 response (Content-Length or close-delimited;
/// chunked bodies are de-chunked).
pub fn parse(buf: &[u8]) -> Resp {
    let text = String::from_utf8_lossy(buf);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 || after.len() < n {
                break;
            }
            out.push_str(&after[..n]);
            rest = after[n..].trim_start_matches("\r\n");
        }
        out
    } else {
        body.to_string()
    };
    Resp {
        status,
        headers,
        body,
    }
}
