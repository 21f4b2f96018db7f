//! Every required variable must be given. async-graphql checks the values a
//! request sends while validating, but finds a missing one only when a field
//! reads it, after the operation has started; GraphQL refuses such a request
//! before it runs (CoerceVariableValues), and so do we.

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ErrorExtensionValues, ServerError, Variables};

use super::codes::VALIDATION_FAILED;

/// One error per non-null variable of the running operation that has no
/// default and is absent from `variables`.
pub(super) fn unprovided(
    doc: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
) -> Vec<ServerError> {
    let Some(op) = super::selected_operation(doc, operation_name) else {
        return Vec::new();
    };
    op.node
        .variable_definitions
        .iter()
        .filter(|def| {
            def.node.default_value().is_none() && !variables.contains_key(&def.node.name.node)
        })
        .map(|def| {
            let mut e = ServerError::new(
                format!(
                    "Variable \"${}\" of required type \"{}\" was not provided.",
                    def.node.name.node, def.node.var_type.node
                ),
                Some(def.pos),
            );
            let mut ext = ErrorExtensionValues::default();
            ext.set("code", VALIDATION_FAILED);
            e.extensions = Some(ext);
            e
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(query: &str, name: Option<&str>, vars: serde_json::Value) -> Vec<String> {
        let doc = async_graphql::parser::parse_query(query).unwrap();
        unprovided(&doc, name, &Variables::from_json(vars))
            .into_iter()
            .map(|e| e.message)
            .collect()
    }

    #[test]
    fn a_missing_required_variable_is_named() {
        assert_eq!(
            messages(
                "query($a: String!, $b: [Int!]!) { me { id } }",
                None,
                serde_json::json!({})
            ),
            [
                r#"Variable "$a" of required type "String!" was not provided."#,
                r#"Variable "$b" of required type "[Int!]!" was not provided."#,
            ]
        );
    }

    #[test]
    fn given_nullable_or_defaulted_variables_pass() {
        let none: [String; 0] = [];
        assert_eq!(
            messages(
                "query($a: String!) { me { id } }",
                None,
                serde_json::json!({"a": "x"})
            ),
            none
        );
        // A null that was sent is a value; whether it fits is validation's call.
        assert_eq!(
            messages(
                "query($a: String!) { me { id } }",
                None,
                serde_json::json!({"a": null})
            ),
            none
        );
        assert_eq!(
            messages(
                "query($a: String, $b: Int! = 3) { me { id } }",
                None,
                serde_json::json!({})
            ),
            none
        );
    }

    #[test]
    fn only_the_running_operation_counts() {
        let doc = "query A($a: String!) { me { id } } query B { me { id } }";
        assert!(messages(doc, Some("B"), serde_json::json!({})).is_empty());
        assert_eq!(messages(doc, Some("A"), serde_json::json!({})).len(), 1);
    }
}
