//! What an authenticator app means beyond its own mutations: the mails that
//! tell the account's owner of each change, and the server's key for the
//! sealed secrets (refusing to start without it once one exists).

use std::time::Duration;

use sns_api::app::App;

use crate::common::*;
use crate::mfa_totp::Account;
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
    let new = crate::mfa_totp::recovery_codes(&codes_after);
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

/// The configured key, enough bytes.
const KEY: &str = "a-totp-encryption-key-of-32-bytes-or-more";

#[tokio::test]
#[ignore = "needs PostgreSQL: TEST_DATABASE_URL=postgres://…"]
async fn without_its_key_the_server_starts_only_while_no_account_has_totp() {
    let db = TestDb::fresh().await;
    assert!(db.server().is_some(), "TEST_DATABASE_URL names a server");

    // No key, no TOTP: it starts, and enrolling says what is missing.
    let app = TestApp::spawn(&db).await;
    let a = Account::new(&app, "totp-nokey").await;
    let body = app.enroll(&a.token).await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    assert!(body.to_string().contains("TOTP_ENCRYPTION_KEY"), "{body}");
    app.stop().await;

    // With the key, an account turns TOTP on.
    let mut keyed = config_for(&db);
    keyed.mfa.totp_encryption_key = Some(KEY.into());
    let app = TestApp::spawn_with(keyed.clone()).await;
    app.totp_on(&a.token).await;
    app.stop().await;

    let refused = App::build(config_for(&db)).await;
    let error = format!("{:#}", refused.err().expect("no start without the key"));
    assert!(error.contains("TOTP_ENCRYPTION_KEY"), "{error}");

    let app = TestApp::spawn_with(keyed).await;
    assert!(app.mfa_enabled(&a.token).await, "the secret is kept");
}
