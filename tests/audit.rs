//! `stepup audit` end to end: the real `stepup` and `kubectl-stepup`
//! binaries against a fake Kubernetes API server (tests/support/apiserver.rs:
//! TLS with a test CA, a bearer token, the real captured list pages of
//! testdata/cluster/, generated pages), `--from-file` on the captured dumps,
//! the failure modes (401, 403, 410 Gone, a server that never answers, a
//! closed port), and the HTML report in headless Chromium.

#[path = "support/apiserver.rs"]
mod apiserver;
#[path = "support/browser.rs"]
mod browser;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use apiserver::{ApiServer, Data, Fault};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(bin: &str, args: &[&str]) -> (String, String, i32) {
    let o: Output = Command::new(bin)
        .args(args)
        .env_remove("NO_COLOR")
        .env_remove("KUBECONFIG")
        .env("HOME", "/nonexistent-home")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        o.status.code().unwrap_or(-1),
    )
}

fn stepup(args: &[&str]) -> (String, String, i32) {
    run(env!("CARGO_BIN_EXE_stepup"), args)
}

fn kubectl_stepup(args: &[&str]) -> (String, String, i32) {
    run(env!("CARGO_BIN_EXE_kubectl-stepup"), args)
}

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
}

/// Findings without their location (a live Ingress is `ingress/ns/name`,
/// a dump is `file:line`): what was found, on what.
fn findings(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {} {}/{} {} {} {}",
                f["rule"],
                f["severity"],
                f["namespace"],
                f["ingress"],
                f["host"],
                f["path"],
                f["message"]
            )
        })
        .collect();
    out.sort();
    out
}

fn kubeconfig(s: &ApiServer, dir: &Path, ctx: &str) -> String {
    s.kubeconfig(dir, ctx).display().to_string()
}

/// The captured pages: `limit`, then each page's continue token; the
/// findings are those of `--from-file` on the same cluster's `kubectl get
/// -o json` dump, and of the same dump as YAML.
#[test]
fn controller_configmap_is_read_from_the_cluster() {
    // ingress-nginx's ConfigMap widens no-auth-locations over /admin: the
    // portal's auth-url no longer applies there (nginx.tmpl renders no
    // auth_request under a no-auth-locations prefix).
    let cm = serde_json::json!({"no-auth-locations": "/.well-known/acme-challenge,/admin", "proxy-body-size": "8m"});
    let s = ApiServer::start_with(Data::Captured, Fault::None, Some(cm));
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig(&s, dir.path(), "kind-audit");
    let (out, err, _) = stepup(&["audit", "--kubeconfig", &kc, "-o", "json"]);
    assert!(
        s.log()
            .iter()
            .any(|l| l == "configmap ingress-nginx/ingress-nginx-controller")
    );
    let f = findings(&json(&out));
    assert!(
        f.iter()
            .any(|x| x.starts_with("\"SU021\"") && x.contains("\"portal\"")),
        "{f:?}"
    );
    assert!(err.contains("proxy-body-size is not modelled"), "{err}");

    // Without a readable ConfigMap: the defaults, and a note that says so.
    let s = ApiServer::start(Data::Captured, Fault::None);
    let kc = kubeconfig(&s, dir.path(), "kind-audit");
    let (out, err, _) = stepup(&["audit", "--kubeconfig", &kc, "-o", "json"]);
    assert!(
        err.contains("ConfigMap ingress-nginx/ingress-nginx-controller could not be read"),
        "{err}"
    );
    assert!(
        !findings(&json(&out))
            .iter()
            .any(|x| x.starts_with("\"SU021\""))
    );
}

#[test]
fn live_pages_match_the_dump() {
    let s = ApiServer::start(Data::Captured, Fault::None);
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig(&s, dir.path(), "kind-audit");
    let (out, err, code) = stepup(&[
        "audit",
        "--kubeconfig",
        &kc,
        "--chunk-size",
        "2",
        "-o",
        "json",
    ]);
    assert_eq!(code, 1, "errors are findings at --fail-on error\n{err}");
    assert!(err.contains("built-in starter policy"), "{err}");
    assert!(
        !err.contains("listing Ingresses"),
        "no progress bar in a pipe: {err}"
    );
    let live = json(&out);
    assert_eq!(live["summary"]["ingresses"], 5, "{out}");
    let log = s.log();
    let lists: Vec<&String> = log.iter().filter(|l| l.starts_with("ingresses")).collect();
    assert_eq!(lists.len(), 3, "{log:?}");
    assert!(lists[0].ends_with("limit=2 continue="), "{log:?}");
    let page1: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("testdata/cluster/ingress-list-page1.json")).unwrap(),
    )
    .unwrap();
    let token1 = page1["metadata"]["continue"].as_str().unwrap();
    assert!(lists[1].ends_with(&format!("continue={token1}")), "{log:?}");
    assert!(log.iter().any(|l| l == "ingressclasses"), "{log:?}");
    // Live findings name the object.
    assert!(
        live["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["file"] == "ingress/team-a/web"),
        "{out}"
    );

    let dump = root().join("testdata/cluster/ingress-list.json");
    let (out_file, err, code) =
        stepup(&["audit", "--from-file", dump.to_str().unwrap(), "-o", "json"]);
    assert_eq!(code, 1, "{err}");
    let from_file = json(&out_file);
    assert_eq!(findings(&live), findings(&from_file));
    assert_eq!(live["hosts"], from_file["hosts"]);
    assert!(!findings(&live).is_empty());

    // The same dump as YAML (`kubectl get ingress -A -o yaml`).
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&dump).unwrap()).unwrap();
    let yaml = dir.path().join("ingresses.yaml");
    std::fs::write(&yaml, serde_yaml::to_string(&v).unwrap()).unwrap();
    let (out_yaml, err, code) =
        stepup(&["audit", "--from-file", yaml.to_str().unwrap(), "-o", "json"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(findings(&live), findings(&json(&out_yaml)));

    // SARIF from the same run shape; --fail-on never exits 0.
    let (sarif, err, code) = stepup(&[
        "audit",
        "--kubeconfig",
        &kc,
        "-o",
        "sarif",
        "--fail-on",
        "never",
    ]);
    assert_eq!(code, 0, "{err}");
    let sarif = json(&sarif);
    assert_eq!(
        sarif["runs"][0]["results"].as_array().unwrap().len(),
        live["findings"].as_array().unwrap().len()
    );
}

/// The human table: one per host, columns and statuses; colour only when
/// asked.
#[test]
fn human_table_per_host() {
    let s = ApiServer::start(Data::Captured, Fault::None);
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig(&s, dir.path(), "kind-audit");
    let (out, err, code) = stepup(&["audit", "--kubeconfig", &kc]);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("context kind-audit"), "{out}");
    assert!(out.contains("all namespaces"), "{out}");
    assert!(out.contains("PATH"), "{out}");
    assert!(out.contains("REQUIRED"), "{out}");
    assert!(out.contains("ENFORCED"), "{out}");
    let web = out
        .split("web.example.com\n")
        .nth(1)
        .unwrap_or_else(|| panic!("{out}"));
    let row = web.lines().nth(1).unwrap();
    assert!(row.contains("team-a/web"), "{row}");
    assert!(row.contains("none"), "{row}");
    assert!(row.contains("error SU001"), "{row}");
    assert!(!out.contains('\x1b'), "no colour in a pipe");
    let (out, _, _) = stepup(&["audit", "--kubeconfig", &kc, "--color", "always"]);
    assert!(out.contains("\x1b[1;31merror SU001"), "{out}");
}

/// `kubectl stepup audit` parses -n, -A, --context and --kubeconfig
/// itself; without -n/-A it lists the context's namespace, as kubectl does.
#[test]
fn kubectl_plugin_flags() {
    let s = ApiServer::start(Data::Captured, Fault::None);
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig(&s, dir.path(), "kind-audit");
    let (out, err, code) = kubectl_stepup(&["audit", "--kubeconfig", &kc, "-o", "json"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("only namespace team-b"), "{err}");
    let v = json(&out);
    assert_eq!(v["summary"]["ingresses"], 3, "{out}");
    let (out, err, code) = kubectl_stepup(&[
        "audit",
        "--kubeconfig",
        &kc,
        "--context",
        "kind-audit",
        "--namespace",
        "team-a",
        "-o",
        "json",
    ]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(json(&out)["summary"]["ingresses"], 2, "{out}");
    let (out, err, _) = kubectl_stepup(&["audit", "--kubeconfig", &kc, "-A", "-o", "json"]);
    assert_eq!(json(&out)["summary"]["ingresses"], 5, "{err}");
    let log = s.log();
    assert!(
        log.iter().any(|l| l.starts_with("ingresses ns=team-b")),
        "{log:?}"
    );
    assert!(
        log.iter().any(|l| l.starts_with("ingresses ns=team-a")),
        "{log:?}"
    );
    // A context the kubeconfig does not have is a usage error.
    let (_, err, code) = kubectl_stepup(&["audit", "--kubeconfig", &kc, "--context", "nope"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("\"nope\"") && err.contains("kind-audit"),
        "{err}"
    );
    // -n and -A together are refused.
    let (_, _, code) = kubectl_stepup(&["audit", "--kubeconfig", &kc, "-n", "x", "-A"]);
    assert_eq!(code, 2);
}

/// 401 and 403: exit 3, the context and the reason in the message.
#[test]
fn unauthorized_and_forbidden_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    for (fault, ctx, needle) in [
        (Fault::Unauthorized, "ctx-401", "401"),
        (
            Fault::Forbidden,
            "ctx-403",
            "cannot list resource \"ingresses\"",
        ),
    ] {
        let s = ApiServer::start(Data::Captured, fault);
        let kc = kubeconfig(&s, dir.path(), ctx);
        let (out, err, code) = stepup(&["audit", "--kubeconfig", &kc]);
        assert_eq!(code, 3, "{fault:?}: {out}{err}");
        assert!(err.contains(&format!("context \"{ctx}\"")), "{err}");
        assert!(err.contains(needle), "{err}");
        assert!(out.is_empty(), "{out}");
    }
}

/// A continue token that expired (410 Gone): the list starts again once,
/// says so, and the result is complete.
#[test]
fn gone_continue_token_restarts_the_list() {
    let s = ApiServer::start(Data::Captured, Fault::GoneOnce);
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig(&s, dir.path(), "kind-audit");
    let (out, err, code) = stepup(&[
        "audit",
        "--kubeconfig",
        &kc,
        "--chunk-size",
        "2",
        "-o",
        "json",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("410 Gone"), "{err}");
    assert_eq!(json(&out)["summary"]["ingresses"], 5, "{out}");
    let log = s.log();
    let starts = log
        .iter()
        .filter(|l| l.starts_with("ingresses") && l.ends_with("continue="))
        .count();
    assert_eq!(starts, 2, "{log:?}");
}

/// A server that accepts and never answers: bounded by --request-timeout.
#[test]
fn hanging_server_times_out_with_exit_3() {
    let s = ApiServer::start(Data::Captured, Fault::Hang);
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig(&s, dir.path(), "ctx-hang");
    let t = Instant::now();
    let (_, err, code) = stepup(&["audit", "--kubeconfig", &kc, "--request-timeout", "1s"]);
    assert_eq!(code, 3, "{err}");
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    assert!(err.contains("context \"ctx-hang\""), "{err}");
}

/// Nothing listens: exit 3, unreachable.
#[test]
fn closed_port_exit_3() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let kc = apiserver::write_kubeconfig(
        dir.path(),
        "ctx-closed",
        &format!("https://127.0.0.1:{port}"),
        "not a pem",
    );
    let (_, err, code) = stepup(&["audit", "--kubeconfig", kc.to_str().unwrap()]);
    assert!(code == 3 || code == 2, "{err}");
    // With a valid CA the connection itself fails.
    let s = ApiServer::start(Data::Captured, Fault::None);
    let kc = apiserver::write_kubeconfig(
        dir.path(),
        "ctx-closed",
        &format!("https://127.0.0.1:{port}"),
        &s.ca_pem,
    );
    let (_, err, code) = stepup(&["audit", "--kubeconfig", kc.to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("context \"ctx-closed\""), "{err}");
    assert!(err.contains("unreachable"), "{err}");
}

/// 10,000 generated Ingresses in pages of 500: every page read, every
/// Ingress audited (the unprotected third found).
#[test]
fn ten_thousand_ingresses_paged() {
    let n = 10_000;
    let s = ApiServer::start(Data::Generated(n), Fault::None);
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig(&s, dir.path(), "kind-big");
    let (out, err, code) = stepup(&["audit", "--kubeconfig", &kc, "-o", "json"]);
    assert_eq!(code, 1, "{err}");
    let v = json(&out);
    assert_eq!(v["summary"]["ingresses"], n, "{err}");
    let log = s.log();
    assert_eq!(
        log.iter().filter(|l| l.starts_with("ingresses")).count(),
        n / 500,
        "{log:?}"
    );
    // Every third Ingress has no auth: SU001 on its /admin.
    let su001: std::collections::HashSet<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "SU001" && f["path"] == "/admin")
        .filter_map(|f| f["ingress"].as_str())
        .collect();
    assert_eq!(su001.len(), n.div_ceil(3), "{err}");
}

/// PolicyReports: one per namespace, fail results for errors, pass for
/// clean Ingresses.
#[test]
fn policy_reports_per_namespace() {
    let dump = root().join("testdata/cluster/ingress-list.json");
    let (out, err, code) = stepup(&[
        "audit",
        "--from-file",
        dump.to_str().unwrap(),
        "--emit",
        "policyreport",
    ]);
    assert_eq!(code, 1, "{err}");
    let docs: Vec<Value> = out
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_yaml::from_str(d).unwrap())
        .collect();
    assert_eq!(docs.len(), 2, "{out}");
    for d in &docs {
        assert_eq!(d["apiVersion"], "wgpolicyk8s.io/v1alpha2");
        assert_eq!(d["kind"], "PolicyReport");
        let results = d["results"].as_array().unwrap();
        let fails = results.iter().filter(|r| r["result"] == "fail").count();
        assert_eq!(d["summary"]["fail"], fails);
        assert!(
            results
                .iter()
                .all(|r| r["resources"][0]["kind"] == "Ingress")
        );
    }
    assert_eq!(docs[0]["metadata"]["namespace"], "team-a");
    assert_eq!(docs[1]["metadata"]["namespace"], "team-b");
}

/// The HTML report is one page with no external reference and no script,
/// escapes what comes from the cluster, and shows its summary counts in a
/// real browser.
#[tokio::test(flavor = "multi_thread")]
async fn html_report_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    // An annotation value with markup: it must arrive as text.
    let mut v: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("testdata/cluster/ingress-list.json")).unwrap(),
    )
    .unwrap();
    v["items"][1]["metadata"]["name"] = Value::from("web");
    v["items"][1]["spec"]["rules"][0]["http"]["paths"][0]["path"] =
        Value::from("/<script>alert(1)</script>");
    let dump = dir.path().join("dump.json");
    std::fs::write(&dump, v.to_string()).unwrap();
    let (json_out, _, _) = stepup(&["audit", "--from-file", dump.to_str().unwrap(), "-o", "json"]);
    let summary = json(&json_out)["summary"].clone();
    let (html, err, code) = stepup(&["audit", "--from-file", dump.to_str().unwrap(), "-o", "html"]);
    assert_eq!(code, 1, "{err}");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("<script"), "no script, and markup escaped");
    assert!(html.contains("/&lt;script&gt;alert(1)&lt;/script&gt;"));
    for external in ["http-equiv", "<link", "src=", "@import", "url("] {
        assert!(!html.contains(external), "{external}");
    }
    let page = dir.path().join("report.html");
    std::fs::write(&page, &html).unwrap();
    let errors = summary["errors"].as_u64().unwrap();
    let warnings = summary["warnings"].as_u64().unwrap();
    assert!(errors > 0 && warnings > 0, "{summary}");

    let b = browser::Browser::start("audit", "html_report_in_chromium").await;
    b.goto(&format!("file://{}", page.display())).await;
    b.screenshot("report").await;
    for (id, n, label) in [
        ("count-errors", errors, "errors"),
        ("count-warnings", warnings, "warnings"),
        ("count-ingresses", 5, "Ingresses"),
    ] {
        let got = b
            .script(
                id,
                &format!(
                    "const e = document.getElementById('{id}'); const r = e.getBoundingClientRect(); \
                     const s = getComputedStyle(e); \
                     return {{text: e.innerText, visible: r.width > 0 && r.height > 0 && r.top >= 0 \
                       && r.bottom <= window.innerHeight && s.visibility === 'visible' && s.display !== 'none'}};"
                ),
            )
            .await;
        assert_eq!(got["visible"], true, "{id}: {got}");
        let text = got["text"].as_str().unwrap_or("").replace('\n', " ");
        assert_eq!(text, format!("{n} {label}"), "{id}: {got}");
    }
    let text = b.text().await;
    assert!(text.contains("/<script>alert(1)</script>"), "shown as text");
    b.close().await;
}

/// Rules whose finding says the route needs auth it does not get.
const NEEDS_AUTH_RULES: [&str; 4] = ["SU001", "SU002", "SU003", "SU006"];

/// Every audit row with a finding that says the route needs auth must not
/// say REQUIRED public; the number of such rows.
fn assert_required_matches_findings(policy: &str, dump: &str) -> usize {
    let (out, err, _) = stepup(&["audit", "-p", policy, "--from-file", dump, "-o", "json"]);
    let v = json(&out);
    let mut rows = 0;
    for h in v["hosts"]
        .as_array()
        .unwrap_or_else(|| panic!("{out}{err}"))
    {
        for r in h["routes"].as_array().unwrap() {
            let rules: Vec<&str> = r["rules"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            if rules.iter().any(|x| NEEDS_AUTH_RULES.contains(x)) {
                rows += 1;
                assert_ne!(r["required"], "public", "{} {}: {r}", h["host"], r["path"]);
            }
        }
    }
    rows
}

/// audit's REQUIRED column is lint's level for the route: a `Prefix /app`
/// whose `= /app` location needs mfa said `public` beside `error SU001`
/// (audit judged only one of the two locations the path renders).
#[test]
fn regression_required_column_is_lints_level() {
    let policy = root().join("testdata/audit/required-prefix-policy.yaml");
    let dump = root().join("testdata/audit/required-prefix-ingress.yaml");
    let (policy, dump) = (policy.to_str().unwrap(), dump.to_str().unwrap());
    assert!(assert_required_matches_findings(policy, dump) > 0);
    let (out, _, _) = stepup(&["audit", "-p", policy, "--from-file", dump]);
    let row = out
        .lines()
        .find(|l| l.trim_start().starts_with("/app "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        row.contains(" mfa ") && row.contains("error SU001"),
        "{row}"
    );
    // The same property on the other fixtures: the shop, the routing
    // corpus and every lint rule's firing fixture.
    let shop = root().join("testdata/shop");
    let mut flagged = assert_required_matches_findings(
        shop.join("policy.yaml").to_str().unwrap(),
        shop.join("ingresses").to_str().unwrap(),
    );
    let lint_policy = root().join("testdata/lint/policy.yaml");
    let mut dumps = vec![root().join("testdata/routing/ingresses.yaml")];
    // Fixtures of unreadable input (SU023), a name defined twice (SU024)
    // and unresolved GitOps variables (SU027) are not cluster dumps: audit
    // refuses them (exit 2), as a cluster cannot hold them.
    let not_dumps = ["SU023", "SU024", "SU027"];
    for e in std::fs::read_dir(root().join("testdata/lint")).unwrap() {
        let dir = e.unwrap().path();
        let fires = dir.join("fires.yaml");
        let rule = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if fires.is_file() && !not_dumps.contains(&rule) {
            dumps.push(fires);
        }
    }
    for d in &dumps {
        flagged +=
            assert_required_matches_findings(lint_policy.to_str().unwrap(), d.to_str().unwrap());
    }
    assert!(flagged > 3, "{flagged} flagged rows across the fixtures");
}
