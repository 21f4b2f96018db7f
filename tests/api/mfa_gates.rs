//! Assurance levels at work: stepping a session up with `verifyMfa` and a
//! token, the `aal2` gates of the sensitive mutations once a factor is
//! enrolled, and `resetPassword` not bypassing the second factor.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use sns_api::entity::session;
use sns_api::service::mail_token::{self, Kind};

use crate::common::*;
use crate::mfa_common::{Account, wrong_code};
use crate::mfa_signin::{WithTotp, aal1, aal2, claims, level, only_error};

const NEW_PASSWORD: &str = "a-brand-new-passphrase";

const CHANGE_PASSWORD: &str = "mutation($i: ChangePasswordInput!) { changePassword(input: $i) { accessToken refreshToken mfaTicket errors { code field } } }";
const CHANGE_EMAIL: &str =
    "mutation($i: ChangeEmailInput!) { changeEmail(input: $i) { errors { code field } } }";
const DELETE: &str = "mutation($i: DeleteAccountInput!) { deleteAccount(input: $i) { deleted errors { code field } } }";
const DISABLE: &str = "mutation($i: DisableTotpInput!) { disableTotp(input: $i) { mfaEnabled errors { code field } } }";
const REGENERATE: &str =
    "mutation { regenerateRecoveryCodes { recoveryCodes errors { code field } } }";
const RESET: &str = "mutation($i: ResetPasswordInput!) { resetPassword(input: $i) { accessToken refreshToken mfaTicket user { id } errors { code field } } }";

/// The payload of the one mutation in `body`, asserting no top-level error.
fn payload_of(body: &Value, field: &str) -> Value {
    assert!(body.get("errors").is_none(), "{body}");
    body["data"][field].clone()
}

impl TestApp {
    async fn gated_change_password(&self, token: &str, current: &str, new: &str) -> Value {
        let input = json!({"i": {"currentPassword": current, "newPassword": new}});
        payload_of(
            &self.gql(CHANGE_PASSWORD, input, Some(token)).await,
            "changePassword",
        )
    }

    async fn gated_change_email(&self, token: &str, new_email: &str) -> Value {
        let input = json!({"i": {"currentPassword": PASSWORD, "newEmail": new_email}});
        payload_of(
            &self.gql(CHANGE_EMAIL, input, Some(token)).await,
            "changeEmail",
        )
    }

    async fn gated_delete_account(&self, token: &str, password: &str) -> Value {
        let input = json!({"i": {"currentPassword": password}});
        payload_of(&self.gql(DELETE, input, Some(token)).await, "deleteAccount")
    }

    async fn gated_disable(&self, token: &str, password: &str, code: &str) -> Value {
        let input = json!({"i": {"currentPassword": password, "code": code}});
        payload_of(&self.gql(DISABLE, input, Some(token)).await, "disableTotp")
    }

    async fn gated_regenerate(&self, token: &str) -> Value {
        payload_of(
            &self.gql(REGENERATE, json!({}), Some(token)).await,
            "regenerateRecoveryCodes",
        )
    }

    /// Steps the session of `token` up with `code`; answers the new pair.
    async fn stepped_up(&self, token: &str, code: &str) -> (String, String) {
        let payload = self.verified(json!({"code": code}), Some(token)).await;
        assert_eq!(payload["errors"], json!([]), "{payload}");
        pair(&payload)
    }
}

fn mfa_required(payload: &Value) {
    assert_eq!(
        only_error(payload),
        ("MFA_REQUIRED".to_owned(), String::new()),
        "{payload}"
    );
    assert!(payload["mfaTicket"].is_null(), "no ticket: {payload}");
}

#[tokio::test]
async fn a_step_up_raises_the_same_session_while_the_older_token_stays_aal1() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let a = WithTotp::new(&app, "stepup").await;
    let old = a.account.token.clone();
    assert_eq!(level(&old), aal1(), "confirming changes no level");

    let wrong = app
        .verified(json!({"code": wrong_code(&a.secret)}), Some(&old))
        .await;
    assert_eq!(
        only_error(&wrong),
        ("INVALID_CODE".to_owned(), "input.code".to_owned())
    );
    assert!(wrong["accessToken"].is_null(), "{wrong}");

    let (access, refresh) = app.stepped_up(&old, &a.code(0)).await;
    assert_eq!(level(&access), aal2());
    assert_eq!(
        claims(&access)["sid"],
        claims(&old)["sid"],
        "the same session"
    );
    assert_eq!(level(&old), aal1());
    // The older token is still good, and still only aal1 at the gates.
    assert_eq!(app.me(&old).await["data"]["me"]["id"], json!(a.account.id));
    mfa_required(
        &app.gated_change_password(&old, PASSWORD, NEW_PASSWORD)
            .await,
    );
    let refreshed = app.refresh(&refresh).await;
    assert_eq!(level(&pair(&refreshed).0), aal2(), "{refreshed}");

    // No ticket and no token: who is to step up?
    let anonymous = app.verify_mfa(json!({"code": a.code(1)}), None).await;
    assert_eq!(error_codes(&anonymous), ["UNAUTHENTICATED"], "{anonymous}");
    // Without TOTP there is nothing to step up with.
    let plain = Account::new(&app, "stepup-plain").await;
    let payload = app
        .verified(json!({"code": "123456"}), Some(&plain.token))
        .await;
    assert_eq!(only_error(&payload).0, "NOT_ALLOWED", "{payload}");
}

#[tokio::test]
async fn with_totp_on_each_sensitive_mutation_needs_aal2_and_works_after_a_step_up() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let a = WithTotp::new(&app, "gates").await;
    let aal1_token = a.account.token.clone();
    let new_email = unique_email("gates-new");
    mfa_required(
        &app.gated_change_password(&aal1_token, PASSWORD, NEW_PASSWORD)
            .await,
    );
    mfa_required(&app.gated_change_email(&aal1_token, &new_email).await);
    mfa_required(&app.gated_delete_account(&aal1_token, PASSWORD).await);
    mfa_required(
        &app.gated_disable(&aal1_token, PASSWORD, &wrong_code(&a.secret))
            .await,
    );
    mfa_required(&app.gated_regenerate(&aal1_token).await);
    assert_eq!(
        app.me(&aal1_token).await["data"]["me"]["id"],
        json!(a.account.id)
    );

    let (aal2_token, _) = app.stepped_up(&aal1_token, &a.code(0)).await;
    let codes = app.gated_regenerate(&aal2_token).await;
    assert_eq!(codes["errors"], json!([]), "{codes}");
    assert_eq!(codes["recoveryCodes"].as_array().unwrap().len(), 10);
    let changing = app.gated_change_email(&aal2_token, &new_email).await;
    assert_eq!(changing["errors"], json!([]), "{changing}");
    let changed = app
        .gated_change_password(&aal2_token, PASSWORD, NEW_PASSWORD)
        .await;
    assert_eq!(changed["errors"], json!([]), "{changed}");
    let (after_change, _) = pair(&changed);
    assert_eq!(
        level(&after_change),
        aal2(),
        "a password change keeps the level"
    );
    let off = app
        .gated_disable(&after_change, NEW_PASSWORD, &a.code(1))
        .await;
    assert_eq!(off["errors"], json!([]), "{off}");
    assert_eq!(off["mfaEnabled"], false);
    // No factor left: an aal1 token passes the gates again.
    let again = app.login(&a.account.email, NEW_PASSWORD).await;
    assert_eq!(level(&pair(&again).0), aal1());

    // deleteAccount, at aal2 with TOTP on.
    let b = WithTotp::new(&app, "gates-delete").await;
    let (b_aal2, _) = app.stepped_up(&b.account.token, &b.code(0)).await;
    let deleted = app.gated_delete_account(&b_aal2, PASSWORD).await;
    assert_eq!(deleted["errors"], json!([]), "{deleted}");
    assert_eq!(deleted["deleted"], true);
}

#[tokio::test]
async fn a_passkey_alone_is_a_factor_that_the_gates_ask_for() {
    use sea_orm::{ActiveModelTrait as _, Set};
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let a = Account::new(&app, "passkey-gate").await;
    // The gate reads only that a passkey exists, never its credential.
    sns_api::entity::passkey::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        user_id: Set(a.id),
        credential_hash: Set("0".repeat(64)),
        credential: Set("{}".to_owned()),
        name: Set(None),
        created_at: Set(chrono::Utc::now()),
        last_used_at: Set(None),
    }
    .insert(&app.db)
    .await
    .unwrap();
    mfa_required(
        &app.gated_change_password(&a.token, PASSWORD, NEW_PASSWORD)
            .await,
    );
    mfa_required(&app.gated_change_email(&a.token, &unique_email("pk")).await);
    mfa_required(&app.gated_delete_account(&a.token, PASSWORD).await);
    // Nor may an aal1 session add a factor of its own: a stolen one would
    // turn TOTP on with its own app, then step up with it.
    let secret = app.enrolled(&a.token).await;
    crate::otp::settled_now().await;
    mfa_required(&app.confirm(&a.token, &crate::otp::now_code(&secret)).await);
}

#[tokio::test]
async fn with_totp_on_an_aal1_session_cannot_add_a_passkey() {
    const BEGIN: &str = "mutation { beginPasskeyRegistration { challengeId } }";
    const FINISH: &str = "mutation($i: FinishPasskeyRegistrationInput!) { finishPasskeyRegistration(input: $i) { passkey { id } errors { code field } } }";
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let a = WithTotp::new(&app, "pk-after-totp").await;
    let token = a.account.token.clone();
    assert_eq!(level(&token), aal1());
    let begun = app.gql(BEGIN, json!({}), Some(&token)).await;
    let challenge = begun["data"]["beginPasskeyRegistration"]["challengeId"].clone();
    assert!(challenge.is_string(), "{begun}");
    let input = json!({"i": {"challengeId": challenge, "credential": {}}});
    let finished = app.gql(FINISH, input.clone(), Some(&token)).await;
    mfa_required(&payload_of(&finished, "finishPasskeyRegistration"));
    // Stepped up, the gate lets it through to the credential's own check.
    let (raised, _) = app.stepped_up(&token, &a.code(0)).await;
    assert_eq!(level(&raised), aal2());
    let body = app.gql(FINISH, input, Some(&raised)).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body}"
    );
}

#[tokio::test]
async fn without_a_confirmed_factor_the_sensitive_mutations_work_at_aal1() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let a = Account::new(&app, "nofactor").await;
    // An enrollment not confirmed is not a factor yet.
    app.enrolled(&a.token).await;
    assert_eq!(level(&a.token), aal1());
    let changing = app
        .gated_change_email(&a.token, &unique_email("nofactor"))
        .await;
    assert_eq!(changing["errors"], json!([]), "{changing}");
    let changed = app
        .gated_change_password(&a.token, PASSWORD, NEW_PASSWORD)
        .await;
    assert_eq!(changed["errors"], json!([]), "{changed}");
    let (token, _) = pair(&changed);
    let deleted = app.gated_delete_account(&token, NEW_PASSWORD).await;
    assert_eq!(deleted["errors"], json!([]), "{deleted}");
    assert_eq!(deleted["deleted"], true);
}

#[tokio::test]
async fn a_reset_with_totp_on_ends_every_session_and_asks_for_the_second_factor() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let a = WithTotp::new(&app, "reset").await;
    let ticket = app.login_ticket(&a.account.email).await;
    let signed_in = app
        .verified(json!({"ticket": ticket, "code": a.code(0)}), None)
        .await;
    let (aal2_token, _) = pair(&signed_in);

    let now = chrono::Utc::now();
    let hour = std::time::Duration::from_secs(3600);
    let token = mail_token::issue(&app.db, a.account.id, Kind::Reset, None, hour, now)
        .await
        .unwrap();
    let input = json!({"i": {"token": token, "newPassword": NEW_PASSWORD}});
    let reset = payload_of(&app.gql(RESET, input, None).await, "resetPassword");
    assert_eq!(
        only_error(&reset),
        ("MFA_REQUIRED".to_owned(), String::new()),
        "{reset}"
    );
    assert!(reset["accessToken"].is_null(), "{reset}");
    assert!(reset["refreshToken"].is_null(), "{reset}");
    let reset_ticket = reset["mfaTicket"].as_str().expect("a ticket").to_owned();

    // Every session ended, and the email alone opened none.
    app.until_refused(&a.account.token).await;
    app.until_refused(&aal2_token).await;
    let live = session::Entity::find()
        .filter(session::Column::UserId.eq(a.account.id))
        .filter(session::Column::RevokedAt.is_null())
        .all(&app.db)
        .await
        .unwrap();
    assert!(live.is_empty(), "{live:?}");

    let done = app
        .verified(json!({"ticket": reset_ticket, "code": a.code(1)}), None)
        .await;
    assert_eq!(done["errors"], json!([]), "{done}");
    assert_eq!(level(&pair(&done).0), aal2());
    // The new password is the one, and it still asks for the second factor.
    let old = app.login_mfa(&a.account.email, PASSWORD).await;
    assert_eq!(only_error(&old).0, "INVALID_CREDENTIALS", "{old}");
    let new = app.login_mfa(&a.account.email, NEW_PASSWORD).await;
    assert_eq!(only_error(&new).0, "MFA_REQUIRED", "{new}");
    assert!(new["mfaTicket"].is_string(), "{new}");
}
