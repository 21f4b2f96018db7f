//! Access tokens: HS256 JWTs with `typ: at+jwt`, every claim required with
//! its type, the algorithm pinned and no header field that could pick a key.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const TOKEN_TYPE: &str = "at+jwt";
/// Clock skew tolerated on `exp`, `nbf` and `iat` (the contract allows up to 30 s).
pub const LEEWAY_SECS: u64 = 10;
/// No access token we issue comes near this; longer input is not even parsed.
const MAX_TOKEN_LEN: usize = 4096;

/// The claims of an access token. Each is required: a token missing one, or
/// carrying one of another type, does not deserialise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: Uuid,
    pub sid: Uuid,
    pub jti: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

/// Why a token was refused; for the log, never shown to the client, and
/// never holding the token itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("forbidden or unexpected header")]
    Header,
    #[error("bad signature, claims or times")]
    Invalid,
}

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
}

/// A freshly signed access token and when it expires.
pub struct IssuedToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl JwtKeys {
    /// HS256 with the secret's bytes as they are.
    pub fn hs256(secret: &[u8], issuer: &str, audience: &str, ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn issue(
        &self,
        user: Uuid,
        session: Uuid,
        now: DateTime<Utc>,
    ) -> Result<IssuedToken, jsonwebtoken::errors::Error> {
        let expires_at = now + self.ttl;
        let mut jti = [0u8; 16];
        rand::rng().fill_bytes(&mut jti);
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user,
            sid: session,
            jti: URL_SAFE_NO_PAD.encode(jti),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: expires_at.timestamp(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(TOKEN_TYPE.to_owned());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)?;
        Ok(IssuedToken { token, expires_at })
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        check_header(token)?;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?;
        let claims = data.claims;
        let now = Utc::now().timestamp();
        if claims.iat > now + LEEWAY_SECS as i64 || claims.jti.is_empty() {
            return Err(TokenError::Invalid);
        }
        Ok(claims)
    }
}

/// Only `alg: HS256` and `typ: at+jwt` may stand in the header: `kid`, `jku`,
/// `jwk`, `x5u`, `x5c`, `crit` and anything else are refused, so that no header
/// field can choose or fetch a key (RFC 8725, 3.10).
fn check_header(token: &str) -> Result<(), TokenError> {
    let (encoded, _) = token.split_once('.').ok_or(TokenError::Malformed)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| TokenError::Malformed)?;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)?;
    if header.keys().any(|k| k != "alg" && k != "typ") {
        return Err(TokenError::Header);
    }
    let alg = header.get("alg").and_then(|v| v.as_str());
    let typ = header.get("typ").and_then(|v| v.as_str());
    match (alg, typ) {
        (Some("HS256"), Some(t)) if t.eq_ignore_ascii_case(TOKEN_TYPE) => Ok(()),
        _ => Err(TokenError::Header),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn keys() -> JwtKeys {
        JwtKeys::hs256(SECRET, "sns-api", "sns-api", Duration::from_secs(900))
    }

    /// Builds a token by hand, so that a test can forge any header and claims.
    fn sign(header: serde_json::Value, claims: serde_json::Value) -> String {
        let h = URL_SAFE_NO_PAD.encode(header.to_string());
        let c = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{h}.{c}");
        let key = EncodingKey::from_secret(SECRET);
        let sig =
            jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key, Algorithm::HS256).unwrap();
        format!("{signing_input}.{sig}")
    }

    fn good_claims() -> serde_json::Value {
        let now = Utc::now().timestamp();
        serde_json::json!({
            "iss": "sns-api", "aud": "sns-api", "sub": Uuid::now_v7(), "sid": Uuid::now_v7(),
            "jti": "AAAAAAAAAAAAAAAAAAAAAA", "iat": now, "nbf": now, "exp": now + 600
        })
    }

    fn good_header() -> serde_json::Value {
        serde_json::json!({"alg": "HS256", "typ": "at+jwt"})
    }

    #[test]
    fn an_issued_token_verifies_and_carries_its_claims() {
        let k = keys();
        let (user, session) = (Uuid::now_v7(), Uuid::now_v7());
        let t = k.issue(user, session, Utc::now()).unwrap();
        let c = k.verify(&t.token).unwrap();
        assert_eq!((c.sub, c.sid), (user, session));
        assert_eq!(c.exp - c.iat, 900);
        assert_eq!(URL_SAFE_NO_PAD.decode(&c.jti).unwrap().len(), 16);
        let header = jsonwebtoken::decode_header(&t.token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    }

    #[test]
    fn a_hand_signed_good_token_is_accepted() {
        // Guards the forging helper: the refusals below are then about what they change.
        assert!(keys().verify(&sign(good_header(), good_claims())).is_ok());
    }

    #[test]
    fn forbidden_header_fields_are_refused() {
        for field in ["kid", "jku", "jwk", "x5u", "x5c", "crit", "cty"] {
            let mut h = good_header();
            h[field] = serde_json::json!("x");
            assert_eq!(
                keys().verify(&sign(h, good_claims())),
                Err(TokenError::Header),
                "{field}"
            );
        }
        let mut h = good_header();
        h["typ"] = serde_json::json!("JWT");
        assert_eq!(
            keys().verify(&sign(h, good_claims())),
            Err(TokenError::Header)
        );
        let mut h = good_header();
        h.as_object_mut().unwrap().remove("typ");
        assert_eq!(
            keys().verify(&sign(h, good_claims())),
            Err(TokenError::Header)
        );
    }

    #[test]
    fn every_claim_is_required_with_its_type() {
        for claim in ["iss", "aud", "sub", "sid", "jti", "iat", "nbf", "exp"] {
            let mut c = good_claims();
            c.as_object_mut().unwrap().remove(claim);
            assert!(
                keys().verify(&sign(good_header(), c)).is_err(),
                "missing {claim}"
            );
        }
        let mut c = good_claims();
        c["exp"] = serde_json::json!((Utc::now().timestamp() + 600).to_string());
        assert!(
            keys().verify(&sign(good_header(), c)).is_err(),
            "string exp"
        );
        let mut c = good_claims();
        c["sub"] = serde_json::json!(42);
        assert!(
            keys().verify(&sign(good_header(), c)).is_err(),
            "numeric sub"
        );
    }

    #[test]
    fn times_issuer_and_audience_are_checked() {
        let now = Utc::now().timestamp();
        let cases = [
            ("exp", serde_json::json!(now - 3600)),
            ("nbf", serde_json::json!(now + 3600)),
            ("iat", serde_json::json!(now + 3600)),
            ("iss", serde_json::json!("someone-else")),
            ("aud", serde_json::json!("someone-else")),
        ];
        for (claim, value) in cases {
            let mut c = good_claims();
            c[claim] = value;
            assert_eq!(
                keys().verify(&sign(good_header(), c)),
                Err(TokenError::Invalid),
                "{claim}"
            );
        }
    }

    #[test]
    fn other_keys_and_algorithms_are_refused() {
        let other = JwtKeys::hs256(
            b"another-secret-another-secret-xx",
            "sns-api",
            "sns-api",
            Duration::from_secs(60),
        );
        let t = other
            .issue(Uuid::now_v7(), Uuid::now_v7(), Utc::now())
            .unwrap();
        assert_eq!(keys().verify(&t.token), Err(TokenError::Invalid));
        // alg "none" with an empty signature.
        let h = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt"}"#);
        let c = URL_SAFE_NO_PAD.encode(good_claims().to_string());
        assert_eq!(keys().verify(&format!("{h}.{c}.")), Err(TokenError::Header));
        let mut h = good_header();
        h["alg"] = serde_json::json!("HS512");
        assert_eq!(
            keys().verify(&sign(h, good_claims())),
            Err(TokenError::Header)
        );
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for junk in [
            "",
            "a",
            "a.b",
            "a.b.c",
            "....",
            "eyJ.eyJ.x",
            &"x".repeat(5000),
            "\u{0}.\u{0}.\u{0}",
        ] {
            assert!(keys().verify(junk).is_err(), "{junk:?}");
        }
    }
}
