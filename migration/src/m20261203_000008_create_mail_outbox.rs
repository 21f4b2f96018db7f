//! `mail_outbox`: mails waiting to be sent, written in the transaction that
//! decided to send them and sent by a worker on every instance. A row is
//! claimed (`claimed_by`, `claimed_until`) before it is sent, so that two
//! instances never send one mail; a sent row loses its body at once.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                Table::create()
                    .table(MailOutbox::Table)
                    .if_not_exists()
                    .col(uuid(MailOutbox::Id).primary_key())
                    .col(string_len(MailOutbox::Recipient, 254))
                    .col(string_len(MailOutbox::Subject, 255))
                    .col(text_null(MailOutbox::Body))
                    .col(integer(MailOutbox::Attempts).default(0))
                    .col(crate::instant(MailOutbox::NextAttemptAt, backend))
                    .col(uuid_null(MailOutbox::ClaimedBy))
                    .col(crate::instant_null(MailOutbox::ClaimedUntil, backend))
                    .col(crate::instant_null(MailOutbox::SentAt, backend))
                    .col(crate::instant_null(MailOutbox::FailedAt, backend))
                    .col(string_len_null(MailOutbox::LastError, 512))
                    .col(crate::instant(MailOutbox::CreatedAt, backend))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_mail_outbox_next_attempt_at")
                    .table(MailOutbox::Table)
                    .col(MailOutbox::NextAttemptAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(MailOutbox::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum MailOutbox {
    Table,
    Id,
    Recipient,
    Subject,
    Body,
    Attempts,
    NextAttemptAt,
    ClaimedBy,
    ClaimedUntil,
    SentAt,
    FailedAt,
    LastError,
    CreatedAt,
}
