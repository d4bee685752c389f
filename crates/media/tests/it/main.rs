//! Media-core scenarios over a simulated network and clock.
#![allow(clippy::disallowed_methods)] // the simulated clock starts from one real Instant

mod cluster;
mod egress;
mod forwarding;
mod hostile;
mod layers;
mod local;
mod multiplex;
mod projection;
mod recording;
mod redundant;
mod relay;
