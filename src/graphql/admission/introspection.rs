//! The introspection rule: `__schema` and `__type` answer lists as long as
//! the schema (every type, every field of a type), so a document may select
//! them once, and each field under them once in a place, which would
//! otherwise build such a list again. Counted with fragments expanded.

use std::collections::HashSet;

use async_graphql::ServerError;
use async_graphql::parser::types::{ExecutableDocument, Field};

use super::each_field;

use crate::graphql::codes::{VALIDATION_FAILED, refused};

/// Refuses a document that selects `__schema` or `__type` more than once,
/// or a field under them twice in one place. Expands fragments: run it only
/// on a document whose expanded size the cost rule admitted.
pub(super) fn check(doc: &ExecutableDocument) -> Result<(), ServerError> {
    let asked = introspection(doc);
    if asked.roots > 1 {
        return Err(refused(
            format!(
                "The document selects __schema or __type {} times; once is allowed.",
                asked.roots
            ),
            VALIDATION_FAILED,
        ));
    }
    if let Some(name) = asked.repeated {
        return Err(refused(
            format!(
                "The document selects the introspection field {name} twice in one place; \
                 once is allowed."
            ),
            VALIDATION_FAILED,
        ));
    }
    Ok(())
}

/// What a document asks of introspection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Introspection {
    /// How many times `__schema` or `__type` is selected, fragments expanded.
    roots: usize,
    /// A field selected twice in one selection set under them (by aliases,
    /// or by fragments that repeat it).
    repeated: Option<String>,
}

/// Walks the operations of `doc` with fragments expanded.
fn introspection(doc: &ExecutableDocument) -> Introspection {
    let mut found = Introspection::default();
    for (_, op) in doc.operations.iter() {
        each_field(doc, &op.node.selection_set.node, &mut |f| {
            find_roots(doc, f, &mut found)
        });
    }
    found
}

fn find_roots(doc: &ExecutableDocument, field: &Field, found: &mut Introspection) {
    if matches!(field.name.node.as_str(), "__schema" | "__type") {
        found.roots += 1;
        each_once(doc, field, found);
    } else {
        each_field(doc, &field.selection_set.node, &mut |f| {
            find_roots(doc, f, found)
        });
    }
}

/// Notes in `found` the first field that `field`'s selections, at any
/// depth, select twice in one place.
fn each_once(doc: &ExecutableDocument, field: &Field, found: &mut Introspection) {
    let mut names = HashSet::new();
    each_field(doc, &field.selection_set.node, &mut |f| {
        if !names.insert(f.name.node.as_str()) && found.repeated.is_none() {
            found.repeated = Some(f.name.node.to_string());
        }
        each_once(doc, f, found);
    });
}

#[cfg(test)]
mod tests {
    use super::super::testing::{refusal, schema_with};
    use super::*;

    fn asked(query: &str) -> Introspection {
        introspection(&async_graphql::parser::parse_query(query).unwrap())
    }

    #[test]
    fn introspection_roots_are_counted_through_fragments() {
        assert_eq!(asked("{ __typename me { id } }").roots, 0);
        assert_eq!(asked("{ __schema { types { name } } }").roots, 1);
        let twice = "{ ...F ...F } fragment F on Query { __type(name: \"User\") { name } }";
        assert_eq!(asked(twice).roots, 2);
        assert_eq!(
            asked("{ a: __schema { types { name } } b: __type(name: \"X\") { name } }").roots,
            2
        );
    }

    #[test]
    fn a_field_repeated_inside_introspection_is_found_however_it_is_repeated() {
        let once = "{ __schema { types { name fields { name } } queryType { name } } }";
        assert_eq!(asked(once).repeated, None, "one name in two places is fine");
        for twice in [
            "{ __schema { a: types { name } b: types { name } } }",
            "{ __schema { types { ...T ...T } } } fragment T on __Type { fields { name } }",
            "{ __schema { types { fields { name ... on __Field { name } } } } }",
        ] {
            assert!(asked(twice).repeated.is_some(), "{twice}");
        }
        assert_eq!(
            asked("{ __schema { types { fields { a: name b: name } } } }").repeated,
            Some("name".to_owned())
        );
        assert_eq!(
            asked("{ a: me { id } b: me { id } }").repeated,
            None,
            "only introspection"
        );
    }

    #[tokio::test]
    async fn introspection_is_selected_once_and_each_of_its_fields_once_in_a_place() {
        let schema = schema_with(|_| {});
        let (code, message) = refusal(
            &schema,
            "{ a: __schema { types { name } } b: __schema { types { name } } }",
        )
        .await
        .unwrap();
        assert_eq!(code, VALIDATION_FAILED);
        assert_eq!(
            message,
            "The document selects __schema or __type 2 times; once is allowed."
        );
        let (_, message) = refusal(
            &schema,
            "{ __schema { types { a: fields { name } b: fields { name } } } }",
        )
        .await
        .unwrap();
        assert_eq!(
            message,
            "The document selects the introspection field fields twice in one place; once is allowed."
        );
    }
}
