//! Logs (`tracing` to stderr, pretty for people or JSON for machines) and
//! metrics (the `metrics` facade, rendered in Prometheus text format),
//! including each GraphQL operation's, labelled by its root fields.

use std::time::Duration;

use async_graphql::parser::types::{OperationDefinition, Selection};
use metrics::{Counter, Histogram};
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

/// The histogram of SQL statements per operation.
const STATEMENTS_METRIC: &str = "graphql_request_db_statements";

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
                    metrics_exporter_prometheus::Matcher::Full(STATEMENTS_METRIC.to_owned()),
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

/// The label of a request whose document did not parse or validate.
pub const INVALID_OPERATION: &str = "invalid";
/// The label of a document in which no operation could be chosen.
pub const UNKNOWN_OPERATION: &str = "unknown";

/// The label of an operation: the root fields it selects, sorted, joined by
/// `+` (`login`, `me+sessions`); `introspection` for any `__` field,
/// `fragment` for a fragment at the root, `multiple` beyond three, `unknown`
/// when no operation was chosen. Never a client-chosen name or a variable,
/// so labels stay few and secrets stay out.
pub fn operation_label(operation: Option<&OperationDefinition>) -> String {
    let Some(operation) = operation else {
        return UNKNOWN_OPERATION.to_owned();
    };
    let mut names: Vec<&str> = operation
        .selection_set
        .node
        .items
        .iter()
        .map(|s| match &s.node {
            Selection::Field(f) => {
                let name = f.node.name.node.as_str();
                if name.starts_with("__") {
                    "introspection"
                } else {
                    name
                }
            }
            _ => "fragment",
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    if names.len() > 3 {
        return "multiple".to_owned();
    }
    names.join("+")
}

/// The metric handles of one operation label, registered once and kept
/// (a prepared document holds its own), so recording takes no lookup.
pub struct OperationMetrics {
    label: String,
    ok: Counter,
    error: Counter,
    duration: Histogram,
    statements: Histogram,
}

impl OperationMetrics {
    pub fn new(label: String) -> Self {
        Self {
            ok: metrics::counter!("graphql_requests_total", "operation" => label.clone(), "outcome" => "ok"),
            error: metrics::counter!("graphql_requests_total", "operation" => label.clone(), "outcome" => "error"),
            duration: metrics::histogram!("graphql_request_duration_seconds", "operation" => label.clone()),
            statements: metrics::histogram!(STATEMENTS_METRIC, "operation" => label.clone()),
            label,
        }
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// One request: whether it answered without errors, how long it took and
    /// how many SQL statements it ran.
    pub fn record(&self, ok: bool, elapsed: Duration, statements: usize) {
        if ok {
            self.ok.increment(1);
        } else {
            self.error.increment(1);
        }
        self.duration.record(elapsed.as_secs_f64());
        self.statements.record(statements as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The label of the document's only operation.
    fn label(query: &str) -> String {
        let doc = async_graphql::parser::parse_query(query).unwrap();
        operation_label(doc.operations.iter().next().map(|(_, op)| &op.node))
    }

    #[test]
    fn operations_are_labelled_by_their_root_fields_never_their_names() {
        assert_eq!(label("query Secret { me { id } }"), "me");
        assert_eq!(
            label("{ sessions { id } me { id } me { email } }"),
            "me+sessions"
        );
        assert_eq!(
            label("{ __schema { types { name } } __typename }"),
            "introspection"
        );
        assert_eq!(
            label("{ ...F } fragment F on Query { me { id } }"),
            "fragment"
        );
        assert_eq!(label("{ a b c d }"), "multiple");
        assert_eq!(label("{ a b c }"), "a+b+c");
        assert_eq!(operation_label(None), "unknown");
    }
}
