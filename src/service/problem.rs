//! The problems with a request's input that its user should see: what is
//! wrong and which field it is about. The GraphQL `UserError` mirrors them.

/// A problem with the input that the client should show to its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputProblem {
    pub kind: ProblemKind,
    /// The input field it is about, if one.
    pub field: Option<Field>,
    /// With `RateLimited`: seconds until the next attempt may succeed.
    pub retry_after: Option<u32>,
}

/// What is wrong; the GraphQL `UserErrorCode` mirrors it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    InvalidEmail,
    EmailTaken,
    PasswordTooShort,
    PasswordTooLong,
    PasswordTooCommon,
    InvalidCredentials,
    InvalidRefreshToken,
    RateLimited,
    /// A mail token that is unknown, expired, used or superseded.
    InvalidToken,
    /// The right password, for an account an operator disabled.
    AccountDisabled,
    /// Not 3-30 of `[a-z0-9_]`, all digits, or reserved.
    InvalidHandle,
    HandleTaken,
    TextTooLong,
    TextEmpty,
    CannotFollowSelf,
    /// No profile has that handle, or no post the viewer may see has that id.
    NotFound,
    /// One of the two accounts blocks the other.
    Blocked,
    /// Not allowed on this target: reposting a locked account's post.
    NotAllowed,
    /// A second factor is needed: with a ticket, to finish signing in; without
    /// one, the session must step up to `aal2` first.
    MfaRequired,
    /// A TOTP or recovery code that is wrong, replayed or already used.
    InvalidCode,
    /// Not a JPEG, PNG, WebP or GIF by its content, or not decodable.
    UnsupportedMedia,
    /// An image over 8,192 px a side or 40 megapixels.
    MediaTooLarge,
}

/// The inputs a problem can be about; the API names them (`currentPassword`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Email,
    Password,
    CurrentPassword,
    NewPassword,
    RefreshToken,
    NewEmail,
    Token,
    Handle,
    DisplayName,
    Bio,
    Body,
    /// The `handle` argument of `follow`/`unfollow` (not an input object's).
    HandleArgument,
    /// The `postId` argument of `like`, `unlike`, `repost` and `unrepost`.
    PostIdArgument,
    /// `replyTo` of `createPost`.
    ReplyTo,
    /// `postId` of an input object (`report`).
    PostId,
    /// `comment` of `report`.
    Comment,
    /// `code` of `confirmTotp` (an argument) or of an input object.
    CodeArgument,
    Code,
    RecoveryCode,
    Ticket,
    ChallengeId,
    Credential,
    Name,
    /// The `id` argument of `removePasskey`.
    IdArgument,
    /// The `file` argument of `uploadMedia`.
    FileArgument,
    /// The `alt` argument of `uploadMedia`.
    AltArgument,
    /// `mediaIds` of `createPost`.
    MediaIds,
    /// `avatarId` and `bannerId` of `updateProfile`.
    AvatarId,
    BannerId,
}

impl InputProblem {
    pub fn new(kind: ProblemKind, field: Option<Field>) -> Self {
        Self {
            kind,
            field,
            retry_after: None,
        }
    }

    pub fn rate_limited(retry_after: u32) -> Self {
        Self {
            kind: ProblemKind::RateLimited,
            field: None,
            retry_after: Some(retry_after.max(1)),
        }
    }
}

impl From<crate::domain::text::TextError> for ProblemKind {
    fn from(e: crate::domain::text::TextError) -> Self {
        use crate::domain::text::TextError;
        match e {
            TextError::Empty => Self::TextEmpty,
            TextError::TooLong => Self::TextTooLong,
        }
    }
}

impl From<crate::domain::PasswordError> for ProblemKind {
    fn from(e: crate::domain::PasswordError) -> Self {
        use crate::domain::PasswordError;
        match e {
            PasswordError::TooShort => Self::PasswordTooShort,
            PasswordError::TooLong => Self::PasswordTooLong,
            PasswordError::TooCommon => Self::PasswordTooCommon,
        }
    }
}
