//! EdDSA mode: tokens carry a `kid`, the public keys are served as a JWK
//! Set, several keys verify at once (rotation), and no header field selects
//! a key from outside the configured set.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use serde_json::{Value, json};

use crate::common::*;

fn new_key() -> SigningKey {
    SigningKey::from_bytes(&rand::random::<[u8; 32]>())
}

fn private_pem(k: &SigningKey) -> String {
    k.to_pkcs8_pem(LineEnding::LF).unwrap().to_string()
}

fn public_pem(k: &SigningKey) -> String {
    k.verifying_key().to_public_key_pem(LineEnding::LF).unwrap()
}

async fn eddsa_app(db: &TestDb, private: &SigningKey, also: Option<String>) -> TestApp {
    let mut config = config_for(db);
    config.tokens.secret = None;
    config.tokens.private_key = Some(private_pem(private).into());
    config.tokens.public_keys = also;
    TestApp::spawn_with(config).await
}

fn header_of(token: &str) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap()
}

fn claims_of(token: &str) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap()
}

fn sign_ed(key: &SigningKey, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let der = key.to_pkcs8_der().unwrap();
    let sig = jsonwebtoken::crypto::sign(
        input.as_bytes(),
        &EncodingKey::from_ed_der(der.as_bytes()),
        Algorithm::EdDSA,
    )
    .unwrap();
    format!("{input}.{sig}")
}

#[tokio::test]
async fn eddsa_tokens_carry_a_kid_that_the_jwks_publishes() {
    let db = TestDb::fresh().await;
    let key = new_key();
    let app = eddsa_app(&db, &key, None).await;
    let token = app.signed_up(&unique_email("ed")).await;
    let header = header_of(&token);
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["typ"], "at+jwt");
    assert!(app.me(&token).await["data"]["me"].is_object());

    let jwks: Value = app.get_json("/.well-known/jwks.json").await;
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kid"], header["kid"]);
    assert_eq!(
        (keys[0]["kty"].as_str(), keys[0]["crv"].as_str()),
        (Some("OKP"), Some("Ed25519"))
    );
    // Any JWT library verifies our token from the published JWK alone.
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(keys[0].clone()).unwrap();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["sns-api"]);
    assert!(
        jsonwebtoken::decode::<Value>(&token, &DecodingKey::from_jwk(&jwk).unwrap(), &validation)
            .is_ok()
    );
    app.stop().await;
}

#[tokio::test]
async fn hs256_mode_publishes_no_keys() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    assert_eq!(app.status("/.well-known/jwks.json").await, 404);
    app.stop().await;
}

#[tokio::test]
async fn keys_rotate_without_signing_anyone_out() {
    let db = TestDb::fresh().await;
    let (old, new) = (new_key(), new_key());
    let app = eddsa_app(&db, &old, None).await;
    let (old_token, rt) = app.signed_up_pair(&unique_email("rotate")).await;
    app.stop().await;

    let app = eddsa_app(&db, &new, Some(public_pem(&old))).await;
    assert!(
        app.me(&old_token).await["data"]["me"].is_object(),
        "a token of the previous key still works"
    );
    let refreshed = app.refresh(&rt).await;
    let new_token = refreshed["accessToken"].as_str().unwrap().to_owned();
    assert_ne!(
        header_of(&new_token)["kid"],
        header_of(&old_token)["kid"],
        "new tokens use the new key"
    );
    assert!(app.me(&new_token).await["data"]["me"].is_object());
    let jwks: Value = app.get_json("/.well-known/jwks.json").await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    app.stop().await;

    // Once the old key is dropped from the set, its tokens are refused.
    let app = eddsa_app(&db, &new, None).await;
    assert_eq!(error_codes(&app.me(&old_token).await), ["UNAUTHENTICATED"]);
    app.stop().await;
}

#[tokio::test]
async fn no_header_field_selects_a_key_from_outside_the_set() {
    let db = TestDb::fresh().await;
    let key = new_key();
    let app = eddsa_app(&db, &key, None).await;
    let token = app.signed_up(&unique_email("forge-ed")).await;
    let header = header_of(&token);
    let claims = claims_of(&token);
    assert!(
        app.me(&sign_ed(&key, &header, &claims)).await["data"]["me"].is_object(),
        "the re-signed original is valid"
    );

    let stranger = new_key();
    let mut foreign_kid = header.clone();
    foreign_kid["kid"] = json!("someone-elses-key");
    let mut no_kid = header.clone();
    no_kid.as_object_mut().unwrap().remove("kid");
    let mut with_jwk = header.clone();
    let x = URL_SAFE_NO_PAD.encode(stranger.verifying_key().to_bytes());
    with_jwk["jwk"] = json!({"kty": "OKP", "crv": "Ed25519", "x": x});
    let mut with_jku = header.clone();
    with_jku["jku"] = json!("https://attacker.example/jwks.json");
    // HS256 keyed with the public key's bytes: the algorithm confusion attack.
    let public_bytes = key.verifying_key().to_bytes();
    let hs_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD
            .encode(json!({"alg": "HS256", "typ": "at+jwt", "kid": header["kid"]}).to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let hs_sig = jsonwebtoken::crypto::sign(
        hs_input.as_bytes(),
        &EncodingKey::from_secret(&public_bytes),
        Algorithm::HS256,
    )
    .unwrap();

    let cases = [
        (
            "a stranger's key under our kid",
            sign_ed(&stranger, &header, &claims),
        ),
        ("a foreign kid", sign_ed(&key, &foreign_kid, &claims)),
        ("no kid", sign_ed(&key, &no_kid, &claims)),
        ("an embedded jwk", sign_ed(&stranger, &with_jwk, &claims)),
        ("a jku", sign_ed(&key, &with_jku, &claims)),
        ("HS256 with the public key", format!("{hs_input}.{hs_sig}")),
    ];
    for (name, forged) in &cases {
        assert_eq!(
            error_codes(&app.me(forged).await),
            ["UNAUTHENTICATED"],
            "{name}"
        );
    }
    app.stop().await;
}
