//! The second-factor group: the key TOTP secrets are encrypted with, and the
//! WebAuthn relying party that passkeys belong to.

use clap::Args;
use secrecy::SecretString;

use super::secret;

#[derive(Debug, Clone, Args)]
pub struct Mfa {
    /// Key that encrypts TOTP secrets at rest (its UTF-8 bytes, at least 32).
    /// Without it, one is generated once and kept beside the SQLite file; with
    /// PostgreSQL or MySQL the server refuses to start without it once any
    /// account has TOTP, and answers enrollments with an error until it is set.
    #[arg(long = "totp-encryption-key", env = "TOTP_ENCRYPTION_KEY", value_name = "TOTP_ENCRYPTION_KEY", value_parser = secret, global = true, hide_env_values = true)]
    pub totp_encryption_key: Option<SecretString>,

    /// Name shown by authenticator apps beside the account (the `issuer` of
    /// the `otpauth://` URI) and by the browser's passkey prompt.
    #[arg(
        long = "mfa-issuer",
        env = "MFA_ISSUER",
        value_name = "MFA_ISSUER",
        default_value = "sns-api",
        global = true
    )]
    pub mfa_issuer: String,

    /// WebAuthn relying party id: the domain passkeys are bound to (the
    /// frontend's host, or a parent domain of it).
    #[arg(
        long = "webauthn-rp-id",
        env = "WEBAUTHN_RP_ID",
        value_name = "WEBAUTHN_RP_ID",
        default_value = "localhost",
        global = true
    )]
    pub webauthn_rp_id: String,

    /// The frontend's origin, where the WebAuthn ceremonies run. With a
    /// `localhost` origin any port is accepted (development servers move).
    #[arg(
        long = "webauthn-origin",
        env = "WEBAUTHN_ORIGIN",
        value_name = "WEBAUTHN_ORIGIN",
        default_value = "http://localhost:5173",
        global = true
    )]
    pub webauthn_origin: String,
}
