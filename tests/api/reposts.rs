//! Reposts in the feed: a repost enters the reposter's followers' feeds at
//! its moment, as an edge naming the reposter; a post shows once, at its
//! newest entry; paging keeps every entry once while others post, repost
//! and unrepost; removals take effect at once. Both feed statements are
//! checked against a model of the rule on the same rows.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, SubsecRound as _, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};
use serde_json::{Value, json};
use sns_api::entity::repost;
use sns_api::service::feed;
use sns_api::service::page::{FeedCursor, FeedRequest, encode_feed, snapshot_of};
use uuid::Uuid;

use crate::common::*;

const FEED: &str = "query($first: Int!, $after: String) { feed(first: $first, after: $after) { \
    edges { cursor repostedBy { handle viewerFollows } node { id body author { handle viewerFollows } } } \
    pageInfo { hasNextPage endCursor } } }";

/// One feed edge: the post's body and the reposter's handle.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    id: String,
    body: String,
    by: Option<String>,
}

fn entry(body: &str, by: Option<&str>) -> (String, Option<String>) {
    (body.to_owned(), by.map(str::to_owned))
}

impl TestApp {
    /// The account id behind a token.
    pub(crate) async fn id_of_token(&self, token: &str) -> Uuid {
        let me = self.gql("{ me { id } }", json!({}), Some(token)).await;
        Uuid::parse_str(me["data"]["me"]["id"].as_str().expect("me")).expect("a uuid")
    }

    /// `token` reposts (`repost`) or undoes its repost (`unrepost`) of
    /// `post`; the mutation must be accepted.
    async fn repost_as(&self, token: &str, mutation: &str, post: &str) {
        let body = self
            .gql(
                &format!(
                    "mutation($p: ID!) {{ {mutation}(postId: $p) {{ post {{ id }} errors {{ code }} }} }}"
                ),
                json!({"p": post}),
                Some(token),
            )
            .await;
        assert_eq!(body["data"][mutation]["errors"], json!([]), "{body}");
    }

    async fn reposted(&self, token: &str, post: &str) {
        self.repost_as(token, "repost", post).await;
    }

    async fn unreposted(&self, token: &str, post: &str) {
        self.repost_as(token, "unrepost", post).await;
    }

    /// One feed page: its entries, and the cursor after it when more follow.
    async fn feed_page(
        &self,
        token: &str,
        first: i64,
        after: Option<&str>,
    ) -> (Vec<Entry>, Option<String>, Value) {
        let body = self
            .gql(FEED, json!({"first": first, "after": after}), Some(token))
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        let feed = &body["data"]["feed"];
        let entries = feed["edges"]
            .as_array()
            .unwrap_or_else(|| panic!("{body}"))
            .iter()
            .map(|e| Entry {
                id: e["node"]["id"].as_str().unwrap().to_owned(),
                body: e["node"]["body"].as_str().unwrap().to_owned(),
                by: e["repostedBy"]["handle"].as_str().map(str::to_owned),
            })
            .collect();
        let next = (feed["pageInfo"]["hasNextPage"] == true)
            .then(|| feed["pageInfo"]["endCursor"].as_str().unwrap().to_owned());
        (entries, next, body)
    }

    /// The whole feed in one page, as (body, reposter) pairs.
    async fn feed_now(&self, token: &str) -> Vec<(String, Option<String>)> {
        let (entries, next, _) = self.feed_page(token, 50, None).await;
        assert!(next.is_none(), "a feed of at most 50 here");
        entries.into_iter().map(|e| (e.body, e.by)).collect()
    }
}

/// Now, to the second, as the service stores instants.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

#[tokio::test]
async fn a_repost_enters_at_its_moment_naming_the_reposter_and_a_post_shows_once() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let t = app
        .signed_up_all(&["viewer", "amy", "ben", "stranger"])
        .await;
    let (viewer, amy, ben, stranger) = (&t[0], &t[1], &t[2], &t[3]);
    app.follow(viewer, "amy").await;
    app.follow(viewer, "ben").await;
    let old = app.posted(stranger, "old by stranger").await;
    let a1 = app.posted(amy, "a1").await;
    app.posted(ben, "b1").await;
    assert_eq!(
        app.feed_now(viewer).await,
        [entry("b1", None), entry("a1", None)],
        "a stranger's post is not in the feed"
    );

    // Amy reposts the stranger's old post: at the top, as Amy's.
    app.reposted(amy, &old).await;
    assert_eq!(
        app.feed_now(viewer).await,
        [
            entry("old by stranger", Some("amy")),
            entry("b1", None),
            entry("a1", None)
        ]
    );
    // The author is not followed; the reposter is.
    let (_, _, body) = app.feed_page(viewer, 1, None).await;
    let edge = &body["data"]["feed"]["edges"][0];
    assert_eq!(edge["node"]["author"]["handle"], "stranger", "{body}");
    assert_eq!(edge["node"]["author"]["viewerFollows"], false, "{body}");
    assert_eq!(edge["repostedBy"]["viewerFollows"], true, "{body}");

    // A newer post goes above it; Ben reposting it too moves it up, once,
    // as Ben's.
    app.posted(amy, "a2").await;
    app.reposted(ben, &old).await;
    assert_eq!(
        app.feed_now(viewer).await,
        [
            entry("old by stranger", Some("ben")),
            entry("a2", None),
            entry("b1", None),
            entry("a1", None)
        ]
    );
    // A followed author's post reposted by another followee: once, at the
    // repost, no longer at its own place.
    app.reposted(ben, &a1).await;
    assert_eq!(
        app.feed_now(viewer).await,
        [
            entry("a1", Some("ben")),
            entry("old by stranger", Some("ben")),
            entry("a2", None),
            entry("b1", None),
        ]
    );
    // Undone: back at Amy's repost, then at its own place.
    app.unreposted(ben, &old).await;
    app.unreposted(ben, &a1).await;
    assert_eq!(
        app.feed_now(viewer).await,
        [
            entry("a2", None),
            entry("old by stranger", Some("amy")),
            entry("b1", None),
            entry("a1", None),
        ]
    );
    app.unreposted(amy, &old).await;
    assert_eq!(
        app.feed_now(viewer).await,
        [entry("a2", None), entry("b1", None), entry("a1", None)]
    );
    // The stranger's own feed never names a reposter of its own post.
    assert_eq!(
        app.feed_now(stranger).await,
        [entry("old by stranger", None)]
    );
    app.stop().await;
}

#[tokio::test]
async fn ones_own_reposts_show_at_once_and_go_at_once() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let t = app.signed_up_all(&["viewer", "stranger", "fan"]).await;
    let (viewer, stranger, fan) = (&t[0], &t[1], &t[2]);
    app.follow(fan, "viewer").await;
    let theirs = app.posted(stranger, "theirs").await;
    let mine = app.posted(viewer, "mine").await;
    app.reposted(viewer, &theirs).await;
    for token in [viewer, fan] {
        assert_eq!(
            app.feed_now(token).await,
            [entry("theirs", Some("viewer")), entry("mine", None)]
        );
    }
    // Reposting one's own post moves it up.
    app.reposted(viewer, &mine).await;
    assert_eq!(
        app.feed_now(viewer).await,
        [
            entry("mine", Some("viewer")),
            entry("theirs", Some("viewer"))
        ]
    );
    app.unreposted(viewer, &theirs).await;
    app.unreposted(viewer, &mine).await;
    for token in [viewer, fan] {
        assert_eq!(app.feed_now(token).await, [entry("mine", None)]);
    }
    // Reposted again: a new entry, at its new moment.
    app.posted(viewer, "later").await;
    app.reposted(viewer, &theirs).await;
    assert_eq!(
        app.feed_now(fan).await,
        [
            entry("theirs", Some("viewer")),
            entry("later", None),
            entry("mine", None)
        ]
    );
    // Unfollowing the reposter takes its reposts away at once.
    app.unfollow(fan, "viewer").await;
    assert!(app.feed_now(fan).await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn deleting_a_reposted_post_removes_its_entries_and_posts_edges_name_no_reposter() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let t = app.signed_up_all(&["viewer", "amy", "stranger"]).await;
    let (viewer, amy, stranger) = (&t[0], &t[1], &t[2]);
    app.follow(viewer, "amy").await;
    let doomed = app.posted(stranger, "doomed").await;
    app.posted(amy, "stays").await;
    app.reposted(amy, &doomed).await;
    app.reposted(viewer, &doomed).await;
    assert_eq!(
        app.feed_now(viewer).await,
        [entry("doomed", Some("viewer")), entry("stays", None)]
    );
    // Profile.posts holds a profile's own posts, never its reposts, and its
    // edges name no reposter.
    let body = app
        .gql(
            "{ profile(handle: \"amy\") { posts { edges { repostedBy { handle } node { body } } } } }",
            json!({}),
            Some(viewer),
        )
        .await;
    assert_eq!(
        body["data"]["profile"]["posts"]["edges"],
        json!([{ "repostedBy": null, "node": { "body": "stays" } }]),
        "{body}"
    );
    let body = app
        .gql(
            "mutation($id: ID!) { deletePost(id: $id) { deleted } }",
            json!({"id": doomed}),
            Some(stranger),
        )
        .await;
    assert_eq!(body["data"]["deletePost"]["deleted"], true, "{body}");
    assert_eq!(app.feed_now(viewer).await, [entry("stays", None)]);
    app.stop().await;
}

#[tokio::test]
async fn feed_cursors_are_the_feeds_own() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let viewer = app.signed_up_as("viewer").await;
    app.posted(&viewer, "one").await;
    app.posted(&viewer, "two").await;
    let (_, feed_cursor, _) = app.feed_page(&viewer, 1, None).await;
    let feed_cursor = feed_cursor.expect("a next page");
    let body = app
        .gql(
            "query($a: String) { profile(handle: \"viewer\") { posts(first: 1, after: $a) { edges { cursor } } } }",
            json!({"a": feed_cursor}),
            Some(&viewer),
        )
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    let posts_cursor = body_cursor(
        &app.gql(
            "{ profile(handle: \"viewer\") { posts(first: 1) { edges { cursor } } } }",
            json!({}),
            Some(&viewer),
        )
        .await,
    );
    // Another list's, cut short, or with a snapshot before its entry.
    let tampered = encode_feed(FeedCursor {
        key: Uuid::now_v7(),
        snapshot: snapshot_of(1),
    });
    for after in [posts_cursor, feed_cursor[..43].to_owned(), tampered] {
        let body = app
            .gql(FEED, json!({"first": 1, "after": after}), Some(&viewer))
            .await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{after}: {body}");
    }
    app.stop().await;
}

fn body_cursor(body: &Value) -> String {
    body["data"]["profile"]["posts"]["edges"][0]["cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned()
}

/// Pages of 3 while, between every two pages, followees post, repost old
/// and new posts (above and below the cursor), and undo reposts: no post
/// twice, and every post of the feed as it was at the first page comes,
/// unless the repost it was there by was undone.
#[tokio::test]
async fn paging_shows_no_post_twice_and_skips_none_while_others_repost() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let handles = ["viewer", "amy", "ben", "cat", "stranger"];
    let t = app.signed_up_all(&handles).await;
    for h in ["amy", "ben", "cat"] {
        app.follow(&t[0], h).await;
    }
    let mut posts = Vec::new(); // (id, body), oldest first
    for i in 0..24 {
        let k = [1, 2, 3, 4, 0, 1][i % 6];
        let body = format!("{} {i:02}", handles[k]);
        posts.push((app.posted(&t[k], &body).await, body));
    }
    // Reposts before the first page: some of followees' posts, some of the
    // stranger's, one post reposted by two.
    for (who, i) in [(1, 3), (2, 3), (3, 0), (2, 9), (1, 14), (3, 6), (0, 10)] {
        app.reposted(&t[who], &posts[i].0).await;
    }
    let before = app.feed_page(&t[0], 50, None).await.0;
    let (mut seen, mut after) = (Vec::new(), None);
    let mut undone = BTreeSet::new();
    let mut round = 0;
    loop {
        let (entries, next, _) = app.feed_page(&t[0], 3, after.as_deref()).await;
        seen.extend(entries.iter().map(|e| e.id.clone()));
        let Some(next) = next else { break };
        after = Some(next);
        // Between pages: a new post, a repost of an old post still below
        // the cursor and of one already shown, an undone repost.
        round += 1;
        app.posted(&t[1 + round % 3], &format!("new {round}")).await;
        app.reposted(&t[1 + (round + 1) % 3], &posts[round].0).await;
        app.reposted(&t[1 + (round + 2) % 3], &seen[0]).await;
        if let Some(e) = before.iter().find(|e| {
            e.by.is_some() && !undone.contains(&e.id) && e.by.as_deref() != Some("viewer")
        }) {
            let who = handles.iter().position(|h| Some(*h) == e.by.as_deref());
            app.unreposted(&t[who.unwrap()], &e.id).await;
            undone.insert(e.id.clone());
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "a post twice: {seen:?}");
    for e in &before {
        if !undone.contains(&e.id) {
            assert!(seen.contains(&e.id), "{e:?} skipped: {seen:?}");
        }
    }
    app.stop().await;
}

/// The rule, on the rows: every feed statement, at every page size and
/// from every cursor, answers the model's page (the window statement a
/// page or a short answer of the model's entries, in order), with undone
/// reposts and reposts made after the snapshot among the rows, and with
/// the viewer's blocks, mutes and locked authors: a muted followee's posts
/// and reposts are not in it, nor a repost of a post whose author the
/// viewer may not see or mutes, and an entry not shown hides none.
#[tokio::test]
async fn each_feed_statement_answers_the_models_page() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    // dan: followed and muted; eve blocks the viewer; fay: locked, not
    // followed; gus: locked, followed; the viewer blocks hal.
    let handles = [
        "viewer", "amy", "ben", "cat", "stranger", "dan", "eve", "fay", "gus", "hal",
    ];
    let t = app.signed_up_all(&handles).await;
    for h in ["amy", "ben", "cat", "dan", "gus"] {
        app.follow(&t[0], h).await;
    }
    let mut ids = Vec::new();
    for token in &t {
        ids.push(app.id_of_token(token).await);
    }
    let mut posts: Vec<(Uuid, Uuid)> = Vec::new(); // (id, author)
    for i in 0..40 {
        let k = (i * 7 + i / 4) % handles.len();
        let id = app.posted(&t[k], &format!("p{i:02}")).await;
        posts.push((Uuid::parse_str(&id).unwrap(), ids[k]));
    }
    app.mute_row(ids[0], ids[5]).await;
    app.block_row(ids[6], ids[0]).await;
    app.lock_row(ids[7], true).await;
    app.lock_row(ids[8], true).await;
    app.block_row(ids[0], ids[9]).await;
    // Whose entries the feed holds, and whose posts the viewer may see
    // and does not mute.
    let authors: BTreeSet<Uuid> = [0, 1, 2, 3, 8].map(|k| ids[k]).into();
    let seen_authors: BTreeSet<Uuid> = [0, 1, 2, 3, 4, 8].map(|k| ids[k]).into();
    let author_of: BTreeMap<Uuid, Uuid> = posts.iter().copied().collect();
    // Reposts: (post, reposter), in the order of their ids; every fifth
    // made after the snapshot, and some undone before it or at it. Posts
    // by author: stranger 2 13 24 31, amy 3 14 25 36, ben 10 21 32 39, dan
    // 9 20 27 38, eve 5 16 23 34, fay 1 12 19 30, gus 8 15 26 37, hal 4 11
    // 22 33, the viewer's 0 7 18 29.
    let plan = [
        (2, 1),
        (2, 2),
        (5, 3),
        (9, 0),
        (11, 4),
        (14, 1),
        (14, 3),
        (20, 2),
        (38, 0),
        (25, 4),
        (27, 3),
        (8, 1),
        (1, 3),
        (4, 3),
        (12, 8),
        (24, 5),
        (26, 0),
        (13, 2),
        (37, 2),
        (31, 5),
        (13, 5),
        (30, 0),
        (24, 1),
        (1, 2),
        (4, 0),
        (33, 3),
        (36, 5),
        (36, 1),
        (37, 5),
        (22, 0),
        (33, 2),
        (38, 1),
        (22, 3),
    ];
    let early: Vec<Uuid> = plan.iter().map(|_| Uuid::now_v7()).collect();
    let snapshot = snapshot_of(uuid_ms(Uuid::now_v7()));
    let at = |ms: i64| {
        DateTime::from_timestamp_millis(i64::try_from(uuid_ms(snapshot)).unwrap() + ms)
            .unwrap()
            .trunc_subsecs(0)
    };
    let mut reposts = Vec::new();
    for (n, (i, who)) in plan.into_iter().enumerate() {
        let removed = match n % 3 {
            0 if n > 0 => Some(at(-5_000)),
            1 if n > 1 => Some(at(0)),
            _ => None,
        };
        let id = if n % 5 == 4 {
            snapshot_ms_uuid(uuid_ms(snapshot) + 10 + n as u64)
        } else {
            early[n]
        };
        repost::ActiveModel {
            id: Set(id),
            post_id: Set(posts[i].0),
            user_id: Set(ids[who]),
            created_at: Set(now()),
            removed_at: Set(removed),
        }
        .insert(&app.db)
        .await
        .unwrap();
        reposts.push((id, posts[i].0, ids[who], removed));
    }
    let removed_since = at(0);
    // The model: every shown entry below `cursor`, newest first. A repost
    // hides its post's older entries when it is at or before the snapshot
    // and live, or undone since the snapshot and at or above the cursor
    // (it was on an earlier page).
    // A repost is an entry of the feed when its reposter is one of the
    // authors and the viewer sees its post's author.
    let a_repost_entry =
        |post: &Uuid, who: &Uuid| authors.contains(who) && seen_authors.contains(&author_of[post]);
    let model_below = |cursor: Uuid| -> Vec<(Uuid, Uuid, Option<Uuid>)> {
        let hides = |r: &(Uuid, Uuid, Uuid, Option<DateTime<Utc>>)| {
            r.0 <= snapshot
                && a_repost_entry(&r.1, &r.2)
                && r.3.is_none_or(|t| t >= removed_since && r.0 >= cursor)
        };
        let mut entries: BTreeMap<Uuid, (Uuid, Option<Uuid>)> = BTreeMap::new();
        for (id, author) in &posts {
            if authors.contains(author) && *id < cursor {
                entries.insert(*id, (*id, None));
            }
        }
        for (id, post, who, removed) in &reposts {
            if removed.is_none() && a_repost_entry(post, who) && *id < snapshot && *id < cursor {
                entries.insert(*id, (*post, Some(*who)));
            }
        }
        entries
            .iter()
            .rev()
            .filter(|(key, (post, _))| {
                !reposts
                    .iter()
                    .any(|r| r.1 == *post && r.0 > **key && hides(r))
            })
            .map(|(key, (post, by))| (*key, *post, *by))
            .collect()
    };
    let model = model_below(snapshot);
    assert!(model.iter().any(|e| e.2.is_some()), "reposts in the model");
    // The cases the rows are there for: a locked followee's post reposted,
    // and an older repost that a muted followee's newer one does not hide.
    assert!(
        model
            .iter()
            .any(|e| e.2 == Some(ids[1]) && e.1 == posts[8].0)
    );
    assert!(
        model
            .iter()
            .any(|e| e.2 == Some(ids[2]) && e.1 == posts[13].0)
    );
    assert!(model.contains(&(posts[36].0, posts[36].0, None)));

    let backend = app.db.get_database_backend();
    let listed = if backend == sea_orm::DbBackend::Sqlite {
        crate::feed::listed_newest(&app.db, ids[0]).await
    } else {
        Vec::new()
    };
    for first in [1, 2, 3, 5, 8, 40] {
        // From every cursor, not only those of pages of `first`: an undone
        // repost hides by where the cursor is.
        for start in 0..model.len() {
            let req = FeedRequest {
                first: first as u64,
                after: start.checked_sub(1).map(|k| FeedCursor {
                    key: model[k].0,
                    snapshot,
                }),
            };
            if req.after.is_none() {
                continue; // a first page's snapshot is now: below
            }
            let below = model_below(model[start - 1].0);
            let page = &below[..below.len().min(first + 1)];
            if backend == sea_orm::DbBackend::Sqlite && page.len() == first + 1 {
                // From a floor the keys bound (at most the page's lowest
                // entry), over the sources with an entry at or above it.
                let floor = page[first].0;
                let authors: Vec<Uuid> = listed
                    .iter()
                    .filter(|(_, key)| *key >= floor)
                    .map(|(id, _)| *id)
                    .collect();
                let bounded = feed::bounded_statement(ids[0], req, snapshot, floor, &authors);
                assert_eq!(
                    entry_rows(&app.db, bounded).await,
                    page,
                    "bounded, pages of {first} from {start}"
                );
            }
            for window in [feed::RECENT_WINDOW, 4] {
                let statements =
                    feed::feed_statements_in_window(backend, ids[0], req, snapshot, window);
                if backend == sea_orm::DbBackend::Sqlite {
                    // The window statement over the authors with their
                    // newest entries, as the server runs it (its rows
                    // checked as the first statement's).
                    let over_listed =
                        feed::listed_window_statement(ids[0], req, snapshot, window, &listed);
                    let window_rows = entry_rows(&app.db, statements[0].clone()).await;
                    assert_eq!(
                        entry_rows(&app.db, over_listed).await,
                        window_rows,
                        "listed authors, window {window}, pages of {first} from {start}"
                    );
                }
                for (k, statement) in statements.into_iter().enumerate() {
                    let rows = entry_rows(&app.db, statement).await;
                    let at =
                        format!("statement {k}, window {window}, pages of {first} from {start}");
                    if k == 0 && rows.len() < page.len() {
                        let rest = &below[..];
                        let mut it = rest.iter();
                        assert!(rows.iter().all(|r| it.any(|m| m == r)), "{at}: {rows:?}");
                    } else {
                        assert_eq!(rows, page, "{at}");
                    }
                }
            }
        }
    }
    // A first page: no undone repost hides anything (its snapshot, now,
    // after the reposts made "after the snapshot" above).
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let first_page = feed::feed_statements(
        backend,
        ids[0],
        FeedRequest {
            first: 100,
            after: None,
        },
        FeedCursor::snapshot_now(),
    );
    let live_model: Vec<Uuid> = {
        let mut all: BTreeMap<Uuid, Uuid> = BTreeMap::new();
        for (id, author) in &posts {
            if authors.contains(author) {
                all.insert(*id, *id);
            }
        }
        for (id, post, who, removed) in &reposts {
            if removed.is_none() && a_repost_entry(post, who) {
                all.insert(*id, *post);
            }
        }
        let mut shown = BTreeSet::new();
        all.iter()
            .rev()
            .filter(|(_, post)| shown.insert(**post))
            .map(|(key, _)| *key)
            .collect()
    };
    for statement in first_page {
        let rows = entry_rows(&app.db, statement).await;
        let keys: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
        assert_eq!(keys, live_model);
    }
    app.stop().await;
}

/// The millisecond of a UUIDv7.
fn uuid_ms(id: Uuid) -> u64 {
    let (secs, nanos) = id.get_timestamp().unwrap().to_unix();
    secs * 1000 + u64::from(nanos) / 1_000_000
}

/// A UUIDv7 of the millisecond `ms`.
fn snapshot_ms_uuid(ms: u64) -> Uuid {
    uuid::Builder::from_unix_timestamp_millis(ms, &rand_bytes()).into_uuid()
}

fn rand_bytes() -> [u8; 10] {
    *Uuid::new_v4().as_bytes().first_chunk().unwrap()
}

/// (entry key, post, reposter) of each row a feed statement answers.
async fn entry_rows(
    conn: &sea_orm::DatabaseConnection,
    statement: sea_orm::Statement,
) -> Vec<(Uuid, Uuid, Option<Uuid>)> {
    conn.query_all_raw(statement)
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.try_get("", "entry_id").unwrap(),
                r.try_get("", "id").unwrap(),
                r.try_get("", "reposter_user_id").unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn housekeeping_deletes_reposts_undone_longer_ago_than_feeds_keep_them() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let t = app.signed_up_all(&["viewer", "amy", "ben"]).await;
    let post = app.posted(&t[0], "reposted").await;
    let post_id = Uuid::parse_str(&post).unwrap();
    let kept = chrono::TimeDelta::from_std(feed::UNDONE_REPOST_KEPT).unwrap();
    for (k, removed) in [
        (1, Some(now() - kept - chrono::TimeDelta::seconds(5))),
        (2, Some(now() - kept + chrono::TimeDelta::seconds(60))),
    ] {
        repost::ActiveModel {
            id: Set(Uuid::now_v7()),
            post_id: Set(post_id),
            user_id: Set(app.id_of_token(&t[k]).await),
            created_at: Set(now()),
            removed_at: Set(removed),
        }
        .insert(&app.db)
        .await
        .unwrap();
    }
    app.reposted(&t[0], &post).await;
    assert_eq!(feed::purge_undone_reposts(&app.state).await.unwrap(), 1);
    assert_eq!(feed::purge_undone_reposts(&app.state).await.unwrap(), 0);
    let left: Vec<Uuid> = repost::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.user_id)
        .collect();
    let mut want = vec![app.id_of_token(&t[2]).await, app.id_of_token(&t[0]).await];
    want.sort();
    let mut left = left;
    left.sort();
    assert_eq!(left, want, "the recent undone one and the live one stay");
    app.stop().await;
}

/// SQLite's window statement over listed authors is the feed of those
/// authors alone: a reposter left out (its key read just before its
/// repost) neither shows its repost nor hides the post's older entry.
#[tokio::test]
async fn a_reposter_left_out_of_the_listed_authors_hides_nothing() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let tokens = app
        .signed_up_all(&["lviewer", "lauthor", "lreposter"])
        .await;
    let (viewer, author, reposter) = (&tokens[0], &tokens[1], &tokens[2]);
    app.follow(viewer, "lauthor").await;
    app.follow(viewer, "lreposter").await;
    let post = app.posted(author, "reposted once").await;
    app.reposted(reposter, &post).await;
    let post = Uuid::parse_str(&post).unwrap();
    let ids = [
        app.id_of_token(viewer).await,
        app.id_of_token(author).await,
        app.id_of_token(reposter).await,
    ];
    // A snapshot after the repost: it is in the paged feed.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let snapshot = FeedCursor::snapshot_now();
    let req = FeedRequest {
        first: 10,
        after: None,
    };
    let backend = app.db.get_database_backend();
    let plain = feed::feed_statements(backend, ids[0], req, snapshot).remove(0);
    let rows = entry_rows(&app.db, plain).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0].1, rows[0].2),
        (post, Some(ids[2])),
        "the repost only"
    );
    if backend == sea_orm::DbBackend::Sqlite {
        let listed = crate::feed::listed_newest(&app.db, ids[0]).await;
        let over_listed = feed::listed_window_statement(ids[0], req, snapshot, 10, &listed);
        assert_eq!(entry_rows(&app.db, over_listed).await, rows);
        // The reposter's key from before its repost: below the window's
        // floor (a window of one post, the post itself).
        let stale: Vec<(Uuid, Uuid)> = listed
            .iter()
            .map(|&(id, key)| (id, if id == ids[2] { Uuid::nil() } else { key }))
            .collect();
        let over_stale = feed::listed_window_statement(ids[0], req, snapshot, 1, &stale);
        let rows = entry_rows(&app.db, over_stale).await;
        assert_eq!(rows, [(post, post, None)], "the post at its own entry");
    }
    app.stop().await;
}

/// A first read over the cache's keys sees a write made since another
/// viewer's read kept them: a repost by an account whose newest entry was
/// below the window's floor then.
#[tokio::test]
async fn a_first_read_sees_a_repost_made_after_the_keys_were_kept() {
    let db = TestDb::fresh().await;
    let mut config = config_for(&db);
    config.feed.window = 5;
    let app = TestApp::spawn_with(config).await;
    let tokens = app
        .signed_up_all(&["kviewer", "kwatcher", "kquiet", "knoisy"])
        .await;
    let (viewer, watcher, quiet, noisy) = (&tokens[0], &tokens[1], &tokens[2], &tokens[3]);
    for who in [viewer, watcher] {
        app.follow(who, "kquiet").await;
        app.follow(who, "knoisy").await;
    }
    app.posted(quiet, "quiet, long ago").await;
    let mut noisy_posts = Vec::new();
    for i in 0..8 {
        noisy_posts.push(app.posted(noisy, &format!("noisy {i}")).await);
    }
    // The watcher's first read keeps both accounts' newest entry keys:
    // the quiet one's is below the window's floor.
    let (page, _, _) = app.feed_page(watcher, 3, None).await;
    assert_eq!(page[0].body, "noisy 7");
    let read_over_keys = app.state.feed_cache().listed_reads();
    let quiet_id = app.id_of_token(quiet).await;
    let sqlite = app.db.get_database_backend() == sea_orm::DbBackend::Sqlite;
    if sqlite {
        let (known, _) = app.state.feed_cache().newest_entries(&[quiet_id]);
        assert_eq!(known.len(), 1, "the quiet account's key is kept");
    }
    app.reposted(quiet, &noisy_posts[0]).await;
    if sqlite {
        let (_, unknown) = app.state.feed_cache().newest_entries(&[quiet_id]);
        assert_eq!(unknown, [quiet_id], "its repost retired it");
    }
    let (page, _, _) = app.feed_page(viewer, 3, None).await;
    assert_eq!(
        (page[0].body.as_str(), page[0].by.as_deref()),
        ("noisy 0", Some("kquiet")),
        "{page:?}"
    );
    if sqlite {
        assert!(app.state.feed_cache().listed_reads() > read_over_keys);
    }
    app.stop().await;
}
