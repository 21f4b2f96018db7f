//! Assembling the schema: its roots, the limits from the settings, and the
//! one per-operation extension.

use async_graphql::{EmptySubscription, Schema};

use super::admission::Limits;
use super::mutation::Mutation;
use super::observe::Observe;
use super::query::Query;
use crate::config::Config;
use crate::state::AppState;

pub type ApiSchema = Schema<Query, Mutation, EmptySubscription>;

/// The limits a schema is built with.
#[derive(Debug, Clone)]
pub struct SchemaOptions {
    pub depth_limit: usize,
    pub complexity_limit: usize,
    pub directive_limit: usize,
    pub field_limit: usize,
    pub introspection: bool,
}

impl From<&Config> for SchemaOptions {
    fn from(c: &Config) -> Self {
        Self {
            depth_limit: c.query_depth_limit,
            complexity_limit: c.query_complexity_limit,
            directive_limit: c.query_directive_limit,
            field_limit: c.query_field_limit,
            introspection: c.introspection,
        }
    }
}

/// Builds the schema; `state` is `None` only to print the SDL.
pub fn build_schema(options: &SchemaOptions, state: Option<AppState>) -> ApiSchema {
    // Depth, complexity and directives are our limits (`admission`), not
    // async-graphql's: ours count `__typename` too, and run before anything
    // expands fragments at every spread.
    let limits = Limits {
        fields: options.field_limit,
        complexity: options.complexity_limit,
        depth: options.depth_limit,
        directives: options.directive_limit,
    };
    let mut builder =
        Schema::build(Query, Mutation, EmptySubscription).extension(Observe::new(limits));
    if !options.introspection {
        // "Did you mean …" would leak the schema that introspection hides.
        builder = builder.disable_introspection().disable_suggestions();
    }
    if let Some(state) = state {
        builder = builder.data(state);
    }
    builder.finish()
}
