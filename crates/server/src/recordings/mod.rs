//! Recording publications to files: `DATA_DIR/recordings/STREAM/SOURCE-TIME-ID.{webm,mp4}`.
//!
//! The media workers' recording tap (`podium_media::Recorded`) hands a recorded
//! publication's packets over a bounded channel (a full channel drops and counts: a slow disk
//! never holds up forwarding) to one recorder thread, which depacketizes them and writes the
//! container ([`sink`]). Starting is two steps in one order: the recorder is told where the
//! publication's file goes ([`Input::Open`]), then the worker starts the tap, whose first
//! message ([`Recorded::Started`]) carries the tracks; the file is created then. The tap's
//! end ([`Recorded::Ended`], when the recording is stopped or the publication ends) closes
//! the file cleanly; so does shutdown.
//!
//! A write error (disk full, directory unwritable) stops that recording: the file is closed
//! as far as it got, the error is logged and counted, and the session that asked is told
//! ([`Notice::Failed`]); the publication goes on.

pub mod admin;
pub mod files;
mod mp4;
mod sink;
mod webm;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use podium_media::audio::speaker::SpeakerConfig;
use podium_media::audio::timeline::SpeechTimeline;
pub use podium_media::audio::timeline::Turn;
use podium_media::{Kind, PeerId, Recorded};
use tokio::sync::mpsc;

use crate::media_handle::{MediaHandle, RecordingTap};
use files::RecordingFile;

/// Messages the recorder thread takes, packets and controls in one order.
#[derive(Debug)]
pub enum Input {
    /// Where publication `publication`'s recording goes, and who to tell how it went.
    Open {
        publication: PeerId,
        stream: String,
        source: Option<String>,
        notices: Option<mpsc::UnboundedSender<Notice>>,
    },
    /// The media workers could not start recording `publication`: forget where it was to go.
    Cancel { publication: PeerId },
    /// From the media workers.
    Tap(Recorded),
    /// The server stops: finish every file.
    Shutdown,
}

/// What a recording's requester hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The file is being written: its name, and its time zero (unix milliseconds).
    Started { file: String, at_ms: u64 },
    /// Writing failed; the recording stopped (the publication goes on).
    Failed { file: String, reason: String },
    /// The file is complete: its size, its length and when its audio held speech.
    Finished {
        file: String,
        bytes: u64,
        duration_ms: u64,
        speech: Vec<Turn>,
    },
}

/// Messages waiting for the recorder at most (a few seconds of a few recorded sources).
const QUEUE: usize = 16_384;

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    pub started: AtomicU64,
    pub finished: AtomicU64,
    pub failed: AtomicU64,
    pub bytes: AtomicU64,
}

/// The recordings of this server.
pub struct Recordings {
    root: PathBuf,
    tx: mpsc::Sender<Input>,
    dropped: Arc<AtomicU64>,
    /// Files being written, by publication.
    active: Arc<Mutex<HashMap<PeerId, PathBuf>>>,
    counters: Arc<Counters>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Moves the workers' messages into the recorder's input; ends when the workers have.
    forward: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Recordings {
    /// Starts the recorder thread; recordings go under `data_dir/recordings`. Returns the
    /// tap for the media workers too.
    pub fn start(data_dir: &Path) -> std::io::Result<(Arc<Self>, RecordingTap)> {
        let root = data_dir.join("recordings");
        let (tx, rx) = mpsc::channel(QUEUE);
        let (wtx, mut wrx) = mpsc::channel::<Recorded>(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let active = Arc::new(Mutex::new(HashMap::new()));
        let counters = Arc::new(Counters::default());
        let recorder = Recorder {
            root: root.clone(),
            pending: HashMap::new(),
            writing: HashMap::new(),
            active: active.clone(),
            counters: counters.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("podium-recorder".into())
            .spawn(move || recorder.run(rx))?;
        // The workers' channel carries `Recorded` only; forward it into the recorder's input,
        // behind controls sent before.
        let into = tx.clone();
        let forward = tokio::spawn(async move {
            while let Some(r) = wrx.recv().await {
                if into.send(Input::Tap(r)).await.is_err() {
                    return;
                }
            }
        });
        let tap = RecordingTap {
            tx: wtx,
            dropped: dropped.clone(),
        };
        let recordings = Self {
            root,
            tx,
            dropped,
            active,
            counters,
            thread: Mutex::new(Some(thread)),
            forward: Mutex::new(Some(forward)),
        };
        Ok((Arc::new(recordings), tap))
    }

    /// Where recordings live.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Starts recording publication `peer` (`source` of `stream`). `notices` hears when the
    /// file starts, fails or is finished.
    pub async fn record(
        &self,
        media: &MediaHandle,
        peer: PeerId,
        stream: &str,
        source: Option<&str>,
        notices: Option<mpsc::UnboundedSender<Notice>>,
    ) -> Result<(), String> {
        let open = Input::Open {
            publication: peer,
            stream: stream.to_owned(),
            source: source.map(str::to_owned),
            notices,
        };
        self.tx
            .send(open)
            .await
            .map_err(|_| "the recorder has stopped".to_owned())?;
        let refused = match media.start_recording(peer).await {
            Ok(Ok(_tracks)) => return Ok(()),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "the server is shutting down".into(),
        };
        // No `Started` will come for it: its requester must not wait for the file.
        let _ = self.tx.send(Input::Cancel { publication: peer }).await;
        Err(refused)
    }

    /// Stops recording publication `peer`; its file is closed.
    pub fn stop(&self, media: &MediaHandle, peer: PeerId) {
        media.stop_recording(peer);
    }

    /// Whether `path` is being written.
    pub fn is_active(&self, path: &Path) -> bool {
        lock(&self.active).values().any(|p| p == path)
    }

    /// Every recording file, newest first.
    pub fn list(&self) -> Vec<RecordingFile> {
        let active: Vec<PathBuf> = lock(&self.active).values().cloned().collect();
        files::list(&self.root, &active)
    }

    /// Counters and packets dropped on the way to the recorder.
    pub fn stats(&self) -> (&Counters, u64, usize) {
        (
            &self.counters,
            self.dropped.load(Ordering::Relaxed),
            lock(&self.active).len(),
        )
    }

    /// Finishes every file and stops the recorder thread (after the media workers stopped,
    /// so their ends are in).
    pub async fn shutdown(&self) {
        // Everything the workers sent first (their publications' ends among it).
        let forward = lock(&self.forward).take();
        if let Some(f) = forward {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), f).await;
        }
        let _ = self.tx.send(Input::Shutdown).await;
        let thread = lock(&self.thread).take();
        if let Some(t) = thread {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Where a recording goes, before its tracks are known.
struct Pending {
    stream: String,
    source: Option<String>,
    notices: Option<mpsc::UnboundedSender<Notice>>,
}

/// A file being written.
struct Writing {
    /// Its name (without the extension until it is created).
    file: String,
    /// The file exists (the first frame it starts with came).
    created: bool,
    sink: Box<dyn sink::Sink>,
    notices: Option<mpsc::UnboundedSender<Notice>>,
    /// Its first audio track, whose levels say when it held speech.
    audio_track: Option<usize>,
    /// Speech turns from the first packet on.
    speech: Option<SpeechTimeline>,
    /// The first and latest packets' arrivals (the file's length).
    span: Option<(Instant, Instant)>,
}

/// The recorder thread's state.
struct Recorder {
    root: PathBuf,
    pending: HashMap<PeerId, Pending>,
    writing: HashMap<PeerId, Writing>,
    active: Arc<Mutex<HashMap<PeerId, PathBuf>>>,
    counters: Arc<Counters>,
}

impl Recorder {
    fn run(mut self, mut rx: mpsc::Receiver<Input>) {
        while let Some(input) = rx.blocking_recv() {
            match input {
                Input::Open {
                    publication,
                    stream,
                    source,
                    notices,
                } => {
                    self.pending.insert(
                        publication,
                        Pending {
                            stream,
                            source,
                            notices,
                        },
                    );
                }
                Input::Tap(Recorded::Started {
                    publication,
                    tracks,
                }) => self.open(publication, &tracks),
                Input::Tap(Recorded::Packet(p)) => self.push(&p),
                Input::Cancel { publication } => {
                    self.pending.remove(&publication);
                }
                Input::Tap(Recorded::Ended { publication }) => {
                    // An `Ended` follows its own `Started` (one channel), which took its
                    // pending entry; one still pending is a newer request (recording stopped
                    // and started again), whose `Started` is on its way.
                    if !self.writing.contains_key(&publication) {
                        self.pending.remove(&publication);
                    }
                    self.finish(publication);
                }
                Input::Shutdown => break,
            }
        }
        let open: Vec<PeerId> = self.writing.keys().copied().collect();
        for publication in open {
            self.finish(publication);
        }
    }

    fn open(&mut self, publication: PeerId, tracks: &[podium_media::RecordTrack]) {
        let Some(p) = self.pending.remove(&publication) else {
            return;
        };
        let stem = files::file_stem(p.source.as_deref(), SystemTime::now(), publication.0);
        let dir = self.root.join(&p.stream);
        let opened = std::fs::create_dir_all(&dir).and_then(|()| sink::open(&dir, &stem, tracks));
        match opened {
            Ok(sink) => {
                self.writing.insert(
                    publication,
                    Writing {
                        file: stem,
                        created: false,
                        sink,
                        notices: p.notices,
                        audio_track: tracks.iter().position(|t| t.kind == Kind::Audio),
                        speech: None,
                        span: None,
                    },
                );
            }
            Err(e) => {
                tracing::error!(error = %e, dir = %dir.display(), "recording could not start");
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                notify(
                    &p.notices,
                    Notice::Failed {
                        file: stem,
                        reason: e.to_string(),
                    },
                );
            }
        }
    }

    fn push(&mut self, packet: &podium_media::RecordedPacket) {
        let Some(w) = self.writing.get_mut(&packet.publication) else {
            return;
        };
        if let Err(e) = w.sink.push(packet) {
            self.fail(packet.publication, &e.to_string());
            return;
        }
        // The file exists from the frame it starts with: now it is listed and announced.
        if !w.created {
            if let Some(path) = w.sink.path() {
                w.created = true;
                w.file = path
                    .file_name()
                    .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
                tracing::info!(path = %path.display(), "recording started");
                self.counters.started.fetch_add(1, Ordering::Relaxed);
                lock(&self.active).insert(packet.publication, path.to_owned());
                // Its time zero is this packet's arrival (not now: the queue may be behind).
                let queued = Instant::now().saturating_duration_since(packet.arrival);
                let at_ms = SystemTime::now()
                    .checked_sub(queued)
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_millis() as u64);
                notify(
                    &w.notices,
                    Notice::Started {
                        file: w.file.clone(),
                        at_ms,
                    },
                );
            }
        }
        if !w.created {
            return;
        }
        // Length and speech on the file's clock: from the packet it starts with.
        let at = packet.arrival;
        let (first, _) = *w.span.get_or_insert((at, at));
        w.span = Some((first, at.max(first)));
        if Some(packet.track_idx) == w.audio_track {
            w.speech
                .get_or_insert_with(|| SpeechTimeline::new(first, SpeakerConfig::default()))
                .observe(at, packet.audio_level, packet.voice_activity);
        }
    }

    fn finish(&mut self, publication: PeerId) {
        let Some(w) = self.writing.remove(&publication) else {
            return;
        };
        // Listed as being written until the file is complete.
        let finished = w.sink.finish();
        let (first, last) = w.span.unwrap_or_else(|| {
            let now = Instant::now();
            (now, now)
        });
        let duration_ms = last.saturating_duration_since(first).as_millis() as u64;
        let speech = w.speech.map(|s| s.finish(last)).unwrap_or_default();
        lock(&self.active).remove(&publication);
        match finished {
            Ok(bytes) => {
                tracing::info!(file = %w.file, bytes, "recording finished");
                self.counters.finished.fetch_add(1, Ordering::Relaxed);
                self.counters.bytes.fetch_add(bytes, Ordering::Relaxed);
                notify(
                    &w.notices,
                    Notice::Finished {
                        file: w.file,
                        bytes,
                        duration_ms,
                        speech,
                    },
                );
            }
            Err(e) => {
                tracing::error!(error = %e, file = %w.file, "recording could not be finished");
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                notify(
                    &w.notices,
                    Notice::Failed {
                        file: w.file,
                        reason: e.to_string(),
                    },
                );
            }
        }
    }

    /// A write failed: the recording stops there (the file is closed as far as it got).
    fn fail(&mut self, publication: PeerId, reason: &str) {
        let Some(w) = self.writing.remove(&publication) else {
            return;
        };
        tracing::error!(file = %w.file, reason, "recording stopped: write failed");
        self.counters.failed.fetch_add(1, Ordering::Relaxed);
        let _ = w.sink.finish();
        lock(&self.active).remove(&publication);
        notify(
            &w.notices,
            Notice::Failed {
                file: w.file,
                reason: reason.to_owned(),
            },
        );
    }
}

fn notify(to: &Option<mpsc::UnboundedSender<Notice>>, notice: Notice) {
    if let Some(tx) = to {
        let _ = tx.send(notice);
    }
}
