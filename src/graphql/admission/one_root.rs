//! The single-root-field rule of the GraphQL specification (5.2.3.1): a
//! subscription selects exactly one field at its root, and not an
//! introspection one. async-graphql does not check it, and would run two
//! root fields as two streams sharing one request's loaders (see
//! `graphql::subscription`). Every subscription in the document is checked,
//! as the specification's validation does; fragments count, and a field
//! written twice under one response key counts once.

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType,
};
use async_graphql::{Positioned, ServerError};

use crate::graphql::codes::{VALIDATION_FAILED, with_code};

/// Refuses a document with a subscription whose root selects other than
/// one field, or `__typename` (or another introspection field).
pub(super) fn check(doc: &ExecutableDocument) -> Result<(), ServerError> {
    let operations: Vec<(Option<&str>, &Positioned<OperationDefinition>)> = match &doc.operations {
        DocumentOperations::Single(op) => vec![(None, op)],
        DocumentOperations::Multiple(ops) => {
            ops.iter().map(|(n, op)| (Some(n.as_str()), op)).collect()
        }
    };
    for (name, op) in operations {
        if op.node.ty != OperationType::Subscription {
            continue;
        }
        let mut keys: Vec<(&str, &str)> = Vec::new();
        super::each_field(doc, &op.node.selection_set.node, &mut |f| {
            let name = f.name.node.as_str();
            let key = f.alias.as_ref().map_or(name, |a| a.node.as_str());
            if !keys.iter().any(|(k, _)| *k == key) {
                keys.push((key, name));
            }
        });
        let named = name.map_or_else(
            || "Anonymous Subscription".to_owned(),
            |n| format!("Subscription \"{n}\""),
        );
        let message = if keys.len() != 1 {
            format!("{named} must select only one top level field.")
        } else if keys.iter().any(|(_, field)| field.starts_with("__")) {
            format!("{named} must not select an introspection top level field.")
        } else {
            continue;
        };
        return Err(with_code(
            ServerError::new(message, Some(op.pos)),
            VALIDATION_FAILED,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testing::{refusal, schema_with};
    use super::*;

    fn message(query: &str) -> Option<String> {
        let doc = async_graphql::parser::parse_query(query).unwrap();
        check(&doc).err().map(|e| e.message)
    }

    #[test]
    fn one_root_field_passes_however_it_is_written() {
        for ok in [
            "subscription { feedAdded { cursor } }",
            "subscription { a: feedAdded { cursor } a: feedAdded { node { id } } }",
            "subscription { ...F } fragment F on Subscription { feedAdded { cursor } }",
            "subscription { ... on Subscription { notificationChanged { id } } }",
            "query Q { me { id } __typename } subscription S { feedAdded { cursor } }",
        ] {
            assert_eq!(message(ok), None, "{ok}");
        }
    }

    #[test]
    fn a_second_root_field_or_an_introspection_one_is_refused() {
        assert_eq!(
            message("subscription { feedAdded { cursor } notificationChanged { id } }").as_deref(),
            Some("Anonymous Subscription must select only one top level field.")
        );
        assert_eq!(
            message(
                "subscription S { a: feedAdded { cursor } ...F } fragment F on Subscription { b: feedAdded { cursor } }"
            )
            .as_deref(),
            Some("Subscription \"S\" must select only one top level field.")
        );
        assert_eq!(
            message("query Q { me { id } } subscription S { __typename }").as_deref(),
            Some("Subscription \"S\" must not select an introspection top level field.")
        );
    }

    #[tokio::test]
    async fn the_schema_refuses_it_as_a_validation_error() {
        let schema = schema_with(|_| {});
        let (code, message) = refusal(
            &schema,
            "subscription { feedAdded { cursor } postChanged(id: \"x\") { id } }",
        )
        .await
        .expect("refused");
        assert_eq!(code, VALIDATION_FAILED);
        assert!(message.contains("only one top level field"), "{message}");
    }
}
