//! The harness: a fresh database per test (SQLite file by default, or a new
//! database on the server `TEST_DATABASE_URL` names) and the real app served
//! over HTTP on port 0.

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};
use sns_api::app::App;
use sns_api::config::Config;
use sns_api::state::AppState;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const SECRET: &str = "test-secret-test-secret-test-secret-0123";
pub const PASSWORD: &str = "correct-horse-battery";

/// A database that exists for one test.
pub struct TestDb {
    pub url: String,
    /// Where the app writes its mail (`MAIL_URL=file://…`) unless a test
    /// points it at a mail server.
    pub mail_dir: tempfile::TempDir,
    _dir: Option<tempfile::TempDir>,
    /// (server admin URL, database name) to drop at the end.
    server: Option<(String, String)>,
}

impl TestDb {
    pub async fn fresh() -> Self {
        match std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
        {
            None => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("sns.db").display());
                Self {
                    url,
                    mail_dir: tempfile::tempdir().expect("temp dir"),
                    _dir: Some(dir),
                    server: None,
                }
            }
            Some(admin_url) => {
                let name = format!("sns_t_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(admin_url.as_str())
                    .await
                    .unwrap_or_else(|e| panic!("TEST_DATABASE_URL is unreachable: {e}"));
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create the test database");
                admin.close().await.ok();
                let url = replace_database(&admin_url, &name);
                Self {
                    url,
                    mail_dir: tempfile::tempdir().expect("temp dir"),
                    _dir: None,
                    server: Some((admin_url, name)),
                }
            }
        }
    }
}

impl TestDb {
    /// A connection of the test's own, for a test that runs no [`TestApp`]
    /// (which has [`TestApp::db`]).
    pub async fn connect(&self) -> DatabaseConnection {
        connect(&self.url).await
    }

    /// (admin URL, database name) when the database lives on a server.
    pub fn server(&self) -> Option<(&str, &str)> {
        self.server.as_ref().map(|(a, n)| (a.as_str(), n.as_str()))
    }
}

async fn connect(url: &str) -> DatabaseConnection {
    Database::connect(url)
        .await
        .unwrap_or_else(|e| panic!("the test database is unreachable: {e}"))
}

/// `scheme://user@host:port/db?opts` with another `db`.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_end..]
        .find('/')
        .map_or(base.len(), |i| authority_end + i);
    let mut out = format!("{}/{}", &base[..path_start], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.server.take() else {
            return;
        };
        let postgres = admin_url.starts_with("postgres");
        // Drop runs inside a test's runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(db) = Database::connect(admin_url.as_str()).await {
                    if !postgres {
                        end_mysql_connections(&db, &name).await;
                    }
                    let force = if postgres { " WITH (FORCE)" } else { "" };
                    let _ = db
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}{force}"))
                        .await;
                    db.close().await.ok();
                }
            });
        })
        .join();
    }
}

/// Ends every connection to database `name` (MySQL / MariaDB), as
/// PostgreSQL's `DROP DATABASE … WITH (FORCE)` does. A test that failed
/// midway can leave the app's transactions open: the app's tasks run on the
/// test's runtime, which is blocked while the database is dropped, so they
/// never finish, and `DROP DATABASE` would wait for their locks forever.
async fn end_mysql_connections(admin: &sea_orm::DatabaseConnection, name: &str) {
    use sea_orm::{DbBackend, Statement};
    let Ok(rows) = admin
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::MySql,
            "SELECT id FROM information_schema.processlist WHERE db = ?",
            [name.into()],
        ))
        .await
    else {
        return;
    };
    for row in rows {
        if let Ok(id) = row.try_get_by_index::<i64>(0) {
            let _ = admin.execute_unprepared(&format!("KILL {id}")).await;
        }
    }
}

pub fn config_for(db: &TestDb) -> Config {
    let mut c = Config::defaults();
    c.database.url = db.url.parse().unwrap();
    c.bind_addr = "127.0.0.1:0".parse().unwrap();
    c.tokens.secret = Some(SECRET.into());
    c.database.max_connections = Some(8);
    c.mail.transport = format!("file://{}", db.mail_dir.path().display())
        .parse()
        .unwrap();
    c.media.store = format!("file://{}", db.mail_dir.path().join("media").display());
    c.shutdown_timeout = Duration::from_secs(5);
    // Every test signs in from 127.0.0.1; the per-address limit has tests of its own.
    c.rate_limits.auth_per_ip = "1000000/1m".parse().unwrap();
    // PostgreSQL and MySQL have no TOTP without it; SQLite would make one.
    c.mfa.totp_encryption_key = Some(TOTP_KEY.into());
    c
}

/// `TOTP_ENCRYPTION_KEY` of the tests (at least 32 bytes).
pub const TOTP_KEY: &str = "test-totp-key-test-totp-key-test-totp-key";

/// One running app.
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    /// The app's database, through a pool of the test's own: what a test
    /// reads or writes there goes beside the app, as another client would.
    pub db: DatabaseConnection,
    /// The app's own state, for what only it can tell (its hash queue).
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    pub async fn spawn(db: &TestDb) -> Self {
        Self::spawn_with(config_for(db)).await
    }

    pub async fn spawn_with(config: Config) -> Self {
        let database = config.database.clone();
        let app = App::build(config).await.expect("the app starts");
        let base = format!("http://{}", app.local_addr());
        let db = sns_api::db::connect(&database)
            .await
            .unwrap_or_else(|e| panic!("the test database is unreachable: {e}"));
        let state = app.state();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        Self {
            base,
            http: reqwest::Client::new(),
            db,
            state,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Shuts the app down and waits for it, as SIGTERM would.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("app task").expect("clean shutdown");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// POSTs one GraphQL operation; answers the JSON body (status must be 200).
    pub async fn gql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        let mut req = self
            .http
            .post(self.url("/graphql"))
            .json(&json!({"query": query, "variables": variables}));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let res = req.send().await.expect("request sent");
        assert_eq!(res.status(), 200, "GraphQL answers 200");
        res.json().await.expect("a JSON body")
    }

    /// POSTs one operation with extra headers; answers the JSON body.
    pub async fn gql_with_headers(
        &self,
        query: &str,
        variables: Value,
        headers: &[(&str, &str)],
    ) -> Value {
        let mut req = self
            .http
            .post(self.url("/graphql"))
            .json(&json!({"query": query, "variables": variables}));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send()
            .await
            .expect("request sent")
            .json()
            .await
            .expect("a JSON body")
    }

    /// POSTs with a raw `Authorization` header value.
    pub async fn gql_with_auth(&self, query: &str, authorization: &str) -> Value {
        self.gql_with_headers(query, json!({}), &[("Authorization", authorization)])
            .await
    }

    /// The HTTP status of `GET path`.
    pub async fn status(&self, path: &str) -> u16 {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
            .status()
            .as_u16()
    }

    /// The JSON body of `GET path`.
    pub async fn get_json(&self, path: &str) -> Value {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
            .json()
            .await
            .expect("a JSON body")
    }

    pub async fn register(&self, email: &str, password: &str) -> Value {
        let body = self
            .gql(
                REGISTER,
                json!({"i": {"email": email, "password": password}}),
                None,
            )
            .await;
        body["data"]["register"].clone()
    }

    /// A login's whole response: data and top-level errors.
    pub async fn login_response(&self, email: &str, password: &str) -> Value {
        self.gql(
            LOGIN,
            json!({"i": {"email": email, "password": password}}),
            None,
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Value {
        self.login_response(email, password).await["data"]["login"].clone()
    }

    /// Registers and answers the access token.
    pub async fn signed_up(&self, email: &str) -> String {
        let payload = self.register(email, PASSWORD).await;
        assert_eq!(payload["errors"], json!([]), "{payload}");
        payload["accessToken"].as_str().expect("a token").to_owned()
    }

    /// Signs in (again) and answers the access token of the new session.
    pub async fn logged_in(&self, email: &str) -> String {
        let payload = self.login(email, PASSWORD).await;
        assert_eq!(payload["errors"], json!([]), "{payload}");
        payload["accessToken"].as_str().expect("a token").to_owned()
    }

    /// Registers and answers (access token, refresh token).
    pub async fn signed_up_pair(&self, email: &str) -> (String, String) {
        let payload = self.register(email, PASSWORD).await;
        assert_eq!(payload["errors"], json!([]), "{payload}");
        pair(&payload)
    }

    pub async fn refresh(&self, refresh_token: &str) -> Value {
        let body = self
            .gql(REFRESH, json!({"i": {"refreshToken": refresh_token}}), None)
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        body["data"]["refresh"].clone()
    }

    pub async fn me(&self, token: &str) -> Value {
        self.gql("{ me { id email createdAt } }", json!({}), Some(token))
            .await
    }

    /// Polls `me` until `token` is refused (on another instance than the
    /// one that ended its session: at its next sync).
    /// Waits for a revocation made elsewhere (another instance, an
    /// operator's command) to refuse `token` here, as the contract bounds
    /// it: within the sync interval, five of them and a second allowed for
    /// a loaded machine. Until then the token must still answer `me`.
    pub async fn until_refused(&self, token: &str) {
        let within = self.state.policy().sessions.sync_interval * 5 + Duration::from_secs(1);
        poll_within("the token refused", within, || async {
            let body = self.me(token).await;
            if error_codes(&body) == ["UNAUTHENTICATED"] {
                return Ok(());
            }
            assert!(body["data"]["me"].is_object(), "{body}");
            Err(body.to_string())
        })
        .await;
    }

    pub async fn logout(&self, token: &str, scope: &str) -> Value {
        self.gql(
            &format!("mutation {{ logout(scope: {scope}) {{ revokedSessions }} }}"),
            json!({}),
            Some(token),
        )
        .await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub const REGISTER: &str = "mutation($i: RegisterInput!) { register(input: $i) { accessToken tokenType expiresAt refreshToken user { id email createdAt } errors { code message field retryAfterSeconds } } }";
pub const LOGIN: &str = "mutation($i: LoginInput!) { login(input: $i) { accessToken tokenType expiresAt refreshToken user { id email createdAt } errors { code message field retryAfterSeconds } } }";

pub const REFRESH: &str = "mutation($i: RefreshInput!) { refresh(input: $i) { accessToken tokenType expiresAt refreshToken user { id email } errors { code message field retryAfterSeconds } } }";

/// (access token, refresh token) of a successful payload.
pub fn pair(payload: &Value) -> (String, String) {
    (
        payload["accessToken"]
            .as_str()
            .expect("an access token")
            .to_owned(),
        payload["refreshToken"]
            .as_str()
            .expect("a refresh token")
            .to_owned(),
    )
}

/// The codes of the top-level errors of a response.
pub fn error_codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    e["extensions"]["code"]
                        .as_str()
                        .unwrap_or("<none>")
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The codes of a payload's `errors`.
pub fn payload_codes(payload: &Value) -> Vec<String> {
    payload["errors"]
        .as_array()
        .expect("a payload has errors")
        .iter()
        .map(|e| e["code"].as_str().unwrap().to_owned())
        .collect()
}

pub fn unique_email(tag: &str) -> String {
    format!("{tag}-{}@example.com", uuid::Uuid::new_v4().simple())
}

#[test]
fn database_urls_are_rewritten_to_the_fresh_database() {
    assert_eq!(
        replace_database("postgres://postgres@127.0.0.1:5432/test", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        replace_database("mysql://root@127.0.0.1:3306/test?ssl-mode=disabled", "x"),
        "mysql://root@127.0.0.1:3306/x?ssl-mode=disabled"
    );
    assert_eq!(
        replace_database("mysql://root@127.0.0.1:3306", "x"),
        "mysql://root@127.0.0.1:3306/x"
    );
}

impl TestApp {
    /// Moves the rotation of refresh token `raw` `by` into the past, as time
    /// passing would (rules read stored times, so no test sleeps for them).
    pub async fn age_rotation(&self, raw: &str, by: chrono::Duration) {
        use sea_orm::sea_query::Expr;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        use sns_api::entity::refresh_token;
        let hash = sns_api::auth::refresh::RefreshToken::parse(raw)
            .expect("a refresh token")
            .hash();
        let row = refresh_token::Entity::find_by_id(hash.clone())
            .one(&self.db)
            .await
            .unwrap()
            .expect("the token is stored");
        let rotated = row.rotated_at.expect("the token was rotated");
        refresh_token::Entity::update_many()
            .col_expr(
                refresh_token::Column::RotatedAt,
                Expr::value(Some(rotated - by)),
            )
            .filter(refresh_token::Column::Hash.eq(hash))
            .exec(&self.db)
            .await
            .unwrap();
    }

    /// Moves the creation of every session in the test's database `by` into the past.
    pub async fn age_sessions(&self, by: chrono::Duration) {
        use sea_orm::sea_query::Expr;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        use sns_api::entity::session;
        for row in session::Entity::find().all(&self.db).await.unwrap() {
            session::Entity::update_many()
                .col_expr(session::Column::CreatedAt, Expr::value(row.created_at - by))
                .filter(session::Column::Id.eq(row.id))
                .exec(&self.db)
                .await
                .unwrap();
        }
    }
}

/// How long [`poll_until`] waits: what it waits for takes a poll or sync
/// interval of a second or less, so this only bounds a test that would
/// otherwise hang; it claims nothing about speed.
const POLL_DEADLINE: Duration = Duration::from_secs(20);

/// Calls `check` until it answers `Ok`, and answers that. `Err` says what
/// was seen instead; after [`POLL_DEADLINE`] the test fails with it and
/// `what` it waited for.
pub async fn poll_until<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    poll_within(what, POLL_DEADLINE, check).await
}

/// [`poll_until`] with a bound the contract sets (a revocation reaches
/// every instance within its sync interval), where waiting longer is a
/// failure of behaviour.
pub async fn poll_within<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + within;
    loop {
        match check().await {
            Ok(found) => return found,
            Err(seen) => assert!(
                Instant::now() < deadline,
                "waited {within:?} for {what}; last saw: {seen}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// The social graph: register with a handle, profiles, posts, follows.

pub const REGISTER_WITH_HANDLE: &str = "mutation($i: RegisterInput!) { register(input: $i) { accessToken refreshToken user { id email profile { id handle } } errors { code message field } } }";

/// The fields of a `Profile` that tests compare (never `email`: it has none).
pub const PROFILE_FIELDS: &str =
    "id handle displayName bio createdAt postCount followerCount followingCount viewerFollows";

/// The fields of a `UserError` that tests compare.
pub const USER_ERROR_FIELDS: &str = "errors { code message field }";

impl TestApp {
    /// A register payload for `email` / `password` with `handle` when given
    /// (the field is left out otherwise).
    pub async fn register_with_handle(
        &self,
        email: &str,
        password: &str,
        handle: Option<&str>,
    ) -> Value {
        let mut input = json!({"email": email, "password": password});
        if let Some(h) = handle {
            input["handle"] = json!(h);
        }
        let body = self
            .gql(REGISTER_WITH_HANDLE, json!({"i": input}), None)
            .await;
        assert!(body.get("errors").is_none(), "no top-level error: {body}");
        body["data"]["register"].clone()
    }

    /// Registers a fresh email with `handle`; answers the access token.
    pub async fn signed_up_as(&self, handle: &str) -> String {
        let payload = self
            .register_with_handle(&unique_email(handle), PASSWORD, Some(handle))
            .await;
        assert_eq!(payload["errors"], json!([]), "{handle}: {payload}");
        payload["accessToken"].as_str().expect("a token").to_owned()
    }

    /// `profile(handle:)` with [`PROFILE_FIELDS`], as `token` sees it (null when unknown).
    pub async fn profile(&self, handle: &str, token: Option<&str>) -> Value {
        let body = self
            .gql(
                &format!("query($h: String!) {{ profile(handle: $h) {{ {PROFILE_FIELDS} }} }}"),
                json!({"h": handle}),
                token,
            )
            .await;
        assert!(body.get("errors").is_none(), "no top-level error: {body}");
        body["data"]["profile"].clone()
    }

    /// The `createPost` payload (post with its author's handle, and errors).
    pub async fn create_post(&self, token: &str, text: &str) -> Value {
        let body = self
            .gql(
                &format!(
                    "mutation($i: CreatePostInput!) {{ createPost(input: $i) {{ \
                     post {{ id body createdAt author {{ id handle }} }} {USER_ERROR_FIELDS} }} }}"
                ),
                json!({"i": {"body": text}}),
                Some(token),
            )
            .await;
        assert!(body.get("errors").is_none(), "no top-level error: {body}");
        body["data"]["createPost"].clone()
    }

    /// Creates a post that must be accepted; answers its id.
    pub async fn posted(&self, token: &str, text: &str) -> String {
        let payload = self.create_post(token, text).await;
        assert_eq!(payload["errors"], json!([]), "{text:?}: {payload}");
        payload["post"]["id"]
            .as_str()
            .expect("a post id")
            .to_owned()
    }

    /// The `follow` (or `unfollow`) payload: the profile with [`PROFILE_FIELDS`], and errors.
    pub async fn follow_as(&self, token: &str, mutation: &str, handle: &str) -> Value {
        let body = self
            .gql(
                &format!(
                    "mutation($h: String!) {{ {mutation}(handle: $h) {{ \
                     profile {{ {PROFILE_FIELDS} }} {USER_ERROR_FIELDS} }} }}"
                ),
                json!({"h": handle}),
                Some(token),
            )
            .await;
        assert!(body.get("errors").is_none(), "no top-level error: {body}");
        body["data"][mutation].clone()
    }

    /// Follows `handle`; the follow must be accepted.
    pub async fn follow(&self, token: &str, handle: &str) {
        let payload = self.follow_as(token, "follow", handle).await;
        assert_eq!(payload["errors"], json!([]), "follow {handle}: {payload}");
    }

    /// Unfollows `handle`; the unfollow must be accepted.
    pub async fn unfollow(&self, token: &str, handle: &str) {
        let payload = self.follow_as(token, "unfollow", handle).await;
        assert_eq!(payload["errors"], json!([]), "unfollow {handle}: {payload}");
    }
}

impl TestApp {
    /// Registers one account per handle, one after the other (racing
    /// registrations have tests of their own); answers their access tokens
    /// in the order of `handles`.
    pub async fn signed_up_all(&self, handles: &[&str]) -> Vec<String> {
        let mut tokens = Vec::with_capacity(handles.len());
        for handle in handles {
            tokens.push(self.signed_up_as(handle).await);
        }
        tokens
    }
}

/// Sends every (query, variables, token) at once; answers the bodies in order.
pub async fn all_at_once(
    app: &TestApp,
    requests: Vec<(String, Value, Option<String>)>,
) -> Vec<Value> {
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|(query, variables, token)| {
            let (http, url) = (app.http.clone(), app.url("/graphql"));
            tokio::spawn(async move {
                let mut req = http
                    .post(url)
                    .json(&json!({"query": query, "variables": variables}));
                if let Some(t) = token {
                    req = req.bearer_auth(t);
                }
                let res = req.send().await.expect("request sent");
                assert_eq!(res.status(), 200);
                res.json::<Value>().await.expect("a JSON body")
            })
        })
        .collect();
    let mut bodies = Vec::with_capacity(tasks.len());
    for t in tasks {
        bodies.push(t.await.expect("the request task"));
    }
    bodies
}
