//! TOTP secrets at rest: XChaCha20-Poly1305 under a key derived (HKDF-SHA256)
//! from `TOTP_ENCRYPTION_KEY`, the account id bound in as associated data so
//! that a ciphertext copied onto another account does not decrypt. Stored as
//! `v1.` + base64url(nonce ‖ ciphertext); the version names the scheme and
//! key, for a later rotation.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore as _;
use uuid::Uuid;

const VERSION: &str = "v1.";
const NONCE_LEN: usize = 24;

/// The key TOTP secrets are sealed with. Its `Debug` shows nothing of it.
pub struct SecretKey {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// A stored secret that does not open: another key, another account, or
/// altered bytes. Says nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the stored TOTP secret does not decrypt with this key")]
pub struct Undecryptable;

impl SecretKey {
    /// From the configured key material (at least 32 bytes, checked at start).
    pub fn derive(material: &[u8]) -> Self {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"sns-api"), material);
        let mut key = [0u8; 32];
        hk.expand(b"totp-secret v1", &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        Self {
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    pub fn seal(&self, user: Uuid, secret: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: secret,
                    aad: user.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 seals any message this small");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{VERSION}{}", URL_SAFE_NO_PAD.encode(out))
    }

    pub fn open(&self, user: Uuid, stored: &str) -> Result<Vec<u8>, Undecryptable> {
        let body = stored.strip_prefix(VERSION).ok_or(Undecryptable)?;
        let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| Undecryptable)?;
        if bytes.len() <= NONCE_LEN {
            return Err(Undecryptable);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| Undecryptable)?;
        self.cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: user.as_bytes(),
                },
            )
            .map_err(|_| Undecryptable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_for_its_account() {
        let key = SecretKey::derive(&[7u8; 32]);
        let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let sealed = key.seal(alice, b"twenty bytes secret!");
        assert!(sealed.starts_with("v1."));
        assert!(!sealed.contains("twenty"));
        assert_eq!(key.open(alice, &sealed).unwrap(), b"twenty bytes secret!");
        assert_eq!(
            key.open(bob, &sealed),
            Err(Undecryptable),
            "another account"
        );
        let other = SecretKey::derive(&[8u8; 32]);
        assert_eq!(
            other.open(alice, &sealed),
            Err(Undecryptable),
            "another key"
        );
        let mut altered = sealed.clone();
        altered.pop();
        altered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(key.open(alice, &altered), Err(Undecryptable));
        assert_eq!(key.open(alice, "v2.abc"), Err(Undecryptable));
        // A fresh nonce each time: the same secret never seals the same way.
        assert_ne!(key.seal(alice, b"x"), key.seal(alice, b"x"));
    }
}
