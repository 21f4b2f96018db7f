//! The prepared-document cache. A query without variable definitions is
//! admitted and validates the same way whatever the request carries, so
//! once it has been admitted, parsed and validated it is kept (by its exact
//! text and operation name) with its validation result and its metric
//! handles; the next request with the same text skips admission, parsing,
//! validation and labelling. Subscriptions are kept alike: each socket
//! subscribes with the same few texts, and each subscription holds its
//! document as long as it runs, so a copy of a kept one (sized exactly) is
//! also smaller than a fresh parse.
//!
//! A document with variables (what Apollo and urql send) is admitted and
//! validated on every request, as both can depend on the variables; only
//! its parse is kept, by its text, and each request takes a copy, which
//! costs a small part of parsing it again. Mutations are never cached
//! (inline arguments can be a password, which must not become a cache
//! key).

use std::sync::Arc;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType,
};
use async_graphql::{Request, ValidationResult};

use crate::telemetry::OperationMetrics;

/// Longer documents are not cached (clients send a handful of short ones).
const MAX_CACHED_QUERY_LEN: usize = 4096;
/// Distinct documents kept; moka's admission policy keeps the frequent ones.
const CACHE_CAPACITY: u64 = 512;

/// The documents that parsed and validated, and the documents with
/// variables that parsed, by their text; a clone shares the caches.
#[derive(Clone)]
pub(super) struct PreparedDocuments {
    prepared: moka::sync::Cache<String, Arc<Prepared>>,
    parsed: moka::sync::Cache<String, Arc<ExecutableDocument>>,
}

/// A document that parsed and validated, ready to run again.
pub(super) struct Prepared {
    /// The operation it was validated for.
    operation_name: Option<String>,
    pub doc: ExecutableDocument,
    pub validation: ValidationResult,
    pub metrics: Arc<OperationMetrics>,
}

/// A document parsed for this request that may be kept once it validates:
/// whole, or (with variables) its parse only.
pub(super) struct Candidate {
    query: String,
    operation_name: Option<String>,
    doc: ExecutableDocument,
    whole: bool,
}

impl PreparedDocuments {
    pub(super) fn new() -> Self {
        Self {
            prepared: moka::sync::Cache::new(CACHE_CAPACITY),
            parsed: moka::sync::Cache::new(CACHE_CAPACITY),
        }
    }

    /// The document prepared for `request`'s text and operation, if any.
    pub(super) fn get(&self, request: &Request) -> Option<Arc<Prepared>> {
        if request.query.len() > MAX_CACHED_QUERY_LEN {
            return None;
        }
        self.prepared
            .get(&request.query)
            .filter(|hit| hit.operation_name == request.operation_name)
    }

    /// A copy of the document parsed before from `query`, if any (one with
    /// variables: the others are prepared whole).
    pub(super) fn parsed(&self, query: &str) -> Option<ExecutableDocument> {
        if query.len() > MAX_CACHED_QUERY_LEN {
            return None;
        }
        self.parsed.get(query).map(|doc| (*doc).clone())
    }

    /// Keeps `candidate`, which validated with `validation`: whole, or its
    /// parse.
    pub(super) fn keep(
        &self,
        candidate: Candidate,
        validation: ValidationResult,
        metrics: Arc<OperationMetrics>,
    ) {
        if !candidate.whole {
            self.parsed.insert(candidate.query, Arc::new(candidate.doc));
            return;
        }
        let prepared = Prepared {
            operation_name: candidate.operation_name,
            doc: candidate.doc,
            validation,
            metrics,
        };
        self.prepared.insert(candidate.query, Arc::new(prepared));
    }
}

impl Candidate {
    /// A copy of `doc`, parsed from `query`, when it may be cached: whole
    /// without variables; with them, its parse unless that came from the
    /// cache (`parsed_before`).
    pub(super) fn of(
        query: &str,
        operation_name: Option<String>,
        doc: &ExecutableDocument,
        parsed_before: bool,
    ) -> Option<Self> {
        if query.len() > MAX_CACHED_QUERY_LEN || !no_mutation(doc) {
            return None;
        }
        let whole = without_variables(doc);
        (whole || !parsed_before).then(|| Self {
            query: query.to_owned(),
            operation_name,
            doc: doc.clone(),
            whole,
        })
    }
}

/// Whether `doc` has no mutation, whose inline arguments can be a
/// password, which must not sit in memory as a cache key.
fn no_mutation(doc: &ExecutableDocument) -> bool {
    every_operation(doc, |op| op.ty != OperationType::Mutation)
}

/// Whether `doc` declares no variable, so that admission and validation
/// cannot depend on what the request carries.
fn without_variables(doc: &ExecutableDocument) -> bool {
    every_operation(doc, |op| op.variable_definitions.is_empty())
}

/// Whether every operation of `doc` is `ok`.
fn every_operation(doc: &ExecutableDocument, ok: impl Fn(&OperationDefinition) -> bool) -> bool {
    match &doc.operations {
        DocumentOperations::Single(op) => ok(&op.node),
        DocumentOperations::Multiple(ops) => ops.values().all(|op| ok(&op.node)),
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::Value;

    use super::*;
    use crate::graphql::admission::testing::{aliased, errors, refusal, schema_with};
    use crate::graphql::codes::VALIDATION_FAILED;

    #[tokio::test]
    async fn a_cached_document_answers_as_the_first_time() {
        let schema = schema_with(|_| {});
        for _ in 0..3 {
            let r = schema.execute("{ me { id } }").await;
            assert!(r.errors.is_empty(), "{:?}", errors(&r));
            assert_eq!(r.data.to_string(), "{me: null}");
        }
    }

    #[tokio::test]
    async fn the_operation_name_is_part_of_the_cache_key() {
        let schema = schema_with(|_| {});
        let doc = "query A { me { id } } query B { sessions { id } }";
        for _ in 0..2 {
            let a = schema.execute(Request::new(doc).operation_name("A")).await;
            assert!(a.errors.is_empty(), "{:?}", errors(&a));
            // B needs a viewer: the error proves B ran, not A from the cache.
            let b = schema.execute(Request::new(doc).operation_name("B")).await;
            assert_eq!(b.errors.len(), 1, "{:?}", errors(&b));
            let none = schema.execute(Request::new(doc)).await;
            assert!(!none.errors.is_empty(), "no operation chosen");
        }
    }

    #[tokio::test]
    async fn invalid_documents_stay_invalid_and_rules_still_apply() {
        let schema = schema_with(|_| {});
        for _ in 0..2 {
            let r = schema.execute("{ me { nope } }").await;
            let code = r.errors[0].extensions.as_ref().and_then(|e| e.get("code"));
            assert_eq!(
                code,
                Some(&Value::from(VALIDATION_FAILED)),
                "{:?}",
                errors(&r)
            );
            let twice = r#"mutation { a: refresh(input: {refreshToken: "x"}) { accessToken } b: refresh(input: {refreshToken: "y"}) { accessToken } }"#;
            let r = schema.execute(twice).await;
            assert!(
                errors(&r)[0].starts_with("At most one of"),
                "{:?}",
                errors(&r)
            );
        }
    }

    #[tokio::test]
    async fn a_refused_document_is_refused_again_and_never_cached() {
        let schema = schema_with(|o| o.field_limit = 5);
        for _ in 0..3 {
            let (_, message) = refusal(&schema, aliased(6)).await.unwrap();
            assert!(
                message.starts_with("The document selects 6 fields"),
                "{message}"
            );
            assert_eq!(
                refusal(&schema, aliased(5)).await,
                None,
                "a cached one still runs"
            );
        }
    }

    /// What `Candidate::of` would keep of `q`: whole (`Some(true)`), its
    /// parse (`Some(false)`) or nothing.
    fn kept_as(q: &str, parsed_before: bool) -> Option<bool> {
        let doc = async_graphql::parser::parse_query(q).unwrap();
        Candidate::of(q, None, &doc, parsed_before).map(|c| c.whole)
    }

    #[test]
    fn queries_and_subscriptions_are_kept_whole_without_variables_else_parsed() {
        let whole = Some(true);
        let parse = Some(false);
        assert_eq!(kept_as("{ me { id } }", false), whole);
        assert_eq!(
            kept_as("subscription { feedAdded { cursor } }", false),
            whole
        );
        assert_eq!(
            kept_as("query A { me { id } } query B { me { email } }", false),
            whole
        );
        let with_variables = "subscription($id: ID!) { postChanged(id: $id) { id } }";
        assert_eq!(kept_as(with_variables, false), parse);
        assert_eq!(
            kept_as(with_variables, true),
            None,
            "a parse from the cache is not kept again"
        );
        assert_eq!(
            kept_as(
                "query A { me { id } } query B($x: Int) { me { id } }",
                false
            ),
            parse
        );
        assert_eq!(
            kept_as("query A { me { id } } mutation B { logout }", false),
            None
        );
        assert_eq!(
            kept_as(
                "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
                false
            ),
            None
        );
        assert_eq!(
            kept_as(
                r#"mutation { login(input: {email: "a@b.co", password: "hunter2hunter2"}) { accessToken } }"#,
                false
            ),
            None,
            "an inline password must not become a cache key"
        );
        let long = format!("query($a: String) {{ me {{ id }} }} # {}", "x".repeat(4096));
        assert_eq!(kept_as(&long, false), None, "a long text is not a key");
    }

    #[test]
    fn a_kept_parse_is_the_document_as_parsed() {
        let cache = PreparedDocuments::new();
        let query = "query($a: String) { notifications(after: $a) { nodes { id } } }";
        let doc = async_graphql::parser::parse_query(query).unwrap();
        let candidate = Candidate::of(query, None, &doc, false).unwrap();
        assert!(cache.parsed(query).is_none());
        cache.keep(
            candidate,
            ValidationResult {
                cache_control: Default::default(),
                complexity: 0,
                depth: 0,
            },
            Arc::new(OperationMetrics::new("test".to_owned())),
        );
        assert_eq!(
            cache.parsed(query).map(|d| format!("{d:?}")),
            Some(format!("{doc:?}"))
        );
        assert!(
            cache.get(&Request::new(query)).is_none(),
            "not prepared whole"
        );
    }

    #[tokio::test]
    async fn a_kept_parse_answers_each_request_for_its_own_variables() {
        let schema = schema_with(|_| {});
        // async-graphql prunes `@skip`ped fields from the document it runs:
        // each request must get a fresh copy, not one pruned before.
        let doc = "query($s: Boolean!) { me @skip(if: $s) { id } __typename }";
        let run = |skip: bool| {
            let request = Request::new(doc).variables(async_graphql::Variables::from_json(
                serde_json::json!({"s": skip}),
            ));
            schema.execute(request)
        };
        for _ in 0..2 {
            let skipped = run(true).await;
            assert!(skipped.errors.is_empty(), "{:?}", errors(&skipped));
            assert_eq!(skipped.data.to_string(), "{__typename: \"Query\"}");
            let kept = run(false).await;
            assert!(kept.errors.is_empty(), "{:?}", errors(&kept));
            assert_eq!(kept.data.to_string(), "{me: null, __typename: \"Query\"}");
        }
        let missing = schema.execute(Request::new(doc)).await;
        assert!(
            !missing.errors.is_empty(),
            "admission still runs on a kept parse"
        );
    }
}
