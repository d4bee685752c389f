//! Token ids and secrets.
//!
//! An id is `tok_` + 16 lower-case hex characters (64 random bits). A secret is
//! `<id>.<43 base64url characters>` (32 random bytes, no padding): 64 characters in all. Only the
//! SHA-256 of the whole secret string is stored.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Prefix of every token id.
pub const ID_PREFIX: &str = "tok_";
const ID_HEX_LEN: usize = 16;
const ID_LEN: usize = ID_PREFIX.len() + ID_HEX_LEN;
const KEY_BYTES: usize = 32;
const KEY_B64_LEN: usize = 43;
/// Length of a whole secret.
pub(crate) const SECRET_LEN: usize = ID_LEN + 1 + KEY_B64_LEN;

/// Whether `id` has the shape of a token id (`tok_` + 16 lower-case hex characters).
pub fn is_valid_id(id: &str) -> bool {
    id.len() == ID_LEN
        && id.starts_with(ID_PREFIX)
        && id[ID_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A fresh random id.
pub(crate) fn new_id(rng: &mut impl RngCore) -> String {
    let mut bytes = [0u8; ID_HEX_LEN / 2];
    rng.fill_bytes(&mut bytes);
    format!("{ID_PREFIX}{}", hex::encode(bytes))
}

/// A fresh random secret for `id`.
pub(crate) fn new_secret(id: &str, rng: &mut impl RngCore) -> String {
    let mut key = [0u8; KEY_BYTES];
    rng.fill_bytes(&mut key);
    format!("{id}.{}", URL_SAFE_NO_PAD.encode(key))
}

/// The id embedded in `secret`, or `None` if the secret is malformed. Never reads more than the
/// first [`SECRET_LEN`] bytes' worth of work: longer input is refused at once.
pub(crate) fn id_of(secret: &str) -> Option<&str> {
    if secret.len() != SECRET_LEN {
        return None;
    }
    let (id, key) = secret.split_once('.')?;
    let key_ok = key.len() == KEY_B64_LEN
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (is_valid_id(id) && key_ok).then_some(id)
}

/// SHA-256 of the secret string.
pub(crate) fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Constant-time comparison of a presented secret with a stored hash.
pub(crate) fn verify(secret: &str, stored_hash: &[u8]) -> bool {
    bool::from(hash(secret).as_slice().ct_eq(stored_hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_parse_back() {
        let mut rng = rand::rng();
        for _ in 0..50 {
            let id = new_id(&mut rng);
            assert!(is_valid_id(&id), "{id}");
            let secret = new_secret(&id, &mut rng);
            assert_eq!(secret.len(), SECRET_LEN);
            assert_eq!(id_of(&secret), Some(id.as_str()));
            let h = hash(&secret);
            assert!(verify(&secret, &h));
            assert!(
                !verify(&secret, &h[..31]),
                "length mismatch must not verify"
            );
        }
    }

    #[test]
    fn malformed_secrets() {
        let good_key = "A".repeat(KEY_B64_LEN);
        let cases = [
            String::new(),
            "tok_0123456789abcdef".to_owned(),
            format!("tok_0123456789abcdef{good_key}x"),
            format!("tok_0123456789ABCDEF.{good_key}"),
            format!("tok_0123456789abcdeg.{good_key}"),
            format!("tik_0123456789abcdef.{good_key}"),
            format!("tok_0123456789abcdef.{}=", "A".repeat(KEY_B64_LEN - 1)),
            format!("tok_0123456789abcdef.{}+", "A".repeat(KEY_B64_LEN - 1)),
            format!("tok_0123456789abcde.{good_key}A"),
            format!("tok_0123456789abcdef.{good_key}A"),
            format!("tok_0123456789abcdef.{}", "é".repeat(21)),
            "x".repeat(1 << 20),
        ];
        for case in &cases {
            assert_eq!(
                id_of(case),
                None,
                "{:?}",
                crate::ValidationError::shown(case)
            );
        }
        assert_eq!(
            id_of(&format!("tok_0123456789abcdef.{good_key}")),
            Some("tok_0123456789abcdef")
        );
    }
}
