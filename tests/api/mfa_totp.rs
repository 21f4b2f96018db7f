//! An authenticator app on an account: enrolling and confirming it, the
//! time steps a code is good for (once each), disabling it with the
//! password and a code or a recovery code, and new recovery codes.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use sns_api::entity::{recovery_code, session, throttle, totp};

use crate::common::*;
use crate::mfa_common::*;
use crate::otp::{code_off, settled_now};

#[tokio::test]
async fn confirming_answers_ten_distinct_codes_and_turns_mfa_on_at_no_higher_level() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let a = Account::new(&app, "totp-on").await;

    let body = app.enroll(&a.token).await;
    let enrollment = &body["data"]["enrollTotp"];
    let secret = enrollment["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 32, "20 bytes, base32 without padding");
    assert!(
        secret
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
    );
    let uri = enrollment["otpauthUri"].as_str().unwrap();
    let label = format!("otpauth://totp/sns-api:{}?", a.email.replace('@', "%40"));
    assert!(uri.starts_with(&label), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    assert!(uri.contains("issuer=sns-api"), "{uri}");
    assert!(!app.mfa_enabled(&a.token).await, "not on until confirmed");

    let stored = totp::Entity::find_by_id(a.id)
        .one(&app.db)
        .await
        .unwrap()
        .expect("a pending row");
    assert!(stored.confirmed_at.is_none());
    assert!(stored.secret.starts_with("v1."), "sealed");
    assert!(!stored.secret.to_uppercase().contains(secret));

    settled_now().await;
    let payload = app.confirm(&a.token, &code_off(secret, 0)).await;
    assert_eq!(payload["errors"], json!([]), "{payload}");
    let codes = recovery_codes(&payload);
    assert_eq!(codes.len(), 10);
    let mut distinct = codes.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 10, "{codes:?}");
    for code in &codes {
        let groups: Vec<_> = code.split('-').collect();
        assert_eq!(groups.len(), 4, "{code}");
        assert!(groups.iter().all(|g| {
            g.len() == 4
                && g.bytes()
                    .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
        }));
    }
    assert!(app.mfa_enabled(&a.token).await);

    let stored_codes = recovery_code::Entity::find()
        .filter(recovery_code::Column::UserId.eq(a.id))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(stored_codes.len(), 10);
    for row in &stored_codes {
        assert_eq!(row.hash.len(), 64, "SHA-256 in hex");
        assert!(
            codes
                .iter()
                .all(|c| !row.hash.contains(&c.replace('-', "")))
        );
    }
    let sessions = session::Entity::find()
        .filter(session::Column::UserId.eq(a.id))
        .all(&app.db)
        .await
        .unwrap();
    assert!(
        sessions.iter().all(|s| s.aal == 1 && s.amr == "pwd"),
        "{sessions:?}"
    );

    // On already: a second enrollment is refused, and the secret stays.
    let again = app.enroll(&a.token).await;
    assert_eq!(error_codes(&again), ["BAD_USER_INPUT"], "{again}");
    let after = totp::Entity::find_by_id(a.id).one(&app.db).await.unwrap();
    assert_eq!(after.map(|r| r.secret), Some(stored.secret));
}

#[tokio::test]
async fn a_new_enrollment_replaces_a_pending_one_and_confirm_needs_one() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let a = Account::new(&app, "totp-pending").await;

    let refused = app.confirm(&a.token, "123456").await;
    assert_eq!(
        problems(&refused),
        one("code", "NOT_ALLOWED"),
        "nothing pending"
    );

    let first = app.enrolled(&a.token).await;
    let second = app.enrolled(&a.token).await;
    assert_ne!(first, second);
    settled_now().await;
    if code_off(&first, 0) != code_off(&second, 0) {
        let stale = app.confirm(&a.token, &code_off(&first, 0)).await;
        assert_eq!(problems(&stale), one("code", "INVALID_CODE"), "replaced");
    }
    let payload = app.confirm(&a.token, &code_off(&second, 0)).await;
    assert_eq!(payload["errors"], json!([]), "{payload}");
    assert!(app.mfa_enabled(&a.token).await);
}

#[tokio::test]
async fn a_code_two_steps_away_is_refused_and_one_step_either_side_accepted() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;

    let mut before = Account::new(&app, "totp-before").await;
    let secret = app.enrolled(&before.token).await;
    settled_now().await;
    for far in [-2, 2] {
        let code = code_off(&secret, far);
        if (-1..=1).all(|o| code_off(&secret, o) != code) {
            let payload = app.confirm(&before.token, &code).await;
            assert_eq!(
                problems(&payload),
                one("code", "INVALID_CODE"),
                "{far} steps"
            );
        }
    }
    let payload = app.confirm(&before.token, &code_off(&secret, -1)).await;
    assert_eq!(payload["errors"], json!([]), "the step before: {payload}");

    // The step after, on the account whose last step was the one before.
    before.step_up(&app).await;
    settled_now().await;
    let off = app
        .disable_totp(&before.token, PASSWORD, &code_off(&secret, 1))
        .await;
    assert_eq!(off, json!({"mfaEnabled": false, "errors": []}));
    assert!(!app.mfa_enabled(&before.token).await);
}

#[tokio::test]
async fn a_code_is_good_once_and_never_after_a_newer_one() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let mut a = Account::new(&app, "totp-replay").await;
    let secret = app.enrolled(&a.token).await;
    a.step_up(&app).await;

    settled_now().await;
    let now = code_off(&secret, 0);
    assert_eq!(app.confirm(&a.token, &now).await["errors"], json!([]));
    let replay = app.disable_totp(&a.token, PASSWORD, &now).await;
    assert_eq!(
        problems(&replay),
        one("input.code", "INVALID_CODE"),
        "same step"
    );
    assert!(app.mfa_enabled(&a.token).await);

    // The step after first, then the current one: older, refused.
    let mut b = Account::new(&app, "totp-older").await;
    let secret = app.enrolled(&b.token).await;
    b.step_up(&app).await;
    settled_now().await;
    let next = app.confirm(&b.token, &code_off(&secret, 1)).await;
    assert_eq!(next["errors"], json!([]), "{next}");
    let older = code_off(&secret, 0);
    if older != code_off(&secret, 1) {
        let payload = app.disable_totp(&b.token, PASSWORD, &older).await;
        assert_eq!(
            problems(&payload),
            one("input.code", "INVALID_CODE"),
            "older"
        );
    }
}

#[tokio::test]
async fn racing_requests_with_one_code_accept_it_exactly_once() {
    use sns_api::service::mfa::totp::accept_code;
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let a = Account::new(&app, "totp-race").await;
    let secret = app.enrolled(&a.token).await;
    settled_now().await;
    assert_eq!(
        app.confirm(&a.token, &code_off(&secret, 0)).await["errors"],
        json!([])
    );

    let code = code_off(&secret, 1);
    let (state, pool) = (&app.state, &app.db);
    let (one_way, other_way) = tokio::join!(
        accept_code(pool, state, a.id, &code),
        accept_code(state.db(), state, a.id, &code),
    );
    let accepted = [one_way.unwrap(), other_way.unwrap()];
    assert_eq!(accepted.iter().filter(|a| **a).count(), 1, "{accepted:?}");
    assert!(!accept_code(pool, state, a.id, &code).await.unwrap());
    assert!(
        !accept_code(pool, state, a.id, &wrong_code(&secret))
            .await
            .unwrap()
    );
    assert!(!accept_code(pool, state, a.id, "12345").await.unwrap());
}

#[tokio::test]
async fn disabling_needs_the_password_and_a_right_code() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let mut a = Account::new(&app, "totp-off").await;
    let off_already = app.disable_totp(&a.token, PASSWORD, "123456").await;
    assert_eq!(problems(&off_already), one("input.code", "NOT_ALLOWED"));

    let (secret, _) = app.totp_on(&a.token).await;
    a.step_up(&app).await;
    settled_now().await;
    let code = code_off(&secret, 1);
    let bad_password = app.disable_totp(&a.token, "not-the-password", &code).await;
    assert_eq!(
        problems(&bad_password),
        one("input.currentPassword", "INVALID_CREDENTIALS")
    );
    let bad_code = app
        .disable_totp(&a.token, PASSWORD, &wrong_code(&secret))
        .await;
    assert_eq!(problems(&bad_code), one("input.code", "INVALID_CODE"));
    let not_a_code = app.disable_totp(&a.token, PASSWORD, "").await;
    assert_eq!(problems(&not_a_code), one("input.code", "INVALID_CODE"));
    assert!(app.mfa_enabled(&a.token).await, "still on");
    let failures = throttle::Entity::find_by_id(format!("login:{}", a.email))
        .one(&app.db)
        .await
        .unwrap()
        .map(|r| r.hits);
    assert_eq!(failures, Some(3), "each refusal counts as a failed login");

    let off = app.disable_totp(&a.token, PASSWORD, &code).await;
    assert_eq!(off, json!({"mfaEnabled": false, "errors": []}));
    assert!(!app.mfa_enabled(&a.token).await);
    assert!(
        totp::Entity::find_by_id(a.id)
            .one(&app.db)
            .await
            .unwrap()
            .is_none()
    );
    let left = recovery_code::Entity::find()
        .filter(recovery_code::Column::UserId.eq(a.id))
        .all(&app.db)
        .await
        .unwrap();
    assert!(left.is_empty(), "the recovery codes go with it");
}

#[tokio::test]
async fn a_recovery_code_works_once_typed_any_way() {
    use sns_api::service::mfa::recovery::consume;
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let mut a = Account::new(&app, "totp-recovery").await;
    let (_, codes) = app.totp_on(&a.token).await;
    a.step_up(&app).await;

    assert!(consume(&app.db, a.id, &codes[0]).await.unwrap());
    assert!(!consume(&app.db, a.id, &codes[0]).await.unwrap(), "used");
    let notices = outbox_subjects(&app, &a.email).await;
    let used_notices = notices
        .iter()
        .filter(|s| s.contains("recovery code"))
        .count();
    assert_eq!(used_notices, 1, "one notice for the one use: {notices:?}");
    let other = Account::new(&app, "totp-recovery-other").await;
    assert!(
        !consume(&app.db, other.id, &codes[1]).await.unwrap(),
        "not theirs"
    );
    let used = app.disable_totp(&a.token, PASSWORD, &codes[0]).await;
    assert_eq!(problems(&used), one("input.code", "INVALID_CODE"));
    assert!(app.mfa_enabled(&a.token).await);

    let typed = format!(" {} ", codes[1].replace('-', "").to_uppercase());
    let off = app.disable_totp(&a.token, PASSWORD, &typed).await;
    assert_eq!(off, json!({"mfaEnabled": false, "errors": []}));
}

#[tokio::test]
async fn new_recovery_codes_replace_the_old_ones() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let mut a = Account::new(&app, "totp-regenerate").await;
    a.step_up(&app).await;
    let off = app.regenerate(&a.token).await;
    assert_eq!(problems(&off), one("", "NOT_ALLOWED"), "TOTP is off");

    let (_, old) = app.totp_on(&a.token).await;
    let payload = app.regenerate(&a.token).await;
    assert_eq!(payload["errors"], json!([]), "{payload}");
    let new = recovery_codes(&payload);
    assert_eq!(new.len(), 10);
    assert!(new.iter().all(|c| !old.contains(c)), "{old:?} {new:?}");

    let stale = app.disable_totp(&a.token, PASSWORD, &old[0]).await;
    assert_eq!(problems(&stale), one("input.code", "INVALID_CODE"));
    let fresh = app.disable_totp(&a.token, PASSWORD, &new[0]).await;
    assert_eq!(fresh, json!({"mfaEnabled": false, "errors": []}));
}

#[tokio::test]
async fn a_wrong_code_counts_towards_the_failed_login_limit() {
    let db = TestDb::fresh().await;
    let mut config = config_for(&db);
    config.rate_limits.login_failures = "2/15m".parse().unwrap();
    let app = TestApp::spawn_with(config).await;
    let a = Account::new(&app, "totp-throttle").await;
    let secret = app.enrolled(&a.token).await;

    for _ in 0..2 {
        let payload = app.confirm(&a.token, &wrong_code(&secret)).await;
        assert_eq!(problems(&payload), one("code", "INVALID_CODE"));
    }
    settled_now().await;
    let locked = app.confirm(&a.token, &code_off(&secret, 0)).await;
    assert_eq!(problems(&locked), one("", "RATE_LIMITED"), "{locked}");
    assert!(locked["errors"][0]["retryAfterSeconds"].as_i64().unwrap() > 0);
    let login = app.login(&a.email, PASSWORD).await;
    assert_eq!(payload_codes(&login), ["RATE_LIMITED"], "{login}");
    assert!(!app.mfa_enabled(&a.token).await);
}
