//! `sns-api users …`: what an operator does to one account, on the same
//! database as the service. Ended sessions reach running instances like any
//! other revocation (their sync reads them; on PostgreSQL a notification
//! wakes them at once). `sns-api reports …` is in [`reports`].

pub mod reports;

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, QueryFilter,
    TransactionTrait,
};

use crate::config::{Config, UsersAction};
use crate::domain::Email;
use crate::entity::{session, user};
use crate::service::{self, deletion, disable};

/// Runs one `users` subcommand; prints what it did.
pub async fn run(config: &Config, action: UsersAction) -> anyhow::Result<()> {
    let db = open(config).await?;
    let result = act(&db, action).await;
    db.close().await.ok();
    result
}

/// The service's database, checked and migrated, for an operator command.
async fn open(config: &Config) -> anyhow::Result<DatabaseConnection> {
    config.validate()?;
    let db = crate::db::connect(&config.database).await?;
    crate::db::migrate(&db).await?;
    Ok(db)
}

async fn act(db: &DatabaseConnection, action: UsersAction) -> anyhow::Result<()> {
    let (UsersAction::Show { email }
    | UsersAction::Disable { email }
    | UsersAction::Enable { email }
    | UsersAction::EndSessions { email }
    | UsersAction::Delete { email }) = &action;
    let email =
        Email::parse(email).map_err(|_| anyhow::anyhow!("`{email}` is not an email address"))?;
    let found = user::Entity::find()
        .filter(user::Column::Email.eq(email.as_str()))
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no account has the address {}", email.as_str()))?;
    let now = service::clock::now();
    match action {
        UsersAction::Show { .. } => {
            let live = service::session::live_ids_of_user(db, found.id, now)
                .await
                .map_err(err)?;
            let sessions = session::Entity::find()
                .filter(session::Column::UserId.eq(found.id))
                .all(db)
                .await?;
            let profile = crate::entity::profile::Entity::find_by_id(found.id)
                .one(db)
                .await?;
            println!("id:             {}", found.id);
            println!("email:          {}", found.email);
            if let Some(p) = &profile {
                println!("handle:         {}", p.handle);
                println!(
                    "posts:          {} (followers {}, following {})",
                    p.post_count, p.follower_count, p.following_count
                );
            }
            println!("email verified: {}", found.email_verified);
            match found.disabled_at {
                Some(at) => println!("disabled:       since {at}"),
                None => println!("disabled:       no"),
            }
            println!("created:        {}", found.created_at);
            println!(
                "live sessions:  {} (of {} on record)",
                live.len(),
                sessions.len()
            );
        }
        UsersAction::Disable { .. } => {
            disable::set_disabled(db, found.id, Some(now))
                .await
                .map_err(err)?;
            let ended = end_sessions(db, found.id, now).await?;
            println!("disabled {}; {ended} session(s) ended", found.email);
        }
        UsersAction::Enable { .. } => {
            disable::set_disabled(db, found.id, None)
                .await
                .map_err(err)?;
            wake_instances(db).await;
            println!("enabled {}", found.email);
        }
        UsersAction::EndSessions { .. } => {
            let ended = end_sessions(db, found.id, now).await?;
            println!("{ended} session(s) of {} ended", found.email);
        }
        UsersAction::Delete { .. } => {
            let txn = db.begin().await?;
            let ended = deletion::delete_in(&txn, found.id, now)
                .await
                .map_err(err)?;
            // Read by every instance's relay (woken below).
            let gone = vec![crate::live::Event::AccountDeleted { user: found.id }];
            let _for_the_relays = crate::live::event::write(&txn, gone).await.map_err(err)?;
            txn.commit().await?;
            wake_instances(db).await;
            println!("deleted {}; {} session(s) ended", found.email, ended.len());
        }
    }
    Ok(())
}

async fn end_sessions(
    db: &DatabaseConnection,
    user: uuid::Uuid,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<usize> {
    let txn = db.begin().await?;
    let ended = service::session::end_sessions_in(&txn, user, now)
        .await
        .map_err(err)?;
    txn.commit().await?;
    wake_instances(db).await;
    Ok(ended.len())
}

/// PostgreSQL: wakes the instances' revocation sync now (the others poll),
/// which reads ended sessions and changed accounts alike, and their live
/// relays (an account deleted here ends its posts' `postChanged`).
async fn wake_instances(db: &DatabaseConnection) {
    if db.get_database_backend() == DatabaseBackend::Postgres {
        for channel in [
            service::session::REVOCATION_CHANNEL,
            crate::live::event::CHANNEL,
        ] {
            if let Err(e) = db.execute_unprepared(&format!("NOTIFY {channel}")).await {
                eprintln!(
                    "warning: could not notify running instances ({e}); they see it at their next sync"
                );
            }
        }
    }
}

fn err(e: crate::error::AppError) -> anyhow::Error {
    anyhow::anyhow!("{e:?}")
}
