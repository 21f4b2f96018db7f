//! Attaching uploads: up to four to a post at `createPost`, one as the
//! avatar and one as the banner; and what a deleted post, a replaced
//! picture and a deleted account leave queued for deletion, and that once
//! the queue is drained the store holds exactly the referenced objects.
//! After every step nothing stored is unaccounted for
//! (`assert_nothing_stray`).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::common::*;
use crate::media_common::*;

const CREATE: &str = "mutation($i: CreatePostInput!) { createPost(input: $i) {
  post { id media { id url previewUrl width height } }
  errors { code field }
} }";

const POST: &str = "query($id: ID!) { post(id: $id) { id media { id url width } } }";

const UPDATE: &str = "mutation($i: UpdateProfileInput!) { updateProfile(input: $i) {
  profile { handle avatar { id url } banner { id url } }
  errors { code field }
} }";

const PICTURES: &str =
    "query($h: String!) { profile(handle: $h) { avatar { id url } banner { id url } } }";

/// `createPost` with `mediaIds`: the whole response.
async fn create_with(app: &TestApp, token: &str, ids: Value) -> Value {
    app.gql(
        CREATE,
        json!({"i": {"body": "look", "mediaIds": ids}}),
        Some(token),
    )
    .await
}

/// `updateProfile` with this input: its payload (no top-level error).
async fn update(app: &TestApp, token: &str, input: Value) -> Value {
    let body = app.gql(UPDATE, json!({ "i": input }), Some(token)).await;
    assert!(body.get("errors").is_none(), "no top-level error: {body}");
    body["data"]["updateProfile"].clone()
}

/// The keys of one media row, which must exist.
async fn keys_of(app: &TestApp, id: &str) -> BTreeSet<String> {
    let row = media_row(app, id).await.expect("the media row");
    BTreeSet::from([row.full_key, row.preview_key])
}

fn ids_of(media: &Value) -> Vec<&str> {
    media
        .as_array()
        .expect("a media list")
        .iter()
        .map(|m| m["id"].as_str().expect("an id"))
        .collect()
}

#[tokio::test]
async fn a_post_shows_its_images_in_the_order_they_were_given() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up_as("shutter").await;
    // Widths tell the images apart.
    let mut ids = Vec::new();
    for w in [40, 50, 60, 70] {
        ids.push(uploaded(&app, &token, w, 30).await);
    }
    let order = vec![
        ids[2].clone(),
        ids[0].clone(),
        ids[3].clone(),
        ids[1].clone(),
    ];
    let body = create_with(&app, &token, json!(order)).await;
    let payload = &body["data"]["createPost"];
    assert_eq!(payload["errors"], json!([]), "{body}");
    assert_eq!(ids_of(&payload["post"]["media"]), order);
    let post = payload["post"]["id"].as_str().unwrap();

    // Read back, as anyone sees it.
    let read = app.gql(POST, json!({ "id": post }), None).await;
    let media = &read["data"]["post"]["media"];
    assert_eq!(ids_of(media), order, "{read}");
    let widths: Vec<i64> = media
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["width"].as_i64().unwrap())
        .collect();
    assert_eq!(widths, [60, 40, 70, 50]);
    for m in media.as_array().unwrap() {
        let res = app
            .http
            .get(m["url"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let image = image::load_from_memory(&res.bytes().await.unwrap()).expect("an image");
        assert_eq!(i64::from(image.width()), m["width"].as_i64().unwrap());
    }
    for id in &ids {
        let row = media_row(&app, id).await.unwrap();
        assert!(row.attached_at.is_some());
        assert_eq!(row.post_id.map(|p| p.to_string()).as_deref(), Some(post));
    }

    // One image, and none: both fine.
    let one = uploaded(&app, &token, 20, 20).await;
    let body = create_with(&app, &token, json!([one])).await;
    assert_eq!(ids_of(&body["data"]["createPost"]["post"]["media"]), [one]);
    let body = create_with(&app, &token, json!([])).await;
    assert_eq!(
        body["data"]["createPost"]["post"]["media"],
        json!([]),
        "{body}"
    );
    assert_nothing_stray(&app).await;
    drained(&app).await;
}

#[tokio::test]
async fn five_images_are_refused_before_anything_is_written() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up_as("greedy").await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(uploaded(&app, &token, 16, 16).await);
    }
    let body = create_with(&app, &token, json!(ids)).await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    assert_eq!(app.profile("greedy", None).await["postCount"], 0);
    for id in &ids {
        assert_eq!(media_row(&app, id).await.unwrap().attached_at, None);
    }
    assert_nothing_stray(&app).await;
    drained(&app).await;
}

#[tokio::test]
async fn an_upload_not_free_to_attach_fails_the_whole_post() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up_as("poster").await;
    let other = app.signed_up_as("bystander").await;
    let theirs = uploaded(&app, &other, 16, 16).await;
    let taken = uploaded(&app, &token, 16, 16).await;
    let body = create_with(&app, &token, json!([taken])).await;
    assert_eq!(body["data"]["createPost"]["errors"], json!([]), "{body}");
    let mine = uploaded(&app, &token, 16, 16).await;
    let unknown = uuid::Uuid::now_v7().to_string();

    // Mine first each time: it must stay unattached when the post fails.
    for (what, bad) in [
        ("someone else's", theirs.clone()),
        ("an unknown id", unknown),
        ("a malformed id", "not-a-uuid".to_owned()),
        ("an attached one", taken.clone()),
        ("mine named twice", mine.clone()),
    ] {
        let body = create_with(&app, &token, json!([mine, bad])).await;
        assert!(body.get("errors").is_none(), "{what}: {body}");
        let payload = &body["data"]["createPost"];
        assert_eq!(payload["post"], Value::Null, "{what}: {body}");
        assert_eq!(
            payload["errors"],
            json!([{"code": "NOT_FOUND", "field": ["input", "mediaIds"]}]),
            "{what}"
        );
        let row = media_row(&app, &mine).await.expect("still there");
        assert_eq!((row.attached_at, row.post_id), (None, None), "{what}");
        assert_eq!(app.profile("poster", None).await["postCount"], 1, "{what}");
    }
    assert_eq!(media_row(&app, &theirs).await.unwrap().attached_at, None);
    // Still free: it attaches now.
    let body = create_with(&app, &token, json!([mine])).await;
    assert_eq!(body["data"]["createPost"]["errors"], json!([]), "{body}");
    assert_nothing_stray(&app).await;
    drained(&app).await;
}

#[tokio::test]
async fn an_avatar_is_set_replaced_and_cleared_and_the_old_images_queued() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up_as("painter").await;
    let first = uploaded(&app, &token, 64, 64).await;
    let payload = update(&app, &token, json!({ "avatarId": first })).await;
    assert_eq!(payload["errors"], json!([]), "{payload}");
    assert_eq!(payload["profile"]["avatar"]["id"], first.as_str());
    assert_eq!(payload["profile"]["banner"], Value::Null);
    let url = payload["profile"]["avatar"]["url"].as_str().unwrap();
    assert_eq!(app.http.get(url).send().await.unwrap().status(), 200);
    assert!(media_row(&app, &first).await.unwrap().attached_at.is_some());
    let first_keys = keys_of(&app, &first).await;

    // The same one again changes nothing.
    let payload = update(&app, &token, json!({ "avatarId": first })).await;
    assert_eq!(payload["errors"], json!([]), "{payload}");
    assert!(queued_keys(&app).await.is_empty());

    // Replaced: the old row goes, its objects queued.
    let second = uploaded(&app, &token, 64, 64).await;
    let payload = update(&app, &token, json!({ "avatarId": second, "bio": "new" })).await;
    assert_eq!(payload["errors"], json!([]), "{payload}");
    assert_eq!(payload["profile"]["avatar"]["id"], second.as_str());
    assert!(media_row(&app, &first).await.is_none());
    assert_queued(&app, &first_keys).await;
    assert_nothing_stray(&app).await;
    drained(&app).await;
    assert!(stored_keys(&app).await.is_disjoint(&first_keys));

    // Left out: unchanged.
    let payload = update(&app, &token, json!({ "bio": "newer" })).await;
    assert_eq!(payload["profile"]["avatar"]["id"], second.as_str());

    // A banner, then cleared with null; the avatar stays.
    let banner = uploaded(&app, &token, 120, 40).await;
    let payload = update(&app, &token, json!({ "bannerId": banner })).await;
    assert_eq!(
        payload["profile"]["banner"]["id"],
        banner.as_str(),
        "{payload}"
    );
    let banner_keys = keys_of(&app, &banner).await;
    let payload = update(&app, &token, json!({ "bannerId": null })).await;
    assert_eq!(payload["errors"], json!([]), "{payload}");
    assert_eq!(payload["profile"]["banner"], Value::Null);
    assert_eq!(payload["profile"]["avatar"]["id"], second.as_str());
    assert!(media_row(&app, &banner).await.is_none());
    assert_queued(&app, &banner_keys).await;
    let read = app.gql(PICTURES, json!({ "h": "painter" }), None).await;
    assert_eq!(read["data"]["profile"]["banner"], Value::Null, "{read}");
    assert_eq!(read["data"]["profile"]["avatar"]["id"], second.as_str());
    assert_nothing_stray(&app).await;
    drained(&app).await;
    assert_eq!(stored_keys(&app).await, keys_of(&app, &second).await);
}

#[tokio::test]
async fn a_picture_not_free_to_attach_changes_nothing() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up_as("sitter").await;
    let other = app.signed_up_as("stranger").await;
    let theirs = uploaded(&app, &other, 16, 16).await;
    let on_a_post = uploaded(&app, &token, 16, 16).await;
    let body = create_with(&app, &token, json!([on_a_post])).await;
    assert_eq!(body["data"]["createPost"]["errors"], json!([]), "{body}");
    let avatar = uploaded(&app, &token, 16, 16).await;
    let payload = update(&app, &token, json!({ "avatarId": avatar })).await;
    assert_eq!(payload["errors"], json!([]), "{payload}");

    for (what, bad) in [
        ("someone else's", theirs.clone()),
        ("one on a post", on_a_post.clone()),
        ("an unknown id", uuid::Uuid::now_v7().to_string()),
        ("a malformed id", "nope".to_owned()),
    ] {
        let payload = update(
            &app,
            &token,
            json!({ "avatarId": bad, "bannerId": bad, "bio": "changed" }),
        )
        .await;
        assert_eq!(payload["profile"], Value::Null, "{what}: {payload}");
        assert_eq!(
            payload["errors"],
            json!([
                {"code": "NOT_FOUND", "field": ["input", "avatarId"]},
                {"code": "NOT_FOUND", "field": ["input", "bannerId"]},
            ]),
            "{what}"
        );
        let read = app.gql(PICTURES, json!({ "h": "sitter" }), None).await;
        assert_eq!(read["data"]["profile"]["avatar"]["id"], avatar.as_str());
        assert!(media_row(&app, &avatar).await.is_some());
    }
    assert_eq!(app.profile("sitter", None).await["bio"], Value::Null);
    assert_eq!(media_row(&app, &theirs).await.unwrap().attached_at, None);
    assert!(queued_keys(&app).await.is_empty());
    assert_nothing_stray(&app).await;
    drained(&app).await;
}

#[tokio::test]
async fn a_deleted_post_queues_its_images_and_keeps_the_others() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up_as("eraser").await;
    let (a, b, kept) = (
        uploaded(&app, &token, 16, 16).await,
        uploaded(&app, &token, 16, 16).await,
        uploaded(&app, &token, 16, 16).await,
    );
    let body = create_with(&app, &token, json!([a, b])).await;
    let post = body["data"]["createPost"]["post"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    let body = create_with(&app, &token, json!([kept])).await;
    assert_eq!(body["data"]["createPost"]["errors"], json!([]), "{body}");
    let mut expected = keys_of(&app, &a).await;
    expected.extend(keys_of(&app, &b).await);

    let body = app
        .gql(
            "mutation($id: ID!) { deletePost(id: $id) { deleted errors { code } } }",
            json!({ "id": post }),
            Some(&token),
        )
        .await;
    assert_eq!(body["data"]["deletePost"]["deleted"], true, "{body}");
    assert!(media_row(&app, &a).await.is_none());
    assert!(media_row(&app, &b).await.is_none());
    assert!(media_row(&app, &kept).await.is_some());
    assert_queued(&app, &expected).await;
    assert_nothing_stray(&app).await;
    drained(&app).await;
    assert_eq!(stored_keys(&app).await, keys_of(&app, &kept).await);
}

#[tokio::test]
async fn a_deleted_account_queues_all_its_images_and_no_one_elses() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up_as("leaver").await;
    let other = app.signed_up_as("stayer").await;
    let on_post = uploaded(&app, &token, 16, 16).await;
    let body = create_with(&app, &token, json!([on_post])).await;
    assert_eq!(body["data"]["createPost"]["errors"], json!([]), "{body}");
    let avatar = uploaded(&app, &token, 16, 16).await;
    let banner = uploaded(&app, &token, 16, 16).await;
    let payload = update(
        &app,
        &token,
        json!({ "avatarId": avatar, "bannerId": banner }),
    )
    .await;
    assert_eq!(payload["errors"], json!([]), "{payload}");
    let loose = uploaded(&app, &token, 16, 16).await;
    let theirs = uploaded(&app, &other, 16, 16).await;
    let mut expected = BTreeSet::new();
    for id in [&on_post, &avatar, &banner, &loose] {
        expected.extend(keys_of(&app, id).await);
    }
    let theirs_keys = keys_of(&app, &theirs).await;

    let body = app
        .gql(
            "mutation($i: DeleteAccountInput!) { deleteAccount(input: $i) { deleted errors { code } } }",
            json!({ "i": { "currentPassword": PASSWORD } }),
            Some(&token),
        )
        .await;
    assert_eq!(body["data"]["deleteAccount"]["deleted"], true, "{body}");
    for id in [&on_post, &avatar, &banner, &loose] {
        assert!(media_row(&app, id).await.is_none());
    }
    assert_queued(&app, &expected).await;
    assert_eq!(referenced_keys(&app).await, theirs_keys);
    assert_nothing_stray(&app).await;
    drained(&app).await;
    assert_eq!(stored_keys(&app).await, theirs_keys);
}

#[tokio::test]
async fn of_posts_and_an_avatar_racing_for_one_upload_exactly_one_gets_it() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up_as("racer").await;
    let (mut post_wins, mut avatar_wins) = (0, 0);
    for round in 0..3 {
        let id = uploaded(&app, &token, 16, 16).await;
        let mut requests: Vec<(String, Value, Option<String>)> = (0..4)
            .map(|_| {
                (
                    CREATE.to_owned(),
                    json!({"i": {"body": "mine", "mediaIds": [id]}}),
                    Some(token.clone()),
                )
            })
            .collect();
        requests.push((
            UPDATE.to_owned(),
            json!({"i": {"avatarId": id}}),
            Some(token.clone()),
        ));
        let bodies = all_at_once(&app, requests).await;
        let won: Vec<&Value> = bodies
            .iter()
            .filter_map(|b| b["data"].as_object()?.values().next())
            .filter(|payload| payload["errors"] == json!([]))
            .collect();
        assert_eq!(won.len(), 1, "round {round}: {bodies:?}");
        if won[0].get("post").is_some() {
            post_wins += 1;
        } else {
            avatar_wins += 1;
        }
        for body in &bodies {
            let payload = body["data"].as_object().unwrap().values().next().unwrap();
            if payload["errors"] != json!([]) {
                assert_eq!(payload["errors"][0]["code"], "NOT_FOUND", "{body}");
            }
        }
        let row = media_row(&app, &id).await.expect("kept");
        assert!(row.attached_at.is_some());
    }
    // Only the winning posts were written.
    assert_eq!(app.profile("racer", None).await["postCount"], post_wins);
    let avatar = app.gql(PICTURES, json!({ "h": "racer" }), None).await;
    let has_avatar = !avatar["data"]["profile"]["avatar"].is_null();
    assert_eq!(has_avatar, avatar_wins > 0, "{avatar}");
    assert_nothing_stray(&app).await;
    drained(&app).await;
}

#[tokio::test]
async fn an_account_with_thousands_of_images_can_still_be_deleted() {
    use sea_orm::{EntityTrait as _, PaginatorTrait as _, Set};
    use sns_api::entity::{media, media_deletion};
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up_as("hoarder").await;
    let owner = media_row(&app, &uploaded(&app, &token, 8, 8).await)
        .await
        .expect("the upload's row")
        .owner_id;
    // More rows than one statement could queue on SQLite (16 bound values
    // an image, 32,766 at most): rows only, their objects never existed.
    let now = chrono::Utc::now();
    let rows: Vec<media::ActiveModel> = (0..2_100)
        .map(|i| {
            let id = uuid::Uuid::now_v7();
            media::ActiveModel {
                id: Set(id),
                owner_id: Set(owner),
                full_key: Set(format!("{id}.jpg")),
                preview_key: Set(format!("{id}-preview.jpg")),
                content_type: Set("image/jpeg".to_owned()),
                width: Set(8),
                height: Set(8),
                bytes: Set(100),
                blurhash: Set("L00000fQfQfQfQfQfQfQfQfQfQfQ".to_owned()),
                alt: Set(None),
                post_id: Set(None),
                position: Set(None),
                created_at: Set(now),
                attached_at: Set((i % 2 == 0).then_some(now)),
            }
        })
        .collect();
    for chunk in rows.chunks(500) {
        media::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&app.db)
            .await
            .expect("rows");
    }
    let body = app
        .gql(
            "mutation($i: DeleteAccountInput!) { deleteAccount(input: $i) { deleted errors { code } } }",
            json!({ "i": { "currentPassword": PASSWORD } }),
            Some(&token),
        )
        .await;
    assert_eq!(body["data"]["deleteAccount"]["deleted"], true, "{body}");
    assert_eq!(media::Entity::find().count(&app.db).await.unwrap(), 0);
    drained(&app).await;
    assert_eq!(
        media_deletion::Entity::find().count(&app.db).await.unwrap(),
        0
    );
    assert!(stored_keys(&app).await.is_empty());
}
