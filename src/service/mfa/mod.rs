//! Account security: second factors and the assurance they give.
//!
//! - `secret`: TOTP secrets sealed at rest.
//! - `totp`: enrolling, confirming and disabling an authenticator app; a
//!   code checked once per time step (replays refused).
//! - `recovery`: the ten single-use recovery codes.
//! - `ticket`: a password that waits for its second factor (`mfaTicket`),
//!   and `verifyMfa` (completing a sign-in, or stepping a session up).
//! - `step_up`: `verifyMfa` with a token, raising that session to `aal2`.
//! - `gate`: the `aal2` requirement of the sensitive mutations.
//! - `passkey`: WebAuthn registration and sign-in, ceremony state in the
//!   database.

pub mod gate;
pub mod passkey;
pub mod recovery;
pub mod secret;
mod step_up;
pub mod ticket;
pub mod totp;

use std::sync::Arc;

/// What the second factors need from configuration, built at start.
#[derive(Clone)]
pub struct Factors {
    /// `None` on PostgreSQL or MySQL without `TOTP_ENCRYPTION_KEY`: nobody
    /// has TOTP (else the server refused to start), and nobody can enroll.
    pub totp_key: Option<Arc<secret::SecretKey>>,
    /// The `issuer` of `otpauth://` URIs.
    pub issuer: String,
    pub webauthn: Arc<webauthn_rs::Webauthn>,
}

impl Factors {
    /// The relying party from `WEBAUTHN_RP_ID` / `WEBAUTHN_ORIGIN`; a
    /// `localhost` origin accepts any port.
    pub fn new(
        config: &crate::config::Mfa,
        totp_key: Option<secret::SecretKey>,
    ) -> Result<Self, String> {
        use webauthn_rs::prelude::Url;
        let origin = Url::parse(&config.webauthn_origin)
            .map_err(|e| format!("WEBAUTHN_ORIGIN is not a URL: {e}"))?;
        let localhost = origin.host_str() == Some("localhost");
        let webauthn = webauthn_rs::WebauthnBuilder::new(&config.webauthn_rp_id, &origin)
            .map_err(|e| format!("WEBAUTHN_RP_ID / WEBAUTHN_ORIGIN: {e}"))?
            .rp_name(&config.mfa_issuer)
            .allow_any_port(localhost)
            .build()
            .map_err(|e| format!("WEBAUTHN_RP_ID / WEBAUTHN_ORIGIN: {e}"))?;
        Ok(Self {
            totp_key: totp_key.map(Arc::new),
            issuer: config.mfa_issuer.clone(),
            webauthn: Arc::new(webauthn),
        })
    }
}
