use super::*;

fn node(id: &str, viewers: u32) -> Node {
    Node {
        id: id.into(),
        state: NodeState::Serving,
        viewers,
        max_viewers: 1000,
        reserved: 0,
        heartbeat_age: Duration::from_millis(500),
    }
}

fn stream(origin: &str, origin_viewers: u32, edges: &[&str]) -> StreamView {
    StreamView {
        origin: Some(origin.into()),
        origin_viewers,
        edges: edges.iter().map(|e| e.to_string()).collect(),
    }
}

/// Picks the first candidates.
fn first(_: usize) -> usize {
    0
}

#[test]
fn the_origin_keeps_viewers_until_its_limit_then_edges_carrying_the_stream_then_new_ones() {
    let nodes = [node("a", 10), node("b", 100), node("c", 50), node("d", 20)];
    let p = Placement::default();
    assert_eq!(
        place_viewer(&nodes, &stream("a", 10, &[]), p, first),
        Ok(ViewerPlace::Origin("a".into()))
    );
    let full_origin = stream("a", p.origin_max_viewers, &["b", "c"]);
    assert_eq!(
        place_viewer(&nodes, &full_origin, p, first),
        Ok(ViewerPlace::Edge("c".into())),
        "the less loaded of the two carrying edges"
    );
    let zero = Placement {
        origin_max_viewers: 0,
        ..p
    };
    assert_eq!(
        place_viewer(&nodes, &stream("a", 0, &[]), zero, first),
        Ok(ViewerPlace::NewEdge("c".into())),
        "the less loaded of two random non-origin nodes (b, c)"
    );
}

#[test]
fn full_draining_and_silent_nodes_get_nobody() {
    let p = Placement {
        origin_max_viewers: 0,
        ..Placement::default()
    };
    let mut nodes = vec![node("a", 0), node("b", 800), node("c", 0), node("d", 0)];
    nodes[2].state = NodeState::Draining;
    nodes[3].heartbeat_age = HEARTBEAT_EXPIRY;
    assert_eq!(
        place_viewer(&nodes, &stream("a", 0, &["b"]), p, first),
        Err(NoPlace::Full),
        "b is at its high-water mark, c drains, d is gone"
    );
    nodes[1].viewers = 700;
    nodes[1].reserved = 100;
    assert_eq!(
        place_viewer(&nodes, &stream("a", 0, &["b"]), p, first),
        Err(NoPlace::Full),
        "reservations count"
    );
    nodes[1].reserved = 0;
    assert_eq!(
        place_viewer(&nodes, &stream("a", 0, &["b"]), p, first),
        Ok(ViewerPlace::Edge("b".into()))
    );
}

#[test]
fn a_stream_without_a_live_origin_is_not_live() {
    let mut nodes = vec![node("a", 0), node("b", 0)];
    let p = Placement::default();
    assert_eq!(
        place_viewer(&nodes, &StreamView::default(), p, first),
        Err(NoPlace::NotLive)
    );
    nodes[0].heartbeat_age = HEARTBEAT_EXPIRY;
    assert_eq!(
        place_viewer(&nodes, &stream("a", 0, &[]), p, first),
        Err(NoPlace::NotLive)
    );
    // A draining origin still feeds its edges: viewers go there, not to it.
    nodes[0].heartbeat_age = Duration::ZERO;
    nodes[0].state = NodeState::Draining;
    assert_eq!(
        place_viewer(&nodes, &stream("a", 0, &[]), p, first),
        Ok(ViewerPlace::NewEdge("b".into()))
    );
}

#[test]
fn two_random_choices_spread_a_join_storm() {
    // 4 equal edges; each placement reserves a slot, as the shell does.
    let mut nodes: Vec<Node> = ["o", "e1", "e2", "e3", "e4"]
        .iter()
        .map(|id| node(id, 0))
        .collect();
    let p = Placement {
        origin_max_viewers: 0,
        ..Placement::default()
    };
    let mut seed = 12345u64;
    let mut rng = move |n: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize % n
    };
    let s = stream("o", 0, &["e1", "e2", "e3", "e4"]);
    for _ in 0..400 {
        let ViewerPlace::Edge(id) = place_viewer(&nodes, &s, p, &mut rng).unwrap() else {
            panic!("an edge carrying the stream");
        };
        nodes.iter_mut().find(|n| n.id == id).unwrap().reserved += 1;
    }
    let loads: Vec<u32> = nodes[1..].iter().map(|n| n.reserved).collect();
    let (min, max) = (loads.iter().min().unwrap(), loads.iter().max().unwrap());
    assert_eq!(loads.iter().sum::<u32>(), 400);
    assert!(max - min <= 4, "near-even spread: {loads:?}");
    assert_eq!(nodes[0].reserved, 0, "nothing on the origin past its limit");
}

#[test]
fn a_publisher_claims_the_least_loaded_serving_node_preferring_its_own() {
    let mut nodes = vec![node("a", 30), node("b", 10), node("c", 10)];
    assert_eq!(origin_for_publisher(&nodes, "c").unwrap().id, "c");
    assert_eq!(origin_for_publisher(&nodes, "a").unwrap().id, "b");
    nodes[1].state = NodeState::Draining;
    nodes[2].heartbeat_age = HEARTBEAT_EXPIRY;
    assert_eq!(origin_for_publisher(&nodes, "b").unwrap().id, "a");
    nodes[0].state = NodeState::Draining;
    assert!(origin_for_publisher(&nodes, "a").is_none());
}
