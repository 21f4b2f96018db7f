//! Live updates: the events that subscriptions carry, the sockets they
//! travel on (`socket`) and this instance's registry of those (`sockets`).
//!
//! A service writes the events of a change in its transaction (`event`)
//! and hands them to the [`Hub`] after the commit; the hub delivers them to
//! this instance's subscribers at once, and the relay (`relay`) reads the
//! other instances' from the database. `seen` makes each event handled
//! once, `filter` decides who may receive what. Each subscription's stream
//! holds the [`SocketHandle`] of its socket, which bounds what may wait
//! there (a slow socket is closed, never waited for).

pub mod event;
pub mod filter;
pub mod hub;
mod notices;
pub mod relay;
pub mod seen;
pub mod shared;
pub mod socket;
pub mod sockets;

pub use event::{Batch, Event};
pub use hub::{FeedEntry, Hub, Listening, Payloads, Subscription, post_changes};
pub use shared::{Rendered, Shared};
pub use socket::{Close, SocketHandle};
pub use sockets::Sockets;
