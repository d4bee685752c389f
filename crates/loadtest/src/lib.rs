//! `podium loadtest`: many headless WebRTC clients (str0m, RTP mode) in one process, joining
//! through the real Director API and signaling with real ICE, DTLS and SRTP. Speakers send
//! Opus-sized packets with the audio-level extension in talk spurts with DTX; a broadcaster
//! sends video; listeners view with multiplexed audio slots. Every packet carries a probe
//! (sender, spurt, send time), so the receivers measure loss, latency, switch and join times.
//!
//! Scenarios: `room`, `broadcast`, `churn`; step mode raises the listeners until loss or
//! latency breaks the bounds. The same clients drive Janus's VideoRoom for a side-by-side run.

pub mod args;
pub mod client;
pub mod engine;
pub mod fast_rx;
pub mod janus;
pub mod janus_process;
pub mod probe;
pub mod procstat;
pub mod report;
mod run;
pub mod signal;
pub mod stats;
pub mod talk;
pub mod target;

pub use args::{LoadArgs, Scenario, TargetKind};
pub use run::{run, Machine};

use report::WindowReport;
use serde::Serialize;

/// The machine-readable result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// What ran.
    pub args: LoadArgs,
    /// Where.
    pub machine: Machine,
    /// Seconds since the Unix epoch at the end.
    pub finished_unix: u64,
    /// One window, or one per step.
    pub windows: Vec<WindowReport>,
    /// Step mode: the most listeners whose window stayed within the bounds.
    pub knee_listeners: Option<usize>,
    /// `vad` events received over the whole run.
    pub vad_events_total: u64,
    /// The first errors (failed joins), if any.
    pub errors: Vec<String>,
}

impl Summary {
    fn new(
        args: LoadArgs,
        windows: Vec<WindowReport>,
        knee: Option<usize>,
        vad_events_total: u64,
        errors: Vec<String>,
    ) -> Self {
        Self {
            args,
            machine: Machine::here(),
            finished_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            windows,
            knee_listeners: knee,
            vad_events_total,
            errors,
        }
    }
}
