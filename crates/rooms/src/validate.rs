//! Input validation for usernames and room names.

use crate::error::RoomError;

/// Longest accepted username, in characters (Unicode scalar values), after trimming.
pub const MAX_USERNAME_CHARS: usize = 32;
/// Longest accepted room name, in characters, after trimming.
pub const MAX_ROOM_NAME_CHARS: usize = 80;
/// Longest room id the shell may supply, in bytes.
pub const MAX_ROOM_ID_LEN: usize = 128;
/// The delivery group of all authenticated connections; no room may use it as its id.
pub const SPACES: &str = "spaces";

/// Validates a username and returns its canonical form.
///
/// Leading and trailing whitespace is trimmed and runs of inner spaces collapse to one, so
/// `" Ann  Lee "` becomes `"Ann Lee"`. The result has 1 to [`MAX_USERNAME_CHARS`] characters,
/// each a letter or digit (any script), a space, `_`, `-` or `.`, and at least one letter or
/// digit.
pub fn normalize_username(raw: &str) -> Result<String, RoomError> {
    let mut name = String::with_capacity(raw.len());
    for word in raw.trim().split(' ').filter(|w| !w.is_empty()) {
        if !name.is_empty() {
            name.push(' ');
        }
        name.push_str(word);
    }
    if name.is_empty() {
        return Err(RoomError::UsernameMissing);
    }
    if let Some(bad) = name
        .chars()
        .find(|&c| !(c.is_alphanumeric() || matches!(c, ' ' | '_' | '-' | '.')))
    {
        return Err(RoomError::UsernameInvalidChar(bad));
    }
    if name.chars().count() > MAX_USERNAME_CHARS {
        return Err(RoomError::UsernameTooLong);
    }
    if !name.chars().any(char::is_alphanumeric) {
        return Err(RoomError::UsernameNoAlphanumeric);
    }
    Ok(name)
}

/// The key under which usernames are unique: `Ann` and `ANN` cannot both be connected.
pub(crate) fn username_key(name: &str) -> String {
    name.to_lowercase()
}

/// Validates a room name and returns it trimmed.
///
/// The result has 1 to [`MAX_ROOM_NAME_CHARS`] characters and no control characters
/// (`\n`, `\t`, …) nor invisible formatting characters that can disguise a name (zero-width
/// spaces and joiners, bidirectional overrides, the byte-order mark). Anything else, emoji
/// included, is allowed.
pub fn normalize_room_name(raw: &str) -> Result<String, RoomError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(RoomError::RoomNameMissing);
    }
    if name
        .chars()
        .any(|c| c.is_control() || is_invisible_format(c))
    {
        return Err(RoomError::RoomNameInvalidChar);
    }
    if name.chars().count() > MAX_ROOM_NAME_CHARS {
        return Err(RoomError::RoomNameTooLong);
    }
    Ok(name.to_owned())
}

/// Zero-width characters, bidirectional embeddings/overrides/isolates and the BOM.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// Whether the shell-supplied room id can name a new room's stream and socket.io room.
pub(crate) fn is_usable_room_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ROOM_ID_LEN
        && id != SPACES
        && !id.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_trimmed_and_inner_spaces_collapsed() {
        assert_eq!(normalize_username("  Ann   Lee ").unwrap(), "Ann Lee");
        assert_eq!(normalize_username("a_b-c.d 9").unwrap(), "a_b-c.d 9");
        assert_eq!(normalize_username("José Ñandú").unwrap(), "José Ñandú");
        assert_eq!(normalize_username("张伟").unwrap(), "张伟");
    }

    #[test]
    fn username_refusals() {
        assert_eq!(normalize_username(""), Err(RoomError::UsernameMissing));
        assert_eq!(normalize_username("   "), Err(RoomError::UsernameMissing));
        assert_eq!(
            normalize_username("ann!"),
            Err(RoomError::UsernameInvalidChar('!'))
        );
        assert_eq!(
            normalize_username("a\tb"),
            Err(RoomError::UsernameInvalidChar('\t'))
        );
        assert_eq!(
            normalize_username("a<script>"),
            Err(RoomError::UsernameInvalidChar('<'))
        );
        assert_eq!(
            normalize_username("a\u{200B}b"),
            Err(RoomError::UsernameInvalidChar('\u{200B}'))
        );
        assert_eq!(
            normalize_username("..."),
            Err(RoomError::UsernameNoAlphanumeric)
        );
        assert_eq!(
            normalize_username(&"x".repeat(MAX_USERNAME_CHARS + 1)),
            Err(RoomError::UsernameTooLong)
        );
    }

    #[test]
    fn username_length_counts_characters_not_bytes() {
        let name = "é".repeat(MAX_USERNAME_CHARS);
        assert_eq!(normalize_username(&name).unwrap(), name);
    }

    #[test]
    fn invalid_char_message_escapes_the_character() {
        let msg = RoomError::UsernameInvalidChar('\n').to_string();
        assert!(msg.ends_with("(not '\\n')"), "{msg}");
    }

    #[test]
    fn username_keys_ignore_case() {
        assert_eq!(username_key("Ann"), username_key("aNN"));
        assert_eq!(username_key("ÉLISE"), username_key("élise"));
    }

    #[test]
    fn room_names() {
        assert_eq!(
            normalize_room_name("  Morning chat ☕ ").unwrap(),
            "Morning chat ☕"
        );
        assert_eq!(normalize_room_name(" \n "), Err(RoomError::RoomNameMissing));
        assert_eq!(
            normalize_room_name("a\nb"),
            Err(RoomError::RoomNameInvalidChar)
        );
        assert_eq!(
            normalize_room_name("abc\u{202E}def"),
            Err(RoomError::RoomNameInvalidChar)
        );
        assert_eq!(
            normalize_room_name(&"r".repeat(MAX_ROOM_NAME_CHARS + 1)),
            Err(RoomError::RoomNameTooLong)
        );
        let longest = "ü".repeat(MAX_ROOM_NAME_CHARS);
        assert_eq!(normalize_room_name(&longest).unwrap(), longest);
    }

    #[test]
    fn room_ids() {
        assert!(is_usable_room_id("0b0e6a4c-4a8e-4b8e-9a36-0d5f1f3f4f2e"));
        assert!(!is_usable_room_id(""));
        assert!(!is_usable_room_id(SPACES));
        assert!(!is_usable_room_id(&"a".repeat(MAX_ROOM_ID_LEN + 1)));
        assert!(!is_usable_room_id("a\nb"));
    }
}
