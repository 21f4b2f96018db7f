//! An event's item as all its recipients on this instance share it, with
//! what each subscription shape rendered of it: subscriptions that sent the
//! same document with the same variables get the same `next` payload, unless
//! rendering it read who the viewer is (`viewerHasLiked`, `viewerFollows`,
//! …), and then each renders its own. The socket renders (`http::socket`).

use std::ops::Deref;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

/// What one shape made of one event.
#[derive(Debug, Clone)]
pub enum Rendered {
    /// The payload, the same for every subscription of the shape.
    Shared(Arc<str>),
    /// It depends on the viewer: each subscription renders its own.
    PerViewer,
}

pub struct Shared<T> {
    item: T,
    /// By shape id; a few shapes at most listen to one event.
    renders: Mutex<Vec<(u64, Arc<OnceCell<Rendered>>)>>,
}

impl<T> Shared<T> {
    pub fn new(item: T) -> Self {
        Self {
            item,
            renders: Mutex::default(),
        }
    }

    /// The render of shape `shape`, once one subscription made it; the
    /// others wait for it.
    pub fn render_of(&self, shape: u64) -> Arc<OnceCell<Rendered>> {
        // Nothing panics while holding it; recover rather than fail a delivery.
        let mut renders = self.renders.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, cell)) = renders.iter().find(|(id, _)| *id == shape) {
            return cell.clone();
        }
        let cell = Arc::new(OnceCell::new());
        renders.push((shape, cell.clone()));
        cell
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

    #[tokio::test]
    async fn one_cell_a_shape() {
        let shared = Shared::new(7);
        let a = shared.render_of(1);
        a.set(Rendered::Shared("{}".into())).unwrap();
        assert!(matches!(
            shared.render_of(1).get(),
            Some(Rendered::Shared(_))
        ));
        assert!(
            shared.render_of(2).get().is_none(),
            "another shape renders anew"
        );
        assert_eq!(*shared, 7);
    }
}
