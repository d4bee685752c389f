//! End-to-end tests of the server over real loopback sockets.

mod access;
mod authz;
mod client;
mod limits;
mod local_publication;
mod signaling;
mod web;
mod webrtc;
mod whip;
