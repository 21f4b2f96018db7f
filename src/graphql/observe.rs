//! The one per-operation extension: the document limits (`limits.rs`),
//! required variables (`variables.rs`), the contract's error codes
//! (`codes.rs`), a cache of prepared documents, the mark that tells a request
//! error from an operation that ran ([`Executed`]), and one span and one set
//! of metrics labelled by what the operation asks for (its root fields:
//! `login`, `me`, …), never by client-chosen names or variables, so labels
//! stay few and secrets stay out.
//!
//! The limits run when the request is prepared: the text is scanned, then
//! parsed here (async-graphql takes the parsed document from the request),
//! then measured (with the request's variables, which can give a
//! connection's `first`), all before async-graphql's own checks, which
//! expand fragments at every spread. The cache: a query without variable
//! definitions validates and measures the same way whatever the request
//! carries, so once it has passed the limits, parsed and validated it is
//! kept (by its exact text and operation name) with its validation result
//! and its metric handles; the next request with the same text skips the
//! limits, parse, validation and label work. Documents with variables are
//! never cached (validation and the measure can depend on them), nor are
//! mutations (inline arguments can be a password, which must not become a
//! cache key).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
    NextRequest, NextValidation,
};
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationType, Selection,
};
use async_graphql::{Request, Response, ServerError, ServerResult, ValidationResult, Variables};
use metrics::{Counter, Histogram};
use tracing::Instrument as _;

use super::codes::{BAD_USER_INPUT, PARSE_FAILED, VALIDATION_FAILED, with_code};
use super::limits::Limits;

/// Longer documents are not cached (clients send a handful of short ones).
const MAX_CACHED_QUERY_LEN: usize = 4096;
/// Distinct documents kept; moka's admission policy keeps the frequent ones.
const CACHE_CAPACITY: u64 = 512;

/// Request data that the extension marks when the operation starts to run.
///
/// Unmarked after `execute`, the response holds a request error: the
/// document did not parse or validate, no operation could be chosen, or a
/// variable did not coerce (checked while validating: async-graphql's rules
/// and `variables.rs`). Its `data` is null, but so is the `data` of an operation
/// that ran and whose non-null root field failed; only this mark tells the
/// two apart (GraphQL over HTTP answers the first 400, the second 200).
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
    limits: Limits,
    prepared: moka::sync::Cache<String, Arc<Prepared>>,
}

impl Observe {
    pub(super) fn new(limits: Limits) -> Self {
        Self {
            limits,
            prepared: moka::sync::Cache::new(CACHE_CAPACITY),
        }
    }
}

impl ExtensionFactory for Observe {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ObserveRequest {
            limits: self.limits,
            prepared: self.prepared.clone(),
            state: Mutex::new(RequestState::default()),
        })
    }
}

/// A document that parsed and validated, ready to run again.
struct Prepared {
    /// The operation it was validated for.
    operation_name: Option<String>,
    doc: ExecutableDocument,
    validation: ValidationResult,
    metrics: Arc<OpMetrics>,
}

/// The span label and metric handles of one operation label, registered once.
struct OpMetrics {
    label: String,
    ok: Counter,
    error: Counter,
    duration: Histogram,
    statements: Histogram,
}

impl OpMetrics {
    fn new(label: String) -> Self {
        Self {
            ok: metrics::counter!("graphql_requests_total", "operation" => label.clone(), "outcome" => "ok"),
            error: metrics::counter!("graphql_requests_total", "operation" => label.clone(), "outcome" => "error"),
            duration: metrics::histogram!("graphql_request_duration_seconds", "operation" => label.clone()),
            statements: metrics::histogram!("graphql_request_db_statements", "operation" => label.clone()),
            label,
        }
    }
}

struct ObserveRequest {
    limits: Limits,
    prepared: moka::sync::Cache<String, Arc<Prepared>>,
    state: Mutex<RequestState>,
}

#[derive(Default)]
struct RequestState {
    /// Which operation of the document runs (only to find it; never a label).
    operation_name: Option<String>,
    /// The cache entry this request's document came from.
    hit: Option<Arc<Prepared>>,
    /// A document parsed now that may be cached once it validates: its text
    /// and a copy.
    fresh: Option<(String, ExecutableDocument)>,
    /// The label of the parsed document; applied only once it validates.
    label: Option<String>,
    /// Required variables the request left out; reported once the document
    /// validates, as GraphQL coerces variables after validation.
    unprovided: Vec<ServerError>,
    /// Set once the document validated.
    metrics: Option<Arc<OpMetrics>>,
}

impl ObserveRequest {
    fn state(&self) -> MutexGuard<'_, RequestState> {
        // Nothing panics while holding it; recover rather than poison the request.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The root fields an operation selects: `login`, `me+sessions`,
/// `introspection`; `multiple` beyond three.
fn label_of(doc: &ExecutableDocument, operation_name: Option<&str>) -> String {
    let Some(operation) = super::selected_operation(doc, operation_name) else {
        return "unknown".to_owned();
    };
    let mut names: Vec<&str> = operation
        .node
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

/// Whether `doc` may be cached: only queries (a mutation's inline arguments
/// can be a password, which must not sit in memory as a cache key), none of
/// which declares a variable (so validation cannot depend on what the
/// request carries).
fn cacheable(doc: &ExecutableDocument) -> bool {
    let ok = |op: &async_graphql::Positioned<async_graphql::parser::types::OperationDefinition>| {
        op.node.ty == OperationType::Query && op.node.variable_definitions.is_empty()
    };
    match &doc.operations {
        DocumentOperations::Single(op) => ok(op),
        DocumentOperations::Multiple(ops) => ops.values().all(ok),
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
        // Not valid (or not even parsed): one label for all of them.
        let metrics = self
            .state()
            .metrics
            .take()
            .unwrap_or_else(|| Arc::new(OpMetrics::new("invalid".to_owned())));
        if response.errors.is_empty() {
            metrics.ok.increment(1);
        } else {
            metrics.error.increment(1);
        }
        metrics.duration.record(start.elapsed().as_secs_f64());
        metrics.statements.record(statements as f64);
        response
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        // The batch loads of this request (see `loaders.rs`).
        if let Some(state) = ctx.data_opt::<crate::state::AppState>() {
            request = request.data(super::loaders::RequestLoaders::new(state));
        }
        let name = request.operation_name.clone();
        let hit = if request.query.len() <= MAX_CACHED_QUERY_LEN {
            self.prepared
                .get(&request.query)
                .filter(|hit| hit.operation_name == name)
        } else {
            None
        };
        let is_hit = hit.is_some();
        {
            let mut state = self.state();
            state.operation_name.clone_from(&name);
            state.hit = hit;
        }
        if is_hit {
            return next.run(ctx, request).await;
        }
        self.limits.check_text(&request.query)?;
        // Connection fields may take `first` from a variable; moved out for
        // the measure, as the parsed document borrows the request.
        let variables = std::mem::take(&mut request.variables);
        let doc = request
            .parsed_query()
            .map_err(|e| with_code(e, PARSE_FAILED))?;
        self.limits.check_document(doc, &variables)?;
        if let Some(refused) = super::limits::check_one_auth_mutation(doc, name.as_deref()) {
            return Err(refused);
        }
        request.variables = variables;
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let name = {
            let state = self.state();
            if let Some(hit) = &state.hit {
                return Ok(hit.doc.clone());
            }
            state.operation_name.clone()
        };
        // Takes the document parsed in `prepare_request`.
        let doc = next
            .run(ctx, query, variables)
            .await
            .map_err(|e| with_code(e, PARSE_FAILED))?;
        let label = label_of(&doc, name.as_deref());
        let unprovided = super::variables::unprovided(&doc, name.as_deref(), variables);
        let mut state = self.state();
        state.unprovided = unprovided;
        if query.len() <= MAX_CACHED_QUERY_LEN && cacheable(&doc) {
            state.fresh = Some((query.to_owned(), doc.clone()));
        }
        state.label = Some(label);
        Ok(doc)
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

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let hit = self.state().hit.take();
        if let Some(hit) = hit {
            tracing::Span::current().record("operation", hit.metrics.label.as_str());
            self.state().metrics = Some(hit.metrics.clone());
            return Ok(hit.validation);
        }
        let validation = next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|e| with_code(e, VALIDATION_FAILED))
                .collect::<Vec<_>>()
        })?;
        let mut state = self.state();
        if !state.unprovided.is_empty() {
            return Err(std::mem::take(&mut state.unprovided));
        }
        let label = state.label.take().unwrap_or_else(|| "unknown".to_owned());
        tracing::Span::current().record("operation", label.as_str());
        let metrics = Arc::new(OpMetrics::new(label));
        if let Some((query, doc)) = state.fresh.take() {
            let prepared = Prepared {
                operation_name: state.operation_name.clone(),
                doc,
                validation,
                metrics: metrics.clone(),
            };
            self.prepared.insert(query, Arc::new(prepared));
        }
        state.metrics = Some(metrics);
        Ok(validation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::graphql::build_schema;

    fn schema() -> crate::graphql::ApiSchema {
        build_schema(&Config::defaults().documents, None)
    }

    fn errors(r: &Response) -> Vec<String> {
        r.errors.iter().map(|e| e.message.clone()).collect()
    }

    #[tokio::test]
    async fn a_cached_document_answers_as_the_first_time() {
        let schema = schema();
        for _ in 0..3 {
            let r = schema.execute("{ me { id } }").await;
            assert!(r.errors.is_empty(), "{:?}", errors(&r));
            assert_eq!(r.data.to_string(), "{me: null}");
        }
    }

    #[tokio::test]
    async fn the_operation_name_is_part_of_the_cache_key() {
        let schema = schema();
        let doc = "query A { me { id } } query B { sessions { id } }";
        for _ in 0..2 {
            let a = schema.execute(Request::new(doc).operation_name("A")).await;
            assert!(a.errors.is_empty(), "{:?}", errors(&a));
            // B needs a viewer: the error proves B ran, not A from the cache.
            let b = schema.execute(Request::new(doc).operation_name("B")).await;
            assert_eq!(b.errors.len(), 1, "{:?}", errors(&b));
            let none = schema.execute(Request::new(doc)).await;
            assert!(!none.errors.is_empty(), "no operation chosen");
        }
    }

    #[tokio::test]
    async fn invalid_documents_stay_invalid_and_rules_still_apply() {
        let schema = schema();
        for _ in 0..2 {
            let r = schema.execute("{ me { nope } }").await;
            let code = r.errors[0].extensions.as_ref().and_then(|e| e.get("code"));
            assert_eq!(
                code,
                Some(&async_graphql::Value::from(VALIDATION_FAILED)),
                "{:?}",
                errors(&r)
            );
            let twice = r#"mutation { a: refresh(input: {refreshToken: "x"}) { accessToken } b: refresh(input: {refreshToken: "y"}) { accessToken } }"#;
            let r = schema.execute(twice).await;
            assert!(
                errors(&r)[0].starts_with("At most one of"),
                "{:?}",
                errors(&r)
            );
        }
    }

    /// Runs `request` with the mark; answers whether the operation started.
    async fn started(schema: &crate::graphql::ApiSchema, request: Request) -> (bool, Response) {
        let executed = Executed::default();
        let response = schema.execute(request.data(executed.clone())).await;
        (executed.started(), response)
    }

    #[tokio::test]
    async fn request_errors_leave_the_mark_unset() {
        let schema = schema();
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
        let schema = schema();
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

    #[test]
    fn only_queries_without_variables_are_cacheable() {
        let parse = |q: &str| async_graphql::parser::parse_query(q).unwrap();
        assert!(cacheable(&parse("{ me { id } }")));
        assert!(cacheable(&parse(
            "query A { me { id } } query B { me { email } }"
        )));
        assert!(!cacheable(&parse(
            "mutation($i: LoginInput!) { login(input: $i) { accessToken } }"
        )));
        assert!(!cacheable(&parse(
            "query A { me { id } } query B($x: Int) { me { id } }"
        )));
        assert!(
            !cacheable(&parse(
                r#"mutation { login(input: {email: "a@b.co", password: "hunter2hunter2"}) { accessToken } }"#
            )),
            "an inline password must not become a cache key"
        );
    }
}
