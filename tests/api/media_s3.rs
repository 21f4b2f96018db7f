//! The media store on a real S3 API: `moto_server`, one per test on a free
//! port (started here, killed when the test ends), a bucket of its own.
//! The endpoint goes in the store URL's query, not in the process's
//! `AWS_*` variables, so tests in parallel never see each other's. The
//! requests go unsigned (`skip_signature`; a bucket policy lets anyone
//! in): keys could only come from the environment, which a test may not
//! change under the others. Ignored by default (they need
//! `pip install 'moto[server]'`); CI runs them.

use std::process::{Child, Command, Stdio};

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait as _, EntityTrait as _, PaginatorTrait as _, QueryFilter as _};
use serde_json::json;
use sns_api::config::Config;
use sns_api::entity::{media, media_deletion};
use sns_api::media::MediaStore;

use crate::common::{TestApp, TestDb, config_for, poll_until};
use crate::media_common::{jpeg, referenced_keys, stored_keys, upload};

const MOTO: &str = "needs moto_server (pip install 'moto[server]')";

/// A `moto_server` of this test's own.
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    async fn start() -> Self {
        let port = free_port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("moto_server does not start ({e}): {MOTO}"));
        let moto = Self { child, port };
        let http = reqwest::Client::new();
        let url = moto.url("/");
        poll_until("moto_server answers", || async {
            match http.get(&url).send().await {
                Ok(_) => Ok(()),
                Err(e) => Err(e.to_string()),
            }
        })
        .await;
        moto
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Creates `bucket` (`object_store` cannot; moto takes it unsigned),
    /// open to unsigned requests: reads, as a bucket behind a CDN is, and
    /// the app's writes, lists and deletions.
    async fn bucket(&self, bucket: &str) {
        let http = reqwest::Client::new();
        let res = http
            .put(self.url(&format!("/{bucket}")))
            .send()
            .await
            .expect("moto answers");
        assert!(res.status().is_success(), "bucket: {}", res.status());
        let policy = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"],
                "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
            }],
        });
        let res = http
            .put(self.url(&format!("/{bucket}?policy")))
            .json(&policy)
            .send()
            .await
            .expect("moto answers");
        assert!(res.status().is_success(), "policy: {}", res.status());
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on (just now).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The app's config with the store `s3://BUCKET/prefix` at `port`.
fn s3_config(db: &TestDb, port: u16, bucket: &str) -> Config {
    let mut c = config_for(db);
    c.media.store = format!(
        "s3://{bucket}/prefix?endpoint=http://127.0.0.1:{port}&region=us-east-1&skip_signature=true"
    );
    c.media.public_url = Some(format!("http://127.0.0.1:{port}/{bucket}/prefix"));
    c
}

/// Every key in the store this config names, read by a client of its own
/// (the app that wrote them may be stopped).
async fn keys_in(config: &Config) -> std::collections::BTreeSet<String> {
    MediaStore::from_config(&config.media, "127.0.0.1:0".parse().unwrap())
        .unwrap()
        .list()
        .await
        .expect("the store lists")
        .into_iter()
        .collect()
}

/// Sets the upload's `created_at` back a day and an hour.
async fn age(app_db: &sea_orm::DatabaseConnection, id: &str) {
    media::Entity::update_many()
        .col_expr(
            media::Column::CreatedAt,
            Expr::value(Utc::now() - chrono::Duration::hours(25)),
        )
        .filter(media::Column::Id.eq(uuid::Uuid::parse_str(id).unwrap()))
        .exec(app_db)
        .await
        .unwrap();
}

/// Drains until no deletion is left and the store holds exactly what rows
/// reference.
async fn until_settled(app: &TestApp) {
    poll_until("deletions done, the store as referenced", || async {
        sns_api::media::deletion::drain(&app.state).await.unwrap();
        let pending = sns_api::media::deletion::pending(&app.db).await.unwrap();
        let (stored, referenced) = (stored_keys(app).await, referenced_keys(app).await);
        if pending == 0 && stored == referenced {
            Ok(())
        } else {
            Err(format!(
                "{pending} pending; stored {stored:?}, referenced {referenced:?}"
            ))
        }
    })
    .await;
}

#[tokio::test]
#[ignore = "needs moto_server (pip install 'moto[server]')"]
async fn uploads_on_s3_are_served_from_there_and_go_with_their_post_or_their_expiry() {
    let moto = Moto::start().await;
    moto.bucket("pics").await;
    let db = TestDb::fresh().await;
    let app = TestApp::spawn_with(s3_config(&db, moto.port, "pics")).await;
    let token = app.signed_up("s3@example.com").await;

    let posted = upload(&app, &token, jpeg(3000, 1000), "wide.jpg").await;
    assert_eq!(posted["errors"], json!([]), "{posted}");
    let url = posted["media"]["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&moto.url("/pics/prefix/")), "{url}");
    for (url, size) in [
        (url.clone(), (2048, 683)),
        (
            posted["media"]["previewUrl"].as_str().unwrap().to_owned(),
            (400, 133),
        ),
    ] {
        let res = reqwest::get(&url).await.unwrap();
        assert_eq!(res.status(), 200, "{url}");
        assert_eq!(res.headers()["content-type"], "image/jpeg");
        let cache = res.headers()["cache-control"].to_str().unwrap().to_owned();
        assert!(cache.contains("immutable"), "{cache}");
        let image = image::load_from_memory(&res.bytes().await.unwrap()).unwrap();
        assert_eq!((image.width(), image.height()), size);
    }
    // The server serves only a local store's objects.
    let key = url.rsplit('/').next().unwrap();
    assert_eq!(app.status(&format!("/media/{key}")).await, 404);

    let lapsed = upload(&app, &token, jpeg(50, 50), "lapsed.jpg").await;
    let kept = upload(&app, &token, jpeg(50, 50), "kept.jpg").await;
    assert_eq!(stored_keys(&app).await.len(), 6);
    assert_eq!(stored_keys(&app).await, referenced_keys(&app).await);

    // Attached to a post, then the post deleted: its objects go.
    let body = app
        .gql(
            "mutation($i: CreatePostInput!) { createPost(input: $i) { \
             post { id media { id url } } errors { code field } } }",
            json!({"i": {"body": "with a picture", "mediaIds": [posted["media"]["id"]]}}),
            Some(&token),
        )
        .await;
    let created = &body["data"]["createPost"];
    assert_eq!(created["errors"], json!([]), "{body}");
    assert_eq!(created["post"]["media"][0]["url"], url.as_str(), "{body}");
    let body = app
        .gql(
            "mutation($id: ID!) { deletePost(id: $id) { deleted } }",
            json!({"id": created["post"]["id"]}),
            Some(&token),
        )
        .await;
    assert_eq!(body["data"]["deletePost"]["deleted"], true, "{body}");
    until_settled(&app).await;
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 404);

    // Unattached for a day: it goes; the fresh one stays.
    age(&app.db, lapsed["media"]["id"].as_str().unwrap()).await;
    let expired = sns_api::service::media::expire_unattached(&app.state, Utc::now())
        .await
        .unwrap();
    assert_eq!(expired, 1);
    until_settled(&app).await;
    let left = stored_keys(&app).await;
    assert_eq!(left.len(), 2, "{left:?}");
    let kept_url = kept["media"]["url"].as_str().unwrap();
    assert!(
        left.iter().any(|k| kept_url.ends_with(k.as_str())),
        "{left:?}"
    );
    assert_eq!(reqwest::get(kept_url).await.unwrap().status(), 200);
}

#[tokio::test]
#[ignore = "needs moto_server (pip install 'moto[server]')"]
async fn deletions_while_the_store_is_down_are_retried_until_it_is_back() {
    let moto = Moto::start().await;
    moto.bucket("down-store").await;
    let db = TestDb::fresh().await;
    let good = s3_config(&db, moto.port, "down-store");
    let app = TestApp::spawn_with(good.clone()).await;
    let token = app.signed_up("down@example.com").await;
    let mut lapsed = Vec::new();
    for name in ["a.jpg", "b.jpg"] {
        let payload = upload(&app, &token, jpeg(60, 40), name).await;
        lapsed.push(payload["media"]["id"].as_str().unwrap().to_owned());
    }
    let kept = upload(&app, &token, jpeg(60, 40), "kept.jpg").await;
    app.stop().await;
    let all_six = keys_in(&good).await;
    assert_eq!(all_six.len(), 6);

    // The same database, its store unreachable: a port nothing listens on.
    let down = s3_config(&db, free_port(), "down-store");
    let app = TestApp::spawn_with(down).await;
    for id in &lapsed {
        age(&app.db, id).await;
    }
    // This app's housekeeping, whose first round runs at its start, may
    // be expiring them too (its rows locked, skipped here): wait for both.
    poll_until("both lapsed uploads expired", || async {
        sns_api::service::media::expire_unattached(&app.state, Utc::now())
            .await
            .unwrap();
        let left = media::Entity::find()
            .filter(
                media::Column::Id.is_in(lapsed.iter().map(|id| id.parse::<uuid::Uuid>().unwrap())),
            )
            .count(&app.db)
            .await
            .unwrap();
        if left == 0 {
            Ok(())
        } else {
            Err(format!("{left} left"))
        }
    })
    .await;
    let failed = poll_until("every deletion tried and failed", || async {
        sns_api::media::deletion::drain(&app.state).await.unwrap();
        let rows = media_deletion::Entity::find().all(&app.db).await.unwrap();
        if rows.len() == 4
            && rows
                .iter()
                .all(|r| r.attempts > 0 && r.last_error.is_some())
        {
            Ok(rows)
        } else {
            Err(format!("{rows:?}"))
        }
    })
    .await;
    for row in &failed {
        let error = row.last_error.as_deref().unwrap();
        assert!(error.chars().count() <= 500, "{error}");
        assert!(row.next_attempt_at > Utc::now(), "backs off: {row:?}");
        assert!(row.claimed_by.is_none(), "{row:?}");
    }
    // Nothing deleted meanwhile, nothing dropped from the queue.
    assert_eq!(keys_in(&good).await, all_six);
    app.stop().await;

    // The store back: once due, every queued deletion is done.
    let app = TestApp::spawn_with(good.clone()).await;
    media_deletion::Entity::update_many()
        .col_expr(
            media_deletion::Column::NextAttemptAt,
            Expr::value(Utc::now() - chrono::Duration::seconds(1)),
        )
        .exec(&app.db)
        .await
        .unwrap();
    until_settled(&app).await;
    let left = keys_in(&good).await;
    assert_eq!(left.len(), 2, "{left:?}");
    let kept_id = kept["media"]["id"].as_str().unwrap();
    assert!(left.iter().all(|k| k.starts_with(kept_id)), "{left:?}");
}
