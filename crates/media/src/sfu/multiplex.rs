//! Turning the multiplexer's slot changes into viewer events.

use std::time::Instant;

use super::Sfu;
use crate::audio::mux::SlotChange;
use crate::peer::Role;
use crate::registry::{SourceId, StreamId};
use crate::MediaEvent;

impl Sfu {
    /// Runs the multiplexer when due and announces what changed.
    pub(super) fn mux_tick(&mut self, now: Instant) {
        let changes = self.mux.tick(now);
        self.relay_rankings();
        for change in &changes {
            if let Some(source) = change.source {
                self.replay_recent_audio(change.viewer, change.slot, change.stream, source, now);
            }
        }
        self.announce_slot_changes(changes);
    }

    /// Drops the recent audio of a source or, when no viewer of the stream has slots any
    /// more, of the whole stream.
    pub(super) fn forget_recent_audio(&mut self, stream: StreamId, source: Option<SourceId>) {
        if !self.mux.has_stream(stream) {
            self.recent_audio.retain(|(s, _), _| *s != stream);
        } else if let Some(source) = source {
            self.recent_audio.remove(&(stream, source));
        }
    }

    /// One `SlotChanged` per change, addressed with the slot's mid. The rewriter notices the
    /// new input by itself (another publication), so nothing else needs resetting.
    pub(super) fn announce_slot_changes(&mut self, changes: Vec<SlotChange>) {
        for change in changes {
            let Some(peer) = self.peers.get(&change.viewer) else {
                continue;
            };
            let Role::Viewer(v) = &peer.role else {
                continue;
            };
            let Some(track) = v.slots.get(change.slot) else {
                continue;
            };
            let source = match change.source {
                None => None,
                Some(id) => match self.registry.source_key(change.stream, id) {
                    Some(key) => Some(key.clone()),
                    None => continue,
                },
            };
            self.counters.slot_switches += 1;
            self.events.push_back(MediaEvent::SlotChanged {
                to: change.viewer,
                mid: track.mid.to_string(),
                source,
            });
        }
    }
}
