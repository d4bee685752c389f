use super::*;
use crate::{Refusal, ValidationError, SCHEMA_VERSION};
use std::net::IpAddr;
use std::sync::Arc;

const NOW: u64 = 1_700_000_000;

fn store() -> TokenStore {
    TokenStore::open_in_memory().unwrap()
}

fn publish_token() -> NewToken {
    NewToken::new("studio", Action::Publish, ["room-*"])
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn store_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<TokenStore>();
}

#[test]
fn create_then_authenticate_round_trip() {
    let store = store();
    let mut new = publish_token();
    new.multisource = true;
    new.record = true;
    new.allowed_origins = vec!["https://studio.example.com".into()];
    new.allowed_ips = vec!["2001:db8::/32".into()];
    new.expires_at = Some(NOW + 3600);
    let (record, secret) = store.create(new, NOW).unwrap();

    assert!(crate::is_valid_id(&record.id), "{}", record.id);
    assert!(secret.starts_with(&format!("{}.", record.id)));
    assert_eq!(secret.len(), 64);
    assert_eq!(record.label, "studio");
    assert_eq!(record.created_at, NOW);
    assert!(record.record);
    assert!(!record.revoked);

    let authed = store.authenticate(&secret, NOW + 1).unwrap();
    assert_eq!(authed, record);
    assert_eq!(store.get(&record.id).unwrap(), Some(record.clone()));
    assert_eq!(store.list().unwrap(), vec![record.clone()]);
    assert_eq!(
        authed.check(
            Action::Publish,
            "room-7",
            Some("https://studio.example.com"),
            ip("2001:db8::9")
        ),
        Ok(())
    );
    assert_eq!(authed.check_source(Some("cam")), Ok(()));
}

#[test]
fn the_record_permission_is_stored_and_only_for_publish_tokens() {
    let store = store();
    let (plain, plain_secret) = store.create(publish_token(), NOW).unwrap();
    assert!(!plain.record, "off by default");
    let mut new = publish_token();
    new.record = true;
    let (recording, recording_secret) = store.create(new, NOW).unwrap();
    assert!(recording.record);
    assert!(!store.authenticate(&plain_secret, NOW).unwrap().record);
    assert!(store.authenticate(&recording_secret, NOW).unwrap().record);
    assert!(store.get(&recording.id).unwrap().unwrap().record);
    let listed: Vec<(String, bool)> = store
        .list()
        .unwrap()
        .into_iter()
        .map(|r| (r.id, r.record))
        .collect();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&(plain.id.clone(), false)));
    assert!(listed.contains(&(recording.id.clone(), true)));

    // A subscribe token cannot record: refused before anything is stored.
    let mut view = NewToken::new("viewer", Action::Subscribe, ["*"]);
    view.record = true;
    let err = store.create(view, NOW).unwrap_err();
    assert!(
        matches!(err, Error::Invalid(ValidationError::RecordNeedsPublish)),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "invalid token: record is only allowed on publish tokens: a subscribe token cannot record"
    );
    assert_eq!(store.list().unwrap().len(), 2);

    // The database refuses it too, and any value but 0 or 1.
    let (view, _) = store
        .create(NewToken::new("viewer", Action::Subscribe, ["*"]), NOW)
        .unwrap();
    assert!(!view.record);
    let conn = store.conn();
    for (id, value) in [(&view.id, 1), (&plain.id, 2)] {
        let err = conn
            .execute(
                "UPDATE tokens SET record = ?2 WHERE id = ?1",
                params![id, value],
            )
            .unwrap_err();
        assert_eq!(
            err.sqlite_error_code(),
            Some(ErrorCode::ConstraintViolation),
            "{err}"
        );
    }
}

#[test]
fn a_version_1_database_migrates_and_keeps_its_tokens_without_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.db");
    // A database as Podium with schema version 1 left it, with a token in it.
    let mut rng = rand::rng();
    let id = secret::new_id(&mut rng);
    let secret = secret::new_secret(&id, &mut rng);
    {
        let mut conn = Connection::open(&path).unwrap();
        assert_eq!(
            schema::migrate_with(&mut conn, &schema::MIGRATIONS[..1]).unwrap(),
            1
        );
        assert_eq!(schema::user_version(&conn).unwrap(), 1);
        conn.execute(
            "INSERT INTO tokens (id, label, action, streams, multisource, allowed_origins, \
             allowed_ips, secret_hash, created_at, expires_at, revoked_at) \
             VALUES (?1, 'old studio', 'publish', '[\"room-*\"]', 1, '[]', \
             '[\"10.0.0.0/8\"]', ?2, ?3, NULL, NULL)",
            params![id, secret::hash(&secret).as_slice(), NOW as i64],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO tokens (id, label, action, streams, multisource, allowed_origins, \
             allowed_ips, secret_hash, created_at, expires_at, revoked_at) \
             VALUES ('tok_00000000000000aa', 'old viewer', 'subscribe', '[\"*\"]', 0, '[]', \
             '[]', ?1, ?2, NULL, ?3)",
            params![[0u8; 32].as_slice(), NOW as i64 + 1, NOW as i64 + 2],
        )
        .unwrap();
    }

    assert_eq!(SCHEMA_VERSION, 2);
    let store = TokenStore::open(&path).unwrap();
    assert_eq!(schema::user_version(&store.conn()).unwrap(), SCHEMA_VERSION);
    let tokens = store.list().unwrap();
    assert_eq!(tokens.len(), 2);
    let old = &tokens[0];
    assert_eq!(
        (old.id.as_str(), old.label.as_str(), old.action),
        (id.as_str(), "old studio", Action::Publish)
    );
    assert_eq!(old.streams, ["room-*"]);
    assert!(old.multisource);
    assert_eq!(old.allowed_ips, ["10.0.0.0/8"]);
    assert!(!old.record, "migrated tokens may not record");
    assert!(!tokens[1].record);
    assert!(tokens[1].revoked);
    assert_eq!(store.authenticate(&secret, NOW).unwrap(), *old);

    // New tokens in the migrated database may record.
    let mut new = publish_token();
    new.record = true;
    let (created, _) = store.create(new, NOW + 5).unwrap();
    assert!(store.get(&created.id).unwrap().unwrap().record);
    drop(store);
    // Reopening is a no-op that keeps everything.
    let store = TokenStore::open(&path).unwrap();
    assert_eq!(store.list().unwrap().len(), 3);
}

#[test]
fn secret_is_stored_only_as_a_hash() {
    let store = store();
    let (record, secret) = store.create(publish_token(), NOW).unwrap();
    let conn = store.conn();
    let hash: Vec<u8> = conn
        .query_row(
            "SELECT secret_hash FROM tokens WHERE id = ?1",
            [&record.id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(hash.len(), 32);
    assert_eq!(hash, secret::hash(&secret));
    let dump: String = conn
        .query_row(
            "SELECT group_concat(id || label || streams || allowed_origins || allowed_ips) \
             FROM tokens",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let key = secret.split_once('.').unwrap().1;
    assert!(!dump.contains(key));
}

#[test]
fn each_token_gets_its_own_id_and_secret() {
    let store = store();
    let (a, sa) = store.create(publish_token(), NOW).unwrap();
    let (b, sb) = store.create(publish_token(), NOW).unwrap();
    assert_ne!(a.id, b.id);
    assert_ne!(sa, sb);
    assert_eq!(store.authenticate(&sa, NOW).unwrap().id, a.id);
    assert_eq!(store.authenticate(&sb, NOW).unwrap().id, b.id);
    // a's id with b's key is wrong.
    let mixed = format!("{}.{}", a.id, sb.split_once('.').unwrap().1);
    assert!(matches!(
        store.authenticate(&mixed, NOW),
        Err(AuthError::WrongSecret)
    ));
}

#[test]
fn wrong_secret() {
    let store = store();
    let (record, secret) = store.create(publish_token(), NOW).unwrap();
    let mut bytes = secret.clone().into_bytes();
    let last = bytes.len() - 1;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    let wrong = String::from_utf8(bytes).unwrap();
    let err = store.authenticate(&wrong, NOW).unwrap_err();
    assert!(matches!(err, AuthError::WrongSecret), "{err:?}");
    assert_eq!(err.to_string(), "Unauthorized: Invalid token");
    assert!(err.is_unauthorized());
    assert!(!err.to_string().contains(&record.id));
}

#[test]
fn malformed_and_unknown_secrets() {
    let store = store();
    let (_, secret) = store.create(publish_token(), NOW).unwrap();
    let key = secret.split_once('.').unwrap().1;
    let huge = "a".repeat(10 * 1024 * 1024);
    let malformed = [
        String::new(),
        "no-dot-at-all".into(),
        secret.replace('.', ""),
        format!("{secret}x"),
        format!(" {secret}"),
        format!("Bearer {secret}"),
        huge,
    ];
    for m in &malformed {
        let err = store.authenticate(m, NOW).unwrap_err();
        assert!(
            matches!(err, AuthError::Malformed),
            "{:?}: {err:?}",
            &m[..m.len().min(40)]
        );
        assert_eq!(err.to_string(), "Unauthorized: Invalid token");
    }
    let unknown = format!("tok_0000000000000000.{key}");
    let err = store.authenticate(&unknown, NOW).unwrap_err();
    assert!(matches!(err, AuthError::UnknownToken), "{err:?}");
    assert_eq!(err.to_string(), "Unauthorized: Invalid token");
}

#[test]
fn expiry_boundary() {
    let store = store();
    let mut new = publish_token();
    new.expires_at = Some(NOW + 60);
    let (_, secret) = store.create(new, NOW).unwrap();
    assert!(store.authenticate(&secret, NOW).is_ok());
    assert!(store.authenticate(&secret, NOW + 59).is_ok());
    for t in [NOW + 60, NOW + 61, u64::MAX] {
        let err = store.authenticate(&secret, t).unwrap_err();
        assert!(matches!(err, AuthError::Expired), "at {t}: {err:?}");
        assert_eq!(err.to_string(), "Unauthorized: Token expired");
    }
    // Expiry is not reported to someone without the secret.
    let last = if secret.ends_with('A') { 'B' } else { 'A' };
    let wrong = format!("{}{last}", &secret[..secret.len() - 1]);
    assert!(matches!(
        store.authenticate(&wrong, NOW + 61),
        Err(AuthError::WrongSecret)
    ));
    // Creating with an expiry that is not in the future fails.
    let mut new = publish_token();
    new.expires_at = Some(NOW);
    assert!(matches!(
        store.create(new, NOW),
        Err(Error::Invalid(ValidationError::ExpiryNotInFuture))
    ));
}

#[test]
fn revocation() {
    let store = store();
    let (record, secret) = store.create(publish_token(), NOW).unwrap();
    let (other, other_secret) = store.create(publish_token(), NOW).unwrap();
    assert!(!store.is_revoked(&record.id).unwrap());

    assert!(store.revoke(&record.id, NOW + 10).unwrap());
    assert!(store.is_revoked(&record.id).unwrap());
    let err = store.authenticate(&secret, NOW + 11).unwrap_err();
    assert!(matches!(err, AuthError::Revoked), "{err:?}");
    assert_eq!(err.to_string(), "Unauthorized: Token revoked");

    // Idempotent: still true, first revocation time kept.
    assert!(store.revoke(&record.id, NOW + 20).unwrap());
    let stored = store.get(&record.id).unwrap().unwrap();
    assert!(stored.revoked);
    assert_eq!(stored.revoked_at, Some(NOW + 10));

    // Others are untouched; unknown ids are reported.
    assert!(!store.is_revoked(&other.id).unwrap());
    assert!(store.authenticate(&other_secret, NOW + 11).is_ok());
    assert!(!store.revoke("tok_0000000000000000", NOW).unwrap());
    assert!(!store.revoke("not an id", NOW).unwrap());
    assert!(
        store.is_revoked("tok_0000000000000000").unwrap(),
        "unknown ids fail closed"
    );
    assert!(store.is_revoked("").unwrap());
    assert_eq!(store.get("tok_0000000000000000").unwrap(), None);
    assert_eq!(store.get("garbage").unwrap(), None);
    assert_eq!(
        store.list().unwrap().len(),
        2,
        "revoked tokens are still listed"
    );
}

#[test]
fn invalid_new_tokens_store_nothing() {
    let store = store();
    let mut bad = publish_token();
    bad.allowed_ips = vec!["999.0.0.1".into()];
    let err = store.create(bad, NOW).unwrap_err();
    assert!(
        matches!(err, Error::Invalid(ValidationError::Ip(_))),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "invalid token: invalid IP address or CIDR range \"999.0.0.1\""
    );
    assert!(
        std::error::Error::source(&err).is_none(),
        "the reason is in the message, so a printed error chain does not repeat it"
    );
    let mut bad = publish_token();
    bad.streams = vec!["room-**".into()];
    assert!(matches!(
        store.create(bad, NOW),
        Err(Error::Invalid(ValidationError::StreamPattern(_)))
    ));
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn list_is_ordered_by_creation() {
    let store = store();
    let (b, _) = store
        .create(NewToken::new("b", Action::Subscribe, ["*"]), NOW + 5)
        .unwrap();
    let (a, _) = store
        .create(NewToken::new("a", Action::Publish, ["x"]), NOW)
        .unwrap();
    let ids: Vec<_> = store.list().unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![a.id, b.id]);
}

#[test]
fn check_refusals_through_the_store() {
    let store = store();
    let mut new = NewToken::new("viewer", Action::Subscribe, ["lobby"]);
    new.allowed_ips = vec!["192.0.2.0/24".into()];
    let (_, secret) = store.create(new, NOW).unwrap();
    let token = store.authenticate(&secret, NOW).unwrap();
    let inside = ip("192.0.2.1");
    assert_eq!(
        token.check(Action::Subscribe, "lobby", None, inside),
        Ok(())
    );
    assert_eq!(
        token.check(Action::Publish, "lobby", None, inside),
        Err(Refusal::PublishNotAllowed)
    );
    assert_eq!(
        token.check(Action::Subscribe, "stage", None, inside),
        Err(Refusal::StreamNotAllowed)
    );
    assert_eq!(
        token.check(Action::Subscribe, "lobby", None, ip("192.0.3.1")),
        Err(Refusal::IpNotAllowed)
    );
}

#[test]
fn file_database_migrates_once_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.db");
    let secret = {
        let store = TokenStore::open(&path).unwrap();
        let mode: String = store
            .conn()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        store.create(publish_token(), NOW).unwrap().1
    };
    let store = TokenStore::open(&path).unwrap();
    {
        let mut conn = store.conn();
        assert_eq!(schema::user_version(&conn).unwrap(), SCHEMA_VERSION);
        assert_eq!(
            schema::migrate(&mut conn).unwrap(),
            0,
            "second open is a no-op"
        );
    }
    assert_eq!(store.authenticate(&secret, NOW).unwrap().label, "studio");
    // Two handles on the same file see each other's writes.
    let second = TokenStore::open(&path).unwrap();
    let (record, _) = second.create(publish_token(), NOW).unwrap();
    assert!(store.get(&record.id).unwrap().is_some());
    assert!(second.revoke(&record.id, NOW).unwrap());
    assert!(store.is_revoked(&record.id).unwrap());
}

#[test]
fn newer_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.db");
    drop(TokenStore::open(&path).unwrap());
    {
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
    }
    let err = TokenStore::open(&path).unwrap_err();
    match &err {
        Error::UnsupportedSchema { found, supported } => {
            assert_eq!(*found, SCHEMA_VERSION + 1);
            assert_eq!(*supported, SCHEMA_VERSION);
        }
        other => panic!("expected UnsupportedSchema, got {other:?}"),
    }
    assert!(err.to_string().contains("use a newer Podium"), "{err}");
}

#[test]
fn open_fails_cleanly_on_a_missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let err = TokenStore::open(dir.path().join("missing").join("tokens.db")).unwrap_err();
    assert!(matches!(err, Error::Storage(_)), "{err:?}");
    assert_eq!(err.to_string(), "token storage error");
    assert!(
        std::error::Error::source(&err).is_some(),
        "the cause is kept for logs"
    );
}

#[test]
fn corrupt_rows_are_reported_not_panicked_on() {
    let store = store();
    let (record, secret) = store.create(publish_token(), NOW).unwrap();
    store
        .conn()
        .execute(
            "UPDATE tokens SET streams = 'not json' WHERE id = ?1",
            [&record.id],
        )
        .unwrap();
    assert!(matches!(store.list(), Err(Error::Corrupt { .. })));
    assert!(matches!(
        store.authenticate(&secret, NOW),
        Err(AuthError::Storage(Error::Corrupt { .. }))
    ));
}

#[test]
fn concurrent_use_from_several_threads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.db");
    for store in [
        Arc::new(TokenStore::open_in_memory().unwrap()),
        Arc::new(TokenStore::open(&path).unwrap()),
    ] {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    let mut ids = Vec::new();
                    for i in 0..20 {
                        let label = format!("t{t}-{i}");
                        let (record, secret) = store
                            .create(NewToken::new(label, Action::Publish, ["*"]), NOW)
                            .unwrap();
                        assert_eq!(store.authenticate(&secret, NOW).unwrap().id, record.id);
                        if i % 2 == 0 {
                            assert!(store.revoke(&record.id, NOW).unwrap());
                            assert!(matches!(
                                store.authenticate(&secret, NOW),
                                Err(AuthError::Revoked)
                            ));
                        }
                        ids.push(record.id);
                    }
                    ids
                })
            })
            .collect();
        let mut all: Vec<String> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 160);
        let listed = store.list().unwrap();
        assert_eq!(listed.len(), 160);
        assert_eq!(listed.iter().filter(|r| r.revoked).count(), 80);
    }
}

#[test]
fn poisoned_lock_is_recovered() {
    let store = Arc::new(store());
    let s = Arc::clone(&store);
    let _ = std::thread::spawn(move || {
        let _guard = s.conn();
        panic!("poison the lock");
    })
    .join();
    assert!(store.create(publish_token(), NOW).is_ok());
}

#[test]
fn a_taken_id_is_the_primary_key_error_that_create_retries() {
    let store = store();
    let (record, _) = store.create(publish_token(), NOW).unwrap();
    let err = store
        .conn()
        .execute(
            "INSERT INTO tokens (id, label, action, streams, multisource, allowed_origins, \
             allowed_ips, secret_hash, created_at) \
             VALUES (?1, 'dup', 'publish', '[]', 0, '[]', '[]', x'00', 0)",
            [&record.id],
        )
        .unwrap_err();
    match err {
        rusqlite::Error::SqliteFailure(e, _) => {
            assert_eq!(e.code, ErrorCode::ConstraintViolation);
            assert_eq!(e.extended_code, rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY);
        }
        other => panic!("expected a constraint violation, got {other:?}"),
    }
}
