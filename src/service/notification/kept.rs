//! Inbox pages kept in memory (`FEED_CACHE`), served again until a write
//! that can change them: the database stays the record, and a page from
//! memory is the page the statements would read.
//!
//! A kept page remembers what its statements chose, not the rows: each
//! group (its kind, post, number of actors, newest event, whether it was
//! read) and, once asked, each group's newest actors with whether the
//! recipient follows each. A hit reads the groups' posts and the actors'
//! profiles again by key, so counts, bodies and names are always current;
//! the actors' selection, with its block probes and a range a group, does
//! not run again.
//!
//! What can change the rest is stamped on the recipient after its commit
//! (`FeedCache`, under the feed's counter, with Redis between instances):
//! a notification recorded, retracted or forgotten with a deleted post,
//! the seen marker moved, a follow, request, block or mute by or of the
//! recipient; a lock, an account's deletion and retention change every
//! inbox. A page is served only while no such stamp is later than the
//! counter as it was before the page's statement ran.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;
use uuid::Uuid;

use super::NotificationKind;
use super::inbox::Group;
use crate::service::page::Page;

/// Which page: whose, how long, below which group, of which kinds (a mask
/// of [`NotificationKind::ALL`]; none: every kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InboxKey {
    pub recipient: Uuid,
    pub first: u64,
    pub after: Option<Uuid>,
    pub kinds: Option<u8>,
}

/// One group of a kept page, without its post's row.
#[derive(Debug, Clone, Copy)]
pub struct KeptGroup {
    pub id: Uuid,
    pub kind: NotificationKind,
    pub post: Option<Uuid>,
    pub actor_count: i32,
    pub top_id: Uuid,
    pub read: bool,
}

/// The most actors a group keeps (`actors(first:)`; 3 by default): a page
/// asked for more reads them each time.
pub const KEPT_ACTORS: u64 = 5;

/// Each group's newest actors, newest first: (actor, whether the recipient
/// follows it).
pub type KeptActors = HashMap<Uuid, Vec<(Uuid, bool)>>;

/// Where a page's actors are read once and kept.
pub type ActorsCell = Arc<OnceCell<Arc<KeptActors>>>;

/// A kept inbox page.
#[derive(Debug)]
pub struct KeptInbox {
    /// The counter just before the page was read.
    pub read_at: u64,
    pub groups: Vec<KeptGroup>,
    pub has_next: bool,
    /// The groups' actors for the first `actors(first:)` asked.
    actors: Mutex<Option<(u64, ActorsCell)>>,
}

impl KeptInbox {
    /// What a page just read (at `read_at`) keeps.
    pub fn of(read_at: u64, page: &Page<Group>) -> Self {
        Self {
            read_at,
            groups: page
                .items
                .iter()
                .map(|(_, g)| KeptGroup {
                    id: g.id,
                    kind: g.kind,
                    post: g.post.as_ref().map(|p| p.id),
                    actor_count: g.actor_count,
                    top_id: g.top_id,
                    read: g.read,
                })
                .collect(),
            has_next: page.has_next,
            actors: Mutex::new(None),
        }
    }

    /// Whether `groups` are this page's, in its order.
    pub fn is_of(&self, groups: &[Uuid]) -> bool {
        self.groups.len() == groups.len()
            && self.groups.iter().zip(groups).all(|(g, id)| g.id == *id)
    }

    /// Where the page keeps the newest `n` actors of each group, read once
    /// by the first request that asks: for one `n` a page, at most
    /// [`KEPT_ACTORS`] (the page was weighed for that when kept); none for
    /// another. Read after the page, they are as good as it: a write
    /// between the two stamped the recipient, and the page is not served
    /// again.
    pub fn actors_cell(&self, n: u64) -> Option<ActorsCell> {
        if n > KEPT_ACTORS {
            return None;
        }
        let mut kept = self.actors.lock().unwrap_or_else(|e| e.into_inner());
        match &*kept {
            Some((m, cell)) => (*m == n).then(|| Arc::clone(cell)),
            None => {
                let cell = Arc::new(OnceCell::new());
                *kept = Some((n, Arc::clone(&cell)));
                Some(cell)
            }
        }
    }

    /// Its room in the cache's budget, in bytes, with [`KEPT_ACTORS`]
    /// actors a group.
    pub fn weight(&self) -> usize {
        let actors = usize::try_from(KEPT_ACTORS).unwrap_or(0) * size_of::<(Uuid, bool)>();
        128 + self.groups.len() * (size_of::<KeptGroup>() + actors + 64)
    }
}
