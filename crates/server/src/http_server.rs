//! The HTTP port's accept loop (HTTP/1.1, WebSocket upgrades), hardened against clients
//! that hold connections without using them:
//!
//! * every connection is admitted by [`Admission`] (caps per client and in all) and keeps
//!   its place until its socket closes, WebSockets included;
//! * a connection must send its request headers within the header timeout, and the same
//!   timeout closes an idle keep-alive connection (hyper starts it whenever a connection
//!   waits for a request);
//! * when the process runs out of file descriptors anyway, a reserved descriptor is given
//!   up to accept and close the waiting connections, so the backlog is shed instead of
//!   the loop spinning on `EMFILE` while every client hangs.
//!
//! Rejected: `axum::serve`, which has none of these knobs (no header timeout without a
//! timer, no per-client cap, and it sleeps a second on every accept error).

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

use crate::policy::connections::{Admission, Permit, Refused};

/// How long open connections get to finish at shutdown.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// Serves `router` on `listener` until `stop` turns true.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    admission: Admission,
    header_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut reserve = Reserve::open();
    let mut warned = Warned::default();
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => match admission.admit(peer.ip()) {
                    Ok(permit) => {
                        let conn = Counted { tcp, _permit: permit };
                        conns.spawn(serve_connection(conn, peer, router.clone(), header_timeout, stop.clone()));
                    }
                    Err(why) => {
                        // Closed at once: the client learns now rather than timing out.
                        warned.refused(why, peer);
                        drop(tcp);
                    }
                },
                Err(e) if is_out_of_files(&e) => {
                    warned.out_of_files();
                    reserve.shed(&listener).await;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            },
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN_LIMIT, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        conns.abort_all();
    }
}

async fn serve_connection(
    conn: Counted,
    peer: SocketAddr,
    router: Router,
    header_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let _ = conn.tcp.set_nodelay(true);
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(req)
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    let served = http
        .serve_connection(TokioIo::new(conn), service)
        .with_upgrades();
    tokio::pin!(served);
    let result = tokio::select! {
        r = served.as_mut() => r,
        _ = stopped(&mut stop) => {
            served.as_mut().graceful_shutdown();
            served.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "HTTP connection ended");
    }
}

/// Resolves once the server is stopping (no guard kept, so the future stays `Send`).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// A TCP stream that keeps its admission for as long as it is open, through a WebSocket
/// upgrade too (the upgraded socket owns this stream).
struct Counted {
    tcp: TcpStream,
    _permit: Permit,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// One file descriptor held back for shedding load when the process has none left.
struct Reserve(Option<std::fs::File>);

impl Reserve {
    fn open() -> Self {
        Self(std::fs::File::open("/dev/null").ok())
    }

    /// Frees the reserve, accepts and closes waiting connections with it, takes it back.
    async fn shed(&mut self, listener: &TcpListener) {
        self.0 = None;
        // Only what is already waiting: a connection that went away must not block us.
        while let Ok(Ok((tcp, _))) =
            tokio::time::timeout(Duration::from_millis(1), listener.accept()).await
        {
            drop(tcp);
        }
        *self = Self::open();
        if self.0.is_none() {
            // Another task took the descriptor: wait for some to be freed.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn is_out_of_files(e: &std::io::Error) -> bool {
    #[cfg(target_os = "linux")]
    {
        use nix::errno::Errno;
        matches!(e.raw_os_error(), Some(c) if c == Errno::EMFILE as i32 || c == Errno::ENFILE as i32)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = e;
        false
    }
}

/// Warnings at most once a second each, so a flood does not flood the log too.
#[derive(Default)]
struct Warned {
    refused: Option<Instant>,
    out_of_files: Option<Instant>,
}

impl Warned {
    fn due(last: &mut Option<Instant>) -> bool {
        let now = Instant::now();
        let due = last.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1));
        if due {
            *last = Some(now);
        }
        due
    }

    fn refused(&mut self, why: Refused, peer: SocketAddr) {
        if Self::due(&mut self.refused) {
            tracing::warn!(%peer, ?why, "connection refused: connection limit reached");
        }
    }

    fn out_of_files(&mut self) {
        if Self::due(&mut self.out_of_files) {
            tracing::warn!("out of file descriptors: shedding waiting connections (raise LimitNOFILE or lower --max-connections)");
        }
    }
}
