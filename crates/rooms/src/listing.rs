//! The "live now" listing.

use crate::ids::{RoomId, UserId};
use crate::model::Room;
use crate::rooms::Rooms;
use serde::Serialize;
use std::cmp::Reverse;

/// One card of the "live now" list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveRoom {
    /// The room id.
    pub id: RoomId,
    /// The room name.
    pub name: String,
    /// The owner's id.
    pub owner_id: UserId,
    /// The owner's username (the demo's card shows it).
    pub owner_username: String,
    /// Audio only, or with the owner's video.
    pub audio_only: bool,
    /// People on the stage (the owner included).
    pub speaker_count: usize,
    /// People listening.
    pub audience_count: usize,
    /// When the room was created, in the caller's `now` unit.
    pub created_at_ms: u64,
    /// `public` or `followers` (invite-only rooms are never listed).
    pub privacy: &'static str,
}

impl LiveRoom {
    pub(crate) fn of(room: &Room) -> Self {
        Self {
            id: room.id().clone(),
            name: room.name().to_owned(),
            owner_id: room.owner_id().clone(),
            owner_username: room
                .participant(room.owner_id())
                .map(|p| p.username.clone())
                .unwrap_or_default(),
            audio_only: room.audio_only(),
            speaker_count: room.speaker_count(),
            audience_count: room.audience_count(),
            created_at_ms: room.created_at_ms(),
            privacy: room.privacy().name(),
        }
    }
}

impl Rooms {
    /// The whole "live now" list: busiest rooms first (most participants), then the newest
    /// (by creation order, not by clock). The authenticate ack lists full rooms in the same
    /// order. It has one card per live room, up to [`Limits::max_live_rooms`]: to send the
    /// list to a client, send [`Rooms::live_rooms_page`] instead.
    ///
    /// [`Limits::max_live_rooms`]: crate::Limits::max_live_rooms
    pub fn live_rooms(&self) -> Vec<LiveRoom> {
        self.live_rooms_page(usize::MAX)
    }

    /// The first `limit` cards of [`Rooms::live_rooms`], found without sorting every room.
    /// Pass [`Limits::max_listed_rooms`] to send what the `authenticate` ack lists.
    ///
    /// [`Limits::max_listed_rooms`]: crate::Limits::max_listed_rooms
    pub fn live_rooms_page(&self, limit: usize) -> Vec<LiveRoom> {
        self.listing_order(limit)
            .into_iter()
            .map(LiveRoom::of)
            .collect()
    }

    /// The first `limit` rooms in listing order.
    pub(crate) fn listing_order(&self, limit: usize) -> Vec<&Room> {
        // Creation numbers are unique, so the order is total and unstable sorts are exact.
        let key = |r: &&Room| (Reverse(r.participants().len()), Reverse(r.seq()));
        // Private rooms are not listed: their members have them in their own seats.
        let mut rooms: Vec<&Room> = self.rooms().filter(|r| r.privacy().is_public()).collect();
        if limit < rooms.len() {
            // Every sign-in lists rooms: select the first ones in linear time.
            rooms.select_nth_unstable_by_key(limit, key);
            rooms.truncate(limit);
        }
        rooms.sort_unstable_by_key(key);
        rooms
    }
}
