//! Two instances on one database (a shared SQLite file, or one PostgreSQL /
//! MariaDB database): what one revokes, the other refuses within the sync
//! interval, also after a restart.

use std::time::Duration;

use crate::common::*;

const SYNC: Duration = Duration::from_millis(200);

async fn instance(db: &TestDb, grace: Option<Duration>) -> TestApp {
    let mut config = config_for(db);
    config.sessions.sync_interval = SYNC;
    if let Some(g) = grace {
        config.sessions.reuse_grace = g;
    }
    TestApp::spawn_with(config).await
}

#[tokio::test]
async fn a_logout_on_one_instance_is_refused_by_the_other() {
    let db = TestDb::fresh().await;
    let a = instance(&db, None).await;
    let b = instance(&db, None).await;
    let token = a.signed_up(&unique_email("two")).await;
    assert!(
        b.me(&token).await["data"]["me"].is_object(),
        "both accept it first"
    );
    assert_eq!(
        a.logout(&token, "CURRENT").await["data"]["logout"]["revokedSessions"],
        1
    );
    assert_eq!(
        error_codes(&a.me(&token).await),
        ["UNAUTHENTICATED"],
        "at once where it was made"
    );
    b.until_refused(&token).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_restarted_instance_refuses_what_was_revoked_before_and_while_it_was_down() {
    let db = TestDb::fresh().await;
    let a = instance(&db, None).await;
    let b = instance(&db, None).await;
    let email = unique_email("restart-two");
    let early = a.signed_up(&email).await;
    let late = a.logged_in(&email).await;
    let after = a.logged_in(&email).await;
    a.logout(&early, "CURRENT").await;
    b.until_refused(&early).await;
    b.stop().await;

    a.logout(&late, "CURRENT").await;
    let b = instance(&db, None).await;
    assert_eq!(error_codes(&b.me(&early).await), ["UNAUTHENTICATED"]);
    assert_eq!(
        error_codes(&b.me(&late).await),
        ["UNAUTHENTICATED"],
        "revoked while it was down"
    );
    assert!(b.me(&after).await["data"]["me"].is_object());
    a.logout(&after, "CURRENT").await;
    b.until_refused(&after).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn refresh_reuse_detected_on_one_instance_revokes_the_session_on_the_other() {
    let db = TestDb::fresh().await;
    let grace = Some(Duration::from_secs(1));
    let a = instance(&db, grace).await;
    let b = instance(&db, grace).await;
    let (_, rt0) = a.signed_up_pair(&unique_email("reuse-two")).await;
    // Rotated on B; the chain is the same on every instance.
    let (at1, _) = pair(&b.refresh(&rt0).await);
    assert!(a.me(&at1).await["data"]["me"].is_object());
    a.age_rotation(&rt0, chrono::Duration::seconds(2)).await;
    assert_eq!(
        payload_codes(&a.refresh(&rt0).await),
        ["INVALID_REFRESH_TOKEN"]
    );
    assert_eq!(error_codes(&a.me(&at1).await), ["UNAUTHENTICATED"]);
    b.until_refused(&at1).await;
    a.stop().await;
    b.stop().await;
}

/// What another instance's sync does with its cached `me` profile: a copy
/// that no longer shows the account as it is goes, whether cached before
/// the change or by a read that raced it; a copy that does stays, so an
/// account changed a moment ago is not read again every interval.
#[tokio::test]
async fn the_sync_drops_a_stale_me_profile_and_keeps_a_current_one() {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    use sns_api::db::count_statements;
    use sns_api::entity::user;
    use sns_api::service::user::{profile, pull_profile_changes};

    let db = TestDb::fresh().await;
    let a = TestApp::spawn(&db).await;
    // The other instance, built but not run: no sync of its own in the way.
    let b = sns_api::app::App::build(config_for(&db))
        .await
        .expect("the app starts")
        .state();
    let token = a.signed_up(&unique_email("synced")).await;
    let id = sns_api::auth::authenticate(&b, &token)
        .expect("a valid token")
        .user_id;
    let since = sns_api::service::clock::now() - chrono::Duration::hours(1);
    let read = |b: &sns_api::state::AppState| {
        let b = b.clone();
        async move {
            let (shown, statements) = count_statements(profile(&b, id)).await;
            (
                shown.unwrap().expect("the account").email_verified,
                statements,
            )
        }
    };

    assert_eq!(read(&b).await, (false, 1), "read once, then cached");
    assert_eq!(pull_profile_changes(&b, since).await.unwrap(), 1);
    assert_eq!(read(&b).await, (false, 0), "a current copy stays");

    // Another instance's change of the account: one column, and `updated_at`.
    let conn = &a.db;
    let change = |column: user::Column, value: sea_orm::Value| {
        user::Entity::update_many()
            .col_expr(column, Expr::value(value))
            .col_expr(
                user::Column::UpdatedAt,
                Expr::value(sns_api::service::clock::now()),
            )
            .filter(user::Column::Id.eq(id))
            .exec(conn)
    };

    // Another instance verifies the address.
    change(user::Column::EmailVerified, true.into())
        .await
        .unwrap();
    assert_eq!(read(&b).await, (false, 0), "cached until the sync");
    pull_profile_changes(&b, since).await.unwrap();
    assert_eq!(read(&b).await, (true, 1), "the stale copy went");
    pull_profile_changes(&b, since).await.unwrap();
    assert_eq!(read(&b).await, (true, 0), "the new one stays");

    // A read that raced the change put the old profile back.
    let mut raced = profile(&b, id).await.unwrap().unwrap();
    raced.email_verified = false;
    b.profiles().insert(id, raced);
    pull_profile_changes(&b, since).await.unwrap();
    assert_eq!(read(&b).await, (true, 1), "the raced copy went too");

    // The address changes and changes back, all within one second.
    let first = profile(&b, id).await.unwrap().unwrap().email;
    let set_email = |email: String| change(user::Column::Email, email.into());
    let moved = unique_email("synced-moved");
    set_email(moved.clone()).await.unwrap();
    pull_profile_changes(&b, since).await.unwrap();
    assert_eq!(
        profile(&b, id).await.unwrap().unwrap().email.as_ref(),
        moved
    );
    set_email(first.to_string()).await.unwrap();
    pull_profile_changes(&b, since).await.unwrap();
    let (shown, statements) = count_statements(profile(&b, id)).await;
    assert_eq!(
        (shown.unwrap().unwrap().email, statements),
        (first, 1),
        "moved back: read again"
    );
    a.stop().await;
}
