//! Account security: second factors and the sign-in steps between them.
//!
//! - `session.aal` / `session.amr`: the assurance a session was opened (or
//!   stepped up) with, kept so that `refresh` issues tokens at that level.
//! - `totp`: at most one authenticator app per account; its secret
//!   encrypted (`TOTP_ENCRYPTION_KEY`), `confirmed_at` null until the first
//!   code, `last_step` the newest RFC 6238 time step accepted (replays of it,
//!   or of anything older, are refused).
//! - `recovery_code`: ten per account, stored as keyed hashes, single use.
//! - `mfa_ticket`: a password (or reset) that still waits for its second
//!   factor; single use, short-lived, stored as a hash.
//! - `passkey`: WebAuthn credentials; `credential_hash` (SHA-256 of the
//!   credential id) is the unique key, as ids run to 1023 bytes.
//! - `webauthn_challenge`: ceremony state, single use, so that any instance
//!   can finish what another began.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261127_000001_create_user::User;
use crate::m20261127_000002_create_session::Session;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        // One column per statement: SQLite alters one at a time.
        for col in [
            small_integer(SessionExt::Aal).default(1).to_owned(),
            string_len(SessionExt::Amr, 16).default("pwd").to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Session::Table)
                        .add_column(col)
                        .to_owned(),
                )
                .await?;
        }

        let user_fk = |table: DynIden, col: DynIden| {
            ForeignKey::create()
                .from(table, col)
                .to(User::Table, User::Id)
                .on_delete(ForeignKeyAction::Cascade)
                .to_owned()
        };

        manager
            .create_table(
                Table::create()
                    .table(Totp::Table)
                    .if_not_exists()
                    .col(uuid(Totp::UserId).primary_key())
                    .col(text(Totp::Secret))
                    .col(crate::instant(Totp::CreatedAt, backend))
                    .col(crate::instant_null(Totp::ConfirmedAt, backend))
                    .col(big_integer_null(Totp::LastStep))
                    .foreign_key(&mut user_fk(
                        Totp::Table.into_iden(),
                        Totp::UserId.into_iden(),
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RecoveryCode::Table)
                    .if_not_exists()
                    .col(uuid(RecoveryCode::Id).primary_key())
                    .col(uuid(RecoveryCode::UserId))
                    .col(string_len(RecoveryCode::Hash, 64))
                    .col(crate::instant(RecoveryCode::CreatedAt, backend))
                    .col(crate::instant_null(RecoveryCode::UsedAt, backend))
                    .foreign_key(&mut user_fk(
                        RecoveryCode::Table.into_iden(),
                        RecoveryCode::UserId.into_iden(),
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(MfaTicket::Table)
                    .if_not_exists()
                    .col(string_len(MfaTicket::Hash, 64).primary_key())
                    .col(uuid(MfaTicket::UserId))
                    .col(string_len(MfaTicket::Amr, 16))
                    .col(crate::instant(MfaTicket::CreatedAt, backend))
                    .col(crate::instant(MfaTicket::ExpiresAt, backend))
                    .foreign_key(&mut user_fk(
                        MfaTicket::Table.into_iden(),
                        MfaTicket::UserId.into_iden(),
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Passkey::Table)
                    .if_not_exists()
                    .col(uuid(Passkey::Id).primary_key())
                    .col(uuid(Passkey::UserId))
                    .col(string_len(Passkey::CredentialHash, 64))
                    .col(text(Passkey::Credential))
                    .col(string_len_null(Passkey::Name, 64))
                    .col(crate::instant(Passkey::CreatedAt, backend))
                    .col(crate::instant_null(Passkey::LastUsedAt, backend))
                    .foreign_key(&mut user_fk(
                        Passkey::Table.into_iden(),
                        Passkey::UserId.into_iden(),
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(WebauthnChallenge::Table)
                    .if_not_exists()
                    .col(uuid(WebauthnChallenge::Id).primary_key())
                    .col(uuid_null(WebauthnChallenge::UserId))
                    .col(string_len(WebauthnChallenge::Kind, 16))
                    .col(text(WebauthnChallenge::State))
                    .col(crate::instant(WebauthnChallenge::CreatedAt, backend))
                    .col(crate::instant(WebauthnChallenge::ExpiresAt, backend))
                    .foreign_key(&mut user_fk(
                        WebauthnChallenge::Table.into_iden(),
                        WebauthnChallenge::UserId.into_iden(),
                    ))
                    .to_owned(),
            )
            .await?;

        let indexes: [(&str, DynIden, Vec<DynIden>, bool); 6] = [
            (
                "ux_recovery_code_user_hash",
                RecoveryCode::Table.into_iden(),
                vec![
                    RecoveryCode::UserId.into_iden(),
                    RecoveryCode::Hash.into_iden(),
                ],
                true,
            ),
            (
                "ix_mfa_ticket_expires_at",
                MfaTicket::Table.into_iden(),
                vec![MfaTicket::ExpiresAt.into_iden()],
                false,
            ),
            (
                "ux_passkey_credential_hash",
                Passkey::Table.into_iden(),
                vec![Passkey::CredentialHash.into_iden()],
                true,
            ),
            (
                "ix_passkey_user_id",
                Passkey::Table.into_iden(),
                vec![Passkey::UserId.into_iden(), Passkey::Id.into_iden()],
                false,
            ),
            (
                "ix_webauthn_challenge_expires_at",
                WebauthnChallenge::Table.into_iden(),
                vec![WebauthnChallenge::ExpiresAt.into_iden()],
                false,
            ),
            (
                "ix_webauthn_challenge_user_id",
                WebauthnChallenge::Table.into_iden(),
                vec![WebauthnChallenge::UserId.into_iden()],
                false,
            ),
        ];
        for (name, table, cols, is_unique) in indexes {
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
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            WebauthnChallenge::Table.into_iden(),
            Passkey::Table.into_iden(),
            MfaTicket::Table.into_iden(),
            RecoveryCode::Table.into_iden(),
            Totp::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        for col in [SessionExt::Amr, SessionExt::Aal] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Session::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum SessionExt {
    Aal,
    Amr,
}

#[derive(DeriveIden)]
enum Totp {
    Table,
    UserId,
    Secret,
    CreatedAt,
    ConfirmedAt,
    LastStep,
}

#[derive(DeriveIden)]
enum RecoveryCode {
    Table,
    Id,
    UserId,
    Hash,
    CreatedAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum MfaTicket {
    Table,
    Hash,
    UserId,
    Amr,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Passkey {
    Table,
    Id,
    UserId,
    CredentialHash,
    Credential,
    Name,
    CreatedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum WebauthnChallenge {
    Table,
    Id,
    UserId,
    Kind,
    State,
    CreatedAt,
    ExpiresAt,
}
