//! End-to-end tests of the server over real loopback sockets.

mod access;
mod accounts;
mod authz;
mod client;
mod cluster;
mod cluster_audio;
mod limits;
mod local_publication;
mod recording;
mod rtmp;
mod rtmp_client;
mod signaling;
mod web;
mod webrtc;
mod whip;
