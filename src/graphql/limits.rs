//! At most one auth mutation (register, login, refresh, changePassword) per
//! document: aliases would otherwise run a hundred password guesses in one
//! request. Counted over the root of the operation that runs, fragments
//! included. Enforced by the per-operation extension (`observe.rs`).

use async_graphql::ErrorExtensionValues;
use async_graphql::ServerError;
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

const AUTH_MUTATIONS: [&str; 4] = ["register", "login", "refresh", "changePassword"];

/// Auth mutation fields at the root of `set`, through fragments (each
/// fragment at most once, so a cycle cannot loop).
fn count(doc: &ExecutableDocument, set: &SelectionSet, seen: &mut Vec<String>) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(f) => usize::from(AUTH_MUTATIONS.contains(&f.node.name.node.as_str())),
            Selection::InlineFragment(f) => count(doc, &f.node.selection_set.node, seen),
            Selection::FragmentSpread(s) => {
                let name = s.node.fragment_name.node.to_string();
                if seen.contains(&name) {
                    return 0;
                }
                seen.push(name.clone());
                doc.fragments
                    .get(&s.node.fragment_name.node)
                    .map_or(0, |f| count(doc, &f.node.selection_set.node, seen))
            }
        })
        .sum()
}

/// The error for a document whose running operation holds more than one
/// auth mutation; `None` when it is within the rule.
pub(super) fn check_one_auth_mutation(
    doc: &ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<ServerError> {
    let op = super::selected_operation(doc, operation_name)?;
    if count(doc, &op.node.selection_set.node, &mut Vec::new()) <= 1 {
        return None;
    }
    let mut e = ServerError::new(
        "At most one of register, login, refresh and changePassword may run per request.",
        Some(op.pos),
    );
    let mut ext = ErrorExtensionValues::default();
    ext.set("code", "GRAPHQL_VALIDATION_FAILED");
    e.extensions = Some(ext);
    Some(e)
}
