//! Liveness and readiness for load balancers and orchestrators; metrics for
//! Prometheus.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use migration::{Migrator, MigratorTrait};

use crate::state::AppState;

/// 200 while the process serves; touches nothing.
pub async fn healthz() -> &'static str {
    "ok"
}

/// 200 when the database answers and no migration is pending; 503 otherwise
/// and from the moment shutdown begins.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.is_shutting_down() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    let check = async {
        state.db().ping().await.ok()?;
        Migrator::get_pending_migrations(state.db())
            .await
            .ok()
            .map(|pending| pending.is_empty())
    };
    match tokio::time::timeout(Duration::from_secs(2), check).await {
        Ok(Some(true)) => (StatusCode::OK, "ready"),
        Ok(Some(false)) => (StatusCode::SERVICE_UNAVAILABLE, "migrations pending"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
    }
}

/// Prometheus text format. Gauges that describe the moment are read now.
pub async fn metrics(State(state): State<AppState>) -> impl axum::response::IntoResponse {
    metrics::gauge!("password_hash_queue_depth").set(state.hasher().queue_depth() as f64);
    metrics::gauge!("revocation_cache_entries").set(state.revocations().len() as f64);
    let (size, idle) = pool_use(&state);
    metrics::gauge!("db_pool_connections", "state" => "open").set(f64::from(size));
    metrics::gauge!("db_pool_connections", "state" => "idle").set(idle as f64);
    let handle = crate::telemetry::metrics_handle();
    handle.run_upkeep();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
}

fn pool_use(state: &AppState) -> (u32, usize) {
    use sea_orm::DatabaseBackend;
    let db = state.db();
    match state.backend() {
        DatabaseBackend::Postgres => {
            let p = db.get_postgres_connection_pool();
            (p.size(), p.num_idle())
        }
        DatabaseBackend::MySql => {
            let p = db.get_mysql_connection_pool();
            (p.size(), p.num_idle())
        }
        DatabaseBackend::Sqlite => {
            let p = db.get_sqlite_connection_pool();
            (p.size(), p.num_idle())
        }
        _ => (0, 0),
    }
}

/// The public keys of EdDSA mode as a JWK Set; 404 with HS256 (no public key).
pub async fn jwks(State(state): State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    match state.jwt().jwks() {
        Some(set) => (
            [(axum::http::header::CACHE_CONTROL, "public, max-age=300")],
            axum::Json(set.clone()),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
