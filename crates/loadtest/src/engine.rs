//! An engine thread drives many clients: one mio poll over their sockets, a sweep every
//! 2 ms for timers and due media, and a report of its counts every 250 ms.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token, Waker};

use crate::client::Client;
use crate::fast_rx::BatchReader;
use crate::stats::Acc;

const WAKER: Token = Token(usize::MAX);
const SWEEP: Duration = Duration::from_millis(2);
/// How often an engine hands over its counts.
pub const REPORT: Duration = Duration::from_millis(250);

enum Command {
    Add(Box<Client>),
    Remove(u32),
    Stop,
}

/// Hands clients to an engine thread.
#[derive(Clone)]
pub struct EngineHandle {
    tx: mpsc::Sender<Command>,
    waker: Arc<Waker>,
}

impl EngineHandle {
    /// The engine drives `client` from now on.
    pub fn add(&self, client: Client) {
        let _ = self.tx.send(Command::Add(Box::new(client)));
        let _ = self.waker.wake();
    }

    /// The engine drops client `id` (its signaling ended).
    pub fn remove(&self, id: u32) {
        let _ = self.tx.send(Command::Remove(id));
        let _ = self.waker.wake();
    }

    /// Stops the thread.
    pub fn stop(&self) {
        let _ = self.tx.send(Command::Stop);
        let _ = self.waker.wake();
    }
}

/// Starts an engine thread; its counts arrive on `reports`, and the ids of clients that
/// died on their own on `deaths`.
pub fn spawn(
    index: usize,
    epoch: Instant,
    reports: tokio::sync::mpsc::UnboundedSender<Acc>,
) -> std::io::Result<(EngineHandle, JoinHandle<()>)> {
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let (tx, rx) = mpsc::channel();
    let join = std::thread::Builder::new()
        .name(format!("load-engine-{index}"))
        .spawn(move || Engine::new(poll, rx, epoch, reports).run())?;
    Ok((EngineHandle { tx, waker }, join))
}

struct Engine {
    poll: Poll,
    rx: mpsc::Receiver<Command>,
    epoch: Instant,
    reports: tokio::sync::mpsc::UnboundedSender<Acc>,
    slots: Vec<Option<Client>>,
    free: Vec<usize>,
    by_id: HashMap<u32, usize>,
    acc: Acc,
    reader: BatchReader,
}

impl Engine {
    fn new(
        poll: Poll,
        rx: mpsc::Receiver<Command>,
        epoch: Instant,
        reports: tokio::sync::mpsc::UnboundedSender<Acc>,
    ) -> Self {
        Self {
            poll,
            rx,
            epoch,
            reports,
            slots: Vec::new(),
            free: Vec::new(),
            by_id: HashMap::new(),
            acc: Acc::default(),
            reader: BatchReader::default(),
        }
    }

    fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        let mut next_sweep = Instant::now();
        let mut next_report = Instant::now() + REPORT;
        loop {
            let wait = next_sweep.saturating_duration_since(Instant::now());
            if self.poll.poll(&mut events, Some(wait)).is_err() {
                continue;
            }
            for ev in &events {
                if ev.token() == WAKER {
                    if !self.commands() {
                        return;
                    }
                    continue;
                }
                self.read(ev.token().0);
            }
            let now = Instant::now();
            if now >= next_sweep {
                self.sweep(now);
                next_sweep = now + SWEEP;
            }
            if now >= next_report {
                self.report();
                next_report = now + REPORT;
            }
        }
    }

    /// Applies queued commands; false on stop.
    fn commands(&mut self) -> bool {
        while let Ok(cmd) = self.rx.try_recv() {
            match cmd {
                Command::Add(mut client) => {
                    let slot = self.free.pop().unwrap_or(self.slots.len());
                    if self
                        .poll
                        .registry()
                        .register(&mut client.socket, Token(slot), Interest::READABLE)
                        .is_err()
                    {
                        continue;
                    }
                    self.by_id.insert(client.id, slot);
                    if slot == self.slots.len() {
                        self.slots.push(Some(*client));
                    } else {
                        self.slots[slot] = Some(*client);
                    }
                }
                Command::Remove(id) => {
                    if let Some(slot) = self.by_id.remove(&id) {
                        self.drop_slot(slot);
                    }
                }
                Command::Stop => {
                    self.report();
                    return false;
                }
            }
        }
        true
    }

    fn drop_slot(&mut self, slot: usize) {
        if let Some(mut c) = self.slots[slot].take() {
            c.report_loss(&mut self.acc);
            let _ = self.poll.registry().deregister(&mut c.socket);
            self.free.push(slot);
        }
    }

    /// Everything queued on a client's socket, in `recvmmsg` batches.
    fn read(&mut self, slot: usize) {
        let Some(Some(c)) = self.slots.get_mut(slot) else {
            return;
        };
        loop {
            match self.reader.read(&c.socket) {
                Ok(n) => {
                    let now = Instant::now();
                    for i in 0..n {
                        let (data, source) = self.reader.datagram(i);
                        c.receive(now, self.epoch, source, data, &mut self.acc);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                // ICMP errors (port unreachable) surface here; the socket stays usable.
                Err(_) => break,
            }
        }
    }

    fn sweep(&mut self, now: Instant) {
        let mut dead = Vec::new();
        for (slot, c) in self.slots.iter_mut().enumerate() {
            let Some(c) = c else { continue };
            c.tick(now, self.epoch, &mut self.acc);
            if c.dead {
                dead.push((slot, c.id));
            }
        }
        // A peer that failed (ICE consent lost, DTLS error) is counted and dropped.
        for (slot, id) in dead {
            self.acc.deaths += 1;
            self.by_id.remove(&id);
            self.drop_slot(slot);
        }
    }

    fn report(&mut self) {
        let now = Instant::now();
        for c in self.slots.iter_mut().flatten() {
            c.report_loss(&mut self.acc);
            if c.starved(now) {
                self.acc.starved_reports += 1;
            }
        }
        let acc = std::mem::take(&mut self.acc);
        let _ = self.reports.send(acc);
    }
}
