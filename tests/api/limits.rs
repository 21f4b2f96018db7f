//! The document limits over HTTP: every selected field counts, `__typename`
//! and aliases included, fragments at every spread; refusals carry the
//! contract's codes and name the setting; no document within the body limit
//! can make the server recurse or loop (its figures: `benches/documents.rs`).

use serde_json::{Value, json};

use crate::common::*;

fn aliased_typenames(n: usize) -> String {
    let fields: String = (0..n).map(|i| format!("a{i}: __typename ")).collect();
    format!("{{ {fields}}}")
}

fn message(body: &Value) -> &str {
    body["errors"][0]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn three_thousand_aliased_typenames_are_refused_with_validation_failed() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let body = app.gql(&aliased_typenames(3000), json!({}), None).await;
    assert_eq!(error_codes(&body), ["GRAPHQL_VALIDATION_FAILED"], "{body}");
    assert!(body["data"].is_null(), "nothing ran: {body}");
    assert!(
        message(&body).contains("per field of QUERY_FIELD_LIMIT"),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_field_limit_is_a_setting() {
    let db = TestDb::fresh().await;
    let mut config = config_for(&db);
    config.documents.field_limit = 5;
    let app = TestApp::spawn_with(config).await;
    let body = app.gql(&aliased_typenames(5), json!({}), None).await;
    assert_eq!(body["data"]["a4"], "Query", "{body}");
    let body = app.gql(&aliased_typenames(6), json!({}), None).await;
    assert_eq!(error_codes(&body), ["GRAPHQL_VALIDATION_FAILED"]);
    assert_eq!(
        message(&body),
        "The document selects 6 fields; at most 5 are allowed (QUERY_FIELD_LIMIT)."
    );
    app.stop().await;
}

/// The default complexity limit (1000) with a ten-field fragment: its
/// definition counts once and each spread once more.
#[tokio::test]
async fn a_document_at_the_complexity_limit_runs_and_one_spread_more_is_refused() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let spreads = |n: usize| {
        format!(
            "{{ {}}} fragment F on Query {{ {}}}",
            "...F ".repeat(n),
            (0..10)
                .map(|i| format!("a{i}: __typename "))
                .collect::<String>()
        )
    };
    let body = app.gql(&spreads(99), json!({}), None).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["a9"], "Query");
    let body = app.gql(&spreads(100), json!({}), None).await;
    assert_eq!(error_codes(&body), ["GRAPHQL_VALIDATION_FAILED"], "{body}");
    assert_eq!(
        message(&body),
        "The document selects 1010 fields once its fragments are expanded \
         and each connection's selection is counted `first` times; \
         at most 1000 are allowed (QUERY_COMPLEXITY_LIMIT)."
    );
    app.stop().await;
}

#[tokio::test]
async fn a_fragment_fan_out_is_refused_without_being_expanded() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    // 2^40 fields once expanded, from a document of 2 KB.
    let mut doc = String::from("{ ...F0 }");
    for i in 0..40 {
        doc.push_str(&format!(
            " fragment F{i} on Query {{ ...F{n} ...F{n} }}",
            n = i + 1
        ));
    }
    doc.push_str(" fragment F40 on Query { __typename }");
    let body = app.gql(&doc, json!({}), None).await;
    assert_eq!(error_codes(&body), ["GRAPHQL_VALIDATION_FAILED"], "{body}");
    assert!(
        message(&body).ends_with("(QUERY_COMPLEXITY_LIMIT)."),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn deeply_nested_values_are_refused_and_the_server_stays_up() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    // The parser would recurse once per level and overflow the stack.
    for (open, close) in [("[", "]"), ("{a:", "}")] {
        let doc = format!(
            "{{ __typename(a: {}1{}) }}",
            open.repeat(3_000),
            close.repeat(3_000)
        );
        let body = app.gql(&doc, json!({}), None).await;
        assert_eq!(error_codes(&body), ["GRAPHQL_VALIDATION_FAILED"], "{body}");
        assert_eq!(
            message(&body),
            "The document nests brackets 3002 deep; at most 32 are allowed."
        );
    }
    let body = app.gql("{ __typename }", json!({}), None).await;
    assert_eq!(body["data"]["__typename"], "Query");
    app.stop().await;
}

#[tokio::test]
async fn a_refused_document_stays_refused_when_sent_again() {
    let db = TestDb::fresh().await;
    let mut config = config_for(&db);
    config.documents.field_limit = 5;
    let app = TestApp::spawn_with(config).await;
    // Short and without variables: the kind of document the cache keeps.
    for _ in 0..3 {
        let body = app.gql(&aliased_typenames(5), json!({}), None).await;
        assert_eq!(body["data"]["a4"], "Query", "{body}");
        let body = app.gql(&aliased_typenames(6), json!({}), None).await;
        assert_eq!(error_codes(&body), ["GRAPHQL_VALIDATION_FAILED"], "{body}");
        assert!(
            message(&body).starts_with("The document selects 6 fields"),
            "{body}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_document_over_a_limit_is_a_request_error_under_graphql_response_json() {
    let db = TestDb::fresh().await;
    let mut config = config_for(&db);
    config.documents.field_limit = 5;
    let app = TestApp::spawn_with(config).await;
    let response = app
        .http
        .post(app.url("/graphql"))
        .header("Accept", "application/graphql-response+json")
        .json(&json!({ "query": aliased_typenames(6) }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400, "nothing ran, so a request error");
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_codes(&body), ["GRAPHQL_VALIDATION_FAILED"]);
    assert!(body.get("data").is_none(), "no data entry: {body}");
    app.stop().await;
}

/// A connection counts `first` times its selection, through HTTP on real
/// data: one of 100 runs, three nested are refused (a required variable's
/// value too), and the same nesting with small pages runs.
#[tokio::test]
async fn nested_connections_are_refused_for_their_complexity() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up_as("hub").await;
    let fan = app.signed_up_as("spoke").await;
    app.follow(&fan, "hub").await;
    app.follow(&token, "spoke").await;

    let one =
        "{ profile(handle: \"hub\") { followers(first: 100) { edges { node { handle } } } } }";
    let body = app.gql(one, json!({}), Some(&token)).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(
        body["data"]["profile"]["followers"]["edges"][0]["node"]["handle"],
        "spoke"
    );
    let nested = |first: &str| {
        format!(
            "profile(handle: \"hub\") {{ followers(first: {first}) {{ edges {{ node {{ \
             followers(first: {first}) {{ edges {{ node {{ \
             followers(first: {first}) {{ edges {{ node {{ handle }} }} }} }} }} }} }} }} }} }}"
        )
    };
    let query = format!("query($n: Int!) {{ {} }}", nested("$n"));
    let body = app.gql(&query, json!({"n": 100}), Some(&token)).await;
    assert_eq!(error_codes(&body), ["GRAPHQL_VALIDATION_FAILED"], "{body}");
    assert!(body["data"].is_null(), "nothing ran: {body}");
    assert!(message(&body).contains("QUERY_COMPLEXITY_LIMIT"), "{body}");

    let body = app
        .gql(&format!("{{ {} }}", nested("3")), json!({}), Some(&token))
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    // hub's follower spoke, whose follower is hub, whose follower is spoke.
    let spoke = &body["data"]["profile"]["followers"]["edges"][0]["node"];
    let hub = &spoke["followers"]["edges"][0]["node"];
    assert_eq!(
        hub["followers"]["edges"][0]["node"]["handle"], "spoke",
        "{body}"
    );
    app.stop().await;
}
