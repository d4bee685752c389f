//! Relay messages as bytes, for the link between two nodes of a cluster (`docs/cluster.md`).
//!
//! Inside one server the workers pass [`Relay`] values over channels; between nodes the same
//! messages cross a network link, so an edge's follower and an origin's home run exactly the
//! code they run between workers. The first byte says what follows:
//! - `C`: control (follow, counts, sources, keyframe requests…) as JSON: rare, must arrive,
//!   and readable in a packet capture;
//! - `P`: one media packet, a fixed binary header then the payload;
//! - `R`: a speaker ranking, binary.
//!
//! Packets carry the forwarding path's view of the packet (extended sequence number and
//! timestamp, keyframe, layer, audio level), not the publisher's SRTP bytes: the origin has
//! already parsed them, and the edge's mirror publication takes them as they are. Whatever
//! arrives is checked: a malformed message is an error, never a panic.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use str0m::format::PayloadParams;
use str0m::media::{KeyframeRequestKind, Pt};
use str0m::rtp::VideoOrientation;

use super::forward::{Input, Packet};
use super::relay::{Relay, RelayMsg, TrackInfo};
use crate::{Kind, PeerId, TrackDesc};

const CONTROL: u8 = b'C';
const PACKET: u8 = b'P';
const RANKING: u8 = b'R';

/// Longest stream name on the wire (names are at most 128 characters).
const MAX_NAME: usize = 255;

/// A relay message that could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    /// It ends before its fields do.
    #[error("relay message too short")]
    Short,
    /// Its first byte is no known type.
    #[error("unknown relay message type {0:#04x}")]
    UnknownType(u8),
    /// Its control JSON does not parse or is out of bounds.
    #[error("invalid relay control message: {0}")]
    Control(String),
    /// Its stream name is empty, too long or not UTF-8.
    #[error("invalid stream name in relay message")]
    Name,
    /// Its payload is larger than any forwarded packet.
    #[error("relay payload of {0} bytes is larger than a packet")]
    TooLarge(usize),
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
enum Control {
    Follow {
        stream: String,
        from: usize,
        slots: bool,
    },
    Unfollow {
        stream: String,
        from: usize,
    },
    Count {
        stream: String,
        from: usize,
        count: usize,
        connected: usize,
    },
    Keyframe {
        stream: String,
        source: u32,
        fir: bool,
    },
    Source {
        stream: String,
        source: u32,
        key: Option<String>,
        generation: u64,
        tracks: Vec<WireTrack>,
    },
    SourceEnded {
        stream: String,
        source: u32,
    },
    Total {
        stream: String,
        count: usize,
        connected: usize,
    },
}

#[derive(Serialize, Deserialize)]
struct WireTrack {
    video: bool,
    track_id: String,
    params: Vec<PayloadParams>,
    layers: Vec<String>,
}

impl Relay {
    /// The stream it is about.
    pub fn stream(&self) -> &str {
        match &self.msg {
            RelayMsg::Follow { stream, .. }
            | RelayMsg::Unfollow { stream, .. }
            | RelayMsg::Count { stream, .. }
            | RelayMsg::Keyframe { stream, .. }
            | RelayMsg::Source { stream, .. }
            | RelayMsg::SourceEnded { stream, .. }
            | RelayMsg::Packet { stream, .. }
            | RelayMsg::Ranking { stream, .. }
            | RelayMsg::Total { stream, .. } => stream,
        }
    }

    /// Whether a follower sends it to its home (follow, unfollow, counts, keyframe
    /// requests); the others go from a home to its followers. A node accepts from a link
    /// only the kind its side of the link should send.
    pub fn is_upstream(&self) -> bool {
        matches!(
            self.msg,
            RelayMsg::Follow { .. }
                | RelayMsg::Unfollow { .. }
                | RelayMsg::Count { .. }
                | RelayMsg::Keyframe { .. }
        )
    }

    /// The worker that sent it, for messages from a follower to its home.
    pub fn from_worker(&self) -> Option<usize> {
        match &self.msg {
            RelayMsg::Follow { from, .. }
            | RelayMsg::Unfollow { from, .. }
            | RelayMsg::Count { from, .. } => Some(*from),
            _ => None,
        }
    }

    /// The same message for worker `to` and, for a follower's message, as if sent by `from`:
    /// how a node addresses what arrives from a link (`from` names the link there).
    pub fn readdressed(mut self, to: usize, from: usize) -> Self {
        self.to = to;
        match &mut self.msg {
            RelayMsg::Follow { from: f, .. }
            | RelayMsg::Unfollow { from: f, .. }
            | RelayMsg::Count { from: f, .. } => *f = from,
            _ => {}
        }
        self
    }

    /// "Follower `from` no longer follows `stream`", for worker `to`: what a node tells its
    /// home worker for a link that went down, so the home stops sending to it.
    pub fn unfollow(to: usize, stream: &str, from: usize) -> Relay {
        Relay {
            to,
            msg: RelayMsg::Unfollow {
                stream: Arc::from(stream),
                from,
            },
        }
    }

    /// Whether it starts following a stream (`Some(true)`), stops (`Some(false)`), or
    /// neither.
    pub fn follows(&self) -> Option<bool> {
        match self.msg {
            RelayMsg::Follow { .. } => Some(true),
            RelayMsg::Unfollow { .. } => Some(false),
            _ => None,
        }
    }

    /// Appends the message's bytes to `out`. `now` dates the packet's capture time.
    pub fn encode(&self, now: Instant, out: &mut Vec<u8>) {
        match &self.msg {
            RelayMsg::Packet {
                stream,
                source,
                packet,
            } => encode_packet(now, stream, *source, packet, out),
            RelayMsg::Ranking { stream, ranked } => {
                out.push(RANKING);
                put_name(stream, out);
                let n = ranked.len().min(usize::from(u16::MAX));
                out.extend_from_slice(&(n as u16).to_be_bytes());
                for (source, score) in ranked.iter().take(n) {
                    out.extend_from_slice(&source.to_be_bytes());
                    out.extend_from_slice(&score.to_be_bytes());
                }
            }
            msg => {
                if let Some(control) = control_of(msg) {
                    out.push(CONTROL);
                    // Serializing plain data into a Vec cannot fail.
                    let _ = serde_json::to_writer(&mut *out, &control);
                }
            }
        }
    }

    /// Reads a message written by [`Relay::encode`], addressed to worker 0 until
    /// [`Relay::readdressed`]. `now` is its arrival.
    pub fn decode(bytes: &[u8], now: Instant) -> Result<Relay, WireError> {
        let (&kind, rest) = bytes.split_first().ok_or(WireError::Short)?;
        let msg = match kind {
            CONTROL => {
                let control: Control =
                    serde_json::from_slice(rest).map_err(|e| WireError::Control(e.to_string()))?;
                msg_of(control)?
            }
            PACKET => decode_packet(rest, now)?,
            RANKING => {
                let mut r = Reader(rest);
                let stream = r.name()?;
                let n = usize::from(r.u16()?);
                let mut ranked = Vec::with_capacity(n.min(r.0.len() / 8));
                for _ in 0..n {
                    ranked.push((r.u32()?, f32::from_bits(r.u32()?)));
                }
                RelayMsg::Ranking {
                    stream,
                    ranked: ranked.into(),
                }
            }
            other => return Err(WireError::UnknownType(other)),
        };
        Ok(Relay { to: 0, msg })
    }
}

fn control_of(msg: &RelayMsg) -> Option<Control> {
    Some(match msg {
        RelayMsg::Follow {
            stream,
            from,
            slots,
        } => Control::Follow {
            stream: stream.to_string(),
            from: *from,
            slots: *slots,
        },
        RelayMsg::Unfollow { stream, from } => Control::Unfollow {
            stream: stream.to_string(),
            from: *from,
        },
        RelayMsg::Count {
            stream,
            from,
            count,
            connected,
        } => Control::Count {
            stream: stream.to_string(),
            from: *from,
            count: *count,
            connected: *connected,
        },
        RelayMsg::Keyframe {
            stream,
            source,
            kind,
        } => Control::Keyframe {
            stream: stream.to_string(),
            source: *source,
            fir: *kind == KeyframeRequestKind::Fir,
        },
        RelayMsg::Source {
            stream,
            source,
            key,
            generation,
            tracks,
        } => Control::Source {
            stream: stream.to_string(),
            source: *source,
            key: key.clone(),
            generation: *generation,
            tracks: tracks
                .iter()
                .map(|t| WireTrack {
                    video: t.desc.kind == Kind::Video,
                    track_id: t.desc.track_id.clone(),
                    params: t.params.clone(),
                    layers: t.layers.clone(),
                })
                .collect(),
        },
        RelayMsg::SourceEnded { stream, source } => Control::SourceEnded {
            stream: stream.to_string(),
            source: *source,
        },
        RelayMsg::Total {
            stream,
            count,
            connected,
        } => Control::Total {
            stream: stream.to_string(),
            count: *count,
            connected: *connected,
        },
        // Media has a binary form of its own.
        RelayMsg::Packet { .. } | RelayMsg::Ranking { .. } => return None,
    })
}

fn checked_name(name: String) -> Result<Arc<str>, WireError> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(WireError::Name);
    }
    Ok(Arc::from(name))
}

fn msg_of(control: Control) -> Result<RelayMsg, WireError> {
    Ok(match control {
        Control::Follow {
            stream,
            from,
            slots,
        } => RelayMsg::Follow {
            stream: checked_name(stream)?,
            from,
            slots,
        },
        Control::Unfollow { stream, from } => RelayMsg::Unfollow {
            stream: checked_name(stream)?,
            from,
        },
        Control::Count {
            stream,
            from,
            count,
            connected,
        } => RelayMsg::Count {
            stream: checked_name(stream)?,
            from,
            count,
            connected,
        },
        Control::Keyframe {
            stream,
            source,
            fir,
        } => RelayMsg::Keyframe {
            stream: checked_name(stream)?,
            source,
            kind: if fir {
                KeyframeRequestKind::Fir
            } else {
                KeyframeRequestKind::Pli
            },
        },
        Control::Source {
            stream,
            source,
            key,
            generation,
            tracks,
        } => {
            if tracks.len() > 16 || tracks.iter().any(|t| t.layers.len() > 8) {
                return Err(WireError::Control("too many tracks or layers".into()));
            }
            RelayMsg::Source {
                stream: checked_name(stream)?,
                source,
                key,
                generation,
                tracks: tracks
                    .into_iter()
                    .map(|t| TrackInfo {
                        desc: TrackDesc {
                            kind: if t.video { Kind::Video } else { Kind::Audio },
                            track_id: t.track_id,
                        },
                        params: t.params,
                        layers: t.layers,
                    })
                    .collect(),
            }
        }
        Control::SourceEnded { stream, source } => RelayMsg::SourceEnded {
            stream: checked_name(stream)?,
            source,
        },
        Control::Total {
            stream,
            count,
            connected,
        } => RelayMsg::Total {
            stream: checked_name(stream)?,
            count,
            connected,
        },
    })
}

// Packet flags.
const MARKER: u8 = 1;
const KEYFRAME: u8 = 2;
const SIMULCAST: u8 = 4;
const VIDEO: u8 = 8;
const LEVEL: u8 = 16;
const VOICE: u8 = 32;
const VOICE_ACTIVE: u8 = 64;
const ORIENTATION: u8 = 128;

fn put_name(name: &str, out: &mut Vec<u8>) {
    let bytes = &name.as_bytes()[..name.len().min(MAX_NAME)];
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
}

fn encode_packet(now: Instant, stream: &str, source: u32, p: &Packet, out: &mut Vec<u8>) {
    out.push(PACKET);
    put_name(stream, out);
    out.extend_from_slice(&source.to_be_bytes());
    let track = u16::try_from(p.input.track_idx).unwrap_or(u16::MAX);
    out.extend_from_slice(&track.to_be_bytes());
    out.push(p.input.ordinal);
    out.extend_from_slice(&p.input.generation.to_be_bytes());
    out.push(*p.pt);
    out.extend_from_slice(&p.ssrc.to_be_bytes());
    out.extend_from_slice(&p.seq.to_be_bytes());
    out.extend_from_slice(&p.ts.to_be_bytes());
    let mut flags = 0;
    for (on, bit) in [
        (p.marker, MARKER),
        (p.keyframe, KEYFRAME),
        (p.simulcast, SIMULCAST),
        (p.input.kind == Kind::Video, VIDEO),
        (p.audio_level.is_some(), LEVEL),
        (p.voice_activity.is_some(), VOICE),
        (p.voice_activity == Some(true), VOICE_ACTIVE),
        (p.video_orientation.is_some(), ORIENTATION),
    ] {
        if on {
            flags |= bit;
        }
    }
    out.push(flags);
    out.push(p.layer);
    out.push(p.audio_level.unwrap_or(0) as u8);
    out.push(p.video_orientation.map_or(0, |v| v as u8));
    // How long before sending it was captured: the edge dates its capture from its arrival.
    let age = now.saturating_duration_since(p.captured).as_micros();
    out.extend_from_slice(&u32::try_from(age).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(&p.payload);
}

fn decode_packet(bytes: &[u8], now: Instant) -> Result<RelayMsg, WireError> {
    let mut r = Reader(bytes);
    let stream = r.name()?;
    let source = r.u32()?;
    let track_idx = usize::from(r.u16()?);
    let ordinal = r.u8()?;
    let generation = r.u64()?;
    let pt = Pt::from(r.u8()? & 0x7f);
    let ssrc = r.u32()?;
    let seq = r.u64()?;
    let ts = r.u64()?;
    let flags = r.u8()?;
    let layer = r.u8()?;
    let level = r.u8()? as i8;
    let orientation = r.u8()?;
    let age = Duration::from_micros(u64::from(r.u32()?));
    let payload = r.0;
    if payload.len() > super::forward::MAX_PAYLOAD {
        return Err(WireError::TooLarge(payload.len()));
    }
    let on = |bit: u8| flags & bit != 0;
    let packet = Packet {
        input: Input {
            // The follower sets its mirror publication's id and generation.
            from: PeerId(0),
            track_idx,
            kind: if on(VIDEO) { Kind::Video } else { Kind::Audio },
            ordinal,
            generation,
        },
        pt,
        ssrc,
        seq,
        ts,
        marker: on(MARKER),
        keyframe: on(KEYFRAME),
        layer,
        simulcast: on(SIMULCAST),
        audio_level: on(LEVEL).then_some(level),
        voice_activity: on(VOICE).then_some(on(VOICE_ACTIVE)),
        video_orientation: on(ORIENTATION).then(|| VideoOrientation::from(orientation)),
        arrival: now,
        captured: now.checked_sub(age).unwrap_or(now),
        payload: Arc::from(payload),
    };
    Ok(RelayMsg::Packet {
        stream,
        source,
        packet,
    })
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let (head, rest) = self.0.split_at_checked(N).ok_or(WireError::Short)?;
        self.0 = rest;
        head.try_into().map_err(|_| WireError::Short)
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.take()?))
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.take()?))
    }
    fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.take()?))
    }
    fn name(&mut self) -> Result<Arc<str>, WireError> {
        let len = usize::from(self.u8()?);
        let (name, rest) = self.0.split_at_checked(len).ok_or(WireError::Short)?;
        self.0 = rest;
        let name = std::str::from_utf8(name).map_err(|_| WireError::Name)?;
        checked_name(name.to_owned())
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests need an arbitrary origin for simulated time
mod tests {
    use super::*;

    fn control(msg: RelayMsg) -> Relay {
        Relay { to: 3, msg }
    }

    #[test]
    fn control_messages_read_back_and_are_readdressed() {
        let now = Instant::now();
        let follow = control(RelayMsg::Follow {
            stream: Arc::from("room"),
            from: 1,
            slots: true,
        });
        let mut bytes = Vec::new();
        follow.encode(now, &mut bytes);
        assert_eq!(bytes[0], CONTROL);
        let back = Relay::decode(&bytes, now).unwrap().readdressed(0, 7);
        assert_eq!(back.to(), 0);
        assert_eq!(back.stream(), "room");
        assert_eq!(back.from_worker(), Some(7));
        assert!(back.is_upstream(), "a follower's message");
        let total = control(RelayMsg::Total {
            stream: Arc::from("room"),
            count: 3,
            connected: 2,
        });
        let mut bytes = Vec::new();
        total.encode(now, &mut bytes);
        let back = Relay::decode(&bytes, now).unwrap();
        assert!(!back.is_upstream(), "a home's message");
        assert_eq!(back.from_worker(), None);
    }

    #[test]
    fn truncated_or_hostile_bytes_are_errors_not_panics() {
        let now = Instant::now();
        assert_eq!(Relay::decode(&[], now).unwrap_err(), WireError::Short);
        assert_eq!(
            Relay::decode(b"X", now).unwrap_err(),
            WireError::UnknownType(b'X')
        );
        assert!(matches!(
            Relay::decode(b"C{\"type\":\"follow\"}", now),
            Err(WireError::Control(_))
        ));
        // A packet header cut at every length.
        let mut packet = vec![PACKET, 1, b's'];
        packet.extend_from_slice(&[0; 44]);
        for len in 0..packet.len() {
            assert!(Relay::decode(&packet[..len], now).is_err(), "{len} bytes");
        }
        assert!(Relay::decode(&packet, now).is_ok());
        // A name that claims more bytes than there are, an empty one, a ranking count
        // larger than its entries.
        assert!(Relay::decode(&[PACKET, 200, b's'], now).is_err());
        assert_eq!(
            Relay::decode(&[PACKET, 0], now).unwrap_err(),
            WireError::Name
        );
        assert!(Relay::decode(&[RANKING, 1, b's', 0xff, 0xff, 0, 0], now).is_err());
        // Too large a payload.
        packet.extend_from_slice(&[0; 1501]);
        assert_eq!(
            Relay::decode(&packet, now).unwrap_err(),
            WireError::TooLarge(1501)
        );
        // Many tracks in a source announcement.
        let many = format!(
            "C{{\"type\":\"source\",\"stream\":\"s\",\"source\":1,\"key\":null,\"generation\":1,\"tracks\":[{}]}}",
            vec!["{\"video\":false,\"track_id\":\"a\",\"params\":[],\"layers\":[]}"; 17].join(",")
        );
        assert!(matches!(
            Relay::decode(many.as_bytes(), now),
            Err(WireError::Control(_))
        ));
    }
}
