//! Admission: the rules a document must meet before async-graphql validates
//! it, each in a module of its own, run by [`admit`] in this order:
//!
//! 1. [`scan`]: the text's length, tokens and bracket nesting, before the
//!    parser sees it (they bound what parsing costs and how deep it recurses);
//! 2. then the text is parsed (async-graphql takes that document from the
//!    request rather than parsing it again);
//! 3. [`cost`]: fragment cycles, directives in one place, fields as written,
//!    fields with fragments expanded and connections multiplied (`first` may
//!    come from the request's variables), and depth;
//! 4. [`introspection`]: `__schema` or `__type` once, each field under them
//!    once in a place; it expands fragments, so it runs after [`cost`] has
//!    found that cheap;
//! 5. [`auth_mutations`]: at most one of register, login, refresh and
//!    changePassword;
//! 6. [`one_root`]: a subscription selects one root field (the
//!    specification's rule, which async-graphql does not check);
//! 7. [`variables`]: every required variable given. GraphQL coerces
//!    variables after validation, so its refusals come back in [`Admitted`]
//!    for the extension to report once the document validates.
//!
//! All of it runs before async-graphql's own checks, which expand fragments
//! at every spread. Lengths and tokens are allowed in proportion to the
//! field limit, so one setting sizes a document. A prepared document
//! (`prepared.rs`) met them all when it was first seen.

mod auth_mutations;
mod cost;
mod introspection;
mod one_root;
mod scan;
mod variables;

use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};
use async_graphql::{Request, ServerError, Variables};

use super::codes::{PARSE_FAILED, with_code};
use crate::config::Documents;

/// A document that met the rules, leaving `request` parsed.
pub(super) struct Admitted {
    /// The required variables the request left out, to report only if the
    /// document validates (empty when all were given).
    pub unprovided: Vec<ServerError>,
}

/// Runs the rules on `request` in order and parses its document; the first
/// refusal is the answer.
pub(super) fn admit(limits: &Documents, request: &mut Request) -> Result<Admitted, ServerError> {
    scan::check(&request.query, limits.field_limit)?;
    // Moved out while the parsed document borrows the request.
    let variables = std::mem::take(&mut request.variables);
    let operation_name = request.operation_name.take();
    let admitted = check_document(limits, request, &variables, operation_name.as_deref());
    request.variables = variables;
    request.operation_name = operation_name;
    admitted
}

/// `query` parsed when its text passes rule 1 and parses; `None` for what
/// [`admit`] refuses at those steps.
pub(super) fn parse_scanned(
    query: &str,
    field_limit: usize,
) -> Option<async_graphql::parser::types::ExecutableDocument> {
    scan::check(query, field_limit).ok()?;
    async_graphql::parser::parse_query(query).ok()
}

/// Rules 2 to 6: parse, then what the document asks.
fn check_document(
    limits: &Documents,
    request: &mut Request,
    variables: &Variables,
    operation_name: Option<&str>,
) -> Result<Admitted, ServerError> {
    let doc = request
        .parsed_query()
        .map_err(|e| with_code(e, PARSE_FAILED))?;
    cost::check(limits, doc, variables)?;
    introspection::check(doc)?;
    auth_mutations::check(doc, operation_name)?;
    one_root::check(doc)?;
    Ok(Admitted {
        unprovided: variables::unprovided(doc, operation_name, variables),
    })
}

/// Calls `f` on each field of `set`, through inline fragments and spreads
/// (a spread each time it is written). Only after [`cost`], which refuses
/// fragment cycles.
fn each_field<'a>(
    doc: &'a ExecutableDocument,
    set: &'a SelectionSet,
    f: &mut dyn FnMut(&'a Field),
) {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => f(&field.node),
            Selection::InlineFragment(i) => each_field(doc, &i.node.selection_set.node, f),
            Selection::FragmentSpread(s) => {
                if let Some(frag) = doc.fragments.get(&s.node.fragment_name.node) {
                    each_field(doc, &frag.node.selection_set.node, f);
                }
            }
        }
    }
}

/// What the rules' tests share: a schema with chosen limits, and the one
/// refusal it answers.
#[cfg(test)]
pub(super) mod testing {
    use async_graphql::{Request, Response};

    use crate::config::{Config, Documents};
    use crate::graphql::{ApiSchema, build_schema};

    pub(in crate::graphql) fn schema_with(f: impl FnOnce(&mut Documents)) -> ApiSchema {
        let mut options = Config::defaults().documents;
        f(&mut options);
        build_schema(&options, None)
    }

    /// The code and message of the only error, or `None` when it ran clean.
    pub(in crate::graphql) async fn refusal(
        schema: &ApiSchema,
        request: impl Into<Request>,
    ) -> Option<(String, String)> {
        let r: Response = schema.execute(request).await;
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

    /// The messages of the response's errors.
    pub(in crate::graphql) fn errors(r: &Response) -> Vec<String> {
        r.errors.iter().map(|e| e.message.clone()).collect()
    }

    /// A query of `n` aliased `__typename`s.
    pub(in crate::graphql) fn aliased(n: usize) -> String {
        let fields: String = (0..n).map(|i| format!("a{i}: __typename ")).collect();
        format!("{{ {fields}}}")
    }
}

#[cfg(test)]
mod tests {
    use super::cost::measure;
    use super::scan::{BYTES_PER_FIELD, TOKENS_PER_FIELD, scan};
    use super::testing::{aliased, refusal, schema_with};
    use super::*;
    use crate::config::Config;
    use crate::graphql::codes::VALIDATION_FAILED;

    const INTROSPECTION: &str = include_str!("../introspection.graphql");

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

    /// The field limit sizes the text rules as well as the count of fields.
    #[tokio::test]
    async fn aliased_typenames_count_against_the_field_limit() {
        let schema = schema_with(|_| {});
        assert_eq!(
            refusal(&schema, aliased(500)).await,
            None,
            "the limit itself runs"
        );
        let (code, message) = refusal(&schema, aliased(501)).await.unwrap();
        assert_eq!(code, VALIDATION_FAILED);
        assert_eq!(
            message,
            "The document selects 501 fields; at most 500 are allowed (QUERY_FIELD_LIMIT)."
        );
        // Three thousand fields are refused before the text is even parsed.
        let (code, message) = refusal(&schema, aliased(3000)).await.unwrap();
        assert_eq!(code, VALIDATION_FAILED);
        assert_eq!(
            message,
            "The document is 52893 bytes long; at most 16000 are allowed \
             (32 per field of QUERY_FIELD_LIMIT). Long values can be sent as variables."
        );
        let list = format!("{{ __typename(a: [{}]) }}", "1 ".repeat(2391));
        let (_, message) = refusal(&schema, list).await.unwrap();
        assert_eq!(
            message,
            "The document has 2400 tokens; at most 2000 are allowed (4 per field of QUERY_FIELD_LIMIT)."
        );
    }

    #[test]
    fn admit_gives_the_request_back_with_its_variables_and_operation() {
        let limits = Documents {
            field_limit: 10,
            complexity_limit: 10,
            depth_limit: 10,
            directive_limit: 10,
            introspection: true,
        };
        let vars = Variables::from_json(serde_json::json!({"n": "User"}));
        let mut request = Request::new("query A($n: String!) { __type(name: $n) { name } }")
            .operation_name("A")
            .variables(vars.clone());
        let admitted = admit(&limits, &mut request).unwrap();
        assert!(admitted.unprovided.is_empty());
        assert_eq!(request.variables, vars);
        assert_eq!(request.operation_name.as_deref(), Some("A"));
        let refused = admit(&limits, &mut Request::new("{ a(")).err().unwrap();
        let code = refused.extensions.as_ref().and_then(|e| e.get("code"));
        assert_eq!(code, Some(&async_graphql::Value::from(PARSE_FAILED)));
    }
}
