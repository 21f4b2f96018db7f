//! The batch loads of one request (async-graphql's DataLoader): every
//! `Post.author` of a page is one statement, every `viewerFollows` another,
//! however many items the page holds. Made per request, so that nothing
//! read is cached past it.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use uuid::Uuid;

use crate::entity::profile;
use crate::error::AppError;
use crate::service;
use crate::state::AppState;

/// Profiles by account id.
pub struct ProfileLoader(AppState);

impl Loader<Uuid> for ProfileLoader {
    type Value = profile::Model;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        Ok(service::profile::by_ids(&self.0, keys)
            .await
            .map_err(Arc::new)?
            .into_iter()
            .map(|p| (p.user_id, p))
            .collect())
    }
}

/// Whether the viewer follows a profile: keyed by (viewer, profile); the
/// value is present exactly when it does.
pub struct FollowsLoader(AppState);

impl Loader<(Uuid, Uuid)> for FollowsLoader {
    type Value = ();
    type Error = Arc<AppError>;

    async fn load(
        &self,
        keys: &[(Uuid, Uuid)],
    ) -> Result<HashMap<(Uuid, Uuid), Self::Value>, Self::Error> {
        // One viewer per request; grouped anyway, so the loader never
        // answers for a viewer it was not asked about.
        let mut by_viewer: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for (viewer, followee) in keys {
            by_viewer.entry(*viewer).or_default().push(*followee);
        }
        let mut found = HashMap::new();
        for (viewer, followees) in by_viewer {
            for followee in service::follow::followed_among(&self.0, viewer, &followees)
                .await
                .map_err(Arc::new)?
            {
                found.insert((viewer, followee), ());
            }
        }
        Ok(found)
    }
}

/// The loaders of one request.
pub struct Loaders {
    pub profiles: DataLoader<ProfileLoader>,
    pub follows: DataLoader<FollowsLoader>,
}

impl Loaders {
    pub fn new(state: &AppState) -> Self {
        Self {
            profiles: DataLoader::new(ProfileLoader(state.clone()), crate::db::spawn_counted),
            follows: DataLoader::new(FollowsLoader(state.clone()), crate::db::spawn_counted),
        }
    }
}
