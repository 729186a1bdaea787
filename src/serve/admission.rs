//! The admission webhook: `POST /validate` and `POST /mutate` take an
//! `admission.k8s.io/v1` AdmissionReview of a `networking.k8s.io/v1`
//! Ingress (docs/admission.md says what is answered and why).
//!
//! Shape (kube-rs's admission example): the body is parsed into kube-core's
//! typed `AdmissionReview<DynamicObject>`, the pure decision
//! ([`review::validate`], [`review::mutate`]) turns the request into an
//! `AdmissionResponse` that echoes the request's `uid`, and the answer is
//! that response wrapped in a review, always HTTP 200 — the decision
//! travels in the body. Only a body that is not a review at all gets an
//! HTTP error with the reason: 415 (not JSON), 413 (larger than the API
//! server's own 3 MiB request limit), 400 (truncated or malformed JSON, not
//! an `admission.k8s.io/v1` AdmissionReview, no `request`, no `uid`, no
//! `object` for a CREATE or UPDATE). The API server treats those as a
//! failed call; with `failurePolicy: Fail` the request is then refused.
//!
//! I/O stays here: reading the body, logs, the exemption counter.
//! `dryRun` reviews are judged exactly like real ones but never counted
//! (a `kubectl apply --dry-run=server` followed by the real apply is one
//! exemption, not two); they are logged with `dry_run=true`.

pub mod exempt;
pub mod message;
pub mod patch;
pub mod review;
pub mod store;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use kube_core::DynamicObject;
use kube_core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};

use super::AppState;

/// Largest review body read: the API server's own request size limit.
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// A body that is not a review: the HTTP status and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// 400, 413 or 415.
    pub status: StatusCode,
    /// Why, for the body and the log.
    pub reason: String,
}

impl Rejection {
    fn bad(reason: impl Into<String>) -> Rejection {
        Rejection {
            status: StatusCode::BAD_REQUEST,
            reason: reason.into(),
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        (
            self.status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{}\n", self.reason),
        )
            .into_response()
    }
}

/// Whether a `Content-Type` is JSON (`application/json`, with parameters;
/// absent is taken as JSON, as the API server always sends one).
fn is_json(content_type: Option<&str>) -> bool {
    content_type.is_none_or(|c| {
        c.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    })
}

/// Parse a review body. Pure: the edge reads the body, this decides
/// whether it is a review stepup can answer.
pub fn parse(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<AdmissionRequest<DynamicObject>, Rejection> {
    if !is_json(content_type) {
        return Err(Rejection {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            reason: format!(
                "content type {:?} is not application/json: an AdmissionReview is JSON",
                content_type.unwrap_or("")
            ),
        });
    }
    if body.len() > MAX_BODY {
        return Err(Rejection {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            reason: format!("body larger than {} MiB", MAX_BODY >> 20),
        });
    }
    let review: AdmissionReview<DynamicObject> = serde_json::from_slice(body)
        .map_err(|e| Rejection::bad(format!("not an AdmissionReview: {e}")))?;
    if review.types.api_version != "admission.k8s.io/v1" || review.types.kind != "AdmissionReview" {
        return Err(Rejection::bad(format!(
            "expected apiVersion admission.k8s.io/v1, kind AdmissionReview; got {:?} {:?}",
            review.types.api_version, review.types.kind
        )));
    }
    let req: AdmissionRequest<DynamicObject> = review
        .try_into()
        .map_err(|_| Rejection::bad("the AdmissionReview has no request"))?;
    if req.uid.trim().is_empty() {
        return Err(Rejection::bad("request.uid is empty"));
    }
    if review::is_ingress(&req) && review::judges_content(&req) && req.object.is_none() {
        return Err(Rejection::bad(format!(
            "request.object is missing for {:?} of an Ingress",
            req.operation
        )));
    }
    Ok(req)
}

/// Bytes of an oversized body read and thrown away before the 413, so a
/// client still sending gets the answer instead of a reset connection.
const DRAIN_MAX: usize = 4 * MAX_BODY;

/// Read and discard the rest of `body`, at most [`DRAIN_MAX`] bytes and 5 s.
async fn drain(mut body: Body) {
    use http_body_util::BodyExt as _;
    let mut left = DRAIN_MAX;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while let Some(Ok(frame)) = body.frame().await {
            let n = frame.data_ref().map_or(0, |d| d.len());
            if n >= left {
                break;
            }
            left -= n;
        }
    })
    .await;
}

/// Read the body (at most [`MAX_BODY`]) and parse it.
async fn read(req: Request) -> Result<AdmissionRequest<DynamicObject>, Rejection> {
    use http_body_util::BodyExt as _;
    let (parts, mut body) = req.into_parts();
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("(not text)").to_string());
    if !is_json(content_type.as_deref()) {
        drain(body).await;
        return parse(content_type.as_deref(), b"");
    }
    let too_large = Rejection {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        reason: format!("body larger than {} MiB", MAX_BODY >> 20),
    };
    let mut bytes: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Rejection::bad(format!("cannot read the body: {e}")))?;
        if let Some(d) = frame.data_ref() {
            if bytes.len() + d.len() > MAX_BODY {
                drain(body).await;
                return Err(too_large);
            }
            bytes.extend_from_slice(d);
        }
    }
    parse(content_type.as_deref(), &bytes)
}

/// The review as sent: kube-core serialises `response.patch` (a Go
/// `[]byte`) as an array of numbers; the API server also accepts that, but
/// what it sends and documents is a base64 string (as in
/// testdata/admission/ingress-create-mutation-patch-response.json), so
/// that is what goes on the wire.
pub fn to_wire(resp: AdmissionResponse) -> Result<serde_json::Value, serde_json::Error> {
    use base64::Engine as _;
    let patch = resp.patch.clone();
    let mut v = serde_json::to_value(resp.into_review())?;
    if let (Some(p), Some(r)) = (patch, v.get_mut("response").and_then(|r| r.as_object_mut())) {
        r.insert(
            "patch".into(),
            serde_json::Value::from(base64::engine::general_purpose::STANDARD.encode(p)),
        );
    }
    Ok(v)
}

fn answer(resp: AdmissionResponse) -> Response {
    match to_wire(resp).and_then(|v| serde_json::to_vec(&v)) {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(e) => {
            // Cannot happen for these types; fail the call (the API server
            // then applies the webhook's failurePolicy).
            tracing::error!(error = %e, "cannot serialise an AdmissionReview");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
        }
    }
}

fn reject(webhook: &'static str, st: &AppState, r: Rejection) -> Response {
    tracing::warn!(webhook, status = r.status.as_u16(), reason = %r.reason, "admission review rejected");
    st.metrics.admission(webhook, "invalid");
    r.into_response()
}

/// Log one use of an exemption annotation: info when a grant covers it,
/// warn when it does not.
fn log_use(req: &review::Request, u: &crate::lint::GrantUse) {
    let rule = u.rule.unwrap_or("*");
    let (uid, ns, name) = (&req.uid, &u.namespace, &u.ingress);
    let outcome = u.outcome.as_str();
    if u.outcome == crate::policy::exemptions::Outcome::Granted {
        tracing::info!(uid = %uid, namespace = %ns, name = %name, rule, outcome, dry_run = req.dry_run,
            grant = %u.detail, "admission: exemption granted by the policy");
    } else {
        tracing::warn!(uid = %uid, namespace = %ns, name = %name, rule, outcome, dry_run = req.dry_run,
            reason = %u.detail, "admission: exemption annotation not honoured");
    }
}

/// `POST /validate`.
pub async fn validate_handler(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let req = match read(req).await {
        Ok(r) => r,
        Err(r) => return reject("validate", &st, r),
    };
    let v = review::validate(&st.policy, &st.ingresses, &req);
    let ns = req.namespace.as_deref().unwrap_or("");
    st.metrics.admission("validate", v.outcome);
    for u in &v.uses {
        log_use(&req, u);
        if !req.dry_run {
            let annotation = if u.rule.is_some() { "ignore" } else { "exempt" };
            st.metrics
                .exemption(&req.operation, annotation, u.outcome.as_str());
        }
    }
    if let Some(reason) = &v.exempt {
        tracing::info!(uid = %req.uid, namespace = ns, name = %req.name, operation = ?req.operation,
            dry_run = req.dry_run, reason = %reason, "admission: exempt (stepup.dev/exempt)");
    } else if v.outcome == "denied" {
        tracing::info!(uid = %req.uid, namespace = ns, name = %req.name, operation = ?req.operation,
            dry_run = req.dry_run, rules = %v.rules.join(","), message = %v.response.result.message,
            "admission: denied");
    } else {
        tracing::debug!(uid = %req.uid, namespace = ns, name = %req.name, operation = ?req.operation,
            dry_run = req.dry_run, outcome = v.outcome, "admission: validated");
    }
    answer(v.response)
}

/// `POST /mutate`.
pub async fn mutate_handler(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let req = match read(req).await {
        Ok(r) => r,
        Err(r) => return reject("mutate", &st, r),
    };
    let m = review::mutate(&st.policy, &st.ingresses, &req);
    st.metrics.admission("mutate", m.outcome);
    let ns = req.namespace.as_deref().unwrap_or("");
    if m.outcome == "patched" {
        tracing::info!(uid = %req.uid, namespace = ns, name = %req.name, operation = ?req.operation,
            dry_run = req.dry_run, level = m.level.as_deref().unwrap_or(""), "admission: patched");
    } else {
        tracing::debug!(uid = %req.uid, namespace = ns, name = %req.name, operation = ?req.operation,
            dry_run = req.dry_run, outcome = m.outcome, "admission: not patched");
    }
    answer(m.response)
}
