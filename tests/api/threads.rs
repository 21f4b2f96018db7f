//! Threads: replies (`createPost` with `replyTo`), `replyTo`, `ancestors`,
//! `replies`, `replyCount`, @-mentions and their notifications, and what
//! deleting a post or an account leaves of them.

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use sns_api::entity::{
    mention, notification_event, notification_group, post, post_like, profile, repost,
};
use uuid::Uuid;

use crate::common::*;

/// What the tests read of a post.
const POST: &str =
    "id body inReplyToId replyTo { id } replyCount author { handle } mentions { handle }";

const CREATE: &str = "mutation($i: CreatePostInput!) { createPost(input: $i) { post { id body inReplyToId replyTo { id } replyCount author { handle } mentions { handle } } errors { code message field } } }";

impl TestApp {
    /// The `createPost` payload for `body`, replying to `reply_to` when given.
    async fn create_reply(&self, token: &str, reply_to: Option<&str>, body: &str) -> Value {
        let mut input = json!({"body": body});
        if let Some(parent) = reply_to {
            input["replyTo"] = json!(parent);
        }
        let answer = self.gql(CREATE, json!({"i": input}), Some(token)).await;
        assert!(
            answer.get("errors").is_none(),
            "no top-level error: {answer}"
        );
        answer["data"]["createPost"].clone()
    }

    /// A reply that must be accepted; answers its id.
    async fn replied(&self, token: &str, parent: &str, body: &str) -> String {
        let payload = self.create_reply(token, Some(parent), body).await;
        assert_eq!(payload["errors"], json!([]), "{payload}");
        payload["post"]["id"].as_str().expect("an id").to_owned()
    }

    /// `post(id:)` with [`POST`] and `extra`, as `token` sees it.
    async fn thread_view(&self, id: &str, extra: &str, token: Option<&str>) -> Value {
        let answer = self
            .gql(
                &format!("query($id: ID!) {{ post(id: $id) {{ {POST} {extra} }} }}"),
                json!({"id": id}),
                token,
            )
            .await;
        assert!(
            answer.get("errors").is_none(),
            "no top-level error: {answer}"
        );
        answer["data"]["post"].clone()
    }

    /// The ids of `post(id:).ancestors`, in order.
    async fn ancestor_ids(&self, id: &str) -> Vec<String> {
        let post = self
            .thread_view(id, "ancestors { id author { handle } }", None)
            .await;
        ids(&post["ancestors"])
    }

    /// One page of `post(id:).replies`: (ids, hasNextPage, endCursor).
    async fn replies_page(
        &self,
        id: &str,
        first: i64,
        after: Option<&str>,
    ) -> (Vec<String>, bool, Option<String>) {
        let answer = self
            .gql(
                "query($id: ID!, $first: Int, $after: String) { post(id: $id) { replies(first: $first, after: $after) { edges { node { id replyTo { id } } } pageInfo { hasNextPage endCursor } } } }",
                json!({"id": id, "first": first, "after": after}),
                None,
            )
            .await;
        assert!(answer.get("errors").is_none(), "{answer}");
        let replies = &answer["data"]["post"]["replies"];
        let edges = replies["edges"].as_array().expect("edges");
        for e in edges {
            assert_eq!(e["node"]["replyTo"]["id"], id, "{e}");
        }
        (
            edges
                .iter()
                .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
                .collect(),
            replies["pageInfo"]["hasNextPage"].as_bool().unwrap(),
            replies["pageInfo"]["endCursor"].as_str().map(str::to_owned),
        )
    }

    /// The account id of `handle`.
    async fn id_of(&self, handle: &str) -> Uuid {
        let profile = self.profile(handle, None).await;
        Uuid::parse_str(profile["id"].as_str().expect("a profile")).unwrap()
    }

    /// `handle`'s notifications as stored: (kind, post, actors' ids),
    /// sorted.
    async fn notifications_of(&self, handle: &str) -> Vec<(String, Option<Uuid>, Vec<Uuid>)> {
        let recipient = self.id_of(handle).await;
        let groups = notification_group::Entity::find()
            .filter(notification_group::Column::RecipientId.eq(recipient))
            .all(&self.db)
            .await
            .unwrap();
        let mut out = Vec::new();
        for g in groups {
            let mut actors: Vec<Uuid> = notification_event::Entity::find()
                .filter(notification_event::Column::GroupId.eq(g.id))
                .all(&self.db)
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.actor_id)
                .collect();
            actors.sort();
            assert_eq!(g.actor_count as usize, actors.len(), "{g:?}");
            out.push((g.kind, g.post_id, actors));
        }
        out.sort();
        out
    }
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}

fn handles(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .map(|p| p["handle"].as_str().unwrap().to_owned())
        .collect()
}

fn uuid(id: &str) -> Uuid {
    Uuid::parse_str(id).unwrap()
}

async fn delete_post(app: &TestApp, token: &str, id: &str) {
    let answer = app
        .gql(
            "mutation($id: ID!) { deletePost(id: $id) { deleted errors { code } } }",
            json!({"id": id}),
            Some(token),
        )
        .await;
    assert_eq!(answer["data"]["deletePost"]["deleted"], true, "{answer}");
}

#[tokio::test]
async fn a_reply_is_a_post_of_its_author_counted_on_its_parent() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let tokens = app.signed_up_all(&["alice", "bob"]).await;
    let (alice, bob) = (&tokens[0], &tokens[1]);
    let parent = app.posted(alice, "a question").await;

    let payload = app.create_reply(bob, Some(&parent), "  an answer ").await;
    assert_eq!(payload["errors"], json!([]), "{payload}");
    let reply = &payload["post"];
    assert_eq!(reply["body"], "an answer");
    assert_eq!(reply["inReplyToId"], parent.as_str());
    assert_eq!(reply["replyTo"]["id"], parent.as_str());
    assert_eq!(reply["replyCount"], 0);
    let reply_id = reply["id"].as_str().unwrap().to_owned();

    let parent_view = app.thread_view(&parent, "", None).await;
    assert_eq!(parent_view["replyCount"], 1, "{parent_view}");
    assert_eq!(parent_view["inReplyToId"], Value::Null);
    assert_eq!(parent_view["replyTo"], Value::Null);

    // In its author's posts and postCount, like any post.
    let bob_view = app
        .gql(
            "{ profile(handle: \"bob\") { postCount posts { edges { node { id inReplyToId } } } } }",
            json!({}),
            None,
        )
        .await;
    let profile = &bob_view["data"]["profile"];
    assert_eq!(profile["postCount"], 1, "{bob_view}");
    assert_eq!(
        profile["posts"]["edges"][0]["node"]["id"],
        reply_id.as_str()
    );
    assert_eq!(
        profile["posts"]["edges"][0]["node"]["inReplyToId"],
        parent.as_str()
    );

    // The parent's author is told, as REPLY about the reply.
    let bob_id = app.id_of("bob").await;
    assert_eq!(
        app.notifications_of("alice").await,
        [("REPLY".to_owned(), Some(uuid(&reply_id)), vec![bob_id])]
    );
    // A reply to oneself tells nobody, and still counts.
    app.replied(alice, &parent, "and a follow-up").await;
    assert_eq!(app.notifications_of("alice").await.len(), 1);
    assert_eq!(app.thread_view(&parent, "", None).await["replyCount"], 2);
    assert!(app.notifications_of("bob").await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_reply_to_an_unknown_deleted_or_malformed_id_is_not_found_and_writes_nothing() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let alice = app.signed_up_as("alice").await;
    let gone = app.posted(&alice, "soon gone").await;
    delete_post(&app, &alice, &gone).await;

    for bad in [
        gone.as_str(),
        &Uuid::now_v7().to_string(),
        "not-an-id",
        "",
        "42",
    ] {
        let payload = app.create_reply(&alice, Some(bad), "hello").await;
        assert_eq!(payload["post"], Value::Null, "{bad:?}: {payload}");
        assert_eq!(
            payload["errors"],
            json!([{"code": "NOT_FOUND", "message": "No post has this id.", "field": ["input", "replyTo"]}]),
            "{bad:?}"
        );
    }
    // Every problem is reported: an empty body and a malformed id.
    let payload = app.create_reply(&alice, Some("nope"), "   ").await;
    let mut codes = payload_codes(&payload);
    codes.sort();
    assert_eq!(codes, ["NOT_FOUND", "TEXT_EMPTY"], "{payload}");

    // Nothing was written: no post, no count.
    assert_eq!(app.profile("alice", None).await["postCount"], 0);
    assert_eq!(post::Entity::find().count(&app.db).await.unwrap(), 0);
    app.stop().await;
}

#[tokio::test]
async fn ancestors_are_the_40_nearest_farthest_first() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let tokens = app.signed_up_all(&["alice", "bob"]).await;

    // A chain of 60 posts, each replying to the one before, authors taking turns.
    let mut chain = vec![app.posted(&tokens[0], "root").await];
    for i in 1..60 {
        let parent = chain[i - 1].clone();
        chain.push(
            app.replied(&tokens[i % 2], &parent, &format!("reply {i}"))
                .await,
        );
    }
    let deepest = app
        .thread_view(&chain[59], "ancestors { id author { handle } }", None)
        .await;
    assert_eq!(ids(&deepest["ancestors"]), chain[19..59].to_vec());
    let authors = handles(
        &deepest["ancestors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["author"].clone())
            .collect(),
    );
    let expected: Vec<&str> = (19..59)
        .map(|i| if i % 2 == 0 { "alice" } else { "bob" })
        .collect();
    assert_eq!(authors, expected);
    // At most 40 deep: from the root.
    assert_eq!(app.ancestor_ids(&chain[40]).await, chain[..40].to_vec());
    assert_eq!(app.ancestor_ids(&chain[4]).await, chain[..4].to_vec());
    assert_eq!(app.ancestor_ids(&chain[1]).await, chain[..1].to_vec());
    assert!(app.ancestor_ids(&chain[0]).await.is_empty());

    // The chain stops at a deleted post.
    delete_post(&app, &tokens[0], &chain[2]).await;
    assert_eq!(app.ancestor_ids(&chain[4]).await, chain[3..4].to_vec());
    assert!(app.ancestor_ids(&chain[3]).await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn replies_are_direct_oldest_first_and_page_by_cursor() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let tokens = app.signed_up_all(&["alice", "bob", "carol"]).await;
    let parent = app.posted(&tokens[0], "parent").await;
    let mut replies = Vec::new();
    for i in 0..5 {
        replies.push(app.replied(&tokens[i % 3], &parent, &format!("r{i}")).await);
    }
    // A reply to a reply is not a direct reply.
    app.replied(&tokens[1], &replies[0], "nested").await;

    let (page, more, cursor) = app.replies_page(&parent, 2, None).await;
    assert_eq!(page, replies[..2].to_vec());
    assert!(more);
    let (page, more, cursor) = app.replies_page(&parent, 2, cursor.as_deref()).await;
    assert_eq!(page, replies[2..4].to_vec());
    assert!(more);
    let (page, more, _) = app.replies_page(&parent, 2, cursor.as_deref()).await;
    assert_eq!(page, replies[4..].to_vec());
    assert!(!more);
    let (all, more, _) = app.replies_page(&parent, 20, None).await;
    assert_eq!(all, replies);
    assert!(!more);
    assert_eq!(app.thread_view(&parent, "", None).await["replyCount"], 5);
    assert_eq!(
        app.thread_view(&replies[0], "", None).await["replyCount"],
        1
    );

    // A cursor of another list, or a `first` out of range: BAD_USER_INPUT.
    let posts = app
        .gql(
            "{ profile(handle: \"alice\") { posts(first: 1) { pageInfo { endCursor } } } }",
            json!({}),
            None,
        )
        .await;
    let foreign = posts["data"]["profile"]["posts"]["pageInfo"]["endCursor"].clone();
    for (first, after) in [
        (json!(2), foreign),
        (json!(101), Value::Null),
        (json!(-1), Value::Null),
    ] {
        let answer = app
            .gql(
                "query($id: ID!, $first: Int, $after: String) { post(id: $id) { replies(first: $first, after: $after) { edges { cursor } } } }",
                json!({"id": parent, "first": first, "after": after}),
                None,
            )
            .await;
        assert_eq!(error_codes(&answer), ["BAD_USER_INPUT"], "{answer}");
    }
    app.stop().await;
}

#[tokio::test]
async fn concurrent_replies_count_exactly_and_a_parent_deleted_meanwhile_leaves_no_half_reply() {
    let db = TestDb::fresh().await;
    let app = std::sync::Arc::new(TestApp::spawn(&db).await);
    let names: Vec<String> = (0..10).map(|i| format!("fan_{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let tokens = app.signed_up_all(&names).await;
    let author = app.signed_up_as("author").await;
    let parent = app.posted(&author, "popular").await;

    let replies_to = |parent: String| {
        let mut tasks = Vec::new();
        for token in &tokens {
            for n in 0..3 {
                let (app, token, parent) = (app.clone(), token.clone(), parent.clone());
                tasks.push(tokio::spawn(async move {
                    app.create_reply(&token, Some(&parent), &format!("reply {n}"))
                        .await
                }));
            }
        }
        tasks
    };
    for task in replies_to(parent.clone()) {
        let payload = task.await.unwrap();
        assert_eq!(payload["errors"], json!([]), "{payload}");
    }
    assert_eq!(app.thread_view(&parent, "", None).await["replyCount"], 30);
    assert_eq!(app.replies_page(&parent, 100, None).await.0.len(), 30);

    // Replies racing with the parent's deletion: each is written whole, or
    // refused with NOT_FOUND and leaves nothing.
    let doomed = app.posted(&author, "doomed").await;
    let tasks = replies_to(doomed.clone());
    delete_post(&app, &author, &doomed).await;
    let mut accepted = 0;
    for task in tasks {
        let payload = task.await.unwrap();
        if payload["errors"] == json!([]) {
            accepted += 1;
        } else {
            assert_eq!(payload_codes(&payload), ["NOT_FOUND"], "{payload}");
        }
    }
    let stored = post::Entity::find()
        .filter(post::Column::InReplyToId.eq(uuid(&doomed)))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, accepted);
    let mut post_counts = 0;
    for name in &names {
        post_counts += app.profile(name, None).await["postCount"].as_u64().unwrap();
    }
    assert_eq!(post_counts, 30 + accepted);
    if let Ok(app) = std::sync::Arc::try_unwrap(app) {
        app.stop().await;
    }
}

#[tokio::test]
async fn mentions_are_existing_handles_in_order_of_first_mention_in_any_case() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let tokens = app
        .signed_up_all(&["alice", "bob", "carol", "example", "dave"])
        .await;
    let body =
        "@Bob hi @alice, @ghost and @admin; @BOB again, mail bob@example.com, (@carol) @alice.";
    let payload = app.create_reply(&tokens[0], None, body).await;
    assert_eq!(payload["errors"], json!([]), "{payload}");
    let post = &payload["post"];
    // The author mentioning itself is listed, and not notified.
    assert_eq!(handles(&post["mentions"]), ["bob", "alice", "carol"]);
    let id = uuid(post["id"].as_str().unwrap());
    let alice = app.id_of("alice").await;
    for told in ["bob", "carol"] {
        assert_eq!(
            app.notifications_of(told).await,
            [("MENTION".to_owned(), Some(id), vec![alice])],
            "{told}"
        );
    }
    for untold in ["alice", "example", "dave"] {
        assert!(app.notifications_of(untold).await.is_empty(), "{untold}");
    }
    let rows = mention::Entity::find()
        .filter(mention::Column::PostId.eq(id))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(rows, 3);
    // A post that mentions nobody lists nobody.
    let plain = app
        .create_reply(&tokens[4], None, "no one @ all, @12345")
        .await;
    assert_eq!(plain["post"]["mentions"], json!([]), "{plain}");
    app.stop().await;
}

#[tokio::test]
async fn at_most_ten_mentioned_profiles_are_notified_the_first_ten() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let names: Vec<String> = (0..12).map(|i| format!("user_{i:02}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    app.signed_up_all(&refs).await;
    let author = app.signed_up_as("author").await;
    // The author first, then twelve others in reverse order, one twice.
    let mut body = "@author ".to_owned();
    for name in names.iter().rev() {
        body.push_str(&format!("@{name} "));
    }
    body.push_str("@user_11");
    let payload = app.create_reply(&author, None, &body).await;
    assert_eq!(payload["errors"], json!([]), "{payload}");
    let mut listed = vec!["author".to_owned()];
    listed.extend(names.iter().rev().cloned());
    assert_eq!(handles(&payload["post"]["mentions"]), listed);

    for (i, name) in names.iter().enumerate() {
        let told = app.notifications_of(name).await;
        // Reverse order: user_11 .. user_02 are the first ten after the author.
        let expected = usize::from(i >= 2);
        assert_eq!(told.len(), expected, "{name}: {told:?}");
        if let Some((kind, _, _)) = told.first() {
            assert_eq!(kind, "MENTION");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn a_reply_that_mentions_the_parents_author_tells_it_once_as_a_reply() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let tokens = app.signed_up_all(&["alice", "bob", "carol"]).await;
    let parent = app.posted(&tokens[0], "hello").await;
    let reply = app
        .replied(&tokens[1], &parent, "@ALICE @carol you both")
        .await;
    let bob = app.id_of("bob").await;
    assert_eq!(
        app.notifications_of("alice").await,
        [("REPLY".to_owned(), Some(uuid(&reply)), vec![bob])]
    );
    assert_eq!(
        app.notifications_of("carol").await,
        [("MENTION".to_owned(), Some(uuid(&reply)), vec![bob])]
    );
    assert_eq!(
        handles(&app.thread_view(&reply, "", None).await["mentions"]),
        ["alice", "carol"]
    );
    app.stop().await;
}

#[tokio::test]
async fn deleting_a_parent_keeps_its_replies_and_deleting_a_reply_counts_one_fewer() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let tokens = app.signed_up_all(&["alice", "bob", "carol"]).await;
    let root = app.posted(&tokens[0], "root").await;
    let parent = app.replied(&tokens[0], &root, "parent @carol").await;
    let r1 = app.replied(&tokens[1], &parent, "r1 @carol").await;
    let r2 = app.replied(&tokens[2], &parent, "r2").await;
    let nested = app.replied(&tokens[2], &r1, "nested").await;
    assert_eq!(app.thread_view(&parent, "", None).await["replyCount"], 2);

    // Deleting a reply: one fewer on its parent, its notifications and
    // mentions go, its own reply stays.
    delete_post(&app, &tokens[1], &r1).await;
    assert_eq!(app.thread_view(&parent, "", None).await["replyCount"], 1);
    assert_eq!(app.replies_page(&parent, 20, None).await.0, [r2.as_str()]);
    let carol_told = app.notifications_of("carol").await;
    assert_eq!(
        carol_told.len(),
        1,
        "the mention in r1 is forgotten: {carol_told:?}"
    );
    assert_eq!(carol_told[0].1, Some(uuid(&parent)));
    let alice_told = app.notifications_of("alice").await;
    assert_eq!(
        alice_told.iter().map(|n| n.1).collect::<Vec<_>>(),
        [Some(uuid(&r2))],
        "the REPLY of r1 is forgotten: {alice_told:?}"
    );
    assert_eq!(
        mention::Entity::find()
            .filter(mention::Column::PostId.eq(uuid(&r1)))
            .count(&app.db)
            .await
            .unwrap(),
        0
    );
    let orphan = app.thread_view(&nested, "ancestors { id }", None).await;
    assert_eq!(orphan["inReplyToId"], r1.as_str());
    assert_eq!(orphan["replyTo"], Value::Null);
    assert_eq!(orphan["ancestors"], json!([]));

    // Deleting the parent: its replies stay, their replyTo null, their
    // inReplyToId kept; the root counts one fewer.
    delete_post(&app, &tokens[0], &parent).await;
    let kept = app.thread_view(&r2, "ancestors { id }", None).await;
    assert_eq!(kept["id"], r2.as_str());
    assert_eq!(kept["inReplyToId"], parent.as_str());
    assert_eq!(kept["replyTo"], Value::Null);
    assert_eq!(kept["ancestors"], json!([]));
    assert_eq!(app.thread_view(&root, "", None).await["replyCount"], 0);
    assert!(app.notifications_of("carol").await.is_empty());
    app.stop().await;
}

/// `mutation(postId:)` (like, repost, unrepost) as `token`; must succeed.
async fn interact(app: &TestApp, mutation: &str, token: &str, post_id: &str) {
    let answer = app
        .gql(
            &format!("mutation($id: ID!) {{ {mutation}(postId: $id) {{ errors {{ code }} }} }}"),
            json!({"id": post_id}),
            Some(token),
        )
        .await;
    assert_eq!(answer["data"][mutation]["errors"], json!([]), "{answer}");
}

/// (likeCount, repostCount, replyCount) of a post as stored.
async fn counts(app: &TestApp, id: &str) -> (i32, i32, i32) {
    let p = post::Entity::find_by_id(uuid(id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("post {id} exists"));
    (p.like_count, p.repost_count, p.reply_count)
}

#[tokio::test]
async fn deleting_a_post_removes_its_likes_and_reposts() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let tokens = app.signed_up_all(&["alice", "bob", "carol"]).await;
    let post_id = app.posted(&tokens[0], "liked").await;
    interact(&app, "like", &tokens[1], &post_id).await;
    interact(&app, "repost", &tokens[1], &post_id).await;
    interact(&app, "repost", &tokens[2], &post_id).await;
    interact(&app, "unrepost", &tokens[2], &post_id).await;
    assert_eq!(counts(&app, &post_id).await, (1, 1, 0));
    delete_post(&app, &tokens[0], &post_id).await;
    assert_eq!(post_like::Entity::find().count(&app.db).await.unwrap(), 0);
    assert_eq!(repost::Entity::find().count(&app.db).await.unwrap(), 0);
    assert!(app.notifications_of("alice").await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn deleting_an_account_keeps_every_count_exact() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let tokens = app.signed_up_all(&["alice", "bob", "carol"]).await;
    let (alice_t, bob_t, carol_t) = (&tokens[0], &tokens[1], &tokens[2]);
    let [alice, carol] = [app.id_of("alice").await, app.id_of("carol").await];
    let p1 = app.posted(bob_t, "bob's first").await;
    let p2 = app.posted(bob_t, "bob's second").await;
    let a1 = app.posted(alice_t, "alice's own @bob").await;
    // Alice's likes and reposts (one undone) of bob's posts, carol's too.
    interact(&app, "like", alice_t, &p1).await;
    interact(&app, "like", carol_t, &p1).await;
    interact(&app, "repost", alice_t, &p1).await;
    interact(&app, "repost", carol_t, &p1).await;
    interact(&app, "repost", alice_t, &p2).await;
    interact(&app, "unrepost", alice_t, &p2).await;
    interact(&app, "like", alice_t, &p2).await;
    // Others' likes and reposts of alice's post, and alice's own.
    interact(&app, "like", carol_t, &a1).await;
    interact(&app, "repost", bob_t, &a1).await;
    interact(&app, "like", alice_t, &a1).await;
    // Replies: alice's to bob (twice to p1), to herself, bob's and carol's to alice.
    app.replied(alice_t, &p1, "one").await;
    app.replied(alice_t, &p1, "two @carol").await;
    app.replied(alice_t, &p2, "three").await;
    app.replied(alice_t, &a1, "to myself").await;
    let bob_reply = app.replied(bob_t, &a1, "to alice").await;
    let carol_post = app.posted(carol_t, "hi @alice @bob").await;
    let carol_reply = app.replied(carol_t, &p1, "carol on p1").await;
    assert_eq!(counts(&app, &p1).await, (2, 2, 3));
    assert_eq!(counts(&app, &p2).await, (1, 0, 1));

    let answer = app
        .gql(
            "mutation($i: DeleteAccountInput!) { deleteAccount(input: $i) { deleted errors { code } } }",
            json!({"i": {"currentPassword": PASSWORD}}),
            Some(alice_t),
        )
        .await;
    assert_eq!(answer["data"]["deleteAccount"]["deleted"], true, "{answer}");

    assert_eq!(
        counts(&app, &p1).await,
        (1, 1, 1),
        "carol's like, repost, reply"
    );
    assert_eq!(counts(&app, &p2).await, (0, 0, 0));
    assert_eq!(
        app.replies_page(&p1, 20, None).await.0,
        [carol_reply.as_str()]
    );
    // Replies to alice's posts stay, their parent gone.
    let orphan = app.thread_view(&bob_reply, "", None).await;
    assert_eq!(orphan["inReplyToId"], a1.as_str());
    assert_eq!(orphan["replyTo"], Value::Null);
    // Mentions of alice are gone; the others stay.
    assert_eq!(
        handles(&app.thread_view(&carol_post, "", None).await["mentions"]),
        ["bob"]
    );
    // No row of alice's or about her posts is left.
    let left = |n: u64, what: &str| assert_eq!(n, 0, "{what}");
    left(
        post_like::Entity::find()
            .filter(post_like::Column::UserId.eq(alice))
            .count(&app.db)
            .await
            .unwrap(),
        "alice's likes",
    );
    left(
        post_like::Entity::find()
            .filter(post_like::Column::PostId.eq(uuid(&a1)))
            .count(&app.db)
            .await
            .unwrap(),
        "likes of alice's post",
    );
    left(
        repost::Entity::find()
            .filter(
                sea_orm::Condition::any()
                    .add(repost::Column::UserId.eq(alice))
                    .add(repost::Column::PostId.eq(uuid(&a1))),
            )
            .count(&app.db)
            .await
            .unwrap(),
        "alice's reposts and those of her post",
    );
    left(
        mention::Entity::find()
            .filter(mention::Column::ProfileId.eq(alice))
            .count(&app.db)
            .await
            .unwrap(),
        "mentions of alice",
    );
    left(
        post::Entity::find()
            .filter(post::Column::AuthorId.eq(alice))
            .count(&app.db)
            .await
            .unwrap(),
        "alice's posts",
    );
    left(
        notification_event::Entity::find()
            .filter(notification_event::Column::ActorId.eq(alice))
            .count(&app.db)
            .await
            .unwrap(),
        "alice's notification events",
    );
    // Bob's notifications of alice's likes, reposts, replies and mention
    // are gone; carol's are still there.
    let mut expected = vec![
        ("LIKE".to_owned(), Some(uuid(&p1)), vec![carol]),
        ("REPOST".to_owned(), Some(uuid(&p1)), vec![carol]),
        ("REPLY".to_owned(), Some(uuid(&carol_reply)), vec![carol]),
        ("MENTION".to_owned(), Some(uuid(&carol_post)), vec![carol]),
    ];
    expected.sort();
    assert_eq!(app.notifications_of("bob").await, expected);
    assert!(
        profile::Entity::find_by_id(alice)
            .one(&app.db)
            .await
            .unwrap()
            .is_none()
    );
    app.stop().await;
}

#[tokio::test]
async fn anonymous_readers_read_a_thread() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let alice = app.signed_up_as("alice").await;
    let root = app.posted(&alice, "root").await;
    let mid = app.replied(&alice, &root, "mid @alice").await;
    let leaf = app.replied(&alice, &mid, "leaf").await;
    let view = app
        .thread_view(
            &mid,
            "ancestors { id } replies { edges { node { id replyTo { id } } } }",
            None,
        )
        .await;
    assert_eq!(ids(&view["ancestors"]), [root.as_str()]);
    assert_eq!(view["replies"]["edges"][0]["node"]["id"], leaf.as_str());
    assert_eq!(view["replyCount"], 1);
    assert_eq!(view["replyTo"]["id"], root.as_str());
    assert_eq!(handles(&view["mentions"]), ["alice"]);
    app.stop().await;
}
