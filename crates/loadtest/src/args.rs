//! Command-line arguments of `podium loadtest`.

use std::path::PathBuf;

/// What kind of load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// S speakers (sourceIds s0…) talking in spurts with DTX; L listeners with N slots.
    Room,
    /// One audio+video publisher (main source); L viewers.
    Broadcast,
    /// The audio room, while listeners leave and join at `--churn` per second.
    Churn,
}

/// How listeners receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ListenerMode {
    /// RTP read by the tool itself after str0m's setup.
    Fast,
    /// Every packet through str0m.
    Str0m,
}

/// Which server is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// Podium (Millicast protocol).
    Podium,
    /// Janus VideoRoom (HTTP API); listeners subscribe to every speaker.
    Janus,
}

/// `podium loadtest` options.
#[derive(Debug, Clone, clap::Args, serde::Serialize)]
pub struct LoadArgs {
    /// Scenario to run
    #[arg(long, value_enum, default_value = "room")]
    pub scenario: Scenario,
    /// Server to load
    #[arg(long, value_enum, default_value = "podium")]
    pub target: TargetKind,
    /// Base URL of a running server (Podium: http://host:port; Janus: http://host:port/janus).
    /// Without it the tool starts its own server on loopback
    #[arg(long)]
    pub url: Option<String>,
    /// Publish API token for `--url` (Podium)
    #[arg(long, env = "PODIUM_LOAD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Pid of the `--url` server, to read its CPU and memory
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// CPUs the started server is pinned to (taskset list, e.g. `0`)
    #[arg(long)]
    pub server_cpus: Option<String>,
    /// Extra argument for the started `podium serve` (repeatable)
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    pub server_args: Vec<String>,
    /// Stream (Podium) name
    #[arg(long, default_value = "load")]
    pub stream: String,
    /// Speakers in the audio room
    #[arg(long, default_value_t = 10)]
    pub speakers: usize,
    /// Listeners (viewers)
    #[arg(long, default_value_t = 100)]
    pub listeners: usize,
    /// Multiplexed audio slots per listener (room scenarios)
    #[arg(long, default_value_t = 3)]
    pub slots: usize,
    /// Share of time each speaker talks
    #[arg(long, default_value_t = 0.2)]
    pub talk_ratio: f64,
    /// Mean talk-spurt length, ms
    #[arg(long, default_value_t = 1500)]
    pub talk_ms: u64,
    /// Video bitrate of the broadcast publisher, kbit/s
    #[arg(long, default_value_t = 1000)]
    pub video_kbps: u32,
    /// Video frame rate
    #[arg(long, default_value_t = 30)]
    pub fps: u32,
    /// Listener joins per second while ramping up
    #[arg(long, default_value_t = 200.0)]
    pub join_rate: f64,
    /// Leaves (each followed by a join) per second in the churn scenario
    #[arg(long, default_value_t = 10.0)]
    pub churn: f64,
    /// Seconds measured after the ramp and warm-up
    #[arg(long, default_value_t = 30)]
    pub duration: u64,
    /// Seconds of settling before measuring
    #[arg(long, default_value_t = 3)]
    pub warmup: u64,
    /// Client engine threads
    #[arg(long, default_value_t = 1)]
    pub engines: usize,
    /// How listeners receive: `fast` reads RTP itself once str0m has set up ICE/DTLS/SRTP
    /// (batched reads, loss from the plaintext header, a decrypted sample); `str0m` hands
    /// every packet to str0m, as a full client would
    #[arg(long, value_enum, default_value = "fast")]
    pub listener_mode: ListenerMode,
    /// Fast listeners decrypt one packet in this many (and every marked one) for the probe
    #[arg(long, default_value_t = 16,
          value_parser = clap::builder::RangedU64ValueParser::<u64>::new().range(1..))]
    pub decrypt_every: u64,
    /// Step mode: raise listeners from `--listeners` by `--step-by` until a bound breaks
    #[arg(long)]
    pub step: bool,
    /// Listeners added per step
    #[arg(long, default_value_t = 250,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub step_by: usize,
    /// Most listeners step mode tries
    #[arg(long, default_value_t = 10_000)]
    pub step_max: usize,
    /// Loss bound, percent
    #[arg(long, default_value_t = 0.1)]
    pub max_loss: f64,
    /// Latency bound (p99 send → receive), ms
    #[arg(long, default_value_t = 10.0)]
    pub max_p99_ms: f64,
    /// Write the JSON summary here (it always goes to stdout too)
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// No progress lines on stderr
    #[arg(long)]
    pub quiet: bool,
}
