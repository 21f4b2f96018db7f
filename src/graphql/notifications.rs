//! The notification inbox's GraphQL shapes: `Notification`, its connection,
//! the unread count and the seen marker's payload.
//!
//! A page's actors are read once for all its groups, on the first
//! `actors(first:)` that asks (and once more for each other `first` the
//! document gives), and primed into the request's loaders, so a page costs
//! the same statements whatever its size (see `service::notification::inbox`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use tokio::sync::OnceCell;
use uuid::Uuid;

use super::loaders::{Loaders, RequestLoaders};
use super::social::{Post, Profile, connection};
use super::types::{UserError, payload_answer};
use super::viewer_auth;
use crate::error::AppError;
use crate::service::notification::inbox::{self, Actor, Group, InboxPage, Kinds};
use crate::service::notification::kept::KeptInbox;
use crate::service::page::Kind;
use crate::state::AppState;

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::service::notification::NotificationKind")]
pub enum NotificationKind {
    /// Accounts followed the viewer (one group per UTC day).
    Follow,
    /// Accounts liked one of the viewer's posts (one group per post).
    Like,
    /// Accounts reposted one of the viewer's posts (one group per post).
    Repost,
    /// A reply to one of the viewer's posts (one notification each).
    Reply,
    /// A post mentioning the viewer (one notification each).
    Mention,
    /// Accounts asked to follow the viewer's locked profile (one group per UTC day).
    FollowRequest,
}

pub type NotificationConnection = Connection<String, Notification>;

/// Each group's newest actors, by group id.
type Newest = Arc<HashMap<Uuid, Vec<Actor>>>;

/// The actors of one page's groups, read once per `first` asked.
struct PageActors {
    viewer: Uuid,
    groups: Vec<Uuid>,
    /// The page as the cache keeps it, which keeps its actors too.
    kept: Option<Arc<KeptInbox>>,
    by_first: Mutex<HashMap<u64, Arc<OnceCell<Newest>>>>,
}

impl PageActors {
    async fn newest(&self, ctx: &Context<'_>, n: u64) -> Result<Newest> {
        let cell = {
            let mut by_first = self
                .by_first
                .lock()
                .map_err(|_| AppError::internal("the page's actors lock is poisoned"))?;
            Arc::clone(by_first.entry(n).or_default())
        };
        let found = cell
            .get_or_try_init(|| async {
                let state = ctx.data::<AppState>()?;
                let actors =
                    inbox::actors(state, self.viewer, &self.groups, n, self.kept.as_deref())
                        .await?;
                let loaders = ctx.data::<RequestLoaders>()?.get();
                let all: Vec<&Actor> = actors.values().flatten().collect();
                let answers: Vec<(Uuid, bool)> = all
                    .iter()
                    .map(|a| (a.profile.user_id, a.viewer_follows))
                    .collect();
                let profiles: Vec<_> = all.into_iter().map(|a| a.profile.clone()).collect();
                loaders.prime_profiles(profiles).await;
                loaders.prime_follows(self.viewer, answers).await;
                Ok::<_, async_graphql::Error>(Arc::new(actors))
            })
            .await?;
        Ok(Arc::clone(found))
    }
}

/// A group of the viewer's notifications: a post's likes or reposts, a
/// day's follows, one reply, one mention.
pub struct Notification {
    group: Group,
    page: Arc<PageActors>,
}

#[Object]
impl Notification {
    /// The group's id, stable while the group lives.
    async fn id(&self) -> ID {
        ID(self.group.id.to_string())
    }

    async fn kind(&self) -> NotificationKind {
        self.group.kind.into()
    }

    /// LIKE/REPOST: the viewer's post; REPLY/MENTION: the reply or the mentioning post; FOLLOW: null.
    async fn post(&self) -> Option<Post> {
        self.group.post.as_ref().map(|p| Post(p.clone()))
    }

    /// The newest actors first; `first` is 0 to 100.
    async fn actors(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 3)] first: Option<i32>,
    ) -> Result<Vec<Profile>> {
        let n = inbox::actors_wanted(first)?;
        if n == 0 {
            return Ok(Vec::new());
        }
        let newest = self.page.newest(ctx, n).await?;
        Ok(newest
            .get(&self.group.id)
            .map(|actors| actors.iter().map(|a| Profile(a.profile.clone())).collect())
            .unwrap_or_default())
    }

    /// How many accounts the group holds.
    async fn actor_count(&self) -> i32 {
        self.group.actor_count
    }

    /// The moment of the group's newest event, to the millisecond.
    async fn created_at(&self) -> DateTime<Utc> {
        self.group.created_at()
    }

    /// `createdAt` is at or before the viewer's seen marker.
    async fn read(&self) -> bool {
        self.group.read
    }
}

/// `Query.notifications`: a page of the viewer's groups, newest first. A
/// null `kinds` asks for every kind, an empty list for none.
pub async fn page(
    ctx: &Context<'_>,
    first: Option<i32>,
    after: Option<String>,
    kinds: Option<Vec<NotificationKind>>,
) -> Result<NotificationConnection> {
    let viewer = viewer_auth(ctx).require()?;
    let state = ctx.data::<AppState>()?;
    let kinds: Option<Vec<_>> = kinds.map(|k| k.into_iter().map(Into::into).collect());
    let kinds = kinds.as_deref().map_or(Kinds::All, Kinds::Only);
    // The posts' authors come with the page when the document asks for
    // them: otherwise each row would carry a profile nobody reads.
    let look = ctx.look_ahead();
    let with_authors = [look.field("nodes"), look.field("edges").field("node")]
        .iter()
        .any(|node| node.field("post").field("author").exists());
    let InboxPage { page, kept } =
        inbox::page(state, viewer, first, after.as_deref(), kinds, with_authors).await?;
    let authors: Vec<_> = page
        .items
        .iter()
        .filter_map(|(_, g)| g.author.clone())
        .collect();
    ctx.data::<RequestLoaders>()?
        .get()
        .prime_profiles(authors)
        .await;
    let actors = Arc::new(PageActors {
        viewer: viewer.user_id,
        groups: page.items.iter().map(|(_, g)| g.id).collect(),
        kept,
        by_first: Mutex::new(HashMap::new()),
    });
    Ok(connection(Kind::Notification, page, |group| Notification {
        group,
        page: Arc::clone(&actors),
    }))
}

/// A group that `notificationChanged` delivers, as `notifications` would
/// show it to `viewer`; its actors are read when asked, like a page's.
pub async fn live(loaders: &Loaders, viewer: Uuid, group: Group) -> Notification {
    if let Some(author) = &group.author {
        loaders.prime_profiles([author.clone()]).await;
    }
    let page = Arc::new(PageActors {
        viewer,
        groups: vec![group.id],
        kept: None,
        by_first: Mutex::new(HashMap::new()),
    });
    Notification { group, page }
}

/// `User.unreadNotificationCount` of the account `user` (a `User` is only
/// ever shown to its own account).
pub async fn unread_count(ctx: &Context<'_>, user: &ID) -> Result<i32> {
    let id = Uuid::parse_str(user).map_err(AppError::internal)?;
    let state = ctx.data::<AppState>()?;
    Ok(inbox::unread_count(state, id).await?)
}

#[derive(SimpleObject, Default)]
pub struct MarkSeenPayload {
    /// The viewer's unread groups after the change (exact up to 1000, then 1000).
    pub unread_notification_count: i32,
    pub errors: Vec<UserError>,
}

payload_answer!(MarkSeenPayload, i32, |n| unread_notification_count: n);
