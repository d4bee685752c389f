//! Sending to one socket.io client without ever losing a message silently.
//!
//! socketioxide queues a bounded number of packets per socket; when a client does not read
//! (frozen, on a dead network, or never polling), the queue fills and further emits fail.
//! A client that missed a message has a wrong picture of the room (a lost `promoted` even
//! carries its token), so it must not stay: the first failed emit marks it overflowed, it
//! receives nothing more, the rooms domain treats it as disconnected at once (its seat and
//! name are freed, everyone hears it left), and it is told to disconnect as soon as its queue
//! has room; a client that never reads again is closed by the engine's heartbeat.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use socketioxide::extract::SocketRef;
use socketioxide::{SendError, SocketError};

/// How often a disconnect is tried again while the client's queue is still full.
const RETRY: Duration = Duration::from_millis(200);

/// Sockets whose queue overflowed, and how many there were.
#[derive(Default)]
pub struct Overflow {
    sockets: Mutex<HashSet<String>>,
    total: AtomicU64,
}

impl Overflow {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.sockets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `socket` overflowed (and gets nothing more).
    pub fn is_overflowed(&self, socket: &SocketRef) -> bool {
        self.lock().contains(&socket.id.to_string())
    }

    /// Clients disconnected for not reading, since start.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Forgets a socket that is gone.
    pub fn forget(&self, socket: &SocketRef) {
        self.lock().remove(&socket.id.to_string());
    }
}

/// What became of an emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Queued for the client (or the client is gone already).
    Queued,
    /// The client's queue was full just now: it has been marked overflowed and must be
    /// treated as disconnected.
    Overflowed,
    /// The client had overflowed before; nothing was sent.
    Skipped,
}

/// Emits `event` to `socket`; see the module docs for a full queue.
pub fn emit<T: ?Sized + Serialize>(
    overflow: &Arc<Overflow>,
    socket: &SocketRef,
    event: &str,
    data: &T,
) -> Sent {
    if overflow.is_overflowed(socket) {
        return Sent::Skipped;
    }
    match socket.emit(event, data) {
        Err(SendError::Socket(SocketError::InternalChannelFull)) => {
            mark_overflowed(overflow, socket);
            Sent::Overflowed
        }
        Err(e) => {
            tracing::debug!(socket = %socket.id, error = %e, event, "emit failed");
            Sent::Queued
        }
        Ok(()) => Sent::Queued,
    }
}

/// Marks `socket` overflowed (once): it gets nothing more, leaves every delivery group and
/// is told to disconnect as soon as its queue has room.
pub fn mark_overflowed(overflow: &Arc<Overflow>, socket: &SocketRef) {
    if overflow.lock().insert(socket.id.to_string()) {
        overflow.total.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(socket = %socket.id, "socket.io client is not reading: disconnecting it");
        socket.leave_all();
        tokio::spawn(disconnect_when_possible(socket.clone()));
    }
}

/// Closes `socket`: it leaves every delivery group now and is disconnected as soon as its
/// queue has room (a frozen client's may be full).
pub fn close(socket: SocketRef) {
    socket.leave_all();
    tokio::spawn(disconnect_when_possible(socket));
}

/// Sends the disconnect packet once the queue has room for it.
async fn disconnect_when_possible(socket: SocketRef) {
    while socket.connected() {
        match socket.clone().disconnect() {
            Err(SocketError::InternalChannelFull) => tokio::time::sleep(RETRY).await,
            _ => return,
        }
    }
}
