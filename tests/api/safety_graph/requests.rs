//! Locked profiles: follow requests, their page and answers, unlocking,
//! and reposts of a locked post.

use super::*;

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
    // Not a follower: the post is not there for carol, to take back either.
    for mutation in ["like", "repost", "unlike", "unrepost"] {
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

/// Runs one operation in-process as `auth`, counting the statements it
/// runs (the DataLoaders' batches included).
async fn counted(
    schema: &sns_api::graphql::ApiSchema,
    query: &str,
    variables: Value,
    auth: sns_api::auth::Auth,
) -> (Value, usize) {
    let request = async_graphql::Request::new(query)
        .variables(async_graphql::Variables::from_json(variables))
        .data(auth);
    let (response, statements) = sns_api::db::count_statements(schema.execute(request)).await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    (response.data.into_json().unwrap(), statements)
}

#[tokio::test]
async fn a_page_of_100_follow_requests_costs_the_statements_of_a_page_of_20() {
    let db = TestDb::fresh().await;
    let config = config_for(&db);
    let app = sns_api::app::App::build(config.clone()).await.unwrap();
    let state = app.state();
    let schema = sns_api::graphql::build_schema(&config.documents, Some(state.clone()));
    let owner = Uuid::now_v7();
    let now = chrono::Utc::now();
    let make = |id: Uuid, handle: String, locked: bool| profile::ActiveModel {
        user_id: sea_orm::Set(id),
        handle: sea_orm::Set(handle),
        display_name: sea_orm::Set(None),
        bio: sea_orm::Set(None),
        post_count: sea_orm::Set(0),
        follower_count: sea_orm::Set(0),
        following_count: sea_orm::Set(0),
        locked: sea_orm::Set(locked),
        avatar_id: sea_orm::Set(None),
        banner_id: sea_orm::Set(None),
        created_at: sea_orm::Set(now),
        updated_at: sea_orm::Set(now),
    };
    let users: Vec<Uuid> = (0..120).map(|_| Uuid::now_v7()).collect();
    for (i, id) in std::iter::once(&owner).chain(&users).enumerate() {
        insert_user(state.db(), *id).await;
        use sea_orm::ActiveModelTrait as _;
        make(*id, format!("user{i}"), *id == owner)
            .insert(state.db())
            .await
            .unwrap();
    }
    for (i, id) in users.iter().enumerate() {
        use sea_orm::ActiveModelTrait as _;
        follow_request::ActiveModel {
            id: sea_orm::Set(Uuid::now_v7()),
            requester_id: sea_orm::Set(*id),
            target_id: sea_orm::Set(owner),
            created_at: sea_orm::Set(now),
        }
        .insert(state.db())
        .await
        .unwrap();
        // Some relations for the page to tell.
        if i % 3 == 0 {
            block::ActiveModel {
                id: sea_orm::Set(Uuid::now_v7()),
                blocker_id: sea_orm::Set(*id),
                blocked_id: sea_orm::Set(owner),
                created_at: sea_orm::Set(now),
            }
            .insert(state.db())
            .await
            .unwrap();
        }
    }
    let auth = sns_api::auth::Auth::Viewer(sns_api::auth::Viewer {
        user_id: owner,
        session_id: Uuid::now_v7(),
        aal: sns_api::auth::Aal::Aal1,
    });
    let query = "query($f: Int) { followRequests(first: $f) { edges { node { handle \
                 viewerBlocks blocksViewer viewerMutes viewerRequestedFollow } } } }";
    let (small, small_cost) = counted(&schema, query, json!({"f": 20}), auth).await;
    let (big, big_cost) = counted(&schema, query, json!({"f": 100}), auth).await;
    let edges = |v: &Value| v["followRequests"]["edges"].as_array().unwrap().clone();
    assert_eq!(edges(&small).len(), 20);
    assert_eq!(edges(&big).len(), 100);
    let blocked = edges(&big)
        .iter()
        .filter(|e| e["node"]["blocksViewer"] == json!(true))
        .count();
    assert!(blocked > 0 && blocked < 100, "{blocked}");
    assert_eq!(big_cost, small_cost);
    assert_eq!(small_cost, 6, "the page, its profiles, the four relations");
}

/// An account row without a password anyone could use (the page test
/// writes its accounts directly: registering 120 would hash 120 passwords).
async fn insert_user(db: &sea_orm::DatabaseConnection, id: Uuid) {
    use sea_orm::ActiveModelTrait as _;
    let now = chrono::Utc::now();
    sns_api::entity::user::ActiveModel {
        id: sea_orm::Set(id),
        email: sea_orm::Set(format!("{}@example.com", id.simple())),
        password_hash: sea_orm::Set("not-a-real-hash".into()),
        created_at: sea_orm::Set(now),
        updated_at: sea_orm::Set(now),
        email_verified: sea_orm::Set(false),
        disabled_at: sea_orm::Set(None),
    }
    .insert(db)
    .await
    .unwrap();
}
