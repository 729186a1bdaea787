//! The decisions, without I/O: a parsed review in, the typed response out.
//!
//! `validate` runs the lint rules (the same [`crate::lint::lint`] over the
//! same routing model) on the object together with the other Ingresses of
//! its hosts; `mutate` plans the object with [`crate::generate`] and
//! answers with the annotations it writes as a JSON Patch. Neither writes
//! anything anywhere: what the edge does with the result (logs, the
//! exemption counter) it reads from [`Verdict`] and [`Mutated`].

use std::collections::HashSet;

use kube_core::DynamicObject;
use kube_core::admission::{AdmissionRequest, AdmissionResponse, Operation};
use serde_json::Value;

use crate::controllers::ingress_nginx::routing::{Classes, Controller, RouteTable, Settings};
use crate::generate::{EXEMPT_ANNOTATION, LEVEL_ANNOTATION, plan_ingress};
use crate::ingress::{Ingress, load_object};
use crate::lint::{
    Finding, GrantUse, Options as LintOptions, PREVIOUS_DELETED, PREVIOUS_STAYS, Report, Severity,
    lint,
};
use crate::policy::Policy;

use super::exempt::{self, Whole};
use super::message::{self, Stage};
use super::patch::annotations_patch;
use super::store::IngressStore;

/// A parsed review's request.
pub type Request = AdmissionRequest<DynamicObject>;

/// What `/validate` decided.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The answer (uid echoed).
    pub response: AdmissionResponse,
    /// One word for logs and metrics: `allowed`, `denied`, `exempt`,
    /// `skipped` (not a CREATE/UPDATE of an Ingress).
    pub outcome: &'static str,
    /// The exemption reason, when `stepup.dev/exempt` let it through.
    pub exempt: Option<String>,
    /// The object's uses of `stepup.dev/exempt` and of `stepup.dev/ignore`
    /// for error findings, granted or not (logged and counted).
    pub uses: Vec<GrantUse>,
    /// Rule IDs behind a deny (empty otherwise).
    pub rules: Vec<&'static str>,
}

/// What `/mutate` decided.
#[derive(Debug, Clone)]
pub struct Mutated {
    /// The answer (uid echoed; a patch when one is needed).
    pub response: AdmissionResponse,
    /// `patched`, `unchanged` or `skipped`.
    pub outcome: &'static str,
    /// The level the patch protects the object at.
    pub level: Option<String>,
}

/// `networking.k8s.io/v1` Ingress.
pub fn is_ingress(req: &Request) -> bool {
    req.kind.group == "networking.k8s.io" && req.kind.version == "v1" && req.kind.kind == "Ingress"
}

/// Whether the review asks about an object's content: CREATE or UPDATE of
/// the object itself (not a subresource such as `status`, which the
/// controller writes and which cannot change routing).
pub fn judges_content(req: &Request) -> bool {
    matches!(req.operation, Operation::Create | Operation::Update) && req.sub_resource.is_none()
}

fn not_ingress_warning(req: &Request) -> String {
    let k = &req.kind;
    let gv = if k.group.is_empty() {
        k.version.clone()
    } else {
        format!("{}/{}", k.group, k.version)
    };
    message::clip(
        &format!(
            "stepup reviews networking.k8s.io/v1 Ingress only; {gv} {} was not checked",
            k.kind
        ),
        message::MAX_WARNING_CHARS,
    )
}

/// A deny in the shape of the captured deny responses: `status` with
/// `code: 403`, `reason: Forbidden` and the message (the API server adds
/// `status: Failure` and the `admission webhook "…" denied the request: `
/// prefix itself).
fn deny(resp: AdmissionResponse, msg: String) -> AdmissionResponse {
    let mut r = resp.deny(msg);
    r.result.code = 403;
    r.result.reason = "Forbidden".into();
    r
}

/// The object as JSON with what the loader needs filled in from the
/// request: `apiVersion`/`kind` (the review's kind), the namespace, and a
/// name for a CREATE that relies on `generateName`.
pub fn object_value(req: &Request, obj: &DynamicObject) -> Result<Value, String> {
    let mut v = serde_json::to_value(obj).map_err(|e| format!("cannot read the object: {e}"))?;
    let Some(m) = v.as_object_mut() else {
        return Err("the object is not a JSON object".into());
    };
    m.insert("apiVersion".into(), Value::from("networking.k8s.io/v1"));
    m.insert("kind".into(), Value::from("Ingress"));
    let meta = m
        .entry("metadata")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    if let Some(meta) = meta.as_object_mut() {
        let has = |k: &str, meta: &serde_json::Map<String, Value>| {
            meta.get(k)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
        };
        if !has("namespace", meta) {
            if let Some(ns) = req.namespace.as_deref().filter(|n| !n.is_empty()) {
                meta.insert("namespace".into(), Value::from(ns));
            }
        }
        if !has("name", meta) {
            let name = if req.name.is_empty() {
                let stem = meta
                    .get("generateName")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                format!("{stem}<generated>")
            } else {
                req.name.clone()
            };
            meta.insert("name".into(), Value::from(name));
        }
    }
    Ok(v)
}

fn stage(req: &Request) -> Stage {
    if req.operation == Operation::Update {
        Stage::Update
    } else {
        Stage::Create
    }
}

/// The model of the reviewed object, or why there is none.
fn model(req: &Request) -> Result<(Value, Ingress), String> {
    let Some(obj) = req.object.as_ref() else {
        return Err("the review has no request.object".into());
    };
    let v = object_value(req, obj)?;
    let ing = load_object("(admission)", &v).map_err(|e| e.to_string())?;
    Ok((v, ing))
}

/// Identity of a finding across two lint runs.
type FindingId = (&'static str, String, String, String, String);

fn id(f: &Finding) -> FindingId {
    (
        f.rule,
        f.namespace.clone(),
        f.ingress.clone(),
        f.host.clone(),
        f.path.clone(),
    )
}

/// The modelled controller: the default class, the settings of the
/// policy's `spec.controller` (the controller's defaults without one). The
/// policy was read with the section checked, so an error here means it was
/// not: the review fails with it.
fn controller(policy: &Policy) -> Result<Controller, String> {
    let settings = match &policy.controller {
        Some(sec) => Settings::from_section(sec).map_err(|e| e.to_string())?,
        None => Settings::default(),
    };
    Ok(Controller {
        classes: Classes {
            classless: settings.watch_without_class,
            ..Classes::default()
        },
        settings,
    })
}

/// SU019's sentence about updates, as it is for this operation: on UPDATE
/// the previous version stays live (or, under `--disable-catch-all`, is
/// deleted); on CREATE there is none.
fn for_stage(f: &Finding, stage: Stage) -> Finding {
    let mut f = f.clone();
    if f.rule == "SU019" {
        let key = format!("{}/{}", f.namespace, f.ingress);
        let (stays, deleted) = match stage {
            Stage::Update => (
                format!(
                    "this is an update: the previous version of {key} stays live (the controller keeps the last good one)"
                ),
                format!(
                    "this is an update: the controller deletes the previous version of {key} too"
                ),
            ),
            Stage::Create => (
                "nothing of it goes live".to_string(),
                "nothing of it goes live".to_string(),
            ),
        };
        f.message = f
            .message
            .replace(PREVIOUS_STAYS, &stays)
            .replace(PREVIOUS_DELETED, &deleted);
    }
    f
}

/// Lint as admission does: an error finding stays suppressed only where a
/// grant of `spec.exemptions` covers it.
fn lint_with(policy: &Policy, list: Vec<Ingress>, now: Option<u64>) -> Result<Report, String> {
    let table = RouteTable::build(list, &controller(policy)?).map_err(|e| e.to_string())?;
    let opts = LintOptions {
        grants_required: true,
        now,
        ..LintOptions::default()
    };
    Ok(lint(policy, &table, &opts))
}

/// `/validate`: lint the object with the Ingresses of its hosts.
///
/// Denied: error findings on the object, and error findings on other
/// Ingresses that the object brings about (present with it, absent with
/// what the cluster holds now: the old object on UPDATE, nothing on
/// CREATE). Problems that were there before are not blamed on an unrelated
/// change. Warnings on the object become `warnings`.
///
/// `stepup.dev/exempt` and `stepup.dev/ignore` (for error findings) are
/// honoured only where a grant of the policy's `spec.exemptions` covers
/// the object ([`exempt`]); otherwise it is judged as if they were absent.
pub fn validate(policy: &Policy, store: &IngressStore, req: &Request) -> Verdict {
    validate_at(policy, store, req, crate::policy::exemptions::now())
}

/// [`validate`] with grant expiries judged at `now` (Unix seconds; `None`
/// when the clock cannot be read: no expiring grant is honoured).
pub fn validate_at(
    policy: &Policy,
    store: &IngressStore,
    req: &Request,
    now: Option<u64>,
) -> Verdict {
    let resp = AdmissionResponse::from(req);
    let verdict = |response, outcome| Verdict {
        response,
        outcome,
        exempt: None,
        uses: Vec::new(),
        rules: Vec::new(),
    };
    if !is_ingress(req) {
        let mut r = resp;
        r.warnings = Some(vec![not_ingress_warning(req)]);
        return verdict(r, "skipped");
    }
    if !judges_content(req) {
        return verdict(resp, "skipped");
    }
    let (_, ing) = match model(req) {
        Ok(x) => x,
        Err(e) => {
            let who = if req.name.is_empty() {
                String::new()
            } else {
                format!(" {}/{}", req.namespace.as_deref().unwrap_or(""), req.name)
            };
            return verdict(
                deny(
                    resp,
                    format!(
                        "stepup cannot read Ingress{who}, so it cannot tell what it exposes (fail closed): {e}"
                    ),
                ),
                "denied",
            );
        }
    };
    let key = ing.key();
    let mut uses = Vec::new();
    let mut refused = None;
    match exempt::whole(policy, &ing, now) {
        Whole::Absent => {}
        Whole::NoReason(msg) => return verdict(deny(resp, msg), "denied"),
        Whole::Granted {
            reason,
            warning,
            used,
        } => {
            let mut r = resp;
            r.warnings = Some(vec![warning]);
            return Verdict {
                response: r,
                outcome: "exempt",
                exempt: Some(reason),
                uses: vec![used],
                rules: Vec::new(),
            };
        }
        Whole::Refused {
            note,
            warning,
            used,
        } => {
            uses.push(used);
            refused = Some((note, warning));
        }
    }

    let others: Vec<Ingress> = store.related(&ing).into_iter().map(|k| k.ingress).collect();
    let mut list = others.clone();
    list.push(ing.clone());
    let report = match lint_with(policy, list, now) {
        Ok(r) => r,
        Err(e) => {
            return verdict(
                deny(
                    resp,
                    format!("stepup cannot model Ingress {key} (fail closed): {e}"),
                ),
                "denied",
            );
        }
    };
    uses.extend(
        report
            .grant_uses
            .into_iter()
            .filter(|u| u.namespace == ing.namespace && u.ingress == ing.name),
    );
    let findings = report.findings;
    let mine = |f: &&Finding| f.namespace == ing.namespace && f.ingress == ing.name;
    let mut errors: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .filter(mine)
        .collect();
    let foreign: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error && !mine(f))
        .collect();
    if !foreign.is_empty() {
        // What the cluster holds without this change.
        let mut before = others;
        if let Some(old) = req
            .old_object
            .as_ref()
            .and_then(|o| object_value(req, o).ok())
            .and_then(|v| load_object("(admission)", &v).ok())
        {
            before.push(old);
        }
        let known: HashSet<FindingId> = lint_with(policy, before, now)
            .map(|r| r.findings.iter().map(id).collect())
            .unwrap_or_default();
        errors.extend(foreign.into_iter().filter(|f| !known.contains(&id(f))));
    }
    let warnings: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .filter(mine)
        .collect();
    let mut r = resp;
    let mut shown: Vec<String> = refused.iter().map(|(_, w)| w.clone()).collect();
    if !warnings.is_empty() {
        shown.extend(message::warnings(&warnings));
    }
    if !shown.is_empty() {
        shown.truncate(message::MAX_WARNINGS);
        r.warnings = Some(shown);
    }
    if errors.is_empty() {
        return Verdict {
            response: r,
            outcome: "allowed",
            exempt: None,
            uses,
            rules: Vec::new(),
        };
    }
    let generate = message::generate_command(&policy.file, &ing.namespace, &ing.name, stage(req));
    let staged: Vec<Finding> = errors.iter().map(|f| for_stage(f, stage(req))).collect();
    let errors: Vec<&Finding> = staged.iter().collect();
    let mut msg = message::deny_message(&errors, &generate);
    if let Some((note, _)) = refused {
        msg = format!("{note} {msg}");
    }
    let mut rules: Vec<&'static str> = errors.iter().map(|f| f.rule).collect();
    rules.sort_unstable();
    rules.dedup();
    Verdict {
        response: deny(r, msg),
        outcome: "denied",
        exempt: None,
        uses,
        rules,
    }
}

/// `req` with `patch` applied to its object.
fn patched_request(req: &Request, patch: &json_patch::Patch) -> Result<Request, String> {
    let obj = req
        .object
        .as_ref()
        .ok_or("the review has no request.object")?;
    let mut v = serde_json::to_value(obj).map_err(|e| e.to_string())?;
    json_patch::patch(&mut v, patch).map_err(|e| format!("the patch does not apply: {e}"))?;
    let mut after = req.clone();
    after.object = Some(serde_json::from_value(v).map_err(|e| e.to_string())?);
    Ok(after)
}

/// `/mutate`: the annotations `stepup generate` writes, as a JSON Patch,
/// for an Ingress whose paths all need one level (or that declares
/// `stepup.dev/level`). Never denies: what it leaves alone, `/validate`
/// judges and explains. No patch for an Ingress it cannot protect whole
/// (paths of different levels), one `generate` leaves alone (exempt,
/// canary, ACME solver, another auth service), a public one, one that
/// already carries exactly these annotations, or one that `/validate` would
/// still deny once patched (a host without TLS, …): whatever mutate
/// returns passes validate.
pub fn mutate(policy: &Policy, store: &IngressStore, req: &Request) -> Mutated {
    let resp = AdmissionResponse::from(req);
    let done = |response, outcome| Mutated {
        response,
        outcome,
        level: None,
    };
    let warn = |mut r: AdmissionResponse, w: String| {
        r.warnings = Some(vec![message::clip(&w, message::MAX_WARNING_CHARS)]);
        r
    };
    if !is_ingress(req) {
        let w = not_ingress_warning(req);
        return done(warn(resp, w), "skipped");
    }
    if !judges_content(req) {
        return done(resp, "skipped");
    }
    let (value, ing) = match model(req) {
        Ok(x) => x,
        // /validate denies it with the reason.
        Err(_) => return done(resp, "unchanged"),
    };
    if ing.annotations.contains_key(EXEMPT_ANNOTATION) {
        return done(resp, "unchanged");
    }
    let key = ing.key();
    let floor = match ing.annotations.get(LEVEL_ANNOTATION).map(|l| l.trim()) {
        None | Some("") => None,
        Some(l) => match policy.need_of(l) {
            Some(n) => Some(n),
            None => {
                let w = format!(
                    "stepup did not patch {key}: {LEVEL_ANNOTATION} names unknown level {l:?} (known: {})",
                    policy.known_levels().join(", ")
                );
                return done(warn(resp, w), "unchanged");
            }
        },
    };
    let mut inputs: Vec<(String, String)> = Vec::new();
    for k in store.related(&ing) {
        inputs.push((format!("(cluster) {}", k.ingress.key()), k.raw.to_string()));
    }
    match serde_json::to_string(&value) {
        Ok(text) => inputs.push((format!("(admission) {key}"), text)),
        Err(_) => return done(resp, "unchanged"),
    }
    let plan = match plan_ingress(policy, &inputs, &key, floor.as_ref()) {
        Ok(Some(p)) => p,
        Ok(None) => return done(resp, "unchanged"),
        Err(e) => {
            let w = format!("stepup did not patch {key}: {e}");
            return done(warn(resp, w), "unchanged");
        }
    };
    if let Some(why) = &plan.skip {
        let w = format!("stepup did not patch {key}: {why}");
        return done(warn(resp, w), "unchanged");
    }
    if plan.mixed.is_some() {
        let mut r = resp;
        r.warnings = Some(vec![
            message::clip(
                &format!("stepup did not patch {key}: its paths need different levels"),
                message::MAX_WARNING_CHARS,
            ),
            message::clip(
                "one auth-url covers a whole Ingress: split it per level (`stepup generate --split`)",
                message::MAX_WARNING_CHARS,
            ),
        ]);
        return done(r, "unchanged");
    }
    let Some(level) = plan.level.clone() else {
        return done(resp, "unchanged");
    };
    let current = req
        .object
        .as_ref()
        .and_then(|o| o.metadata.annotations.as_ref());
    // generate writes a sign-in Ingress per host beside auth-signin; a
    // patch can only change this object, and auth-signin without a route
    // for the sign-in path sends browsers into a redirect loop (SU016).
    // So auth-signin is only added once the host routes it.
    let mut wanted = plan.annotations.clone();
    let signin_key = format!("{}auth-signin", crate::ingress::NGINX);
    let mut notes = Vec::new();
    if !plan.signin_missing.is_empty() {
        match current.and_then(|c| c.get(&signin_key)) {
            Some(old) => {
                wanted.insert(signin_key.clone(), Value::from(old.as_str()));
            }
            None => {
                wanted.shift_remove(&signin_key);
            }
        }
        notes.push(format!(
            "no sign-in route on {} yet: apply the sign-in Ingress `stepup generate` writes",
            plan.signin_missing.join(", ")
        ));
    }
    let patch = annotations_patch(current, &wanted);
    if patch.0.is_empty() {
        return Mutated {
            response: resp,
            outcome: "unchanged",
            level: Some(level),
        };
    }
    // What mutate writes must pass validate: judge the patched object as
    // /validate will, and leave the object alone (validate then explains)
    // when something a patch of annotations cannot fix remains (TLS for
    // the host, another Ingress's problem, …).
    match patched_request(req, &patch) {
        Ok(after) => {
            let v = validate(policy, store, &after);
            if !v.response.allowed {
                let w = format!(
                    "stepup did not patch {key}: even with its annotations /validate would deny it ({}); fix that first",
                    v.rules.join(", ")
                );
                return done(warn(resp, w), "unchanged");
            }
        }
        Err(e) => {
            return done(
                warn(resp, format!("stepup did not patch {key}: {e}")),
                "unchanged",
            );
        }
    }
    let rule = plan
        .rule
        .as_deref()
        .map_or_else(String::new, |r| format!(" (rule {r})"));
    let note = format!("stepup added auth at level {level}{rule} to {key}");
    match resp.clone().with_patch(patch) {
        Ok(mut r) => {
            r.warnings = Some(
                std::iter::once(note)
                    .chain(notes)
                    .map(|w| message::clip(&w, message::MAX_WARNING_CHARS))
                    .collect(),
            );
            Mutated {
                response: r,
                outcome: "patched",
                level: Some(level),
            }
        }
        Err(e) => done(
            warn(resp, format!("stepup did not patch {key}: {e}")),
            "unchanged",
        ),
    }
}
