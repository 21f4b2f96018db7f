//! The notification inbox over GraphQL: grouping, actors, the kinds filter,
//! paging, the seen marker and the unread count, retention, and the bad
//! inputs.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::common::*;

const INBOX: &str = "query($f: Int, $a: String, $k: [NotificationKind!], $n: Int) { \
    notifications(first: $f, after: $a, kinds: $k) { \
    edges { cursor node { id kind actorCount createdAt read post { id author { handle } } \
    actors(first: $n) { handle } } } pageInfo { hasNextPage endCursor } } }";

/// One notification as the tests compare it.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    id: String,
    kind: String,
    actor_count: i64,
    actors: Vec<String>,
    read: bool,
    post: Option<String>,
    created_at: DateTime<Utc>,
}

/// What `notifications` answered: the items, `hasNextPage`, `endCursor`.
struct InboxPage {
    items: Vec<Seen>,
    has_next: bool,
    end: Value,
}

impl TestApp {
    async fn inbox_body(&self, token: Option<&str>, variables: Value) -> Value {
        self.gql(INBOX, variables, token).await
    }

    async fn inbox_page(&self, token: &str, variables: Value) -> InboxPage {
        let body = self.inbox_body(Some(token), variables).await;
        assert!(body.get("errors").is_none(), "{body}");
        let conn = &body["data"]["notifications"];
        let items = conn["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let n = &e["node"];
                Seen {
                    id: n["id"].as_str().unwrap().to_owned(),
                    kind: n["kind"].as_str().unwrap().to_owned(),
                    actor_count: n["actorCount"].as_i64().unwrap(),
                    actors: n["actors"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|a| a["handle"].as_str().unwrap().to_owned())
                        .collect(),
                    read: n["read"].as_bool().unwrap(),
                    post: n["post"]["id"].as_str().map(str::to_owned),
                    created_at: n["createdAt"].as_str().unwrap().parse().unwrap(),
                }
            })
            .collect();
        InboxPage {
            items,
            has_next: conn["pageInfo"]["hasNextPage"].as_bool().unwrap(),
            end: conn["pageInfo"]["endCursor"].clone(),
        }
    }

    /// The first page of 20 with every kind.
    async fn inbox(&self, token: &str) -> Vec<Seen> {
        self.inbox_page(token, json!({})).await.items
    }

    async fn unread(&self, token: &str) -> i64 {
        let body = self
            .gql("{ me { unreadNotificationCount } }", json!({}), Some(token))
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        body["data"]["me"]["unreadNotificationCount"]
            .as_i64()
            .unwrap()
    }

    /// `markNotificationsSeen(until:)`; answers its unread count.
    async fn mark_seen(&self, token: &str, until: &str) -> i64 {
        let body = self
            .gql(
                "mutation($u: DateTime!) { markNotificationsSeen(until: $u) { unreadNotificationCount errors { code } } }",
                json!({"u": until}),
                Some(token),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        let payload = &body["data"]["markNotificationsSeen"];
        assert_eq!(payload["errors"], json!([]), "{payload}");
        payload["unreadNotificationCount"].as_i64().unwrap()
    }

    /// `like` or `unlike` of `post`, which must be accepted.
    async fn like_as(&self, token: &str, mutation: &str, post: &str) {
        let body = self
            .gql(
                &format!("mutation($p: ID!) {{ {mutation}(postId: $p) {{ errors {{ code }} }} }}"),
                json!({"p": post}),
                Some(token),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"][mutation]["errors"], json!([]), "{body}");
    }

    /// Moves the group `id` to another UTC day `days` back, with its newest
    /// event there too, as if its follows had happened then.
    async fn move_group_back(&self, id: &str, days: i64) {
        use sea_orm::sea_query::Expr;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        use sns_api::entity::notification_group as group;
        let id = uuid::Uuid::parse_str(id).unwrap();
        let then = Utc::now() - chrono::Duration::days(days);
        let top = uuid::Builder::from_unix_timestamp_millis(
            u64::try_from(then.timestamp_millis()).unwrap(),
            &[7; 10],
        )
        .into_uuid();
        group::Entity::update_many()
            .col_expr(
                group::Column::Subject,
                Expr::value(then.format("%Y-%m-%d").to_string()),
            )
            .col_expr(group::Column::TopId, Expr::value(top))
            .filter(group::Column::Id.eq(id))
            .exec(&self.db)
            .await
            .unwrap();
    }
}

/// Waits until this machine's clock (the server's too) is past `at`'s
/// millisecond, so that an event from now on is newer than a marker there.
async fn clock_past(at: DateTime<Utc>) {
    let at = ms(at);
    poll_until("the clock to pass the marker", || async {
        let now = ms(Utc::now());
        if now > at {
            Ok(())
        } else {
            Err(now.to_rfc3339())
        }
    })
    .await;
}

fn ms(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap()
}

fn kinds(items: &[Seen]) -> Vec<&str> {
    items.iter().map(|s| s.kind.as_str()).collect()
}

#[tokio::test]
async fn the_follows_of_a_day_are_one_group_with_its_newest_actors_first() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let t = app
        .signed_up_all(&["alice", "bob", "carol", "dave", "erin", "frank"])
        .await;
    let before = ms(Utc::now());
    for follower in &t[1..5] {
        app.follow(follower, "alice").await;
    }
    let after = Utc::now();
    let inbox = app.inbox(&t[0]).await;
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    let group = &inbox[0];
    assert_eq!(group.kind, "FOLLOW");
    assert_eq!(group.actor_count, 4);
    assert_eq!(
        group.actors,
        ["erin", "dave", "carol"],
        "three, newest first"
    );
    assert_eq!(group.post, None);
    assert!(!group.read);
    assert!(
        before <= group.created_at && group.created_at <= after,
        "{before} <= {} <= {after}",
        group.created_at
    );
    let all = app
        .inbox_page(&t[0], json!({"n": 10}))
        .await
        .items
        .remove(0)
        .actors;
    assert_eq!(all, ["erin", "dave", "carol", "bob"]);
    let none = app.inbox_page(&t[0], json!({"n": 0})).await.items;
    assert_eq!(none[0].actors, Vec::<String>::new());

    // Yesterday's group stays apart: a follow today starts a new one on top.
    app.move_group_back(&group.id, 1).await;
    app.follow(&t[5], "alice").await;
    let inbox = app.inbox(&t[0]).await;
    assert_eq!(inbox.len(), 2, "{inbox:?}");
    assert_eq!(inbox[0].actors, ["frank"]);
    assert_eq!(inbox[0].actor_count, 1);
    assert_eq!(inbox[1].id, group.id, "the group keeps its id");
    assert_eq!(inbox[1].actor_count, 4);
    assert!(inbox[1].created_at < inbox[0].created_at);
}

#[tokio::test]
async fn an_unfollow_takes_the_actor_out_and_an_empty_group_goes() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let t = app.signed_up_all(&["alice", "bob", "carol"]).await;
    app.follow(&t[1], "alice").await;
    app.follow(&t[2], "alice").await;
    app.unfollow(&t[2], "alice").await;
    let inbox = app.inbox(&t[0]).await;
    assert_eq!(inbox.len(), 1);
    assert_eq!(
        (inbox[0].actor_count, &inbox[0].actors[..]),
        (1, &["bob".to_owned()][..])
    );
    assert_eq!(app.unread(&t[0]).await, 1);
    app.unfollow(&t[1], "alice").await;
    assert_eq!(app.inbox(&t[0]).await, vec![]);
    assert_eq!(app.unread(&t[0]).await, 0);
}

#[tokio::test]
async fn nobody_is_notified_of_their_own_actions() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let t = app.signed_up_all(&["alice"]).await;
    let post = app.posted(&t[0], "mine").await;
    app.like_as(&t[0], "like", &post).await;
    let refused = app.follow_as(&t[0], "follow", "alice").await;
    assert_eq!(payload_codes(&refused), ["CANNOT_FOLLOW_SELF"]);
    assert_eq!(app.inbox(&t[0]).await, vec![]);
    assert_eq!(app.unread(&t[0]).await, 0);
}

#[tokio::test]
async fn kinds_filters_the_groups_and_an_empty_list_answers_none() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let t = app.signed_up_all(&["alice", "bob"]).await;
    let post = app.posted(&t[0], "hello").await;
    app.follow(&t[1], "alice").await;
    app.like_as(&t[1], "like", &post).await;
    let all = app.inbox(&t[0]).await;
    assert_eq!(kinds(&all), ["LIKE", "FOLLOW"]);
    assert_eq!(all[0].post.as_deref(), Some(post.as_str()));
    let page = |k: Value| app.inbox_page(&t[0], json!({ "k": k }));
    assert_eq!(kinds(&page(json!(["FOLLOW"])).await.items), ["FOLLOW"]);
    assert_eq!(kinds(&page(json!(["LIKE"])).await.items), ["LIKE"]);
    assert_eq!(
        kinds(&page(json!(["REPLY", "MENTION", "REPOST"])).await.items),
        Vec::<&str>::new()
    );
    assert_eq!(
        kinds(&page(json!(["FOLLOW", "LIKE", "FOLLOW"])).await.items),
        ["LIKE", "FOLLOW"]
    );
    let none = page(json!([])).await;
    assert!(none.items.is_empty() && !none.has_next);
    assert_eq!(kinds(&page(Value::Null).await.items), ["LIKE", "FOLLOW"]);
}

#[tokio::test]
async fn the_seen_marker_reads_groups_moves_forward_only_and_stops_at_now() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let t = app.signed_up_all(&["alice", "bob", "carol", "dave"]).await;
    let post = app.posted(&t[0], "hello").await;
    app.follow(&t[1], "alice").await;
    app.like_as(&t[2], "like", &post).await;
    assert_eq!(app.unread(&t[0]).await, 2);
    // Before both groups: nothing read.
    assert_eq!(app.mark_seen(&t[0], "2000-01-01T00:00:00Z").await, 2);

    let inbox = app.inbox(&t[0]).await;
    let (like, follow) = (&inbox[0], &inbox[1]);
    // At the follow's very millisecond: the follow is read, the like not.
    let at = follow.created_at.to_rfc3339();
    assert_eq!(app.mark_seen(&t[0], &at).await, 1);
    let inbox = app.inbox(&t[0]).await;
    assert_eq!((inbox[0].read, inbox[1].read), (false, true));
    assert_eq!(app.unread(&t[0]).await, 1);

    // Never back.
    assert_eq!(app.mark_seen(&t[0], "2000-01-01T00:00:00+00:00").await, 1);
    assert!(app.inbox(&t[0]).await[1].read);

    // Up to the like: all read.
    assert_eq!(app.mark_seen(&t[0], &like.created_at.to_rfc3339()).await, 0);
    assert!(app.inbox(&t[0]).await.iter().all(|n| n.read));

    // A new event makes its group unread again and moves it to the top.
    clock_past(like.created_at).await;
    app.follow(&t[3], "alice").await;
    let inbox = app.inbox(&t[0]).await;
    assert_eq!(kinds(&inbox), ["FOLLOW", "LIKE"]);
    assert_eq!((inbox[0].read, inbox[1].read), (false, true));
    assert_eq!(inbox[0].id, follow.id);
    assert_eq!(app.unread(&t[0]).await, 1);

    // A moment far ahead counts as now: a later event is unread.
    assert_eq!(app.mark_seen(&t[0], "2999-01-01T00:00:00Z").await, 0);
    clock_past(Utc::now()).await;
    app.unfollow(&t[1], "alice").await;
    app.follow(&t[1], "alice").await;
    assert_eq!(app.unread(&t[0]).await, 1);
    assert!(!app.inbox(&t[0]).await[0].read);
    assert_eq!(app.unread(&t[1]).await, 0, "bob's inbox is empty");
}

#[tokio::test]
async fn the_unread_count_is_exact_up_to_1000() {
    use sea_orm::{EntityTrait, Set};
    use sns_api::entity::notification_group as group;
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let t = app.signed_up_all(&["alice", "bob"]).await;
    app.follow(&t[1], "alice").await;
    assert_eq!(app.unread(&t[0]).await, 1);
    let body = app.gql("{ me { id } }", json!({}), Some(&t[0])).await;
    let alice = uuid::Uuid::parse_str(body["data"]["me"]["id"].as_str().unwrap()).unwrap();
    // Groups alone (no events): the count reads the groups only.
    let rows = |range: std::ops::Range<u32>| {
        range.map(move |i| group::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            recipient_id: Set(alice),
            kind: Set("MENTION".into()),
            subject: Set(format!("s{i}")),
            post_id: Set(None),
            top_id: Set(uuid::Uuid::now_v7()),
            actor_count: Set(1),
        })
    };
    for start in (0..998).step_by(200) {
        group::Entity::insert_many(rows(start..(start + 200).min(998)))
            .exec(&app.db)
            .await
            .unwrap();
    }
    assert_eq!(app.unread(&t[0]).await, 999);
    group::Entity::insert_many(rows(998..999))
        .exec(&app.db)
        .await
        .unwrap();
    assert_eq!(app.unread(&t[0]).await, 1000);
    group::Entity::insert_many(rows(999..1003))
        .exec(&app.db)
        .await
        .unwrap();
    assert_eq!(app.unread(&t[0]).await, 1000, "then 1000");
}

#[tokio::test]
async fn pages_follow_the_cursor_and_a_group_moved_to_the_top_is_not_shown_twice() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let t = app.signed_up_all(&["alice", "bob", "carol"]).await;
    let mut posts = Vec::new();
    for i in 0..5 {
        posts.push(app.posted(&t[0], &format!("post {i}")).await);
    }
    for p in &posts {
        app.like_as(&t[1], "like", p).await;
    }
    let first = app.inbox_page(&t[0], json!({"f": 2})).await;
    let post_of =
        |items: &[Seen]| -> Vec<String> { items.iter().map(|s| s.post.clone().unwrap()).collect() };
    assert_eq!(post_of(&first.items), [posts[4].clone(), posts[3].clone()]);
    assert!(first.has_next);
    // The oldest group gets a new like while the client pages.
    app.like_as(&t[2], "like", &posts[0]).await;
    let second = app.inbox_page(&t[0], json!({"f": 2, "a": first.end})).await;
    assert_eq!(post_of(&second.items), [posts[2].clone(), posts[1].clone()]);
    let third = app
        .inbox_page(&t[0], json!({"f": 2, "a": second.end}))
        .await;
    assert_eq!(post_of(&third.items), Vec::<String>::new());
    assert!(!third.has_next);
    let again = app.inbox(&t[0]).await;
    assert_eq!(again[0].post.as_deref(), Some(posts[0].as_str()));
    assert_eq!(again[0].actors, ["carol", "bob"]);
    assert_eq!(again.len(), 5);
}

#[tokio::test]
async fn the_inbox_requires_a_token() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let body = app.inbox_body(None, json!({})).await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{body}");
    let body = app
        .gql(
            "mutation { markNotificationsSeen(until: \"2026-12-05T00:00:00Z\") { unreadNotificationCount } }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{body}");
    let body = app.inbox_body(Some("not-a-token"), json!({})).await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{body}");
}

#[tokio::test]
async fn a_bad_first_or_a_cursor_of_another_list_is_bad_user_input() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let t = app.signed_up_all(&["alice", "bob"]).await;
    app.follow(&t[1], "alice").await;
    app.posted(&t[0], "one").await;
    app.posted(&t[0], "two").await;
    let feed = app
        .gql(
            "{ feed(first: 1) { pageInfo { endCursor } } }",
            json!({}),
            Some(&t[0]),
        )
        .await;
    let feed_cursor = feed["data"]["feed"]["pageInfo"]["endCursor"].clone();
    assert!(feed_cursor.is_string(), "{feed}");
    // A light selection: the complexity rule would refuse 101 first.
    const LIGHT: &str = "query($f: Int, $a: String, $n: Int) { \
        notifications(first: $f, after: $a) { nodes { actors(first: $n) { id } } } }";
    for variables in [
        json!({"f": 101, "n": 1}),
        json!({"f": -1}),
        json!({"a": feed_cursor}),
        json!({"a": "not a cursor"}),
        json!({"f": 1, "n": 101}),
        json!({"f": 1, "n": -1}),
    ] {
        let body = app.gql(LIGHT, variables.clone(), Some(&t[0])).await;
        assert_eq!(
            error_codes(&body),
            ["BAD_USER_INPUT"],
            "{variables}: {body}"
        );
    }
    for variables in [json!({"f": 100, "n": 1}), json!({"f": 1, "n": 100})] {
        let body = app.gql(LIGHT, variables.clone(), Some(&t[0])).await;
        assert!(body.get("errors").is_none(), "{variables}: {body}");
        let nodes = &body["data"]["notifications"]["nodes"];
        assert_eq!(nodes.as_array().map(Vec::len), Some(1), "{body}");
        assert_eq!(nodes[0]["actors"].as_array().map(Vec::len), Some(1));
    }
    let zero = app.inbox_page(&t[0], json!({"f": 0})).await;
    assert!(zero.items.is_empty());
}

#[tokio::test]
async fn thirty_likes_are_one_group_with_the_three_newest_likers() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let alice = app.signed_up_as("alice").await;
    let post = app.posted(&alice, "like me").await;
    let other = app.posted(&alice, "me too").await;
    let mut fans = Vec::new();
    for i in 0..30 {
        let handle = format!("fan{i:02}");
        let token = app.signed_up_as(&handle).await;
        app.like_as(&token, "like", &post).await;
        fans.push(token);
    }
    let inbox = app.inbox(&alice).await;
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0].kind, "LIKE");
    assert_eq!(inbox[0].actor_count, 30);
    assert_eq!(inbox[0].actors, ["fan29", "fan28", "fan27"]);
    assert_eq!(inbox[0].post.as_deref(), Some(post.as_str()));
    let body = app.inbox_body(Some(&alice), json!({})).await;
    assert_eq!(
        body["data"]["notifications"]["edges"][0]["node"]["post"]["author"]["handle"],
        "alice"
    );

    // Unliking the newest changes the actors.
    app.like_as(&fans[29], "unlike", &post).await;
    let inbox = app.inbox(&alice).await;
    assert_eq!(inbox[0].actor_count, 29);
    assert_eq!(inbox[0].actors, ["fan28", "fan27", "fan26"]);

    // Seen, then a like of another post on top, then a new like of the
    // first: unread again and on top.
    let marker = Utc::now();
    assert_eq!(app.mark_seen(&alice, &marker.to_rfc3339()).await, 0);
    assert!(app.inbox(&alice).await[0].read);
    clock_past(marker).await;
    app.like_as(&fans[0], "like", &other).await;
    app.like_as(&fans[29], "like", &post).await;
    let inbox = app.inbox(&alice).await;
    assert_eq!(inbox.len(), 2);
    assert_eq!(inbox[0].post.as_deref(), Some(post.as_str()));
    assert_eq!((inbox[0].read, inbox[1].read), (false, false));
    assert_eq!(inbox[0].actor_count, 30);
    assert_eq!(inbox[0].actors, ["fan29", "fan28", "fan27"]);
    assert_eq!(app.unread(&alice).await, 2);
}

#[tokio::test]
async fn a_group_older_than_the_retention_goes_with_its_events() {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    use sns_api::entity::notification_event as event;
    let db = TestDb::fresh().await;
    let mut config = config_for(&db);
    config.notification_retention = std::time::Duration::from_secs(3600);
    let app = TestApp::spawn_with(config).await;
    let t = app.signed_up_all(&["alice", "bob", "carol"]).await;
    app.follow(&t[1], "alice").await;
    app.follow(&t[2], "alice").await;
    app.follow(&t[2], "bob").await;
    let old = app.inbox(&t[0]).await.remove(0);
    // Its newest event was two days ago.
    app.move_group_back(&old.id, 2).await;
    let old_id = uuid::Uuid::parse_str(&old.id).unwrap();
    let events = || {
        event::Entity::find()
            .filter(event::Column::GroupId.eq(old_id))
            .count(&app.db)
    };
    assert_eq!(events().await.unwrap(), 2);

    let pruned = sns_api::service::notification::inbox::prune(&app.state, Utc::now())
        .await
        .unwrap();
    assert_eq!(pruned, 1);
    assert_eq!(app.inbox(&t[0]).await, vec![]);
    assert_eq!(events().await.unwrap(), 0);
    assert_eq!(app.inbox(&t[1]).await.len(), 1, "bob's fresh group stays");
    // Alice's next follower starts a new group.
    app.unfollow(&t[1], "alice").await;
    app.follow(&t[1], "alice").await;
    let inbox = app.inbox(&t[0]).await;
    assert_eq!((inbox.len(), inbox[0].actor_count), (1, 1));
}
