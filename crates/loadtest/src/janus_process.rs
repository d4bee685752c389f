//! A private Janus (Debian's `janus` 1.1.2) for side-by-side benchmarks: a copy of
//! `/etc/janus` in a temporary folder, trimmed to the VideoRoom plugin and the HTTP
//! transport on 127.0.0.1, ICE pinned to one interface.
//!
//! Janus skips loopback interfaces when it gathers candidates (`ice_enforce_list = "lo"`
//! silently falls back to every interface, IPv6 included), so ICE runs on the IPv4 of a
//! real interface (`eth0`). Both ends are local addresses, so the kernel still carries
//! the packets over `lo`. The load clients bind their UDP sockets to [`JanusProcess::ice_ip`].

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::process::{Child, Command};

/// Where the Debian package keeps its configuration.
pub const SYSTEM_CONFIG_DIR: &str = "/etc/janus";

/// Seconds Janus has to answer `GET /janus/info` after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How to run Janus.
#[derive(Clone, Debug)]
pub struct JanusOptions {
    /// HTTP transport port on 127.0.0.1; 0 picks a free one.
    pub http_port: u16,
    /// `general.event_loops`: how many event-loop threads all handles share. 0 keeps
    /// Janus's default, one thread per handle (unfair against an SFU on 2 cores).
    pub event_loops: usize,
    /// The only interface (or address prefix) Janus gathers ICE candidates on, e.g. "eth0".
    pub interface: String,
    /// A `taskset -c` CPU list ("0", "0-1") to pin Janus to, if any.
    pub cpus: Option<String>,
}

impl Default for JanusOptions {
    fn default() -> Self {
        Self {
            http_port: 0,
            event_loops: 2,
            interface: "eth0".into(),
            cpus: None,
        }
    }
}

/// A running Janus with its private configuration folder. Killed on drop too.
pub struct JanusProcess {
    child: Child,
    pid: u32,
    port: u16,
    ice_ip: IpAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl JanusProcess {
    /// Copies `/etc/janus` into a temporary folder, edits it (see the module docs), starts
    /// `janus -F dir -C dir/janus.jcfg -o` (under `taskset -c` if `cpus` is set) and waits
    /// until `GET /janus/info` answers.
    ///
    /// `PODIUM_JANUS_DEBUG_LEVEL` (0-7, default 4) sets Janus's log level; the log is
    /// `janus.log` in the folder and its tail is part of every startup error.
    pub async fn spawn(opts: &JanusOptions) -> anyhow::Result<Self> {
        let ice_ip = interface_ipv4(&opts.interface)?;
        let port = match opts.http_port {
            0 => free_tcp_port()?,
            p => {
                // Otherwise another server on the port would answer the readiness check.
                std::net::TcpListener::bind(("127.0.0.1", p))
                    .with_context(|| format!("Janus's HTTP port 127.0.0.1:{p} is busy"))?;
                p
            }
        };
        let dir = tempfile::Builder::new()
            .prefix("podium-janus-")
            .tempdir()
            .context("creating Janus's config folder")?;
        write_config(dir.path(), opts, port)?;
        let log = dir.path().join("janus.log");
        let log_file = std::fs::File::create(&log).context("creating janus.log")?;
        let conf = dir.path().join("janus.jcfg");
        let janus_args = [
            "-F".as_ref(),
            dir.path().as_os_str(),
            "-C".as_ref(),
            conf.as_os_str(),
            "-o".as_ref(),
            "-D".as_ref(),
        ];
        let mut cmd = match &opts.cpus {
            Some(cpus) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpus).arg("janus");
                c
            }
            None => Command::new("janus"),
        };
        cmd.args(janus_args)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .kill_on_drop(true);
        let mut child = cmd.spawn().with_context(|| {
            format!(
                "starting {:?} (is the Debian package `janus` installed? apt-get install janus)",
                cmd.as_std()
            )
        })?;
        let pid = child.id().context("Janus exited at once")?;
        let this_base = format!("http://127.0.0.1:{port}/janus");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()?;
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "Janus exited with {status} before answering on port {port}; log tail:\n{}",
                    log_tail(&log)
                );
            }
            if let Ok(resp) = http.get(format!("{this_base}/info")).send().await {
                if resp.status().is_success() {
                    let v: serde_json::Value = resp.json().await.unwrap_or_default();
                    if v["janus"] == "server_info" {
                        break;
                    }
                }
            }
            if started.elapsed() > START_TIMEOUT {
                let _ = child.start_kill();
                let _ = child.wait().await;
                bail!(
                    "Janus did not answer GET {this_base}/info within {START_TIMEOUT:?}; log tail:\n{}",
                    log_tail(&log)
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Ok(Self {
            child,
            pid,
            port,
            ice_ip,
            log,
            _dir: dir,
        })
    }

    /// The process id (of Janus itself: `taskset` execs it).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The HTTP transport's port on 127.0.0.1.
    pub fn http_port(&self) -> u16 {
        self.port
    }

    /// "http://127.0.0.1:PORT/janus".
    pub fn http_base(&self) -> String {
        format!("http://127.0.0.1:{}/janus", self.port)
    }

    /// The IPv4 of the ICE interface: Janus's host candidates carry it, and the load
    /// clients bind their UDP sockets to it.
    pub fn ice_ip(&self) -> IpAddr {
        self.ice_ip
    }

    /// Janus's combined stdout/stderr log.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail_lines(&self.log, lines)
    }

    /// Kills Janus and waits for it to exit (so the port is free again).
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

fn log_tail(log: &Path) -> String {
    tail_lines(log, 30)
}

fn tail_lines(log: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Asks the kernel for a free TCP port on 127.0.0.1 (racy, but fine for tests).
fn free_tcp_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

/// The IPv4 address of interface `name` (or `name` itself if it is an IP address).
pub fn interface_ipv4(name: &str) -> anyhow::Result<IpAddr> {
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(ip);
    }
    let addrs = nix::ifaddrs::getifaddrs().context("listing network interfaces")?;
    let mut seen = Vec::new();
    for a in addrs {
        let ip = a
            .address
            .as_ref()
            .and_then(|s| s.as_sockaddr_in())
            .map(|s| s.ip());
        if let Some(ip) = ip {
            if a.interface_name == name {
                return Ok(IpAddr::V4(ip));
            }
            seen.push(format!("{}={ip}", a.interface_name));
        }
    }
    bail!(
        "interface {name:?} has no IPv4 address (IPv4 interfaces: {}); Janus skips loopback, so pick a real interface",
        seen.join(", ")
    )
}

/// Copies the system configuration into `dir` and edits it.
fn write_config(dir: &Path, opts: &JanusOptions, port: u16) -> anyhow::Result<()> {
    let src = Path::new(SYSTEM_CONFIG_DIR);
    let entries = std::fs::read_dir(src).with_context(|| {
        format!("reading {SYSTEM_CONFIG_DIR} (is the Debian package `janus` installed?)")
    })?;
    for e in entries {
        let e = e?;
        if e.file_type()?.is_file() {
            std::fs::copy(e.path(), dir.join(e.file_name()))
                .with_context(|| format!("copying {}", e.path().display()))?;
        }
    }

    let main_path = dir.join("janus.jcfg");
    let mut main = std::fs::read_to_string(&main_path).context("reading janus.jcfg")?;
    let debug_level = std::env::var("PODIUM_JANUS_DEBUG_LEVEL")
        .ok()
        .and_then(|v| v.parse::<u8>().ok())
        .unwrap_or(4)
        .min(7);
    let mut general = vec![
        ("configs_folder", quoted(&dir.display().to_string())),
        ("debug_level", debug_level.to_string()),
    ];
    if opts.event_loops > 0 {
        general.push(("event_loops", opts.event_loops.to_string()));
    }
    for (k, v) in general {
        main = set_setting(&main, "general", k, Some(&v))?;
    }
    main = set_setting(&main, "nat", "ice_ignore_list", None)?;
    main = set_setting(
        &main,
        "nat",
        "ice_enforce_list",
        Some(&quoted(&opts.interface)),
    )?;
    let folders = [
        ("plugins", "plugins_folder", &["libjanus_videoroom.so"][..]),
        ("transports", "transports_folder", &["libjanus_http.so"][..]),
        ("loggers", "loggers_folder", &[][..]),
        ("events", "events_folder", &[][..]),
    ];
    for (section, folder_key, keep) in folders {
        let folder = setting_value(&main, "general", folder_key)
            .with_context(|| format!("janus.jcfg has no general.{folder_key}"))?;
        let disable = modules_except(Path::new(&folder), keep)?;
        if !disable.is_empty() {
            main = set_setting(&main, section, "disable", Some(&quoted(&disable.join(","))))?;
        }
    }
    std::fs::write(&main_path, main)?;

    let http_path = dir.join("janus.transport.http.jcfg");
    let mut http =
        std::fs::read_to_string(&http_path).context("reading the HTTP transport config")?;
    for (k, v) in [
        ("http", "true".to_owned()),
        ("port", port.to_string()),
        ("ip", quoted("127.0.0.1")),
        ("https", "false".to_owned()),
        ("json", quoted("compact")),
    ] {
        http = set_setting(&http, "general", k, Some(&v))?;
    }
    http = set_setting(&http, "admin", "admin_http", Some("false"))?;
    std::fs::write(&http_path, http)?;
    Ok(())
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The `lib*.so` files of a module folder, minus `keep`.
fn modules_except(folder: &Path, keep: &[&str]) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Ok(names);
    };
    for e in entries {
        let name = e?.file_name().to_string_lossy().into_owned();
        if name.ends_with(".so") && !keep.contains(&name.as_str()) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// The lines of top-level `section: { ... }` as a range of line indices (exclusive of
/// the braces' lines).
fn section_range(lines: &[&str], section: &str) -> Option<(usize, usize)> {
    let open = lines.iter().position(|l| {
        let t = l.trim_start();
        t.strip_prefix(section)
            .map(|rest| rest.trim_start().starts_with(':') && rest.contains('{'))
            .unwrap_or(false)
    })?;
    let close = lines[open + 1..]
        .iter()
        .position(|l| l.starts_with('}'))
        .map(|i| open + 1 + i)?;
    Some((open + 1, close))
}

/// `key` at the start of a (not commented out) line.
fn is_setting(line: &str, key: &str) -> bool {
    line.trim_start()
        .strip_prefix(key)
        .map(|rest| rest.trim_start().starts_with('='))
        .unwrap_or(false)
}

/// The unquoted value of `section.key`, if set.
fn setting_value(text: &str, section: &str, key: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let (from, to) = section_range(&lines, section)?;
    let line = lines[from..to].iter().find(|l| is_setting(l, key))?;
    let v = line.split_once('=')?.1;
    let v = v.split('#').next().unwrap_or("").trim();
    Some(v.trim_matches('"').to_owned())
}

/// Sets (or with `None` removes) `section.key` in a libconfig (.jcfg) text: drops the
/// existing uncommented lines for it and puts the new one first in the section. Creates
/// the section at the end if missing.
fn set_setting(
    text: &str,
    section: &str,
    key: &str,
    value: Option<&str>,
) -> anyhow::Result<String> {
    let lines: Vec<&str> = text.lines().collect();
    let new_line = value.map(|v| format!("\t{key} = {v}"));
    let Some((from, to)) = section_range(&lines, section) else {
        let mut out = text.trim_end().to_owned();
        out.push_str(&format!("\n\n{section}: {{\n"));
        if let Some(l) = new_line {
            out.push_str(&l);
            out.push('\n');
        }
        out.push_str("}\n");
        return Ok(out);
    };
    let mut out: Vec<String> = Vec::with_capacity(lines.len() + 1);
    for (i, l) in lines.iter().enumerate() {
        if i == from {
            if let Some(nl) = &new_line {
                out.push(nl.clone());
            }
        }
        if i >= from && i < to && is_setting(l, key) {
            if !l.contains('=') || l.trim_end().ends_with('[') {
                bail!("cannot rewrite multi-line setting {section}.{key}");
            }
            continue;
        }
        out.push((*l).to_owned());
    }
    let mut s = out.join("\n");
    s.push('\n');
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "general: {\n\tconfigs_folder = \"/etc/janus\"\t# x\n\t#event_loops = 8\n\tprotected_folders = [\n\t\t\"/bin\"\n\t]\n}\nnat: {\n\tice_ignore_list = \"vmnet\"\n}\nplugins: {\n\t#disable = \"a\"\n}\n";

    #[test]
    fn settings_are_replaced_inserted_and_removed() {
        let s = set_setting(SAMPLE, "general", "configs_folder", Some("\"/tmp/x\"")).unwrap();
        let s = set_setting(&s, "general", "event_loops", Some("2")).unwrap();
        let s = set_setting(&s, "nat", "ice_ignore_list", None).unwrap();
        let s = set_setting(&s, "nat", "ice_enforce_list", Some("\"eth0\"")).unwrap();
        let s = set_setting(&s, "plugins", "disable", Some("\"b.so\"")).unwrap();
        let s = set_setting(&s, "events", "disable", Some("\"c.so\"")).unwrap();
        assert_eq!(
            setting_value(&s, "general", "configs_folder").as_deref(),
            Some("/tmp/x")
        );
        assert_eq!(
            setting_value(&s, "general", "event_loops").as_deref(),
            Some("2")
        );
        assert_eq!(setting_value(&s, "nat", "ice_ignore_list"), None);
        assert_eq!(
            setting_value(&s, "nat", "ice_enforce_list").as_deref(),
            Some("eth0")
        );
        assert_eq!(
            setting_value(&s, "plugins", "disable").as_deref(),
            Some("b.so")
        );
        assert_eq!(
            setting_value(&s, "events", "disable").as_deref(),
            Some("c.so")
        );
        assert!(s.contains("\t#event_loops = 8"));
        assert!(s.contains("protected_folders = ["));
        assert_eq!(s.matches("configs_folder").count(), 1);
    }
}
