//! PCM to Opus: resampling to 48 kHz, 20 ms framing on a timeline anchored to FLV time,
//! levels, and the Opus encoder. The AAC side ([`super::AacToOpus`]) feeds decoded frames in.

use std::collections::VecDeque;

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};

use super::level::{audio_level, is_active, to_str0m};
use super::{AudioError, AudioStats, OpusFrame, OpusSettings, FRAME_MS, FRAME_SAMPLES, OPUS_RATE};
use crate::timestamp::TimestampMapper;

/// The largest Opus packet for one frame (RFC 6716 §3.4: 1275 bytes of frame data plus the
/// TOC and length bytes); libopus never writes more than this for one 20 ms frame.
const MAX_PACKET: usize = 1500;

/// Streaming PCM → Opus encoder with RTP timestamps: the part of [`super::AacToOpus`] after the
/// AAC decoder, usable on its own for any PCM source timed by FLV timestamps.
///
/// Input: interleaved `f32` samples (full scale ±1.0) at the input rate with the FLV
/// timestamp (ms) of their first sample, in chunks of any size. Output: [`OpusFrame`]s from
/// [`PcmToOpus::poll_output`]. The timeline rules are those of the [module](super).
pub struct PcmToOpus {
    settings: OpusSettings,
    in_rate: u32,
    channels: usize,
    mapper: TimestampMapper,
    resampler: Option<Fft<f32>>,
    encoder: opus::Encoder,
    /// Interleaved input waiting for a full resampler chunk.
    in_fifo: Vec<f32>,
    /// Resampler output scratch.
    scratch: Vec<f32>,
    /// Interleaved 48 kHz samples waiting for a full 20 ms frame.
    out_fifo: Vec<f32>,
    /// The media time (ms on the mapper's unwrapped axis) of frame 0: the first input.
    origin_ms: Option<i64>,
    /// The frame index (since `origin_ms`, in 20 ms steps) of the next frame out.
    next_frame: i64,
    run: Option<Run>,
    queue: VecDeque<OpusFrame>,
    stats: AudioStats,
}

/// A stretch of input without a gap: its samples are laid out back to back.
#[derive(Debug, Clone, Copy)]
struct Run {
    /// The media time of the run's first input sample (on the 20 ms frame grid).
    start_ms: i64,
    /// Input frames (samples per channel) taken in this run.
    in_frames: u64,
    /// 48 kHz frames produced in this run, after the resampler delay was dropped.
    out_frames: u64,
    /// Resampler output frames still to drop (its delay) before real audio comes out.
    delay_left: usize,
    /// The next frame out is the first of the run (RTP marker).
    first: bool,
}

impl std::fmt::Debug for PcmToOpus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcmToOpus")
            .field("in_rate", &self.in_rate)
            .field("channels", &self.channels)
            .field("origin_ms", &self.origin_ms)
            .field("next_frame", &self.next_frame)
            .field("run", &self.run)
            .field("queued", &self.queue.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl PcmToOpus {
    /// An encoder for `channels` (1 or 2) channels at `in_rate` Hz; RTP timestamp `rtp_base`
    /// stands for FLV time 0, as with [`TimestampMapper::audio`].
    pub fn new(
        in_rate: u32,
        channels: u8,
        rtp_base: u32,
        settings: OpusSettings,
    ) -> Result<Self, AudioError> {
        let channels = check_channels(channels)?;
        Ok(Self {
            resampler: make_resampler(in_rate, channels)?,
            encoder: make_encoder(channels, &settings)?,
            settings,
            in_rate,
            channels,
            mapper: TimestampMapper::audio(rtp_base),
            in_fifo: Vec::new(),
            scratch: Vec::new(),
            out_fifo: Vec::new(),
            origin_ms: None,
            next_frame: 0,
            run: None,
            queue: VecDeque::new(),
            stats: AudioStats::default(),
        })
    }

    /// The input sample rate.
    pub fn input_rate(&self) -> u32 {
        self.in_rate
    }

    /// The number of channels in and out (1 or 2).
    pub fn channels(&self) -> u8 {
        self.channels as u8
    }

    /// The RTP timestamp of media time `ms` (FLV time, unwrapped), for RTCP sender reports.
    pub fn rtp_at(&self, ms: i64) -> u32 {
        self.mapper.rtp_at(ms)
    }

    /// Counters.
    pub fn stats(&self) -> AudioStats {
        self.stats
    }

    /// The next encoded frame, in order.
    pub fn poll_output(&mut self) -> Option<OpusFrame> {
        self.queue.pop_front()
    }

    /// Tells the encoder the packet loss to protect against with in-band FEC (0–100 %), e.g.
    /// from viewers' RTCP receiver reports. Only has an effect when FEC is on.
    pub fn set_packet_loss(&mut self, percent: u8) -> Result<(), AudioError> {
        self.settings.packet_loss_percent = percent.min(100);
        if self.settings.fec {
            self.encoder
                .set_packet_loss_perc(i32::from(self.settings.packet_loss_percent))
                .map_err(|e| AudioError::Encoder(e.to_string()))?;
        }
        Ok(())
    }

    /// Changes the input format: what was pushed so far is flushed (as at a gap), then the
    /// resampler and, for a new channel count, the encoder are rebuilt. The timeline goes on.
    pub fn set_format(&mut self, in_rate: u32, channels: u8) -> Result<(), AudioError> {
        let channels = check_channels(channels)?;
        if in_rate == self.in_rate && channels == self.channels {
            return Ok(());
        }
        let resampler = make_resampler(in_rate, channels)?;
        let encoder = if channels == self.channels {
            None
        } else {
            Some(make_encoder(channels, &self.settings)?)
        };
        self.flush()?;
        self.resampler = resampler;
        if let Some(encoder) = encoder {
            self.encoder = encoder;
        }
        self.in_rate = in_rate;
        self.channels = channels;
        Ok(())
    }

    /// Takes `samples` (interleaved, `channels()` per frame, full scale ±1.0) whose first
    /// sample is at FLV time `flv_ms`. A trailing partial frame of samples is ignored.
    pub fn push(&mut self, flv_ms: u32, samples: &[f32]) -> Result<(), AudioError> {
        let frames = samples.len() / self.channels;
        let samples = &samples[..frames * self.channels];
        let t = self.mapper.map(flv_ms, 0).dts_ms;
        let origin = *self.origin_ms.get_or_insert(t);
        if let Some(run) = self.run {
            let expected =
                run.start_ms as f64 + run.in_frames as f64 * 1000.0 / f64::from(self.in_rate);
            if t as f64 - expected > f64::from(self.settings.gap_threshold_ms) {
                self.stats.gaps += 1;
                self.flush()?;
            }
        }
        if self.run.is_none() {
            // A new run starts on the 20 ms grid nearest to its FLV time, never before the
            // frames already sent.
            let slot = ((t - origin) as f64 / f64::from(FRAME_MS)).round() as i64;
            self.next_frame = self.next_frame.max(slot);
            if let Some(r) = self.resampler.as_mut() {
                r.reset();
            }
            self.run = Some(Run {
                start_ms: origin + self.next_frame * i64::from(FRAME_MS),
                in_frames: 0,
                out_frames: 0,
                delay_left: self.resampler.as_ref().map_or(0, |r| r.output_delay()),
                first: true,
            });
        }
        if let Some(run) = self.run.as_mut() {
            run.in_frames += frames as u64;
        }
        self.stats.input_frames += frames as u64;
        // NaN or infinite samples (a confused decoder) become silence.
        let clean = samples.iter().map(|&s| if s.is_finite() { s } else { 0.0 });
        if self.resampler.is_none() {
            self.out_fifo.extend(clean);
            if let Some(run) = self.run.as_mut() {
                run.out_frames += frames as u64;
            }
        } else {
            self.in_fifo.extend(clean);
            self.resample_full_chunks()?;
        }
        self.encode_full_frames()
    }

    /// Ends the current run: the input still inside the resampler is pushed out, the last
    /// partial 20 ms frame is completed with silence and encoded. The next push starts a new
    /// run (on the frame grid, after the frames sent). Call at the end of the stream.
    pub fn flush(&mut self) -> Result<(), AudioError> {
        let Some(run) = self.run else {
            return Ok(());
        };
        if self.resampler.is_some() {
            self.resample_full_chunks()?;
            // All of the run's input, resampled: ceil(in_frames * 48000 / in_rate).
            let target = (u128::from(run.in_frames) * u128::from(OPUS_RATE))
                .div_ceil(u128::from(self.in_rate)) as u64;
            while self.run.is_some_and(|r| r.out_frames < target) {
                // The rest of the input, then silence, until the delay line is empty.
                let partial = self.in_fifo.len() / self.channels;
                self.resample_chunk(Some(partial))?;
            }
            let extra = self.run.map_or(0, |r| r.out_frames.saturating_sub(target));
            let keep = self
                .out_fifo
                .len()
                .saturating_sub(extra as usize * self.channels);
            self.out_fifo.truncate(keep);
            self.in_fifo.clear();
        }
        let frame_len = FRAME_SAMPLES * self.channels;
        let partial = self.out_fifo.len() % frame_len;
        if partial != 0 {
            self.out_fifo
                .resize(self.out_fifo.len() + frame_len - partial, 0.0);
        }
        let result = self.encode_full_frames();
        self.run = None;
        result
    }

    /// Runs the resampler over every full chunk in the input FIFO.
    fn resample_full_chunks(&mut self) -> Result<(), AudioError> {
        let Some(need) = self.resampler.as_ref().map(|r| r.input_frames_next()) else {
            return Ok(());
        };
        while self.in_fifo.len() >= need * self.channels {
            self.resample_chunk(None)?;
        }
        Ok(())
    }

    /// Resamples one chunk from the front of the input FIFO (`partial`: only that many frames
    /// are real, the rest silence) into the output FIFO, dropping the resampler's delay.
    fn resample_chunk(&mut self, partial: Option<usize>) -> Result<(), AudioError> {
        let (Some(resampler), Some(run)) = (self.resampler.as_mut(), self.run.as_mut()) else {
            return Ok(());
        };
        let ch = self.channels;
        let need = resampler.input_frames_next();
        let available = self.in_fifo.len() / ch;
        let real = partial.unwrap_or(need).min(need).min(available);
        let input = InterleavedSlice::new(&self.in_fifo[..real * ch], ch, real)
            .map_err(|e| AudioError::Resampler(e.to_string()))?;
        self.scratch.resize(resampler.output_frames_max() * ch, 0.0);
        let mut output =
            InterleavedSlice::new_mut(&mut self.scratch, ch, resampler.output_frames_max())
                .map_err(|e| AudioError::Resampler(e.to_string()))?;
        let indexing = Indexing::new().partial_len(real);
        let (_, produced) = resampler
            .process_into_buffer(&input, &mut output, Some(&indexing))
            .map_err(|e| AudioError::Resampler(e.to_string()))?;
        self.in_fifo.drain(..real * ch);
        let skip = run.delay_left.min(produced);
        run.delay_left -= skip;
        run.out_frames += (produced - skip) as u64;
        self.out_fifo
            .extend_from_slice(&self.scratch[skip * ch..produced * ch]);
        Ok(())
    }

    /// Encodes every full 20 ms frame in the output FIFO.
    fn encode_full_frames(&mut self) -> Result<(), AudioError> {
        let frame_len = FRAME_SAMPLES * self.channels;
        let mut taken = 0;
        let mut result = Ok(());
        while self.out_fifo.len() - taken >= frame_len {
            let pcm = &self.out_fifo[taken..taken + frame_len];
            taken += frame_len;
            let level = audio_level(pcm);
            let mut payload = vec![0u8; MAX_PACKET];
            let n = self.next_frame;
            self.next_frame += 1;
            let marker = self
                .run
                .as_mut()
                .is_some_and(|r| std::mem::take(&mut r.first));
            match self.encoder.encode_float(pcm, &mut payload) {
                Ok(len) => {
                    payload.truncate(len);
                    let origin = self.origin_ms.unwrap_or(0);
                    let ticks = (n * FRAME_SAMPLES as i64).rem_euclid(1 << 32) as u32;
                    self.stats.output_frames += 1;
                    self.queue.push_back(OpusFrame {
                        payload,
                        rtp_timestamp: self.mapper.rtp_at(origin).wrapping_add(ticks),
                        pts_ms: origin + n * i64::from(FRAME_MS),
                        level,
                        audio_level: to_str0m(level),
                        voice_activity: is_active(level, self.settings.voice_threshold),
                        marker,
                    });
                }
                Err(e) => {
                    // The frame's slot stays empty; the timeline is unaffected.
                    self.stats.encode_errors += 1;
                    result = Err(AudioError::Encoder(e.to_string()));
                }
            }
        }
        self.out_fifo.drain(..taken);
        result
    }
}

fn check_channels(channels: u8) -> Result<usize, AudioError> {
    match channels {
        1 | 2 => Ok(usize::from(channels)),
        other => Err(AudioError::UnsupportedChannels(other)),
    }
}

/// A 48 kHz resampler for `in_rate`, `None` when the input already is 48 kHz. FFT-based and
/// synchronous (the ratio is fixed): both chunk sizes fixed, about 10 ms of input per chunk,
/// one FFT block per chunk (an output delay of half a block, dropped at the start of a run).
fn make_resampler(in_rate: u32, channels: usize) -> Result<Option<Fft<f32>>, AudioError> {
    if in_rate == OPUS_RATE {
        return Ok(None);
    }
    if in_rate == 0 {
        return Err(AudioError::Resampler("input sample rate 0".to_owned()));
    }
    let chunk = (in_rate as usize / 100).max(1);
    Fft::new(
        in_rate as usize,
        OPUS_RATE as usize,
        chunk,
        channels,
        FixedSync::Both,
    )
    .map(Some)
    .map_err(|e| AudioError::Resampler(e.to_string()))
}

fn make_encoder(channels: usize, settings: &OpusSettings) -> Result<opus::Encoder, AudioError> {
    let err = |e: opus::Error| AudioError::Encoder(e.to_string());
    let opus_channels = if channels == 1 {
        opus::Channels::Mono
    } else {
        opus::Channels::Stereo
    };
    let mut encoder =
        opus::Encoder::new(OPUS_RATE, opus_channels, settings.application).map_err(err)?;
    let bitrate = settings.bitrate.unwrap_or(if channels == 1 {
        super::DEFAULT_BITRATE_MONO
    } else {
        super::DEFAULT_BITRATE_STEREO
    });
    encoder
        .set_bitrate(opus::Bitrate::Bits(
            i32::try_from(bitrate).unwrap_or(i32::MAX),
        ))
        .map_err(err)?;
    encoder.set_dtx(false).map_err(err)?;
    encoder.set_inband_fec(settings.fec).map_err(err)?;
    if settings.fec {
        encoder
            .set_packet_loss_perc(i32::from(settings.packet_loss_percent.min(100)))
            .map_err(err)?;
    }
    if let Some(complexity) = settings.complexity {
        encoder
            .set_complexity(i32::from(complexity.min(10)))
            .map_err(err)?;
    }
    Ok(encoder)
}
