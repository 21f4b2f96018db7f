//! The limits a document must meet before async-graphql parses and
//! validates it, and their errors. On the text (`scan.rs`): its length, its
//! tokens and how deep its brackets nest, which bound what the parser costs
//! and how deep it recurses; length and tokens are allowed in proportion to
//! the field limit, so one setting sizes a document. On the parsed document
//! (`cost.rs`): fields as written, fields with fragments expanded (a
//! connection's selection `first` times), depth, directives, and
//! introspection asked for once. Enforced by the
//! per-operation extension (`observe.rs`) before the document is parsed and
//! right after; a cached document passed them when it was first seen.
//!
//! At most one auth mutation (register, login, refresh, changePassword) per
//! document: aliases would otherwise run a hundred password guesses in one
//! request. Counted over the root of the operation that runs, fragments
//! included.

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

use async_graphql::{ErrorExtensionValues, ServerError, Variables};

use super::codes::{PARSE_FAILED, VALIDATION_FAILED};
use super::cost::{Cycle, introspection, measure};
use super::scan::scan;

/// Deepest nesting of brackets (`{`, `[`, `(`) a document may have. The
/// parser recurses once per level of a list or object value and would
/// overflow a worker's stack at a few thousand; async-graphql refuses
/// selections nested deeper than 32 anyway.
const MAX_NESTING: usize = 32;

/// Tokens allowed per field of the field limit (GraphiQL's introspection
/// query has 2.6). Parsing costs about half a microsecond per token.
const TOKENS_PER_FIELD: usize = 4;

/// Bytes of text allowed per field of the field limit (GraphiQL's
/// introspection query has 30). Parsing a string or a comment costs about
/// 70 ns per byte; long values belong in variables.
const BYTES_PER_FIELD: usize = 32;

/// The limits of the schema's settings.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// Fields as written (`QUERY_FIELD_LIMIT`).
    pub fields: usize,
    /// Fields with fragments expanded, a connection's selection `first`
    /// times (`QUERY_COMPLEXITY_LIMIT`).
    pub complexity: usize,
    /// Field depth (`QUERY_DEPTH_LIMIT`).
    pub depth: usize,
    /// Directives on one place (`QUERY_DIRECTIVE_LIMIT`).
    pub directives: usize,
}

impl Limits {
    fn tokens(&self) -> usize {
        self.fields.saturating_mul(TOKENS_PER_FIELD)
    }

    fn bytes(&self) -> usize {
        self.fields.saturating_mul(BYTES_PER_FIELD)
    }

    /// Refuses a document whose text is too big to parse cheaply or nests
    /// too deep to parse safely; runs before the parser.
    pub(super) fn check_text(&self, query: &str) -> Result<(), ServerError> {
        if query.len() > self.bytes() {
            return Err(refused(
                format!(
                    "The document is {} bytes long; at most {} are allowed \
                     ({BYTES_PER_FIELD} per field of QUERY_FIELD_LIMIT). \
                     Long values can be sent as variables.",
                    query.len(),
                    self.bytes()
                ),
                VALIDATION_FAILED,
            ));
        }
        let s = scan(query);
        if s.nesting > MAX_NESTING {
            return Err(refused(
                format!(
                    "The document nests brackets {} deep; at most {MAX_NESTING} are allowed.",
                    s.nesting
                ),
                VALIDATION_FAILED,
            ));
        }
        if s.tokens > self.tokens() {
            return Err(refused(
                format!(
                    "The document has {} tokens; at most {} are allowed \
                     ({TOKENS_PER_FIELD} per field of QUERY_FIELD_LIMIT).",
                    s.tokens,
                    self.tokens()
                ),
                VALIDATION_FAILED,
            ));
        }
        Ok(())
    }

    /// Refuses a parsed document that selects too many fields, as written
    /// or with its fragments expanded and its connections multiplied (by
    /// `first`, which may come from `variables`), nests them too deep,
    /// carries too many directives in one place, or asks introspection for
    /// the same lists more than once (each costs as much as the schema is
    /// big).
    pub(super) fn check_document(
        &self,
        doc: &ExecutableDocument,
        variables: &Variables,
    ) -> Result<(), ServerError> {
        let cost = measure(doc, variables).map_err(|Cycle(name)| {
            refused(
                format!(
                    "The fragment \"{name}\" spreads itself, directly or through other fragments."
                ),
                VALIDATION_FAILED,
            )
        })?;
        if cost.directives > self.directives {
            // The code async-graphql gives directive counts (it checks them
            // while parsing).
            return Err(refused(
                format!(
                    "A field, fragment or operation carries {} directives; at most {} are allowed \
                     (QUERY_DIRECTIVE_LIMIT).",
                    cost.directives, self.directives
                ),
                PARSE_FAILED,
            ));
        }
        if cost.written > self.fields {
            return Err(refused(
                format!(
                    "The document selects {} fields; at most {} are allowed (QUERY_FIELD_LIMIT).",
                    cost.written, self.fields
                ),
                VALIDATION_FAILED,
            ));
        }
        if cost.fields > self.complexity {
            let fields = if cost.fields == usize::MAX {
                "more fields than can be counted".to_owned()
            } else {
                format!("{} fields", cost.fields)
            };
            return Err(refused(
                format!(
                    "The document selects {fields} once its fragments are expanded \
                     and each connection's selection is counted `first` times; \
                     at most {} are allowed (QUERY_COMPLEXITY_LIMIT).",
                    self.complexity
                ),
                VALIDATION_FAILED,
            ));
        }
        if cost.depth > self.depth {
            return Err(refused(
                format!(
                    "The document nests fields {} deep; at most {} are allowed (QUERY_DEPTH_LIMIT).",
                    cost.depth, self.depth
                ),
                VALIDATION_FAILED,
            ));
        }
        // Within the complexity limit, so expanding the fragments is cheap.
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
}

/// A refusal with the contract's `code`.
fn refused(message: String, code: &str) -> ServerError {
    refused_at(message, code, None)
}

fn refused_at(message: String, code: &str, pos: Option<async_graphql::Pos>) -> ServerError {
    let mut e = ServerError::new(message, pos);
    let mut ext = ErrorExtensionValues::default();
    ext.set("code", code);
    e.extensions = Some(ext);
    e
}

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
    Some(refused_at(
        "At most one of register, login, refresh and changePassword may run per request.".into(),
        VALIDATION_FAILED,
        Some(op.pos),
    ))
}

#[cfg(test)]
mod tests {
    use async_graphql::{Request, Response};

    use super::*;
    use crate::config::{Config, Documents};
    use crate::graphql::{ApiSchema, build_schema};

    const INTROSPECTION: &str = include_str!("introspection.graphql");

    fn schema_with(f: impl FnOnce(&mut Documents)) -> ApiSchema {
        let mut options = Config::defaults().documents;
        f(&mut options);
        build_schema(&options, None)
    }

    /// The code and message of the only error, or `None` when it ran clean.
    async fn refusal(schema: &ApiSchema, query: &str) -> Option<(String, String)> {
        let r: Response = schema.execute(Request::new(query)).await;
        let e = r.errors.first()?;
        assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
        let code = e
            .extensions
            .as_ref()
            .and_then(|x| x.get("code"))
            .unwrap()
            .to_string();
        Some((code.trim_matches('"').to_owned(), e.message.clone()))
    }

    fn aliased(n: usize) -> String {
        let fields: String = (0..n).map(|i| format!("a{i}: __typename ")).collect();
        format!("{{ {fields}}}")
    }

    #[tokio::test]
    async fn graphiql_introspection_fits_the_defaults_with_room_to_spare() {
        let c = Config::defaults().documents;
        let doc = async_graphql::parser::parse_query(INTROSPECTION).unwrap();
        let cost = measure(&doc, &Variables::default()).unwrap();
        let text = scan(INTROSPECTION);
        assert_eq!(
            (
                cost.written,
                cost.fields,
                cost.depth,
                text.tokens,
                text.nesting
            ),
            (70, 432, 14, 179, 9),
            "the figures docs and comments quote"
        );
        assert!(cost.written * 5 < c.field_limit);
        assert!(cost.fields * 2 < c.complexity_limit);
        assert!(cost.depth < c.depth_limit);
        assert!(text.tokens * 5 < c.field_limit * TOKENS_PER_FIELD);
        assert!(INTROSPECTION.len() * 5 < c.field_limit * BYTES_PER_FIELD);
        assert_eq!(refusal(&schema_with(|_| {}), INTROSPECTION).await, None);
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

    #[tokio::test]
    async fn aliased_typenames_count_against_the_field_limit() {
        let schema = schema_with(|_| {});
        assert_eq!(
            refusal(&schema, &aliased(500)).await,
            None,
            "the limit itself runs"
        );
        let (code, message) = refusal(&schema, &aliased(501)).await.unwrap();
        assert_eq!(code, VALIDATION_FAILED);
        assert_eq!(
            message,
            "The document selects 501 fields; at most 500 are allowed (QUERY_FIELD_LIMIT)."
        );
        // Issue 14's document is refused before it is even parsed.
        let (code, message) = refusal(&schema, &aliased(3000)).await.unwrap();
        assert_eq!(code, VALIDATION_FAILED);
        assert_eq!(
            message,
            "The document is 52893 bytes long; at most 16000 are allowed \
             (32 per field of QUERY_FIELD_LIMIT). Long values can be sent as variables."
        );
        let list = format!("{{ __typename(a: [{}]) }}", "1 ".repeat(2391));
        let (_, message) = refusal(&schema, &list).await.unwrap();
        assert_eq!(
            message,
            "The document has 2400 tokens; at most 2000 are allowed (4 per field of QUERY_FIELD_LIMIT)."
        );
    }

    #[tokio::test]
    async fn the_complexity_limit_admits_its_own_count_and_refuses_one_more() {
        let schema = schema_with(|o| o.complexity_limit = 10);
        // The definition (3) and each spread of it (3) count.
        let frag = "fragment F on Query { a: __typename b: __typename c: __typename }";
        assert_eq!(
            refusal(&schema, &format!("{{ ...F ...F __typename }} {frag}")).await,
            None
        );
        let (code, message) = refusal(&schema, &format!("{{ ...F ...F ...F }} {frag}"))
            .await
            .unwrap();
        assert_eq!(code, VALIDATION_FAILED);
        assert_eq!(
            message,
            "The document selects 12 fields once its fragments are expanded \
             and each connection's selection is counted `first` times; \
             at most 10 are allowed (QUERY_COMPLEXITY_LIMIT)."
        );
    }

    #[tokio::test]
    async fn fragments_spread_inside_fragments_count_at_every_spread() {
        let schema = schema_with(|o| o.complexity_limit = 30);
        // G holds 2 spreads of F (2 each): 4; the operation spreads G twice.
        let doc = "{ ...G ...G } fragment G on Query { ...F ...F } fragment F on Query { a: __typename b: __typename }";
        // Operation 8, G's definition 4, F's definition 2.
        assert_eq!(refusal(&schema, doc).await, None);
        let schema = schema_with(|o| o.complexity_limit = 13);
        let (_, message) = refusal(&schema, doc).await.unwrap();
        assert!(message.contains("selects 14 fields"), "{message}");
    }

    /// The complexity limit's message for `request`, if that limit refused
    /// it (the connection fields need not exist: the limit runs before
    /// validation).
    async fn too_complex(schema: &ApiSchema, request: Request) -> Option<String> {
        let r = schema.execute(request).await;
        r.errors
            .iter()
            .find(|e| e.message.contains("QUERY_COMPLEXITY_LIMIT"))
            .map(|e| {
                let code = e.extensions.as_ref().and_then(|x| x.get("code"));
                assert_eq!(
                    code,
                    Some(&async_graphql::Value::from(VALIDATION_FAILED)),
                    "{e:?}"
                );
                assert!(r.data == async_graphql::Value::Null, "nothing ran");
                e.message.clone()
            })
    }

    #[tokio::test]
    async fn followers_of_followers_of_followers_are_refused() {
        let doc = r#"{ profile(handle: "alice") {
            followers(first: 100) { edges { node {
                followers(first: 100) { edges { node {
                    followers(first: 100) { edges { node { handle } } }
                } } }
            } } }
        } }"#;
        // 11 fields as written. The innermost followers: 1 + 100 * 3 = 301;
        // the middle: 1 + 100 * (2 + 301) = 30,301; the outer: 1 + 100 *
        // (2 + 30,301) = 3,030,301; profile 1 more.
        let message = too_complex(&schema_with(|_| {}), Request::new(doc))
            .await
            .unwrap();
        assert_eq!(
            message,
            "The document selects 3030302 fields once its fragments are expanded \
             and each connection's selection is counted `first` times; \
             at most 1000 are allowed (QUERY_COMPLEXITY_LIMIT)."
        );
    }

    #[tokio::test]
    async fn a_full_feed_page_with_a_handful_of_fields_is_admitted() {
        let doc = "{ feed(first: 100) { edges { node { id body } } } }";
        // feed, then edges, node, id and body a hundred times.
        let figure = 1 + 100 * 4;
        assert_eq!(figure, 401);
        assert_eq!(
            too_complex(&schema_with(|_| {}), Request::new(doc)).await,
            None
        );
        let at = schema_with(|o| o.complexity_limit = figure);
        assert_eq!(too_complex(&at, Request::new(doc)).await, None);
        let below = schema_with(|o| o.complexity_limit = figure - 1);
        let message = too_complex(&below, Request::new(doc)).await.unwrap();
        assert!(
            message.starts_with("The document selects 401 fields"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn first_is_read_from_the_request_variables() {
        let schema = schema_with(|o| o.complexity_limit = 400);
        let doc = "query($n: Int = 100) { feed(first: $n) { edges { node { id body } } } }";
        let with = |n: serde_json::Value| {
            Request::new(doc).variables(Variables::from_json(serde_json::json!({ "n": n })))
        };
        // 1 + 99 * 4 = 397 is within; 1 + 100 * 4 = 401 is not.
        assert_eq!(too_complex(&schema, with(99.into())).await, None);
        let message = too_complex(&schema, with(100.into())).await.unwrap();
        assert!(
            message.starts_with("The document selects 401 fields"),
            "{message}"
        );
        let defaulted = too_complex(&schema, Request::new(doc)).await.unwrap();
        assert!(
            defaulted.starts_with("The document selects 401 fields"),
            "{defaulted}"
        );
    }

    #[tokio::test]
    async fn an_exponential_fan_out_is_refused_before_anything_expands_it() {
        let mut doc = String::from("{ ...F0 }");
        for i in 0..64 {
            doc.push_str(&format!(
                " fragment F{i} on Query {{ ...F{n} ...F{n} }}",
                n = i + 1
            ));
        }
        doc.push_str(" fragment F64 on Query { __typename }");
        let (code, message) = refusal(&schema_with(|_| {}), &doc).await.unwrap();
        assert_eq!(code, VALIDATION_FAILED);
        assert!(
            message.contains("more fields than can be counted"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn a_fragment_cycle_is_refused() {
        let doc = "{ ...A } fragment A on Query { __typename ...B } fragment B on Query { ...A }";
        let (code, message) = refusal(&schema_with(|_| {}), doc).await.unwrap();
        assert_eq!(code, VALIDATION_FAILED);
        assert!(message.contains("spreads itself"), "{message}");
    }

    #[tokio::test]
    async fn depth_counts_typename_and_fields_inside_fragments() {
        let schema = schema_with(|o| o.depth_limit = 1);
        assert_eq!(
            refusal(&schema, "{ __typename me { __typename } }")
                .await
                .unwrap()
                .0,
            VALIDATION_FAILED
        );
        let (_, message) = refusal(&schema, "{ ...F } fragment F on Query { me { id } }")
            .await
            .unwrap();
        assert_eq!(
            message,
            "The document nests fields 2 deep; at most 1 are allowed (QUERY_DEPTH_LIMIT)."
        );
    }

    #[tokio::test]
    async fn directives_count_on_fragments_and_operations_too() {
        let schema = schema_with(|o| o.directive_limit = 1);
        for doc in [
            "{ ... @include(if: true) @skip(if: false) { __typename } }",
            "{ ...F @include(if: true) @skip(if: false) } fragment F on Query { __typename }",
            "{ __typename @include(if: true) @skip(if: false) }",
        ] {
            let (code, message) = refusal(&schema, doc).await.unwrap();
            assert_eq!(code, PARSE_FAILED, "{doc}");
            assert!(message.ends_with("(QUERY_DIRECTIVE_LIMIT)."), "{message}");
        }
        assert_eq!(
            refusal(&schema, "{ __typename @include(if: true) }").await,
            None
        );
    }

    #[tokio::test]
    async fn tokens_are_limited_before_parsing() {
        // Five fields allowed: twenty tokens.
        let schema = schema_with(|o| o.field_limit = 5);
        let twenty = "{ __typename(a: [1 2 3 4 5 6 7 8 9 10 11]) }";
        assert_eq!(scan(twenty).tokens, 20);
        assert_eq!(refusal(&schema, twenty).await, None);
        let (code, message) = refusal(&schema, "{ __typename(a: [1 2 3 4 5 6 7 8 9 10 11 12]) }")
            .await
            .unwrap();
        assert_eq!(code, VALIDATION_FAILED);
        assert_eq!(
            message,
            "The document has 21 tokens; at most 20 are allowed (4 per field of QUERY_FIELD_LIMIT)."
        );
    }

    #[tokio::test]
    async fn values_nested_past_the_limit_are_refused_before_the_parser_recurses() {
        let schema = schema_with(|_| {});
        let at = |n: usize| format!("{{ __typename(a: {}1{}) }}", "[".repeat(n), "]".repeat(n));
        // Two levels are the selection set and the arguments.
        assert_eq!(refusal(&schema, &at(MAX_NESTING - 2)).await, None);
        let (code, message) = refusal(&schema, &at(MAX_NESTING - 1)).await.unwrap();
        assert_eq!(code, VALIDATION_FAILED);
        assert_eq!(
            message,
            "The document nests brackets 33 deep; at most 32 are allowed."
        );
        assert!(refusal(&schema, &at(20_000)).await.is_some());
    }

    #[tokio::test]
    async fn a_refused_document_is_refused_again_and_never_cached() {
        let schema = schema_with(|o| o.field_limit = 5);
        for _ in 0..3 {
            let (_, message) = refusal(&schema, &aliased(6)).await.unwrap();
            assert!(
                message.starts_with("The document selects 6 fields"),
                "{message}"
            );
            assert_eq!(
                refusal(&schema, &aliased(5)).await,
                None,
                "a cached one still runs"
            );
        }
    }
}
