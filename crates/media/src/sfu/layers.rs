//! Simulcast layer selection per viewer video track. Every [`LAYER_TICK`] each track that
//! carries a simulcast source gets a target encoding: the one the viewer forced (`select`,
//! `project … layer`) while it arrives; else at the start the highest that fits the estimate
//! of the path to the viewer (shared out over its video tracks, default ones first), then
//! down at once to what fits, and up one encoding at a time once the estimate has had room
//! for it for [`UP_HOLD`] and up-switches are allowed again after the last down-switch (a
//! backoff that doubles when an up-switch is soon undone). The track itself switches only
//! at a keyframe of the target (asked for at once, see `projection.rs`). `layers` events
//! tell the viewer what each track's source sends whenever that changes.
//!
//! The estimate ([`Bwe`]) is the lowest of: the receiver's own (REMB, which Chrome sends for
//! video when `goog-remb` is negotiated and transport-cc is not, as for Podium's viewers),
//! counted only once it has fallen (it climbs with what arrives, so before that it says
//! nothing of the path); a loss bound from its receiver reports (GCC's sender rule: above
//! 10 % loss, what is sent less half the loss; under 2 %, up 8 % a report); and the
//! bandwidth its offer declared (`b=AS`, `b=TIAS`). See `docs/projection.md`.

use std::time::{Duration, Instant};

use super::forward::publication;
use super::Sfu;
use crate::simulcast::{ranked, InLayer};
use crate::viewing::Target;
use crate::{Kind, LayerDesc, LayerRequest, MediaEvent, PeerId};
use str0m::media::KeyframeRequestKind;

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
/// A receiver estimate below this many times what is sent bounds the path; above it the
/// receiver only says it could take more than it gets (a receiver's estimate cannot grow far
/// past what arrives), which is no bound at all.
const REMB_BINDING: f64 = 1.3;
/// A receiver's estimate climbs with what arrives (at the start, after an up-switch) and
/// only falls on congestion: it bounds the path for this long after it last fell.
const REMB_FELL_WITHIN: Duration = Duration::from_secs(10);
/// An up-switch undone by the estimate within this long was a failed trial ...
const UP_TRIAL: Duration = Duration::from_secs(5);
/// ... and the next waits twice as long as the last, up to this.
const MAX_UP_BACKOFF: Duration = Duration::from_secs(32);
/// A `layers` event is re-sent when an encoding's bitrate moved this much (a share of what
/// was told), at most every [`RETELL_AFTER`]; changes of what exists are told at once.
const RETELL_CHANGE: f64 = 0.25;
const RETELL_AFTER: Duration = Duration::from_secs(1);
/// An active encoding whose frame size is unknown (its first keyframe was missed, so
/// `layers` cannot tell it and a client choosing by size cannot choose it) gets a keyframe
/// asked of its publisher at most this often, while any viewer's track carries it.
const SIZE_ASK_EVERY: Duration = Duration::from_secs(5);
/// ... and at most this many times per encoding.
const MAX_SIZE_ASKS: u8 = 3;

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

    /// Whether `layers` now are worth a new event (compared in place: this runs every tick
    /// for every viewer track of a simulcast source).
    fn outdated_by(&self, layers: &[InLayer], now: Instant) -> bool {
        let same_shape = self.shape.len() == layers.len()
            && self
                .shape
                .iter()
                .zip(layers)
                .all(|((id, active, size), l)| {
                    *id == l.encoding_id && *active == l.is_active(now) && *size == l.size
                });
        if !same_shape {
            return true;
        }
        let moved = self.bitrates.iter().zip(layers).any(|(&a, l)| {
            (a as f64 - l.meter.bitrate(now) as f64).abs() > RETELL_CHANGE * (a.max(1) as f64)
        });
        moved && now.saturating_duration_since(self.at) >= RETELL_AFTER
    }
}

/// The bandwidth estimate of the path to one viewer.
#[derive(Debug, Clone, Default)]
pub struct Bwe {
    /// What the viewer's offer allows at most (`b=AS`, `b=TIAS`).
    cap: Option<u64>,
    remb: Option<(u64, Instant)>,
    loss_cap: Option<u64>,
    /// What the last tick gave its video tracks (the base of the loss rule).
    allocated: u64,
    /// Up-switches wait until then after a down-switch (with a backoff after failed trials:
    /// without padding probes, going up is how a path's room is found).
    up_blocked_until: Option<Instant>,
    up_backoff: Duration,
    last_up: Option<Instant>,
    /// When the receiver's estimate last fell.
    remb_fell_at: Option<Instant>,
}

impl Bwe {
    /// An estimate bounded by what the viewer's offer allows.
    pub fn capped(cap: Option<u64>) -> Self {
        Self {
            cap,
            ..Self::default()
        }
    }

    /// A receiver estimate.
    pub fn on_remb(&mut self, now: Instant, bitrate: u64) {
        if self
            .remb
            .is_some_and(|(before, _)| (bitrate as f64) < 0.97 * before as f64)
        {
            self.remb_fell_at = Some(now);
        }
        self.remb = Some((bitrate, now));
    }

    /// A report block of one of the viewer's video streams: `fraction` lost in 1/256.
    pub fn on_loss(&mut self, fraction: u8) {
        let loss = f64::from(fraction) / 256.0;
        if loss > 0.10 {
            // Against what is sent now (not the bound itself: reports come several a second
            // while loss lasts, and a compounding bound would take minutes to recover).
            let bound = (self.allocated.max(1) as f64 * (1.0 - 0.5 * loss)) as u64;
            self.loss_cap = Some(self.loss_cap.map_or(bound, |c| c.min(bound)));
        } else if loss < 0.02 {
            if let Some(cap) = self.loss_cap {
                let raised = (cap as f64 * 1.08) as u64;
                // Far above what is sent the bound says nothing any more.
                self.loss_cap = (raised < 2 * self.allocated.max(1)).then_some(raised);
            }
        }
    }

    /// Bits per second the path carries, if anything bounds it.
    pub fn estimate(&self, now: Instant) -> Option<u64> {
        self.bound(now, true)
    }

    /// What an up-switch may reach: as [`Self::estimate`], but a receiver estimate that fell
    /// recently bounds it even when it does not bind what is sent now. It will bind what the
    /// switch sends, and a trial undone by it at once would only lengthen the backoff.
    fn reach(&self, now: Instant) -> Option<u64> {
        self.bound(now, false)
    }

    fn bound(&self, now: Instant, binding_only: bool) -> Option<u64> {
        let remb = self
            .remb
            .filter(|(b, at)| {
                let fallen = self
                    .remb_fell_at
                    .is_some_and(|t| now.saturating_duration_since(t) < REMB_FELL_WITHIN);
                now.saturating_duration_since(*at) < REMB_FRESH
                    && fallen
                    && (!binding_only || (*b as f64) < REMB_BINDING * self.allocated as f64)
            })
            .map(|(b, _)| b);
        [remb, self.loss_cap, self.cap].into_iter().flatten().min()
    }
}

/// What the path leaves a track, in bits per second (none: unbounded): `keep` bounds what it
/// forwards (down-switches), `reach` what an up-switch may go to (never above `keep`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Room {
    keep: Option<u64>,
    reach: Option<u64>,
}

impl Room {
    fn of(bwe: &Bwe, now: Instant) -> Self {
        let usable = |b: u64| (b as f64 * USABLE) as u64;
        Self {
            keep: bwe.estimate(now).map(usable),
            reach: bwe.reach(now).map(usable),
        }
    }

    /// The same bound for both.
    #[cfg(test)]
    fn both(bound: Option<u64>) -> Self {
        Self {
            keep: bound,
            reach: bound,
        }
    }

    /// What is left after a track takes `rate`.
    fn spend(&mut self, rate: u64) {
        for b in [&mut self.keep, &mut self.reach].into_iter().flatten() {
            *b = b.saturating_sub(rate);
        }
    }
}

impl Bwe {
    /// Whether an up-switch may start now.
    fn up_allowed(&self, now: Instant) -> bool {
        self.up_blocked_until.is_none_or(|t| now >= t)
    }

    /// An automatic switch happened: up, or down (which delays the next up, longer each time
    /// an up-switch did not last).
    fn on_switch(&mut self, now: Instant, up: bool) {
        if up {
            self.last_up = Some(now);
            return;
        }
        let failed_trial = self
            .last_up
            .is_some_and(|t| now.saturating_duration_since(t) < UP_TRIAL);
        self.up_backoff = if failed_trial {
            (self.up_backoff * 2).clamp(UP_HOLD, MAX_UP_BACKOFF)
        } else {
            UP_HOLD
        };
        self.up_blocked_until = Some(now + self.up_backoff);
    }
}

/// What a tick decided for one track.
struct Plan {
    target: Target,
    layer: Option<u8>,
    up_since: Option<Instant>,
    /// What the track's `layers_told` becomes (none: unchanged).
    told: Option<LayersTold>,
    /// Bits per second of the encoding the track forwards (or will), for the loss rule.
    bitrate: u64,
    /// An automatic switch up (true) or down (false).
    automatic: Option<bool>,
    /// An active encoding's frame size is unknown, and a keyframe would tell it.
    size_unknown: bool,
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
                crate::peer::Role::Viewer(v) => v.targets().any(|(_, t)| t.kind == Kind::Video),
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
        let mut room = Room::of(&v.bwe, now);
        tracing::trace!(peer = %id, ?room, bwe = ?v.bwe, "layer tick");
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
                        told: None,
                        bitrate: 0,
                        automatic: None,
                        size_unknown: false,
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
                room,
                v.bwe.up_allowed(now),
                now,
            );
            let rank = |l: Option<u8>| l.and_then(|l| order.iter().position(|&i| i == l));
            let automatic = match (rank(t.target_layer), rank(layer)) {
                (Some(from), Some(to)) if from != to && t.forced_layer.is_none() => Some(to > from),
                _ => None,
            };
            if let Some(l) = layer {
                room.spend(track.layers[usize::from(l)].meter.bitrate(now));
            }
            let retell = t
                .layers_told
                .as_ref()
                .is_none_or(|told| told.outdated_by(&track.layers, now));
            let bitrate = t
                .current_layer
                .or(layer)
                .and_then(|l| track.layers.get(usize::from(l)))
                .map_or(0, |l| l.meter.bitrate(now));
            plans.push(Plan {
                target,
                layer,
                up_since,
                told: retell.then(|| LayersTold::of(&track.layers, now)),
                bitrate,
                event: retell.then(|| describe(&track.layers, &order, now)),
                automatic,
                size_unknown: track.keyframes_tell_size()
                    && track
                        .layers
                        .iter()
                        .any(|l| l.size.is_none() && l.is_active(now)),
                publisher,
            });
        }
        plans
    }

    fn apply_plans(&mut self, now: Instant, id: PeerId, plans: Vec<Plan>) {
        let mut allocated = 0;
        let mut switched = None;
        for plan in plans {
            switched = switched.or(plan.automatic);
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
            if changed {
                tracing::debug!(peer = %id, mid = %t.mid, from = ?t.target_layer, to = ?plan.layer, "simulcast target");
            }
            t.target_layer = plan.layer;
            t.up_since = plan.up_since;
            if let Some(told) = plan.told {
                t.layers_told = Some(told);
            }
            let switching = plan.layer.is_some() && plan.layer != t.current_layer;
            allocated += plan.bitrate;
            if let Some((active, inactive)) = plan.event {
                self.events.push_back(MediaEvent::Layers {
                    to: id,
                    mid: t.mid.to_string(),
                    active,
                    inactive,
                });
            }
            if let Some(p) = plan.publisher.filter(|_| plan.size_unknown) {
                self.ask_size(now, p);
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
            if let Some(up) = switched {
                v.bwe.on_switch(now, up);
            }
        }
    }
}

impl Sfu {
    /// Asks `publisher` for a keyframe to learn an encoding's size (see [`SIZE_ASK_EVERY`]).
    fn ask_size(&mut self, now: Instant, publisher: PeerId) {
        let Some(p) = self.publication_mut(publisher) else {
            return;
        };
        let due = p
            .last_keyframe_request
            .is_none_or(|t| now.saturating_duration_since(t) >= SIZE_ASK_EVERY);
        if !due {
            return;
        }
        let mut ask = false;
        for layer in p
            .tracks
            .iter_mut()
            .filter(|t| t.keyframes_tell_size())
            .flat_map(|t| t.layers.iter_mut())
            .filter(|l| l.size.is_none() && l.is_active(now) && l.size_asks < MAX_SIZE_ASKS)
        {
            layer.size_asks += 1;
            ask = true;
        }
        if ask {
            self.request_keyframe(now, publisher, KeyframeRequestKind::Pli);
        }
    }
}

/// The target encoding and the up-switch clock: the forced one while it arrives; else at the
/// start the highest the room keeps (the highest if nothing bounds it); then down at once to
/// what fits, up one encoding at a time once the room reaches it and after [`UP_HOLD`].
#[allow(clippy::too_many_arguments)] // one decision, every input named
fn choose(
    layers: &[InLayer],
    order: &[u8],
    forced: Option<&LayerRequest>,
    (current, up_since): (Option<u8>, Option<Instant>),
    room: Room,
    up_allowed: bool,
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
    let rate = |i: u8| layers[usize::from(i)].meter.bitrate(now);
    // The rank of the highest encoding within `b` (the lowest if none is).
    let fits = |b: u64| order.iter().rposition(|&i| rate(i) <= b).unwrap_or(0);
    let Some(c) = current.and_then(|l| order.iter().position(|&i| i == l)) else {
        return (Some(room.keep.map_or(highest, |b| order[fits(b)])), None);
    };
    if let Some(f) = room.keep.map(fits).filter(|&f| f < c) {
        return (Some(order[f]), None);
    }
    let Some(&up) = order.get(c + 1) else {
        return (current, None);
    };
    let reaches = room
        .reach
        .is_none_or(|b| (rate(up) as f64 * UP_HEADROOM) as u64 <= b);
    if !reaches || !up_allowed {
        return (current, None);
    }
    let since = up_since.unwrap_or(now);
    if now.saturating_duration_since(since) >= UP_HOLD {
        (Some(up), None)
    } else {
        (current, Some(since))
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
        // The choice with up-switches allowed and one bound for both.
        let pick = |forced, current, bound, at| {
            choose(&l, &order, forced, current, Room::both(bound), true, at)
        };
        assert_eq!(pick(None, (None, None), None, now).0, Some(2));
        let down = pick(None, (Some(2), None), Some(600_000), now);
        assert_eq!(down, (Some(1), None), "down at once");
        let (stay, since) = pick(None, (Some(1), None), Some(3_000_000), now);
        assert_eq!((stay, since), (Some(1), Some(now)), "up waits");
        let later = now + UP_HOLD;
        assert_eq!(
            pick(None, (Some(1), since), Some(3_000_000), later).0,
            Some(2)
        );
        assert_eq!(
            pick(None, (Some(1), None), Some(1_600_000), now),
            (Some(1), None),
            "not without headroom"
        );
        assert_eq!(
            pick(None, (Some(2), None), Some(10_000), now).0,
            Some(0),
            "the lowest when nothing fits"
        );
        let forced = LayerRequest {
            encoding_id: Some("0".into()),
            ..Default::default()
        };
        assert_eq!(pick(Some(&forced), (Some(2), None), None, now).0, Some(0));
        let gone = LayerRequest {
            encoding_id: Some("7".into()),
            ..Default::default()
        };
        assert_eq!(
            pick(Some(&gone), (Some(2), None), None, now).0,
            Some(2),
            "automatic when the forced one does not arrive"
        );
    }

    #[test]
    fn the_estimate_is_the_receivers_capped_by_loss() {
        let now = Instant::now();
        let mut bwe = Bwe::default();
        assert_eq!(bwe.estimate(now), None);
        bwe.allocated = 1_600_000;
        bwe.on_remb(now, 1_000_000);
        assert_eq!(
            bwe.estimate(now),
            None,
            "rising with what arrives: no bound"
        );
        bwe.on_remb(now, 2_500_000);
        bwe.on_remb(now, 2_000_000);
        assert_eq!(bwe.estimate(now), Some(2_000_000), "fallen: a bound");
        bwe.allocated = 1_000_000;
        assert_eq!(bwe.estimate(now), None, "far above what is sent: no bound");
        bwe.allocated = 1_600_000;
        bwe.on_loss(64); // 25 %
        assert_eq!(bwe.estimate(now), Some(1_400_000));
        bwe.on_loss(64);
        assert_eq!(bwe.estimate(now), Some(1_400_000), "not compounding");
        bwe.on_loss(0);
        assert_eq!(bwe.estimate(now), Some(1_512_000));
        assert_eq!(
            bwe.estimate(now + REMB_FRESH),
            Some(1_512_000),
            "stale REMB ignored"
        );
        for _ in 0..20 {
            bwe.on_loss(0);
        }
        assert_eq!(bwe.estimate(now), Some(2_000_000), "the loss bound lifts");
        assert_eq!(
            bwe.estimate(now + REMB_FELL_WITHIN),
            None,
            "fallen long ago"
        );
        let mut capped = Bwe::capped(Some(300_000));
        capped.allocated = 1_000_000;
        assert_eq!(
            capped.estimate(now),
            Some(300_000),
            "the offer's bound alone"
        );
        capped.on_remb(now, 2_000_000);
        assert_eq!(capped.estimate(now), Some(300_000));
    }

    #[test]
    fn a_fallen_estimate_bounds_how_far_up_even_when_it_does_not_bind_what_is_sent() {
        let now = Instant::now() + Duration::from_secs(10);
        let l = layers(now, &[150_000, 500_000, 1_500_000]);
        let order = ranked(&l, now);
        let mut bwe = Bwe {
            allocated: 150_000,
            ..Bwe::default()
        };
        // Congestion seen on a higher encoding: the receiver's estimate fell to 345 kbit/s.
        bwe.on_remb(now, 400_000);
        bwe.on_remb(now, 345_000);
        let room = Room::of(&bwe, now);
        assert_eq!(room.keep, None, "the lowest encoding is not bound by it");
        assert_eq!(room.reach, Some(310_500));
        let since = Some(now - UP_HOLD);
        assert_eq!(
            choose(&l, &order, None, (Some(0), since), room, true, now),
            (Some(0), None),
            "no trial the estimate would undo at once"
        );
        // The estimate climbs past the next encoding (with headroom): up.
        bwe.on_remb(now, 700_000);
        let room = Room::of(&bwe, now);
        assert_eq!(
            choose(&l, &order, None, (Some(0), since), room, true, now).0,
            Some(1)
        );
        // Or nothing fell for a while: it says nothing of the path any more.
        bwe.on_remb(now, 345_000);
        let later = now + REMB_FELL_WITHIN;
        bwe.on_remb(later, 360_000);
        let room = Room::of(&bwe, later);
        assert_eq!(room, Room::both(None));
        assert_eq!(
            choose(&l, &order, None, (Some(0), since), room, true, later).0,
            Some(1)
        );
    }

    #[test]
    fn up_waits_for_room_and_failed_trials_wait_longer() {
        let now = Instant::now() + Duration::from_secs(10);
        let l = layers(now, &[150_000, 500_000, 1_500_000]);
        let order = ranked(&l, now);
        // Nothing bounds the path: up one encoding at a time, each after the hold.
        let (stay, since) = choose(
            &l,
            &order,
            None,
            (Some(0), None),
            Room::both(None),
            true,
            now,
        );
        assert_eq!((stay, since), (Some(0), Some(now)));
        let later = now + UP_HOLD;
        assert_eq!(
            choose(
                &l,
                &order,
                None,
                (Some(0), since),
                Room::both(None),
                true,
                later
            )
            .0,
            Some(1)
        );
        assert_eq!(
            choose(
                &l,
                &order,
                None,
                (Some(0), since),
                Room::both(None),
                false,
                later
            ),
            (Some(0), None),
            "not while up-switches are blocked"
        );
        let mut bwe = Bwe::default();
        bwe.on_switch(now, false);
        assert!(!bwe.up_allowed(now + UP_HOLD / 2));
        assert!(bwe.up_allowed(now + UP_HOLD));
        // Up, then down again soon: a failed trial, twice the wait; again: four times.
        bwe.on_switch(now + UP_HOLD, true);
        bwe.on_switch(now + UP_HOLD * 2, false);
        assert!(!bwe.up_allowed(now + UP_HOLD * 3));
        assert!(bwe.up_allowed(now + UP_HOLD * 4));
        bwe.on_switch(now + UP_HOLD * 4, true);
        bwe.on_switch(now + UP_HOLD * 5, false);
        assert!(!bwe.up_allowed(now + UP_HOLD * 8));
        assert!(bwe.up_allowed(now + UP_HOLD * 9));
        // A down-switch long after the last up starts again from the hold.
        bwe.on_switch(now + UP_HOLD * 9, true);
        bwe.on_switch(now + UP_HOLD * 9 + UP_TRIAL, false);
        assert!(bwe.up_allowed(now + UP_HOLD * 10 + UP_TRIAL));
    }
}
