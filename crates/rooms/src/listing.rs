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
}

impl LiveRoom {
    fn of(room: &Room) -> Self {
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
        }
    }
}

impl Rooms {
    /// The "live now" list: busiest rooms first (most participants), then the newest (by
    /// creation order, not by clock). The authenticate ack lists full rooms in the same order.
    pub fn live_rooms(&self) -> Vec<LiveRoom> {
        self.listing_order().into_iter().map(LiveRoom::of).collect()
    }

    pub(crate) fn listing_order(&self) -> Vec<&Room> {
        let mut rooms: Vec<&Room> = self.rooms().collect();
        rooms.sort_by_key(|r| (Reverse(r.participants().len()), Reverse(r.seq())));
        rooms
    }
}
