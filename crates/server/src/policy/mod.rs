//! Who may do what: the server's policy, below every handler. Nothing here knows about HTTP
//! routes, WebSockets or socket.io; handlers ask, policy answers with a [`Refusal`] or a
//! grant.

pub mod access;
pub mod admin_guard;
pub mod connections;
pub mod forwarded;
pub mod rate;
pub mod refusal;
pub mod room_grants;
pub mod sessions;

pub use refusal::Refusal;
