//! Signing in with a second factor: `login` answering MFA_REQUIRED with a
//! ticket, `verifyMfa` completing it with a TOTP code or a recovery code,
//! the ticket single use and short-lived, a typo not losing it, and racing
//! completions with one winner.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use sns_api::entity::{mfa_ticket, session};

use crate::common::*;
use crate::mfa_common::{Account, recovery_codes};
use crate::otp::{code_at, settled_now};

pub const LOGIN_MFA: &str = "mutation($i: LoginInput!) { login(input: $i) { accessToken refreshToken mfaTicket user { id } errors { code field retryAfterSeconds } } }";
pub const VERIFY_MFA: &str = "mutation($i: VerifyMfaInput!) { verifyMfa(input: $i) { accessToken refreshToken mfaTicket user { id } errors { code field retryAfterSeconds } } }";

/// An account with TOTP on, confirmed with the code of the step before
/// `at` (a settled time): the codes of `at`'s step and the next are
/// still unused, good for two uses without waiting.
pub struct WithTotp {
    pub account: Account,
    pub secret: String,
    pub recovery: Vec<String>,
    pub at: i64,
}

impl WithTotp {
    pub async fn new(app: &TestApp, tag: &str) -> Self {
        let account = Account::new(app, tag).await;
        let secret = app.enrolled(&account.token).await;
        let at = settled_now().await;
        let payload = app
            .confirm(&account.token, &code_at(&secret, at - 30))
            .await;
        assert_eq!(payload["errors"], json!([]), "{payload}");
        Self {
            recovery: recovery_codes(&payload),
            account,
            secret,
            at,
        }
    }

    /// The code of the step `offset` steps after the settled one (0 or 1).
    pub fn code(&self, offset: i64) -> String {
        code_at(&self.secret, self.at + offset * 30)
    }
}

/// The claims of an access token (not verified: the server did that).
pub fn claims(token: &str) -> Value {
    use base64::Engine as _;
    let part = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// (amr, aal) of an access token.
pub fn level(token: &str) -> (Value, Value) {
    let c = claims(token);
    (c["amr"].clone(), c["aal"].clone())
}

pub fn aal2() -> (Value, Value) {
    (json!(["pwd", "otp"]), json!("aal2"))
}

pub fn aal1() -> (Value, Value) {
    (json!(["pwd"]), json!("aal1"))
}

impl TestApp {
    /// `login` with its `mfaTicket`; answers the payload.
    pub async fn login_mfa(&self, email: &str, password: &str) -> Value {
        let body = self
            .gql(
                LOGIN_MFA,
                json!({"i": {"email": email, "password": password}}),
                None,
            )
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        body["data"]["login"].clone()
    }

    /// The ticket of a login that asked for the second factor.
    pub async fn login_ticket(&self, email: &str) -> String {
        let payload = self.login_mfa(email, PASSWORD).await;
        assert_eq!(payload_codes(&payload), ["MFA_REQUIRED"], "{payload}");
        payload["mfaTicket"].as_str().unwrap().to_owned()
    }

    /// `verifyMfa`; answers the whole body (top-level errors included).
    pub async fn verify_mfa(&self, input: Value, token: Option<&str>) -> Value {
        self.gql(VERIFY_MFA, json!({ "i": input }), token).await
    }

    /// `verifyMfa`'s payload; asserts no top-level error.
    pub async fn verified(&self, input: Value, token: Option<&str>) -> Value {
        let body = self.verify_mfa(input, token).await;
        assert!(body.get("errors").is_none(), "{body}");
        body["data"]["verifyMfa"].clone()
    }
}

/// The (code, field) of a payload's only error.
pub fn only_error(payload: &Value) -> (String, String) {
    let errors = payload["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{payload}");
    let field = errors[0]["field"]
        .as_array()
        .map(|f| {
            f.iter()
                .map(|p| p.as_str().unwrap())
                .collect::<Vec<_>>()
                .join(".")
        })
        .unwrap_or_default();
    (errors[0]["code"].as_str().unwrap().to_owned(), field)
}

pub fn refused(payload: &Value, code: &str, field: &str) {
    assert_eq!(
        only_error(payload),
        (code.to_owned(), field.to_owned()),
        "{payload}"
    );
    assert!(payload["accessToken"].is_null(), "{payload}");
    assert!(payload["refreshToken"].is_null(), "{payload}");
}

#[tokio::test]
async fn with_totp_on_login_answers_a_ticket_and_a_code_completes_it_at_aal2() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    // Before TOTP, a password alone signs in, at aal1.
    let plain = Account::new(&app, "plain").await;
    let payload = app.login_mfa(&plain.email, PASSWORD).await;
    assert_eq!(payload["errors"], json!([]), "{payload}");
    assert!(payload["mfaTicket"].is_null(), "{payload}");
    assert_eq!(level(payload["accessToken"].as_str().unwrap()), aal1());

    let a = WithTotp::new(&app, "signin").await;
    let sessions_before = session::Entity::find()
        .filter(session::Column::UserId.eq(a.account.id))
        .all(&app.db)
        .await
        .unwrap()
        .len();
    let payload = app.login_mfa(&a.account.email, PASSWORD).await;
    assert_eq!(
        only_error(&payload),
        ("MFA_REQUIRED".to_owned(), String::new())
    );
    assert!(payload["accessToken"].is_null(), "{payload}");
    assert!(payload["refreshToken"].is_null(), "{payload}");
    assert!(payload["user"].is_null(), "{payload}");
    let ticket = payload["mfaTicket"].as_str().expect("a ticket").to_owned();
    assert_eq!(ticket.len(), 43, "256 bits, base64url");
    // Only the ticket's hash is stored, and no session was opened yet.
    let stored = mfa_ticket::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.hash)
        .collect::<Vec<_>>();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], ticket);
    let sessions_after = session::Entity::find()
        .filter(session::Column::UserId.eq(a.account.id))
        .all(&app.db)
        .await
        .unwrap()
        .len();
    assert_eq!(
        sessions_after, sessions_before,
        "no session before the code"
    );

    let done = app
        .verified(json!({"ticket": ticket, "code": a.code(0)}), None)
        .await;
    assert_eq!(done["errors"], json!([]), "{done}");
    assert!(done["mfaTicket"].is_null());
    assert_eq!(done["user"]["id"], a.account.id.to_string());
    let (access, refresh) = pair(&done);
    assert_eq!(level(&access), aal2());
    let me = app.me(&access).await;
    assert_eq!(me["data"]["me"]["id"], a.account.id.to_string(), "{me}");

    // Refresh keeps the session's level.
    let refreshed = app.refresh(&refresh).await;
    assert_eq!(refreshed["errors"], json!([]), "{refreshed}");
    let (again, _) = pair(&refreshed);
    assert_eq!(level(&again), aal2());
    assert_eq!(claims(&again)["sid"], claims(&access)["sid"]);
}

#[tokio::test]
async fn a_recovery_code_completes_a_sign_in_once_and_a_used_one_is_refused() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let a = WithTotp::new(&app, "recovery").await;
    let first = app.login_ticket(&a.account.email).await;
    let done = app
        .verified(
            json!({"ticket": first, "recoveryCode": a.recovery[0]}),
            None,
        )
        .await;
    assert_eq!(done["errors"], json!([]), "{done}");
    assert_eq!(level(done["accessToken"].as_str().unwrap()), aal2());

    let second = app.login_ticket(&a.account.email).await;
    let again = app
        .verified(
            json!({"ticket": second, "recoveryCode": a.recovery[0]}),
            None,
        )
        .await;
    refused(&again, "INVALID_CODE", "input.recoveryCode");
    // The ticket outlives the wrong code: another recovery code completes it.
    let other = app
        .verified(
            json!({"ticket": second, "recoveryCode": a.recovery[1]}),
            None,
        )
        .await;
    assert_eq!(other["errors"], json!([]), "{other}");
}

#[tokio::test]
async fn a_ticket_is_single_use_and_expires_and_an_unknown_one_is_refused() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let a = WithTotp::new(&app, "ticket").await;
    let ticket = app.login_ticket(&a.account.email).await;
    let done = app
        .verified(json!({"ticket": ticket, "code": a.code(0)}), None)
        .await;
    assert_eq!(done["errors"], json!([]), "{done}");
    let reused = app
        .verified(json!({"ticket": ticket, "code": a.code(1)}), None)
        .await;
    refused(&reused, "INVALID_TOKEN", "input.ticket");

    let expired = app.login_ticket(&a.account.email).await;
    mfa_ticket::Entity::update_many()
        .col_expr(
            mfa_ticket::Column::ExpiresAt,
            Expr::value(chrono::Utc::now() - chrono::Duration::seconds(1)),
        )
        .filter(mfa_ticket::Column::UserId.eq(a.account.id))
        .exec(&app.db)
        .await
        .unwrap();
    let late = app
        .verified(json!({"ticket": expired, "code": a.code(1)}), None)
        .await;
    refused(&late, "INVALID_TOKEN", "input.ticket");

    for unknown in ["x", &"A".repeat(43), &"é".repeat(2000)] {
        let payload = app
            .verified(json!({"ticket": unknown, "code": a.code(1)}), None)
            .await;
        refused(&payload, "INVALID_TOKEN", "input.ticket");
    }
    // None of these used the code: it still completes a fresh ticket.
    let fresh = app.login_ticket(&a.account.email).await;
    let done = app
        .verified(json!({"ticket": fresh, "code": a.code(1)}), None)
        .await;
    assert_eq!(done["errors"], json!([]), "{done}");
}

#[tokio::test]
async fn both_or_neither_of_code_and_recovery_code_is_bad_input() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let a = WithTotp::new(&app, "both").await;
    let ticket = app.login_ticket(&a.account.email).await;
    for input in [
        json!({"ticket": ticket}),
        json!({"ticket": ticket, "code": a.code(0), "recoveryCode": a.recovery[0]}),
    ] {
        let body = app.verify_mfa(input, None).await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    }
    // With a token and no ticket (step-up), the same.
    let body = app.verify_mfa(json!({}), Some(&a.account.token)).await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    // Nothing was used: the ticket and the code still complete the sign-in.
    let done = app
        .verified(json!({"ticket": ticket, "code": a.code(0)}), None)
        .await;
    assert_eq!(done["errors"], json!([]), "{done}");
}

#[tokio::test]
async fn racing_completions_with_one_ticket_have_exactly_one_winner() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let a = WithTotp::new(&app, "race").await;

    let winners = |bodies: &[Value]| {
        let mut won = 0;
        for body in bodies {
            assert!(body.get("errors").is_none(), "{body}");
            let payload = &body["data"]["verifyMfa"];
            if payload["accessToken"].is_string() {
                won += 1;
            } else {
                assert_eq!(payload_codes(payload), ["INVALID_TOKEN"], "{payload}");
            }
        }
        won
    };

    let ticket = app.login_ticket(&a.account.email).await;
    let same_code = (0..5)
        .map(|_| {
            let input = json!({"i": {"ticket": ticket, "code": a.code(0)}});
            (VERIFY_MFA.to_owned(), input, None)
        })
        .collect();
    let bodies = all_at_once(&app, same_code).await;
    assert_eq!(winners(&bodies), 1, "{bodies:?}");

    let ticket = app.login_ticket(&a.account.email).await;
    let mixed = vec![
        (
            VERIFY_MFA.to_owned(),
            json!({"i": {"ticket": ticket, "code": a.code(1)}}),
            None,
        ),
        (
            VERIFY_MFA.to_owned(),
            json!({"i": {"ticket": ticket, "recoveryCode": a.recovery[0]}}),
            None,
        ),
    ];
    let bodies = all_at_once(&app, mixed).await;
    assert_eq!(winners(&bodies), 1, "{bodies:?}");
    let sessions = session::Entity::find()
        .filter(session::Column::UserId.eq(a.account.id))
        .filter(session::Column::Aal.eq(2))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(sessions.len(), 2, "one session per ticket");
}
