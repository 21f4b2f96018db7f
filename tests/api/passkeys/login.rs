//! Signing in: no token, no credential named, forged answers refused,
//! attempts counted against the address.

use super::*;

#[tokio::test]
async fn a_passkey_sign_in_needs_no_token_and_names_no_credential() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let (challenge, options) = app.begin_login().await;
    assert!(
        options.get("publicKey").is_none(),
        "the inner options: {options}"
    );
    assert!(options["challenge"].is_string(), "{options}");
    assert_eq!(options["rpId"], "localhost");
    assert_eq!(options["userVerification"], "required");
    let allowed = &options["allowCredentials"];
    assert!(
        allowed.is_null() || allowed == &json!([]),
        "a discoverable credential is asked for: {options}"
    );
    let row = webauthn_challenge::Entity::find_by_id(challenge.parse::<Uuid>().unwrap())
        .one(&app.db)
        .await
        .unwrap()
        .expect("the ceremony is stored");
    assert_eq!((row.kind.as_str(), row.user_id), ("login", None));

    // No user handle, or one of an account without passkeys: refused, as
    // the same error, each ending its ceremony.
    let token = app.signed_up(&unique_email("pk-none")).await;
    let user = app.user_id(&token).await;
    for forged in [forged_assertion(None), forged_assertion(Some(user))] {
        let (challenge, _) = app.begin_login().await;
        let body = app.finish_login(&challenge, forged.clone()).await;
        let payload = &body["data"]["finishPasskeyLogin"];
        assert_eq!(problems(payload), invalid_credential(), "{body}");
        assert_eq!(payload["accessToken"], Value::Null);
        let again = app.finish_login(&challenge, forged).await;
        assert_eq!(
            problems(&again["data"]["finishPasskeyLogin"]),
            invalid_challenge(),
            "{again}"
        );
    }
    let body = app.finish_login(&challenge, json!({"rawId": 7})).await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    let body = app.finish_login("nope", forged_assertion(None)).await;
    assert_eq!(
        problems(&body["data"]["finishPasskeyLogin"]),
        invalid_challenge()
    );
    app.stop().await;
}

#[tokio::test]
async fn passkey_sign_in_attempts_count_against_the_address() {
    let db = TestDb::fresh().await;
    let mut config = config_for(&db);
    config.rate_limits.auth_per_ip = "2/1m".parse().unwrap();
    let app = TestApp::spawn_with(config).await;
    for _ in 0..2 {
        let (challenge, _) = app.begin_login().await;
        let body = app.finish_login(&challenge, forged_assertion(None)).await;
        assert_eq!(
            problems(&body["data"]["finishPasskeyLogin"]),
            invalid_credential()
        );
    }
    let (challenge, _) = app.begin_login().await;
    let body = app.finish_login(&challenge, forged_assertion(None)).await;
    let codes = payload_codes(&body["data"]["finishPasskeyLogin"]);
    assert_eq!(codes, ["RATE_LIMITED"], "{body}");
    app.stop().await;
}
