//! An authenticator app for the tests: RFC 6238 (HMAC-SHA-1, 30 s steps)
//! written from the RFC, apart from the server's `totp-rs`, so that a
//! mistake in how the server uses it cannot agree with itself.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha1::Sha1;

const STEP: i64 = 30;
/// A test that needs one step to last for its few requests waits while
/// the current one has fewer seconds left than this.
const MARGIN: i64 = 3;

/// The 6-digit code of `secret_base32` at `unix_seconds`.
pub fn code_at(secret_base32: &str, unix_seconds: i64) -> String {
    code_of_step(secret_base32, unix_seconds.div_euclid(STEP), 6)
}

/// The 6-digit code of the current step.
pub fn now_code(secret_base32: &str) -> String {
    code_at(secret_base32, unix_now())
}

/// The 6-digit code of the current step plus `offset` steps.
pub fn code_off(secret_base32: &str, offset: i64) -> String {
    code_at(secret_base32, unix_now() + offset * STEP)
}

/// Waits, when the current step has under three seconds left, for the
/// next one; answers the current time then, so that the few requests that
/// follow all fall in the step of that time.
pub async fn settled_now() -> i64 {
    loop {
        let now = unix_now();
        let left = STEP - now.rem_euclid(STEP);
        if left >= MARGIN {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(
            u64::try_from(left * 1000).unwrap_or(0) + 100,
        ))
        .await;
    }
}

pub fn unix_now() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is past 1970");
    i64::try_from(since.as_secs()).expect("seconds fit i64")
}

/// RFC 4226's HOTP of `step` (RFC 6238's `T`), `digits` long.
fn code_of_step(secret_base32: &str, step: i64, digits: u32) -> String {
    hotp(&decode_base32(secret_base32), step, digits)
}

fn hotp(key: &[u8], counter: i64, digits: u32) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(&counter.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = usize::from(hash[19] & 0x0f);
    let binary = u32::from_be_bytes([
        hash[offset] & 0x7f,
        hash[offset + 1],
        hash[offset + 2],
        hash[offset + 3],
    ]);
    format!(
        "{:0width$}",
        binary % 10u32.pow(digits),
        width = digits as usize
    )
}

/// RFC 4648 base32, upper or lower case, padding optional.
fn decode_base32(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').chars() {
        let value = match c.to_ascii_uppercase() {
            c @ 'A'..='Z' => c as u32 - 'A' as u32,
            c @ '2'..='7' => c as u32 - '2' as u32 + 26,
            other => panic!("not base32: {other:?}"),
        };
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    out
}

#[test]
fn the_generator_gives_the_rfc_6238_sha1_vectors() {
    // Appendix B's SHA-1 seed, "12345678901234567890", in base32.
    let seed = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    assert_eq!(decode_base32(seed), b"12345678901234567890");
    for (t, code) in [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ] {
        assert_eq!(code_of_step(seed, t / STEP, 8), code, "T = {t}");
    }
    assert_eq!(code_at(seed, 59), "287082", "6 digits: the last six");
    assert_eq!(code_at(&seed.to_lowercase(), 59), "287082");
}
