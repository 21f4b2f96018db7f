//! No N+1: a page costs the same SQL statements whatever its size. The
//! schema runs in-process here, inside a statement count that also covers
//! the DataLoaders' batch loads (they run in tasks of their own).

use async_graphql::{Request, Variables};
use sea_orm::ActiveModelTrait as _;
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
const FEED: &str = "query($first: Int) { feed(first: $first) { edges { repostedBy { viewerFollows } node { author { viewerFollows } } } pageInfo { hasNextPage endCursor } } }";

// One connection per document: two sibling connections resolve side by
// side, and whether their loads share a batch depends on timing.
const POSTS: &str = "query($first: Int) { profile(handle: \"author0\") { handle posts(first: $first) { edges { node { id author { handle viewerFollows } } } } } }";

const FOLLOWERS: &str = "query($first: Int) { profile(handle: \"author0\") { handle followers(first: $first) { edges { node { handle viewerFollows postCount } } } } }";

#[tokio::test]
async fn a_page_of_100_costs_the_statements_of_a_page_of_20() {
    let db = TestDb::fresh().await;
    let h = Harness::new(&db).await;
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

    let (big, big_cost) = h.run(FEED, json!({ "first": 100 }), viewer).await;
    let (small, small_cost) = h.run(FEED, json!({ "first": 20 }), viewer).await;
    let edges = big["feed"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 100);
    assert_eq!(small["feed"]["edges"].as_array().map(Vec::len), Some(20));
    let reposts = edges.iter().filter(|e| !e["repostedBy"].is_null()).count();
    assert_eq!(reposts, 30, "{big}");
    assert_eq!(edges[0]["node"]["author"]["viewerFollows"], false);
    assert_eq!(edges[0]["repostedBy"]["viewerFollows"], true);
    assert_eq!(edges[99]["node"]["author"]["viewerFollows"], true);
    // The newest posts hold both pages: one statement reads the page, its
    // authors and reposters, and whether the viewer follows them.
    assert_eq!(big_cost, small_cost);
    assert_eq!(small_cost, 1, "a feed page ran {small_cost} statements");

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
