//! What the media tests share: uploading through the multipart request,
//! images made on the spot, and the store's and the database's keys.

use std::collections::BTreeSet;

use sea_orm::EntityTrait as _;
use serde_json::{Value, json};
use sns_api::entity::{media, media_deletion};

use crate::common::{TestApp, poll_until};

pub const UPLOAD: &str = "mutation($file: Upload!, $alt: String) {
  uploadMedia(file: $file, alt: $alt) {
    media { id url previewUrl width height blurhash alt }
    errors { code field message }
  }
}";

/// An upload as a client sends it: the multipart request with a
/// preflight-forcing header. Answers the HTTP status and the JSON body
/// (`Value::Null` when the body is not JSON).
pub async fn upload_raw(
    app: &TestApp,
    token: Option<&str>,
    bytes: Vec<u8>,
    filename: &str,
    alt: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let operations = json!({"query": UPLOAD, "variables": {"file": null, "alt": alt}});
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({"0": ["variables.file"]}).to_string())
        .part(
            "0",
            reqwest::multipart::Part::bytes(bytes).file_name(filename.to_owned()),
        );
    let mut req = app.http.post(app.url("/graphql")).multipart(form);
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.expect("request sent");
    let status = res.status().as_u16();
    let body = res.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// Uploads with `GraphQL-Require-Preflight`; answers `uploadMedia`'s payload
/// (the status must be 200).
pub async fn upload(app: &TestApp, token: &str, bytes: Vec<u8>, filename: &str) -> Value {
    let (status, body) = upload_raw(
        app,
        Some(token),
        bytes,
        filename,
        None,
        &[("GraphQL-Require-Preflight", "1")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["data"]["uploadMedia"].clone()
}

/// A `w` × `h` JPEG of a gradient.
pub fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    });
    let mut out = Vec::new();
    img.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
        &mut out, 90,
    ))
    .expect("a JPEG");
    out
}

/// Every key in the app's media store.
pub async fn stored_keys(app: &TestApp) -> BTreeSet<String> {
    app.state
        .media()
        .store()
        .list()
        .await
        .expect("the store lists")
        .into_iter()
        .collect()
}

/// Every key a `media` row references.
pub async fn referenced_keys(app: &TestApp) -> BTreeSet<String> {
    media::Entity::find()
        .all(&app.db)
        .await
        .expect("media rows")
        .into_iter()
        .flat_map(|m| [m.full_key, m.preview_key])
        .collect()
}

/// Uploads a `w` × `h` JPEG that must be accepted; answers its id.
pub async fn uploaded(app: &TestApp, token: &str, w: u32, h: u32) -> String {
    let payload = upload(app, token, jpeg(w, h), "photo.jpg").await;
    assert_eq!(payload["errors"], json!([]), "{payload}");
    payload["media"]["id"]
        .as_str()
        .expect("a media id")
        .to_owned()
}

/// Every key queued for deletion and not yet deleted.
pub async fn queued_keys(app: &TestApp) -> BTreeSet<String> {
    media_deletion::Entity::find()
        .all(&app.db)
        .await
        .expect("media_deletion rows")
        .into_iter()
        .map(|d| d.object_key)
        .collect()
}

/// The media row with this id, if there is one.
pub async fn media_row(app: &TestApp, id: &str) -> Option<media::Model> {
    let id = uuid::Uuid::parse_str(id).expect("a media id");
    media::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .expect("a media read")
}

/// Nothing stored is unaccounted for: every stored key is referenced by a
/// row or queued for deletion; and no queued key is still referenced. The
/// queue is read first: the deletion worker deletes an object before its
/// queue row, so a key it finishes meanwhile is gone from the store too.
pub async fn assert_nothing_stray(app: &TestApp) {
    let queued = queued_keys(app).await;
    let referenced = referenced_keys(app).await;
    let stored = stored_keys(app).await;
    let accounted: BTreeSet<String> = referenced.union(&queued).cloned().collect();
    assert!(
        stored.is_subset(&accounted),
        "stray objects: {:?}",
        stored.difference(&accounted).collect::<Vec<_>>()
    );
    assert!(
        referenced.is_disjoint(&queued),
        "queued while referenced: {:?}",
        referenced.intersection(&queued).collect::<Vec<_>>()
    );
}

/// Each of `keys` is queued for deletion, or already deleted by the
/// worker (which deletes only what was queued); and none is referenced.
pub async fn assert_queued(app: &TestApp, keys: &BTreeSet<String>) {
    let queued = queued_keys(app).await;
    let stored = stored_keys(app).await;
    let referenced = referenced_keys(app).await;
    for key in keys {
        assert!(
            queued.contains(key) || !stored.contains(key),
            "{key} is stored and not queued"
        );
        assert!(!referenced.contains(key), "{key} is still referenced");
    }
}

/// Runs the deletion queue until it is empty; then the store holds
/// exactly the keys the rows reference.
pub async fn drained(app: &TestApp) {
    poll_until("the deletion queue empty", || async {
        sns_api::media::deletion::drain(&app.state)
            .await
            .map_err(|e| format!("{e:?}"))?;
        match sns_api::media::deletion::pending(&app.db).await {
            Ok(0) => Ok(()),
            Ok(n) => Err(format!("{n} pending")),
            Err(e) => Err(format!("{e:?}")),
        }
    })
    .await;
    assert_eq!(stored_keys(app).await, referenced_keys(app).await);
}

#[tokio::test]
async fn an_upload_is_stored_and_served_back_through_its_url() {
    let db = crate::common::TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up("pic@example.com").await;
    let payload = upload(&app, &token, jpeg(3000, 1000), "wide.jpg").await;
    assert_eq!(payload["errors"], json!([]), "{payload}");
    let m = &payload["media"];
    assert_eq!(
        (m["width"].as_i64(), m["height"].as_i64()),
        (Some(2048), Some(683))
    );
    let res = app
        .http
        .get(m["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/jpeg");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    let served = image::load_from_memory(&res.bytes().await.unwrap()).expect("an image");
    assert_eq!((served.width(), served.height()), (2048, 683));
    let preview = app
        .http
        .get(m["previewUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let preview = image::load_from_memory(&preview.bytes().await.unwrap()).unwrap();
    assert_eq!((preview.width(), preview.height()), (400, 133));
    assert_eq!(stored_keys(&app).await, referenced_keys(&app).await);
    assert_eq!(stored_keys(&app).await.len(), 2);
}
