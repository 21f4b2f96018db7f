//! The direct path (`src/graphql/direct.rs`): a query whose document was
//! kept before runs without the per-operation extension. Each case sends
//! the same request twice, once with the kept text (the direct path) and
//! once with a text never seen (a comment appended: the extension's path),
//! and the two answers must be the same, status and body. Which path a
//! request takes is the unit tests' (`graphql::direct::tests`): the
//! process's metrics, which tests running beside these move too, cannot
//! tell it here.

use serde_json::{Value, json};

use crate::common::*;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

const INBOX: &str = "query Inbox($a: String) { notifications(first: 2, after: $a) { edges { cursor node { kind actorCount } } pageInfo { hasNextPage } } }";
const PROFILE: &str = "query($h: String!) { profile(handle: $h) { handle displayName } }";

/// POSTs `query` with `variables` (and `operationName` when given), asking
/// for `application/graphql-response+json`: the status and the body.
async fn send(
    app: &TestApp,
    query: &str,
    variables: Value,
    operation: Option<&str>,
    token: Option<&str>,
) -> (u16, Value) {
    let mut body = json!({"query": query, "variables": variables});
    if let Some(name) = operation {
        body["operationName"] = json!(name);
    }
    let mut req = app
        .http
        .post(app.url("/graphql"))
        .header("Accept", GRAPHQL_RESPONSE)
        .json(&body);
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let res = req.send().await.expect("request sent");
    let status = res.status().as_u16();
    (status, res.json().await.expect("a JSON body"))
}

/// Sends `query` (kept before) and a never-seen copy of it with the same
/// variables; asserts the two answers are equal and answers the first.
async fn same_both_ways(
    app: &TestApp,
    query: &str,
    variables: Value,
    operation: Option<&str>,
    token: Option<&str>,
    fresh: &mut u32,
) -> (u16, Value) {
    let kept = send(app, query, variables.clone(), operation, token).await;
    *fresh += 1;
    let copy = format!("{query} # {fresh}");
    let unkept = send(app, &copy, variables, operation, token).await;
    assert_eq!(kept, unkept, "{query}");
    kept
}

#[tokio::test]
async fn a_kept_query_answers_as_the_extension_does() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up_as("direct_reader").await;
    let t = Some(token.as_str());
    let mut fresh = 0;

    // The first run keeps the parse; the next runs directly.
    let first = send(&app, INBOX, json!({"a": null}), None, t).await;
    assert_eq!(first.0, 200, "{first:?}");
    let (status, body) = same_both_ways(&app, INBOX, json!({"a": null}), None, t, &mut fresh).await;
    assert_eq!(status, 200);
    assert_eq!(body, first.1);
    assert!(body["data"]["notifications"]["edges"].is_array(), "{body}");

    // A variable of the wrong type: validation refuses it, nothing runs.
    let (status, body) = same_both_ways(&app, INBOX, json!({"a": 5}), None, t, &mut fresh).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_codes(&body), ["GRAPHQL_VALIDATION_FAILED"], "{body}");
    assert!(body.get("data").is_none(), "{body}");

    // Its non-null root fails for an anonymous caller: the operation ran.
    let (status, body) =
        same_both_ways(&app, INBOX, json!({"a": null}), None, None, &mut fresh).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"].is_null(), "{body}");
    assert_eq!(
        body["errors"][0]["path"],
        json!(["notifications"]),
        "{body}"
    );

    // A cursor the resolver refuses: its error has a path, data stays.
    let (status, body) = same_both_ways(
        &app,
        INBOX,
        json!({"a": "not-a-cursor"}),
        None,
        t,
        &mut fresh,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");

    // An operation name the document lacks goes the extension's way.
    let (status, body) = same_both_ways(
        &app,
        INBOX,
        json!({"a": null}),
        Some("Other"),
        t,
        &mut fresh,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn a_kept_query_missing_a_required_variable_is_refused_as_before() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let mut fresh = 0;
    let first = send(&app, PROFILE, json!({"h": "nobody_here"}), None, None).await;
    assert_eq!(first, (200, json!({"data": {"profile": null}})));

    let (status, body) = same_both_ways(
        &app,
        PROFILE,
        json!({"h": "nobody_here"}),
        None,
        None,
        &mut fresh,
    )
    .await;
    assert_eq!((status, &body), (200, &first.1));

    // The refusal of a missing variable comes after validation's, which
    // only the extension orders: the direct path leaves it to it.
    let (status, body) = same_both_ways(&app, PROFILE, json!({}), None, None, &mut fresh).await;
    assert_eq!(status, 400, "{body}");
    assert!(!error_codes(&body).is_empty(), "{body}");

    // A document without variables is kept whole, and runs directly too.
    let whole = r#"{ profile(handle: "nobody_here") { handle } }"#;
    send(&app, whole, json!({}), None, None).await;
    let (status, body) = same_both_ways(&app, whole, json!({}), None, None, &mut fresh).await;
    assert_eq!((status, body), (200, json!({"data": {"profile": null}})));

    // A mutation is never kept, so never run directly.
    let logout = "mutation { logout(scope: CURRENT) { revokedSessions } }";
    for _ in 0..2 {
        let (_, _) = same_both_ways(&app, logout, json!({}), None, None, &mut fresh).await;
    }
    app.stop().await;
}
