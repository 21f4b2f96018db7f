//! Assembling the schema: its roots, the limits from the settings, and the
//! one per-operation extension.

use async_graphql::Schema;

use super::mutation::Mutation;
use super::observe::Observe;
use super::query::Query;
use super::subscription::Subscription;
use crate::config::Documents;
use crate::state::AppState;

pub type ApiSchema = Schema<Query, Mutation, Subscription>;

/// Builds the schema; `state` is `None` only to print the SDL.
pub fn build_schema(options: &Documents, state: Option<AppState>) -> ApiSchema {
    // Depth, complexity and directives are our limits (`admission`), not
    // async-graphql's: ours count `__typename` too, and run before anything
    // expands fragments at every spread.
    let mut builder =
        Schema::build(Query, Mutation::default(), Subscription).extension(Observe::new(*options));
    if !options.introspection {
        // "Did you mean …" would leak the schema that introspection hides.
        builder = builder.disable_introspection().disable_suggestions();
    }
    if let Some(state) = state {
        builder = builder.data(state);
    }
    builder.finish()
}
