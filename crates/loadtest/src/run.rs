//! Running a load: start the target, publishers, then listeners at the join rate; measure
//! one window (or one per step in step mode) and summarise.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use serde::Serialize;
use str0m::media::{Direction, MediaKind};
use tokio::sync::oneshot;

use crate::args::{LoadArgs, Scenario, TargetKind};
use crate::client::{micros, Client, Negotiated, Offering, Sending};
use crate::engine::{self, EngineHandle};
use crate::janus::JanusHandle;
use crate::report::{self, Marks, WindowInput, WindowReport};
use crate::signal::{self, Podium, Ws};
use crate::stats::Acc;
use crate::talk::{Talker, VideoSender};
use crate::target::{SpawnedPodium, Target};
use crate::{procstat, Summary};

/// State shared by the run and its client tasks.
struct Shared {
    args: LoadArgs,
    epoch: Instant,
    target: Target,
    engines: Vec<EngineHandle>,
    window: Mutex<Acc>,
    second: Mutex<Acc>,
    /// Join and connect times since the last window ended (ramp-up included).
    joins: Mutex<(Vec<f64>, Vec<f64>)>,
    next_id: AtomicU32,
    vad: AtomicU64,
    connected: AtomicUsize,
    failures: AtomicUsize,
    errors: Mutex<Vec<String>>,
    feeds: Mutex<Vec<u64>>,
}

/// A client's signaling side, kept until it leaves.
enum Holder {
    Podium(Box<Ws>),
    /// A handle and its feed id (0 for subscribers).
    Janus(JanusHandle, u64),
}

struct Member {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Shared {
    fn engine(&self, id: u32) -> &EngineHandle {
        &self.engines[id as usize % self.engines.len()]
    }

    /// From now on an engine drives client `id`.
    fn hand_over(&self, id: u32, negotiated: Negotiated, sending: Sending, started: Instant) {
        let fast = (self.args.listener_mode == crate::args::ListenerMode::Fast)
            .then_some(self.args.decrypt_every);
        let client = Client::new(id, negotiated, sending, started, self.epoch, fast);
        self.engine(id).add(client);
    }

    fn bind(&self) -> IpAddr {
        match &self.target {
            Target::Janus { bind, .. } => *bind,
            Target::Podium { .. } => IpAddr::from([127, 0, 0, 1]),
        }
    }

    fn fail(&self, what: &str, e: &anyhow::Error) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let mut errors = self.errors.lock().expect("errors lock");
        if errors.len() < 10 {
            errors.push(format!("{what}: {e:#}"));
        }
    }

    fn sending(&self, id: u32) -> Sending {
        let now_us = micros(self.epoch, Instant::now());
        let a = &self.args;
        match a.scenario {
            Scenario::Broadcast => Sending::AudioVideo(
                Talker::new(u64::from(id), 1.0, 60_000, now_us),
                VideoSender::new(a.video_kbps, a.fps, now_us),
            ),
            Scenario::Room | Scenario::Churn => {
                Sending::Audio(Talker::new(u64::from(id), a.talk_ratio, a.talk_ms, now_us))
            }
        }
    }

    /// Publishes client `id`, as speaker `index` (room) or the broadcaster.
    async fn publish(&self, id: u32, index: usize) -> anyhow::Result<Holder> {
        let video = self.args.scenario == Scenario::Broadcast;
        let mut kinds = vec![(MediaKind::Audio, Direction::SendOnly)];
        if video {
            kinds.push((MediaKind::Video, Direction::SendOnly));
        }
        let (offering, offer) = Offering::new(self.bind(), &kinds)?;
        let started = Instant::now();
        let (holder, answer) = match &self.target {
            Target::Podium { api, .. } => {
                let source = (!video).then(|| format!("s{index}"));
                let codec = video.then_some("vp8");
                let (ws, answer) = api
                    .publish(&self.args.stream, source.as_deref(), offer, codec)
                    .await?;
                (Holder::Podium(Box::new(ws)), answer)
            }
            Target::Janus { api, room, .. } => {
                let (handle, feed, answer) =
                    api.publish(*room, &format!("s{index}"), &offer).await?;
                (Holder::Janus(handle, feed), answer)
            }
        };
        let negotiated = offering.accept(&answer)?;
        self.hand_over(id, negotiated, self.sending(id), started);
        if let Holder::Janus(mut handle, feed) = holder {
            // VideoRoom refuses subscribers to a feed whose connection is not up yet.
            handle.wait_for("webrtcup", Duration::from_secs(10)).await?;
            self.feeds.lock().expect("feeds lock").push(feed);
            return Ok(Holder::Janus(handle, feed));
        }
        Ok(holder)
    }

    /// Joins client `id` as a listener.
    async fn listen(&self, id: u32) -> anyhow::Result<Holder> {
        match &self.target {
            Target::Podium { api, .. } => {
                let mut ws = api.open_view(&self.args.stream).await?;
                let (kinds, slots) = match self.args.scenario {
                    Scenario::Broadcast => (
                        vec![
                            (MediaKind::Video, Direction::RecvOnly),
                            (MediaKind::Audio, Direction::RecvOnly),
                        ],
                        0,
                    ),
                    Scenario::Room | Scenario::Churn => (
                        vec![(MediaKind::Audio, Direction::RecvOnly); 1 + self.args.slots],
                        self.args.slots,
                    ),
                };
                let (offering, offer) = Offering::new(self.bind(), &kinds)?;
                let started = Instant::now();
                let answer = Podium::view(&mut ws, &self.args.stream, offer, slots).await?;
                let negotiated = offering.accept(&answer)?;
                self.hand_over(id, negotiated, Sending::Nothing, started);
                Ok(Holder::Podium(Box::new(ws)))
            }
            Target::Janus { api, room, .. } => {
                let feeds = self.feeds.lock().expect("feeds lock").clone();
                let started = Instant::now();
                let (handle, offer) = api.subscribe(*room, &feeds).await?;
                let (negotiated, answer) = Negotiated::answer(self.bind(), &offer)?;
                self.hand_over(id, negotiated, Sending::Nothing, started);
                api.start(&handle, &answer).await?;
                Ok(Holder::Janus(handle, 0))
            }
        }
    }

    /// Holds the client until told to stop (true) or until the server ends it (false).
    async fn hold(&self, holder: Holder, stop: oneshot::Receiver<()>) -> bool {
        match holder {
            Holder::Podium(ws) => {
                signal::hold(
                    *ws,
                    async {
                        let _ = stop.await;
                    },
                    &self.vad,
                )
                .await
            }
            Holder::Janus(handle, _) => {
                let _ = stop.await;
                if let Target::Janus { api, .. } = &self.target {
                    let _ = api.detach(handle).await;
                }
                true
            }
        }
    }
}

/// Spawns a client task; `publish` = Some(speaker index) for publishers.
fn spawn_member(shared: &Arc<Shared>, publish: Option<usize>) -> Member {
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let (stop, stop_rx) = oneshot::channel();
    let s = shared.clone();
    let task = tokio::spawn(async move {
        let joined = match publish {
            Some(index) => s.publish(id, index).await,
            None => s.listen(id).await,
        };
        match joined {
            Ok(holder) => {
                s.connected.fetch_add(1, Ordering::Relaxed);
                let stopped = s.hold(holder, stop_rx).await;
                s.connected.fetch_sub(1, Ordering::Relaxed);
                if !stopped {
                    s.fail(
                        "session",
                        &anyhow::anyhow!("the server closed the signaling connection"),
                    );
                }
            }
            Err(e) => s.fail(if publish.is_some() { "publish" } else { "join" }, &e),
        }
        s.engine(id).remove(id);
    });
    Member { stop, task }
}

/// Readings of the server and the tool; `metrics_first` at a window's start, so that the
/// /proc readings lie right at the window's edges on both ends.
async fn marks(shared: &Shared, baseline_rss: Option<u64>, metrics_first: bool) -> Marks {
    let early = if metrics_first {
        Some(read_metrics(shared).await)
    } else {
        None
    };
    let server = shared.target.pid().and_then(procstat::sample);
    let own = procstat::sample(std::process::id());
    let (metrics, metrics_at) = match early {
        Some(m) => m,
        None => read_metrics(shared).await,
    };
    Marks {
        server,
        own,
        metrics,
        metrics_at,
        baseline_rss,
    }
}

async fn read_metrics(shared: &Shared) -> (std::collections::BTreeMap<String, f64>, Instant) {
    let text = shared.target.metrics().await;
    let parsed = text.map(|t| report::parse_metrics(&t)).unwrap_or_default();
    (parsed, Instant::now())
}

/// Runs the load described by `args`.
pub async fn run(args: LoadArgs) -> anyhow::Result<Summary> {
    let epoch = Instant::now();
    let target = start_target(&args).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut engines = Vec::new();
    let mut joins = Vec::new();
    for i in 0..args.engines.max(1) {
        let (h, j) = engine::spawn(i, epoch, tx.clone())?;
        engines.push(h);
        joins.push(j);
    }
    drop(tx);
    let shared = Arc::new(Shared {
        args: args.clone(),
        epoch,
        target,
        engines,
        window: Mutex::new(Acc::default()),
        second: Mutex::new(Acc::default()),
        joins: Mutex::new((Vec::new(), Vec::new())),
        next_id: AtomicU32::new(0),
        vad: AtomicU64::new(0),
        connected: AtomicUsize::new(0),
        failures: AtomicUsize::new(0),
        errors: Mutex::new(Vec::new()),
        feeds: Mutex::new(Vec::new()),
    });
    let collector = {
        let s = shared.clone();
        tokio::spawn(async move {
            while let Some(acc) = rx.recv().await {
                s.window.lock().expect("window lock").merge(&acc);
                s.second.lock().expect("second lock").merge(&acc);
                let mut joins = s.joins.lock().expect("joins lock");
                joins.0.extend_from_slice(&acc.join_ms);
                joins.1.extend_from_slice(&acc.connect_ms);
            }
        })
    };

    let result = drive(&shared).await;

    for e in &shared.engines {
        e.stop();
    }
    for j in joins {
        let _ = tokio::task::spawn_blocking(move || j.join()).await;
    }
    // The engines' report channels closed with them, so the collector ends by itself.
    let _ = collector.await;
    let errors = shared.errors.lock().expect("errors lock").clone();
    let vad_total = shared.vad.load(Ordering::Relaxed);
    if let Ok(shared) = Arc::try_unwrap(shared) {
        shared.target.stop().await;
    }
    let (windows, knee) = result?;
    Ok(Summary::new(args, windows, knee, vad_total, errors))
}

async fn start_target(args: &LoadArgs) -> anyhow::Result<Target> {
    Ok(match args.target {
        TargetKind::Podium => match &args.url {
            Some(url) => Target::Podium {
                api: Podium::new(url, args.token.as_deref().unwrap_or_default()),
                spawned: None,
                pid: args.server_pid,
            },
            None => {
                let exe = std::env::current_exe()?;
                let s = SpawnedPodium::start(&exe, args.server_cpus.as_deref(), &args.server_args)
                    .await?;
                Target::Podium {
                    api: Podium::new(&s.base, &s.token),
                    spawned: Some(s),
                    pid: None,
                }
            }
        },
        TargetKind::Janus => {
            let publishers = if args.scenario == Scenario::Broadcast {
                1
            } else {
                args.speakers
            };
            Target::janus(
                args.url.as_deref(),
                args.server_cpus.as_deref(),
                u32::try_from(publishers)?,
                args.scenario != Scenario::Broadcast,
                args.server_pid,
            )
            .await?
        }
    })
}

/// Publishers, listeners, windows; returns the windows and the knee (step mode).
async fn drive(shared: &Arc<Shared>) -> anyhow::Result<(Vec<WindowReport>, Option<usize>)> {
    let a = &shared.args;
    let publishers = publisher_count(a);
    let mut pubs = Vec::new();
    for i in 0..publishers {
        pubs.push(spawn_member(shared, Some(i)));
        // Janus subscribers need every feed id, so publishers join one by one.
        while shared.connected.load(Ordering::Relaxed) + shared.failures.load(Ordering::Relaxed)
            <= i
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    if shared.failures.load(Ordering::Relaxed) > 0 {
        anyhow::bail!(
            "publishers failed: {:?}",
            shared.errors.lock().expect("errors lock")
        );
    }
    // Let ICE and DTLS settle, then note the server's memory before any listener.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let baseline_rss = marks(shared, None, false).await.server.map(|s| s.rss_bytes);

    let mut members: Vec<Member> = Vec::new();
    let mut windows = Vec::new();
    let mut knee = None;
    let mut target = a.listeners;
    loop {
        // Joins that fail while the step ramps up count against it too.
        let failures_before = shared.failures.load(Ordering::Relaxed);
        grow(shared, &mut members, target).await;
        tokio::time::sleep(Duration::from_secs(a.warmup)).await;
        let churn = if a.scenario == Scenario::Churn {
            a.churn
        } else {
            0.0
        };
        let w = measure(shared, &mut members, baseline_rss, churn, failures_before).await;
        let ok = w.within_bounds;
        windows.push(w);
        if !a.step {
            break;
        }
        if !ok {
            break;
        }
        knee = Some(target);
        if target + a.step_by > a.step_max {
            break;
        }
        target += a.step_by;
    }
    // Every client is told at once; whatever has not finished within 10 s is aborted.
    let tasks: Vec<_> = members
        .drain(..)
        .chain(pubs)
        .map(|m| {
            let _ = m.stop.send(());
            m.task
        })
        .collect();
    let aborts: Vec<_> = tasks.iter().map(|t| t.abort_handle()).collect();
    let all = futures_util::future::join_all(tasks);
    if tokio::time::timeout(Duration::from_secs(10), all)
        .await
        .is_err()
    {
        aborts.iter().for_each(tokio::task::AbortHandle::abort);
    }
    Ok((windows, knee))
}

/// Adds listeners at the join rate until `n` exist, then waits for their joins to finish.
async fn grow(shared: &Arc<Shared>, members: &mut Vec<Member>, n: usize) {
    let gap = Duration::from_secs_f64(1.0 / shared.args.join_rate.max(0.1));
    let pubs = publisher_count(&shared.args);
    let failures_before = shared.failures.load(Ordering::Relaxed);
    let mut next = Instant::now();
    let mut last_print = Instant::now();
    while members.len() < n {
        members.push(spawn_member(shared, None));
        next += gap;
        tokio::time::sleep_until(next.into()).await;
        if !shared.args.quiet && last_print.elapsed() >= Duration::from_secs(1) {
            last_print = Instant::now();
            eprintln!(
                "joining: {} / {n} connected",
                shared
                    .connected
                    .load(Ordering::Relaxed)
                    .saturating_sub(pubs)
            );
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while shared.connected.load(Ordering::Relaxed) + shared.failures.load(Ordering::Relaxed)
        - failures_before
        < n + pubs
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Measures one window of `secs`, printing progress each second.
async fn measure(
    shared: &Arc<Shared>,
    members: &mut Vec<Member>,
    baseline_rss: Option<u64>,
    churn: f64,
    failures: usize,
) -> WindowReport {
    let a = &shared.args;
    let secs = a.duration;
    let start = marks(shared, baseline_rss, true).await;
    let vad = shared.vad.load(Ordering::Relaxed);
    let began = Instant::now();
    *shared.window.lock().expect("window lock") = Acc::default();
    *shared.second.lock().expect("second lock") = Acc::default();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut churn_owed = 0.0;
    let mut last = Instant::now();
    while began.elapsed() < Duration::from_secs(secs) {
        tick.tick().await;
        churn_owed += churn * last.elapsed().as_secs_f64();
        last = Instant::now();
        while churn_owed >= 1.0 && !members.is_empty() {
            churn_owed -= 1.0;
            let i = rand::rng().random_range(0..members.len());
            let gone = members.swap_remove(i);
            let _ = gone.stop.send(());
            members.push(spawn_member(shared, None));
        }
        if !a.quiet {
            let s = std::mem::take(&mut *shared.second.lock().expect("second lock"));
            let lat = s.latency();
            let srv = shared.target.pid().and_then(procstat::sample);
            eprintln!(
                "t={:>3}s listeners={} rx={:.0} pps tx={:.0} pps loss={:.3}% latency p50={:.2} p99={:.2} ms joins={} server rss={:.0} MiB",
                began.elapsed().as_secs(),
                members.len(),
                s.rx_packets as f64,
                s.tx_packets as f64,
                s.loss_pct(),
                lat.p50,
                lat.p99,
                s.join_ms.len(),
                srv.map_or(0.0, |p| p.rss_bytes as f64 / 1048576.0),
            );
        }
    }
    // The counts end here, not after the (possibly slow) readings of the loaded server.
    let seconds = began.elapsed().as_secs_f64();
    let mut acc = std::mem::take(&mut *shared.window.lock().expect("window lock"));
    let connected = shared
        .connected
        .load(Ordering::Relaxed)
        .saturating_sub(publisher_count(a));
    let end = marks(shared, baseline_rss, false).await;
    (acc.join_ms, acc.connect_ms) = std::mem::take(&mut *shared.joins.lock().expect("joins lock"));
    report::window(
        &acc,
        &WindowInput {
            listeners: members.len(),
            // Under churn some joins are always under way.
            connected: if churn > 0.0 { None } else { Some(connected) },
            seconds,
            start: &start,
            end: &end,
            join_failures: shared.failures.load(Ordering::Relaxed) - failures,
            vad_events: shared.vad.load(Ordering::Relaxed) - vad,
            bounds: (a.max_loss, a.max_p99_ms),
        },
    )
}

fn publisher_count(a: &LoadArgs) -> usize {
    if a.scenario == Scenario::Broadcast {
        1
    } else {
        a.speakers
    }
}

/// Machine description for the summary.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Logical CPUs.
    pub cpus: usize,
    /// CPU model.
    pub model: String,
    /// Kernel release.
    pub kernel: String,
}

impl Machine {
    /// This machine.
    pub fn here() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
            .unwrap_or_default();
        Self {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            model,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_owned(),
        }
    }
}
