//! Every way a presented token can be bad answers UNAUTHENTICATED, for the
//! whole request. Forged tokens start from a real token's claims; the
//! unchanged forgery is accepted, so each refusal is about what it changed.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use crate::common::*;

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

fn sign(alg: Algorithm, secret: &[u8], header: &Value, claims: &Value) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &EncodingKey::from_secret(secret), alg)
        .unwrap();
    format!("{input}.{sig}")
}

fn forge(header: &Value, claims: &Value) -> String {
    sign(Algorithm::HS256, SECRET.as_bytes(), header, claims)
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn header() -> Value {
    json!({"alg": "HS256", "typ": "at+jwt"})
}

#[tokio::test]
async fn every_bad_token_is_unauthenticated() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let real = app.signed_up(&unique_email("forged")).await;
    let base = claims_of(&real);
    let now = chrono::Utc::now().timestamp();

    let accepted = forge(&header(), &base);
    assert!(
        app.me(&accepted).await["data"]["me"].is_object(),
        "the unchanged forgery is valid"
    );

    let with = |k: &str, v: Value| {
        let mut c = base.clone();
        c[k] = v;
        forge(&header(), &c)
    };
    let without = |k: &str| {
        let mut c = base.clone();
        c.as_object_mut().unwrap().remove(k);
        forge(&header(), &c)
    };
    let with_header = |k: &str, v: Value| {
        let mut h = header();
        h[k] = v;
        forge(&h, &base)
    };

    let mut cases: Vec<(String, String)> = vec![
        ("malformed".into(), "not-a-token".into()),
        (
            "two segments".into(),
            real.rsplit_once('.').unwrap().0.to_owned(),
        ),
        (
            "bad signature".into(),
            format!("{}x", &real[..real.len() - 1]),
        ),
        (
            "other key".into(),
            sign(
                Algorithm::HS256,
                b"another-key-another-key-another-key!",
                &header(),
                &base,
            ),
        ),
        (
            "alg none".into(),
            format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "typ": "at+jwt"})),
                b64(&base)
            ),
        ),
        (
            "alg HS512".into(),
            sign(
                Algorithm::HS512,
                SECRET.as_bytes(),
                &json!({"alg": "HS512", "typ": "at+jwt"}),
                &base,
            ),
        ),
        ("typ JWT".into(), with_header("typ", json!("JWT"))),
        ("no typ".into(), {
            let mut h = header();
            h.as_object_mut().unwrap().remove("typ");
            forge(&h, &base)
        }),
        ("expired".into(), with("exp", json!(now - 3600))),
        ("not yet valid".into(), with("nbf", json!(now + 3600))),
        ("wrong iss".into(), with("iss", json!("evil"))),
        ("wrong aud".into(), with("aud", json!("evil"))),
        (
            "string exp".into(),
            with("exp", json!((now + 600).to_string())),
        ),
        ("numeric sub".into(), with("sub", json!(12))),
        ("sub not a uuid".into(), with("sub", json!("alice"))),
        (
            "array sid".into(),
            with("sid", json!([base["sid"].clone()])),
        ),
    ];
    for claim in ["iss", "aud", "sub", "sid", "jti", "iat", "nbf", "exp"] {
        cases.push((format!("missing {claim}"), without(claim)));
    }
    for field in ["kid", "jku", "jwk", "x5u", "x5c", "crit"] {
        cases.push((format!("header {field}"), with_header(field, json!("x"))));
    }
    for (name, token) in &cases {
        let body = app.me(token).await;
        assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{name}: {body}");
        assert_eq!(body["data"]["me"], Value::Null, "{name}");
    }

    for authorization in [
        "",
        "Bearer",
        "Bearer ",
        &format!("Basic {real}"),
        &format!("Token {real}"),
        &format!("Bearer {real} extra"),
    ] {
        let body = app.gql_with_auth("{ me { id } }", authorization).await;
        assert_eq!(
            error_codes(&body),
            ["UNAUTHENTICATED"],
            "Authorization: {authorization:?}"
        );
    }
    app.stop().await;
}

/// A client that sends its stale token along with `login` or `refresh` is
/// not locked out; every field that reads the viewer still refuses it.
#[tokio::test]
async fn a_bad_token_fails_the_fields_that_read_the_viewer_and_no_others() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let email = unique_email("stale");
    app.signed_up(&email).await;
    let body = app
        .gql(
            LOGIN,
            json!({"i": {"email": email, "password": PASSWORD}}),
            Some("garbage"),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["login"]["errors"], json!([]));
    let body = app
        .gql("{ __typename me { id } }", json!({}), Some("garbage"))
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    assert_eq!(body["data"]["__typename"], "Query");
    for op in [
        "{ sessions { id } }",
        "mutation { logout { revokedSessions } }",
    ] {
        let body = app.gql(op, json!({}), Some("garbage")).await;
        assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{op}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_token_of_another_issuer_configuration_is_refused() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up(&unique_email("issuer")).await;
    app.stop().await;
    let mut config = config_for(&db);
    config.tokens.issuer = "other-issuer".into();
    let app = TestApp::spawn_with(config).await;
    assert_eq!(error_codes(&app.me(&token).await), ["UNAUTHENTICATED"]);
    app.stop().await;
}
