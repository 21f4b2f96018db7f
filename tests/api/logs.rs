//! The real binary at `RUST_LOG=trace`: its log never holds a password, a
//! hash or a token, whatever the request.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use sea_orm::EntityTrait;
use serde_json::json;
use sns_api::entity::user;

use crate::common::*;

#[tokio::test]
async fn no_secret_ever_reaches_the_log_even_at_trace() {
    let db = TestDb::fresh().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_sns-api"))
        .env_clear()
        .env("DATABASE_URL", &db.url)
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("JWT_SECRET", SECRET)
        .env("TOTP_ENCRYPTION_KEY", TOTP_KEY)
        .env("RUST_LOG", "trace")
        .env("LOG_FORMAT", "json")
        .env("RATE_LIMIT_AUTH_PER_IP", "1000000/1m")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            all.push(line);
        }
        all
    });
    let addr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server says where it listens");
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
            && v["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("listening"))
        {
            break v["addr"].as_str().unwrap().to_owned();
        }
    };
    let app = RemoteApp::new(&addr);

    let password = "unusual-Passphrase-4711";
    let wrong = "wrong-Passphrase-0815";
    let email = unique_email("logs");
    let inline = format!(
        "mutation {{ login(input: {{email: \"{email}\", password: \"{wrong}\"}}) {{ errors {{ code }} }} }}"
    );
    let registered = app
        .gql(
            REGISTER,
            json!({"i": {"email": email, "password": password}}),
            None,
        )
        .await;
    let token = registered["data"]["register"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    app.gql(
        LOGIN,
        json!({"i": {"email": email, "password": wrong}}),
        None,
    )
    .await;
    app.gql(&inline, json!({}), None).await;
    let second = app
        .gql(
            LOGIN,
            json!({"i": {"email": email, "password": password}}),
            None,
        )
        .await;
    let token2 = second["data"]["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    app.gql("{ me { id } }", json!({}), Some(&token)).await;
    app.gql("{ me { id } }", json!({}), Some(&format!("{token}x")))
        .await;
    app.gql(
        "mutation { logout { revokedSessions } }",
        json!({}),
        Some(&token2),
    )
    .await;

    // An authenticator app: its secret, as given and as stored, and the
    // recovery codes, used and shown.
    let enrolled = app
        .gql(
            "mutation { enrollTotp { secret } }",
            json!({}),
            Some(&token),
        )
        .await;
    let totp_secret = enrolled["data"]["enrollTotp"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    crate::otp::settled_now().await;
    let confirmed = app
        .gql(
            crate::mfa_common::CONFIRM,
            json!({"c": crate::otp::now_code(&totp_secret)}),
            Some(&token),
        )
        .await;
    let recovery = crate::mfa_common::recovery_codes(&confirmed["data"]["confirmTotp"]);
    let conn = db.connect().await;
    let sealed = sns_api::entity::totp::Entity::find()
        .one(&conn)
        .await
        .unwrap()
        .expect("a TOTP row")
        .secret;
    app.gql(
        crate::mfa_common::DISABLE,
        json!({"i": {"currentPassword": password, "code": recovery[0]}}),
        Some(&token),
    )
    .await;

    let hash = user::Entity::find()
        .one(&conn)
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    conn.close().await.ok();

    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::TERM,
    )
    .expect("SIGTERM sent");
    let status = child.wait().unwrap();
    assert!(status.success(), "SIGTERM is a clean exit: {status}");
    let log = reader.join().unwrap().join("\n");
    assert!(log.contains("signed in"), "the log was captured at all");
    assert!(log.contains("TOTP turned on"), "TOTP was turned on");
    let hash_body = hash.rsplit('$').next().unwrap();
    let signature = token.rsplit('.').next().unwrap();
    for (what, secret) in [
        ("password", password),
        ("wrong password", wrong),
        ("hash", hash_body),
        ("token", token.as_str()),
        ("token signature", signature),
        ("second token", token2.as_str()),
        ("jwt secret", SECRET),
        ("TOTP key", TOTP_KEY),
        ("TOTP secret", totp_secret.as_str()),
        ("sealed TOTP secret", sealed.as_str()),
    ] {
        assert!(!log.contains(secret), "the {what} appears in the log");
    }
    for code in &recovery {
        let plain = code.replace('-', "");
        assert!(
            !log.contains(code) && !log.contains(&plain),
            "a recovery code is logged"
        );
    }
}

/// A client for a server this test did not spawn in-process.
struct RemoteApp {
    base: String,
    http: reqwest::Client,
}

impl RemoteApp {
    fn new(addr: &str) -> Self {
        Self {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
        }
    }

    async fn gql(
        &self,
        query: &str,
        variables: serde_json::Value,
        token: Option<&str>,
    ) -> serde_json::Value {
        let mut req = self
            .http
            .post(format!("{}/graphql", self.base))
            .json(&json!({"query": query, "variables": variables}));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        req.send().await.unwrap().json().await.unwrap()
    }
}
