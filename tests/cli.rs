//! End-to-end tests of the real `stepup` and `kubectl-stepup` binaries:
//! exit codes, output contracts, and bad input at the CLI boundary.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn shop(p: &str) -> String {
    root().join("testdata/shop").join(p).display().to_string()
}

fn stepup(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stepup"))
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .unwrap()
}

fn text(o: &Output) -> (String, String, i32) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        o.status.code().unwrap_or(-1),
    )
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.display().to_string()
}

/// `init` writes a starter policy that `simulate` accepts.
#[test]
fn init_then_simulate() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("policy.yaml").display().to_string();
    let (out, _, code) = text(&stepup(&["init", "-o", &p]));
    assert_eq!(code, 0, "{out}");
    let (_, err, code) = text(&stepup(&["init", "-o", &p]));
    assert_eq!(code, 2);
    assert!(err.contains("--force"), "{err}");
    let (out, err, code) = text(&stepup(&[
        "simulate",
        "-p",
        &p,
        "--color",
        "never",
        "https://shop.example.com/admin",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("rule      admin-console → level admin"),
        "{out}"
    );
    assert!(out.contains("unauthenticated → 401"), "{out}");
}

/// The JSON shape of SPEC §3 for simulate.
#[test]
fn simulate_json_contract() {
    let claims = r#"{"sub":"alice","acr":"urn:stepup:password","amr":["pwd"],"auth_time":"-2m","exp":"+1h"}"#;
    let o = stepup(&[
        "simulate",
        "-p",
        &shop("policy.yaml"),
        "-f",
        &shop("ingresses"),
        "-X",
        "POST",
        "--claims",
        claims,
        "-o",
        "json",
        "https://api.shop.example/api/payments/charges",
    ]);
    let (out, err, code) = text(&o);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for k in ["route", "rule", "level", "decision", "status", "headers"] {
        assert!(v.get(k).is_some(), "missing {k}: {out}");
    }
    for k in ["ingress", "host", "path", "pathType", "backend"] {
        assert!(v["route"].get(k).is_some(), "route.{k}: {out}");
    }
    assert_eq!(v["route"]["ingress"], "shop/payments-api");
    assert_eq!(v["decision"], "step_up");
    assert_eq!(v["status"], 401);
    assert_eq!(v["rule"], "payments");
    let www = v["headers"]["WWW-Authenticate"].as_str().unwrap();
    assert!(
        www.contains("error=\"insufficient_user_authentication\"") && www.contains("max_age=900"),
        "{www}"
    );
    assert_eq!(v["claimsVerified"], true);
}

/// The shop cases pass, one line each, with the closing summary.
#[test]
fn test_command_passes_on_the_shop() {
    let (out, err, code) = text(&stepup(&[
        "test",
        "-p",
        &shop("policy.yaml"),
        "-f",
        &shop("ingresses"),
        &shop("cases.yaml"),
    ]));
    assert_eq!(code, 0, "{out}{err}");
    let summary = out.lines().last().unwrap();
    let passed: usize = summary.split(' ').next().unwrap().parse().unwrap();
    assert!(passed >= 25, "{summary}");
    assert!(summary.ends_with(" passed, 0 failed"), "{summary}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("PASS")).count(),
        passed
    );
}

/// A failing case: exit 1, the mismatch named with file:line.
#[test]
fn failing_case_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let cases = write(
        dir.path(),
        "c.yaml",
        "apiVersion: stepup.dev/v1alpha1\nkind: StepUpTests\ncases:\n  - name: wrong on purpose\n    request: GET https://admin.shop.example/admin\n    expect: {decision: allow, status: 200}\n",
    );
    let (out, _, code) = text(&stepup(&[
        "test",
        "-p",
        &shop("policy.yaml"),
        "-f",
        &shop("ingresses"),
        &cases,
        "--color",
        "never",
    ]));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("FAIL  {cases}:4  wrong on purpose")),
        "{out}"
    );
    assert!(
        out.contains("decision: expected allow, got unauthenticated"),
        "{out}"
    );
    assert!(out.ends_with("0 passed, 1 failed\n"), "{out}");
}

/// `--token` decodes without verifying, and says so.
#[test]
fn token_is_marked_unverified() {
    // {"alg":"RS256"} . {"sub":"a","acr":"phrh","amr":["hwk"],"groups":["shop-admins"],"auth_time":1700000000}
    let payload = "eyJzdWIiOiJhIiwiYWNyIjoicGhyaCIsImFtciI6WyJod2siXSwiZ3JvdXBzIjpbInNob3AtYWRtaW5zIl0sImF1dGhfdGltZSI6MTcwMDAwMDAwMH0";
    let token = format!("eyJhbGciOiJSUzI1NiJ9.{payload}.c2ln");
    let (out, err, code) = text(&stepup(&[
        "simulate",
        "-p",
        &shop("policy.yaml"),
        "-f",
        &shop("ingresses"),
        "--token",
        &token,
        "--at",
        "1700000060",
        "--color",
        "never",
        "https://admin.shop.example/admin",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("allow → 200"), "{out}");
    assert!(out.contains("WITHOUT verifying"), "{out}");
    let (_, err, code) = text(&stepup(&[
        "simulate",
        "-p",
        &shop("policy.yaml"),
        "--token",
        "not.a.jwt!",
        "https://x/",
    ]));
    assert_eq!(code, 2);
    assert!(
        err.contains("--token: JWT header is not base64url"),
        "{err}"
    );
}

/// `--claims @FILE` and stdin manifests (`-f -`).
#[test]
fn claims_file_and_stdin_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let claims = write(
        dir.path(),
        "c.json",
        r#"{"sub":"bob","acr":"phrh","amr":["hwk"],"groups":["sre"],"auth_time":"-1m"}"#,
    );
    let manifest = std::fs::read_to_string(shop("ingresses/grafana.yaml")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_stepup"))
        .args([
            "simulate",
            "-p",
            &shop("policy.yaml"),
            "-f",
            "-",
            "--claims",
            &format!("@{claims}"),
            "-o",
            "json",
            "https://grafana.shop.example/d/x",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(manifest.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let (out, err, code) = text(&o);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["route"]["ingress"], "monitoring/grafana");
}

/// Bad policy input (SPEC §6): exit 2, message with file:line, no panic.
#[test]
fn bad_policies_exit_2_with_location() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(shop("policy.yaml")).unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "malformed",
            "apiVersion: [\nkind: x\n".to_string(),
            "invalid YAML/JSON",
        ),
        (
            "wrong-kind",
            good.replace("kind: StepUpPolicy", "kind: Ingress"),
            "kind: expected \"StepUpPolicy\"",
        ),
        (
            "unknown-level",
            good.replacen("level: mfa", "level: mfaa", 1),
            "unknown level \"mfaa\"",
        ),
        (
            "cycle",
            good.replacen("extends: mfa", "extends: admin", 1),
            "cycle in extends",
        ),
        (
            "bad-glob",
            good.replacen("/admin/**", "/admin**", 1),
            "`**` must be a whole segment",
        ),
        (
            "duplicate-key",
            good.replacen("spec:\n", "spec:\n  default: public\n", 1),
            "duplicate key `default`",
        ),
        (
            "json-garbage",
            "{\"apiVersion\": ".to_string(),
            "invalid YAML/JSON",
        ),
    ];
    for (name, body, want) in cases {
        let p = write(dir.path(), &format!("{name}.yaml"), &body);
        let o = stepup(&["simulate", "-p", &p, "https://x/"]);
        let (_, err, code) = text(&o);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(err.contains(want), "{name}: {err}");
        assert!(
            err.contains(&format!("{p}:")),
            "{name} names file:line: {err}"
        );
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
}

/// Bad manifests: exit 2 with file:line.
#[test]
fn bad_manifests_exit_2_with_location() {
    let dir = tempfile::tempdir().unwrap();
    let policy = shop("policy.yaml");
    let cases = [
        (
            "syntax.yaml",
            "kind: Ingress\nmetadata: {name: x\n",
            "invalid YAML/JSON",
        ),
        (
            "no-type.yaml",
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: x}\nspec:\n  rules:\n    - host: a.test\n      http:\n        paths:\n          - path: /a\n            backend: {service: {name: s, port: {number: 80}}}\n",
            ":9: Ingress x: pathType is required",
        ),
        (
            "dup.yaml",
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: x, name: y}\n",
            "duplicate key `name`",
        ),
    ];
    for (name, body, want) in cases {
        let p = write(dir.path(), name, body);
        let (_, err, code) = text(&stepup(&[
            "simulate",
            "-p",
            &policy,
            "-f",
            &p,
            "https://a.test/a",
        ]));
        assert_eq!(code, 2, "{name}: {err}");
        assert!(err.contains(p.as_str()), "{name}: {err}");
        assert!(err.contains(want), "{name}: {err}");
    }
    let bin = dir.path().join("bin.yaml");
    std::fs::write(&bin, [0xff, 0xfe, 0x00]).unwrap();
    let (_, err, code) = text(&stepup(&[
        "simulate",
        "-p",
        &policy,
        "-f",
        &bin.display().to_string(),
        "https://a.test/",
    ]));
    assert_eq!(code, 2);
    assert!(err.contains("not UTF-8"), "{err}");
}

/// Huge files are refused before they are read.
#[test]
fn huge_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("huge.yaml");
    let f = std::fs::File::create(&p).unwrap();
    f.set_len(stepup::source::MAX_FILE_BYTES + 1).unwrap(); // sparse
    let (_, err, code) = text(&stepup(&[
        "simulate",
        "-p",
        &p.display().to_string(),
        "https://x/",
    ]));
    assert_eq!(code, 2);
    assert!(err.contains("larger than the 256 MiB limit"), "{err}");
}

/// Usage errors exit 2; the same binary runs as a kubectl plugin.
#[test]
fn usage_and_plugin() {
    let (_, err, code) = text(&stepup(&["simulate"]));
    assert_eq!(code, 2, "{err}");
    let (_, err, code) = text(&stepup(&[
        "simulate",
        "-p",
        &shop("policy.yaml"),
        "not-a-url",
    ]));
    assert_eq!(code, 2);
    assert!(err.contains("not an absolute http(s) URL"), "{err}");
    let (_, err, code) = text(&stepup(&[
        "simulate",
        "-p",
        &shop("policy.yaml"),
        "-X",
        "get",
        "https://x/",
    ]));
    assert_eq!(code, 2);
    assert!(err.contains("upper-case"), "{err}");
    let o = Command::new(env!("CARGO_BIN_EXE_kubectl-stepup"))
        .arg("--help")
        .output()
        .unwrap();
    let (out, _, code) = text(&o);
    assert_eq!(code, 0);
    assert!(out.contains("kubectl stepup"), "{out}");
}

/// Colour: never by default in a pipe, always on request, and NO_COLOR is
/// honoured in auto mode.
#[test]
fn colour_control() {
    let args = [
        "simulate",
        "-p",
        &shop("policy.yaml"),
        "https://www.shop.example/",
    ];
    let (plain, _, _) = text(&stepup(&args));
    assert!(!plain.contains('\x1b'), "{plain}");
    let mut always = args.to_vec();
    always.extend(["--color", "always"]);
    let (coloured, _, _) = text(&stepup(&always));
    assert!(coloured.contains('\x1b'), "{coloured}");
}

/// A closed pipe ends the command quietly with 0.
#[test]
fn broken_pipe_is_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let mut body = String::from("apiVersion: stepup.dev/v1alpha1\nkind: StepUpTests\ncases:\n");
    for i in 0..3000 {
        body.push_str(&format!("  - {{name: case-{i}-with-a-long-name-to-fill-the-pipe, request: GET https://www.shop.example/, expect: {{decision: allow}}}}\n"));
    }
    let cases = write(dir.path(), "many.yaml", &body);
    let mut child = Command::new(env!("CARGO_BIN_EXE_stepup"))
        .args([
            "test",
            "-p",
            &shop("policy.yaml"),
            "-f",
            &shop("ingresses"),
            &cases,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let (_, err, code) = text(&o);
    assert_eq!(code, 0, "{err}");
    assert!(err.is_empty(), "{err}");
}

/// `generate` through the real binary: its output (plain and --split) lints
/// clean where the input had the shadowed admin path; notes go to stderr.
#[test]
fn generate_output_lints_clean() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, code) = text(&stepup(&[
        "lint",
        "-p",
        &shop("policy.yaml"),
        &shop("ingresses"),
    ]));
    assert_eq!(code, 1, "the shop input has an error to fix");
    let policy = shop("policy.yaml");
    for split in [false, true] {
        let mut args = vec!["generate", "-p", policy.as_str()];
        if split {
            args.push("--split");
        }
        let dir_arg = shop("ingresses");
        args.push(&dir_arg);
        let (out, err, code) = text(&stepup(&args));
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains("nginx.ingress.kubernetes.io/auth-url"),
            "{out}"
        );
        let p = write(dir.path(), &format!("gen-{split}.yaml"), &out);
        let (lint_out, _, code) = text(&stepup(&[
            "lint",
            "-p",
            &shop("policy.yaml"),
            &p,
            "--fail-on",
            "warning",
            "--color",
            "never",
        ]));
        assert_eq!(code, 0, "split={split}: {lint_out}");
        assert!(lint_out.contains("0 error(s), 0 warning(s)"), "{lint_out}");
    }
    let (_, err, code) = text(&stepup(&[
        "generate",
        "-p",
        &shop("policy.yaml"),
        "/nonexistent.yaml",
    ]));
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent.yaml"), "{err}");
}

/// Issue 17 through the real binary, on a real-world file: a `Prefix /`
/// site of class nginx gets its protected sub-paths carved out with
/// --split and its public root stays public (lint of the output is free of
/// SU001 and of SU028 over-protection), while the ministryofjustice
/// Ingresses (class modsec, which ingress-nginx does not serve here) get no
/// nginx annotations and a note that says why; `--ingress-class` adds one.
#[test]
fn regression_generate_split_keeps_public_roots_and_skips_unserved_classes() {
    let dir = tempfile::tempdir().unwrap();
    let policy = root()
        .join("testdata/realworld-policy.yaml")
        .display()
        .to_string();
    let site = write(
        dir.path(),
        "site.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: site, namespace: web}\nspec:\n  ingressClassName: nginx\n  tls: [{hosts: [www.example.org], secretName: t}]\n  rules:\n    - host: www.example.org\n      http:\n        paths:\n          - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}\n",
    );
    let (out, err, code) = text(&stepup(&["generate", "--split", "-p", &policy, &site]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("name: site-admin"), "{out}");
    assert!(!out.contains("level=deny"), "{out}");
    let generated = write(dir.path(), "gen.yaml", &out);
    let (lint, _, _) = text(&stepup(&["lint", "-p", &policy, "-o", "json", &generated]));
    assert!(
        !lint.contains("\"SU001\"") && !lint.contains("\"SU028\""),
        "{lint}"
    );
    let moj = root()
        .join("testdata/realworld/ministryofjustice__laa-fee-calculator/kubernetes_deploy/live/production/ingress.yaml")
        .display()
        .to_string();
    let (out, err, code) = text(&stepup(&["generate", "--split", "-p", &policy, &moj]));
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("auth-url"), "{out}");
    assert!(
        err.contains("class modsec is not served by ingress-nginx"),
        "{err}"
    );
    let (_, err, code) = text(&stepup(&[
        "generate",
        "--ingress-class",
        "modsec",
        "-p",
        &policy,
        &moj,
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("is not served"), "{err}");
}

/// The controller's settings are an input (docs/routing.md §8): a default
/// IngressClass in the manifests gives class-less Ingresses its class; the
/// ConfigMap (`--controller-config`, or the policy's `spec.controller`)
/// changes which locations get auth; a bad value is exit 2 with its line.
#[test]
fn controller_settings_change_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let policy_body = "apiVersion: stepup.dev/v1alpha1\nkind: StepUpPolicy\nspec:\n  authService: {url: \"http://stepup.stepup-system.svc.cluster.local:8080\"}\n  levels: [{name: admin, acr: [urn:stepup:admin]}]\n  rules: [{name: admin, paths: [/admin, /admin/**], level: admin}]\n  default: public\n";
    let policy = write(dir.path(), "policy.yaml", policy_body);
    let ingress = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: app\n  namespace: shop\n  annotations:\n    nginx.ingress.kubernetes.io/auth-url: \"http://stepup.stepup-system.svc.cluster.local:8080/auth?level=admin&host=$host\"\nspec:\n  rules:\n    - host: h.test\n      http:\n        paths:\n          - {path: /admin, pathType: Prefix, backend: {service: {name: admin, port: {number: 80}}}}\n";
    let bare = write(dir.path(), "bare.yaml", ingress);
    let class = "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata:\n  name: nginx\n  annotations: {ingressclass.kubernetes.io/is-default-class: \"true\"}\nspec: {controller: k8s.io/ingress-nginx}\n---\n";
    let with_class = write(dir.path(), "with-class.yaml", &format!("{class}{ingress}"));
    let cm = write(
        dir.path(),
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ingress-nginx-controller, namespace: ingress-nginx}\ndata:\n  no-auth-locations: \"/.well-known/acme-challenge,/adm\"\n",
    );
    let sim = |files: &str, extra: &[&str]| {
        let mut args = vec!["simulate", "-p", &policy, "-f", files, "-o", "json"];
        args.extend_from_slice(extra);
        args.push("https://h.test/admin/users");
        let (out, err, code) = text(&stepup(&args));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        (v, err, code)
    };
    // Class-less and no default IngressClass: ingress-nginx does not serve it.
    let (v, _, _) = sim(&bare, &[]);
    assert_eq!(v["exposed"], true, "{v}");
    // The default IngressClass in the manifests: served, behind stepup.
    let (v, err, _) = sim(&with_class, &[]);
    assert_eq!(v["decision"], "unauthenticated", "{v}");
    assert!(err.contains("take the default IngressClass nginx"), "{err}");
    // --watch-ingress-without-class serves it too.
    let (v, _, _) = sim(&bare, &["--watch-ingress-without-class"]);
    assert_eq!(v["decision"], "unauthenticated", "{v}");
    // no-auth-locations "/adm" is a string prefix of "/admin/": no auth.
    let (v, _, _) = sim(&with_class, &["--controller-config", &cm]);
    assert_eq!(
        (v["decision"].as_str(), v["exposed"].as_bool()),
        (Some("allow"), Some(true)),
        "{v}"
    );
    // The same from the policy's spec.controller.
    let p2 = write(
        dir.path(),
        "policy2.yaml",
        &format!(
            "{policy_body}  controller:\n    config: {{no-auth-locations: /adm}}\n    flags: {{watch-ingress-without-class: \"true\"}}\n"
        ),
    );
    let (out, err, _) = text(&stepup(&[
        "simulate",
        "-p",
        &p2,
        "-f",
        &bare,
        "-o",
        "json",
        "https://h.test/admin/users",
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    assert_eq!(v["exposed"], true, "{out}{err}");
    assert_eq!(v["decision"], "allow", "{out}{err}");
    // A bad value: exit 2, file and line.
    let bad = write(
        dir.path(),
        "bad.yaml",
        "kind: ConfigMap\ndata:\n  ssl-redirect: \"yes\"\n",
    );
    let (_, err, code) = sim(&with_class, &["--controller-config", &bad]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bad.yaml:3:"), "{err}");
}

fn sim_fixture(p: &str) -> String {
    root()
        .join("testdata/simulate")
        .join(p)
        .display()
        .to_string()
}

/// `simulate -o json` on testdata/simulate with extra flags.
fn simulate_json(extra: &[&str], url: &str) -> serde_json::Value {
    let (pol, ing) = (sim_fixture("policy.yaml"), sim_fixture("ingresses.yaml"));
    let mut args = vec!["simulate", "-p", &pol, "-f", &ing, "-o", "json"];
    args.extend_from_slice(extra);
    args.push(url);
    let (out, err, code) = text(&stepup(&args));
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// `auth-type: basic` answers 401 with nginx's `WWW-Authenticate: Basic
/// realm="<auth-realm>"` (it said `Bearer realm="stepup"`, and a JWT in
/// --claims let the request through); `--basic-auth` sends credentials,
/// which stepup cannot check, and says so.
#[test]
fn regression_basic_auth_answers_basic_challenge() {
    let url = "https://staff.example.com/";
    let v = simulate_json(&["--claims", r#"{"sub":"a"}"#], url);
    assert_eq!(v["status"], 401, "{v}");
    assert_eq!(v["decision"], "unauthenticated");
    assert_eq!(
        v["headers"]["WWW-Authenticate"],
        "Basic realm=\"Staff only\""
    );
    let cond = v["conditions"].to_string();
    assert!(cond.contains("with valid credentials"), "{cond}");
    let v = simulate_json(&["--basic-auth", "alice:secret"], url);
    assert_eq!(v["status"], 200, "{v}");
    assert!(
        v["conditions"].to_string().contains("shop/staff-htpasswd"),
        "{v}"
    );
    let (pol, ing) = (sim_fixture("policy.yaml"), sim_fixture("ingresses.yaml"));
    let (out, _, _) = text(&stepup(&[
        "simulate", "-p", &pol, "-f", &ing, "--color", "never", url,
    ]));
    assert!(
        out.contains("WWW-Authenticate: Basic realm=\"Staff only\""),
        "{out}"
    );
    assert!(out.contains("depends"), "{out}");
    let (_, err, code) = text(&stepup(&[
        "simulate",
        "-p",
        &pol,
        "-f",
        &ing,
        "--basic-auth",
        "nocolon",
        url,
    ]));
    assert_eq!(code, 2, "{err}");
}

/// `whitelist-source-range` (alias of `allowlist-source-range`) and
/// `denylist-source-range`: 403 before auth from outside (or inside the
/// denylist); without --client-ip the answer says it depends on the
/// address; an invalid range denies the location (503).
#[test]
fn regression_source_ranges_are_modelled() {
    let url = "https://ops.example.com/";
    let v = simulate_json(&["--client-ip", "8.8.8.8"], url);
    assert_eq!(
        (v["status"].as_u64(), v["decision"].as_str()),
        (Some(403), Some("forbidden")),
        "{v}"
    );
    assert_eq!(v["clientIP"], "8.8.8.8");
    let v = simulate_json(&["--client-ip", "10.66.0.9"], url);
    assert_eq!(v["status"], 403, "denylist: {v}");
    let v = simulate_json(&["--client-ip", "10.1.2.3"], url);
    assert_eq!(v["status"], 401, "allowed, then basic auth: {v}");
    let v = simulate_json(&[], url);
    assert_eq!(v["status"], 401, "{v}");
    let cond = v["conditions"].to_string();
    assert!(
        cond.contains("depends on the client address") && cond.contains("10.0.0.0/8"),
        "{cond}"
    );
    let v = simulate_json(&["--client-ip", "8.8.8.8"], "https://bad.example.com/");
    assert_eq!(v["status"], 503, "{v}");
    let (pol, ing) = (sim_fixture("policy.yaml"), sim_fixture("ingresses.yaml"));
    let (_, err, code) = text(&stepup(&[
        "simulate",
        "-p",
        &pol,
        "-f",
        &ing,
        "--client-ip",
        "10.0.0.0/8",
        url,
    ]));
    assert_eq!(code, 2, "{err}");
}

/// A canary sharing host and path shows both backends, the condition
/// (header → cookie → weight, `balancer.lua`), and that its own auth
/// annotations are not applied; `-H` and `--cookie` select.
#[test]
fn regression_canary_second_backend_is_shown() {
    let url = "https://www.example.com/app/x";
    let v = simulate_json(&[], url);
    let c = &v["canary"];
    assert_eq!(c["ingress"], "shop/web-canary", "{v}");
    assert_eq!(c["backend"], "web-v2:80");
    assert_eq!(c["primaryBackend"], "web:80");
    assert_eq!(c["selected"], serde_json::Value::Null);
    assert_eq!(c["probability"], 0.1);
    assert!(
        c["authNote"].as_str().unwrap_or("").contains("not applied"),
        "{c}"
    );
    assert_eq!(v["route"]["backend"], "web:80");
    let v = simulate_json(&["-H", "X-Canary: beta"], url);
    assert_eq!(v["canary"]["selected"], true, "{v}");
    assert_eq!(v["route"]["backend"], "web-v2:80");
    assert_eq!(
        v["status"], 401,
        "the location's auth applies to the canary too"
    );
    let v = simulate_json(&["-H", "X-Canary: other", "--cookie", "canary=always"], url);
    assert_eq!(
        v["canary"]["selected"], true,
        "header falls through to the cookie: {v}"
    );
    let v = simulate_json(&["--cookie", "canary=never"], url);
    assert_eq!(v["canary"]["selected"], false, "{v}");
    assert_eq!(v["route"]["backend"], "web:80");
}

/// `test` cases take `clientIP`, `basicAuth`, `headers` and `cookies`.
#[test]
fn regression_test_cases_carry_client_fields() {
    let dir = tempfile::tempdir().unwrap();
    let cases = write(
        dir.path(),
        "cases.yaml",
        r#"apiVersion: stepup.dev/v1alpha1
kind: StepUpTests
cases:
  - name: outside the allowlist
    request: GET https://ops.example.com/
    clientIP: 8.8.8.8
    expect: {status: 403}
  - name: inside, with credentials
    request: GET https://ops.example.com/
    clientIP: 10.1.1.1
    basicAuth: "ops:pw"
    expect: {status: 200}
  - name: canary by header
    request: GET https://www.example.com/app/x
    headers: {X-Canary: beta}
    expect: {backend: "web-v2:80"}
  - name: canary by cookie, never
    request: GET https://www.example.com/app/x
    cookies: {canary: never}
    expect: {backend: "web:80"}
"#,
    );
    let (pol, ing) = (sim_fixture("policy.yaml"), sim_fixture("ingresses.yaml"));
    let (out, err, code) = text(&stepup(&["test", "-p", &pol, "-f", &ing, &cases]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("4 passed, 0 failed"), "{out}");
}

/// `auth-type: digest`: the digest module is loaded with `load_module`, so
/// its 401 comes before allow/deny; with credentials the range decides.
/// A canary merged into a Service's upstream shows on every path to it.
#[test]
fn regression_digest_challenge_precedes_source_ranges() {
    let url = "https://vault.example.com/";
    let v = simulate_json(&["--client-ip", "8.8.8.8"], url);
    assert_eq!(v["status"], 401, "{v}");
    let www = v["headers"]["WWW-Authenticate"].as_str().unwrap_or("");
    assert!(www.starts_with("Digest realm=\"Vault\""), "{www}");
    assert!(
        v["conditions"].to_string().contains("then answers 403"),
        "{v}"
    );
    let v = simulate_json(&["--client-ip", "8.8.8.8", "--basic-auth", "a:b"], url);
    assert_eq!(v["status"], 403, "{v}");
    let v = simulate_json(&["--client-ip", "10.2.3.4", "--basic-auth", "a:b"], url);
    assert_eq!(v["status"], 200, "{v}");
    let v = simulate_json(&["-H", "x-canary: beta"], "https://www.example.com/shop/x");
    assert_eq!(
        v["canary"]["selected"], true,
        "same upstream, other path: {v}"
    );
}

/// `satisfy: any` (`ngx_http_core_access_phase`): a matching `allow` lets
/// the request in without auth; outside the range the auth decides (its
/// 401 wins over the 403), instead of a flat 403.
#[test]
fn regression_satisfy_any_lets_the_auth_decide_outside_the_range() {
    let url = "https://office.example.com/";
    let v = simulate_json(&["--client-ip", "10.1.1.1"], url);
    assert_eq!(v["status"], 200, "{v}");
    let v = simulate_json(&["--client-ip", "8.8.8.8"], url);
    assert_eq!(v["status"], 401, "{v}");
    let v = simulate_json(&[], url);
    assert_eq!(v["status"], 401, "{v}");
    assert!(v["conditions"].to_string().contains("without auth"), "{v}");
}

// === reading real repository trees (issue 17) ===

const LINT_POLICY: &str = "testdata/lint/policy.yaml";

fn lint_policy() -> String {
    root().join(LINT_POLICY).display().to_string()
}

/// An Ingress `ns/name` on `host` routing `path` (Prefix) without auth.
fn ingress(ns: &str, name: &str, host: &str, path: &str) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  ingressClassName: nginx\n  rules:\n    - host: {host}\n      http:\n        paths:\n          - path: {path}\n            pathType: Prefix\n            backend:\n              service: {{name: {name}, port: {{number: 80}}}}\n"
    )
}

/// `stepup lint -p testdata/lint/policy.yaml ARGS… -o json`: (JSON, stderr, exit).
fn lint_json(args: &[&str]) -> (serde_json::Value, String, i32) {
    let policy = lint_policy();
    let mut all = vec!["lint", "-p", policy.as_str(), "-o", "json"];
    all.extend_from_slice(args);
    let (out, err, code) = text(&stepup(&all));
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (v, err, code)
}

fn rules_of(v: &serde_json::Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect()
}

// Regression (issue 17): manifests in a hidden folder (`.k8s/`, as in
// ministryofjustice/Claim-for-Crown-Court-Defence) were skipped, and lint
// said "0 Ingress(es)" with exit 0. Hidden folders are read; only `.git`
// is skipped (a broken file in it is never reported).
#[test]
fn regression_hidden_folders_are_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".k8s/live")).unwrap();
    std::fs::create_dir_all(dir.path().join(".git")).unwrap();
    write(
        &dir.path().join(".k8s/live"),
        "ingress.yaml",
        &ingress("shop", "console", "admin.example.com", "/admin"),
    );
    write(&dir.path().join(".git"), "config.yaml", "not: [valid");
    let d = dir.path().display().to_string();
    let (v, err, code) = lint_json(&[&d, "--fail-on", "never"]);
    assert_eq!(code, 0, "{v}\n{err}");
    assert_eq!(v["summary"]["ingresses"], 1, "{v}");
    assert!(rules_of(&v).contains(&"SU001".to_string()), "{v}");
    assert!(!rules_of(&v).contains(&"SU023".to_string()), "{v}");
}

// Regression (issue 17): an input without any Ingress was a clean lint
// (exit 0). It is an input error (exit 2) saying what was read, in lint's
// report and on stderr of the other commands, unless --allow-empty.
#[test]
fn regression_no_ingress_is_an_input_error() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "svc.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n---\nplain: yaml\n",
    );
    let d = dir.path().display().to_string();
    let (v, _, code) = lint_json(&[&d]);
    assert_eq!(code, 2, "{v}");
    let f = &v["findings"][0];
    assert_eq!(f["rule"], "SU023", "{v}");
    let msg = f["message"].as_str().unwrap();
    assert!(
        msg.contains("no Ingress found")
            && msg.contains("read 1 file(s), 2 document(s), 2 object(s) of other kinds"),
        "{msg}"
    );
    let (v, _, code) = lint_json(&[&d, "--allow-empty"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(rules_of(&v), Vec::<String>::new());
    let policy = lint_policy();
    let sim = |extra: &[&str]| {
        let mut args = vec![
            "simulate",
            "-p",
            &policy,
            "-f",
            &d,
            "https://a.example.com/",
        ];
        args.extend_from_slice(extra);
        text(&stepup(&args))
    };
    let (_, err, code) = sim(&[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no Ingress found") && err.contains("--allow-empty"),
        "{err}"
    );
    assert_eq!(sim(&["--allow-empty"]).2, 0);
}

// Regression (issue 17): the loader stopped at the first bad file, so a
// repository showed one error per run. Every problem of every file is
// reported at once (file:line each), the valid Ingresses are linted, a
// Helm template gets a hint, and lint exits 2 after its report;
// simulate refuses to answer and prints them all.
#[test]
fn regression_every_input_error_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(
        dir.path(),
        "a-syntax.yaml",
        "kind: Ingress\nmetadata: {name: x\n",
    );
    let b = write(
        dir.path(),
        "b-type.yaml",
        &ingress("shop", "b", "b.example.com", "/b").replace("Prefix", "Prefixed"),
    );
    let c = write(
        dir.path(),
        "c-ok.yaml",
        &ingress("shop", "console", "admin.example.com", "/admin"),
    );
    let h = write(
        dir.path(),
        "d-helm.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {{ .Release.Name }}\n",
    );
    let d = dir.path().display().to_string();
    let (v, _, code) = lint_json(&[&d, "--fail-on", "never"]);
    assert_eq!(code, 2, "{v}");
    assert_eq!(v["summary"]["ingresses"], 1, "{v}");
    let findings = v["findings"].as_array().unwrap();
    let at = |file: &str, line: u64| {
        findings
            .iter()
            .find(|f| f["rule"] == "SU023" && f["file"] == file && f["line"] == line)
            .unwrap_or_else(|| panic!("no SU023 at {file}:{line} in {v}"))
    };
    at(&a, 3);
    at(&b, 12);
    let helm = at(&h, 4);
    assert!(
        helm["fix"].as_str().unwrap().contains("helm template"),
        "{helm}"
    );
    assert!(
        findings
            .iter()
            .any(|f| f["rule"] == "SU001" && f["file"] == c.as_str()),
        "{v}"
    );
    let policy = lint_policy();
    let (_, err, code) = text(&stepup(&[
        "simulate",
        "-p",
        &policy,
        "-f",
        &d,
        "https://admin.example.com/admin",
    ]));
    assert_eq!(code, 2, "{err}");
    for want in [format!("{a}:3:"), format!("{b}:12:"), format!("{h}:4:")] {
        assert!(err.contains(&want), "simulate: no {want} in\n{err}");
    }
    // generate and audit --from-file refuse partial input the same way.
    for args in [
        vec!["generate", "-p", policy.as_str(), d.as_str()],
        vec!["audit", "-p", policy.as_str(), "--from-file", d.as_str()],
    ] {
        let (out, err, code) = text(&stepup(&args));
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?} answered on partial input:\n{out}");
        for want in [format!("{a}:3:"), format!("{b}:12:"), format!("{h}:4:")] {
            assert!(err.contains(&want), "{args:?}: no {want} in\n{err}");
        }
    }
}

// Regression (issue 17): a name reused across files stopped the run
// ("Ingress default/cafe-ingress is defined twice"). Now the second is an
// SU024 finding (not modelled) and the run goes on; --each-file lints each
// file as its own cluster; in a kustomize tree the fix names the build.
#[test]
fn regression_reused_names_are_reported_and_linting_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    for env in ["prod", "staging"] {
        std::fs::create_dir_all(dir.path().join(env)).unwrap();
        write(
            &dir.path().join(env),
            "ingress.yaml",
            &ingress("shop", "console", &format!("{env}.example.com"), "/admin"),
        );
    }
    let d = dir.path().display().to_string();
    let (v, _, code) = lint_json(&[&d, "--fail-on", "never"]);
    assert_eq!(code, 0, "{v}");
    let dup = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "SU024")
        .unwrap_or_else(|| panic!("no SU024 in {v}"));
    assert!(
        dup["file"]
            .as_str()
            .unwrap()
            .ends_with("staging/ingress.yaml"),
        "{dup}"
    );
    assert!(
        dup["message"]
            .as_str()
            .unwrap()
            .contains("prod/ingress.yaml:1"),
        "{dup}"
    );
    assert!(
        dup["fix"].as_str().unwrap().contains("--each-file"),
        "{dup}"
    );
    assert_eq!(v["summary"]["ingresses"], 1, "{v}");
    // Each file its own cluster: both linted, no SU024.
    let (v, _, code) = lint_json(&[&d, "--each-file", "--fail-on", "never"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["summary"]["ingresses"], 2, "{v}");
    assert!(!rules_of(&v).contains(&"SU024".to_string()), "{v}");
    let hosts: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "SU001")
        .map(|f| f["host"].as_str().unwrap())
        .collect();
    assert!(
        hosts.contains(&"prod.example.com") && hosts.contains(&"staging.example.com"),
        "{v}"
    );
    // A kustomize root above the files: the fix is to lint its build.
    write(
        dir.path(),
        "kustomization.yaml",
        "resources: [prod, staging]\n",
    );
    let (v, _, _) = lint_json(&[&d, "--fail-on", "never"]);
    let dup = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "SU024")
        .unwrap_or_else(|| panic!("no SU024 in {v}"));
    let want = format!("kubectl kustomize {d} | stepup lint -p {} -", lint_policy());
    assert!(dup["fix"].as_str().unwrap().contains(&want), "{dup}");
}

// Regression (issue 17): extensions/v1beta1 and networking.k8s.io/v1beta1
// Ingresses (still common in older repositories) stopped the run. They
// are converted as the API server converted them (serviceName/servicePort,
// default pathType ImplementationSpecific, spec.backend) and linted, with
// an SU026 warning each; simulate routes them (with a note).
#[test]
fn regression_removed_api_versions_are_converted_and_linted() {
    let dir = tempfile::tempdir().unwrap();
    let old = write(
        dir.path(),
        "old.yaml",
        "apiVersion: networking.k8s.io/v1beta1\nkind: Ingress\nmetadata:\n  name: console\n  namespace: shop\nspec:\n  ingressClassName: nginx\n  backend:\n    serviceName: fallback\n    servicePort: 8080\n  rules:\n    - host: admin.example.com\n      http:\n        paths:\n          - path: /admin\n            backend:\n              serviceName: console\n              servicePort: http\n",
    );
    let (v, _, code) = lint_json(&[&old, "--fail-on", "never"]);
    assert_eq!(code, 0, "{v}");
    let rules = rules_of(&v);
    assert!(rules.contains(&"SU026".to_string()), "{v}");
    assert!(
        rules.contains(&"SU001".to_string()),
        "linted as converted: {v}"
    );
    let policy = lint_policy();
    let (out, err, code) = text(&stepup(&[
        "simulate",
        "-p",
        &policy,
        "-f",
        &old,
        "-o",
        "json",
        "https://admin.example.com/admin/users",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("removed in Kubernetes 1.22"), "{err}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["route"]["pathType"], "ImplementationSpecific", "{r}");
    assert_eq!(r["route"]["backend"], "console:http", "{r}");
    let (out, _, _) = text(&stepup(&[
        "simulate",
        "-p",
        &policy,
        "-f",
        &old,
        "-o",
        "json",
        "https://admin.example.com/other",
    ]));
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["route"]["backend"], "fallback:8080", "spec.backend: {r}");
}

// Regression (issue 17): Flux post-build variables (`${domain}`) made
// hosts invalid and stopped the run. Values come from --var and from a
// Flux Kustomization's spec.postBuild.substitute among the inputs
// (substituteFrom is noted as not read).
#[test]
fn regression_flux_variables_are_substituted() {
    let dir = tempfile::tempdir().unwrap();
    let ing = ingress("shop", "console", "admin.${domain}", "/admin");
    write(dir.path(), "ingress.yaml", &ing);
    let d = dir.path().display().to_string();
    let hosts = |v: &serde_json::Value| -> Vec<String> {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule"] == "SU001")
            .map(|f| f["host"].as_str().unwrap().to_string())
            .collect()
    };
    let (v, _, _) = lint_json(&[&d, "--var", "domain=example.com", "--fail-on", "never"]);
    assert_eq!(hosts(&v), ["admin.example.com"], "{v}");
    write(
        dir.path(),
        "flux.yaml",
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: shop, namespace: flux-system}\nspec:\n  postBuild:\n    substitute: {domain: shop.test}\n    substituteFrom:\n      - {kind: ConfigMap, name: cluster-vars}\n",
    );
    let (v, err, code) = lint_json(&[&d, "--fail-on", "never"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(hosts(&v), ["admin.shop.test"], "{v}");
    assert!(!rules_of(&v).contains(&"SU027".to_string()), "{v}");
    assert!(
        err.contains("substituteFrom (ConfigMap cluster-vars) is not read"),
        "{err}"
    );
    // --var wins over the Kustomization's value.
    let (v, _, _) = lint_json(&[&d, "--var", "domain=example.com", "--fail-on", "never"]);
    assert_eq!(hosts(&v), ["admin.example.com"], "{v}");
    assert_eq!(
        text(&stepup(&["lint", "-p", "x", "--var", "1x=y", &d])).2,
        2
    );
}
