//! Upgrading a database that already holds accounts: the social-graph
//! migration gives each one a profile with a random handle.

use migration::{Migrator, MigratorTrait};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use sns_api::entity::{profile, user};

use crate::common::*;

#[tokio::test]
async fn existing_accounts_get_a_random_handle_of_their_own() {
    let db = TestDb::fresh().await;
    let conn = db.connect().await;
    // Every migration before the social graph's.
    Migrator::up(&conn, Some(9))
        .await
        .expect("migrates to 000009");
    let now = chrono::Utc::now();
    let mut ids = Vec::new();
    for i in 0..3 {
        let u = user::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            email: Set(format!("old-{i}@example.com")),
            password_hash: Set("not-a-real-hash".into()),
            created_at: Set(now),
            updated_at: Set(now),
            email_verified: Set(false),
            disabled_at: Set(None),
        }
        .insert(&conn)
        .await
        .expect("an account of before");
        ids.push(u.id);
    }
    Migrator::up(&conn, None).await.expect("migrates the rest");

    let profiles = profile::Entity::find().all(&conn).await.unwrap();
    assert_eq!(profiles.len(), 3);
    let mut handles: Vec<&str> = profiles.iter().map(|p| p.handle.as_str()).collect();
    for p in &profiles {
        assert!(ids.contains(&p.user_id));
        assert!(
            sns_api::domain::Handle::parse(&p.handle).is_ok_and(|h| h.as_str() == p.handle),
            "{}",
            p.handle
        );
        assert!(!p.handle.contains("old"), "{}", p.handle);
        assert_eq!(
            (p.post_count, p.follower_count, p.following_count),
            (0, 0, 0)
        );
    }
    handles.sort_unstable();
    handles.dedup();
    assert_eq!(handles.len(), 3);
    conn.close().await.ok();
}
