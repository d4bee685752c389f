//! Secrets kept in the data directory: the JWT signing key and the bootstrap publish token.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use rand::RngCore;

/// Secrets loaded at start.
#[derive(Debug, Clone)]
pub struct Secrets {
    /// HMAC key for signaling JWTs.
    pub jwt_secret: Vec<u8>,
    /// API token that may publish to any stream.
    pub publish_token: String,
    /// True when the publish token was generated on this start (so it is worth printing).
    pub publish_token_generated: bool,
}

/// Loads the secrets from `dir`, creating what is missing. A configured publish token wins
/// over the stored one and is not written to disk.
pub fn load_or_create(dir: &Path, configured_token: Option<String>) -> anyhow::Result<Secrets> {
    fs::create_dir_all(dir).with_context(|| format!("creating data dir {}", dir.display()))?;
    let (key_hex, _) = read_or_generate(&dir.join("jwt-secret"), 32)?;
    let jwt_secret =
        hex::decode(key_hex.trim()).context("jwt-secret in the data dir is not hex")?;
    let (publish_token, publish_token_generated) = match configured_token {
        Some(t) => (t, false),
        None => read_or_generate(&dir.join("publish-token"), 24)?,
    };
    Ok(Secrets {
        jwt_secret,
        publish_token,
        publish_token_generated,
    })
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
    write_private(path, &value).with_context(|| format!("writing {}", path.display()))?;
    Ok((value, true))
}

fn write_private(path: &Path, value: &str) -> std::io::Result<()> {
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

    #[test]
    fn generated_once_then_reused() {
        let dir = std::env::temp_dir().join(format!("podium-secrets-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let a = load_or_create(&dir, None).unwrap();
        assert!(a.publish_token_generated);
        assert_eq!(a.jwt_secret.len(), 32);
        let b = load_or_create(&dir, None).unwrap();
        assert!(!b.publish_token_generated);
        assert_eq!(a.publish_token, b.publish_token);
        assert_eq!(a.jwt_secret, b.jwt_secret);
        let c = load_or_create(&dir, Some("configured-token".into())).unwrap();
        assert_eq!(c.publish_token, "configured-token");
    }
}
