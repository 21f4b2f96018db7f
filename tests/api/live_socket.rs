//! The subscription socket closed from outside its frames: a session that
//! ends (at once on the instance that ended it, within the sync interval on
//! another), an access token that expires, a client too slow for its
//! events, shutdown; what the metrics count of it; refused upgrades. (The
//! protocol's own rules: `tests/clients/src/ws-protocol.test.ts`.)

use std::time::Duration;

use serde_json::json;

use crate::common::*;
use crate::ws::{Frame, Socket};

const SESSION_ENDED: (u16, &str) = (4403, "session ended");

/// Answers a ping with a pong: the socket is open and served.
async fn assert_open(socket: &mut Socket) {
    socket.send(json!({ "type": "ping" })).await;
    let pong = socket.next().await;
    assert!(
        matches!(&pong, Frame::Message(m) if m["type"] == "pong"),
        "expected pong, got {pong:?}"
    );
}

async fn closed(socket: &mut Socket) -> (u16, String) {
    socket.closed().await
}

fn is(closed: (u16, String), expected: (u16, &str)) -> bool {
    closed.0 == expected.0 && closed.1 == expected.1
}

/// An instance whose own revocation sync would take an hour: what closes a
/// socket at once is the revocation made here.
async fn instance_that_never_syncs(db: &TestDb) -> TestApp {
    let mut config = config_for(db);
    config.sessions.sync_interval = Duration::from_secs(3600);
    TestApp::spawn_with(config).await
}

#[tokio::test]
async fn a_logout_closes_its_sessions_socket_at_once_and_no_other() {
    let db = TestDb::fresh().await;
    let app = instance_that_never_syncs(&db).await;
    let email = unique_email("ws-logout");
    let token = app.signed_up(&email).await;
    let other = app.logged_in(&email).await;
    let mut ended = Socket::signed_in(&app, Some(&token)).await;
    let mut kept = Socket::signed_in(&app, Some(&other)).await;
    let mut anonymous = Socket::signed_in(&app, None).await;

    app.logout(&token, "CURRENT").await;
    let seen = closed(&mut ended).await;
    assert!(is(seen.clone(), SESSION_ENDED), "{seen:?}");
    assert_open(&mut kept).await;
    assert_open(&mut anonymous).await;
    app.stop().await;
}

#[tokio::test]
async fn a_password_change_closes_the_other_sessions_sockets_only() {
    let db = TestDb::fresh().await;
    let app = instance_that_never_syncs(&db).await;
    let email = unique_email("ws-password");
    let current = app.signed_up(&email).await;
    let other = app.logged_in(&email).await;
    let mut here = Socket::signed_in(&app, Some(&current)).await;
    let mut there = Socket::signed_in(&app, Some(&other)).await;

    let changed = app
        .gql(
            "mutation($i: ChangePasswordInput!) { changePassword(input: $i) { errors { code } } }",
            json!({ "i": { "currentPassword": PASSWORD, "newPassword": "another-horse-battery" } }),
            Some(&current),
        )
        .await;
    assert_eq!(
        changed["data"]["changePassword"]["errors"],
        json!([]),
        "{changed}"
    );
    let seen = closed(&mut there).await;
    assert!(is(seen.clone(), SESSION_ENDED), "{seen:?}");
    assert_open(&mut here).await;
    app.stop().await;
}

#[tokio::test]
async fn a_session_ended_on_one_instance_closes_its_socket_on_the_other_within_the_interval() {
    let db = TestDb::fresh().await;
    let sync = Duration::from_millis(200);
    let instance = |db: &TestDb| {
        let mut config = config_for(db);
        config.sessions.sync_interval = sync;
        TestApp::spawn_with(config)
    };
    let a = instance(&db).await;
    let b = instance(&db).await;
    let token = a.signed_up(&unique_email("ws-two")).await;
    let mut socket = Socket::signed_in(&b, Some(&token)).await;
    assert_open(&mut socket).await;

    a.logout(&token, "CURRENT").await;
    // The bound `until_refused` holds another instance to.
    let within = sync * 5 + Duration::from_secs(1);
    match socket.next_within(within).await {
        Some(Frame::Closed(code, reason)) => {
            assert!(is((code, reason.clone()), SESSION_ENDED), "{code} {reason}");
        }
        other => panic!("expected the close within {within:?}, got {other:?}"),
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn an_account_disabled_by_an_operator_has_its_sockets_closed() {
    let db = TestDb::fresh().await;
    let mut config = config_for(&db);
    config.sessions.sync_interval = Duration::from_millis(200);
    let app = TestApp::spawn_with(config.clone()).await;
    let email = unique_email("ws-disabled");
    let token = app.signed_up(&email).await;
    let mut socket = Socket::signed_in(&app, Some(&token)).await;
    // `sns-api users disable`: another process, as far as the app knows.
    let action = sns_api::config::UsersAction::Disable { email };
    sns_api::admin::run(&config, action)
        .await
        .expect("disabled");
    let seen = closed(&mut socket).await;
    assert!(is(seen.clone(), SESSION_ENDED), "{seen:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_socket_closes_when_its_access_token_expires() {
    let db = TestDb::fresh().await;
    let mut config = config_for(&db);
    config.tokens.access_ttl = Duration::from_secs(1);
    let app = TestApp::spawn_with(config).await;
    let token = app.signed_up(&unique_email("ws-expiry")).await;
    let mut socket = Socket::signed_in(&app, Some(&token)).await;
    let seen = closed(&mut socket).await;
    assert!(is(seen.clone(), (4401, "token expired")), "{seen:?}");
    app.stop().await;
}

#[tokio::test]
async fn shutdown_closes_every_socket_and_is_not_held_by_them() {
    let db = TestDb::fresh().await;
    let mut config = config_for(&db);
    // Were the sockets to hold the drain, stopping would take this long and
    // log that requests were cut off.
    config.shutdown_timeout = Duration::from_secs(3600);
    let app = TestApp::spawn_with(config).await;
    let token = app.signed_up(&unique_email("ws-shutdown")).await;
    let mut signed_in = Socket::signed_in(&app, Some(&token)).await;
    let mut anonymous = Socket::signed_in(&app, None).await;
    let mut uninitialised = Socket::open(&app).await;

    app.stop().await;
    for socket in [&mut signed_in, &mut anonymous, &mut uninitialised] {
        let seen = closed(socket).await;
        assert!(is(seen.clone(), (1001, "server shutting down")), "{seen:?}");
    }
}

/// A sample's value in `/metrics` text (0 when absent).
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_show_open_sockets_and_count_closes_by_reason() {
    let db = TestDb::fresh().await;
    let app = instance_that_never_syncs(&db).await;
    let metrics = || async {
        let res = app.http.get(app.url("/metrics")).send().await.unwrap();
        res.text().await.unwrap()
    };
    let malformed = r#"ws_sockets_closed_total{reason="malformed"}"#;
    let ended = r#"ws_sockets_closed_total{reason="session_ended"}"#;
    let before = metrics().await;

    let token = app.signed_up(&unique_email("ws-metrics")).await;
    let mut socket = Socket::signed_in(&app, Some(&token)).await;
    let mut anonymous = Socket::signed_in(&app, None).await;
    // The recorder is the process's, shared with other tests' apps: the
    // gauges' values are this app's only as its state tells them.
    assert_eq!(app.state.sockets().open_count(), 2);
    let open = metrics().await;
    assert!(open.contains("ws_sockets_open "), "{open}");

    anonymous.send_text("not json").await;
    assert_eq!(closed(&mut anonymous).await.0, 4400);
    app.logout(&token, "CURRENT").await;
    assert_eq!(closed(&mut socket).await.0, 4403);
    poll_until("the closes counted", || async {
        let after = metrics().await;
        let counted = sample(&after, malformed) > sample(&before, malformed)
            && sample(&after, ended) > sample(&before, ended)
            && app.state.sockets().open_count() == 0;
        if counted { Ok(()) } else { Err(after) }
    })
    .await;
    app.stop().await;
}

/// Events for one post, written and published as a service would after
/// its commit: many at once, more than any socket may have waiting.
async fn counted(app: &TestApp, post: &str, n: usize) {
    let post: uuid::Uuid = post.parse().expect("a post id");
    let events = vec![sns_api::live::Event::Counted { post }; n];
    let hub = app.state.live();
    let batch = hub.write(app.state.db(), events).await.expect("written");
    hub.publish(batch);
}

#[tokio::test]
async fn a_socket_too_slow_for_its_events_is_closed_1013_and_the_others_get_every_one() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let author = app.signed_up_as("slow_author").await;
    // 2,000 bytes a body, 200 of them an event: a few of these fill what
    // the connection buffers, and the rest wait at the server.
    let post = app.create_post(&author, &"🦀".repeat(500)).await["post"]["id"]
        .as_str()
        .expect("a post")
        .to_owned();
    let bodies: Vec<String> = (0..200).map(|i| format!("b{i}: body")).collect();
    let big = format!(
        "subscription($id: ID!) {{ postChanged(id: $id) {{ {} }} }}",
        bodies.join(" ")
    );
    let small = "subscription($id: ID!) { postChanged(id: $id) { id likeCount } }";
    // Reads nothing until the end.
    let mut slow = Socket::signed_in(&app, None).await;
    slow.subscribe("big", &big, json!({ "id": post })).await;
    let mut fast = Socket::signed_in(&app, None).await;
    fast.subscribe("small", small, json!({ "id": post })).await;
    poll_until("both subscriptions in place", || async {
        let posts = app.state.live().listening().posts;
        if posts == 2 {
            Ok(())
        } else {
            Err(format!("{posts}"))
        }
    })
    .await;

    let events = 2 * sns_api::live::socket::MAX_QUEUED;
    counted(&app, &post, events).await;
    for _ in 0..events {
        assert_eq!(fast.data("small").await["postChanged"]["id"], post.as_str());
    }
    let seen = closed(&mut slow).await;
    assert!(is(seen.clone(), (1013, "too slow")), "{seen:?}");
    assert_open(&mut fast).await;
    app.stop().await;
}

#[tokio::test]
async fn an_upgrade_from_another_origin_or_for_another_subprotocol_is_refused() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let refused = |headers: &'static [(&'static str, &'static str)]| {
        let app = &app;
        async move { Socket::open_with(app, headers).await.err() }
    };
    assert_eq!(
        refused(&[("origin", "https://elsewhere.example")]).await,
        Some(403)
    );
    assert_eq!(
        refused(&[("sec-websocket-protocol", "graphql-ws")]).await,
        Some(400)
    );
    assert_eq!(refused(&[("origin", "http://localhost:3000")]).await, None);
    let mut socket = Socket::open(&app).await;
    assert_open(&mut socket).await;
    app.stop().await;
}

#[tokio::test]
async fn the_servers_own_origin_may_open_a_socket_and_another_may_not() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let own = app.url("");
    let own = own.trim_end_matches('/');
    assert!(
        Socket::open_with(&app, &[("origin", own)]).await.is_ok(),
        "GraphiQL's page, served here, opens its socket"
    );
    assert_eq!(
        Socket::open_with(&app, &[("origin", "http://elsewhere.example")])
            .await
            .err(),
        Some(403)
    );
    app.stop().await;
}
