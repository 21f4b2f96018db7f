//! `report` and the operators' `sns-api reports list|show|resolve`: what is
//! stored, every bad input, `REPORT_LIMIT`, and the binary's commands.

use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait, QueryOrder};
use serde_json::{Value, json};
use sns_api::entity::report;

use crate::common::*;

const REPORT: &str = "mutation($i: ReportInput!) { report(input: $i) { reported errors { code message field retryAfterSeconds } } }";

async fn report(app: &TestApp, token: Option<&str>, input: Value) -> Value {
    app.gql(REPORT, json!({ "i": input }), token).await
}

async fn stored(app: &TestApp) -> Vec<report::Model> {
    report::Entity::find()
        .order_by_asc(report::Column::Id)
        .all(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_report_keeps_what_it_named_as_it_was() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let [ann, bob]: [String; 2] = app
        .signed_up_all(&["ann_r", "bob_r"])
        .await
        .try_into()
        .unwrap();
    let post = app.posted(&bob, "buy cheap followers").await;

    let on_profile = report(
        &app,
        Some(&ann),
        json!({"handle": "BOB_R", "reason": "HARASSMENT", "comment": "  keeps\r\nwriting  "}),
    )
    .await;
    assert_eq!(
        on_profile["data"]["report"],
        json!({"reported": true, "errors": []})
    );
    let on_post = report(&app, Some(&ann), json!({"postId": post, "reason": "SPAM"})).await;
    assert_eq!(
        on_post["data"]["report"],
        json!({"reported": true, "errors": []})
    );

    // The post and the handle change afterwards; the reports keep them.
    app.gql(
        "mutation { updateProfile(input: {handle: \"bob_renamed\"}) { errors { code } } }",
        json!({}),
        Some(&bob),
    )
    .await;
    app.gql(
        "mutation($id: ID!) { deletePost(id: $id) { deleted } }",
        json!({"id": post}),
        Some(&bob),
    )
    .await;
    let rows = stored(&app).await;
    assert_eq!(rows.len(), 2);
    let bob_id = rows[0].account_id;
    assert_eq!(rows[0].handle, "bob_r");
    assert_eq!(rows[0].reason, "HARASSMENT");
    assert_eq!(rows[0].comment.as_deref(), Some("keeps\nwriting"));
    assert_eq!(
        (rows[0].post_id, rows[0].post_body.as_deref()),
        (None, None)
    );
    assert_eq!(rows[1].account_id, bob_id);
    assert_eq!(rows[1].post_id.map(|p| p.to_string()), Some(post));
    assert_eq!(rows[1].post_body.as_deref(), Some("buy cheap followers"));
    assert_eq!(
        (rows[1].reason.as_str(), rows[1].comment.as_deref()),
        ("SPAM", None)
    );
    assert!(rows.iter().all(|r| r.resolved_at.is_none()));
    app.stop().await;
}

#[tokio::test]
async fn every_bad_report_is_refused_and_writes_nothing() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let [ann, bob]: [String; 2] = app
        .signed_up_all(&["ann_b", "bob_b"])
        .await
        .try_into()
        .unwrap();
    let own = app.posted(&ann, "mine").await;
    let theirs = app.posted(&bob, "theirs").await;
    let long = "é".repeat(1001);

    for (input, code) in [
        (json!({"reason": "SPAM"}), "BAD_USER_INPUT"),
        (
            json!({"handle": "bob_b", "postId": theirs, "reason": "SPAM"}),
            "BAD_USER_INPUT",
        ),
        (
            json!({"handle": "ANN_B", "reason": "SPAM"}),
            "BAD_USER_INPUT",
        ),
        (json!({"postId": own, "reason": "OTHER"}), "BAD_USER_INPUT"),
        (
            json!({"handle": "bob_b", "reason": "RUDE"}),
            "GRAPHQL_VALIDATION_FAILED",
        ),
    ] {
        let body = report(&app, Some(&ann), input.clone()).await;
        assert_eq!(error_codes(&body), [code], "{input}: {body}");
    }
    let anonymous = report(&app, None, json!({"handle": "bob_b", "reason": "SPAM"})).await;
    assert_eq!(error_codes(&anonymous), ["UNAUTHENTICATED"]);

    let payload = |body: &Value| body["data"]["report"].clone();
    for (input, errors) in [
        (
            json!({"handle": "nobody_here", "reason": "SPAM"}),
            vec![("NOT_FOUND", json!(["input", "handle"]))],
        ),
        (
            json!({"handle": "not a handle!", "reason": "SPAM"}),
            vec![("NOT_FOUND", json!(["input", "handle"]))],
        ),
        (
            json!({"postId": "not-an-id", "reason": "SPAM"}),
            vec![("NOT_FOUND", json!(["input", "postId"]))],
        ),
        (
            json!({"postId": uuid::Uuid::now_v7().to_string(), "reason": "SPAM"}),
            vec![("NOT_FOUND", json!(["input", "postId"]))],
        ),
        (
            json!({"handle": "bob_b", "reason": "SPAM", "comment": long}),
            vec![("TEXT_TOO_LONG", json!(["input", "comment"]))],
        ),
        // Every problem, not only the first.
        (
            json!({"handle": "nobody_here", "reason": "SPAM", "comment": long}),
            vec![
                ("TEXT_TOO_LONG", json!(["input", "comment"])),
                ("NOT_FOUND", json!(["input", "handle"])),
            ],
        ),
    ] {
        let body = report(&app, Some(&ann), input.clone()).await;
        let p = payload(&body);
        assert_eq!(p["reported"], json!(false), "{input}: {body}");
        let got: Vec<(String, Value)> = p["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["code"].as_str().unwrap().to_owned(), e["field"].clone()))
            .collect();
        let want: Vec<(String, Value)> =
            errors.into_iter().map(|(c, f)| (c.to_owned(), f)).collect();
        assert_eq!(got, want, "{input}");
    }
    assert_eq!(report::Entity::find().count(&app.db).await.unwrap(), 0);

    // 1,000 code points is the limit, not beyond.
    let at_limit = report(
        &app,
        Some(&ann),
        json!({"handle": "bob_b", "reason": "OTHER", "comment": "é".repeat(1000)}),
    )
    .await;
    assert_eq!(payload(&at_limit)["reported"], json!(true), "{at_limit}");
    app.stop().await;
}

#[tokio::test]
async fn a_locked_accounts_post_is_reportable_by_its_followers_only_and_a_block_stops_no_report() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let [ann, lou, fay]: [String; 3] = app
        .signed_up_all(&["ann_l", "lou_l", "fay_l"])
        .await
        .try_into()
        .unwrap();
    app.follow(&fay, "lou_l").await;
    let post = app.posted(&lou, "for my followers").await;
    app.db
        .execute_unprepared("UPDATE profile SET locked = TRUE WHERE handle = 'lou_l'")
        .await
        .unwrap();
    let stranger = report(&app, Some(&ann), json!({"postId": post, "reason": "SPAM"})).await;
    assert_eq!(
        stranger["data"]["report"]["errors"][0]["code"],
        json!("NOT_FOUND"),
        "{stranger}"
    );
    let follower = report(&app, Some(&fay), json!({"postId": post, "reason": "SPAM"})).await;
    assert_eq!(
        follower["data"]["report"]["reported"],
        json!(true),
        "{follower}"
    );
    // The profile itself stays reportable by anyone.
    let profile = report(
        &app,
        Some(&ann),
        json!({"handle": "lou_l", "reason": "SPAM"}),
    )
    .await;
    assert_eq!(
        profile["data"]["report"]["reported"],
        json!(true),
        "{profile}"
    );

    // Blocked by the author: the post can still be reported.
    app.db
        .execute_unprepared("UPDATE profile SET locked = FALSE WHERE handle = 'lou_l'")
        .await
        .unwrap();
    let blocked = app
        .gql(
            "mutation { block(handle: \"ann_l\") { errors { code } } }",
            json!({}),
            Some(&lou),
        )
        .await;
    assert_eq!(blocked["data"]["block"]["errors"], json!([]), "{blocked}");
    let body = report(
        &app,
        Some(&ann),
        json!({"postId": post, "reason": "HARASSMENT"}),
    )
    .await;
    assert_eq!(body["data"]["report"]["reported"], json!(true), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn report_limit_refuses_past_its_count_per_reporter() {
    let db = TestDb::fresh().await;
    let mut config = config_for(&db);
    config.rate_limits.reports = "3/1h".parse().unwrap();
    let app = TestApp::spawn_with(config).await;
    let [ann, bob, cat]: [String; 3] = app
        .signed_up_all(&["ann_q", "bob_q", "cat_q"])
        .await
        .try_into()
        .unwrap();
    for _ in 0..3 {
        let ok = report(
            &app,
            Some(&ann),
            json!({"handle": "bob_q", "reason": "SPAM"}),
        )
        .await;
        assert_eq!(ok["data"]["report"]["reported"], json!(true), "{ok}");
    }
    let refused = report(
        &app,
        Some(&ann),
        json!({"handle": "bob_q", "reason": "SPAM"}),
    )
    .await;
    let error = &refused["data"]["report"]["errors"][0];
    assert_eq!(error["code"], json!("RATE_LIMITED"), "{refused}");
    assert!(
        error["retryAfterSeconds"].as_i64().unwrap() > 0,
        "{refused}"
    );
    // Another reporter has a count of its own.
    let other = report(
        &app,
        Some(&cat),
        json!({"handle": "bob_q", "reason": "SPAM"}),
    )
    .await;
    assert_eq!(other["data"]["report"]["reported"], json!(true), "{other}");
    assert_eq!(report::Entity::find().count(&app.db).await.unwrap(), 4);
    let _ = bob;
    app.stop().await;
}

/// The real binary on this run's database.
fn reports_cli(db: &TestDb, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sns-api"))
        .env_clear()
        .env("DATABASE_URL", &db.url)
        .env("JWT_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .arg("reports")
        .args(args)
        .output()
        .expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[tokio::test]
async fn operators_list_show_and_resolve_reports_with_the_binary() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let [ann, bob]: [String; 2] = app
        .signed_up_all(&["ann_o", "bob_o"])
        .await
        .try_into()
        .unwrap();
    let post = app.posted(&bob, "line one\nline two").await;
    report(
        &app,
        Some(&ann),
        json!({"handle": "bob_o", "reason": "SPAM"}),
    )
    .await;
    report(
        &app,
        Some(&ann),
        json!({"postId": post, "reason": "ILLEGAL", "comment": "see the second line"}),
    )
    .await;
    let rows = stored(&app).await;
    assert_eq!(rows.len(), 2);
    let (first, second) = (rows[0].id.to_string(), rows[1].id.to_string());

    let (ok, listed, err) = reports_cli(&db, &["list"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert!(
        lines[0].starts_with(&first) && lines[0].contains("SPAM"),
        "{listed}"
    );
    assert!(
        lines[1].starts_with(&second) && lines[1].contains(&post),
        "{listed}"
    );
    assert!(listed.contains("(from @ann_o)"), "{listed}");

    let (ok, shown, err) = reports_cli(&db, &["show", &second]);
    assert!(ok, "{err}");
    for expected in [
        "reason:    ILLEGAL",
        "reporter:  @ann_o",
        "  | line one",
        "  | line two",
        "  | see the second line",
        "status:    open",
        "open reports about this account: 2",
    ] {
        assert!(shown.contains(expected), "{expected:?} in {shown}");
    }

    let (ok, out, err) = reports_cli(&db, &["resolve", &first, "--note", "warned the account"]);
    assert!(ok && out.contains("resolved"), "{out}{err}");
    let (ok, again, _) = reports_cli(&db, &["resolve", &first, "--note", "other"]);
    assert!(ok && again.contains("resolved already"), "{again}");
    let row = report::Entity::find_by_id(rows[0].id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert!(row.resolved_at.is_some());
    assert_eq!(row.resolution.as_deref(), Some("warned the account"));

    let (_, open, _) = reports_cli(&db, &["list"]);
    assert_eq!(open.lines().count(), 1, "{open}");
    assert!(open.starts_with(&second), "{open}");
    let (_, all, _) = reports_cli(&db, &["list", "--all"]);
    let all: Vec<&str> = all.lines().collect();
    assert_eq!(all.len(), 2);
    assert!(
        all[0].starts_with(&second) && all[1].contains("resolved"),
        "{all:?}"
    );

    for bad in [
        ["show", "nope"],
        ["resolve", "0190a0a0-0000-7000-8000-000000000000"],
    ] {
        let (ok, _, err) = reports_cli(&db, &bad);
        assert!(
            !ok && err.contains("no report has the id"),
            "{bad:?}: {err}"
        );
    }
    app.stop().await;
}
