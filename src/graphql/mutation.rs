use async_graphql::{Context, ID, Object, Result};

use super::notifications::MarkSeenPayload;
use super::report::{ReportInput, ReportPayload};
use super::social::{
    CreatePostInput, DeletePayload, FollowPayload, PostPayload, ProfilePayload, UpdateProfileInput,
};
use super::types::{
    AuthPayload, ChangeEmailInput, ChangePasswordInput, DeleteAccountInput, DeleteAccountPayload,
    LoginInput, LogoutPayload, LogoutScope, MailPayload, RefreshInput, RegisterInput,
    RequestPasswordResetInput, ResetPasswordInput, VerifyEmailInput, VerifyEmailPayload,
};
use super::viewer_auth;
use crate::auth::ClientInfo;
use crate::error::AppError;
use crate::service;
use crate::service::interaction::{Change, apply as interact};
use crate::state::AppState;

/// The mutations of every section but safety's (`super::safety`); the
/// schema's root merges them ([`Mutation`]).
#[derive(Default)]
pub struct CoreMutation;

/// The schema's mutation root.
#[derive(async_graphql::MergedObject, Default)]
pub struct Mutation(
    CoreMutation,
    super::safety::SafetyMutation,
    super::mfa::MfaMutation,
    super::media::MediaMutation,
);

/// The request's client (address, `User-Agent`), as the HTTP layer put it.
pub(super) fn client(ctx: &Context<'_>) -> ClientInfo {
    ctx.data_opt::<ClientInfo>().cloned().unwrap_or_default()
}

fn logout_payload(revoked: u64) -> LogoutPayload {
    LogoutPayload {
        revoked_sessions: i32::try_from(revoked).unwrap_or(i32::MAX),
    }
}

#[Object]
impl CoreMutation {
    /// Creates an account and signs it in.
    async fn register(&self, ctx: &Context<'_>, input: RegisterInput) -> Result<AuthPayload> {
        let state = ctx.data::<AppState>()?;
        AuthPayload::answer(
            service::user::register(
                state,
                &input.email,
                &input.password,
                input.handle.as_deref(),
                &client(ctx),
            )
            .await,
        )
    }

    /// Signs in with email and password; each sign-in opens a session.
    async fn login(&self, ctx: &Context<'_>, input: LoginInput) -> Result<AuthPayload> {
        let state = ctx.data::<AppState>()?;
        AuthPayload::answer(
            service::user::login(state, &input.email, &input.password, &client(ctx)).await,
        )
    }

    /// Exchanges a refresh token for a new access token and the next refresh
    /// token of the same session. Needs no Authorization header.
    async fn refresh(&self, ctx: &Context<'_>, input: RefreshInput) -> Result<AuthPayload> {
        let state = ctx.data::<AppState>()?;
        AuthPayload::answer(
            service::session::refresh(state, &input.refresh_token, &client(ctx)).await,
        )
    }

    /// Requires a token. CURRENT ends this session; OTHERS every other; ALL every one.
    async fn logout(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "LogoutScope::Current")] scope: LogoutScope,
    ) -> Result<LogoutPayload> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        Ok(logout_payload(
            service::session::revoke(state, viewer, scope.into()).await?,
        ))
    }

    /// Requires a token; ends one of the caller's own sessions.
    async fn revoke_session(&self, ctx: &Context<'_>, id: ID) -> Result<LogoutPayload> {
        let viewer = viewer_auth(ctx).require()?;
        let id = uuid::Uuid::parse_str(&id)
            .map_err(|_| AppError::BadUserInput("`id` is not a session id.".into()))?;
        let state = ctx.data::<AppState>()?;
        Ok(logout_payload(
            service::session::revoke_one(state, viewer, id).await?,
        ))
    }

    /// Requires a token; ends every other session of the user.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        input: ChangePasswordInput,
    ) -> Result<AuthPayload> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        AuthPayload::answer(
            service::user::change_password(
                state,
                viewer,
                &input.current_password,
                &input.new_password,
            )
            .await,
        )
    }

    /// Requires a token. Sends the verification mail (again); nothing when already verified.
    async fn request_email_verification(&self, ctx: &Context<'_>) -> Result<MailPayload> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        MailPayload::answer(service::verification::request_email_verification(state, viewer).await)
    }

    /// No token needed: the mail's token verifies the address, or confirms a pending email change.
    async fn verify_email(
        &self,
        ctx: &Context<'_>,
        input: VerifyEmailInput,
    ) -> Result<VerifyEmailPayload> {
        let state = ctx.data::<AppState>()?;
        VerifyEmailPayload::answer(
            service::verification::verify_email(state, &input.token, &client(ctx)).await,
        )
    }

    /// Same answer whether or not the address has an account; a mail goes only to an account's address.
    async fn request_password_reset(
        &self,
        ctx: &Context<'_>,
        input: RequestPasswordResetInput,
    ) -> Result<MailPayload> {
        let state = ctx.data::<AppState>()?;
        MailPayload::answer(
            service::password_reset::request_password_reset(state, &input.email, &client(ctx))
                .await,
        )
    }

    /// Sets the password with the mail's token; ends every session; answers a new one.
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        input: ResetPasswordInput,
    ) -> Result<AuthPayload> {
        let state = ctx.data::<AppState>()?;
        AuthPayload::answer(
            service::password_reset::reset_password(
                state,
                &input.token,
                &input.new_password,
                &client(ctx),
            )
            .await,
        )
    }

    /// Requires a token. Mails a confirmation link to the new address and a notice to the old one.
    async fn change_email(
        &self,
        ctx: &Context<'_>,
        input: ChangeEmailInput,
    ) -> Result<MailPayload> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        MailPayload::answer(
            service::email_change::change_email(
                state,
                viewer,
                &input.current_password,
                &input.new_email,
            )
            .await,
        )
    }

    /// Requires a token. Deletes the account and all it owns; ends every session.
    async fn delete_account(
        &self,
        ctx: &Context<'_>,
        input: DeleteAccountInput,
    ) -> Result<DeleteAccountPayload> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        DeleteAccountPayload::answer(
            service::deletion::delete_account(state, viewer, &input.current_password).await,
        )
    }

    /// Requires a token. Changes the viewer's handle, display name, bio, `locked`, avatar or
    /// banner; each optional.
    async fn update_profile(
        &self,
        ctx: &Context<'_>,
        input: UpdateProfileInput,
    ) -> Result<ProfilePayload> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        let change = service::profile::ProfileChange {
            handle: input.handle.as_deref(),
            display_name: input.display_name.as_deref(),
            bio: input.bio.as_deref(),
            locked: input.locked,
            avatar: picture_change(&input.avatar_id),
            banner: picture_change(&input.banner_id),
        };
        ProfilePayload::answer(service::profile::update(state, viewer, change).await)
    }

    /// Requires a token. Follows the profile with this handle (a locked one: asks to, `requested`
    /// true); again changes nothing. BLOCKED when one of the two blocks the other.
    async fn follow(&self, ctx: &Context<'_>, handle: String) -> Result<FollowPayload> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        FollowPayload::answer(service::follow::follow(state, viewer, &handle).await)
    }

    /// Requires a token. Stops following the profile with this handle, if the viewer did, and
    /// withdraws a pending request to.
    async fn unfollow(&self, ctx: &Context<'_>, handle: String) -> Result<FollowPayload> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        FollowPayload::answer(service::follow::unfollow(state, viewer, &handle).await.map(
            |profile| service::follow::Followed {
                profile,
                requested: false,
            },
        ))
    }

    /// Requires a token. Publishes a post (1-500 code points once trimmed), or a reply with
    /// `replyTo`; with up to 4 of the viewer's unattached uploads (`mediaIds`).
    async fn create_post(&self, ctx: &Context<'_>, input: CreatePostInput) -> Result<PostPayload> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        let media: Vec<&str> = input
            .media_ids
            .iter()
            .flatten()
            .map(|id| id.as_str())
            .collect();
        PostPayload::answer(
            service::post::create(
                state,
                viewer,
                &input.body,
                input.reply_to.as_ref().map(|id| id.as_str()),
                &media,
            )
            .await,
        )
    }

    /// Requires a token. Likes the post; liking it again changes nothing.
    async fn like(&self, ctx: &Context<'_>, post_id: ID) -> Result<PostPayload> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        PostPayload::answer(interact(state, viewer, &post_id, Change::Like).await)
    }

    /// Requires a token. Takes back the viewer's like of the post, if any.
    async fn unlike(&self, ctx: &Context<'_>, post_id: ID) -> Result<PostPayload> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        PostPayload::answer(interact(state, viewer, &post_id, Change::Unlike).await)
    }

    /// Requires a token. Reposts the post into the viewer's followers' feeds; again changes nothing.
    async fn repost(&self, ctx: &Context<'_>, post_id: ID) -> Result<PostPayload> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        PostPayload::answer(interact(state, viewer, &post_id, Change::Repost).await)
    }

    /// Requires a token. Takes back the viewer's repost of the post, if any.
    async fn unrepost(&self, ctx: &Context<'_>, post_id: ID) -> Result<PostPayload> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        PostPayload::answer(interact(state, viewer, &post_id, Change::Unrepost).await)
    }

    /// Requires a token. Deletes one of the viewer's posts; anyone else's, or an unknown id, is FORBIDDEN.
    async fn delete_post(&self, ctx: &Context<'_>, id: ID) -> Result<DeletePayload> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        DeletePayload::answer(service::post::delete(state, viewer, &id).await)
    }

    /// Requires a token. Moves the seen marker to `until` (never back; a
    /// later `until` than now counts as now); answers the new unread count.
    async fn mark_notifications_seen(
        &self,
        ctx: &Context<'_>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<MarkSeenPayload> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        MarkSeenPayload::answer(
            service::notification::inbox::mark_seen(state, viewer, until, chrono::Utc::now()).await,
        )
    }

    /// Requires a token. Reports a profile or a post to the operators: exactly one of `handle` and `postId`.
    async fn report(&self, ctx: &Context<'_>, input: ReportInput) -> Result<ReportPayload> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        let filing = service::safety::report::Filing {
            handle: input.handle.as_deref(),
            post_id: input.post_id.as_ref().map(|id| id.as_str()),
            reason: input.reason.into(),
            comment: input.comment.as_deref(),
        };
        ReportPayload::answer(service::safety::report::file(state, viewer, filing).await)
    }
}

/// A picture field of `updateProfile`: left out, null, or an id.
fn picture_change(
    id: &async_graphql::MaybeUndefined<ID>,
) -> Option<service::profile::PictureChange<'_>> {
    match id {
        async_graphql::MaybeUndefined::Undefined => None,
        async_graphql::MaybeUndefined::Null => Some(service::profile::PictureChange::Clear),
        async_graphql::MaybeUndefined::Value(id) => {
            Some(service::profile::PictureChange::Set(id.as_str()))
        }
    }
}
