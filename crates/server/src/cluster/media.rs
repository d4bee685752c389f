//! What the cluster asks of this node's media workers: which streams they hold, which
//! streams they pull from another node, and the relay messages crossing the links.

use std::collections::BTreeMap;

use podium_media::{Relay, StreamPresence};
use tokio::sync::oneshot;

use crate::media_handle::{Command, MediaHandle, RemoteOutlet, WorkerGone};

impl MediaHandle {
    /// Where the workers' messages for other nodes go from now on (set once).
    pub fn set_remote_outlet(&self, outlet: RemoteOutlet) {
        let _ = self.links.remote.set(outlet);
    }

    /// The streams held here, summed over the workers (by name).
    pub async fn presence(&self) -> Result<Vec<StreamPresence>, WorkerGone> {
        let pending: Vec<_> = self
            .workers
            .iter()
            .map(|tx| {
                let (reply, rx) = oneshot::channel();
                let _ = tx.send(Command::Presence(reply));
                rx
            })
            .collect();
        let mut by_name: BTreeMap<String, StreamPresence> = BTreeMap::new();
        for rx in pending {
            for p in rx.await.map_err(|_| WorkerGone)? {
                let entry = by_name
                    .entry(p.stream.clone())
                    .or_insert_with(|| StreamPresence {
                        stream: p.stream.clone(),
                        publications: 0,
                        viewers: 0,
                    });
                entry.publications += p.publications;
                entry.viewers += p.viewers;
            }
        }
        Ok(by_name.into_values().collect())
    }

    /// `stream` is pulled from the node behind link `home` (an index past the workers), or
    /// with `None` from nowhere. The stream's home worker here follows the origin; the
    /// other workers, whose viewers spread as for any stream, follow that home worker: one
    /// copy of the stream crosses from the origin to this node.
    pub fn set_remote_home(&self, stream: &str, home: Option<usize>) {
        let worker = self.worker_of_stream(stream);
        if let Some(tx) = self.workers.get(worker) {
            let _ = tx.send(Command::RemoteHome(stream.to_owned(), home));
        }
    }

    /// A message from another node, to the worker it is addressed to: control always,
    /// media unless that worker's queue is full (then dropped, as between workers).
    pub fn deliver_relay(&self, relay: Relay) {
        let to = relay.to();
        let relayed = crate::media_handle::Relayed {
            relay,
            origin: None,
        };
        if relayed.relay.is_media() {
            if let Some(tx) = self.links.media.get(to) {
                let _ = tx.try_send(relayed);
            }
        } else if let Some(tx) = self.links.control.get(to) {
            let _ = tx.send(relayed);
        }
    }
}
