//! Simulcast layer selection per viewer video track. Every [`LAYER_TICK`] each track that
//! carries a simulcast source gets a target encoding: the one the viewer forced (`select`,
//! `project … layer`) while it arrives, else the highest that fits the bandwidth estimate of
//! the path to the viewer (the estimate is shared out over its video tracks, default ones
//! first). Down-switches are immediate, up-switches wait until the estimate has allowed the
//! higher encoding for [`UP_HOLD`]; the track itself switches only at a keyframe of the
//! target (asked for at once, see `projection.rs`). `layers` events tell the viewer what
//! each track's source sends whenever that changes.
//!
//! The estimate ([`Bwe`]): the receiver's own (REMB, which Chrome sends for video when
//! `goog-remb` is negotiated and transport-cc is not, as for Podium's viewers) capped by a
//! loss-based bound from its receiver reports (GCC's sender rule: above 10 % loss, down by
//! half the loss; under 2 %, up 8 % a report).

use std::time::{Duration, Instant};

use super::forward::publication;
use super::Sfu;
use crate::simulcast::{ranked, InLayer};
use crate::viewing::Target;
use crate::{Kind, LayerDesc, LayerRequest, MediaEvent, PeerId};

/// How often targets are chosen.
pub(crate) const LAYER_TICK: Duration = Duration::from_millis(250);
/// How long the estimate must allow a higher encoding before a track moves up.
pub(crate) const UP_HOLD: Duration = Duration::from_secs(2);
/// A receiver estimate older than this is ignored.
const REMB_FRESH: Duration = Duration::from_secs(5);
/// Share of the estimate spent on video (audio and headers take the rest).
const USABLE: f64 = 0.9;
/// An up-switch needs this much headroom over the higher encoding's bitrate.
const UP_HEADROOM: f64 = 1.15;
/// A `layers` event is re-sent when an encoding's bitrate moved this much (a share of what
/// was told), at most every [`RETELL_AFTER`]; changes of what exists are told at once.
const RETELL_CHANGE: f64 = 0.25;
const RETELL_AFTER: Duration = Duration::from_secs(1);

/// What a `layers` event says of one encoding apart from its bitrate: id, active, size.
type Shape = (String, bool, Option<(u16, u16)>);

/// What the last `layers` event said of one track.
#[derive(Debug, Clone, PartialEq)]
pub struct LayersTold {
    /// Per encoding: id, active, size.
    shape: Vec<Shape>,
    bitrates: Vec<u64>,
    at: Instant,
}

impl LayersTold {
    fn of(layers: &[InLayer], now: Instant) -> Self {
        Self {
            shape: layers
                .iter()
                .map(|l| (l.encoding_id.clone(), l.is_active(now), l.size))
                .collect(),
            bitrates: layers.iter().map(|l| l.meter.bitrate(now)).collect(),
            at: now,
        }
    }

    /// Whether `current` is worth a new event.
    fn outdated_by(&self, current: &Self) -> bool {
        if self.shape != current.shape {
            return true;
        }
        let moved = self
            .bitrates
            .iter()
            .zip(&current.bitrates)
            .any(|(&a, &b)| (a as f64 - b as f64).abs() > RETELL_CHANGE * (a.max(1) as f64));
        moved && current.at.saturating_duration_since(self.at) >= RETELL_AFTER
    }
}

/// The bandwidth estimate of the path to one viewer.
#[derive(Debug, Clone, Default)]
pub struct Bwe {
    remb: Option<(u64, Instant)>,
    loss_cap: Option<u64>,
    /// What the last tick gave its video tracks (the base of the loss rule).
    allocated: u64,
}

impl Bwe {
    /// A receiver estimate.
    pub fn on_remb(&mut self, now: Instant, bitrate: u64) {
        self.remb = Some((bitrate, now));
    }

    /// A report block of one of the viewer's video streams: `fraction` lost in 1/256.
    pub fn on_loss(&mut self, fraction: u8) {
        let loss = f64::from(fraction) / 256.0;
        let base = self.loss_cap.unwrap_or(self.allocated).max(1);
        if loss > 0.10 {
            self.loss_cap = Some((base as f64 * (1.0 - 0.5 * loss)) as u64);
        } else if loss < 0.02 {
            if let Some(cap) = self.loss_cap {
                let raised = (cap as f64 * 1.08) as u64;
                // Far above what is sent the bound says nothing any more.
                self.loss_cap = (raised < 2 * self.allocated.max(1)).then_some(raised);
            }
        }
    }

    /// Bits per second the path carries, if anything is known.
    pub fn estimate(&self, now: Instant) -> Option<u64> {
        let remb = self
            .remb
            .filter(|(_, at)| now.saturating_duration_since(*at) < REMB_FRESH)
            .map(|(b, _)| b);
        match (remb, self.loss_cap) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// What a tick decided for one track.
struct Plan {
    target: Target,
    layer: Option<u8>,
    up_since: Option<Instant>,
    told: Option<LayersTold>,
    event: Option<(Vec<LayerDesc>, Vec<LayerDesc>)>,
    publisher: Option<PeerId>,
}

impl Sfu {
    /// Chooses every simulcast track's target and tells viewers of changed layers.
    pub(super) fn layer_tick(&mut self, now: Instant) {
        if self.next_layer_tick > now {
            return;
        }
        self.next_layer_tick = now + LAYER_TICK;
        let viewers: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| match &p.role {
                crate::peer::Role::Viewer(v) => {
                    p.connected && v.targets().any(|(_, t)| t.kind == Kind::Video)
                }
                crate::peer::Role::Publisher(_) => false,
            })
            .map(|(id, _)| *id)
            .collect();
        for id in viewers {
            let plans = self.plan_layers(now, id);
            self.apply_plans(now, id, plans);
        }
    }

    /// Chooses one viewer's targets now (after `project` or `select`, so a named layer is
    /// waited for from the start rather than from the next tick).
    pub(super) fn choose_layers_now(&mut self, now: Instant, id: PeerId) {
        let plans = self.plan_layers(now, id);
        self.apply_plans(now, id, plans);
    }

    fn plan_layers(&self, now: Instant, id: PeerId) -> Vec<Plan> {
        let mut plans = Vec::new();
        let Some(peer) = self.peers.get(&id) else {
            return plans;
        };
        let crate::peer::Role::Viewer(v) = &peer.role else {
            return plans;
        };
        let mut budget = v.bwe.estimate(now).map(|b| (b as f64 * USABLE) as u64);
        for (target, t) in v.targets().filter(|(_, t)| t.kind == Kind::Video) {
            let Some(feed) = t.deciding_feed(v.pinned_id) else {
                continue;
            };
            let publisher = self.registry.current(peer.stream, feed.source);
            let track = publisher
                .and_then(|p| publication(&self.peers, &self.locals, p))
                .and_then(|p| {
                    p.tracks
                        .iter()
                        .find(|t| t.kind == Kind::Video && t.ordinal == feed.ordinal)
                });
            let Some(track) = track.filter(|t| t.layers.len() > 1) else {
                if t.target_layer.is_some() {
                    plans.push(Plan {
                        target,
                        layer: None,
                        up_since: None,
                        told: t.layers_told.clone(),
                        event: None,
                        publisher: None,
                    });
                }
                continue;
            };
            let order = ranked(&track.layers, now);
            let (layer, up_since) = choose(
                &track.layers,
                &order,
                t.forced_layer.as_ref(),
                (t.target_layer, t.up_since),
                budget,
                now,
            );
            if let (Some(b), Some(l)) = (budget.as_mut(), layer) {
                *b = b.saturating_sub(track.layers[usize::from(l)].meter.bitrate(now));
            }
            let current = LayersTold::of(&track.layers, now);
            let retell = t
                .layers_told
                .as_ref()
                .is_none_or(|t| t.outdated_by(&current));
            let event = retell.then(|| describe(&track.layers, &order, now));
            plans.push(Plan {
                target,
                layer,
                up_since,
                told: if retell {
                    Some(current)
                } else {
                    t.layers_told.clone()
                },
                event,
                publisher,
            });
        }
        plans
    }

    fn apply_plans(&mut self, now: Instant, id: PeerId, plans: Vec<Plan>) {
        let mut allocated = 0;
        for plan in plans {
            let Some(peer) = self.peers.get_mut(&id) else {
                return;
            };
            let crate::peer::Role::Viewer(v) = &mut peer.role else {
                return;
            };
            let Some(t) = v.track_mut(plan.target) else {
                continue;
            };
            let changed = t.target_layer != plan.layer;
            t.target_layer = plan.layer;
            t.up_since = plan.up_since;
            t.layers_told = plan.told;
            let switching = plan.layer.is_some() && plan.layer != t.current_layer;
            let mid = t.mid.to_string();
            if let (Some(l), Some(p)) = (t.current_layer.or(plan.layer), plan.publisher) {
                allocated += self.layer_bitrate(now, p, l);
            }
            if let Some((active, inactive)) = plan.event {
                self.events.push_back(MediaEvent::Layers {
                    to: id,
                    mid,
                    active,
                    inactive,
                });
            }
            if changed && switching {
                if let Some(p) = plan.publisher {
                    self.request_keyframe_soon(now, p);
                }
                self.awaiting_keyframes.push((
                    now + super::projection::ASK_AGAIN_AFTER,
                    id,
                    plan.target,
                ));
            }
        }
        if let Some(crate::peer::Role::Viewer(v)) = self.peers.get_mut(&id).map(|p| &mut p.role) {
            v.bwe.allocated = allocated;
        }
    }

    fn layer_bitrate(&self, now: Instant, publisher: PeerId, layer: u8) -> u64 {
        publication(&self.peers, &self.locals, publisher)
            .and_then(|p| p.tracks.iter().find(|t| t.layers.len() > 1))
            .and_then(|t| t.layers.get(usize::from(layer)))
            .map_or(0, |l| l.meter.bitrate(now))
    }
}

/// The target encoding and the up-switch clock: the forced one while it arrives, else the
/// highest the budget allows (up only after [`UP_HOLD`] of room).
fn choose(
    layers: &[InLayer],
    order: &[u8],
    forced: Option<&LayerRequest>,
    (current, up_since): (Option<u8>, Option<Instant>),
    budget: Option<u64>,
    now: Instant,
) -> (Option<u8>, Option<Instant>) {
    if let Some(id) = forced.and_then(|f| f.encoding_id.as_deref()) {
        if let Some(&i) = order
            .iter()
            .find(|&&i| layers[usize::from(i)].encoding_id == id)
        {
            return (Some(i), None);
        }
    }
    let Some(&highest) = order.last() else {
        // Nothing arrives yet: the forced encoding if it is declared, else what was chosen.
        let declared = forced
            .and_then(|f| f.encoding_id.as_deref())
            .and_then(|id| layers.iter().position(|l| l.encoding_id == id));
        return (declared.map(|i| i as u8).or(current), None);
    };
    let Some(budget) = budget else {
        return (Some(highest), None);
    };
    let rate = |i: u8| layers[usize::from(i)].meter.bitrate(now);
    let fits = order
        .iter()
        .rev()
        .find(|&&i| rate(i) <= budget)
        .copied()
        .unwrap_or(order[0]);
    let rank = |l: Option<u8>| l.and_then(|l| order.iter().position(|&i| i == l));
    match (rank(current), rank(Some(fits))) {
        (Some(c), Some(f)) if f > c => {
            let up = order[c + 1];
            if (rate(up) as f64 * UP_HEADROOM) as u64 > budget {
                return (current, None);
            }
            let since = up_since.unwrap_or(now);
            if now.saturating_duration_since(since) >= UP_HOLD {
                (Some(up), None)
            } else {
                (current, Some(since))
            }
        }
        _ => (Some(fits), None),
    }
}

/// The `layers` event of a track: active encodings lowest first, then the inactive ones.
fn describe(layers: &[InLayer], order: &[u8], now: Instant) -> (Vec<LayerDesc>, Vec<LayerDesc>) {
    let desc = |i: u8, rank: u8| {
        let l = &layers[usize::from(i)];
        LayerDesc {
            encoding_id: l.encoding_id.clone(),
            simulcast_idx: rank,
            bitrate: l.meter.bitrate(now),
            size: l.size,
        }
    };
    let active = order
        .iter()
        .enumerate()
        .map(|(rank, &i)| desc(i, rank as u8))
        .collect();
    let inactive = (0..layers.len() as u8)
        .filter(|i| !order.contains(i))
        .map(|i| desc(i, i))
        .collect();
    (active, inactive)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests need an arbitrary origin for simulated time
mod tests {
    use super::*;

    fn layers(now: Instant, rates: &[u64]) -> Vec<InLayer> {
        rates
            .iter()
            .enumerate()
            .map(|(i, &r)| {
                let mut l = InLayer::new(i.to_string(), None, None);
                // Two windows at this rate.
                for k in 0..=100u64 {
                    l.meter.add(
                        now - Duration::from_millis(1000) + Duration::from_millis(10 * k),
                        (r / 8 / 100) as usize,
                    );
                }
                l
            })
            .collect()
    }

    #[test]
    fn down_at_once_up_after_the_hold_forced_while_it_arrives() {
        let now = Instant::now() + Duration::from_secs(10);
        let l = layers(now, &[150_000, 500_000, 1_500_000]);
        let order = ranked(&l, now);
        assert_eq!(order, [0, 1, 2]);
        assert_eq!(choose(&l, &order, None, (None, None), None, now).0, Some(2));
        let down = choose(&l, &order, None, (Some(2), None), Some(600_000), now);
        assert_eq!(down, (Some(1), None), "down at once");
        let (stay, since) = choose(&l, &order, None, (Some(1), None), Some(3_000_000), now);
        assert_eq!((stay, since), (Some(1), Some(now)), "up waits");
        let later = now + UP_HOLD;
        assert_eq!(
            choose(&l, &order, None, (Some(1), since), Some(3_000_000), later).0,
            Some(2)
        );
        assert_eq!(
            choose(&l, &order, None, (Some(1), None), Some(1_600_000), now),
            (Some(1), None),
            "not without headroom"
        );
        assert_eq!(
            choose(&l, &order, None, (Some(2), None), Some(10_000), now).0,
            Some(0),
            "the lowest when nothing fits"
        );
        let forced = LayerRequest {
            encoding_id: Some("0".into()),
            ..Default::default()
        };
        assert_eq!(
            choose(&l, &order, Some(&forced), (Some(2), None), None, now).0,
            Some(0)
        );
        let gone = LayerRequest {
            encoding_id: Some("7".into()),
            ..Default::default()
        };
        assert_eq!(
            choose(&l, &order, Some(&gone), (Some(2), None), None, now).0,
            Some(2),
            "automatic when the forced one does not arrive"
        );
    }

    #[test]
    fn the_estimate_is_the_receivers_capped_by_loss() {
        let now = Instant::now();
        let mut bwe = Bwe::default();
        assert_eq!(bwe.estimate(now), None);
        bwe.on_remb(now, 2_000_000);
        assert_eq!(bwe.estimate(now), Some(2_000_000));
        bwe.allocated = 1_000_000;
        bwe.on_loss(64); // 25 %
        assert_eq!(bwe.estimate(now), Some(875_000));
        bwe.on_loss(0);
        assert_eq!(bwe.estimate(now), Some(945_000));
        assert_eq!(
            bwe.estimate(now + REMB_FRESH),
            Some(945_000),
            "stale REMB ignored"
        );
        for _ in 0..20 {
            bwe.on_loss(0);
        }
        assert_eq!(bwe.estimate(now), Some(2_000_000), "the loss bound lifts");
    }
}
