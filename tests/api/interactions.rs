//! Likes and reposts, field by field and mutation by mutation, with their
//! bad inputs: idempotence, exact counts under concurrency, `viewerHas*`,
//! `likedBy`, and the LIKE/REPOST notifications they write.

use serde_json::{Value, json};

use crate::common::*;

const POST_FIELDS: &str = "id likeCount repostCount viewerHasLiked viewerHasReposted";

impl TestApp {
    /// The payload of `mutation(postId:)`: the post with [`POST_FIELDS`], and errors.
    async fn interact(&self, token: &str, mutation: &str, post: &str) -> Value {
        let body = self
            .gql(
                &format!(
                    "mutation($p: ID!) {{ {mutation}(postId: $p) {{ post {{ {POST_FIELDS} }} \
                     {USER_ERROR_FIELDS} }} }}"
                ),
                json!({"p": post}),
                Some(token),
            )
            .await;
        assert!(body.get("errors").is_none(), "no top-level error: {body}");
        body["data"][mutation].clone()
    }

    /// `interact` that must be accepted; answers the post.
    async fn interacted(&self, token: &str, mutation: &str, post: &str) -> Value {
        let payload = self.interact(token, mutation, post).await;
        assert_eq!(payload["errors"], json!([]), "{mutation}: {payload}");
        payload["post"].clone()
    }

    /// `post(id:)` with [`POST_FIELDS`] as `token` sees it.
    async fn post_view(&self, id: &str, token: Option<&str>) -> Value {
        let body = self
            .gql(
                &format!("query($id: ID!) {{ post(id: $id) {{ {POST_FIELDS} }} }}"),
                json!({"id": id}),
                token,
            )
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        body["data"]["post"].clone()
    }

    /// The handles of `likedBy` of a post, page by page of `first`.
    async fn liked_by(&self, id: &str, first: i64) -> Vec<String> {
        let mut handles = Vec::new();
        let mut after = Value::Null;
        loop {
            let body = self
                .gql(
                    "query($id: ID!, $f: Int, $a: String) { post(id: $id) { likedBy(first: $f, after: $a) { edges { node { handle } } pageInfo { hasNextPage endCursor } } } }",
                    json!({"id": id, "f": first, "a": after}),
                    None,
                )
                .await;
            assert!(body.get("errors").is_none(), "{body}");
            let conn = &body["data"]["post"]["likedBy"];
            for e in conn["edges"].as_array().unwrap() {
                handles.push(e["node"]["handle"].as_str().unwrap().to_owned());
            }
            if conn["pageInfo"]["hasNextPage"] != json!(true) {
                return handles;
            }
            after = conn["pageInfo"]["endCursor"].clone();
        }
    }
}

/// (kind, post id, actor count) of the viewer's notification groups, read
/// from the database (the inbox's own tests read it through GraphQL).
async fn groups_of(app: &TestApp, handle: &str) -> Vec<(String, Option<String>, i32)> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    use sns_api::entity::{notification_group, profile};
    let recipient = profile::Entity::find()
        .filter(profile::Column::Handle.eq(handle))
        .one(&app.db)
        .await
        .unwrap()
        .expect("the profile")
        .user_id;
    notification_group::Entity::find()
        .filter(notification_group::Column::RecipientId.eq(recipient))
        .order_by_desc(notification_group::Column::TopId)
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|g| (g.kind, g.post_id.map(|p| p.to_string()), g.actor_count))
        .collect()
}

#[tokio::test]
async fn like_and_unlike_are_idempotent_and_counted() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let (author, fan) = (
        app.signed_up_as("lk_author").await,
        app.signed_up_as("lk_fan").await,
    );
    let post = app.posted(&author, "like me").await;

    let p = app.interacted(&fan, "like", &post).await;
    assert_eq!(p["likeCount"], 1);
    assert_eq!(p["viewerHasLiked"], true);
    assert_eq!(p["viewerHasReposted"], false);
    // Liking twice changes nothing.
    let p = app.interacted(&fan, "like", &post).await;
    assert_eq!(p["likeCount"], 1);
    // The author sees the count, and that it has not liked it itself.
    let seen = app.post_view(&post, Some(&author)).await;
    assert_eq!(
        (seen["likeCount"].clone(), seen["viewerHasLiked"].clone()),
        (json!(1), json!(false))
    );
    // Anonymous readers read the counts; viewerHasLiked is false.
    let anon = app.post_view(&post, None).await;
    assert_eq!(
        (anon["likeCount"].clone(), anon["viewerHasLiked"].clone()),
        (json!(1), json!(false))
    );
    assert_eq!(app.liked_by(&post, 20).await, ["lk_fan"]);

    let p = app.interacted(&fan, "unlike", &post).await;
    assert_eq!(
        (p["likeCount"].clone(), p["viewerHasLiked"].clone()),
        (json!(0), json!(false))
    );
    // Unliking what is not liked changes nothing, and is no error.
    let p = app.interacted(&fan, "unlike", &post).await;
    assert_eq!(p["likeCount"], 0);
    let never = app.posted(&author, "never liked").await;
    assert_eq!(app.interacted(&fan, "unlike", &never).await["likeCount"], 0);
    assert!(app.liked_by(&post, 20).await.is_empty());
    // The author may like its own post; nobody is notified of it.
    assert_eq!(
        app.interacted(&author, "like", &never).await["likeCount"],
        1
    );
    assert!(groups_of(&app, "lk_author").await.is_empty());
}

#[tokio::test]
async fn repost_and_unrepost_are_idempotent_and_counted() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let (author, fan) = (
        app.signed_up_as("rp_author").await,
        app.signed_up_as("rp_fan").await,
    );
    let post = app.posted(&author, "share me").await;

    let p = app.interacted(&fan, "repost", &post).await;
    assert_eq!(
        (p["repostCount"].clone(), p["viewerHasReposted"].clone()),
        (json!(1), json!(true))
    );
    assert_eq!(
        app.interacted(&fan, "repost", &post).await["repostCount"],
        1
    );
    assert_eq!(
        groups_of(&app, "rp_author").await,
        [("REPOST".to_owned(), Some(post.clone()), 1)]
    );

    let p = app.interacted(&fan, "unrepost", &post).await;
    assert_eq!(
        (p["repostCount"].clone(), p["viewerHasReposted"].clone()),
        (json!(0), json!(false))
    );
    assert_eq!(
        app.interacted(&fan, "unrepost", &post).await["repostCount"],
        0
    );
    // The undone repost's group is gone with its only actor.
    assert!(groups_of(&app, "rp_author").await.is_empty());

    // Reposting again counts again, and notifies again.
    let p = app.interacted(&fan, "repost", &post).await;
    assert_eq!(
        (p["repostCount"].clone(), p["viewerHasReposted"].clone()),
        (json!(1), json!(true))
    );
    assert_eq!(groups_of(&app, "rp_author").await.len(), 1);
    // One's own post may be reposted too.
    assert_eq!(
        app.interacted(&author, "repost", &post).await["repostCount"],
        2
    );
}

#[tokio::test]
async fn unknown_malformed_and_deleted_posts_are_not_found_on_postid() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let (author, fan) = (
        app.signed_up_as("nf_author").await,
        app.signed_up_as("nf_fan").await,
    );
    let deleted = app.posted(&author, "soon gone").await;
    let body = app
        .gql(
            "mutation($id: ID!) { deletePost(id: $id) { deleted } }",
            json!({"id": deleted}),
            Some(&author),
        )
        .await;
    assert_eq!(body["data"]["deletePost"]["deleted"], true, "{body}");

    let unknown = uuid::Uuid::now_v7().to_string();
    for mutation in ["like", "unlike", "repost", "unrepost"] {
        for id in [unknown.as_str(), "not-a-uuid", "", deleted.as_str()] {
            let payload = app.interact(&fan, mutation, id).await;
            assert!(payload["post"].is_null(), "{mutation} {id:?}: {payload}");
            let errors = payload["errors"].as_array().unwrap();
            assert_eq!(errors.len(), 1, "{mutation} {id:?}: {payload}");
            assert_eq!(errors[0]["code"], "NOT_FOUND");
            assert_eq!(errors[0]["field"], json!(["postId"]));
            assert!(!errors[0]["message"].as_str().unwrap().is_empty());
        }
    }
    // Nothing was written for any of them.
    assert!(groups_of(&app, "nf_author").await.is_empty());
}

#[tokio::test]
async fn interactions_require_a_token() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let author = app.signed_up_as("tk_author").await;
    let post = app.posted(&author, "hello").await;
    for mutation in ["like", "unlike", "repost", "unrepost"] {
        let body = app
            .gql(
                &format!("mutation($p: ID!) {{ {mutation}(postId: $p) {{ post {{ id }} }} }}"),
                json!({"p": post}),
                None,
            )
            .await;
        assert_eq!(
            error_codes(&body),
            ["UNAUTHENTICATED"],
            "{mutation}: {body}"
        );
    }
    assert_eq!(app.post_view(&post, None).await["likeCount"], 0);
}

/// 50 accounts like one post at once, ten of them twice: 50 likes, 50
/// actors in one notification group.
#[tokio::test]
async fn concurrent_likes_count_exactly() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let author = app.signed_up_as("cc_author").await;
    let post = app.posted(&author, "popular").await;
    let handles: Vec<String> = (0..50).map(|i| format!("cc_fan{i}")).collect();
    let refs: Vec<&str> = handles.iter().map(String::as_str).collect();
    let fans = app.signed_up_all(&refs).await;

    let at_once = |mutation: &str| {
        let query =
            format!("mutation($p: ID!) {{ {mutation}(postId: $p) {{ {USER_ERROR_FIELDS} }} }}");
        fans.iter()
            .chain(fans.iter().take(10))
            .map(|token| (query.clone(), json!({"p": post}), Some(token.clone())))
            .collect::<Vec<_>>()
    };
    for body in all_at_once(&app, at_once("like")).await {
        assert_eq!(body["data"]["like"]["errors"], json!([]), "{body}");
    }
    let seen = app.post_view(&post, None).await;
    assert_eq!(seen["likeCount"], 50);
    let mut liked = app.liked_by(&post, 7).await;
    assert_eq!(liked.len(), 50, "every liker once: {liked:?}");
    liked.sort();
    let mut want = handles.clone();
    want.sort();
    assert_eq!(liked, want);
    assert_eq!(
        groups_of(&app, "cc_author").await,
        [("LIKE".to_owned(), Some(post.clone()), 50)]
    );

    // And as many unlike at once, some twice: none left.
    for body in all_at_once(&app, at_once("unlike")).await {
        assert_eq!(body["data"]["unlike"]["errors"], json!([]), "{body}");
    }
    assert_eq!(app.post_view(&post, None).await["likeCount"], 0);
    assert!(groups_of(&app, "cc_author").await.is_empty());
}

#[tokio::test]
async fn liked_by_pages_newest_like_first() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let tokens = app
        .signed_up_all(&["lb_author", "lb_a", "lb_b", "lb_c", "lb_d", "lb_e"])
        .await;
    let post = app.posted(&tokens[0], "liked in order").await;
    for token in &tokens[1..] {
        app.interacted(token, "like", &post).await;
    }
    let want = ["lb_e", "lb_d", "lb_c", "lb_b", "lb_a"];
    for first in [1, 2, 5, 100] {
        assert_eq!(app.liked_by(&post, first).await, want, "first: {first}");
    }
    // Unliking takes the liker out; liking again brings it to the front.
    app.interacted(&tokens[3], "unlike", &post).await;
    app.interacted(&tokens[3], "like", &post).await;
    assert_eq!(
        app.liked_by(&post, 2).await,
        ["lb_c", "lb_e", "lb_d", "lb_b", "lb_a"]
    );

    // `first` out of range and cursors of other lists are refused.
    let page = |first: i64, after: Value| {
        app.gql(
            "query($id: ID!, $f: Int, $a: String) { post(id: $id) { likedBy(first: $f, after: $a) { edges { cursor } } } }",
            json!({"id": post, "f": first, "a": after}),
            None,
        )
    };
    assert_eq!(
        error_codes(&page(101, Value::Null).await),
        ["BAD_USER_INPUT"]
    );
    assert_eq!(
        error_codes(&page(-1, Value::Null).await),
        ["BAD_USER_INPUT"]
    );
    let posts = app
        .gql(
            "{ profile(handle: \"lb_author\") { posts(first: 1) { pageInfo { endCursor } } } }",
            json!({}),
            None,
        )
        .await;
    let foreign = posts["data"]["profile"]["posts"]["pageInfo"]["endCursor"].clone();
    assert!(foreign.is_string(), "{posts}");
    assert_eq!(error_codes(&page(5, foreign).await), ["BAD_USER_INPUT"]);
    assert_eq!(
        error_codes(&page(5, json!("garbage")).await),
        ["BAD_USER_INPUT"]
    );
}

/// A post's likes and reposts go with it; the likers' and reposters' own
/// rows of other posts stay.
#[tokio::test]
async fn a_deleted_post_takes_its_likes_reposts_and_notifications() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let (author, fan) = (
        app.signed_up_as("dp_author").await,
        app.signed_up_as("dp_fan").await,
    );
    let gone = app.posted(&author, "gone soon").await;
    let kept = app.posted(&author, "kept").await;
    for post in [&gone, &kept] {
        app.interacted(&fan, "like", post).await;
        app.interacted(&fan, "repost", post).await;
    }
    assert_eq!(groups_of(&app, "dp_author").await.len(), 4);
    let body = app
        .gql(
            "mutation($id: ID!) { deletePost(id: $id) { deleted } }",
            json!({"id": gone}),
            Some(&author),
        )
        .await;
    assert_eq!(body["data"]["deletePost"]["deleted"], true, "{body}");
    let groups = groups_of(&app, "dp_author").await;
    assert_eq!(groups.len(), 2, "{groups:?}");
    assert!(
        groups
            .iter()
            .all(|(_, post, _)| post.as_deref() == Some(kept.as_str()))
    );
    let p = app.post_view(&kept, Some(&fan)).await;
    assert_eq!(
        [
            &p["likeCount"],
            &p["repostCount"],
            &p["viewerHasLiked"],
            &p["viewerHasReposted"]
        ],
        [&json!(1), &json!(1), &json!(true), &json!(true)]
    );
}
