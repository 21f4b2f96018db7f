//! Operations: metrics, and a shutdown that lets in-flight work finish.

use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use sns_api::entity::session;

use crate::common::*;

/// The value of one series in a Prometheus text exposition (0 if absent).
fn series(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(name_and_labels)
                .and_then(|rest| rest.trim().parse().ok())
        })
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_count_operations_logins_and_the_hash_pool() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let scrape = || async {
        let res = app.http.get(app.url("/metrics")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        res.text().await.unwrap()
    };
    let before = scrape().await;
    let email = unique_email("metrics");
    let token = app.signed_up(&email).await;
    app.login(&email, "not-the-password").await;
    app.me(&token).await;
    // Named by the client: still labelled by its root field, not its name.
    app.gql("query WhoAmI { me { id } }", json!({}), Some(&token))
        .await;
    let after = scrape().await;

    let failed = r#"logins_total{outcome="invalid_credentials"}"#;
    assert!(
        series(&after, failed) >= series(&before, failed) + 1.0,
        "{after}"
    );
    let me_ok = r#"graphql_requests_total{operation="me",outcome="ok"}"#;
    assert!(series(&after, me_ok) >= series(&before, me_ok) + 2.0);
    assert!(!after.contains("WhoAmI"), "client names are no labels");
    for name in [
        "graphql_request_duration_seconds_bucket{operation=\"login\"",
        "graphql_request_db_statements_sum{operation=\"login\"}",
        "password_hash_queue_depth",
        "password_hash_wait_seconds_bucket",
        "revocation_cache_entries",
        "db_pool_connections{state=\"open\"}",
        "registrations_total",
    ] {
        assert!(after.contains(name), "{name} missing from\n{after}");
    }
    assert!(!after.contains(&email), "no user data in metrics");
    assert!(!after.contains(&token));
    app.stop().await;
}

#[tokio::test]
async fn shutdown_lets_logins_in_flight_finish() {
    let db = TestDb::fresh().await;
    let mut config = config_for(&db);
    // One hashing thread: the logins below queue behind each other.
    config.hash_concurrency = 1;
    let app = TestApp::spawn_with(config).await;
    let email = unique_email("drain");
    app.signed_up(&email).await;
    let logins: Vec<_> = (0..4)
        .map(|_| {
            let (http, url, email) = (app.http.clone(), app.url("/graphql"), email.clone());
            tokio::spawn(async move {
                http.post(url)
                    .json(&json!({"query": LOGIN, "variables": {"i": {"email": email, "password": PASSWORD}}}))
                    .send()
                    .await
                    .unwrap()
                    .json::<Value>()
                    .await
                    .unwrap()
            })
        })
        .collect();
    // All four have arrived: with one waiting, the one hashing thread is
    // busy with another (uncounted), so waiting + done + 1 are in; were
    // they all done before a look found one waiting, shutdown would have
    // nothing left to wait for, and the test still holds.
    poll_until("the four logins in flight", || async {
        let waiting = app.state.hasher().queue_depth() as u64;
        let done = session::Entity::find().count(&app.db).await.unwrap() - 1;
        if (waiting >= 1 && waiting + done >= 3) || done >= 4 {
            Ok(())
        } else {
            Err(format!(
                "{waiting} waiting for the hasher, {done} signed in"
            ))
        }
    })
    .await;
    let base = app.base.clone();
    app.stop().await;
    for login in logins {
        let body = login.await.unwrap();
        assert_eq!(body["data"]["login"]["errors"], json!([]), "{body}");
    }
    let after = reqwest::Client::new()
        .get(format!("{base}/healthz"))
        .send()
        .await;
    assert!(after.is_err(), "the listener is closed after shutdown");
}

/// `sns-api migrate status|up|down`, the real binary, on this run's database
/// (SQLite, PostgreSQL or MariaDB).
#[tokio::test]
async fn migrate_status_up_and_down_with_the_binary() {
    let db = TestDb::fresh().await;
    let migrate = |action: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sns-api"))
            .env_clear()
            .env("DATABASE_URL", &db.url)
            .env("JWT_SECRET", SECRET)
            .env("RUST_LOG", "warn")
            .args(["migrate", action])
            .output()
            .expect("the binary runs");
        assert!(
            out.status.success(),
            "migrate {action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let statuses = |text: String| -> Vec<(String, String)> {
        text.lines()
            .map(|l| {
                let mut parts = l.split_whitespace();
                let status = parts.next().unwrap().to_owned();
                (status, parts.next().unwrap().to_owned())
            })
            .collect()
    };

    let fresh = statuses(migrate("status"));
    assert!(fresh.len() >= 4, "every migration is listed: {fresh:?}");
    assert!(fresh.iter().all(|(s, _)| s == "Pending"), "{fresh:?}");

    assert_eq!(migrate("up"), "");
    let up = statuses(migrate("status"));
    assert!(up.iter().all(|(s, _)| s == "Applied"), "{up:?}");
    assert_eq!(
        up.iter().map(|(_, n)| n).collect::<Vec<_>>(),
        fresh.iter().map(|(_, n)| n).collect::<Vec<_>>()
    );

    migrate("down");
    let down = statuses(migrate("status"));
    let (last, rest) = down.split_last().unwrap();
    assert_eq!(last.0, "Pending", "down reverts the newest: {down:?}");
    assert!(rest.iter().all(|(s, _)| s == "Applied"), "{down:?}");

    migrate("up");
    assert!(
        statuses(migrate("status"))
            .iter()
            .all(|(s, _)| s == "Applied")
    );

    // The server starts on what migrate left and is ready.
    let app = TestApp::spawn(&db).await;
    assert_eq!(app.status("/readyz").await, 200);
}
