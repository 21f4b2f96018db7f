//! One subscription socket as the event side sees it: how many events wait
//! for it, and how to close it.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::watch;

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
}

/// Shared by a socket's connection task and every stream it runs.
pub struct SocketHandle {
    queued: AtomicUsize,
    close: watch::Sender<Option<Close>>,
}

impl SocketHandle {
    pub fn new() -> Self {
        Self {
            queued: AtomicUsize::new(0),
            close: watch::Sender::new(None),
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
            if current.is_none() {
                *current = Some(why);
                true
            } else {
                false
            }
        });
    }

    /// Resolves with the reason once something asked to close the socket.
    pub async fn closed(&self) -> Close {
        let mut rx = self.close.subscribe();
        loop {
            if let Some(why) = *rx.borrow_and_update() {
                return why;
            }
            if rx.changed().await.is_err() {
                // The sender lives in `self`: unreachable while borrowed.
                std::future::pending::<()>().await;
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
        assert_eq!(*socket.close.borrow(), Some(Close::TOO_SLOW));
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
        assert_eq!(*socket.close.borrow(), Some(Close::SESSION_ENDED));
    }
}
