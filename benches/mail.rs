//! Mail: outbox throughput (mails a second from outbox rows to a local SMTP
//! sink, through the worker and lettre) and the latency of
//! `requestPasswordReset` (known and unknown addresses, p50/p99), with the
//! mail server answering and with one that accepts connections and never
//! answers: no request waits on the mail server, so the figures match.
//!
//! The requests alternate a known and an unknown address back to back, so
//! a write made after a known address's answer (its token and mail, in the
//! background) would also show, as a slower unknown request right after it.
//!
//!   cargo bench --bench mail                 # SQLite file, 2000 mails, 300 requests
//!   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --bench mail
//!   cargo test --bench mail                  # quick: 100 mails, 40 requests
//!
//! The sink is a minimal SMTP server in this file (it only counts messages),
//! so that the figure is the outbox's, not the sink's.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sea_orm::{ColumnTrait, Database, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use sns_api::app::App;
use sns_api::config::Config;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const SECRET: &str = "bench-secret-bench-secret-bench-secret-0";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; `cargo test --bench mail` does not: quick.
    let full = std::env::args().any(|a| a == "--bench");
    let (mails, requests) = if full { (2000, 300) } else { (100, 40) };
    let dirs = (tempfile::tempdir()?, tempfile::tempdir()?);
    let url_in = |dir: &tempfile::TempDir| {
        std::env::var("DATABASE_URL").unwrap_or_else(|_| {
            format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("bench.db").display()
            )
        })
    };
    let url = url_in(&dirs.0);
    let backend = url.split(':').next().unwrap_or_default().to_owned();

    let received = Arc::new(AtomicUsize::new(0));
    let sink = sink(received.clone()).await?;
    let app = spawn(&url, &format!("smtp://{sink}")).await?;
    let db = Database::connect(url.as_str()).await?;

    // Throughput: rows written straight to the outbox, then timed until the
    // sink has them all.
    let now = sns_api::service::clock::now();
    for i in 0..mails {
        let mail = sns_api::mail::Mail {
            to: format!("bench-{i}@example.com"),
            subject: "Reset your password".to_owned(),
            body: format!("Open this link: http://localhost:5173/reset-password?token={i:043}\n"),
        };
        sns_api::mail::outbox::enqueue(&db, mail, now)
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }
    let start = Instant::now();
    while received.load(Ordering::SeqCst) < mails {
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(600),
            "the outbox stalled"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = start.elapsed();
    println!(
        "outbox on {backend}: {mails} mails in {:.2} s = {:.0} mails/s (one instance, local SMTP sink)",
        took.as_secs_f64(),
        mails as f64 / took.as_secs_f64()
    );

    let http = reqwest::Client::new();
    let known = format!("known-{}@example.com", uuid::Uuid::new_v4().simple());
    gql(
        &http,
        &app,
        "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }",
        json!({"i": {"email": known, "password": "correct-horse-battery"}}),
    )
    .await?;
    let up = latencies(&http, &app, &db, &known, requests).await?;
    report("mail server up", &up);

    // A mail server that accepts connections and never answers.
    let hanging = TcpListener::bind("127.0.0.1:0").await?;
    let hanging_addr = hanging.local_addr()?;
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = hanging.accept().await {
            held.push(socket);
        }
    });
    let url2 = url_in(&dirs.1);
    let db2 = if url2 == url {
        db.clone()
    } else {
        Database::connect(url2.as_str()).await?
    };
    let app2 = spawn(&url2, &format!("smtp://{hanging_addr}")).await?;
    let known2 = format!("known-{}@example.com", uuid::Uuid::new_v4().simple());
    gql(
        &http,
        &app2,
        "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }",
        json!({"i": {"email": known2, "password": "correct-horse-battery"}}),
    )
    .await?;
    let hung = latencies(&http, &app2, &db2, &known2, requests).await?;
    report("mail server hanging", &hung);
    Ok(())
}

/// `requests` requestPasswordReset calls, alternating a known address and
/// fresh unknown ones; answers (known, unknown) latencies. The known
/// address's sending limit is forgotten between calls (untimed).
async fn latencies(
    http: &reqwest::Client,
    app: &str,
    db: &DatabaseConnection,
    known: &str,
    requests: usize,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let (mut k, mut u) = (Vec::new(), Vec::new());
    for i in 0..requests {
        let is_known = i % 2 == 0;
        let email = if is_known {
            sns_api::entity::throttle::Entity::delete_many()
                .filter(sns_api::entity::throttle::Column::Key.like("mail%"))
                .exec(db)
                .await?;
            known.to_owned()
        } else {
            format!("nobody-{}@example.com", uuid::Uuid::new_v4().simple())
        };
        let start = Instant::now();
        let body = gql(
            http,
            app,
            "mutation($i: RequestPasswordResetInput!) { requestPasswordReset(input: $i) { errors { code } } }",
            json!({"i": {"email": email}}),
        )
        .await?;
        let took = start.elapsed();
        anyhow::ensure!(
            body["data"]["requestPasswordReset"]["errors"] == json!([]),
            "unexpected answer: {body}"
        );
        if is_known { k.push(took) } else { u.push(took) }
    }
    Ok((k, u))
}

fn report(what: &str, (known, unknown): &(Vec<Duration>, Vec<Duration>)) {
    let pct = |v: &[Duration], p: f64| {
        let mut v = v.to_vec();
        v.sort();
        let i = ((v.len() as f64 - 1.0) * p).round() as usize;
        v[i].as_secs_f64() * 1000.0
    };
    println!(
        "requestPasswordReset, {what}: known address p50 {:.2} ms p99 {:.2} ms; unknown p50 {:.2} ms p99 {:.2} ms ({} + {} requests)",
        pct(known, 0.5),
        pct(known, 0.99),
        pct(unknown, 0.5),
        pct(unknown, 0.99),
        known.len(),
        unknown.len()
    );
}

/// A minimal SMTP server that accepts every message and counts it.
async fn sink(received: Arc<AtomicUsize>) -> anyhow::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let received = received.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 sink ESMTP\r\n").await;
                let mut in_data = false;
                while let Ok(Some(line)) = lines.next_line().await {
                    let reply: &[u8] = if in_data {
                        if line != "." {
                            continue;
                        }
                        in_data = false;
                        received.fetch_add(1, Ordering::SeqCst);
                        b"250 OK\r\n"
                    } else {
                        match line.get(..4).map(str::to_ascii_uppercase).as_deref() {
                            Some("EHLO") => b"250-sink\r\n250 8BITMIME\r\n",
                            Some("DATA") => {
                                in_data = true;
                                b"354 go ahead\r\n"
                            }
                            Some("QUIT") => {
                                let _ = write.write_all(b"221 bye\r\n").await;
                                break;
                            }
                            _ => b"250 OK\r\n",
                        }
                    };
                    if write.write_all(reply).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    Ok(addr)
}

async fn spawn(url: &str, mail_url: &str) -> anyhow::Result<String> {
    let mut config = Config::defaults();
    config.database.url = url.parse().map_err(anyhow::Error::msg)?;
    config.bind_addr = "127.0.0.1:0".parse()?;
    config.tokens.secret = Some(SECRET.into());
    config.rate_limits.auth_per_ip = "1000000/1s".parse().map_err(anyhow::Error::msg)?;
    config.rate_limits.mail = "1000000/1s".parse().map_err(anyhow::Error::msg)?;
    config.mail.transport = mail_url.parse().map_err(anyhow::Error::msg)?;
    config.mail.poll_interval = Duration::from_millis(50);
    let app = App::build(config).await?;
    let base = format!("http://{}/graphql", app.local_addr());
    tokio::spawn(app.run_until(std::future::pending()));
    Ok(base)
}

async fn gql(
    http: &reqwest::Client,
    url: &str,
    query: &str,
    variables: Value,
) -> anyhow::Result<Value> {
    Ok(http
        .post(url)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await?
        .json()
        .await?)
}
