//! Refresh tokens, the session list, revokeSession and changePassword.

use std::time::Duration;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use sns_api::entity::session;

use crate::common::*;

fn is_signed_in(payload: &Value) -> bool {
    payload["errors"] == json!([])
        && payload["accessToken"].is_string()
        && payload["refreshToken"].is_string()
}

#[tokio::test]
async fn refresh_rotates_the_token_and_the_new_pair_works() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let email = unique_email("refresh");
    let (_, rt0) = app.signed_up_pair(&email).await;
    assert_eq!(rt0.len(), 43, "256 bits in base64url");

    let first = app.refresh(&rt0).await;
    assert!(is_signed_in(&first), "{first}");
    let (at1, rt1) = pair(&first);
    assert_ne!(rt1, rt0, "every refresh rotates the refresh token");
    assert_eq!(first["tokenType"], "Bearer");
    assert_eq!(first["user"]["email"], email.to_lowercase());
    assert_eq!(
        app.me(&at1).await["data"]["me"]["email"],
        email.to_lowercase()
    );

    let second = app.refresh(&rt1).await;
    assert!(is_signed_in(&second), "{second}");
    assert_ne!(pair(&second).1, rt1);

    // One session all along, with the same id in every access token.
    let sessions = app
        .gql("{ sessions { id current } }", json!({}), Some(&at1))
        .await;
    assert_eq!(sessions["data"]["sessions"].as_array().unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_racing_second_refresh_within_the_grace_gets_the_same_token_and_revokes_nothing() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let (_, rt0) = app.signed_up_pair(&unique_email("race")).await;
    let a = app.refresh(&rt0).await;
    let b = app.refresh(&rt0).await;
    assert!(is_signed_in(&a) && is_signed_in(&b), "{a} {b}");
    assert_eq!(
        a["refreshToken"], b["refreshToken"],
        "the second tab gets what the first got"
    );
    let (at_a, rt1) = pair(&a);
    let (at_b, _) = pair(&b);
    assert!(app.me(&at_a).await["data"]["me"].is_object());
    assert!(app.me(&at_b).await["data"]["me"].is_object());
    assert!(is_signed_in(&app.refresh(&rt1).await), "the chain goes on");
    app.stop().await;
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_all_succeed_alike() {
    let db = TestDb::fresh().await;
    let app = std::sync::Arc::new(TestApp::spawn(&db).await);
    let (_, rt0) = app.signed_up_pair(&unique_email("burst")).await;
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let (app, rt0) = (app.clone(), rt0.clone());
            tokio::spawn(async move { app.refresh(&rt0).await })
        })
        .collect();
    let mut tokens = Vec::new();
    for t in tasks {
        let payload = t.await.unwrap();
        assert!(is_signed_in(&payload), "{payload}");
        tokens.push(payload["refreshToken"].as_str().unwrap().to_owned());
    }
    tokens.dedup();
    assert_eq!(tokens.len(), 1, "one successor for one token");
}

#[tokio::test]
async fn a_rotated_token_presented_after_the_grace_revokes_the_session() {
    let db = TestDb::fresh().await;
    let mut config = config_for(&db);
    config.sessions.reuse_grace = Duration::from_secs(1);
    let app = TestApp::spawn_with(config).await;
    let (at0, rt0) = app.signed_up_pair(&unique_email("thief")).await;
    let (at1, rt1) = pair(&app.refresh(&rt0).await);
    app.age_rotation(&rt0, chrono::Duration::seconds(2)).await;

    let reuse = app.refresh(&rt0).await;
    assert_eq!(payload_codes(&reuse), ["INVALID_REFRESH_TOKEN"]);
    assert!(reuse["accessToken"].is_null() && reuse["refreshToken"].is_null());
    for at in [&at0, &at1] {
        assert_eq!(
            error_codes(&app.me(at).await),
            ["UNAUTHENTICATED"],
            "the session is revoked"
        );
    }
    assert_eq!(
        payload_codes(&app.refresh(&rt1).await),
        ["INVALID_REFRESH_TOKEN"],
        "its newest token too"
    );
    app.stop().await;
}

#[tokio::test]
async fn malformed_unknown_and_wrong_kind_refresh_tokens_are_refused() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let (at, rt) = app.signed_up_pair(&unique_email("kinds")).await;
    let unknown = "A".repeat(43);
    let cases = [
        String::new(),
        rt[..42].to_owned(),
        format!("{rt}x"),
        format!("{}+", &rt[..42]),
        format!("{}=", &rt[..42]),
        unknown,
        at.clone(),
    ];
    for bad in &cases {
        let payload = app.refresh(bad).await;
        assert_eq!(
            payload_codes(&payload),
            ["INVALID_REFRESH_TOKEN"],
            "{bad:?}"
        );
        assert_eq!(
            payload["errors"][0]["field"],
            json!(["input", "refreshToken"])
        );
    }
    // And the reverse: a refresh token is no access token.
    assert_eq!(error_codes(&app.me(&rt).await), ["UNAUTHENTICATED"]);
    app.stop().await;
}

#[tokio::test]
async fn a_session_s_refresh_token_dies_with_it() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let (at, rt) = app.signed_up_pair(&unique_email("dies")).await;
    app.logout(&at, "CURRENT").await;
    assert_eq!(
        payload_codes(&app.refresh(&rt).await),
        ["INVALID_REFRESH_TOKEN"]
    );

    // An expired session too.
    let (_, rt) = app.signed_up_pair(&unique_email("expired")).await;
    let conn = &app.db;
    session::Entity::update_many()
        .col_expr(
            session::Column::ExpiresAt,
            Expr::value(chrono::Utc::now() - chrono::Duration::hours(1)),
        )
        .filter(session::Column::RevokedAt.is_null())
        .exec(conn)
        .await
        .unwrap();
    assert_eq!(
        payload_codes(&app.refresh(&rt).await),
        ["INVALID_REFRESH_TOKEN"]
    );
    app.stop().await;
}

#[tokio::test]
async fn sessions_lists_the_live_ones_newest_first_with_the_current_marked() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let email = unique_email("list");
    let (first, _) = app.signed_up_pair(&email).await;
    app.age_sessions(chrono::Duration::seconds(5)).await;
    let second = app
        .http
        .post(app.url("/graphql"))
        .header("User-Agent", "test-agent/1.0")
        .json(&json!({"query": LOGIN, "variables": {"i": {"email": email, "password": PASSWORD}}}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let second = second["data"]["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let third = app.logged_in(&email).await;
    app.logout(&third, "CURRENT").await;

    let body = app
        .gql(
            "{ sessions { id createdAt lastUsedAt expiresAt userAgent current } }",
            json!({}),
            Some(&first),
        )
        .await;
    let list = body["data"]["sessions"].as_array().unwrap();
    assert_eq!(list.len(), 2, "the revoked one is gone: {body}");
    assert_eq!(list[0]["userAgent"], "test-agent/1.0", "newest first");
    assert_eq!(list[0]["current"], false);
    assert_eq!(list[1]["current"], true);
    let expires =
        chrono::DateTime::parse_from_rfc3339(list[1]["expiresAt"].as_str().unwrap()).unwrap();
    let days = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_days();
    assert!((29..=30).contains(&days), "sessions live 30 days: {days}");
    // The id is the `sid` of the tokens it issued.
    let body = app
        .gql("{ sessions { id current } }", json!({}), Some(&second))
        .await;
    let current: Vec<&Value> = body["data"]["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["current"] == true)
        .collect();
    assert_eq!(current[0]["id"], list[0]["id"]);
    app.stop().await;
}

#[tokio::test]
async fn revoke_session_ends_an_own_session_and_refuses_others_alike() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let email = unique_email("revoke-one");
    let (mine, _) = app.signed_up_pair(&email).await;
    let (phone, phone_rt) = pair(&app.login(&email, PASSWORD).await);
    let (stranger, _) = app.signed_up_pair(&unique_email("stranger")).await;

    let ids = |body: Value| -> Vec<String> {
        body["data"]["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let phone_id = ids(app
        .gql("{ sessions { id } }", json!({}), Some(&phone))
        .await)
    .into_iter()
    .find(|id| !id.is_empty())
    .unwrap();
    let stranger_id = ids(app
        .gql("{ sessions { id } }", json!({}), Some(&stranger))
        .await)[0]
        .clone();
    let revoke =
        |id: String| format!("mutation {{ revokeSession(id: \"{id}\") {{ revokedSessions }} }}");

    let foreign = app.gql(&revoke(stranger_id), json!({}), Some(&mine)).await;
    let missing = app
        .gql(
            &revoke(uuid::Uuid::now_v7().to_string()),
            json!({}),
            Some(&mine),
        )
        .await;
    assert_eq!(error_codes(&foreign), ["FORBIDDEN"]);
    assert_eq!(
        foreign["errors"][0]["message"], missing["errors"][0]["message"],
        "no hint that it exists"
    );
    assert_eq!(error_codes(&missing), ["FORBIDDEN"]);
    assert!(app.me(&stranger).await["data"]["me"].is_object());
    assert_eq!(
        error_codes(
            &app.gql(&revoke("not-a-uuid".into()), json!({}), Some(&mine))
                .await
        ),
        ["BAD_USER_INPUT"]
    );

    // The phone's session is the newest: revoke it from the first one.
    let sessions = ids(app.gql("{ sessions { id } }", json!({}), Some(&mine)).await);
    assert_eq!(sessions.len(), 2);
    let body = app
        .gql(&revoke(sessions[0].clone()), json!({}), Some(&mine))
        .await;
    assert_eq!(body["data"]["revokeSession"]["revokedSessions"], 1);
    assert_eq!(sessions[0], phone_id);
    assert_eq!(error_codes(&app.me(&phone).await), ["UNAUTHENTICATED"]);
    assert_eq!(
        payload_codes(&app.refresh(&phone_rt).await),
        ["INVALID_REFRESH_TOKEN"]
    );
    let again = app
        .gql(&revoke(sessions[0].clone()), json!({}), Some(&mine))
        .await;
    assert_eq!(
        again["data"]["revokeSession"]["revokedSessions"], 0,
        "already ended"
    );
    assert!(app.me(&mine).await["data"]["me"].is_object());
    app.stop().await;
}

#[tokio::test]
async fn change_password_checks_the_old_one_and_ends_every_other_session() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let email = unique_email("change");
    let (here, here_rt) = app.signed_up_pair(&email).await;
    let (there, there_rt) = pair(&app.login(&email, PASSWORD).await);
    let change = "mutation($i: ChangePasswordInput!) { changePassword(input: $i) { accessToken refreshToken user { email } errors { code field } } }";

    let body = app
        .gql(
            change,
            json!({"i": {"currentPassword": "wrong-password-here", "newPassword": "short"}}),
            Some(&here),
        )
        .await;
    let payload = &body["data"]["changePassword"];
    assert_eq!(
        payload_codes(payload),
        ["INVALID_CREDENTIALS", "PASSWORD_TOO_SHORT"],
        "{body}"
    );
    assert_eq!(
        payload["errors"][0]["field"],
        json!(["input", "currentPassword"])
    );
    assert_eq!(
        payload["errors"][1]["field"],
        json!(["input", "newPassword"])
    );
    assert!(
        app.me(&there).await["data"]["me"].is_object(),
        "nothing changed"
    );

    let new_password = "a-brand-new-passphrase";
    let body = app
        .gql(
            change,
            json!({"i": {"currentPassword": PASSWORD, "newPassword": new_password}}),
            Some(&here),
        )
        .await;
    let payload = &body["data"]["changePassword"];
    assert!(is_signed_in(payload), "{body}");
    let (fresh, fresh_rt) = pair(payload);
    assert!(app.me(&fresh).await["data"]["me"].is_object());
    assert!(
        app.me(&here).await["data"]["me"].is_object(),
        "this session lives on"
    );
    assert_eq!(error_codes(&app.me(&there).await), ["UNAUTHENTICATED"]);
    assert_eq!(
        payload_codes(&app.refresh(&there_rt).await),
        ["INVALID_REFRESH_TOKEN"]
    );
    assert_ne!(fresh_rt, here_rt);
    assert!(is_signed_in(&app.refresh(&fresh_rt).await));

    assert_eq!(
        payload_codes(&app.login(&email, PASSWORD).await),
        ["INVALID_CREDENTIALS"]
    );
    assert!(is_signed_in(&app.login(&email, new_password).await));
    app.stop().await;
}

#[tokio::test]
async fn change_password_needs_a_token() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let body = app
        .gql(
            "mutation { changePassword(input: {currentPassword: \"a\", newPassword: \"b\"}) { accessToken } }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    app.stop().await;
}

#[tokio::test]
async fn the_refresh_token_is_stored_only_as_a_hash() {
    use sns_api::entity::refresh_token;
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let (_, rt) = app.signed_up_pair(&unique_email("hashed")).await;
    let conn = &app.db;
    let rows = refresh_token::Entity::find().all(conn).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].hash.len(), 64);
    assert!(!rows.iter().any(|r| r.hash.contains(&rt)));
    let by_session = refresh_token::Entity::find()
        .filter(refresh_token::Column::SessionId.eq(rows[0].session_id))
        .all(conn)
        .await
        .unwrap();
    assert_eq!(by_session.len(), 1);
    app.stop().await;
}

/// Moves every session's sign-in `days` into the past.
async fn signed_in_days_ago(conn: &sea_orm::DatabaseConnection, days: i64) {
    session::Entity::update_many()
        .col_expr(
            session::Column::CreatedAt,
            Expr::value(chrono::Utc::now() - chrono::Duration::days(days)),
        )
        .exec(conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_limit_however_active() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let (_, rt) = app.signed_up_pair(&unique_email("absolute")).await;
    let conn = &app.db;
    // Signed in 89 days ago: one refresh left, and it may not slide past day 90.
    signed_in_days_ago(conn, 89).await;
    let refreshed = app.refresh(&rt).await;
    assert!(is_signed_in(&refreshed), "{refreshed}");
    let (at, rt) = pair(&refreshed);
    let body = app
        .gql("{ sessions { expiresAt } }", json!({}), Some(&at))
        .await;
    let expires = chrono::DateTime::parse_from_rfc3339(
        body["data"]["sessions"][0]["expiresAt"].as_str().unwrap(),
    )
    .unwrap();
    let left = expires.with_timezone(&chrono::Utc) - chrono::Utc::now();
    assert!(
        left <= chrono::Duration::days(1),
        "capped at the absolute limit: {left}"
    );

    signed_in_days_ago(conn, 91).await;
    assert_eq!(
        payload_codes(&app.refresh(&rt).await),
        ["INVALID_REFRESH_TOKEN"]
    );
    app.stop().await;
}

#[tokio::test]
async fn sessions_that_ended_long_ago_go_with_their_refresh_tokens() {
    use sea_orm::{ActiveValue::Set, PaginatorTrait};
    use sns_api::entity::{refresh_token, user};
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let conn = &app.db;
    let session_of = async |email: &str| {
        let user = user::Entity::find()
            .filter(user::Column::Email.eq(email))
            .one(conn)
            .await
            .unwrap()
            .expect("the account");
        session::Entity::find()
            .filter(session::Column::UserId.eq(user.id))
            .one(conn)
            .await
            .unwrap()
            .expect("its session")
            .id
    };
    let tokens_of = async |id| {
        refresh_token::Entity::find()
            .filter(refresh_token::Column::SessionId.eq(id))
            .count(conn)
            .await
            .unwrap()
    };
    let ago = |hours| Expr::value(chrono::Utc::now() - chrono::Duration::hours(hours));
    let age = async |id, column, hours| {
        session::Entity::update_many()
            .col_expr(column, ago(hours))
            .filter(session::Column::Id.eq(id))
            .exec(conn)
            .await
            .unwrap();
    };

    // Live, refreshed once: two refresh tokens.
    let live_email = unique_email("live");
    let (_, rt) = app.signed_up_pair(&live_email).await;
    let (live_at, live_rt) = pair(&app.refresh(&rt).await);
    let live = session_of(&live_email).await;
    // Revoked just now: the revocation cache is refilled from such rows.
    let recent_email = unique_email("recent");
    let recent_at = app.signed_up(&recent_email).await;
    app.logout(&recent_at, "CURRENT").await;
    let recent = session_of(&recent_email).await;
    // Ended, but less than a day past their last token: kept.
    let mut kept = Vec::new();
    for (tag, column, hours) in [
        ("revoked-23h", session::Column::RevokedAt, 23),
        ("expired-1h", session::Column::ExpiresAt, 1),
    ] {
        let email = unique_email(tag);
        let at = app.signed_up(&email).await;
        if matches!(column, session::Column::RevokedAt) {
            app.logout(&at, "CURRENT").await;
        }
        let id = session_of(&email).await;
        age(id, column, hours).await;
        kept.push(id);
    }
    // Revoked three days ago (with a long rotation chain, more tokens than a
    // batch), and expired three days ago.
    let old_email = unique_email("old-revoked");
    let (at, old_rt) = app.signed_up_pair(&old_email).await;
    app.logout(&at, "CURRENT").await;
    let old_revoked = session_of(&old_email).await;
    let chain = (0..1200).map(|i| refresh_token::ActiveModel {
        hash: Set(format!("{i:064x}")),
        session_id: Set(old_revoked),
        created_at: Set(chrono::Utc::now()),
        rotated_at: Set(Some(chrono::Utc::now())),
    });
    refresh_token::Entity::insert_many(chain)
        .exec(conn)
        .await
        .unwrap();
    age(old_revoked, session::Column::RevokedAt, 72).await;
    let expired_email = unique_email("old-expired");
    let (_, expired_rt) = app.signed_up_pair(&expired_email).await;
    let old_expired = session_of(&expired_email).await;
    age(old_expired, session::Column::ExpiresAt, 72).await;
    assert_eq!(tokens_of(old_revoked).await, 1201);

    // A second instance on the same database does the housekeeping.
    let other = sns_api::app::App::build(config_for(&db)).await.unwrap();
    let state = other.state();
    assert_eq!(sns_api::service::session::prune(&state).await.unwrap(), 2);
    assert_eq!(sns_api::service::session::prune(&state).await.unwrap(), 0);

    let left: Vec<_> = session::Entity::find()
        .all(conn)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(left.len(), 4, "{left:?}");
    for id in [live, recent].iter().chain(&kept) {
        assert!(left.contains(id), "{id} was pruned");
    }
    for id in [old_revoked, old_expired] {
        assert_eq!(tokens_of(id).await, 0);
    }
    assert_eq!(tokens_of(live).await, 2);
    // The pruned sessions' refresh tokens answer as before; the live one
    // works; the one revoked just now stays revoked on both instances.
    for rt in [old_rt, expired_rt] {
        assert_eq!(
            payload_codes(&app.refresh(&rt).await),
            ["INVALID_REFRESH_TOKEN"]
        );
    }
    assert!(is_signed_in(&app.refresh(&live_rt).await));
    assert_eq!(app.me(&live_at).await["data"]["me"]["email"], live_email);
    assert!(sns_api::auth::authenticate(&state, &recent_at).is_err());
    assert_eq!(error_codes(&app.me(&recent_at).await), ["UNAUTHENTICATED"]);
    app.stop().await;
}
