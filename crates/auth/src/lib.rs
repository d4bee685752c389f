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

/// Mints and verifies signaling JWTs with one HMAC key.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys(..)")
    }
}

impl JwtKeys {
    /// Keys from a secret (at least 32 random bytes in production).
    pub fn from_secret(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    /// Signs `grant` valid from `now_unix` for `ttl_secs`.
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
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing of serialisable claims cannot fail")
    }

    /// Verifies signature, algorithm (HS256 only: `alg:none` is refused), issuer, audience,
    /// time window at `now_unix` and the action.
    pub fn verify(
        &self,
        token: &str,
        now_unix: u64,
        expected: TokenType,
    ) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        // Time is checked below against the injected clock, not the system clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud"]);
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
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
