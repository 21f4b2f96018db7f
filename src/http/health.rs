//! Liveness and readiness, for load balancers and orchestrators.

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
