//! Safety: blocks, mutes, follow requests, reports and locked profiles.
//!
//! - `profile.locked`: follows need the owner's approval, and its posts are
//!   for its followers only.
//! - `block` and `mute`: one row per (who, whom), each way its own row; the
//!   pair's unique index answers "does A block B", the second index "who
//!   blocks (or mutes) B" among a list (the live filter).
//! - `follow_request`: one pending request per (requester, target), paged
//!   by the target newest first through its UUIDv7 `id`.
//! - `report`: what an account reported, for operators. No foreign keys:
//!   a report outlives the post and the accounts it names, so it keeps a
//!   copy of the handle and of the post's body as they were.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261203_000010_create_social::Profile;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .alter_table(
                Table::alter()
                    .table(Profile::Table)
                    .add_column(boolean(ProfileExt::Locked).default(false))
                    .to_owned(),
            )
            .await?;

        // (table, who, whom): a block, a mute, a follow request.
        for (table, who, whom) in [
            (Block::Table.into_iden(), Pair::BlockerId, Pair::BlockedId),
            (Mute::Table.into_iden(), Pair::MuterId, Pair::MutedId),
            (
                FollowRequest::Table.into_iden(),
                Pair::RequesterId,
                Pair::TargetId,
            ),
        ] {
            let mut create = Table::create();
            create
                .table(table.clone())
                .if_not_exists()
                .col(uuid(Pair::Id).primary_key())
                .col(uuid(who))
                .col(uuid(whom))
                .col(crate::instant(Pair::CreatedAt, backend));
            for col in [who, whom] {
                create.foreign_key(
                    ForeignKey::create()
                        .from(table.clone(), col)
                        .to(Profile::Table, Profile::UserId)
                        .on_delete(ForeignKeyAction::Cascade),
                );
            }
            manager.create_table(create.to_owned()).await?;
        }
        for (name, table, cols, is_unique) in [
            (
                "ux_block_pair",
                Block::Table.into_iden(),
                [Pair::BlockerId, Pair::BlockedId],
                true,
            ),
            (
                "ix_block_blocked_id",
                Block::Table.into_iden(),
                [Pair::BlockedId, Pair::BlockerId],
                false,
            ),
            (
                "ux_mute_pair",
                Mute::Table.into_iden(),
                [Pair::MuterId, Pair::MutedId],
                true,
            ),
            (
                "ix_mute_muted_id",
                Mute::Table.into_iden(),
                [Pair::MutedId, Pair::MuterId],
                false,
            ),
            (
                "ux_follow_request_pair",
                FollowRequest::Table.into_iden(),
                [Pair::RequesterId, Pair::TargetId],
                true,
            ),
            (
                "ix_follow_request_target_id",
                FollowRequest::Table.into_iden(),
                [Pair::TargetId, Pair::Id],
                false,
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(table);
            if is_unique {
                index.unique();
            }
            for c in cols {
                index.col(c);
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Report::Table)
                    .if_not_exists()
                    .col(uuid(Report::Id).primary_key())
                    .col(uuid(Report::ReporterId))
                    .col(uuid(Report::AccountId))
                    .col(string_len(Report::Handle, 30))
                    .col(uuid_null(Report::PostId))
                    .col(text_null(Report::PostBody))
                    .col(string_len(Report::Reason, 16))
                    .col(text_null(Report::Comment))
                    .col(crate::instant(Report::CreatedAt, backend))
                    .col(crate::instant_null(Report::ResolvedAt, backend))
                    .col(text_null(Report::Resolution))
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            // The open reports, oldest first; then all of them.
            ("ix_report_resolved_at", [Report::ResolvedAt, Report::Id]),
            // A reporter's recent reports (`REPORT_LIMIT`).
            ("ix_report_reporter_id", [Report::ReporterId, Report::Id]),
            // The reports about an account.
            ("ix_report_account_id", [Report::AccountId, Report::Id]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Report::Table);
            for c in cols {
                index.col(c);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Report::Table.into_iden(),
            FollowRequest::Table.into_iden(),
            Mute::Table.into_iden(),
            Block::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Profile::Table)
                    .drop_column(ProfileExt::Locked)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum ProfileExt {
    Locked,
}

#[derive(DeriveIden)]
enum Block {
    Table,
}

#[derive(DeriveIden)]
enum Mute {
    Table,
}

#[derive(DeriveIden)]
enum FollowRequest {
    Table,
}

/// The columns the pair tables share.
#[derive(DeriveIden, Clone, Copy)]
enum Pair {
    Id,
    BlockerId,
    BlockedId,
    MuterId,
    MutedId,
    RequesterId,
    TargetId,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Report {
    Table,
    Id,
    ReporterId,
    AccountId,
    Handle,
    PostId,
    PostBody,
    Reason,
    Comment,
    CreatedAt,
    ResolvedAt,
    Resolution,
}
