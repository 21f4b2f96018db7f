//! `GET /metrics`: Prometheus text format, with the gauges that describe
//! the moment read now.

use axum::extract::State;

use crate::state::AppState;

/// Prometheus text format. Gauges that describe the moment are read now.
pub async fn metrics(State(state): State<AppState>) -> impl axum::response::IntoResponse {
    metrics::gauge!("password_hash_queue_depth").set(state.hasher().queue_depth() as f64);
    metrics::gauge!("revocation_cache_entries").set(state.revocations().len() as f64);
    // Subscription sockets open now; `ws_events_sent_total` and
    // `ws_sockets_closed_total{reason}` count as they happen (`http::socket`),
    // `live_subscriptions{field}` the subscriptions (`live::hub`).
    metrics::gauge!("ws_sockets_open").set(state.sockets().open_count() as f64);
    let (size, idle) = pool_use(&state);
    metrics::gauge!("db_pool_connections", "state" => "open").set(f64::from(size));
    metrics::gauge!("db_pool_connections", "state" => "idle").set(idle as f64);
    // Mail neither sent nor given up on, across every instance; a scrape
    // while the database is away keeps the last value.
    match crate::mail::outbox::pending(state.db()).await {
        Ok(n) => metrics::gauge!("mail_outbox_pending").set(n as f64),
        Err(e) => tracing::debug!(error = ?e, "mail_outbox_pending not read"),
    }
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
