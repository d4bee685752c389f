//! A cluster on a real Redis (`redis-server`, started here on a private unix socket, no
//! persistence) and three nodes on 127.0.0.1, .2 and .3: the Director of any node sends a
//! stream's publishers to one origin and its viewers to edges that pull the stream over
//! the relay links; JWTs minted by one node open signaling on another.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::client::{
    command, director, server_with, wait_event, Peer, PeerReport, Server, Ws, TOKEN,
};

/// A private `redis-server`, stopped on drop.
pub struct Redis {
    child: Child,
    dir: PathBuf,
    pub url: String,
}

impl Redis {
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "podium-redis-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("redis.sock");
        let child = Self::spawn(&socket);
        let url = format!("redis+unix://{}", socket.display());
        let redis = Self { child, dir, url };
        redis.wait_ready(&socket);
        redis
    }

    fn spawn(socket: &std::path::Path) -> Child {
        Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--save",
                "",
                "--appendonly",
                "no",
                "--unixsocket",
            ])
            .arg(socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian package redis-server; scripts/test-all.sh installs it)")
    }

    fn wait_ready(&self, socket: &std::path::Path) {
        for _ in 0..200 {
            if std::os::unix::net::UnixStream::connect(socket).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not start");
    }

    /// Kills it: its state is lost (no persistence).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(self.dir.join("redis.sock"));
    }

    /// Starts it again, empty, on the same socket.
    pub fn start_again(&mut self) {
        let socket = self.dir.join("redis.sock");
        self.child = Self::spawn(&socket);
        self.wait_ready(&socket);
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Node `i` (1-based) of the cluster on 127.0.0.i; every viewer goes to an edge.
pub async fn node(redis: &Redis, i: u8) -> Server {
    node_with(redis, i, |_| {}).await
}

/// Node `i` with its flags adjusted by `tune`.
pub async fn node_with(
    redis: &Redis,
    i: u8,
    tune: impl FnOnce(&mut podium_server::ServeArgs),
) -> Server {
    let ip = format!("127.0.0.{i}");
    let url = redis.url.clone();
    server_with(move |a| {
        a.http_addr = Some(format!("{ip}:0").parse().unwrap());
        a.udp_addr = Some(format!("{ip}:0").parse().unwrap());
        a.relay_addr = Some(format!("{ip}:0").parse().unwrap());
        a.cluster = Some(url);
        a.node_name = Some(format!("node{i}"));
        a.origin_max_viewers = Some(0);
        a.media_workers = Some(1);
        a.drain_grace = Some(1);
        tune(a);
    })
    .await
}

/// Waits until every node sees `n` nodes (their heartbeats are in Redis).
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(700)).await;
}

pub fn signaling_url(body: &Value) -> String {
    format!(
        "{}?token={}",
        body["data"]["urls"][0].as_str().unwrap(),
        body["data"]["jwt"].as_str().unwrap()
    )
}

pub fn host_of(url: &str) -> String {
    url.split('/').nth(2).unwrap().to_owned()
}

/// Three nodes, once they see each other.
async fn three_nodes(redis: &Redis) -> [Server; 3] {
    let nodes = [
        node(redis, 1).await,
        node(redis, 2).await,
        node(redis, 3).await,
    ];
    settle().await;
    nodes
}

/// The node listening at `host` (`ip:port`).
fn node_at<'a>(nodes: &'a [Server], host: &str) -> &'a Server {
    nodes
        .iter()
        .find(|n| n.running.http_addr.to_string() == host)
        .unwrap_or_else(|| panic!("no node at {host}"))
}

/// Runs `check` every 100 ms until it says `Ok`; panics with its last `Err` after `secs`.
pub async fn eventually<F, Fut>(secs: u64, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        match check().await {
            Ok(()) => return,
            Err(why) => assert!(tokio::time::Instant::now() < deadline, "{why}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A stream published through the first node's Director and a viewer of it on an edge,
/// receiving.
struct OnEdge {
    _publisher: (Ws, Peer),
    origin: String,
    ws: Ws,
    viewer: Peer,
    /// The edge's host.
    at: String,
    events: Vec<Value>,
}

async fn viewer_on_edge(nodes: &[Server], stream: &str, tag: u8) -> OnEdge {
    let (pub_ws, publisher, origin) = publish(&nodes[0].base, stream, tag).await;
    settle().await;
    let mut events = Vec::new();
    let (mut ws, mut viewer, at) = view(&nodes[0].base, stream, &mut events).await;
    assert_ne!(
        at, origin,
        "the viewer is on an edge (origin-max-viewers 0)"
    );
    wait_event(&mut ws, "active", &mut events).await;
    receive(&mut viewer, tag, 20).await;
    OnEdge {
        _publisher: (pub_ws, publisher),
        origin,
        ws,
        viewer,
        at,
        events,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_publish_placements_make_one_origin() {
    let redis = Redis::start();
    let nodes = three_nodes(&redis).await;
    let calls = (0..50).map(|i| {
        let base = nodes[i % 3].base.clone();
        async move { director(&base, "publish", Some(TOKEN), json!({"streamName": "one"})).await }
    });
    let replies = futures_util::future::join_all(calls).await;
    let hosts: std::collections::BTreeSet<String> = replies
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 200, "{body}");
            host_of(body["data"]["urls"][0].as_str().unwrap())
        })
        .collect();
    assert_eq!(hosts.len(), 1, "one origin: {hosts:?}");
    // Pages of one node may open signaling on the others (and only on them).
    let page = reqwest::get(format!("{}/", nodes[0].base)).await.unwrap();
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    for n in &nodes {
        assert!(
            csp.contains(&format!("ws://{}", n.running.http_addr)),
            "{csp}"
        );
    }
    assert!(!csp.contains("ws: "), "{csp}");
    let origin = hosts.into_iter().next().unwrap();
    assert!(
        nodes
            .iter()
            .any(|n| n.running.http_addr.to_string() == origin),
        "{origin} is a node"
    );
}

pub async fn open(url: &str) -> Ws {
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// Publishes audio+video tagged `tag` to `stream` through `base`'s Director; returns the
/// socket, the peer and the node it landed on.
async fn publish(base: &str, stream: &str, tag: u8) -> (Ws, Peer, String) {
    let (status, body) =
        director(base, "publish", Some(TOKEN), json!({"streamName": stream})).await;
    assert_eq!(status, 200, "{body}");
    let url = signaling_url(&body);
    let mut ws = open(&url).await;
    let mut peer = Peer::new(true).await;
    let mut events = Vec::new();
    let reply = command(
        &mut ws,
        1,
        "publish",
        json!({"name": stream, "sdp": peer.offer, "codec": "vp8"}),
        &mut events,
    )
    .await;
    assert_eq!(reply["type"], "response", "{reply}");
    peer.answer(reply["data"]["sdp"].as_str().unwrap());
    assert!(matches!(peer.next_report().await, PeerReport::Connected));
    peer.start_sending(tag);
    (ws, peer, host_of(&url))
}

/// Views `stream` through `base`'s Director; returns the socket, the peer and its node.
async fn view(base: &str, stream: &str, events: &mut Vec<Value>) -> (Ws, Peer, String) {
    let (status, body) = director(base, "subscribe", None, json!({"streamName": stream})).await;
    assert_eq!(status, 200, "{body}");
    let url = signaling_url(&body);
    let mut ws = open(&url).await;
    let mut peer = Peer::new(false).await;
    let reply = command(
        &mut ws,
        1,
        "view",
        json!({"streamId": stream, "sdp": peer.offer}),
        events,
    )
    .await;
    assert_eq!(reply["type"], "response", "{reply}");
    peer.answer(reply["data"]["sdp"].as_str().unwrap());
    (ws, peer, host_of(&url))
}

/// Waits for `n` RTP packets tagged `tag`.
async fn receive(peer: &mut Peer, tag: u8, n: usize) {
    let mut got = 0;
    while got < n {
        if let PeerReport::Rtp { payload, .. } = peer.next_report().await {
            if payload[0] == tag {
                got += 1;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_on_edges_get_the_stream_from_its_origin_with_the_cluster_count() {
    let redis = Redis::start();
    // Two viewers fill a node (80 % of 3, reservations counted): four need both edges.
    let small = |a: &mut podium_server::ServeArgs| a.node_max_viewers = Some(3);
    let nodes = [
        node_with(&redis, 1, small).await,
        node_with(&redis, 2, small).await,
        node_with(&redis, 3, small).await,
    ];
    settle().await;
    let (_pub_ws, _publisher, origin) = publish(&nodes[0].base, "edge-test", 7).await;
    settle().await;
    let mut viewers = Vec::new();
    for i in 0..4 {
        let mut events = Vec::new();
        let (ws, peer, at) = view(&nodes[(i + 1) % 3].base, "edge-test", &mut events).await;
        assert_ne!(at, origin, "viewer {i} on an edge (origin-max-viewers 0)");
        viewers.push((ws, peer, at, events));
        // Past the 100 ms a Director reuses its view: it sees the others' reservations.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let edges: std::collections::BTreeSet<_> = viewers.iter().map(|v| v.2.clone()).collect();
    assert_eq!(edges.len(), 2, "both edges used: {edges:?}");
    for (ws, peer, _, events) in &mut viewers {
        let active = wait_event(ws, "active", events).await;
        assert_eq!(active["data"]["sourceId"], Value::Null);
        receive(peer, 7, 30).await;
    }
    // The operator sees the stream's two edges on any node's /metrics.
    eventually(10, || async {
        let text = reqwest::get(format!("{}/metrics", nodes[0].base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let wanted = [
            "podium_cluster_nodes 3",
            r#"podium_cluster_stream_edges{stream="edge-test"} 2"#,
            r#"podium_cluster_stream_viewers{stream="edge-test"} 4"#,
        ];
        if wanted.iter().all(|w| text.contains(w)) {
            return Ok(());
        }
        let lines: Vec<&str> = text.lines().filter(|l| l.contains("cluster")).collect();
        Err(lines.join("\n"))
    })
    .await;
    // The count every viewer hears is the cluster's: 4, wherever it is.
    for (ws, _, at, events) in &mut viewers {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let count = wait_event(ws, "viewercount", events).await;
            if count["data"]["viewercount"] == 4 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "viewer on {at}: {count}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_leaves_media_alone_and_placements_resume() {
    let mut redis = Redis::start();
    let nodes = [node(&redis, 1).await, node(&redis, 2).await];
    settle().await;
    let OnEdge {
        mut ws,
        mut viewer,
        events,
        _publisher,
        ..
    } = viewer_on_edge(&nodes, "outage", 3).await;

    // An API token made before the outage.
    let (secret, _) = crate::client::create_token(
        &nodes[0].base,
        json!({"label": "before", "action": "publish", "streams": ["outage-*"]}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(700)).await;

    redis.kill();
    // Media goes on: the viewer on the edge keeps receiving, and hears no `inactive`.
    receive(&mut viewer, 3, 100).await;
    // The Director places from its last view for a while...
    let (status, body) = director(
        &nodes[1].base,
        "subscribe",
        None,
        json!({"streamName": "outage"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // ...then refuses clearly.
    tokio::time::sleep(podium_server::cluster::STALE_VIEW_LIMIT).await;
    let (status, body) = director(
        &nodes[1].base,
        "subscribe",
        None,
        json!({"streamName": "outage"}),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["data"]["message"].as_str().unwrap().contains("Redis"),
        "{body}"
    );
    receive(&mut viewer, 3, 25).await;

    // Redis comes back empty: the nodes register again, the origin is claimed again, and
    // placements resume on their own.
    redis.start_again();
    eventually(15, || async {
        match director(
            &nodes[1].base,
            "subscribe",
            None,
            json!({"streamName": "outage"}),
        )
        .await
        {
            (200, _) => Ok(()),
            (status, body) => Err(format!("{status} {body}")),
        }
    })
    .await;
    // The tokens came back with the nodes' replicas.
    let (status, body) = director(
        &nodes[1].base,
        "publish",
        Some(&secret),
        json!({"streamName": "outage-2"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let mut events2 = Vec::new();
    let (mut ws2, mut viewer2, _) = view(&nodes[1].base, "outage", &mut events2).await;
    wait_event(&mut ws2, "active", &mut events2).await;
    receive(&mut viewer2, 3, 25).await;
    receive(&mut viewer, 3, 25).await;
    assert!(
        !events.iter().any(|e| e["name"] == "inactive"),
        "the first viewer never saw its source end: {events:?}"
    );
    // Drain what arrived meanwhile: still no `inactive`.
    while let Ok(Some(frame)) = tokio::time::timeout(
        Duration::from_millis(100),
        crate::client::next_frame(&mut ws),
    )
    .await
    {
        assert_ne!(frame["name"], "inactive", "{frame}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_node_tells_its_viewers_to_move_then_lets_them_go_and_gets_no_one_new() {
    let redis = Redis::start();
    let nodes = three_nodes(&redis).await;
    let OnEdge {
        mut ws,
        mut events,
        at,
        _publisher,
        viewer: _viewer,
        ..
    } = viewer_on_edge(&nodes, "drain", 5).await;
    let drained = node_at(&nodes, &at);
    let (status, body) = crate::client::admin(
        &drained.base,
        reqwest::Method::POST,
        "cluster/drain",
        Some(json!({"drain": true})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let migrate = wait_event(&mut ws, "migrate", &mut events).await;
    assert_eq!(migrate["data"]["reason"], "draining");
    // After the grace period (1 s here) the session is closed with a reason.
    let reason = crate::client::closed_reason(&mut ws).await;
    assert_eq!(reason.as_deref(), Some("This node is draining: reconnect"));
    // The Director of every node places elsewhere from now on.
    for n in &nodes {
        for _ in 0..5 {
            let (status, body) =
                director(&n.base, "subscribe", None, json!({"streamName": "drain"})).await;
            assert_eq!(status, 200, "{body}");
            let placed = host_of(body["data"]["urls"][0].as_str().unwrap());
            assert_ne!(placed, at, "placed on the drained node");
        }
    }
    // The operator's view says so.
    let (status, body) =
        crate::client::admin(&nodes[0].base, reqwest::Method::GET, "cluster", None).await;
    assert_eq!(status, 200, "{body}");
    let listed = body["data"]["nodes"].as_array().unwrap();
    let state = listed
        .iter()
        .find(|n| n["url"].as_str().unwrap().ends_with(&at))
        .map(|n| n["state"].clone());
    assert_eq!(state, Some(json!("draining")), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_work_on_every_node_and_kicks_and_revocations_reach_every_node() {
    let redis = Redis::start();
    let nodes = three_nodes(&redis).await;
    // A token created on node 3 opens node 1's Director (once its replica caught up: half a
    // second at most).
    let (secret, id) = crate::client::create_token(
        &nodes[2].base,
        json!({"label": "studio", "action": "publish", "streams": ["kick-*"]}),
    )
    .await;
    let publish_status = |stream: &'static str| {
        let (base, secret) = (nodes[0].base.clone(), secret.clone());
        async move {
            director(
                &base,
                "publish",
                Some(&secret),
                json!({ "streamName": stream }),
            )
            .await
        }
    };
    eventually(5, || async {
        match publish_status("kick-1").await {
            (200, _) => Ok(()),
            (status, body) => Err(format!("{status} {body}")),
        }
    })
    .await;
    // Listed on every node.
    eventually(5, || async {
        let (_, listed) =
            crate::client::admin(&nodes[1].base, reqwest::Method::GET, "tokens", None).await;
        let text = listed.to_string();
        if text.contains(&id) {
            Ok(())
        } else {
            Err(text)
        }
    })
    .await;

    // A viewer on an edge is cut off by a kick sent to another node.
    // Bound, not `..`: the publisher and the viewer's peer must live to the end.
    let OnEdge {
        mut ws,
        origin,
        _publisher,
        viewer: _viewer,
        ..
    } = viewer_on_edge(&nodes, "kick-1", 4).await;
    let kicker = node_at(&nodes, &origin);
    let (status, body) = crate::client::admin(
        &kicker.base,
        reqwest::Method::POST,
        "kick",
        Some(json!({"streamName": "kick-1"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let reason = crate::client::closed_reason(&mut ws).await;
    assert_eq!(reason.as_deref(), Some("Kicked"), "the edge's viewer");

    // Revoked on node 2: refused by node 1's Director (once its replica caught up).
    let (status, _) = crate::client::admin(
        &nodes[1].base,
        reqwest::Method::DELETE,
        &format!("tokens/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    eventually(5, || async {
        match publish_status("kick-2").await {
            (401 | 403, _) => Ok(()),
            (status, body) => Err(format!("{status} {body}")),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotated_on_one_node_sign_jwts_every_node_accepts() {
    let redis = Redis::start();
    let nodes = three_nodes(&redis).await;
    let (_pub_ws, _publisher, _) = publish(&nodes[0].base, "rotate", 6).await;
    let kid =
        podium_server::secrets::rotate_keys(&nodes[0].dir, podium_server::state::unix_now(), 600)
            .unwrap();
    // Node 1 reloads its ring, the cluster takes it, the other nodes adopt it (a few seconds
    // each); then a viewer's JWT from node 1's Director, signed with the new key, opens an
    // edge's signaling.
    eventually(20, || async {
        let (status, body) = director(
            &nodes[0].base,
            "subscribe",
            None,
            json!({"streamName": "rotate"}),
        )
        .await;
        if status != 200 {
            return Err(format!("{status} {body}"));
        }
        let jwt = body["data"]["jwt"].as_str().unwrap();
        let header = jwt.split('.').next().unwrap();
        use base64::Engine as _;
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap();
        if !String::from_utf8_lossy(&header).contains(&kid) {
            return Err(format!(
                "node 1 still signs with the old key: {}",
                String::from_utf8_lossy(&header)
            ));
        }
        let url = signaling_url(&body);
        match tokio_tungstenite::connect_async(&url).await {
            Ok(_) => Ok(()),
            Err(e) => Err(format!("{} refused the new key: {e}", host_of(&url))),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_node_under_a_taken_name_refuses_to_start() {
    let redis = Redis::start();
    let _first = node(&redis, 1).await;
    let url = redis.url.clone();
    let dir = std::env::temp_dir().join(format!("podium-it-dup-{}", std::process::id()));
    let args = podium_server::ServeArgs {
        http_addr: Some("127.0.0.2:0".parse().unwrap()),
        udp_addr: Some("127.0.0.2:0".parse().unwrap()),
        relay_addr: Some("127.0.0.2:0".parse().unwrap()),
        rtmp_addr: Some(podium_server::config::RtmpAddr::Off),
        data_dir: Some(dir.clone()),
        cluster: Some(url),
        node_name: Some("node1".into()),
        ..Default::default()
    };
    let config = podium_server::Config::resolve(args).unwrap();
    let started = podium_server::start(config, std::future::pending()).await;
    let _ = std::fs::remove_dir_all(&dir);
    let error = format!("{:#}", started.err().expect("refused"));
    assert!(
        error.contains("another node of the cluster is named \"node1\""),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whip_publisher_on_a_node_that_is_not_the_origin_is_told_which_is() {
    let redis = Redis::start();
    let nodes = [node(&redis, 1).await, node(&redis, 2).await];
    settle().await;
    let (_pub_ws, _publisher, origin) = publish(&nodes[0].base, "whip-origin", 8).await;
    let other = nodes
        .iter()
        .find(|n| n.running.http_addr.to_string() != origin)
        .unwrap();
    let offer = Peer::new(true).await.offer;
    let response = reqwest::Client::new()
        .post(format!("{}/whip/whip-origin", other.base))
        .bearer_auth(TOKEN)
        .header("content-type", "application/sdp")
        .body(offer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 409);
    let text = response.text().await.unwrap();
    assert!(text.contains("is published on node node"), "{text}");
}
