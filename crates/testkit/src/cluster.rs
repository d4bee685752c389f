//! Nodes of a cluster in simulated time: each SFU is a node of one worker, and relay
//! messages between them cross as bytes ([`Relay::encode`] / [`Relay::decode`]), as they do
//! over the cluster's relay links. Node `i` reaches node `j` through link index `1 + j`
//! (the index a node's shell gives the link to another node: past its one worker).

use podium_media::Relay;

use crate::Net;

impl Net {
    /// `n` nodes of a cluster, one worker each; nothing is followed until a test makes a
    /// node an edge of a stream with [`Net::set_origin`].
    pub fn cluster(n: usize) -> Self {
        let mut net = Self::with_workers_config(n, |_| {});
        for w in 0..n {
            let addr = net.worker_addr(w);
            let mut cfg = podium_media::SfuConfig::new(addr);
            cfg.worker = 0;
            cfg.workers = 1;
            let now = net.now;
            *net.worker(w) = podium_media::Sfu::new(cfg, now);
        }
        net.cluster = true;
        net
    }

    /// Node `edge` pulls `stream` from node `origin` (`None`: from nowhere again).
    pub fn set_origin(&mut self, edge: usize, stream: &str, origin: Option<usize>) {
        let now = self.now;
        self.worker(edge)
            .set_remote_home(now, stream, origin.map(|o| 1 + o));
    }

    /// An audio publisher of `stream` on node `node` (its origin).
    pub fn publish_on(&mut self, node: usize, stream: &str, source: Option<&str>) -> usize {
        self.publish_kinds_on(node, stream, source, false)
    }

    /// A publisher of audio and, with `video`, video on node `node`.
    pub fn publish_kinds_on(
        &mut self,
        node: usize,
        stream: &str,
        source: Option<&str>,
        video: bool,
    ) -> usize {
        use str0m::media::{Direction, MediaKind};
        let mut kinds = vec![(MediaKind::Audio, Direction::SendOnly)];
        if video {
            kinds.push((MediaKind::Video, Direction::SendOnly));
        }
        let client = self.new_client(&kinds);
        self.publish_client_on(node, stream, source, client)
    }

    /// A relay message from node `from` to the node its link index names, through bytes.
    pub(crate) fn deliver_between_nodes(&mut self, from: usize, relay: Relay) {
        let to = relay.to() - 1;
        let mut bytes = Vec::new();
        relay.encode(self.now, &mut bytes);
        let now = self.now;
        let decoded = Relay::decode(&bytes, now).expect("a relay message reads back");
        self.worker(to)
            .handle_relay(now, decoded.readdressed(0, 1 + from));
    }
}
