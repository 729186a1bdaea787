//! Smoke tests of the oidc-provider test harness (tests/idp): every token
//! here comes from the IdP's real authorization-code flow.

#[path = "support/idp.rs"]
mod idp;

use idp::{ACR_MFA, ACR_PWD, AUDIENCE, Alg, Idp, Login, jwt_claims, jwt_header, now};
use serde_json::{Value, json};
use std::sync::OnceLock;

/// One IdP shared by the tests that do not change its keys or stop it (each
/// login has its own cookie jar). It exits when this process does: its stdin
/// closes.
fn start() -> &'static Idp {
    static IDP: OnceLock<Idp> = OnceLock::new();
    IDP.get_or_init(|| Idp::start(&["http://127.0.0.1:9/.stepup/callback"], 600))
}

fn assert_close(actual: &Value, expected: i64, what: &str) {
    let actual = actual
        .as_i64()
        .unwrap_or_else(|| panic!("{what} is not an integer: {actual}"));
    assert!(
        (actual - expected).abs() <= 5,
        "{what} = {actual}, expected about {expected}"
    );
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .expect("jwks has keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("every key has a kid").to_string())
        .collect()
}

#[test]
fn discovery_lists_jwks_acr_values_and_claims_parameter() {
    let idp = start();
    let d = idp.discovery();
    assert_eq!(d["issuer"], idp.issuer());
    assert_eq!(idp.issuer(), format!("http://127.0.0.1:{}", idp.port()));
    assert_eq!(d["jwks_uri"], format!("{}/jwks", idp.issuer()));
    assert_eq!(d["acr_values_supported"], json!([ACR_PWD, ACR_MFA]));
    assert_eq!(d["claims_parameter_supported"], true);

    let jwks = idp.jwks();
    let keys = jwks["keys"].as_array().expect("keys");
    let algs: Vec<&str> = keys.iter().filter_map(|k| k["alg"].as_str()).collect();
    assert_eq!(algs, ["RS256", "ES256"], "{jwks}");
    let ks = kids(&jwks);
    assert_ne!(ks[0], ks[1]);
    for key in keys {
        assert!(key.get("d").is_none(), "private part published: {key}");
    }
}

#[test]
fn password_login_gives_rs256_jwt_access_token_with_pwd_level() {
    let idp = start();
    let tokens = idp.login(&Login::new("alice"));
    assert_eq!(tokens.expires_in, 600);

    let header = jwt_header(&tokens.access_token);
    assert_eq!(header["alg"], "RS256", "{header}");
    assert_eq!(header["typ"], "at+jwt", "{header}");
    assert!(header["kid"].is_string(), "{header}");

    let at = jwt_claims(&tokens.access_token);
    assert_eq!(at["iss"], idp.issuer(), "{at}");
    assert_eq!(at["aud"], AUDIENCE, "{at}");
    assert_eq!(at["sub"], "alice", "{at}");
    assert_eq!(at["acr"], ACR_PWD, "{at}");
    assert_eq!(at["amr"], json!(["pwd"]), "{at}");
    assert_close(&at["auth_time"], now(), "auth_time");
    assert_eq!(at["email"], "alice@example.com", "{at}");
    assert_eq!(at["groups"], json!(["shop-admins", "staff"]), "{at}");
    assert_eq!(
        at["exp"].as_i64().expect("exp") - at["iat"].as_i64().expect("iat"),
        600
    );

    let id = jwt_claims(&tokens.id_token);
    assert_eq!(jwt_header(&tokens.id_token)["alg"], "RS256");
    assert_eq!(id["aud"], "tester", "{id}");
    assert_eq!(id["acr"], ACR_PWD, "{id}");
    assert_eq!(id["amr"], json!(["pwd"]), "{id}");
    assert_eq!(id["auth_time"], at["auth_time"], "{id}");
    assert_eq!(id["email"], "alice@example.com", "{id}");
    assert_eq!(id["groups"], json!(["shop-admins", "staff"]), "{id}");
}

#[test]
fn id_token_carries_the_nonce_sent() {
    let idp = start();
    let tokens = idp.login(&Login::new("carol"));
    let id = jwt_claims(&tokens.id_token);
    assert_eq!(id["nonce"], tokens.nonce.as_str(), "{id}");
    assert_eq!(id["sub"], "carol");
    assert_eq!(id["groups"], json!([]), "{id}");
}

#[test]
fn mfa_login_with_es256_resource() {
    let idp = start();
    let tokens = idp.login(&Login::new("bob").mfa().alg(Alg::Es256));
    let header = jwt_header(&tokens.access_token);
    assert_eq!(header["alg"], "ES256", "{header}");
    let at = jwt_claims(&tokens.access_token);
    assert_eq!(at["aud"], AUDIENCE, "{at}");
    assert_eq!(at["acr"], ACR_MFA, "{at}");
    let amr: Vec<&str> = at["amr"]
        .as_array()
        .expect("amr is an array")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(amr.contains(&"mfa"), "{at}");
    assert_eq!(amr, ["pwd", "otp", "mfa"]);
    assert_eq!(at["groups"], json!(["staff"]), "{at}");
    assert_eq!(jwt_claims(&tokens.id_token)["acr"], ACR_MFA);
}

#[test]
fn essential_acr_in_claims_parameter_asks_for_the_code() {
    let idp = start();
    let claims = r#"{"id_token":{"acr":{"essential":true,"values":["urn:stepup:mfa"]}}}"#;
    let tokens = idp.login(&Login::new("alice").claims(claims));
    assert_eq!(jwt_claims(&tokens.access_token)["acr"], ACR_MFA);
    assert_eq!(jwt_claims(&tokens.id_token)["acr"], ACR_MFA);
}

#[test]
fn auth_time_offset_backdates_the_login() {
    let idp = start();
    let tokens = idp.login(&Login::new("alice").auth_time_offset(-600));
    assert_close(
        &jwt_claims(&tokens.access_token)["auth_time"],
        now() - 600,
        "auth_time",
    );
    assert_close(
        &jwt_claims(&tokens.id_token)["auth_time"],
        now() - 600,
        "id_token auth_time",
    );
    // max_age shorter than the session's age makes the user log in again.
    let session = idp.session();
    let first = session.login(&Login::new("bob").auth_time_offset(-600));
    assert_close(
        &jwt_claims(&first.id_token)["auth_time"],
        now() - 600,
        "first",
    );
    let again = session.login(&Login::new("bob").max_age(60));
    assert_close(
        &jwt_claims(&again.id_token)["auth_time"],
        now(),
        "after max_age",
    );
}

#[test]
fn session_reuse_and_step_up() {
    let idp = start();
    let session = idp.session();
    let first = session.login(&Login::new("alice"));
    assert_eq!(jwt_claims(&first.access_token)["acr"], ACR_PWD);
    // Same session, no form: the code comes straight back with the old login.
    let silent = session
        .try_login(&Login::new("alice").password("not-shown"))
        .expect("a live session needs no password");
    assert_eq!(
        jwt_claims(&silent.access_token)["auth_time"],
        jwt_claims(&first.access_token)["auth_time"]
    );
    // Asking for MFA on a password session means logging in again, with the code.
    let stepped = session.login(&Login::new("alice").mfa());
    assert_eq!(jwt_claims(&stepped.access_token)["acr"], ACR_MFA);
    // prompt=login forces the form even though the session is fresh.
    let err = session
        .try_login(&Login::new("alice").prompt_login().password("wrong"))
        .expect_err("prompt=login must show the form");
    assert!(err.contains("Wrong username or password"), "{err}");
}

#[test]
fn wrong_password_or_code_yields_no_code() {
    let idp = start();
    let err = idp
        .try_login(&Login::new("alice").password("pw-bob"))
        .expect_err("wrong password must not log in");
    assert!(err.contains("400"), "{err}");
    assert!(err.contains("Wrong username or password"), "{err}");

    let err = idp
        .try_login(&Login::new("nobody"))
        .expect_err("unknown user must not log in");
    assert!(err.contains("Wrong username or password"), "{err}");

    let err = idp
        .try_login(&Login::new("alice").mfa().otp("000000"))
        .expect_err("wrong code must not log in");
    assert!(err.contains("Wrong verification code"), "{err}");
}

#[test]
fn rotation_signs_with_the_new_key_and_keeps_the_old_one() {
    let idp = Idp::start(&[], 600);
    let before = idp.login(&Login::new("alice"));
    let old_kid = jwt_header(&before.access_token)["kid"]
        .as_str()
        .expect("kid")
        .to_string();
    assert!(kids(&idp.jwks()).contains(&old_kid));

    let new_kid = idp.rotate(Alg::Rs256);
    assert_ne!(new_kid, old_kid);
    let jwks = idp.jwks();
    let ks = kids(&jwks);
    assert!(ks.contains(&new_kid), "{jwks}");
    assert!(ks.contains(&old_kid), "{jwks}");
    assert_eq!(ks.len(), 3, "{jwks}");

    let after = idp.login(&Login::new("alice"));
    assert_eq!(jwt_header(&after.access_token)["kid"], new_kid.as_str());
    assert_eq!(jwt_header(&after.id_token)["kid"], new_kid.as_str());
    verify(&idp, &after.access_token, AUDIENCE);
    verify(&idp, &before.access_token, AUDIENCE);

    let es_kid = idp.rotate(Alg::Es256);
    let es = idp.login(&Login::new("bob").alg(Alg::Es256));
    assert_eq!(jwt_header(&es.access_token)["kid"], es_kid.as_str());
    assert_eq!(kids(&idp.jwks()).len(), 4);

    let mut left = idp.drop_old_keys();
    left.sort();
    let mut newest = vec![new_kid, es_kid];
    newest.sort();
    assert_eq!(left, newest);
    let mut ks = kids(&idp.jwks());
    ks.sort();
    assert_eq!(ks, newest);
}

#[test]
fn access_ttl_default_offset_and_kill() {
    let mut idp = Idp::start(&[], 90);
    let tokens = idp.login(&Login::new("carol"));
    assert_eq!(tokens.expires_in, 90);
    let at = jwt_claims(&tokens.access_token);
    assert_eq!(
        at["exp"].as_i64().expect("exp") - at["iat"].as_i64().expect("iat"),
        90
    );

    // The default offset applies to logins whose form sends none.
    idp.set_default_auth_time_offset(-300);
    let old = idp.login(&Login::new("carol"));
    assert_close(
        &jwt_claims(&old.access_token)["auth_time"],
        now() - 300,
        "default offset",
    );
    let own = idp.login(&Login::new("carol").auth_time_offset(-60));
    assert_close(
        &jwt_claims(&own.access_token)["auth_time"],
        now() - 60,
        "own offset",
    );

    let port = idp.port();
    idp.kill();
    let down = reqwest::blocking::get(format!("http://127.0.0.1:{port}/jwks"));
    assert!(down.is_err(), "IdP still answers after kill: {down:?}");
}

/// Checks the signature against the IdP's JWKS (by kid) with jsonwebtoken,
/// the way a resource server would; returns the claims.
fn verify(idp: &Idp, token: &str, audience: &str) -> Value {
    let jwks: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(idp.jwks()).expect("the JWKS parses as a JWK set");
    let header = jsonwebtoken::decode_header(token).expect("JWT header");
    let kid = header.kid.expect("token has a kid");
    let jwk = jwks
        .find(&kid)
        .unwrap_or_else(|| panic!("kid {kid} not in the JWKS"));
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).expect("usable JWK");
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[idp.issuer()]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap_or_else(|e| panic!("token does not verify against the JWKS: {e}"))
        .claims
}

#[test]
fn tokens_verify_against_the_jwks() {
    let idp = start();
    for alg in [Alg::Rs256, Alg::Es256] {
        let tokens = idp.login(&Login::new("alice").alg(alg));
        let at = verify(idp, &tokens.access_token, AUDIENCE);
        assert_eq!(at["sub"], "alice");
        let id = verify(idp, &tokens.id_token, "tester");
        assert_eq!(id["nonce"], tokens.nonce.as_str());
    }
}

#[test]
fn stepup_client_with_client_secret_post() {
    let idp = start();
    let tokens = idp.login(&Login::new("bob").client("stepup").client_secret_post());
    let id = verify(idp, &tokens.id_token, "stepup");
    assert_eq!(id["email"], "bob@example.com");
    assert_eq!(jwt_claims(&tokens.access_token)["client_id"], "stepup");
}
