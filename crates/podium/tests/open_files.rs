//! `podium serve` under a tight open-files limit (set with util-linux `prlimit`): it raises
//! the soft limit to the hard one, and when connections use up every descriptor anyway it
//! sheds the waiting ones at once instead of leaving every client hanging.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    addr: SocketAddr,
    log: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the server under `prlimit --nofile=SOFT:HARD` and waits for `/healthz`.
fn start(nofile: &str, extra: &[&str]) -> Server {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("podium-nofile-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("server.log");
    let child = Command::new("prlimit")
        .arg(format!("--nofile={nofile}"))
        .arg(env!("CARGO_BIN_EXE_podium"))
        .args(["serve", "--http-addr", &format!("127.0.0.1:{port}")])
        .args(["--udp-addr", "127.0.0.1:0", "--media-workers", "1"])
        .args(["--publish-token", "nofile-test-token"])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("prlimit (util-linux) runs podium");
    let server = Server {
        child,
        addr: format!("127.0.0.1:{port}").parse().unwrap(),
        log,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(server.addr, "/healthz") != Some(200) {
        assert!(Instant::now() < deadline, "podium did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

/// `GET path` on a new connection; the status, or `None` if the connection was closed (or
/// not answered within 2 s).
fn get(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut tcp = TcpStream::connect(addr).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    tcp.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .ok()?;
    let mut head = [0u8; 12];
    tcp.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

fn soft_open_files_limit(pid: u32) -> u64 {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

#[test]
fn the_soft_open_files_limit_is_raised_to_the_hard_one() {
    let server = start("256:4096", &[]);
    // prlimit execs podium, so the child's pid is the server's.
    assert_eq!(soft_open_files_limit(server.child.id()), 4096);
}

#[test]
fn out_of_descriptors_the_server_sheds_waiting_connections_and_recovers() {
    // No connection caps: this is what happens when something else uses the descriptors up.
    let server = start(
        "160:160",
        &[
            "--max-connections",
            "100000",
            "--max-connections-per-ip",
            "0",
            "--connection-timeout",
            "60",
        ],
    );
    let hogs: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    // Every descriptor is taken: a new client is turned away at once, not left hanging.
    let started = Instant::now();
    let mut tcp = TcpStream::connect(server.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut buf = [0u8; 64];
    let closed = matches!(tcp.read(&mut buf), Ok(0) | Err(_));
    assert!(
        closed && started.elapsed() < Duration::from_secs(3),
        "a client waited {:?} for a server out of descriptors",
        started.elapsed()
    );
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.contains("out of file descriptors"), "{log}");
    // Once the hogs let go, everyone is served again.
    drop(hogs);
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(server.addr, "/healthz") != Some(200) {
        assert!(Instant::now() < deadline, "the server did not recover");
        std::thread::sleep(Duration::from_millis(100));
    }
}
