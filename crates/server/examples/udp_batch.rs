//! One datagram per system call against the media workers' batched I/O, on loopback.
//!
//! * send: `DATAGRAMS` datagrams round-robin to 1000 bound (never read) sockets, as audio
//!   fan-out does (every datagram to another viewer), with `send_to` and with
//!   [`BatchSocket::flush`] (`sendmmsg`, 64 per call);
//! * receive: 200 datagrams (fewer than a default socket buffer holds) are queued at a socket,
//!   then drained with `recv_from` and with
//!   [`BatchSocket::try_recv_batch`] (`recvmmsg`, 32 per call); only the draining is timed.
//!
//! Run: `cargo run --release -p podium-server --example udp_batch [payload bytes]`; pin it to a
//! core for steadier numbers (`taskset -c 1 …`).
#![allow(clippy::disallowed_methods)]

use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use podium_server::stats::IoStats;
use podium_server::udp::{BatchSocket, Outgoing};

const DESTINATIONS: usize = 1000;
const DATAGRAMS: usize = 400_000;
const FILL: usize = 200;
const ROUNDS: usize = 1000;

fn main() -> std::io::Result<()> {
    let payload: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(120);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let sinks: Vec<UdpSocket> = (0..DESTINATIONS)
            .map(|_| UdpSocket::bind("127.0.0.1:0"))
            .collect::<Result<_, _>>()?;
        let addrs: Vec<SocketAddr> = sinks.iter().map(|s| s.local_addr().unwrap()).collect();
        let data = vec![0x80u8; payload];

        // send_to, one call per datagram.
        let plain = UdpSocket::bind("127.0.0.1:0")?;
        let start = Instant::now();
        for i in 0..DATAGRAMS {
            let _ = plain.send_to(&data, addrs[i % DESTINATIONS]);
        }
        report("send_to", DATAGRAMS, start.elapsed(), payload);

        // sendmmsg through the worker's queue, as the worker fills it after one input batch.
        let mut batch = BatchSocket::new(UdpSocket::bind("127.0.0.1:0")?)?;
        let mut stats = IoStats::default();
        let mut queue = VecDeque::new();
        let mut spent = Duration::ZERO;
        for _ in 0..DATAGRAMS / DESTINATIONS {
            queue.extend(addrs.iter().map(|&to| Outgoing {
                transmit: podium_media::Transmit {
                    proto: str0m::net::Protocol::Udp,
                    source: addrs[0],
                    destination: to,
                    contents: data.clone().into(),
                },
                origin: None,
            }));
            let start = Instant::now();
            while !batch.flush(&mut queue, &mut stats) {
                batch.writable().await?;
            }
            spent += start.elapsed();
        }
        report("sendmmsg/64", DATAGRAMS, spent, payload);
        println!(
            "  ({} datagrams sent, {} refused)",
            stats.datagrams_out, stats.send_errors
        );
        drop(sinks);

        // Receive: fill a socket, then drain it.
        let receiver = UdpSocket::bind("127.0.0.1:0")?;
        let to = receiver.local_addr()?;
        receiver.set_nonblocking(true)?;
        let mut buf = [0u8; 2048];
        let mut spent = Duration::ZERO;
        let mut got = 0;
        for _ in 0..ROUNDS {
            fill(&plain, to, &data);
            let start = Instant::now();
            while receiver.recv_from(&mut buf).is_ok() {
                got += 1;
            }
            spent += start.elapsed();
        }
        report("recv_from", got, spent, payload);

        let mut batch_rx = BatchSocket::new(receiver)?;
        let mut spent = Duration::ZERO;
        let mut got = 0;
        for _ in 0..ROUNDS {
            fill(&plain, to, &data);
            // Readiness was cleared by the last WouldBlock; the fill sets it again.
            batch_rx.readable().await?;
            let start = Instant::now();
            while let Ok(n) = batch_rx.try_recv_batch() {
                got += n;
            }
            spent += start.elapsed();
        }
        report("recvmmsg/32", got, spent, payload);
        Ok(())
    })
}

/// Queues `FILL` datagrams at `to` (fewer land if its buffer is smaller).
fn fill(from: &UdpSocket, to: SocketAddr, data: &[u8]) {
    for _ in 0..FILL {
        let _ = from.send_to(data, to);
    }
}

fn report(what: &str, n: usize, spent: Duration, payload: usize) {
    let per = spent.as_secs_f64() / n as f64;
    println!(
        "{what:>12} {payload:>5} B: {n:>7} datagrams in {:>7.1} ms = {:>6.0} kpps, {:>5.2} µs each",
        spent.as_secs_f64() * 1e3,
        1e-3 / per,
        per * 1e6
    );
}
