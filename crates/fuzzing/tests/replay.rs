//! Replays the committed fuzzing corpus (`fuzz/corpus/<target>/`) and the saved crash
//! reproducers (`fuzz/regressions/<target>/`, if any) through the target functions, so CI
//! runs every input the fuzzer kept. A missing or empty corpus directory fails.

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(target: &str) {
    let (_, run) = podium_fuzzing::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("known target");
    let corpus = fuzz_dir().join("corpus").join(target);
    let inputs = files(&corpus);
    assert!(!inputs.is_empty(), "{} has no inputs", corpus.display());
    let regressions = fuzz_dir().join("regressions").join(target);
    let saved = if regressions.is_dir() {
        files(&regressions)
    } else {
        Vec::new()
    };
    for path in inputs.iter().chain(&saved) {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        eprintln!("replaying {}", path.display());
        run(&data);
    }
}

#[test]
fn every_target_has_a_fuzz_target_file() {
    for (name, _) in podium_fuzzing::TARGETS {
        let path = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        let source =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            source.contains(&format!("podium_fuzzing::{name}(")),
            "{} calls podium_fuzzing::{name}",
            path.display()
        );
    }
}

#[test]
fn signaling_corpus() {
    replay("signaling");
}

#[test]
fn rooms_args_corpus() {
    replay("rooms_args");
}

#[test]
fn sdp_publish_corpus() {
    replay("sdp_publish");
}

#[test]
fn sdp_view_corpus() {
    replay("sdp_view");
}

#[test]
fn udp_demux_corpus() {
    replay("udp_demux");
}

#[test]
fn rtp_rewrite_corpus() {
    replay("rtp_rewrite");
}

#[test]
fn rtmp_chunks_corpus() {
    replay("rtmp_chunks");
}

#[test]
fn flv_ingest_corpus() {
    replay("flv_ingest");
}
