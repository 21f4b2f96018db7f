//! How long a logout on one instance takes to reach another on the same
//! database: N logouts at random moments, each timed from the moment
//! `logout` answers on A to the first refusal on B (B is polled every
//! millisecond).
//!
//!   cargo bench --bench propagation                          # SQLite file, 100 logouts
//!   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --bench propagation
//!   LOGOUTS=10 cargo bench --bench propagation               # quick
//!
//! A PostgreSQL or MySQL `DATABASE_URL` names a server and a database to use
//! as it is (the migrations are applied to it).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sns_api::app::App;
use sns_api::config::Config;

const SECRET: &str = "bench-secret-bench-secret-bench-secret-0";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; nothing else is read from argv.
    let logouts: usize = std::env::var("LOGOUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let dir = tempfile::tempdir()?;
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").display()
        )
    });
    let interval = std::env::var("REVOCATION_SYNC_INTERVAL")
        .ok()
        .map(|v| sns_api::config::parse_duration(&v).map_err(anyhow::Error::msg))
        .transpose()?
        .unwrap_or(Duration::from_secs(1));

    let a = spawn(&url, interval).await?;
    let b = spawn(&url, interval).await?;
    let http = reqwest::Client::new();
    let email = format!("propagation-{}@example.com", uuid::Uuid::new_v4().simple());
    let password = "correct-horse-battery";
    gql(
        &http,
        &a,
        "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }",
        json!({"i": {"email": email, "password": password}}),
        None,
    )
    .await?;

    let mut delays = Vec::with_capacity(logouts);
    for _ in 0..logouts {
        let login = gql(
            &http,
            &a,
            "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
            json!({"i": {"email": email, "password": password}}),
            None,
        )
        .await?;
        let token = login["data"]["login"]["accessToken"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        anyhow::ensure!(
            accepted(&http, &b, &token).await?,
            "B must accept the fresh token"
        );
        // A random phase against B's poll timer, as real logouts have.
        let jitter = interval.mul_f64(rand::random::<f64>());
        tokio::time::sleep(jitter).await;
        gql(
            &http,
            &a,
            "mutation { logout { revokedSessions } }",
            json!({}),
            Some(&token),
        )
        .await?;
        let start = Instant::now();
        while accepted(&http, &b, &token).await? {
            anyhow::ensure!(
                start.elapsed() < interval * 10 + Duration::from_secs(5),
                "never propagated"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        delays.push(start.elapsed());
    }
    delays.sort();
    let median = delays[delays.len() / 2];
    let worst = delays[delays.len() - 1];
    println!(
        "propagation over {} logouts on {} (REVOCATION_SYNC_INTERVAL {:?}): median {:.1} ms, worst {:.1} ms",
        logouts,
        url.split(':').next().unwrap_or_default(),
        interval,
        median.as_secs_f64() * 1000.0,
        worst.as_secs_f64() * 1000.0
    );
    Ok(())
}

async fn spawn(url: &str, interval: Duration) -> anyhow::Result<String> {
    let mut config = Config::defaults();
    config.database.url = url.parse().map_err(anyhow::Error::msg)?;
    config.bind_addr = "127.0.0.1:0".parse()?;
    config.tokens.secret = Some(SECRET.into());
    config.sessions.sync_interval = interval;
    config.rate_limits.auth_per_ip = "1000000/1s".parse().map_err(anyhow::Error::msg)?;
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
    token: Option<&str>,
) -> anyhow::Result<Value> {
    let mut req = http
        .post(url)
        .json(&json!({"query": query, "variables": variables}));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    Ok(req.send().await?.json().await?)
}

async fn accepted(http: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<bool> {
    let body = gql(http, url, "{ me { id } }", json!({}), Some(token)).await?;
    Ok(body["data"]["me"].is_object())
}
