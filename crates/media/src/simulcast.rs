//! Simulcast from publishers: the encodings of one video m-line, as the offer declares them
//! (rid-based, RFC 8853, from native clients; or the legacy `a=ssrc-group:SIM` of
//! libwebrtc, which the Millicast JS SDK's `simulcast: true` produces), and what arrives of
//! each: bitrate, frame size, when it was last seen. Each encoding stays apart; a viewer's
//! track forwards one of them at a time (`sfu/layers.rs`).

use std::time::{Duration, Instant};

/// Most encodings kept per m-line (browsers send at most 3 or 4).
pub(crate) const MAX_LAYERS: usize = 4;

/// An encoding unseen for this long is inactive (paused by the encoder, or lost).
pub(crate) const INACTIVE_AFTER: Duration = Duration::from_millis(1500);

/// The bitrate window.
const WINDOW: Duration = Duration::from_millis(500);

/// One encoding of a simulcast m-line.
#[derive(Debug, Clone)]
pub(crate) struct InLayer {
    /// What `layers` events and `select` call it: the rid, or the SIM group index.
    pub encoding_id: String,
    /// The SSRC a SIM group declares for it.
    pub ssrc: Option<u32>,
    /// Its rid.
    pub rid: Option<String>,
    pub meter: Meter,
    /// Frame size of its latest keyframe, where the payload tells.
    pub size: Option<(u16, u16)>,
    /// Keyframes asked for only to learn its size (see `sfu/layers.rs`).
    pub size_asks: u8,
}

impl InLayer {
    pub fn new(encoding_id: String, ssrc: Option<u32>, rid: Option<String>) -> Self {
        Self {
            encoding_id,
            ssrc,
            rid,
            meter: Meter::default(),
            size: None,
            size_asks: 0,
        }
    }

    pub fn is_active(&self, now: Instant) -> bool {
        self.meter
            .last
            .is_some_and(|t| now.saturating_duration_since(t) < INACTIVE_AFTER)
    }
}

/// Received bits per second, over fixed windows.
#[derive(Debug, Clone, Default)]
pub(crate) struct Meter {
    window_start: Option<Instant>,
    bytes: u64,
    /// Bits per second of the last full window.
    pub bitrate: u64,
    pub last: Option<Instant>,
}

impl Meter {
    pub fn add(&mut self, now: Instant, bytes: usize) {
        let start = *self.window_start.get_or_insert(now);
        let elapsed = now.saturating_duration_since(start);
        if elapsed >= WINDOW {
            // A gap of several windows means nothing came meanwhile.
            self.bitrate = if elapsed < 2 * WINDOW {
                self.bytes * 8 * 1000 / elapsed.as_millis().max(1) as u64
            } else {
                0
            };
            self.bytes = 0;
            self.window_start = Some(now);
        }
        self.bytes += bytes as u64;
        self.last = Some(now);
    }

    /// The current bitrate (0 once nothing has come for a while).
    pub fn bitrate(&self, now: Instant) -> u64 {
        match self.last {
            Some(t) if now.saturating_duration_since(t) < INACTIVE_AFTER => self.bitrate,
            _ => 0,
        }
    }
}

/// The encodings each m-line of an offer declares: `(mid, layers)` for m-lines with two or
/// more. Rids win over a SIM group on the same m-line.
pub(crate) fn offered_layers(offer: &str) -> Vec<(String, Vec<InLayer>)> {
    let mut out = Vec::new();
    for section in offer.split("\nm=").skip(1) {
        let mut mid = None;
        let mut sim: Vec<u32> = Vec::new();
        let mut rids: Vec<String> = Vec::new();
        for line in section.lines().map(str::trim_end) {
            if let Some(m) = line.strip_prefix("a=mid:") {
                mid = Some(m.to_owned());
            } else if let Some(group) = line.strip_prefix("a=ssrc-group:SIM ") {
                if sim.is_empty() {
                    sim = group
                        .split_whitespace()
                        .filter_map(|s| s.parse().ok())
                        .take(MAX_LAYERS)
                        .collect();
                }
            } else if let Some(list) = line.strip_prefix("a=simulcast:send ") {
                // `h;m;l`, alternatives `h,h2`, paused `~l`: every rid named, in order.
                let list = list.split_whitespace().next().unwrap_or("");
                rids = list
                    .split([';', ','])
                    .map(|r| r.trim_start_matches('~'))
                    .filter(|r| !r.is_empty() && r.len() <= 16)
                    .map(str::to_owned)
                    .take(MAX_LAYERS)
                    .collect();
            }
        }
        let Some(mid) = mid else {
            continue;
        };
        let layers: Vec<InLayer> = if rids.len() >= 2 {
            rids.into_iter()
                .map(|r| InLayer::new(r.clone(), None, Some(r)))
                .collect()
        } else if sim.len() >= 2 {
            sim.iter()
                .enumerate()
                .map(|(i, ssrc)| InLayer::new(i.to_string(), Some(*ssrc), None))
                .collect()
        } else {
            continue;
        };
        out.push((mid, layers));
    }
    out
}

/// Which of `layers` an SSRC (and its rid, if the packet named one) is.
pub(crate) fn layer_of(layers: &[InLayer], ssrc: u32, rid: Option<&str>) -> u8 {
    let by_ssrc = layers.iter().position(|l| l.ssrc == Some(ssrc));
    let by_rid = || {
        let rid = rid?;
        layers.iter().position(|l| l.rid.as_deref() == Some(rid))
    };
    by_ssrc.or_else(by_rid).unwrap_or(0) as u8
}

/// Active layers from lowest to highest: by frame size where every active one has a known
/// size, else by bitrate (ties by declared order).
pub(crate) fn ranked(layers: &[InLayer], now: Instant) -> Vec<u8> {
    let mut active: Vec<u8> = (0..layers.len() as u8)
        .filter(|&i| layers[usize::from(i)].is_active(now))
        .collect();
    let sized = active
        .iter()
        .all(|&i| layers[usize::from(i)].size.is_some());
    active.sort_by_key(|&i| {
        let l = &layers[usize::from(i)];
        let area = l.size.map_or(0, |(w, h)| u64::from(w) * u64::from(h));
        (if sized { area } else { 0 }, l.meter.bitrate(now), i)
    });
    active
}

/// The most a viewer's offer asks to receive in video (`b=TIAS` in bits, `b=AS` in kbit/s,
/// per video m-line or for the session): a fixed bound on its estimate.
pub(crate) fn receive_cap(offer: &str) -> Option<u64> {
    let mut cap: Option<u64> = None;
    let mut in_video = true; // session level until the first m-line
    for line in offer.lines() {
        if let Some(kind) = line.strip_prefix("m=") {
            in_video = kind.starts_with("video");
            continue;
        }
        if !in_video {
            continue;
        }
        let bits = if let Some(v) = line.strip_prefix("b=TIAS:") {
            v.trim().parse::<u64>().ok()
        } else if let Some(v) = line.strip_prefix("b=AS:") {
            v.trim().parse::<u64>().ok().map(|k| k.saturating_mul(1000))
        } else {
            None
        };
        if let Some(b) = bits.filter(|b| *b > 0) {
            cap = Some(cap.map_or(b, |c| c.min(b)));
        }
    }
    cap
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests need an arbitrary origin for simulated time
mod tests {
    use super::*;

    #[test]
    fn rid_and_sim_offers() {
        let offer = "v=0\r\nm=audio 9 X 111\r\na=mid:0\r\n\
            m=video 9 X 96\r\na=mid:1\r\na=rid:h send\r\na=rid:m send\r\na=rid:l send\r\n\
            a=simulcast:send h;m;~l\r\n\
            m=video 9 X 96\r\na=mid:2\r\na=ssrc-group:FID 1 2\r\n\
            a=ssrc-group:SIM 1 100 102\r\na=ssrc:1 cname:x\r\n\
            m=video 9 X 96\r\na=mid:3\r\n";
        let layers = offered_layers(offer);
        assert_eq!(layers.len(), 2);
        assert_eq!(layers[0].0, "1");
        let ids: Vec<_> = layers[0].1.iter().map(|l| l.encoding_id.as_str()).collect();
        assert_eq!(ids, ["h", "m", "l"]);
        assert_eq!(layers[1].0, "2");
        let ssrcs: Vec<_> = layers[1].1.iter().map(|l| l.ssrc).collect();
        assert_eq!(ssrcs, [Some(1), Some(100), Some(102)]);
        assert_eq!(layer_of(&layers[1].1, 102, None), 2);
        assert_eq!(layer_of(&layers[0].1, 7, Some("m")), 1);
        assert_eq!(layer_of(&layers[0].1, 7, None), 0, "unknown: the first");
    }

    #[test]
    fn hostile_simulcast_lines_are_bounded() {
        let many = (0..100)
            .map(|i| format!("r{i}"))
            .collect::<Vec<_>>()
            .join(";");
        let offer = format!("v=0\r\nm=video 9 X 96\r\na=mid:0\r\na=simulcast:send {many}\r\n");
        assert_eq!(offered_layers(&offer)[0].1.len(), MAX_LAYERS);
        let offer = format!(
            "v=0\r\nm=video 9 X 96\r\na=mid:0\r\na=simulcast:send {}\r\n",
            "x".repeat(100)
        );
        assert!(offered_layers(&offer).is_empty());
    }

    #[test]
    fn the_meter_and_the_ranking() {
        let t0 = Instant::now();
        let mut layers = vec![
            InLayer::new("h".into(), None, None),
            InLayer::new("l".into(), None, None),
        ];
        for i in 0..100u64 {
            let at = t0 + Duration::from_millis(10 * i);
            layers[0].meter.add(at, 1000);
            layers[1].meter.add(at, 200);
        }
        let now = t0 + Duration::from_millis(1000);
        assert_eq!(layers[0].meter.bitrate(now), 800_000);
        assert_eq!(layers[1].meter.bitrate(now), 160_000);
        assert_eq!(ranked(&layers, now), [1, 0], "by bitrate");
        layers[0].size = Some((320, 180));
        layers[1].size = Some((1280, 720));
        assert_eq!(ranked(&layers, now), [0, 1], "by size when known");
        let later = now + INACTIVE_AFTER;
        assert!(ranked(&layers, later).is_empty());
        assert_eq!(layers[0].meter.bitrate(later), 0);
    }

    #[test]
    fn an_offers_bandwidth_lines_bound_the_video_it_receives() {
        let offer = "v=0\r\nb=AS:2000\r\nm=audio 9 UDP 111\r\nb=AS:32\r\n\
                     m=video 9 UDP 96\r\nb=TIAS:300000\r\n";
        assert_eq!(
            receive_cap(offer),
            Some(300_000),
            "audio's line does not count"
        );
        assert_eq!(
            receive_cap("v=0\r\nm=video 9 UDP 96\r\nb=AS:500\r\n"),
            Some(500_000)
        );
        assert_eq!(receive_cap("v=0\r\nm=video 9 UDP 96\r\nb=AS:x\r\n"), None);
        assert_eq!(receive_cap("v=0\r\nm=video 9 UDP 96\r\n"), None);
    }
}
