use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn a_batch_is_refused_with_400() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let res = app
        .http
        .post(app.url("/graphql"))
        .json(&json!([{"query": "{ me { id } }"}, {"query": "{ me { id } }"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("one operation")
    );
    app.stop().await;
}

#[tokio::test]
async fn malformed_bodies_get_4xx_and_a_graphql_shaped_error() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let cases: &[(&str, &str, u16)] = &[
        ("application/json", "{not json", 400),
        ("application/json", r#"{"query": 12}"#, 400),
        (
            "application/json",
            r#"{"variables": {"p": "hunter2hunter2"}}"#,
            400,
        ),
        ("application/json", "", 400),
        (
            "application/json",
            r#"{"query": "{ me { id } }", "variables": [1]}"#,
            400,
        ),
        ("application/json", "null", 400),
        ("text/plain", r#"{"query": "{ me { id } }"}"#, 415),
    ];
    for (content_type, body, status) in cases {
        let res = app
            .http
            .post(app.url("/graphql"))
            .header("content-type", *content_type)
            .body(*body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), *status, "{body}");
        let text = res.text().await.unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(parsed["errors"][0]["message"].is_string(), "{text}");
        assert!(!text.contains("hunter2"), "the input is not echoed: {text}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let padding = "x".repeat(70 * 1024);
    let res = app
        .http
        .post(app.url("/graphql"))
        .json(&json!({"query": "{ me { id } }", "variables": {"pad": padding}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    app.stop().await;
}

#[tokio::test]
async fn get_serves_graphiql_and_never_executes() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let email = unique_email("get");
    let mutation = format!(
        "mutation {{ register(input: {{email: \"{email}\", password: \"{PASSWORD}\"}}) {{ accessToken }} }}"
    );
    let res = app
        .http
        .get(app.url("/graphql"))
        .query(&[("query", mutation.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("graphiql"));
    // Had the GET run, this email would now be taken.
    assert_eq!(app.register(&email, PASSWORD).await["errors"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn graphiql_off_means_no_page() {
    let db = TestDb::fresh().await;
    let mut config = config_for(&db);
    config.graphiql = false;
    let app = TestApp::spawn_with(config).await;
    assert_eq!(app.status("/graphql").await, 405);
    app.stop().await;
}

#[tokio::test]
async fn parse_and_validation_errors_carry_their_codes() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    assert_eq!(
        error_codes(&app.gql("{ me { id ", json!({}), None).await),
        ["GRAPHQL_PARSE_FAILED"]
    );
    assert_eq!(
        error_codes(&app.gql("{ nope }", json!({}), None).await),
        ["GRAPHQL_VALIDATION_FAILED"]
    );
    let deep = format!(
        "{}{}",
        "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name }",
        " }".repeat(17)
    );
    assert_eq!(
        error_codes(&app.gql(&deep, json!({}), None).await),
        ["GRAPHQL_VALIDATION_FAILED"]
    );
    // Variables are checked against the schema like the document is.
    let body = app.gql(REGISTER, json!({"i": {"email": 5}}), None).await;
    assert_eq!(error_codes(&body), ["GRAPHQL_VALIDATION_FAILED"], "{body}");
    // A required variable left out is refused before anything runs.
    let body = app.gql(REGISTER, json!({}), None).await;
    assert_eq!(error_codes(&body), ["GRAPHQL_VALIDATION_FAILED"], "{body}");
    assert_eq!(body["data"], Value::Null, "{body}");
    app.stop().await;
}

/// GraphiQL's own introspection query (graphql-js `getIntrospectionQuery`
/// with every option on) passes the default depth and complexity limits.
#[tokio::test]
async fn graphiql_introspection_fits_the_default_limits() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let body = app.gql(INTROSPECTION, json!({}), None).await;
    assert!(body.get("errors").is_none(), "{}", body["errors"]);
    let types = body["data"]["__schema"]["types"].as_array().unwrap();
    assert!(types.iter().any(|t| t["name"] == "AuthPayload"));
    app.stop().await;
}

#[tokio::test]
async fn introspection_off_refuses_it_and_hides_suggestions() {
    let db = TestDb::fresh().await;
    let mut config = config_for(&db);
    config.introspection = false;
    let app = TestApp::spawn_with(config).await;
    let body = app
        .gql("{ __schema { types { name } } }", json!({}), None)
        .await;
    assert!(
        body["data"]["__schema"].is_null() || body.get("errors").is_some(),
        "{body}"
    );
    let body = app.gql("{ mee { id } }", json!({}), None).await;
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(!message.contains("Did you mean"), "{message}");
    app.stop().await;
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    assert_eq!(app.status("/healthz").await, 200);
    assert_eq!(app.status("/readyz").await, 200);
    let res = app
        .http
        .post(app.url("/graphql"))
        .json(&json!({"query": "{ me { id } }"}))
        .send()
        .await
        .unwrap();
    assert!(
        res.headers().contains_key("x-request-id"),
        "every response carries a request id"
    );
    app.stop().await;
}

const INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    description
    queryType { name kind }
    mutationType { name kind }
    subscriptionType { name kind }
    types { ...FullType }
    directives {
      name
      description
      isRepeatable
      locations
      args(includeDeprecated: true) { ...InputValue }
    }
  }
}
fragment FullType on __Type {
  kind
  name
  description
  specifiedByURL
  isOneOf
  fields(includeDeprecated: true) {
    name
    description
    args(includeDeprecated: true) { ...InputValue }
    type { ...TypeRef }
    isDeprecated
    deprecationReason
  }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue {
  name
  description
  type { ...TypeRef }
  defaultValue
  isDeprecated
  deprecationReason
}
fragment TypeRef on __Type {
  kind
  name
  ofType {
    kind
    name
    ofType {
      kind
      name
      ofType {
        kind
        name
        ofType {
          kind
          name
          ofType {
            kind
            name
            ofType {
              kind
              name
              ofType {
                kind
                name
                ofType { kind name }
              }
            }
          }
        }
      }
    }
  }
}
"#;

#[tokio::test]
async fn directives_per_field_are_limited() {
    let db = TestDb::fresh().await;
    let query = "{ me @include(if: true) @skip(if: false) { id } }";
    let app = TestApp::spawn(&db).await;
    assert!(
        app.gql(query, json!({}), None)
            .await
            .get("errors")
            .is_none(),
        "two fit the default of four"
    );
    app.stop().await;
    let mut config = config_for(&db);
    config.query_directive_limit = 1;
    let app = TestApp::spawn_with(config).await;
    // async-graphql counts directives while parsing.
    assert_eq!(
        error_codes(&app.gql(query, json!({}), None).await),
        ["GRAPHQL_PARSE_FAILED"]
    );
    app.stop().await;
}

#[tokio::test]
async fn a_request_over_the_timeout_is_408() {
    let db = TestDb::fresh().await;
    let mut config = config_for(&db);
    // Shorter than one argon2 verify.
    config.request_timeout = std::time::Duration::from_millis(2);
    let app = TestApp::spawn_with(config).await;
    let res = app
        .http
        .post(app.url("/graphql"))
        .json(&json!({"query": LOGIN, "variables": {"i": {"email": "t@example.com", "password": PASSWORD}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 408);
    app.stop().await;
}
