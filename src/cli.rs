//! The command line: flags (documented once, here), dispatch, output.
//!
//! Exit codes are in [`crate::exit`]. Output goes through one writer; a
//! closed pipe (`stepup … | head`) ends the command quietly with 0.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use colored::Colorize;

use crate::claims;
use crate::controllers::ingress_nginx::routing::{Classes, Controller, RouteTable};
use crate::error::InputError;
use crate::exit;
use crate::policy::{self, Policy};
use crate::simulate::{self, ClaimsInput, Report};

/// How the binary was invoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `stepup`
    Standalone,
    /// `kubectl stepup` (the `kubectl-stepup` binary)
    KubectlPlugin,
}

/// The starter policy `stepup init` writes.
pub const STARTER_POLICY: &str = include_str!("starter.yaml");

#[derive(Parser, Debug)]
#[command(name = "stepup", version, about = "Step-up authentication for Kubernetes Ingress", long_about = None)]
struct Cli {
    /// When to colour output: auto (a terminal and NO_COLOR unset), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorWhen::Auto)]
    color: ColorWhen,
    /// Print only what fails (test) or the decision line (simulate).
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Print more: the decision trace.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum ColorWhen {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum Format {
    Human,
    Json,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Write a commented starter policy.
    Init {
        /// Write to FILE instead of stdout (refuses to overwrite without --force).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Overwrite FILE.
        #[arg(long)]
        force: bool,
    },
    /// Show what ingress-nginx and stepup do with one request.
    Simulate(SimulateArgs),
    /// Run a table of request cases with expectations.
    Test(TestArgs),
    /// Check Ingress manifests for auth coverage against the policy.
    Lint(LintArgs),
    /// Print the manifests with stepup's auth annotations added (and split
    /// per level with --split), plus a sign-in Ingress per protected host.
    Generate(GenerateArgs),
    /// What is exposed in a cluster right now: every Ingress (paginated),
    /// lint's rules across all namespaces at once, a route map per host.
    Audit(AuditArgs),
    /// Run the in-cluster server: the runtime auth-url check (`/auth`),
    /// health, readiness and metrics.
    Serve(ServeArgs),
    /// Print everything that runs `stepup serve` in a cluster (namespace,
    /// RBAC, policy, TLS and session-key Secrets, Deployment, Service,
    /// PodDisruptionBudget, both admission webhooks) as YAML for
    /// `kubectl apply -f -`. Generates a fresh CA, serving certificate and
    /// session keys on every run (docs/install.md).
    Install(InstallArgs),
    /// Explain a lint rule: what it catches, why it matters, how to fix it.
    Explain {
        /// Rule ID (SU001) or name; omit to list all rules.
        #[arg(value_name = "RULE")]
        rule: Option<String>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum LintFormat {
    Human,
    Json,
    Sarif,
    Junit,
    Github,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum AuditFormat {
    Human,
    Json,
    Sarif,
    Html,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum Emit {
    /// `wgpolicyk8s.io/v1alpha2` PolicyReport objects, one per namespace (YAML).
    Policyreport,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum FailOn {
    Error,
    Warning,
    Never,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum ControllerArg {
    Nginx,
    Traefik,
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// Policy file (needs spec.idp: issuer and audiences).
    #[arg(short, long, value_name = "POLICY")]
    policy: PathBuf,
    /// Address to listen on (port 0 picks one; the chosen address is
    /// printed as `listening on URL`).
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:8080")]
    listen: std::net::SocketAddr,
    /// TLS certificate chain (PEM); reloaded when the file changes
    /// (a Secret volume's `..data` swap). Plain HTTP without --tls-*.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Address or CIDR of a proxy whose X-Forwarded-Method/-Proto/-Host/-Uri
    /// are trusted (Traefik ForwardAuth). Repeatable. Never list
    /// ingress-nginx here: it passes client headers through.
    #[arg(long = "trusted-proxy", value_name = "CIDR")]
    trusted_proxies: Vec<String>,
    /// Session cookie keys: lines of `<kid> <base64 32 bytes>`, first seals.
    /// Needed for the browser sign-in (with spec.idp.clientID).
    #[arg(long, value_name = "FILE")]
    session_keys: Option<PathBuf>,
    /// Lifetime of a browser session cookie (freshness is still checked
    /// against each level's maxAge on every request).
    #[arg(long, value_name = "DURATION", default_value = "12h", value_parser = parse_duration)]
    session_ttl: std::time::Duration,
    /// After the IdP failed to deliver a level at sign-in, /auth answers
    /// 403 instead of 401 for that level for this long (no sign-in loop).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    step_up_cooldown: std::time::Duration,
    /// Watch the cluster's Ingresses (in-cluster service account or
    /// KUBECONFIG) so admission judges each object with the others on its
    /// hosts; /readyz is 503 until the first list is stored.
    #[arg(long)]
    watch_ingresses: bool,
    /// Load the admission webhook's view of the other Ingresses from
    /// manifests or a `kubectl get ingress -A -o yaml` dump (repeatable).
    #[arg(long, value_name = "FILE|DIR")]
    ingresses_from: Vec<PathBuf>,
    /// Scopes asked for at sign-in (space-separated); add the scope that
    /// releases the claims your levels check (e.g. `groups`).
    #[arg(long, value_name = "SCOPES", default_value = "openid email")]
    signin_scopes: String,
    /// Minimum time between JWKS fetches triggered by an unknown `kid`.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    jwks_min_refresh: std::time::Duration,
    /// Periodic JWKS refresh.
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = parse_duration)]
    jwks_refresh: std::time::Duration,
    /// Verified tokens kept (until their exp); 0 disables the cache.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    token_cache: usize,
    /// After SIGTERM, how long in-flight requests may take to finish.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    grace: std::time::Duration,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Json)]
    log_format: LogFormat,
    /// The namespace label the webhook configurations exempt (as
    /// `stepup install` sets it); reported in /metrics as
    /// stepup_admission_namespace_exemption_info, nothing else.
    #[arg(long, value_name = "KEY=VALUE", value_parser = crate::label::parse)]
    exempt_namespace_label: Option<crate::label::Label>,
}

#[derive(Args, Debug)]
struct InstallArgs {
    /// Policy file (stored in a ConfigMap; needs spec.idp, as serve does).
    #[arg(short, long, value_name = "POLICY")]
    policy: PathBuf,
    /// Namespace for stepup's objects (excluded from the webhooks).
    #[arg(short, long, value_name = "NAMESPACE", default_value = "stepup-system")]
    namespace: String,
    /// Container image of the Deployment [default: ghcr.io/stepup-dev/stepup:v<version>].
    #[arg(long, value_name = "IMAGE")]
    image: Option<String>,
    /// Namespaces with this label are never sent to the webhooks (their
    /// Ingresses are not checked or changed).
    #[arg(long, value_name = "KEY=VALUE", default_value = crate::install::DEFAULT_EXEMPT_LABEL,
        value_parser = crate::label::parse)]
    exempt_namespace_label: crate::label::Label,
    /// Fixed placeholder text instead of a generated CA, certificate and
    /// session keys (deterministic output: the kustomize base in webhook/).
    #[arg(long)]
    placeholder_secrets: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum LogFormat {
    Json,
    Text,
}

/// `NAMESPACE/NAME`.
fn parse_ns_name(s: &str) -> Result<(String, String), String> {
    match s.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((ns.to_string(), name.to_string()))
        }
        _ => Err(format!("{s:?} is not NAMESPACE/NAME")),
    }
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s).map_err(|e| e.to_string())
}

#[derive(Args, Debug)]
struct GenerateArgs {
    /// The policy file.
    #[arg(short, long, value_name = "POLICY")]
    policy: PathBuf,
    /// Which controller's auth wiring to write: ingress-nginx annotations, or
    /// Traefik ForwardAuth Middlewares.
    #[arg(long, value_enum, default_value_t = ControllerArg::Nginx)]
    controller: ControllerArg,
    /// One Ingress per level (`<name>-<level>`) when an Ingress mixes levels,
    /// and the sub-paths of a path that the policy gives another level
    /// written as paths of their own.
    #[arg(long)]
    split: bool,
    /// Ingress class the controller serves (repeatable; default nginx, or
    /// traefik with --controller traefik). IngressClasses of the input with
    /// the controller's spec.controller count too; other classes are left
    /// unchanged.
    #[arg(long = "ingress-class", value_name = "CLASS")]
    classes: Vec<String>,
    /// Accept input holding no Ingress at all (otherwise an input error, exit 2).
    #[arg(long)]
    allow_empty: bool,
    /// Manifests: files, directories or `-` for stdin.
    #[arg(value_name = "FILE|DIR|-", required = true)]
    inputs: Vec<PathBuf>,
}

#[derive(Args, Debug)]
struct LintArgs {
    /// The policy file.
    #[arg(short, long, value_name = "POLICY")]
    policy: PathBuf,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = LintFormat::Human)]
    output: LintFormat,
    /// Exit 1 when a finding at or above this severity remains.
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    fail_on: FailOn,
    /// Ignore `stepup.dev/ignore` suppressions.
    #[arg(long)]
    no_suppress: bool,
    /// Ingress class the modelled controller serves (repeatable).
    #[arg(long = "ingress-class", value_name = "CLASS", default_value = "nginx")]
    classes: Vec<String>,
    #[command(flatten)]
    controller: ControllerArgs,
    #[command(flatten)]
    input: InputArgs,
    /// Each input file is its own cluster (its own route table): for
    /// repositories of independent examples or environments that reuse
    /// names. Findings of all files are in one report.
    #[arg(long)]
    each_file: bool,
    /// Manifests: files, directories or `-` for stdin.
    #[arg(value_name = "FILE|DIR|-", required = true)]
    inputs: Vec<PathBuf>,
}

/// How manifests are read (lint, simulate, test).
#[derive(Args, Debug, Clone, Default)]
struct InputArgs {
    /// Accept input holding no Ingress at all (otherwise an input error, exit 2).
    #[arg(long)]
    allow_empty: bool,
    /// The value of a GitOps variable `${NAME}` (Flux post-build
    /// substitution; repeatable). Flux Kustomizations among the inputs add
    /// their `spec.postBuild.substitute`; these win.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    vars: Vec<(String, String)>,
}

impl InputArgs {
    /// The loader's options: removed APIs converted, variables substituted.
    fn options(&self) -> crate::ingress::LoadOptions {
        crate::ingress::LoadOptions {
            convert_removed: true,
            substitute: true,
            vars: crate::ingress::Vars::new(self.vars.iter().cloned()),
            each_file: false,
        }
    }
}

/// `NAME=VALUE`, NAME as Flux accepts it (`^[_[:alpha:]][_[:alpha:][:digit:]]*$`).
fn parse_var(s: &str) -> Result<(String, String), String> {
    let Some((name, value)) = s.split_once('=') else {
        return Err(format!("{s:?} is not NAME=VALUE"));
    };
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric());
    if !valid {
        return Err(format!(
            "{name:?} is not a variable name (letters, digits and `_`, not starting with a digit)"
        ));
    }
    Ok((name.to_string(), value.to_string()))
}

/// The modelled ingress-nginx controller's settings: its ConfigMap and the
/// flags it runs with. Without them, the policy's `spec.controller`, else
/// ingress-nginx's defaults.
#[derive(Args, Debug, Clone, Default)]
struct ControllerArgs {
    /// The ingress-nginx controller's ConfigMap (YAML or JSON, as applied):
    /// annotations-risk-level, no-auth-locations, global-auth-url, …
    #[arg(long, value_name = "FILE")]
    controller_config: Option<PathBuf>,
    /// The controller runs with --watch-ingress-without-class: Ingresses
    /// that name no class are served.
    #[arg(long)]
    watch_ingress_without_class: bool,
    /// The controller's --annotations-prefix (default
    /// nginx.ingress.kubernetes.io).
    #[arg(long, value_name = "PREFIX")]
    annotations_prefix: Option<String>,
    /// The controller runs with --disable-catch-all.
    #[arg(long)]
    disable_catch_all: bool,
    /// The controller's --enable-annotation-validation (default true).
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
    enable_annotation_validation: Option<bool>,
    /// The controller's --deep-inspect (default true): Ingresses whose
    /// paths or hosts hold nginx directives or system paths are dropped.
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
    deep_inspect: Option<bool>,
}

impl ControllerArgs {
    /// The controller's settings: the ConfigMap file, else the policy's
    /// `spec.controller`, else the defaults; then the flags given.
    fn settings(
        &self,
        policy: &Policy,
    ) -> Result<crate::controllers::ingress_nginx::routing::Settings, Failure> {
        let mut s = match &self.controller_config {
            Some(path) => {
                let text = crate::ingress::read_capped(path)?;
                crate::controllers::ingress_nginx::routing::Settings::from_configmap(
                    &path.display().to_string(),
                    &text,
                )?
            }
            None => match &policy.controller {
                Some(sec) => {
                    crate::controllers::ingress_nginx::routing::Settings::from_section(sec)?
                }
                None => crate::controllers::ingress_nginx::routing::Settings::default(),
            },
        };
        self.apply_flags(&mut s)?;
        Ok(s)
    }

    /// The controller flags given on the command line, over `s`.
    fn apply_flags(
        &self,
        s: &mut crate::controllers::ingress_nginx::routing::Settings,
    ) -> Result<(), Failure> {
        if self.watch_ingress_without_class {
            s.watch_without_class = true;
        }
        if self.disable_catch_all {
            s.disable_catch_all = true;
        }
        if let Some(b) = self.enable_annotation_validation {
            s.validate_annotations = b;
        }
        if let Some(b) = self.deep_inspect {
            s.deep_inspect = b;
        }
        if let Some(p) = &self.annotations_prefix {
            s.set_flag("annotations-prefix", p)
                .map_err(|e| usage(format!("--annotations-prefix: {e}")))?;
        }
        Ok(())
    }

    /// The controller: `names` are the classes it serves.
    fn controller(&self, names: Vec<String>, policy: &Policy) -> Result<Controller, Failure> {
        let settings = self.settings(policy)?;
        Ok(Controller {
            classes: Classes {
                names,
                classless: settings.watch_without_class,
            },
            settings,
        })
    }
}

#[derive(Args, Debug)]
struct AuditArgs {
    /// The policy file; without it, the built-in starter policy (what
    /// `stepup init` writes), and a note on stderr says so.
    #[arg(short, long, value_name = "POLICY")]
    policy: Option<PathBuf>,
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then the
    /// pod's service account).
    #[arg(long, value_name = "FILE", conflicts_with = "from_file")]
    kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: its current-context).
    #[arg(long, value_name = "CONTEXT", conflicts_with = "from_file")]
    context: Option<String>,
    /// Only this namespace (then shadowing by other namespaces' Ingresses on
    /// the same host is not seen).
    #[arg(short, long, value_name = "NS", conflicts_with = "all_namespaces")]
    namespace: Option<String>,
    /// Every namespace: the default of `stepup audit`; `kubectl stepup
    /// audit` lists the context's namespace without -n or -A, as kubectl does.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// Read a `kubectl get ingress -A -o json|yaml` dump instead of a cluster.
    #[arg(long, value_name = "DUMP")]
    from_file: Option<PathBuf>,
    /// With --from-file: accept a dump holding no Ingress (otherwise an
    /// input error, exit 2).
    #[arg(long, requires = "from_file")]
    allow_empty: bool,
    /// Output format (html: one self-contained page).
    #[arg(short, long, value_enum, default_value_t = AuditFormat::Human)]
    output: AuditFormat,
    /// Print these objects instead of the report (-o is then ignored).
    #[arg(long, value_enum, value_name = "KIND")]
    emit: Option<Emit>,
    /// Exit 1 when a finding at or above this severity remains.
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    fail_on: FailOn,
    /// Ignore `stepup.dev/ignore` suppressions.
    #[arg(long)]
    no_suppress: bool,
    /// Ingress class ingress-nginx serves (repeatable; default: the
    /// cluster's IngressClasses with controller k8s.io/ingress-nginx, or
    /// `nginx` for --from-file).
    #[arg(long = "ingress-class", value_name = "CLASS")]
    classes: Vec<String>,
    #[command(flatten)]
    controller: ControllerArgs,
    /// The ingress-nginx controller's ConfigMap in the cluster, read unless
    /// --controller-config or --from-file is given (default: the Helm
    /// chart's ingress-nginx/ingress-nginx-controller).
    #[arg(long, value_name = "NS/NAME", default_value = "ingress-nginx/ingress-nginx-controller", value_parser = parse_ns_name)]
    controller_configmap: (String, String),
    /// Bound on connecting to the API server and on each request.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    request_timeout: std::time::Duration,
    /// Ingresses per list page (`limit`).
    #[arg(long, value_name = "N", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    chunk_size: u32,
}

#[derive(Args, Debug)]
struct Shared {
    /// The policy file.
    #[arg(short, long, value_name = "POLICY")]
    policy: PathBuf,
    /// Ingress manifests: a file, a directory or `-` for stdin; repeat the
    /// flag for more. Without any, requests are judged by the policy alone,
    /// as stepup's /auth would judge them.
    #[arg(short = 'f', long = "filename", value_name = "INGRESSES", action = clap::ArgAction::Append)]
    files: Vec<PathBuf>,
    /// Ingress class the modelled controller serves (repeatable).
    #[arg(long = "ingress-class", value_name = "CLASS", default_value = "nginx")]
    classes: Vec<String>,
    #[command(flatten)]
    controller: ControllerArgs,
    #[command(flatten)]
    input: InputArgs,
    /// Clock for the decision: RFC 3339 or epoch seconds (default: now).
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
}

#[derive(Args, Debug)]
struct SimulateArgs {
    #[command(flatten)]
    shared: Shared,
    /// HTTP method.
    #[arg(
        short = 'X',
        long = "request",
        value_name = "METHOD",
        default_value = "GET"
    )]
    method: String,
    /// Claims of a JWT, decoded WITHOUT verifying its signature.
    #[arg(long, value_name = "JWT", conflicts_with = "claims")]
    token: Option<String>,
    /// Claims as JSON, or @FILE. Times may be relative: "auth_time": "-10m".
    #[arg(long, value_name = "JSON|@FILE")]
    claims: Option<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Human)]
    output: Format,
    /// A request header, 'Name: value' (repeatable): selects a
    /// canary-by-header backend.
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    headers: Vec<String>,
    /// A cookie, name=value (repeatable): selects a canary-by-cookie backend.
    #[arg(long = "cookie", value_name = "NAME=VALUE")]
    cookies: Vec<String>,
    /// The client address nginx sees ($remote_addr): decides
    /// allowlist-/denylist-source-range. Without it the output says what
    /// the answer depends on.
    #[arg(long, value_name = "IP")]
    client_ip: Option<String>,
    /// Send basic credentials user:password (stepup cannot read the
    /// Secret: they are taken as valid).
    #[arg(long, value_name = "USER:PASSWORD")]
    basic_auth: Option<String>,
    /// The request URL, raw: https://host/path (not normalised before nginx sees it).
    #[arg(value_name = "URL")]
    url: String,
}

#[derive(Args, Debug)]
struct TestArgs {
    #[command(flatten)]
    shared: Shared,
    /// The case file (kind: StepUpTests).
    #[arg(value_name = "CASES")]
    cases: PathBuf,
}

/// Run the CLI with the process arguments.
pub fn main(flavor: Flavor) -> ExitCode {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    if flavor == Flavor::KubectlPlugin {
        cmd = cmd.bin_name("kubectl stepup").name("kubectl-stepup");
    }
    let matches = match cmd.try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::INPUT
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(exit::INPUT);
        }
    };
    let color = match cli.color {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => {
            io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    };
    colored::control::set_override(color);
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let result = match cli.cmd {
        Cmd::Init { output, force } => init(&mut out, output, force),
        Cmd::Simulate(a) => run_simulate(&mut out, a, cli.quiet, cli.verbose),
        Cmd::Test(a) => run_test(&mut out, a, cli.quiet, cli.verbose),
        Cmd::Lint(a) => run_lint(&mut out, a, cli.quiet),
        Cmd::Generate(a) => run_generate(&mut out, a, cli.quiet),
        Cmd::Audit(a) => run_audit(&mut out, a, flavor, cli.quiet),
        Cmd::Serve(a) => {
            drop(out);
            return run_serve(a);
        }
        Cmd::Explain { rule } => explain(&mut out, rule.as_deref()),
        Cmd::Install(a) => run_install(&mut out, a, cli.quiet),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Failure::Pipe) => ExitCode::from(exit::OK),
        Err(Failure::Cluster(m)) => {
            let _ = out.flush();
            eprintln!("{} {m}", "error:".red().bold());
            ExitCode::from(exit::CLUSTER)
        }
        Err(Failure::Input(e)) => {
            let _ = out.flush();
            for m in e.messages() {
                eprintln!("{} {m}", "error:".red().bold());
            }
            ExitCode::from(exit::INPUT)
        }
    }
}

fn run_serve(a: ServeArgs) -> ExitCode {
    let policy = match load_policy(&a.policy) {
        Ok(p) => p,
        Err(e) => {
            for m in e.messages() {
                eprintln!("{} {m}", "error:".red().bold());
            }
            return ExitCode::from(exit::INPUT);
        }
    };
    let opts = crate::serve::Options {
        listen: a.listen,
        tls: a.tls_cert.zip(a.tls_key),
        trusted_proxies: a.trusted_proxies,
        session_keys: a.session_keys,
        session_ttl: a.session_ttl,
        step_up_cooldown: a.step_up_cooldown,
        signin_scopes: a.signin_scopes,
        jwks_min_refresh: a.jwks_min_refresh,
        jwks_refresh: a.jwks_refresh,
        token_cache: a.token_cache,
        grace: a.grace,
        json_logs: a.log_format == LogFormat::Json,
        watch_ingresses: a.watch_ingresses,
        ingresses_from: a.ingresses_from,
        exempt_namespace_label: a.exempt_namespace_label,
    };
    match crate::serve::run(policy, opts) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            eprintln!("{} {e}", "error:".red().bold());
            ExitCode::from(exit::INPUT)
        }
    }
}

enum Failure {
    Pipe,
    Input(InputError),
    /// Cluster unreachable or forbidden (exit 3); the message names the
    /// context and the reason.
    Cluster(String),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Failure::Pipe
        } else {
            Failure::Input(InputError::file("stdout", e))
        }
    }
}

impl From<InputError> for Failure {
    fn from(e: InputError) -> Self {
        Failure::Input(e)
    }
}

fn usage(msg: impl std::fmt::Display) -> Failure {
    Failure::Input(InputError {
        primary: msg.to_string(),
        extra: Vec::new(),
    })
}

fn init(out: &mut impl Write, output: Option<PathBuf>, force: bool) -> Result<u8, Failure> {
    match output {
        None => out.write_all(STARTER_POLICY.as_bytes())?,
        Some(p) => {
            if p.exists() && !force {
                return Err(usage(format!(
                    "{}: exists; pass --force to overwrite",
                    p.display()
                )));
            }
            std::fs::write(&p, STARTER_POLICY)
                .map_err(|e| usage(format!("{}: cannot write: {e}", p.display())))?;
            writeln!(out, "wrote {}", p.display())?;
        }
    }
    Ok(exit::OK)
}

/// Load the policy file.
pub fn load_policy(path: &std::path::Path) -> Result<Policy, InputError> {
    let text = crate::ingress::read_capped(path)?;
    parse_policy(&path.display().to_string(), &text)
}

/// A policy's text, its `spec.controller` checked by the controller model
/// (ingress-nginx's settings), all errors at once.
fn parse_policy(file: &str, text: &str) -> Result<Policy, InputError> {
    policy::parse_checked(
        file,
        text,
        crate::controllers::ingress_nginx::routing::Settings::check_section,
    )
}

fn load(shared: &Shared) -> Result<(Policy, Option<RouteTable>, i64), Failure> {
    let policy = load_policy(&shared.policy)?;
    let now = match &shared.at {
        Some(t) => simulate::parse_time(t).map_err(|e| usage(format!("--at: {e}")))?,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0),
    };
    let table = if shared.files.is_empty() {
        None
    } else {
        let opts = shared.input.options();
        let mut loaded = load_strict(&shared.files, &opts, shared.input.allow_empty, false)?;
        let ctl = shared
            .controller
            .controller(shared.classes.clone(), &policy)?;
        let defaulted = crate::ingress::apply_default_class(&mut loaded.ingresses, &loaded.classes);
        for n in defaulted.into_iter().chain(ctl.settings.notes()) {
            eprintln!("{} {n}", "note:".cyan().bold());
        }
        Some(RouteTable::build(loaded.ingresses, &ctl)?)
    };
    Ok((policy, table, now))
}

fn claims_input(
    token: Option<String>,
    claims_arg: Option<String>,
    now: i64,
) -> Result<ClaimsInput, Failure> {
    let mut input = ClaimsInput::default();
    if let Some(t) = token {
        input.claims =
            Some(claims::decode_unverified(&t).map_err(|e| usage(format!("--token: {e}")))?);
        input.unverified_token = true;
    } else if let Some(c) = claims_arg {
        let text = match c.strip_prefix('@') {
            Some(f) => crate::ingress::read_capped(std::path::Path::new(f))?,
            None => c,
        };
        input.claims =
            Some(claims::parse_json(&text).map_err(|e| usage(format!("--claims: {e}")))?);
    }
    if let Some(c) = input.claims.as_mut() {
        claims::resolve_relative(c, now).map_err(|e| usage(format!("claims: {e}")))?;
    }
    Ok(input)
}

fn run_simulate(
    out: &mut impl Write,
    a: SimulateArgs,
    quiet: bool,
    verbose: u8,
) -> Result<u8, Failure> {
    let (policy, table, now) = load(&a.shared)?;
    let claims = claims_input(a.token, a.claims, now)?;
    let extras = simulate::Extras::parse(
        &a.headers,
        &a.cookies,
        a.client_ip.as_deref(),
        a.basic_auth.as_deref(),
    )
    .map_err(usage)?;
    let report = simulate::run(
        &policy,
        table.as_ref(),
        &a.method,
        &a.url,
        &claims,
        &extras,
        now,
    )
    .map_err(usage)?;
    match a.output {
        Format::Json => {
            let v = simulate::report_json(&report);
            serde_json::to_writer_pretty(&mut *out, &v).map_err(io::Error::from)?;
            writeln!(out)?;
        }
        Format::Human => print_report(out, &report, quiet, verbose)?,
    }
    Ok(exit::OK)
}

fn decision_colored(r: &Report) -> String {
    let s = format!("{} → {}", r.verdict.kind.as_str(), r.verdict.status);
    match r.verdict.kind {
        crate::decision::Kind::Allow if r.verdict.exposed => s.red().bold().to_string(),
        crate::decision::Kind::Allow => s.green().bold().to_string(),
        crate::decision::Kind::StepUp => s.yellow().bold().to_string(),
        _ => s.red().bold().to_string(),
    }
}

fn print_report(out: &mut impl Write, r: &Report, quiet: bool, verbose: u8) -> io::Result<()> {
    let v = &r.verdict;
    if quiet {
        return writeln!(out, "{}", decision_colored(r));
    }
    writeln!(out, "{} {}", r.method.bold(), r.url)?;
    if let Some(s) = &r.server {
        let loc = r.location.as_deref().unwrap_or("none");
        writeln!(
            out,
            "  {:<9} {s}  location {loc}  $uri {}",
            "server".dimmed(),
            r.uri
        )?;
    }
    match &r.route {
        Some(x) => writeln!(
            out,
            "  {:<9} Ingress {}  path {} ({}) → {}",
            "route".dimmed(),
            x.ingress,
            x.path,
            x.path_type,
            x.backend
        )?,
        None if r.server.is_some() => {
            writeln!(out, "  {:<9} none (default backend)", "route".dimmed())?
        }
        None => writeln!(
            out,
            "  {:<9} policy only (no Ingresses given)",
            "route".dimmed()
        )?,
    }
    let rule = v.rule.as_deref().unwrap_or("none (default)");
    writeln!(
        out,
        "  {:<9} {rule} → level {}",
        "rule".dimmed(),
        v.required.label()
    )?;
    writeln!(out, "  {:<9} {}", "enforced".dimmed(), v.enforced.label())?;
    writeln!(out, "  {:<9} {}", "decision".dimmed(), decision_colored(r))?;
    for (k, val) in &v.headers {
        writeln!(out, "  {:<9} {k}: {val}", "header".dimmed())?;
    }
    if v.exposed {
        writeln!(
            out,
            "  {:<9} the policy requires auth this route does not enforce",
            "warning".red().bold()
        )?;
    }
    print_client(out, r)?;
    if r.unverified_token {
        writeln!(
            out,
            "  {:<9} claims were decoded from --token WITHOUT verifying its signature",
            "note".dimmed()
        )?;
    }
    if verbose > 0 {
        writeln!(out, "  {}", "trace".dimmed())?;
        for t in &v.trace {
            writeln!(out, "    - {t}")?;
        }
    }
    Ok(())
}

/// The client address, what the answer depends on, and a canary.
fn print_client(out: &mut impl Write, r: &Report) -> io::Result<()> {
    if let Some(ip) = r.client_ip {
        writeln!(out, "  {:<9} {ip}", "client".dimmed())?;
    }
    for c in &r.verdict.conditions {
        writeln!(out, "  {:<9} {c}", "depends".yellow().bold())?;
    }
    if let Some(c) = &r.canary {
        let pick = match (c.selected, c.probability) {
            (Some(true), _) => "this request goes to the canary".to_string(),
            (Some(false), _) => "this request goes to the primary".to_string(),
            (None, Some(p)) => format!(
                "by chance: canary {:.0}%, primary {:.0}%",
                p * 100.0,
                (1.0 - p) * 100.0
            ),
            (None, None) => "by chance".to_string(),
        };
        writeln!(
            out,
            "  {:<9} Ingress {} → {} (primary {}) when {}; {pick}",
            "canary".dimmed(),
            c.ingress,
            c.backend,
            c.primary,
            c.condition
        )?;
        if let Some(n) = &c.auth_note {
            writeln!(out, "  {:<9} {n}", "note".dimmed())?;
        }
    }
    Ok(())
}

fn run_test(out: &mut impl Write, a: TestArgs, quiet: bool, verbose: u8) -> Result<u8, Failure> {
    let (policy, table, now) = load(&a.shared)?;
    let file = a.cases.display().to_string();
    let text = crate::ingress::read_capped(&a.cases)?;
    let cases = simulate::parse_cases(&file, &text)?;
    let (mut passed, mut failed) = (0usize, 0usize);
    for c in &cases {
        let at = c.at.unwrap_or(now);
        let mut input = c.claims.clone();
        if let Some(cl) = input.claims.as_mut() {
            claims::resolve_relative(cl, at)
                .map_err(|e| usage(format!("{file}:{}: {e}", c.line)))?;
        }
        let report = simulate::run(
            &policy,
            table.as_ref(),
            &c.method,
            &c.url,
            &input,
            &c.extras,
            at,
        )
        .map_err(|e| usage(format!("{file}:{}: {e}", c.line)))?;
        let miss = simulate::mismatches(&report, &c.expect);
        let summary = format!(
            "{} {} (rule {}, level {})",
            report.verdict.kind.as_str(),
            report.verdict.status,
            report.verdict.rule.as_deref().unwrap_or("none"),
            report.verdict.required.label()
        );
        if miss.is_empty() {
            passed += 1;
            if !quiet {
                writeln!(
                    out,
                    "{}  {file}:{}  {}  {}",
                    "PASS".green().bold(),
                    c.line,
                    c.name,
                    summary.dimmed()
                )?;
            }
        } else {
            failed += 1;
            writeln!(
                out,
                "{}  {file}:{}  {}  {summary}",
                "FAIL".red().bold(),
                c.line,
                c.name
            )?;
            for m in &miss {
                writeln!(out, "        {m}")?;
            }
            for d in &report.verdict.conditions {
                writeln!(out, "        depends: {d}")?;
            }
            if verbose > 0 {
                for t in &report.verdict.trace {
                    writeln!(out, "        - {t}")?;
                }
            }
        }
    }
    writeln!(out, "{passed} passed, {failed} failed")?;
    Ok(if failed == 0 {
        exit::OK
    } else {
        exit::FINDINGS
    })
}

fn explain(out: &mut impl Write, rule: Option<&str>) -> Result<u8, Failure> {
    match rule {
        None => {
            for r in crate::lint::rules() {
                writeln!(
                    out,
                    "{}  {:<8} {:<32} {}",
                    r.id.bold(),
                    r.severity.as_str(),
                    r.name,
                    r.summary
                )?;
            }
        }
        Some(id) => {
            let Some(r) = crate::lint::rule(id) else {
                return Err(usage(format!(
                    "unknown rule {id:?}; `stepup explain` lists them"
                )));
            };
            writeln!(
                out,
                "{} {} ({})\n",
                r.id.bold(),
                r.name.bold(),
                r.severity.as_str()
            )?;
            writeln!(out, "{}\n", r.summary)?;
            writeln!(out, "{}", r.explain)?;
        }
    }
    Ok(exit::OK)
}

fn run_lint(out: &mut impl Write, a: LintArgs, quiet: bool) -> Result<u8, Failure> {
    let policy = load_policy(&a.policy)?;
    let mut opts = a.input.options();
    opts.each_file = a.each_file;
    let loaded = crate::ingress::load_paths_with(&a.inputs, &opts);
    let ctl = a.controller.controller(a.classes.clone(), &policy)?;
    let (report, failed) = lint_loaded(&a, &policy, &ctl, loaded, quiet)?;
    // The renderers stream finding by finding; stdout is line-buffered, so
    // buffer here (one write per 64 KiB, not one per line).
    let mut out = io::BufWriter::with_capacity(64 * 1024, out);
    let out = &mut out;
    match a.output {
        LintFormat::Human => crate::render::human(out, &report, quiet)?,
        LintFormat::Json => crate::render::json(out, &report)?,
        LintFormat::Sarif => crate::render::sarif(out, &report)?,
        LintFormat::Junit => crate::render::junit(out, &report)?,
        LintFormat::Github => crate::render::github(out, &report)?,
    }
    // Input that could not be read fails the run after the report (a
    // report on part of the input must not pass as a clean one), and is
    // said on stderr too, as every command says an input error.
    out.flush()?;
    for m in &failed {
        eprintln!("{} {m}", "error:".red().bold());
    }
    let code = if failed.is_empty() {
        exit_for(&report, a.fail_on)
    } else {
        exit::INPUT
    };
    crate::par::discard(report);
    Ok(code)
}

/// Lint what was loaded (one cluster, or one per file with
/// `--each-file`): the report, the loader's problems in it as findings,
/// and the input errors that fail the run (one line each, for stderr).
fn lint_loaded(
    a: &LintArgs,
    policy: &Policy,
    ctl: &Controller,
    mut loaded: crate::ingress::Loaded,
    quiet: bool,
) -> Result<(crate::lint::Report, Vec<String>), Failure> {
    use crate::lint::inputs;
    let defaulted = crate::ingress::apply_default_class(&mut loaded.ingresses, &loaded.classes);
    for n in defaulted
        .into_iter()
        .chain(ctl.settings.notes())
        .chain(loaded.notes.iter().cloned())
    {
        note(quiet, &n);
    }
    let empty = loaded.ingresses.is_empty() && !a.input.allow_empty;
    let summary = loaded.summary();
    let problems = std::mem::take(&mut loaded.problems);
    let opts = crate::lint::Options {
        no_suppress: a.no_suppress,
        ..Default::default()
    };
    let mut report = crate::lint::Report::default();
    for cluster in clusters(loaded.ingresses, a.each_file) {
        let table = RouteTable::build(cluster, ctl)?;
        inputs::merge(&mut report, crate::lint::lint(policy, &table, &opts));
        crate::par::discard(table);
    }
    let policy_name = a.policy.display().to_string();
    report
        .findings
        .extend(inputs::findings(&problems, &policy_name));
    let mut failed: Vec<String> = problems
        .iter()
        .filter(|p| p.kind == crate::ingress::ProblemKind::Unreadable)
        .map(crate::ingress::Problem::to_line)
        .collect();
    if empty {
        let names: Vec<String> = a.inputs.iter().map(|p| p.display().to_string()).collect();
        report.findings.push(inputs::no_ingress(&names, &summary));
        failed.push(format!(
            "no Ingress found: {summary}; pass --allow-empty if that is expected"
        ));
    }
    inputs::mark_dependent(&mut report.findings, &loaded.placeholders);
    if a.each_file || empty || !problems.is_empty() {
        inputs::sort(&mut report.findings);
    }
    Ok((report, failed))
}

/// The Ingresses as clusters: all of them, or (`--each-file`) those of
/// each file, in input order.
fn clusters(
    ingresses: Vec<crate::ingress::Ingress>,
    each_file: bool,
) -> Vec<Vec<crate::ingress::Ingress>> {
    if !each_file {
        return vec![ingresses];
    }
    let mut out: Vec<Vec<crate::ingress::Ingress>> = Vec::new();
    for ing in ingresses {
        match out.last_mut() {
            Some(last)
                if last
                    .first()
                    .is_some_and(|f| f.origin.file == ing.origin.file) =>
            {
                last.push(ing)
            }
            _ => out.push(vec![ing]),
        }
    }
    out
}

/// Manifests for a command that must not answer on partial input: every
/// error problem is the error (each `file:line`, all at once); converted
/// APIs and variables without a value are printed as notes.
fn load_strict(
    inputs: &[PathBuf],
    opts: &crate::ingress::LoadOptions,
    allow_empty: bool,
    quiet: bool,
) -> Result<crate::ingress::Loaded, Failure> {
    let loaded = crate::ingress::load_paths_with(inputs, opts).strict()?;
    not_empty(&loaded, inputs, allow_empty)?;
    for n in loaded
        .problems
        .iter()
        .map(crate::ingress::Problem::to_line)
        .chain(loaded.notes.iter().cloned())
    {
        note(quiet, &n);
    }
    Ok(loaded)
}

/// No Ingress at all is an input error unless `--allow-empty`.
fn not_empty(
    loaded: &crate::ingress::Loaded,
    inputs: &[PathBuf],
    allow_empty: bool,
) -> Result<(), Failure> {
    if allow_empty || !loaded.ingresses.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
    Err(usage(format!(
        "no Ingress found in {}: {}; pass --allow-empty if that is expected",
        names.join(", "),
        loaded.summary()
    )))
}

fn run_generate(out: &mut impl Write, a: GenerateArgs, quiet: bool) -> Result<u8, Failure> {
    let policy = load_policy(&a.policy)?;
    let inputs = crate::ingress::read_inputs(&a.inputs)?;
    // Every input error at once, before generate (which stops at the
    // first): the same strict reading generate does (no removed APIs).
    let check = crate::ingress::load_texts(&inputs, &Default::default()).strict()?;
    not_empty(&check, &a.inputs, a.allow_empty)?;
    drop(check);
    let opts = crate::generate::Options {
        controller: match a.controller {
            ControllerArg::Nginx => crate::generate::Controller::Nginx,
            ControllerArg::Traefik => crate::generate::Controller::Traefik,
        },
        split: a.split,
        classes: a.classes,
    };
    let (yaml, notes) = crate::generate::generate(&policy, &inputs, &opts)?;
    out.write_all(yaml.as_bytes())?;
    out.flush()?;
    if !quiet {
        for n in notes {
            eprintln!("{} {n}", "note:".cyan().bold());
        }
    }
    Ok(exit::OK)
}

fn run_install(out: &mut impl Write, a: InstallArgs, quiet: bool) -> Result<u8, Failure> {
    let text = crate::ingress::read_capped(&a.policy)?;
    let policy = parse_policy(&a.policy.display().to_string(), &text)?;
    let opts = crate::install::Options {
        namespace: a.namespace,
        image: a.image.unwrap_or_else(crate::install::default_image),
        exempt_label: a.exempt_namespace_label,
    };
    let material = if a.placeholder_secrets {
        crate::install::Material::placeholder()
    } else {
        crate::install::pki::generate(&opts.namespace, std::time::SystemTime::now())
            .map_err(usage)?
    };
    let inst = crate::install::manifests(&opts, &policy, &text, &material).map_err(usage)?;
    let yaml = crate::install::to_yaml(&inst.objects).map_err(usage)?;
    out.write_all(yaml.as_bytes())?;
    out.flush()?;
    if !quiet {
        for n in inst.notes {
            eprintln!("{} {n}", "note:".cyan().bold());
        }
        if a.placeholder_secrets {
            eprintln!(
                "{} the Secrets and caBundles are placeholders: this output cannot run as is (webhook/README.md)",
                "note:".cyan().bold()
            );
        }
    }
    Ok(exit::OK)
}

fn note(quiet: bool, msg: &str) {
    if !quiet {
        eprintln!("{} {msg}", "note:".cyan().bold());
    }
}

fn run_audit(
    out: &mut impl Write,
    a: AuditArgs,
    flavor: Flavor,
    quiet: bool,
) -> Result<u8, Failure> {
    let (policy, policy_name) = audit_policy(&a, quiet)?;
    let mut notes: Vec<String> = Vec::new();
    let input = match &a.from_file {
        Some(dump) => audit_file(&a, dump, quiet)?,
        None => audit_cluster(&a, flavor, quiet, &mut notes)?,
    };
    let names = audit_classes(&a, input.served, &mut notes);
    let keys: Vec<(String, String)> = input
        .ingresses
        .iter()
        .map(|i| (i.namespace.clone(), i.name.clone()))
        .collect();
    let mut ctl = a.controller.controller(names, &policy)?;
    if let Some((from, text)) = input.configmap {
        // The cluster's ConfigMap replaces the policy's statement of it;
        // the flags given still apply on top.
        let mut s =
            crate::controllers::ingress_nginx::routing::Settings::from_configmap(&from, &text)?;
        a.controller.apply_flags(&mut s)?;
        ctl.classes.classless = s.watch_without_class;
        ctl.settings = s;
    }
    notes.extend(ctl.settings.notes());
    let table = RouteTable::build(input.ingresses, &ctl)?;
    let audit = crate::audit::analyze(
        &policy,
        &table,
        &crate::lint::Options {
            no_suppress: a.no_suppress,
            ..Default::default()
        },
    );
    for n in &notes {
        note(quiet, n);
    }
    let meta = crate::audit::html::Meta {
        source: input.source,
        policy: policy_name,
        notes,
    };
    write_audit(out, &a, &audit, &keys, meta, quiet)?;
    Ok(exit_for(&audit.report, a.fail_on))
}

/// What `audit` read: the Ingresses, where from (for the report), the
/// classes the cluster's IngressClasses give ingress-nginx (`None`: not
/// known) and its ConfigMap (where from, text).
struct AuditInput {
    ingresses: Vec<crate::ingress::Ingress>,
    source: String,
    served: Option<Vec<String>>,
    configmap: Option<(String, String)>,
}

/// The policy audit judges by (`-p`, or the built-in starter) and its name.
fn audit_policy(a: &AuditArgs, quiet: bool) -> Result<(Policy, String), Failure> {
    Ok(match &a.policy {
        Some(p) => (load_policy(p)?, p.display().to_string()),
        None => {
            note(
                quiet,
                "no -p POLICY given: auditing against the built-in starter policy (`stepup init` prints it)",
            );
            (
                policy::parse("<starter policy>", STARTER_POLICY)?,
                "built-in starter policy".to_string(),
            )
        }
    })
}

/// `--from-file`: a `kubectl get -o json|yaml` dump.
fn audit_file(a: &AuditArgs, dump: &std::path::Path, quiet: bool) -> Result<AuditInput, Failure> {
    let opts = crate::ingress::LoadOptions {
        convert_removed: true,
        ..Default::default()
    };
    let mut loaded = load_strict(&[dump.to_path_buf()], &opts, a.allow_empty, quiet)?;
    if let Some(ns) = &a.namespace {
        loaded.ingresses.retain(|i| &i.namespace == ns);
    }
    let source = match &a.namespace {
        Some(ns) => format!("file {} (namespace {ns})", dump.display()),
        None => format!("file {}", dump.display()),
    };
    Ok(AuditInput {
        ingresses: loaded.ingresses,
        source,
        served: None,
        configmap: None,
    })
}

/// The live cluster, through the kube client.
fn audit_cluster(
    a: &AuditArgs,
    flavor: Flavor,
    quiet: bool,
    notes: &mut Vec<String>,
) -> Result<AuditInput, Failure> {
    use crate::audit::kube::{self as k, Scope};
    let scope = match (&a.namespace, a.all_namespaces, flavor) {
        (Some(ns), _, _) => Scope::Namespace(ns.clone()),
        (None, true, _) | (None, false, Flavor::Standalone) => Scope::All,
        (None, false, Flavor::KubectlPlugin) => Scope::ContextDefault,
    };
    let target = k::Target {
        kubeconfig: a.kubeconfig.clone(),
        context: a.context.clone(),
        scope,
        timeout: a.request_timeout,
        chunk: a.chunk_size,
        classes: a.classes.is_empty(),
        configmap: a
            .controller
            .controller_config
            .is_none()
            .then(|| a.controller_configmap.clone()),
    };
    let bar = progress_bar(quiet);
    let listed = k::list(&target, &mut |n, total| {
        if let Some(t) = total {
            bar.set_length(t);
        }
        bar.set_position(n as u64);
    });
    bar.finish_and_clear();
    let listed = listed.map_err(|e| match e {
        k::Error::Input(e) => Failure::Input(e),
        e @ k::Error::Cluster { .. } => Failure::Cluster(e.to_string()),
    })?;
    notes.extend(listed.notes.iter().cloned());
    let scope = match &listed.namespace {
        Some(ns) => {
            notes.push(format!(
                "only namespace {ns} was listed: Ingresses of other namespaces on the same hosts (which ingress-nginx merges) are not seen; -A lists all"
            ));
            format!("namespace {ns}")
        }
        None => "all namespaces".to_string(),
    };
    let source = format!(
        "context {} ({}), {scope}",
        listed.context,
        listed.server.trim_end_matches('/')
    );
    Ok(AuditInput {
        ingresses: listed.ingresses,
        source,
        served: listed.nginx_classes,
        configmap: listed.configmap,
    })
}

/// The classes ingress-nginx serves: `--ingress-class`, else the cluster's
/// IngressClasses for it, else `nginx` (said in a note when the cluster
/// has none).
fn audit_classes(
    a: &AuditArgs,
    served: Option<Vec<String>>,
    notes: &mut Vec<String>,
) -> Vec<String> {
    if !a.classes.is_empty() {
        return a.classes.clone();
    }
    match served {
        Some(list) if !list.is_empty() => list,
        Some(_) => {
            notes.push(format!(
                "the cluster has no IngressClass with controller {}; assuming class nginx (--ingress-class sets it)",
                crate::audit::NGINX_CONTROLLER
            ));
            vec!["nginx".to_string()]
        }
        None => vec!["nginx".to_string()],
    }
}

/// The audit in the format asked for.
fn write_audit(
    out: &mut impl Write,
    a: &AuditArgs,
    audit: &crate::audit::Audit,
    keys: &[(String, String)],
    meta: crate::audit::html::Meta,
    quiet: bool,
) -> Result<(), Failure> {
    // Reports run to megabytes on a large cluster: stdout is line-buffered,
    // so buffer here (one write per 64 KiB, not per line).
    let mut out = io::BufWriter::with_capacity(64 * 1024, out);
    let out = &mut out;
    match (a.emit, a.output) {
        (Some(Emit::Policyreport), _) => crate::audit::report::policy_reports(out, audit, keys)?,
        (None, AuditFormat::Human) => {
            if !quiet {
                writeln!(
                    out,
                    "{}\n",
                    format!("stepup audit of {}", meta.source).dimmed()
                )?;
            }
            crate::audit::report::human(out, audit, quiet)?
        }
        (None, AuditFormat::Json) => crate::audit::report::json(out, audit)?,
        (None, AuditFormat::Sarif) => crate::render::sarif(out, &audit.report)?,
        (None, AuditFormat::Html) => crate::audit::html::render(out, audit, &meta)?,
    }
    out.flush()?;
    Ok(())
}

/// A progress bar on stderr when it is a terminal (and not -q); hidden
/// otherwise, so pipes and logs stay clean.
fn progress_bar(quiet: bool) -> indicatif::ProgressBar {
    if quiet || !io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} listing Ingresses {pos}/{len} [{bar:30}] {per_sec}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// Exit 1 when a finding at or above `--fail-on` remains.
fn exit_for(report: &crate::lint::Report, fail_on: FailOn) -> u8 {
    let threshold = match fail_on {
        FailOn::Error => Some(crate::lint::Severity::Error),
        FailOn::Warning => Some(crate::lint::Severity::Warning),
        FailOn::Never => None,
    };
    let failed = threshold.is_some_and(|t| report.findings.iter().any(|f| f.severity >= t));
    if failed { exit::FINDINGS } else { exit::OK }
}
