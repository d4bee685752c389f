#!/usr/bin/env bash
# The forwarding-engine runs behind docs/benchmarks.md ("Forwarding engine: own egress and
# fan-out over workers"): Podium and Janus under the same load, the server pinned to CPU 0 and
# the load tool (fast listener mode) to CPU 1; then Podium with two media workers sharing one
# room (server and tool unpinned: a 2-core machine has no core to spare). About 25 minutes; not
# run in CI. Results: target/bench/fwd-*.json and a summary on stdout.
#
#   bash scripts/bench-forwarding.sh          # everything
#   bash scripts/bench-forwarding.sh podium   # skip Janus
set -euo pipefail
cd "$(dirname "$0")/.."
only="${1:-all}"

if ! command -v janus >/dev/null 2>&1 && [ "$only" != podium ]; then
  echo "==> installing janus (Debian package) for the side-by-side runs"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq janus >/dev/null
fi

cargo build --release --locked -p podium
out=target/bench
mkdir -p "$out"
load() { # name, cpus of the tool, then loadtest flags
  local name="$1" cpus="$2"; shift 2
  echo "==> $name: podium loadtest $*"
  taskset -c "$cpus" target/release/podium loadtest --quiet --json "$out/fwd-$name.json" "$@" >/dev/null
}

# Knees: raise the audience until loss > 0.1 % or send→receive p99 > 20 ms.
bounds=(--max-loss 0.1 --max-p99-ms 20 --duration 10 --warmup 3)
pinned=(--server-cpus 0)
if [ "$only" != janus ]; then
  load podium-room 1 "${pinned[@]}" --scenario room --speakers 10 --slots 3 --listeners 500 --step --step-by 500 "${bounds[@]}"
  load podium-broadcast 1 "${pinned[@]}" --scenario broadcast --listeners 200 --step --step-by 200 "${bounds[@]}"
  # Memory per listener and per viewer at 1000.
  load podium-room-1000 1 "${pinned[@]}" --scenario room --speakers 10 --slots 3 --listeners 1000 --duration 10 --warmup 3 --max-p99-ms 1000
  load podium-broadcast-1000 1 "${pinned[@]}" --scenario broadcast --listeners 1000 --duration 10 --warmup 3 --max-p99-ms 1000
  # One room over two workers against one worker, same unpinned setup and load.
  for workers in 1 2; do
    load "podium-room-w$workers" 0-1 --server-cpus 0-1 --server-arg=--media-workers=$workers \
      --server-arg=--spread-viewers-from=0 --scenario room --speakers 10 --slots 3 --listeners 600 \
      --duration 10 --warmup 3 --max-p99-ms 1000
  done
fi
if [ "$only" != podium ]; then
  load janus-broadcast 1 "${pinned[@]}" --target janus --scenario broadcast --listeners 100 --step --step-by 100 "${bounds[@]}"
  load janus-room 1 "${pinned[@]}" --target janus --scenario room --speakers 10 --listeners 100 --step --step-by 100 "${bounds[@]}"
fi

python3 - "$out" <<'PY'
import json, pathlib, sys
for f in sorted(pathlib.Path(sys.argv[1]).glob("fwd-*.json")):
    d = json.loads(f.read_text())
    print(f"\n{f.stem}: knee={d.get('knee_listeners')}")
    for w in d["windows"]:
        s = w.get("server") or {}
        lat = s.get("in_server_latency_ms") or {}
        threads = {k: round(v, 2) for k, v in (s.get("threads") or {}).items() if k.startswith("podium-media")}
        print(f"  L={w['listeners']:>5} rx={w['rx_pps']:>9.0f} pps loss={w['loss_pct']:.3f}% "
              f"lat p50/p99={w['latency_ms']['p50']:.1f}/{w['latency_ms']['p99']:.1f} ms "
              f"in-server p50/p99<={lat.get('p50', 0)}/{lat.get('p99', 0)} ms "
              f"server={s.get('cpu_cores', 0):.2f} cores {s.get('cpu_us_per_packet', 0):.2f} us/pkt "
              f"rss/listener={s.get('rss_per_listener_kib', 0):.0f} KiB workers={threads} "
              f"tool={w['loadtest_cpu_cores']:.2f} cores sampled={w.get('sampled')} bad={w.get('undecryptable')} ok={w['within_bounds']}")
PY
