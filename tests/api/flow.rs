use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use sns_api::entity::{session, user};

use crate::common::*;

#[tokio::test]
async fn a_user_registers_reads_me_logs_out_and_the_token_dies() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;

    let payload = app.register("  Alice@Example.COM ", PASSWORD).await;
    assert_eq!(payload["errors"], json!([]));
    assert_eq!(payload["tokenType"], "Bearer");
    assert_eq!(payload["user"]["email"], "alice@example.com");
    let id = payload["user"]["id"].as_str().unwrap();
    let parsed = uuid::Uuid::parse_str(id).unwrap();
    assert_eq!(parsed.get_version_num(), 7, "ids are UUIDv7");
    assert_eq!(id, parsed.hyphenated().to_string(), "lower-case hyphenated");
    let expires =
        chrono::DateTime::parse_from_rfc3339(payload["expiresAt"].as_str().unwrap()).unwrap();
    let ttl = expires
        .signed_duration_since(chrono::Utc::now())
        .num_seconds();
    assert!(
        (890..=900).contains(&ttl),
        "access tokens live 15 minutes, got {ttl}s"
    );
    let token = payload["accessToken"].as_str().unwrap();

    let me = app.me(token).await;
    assert_eq!(me["data"]["me"]["id"], id);
    assert_eq!(me["data"]["me"]["email"], "alice@example.com");
    assert!(me.get("errors").is_none(), "{me}");

    let out = app.logout(token, "CURRENT").await;
    assert_eq!(out["data"]["logout"]["revokedSessions"], 1);
    assert_eq!(error_codes(&app.me(token).await), ["UNAUTHENTICATED"]);

    // The session row says so too.
    let conn = &app.db;
    let rows = session::Entity::find()
        .filter(session::Column::UserId.eq(parsed))
        .all(conn)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].revoked_at.is_some());
    app.stop().await;
}

#[tokio::test]
async fn login_opens_a_new_session_and_logout_ends_only_that_one() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let email = unique_email("two-tabs");
    let first = app.signed_up(&email).await;
    let second = app.login(&email.to_uppercase(), PASSWORD).await;
    assert_eq!(
        second["errors"],
        json!([]),
        "emails compare case-insensitively"
    );
    let second = second["accessToken"].as_str().unwrap().to_owned();

    assert_eq!(
        app.logout(&second, "CURRENT").await["data"]["logout"]["revokedSessions"],
        1
    );
    assert_eq!(error_codes(&app.me(&second).await), ["UNAUTHENTICATED"]);
    assert_eq!(
        app.me(&first).await["data"]["me"]["email"],
        email.to_lowercase()
    );
    app.stop().await;
}

#[tokio::test]
async fn logout_others_and_all_end_the_right_sessions() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let email = unique_email("scopes");
    let a = app.signed_up(&email).await;
    let b = app.logged_in(&email).await;
    let c = app.logged_in(&email).await;
    // Someone else's session is untouched by all of this.
    let stranger = app.signed_up(&unique_email("stranger")).await;

    assert_eq!(
        app.logout(&a, "OTHERS").await["data"]["logout"]["revokedSessions"],
        2
    );
    assert!(app.me(&a).await["data"]["me"].is_object());
    assert_eq!(error_codes(&app.me(&b).await), ["UNAUTHENTICATED"]);
    assert_eq!(error_codes(&app.me(&c).await), ["UNAUTHENTICATED"]);

    let d = app.logged_in(&email).await;
    assert_eq!(
        app.logout(&d, "ALL").await["data"]["logout"]["revokedSessions"],
        2
    );
    assert_eq!(error_codes(&app.me(&a).await), ["UNAUTHENTICATED"]);
    assert_eq!(error_codes(&app.me(&d).await), ["UNAUTHENTICATED"]);
    assert!(app.me(&stranger).await["data"]["me"].is_object());
    app.stop().await;
}

#[tokio::test]
async fn logout_scope_defaults_to_current() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let email = unique_email("default-scope");
    let a = app.signed_up(&email).await;
    let b = app.logged_in(&email).await;
    let out = app
        .gql(
            "mutation { logout { revokedSessions } }",
            json!({}),
            Some(&b),
        )
        .await;
    assert_eq!(out["data"]["logout"]["revokedSessions"], 1);
    assert!(app.me(&a).await["data"]["me"].is_object());
    app.stop().await;
}

#[tokio::test]
async fn me_without_a_header_is_null_and_fields_that_need_one_are_unauthenticated() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let body = app.gql("{ me { id } }", json!({}), None).await;
    assert_eq!(body, json!({"data": {"me": null}}));
    let body = app
        .gql("mutation { logout { revokedSessions } }", json!({}), None)
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    assert_eq!(body["data"], json!(null));
    app.stop().await;
}

#[tokio::test]
async fn a_revoked_token_stays_revoked_after_a_restart_and_a_live_one_stays_live() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let email = unique_email("restart");
    let dead = app.signed_up(&email).await;
    let live = app.logged_in(&email).await;
    assert_eq!(
        app.logout(&dead, "CURRENT").await["data"]["logout"]["revokedSessions"],
        1
    );
    app.stop().await;

    let app = TestApp::spawn(&db).await;
    assert_eq!(error_codes(&app.me(&dead).await), ["UNAUTHENTICATED"]);
    assert_eq!(
        app.me(&live).await["data"]["me"]["email"],
        email.to_lowercase()
    );
    app.stop().await;
}

#[tokio::test]
async fn the_password_is_stored_as_argon2id_with_the_contract_parameters() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let email = unique_email("hash");
    app.signed_up(&email).await;
    let conn = &app.db;
    let row = user::Entity::find()
        .filter(user::Column::Email.eq(email.to_lowercase()))
        .one(conn)
        .await
        .unwrap()
        .expect("the user row");
    assert!(
        row.password_hash
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{}",
        row.password_hash
    );
    assert!(!row.password_hash.contains(PASSWORD));
    app.stop().await;
}

#[tokio::test]
async fn a_login_with_a_weaker_hash_rehashes_it() {
    use argon2::password_hash::{PasswordHasher as _, SaltString};
    use sea_orm::{ActiveModelTrait, IntoActiveModel, Set};
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let email = unique_email("rehash");
    app.signed_up(&email).await;
    let conn = &app.db;
    let row = user::Entity::find()
        .filter(user::Column::Email.eq(email.to_lowercase()))
        .one(conn)
        .await
        .unwrap()
        .unwrap();
    let weak = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(4096, 1, 1, None).unwrap(),
    )
    .hash_password(
        PASSWORD.as_bytes(),
        &SaltString::encode_b64(b"0123456789abcdef").unwrap(),
    )
    .unwrap()
    .to_string();
    let mut active = row.into_active_model();
    active.password_hash = Set(weak.clone());
    let row = active.update(conn).await.unwrap();

    assert_eq!(app.login(&email, PASSWORD).await["errors"], json!([]));
    let after = user::Entity::find_by_id(row.id)
        .one(conn)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(after.password_hash, weak);
    assert!(
        after
            .password_hash
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
    );
    assert_eq!(
        app.login(&email, PASSWORD).await["errors"],
        json!([]),
        "the new hash verifies"
    );
    app.stop().await;
}
