//! `login` with TOTP on beside plain `login`, in one run: the issue allows
//! the former 5% more time (the same hash dominates both). TOTP on costs no
//! extra read (folded into the login's one statement), and a ticket row is
//! written instead of a session and its refresh token. The two kinds
//! alternate, so that whatever else loads the machine weighs on both alike;
//! the medians and their ratio are printed.
//!
//!   cargo bench --bench login_mfa
//!   LOGINS=400 cargo bench --bench login_mfa

use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::{ActiveModelTrait as _, Set};
use sns_api::app::App;
use sns_api::auth::ClientInfo;
use sns_api::config::Config;
use sns_api::service::session::Authenticated;
use sns_api::service::user;

const PASSWORD: &str = "correct-horse-battery";
const PLAIN: &str = "plain@example.com";
const WITH_TOTP: &str = "totp@example.com";

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("LOGINS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::defaults();
    config.database.url = format!("sqlite://{}?mode=rwc", dir.path().join("b.db").display())
        .parse()
        .unwrap();
    config.bind_addr = "127.0.0.1:0".parse().unwrap();
    config.tokens.secret = Some("bench-secret-bench-secret-bench-secret-0".into());
    let state = App::build(config).await.unwrap().state();
    let client = ClientInfo::default();
    let mut ids = Vec::new();
    for email in [PLAIN, WITH_TOTP] {
        let signed_in = user::register(&state, email, PASSWORD, None, &client)
            .await
            .unwrap();
        ids.push(signed_in.user.id);
    }
    // Login reads only whether TOTP is confirmed, never the secret.
    sns_api::entity::totp::ActiveModel {
        user_id: Set(ids[1]),
        secret: Set("v1.unread".to_owned()),
        created_at: Set(Utc::now()),
        confirmed_at: Set(Some(Utc::now())),
        last_step: Set(None),
    }
    .insert(state.db())
    .await
    .unwrap();

    let (mut plain, mut totp) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n + 10 {
        let start = Instant::now();
        let answer = user::login(&state, PLAIN, PASSWORD, &client).await.unwrap();
        let plain_took = start.elapsed();
        assert!(matches!(answer, Authenticated::Session(_)));
        let start = Instant::now();
        let answer = user::login(&state, WITH_TOTP, PASSWORD, &client)
            .await
            .unwrap();
        let totp_took = start.elapsed();
        assert!(matches!(answer, Authenticated::MfaRequired(_)));
        // The first few warm the pool and the caches.
        if i >= 10 {
            plain.push(plain_took);
            totp.push(totp_took);
        }
    }
    let (plain, totp) = (median(plain), median(totp));
    println!("logins of each kind: {n}, alternating");
    println!("login, password only:        median {plain:?}");
    println!("login, TOTP on (a ticket):   median {totp:?}");
    println!(
        "TOTP on / password only:     {:.3}",
        totp.as_secs_f64() / plain.as_secs_f64()
    );
}
