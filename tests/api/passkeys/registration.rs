//! Registering: the options begun, and every way a finish is refused
//! without an authenticator (challenge, credential, name).

use super::*;

#[tokio::test]
async fn a_registration_begins_with_options_for_a_resident_key_of_this_account() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let email = unique_email("pk-begin");
    let token = app.signed_up(&email).await;
    let user = app.user_id(&token).await;

    let (challenge, options) = app.begin_registration(&token).await;
    assert!(
        options.get("publicKey").is_none(),
        "the inner options: {options}"
    );
    let nonce = URL_SAFE_NO_PAD
        .decode(options["challenge"].as_str().expect("a challenge"))
        .expect("base64url");
    assert!(nonce.len() >= 16, "a random challenge: {options}");
    assert_eq!(options["rp"]["id"], "localhost");
    let handle = URL_SAFE_NO_PAD
        .decode(options["user"]["id"].as_str().expect("a user handle"))
        .expect("base64url");
    assert_eq!(handle, user.as_bytes(), "the handle is the account's id");
    assert_eq!(options["user"]["name"], email.to_lowercase());
    assert_eq!(options["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(
        options["authenticatorSelection"]["requireResidentKey"],
        true
    );
    assert_eq!(
        options["authenticatorSelection"]["userVerification"],
        "required"
    );
    assert_eq!(options["excludeCredentials"], json!([]));

    let row = webauthn_challenge::Entity::find_by_id(challenge.parse::<Uuid>().unwrap())
        .one(&app.db)
        .await
        .unwrap()
        .expect("the ceremony is stored");
    assert_eq!((row.kind.as_str(), row.user_id), ("register", Some(user)));
    assert_eq!(
        row.expires_at - row.created_at,
        chrono::Duration::minutes(5)
    );

    let anonymous = app.gql(BEGIN_REGISTRATION, json!({}), None).await;
    assert_eq!(error_codes(&anonymous), ["UNAUTHENTICATED"]);
    app.stop().await;
}

#[tokio::test]
async fn a_registration_with_an_unknown_or_expired_challenge_is_an_invalid_token() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up(&unique_email("pk-expired")).await;
    for unknown in ["not-a-uuid", &Uuid::now_v7().to_string()] {
        let body = app
            .finish_registration(&token, unknown, forged_registration())
            .await;
        assert_eq!(
            problems(&body["data"]["finishPasskeyRegistration"]),
            invalid_challenge(),
            "{unknown}: {body}"
        );
    }

    let (challenge, _) = app.begin_registration(&token).await;
    webauthn_challenge::Entity::update_many()
        .col_expr(
            webauthn_challenge::Column::ExpiresAt,
            Expr::value(Utc::now() - chrono::Duration::seconds(1)),
        )
        .filter(webauthn_challenge::Column::Id.eq(challenge.parse::<Uuid>().unwrap()))
        .exec(&app.db)
        .await
        .unwrap();
    let body = app
        .finish_registration(&token, &challenge, forged_registration())
        .await;
    assert_eq!(
        problems(&body["data"]["finishPasskeyRegistration"]),
        invalid_challenge(),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_malformed_credential_is_bad_input_and_a_refused_one_ends_the_ceremony() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up(&unique_email("pk-forged")).await;
    let (challenge, _) = app.begin_registration(&token).await;

    for malformed in [json!({"id": 1}), json!("a string"), json!([])] {
        let body = app.finish_registration(&token, &challenge, malformed).await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("PublicKeyCredential"), "{message}");
    }
    // The malformed ones did not use the challenge: a forged answer is
    // checked against it, and refused.
    let body = app
        .finish_registration(&token, &challenge, forged_registration())
        .await;
    let payload = &body["data"]["finishPasskeyRegistration"];
    assert_eq!(problems(payload), invalid_credential(), "{body}");
    assert_eq!(payload["passkey"], Value::Null);
    // A refused answer ends the ceremony: the challenge is not tried twice.
    let again = app
        .finish_registration(&token, &challenge, forged_registration())
        .await;
    assert_eq!(
        problems(&again["data"]["finishPasskeyRegistration"]),
        invalid_challenge(),
        "{again}"
    );
    assert_eq!(passkey::Entity::find().count(&app.db).await.unwrap(), 0);
    app.stop().await;
}

#[tokio::test]
async fn a_registration_challenge_is_finished_by_its_own_account_only() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let owner = app.signed_up(&unique_email("pk-owner")).await;
    let other = app.signed_up(&unique_email("pk-other")).await;
    let (challenge, _) = app.begin_registration(&owner).await;

    let body = app
        .finish_registration(&other, &challenge, forged_registration())
        .await;
    assert_eq!(
        problems(&body["data"]["finishPasskeyRegistration"]),
        invalid_challenge(),
        "{body}"
    );
    // Nor does a sign-in finish a registration's ceremony.
    let body = app.finish_login(&challenge, forged_assertion(None)).await;
    assert_eq!(
        problems(&body["data"]["finishPasskeyLogin"]),
        invalid_challenge(),
        "{body}"
    );
    // Neither attempt used it up: its owner's answer is still checked.
    let body = app
        .finish_registration(&owner, &challenge, forged_registration())
        .await;
    assert_eq!(
        problems(&body["data"]["finishPasskeyRegistration"]),
        invalid_credential(),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_passkey_name_over_64_characters_is_too_long() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up(&unique_email("pk-name")).await;
    let (challenge, _) = app.begin_registration(&token).await;
    let body = app
        .gql(
            FINISH_REGISTRATION,
            json!({"i": {"challengeId": challenge, "credential": forged_registration(),
                         "name": format!(" {} ", "n".repeat(65))}}),
            Some(&token),
        )
        .await;
    assert_eq!(
        problems(&body["data"]["finishPasskeyRegistration"]),
        vec![("TEXT_TOO_LONG".to_owned(), json!(["input", "name"]))],
        "{body}"
    );
    app.stop().await;
}
