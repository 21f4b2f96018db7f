use std::collections::BTreeMap;

use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::json;
use sns_api::entity::{session, user};

use crate::common::*;

#[tokio::test]
async fn every_bad_register_input_gets_its_code_and_field() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let cases: &[(&str, &str, &[&str])] = &[
        ("not-an-email", PASSWORD, &["INVALID_EMAIL"]),
        ("", PASSWORD, &["INVALID_EMAIL"]),
        ("bob@example.com", "short", &["PASSWORD_TOO_SHORT"]),
        ("bob@example.com", "", &["PASSWORD_TOO_SHORT"]),
        (
            "bob@example.com",
            &"long-enough".repeat(12),
            &["PASSWORD_TOO_LONG"],
        ),
        ("bob@example.com", "password123", &["PASSWORD_TOO_COMMON"]),
        ("bob@example.com", "Password", &["PASSWORD_TOO_COMMON"]),
        (
            "rosalind@example.com",
            "xx-Rosalind-xx",
            &["PASSWORD_TOO_COMMON"],
        ),
        // Every problem is reported, not only the first.
        ("nope", "short", &["INVALID_EMAIL", "PASSWORD_TOO_SHORT"]),
    ];
    for (email, password, want) in cases {
        let payload = app.register(email, password).await;
        assert_eq!(
            payload_codes(&payload),
            *want,
            "{email:?} / {password:?}: {payload}"
        );
        for field in [
            "accessToken",
            "tokenType",
            "expiresAt",
            "refreshToken",
            "user",
        ] {
            assert!(
                payload[field].is_null(),
                "{field} must be null with errors: {payload}"
            );
        }
        for e in payload["errors"].as_array().unwrap() {
            let field = if e["code"] == "INVALID_EMAIL" {
                "email"
            } else {
                "password"
            };
            assert_eq!(e["field"], json!(["input", field]));
            assert!(!e["message"].as_str().unwrap().is_empty());
            assert!(e["retryAfterSeconds"].is_null());
        }
    }
    // Nothing was written by any of them.
    let conn = &app.db;
    assert_eq!(user::Entity::find().count(conn).await.unwrap(), 0);
    assert_eq!(session::Entity::find().count(conn).await.unwrap(), 0);
    app.stop().await;
}

#[tokio::test]
async fn a_taken_email_is_refused_in_any_case_without_a_second_row() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    app.signed_up("carol@example.com").await;
    let payload = app
        .register(" CAROL@example.com", "another-fine-passphrase")
        .await;
    assert_eq!(payload_codes(&payload), ["EMAIL_TAKEN"]);
    assert_eq!(payload["errors"][0]["field"], json!(["input", "email"]));
    let conn = &app.db;
    assert_eq!(user::Entity::find().count(conn).await.unwrap(), 1);
    assert_eq!(session::Entity::find().count(conn).await.unwrap(), 1);
    app.stop().await;
}

#[tokio::test]
async fn unknown_email_and_wrong_password_answer_exactly_alike() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    app.signed_up("dave@example.com").await;
    let wrong = app.login("dave@example.com", "not-the-password").await;
    let unknown = app.login("nobody@example.com", "not-the-password").await;
    assert_eq!(payload_codes(&wrong), ["INVALID_CREDENTIALS"]);
    assert_eq!(wrong, unknown, "same code, same message, same nulls");
    assert!(wrong["errors"][0]["field"].is_null());
    // A malformed password at login is only a wrong password.
    assert_eq!(
        payload_codes(&app.login("dave@example.com", "x").await),
        ["INVALID_CREDENTIALS"]
    );
    assert_eq!(
        payload_codes(&app.login("not-an-email", PASSWORD).await),
        ["INVALID_EMAIL"]
    );
    app.stop().await;
}

#[tokio::test]
async fn concurrent_registrations_of_one_email_give_exactly_one_account() {
    let db = TestDb::fresh().await;
    let app = std::sync::Arc::new(TestApp::spawn(&db).await);
    let email = unique_email("race");
    let tasks: Vec<_> = (0..25)
        .map(|_| {
            let app = app.clone();
            let email = email.clone();
            tokio::spawn(async move {
                app.gql(
                    REGISTER,
                    json!({"i": {"email": email, "password": PASSWORD}}),
                    None,
                )
                .await
            })
        })
        .collect();
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for t in tasks {
        let body = t.await.unwrap();
        assert!(body.get("errors").is_none(), "no top-level error: {body}");
        let payload = &body["data"]["register"];
        let key = match payload_codes(payload).as_slice() {
            [] => "ok".to_owned(),
            [code] => code.clone(),
            other => format!("{other:?}"),
        };
        *outcomes.entry(key).or_default() += 1;
    }
    assert_eq!(
        outcomes,
        BTreeMap::from([("EMAIL_TAKEN".to_owned(), 24), ("ok".to_owned(), 1)])
    );
    let conn = &app.db;
    assert_eq!(user::Entity::find().count(conn).await.unwrap(), 1);
    assert_eq!(
        session::Entity::find().count(conn).await.unwrap(),
        1,
        "no half-written registration"
    );
}

#[tokio::test]
async fn addresses_that_differ_only_by_accents_are_different_accounts() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let a = app.register("jürgen@example.com", PASSWORD).await;
    let b = app.register("jurgen@example.com", PASSWORD).await;
    assert_eq!(a["errors"], json!([]), "{a}");
    assert_eq!(b["errors"], json!([]), "{b}");
    assert_eq!(a["user"]["email"], "jürgen@example.com");
    assert_ne!(a["user"]["id"], b["user"]["id"]);
    app.stop().await;
}
