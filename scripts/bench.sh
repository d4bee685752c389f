#!/usr/bin/env bash
# The whole-system benchmark behind docs/benchmarks.md: Podium and Janus under the same load,
# each server pinned to CPU 0 and the load tool to CPU 1. Takes about 20 minutes; not run in CI
# (CI runs the load tool's smoke test). Results: target/bench/*.json.
#
#   bash scripts/bench.sh            # everything
#   bash scripts/bench.sh podium     # only the Podium runs
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
load() { # name, then loadtest flags
  local name="$1"; shift
  echo "==> $name: podium loadtest $*"
  taskset -c 1 target/release/podium loadtest --server-cpus 0 --quiet --json "$out/$name.json" "$@" >/dev/null
}

# Step runs: raise listeners until loss > 0.1 % or p99 send→receive latency > 50 ms.
bounds=(--max-loss 0.1 --max-p99-ms 50 --duration 10 --warmup 3)
if [ "$only" != janus ]; then
  load podium-room-step --scenario room --speakers 10 --slots 3 --listeners 250 --step --step-by 250 "${bounds[@]}"
  load podium-broadcast-step --scenario broadcast --listeners 50 --step --step-by 50 "${bounds[@]}"
  load podium-churn --scenario churn --speakers 10 --listeners 300 --churn 20 --duration 20 --max-loss 0.1 --max-p99-ms 50
fi
if [ "$only" != podium ]; then
  load janus-broadcast-step --target janus --scenario broadcast --listeners 50 --step --step-by 50 "${bounds[@]}"
  load janus-room-step --target janus --scenario room --speakers 10 --listeners 100 --step --step-by 100 "${bounds[@]}"
fi

python3 - "$out" <<'PY'
import json, pathlib, sys
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    d = json.loads(f.read_text())
    print(f"\n{f.stem}: knee={d['knee_listeners']}")
    for w in d["windows"]:
        s = w.get("server") or {}
        print(f"  L={w['listeners']:>5} rx={w['rx_pps']:>9.0f} pps loss={w['loss_pct']:.3f}% "
              f"lat p50/p99={w['latency_ms']['p50']:.1f}/{w['latency_ms']['p99']:.1f} ms "
              f"server={s.get('cpu_cores', 0):.2f} cores {s.get('cpu_us_per_packet', 0):.1f} us/pkt "
              f"rss/listener={s.get('rss_per_listener_kib', 0):.0f} KiB join p50={w['join_ms']['p50']:.0f} ms "
              f"tool={w['loadtest_cpu_cores']:.2f} cores ok={w['within_bounds']}")
PY
