//! The social graph's connections: `posts`, `followers`, `following` and
//! `feed` page newest first, every item exactly once, also while posts are
//! written between pages; the feed's contents; what deleting an account
//! takes with it. What a page costs is `statements.rs`'s; what nested
//! connections may cost, `src/graphql/admission/cost.rs`'s and `limits.rs`'s.

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use sns_api::service::feed;
use sns_api::service::page::{FeedCursor, FeedRequest};
use uuid::Uuid;

use crate::common::*;

/// A connection the tests page through.
#[derive(Clone, Copy, Debug)]
enum Conn<'a> {
    Posts(&'a str),
    Followers(&'a str),
    Following(&'a str),
    Feed,
}

impl Conn<'_> {
    /// The query of one page (`$first`, `$after`), the connection's path in
    /// `data`, and what identifies a node (a post's body, a profile's handle).
    fn query(self) -> (String, Vec<&'static str>, &'static str) {
        const PAGE: &str = "edges { cursor node { ...N } } pageInfo { hasNextPage endCursor }";
        match self {
            Conn::Feed => (
                format!(
                    "query($first: Int!, $after: String) {{ feed(first: $first, after: $after) {{ {} }} }}",
                    PAGE.replace("...N", "id body")
                ),
                vec!["feed"],
                "body",
            ),
            Conn::Posts(_) | Conn::Followers(_) | Conn::Following(_) => {
                let (field, node) = match self {
                    Conn::Posts(_) => ("posts", "id body"),
                    Conn::Followers(_) => ("followers", "id handle"),
                    _ => ("following", "id handle"),
                };
                (
                    format!(
                        "query($h: String!, $first: Int!, $after: String) {{ profile(handle: $h) {{ \
                         {field}(first: $first, after: $after) {{ {} }} }} }}",
                        PAGE.replace("...N", node)
                    ),
                    vec!["profile", field],
                    if field == "posts" { "body" } else { "handle" },
                )
            }
        }
    }
}

/// One page as the server answered it.
#[derive(Debug)]
struct Page {
    items: Vec<String>,
    cursors: Vec<String>,
    has_next: bool,
    end_cursor: Value,
}

impl TestApp {
    /// The whole response to one page request.
    async fn page_response(
        &self,
        conn: Conn<'_>,
        token: Option<&str>,
        first: i64,
        after: Option<&str>,
    ) -> Value {
        let (query, _, _) = conn.query();
        let mut vars = json!({"first": first, "after": after});
        if let Conn::Posts(h) | Conn::Followers(h) | Conn::Following(h) = conn {
            vars["h"] = json!(h);
        }
        self.gql(&query, vars, token).await
    }

    /// One page, which must be answered without an error.
    async fn page(
        &self,
        conn: Conn<'_>,
        token: Option<&str>,
        first: i64,
        after: Option<&str>,
    ) -> Page {
        let body = self.page_response(conn, token, first, after).await;
        assert!(body.get("errors").is_none(), "{conn:?}: {body}");
        let (_, path, key) = conn.query();
        let mut c = &body["data"];
        for p in path {
            c = &c[p];
        }
        let edges = c["edges"]
            .as_array()
            .unwrap_or_else(|| panic!("{conn:?}: edges in {body}"));
        let page = Page {
            items: edges
                .iter()
                .map(|e| e["node"][key].as_str().unwrap().to_owned())
                .collect(),
            cursors: edges
                .iter()
                .map(|e| e["cursor"].as_str().unwrap().to_owned())
                .collect(),
            has_next: c["pageInfo"]["hasNextPage"].as_bool().unwrap(),
            end_cursor: c["pageInfo"]["endCursor"].clone(),
        };
        if let Some(last) = page.cursors.last() {
            assert_eq!(page.end_cursor, json!(last), "endCursor is the last edge's");
        }
        page
    }

    /// Every item of a connection, `first` at a time, following `endCursor`
    /// until `hasNextPage` is false; asserts that every page but the last
    /// is full and that the last one says there is no next.
    async fn walk(&self, conn: Conn<'_>, token: Option<&str>, first: i64) -> Vec<String> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..1000 {
            let page = self.page(conn, token, first, after.as_deref()).await;
            all.extend(page.items.iter().cloned());
            if !page.has_next {
                return all;
            }
            assert_eq!(page.items.len() as i64, first, "{conn:?}: a full page");
            after = Some(page.end_cursor.as_str().expect("an endCursor").to_owned());
        }
        panic!("{conn:?} never ends");
    }

    /// `deleteAccount` with the test password; must succeed.
    async fn deleted_account(&self, token: &str) {
        let body = self
            .gql(
                "mutation($i: DeleteAccountInput!) { deleteAccount(input: $i) { deleted errors { code } } }",
                json!({"i": {"currentPassword": PASSWORD}}),
                Some(token),
            )
            .await;
        assert_eq!(body["data"]["deleteAccount"]["deleted"], true, "{body}");
    }
}

/// `n` post bodies `"{tag} 00"`, `"{tag} 01"`, ... in the order written.
async fn write_posts(app: &TestApp, token: &str, tag: &str, n: usize) -> Vec<String> {
    let mut bodies = Vec::with_capacity(n);
    for i in 0..n {
        let body = format!("{tag} {i:02}");
        app.posted(token, &body).await;
        bodies.push(body);
    }
    bodies
}

fn newest_first(mut items: Vec<String>) -> Vec<String> {
    items.reverse();
    items
}

fn assert_each_once(items: &[String]) {
    let mut seen = items.to_vec();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), items.len(), "an item twice: {items:?}");
}

// --- Paging ---------------------------------------------------------------------

#[tokio::test]
async fn posts_page_newest_first_and_every_post_comes_exactly_once() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up_as("pager").await;
    let written = write_posts(&app, &token, "post", 25).await;
    let want = newest_first(written);
    let conn = Conn::Posts("pager");

    for first in [1, 7, 10, 24, 25, 26, 100] {
        let got = app.walk(conn, None, first).await;
        assert_eq!(got, want, "first: {first}");
    }
    // A last page that is exactly full still says there is no next.
    let page = app.page(conn, None, 25, None).await;
    assert_eq!(page.items.len(), 25);
    assert!(!page.has_next, "25 of 25: no next page");
    let page = app.page(conn, None, 5, None).await;
    let rest = app.page(conn, None, 20, page.end_cursor.as_str()).await;
    assert_eq!(rest.items, want[5..], "the twenty after the first five");
    assert!(!rest.has_next, "nothing after the last");

    // The default page is twenty.
    let body = app
        .gql(
            "{ profile(handle: \"pager\") { posts { edges { node { body } } pageInfo { hasNextPage } } } }",
            json!({}),
            None,
        )
        .await;
    let posts = &body["data"]["profile"]["posts"];
    assert_eq!(posts["edges"].as_array().unwrap().len(), 20, "{body}");
    assert_eq!(posts["pageInfo"]["hasNextPage"], true);
    // first: 0 is allowed and answers nothing.
    let page = app.page(conn, None, 0, None).await;
    assert!(page.items.is_empty(), "{page:?}");
    app.stop().await;
}

#[tokio::test]
async fn followers_and_following_page_newest_follow_first() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let handles = ["star", "fan_b", "fan_c", "fan_d", "fan_e", "fan_f"];
    let tokens = app.signed_up_all(&handles).await;
    let star = &tokens[0];
    // Followed in an order unlike that of the accounts' creation.
    for i in [3, 1, 5, 2, 4] {
        app.follow(&tokens[i], "star").await;
    }
    for h in ["fan_e", "fan_b", "fan_f", "fan_c"] {
        app.follow(star, h).await;
    }
    let followers = ["fan_e", "fan_c", "fan_f", "fan_b", "fan_d"].map(String::from);
    let following = ["fan_c", "fan_f", "fan_b", "fan_e"].map(String::from);
    for first in [1, 2, 5, 100] {
        assert_eq!(
            app.walk(Conn::Followers("star"), None, first).await,
            followers,
            "first: {first}"
        );
        assert_eq!(
            app.walk(Conn::Following("star"), Some(star), first).await,
            following,
            "first: {first}"
        );
    }
    // Following again makes the newest follow; following twice does not.
    app.unfollow(&tokens[3], "star").await;
    app.follow(&tokens[3], "star").await;
    app.follow(&tokens[1], "star").await;
    assert_eq!(
        app.walk(Conn::Followers("star"), None, 2).await,
        ["fan_d", "fan_e", "fan_c", "fan_f", "fan_b"].map(String::from)
    );
    assert_eq!(app.profile("star", None).await["followerCount"], 5);
    app.stop().await;
}

#[tokio::test]
async fn connection_arguments_out_of_range_and_garbage_cursors_are_bad_user_input() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up_as("strict").await;
    let other = app.signed_up_as("other").await;
    app.posted(&token, "something").await;
    app.follow(&other, "strict").await;
    app.follow(&token, "other").await;
    for conn in [
        Conn::Posts("strict"),
        Conn::Followers("strict"),
        Conn::Following("strict"),
        Conn::Feed,
    ] {
        let page = app.page(conn, Some(&token), 100, None).await;
        assert_eq!(page.items.len(), 1, "{conn:?} at 100 is fine: {page:?}");
        for first in [101, 1000, -1, i64::from(i32::MIN)] {
            let body = app.page_response(conn, Some(&token), first, None).await;
            assert_eq!(
                error_codes(&body),
                ["BAD_USER_INPUT"],
                "{conn:?} first: {first}: {body}"
            );
        }
        for after in ["garbage", "Z2FyYmFnZQ==", "0", "-1", "%%%", "\u{0}"] {
            let body = app.page_response(conn, Some(&token), 10, Some(after)).await;
            assert_eq!(
                error_codes(&body),
                ["BAD_USER_INPUT"],
                "{conn:?} after: {after:?}: {body}"
            );
            let message = body["errors"][0]["message"].as_str().unwrap_or_default();
            for leak in ["SQL", "sqlx", "syntax", "/src/", "panicked"] {
                assert!(!message.contains(leak), "{message}");
            }
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn a_cursor_of_another_kind_of_connection_is_bad_user_input() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let tokens = app.signed_up_all(&["mixer", "f1_a", "f1_b"]).await;
    for t in &tokens[1..] {
        app.follow(t, "mixer").await;
        app.posted(t, "a post").await;
    }
    write_posts(&app, &tokens[0], "mine", 2).await;
    let followers_cursor = app
        .page(Conn::Followers("mixer"), None, 1, None)
        .await
        .cursors[0]
        .clone();
    let posts_cursor = app.page(Conn::Posts("mixer"), None, 1, None).await.cursors[0].clone();
    for (conn, cursor) in [
        (Conn::Posts("mixer"), &followers_cursor),
        (Conn::Feed, &followers_cursor),
        (Conn::Followers("mixer"), &posts_cursor),
    ] {
        let body = app
            .page_response(conn, Some(&tokens[0]), 10, Some(cursor))
            .await;
        assert_eq!(
            error_codes(&body),
            ["BAD_USER_INPUT"],
            "{conn:?} after another kind's cursor: {body}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn pages_stay_stable_while_posts_and_follows_are_written_between_them() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let tokens = app
        .signed_up_all(&["reader", "writer_a", "writer_b", "fan_1", "fan_2", "fan_3"])
        .await;
    let (reader, a, b) = (&tokens[0], &tokens[1], &tokens[2]);
    app.follow(reader, "writer_a").await;
    app.follow(reader, "writer_b").await;
    // Interleaved authors: the feed's order is the order of writing.
    let mut written = Vec::new();
    for i in 0..15 {
        for (token, tag) in [(a, "a"), (b, "b")] {
            let body = format!("{tag} {i:02}");
            app.posted(token, &body).await;
            written.push(body);
        }
    }
    let feed_want = newest_first(written);

    for (conn, first) in [(Conn::Feed, 10usize), (Conn::Posts("writer_a"), 4)] {
        // What the connection holds now, in one page.
        let snapshot = app.page(conn, Some(reader), 100, None).await;
        assert!(!snapshot.has_next);
        let want = &snapshot.items;
        if let Conn::Feed = conn {
            assert_eq!(want, &feed_want);
        }
        let page1 = app.page(conn, Some(reader), first as i64, None).await;
        assert_eq!(page1.items, want[..first], "{conn:?} page 1");
        assert!(page1.has_next);
        // Newer posts from both authors, and one by the reader, arrive.
        for (token, tag) in [(a, "new a"), (b, "new b"), (reader, "new reader")] {
            app.posted(token, tag).await;
        }
        let mut got = page1.items.clone();
        let mut after = page1.end_cursor.as_str().unwrap().to_owned();
        loop {
            let page = app
                .page(conn, Some(reader), first as i64, Some(&after))
                .await;
            got.extend(page.items.iter().cloned());
            if !page.has_next {
                break;
            }
            after = page.end_cursor.as_str().unwrap().to_owned();
            // And more between every two pages.
            app.posted(a, &format!("newer a {}", got.len())).await;
        }
        assert_eq!(&got, want, "{conn:?}: no post twice, none skipped");
        assert_each_once(&got);
        // A fresh first page starts with the newest.
        let fresh = app.page(conn, Some(reader), 1, None).await;
        assert!(fresh.items[0].starts_with("new"), "{fresh:?}");
    }

    // Followers too: new follows between pages come on no later page.
    let star_followers = ["fan_3", "fan_2", "fan_1"].map(String::from);
    for t in &tokens[3..6] {
        app.follow(t, "writer_b").await;
    }
    let page1 = app.page(Conn::Followers("writer_b"), None, 2, None).await;
    assert_eq!(page1.items, star_followers[..2]);
    app.follow(a, "writer_b").await;
    app.follow(reader, "writer_b").await; // already followed: no change
    let page2 = app
        .page(
            Conn::Followers("writer_b"),
            None,
            2,
            page1.end_cursor.as_str(),
        )
        .await;
    assert_eq!(page2.items, ["fan_1", "reader"].map(String::from));
    assert!(!page2.has_next, "{page2:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_page_continues_after_its_cursors_post_is_deleted() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up_as("eraser").await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(app.posted(&token, &format!("post {i:02}")).await);
    }
    let page1 = app.page(Conn::Feed, Some(&token), 3, None).await;
    assert_eq!(
        page1.items,
        ["post 05", "post 04", "post 03"].map(String::from)
    );
    let body = app
        .gql(
            "mutation($id: ID!) { deletePost(id: $id) { deleted } }",
            json!({"id": ids[3]}),
            Some(&token),
        )
        .await;
    assert_eq!(body["data"]["deletePost"]["deleted"], true, "{body}");
    let page2 = app
        .page(Conn::Feed, Some(&token), 3, page1.end_cursor.as_str())
        .await;
    assert_eq!(
        page2.items,
        ["post 02", "post 01", "post 00"].map(String::from)
    );
    assert!(!page2.has_next);
    app.stop().await;
}

// --- The feed ---------------------------------------------------------------------

#[tokio::test]
async fn the_feed_holds_ones_own_posts_and_those_of_followed_profiles_only() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let tokens = app.signed_up_all(&["viewer", "friend", "stranger"]).await;
    let (viewer, friend, stranger) = (&tokens[0], &tokens[1], &tokens[2]);
    app.follow(viewer, "friend").await;
    app.follow(stranger, "viewer").await; // a follower's posts are not the viewer's feed
    for (token, body) in [
        (viewer, "v1"),
        (friend, "f1"),
        (stranger, "s1"),
        (viewer, "v2"),
        (friend, "f2"),
        (stranger, "s2"),
    ] {
        app.posted(token, body).await;
    }
    assert_eq!(
        app.walk(Conn::Feed, Some(viewer), 2).await,
        ["f2", "v2", "f1", "v1"].map(String::from)
    );
    assert_eq!(
        app.walk(Conn::Feed, Some(friend), 20).await,
        ["f2", "f1"].map(String::from),
        "the friend follows no one"
    );
    assert_eq!(
        app.walk(Conn::Feed, Some(stranger), 20).await,
        ["s2", "v2", "s1", "v1"].map(String::from)
    );
    let body = app
        .gql(
            "{ feed { edges { node { body author { handle viewerFollows } } } } }",
            json!({}),
            Some(viewer),
        )
        .await;
    let authors: Vec<(String, bool)> = body["data"]["feed"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|e| {
            (
                e["node"]["author"]["handle"].as_str().unwrap().to_owned(),
                e["node"]["author"]["viewerFollows"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        authors,
        [
            (String::from("friend"), true),
            (String::from("viewer"), false),
            (String::from("friend"), true),
            (String::from("viewer"), false),
        ]
    );

    app.unfollow(viewer, "friend").await;
    assert_eq!(
        app.walk(Conn::Feed, Some(viewer), 20).await,
        ["v2", "v1"].map(String::from),
        "an unfollowed profile's posts leave the feed"
    );
    app.follow(viewer, "FRIEND").await;
    assert_eq!(app.walk(Conn::Feed, Some(viewer), 20).await.len(), 4);
    // An empty feed is a page too.
    let lonely = app.signed_up_as("lonely").await;
    let page = app.page(Conn::Feed, Some(&lonely), 20, None).await;
    assert!(page.items.is_empty() && !page.has_next, "{page:?}");
    assert!(page.end_cursor.is_null(), "{page:?}");
    app.stop().await;
}

/// The feed statement bounds what it reads: by the page-size-th newest of
/// the authors' newest posts when that many authors have posts below the
/// cursor, else by each author's own page-size-th newest. Uneven authors
/// (one writing most posts, some none) at page sizes on both sides of the
/// number of authors: every page is exactly the next posts, newest first.
#[tokio::test]
async fn the_feed_is_every_followed_post_newest_first_at_any_page_size() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let handles = [
        "viewer", "ann", "bob", "cid", "dee", "eve", "fay", "stranger",
    ];
    let tokens = app.signed_up_all(&handles).await;
    for followed in &handles[1..7] {
        app.follow(&tokens[0], followed).await;
    }
    // Interleaved at first, then a run of ann's: 6 authors with posts
    // (the viewer, ann, bob, cid, eve, fay; dee has none), ann 26 of 36.
    let order = "vabaceafsabvaaeafsaaabaaaaaaaaaaaaaaasa";
    let (mut expected, mut ids, mut everyones) = (Vec::new(), Vec::new(), Vec::new());
    for (i, who) in order.chars().enumerate() {
        let k = "vabcdefs".find(who).unwrap();
        let body = format!("{} {i:02}", handles[k]);
        let id = Uuid::parse_str(&app.posted(&tokens[k], &body).await).unwrap();
        everyones.push(id);
        if who != 's' {
            expected.push(body);
            ids.push(id);
        }
    }
    let expected = newest_first(expected);
    let (ids, everyones): (Vec<_>, Vec<_>) = (
        ids.into_iter().rev().collect(),
        everyones.into_iter().rev().collect(),
    );
    for first in [1, 2, 3, 5, 6, 7, 20, 100] {
        assert_eq!(
            app.walk(Conn::Feed, Some(&tokens[0]), first).await,
            expected,
            "pages of {first}"
        );
    }

    // Each statement the server may run answers every page whole on its
    // own (the server runs the second only when the first falls short).
    let me = app.gql("{ me { id } }", json!({}), Some(&tokens[0])).await;
    let viewer = Uuid::parse_str(me["data"]["me"]["id"].as_str().unwrap()).unwrap();
    let conn = &app.db;
    let snapshot = FeedCursor::snapshot_now();
    let backend = conn.get_database_backend();
    let listed = if backend == sea_orm::DbBackend::Sqlite {
        listed_newest(conn, viewer).await
    } else {
        Vec::new()
    };
    for first in [1, 2, 3, 5, 6, 7, 20, 100] {
        for start in (0..ids.len()).step_by(first) {
            let req = FeedRequest {
                first: first as u64,
                after: start.checked_sub(1).map(|k| FeedCursor {
                    key: ids[k],
                    snapshot,
                }),
            };
            let page = &ids[start..ids.len().min(start + first + 1)];
            let statements =
                feed::feed_statements(conn.get_database_backend(), viewer, req, snapshot);
            for (k, statement) in statements.into_iter().enumerate() {
                let rows = post_ids(conn, statement).await;
                assert_eq!(rows, page, "statement {k}, pages of {first} from {start}");
            }
            // With a window of 5, the first statement holds the viewer's
            // posts among everyone's 5 newest below the cursor (the
            // stranger's count too); a full page of them is the page.
            let statement = feed::feed_statements_in_window(
                conn.get_database_backend(),
                viewer,
                req,
                snapshot,
                5,
            )
            .remove(0);
            let rows = post_ids(conn, statement).await;
            let window: Vec<Uuid> = everyones
                .iter()
                .filter(|id| req.after.is_none_or(|after| **id < after.key))
                .take(5)
                .copied()
                .collect();
            let within: Vec<Uuid> = page
                .iter()
                .filter(|id| window.contains(id))
                .copied()
                .collect();
            assert_eq!(rows, within, "window of 5, pages of {first} from {start}");
            if backend == sea_orm::DbBackend::Sqlite {
                // The window statement over the authors with their newest
                // entries (the server's, when its cache holds them) answers
                // as the one over the viewer's follows; and it reads only
                // the authors whose newest entry is in the window.
                for window in [feed::RECENT_WINDOW, 5] {
                    let full =
                        feed::feed_statements_in_window(backend, viewer, req, snapshot, window)
                            .remove(0);
                    let over_listed =
                        feed::listed_window_statement(viewer, req, snapshot, window, &listed);
                    assert_eq!(
                        post_ids(conn, over_listed).await,
                        post_ids(conn, full).await,
                        "listed authors, window of {window}, pages of {first} from {start}"
                    );
                }
                let long_ago: Vec<(Uuid, Uuid)> =
                    listed.iter().map(|&(id, _)| (id, Uuid::nil())).collect();
                let none_since = feed::listed_window_statement(viewer, req, snapshot, 5, &long_ago);
                if window.len() == 5 {
                    assert_eq!(post_ids(conn, none_since).await, Vec::<Uuid>::new());
                }
            }
        }
    }
    app.stop().await;
}

/// SQLite: the viewer's sources (the viewer, and its follows it does not
/// mute) with their newest entry keys, read from the tables; those with no
/// entry left out.
pub(crate) async fn listed_newest(
    conn: &sea_orm::DatabaseConnection,
    viewer: Uuid,
) -> Vec<(Uuid, Uuid)> {
    let sql = r#"WITH "a" ("id") AS (
            SELECT "followee_id" FROM "follow" WHERE "follower_id" = ?
              AND "followee_id" NOT IN (SELECT "muted_id" FROM "mute" WHERE "muter_id" = ?)
            UNION SELECT ?)
        SELECT "id",
          (SELECT MAX("id") FROM "post" WHERE "author_id" = "a"."id") AS "p",
          (SELECT MAX("id") FROM "repost" WHERE "user_id" = "a"."id") AS "r"
        FROM "a""#;
    conn.query_all_raw(sea_orm::Statement::from_sql_and_values(
        sea_orm::DbBackend::Sqlite,
        sql,
        [viewer.into(), viewer.into(), viewer.into()],
    ))
    .await
    .unwrap()
    .iter()
    .filter_map(|row| {
        let id: Uuid = row.try_get("", "id").unwrap();
        let p: Option<Uuid> = row.try_get("", "p").unwrap();
        let r: Option<Uuid> = row.try_get("", "r").unwrap();
        Some((id, p.max(r)?))
    })
    .collect()
}

/// The ids of the posts a feed statement answers, in its order.
async fn post_ids(conn: &sea_orm::DatabaseConnection, statement: sea_orm::Statement) -> Vec<Uuid> {
    conn.query_all_raw(statement)
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get("", "entry_id").unwrap())
        .collect()
}

#[tokio::test]
async fn a_deleted_account_leaves_no_posts_follows_counts_or_handle_behind() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let email = unique_email("leaver");
    let payload = app
        .register_with_handle(&email, PASSWORD, Some("leaver"))
        .await;
    assert_eq!(payload["errors"], json!([]), "{payload}");
    let leaver = payload["accessToken"].as_str().unwrap().to_owned();
    let tokens = app.signed_up_all(&["stayer", "other"]).await;
    let (stayer, other) = (&tokens[0], &tokens[1]);
    // Edges both ways with both.
    app.follow(stayer, "leaver").await;
    app.follow(&leaver, "stayer").await;
    app.follow(&leaver, "other").await;
    app.follow(other, "leaver").await;
    app.follow(other, "stayer").await;
    let gone = app.posted(&leaver, "soon gone").await;
    app.posted(stayer, "mine").await;
    assert_eq!(
        app.walk(Conn::Feed, Some(stayer), 20).await,
        ["mine", "soon gone"].map(String::from)
    );
    let counts = |p: &Value| (p["followerCount"].clone(), p["followingCount"].clone());
    assert_eq!(
        counts(&app.profile("stayer", None).await),
        (json!(2), json!(1))
    );
    assert_eq!(
        counts(&app.profile("other", None).await),
        (json!(1), json!(2))
    );

    app.deleted_account(&leaver).await;

    assert!(app.profile("leaver", None).await.is_null());
    let body = app
        .gql(
            "query($id: ID!) { post(id: $id) { id } }",
            json!({"id": gone}),
            Some(stayer),
        )
        .await;
    assert!(body["data"]["post"].is_null(), "{body}");
    for (token, want) in [(stayer, vec!["mine"]), (other, vec!["mine"])] {
        assert_eq!(app.walk(Conn::Feed, Some(token), 20).await, want);
    }
    assert_eq!(
        counts(&app.profile("stayer", None).await),
        (json!(1), json!(0))
    );
    assert_eq!(
        counts(&app.profile("other", None).await),
        (json!(0), json!(1))
    );
    assert_eq!(
        app.walk(Conn::Followers("stayer"), None, 20).await,
        ["other"].map(String::from)
    );
    assert!(
        app.walk(Conn::Following("stayer"), None, 20)
            .await
            .is_empty()
    );
    assert!(
        app.walk(Conn::Followers("other"), None, 20)
            .await
            .is_empty()
    );
    assert_eq!(
        app.walk(Conn::Following("other"), None, 20).await,
        ["stayer"].map(String::from)
    );
    // A follow of the gone handle finds no one.
    let p = app.follow_as(stayer, "follow", "leaver").await;
    assert_eq!(payload_codes(&p), ["NOT_FOUND"], "{p}");

    // The email and the handle register again: a new account, with nothing
    // of the old one's.
    let again = app
        .register_with_handle(&email, PASSWORD, Some("Leaver"))
        .await;
    assert_eq!(again["errors"], json!([]), "{again}");
    assert_ne!(again["user"]["id"], payload["user"]["id"]);
    let fresh = app.profile("leaver", Some(stayer)).await;
    assert_eq!(fresh["postCount"], 0, "{fresh}");
    assert_eq!(counts(&fresh), (json!(0), json!(0)));
    assert_eq!(fresh["viewerFollows"], false, "{fresh}");
    app.stop().await;
}
