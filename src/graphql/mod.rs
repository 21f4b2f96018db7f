//! The GraphQL API: schema assembly and limits, resolvers (thin: read the
//! viewer and state, call one service function, map the result) and types.

mod admission;
mod codes;
mod direct;
mod loaders;
mod media;
mod mfa;
mod mutation;
mod notifications;
mod observe;
mod prepared;
mod query;
mod report;
mod safety;
mod schema;
mod social;
mod subscription;
mod types;

pub use direct::{Direct, Ran};
pub use observe::Executed;
pub use schema::{ApiSchema, build_api, build_schema};
pub use subscription::{Handoff, Live, LiveItem, Shapes, UNSERIALISABLE};

/// What the request's `Authorization` header established (anonymous when
/// the schema runs without the HTTP layer). Every field that depends on
/// the viewer asks here, which is how a subscription's event knows that
/// its payload is the viewer's own ([`subscription::ViewerProbe`]).
fn viewer_auth<'a>(ctx: &async_graphql::Context<'a>) -> &'a crate::auth::Auth {
    // Only an event's render has one, in the data it resolves with: a plain
    // request pays one `None` check here, not a lookup through every scope.
    let probe = ctx
        .execute_data
        .and_then(|d| d.get(&std::any::TypeId::of::<subscription::ViewerProbe>()))
        .and_then(|p| p.downcast_ref::<subscription::ViewerProbe>());
    if let Some(probe) = probe {
        probe.mark();
    }
    ctx.data_opt::<crate::auth::Auth>()
        .unwrap_or(&crate::auth::Auth::Anonymous)
}

/// The type of the operation a request would run, when its document is
/// within the limits' text rule and parses and names one operation; `None`
/// otherwise (running the request then says why). The subscription socket
/// runs subscriptions only.
pub fn operation_type(
    query: &str,
    operation_name: Option<&str>,
    field_limit: usize,
) -> Option<async_graphql::parser::types::OperationType> {
    let doc = admission::parse_scanned(query, field_limit)?;
    selected_operation(&doc, operation_name).map(|op| op.node.ty)
}

/// The operation of `doc` that will run: the only one, or the one named.
fn selected_operation<'a>(
    doc: &'a async_graphql::parser::types::ExecutableDocument,
    name: Option<&str>,
) -> Option<&'a async_graphql::Positioned<async_graphql::parser::types::OperationDefinition>> {
    use async_graphql::parser::types::DocumentOperations;
    match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name),
        // A named operation alone in its document parses as `Multiple`;
        // without `operationName` async-graphql runs it, so it is the one.
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next(),
        (DocumentOperations::Multiple(_), None) => None,
    }
}
