//! An event's item as all its recipients on this instance share it, with
//! what each subscription shape rendered of it: subscriptions that sent the
//! same document with the same variables get the same `next` payload, unless
//! rendering it read who the viewer is (`viewerHasLiked`, `viewerFollows`,
//! …) or failed, and then each renders its own. The socket renders
//! (`http::socket`, `graphql::Live`).

use std::ops::Deref;
use std::sync::{Arc, Mutex};

use futures_util::FutureExt as _;
use futures_util::future::{self, BoxFuture};

/// One render of an event's payload for one subscription.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The `next` payload: a GraphQL response, as JSON.
    pub payload: Arc<str>,
    /// A field read the viewer: the payload is that subscription's own.
    pub per_viewer: bool,
    /// It carries errors, which may be of this render only.
    pub failed: bool,
}

impl Rendered {
    /// Whether another subscription of the shape may send it.
    pub fn shareable(&self) -> bool {
        !self.per_viewer && !self.failed
    }
}

/// A shape's first render of an event: whichever of its waiters is polled
/// drives it, and each gets its result.
pub type Render = future::Shared<BoxFuture<'static, Rendered>>;

pub struct Shared<T> {
    item: T,
    /// By shape id; a few shapes at most listen to one event.
    renders: Mutex<Vec<(u64, Render)>>,
}

impl<T> Shared<T> {
    pub fn new(item: T) -> Self {
        Self {
            item,
            renders: Mutex::default(),
        }
    }

    /// The first render of `shape` for this event: the one under way or
    /// done, or `start`'s, begun now (then `true`: the caller's own).
    pub fn render_of(
        &self,
        shape: u64,
        start: impl FnOnce() -> BoxFuture<'static, Rendered>,
    ) -> (Render, bool) {
        // Nothing panics while holding it; recover rather than fail a delivery.
        let mut renders = self.renders.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, render)) = renders.iter().find(|(id, _)| *id == shape) {
            return (render.clone(), false);
        }
        let render = start().shared();
        renders.push((shape, render.clone()));
        (render, true)
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.item
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.item.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(payload: &str) -> BoxFuture<'static, Rendered> {
        let payload: Arc<str> = payload.into();
        Box::pin(async move {
            Rendered {
                payload,
                per_viewer: false,
                failed: false,
            }
        })
    }

    #[tokio::test]
    async fn one_render_a_shape_started_by_the_first_to_ask() {
        let shared = Shared::new(7);
        let (first, mine) = shared.render_of(1, || rendered("a"));
        assert!(mine);
        let (again, mine) = shared.render_of(1, || rendered("b"));
        assert!(!mine, "the first one's");
        assert_eq!(&*again.await.payload, "a");
        assert_eq!(&*first.await.payload, "a");
        let (other, mine) = shared.render_of(2, || rendered("c"));
        assert!(mine, "another shape renders anew");
        assert_eq!(&*other.await.payload, "c");
        assert_eq!(*shared, 7);
    }
}
