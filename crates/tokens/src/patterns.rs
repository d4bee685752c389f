//! Stream-name patterns: an exact name, a prefix wildcard (`room-*`) or `*`.

use crate::record::MAX_PATTERN_CHARS;

/// Whether `pattern` covers the stream named `stream`.
///
/// - `*` covers every non-empty name;
/// - `prefix*` covers every name that starts with `prefix` (including `prefix` followed by
///   nothing: `room-*` covers `room-`, but neither `room` nor `roomy`);
/// - anything else covers exactly that name (case-sensitive).
///
/// An empty stream name is never covered. The pattern is not validated here; patterns read from
/// a [`TokenStore`](crate::TokenStore) always satisfy [`is_valid_pattern`].
pub fn pattern_matches(pattern: &str, stream: &str) -> bool {
    if stream.is_empty() {
        return false;
    }
    match pattern.strip_suffix('*') {
        Some(prefix) => stream.starts_with(prefix),
        None => pattern == stream,
    }
}

/// Whether `pattern` is a valid stream pattern: 1 to 128 characters of `[A-Za-z0-9_.-]` with an
/// optional single trailing `*`, or `*` alone.
pub fn is_valid_pattern(pattern: &str) -> bool {
    if pattern.is_empty() || pattern.len() > MAX_PATTERN_CHARS {
        return false;
    }
    let name = pattern.strip_suffix('*').unwrap_or(pattern);
    name.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_table() {
        let cases = [
            ("*", "anything", true),
            ("*", "room-1", true),
            ("*", "", false),
            ("room-*", "room-1", true),
            ("room-*", "room-", true),
            ("room-*", "room-1-extra", true),
            ("room-*", "room", false),
            ("room-*", "roomy", false),
            ("room-*", "Room-1", false),
            ("room-*", "xroom-1", false),
            ("room*", "roomy", true),
            ("room*", "room", true),
            ("lobby", "lobby", true),
            ("lobby", "lobby2", false),
            ("lobby", "lobb", false),
            ("lobby", "Lobby", false),
            ("lobby", "", false),
        ];
        for (pattern, stream, expected) in cases {
            assert_eq!(
                pattern_matches(pattern, stream),
                expected,
                "pattern {pattern:?} vs stream {stream:?}"
            );
        }
    }

    #[test]
    fn validity_table() {
        let long_ok = "a".repeat(128);
        let long_bad = "a".repeat(129);
        let long_star_ok = format!("{}*", "a".repeat(127));
        let long_star_bad = format!("{}*", "a".repeat(128));
        let valid = [
            "*",
            "a",
            "room-*",
            "Room_1.main-2",
            "x*",
            long_ok.as_str(),
            long_star_ok.as_str(),
        ];
        for p in valid {
            assert!(is_valid_pattern(p), "{p:?} should be valid");
        }
        let invalid = [
            "",
            "**",
            "a**",
            "*a",
            "ro*om",
            "room *",
            " room",
            "room/1",
            "room?",
            "é",
            "a\n",
            long_bad.as_str(),
            long_star_bad.as_str(),
        ];
        for p in invalid {
            assert!(!is_valid_pattern(p), "{p:?} should be invalid");
        }
    }
}
