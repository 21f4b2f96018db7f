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
//! operation runs is validation's, with the variables. What the extension's
//! `Executed` mark says, the response's cache control says here: an
//! operation that ran carries the one validation computed, private since
//! the `Query` root is; a request error carries the default, public.

use std::sync::Arc;
use std::time::Instant;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType,
};
use async_graphql::{Positioned, Request, Response};
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
    /// None only in tests that run nothing that loads.
    state: Option<AppState>,
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
        state: Option<AppState>,
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
        let whole = hit.is_some();
        let metrics = match (runs(&doc, request.operation_name.as_deref()), hit) {
            (None, _) => return Ran::Declined(request),
            (Some(_), Some(hit)) => hit.metrics.clone(),
            (Some(operation), None) => Arc::new(OperationMetrics::new(operation_label(Some(
                &operation.node,
            )))),
        };
        request.set_parsed_query(doc);
        let mut request = super::loaders::install(request, self.state.as_ref());
        let span = tracing::info_span!("graphql", operation = metrics.label());
        let start = Instant::now();
        if !whole {
            match span.in_scope(|| admission::admit(&self.limits, &mut request)) {
                Err(refusal) => {
                    let response = Response::from_errors(vec![with_code(refusal, BAD_USER_INPUT)]);
                    return answered(response, None, start, 0);
                }
                Ok(admitted) if !admitted.unprovided.is_empty() => {
                    return Ran::Declined(request);
                }
                Ok(_) => {}
            }
        }
        let (mut response, statements) =
            crate::db::count_statements(self.bare.execute(request).instrument(span)).await;
        let executed = !response.cache_control.public;
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
        answered(response, executed.then_some(metrics), start, statements)
    }
}

/// The operation async-graphql will run for `operation_name`, when that is
/// a query; none when it runs no query or refuses the name (which the
/// extension's path answers): as `selected_operation`, except that
/// async-graphql refuses any name for a lone anonymous operation.
fn runs<'a>(
    doc: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<&'a Positioned<OperationDefinition>> {
    if matches!(
        (&doc.operations, operation_name),
        (DocumentOperations::Single(_), Some(_))
    ) {
        return None;
    }
    super::selected_operation(doc, operation_name).filter(|op| op.node.ty == OperationType::Query)
}

/// The direct path's answer, recorded under `metrics` (an operation that
/// ran) or as invalid (a request error).
fn answered(
    response: Response,
    metrics: Option<Arc<OperationMetrics>>,
    start: Instant,
    statements: usize,
) -> Ran {
    let executed = metrics.is_some();
    let metrics =
        metrics.unwrap_or_else(|| Arc::new(OperationMetrics::new(INVALID_OPERATION.to_owned())));
    metrics.record(response.errors.is_empty(), start.elapsed(), statements);
    metrics::counter!(DIRECT_METRIC).increment(1);
    Ran::Answered { response, executed }
}

#[cfg(test)]
mod tests {
    use async_graphql::Variables;
    use serde_json::json;

    use super::*;
    use crate::config::Config;
    use crate::graphql::{Executed, build_api};

    fn request(query: &str, variables: serde_json::Value, operation: Option<&str>) -> Request {
        let mut r = Request::new(query).variables(Variables::from_json(variables));
        if let Some(name) = operation {
            r = r.operation_name(name);
        }
        r
    }

    /// The extension's answer to a request: whether it ran, and the response.
    async fn through_extension(schema: &ApiSchema, r: Request) -> (bool, serde_json::Value) {
        let executed = Executed::default();
        let response = schema.execute(r.data(executed.clone())).await;
        (executed.started(), serde_json::to_value(&response).unwrap())
    }

    /// Keeps `query` (one run through the extension with `keep_with`), then
    /// sends it with `variables` both ways: the direct answer (none when it
    /// declined) and the extension's to a copy never kept.
    async fn both_ways(
        query: &str,
        keep_with: serde_json::Value,
        variables: serde_json::Value,
        operation: Option<&str>,
    ) -> (Option<(bool, serde_json::Value)>, (bool, serde_json::Value)) {
        let (schema, direct) = build_api(&Config::defaults().documents, None);
        let (ran, kept) = through_extension(&schema, request(query, keep_with, None)).await;
        assert!(ran, "the first run keeps it: {kept}");
        let answer = match direct
            .run(request(query, variables.clone(), operation))
            .await
        {
            Ran::Answered { response, executed } => {
                Some((executed, serde_json::to_value(&response).unwrap()))
            }
            Ran::Declined(_) => None,
        };
        let copy = format!("{query} # never kept");
        let extension = through_extension(&schema, request(&copy, variables, operation)).await;
        (answer, extension)
    }

    const TYPE: &str = "query($n: String!) { __type(name: $n) { name } }";

    #[tokio::test]
    async fn a_kept_query_runs_directly_as_the_extension_would() {
        let (direct, extension) =
            both_ways(TYPE, json!({"n": "Query"}), json!({"n": "Post"}), None).await;
        assert_eq!(direct.as_ref(), Some(&extension));
        assert_eq!(
            extension,
            (true, json!({"data": {"__type": {"name": "Post"}}}))
        );
    }

    #[tokio::test]
    async fn a_variable_validation_refuses_is_a_request_error_both_ways() {
        let (direct, extension) =
            both_ways(TYPE, json!({"n": "Query"}), json!({"n": 5}), None).await;
        assert_eq!(direct.as_ref(), Some(&extension));
        let (executed, body) = extension;
        assert!(!executed, "{body}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], VALIDATION_FAILED,
            "{body}"
        );
    }

    #[tokio::test]
    async fn an_operation_that_ran_is_told_apart_without_data_or_a_path() {
        // A null default in a non-null slot passes validation, and the
        // root field's argument error then carries no path.
        let defaulted = "query($n: String = null) { __type(name: $n) { name } }";
        let (direct, extension) =
            both_ways(defaulted, json!({"n": "Query"}), json!({}), None).await;
        assert_eq!(direct.as_ref(), Some(&extension));
        assert!(extension.0, "it ran: {}", extension.1);
        assert!(extension.1["data"].is_null(), "{}", extension.1);

        // Every root field skipped: it ran, and answers `data: null`.
        let skipped = "{ __typename @skip(if: true) }";
        let (direct, extension) = both_ways(skipped, json!({}), json!({}), None).await;
        assert_eq!(direct.as_ref(), Some(&extension));
        assert_eq!(extension, (true, json!({"data": null})));
    }

    #[tokio::test]
    async fn what_only_the_extension_answers_alike_is_declined() {
        // An operation name async-graphql would refuse.
        let (direct, extension) = both_ways(
            TYPE,
            json!({"n": "Query"}),
            json!({"n": "Post"}),
            Some("Other"),
        )
        .await;
        assert_eq!(direct, None);
        assert!(!extension.0);
        // A required variable missing.
        let (direct, extension) = both_ways(TYPE, json!({"n": "Query"}), json!({}), None).await;
        assert_eq!(direct, None);
        assert!(!extension.0);
        // A subscription, kept whole, never runs here.
        let (schema, direct) = build_api(&Config::defaults().documents, None);
        let sub = "subscription { notificationChanged { unreadCount } }";
        schema.execute(request(sub, json!({}), None)).await;
        assert!(matches!(
            direct.run(request(sub, json!({}), None)).await,
            Ran::Declined(_)
        ));
    }
}
