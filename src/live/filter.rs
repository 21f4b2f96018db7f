//! Who may receive an event: the one place that decides, called by the hub
//! for every subscription on every delivery path (`feedAdded`,
//! `notificationChanged`, `postChanged`) just before it queues the event.
//!
//! Today every event may reach every subscriber that listens for it. Blocks,
//! mutes and locked accounts will decide here: an event whose actor or
//! whose post's author blocks the viewer or is blocked or muted by it, or a
//! locked author's post for a viewer that does not follow it, will not be
//! delivered. This runs once per (event, subscription), after the event's
//! data was loaded once for all of them, so it must stay cheap and must not
//! await: what it needs about the viewer (its blocks, mutes, follows of
//! locked accounts) is to be loaded with the event's data, per event and
//! instance, not per subscriber.

use uuid::Uuid;

use crate::entity::profile;

/// What an event is about, as far as who may see it is concerned.
#[derive(Debug, Clone, Copy)]
pub struct About<'a> {
    /// Who acted: the author of a new post, the reposter, the account that
    /// liked or followed (notifications). None when nobody did (counts).
    pub actor: Option<Uuid>,
    /// The author of the post the event shows, if it shows one.
    pub author: Option<&'a profile::Model>,
}

/// Whether an event about `about` may reach `viewer` (none: an anonymous
/// socket). Allows everything for now (see the module's comment).
pub fn may_reach(viewer: Option<Uuid>, about: About<'_>) -> bool {
    let _ = (viewer, about);
    true
}
