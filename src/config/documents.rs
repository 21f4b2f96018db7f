//! The GraphQL documents group: the limits every document is held to and
//! whether the schema answers introspection; the schema is built from it.

use clap::Args;

use super::parse_switch;

#[derive(Debug, Clone, Copy, Args)]
pub struct Documents {
    /// Deepest accepted GraphQL selection.
    #[arg(
        long = "query-depth-limit",
        env = "QUERY_DEPTH_LIMIT",
        value_name = "QUERY_DEPTH_LIMIT",
        default_value_t = 16,
        global = true
    )]
    pub depth_limit: usize,

    /// Most fields a document selects with fragments expanded (each spread
    /// counts its fragment again), over every operation and fragment.
    #[arg(
        long = "query-complexity-limit",
        env = "QUERY_COMPLEXITY_LIMIT",
        value_name = "QUERY_COMPLEXITY_LIMIT",
        default_value_t = 1000,
        global = true
    )]
    pub complexity_limit: usize,

    /// Most directives on one field (`@include`, `@skip`, …).
    #[arg(
        long = "query-directive-limit",
        env = "QUERY_DIRECTIVE_LIMIT",
        value_name = "QUERY_DIRECTIVE_LIMIT",
        default_value_t = 4,
        global = true
    )]
    pub directive_limit: usize,

    /// Most fields a document may select as written, `__typename` and
    /// aliases included (GraphiQL's introspection query selects 70).
    #[arg(
        long = "query-field-limit",
        env = "QUERY_FIELD_LIMIT",
        value_name = "QUERY_FIELD_LIMIT",
        default_value_t = 500,
        global = true
    )]
    pub field_limit: usize,

    /// Answer introspection queries (on|off); when off, "did you mean" suggestions are off too.
    #[arg(long, env = "INTROSPECTION", default_value = "on", value_parser = parse_switch, action = clap::ArgAction::Set, global = true)]
    pub introspection: bool,
}
