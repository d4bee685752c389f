//! The whole state as one serialisable record, so that another process can carry on where
//! this one stopped (a cluster's rooms authority moving to another node).
//!
//! The record is Podium's own format, versioned, not a wire format: the room JSON clients
//! see is [`Room`](crate::Room)'s `Serialize`. Quotas are not part of it: the process that
//! restores it applies its own [`Limits`].

use crate::ids::{ConnId, RoomId, UserId};
use crate::limits::Limits;
use crate::model::{Room, RoomRecord};
use crate::presence::Departed;
use crate::rooms::{Member, Rooms};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Bumped when the record's shape changes; a record of another version is refused.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Record {
    version: u32,
    users: HashMap<UserId, Member>,
    conns: HashMap<ConnId, UserId>,
    secrets: HashMap<String, UserId>,
    departed: HashMap<String, Departed>,
    usernames: HashMap<String, UserId>,
    username_shapes: HashMap<String, UserId>,
    rooms: Vec<StoredRoom>,
    next_seq: u64,
}

/// A room in its snapshot form.
#[derive(Serialize, Deserialize)]
struct StoredRoom(#[serde(with = "RoomRecord")] Room);

/// Why a snapshot could not be restored.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Not a snapshot's JSON.
    #[error("invalid rooms snapshot: {0}")]
    Invalid(#[from] serde_json::Error),
    /// Written by another version of the record.
    #[error("rooms snapshot of version {0}, this server reads version {VERSION}")]
    Version(u32),
}

impl Rooms {
    /// The whole state (users, connections, rooms, secrets, departed users) as JSON.
    pub fn snapshot(&self) -> String {
        let record = Record {
            version: VERSION,
            users: self.users.clone(),
            conns: self.conns.clone(),
            secrets: self.secrets.clone(),
            departed: self.departed.clone(),
            usernames: self.usernames.clone(),
            username_shapes: self.username_shapes.clone(),
            rooms: self.rooms.values().cloned().map(StoredRoom).collect(),
            next_seq: self.next_seq,
        };
        serde_json::to_string(&record).expect("the rooms state serialises")
    }

    /// The state a [`Rooms::snapshot`] recorded, under quotas `limits`. Times in it are in
    /// the recording process's `now` unit: restore only where `now` is the same clock.
    pub fn restore(snapshot: &str, limits: Limits) -> Result<Self, SnapshotError> {
        let record: Record = serde_json::from_str(snapshot)?;
        if record.version != VERSION {
            return Err(SnapshotError::Version(record.version));
        }
        let rooms: HashMap<RoomId, _> = record
            .rooms
            .into_iter()
            .map(|StoredRoom(room)| (room.id().clone(), room))
            .collect();
        Ok(Self {
            users: record.users,
            conns: record.conns,
            secrets: record.secrets,
            departed: record.departed,
            usernames: record.usernames,
            username_shapes: record.username_shapes,
            rooms,
            next_seq: record.next_seq,
            limits,
        })
    }

    /// Every open connection with a signed-in user (for a shell that must end the ones of a
    /// process that is gone).
    pub fn connections(&self) -> impl Iterator<Item = &ConnId> {
        self.conns.keys()
    }
}
