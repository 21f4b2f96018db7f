//! A block racing 20 writes it refuses, each way: nothing across the block
//! afterwards, every count equal to its rows.

use super::*;

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
