//! Brute force: failed logins lock the submitted email for a window (whether
//! or not the account exists), and sign-in attempts are limited per client
//! address. Counters live in the database, shared by every instance.

use serde_json::{Value, json};

use crate::common::*;

fn rate_limited(payload: &Value) -> Option<i64> {
    (payload_codes(payload) == ["RATE_LIMITED"])
        .then(|| payload["errors"][0]["retryAfterSeconds"].as_i64().unwrap())
}

#[tokio::test]
async fn thirty_wrong_passwords_lock_the_account_and_then_the_right_one_is_refused_too() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let email = unique_email("brute");
    let bystander = unique_email("bystander");
    app.signed_up(&email).await;
    app.signed_up(&bystander).await;
    for attempt in 1..=10 {
        let p = app.login(&email, &format!("guess-number-{attempt}")).await;
        assert_eq!(
            payload_codes(&p),
            ["INVALID_CREDENTIALS"],
            "attempt {attempt}"
        );
    }
    let mut passwords: Vec<String> = (11..=30).map(|i| format!("guess-number-{i}")).collect();
    passwords.push(PASSWORD.to_owned());
    for password in &passwords {
        let p = app.login(&email.to_uppercase(), password).await;
        let retry = rate_limited(&p).unwrap_or_else(|| panic!("locked: {p}"));
        assert!((1..=900).contains(&retry), "{retry}");
        assert!(p["accessToken"].is_null());
    }
    assert_eq!(
        app.login(&bystander, PASSWORD).await["errors"],
        json!([]),
        "others are not locked"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_email_locks_exactly_like_a_real_one() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let ghost = unique_email("ghost");
    for _ in 0..10 {
        assert_eq!(
            payload_codes(&app.login(&ghost, "whatever-it-is").await),
            ["INVALID_CREDENTIALS"]
        );
    }
    assert!(rate_limited(&app.login(&ghost, "whatever-it-is").await).is_some());
    app.stop().await;
}

#[tokio::test]
async fn success_resets_the_account_counter_and_the_lock_lifts_after_the_window() {
    let db = TestDb::fresh().await;
    let mut config = config_for(&db);
    config.rate_limits.login_failures = "3/15m".parse().unwrap();
    let app = TestApp::spawn_with(config).await;
    let email = unique_email("window");
    app.signed_up(&email).await;
    for _ in 0..2 {
        app.login(&email, "wrong-password-1").await;
    }
    assert_eq!(app.login(&email, PASSWORD).await["errors"], json!([]));
    for _ in 0..2 {
        assert_eq!(
            payload_codes(&app.login(&email, "wrong-password-2").await),
            ["INVALID_CREDENTIALS"]
        );
    }
    app.login(&email, "wrong-password-3").await;
    assert!(
        rate_limited(&app.login(&email, PASSWORD).await).is_some(),
        "three failures since the success"
    );
    let conn = &app.db;
    age_counters(conn, chrono::Duration::minutes(16)).await;
    assert_eq!(
        app.login(&email, PASSWORD).await["errors"],
        json!([]),
        "the lock lifted"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_current_password_counts_as_a_failed_login() {
    let db = TestDb::fresh().await;
    let mut config = config_for(&db);
    config.rate_limits.login_failures = "3/15m".parse().unwrap();
    let app = TestApp::spawn_with(config).await;
    let email = unique_email("change-brute");
    let token = app.signed_up(&email).await;
    let change = "mutation($i: ChangePasswordInput!) { changePassword(input: $i) { accessToken errors { code retryAfterSeconds } } }";
    let vars =
        json!({"i": {"currentPassword": "not-it-at-all", "newPassword": "a-brand-new-passphrase"}});
    for _ in 0..3 {
        let body = app.gql(change, vars.clone(), Some(&token)).await;
        assert_eq!(
            payload_codes(&body["data"]["changePassword"]),
            ["INVALID_CREDENTIALS"]
        );
    }
    let body = app.gql(change, vars, Some(&token)).await;
    assert!(
        rate_limited(&body["data"]["changePassword"]).is_some(),
        "{body}"
    );
    assert!(rate_limited(&app.login(&email, PASSWORD).await).is_some());
    app.stop().await;
}

#[tokio::test]
async fn sign_in_attempts_are_limited_per_address() {
    let db = TestDb::fresh().await;
    let mut config = config_for(&db);
    config.rate_limits.auth_per_ip = "4/1m".parse().unwrap();
    let app = TestApp::spawn_with(config).await;
    let email = unique_email("per-ip");
    let (_, rt) = app.signed_up_pair(&email).await;
    assert_eq!(app.login(&email, PASSWORD).await["errors"], json!([]));
    assert_eq!(
        payload_codes(&app.login(&email, "wrong-one-here").await),
        ["INVALID_CREDENTIALS"]
    );
    assert!(app.refresh(&rt).await["errors"] == json!([]), "4th attempt");
    assert!(
        rate_limited(&app.login(&email, PASSWORD).await).is_some(),
        "5th"
    );
    assert!(rate_limited(&app.register(&unique_email("late"), PASSWORD).await).is_some());
    assert!(rate_limited(&app.refresh(&rt).await).is_some());
    app.stop().await;
}

async fn login_from(app: &TestApp, email: &str, forwarded_for: &str) -> Value {
    app.gql_with_headers(
        LOGIN,
        json!({"i": {"email": email, "password": PASSWORD}}),
        &[("X-Forwarded-For", forwarded_for)],
    )
    .await["data"]["login"]
        .clone()
}

#[tokio::test]
async fn x_forwarded_for_is_believed_only_from_a_trusted_proxy() {
    let email = unique_email("proxy");
    // Behind a trusted proxy: each forwarded client has its own budget.
    let db = TestDb::fresh().await;
    let mut config = config_for(&db);
    config.rate_limits.auth_per_ip = "2/1m".parse().unwrap();
    config.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    let app = TestApp::spawn_with(config).await;
    assert_eq!(
        login_from(&app, &email, "198.51.100.9").await["errors"][0]["code"],
        "INVALID_CREDENTIALS"
    );
    app.gql_with_headers(
        REGISTER,
        json!({"i": {"email": email, "password": PASSWORD}}),
        &[("X-Forwarded-For", "198.51.100.9")],
    )
    .await;
    assert_eq!(
        login_from(&app, &email, "198.51.100.1").await["errors"],
        json!([])
    );
    assert_eq!(
        login_from(&app, &email, "198.51.100.1").await["errors"],
        json!([])
    );
    assert!(
        rate_limited(&login_from(&app, &email, "198.51.100.1").await).is_some(),
        "spent its two"
    );
    assert_eq!(
        login_from(&app, &email, "198.51.100.2").await["errors"],
        json!([]),
        "another client has its own"
    );
    app.stop().await;

    // Without trusting the peer, the header is ignored: all count as 127.0.0.1.
    let db = TestDb::fresh().await;
    let mut config = config_for(&db);
    config.rate_limits.auth_per_ip = "2/1m".parse().unwrap();
    let app = TestApp::spawn_with(config).await;
    assert_eq!(app.register(&email, PASSWORD).await["errors"], json!([]));
    assert_eq!(
        login_from(&app, &email, "198.51.100.3").await["errors"],
        json!([])
    );
    assert!(
        rate_limited(&login_from(&app, &email, "203.0.113.50").await).is_some(),
        "a forged header buys nothing"
    );
    app.stop().await;
}

#[tokio::test]
async fn failures_count_across_instances_sharing_a_database() {
    let db = TestDb::fresh().await;
    let a = TestApp::spawn(&db).await;
    let b = TestApp::spawn(&db).await;
    let email = unique_email("shared-count");
    a.signed_up(&email).await;
    for i in 0..10 {
        let app = if i % 2 == 0 { &a } else { &b };
        assert_eq!(
            payload_codes(&app.login(&email, "still-wrong-pw").await),
            ["INVALID_CREDENTIALS"]
        );
    }
    assert!(rate_limited(&a.login(&email, PASSWORD).await).is_some());
    assert!(rate_limited(&b.login(&email, PASSWORD).await).is_some());
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn concurrent_attempts_on_two_instances_are_all_counted() {
    let db = TestDb::fresh().await;
    let mut config = config_for(&db);
    config.rate_limits.auth_per_ip = "20/1m".parse().unwrap();
    let apps = [
        std::sync::Arc::new(TestApp::spawn_with(config.clone()).await),
        std::sync::Arc::new(TestApp::spawn_with(config).await),
    ];
    // Registrations with a malformed email: each is counted against the
    // address, then refused at once (no hash, so they all overlap).
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let app = apps[i % 2].clone();
            tokio::spawn(async move { app.register("not-an-email", PASSWORD).await })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let limited = answers.iter().filter(|p| rate_limited(p).is_some()).count();
    let counted = answers
        .iter()
        .filter(|p| payload_codes(p) == ["INVALID_EMAIL"])
        .count();
    assert_eq!(
        (counted, limited),
        (20, 10),
        "exactly the limit passes: a lost count lets more through, and a hit that \
         reads the others' count refuses too many: {:?}",
        answers.iter().map(payload_codes).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn twenty_login_aliases_in_one_document_execute_none() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let email = unique_email("aliases");
    app.signed_up(&email).await;
    let aliases: String = (0..20)
        .map(|i| format!("a{i}: login(input: {{email: \"{email}\", password: \"guess-{i}-guess\"}}) {{ errors {{ code }} }} "))
        .collect();
    let body = app
        .gql(&format!("mutation {{ {aliases} }}"), json!({}), None)
        .await;
    assert_eq!(error_codes(&body), ["GRAPHQL_VALIDATION_FAILED"], "{body}");
    assert!(body["data"].is_null());
    // Through fragments too.
    let hidden = format!(
        "mutation {{ ...F ...G }} fragment F on Mutation {{ login(input: {{email: \"{email}\", password: \"x-guess-x\"}}) {{ errors {{ code }} }} }} \
         fragment G on Mutation {{ b: login(input: {{email: \"{email}\", password: \"y-guess-y\"}}) {{ errors {{ code }} }} }}"
    );
    assert_eq!(
        error_codes(&app.gql(&hidden, json!({}), None).await),
        ["GRAPHQL_VALIDATION_FAILED"]
    );
    // A named operation sent without `operationName` (async-graphql runs the
    // only one) is checked the same.
    let named = format!("mutation Guess {{ {aliases} }}");
    let body = app.gql(&named, json!({}), None).await;
    assert_eq!(error_codes(&body), ["GRAPHQL_VALIDATION_FAILED"], "{body}");
    // None of them counted as a failure: the right password works at once.
    assert_eq!(app.login(&email, PASSWORD).await["errors"], json!([]));
    // One auth mutation beside other fields is fine.
    let token = app.logged_in(&email).await;
    let body = app
        .gql(
            "mutation { logout { revokedSessions } }",
            json!({}),
            Some(&token),
        )
        .await;
    assert_eq!(body["data"]["logout"]["revokedSessions"], 1);
    app.stop().await;
}

/// Moves every counter's window start `by` into the past, as time passing would.
async fn age_counters(conn: &sea_orm::DatabaseConnection, by: chrono::Duration) {
    use sea_orm::sea_query::{Expr, ExprTrait};
    use sea_orm::{EntityTrait, QueryFilter};
    use sns_api::entity::throttle;
    let rows = throttle::Entity::find().all(conn).await.unwrap();
    for row in rows {
        throttle::Entity::update_many()
            .col_expr(
                throttle::Column::WindowStart,
                Expr::value(row.window_start - by),
            )
            .filter(Expr::col(throttle::Column::Key).eq(row.key))
            .exec(conn)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn expired_counters_are_pruned_but_an_account_lock_outlives_its_window() {
    use sea_orm::{EntityTrait, PaginatorTrait};
    use sns_api::auth::ClientInfo;
    use sns_api::entity::throttle;
    let db = TestDb::fresh().await;
    let mut config = config_for(&db);
    config.rate_limits.login_failures = "2/15m".parse().unwrap();
    config.rate_limits.auth_per_ip = "1000/1m".parse().unwrap();
    let app = sns_api::app::App::build(config).await.unwrap();
    let state = app.state();
    let client = ClientInfo {
        ip: Some("192.0.2.7".parse().unwrap()),
        user_agent: None,
    };
    assert_eq!(
        sns_api::service::throttle::per_ip(&state, &client)
            .await
            .unwrap(),
        None
    );
    // Two locks in a row: the second lasts 30 minutes, twice the window.
    let email = "made-up@example.com";
    for _ in 0..4 {
        sns_api::service::throttle::login_failed(&state, email)
            .await
            .unwrap();
    }
    let conn = state.db();
    let strikes = |n: i32| {
        let conn = conn.clone();
        async move {
            use sea_orm::{ActiveModelTrait, Set};
            throttle::ActiveModel {
                key: Set(format!("strikes:{email}")),
                hits: Set(n),
                window_start: Set(sns_api::service::clock::now()),
            }
            .update(&conn)
            .await
            .unwrap();
        }
    };
    strikes(2).await;
    assert_eq!(throttle::Entity::find().count(conn).await.unwrap(), 3);
    assert_eq!(
        sns_api::service::throttle::prune(&state).await.unwrap(),
        0,
        "windows still open"
    );

    age_counters(conn, chrono::Duration::minutes(20)).await;
    assert_eq!(
        sns_api::service::throttle::prune(&state).await.unwrap(),
        1,
        "the address counter's minute is over"
    );
    let standing = sns_api::service::throttle::account_standing(&state, email)
        .await
        .unwrap();
    assert!(
        matches!(standing, sns_api::service::throttle::Standing::Locked(_)),
        "20 minutes into a 30-minute lock, the account is still locked"
    );

    age_counters(conn, chrono::Duration::hours(25)).await;
    assert_eq!(sns_api::service::throttle::prune(&state).await.unwrap(), 2);
    assert_eq!(throttle::Entity::find().count(conn).await.unwrap(), 0);
}

#[tokio::test]
async fn each_lock_in_a_row_lasts_twice_as_long() {
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};
    use sns_api::entity::throttle;
    let db = TestDb::fresh().await;
    let mut config = config_for(&db);
    // Windows of ten minutes: a slow machine cannot move a figure from one
    // lock length to the next.
    config.rate_limits.login_failures = "2/10m".parse().unwrap();
    let app = TestApp::spawn_with(config).await;
    let conn = &app.db;

    // A first lock: one window, and a strike is recorded.
    let first = unique_email("strike-one");
    for _ in 0..2 {
        app.login(&first, "wrong-guess-here").await;
    }
    let retry = rate_limited(&app.login(&first, PASSWORD).await).expect("locked");
    assert!((300..=600).contains(&retry), "one window: {retry}");
    let strike = throttle::Entity::find_by_id(format!("strikes:{first}"))
        .one(conn)
        .await
        .unwrap();
    assert_eq!(strike.map(|s| s.hits), Some(1));

    // Third lock in a row: four windows.
    let third = unique_email("strike-three");
    throttle::ActiveModel {
        key: Set(format!("strikes:{third}")),
        hits: Set(2),
        window_start: Set(chrono::Utc::now()),
    }
    .insert(conn)
    .await
    .unwrap();
    for _ in 0..2 {
        app.login(&third, "wrong-guess-here").await;
    }
    let retry = rate_limited(&app.login(&third, PASSWORD).await).expect("locked");
    assert!((1800..=2400).contains(&retry), "four windows: {retry}");
    app.stop().await;
}
