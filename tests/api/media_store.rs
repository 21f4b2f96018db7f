//! The local media store over HTTP (`GET /media/...`: types, caching, no
//! way out of the folder), the multipart protocol's refusals (each leaves
//! nothing behind), and the expiry of uploads never attached with the
//! deletion queue that removes their objects.

use std::io::Write as _;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait as _, EntityTrait as _, PaginatorTrait as _, QueryFilter as _};
use serde_json::{Value, json};
use sns_api::entity::{media, media_deletion};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::common::{TestApp, TestDb, config_for, error_codes, poll_until};
use crate::media_common::{UPLOAD, jpeg, referenced_keys, stored_keys, upload, upload_raw};

const PREFLIGHT: (&str, &str) = ("GraphQL-Require-Preflight", "1");

/// Nothing in the store, no `media` row.
async fn assert_nothing_kept(app: &TestApp) {
    assert_eq!(stored_keys(app).await.len(), 0);
    assert_eq!(media::Entity::find().count(&app.db).await.unwrap(), 0);
}

/// A multipart request of these parts, in this order, with the preflight
/// header; answers the status and the JSON body.
async fn post_parts(
    app: &TestApp,
    token: &str,
    parts: Vec<(&str, reqwest::multipart::Part)>,
) -> (u16, Value) {
    let mut form = reqwest::multipart::Form::new();
    for (name, part) in parts {
        form = form.part(name.to_owned(), part);
    }
    let res = app
        .http
        .post(app.url("/graphql"))
        .header("Authorization", format!("Bearer {token}"))
        .header(PREFLIGHT.0, PREFLIGHT.1)
        .multipart(form)
        .send()
        .await
        .expect("request sent");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn text(s: String) -> reqwest::multipart::Part {
    reqwest::multipart::Part::text(s)
}

fn file(bytes: Vec<u8>) -> reqwest::multipart::Part {
    reqwest::multipart::Part::bytes(bytes).file_name("a.jpg")
}

fn operations() -> String {
    json!({"query": UPLOAD, "variables": {"file": null}}).to_string()
}

/// The status line of a request sent as written, bypassing the URL
/// normalisation every client does (`..` and `%2e%2e` are removed there).
async fn raw_status(app: &TestApp, path: &str) -> String {
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn stored_objects_are_served_with_their_type_nosniff_and_cached_for_good() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up("served@example.com").await;
    let payload = upload(&app, &token, jpeg(64, 48), "a.jpg").await;
    let url = payload["media"]["url"].as_str().unwrap().to_owned();
    let png = {
        let mut out = std::io::Cursor::new(Vec::new());
        image::RgbImage::new(4, 4)
            .write_to(&mut out, image::ImageFormat::Png)
            .unwrap();
        out.into_inner()
    };
    app.state
        .media()
        .store()
        .put("some.png", png.clone(), "image/png")
        .await
        .unwrap();
    for (url, kind) in [
        (url, "image/jpeg"),
        (app.url("/media/some.png"), "image/png"),
    ] {
        let res = app.http.get(&url).send().await.unwrap();
        assert_eq!(res.status(), 200, "{url}");
        assert_eq!(res.headers()["content-type"], kind);
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
        let cache = res.headers()["cache-control"].to_str().unwrap().to_owned();
        assert!(
            cache.contains("immutable") && cache.contains("max-age=31536000"),
            "{cache}"
        );
    }
    let res = app
        .http
        .get(app.url("/media/some.png"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.bytes().await.unwrap().as_ref(), png.as_slice());
}

#[tokio::test]
async fn unknown_keys_and_paths_out_of_the_folder_are_not_found() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    // Beside the store's folder: what a way out would reach.
    let outside = db.mail_dir.path().join("outside.jpg");
    std::fs::File::create(&outside)
        .unwrap()
        .write_all(&jpeg(8, 8))
        .unwrap();
    assert_eq!(
        app.status("/media/0193a5b2-0000-7000-8000-000000000000.jpg")
            .await,
        404
    );
    assert_eq!(app.status("/media/nothing").await, 404);
    for path in [
        "/media/../outside.jpg",
        "/media/%2e%2e/outside.jpg",
        "/media/..%2foutside.jpg",
        "/media/%2e%2e%2foutside.jpg",
        "/media/..%5coutside.jpg",
        "/media/../sns.db",
        "/media/%2e%2e/sns.db",
        "/media/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    ] {
        let status = raw_status(&app, path).await;
        assert!(
            status.starts_with("HTTP/1.1 404") || status.starts_with("HTTP/1.1 400"),
            "{path}: {status}"
        );
        assert!(!status.contains("200"), "{path}: {status}");
    }
}

#[tokio::test]
async fn a_multipart_request_without_a_preflight_header_is_refused_and_nothing_is_kept() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up("nopre@example.com").await;
    for headers in [&[][..], &[("GraphQL-Require-Preflight", " ")][..]] {
        let (status, body) =
            upload_raw(&app, Some(&token), jpeg(32, 32), "a.jpg", None, headers).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(error_codes(&body), ["BAD_REQUEST"]);
    }
    // Either header counts.
    let (status, body) = upload_raw(
        &app,
        Some(&token),
        jpeg(32, 32),
        "a.jpg",
        None,
        &[("Apollo-Require-Preflight", "true")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(media::Entity::find().count(&app.db).await.unwrap(), 1);
}

#[tokio::test]
async fn a_batch_two_files_or_parts_out_of_order_are_bad_requests_that_keep_nothing() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up("order@example.com").await;
    let map = || text(json!({"0": ["variables.file"]}).to_string());
    let batch = text(format!("[{}]", operations()));
    let two_map = text(json!({"0": ["variables.file"], "1": ["variables.other"]}).to_string());
    let cases: Vec<(&str, Vec<(&str, reqwest::multipart::Part)>)> = vec![
        (
            "a batch",
            vec![
                ("operations", batch),
                ("map", map()),
                ("0", file(jpeg(8, 8))),
            ],
        ),
        (
            "two files in map",
            vec![
                ("operations", text(operations())),
                ("map", two_map),
                ("0", file(jpeg(8, 8))),
                ("1", file(jpeg(8, 8))),
            ],
        ),
        (
            "a second file part",
            vec![
                ("operations", text(operations())),
                ("map", map()),
                ("0", file(jpeg(8, 8))),
                ("1", file(jpeg(8, 8))),
            ],
        ),
        (
            "map first",
            vec![
                ("map", map()),
                ("operations", text(operations())),
                ("0", file(jpeg(8, 8))),
            ],
        ),
        (
            "the file first",
            vec![
                ("0", file(jpeg(8, 8))),
                ("operations", text(operations())),
                ("map", map()),
            ],
        ),
        (
            "the file under another name",
            vec![
                ("operations", text(operations())),
                ("map", map()),
                ("1", file(jpeg(8, 8))),
            ],
        ),
        (
            "no file",
            vec![("operations", text(operations())), ("map", map())],
        ),
    ];
    for (what, parts) in cases {
        let (status, body) = post_parts(&app, &token, parts).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert_eq!(error_codes(&body), ["BAD_REQUEST"], "{what}: {body}");
        assert!(
            body.get("data").is_none_or(Value::is_null),
            "{what}: {body}"
        );
    }
    assert_nothing_kept(&app).await;
}

#[tokio::test]
async fn a_file_one_byte_over_the_limit_is_413_and_leaves_no_row_or_object() {
    let db = TestDb::fresh().await;
    let mut config = config_for(&db);
    config.media.max_bytes = 64 * 1024;
    let app = TestApp::spawn_with(config).await;
    let token = app.signed_up("big@example.com").await;
    // Exactly the limit is read (and refused for what it is, not its size).
    let (status, body) = upload_raw(
        &app,
        Some(&token),
        vec![7; 64 * 1024],
        "a.jpg",
        None,
        &[PREFLIGHT],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["uploadMedia"]["errors"][0]["code"], "UNSUPPORTED_MEDIA",
        "{body}"
    );
    let (status, body) = upload_raw(
        &app,
        Some(&token),
        vec![7; 64 * 1024 + 1],
        "a.jpg",
        None,
        &[PREFLIGHT],
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert_nothing_kept(&app).await;
}

#[tokio::test]
async fn operations_over_the_body_limit_are_413() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up("ops@example.com").await;
    let body_limit = config_for(&db).body_limit;
    let padded = json!({
        "query": UPLOAD,
        "variables": {"file": null, "alt": "x".repeat(body_limit)},
    })
    .to_string();
    let map = text(json!({"0": ["variables.file"]}).to_string());
    let (status, body) = post_parts(
        &app,
        &token,
        vec![
            ("operations", text(padded)),
            ("map", map),
            ("0", file(jpeg(8, 8))),
        ],
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert_nothing_kept(&app).await;
}

#[tokio::test]
async fn an_allowed_origin_may_preflight_an_upload_with_either_header() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let origin = config_for(&db).cors_origins[0].clone();
    for requested in [
        "graphql-require-preflight,content-type",
        "apollo-require-preflight,authorization",
    ] {
        let res = app
            .http
            .request(reqwest::Method::OPTIONS, app.url("/graphql"))
            .header("Origin", &origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", requested)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{requested}: {}", res.status());
        let h = res.headers();
        assert_eq!(h["access-control-allow-origin"], origin.as_str());
        let allowed = h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase();
        for name in requested.split(',') {
            assert!(allowed.contains(name), "{name} not in {allowed}");
        }
    }
    // Another origin gets no allowance.
    let res = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/graphql"))
        .header("Origin", "https://evil.example")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "graphql-require-preflight",
        )
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

/// Sets the upload's `created_at` back by `hours`, as a day passing would.
async fn age_upload(app: &TestApp, id: &str, hours: i64) {
    media::Entity::update_many()
        .col_expr(
            media::Column::CreatedAt,
            Expr::value(sns_api::service::clock::now() - chrono::Duration::hours(hours)),
        )
        .filter(media::Column::Id.eq(uuid::Uuid::parse_str(id).unwrap()))
        .exec(&app.db)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_upload_never_attached_within_a_day_goes_with_its_objects() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up("expire@example.com").await;
    let old = upload(&app, &token, jpeg(40, 30), "old.jpg").await;
    let fresh = upload(&app, &token, jpeg(40, 30), "fresh.jpg").await;
    let old_id = old["media"]["id"].as_str().unwrap();
    age_upload(&app, old_id, 25).await;
    // One a day old and attached meanwhile stays too.
    let kept = upload(&app, &token, jpeg(40, 30), "kept.jpg").await;
    let kept_id = kept["media"]["id"].as_str().unwrap();
    age_upload(&app, kept_id, 25).await;
    media::Entity::update_many()
        .col_expr(media::Column::AttachedAt, Expr::value(Some(Utc::now())))
        .filter(media::Column::Id.eq(uuid::Uuid::parse_str(kept_id).unwrap()))
        .exec(&app.db)
        .await
        .unwrap();
    assert_eq!(stored_keys(&app).await.len(), 6);

    let expired = sns_api::service::media::expire_unattached(&app.state, Utc::now())
        .await
        .unwrap();
    assert_eq!(expired, 1);
    let ids: Vec<String> = media::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id.to_string())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(!ids.iter().any(|i| i == old_id));
    assert!(
        ids.iter()
            .any(|i| i == fresh["media"]["id"].as_str().unwrap())
    );
    // Its objects are queued and the worker (woken) deletes them.
    poll_until("the expired upload's objects deleted", || async {
        let pending = sns_api::media::deletion::pending(&app.db).await.unwrap();
        let stored = stored_keys(&app).await;
        if pending == 0 && stored == referenced_keys(&app).await {
            Ok(())
        } else {
            Err(format!("{pending} pending, stored {stored:?}"))
        }
    })
    .await;
    assert_eq!(stored_keys(&app).await.len(), 4);
    let old_url = old["media"]["url"].as_str().unwrap();
    assert_eq!(app.http.get(old_url).send().await.unwrap().status(), 404);
    // A second round finds nothing.
    let again = sns_api::service::media::expire_unattached(&app.state, Utc::now())
        .await
        .unwrap();
    assert_eq!(again, 0);
}

#[tokio::test]
async fn a_queued_deletion_of_an_object_already_gone_counts_as_done() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let now = sns_api::service::clock::now();
    sns_api::media::deletion::enqueue(&app.db, ["never-stored.jpg".to_owned()], now)
        .await
        .unwrap();
    poll_until("the deletion done", || async {
        sns_api::media::deletion::drain(&app.state).await.unwrap();
        match media_deletion::Entity::find().count(&app.db).await.unwrap() {
            0 => Ok(()),
            n => Err(format!("{n} rows")),
        }
    })
    .await;
}

#[tokio::test]
async fn rounds_running_at_once_never_take_the_same_deletion() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let keys: Vec<String> = (0..20).map(|i| format!("gone-{i}.jpg")).collect();
    let now = sns_api::service::clock::now();
    sns_api::media::deletion::enqueue(&app.db, keys, now)
        .await
        .unwrap();
    let drain = || sns_api::media::deletion::drain(&app.state);
    let (a, b, c, d) = tokio::join!(drain(), drain(), drain(), drain());
    let claimed: u64 = [a, b, c, d].into_iter().map(Result::unwrap).sum();
    // Each row is claimed by one round (the app's own worker may have
    // taken some of them, never more).
    assert!(claimed <= 20, "{claimed} claims of 20 rows");
    poll_until("every deletion done", || async {
        drain().await.unwrap();
        match media_deletion::Entity::find().count(&app.db).await.unwrap() {
            0 => Ok(()),
            n => Err(format!("{n} rows")),
        }
    })
    .await;
}

#[tokio::test]
async fn a_file_mapped_to_several_paths_is_refused_unread() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up("paths@example.com").await;
    let operations = serde_json::json!({"query": UPLOAD, "variables": {"file": null}});
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", r#"{"0": ["variables.file", "variables.file"]}"#)
        .part(
            "0",
            reqwest::multipart::Part::bytes(jpeg(16, 16)).file_name("a.jpg"),
        );
    let res = app
        .http
        .post(app.url("/graphql"))
        .header("Authorization", format!("Bearer {token}"))
        .header("GraphQL-Require-Preflight", "1")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_REQUEST",
        "{body}"
    );
    assert!(stored_keys(&app).await.is_empty());
}
