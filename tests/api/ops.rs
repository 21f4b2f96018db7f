//! Operations: metrics, and a shutdown that lets in-flight work finish.

use std::time::Duration;

use serde_json::{Value, json};

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
    let after = scrape().await;

    let failed = r#"logins_total{outcome="invalid_credentials"}"#;
    assert!(
        series(&after, failed) >= series(&before, failed) + 1.0,
        "{after}"
    );
    let me_ok = r#"graphql_requests_total{operation="me",outcome="ok"}"#;
    assert!(series(&after, me_ok) >= series(&before, me_ok) + 1.0);
    for name in [
        "graphql_request_duration_seconds_bucket{operation=\"login\"",
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
    config.hash_concurrency = Some(1);
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
    tokio::time::sleep(Duration::from_millis(10)).await;
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
