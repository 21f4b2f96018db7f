//! The outbox: a mail is a row written in the transaction that decided to
//! send it; a worker on every instance claims due rows, sends them and
//! records the outcome. A claim is exclusive for a lease longer than any one
//! send may take, so two instances never send one mail; a sent row loses its
//! body (it may hold a live token) in the statement that marks it sent.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::{Mail, Sender};
use crate::entity::mail_outbox;
use crate::error::AppError;
use crate::state::AppState;

/// Rows claimed, and sent at once, per round.
const BATCH: u64 = 32;
/// The longest wait between two attempts of one mail.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// Stored error text is cut to this many characters.
const ERROR_LEN: usize = 500;

/// Writes `mail` to the outbox, within the caller's transaction when `conn`
/// is one; due at once.
pub async fn enqueue(
    conn: &impl ConnectionTrait,
    mail: Mail,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    mail_outbox::Entity::insert(mail_outbox::ActiveModel {
        id: Set(Uuid::now_v7()),
        recipient: Set(mail.to),
        subject: Set(mail.subject),
        body: Set(Some(mail.body)),
        attempts: Set(0),
        next_attempt_at: Set(now),
        claimed_by: Set(None),
        claimed_until: Set(None),
        sent_at: Set(None),
        failed_at: Set(None),
        last_error: Set(None),
        created_at: Set(now),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Mails neither sent nor given up on.
pub async fn pending(db: &DatabaseConnection) -> Result<u64, AppError> {
    Ok(mail_outbox::Entity::find()
        .filter(mail_outbox::Column::SentAt.is_null())
        .filter(mail_outbox::Column::FailedAt.is_null())
        .count(db)
        .await?)
}

/// How the worker sends: the transport, and the mail settings it keeps to.
#[derive(Clone)]
pub struct Worker {
    sender: Sender,
    config: crate::config::Mail,
}

impl Worker {
    pub fn new(config: &crate::config::Mail) -> Result<Self, String> {
        Ok(Self {
            sender: Sender::new(config)?,
            config: config.clone(),
        })
    }

    /// How long a claim holds: longer than a send may take (it is cut off
    /// at `send_timeout`), so a claim never lapses while its mail is sent.
    fn lease(&self) -> Duration {
        self.config.send_timeout + Duration::from_secs(60)
    }

    /// The wait after the `attempts`-th failed attempt: `backoff × 2^(n-1)`,
    /// at most an hour.
    pub fn retry_in(&self, attempts: u32) -> Duration {
        let factor = 1u32 << attempts.clamp(1, 16).saturating_sub(1);
        self.config
            .retry_backoff
            .saturating_mul(factor)
            .min(MAX_BACKOFF)
    }
}

/// The worker: every `poll`, or at once when this instance wrote mail, sends
/// what is due until nothing is. Never returns; aborted at shutdown (a claim
/// cut off that way lapses and the mail is sent again later).
pub async fn run(state: AppState, worker: Worker) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(worker.config.poll_interval) => {}
            () = state.mail_wake().notified() => {}
        }
        loop {
            match send_due(&state, &worker).await {
                Ok(n) if n as u64 == BATCH => {}
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = ?e, "mail outbox round failed; retrying next poll");
                    break;
                }
            }
        }
    }
}

/// One round: claims up to a batch of due mails, sends them at once and
/// records each outcome; answers how many were claimed.
pub async fn send_due(state: &AppState, worker: &Worker) -> Result<usize, AppError> {
    let now = crate::service::clock::now();
    let claim = Uuid::new_v4();
    let rows = claim_due(state.db(), claim, now, worker.lease()).await?;
    let count = rows.len();
    let mut sends = tokio::task::JoinSet::new();
    for row in rows {
        let (state, worker) = (state.clone(), worker.clone());
        sends.spawn(async move {
            let outcome = match &row.body {
                Some(body) => {
                    let mail = Mail {
                        to: row.recipient.clone(),
                        subject: row.subject.clone(),
                        body: body.clone(),
                    };
                    match tokio::time::timeout(
                        worker.config.send_timeout,
                        worker.sender.send(&mail),
                    )
                    .await
                    {
                        Ok(sent) => sent.map_err(|e| e.0),
                        Err(_) => Err("timed out".to_owned()),
                    }
                }
                None => Err("the mail has no body".to_owned()),
            };
            record(&state, &worker, &row, claim, outcome).await
        });
    }
    while let Some(done) = sends.join_next().await {
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = ?e, "a mail's outcome was not recorded"),
            Err(e) => tracing::warn!(error = %e, "a mail send task failed"),
        }
    }
    Ok(count)
}

/// Due: unsent, not given up on, its time come, and not claimed (or its
/// claim lapsed).
fn due(now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(mail_outbox::Column::SentAt.is_null())
        .add(mail_outbox::Column::FailedAt.is_null())
        .add(mail_outbox::Column::NextAttemptAt.lte(now))
        .add(
            Condition::any()
                .add(mail_outbox::Column::ClaimedUntil.is_null())
                .add(mail_outbox::Column::ClaimedUntil.lt(now)),
        )
}

/// Marks up to a batch of due rows as claimed by `claim` and answers them
/// (`service::lease::claim`: instances sharing the database take different
/// rows).
async fn claim_due(
    db: &DatabaseConnection,
    claim: Uuid,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<Vec<mail_outbox::Model>, AppError> {
    let until = now + lease;
    let pick = || {
        mail_outbox::Entity::find()
            .select_only()
            .column(mail_outbox::Column::Id)
            .filter(due(now))
            .order_by_asc(mail_outbox::Column::NextAttemptAt)
            .limit(BATCH)
    };
    let mark = |ids: Vec<Uuid>| {
        mail_outbox::Entity::update_many()
            .col_expr(mail_outbox::Column::ClaimedBy, Expr::value(Some(claim)))
            .col_expr(mail_outbox::Column::ClaimedUntil, Expr::value(Some(until)))
            .filter(mail_outbox::Column::Id.is_in(ids))
            .filter(due(now))
    };
    if !crate::service::lease::claim(db, pick, mark).await? {
        return Ok(Vec::new());
    }
    Ok(mail_outbox::Entity::find()
        .filter(mail_outbox::Column::ClaimedBy.eq(claim))
        .all(db)
        .await?)
}

/// Stores the outcome of one attempt, if the claim still holds: sent (the
/// body erased at once), to be retried after a back-off, or failed for good
/// after `max_attempts`.
async fn record(
    state: &AppState,
    worker: &Worker,
    row: &mail_outbox::Model,
    claim: Uuid,
    outcome: Result<(), String>,
) -> Result<(), AppError> {
    let now = crate::service::clock::now();
    let attempts = u32::try_from(row.attempts).unwrap_or(0).saturating_add(1);
    let update = mail_outbox::Entity::update_many()
        .col_expr(
            mail_outbox::Column::Attempts,
            Expr::value(i32::try_from(attempts).unwrap_or(i32::MAX)),
        )
        .col_expr(
            mail_outbox::Column::ClaimedBy,
            Expr::value(Option::<Uuid>::None),
        )
        .col_expr(
            mail_outbox::Column::ClaimedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(mail_outbox::Column::Id.eq(row.id))
        .filter(mail_outbox::Column::ClaimedBy.eq(claim));
    let no_body = Expr::value(Option::<String>::None);
    match outcome {
        Ok(()) => {
            update
                .col_expr(mail_outbox::Column::SentAt, Expr::value(Some(now)))
                .col_expr(mail_outbox::Column::Body, no_body)
                .col_expr(
                    mail_outbox::Column::LastError,
                    Expr::value(Option::<String>::None),
                )
                .exec(state.db())
                .await?;
            tracing::info!(mail = %row.id, attempts, "mail sent");
            metrics::counter!("mail_sent_total").increment(1);
        }
        Err(error) => {
            let error: String = error.chars().take(ERROR_LEN).collect();
            let last = attempts >= worker.config.max_attempts;
            let update = update.col_expr(
                mail_outbox::Column::LastError,
                Expr::value(Some(error.clone())),
            );
            if last {
                // Given up on: the body (and its token) goes too.
                update
                    .col_expr(mail_outbox::Column::FailedAt, Expr::value(Some(now)))
                    .col_expr(mail_outbox::Column::Body, no_body)
                    .exec(state.db())
                    .await?;
                tracing::warn!(mail = %row.id, attempts, %error, "mail failed for good");
            } else {
                let next = now + worker.retry_in(attempts);
                update
                    .col_expr(mail_outbox::Column::NextAttemptAt, Expr::value(next))
                    .exec(state.db())
                    .await?;
                tracing::info!(mail = %row.id, attempts, %error, retry_at = %next, "mail not sent; will retry");
            }
            metrics::counter!("mail_failed_total", "final" => if last { "true" } else { "false" })
                .increment(1);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_back_off_doubles_from_its_base_up_to_an_hour() {
        let mut config = crate::config::Config::defaults().mail;
        config.transport =
            super::super::Transport::File(std::env::temp_dir().join("sns-mail-test"));
        config.retry_backoff = Duration::from_secs(30);
        let w = Worker::new(&config).unwrap();
        assert_eq!(w.retry_in(1), Duration::from_secs(30));
        assert_eq!(w.retry_in(2), Duration::from_secs(60));
        assert_eq!(w.retry_in(4), Duration::from_secs(240));
        assert_eq!(w.retry_in(9), Duration::from_secs(3600));
        assert_eq!(w.retry_in(40), Duration::from_secs(3600));
        assert!(w.lease() > w.config.send_timeout);
    }
}
