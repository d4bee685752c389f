//! FLV timestamps to RTP timestamps.
//!
//! An FLV tag (an RTMP message) carries a decode timestamp (DTS) in milliseconds: 24 bits
//! plus an extended byte holding the upper 8 ([`flv_timestamp`]), so it wraps every 2^32 ms
//! (about 49.7 days). A video tag adds a signed composition time offset: PTS = DTS + cts.
//! RTP wants the presentation time at 90 kHz for video and 48 kHz for Opus audio, starting
//! from a random base.
//!
//! [`TimestampMapper`] does this for one track:
//!
//! * The 32-bit DTS is unwrapped against the previous one (the nearest value modulo 2^32),
//!   so the mapping stays monotone across the wraparound.
//! * FLV time 0 maps to the caller's `base`: two mappers (audio and video) fed by the same
//!   RTMP connection share one time axis, and [`Mapped::pts_ms`] gives the media time to pair
//!   with a wall clock in RTCP sender reports.
//! * The DTS handed out never goes back and never repeats, so two frames never share an RTP
//!   timestamp (a receiver would merge them):
//!   - a DTS at most `backward_tolerance` ms behind the highest seen so far (jitter in the
//!     encoder or muxer), or equal to the previous one, is *held*: it becomes the previous
//!     output + 1 ms, and the following timestamps are unaffected;
//!   - a DTS further back (the encoder restarted its clock) is a *reset*: the timeline
//!     continues from the previous output + the last frame duration, and follows the new
//!     clock from there. Audio and video reset separately, so A/V sync after a reset is only
//!     as good as the encoder's own restart;
//!   - a jump forward (a paused encoder) is kept as is.
//! * The composition offset is added after that, so with B-frames the PTS (and the RTP
//!   timestamp) follows presentation order, not sending order, as RTP expects.

/// The RTP clock rate of video.
pub const VIDEO_CLOCK_RATE: u32 = 90_000;
/// The RTP clock rate of Opus audio.
pub const AUDIO_CLOCK_RATE: u32 = 48_000;
/// The default tolerance for a DTS going backwards, in milliseconds.
pub const DEFAULT_BACKWARD_TOLERANCE_MS: u32 = 100;

/// The 32-bit FLV timestamp from the 24-bit `Timestamp` field and the `TimestampExtended`
/// byte (the upper 8 bits).
pub fn flv_timestamp(lower_24: u32, extended: u8) -> u32 {
    (u32::from(extended) << 24) | (lower_24 & 0x00ff_ffff)
}

/// `ms` milliseconds in ticks of `clock_rate` (rounded down).
pub fn ms_to_ticks(ms: i64, clock_rate: u32) -> i64 {
    (i128::from(ms) * i128::from(clock_rate))
        .div_euclid(1000)
        .clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// The RTP timestamp `ms` after media time 0, which maps to `base`, modulo 2^32.
pub fn rtp_timestamp(base: u32, ms: i64, clock_rate: u32) -> u32 {
    let ticks = ms_to_ticks(ms, clock_rate).rem_euclid(1 << 32);
    base.wrapping_add(u32::try_from(ticks).unwrap_or(0))
}

/// How a DTS was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The first timestamp of the track.
    First,
    /// Later than the previous one, taken as is.
    Forward,
    /// Equal, or a little behind: moved to 1 ms after the previous output.
    Held,
    /// Far behind (more than the tolerance): the timeline continues where it was.
    Reset,
}

/// One mapped timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapped {
    /// The RTP timestamp (presentation time).
    pub rtp_timestamp: u32,
    /// The decode time on the unwrapped, monotone media time axis, in ms.
    pub dts_ms: i64,
    /// The presentation time (`dts_ms` + composition offset) in ms.
    pub pts_ms: i64,
    /// How the DTS was taken.
    pub step: Step,
}

#[derive(Debug, Clone, Copy)]
struct State {
    /// The last DTS as received.
    last_raw: u32,
    /// The last DTS unwrapped (on the encoder's axis).
    last_in: i64,
    /// The highest unwrapped DTS since the last reset.
    max_in: i64,
    /// Output = input + offset (changes at a reset).
    offset: i64,
    /// The last output DTS.
    last_out: i64,
    /// The last forward step, the frame duration assumed at a reset.
    last_step: i64,
}

/// Maps the FLV timestamps of one track to RTP timestamps. Sans-IO: the base comes from the
/// caller (random for a new SSRC).
#[derive(Debug, Clone)]
pub struct TimestampMapper {
    clock_rate: u32,
    base: u32,
    backward_tolerance_ms: i64,
    state: Option<State>,
}

impl TimestampMapper {
    /// A mapper at `clock_rate` Hz where media time 0 is RTP timestamp `base`.
    pub fn new(clock_rate: u32, base: u32) -> Self {
        Self {
            clock_rate,
            base,
            backward_tolerance_ms: i64::from(DEFAULT_BACKWARD_TOLERANCE_MS),
            state: None,
        }
    }

    /// A 90 kHz video mapper.
    pub fn video(base: u32) -> Self {
        Self::new(VIDEO_CLOCK_RATE, base)
    }

    /// A 48 kHz audio mapper.
    pub fn audio(base: u32) -> Self {
        Self::new(AUDIO_CLOCK_RATE, base)
    }

    /// Sets how far back (in ms) a DTS may go and still be held rather than reset.
    pub fn with_backward_tolerance(mut self, ms: u32) -> Self {
        self.backward_tolerance_ms = i64::from(ms);
        self
    }

    /// The clock rate.
    pub fn clock_rate(&self) -> u32 {
        self.clock_rate
    }

    /// The RTP timestamp of media time `ms` (for an RTCP sender report).
    pub fn rtp_at(&self, ms: i64) -> u32 {
        rtp_timestamp(self.base, ms, self.clock_rate)
    }

    /// Maps a tag's DTS (its 32-bit FLV timestamp) and composition offset (0 for audio).
    pub fn map(&mut self, dts: u32, composition_time_ms: i32) -> Mapped {
        let (dts_ms, step) = match self.state.as_mut() {
            None => {
                let start = i64::from(dts);
                self.state = Some(State {
                    last_raw: dts,
                    last_in: start,
                    max_in: start,
                    offset: 0,
                    last_out: start,
                    last_step: 0,
                });
                (start, Step::First)
            }
            Some(s) => {
                // The nearest value modulo 2^32: a signed 32-bit difference.
                let delta = i64::from(dts.wrapping_sub(s.last_raw) as i32);
                let input = s.last_in + delta;
                s.last_raw = dts;
                s.last_in = input;
                let (out, step) = if s.max_in - input > self.backward_tolerance_ms {
                    let out = s.last_out + s.last_step.clamp(1, 1000);
                    s.offset = out - input;
                    s.max_in = input;
                    (out, Step::Reset)
                } else {
                    let candidate = input + s.offset;
                    s.max_in = s.max_in.max(input);
                    if candidate > s.last_out {
                        s.last_step = candidate - s.last_out;
                        (candidate, Step::Forward)
                    } else {
                        (s.last_out + 1, Step::Held)
                    }
                };
                s.last_out = out;
                (out, step)
            }
        };
        let pts_ms = dts_ms + i64::from(composition_time_ms);
        Mapped {
            rtp_timestamp: self.rtp_at(pts_ms),
            dts_ms,
            pts_ms,
            step,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deltas(mapper: &mut TimestampMapper, dts: &[u32]) -> Vec<u32> {
        let stamps: Vec<u32> = dts
            .iter()
            .map(|&d| mapper.map(d, 0).rtp_timestamp)
            .collect();
        stamps.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect()
    }

    #[test]
    fn extended_timestamp() {
        assert_eq!(flv_timestamp(0x00ff_ffff, 0), 0x00ff_ffff);
        assert_eq!(flv_timestamp(0x0000_0001, 0x01), 0x0100_0001);
        assert_eq!(flv_timestamp(0x00ff_ffff, 0xff), u32::MAX);
        // Stray high bits in the 24-bit field are ignored.
        assert_eq!(flv_timestamp(0xff00_0002, 0x03), 0x0300_0002);
    }

    #[test]
    fn video_steps_at_90khz() {
        let mut m = TimestampMapper::video(1000);
        let first = m.map(0, 0);
        assert_eq!(first.rtp_timestamp, 1000);
        assert_eq!(first.step, Step::First);
        assert_eq!(deltas(&mut m, &[33, 67, 100, 133]), vec![3060, 2970, 2970]);
        let mut m = TimestampMapper::video(0);
        assert_eq!(
            deltas(&mut m, &[0, 33, 67, 100, 133]),
            vec![2970, 3060, 2970, 2970]
        );
    }

    #[test]
    fn base_is_media_time_zero() {
        // A track whose first tag is at 21 ms starts 21 ms after the base: audio and video
        // mappers keep their offset.
        let mut m = TimestampMapper::audio(5);
        assert_eq!(m.map(21, 0).rtp_timestamp, 5 + 21 * 48);
        assert_eq!(m.rtp_at(0), 5);
        // The base may sit anywhere: RTP timestamps wrap modulo 2^32.
        let mut m = TimestampMapper::video(u32::MAX - 100);
        assert_eq!(m.map(0, 0).rtp_timestamp, u32::MAX - 100);
        assert_eq!(m.map(33, 0).rtp_timestamp, 2970 - 101);
    }

    #[test]
    fn audio_at_48khz() {
        // AAC at 44.1 kHz: 1024-sample frames every 23.2 ms, rounded by FLV.
        let mut m = TimestampMapper::audio(0);
        assert_eq!(
            deltas(&mut m, &[0, 23, 46, 70, 93]),
            vec![1104, 1104, 1152, 1104]
        );
    }

    #[test]
    fn composition_offset() {
        let mut m = TimestampMapper::video(0);
        let i = m.map(0, 66);
        let p = m.map(33, 100);
        let b = m.map(67, 0);
        assert_eq!((i.pts_ms, p.pts_ms, b.pts_ms), (66, 133, 67));
        assert_eq!(
            (i.rtp_timestamp, p.rtp_timestamp, b.rtp_timestamp),
            (5940, 11970, 6030)
        );
        // A negative offset before the base wraps modulo 2^32.
        let mut m = TimestampMapper::video(0);
        assert_eq!(m.map(0, -33).rtp_timestamp, 0u32.wrapping_sub(2970));
    }

    #[test]
    fn monotone_across_32_bit_wraparound() {
        let mut m = TimestampMapper::video(0);
        let start = u32::MAX - 50; // 2^32 - 51 ms
        let dts: Vec<u32> = (0..5u32).map(|i| start.wrapping_add(i * 33)).collect();
        assert!(dts[2] < dts[1], "the input wraps");
        let mapped: Vec<Mapped> = dts.iter().map(|&d| m.map(d, 0)).collect();
        for w in mapped.windows(2) {
            assert_eq!(w[1].dts_ms - w[0].dts_ms, 33);
            assert_eq!(w[1].step, Step::Forward);
            assert_eq!(w[1].rtp_timestamp.wrapping_sub(w[0].rtp_timestamp), 2970);
        }
        assert_eq!(mapped[4].dts_ms, (1i64 << 32) - 51 + 132);
    }

    #[test]
    fn small_backward_jumps_are_held() {
        let mut m = TimestampMapper::video(0);
        let steps: Vec<(i64, Step)> = [100u32, 133, 130, 133, 166, 200]
            .iter()
            .map(|&d| {
                let x = m.map(d, 0);
                (x.dts_ms, x.step)
            })
            .collect();
        assert_eq!(
            steps,
            vec![
                (100, Step::First),
                (133, Step::Forward),
                (134, Step::Held),
                (135, Step::Held),
                (166, Step::Forward),
                (200, Step::Forward),
            ]
        );
    }

    #[test]
    fn large_backward_jumps_reset() {
        let mut m = TimestampMapper::video(0);
        for d in [5000u32, 5033, 5066] {
            m.map(d, 0);
        }
        let reset = m.map(0, 0);
        assert_eq!((reset.dts_ms, reset.step), (5099, Step::Reset));
        let next = m.map(33, 0);
        assert_eq!((next.dts_ms, next.step), (5132, Step::Forward));
        // Within the tolerance of the new clock, not of the old one.
        let held = m.map(20, 0);
        assert_eq!((held.dts_ms, held.step), (5133, Step::Held));
        // A tighter tolerance turns a 50 ms step back into a reset.
        let mut m = TimestampMapper::video(0).with_backward_tolerance(10);
        m.map(1000, 0);
        m.map(1040, 0);
        assert_eq!(m.map(990, 0).step, Step::Reset);
    }

    #[test]
    fn forward_jumps_are_kept() {
        let mut m = TimestampMapper::audio(0);
        m.map(0, 0);
        let later = m.map(60_000, 0);
        assert_eq!((later.dts_ms, later.step), (60_000, Step::Forward));
        assert_eq!(later.rtp_timestamp, 60_000 * 48);
    }

    #[test]
    fn ticks() {
        assert_eq!(ms_to_ticks(33, 90_000), 2970);
        assert_eq!(ms_to_ticks(1, 44_100), 44);
        assert_eq!(ms_to_ticks(-1, 44_100), -45);
        // 2^40 ms at 90 kHz is a multiple of 2^32 ticks.
        assert_eq!(rtp_timestamp(10, 1 << 40, 90_000), 10);
        assert_eq!(rtp_timestamp(10, (1 << 40) + 1, 90_000), 100);
    }
}
