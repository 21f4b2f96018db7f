//! The required-variables rule: every required variable must be given.
//! async-graphql checks the values a request sends while validating, but finds a
//! missing one only when a field reads it, after the operation has started;
//! GraphQL refuses such a request before it runs (CoerceVariableValues), and
//! so do we, once the document validates (the extension reports what
//! [`unprovided`] finds then).

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ServerError, Variables};

use crate::graphql::codes::{VALIDATION_FAILED, with_code};

/// One error per non-null variable of the running operation that has no
/// default and is absent from `variables`.
pub(super) fn unprovided(
    doc: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
) -> Vec<ServerError> {
    let Some(op) = crate::graphql::selected_operation(doc, operation_name) else {
        return Vec::new();
    };
    op.node
        .variable_definitions
        .iter()
        .filter(|def| {
            def.node.default_value().is_none() && !variables.contains_key(&def.node.name.node)
        })
        .map(|def| {
            let e = ServerError::new(
                format!(
                    "Variable \"${}\" of required type \"{}\" was not provided.",
                    def.node.name.node, def.node.var_type.node
                ),
                Some(def.pos),
            );
            with_code(e, VALIDATION_FAILED)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::{refusal, schema_with};
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

    #[tokio::test]
    async fn a_missing_variable_is_refused_only_once_the_document_validates() {
        let schema = schema_with(|_| {});
        let (code, message) = refusal(&schema, "query($n: String!) { __type(name: $n) { name } }")
            .await
            .unwrap();
        assert_eq!(code, VALIDATION_FAILED);
        assert_eq!(
            message,
            r#"Variable "$n" of required type "String!" was not provided."#
        );
        let (_, message) = refusal(&schema, "query($n: String!) { nope(name: $n) }")
            .await
            .unwrap();
        assert!(
            message.contains("nope"),
            "validation's error first: {message}"
        );
    }
}
