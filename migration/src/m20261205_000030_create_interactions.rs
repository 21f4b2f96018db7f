//! Interactions and notifications: likes, reposts, replies, mentions, and
//! the grouped notification inbox.
//!
//! - `post` gains `in_reply_to_id` (the parent, kept after the parent is
//!   deleted) and its counts (`like_count`, `repost_count`, `reply_count`),
//!   kept by the transactions that add and remove rows, like the profile's.
//! - `post_like` and `repost`: one row per (post, account), ordered by their
//!   UUIDv7 `id`. An undone repost keeps its row for a while with
//!   `removed_at` set, so that a feed being paged still knows the post had
//!   a newer entry (see `service::feed`); everything else reads live rows.
//! - `mention`: the profiles a post @-mentions, in order of first mention.
//! - `notification_group`: one row per group of an account's inbox (a
//!   post's likes, a post's reposts, a day's follows, one reply, one
//!   mention), with its newest event's id (`top_id`, the inbox's order) and
//!   its number of actors; `notification_event`: one row per actor in a
//!   group; `notification_seen`: each account's seen marker.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261127_000001_create_user::User;
use crate::m20261203_000010_create_social::{Post, Profile};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        // One column per statement: SQLite alters one at a time.
        for col in [
            uuid_null(PostExt::InReplyToId),
            integer(PostExt::LikeCount).default(0).take(),
            integer(PostExt::RepostCount).default(0).take(),
            integer(PostExt::ReplyCount).default(0).take(),
        ] {
            let mut col = col;
            manager
                .alter_table(
                    Table::alter()
                        .table(Post::Table)
                        .add_column(&mut col)
                        .to_owned(),
                )
                .await?;
        }
        // A post's direct replies, oldest first.
        index(
            manager,
            "ix_post_in_reply_to_id",
            Post::Table,
            &[PostExt::InReplyToId.into_iden(), Post::Id.into_iden()],
        )
        .await?;

        for (table, user_col, tombstones) in [
            (
                PostLike::Table.into_iden(),
                PostLike::UserId.into_iden(),
                false,
            ),
            (Repost::Table.into_iden(), Repost::UserId.into_iden(), true),
        ] {
            let mut create = Table::create();
            create
                .table(table.clone())
                .if_not_exists()
                .col(uuid(Shared::Id).primary_key())
                .col(uuid(Shared::PostId))
                .col(uuid(user_col.clone()))
                .col(crate::instant(Shared::CreatedAt, backend))
                .foreign_key(
                    ForeignKey::create()
                        .from(table.clone(), Shared::PostId)
                        .to(Post::Table, Post::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(table.clone(), user_col.clone())
                        .to(Profile::Table, Profile::UserId)
                        .on_delete(ForeignKeyAction::Cascade),
                );
            if tombstones {
                create.col(crate::instant_null(Repost::RemovedAt, backend));
            }
            manager.create_table(create.to_owned()).await?;
        }
        // One like and one repost per (post, account); `likedBy` pages.
        unique(
            manager,
            "ux_post_like_pair",
            PostLike::Table,
            &[PostLike::PostId.into_iden(), PostLike::UserId.into_iden()],
        )
        .await?;
        index(
            manager,
            "ix_post_like_post_id",
            PostLike::Table,
            &[PostLike::PostId.into_iden(), PostLike::Id.into_iden()],
        )
        .await?;
        index(
            manager,
            "ix_post_like_user_id",
            PostLike::Table,
            &[PostLike::UserId.into_iden(), PostLike::Id.into_iden()],
        )
        .await?;
        unique(
            manager,
            "ux_repost_pair",
            Repost::Table,
            &[Repost::PostId.into_iden(), Repost::UserId.into_iden()],
        )
        .await?;
        // A reposter's entries in feeds, newest first; a post's reposts.
        index(
            manager,
            "ix_repost_user_id",
            Repost::Table,
            &[Repost::UserId.into_iden(), Repost::Id.into_iden()],
        )
        .await?;
        index(
            manager,
            "ix_repost_post_id",
            Repost::Table,
            &[Repost::PostId.into_iden(), Repost::Id.into_iden()],
        )
        .await?;

        // The purge of undone reposts, a range of this index.
        index(
            manager,
            "ix_repost_removed_at",
            Repost::Table,
            &[Repost::RemovedAt.into_iden()],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Mention::Table)
                    .if_not_exists()
                    .col(uuid(Mention::PostId))
                    .col(uuid(Mention::ProfileId))
                    .col(integer(Mention::Position))
                    .primary_key(Index::create().col(Mention::PostId).col(Mention::ProfileId))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Mention::Table, Mention::PostId)
                            .to(Post::Table, Post::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Mention::Table, Mention::ProfileId)
                            .to(Profile::Table, Profile::UserId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_mention_profile_id",
            Mention::Table,
            &[Mention::ProfileId.into_iden()],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(NotificationGroup::Table)
                    .if_not_exists()
                    .col(uuid(NotificationGroup::Id).primary_key())
                    .col(uuid(NotificationGroup::RecipientId))
                    .col(string_len(NotificationGroup::Kind, 16))
                    // What the group is about: a post's id, or a UTC day.
                    .col(string_len(NotificationGroup::Subject, 40))
                    .col(uuid_null(NotificationGroup::PostId))
                    .col(uuid(NotificationGroup::TopId))
                    .col(integer(NotificationGroup::ActorCount).default(0))
                    .foreign_key(
                        ForeignKey::create()
                            .from(NotificationGroup::Table, NotificationGroup::RecipientId)
                            .to(Profile::Table, Profile::UserId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        unique(
            manager,
            "ux_notification_group_subject",
            NotificationGroup::Table,
            &[
                NotificationGroup::RecipientId.into_iden(),
                NotificationGroup::Kind.into_iden(),
                NotificationGroup::Subject.into_iden(),
            ],
        )
        .await?;
        // The inbox, newest group first; the groups about a post; retention.
        index(
            manager,
            "ix_notification_group_inbox",
            NotificationGroup::Table,
            &[
                NotificationGroup::RecipientId.into_iden(),
                NotificationGroup::TopId.into_iden(),
            ],
        )
        .await?;
        index(
            manager,
            "ix_notification_group_post_id",
            NotificationGroup::Table,
            &[NotificationGroup::PostId.into_iden()],
        )
        .await?;
        index(
            manager,
            "ix_notification_group_top_id",
            NotificationGroup::Table,
            &[NotificationGroup::TopId.into_iden()],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(NotificationEvent::Table)
                    .if_not_exists()
                    .col(uuid(NotificationEvent::Id).primary_key())
                    .col(uuid(NotificationEvent::GroupId))
                    .col(uuid(NotificationEvent::ActorId))
                    .foreign_key(
                        ForeignKey::create()
                            .from(NotificationEvent::Table, NotificationEvent::GroupId)
                            .to(NotificationGroup::Table, NotificationGroup::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(NotificationEvent::Table, NotificationEvent::ActorId)
                            .to(Profile::Table, Profile::UserId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // One event per actor in a group; a group's actors, newest first.
        unique(
            manager,
            "ux_notification_event_actor",
            NotificationEvent::Table,
            &[
                NotificationEvent::GroupId.into_iden(),
                NotificationEvent::ActorId.into_iden(),
            ],
        )
        .await?;
        index(
            manager,
            "ix_notification_event_group",
            NotificationEvent::Table,
            &[
                NotificationEvent::GroupId.into_iden(),
                NotificationEvent::Id.into_iden(),
            ],
        )
        .await?;
        index(
            manager,
            "ix_notification_event_actor_id",
            NotificationEvent::Table,
            &[NotificationEvent::ActorId.into_iden()],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(NotificationSeen::Table)
                    .if_not_exists()
                    .col(uuid(NotificationSeen::UserId).primary_key())
                    // The largest event id at or before the marker's instant.
                    .col(uuid(NotificationSeen::UntilId))
                    .foreign_key(
                        ForeignKey::create()
                            .from(NotificationSeen::Table, NotificationSeen::UserId)
                            .to(User::Table, User::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            NotificationSeen::Table.into_iden(),
            NotificationEvent::Table.into_iden(),
            NotificationGroup::Table.into_iden(),
            Mention::Table.into_iden(),
            Repost::Table.into_iden(),
            PostLike::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("ix_post_in_reply_to_id")
                    .table(Post::Table)
                    .to_owned(),
            )
            .await?;
        for col in [
            PostExt::InReplyToId,
            PostExt::LikeCount,
            PostExt::RepostCount,
            PostExt::ReplyCount,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Post::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

async fn index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden,
    cols: &[DynIden],
) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.name(name).table(table);
    for c in cols {
        index.col(c.clone());
    }
    manager.create_index(index.to_owned()).await
}

async fn unique(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden,
    cols: &[DynIden],
) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.name(name).table(table).unique();
    for c in cols {
        index.col(c.clone());
    }
    manager.create_index(index.to_owned()).await
}

#[derive(DeriveIden)]
enum PostExt {
    InReplyToId,
    LikeCount,
    RepostCount,
    ReplyCount,
}

/// The columns `post_like` and `repost` share.
#[derive(DeriveIden)]
enum Shared {
    Id,
    PostId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PostLike {
    Table,
    Id,
    PostId,
    UserId,
}

#[derive(DeriveIden)]
enum Repost {
    Table,
    Id,
    PostId,
    UserId,
    RemovedAt,
}

#[derive(DeriveIden)]
enum Mention {
    Table,
    PostId,
    ProfileId,
    Position,
}

#[derive(DeriveIden)]
enum NotificationGroup {
    Table,
    Id,
    RecipientId,
    Kind,
    Subject,
    PostId,
    TopId,
    ActorCount,
}

#[derive(DeriveIden)]
enum NotificationEvent {
    Table,
    Id,
    GroupId,
    ActorId,
}

#[derive(DeriveIden)]
enum NotificationSeen {
    Table,
    UserId,
    UntilId,
}
