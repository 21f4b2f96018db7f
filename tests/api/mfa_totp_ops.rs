//! What an authenticator app means beyond its own mutations: the mails that
//! tell the account's owner of each change, and the server's key for the
//! sealed secrets (refusing to start without it once one exists).

use std::time::Duration;

use sns_api::app::App;

use crate::common::*;
use crate::mfa_common::{Account, recovery_codes};
use crate::otp::{code_off, settled_now};
use crate::smtp::SmtpSink;

const ADDED: &str = "An authenticator app was added to your account";
const REMOVED: &str = "The authenticator app was removed from your account";
const RECOVERY_USED: &str = "A recovery code of your account was used";
const REGENERATED: &str = "New recovery codes were made for your account";

#[tokio::test]
async fn each_change_to_the_second_factor_is_mailed_to_the_account() {
    let sink = SmtpSink::start().await;
    let db = TestDb::fresh().await;
    let mut config = config_for(&db);
    config.mail.transport = sink.url().parse().unwrap();
    config.mail.poll_interval = Duration::from_millis(100);
    let app = TestApp::spawn_with(config).await;
    let mut a = Account::new(&app, "totp-mail").await;

    let (_, codes) = app.totp_on(&a.token).await;
    sink.mail_to(&a.email, ADDED).await;
    a.step_up(&app).await;
    let codes_after = app.regenerate(&a.token).await;
    sink.mail_to(&a.email, REGENERATED).await;
    let new = recovery_codes(&codes_after);
    assert_ne!(new, codes);

    let off = app.disable_totp(&a.token, PASSWORD, &new[3]).await;
    assert_eq!(off["errors"], serde_json::json!([]), "{off}");
    let used = sink.mail_to(&a.email, RECOVERY_USED).await;
    assert!(used.body.contains("9 of them are left"), "{}", used.body);
    assert!(
        !used.body.contains(&new[3]),
        "the code itself is never mailed"
    );
    sink.mail_to(&a.email, REMOVED).await;
    // Nothing more (the sign-up's address check aside): the second factor's
    // four changes, one mail each.
    let all = sink.mails();
    let factor: Vec<_> = all
        .iter()
        .filter(|m| m.subject != "Confirm your email address")
        .collect();
    assert_eq!(factor.len(), 4, "{all:#?}");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: TEST_DATABASE_URL=postgres://…"]
async fn without_its_key_the_server_starts_only_while_no_account_has_totp() {
    let db = TestDb::fresh().await;
    assert!(db.server().is_some(), "TEST_DATABASE_URL names a server");
    let keyless = || {
        let mut c = config_for(&db);
        c.mfa.totp_encryption_key = None;
        c
    };

    // No key, no TOTP: it starts, and enrolling says what is missing.
    let app = TestApp::spawn_with(keyless()).await;
    let a = Account::new(&app, "totp-nokey").await;
    let body = app.enroll(&a.token).await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    assert!(body.to_string().contains("TOTP_ENCRYPTION_KEY"), "{body}");
    app.stop().await;

    // With the key, an account turns TOTP on.
    let app = TestApp::spawn(&db).await;
    app.totp_on(&a.token).await;
    app.stop().await;

    let refused = App::build(keyless()).await;
    let error = format!("{:#}", refused.err().expect("no start without the key"));
    assert!(error.contains("TOTP_ENCRYPTION_KEY"), "{error}");

    let app = TestApp::spawn(&db).await;
    assert!(app.mfa_enabled(&a.token).await, "the secret is kept");
}

#[tokio::test]
async fn a_secret_that_does_not_open_is_an_internal_error_not_a_wrong_code() {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    use sns_api::entity::{throttle, totp};
    use sns_api::service::mfa::secret::SecretKey;

    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let mut a = Account::new(&app, "totp-rekeyed").await;
    let (secret, _) = app.totp_on(&a.token).await;
    a.step_up(&app).await;
    // Sealed under another key, as after TOTP_ENCRYPTION_KEY changed.
    let other = SecretKey::derive(b"another-key-another-key-another-key!");
    totp::Entity::update_many()
        .col_expr(totp::Column::Secret, Expr::value(other.seal(a.id, b"x")))
        .filter(totp::Column::UserId.eq(a.id))
        .exec(&app.db)
        .await
        .unwrap();

    settled_now().await;
    let body = app
        .gql(
            crate::mfa_common::DISABLE,
            serde_json::json!({"i": {"currentPassword": PASSWORD, "code": code_off(&secret, 1)}}),
            Some(&a.token),
        )
        .await;
    assert_eq!(error_codes(&body), ["INTERNAL_SERVER_ERROR"], "{body}");
    let failures = throttle::Entity::find_by_id(format!("login:{}", a.email))
        .one(&app.db)
        .await
        .unwrap();
    assert!(failures.is_none(), "not counted against the account");
    assert!(app.mfa_enabled(&a.token).await);
}
