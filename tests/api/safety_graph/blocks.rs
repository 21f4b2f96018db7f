//! Blocks and mutes: each mutation and its bad inputs, what a block
//! undoes, the BLOCKED refusals both ways, the relation fields, a mute the
//! muted cannot see, notifications, and account deletion.

use super::*;

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
        // Taking back too: the contract answers BLOCKED for all four.
        for mutation in ["like", "repost", "unlike", "unrepost"] {
            let payload = on_post(&app, token, mutation, post).await;
            assert_eq!(
                codes_and_fields(&payload),
                one_error("BLOCKED", json!(["postId"])),
                "{mutation}"
            );
            assert_eq!(payload["post"], Value::Null);
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

#[tokio::test]
async fn a_muted_account_notifies_the_muter_no_more_and_a_mention_across_a_block_notifies_nobody() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let t = app.signed_up_all(&["alice", "bob", "carol"]).await;
    let of_alice = app.posted(&t[0], "alice's post").await;
    done(&app, &t[0], "mute", "bob").await;
    app.follow(&t[1], "alice").await;
    on_post(&app, &t[1], "like", &of_alice).await;
    on_post(&app, &t[1], "repost", &of_alice).await;
    assert_eq!(
        reply(&app, &t[1], &of_alice, "hi @alice").await["errors"],
        json!([])
    );
    app.posted(&t[1], "hello @alice").await;
    assert!(inbox_of(&app, &t[0]).await.is_empty(), "muted: nothing");
    // One way: the muter's actions still notify the muted.
    let of_bob = app.posted(&t[1], "bob's post").await;
    on_post(&app, &t[0], "like", &of_bob).await;
    assert_eq!(inbox_of(&app, &t[1]).await.len(), 1);
    // Across a block, a mention notifies neither side.
    done(&app, &t[2], "block", "alice").await;
    app.posted(&t[0], "hey @carol").await;
    app.posted(&t[2], "hey @alice").await;
    assert!(inbox_of(&app, &t[2]).await.is_empty());
    assert!(inbox_of(&app, &t[0]).await.is_empty());
    // Unmuted: heard again.
    done(&app, &t[0], "unmute", "bob").await;
    app.posted(&t[1], "again @alice").await;
    let inbox = inbox_of(&app, &t[0]).await;
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0].0, "MENTION");
    assert_counts_exact(&app).await;
}
