//! The shop policy of the end-to-end tests (tests/serve.rs) and the
//! reliability tests (tests/reliability.rs): three levels (authenticated;
//! mfa: the MFA acr and amr within 15 minutes; admin: mfa within 5 minutes
//! and the shop-admins group), an admin console, payments that need mfa
//! for writes only, public static paths, and `authenticated` by default.
//!
//! Use from a test file with `#[path = "support/shop_policy.rs"] mod shop_policy;`.
#![allow(dead_code)]

/// The policy for tokens from `issuer` with audience `audience`.
pub fn policy(issuer: &str, audience: &str) -> String {
    format!(
        r#"apiVersion: stepup.dev/v1alpha1
kind: StepUpPolicy
metadata: {{name: e2e}}
spec:
  idp:
    issuer: {issuer}
    audiences: [{audience}]
  authService:
    url: http://127.0.0.1:1
    signinPath: /.stepup
  levels:
    - name: authenticated
    - name: mfa
      acr: [urn:stepup:mfa]
      amr: [[mfa]]
      maxAge: 15m
    - name: admin
      extends: mfa
      maxAge: 5m
      claims: {{groups: [shop-admins]}}
  rules:
    - name: admin-console
      paths: [/admin, /admin/**]
      level: admin
    - name: payments
      paths: [/api/payments/**]
      methods: [POST, PUT, PATCH, DELETE]
      level: mfa
    - name: public
      paths: [/, /static/**, /public/**]
      level: public
  default: authenticated
"#
    )
}
