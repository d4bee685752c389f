//! Password hashing (Argon2id, the crate's defaults: 19 MiB, 2 passes) and the strength rule.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::error::{Error, Result};

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted (argon2 takes any length; this bounds the work per request).
pub const MAX_PASSWORD_BYTES: usize = 256;

/// Refuses a password that is too short, too long or easy to guess (zxcvbn score below 2, the
/// username and the product's name counted as known words).
pub fn check_strength(password: &str, username: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::Invalid(format!(
            "Choose a password of at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::Invalid(format!(
            "Choose a password of at most {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    let estimate = zxcvbn::zxcvbn(password, &[username, "podium"]);
    if estimate.score() < zxcvbn::Score::Two {
        let hint = estimate
            .feedback()
            .and_then(|f| f.warning())
            .map(|w| format!(" ({w})"))
            .unwrap_or_default();
        return Err(Error::Invalid(format!(
            "Choose a harder password to guess{hint}: add words or characters"
        )));
    }
    Ok(())
}

/// The PHC string of `password` under a fresh random salt.
pub fn hash(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|_| Error::Hashing)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| Error::Hashing)
}

/// Whether `password` matches the stored `phc` string (a malformed one matches nothing).
pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Spends the time a verification takes, for a username that does not exist: a sign-in
/// answers as slowly either way, so timing does not tell which usernames exist.
pub fn verify_nothing(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash("not a real password, never matches").unwrap_or_default());
    let _ = verify(password, phc);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_weak_passwords_are_refused() {
        let phc = hash("correct horse battery staple").unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify("correct horse battery staple", &phc));
        assert!(!verify("correct horse battery stapl", &phc));
        assert!(!verify("anything", "not a phc string"));
        assert_ne!(hash("same").unwrap(), hash("same").unwrap(), "salted");
        assert!(check_strength("short", "ann").is_err());
        assert!(check_strength("password1", "ann").is_err());
        assert!(
            check_strength("annann123", "annann").is_err(),
            "the username is known"
        );
        assert!(check_strength(&"x".repeat(300), "ann").is_err());
        assert!(check_strength("violet-kettle-41-drums", "ann").is_ok());
    }
}
