//! The social graph: `profile` (one per account: handle, display name, bio
//! and its counts), `follow` (who follows whom) and `post`. Existing
//! accounts get a profile with a random handle.
//!
//! Follows and posts are ordered by their UUIDv7 `id` (newest first), which
//! is the key of every page; `follow` keeps one row per pair. The counts are
//! kept in `profile` by the transactions that add and remove rows.

use sea_orm::ConnectionTrait;
use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261127_000001_create_user::User;

/// Accounts given a profile per statement.
const BACKFILL_BATCH: usize = 500;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                Table::create()
                    .table(Profile::Table)
                    .if_not_exists()
                    .col(uuid(Profile::UserId).primary_key())
                    // Lower-case [a-z0-9_], normalised by the application.
                    .col(string_len(Profile::Handle, 30).unique_key())
                    .col(string_len_null(Profile::DisplayName, 50))
                    .col(string_len_null(Profile::Bio, 160))
                    .col(integer(Profile::PostCount).default(0))
                    .col(integer(Profile::FollowerCount).default(0))
                    .col(integer(Profile::FollowingCount).default(0))
                    .col(crate::instant(Profile::CreatedAt, backend))
                    .col(crate::instant(Profile::UpdatedAt, backend))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_profile_user")
                            .from(Profile::Table, Profile::UserId)
                            .to(User::Table, User::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Follow::Table)
                    .if_not_exists()
                    .col(uuid(Follow::Id).primary_key())
                    .col(uuid(Follow::FollowerId))
                    .col(uuid(Follow::FolloweeId))
                    .col(crate::instant(Follow::CreatedAt, backend))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_follow_follower")
                            .from(Follow::Table, Follow::FollowerId)
                            .to(Profile::Table, Profile::UserId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_follow_followee")
                            .from(Follow::Table, Follow::FolloweeId)
                            .to(Profile::Table, Profile::UserId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // One edge per pair; also the lookup of "does A follow B" and of the
        // profiles a feed reads.
        manager
            .create_index(
                Index::create()
                    .name("ux_follow_pair")
                    .table(Follow::Table)
                    .col(Follow::FollowerId)
                    .col(Follow::FolloweeId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // Pages of `following` and of `followers`, newest first.
        for (name, col) in [
            ("ix_follow_follower_id", Follow::FollowerId),
            ("ix_follow_followee_id", Follow::FolloweeId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Follow::Table)
                        .col(col)
                        .col(Follow::Id)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(Post::Table)
                    .if_not_exists()
                    .col(uuid(Post::Id).primary_key())
                    .col(uuid(Post::AuthorId))
                    .col(string_len(Post::Body, 500))
                    .col(crate::instant(Post::CreatedAt, backend))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_post_author")
                            .from(Post::Table, Post::AuthorId)
                            .to(Profile::Table, Profile::UserId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // A profile's posts and the feed's per-author reads, newest first.
        manager
            .create_index(
                Index::create()
                    .name("ix_post_author_id")
                    .table(Post::Table)
                    .col(Post::AuthorId)
                    .col(Post::Id)
                    .to_owned(),
            )
            .await?;
        backfill(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [Post::Table.into_iden(), Follow::Table.into_iden()] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .drop_table(Table::drop().table(Profile::Table).to_owned())
            .await
    }
}

/// A profile for every account that has none, with a random handle (never
/// one derived from the email, which stays private).
async fn backfill(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let select = Query::select()
        .column(User::Id)
        .column(User::CreatedAt)
        .from(User::Table)
        .to_owned();
    let rows = db.query_all(&select).await?;
    let mut accounts = Vec::with_capacity(rows.len());
    for row in rows {
        let id: sea_orm::prelude::Uuid = row.try_get("", "id")?;
        let created_at: sea_orm::prelude::DateTimeUtc = row.try_get("", "created_at")?;
        accounts.push((id, created_at));
    }
    let now = chrono::Utc::now();
    for chunk in accounts.chunks(BACKFILL_BATCH) {
        let mut insert = Query::insert()
            .into_table(Profile::Table)
            .columns([
                Profile::UserId,
                Profile::Handle,
                Profile::CreatedAt,
                Profile::UpdatedAt,
            ])
            .to_owned();
        for (id, created_at) in chunk {
            let handle = format!("user_{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
            insert.values_panic([
                (*id).into(),
                handle.into(),
                (*created_at).into(),
                now.into(),
            ]);
        }
        db.execute(&insert).await?;
    }
    Ok(())
}

#[derive(DeriveIden)]
pub enum Profile {
    Table,
    UserId,
    Handle,
    DisplayName,
    Bio,
    PostCount,
    FollowerCount,
    FollowingCount,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub enum Follow {
    Table,
    Id,
    FollowerId,
    FolloweeId,
    CreatedAt,
}

#[derive(DeriveIden)]
pub enum Post {
    Table,
    Id,
    AuthorId,
    Body,
    CreatedAt,
}
