//! Logs (`tracing` to stderr, pretty for people or JSON for machines) and
//! metrics (the `metrics` facade, rendered in Prometheus text format).

use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};

/// Installs the global subscriber; a second call (tests) is a no-op.
pub fn init(config: &Config) {
    let filter = EnvFilter::try_new(&config.rust_log).unwrap_or_else(|e| {
        eprintln!(
            "RUST_LOG `{}` is not a valid filter ({e}); using `info`",
            config.rust_log
        );
        EnvFilter::new("info")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.log_format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

/// Latency buckets, in seconds: from a cached `me` to a queued login.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// SQL statements per request: a page should cost a handful whatever its size.
const STATEMENT_BUCKETS: &[f64] = &[
    0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 32.0, 64.0, 128.0,
];

static METRICS: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
    std::sync::OnceLock::new();

/// The process's Prometheus recorder, installed on first use.
pub fn metrics_handle() -> &'static metrics_exporter_prometheus::PrometheusHandle {
    METRICS.get_or_init(|| {
        let builder = metrics_exporter_prometheus::PrometheusBuilder::new();
        let recorder = builder
            .set_buckets(BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(
                        "graphql_request_db_statements".to_owned(),
                    ),
                    STATEMENT_BUCKETS,
                )
            })
            .unwrap_or_else(|_| metrics_exporter_prometheus::PrometheusBuilder::new())
            .build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first (an embedding
        // program's); then that one collects and this handle renders nothing.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// How often histogram samples are folded into their buckets.
const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Folds recorded histogram samples into their buckets every few seconds.
/// The recorder keeps each sample until then (a scrape does it too), so
/// without this an unscraped process would hold every request's duration.
pub async fn metrics_upkeep() {
    let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
    loop {
        tick.tick().await;
        metrics_handle().run_upkeep();
    }
}
