//! The hostile-input suite: every class of bad input SPEC §6 names, end to
//! end, in ONE table ([`TABLE`], written with the [`table!`] macro), one
//! `#[test]` per row so each row passes or fails on its own.
//!
//! A row is: the §6 [`Class`], the input and the path it takes ([`Via`]),
//! the expected status (HTTP status, or exit code for the CLI), the
//! expected header ([`Hdr`]) and the expected log line ([`Log`]). The
//! paths, all with real parts:
//! - tokens, paths, forwarded headers: a raw HTTP client → Debian's nginx
//!   configured as ingress-nginx renders `auth-url`
//!   (tests/support/nginx.rs) → `auth_request` → `stepup serve`'s `/auth`
//!   over TLS → the echo backend, if allowed;
//! - `rd`: a TLS client → nginx over TLS → the sign-in Ingress → `stepup
//!   serve`'s `<signinPath>/signin` and `/signout`;
//! - AdmissionReviews: the API server's side, TLS straight to `/validate`
//!   and `/mutate` (no nginx there);
//! - files: `stepup serve -p FILE` refusing to start, `stepup lint`.
//!
//! Tokens come from the real oidc-provider IdP (tests/idp): its logins, its
//! clock control for expired tokens, and its test-only `/__admin/sign`
//! control for claims a real IdP would never issue, signed with the key its
//! JWKS publishes, so stepup verifies them against the real JWKS.
//!
//! Besides its own expectations, every row checks "never an allow" (the
//! backend behind nginx got nothing, no redirect or link leaves the site,
//! no review is answered, the server did not start, the command did not
//! succeed) and "never a panic" (nothing in serve's log or the command's
//! stderr says `panicked`, and serve still answers `/healthz`). `Control`
//! rows send good input down the same paths, so the checks are seen to
//! pass the other way too.
//!
//! The IdP, `stepup serve` and the two nginx are started once per test
//! binary ([`world`]) and shared; the IdP exits when its stdin closes, and
//! a [`proc::Reaper`] ends serve and nginx when the test binary exits.
//!
//! `cargo test --test hostile`; docs/hostile-input.md lists the table.

#[path = "support/idp.rs"]
mod idp;
#[path = "support/nginx.rs"]
mod nginx;
#[path = "support/proc.rs"]
mod proc;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use idp::{Idp, Login};
use nginx::{Host, Loc, Opts, Resp};
use serde_json::{Value, json};

// ------------------------------------------------------------------ table

/// What SPEC §6 lists (in its order), plus a few neighbours and `Control`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Unparsable,
    WrongKind,
    DuplicateKeys,
    HugeFile,
    UnknownLevel,
    ExtendsCycle,
    InvalidGlob,
    AlgNone,
    Hs256PublicKey,
    UnknownKid,
    BadBase64,
    WrongIss,
    WrongAud,
    Expired,
    NbfFuture,
    AuthTimeFuture,
    AcrWrongType,
    OversizedToken,
    RdElsewhere,
    PathDotDot,
    PathPct2e,
    PathPct2f,
    PathDoubleSlash,
    PathSemicolon,
    PathMixedCase,
    ForgedForwarded,
    ReviewTruncated,
    ReviewOtherKind,
    ReviewNoUid,
    /// Not in §6's list: a signature that does not match the claims.
    ForgedSignature,
    /// Not in §6's list: a percent-encoded letter (`%61` for `a`).
    PathPctLetter,
    /// Issue 15: a Host nginx cuts at the first `:` or drops a dot of.
    HostParsing,
    /// Issue 15: an absolute-form request line names another host than
    /// the Host header.
    AbsoluteForm,
    /// Issue 15: `..;` / `.;` segments a servlet container resolves.
    ServletPathParams,
    /// Issue 15: an auth-url parameter given twice or empty.
    AmbiguousAuthUrl,
    /// Issue 15: the auth-url's `rule=` is a floor.
    RuleFloor,
    /// Issue 15: a JWS header with `crit` (RFC 7515 §4.1.11).
    JwsCrit,
    /// Issue 15: `iat` later than now (beyond the leeway).
    IatFuture,
    /// Issue 15: a token with no user (client credentials) at a level
    /// that asks for a person's login (`human: true`).
    NoUser,
    /// Good input down the same path: proves the checks can tell.
    Control,
}

impl Class {
    /// Every class SPEC §6 names.
    const SPEC: [Class; 29] = [
        Class::Unparsable,
        Class::WrongKind,
        Class::DuplicateKeys,
        Class::HugeFile,
        Class::UnknownLevel,
        Class::ExtendsCycle,
        Class::InvalidGlob,
        Class::AlgNone,
        Class::Hs256PublicKey,
        Class::UnknownKid,
        Class::BadBase64,
        Class::WrongIss,
        Class::WrongAud,
        Class::Expired,
        Class::NbfFuture,
        Class::AuthTimeFuture,
        Class::AcrWrongType,
        Class::OversizedToken,
        Class::RdElsewhere,
        Class::PathDotDot,
        Class::PathPct2e,
        Class::PathPct2f,
        Class::PathDoubleSlash,
        Class::PathSemicolon,
        Class::PathMixedCase,
        Class::ForgedForwarded,
        Class::ReviewTruncated,
        Class::ReviewOtherKind,
        Class::ReviewNoUid,
    ];
}

/// Which nginx server (host) a request goes to.
#[derive(Clone, Copy, Debug)]
enum Site {
    /// `*.shop.test`: `/` public, `/account` and `/api` at `authenticated`,
    /// `/people` at `people` (`human: true`), `/admin` at `admin` — one
    /// location per level, as `generate` splits.
    Shop,
    /// `*.legacy.test`: one location `/` at `authenticated` for
    /// everything; only the policy's path rules protect `/admin` there.
    Legacy,
    /// `*.ops.test`: one location `/` at `authenticated`; the policy's
    /// host rule `ops-console` asks `admin` of every path there.
    Ops,
}

/// The bearer token a request carries.
#[derive(Clone, Copy, Debug)]
enum Tok {
    None,
    /// alice's password login (acr `urn:stepup:pwd`; she is a shop admin).
    Pwd,
    /// The ID token of that login (its `aud` is the client, not `shop`).
    IdToken,
    /// `alg: none`, signature stripped.
    AlgNone,
    /// HS256 with the IdP's RSA public key (its JWK) as the HMAC secret.
    Hs256PublicKey,
    /// ES256 by an attacker's key under a `kid` the IdP never published.
    UnknownKid,
    /// Segment 0 (header) or 1 (payload) with a `*` (not base64url).
    BadBase64(usize),
    /// The password token with `sub` changed after signing.
    PayloadSwapped,
    /// The password token with a 20,000-byte payload.
    Oversized,
    /// Issued by the IdP with its clock two hours back (`/__admin/clock`).
    Expired,
    /// A login whose `auth_time` is two hours ahead (the form's offset).
    FutureLogin,
    /// The password token's claims with these members replaced (JSON;
    /// `exp`/`nbf`/`iat`/`auth_time` may be relative, `"+2h"`), signed by
    /// the IdP's current key (`/__admin/sign`).
    Signed(&'static str),
    /// The password token's claims unchanged, signed by the IdP's current
    /// key with these JOSE header members (JSON) merged over its own.
    SignedHeader(&'static str),
    /// The IdP's client-credentials grant for the `robot` client: a real
    /// access token with no user (`sub` = `client_id` = robot, no
    /// `auth_time`, no `acr`).
    ClientCredentials,
}

/// Which sign-in endpoint.
#[derive(Clone, Copy, Debug)]
enum Step {
    Signin,
    Signout,
}

/// An AdmissionReview body, made from the captured
/// `testdata/admission/ingress-create-validating.json`.
#[derive(Clone, Copy, Debug)]
enum Review {
    /// The capture as recorded.
    Capture,
    /// Its first half.
    Truncated,
    /// The capture with another `apiVersion` and `kind`.
    Kind(&'static str, &'static str),
    /// Without `request.uid`.
    NoUid,
    /// With `request.uid: ""`.
    EmptyUid,
    /// The capture padded past the API server's 3 MiB request limit.
    Huge,
}

/// A file given to the CLI.
#[derive(Clone, Copy, Debug)]
enum Doc {
    /// [`POLICY`] with the first `.0` replaced by `.1`.
    Edit(&'static str, &'static str),
    /// This text.
    Text(&'static str),
    /// A sparse file one byte over `stepup::source::MAX_FILE_BYTES`.
    Huge,
}

/// The path a row's input takes.
#[derive(Clone, Copy, Debug)]
enum Via {
    /// Raw HTTP to nginx (the target byte for byte), whose `auth_request`
    /// asks serve's `/auth`. `{host}` in header values is the row's host.
    Nginx {
        site: Site,
        method: &'static str,
        /// `{host}` is the row's host (for an absolute-form request line).
        target: &'static str,
        /// The Host header; `{host}` is the row's host, which nginx routes
        /// on unless the request line names another.
        host_header: &'static str,
        token: Tok,
        headers: &'static [(&'static str, &'static str)],
    },
    /// Straight to serve's `/auth?{query}` (TLS), as a peer that is not
    /// nginx; `X-Request-ID` is the row's name.
    Direct {
        query: &'static str,
        token: Tok,
        headers: &'static [(&'static str, &'static str)],
    },
    /// HTTPS to nginx's sign-in Ingress: `/signin?level=authenticated&rd=`
    /// or `/signout?rd=` with `rd` form-encoded.
    Signin { step: Step, rd: &'static str },
    /// `POST /validate` or `/mutate` (TLS), as the API server.
    Review { webhook: &'static str, body: Review },
    /// `stepup serve -p FILE`.
    Serve(Doc),
    /// `stepup lint -p POLICY FILE`.
    Lint(Doc),
}

/// The header a row expects (`{host}` and `{issuer}` are filled in).
#[derive(Clone, Copy, Debug)]
enum Hdr {
    /// `WWW-Authenticate: Bearer realm="stepup", error="invalid_token",
    /// error_description="<reason>…`.
    InvalidToken(&'static str),
    /// `WWW-Authenticate: Bearer realm="stepup",
    /// error="insufficient_user_authentication", error_description="…",
    /// acr_values="<acr>", max_age=<max_age>` (RFC 9470).
    StepUp { acr: &'static str, max_age: u64 },
    /// The header is exactly this.
    Is(&'static str, &'static str),
    /// The header contains each of these.
    Has(&'static str, &'static [&'static str]),
    /// The header is absent.
    Absent(&'static str),
    /// The CLI has no headers.
    None,
}

/// The log a row expects: one line of serve's JSON log (stderr) holding
/// every named field, or the command's stderr.
#[derive(Clone, Copy, Debug)]
enum Log {
    /// `auth denied`: outcome, `target` = the row's host + this normalised
    /// path, rule, and the reason (its start).
    Auth {
        outcome: &'static str,
        path: &'static str,
        rule: &'static str,
        reason: &'static str,
    },
    /// An allow (logged at debug level, which the suite turns on).
    Allow { path: &'static str },
    /// The sign-in endpoint's line for the row's host.
    Signin {
        step: &'static str,
        outcome: &'static str,
        reason: &'static str,
    },
    /// `admission review rejected` by this webhook, with the reason.
    Review {
        webhook: &'static str,
        reason: &'static str,
    },
    /// Nothing in serve's log names the row's host: nginx stopped the
    /// request before it got there.
    Nothing,
    /// A line holding each of these (`{host}` filled in).
    Line(&'static [&'static str]),
    /// The command's stderr contains each of these.
    Stderr(&'static [&'static str]),
}

/// One row of the table.
#[derive(Clone, Copy, Debug)]
struct Row {
    class: Class,
    via: Via,
    /// HTTP status, or the exit code of a command.
    status: u16,
    header: Hdr,
    log: Log,
}

/// `GET /account` on the shop (a location at `authenticated`) with `token`.
const fn account(token: Tok) -> Via {
    Via::Nginx {
        site: Site::Shop,
        method: "GET",
        target: "/account",
        host_header: "{host}",
        token,
        headers: &[],
    }
}

/// A bearer token refused: 401 `invalid_token` naming `reason`, logged.
const fn refused(class: Class, token: Tok, reason: &'static str) -> Row {
    Row {
        class,
        via: account(token),
        status: 401,
        header: Hdr::InvalidToken(reason),
        log: Log::Auth {
            outcome: "unauthenticated",
            path: "/account",
            rule: "none",
            reason,
        },
    }
}

/// `GET target` on the legacy host with `token` and `headers`.
const fn legacy(
    target: &'static str,
    token: Tok,
    headers: &'static [(&'static str, &'static str)],
) -> Via {
    Via::Nginx {
        site: Site::Legacy,
        method: "GET",
        target,
        host_header: "{host}",
        token,
        headers,
    }
}

/// alice's password login: `GET target` on an ops host (one location `/`
/// at `authenticated`; the policy's host rule asks `admin` of all of it),
/// with this Host header.
const fn ops(target: &'static str, host_header: &'static str) -> Via {
    Via::Nginx {
        site: Site::Ops,
        method: "GET",
        target,
        host_header,
        token: Tok::Pwd,
        headers: &[],
    }
}

/// [`ops`], answered as the host rule says: the step-up to `admin`.
const fn ops_step_up(class: Class, via: Via, path: &'static str) -> Row {
    Row {
        class,
        via,
        status: 401,
        header: Hdr::StepUp {
            acr: "urn:stepup:mfa",
            max_age: 300,
        },
        log: Log::Auth {
            outcome: "step_up",
            path,
            rule: "ops-console",
            reason: "acr urn:stepup:pwd is not one of the required values",
        },
    }
}

/// alice's password login, sent `via` the legacy host: the policy's
/// admin rule applies to the normalised `path`, so the answer is the RFC
/// 9470 step-up to the admin level, not the location's 200.
const fn step_up_to_admin(class: Class, via: Via, path: &'static str) -> Row {
    Row {
        class,
        via,
        status: 401,
        header: Hdr::StepUp {
            acr: "urn:stepup:mfa",
            max_age: 300,
        },
        log: Log::Auth {
            outcome: "step_up",
            path,
            rule: "admin-console",
            reason: "acr urn:stepup:pwd is not one of the required values",
        },
    }
}

/// [`step_up_to_admin`] for a plain `GET target`.
const fn admin_by_path(class: Class, target: &'static str, path: &'static str) -> Row {
    step_up_to_admin(class, legacy(target, Tok::Pwd, &[]), path)
}

/// A sign-in `rd` elsewhere: `/signin` refuses it (400 page, no
/// `Location`), saying why.
const fn rd_signin(rd: &'static str, reason: &'static str) -> Row {
    Row {
        class: Class::RdElsewhere,
        via: Via::Signin {
            step: Step::Signin,
            rd,
        },
        status: 400,
        header: Hdr::Absent("location"),
        log: Log::Signin {
            step: "signin",
            outcome: "bad_request",
            reason,
        },
    }
}

/// A sign-out `rd` elsewhere: signed out (200 page), no `Location`, and
/// the log says why `rd` was not followed.
const fn rd_signout(rd: &'static str, reason: &'static str) -> Row {
    Row {
        class: Class::RdElsewhere,
        via: Via::Signin {
            step: Step::Signout,
            rd,
        },
        status: 200,
        header: Hdr::Absent("location"),
        log: Log::Signin {
            step: "signout",
            outcome: "ok",
            reason,
        },
    }
}

/// A body that is not a review: 400 with the reason, logged.
const fn bad_review(
    class: Class,
    webhook: &'static str,
    body: Review,
    reason: &'static str,
) -> Row {
    Row {
        class,
        via: Via::Review { webhook, body },
        status: 400,
        header: Hdr::Has("content-type", &["text/plain"]),
        log: Log::Review { webhook, reason },
    }
}

/// `stepup serve -p` a broken policy: exit 2, `file:line: reason`.
const fn bad_policy(class: Class, doc: Doc, stderr: &'static [&'static str]) -> Row {
    Row {
        class,
        via: Via::Serve(doc),
        status: 2,
        header: Hdr::None,
        log: Log::Stderr(stderr),
    }
}

/// `stepup lint` of a broken manifest: exit 2, `file:line: reason`.
const fn bad_manifest(class: Class, text: &'static str, stderr: &'static [&'static str]) -> Row {
    Row {
        class,
        via: Via::Lint(Doc::Text(text)),
        status: 2,
        header: Hdr::None,
        log: Log::Stderr(stderr),
    }
}

/// Writes [`TABLE`] (row name → [`Row`]) and one `#[test]` per row, named
/// after it, that runs it with [`run`].
macro_rules! table {
    ($($(#[$doc:meta])* $name:ident: $row:expr;)+) => {
        /// Every row, by name.
        static TABLE: &[(&str, Row)] = &[$((stringify!($name), $row)),+];
        $(
            $(#[$doc])*
            #[test]
            fn $name() {
                run(stringify!($name));
            }
        )+
    };
}

table! {
    // --- YAML/JSON files: the policy (`serve` will not start) ---------------
    /// A flow mapping never closed.
    policy_yaml_unparsable: bad_policy(Class::Unparsable,
        Doc::Edit("metadata: {name: hostile}", "metadata: {name: hostile"),
        &["policy.yaml:4:5: invalid YAML/JSON: while parsing a flow mapping"]);
    /// JSON cut off after a key.
    policy_json_unparsable: bad_policy(Class::Unparsable,
        Doc::Text("{\"apiVersion\": \"stepup.dev/v1alpha1\",\n \"kind\": "),
        &["policy.yaml:3:1: invalid YAML/JSON: while parsing a node"]);
    /// A file of another kind.
    policy_wrong_kind: bad_policy(Class::WrongKind,
        Doc::Edit("kind: StepUpPolicy", "kind: Ingress"),
        &[r#"policy.yaml:2: kind: expected "StepUpPolicy", found "Ingress""#]);
    /// A node of the wrong kind: a string where a list belongs.
    policy_wrong_node_kind: bad_policy(Class::WrongKind,
        Doc::Edit("paths: [/admin, /admin/**]", "paths: /admin"),
        &["policy.yaml:18: spec.rules[1].paths: invalid type: string \"/admin\", expected a sequence"]);
    /// `default` twice in `spec`.
    policy_duplicate_key: bad_policy(Class::DuplicateKeys,
        Doc::Edit("spec:\n", "spec:\n  default: public\n"),
        &["policy.yaml:21:3: invalid YAML/JSON: duplicate key `default`"]);
    /// Refused before it is read.
    policy_huge: bad_policy(Class::HugeFile, Doc::Huge,
        &["policy.yaml: 268435457 bytes is larger than the 256 MiB limit"]);
    /// A rule names a level the policy does not define.
    policy_unknown_level: bad_policy(Class::UnknownLevel,
        Doc::Edit("level: admin}", "level: admn}"),
        &[r#"policy.yaml:17: spec.rules[0].level: unknown level "admn" (known: authenticated, mfa, admin, people, public, deny)"#]);
    /// mfa extends admin, which extends mfa.
    policy_extends_cycle: bad_policy(Class::ExtendsCycle,
        Doc::Edit("{name: mfa,", "{name: mfa, extends: admin,"),
        &["policy.yaml:13: spec.levels[1].extends: cycle in extends: mfa -> admin -> mfa"]);
    /// `**` glued to a name.
    policy_invalid_glob: bad_policy(Class::InvalidGlob,
        Doc::Edit("/admin/**]", "/admin**]"),
        &[r#"policy.yaml:18: spec.rules[1].paths[1]: path glob "/admin**": `**` must be a whole segment"#]);
    /// The same policy unedited starts (and is stopped): the edits above
    /// are what serve refuses.
    policy_control: Row { class: Class::Control, via: Via::Serve(Doc::Edit("", "")),
        status: 0, header: Hdr::None, log: Log::Stderr(&["\"message\":\"listening\""]) };

    // --- YAML/JSON files: manifests (`lint` exits 2) ------------------------
    manifest_yaml_unparsable: bad_manifest(Class::Unparsable,
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: x\n",
        &["ingress.yaml:4:1: invalid YAML/JSON: while parsing a flow mapping"]);
    manifest_json_unparsable: bad_manifest(Class::Unparsable,
        "{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": \"Ingress\",\n \"metadata\": ",
        &["ingress.yaml:3:1: invalid YAML/JSON: while parsing a node"]);
    /// Nesting deeper than the parser's recursion limit.
    manifest_deep_nesting: bad_manifest(Class::Unparsable, DEEP,
        &["ingress.yaml:4:262: invalid YAML/JSON: recursion limit exceeded"]);
    /// An Ingress of an API version Kubernetes removed: lint converts it
    /// as the API server did and says so (SU026, a warning: exit 0);
    /// generate and admission refuse it (tests/generate.rs, load_object).
    manifest_removed_api_version: Row { class: Class::WrongKind,
        via: Via::Lint(Doc::Text("apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata: {name: old}\n")),
        status: 0, header: Hdr::None,
        log: Log::Stderr(&["ingress.yaml:1: warning[SU026] Ingress old uses apiVersion extensions/v1beta1, removed in Kubernetes 1.22"]) };
    manifest_duplicate_key: bad_manifest(Class::DuplicateKeys,
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: x, name: y}\n",
        &["ingress.yaml:3:21: invalid YAML/JSON: duplicate key `name`"]);
    manifest_huge: Row { class: Class::HugeFile, via: Via::Lint(Doc::Huge), status: 2,
        header: Hdr::None, log: Log::Stderr(&["ingress.yaml: 268435457 bytes is larger than the 256 MiB limit"]) };
    /// Nine aliases of nine aliases of ... (a "billion laughs").
    manifest_alias_bomb: bad_manifest(Class::HugeFile, ALIAS_BOMB,
        &["ingress.yaml:9:8: invalid YAML/JSON: aliases expand to more than 100000 nodes"]);
    /// A good manifest lints clean: exit 0.
    manifest_control: Row { class: Class::Control, via: Via::Lint(Doc::Text(GOOD_INGRESS)),
        status: 0, header: Hdr::None, log: Log::Stderr(&[]) };

    // --- JWTs through nginx → /auth -----------------------------------------
    /// Refused before any key is looked up: `none` is no algorithm stepup
    /// (or its JOSE crate) knows.
    jwt_alg_none: refused(Class::AlgNone, Tok::AlgNone,
        "malformed token: JSON error: unknown variant `none`");
    jwt_hs256_with_the_rsa_public_key: refused(Class::Hs256PublicKey, Tok::Hs256PublicKey,
        "algorithm HS256 is not accepted (asymmetric only)");
    jwt_unknown_kid: refused(Class::UnknownKid, Tok::UnknownKid, "unknown signing key kid=attacker");
    /// A `*` in the header segment: refused before any key is looked up.
    jwt_bad_base64_header: refused(Class::BadBase64, Tok::BadBase64(0),
        "malformed token: Base64 error: Invalid symbol 42");
    /// A `*` in the payload segment: the signed bytes changed.
    jwt_bad_base64_payload: refused(Class::BadBase64, Tok::BadBase64(1), "signature does not verify");
    jwt_wrong_iss: refused(Class::WrongIss, Tok::Signed(r#"{"iss": "https://evil.example"}"#),
        "wrong issuer (iss)");
    jwt_wrong_aud: refused(Class::WrongAud, Tok::Signed(r#"{"aud": "billing"}"#),
        "wrong audience (aud)");
    /// An ID token is for the client (`aud` stepup), not for the API.
    jwt_id_token_as_bearer: refused(Class::WrongAud, Tok::IdToken, "wrong audience (aud)");
    jwt_expired: refused(Class::Expired, Tok::Expired, "token expired");
    jwt_nbf_in_the_future: refused(Class::NbfFuture, Tok::Signed(r#"{"nbf": "+2h"}"#),
        "token is not valid yet (nbf)");
    jwt_auth_time_in_the_future: refused(Class::AuthTimeFuture, Tok::FutureLogin,
        "auth_time is in the future");
    jwt_auth_time_in_the_future_signed: refused(Class::AuthTimeFuture,
        Tok::Signed(r#"{"auth_time": "+1d"}"#), "auth_time is in the future");
    /// Issue 15: a token issued a day from now was accepted (only `exp`,
    /// `nbf` and `auth_time` were compared with the clock).
    jwt_iat_in_the_future: refused(Class::IatFuture, Tok::Signed(r#"{"iat": "+1d"}"#),
        "iat is in the future");
    jwt_acr_a_number: refused(Class::AcrWrongType, Tok::Signed(r#"{"acr": 2}"#),
        "acr must be a string");
    jwt_acr_an_array: refused(Class::AcrWrongType, Tok::Signed(r#"{"acr": ["urn:stepup:mfa"]}"#),
        "acr must be a string");
    jwt_payload_swapped: refused(Class::ForgedSignature, Tok::PayloadSwapped,
        "signature does not verify");
    /// nginx refuses a header line over its 8 KiB buffer (as
    /// ingress-nginx's default `large-client-header-buffers` does): stepup
    /// never sees it.
    jwt_oversized_through_nginx: Row { class: Class::OversizedToken, via: account(Tok::Oversized),
        status: 400, header: Hdr::Absent("www-authenticate"), log: Log::Nothing };
    /// A controller with larger header buffers passes it on: stepup refuses
    /// it unparsed.
    jwt_oversized_direct: Row { class: Class::OversizedToken,
        via: Via::Direct { query: "level=authenticated&rule=default", token: Tok::Oversized,
            headers: &[("X-Original-URL", "https://{host}/account"), ("X-Original-Method", "GET")] },
        status: 401, header: Hdr::InvalidToken("token larger than 16384 bytes"),
        log: Log::Auth { outcome: "unauthenticated", path: "/account", rule: "none",
            reason: "token larger than 16384 bytes" } };
    /// Issue 15: `crit` names extensions the recipient must understand
    /// (RFC 7515 §4.1.11); stepup understands none, and the JOSE crate
    /// ignores the member, so these verified.
    jwt_crit_unknown_extension: refused(Class::JwsCrit, Tok::SignedHeader(r#"{"crit": ["exp"], "exp": 1}"#),
        "token header crit names extensions stepup does not understand: exp");
    jwt_crit_malformed: refused(Class::JwsCrit, Tok::SignedHeader(r#"{"crit": "b64"}"#),
        "token header crit is malformed");
    jwt_crit_empty: refused(Class::JwsCrit, Tok::SignedHeader(r#"{"crit": []}"#),
        "token header crit is malformed");
    /// Issue 15: a client acting for itself passed every level as the user
    /// "robot"; a level with `human: true` asks for a person's login.
    nouser_client_credentials_human_level: Row { class: Class::NoUser,
        via: Via::Nginx { site: Site::Shop, method: "GET", target: "/people", host_header: "{host}",
            token: Tok::ClientCredentials, headers: &[] },
        status: 401,
        header: Hdr::Has("www-authenticate", &["error=\"insufficient_user_authentication\"",
            "token shows no interactive login (no auth_time); token's sub is its own client (no user)"]),
        log: Log::Auth { outcome: "step_up", path: "/people", rule: "none",
            reason: "token shows no interactive login (no auth_time); token's sub is its own client (no user)" } };
    /// A level without `human` accepts the client's token, the client id
    /// as the user (what docs/runtime.md says a level accepts).
    nouser_control_client_credentials_authenticated: Row { class: Class::Control,
        via: account(Tok::ClientCredentials), status: 200,
        header: Hdr::Absent("www-authenticate"), log: Log::Allow { path: "/account" } };
    /// alice's login meets the human level.
    nouser_control_login_human_level: Row { class: Class::Control,
        via: Via::Nginx { site: Site::Shop, method: "GET", target: "/people", host_header: "{host}",
            token: Tok::Pwd, headers: &[] },
        status: 200, header: Hdr::Absent("www-authenticate"), log: Log::Allow { path: "/people" } };
    /// Other unknown header members are no reason to refuse.
    jwt_control_header_member: Row { class: Class::Control, via: account(Tok::SignedHeader(r#"{"x-note": 1}"#)),
        status: 200, header: Hdr::Absent("www-authenticate"), log: Log::Allow { path: "/account" } };
    /// alice's real password login reaches the backend.
    jwt_control_login: Row { class: Class::Control, via: account(Tok::Pwd), status: 200,
        header: Hdr::Absent("www-authenticate"), log: Log::Allow { path: "/account" } };
    /// Claims unchanged, signed by `/__admin/sign`: accepted, so the rows
    /// above fail for the claim they change.
    jwt_control_signed: Row { class: Class::Control, via: account(Tok::Signed("{}")), status: 200,
        header: Hdr::Absent("www-authenticate"), log: Log::Allow { path: "/account" } };

    // --- paths through nginx → /auth (legacy host: one location) ------------
    path_dotdot: admin_by_path(Class::PathDotDot, "/public/../admin", "/admin");
    path_dotdot_deeper: admin_by_path(Class::PathDotDot, "/static/../admin/users", "/admin/users");
    path_dot_then_dotdot: admin_by_path(Class::PathDotDot, "/static/./../admin", "/admin");
    /// `..` above the root: nginx answers 400 itself.
    path_dotdot_above_the_root: Row { class: Class::PathDotDot,
        via: legacy("/../admin", Tok::Pwd, &[]), status: 400, header: Hdr::Absent("www-authenticate"), log: Log::Nothing };
    path_pct2e: admin_by_path(Class::PathPct2e, "/static/%2e%2e/admin", "/admin");
    path_pct2f: admin_by_path(Class::PathPct2f, "/static/..%2fadmin/users", "/admin/users");
    path_pct_letter: admin_by_path(Class::PathPctLetter, "/%61dmin/users", "/admin/users");
    path_double_slash: admin_by_path(Class::PathDoubleSlash, "//admin//users", "/admin/users");
    path_semicolon: admin_by_path(Class::PathSemicolon, "/admin;jsessionid=1/users",
        "/admin;jsessionid=1/users");
    path_upper_case: admin_by_path(Class::PathMixedCase, "/ADMIN/users", "/ADMIN/users");
    path_mixed_case: admin_by_path(Class::PathMixedCase, "/Admin", "/Admin");
    /// The plain paths: what the tricks above must all come to.
    path_control_admin: admin_by_path(Class::Control, "/admin", "/admin");
    path_control_admin_users: admin_by_path(Class::Control, "/admin/users", "/admin/users");
    /// Anything else on the legacy host is the location's level: allowed.
    path_control_orders: Row { class: Class::Control,
        via: legacy("/orders", Tok::Pwd, &[]), status: 200, header: Hdr::Absent("www-authenticate"), log: Log::Allow { path: "/orders" } };
    /// A public path of the policy does not lift the location's level.
    path_control_public_rule: Row { class: Class::Control,
        via: legacy("/static/app.js", Tok::None, &[]), status: 401, header: Hdr::Is("www-authenticate", "Bearer realm=\"stepup\""),
        log: Log::Auth { outcome: "unauthenticated", path: "/static/app.js", rule: "public",
            reason: "no credentials" } };

    // --- servlet path parameters (issue 15) ----------------------------------
    /// nginx keeps `..;` as a segment; Tomcat, Jetty and Spring cut the
    /// parameter and resolve the `..`: the backend serves `/admin`.
    servlet_dotdot_param: admin_by_path(Class::ServletPathParams, "/static/..;/admin",
        "/static/..;/admin");
    servlet_dotdot_param_any_segment: admin_by_path(Class::ServletPathParams, "/x/..;/admin/users",
        "/x/..;/admin/users");
    /// nginx resolves `/.;/../` to `/static/admin`; the backend, from the
    /// raw target, to `/admin`.
    servlet_dot_param_then_dotdot: admin_by_path(Class::ServletPathParams, "/static/.;/../admin",
        "/static/admin");
    servlet_encoded_dotdot_param: admin_by_path(Class::ServletPathParams, "/static/%2e%2e;x/admin",
        "/static/..;x/admin");

    // --- hosts as nginx parses them (issue 15) -------------------------------
    /// nginx ends the host at the first `:` whatever follows it.
    host_port_not_digits: ops_step_up(Class::HostParsing, ops("/orders", "{host}:x"), "/orders");
    host_two_colons: ops_step_up(Class::HostParsing, ops("/orders", "{host}:1:2"), "/orders");
    host_trailing_dot_and_port: ops_step_up(Class::HostParsing, ops("/orders", "{host}.:443"), "/orders");
    host_trailing_dot: ops_step_up(Class::HostParsing, ops("/orders", "{host}."), "/orders");
    /// Two dots in a row: nginx answers 400 itself.
    host_double_dot: Row { class: Class::HostParsing, via: ops("/orders", "{host}..x"),
        status: 400, header: Hdr::Absent("www-authenticate"), log: Log::Nothing };
    host_control_plain: ops_step_up(Class::Control, ops("/orders", "{host}"), "/orders");
    /// nginx routes an absolute-form request on the request line's host;
    /// X-Original-URL carries the Host header (`$http_host`), so only the
    /// auth-url's `host=$host` tells serve where nginx routed it.
    host_absolute_form: ops_step_up(Class::AbsoluteForm,
        ops("http://{host}/orders", "www.legacy.test"), "/orders");
    host_absolute_form_https_port: ops_step_up(Class::AbsoluteForm,
        ops("https://{host}:443/orders", "public.shop.test"), "/orders");

    // --- the auth-url's parameters (issue 15) -------------------------------
    /// `level=&level=public` took `public`; every doubled or empty
    /// parameter is now a 403 (a configuration error no login fixes).
    query_level_twice: Row { class: Class::AmbiguousAuthUrl,
        via: Via::Direct { query: "level=admin&level=public", token: Tok::Pwd,
            headers: &[("X-Original-URL", "https://{host}/admin"), ("X-Original-Method", "GET")] },
        status: 403, header: Hdr::Absent("www-authenticate"),
        log: Log::Auth { outcome: "forbidden", path: "", rule: "none",
            reason: "auth-url parameter level appears more than once" } };
    query_level_empty_then_public: Row { class: Class::AmbiguousAuthUrl,
        via: Via::Direct { query: "level=&level=public", token: Tok::Pwd,
            headers: &[("X-Original-URL", "https://{host}/admin"), ("X-Original-Method", "GET")] },
        status: 403, header: Hdr::Absent("www-authenticate"),
        log: Log::Auth { outcome: "forbidden", path: "", rule: "none",
            reason: "auth-url parameter level is empty" } };
    query_host_twice: Row { class: Class::AmbiguousAuthUrl,
        via: Via::Direct { query: "level=authenticated&host=a.ops.test&host=b.shop.test", token: Tok::Pwd,
            headers: &[("X-Original-URL", "https://{host}/orders"), ("X-Original-Method", "GET")] },
        status: 403, header: Hdr::Absent("www-authenticate"),
        log: Log::Auth { outcome: "forbidden", path: "", rule: "none",
            reason: "auth-url parameter host appears more than once" } };
    /// `rule=` names the policy rule generate found: its level is a floor
    /// whatever host and path the runtime sees.
    query_rule_is_a_floor: Row { class: Class::RuleFloor,
        via: Via::Direct { query: "level=authenticated&rule=admin-console", token: Tok::Pwd,
            headers: &[("X-Original-URL", "https://{host}/orders"), ("X-Original-Method", "GET")] },
        status: 401, header: Hdr::StepUp { acr: "urn:stepup:mfa", max_age: 300 },
        log: Log::Auth { outcome: "step_up", path: "/orders", rule: "admin-console",
            reason: "acr urn:stepup:pwd is not one of the required values" } };
    query_rule_unknown: Row { class: Class::RuleFloor,
        via: Via::Direct { query: "level=authenticated&rule=renamed", token: Tok::Pwd,
            headers: &[("X-Original-URL", "https://{host}/orders"), ("X-Original-Method", "GET")] },
        status: 403, header: Hdr::Absent("www-authenticate"),
        log: Log::Auth { outcome: "forbidden", path: "", rule: "none",
            reason: "auth-url rule \"renamed\" is not a rule of the policy" } };

    // --- forged forwarding headers ------------------------------------------
    /// A client's `X-Forwarded-*` pass through ingress-nginx to the auth
    /// service; from nginx (not a trusted proxy) they are ignored.
    fwd_forwarded_headers_through_nginx: step_up_to_admin(Class::ForgedForwarded,
        legacy("/admin", Tok::Pwd, &[("X-Forwarded-Uri", "/public"), ("X-Forwarded-Host", "{host}"),
            ("X-Forwarded-Method", "GET"), ("X-Forwarded-Proto", "https")]),
        "/admin");
    /// nginx replaces a client's `X-Original-URL`.
    fwd_original_url_through_nginx: step_up_to_admin(Class::ForgedForwarded,
        legacy("/admin", Tok::Pwd, &[("X-Original-URL", "http://{host}/public"),
            ("X-Original-Method", "GET")]),
        "/admin");
    /// Only `X-Forwarded-*`, from a peer not in `--trusted-proxy`: 403
    /// naming the peer.
    fwd_untrusted_peer: Row { class: Class::ForgedForwarded,
        via: Via::Direct { query: "level=authenticated&rule=default", token: Tok::Pwd,
            headers: &[("X-Forwarded-Uri", "/public"), ("X-Forwarded-Host", "{host}"),
                ("X-Forwarded-Method", "GET"), ("X-Forwarded-Proto", "https")] },
        status: 403, header: Hdr::Absent("www-authenticate"),
        log: Log::Auth { outcome: "forbidden", path: "", rule: "none",
            reason: "X-Forwarded-* from 127.0.0.1, which is not a trusted proxy, and no X-Original-URL" } };

    // --- rd through nginx → the sign-in endpoints ---------------------------
    rd_signin_other_host: rd_signin("https://evil.example",
        r#"The page to return to after sign-in is not allowed: rd host "evil.example" is neither this host nor a host of the policy"#);
    rd_signin_scheme_relative: rd_signin("//evil.example",
        "The page to return to after sign-in is not allowed: rd is scheme-relative (//host): it could leave this site");
    rd_signin_backslash: rd_signin("/\\evil.example",
        "The page to return to after sign-in is not allowed: rd contains a control character, space, backslash or non-ASCII byte");
    rd_signin_javascript: rd_signin("javascript:alert(1)",
        r#"The page to return to after sign-in is not allowed: rd scheme "javascript" is not http or https"#);
    rd_signout_other_host: rd_signout("https://evil.example",
        r#"rd refused: rd host "evil.example" is neither this host nor a host of the policy"#);
    rd_signout_scheme_relative: rd_signout("//evil.example",
        "rd refused: rd is scheme-relative (//host): it could leave this site");
    rd_signout_backslash: rd_signout("/\\evil.example",
        "rd refused: rd contains a control character, space, backslash or non-ASCII byte");
    rd_signout_javascript: rd_signout("javascript:alert(1)",
        r#"rd refused: rd scheme "javascript" is not http or https"#);
    /// A page of this host: the sign-in starts (302 to the IdP).
    rd_control_signin: Row { class: Class::Control,
        via: Via::Signin { step: Step::Signin, rd: "/orders?id=7" }, status: 302,
        header: Hdr::Has("location", &["{issuer}/auth?", "client_id=stepup",
            "code_challenge_method=S256"]),
        log: Log::Signin { step: "signin", outcome: "redirect", reason: "" } };
    /// A page of this host: signed out and sent there.
    rd_control_signout: Row { class: Class::Control,
        via: Via::Signin { step: Step::Signout, rd: "/bye" }, status: 302,
        header: Hdr::Is("location", "https://{host}/bye"),
        log: Log::Signin { step: "signout", outcome: "ok", reason: "" } };

    // --- AdmissionReviews, as the API server sends them ---------------------
    review_truncated_validate: bad_review(Class::ReviewTruncated, "validate", Review::Truncated,
        "not an AdmissionReview: EOF while parsing");
    review_truncated_mutate: bad_review(Class::ReviewTruncated, "mutate", Review::Truncated,
        "not an AdmissionReview: EOF while parsing");
    review_token_review_validate: bad_review(Class::ReviewOtherKind, "validate",
        Review::Kind("authentication.k8s.io/v1", "TokenReview"),
        r#"expected apiVersion admission.k8s.io/v1, kind AdmissionReview; got "authentication.k8s.io/v1" "TokenReview""#);
    review_v1beta1_mutate: bad_review(Class::ReviewOtherKind, "mutate",
        Review::Kind("admission.k8s.io/v1beta1", "AdmissionReview"),
        r#"expected apiVersion admission.k8s.io/v1, kind AdmissionReview; got "admission.k8s.io/v1beta1" "AdmissionReview""#);
    review_no_uid_validate: bad_review(Class::ReviewNoUid, "validate", Review::NoUid,
        "not an AdmissionReview: missing field `uid`");
    review_no_uid_mutate: bad_review(Class::ReviewNoUid, "mutate", Review::NoUid,
        "not an AdmissionReview: missing field `uid`");
    review_empty_uid_validate: bad_review(Class::ReviewNoUid, "validate", Review::EmptyUid,
        "request.uid is empty");
    review_huge_validate: Row { class: Class::HugeFile,
        via: Via::Review { webhook: "validate", body: Review::Huge }, status: 413,
        header: Hdr::Has("content-type", &["text/plain"]),
        log: Log::Review { webhook: "validate", reason: "body larger than 3 MiB" } };
    /// The capture itself is answered (a review with the uid echoed).
    review_control: Row { class: Class::Control,
        via: Via::Review { webhook: "validate", body: Review::Capture }, status: 200,
        header: Hdr::Is("content-type", "application/json"), log: Log::Line(&["\"message\":\"admission: ",
            "\"uid\":\"18826890-ccd8-438d-8571-477f134f8522\""]) };
}

/// The policy of the suite: levels `authenticated`, `mfa`, `admin`, `people`
/// (`human: true`); rules
/// `admin-console` (`/admin`) and `public`; default
/// `authenticated`. [`ISSUER`] is replaced by the test IdP's issuer. The
/// policy rows edit it, so their line numbers are this text's.
const POLICY: &str = "apiVersion: stepup.dev/v1alpha1
kind: StepUpPolicy
metadata: {name: hostile}
spec:
  idp:
    issuer: https://issuer.invalid
    audiences: [shop]
    clientID: stepup
    clientSecretEnv: STEPUP_HOSTILE_CLIENT_SECRET
  authService: {url: https://127.0.0.1:1, signinPath: /.stepup}
  levels:
    - {name: authenticated}
    - {name: mfa, acr: [urn:stepup:mfa], amr: [[mfa]], maxAge: 15m}
    - {name: admin, extends: mfa, maxAge: 5m, claims: {groups: [shop-admins]}}
    - {name: people, human: true}
  rules:
    - {name: ops-console, hosts: ['*.ops.test'], paths: [/**], level: admin}
    - {name: admin-console, paths: [/admin, /admin/**], level: admin}
    - {name: public, paths: [/, /static/**, /public/**], level: public}
  default: authenticated
";

/// The issuer [`POLICY`] names until the IdP's is put in.
const ISSUER: &str = "https://issuer.invalid";
/// The environment variable [`POLICY`]'s `clientSecretEnv` names.
const CLIENT_SECRET_ENV: &str = "STEPUP_HOSTILE_CLIENT_SECRET";

/// An Ingress `lint` finds nothing wrong with.
const GOOD_INGRESS: &str = "apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop, namespace: shop}
spec:
  ingressClassName: nginx
  rules:
    - host: shop.test
      http:
        paths:
          - path: /static/
            pathType: Prefix
            backend: {service: {name: web, port: {number: 80}}}
";

/// 300 nested flow sequences in an Ingress's field.
const DEEP: &str = concat!(
    "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: x}\nspec: ",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    "\n"
);

/// Aliases that expand to 9^9 nodes.
const ALIAS_BOMB: &str = "apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: x}
a: &a [x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
";

#[test]
fn the_table_covers_every_spec_class() {
    for class in Class::SPEC {
        assert!(
            TABLE.iter().any(|(_, r)| r.class == class),
            "SPEC §6 class {class:?} has no row"
        );
    }
}

// ---------------------------------------------------------------- fixture

/// What the live rows share: the IdP, `stepup serve` (TLS, session keys,
/// the sign-in client) and two nginx in front of it.
struct World {
    /// Locked around every use: the clock control is global to the IdP.
    idp: Mutex<Idp>,
    issuer: String,
    /// alice's password login, made once.
    pwd: OnceLock<idp::Tokens>,
    serve_port: u16,
    serve_log: Arc<Mutex<String>>,
    /// A client of serve's TLS listener (trusting its CA).
    serve_client: reqwest::blocking::Client,
    /// Plain HTTP: `*.shop.test`, `*.legacy.test`.
    api: nginx::Nginx,
    /// TLS: `*.app.test` with the sign-in Ingress.
    web: nginx::Nginx,
    _reapers: Vec<proc::Reaper>,
    _dir: tempfile::TempDir,
}

static WORLD: OnceLock<World> = OnceLock::new();

/// The shared fixture, started by the first row that needs it.
fn world() -> &'static World {
    WORLD.get_or_init(World::start)
}

/// The nginx's pid (its pid file; nginx runs without a master).
fn nginx_pid(n: &nginx::Nginx) -> u32 {
    let text = std::fs::read_to_string(n.dir.path().join("nginx.pid")).unwrap();
    text.trim().parse().unwrap()
}

impl World {
    fn start() -> World {
        let started = Instant::now();
        let idp = Idp::start(&[], 600);
        let dir = tempfile::tempdir().unwrap();
        let tls = nginx::write_certs(dir.path(), &[]);
        let keys = dir.path().join("session-keys");
        std::fs::write(
            &keys,
            stepup::serve::session::SessionKeys::generate_line("k1") + "\n",
        )
        .unwrap();
        let policy = dir.path().join("policy.yaml");
        std::fs::write(&policy, POLICY.replace(ISSUER, idp.issuer())).unwrap();
        let serve = proc::start(
            Command::new(env!("CARGO_BIN_EXE_stepup"))
                .args(["serve", "-p"])
                .arg(&policy)
                .args(["--listen", "127.0.0.1:0", "--tls-cert"])
                .arg(&tls.cert)
                .arg("--tls-key")
                .arg(&tls.key)
                .arg("--session-keys")
                .arg(&keys)
                .args(["--signin-scopes", "openid email groups"])
                .env("RUST_LOG", "info,stepup=debug")
                .env(CLIENT_SECRET_ENV, "stepup-secret")
                .stdin(Stdio::null()),
        );
        let mut reapers = vec![proc::reap_on_exit(&[serve.child.id()], &[dir.path()])];
        let serve_port: u16 = serve
            .line
            .trim()
            .strip_prefix("listening on https://127.0.0.1:")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "stepup serve did not start: {:?}\n{}",
                    serve.line,
                    proc::log(&serve.log)
                )
            });
        let ca = std::fs::read(&tls.ca).unwrap();
        let serve_client = reqwest::blocking::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while serve_client
            .get(format!("https://localhost:{serve_port}/readyz"))
            .send()
            .map_or(true, |r| r.status() != 200)
        {
            assert!(
                Instant::now() < deadline,
                "stepup serve never became ready:\n{}",
                proc::log(&serve.log)
            );
            std::thread::sleep(Duration::from_millis(50));
        }

        let auth = |level: &str, rule: &str| {
            // As `stepup generate` writes it: `host=$host` is expanded by nginx.
            format!("https://127.0.0.1:{serve_port}/auth?level={level}&rule={rule}&host=$host")
        };
        let api = nginx::start(&[
            Host {
                name: ".shop.test",
                locs: vec![
                    Loc::public("/"),
                    Loc::auth("/account", auth("authenticated", "default"), None),
                    Loc::auth("/admin", auth("admin", "admin-console"), None),
                    Loc::auth("/people", auth("people", "default"), None),
                    Loc::auth("/api", auth("authenticated", "default"), None),
                ],
            },
            Host {
                name: ".legacy.test",
                locs: vec![Loc::auth("/", auth("authenticated", "default"), None)],
            },
            Host {
                name: ".ops.test",
                locs: vec![Loc::auth("/", auth("authenticated", "default"), None)],
            },
        ]);
        reapers.push(proc::reap_on_exit(&[nginx_pid(&api)], &[api.dir.path()]));
        // The sign-in Ingress proxies to serve's TLS port.
        let signin = Loc {
            upstream: Some(format!("https://127.0.0.1:{serve_port}")),
            ..Loc::stepup("/.stepup", serve_port)
        };
        let web = nginx::start_opts(
            &[Host {
                name: "*.app.test",
                locs: vec![Loc::public("/"), signin],
            }],
            &Opts {
                tls: true,
                port: None,
                logs: true,
            },
        );
        reapers.push(proc::reap_on_exit(&[nginx_pid(&web)], &[web.dir.path()]));
        eprintln!("fixture up in {:?}", started.elapsed());
        World {
            issuer: idp.issuer().to_string(),
            idp: Mutex::new(idp),
            pwd: OnceLock::new(),
            serve_port,
            serve_log: serve.log,
            serve_client,
            api,
            web,
            _reapers: reapers,
            _dir: dir,
        }
    }

    fn idp(&self) -> std::sync::MutexGuard<'_, Idp> {
        self.idp.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn pwd(&self) -> &idp::Tokens {
        self.pwd
            .get_or_init(|| self.idp().login(&Login::new("alice")))
    }

    fn log(&self) -> String {
        proc::log(&self.serve_log)
    }

    /// The bearer token `t` stands for.
    fn token(&self, t: Tok) -> Option<String> {
        if let Tok::None = t {
            return None;
        }
        let pwd = &self.pwd().access_token;
        let parts: Vec<&str> = pwd.split('.').collect();
        let claims = idp::jwt_claims(pwd);
        let kid = idp::jwt_header(pwd)["kid"].as_str().unwrap().to_string();
        let seg = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        Some(match t {
            Tok::None => unreachable!("returned above"),
            Tok::Pwd => pwd.clone(),
            Tok::IdToken => self.pwd().id_token.clone(),
            Tok::AlgNone => format!("{}.{}.", seg(&json!({"alg": "none", "kid": kid})), parts[1]),
            Tok::Hs256PublicKey => {
                let jwks = self.idp().jwks();
                let rsa = jwks["keys"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|k| k["kid"] == kid.as_str())
                    .unwrap()
                    .to_string();
                let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
                h.kid = Some(kid);
                let key = jsonwebtoken::EncodingKey::from_secret(rsa.as_bytes());
                jsonwebtoken::encode(&h, &claims, &key).unwrap()
            }
            Tok::UnknownKid => {
                let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
                let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
                h.kid = Some("attacker".into());
                let pem = kp.serialize_pem();
                let key = jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes()).unwrap();
                jsonwebtoken::encode(&h, &claims, &key).unwrap()
            }
            Tok::BadBase64(i) => {
                let mut p = parts.clone();
                let bad = format!("{}*", p[i]);
                p[i] = &bad;
                p.join(".")
            }
            Tok::PayloadSwapped => {
                let mut evil = claims.clone();
                evil["sub"] = json!("mallory");
                format!("{}.{}.{}", parts[0], seg(&evil), parts[2])
            }
            Tok::Oversized => format!("{}.{}.{}", parts[0], "A".repeat(20_000), parts[2]),
            Tok::Expired => {
                let idp = self.idp();
                idp.set_clock_offset(-7200);
                let t = idp.try_login(&Login::new("alice"));
                idp.set_clock_offset(0);
                t.unwrap().access_token
            }
            Tok::FutureLogin => {
                self.idp()
                    .login(&Login::new("alice").auth_time_offset(7200))
                    .access_token
            }
            Tok::Signed(changes) => {
                let mut c = claims.as_object().unwrap().clone();
                let changes: Value = serde_json::from_str(changes).unwrap();
                for (k, v) in changes.as_object().unwrap() {
                    c.insert(k.clone(), v.clone());
                }
                stepup::claims::resolve_relative(&mut c, idp::now()).unwrap();
                self.idp()
                    .sign(&Value::Object(c), &json!({}), idp::Alg::Rs256)
            }
            Tok::ClientCredentials => self.idp().client_credentials("robot", "robot-secret"),
            Tok::SignedHeader(header) => {
                let header: Value = serde_json::from_str(header).unwrap();
                self.idp().sign(&claims, &header, idp::Alg::Rs256)
            }
        })
    }
}

// ----------------------------------------------------------------- runner

/// `row_name` as a host label (`jwt_alg_none` → `jwt-alg-none`).
fn label(name: &str) -> String {
    name.replace('_', "-")
}

/// A reqwest answer as a [`Resp`].
fn resp(r: reqwest::blocking::Response) -> Resp {
    let status = r.status().as_u16();
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    Resp {
        status,
        headers,
        body: r.text().unwrap_or_default(),
    }
}

/// A JSON string's escaped text (what a JSON log line holds), unquoted.
fn escaped(s: &str) -> String {
    let q = serde_json::to_string(s).unwrap();
    q[1..q.len() - 1].to_string()
}

/// The review body `r` stands for.
fn review_body(r: Review) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/admission/ingress-create-validating.json");
    let capture = std::fs::read(path).unwrap();
    let mut v: Value = serde_json::from_slice(&capture).unwrap();
    match r {
        Review::Capture => return capture,
        Review::Truncated => return capture[..capture.len() / 2].to_vec(),
        Review::Huge => {
            let mut big = capture.clone();
            let end = big.iter().rposition(|b| *b == b'}').unwrap();
            big.truncate(end);
            big.extend(std::iter::repeat_n(b' ', 3 * 1024 * 1024));
            big.push(b'}');
            return big;
        }
        Review::Kind(api_version, kind) => {
            v["apiVersion"] = json!(api_version);
            v["kind"] = json!(kind);
        }
        Review::NoUid => {
            v["request"].as_object_mut().unwrap().remove("uid");
        }
        Review::EmptyUid => v["request"]["uid"] = json!(""),
    }
    serde_json::to_vec(&v).unwrap()
}

/// Run the row called `name`.
fn run(name: &str) {
    let row = TABLE
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, r)| *r)
        .unwrap();
    match row.via {
        Via::Serve(doc) => run_serve(row, doc),
        Via::Lint(doc) => run_lint(row, doc),
        _ => run_live(name, row),
    }
}

/// A row through the running world: send, then check status, header,
/// "never an allow", the log line and "never a panic".
fn run_live(name: &str, row: Row) {
    let w = world();
    let (host, r) = send(w, name, row.via);
    let fill = |s: &str| s.replace("{host}", &host).replace("{issuer}", &w.issuer);
    let ctx = |r: &Resp| {
        format!(
            "row {name} ({:?}) via {:?}\nanswer: {r:?}\nserve log (end):\n{}",
            row.class,
            row.via,
            tail(&w.log(), 12)
        )
    };
    assert_eq!(r.status, row.status, "status; {}", ctx(&r));
    check_header(&r, row.header, &fill, &ctx);
    never_an_allow(&r, row, &host, &ctx);
    check_log(w, row, &host, &ctx(&r));
    let log = w.log();
    assert!(!log.contains("panicked"), "serve panicked; {}", ctx(&r));
    let health = w
        .serve_client
        .get(format!("https://localhost:{}/healthz", w.serve_port))
        .send()
        .map(|h| h.status().as_u16());
    assert_eq!(
        health.ok(),
        Some(200),
        "serve stopped answering; {}",
        ctx(&r)
    );
}

/// The last `n` lines of a log.
fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Send the row's request; returns the Host it used and the answer.
fn send(w: &World, name: &str, via: Via) -> (String, Resp) {
    match via {
        Via::Nginx {
            site,
            method,
            target,
            host_header,
            token,
            headers,
        } => {
            let domain = match site {
                Site::Shop => "shop.test",
                Site::Legacy => "legacy.test",
                Site::Ops => "ops.test",
            };
            let host = format!("{}.{domain}", label(name));
            let target = target.replace("{host}", &host);
            let host_header = host_header.replace("{host}", &host);
            let bearer = w.token(token).map(|t| format!("Bearer {t}"));
            let filled: Vec<(String, String)> = headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.replace("{host}", &host)))
                .chain(bearer.map(|b| ("Authorization".to_string(), b)))
                .collect();
            let refs: Vec<(&str, &str)> = filled
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let r = nginx::raw(w.api.port, method, &host_header, &target, &refs);
            (host, r)
        }
        Via::Direct {
            query,
            token,
            headers,
        } => {
            let host = format!("{}.shop.test", label(name));
            let mut req = w
                .serve_client
                .get(format!("https://localhost:{}/auth?{query}", w.serve_port))
                .header("X-Request-ID", name);
            for (k, v) in headers {
                req = req.header(*k, v.replace("{host}", &host));
            }
            if let Some(t) = w.token(token) {
                req = req.bearer_auth(t);
            }
            (host, resp(req.send().unwrap()))
        }
        Via::Signin { step, rd } => {
            let name = format!("{}.app.test", label(name));
            let rd: String = url::form_urlencoded::byte_serialize(rd.as_bytes()).collect();
            let path = match step {
                Step::Signin => format!("/.stepup/signin?level=authenticated&rd={rd}"),
                Step::Signout => format!("/.stepup/signout?rd={rd}"),
            };
            let url = format!("{}{path}", w.web.origin(&name));
            let r = w.web.client(&[&name]).get(url).send().unwrap();
            (format!("{name}:{}", w.web.port), resp(r))
        }
        Via::Review { webhook, body } => {
            let r = w
                .serve_client
                .post(format!("https://localhost:{}/{webhook}", w.serve_port))
                .header("content-type", "application/json")
                .body(review_body(body))
                .send()
                .unwrap();
            (format!("localhost:{}", w.serve_port), resp(r))
        }
        Via::Serve(_) | Via::Lint(_) => unreachable!("the CLI rows run without the world"),
    }
}

fn check_header(r: &Resp, want: Hdr, fill: &dyn Fn(&str) -> String, ctx: &dyn Fn(&Resp) -> String) {
    let www = r.header("www-authenticate");
    match want {
        Hdr::InvalidToken(reason) => {
            let prefix = format!(
                "Bearer realm=\"stepup\", error=\"invalid_token\", error_description=\"{reason}"
            );
            assert!(
                www.is_some_and(|v| v.starts_with(&prefix)),
                "want WWW-Authenticate: {prefix}…; {}",
                ctx(r)
            );
        }
        Hdr::StepUp { acr, max_age } => {
            let v = www.unwrap_or_else(|| panic!("no WWW-Authenticate; {}", ctx(r)));
            let prefix = "Bearer realm=\"stepup\", error=\"insufficient_user_authentication\", error_description=\"";
            let tail = format!(", acr_values=\"{acr}\", max_age={max_age}");
            assert!(
                v.starts_with(prefix) && v.ends_with(&tail),
                "want an RFC 9470 challenge {prefix}…{tail}; {}",
                ctx(r)
            );
        }
        Hdr::Is(name, value) => {
            assert_eq!(
                r.header(name),
                Some(fill(value).as_str()),
                "{name}; {}",
                ctx(r)
            );
        }
        Hdr::Has(name, parts) => {
            let v = r
                .header(name)
                .unwrap_or_else(|| panic!("no {name}; {}", ctx(r)));
            for p in parts {
                assert!(v.contains(&fill(p)), "{name} lacks {p:?}; {}", ctx(r));
            }
        }
        Hdr::Absent(name) => assert!(r.header(name).is_none(), "{name} present; {}", ctx(r)),
        Hdr::None => {}
    }
}

/// "Never an allow", as each path can tell: the backend's echo is in the
/// answer exactly when the row expects a 200 through nginx; no `Location`
/// or link of a sign-in answer points at the attacker; a review that is
/// not one gets no review back.
fn never_an_allow(r: &Resp, row: Row, host: &str, ctx: &dyn Fn(&Resp) -> String) {
    let allow = row.class == Class::Control && row.status == 200;
    match row.via {
        Via::Nginx { .. } => {
            let reached = r.body.starts_with("backend uri=");
            assert_eq!(reached, allow, "backend reached: {reached}; {}", ctx(r));
            if allow {
                let user = match row.via {
                    Via::Nginx {
                        token: Tok::ClientCredentials,
                        ..
                    } => "robot",
                    _ => "alice",
                };
                assert!(
                    r.body.contains(&format!("user={user} ")),
                    "identity: {}",
                    ctx(r)
                );
            }
        }
        Via::Direct { .. } => assert_ne!(r.status, 200, "{}", ctx(r)),
        Via::Signin { .. } => {
            let own = format!("https://{host}/");
            let location = r.header("location").unwrap_or("");
            let links = r.body.split("href=\"").skip(1);
            for to in links
                .map(|l| l.split('"').next().unwrap_or(""))
                .chain([location])
            {
                assert!(
                    !to.contains("evil.example") && !to.starts_with("javascript:"),
                    "points away: {to}; {}",
                    ctx(r)
                );
            }
            if row.class != Class::Control {
                assert!(
                    r.body.split("href=\"").skip(1).all(|l| l.starts_with(&own)),
                    "a link leaves {own}; {}",
                    ctx(r)
                );
            }
        }
        Via::Review { body, .. } => {
            if row.class == Class::Control {
                let v: Value = serde_json::from_str(&r.body).unwrap();
                let sent: Value = serde_json::from_slice(&review_body(body)).unwrap();
                assert_eq!(v["response"]["uid"], sent["request"]["uid"], "{}", ctx(r));
                assert!(v["response"]["allowed"].is_boolean(), "{}", ctx(r));
            } else {
                assert!(
                    !r.body.contains("\"allowed\""),
                    "answered as a review; {}",
                    ctx(r)
                );
            }
        }
        Via::Serve(_) | Via::Lint(_) => {}
    }
}

/// The row's log line, as substrings of one line of serve's JSON log.
fn log_parts(row: Row, host: &str) -> Vec<String> {
    let status = format!("\"status\":{}", row.status);
    match row.log {
        Log::Auth {
            outcome,
            path,
            rule,
            reason,
        } => {
            let target = if path.is_empty() {
                String::new()
            } else {
                format!("{host}{path}")
            };
            vec![
                "\"message\":\"auth denied\"".into(),
                format!("\"outcome\":\"{outcome}\""),
                status,
                format!("\"target\":\"{}\"", escaped(&target)),
                format!("\"rule\":\"{rule}\""),
                format!("\"reason\":\"{}", escaped(reason)),
            ]
        }
        Log::Allow { path } => vec![
            "\"message\":\"auth\"".into(),
            "\"outcome\":\"allow\"".into(),
            format!("\"target\":\"{}\"", escaped(&format!("{host}{path}"))),
        ],
        Log::Signin {
            step,
            outcome,
            reason,
        } => vec![
            "\"message\":\"signin\"".into(),
            format!("\"step\":\"{step}\""),
            format!("\"outcome\":\"{outcome}\""),
            status,
            format!("\"host\":\"{host}\""),
            format!("\"reason\":\"{}", escaped(reason)),
        ],
        Log::Review { webhook, reason } => vec![
            "\"message\":\"admission review rejected\"".into(),
            format!("\"webhook\":\"{webhook}\""),
            status,
            format!("\"reason\":\"{}", escaped(reason)),
        ],
        Log::Line(parts) => parts.iter().map(|p| p.replace("{host}", host)).collect(),
        Log::Nothing | Log::Stderr(_) => Vec::new(),
    }
}

fn check_log(w: &World, row: Row, host: &str, ctx: &str) {
    if let Log::Nothing = row.log {
        assert!(
            matches!(row.via, Via::Nginx { .. }),
            "Log::Nothing is for requests nginx stops"
        );
        // A line would have been written before the answer left serve;
        // give the thread copying stderr a moment.
        std::thread::sleep(Duration::from_millis(300));
        let log = w.log();
        let line = log.lines().find(|l| l.contains(host));
        assert!(line.is_none(), "serve saw the request: {line:?}; {ctx}");
        return;
    }
    let parts = log_parts(row, host);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = w.log();
        if let Some(line) = log
            .lines()
            .find(|l| parts.iter().all(|p| l.contains(p.as_str())))
        {
            eprintln!("serve logged: {line}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no log line with all of {parts:#?}; {ctx}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Write the row's file as `name` in `dir`.
fn write_doc(dir: &Path, name: &str, doc: Doc) -> PathBuf {
    let p = dir.join(name);
    match doc {
        Doc::Edit(from, to) => {
            assert!(POLICY.contains(from), "{from:?} is not in POLICY");
            std::fs::write(&p, POLICY.replacen(from, to, 1)).unwrap();
        }
        Doc::Text(text) => std::fs::write(&p, text).unwrap(),
        Doc::Huge => {
            let f = std::fs::File::create(&p).unwrap();
            f.set_len(stepup::source::MAX_FILE_BYTES + 1).unwrap(); // sparse
        }
    }
    p
}

/// Exit code and stderr assertions shared by the CLI rows.
fn check_cli(row: Row, code: Option<i32>, stderr: &str) {
    assert_eq!(
        code,
        Some(i32::from(row.status)),
        "exit code; stderr:\n{stderr}"
    );
    let Log::Stderr(parts) = row.log else {
        panic!("a CLI row expects stderr")
    };
    for p in parts {
        assert!(stderr.contains(p), "stderr lacks {p:?}:\n{stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `stepup serve -p FILE`: a bad policy stops it before it listens.
fn run_serve(row: Row, doc: Doc) {
    let dir = tempfile::tempdir().unwrap();
    let p = write_doc(dir.path(), "policy.yaml", doc);
    let mut s = proc::start(
        Command::new(env!("CARGO_BIN_EXE_stepup"))
            .args(["serve", "-p"])
            .arg(&p)
            .args(["--listen", "127.0.0.1:0"])
            .env(CLIENT_SECRET_ENV, "stepup-secret")
            .stdin(Stdio::null()),
    );
    let listening = s.line.starts_with("listening on ");
    if listening {
        // Only the control row may get here; stop it either way, once
        // its log says so too.
        proc::wait_log(&s.log, "\"listening\"");
        let _ = s.child.kill();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = s.child.kill();
            panic!("serve neither started nor exited: {}", proc::log(&s.log));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if row.status == 0 {
        let log = proc::log(&s.log);
        assert!(listening, "the control policy did not start: {log}");
        if let Log::Stderr(parts) = row.log {
            for p in parts {
                assert!(log.contains(p), "stderr lacks {p:?}:\n{log}");
            }
        }
        return;
    }
    let Log::Stderr(parts) = row.log else {
        panic!("a CLI row expects stderr")
    };
    let stderr = proc::wait_log(&s.log, parts.first().copied().unwrap_or(""));
    assert!(!listening, "serve started with a broken policy: {stderr}");
    check_cli(row, status.code(), &stderr);
}

/// `stepup lint -p POLICY FILE`.
fn run_lint(row: Row, doc: Doc) {
    let dir = tempfile::tempdir().unwrap();
    let policy = write_doc(dir.path(), "policy.yaml", Doc::Text(POLICY));
    let p = write_doc(dir.path(), "ingress.yaml", doc);
    let out = Command::new(env!("CARGO_BIN_EXE_stepup"))
        .args(["lint", "-p"])
        .arg(&policy)
        .arg(&p)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    check_cli(
        row,
        out.status.code(),
        &format!("{stderr}\n(stdout:)\n{stdout}"),
    );
}
