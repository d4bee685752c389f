//! Fuzz target bodies for Podium's parsers.
//!
//! Each target is a plain safe function `fn(&[u8])` that must never panic, whatever the
//! input: it feeds the bytes to Podium's real entry points and checks cheap invariants.
//! The cargo-fuzz project in `fuzz/` (outside the workspace) wraps each one in a
//! `fuzz_target!`, and `tests/replay.rs` replays the committed corpus `fuzz/corpus/<target>/`
//! through them in every CI run.
//!
//! | target | entry points |
//! | --- | --- |
//! | [`signaling`] | `CommandFrame::parse`, `data_as::<PublishCommand / ViewCommand>` |
//! | [`rooms_args`] | `rooms_server::parse_command`, then `Rooms::apply` |
//! | [`sdp_publish`] | `Sfu::publish` (SDP normalisation, str0m offer parsing, track selection) |
//! | [`sdp_view`] | `Sfu::view` (the same, plus audio slots and msid grouping) |
//! | [`udp_demux`] | `Sfu::handle_receive` / `handle_timeout` / `poll_output` |
//! | [`rtp_rewrite`] | `rewrite::Rewriter` |
//! | [`rtmp_chunks`] | `rtmp::session_input` (rml_rtmp's server session, guarded), then the pipeline |
//! | [`flv_ingest`] | `StreamKey::parse`, `pipeline::Pipeline` (FLV parsing, H.264 packetizer, AAC → Opus) |
#![deny(missing_docs)]

mod ingest;
mod media;
mod rewrite;
mod rooms;
mod signaling;

pub use ingest::{flv_ingest, rtmp_chunks};
pub use media::{
    sdp_publish, sdp_view, udp_demux, CHROME_PUBLISH_OFFER, CHROME_VIEW_MULTIPLEX_OFFER,
    CHROME_VIEW_OFFER,
};
pub use rewrite::rtp_rewrite;
pub use rooms::rooms_args;
pub use signaling::signaling;

/// A target body.
pub type Target = fn(&[u8]);

/// Every target with its name, as used for `fuzz/fuzz_targets/<name>.rs` and
/// `fuzz/corpus/<name>/`.
pub const TARGETS: [(&str, Target); 8] = [
    ("signaling", signaling),
    ("rooms_args", rooms_args),
    ("sdp_publish", sdp_publish),
    ("sdp_view", sdp_view),
    ("udp_demux", udp_demux),
    ("rtp_rewrite", rtp_rewrite),
    ("rtmp_chunks", rtmp_chunks),
    ("flv_ingest", flv_ingest),
];

/// Lets a fuzz run go on past panics that Podium itself catches, printing one line for the
/// first few: `podium_media`'s `accept_offer` runs str0m's offer handling inside
/// `catch_unwind`, so a str0m panic there is refused as an invalid offer, not a crash.
///
/// libfuzzer-sys's own hook aborts on *every* panic, caught or not; this replaces it. A panic
/// that reaches the fuzz target still ends the run, because libfuzzer-sys aborts when its
/// `catch_unwind` around the target sees one. Setting `PODIUM_FUZZ_STRICT_PANICS` (to
/// anything) keeps libfuzzer-sys's hook, so caught panics are reported as crashes too.
pub fn tolerate_caught_panics() {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEEN: AtomicU64 = AtomicU64::new(0);
    if std::env::var_os("PODIUM_FUZZ_STRICT_PANICS").is_some() {
        return;
    }
    std::panic::set_hook(Box::new(|info| {
        let n = SEEN.fetch_add(1, Ordering::Relaxed) + 1;
        if n <= 3 || n.is_power_of_two() {
            eprintln!("podium-fuzzing: panic #{n} (fatal only if the run stops here): {info}");
        }
    }));
}

/// A byte reader that never fails: past the end it yields zeros.
pub(crate) struct Bytes<'a> {
    data: &'a [u8],
}

impl<'a> Bytes<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub(crate) fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    pub(crate) fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// Up to `n` bytes (fewer at the end of the input).
    pub(crate) fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }
}
