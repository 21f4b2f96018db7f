//! Gives every error that async-graphql raises itself the contract's
//! `extensions.code`: parse errors, validation and limit errors, and input
//! coercion errors. Errors from our resolvers carry their code already.
//! Applied by the one per-operation extension (`observe.rs`), so that each
//! field resolves through a single extension, not one per concern; the
//! admission rules build their refusals here too.

use async_graphql::ServerError;

pub(super) const PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
pub(super) const VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
/// Whatever else async-graphql refuses (input coercion, unknown operation).
pub(super) const BAD_USER_INPUT: &str = "BAD_USER_INPUT";

/// `e` with `extensions.code` set to `code` unless it has one.
pub(super) fn with_code(mut e: ServerError, code: &str) -> ServerError {
    let ext = e.extensions.get_or_insert_with(Default::default);
    if ext.get("code").is_none() {
        ext.set("code", code);
    }
    e
}

/// A refusal of ours, with the contract's `code`.
pub(super) fn refused(message: String, code: &str) -> ServerError {
    with_code(ServerError::new(message, None), code)
}
