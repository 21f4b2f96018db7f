//! The direct path: an HTTP query whose document parsed and validated
//! before runs on a second schema, one without the per-operation
//! extension (`observe.rs`). With any extension installed, async-graphql
//! resolves every field and every list item through the extension chain
//! (a registry lookup, a `ResolveInfo` and a boxed future each): a third
//! of the machinery of an inbox page, for an extension that has nothing
//! to do per field. What the extension does per request is done here
//! around the run instead, the same way:
//!
//! - the document is the kept one (`prepared.rs`), so nothing is parsed;
//! - admission runs on the request as the extension's would (a document
//!   without variables was admitted when it was kept, as on a hit there);
//! - async-graphql validates with the request's variables;
//! - the span, the statement count and the metrics are the extension's.
//!
//! A request goes the extension's way instead ([`Ran::Declined`]) unless
//! its document was kept, its operation is a query that async-graphql will
//! select by the request's `operationName`, it carries no upload, and no
//! required variable is missing (that refusal comes after validation's,
//! which only the extension orders). So the one failure left before the
//! operation runs is validation's, with the variables; a response is of an
//! operation that ran when it has data or an error with a path (every
//! resolver's error has one), as the extension's [`Executed`] mark says.

use std::sync::Arc;
use std::time::Instant;

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{Request, Response, Value};
use tracing::Instrument as _;

use super::admission;
use super::codes::{BAD_USER_INPUT, VALIDATION_FAILED, with_code};
use super::prepared::PreparedDocuments;
use super::schema::ApiSchema;
use crate::config::Documents;
use crate::state::AppState;
use crate::telemetry::{INVALID_OPERATION, OperationMetrics, operation_label};

/// Requests answered on the direct path (the rest of
/// `graphql_requests_total` went the extension's way).
const DIRECT_METRIC: &str = "graphql_direct_requests_total";

/// The schema without the extension, and what the extension holds.
#[derive(Clone)]
pub struct Direct {
    bare: ApiSchema,
    prepared: PreparedDocuments,
    limits: Documents,
    state: AppState,
}

/// What [`Direct::run`] did with a request.
pub enum Ran {
    /// It answered; whether the operation ran (else a request error).
    Answered { response: Response, executed: bool },
    /// Not for the direct path: the request, to run with the extension.
    Declined(Request),
}

impl Direct {
    pub(super) fn new(
        bare: ApiSchema,
        prepared: PreparedDocuments,
        limits: Documents,
        state: AppState,
    ) -> Self {
        Self {
            bare,
            prepared,
            limits,
            state,
        }
    }

    /// Runs `request` here if its document was kept (the module's rules).
    pub async fn run(&self, mut request: Request) -> Ran {
        if !request.uploads.is_empty() {
            return Ran::Declined(request);
        }
        // A whole hit was admitted when it was kept, and has its metrics.
        let (doc, hit) = match self.prepared.get(&request) {
            Some(hit) => (hit.doc.clone(), Some(hit)),
            None => match self.prepared.parsed(&request.query) {
                Some(doc) => (doc, None),
                None => return Ran::Declined(request),
            },
        };
        let Some(label) = runs(&doc, request.operation_name.as_deref()) else {
            return Ran::Declined(request);
        };
        request.set_parsed_query(doc);
        let mut request = super::loaders::install(request, Some(&self.state));
        let span = tracing::info_span!("graphql", operation = tracing::field::Empty);
        let start = Instant::now();
        if hit.is_none() {
            match span.in_scope(|| admission::admit(&self.limits, &mut request)) {
                Err(refusal) => {
                    let response = Response::from_errors(vec![with_code(refusal, BAD_USER_INPUT)]);
                    OperationMetrics::new(INVALID_OPERATION.to_owned()).record(
                        false,
                        start.elapsed(),
                        0,
                    );
                    metrics::counter!(DIRECT_METRIC).increment(1);
                    return Ran::Answered {
                        response,
                        executed: false,
                    };
                }
                Ok(admitted) if !admitted.unprovided.is_empty() => {
                    return Ran::Declined(request);
                }
                Ok(_) => {}
            }
        }
        span.record("operation", label.as_str());
        let (mut response, statements) =
            crate::db::count_statements(self.bare.execute(request).instrument(span)).await;
        let executed = !matches!(response.data, Value::Null)
            || response.errors.iter().any(|e| !e.path.is_empty());
        let code = if executed {
            BAD_USER_INPUT
        } else {
            VALIDATION_FAILED
        };
        if !response.errors.is_empty() {
            response.errors = std::mem::take(&mut response.errors)
                .into_iter()
                .map(|e| with_code(e, code))
                .collect();
        }
        let metrics = match hit {
            Some(hit) if executed => hit.metrics.clone(),
            _ => Arc::new(OperationMetrics::new(if executed {
                label
            } else {
                INVALID_OPERATION.to_owned()
            })),
        };
        metrics.record(response.errors.is_empty(), start.elapsed(), statements);
        metrics::counter!(DIRECT_METRIC).increment(1);
        Ran::Answered { response, executed }
    }
}

/// The metrics label of the operation async-graphql will run for
/// `operation_name`, when that is a query; none when it runs no query or
/// refuses the name (which the extension's path answers).
fn runs(doc: &ExecutableDocument, operation_name: Option<&str>) -> Option<String> {
    let operation = match (&doc.operations, operation_name) {
        (DocumentOperations::Single(op), None) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name)?,
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next()?,
        _ => return None,
    };
    (operation.node.ty == OperationType::Query).then(|| operation_label(Some(&operation.node)))
}
