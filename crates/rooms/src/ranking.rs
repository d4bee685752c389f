//! "Live now", ranked for one viewer (issue 16): rooms where people they follow are on stage
//! come first (more of them first), then the busiest by activity — listeners, speakers and
//! recent joins — then the newest. Rooms of people in a block with the viewer are left out; a
//! search keeps rooms whose name, host or a speaker matches every word of it.
//!
//! Pure: the caller passes whom the viewer follows and blocks (account ids) and `now`.

use std::collections::HashSet;

use serde::Serialize;
use unicode_normalization::UnicodeNormalization;

use crate::listing::LiveRoom;
use crate::model::Room;
use crate::rooms::Rooms;

/// Joins within this window count as recent.
pub const RECENT_WINDOW_MS: u64 = 10 * 60 * 1000;
/// Longest search accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 80;

/// Who is looking.
#[derive(Debug, Clone, Default)]
pub struct Viewer {
    /// Their account (a guest has none).
    pub account: Option<String>,
    /// Accounts the viewer follows.
    pub follows: HashSet<String>,
    /// Accounts in a block with the viewer (either way).
    pub blocked: HashSet<String>,
}

/// A speaker as a card shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CardSpeaker {
    /// Their user id.
    pub id: String,
    /// Their username.
    pub username: String,
    /// Their account, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Whether the viewer follows them.
    pub followed: bool,
}

/// One card of the ranked list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RankedRoom {
    /// The card the plain listing has.
    #[serde(flatten)]
    pub card: LiveRoom,
    /// Who is on stage, longest-standing first.
    pub speakers: Vec<CardSpeaker>,
    /// How many people joined in the last [`RECENT_WINDOW_MS`].
    pub recent_joins: usize,
}

/// The activity score: listeners count once, speakers twice, recent joins three times.
pub fn activity(listeners: usize, speakers: usize, recent_joins: usize) -> usize {
    listeners + 2 * speakers + 3 * recent_joins
}

/// Lowercased NFKC words of a text, for search.
fn words(text: &str) -> Vec<String> {
    text.nfkc()
        .collect::<String>()
        .to_lowercase()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

impl Rooms {
    /// The live rooms ranked for `viewer` at `now_ms`, filtered by `query` (`None` or blank:
    /// all), at most `limit`.
    pub fn live_for(
        &self,
        now_ms: u64,
        viewer: &Viewer,
        query: Option<&str>,
        limit: usize,
    ) -> Vec<RankedRoom> {
        let query: Vec<String> = query
            .map(|q| q.chars().take(MAX_QUERY_CHARS).collect::<String>())
            .map(|q| words(&q))
            .unwrap_or_default();
        let since = now_ms.saturating_sub(RECENT_WINDOW_MS);
        let mut ranked: Vec<(usize, usize, u64, RankedRoom)> = self
            .rooms()
            .filter(|room| !self.hidden_from(room, viewer))
            .filter(|room| query.is_empty() || Self::matches(room, &query))
            .map(|room| {
                let speakers = self.card_speakers(room, viewer);
                let followed = speakers.iter().filter(|s| s.followed).count();
                let recent_joins = room.joins_since(since);
                let score = activity(room.audience_count(), room.speaker_count(), recent_joins);
                let card = RankedRoom {
                    card: LiveRoom::of(room),
                    speakers,
                    recent_joins,
                };
                (followed, score, room.seq(), card)
            })
            .collect();
        // Unique creation numbers make the order total.
        ranked.sort_unstable_by_key(|r| std::cmp::Reverse((r.0, r.1, r.2)));
        ranked.into_iter().take(limit).map(|r| r.3).collect()
    }

    /// Whether the room's host is in a block with the viewer, or the room is private to
    /// others (followers-only rooms are listed to the host's followers, invite-only ones to
    /// nobody).
    fn hidden_from(&self, room: &Room, viewer: &Viewer) -> bool {
        let follows = |a: &str| viewer.follows.contains(a);
        if !crate::social::listed_to(room, viewer.account.as_deref(), &follows) {
            return true;
        }
        room.participant(room.owner_id())
            .and_then(|p| p.account.as_ref())
            .is_some_and(|account| viewer.blocked.contains(account))
    }

    fn card_speakers(&self, room: &Room, viewer: &Viewer) -> Vec<CardSpeaker> {
        room.speakers()
            .iter()
            .filter_map(|s| room.participant(&s.id))
            .map(|p| CardSpeaker {
                id: p.id.as_str().to_owned(),
                username: p.username.clone(),
                followed: p
                    .account
                    .as_ref()
                    .is_some_and(|a| viewer.follows.contains(a)),
                account_id: p.account.clone(),
            })
            .collect()
    }

    /// Whether every query word is in the room's name, its host's name or a speaker's.
    fn matches(room: &Room, query: &[String]) -> bool {
        let mut haystack = words(room.name());
        for s in room.speakers() {
            if let Some(p) = room.participant(&s.id) {
                haystack.extend(words(&p.username));
            }
        }
        query
            .iter()
            .all(|q| haystack.iter().any(|w| w.contains(q.as_str())))
    }
}
