//! Blocks, mutes, locked profiles and follow requests, the write side: each
//! mutation and its bad inputs, what a block undoes (counts exact), the
//! BLOCKED and NOT_ALLOWED refusals, requests and their answers, the
//! viewer's relation fields, and blocks racing the writes they refuse
//! (checked in the database: nothing across the block, counts equal to
//! the rows).

use std::collections::HashMap;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use sns_api::entity::{
    block, follow, follow_request, mute, notification_event, notification_group, post, post_like,
    profile, repost,
};
use uuid::Uuid;

use crate::common::*;

/// What the tests read of a profile in a payload.
const SAFETY_PROFILE: &str = "handle locked followerCount followingCount viewerFollows \
    viewerBlocks blocksViewer viewerMutes viewerRequestedFollow";

const FOLLOW_REQUESTS: &str = "query($f: Int, $a: String) { followRequests(first: $f, after: $a) \
    { edges { node { handle } } pageInfo { hasNextPage endCursor } } }";

const INBOX: &str = "{ notifications(first: 50) { edges { node { kind actorCount \
    actors(first: 10) { handle } } } } }";

/// The whole response of `mutation(handle:)` with a profile payload.
async fn on_handle(app: &TestApp, token: Option<&str>, mutation: &str, handle: &str) -> Value {
    app.gql(
        &format!(
            "mutation($h: String!) {{ {mutation}(handle: $h) {{ \
             profile {{ {SAFETY_PROFILE} }} {USER_ERROR_FIELDS} }} }}"
        ),
        json!({"h": handle}),
        token,
    )
    .await
}

/// The payload of `mutation(handle:)`, which must not be a top-level error.
async fn payload(app: &TestApp, token: &str, mutation: &str, handle: &str) -> Value {
    let body = on_handle(app, Some(token), mutation, handle).await;
    assert!(body.get("errors").is_none(), "{mutation}: {body}");
    body["data"][mutation].clone()
}

/// `payload` that must be accepted; answers the profile.
async fn done(app: &TestApp, token: &str, mutation: &str, handle: &str) -> Value {
    let payload = payload(app, token, mutation, handle).await;
    assert_eq!(
        payload["errors"],
        json!([]),
        "{mutation} {handle}: {payload}"
    );
    payload["profile"].clone()
}

/// The `follow` payload with `requested`.
async fn follow_requested(app: &TestApp, token: &str, handle: &str) -> Value {
    let body = app
        .gql(
            &format!(
                "mutation($h: String!) {{ follow(handle: $h) {{ requested \
                 profile {{ {SAFETY_PROFILE} }} {USER_ERROR_FIELDS} }} }}"
            ),
            json!({"h": handle}),
            Some(token),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["follow"].clone()
}

/// `profile(handle:)` with [`SAFETY_PROFILE`] as `token` sees it.
async fn relation_view(app: &TestApp, handle: &str, token: Option<&str>) -> Value {
    let body = app
        .gql(
            &format!("query($h: String!) {{ profile(handle: $h) {{ {SAFETY_PROFILE} }} }}"),
            json!({"h": handle}),
            token,
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["profile"].clone()
}

async fn set_locked(app: &TestApp, token: &str, locked: bool) -> Value {
    let body = app
        .gql(
            &format!(
                "mutation($i: UpdateProfileInput!) {{ updateProfile(input: $i) {{ \
                 profile {{ {SAFETY_PROFILE} }} {USER_ERROR_FIELDS} }} }}"
            ),
            json!({"i": {"locked": locked}}),
            Some(token),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["updateProfile"]["errors"], json!([]), "{body}");
    body["data"]["updateProfile"]["profile"].clone()
}

/// The payload of `like`/`repost`/... of a post.
async fn on_post(app: &TestApp, token: &str, mutation: &str, post: &str) -> Value {
    let body = app
        .gql(
            &format!(
                "mutation($p: ID!) {{ {mutation}(postId: $p) {{ post {{ id likeCount \
                 repostCount }} {USER_ERROR_FIELDS} }} }}"
            ),
            json!({"p": post}),
            Some(token),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"][mutation].clone()
}

/// The `createPost` payload of a reply to `parent`.
async fn reply(app: &TestApp, token: &str, parent: &str, text: &str) -> Value {
    let body = app
        .gql(
            &format!(
                "mutation($i: CreatePostInput!) {{ createPost(input: $i) {{ post {{ id }} \
                 {USER_ERROR_FIELDS} }} }}"
            ),
            json!({"i": {"body": text, "replyTo": parent}}),
            Some(token),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["createPost"].clone()
}

/// The handles of `followRequests`, page by page of `first`.
async fn follow_requests(app: &TestApp, token: &str, first: i64) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut after = Value::Null;
    loop {
        let body = app
            .gql(
                FOLLOW_REQUESTS,
                json!({"f": first, "a": after}),
                Some(token),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        let conn = &body["data"]["followRequests"];
        pages.push(
            conn["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["handle"].as_str().unwrap().to_owned())
                .collect(),
        );
        if conn["pageInfo"]["hasNextPage"] != json!(true) {
            return pages;
        }
        after = conn["pageInfo"]["endCursor"].clone();
    }
}

/// (kind, actor count, actors) of the viewer's notification groups.
async fn inbox_of(app: &TestApp, token: &str) -> Vec<(String, i64, Vec<String>)> {
    let body = app.gql(INBOX, json!({}), Some(token)).await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["notifications"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let n = &e["node"];
            (
                n["kind"].as_str().unwrap().to_owned(),
                n["actorCount"].as_i64().unwrap(),
                n["actors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a["handle"].as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

async fn id_of(app: &TestApp, handle: &str) -> Uuid {
    profile::Entity::find()
        .filter(profile::Column::Handle.eq(handle))
        .one(&app.db)
        .await
        .unwrap()
        .expect("a profile")
        .user_id
}

fn codes_and_fields(payload: &Value) -> Vec<(String, Value)> {
    payload["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| (e["code"].as_str().unwrap().to_owned(), e["field"].clone()))
        .collect()
}

fn one_error(code: &str, field: Value) -> Vec<(String, Value)> {
    vec![(code.to_owned(), field)]
}

/// Every count in the database equals the rows it counts: followers and
/// following, posts, likes, live reposts, replies, and each notification
/// group's actors.
async fn assert_counts_exact(app: &TestApp) {
    let follows = follow::Entity::find().all(&app.db).await.unwrap();
    let posts = post::Entity::find().all(&app.db).await.unwrap();
    let likes = post_like::Entity::find().all(&app.db).await.unwrap();
    let reposts = repost::Entity::find().all(&app.db).await.unwrap();
    for p in profile::Entity::find().all(&app.db).await.unwrap() {
        let followers = follows
            .iter()
            .filter(|f| f.followee_id == p.user_id)
            .count();
        let following = follows
            .iter()
            .filter(|f| f.follower_id == p.user_id)
            .count();
        let own = posts.iter().filter(|x| x.author_id == p.user_id).count();
        assert_eq!(p.follower_count as usize, followers, "{}", p.handle);
        assert_eq!(p.following_count as usize, following, "{}", p.handle);
        assert_eq!(p.post_count as usize, own, "{}", p.handle);
    }
    for p in &posts {
        let liked = likes.iter().filter(|l| l.post_id == p.id).count();
        let live = reposts
            .iter()
            .filter(|r| r.post_id == p.id && r.removed_at.is_none())
            .count();
        let replies = posts
            .iter()
            .filter(|r| r.in_reply_to_id == Some(p.id))
            .count();
        assert_eq!(p.like_count as usize, liked, "likes of {}", p.id);
        assert_eq!(p.repost_count as usize, live, "reposts of {}", p.id);
        assert_eq!(p.reply_count as usize, replies, "replies of {}", p.id);
    }
    let events = notification_event::Entity::find()
        .all(&app.db)
        .await
        .unwrap();
    for g in notification_group::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
    {
        let actors = events.iter().filter(|e| e.group_id == g.id).count();
        assert!(actors > 0, "an empty group stays: {g:?}");
        assert_eq!(g.actor_count as usize, actors, "{g:?}");
    }
}

/// Nothing ties `a` and `b` in the database: no follow or request either
/// way, no like or live repost of one's posts by the other, no event of
/// one in the other's inbox.
async fn assert_nothing_across(app: &TestApp, a: Uuid, b: Uuid) {
    let posts: HashMap<Uuid, Uuid> = post::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.id, p.author_id))
        .collect();
    let groups: HashMap<Uuid, Uuid> = notification_group::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|g| (g.id, g.recipient_id))
        .collect();
    let across = |x: Uuid, y: Uuid| (x == a && y == b) || (x == b && y == a);
    for f in follow::Entity::find().all(&app.db).await.unwrap() {
        assert!(!across(f.follower_id, f.followee_id), "a follow: {f:?}");
    }
    for r in follow_request::Entity::find().all(&app.db).await.unwrap() {
        assert!(!across(r.requester_id, r.target_id), "a request: {r:?}");
    }
    for l in post_like::Entity::find().all(&app.db).await.unwrap() {
        assert!(!across(l.user_id, posts[&l.post_id]), "a like: {l:?}");
    }
    for r in repost::Entity::find().all(&app.db).await.unwrap() {
        let live = r.removed_at.is_none();
        assert!(
            !(live && across(r.user_id, posts[&r.post_id])),
            "a repost: {r:?}"
        );
    }
    for e in notification_event::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
    {
        assert!(!across(e.actor_id, groups[&e.group_id]), "an event: {e:?}");
    }
}

async fn rows_between(app: &TestApp) -> (usize, usize, usize) {
    (
        block::Entity::find().all(&app.db).await.unwrap().len(),
        mute::Entity::find().all(&app.db).await.unwrap().len(),
        follow_request::Entity::find()
            .all(&app.db)
            .await
            .unwrap()
            .len(),
    )
}

#[tokio::test]
async fn every_safety_mutation_and_follow_requests_require_a_token() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    app.signed_up_all(&["alice"]).await;
    for mutation in [
        "block",
        "unblock",
        "mute",
        "unmute",
        "approveFollowRequest",
        "rejectFollowRequest",
    ] {
        let body = on_handle(&app, None, mutation, "alice").await;
        assert_eq!(
            error_codes(&body),
            ["UNAUTHENTICATED"],
            "{mutation}: {body}"
        );
    }
    let body = app.gql(FOLLOW_REQUESTS, json!({}), None).await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{body}");
    assert_eq!(rows_between(&app).await, (0, 0, 0));
}

#[tokio::test]
async fn unknown_handles_oneself_repeats_and_missing_requests_answer_as_the_contract_says() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let t = app.signed_up_all(&["alice", "bob"]).await;
    for mutation in [
        "block",
        "unblock",
        "mute",
        "unmute",
        "approveFollowRequest",
        "rejectFollowRequest",
    ] {
        for handle in ["nobody_here", "not a handle!"] {
            let payload = payload(&app, &t[0], mutation, handle).await;
            assert_eq!(
                codes_and_fields(&payload),
                one_error("NOT_FOUND", json!(["handle"])),
                "{mutation} {handle}"
            );
            assert_eq!(payload["profile"], Value::Null);
        }
    }
    for mutation in ["block", "mute"] {
        let body = on_handle(&app, Some(&t[0]), mutation, "ALICE").await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{mutation}: {body}");
    }
    // Lifting what was never there changes nothing and is no error.
    for mutation in ["unblock", "unmute"] {
        let profile = done(&app, &t[0], mutation, "bob").await;
        assert_eq!(profile["handle"], "bob");
        assert_eq!(profile["viewerBlocks"], false);
        assert_eq!(profile["viewerMutes"], false);
    }
    // Twice: one row each.
    for _ in 0..2 {
        assert_eq!(
            done(&app, &t[0], "block", "bob").await["viewerBlocks"],
            true
        );
        assert_eq!(done(&app, &t[0], "mute", "bob").await["viewerMutes"], true);
    }
    assert_eq!(rows_between(&app).await, (1, 1, 0));
    // No request: NOT_FOUND, from either side, oneself too.
    for (token, handle) in [(&t[1], "alice"), (&t[0], "bob"), (&t[0], "alice")] {
        for mutation in ["approveFollowRequest", "rejectFollowRequest"] {
            let payload = payload(&app, token, mutation, handle).await;
            assert_eq!(
                codes_and_fields(&payload),
                one_error("NOT_FOUND", json!(["handle"])),
                "{mutation} {handle}"
            );
        }
    }
    done(&app, &t[0], "unblock", "bob").await;
    done(&app, &t[0], "unmute", "bob").await;
    assert_eq!(rows_between(&app).await, (0, 0, 0));
}

#[tokio::test]
async fn a_block_ends_follows_requests_likes_reposts_and_notifications_between_the_two() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let t = app.signed_up_all(&["alice", "bob", "carol", "erin"]).await;
    let (alice, bob, carol) = (&t[0], &t[1], &t[2]);
    app.follow(alice, "bob").await;
    app.follow(bob, "alice").await;
    app.follow(carol, "alice").await;
    app.follow(carol, "bob").await;
    let of_bob = app.posted(bob, "bob's post").await;
    let of_alice = app.posted(alice, "alice's post").await;
    for (token, post) in [(alice, &of_bob), (bob, &of_alice)] {
        for mutation in ["like", "repost"] {
            let payload = on_post(&app, token, mutation, post).await;
            assert_eq!(payload["errors"], json!([]), "{payload}");
        }
    }
    for mutation in ["like", "repost"] {
        on_post(&app, carol, mutation, &of_bob).await;
        on_post(&app, carol, mutation, &of_alice).await;
    }
    let reply = reply(&app, bob, &of_alice, "a reply @alice").await;
    assert_eq!(reply["errors"], json!([]));
    // Requests both ways between alice and erin, both locked.
    set_locked(&app, &t[3], true).await;
    set_locked(&app, alice, true).await;
    assert_eq!(
        follow_requested(&app, alice, "erin").await["requested"],
        true
    );
    assert_eq!(
        follow_requested(&app, &t[3], "alice").await["requested"],
        true
    );

    let blocked = done(&app, alice, "block", "bob").await;
    assert_eq!(blocked["viewerBlocks"], true);
    assert_eq!(blocked["blocksViewer"], false);
    assert_eq!(blocked["viewerFollows"], false);
    assert_eq!(blocked["followerCount"], 1, "carol alone");
    assert_eq!(blocked["followingCount"], 0);
    let blocker = relation_view(&app, "alice", Some(bob)).await;
    assert_eq!(blocker["blocksViewer"], true);
    assert_eq!(blocker["viewerBlocks"], false);
    assert_eq!(blocker["followerCount"], 1);
    assert_eq!(blocker["followingCount"], 0);
    let (a, b) = (id_of(&app, "alice").await, id_of(&app, "bob").await);
    assert_nothing_across(&app, a, b).await;
    assert_counts_exact(&app).await;
    for post in [&of_bob, &of_alice] {
        let payload = on_post(&app, carol, "like", post).await;
        assert_eq!(payload["post"]["likeCount"], 1, "carol's like stays");
        assert_eq!(payload["post"]["repostCount"], 1, "carol's repost stays");
    }
    // The reply stays, its notification does not.
    let replies: Vec<_> = post::Entity::find()
        .filter(post::Column::AuthorId.eq(b))
        .filter(post::Column::InReplyToId.is_not_null())
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(replies.len(), 1);
    let inbox = inbox_of(&app, alice).await;
    assert!(
        inbox
            .iter()
            .all(|(_, _, actors)| !actors.contains(&"bob".to_owned())),
        "{inbox:?}"
    );
    assert!(
        inbox.iter().all(|(kind, _, _)| kind != "REPLY"),
        "{inbox:?}"
    );
    let kinds: Vec<&str> = inbox.iter().map(|(k, _, _)| k.as_str()).collect();
    assert!(kinds.contains(&"FOLLOW"), "carol's follow stays: {inbox:?}");
    assert!(
        kinds.contains(&"FOLLOW_REQUEST"),
        "erin's request stays: {inbox:?}"
    );
    assert!(
        inbox_of(&app, bob)
            .await
            .iter()
            .all(|(_, _, actors)| !actors.contains(&"alice".to_owned()))
    );

    // Blocking erin takes the requests both ways and their notifications.
    done(&app, alice, "block", "erin").await;
    let e = id_of(&app, "erin").await;
    assert_nothing_across(&app, a, e).await;
    assert_eq!(
        follow_requests(&app, alice, 10).await,
        [Vec::<String>::new()]
    );
    assert!(
        inbox_of(&app, alice)
            .await
            .iter()
            .all(|(kind, _, _)| kind != "FOLLOW_REQUEST")
    );
    // Unblocking brings no follow back.
    let unblocked = done(&app, alice, "unblock", "bob").await;
    assert_eq!(unblocked["viewerBlocks"], false);
    assert_eq!(unblocked["viewerFollows"], false);
    assert_eq!(unblocked["followerCount"], 1);
    assert_counts_exact(&app).await;
}

#[tokio::test]
async fn neither_side_can_follow_like_repost_or_reply_across_a_block() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let t = app.signed_up_all(&["alice", "bob"]).await;
    let of_alice = app.posted(&t[0], "alice's post").await;
    let of_bob = app.posted(&t[1], "bob's post").await;
    done(&app, &t[0], "block", "bob").await;
    for (token, other, post) in [(&t[0], "bob", &of_bob), (&t[1], "alice", &of_alice)] {
        let follow = follow_requested(&app, token, other).await;
        assert_eq!(
            codes_and_fields(&follow),
            one_error("BLOCKED", json!(["handle"]))
        );
        assert_eq!(follow["profile"], Value::Null);
        for mutation in ["like", "repost"] {
            let payload = on_post(&app, token, mutation, post).await;
            assert_eq!(
                codes_and_fields(&payload),
                one_error("BLOCKED", json!(["postId"])),
                "{mutation}"
            );
            assert_eq!(payload["post"], Value::Null);
        }
        // Taking back is never refused.
        for mutation in ["unlike", "unrepost"] {
            let payload = on_post(&app, token, mutation, post).await;
            assert_eq!(payload["errors"], json!([]), "{mutation}: {payload}");
        }
        let reply = reply(&app, token, post, "a reply").await;
        assert_eq!(
            codes_and_fields(&reply),
            one_error("BLOCKED", json!(["input", "replyTo"]))
        );
    }
    let (a, b) = (id_of(&app, "alice").await, id_of(&app, "bob").await);
    assert_nothing_across(&app, a, b).await;
    assert_counts_exact(&app).await;
    assert_eq!(post::Entity::find().all(&app.db).await.unwrap().len(), 2);
    // Lifted: each may again.
    done(&app, &t[0], "unblock", "bob").await;
    assert_eq!(
        follow_requested(&app, &t[1], "alice").await["errors"],
        json!([])
    );
    assert_eq!(
        on_post(&app, &t[0], "like", &of_bob).await["errors"],
        json!([])
    );
    assert_eq!(reply(&app, &t[0], &of_bob, "hi").await["errors"], json!([]));
    assert_counts_exact(&app).await;
}

#[tokio::test]
async fn a_locked_profile_gets_requests_that_its_owner_lists_approves_and_rejects() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let t = app
        .signed_up_all(&["alice", "bob", "carol", "dave", "erin"])
        .await;
    let alice = &t[0];
    app.follow(&t[4], "alice").await;
    let locked = set_locked(&app, alice, true).await;
    assert_eq!(locked["locked"], true);
    // A follower stays one, and following again is no request.
    let again = follow_requested(&app, &t[4], "alice").await;
    assert_eq!(again["requested"], false);
    assert_eq!(again["profile"]["viewerFollows"], true);
    for token in &t[1..4] {
        let payload = follow_requested(&app, token, "alice").await;
        assert_eq!(payload["errors"], json!([]), "{payload}");
        assert_eq!(payload["requested"], true);
        assert_eq!(payload["profile"]["viewerFollows"], false);
        assert_eq!(payload["profile"]["viewerRequestedFollow"], true);
        assert_eq!(payload["profile"]["followerCount"], 1);
    }
    // Asking again changes nothing.
    assert_eq!(
        follow_requested(&app, &t[1], "alice").await["requested"],
        true
    );
    assert_eq!(rows_between(&app).await, (0, 0, 3));
    let inbox = inbox_of(&app, alice).await;
    let requests: Vec<_> = inbox
        .iter()
        .filter(|(k, _, _)| k == "FOLLOW_REQUEST")
        .collect();
    assert_eq!(requests.len(), 1, "one group a day: {inbox:?}");
    assert_eq!(requests[0].1, 3);
    assert_eq!(requests[0].2, ["dave", "carol", "bob"]);
    assert_eq!(
        follow_requests(&app, alice, 2).await,
        [vec!["dave", "carol"], vec!["bob"]]
    );
    assert_eq!(
        follow_requests(&app, &t[1], 20).await,
        [Vec::<String>::new()]
    );

    let approved = done(&app, alice, "approveFollowRequest", "bob").await;
    assert_eq!(approved["handle"], "bob");
    assert_eq!(approved["followingCount"], 1);
    let rejected = done(&app, alice, "rejectFollowRequest", "carol").await;
    assert_eq!(rejected["handle"], "carol");
    assert_eq!(rejected["followingCount"], 0);
    // Answered once: not again.
    for (mutation, handle) in [
        ("approveFollowRequest", "bob"),
        ("rejectFollowRequest", "carol"),
    ] {
        let payload = payload(&app, alice, mutation, handle).await;
        assert_eq!(
            codes_and_fields(&payload),
            one_error("NOT_FOUND", json!(["handle"]))
        );
    }
    let bob_sees = relation_view(&app, "alice", Some(&t[1])).await;
    assert_eq!(bob_sees["viewerFollows"], true);
    assert_eq!(bob_sees["viewerRequestedFollow"], false);
    assert_eq!(bob_sees["followerCount"], 2);
    let carol_sees = relation_view(&app, "alice", Some(&t[2])).await;
    assert_eq!(carol_sees["viewerFollows"], false);
    assert_eq!(carol_sees["viewerRequestedFollow"], false);
    // Dave withdraws: unfollow cancels the request.
    let withdrawn = app.follow_as(&t[3], "unfollow", "alice").await;
    assert_eq!(withdrawn["errors"], json!([]));
    assert_eq!(
        follow_requests(&app, alice, 20).await,
        [Vec::<String>::new()]
    );
    // The approval made no FOLLOW notification; the request events went.
    let inbox = inbox_of(&app, alice).await;
    assert!(
        inbox.iter().all(|(k, _, _)| k != "FOLLOW_REQUEST"),
        "{inbox:?}"
    );
    let follows: Vec<_> = inbox.iter().filter(|(k, _, _)| k == "FOLLOW").collect();
    assert_eq!(follows.len(), 1, "{inbox:?}");
    assert_eq!(follows[0].2, ["erin"]);
    assert_eq!(rows_between(&app).await, (0, 0, 0));
    assert_counts_exact(&app).await;
}

#[tokio::test]
async fn unlocking_approves_every_pending_request_with_exact_counts() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let handles = ["alice", "bob", "carol", "dave", "erin", "frank"];
    let t = app.signed_up_all(&handles).await;
    set_locked(&app, &t[0], true).await;
    for token in &t[1..] {
        assert_eq!(
            follow_requested(&app, token, "alice").await["requested"],
            true
        );
    }
    let unlocked = set_locked(&app, &t[0], false).await;
    assert_eq!(unlocked["locked"], false);
    assert_eq!(unlocked["followerCount"], 5);
    assert_eq!(
        follow_requests(&app, &t[0], 20).await,
        [Vec::<String>::new()]
    );
    for (token, handle) in t[1..].iter().zip(&handles[1..]) {
        let seen = relation_view(&app, "alice", Some(token)).await;
        assert_eq!(seen["viewerFollows"], true, "{handle}");
        assert_eq!(seen["viewerRequestedFollow"], false, "{handle}");
        let own = relation_view(&app, handle, None).await;
        assert_eq!(own["followingCount"], 1, "{handle}");
    }
    assert!(inbox_of(&app, &t[0]).await.is_empty());
    // Unlocked, a follow is a follow.
    app.unfollow(&t[1], "alice").await;
    assert_eq!(
        follow_requested(&app, &t[1], "alice").await["requested"],
        false
    );
    assert_eq!(rows_between(&app).await, (0, 0, 0));
    assert_counts_exact(&app).await;
}

#[tokio::test]
async fn a_locked_post_is_reposted_by_its_author_alone_and_liked_by_followers() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let t = app.signed_up_all(&["alice", "bob", "carol"]).await;
    app.follow(&t[1], "alice").await;
    set_locked(&app, &t[0], true).await;
    let post = app.posted(&t[0], "for followers").await;
    let refused = on_post(&app, &t[1], "repost", &post).await;
    assert_eq!(
        codes_and_fields(&refused),
        one_error("NOT_ALLOWED", json!(["postId"]))
    );
    assert_eq!(refused["post"], Value::Null);
    assert_eq!(
        on_post(&app, &t[1], "like", &post).await["errors"],
        json!([])
    );
    assert_eq!(reply(&app, &t[1], &post, "hi").await["errors"], json!([]));
    let own = on_post(&app, &t[0], "repost", &post).await;
    assert_eq!(own["errors"], json!([]));
    assert_eq!(own["post"]["repostCount"], 1);
    // Not a follower: the post is not there for carol.
    for mutation in ["like", "repost"] {
        let payload = on_post(&app, &t[2], mutation, &post).await;
        assert_eq!(
            codes_and_fields(&payload),
            one_error("NOT_FOUND", json!(["postId"])),
            "{mutation}"
        );
    }
    let reply = reply(&app, &t[2], &post, "hi").await;
    assert_eq!(
        codes_and_fields(&reply),
        one_error("NOT_FOUND", json!(["input", "replyTo"]))
    );
    assert_counts_exact(&app).await;
}

#[tokio::test]
async fn the_relation_fields_answer_for_the_viewer_and_false_anonymously_or_on_its_own_profile() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let t = app.signed_up_all(&["alice", "bob", "carol"]).await;
    let fields = |v: &Value| {
        [
            v["viewerBlocks"].clone(),
            v["blocksViewer"].clone(),
            v["viewerMutes"].clone(),
            v["viewerRequestedFollow"].clone(),
        ]
    };
    let none = [json!(false), json!(false), json!(false), json!(false)];
    assert_eq!(fields(&relation_view(&app, "bob", Some(&t[0])).await), none);
    done(&app, &t[0], "block", "bob").await;
    done(&app, &t[0], "mute", "carol").await;
    set_locked(&app, &t[2], true).await;
    follow_requested(&app, &t[0], "carol").await;
    let (t_, f_) = (json!(true), json!(false));
    assert_eq!(
        fields(&relation_view(&app, "bob", Some(&t[0])).await),
        [t_.clone(), f_.clone(), f_.clone(), f_.clone()]
    );
    assert_eq!(
        fields(&relation_view(&app, "alice", Some(&t[1])).await),
        [f_.clone(), t_.clone(), f_.clone(), f_.clone()]
    );
    assert_eq!(
        fields(&relation_view(&app, "carol", Some(&t[0])).await),
        [f_.clone(), f_.clone(), t_.clone(), t_.clone()]
    );
    for handle in ["alice", "bob", "carol"] {
        assert_eq!(
            fields(&relation_view(&app, handle, None).await),
            none,
            "{handle}"
        );
    }
    assert_eq!(
        fields(&relation_view(&app, "alice", Some(&t[0])).await),
        none
    );
    // Several profiles in one request: each answers for itself.
    let body = app
        .gql(
            "{ a: profile(handle: \"bob\") { viewerBlocks } \
             b: profile(handle: \"carol\") { viewerMutes viewerRequestedFollow } }",
            json!({}),
            Some(&t[0]),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["a"]["viewerBlocks"], true);
    assert_eq!(body["data"]["b"]["viewerMutes"], true);
    assert_eq!(body["data"]["b"]["viewerRequestedFollow"], true);
}

/// Alice's profile, posts included, as `token` sees it.
async fn alice_as_seen_by(app: &TestApp, token: &str) -> Value {
    let body = app
        .gql(
            &format!(
                "{{ profile(handle: \"alice\") {{ {PROFILE_FIELDS} {SAFETY_PROFILE} \
                 posts {{ nodes {{ id likeCount viewerHasLiked }} }} }} }}"
            ),
            json!({}),
            Some(token),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    body
}

#[tokio::test]
async fn a_mute_is_invisible_to_the_muted_account() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let t = app.signed_up_all(&["alice", "bob"]).await;
    app.follow(&t[1], "alice").await;
    app.follow(&t[0], "bob").await;
    let post = app.posted(&t[0], "hello").await;
    on_post(&app, &t[1], "like", &post).await;
    let before = alice_as_seen_by(&app, &t[1]).await;
    let muted = done(&app, &t[0], "mute", "bob").await;
    assert_eq!(muted["viewerMutes"], true);
    assert_eq!(muted["viewerFollows"], true, "a mute ends nothing");
    assert_eq!(muted["followerCount"], 1);
    assert_eq!(
        alice_as_seen_by(&app, &t[1]).await,
        before,
        "bob sees alice as before"
    );
    assert_eq!(
        relation_view(&app, "bob", Some(&t[0])).await["viewerMutes"],
        true
    );
    // Bob may still do everything.
    assert_eq!(
        on_post(&app, &t[1], "repost", &post).await["errors"],
        json!([])
    );
    assert_eq!(
        reply(&app, &t[1], &post, "still here").await["errors"],
        json!([])
    );
    assert_eq!(
        follow_requested(&app, &t[1], "alice").await["errors"],
        json!([])
    );
    done(&app, &t[0], "unmute", "bob").await;
    assert_eq!(
        relation_view(&app, "bob", Some(&t[0])).await["viewerMutes"],
        false
    );
    assert_counts_exact(&app).await;
}

#[tokio::test]
async fn a_deleted_account_takes_its_blocks_mutes_and_requests_either_side() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let t = app.signed_up_all(&["alice", "bob", "carol", "dave"]).await;
    done(&app, &t[0], "block", "bob").await;
    done(&app, &t[2], "block", "alice").await;
    done(&app, &t[1], "mute", "alice").await;
    done(&app, &t[0], "mute", "dave").await;
    set_locked(&app, &t[0], true).await;
    set_locked(&app, &t[3], true).await;
    assert_eq!(
        follow_requested(&app, &t[3], "alice").await["requested"],
        true
    );
    assert_eq!(
        follow_requested(&app, &t[0], "dave").await["requested"],
        true
    );
    // Between others: these stay.
    done(&app, &t[1], "block", "dave").await;
    done(&app, &t[2], "mute", "dave").await;
    assert_eq!(rows_between(&app).await, (3, 3, 2));
    let body = app
        .gql(
            "mutation($i: DeleteAccountInput!) { deleteAccount(input: $i) { deleted errors { code } } }",
            json!({"i": {"currentPassword": PASSWORD}}),
            Some(&t[0]),
        )
        .await;
    assert_eq!(body["data"]["deleteAccount"]["deleted"], true, "{body}");
    assert_eq!(rows_between(&app).await, (1, 1, 0));
    assert_counts_exact(&app).await;
}

/// What races the block.
#[derive(Debug, Clone, Copy)]
enum Racer {
    Follow,
    Like,
    Repost,
    Reply,
}

/// `actor` does `racer` to `other` 20 times at once (a follow: ten each
/// way; the rest: each of `other`'s 20 posts), while `blocker` (one of the
/// two) blocks the other, sent in the middle; then nothing is across the
/// block and every count equals its rows. A reply that committed before
/// the block stays (a block keeps replies), without its REPLY notification.
async fn race(app: &TestApp, names: [&str; 2], blocker_is_actor: bool, racer: Racer) {
    let tokens = app.signed_up_all(&names).await;
    let (actor, other) = (&tokens[0], &tokens[1]);
    let mut posts = Vec::new();
    if !matches!(racer, Racer::Follow) {
        for i in 0..20 {
            posts.push(app.posted(other, &format!("post {i}")).await);
        }
    }
    let mut requests: Vec<(String, Value, Option<String>)> = (0..20)
        .map(|i| match racer {
            Racer::Follow => {
                let (token, handle) = if i % 2 == 0 {
                    (actor, names[1])
                } else {
                    (other, names[0])
                };
                (
                    "mutation($h: String!) { follow(handle: $h) { errors { code } } }".to_owned(),
                    json!({"h": handle}),
                    Some(token.clone()),
                )
            }
            Racer::Like | Racer::Repost => (
                format!(
                    "mutation($p: ID!) {{ {}(postId: $p) {{ errors {{ code }} }} }}",
                    if matches!(racer, Racer::Like) {
                        "like"
                    } else {
                        "repost"
                    }
                ),
                json!({"p": posts[i]}),
                Some(actor.clone()),
            ),
            Racer::Reply => (
                "mutation($i: CreatePostInput!) { createPost(input: $i) { errors { code } } }"
                    .to_owned(),
                json!({"i": {"body": format!("reply {i}"), "replyTo": posts[i]}}),
                Some(actor.clone()),
            ),
        })
        .collect();
    let (blocker, blocked) = if blocker_is_actor {
        (actor, names[1])
    } else {
        (other, names[0])
    };
    requests.insert(
        10,
        (
            "mutation($h: String!) { block(handle: $h) { errors { code } } }".to_owned(),
            json!({"h": blocked}),
            Some(blocker.clone()),
        ),
    );
    for body in all_at_once(app, requests).await {
        assert!(body.get("errors").is_none(), "{racer:?}: {body}");
        let payload = body["data"].as_object().unwrap().values().next().unwrap();
        for code in payload_codes(payload) {
            assert_eq!(code, "BLOCKED", "{racer:?}: {body}");
        }
    }
    let (a, b) = (id_of(app, names[0]).await, id_of(app, names[1]).await);
    assert_eq!(
        block::Entity::find().all(&app.db).await.unwrap().len(),
        1,
        "{racer:?}"
    );
    assert_nothing_across(app, a, b).await;
    assert_counts_exact(app).await;
    if matches!(racer, Racer::Reply) {
        // Replies that committed first stay; each of `other`'s inbox is
        // without them (a block takes each side's events out).
        let groups = notification_group::Entity::find()
            .filter(notification_group::Column::RecipientId.eq(b))
            .all(&app.db)
            .await
            .unwrap();
        assert!(groups.iter().all(|g| g.kind != "REPLY"), "{groups:?}");
    }
    // Refused from now on, whatever committed before.
    for post in posts.iter().take(1) {
        let kind = match racer {
            Racer::Reply => reply(app, actor, post, "late").await,
            Racer::Repost => on_post(app, actor, "repost", post).await,
            _ => on_post(app, actor, "like", post).await,
        };
        assert_eq!(payload_codes(&kind), ["BLOCKED"]);
    }
    done(app, blocker, "unblock", blocked).await;
}

async fn race_both_ways(racer: Racer) {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    race(&app, ["alice", "bob"], true, racer).await;
    race(&app, ["carol", "dave"], false, racer).await;
}

#[tokio::test]
async fn a_block_racing_twenty_follows_leaves_no_follow_and_exact_counts() {
    race_both_ways(Racer::Follow).await;
}

#[tokio::test]
async fn a_block_racing_twenty_likes_leaves_no_like_and_exact_counts() {
    race_both_ways(Racer::Like).await;
}

#[tokio::test]
async fn a_block_racing_twenty_reposts_leaves_no_live_repost_and_exact_counts() {
    race_both_ways(Racer::Repost).await;
}

#[tokio::test]
async fn a_block_racing_twenty_replies_leaves_no_reply_notification_and_exact_counts() {
    race_both_ways(Racer::Reply).await;
}
