//! Subscriptions over the socket: the events they carry (`feedAdded`,
//! `notificationChanged`, `postChanged`), on one instance and across
//! instances sharing the database.

use std::time::Duration;

use sea_orm::ConnectionTrait as _;
use serde_json::{Value, json};
use sns_api::live::Listening;

use crate::common::*;
use crate::ws::{Frame, Socket};

pub(crate) const FEED_ADDED: &str = "subscription { feedAdded { cursor repostedBy { handle viewerFollows } \
    node { id body author { handle viewerFollows } } } }";
pub(crate) const NOTIFICATION_CHANGED: &str = "subscription { notificationChanged { id kind actorCount read \
    actors(first: 5) { handle } post { id } } }";
pub(crate) const POST_CHANGED: &str = "subscription($id: ID!) { postChanged(id: $id) { id likeCount \
    repostCount replyCount viewerHasLiked viewerHasReposted author { handle } } }";
const FEED: &str = "query($after: String) { feed(first: 20, after: $after) { edges { cursor \
    repostedBy { handle } node { body } } } }";

/// Waits until `app` holds at least `want` subscriptions of each field:
/// events written before a subscription is in place do not reach it.
pub(crate) async fn until_listening(app: &TestApp, want: Listening) {
    poll_until("the subscriptions to be in place", || async {
        let now = app.state.live().listening();
        if now.feed >= want.feed
            && now.notifications >= want.notifications
            && now.posts >= want.posts
        {
            Ok(())
        } else {
            Err(format!("{now:?}"))
        }
    })
    .await;
}

pub(crate) fn feeds(n: usize) -> Listening {
    Listening {
        feed: n,
        ..Listening::default()
    }
}

impl TestApp {
    /// `token` runs `mutation(postId:)`, which must be accepted.
    pub(crate) async fn on_post(&self, token: &str, mutation: &str, post: &str) {
        let body = self
            .gql(
                &format!("mutation($p: ID!) {{ {mutation}(postId: $p) {{ errors {{ code }} }} }}"),
                json!({"p": post}),
                Some(token),
            )
            .await;
        assert_eq!(body["data"][mutation]["errors"], json!([]), "{body}");
    }

    pub(crate) async fn reply_posted(&self, token: &str, parent: &str, text: &str) -> String {
        let body = self
            .gql(
                "mutation($i: CreatePostInput!) { createPost(input: $i) { post { id } errors { code } } }",
                json!({"i": {"body": text, "replyTo": parent}}),
                Some(token),
            )
            .await;
        assert_eq!(body["data"]["createPost"]["errors"], json!([]), "{body}");
        body["data"]["createPost"]["post"]["id"]
            .as_str()
            .expect("a post id")
            .to_owned()
    }

    async fn deleted(&self, token: &str, post: &str) {
        let body = self
            .gql(
                "mutation($id: ID!) { deletePost(id: $id) { deleted errors { code } } }",
                json!({"id": post}),
                Some(token),
            )
            .await;
        assert_eq!(body["data"]["deletePost"]["deleted"], true, "{body}");
    }

    /// The bodies (with the reposter, if any) of `token`'s feed below `after`.
    async fn feed_below(&self, token: &str, after: &str) -> Vec<(String, Option<String>)> {
        let body = self.gql(FEED, json!({"after": after}), Some(token)).await;
        assert!(body.get("errors").is_none(), "{body}");
        body["data"]["feed"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| {
                (
                    e["node"]["body"].as_str().unwrap().to_owned(),
                    e["repostedBy"]["handle"].as_str().map(str::to_owned),
                )
            })
            .collect()
    }
}

/// The body, the author and the reposter of a `feedAdded` edge.
pub(crate) fn entry(edge: &Value) -> (&str, &str, Option<&str>) {
    (
        edge["node"]["body"].as_str().expect("a body"),
        edge["node"]["author"]["handle"]
            .as_str()
            .expect("an author"),
        edge["repostedBy"]["handle"].as_str(),
    )
}

fn owned(e: (&str, Option<&str>)) -> (String, Option<String>) {
    (e.0.to_owned(), e.1.map(str::to_owned))
}

/// The code of the refusal of subscription `id`: the protocol's `error`
/// message (never a `next` carrying errors).
pub(crate) async fn refusal(socket: &mut Socket, id: &str) -> String {
    let Frame::Message(m) = socket.next().await else {
        panic!("the socket closed");
    };
    assert_eq!(m["id"], id, "{m}");
    assert_eq!(m["type"], "error", "expected an error message, got {m}");
    m["payload"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("a code in {m}"))
        .to_owned()
}

/// The ids `write` answers are those of the rows it wrote, on every
/// backend (MySQL answers only the first: the others follow it).
#[tokio::test]
async fn written_events_answer_the_ids_of_their_rows() {
    use sea_orm::{EntityTrait as _, QueryOrder as _, TransactionTrait as _};
    use sns_api::entity::live_event;
    use sns_api::live::{Event, event};

    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let (a, b) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let events = vec![
        Event::Counted { post: a },
        Event::Notified {
            recipient: a,
            group: b,
            actor: b,
        },
        Event::PostDeleted { post: b },
    ];
    for _ in 0..2 {
        let txn = app.db.begin().await.unwrap();
        let batch = event::write(&txn, events.clone()).await.unwrap();
        txn.commit().await.unwrap();
        let rows = live_event::Entity::find()
            .order_by_asc(live_event::Column::Id)
            .all(&app.db)
            .await
            .unwrap();
        let stored: Vec<_> = rows[rows.len() - 3..]
            .iter()
            .map(|row| (row.id, Event::from_row(row)))
            .collect();
        let answered: Vec<_> = batch
            .written()
            .iter()
            .map(|w| (w.id, Some(w.event)))
            .collect();
        assert_eq!(answered, stored);
    }
    app.stop().await;
}

#[tokio::test]
async fn a_signed_in_socket_is_acknowledged_and_answers_ping() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up(&unique_email("ws")).await;
    let mut socket = Socket::signed_in(&app, Some(&token)).await;
    socket.send(json!({ "type": "ping" })).await;
    assert!(matches!(socket.next().await, Frame::Message(m) if m["type"] == "pong"));
    app.stop().await;
}

#[tokio::test]
async fn feed_added_carries_own_and_followed_posts_and_reposts_and_nothing_else() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let [alice, bob, carol] =
        <[String; 3]>::try_from(app.signed_up_all(&["alice", "bob", "carol"]).await).unwrap();
    app.follow(&alice, "bob").await;
    let carols = app.posted(&carol, "carol, unfollowed").await;

    let mut socket = Socket::signed_in(&app, Some(&alice)).await;
    socket.subscribe("f", FEED_ADDED, json!({})).await;
    until_listening(&app, feeds(1)).await;

    app.posted(&carol, "carol again").await;
    app.posted(&bob, "bob writes").await;
    let edge = socket.data("f").await;
    assert_eq!(
        entry(&edge["feedAdded"]),
        ("bob writes", "bob", None),
        "not carol's"
    );
    assert_eq!(edge["feedAdded"]["node"]["author"]["viewerFollows"], true);

    app.posted(&alice, "alice writes").await;
    let edge = socket.data("f").await;
    assert_eq!(entry(&edge["feedAdded"]), ("alice writes", "alice", None));
    assert_eq!(edge["feedAdded"]["node"]["author"]["viewerFollows"], false);

    // Bob reposts carol's post: it enters alice's feed through bob.
    app.on_post(&bob, "repost", &carols).await;
    let edge = socket.data("f").await;
    assert_eq!(
        entry(&edge["feedAdded"]),
        ("carol, unfollowed", "carol", Some("bob"))
    );
    assert_eq!(edge["feedAdded"]["repostedBy"]["viewerFollows"], true);
    assert_eq!(edge["feedAdded"]["node"]["author"]["viewerFollows"], false);

    // A reply is a post; carol's repost of bob's post is not alice's business.
    let bobs = app.posted(&bob, "bob again").await;
    assert_eq!(entry(&socket.data("f").await["feedAdded"]).0, "bob again");
    app.on_post(&carol, "repost", &bobs).await;
    app.reply_posted(&bob, &bobs, "bob replies to himself")
        .await;
    assert_eq!(
        entry(&socket.data("f").await["feedAdded"]),
        ("bob replies to himself", "bob", None),
        "the reply, and not carol's repost"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_feed_added_cursor_continues_the_feed_below_its_entry() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let [alice, bob] = <[String; 2]>::try_from(app.signed_up_all(&["alice", "bob"]).await).unwrap();
    app.follow(&alice, "bob").await;
    let first = app.posted(&bob, "one").await;
    app.posted(&bob, "two").await;

    let mut socket = Socket::signed_in(&app, Some(&alice)).await;
    socket.subscribe("f", FEED_ADDED, json!({})).await;
    until_listening(&app, feeds(1)).await;

    app.posted(&bob, "three").await;
    let three = socket.data("f").await["feedAdded"]["cursor"]
        .as_str()
        .expect("a cursor")
        .to_owned();
    assert_eq!(
        app.feed_below(&alice, &three).await,
        [owned(("two", None)), owned(("one", None))]
    );

    // Bob reposts his first post: below the repost's entry it is not shown
    // again at its own.
    app.on_post(&bob, "repost", &first).await;
    let edge = socket.data("f").await;
    assert_eq!(entry(&edge["feedAdded"]), ("one", "bob", Some("bob")));
    let repost = edge["feedAdded"]["cursor"].as_str().unwrap();
    assert_eq!(
        app.feed_below(&alice, repost).await,
        [owned(("three", None)), owned(("two", None))]
    );
    app.stop().await;
}

#[tokio::test]
async fn notification_changed_shows_each_group_as_it_grows() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let [alice, bob, carol] =
        <[String; 3]>::try_from(app.signed_up_all(&["alice", "bob", "carol"]).await).unwrap();
    let post = app.posted(&alice, "like me").await;
    let mut socket = Socket::signed_in(&app, Some(&alice)).await;
    socket.subscribe("n", NOTIFICATION_CHANGED, json!({})).await;
    until_listening(
        &app,
        Listening {
            notifications: 1,
            ..Listening::default()
        },
    )
    .await;

    app.on_post(&alice, "like", &post).await; // one's own: no notification
    app.on_post(&bob, "like", &post).await;
    let like = socket.data("n").await["notificationChanged"].clone();
    assert_eq!(like["kind"], "LIKE");
    assert_eq!(like["actorCount"], 1);
    assert_eq!(like["actors"], json!([{"handle": "bob"}]));
    assert_eq!(like["post"]["id"], post.as_str());
    assert_eq!(like["read"], false);

    app.on_post(&carol, "like", &post).await;
    let again = socket.data("n").await["notificationChanged"].clone();
    assert_eq!(again["id"], like["id"], "the same group");
    assert_eq!(again["actorCount"], 2);
    assert_eq!(
        again["actors"],
        json!([{"handle": "carol"}, {"handle": "bob"}]),
        "newest first"
    );

    app.on_post(&bob, "unlike", &post).await; // an actor leaves: no event
    app.follow(&bob, "alice").await;
    let follow = socket.data("n").await["notificationChanged"].clone();
    assert_eq!(
        (follow["kind"].as_str(), follow["actorCount"].as_i64()),
        (Some("FOLLOW"), Some(1))
    );
    assert_eq!(follow["post"], Value::Null);
    app.follow(&carol, "alice").await;
    let follow = socket.data("n").await["notificationChanged"].clone();
    assert_eq!(follow["actorCount"], 2);
    assert_eq!(
        follow["actors"],
        json!([{"handle": "carol"}, {"handle": "bob"}])
    );
    app.stop().await;
}

#[tokio::test]
async fn post_changed_sends_fresh_counts_and_completes_when_the_post_goes() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let [alice, bob, carol] =
        <[String; 3]>::try_from(app.signed_up_all(&["alice", "bob", "carol"]).await).unwrap();
    let post = app.posted(&alice, "watch me").await;
    let mut watcher = Socket::signed_in(&app, Some(&bob)).await;
    watcher
        .subscribe("p", POST_CHANGED, json!({"id": post}))
        .await;
    let mut anonymous = Socket::signed_in(&app, None).await;
    anonymous
        .subscribe("p", POST_CHANGED, json!({"id": post}))
        .await;
    until_listening(
        &app,
        Listening {
            posts: 2,
            ..Listening::default()
        },
    )
    .await;

    let changed = |data: Value| data["postChanged"].clone();
    app.on_post(&bob, "like", &post).await;
    let seen = changed(watcher.data("p").await);
    assert_eq!(
        (seen["likeCount"].as_i64(), seen["viewerHasLiked"].as_bool()),
        (Some(1), Some(true))
    );
    assert_eq!(seen["author"]["handle"], "alice");
    let anon = changed(anonymous.data("p").await);
    assert_eq!(
        (anon["likeCount"].as_i64(), anon["viewerHasLiked"].as_bool()),
        (Some(1), Some(false))
    );

    // Read afresh for each event: nothing cached from the one before.
    app.on_post(&bob, "unlike", &post).await;
    let seen = changed(watcher.data("p").await);
    assert_eq!(
        (seen["likeCount"].as_i64(), seen["viewerHasLiked"].as_bool()),
        (Some(0), Some(false))
    );
    app.on_post(&bob, "repost", &post).await;
    let seen = changed(watcher.data("p").await);
    assert_eq!(
        (
            seen["repostCount"].as_i64(),
            seen["viewerHasReposted"].as_bool()
        ),
        (Some(1), Some(true))
    );
    app.reply_posted(&carol, &post, "a reply").await;
    assert_eq!(changed(watcher.data("p").await)["replyCount"], 1);
    for _ in 0..3 {
        anonymous.data("p").await;
    }

    app.deleted(&alice, &post).await;
    for socket in [&mut watcher, &mut anonymous] {
        match socket.next().await {
            Frame::Message(m) => assert_eq!(m, json!({"type": "complete", "id": "p"})),
            other => panic!("expected complete, got {other:?}"),
        }
    }
    poll_until("the ended subscriptions to go", || async {
        let now = app.state.live().listening();
        if now == Listening::default() {
            Ok(())
        } else {
            Err(format!("{now:?}"))
        }
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_reply_changes_its_parents_count_and_its_deletion_changes_it_back() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let [alice, bob] = <[String; 2]>::try_from(app.signed_up_all(&["alice", "bob"]).await).unwrap();
    let post = app.posted(&alice, "parent").await;
    let mut socket = Socket::signed_in(&app, None).await;
    socket
        .subscribe("p", POST_CHANGED, json!({"id": post}))
        .await;
    until_listening(
        &app,
        Listening {
            posts: 1,
            ..Listening::default()
        },
    )
    .await;
    let reply = app.reply_posted(&bob, &post, "child").await;
    assert_eq!(socket.data("p").await["postChanged"]["replyCount"], 1);
    app.deleted(&bob, &reply).await;
    assert_eq!(socket.data("p").await["postChanged"]["replyCount"], 0);
    app.stop().await;
}

#[tokio::test]
async fn unknown_posts_and_anonymous_feeds_are_refused() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let alice = app.signed_up_as("alice").await;
    let gone = app.posted(&alice, "soon gone").await;
    app.deleted(&alice, &gone).await;
    let mut socket = Socket::signed_in(&app, None).await;
    for (id, post) in [
        ("unknown", uuid::Uuid::now_v7().to_string()),
        ("deleted", gone),
        ("malformed", "not-an-id".to_owned()),
    ] {
        socket
            .subscribe(id, POST_CHANGED, json!({"id": post}))
            .await;
        assert_eq!(refusal(&mut socket, id).await, "NOT_FOUND", "{id}");
    }
    socket.subscribe("f", FEED_ADDED, json!({})).await;
    assert_eq!(refusal(&mut socket, "f").await, "UNAUTHENTICATED");
    socket.subscribe("n", NOTIFICATION_CHANGED, json!({})).await;
    assert_eq!(refusal(&mut socket, "n").await, "UNAUTHENTICATED");
    assert_eq!(app.state.live().listening(), Listening::default());
    app.stop().await;
}

#[tokio::test]
async fn a_closed_socket_leaves_no_subscription_behind() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let alice = app.signed_up_as("alice").await;
    let mut socket = Socket::signed_in(&app, Some(&alice)).await;
    socket.subscribe("f", FEED_ADDED, json!({})).await;
    socket.subscribe("n", NOTIFICATION_CHANGED, json!({})).await;
    until_listening(
        &app,
        Listening {
            feed: 1,
            notifications: 1,
            posts: 0,
        },
    )
    .await;
    socket.send(json!({"type": "complete", "id": "f"})).await;
    poll_until("the feed subscription to go", || async {
        let now = app.state.live().listening();
        if now.feed == 0 && now.notifications == 1 {
            Ok(())
        } else {
            Err(format!("{now:?}"))
        }
    })
    .await;
    drop(socket);
    poll_until("the socket's subscriptions to go", || async {
        let now = app.state.live().listening();
        if now == Listening::default() {
            Ok(())
        } else {
            Err(format!("{now:?}"))
        }
    })
    .await;
    app.stop().await;
}

// ------------------------------------------------------------ instances

const SYNC: Duration = Duration::from_millis(200);

async fn instance(db: &TestDb, sync: Duration) -> TestApp {
    let mut config = config_for(db);
    config.sessions.sync_interval = sync;
    TestApp::spawn_with(config).await
}

#[tokio::test]
async fn posts_on_one_instance_reach_a_followers_socket_on_another_in_order_once() {
    let db = TestDb::fresh().await;
    let a = instance(&db, SYNC).await;
    let b = instance(&db, SYNC).await;
    let [alice, bob] = <[String; 2]>::try_from(a.signed_up_all(&["alice", "bob"]).await).unwrap();
    a.follow(&alice, "bob").await;
    let mut socket = Socket::signed_in(&b, Some(&alice)).await;
    socket.subscribe("f", FEED_ADDED, json!({})).await;
    until_listening(&b, feeds(1)).await;

    let bodies: Vec<String> = (1..=5).map(|i| format!("post {i}")).collect();
    for body in &bodies {
        a.posted(&bob, body).await;
    }
    for body in &bodies {
        assert_eq!(entry(&socket.data("f").await["feedAdded"]).0, body);
    }
    // Nothing twice: the next event is the next post.
    a.posted(&bob, "last").await;
    assert_eq!(entry(&socket.data("f").await["feedAdded"]).0, "last");
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn events_of_both_instances_reach_sockets_on_both_once_each() {
    let db = TestDb::fresh().await;
    let a = instance(&db, SYNC).await;
    let b = instance(&db, SYNC).await;
    let [alice, bob] = <[String; 2]>::try_from(a.signed_up_all(&["alice", "bob"]).await).unwrap();
    let post = a.posted(&alice, "liked on both").await;
    let mut on_a = Socket::signed_in(&a, None).await;
    let mut on_b = Socket::signed_in(&b, None).await;
    for (app, socket) in [(&a, &mut on_a), (&b, &mut on_b)] {
        socket
            .subscribe("p", POST_CHANGED, json!({"id": post}))
            .await;
        until_listening(
            app,
            Listening {
                posts: 1,
                ..Listening::default()
            },
        )
        .await;
    }
    // Written on A, then on B, then on A: each socket gets three notices.
    // An instance hands its own events over at once and reads the other's
    // within the interval, so the three may come in another order; each
    // shows the post as read when it was delivered, never older than the
    // one before.
    a.on_post(&bob, "like", &post).await;
    b.on_post(&bob, "repost", &post).await;
    a.on_post(&alice, "like", &post).await;
    for socket in [&mut on_a, &mut on_b] {
        let mut seen = Vec::new();
        for _ in 0..3 {
            let p = socket.data("p").await["postChanged"].clone();
            seen.push((
                p["likeCount"].as_i64().unwrap(),
                p["repostCount"].as_i64().unwrap(),
            ));
        }
        assert!(seen.is_sorted(), "{seen:?}");
        assert_eq!(seen.last(), Some(&(2, 1)), "{seen:?}");
    }
    a.deleted(&alice, &post).await;
    for socket in [&mut on_a, &mut on_b] {
        match socket.next().await {
            Frame::Message(m) => assert_eq!(m["type"], "complete", "nothing twice: {m}"),
            other => panic!("expected complete, got {other:?}"),
        }
    }
    a.stop().await;
    b.stop().await;
}

/// The relays' listeners lose their connections (terminated by the
/// server); events written meanwhile arrive once the listener is back,
/// each once. The interval is long, so that only the listener (and its
/// catch-up) can carry them within the test.
#[tokio::test]
#[ignore = "needs PostgreSQL: TEST_DATABASE_URL=postgres://…"]
async fn after_the_listener_connection_drops_events_are_neither_lost_nor_doubled() {
    let db = TestDb::fresh().await;
    let (admin_url, name) = db
        .server()
        .filter(|(url, _)| url.starts_with("postgres"))
        .map(|(url, name)| (url.to_owned(), name.to_owned()))
        .expect("TEST_DATABASE_URL names a PostgreSQL server");
    let slow = Duration::from_secs(600);
    let a = instance(&db, slow).await;
    let b = instance(&db, slow).await;
    let [alice, bob] = <[String; 2]>::try_from(a.signed_up_all(&["alice", "bob"]).await).unwrap();
    a.follow(&alice, "bob").await;
    let mut socket = Socket::signed_in(&b, Some(&alice)).await;
    socket.subscribe("f", FEED_ADDED, json!({})).await;
    until_listening(&b, feeds(1)).await;

    let listeners = format!(
        "SELECT pid FROM pg_stat_activity WHERE datname = '{name}' AND query LIKE 'LISTEN%sns_live%'"
    );
    let admin = sea_orm::Database::connect(admin_url.as_str())
        .await
        .unwrap();
    let count = |sql: String| {
        let admin = admin.clone();
        async move {
            admin
                .query_all_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Postgres,
                    sql,
                ))
                .await
                .unwrap()
                .len()
        }
    };
    poll_until("both relays to listen", || async {
        match count(listeners.clone()).await {
            2.. => Ok(()),
            n => Err(format!("{n} listening")),
        }
    })
    .await;
    a.posted(&bob, "before").await;
    assert_eq!(entry(&socket.data("f").await["feedAdded"]).0, "before");

    let killed = count(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND query LIKE 'LISTEN%sns_live%'"
    ))
    .await;
    assert_eq!(killed, 2);
    a.posted(&bob, "while down").await;
    a.posted(&bob, "while down, again").await;
    assert_eq!(entry(&socket.data("f").await["feedAdded"]).0, "while down");
    assert_eq!(
        entry(&socket.data("f").await["feedAdded"]).0,
        "while down, again"
    );
    poll_until("both relays to listen again", || async {
        match count(listeners.clone()).await {
            2.. => Ok(()),
            n => Err(format!("{n} listening")),
        }
    })
    .await;
    a.posted(&bob, "after").await;
    assert_eq!(
        entry(&socket.data("f").await["feedAdded"]).0,
        "after",
        "the next event, nothing twice"
    );
    drop(admin);
    a.stop().await;
    b.stop().await;
}

/// The `next` payloads of `socket` for the ids in `ids`, whatever their
/// order, by id.
async fn nexts(socket: &mut Socket, ids: &[&str]) -> std::collections::HashMap<String, Value> {
    let mut got = std::collections::HashMap::new();
    while got.len() < ids.len() {
        match socket.next().await {
            Frame::Message(m) if m["type"] == "next" => {
                let id = m["id"].as_str().expect("an id").to_owned();
                assert!(ids.contains(&id.as_str()), "{m}");
                assert!(got.insert(id, m["payload"].clone()).is_none(), "twice: {m}");
            }
            other => panic!("expected next, got {other:?}"),
        }
    }
    got
}

#[tokio::test]
async fn subscriptions_of_one_shape_share_a_payload_unless_it_is_the_viewers_own() {
    const PLAIN: &str = "subscription { feedAdded { cursor node { id body likeCount } } }";
    const OWN: &str = "subscription { feedAdded { node { id viewerHasLiked } } }";
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let [alice, bob, carol, dave] =
        <[String; 4]>::try_from(app.signed_up_all(&["alice", "bob", "carol", "dave"]).await)
            .unwrap();
    let post = app.posted(&alice, "liked by one").await;
    app.on_post(&bob, "like", &post).await;
    let mut sockets = Vec::new();
    for token in [&bob, &carol] {
        app.follow(token, "dave").await;
        let mut socket = Socket::signed_in(&app, Some(token)).await;
        socket.subscribe("plain", PLAIN, json!({})).await;
        socket.subscribe("own", OWN, Value::Null).await;
        sockets.push(socket);
    }
    until_listening(&app, feeds(4)).await;
    let before = app.state.live().payloads();

    app.on_post(&dave, "repost", &post).await;
    let bob_got = nexts(&mut sockets[0], &["plain", "own"]).await;
    let carol_got = nexts(&mut sockets[1], &["plain", "own"]).await;
    assert_eq!(bob_got["plain"], carol_got["plain"]);
    assert_eq!(
        bob_got["plain"]["data"]["feedAdded"]["node"]["likeCount"],
        1
    );
    let liked = |got: &std::collections::HashMap<String, Value>| {
        got["own"]["data"]["feedAdded"]["node"]["viewerHasLiked"].clone()
    };
    assert_eq!(
        (liked(&bob_got), liked(&carol_got)),
        (json!(true), json!(false))
    );
    // The plain shape rendered once for both; the viewer's own twice.
    let after = app.state.live().payloads();
    assert_eq!(
        (
            after.rendered - before.rendered,
            after.shared - before.shared
        ),
        (3, 1)
    );
}
