//! The public side of EdDSA mode: each Ed25519 key as a JWK, named by its
//! RFC 7638 thumbprint, for `/.well-known/jwks.json`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;

/// An Ed25519 public key as a JWK, and its RFC 7638 thumbprint as `kid`.
pub(super) fn ed25519_jwk(
    public: &ed25519_dalek::VerifyingKey,
) -> (String, serde_json::Value, DecodingKey) {
    use sha2::Digest as _;
    let x = URL_SAFE_NO_PAD.encode(public.to_bytes());
    // Members in lexicographic order, no spaces (RFC 7638, 3.2).
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    let kid = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes()));
    let jwk = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"});
    let decoding = DecodingKey::from_ed_der(&public.to_bytes());
    (kid, jwk, decoding)
}
