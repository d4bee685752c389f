//! Signaling JWTs: minted by the Director, verified when a WebSocket opens.
//!
//! Time is an input (`now_unix`), so expiry is testable without a clock. The claims carry the
//! `millicast` object that the Millicast SDKs decode (`streamName`, `record`, `type`, account).
#![deny(missing_docs)]

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Issuer written into every token.
pub const ISSUER: &str = "podium";
/// Audience written into every token (the value Millicast's Director uses).
pub const AUDIENCE: &str = "MillicastDirectorResource";

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenType {
    /// Publish to one stream.
    Publish,
    /// View one stream.
    Subscribe,
}

/// The `millicast` claim object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MillicastClaims {
    /// Publish or Subscribe.
    #[serde(rename = "type")]
    pub token_type: TokenType,
    /// Account of the stream.
    pub stream_account_id: String,
    /// The one stream this token opens.
    pub stream_name: String,
    /// Whether the publisher may record (read by the publish SDK).
    #[serde(default)]
    pub record: bool,
    /// Whether `sourceId` (multisource) is allowed.
    #[serde(default)]
    pub multisource: bool,
    /// When set, the only sourceId this token may publish.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    /// Id of the API token that authorised this JWT (for revocation later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
}

/// All claims of a signaling JWT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issued at (unix seconds).
    pub iat: u64,
    /// Not before (unix seconds).
    pub nbf: u64,
    /// Expiry (unix seconds).
    pub exp: u64,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Unique id of this JWT.
    pub jti: String,
    /// Millicast-compatible grant.
    pub millicast: MillicastClaims,
}

/// Why a JWT was refused. Messages are safe to show to clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not a well-formed JWT, bad signature, wrong algorithm, issuer or audience.
    #[error("Unauthorized: Invalid token")]
    Invalid,
    /// Past its expiry.
    #[error("Unauthorized: Token expired")]
    Expired,
    /// Not valid yet.
    #[error("Unauthorized: Token not yet valid")]
    NotYetValid,
    /// Valid, but for another action.
    #[error("Unauthorized: Token is not valid for {0:?}")]
    WrongType(TokenType),
}

/// One HMAC signing key of the ring.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKey {
    /// Key id, written in the JWT header (`kid`).
    pub kid: String,
    /// The secret, hex encoded.
    secret_hex: String,
    /// When it was created (unix seconds).
    pub created_at: u64,
    /// When it stopped signing (unix seconds); it still verifies for the grace period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<u64>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// The signing keys: the newest signs, retired ones verify during a grace period.
/// Serialisable so the shell can keep it in the data directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRing {
    keys: Vec<SigningKey>,
}

impl KeyRing {
    /// A ring with one key made from `secret` (32 random bytes from the caller).
    pub fn new(secret: [u8; 32], now_unix: u64) -> Self {
        Self {
            keys: vec![SigningKey {
                kid: "k1".into(),
                secret_hex: hex_encode(&secret),
                created_at: now_unix,
                retired_at: None,
            }],
        }
    }

    /// A ring whose only key is an existing secret (kept from before key rotation existed).
    pub fn from_legacy_secret(secret: &[u8], now_unix: u64) -> Self {
        Self {
            keys: vec![SigningKey {
                kid: "k1".into(),
                secret_hex: hex_encode(secret),
                created_at: now_unix,
                retired_at: None,
            }],
        }
    }

    /// Adds a new signing key and retires the current one; drops keys retired longer than
    /// `grace_secs` ago. Returns the new key's id.
    pub fn rotate(&mut self, secret: [u8; 32], now_unix: u64, grace_secs: u64) -> String {
        for key in &mut self.keys {
            key.retired_at.get_or_insert(now_unix);
        }
        self.keys
            .retain(|k| k.retired_at.is_none_or(|r| r + grace_secs > now_unix));
        let next = self
            .keys
            .iter()
            .filter_map(|k| k.kid.strip_prefix('k')?.parse::<u64>().ok())
            .max()
            .unwrap_or(0)
            + 1;
        let kid = format!("k{next}");
        self.keys.push(SigningKey {
            kid: kid.clone(),
            secret_hex: hex_encode(&secret),
            created_at: now_unix,
            retired_at: None,
        });
        kid
    }

    /// The keys, oldest first.
    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    /// Whether the ring is usable (has a current key and only valid secrets).
    pub fn validate(&self) -> Result<(), String> {
        if !self.keys.iter().any(|k| k.retired_at.is_none()) {
            return Err("no current signing key".into());
        }
        for k in &self.keys {
            if hex_decode(&k.secret_hex).is_none_or(|s| s.len() < 16) {
                return Err(format!(
                    "signing key {} is not a hex secret of 16+ bytes",
                    k.kid
                ));
            }
        }
        Ok(())
    }
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

struct ActiveKey {
    kid: String,
    retired_at: Option<u64>,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

/// Mints and verifies signaling JWTs with a [`KeyRing`].
pub struct JwtKeys {
    keys: Vec<ActiveKey>,
    grace_secs: u64,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys(..)")
    }
}

impl JwtKeys {
    /// Keys from a ring; retired keys verify for `grace_secs` after retirement.
    pub fn new(ring: &KeyRing, grace_secs: u64) -> Result<Self, String> {
        ring.validate()?;
        let keys = ring
            .keys
            .iter()
            .map(|k| {
                let secret = hex_decode(&k.secret_hex).expect("validated above");
                ActiveKey {
                    kid: k.kid.clone(),
                    retired_at: k.retired_at,
                    encoding: EncodingKey::from_secret(&secret),
                    decoding: DecodingKey::from_secret(&secret),
                }
            })
            .collect();
        Ok(Self { keys, grace_secs })
    }

    /// Keys from a single secret (tests and tools).
    pub fn from_secret(secret: &[u8]) -> Self {
        Self::new(&KeyRing::from_legacy_secret(secret, 0), 0)
            .expect("a single fresh key is a valid ring")
    }

    fn current(&self) -> &ActiveKey {
        self.keys
            .iter()
            .rev()
            .find(|k| k.retired_at.is_none())
            .expect("validated ring has a current key")
    }

    /// Signs `grant` valid from `now_unix` for `ttl_secs`, with the current key.
    pub fn mint(
        &self,
        grant: MillicastClaims,
        now_unix: u64,
        ttl_secs: u64,
        jti: String,
    ) -> String {
        let claims = Claims {
            iat: now_unix,
            nbf: now_unix,
            exp: now_unix + ttl_secs,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            jti,
            millicast: grant,
        };
        let key = self.current();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, &claims, &key.encoding)
            .expect("HS256 signing of serialisable claims cannot fail")
    }

    /// Verifies signature (with the key named by `kid`; retired keys only within the grace
    /// period), algorithm (HS256 only: `alg:none` is refused), issuer, audience, time window
    /// at `now_unix` and the action.
    pub fn verify(
        &self,
        token: &str,
        now_unix: u64,
        expected: TokenType,
    ) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        let key = match header.kid.as_deref() {
            Some(kid) => self.keys.iter().find(|k| k.kid == kid),
            None => Some(self.current()),
        }
        .ok_or(TokenError::Invalid)?;
        if key
            .retired_at
            .is_some_and(|r| now_unix >= r + self.grace_secs)
        {
            return Err(TokenError::Invalid);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        // Time is checked below against the injected clock, not the system clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud"]);
        let data = jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation)
            .map_err(|_| TokenError::Invalid)?;
        let claims = data.claims;
        if now_unix >= claims.exp {
            return Err(TokenError::Expired);
        }
        if now_unix < claims.nbf {
            return Err(TokenError::NotYetValid);
        }
        if claims.millicast.token_type != expected {
            return Err(TokenError::WrongType(expected));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(t: TokenType) -> MillicastClaims {
        MillicastClaims {
            token_type: t,
            stream_account_id: "acct".into(),
            stream_name: "room".into(),
            record: false,
            multisource: true,
            source_id: None,
            token_id: None,
        }
    }

    #[test]
    fn round_trip_and_time_window() {
        let keys = JwtKeys::from_secret(b"0123456789abcdef0123456789abcdef");
        let jwt = keys.mint(grant(TokenType::Publish), 1000, 60, "j1".into());
        let claims = keys.verify(&jwt, 1030, TokenType::Publish).unwrap();
        assert_eq!(claims.millicast.stream_name, "room");
        assert_eq!(claims.exp, 1060);
        assert_eq!(
            keys.verify(&jwt, 1060, TokenType::Publish),
            Err(TokenError::Expired)
        );
        assert_eq!(
            keys.verify(&jwt, 999, TokenType::Publish),
            Err(TokenError::NotYetValid)
        );
        assert_eq!(
            keys.verify(&jwt, 1001, TokenType::Subscribe),
            Err(TokenError::WrongType(TokenType::Subscribe))
        );
    }

    #[test]
    fn refuses_other_keys_garbage_and_alg_none() {
        let keys = JwtKeys::from_secret(b"0123456789abcdef0123456789abcdef");
        let other = JwtKeys::from_secret(b"another-secret-another-secret-xx");
        let jwt = other.mint(grant(TokenType::Publish), 1000, 60, "j".into());
        assert_eq!(
            keys.verify(&jwt, 1001, TokenType::Publish),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            keys.verify("not.a.jwt", 1001, TokenType::Publish),
            Err(TokenError::Invalid)
        );
        // Same claims re-signed as alg:none must be refused.
        let payload = jwt.split('.').nth(1).unwrap();
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert_eq!(
            keys.verify(&none, 1001, TokenType::Publish),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn rotation_keeps_the_previous_key_for_the_grace_period_only() {
        let mut ring = KeyRing::new([1; 32], 1000);
        let old = JwtKeys::new(&ring, 300).unwrap();
        let before = old.mint(grant(TokenType::Publish), 1000, 3600, "a".into());
        assert_eq!(ring.rotate([2; 32], 2000, 300), "k2");
        let keys = JwtKeys::new(&ring, 300).unwrap();
        let after = keys.mint(grant(TokenType::Publish), 2000, 3600, "b".into());
        assert_eq!(
            jsonwebtoken::decode_header(&after).unwrap().kid.as_deref(),
            Some("k2")
        );
        assert!(
            keys.verify(&before, 2299, TokenType::Publish).is_ok(),
            "within grace"
        );
        assert_eq!(
            keys.verify(&before, 2300, TokenType::Publish),
            Err(TokenError::Invalid)
        );
        assert!(keys.verify(&after, 2300, TokenType::Publish).is_ok());
        // A later rotation drops keys past their grace period.
        ring.rotate([3; 32], 5000, 300);
        assert_eq!(
            ring.keys()
                .iter()
                .map(|k| k.kid.as_str())
                .collect::<Vec<_>>(),
            ["k2", "k3"]
        );
        // An unknown kid is refused.
        let other = JwtKeys::new(&KeyRing::new([9; 32], 0), 300).unwrap();
        let foreign = other.mint(grant(TokenType::Publish), 5000, 60, "c".into());
        assert_eq!(
            keys.verify(&foreign, 5001, TokenType::Publish),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn broken_rings_are_refused() {
        let ring: KeyRing =
            serde_json::from_str(r#"{"keys":[{"kid":"k1","secret_hex":"zz","created_at":0}]}"#)
                .unwrap();
        assert!(JwtKeys::new(&ring, 0).is_err());
        let empty: KeyRing = serde_json::from_str(r#"{"keys":[]}"#).unwrap();
        assert!(JwtKeys::new(&empty, 0).is_err());
    }

    #[test]
    fn claims_have_the_shape_the_sdk_decodes() {
        let keys = JwtKeys::from_secret(b"0123456789abcdef0123456789abcdef");
        let jwt = keys.mint(grant(TokenType::Subscribe), 5, 60, "j".into());
        let claims = keys.verify(&jwt, 6, TokenType::Subscribe).unwrap();
        let v = serde_json::to_value(&claims).unwrap();
        assert_eq!(v["millicast"]["streamName"], "room");
        assert_eq!(v["millicast"]["type"], "Subscribe");
        assert_eq!(v["millicast"]["record"], false);
    }
}
