//! `sns-api reports …`: the operators' queue of what accounts reported.
//! Reports name accounts by id; the handles printed are those the
//! accounts have now (the report keeps the one it was filed against too).

use std::collections::HashMap;

use sea_orm::{DatabaseConnection, EntityTrait};

use super::err;
use uuid::Uuid;

use crate::config::{Config, ReportsAction};
use crate::entity::{post, profile, report};
use crate::service::safety::report::{self as reports, Listing, Resolved};

/// Runs one `reports` subcommand; prints what it found or did.
pub async fn run(config: &Config, action: ReportsAction) -> anyhow::Result<()> {
    let db = super::open(config).await?;
    let result = act(&db, action).await;
    db.close().await.ok();
    result
}

async fn act(db: &DatabaseConnection, action: ReportsAction) -> anyhow::Result<()> {
    match action {
        ReportsAction::List { all, limit } => {
            let listing = if all { Listing::All } else { Listing::Open };
            let found = reports::list(db, listing, limit).await.map_err(err)?;
            let handles = handles_now(db, found.iter().map(|r| r.reporter_id)).await?;
            if found.is_empty() {
                println!("no {}reports", if all { "" } else { "open " });
            }
            for r in &found {
                let status = match r.resolved_at {
                    Some(_) => "resolved",
                    None => "open",
                };
                let target = match r.post_id {
                    Some(post) => format!("post {post} by @{}", r.handle),
                    None => format!("@{}", r.handle),
                };
                println!(
                    "{}  {}  {:<10}  {:<8}  {}  (from {})",
                    r.id,
                    r.created_at.format("%Y-%m-%d %H:%M"),
                    r.reason,
                    status,
                    target,
                    named(&handles, r.reporter_id),
                );
            }
        }
        ReportsAction::Show { id } => {
            let r = found(db, &id).await?;
            show(db, &r).await?;
        }
        ReportsAction::Resolve { id, note } => {
            let r = found(db, &id).await?;
            match reports::resolve(db, r.id, note.as_deref(), crate::service::clock::now())
                .await
                .map_err(err)?
            {
                Some(Resolved::Now) => println!("resolved {}", r.id),
                Some(Resolved::Already(at)) => {
                    println!("{} was resolved already, at {at}; left as it was", r.id);
                }
                None => anyhow::bail!("no report has the id {id}"),
            }
        }
    }
    Ok(())
}

async fn found(db: &DatabaseConnection, id: &str) -> anyhow::Result<report::Model> {
    reports::by_id(db, id)
        .await
        .map_err(err)?
        .ok_or_else(|| anyhow::anyhow!("no report has the id {id}"))
}

async fn show(db: &DatabaseConnection, r: &report::Model) -> anyhow::Result<()> {
    let handles = handles_now(db, [r.reporter_id, r.account_id]).await?;
    println!("id:        {}", r.id);
    println!("filed:     {}", r.created_at);
    println!("reason:    {}", r.reason);
    println!(
        "reporter:  {} ({})",
        named(&handles, r.reporter_id),
        r.reporter_id
    );
    println!(
        "account:   {} ({}); reported as @{}",
        named(&handles, r.account_id),
        r.account_id,
        r.handle
    );
    if let Some(post_id) = r.post_id {
        let still = post::Entity::find_by_id(post_id).one(db).await?.is_some();
        println!(
            "post:      {post_id}{}",
            if still { "" } else { " (deleted since)" }
        );
        for line in r.post_body.as_deref().unwrap_or_default().lines() {
            println!("  | {line}");
        }
    }
    if let Some(comment) = &r.comment {
        println!("comment:");
        for line in comment.lines() {
            println!("  | {line}");
        }
    }
    match r.resolved_at {
        Some(at) => println!(
            "status:    resolved at {at}{}",
            r.resolution
                .as_deref()
                .map(|n| format!(": {n}"))
                .unwrap_or_default()
        ),
        None => println!("status:    open"),
    }
    let open = reports::open_about(db, r.account_id).await.map_err(err)?;
    println!("open reports about this account: {open}");
    Ok(())
}

/// The handles these accounts have now (a deleted account has none).
async fn handles_now(
    db: &DatabaseConnection,
    ids: impl IntoIterator<Item = Uuid>,
) -> anyhow::Result<HashMap<Uuid, String>> {
    use sea_orm::{ColumnTrait, QueryFilter};
    let ids: Vec<Uuid> = ids.into_iter().collect();
    Ok(profile::Entity::find()
        .filter(profile::Column::UserId.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.user_id, p.handle))
        .collect())
}

fn named(handles: &HashMap<Uuid, String>, id: Uuid) -> String {
    handles
        .get(&id)
        .map_or_else(|| "(deleted account)".to_owned(), |h| format!("@{h}"))
}
