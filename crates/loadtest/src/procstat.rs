//! CPU time and resident memory of a process (and its threads), read from /proc.

use std::collections::BTreeMap;

/// Clock ticks per second of /proc's CPU times.
fn ticks_per_sec() -> f64 {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK) {
        Ok(Some(hz)) if hz > 0 => hz as f64,
        _ => 100.0,
    }
}

/// (name, CPU seconds) from a `stat` file's text.
fn parse_stat(text: &str) -> Option<(String, f64)> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text[open + 1..close].to_owned();
    let fields: Vec<&str> = text[close + 2..].split_whitespace().collect();
    // After "pid (comm) ": state is field 0; utime and stime are fields 11 and 12.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((name, (utime + stime) / ticks_per_sec()))
}

/// One reading of a process.
#[derive(Debug, Clone, Default)]
pub struct ProcSample {
    /// When it was read.
    pub at: Option<std::time::Instant>,
    /// User + system CPU seconds so far.
    pub cpu_secs: f64,
    /// Resident memory, bytes.
    pub rss_bytes: u64,
    /// CPU seconds per thread name (threads of one name are summed).
    pub threads: BTreeMap<String, f64>,
}

/// Reads `/proc/<pid>`; `None` if the process is gone.
pub fn sample(pid: u32) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, cpu_secs) = parse_stat(&stat)?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut threads = BTreeMap::new();
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for entry in dir.flatten() {
            let path = entry.path().join("stat");
            if let Some((name, secs)) = std::fs::read_to_string(path)
                .ok()
                .and_then(|t| parse_stat(&t))
            {
                *threads.entry(name).or_insert(0.0) += secs;
            }
        }
    }
    Some(ProcSample {
        at: Some(std::time::Instant::now()),
        cpu_secs,
        rss_bytes: rss_kib * 1024,
        threads,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_with_spaces_and_parentheses() {
        let text = "42 (tokio (worker) 1) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0";
        let (name, secs) = parse_stat(text).unwrap();
        assert_eq!(name, "tokio (worker) 1");
        assert!((secs - 300.0 / ticks_per_sec()).abs() < 1e-9);
    }

    #[test]
    fn reads_this_process() {
        let s = sample(std::process::id()).expect("own /proc entry");
        assert!(s.rss_bytes > 0);
        assert!(!s.threads.is_empty());
    }
}
