//! Wire types shared by the Podium server, its tests and its load tool.
//!
//! Podium speaks the Millicast protocol: a Director HTTP API ([`director`]) hands out a
//! WebSocket URL and a JWT; the client then speaks a small JSON request/response/event
//! protocol over that WebSocket ([`signal`]). Field names follow the wire (camelCase).
#![deny(missing_docs)]

pub mod director;
pub mod signal;
