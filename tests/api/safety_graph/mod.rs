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

mod blocks;
mod races;
mod requests;

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
