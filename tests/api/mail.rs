//! The account lifecycle over real mail: verification, password reset, email
//! change and deletion, with an in-process SMTP server (`smtp.rs`) receiving
//! what the outbox sends.

use std::time::Duration;

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use sns_api::config::Config;
use sns_api::entity::{mail_outbox, mail_token, session, user};

use crate::common::*;
use crate::smtp::SmtpSink;

const SYNC: Duration = Duration::from_millis(200);
const NEW_PASSWORD: &str = "a-brand-new-passphrase";

const REQUEST_RESET: &str = "mutation($i: RequestPasswordResetInput!) { requestPasswordReset(input: $i) { errors { code field retryAfterSeconds } } }";
const RESET: &str = "mutation($i: ResetPasswordInput!) { resetPassword(input: $i) { accessToken refreshToken user { id email emailVerified } errors { code field } } }";
const VERIFY: &str = "mutation($i: VerifyEmailInput!) { verifyEmail(input: $i) { user { id email emailVerified } errors { code field } } }";
const REQUEST_VERIFY: &str =
    "mutation { requestEmailVerification { errors { code field retryAfterSeconds } } }";
const CHANGE_EMAIL: &str =
    "mutation($i: ChangeEmailInput!) { changeEmail(input: $i) { errors { code field } } }";
const DELETE: &str = "mutation($i: DeleteAccountInput!) { deleteAccount(input: $i) { deleted errors { code field } } }";

const SUBJECT_VERIFY: &str = "Confirm your email address";
const SUBJECT_RESET: &str = "Reset your password";
const SUBJECT_CHANGED: &str = "Your password was changed";
const SUBJECT_NEW_EMAIL: &str = "Confirm your new email address";
const SUBJECT_EMAIL_CHANGING: &str = "Your email address is about to change";

fn mail_config(db: &TestDb, sink: &SmtpSink) -> Config {
    let mut c = config_for(db);
    c.mail.transport = sink.url().parse().unwrap();
    c.mail.poll_interval = Duration::from_millis(100);
    c.mail.retry_backoff = Duration::from_millis(200);
    c.mail.send_timeout = Duration::from_secs(5);
    c.sessions.sync_interval = SYNC;
    // Racing resets hash passwords at once; a loaded machine must not turn
    // that into a 408.
    c.request_timeout = Duration::from_secs(120);
    c
}

async fn setup() -> (TestDb, SmtpSink, TestApp) {
    let sink = SmtpSink::start().await;
    let db = TestDb::fresh().await;
    let app = TestApp::spawn_with(mail_config(&db, &sink)).await;
    (db, sink, app)
}

/// The payload of the one mutation in `body`; asserts there is no top-level error.
fn payload(body: &Value, field: &str) -> Value {
    assert!(body.get("errors").is_none(), "no top-level error: {body}");
    body["data"][field].clone()
}

impl TestApp {
    async fn request_reset(&self, email: &str) -> Value {
        payload(
            &self
                .gql(REQUEST_RESET, json!({"i": {"email": email}}), None)
                .await,
            "requestPasswordReset",
        )
    }

    async fn reset(&self, token: &str, password: &str) -> Value {
        payload(
            &self
                .gql(
                    RESET,
                    json!({"i": {"token": token, "newPassword": password}}),
                    None,
                )
                .await,
            "resetPassword",
        )
    }

    async fn verify(&self, token: &str) -> Value {
        payload(
            &self.gql(VERIFY, json!({"i": {"token": token}}), None).await,
            "verifyEmail",
        )
    }

    async fn change_email(&self, token: &str, password: &str, new_email: &str) -> Value {
        payload(
            &self
                .gql(
                    CHANGE_EMAIL,
                    json!({"i": {"currentPassword": password, "newEmail": new_email}}),
                    Some(token),
                )
                .await,
            "changeEmail",
        )
    }

    async fn delete_account(&self, token: &str, password: &str) -> Value {
        payload(
            &self
                .gql(
                    DELETE,
                    json!({"i": {"currentPassword": password}}),
                    Some(token),
                )
                .await,
            "deleteAccount",
        )
    }
}

/// Forgets every mail sending limit, as an hour passing would.
async fn forget_mail_limits(conn: &DatabaseConnection) {
    use sns_api::entity::throttle;
    throttle::Entity::delete_many()
        .filter(throttle::Column::Key.like("mail%"))
        .exec(conn)
        .await
        .unwrap();
}

/// The failed-login count on record for `email`.
async fn login_failures(conn: &DatabaseConnection, email: &str) -> Option<i32> {
    use sns_api::entity::throttle;
    let row = throttle::Entity::find_by_id(format!("login:{email}"))
        .one(conn)
        .await
        .unwrap();
    row.map(|r| r.hits)
}

/// (outbox rows, mail tokens, users, sessions) in the database.
async fn counts(conn: &DatabaseConnection) -> (u64, u64, u64, u64) {
    (
        mail_outbox::Entity::find().count(conn).await.unwrap(),
        mail_token::Entity::find().count(conn).await.unwrap(),
        user::Entity::find().count(conn).await.unwrap(),
        session::Entity::find().count(conn).await.unwrap(),
    )
}

/// Polls the outbox until `pred` holds of its rows; answers them.
async fn outbox_until(
    conn: &DatabaseConnection,
    what: &str,
    pred: impl Fn(&[mail_outbox::Model]) -> bool,
) -> Vec<mail_outbox::Model> {
    poll_until(what, || async {
        let rows = mail_outbox::Entity::find().all(conn).await.unwrap();
        if pred(&rows) {
            Ok(rows)
        } else {
            Err(format!("{rows:?}"))
        }
    })
    .await
}

/// The claims of an access token (not verified: the server did that).
fn claims(token: &str) -> Value {
    use base64::Engine as _;
    let part = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

#[tokio::test]
async fn a_reset_mail_carries_a_link_whose_token_works_once() {
    let (_db, sink, app) = setup().await;
    let email = unique_email("reset");
    let old_token = app.signed_up(&email).await;
    for _ in 0..2 {
        app.login(&email, "a-forgotten-password").await;
    }
    assert_eq!(login_failures(&app.db, &email).await, Some(2));
    assert_eq!(app.request_reset(&email).await["errors"], json!([]));
    let mail = sink.mail_to(&email, SUBJECT_RESET).await;
    assert!(
        mail.body
            .contains("http://localhost:5173/reset-password?token="),
        "{}",
        mail.body
    );
    let token = mail.token();
    assert_eq!(token.len(), 43, "256 bits in base64url");

    let reset = app.reset(&token, NEW_PASSWORD).await;
    assert_eq!(reset["errors"], json!([]), "{reset}");
    assert_eq!(
        reset["user"]["emailVerified"], true,
        "the mail proved the address"
    );
    let fresh = reset["accessToken"].as_str().unwrap();
    assert!(app.me(fresh).await["data"]["me"].is_object());
    assert_eq!(
        error_codes(&app.me(&old_token).await),
        ["UNAUTHENTICATED"],
        "every earlier session ended"
    );
    assert_eq!(
        payload_codes(&app.reset(&token, "yet-another-passphrase").await),
        ["INVALID_TOKEN"],
        "the token works once"
    );
    assert_eq!(
        login_failures(&app.db, &email).await,
        None,
        "failed logins forgotten"
    );
    assert_eq!(
        payload_codes(&app.login(&email, PASSWORD).await),
        ["INVALID_CREDENTIALS"]
    );
    assert_eq!(app.login(&email, NEW_PASSWORD).await["errors"], json!([]));
    sink.mail_to(&email, SUBJECT_CHANGED).await;
    app.stop().await;
}

#[tokio::test]
async fn two_racing_resets_with_one_token_exactly_one_wins() {
    let (_db, sink, app) = setup().await;
    let email = unique_email("race");
    app.signed_up(&email).await;
    app.request_reset(&email).await;
    let token = sink.mail_to(&email, SUBJECT_RESET).await.token();
    let app = std::sync::Arc::new(app);
    let tries: Vec<_> = (0..4)
        .map(|i| {
            let (app, token) = (app.clone(), token.clone());
            tokio::spawn(async move { app.reset(&token, &format!("{NEW_PASSWORD}-{i}")).await })
        })
        .collect();
    let mut won = Vec::new();
    for t in tries {
        let p = t.await.unwrap();
        if p["errors"] == json!([]) {
            won.push(p);
        } else {
            assert_eq!(payload_codes(&p), ["INVALID_TOKEN"], "{p}");
        }
    }
    assert_eq!(won.len(), 1, "exactly one reset wins: {won:?}");
    if let Ok(app) = std::sync::Arc::try_unwrap(app) {
        app.stop().await;
    }
}

#[tokio::test]
async fn superseded_and_expired_tokens_are_invalid() {
    let (_db, sink, app) = setup().await;
    let email = unique_email("supersede");
    app.signed_up(&email).await;
    app.request_reset(&email).await;
    let first = sink.mail_to(&email, SUBJECT_RESET).await.token();
    forget_mail_limits(&app.db).await;
    app.request_reset(&email).await;
    let mails = sink
        .wait_until("a second reset mail", |m| {
            m.iter().filter(|r| r.subject == SUBJECT_RESET).count() == 2
        })
        .await;
    let second = mails
        .iter()
        .map(|m| m.token())
        .find(|t| m_is_reset(&mails, t) && *t != first)
        .expect("a second token");
    assert_eq!(
        payload_codes(&app.reset(&first, NEW_PASSWORD).await),
        ["INVALID_TOKEN"],
        "superseded by the newer one"
    );
    // Time passes: the newest one expires too.
    let conn = &app.db;
    mail_token::Entity::update_many()
        .col_expr(
            mail_token::Column::ExpiresAt,
            sea_orm::sea_query::Expr::value(chrono::Utc::now() - chrono::Duration::seconds(1)),
        )
        .exec(conn)
        .await
        .unwrap();
    assert_eq!(
        payload_codes(&app.reset(&second, NEW_PASSWORD).await),
        ["INVALID_TOKEN"],
        "expired"
    );
    assert_eq!(app.login(&email, PASSWORD).await["errors"], json!([]));
    app.stop().await;
}

fn m_is_reset(mails: &[crate::smtp::Received], token: &str) -> bool {
    mails
        .iter()
        .any(|m| m.subject == SUBJECT_RESET && m.token() == token)
}

#[tokio::test]
async fn a_followed_verification_link_shows_in_me_and_in_new_tokens() {
    let (_db, sink, app) = setup().await;
    let email = unique_email("verify");
    let token = app.signed_up(&email).await;
    assert_eq!(claims(&token)["email_verified"], false);
    let me = app
        .gql("{ me { emailVerified } }", json!({}), Some(&token))
        .await;
    assert_eq!(me["data"]["me"]["emailVerified"], false);
    let first = sink.mail_to(&email, SUBJECT_VERIFY).await;
    assert!(
        first
            .body
            .contains("http://localhost:5173/verify-email?token=")
    );
    // Asking again a minute later sends a new link; the first one is superseded.
    forget_mail_limits(&app.db).await;
    let again = payload(
        &app.gql(REQUEST_VERIFY, json!({}), Some(&token)).await,
        "requestEmailVerification",
    );
    assert_eq!(again["errors"], json!([]));
    let mails = sink
        .wait_until("a second verification mail", |m| {
            m.iter().filter(|r| r.subject == SUBJECT_VERIFY).count() == 2
        })
        .await;
    let second = mails
        .iter()
        .filter(|m| m.subject == SUBJECT_VERIFY)
        .map(|m| m.token())
        .find(|t| *t != first.token())
        .unwrap();
    assert_eq!(
        payload_codes(&app.verify(&first.token()).await),
        ["INVALID_TOKEN"]
    );
    let verified = app.verify(&second).await;
    assert_eq!(verified["errors"], json!([]), "{verified}");
    assert_eq!(verified["user"]["email"], email.as_str());
    assert_eq!(verified["user"]["emailVerified"], true);
    let me = app
        .gql("{ me { emailVerified } }", json!({}), Some(&token))
        .await;
    assert_eq!(me["data"]["me"]["emailVerified"], true);
    assert_eq!(
        payload_codes(&app.verify(&second).await),
        ["INVALID_TOKEN"],
        "once"
    );
    let login = app.login(&email, PASSWORD).await;
    assert_eq!(
        claims(login["accessToken"].as_str().unwrap())["email_verified"],
        true
    );
    // Verified: asking again sends nothing.
    forget_mail_limits(&app.db).await;
    app.gql(REQUEST_VERIFY, json!({}), Some(&token)).await;
    let (outbox, ..) = counts(&app.db).await;
    assert_eq!(outbox, 2, "the two verification mails only");
    app.stop().await;
}

#[tokio::test]
async fn an_email_change_takes_effect_only_when_its_link_is_followed() {
    let (_db, sink, app) = setup().await;
    let old = unique_email("old");
    let new = unique_email("new");
    let token = app.signed_up(&old).await;
    let other = unique_email("other");
    app.signed_up(&other).await;

    let wrong = app.change_email(&token, "not-my-password", &new).await;
    assert_eq!(payload_codes(&wrong), ["INVALID_CREDENTIALS"]);
    assert_eq!(
        login_failures(&app.db, &old).await,
        Some(1),
        "a failed login"
    );
    assert_eq!(
        wrong["errors"][0]["field"],
        json!(["input", "currentPassword"])
    );
    let bad = app.change_email(&token, PASSWORD, "not an address").await;
    assert_eq!(bad["errors"][0]["field"], json!(["input", "newEmail"]));
    assert_eq!(payload_codes(&bad), ["INVALID_EMAIL"]);
    assert_eq!(
        payload_codes(&app.change_email(&token, PASSWORD, &other).await),
        ["EMAIL_TAKEN"]
    );

    assert_eq!(
        app.change_email(&token, PASSWORD, &new).await["errors"],
        json!([])
    );
    let link = sink.mail_to(&new, SUBJECT_NEW_EMAIL).await;
    sink.mail_to(&old, SUBJECT_EMAIL_CHANGING).await;
    assert_eq!(
        app.login(&old, PASSWORD).await["errors"],
        json!([]),
        "until the link is followed"
    );

    let verified = app.verify(&link.token()).await;
    assert_eq!(verified["errors"], json!([]), "{verified}");
    assert_eq!(verified["user"]["email"], new.as_str());
    assert_eq!(verified["user"]["emailVerified"], true);
    assert_eq!(app.login(&new, PASSWORD).await["errors"], json!([]));
    assert_eq!(
        payload_codes(&app.login(&old, PASSWORD).await),
        ["INVALID_CREDENTIALS"]
    );

    // Taken in between: EMAIL_TAKEN when the link is followed.
    let third = unique_email("third");
    forget_mail_limits(&app.db).await;
    app.change_email(&token, PASSWORD, &third).await;
    let link = sink.mail_to(&third, SUBJECT_NEW_EMAIL).await;
    app.signed_up(&third).await;
    assert_eq!(
        payload_codes(&app.verify(&link.token()).await),
        ["EMAIL_TAKEN"]
    );
    assert_eq!(
        app.login(&new, PASSWORD).await["errors"],
        json!([]),
        "unchanged"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_deleted_account_is_gone_and_its_email_registers_again() {
    let (_db, _sink, app) = setup().await;
    let email = unique_email("delete");
    let token = app.signed_up(&email).await;
    app.logged_in(&email).await;
    let wrong = app.delete_account(&token, "not-my-password").await;
    assert_eq!(payload_codes(&wrong), ["INVALID_CREDENTIALS"]);
    assert_eq!(wrong["deleted"], false);
    assert!(app.me(&token).await["data"]["me"].is_object());

    let deleted = app.delete_account(&token, PASSWORD).await;
    assert_eq!(deleted, json!({"deleted": true, "errors": []}));
    assert_eq!(error_codes(&app.me(&token).await), ["UNAUTHENTICATED"]);
    let (_, tokens, users, sessions) = counts(&app.db).await;
    assert_eq!(
        (tokens, users, sessions),
        (0, 0, 0),
        "everything it owned is gone"
    );
    assert_eq!(
        payload_codes(&app.login(&email, PASSWORD).await),
        ["INVALID_CREDENTIALS"]
    );
    app.signed_up(&email).await;
    app.stop().await;
}

#[tokio::test]
async fn mails_written_while_the_server_is_down_arrive_once_when_it_is_back() {
    let mut sink = SmtpSink::start().await;
    let db = TestDb::fresh().await;
    let a = TestApp::spawn_with(mail_config(&db, &sink)).await;
    let b = TestApp::spawn_with(mail_config(&db, &sink)).await;
    let emails: Vec<String> = (0..6)
        .map(|i| unique_email(&format!("outage{i}")))
        .collect();
    for (i, e) in emails.iter().enumerate() {
        let app = if i % 2 == 0 { &a } else { &b };
        app.signed_up(e).await;
    }
    sink.wait_until("six verification mails", |m| m.len() == 6)
        .await;
    sink.stop().await;
    for (i, e) in emails.iter().enumerate() {
        let app = if i % 2 == 0 { &b } else { &a };
        assert_eq!(app.request_reset(e).await["errors"], json!([]));
    }
    // The reset mails are written after the answers; each is tried and
    // fails while the server is down.
    outbox_until(&a.db, "six reset mails tried and failed", |rows| {
        rows.iter()
            .filter(|r| r.subject == SUBJECT_RESET && r.attempts > 0 && r.sent_at.is_none())
            .count()
            == 6
    })
    .await;
    sink.start_again().await;
    // Sent is recorded after the server took the mail: once every row is,
    // every copy there will ever be has arrived.
    let rows = outbox_until(&a.db, "every mail sent", |rows| {
        rows.len() == 12 && rows.iter().all(|r| r.sent_at.is_some())
    })
    .await;
    assert!(
        rows.iter().all(|r| r.body.is_none()),
        "bodies erased: {rows:?}"
    );
    assert!(
        rows.iter()
            .filter(|r| r.subject == SUBJECT_RESET)
            .all(|r| r.attempts > 1),
        "each reset mail was retried: {rows:?}"
    );
    let mails = sink.mails();
    assert_eq!(mails.len(), 12, "nothing arrived twice: {mails:#?}");
    for e in &emails {
        let n = mails
            .iter()
            .filter(|m| &m.to == e && m.subject == SUBJECT_RESET)
            .count();
        assert_eq!(n, 1, "one reset mail to {e}");
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_mail_the_server_refuses_is_retried_until_it_is_taken() {
    let (_db, sink, app) = setup().await;
    sink.refuse(true);
    let email = unique_email("refused");
    app.signed_up(&email).await;
    let rows = outbox_until(&app.db, "the verification mail refused twice", |rows| {
        rows.iter().any(|r| r.attempts >= 2)
    })
    .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        rows[0].sent_at.is_none() && rows[0].failed_at.is_none() && rows[0].body.is_some(),
        "still to be sent: {rows:?}"
    );
    assert!(
        rows[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("451")),
        "the server's answer is kept: {rows:?}"
    );
    assert!(sink.mails().is_empty(), "{:#?}", sink.mails());
    sink.refuse(false);
    sink.mail_to(&email, SUBJECT_VERIFY).await;
    outbox_until(&app.db, "the mail recorded as sent", |rows| {
        rows.iter().all(|r| r.sent_at.is_some())
    })
    .await;
    assert_eq!(sink.mails().len(), 1, "sent once: {:#?}", sink.mails());
    app.stop().await;
}

#[tokio::test]
async fn a_deletion_or_reset_on_one_instance_is_refused_on_the_other() {
    let sink = SmtpSink::start().await;
    let db = TestDb::fresh().await;
    let a = TestApp::spawn_with(mail_config(&db, &sink)).await;
    let b = TestApp::spawn_with(mail_config(&db, &sink)).await;

    let gone = unique_email("gone");
    let token = a.signed_up(&gone).await;
    let other_session = a.logged_in(&gone).await;
    assert!(b.me(&token).await["data"]["me"].is_object());
    assert_eq!(a.delete_account(&token, PASSWORD).await["deleted"], true);
    b.until_refused(&token).await;
    b.until_refused(&other_session).await;

    let reset = unique_email("reset-two");
    let token = a.signed_up(&reset).await;
    assert!(b.me(&token).await["data"]["me"].is_object());
    a.request_reset(&reset).await;
    let link = sink.mail_to(&reset, SUBJECT_RESET).await;
    assert_eq!(
        a.reset(&link.token(), NEW_PASSWORD).await["errors"],
        json!([])
    );
    b.until_refused(&token).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn bad_input_on_every_new_field_is_a_clear_user_error_and_writes_nothing() {
    let (_db, _sink, app) = setup().await;
    let email = unique_email("bad");
    let token = app.signed_up(&email).await;
    let before = counts(&app.db).await;
    let huge = "x".repeat(10 * 1024);
    let shaped_unknown = "A".repeat(43);
    for bad in [
        "",
        "short",
        "not base64 !!",
        &huge,
        &shaped_unknown,
        "A".repeat(42).as_str(),
    ] {
        let v = app.verify(bad).await;
        assert_eq!(payload_codes(&v), ["INVALID_TOKEN"], "{bad:.20}: {v}");
        assert_eq!(v["errors"][0]["field"], json!(["input", "token"]));
        assert_eq!(v["user"], Value::Null);
        let r = app.reset(bad, NEW_PASSWORD).await;
        assert_eq!(payload_codes(&r), ["INVALID_TOKEN"], "{r}");
        assert_eq!(r["accessToken"], Value::Null);
    }
    let r = app.reset(&shaped_unknown, &huge).await;
    assert_eq!(
        payload_codes(&r),
        ["INVALID_TOKEN", "PASSWORD_TOO_LONG"],
        "every problem: {r}"
    );
    for bad in ["", "nobody", &huge, "a@b"] {
        let p = app.request_reset(bad).await;
        assert_eq!(payload_codes(&p), ["INVALID_EMAIL"], "{p}");
        assert_eq!(p["errors"][0]["field"], json!(["input", "email"]));
        let c = app.change_email(&token, PASSWORD, bad).await;
        assert_eq!(payload_codes(&c), ["INVALID_EMAIL"], "{c}");
    }
    let c = app.change_email(&token, &huge, &huge).await;
    assert_eq!(
        payload_codes(&c),
        ["INVALID_CREDENTIALS", "INVALID_EMAIL"],
        "{c}"
    );
    assert_eq!(
        payload_codes(&app.change_email(&token, PASSWORD, &email).await),
        ["EMAIL_TAKEN"]
    );
    let d = app.delete_account(&token, &huge).await;
    assert_eq!(payload_codes(&d), ["INVALID_CREDENTIALS"], "{d}");
    assert_eq!(counts(&app.db).await, before, "nothing written");
    // Without a token: UNAUTHENTICATED, not a payload.
    let anon = app
        .gql(DELETE, json!({"i": {"currentPassword": PASSWORD}}), None)
        .await;
    assert_eq!(error_codes(&anon), ["UNAUTHENTICATED"]);
    let anon = app.gql(REQUEST_VERIFY, json!({}), None).await;
    assert_eq!(error_codes(&anon), ["UNAUTHENTICATED"]);
    assert!(app.me(&token).await["data"]["me"].is_object());
    app.stop().await;
}

#[tokio::test]
async fn a_reset_request_answers_alike_whether_or_not_the_address_has_an_account() {
    let (_db, sink, app) = setup().await;
    let known = unique_email("known");
    app.signed_up(&known).await;
    sink.mail_to(&known, SUBJECT_VERIFY).await;
    let unknown = unique_email("unknown");
    let a = app.request_reset(&known).await;
    let b = app.request_reset(&unknown).await;
    assert_eq!(a, b);
    assert_eq!(a, json!({"errors": []}));
    sink.mail_to(&known, SUBJECT_RESET).await;
    let (outbox, ..) = counts(&app.db).await;
    assert_eq!(
        outbox, 2,
        "a verification and a reset; nothing for the unknown address"
    );
    // The limits answer alike too.
    let a = app.request_reset(&known).await;
    let b = app.request_reset(&unknown).await;
    assert_eq!(payload_codes(&a), ["RATE_LIMITED"]);
    assert_eq!(payload_codes(&b), ["RATE_LIMITED"]);
    assert!(a["errors"][0]["retryAfterSeconds"].as_i64().unwrap() > 0);
    app.stop().await;
}

#[tokio::test]
async fn mails_to_one_address_are_limited_per_window() {
    let sink = SmtpSink::start().await;
    let db = TestDb::fresh().await;
    let mut config = mail_config(&db, &sink);
    config.rate_limits.mail = "3/1h".parse().unwrap();
    let app = TestApp::spawn_with(config).await;
    let email = unique_email("limit");
    for _ in 0..3 {
        assert_eq!(app.request_reset(&email).await["errors"], json!([]));
        forget_minute_limit(&app.db, &email).await;
    }
    assert_eq!(
        payload_codes(&app.request_reset(&email).await),
        ["RATE_LIMITED"]
    );
    app.stop().await;
}

/// Forgets the one-a-minute limit of `email`, as a minute passing would.
async fn forget_minute_limit(conn: &DatabaseConnection, email: &str) {
    use sns_api::entity::throttle;
    throttle::Entity::delete_by_id(format!("mail-minute:{email}"))
        .exec(conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_disabled_account_answers_account_disabled_only_to_the_right_password() {
    use sns_api::config::UsersAction;
    let (db, sink, app) = setup().await;
    let email = unique_email("disabled");
    let token = app.signed_up(&email).await;
    let config = mail_config(&db, &sink);
    sns_api::admin::run(
        &config,
        UsersAction::Disable {
            email: email.clone(),
        },
    )
    .await
    .unwrap();
    app.until_refused(&token).await;
    assert_eq!(
        payload_codes(&app.login(&email, PASSWORD).await),
        ["ACCOUNT_DISABLED"]
    );
    assert_eq!(
        payload_codes(&app.login(&email, "wrong-password").await),
        ["INVALID_CREDENTIALS"]
    );
    sns_api::admin::run(
        &config,
        UsersAction::Enable {
            email: email.clone(),
        },
    )
    .await
    .unwrap();
    let token = app.logged_in(&email).await;
    sns_api::admin::run(
        &config,
        UsersAction::EndSessions {
            email: email.clone(),
        },
    )
    .await
    .unwrap();
    app.until_refused(&token).await;
    sns_api::admin::run(
        &config,
        UsersAction::Delete {
            email: email.clone(),
        },
    )
    .await
    .unwrap();
    assert!(
        sns_api::admin::run(
            &config,
            UsersAction::Show {
                email: email.clone()
            }
        )
        .await
        .is_err(),
        "no such account any more"
    );
    app.signed_up(&email).await;
    app.stop().await;
}

const ME: &str = "{ me { email emailVerified } }";

/// Moves `email`'s `updated_at` an hour back, as if the account had not
/// changed for long: a later change must set it again to reach the other
/// instances.
async fn age_account(conn: &DatabaseConnection, email: &str) {
    let updated = user::Entity::update_many()
        .col_expr(
            user::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(
                sns_api::service::clock::now() - chrono::Duration::hours(1),
            ),
        )
        .filter(user::Column::Email.eq(email))
        .exec(conn)
        .await
        .unwrap();
    assert_eq!(updated.rows_affected, 1);
}

/// `me` on `app` as it is now: (email, emailVerified).
async fn me_shows(app: &TestApp, token: &str) -> (String, bool) {
    let body = app.gql(ME, json!({}), Some(token)).await;
    let me = &body["data"]["me"];
    assert!(me.is_object(), "{body}");
    (
        me["email"].as_str().unwrap().to_owned(),
        me["emailVerified"].as_bool().unwrap(),
    )
}

/// Polls `me` on `app` until it shows (`email`, `verified`): on another
/// instance, at its next sync (the profile cache alone would keep the old
/// one for five minutes).
async fn until_me_shows(app: &TestApp, token: &str, email: &str, verified: bool) {
    poll_until(
        &format!("me showing {email}, verified {verified}"),
        || async {
            let shown = me_shows(app, token).await;
            if shown == (email.to_owned(), verified) {
                Ok(())
            } else {
                Err(format!("{shown:?}"))
            }
        },
    )
    .await;
}

#[tokio::test]
async fn another_instance_shows_a_verified_or_changed_address_within_the_interval() {
    let sink = SmtpSink::start().await;
    let db = TestDb::fresh().await;
    let a = TestApp::spawn_with(mail_config(&db, &sink)).await;
    let b = TestApp::spawn_with(mail_config(&db, &sink)).await;

    // Verification: B has the unverified profile cached.
    let email = unique_email("profile-two");
    let token = a.signed_up(&email).await;
    let link = sink.mail_to(&email, SUBJECT_VERIFY).await;
    age_account(&a.db, &email).await;
    assert_eq!(me_shows(&b, &token).await, (email.clone(), false));
    assert_eq!(a.verify(&link.token()).await["errors"], json!([]));
    assert_eq!(
        me_shows(&a, &token).await,
        (email.clone(), true),
        "at once on A"
    );
    until_me_shows(&b, &token, &email, true).await;

    // A change of address, followed on A: B shows the new one.
    let moved = unique_email("profile-moved");
    assert_eq!(
        a.change_email(&token, PASSWORD, &moved).await["errors"],
        json!([])
    );
    let link = sink.mail_to(&moved, SUBJECT_NEW_EMAIL).await;
    age_account(&a.db, &email).await;
    assert_eq!(me_shows(&b, &token).await, (email.clone(), true));
    assert_eq!(a.verify(&link.token()).await["errors"], json!([]));
    until_me_shows(&b, &token, &moved, true).await;

    // A reset on A verifies the address: B's cached profile goes too.
    let other = unique_email("profile-reset");
    a.signed_up(&other).await;
    sink.mail_to(&other, SUBJECT_VERIFY).await;
    forget_mail_limits(&a.db).await;
    assert_eq!(a.request_reset(&other).await["errors"], json!([]));
    let link = sink.mail_to(&other, SUBJECT_RESET).await;
    let on_b = b.logged_in(&other).await;
    age_account(&a.db, &other).await;
    assert_eq!(me_shows(&b, &on_b).await, (other.clone(), false));
    let reset = a.reset(&link.token(), NEW_PASSWORD).await;
    assert_eq!(reset["errors"], json!([]), "{reset}");
    let fresh = reset["accessToken"].as_str().unwrap();
    until_me_shows(&b, fresh, &other, true).await;
    a.stop().await;
    b.stop().await;
}

/// Collects what the tracing subscriber writes, for a look at the log.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_reset_mail_that_cannot_be_written_is_logged_and_counted_and_answers_alike() {
    use sea_orm::ConnectionTrait as _;
    use sns_api::auth::ClientInfo;
    use sns_api::service;

    let db = TestDb::fresh().await;
    let app = sns_api::app::App::build(config_for(&db))
        .await
        .expect("the app starts");
    let state = app.state();
    let client = ClientInfo::default();
    let email = unique_email("unwritable");
    service::user::register(&state, &email, PASSWORD, None, &client)
        .await
        .unwrap();
    // The outbox is gone: the token is written, then its mail fails.
    state
        .db()
        .execute_unprepared("ALTER TABLE mail_outbox RENAME TO mail_outbox_away")
        .await
        .unwrap();
    let series = r#"background_writes_failed_total{task="password_reset_mail"}"#;
    let failures = || {
        sns_api::telemetry::metrics_handle()
            .render()
            .lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0.0)
    };
    let before = failures();

    let log = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer({
            let log = log.clone();
            move || log.clone()
        })
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    let known = service::password_reset::request_password_reset(&state, &email, &client).await;
    let unknown =
        service::password_reset::request_password_reset(&state, &unique_email("nobody"), &client)
            .await;
    // The answer did not wait for the write; now it has failed.
    service::tasks::wait_until_idle(&state).await;
    drop(guard);

    assert!(known.is_ok() && unknown.is_ok(), "{known:?} {unknown:?}");
    assert!(failures() >= before + 1.0, "counted");
    let log = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("background write failed") && log.contains("password_reset_mail"),
        "logged: {log}"
    );
    assert!(!log.contains("token="), "no link in the log: {log}");
    assert!(!log.contains(&email), "no address in the log: {log}");
    let resets = mail_token::Entity::find()
        .filter(mail_token::Column::Kind.eq("reset"))
        .count(state.db())
        .await
        .unwrap();
    assert_eq!(resets, 0, "the token went with its mail: one transaction");
    state
        .db()
        .execute_unprepared("ALTER TABLE mail_outbox_away RENAME TO mail_outbox")
        .await
        .unwrap();
}
