//! The one per-operation extension, an orchestrator: it admits documents
//! (`admission`), answers from the prepared-document cache (`prepared.rs`),
//! gives async-graphql's own errors the contract's codes (`codes.rs`), marks
//! the request once its operation starts ([`Executed`]), and opens one span
//! and records one set of metrics (`telemetry::OperationMetrics`) per
//! operation. One extension, not one per concern, as every field resolves
//! through each extension installed; and a query whose document was kept
//! runs without it (`direct.rs`), these steps done around the run.
//!
//! async-graphql calls the hooks in this order, each only if the one before
//! succeeded; [`Stage`] carries what one leaves for the next:
//!
//! ```text
//! hook              does                                            leaves in `Stage`
//! request           opens the span, starts the clock and the
//! │                 statement count; all below runs inside it
//! ├ prepare_request puts the request's loaders in its data;
//! │                 prepared before? yes ─────────────────────────▶ Hit(prepared)
//! │                 no: its parse kept (variables)? into request;
//! │                 admission::admit; a refusal ends here ────────▶ Admitted{operation_name, unprovided, parsed_before}
//! ├ parse_query     Hit: the prepared document
//! │                 Admitted: async-graphql's parse, which takes
//! │                 the document admit parsed; its label; a
//! │                 copy if the cache may keep it ────────────────▶ Parsed{label, unprovided, keep}
//! ├ validation      Hit: the prepared result ─────────────────────▶ Valid(metrics)
//! │                 Parsed: async-graphql's rules, then the
//! │                 unprovided variables; the copy to the cache
//! │                 (whole, or with variables its parse) ─────────▶ Valid(metrics)
//! ├ execute         marks Executed; the resolvers run
//! └ request, after  codes on the errors left; records Valid's
//!                   metrics, or "invalid"'s after any other stage
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
    NextRequest, NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, Response, ServerError, ServerResult, ValidationResult, Variables};
use tracing::Instrument as _;

use super::admission;
use super::codes::{BAD_USER_INPUT, PARSE_FAILED, VALIDATION_FAILED, with_code};
use super::prepared::{Candidate, Prepared, PreparedDocuments};
use crate::config::Documents;
use crate::telemetry::{INVALID_OPERATION, OperationMetrics, UNKNOWN_OPERATION, operation_label};

/// Request data that the extension marks when the operation starts to run.
///
/// Unmarked after `execute`, the response holds a request error: the
/// document did not parse or validate, no operation could be chosen, or a
/// variable did not coerce (checked while validating: async-graphql's rules
/// and the required-variables rule). Its `data` is null, but so is the
/// `data` of an operation that ran and whose non-null root field failed;
/// only this mark tells the two apart (GraphQL over HTTP answers the first
/// 400, the second 200).
#[derive(Clone, Default)]
pub struct Executed(Arc<AtomicBool>);

impl Executed {
    pub fn started(&self) -> bool {
        // Written before the response is returned; the future's completion
        // orders the two.
        self.0.load(Ordering::Relaxed)
    }
}

/// The extension factory; holds the limits and the prepared-document cache.
pub struct Observe {
    limits: Documents,
    prepared: PreparedDocuments,
}

impl Observe {
    pub(super) fn new(limits: Documents, prepared: PreparedDocuments) -> Self {
        Self { limits, prepared }
    }
}

impl ExtensionFactory for Observe {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ObserveRequest {
            limits: self.limits,
            prepared: self.prepared.clone(),
            stage: Mutex::new(Stage::Start),
        })
    }
}

/// What one hook leaves for the next (the diagram at the top).
#[derive(Default)]
enum Stage {
    #[default]
    Start,
    /// The document was prepared before.
    Hit(Arc<Prepared>),
    /// The document was admitted now.
    Admitted {
        operation_name: Option<String>,
        unprovided: Vec<ServerError>,
        /// Its parse came from the cache.
        parsed_before: bool,
    },
    /// …and parsed.
    Parsed {
        label: String,
        unprovided: Vec<ServerError>,
        /// Boxed: a document is large, and most requests never hold one.
        keep: Option<Box<Candidate>>,
    },
    /// The document validated; the operation's metrics.
    Valid(Arc<OperationMetrics>),
}

struct ObserveRequest {
    limits: Documents,
    prepared: PreparedDocuments,
    stage: Mutex<Stage>,
}

impl ObserveRequest {
    fn stage(&self) -> MutexGuard<'_, Stage> {
        // Nothing panics while holding it; recover rather than poison the request.
        self.stage.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take_stage(&self) -> Stage {
        std::mem::take(&mut *self.stage())
    }
}

#[async_trait::async_trait]
impl Extension for ObserveRequest {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let span = tracing::info_span!("graphql", operation = tracing::field::Empty);
        let start = Instant::now();
        let (mut response, statements) =
            crate::db::count_statements(next.run(ctx).instrument(span)).await;
        if !response.errors.is_empty() {
            response.errors = std::mem::take(&mut response.errors)
                .into_iter()
                .map(|e| with_code(e, BAD_USER_INPUT))
                .collect();
        }
        let ok = response.errors.is_empty();
        match self.take_stage() {
            Stage::Valid(metrics) => metrics.record(ok, start.elapsed(), statements),
            // Not valid (or not even parsed): one label for all of them.
            _ => OperationMetrics::new(INVALID_OPERATION.to_owned()).record(
                ok,
                start.elapsed(),
                statements,
            ),
        }
        response
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let mut request = super::loaders::install(request, ctx.data_opt());
        if let Some(hit) = self.prepared.get(&request) {
            *self.stage() = Stage::Hit(hit);
            return next.run(ctx, request).await;
        }
        let parsed = self.prepared.parsed(&request.query);
        let parsed_before = parsed.is_some();
        if let Some(doc) = parsed {
            request.set_parsed_query(doc);
        }
        let admitted = admission::admit(&self.limits, &mut request)?;
        *self.stage() = Stage::Admitted {
            operation_name: request.operation_name.clone(),
            unprovided: admitted.unprovided,
            parsed_before,
        };
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let (operation_name, unprovided, parsed_before) = {
            let mut stage = self.stage();
            match std::mem::take(&mut *stage) {
                Stage::Hit(hit) => {
                    let doc = hit.doc.clone();
                    *stage = Stage::Hit(hit);
                    return Ok(doc);
                }
                Stage::Admitted {
                    operation_name,
                    unprovided,
                    parsed_before,
                } => (operation_name, unprovided, parsed_before),
                _ => (None, Vec::new(), false),
            }
        };
        let doc = next
            .run(ctx, query, variables)
            .await
            .map_err(|e| with_code(e, PARSE_FAILED))?;
        let operation = super::selected_operation(&doc, operation_name.as_deref());
        let label = operation_label(operation.map(|op| &op.node));
        let keep = Candidate::of(query, operation_name, &doc, parsed_before).map(Box::new);
        *self.stage() = Stage::Parsed {
            label,
            unprovided,
            keep,
        };
        Ok(doc)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let (label, unprovided, keep) = {
            let mut stage = self.stage();
            match std::mem::take(&mut *stage) {
                Stage::Hit(hit) => {
                    tracing::Span::current().record("operation", hit.metrics.label());
                    *stage = Stage::Valid(hit.metrics.clone());
                    return Ok(hit.validation);
                }
                Stage::Parsed {
                    label,
                    unprovided,
                    keep,
                } => (label, unprovided, keep),
                _ => (UNKNOWN_OPERATION.to_owned(), Vec::new(), None),
            }
        };
        let validation = next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|e| with_code(e, VALIDATION_FAILED))
                .collect::<Vec<_>>()
        })?;
        if !unprovided.is_empty() {
            return Err(unprovided);
        }
        tracing::Span::current().record("operation", label.as_str());
        let metrics = Arc::new(OperationMetrics::new(label));
        if let Some(candidate) = keep {
            self.prepared.keep(*candidate, validation, metrics.clone());
        }
        *self.stage() = Stage::Valid(metrics);
        Ok(validation)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        if let Some(executed) = ctx.data_opt::<Executed>() {
            executed.0.store(true, Ordering::Relaxed);
        }
        next.run(ctx, operation_name).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graphql::admission::testing::{errors, schema_with};

    /// Runs `request` with the mark; answers whether the operation started.
    async fn started(schema: &crate::graphql::ApiSchema, request: Request) -> (bool, Response) {
        let executed = Executed::default();
        let response = schema.execute(request.data(executed.clone())).await;
        (executed.started(), response)
    }

    #[tokio::test]
    async fn request_errors_leave_the_mark_unset() {
        let schema = schema_with(|_| {});
        let vars = |v: serde_json::Value| Variables::from_json(v);
        let cases = [
            ("a parse error", Request::new("{ me { id ")),
            ("a validation error", Request::new("{ nope }")),
            (
                "an unknown operation",
                Request::new("query A { me { id } }").operation_name("B"),
            ),
            (
                "no operation chosen",
                Request::new("query A { me { id } } query B { me { id } }"),
            ),
            (
                "a variable of the wrong type",
                Request::new("query($n: String!) { __type(name: $n) { name } }")
                    .variables(vars(serde_json::json!({"n": 5}))),
            ),
            (
                "a null for a non-null variable",
                Request::new("query($n: String!) { __type(name: $n) { name } }")
                    .variables(vars(serde_json::json!({"n": null}))),
            ),
            (
                "a missing variable",
                Request::new("query($n: String!) { __type(name: $n) { name } }"),
            ),
            (
                "two auth mutations",
                Request::new(
                    r#"mutation { a: refresh(input: {refreshToken: "x"}) { accessToken } b: refresh(input: {refreshToken: "y"}) { accessToken } }"#,
                ),
            ),
        ];
        for (what, request) in cases {
            // Twice: the second may come from the prepared-document cache.
            for _ in 0..2 {
                let (started, r) = started(&schema, request_clone(&request)).await;
                assert!(!started, "{what}: {:?}", errors(&r));
                assert!(!r.errors.is_empty(), "{what}");
                assert_eq!(r.data, async_graphql::Value::Null, "{what}");
            }
        }
    }

    #[tokio::test]
    async fn an_operation_that_ran_is_marked_even_when_its_data_is_null() {
        let schema = schema_with(|_| {});
        for _ in 0..2 {
            let (started_ok, ok) = started(&schema, Request::new("{ me { id } }")).await;
            assert!(started_ok && ok.errors.is_empty(), "{:?}", errors(&ok));
            // `sessions` is non-null and needs a viewer: its error nulls `data`.
            let (started_failed, failed) =
                started(&schema, Request::new("{ sessions { id } }")).await;
            assert!(started_failed, "{:?}", errors(&failed));
            assert_eq!(failed.data, async_graphql::Value::Null);
            assert_eq!(failed.errors.len(), 1, "{:?}", errors(&failed));
        }
    }

    /// `Request` is not `Clone`; the parts these tests set.
    fn request_clone(r: &Request) -> Request {
        let mut c = Request::new(r.query.clone()).variables(r.variables.clone());
        if let Some(name) = &r.operation_name {
            c = c.operation_name(name.clone());
        }
        c
    }
}
