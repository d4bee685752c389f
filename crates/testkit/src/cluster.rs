//! Nodes of a cluster in simulated time: each node is a few media workers (SFUs of the flat
//! worker list: node `n`'s worker `k` is `n × W + k`), and relay messages between nodes cross
//! as bytes ([`Relay::encode`] / [`Relay::decode`]), as they do over the cluster's relay
//! links. A worker reaches node `j` through link index `W + j` (the index a node's shell
//! gives the link to another node: past its own workers). As in the server shell, a message
//! arriving from another node goes to the stream's home worker there, and only that worker
//! of an edge follows the origin (the edge's other workers follow it).

use podium_media::{home_worker, Relay};

use crate::Net;

impl Net {
    /// `n` nodes of a cluster, one worker each.
    pub fn cluster(n: usize) -> Self {
        Self::cluster_of(n, 1)
    }

    /// `n` nodes of `workers` media workers each; nothing is followed until a test makes a
    /// node an edge of a stream with [`Net::set_origin`].
    pub fn cluster_of(n: usize, workers: usize) -> Self {
        let mut net = Self::with_workers_config(n * workers, |_| {});
        for flat in 0..n * workers {
            let addr = net.worker_addr(flat);
            let mut cfg = podium_media::SfuConfig::new(addr);
            cfg.worker = flat % workers;
            cfg.workers = workers;
            let now = net.now;
            *net.worker(flat) = podium_media::Sfu::new(cfg, now);
        }
        net.cluster = Some(workers);
        net
    }

    fn node_workers(&self) -> usize {
        self.cluster.unwrap_or(1)
    }

    /// The flat index of node `node`'s worker `worker`.
    pub fn node_worker(&self, node: usize, worker: usize) -> usize {
        node * self.node_workers() + worker
    }

    /// Node `edge` pulls `stream` from node `origin` (`None`: from nowhere again): its home
    /// worker for the stream follows the origin's.
    pub fn set_origin(&mut self, edge: usize, stream: &str, origin: Option<usize>) {
        let w = self.node_workers();
        let flat = self.node_worker(edge, home_worker(stream, w));
        let now = self.now;
        self.worker(flat)
            .set_remote_home(now, stream, origin.map(|o| w + o));
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
        let flat = self.node_worker(node, home_worker(stream, self.node_workers()));
        self.publish_client_on(flat, stream, source, client)
    }

    /// A relay message from flat worker `from`: to a worker of its own node, or as bytes to
    /// the stream's home worker of the node its link index names.
    pub(crate) fn deliver_between_nodes(&mut self, from: usize, relay: Relay) {
        let w = self.node_workers();
        let node = from / w;
        let now = self.now;
        if relay.to() < w {
            let to = self.node_worker(node, relay.to());
            self.worker(to).handle_relay(now, relay);
            return;
        }
        let to_node = relay.to() - w;
        let mut bytes = Vec::new();
        relay.encode(now, &mut bytes);
        let decoded = Relay::decode(&bytes, now).expect("a relay message reads back");
        let home = home_worker(decoded.stream(), w);
        let to = self.node_worker(to_node, home);
        self.worker(to)
            .handle_relay(now, decoded.readdressed(home, w + node));
    }
}
