//! What bounds the guessing of second factors: wrong codes counted towards
//! the failed-login lock (neither a right password alone nor a reset
//! clearing it), `verifyMfa` counted per address, and expired tickets and
//! ceremonies pruned.

use chrono::Utc;
use sea_orm::{ActiveModelTrait as _, EntityTrait, Set};
use serde_json::json;
use sns_api::config::Config;
use sns_api::entity::{mfa_ticket, webauthn_challenge};
use sns_api::service::mail_token::{self, Kind};
use uuid::Uuid;

use crate::common::*;
use crate::mfa_common::wrong_code;
use crate::mfa_signin::{WithTotp, only_error, refused};

fn locking_config(db: &TestDb) -> Config {
    let mut c = config_for(db);
    c.rate_limits.login_failures = "3/15m".parse().unwrap();
    c
}

#[tokio::test]
async fn a_wrong_code_keeps_the_ticket_and_counts_until_even_the_right_code_is_refused() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn_with(locking_config(&db)).await;
    let a = WithTotp::new(&app, "wrong").await;
    let wrong = wrong_code(&a.secret);

    // A typo keeps the ticket: the right code then completes it.
    let ticket = app.login_ticket(&a.account.email).await;
    let typo = app
        .verified(json!({"ticket": ticket, "code": wrong}), None)
        .await;
    refused(&typo, "INVALID_CODE", "input.code");
    let done = app
        .verified(json!({"ticket": ticket, "code": a.code(0)}), None)
        .await;
    assert_eq!(done["errors"], json!([]), "{done}");

    // Three wrong codes reach the limit: the right one is refused then.
    let ticket = app.login_ticket(&a.account.email).await;
    for _ in 0..3 {
        let payload = app
            .verified(json!({"ticket": ticket, "code": wrong}), None)
            .await;
        refused(&payload, "INVALID_CODE", "input.code");
    }
    let locked = app
        .verified(json!({"ticket": ticket, "code": a.code(1)}), None)
        .await;
    assert_eq!(only_error(&locked).0, "RATE_LIMITED", "{locked}");
    assert!(locked["accessToken"].is_null(), "{locked}");
    let login = app.login_mfa(&a.account.email, PASSWORD).await;
    assert_eq!(only_error(&login).0, "RATE_LIMITED", "{login}");
}

#[tokio::test]
async fn the_right_password_alone_does_not_reset_the_failure_count() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn_with(locking_config(&db)).await;
    let a = WithTotp::new(&app, "count").await;
    for _ in 0..2 {
        let payload = app.login_mfa(&a.account.email, "not-the-password").await;
        assert_eq!(only_error(&payload).0, "INVALID_CREDENTIALS", "{payload}");
    }
    // The password is right, yet the two failures stay: one wrong code
    // more is the third, and locks the account.
    let ticket = app.login_ticket(&a.account.email).await;
    let payload = app
        .verified(
            json!({"ticket": ticket, "code": wrong_code(&a.secret)}),
            None,
        )
        .await;
    refused(&payload, "INVALID_CODE", "input.code");
    let locked = app
        .verified(json!({"ticket": ticket, "code": a.code(0)}), None)
        .await;
    assert_eq!(only_error(&locked).0, "RATE_LIMITED", "{locked}");
}

#[tokio::test]
async fn a_right_second_factor_clears_the_failure_count() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn_with(locking_config(&db)).await;
    let a = WithTotp::new(&app, "clear").await;
    let wrong = wrong_code(&a.secret);
    let ticket = app.login_ticket(&a.account.email).await;
    for _ in 0..2 {
        let payload = app
            .verified(json!({"ticket": ticket, "code": wrong}), None)
            .await;
        refused(&payload, "INVALID_CODE", "input.code");
    }
    let done = app
        .verified(json!({"ticket": ticket, "code": a.code(0)}), None)
        .await;
    assert_eq!(done["errors"], json!([]), "{done}");
    // Two more failures would lock the account had the count stayed.
    let ticket = app.login_ticket(&a.account.email).await;
    for _ in 0..2 {
        let payload = app
            .verified(json!({"ticket": ticket, "code": wrong}), None)
            .await;
        refused(&payload, "INVALID_CODE", "input.code");
    }
    let done = app
        .verified(json!({"ticket": ticket, "code": a.code(1)}), None)
        .await;
    assert_eq!(done["errors"], json!([]), "{done}");
}

#[tokio::test]
async fn verify_mfa_with_a_ticket_counts_towards_the_per_address_limit() {
    let db = TestDb::fresh().await;
    let mut config = config_for(&db);
    config.rate_limits.auth_per_ip = "2/1m".parse().unwrap();
    let app = TestApp::spawn_with(config).await;
    let ticket = "A".repeat(43);
    for _ in 0..2 {
        let payload = app
            .verified(json!({"ticket": ticket, "code": "123456"}), None)
            .await;
        refused(&payload, "INVALID_TOKEN", "input.ticket");
    }
    let limited = app
        .verified(json!({"ticket": ticket, "code": "123456"}), None)
        .await;
    assert_eq!(only_error(&limited).0, "RATE_LIMITED", "{limited}");
    assert!(limited["errors"][0]["retryAfterSeconds"].as_i64().unwrap() > 0);
}

#[tokio::test]
async fn housekeeping_prunes_expired_tickets_and_challenges_only() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let a = WithTotp::new(&app, "prune").await;
    app.login_ticket(&a.account.email).await;
    let now = Utc::now();
    let expired = now - chrono::Duration::seconds(1);
    mfa_ticket::ActiveModel {
        hash: Set("0".repeat(64)),
        user_id: Set(a.account.id),
        amr: Set("pwd".to_owned()),
        created_at: Set(expired - chrono::Duration::minutes(5)),
        expires_at: Set(expired),
    }
    .insert(&app.db)
    .await
    .unwrap();
    for expires_at in [expired, now + chrono::Duration::minutes(5)] {
        webauthn_challenge::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(None),
            kind: Set("login".to_owned()),
            state: Set("{}".to_owned()),
            created_at: Set(now - chrono::Duration::minutes(5)),
            expires_at: Set(expires_at),
        }
        .insert(&app.db)
        .await
        .unwrap();
    }
    let tickets = sns_api::service::mfa::ticket::prune(&app.state).await;
    assert_eq!(tickets.unwrap(), 1, "the expired ticket");
    let challenges = sns_api::service::mfa::passkey::prune_challenges(&app.state).await;
    assert_eq!(challenges.unwrap(), 1, "the expired challenge");
    let tickets = mfa_ticket::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(tickets.len(), 1, "the login's ticket stays");
    assert!(tickets[0].expires_at > now);
    let challenges = webauthn_challenge::Entity::find()
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(challenges.len(), 1);
    assert!(challenges[0].expires_at > now);
}

#[tokio::test]
async fn a_reset_with_totp_on_leaves_the_failure_count_to_the_second_factor() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn_with(locking_config(&db)).await;
    let a = WithTotp::new(&app, "reset-count").await;
    for _ in 0..2 {
        let payload = app.login_mfa(&a.account.email, "not-the-password").await;
        assert_eq!(only_error(&payload).0, "INVALID_CREDENTIALS", "{payload}");
    }
    let hour = std::time::Duration::from_secs(3600);
    let token = mail_token::issue(&app.db, a.account.id, Kind::Reset, None, hour, Utc::now())
        .await
        .unwrap();
    let reset = app
        .gql(
            "mutation($i: ResetPasswordInput!) { resetPassword(input: $i) { mfaTicket errors { code } } }",
            json!({"i": {"token": token, "newPassword": "a-brand-new-passphrase"}}),
            None,
        )
        .await;
    let ticket = reset["data"]["resetPassword"]["mfaTicket"]
        .as_str()
        .unwrap_or_else(|| panic!("{reset}"))
        .to_owned();
    // The two failures stay: one wrong code more locks the account.
    let payload = app
        .verified(
            json!({"ticket": ticket, "code": wrong_code(&a.secret)}),
            None,
        )
        .await;
    refused(&payload, "INVALID_CODE", "input.code");
    let locked = app
        .verified(json!({"ticket": ticket, "code": a.code(0)}), None)
        .await;
    assert_eq!(only_error(&locked).0, "RATE_LIMITED", "{locked}");
}
