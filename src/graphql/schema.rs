//! Assembling the schema: its roots, the limits from the settings, and the
//! one per-operation extension; and beside it the same schema without the
//! extension, for the documents kept before (`direct.rs`).

use async_graphql::{Schema, SchemaBuilder};

use super::direct::Direct;
use super::mutation::Mutation;
use super::observe::Observe;
use super::prepared::PreparedDocuments;
use super::query::Query;
use super::subscription::Subscription;
use crate::config::Documents;
use crate::state::AppState;

pub type ApiSchema = Schema<Query, Mutation, Subscription>;

/// Builds the schema; `state` is `None` only to print the SDL.
pub fn build_schema(options: &Documents, state: Option<AppState>) -> ApiSchema {
    builder(options, state)
        .extension(Observe::new(*options, PreparedDocuments::new()))
        .finish()
}

/// The schema, and the direct path sharing its kept documents; `state` is
/// `None` only in tests that run nothing that loads.
pub fn build_api(options: &Documents, state: Option<AppState>) -> (ApiSchema, Direct) {
    let prepared = PreparedDocuments::new();
    let schema = builder(options, state.clone())
        .extension(Observe::new(*options, prepared.clone()))
        .finish();
    let bare = builder(options, state.clone()).finish();
    let direct = Direct::new(bare, prepared, *options, state);
    (schema, direct)
}

fn builder(
    options: &Documents,
    state: Option<AppState>,
) -> SchemaBuilder<Query, Mutation, Subscription> {
    // Depth, complexity and directives are our limits (`admission`), not
    // async-graphql's: ours count `__typename` too, and run before anything
    // expands fragments at every spread.
    let mut builder = Schema::build(Query, Mutation::default(), Subscription);
    if !options.introspection {
        // "Did you mean …" would leak the schema that introspection hides.
        builder = builder.disable_introspection().disable_suggestions();
    }
    if let Some(state) = state {
        builder = builder.data(state);
    }
    builder
}
