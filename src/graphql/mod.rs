//! The GraphQL API: schema assembly and limits, resolvers (thin: read the
//! viewer and state, call one service function, map the result) and types.

mod codes;
mod mutation;
mod query;
mod schema;
mod types;

pub use schema::{ApiSchema, SchemaOptions, build_schema};
