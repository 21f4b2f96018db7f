//! Helpers of the second-factor tests: an account with its tokens, the
//! TOTP mutations, and reading their answers.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use sns_api::entity::{mail_outbox, session};
use uuid::Uuid;

use crate::common::*;
use crate::otp::{code_off, now_code, settled_now};

pub const ENROLL: &str = "mutation { enrollTotp { secret otpauthUri } }";
pub const CONFIRM: &str = "mutation($c: String!) { confirmTotp(code: $c) { recoveryCodes errors { code field retryAfterSeconds } } }";
pub const DISABLE: &str = "mutation($i: DisableTotpInput!) { disableTotp(input: $i) { mfaEnabled errors { code field } } }";
pub const REGENERATE: &str =
    "mutation { regenerateRecoveryCodes { recoveryCodes errors { code field } } }";

/// An account signed up (its first session), with TOTP not yet on.
pub struct Account {
    pub email: String,
    pub id: Uuid,
    pub token: String,
    pub refresh: String,
}

impl Account {
    pub async fn new(app: &TestApp, tag: &str) -> Self {
        let email = unique_email(tag);
        let payload = app.register(&email, PASSWORD).await;
        assert_eq!(payload["errors"], json!([]), "{payload}");
        let (token, refresh) = pair(&payload);
        let id = payload["user"]["id"].as_str().unwrap().parse().unwrap();
        Self {
            email,
            id,
            token,
            refresh,
        }
    }

    /// Raises every session of the account to `aal2`, as `verifyMfa`
    /// would, and takes an access token at that level (by `refresh`, which
    /// issues tokens at the session's stored level).
    pub async fn step_up(&mut self, app: &TestApp) {
        session::Entity::update_many()
            .col_expr(session::Column::Aal, Expr::value(2i16))
            .col_expr(session::Column::Amr, Expr::value("pwd otp"))
            .filter(session::Column::UserId.eq(self.id))
            .exec(&app.db)
            .await
            .unwrap();
        let payload = app.refresh(&self.refresh).await;
        assert_eq!(payload["errors"], json!([]), "{payload}");
        (self.token, self.refresh) = pair(&payload);
    }
}

impl TestApp {
    pub async fn enroll(&self, token: &str) -> Value {
        self.gql(ENROLL, json!({}), Some(token)).await
    }

    /// Enrolls; answers the base32 secret.
    pub async fn enrolled(&self, token: &str) -> String {
        let body = self.enroll(token).await;
        assert!(body.get("errors").is_none(), "{body}");
        body["data"]["enrollTotp"]["secret"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn confirm(&self, token: &str, code: &str) -> Value {
        let body = self.gql(CONFIRM, json!({"c": code}), Some(token)).await;
        assert!(body.get("errors").is_none(), "{body}");
        body["data"]["confirmTotp"].clone()
    }

    /// Enrolls and confirms; answers (secret, recovery codes).
    pub async fn totp_on(&self, token: &str) -> (String, Vec<String>) {
        let secret = self.enrolled(token).await;
        settled_now().await;
        let payload = self.confirm(token, &now_code(&secret)).await;
        assert_eq!(payload["errors"], json!([]), "{payload}");
        (secret, recovery_codes(&payload))
    }

    pub async fn disable_totp(&self, token: &str, password: &str, code: &str) -> Value {
        let body = self
            .gql(
                DISABLE,
                json!({"i": {"currentPassword": password, "code": code}}),
                Some(token),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        body["data"]["disableTotp"].clone()
    }

    pub async fn regenerate(&self, token: &str) -> Value {
        let body = self.gql(REGENERATE, json!({}), Some(token)).await;
        assert!(body.get("errors").is_none(), "{body}");
        body["data"]["regenerateRecoveryCodes"].clone()
    }

    pub async fn mfa_enabled(&self, token: &str) -> bool {
        let body = self
            .gql("{ me { mfaEnabled } }", json!({}), Some(token))
            .await;
        body["data"]["me"]["mfaEnabled"]
            .as_bool()
            .unwrap_or_else(|| panic!("{body}"))
    }
}

pub fn recovery_codes(payload: &Value) -> Vec<String> {
    payload["recoveryCodes"]
        .as_array()
        .unwrap_or_else(|| panic!("recovery codes: {payload}"))
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

/// A 6-digit code that is none of the secret's five steps around now.
pub fn wrong_code(secret: &str) -> String {
    let near: Vec<_> = (-2..=2).map(|o| code_off(secret, o)).collect();
    (0..)
        .map(|n| format!("{n:06}"))
        .find(|c| !near.contains(c))
        .unwrap()
}

/// The (field, code) pairs of a payload's errors.
pub fn problems(payload: &Value) -> Vec<(String, String)> {
    payload["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("errors: {payload}"))
        .iter()
        .map(|e| {
            let field = e["field"]
                .as_array()
                .map(|f| {
                    f.iter()
                        .map(|p| p.as_str().unwrap())
                        .collect::<Vec<_>>()
                        .join(".")
                })
                .unwrap_or_default();
            (field, e["code"].as_str().unwrap().to_owned())
        })
        .collect()
}

pub fn one(field: &str, code: &str) -> Vec<(String, String)> {
    vec![(field.to_owned(), code.to_owned())]
}

pub async fn outbox_subjects(app: &TestApp, to: &str) -> Vec<String> {
    mail_outbox::Entity::find()
        .filter(mail_outbox::Column::Recipient.eq(to))
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.subject)
        .collect()
}
