//! What simulated publishers send, as pure functions of time: a speaker alternates talk
//! spurts and silences (Opus every 20 ms while talking, a DTX frame every 400 ms while
//! silent, as browsers do); a video publisher sends frames split into MTU-sized packets.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Opus frame interval.
pub const AUDIO_FRAME_US: u64 = 20_000;
/// Interval of Opus DTX frames during silence.
pub const DTX_FRAME_US: u64 = 400_000;
/// A 32 kbit/s Opus frame.
pub const SPEECH_BYTES: usize = 80;
/// A DTX frame carries little more than the probe.
pub const DTX_BYTES: usize = 32;

/// One audio packet to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioFrame {
    /// When it is due, µs since the epoch.
    pub at_us: u64,
    /// RFC 6464 level (−127 = silence).
    pub level: i8,
    /// Payload size.
    pub bytes: usize,
    /// Spurt counter (odd while talking).
    pub spurt: u32,
    /// When the spurt began.
    pub spurt_start_us: u64,
    /// Frame number.
    pub frame: u32,
}

/// A speaker following a talk-spurt pattern.
pub struct Talker {
    rng: StdRng,
    mean_talk_us: f64,
    mean_silence_us: f64,
    spurt: u32,
    spurt_start_us: u64,
    spurt_end_us: u64,
    next_frame_us: u64,
    frame: u32,
}

impl Talker {
    /// Talks `ratio` of the time in spurts of `mean_talk_ms` on average; starts silent.
    pub fn new(seed: u64, ratio: f64, mean_talk_ms: u64, start_us: u64) -> Self {
        let ratio = ratio.clamp(0.01, 1.0);
        let mean_talk_us = mean_talk_ms as f64 * 1000.0;
        let mut t = Self {
            rng: StdRng::seed_from_u64(seed),
            mean_talk_us,
            mean_silence_us: mean_talk_us * (1.0 - ratio) / ratio,
            spurt: 0,
            spurt_start_us: start_us,
            spurt_end_us: start_us,
            next_frame_us: start_us,
            frame: 0,
        };
        // A random first silence, so speakers do not start in lockstep.
        t.spurt_end_us = start_us + t.draw(t.mean_silence_us);
        t
    }

    fn draw(&mut self, mean_us: f64) -> u64 {
        let u: f64 = self.rng.random_range(1e-9..1.0);
        (-mean_us * u.ln()).clamp(20_000.0, mean_us * 8.0 + 20_000.0) as u64
    }

    /// Moves the schedule to `now_us` plus a random phase within a frame (frames before it
    /// are never sent): speakers tick at their own moments, as in a real room, not all on
    /// one 20 ms grid, which would make every fan-out a worst-case burst.
    pub fn restart(&mut self, now_us: u64) {
        let phase = self.rng.random_range(0..AUDIO_FRAME_US);
        let shift = (now_us + phase).saturating_sub(self.next_frame_us);
        self.next_frame_us += shift;
        self.spurt_start_us += shift;
        self.spurt_end_us += shift;
    }

    /// True while in a talk spurt.
    pub fn talking(&self) -> bool {
        self.spurt & 1 == 1
    }

    /// The next frame due at or before `now_us`, if any; call until `None`.
    pub fn poll(&mut self, now_us: u64) -> Option<AudioFrame> {
        if self.next_frame_us > now_us {
            return None;
        }
        let at_us = self.next_frame_us;
        if at_us >= self.spurt_end_us {
            self.spurt += 1;
            self.spurt_start_us = at_us;
            let mean = if self.talking() {
                self.mean_talk_us
            } else {
                self.mean_silence_us
            };
            self.spurt_end_us = at_us + self.draw(mean);
        }
        self.frame = self.frame.wrapping_add(1);
        let (level, bytes, step) = if self.talking() {
            (-self.rng.random_range(18..34), SPEECH_BYTES, AUDIO_FRAME_US)
        } else {
            (-127, DTX_BYTES, DTX_FRAME_US)
        };
        // A silence ends on the 20 ms grid, not 400 ms late.
        self.next_frame_us = (at_us + step).min(self.spurt_end_us.max(at_us + AUDIO_FRAME_US));
        Some(AudioFrame {
            at_us,
            level,
            bytes,
            spurt: self.spurt,
            spurt_start_us: self.spurt_start_us,
            frame: self.frame,
        })
    }
}

/// One video packet to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoPacket {
    /// When it is due.
    pub at_us: u64,
    /// Payload size.
    pub bytes: usize,
    /// Last packet of its frame.
    pub marker: bool,
    /// First packet of a keyframe.
    pub keyframe_start: bool,
    /// Frame number.
    pub frame: u32,
}

/// A constant-bitrate video publisher with a keyframe every `keyframe_every` frames.
pub struct VideoSender {
    fps: u32,
    frame_bytes: usize,
    keyframe_every: u32,
    next_frame_us: u64,
    frame: u32,
    pending: Vec<VideoPacket>,
}

/// Largest RTP payload a video packet gets.
pub const VIDEO_MTU_PAYLOAD: usize = 1100;

impl VideoSender {
    /// `kbps` spread over `fps` frames; keyframes are three times the size.
    pub fn new(kbps: u32, fps: u32, start_us: u64) -> Self {
        let fps = fps.max(1);
        Self {
            fps,
            frame_bytes: (kbps as usize * 1000 / 8 / fps as usize).max(64),
            keyframe_every: fps * 2,
            next_frame_us: start_us,
            frame: 0,
            pending: Vec::new(),
        }
    }

    /// Moves the schedule to `now_us` (frames before it are never sent).
    pub fn restart(&mut self, now_us: u64) {
        self.next_frame_us = self.next_frame_us.max(now_us);
    }

    /// The next packet due at or before `now_us`, if any; call until `None`.
    pub fn poll(&mut self, now_us: u64) -> Option<VideoPacket> {
        if self.pending.is_empty() && self.next_frame_us <= now_us {
            let at_us = self.next_frame_us;
            let key = self.frame.is_multiple_of(self.keyframe_every);
            let total = if key {
                self.frame_bytes * 3
            } else {
                self.frame_bytes
            };
            let count = total.div_ceil(VIDEO_MTU_PAYLOAD);
            for i in 0..count {
                let bytes = if i + 1 == count {
                    total - i * VIDEO_MTU_PAYLOAD
                } else {
                    VIDEO_MTU_PAYLOAD
                };
                self.pending.push(VideoPacket {
                    at_us,
                    bytes: bytes.max(crate::probe::PROBE_LEN + 4),
                    marker: i + 1 == count,
                    keyframe_start: key && i == 0,
                    frame: self.frame,
                });
            }
            self.pending.reverse();
            self.frame = self.frame.wrapping_add(1);
            self.next_frame_us = at_us + 1_000_000 / u64::from(self.fps);
        }
        self.pending.pop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(t: &mut Talker, until_us: u64) -> Vec<AudioFrame> {
        let mut out = Vec::new();
        let mut now = 0;
        while now <= until_us {
            while let Some(f) = t.poll(now) {
                out.push(f);
            }
            now += 5_000;
        }
        out
    }

    #[test]
    fn talks_about_the_requested_share_of_time_with_dtx_between() {
        let mut t = Talker::new(1, 0.25, 1200, 0);
        let out = frames(&mut t, 600_000_000);
        let speech = out.iter().filter(|f| f.level > -127).count();
        let talk_share = speech as f64 * 0.02 / 600.0;
        assert!((0.17..0.33).contains(&talk_share), "{talk_share}");
        // Silent frames are DTX: far fewer than speech frames per second of silence.
        let silent = out.len() - speech;
        let silent_secs = 600.0 * (1.0 - talk_share);
        assert!(
            (silent as f64 / silent_secs) < 3.5,
            "{silent} in {silent_secs}s"
        );
        // Times never go backwards, and frames of one spurt share its start.
        assert!(out.windows(2).all(|w| w[0].at_us < w[1].at_us));
        assert!(out
            .windows(2)
            .all(|w| w[0].spurt != w[1].spurt || w[0].spurt_start_us == w[1].spurt_start_us));
    }

    #[test]
    fn speech_is_sent_every_20_ms() {
        let mut t = Talker::new(3, 1.0, 5000, 0);
        let out = frames(&mut t, 10_000_000);
        let speech: Vec<_> = out.iter().filter(|f| f.level > -127).collect();
        assert!(speech.len() > 400);
        assert!(speech
            .windows(2)
            .filter(|w| w[0].spurt == w[1].spurt)
            .all(|w| w[1].at_us - w[0].at_us == AUDIO_FRAME_US));
    }

    #[test]
    fn video_meets_its_bitrate_and_marks_frame_ends() {
        let mut v = VideoSender::new(1000, 30, 0);
        let mut packets = Vec::new();
        for ms in 0..10_000u64 {
            while let Some(p) = v.poll(ms * 1000) {
                packets.push(p);
            }
        }
        let bytes: usize = packets.iter().map(|p| p.bytes).sum();
        let kbps = bytes * 8 / 10 / 1000;
        assert!((1000..1400).contains(&kbps), "{kbps} kbit/s");
        assert_eq!(packets.iter().filter(|p| p.marker).count(), 300);
        assert_eq!(packets.iter().filter(|p| p.keyframe_start).count(), 5);
    }
}
