//! This instance's subscription sockets: every open one (to close them all
//! at shutdown), the signed-in ones by session (to close those whose session
//! ends) and a count per account (to bound how many one account holds).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use uuid::Uuid;

use super::socket::{Close, SocketHandle};
use crate::auth::Viewer;

/// The registry, in `AppState`.
#[derive(Default)]
pub struct Sockets {
    registry: Arc<Mutex<Registry>>,
}

#[derive(Default)]
struct Registry {
    next: u64,
    open: HashMap<u64, Open>,
    by_session: HashMap<Uuid, Vec<u64>>,
    per_user: HashMap<Uuid, usize>,
    /// Set at shutdown: a socket opened after it closes at once.
    closing: Option<Close>,
}

struct Open {
    handle: Arc<SocketHandle>,
    viewer: Option<Viewer>,
}

/// The account already holds as many sockets on this instance as allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManySockets;

impl Sockets {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        lock(&self.registry)
    }

    /// Registers a new socket; it stays registered while the answer lives.
    /// After shutdown began, the socket is closed at once (still registered,
    /// so that it is counted until it is gone).
    pub fn open(&self, handle: Arc<SocketHandle>) -> Registration {
        let mut registry = self.lock();
        if let Some(why) = registry.closing {
            handle.close(why);
        }
        registry.next += 1;
        let id = registry.next;
        registry.open.insert(
            id,
            Open {
                handle,
                viewer: None,
            },
        );
        Registration {
            id,
            registry: self.registry.clone(),
        }
    }

    /// Closes every socket of these sessions with 4403 `session ended`;
    /// answers how many.
    pub fn end_sessions(&self, sessions: &[Uuid]) -> usize {
        let registry = self.lock();
        if registry.by_session.is_empty() {
            return 0;
        }
        let mut closed = 0;
        for session in sessions {
            for id in registry.by_session.get(session).into_iter().flatten() {
                if let Some(open) = registry.open.get(id) {
                    open.handle.close(Close::SESSION_ENDED);
                    closed += 1;
                }
            }
        }
        closed
    }

    /// Closes every socket, and every one opened from now on, with `why`.
    pub fn close_all(&self, why: Close) {
        let mut registry = self.lock();
        registry.closing = Some(why);
        for open in registry.open.values() {
            open.handle.close(why);
        }
    }

    /// Sockets open now.
    pub fn open_count(&self) -> usize {
        self.lock().open.len()
    }
}

fn lock(registry: &Mutex<Registry>) -> MutexGuard<'_, Registry> {
    // Nothing panics while holding it; recover rather than poison every socket.
    registry.lock().unwrap_or_else(|e| e.into_inner())
}

/// One socket's place in the registry; dropping it removes the socket.
pub struct Registration {
    id: u64,
    registry: Arc<Mutex<Registry>>,
}

impl Registration {
    /// Records whom the socket serves, unless that account already holds
    /// `max` sockets here.
    pub fn sign_in(&self, viewer: Viewer, max: usize) -> Result<(), TooManySockets> {
        let mut guard = lock(&self.registry);
        let registry = &mut *guard;
        let count = registry.per_user.entry(viewer.user_id).or_default();
        if *count >= max {
            if *count == 0 {
                registry.per_user.remove(&viewer.user_id);
            }
            return Err(TooManySockets);
        }
        *count += 1;
        registry
            .by_session
            .entry(viewer.session_id)
            .or_default()
            .push(self.id);
        if let Some(open) = registry.open.get_mut(&self.id) {
            open.viewer = Some(viewer);
        }
        Ok(())
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut registry = lock(&self.registry);
        let Some(open) = registry.open.remove(&self.id) else {
            return;
        };
        let Some(viewer) = open.viewer else {
            return;
        };
        if let Some(ids) = registry.by_session.get_mut(&viewer.session_id) {
            ids.retain(|id| *id != self.id);
            if ids.is_empty() {
                registry.by_session.remove(&viewer.session_id);
            }
        }
        if let Some(count) = registry.per_user.get_mut(&viewer.user_id) {
            *count -= 1;
            if *count == 0 {
                registry.per_user.remove(&viewer.user_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer(user: Uuid) -> Viewer {
        Viewer {
            user_id: user,
            session_id: Uuid::now_v7(),
            aal: crate::auth::Aal::Aal1,
        }
    }

    #[test]
    fn an_account_holds_at_most_max_sockets_and_a_closed_one_makes_room() {
        let sockets = Sockets::new();
        let user = Uuid::now_v7();
        let first = sockets.open(Arc::new(SocketHandle::new()));
        let second = sockets.open(Arc::new(SocketHandle::new()));
        let third = sockets.open(Arc::new(SocketHandle::new()));
        assert_eq!(first.sign_in(viewer(user), 2), Ok(()));
        assert_eq!(second.sign_in(viewer(user), 2), Ok(()));
        assert_eq!(third.sign_in(viewer(user), 2), Err(TooManySockets));
        assert_eq!(
            third.sign_in(viewer(Uuid::now_v7()), 2),
            Ok(()),
            "another account is not counted with it"
        );
        drop(first);
        let fourth = sockets.open(Arc::new(SocketHandle::new()));
        assert_eq!(fourth.sign_in(viewer(user), 2), Ok(()));
        assert_eq!(sockets.open_count(), 3);
    }

    #[test]
    fn ending_a_session_closes_its_sockets_only() {
        let sockets = Sockets::new();
        let (a, b, anonymous) = (
            Arc::new(SocketHandle::new()),
            Arc::new(SocketHandle::new()),
            Arc::new(SocketHandle::new()),
        );
        let ra = sockets.open(a.clone());
        let rb = sockets.open(b.clone());
        let _ranon = sockets.open(anonymous.clone());
        let va = viewer(Uuid::now_v7());
        ra.sign_in(va, 5).unwrap();
        rb.sign_in(viewer(va.user_id), 5).unwrap();
        assert_eq!(sockets.end_sessions(&[va.session_id, Uuid::now_v7()]), 1);
        assert_eq!(a.closing(), Some(Close::SESSION_ENDED));
        assert_eq!(b.closing(), None, "the account's other session");
        assert_eq!(anonymous.closing(), None);
        drop(ra);
        assert_eq!(
            sockets.end_sessions(&[va.session_id]),
            0,
            "gone with its socket"
        );
    }

    #[test]
    fn shutdown_closes_every_socket_and_each_one_opened_after() {
        let sockets = Sockets::new();
        let before = Arc::new(SocketHandle::new());
        let _r = sockets.open(before.clone());
        sockets.close_all(Close::SHUTDOWN);
        assert_eq!(before.closing(), Some(Close::SHUTDOWN));
        let after = Arc::new(SocketHandle::new());
        let _r2 = sockets.open(after.clone());
        assert_eq!(after.closing(), Some(Close::SHUTDOWN));
    }
}
