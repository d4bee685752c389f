//! Viewer counts across workers and nodes: a home adds its followers' counts to its own,
//! tells each follower the viewers elsewhere, and a follower reports its own (with, for a
//! worker that is also home to others, theirs) to its home. Every viewer of a stream hears
//! the same total, whichever worker or node it is on.

use super::relay::{RelayMsg, SharedKeyMut};
use super::Sfu;
use crate::registry::StreamId;

impl Sfu {
    /// The viewers of `stream` on this worker and, on its home, on its followers; a
    /// follower knows the total the home last sent.
    pub(super) fn viewer_total(&self, stream: StreamId) -> usize {
        let here = self.registry.viewers(stream).len();
        let connected = self.registry.connected_viewers(stream);
        self.totals(stream, (here, connected)).0
    }

    /// Connected viewers of the stream `name` on every worker (what the viewer cap counts).
    pub(super) fn connected_total(&self, name: &str) -> usize {
        let Some(id) = self.registry.stream_id(name) else {
            // No viewer here yet: a follower may still know the others.
            let remote = self.mirrored.streams.get(name).and_then(|m| m.elsewhere);
            return remote.map_or(0, |(_, c)| c);
        };
        let here = (
            self.registry.viewers(id).len(),
            self.registry.connected_viewers(id),
        );
        self.totals(id, here).1
    }

    /// (viewers, connected viewers) of `stream` everywhere, from `here`'s figures.
    fn totals(&self, stream: StreamId, here: (usize, usize)) -> (usize, usize) {
        let Some(name) = self.registry.stream_name(stream) else {
            return here;
        };
        // A worker may be both: home to this server's followers and, in a cluster, itself
        // following the stream's origin on another node (an edge's home worker).
        let below = self.followers_count(name);
        let above = self.elsewhere_count(name);
        (here.0 + below.0 + above.0, here.1 + below.1 + above.1)
    }

    /// The viewers (and connected ones) of the workers following `name` from here.
    fn followers_count(&self, name: &str) -> (usize, usize) {
        self.homed.streams.get(name).map_or((0, 0), |f| {
            f.followers
                .iter()
                .fold((0, 0), |(c, k), f| (c + f.count, k + f.connected))
        })
    }

    /// The viewers elsewhere as the home of `name` (when this worker follows it) last said.
    fn elsewhere_count(&self, name: &str) -> (usize, usize) {
        self.mirrored
            .streams
            .get(name)
            .and_then(|m| m.elsewhere)
            .unwrap_or((0, 0))
    }

    /// Home: tells followers the totals if they changed. Follower: tells the home its counts
    /// if they changed. Called when the stream's count is announced.
    pub(super) fn relay_counts(&mut self, stream: StreamId) {
        let Some(name) = self.registry.stream_name(stream).map(str::to_owned) else {
            return;
        };
        self.send_totals(&name);
        // What this worker reports upstream includes the workers that follow it.
        let below = self.followers_count(&name);
        let here = (
            self.registry.viewers(stream).len() + below.0,
            self.registry.connected_viewers(stream) + below.1,
        );
        let home = self.home_of(&name);
        if let Some((name, m)) = self.mirrored.streams.get_shared_key_mut(&name) {
            if m.count_sent != here {
                m.count_sent = here;
                let msg = RelayMsg::Count {
                    stream: name,
                    from: self.config.worker,
                    count: here.0,
                    connected: here.1,
                };
                self.relay(home, msg);
            }
        }
    }

    /// Home: tells each follower the viewers on the other workers, if that changed.
    pub(super) fn send_totals(&mut self, name: &str) {
        let above = self.elsewhere_count(name);
        let here = self.registry.stream_id(name).map_or(above, |id| {
            (
                self.registry.viewers(id).len() + above.0,
                self.registry.connected_viewers(id) + above.1,
            )
        });
        let Some((name, followed)) = self.homed.streams.get_shared_key_mut(name) else {
            return;
        };
        let all = followed
            .followers
            .iter()
            .fold(here, |(c, k), f| (c + f.count, k + f.connected));
        let mut out = Vec::new();
        for f in &mut followed.followers {
            let elsewhere = (all.0 - f.count, all.1 - f.connected);
            if f.told != Some(elsewhere) {
                f.told = Some(elsewhere);
                out.push((f.worker, elsewhere));
            }
        }
        for (w, (count, connected)) in out {
            self.relay(
                w,
                RelayMsg::Total {
                    stream: name.clone(),
                    count,
                    connected,
                },
            );
        }
    }
}
