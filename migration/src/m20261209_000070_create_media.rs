//! Media: uploaded images and the queue that deletes their objects.
//!
//! - `media`: one uploaded image, re-encoded; its two objects (`full_key`,
//!   `preview_key`) are in the store. Unattached (`attached_at` null) until a
//!   post (`post_id`, `position` 0-3) or a profile (`profile.avatar_id` /
//!   `banner_id`) takes it; unattached rows older than a day expire. No
//!   foreign keys: a row goes only with its objects queued for deletion, in
//!   one transaction, which a cascade would skip.
//! - `media_deletion`: object keys to delete from the store, written in the
//!   transaction that dropped their last reference; a worker on every
//!   instance claims due rows (a lease, as the mail outbox does), deletes the
//!   object and then the row, and retries with back-off when the store fails.
//! - `profile.avatar_id`, `profile.banner_id`: the profile's pictures.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261203_000010_create_social::Profile;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                Table::create()
                    .table(Media::Table)
                    .if_not_exists()
                    .col(uuid(Media::Id).primary_key())
                    .col(uuid(Media::OwnerId))
                    .col(string_len(Media::FullKey, 200))
                    .col(string_len(Media::PreviewKey, 200))
                    .col(string_len(Media::ContentType, 32))
                    .col(integer(Media::Width))
                    .col(integer(Media::Height))
                    .col(big_integer(Media::Bytes))
                    .col(string_len(Media::Blurhash, 64))
                    .col(text_null(Media::Alt))
                    .col(uuid_null(Media::PostId))
                    .col(small_integer_null(Media::Position))
                    .col(crate::instant(Media::CreatedAt, backend))
                    .col(crate::instant_null(Media::AttachedAt, backend))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MediaDeletion::Table)
                    .if_not_exists()
                    .col(uuid(MediaDeletion::Id).primary_key())
                    .col(string_len(MediaDeletion::ObjectKey, 200))
                    .col(integer(MediaDeletion::Attempts).default(0))
                    .col(crate::instant(MediaDeletion::NextAttemptAt, backend))
                    .col(uuid_null(MediaDeletion::ClaimedBy))
                    .col(crate::instant_null(MediaDeletion::ClaimedUntil, backend))
                    .col(string_len_null(MediaDeletion::LastError, 500))
                    .col(crate::instant(MediaDeletion::CreatedAt, backend))
                    .to_owned(),
            )
            .await?;
        for col in [ProfileExt::AvatarId, ProfileExt::BannerId] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Profile::Table)
                        .add_column(uuid_null(col))
                        .to_owned(),
                )
                .await?;
        }
        let indexes: [(&str, DynIden, Vec<DynIden>); 4] = [
            (
                "ix_media_post_id",
                Media::Table.into_iden(),
                vec![Media::PostId.into_iden(), Media::Position.into_iden()],
            ),
            (
                "ix_media_owner_id",
                Media::Table.into_iden(),
                vec![Media::OwnerId.into_iden()],
            ),
            (
                "ix_media_unattached",
                Media::Table.into_iden(),
                vec![Media::AttachedAt.into_iden(), Media::CreatedAt.into_iden()],
            ),
            (
                "ix_media_deletion_next_attempt_at",
                MediaDeletion::Table.into_iden(),
                vec![MediaDeletion::NextAttemptAt.into_iden()],
            ),
        ];
        for (name, table, cols) in indexes {
            let mut index = Index::create();
            index.name(name).table(table);
            for c in cols {
                index.col(c);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [ProfileExt::BannerId, ProfileExt::AvatarId] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Profile::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        for table in [MediaDeletion::Table.into_iden(), Media::Table.into_iden()] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum ProfileExt {
    AvatarId,
    BannerId,
}

#[derive(DeriveIden)]
enum Media {
    Table,
    Id,
    OwnerId,
    FullKey,
    PreviewKey,
    ContentType,
    Width,
    Height,
    Bytes,
    Blurhash,
    Alt,
    PostId,
    Position,
    CreatedAt,
    AttachedAt,
}

#[derive(DeriveIden)]
enum MediaDeletion {
    Table,
    Id,
    ObjectKey,
    Attempts,
    NextAttemptAt,
    ClaimedBy,
    ClaimedUntil,
    LastError,
    CreatedAt,
}
