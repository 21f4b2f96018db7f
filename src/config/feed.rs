//! The feed group: the cache of feed pages, and the Redis server that
//! carries its invalidations between instances.

use clap::Args;
use secrecy::SecretString;

use super::secret;

#[derive(Debug, Clone, Args)]
pub struct Feed {
    /// Keep recently read feed and inbox pages in memory (on|off). A page
    /// is served from memory until a write that can change it (a post,
    /// repost, delete, follow, block, mute or lock by the viewer or an
    /// account it follows; for an inbox, a notification or the seen
    /// marker) takes it out. Several instances sharing one database need
    /// `REDIS_URL` (or this off).
    #[arg(
        long = "feed-cache",
        env = "FEED_CACHE",
        value_name = "FEED_CACHE",
        default_value = "on",
        value_parser = super::parse_switch,
        action = clap::ArgAction::Set,
        global = true
    )]
    pub cache: bool,

    /// Memory the feed cache may hold (inbox pages a quarter of it), in MiB.
    #[arg(
        long = "feed-cache-mb",
        env = "FEED_CACHE_MB",
        value_name = "FEED_CACHE_MB",
        default_value_t = 64,
        global = true
    )]
    pub cache_mb: u64,

    /// A Redis server shared by every instance (`redis://host:port/db`):
    /// each instance publishes there what its writes changed and takes the
    /// others' changes from it, so every instance's cache answers as the
    /// database does. Unset: one instance.
    /// (It may carry a password: never printed.)
    #[arg(long = "redis-url", env = "REDIS_URL", value_name = "REDIS_URL", value_parser = secret, global = true, hide_env_values = true)]
    pub redis_url: Option<SecretString>,

    /// The newest posts a feed page looks among before it reads author by
    /// author: not a setting, the tests make it small.
    #[arg(skip = crate::service::feed::RECENT_WINDOW)]
    pub window: u64,
}
