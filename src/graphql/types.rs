//! The GraphQL shapes of the contract, and their mapping from service values.

use async_graphql::{Enum, ID, InputObject, SimpleObject};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret as _;

use crate::domain::Profile;
use crate::entity::user;
use crate::error::AppError;
use crate::service::problem::{Field, InputProblem, ProblemKind};
use crate::service::session::{Authenticated, SessionView};

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct User {
    /// A UUIDv7 (lower-case, hyphenated).
    pub id: ID,
    /// Canonical form: trimmed and lower-cased.
    pub email: String,
    pub created_at: DateTime<Utc>,
    /// Proven by following a link mailed to it.
    pub email_verified: bool,
}

impl From<user::Model> for User {
    fn from(u: user::Model) -> Self {
        Self {
            id: ID(u.id.to_string()),
            email: u.email,
            created_at: u.created_at,
            email_verified: u.email_verified,
        }
    }
}

impl From<Profile> for User {
    fn from(p: Profile) -> Self {
        Self {
            id: ID(p.id.to_string()),
            email: p.email.to_string(),
            created_at: p.created_at,
            email_verified: p.email_verified,
        }
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::service::problem::ProblemKind")]
pub enum UserErrorCode {
    InvalidEmail,
    EmailTaken,
    PasswordTooShort,
    PasswordTooLong,
    /// On a common-password list, or contains the email's local part.
    PasswordTooCommon,
    /// Login: unknown email or wrong password; one code, one message.
    InvalidCredentials,
    /// Unknown, expired, revoked or reused.
    InvalidRefreshToken,
    /// Too many attempts; `retryAfterSeconds` says when to try again.
    RateLimited,
    /// A mail token that is unknown, expired, used, or superseded by a newer one of its kind.
    InvalidToken,
    /// The right password, for an account that is disabled.
    AccountDisabled,
    /// Not 3-30 of `[a-z0-9_]`, all digits, or a reserved word.
    InvalidHandle,
    /// Another profile has this handle (in any case).
    HandleTaken,
    TextTooLong,
    /// Nothing left once trimmed.
    TextEmpty,
    CannotFollowSelf,
    /// No profile has that handle, or no post the viewer may see has that id.
    NotFound,
    /// One of the two accounts blocks the other: no follow, like, repost or reply between them.
    Blocked,
    /// Not allowed on this target: a locked account's post cannot be reposted by others.
    NotAllowed,
    /// A second factor is needed: with `mfaTicket`, finish with `verifyMfa`; without, step the
    /// session up to `aal2` (`verifyMfa` with a token, or a passkey sign-in) first.
    MfaRequired,
    /// A TOTP or recovery code that is wrong, replayed (the same time step) or already used.
    InvalidCode,
    /// Not a JPEG, PNG, WebP or GIF by its content (never by its name or declared type), or not
    /// decodable.
    UnsupportedMedia,
    /// An image over 8,192 px a side or 40 megapixels.
    MediaTooLarge,
}

/// An expected problem with a mutation's input, safe to show to the user.
#[derive(SimpleObject, Debug)]
pub struct UserError {
    pub code: UserErrorCode,
    /// Human readable, safe to show.
    pub message: String,
    /// Input path, e.g. `["input", "password"]`.
    pub field: Option<Vec<String>>,
    /// Only with RATE_LIMITED.
    pub retry_after_seconds: Option<i32>,
}

/// The path of an input field: `["input", name]` in the schema's input
/// objects, or an argument's name.
fn field_path(f: Field) -> Vec<String> {
    let in_input = |name: &str| vec!["input".to_owned(), name.to_owned()];
    match f {
        Field::Email => in_input("email"),
        Field::Password => in_input("password"),
        Field::CurrentPassword => in_input("currentPassword"),
        Field::NewPassword => in_input("newPassword"),
        Field::RefreshToken => in_input("refreshToken"),
        Field::NewEmail => in_input("newEmail"),
        Field::Token => in_input("token"),
        Field::Handle => in_input("handle"),
        Field::DisplayName => in_input("displayName"),
        Field::Bio => in_input("bio"),
        Field::Body => in_input("body"),
        Field::HandleArgument => vec!["handle".to_owned()],
        Field::PostIdArgument => vec!["postId".to_owned()],
        Field::ReplyTo => in_input("replyTo"),
        Field::PostId => in_input("postId"),
        Field::Comment => in_input("comment"),
        Field::CodeArgument => vec!["code".to_owned()],
        Field::Code => in_input("code"),
        Field::RecoveryCode => in_input("recoveryCode"),
        Field::Ticket => in_input("ticket"),
        Field::ChallengeId => in_input("challengeId"),
        Field::Credential => in_input("credential"),
        Field::Name => in_input("name"),
        Field::IdArgument => vec!["id".to_owned()],
        Field::FileArgument => vec!["file".to_owned()],
        Field::AltArgument => vec!["alt".to_owned()],
        Field::MediaIds => in_input("mediaIds"),
        Field::AvatarId => in_input("avatarId"),
        Field::BannerId => in_input("bannerId"),
    }
}

impl From<InputProblem> for UserError {
    fn from(p: InputProblem) -> Self {
        use crate::domain::PasswordError;
        let message = match p.kind {
            ProblemKind::InvalidEmail => {
                "Enter a valid email address, like name@example.com.".to_owned()
            }
            ProblemKind::EmailTaken => {
                "An account with this email address already exists.".to_owned()
            }
            ProblemKind::PasswordTooShort => PasswordError::TooShort.to_string(),
            ProblemKind::PasswordTooLong => PasswordError::TooLong.to_string(),
            ProblemKind::PasswordTooCommon => PasswordError::TooCommon.to_string(),
            ProblemKind::InvalidCredentials => {
                "The email address or password is incorrect.".to_owned()
            }
            ProblemKind::RateLimited => "Too many attempts; wait before trying again.".to_owned(),
            ProblemKind::InvalidRefreshToken => {
                "The refresh token is invalid, expired or revoked; sign in again.".to_owned()
            }
            ProblemKind::InvalidToken if p.field == Some(Field::Ticket) => {
                "This sign-in has expired or was already completed; sign in again.".to_owned()
            }
            ProblemKind::InvalidToken if p.field == Some(Field::ChallengeId) => {
                "This passkey request has expired or was already used; start again.".to_owned()
            }
            ProblemKind::InvalidToken => {
                "This link is invalid, expired or already used; ask for a new one.".to_owned()
            }
            ProblemKind::AccountDisabled => "This account is disabled.".to_owned(),
            ProblemKind::InvalidHandle => {
                "A handle is 3 to 30 letters, digits or underscores, not all digits.".to_owned()
            }
            ProblemKind::HandleTaken => "This handle is taken.".to_owned(),
            ProblemKind::TextTooLong => "This text is too long.".to_owned(),
            ProblemKind::TextEmpty => "Write something first.".to_owned(),
            ProblemKind::CannotFollowSelf => "You cannot follow yourself.".to_owned(),
            ProblemKind::NotFound => match p.field {
                Some(Field::PostIdArgument | Field::ReplyTo | Field::PostId) => {
                    "No post has this id.".to_owned()
                }
                Some(Field::MediaIds | Field::AvatarId | Field::BannerId) => {
                    "No upload of yours with this id is free to attach.".to_owned()
                }
                _ => "No profile has this handle.".to_owned(),
            },
            ProblemKind::Blocked => "You cannot do this: one of you blocks the other.".to_owned(),
            ProblemKind::NotAllowed => match p.field {
                Some(Field::PostIdArgument | Field::PostId) => {
                    "This post's author does not allow that.".to_owned()
                }
                _ => "This is not possible on this account now.".to_owned(),
            },
            ProblemKind::MfaRequired => {
                "A second factor is needed: enter a code from your authenticator app.".to_owned()
            }
            ProblemKind::InvalidCode => "This code is wrong, expired or already used.".to_owned(),
            ProblemKind::UnsupportedMedia => {
                "This file is not an image we take: send a JPEG, PNG, WebP or GIF.".to_owned()
            }
            ProblemKind::MediaTooLarge => {
                "This image is too large: at most 8,192 pixels a side and 40 megapixels.".to_owned()
            }
        };
        Self {
            code: p.kind.into(),
            message,
            field: p.field.map(field_path),
            retry_after_seconds: p.retry_after.map(|s| i32::try_from(s).unwrap_or(i32::MAX)),
        }
    }
}

/// Tokens and user are set exactly when errors is empty.
#[derive(SimpleObject, Default)]
pub struct AuthPayload {
    pub access_token: Option<String>,
    /// Always "Bearer" when a token is set.
    pub token_type: Option<String>,
    /// When the access token expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// Opaque; rotated by every refresh.
    pub refresh_token: Option<String>,
    pub user: Option<User>,
    pub errors: Vec<UserError>,
    /// Set with the error MFA_REQUIRED (and no tokens): `verifyMfa` takes it with a code. Single
    /// use, five minutes, bound to the account.
    pub mfa_ticket: Option<String>,
}

impl AuthPayload {
    /// A service's answer as the payload: signed in, a second factor asked
    /// for (MFA_REQUIRED with its ticket), or the input problems in
    /// `errors`; any other error is a top-level GraphQL error.
    pub fn answer<T: Into<Authenticated>>(
        outcome: Result<T, AppError>,
    ) -> async_graphql::Result<Self> {
        match outcome.map(Into::into) {
            Ok(Authenticated::MfaRequired(ticket)) => Ok(Self {
                errors: vec![InputProblem::new(ProblemKind::MfaRequired, None).into()],
                mfa_ticket: Some(ticket.expose_secret().to_owned()),
                ..Self::default()
            }),
            Ok(Authenticated::Session(s)) => Ok(Self {
                access_token: Some(s.access.token.expose_secret().to_owned()),
                token_type: Some("Bearer".to_owned()),
                expires_at: Some(s.access.expires_at),
                refresh_token: Some(s.refresh.into_string()),
                user: Some(s.user.into()),
                errors: Vec::new(),
                mfa_ticket: None,
            }),
            Err(AppError::Input(problems)) => Ok(Self {
                errors: problems.into_iter().map(UserError::from).collect(),
                ..Self::default()
            }),
            Err(e) => Err(e.into()),
        }
    }
}

/// A request that sends a mail when it applies. Never tells whether an account exists.
#[derive(SimpleObject, Default)]
pub struct MailPayload {
    pub errors: Vec<UserError>,
}

#[derive(SimpleObject, Default)]
pub struct VerifyEmailPayload {
    pub user: Option<User>,
    pub errors: Vec<UserError>,
}

#[derive(SimpleObject, Default)]
pub struct DeleteAccountPayload {
    pub deleted: bool,
    pub errors: Vec<UserError>,
}

/// `Ok(value)` as `ok(value)`; input problems as `errors`; anything else a
/// top-level error.
pub(super) fn answer_with<T, P: Default>(
    outcome: Result<T, AppError>,
    ok: impl FnOnce(T) -> P,
    errors: impl FnOnce(&mut P, Vec<UserError>),
) -> async_graphql::Result<P> {
    match outcome {
        Ok(v) => Ok(ok(v)),
        Err(AppError::Input(problems)) => {
            let mut p = P::default();
            errors(&mut p, problems.into_iter().map(UserError::from).collect());
            Ok(p)
        }
        Err(e) => Err(e.into()),
    }
}

impl MailPayload {
    pub fn answer(outcome: Result<(), AppError>) -> async_graphql::Result<Self> {
        answer_with(outcome, |()| Self::default(), |p, e| p.errors = e)
    }
}

/// `answer` for a payload of one value beside its `errors`: the service's
/// value made into `$field`, or its input problems in `errors`; any other
/// error is a top-level one.
macro_rules! payload_answer {
    ($payload:ty, $value:ty, |$v:pat_param| $field:ident: $make:expr) => {
        impl $payload {
            pub fn answer(
                outcome: Result<$value, crate::error::AppError>,
            ) -> async_graphql::Result<Self> {
                super::types::answer_with(
                    outcome,
                    |$v| Self {
                        $field: $make,
                        errors: Vec::new(),
                    },
                    |p, e| p.errors = e,
                )
            }
        }
    };
}
pub(super) use payload_answer;

payload_answer!(VerifyEmailPayload, user::Model, |u| user: Some(u.into()));
payload_answer!(DeleteAccountPayload, (), |()| deleted: true);

/// A signed-in device or browser.
#[derive(SimpleObject)]
pub struct Session {
    /// A UUIDv7; equals the `sid` claim of the tokens it issued.
    pub id: ID,
    pub created_at: DateTime<Utc>,
    /// The last login or refresh.
    pub last_used_at: DateTime<Utc>,
    /// When its refresh token expires.
    pub expires_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    /// The session of the token making this request.
    pub current: bool,
}

impl From<SessionView> for Session {
    fn from(v: SessionView) -> Self {
        Self {
            id: ID(v.session.id.to_string()),
            created_at: v.session.created_at,
            last_used_at: v.session.last_used_at,
            expires_at: v.session.expires_at,
            user_agent: v.session.user_agent,
            current: v.current,
        }
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::service::session::Scope")]
pub enum LogoutScope {
    /// The session of the token making the request.
    Current,
    /// Every other session of the user.
    Others,
    /// Every session of the user.
    All,
}

#[derive(SimpleObject)]
pub struct LogoutPayload {
    /// How many live sessions this call ended.
    pub revoked_sessions: i32,
}

#[derive(InputObject)]
pub struct RegisterInput {
    pub email: String,
    #[graphql(secret)]
    pub password: String,
    /// 3-30 of `[a-z0-9_]`, any case (stored lower-case); a random one when absent.
    pub handle: Option<String>,
}

#[derive(InputObject)]
pub struct LoginInput {
    pub email: String,
    #[graphql(secret)]
    pub password: String,
}

#[derive(InputObject)]
pub struct RefreshInput {
    #[graphql(secret)]
    pub refresh_token: String,
}

#[derive(InputObject)]
pub struct ChangePasswordInput {
    #[graphql(secret)]
    pub current_password: String,
    #[graphql(secret)]
    pub new_password: String,
}

#[derive(InputObject)]
pub struct VerifyEmailInput {
    #[graphql(secret)]
    pub token: String,
}

#[derive(InputObject)]
pub struct RequestPasswordResetInput {
    pub email: String,
}

#[derive(InputObject)]
pub struct ResetPasswordInput {
    #[graphql(secret)]
    pub token: String,
    #[graphql(secret)]
    pub new_password: String,
}

#[derive(InputObject)]
pub struct ChangeEmailInput {
    #[graphql(secret)]
    pub current_password: String,
    pub new_email: String,
}

#[derive(InputObject)]
pub struct DeleteAccountInput {
    #[graphql(secret)]
    pub current_password: String,
}
