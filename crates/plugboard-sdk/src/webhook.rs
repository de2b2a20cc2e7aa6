//! Checking webhook signatures: senders such as GitHub sign the request body with a shared
//! secret (HMAC-SHA256) and put the result in a header; a route declared with
//! `auth = "none"` must check it before trusting anything in the request.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Whether `signature` is the HMAC-SHA256 of `body` under `secret`. `signature` is hex,
/// with or without GitHub's `sha256=` prefix (the `X-Hub-Signature-256` header as it
/// comes). The comparison takes the same time whatever the signature, so it does not
/// leak how much of a forged one was right. An empty secret never verifies.
///
/// ```
/// let body = br#"{"action":"opened"}"#;
/// let signature = "sha256=0b3f4f2c5a7e8a5d6a0e6c1f6b0d1b3b8c1b7f0e6c4e7a5b2d9f8e1c3a5b7d9f";
/// assert!(!plugboard_sdk::webhook::verify_hmac_sha256(b"secret", body, signature));
/// assert!(!plugboard_sdk::webhook::verify_hmac_sha256(b"", body, "sha256=00"));
/// ```
pub fn verify_hmac_sha256(secret: &[u8], body: &[u8], signature: &str) -> bool {
    if secret.is_empty() {
        return false;
    }
    let hex_digits = signature.trim().strip_prefix("sha256=").unwrap_or(signature.trim());
    let Ok(expected) = hex::decode(hex_digits) else { return false };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else { return false };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// The hex HMAC-SHA256 of `body` under `secret`, as senders compute it (for tests and
/// for plugins that sign what they send).
pub fn sign_hmac_sha256(secret: &[u8], body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this cannot happen.
        Err(_) => return String::new(),
    };
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_with_its_secret_and_body() {
        let signature = format!("sha256={}", sign_hmac_sha256(b"It's a Secret to Everybody", b"Hello, World!"));
        // GitHub's documented example value.
        assert_eq!(signature, "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
        assert!(verify_hmac_sha256(b"It's a Secret to Everybody", b"Hello, World!", &signature));
        assert!(verify_hmac_sha256(b"It's a Secret to Everybody", b"Hello, World!", &signature[7..]));
        assert!(!verify_hmac_sha256(b"another secret", b"Hello, World!", &signature));
        assert!(!verify_hmac_sha256(b"It's a Secret to Everybody", b"Hello, World?", &signature));
        assert!(!verify_hmac_sha256(b"It's a Secret to Everybody", b"Hello, World!", "sha256=not-hex"));
    }
}
