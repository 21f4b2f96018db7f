//! The social graph's GraphQL shapes: profiles, posts, their connections
//! and the payloads of its mutations.

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{ComplexObject, Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::loaders::{Did, Loaders, RequestLoaders};
use super::types::{User, UserError, payload_answer};
use super::viewer_auth;
use crate::entity::{post, profile};
use crate::error::AppError;
use crate::service::feed::FeedPage;
use crate::service::page::{self, Kind, Page};
use crate::service::safety::visibility::Relation;
use crate::service::{self, follow::Direction};
use crate::state::AppState;

pub type PostConnection = Connection<String, Post, EmptyFields, PostEdgeFields>;
pub type ProfileConnection = Connection<String, Profile>;
/// One entry of a post connection (`PostEdge`); `feedAdded` sends one alone.
pub type PostEdge = async_graphql::connection::Edge<String, Post, PostEdgeFields>;

/// What a post connection's edge (`PostEdge`) says besides its node.
#[derive(SimpleObject, Default)]
pub struct PostEdgeFields {
    /// Set only on a feed entry that is there because of a repost: who reposted.
    pub reposted_by: Option<Profile>,
}

pub(super) fn loaders(ctx: &Context<'_>) -> Result<std::sync::Arc<Loaders>> {
    Ok(ctx.data::<RequestLoaders>()?.get())
}

/// The signed-in viewer's account id; none when anonymous.
pub(super) fn viewer_id(ctx: &Context<'_>) -> Result<Option<uuid::Uuid>> {
    Ok(viewer_auth(ctx).viewer()?.map(|v| v.user_id))
}

/// Whether the items of the connection being resolved select `field`
/// (through `edges { node }` or `nodes`).
pub(super) fn nodes_select(ctx: &Context<'_>, field: &str) -> bool {
    let look = ctx.look_ahead();
    look.field("edges").field("node").field(field).exists()
        || look.field("nodes").field(field).exists()
}

/// Loads what a page of posts selects of `mentions`, `replyTo` and
/// `media`, each in one batch: a long page's items ask one by one, and the
/// loads that arrive after a batch's delay would make more batches.
async fn preload_posts<'a>(
    ctx: &Context<'_>,
    posts: impl Iterator<Item = &'a post::Model>,
) -> Result<()> {
    let (mentions, parents) = (nodes_select(ctx, "mentions"), nodes_select(ctx, "replyTo"));
    let media = nodes_select(ctx, "media");
    if !mentions && !parents && !media {
        return Ok(());
    }
    let posts: Vec<(uuid::Uuid, Option<uuid::Uuid>)> =
        posts.map(|p| (p.id, p.in_reply_to_id)).collect();
    let (loaders, viewer) = (loaders(ctx)?, viewer_id(ctx)?);
    if media {
        loaders
            .load_post_media(posts.iter().map(|(id, _)| *id).collect())
            .await?;
    }
    if mentions {
        loaders
            .load_mentions(viewer, posts.iter().map(|(id, _)| *id).collect())
            .await?;
    }
    if parents {
        loaders
            .load_posts(
                viewer,
                posts.iter().filter_map(|(_, parent)| *parent).collect(),
            )
            .await?;
    }
    Ok(())
}

/// Whether `look` (a profile's selection) asks for a picture.
fn selects_pictures(look: async_graphql::Lookahead<'_>) -> bool {
    look.field("avatar").exists() || look.field("banner").exists()
}

/// Loads the pictures of these profiles in one batch (see `preload_posts`).
async fn preload_pictures<'a>(
    ctx: &Context<'_>,
    profiles: impl Iterator<Item = &'a profile::Model>,
) -> Result<()> {
    let ids: Vec<uuid::Uuid> = profiles
        .flat_map(|p| [p.avatar_id, p.banner_id])
        .flatten()
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    loaders(ctx)?.load_media(ids).await
}

/// A page as a Relay connection, each edge with its opaque cursor (and
/// default edge fields: a post edge without a reposter).
pub fn connection<T, N, E>(
    kind: Kind,
    page: Page<T>,
    node: impl Fn(T) -> N,
) -> Connection<String, N, EmptyFields, E>
where
    N: async_graphql::OutputType,
    E: async_graphql::ObjectType + Default,
{
    let mut c = Connection::new(false, page.has_next);
    c.edges.extend(page.items.into_iter().map(|(key, item)| {
        Edge::with_additional_fields(page::encode(kind, key), node(item), E::default())
    }));
    c
}

/// A feed page as a connection, each repost entry's edge naming its
/// reposter. Its statement read each post's author and each reposter, and
/// whether the viewer follows each author; every reposter but the viewer
/// is one the viewer followed as of that read: the request's loaders start
/// with all of it, so `author`, `repostedBy` and `viewerFollows` cost no
/// statement of their own. The page's images and its profiles' pictures,
/// when selected, are one batch each.
pub async fn feed_connection(
    ctx: &Context<'_>,
    viewer: uuid::Uuid,
    feed: FeedPage,
) -> Result<PostConnection> {
    preload_posts(ctx, feed.page.items.iter().map(|(_, item)| &item.post)).await?;
    let look = ctx.look_ahead();
    let pictures = [
        look.field("edges").field("node").field("author"),
        look.field("edges").field("repostedBy"),
        look.field("nodes").field("author"),
    ]
    .into_iter()
    .any(selects_pictures);
    if pictures {
        let authors = feed.page.items.iter().map(|(_, item)| &item.author);
        let reposters = feed
            .page
            .items
            .iter()
            .filter_map(|(_, item)| item.reposted_by.as_ref());
        preload_pictures(ctx, authors.chain(reposters)).await?;
    }
    let mut profiles = std::collections::HashMap::new();
    let mut follows = std::collections::HashMap::new();
    for (_, item) in &feed.page.items {
        follows.insert(item.author.user_id, item.author_followed);
        profiles
            .entry(item.author.user_id)
            .or_insert_with(|| item.author.clone());
        if let Some(reposter) = &item.reposted_by {
            follows.insert(reposter.user_id, true);
            profiles
                .entry(reposter.user_id)
                .or_insert_with(|| reposter.clone());
        }
    }
    follows.remove(&viewer);
    let loaders = loaders(ctx)?;
    loaders.prime_follows(viewer, follows).await;
    loaders.prime_profiles(profiles.into_values()).await;
    let mut c = Connection::new(false, feed.page.has_next);
    let snapshot = feed.snapshot;
    c.edges
        .extend(feed.page.items.into_iter().map(|(key, item)| {
            Edge::with_additional_fields(
                page::encode_feed(page::FeedCursor { key, snapshot }),
                Post(item.post),
                PostEdgeFields {
                    reposted_by: item.reposted_by.map(Profile),
                },
            )
        }));
    Ok(c)
}

/// A `feedAdded` entry as the edge `viewer` gets, with the cursor it has
/// in `feed`. The request's loaders start with what the entry was read
/// with (author, reposter, and that the viewer follows the account the
/// entry came through), so `author`, `repostedBy` and their
/// `viewerFollows` cost no statement per subscriber.
pub async fn feed_edge(
    loaders: &Loaders,
    viewer: uuid::Uuid,
    entry: &crate::live::FeedEntry,
) -> PostEdge {
    let mut profiles = vec![entry.author.clone()];
    profiles.extend(entry.reposted_by.clone());
    loaders.prime_profiles(profiles).await;
    let via = entry.via().user_id;
    if via != viewer {
        // Its followers are those who get it.
        loaders.prime_follows(viewer, [(via, true)]).await;
    }
    Edge::with_additional_fields(
        page::encode_feed(entry.cursor()),
        Post(entry.post.clone()),
        PostEdgeFields {
            reposted_by: entry.reposted_by.clone().map(Profile),
        },
    )
}

/// The public face of an account. Never carries the email.
pub struct Profile(pub profile::Model);

#[Object]
impl Profile {
    /// The account's id.
    async fn id(&self) -> ID {
        ID(self.0.user_id.to_string())
    }

    /// Unique; 3-30 of `[a-z0-9_]`, not all digits; lower-case (compared case-insensitively).
    async fn handle(&self) -> &str {
        &self.0.handle
    }

    /// Up to 50 code points.
    async fn display_name(&self) -> Option<&str> {
        self.0.display_name.as_deref()
    }

    /// Up to 160 code points; may hold line breaks.
    async fn bio(&self) -> Option<&str> {
        self.0.bio.as_deref()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// The profile picture; null when none is set.
    async fn avatar(&self, ctx: &Context<'_>) -> Result<Option<super::media::Media>> {
        picture(ctx, self.0.avatar_id).await
    }

    /// The wide picture atop the profile; null when none is set.
    async fn banner(&self, ctx: &Context<'_>) -> Result<Option<super::media::Media>> {
        picture(ctx, self.0.banner_id).await
    }

    async fn post_count(&self) -> i32 {
        self.0.post_count
    }

    async fn follower_count(&self) -> i32 {
        self.0.follower_count
    }

    async fn following_count(&self) -> i32 {
        self.0.following_count
    }

    /// Follows need the owner's approval; posts are for followers only.
    async fn locked(&self) -> bool {
        self.0.locked
    }

    /// Whether the signed-in viewer follows this profile; false when anonymous.
    async fn viewer_follows(&self, ctx: &Context<'_>) -> Result<bool> {
        let Some(viewer) = viewer_auth(ctx).viewer()? else {
            return Ok(false);
        };
        if viewer.user_id == self.0.user_id {
            return Ok(false);
        }
        loaders(ctx)?.follows(viewer.user_id, self.0.user_id).await
    }

    /// Whether the signed-in viewer blocks this profile; false when anonymous.
    async fn viewer_blocks(&self, ctx: &Context<'_>) -> Result<bool> {
        Ok(self.relation(ctx).await?.blocks)
    }

    /// Whether this profile blocks the signed-in viewer; false when anonymous.
    async fn blocks_viewer(&self, ctx: &Context<'_>) -> Result<bool> {
        Ok(self.relation(ctx).await?.blocked_by)
    }

    /// Whether the signed-in viewer mutes this profile (told to the viewer only); false when anonymous.
    async fn viewer_mutes(&self, ctx: &Context<'_>) -> Result<bool> {
        Ok(self.relation(ctx).await?.mutes)
    }

    /// Whether the signed-in viewer asked to follow this profile and awaits approval; false when anonymous.
    async fn viewer_requested_follow(&self, ctx: &Context<'_>) -> Result<bool> {
        Ok(self.relation(ctx).await?.requested)
    }

    /// This profile's posts, newest first; none when the viewer may not see
    /// them (a block either way, or a locked profile it does not follow).
    async fn posts(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<PostConnection> {
        let state = ctx.data::<AppState>()?;
        let page = service::post::by_author(
            state,
            viewer_id(ctx)?,
            self.0.user_id,
            first,
            after.as_deref(),
        )
        .await?;
        preload_posts(ctx, page.items.iter().map(|(_, p)| p)).await?;
        Ok(connection(Kind::Post, page, Post))
    }

    /// The profiles following this one, most recent follow first.
    async fn followers(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<ProfileConnection> {
        self.follows(ctx, Direction::Followers, first, after).await
    }

    /// The profiles this one follows, most recent follow first.
    async fn following(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<ProfileConnection> {
        self.follows(ctx, Direction::Following, first, after).await
    }
}

impl Profile {
    /// How the signed-in viewer stands with this profile (none: anonymous,
    /// or its own profile), from the request's batch.
    async fn relation(&self, ctx: &Context<'_>) -> Result<Relation> {
        let Some(viewer) = viewer_auth(ctx).viewer()? else {
            return Ok(Relation::default());
        };
        if viewer.user_id == self.0.user_id {
            return Ok(Relation::default());
        }
        loaders(ctx)?.relation(viewer.user_id, self.0.user_id).await
    }

    async fn follows(
        &self,
        ctx: &Context<'_>,
        direction: Direction,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<ProfileConnection> {
        let state = ctx.data::<AppState>()?;
        let page = service::follow::page(state, self.0.user_id, direction, first, after.as_deref())
            .await?;
        let ids = page.items.iter().map(|(_, p)| p.user_id).collect();
        super::safety::preload_relations(ctx, ids).await?;
        if nodes_select(ctx, "avatar") || nodes_select(ctx, "banner") {
            preload_pictures(ctx, page.items.iter().map(|(_, p)| p)).await?;
        }
        Ok(connection(Kind::Follow, page, Profile))
    }
}

/// A profile's avatar or banner, from the request's batch.
async fn picture(ctx: &Context<'_>, id: Option<uuid::Uuid>) -> Result<Option<super::media::Media>> {
    let Some(id) = id else { return Ok(None) };
    Ok(loaders(ctx)?.media(id).await?.map(super::media::Media))
}

pub struct Post(pub post::Model);

#[Object]
impl Post {
    /// A UUIDv7.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Its images, in order: up to 4.
    async fn media(&self, ctx: &Context<'_>) -> Result<Vec<super::media::Media>> {
        Ok(loaders(ctx)?
            .post_media(self.0.id)
            .await?
            .into_iter()
            .map(super::media::Media)
            .collect())
    }

    async fn author(&self, ctx: &Context<'_>) -> Result<Profile> {
        loaders(ctx)?
            .profile(self.0.author_id)
            .await?
            .map(Profile)
            // Gone between the two reads: its account was deleted.
            .ok_or_else(|| AppError::Forbidden.into())
    }

    /// 1 to 500 code points; may hold line breaks.
    async fn body(&self) -> &str {
        &self.0.body
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// The post this one replies to; stays set after that post is deleted.
    async fn in_reply_to_id(&self) -> Option<ID> {
        self.0.in_reply_to_id.map(|id| ID(id.to_string()))
    }

    /// The post this one replies to, while it exists and the viewer may see it.
    async fn reply_to(&self, ctx: &Context<'_>) -> Result<Option<Post>> {
        let Some(parent) = self.0.in_reply_to_id else {
            return Ok(None);
        };
        Ok(loaders(ctx)?.post(viewer_id(ctx)?, parent).await?.map(Post))
    }

    /// The 40 nearest posts above this one, farthest first (from the
    /// thread's root when it is at most 40 deep); the chain stops at a
    /// deleted post. Those the viewer may not see are left out, the posts
    /// above them kept.
    async fn ancestors(&self, ctx: &Context<'_>) -> Result<Vec<Post>> {
        let state = ctx.data::<AppState>()?;
        let chain = service::thread::ancestors(state, viewer_id(ctx)?, &self.0).await?;
        let authors: Vec<_> = chain.iter().map(|p| p.author.clone()).collect();
        let loaders = loaders(ctx)?;
        if ctx.look_ahead().field("media").exists() {
            loaders
                .load_post_media(chain.iter().map(|p| p.post.id).collect())
                .await?;
        }
        loaders.prime_profiles(authors).await;
        Ok(chain.into_iter().map(|p| Post(p.post)).collect())
    }

    /// Direct replies the viewer may see, oldest first.
    async fn replies(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<PostConnection> {
        let state = ctx.data::<AppState>()?;
        let viewer = viewer_id(ctx)?;
        let page =
            service::thread::replies(state, viewer, self.0.id, first, after.as_deref()).await?;
        // The page read its authors, and each reply's `replyTo` is this
        // post, which the viewer sees: every path that answers a `Post`
        // asked `safety::visibility` first.
        let loaders = loaders(ctx)?;
        let authors: Vec<_> = page.items.iter().map(|(_, p)| p.author.clone()).collect();
        loaders.prime_profiles(authors).await;
        loaders.prime_posts(viewer, [self.0.clone()]).await;
        preload_posts(ctx, page.items.iter().map(|(_, p)| &p.post)).await?;
        Ok(connection(Kind::Reply, page, |p| Post(p.post)))
    }

    /// Direct replies: the stored count.
    async fn reply_count(&self) -> i32 {
        self.0.reply_count
    }

    /// The existing profiles @-mentioned in the body, in order of first
    /// mention; but those that block the viewer or that it blocks.
    async fn mentions(&self, ctx: &Context<'_>) -> Result<Vec<Profile>> {
        Ok(loaders(ctx)?
            .mentions(viewer_id(ctx)?, self.0.id)
            .await?
            .into_iter()
            .map(Profile)
            .collect())
    }

    async fn like_count(&self) -> i32 {
        self.0.like_count
    }

    async fn repost_count(&self) -> i32 {
        self.0.repost_count
    }

    /// Whether the signed-in viewer likes this post; false when anonymous.
    async fn viewer_has_liked(&self, ctx: &Context<'_>) -> Result<bool> {
        self.viewer_did(ctx, Did::Like).await
    }

    /// Whether the signed-in viewer reposts this post; false when anonymous.
    async fn viewer_has_reposted(&self, ctx: &Context<'_>) -> Result<bool> {
        self.viewer_did(ctx, Did::Repost).await
    }

    /// The profiles that like this post, newest like first; but those that
    /// block the viewer or that it blocks.
    async fn liked_by(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<ProfileConnection> {
        let state = ctx.data::<AppState>()?;
        let page = service::interaction::liked_by(
            state,
            viewer_id(ctx)?,
            self.0.id,
            first,
            after.as_deref(),
        )
        .await?;
        Ok(connection(Kind::Like, page, Profile))
    }
}

impl Post {
    async fn viewer_did(&self, ctx: &Context<'_>, did: Did) -> Result<bool> {
        let Some(viewer) = viewer_auth(ctx).viewer()? else {
            return Ok(false);
        };
        loaders(ctx)?.did(did, viewer.user_id, self.0.id).await
    }
}

#[ComplexObject]
impl User {
    /// The account's public profile.
    async fn profile(&self, ctx: &Context<'_>) -> Result<Profile> {
        let id = uuid::Uuid::parse_str(&self.id).map_err(AppError::internal)?;
        loaders(ctx)?
            .profile(id)
            .await?
            .map(Profile)
            .ok_or_else(|| AppError::Unauthenticated.into())
    }

    /// Notification groups not read; exact up to 1000, then 1000.
    async fn unread_notification_count(&self, ctx: &Context<'_>) -> Result<i32> {
        super::notifications::unread_count(ctx, &self.id).await
    }

    /// Whether TOTP is on: then a password sign-in also asks for a code.
    async fn mfa_enabled(&self, ctx: &Context<'_>) -> Result<bool> {
        let id = uuid::Uuid::parse_str(&self.id).map_err(AppError::internal)?;
        let state = ctx.data::<AppState>()?;
        Ok(service::mfa::totp::is_enabled(state, id).await?)
    }

    /// The account's passkeys, newest first.
    async fn passkeys(&self, ctx: &Context<'_>) -> Result<Vec<super::mfa::Passkey>> {
        let id = uuid::Uuid::parse_str(&self.id).map_err(AppError::internal)?;
        let state = ctx.data::<AppState>()?;
        Ok(service::mfa::passkey::list(state, id)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}

/// Each field left out stays as it is; blank text clears a display name or bio.
#[derive(InputObject)]
pub struct UpdateProfileInput {
    pub handle: Option<String>,
    pub display_name: Option<String>,
    pub bio: Option<String>,
    /// Follows need the owner's approval; posts are for followers only. Turning it off approves
    /// the pending requests.
    pub locked: Option<bool>,
    /// One of the viewer's unattached uploads (else NOT_FOUND); null clears the avatar. The image
    /// it replaces is deleted.
    pub avatar_id: async_graphql::MaybeUndefined<ID>,
    /// One of the viewer's unattached uploads (else NOT_FOUND); null clears the banner. The image
    /// it replaces is deleted.
    pub banner_id: async_graphql::MaybeUndefined<ID>,
}

#[derive(InputObject)]
pub struct CreatePostInput {
    /// 1-500 code points once trimmed.
    pub body: String,
    /// The id of the post this one replies to.
    pub reply_to: Option<ID>,
    /// Up to 4 of the viewer's unattached uploads, in this order (more is BAD_USER_INPUT). One
    /// that is another's, already attached, unknown, or named twice is NOT_FOUND on
    /// `["input", "mediaIds"]`, and no post is written.
    pub media_ids: Option<Vec<ID>>,
}

/// `profile` is set exactly when `errors` is empty.
#[derive(SimpleObject, Default)]
pub struct ProfilePayload {
    pub profile: Option<Profile>,
    pub errors: Vec<UserError>,
}

/// The profile followed or unfollowed, as it is now; set exactly when `errors` is empty.
#[derive(SimpleObject, Default)]
pub struct FollowPayload {
    pub profile: Option<Profile>,
    /// True exactly when the follow awaits the owner's approval (a locked profile).
    pub requested: bool,
    pub errors: Vec<UserError>,
}

impl FollowPayload {
    pub fn answer(outcome: Result<service::follow::Followed, AppError>) -> Result<Self> {
        super::types::answer_with(
            outcome,
            |f| Self {
                profile: Some(Profile(f.profile)),
                requested: f.requested,
                errors: Vec::new(),
            },
            |p, e| p.errors = e,
        )
    }
}

/// `post` is set exactly when `errors` is empty.
#[derive(SimpleObject, Default)]
pub struct PostPayload {
    pub post: Option<Post>,
    pub errors: Vec<UserError>,
}

#[derive(SimpleObject, Default)]
pub struct DeletePayload {
    pub deleted: bool,
    pub errors: Vec<UserError>,
}

payload_answer!(ProfilePayload, profile::Model, |p| profile: Some(Profile(p)));
payload_answer!(PostPayload, post::Model, |p| post: Some(Post(p)));
payload_answer!(DeletePayload, (), |()| deleted: true);
