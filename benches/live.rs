//! How long a post takes to reach the `feedAdded` subscriptions of its
//! author's followers on one instance: SOCKETS followers (5,000), each with
//! a socket of its own subscribed to `feedAdded`; the author posts POSTS
//! times (20), one at a time, and each socket's arrival is timed from the
//! moment `createPost` answered (the post committed and published).
//!
//!   cargo bench --bench live                      # SQLite file, 5,000 sockets
//!   SOCKETS=500 POSTS=5 cargo bench --bench live  # quick
//!   DATABASE_URL=postgres://postgres@127.0.0.1:5432/live cargo bench --bench live
//!
//! The server runs on a runtime of its own with one worker thread (the
//! default on two cores; its threads are named `server`, for `perf`), the
//! clients on another (`clients`); both share the machine, so the figures
//! include the clients' own work. A PostgreSQL or MySQL `DATABASE_URL`
//! names an empty database to use as it is.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use sea_orm::{EntityTrait, Set, TransactionTrait};
use secrecy::ExposeSecret as _;
use serde_json::json;
use sns_api::app::App;
use sns_api::config::Config;
use sns_api::entity::{follow, profile, user};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use uuid::Uuid;

/// The server's allocator (`src/main.rs`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SECRET: &str = "bench-secret-bench-secret-bench-secret-0";
const BATCH: usize = 500;
const FEED_ADDED: &str = "subscription { feedAdded { cursor node { id body author { handle } } } }";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    let sockets = env("SOCKETS", 5000);
    let posts = env("POSTS", 20);
    let dir = tempfile::tempdir()?;
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}?mode=rwc", dir.path().join("live.db").display()));
    let mut config = Config::defaults();
    config.database.url = url.parse().map_err(anyhow::Error::msg)?;
    config.bind_addr = "127.0.0.1:0".parse()?;
    config.tokens.secret = Some(SECRET.into());

    // The server, on a runtime of its own.
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("server")
        .enable_all()
        .build()?;
    let app = server.block_on(App::build(config))?;
    let addr = app.local_addr();
    let state = app.state();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = server.spawn(app.run_until(async move {
        let _ = stopped.await;
    }));

    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("clients")
        .enable_all()
        .build()?;
    let result = clients.block_on(run(state.clone(), addr, sockets, posts));
    let _ = stop.send(());
    let _ = server.block_on(serving);
    result
}

async fn run(
    state: sns_api::state::AppState,
    addr: std::net::SocketAddr,
    sockets: usize,
    posts: usize,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let (author, followers) = seed(&state, sockets).await?;
    let token = |id: Uuid| -> anyhow::Result<String> {
        let issued = state
            .jwt()
            .issue(id, Uuid::now_v7(), true, chrono::Utc::now())?;
        Ok(issued.token.expose_secret().to_owned())
    };
    println!(
        "seeded {sockets} followers in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Every follower's socket; each task records when each post arrives.
    let arrivals: Arc<Mutex<Vec<Vec<Instant>>>> = Arc::new(Mutex::new(vec![Vec::new(); posts]));
    let started = Instant::now();
    let mut readers = Vec::with_capacity(sockets);
    for id in &followers {
        let mut socket = open(addr, &token(*id)?).await?;
        let arrivals = arrivals.clone();
        readers.push(tokio::spawn(async move {
            for i in 0..posts {
                loop {
                    match socket.next().await {
                        Some(Ok(Message::Text(text))) if text.contains("\"next\"") => break,
                        Some(Ok(_)) => continue,
                        _ => return,
                    }
                }
                let now = Instant::now();
                arrivals.lock().unwrap()[i].push(now);
            }
        }));
    }
    while state.live().listening().feed < sockets {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "{sockets} sockets subscribed in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let http = reqwest::Client::new();
    let author_token = token(author)?;
    let cpu_before = (cpu_of("server"), cpu_of("clients"));
    let mut delays = Vec::with_capacity(sockets * posts);
    let mut lasts = Vec::with_capacity(posts);
    for i in 0..posts {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let body: serde_json::Value = http
            .post(format!("http://{addr}/graphql"))
            .bearer_auth(&author_token)
            .json(&json!({
                "query": "mutation($i: CreatePostInput!) { createPost(input: $i) { post { id } } }",
                "variables": {"i": {"body": format!("post {i}")}}
            }))
            .send()
            .await?
            .json()
            .await?;
        let answered = Instant::now();
        anyhow::ensure!(
            body["data"]["createPost"]["post"]["id"].is_string(),
            "{body}"
        );
        let deadline = answered + Duration::from_secs(30);
        loop {
            let got = arrivals.lock().unwrap()[i].len();
            if got == sockets {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "post {i}: {got} of {sockets} sockets after 30 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let times = arrivals.lock().unwrap()[i].clone();
        let ms = |t: &Instant| t.saturating_duration_since(answered).as_secs_f64() * 1000.0;
        delays.extend(times.iter().map(ms));
        lasts.push(times.iter().map(ms).fold(0.0, f64::max));
    }
    let cpu = |name: &str, before: f64| (cpu_of(name) - before) * 1000.0 / posts as f64;
    let (server_cpu, clients_cpu) = (cpu("server", cpu_before.0), cpu("clients", cpu_before.1));
    for r in readers {
        r.abort();
    }
    let pct = |v: &mut Vec<f64>, p: f64| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[((v.len() as f64 - 1.0) * p).round() as usize]
    };
    println!(
        "{} deliveries after createPost answered: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        delays.len(),
        pct(&mut delays, 0.50),
        pct(&mut delays, 0.99),
        pct(&mut delays, 1.0),
    );
    println!(
        "last socket of each post: p50 {:.1} ms, max {:.1} ms",
        pct(&mut lasts, 0.50),
        pct(&mut lasts, 1.0),
    );
    println!(
        "CPU a post: server {server_cpu:.0} ms, clients {clients_cpu:.0} ms (Linux; 0 elsewhere)"
    );
    Ok(())
}

/// CPU seconds the threads named `name` have used (Linux: their
/// `/proc/self/task/*/stat`, in clock ticks of 10 ms; 0 elsewhere).
fn cpu_of(name: &str) -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let mut ticks = 0u64;
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ...`: utime and stime are the 14th and 15th fields.
        let Some((head, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        if !head.ends_with(&format!("({name}")) {
            continue;
        }
        let fields: Vec<&str> = rest.split_whitespace().collect();
        for i in [11, 12] {
            ticks += fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    ticks as f64 / 100.0
}

/// An author and `n` accounts following it, written directly (no password
/// hashing: the sockets get tokens issued for them).
async fn seed(state: &sns_api::state::AppState, n: usize) -> anyhow::Result<(Uuid, Vec<Uuid>)> {
    let now = chrono::Utc::now();
    let author = Uuid::now_v7();
    let followers: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
    let everyone: Vec<Uuid> = std::iter::once(author)
        .chain(followers.iter().copied())
        .collect();
    let txn = state.db().begin().await?;
    for (c, chunk) in everyone.chunks(BATCH).enumerate() {
        user::Entity::insert_many(chunk.iter().enumerate().map(|(k, id)| user::ActiveModel {
            id: Set(*id),
            email: Set(format!("live-{}@example.com", c * BATCH + k)),
            password_hash: Set("not a hash: nobody signs in".into()),
            created_at: Set(now),
            updated_at: Set(now),
            email_verified: Set(true),
            disabled_at: Set(None),
        }))
        .exec_without_returning(&txn)
        .await?;
        profile::Entity::insert_many(chunk.iter().enumerate().map(|(k, id)| {
            let i = c * BATCH + k;
            profile::ActiveModel {
                user_id: Set(*id),
                handle: Set(format!("live_{i}")),
                display_name: Set(None),
                bio: Set(None),
                post_count: Set(0),
                follower_count: Set(if *id == author { n as i32 } else { 0 }),
                following_count: Set(if *id == author { 0 } else { 1 }),
                created_at: Set(now),
                updated_at: Set(now),
            }
        }))
        .exec_without_returning(&txn)
        .await?;
    }
    for chunk in followers.chunks(BATCH) {
        follow::Entity::insert_many(chunk.iter().map(|id| follow::ActiveModel {
            id: Set(Uuid::now_v7()),
            follower_id: Set(*id),
            followee_id: Set(author),
            created_at: Set(now),
        }))
        .exec_without_returning(&txn)
        .await?;
    }
    txn.commit().await?;
    Ok((author, followers))
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A socket signed in with `token`, subscribed to `feedAdded`.
async fn open(addr: std::net::SocketAddr, token: &str) -> anyhow::Result<Socket> {
    let mut request = format!("ws://{addr}/graphql").into_client_request()?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    // tungstenite zero-fills its whole read buffer (128 KiB by default)
    // before every read: 5,000 clients would spend most of the CPU on that.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (mut socket, _) =
        tokio_tungstenite::connect_async_with_config(request, Some(config), false).await?;
    let init =
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}});
    socket.send(Message::text(init.to_string())).await?;
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) if text.contains("connection_ack") => break,
            Some(Ok(_)) => continue,
            other => anyhow::bail!("no connection_ack: {other:?}"),
        }
    }
    let subscribe = json!({"id": "f", "type": "subscribe", "payload": {"query": FEED_ADDED}});
    socket.send(Message::text(subscribe.to_string())).await?;
    Ok(socket)
}
