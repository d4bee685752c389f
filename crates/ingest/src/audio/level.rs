//! The RFC 6464 audio level of a block of samples.
//!
//! RFC 6464 §3: the level is the magnitude of the block's power relative to the overload
//! point of the system, in −dBov, from 0 (0 dBov, the loudest) to 127 (−127 dBov or
//! quieter, also digital silence). The power is the mean square of the samples (RMS), and the
//! overload point is full scale (±1.0 here, ±32768 in 16-bit terms). A full-scale sine is
//! therefore 3 dBov below the overload point (RMS 1/√2), a full-scale square wave 0. This is
//! how libwebrtc computes the level it sends (`RmsLevel`: mean square over the frame's samples,
//! all channels, rounded to the nearest dB).
//!
//! In an RTP header extension the level travels as its magnitude (`0..=127`); str0m's
//! `ExtensionValues::audio_level` holds it negated (`-127..=0`, it reads `-(byte & 0x7f)`), and
//! `podium-media`'s speaker ranking (`is_speech`, `Activity::observe`) takes that `i8` and uses
//! its `unsigned_abs()`. [`to_str0m`] converts.

/// The level of digital silence (and anything quieter than −127 dBov).
pub const SILENCE: u8 = 127;

/// The default voice-activity threshold in −dBov: a frame louder than −60 dBov is flagged as
/// active. Speech is around −20 to −40 dBov, the noise floor of a decent capture chain below
/// −60; `podium-media`'s default noise gate is at −70 dBov, so frames between the two are
/// marked inactive here and do not count as speech there.
pub const DEFAULT_VOICE_THRESHOLD: u8 = 60;

/// The RFC 6464 level of `samples` (interleaved, any number of channels, full scale ±1.0),
/// in −dBov: `round(−10·log10(mean(x²)))` clamped to `0..=127`; 127 for silence or no samples.
/// Samples past full scale count as full scale, NaN as silence.
pub fn audio_level(samples: &[f32]) -> u8 {
    if samples.is_empty() {
        return SILENCE;
    }
    let sum: f64 = samples
        .iter()
        .map(|&s| {
            let s = if s.is_nan() {
                0.0
            } else {
                f64::from(s.clamp(-1.0, 1.0))
            };
            s * s
        })
        .sum();
    let mean = sum / samples.len() as f64;
    if mean <= 0.0 {
        return SILENCE;
    }
    let dbov = -10.0 * mean.log10();
    // `dbov` is >= 0 (mean <= 1) and finite; the cast saturates anyway.
    dbov.round().clamp(0.0, f64::from(SILENCE)) as u8
}

/// The level as str0m's `ExtensionValues::audio_level` holds it: the negated magnitude,
/// `-127..=0` (`to_str0m(3) == -3`).
pub fn to_str0m(level: u8) -> i8 {
    -(level.min(SILENCE) as i8)
}

/// The voice-activity flag (the RFC 6464 V bit) for a level: louder than `threshold` −dBov.
/// Silence (127) is never active.
pub fn is_active(level: u8, threshold: u8) -> bool {
    level < SILENCE && level <= threshold
}
