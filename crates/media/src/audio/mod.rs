//! Audio multiplexing: rank a stream's sources by voice activity and fill each viewer's N
//! audio slots with the most active ones (see `docs/audio-mux.md`).

pub mod mux;
pub mod slots;
pub mod speaker;
pub mod timeline;
