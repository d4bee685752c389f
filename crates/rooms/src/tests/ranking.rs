//! Live now, ranked for a viewer: followed speakers first, then activity (listeners, speakers,
//! recent joins), then the newest; rooms of blocked hosts left out; search by name and people.

use super::{r, World};
use crate::{activity, ClientInfo, Command, Viewer, RECENT_WINDOW_MS};
use std::collections::HashSet;

/// Signs in connection `who` as `name` with account `acct-<who>`.
fn sign_in_account(w: &mut World, who: &str, name: &str) {
    w.ok(
        who,
        Command::Authenticate {
            username: name.into(),
            client: ClientInfo {
                account: Some(format!("acct-{who}")),
                ..ClientInfo::default()
            },
        },
    );
}

fn viewer(follows: &[&str], blocked: &[&str]) -> Viewer {
    let set = |ids: &[&str]| {
        ids.iter()
            .map(|id| format!("acct-{id}"))
            .collect::<HashSet<_>>()
    };
    Viewer {
        account: None,
        follows: set(follows),
        blocked: set(blocked),
    }
}

fn order(w: &World, v: &Viewer, query: Option<&str>) -> Vec<String> {
    w.rooms
        .live_for(w.now, v, query, 10)
        .into_iter()
        .map(|card| card.card.id.as_str().to_owned())
        .collect()
}

/// Three rooms: `quiet` (Ann alone), `busy` (Bob + 3 listeners), `talk` (Cat + Dan on stage).
fn lobby() -> World {
    let mut w = World::new();
    for (who, name) in [("a", "Ann"), ("b", "Bob"), ("c", "Cat"), ("d", "Dan")] {
        sign_in_account(&mut w, who, name);
    }
    for (who, name) in [("g1", "Gus"), ("g2", "Gil"), ("g3", "Gwen")] {
        w.sign_in(who, name);
    }
    w.create("a", "quiet");
    w.create("b", "busy");
    for g in ["g1", "g2", "g3"] {
        w.join(g, "busy");
    }
    w.create("c", "talk");
    w.join("d", "talk");
    w.raise_hand("d", "talk");
    w.promote("c", "talk", "d", true);
    w
}

#[test]
fn followed_speakers_first_then_activity_then_newest() {
    let w = lobby();
    // busy: 3 listeners + 1 speaker + 3 recent joins; talk: 2 speakers + 1 join; quiet: 0.
    assert_eq!(
        order(&w, &Viewer::default(), None),
        ["busy", "talk", "quiet"]
    );
    assert_eq!(activity(3, 1, 3), 14);
    // Following Ann (alone in the quietest room) puts her room first.
    assert_eq!(
        order(&w, &viewer(&["a"], &[]), None),
        ["quiet", "busy", "talk"]
    );
    // Following Dan, promoted in talk, and Ann: talk and quiet rank by activity among themselves.
    assert_eq!(
        order(&w, &viewer(&["a", "d"], &[]), None),
        ["talk", "quiet", "busy"]
    );
    let cards = w.rooms.live_for(w.now, &viewer(&["d"], &[]), None, 10);
    let talk = &cards[0];
    assert_eq!(talk.card.id, r("talk"));
    let speakers: Vec<(&str, bool)> = talk
        .speakers
        .iter()
        .map(|s| (s.username.as_str(), s.followed))
        .collect();
    assert_eq!(
        speakers,
        [("Cat", false), ("Dan", true)],
        "longest-standing first"
    );
    assert_eq!(talk.speakers[1].account_id.as_deref(), Some("acct-d"));
    assert_eq!(
        w.rooms.live_for(w.now, &Viewer::default(), None, 2).len(),
        2,
        "limited"
    );
}

#[test]
fn joins_count_while_recent() {
    let mut w = lobby();
    w.now += RECENT_WINDOW_MS + 1;
    // Old joins no longer count: busy (3 + 2 = 5) still beats talk (0 + 4 = 4).
    assert_eq!(
        order(&w, &Viewer::default(), None),
        ["busy", "talk", "quiet"]
    );
    // Four fresh joins make quiet the most active: 4 listeners, 1 speaker, 4 recent joins.
    for (who, name) in [
        ("h1", "Hal"),
        ("h2", "Hana"),
        ("h3", "Hugo"),
        ("h4", "Hedy"),
    ] {
        w.sign_in(who, name);
        w.join(who, "quiet");
    }
    assert_eq!(
        order(&w, &Viewer::default(), None),
        ["quiet", "busy", "talk"]
    );
    let quiet = &w.rooms.live_for(w.now, &Viewer::default(), None, 1)[0];
    assert_eq!(quiet.recent_joins, 4);
}

#[test]
fn blocked_hosts_are_hidden_and_search_matches_names_and_people() {
    let w = lobby();
    assert_eq!(
        order(&w, &viewer(&[], &["b"]), None),
        ["talk", "quiet"],
        "Bob's room is hidden"
    );
    assert_eq!(
        order(&w, &viewer(&[], &["d"]), None),
        ["busy", "talk", "quiet"],
        "only hosts count"
    );
    assert_eq!(
        order(&w, &Viewer::default(), Some("BUS")),
        ["busy"],
        "room names, any case"
    );
    assert_eq!(
        order(&w, &Viewer::default(), Some("dan")),
        ["talk"],
        "a speaker's name"
    );
    assert_eq!(
        order(&w, &Viewer::default(), Some("room cat")),
        ["talk"],
        "every word"
    );
    assert!(
        order(&w, &Viewer::default(), Some("gus")).is_empty(),
        "listeners are not searched"
    );
    assert_eq!(
        order(&w, &Viewer::default(), Some("  ")),
        ["busy", "talk", "quiet"]
    );
    let long = "x".repeat(10_000);
    assert!(order(&w, &Viewer::default(), Some(&long)).is_empty());
}
