//! Token records, new-token requests and their validation, and the per-request check.

use crate::error::{Refusal, ValidationError};
use crate::patterns::{is_valid_pattern, pattern_matches};
use crate::{cidr, origin};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Longest label, in characters.
pub const MAX_LABEL_CHARS: usize = 100;
/// Longest stream pattern, in characters (including a trailing `*`).
pub const MAX_PATTERN_CHARS: usize = 128;
/// Most entries in each of `streams`, `allowed_origins` and `allowed_ips`.
pub const MAX_LIST_LEN: usize = 100;

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Publishing to the covered streams.
    Publish,
    /// Viewing the covered streams.
    Subscribe,
}

impl Action {
    /// `"publish"` or `"subscribe"` (the stored and serialised spelling).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Publish => "publish",
            Action::Subscribe => "subscribe",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses `publish` or `subscribe`, case-insensitively.
impl std::str::FromStr for Action {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("publish") {
            Ok(Action::Publish)
        } else if s.eq_ignore_ascii_case("subscribe") {
            Ok(Action::Subscribe)
        } else {
            Err("action must be \"publish\" or \"subscribe\"".to_owned())
        }
    }
}

/// The fields of a token to create (see [`TokenStore::create`](crate::TokenStore::create)).
///
/// Deserialises from camelCase JSON; `multisource`, `record`, `allowedOrigins`, `allowedIps`
/// and `expiresAt` may be omitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewToken {
    /// Human-readable name, 1 to [`MAX_LABEL_CHARS`] characters (trimmed).
    pub label: String,
    /// The one action the token allows.
    pub action: Action,
    /// Stream patterns covered: exact names, `prefix*`, or `*` (see [`pattern_matches`]).
    pub streams: Vec<String>,
    /// Whether publishing with a `sourceId` is allowed.
    #[serde(default)]
    pub multisource: bool,
    /// Whether the publisher may record (the `record` claim of the publish JWT). Only a
    /// [`Action::Publish`] token may have it.
    #[serde(default)]
    pub record: bool,
    /// Allowed `Origin` values (`scheme://host[:port]`, or `scheme://*.domain`); empty = any.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Allowed client addresses or CIDR ranges, IPv4 or IPv6; empty = any.
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    /// Unix seconds after which the token no longer authenticates; `None` = never.
    #[serde(default)]
    pub expires_at: Option<u64>,
}

impl NewToken {
    /// A token for `action` on `streams`, with no other restriction and no expiry.
    pub fn new<S: Into<String>>(
        label: impl Into<String>,
        action: Action,
        streams: impl IntoIterator<Item = S>,
    ) -> Self {
        NewToken {
            label: label.into(),
            action,
            streams: streams.into_iter().map(Into::into).collect(),
            multisource: false,
            record: false,
            allowed_origins: Vec::new(),
            allowed_ips: Vec::new(),
            expires_at: None,
        }
    }

    /// The stored form of this (validated) request: fresh, not revoked.
    pub(crate) fn into_record(self, id: String, now: u64) -> TokenRecord {
        TokenRecord {
            id,
            label: self.label,
            action: self.action,
            streams: self.streams,
            multisource: self.multisource,
            record: self.record,
            allowed_origins: self.allowed_origins,
            allowed_ips: self.allowed_ips,
            expires_at: self.expires_at,
            revoked: false,
            revoked_at: None,
            created_at: now,
        }
    }

    /// Checks every field and returns the normalised token: label trimmed, lists without
    /// duplicates, origins and IP ranges in canonical form.
    pub(crate) fn validate(self, now: u64) -> Result<NewToken, ValidationError> {
        let label = self.label.trim().to_owned();
        if label.is_empty() {
            return Err(ValidationError::EmptyLabel);
        }
        if label.chars().count() > MAX_LABEL_CHARS {
            return Err(ValidationError::LabelTooLong);
        }
        if label.chars().any(char::is_control) {
            return Err(ValidationError::LabelControlChars);
        }
        if self.record && self.action != Action::Publish {
            return Err(ValidationError::RecordNeedsPublish);
        }

        if self.streams.is_empty() {
            return Err(ValidationError::NoStreams);
        }
        let streams = normalize_list(
            self.streams,
            "streams",
            |p| is_valid_pattern(p).then(|| p.to_owned()),
            ValidationError::StreamPattern,
        )?;
        let allowed_origins = normalize_list(
            self.allowed_origins,
            "allowed origins",
            origin::normalize_allowed,
            ValidationError::Origin,
        )?;
        let allowed_ips = normalize_list(
            self.allowed_ips,
            "allowed IPs",
            cidr::normalize,
            ValidationError::Ip,
        )?;

        if let Some(expiry) = self.expires_at {
            if i64::try_from(expiry).is_err() {
                return Err(ValidationError::ExpiryOutOfRange);
            }
            if expiry <= now {
                return Err(ValidationError::ExpiryNotInFuture);
            }
        }
        Ok(NewToken {
            label,
            action: self.action,
            streams,
            multisource: self.multisource,
            record: self.record,
            allowed_origins,
            allowed_ips,
            expires_at: self.expires_at,
        })
    }
}

/// Applies `normalize` to each entry, dropping duplicates. Too many entries fail with
/// [`ValidationError::TooMany`], an invalid one with `bad(entry shortened)`.
fn normalize_list(
    entries: Vec<String>,
    field: &'static str,
    normalize: impl Fn(&str) -> Option<String>,
    bad: fn(String) -> ValidationError,
) -> Result<Vec<String>, ValidationError> {
    if entries.len() > MAX_LIST_LEN {
        return Err(ValidationError::TooMany { field });
    }
    let mut out: Vec<String> = Vec::with_capacity(entries.len());
    for entry in &entries {
        let normal = normalize(entry).ok_or_else(|| bad(ValidationError::shown(entry)))?;
        if !out.contains(&normal) {
            out.push(normal);
        }
    }
    Ok(out)
}

/// A stored API token (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    /// Public id, `tok_` + 16 hex characters; also the first part of the secret.
    pub id: String,
    /// Human-readable name.
    pub label: String,
    /// The one action the token allows.
    pub action: Action,
    /// Stream patterns covered (see [`pattern_matches`]).
    pub streams: Vec<String>,
    /// Whether publishing with a `sourceId` is allowed.
    pub multisource: bool,
    /// Whether the publisher may record (always `false` for a subscribe token).
    pub record: bool,
    /// Allowed origins, normalised; empty = any.
    pub allowed_origins: Vec<String>,
    /// Allowed addresses and CIDR ranges, normalised; empty = any.
    pub allowed_ips: Vec<String>,
    /// Unix seconds from which the token no longer authenticates; `None` = never.
    pub expires_at: Option<u64>,
    /// Whether the token was revoked.
    pub revoked: bool,
    /// When it was revoked (unix seconds), if it was.
    pub revoked_at: Option<u64>,
    /// When it was created (unix seconds).
    pub created_at: u64,
}

impl TokenRecord {
    /// Whether the token has expired at `now` (expiry is exclusive: at `expires_at` it is over).
    pub fn is_expired(&self, now: u64) -> bool {
        self.expires_at.is_some_and(|expiry| now >= expiry)
    }

    /// Whether any of the token's patterns covers `stream`.
    pub fn covers_stream(&self, stream: &str) -> bool {
        self.streams.iter().any(|p| pattern_matches(p, stream))
    }

    /// Checks that this token allows `action` on `stream` from the given `Origin` header value
    /// (`None` if the request had none) and client address. The checks run in that order and
    /// the first failure is returned.
    ///
    /// Revocation and expiry are not checked here: they are checked by
    /// [`TokenStore::authenticate`](crate::TokenStore::authenticate), which produced the record.
    pub fn check(
        &self,
        action: Action,
        stream: &str,
        origin: Option<&str>,
        ip: IpAddr,
    ) -> Result<(), Refusal> {
        if action != self.action {
            return Err(match action {
                Action::Publish => Refusal::PublishNotAllowed,
                Action::Subscribe => Refusal::ViewNotAllowed,
            });
        }
        if !self.covers_stream(stream) {
            return Err(Refusal::StreamNotAllowed);
        }
        if !origin::allowed(&self.allowed_origins, origin) {
            return Err(Refusal::OriginNotAllowed);
        }
        if !cidr::allowed(&self.allowed_ips, ip) {
            return Err(Refusal::IpNotAllowed);
        }
        Ok(())
    }

    /// Checks that a publish with the given `sourceId` is allowed: a non-empty source id needs a
    /// multisource token.
    pub fn check_source(&self, source_id: Option<&str>) -> Result<(), Refusal> {
        match source_id {
            Some(s) if !s.is_empty() && !self.multisource => Err(Refusal::MultisourceNotAllowed),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn base() -> NewToken {
        NewToken::new("studio", Action::Publish, ["room-*"])
    }

    fn record(new: NewToken) -> TokenRecord {
        new.validate(NOW)
            .unwrap()
            .into_record("tok_0123456789abcdef".into(), NOW)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn validation_errors_for_every_field() {
        type Edit = fn(&mut NewToken);
        let cases: Vec<(Edit, ValidationError)> = vec![
            (|t| t.label = String::new(), ValidationError::EmptyLabel),
            (|t| t.label = "   ".into(), ValidationError::EmptyLabel),
            (|t| t.label = "é".repeat(101), ValidationError::LabelTooLong),
            (
                |t| t.label = "a\u{7}b".into(),
                ValidationError::LabelControlChars,
            ),
            (|t| t.streams.clear(), ValidationError::NoStreams),
            (
                |t| t.streams = vec!["ok".into(), "bad name".into()],
                ValidationError::StreamPattern("bad name".into()),
            ),
            (
                |t| t.streams = vec!["a**".into()],
                ValidationError::StreamPattern("a**".into()),
            ),
            (
                |t| t.streams = vec![String::new()],
                ValidationError::StreamPattern(String::new()),
            ),
            (
                |t| t.streams = vec!["x".repeat(200)],
                ValidationError::StreamPattern(format!("{}…", "x".repeat(64))),
            ),
            (
                |t| t.streams = (0..101).map(|i| format!("s{i}")).collect(),
                ValidationError::TooMany { field: "streams" },
            ),
            (
                |t| t.allowed_origins = vec!["example.com".into()],
                ValidationError::Origin("example.com".into()),
            ),
            (
                |t| t.allowed_origins = vec!["https://example.com/app".into()],
                ValidationError::Origin("https://example.com/app".into()),
            ),
            (
                |t| t.allowed_origins = vec!["https://a.com".into(); 101],
                ValidationError::TooMany {
                    field: "allowed origins",
                },
            ),
            (
                |t| t.allowed_ips = vec!["10.0.0.0/33".into()],
                ValidationError::Ip("10.0.0.0/33".into()),
            ),
            (
                |t| t.allowed_ips = vec!["localhost".into()],
                ValidationError::Ip("localhost".into()),
            ),
            (
                |t| t.allowed_ips = vec!["10.0.0.1".into(); 101],
                ValidationError::TooMany {
                    field: "allowed IPs",
                },
            ),
            (
                |t| t.expires_at = Some(NOW),
                ValidationError::ExpiryNotInFuture,
            ),
            (
                |t| t.expires_at = Some(NOW - 1),
                ValidationError::ExpiryNotInFuture,
            ),
            (
                |t| t.expires_at = Some(0),
                ValidationError::ExpiryNotInFuture,
            ),
            (
                |t| t.expires_at = Some(u64::MAX),
                ValidationError::ExpiryOutOfRange,
            ),
            (
                |t| {
                    t.action = Action::Subscribe;
                    t.record = true;
                },
                ValidationError::RecordNeedsPublish,
            ),
        ];
        for (i, (edit, expected)) in cases.into_iter().enumerate() {
            let mut token = base();
            edit(&mut token);
            assert_eq!(token.validate(NOW), Err(expected), "case {i}");
        }
    }

    #[test]
    fn validation_normalises() {
        let mut token = base();
        token.label = "  Studio A  ".into();
        token.streams = vec!["room-*".into(), "lobby".into(), "room-*".into()];
        token.allowed_origins = vec![
            "HTTPS://Example.com:443/".into(),
            "https://example.com".into(),
        ];
        token.allowed_ips = vec!["10.9.8.7/8".into(), "2001:DB8::1".into()];
        token.expires_at = Some(NOW + 1);
        let v = token.validate(NOW).unwrap();
        assert_eq!(v.label, "Studio A");
        assert_eq!(v.streams, ["room-*", "lobby"]);
        assert_eq!(v.allowed_origins, ["https://example.com"]);
        assert_eq!(v.allowed_ips, ["10.0.0.0/8", "2001:db8::1"]);
        assert_eq!(v.expires_at, Some(NOW + 1));
        // A 100-character label is accepted.
        let mut token = base();
        token.label = "é".repeat(100);
        assert!(token.validate(NOW).is_ok());
    }

    #[test]
    fn only_publish_tokens_may_record() {
        let mut token = base();
        token.record = true;
        let v = token.validate(NOW).unwrap();
        assert!(v.record);
        let publish = record(v);
        assert!(publish.record);
        assert!(!record(base()).record, "record is off by default");
        let mut view = NewToken::new("viewer", Action::Subscribe, ["*"]);
        assert!(!view.record);
        assert!(view.clone().validate(NOW).is_ok());
        view.record = true;
        let err = view.validate(NOW).unwrap_err();
        assert_eq!(err, ValidationError::RecordNeedsPublish);
        assert_eq!(
            err.to_string(),
            "record is only allowed on publish tokens: a subscribe token cannot record"
        );
    }

    #[test]
    fn check_action_and_stream() {
        let any = ip("192.0.2.1");
        let publish = record(base());
        assert_eq!(publish.check(Action::Publish, "room-1", None, any), Ok(()));
        assert_eq!(
            publish.check(Action::Subscribe, "room-1", None, any),
            Err(Refusal::ViewNotAllowed)
        );
        assert_eq!(
            publish.check(Action::Publish, "room", None, any),
            Err(Refusal::StreamNotAllowed)
        );
        assert_eq!(
            publish.check(Action::Publish, "", None, any),
            Err(Refusal::StreamNotAllowed)
        );
        let view = record(NewToken::new(
            "viewer",
            Action::Subscribe,
            ["lobby", "stage-*"],
        ));
        assert_eq!(view.check(Action::Subscribe, "lobby", None, any), Ok(()));
        assert_eq!(view.check(Action::Subscribe, "stage-b", None, any), Ok(()));
        assert_eq!(
            view.check(Action::Publish, "lobby", None, any),
            Err(Refusal::PublishNotAllowed)
        );
        assert_eq!(
            view.check(Action::Subscribe, "lobby2", None, any),
            Err(Refusal::StreamNotAllowed)
        );
        assert_eq!(
            Refusal::StreamNotAllowed.to_string(),
            "StreamName is not valid for token"
        );
        assert_eq!(
            Refusal::PublishNotAllowed.to_string(),
            "Token does not allow publishing"
        );
        assert_eq!(
            Refusal::ViewNotAllowed.to_string(),
            "Token does not allow viewing"
        );
    }

    #[test]
    fn check_origin_and_ip() {
        let mut new = base();
        new.allowed_origins = vec!["https://studio.example.com".into()];
        new.allowed_ips = vec!["198.51.100.0/24".into(), "2001:db8:a::/48".into()];
        let token = record(new);
        let v4 = ip("198.51.100.20");
        let v6 = ip("2001:db8:a::20");
        let origin = Some("https://studio.example.com");
        assert_eq!(token.check(Action::Publish, "room-1", origin, v4), Ok(()));
        assert_eq!(token.check(Action::Publish, "room-1", origin, v6), Ok(()));
        assert_eq!(
            token.check(
                Action::Publish,
                "room-1",
                Some("https://evil.example.com"),
                v4
            ),
            Err(Refusal::OriginNotAllowed)
        );
        assert_eq!(
            token.check(Action::Publish, "room-1", None, v4),
            Err(Refusal::OriginNotAllowed)
        );
        assert_eq!(
            token.check(Action::Publish, "room-1", origin, ip("203.0.113.1")),
            Err(Refusal::IpNotAllowed)
        );
        assert_eq!(
            token.check(Action::Publish, "room-1", origin, ip("2001:db8:b::1")),
            Err(Refusal::IpNotAllowed)
        );
        // Order: the action is reported before the stream, the stream before origin and IP.
        assert_eq!(
            token.check(Action::Subscribe, "nope", None, ip("203.0.113.1")),
            Err(Refusal::ViewNotAllowed)
        );
        assert_eq!(
            token.check(Action::Publish, "nope", None, ip("203.0.113.1")),
            Err(Refusal::StreamNotAllowed)
        );
    }

    #[test]
    fn check_source_and_expiry() {
        let single = record(base());
        assert_eq!(single.check_source(None), Ok(()));
        assert_eq!(single.check_source(Some("")), Ok(()));
        assert_eq!(
            single.check_source(Some("cam2")),
            Err(Refusal::MultisourceNotAllowed)
        );
        let mut new = base();
        new.multisource = true;
        new.expires_at = Some(NOW + 60);
        let multi = record(new);
        assert_eq!(multi.check_source(Some("cam2")), Ok(()));
        assert!(!multi.is_expired(NOW + 59));
        assert!(multi.is_expired(NOW + 60));
        assert!(!single.is_expired(u64::MAX));
    }

    #[test]
    fn action_parsing_and_json() {
        assert_eq!("Publish".parse::<Action>(), Ok(Action::Publish));
        assert_eq!("SUBSCRIBE".parse::<Action>(), Ok(Action::Subscribe));
        assert!("view".parse::<Action>().is_err());
        let new: NewToken = serde_json::from_str(
            r#"{"label":"x","action":"subscribe","streams":["*"],"allowedIps":["::1"]}"#,
        )
        .unwrap();
        assert_eq!(new.action, Action::Subscribe);
        assert_eq!(new.allowed_ips, ["::1"]);
        assert!(!new.record, "record defaults to false");
        let new: NewToken = serde_json::from_str(
            r#"{"label":"x","action":"publish","streams":["*"],"record":true}"#,
        )
        .unwrap();
        assert!(new.record);
        assert!(serde_json::from_str::<NewToken>(
            r#"{"label":"x","action":"publish","streams":["*"],"record":"yes"}"#
        )
        .is_err());
        assert!(serde_json::from_str::<NewToken>(
            r#"{"label":"x","action":"subscribe","streams":["*"],"secret":"s"}"#
        )
        .is_err());
        let json = serde_json::to_value(record(base())).unwrap();
        assert_eq!(json["action"], "publish");
        assert_eq!(json["allowedOrigins"], serde_json::json!([]));
        assert_eq!(json["revoked"], false);
        assert_eq!(json["record"], false);
        let mut recording = base();
        recording.record = true;
        let json = serde_json::to_value(record(recording)).unwrap();
        assert_eq!(json["record"], true);
        assert!(serde_json::from_value::<TokenRecord>(json).unwrap().record);
    }
}
