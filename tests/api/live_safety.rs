//! Blocks, mutes and locked authors in subscriptions: what the feed, the
//! notifications and a post's page would not show never reaches a socket
//! either. "Never" is shown by order: a later event that may reach the
//! subscription arrives, and nothing came before it (each subscription
//! gets its events in the order written).
//!
//! Blocks, mutes and locks are made with their mutations, except where a
//! mutation would take away what the test is about (a block deletes the
//! notifications between the two; a locked post cannot be reposted): then
//! rows are written as a race or an older instance would leave them.

use sea_orm::TransactionTrait as _;
use serde_json::{Value, json};
use sns_api::live::{Event, Listening, event};
use uuid::Uuid;

use crate::common::*;
use crate::live::{
    FEED_ADDED, NOTIFICATION_CHANGED, POST_CHANGED, entry, feeds, refusal, until_listening,
};
use crate::ws::Socket;

impl TestApp {
    /// Writes `events` and hands them to the hub, as a service does after
    /// its commit: for what the mutations no longer write (a repost of a
    /// post locked meanwhile, say), as another instance's relay may
    /// still deliver it.
    async fn published(&self, events: Vec<Event>) {
        let txn = self.db.begin().await.unwrap();
        let batch = event::write(&txn, events).await.unwrap();
        txn.commit().await.unwrap();
        self.state.live().publish(batch);
    }

    /// `mutation(handle:)` (block, unblock, mute, approveFollowRequest),
    /// which must be accepted.
    async fn safety(&self, token: &str, mutation: &str, handle: &str) {
        let body = self
            .gql(
                &format!(
                    "mutation($h: String!) {{ {mutation}(handle: $h) {{ errors {{ code }} }} }}"
                ),
                json!({"h": handle}),
                Some(token),
            )
            .await;
        assert_eq!(body["data"][mutation]["errors"], json!([]), "{body}");
    }

    async fn locked(&self, token: &str) {
        let body = self
            .gql(
                "mutation { updateProfile(input: {locked: true}) { errors { code } } }",
                json!({}),
                Some(token),
            )
            .await;
        assert_eq!(body["data"]["updateProfile"]["errors"], json!([]), "{body}");
    }

    async fn ids_of(&self, tokens: &[String]) -> Vec<Uuid> {
        let mut ids = Vec::new();
        for t in tokens {
            ids.push(self.id_of_token(t).await);
        }
        ids
    }
}

fn posts(n: usize) -> Listening {
    Listening {
        posts: n,
        ..Listening::default()
    }
}

#[tokio::test]
async fn a_muted_accounts_posts_and_reposts_never_reach_the_muters_feed() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let t = app
        .signed_up_all(&["viewer", "amy", "dan", "stranger"])
        .await;
    app.follow(&t[0], "amy").await;
    app.follow(&t[0], "dan").await;
    let strangers = app.posted(&t[3], "by stranger").await;
    app.safety(&t[0], "mute", "dan").await;
    let mut socket = Socket::signed_in(&app, Some(&t[0])).await;
    socket.subscribe("f", FEED_ADDED, json!({})).await;
    until_listening(&app, feeds(1)).await;

    // dan, muted: his post, his repost, and amy's repost of his post.
    let dans = app.posted(&t[2], "by dan").await;
    app.on_post(&t[2], "repost", &strangers).await;
    app.on_post(&t[1], "repost", &dans).await;
    app.posted(&t[1], "by amy").await;
    assert_eq!(
        entry(&socket.data("f").await["feedAdded"]),
        ("by amy", "amy", None),
        "nothing of dan's before amy's post"
    );
    // amy's repost of the stranger's post, which dan reposted too.
    app.on_post(&t[1], "repost", &strangers).await;
    assert_eq!(
        entry(&socket.data("f").await["feedAdded"]),
        ("by stranger", "stranger", Some("amy"))
    );
    app.stop().await;
}

#[tokio::test]
async fn a_repost_of_a_post_by_a_blocked_or_blocking_author_never_reaches_the_feed() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let t = app.signed_up_all(&["viewer", "amy", "eve", "hal"]).await;
    app.follow(&t[0], "amy").await;
    let eves = app.posted(&t[2], "by eve").await;
    let hals = app.posted(&t[3], "by hal").await;
    app.safety(&t[2], "block", "viewer").await;
    app.safety(&t[0], "block", "hal").await;
    let mut socket = Socket::signed_in(&app, Some(&t[0])).await;
    socket.subscribe("f", FEED_ADDED, json!({})).await;
    until_listening(&app, feeds(1)).await;

    app.on_post(&t[1], "repost", &eves).await;
    app.on_post(&t[1], "repost", &hals).await;
    app.posted(&t[1], "by amy").await;
    assert_eq!(
        entry(&socket.data("f").await["feedAdded"]),
        ("by amy", "amy", None),
        "neither repost before amy's post"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_locked_authors_post_reaches_its_followers_feeds_only() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let t = app
        .signed_up_all(&["follower", "other", "amy", "lucy"])
        .await;
    let ids = app.ids_of(&t).await;
    for k in [0, 1] {
        app.follow(&t[k], "amy").await;
    }
    let lucys = app.posted(&t[3], "by lucy").await;
    app.locked(&t[3]).await;
    app.follow(&t[0], "lucy").await; // a request
    app.safety(&t[3], "approveFollowRequest", "follower").await;
    let mut sockets = Vec::new();
    for token in &t[..2] {
        let mut socket = Socket::signed_in(&app, Some(token)).await;
        socket.subscribe("f", FEED_ADDED, json!({})).await;
        sockets.push(socket);
    }
    until_listening(&app, feeds(2)).await;

    // amy's repost of lucy's post, made before lucy locked her profile
    // and delivered after (a locked author's post cannot be reposted).
    let repost = Uuid::now_v7();
    insert_repost(&app, repost, &lucys, ids[2]).await;
    app.published(vec![Event::Reposted {
        post: Uuid::parse_str(&lucys).unwrap(),
        reposter: ids[2],
    }])
    .await;
    app.posted(&t[3], "lucy again").await;
    app.posted(&t[2], "by amy").await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let edge = sockets[0].data("f").await;
        let (body, author, by) = entry(&edge["feedAdded"]);
        seen.push((body.to_owned(), author.to_owned(), by.map(str::to_owned)));
    }
    assert_eq!(
        seen,
        [
            (
                "by lucy".to_owned(),
                "lucy".to_owned(),
                Some("amy".to_owned())
            ),
            ("lucy again".to_owned(), "lucy".to_owned(), None),
            ("by amy".to_owned(), "amy".to_owned(), None),
        ],
        "the follower gets all"
    );
    assert_eq!(
        entry(&sockets[1].data("f").await["feedAdded"]),
        ("by amy", "amy", None),
        "the other gets amy's post, and nothing of lucy's before it"
    );
    app.stop().await;
}

async fn insert_repost(app: &TestApp, id: Uuid, post: &str, by: Uuid) {
    use sea_orm::{ActiveModelTrait as _, Set};
    use sns_api::entity::repost;
    repost::ActiveModel {
        id: Set(id),
        post_id: Set(Uuid::parse_str(post).unwrap()),
        user_id: Set(by),
        created_at: Set(chrono::Utc::now()),
        removed_at: Set(None),
    }
    .insert(&app.db)
    .await
    .unwrap();
}

#[tokio::test]
async fn post_changed_of_a_locked_or_blocking_authors_post_is_not_found_to_those_it_hides_from() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let t = app
        .signed_up_all(&["follower", "other", "lucy", "eve"])
        .await;
    app.follow(&t[0], "lucy").await;
    let lucys = app.posted(&t[2], "by lucy").await;
    let eves = app.posted(&t[3], "by eve").await;
    app.locked(&t[2]).await;
    app.safety(&t[3], "block", "other").await;

    let mut other = Socket::signed_in(&app, Some(&t[1])).await;
    other
        .subscribe("locked", POST_CHANGED, json!({"id": lucys}))
        .await;
    assert_eq!(refusal(&mut other, "locked").await, "NOT_FOUND");
    other
        .subscribe("blocked", POST_CHANGED, json!({"id": eves}))
        .await;
    assert_eq!(refusal(&mut other, "blocked").await, "NOT_FOUND");
    let mut anonymous = Socket::signed_in(&app, None).await;
    anonymous
        .subscribe("locked", POST_CHANGED, json!({"id": lucys}))
        .await;
    assert_eq!(refusal(&mut anonymous, "locked").await, "NOT_FOUND");

    // The follower and the author may.
    let mut follower = Socket::signed_in(&app, Some(&t[0])).await;
    follower
        .subscribe("p", POST_CHANGED, json!({"id": lucys}))
        .await;
    let mut author = Socket::signed_in(&app, Some(&t[2])).await;
    author
        .subscribe("p", POST_CHANGED, json!({"id": lucys}))
        .await;
    until_listening(&app, posts(2)).await;
    app.on_post(&t[0], "like", &lucys).await;
    for socket in [&mut follower, &mut author] {
        assert_eq!(socket.data("p").await["postChanged"]["likeCount"], 1);
    }
    app.stop().await;
}

#[tokio::test]
async fn post_changed_stops_reaching_a_subscriber_once_a_block_stands() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let t = app
        .signed_up_all(&["amy", "viewer", "witness", "xavier", "yann", "zoe"])
        .await;
    let post = app.posted(&t[0], "watched").await;
    let mut viewer = Socket::signed_in(&app, Some(&t[1])).await;
    viewer
        .subscribe("p", POST_CHANGED, json!({"id": post}))
        .await;
    let mut witness = Socket::signed_in(&app, Some(&t[2])).await;
    witness
        .subscribe("p", POST_CHANGED, json!({"id": post}))
        .await;
    until_listening(&app, posts(2)).await;
    let likes = |data: Value| data["postChanged"]["likeCount"].as_i64();

    app.on_post(&t[3], "like", &post).await;
    assert_eq!(likes(viewer.data("p").await), Some(1));
    assert_eq!(likes(witness.data("p").await), Some(1));

    // amy blocks the viewer; the witness sees the second like, so the
    // event was delivered (or not) before the block goes again.
    app.safety(&t[0], "block", "viewer").await;
    app.on_post(&t[4], "like", &post).await;
    assert_eq!(likes(witness.data("p").await), Some(2));
    app.safety(&t[0], "unblock", "viewer").await;
    app.on_post(&t[5], "like", &post).await;
    assert_eq!(
        likes(viewer.data("p").await),
        Some(3),
        "the second like's change never reached the blocked viewer"
    );
    app.stop().await;
}

#[tokio::test]
async fn notifications_from_a_muted_or_blocked_actor_or_about_a_hidden_post_never_reach() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let t = app
        .signed_up_all(&["viewer", "muted", "blocked", "lucy", "nina"])
        .await;
    let ids = app.ids_of(&t).await;
    let first = app.posted(&t[0], "first").await;
    let second = app.posted(&t[0], "second").await;
    let third = app.posted(&t[0], "third").await;
    // The blocked account's like, notified before the block.
    app.on_post(&t[2], "like", &second).await;
    let group = poll_until("the blocked account's like group", || async {
        let body = app
            .gql(
                "{ notifications { edges { node { id } } } }",
                json!({}),
                Some(&t[0]),
            )
            .await;
        body["data"]["notifications"]["edges"][0]["node"]["id"]
            .as_str()
            .and_then(|id| Uuid::parse_str(id).ok())
            .ok_or_else(|| body.to_string())
    })
    .await;
    app.safety(&t[0], "mute", "muted").await;
    // A block row alone: the mutation would delete the group itself.
    app.block_row(ids[0], ids[2]).await;
    app.locked(&t[3]).await;
    let mut socket = Socket::signed_in(&app, Some(&t[0])).await;
    socket.subscribe("n", NOTIFICATION_CHANGED, json!({})).await;
    until_listening(
        &app,
        Listening {
            notifications: 1,
            ..Listening::default()
        },
    )
    .await;

    // The muted account likes; the blocked one's group is written again
    // (as by a like that raced the block); lucy, locked and not followed,
    // replies.
    app.on_post(&t[1], "like", &first).await;
    app.published(vec![
        Event::Notified {
            recipient: ids[0],
            group,
            actor: ids[1],
        },
        Event::Notified {
            recipient: ids[0],
            group,
            actor: ids[2],
        },
    ])
    .await;
    app.reply_posted(&t[3], &first, "a locked reply").await;
    app.on_post(&t[4], "like", &third).await;
    let n = socket.data("n").await["notificationChanged"].clone();
    assert_eq!(
        (n["kind"].as_str(), n["post"]["id"].as_str()),
        (Some("LIKE"), Some(third.as_str())),
        "nina's like first: {n}"
    );
    app.stop().await;
}
