//! Replays against SQLite: tracks placed on the replay's clock, who may watch, ending
//! (an empty replay is forgotten), a server stopped mid-recording, deletion by the host.

use super::*;
use crate::{AccountStore, Accounts};

const PASSWORD: &str = "violet-kettle-41-drums";
const T0: u64 = 1_800_000_000_000;

fn store() -> (AccountStore, [String; 3]) {
    let s = AccountStore::open_in_memory().unwrap();
    let ids = ["Ann", "Bob", "Cat"].map(|n| s.sign_up(n, PASSWORD, T0 / 1000).unwrap().id);
    (s, ids)
}

fn new(host: &str, privacy: &str) -> NewReplay {
    NewReplay {
        host: host.into(),
        room_id: "room-1".into(),
        title: "Morning <b>chat</b>".into(),
        privacy: privacy.into(),
        started_ms: T0,
    }
}

fn track(user: &str, name: &str, account: Option<&str>, at: u64) -> NewTrack {
    NewTrack {
        user_id: user.into(),
        username: name.into(),
        account_id: account.map(str::to_owned),
        file: format!("room-1/{user}-{at}.webm"),
        started_ms: T0 + at,
    }
}

#[test]
fn tracks_sit_on_the_replays_clock_with_their_speech() {
    let (s, [ann, _, _]) = store();
    let r = s.start_replay(new(&ann, "public")).unwrap();
    assert!(r.id.starts_with('p') && r.ended_ms.is_none());
    assert_eq!(
        s.add_replay_track(&r.id, track("a", "Ann", Some(&ann), 40))
            .unwrap(),
        0
    );
    assert_eq!(
        s.add_replay_track(&r.id, track("g", "Guest", None, 5_000))
            .unwrap(),
        1
    );
    s.finish_replay_track(&r.id, 1, 9_000, &[[100, 2_000], [4_000, 8_500]])
        .unwrap();
    // Not listed until it ends.
    assert!(s.replays_of(&ann, None, 10).unwrap().is_empty());
    s.end_replay(&r.id, T0 + 20_000).unwrap();
    let (got, tracks) = s.replay_for(&r.id, None).unwrap().unwrap();
    assert_eq!(got.ended_ms, Some(T0 + 20_000));
    assert_eq!(got.speakers, ["Ann", "Guest"]);
    assert_eq!(got.title, "Morning <b>chat</b>", "stored as typed");
    assert_eq!((tracks[0].offset_ms, tracks[0].duration_ms), (40, None));
    assert_eq!(tracks[0].account_id.as_deref(), Some(ann.as_str()));
    assert_eq!(
        (tracks[1].offset_ms, tracks[1].duration_ms),
        (5_000, Some(9_000))
    );
    assert_eq!(tracks[1].speech, [[100, 2_000], [4_000, 8_500]]);
    assert_eq!(s.replays_of(&ann, None, 10).unwrap().len(), 1);
}

#[test]
fn who_may_watch_follows_the_rooms_privacy_and_the_hosts_blocks() {
    let (s, [ann, bob, cat]) = store();
    let mut ids = Vec::new();
    for privacy in ["public", "followers", "invite"] {
        let r = s.start_replay(new(&ann, privacy)).unwrap();
        s.add_replay_track(&r.id, track("a", "Ann", Some(&ann), 0))
            .unwrap();
        s.end_replay(&r.id, T0 + 1_000).unwrap();
        ids.push(r.id);
    }
    let sees = |viewer: Option<&str>| -> Vec<String> {
        let mut v: Vec<String> = s
            .replays_of(&ann, viewer, 10)
            .unwrap()
            .into_iter()
            .map(|r| r.privacy)
            .collect();
        v.sort();
        for (id, privacy) in ids.iter().zip(["public", "followers", "invite"]) {
            let one = s.replay_for(id, viewer).unwrap().is_some();
            assert_eq!(
                one,
                v.iter().any(|p| p == privacy),
                "{privacy} for {viewer:?}"
            );
        }
        v
    };
    assert_eq!(sees(Some(&ann)), ["followers", "invite", "public"]);
    assert_eq!(sees(None), ["public"]);
    assert_eq!(sees(Some(&bob)), ["public"]);
    s.follow(&bob, &ann, T0 / 1000).unwrap();
    assert_eq!(sees(Some(&bob)), ["followers", "public"]);
    s.follow(&cat, &ann, T0 / 1000).unwrap();
    s.block(&ann, &cat, T0 / 1000).unwrap();
    assert!(sees(Some(&cat)).is_empty(), "blocked by the host");
    s.block(&bob, &ann, T0 / 1000).unwrap();
    assert!(sees(Some(&bob)).is_empty(), "blocking the host");
    assert!(matches!(
        s.start_replay(new(&ann, "secret")),
        Err(Error::Invalid(_))
    ));
}

#[test]
fn an_empty_replay_is_forgotten_and_a_stopped_server_leaves_none_open() {
    let (s, [ann, _, _]) = store();
    let empty = s.start_replay(new(&ann, "public")).unwrap();
    s.end_replay(&empty.id, T0 + 5_000).unwrap();
    assert!(s.replay_for(&empty.id, Some(&ann)).unwrap().is_none());
    // Stopped mid-recording: one track finished, one not; another replay with none.
    let r = s.start_replay(new(&ann, "public")).unwrap();
    s.add_replay_track(&r.id, track("a", "Ann", Some(&ann), 1_000))
        .unwrap();
    s.finish_replay_track(&r.id, 0, 30_000, &[]).unwrap();
    s.add_replay_track(&r.id, track("b", "Bob", None, 2_000))
        .unwrap();
    let none = s.start_replay(new(&ann, "public")).unwrap();
    assert_eq!(s.end_open_replays().unwrap(), 1);
    let (got, _) = s.replay_for(&r.id, None).unwrap().unwrap();
    assert_eq!(got.ended_ms, Some(T0 + 31_000));
    assert!(s.replay_for(&none.id, Some(&ann)).unwrap().is_none());
    assert_eq!(s.end_open_replays().unwrap(), 0);
}

#[test]
fn only_the_host_deletes_and_gets_the_files_back() {
    let (s, [ann, bob, _]) = store();
    let r = s.start_replay(new(&ann, "public")).unwrap();
    s.add_replay_track(&r.id, track("a", "Ann", Some(&ann), 0))
        .unwrap();
    s.add_replay_track(&r.id, track("b", "Bob", Some(&bob), 10))
        .unwrap();
    s.end_replay(&r.id, T0 + 1_000).unwrap();
    assert_eq!(s.delete_replay(&r.id, &bob).unwrap(), None);
    let files = s.delete_replay(&r.id, &ann).unwrap().unwrap();
    assert_eq!(files, ["room-1/a-0.webm", "room-1/b-10.webm"]);
    assert!(s.replay_for(&r.id, Some(&ann)).unwrap().is_none());
    assert_eq!(s.delete_replay(&r.id, &ann).unwrap(), None);
}

#[test]
fn tracks_are_bounded() {
    let (s, [ann, _, _]) = store();
    let r = s.start_replay(new(&ann, "public")).unwrap();
    for i in 0..MAX_REPLAY_TRACKS {
        s.add_replay_track(&r.id, track("a", "Ann", None, i as u64))
            .unwrap();
    }
    assert!(matches!(
        s.add_replay_track(&r.id, track("a", "Ann", None, 0)),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        s.add_replay_track("p-none", track("a", "Ann", None, 0)),
        Err(Error::Invalid(_))
    ));
}

#[test]
fn deleting_an_account_takes_what_it_keeps_and_hands_back_its_replays_files() {
    let (s, [ann, bob, cat]) = store();
    let now = T0 / 1000;
    let session = s.open_session(&ann, now).unwrap();
    s.follow(&ann, &bob, now).unwrap();
    s.follow(&bob, &ann, now).unwrap();
    s.block(&cat, &ann, now).unwrap();
    let own = s.start_replay(new(&ann, "public")).unwrap();
    s.add_replay_track(&own.id, track("a", "Ann", Some(&ann), 0))
        .unwrap();
    s.add_replay_track(&own.id, track("b", "Bob", Some(&bob), 10))
        .unwrap();
    let bobs = s.start_replay(new(&bob, "public")).unwrap();
    s.add_replay_track(&bobs.id, track("a2", "Ann", Some(&ann), 20))
        .unwrap();
    s.end_replay(&bobs.id, T0 + 1_000).unwrap();

    // Not while a room of hers is being recorded (its files are still being written).
    assert!(matches!(
        s.delete_account(&ann, PASSWORD),
        Err(Error::Busy(_))
    ));
    s.end_replay(&own.id, T0 + 1_000).unwrap();
    assert!(matches!(
        s.delete_account(&ann, "not her password"),
        Err(Error::BadCredentials)
    ));
    assert!(
        s.account(&ann).unwrap().is_some(),
        "refusals keep everything"
    );

    let mut files = s.delete_account(&ann, PASSWORD).unwrap();
    files.sort();
    assert_eq!(files, ["room-1/a-0.webm", "room-1/b-10.webm"]);
    assert!(s.account(&ann).unwrap().is_none());
    assert!(s.session(&session.token, now).unwrap().is_none());
    assert_eq!(s.follow_counts(&bob).unwrap(), (0, 0));
    assert!(s.blocked_accounts(&cat).unwrap().is_empty());
    assert!(s.replay_for(&own.id, Some(&bob)).unwrap().is_none());
    // Her voice in Bob's replay stays, under the name it was recorded with.
    let (_, tracks) = s.replay_for(&bobs.id, Some(&bob)).unwrap().unwrap();
    assert_eq!(
        (tracks[0].username.as_str(), tracks[0].account_id.as_deref()),
        ("Ann", None)
    );
    // Her name is free again; an unknown account is said to be unknown.
    s.sign_up("Ann", PASSWORD, now).unwrap();
    assert!(matches!(
        s.delete_account(&ann, PASSWORD),
        Err(Error::NoSuchAccount)
    ));
}
