//! The subscription socket group: how long a socket may stay silent before
//! `connection_init`, and how many subscriptions and sockets one client may
//! hold; `http::socket` takes it whole.

use std::time::Duration;

use clap::Args;

use super::{at_least_one, parse_duration};

#[derive(Debug, Clone, Copy, Args)]
pub struct Sockets {
    /// How long a socket may wait before its `connection_init`; then it is
    /// closed with 4408.
    #[arg(long = "ws-init-timeout", env = "WS_INIT_TIMEOUT", value_name = "WS_INIT_TIMEOUT", default_value = "10s", value_parser = parse_duration, global = true)]
    pub init_timeout: Duration,

    /// Subscriptions one socket may run at once; the next gets an `error`
    /// message.
    #[arg(long = "ws-max-subscriptions", env = "WS_MAX_SUBSCRIPTIONS", value_name = "WS_MAX_SUBSCRIPTIONS", default_value_t = 20, value_parser = at_least_one, global = true)]
    pub max_subscriptions: usize,

    /// Signed-in sockets one account may hold on one instance; the next is
    /// closed with 4403 `too many sockets`.
    #[arg(long = "ws-max-sockets", env = "WS_MAX_SOCKETS", value_name = "WS_MAX_SOCKETS", default_value_t = 20, value_parser = at_least_one, global = true)]
    pub max_sockets: usize,
}
