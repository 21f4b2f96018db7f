//! Passkeys over the API, every path an authenticator is not needed for:
//! the options begun, the challenge rules (unknown, expired, used, another
//! account's or another ceremony's), malformed answers, removal, and the
//! account's deletion. The whole ceremony with an authenticator is proved
//! in tests/clients (Chromium's virtual authenticator).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::{Value, json};
use sns_api::entity::{mail_outbox, passkey, webauthn_challenge};
use uuid::Uuid;

use crate::common::*;

mod login;
mod registration;
mod removal;

pub(super) const BEGIN_REGISTRATION: &str =
    "mutation { beginPasskeyRegistration { challengeId options } }";
pub(super) const FINISH_REGISTRATION: &str = "mutation($i: FinishPasskeyRegistrationInput!) {
    finishPasskeyRegistration(input: $i) {
        passkey { id name } errors { code field }
    }
}";
pub(super) const BEGIN_LOGIN: &str = "mutation { beginPasskeyLogin { challengeId options } }";
pub(super) const FINISH_LOGIN: &str = "mutation($i: FinishPasskeyLoginInput!) {
    finishPasskeyLogin(input: $i) { accessToken errors { code field } }
}";
pub(super) const REMOVE: &str = "mutation($id: ID!) {
    removePasskey(id: $id) { passkey { id name } errors { code field } }
}";

/// Shaped like `navigator.credentials.create()`'s answer, but signed by nobody.
pub(super) fn forged_registration() -> Value {
    json!({
        "id": "AAAA", "rawId": "AAAA", "type": "public-key",
        "response": {"attestationObject": "AAAA", "clientDataJSON": "AAAA"},
    })
}

/// Shaped like `navigator.credentials.get()`'s answer, naming `user` (the
/// user handle) if given, but signed by nobody.
pub(super) fn forged_assertion(user: Option<Uuid>) -> Value {
    json!({
        "id": "AAAA", "rawId": "AAAA", "type": "public-key",
        "response": {
            "authenticatorData": "AAAA", "clientDataJSON": "AAAA", "signature": "AAAA",
            "userHandle": user.map(|u| URL_SAFE_NO_PAD.encode(u.as_bytes())),
        },
    })
}

impl TestApp {
    /// `beginPasskeyRegistration` as `token`: (challenge id, options).
    pub(super) async fn begin_registration(&self, token: &str) -> (String, Value) {
        let body = self.gql(BEGIN_REGISTRATION, json!({}), Some(token)).await;
        let begun = &body["data"]["beginPasskeyRegistration"];
        assert!(begun["challengeId"].is_string(), "{body}");
        (
            begun["challengeId"].as_str().unwrap().to_owned(),
            begun["options"].clone(),
        )
    }

    /// `finishPasskeyRegistration`'s whole response.
    pub(super) async fn finish_registration(
        &self,
        token: &str,
        challenge: &str,
        credential: Value,
    ) -> Value {
        self.gql(
            FINISH_REGISTRATION,
            json!({"i": {"challengeId": challenge, "credential": credential, "name": "laptop"}}),
            Some(token),
        )
        .await
    }

    pub(super) async fn begin_login(&self) -> (String, Value) {
        let body = self.gql(BEGIN_LOGIN, json!({}), None).await;
        let begun = &body["data"]["beginPasskeyLogin"];
        assert!(begun["challengeId"].is_string(), "{body}");
        (
            begun["challengeId"].as_str().unwrap().to_owned(),
            begun["options"].clone(),
        )
    }

    pub(super) async fn finish_login(&self, challenge: &str, credential: Value) -> Value {
        self.gql(
            FINISH_LOGIN,
            json!({"i": {"challengeId": challenge, "credential": credential}}),
            None,
        )
        .await
    }

    pub(super) async fn user_id(&self, token: &str) -> Uuid {
        let me = self.me(token).await;
        me["data"]["me"]["id"].as_str().unwrap().parse().unwrap()
    }

    /// A passkey row as a registration stores it (its credential is not
    /// read by listing or removing).
    pub(super) async fn stored_passkey(&self, user: Uuid, name: &str) -> Uuid {
        let id = Uuid::now_v7();
        passkey::Entity::insert(passkey::ActiveModel {
            id: Set(id),
            user_id: Set(user),
            credential_hash: Set(format!("{:064x}", id.as_u128())),
            credential: Set("{}".into()),
            name: Set(Some(name.into())),
            created_at: Set(Utc::now()),
            last_used_at: Set(None),
        })
        .exec_without_returning(&self.db)
        .await
        .unwrap();
        id
    }
}

/// The payload's errors as `(code, field path)`.
pub(super) fn problems(payload: &Value) -> Vec<(String, Value)> {
    payload["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("a payload: {payload}"))
        .iter()
        .map(|e| (e["code"].as_str().unwrap().to_owned(), e["field"].clone()))
        .collect()
}

pub(super) fn invalid_challenge() -> Vec<(String, Value)> {
    vec![("INVALID_TOKEN".into(), json!(["input", "challengeId"]))]
}

pub(super) fn invalid_credential() -> Vec<(String, Value)> {
    vec![("INVALID_CREDENTIALS".into(), json!(["input", "credential"]))]
}
