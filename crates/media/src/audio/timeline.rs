//! Who spoke when, for a replay: one publication's speech turns, from the RFC 6464 levels
//! its packets carry (no decoding, so end-to-end encrypted audio works too). It uses the
//! activity score the audio multiplexer ranks speakers by ([`super::speaker`]): a turn
//! starts when the score reaches [`SpeakerConfig::activate`] (dated back to the first
//! speech packet of that burst, packets less than [`JOIN_GAP`] apart) and ends when it decays under
//! [`SpeakerConfig::deactivate`] (dated back to the last speech packet). Silences (DTX
//! sends nothing) are seen at the next packet or at the end.
//!
//! Rejected: a fixed level threshold per packet, which flickers on every pause between
//! words; and dating ends by the score alone, which adds the decay's second or so to every
//! turn.

use std::time::{Duration, Instant};

use super::speaker::{is_speech, Activity, SpeakerConfig};

/// One turn, in milliseconds from the timeline's origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Turn {
    /// Its first speech packet.
    pub start_ms: u64,
    /// The end of its last speech packet.
    pub end_ms: u64,
}

/// Turns closer than this are one (a breath between sentences).
pub const JOIN_GAP: Duration = Duration::from_millis(700);

/// Most turns kept: beyond, the last one is stretched (bounded memory for any length).
pub const MAX_TURNS: usize = 20_000;

/// Audio carried by one packet (WebRTC's Opus frames), added to a turn's last packet.
const FRAME: Duration = Duration::from_millis(20);

/// A publication's speech turns as its packets arrive.
#[derive(Debug)]
pub struct SpeechTimeline {
    cfg: SpeakerConfig,
    origin: Instant,
    activity: Activity,
    /// First speech packet of the latest burst.
    burst: Option<Instant>,
    /// The turn under way: its start.
    turn: Option<Instant>,
    /// The latest speech packet.
    last_speech: Instant,
    turns: Vec<Turn>,
}

impl SpeechTimeline {
    /// A timeline whose times count from `origin` (the recording's start).
    pub fn new(origin: Instant, cfg: SpeakerConfig) -> Self {
        Self {
            cfg,
            origin,
            activity: Activity::new(origin),
            burst: None,
            turn: None,
            last_speech: origin,
            turns: Vec::new(),
        }
    }

    /// Accounts one audio packet of the publication.
    pub fn observe(&mut self, now: Instant, level: Option<i8>, voice: Option<bool>) {
        self.close_if_quiet(now);
        if !is_speech(level, voice, &self.cfg) {
            return;
        }
        // A burst is speech packets less than a breath apart.
        if self.burst.is_none() || now.saturating_duration_since(self.last_speech) > JOIN_GAP {
            self.burst = Some(now);
        }
        self.activity.observe(now, level, voice, &self.cfg);
        self.last_speech = self.last_speech.max(now);
        if self.turn.is_none() && self.activity.score_at(now, &self.cfg) >= self.cfg.activate {
            self.turn = Some(self.burst.unwrap_or(now));
        }
    }

    /// The turns, the one under way ended at its last speech packet (`now` is the end of
    /// the recording).
    pub fn finish(mut self, now: Instant) -> Vec<Turn> {
        self.close_if_quiet(now);
        if let Some(start) = self.turn.take() {
            self.push(start, self.last_speech + FRAME);
        }
        self.turns
    }

    fn close_if_quiet(&mut self, now: Instant) {
        if self.turn.is_some() && self.activity.score_at(now, &self.cfg) < self.cfg.deactivate {
            if let Some(start) = self.turn.take() {
                self.push(start, self.last_speech + FRAME);
            }
        }
    }

    fn push(&mut self, start: Instant, end: Instant) {
        let ms = |t: Instant| t.saturating_duration_since(self.origin).as_millis() as u64;
        let (start_ms, end_ms) = (ms(start), ms(end));
        let join = JOIN_GAP.as_millis() as u64;
        let full = self.turns.len() >= MAX_TURNS;
        match self.turns.last_mut() {
            Some(last) if start_ms <= last.end_ms + join || full => {
                last.end_ms = last.end_ms.max(end_ms);
            }
            _ => self.turns.push(Turn { start_ms, end_ms }),
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests need an arbitrary origin for simulated time
mod tests {
    use super::*;

    const LOUD: Option<i8> = Some(-20);
    const SILENT: Option<i8> = Some(-127);

    /// Packets every 20 ms from `from_ms` to `to_ms` at `level`.
    fn talk(t: &mut SpeechTimeline, t0: Instant, from_ms: u64, to_ms: u64, level: Option<i8>) {
        for ms in (from_ms..to_ms).step_by(20) {
            t.observe(t0 + Duration::from_millis(ms), level, None);
        }
    }

    #[test]
    fn a_spoken_stretch_is_one_turn_dated_by_its_speech() {
        let t0 = Instant::now();
        let mut t = SpeechTimeline::new(t0, SpeakerConfig::default());
        talk(&mut t, t0, 0, 1000, SILENT);
        talk(&mut t, t0, 1000, 3000, LOUD);
        talk(&mut t, t0, 3000, 6000, SILENT);
        assert_eq!(
            t.finish(t0 + Duration::from_secs(6)),
            [Turn {
                start_ms: 1000,
                end_ms: 3000
            }]
        );
    }

    #[test]
    fn dtx_silence_ends_a_turn_at_the_next_packet_and_pauses_join() {
        let t0 = Instant::now();
        let mut t = SpeechTimeline::new(t0, SpeakerConfig::default());
        talk(&mut t, t0, 0, 1000, LOUD);
        // A breath: nothing sent for 300 ms, then more speech: one turn.
        talk(&mut t, t0, 1300, 2000, LOUD);
        // DTX: nothing for 5 s, then a new turn.
        talk(&mut t, t0, 7000, 8000, LOUD);
        let turns = t.finish(t0 + Duration::from_secs(9));
        assert_eq!(
            turns,
            [
                Turn {
                    start_ms: 0,
                    end_ms: 2000
                },
                Turn {
                    start_ms: 7000,
                    end_ms: 8000
                }
            ]
        );
    }

    #[test]
    fn clicks_and_quiet_noise_are_not_turns() {
        let t0 = Instant::now();
        let mut t = SpeechTimeline::new(t0, SpeakerConfig::default());
        // A 60 ms click every second, and noise under the gate.
        for s in 0..10 {
            talk(&mut t, t0, s * 1000, s * 1000 + 60, LOUD);
            talk(&mut t, t0, s * 1000 + 60, s * 1000 + 1000, Some(-90));
        }
        assert!(t.finish(t0 + Duration::from_secs(10)).is_empty());
    }

    #[test]
    fn the_voice_flag_off_is_not_speech_and_no_level_is_not_either() {
        let t0 = Instant::now();
        let mut t = SpeechTimeline::new(t0, SpeakerConfig::default());
        for ms in (0..2000).step_by(20) {
            t.observe(t0 + Duration::from_millis(ms), LOUD, Some(false));
        }
        talk(&mut t, t0, 2000, 4000, None);
        assert!(t.finish(t0 + Duration::from_secs(4)).is_empty());
    }

    #[test]
    fn turns_are_bounded_however_long_the_recording() {
        let t0 = Instant::now();
        let mut t = SpeechTimeline::new(t0, SpeakerConfig::default());
        let n = MAX_TURNS as u64 + 50;
        for i in 0..n {
            let at = i * 3000;
            talk(&mut t, t0, at, at + 500, LOUD);
        }
        let end = t0 + Duration::from_millis(n * 3000);
        let turns = t.finish(end);
        assert_eq!(turns.len(), MAX_TURNS);
        assert!(turns.last().unwrap().end_ms >= (n - 1) * 3000 + 500);
    }
}
