//! Who may receive an event: the one place that decides, called by the hub
//! for every subscription on every delivery path (`feedAdded`,
//! `notificationChanged`, `postChanged`) just before it queues the event.
//!
//! The rule is `service::safety::visibility`'s, applied to what an event is
//! about ([`About`]):
//!
//! - `feedAdded`: as the feed. Nothing from an author or reposter the
//!   viewer mutes or that blocks it or is blocked by it, nor a locked
//!   author's post for a viewer that does not follow it.
//! - `postChanged`: the post's author as `post(id)` sees it (a block either
//!   way, or a locked author and a viewer that does not follow it: nothing
//!   more). Mutes do not count.
//! - `notificationChanged`: nothing from a blocked or muted actor, nor a
//!   group whose post the recipient may not see.
//!
//! [`may_reach`] runs once per (event, subscription), after the event's
//! data was loaded once for all of them, so it is cheap and does not
//! await: the recipients' relations to the event's parties are read with
//! the event's data ([`audience`]), per event and instance, a statement
//! for up to 500 recipients, not one per subscriber.

use uuid::Uuid;

use crate::entity::profile;
use crate::error::AppError;
use crate::service::safety::audience::{self as relations, Audience, Parties};
use crate::service::safety::visibility;
use crate::state::AppState;

/// What an event is about, as far as who may receive it is concerned.
#[derive(Debug, Clone, Copy)]
pub enum About<'a> {
    /// A `feedAdded` entry: a post by `author`, reposted by `reposter`.
    Feed {
        author: &'a profile::Model,
        reposter: Option<Uuid>,
    },
    /// A `postChanged` of a post by `author`.
    Post { author: &'a profile::Model },
    /// A `notificationChanged` group that gained `actor`, about a post by
    /// `author` (none for FOLLOW and FOLLOW_REQUEST).
    Notification {
        actor: Uuid,
        author: Option<&'a profile::Model>,
    },
}

impl About<'_> {
    /// The accounts the event is about, and which relations to them count.
    fn parties(&self) -> Parties {
        let followed = |author: &profile::Model| author.locked.then_some(author.user_id);
        match *self {
            Self::Feed { author, reposter } => {
                let about: Vec<Uuid> = std::iter::once(author.user_id).chain(reposter).collect();
                Parties {
                    blocking: about.clone(),
                    muted: about,
                    followed: followed(author),
                }
            }
            Self::Post { author } => Parties {
                blocking: vec![author.user_id],
                muted: Vec::new(),
                followed: followed(author),
            },
            Self::Notification { actor, author } => Parties {
                blocking: std::iter::once(actor)
                    .chain(author.map(|a| a.user_id))
                    .collect(),
                muted: vec![actor],
                followed: author.and_then(followed),
            },
        }
    }
}

/// How the local `recipients` of an event about `about` stand with its
/// parties (see [`relations::audience`]), for [`may_reach`].
pub async fn audience(
    state: &AppState,
    about: About<'_>,
    recipients: &[Uuid],
) -> Result<Audience, AppError> {
    relations::audience(state.db(), recipients, &about.parties()).await
}

/// Whether an event about `about` may reach `viewer` (none: an anonymous
/// socket), given the `audience` read for the event's recipients.
pub fn may_reach(viewer: Option<Uuid>, about: About<'_>, audience: &Audience) -> bool {
    let relation = |party: Uuid| match viewer {
        Some(v) => audience.relation(v, party),
        None => visibility::Relation::default(),
    };
    let sees =
        |author: &profile::Model| visibility::sees(viewer, author, &relation(author.user_id));
    // Neither blocks the other, and the viewer does not mute it.
    let heard = |party: Uuid| {
        let r = relation(party);
        !r.blocked() && !r.mutes
    };
    match about {
        About::Feed { author, reposter } => {
            viewer.is_some()
                && sees(author)
                && !relation(author.user_id).mutes
                && reposter.is_none_or(heard)
        }
        About::Post { author } => sees(author),
        About::Notification { actor, author } => {
            viewer.is_some() && heard(actor) && author.is_none_or(sees)
        }
    }
}
