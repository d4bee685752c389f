//! Streams whose home is on another node of a cluster (`docs/cluster.md`).
//!
//! A node serving viewers of a stream whose publishers are on another node (the stream's
//! origin) is an *edge* for it: its workers follow the origin's home worker exactly as they
//! follow a home worker of their own server (`relay.rs`), through an index past the
//! server's workers that the shell maps to the link with the origin. The origin, for its
//! part, sees the edge as one more follower. Nothing else in the core changes: mirror
//! publications, slots filled from the origin's ranking, viewer totals across every node.

use std::sync::Arc;
use std::time::Instant;

use str0m::media::KeyframeRequestKind;

use super::relay::{home_worker, RelayMsg, TrackInfo};
use super::Sfu;

/// A stream as one worker holds it ([`Sfu::stream_presence`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPresence {
    /// Its name.
    pub stream: String,
    /// Publications of its own here (not mirrors).
    pub publications: usize,
    /// Viewers here.
    pub viewers: usize,
}

impl Sfu {
    /// The worker (or, past this server's workers, the cluster link) that is home to `stream`.
    pub(super) fn home_of(&self, stream: &str) -> usize {
        match self.mirrored.remote_homes.get(stream) {
            Some(&remote) => remote,
            None => home_worker(stream, self.config.workers),
        }
    }

    /// Makes `home` (an index past this server's workers, which the shell maps to the link
    /// with the stream's origin) the home of `stream`, or with `None` this server's own
    /// worker again. A stream followed from its old home stops: its mirrored sources end for
    /// the viewers here (they hear `inactive`), and the new home is followed at once, whose
    /// sources then go live again under the same ids (`active`): viewers keep their
    /// connections, as they do when a publisher reconnects.
    pub fn set_remote_home(&mut self, now: Instant, stream: &str, home: Option<usize>) {
        self.last_now = self.last_now.max(now);
        if self.mirrored.remote_homes.get(stream).copied() == home {
            return;
        }
        let old_home = self.home_of(stream);
        let followed = self.mirrored.streams.remove_entry(stream);
        match home {
            Some(h) => {
                self.mirrored.remote_homes.insert(Arc::from(stream), h);
            }
            None => {
                self.mirrored.remote_homes.remove(stream);
            }
        }
        let mut slots = false;
        if let Some((name, mirror)) = followed {
            slots = mirror.slots;
            for peer in mirror.sources.into_values() {
                self.close_peer(now, peer);
            }
            let from = self.config.worker;
            self.relay(old_home, RelayMsg::Unfollow { stream: name, from });
        }
        if let Some(id) = self.registry.stream_id(stream) {
            if !self.registry.viewers(id).is_empty() {
                let slots = slots || self.mux.has_stream(id);
                self.follow_if_remote(now, id, stream, slots);
            }
        }
        self.flush(now);
    }

    /// What this worker holds of each stream it has: publications of its own (mirrors of
    /// another worker's or node's not counted) and viewers. The cluster shell reads it to
    /// know which streams this node is the origin of and which it serves as an edge.
    pub fn stream_presence(&self) -> Vec<StreamPresence> {
        let mut out: Vec<StreamPresence> = self
            .registry
            .streams()
            .map(|(_, name, viewers)| StreamPresence {
                stream: name.to_owned(),
                publications: 0,
                viewers,
            })
            .collect();
        let own = self
            .peers
            .values()
            .filter(|p| matches!(p.role, crate::peer::Role::Publisher(_)))
            .map(|p| p.stream)
            .chain(
                self.locals
                    .values()
                    .filter(|l| l.mirror.is_none())
                    .map(|l| l.stream),
            );
        for stream in own {
            let Some(name) = self.registry.stream_name(stream) else {
                continue;
            };
            if let Some(p) = out.iter_mut().find(|p| p.stream == name) {
                p.publications += 1;
            }
        }
        out
    }

    /// A video source starts (or changes publication) here after its publisher's first
    /// keyframe went by at the home: viewers here would wait for the next one (seconds with
    /// a browser's encoder), so one is asked for at once.
    pub(super) fn ask_home_for_keyframe(
        &mut self,
        stream: &Arc<str>,
        source: u32,
        tracks: &[TrackInfo],
    ) {
        if !tracks.iter().any(|t| t.desc.kind == crate::Kind::Video) {
            return;
        }
        let home = self.home_of(stream);
        self.relay(
            home,
            RelayMsg::Keyframe {
                stream: stream.clone(),
                source,
                kind: KeyframeRequestKind::Pli,
            },
        );
    }

    /// Streams whose home is on another node, with the index of their link.
    pub fn remote_homes(&self) -> impl Iterator<Item = (&str, usize)> {
        self.mirrored
            .remote_homes
            .iter()
            .map(|(name, &home)| (&**name, home))
    }
}
