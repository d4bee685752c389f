#!/usr/bin/env bash
# The origin's cost per extra edge (docs/benchmarks.md "Cluster"): a private redis-server, one
# origin node pinned to CPU 0 and E edge nodes (each takes one listener: --node-max-viewers 1),
# `podium loadtest` publishing a 10-speaker room to the origin and placing E listeners through
# the origin's Director (--origin-max-viewers 0: all on edges). The load tool reads the origin's
# CPU from /proc; the slope over E is what one more edge costs the origin. About 3 minutes; not
# run in CI. Results: target/bench/cluster-E.json and a summary on stdout.
#
#   bash scripts/bench-cluster.sh            # E = 0 1 2 4 8
#   bash scripts/bench-cluster.sh "1 4"      # chosen edge counts
set -euo pipefail
cd "$(dirname "$0")/.."
counts="${1:-0 1 2 4 8}"
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
echo "E  origin_cpu_%  relayed_msgs/s  listeners_rx_pps  loss_%"
for e in $counts; do
  while [ "$started" -le "$e" ]; do
    node $((started + 1)) 1
    started=$((started + 1))
  done
  sleep 1
  before=$(curl -s "http://127.0.0.1:18001/metrics" | awk '/^podium_cluster_relay_messages_sent_total/ {print $2}')
  "$bin" loadtest --quiet --json "$out/cluster-$e.json" --url http://127.0.0.1:18001 --token "$token" \
    --server-pid "$origin_pid" --scenario room --speakers 10 --slots 3 --listeners "$e" \
    --stream "bench-$e" --duration 20 --warmup 3 >/dev/null
  after=$(curl -s "http://127.0.0.1:18001/metrics" | awk '/^podium_cluster_relay_messages_sent_total/ {print $2}')
  python3 - "$out/cluster-$e.json" "$e" "${before:-0}" "${after:-0}" <<'EOF'
import json, sys
path, e, before, after = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
r = json.load(open(path))
def find(d, *names):
    for n in names:
        if isinstance(d, dict) and n in d:
            return d[n]
    return None
server = find(r, "server") or {}
cpu = find(server, "cpu_percent", "cpu_pct", "cpu")
rx = find(r, "listener_pps", "received_pps", "rx_pps")
loss = find(r, "loss_percent", "loss_pct", "loss")
dur = find(r, "duration_s", "duration") or 23
print(f"{e:<2} {cpu}  {(after - before) / float(dur):.0f}  {rx}  {loss}")
EOF
done
