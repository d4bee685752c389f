//! Voice-activity ranking of a stream's audio sources, from the RFC 6464 audio level only.
//!
//! Every source has an activity score: each speech packet adds a weight (louder speech
//! weighs more) and the score decays exponentially with time constant `tau`. Silence,
//! DTX and a vanished sender all look the same here: no speech is added, so the score
//! decays. The decay is applied lazily from timestamps, so nothing runs per source between
//! packets and the ranking is computed once per stream per tick.
//!
//! With the defaults a continuous talker at 50 packets/s settles at a score of about 20;
//! `activate` = 5 is reached after about 6 loud packets (~110 ms), so a cough of under
//! ~100 ms never qualifies, and `deactivate` = 1 is reached ~1.2 s after a talker stops,
//! so pauses between words and sentences do not release a slot.

use std::time::{Duration, Instant};

/// Tuning of the detector.
#[derive(Debug, Clone, Copy)]
pub struct SpeakerConfig {
    /// Decay time constant of the activity score.
    pub tau: Duration,
    /// Packets quieter than this (in −dBov) are not speech, whatever their V flag says.
    pub noise_gate_dbov: u8,
    /// Score at which a source may take a slot.
    pub activate: f32,
    /// Score under which a source counts as silent and its slot may be reused.
    pub deactivate: f32,
}

impl Default for SpeakerConfig {
    fn default() -> Self {
        Self {
            tau: Duration::from_millis(400),
            noise_gate_dbov: 70,
            activate: 5.0,
            deactivate: 1.0,
        }
    }
}

/// Activity of one source.
#[derive(Debug, Clone, Copy)]
pub struct Activity {
    score: f32,
    at: Instant,
}

impl Activity {
    /// A silent source at `now`.
    pub fn new(now: Instant) -> Self {
        Self {
            score: 0.0,
            at: now,
        }
    }

    /// Accounts one audio packet: `level` is the RFC 6464 level as str0m reports it
    /// (0 = loudest, −127 = silence), `voice` the V flag if the sender sets it.
    pub fn observe(
        &mut self,
        now: Instant,
        level: Option<i8>,
        voice: Option<bool>,
        cfg: &SpeakerConfig,
    ) {
        let Some(weight) = speech_weight(level, voice, cfg) else {
            return;
        };
        self.score = self.score_at(now, cfg) + weight;
        self.at = self.at.max(now);
    }

    /// The decayed score at `now`.
    pub fn score_at(&self, now: Instant, cfg: &SpeakerConfig) -> f32 {
        let dt = now.saturating_duration_since(self.at).as_secs_f32();
        self.score * (-dt / cfg.tau.as_secs_f32()).exp()
    }
}

/// Whether a packet counts as speech (see [`SpeakerConfig::noise_gate_dbov`]).
pub fn is_speech(level: Option<i8>, voice: Option<bool>, cfg: &SpeakerConfig) -> bool {
    speech_weight(level, voice, cfg).is_some()
}

/// Weight of a packet as speech: 1.0 at −30 dBov or louder, falling linearly to 0.25 at the
/// noise gate; `None` when it is not speech (no level, V=0, silence, or below the gate).
fn speech_weight(level: Option<i8>, voice: Option<bool>, cfg: &SpeakerConfig) -> Option<f32> {
    let dbov = level?.unsigned_abs().min(127);
    if voice == Some(false) || dbov >= 127 || dbov > cfg.noise_gate_dbov {
        return None;
    }
    let span = f32::from(cfg.noise_gate_dbov.saturating_sub(30).max(1));
    let over_gate = f32::from(cfg.noise_gate_dbov.saturating_sub(dbov));
    Some((0.25 + 0.75 * over_gate / span).min(1.0))
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests need an arbitrary origin for simulated time
mod tests {
    use super::*;

    fn talk(a: &mut Activity, from: Instant, ms: u64, level: i8, cfg: &SpeakerConfig) -> Instant {
        let mut t = from;
        for _ in 0..ms / 20 {
            a.observe(t, Some(level), Some(true), cfg);
            t += Duration::from_millis(20);
        }
        t
    }

    #[test]
    fn sustained_speech_activates_quickly_and_a_cough_does_not() {
        let cfg = SpeakerConfig::default();
        let t0 = Instant::now();
        let mut speech = Activity::new(t0);
        let mut t = t0;
        let mut activated_after = None;
        for i in 0..50 {
            speech.observe(t, Some(-25), Some(true), &cfg);
            if activated_after.is_none() && speech.score_at(t, &cfg) >= cfg.activate {
                activated_after = Some(i * 20);
            }
            t += Duration::from_millis(20);
        }
        let after = activated_after.expect("activates");
        assert!((80..=140).contains(&after), "activated after {after} ms");

        let mut cough = Activity::new(t0);
        let end = talk(&mut cough, t0, 80, -10, &cfg);
        assert!(cough.score_at(end, &cfg) < cfg.activate);
    }

    #[test]
    fn silence_and_dtx_decay_below_deactivate_within_about_a_second_and_a_half() {
        let cfg = SpeakerConfig::default();
        let t0 = Instant::now();
        let mut a = Activity::new(t0);
        let end = talk(&mut a, t0, 3000, -25, &cfg);
        assert!(a.score_at(end, &cfg) > 15.0);
        assert!(
            a.score_at(end + Duration::from_millis(600), &cfg) > cfg.deactivate,
            "a pause keeps it"
        );
        assert!(a.score_at(end + Duration::from_millis(1500), &cfg) < cfg.deactivate);
        // DTX frames (silence level, V=0) add nothing.
        a.observe(
            end + Duration::from_millis(400),
            Some(-127),
            Some(false),
            &cfg,
        );
        assert!(a.score_at(end + Duration::from_millis(1500), &cfg) < cfg.deactivate);
    }

    #[test]
    fn quiet_packets_and_noise_weigh_less_or_nothing() {
        let cfg = SpeakerConfig::default();
        assert_eq!(speech_weight(Some(-20), Some(true), &cfg), Some(1.0));
        assert!(speech_weight(Some(-65), Some(true), &cfg).unwrap() < 0.5);
        assert_eq!(
            speech_weight(Some(-80), Some(true), &cfg),
            None,
            "below the gate"
        );
        assert_eq!(
            speech_weight(Some(-20), Some(false), &cfg),
            None,
            "V flag off"
        );
        assert_eq!(speech_weight(None, None, &cfg), None);
        assert_eq!(
            speech_weight(Some(-20), None, &cfg),
            Some(1.0),
            "no V flag: level decides"
        );
    }
}
