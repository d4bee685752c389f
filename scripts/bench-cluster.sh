#!/usr/bin/env bash
# The origin's cost per extra edge (docs/benchmarks.md "Cluster"): a private redis-server, one
# origin node pinned to CPU 0 and E edge nodes (each takes one listener: --node-max-viewers 1),
# `podium loadtest` publishing a 10-speaker room to the origin and placing E listeners through
# the origin's Director (--origin-max-viewers 0: all on edges). The load tool reads the origin's
# CPU from /proc; the slope over E is what one more edge costs the origin. About 3 minutes; not
# run in CI. Results: target/bench/cluster-E.json and a summary on stdout.
#
#   bash scripts/bench-cluster.sh            # E = 1 2 4 8
#   bash scripts/bench-cluster.sh "1 4"      # chosen edge counts
set -euo pipefail
cd "$(dirname "$0")/.."
counts="${1:-1 2 4 8}"
command -v redis-server >/dev/null || { echo "redis-server is needed (apt-get install redis-server)"; exit 1; }

cargo build --release --locked -p podium
bin=target/release/podium
out=target/bench
mkdir -p "$out"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

redis-server --port 0 --unixsocket "$work/r.sock" --save '' --appendonly no >/dev/null &
pids+=($!)
for _ in $(seq 50); do [ -S "$work/r.sock" ] && break; sleep 0.1; done
redis="redis+unix://$work/r.sock"
token=bench-publish-token-0123
admin=bench-admin-5f0c2e9a7b41d8e3c6a92f17c0
common=(--cluster "$redis" --origin-max-viewers 0 --node-max-viewers 1 --media-workers 1
  --publish-token "$token" --admin-secret "$admin" --rtmp-addr off
  --max-connections-per-ip 0 --max-pending-per-ip 100000 --rate-per-ip 1000000 --rate-global 1000000)

node() { # index, cpus
  local i="$1" cpus="$2" ip="127.0.0.$1"
  mkdir -p "$work/n$i"
  taskset -c "$cpus" "$bin" serve "${common[@]}" --node-name "n$i" --data-dir "$work/n$i" \
    --http-addr "$ip:$((18000 + i))" --udp-addr "$ip:0" --relay-addr "$ip:0" \
    >"$work/n$i.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -sf "http://$ip:$((18000 + i))/healthz" >/dev/null && return; sleep 0.1; done
  echo "node $i did not start"; cat "$work/n$i.log"; exit 1
}

node 1 0
origin_pid=${pids[-1]}
started=1
for e in $counts; do
  while [ "$started" -le "$e" ]; do
    node $((started + 1)) 1
    started=$((started + 1))
  done
  sleep 1
  before=$(curl -s "http://127.0.0.1:18001/metrics" | awk '/^podium_cluster_relay_messages_sent_total/ {print $2}')
  "$bin" loadtest --quiet --json "$out/cluster-$e.json" --url http://127.0.0.1:18001 --token "$token" \
    --server-pid "$origin_pid" --scenario room --speakers 10 --talk-ratio 1 --slots 3 --listeners "$e" \
    --stream "bench-$e" --duration 20 --warmup 3 >/dev/null
  after=$(curl -s "http://127.0.0.1:18001/metrics" | awk '/^podium_cluster_relay_messages_sent_total/ {print $2}')
  python3 - "$out/cluster-$e.json" "$e" "${before:-0}" "${after:-0}" <<'PY'
import json, sys
path, e, before, after = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
w = json.load(open(path))["windows"][-1]
s = w.get("server") or {}
threads = s.get("threads", {})
media = sum(v for k, v in threads.items() if k.startswith("podium-media"))
shell = sum(v for k, v in threads.items() if not k.startswith("podium-media"))
print(f"{e:<2} origin {s.get('cpu_cores', 0) * 100:5.2f} % of a core (media {media * 100:5.2f}, shell {shell * 100:5.2f}); "
      f"relay {(after - before) / (w['seconds'] + 3):6.0f} msgs/s; publishers {w['tx_pps']:5.0f} pps; "
      f"listeners {w['rx_pps']:6.0f} pps, loss {w['loss_pct']:.2f} %")
PY
done
