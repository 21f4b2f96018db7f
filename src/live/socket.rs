//! One subscription socket as the event side sees it: how many events wait
//! for it, and how to close it (at once, or when its access token expires).

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::watch;
use tokio::time::Instant;

/// Events that may wait for one socket, across its subscriptions; one more
/// closes it with 1013.
pub const MAX_QUEUED: usize = 256;

/// Why the server closes a socket: the WebSocket close code and reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Close {
    pub code: u16,
    pub reason: &'static str,
}

impl Close {
    pub const TOO_SLOW: Close = Close {
        code: 1013,
        reason: "too slow",
    };
    pub const SESSION_ENDED: Close = Close {
        code: 4403,
        reason: "session ended",
    };
    pub const TOKEN_EXPIRED: Close = Close {
        code: 4401,
        reason: "token expired",
    };
    pub const INIT_TIMEOUT: Close = Close {
        code: 4408,
        reason: "Connection initialisation timeout",
    };
    pub const SHUTDOWN: Close = Close {
        code: 1001,
        reason: "server shutting down",
    };

    /// The `reason` label of the closed-sockets metric.
    pub fn label(&self) -> &'static str {
        match *self {
            Self::TOO_SLOW => "too_slow",
            Self::SESSION_ENDED => "session_ended",
            Self::TOKEN_EXPIRED => "token_expired",
            Self::INIT_TIMEOUT => "init_timeout",
            Self::SHUTDOWN => "shutdown",
            _ => "other",
        }
    }
}

/// What the connection task waits for: a reason to close now, or the moment
/// the access token expires.
#[derive(Debug, Clone, Copy, Default)]
struct Closing {
    now: Option<Close>,
    expires: Option<Instant>,
}

/// Shared by a socket's connection task and every stream it runs.
pub struct SocketHandle {
    queued: AtomicUsize,
    close: watch::Sender<Closing>,
}

impl SocketHandle {
    pub fn new() -> Self {
        Self {
            queued: AtomicUsize::new(0),
            close: watch::Sender::new(Closing::default()),
        }
    }

    /// Counts one more event waiting for this socket. False when that is one
    /// too many: the socket is then closing as too slow, and the event is
    /// dropped.
    pub fn enqueue(&self) -> bool {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= MAX_QUEUED {
            self.close(Close::TOO_SLOW);
            return false;
        }
        true
    }

    /// One waiting event was taken (sent, or dropped with its stream).
    pub fn dequeue(&self) {
        let _ = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// Asks the connection task to close the socket; the first reason wins.
    pub fn close(&self, why: Close) {
        self.close.send_if_modified(|current| {
            if current.now.is_none() {
                current.now = Some(why);
                true
            } else {
                false
            }
        });
    }

    /// Closes the socket with [`Close::TOKEN_EXPIRED`] at `at` (its access
    /// token's expiry), unless something closes it first.
    pub fn expire_at(&self, at: Instant) {
        self.close.send_modify(|current| current.expires = Some(at));
    }

    /// The reason, if something asked to close the socket.
    pub fn closing(&self) -> Option<Close> {
        self.close.borrow().now
    }

    /// Resolves with the reason once something asked to close the socket,
    /// or its token expired.
    pub async fn closed(&self) -> Close {
        let mut rx = self.close.subscribe();
        loop {
            let current = *rx.borrow_and_update();
            if let Some(why) = current.now {
                return why;
            }
            let changed = rx.changed();
            match current.expires {
                Some(at) => {
                    tokio::select! {
                        _ = changed => {}
                        () = tokio::time::sleep_until(at) => self.close(Close::TOKEN_EXPIRED),
                    }
                }
                // The sender lives in `self`: it cannot drop while borrowed.
                None => changed.await.unwrap_or(()),
            }
        }
    }
}

impl Default for SocketHandle {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_after_the_limit_closes_as_too_slow() {
        let socket = SocketHandle::new();
        for _ in 0..MAX_QUEUED {
            assert!(socket.enqueue());
        }
        assert!(!socket.enqueue());
        assert_eq!(socket.closing(), Some(Close::TOO_SLOW));
    }

    #[test]
    fn taken_events_make_room_and_the_first_reason_wins() {
        let socket = SocketHandle::new();
        for _ in 0..MAX_QUEUED {
            assert!(socket.enqueue());
        }
        socket.dequeue();
        assert!(socket.enqueue());
        socket.close(Close::SESSION_ENDED);
        socket.close(Close::TOKEN_EXPIRED);
        assert_eq!(socket.closing(), Some(Close::SESSION_ENDED));
    }

    #[tokio::test(start_paused = true)]
    async fn an_expiry_closes_at_its_moment_unless_something_closed_first() {
        let socket = SocketHandle::new();
        let at = Instant::now() + std::time::Duration::from_secs(60);
        socket.expire_at(at);
        assert_eq!(socket.closed().await, Close::TOKEN_EXPIRED);
        assert!(Instant::now() >= at, "not before the token's expiry");

        let socket = SocketHandle::new();
        socket.expire_at(Instant::now() + std::time::Duration::from_secs(60));
        socket.close(Close::SESSION_ENDED);
        assert_eq!(socket.closed().await, Close::SESSION_ENDED);
    }

    #[tokio::test(start_paused = true)]
    async fn an_expiry_set_while_waiting_is_kept() {
        let socket = std::sync::Arc::new(SocketHandle::new());
        let waiting = tokio::spawn({
            let socket = socket.clone();
            async move { socket.closed().await }
        });
        tokio::task::yield_now().await;
        socket.expire_at(Instant::now() + std::time::Duration::from_secs(5));
        assert_eq!(waiting.await.unwrap(), Close::TOKEN_EXPIRED);
    }
}
