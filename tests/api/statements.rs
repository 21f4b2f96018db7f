//! No N+1: a page costs the same SQL statements whatever its size. The
//! schema runs in-process here, inside a statement count that also covers
//! the DataLoaders' batch loads (they run in tasks of their own).

use async_graphql::{Request, Variables};
use sea_orm::{ActiveModelTrait as _, ColumnTrait as _, EntityTrait as _, QueryFilter as _};
use serde_json::{Value, json};
use sns_api::app::App;
use sns_api::auth::Auth;
use sns_api::graphql::{ApiSchema, build_schema};
use sns_api::state::AppState;

use crate::common::*;

struct Harness {
    state: AppState,
    schema: ApiSchema,
}

impl Harness {
    async fn new(db: &TestDb) -> Self {
        let config = config_for(db);
        let app = App::build(config.clone()).await.expect("the app starts");
        let state = app.state();
        let schema = build_schema(&config.documents, Some(state.clone()));
        Self { state, schema }
    }

    /// Runs one operation as `auth`; answers its data and the statements it ran.
    async fn run(&self, query: &str, variables: Value, auth: Auth) -> (Value, usize) {
        let request = Request::new(query)
            .variables(Variables::from_json(variables))
            .data(auth);
        let (response, statements) =
            sns_api::db::count_statements(self.schema.execute(request)).await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        (response.data.into_json().expect("JSON data"), statements)
    }

    /// A new account with this handle, signed in.
    async fn account(&self, handle: &str) -> Auth {
        let (data, _) = self
            .run(
                "mutation($i: RegisterInput!) { register(input: $i) { accessToken errors { code } } }",
                json!({ "i": { "email": format!("{handle}@example.com"), "password": PASSWORD, "handle": handle } }),
                Auth::Anonymous,
            )
            .await;
        let token = data["register"]["accessToken"]
            .as_str()
            .unwrap_or_else(|| panic!("registered: {data}"));
        Auth::Viewer(sns_api::auth::authenticate(&self.state, token).expect("a valid token"))
    }
}

// Small enough items that 100 of them fit the default complexity (each
// field of an item counts `first` times).
const FEED: &str = "query($first: Int) { feed(first: $first) { edges { repostedBy { viewerFollows avatar { url } } node { media { url } author { viewerFollows avatar { url } } } } pageInfo { hasNextPage endCursor } } }";

// One connection per document: two sibling connections resolve side by
// side, and whether their loads share a batch depends on timing.
const POSTS: &str = "query($first: Int) { profile(handle: \"author0\") { handle posts(first: $first) { edges { node { id author { handle viewerFollows } media { url } likeCount viewerHasLiked viewerHasReposted } } } } }";

const FOLLOWERS: &str = "query($first: Int) { profile(handle: \"author0\") { handle followers(first: $first) { edges { node { handle viewerFollows postCount avatar { url } } } } } }";

#[tokio::test]
async fn a_page_of_100_costs_the_statements_of_a_page_of_20() {
    let db = TestDb::fresh().await;
    let mut config = config_for(&db);
    // 100 feed entries with their images and avatars pass 1,000.
    config.documents.complexity_limit = 2000;
    let app = App::build(config.clone()).await.expect("the app starts");
    let h = Harness {
        state: app.state(),
        schema: build_schema(&config.documents, Some(app.state())),
    };
    let viewer = h.account("viewer").await;
    let mut authors = Vec::new();
    for i in 0..4 {
        authors.push(h.account(&format!("author{i}")).await);
    }
    // Followers of author0 for its followers page, followed back by the viewer
    // now and then (so viewerFollows answers both ways).
    for i in 0..25 {
        let fan = h.account(&format!("fan{i}")).await;
        h.run(
            "mutation { follow(handle: \"author0\") { errors { code } } }",
            json!({}),
            fan,
        )
        .await;
        if i % 3 == 0 {
            h.run(
                &format!("mutation {{ follow(handle: \"fan{i}\") {{ errors {{ code }} }} }}"),
                json!({}),
                viewer,
            )
            .await;
        }
    }
    for i in 0..4 {
        h.run(
            &format!("mutation {{ follow(handle: \"author{i}\") {{ errors {{ code }} }} }}"),
            json!({}),
            viewer,
        )
        .await;
    }
    for n in 0..120 {
        let author = authors[n % authors.len()];
        h.run(
            "mutation($i: CreatePostInput!) { createPost(input: $i) { errors { code } } }",
            json!({ "i": { "body": format!("post {n}") } }),
            author,
        )
        .await;
    }

    // Reposts among them: the followed authors' posts and a stranger's
    // (whose author the viewer does not follow), reposted by followees.
    let stranger = h.account("stranger").await;
    let mut reposted = Vec::new();
    for n in 0..30 {
        let (data, _) = h
            .run(
                "mutation($i: CreatePostInput!) { createPost(input: $i) { post { id } } }",
                json!({ "i": { "body": format!("theirs {n}") } }),
                stranger,
            )
            .await;
        reposted.push(
            data["createPost"]["post"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    for (n, post) in reposted.iter().enumerate() {
        let reposter = authors[n % authors.len()].viewer().unwrap().unwrap();
        sns_api::entity::repost::ActiveModel {
            id: sea_orm::Set(uuid::Uuid::now_v7()),
            post_id: sea_orm::Set(uuid::Uuid::parse_str(post).unwrap()),
            user_id: sea_orm::Set(reposter.user_id),
            created_at: sea_orm::Set(chrono::Utc::now()),
            removed_at: sea_orm::Set(None),
        }
        .insert(h.state.db())
        .await
        .unwrap();
    }

    // Images on every third post, and avatars for two authors, a reposter
    // and some followers: each a batch of its own, whatever the page's size.
    let posts = sns_api::entity::post::Entity::find()
        .all(h.state.db())
        .await
        .unwrap();
    for (n, post) in posts.iter().enumerate().filter(|(n, _)| n % 3 == 0) {
        for position in 0..(1 + n % 4) as i16 {
            media_row(&h.state, post.author_id, Some((post.id, position))).await;
        }
    }
    let mut pictured: Vec<Auth> = vec![authors[0], authors[2]];
    for i in (0..25).step_by(4) {
        pictured.push(h.account(&format!("pictured{i}")).await);
    }
    for (i, who) in pictured.iter().enumerate() {
        let user = who.viewer().unwrap().unwrap().user_id;
        let id = media_row(&h.state, user, None).await;
        sns_api::entity::profile::Entity::update_many()
            .col_expr(
                sns_api::entity::profile::Column::AvatarId,
                sea_orm::sea_query::Expr::value(Some(id)),
            )
            .filter(sns_api::entity::profile::Column::UserId.eq(user))
            .exec(h.state.db())
            .await
            .unwrap();
        if i >= 2 {
            h.run(
                "mutation { follow(handle: \"author0\") { errors { code } } }",
                json!({}),
                *who,
            )
            .await;
        }
    }

    let (big, big_cost) = h.run(FEED, json!({ "first": 100 }), viewer).await;
    let (small, small_cost) = h.run(FEED, json!({ "first": 20 }), viewer).await;
    // Both again, from the feed cache: the pages' posts and profiles are
    // read again by key, two statements, however long the page.
    let (big_again, big_hit) = h.run(FEED, json!({ "first": 100 }), viewer).await;
    let (small_again, small_hit) = h.run(FEED, json!({ "first": 20 }), viewer).await;
    assert_eq!(big_again, big);
    assert_eq!(small_again, small);
    let edges = big["feed"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 100);
    assert_eq!(small["feed"]["edges"].as_array().map(Vec::len), Some(20));
    let reposts = edges.iter().filter(|e| !e["repostedBy"].is_null()).count();
    assert_eq!(reposts, 30, "{big}");
    assert_eq!(edges[0]["node"]["author"]["viewerFollows"], false);
    assert_eq!(edges[0]["repostedBy"]["viewerFollows"], true);
    assert_eq!(edges[99]["node"]["author"]["viewerFollows"], true);
    let with_media = edges
        .iter()
        .filter(|e| e["node"]["media"] != json!([]))
        .count();
    assert!(with_media > 0 && with_media < 100, "{with_media}");
    let avatars = edges
        .iter()
        .filter(|e| !e["node"]["author"]["avatar"].is_null())
        .count();
    assert!(avatars > 0 && avatars < 100, "{avatars}");
    // The newest posts hold both pages: one statement reads the page, its
    // authors and reposters, and whether the viewer follows them; one more
    // reads the page's images, one its profiles' avatars. (On PostgreSQL
    // the page's statement also runs in a transaction that sets its plan
    // mode: BEGIN, SET LOCAL and COMMIT are not counted.)
    // On SQLite a viewer's first read also reads whose writes can change
    // its feed, the newest entry keys of those the cache lacks, and more
    // keys of those whose kept ones are all among the page's 200 newest
    // (three statements, once): the page's statement reads only those who
    // wrote lately, from where their keys put the page's end.
    let sqlite = h.state.backend() == sea_orm::DbBackend::Sqlite;
    let first_time = if sqlite { 3 } else { 0 };
    assert_eq!(big_cost, small_cost + first_time);
    assert_eq!(small_cost, 3, "a feed page ran {small_cost} statements");
    // From memory: the posts and profiles instead of the page's statement,
    // and, the first time (but on SQLite, read already), whose writes can
    // change the viewer's feed.
    assert_eq!(big_hit, small_hit + 1 - usize::from(sqlite));
    assert_eq!(small_hit, 4, "a kept feed page ran {small_hit} statements");

    let (big, big_cost) = h.run(POSTS, json!({ "first": 25 }), viewer).await;
    let (_, small_cost) = h.run(POSTS, json!({ "first": 5 }), viewer).await;
    assert_eq!(
        big["profile"]["posts"]["edges"].as_array().map(Vec::len),
        Some(25)
    );
    assert_eq!(big_cost, small_cost);

    let (big, big_cost) = h.run(FOLLOWERS, json!({ "first": 25 }), viewer).await;
    let (_, small_cost) = h.run(FOLLOWERS, json!({ "first": 5 }), viewer).await;
    assert_eq!(
        big["profile"]["followers"]["edges"]
            .as_array()
            .map(Vec::len),
        Some(25)
    );
    let follows: Vec<&Value> = big["profile"]["followers"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"]["viewerFollows"])
        .collect();
    assert!(follows.contains(&&json!(true)) && follows.contains(&&json!(false)));
    assert_eq!(big_cost, small_cost);
}

/// A media row (no object behind it: only its URL is read), of `owner`,
/// on the post at the position given, else a profile picture.
async fn media_row(
    state: &AppState,
    owner: uuid::Uuid,
    post: Option<(uuid::Uuid, i16)>,
) -> uuid::Uuid {
    let id = uuid::Uuid::now_v7();
    let now = chrono::Utc::now();
    sns_api::entity::media::ActiveModel {
        id: sea_orm::Set(id),
        owner_id: sea_orm::Set(owner),
        full_key: sea_orm::Set(format!("{id}.jpg")),
        preview_key: sea_orm::Set(format!("{id}-preview.jpg")),
        content_type: sea_orm::Set("image/jpeg".to_owned()),
        width: sea_orm::Set(10),
        height: sea_orm::Set(10),
        bytes: sea_orm::Set(100),
        blurhash: sea_orm::Set("LEHV6nWB2yk8pyo0adR*.7kCMdnj".to_owned()),
        alt: sea_orm::Set(None),
        post_id: sea_orm::Set(post.map(|(p, _)| p)),
        position: sea_orm::Set(post.map(|(_, n)| n)),
        created_at: sea_orm::Set(now),
        attached_at: sea_orm::Set(Some(now)),
    }
    .insert(state.db())
    .await
    .unwrap();
    id
}

// A thread page: the post, its ancestors, and a page of its replies with
// what a thread view shows of each.
const THREAD: &str = "query($id: ID!, $first: Int) { post(id: $id) { id ancestors { id author { handle } } replies(first: $first) { edges { node { author { handle } replyTo { id } mentions { handle } replyCount } } } } }";

#[tokio::test]
async fn a_thread_page_of_100_replies_costs_the_statements_of_a_page_of_20() {
    let db = TestDb::fresh().await;
    let mut config = config_for(&db);
    // 100 replies of nine fields and 40 ancestors of three pass 1,000.
    config.documents.complexity_limit = 2000;
    let app = App::build(config.clone()).await.expect("the app starts");
    let h = Harness {
        state: app.state(),
        schema: build_schema(&config.documents, Some(app.state())),
    };
    let mut authors = Vec::new();
    for i in 0..4 {
        authors.push(h.account(&format!("author{i}")).await);
    }
    let create =
        "mutation($i: CreatePostInput!) { createPost(input: $i) { post { id } errors { code } } }";
    // A chain of five above the post.
    let mut parent: Option<String> = None;
    for depth in 0..6 {
        let (data, _) = h
            .run(
                create,
                json!({ "i": { "body": format!("depth {depth}"), "replyTo": parent } }),
                authors[depth % 4],
            )
            .await;
        parent = data["createPost"]["post"]["id"].as_str().map(str::to_owned);
    }
    let post = parent.expect("the post");
    // 100 of the replies by author0, for a long page of its posts below.
    for n in 0..120 {
        let body = format!("reply {n} @author{} @author{}", n % 4, (n + 1) % 4);
        let author = if n % 6 == 0 { 1 + n / 6 % 3 } else { 0 };
        h.run(
            create,
            json!({ "i": { "body": body, "replyTo": post } }),
            authors[author],
        )
        .await;
    }

    let (big, big_cost) = h
        .run(THREAD, json!({ "id": post, "first": 100 }), Auth::Anonymous)
        .await;
    let (small, small_cost) = h
        .run(THREAD, json!({ "id": post, "first": 20 }), Auth::Anonymous)
        .await;
    let edges = |data: &Value| data["post"]["replies"]["edges"].as_array().map(Vec::len);
    assert_eq!(edges(&big), Some(100));
    assert_eq!(edges(&small), Some(20));
    assert_eq!(big["post"]["ancestors"].as_array().map(Vec::len), Some(5));
    let first = &big["post"]["replies"]["edges"][0]["node"];
    assert_eq!(first["replyTo"]["id"], post.as_str());
    assert_eq!(first["mentions"][1]["handle"], "author1", "{first}");
    assert_eq!(big_cost, small_cost);
    // The post, its ancestors with their authors, the replies with theirs,
    // and the replies' mentions; each reply's replyTo is the post.
    assert_eq!(small_cost, 4, "a thread page ran {small_cost} statements");

    // A profile's posts (its replies), with their parents and mentions.
    let posts = "query($first: Int) { profile(handle: \"author0\") { posts(first: $first) { edges { node { replyTo { id } mentions { handle } } } } } }";
    let (big, big_cost) = h.run(posts, json!({ "first": 100 }), Auth::Anonymous).await;
    let (_, small_cost) = h.run(posts, json!({ "first": 5 }), Auth::Anonymous).await;
    let edges = big["profile"]["posts"]["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 100);
    for e in edges {
        assert_eq!(e["node"]["replyTo"]["id"], post.as_str(), "{e}");
        assert_eq!(
            e["node"]["mentions"].as_array().map(Vec::len),
            Some(2),
            "{e}"
        );
    }
    assert_eq!(big_cost, small_cost);
}

// Each item's fields count 100 times towards complexity: a light selection,
// with each group's post, its author, and actors with viewerFollows.
const INBOX: &str = "query($first: Int) { notifications(first: $first) { nodes { read post { author { handle } } actors(first: 2) { viewerFollows } } } }";

#[tokio::test]
async fn a_notifications_page_of_100_costs_the_statements_of_a_page_of_20() {
    use sns_api::service::notification::{NotificationKind, Subject, record};
    let db = TestDb::fresh().await;
    let h = Harness::new(&db).await;
    let viewer = h.account("viewer").await;
    let Auth::Viewer(v) = viewer else {
        panic!("signed in")
    };
    let mut fans = Vec::new();
    for i in 0..3 {
        let Auth::Viewer(fan) = h.account(&format!("fan{i}")).await else {
            panic!("signed in")
        };
        fans.push(fan.user_id);
    }
    // The viewer follows the newest actor of every group (fan2), so
    // viewerFollows answers both ways.
    h.run(
        "mutation { follow(handle: \"fan2\") { errors { code } } }",
        json!({}),
        viewer,
    )
    .await;
    let mut posts = Vec::new();
    for n in 0..10 {
        let (data, _) = h
            .run(
                "mutation($i: CreatePostInput!) { createPost(input: $i) { post { id } } }",
                json!({ "i": { "body": format!("post {n}") } }),
                viewer,
            )
            .await;
        let id = data["createPost"]["post"]["id"].as_str().unwrap();
        posts.push(uuid::Uuid::parse_str(id).unwrap());
    }
    // 120 groups: a day's follows each, and the likes and reposts of each post.
    let day = chrono::Utc::now().date_naive();
    let conn = h.state.db();
    for g in 0..120u64 {
        let (kind, subject) = match g % 6 {
            0 => (
                NotificationKind::Like,
                Subject::Post(posts[(g / 6) as usize % 10]),
            ),
            1 => (
                NotificationKind::Repost,
                Subject::Post(posts[(g / 6) as usize % 10]),
            ),
            _ => (
                NotificationKind::Follow,
                Subject::Day(day - chrono::Days::new(g)),
            ),
        };
        for fan in &fans {
            record(conn, v.user_id, kind, subject, *fan).await.unwrap();
        }
    }

    let (big, big_cost) = h.run(INBOX, json!({ "first": 100 }), viewer).await;
    let (small, small_cost) = h.run(INBOX, json!({ "first": 20 }), viewer).await;
    let nodes = |d: &Value| d["notifications"]["nodes"].as_array().unwrap().clone();
    assert_eq!(nodes(&big).len(), 100);
    assert_eq!(nodes(&small).len(), 20);
    let all = nodes(&big);
    assert!(
        all.iter()
            .any(|n| n["post"]["author"]["handle"] == "viewer")
    );
    let follows: Vec<&Value> = all
        .iter()
        .flat_map(|n| n["actors"].as_array().unwrap())
        .map(|a| &a["viewerFollows"])
        .collect();
    assert_eq!(follows.len(), 200);
    assert!(follows.contains(&&json!(true)) && follows.contains(&&json!(false)));
    // The groups with the marker, posts and authors; then every group's actors.
    assert_eq!(big_cost, small_cost);
    assert_eq!(
        small_cost, 2,
        "a notifications page ran {small_cost} statements"
    );
    // The authors come with the page however the document reaches them
    // (here through edges and a fragment); a page without them costs the
    // same.
    // The same page as `small` (its key): from memory, its posts with
    // their authors and its actors by key.
    let served = h.state.feed_cache().inbox_served();
    let (framed, framed_cost) = h.run(INBOX_BY_EDGES, json!({}), viewer).await;
    assert_eq!(
        h.state.feed_cache().inbox_served(),
        served + 1,
        "from memory"
    );
    let edges = framed["notifications"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 20);
    assert!(
        edges
            .iter()
            .any(|e| e["node"]["post"]["author"]["handle"] == "viewer")
    );
    assert_eq!(
        framed_cost, 2,
        "a page by edges ran {framed_cost} statements"
    );
    let (bare, bare_cost) = h
        .run(
            "{ notifications(first: 20) { nodes { post { id body } actors { handle } } } }",
            json!({}),
            viewer,
        )
        .await;
    let bare = nodes(&bare);
    assert_eq!(bare.len(), 20);
    assert!(bare.iter().any(|n| n["post"]["id"].is_string()));
    assert_eq!(
        bare_cost, 2,
        "a page without authors ran {bare_cost} statements"
    );
    // Twenty requests at once for a page not read yet: one reads it, the
    // others wait for it and take it from memory, with its actors.
    let served = h.state.feed_cache().inbox_served();
    let at_once = (0..20).map(|_| h.run(INBOX, json!({ "first": 7 }), viewer));
    let answers = async_graphql::futures_util::future::join_all(at_once).await;
    assert!(answers.iter().all(|(data, _)| *data == answers[0].0));
    assert_eq!(nodes(&answers[0].0).len(), 7);
    assert_eq!(
        h.state.feed_cache().inbox_served(),
        served + 19,
        "read once, then from memory"
    );
    assert!(answers.iter().all(|(_, cost)| *cost == 2));
}

const INBOX_BY_EDGES: &str = "query { notifications(first: 20) { edges { node { ...Group } } } } \
    fragment Group on Notification { read post { ... on Post { author { handle } } } actors(first: 2) { handle } }";
