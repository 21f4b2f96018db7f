//! Uploads that must be refused, each with a clear error and nothing left
//! behind (no media row, no new object in the store), and the two that
//! must be taken but cleaned: a polyglot and a photo with GPS metadata.

use sea_orm::{EntityTrait as _, PaginatorTrait as _};
use serde_json::{Value, json};
use sns_api::entity::media;

use crate::common::*;
use crate::media_common::*;

const PREFLIGHT: [(&str, &str); 1] = [("GraphQL-Require-Preflight", "1")];

async fn media_rows(app: &TestApp) -> u64 {
    media::Entity::find().count(&app.db).await.expect("a count")
}

/// Uploads `bytes`, which must be refused in the payload with `code` on
/// `field`; then nothing new is stored and no row written.
async fn refused(app: &TestApp, token: &str, bytes: Vec<u8>, name: &str, code: &str) {
    let before = stored_keys(app).await;
    let payload = upload(app, token, bytes, name).await;
    assert_eq!(payload["media"], Value::Null, "{name}: {payload}");
    assert_eq!(payload["errors"][0]["code"], code, "{name}: {payload}");
    assert_eq!(payload["errors"].as_array().map(Vec::len), Some(1));
    assert_eq!(media_rows(app).await, 0, "{name}: a row was left");
    assert_eq!(stored_keys(app).await, before, "{name}: an object was left");
}

/// The CRC-32 of a PNG chunk (type and data).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for b in bytes {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend((data.len() as u32).to_be_bytes());
    let mut typed = kind.to_vec();
    typed.extend(data);
    out.extend(&typed);
    out.extend(crc32(&typed).to_be_bytes());
}

/// A few hundred bytes of PNG whose header declares 50,000 × 50,000.
fn png_bomb() -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend(50_000u32.to_be_bytes());
    ihdr.extend(50_000u32.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]); // 8-bit RGB
    png_chunk(&mut out, b"IHDR", &ihdr);
    // A zlib stream of a little of nothing.
    png_chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01],
    );
    png_chunk(&mut out, b"IEND", &[]);
    out
}

const MARKER: &[u8] = b"GPS-SECRET-MARKER";

/// A JPEG with an Exif segment: an image description holding `MARKER` and
/// a GPS directory (latitude reference north).
fn jpeg_with_gps() -> Vec<u8> {
    let mut tiff = b"II\x2a\x00\x08\x00\x00\x00".to_vec();
    let entry = |tag: u16, kind: u16, count: u32, value: u32| {
        let mut e = Vec::new();
        e.extend(tag.to_le_bytes());
        e.extend(kind.to_le_bytes());
        e.extend(count.to_le_bytes());
        e.extend(value.to_le_bytes());
        e
    };
    // IFD0 at 8: two entries (30 bytes); the GPS IFD at 38 (18 bytes); the
    // description's text at 56.
    let text = [MARKER, b"\0"].concat();
    tiff.extend(2u16.to_le_bytes());
    tiff.extend(entry(0x010E, 2, text.len() as u32, 56));
    tiff.extend(entry(0x8825, 4, 1, 38));
    tiff.extend(0u32.to_le_bytes());
    tiff.extend(1u16.to_le_bytes());
    tiff.extend(entry(0x0001, 2, 2, u32::from_le_bytes(*b"N\0\0\0")));
    tiff.extend(0u32.to_le_bytes());
    tiff.extend(&text);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(tiff);
    let base = jpeg(64, 48);
    let mut out = base[..2].to_vec();
    out.extend([0xFF, 0xE1]);
    out.extend(((app1.len() + 2) as u16).to_be_bytes());
    out.extend(app1);
    out.extend(&base[2..]);
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The bytes served at a URL the API answered.
async fn served(app: &TestApp, url: &Value) -> Vec<u8> {
    let res = app
        .http
        .get(url.as_str().expect("a url"))
        .send()
        .await
        .expect("served");
    assert_eq!(res.status(), 200);
    res.bytes().await.expect("a body").to_vec()
}

#[tokio::test]
async fn files_that_are_no_image_we_take_are_refused_leaving_nothing() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up("refusals@example.com").await;
    let html = b"<!doctype html><html><script>alert(1)</script></html>".to_vec();
    refused(&app, &token, html, "fake.png", "UNSUPPORTED_MEDIA").await;
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>"#;
    refused(
        &app,
        &token,
        svg.to_vec(),
        "vector.svg",
        "UNSUPPORTED_MEDIA",
    )
    .await;
    assert_nothing_stray(&app).await;
    drained(&app).await;
}

#[tokio::test]
async fn a_tiny_png_declaring_50000_by_50000_is_too_large_unread() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up("bomb@example.com").await;
    let bomb = png_bomb();
    assert!(bomb.len() < 100);
    refused(&app, &token, bomb, "bomb.png", "MEDIA_TOO_LARGE").await;
    assert_nothing_stray(&app).await;
    drained(&app).await;
}

#[tokio::test]
async fn a_truncated_jpeg_is_refused_leaving_nothing() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up("cut@example.com").await;
    let whole = jpeg(300, 200);
    let truncated = whole[..whole.len() / 3].to_vec();
    refused(&app, &token, truncated, "cut.jpg", "UNSUPPORTED_MEDIA").await;
    assert_nothing_stray(&app).await;
    drained(&app).await;
}

#[tokio::test]
async fn a_jpeg_with_html_appended_is_stored_without_it() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up("polyglot@example.com").await;
    let payload_text: &[u8] = b"<html><script>alert('polyglot')</script></html>";
    let mut bytes = jpeg(64, 64);
    bytes.extend(payload_text);
    let before = stored_keys(&app).await;
    let payload = upload(&app, &token, bytes, "poly.jpg").await;
    if payload["errors"] == json!([]) {
        for url in [&payload["media"]["url"], &payload["media"]["previewUrl"]] {
            let body = served(&app, url).await;
            assert!(!contains(&body, b"<script"), "the payload was kept");
        }
    } else {
        assert_eq!(
            payload["errors"][0]["code"], "UNSUPPORTED_MEDIA",
            "{payload}"
        );
        assert_eq!(stored_keys(&app).await, before);
    }
    assert_nothing_stray(&app).await;
    drained(&app).await;
}

#[tokio::test]
async fn a_photo_with_gps_metadata_is_taken_and_served_without_it() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up("gps@example.com").await;
    let bytes = jpeg_with_gps();
    assert!(contains(&bytes, MARKER) && contains(&bytes, b"Exif"));
    image::load_from_memory(&bytes).expect("the test's input is a JPEG");
    let payload = upload(&app, &token, bytes, "trip.jpg").await;
    assert_eq!(payload["errors"], json!([]), "{payload}");
    for url in [&payload["media"]["url"], &payload["media"]["previewUrl"]] {
        let body = served(&app, url).await;
        assert!(!contains(&body, b"Exif"), "Exif kept");
        assert!(!contains(&body, MARKER), "the metadata's text kept");
    }
    assert_nothing_stray(&app).await;
    drained(&app).await;
}

#[tokio::test]
async fn the_request_itself_is_refused_over_the_size_or_without_preflight() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up("requests@example.com").await;
    let max = app.state.media().max_bytes();
    assert_eq!(max, 10 * 1024 * 1024);
    let mut big = jpeg(32, 32);
    big.resize(max + 1, 0);
    let (status, body) = upload_raw(&app, Some(&token), big, "big.jpg", None, &PREFLIGHT).await;
    assert_eq!(status, 413, "{body}");

    let (status, body) = upload_raw(&app, Some(&token), jpeg(32, 32), "a.jpg", None, &[]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_codes(&body), ["BAD_REQUEST"], "{body}");
    let (status, body) = upload_raw(
        &app,
        Some(&token),
        jpeg(32, 32),
        "a.jpg",
        None,
        &[("GraphQL-Require-Preflight", " ")],
    )
    .await;
    assert_eq!(status, 400, "{body}");

    // Without a valid token the file is not read: 401, with the code a
    // client refreshes on.
    let (status, body) = upload_raw(&app, None, jpeg(32, 32), "a.jpg", None, &PREFLIGHT).await;
    assert_eq!(status, 401);
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{body}");
    let (status, body) = upload_raw(
        &app,
        Some("not-a-token"),
        jpeg(32, 32),
        "a.jpg",
        None,
        &PREFLIGHT,
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{body}");
    assert_eq!(media_rows(&app).await, 0);
    assert!(stored_keys(&app).await.is_empty());
}

#[tokio::test]
async fn alt_text_is_at_most_1500_code_points() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up("alt@example.com").await;
    let long = "é".repeat(1501);
    let (status, body) = upload_raw(
        &app,
        Some(&token),
        jpeg(32, 32),
        "a.jpg",
        Some(&long),
        &PREFLIGHT,
    )
    .await;
    assert_eq!(status, 200);
    let payload = &body["data"]["uploadMedia"];
    assert_eq!(payload["media"], Value::Null, "{body}");
    assert_eq!(payload["errors"][0]["code"], "TEXT_TOO_LONG");
    assert_eq!(payload["errors"][0]["field"], json!(["alt"]));
    assert_eq!(media_rows(&app).await, 0);
    assert!(stored_keys(&app).await.is_empty());

    let fits = "é".repeat(1500);
    let (_, body) = upload_raw(
        &app,
        Some(&token),
        jpeg(32, 32),
        "a.jpg",
        Some(&fits),
        &PREFLIGHT,
    )
    .await;
    let payload = &body["data"]["uploadMedia"];
    assert_eq!(payload["errors"], json!([]), "{body}");
    assert_eq!(payload["media"]["alt"], fits.as_str());
}

#[tokio::test]
async fn uploads_past_the_limit_are_rate_limited_and_stored_nowhere() {
    let db = TestDb::fresh().await;
    let mut config = config_for(&db);
    config.rate_limits.uploads = "2/1h".parse().unwrap();
    let app = TestApp::spawn_with(config).await;
    let token = app.signed_up("busy@example.com").await;
    for _ in 0..2 {
        uploaded(&app, &token, 16, 16).await;
    }
    let before = stored_keys(&app).await;
    let payload = upload(&app, &token, jpeg(16, 16), "third.jpg").await;
    assert_eq!(payload["media"], Value::Null, "{payload}");
    assert_eq!(payload["errors"][0]["code"], "RATE_LIMITED", "{payload}");
    assert_eq!(stored_keys(&app).await, before);
    assert_eq!(media_rows(&app).await, 2);
    // Another account has its own count.
    let other = app.signed_up("calm@example.com").await;
    uploaded(&app, &other, 16, 16).await;
}

#[tokio::test]
async fn a_file_named_without_a_multipart_request_is_refused_not_a_panic() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up("nofile@example.com").await;
    // What `map` would have put there, sent as plain JSON: an index of a
    // file the request does not carry.
    let body = app
        .gql(UPLOAD, json!({"file": "#__graphql_file__:5"}), Some(&token))
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body}"
    );
    // Not an index at all, as a variable and as a literal.
    for variables in [
        json!({"file": "#__graphql_file__:x"}),
        json!({"file": "a.png"}),
    ] {
        let body = app.gql(UPLOAD, variables, Some(&token)).await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
            "{body}"
        );
    }
    let literal = r##"mutation { uploadMedia(file: "#__graphql_file__:x") { errors { code } } }"##;
    let body = app.gql(literal, json!({}), Some(&token)).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
        "{body}"
    );
    assert_eq!(media_rows(&app).await, 0);
}
