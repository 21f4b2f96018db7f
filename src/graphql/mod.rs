//! The GraphQL API: schema assembly and limits, resolvers (thin: read the
//! viewer and state, call one service function, map the result) and types.

mod codes;
mod limits;
mod mutation;
mod observe;
mod query;
mod schema;
mod types;

pub use schema::{ApiSchema, SchemaOptions, build_schema};

/// What the request's `Authorization` header established (anonymous when
/// the schema runs without the HTTP layer).
fn viewer_auth<'a>(ctx: &async_graphql::Context<'a>) -> &'a crate::auth::Auth {
    ctx.data_opt::<crate::auth::Auth>()
        .unwrap_or(&crate::auth::Auth::Anonymous)
}
