//! The auth-mutation rule: at most one of register, login, refresh,
//! changePassword, verifyMfa and finishPasskeyLogin per document, as
//! aliases would otherwise run a hundred password (or code) guesses in one
//! request. Counted over the root of the operation
//! that runs, fragments included.

use async_graphql::ServerError;
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

use crate::graphql::codes::{VALIDATION_FAILED, with_code};

const AUTH_MUTATIONS: [&str; 6] = [
    "register",
    "login",
    "refresh",
    "changePassword",
    "verifyMfa",
    "finishPasskeyLogin",
];

/// Refuses a document whose running operation selects more than one auth
/// mutation.
pub(super) fn check(
    doc: &ExecutableDocument,
    operation_name: Option<&str>,
) -> Result<(), ServerError> {
    let Some(op) = crate::graphql::selected_operation(doc, operation_name) else {
        return Ok(());
    };
    if count(doc, &op.node.selection_set.node, &mut Vec::new()) <= 1 {
        return Ok(());
    }
    Err(with_code(
        ServerError::new(
            "At most one of register, login, refresh, changePassword, verifyMfa and finishPasskeyLogin may run per request.",
            Some(op.pos),
        ),
        VALIDATION_FAILED,
    ))
}

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

#[cfg(test)]
mod tests {
    use super::super::testing::{refusal, schema_with};
    use super::*;

    fn refused(query: &str, operation_name: Option<&str>) -> bool {
        let doc = async_graphql::parser::parse_query(query).unwrap();
        check(&doc, operation_name).is_err()
    }

    #[test]
    fn one_auth_mutation_passes_and_a_second_is_found_however_it_is_written() {
        let refresh = r#"refresh(input: {refreshToken: "x"}) { accessToken }"#;
        assert!(!refused(&format!("mutation {{ {refresh} }}"), None));
        assert!(!refused(
            &format!("mutation {{ {refresh} logout {{ revoked }} }}"),
            None
        ));
        for twice in [
            format!("mutation {{ a: {refresh} b: {refresh} }}"),
            format!("mutation {{ a: {refresh} ... on Mutation {{ b: {refresh} }} }}"),
            format!("mutation {{ a: {refresh} ...F }} fragment F on Mutation {{ b: {refresh} }}"),
        ] {
            assert!(refused(&twice, None), "{twice}");
        }
        // A fragment spread twice counts once: its fields run once.
        let spread_twice =
            format!("mutation {{ ...F ...F }} fragment F on Mutation {{ {refresh} }}");
        assert!(!refused(&spread_twice, None));
        let cycle = "mutation { ...F } fragment F on Mutation { ...F }";
        assert!(!refused(cycle, None), "a cycle ends");
    }

    #[test]
    fn the_second_factor_and_passkey_sign_ins_count_as_auth_mutations() {
        let verify = r#"verifyMfa(input: {ticket: "t", code: "123456"}) { accessToken }"#;
        let passkey =
            r#"finishPasskeyLogin(input: {challengeId: "c", credential: {}}) { accessToken }"#;
        assert!(!refused(&format!("mutation {{ {verify} }}"), None));
        assert!(refused(
            &format!("mutation {{ a: {verify} b: {verify} }}"),
            None
        ));
        assert!(refused(&format!("mutation {{ {verify} {passkey} }}"), None));
        assert!(refused(
            &format!(
                r#"mutation {{ {passkey} login(input: {{email: "a@b.co", password: "p"}}) {{ accessToken }} }}"#
            ),
            None
        ));
    }

    #[test]
    fn only_the_running_operation_counts() {
        let doc = r#"mutation A { a: refresh(input: {refreshToken: "x"}) { accessToken } }
            mutation B { a: refresh(input: {refreshToken: "x"}) { accessToken }
                         b: login(input: {email: "a@b.co", password: "p"}) { accessToken } }"#;
        assert!(!refused(doc, Some("A")));
        assert!(refused(doc, Some("B")));
    }

    #[tokio::test]
    async fn a_second_auth_mutation_in_a_fragment_is_refused_before_anything_runs() {
        let doc = r#"mutation { refresh(input: {refreshToken: "x"}) { accessToken } ...F }
            fragment F on Mutation { again: refresh(input: {refreshToken: "y"}) { accessToken } }"#;
        let (code, message) = refusal(&schema_with(|_| {}), doc).await.unwrap();
        assert_eq!(code, VALIDATION_FAILED);
        assert_eq!(
            message,
            "At most one of register, login, refresh, changePassword, verifyMfa and finishPasskeyLogin may run per request."
        );
    }
}
