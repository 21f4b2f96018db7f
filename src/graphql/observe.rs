//! Per operation: the one-auth-mutation rule (`limits.rs`), and one span and
//! one set of metrics labelled by what the operation asks for (its root
//! fields: `login`, `me`, …), never by client-chosen names or variables, so
//! labels stay few and secrets stay out.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest, NextRequest,
};
use async_graphql::parser::types::{ExecutableDocument, Selection};
use async_graphql::{Request, Response, ServerResult, Variables};
use tracing::Instrument as _;

pub struct Observe;

impl ExtensionFactory for Observe {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ObserveRequest {
            operation_name: Mutex::new(None),
            label: Mutex::new(None),
        })
    }
}

struct ObserveRequest {
    /// Which operation of the document runs (only to find it; never a label).
    operation_name: Mutex<Option<String>>,
    label: Mutex<Option<String>>,
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

#[async_trait::async_trait]
impl Extension for ObserveRequest {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let span = tracing::info_span!("graphql", operation = tracing::field::Empty);
        let start = Instant::now();
        let response = next.run(ctx).instrument(span).await;
        let operation = self
            .label
            .lock()
            .ok()
            .and_then(|l| l.clone())
            .unwrap_or_else(|| "invalid".to_owned());
        let outcome = if response.errors.is_empty() {
            "ok"
        } else {
            "error"
        };
        metrics::counter!("graphql_requests_total", "operation" => operation.clone(), "outcome" => outcome)
            .increment(1);
        metrics::histogram!("graphql_request_duration_seconds", "operation" => operation)
            .record(start.elapsed().as_secs_f64());
        response
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        if let Ok(mut slot) = self.operation_name.lock() {
            slot.clone_from(&request.operation_name);
        }
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        let name = self.operation_name.lock().ok().and_then(|n| n.clone());
        if let Some(refused) = super::limits::check_one_auth_mutation(&doc, name.as_deref()) {
            return Err(refused);
        }
        let label = label_of(&doc, name.as_deref());
        tracing::Span::current().record("operation", label.as_str());
        if let Ok(mut slot) = self.label.lock() {
            *slot = Some(label);
        }
        Ok(doc)
    }
}
