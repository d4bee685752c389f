//! The server under load: a Podium the tool starts itself (so it can read its CPU and
//! memory), a Podium already running, or a Janus VideoRoom.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tempfile::TempDir;

use crate::janus::JanusClient;
use crate::janus_process::{JanusOptions, JanusProcess};
use crate::signal::Podium;

/// A `podium serve` child process on free loopback ports.
pub struct SpawnedPodium {
    child: tokio::process::Child,
    dir: TempDir,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its bootstrap publish token.
    pub token: String,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl SpawnedPodium {
    /// Starts `exe serve` (under `taskset -c cpus` when given) and waits until it answers.
    pub async fn start(
        exe: &PathBuf,
        cpus: Option<&str>,
        extra: &[String],
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let http = free_port()?;
        let udp = std::net::UdpSocket::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let token = format!("load-{}", rand::random::<u64>());
        let log = std::fs::File::create(dir.path().join("server.log"))?;
        let mut cmd = match cpus {
            Some(cpus) => {
                let mut c = tokio::process::Command::new("taskset");
                c.args(["-c", cpus]).arg(exe);
                c
            }
            None => tokio::process::Command::new(exe),
        };
        cmd.arg("serve")
            .args(["--http-addr", &format!("127.0.0.1:{http}")])
            .args(["--udp-addr", &format!("127.0.0.1:{udp}")])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--publish-token", &token])
            .args(["--rate-per-ip", "1000000", "--rate-per-token", "1000000"])
            .args(["--rate-global", "1000000"])
            // Every simulated client shares this one address.
            .args([
                "--max-connections-per-ip",
                "0",
                "--max-pending-per-ip",
                "1000000",
            ])
            .args(extra)
            .env(
                "PODIUM_LOG",
                std::env::var("PODIUM_LOAD_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(log.try_clone()?)
            .stderr(log)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", exe.display()))?;
        let base = format!("http://127.0.0.1:{http}");
        let mut me = Self {
            child,
            dir,
            base,
            token,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(r) = reqwest::get(format!("{}/", me.base)).await {
                if r.status().is_success() {
                    return Ok(me);
                }
            }
            if Instant::now() > deadline || me.child.try_wait()?.is_some() {
                bail!("podium serve did not come up; its log:\n{}", me.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The server's pid.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The last lines of its log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Stops it.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// Where the load goes.
pub enum Target {
    /// A Podium server.
    Podium {
        /// Its client.
        api: Podium,
        /// Set when the tool started it.
        spawned: Option<SpawnedPodium>,
        /// Set when given for an external server.
        pid: Option<u32>,
    },
    /// A Janus VideoRoom.
    Janus {
        /// Its client (one session, many handles).
        api: JanusClient,
        /// Set when the tool started it.
        process: Option<JanusProcess>,
        /// The room the run uses.
        room: u64,
        /// Address clients bind to (Janus ignores loopback).
        bind: IpAddr,
        /// Set when given for an external Janus.
        pid: Option<u32>,
    },
}

impl Target {
    /// The server process to watch, if known.
    pub fn pid(&self) -> Option<u32> {
        match self {
            Self::Podium { spawned, pid, .. } => {
                spawned.as_ref().and_then(SpawnedPodium::pid).or(*pid)
            }
            Self::Janus { process, pid, .. } => process.as_ref().map(JanusProcess::pid).or(*pid),
        }
    }

    /// `/metrics` text, for Podium.
    pub async fn metrics(&self) -> Option<String> {
        let Self::Podium { api, .. } = self else {
            return None;
        };
        let r = reqwest::get(format!("{}/metrics", api.base())).await.ok()?;
        r.text().await.ok()
    }

    /// Starts Janus (or connects to `http_base`) and creates the run's room.
    pub async fn janus(
        http_base: Option<&str>,
        cpus: Option<&str>,
        publishers: u32,
        audio_only: bool,
        pid: Option<u32>,
    ) -> anyhow::Result<Self> {
        let (process, base, bind) = match http_base {
            Some(base) => (None, base.to_owned(), "127.0.0.1".parse()?),
            None => {
                let opts = JanusOptions {
                    http_port: free_port()?,
                    event_loops: std::thread::available_parallelism().map_or(2, |n| n.get()),
                    interface: default_interface(),
                    cpus: cpus.map(str::to_owned),
                };
                let p = JanusProcess::spawn(&opts).await?;
                let base = p.http_base();
                let bind = p.ice_ip();
                (Some(p), base, bind)
            }
        };
        let api = JanusClient::connect(&base).await?;
        let room = 40_000 + u64::from(rand::random::<u16>());
        api.create_room(room, publishers.max(1), 2_000_000, audio_only)
            .await?;
        Ok(Self::Janus {
            api,
            process,
            room,
            bind,
            pid,
        })
    }

    /// Stops whatever the tool started.
    pub async fn stop(self) {
        match self {
            Self::Podium { spawned, .. } => {
                if let Some(s) = spawned {
                    s.stop().await;
                }
            }
            Self::Janus { api, process, .. } => {
                let _ = api.destroy().await;
                if let Some(p) = process {
                    p.stop().await;
                }
            }
        }
    }
}

/// The interface of the default IPv4 route (Janus gathers candidates there).
fn default_interface() -> String {
    std::fs::read_to_string("/proc/net/route")
        .ok()
        .and_then(|t| {
            t.lines()
                .skip(1)
                .map(|l| l.split_whitespace().collect::<Vec<_>>())
                .find(|f| f.get(1) == Some(&"00000000"))
                .and_then(|f| f.first().map(|s| s.to_string()))
        })
        .unwrap_or_else(|| "eth0".into())
}
