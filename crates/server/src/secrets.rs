//! Secrets kept in the data directory: the JWT signing key ring, the bootstrap publish
//! token and the admin secret.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use podium_auth::KeyRing;
use rand::RngCore;

/// File of the JWT signing keys (JSON).
pub const KEY_RING_FILE: &str = "jwt-keys.json";

/// Secrets loaded at start.
#[derive(Debug, Clone)]
pub struct Secrets {
    /// Keys for signaling JWTs.
    pub key_ring: KeyRing,
    /// API token that may publish to any stream.
    pub publish_token: String,
    /// True when the publish token was generated on this start (so it is worth printing).
    pub publish_token_generated: bool,
    /// Secret of the admin API.
    pub admin_secret: String,
    /// True when the admin secret was generated on this start.
    pub admin_secret_generated: bool,
}

/// Loads the secrets from `dir`, creating what is missing. Configured values win over
/// stored ones and are not written to disk.
pub fn load_or_create(
    dir: &Path,
    configured_publish_token: Option<String>,
    configured_admin_secret: Option<String>,
    now_unix: u64,
) -> anyhow::Result<Secrets> {
    fs::create_dir_all(dir).with_context(|| format!("creating data dir {}", dir.display()))?;
    let key_ring = load_or_create_key_ring(dir, now_unix)?;
    let (publish_token, publish_token_generated) = match configured_publish_token {
        Some(t) => (t, false),
        None => read_or_generate(&dir.join("publish-token"), 24)?,
    };
    let (admin_secret, admin_secret_generated) = match configured_admin_secret {
        Some(t) => (t, false),
        None => read_or_generate(&dir.join("admin-secret"), 24)?,
    };
    Ok(Secrets {
        key_ring,
        publish_token,
        publish_token_generated,
        admin_secret,
        admin_secret_generated,
    })
}

/// The path of the key ring in `dir`.
pub fn key_ring_path(dir: &Path) -> PathBuf {
    dir.join(KEY_RING_FILE)
}

/// Reads the key ring (for reloading after `podium keys rotate`).
pub fn read_key_ring(dir: &Path) -> anyhow::Result<KeyRing> {
    let path = key_ring_path(dir);
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let ring: KeyRing =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    ring.validate()
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(ring)
}

/// Adds a new signing key to the ring in `dir` and retires the current one, which keeps
/// verifying for `grace_secs`. Returns the new key id.
pub fn rotate_keys(dir: &Path, now_unix: u64, grace_secs: u64) -> anyhow::Result<String> {
    let mut ring = load_or_create_key_ring(dir, now_unix)?;
    let kid = ring.rotate(random_32(), now_unix, grace_secs);
    write_key_ring(dir, &ring)?;
    Ok(kid)
}

fn load_or_create_key_ring(dir: &Path, now_unix: u64) -> anyhow::Result<KeyRing> {
    if key_ring_path(dir).exists() {
        return read_key_ring(dir);
    }
    // Data dirs from before key rotation kept one secret in `jwt-secret`.
    let legacy = dir.join("jwt-secret");
    let ring = match fs::read_to_string(&legacy) {
        Ok(hex_secret) => {
            let secret = hex::decode(hex_secret.trim()).context("jwt-secret is not hex")?;
            KeyRing::from_legacy_secret(&secret, now_unix)
        }
        Err(_) => KeyRing::new(random_32(), now_unix),
    };
    write_key_ring(dir, &ring)?;
    Ok(ring)
}

/// Replaces the key ring file in `dir` (atomically).
pub fn write_key_ring(dir: &Path, ring: &KeyRing) -> anyhow::Result<()> {
    let path = key_ring_path(dir);
    let tmp = dir.join(format!(".{KEY_RING_FILE}.tmp"));
    let _ = fs::remove_file(&tmp);
    let text = serde_json::to_string_pretty(ring).expect("key ring serialises");
    write_private(&tmp, &text).with_context(|| format!("writing {}", tmp.display()))?;
    // Rename is atomic: a running server never reads a half-written ring.
    fs::rename(&tmp, &path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

fn random_32() -> [u8; 32] {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    raw
}

fn read_or_generate(path: &Path, bytes: usize) -> anyhow::Result<(String, bool)> {
    match fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => return Ok((s.trim().to_owned(), false)),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    let mut raw = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut raw);
    let value = hex::encode(raw);
    let _ = fs::remove_file(path);
    write_private(path, &value).with_context(|| format!("writing {}", path.display()))?;
    Ok((value, true))
}

pub(crate) fn write_private(path: &Path, value: &str) -> std::io::Result<()> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(value.as_bytes())?;
    f.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("podium-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn generated_once_then_reused() {
        let dir = temp_dir("secrets");
        let a = load_or_create(&dir, None, None, 100).unwrap();
        assert!(a.publish_token_generated && a.admin_secret_generated);
        let b = load_or_create(&dir, None, None, 200).unwrap();
        assert!(!b.publish_token_generated && !b.admin_secret_generated);
        assert_eq!(a.publish_token, b.publish_token);
        assert_eq!(a.key_ring, b.key_ring);
        let c = load_or_create(&dir, Some("configured-token".into()), None, 300).unwrap();
        assert_eq!(c.publish_token, "configured-token");
    }

    #[test]
    fn rotation_is_persisted() {
        let dir = temp_dir("rotate");
        let first = load_or_create(&dir, None, None, 100).unwrap().key_ring;
        assert_eq!(rotate_keys(&dir, 200, 60).unwrap(), "k2");
        let ring = read_key_ring(&dir).unwrap();
        assert_eq!(ring.keys().len(), 2);
        assert_eq!(ring.keys()[0].kid, first.keys()[0].kid);
        assert_eq!(ring.keys()[0].retired_at, Some(200));
    }

    #[test]
    fn a_legacy_secret_is_imported() {
        let dir = temp_dir("legacy");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("jwt-secret"), "00112233445566778899aabbccddeeff\n").unwrap();
        let keys =
            podium_auth::JwtKeys::new(&load_or_create(&dir, None, None, 1).unwrap().key_ring, 0)
                .unwrap();
        let legacy = podium_auth::JwtKeys::from_secret(
            &hex::decode("00112233445566778899aabbccddeeff").unwrap(),
        );
        let grant = podium_auth::MillicastClaims {
            token_type: podium_auth::TokenType::Subscribe,
            stream_account_id: "a".into(),
            stream_name: "s".into(),
            record: false,
            multisource: false,
            source_id: None,
            token_id: None,
        };
        let jwt = legacy.mint(grant, 10, 60, "j".into());
        assert!(keys
            .verify(&jwt, 11, podium_auth::TokenType::Subscribe)
            .is_ok());
    }
}
