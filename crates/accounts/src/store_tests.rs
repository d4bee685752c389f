//! The store against SQLite: accounts, sign-in without enumeration, sessions, profiles,
//! avatars, follows and blocks, and that a reopened file keeps everything.

use super::*;
use crate::{PushStore, PushSubscription, MAX_PUSH_SUBSCRIPTIONS};

const PASSWORD: &str = "violet-kettle-41-drums";
const NOW: u64 = 1_800_000_000;

fn store() -> AccountStore {
    AccountStore::open_in_memory().unwrap()
}

fn user(store: &AccountStore, name: &str) -> Account {
    store.sign_up(name, PASSWORD, NOW).unwrap()
}

#[test]
fn sign_up_and_sign_in_without_telling_which_part_was_wrong() {
    let s = store();
    let ann = user(&s, "  Ann  Lee ");
    assert_eq!(
        (ann.username.as_str(), ann.display_name.as_str()),
        ("Ann Lee", "Ann Lee")
    );
    assert!(ann.id.starts_with('u') && ann.id.len() == 17);
    for look_alike in ["ann lee", "ANN LEE", "\u{430}nn Lee"] {
        assert!(
            matches!(
                s.sign_up(look_alike, PASSWORD, NOW),
                Err(Error::UsernameTaken(_))
            ),
            "{look_alike}"
        );
    }
    assert!(matches!(
        s.sign_up("Bob", "password1", NOW),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        s.sign_up("bad<name>", PASSWORD, NOW),
        Err(Error::Invalid(_))
    ));
    assert_eq!(
        s.sign_in("ann lee", PASSWORD).unwrap(),
        ann,
        "a look-alike of the name signs in"
    );
    let wrong = s.sign_in("Ann Lee", "violet-kettle-41-drum").unwrap_err();
    let unknown = s.sign_in("Nobody", PASSWORD).unwrap_err();
    assert_eq!(wrong.to_string(), unknown.to_string());
    assert!(matches!(wrong, Error::BadCredentials) && matches!(unknown, Error::BadCredentials));
    assert!(matches!(
        s.sign_in("Ann Lee", &"x".repeat(10_000)),
        Err(Error::BadCredentials)
    ));
    assert_eq!(s.account_named("ANN LEE").unwrap(), Some(ann.clone()));
    assert_eq!(s.account(&ann.id).unwrap(), Some(ann));
    assert_eq!(s.account("u0000").unwrap(), None);
}

#[test]
fn sessions_are_fresh_per_sign_in_expire_renew_and_end() {
    let s = store();
    let ann = user(&s, "Ann");
    let first = s.open_session(&ann.id, NOW).unwrap();
    let second = s.open_session(&ann.id, NOW).unwrap();
    assert_ne!(
        first.token, second.token,
        "every sign-in gets its own session"
    );
    assert_ne!(first.csrf, first.token);
    let live = s.session(&first.token, NOW + 10).unwrap().unwrap();
    assert_eq!(
        (live.account.id.as_str(), live.csrf.as_str()),
        (ann.id.as_str(), first.csrf.as_str())
    );
    assert_eq!(s.session("forged", NOW).unwrap(), None);
    // Used two days later: renewed for another 30 days from then.
    let later = NOW + 2 * 24 * 3600;
    assert_eq!(
        s.session(&first.token, later).unwrap().unwrap().expires_at,
        later + SESSION_SECONDS
    );
    // Unused past its expiry: gone.
    assert_eq!(
        s.session(&second.token, NOW + SESSION_SECONDS).unwrap(),
        None
    );
    s.close_session(&first.token).unwrap();
    assert_eq!(s.session(&first.token, later).unwrap(), None);
    assert!(matches!(
        s.open_session("u-none", NOW),
        Err(Error::NoSuchAccount)
    ));
}

#[test]
fn a_password_change_needs_the_old_one_and_ends_every_session() {
    let s = store();
    let ann = user(&s, "Ann");
    let session = s.open_session(&ann.id, NOW).unwrap();
    assert!(matches!(
        s.change_password(&ann.id, "wrong old one", "amber-lantern-77-ferns"),
        Err(Error::BadCredentials)
    ));
    assert!(matches!(
        s.change_password(&ann.id, PASSWORD, "ann12345"),
        Err(Error::Invalid(_))
    ));
    assert!(
        s.session(&session.token, NOW).unwrap().is_some(),
        "refused changes changed nothing"
    );
    s.change_password(&ann.id, PASSWORD, "amber-lantern-77-ferns")
        .unwrap();
    assert_eq!(s.session(&session.token, NOW).unwrap(), None);
    assert!(s.sign_in("Ann", PASSWORD).is_err());
    assert!(s.sign_in("Ann", "amber-lantern-77-ferns").is_ok());
    let a = s.open_session(&ann.id, NOW).unwrap();
    let b = s.open_session(&ann.id, NOW).unwrap();
    assert_eq!(s.close_sessions_of(&ann.id).unwrap(), 2);
    assert!(
        s.session(&a.token, NOW).unwrap().is_none() && s.session(&b.token, NOW).unwrap().is_none()
    );
}

#[test]
fn profiles_and_avatars_are_checked_and_versioned() {
    let s = store();
    let ann = user(&s, "Ann");
    let changed = s
        .update_profile(
            &ann.id,
            ProfileUpdate {
                display_name: Some(" Ann of the Hills ".into()),
                bio: Some("Talks about bread.\nAnd hills.".into()),
            },
        )
        .unwrap();
    assert_eq!(changed.display_name, "Ann of the Hills");
    assert_eq!(changed.bio, "Talks about bread.\nAnd hills.");
    for bad in [
        ProfileUpdate {
            display_name: Some("  ".into()),
            bio: None,
        },
        ProfileUpdate {
            display_name: Some("x".repeat(49)),
            bio: None,
        },
        ProfileUpdate {
            display_name: Some("Ann\u{202E}nimda".into()),
            bio: None,
        },
        ProfileUpdate {
            display_name: None,
            bio: Some("y".repeat(281)),
        },
        ProfileUpdate {
            display_name: None,
            bio: Some("bell\u{7}".into()),
        },
    ] {
        assert!(
            matches!(
                s.update_profile(&ann.id, bad.clone()),
                Err(Error::Invalid(_))
            ),
            "{bad:?}"
        );
    }
    assert_eq!(
        s.account(&ann.id).unwrap().unwrap(),
        changed,
        "refusals changed nothing"
    );
    assert_eq!(s.avatar(&ann.id).unwrap(), None);
    assert_eq!(
        s.set_avatar(&ann.id, Some((vec![1, 2, 3], "image/png".into())))
            .unwrap(),
        1
    );
    assert_eq!(
        s.set_avatar(&ann.id, Some((vec![4], "image/webp".into())))
            .unwrap(),
        2
    );
    let avatar = s.avatar(&ann.id).unwrap().unwrap();
    assert_eq!(
        (avatar.bytes, avatar.content_type.as_str(), avatar.version),
        (vec![4], "image/webp", 2)
    );
    assert_eq!(s.account(&ann.id).unwrap().unwrap().avatar_version, 2);
    assert_eq!(s.set_avatar(&ann.id, None).unwrap(), 0);
    assert_eq!(s.avatar(&ann.id).unwrap(), None);
    assert_eq!(
        s.set_avatar(&ann.id, Some((vec![5], "image/png".into())))
            .unwrap(),
        4,
        "never reused"
    );
    let big = vec![0; MAX_AVATAR_BYTES + 1];
    assert!(matches!(
        s.set_avatar(&ann.id, Some((big, "image/png".into()))),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        s.set_avatar("u-none", None),
        Err(Error::NoSuchAccount)
    ));
}

#[test]
fn follows_and_blocks() {
    let s = store();
    let (ann, bob, cat) = (user(&s, "Ann"), user(&s, "Bob"), user(&s, "Cat"));
    assert!(s.follow(&bob.id, &ann.id, NOW).unwrap());
    assert!(
        !s.follow(&bob.id, &ann.id, NOW).unwrap(),
        "already following"
    );
    assert!(s.follow(&cat.id, &ann.id, NOW + 1).unwrap());
    assert!(s.follow(&ann.id, &bob.id, NOW + 2).unwrap());
    assert!(matches!(
        s.follow(&ann.id, &ann.id, NOW),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        s.follow(&ann.id, "u-none", NOW),
        Err(Error::NoSuchAccount)
    ));
    assert!(s.follows(&bob.id, &ann.id).unwrap() && !s.follows(&ann.id, &cat.id).unwrap());
    let names = |list: Vec<Account>| list.into_iter().map(|a| a.username).collect::<Vec<_>>();
    assert_eq!(
        names(s.followers(&ann.id, 10).unwrap()),
        ["Cat", "Bob"],
        "newest first"
    );
    assert_eq!(names(s.followers(&ann.id, 1).unwrap()), ["Cat"]);
    assert_eq!(names(s.following(&ann.id, 10).unwrap()), ["Bob"]);
    assert_eq!(s.follow_counts(&ann.id).unwrap(), (2, 1));
    let mut ids = s.follower_ids(&ann.id).unwrap();
    ids.sort();
    let mut expected = vec![bob.id.clone(), cat.id.clone()];
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(s.following_ids(&bob.id).unwrap(), vec![ann.id.clone()]);

    // Ann blocks Bob: the follows between them go both ways, and neither can follow again.
    assert!(s.block(&ann.id, &bob.id, NOW).unwrap());
    assert!(!s.block(&ann.id, &bob.id, NOW).unwrap());
    assert!(s.blocked_either_way(&bob.id, &ann.id).unwrap());
    assert!(!s.follows(&bob.id, &ann.id).unwrap() && !s.follows(&ann.id, &bob.id).unwrap());
    assert!(matches!(
        s.follow(&bob.id, &ann.id, NOW),
        Err(Error::Invalid(_))
    ));
    assert_eq!(names(s.blocked_accounts(&ann.id).unwrap()), ["Bob"]);
    assert_eq!(
        s.block_relations(&bob.id).unwrap(),
        vec![ann.id.clone()],
        "either way"
    );
    assert_eq!(s.block_relations(&ann.id).unwrap(), vec![bob.id.clone()]);
    assert!(s.block_relations(&cat.id).unwrap().is_empty());
    // Which way it goes: Ann's rooms are closed to Bob, not Bob's to Ann.
    assert_eq!(s.blocked_ids(&ann.id).unwrap(), vec![bob.id.clone()]);
    assert_eq!(s.blocker_ids(&bob.id).unwrap(), vec![ann.id.clone()]);
    assert!(s.blocker_ids(&ann.id).unwrap().is_empty());
    assert!(s.follows(&cat.id, &ann.id).unwrap(), "others are untouched");
    assert!(s.unblock(&ann.id, &bob.id).unwrap());
    assert!(!s.unblock(&ann.id, &bob.id).unwrap());
    assert!(s.follow(&bob.id, &ann.id, NOW).unwrap());
    assert!(s.unfollow(&bob.id, &ann.id).unwrap() && !s.unfollow(&bob.id, &ann.id).unwrap());
    assert!(matches!(
        s.block(&ann.id, &ann.id, NOW),
        Err(Error::Invalid(_))
    ));
}

#[test]
fn a_reopened_file_keeps_accounts_sessions_and_follows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("accounts.db");
    let (ann, bob, session) = {
        let s = AccountStore::open(&path).unwrap();
        let (ann, bob) = (user(&s, "Ann"), user(&s, "Bob"));
        s.follow(&bob.id, &ann.id, NOW).unwrap();
        let session = s.open_session(&bob.id, NOW).unwrap();
        (ann, bob, session)
    };
    let s = AccountStore::open(&path).unwrap();
    assert_eq!(s.sign_in("Ann", PASSWORD).unwrap(), ann);
    assert!(s.follows(&bob.id, &ann.id).unwrap());
    assert_eq!(
        s.session(&session.token, NOW).unwrap().unwrap().account,
        bob
    );
}

#[test]
fn push_subscriptions_are_kept_per_account_and_bounded() {
    let s = store();
    let ann = user(&s, "Ann");
    let bob = user(&s, "Bob");
    let sub = |n: usize| PushSubscription {
        endpoint: format!("https://push.example/{n}"),
        p256dh: "BPk".into(),
        auth: "c2VjcmV0".into(),
    };
    for n in 0..=MAX_PUSH_SUBSCRIPTIONS {
        s.add_push(&ann.id, &sub(n), NOW + n as u64).unwrap();
    }
    let kept = s.pushes_of(&ann.id).unwrap();
    assert_eq!(kept.len(), MAX_PUSH_SUBSCRIPTIONS, "the oldest went");
    assert_eq!(kept[0], sub(1));
    // A browser that signs in as someone else moves its subscription to them.
    s.add_push(&bob.id, &sub(5), NOW + 100).unwrap();
    assert!(!s.pushes_of(&ann.id).unwrap().contains(&sub(5)));
    assert_eq!(s.pushes_of(&bob.id).unwrap(), [sub(5)]);
    assert!(
        !s.remove_push(&ann.id, &sub(5).endpoint).unwrap(),
        "not Ann's"
    );
    assert!(s.remove_push(&bob.id, &sub(5).endpoint).unwrap());
    s.drop_push_endpoint(&sub(1).endpoint).unwrap();
    assert_eq!(
        s.pushes_of(&ann.id).unwrap().len(),
        MAX_PUSH_SUBSCRIPTIONS - 2
    );
    let long = PushSubscription {
        endpoint: "x".repeat(2000),
        ..sub(0)
    };
    assert!(matches!(
        s.add_push(&ann.id, &long, NOW),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        s.add_push("u-nobody", &sub(0), NOW),
        Err(Error::NoSuchAccount)
    ));
}

#[test]
fn schedules_upcoming_for_followers_and_reminders_sent_once() {
    use crate::{NewSchedule, ScheduleStore, MAX_UPCOMING_PER_HOST};
    let s = store();
    let ann = user(&s, "Ann");
    let bob = user(&s, "Bob");
    let cat = user(&s, "Cat");
    let new = |title: &str, at: u64| NewSchedule {
        title: title.into(),
        topic: "  Roadmap and questions ".into(),
        starts_at: at,
        audio_only: true,
    };
    let talk = s
        .schedule(&ann.id, new("  Friday talk ", NOW + 3600), NOW)
        .unwrap();
    assert_eq!(
        (talk.title.as_str(), talk.topic.as_str()),
        ("Friday talk", "Roadmap and questions")
    );
    assert!(matches!(
        s.schedule(&ann.id, new("Past", NOW - 3600), NOW),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        s.schedule(&ann.id, new("Far", NOW + 91 * 24 * 3600), NOW),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        s.schedule(&ann.id, new("", NOW + 60), NOW),
        Err(Error::Invalid(_))
    ));
    // Bob follows Ann and sees it; Cat does not follow her and does not.
    s.follow(&bob.id, &ann.id, NOW).unwrap();
    assert_eq!(s.upcoming(&bob.id, NOW, 10).unwrap().len(), 1);
    assert!(s.upcoming(&cat.id, NOW, 10).unwrap().is_empty());
    assert_eq!(
        s.upcoming(&ann.id, NOW, 10).unwrap().len(),
        1,
        "the host sees their own"
    );
    assert!(s.remind(&bob.id, &talk.id, true, NOW).unwrap());
    assert!(!s.remind(&bob.id, &talk.id, true, NOW).unwrap(), "once");
    let seen = &s.upcoming(&bob.id, NOW, 10).unwrap()[0];
    assert!(seen.remind_me && seen.reminders == 1);
    // Nothing due before the start; at the start, Bob's reminder, once.
    assert!(s.take_due_reminders(NOW + 3599).unwrap().is_empty());
    let due = s.take_due_reminders(NOW + 3600).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].1, vec![bob.id.clone()]);
    assert!(
        s.take_due_reminders(NOW + 3700).unwrap().is_empty(),
        "sent once"
    );
    assert!(matches!(
        s.remind(&cat.id, &talk.id, true, NOW + 3601),
        Err(Error::Invalid(_))
    ));
    // Opening it takes it off Upcoming; a block hides a host's schedules too.
    let later = s.schedule(&ann.id, new("Later", NOW + 7200), NOW).unwrap();
    assert!(s.open_schedule(&ann.id, &talk.id, "room-1").unwrap());
    assert!(
        !s.open_schedule(&bob.id, &later.id, "room-2").unwrap(),
        "not Bob's"
    );
    let ids: Vec<String> = s
        .upcoming(&bob.id, NOW, 10)
        .unwrap()
        .into_iter()
        .map(|x| x.id)
        .collect();
    assert_eq!(ids, [later.id.as_str()]);
    s.remind(&bob.id, &later.id, true, NOW).unwrap();
    s.block(&ann.id, &bob.id, NOW).unwrap();
    assert!(s.upcoming(&bob.id, NOW, 10).unwrap().is_empty());
    assert!(s
        .upcoming_of(&ann.id, Some(&bob.id), NOW)
        .unwrap()
        .is_empty());
    assert!(matches!(
        s.remind(&bob.id, &later.id, true, NOW),
        Err(Error::Invalid(_))
    ));
    let due = s.take_due_reminders(NOW + 7200).unwrap();
    assert!(
        due.iter().all(|(_, who)| who.is_empty()),
        "no reminder across a block"
    );
    assert!(!s.cancel_schedule(&bob.id, &later.id).unwrap());
    assert!(s.cancel_schedule(&ann.id, &later.id).unwrap());
    for i in 1..MAX_UPCOMING_PER_HOST {
        s.schedule(&cat.id, new(&format!("R{i}"), NOW + 100 + i as u64), NOW)
            .unwrap();
    }
    s.schedule(&cat.id, new("Last one", NOW + 500), NOW)
        .unwrap();
    assert!(matches!(
        s.schedule(&cat.id, new("Too many", NOW + 600), NOW),
        Err(Error::Invalid(_))
    ));
}

#[test]
fn reports_are_stored_listed_resolved_and_bounded() {
    use crate::{NewReport, ReportStore, MAX_REPORTS_PER_DAY};
    let s = store();
    let ann = user(&s, "Ann");
    let new = |reason: &str| NewReport {
        kind: "user".into(),
        target: "u-bob".into(),
        target_name: "Bob".into(),
        room_id: Some("room-1".into()),
        reason: reason.into(),
        details: " Spammed the chat <script> ".into(),
    };
    let filed = s.report(&ann.id, new("spam"), NOW).unwrap();
    assert_eq!(
        (filed.reporter_name.as_str(), filed.details.as_str()),
        ("Ann", "Spammed the chat <script>")
    );
    assert!(matches!(
        s.report(&ann.id, new("boring"), NOW),
        Err(Error::Invalid(_))
    ));
    let room = NewReport {
        kind: "room".into(),
        target: "room-1".into(),
        room_id: None,
        ..new("hate")
    };
    s.report(&ann.id, room, NOW).unwrap();
    assert_eq!(s.reports(true, 10).unwrap().len(), 2);
    assert!(s.resolve_report(filed.id, NOW + 5).unwrap());
    assert!(!s.resolve_report(filed.id, NOW + 6).unwrap(), "once");
    let open = s.reports(true, 10).unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].kind, "room");
    assert_eq!(s.reports(false, 10).unwrap()[1].resolved_at, Some(NOW + 5));
    for _ in 2..MAX_REPORTS_PER_DAY {
        s.report(&ann.id, new("other"), NOW + 10).unwrap();
    }
    assert!(matches!(
        s.report(&ann.id, new("other"), NOW + 10),
        Err(Error::Invalid(_))
    ));
    assert!(
        s.report(&ann.id, new("other"), NOW + 24 * 3600 + 20)
            .is_ok(),
        "a day later"
    );
}
