//! Live updates: the events that subscriptions carry (`hub`), the sockets
//! they travel on (`socket`) and this instance's registry of those
//! (`sockets`).
//!
//! A service that changed something publishes an event to the [`Hub`]
//! after its transaction committed; the hub hands it to this instance's
//! subscribers at once and to other instances through the database. Each
//! subscription's stream holds the [`SocketHandle`] of its socket, which
//! bounds what may wait there (a slow socket is closed, never waited for).

pub mod hub;
pub mod socket;
pub mod sockets;

pub use hub::Hub;
pub use socket::{Close, SocketHandle};
pub use sockets::Sockets;
