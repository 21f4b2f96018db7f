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
    config.documents.introspection = false;
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

/// GraphiQL's own introspection query, as it sends it.
const INTROSPECTION: &str = include_str!("../../src/graphql/introspection.graphql");

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
    config.documents.directive_limit = 1;
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

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// One POST with `Accept: accept`; answers (status, content type, JSON
/// body). Without a header of its own, reqwest sends `Accept: */*`.
async fn post_accepting(app: &TestApp, accept: &str, body: Value) -> (u16, String, Value) {
    let res = app
        .http
        .post(app.url("/graphql"))
        .header("accept", accept)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, res.json().await.unwrap())
}

/// Request errors: nothing runs. (what, body, the error code.)
fn request_errors() -> Vec<(&'static str, Value, &'static str)> {
    vec![
        (
            "a parse error",
            json!({"query": "{ me { id "}),
            "GRAPHQL_PARSE_FAILED",
        ),
        (
            "a validation error",
            json!({"query": "{ nope }"}),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "a variable of the wrong type",
            json!({"query": REGISTER, "variables": {"i": {"email": 5}}}),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "a null for a required variable",
            json!({"query": REGISTER, "variables": {"i": null}}),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "a required variable left out",
            json!({"query": REGISTER, "variables": {}}),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "an unknown operation",
            json!({"query": "query A { me { id } }", "operationName": "B"}),
            "BAD_USER_INPUT",
        ),
        (
            "no operation named among several",
            json!({"query": "query A { me { id } } query B { me { email } }"}),
            "BAD_USER_INPUT",
        ),
    ]
}

#[tokio::test]
async fn request_errors_under_graphql_response_json_are_400_without_data() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    for (what, body, code) in request_errors() {
        let (status, content_type, body) = post_accepting(&app, GRAPHQL_RESPONSE, body).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert!(
            content_type.starts_with(GRAPHQL_RESPONSE),
            "{what}: {content_type}"
        );
        assert!(body.get("data").is_none(), "{what}: no data entry: {body}");
        assert_eq!(error_codes(&body), [code], "{what}: {body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn request_errors_under_application_json_stay_200_with_null_data() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    for accept in ["application/json", "*/*"] {
        for (what, body, code) in request_errors() {
            let (status, content_type, body) = post_accepting(&app, accept, body).await;
            assert_eq!(status, 200, "{accept}, {what}: {body}");
            assert_eq!(content_type, "application/json", "{accept}, {what}");
            assert_eq!(body.get("data"), Some(&Value::Null), "{accept}, {what}");
            assert_eq!(error_codes(&body), [code], "{accept}, {what}: {body}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn an_operation_that_ran_is_200_under_graphql_response_json_even_with_errors() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let (status, content_type, body) =
        post_accepting(&app, GRAPHQL_RESPONSE, json!({"query": "{ me { id } }"})).await;
    assert_eq!((status, body.clone()), (200, json!({"data": {"me": null}})));
    assert_eq!(
        content_type,
        "application/graphql-response+json; charset=utf-8"
    );
    // `sessions` is non-null and needs a token: the field error nulls `data`,
    // yet the operation ran, so this is no request error.
    let (status, content_type, body) = post_accepting(
        &app,
        GRAPHQL_RESPONSE,
        json!({"query": "{ sessions { id } }"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(content_type.starts_with(GRAPHQL_RESPONSE), "{content_type}");
    assert_eq!(body.get("data"), Some(&Value::Null), "{body}");
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    // A mutation's expected outcome is data, and 200.
    let email = unique_email("gqlresp");
    let register =
        json!({"query": REGISTER, "variables": {"i": {"email": email, "password": "short"}}});
    let (status, _, body) = post_accepting(&app, GRAPHQL_RESPONSE, register).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        payload_codes(&body["data"]["register"]),
        ["PASSWORD_TOO_SHORT"]
    );
    app.stop().await;
}

#[tokio::test]
async fn clients_that_name_both_types_get_graphql_response_json() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    for accept in [
        "application/graphql-response+json, application/graphql+json, application/json, text/event-stream, multipart/mixed",
        "application/graphql-response+json,application/json;q=0.9",
        "application/json;q=0.5, application/graphql-response+json",
    ] {
        let (status, content_type, _) =
            post_accepting(&app, accept, json!({"query": "{ nope }"})).await;
        assert_eq!(status, 400, "{accept}");
        assert!(
            content_type.starts_with(GRAPHQL_RESPONSE),
            "{accept}: {content_type}"
        );
    }
    let (status, content_type, _) = post_accepting(
        &app,
        "application/graphql-response+json;q=0.5, application/json",
        json!({"query": "{ nope }"}),
    )
    .await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    app.stop().await;
}

#[tokio::test]
async fn an_accept_of_neither_type_is_406_and_runs_nothing() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let email = unique_email("406");
    let register =
        json!({"query": REGISTER, "variables": {"i": {"email": email, "password": PASSWORD}}});
    for accept in ["text/html", "application/xml, text/plain", "*/*;q=0"] {
        let (status, content_type, body) = post_accepting(&app, accept, register.clone()).await;
        assert_eq!(status, 406, "{accept}");
        assert_eq!(content_type, "application/json", "{accept}");
        assert_eq!(error_codes(&body), ["BAD_REQUEST"], "{accept}: {body}");
        assert!(body.get("data").is_none(), "{body}");
    }
    // Had any of them run, this email would now be taken.
    assert_eq!(app.register(&email, PASSWORD).await["errors"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn refusals_before_graphql_come_in_the_negotiated_type() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let cases: &[(&str, &str, u16)] = &[
        ("application/json", r#"[{"query": "{ me { id } }"}]"#, 400),
        ("application/json", "{not json", 400),
        ("application/json", r#"{"qeury": "{ me { id } }"}"#, 400),
        // Only application/json is a request type; the response types are not.
        (GRAPHQL_RESPONSE, r#"{"query": "{ me { id } }"}"#, 415),
        ("application/graphql", "{ me { id } }", 415),
    ];
    for accept in [GRAPHQL_RESPONSE, "application/json"] {
        for (content_type, body, status) in cases {
            let res = app
                .http
                .post(app.url("/graphql"))
                .header("accept", accept)
                .header("content-type", *content_type)
                .body(*body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status().as_u16(), *status, "{accept}: {body}");
            let answered = res.headers()["content-type"].to_str().unwrap().to_owned();
            assert!(answered.starts_with(accept), "{accept}: {answered}");
            let body: Value = res.json().await.unwrap();
            assert!(body.get("data").is_none(), "{body}");
            assert_eq!(error_codes(&body), ["BAD_REQUEST"], "{body}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_graphql_shaped_413() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let padding = "x".repeat(70 * 1024);
    let body = json!({"query": "{ me { id } }", "variables": {"pad": padding}});
    let (status, content_type, body) = post_accepting(&app, GRAPHQL_RESPONSE, body).await;
    assert_eq!(status, 413);
    assert!(content_type.starts_with(GRAPHQL_RESPONSE), "{content_type}");
    assert_eq!(error_codes(&body), ["BAD_REQUEST"], "{body}");
    app.stop().await;
}

#[tokio::test]
async fn extensions_must_be_a_map_when_sent() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    for extensions in [json!({"clientLibrary": {"name": "x"}}), Value::Null] {
        let body = json!({"query": "{ me { id } }", "extensions": extensions});
        let (status, _, body) = post_accepting(&app, GRAPHQL_RESPONSE, body).await;
        assert_eq!((status, body), (200, json!({"data": {"me": null}})));
    }
    for extensions in [json!("x"), json!(1), json!([])] {
        let body = json!({"query": "{ me { id } }", "extensions": extensions});
        let (status, _, body) = post_accepting(&app, GRAPHQL_RESPONSE, body).await;
        assert_eq!(status, 400, "{extensions}: {body}");
        assert_eq!(error_codes(&body), ["BAD_REQUEST"]);
    }
    app.stop().await;
}

/// reqwest always sends an `Accept`; this request is written by hand.
#[tokio::test]
async fn no_accept_header_is_answered_as_application_json() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let body = r#"{"query": "{ nope }"}"#;
    let request = format!(
        "POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let head = answer
        .split("\r\n\r\n")
        .next()
        .unwrap()
        .to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains("\r\ncontent-type: application/json\r\n"),
        "{head}"
    );
    assert!(answer.contains(r#""data":null"#), "{answer}");
    app.stop().await;
}
