//! Loading the EdDSA keys: PKCS#8 PEM text, or a path to a file holding it.

/// The key as PKCS#8 DER, which the signer takes; an error here stops the
/// start (an empty key would sign nothing anyone could verify).
pub(super) fn private_pkcs8_der(key: &ed25519_dalek::SigningKey) -> Result<Vec<u8>, String> {
    use ed25519_dalek::pkcs8::EncodePrivateKey as _;
    key.to_pkcs8_der()
        .map(|d| d.as_bytes().to_vec())
        .map_err(|_| "JWT_PRIVATE_KEY cannot be encoded as PKCS#8".to_owned())
}

/// Reads an Ed25519 private key: PKCS#8 PEM text, or a path to a file holding it.
pub fn read_private_key(value: &str) -> Result<ed25519_dalek::SigningKey, String> {
    use ed25519_dalek::pkcs8::DecodePrivateKey as _;
    let text = pem_text(value)?;
    ed25519_dalek::SigningKey::from_pkcs8_pem(&text)
        .map_err(|_| "JWT_PRIVATE_KEY is not an Ed25519 private key in PKCS#8 PEM".to_owned())
}

/// Reads Ed25519 public keys: one or more PEM blocks, or a path to a file.
pub fn read_public_keys(value: &str) -> Result<Vec<ed25519_dalek::VerifyingKey>, String> {
    use ed25519_dalek::pkcs8::DecodePublicKey as _;
    let text = pem_text(value)?;
    let blocks =
        pem::parse_many(text.as_bytes()).map_err(|_| "JWT_PUBLIC_KEYS is not PEM".to_owned())?;
    if blocks.is_empty() {
        return Err("JWT_PUBLIC_KEYS holds no PEM block".into());
    }
    blocks
        .iter()
        .map(|b| {
            ed25519_dalek::VerifyingKey::from_public_key_der(b.contents()).map_err(|_| {
                "JWT_PUBLIC_KEYS holds a block that is not an Ed25519 public key".to_owned()
            })
        })
        .collect()
}

fn pem_text(value: &str) -> Result<String, String> {
    if value.trim_start().starts_with("-----BEGIN") {
        // Environments often carry newlines as `\n`.
        return Ok(value.replace("\\n", "\n"));
    }
    std::fs::read_to_string(value.trim()).map_err(|e| format!("cannot read the key file: {e}"))
}
