//! A real nginx configured the way ingress-nginx renders the `auth-url`,
//! `auth-signin` and `auth-response-headers` annotations (its nginx.tmpl:
//! an internal `/_external-auth-…` location per protected location,
//! `auth_request` to it, `auth_request_set` of each response header,
//! `error_page 401 = @…` to a named location returning the sign-in 302 with
//! `rd`, `set_escape_uri` from the set-misc module), plus a backend server
//! that echoes what it received, and a raw HTTP/1.1 client that sends
//! request targets byte for byte.
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
    let mut out = String::new();
    let mut n = 0;
    for h in hosts {
        let _ = writeln!(
            out,
            "server {{\n  listen 127.0.0.1:{port};\n  server_name {};\n  set $pass_access_scheme $scheme;",
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
                let _ = writeln!(
                    out,
                    "  location {d} {{\n{body}    proxy_set_header Host $host;\n    proxy_pass http://127.0.0.1:{backend};\n  }}"
                );
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

/// Start nginx with the `http {}` body `body(port, backend)`; the body must
/// serve both ports. `logs` turns the access log on.
pub fn start_with(body: impl FnOnce(u16, u16) -> String, logs: bool) -> Nginx {
    let port = free_port();
    let backend = free_port();
    let body = body(port, backend);
    let dir = tempfile::tempdir().unwrap();
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
        assert!(Instant::now() < deadline, "nginx did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Nginx { child, dir, port }
}

impl Nginx {
    /// nginx's error log so far (for failure messages).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
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
