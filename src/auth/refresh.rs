//! Refresh tokens: opaque, 256 bits, base64url (43 characters). Stored only
//! as their SHA-256. Each rotation derives the next token from the presented
//! one with a keyed HMAC, so that a racing second tab presenting the same
//! token within the grace window can be answered with the very token the
//! first refresh produced, without storing any token text.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest, Sha256};

/// 32 bytes in unpadded base64url.
pub const TOKEN_LEN: usize = 43;

/// A refresh token's text. Its `Debug` never shows it.
#[derive(Clone, Debug)]
pub struct RefreshToken(SecretString);

impl PartialEq for RefreshToken {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl RefreshToken {
    /// Accepts exactly 43 base64url characters that decode to 32 bytes;
    /// anything else (an access token, a truncated copy) is `None`.
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.len() != TOKEN_LEN
            || !raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
        (bytes.len() == 32).then(|| Self(raw.into()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn into_string(self) -> String {
        self.expose().to_owned()
    }

    /// What the database stores: lower-case hex SHA-256 of the text.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.expose().as_bytes()))
    }
}

/// The key that chains rotations. Derived from the signing secret with a
/// label, so it is never the signing key itself.
pub struct RefreshKeys {
    chain_key: [u8; 32],
}

impl RefreshKeys {
    pub fn derive(secret: &[u8]) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(b"sns-api refresh-token rotation v1");
        Self {
            chain_key: mac.finalize().into_bytes().into(),
        }
    }

    /// A new random token, for a new session.
    pub fn generate(&self) -> RefreshToken {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        RefreshToken(URL_SAFE_NO_PAD.encode(bytes).into())
    }

    /// The token that replaces `token` when it is rotated.
    pub fn next(&self, token: &RefreshToken) -> RefreshToken {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.chain_key).expect("HMAC takes any key length");
        mac.update(token.expose().as_bytes());
        RefreshToken(URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_rotations_chain_deterministically() {
        let keys = RefreshKeys::derive(b"0123456789abcdef0123456789abcdef");
        let t = keys.generate();
        assert_eq!(t.expose().len(), TOKEN_LEN);
        assert_eq!(RefreshToken::parse(t.expose()), Some(t.clone()));
        let n = keys.next(&t);
        assert_ne!(n, t);
        assert_eq!(
            keys.next(&t),
            n,
            "the same token always rotates to the same successor"
        );
        assert!(RefreshToken::parse(n.expose()).is_some());
        let other = RefreshKeys::derive(b"another-secret-another-secret-xx");
        assert_ne!(
            other.next(&t),
            n,
            "the successor depends on the server's key"
        );
        assert_eq!(t.hash().len(), 64);
        assert_ne!(t.hash(), n.hash());
    }

    #[test]
    fn wrong_length_alphabet_or_kind_is_refused() {
        let keys = RefreshKeys::derive(b"0123456789abcdef0123456789abcdef");
        let good = keys.generate().into_string();
        for bad in [
            String::new(),
            good[..42].to_owned(),
            format!("{good}A"),
            format!("{}+", &good[..42]),
            format!("{}=", &good[..42]),
            "eyJ0eXAiOiJhdCtqd3QiLCJhbGciOiJIUzI1NiJ9.e30.sig".to_owned(),
            "ä".repeat(21),
        ] {
            assert!(RefreshToken::parse(&bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn debug_hides_the_token() {
        let keys = RefreshKeys::derive(b"0123456789abcdef0123456789abcdef");
        let t = keys.generate();
        assert!(!format!("{t:?}").contains(t.expose()));
    }

    proptest::proptest! {
        #[test]
        fn parsing_any_text_never_panics(raw in "\\PC{0,100}") {
            if let Some(t) = RefreshToken::parse(&raw) {
                proptest::prop_assert_eq!(t.expose().len(), TOKEN_LEN);
            }
        }
    }
}
