//! `networking.k8s.io/v1` Ingress objects and how manifests are loaded.
//!
//! Loading accepts what people feed a linter: multi-document YAML, JSON,
//! `kind: List` (and `IngressList`, as `kubectl get -o yaml` prints), Helm and
//! kustomize output, directories (recursive; `*.yaml`, `*.yml`, `*.json`, in
//! name order; hidden folders too, only `.git` is skipped) and `-` for
//! stdin. Objects of other kinds are skipped.
//!
//! Nothing stops a pass ([`load_paths_with`]): every file or object that
//! cannot be read, every Ingress name defined again, every Ingress of a
//! removed API version converted ([`convert`]) and every GitOps variable
//! without a value ([`vars`]) is a [`Problem`] at `file:line`, and the rest
//! is read. `stepup lint` reports each as a finding; the commands that
//! answer questions about a cluster refuse partial input
//! ([`Loaded::strict`], [`load_paths`], [`load_text`]), and the strict
//! entry points also refuse removed API versions (admission reads one v1
//! object, generate writes the manifests back).
//!
//! Each object keeps its source file and line, and each path its own line, so
//! every later message can point at `file:line`.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::error::InputError;
use crate::source::{Document, Lines, MAX_FILE_BYTES};

mod convert;
mod problems;
mod vars;

pub use problems::{Problem, ProblemKind, kustomize_root};
pub use vars::{Field, Placeholder, Vars};

/// Annotation prefix of ingress-nginx (also read by Traefik's NGINX provider).
pub const NGINX: &str = "nginx.ingress.kubernetes.io/";

/// Where an object or field was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// File name as given (`-` for stdin).
    pub file: Arc<str>,
    /// 1-based line.
    pub line: u32,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Ingress `pathType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathType {
    /// `Exact`
    Exact,
    /// `Prefix`
    Prefix,
    /// `ImplementationSpecific`
    ImplementationSpecific,
}

impl PathType {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PathType::Exact => "Exact",
            PathType::Prefix => "Prefix",
            PathType::ImplementationSpecific => "ImplementationSpecific",
        }
    }
}

/// Where traffic goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// `service.name` and port (number or name).
    Service {
        /// Service name.
        name: String,
        /// Port number or name.
        port: String,
    },
    /// `resource` backend (`apiGroup/kind/name`).
    Resource(String),
    /// The controller's default backend (answers 404).
    Default,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Service { name, port } if port.is_empty() => f.write_str(name),
            Backend::Service { name, port } => write!(f, "{name}:{port}"),
            Backend::Resource(r) => f.write_str(r),
            Backend::Default => f.write_str("default-backend"),
        }
    }
}

/// One `spec.rules[].http.paths[]` entry.
#[derive(Debug, Clone)]
pub struct IngressPath {
    /// The path as written (`""` is kept; routing treats it as `/`).
    pub path: String,
    /// Its type.
    pub path_type: PathType,
    /// Where it sends traffic.
    pub backend: Backend,
    /// Where it was written.
    pub origin: Origin,
}

/// One `spec.rules[]` entry.
#[derive(Debug, Clone)]
pub struct IngressRule {
    /// Lower-cased host; `None` for a host-less rule (catch-all server).
    pub host: Option<String>,
    /// Its paths (empty when the rule has no `http`).
    pub paths: Vec<IngressPath>,
    /// Where it was written.
    pub origin: Origin,
}

/// An Ingress, reduced to what routing and auth need.
#[derive(Debug, Clone)]
pub struct Ingress {
    /// Namespace (`default` when the manifest names none).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `metadata.creationTimestamp` (RFC 3339, UTC), when known.
    pub created: Option<String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// The line of each annotation key as written (findings about an
    /// annotation point at it); absent for objects not read from a file.
    pub annotation_lines: BTreeMap<String, u32>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// `spec.ingressClassName`, else the `kubernetes.io/ingress.class` annotation.
    pub class: Option<String>,
    /// `spec.defaultBackend`.
    pub default_backend: Option<Backend>,
    /// Rules.
    pub rules: Vec<IngressRule>,
    /// Hosts listed under `spec.tls`.
    pub tls_hosts: Vec<String>,
    /// Where the object starts.
    pub origin: Origin,
    /// Set by admission ([`crate::controllers::ingress_nginx::routing::admit`]): the reason
    /// ingress-nginx denies every location of this Ingress (HTTP 503), in
    /// the controller's words (`annotations.go` `Extract`, a parser's
    /// `LocationDenied` error).
    pub denied: Option<String>,
    /// Set by admission: what the controller ignores or changes in this
    /// Ingress before routing (the annotations as read are already changed).
    pub changes: Vec<Change>,
}

/// One annotation the controller ignores or changes before routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The annotation as written (full key).
    pub annotation: String,
    /// What happens to it, and why, in a sentence.
    pub what: String,
}

/// Whether a `spec.tls` host entry (exact, or a one-label `*.` wildcard)
/// covers `host`.
pub fn tls_covers(tls_host: &str, host: &str) -> bool {
    tls_host == host
        || tls_host
            .strip_prefix("*.")
            .is_some_and(|w| host.split_once('.').is_some_and(|(_, rest)| rest == w))
}

impl Ingress {
    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// An ingress-nginx annotation (`nginx.ingress.kubernetes.io/<short>`).
    pub fn nginx(&self, short: &str) -> Option<&str> {
        // The full key is built in a per-thread buffer (routing and lint
        // look annotations up for every location and probe): no allocation
        // and no UTF-8 check per lookup.
        thread_local! {
            static KEY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        KEY.with_borrow_mut(|k| {
            k.clear();
            k.push_str(NGINX);
            k.push_str(short);
            self.annotations.get(k.as_str()).map(String::as_str)
        })
    }

    /// `canary: "true"`: ingress-nginx builds no locations from it.
    pub fn is_canary(&self) -> bool {
        self.nginx("canary") == Some("true")
    }
}

// === raw shapes ===

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawIngress {
    #[serde(default)]
    metadata: RawMeta,
    #[serde(default)]
    spec: RawSpec,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawMeta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    creation_timestamp: Option<String>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawSpec {
    #[serde(default)]
    ingress_class_name: Option<String>,
    #[serde(default)]
    default_backend: Option<RawBackend>,
    #[serde(default)]
    rules: Option<Vec<RawRule>>,
    #[serde(default)]
    tls: Option<Vec<RawTls>>,
}

#[derive(Deserialize)]
struct RawTls {
    #[serde(default)]
    hosts: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct RawRule {
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    http: Option<RawHttp>,
}

#[derive(Deserialize)]
struct RawHttp {
    #[serde(default)]
    paths: Vec<RawPath>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPath {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    path_type: Option<String>,
    backend: RawBackend,
}

#[derive(Deserialize)]
struct RawBackend {
    #[serde(default)]
    service: Option<RawService>,
    #[serde(default)]
    resource: Option<RawResource>,
}

#[derive(Deserialize)]
struct RawService {
    name: String,
    #[serde(default)]
    port: Option<RawPort>,
}

#[derive(Deserialize)]
struct RawPort {
    #[serde(default)]
    number: Option<i64>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawResource {
    #[serde(default)]
    api_group: Option<String>,
    kind: String,
    name: String,
}

fn backend(b: RawBackend) -> Backend {
    if let Some(s) = b.service {
        let port = match s.port {
            Some(RawPort {
                number: Some(n), ..
            }) => n.to_string(),
            Some(RawPort { name: Some(n), .. }) => n,
            _ => String::new(),
        };
        Backend::Service { name: s.name, port }
    } else if let Some(r) = b.resource {
        Backend::Resource(format!(
            "{}/{}/{}",
            r.api_group.unwrap_or_default(),
            r.kind,
            r.name
        ))
    } else {
        Backend::Default
    }
}

/// What one pass over the inputs produced.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Ingresses, in input order.
    pub ingresses: Vec<Ingress>,
    /// Objects of other kinds that were skipped.
    pub skipped: usize,
    /// Documents that were read (policies or other objects included).
    pub documents: usize,
    /// Files that were read.
    pub files: usize,
    /// IngressClass objects among the inputs.
    pub classes: Vec<IngressClass>,
    /// Every problem found, in input order (see [`Problem::is_error`]).
    pub problems: Vec<Problem>,
    /// Hosts and paths modelled with a stand-in for a variable without a
    /// value.
    pub placeholders: Vec<Placeholder>,
    /// Notes on how the input was read (Flux values not read, …).
    pub notes: Vec<String>,
}

impl Loaded {
    /// Every error problem as one input error (each `file:line`), for the
    /// commands that must not answer on partial input; the other problems
    /// (converted APIs, variables without a value) stay in `problems`.
    pub fn strict(mut self) -> Result<Loaded, InputError> {
        let (errors, rest): (Vec<Problem>, Vec<Problem>) =
            self.problems.into_iter().partition(Problem::is_error);
        self.problems = rest;
        let mut lines = errors.iter().map(Problem::to_line);
        match lines.next() {
            None => Ok(self),
            Some(primary) => Err(InputError {
                primary,
                extra: lines.collect(),
            }),
        }
    }

    /// What was read, for the message when no Ingress was found.
    pub fn summary(&self) -> String {
        let unreadable = self.problems.iter().filter(|p| p.is_error()).count();
        format!(
            "read {} file(s), {} document(s), {} object(s) of other kinds{}",
            self.files,
            self.documents,
            self.skipped,
            if unreadable > 0 {
                format!(", {unreadable} problem(s)")
            } else {
                String::new()
            }
        )
    }
}

/// How the loader reads manifests.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Convert Ingresses of a removed API version (reported as
    /// [`ProblemKind::RemovedApi`]); otherwise they are unreadable.
    pub convert_removed: bool,
    /// Substitute GitOps variables (`--var`; Flux Kustomizations among the
    /// inputs add theirs).
    pub substitute: bool,
    /// Values given on the command line (they win over Flux's).
    pub vars: Vars,
    /// Each file is its own cluster: a name reused in another file is not
    /// a duplicate.
    pub each_file: bool,
}

/// An IngressClass object, reduced to what decides who serves an Ingress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressClass {
    /// `metadata.name`.
    pub name: String,
    /// `spec.controller` (`k8s.io/ingress-nginx` for ingress-nginx).
    pub controller: String,
    /// `ingressclass.kubernetes.io/is-default-class: "true"`: the API
    /// server's DefaultIngressClass admission sets it as the class of an
    /// Ingress created without one.
    pub default: bool,
}

/// What the API server's DefaultIngressClass admission does when the
/// manifests are applied: an Ingress without a class gets the one
/// IngressClass marked default among `classes`. Returns a note for each
/// Ingress so assigned (or why none was).
pub fn apply_default_class(ingresses: &mut [Ingress], classes: &[IngressClass]) -> Vec<String> {
    let defaults: Vec<&IngressClass> = classes.iter().filter(|c| c.default).collect();
    let classless = ingresses.iter().filter(|i| i.class.is_none()).count();
    match defaults.as_slice() {
        _ if classless == 0 => Vec::new(),
        [one] => {
            for i in ingresses.iter_mut().filter(|i| i.class.is_none()) {
                i.class = Some(one.name.clone());
            }
            vec![format!(
                "{classless} Ingress(es) without a class take the default IngressClass {} (controller {}), as the API server assigns it when they are applied",
                one.name, one.controller
            )]
        }
        [] => Vec::new(),
        many => vec![format!(
            "several IngressClasses are marked default ({}): the class of the {classless} Ingress(es) without one is not assumed",
            many.iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )],
    }
}

impl IngressClass {
    fn from_value(v: &Value) -> IngressClass {
        let s = |p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        IngressClass {
            name: s("/metadata/name"),
            controller: s("/spec/controller"),
            default: s("/metadata/annotations/ingressclass.kubernetes.io~1is-default-class")
                == "true",
        }
    }
}

/// Read every input (`-` is stdin) and collect the Ingresses; the first
/// error problem (and every other) is the error.
pub fn load_paths(inputs: &[PathBuf]) -> Result<Loaded, InputError> {
    load_paths_with(inputs, &LoadOptions::default()).strict()
}

/// Read every input and collect the Ingresses, and every problem on the
/// way: nothing stops the pass.
pub fn load_paths_with(inputs: &[PathBuf], opts: &LoadOptions) -> Loaded {
    let (files, problems) = read_all(inputs);
    let mut out = load_texts(&files, opts);
    // Problems reading the files come first: they name no line.
    out.problems.splice(0..0, problems);
    out
}

/// [`load_paths_with`] over texts already read (`(name, text)` pairs).
pub fn load_texts(files: &[(String, String)], opts: &LoadOptions) -> Loaded {
    let mut out = Loaded::default();
    let mut vars = opts.vars.clone();
    if opts.substitute {
        let flux = vars::from_flux(files);
        if flux.active {
            vars.activate();
        }
        vars.add_missing(flux.values);
        out.notes = flux.notes;
    }
    let ctx = ParseOptions {
        opts,
        vars: opts.substitute.then_some(&vars),
    };
    let mut seen: HashMap<String, Origin> = HashMap::new();
    // Files are parsed in parallel (a directory of manifests), then taken
    // in order, so problems are reported in input order.
    for ((_, text), parsed) in files.iter().zip(parse_files(files, &ctx)) {
        if opts.each_file {
            seen.clear();
        }
        add_parsed(
            text,
            parsed,
            &mut ParsedInto {
                out: &mut out,
                seen: &mut seen,
            },
        );
    }
    out
}

/// What the parse of one file needs to know.
struct ParseOptions<'a> {
    opts: &'a LoadOptions,
    /// The variables, when substituting.
    vars: Option<&'a Vars>,
}

/// [`parse_file`] for every file, on up to one thread per core; results in
/// file order.
fn parse_files<'a>(files: &[(String, String)], ctx: &ParseOptions<'a>) -> Vec<Parsed<'a>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(8);
    if files.len() < 2 || threads < 2 {
        return files.iter().map(|(n, t)| parse_file(n, t, ctx)).collect();
    }
    let size = files.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(size)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|(n, t)| parse_file(n, t, ctx))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Read every input (`-` is stdin; directories recursively, `*.yaml`,
/// `*.yml`, `*.json` in name order) as `(name, text)` pairs; every file
/// that cannot be read is in the error.
pub fn read_inputs(inputs: &[PathBuf]) -> Result<Vec<(String, String)>, InputError> {
    let (files, problems) = read_all(inputs);
    let mut lines = problems.iter().map(Problem::to_line);
    match lines.next() {
        None => Ok(files),
        Some(primary) => Err(InputError {
            primary,
            extra: lines.collect(),
        }),
    }
}

/// [`read_inputs`], with each file that cannot be read as a problem.
pub fn read_all(inputs: &[PathBuf]) -> (Vec<(String, String)>, Vec<Problem>) {
    let mut out = Vec::new();
    let mut failed: Vec<(String, InputError)> = Vec::new();
    let mut read = |name: String, r: Result<String, InputError>| match r {
        Ok(text) => out.push((name, text)),
        Err(e) => failed.push((name, e)),
    };
    for input in inputs {
        if input.as_os_str() == "-" {
            read("-".to_string(), read_stdin());
        } else if input.is_dir() {
            let mut files = Vec::new();
            let mut unlisted = Vec::new();
            walk(input, 0, &mut files, &mut unlisted);
            for (name, e) in unlisted {
                read(name, Err(e));
            }
            for f in files {
                read(f.display().to_string(), read_capped(&f));
            }
        } else {
            read(input.display().to_string(), read_capped(input));
        }
    }
    let problems = failed
        .iter()
        .flat_map(|(name, e)| Problem::unreadable(name, e, "", ""))
        .collect();
    (out, problems)
}

/// Standard input, with the size cap.
fn read_stdin() -> Result<String, InputError> {
    let mut text = String::new();
    std::io::stdin()
        .take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| InputError::file("-", format!("cannot read stdin: {e}")))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(InputError::file(
            "-",
            format!("larger than {} MiB", MAX_FILE_BYTES >> 20),
        ));
    }
    Ok(text)
}

/// The manifest files under `dir`, in name order, recursively. Hidden
/// folders and files are read (`.k8s/` is a common home for manifests);
/// only `.git` is skipped (a repository's own database, never manifests).
/// A directory that cannot be listed, or nested deeper than
/// [`MAX_WALK_DEPTH`] (a symlink loop), is in `failed`.
fn walk(
    dir: &Path,
    depth: usize,
    files: &mut Vec<PathBuf>,
    failed: &mut Vec<(String, InputError)>,
) {
    let name = dir.display().to_string();
    if depth > MAX_WALK_DEPTH {
        let err = InputError::file(
            &name,
            format!("more than {MAX_WALK_DEPTH} directories deep (a symlink loop?): not read"),
        );
        failed.push((name, err));
        return;
    }
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            let err = InputError::file(&name, format!("cannot list directory: {e}"));
            failed.push((name, err));
            return;
        }
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.file_name().is_some_and(|n| n == ".git") {
            continue;
        }
        // One stat per entry; an entry that cannot be resolved (a dangling
        // symlink, a symlink loop the OS refuses) is reported, not skipped.
        let meta = match fs::metadata(&p) {
            Ok(m) => m,
            Err(e) => {
                let name = p.display().to_string();
                let err = InputError::file(&name, format!("cannot read: {e}"));
                failed.push((name, err));
                continue;
            }
        };
        if meta.is_dir() {
            walk(&p, depth + 1, files, failed);
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            files.push(p);
        }
    }
}

/// How deep [`walk`] descends.
const MAX_WALK_DEPTH: usize = 64;

/// Read a file with the size cap.
pub fn read_capped(path: &Path) -> Result<String, InputError> {
    let name = path.display().to_string();
    let meta =
        fs::metadata(path).map_err(|e| InputError::file(&name, format!("cannot read: {e}")))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(InputError::file(
            &name,
            // In bytes: a file just over the limit rounds down to it in MiB.
            format!(
                "{} bytes is larger than the {} MiB limit",
                meta.len(),
                MAX_FILE_BYTES >> 20
            ),
        ));
    }
    let bytes = fs::read(path).map_err(|e| InputError::file(&name, format!("cannot read: {e}")))?;
    String::from_utf8(bytes).map_err(|e| InputError::file(&name, format!("not UTF-8 text: {e}")))
}

/// Parse one file's text into `out`; every error problem of the file is
/// the error (strict: no removed APIs, no substitution).
pub fn load_text(
    file: &str,
    text: &str,
    out: &mut Loaded,
    seen: &mut HashMap<String, Origin>,
) -> Result<(), InputError> {
    let before = out.problems.len();
    load_text_with(file, text, &LoadOptions::default(), out, seen);
    let found: Vec<Problem> = out.problems.drain(before..).collect();
    let mut lines = found.iter().filter(|p| p.is_error()).map(Problem::to_line);
    match lines.next() {
        None => Ok(()),
        Some(primary) => Err(InputError {
            primary,
            extra: lines.collect(),
        }),
    }
}

/// Parse one file's text into `out`, its problems included.
pub fn load_text_with(
    file: &str,
    text: &str,
    opts: &LoadOptions,
    out: &mut Loaded,
    seen: &mut HashMap<String, Origin>,
) {
    let ctx = ParseOptions {
        opts,
        vars: opts.substitute.then_some(&opts.vars),
    };
    add_parsed(
        text,
        parse_file(file, text, &ctx),
        &mut ParsedInto { out, seen },
    );
}

/// One Ingress object given as a JSON value (an admission review's
/// `request.object`), read by exactly the loader manifests go through;
/// `file` names it in messages. Errors when it is not one
/// `networking.k8s.io/v1` Ingress.
pub fn load_object(file: &str, object: &Value) -> Result<Ingress, InputError> {
    let text = serde_json::to_string(object)
        .map_err(|e| InputError::file(file, format!("cannot serialise the object: {e}")))?;
    let mut out = Loaded::default();
    load_text(file, &text, &mut out, &mut HashMap::new())?;
    match (out.ingresses.pop(), out.ingresses.is_empty()) {
        (Some(ing), true) => Ok(ing),
        _ => Err(InputError::file(
            file,
            "expected one networking.k8s.io/v1 Ingress object",
        )),
    }
}

/// One file's documents, each as the objects it holds (or the syntax
/// error that stopped its parse), and how to read one again.
struct Parsed<'a> {
    file: Arc<str>,
    docs: Result<Vec<Vec<Entry>>, InputError>,
    convert: bool,
    vars: Option<&'a Vars>,
}

/// Where [`add_parsed`] puts what it reads.
struct ParsedInto<'a> {
    out: &'a mut Loaded,
    seen: &'a mut HashMap<String, Origin>,
}

/// Parse one file (no state shared with other files).
fn parse_file<'a>(file: &str, text: &str, ctx: &ParseOptions<'a>) -> Parsed<'a> {
    let file: Arc<str> = Arc::from(file);
    // One byte scan decides whether the objects of the file are searched
    // for variables at all.
    let vars = ctx.vars.filter(|_| text.contains("${"));
    let convert = ctx.opts.convert_removed;
    // Each document becomes its Ingresses on the thread that parsed it (in
    // parallel for large streams), moving the strings out of its JSON tree.
    // What needs the whole input in order — counts, the duplicate check —
    // happens in [`add_parsed`]. A syntax error anywhere in the file is
    // the file's one problem.
    let docs = crate::source::parse_each(text, |doc| {
        let Document {
            mut value,
            lines,
            line,
        } = doc;
        let cx = Cx {
            file: &file,
            lines: &lines,
            doc_line: line,
            convert,
            vars,
        };
        let mut entries = Vec::with_capacity(1);
        if collect(&cx, "", &mut value, Mode::Fast, &mut entries).is_err() {
            entries.clear();
            entries.push(Entry::Redo);
        }
        entries
    })
    .map_err(|e| InputError::syntax(&file, &e));
    Parsed {
        file,
        docs,
        convert,
        vars,
    }
}

/// Add a parsed file to `into`, in order: counts, duplicates, problems.
fn add_parsed(text: &str, parsed: Parsed<'_>, into: &mut ParsedInto<'_>) {
    into.out.files += 1;
    let first_problem = into.out.problems.len();
    match &parsed.docs {
        Ok(_) => add_docs(text, parsed, into),
        Err(e) => {
            let p = Problem::unreadable(&parsed.file, e, "", "");
            into.out.problems.extend(p);
        }
    }
    if text.contains("{{") {
        for p in &mut into.out.problems[first_problem..] {
            if p.kind == ProblemKind::Unreadable && p.hint.is_empty() {
                p.hint = problems::HELM_HINT.to_string();
            }
        }
    }
}

fn add_docs(text: &str, parsed: Parsed<'_>, into: &mut ParsedInto<'_>) {
    let Parsed {
        file,
        docs,
        convert,
        vars,
    } = parsed;
    let Ok(docs) = docs else {
        return;
    };
    let out = &mut *into.out;
    out.ingresses.reserve(docs.iter().map(Vec::len).sum());
    // Documents with an object serde rejected, read again exactly (rare).
    let mut again: Option<Vec<Document>> = None;
    for (k, entries) in docs.into_iter().enumerate() {
        out.documents += 1;
        let entries = if matches!(entries.first(), Some(Entry::Redo)) {
            if again.is_none() {
                match crate::source::parse_documents(text) {
                    Ok(d) => again = Some(d),
                    Err(e) => {
                        let e = InputError::syntax(&file, &e);
                        out.problems.extend(Problem::unreadable(&file, &e, "", ""));
                        return;
                    }
                }
            }
            match again.as_mut().and_then(|d| d.get_mut(k)) {
                Some(doc) => exact(&file, doc, convert, vars),
                None => {
                    let e = InputError::file(&file, "documents changed on a second read");
                    out.problems.extend(Problem::unreadable(&file, &e, "", ""));
                    return;
                }
            }
        } else {
            entries
        };
        for entry in entries {
            add_entry(entry, out, into.seen);
        }
    }
}

/// A document's entries read in [`Mode::Exact`] (errors name the field).
fn exact(file: &Arc<str>, doc: &mut Document, convert: bool, vars: Option<&Vars>) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut value = std::mem::take(&mut doc.value);
    let cx = Cx {
        file,
        lines: &doc.lines,
        doc_line: doc.line,
        convert,
        vars,
    };
    if collect(&cx, "", &mut value, Mode::Exact, &mut entries).is_err() {
        let e = InputError::at(file, doc.line, "object could not be read");
        entries.extend(
            Problem::unreadable(file, &e, "", "")
                .into_iter()
                .map(Entry::Problem),
        );
    }
    entries
}

/// One entry into `out`: an Ingress (unless its name is taken), a class,
/// a count, a problem.
fn add_entry(entry: Entry, out: &mut Loaded, seen: &mut HashMap<String, Origin>) {
    let ing = match entry {
        Entry::Ingress(ing) => ing,
        Entry::Skipped => {
            out.skipped += 1;
            return;
        }
        Entry::Class(c) => return out.classes.push(c),
        Entry::Problem(p) => return out.problems.push(p),
        Entry::Placeholder(p) => return out.placeholders.push(p),
        // Only the fast pass asks for a redo, and the document was redone.
        Entry::Redo => return,
    };
    let key = ing.key();
    match seen.get(&key) {
        Some(first) => {
            let p = problems::duplicate(
                &key,
                &ing.namespace,
                &ing.name,
                ing.origin.clone(),
                first.clone(),
            );
            out.problems.push(p);
        }
        None => {
            seen.insert(key, ing.origin.clone());
            out.ingresses.push(ing);
        }
    }
}

/// What one object of a document turned into. Nearly every entry is an
/// Ingress, so boxing it would only add an allocation per object.
#[allow(clippy::large_enum_variant)]
enum Entry {
    Ingress(Ingress),
    /// An object of another kind.
    Skipped,
    /// An IngressClass.
    Class(IngressClass),
    /// An object that could not be read, or a note on one that was.
    Problem(Problem),
    /// A host or path with a variable without a value.
    Placeholder(Placeholder),
    /// The document must be read again in [`Mode::Exact`] (its only entry).
    Redo,
}

/// How an Ingress object is deserialized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Move the strings out of the tree (which is dropped afterwards); if
    /// serde rejects the object, or it cannot be built, ask for
    /// [`Mode::Exact`].
    Fast,
    /// Borrow the tree; a rejected object's error names the field and its
    /// line.
    Exact,
}

/// Why [`collect`] stopped.
enum Fail {
    Input(InputError),
    /// Serde rejected an object in [`Mode::Fast`].
    Redo,
}

impl From<InputError> for Fail {
    fn from(e: InputError) -> Fail {
        Fail::Input(e)
    }
}

/// What [`collect`] needs about the document it reads.
struct Cx<'a> {
    file: &'a Arc<str>,
    lines: &'a Lines,
    doc_line: u32,
    /// Convert removed API versions (else they are unreadable).
    convert: bool,
    /// Substitute variables (the file holds `${`).
    vars: Option<&'a Vars>,
}

/// The objects of `value` (at `pointer`) into `out`. Only [`Mode::Fast`]
/// fails (asking for a redo); in [`Mode::Exact`] every object that cannot
/// be read is a problem entry and the others are still read.
fn collect(
    cx: &Cx<'_>,
    pointer: &str,
    value: &mut Value,
    mode: Mode,
    out: &mut Vec<Entry>,
) -> Result<(), Fail> {
    let line = cx.lines.line_of(pointer).unwrap_or(cx.doc_line);
    let Some(obj) = value.as_object_mut() else {
        out.push(Entry::Skipped);
        return Ok(());
    };
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let api = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if kind == "List" || (kind.ends_with("List") && obj.get("items").is_some_and(Value::is_array)) {
        let typed = kind == "IngressList";
        let api = api.to_string();
        if let Some(items) = obj.get_mut("items").and_then(Value::as_array_mut) {
            for (i, item) in items.iter_mut().enumerate() {
                let p = format!("{pointer}/items/{i}");
                // Items of `kubectl get ingress -o yaml` carry kind; typed
                // lists (IngressList) may omit it.
                if typed && item.get("kind").is_none() {
                    if let Some(m) = item.as_object_mut() {
                        m.insert("kind".into(), Value::from("Ingress"));
                        m.insert("apiVersion".into(), Value::from(api.as_str()));
                    }
                }
                collect(cx, &p, item, mode, out)?;
            }
        }
        return Ok(());
    }
    if kind == "IngressClass" {
        out.push(Entry::Class(IngressClass::from_value(value)));
        return Ok(());
    }
    if kind != "Ingress" {
        out.push(Entry::Skipped);
        return Ok(());
    }
    if api != "networking.k8s.io/v1" {
        if !cx.convert || !convert::is_removed(api) {
            let e = removed_api_error(cx.file, line, obj, api);
            out.extend(object_problems(cx.file, &e, value));
            return Ok(());
        }
        let note = removed_api_note(cx, line, obj, api);
        convert::to_v1(obj);
        out.push(Entry::Problem(note));
    }
    if let Some(vars) = cx.vars {
        substitute(cx, pointer, line, value, vars, out);
    }
    match ingress_from(cx.file, cx.lines, pointer, value, line, mode) {
        Ok(ing) => out.push(Entry::Ingress(ing)),
        Err(Fail::Input(e)) => out.extend(object_problems(cx.file, &e, value)),
        Err(Fail::Redo) => return Err(Fail::Redo),
    }
    Ok(())
}

/// The problem entries of an object that could not be read, with its
/// namespace and name when it has them.
fn object_problems(file: &str, e: &InputError, value: &Value) -> impl Iterator<Item = Entry> {
    let s = |k: &str| {
        value
            .get("metadata")
            .and_then(|m| m.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let name = s("name");
    let ns = match s("namespace") {
        n if n.is_empty() && !name.is_empty() => "default".to_string(),
        n => n,
    };
    Problem::unreadable(file, e, &ns, &name)
        .into_iter()
        .map(Entry::Problem)
}

fn removed_api_error(
    file: &str,
    line: u32,
    obj: &serde_json::Map<String, Value>,
    api: &str,
) -> InputError {
    let name = obj
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("?");
    InputError::at(
        file,
        line,
        format!(
            "Ingress {name} uses apiVersion {api:?}; stepup reads networking.k8s.io/v1 only \
             (extensions/v1beta1 and networking.k8s.io/v1beta1 were removed in Kubernetes 1.22; \
             convert with `kubectl convert --output-version networking.k8s.io/v1`)"
        ),
    )
}

/// The SU026 note for an Ingress of a removed API version.
fn removed_api_note(
    cx: &Cx<'_>,
    line: u32,
    obj: &serde_json::Map<String, Value>,
    api: &str,
) -> Problem {
    let meta = |k: &str| {
        obj.get("metadata")
            .and_then(|m| m.get(k))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let name = meta("name").unwrap_or("");
    Problem {
        kind: ProblemKind::RemovedApi,
        origin: Origin {
            file: cx.file.clone(),
            line,
        },
        column: None,
        namespace: meta("namespace").unwrap_or("default").to_string(),
        name: name.to_string(),
        message: format!(
            "Ingress {name} uses apiVersion {api}, removed in Kubernetes 1.22 (API servers since reject it); \
             it was converted to networking.k8s.io/v1 as the API server converted it, and linted as converted"
        ),
        hint: "Convert the manifest: `kubectl convert -f FILE --output-version networking.k8s.io/v1` \
               (the kubectl-convert plugin), then review pathType (ImplementationSpecific was the default)."
            .to_string(),
    }
}

/// Substitute the variables of an Ingress object; each variable without a
/// value is an SU027 problem, each host or path it is in a placeholder.
fn substitute(
    cx: &Cx<'_>,
    at: &str,
    line: u32,
    value: &mut Value,
    vars: &Vars,
    out: &mut Vec<Entry>,
) {
    let found = vars::substitute(value, vars);
    if found.unresolved.is_empty() {
        return;
    }
    let meta = |k: &str| {
        value
            .get("metadata")
            .and_then(|m| m.get(k))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let name = meta("name").unwrap_or_default();
    let namespace = meta("namespace").unwrap_or_else(|| "default".into());
    for (expression, pointer, text) in found.unresolved {
        let field = crate::error::pointer_to_field(&pointer);
        let var = expression.trim_start_matches("${").trim_end_matches('}');
        out.push(Entry::Problem(Problem {
            message: format!(
                "{expression} in {field} ({text:?}) has no value (no --var, no Flux Kustomization substitute, no default): \
                 it is modelled as written, hosts and paths with a stand-in (var-…, hosts under .invalid); \
                 Flux would substitute an empty string"
            ),
            hint: format!(
                "Give it a value: `--var {}=VALUE`, or lint what Flux applies (`kustomize build DIR | flux envsubst | stepup lint -p POLICY -`).",
                var.split([':', '-', '=', '/']).next().unwrap_or(var)
            ),
            kind: ProblemKind::Unresolved { expression },
            origin: Origin {
                file: cx.file.clone(),
                line: cx.lines.line_of(&format!("{at}{pointer}")).unwrap_or(line),
            },
            column: None,
            namespace: namespace.clone(),
            name: name.clone(),
        }));
    }
    out.extend(found.placeholders.into_iter().map(Entry::Placeholder));
}

fn ingress_from(
    file: &Arc<str>,
    lines: &Lines,
    pointer: &str,
    value: &mut Value,
    line: u32,
    mode: Mode,
) -> Result<Ingress, Fail> {
    // Re-root pointers: deserialize from the sub-value, then look lines up
    // under `pointer`.
    if mode == Mode::Fast {
        // The tree is dropped after this object: move its strings. An
        // object that cannot be built is read again exactly, where the
        // tree is still there to name it in the problem.
        return match RawIngress::deserialize(std::mem::take(value)) {
            Ok(raw) => build_ingress(file, lines, pointer, raw, line).map_err(|_| Fail::Redo),
            Err(_) => Err(Fail::Redo),
        };
    }
    // Plain serde first; only a failing object is deserialized again with
    // path tracking, for the field path and line of the message.
    if let Ok(raw) = RawIngress::deserialize(&*value) {
        return Ok(build_ingress(file, lines, pointer, raw, line)?);
    }
    let raw: RawIngress = serde_path_to_error::deserialize(&*value).map_err(|e| {
        let mut p = pointer.to_string();
        for seg in e.path().iter() {
            match seg {
                serde_path_to_error::Segment::Seq { index } => p.push_str(&format!("/{index}")),
                serde_path_to_error::Segment::Map { key } => {
                    p.push('/');
                    p.push_str(&crate::source::escape_token(key));
                }
                _ => {}
            }
        }
        let l = lines.line_of(&p).unwrap_or(line);
        let field = crate::error::pointer_to_field(&p[pointer.len()..]);
        let mut msg = format!("Ingress {field}: {}", e.inner());
        if field.contains("annotations") || field.contains("labels") {
            msg.push_str(" (annotation and label values are strings: quote them)");
        }
        InputError::at(file, l, msg)
    })?;
    Ok(build_ingress(file, lines, pointer, raw, line)?)
}

fn build_ingress(
    file: &Arc<str>,
    lines: &Lines,
    pointer: &str,
    raw: RawIngress,
    line: u32,
) -> Result<Ingress, InputError> {
    let at = |c: crate::source::LineCursor| Origin {
        file: file.clone(),
        line: c.line().unwrap_or(line),
    };
    let rules_at = lines.child(lines.child(lines.cursor(pointer), "spec"), "rules");
    let Some(name) = raw.metadata.name.filter(|n| !n.is_empty()) else {
        return Err(InputError::at(file, line, "Ingress has no metadata.name"));
    };
    let annotations = raw.metadata.annotations.unwrap_or_default();
    let annotations_at = lines.child(
        lines.child(lines.cursor(pointer), "metadata"),
        "annotations",
    );
    // yaml-rust2 places a block scalar (`|`, `>`) at its first content
    // line, the one after its key; such a value (clipped) ends in `\n`.
    let annotation_lines = annotations
        .iter()
        .map(|(k, v)| {
            let l = at(lines.child(annotations_at, k)).line;
            let block = v.ends_with('\n') && l > line;
            (k.clone(), if block { l - 1 } else { l })
        })
        .collect();
    let class = raw
        .spec
        .ingress_class_name
        .clone()
        .or_else(|| annotations.get("kubernetes.io/ingress.class").cloned());
    let raw_rules = raw.spec.rules.unwrap_or_default();
    let mut rules = Vec::with_capacity(raw_rules.len());
    for (ri, r) in raw_rules.into_iter().enumerate() {
        let rule_at = lines.item(rules_at, ri);
        let host = r
            .host
            .filter(|h| !h.is_empty())
            .map(|h| h.to_ascii_lowercase());
        if let Some(h) = &host {
            if crate::glob::HostPattern::parse(h).is_err() {
                return Err(InputError::at(
                    file,
                    at(lines.child(rule_at, "host")).line,
                    format!("Ingress {name}: host {h:?} is not a valid DNS name or `*.` wildcard"),
                ));
            }
        }
        let raw_paths = r.http.map(|h| h.paths).unwrap_or_default();
        let paths_at = lines.child(lines.child(rule_at, "http"), "paths");
        let mut paths = Vec::with_capacity(raw_paths.len());
        for (pi, p) in raw_paths.into_iter().enumerate() {
            let origin = at(lines.item(paths_at, pi));
            let path_type = match p.path_type.as_deref() {
                Some("Exact") => PathType::Exact,
                Some("Prefix") => PathType::Prefix,
                Some("ImplementationSpecific") => PathType::ImplementationSpecific,
                Some(other) => {
                    return Err(InputError::at(
                        file,
                        origin.line,
                        format!(
                            "Ingress {name}: pathType {other:?} is not Exact, Prefix or ImplementationSpecific"
                        ),
                    ));
                }
                None => {
                    return Err(InputError::at(
                        file,
                        origin.line,
                        format!("Ingress {name}: pathType is required in networking.k8s.io/v1"),
                    ));
                }
            };
            let path = p.path.unwrap_or_default();
            if !path.is_empty() && !path.starts_with('/') {
                return Err(InputError::at(
                    file,
                    origin.line,
                    format!("Ingress {name}: path {path:?} must be absolute (start with `/`)"),
                ));
            }
            if path.bytes().any(|b| b.is_ascii_control()) {
                return Err(InputError::at(
                    file,
                    origin.line,
                    format!(
                        "Ingress {name}: path {path:?} contains a control character (CVE-2021-25748 class)"
                    ),
                ));
            }
            paths.push(IngressPath {
                path,
                path_type,
                backend: backend(p.backend),
                origin,
            });
        }
        rules.push(IngressRule {
            host,
            paths,
            origin: at(rule_at),
        });
    }
    Ok(Ingress {
        namespace: raw
            .metadata
            .namespace
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".into()),
        name,
        created: raw.metadata.creation_timestamp,
        annotations,
        annotation_lines,
        labels: raw.metadata.labels.unwrap_or_default(),
        class,
        default_backend: raw.spec.default_backend.map(backend),
        rules,
        tls_hosts: raw
            .spec
            .tls
            .unwrap_or_default()
            .into_iter()
            .flat_map(|t| t.hosts.unwrap_or_default())
            .map(|h| h.to_ascii_lowercase())
            .collect(),
        origin: Origin {
            file: file.clone(),
            line,
        },
        denied: None,
        changes: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Loaded, InputError> {
        let mut out = Loaded::default();
        load_text("t.yaml", text, &mut out, &mut HashMap::new())?;
        Ok(out)
    }

    const ING: &str = "apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop
  annotations:
    nginx.ingress.kubernetes.io/use-regex: \"true\"
spec:
  rules:
    - host: Shop.Example.com
      http:
        paths:
          - path: /admin
            pathType: Prefix
            backend: {service: {name: admin, port: {number: 80}}}
";

    #[test]
    fn reads_ingress_with_lines() {
        let l = load(&format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: x}}\n---\n{ING}"
        ))
        .unwrap();
        assert_eq!(l.skipped, 1);
        let ing = &l.ingresses[0];
        assert_eq!(ing.key(), "default/shop");
        assert_eq!(ing.origin.line, 5);
        assert_eq!(ing.rules[0].host.as_deref(), Some("shop.example.com"));
        let p = &ing.rules[0].paths[0];
        assert_eq!(p.origin.line, 16);
        assert_eq!(p.backend.to_string(), "admin:80");
        assert_eq!(ing.nginx("use-regex"), Some("true"));
    }

    #[test]
    fn lists_are_expanded() {
        let json = r#"{"apiVersion":"v1","kind":"List","items":[
          {"apiVersion":"networking.k8s.io/v1","kind":"Ingress","metadata":{"name":"a","namespace":"n"},"spec":{}},
          {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}]}"#;
        let l = load(json).unwrap();
        assert_eq!(l.ingresses.len(), 1);
        assert_eq!(l.ingresses[0].key(), "n/a");
        assert_eq!(l.ingresses[0].origin.line, 2);
    }

    #[test]
    fn old_api_versions_are_errors() {
        let e = load("apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata: {name: old}\n")
            .unwrap_err();
        assert!(e.primary.starts_with("t.yaml:1:"), "{e}");
        assert!(e.primary.contains("networking.k8s.io/v1 only"), "{e}");
    }

    #[test]
    fn unquoted_annotation_is_an_error_with_line() {
        let e = load(&ING.replace("\"true\"", "true")).unwrap_err();
        assert!(e.primary.starts_with("t.yaml:6:"), "{e}");
        assert!(e.primary.contains("quote"), "{e}");
    }

    #[test]
    fn missing_path_type_is_an_error() {
        let e = load(&ING.replace("            pathType: Prefix\n", "")).unwrap_err();
        assert!(e.primary.contains("pathType is required"), "{e}");
        assert!(e.primary.starts_with("t.yaml:12:"), "{e}");
    }

    /// Helm and kustomize output: a leading `---`, `# Source:` comments,
    /// empty documents, other kinds in between.
    #[test]
    fn helm_style_output() {
        let text = format!(
            "---\n# Source: shop/templates/service.yaml\napiVersion: v1\nkind: Service\nmetadata: {{name: s}}\n---\n# Source: shop/templates/empty.yaml\n---\n# Source: shop/templates/ingress.yaml\n{ING}---\n"
        );
        let l = load(&text).unwrap();
        assert_eq!((l.ingresses.len(), l.skipped), (1, 1));
        assert_eq!(l.ingresses[0].origin.line, 10);
    }

    /// Directories are read recursively, `*.yaml|*.yml|*.json` only, in name order.
    #[test]
    fn directories_recurse() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(
            dir.path().join("sub/a.yml"),
            ING.replace("name: shop", "name: a"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("b.json"),
            r#"{"apiVersion":"networking.k8s.io/v1","kind":"Ingress","metadata":{"name":"b"}}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "kind: Ingress").unwrap();
        let l = load_paths(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<&str> = l.ingresses.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
    }

    /// Reading hidden folders must not loop forever on a symlink cycle.
    #[cfg(unix)]
    #[test]
    fn regression_a_symlink_loop_is_a_problem_not_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), ING).unwrap();
        std::os::unix::fs::symlink(dir.path(), dir.path().join(".loop")).unwrap();
        let l = load_paths_with(&[dir.path().to_path_buf()], &LoadOptions::default());
        // The OS may refuse first (ELOOP: "cannot list directory").
        let unreadable: Vec<&Problem> = l
            .problems
            .iter()
            .filter(|p| p.kind == ProblemKind::Unreadable)
            .collect();
        assert!(
            unreadable
                .iter()
                .any(|p| p.message.contains("directories deep")
                    || p.message.contains("cannot list directory")
                    || p.message.contains("cannot read")),
            "{unreadable:?}"
        );
    }

    #[test]
    fn duplicates_are_errors() {
        let e = load(&format!("{ING}---\n{ING}")).unwrap_err();
        assert!(e.primary.contains("defined again"), "{e}");
    }
}
