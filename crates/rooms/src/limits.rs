//! Quotas that bound what one connection can make the server hold and send.

/// How much state one user, and everyone together, may create, and how much of it one reply
/// may carry.
///
/// Every `create-room` is broadcast to every connected user and every room is listed to each
/// user who signs in, so without caps one anonymous client can amplify its traffic by the
/// number of users (fault F7: 10,000 rooms in 3.8 s, a 2.4 MB `authenticate` reply). Pass
/// these to [`Rooms::with_limits`](crate::Rooms::with_limits); [`Rooms::new`](crate::Rooms::new)
/// uses [`Limits::default`]. Override single fields with
/// `Limits { max_live_rooms: 500, ..Limits::default() }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most rooms one user may own at once (default 3). A `create-room` beyond it is
    /// [`RoomError::TooManyOwnedRooms`](crate::RoomError::TooManyOwnedRooms). Only creating
    /// counts: an owner hand-over may leave a speaker owning more, since refusing it would
    /// close a room nobody asked to close.
    pub max_owned_rooms: usize,
    /// Most rooms one user may be a member of at once, owned ones included (default 16). A
    /// `join-room` or `create-room` beyond it is
    /// [`RoomError::TooManyJoinedRooms`](crate::RoomError::TooManyJoinedRooms); a repeated
    /// `join-room` by a member still answers.
    pub max_joined_rooms: usize,
    /// Most live rooms in total (default 10,000). A `create-room` beyond it is
    /// [`RoomError::TooManyLiveRooms`](crate::RoomError::TooManyLiveRooms).
    pub max_live_rooms: usize,
    /// Most rooms an `authenticate` ack lists (default 100): the first ones in listing order
    /// (busiest first, then newest), so a reply's size does not grow with the number of
    /// rooms. Use the same cap for any list sent to a client, see
    /// [`Rooms::live_rooms_page`](crate::Rooms::live_rooms_page).
    pub max_listed_rooms: usize,
    /// How long after a lost connection was last heard its user keeps every seat, unseen by
    /// others (default 8.5 s): a reload or a short network drop within it goes unnoticed;
    /// past it the user leaves their rooms as on a disconnect. The shell's heartbeat must
    /// detect a silent connection well within it.
    pub hold_ms: u64,
    /// How long after a connection was lost its user may still resume (default 30 s): past
    /// [`Limits::hold_ms`] they were seen leaving, but they get their seats back where the
    /// room still has them.
    pub resume_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_owned_rooms: 3,
            max_joined_rooms: 16,
            max_live_rooms: 10_000,
            max_listed_rooms: 100,
            hold_ms: 8_500,
            resume_ms: 30_000,
        }
    }
}
