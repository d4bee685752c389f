//! Batched UDP I/O for a media worker: `recvmmsg`/`sendmmsg` on Linux (through `nix`'s safe
//! wrappers), one datagram per system call elsewhere.
//!
//! The socket is non-blocking and registered with the worker's tokio runtime; readiness comes
//! from [`BatchSocket::readable`]/[`BatchSocket::writable`] and every system call goes through
//! `try_io`, so a `WouldBlock` clears tokio's readiness as it should.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use podium_media::Transmit;
#[cfg(target_os = "linux")]
use tokio::io::Interest;
use tokio::net::UdpSocket;

use crate::stats::IoStats;

/// Datagrams read by one receive call at most.
pub const RECV_BATCH: usize = 32;
/// Datagrams written by one send call at most.
pub const SEND_BATCH: usize = 64;
/// Receive buffer per datagram; WebRTC datagrams stay under the path MTU, so a datagram that
/// fills it is not ours and is dropped (counted as invalid).
pub const MAX_DATAGRAM: usize = 2048;
/// Datagrams a worker keeps waiting for a full socket at most; past that the oldest are
/// dropped (they would be stale by the time they left anyway).
pub const MAX_QUEUED: usize = 1 << 16;
/// Kernel socket buffers asked for (the kernel caps them at `net.core.{r,w}mem_max`).
const SOCKET_BUFFER: usize = 4 << 20;

/// One datagram waiting to be sent.
pub struct Outgoing {
    /// What str0m produced.
    pub transmit: Transmit,
    /// When the datagram that caused it was received, for the forwarding-latency histogram
    /// (`None` for datagrams produced by timers or commands).
    pub origin: Option<Instant>,
}

/// Metadata of one received datagram.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    /// Bytes in the buffer.
    pub len: usize,
    /// Sender.
    pub from: SocketAddr,
    /// Not usable: larger than [`MAX_DATAGRAM`], or without an IP source address.
    pub invalid: bool,
}

/// A UDP socket with batch receive and send.
pub struct BatchSocket {
    socket: UdpSocket,
    bufs: Box<[[u8; MAX_DATAGRAM]; RECV_BATCH]>,
    received: Vec<Received>,
    /// Buffers of datagrams sent, for the owner to reuse ([`BatchSocket::take_spent`]).
    spent: Vec<Vec<u8>>,
    #[cfg(target_os = "linux")]
    sys: linux::Headers,
}

impl BatchSocket {
    /// Wraps a bound socket; must be called inside the runtime that will drive it.
    pub fn new(socket: std::net::UdpSocket) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        #[cfg(target_os = "linux")]
        linux::grow_buffers(&socket, SOCKET_BUFFER);
        Ok(Self {
            socket: UdpSocket::from_std(socket)?,
            bufs: Box::new([[0; MAX_DATAGRAM]; RECV_BATCH]),
            received: Vec::with_capacity(RECV_BATCH),
            spent: Vec::with_capacity(SEND_BATCH),
            #[cfg(target_os = "linux")]
            sys: linux::Headers::new(),
        })
    }

    /// The buffers of the datagrams sent since the last call.
    pub fn take_spent(&mut self) -> std::vec::Drain<'_, Vec<u8>> {
        self.spent.drain(..)
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Waits until a receive may succeed.
    pub async fn readable(&self) -> io::Result<()> {
        self.socket.readable().await
    }

    /// Waits until a send may succeed.
    pub async fn writable(&self) -> io::Result<()> {
        self.socket.writable().await
    }

    /// Reads up to [`RECV_BATCH`] datagrams without waiting; `WouldBlock` when there is none.
    /// Read them with [`BatchSocket::datagrams`].
    pub fn try_recv_batch(&mut self) -> io::Result<usize> {
        self.received.clear();
        #[cfg(target_os = "linux")]
        {
            let Self {
                socket,
                bufs,
                received,
                sys,
                ..
            } = self;
            socket.try_io(Interest::READABLE, || sys.recv(socket, bufs, received))?;
        }
        #[cfg(not(target_os = "linux"))]
        {
            let Self {
                socket,
                bufs,
                received,
                ..
            } = self;
            for buf in bufs.iter_mut() {
                match socket.try_recv_from(buf) {
                    Ok((len, from)) => received.push(Received {
                        len,
                        from,
                        invalid: len == MAX_DATAGRAM,
                    }),
                    Err(e) if received.is_empty() => return Err(e),
                    Err(_) => break,
                }
            }
        }
        Ok(self.received.len())
    }

    /// The datagrams of the last [`BatchSocket::try_recv_batch`].
    pub fn datagrams(&self) -> impl Iterator<Item = (Received, &[u8])> + '_ {
        (0..self.received.len()).map(|i| self.datagram(i))
    }

    /// Datagram `i` of the last [`BatchSocket::try_recv_batch`].
    pub fn datagram(&self, i: usize) -> (Received, &[u8]) {
        let r = self.received[i];
        (r, &self.bufs[i][..r.len])
    }

    /// Sends from the front of `queue`, [`SEND_BATCH`] datagrams per system call, until it is
    /// empty (`true`) or the socket is full (`false`: wait for [`BatchSocket::writable`] and
    /// call again). A datagram the kernel refuses (unreachable, bad address) is counted and
    /// dropped; it never holds up the ones behind it.
    pub fn flush(&mut self, queue: &mut VecDeque<Outgoing>, stats: &mut IoStats) -> bool {
        self.send_while(queue, stats, 1)
    }

    /// Like [`BatchSocket::flush`], but sends only full batches of [`SEND_BATCH`]: called
    /// between the datagrams of an input batch, so one datagram's fan-out leaves before the
    /// next one is processed, and no call is wasted on a few.
    pub fn flush_full_batches(
        &mut self,
        queue: &mut VecDeque<Outgoing>,
        stats: &mut IoStats,
    ) -> bool {
        self.send_while(queue, stats, SEND_BATCH)
    }

    fn send_while(
        &mut self,
        queue: &mut VecDeque<Outgoing>,
        stats: &mut IoStats,
        at_least: usize,
    ) -> bool {
        while queue.len() >= at_least {
            let n = queue.len().min(SEND_BATCH);
            let start = Instant::now();
            let result = {
                let (front, back) = queue.as_slices();
                let batch: Vec<&Outgoing> = front.iter().chain(back).take(n).collect();
                self.try_send_batch(&batch)
            };
            let done = Instant::now();
            stats.send_seconds += (done - start).as_secs_f64();
            match result {
                Ok(sent) => {
                    stats.send_batches.observe(sent as f64);
                    for out in queue.drain(..sent) {
                        stats.datagrams_out += 1;
                        stats.bytes_out += out.transmit.contents.len() as u64;
                        // Back to the core's buffer pool (see `Worker::collect`).
                        self.spent.push(out.transmit.contents.into());
                        if let Some(origin) = out.origin {
                            stats
                                .latency
                                .observe(done.saturating_duration_since(origin).as_secs_f64());
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let excess = queue.len().saturating_sub(MAX_QUEUED);
                    if excess > 0 {
                        queue.drain(..excess);
                        stats.send_queue_dropped += excess as u64;
                    }
                    return false;
                }
                Err(e) => {
                    // The first datagram of the batch failed; the rest are retried.
                    stats.send_errors += 1;
                    if let Some(out) = queue.pop_front() {
                        tracing::debug!(error = %e, to = %out.transmit.destination, "udp send failed");
                    }
                }
            }
        }
        true
    }

    /// One send system call for the front of `batch`; returns how many datagrams went out
    /// (at least one) or the error of the first one.
    fn try_send_batch(&mut self, batch: &[&Outgoing]) -> io::Result<usize> {
        #[cfg(target_os = "linux")]
        {
            let Self { socket, sys, .. } = self;
            socket.try_io(Interest::WRITABLE, || sys.send(socket, batch))
        }
        #[cfg(not(target_os = "linux"))]
        {
            let mut sent = 0;
            for out in batch {
                let t = &out.transmit;
                match self.socket.try_send_to(&t.contents, t.destination) {
                    Ok(_) => sent += 1,
                    Err(e) if sent == 0 => return Err(e),
                    Err(_) => break,
                }
            }
            Ok(sent)
        }
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io::{self, IoSlice, IoSliceMut};
    use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
    use std::os::fd::AsRawFd;

    use nix::sys::socket::{
        recvmmsg, sendmmsg, setsockopt, sockopt, ControlMessage, MsgFlags, MultiHeaders,
        SockaddrStorage,
    };

    use super::{Outgoing, Received, MAX_DATAGRAM, RECV_BATCH, SEND_BATCH};

    /// Preallocated `mmsghdr` arrays (reused by every call, so the hot path allocates little).
    pub(super) struct Headers {
        recv: MultiHeaders<SockaddrStorage>,
        send: MultiHeaders<SockaddrStorage>,
        addrs: Vec<Option<SockaddrStorage>>,
    }

    impl Headers {
        pub(super) fn new() -> Self {
            Self {
                recv: MultiHeaders::preallocate(RECV_BATCH, None),
                send: MultiHeaders::preallocate(SEND_BATCH, None),
                addrs: Vec::with_capacity(SEND_BATCH),
            }
        }

        pub(super) fn recv(
            &mut self,
            socket: &impl AsRawFd,
            bufs: &mut [[u8; MAX_DATAGRAM]; RECV_BATCH],
            out: &mut Vec<Received>,
        ) -> io::Result<()> {
            let mut iovs = bufs.each_mut().map(|b| [IoSliceMut::new(b)]);
            let msgs = recvmmsg(
                socket.as_raw_fd(),
                &mut self.recv,
                iovs.iter_mut(),
                MsgFlags::MSG_DONTWAIT,
                None,
            )?;
            for msg in msgs {
                // A datagram without a usable source address (not IP) cannot be answered.
                let Some(from) = msg.address.as_ref().and_then(to_std) else {
                    out.push(Received {
                        len: 0,
                        from: SocketAddr::from(([0, 0, 0, 0], 0)),
                        invalid: true,
                    });
                    continue;
                };
                out.push(Received {
                    len: msg.bytes,
                    from,
                    invalid: msg.flags.contains(MsgFlags::MSG_TRUNC),
                });
            }
            Ok(())
        }

        pub(super) fn send(
            &mut self,
            socket: &impl AsRawFd,
            batch: &[&Outgoing],
        ) -> io::Result<usize> {
            self.addrs.clear();
            self.addrs.extend(
                batch
                    .iter()
                    .map(|o| Some(SockaddrStorage::from(o.transmit.destination))),
            );
            let iovs: Vec<[IoSlice<'_>; 1]> = batch
                .iter()
                .map(|o| [IoSlice::new(&o.transmit.contents)])
                .collect();
            let no_cmsgs: [ControlMessage<'_>; 0] = [];
            // Counting the results reads the (never written) source-address slots of the
            // send headers; those live in a union, where uninitialised bytes are allowed.
            let sent = sendmmsg(
                socket.as_raw_fd(),
                &mut self.send,
                &iovs,
                &self.addrs,
                no_cmsgs,
                MsgFlags::MSG_DONTWAIT,
            )?
            .count();
            if sent == 0 {
                // Only possible for an empty batch; never loop on it.
                return Err(io::Error::new(io::ErrorKind::WriteZero, "nothing sent"));
            }
            Ok(sent)
        }
    }

    fn to_std(addr: &SockaddrStorage) -> Option<SocketAddr> {
        if let Some(v4) = addr.as_sockaddr_in() {
            return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
        }
        addr.as_sockaddr_in6()
            .map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
    }

    /// Asks for large socket buffers so a burst (a keyframe fanned out to many viewers) is not
    /// dropped by the kernel; failure only means the defaults stay.
    pub(super) fn grow_buffers(socket: &std::net::UdpSocket, bytes: usize) {
        let _ = setsockopt(socket, sockopt::RcvBuf, &bytes);
        let _ = setsockopt(socket, sockopt::SndBuf, &bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket as StdSocket;
    use std::time::Duration;

    fn transmit(to: SocketAddr, byte: u8) -> Outgoing {
        Outgoing {
            transmit: Transmit {
                proto: str0m::net::Protocol::Udp,
                source: "127.0.0.1:1".parse().unwrap(),
                destination: to,
                contents: vec![byte; 100].into(),
            },
            origin: Some(Instant::now()),
        }
    }

    async fn recv_all(sock: &mut BatchSocket, want: usize) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut got = Vec::new();
        while got.len() < want {
            tokio::time::timeout(Duration::from_secs(2), sock.readable())
                .await
                .expect("datagrams arrive")
                .unwrap();
            match sock.try_recv_batch() {
                Ok(_) => got.extend(sock.datagrams().map(|(r, d)| (r.from, d.to_vec()))),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        }
        got
    }

    /// Flushes, waiting for writability as the worker does (a new socket is not known to be
    /// writable before the runtime has polled it once).
    async fn send_all(sock: &mut BatchSocket, queue: &mut VecDeque<Outgoing>, stats: &mut IoStats) {
        while !sock.flush(queue, stats) {
            tokio::time::timeout(Duration::from_secs(2), sock.writable())
                .await
                .expect("writable")
                .unwrap();
        }
        assert!(queue.is_empty());
    }

    #[tokio::test]
    async fn batches_go_out_and_come_back_in_order() {
        let mut a = BatchSocket::new(StdSocket::bind("127.0.0.1:0").unwrap()).unwrap();
        let mut b = BatchSocket::new(StdSocket::bind("127.0.0.1:0").unwrap()).unwrap();
        let to = b.local_addr().unwrap();
        let mut queue: VecDeque<Outgoing> = (0..150).map(|i| transmit(to, i as u8)).collect();
        let mut stats = IoStats::default();
        send_all(&mut a, &mut queue, &mut stats).await;
        assert_eq!(stats.datagrams_out, 150);
        assert_eq!(stats.bytes_out, 15_000);
        assert_eq!(
            stats.latency.count(),
            150,
            "every forwarded datagram is timed"
        );
        assert_eq!(stats.send_batches.count(), 3, "64 + 64 + 22");
        let got = recv_all(&mut b, 150).await;
        let from = a.local_addr().unwrap();
        for (i, (src, data)) in got.iter().enumerate() {
            assert_eq!(*src, from);
            assert_eq!(data, &vec![i as u8; 100]);
        }
    }

    #[tokio::test]
    async fn a_refused_datagram_does_not_stop_the_batch() {
        let mut a = BatchSocket::new(StdSocket::bind("127.0.0.1:0").unwrap()).unwrap();
        let mut b = BatchSocket::new(StdSocket::bind("127.0.0.1:0").unwrap()).unwrap();
        let to = b.local_addr().unwrap();
        // Port 0 and an IPv6 destination on an IPv4 socket are refused by the kernel.
        let mut queue: VecDeque<Outgoing> = VecDeque::new();
        queue.push_back(transmit(to, 1));
        queue.push_back(transmit("127.0.0.1:0".parse().unwrap(), 2));
        queue.push_back(transmit(to, 3));
        queue.push_back(transmit("[::1]:9".parse().unwrap(), 4));
        queue.push_back(transmit(to, 5));
        let mut stats = IoStats::default();
        send_all(&mut a, &mut queue, &mut stats).await;
        assert_eq!(stats.send_errors, 2);
        assert_eq!(stats.datagrams_out, 3);
        let got = recv_all(&mut b, 3).await;
        let firsts: Vec<u8> = got.iter().map(|(_, d)| d[0]).collect();
        assert_eq!(firsts, [1, 3, 5]);
    }

    #[tokio::test]
    async fn an_empty_socket_would_block() {
        let mut a = BatchSocket::new(StdSocket::bind("127.0.0.1:0").unwrap()).unwrap();
        let e = a.try_recv_batch().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    }
}
