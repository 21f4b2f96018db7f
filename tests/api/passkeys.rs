//! Passkeys over the API, every path an authenticator is not needed for:
//! the options begun, the challenge rules (unknown, expired, used, another
//! account's or another ceremony's), malformed answers, removal, and the
//! account's deletion. The whole ceremony with an authenticator is proved
//! in tests/clients (Chromium's virtual authenticator).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::{Value, json};
use sns_api::entity::{mail_outbox, passkey, webauthn_challenge};
use uuid::Uuid;

use crate::common::*;

const BEGIN_REGISTRATION: &str = "mutation { beginPasskeyRegistration { challengeId options } }";
const FINISH_REGISTRATION: &str = "mutation($i: FinishPasskeyRegistrationInput!) {
    finishPasskeyRegistration(input: $i) {
        passkey { id name } errors { code field }
    }
}";
const BEGIN_LOGIN: &str = "mutation { beginPasskeyLogin { challengeId options } }";
const FINISH_LOGIN: &str = "mutation($i: FinishPasskeyLoginInput!) {
    finishPasskeyLogin(input: $i) { accessToken errors { code field } }
}";
const REMOVE: &str = "mutation($id: ID!) {
    removePasskey(id: $id) { passkey { id name } errors { code field } }
}";

/// Shaped like `navigator.credentials.create()`'s answer, but signed by nobody.
fn forged_registration() -> Value {
    json!({
        "id": "AAAA", "rawId": "AAAA", "type": "public-key",
        "response": {"attestationObject": "AAAA", "clientDataJSON": "AAAA"},
    })
}

/// Shaped like `navigator.credentials.get()`'s answer, naming `user` (the
/// user handle) if given, but signed by nobody.
fn forged_assertion(user: Option<Uuid>) -> Value {
    json!({
        "id": "AAAA", "rawId": "AAAA", "type": "public-key",
        "response": {
            "authenticatorData": "AAAA", "clientDataJSON": "AAAA", "signature": "AAAA",
            "userHandle": user.map(|u| URL_SAFE_NO_PAD.encode(u.as_bytes())),
        },
    })
}

impl TestApp {
    /// `beginPasskeyRegistration` as `token`: (challenge id, options).
    async fn begin_registration(&self, token: &str) -> (String, Value) {
        let body = self.gql(BEGIN_REGISTRATION, json!({}), Some(token)).await;
        let begun = &body["data"]["beginPasskeyRegistration"];
        assert!(begun["challengeId"].is_string(), "{body}");
        (
            begun["challengeId"].as_str().unwrap().to_owned(),
            begun["options"].clone(),
        )
    }

    /// `finishPasskeyRegistration`'s whole response.
    async fn finish_registration(&self, token: &str, challenge: &str, credential: Value) -> Value {
        self.gql(
            FINISH_REGISTRATION,
            json!({"i": {"challengeId": challenge, "credential": credential, "name": "laptop"}}),
            Some(token),
        )
        .await
    }

    async fn begin_login(&self) -> (String, Value) {
        let body = self.gql(BEGIN_LOGIN, json!({}), None).await;
        let begun = &body["data"]["beginPasskeyLogin"];
        assert!(begun["challengeId"].is_string(), "{body}");
        (
            begun["challengeId"].as_str().unwrap().to_owned(),
            begun["options"].clone(),
        )
    }

    async fn finish_login(&self, challenge: &str, credential: Value) -> Value {
        self.gql(
            FINISH_LOGIN,
            json!({"i": {"challengeId": challenge, "credential": credential}}),
            None,
        )
        .await
    }

    async fn user_id(&self, token: &str) -> Uuid {
        let me = self.me(token).await;
        me["data"]["me"]["id"].as_str().unwrap().parse().unwrap()
    }

    /// A passkey row as a registration stores it (its credential is not
    /// read by listing or removing).
    async fn stored_passkey(&self, user: Uuid, name: &str) -> Uuid {
        let id = Uuid::now_v7();
        passkey::Entity::insert(passkey::ActiveModel {
            id: Set(id),
            user_id: Set(user),
            credential_hash: Set(format!("{:064x}", id.as_u128())),
            credential: Set("{}".into()),
            name: Set(Some(name.into())),
            created_at: Set(Utc::now()),
            last_used_at: Set(None),
        })
        .exec_without_returning(&self.db)
        .await
        .unwrap();
        id
    }
}

/// The payload's errors as `(code, field path)`.
fn problems(payload: &Value) -> Vec<(String, Value)> {
    payload["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("a payload: {payload}"))
        .iter()
        .map(|e| (e["code"].as_str().unwrap().to_owned(), e["field"].clone()))
        .collect()
}

fn invalid_challenge() -> Vec<(String, Value)> {
    vec![("INVALID_TOKEN".into(), json!(["input", "challengeId"]))]
}

fn invalid_credential() -> Vec<(String, Value)> {
    vec![("INVALID_CREDENTIALS".into(), json!(["input", "credential"]))]
}

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

#[tokio::test]
async fn removing_a_passkey_answers_it_mails_the_account_and_refuses_others() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let email = unique_email("pk-remove");
    let token = app.signed_up(&email).await;
    let user = app.user_id(&token).await;
    let other = app.signed_up(&unique_email("pk-stranger")).await;
    let other_user = app.user_id(&other).await;
    let older = app.stored_passkey(user, "phone").await;
    let newer = app.stored_passkey(user, "laptop").await;
    let theirs = app.stored_passkey(other_user, "theirs").await;

    let listed = app
        .gql("{ me { passkeys { id name } } }", json!({}), Some(&token))
        .await;
    assert_eq!(
        listed["data"]["me"]["passkeys"],
        json!([{"id": newer.to_string(), "name": "laptop"},
               {"id": older.to_string(), "name": "phone"}]),
        "newest first: {listed}"
    );

    let not_found = vec![("NOT_FOUND".to_owned(), json!(["id"]))];
    for id in [
        "not-a-uuid".to_owned(),
        Uuid::now_v7().to_string(),
        theirs.to_string(),
    ] {
        let body = app.gql(REMOVE, json!({"id": id}), Some(&token)).await;
        assert_eq!(
            problems(&body["data"]["removePasskey"]),
            not_found,
            "{id}: {body}"
        );
    }
    let body = app
        .gql(REMOVE, json!({"id": older.to_string()}), Some(&token))
        .await;
    let payload = &body["data"]["removePasskey"];
    assert_eq!(payload["errors"], json!([]), "{body}");
    assert_eq!(
        payload["passkey"],
        json!({"id": older.to_string(), "name": "phone"})
    );
    let again = app
        .gql(REMOVE, json!({"id": older.to_string()}), Some(&token))
        .await;
    assert_eq!(problems(&again["data"]["removePasskey"]), not_found);

    let mails = mail_outbox::Entity::find()
        .filter(mail_outbox::Column::Recipient.eq(email.to_lowercase()))
        .filter(mail_outbox::Column::Subject.eq("A passkey was removed from your account"))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(mails, 1, "one notice, for the one removal");
    let left = passkey::Entity::find().count(&app.db).await.unwrap();
    assert_eq!(left, 2, "the newer one and the other account's stay");
    let anonymous = app
        .gql(REMOVE, json!({"id": newer.to_string()}), None)
        .await;
    assert_eq!(error_codes(&anonymous), ["UNAUTHENTICATED"]);
    app.stop().await;
}

#[tokio::test]
async fn deleting_an_account_leaves_none_of_its_passkeys_or_ceremonies() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up(&unique_email("pk-delete")).await;
    let user = app.user_id(&token).await;
    app.begin_registration(&token).await;
    app.stored_passkey(user, "laptop").await;
    let body = app
        .gql(
            "mutation($i: DeleteAccountInput!) { deleteAccount(input: $i) { deleted errors { code } } }",
            json!({"i": {"currentPassword": PASSWORD}}),
            Some(&token),
        )
        .await;
    assert_eq!(body["data"]["deleteAccount"]["deleted"], true, "{body}");
    let passkeys = passkey::Entity::find()
        .filter(passkey::Column::UserId.eq(user))
        .count(&app.db)
        .await
        .unwrap();
    let ceremonies = webauthn_challenge::Entity::find()
        .filter(webauthn_challenge::Column::UserId.eq(user))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!((passkeys, ceremonies), (0, 0));
    app.stop().await;
}
