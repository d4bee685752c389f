//! Input validation for usernames and room names.

use crate::error::RoomError;
use unicode_normalization::UnicodeNormalization;
use unicode_properties::emoji::{self, UnicodeEmoji};
use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};
use unicode_security::confusable_detection::skeleton;
use unicode_segmentation::UnicodeSegmentation;

/// Longest accepted username, in characters (Unicode scalar values), after trimming.
pub const MAX_USERNAME_CHARS: usize = 32;
/// Longest accepted room name, in characters, after trimming.
pub const MAX_ROOM_NAME_CHARS: usize = 80;
/// Longest room id the shell may supply, in bytes.
pub const MAX_ROOM_ID_LEN: usize = 128;
/// The delivery group of all authenticated connections; no room may use it as its id.
pub const SPACES: &str = "spaces";

/// Validates a username (a display name) and returns its canonical form, the name others see.
///
/// People type names as they write them: letters and digits of any script with their
/// combining marks, spaces, apostrophes (`'` and `’`), hyphens and other dashes, `_`, `.`,
/// and emoji (with skin tones, flags and joined sequences). The name is put in Unicode
/// normalization form NFKC, so compatibility variants display as the plain characters they
/// stand for: fullwidth `ａｄｍｉｎ` becomes `admin`, an ideographic or no-break space becomes a
/// space. Leading and trailing whitespace is trimmed and runs of inner spaces collapse to one,
/// so `" Ann  Lee "` becomes `"Ann Lee"`. The result has 1 to [`MAX_USERNAME_CHARS`]
/// characters as people count them (grapheme clusters: `👩🏽‍💻` is one), as typed and once
/// normalized, and at least one letter, digit or emoji. Case is kept. Control characters,
/// invisible formatting (zero-width spaces, bidirectional overrides) and symbols that could
/// pass for markup are refused, naming the character when it is visible.
///
/// Usernames are unique by look-alike, not by spelling: two names clash when they are equal
/// after NFKC, lowercasing and the Unicode confusables skeleton (UTS #39), so `Admin`,
/// `ADMIN`, `аdmin` (Cyrillic `а`) and `ａｄｍｉｎ` all clash with `admin`, `B0b` with `Bob`, and
/// `BiII` (capital `I`s) with `Bill`.
pub fn normalize_username(raw: &str) -> Result<String, RoomError> {
    let typed = collapse_spaces(raw);
    // Checked before normalizing too: NFKC can expand one character into eighteen. Bytes
    // bound the work before graphemes are counted.
    if typed.len() > MAX_USERNAME_CHARS * 32 || typed.graphemes(true).count() > MAX_USERNAME_CHARS {
        return Err(RoomError::UsernameTooLong);
    }
    let name = collapse_spaces(&typed.nfkc().collect::<String>());
    if name.is_empty() {
        return Err(RoomError::UsernameMissing);
    }
    check_name_chars(&name)?;
    if name.graphemes(true).count() > MAX_USERNAME_CHARS {
        return Err(RoomError::UsernameTooLong);
    }
    if !name.chars().any(|c| c.is_alphanumeric() || is_emoji(c)) {
        return Err(RoomError::UsernameNoAlphanumeric);
    }
    Ok(name)
}

/// Refuses a character no name needs, describing it for the person who typed it.
fn check_name_chars(name: &str) -> Result<(), RoomError> {
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let joins_emoji = || {
            // A zero-width joiner only inside an emoji sequence (👩‍💻), never between letters.
            i > 0 && i + 1 < chars.len() && is_emoji_part(chars[i - 1]) && is_emoji(chars[i + 1])
        };
        let ok = match c.general_category_group() {
            GeneralCategoryGroup::Letter
            | GeneralCategoryGroup::Mark
            | GeneralCategoryGroup::Number => true,
            _ if c == ' ' || matches!(c, '\'' | '’' | '_' | '.' | '·') => true,
            _ if c.general_category() == GeneralCategory::DashPunctuation => true,
            _ if emoji::is_zwj(c) => joins_emoji(),
            _ => is_emoji_part(c) && !c.is_ascii(),
        };
        if !ok {
            let shown = if c.is_control() || c.is_whitespace() || is_invisible_format(c) {
                "an invisible or control character".to_owned()
            } else {
                format!("“{c}”")
            };
            return Err(RoomError::UsernameInvalidChar(shown));
        }
    }
    Ok(())
}

/// A pictographic emoji (not the ASCII digits, `#` and `*` that can start keycaps).
fn is_emoji(c: char) -> bool {
    c.is_emoji_char() && !c.is_ascii()
}

/// An emoji or a piece of one: skin tones, presentation selectors, flag letters and tags.
fn is_emoji_part(c: char) -> bool {
    c.is_emoji_char_or_emoji_component()
        || emoji::is_emoji_presentation_selector(c)
        || emoji::is_tag_character(c)
}

/// Trims and collapses runs of inner spaces to one.
fn collapse_spaces(raw: &str) -> String {
    let mut name = String::with_capacity(raw.len());
    for word in raw.trim().split(' ').filter(|w| !w.is_empty()) {
        if !name.is_empty() {
            name.push(' ');
        }
        name.push_str(word);
    }
    name
}

/// The keys under which a username is unique. Two names clash when either key is equal.
///
/// Two keys are needed because case folding and the confusables skeleton disagree on `I`:
/// folding makes it `i`, the skeleton makes it `l`. One key could honour only one of them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UsernameKeys {
    /// Case-insensitive: NFKC, lowercase, skeleton, lowercase (the skeleton's prototypes can
    /// be capitals, e.g. `0` → `O`). `Admin`, `ADMIN`, `аdmin` and `adm1n`/`admln` pairs.
    pub folded: String,
    /// As typed: NFKC, skeleton, lowercase, so a capital `I` still looks like `l`
    /// (`BiII` and `Bill`), which lowercasing first would hide.
    pub shape: String,
}

impl UsernameKeys {
    /// Whether the two names would look the same to someone reading them.
    pub(crate) fn clash(&self, other: &Self) -> bool {
        self.folded == other.folded || self.shape == other.shape
    }
}

/// The uniqueness keys of a (normalized) username.
pub fn username_keys(name: &str) -> UsernameKeys {
    let nfkc: String = name.nfkc().collect();
    let folded: String = skeleton(&nfkc.to_lowercase()).collect();
    let shape: String = skeleton(&nfkc).collect();
    UsernameKeys {
        folded: folded.to_lowercase(),
        shape: shape.to_lowercase(),
    }
}

/// Longest watch-party stream name.
pub const MAX_CONTENT_STREAM_LEN: usize = 64;

/// A watch-party stream name, trimmed: what stream names are made of.
pub fn normalize_content_stream(raw: &str) -> Result<String, RoomError> {
    let name = raw.trim();
    let valid = !name.is_empty()
        && name.len() <= MAX_CONTENT_STREAM_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(name.to_owned())
    } else {
        Err(RoomError::ContentStreamInvalid)
    }
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

/// Longest chat message, in characters as people count them (grapheme clusters).
pub const MAX_CHAT_CHARS: usize = 500;
/// Longest hand-raise reason, in characters as people count them.
pub const MAX_REASON_CHARS: usize = 100;

/// Validates a chat message (or a hand-raise reason) and returns it trimmed: 1 to `max`
/// characters as people count them, line breaks allowed, no other control characters, no
/// bidirectional overrides or isolates (they can make a message read as someone else's).
/// Emoji sequences (with their joiners) are kept. Never HTML: clients show it as text.
pub fn normalize_text(raw: &str, max: usize) -> Result<String, RoomError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(RoomError::ChatEmpty);
    }
    // Bound the work before graphemes are counted (a grapheme is rarely over 32 bytes).
    if text.len() > max * 32 || text.graphemes(true).count() > max {
        return Err(RoomError::ChatTooLong { max });
    }
    let bidi = |c: char| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    if text
        .chars()
        .any(|c| (c.is_control() && c != '\n') || bidi(c) || c == '\u{FEFF}')
    {
        return Err(RoomError::ChatInvalidChar);
    }
    Ok(text.to_owned())
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
    fn names_are_accepted_as_people_type_them() {
        for name in [
            "Sinéad O'Connor",
            "D’Angelo",
            "Jean-Luc Picard",
            "Zoë 🎸",
            "👩🏽‍💻 Priya",
            "🇯🇵 Aiko",
            "🎧",
            "नमस्ते दुनिया",
            "Mary–Kate",
        ] {
            assert_eq!(normalize_username(name).as_deref(), Ok(name), "{name}");
        }
    }

    #[test]
    fn length_counts_what_people_see() {
        // A joined emoji sequence of 4 code points is one character.
        let name = "👩🏽‍💻".repeat(MAX_USERNAME_CHARS);
        assert_eq!(normalize_username(&name).as_deref(), Ok(name.as_str()));
        let long = "👩🏽‍💻".repeat(MAX_USERNAME_CHARS + 1);
        assert_eq!(normalize_username(&long), Err(RoomError::UsernameTooLong));
    }

    #[test]
    fn username_refusals() {
        assert_eq!(normalize_username(""), Err(RoomError::UsernameMissing));
        assert_eq!(normalize_username("   "), Err(RoomError::UsernameMissing));
        let shown = |s: &str| Err(RoomError::UsernameInvalidChar(s.to_owned()));
        assert_eq!(normalize_username("ann!"), shown("“!”"));
        let invisible = shown("an invisible or control character");
        assert_eq!(normalize_username("a\tb"), invisible);
        assert_eq!(normalize_username("a<script>"), shown("“<”"));
        assert_eq!(normalize_username("a\u{200B}b"), invisible);
        assert_eq!(normalize_username("a\u{202E}b"), invisible);
        // A joiner between letters is invisible formatting, not an emoji sequence.
        assert_eq!(normalize_username("a\u{200D}b"), invisible);
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
    fn invalid_char_message_shows_the_character_not_its_code() {
        let msg = normalize_username("ann@home").unwrap_err().to_string();
        assert!(msg.ends_with("(not “@”)"), "{msg}");
    }

    fn clash(a: &str, b: &str) -> bool {
        let (a, b) = (
            normalize_username(a).unwrap(),
            normalize_username(b).unwrap(),
        );
        username_keys(&a).clash(&username_keys(&b))
    }

    #[test]
    fn username_keys_ignore_case() {
        assert!(clash("Ann", "aNN"));
        assert!(clash("ÉLISE", "élise"));
        assert!(clash("Ivan", "ivan"));
    }

    #[test]
    fn look_alike_usernames_clash() {
        for look_alike in [
            "admin",
            "Admin",
            "ADMIN",
            "\u{430}dmin",   // Cyrillic а
            "\u{410}DMIN",   // Cyrillic А
            "ａｄｍｉｎ",    // fullwidth
            "admIn",         // capital I for i
            "\u{1D41A}dmin", // mathematical bold a
        ] {
            assert!(clash("admin", look_alike), "{look_alike:?}");
        }
        assert!(clash("paypal", "p\u{430}yp\u{430}l"));
        assert!(clash("l", "1"));
        assert!(clash("l", "I"));
        assert!(clash("1", "I"));
        assert!(clash("Bill", "BiII"));
        assert!(clash("Bob", "B0b"));
        assert!(clash("Ann Lee", "Ann\u{3000}Lee"));
    }

    #[test]
    fn distinct_usernames_do_not_clash() {
        for (a, b) in [
            ("Ann", "Bob"),
            ("Ann", "Anna"),
            ("Ann Lee", "AnnLee"),
            ("José", "Jose"),
            ("ivan", "lvan"),
            ("张伟", "张三"),
            ("admin", "admin2"),
            ("a_b", "a-b"),
        ] {
            assert!(!clash(a, b), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn usernames_are_stored_in_nfkc() {
        assert_eq!(normalize_username("ａｄｍｉｎ").unwrap(), "admin");
        assert_eq!(normalize_username("\u{FB01}ne").unwrap(), "fine");
        assert_eq!(normalize_username("Ann\u{3000}Lee").unwrap(), "Ann Lee");
        assert_eq!(normalize_username("Ann\u{A0}\u{A0}Lee").unwrap(), "Ann Lee");
        // Composed and decomposed accents are one name.
        assert_eq!(normalize_username("Jose\u{301}").unwrap(), "José");
        // Case and script are kept: only the uniqueness key folds them.
        assert_eq!(normalize_username("\u{430}dmin").unwrap(), "\u{430}dmin");
        assert_eq!(normalize_username("ADMIN").unwrap(), "ADMIN");
    }

    #[test]
    fn username_length_is_checked_before_and_after_normalizing() {
        // U+FDFA normalizes to 18 characters.
        let wide = "\u{FDFA}".repeat(2);
        assert_eq!(normalize_username(&wide), Err(RoomError::UsernameTooLong));
        let typed = format!("{}!", "x".repeat(MAX_USERNAME_CHARS));
        assert_eq!(normalize_username(&typed), Err(RoomError::UsernameTooLong));
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
