//! The token and session groups: the keys tokens are signed and verified
//! with, and how long sessions live, which the session service applies.

use std::time::Duration;

use clap::Args;
use secrecy::SecretString;

use super::{parse_duration, secret};

/// What signs and checks access tokens.
#[derive(Debug, Clone, Args)]
pub struct Tokens {
    /// HS256 signing key (its UTF-8 bytes, at least 32). Without it, a key is
    /// generated once and kept beside the SQLite file; required for PostgreSQL and MySQL.
    #[arg(long = "jwt-secret", env = "JWT_SECRET", value_name = "JWT_SECRET", value_parser = secret, global = true, hide_env_values = true)]
    pub secret: Option<SecretString>,

    /// EdDSA signing key: Ed25519 in PKCS#8 PEM, or a path to one. With it,
    /// tokens are EdDSA with a `kid`, public keys are served at
    /// /.well-known/jwks.json, and JWT_SECRET is not needed.
    #[arg(long = "jwt-private-key", env = "JWT_PRIVATE_KEY", value_name = "JWT_PRIVATE_KEY", value_parser = secret, global = true, hide_env_values = true)]
    pub private_key: Option<SecretString>,

    /// Ed25519 public keys (PEM blocks, or a path) whose tokens are still
    /// accepted beside the private key's own: the previous keys of a rotation.
    #[arg(
        long = "jwt-public-keys",
        env = "JWT_PUBLIC_KEYS",
        value_name = "JWT_PUBLIC_KEYS",
        global = true
    )]
    pub public_keys: Option<String>,

    /// Lifetime of an access token.
    #[arg(long = "access-token-ttl", env = "ACCESS_TOKEN_TTL", value_name = "ACCESS_TOKEN_TTL", default_value = "15m", value_parser = parse_duration, global = true)]
    pub access_ttl: Duration,

    /// `iss` of issued tokens, required on presented ones.
    #[arg(
        long = "jwt-issuer",
        env = "JWT_ISSUER",
        value_name = "JWT_ISSUER",
        default_value = "sns-api",
        global = true
    )]
    pub issuer: String,

    /// `aud` of issued tokens, required on presented ones.
    #[arg(
        long = "jwt-audience",
        env = "JWT_AUDIENCE",
        value_name = "JWT_AUDIENCE",
        default_value = "sns-api",
        global = true
    )]
    pub audience: String,
}

/// How long sessions live and how their revocations travel.
#[derive(Debug, Clone, Args)]
pub struct Sessions {
    /// Lifetime of a session (and of its refresh token).
    #[arg(long = "refresh-token-ttl", env = "REFRESH_TOKEN_TTL", value_name = "REFRESH_TOKEN_TTL", default_value = "30d", value_parser = parse_duration, global = true)]
    pub lifetime: Duration,

    /// Absolute limit of a session, however active: then the user signs in again.
    #[arg(long = "session-max-lifetime", env = "SESSION_MAX_LIFETIME", value_name = "SESSION_MAX_LIFETIME", default_value = "90d", value_parser = parse_duration, global = true)]
    pub max_lifetime: Duration,

    /// How long a just-rotated refresh token may still be presented.
    #[arg(long = "refresh-reuse-grace", env = "REFRESH_REUSE_GRACE", value_name = "REFRESH_REUSE_GRACE", default_value = "10s", value_parser = parse_duration, global = true)]
    pub reuse_grace: Duration,

    /// How often an instance pulls revocations made by other instances.
    #[arg(long = "revocation-sync-interval", env = "REVOCATION_SYNC_INTERVAL", value_name = "REVOCATION_SYNC_INTERVAL", default_value = "1s", value_parser = parse_duration, global = true)]
    pub sync_interval: Duration,
}
