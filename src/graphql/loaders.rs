//! The batch loads of one request (async-graphql's DataLoader): every
//! `Post.author` of a page is one statement, every `viewerFollows`,
//! `replyTo` and `mentions` one more each, however many items the page
//! holds, and `Post.media` and `Profile.avatar`/`banner` one each (a
//! feed page's authors, reposters and follows cost none, nor a
//! thread page's authors and `replyTo`: see `prime_*`). Made per request,
//! so that nothing read is cached past it, and per event of a subscription
//! (`RequestLoaders::renew`).
//!
//! A DataLoader batches the loads that arrive within its delay; a long list
//! is resolved in slices (its futures yield every few dozen items), so on a
//! busy machine a page could be split into several batches. A page that
//! read what its items will ask for in its own statement puts it in the
//! request's cache first (`prime_*`): the feed reads its authors and
//! reposters with its posts, so its page costs that statement alone,
//! whatever its size and however busy the machine (and one more for its
//! images, one for its profiles' pictures, when asked: loaded for the
//! whole page at once, `load_*`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use uuid::Uuid;

use crate::entity::{media, post, profile};
use crate::error::AppError;
use crate::service;
use crate::service::safety::visibility::Relation;
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

/// The keys of a (viewer, other) loader by viewer (the viewer is `None`
/// when anonymous). One viewer per request, but grouped anyway, so that a
/// loader never answers for a viewer it was not asked about.
fn by_viewer<V: Copy + Eq + std::hash::Hash>(keys: &[(V, Uuid)]) -> HashMap<V, Vec<Uuid>> {
    let mut grouped: HashMap<V, Vec<Uuid>> = HashMap::new();
    for (viewer, other) in keys {
        grouped.entry(*viewer).or_default().push(*other);
    }
    grouped
}

/// Whether the viewer follows a profile: keyed by (viewer, profile); every
/// key asked gets an answer (so that `false` is cached too).
pub struct FollowsLoader(AppState);

impl Loader<(Uuid, Uuid)> for FollowsLoader {
    type Value = bool;
    type Error = Arc<AppError>;

    async fn load(
        &self,
        keys: &[(Uuid, Uuid)],
    ) -> Result<HashMap<(Uuid, Uuid), Self::Value>, Self::Error> {
        let mut found: HashMap<(Uuid, Uuid), bool> = keys.iter().map(|k| (*k, false)).collect();
        for (viewer, followees) in by_viewer(keys) {
            for followee in service::follow::followed_among(&self.0, viewer, &followees)
                .await
                .map_err(Arc::new)?
            {
                found.insert((viewer, followee), true);
            }
        }
        Ok(found)
    }
}

/// How the viewer stands with a profile (`viewerBlocks`, `blocksViewer`,
/// `viewerMutes`, `viewerRequestedFollow`): keyed by (viewer, profile);
/// four statements a batch (`visibility::relations`), every key answered.
pub struct RelationLoader(AppState);

impl Loader<(Uuid, Uuid)> for RelationLoader {
    type Value = Relation;
    type Error = Arc<AppError>;

    async fn load(
        &self,
        keys: &[(Uuid, Uuid)],
    ) -> Result<HashMap<(Uuid, Uuid), Self::Value>, Self::Error> {
        let mut found = HashMap::with_capacity(keys.len());
        for (viewer, others) in by_viewer(keys) {
            let relations = service::safety::visibility::relations(self.0.db(), viewer, &others)
                .await
                .map_err(Arc::new)?;
            found.extend(relations.into_iter().map(|(o, r)| ((viewer, o), r)));
        }
        Ok(found)
    }
}

/// What the viewer has done to a post, as `viewerHasLiked` and
/// `viewerHasReposted` ask.
#[derive(Debug, Clone, Copy)]
pub enum Did {
    Like,
    Repost,
}

/// Whether the viewer has liked (or reposted) a post: keyed by (viewer,
/// post); every key asked gets an answer (so that `false` is cached too).
pub struct DidLoader(AppState, Did);

impl Loader<(Uuid, Uuid)> for DidLoader {
    type Value = bool;
    type Error = Arc<AppError>;

    async fn load(
        &self,
        keys: &[(Uuid, Uuid)],
    ) -> Result<HashMap<(Uuid, Uuid), Self::Value>, Self::Error> {
        let mut found: HashMap<(Uuid, Uuid), bool> = keys.iter().map(|k| (*k, false)).collect();
        for (viewer, posts) in by_viewer(keys) {
            let done = match self.1 {
                Did::Like => service::interaction::liked_among(&self.0, viewer, &posts).await,
                Did::Repost => service::interaction::reposted_among(&self.0, viewer, &posts).await,
            }
            .map_err(Arc::new)?;
            for post in done {
                found.insert((viewer, post), true);
            }
        }
        Ok(found)
    }
}

/// A viewer (none: anonymous) and a post: the key of what that viewer
/// may be shown of the post.
type Seen = (Option<Uuid>, Uuid);

/// Posts by (viewer, id) that exist and the viewer may see (a reply's
/// `replyTo`).
pub struct PostLoader(AppState);

impl Loader<Seen> for PostLoader {
    type Value = post::Model;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[Seen]) -> Result<HashMap<Seen, Self::Value>, Self::Error> {
        let mut found = HashMap::new();
        for (viewer, ids) in by_viewer(keys) {
            let posts = service::post::visible_by_ids(&self.0, viewer, &ids)
                .await
                .map_err(Arc::new)?;
            found.extend(posts.into_iter().map(|p| ((viewer, p.id), p)));
        }
        Ok(found)
    }
}

/// The profiles each post mentions that the viewer may see listed, in
/// order of first mention, by (viewer, post id); every key asked gets an
/// answer (an empty list too).
pub struct MentionsLoader(AppState);

impl Loader<Seen> for MentionsLoader {
    type Value = Vec<profile::Model>;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[Seen]) -> Result<HashMap<Seen, Self::Value>, Self::Error> {
        let mut found = HashMap::new();
        for (viewer, posts) in by_viewer(keys) {
            let mentions = service::thread::mentions_of(&self.0, viewer, &posts)
                .await
                .map_err(Arc::new)?;
            found.extend(mentions.into_iter().map(|(post, m)| ((viewer, post), m)));
        }
        Ok(found)
    }
}

/// The images of each post, in order, by post id; every key asked gets an
/// answer (an empty list too). Only posts already shown are asked about.
pub struct PostMediaLoader(AppState);

impl Loader<Uuid> for PostMediaLoader {
    type Value = Vec<media::Model>;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let mut found = service::media::of_posts(&self.0, keys)
            .await
            .map_err(Arc::new)?;
        for key in keys {
            found.entry(*key).or_default();
        }
        Ok(found)
    }
}

/// Media by id (profile pictures).
pub struct MediaLoader(AppState);

impl Loader<Uuid> for MediaLoader {
    type Value = media::Model;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        Ok(service::media::by_ids(&self.0, keys)
            .await
            .map_err(Arc::new)?
            .into_iter()
            .map(|m| (m.id, m))
            .collect())
    }
}

/// Puts the loaders of one request in its data; a schema without state (the
/// one that prints the SDL) runs nothing that loads.
pub(super) fn install(
    request: async_graphql::Request,
    state: Option<&AppState>,
) -> async_graphql::Request {
    match state {
        Some(state) => request.data(RequestLoaders::new(state)),
        None => request,
    }
}

/// The loaders of one request, made on first use (most requests, `me` or
/// a login, never need them). A subscription's request lives as long as
/// its stream: it renews its loaders before each event ([`Self::renew`]),
/// so that nothing read for one event answers for the next. Cheap to clone.
#[derive(Clone)]
pub struct RequestLoaders(Arc<LoaderSlot>);

struct LoaderSlot {
    state: AppState,
    current: std::sync::Mutex<Option<Arc<Loaders>>>,
}

impl RequestLoaders {
    pub fn new(state: &AppState) -> Self {
        Self(Arc::new(LoaderSlot {
            state: state.clone(),
            current: std::sync::Mutex::new(None),
        }))
    }

    /// The current loaders, made now if there are none.
    pub fn get(&self) -> Arc<Loaders> {
        // Nothing panics while holding it; recover rather than fail a field.
        let mut current = self.0.current.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(current.get_or_insert_with(|| Arc::new(Loaders::new(&self.0.state))))
    }

    /// Forgets everything loaded so far: the next `get` makes new loaders
    /// (fields still resolving keep the ones they hold).
    pub fn renew(&self) {
        *self.0.current.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// The loaders of one request, each made on its first use (a
/// subscription's event uses two or three of the nine). What is primed
/// into the profiles and follows before their loader exists waits beside
/// it and goes into its cache when it is made: an event whose selection
/// asks for neither (most of a subscription's) makes no loader at all.
pub struct Loaders {
    state: AppState,
    profiles: OnceLock<DataLoader<ProfileLoader, HashMapCache>>,
    primed_profiles: Mutex<Vec<profile::Model>>,
    follows: OnceLock<DataLoader<FollowsLoader, HashMapCache>>,
    primed_follows: Mutex<Vec<((Uuid, Uuid), bool)>>,
    liked: OnceLock<DataLoader<DidLoader, HashMapCache>>,
    reposted: OnceLock<DataLoader<DidLoader, HashMapCache>>,
    posts: OnceLock<DataLoader<PostLoader, HashMapCache>>,
    mentions: OnceLock<DataLoader<MentionsLoader, HashMapCache>>,
    relations: OnceLock<DataLoader<RelationLoader, HashMapCache>>,
    post_media: OnceLock<DataLoader<PostMediaLoader, HashMapCache>>,
    media: OnceLock<DataLoader<MediaLoader, HashMapCache>>,
}

/// `slot`'s loader, made with `loader` if there is none yet.
fn made<L>(
    slot: &OnceLock<DataLoader<L, HashMapCache>>,
    loader: impl FnOnce() -> L,
) -> &DataLoader<L, HashMapCache> {
    slot.get_or_init(|| {
        DataLoader::with_cache(loader(), crate::db::spawn_counted, HashMapCache::default())
    })
}

impl Loaders {
    pub fn new(state: &AppState) -> Self {
        Self {
            state: state.clone(),
            profiles: OnceLock::new(),
            primed_profiles: Mutex::default(),
            follows: OnceLock::new(),
            primed_follows: Mutex::default(),
            liked: OnceLock::new(),
            reposted: OnceLock::new(),
            posts: OnceLock::new(),
            mentions: OnceLock::new(),
            relations: OnceLock::new(),
            post_media: OnceLock::new(),
            media: OnceLock::new(),
        }
    }

    fn post_media_loader(&self) -> &DataLoader<PostMediaLoader, HashMapCache> {
        made(&self.post_media, || PostMediaLoader(self.state.clone()))
    }

    fn media_loader(&self) -> &DataLoader<MediaLoader, HashMapCache> {
        made(&self.media, || MediaLoader(self.state.clone()))
    }

    /// A post's images in order, from this request's cache or a batch.
    pub async fn post_media(&self, post: Uuid) -> async_graphql::Result<Vec<media::Model>> {
        Ok(self
            .post_media_loader()
            .load_one(post)
            .await
            .map_err(shared)?
            .unwrap_or_default())
    }

    /// Loads the images of all these posts in one batch, into this
    /// request's cache (a page's items then find them there).
    pub async fn load_post_media(&self, posts: Vec<Uuid>) -> async_graphql::Result<()> {
        self.post_media_loader()
            .load_many(posts)
            .await
            .map_err(shared)?;
        Ok(())
    }

    /// The media row with this id (a profile picture), from this request's
    /// cache or a batch.
    pub async fn media(&self, id: Uuid) -> async_graphql::Result<Option<media::Model>> {
        self.media_loader().load_one(id).await.map_err(shared)
    }

    /// Loads all these media rows in one batch, into this request's cache.
    pub async fn load_media(&self, ids: Vec<Uuid>) -> async_graphql::Result<()> {
        self.media_loader().load_many(ids).await.map_err(shared)?;
        Ok(())
    }

    /// The profiles' loader, with what was primed before it was made.
    async fn profiles(&self) -> &DataLoader<ProfileLoader, HashMapCache> {
        let loader = made(&self.profiles, || ProfileLoader(self.state.clone()));
        let primed = take_primed(&self.primed_profiles);
        if !primed.is_empty() {
            loader
                .feed_many(primed.into_iter().map(|p| (p.user_id, p)))
                .await;
        }
        loader
    }

    /// The follows' loader, with what was primed before it was made.
    async fn follows_loader(&self) -> &DataLoader<FollowsLoader, HashMapCache> {
        let loader = made(&self.follows, || FollowsLoader(self.state.clone()));
        let primed = take_primed(&self.primed_follows);
        if !primed.is_empty() {
            loader.feed_many(primed).await;
        }
        loader
    }

    fn did_loader(&self, did: Did) -> &DataLoader<DidLoader, HashMapCache> {
        let slot = match did {
            Did::Like => &self.liked,
            Did::Repost => &self.reposted,
        };
        made(slot, || DidLoader(self.state.clone(), did))
    }

    fn posts(&self) -> &DataLoader<PostLoader, HashMapCache> {
        made(&self.posts, || PostLoader(self.state.clone()))
    }

    fn mentions_loader(&self) -> &DataLoader<MentionsLoader, HashMapCache> {
        made(&self.mentions, || MentionsLoader(self.state.clone()))
    }

    fn relations_loader(&self) -> &DataLoader<RelationLoader, HashMapCache> {
        made(&self.relations, || RelationLoader(self.state.clone()))
    }

    /// How `viewer` stands with `other`, from this request's cache or a batch.
    pub async fn relation(&self, viewer: Uuid, other: Uuid) -> async_graphql::Result<Relation> {
        Ok(self
            .relations_loader()
            .load_one((viewer, other))
            .await
            .map_err(shared)?
            .unwrap_or_default())
    }

    /// Loads how `viewer` stands with each of `others` in one batch, into
    /// this request's cache (a page's items then find it there).
    pub async fn load_relations(
        &self,
        viewer: Uuid,
        others: Vec<Uuid>,
    ) -> async_graphql::Result<()> {
        self.relations_loader()
            .load_many(others.into_iter().map(|o| (viewer, o)))
            .await
            .map_err(shared)?;
        Ok(())
    }

    /// Whether `viewer` has liked (or reposted) `post`, from this request's
    /// cache or a batch.
    pub async fn did(&self, did: Did, viewer: Uuid, post: Uuid) -> async_graphql::Result<bool> {
        Ok(self
            .did_loader(did)
            .load_one((viewer, post))
            .await
            .map_err(shared)?
            .unwrap_or(false))
    }

    /// The profile of an account, from this request's cache or a batch.
    pub async fn profile(&self, id: Uuid) -> async_graphql::Result<Option<profile::Model>> {
        self.profiles().await.load_one(id).await.map_err(shared)
    }

    /// Whether `viewer` follows `followee`, from this request's cache or a batch.
    pub async fn follows(&self, viewer: Uuid, followee: Uuid) -> async_graphql::Result<bool> {
        Ok(self
            .follows_loader()
            .await
            .load_one((viewer, followee))
            .await
            .map_err(shared)?
            .unwrap_or(false))
    }

    /// The post with this id, if it exists and `viewer` may see it, from
    /// this request's cache or a batch.
    pub async fn post(
        &self,
        viewer: Option<Uuid>,
        id: Uuid,
    ) -> async_graphql::Result<Option<post::Model>> {
        self.posts().load_one((viewer, id)).await.map_err(shared)
    }

    /// The profiles a post mentions that `viewer` may see listed, from this
    /// request's cache or a batch.
    pub async fn mentions(
        &self,
        viewer: Option<Uuid>,
        post: Uuid,
    ) -> async_graphql::Result<Vec<profile::Model>> {
        Ok(self
            .mentions_loader()
            .load_one((viewer, post))
            .await
            .map_err(shared)?
            .unwrap_or_default())
    }

    /// Loads the mentions of all these posts for `viewer` in one batch, into
    /// this request's cache (a page's items then find them there).
    pub async fn load_mentions(
        &self,
        viewer: Option<Uuid>,
        posts: Vec<Uuid>,
    ) -> async_graphql::Result<()> {
        self.mentions_loader()
            .load_many(posts.into_iter().map(|p| (viewer, p)))
            .await
            .map_err(shared)?;
        Ok(())
    }

    /// Loads all these posts for `viewer` in one batch, into this request's
    /// cache.
    pub async fn load_posts(
        &self,
        viewer: Option<Uuid>,
        ids: Vec<Uuid>,
    ) -> async_graphql::Result<()> {
        self.posts()
            .load_many(ids.into_iter().map(|id| (viewer, id)))
            .await
            .map_err(shared)?;
        Ok(())
    }

    /// Puts these posts, read by the caller and visible to `viewer`, in
    /// this request's cache.
    pub async fn prime_posts(
        &self,
        viewer: Option<Uuid>,
        posts: impl IntoIterator<Item = post::Model>,
    ) {
        self.posts()
            .feed_many(posts.into_iter().map(|p| ((viewer, p.id), p)))
            .await;
    }

    /// Puts these profiles, read by the caller, in this request's cache.
    pub async fn prime_profiles(&self, profiles: impl IntoIterator<Item = profile::Model>) {
        match self.profiles.get() {
            Some(loader) => {
                loader
                    .feed_many(profiles.into_iter().map(|p| (p.user_id, p)))
                    .await;
            }
            None => lock_primed(&self.primed_profiles).extend(profiles),
        }
    }

    /// Records in this request's cache whether `viewer` follows each of
    /// these profiles (as the caller read it).
    pub async fn prime_follows(
        &self,
        viewer: Uuid,
        profiles: impl IntoIterator<Item = (Uuid, bool)>,
    ) {
        let answers = profiles.into_iter().map(|(p, f)| ((viewer, p), f));
        match self.follows.get() {
            Some(loader) => loader.feed_many(answers).await,
            None => lock_primed(&self.primed_follows).extend(answers),
        }
    }
}

fn lock_primed<T>(primed: &Mutex<Vec<T>>) -> std::sync::MutexGuard<'_, Vec<T>> {
    // Nothing panics while holding it; recover rather than fail a field.
    primed.lock().unwrap_or_else(|e| e.into_inner())
}

fn take_primed<T>(primed: &Mutex<Vec<T>>) -> Vec<T> {
    std::mem::take(&mut *lock_primed(primed))
}

/// A batch's error, shared by every field that waited on it.
fn shared(e: Arc<AppError>) -> async_graphql::Error {
    async_graphql::Error::from(e.as_ref())
}
