//! Live updates at scale, for benches/live.sh: many signed-in sockets, each
//! subscribed to `feedAdded` and `notificationChanged`, and the fan-out of
//! a post by an account that a share of them follow.
//!
//!   live seed     DATABASE_URL, JWT_SECRET, TOKENS (a file to write):
//!                 SOCKETS accounts (10,000) with a session each, and the
//!                 author (bench-0), whom the first FOLLOWERS (5,000) follow
//!   live run      URLS (comma-separated http bases; sockets go round-robin),
//!                 PIDS (the servers' pids, for their RSS), TOKENS, ROUNDS (50)
//!   cargo test --bench live    # quick: a temporary SQLite file, the app in
//!                              # this process, 300 sockets, 5 rounds
//!
//! A round: the author's `createPost` over HTTP; the fan-out time is from
//! its answer to the last follower's `feedAdded` (negative: the last one
//! came before the answer). Every follower must get every post exactly
//! once, and no other socket any: a round that loses or repeats one fails
//! the run. The rounds run twice. First with `me` beside them over HTTP at
//! a fixed rate (ME_RATE, 1,000 a second, open loop): the fan-out figure
//! of the goal, and `me`'s latency idle and during the rounds. Then beside
//! `me` in a closed loop (ME_CONCURRENCY, 4), which takes all the CPU it
//! can: `me`'s throughput idle and during the rounds, and the fan-out under
//! that load. The sockets' tokens are issued here with the servers' key
//! (one login per account would take minutes of Argon2).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use argon2::password_hash::{PasswordHasher as _, SaltString};
use chrono::{SubsecRound as _, Utc};
use futures_util::{SinkExt as _, StreamExt as _};
use rand::RngCore as _;
use sea_orm::sqlx::sqlite::SqliteSynchronous;
use sea_orm::{ConnectOptions, Database, DatabaseConnection, EntityTrait, PaginatorTrait, Set};
use serde_json::{Value, json};
use sns_api::auth::jwt::JwtKeys;
use sns_api::entity::{follow, profile, session, user};
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use uuid::Uuid;

const PASSWORD: &str = "correct-horse-battery";
const BATCH: usize = 1000;
/// Sockets opening at once.
const CONNECTING: usize = 200;
/// How long a round waits for its last follower before it fails.
const ROUND_TIMEOUT: Duration = Duration::from_secs(20);
const TOKEN_TTL: Duration = Duration::from_secs(4 * 3600);
const SUBSCRIBE: &str = "subscription { feedAdded { cursor node { id } } }";
const NOTIFICATIONS: &str = "subscription { notificationChanged { id actorCount } }";

fn env_size(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(v) => v.parse().with_context(|| format!("{name}={v:?}")),
        Err(_) => Ok(default),
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.iter().find(|a| !a.starts_with('-')).cloned();
    let runtime = tokio::runtime::Runtime::new()?;
    match mode.as_deref() {
        Some("seed") => {
            let url = std::env::var("DATABASE_URL").context("seed: set DATABASE_URL")?;
            let secret = std::env::var("JWT_SECRET").context("seed: set JWT_SECRET")?;
            let out = std::env::var("TOKENS").context("seed: set TOKENS")?;
            let sizes = Sizes::from_env(10_000, 5_000)?;
            let tokens = runtime.block_on(seed(&url, &secret, sizes))?;
            std::fs::write(&out, tokens.join("\n"))?;
            Ok(())
        }
        Some("run") => {
            let urls: Vec<String> = std::env::var("URLS")
                .context("run: set URLS")?
                .split(',')
                .map(str::to_owned)
                .collect();
            let pids: Vec<u32> = std::env::var("PIDS")
                .unwrap_or_default()
                .split(',')
                .filter(|p| !p.is_empty())
                .map(str::parse)
                .collect::<Result<_, _>>()
                .context("PIDS")?;
            let tokens: Vec<String> =
                std::fs::read_to_string(std::env::var("TOKENS").context("run: set TOKENS")?)?
                    .lines()
                    .map(str::to_owned)
                    .collect();
            let followers = env_size("FOLLOWERS", 5_000)?;
            let rounds = env_size("ROUNDS", 50)?;
            runtime.block_on(run(&urls, &pids, &tokens, followers, rounds))
        }
        Some(other) => bail!("unknown mode {other:?}: seed or run"),
        None => runtime.block_on(quick()),
    }
}

#[derive(Clone, Copy)]
struct Sizes {
    sockets: usize,
    followers: usize,
}

impl Sizes {
    fn from_env(sockets: usize, followers: usize) -> anyhow::Result<Self> {
        let s = Self {
            sockets: env_size("SOCKETS", sockets)?,
            followers: env_size("FOLLOWERS", followers)?,
        };
        ensure!(s.followers <= s.sockets, "FOLLOWERS at most SOCKETS");
        Ok(s)
    }
}

/// A temporary SQLite file, the app in this process, a few hundred sockets.
async fn quick() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("live.db").display());
    let secret = "live-bench-secret-0123456789abcdef-0123";
    let sizes = Sizes::from_env(300, 150)?;
    let tokens = seed(&url, secret, sizes).await?;
    let mut config = sns_api::config::Config::defaults();
    config.database.url = url.parse().map_err(anyhow::Error::msg)?;
    config.bind_addr = "127.0.0.1:0".parse()?;
    config.tokens.secret = Some(secret.to_owned().into());
    let app = sns_api::app::App::build(config).await?;
    let base = format!("http://{}", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let result = run(
        &[base],
        &[std::process::id()],
        &tokens,
        sizes.followers,
        env_size("ROUNDS", 5)?,
    )
    .await;
    let _ = stop.send(());
    server.await??;
    result
}

/// Accounts bench-0 (the author) … bench-SOCKETS, one session each; the
/// first FOLLOWERS of the others follow the author. Answers one access
/// token a line: the author's first.
async fn seed(url: &str, secret: &str, sizes: Sizes) -> anyhow::Result<Vec<String>> {
    let started = Instant::now();
    let db = connect(url).await?;
    sns_api::db::migrate(&db).await.context("migrating")?;
    let existing = profile::Entity::find().count(&db).await?;
    ensure!(
        existing == 0,
        "the database holds {existing} profiles: seed a fresh one"
    );
    let hash = password_hash()?;
    let keys = JwtKeys::hs256(secret.as_bytes(), "sns-api", "sns-api", TOKEN_TTL);
    let now = Utc::now().trunc_subsecs(0);
    let ids: Vec<Uuid> = (0..=sizes.sockets).map(|_| Uuid::now_v7()).collect();
    let sessions: Vec<Uuid> = ids.iter().map(|_| Uuid::now_v7()).collect();
    for chunk in (0..ids.len()).collect::<Vec<_>>().chunks(BATCH) {
        user::Entity::insert_many(chunk.iter().map(|&i| user::ActiveModel {
            id: Set(ids[i]),
            email: Set(format!("bench-{i}@example.com")),
            password_hash: Set(hash.clone()),
            created_at: Set(now),
            updated_at: Set(now),
            email_verified: Set(true),
            disabled_at: Set(None),
        }))
        .exec(&db)
        .await?;
        profile::Entity::insert_many(chunk.iter().map(|&i| profile::ActiveModel {
            user_id: Set(ids[i]),
            handle: Set(format!("bench_{i}")),
            display_name: Set(Some(format!("Bench Account {i}"))),
            bio: Set(None),
            post_count: Set(0),
            follower_count: Set(if i == 0 { sizes.followers as i32 } else { 0 }),
            following_count: Set(i32::from((1..=sizes.followers).contains(&i))),
            locked: Set(false),
            avatar_id: Set(None),
            banner_id: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }))
        .exec(&db)
        .await?;
        session::Entity::insert_many(chunk.iter().map(|&i| session::ActiveModel {
            id: Set(sessions[i]),
            user_id: Set(ids[i]),
            created_at: Set(now),
            last_used_at: Set(now),
            expires_at: Set(now + chrono::Duration::days(30)),
            revoked_at: Set(None),
            user_agent: Set(Some("benches/live".to_owned())),
            aal: Set(1),
            amr: Set("pwd".to_owned()),
        }))
        .exec(&db)
        .await?;
    }
    let followers: Vec<usize> = (1..=sizes.followers).collect();
    for chunk in followers.chunks(BATCH) {
        follow::Entity::insert_many(chunk.iter().map(|&i| follow::ActiveModel {
            id: Set(Uuid::now_v7()),
            follower_id: Set(ids[i]),
            followee_id: Set(ids[0]),
            created_at: Set(now),
        }))
        .exec(&db)
        .await?;
    }
    let tokens = ids
        .iter()
        .zip(&sessions)
        .map(|(u, s)| {
            keys.issue(*u, *s, true, sns_api::auth::Assurance::Password, Utc::now())
                .map(|t| secrecy::ExposeSecret::expose_secret(&t.token).to_owned())
        })
        .collect::<Result<Vec<_>, _>>()?;
    eprintln!(
        "seeded {} accounts, {} following the author, in {:.1} s",
        ids.len(),
        sizes.followers,
        started.elapsed().as_secs_f64()
    );
    Ok(tokens)
}

fn password_hash() -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let hash = argon2::Argon2::default()
        .hash_password(PASSWORD.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
    Ok(hash.to_string())
}

async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options.max_connections(1).sqlx_logging(false);
    options.map_sqlx_sqlite_opts(|o| o.synchronous(SqliteSynchronous::Off).foreign_keys(true));
    Ok(Database::connect(options).await?)
}

/// What a socket saw: its index, the post of a `feedAdded`, and when.
type Receipt = (usize, String, Instant);

async fn run(
    urls: &[String],
    pids: &[u32],
    tokens: &[String],
    followers: usize,
    rounds: usize,
) -> anyhow::Result<()> {
    raise_open_files();
    let author = tokens.first().context("no tokens")?.clone();
    let sockets = tokens.len() - 1;
    let (tx, mut rx) = mpsc::unbounded_channel::<Receipt>();
    let ready = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(CONNECTING));
    let opened = Instant::now();
    let mut tasks = Vec::with_capacity(sockets);
    for (i, token) in tokens.iter().enumerate().skip(1) {
        let url = urls[i % urls.len()].replacen("http://", "ws://", 1) + "/graphql";
        let (token, tx, ready, failed, gate) = (
            token.clone(),
            tx.clone(),
            ready.clone(),
            failed.clone(),
            gate.clone(),
        );
        tasks.push(tokio::spawn(async move {
            if let Err(e) = socket(i, &url, &token, tx, &ready, &gate).await
                && failed.fetch_add(1, Ordering::Relaxed) < 3
            {
                eprintln!("socket {i}: {e:#}");
            }
        }));
    }
    drop(tx);
    while ready.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed) < sockets {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ensure!(
        failed.load(Ordering::Relaxed) == 0,
        "{} sockets failed to open",
        failed.load(Ordering::Relaxed)
    );
    eprintln!(
        "{sockets} sockets open and subscribed in {:.1} s",
        opened.elapsed().as_secs_f64()
    );
    let http = reqwest::Client::new();
    // Until the subscriptions are in place everywhere: a post every 200 ms
    // until one reaches every follower.
    let mut warmed = false;
    for _ in 0..50 {
        let (post, _) = create_post(&http, &urls[0], &author).await?;
        if collect(&mut rx, &post, followers, Duration::from_secs(2))
            .await?
            .0
            .len()
            == followers
        {
            warmed = true;
            break;
        }
    }
    ensure!(
        warmed,
        "no post reached every follower: are the subscriptions live?"
    );
    // Drain what the warm-up rounds left.
    while rx.try_recv().is_ok() {}
    let rss: Vec<u64> = pids
        .iter()
        .map(|&p| rss_kib(p))
        .collect::<anyhow::Result<_>>()?;

    let me_token = &tokens[sockets.min(1)];
    let me_rate = env_size("ME_RATE", 1000)?;
    // The goal's figure: the rounds with `me` beside them at a fixed rate
    // (open loop), so that both latencies are read at a load the server
    // carries, not in the queue of a load that takes all it can.
    let me = MeLoad::open(&urls[0], me_token, me_rate);
    let cpu_idle = Cpu::now(pids)?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = me.since(me.started);
    let cpu_rounds = Cpu::now(pids)?;
    let started = Instant::now();
    let (fanout_ms, first_ms) =
        fan_out(&http, &urls[0], &author, &mut rx, followers, rounds).await?;
    let during = me.since(started);
    let cpu_end = Cpu::now(pids)?;
    me.stop();
    // The CPU of the rounds less what `me` alone took at the same rate.
    let deliveries = (rounds * followers) as f64;
    let per_delivery = |of: fn(&Cpu) -> f64| {
        let me_cpu_a_second = (of(&cpu_rounds) - of(&cpu_idle))
            / cpu_rounds.at.duration_since(cpu_idle.at).as_secs_f64();
        let rounds_secs = cpu_end.at.duration_since(cpu_rounds.at).as_secs_f64();
        (of(&cpu_end) - of(&cpu_rounds) - me_cpu_a_second * rounds_secs) / deliveries * 1e6
    };
    let (server_us, client_us) = (per_delivery(|c| c.servers), per_delivery(|c| c.client));
    // Beside it, `me`'s throughput: a closed loop (ME_CONCURRENCY, 4)
    // that takes all the CPU it can, idle and during as many rounds again.
    let me = MeLoad::closed(&urls[0], me_token, env_size("ME_CONCURRENCY", 4)?);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle_rate = me.since(me.started).rate;
    let started = Instant::now();
    let (loaded_ms, _) = fan_out(&http, &urls[0], &author, &mut rx, followers, rounds).await?;
    let busy_rate = me.since(started).rate;
    me.stop();
    // A little while for strays (events for a post after its round ended).
    if let Ok(Some((i, post, _))) =
        tokio::time::timeout(Duration::from_millis(500), rx.recv()).await
    {
        bail!("socket {i} got {post} after its round");
    }
    let pct = |v: &[f64], p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "sockets {sockets} (2 subscriptions each) on {} instance(s); followers {followers}; rounds {rounds}",
        urls.len()
    );
    for (pid, kib) in pids.iter().zip(&rss) {
        println!("server {pid}: RSS {:.1} MiB", *kib as f64 / 1024.0);
    }
    println!(
        "fan-out ms (createPost answer -> last follower's event), me at {me_rate}/s beside: p50 {:.1}  p99 {:.1}  max {:.1}",
        pct(&fanout_ms, 0.5),
        pct(&fanout_ms, 0.99),
        pct(&fanout_ms, 1.0)
    );
    println!("first follower's event ms: p50 {:.1}", pct(&first_ms, 0.5));
    println!(
        "CPU a delivery, less me's share: servers {server_us:.1} us, this client {client_us:.1} us"
    );
    println!(
        "me at {me_rate}/s (open loop): {idle} with the sockets idle; {during} during the rounds"
    );
    println!(
        "me closed loop: {idle_rate:.0} req/s with the sockets idle, {busy_rate:.0} during the rounds; fan-out under it: p50 {:.1}  p99 {:.1}",
        pct(&loaded_ms, 0.5),
        pct(&loaded_ms, 0.99)
    );
    for t in tasks {
        t.abort();
    }
    Ok(())
}

/// `rounds` posts by the author, each awaited at every follower; the
/// fan-out times (to the last follower's event) and the first follower's,
/// sorted. A round that loses or repeats an event fails the run.
async fn fan_out(
    http: &reqwest::Client,
    base: &str,
    author: &str,
    rx: &mut mpsc::UnboundedReceiver<Receipt>,
    followers: usize,
    rounds: usize,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let mut fanout_ms = Vec::with_capacity(rounds);
    // The first follower's event: what the dispatcher spends before the
    // first delivery (reading the post, its followers and their audience).
    let mut first_ms = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let (post, answered) = create_post(http, base, author).await?;
        let (seen, extra) = collect(rx, &post, followers, ROUND_TIMEOUT).await?;
        ensure!(
            seen.len() == followers,
            "round {round}: {} of {followers} followers got the post",
            seen.len()
        );
        ensure!(
            extra == 0,
            "round {round}: {extra} duplicate or stray events"
        );
        let last = seen.values().max().copied().unwrap_or(answered);
        let first = seen.values().min().copied().unwrap_or(answered);
        fanout_ms.push(signed_ms(last, answered));
        first_ms.push(signed_ms(first, answered));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    fanout_ms.sort_by(f64::total_cmp);
    first_ms.sort_by(f64::total_cmp);
    Ok((fanout_ms, first_ms))
}

fn signed_ms(later: Instant, earlier: Instant) -> f64 {
    match later.checked_duration_since(earlier) {
        Some(d) => d.as_secs_f64() * 1e3,
        None => -(earlier.duration_since(later).as_secs_f64() * 1e3),
    }
}

/// Receipts of `post` until `want` distinct sockets have it or `within`
/// passes; and how many receipts were of another post or repeated.
async fn collect(
    rx: &mut mpsc::UnboundedReceiver<Receipt>,
    post: &str,
    want: usize,
    within: Duration,
) -> anyhow::Result<(HashMap<usize, Instant>, usize)> {
    let deadline = tokio::time::Instant::now() + within;
    let mut seen = HashMap::with_capacity(want);
    let mut extra = 0;
    while seen.len() < want {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some((i, p, at))) if p == post => {
                if seen.insert(i, at).is_some() {
                    extra += 1;
                }
            }
            Ok(Some(_)) => extra += 1,
            Ok(None) => bail!("every socket closed"),
            Err(_) => break,
        }
    }
    Ok((seen, extra))
}

async fn create_post(
    http: &reqwest::Client,
    base: &str,
    token: &str,
) -> anyhow::Result<(String, Instant)> {
    let body: Value = http
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(&json!({
            "query": "mutation($i: CreatePostInput!) { createPost(input: $i) { post { id } errors { code } } }",
            "variables": { "i": { "body": "fan-out" } }
        }))
        .send()
        .await?
        .json()
        .await?;
    let answered = Instant::now();
    let id = body["data"]["createPost"]["post"]["id"]
        .as_str()
        .with_context(|| format!("createPost: {body}"))?;
    Ok((id.to_owned(), answered))
}

/// One socket: signed in, subscribed to both fields; every `feedAdded`
/// reported with the moment it arrived.
async fn socket(
    i: usize,
    url: &str,
    token: &str,
    tx: mpsc::UnboundedSender<Receipt>,
    ready: &AtomicUsize,
    gate: &Semaphore,
) -> anyhow::Result<()> {
    let permit = gate.acquire().await?;
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await?;
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    ws.send(Message::text(init.to_string())).await?;
    match ws.next().await {
        Some(Ok(Message::Text(t))) if t.contains("connection_ack") => {}
        other => bail!("no ack: {other:?}"),
    }
    for (id, query) in [("f", SUBSCRIBE), ("n", NOTIFICATIONS)] {
        let sub = json!({ "id": id, "type": "subscribe", "payload": { "query": query } });
        ws.send(Message::text(sub.to_string())).await?;
    }
    drop(permit);
    ready.fetch_add(1, Ordering::Relaxed);
    while let Some(message) = ws.next().await {
        match message? {
            Message::Text(text) => {
                let v: Value = serde_json::from_str(&text)?;
                match (v["type"].as_str(), v["id"].as_str()) {
                    (Some("next"), Some("f")) => {
                        let post = v["payload"]["data"]["feedAdded"]["node"]["id"]
                            .as_str()
                            .with_context(|| format!("feedAdded: {text}"))?;
                        let _ = tx.send((i, post.to_owned(), Instant::now()));
                    }
                    (Some("next"), Some("n")) => {}
                    (Some("ping"), _) => {
                        ws.send(Message::text(r#"{"type":"pong"}"#)).await?;
                    }
                    _ => bail!("unexpected: {text}"),
                }
            }
            Message::Close(frame) => bail!("closed: {frame:?}"),
            _ => {}
        }
    }
    Ok(())
}

/// `me` beside the rounds: each answer's latency, from the moment it was
/// due (an open loop's request is due at its tick, so a late send counts).
/// It runs on a runtime of its own, on its own thread, so that its
/// answers do not wait behind this client's ten thousand sockets' reads.
struct MeLoad {
    answers: Answers,
    started: Instant,
    runtime: tokio::runtime::Runtime,
}

fn me_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime for me")
}

/// `me`'s answers within a window.
struct MeWindow {
    rate: f64,
    p50: f64,
    p99: f64,
}

impl std::fmt::Display for MeWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
            self.rate, self.p50, self.p99
        )
    }
}

/// Each answered `me`: when it was due, and its latency in ms from then.
type Answers = Arc<std::sync::Mutex<Vec<(Instant, f64)>>>;

/// One `me`, recorded in `answers` unless it failed.
async fn me_once(http: &reqwest::Client, url: &str, token: &str, due: Instant, answers: &Answers) {
    let ok = http
        .post(url)
        .bearer_auth(token)
        .json(&json!({ "query": "{ me { id email } }" }))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success());
    if ok {
        answers
            .lock()
            .unwrap()
            .push((due, due.elapsed().as_secs_f64() * 1e3));
    }
}

impl MeLoad {
    /// `concurrency` loops, each sending the next `me` on the last answer.
    fn closed(base: &str, token: &str, concurrency: usize) -> Self {
        let answers = Answers::default();
        let http = reqwest::Client::new();
        let runtime = me_runtime();
        for _ in 0..concurrency {
            let (http, answers, url, token) = (
                http.clone(),
                answers.clone(),
                format!("{base}/graphql"),
                token.to_owned(),
            );
            runtime.spawn(async move {
                loop {
                    me_once(&http, &url, &token, Instant::now(), &answers).await;
                }
            });
        }
        Self {
            answers,
            started: Instant::now(),
            runtime,
        }
    }

    /// `rate` a second, each sent at its tick whatever the others do.
    fn open(base: &str, token: &str, rate: usize) -> Self {
        let answers = Answers::default();
        let (http, url, token) = (
            reqwest::Client::new(),
            format!("{base}/graphql"),
            token.to_owned(),
        );
        let ticks = answers.clone();
        let period = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
        let runtime = me_runtime();
        runtime.spawn(async move {
            let mut every = tokio::time::interval(period);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            loop {
                let due = every.tick().await.into_std();
                let (http, url, token, answers) =
                    (http.clone(), url.clone(), token.clone(), ticks.clone());
                tokio::spawn(async move { me_once(&http, &url, &token, due, &answers).await });
            }
        });
        Self {
            answers,
            started: Instant::now(),
            runtime,
        }
    }

    /// The answers to what was due since `from`.
    fn since(&self, from: Instant) -> MeWindow {
        let mut ms: Vec<f64> = self
            .answers
            .lock()
            .unwrap()
            .iter()
            .filter(|(due, _)| *due >= from)
            .map(|(_, ms)| *ms)
            .collect();
        ms.sort_by(f64::total_cmp);
        let at = |p: f64| {
            ms.get(((ms.len().max(1) - 1) as f64 * p).round() as usize)
                .copied()
                .unwrap_or(f64::NAN)
        };
        MeWindow {
            rate: ms.len() as f64 / from.elapsed().as_secs_f64(),
            p50: at(0.5),
            p99: at(0.99),
        }
    }

    fn stop(self) {
        self.runtime.shutdown_background();
    }
}

/// CPU seconds so far of the servers together and of this client.
struct Cpu {
    servers: f64,
    client: f64,
    at: Instant,
}

impl Cpu {
    fn now(pids: &[u32]) -> anyhow::Result<Self> {
        let mut servers = 0.0;
        for pid in pids {
            servers += cpu_secs(&pid.to_string())?;
        }
        Ok(Self {
            servers,
            client: cpu_secs("self")?,
            at: Instant::now(),
        })
    }
}

/// User and system CPU seconds of process `pid` (`/proc/<pid>/stat`,
/// fields 14 and 15, in USER_HZ = 100 ticks a second on Linux).
fn cpu_secs(pid: &str) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("a stat line")?
        .1
        .split_whitespace()
        .collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields.get(i).context("a stat field")?.parse::<f64>()?)
    };
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS")
}

/// This client holds a descriptor a socket: as many as the hard limit allows.
fn raise_open_files() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    limit.current = limit.maximum;
    let _ = setrlimit(Resource::Nofile, limit);
}
