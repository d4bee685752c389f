//! Recording rooms for their replays. While a room's recording is on, every publication of a
//! speaker in it that runs on this node is recorded with the server's recorder (one file
//! each, `recordings/ROOM/USER-…`), and a replay in the accounts store lists the files on the
//! room's clock with when each held speech. The rooms authority says when recording starts
//! and stops and who comes on stage ([`RoomRecorder::start`], [`RoomRecorder::speaker`],
//! [`RoomRecorder::stop`]); the signaling path says when a speaker publishes
//! ([`RoomRecorder::published`]), which may come before or after.
//!
//! The replay is created with its first file, so a node of a cluster that holds none of the
//! room's publications leaves no empty replay. It ends when recording stops or the room
//! closes, once every file is complete; a server stopped meanwhile ends it at its next start
//! ([`podium_accounts::ReplayStore::end_open_replays`]).
//!
//! Rejected: mixing the speakers into one file on the server. It needs decoding and
//! re-encoding (no longer end-to-end safe, a core per room), and loses who spoke when, which
//! the app shows from the per-speaker files.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use podium_accounts::{NewReplay, NewTrack, ReplayStore};
use podium_media::PeerId;
use podium_rooms::RoomId;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, OnceCell};
use tokio::task::JoinSet;

use crate::recordings::Notice;
use crate::state::{unix_now_ms, AppState};

/// How long a stopped recording waits for its files to be complete before the replay ends.
const FINISH_WAIT: Duration = Duration::from_secs(30);
/// The same when the server stops (the recorder has finished every file by then).
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// What recording needs to know of a room when it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingStart {
    /// The host, whose profile keeps the replay.
    pub host_account: String,
    pub title: String,
    /// `public`, `followers` or `invite`: who may watch the replay.
    pub privacy: String,
    /// Who is on stage.
    pub speakers: Vec<RecordedSpeaker>,
}

/// A speaker of a recorded room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedSpeaker {
    /// Their id in the room (their publications' `sourceId`).
    pub user: String,
    pub username: String,
    pub account: Option<String>,
}

/// A room being recorded on this node.
struct Recording {
    /// Tells this recording from an earlier or later one of the same room.
    generation: u64,
    /// The replay its first file makes (host, room, title, privacy, start).
    new_replay: NewReplay,
    speakers: HashMap<String, RecordedSpeaker>,
    /// Publications being recorded.
    peers: HashSet<PeerId>,
    /// The replay, made with the first file (`None` inside: it could not be made).
    replay: Arc<OnceCell<Option<String>>>,
    /// One task per publication, following its file.
    files: JoinSet<()>,
}

/// The rooms being recorded on this node.
pub struct RoomRecorder {
    store: Arc<dyn ReplayStore>,
    rooms: Mutex<HashMap<String, Recording>>,
    generations: std::sync::atomic::AtomicU64,
}

impl RoomRecorder {
    /// Over the replays' store; ends the replays a stopped server left open.
    pub fn new(store: Arc<dyn ReplayStore>) -> Self {
        match store.end_open_replays() {
            Ok(0) => {}
            Ok(n) => tracing::info!(replays = n, "replays left open by the last run ended"),
            Err(e) => tracing::warn!(error = %e, "open replays not ended"),
        }
        Self {
            store,
            rooms: Mutex::default(),
            generations: std::sync::atomic::AtomicU64::new(1),
        }
    }

    /// The replays' store.
    pub fn store(&self) -> &Arc<dyn ReplayStore> {
        &self.store
    }

    /// Whether a room whose replay goes to `account` is being recorded here.
    pub fn records_for(&self, account: &str) -> bool {
        lock(&self.rooms)
            .values()
            .any(|r| r.new_replay.host == account)
    }

    /// Recording of `room` starts: its speakers' publications here are recorded. Starting a
    /// room already recorded adds the speakers it did not know (a new authority's
    /// reconciliation repeats the start).
    pub fn start(&self, app: &AppState, room: &RoomId, start: RecordingStart) {
        let room = room.as_str().to_owned();
        let users: Vec<String> = start.speakers.iter().map(|s| s.user.clone()).collect();
        {
            let mut rooms = lock(&self.rooms);
            match rooms.get_mut(&room) {
                Some(recording) => {
                    for speaker in &start.speakers {
                        recording
                            .speakers
                            .entry(speaker.user.clone())
                            .or_insert_with(|| speaker.clone());
                    }
                }
                None => {
                    let recording = Recording {
                        generation: self.generations.fetch_add(1, Ordering::Relaxed),
                        new_replay: NewReplay {
                            host: start.host_account,
                            room_id: room.clone(),
                            title: start.title,
                            privacy: start.privacy,
                            started_ms: unix_now_ms(),
                        },
                        speakers: start
                            .speakers
                            .into_iter()
                            .map(|s| (s.user.clone(), s))
                            .collect(),
                        peers: HashSet::new(),
                        replay: Arc::default(),
                        files: JoinSet::new(),
                    };
                    rooms.insert(room.clone(), recording);
                }
            }
        }
        for user in users {
            self.record_publications_of(app, &room, &user);
        }
    }

    /// `speaker` came on stage in `room`: recorded too if the room is.
    pub fn speaker(&self, app: &AppState, room: &RoomId, speaker: RecordedSpeaker) {
        let user = speaker.user.clone();
        {
            let mut rooms = lock(&self.rooms);
            let Some(recording) = rooms.get_mut(room.as_str()) else {
                return;
            };
            recording.speakers.insert(user.clone(), speaker);
        }
        self.record_publications_of(app, room.as_str(), &user);
    }

    /// A publication started here: recorded if it is a speaker's in a recorded room.
    pub fn published(&self, app: &AppState, stream: &str, source: Option<&str>, peer: PeerId) {
        let Some(source) = source else { return };
        let known = lock(&self.rooms)
            .get(stream)
            .is_some_and(|r| r.speakers.contains_key(source));
        if known {
            self.record(app, stream, source, peer);
        }
    }

    /// Recording of `room` stops (turned off, or the room closed): its files are finished,
    /// then the replay ends.
    pub fn stop(&self, app: &AppState, room: &RoomId) {
        let Some(recording) = lock(&self.rooms).remove(room.as_str()) else {
            return;
        };
        for &peer in &recording.peers {
            app.recordings.stop(&app.media, peer);
        }
        tokio::spawn(end_replay(self.store.clone(), recording, FINISH_WAIT));
    }

    /// The server stops (after the recorder finished every file): the replays being
    /// recorded end now.
    pub async fn shutdown(&self) {
        let recordings: Vec<Recording> = lock(&self.rooms).drain().map(|(_, r)| r).collect();
        for recording in recordings {
            end_replay(self.store.clone(), recording, SHUTDOWN_WAIT).await;
        }
    }

    /// Whether `peer` is still to be recorded for this recording of `room`.
    fn wanted(&self, room: &str, generation: u64, peer: PeerId) -> bool {
        lock(&self.rooms)
            .get(room)
            .is_some_and(|r| r.generation == generation && r.peers.contains(&peer))
    }

    /// A publication's file is done with (or was never made): forgotten.
    fn forget(&self, room: &str, generation: u64, peer: PeerId) {
        if let Some(r) = lock(&self.rooms).get_mut(room) {
            if r.generation == generation {
                r.peers.remove(&peer);
            }
        }
    }

    /// Records every publication of `user` in `room` running on this node.
    fn record_publications_of(&self, app: &AppState, room: &str, user: &str) {
        let peers: Vec<PeerId> = app
            .sessions
            .list()
            .into_iter()
            .filter(|s| {
                s.role == podium_auth::TokenType::Publish
                    && s.stream == room
                    && s.source.as_deref() == Some(user)
            })
            .filter_map(|s| s.peer)
            .collect();
        for peer in peers {
            self.record(app, room, user, peer);
        }
    }

    /// Records one publication (once), following its file into the replay.
    fn record(&self, app: &AppState, room: &str, user: &str, peer: PeerId) {
        let (tx, rx) = mpsc::unbounded_channel();
        let generation;
        {
            let mut rooms = lock(&self.rooms);
            let Some(recording) = rooms.get_mut(room) else {
                return;
            };
            let Some(speaker) = recording.speakers.get(user).cloned() else {
                return;
            };
            if !recording.peers.insert(peer) {
                return;
            }
            generation = recording.generation;
            // Followers of files already complete are reaped here (bounded by the live ones).
            while recording.files.try_join_next().is_some() {}
            let file = FileFollower {
                app: app.clone(),
                peer,
                generation,
                store: self.store.clone(),
                replay: recording.replay.clone(),
                new_replay: recording.new_replay.clone(),
                speaker,
            };
            recording.files.spawn(file.follow(rx));
        }
        let (app, room, user) = (app.clone(), room.to_owned(), user.to_owned());
        tokio::spawn(async move {
            let recordings = &app.recordings;
            let started = recordings
                .record(&app.media, peer, &room, Some(&user), Some(tx))
                .await;
            match started {
                // Stopped while it started (its stop reached the media first): stop it again.
                Ok(()) if !app.replays.wanted(&room, generation, peer) => {
                    recordings.stop(&app.media, peer);
                }
                Ok(()) => {}
                Err(e) => {
                    tracing::warn!(error = %e, room, user, "a speaker's publication not recorded");
                    app.replays.forget(&room, generation, peer);
                }
            }
        });
    }
}

/// Waits (at most `wait`) for a stopped recording's files to be complete, then ends its
/// replay.
async fn end_replay(store: Arc<dyn ReplayStore>, mut recording: Recording, wait: Duration) {
    let finished = tokio::time::timeout(wait, async {
        while recording.files.join_next().await.is_some() {}
    });
    if finished.await.is_err() {
        tracing::warn!("a recorded file was not finished in time; its replay ends anyway");
    }
    let Some(Some(id)) = recording.replay.get().cloned() else {
        return;
    };
    let ended = unix_now_ms();
    let _ = tokio::task::spawn_blocking(move || {
        if let Err(e) = store.end_replay(&id, ended) {
            tracing::warn!(error = %e, replay = %id, "replay not ended");
        }
    })
    .await;
}

/// Follows one recorded file: the track is added when the file starts and completed when it
/// is finished. Ends when the recorder lets go of the file.
struct FileFollower {
    app: AppState,
    peer: PeerId,
    generation: u64,
    store: Arc<dyn ReplayStore>,
    replay: Arc<OnceCell<Option<String>>>,
    new_replay: NewReplay,
    speaker: RecordedSpeaker,
}

impl FileFollower {
    async fn follow(self, notices: mpsc::UnboundedReceiver<Notice>) {
        let app = &self.app;
        if let Err(unkept) = self.follow_notices(notices).await {
            // No replay keeps this file (none could be made, or it is full): stop writing it,
            // and remove what was written (nothing would ever list or delete it).
            app.recordings.stop(&app.media, self.peer);
            let path =
                unkept.and_then(|f| crate::recordings::files::resolve(app.recordings.root(), &f));
            if let Some(path) = path {
                if let Err(e) = tokio::fs::remove_file(&path).await {
                    tracing::warn!(error = %e, path = %path.display(), "unkept file not removed");
                }
            }
        }
        app.replays
            .forget(&self.new_replay.room_id, self.generation, self.peer);
    }

    /// Follows the notices until the recorder lets go of the file; `Err` (with the file, as
    /// stored, if one was started) if the replay could not take it.
    async fn follow_notices(
        &self,
        mut notices: mpsc::UnboundedReceiver<Notice>,
    ) -> Result<(), Option<String>> {
        let mut track = None;
        while let Some(notice) = notices.recv().await {
            match notice {
                Notice::Started { file, at_ms } => {
                    let file = format!("{}/{file}", self.new_replay.room_id);
                    let Some(replay) = self.replay_id().await else {
                        return Err(Some(file));
                    };
                    let new = NewTrack {
                        user_id: self.speaker.user.clone(),
                        username: self.speaker.username.clone(),
                        account_id: self.speaker.account.clone(),
                        file: file.clone(),
                        started_ms: at_ms,
                    };
                    let store = self.store.clone();
                    let id = replay.clone();
                    let added =
                        tokio::task::spawn_blocking(move || store.add_replay_track(&id, new)).await;
                    match added {
                        Ok(Ok(n)) => track = Some((replay, n)),
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, "replay track not added");
                            return Err(Some(file));
                        }
                        Err(_) => return Err(Some(file)),
                    }
                }
                Notice::Finished {
                    duration_ms,
                    speech,
                    ..
                } => {
                    let Some((replay, n)) = track.take() else {
                        continue;
                    };
                    let turns: Vec<[u64; 2]> =
                        speech.iter().map(|t| [t.start_ms, t.end_ms]).collect();
                    let store = self.store.clone();
                    let done = tokio::task::spawn_blocking(move || {
                        store.finish_replay_track(&replay, n, duration_ms, &turns)
                    })
                    .await;
                    if let Ok(Err(e)) = done {
                        tracing::warn!(error = %e, "replay track not completed");
                    }
                }
                Notice::Failed { file, reason } => {
                    tracing::warn!(file, reason, "a replay's file failed");
                }
            }
        }
        Ok(())
    }

    /// The replay, made by the first file of the room to start.
    async fn replay_id(&self) -> Option<String> {
        self.replay
            .get_or_init(|| async {
                let (store, new) = (self.store.clone(), self.new_replay.clone());
                match tokio::task::spawn_blocking(move || store.start_replay(new)).await {
                    Ok(Ok(replay)) => Some(replay.id),
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "replay not started");
                        None
                    }
                    Err(_) => None,
                }
            })
            .await
            .clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
