//! The database goes away mid-run (PostgreSQL: the app's backends are
//! terminated and new connections refused), then comes back: requests that
//! need it answer SERVICE_UNAVAILABLE within the acquire timeout, /readyz is
//! 503 and /healthz 200, and everything recovers without a restart. It
//! needs TEST_DATABASE_URL to name a PostgreSQL server, so it is ignored
//! unless asked for (`.ci/run` runs it against PostgreSQL).

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database};
use serde_json::json;

use crate::common::*;

#[tokio::test]
#[ignore = "needs PostgreSQL: TEST_DATABASE_URL=postgres://…"]
async fn a_database_outage_is_service_unavailable_then_recovers() {
    let db = TestDb::fresh().await;
    let (admin_url, name) = db
        .server()
        .filter(|(url, _)| url.starts_with("postgres"))
        .expect("TEST_DATABASE_URL names a PostgreSQL server");
    let mut config = config_for(&db);
    config.database.acquire_timeout = Duration::from_secs(1);
    let app = TestApp::spawn_with(config).await;
    let email = unique_email("outage");
    app.signed_up(&email).await;

    let admin = Database::connect(admin_url).await.unwrap();
    admin
        .execute_unprepared(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .await
        .unwrap();
    admin
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ))
        .await
        .unwrap();

    let start = Instant::now();
    let body = app.login_response(&email, PASSWORD).await;
    assert_eq!(error_codes(&body), ["SERVICE_UNAVAILABLE"], "{body}");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "answered within the acquire timeout, not hung"
    );
    let text = body.to_string();
    for leak in ["terminat", "pg_", "sqlx", "connection refused", name] {
        assert!(!text.contains(leak), "driver detail leaked: {text}");
    }
    assert_eq!(app.status("/readyz").await, 503);
    assert_eq!(app.status("/healthz").await, 200);

    admin
        .execute_unprepared(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .await
        .unwrap();
    poll_until("a login after the outage", || async {
        let body = app.login_response(&email, PASSWORD).await;
        if body["data"]["login"]["errors"] == json!([]) {
            Ok(())
        } else {
            Err(body.to_string())
        }
    })
    .await;
    assert_eq!(app.status("/readyz").await, 200);
    admin.close().await.ok();
    app.stop().await;
}
