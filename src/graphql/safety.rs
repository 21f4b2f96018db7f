//! Safety's mutations (blocks, mutes, answers to follow requests), merged
//! into the schema's mutation root, the `followRequests` page, and the
//! batch load of the viewer's relations to a page of profiles.

use async_graphql::{Context, Object, Result};

use super::social::{
    Profile, ProfileConnection, ProfilePayload, connection, loaders, nodes_select,
};
use super::viewer_auth;
use crate::service;
use crate::service::page::Kind;
use crate::service::safety::requests::Answer;
use crate::state::AppState;

/// The mutations of the safety section; each requires a token.
#[derive(Default)]
pub struct SafetyMutation;

#[Object]
impl SafetyMutation {
    /// Requires a token. Blocks the profile with this handle (again changes nothing): ends the
    /// follows both ways, pending requests, and the likes, reposts and notifications between the
    /// two. Blocking oneself is BAD_USER_INPUT.
    async fn block(&self, ctx: &Context<'_>, handle: String) -> Result<ProfilePayload> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        ProfilePayload::answer(service::safety::block::block(state, viewer, &handle).await)
    }

    /// Requires a token. Lifts the viewer's block of this profile, if any; the follows it ended do
    /// not come back.
    async fn unblock(&self, ctx: &Context<'_>, handle: String) -> Result<ProfilePayload> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        ProfilePayload::answer(service::safety::block::unblock(state, viewer, &handle).await)
    }

    /// Requires a token. Mutes the profile with this handle (again changes nothing): its posts and
    /// reposts leave the viewer's feed, its actions notify the viewer no more. It cannot tell.
    async fn mute(&self, ctx: &Context<'_>, handle: String) -> Result<ProfilePayload> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        ProfilePayload::answer(service::safety::block::mute(state, viewer, &handle).await)
    }

    /// Requires a token. Lifts the viewer's mute of this profile, if any.
    async fn unmute(&self, ctx: &Context<'_>, handle: String) -> Result<ProfilePayload> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        ProfilePayload::answer(service::safety::block::unmute(state, viewer, &handle).await)
    }

    /// Requires a token. Makes the pending request of this handle to follow the viewer a follow;
    /// answers the requester's profile. No such request: NOT_FOUND.
    async fn approve_follow_request(
        &self,
        ctx: &Context<'_>,
        handle: String,
    ) -> Result<ProfilePayload> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        ProfilePayload::answer(
            service::safety::requests::answer(state, viewer, &handle, Answer::Approve).await,
        )
    }

    /// Requires a token. Declines the pending request of this handle to follow the viewer;
    /// answers the requester's profile. No such request: NOT_FOUND.
    async fn reject_follow_request(
        &self,
        ctx: &Context<'_>,
        handle: String,
    ) -> Result<ProfilePayload> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        ProfilePayload::answer(
            service::safety::requests::answer(state, viewer, &handle, Answer::Reject).await,
        )
    }
}

/// `Query.followRequests`: the requesters' profiles, newest request first.
pub(super) async fn follow_requests(
    ctx: &Context<'_>,
    first: Option<i32>,
    after: Option<String>,
) -> Result<ProfileConnection> {
    let viewer = viewer_auth(ctx).require()?;
    let state = ctx.data::<AppState>()?;
    let page = service::safety::requests::page(state, viewer, first, after.as_deref()).await?;
    let ids = page.items.iter().map(|(_, p)| p.user_id).collect();
    preload_relations(ctx, ids).await?;
    Ok(connection(Kind::FollowRequest, page, Profile))
}

/// The fields of a profile that [`preload_relations`] loads for a page.
const RELATION_FIELDS: [&str; 4] = [
    "viewerBlocks",
    "blocksViewer",
    "viewerMutes",
    "viewerRequestedFollow",
];

/// Loads how the viewer stands with each profile of a page, in one batch,
/// when the page's items select one of [`RELATION_FIELDS`] (the items
/// asking one by one could make several batches on a busy machine).
pub(super) async fn preload_relations(ctx: &Context<'_>, profiles: Vec<uuid::Uuid>) -> Result<()> {
    if !RELATION_FIELDS.iter().any(|f| nodes_select(ctx, f)) {
        return Ok(());
    }
    let Some(viewer) = viewer_auth(ctx).viewer()? else {
        return Ok(());
    };
    let viewer = viewer.user_id;
    let others: Vec<_> = profiles.into_iter().filter(|id| *id != viewer).collect();
    loaders(ctx)?.load_relations(viewer, others).await
}
