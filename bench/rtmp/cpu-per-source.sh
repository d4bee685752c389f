#!/usr/bin/env bash
# CPU of podium per RTMP source, with and without viewers.
#
# Pre-encodes one 60 s FLV per audio profile (H.264 720p30 2.5 Mb/s baseline, no B-frames,
# keyframe every 2 s; AAC stereo 48 kHz 128 kb/s or mono 44.1 kHz 64 kb/s), starts a podium
# server, then for each N publishes N distinct streams with `ffmpeg -re -stream_loop -1 -c copy`
# (so ffmpeg itself costs little) and reads podium's utime+stime from /proc/PID/stat over a
# window, first without viewers, then with one WHEP viewer per stream (headless Chromium,
# frames dropped before decoding: bench/rtmp/whep-viewers.mjs). An idle window (no source)
# gives the baseline that is subtracted per source.
#
# By default podium runs on CPU 0 and everything else (ffmpeg, Chromium) on CPU 1 (taskset).
#
# Usage (from the repository root):
#   bash bench/rtmp/cpu-per-source.sh [OUT_DIR]
# Environment:
#   PODIUM_BIN   release binary (default target/release/podium)
#   PROFILES     audio profiles (default "stereo48 mono44")
#   COUNTS       numbers of concurrent sources (default "1 2 4")
#   WINDOW       measurement window, s (default 30)
#   WARMUP       seconds between starting sources/viewers and the window (default 10)
#   VIEWERS      "0 1": measure without and with one viewer per stream (default "0 1")
#   PODIUM_CPUS / LOAD_CPUS  taskset lists (default 0 / 1; empty = no pinning)
# Output: OUT_DIR/results.tsv (one line per run), OUT_DIR/threads.tsv (per thread name),
#         OUT_DIR/metrics-*.txt, OUT_DIR/podium-*.log, OUT_DIR/env.txt
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$(mktemp -d /tmp/podium-rtmp-cpu-XXXXXX)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
PODIUM_BIN=${PODIUM_BIN:-$repo/target/release/podium}
PROFILES=${PROFILES:-"stereo48 mono44"}
COUNTS=${COUNTS:-"1 2 4"}
WINDOW=${WINDOW:-30}
WARMUP=${WARMUP:-10}
VIEWERS=${VIEWERS:-"0 1"}
PODIUM_CPUS=${PODIUM_CPUS-0}
LOAD_CPUS=${LOAD_CPUS-1}
FIXTURES=${FIXTURES:-$out/fixtures}
TICKS=$(getconf CLK_TCK)

# Command prefixes (taskset execs the command, so $! is the command's own pid).
pin_podium=(); [[ -n $PODIUM_CPUS ]] && pin_podium=(taskset -c "$PODIUM_CPUS")
pin_load=(); [[ -n $LOAD_CPUS ]] && pin_load=(taskset -c "$LOAD_CPUS")

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# utime+stime of a process in ticks (fields 14 and 15 of /proc/PID/stat; the comm field may
# contain spaces, so split after the last ')').
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

# Per-thread "name ticks" lines of a process.
thread_ticks() {
  local pid=$1 t
  for t in /proc/"$pid"/task/*; do
    { read -r name < "$t/comm"; awk -v n="$name" '{ sub(/^.*\) /, ""); print n "\t" $12 + $13 }' "$t/stat"; } 2>/dev/null || true
  done | awk -F'\t' '{ s[$1] += $2 } END { for (n in s) print n "\t" s[n] }' | sort
}

# "busy total" jiffies of all CPUs (first line of /proc/stat): the machine's load over a window.
jiffies() { awk 'NR == 1 { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat; }

metric() { # metric URL NAME: value of an unlabelled metric
  curl -fsS "$1/metrics" | awk -v n="$2" '$1 == n { print $2 }'
}

# ---- fixtures ------------------------------------------------------------------------------
mkdir -p "$FIXTURES"
# A non-trivial, continuous signal: two tones (one vibrato) and noise, channels differ.
sig0='0.25*sin(2*PI*440*t)+0.15*sin(2*PI*660*t+3*sin(2*PI*5*t))+0.1*(random(0)-0.5)'
sig1='0.25*sin(2*PI*554*t)+0.15*sin(2*PI*330*t+3*sin(2*PI*4*t))+0.1*(random(1)-0.5)'
encode_fixture() { # NAME RATE CHANNELS BITRATE [-an|-vn]
  local f=$FIXTURES/$1.flv exprs
  [[ -s $f ]] && return
  if [[ $3 == 1 ]]; then exprs=$sig0; else exprs="$sig0|$sig1"; fi
  echo "encoding $f" >&2
  ffmpeg -hide_banner -loglevel error -f lavfi -i "testsrc2=size=1280x720:rate=30" \
    -f lavfi -i "aevalsrc=exprs='$exprs':s=$2" -t 60 \
    -c:v libx264 -preset veryfast -profile:v baseline -bf 0 -g 60 -pix_fmt yuv420p \
    -b:v 2500k -maxrate 2500k -bufsize 2500k \
    -c:a aac -ar "$2" -ac "$3" -b:a "$4" ${5:-} -f flv -y "$f"
}
# Profiles: stereo48 and mono44 are the figures; video (no audio track) and stereo48-audio
# (no video track) split a source's cost between its two tracks.
for profile in $PROFILES; do
  case $profile in
    stereo48) encode_fixture stereo48 48000 2 128k ;;
    mono44) encode_fixture mono44 44100 1 64k ;;
    video) encode_fixture video 48000 2 128k -an ;;
    stereo48-audio) encode_fixture stereo48-audio 48000 2 128k -vn ;;
    *) echo "unknown profile $profile" >&2; exit 2 ;;
  esac
done

# ---- helpers -------------------------------------------------------------------------------
{
  echo "date: $(date -u +%FT%TZ)"
  echo "podium built from: ${PODIUM_COMMIT:-unknown (set PODIUM_COMMIT)}; this tree: $(git -C "$repo" rev-parse --short HEAD 2>/dev/null) (dirty files: $(git -C "$repo" status --porcelain 2>/dev/null | wc -l))"
  echo "podium: $PODIUM_BIN ($(stat -c %y "$PODIUM_BIN"))"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-) x $(nproc)"
  echo "kernel: $(uname -r)"
  echo "ffmpeg: $(ffmpeg -version | head -1)"
  echo "pinning: podium on '${PODIUM_CPUS}', load on '${LOAD_CPUS}'"
  echo "load before: $(cat /proc/loadavg)"
  echo "top processes before:"; ps -eo pcpu,comm --sort=-pcpu | head -8
} > "$out/env.txt"
cat "$out/env.txt" >&2

printf 'profile\tsources\tviewers\twindow_s\tcpu_s\tcore_pct\tcore_pct_per_source\tms_per_media_s_per_source\tms_per_media_s_per_source_minus_idle\tmachine_busy_pct\tloadavg\n' > "$out/results.tsv"
printf 'profile\tsources\tviewers\tthread\tcpu_s\n' > "$out/threads.tsv"

pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

idle_per_s=0
measure() { # PROFILE N VIEWERS PODIUM_PID
  local profile=$1 n=$2 v=$3 pid=$4 a b t0 t1 before after j0 j1
  before=$(thread_ticks "$pid")
  a=$(cpu_ticks "$pid"); t0=$(date +%s.%N); j0=$(jiffies)
  sleep "$WINDOW"
  b=$(cpu_ticks "$pid"); t1=$(date +%s.%N); j1=$(jiffies)
  after=$(thread_ticks "$pid")
  python3 - "$profile" "$n" "$v" "$a" "$b" "$t0" "$t1" "$TICKS" "$idle_per_s" "$(cut -d' ' -f1-3 /proc/loadavg)" "$j0" "$j1" >> "$out/results.tsv" <<'EOF'
import sys
profile, n, v, a, b, t0, t1, ticks, idle, load, j0, j1 = sys.argv[1:]
(b0, tot0), (b1, tot1) = map(int, j0.split()), map(int, j1.split())
busy = f"{100 * (b1 - b0) / max(1, tot1 - tot0):.0f}"
n, a, b, t0, t1, ticks, idle = int(n), int(a), int(b), float(t0), float(t1), int(ticks), float(idle)
wall = t1 - t0
cpu = (b - a) / ticks
pct = 100 * cpu / wall
if n:
    per = cpu / wall / n * 1000
    per_idle = (cpu / wall - idle) / n * 1000
    row = [profile, n, v, f"{wall:.1f}", f"{cpu:.2f}", f"{pct:.2f}", f"{pct / n:.2f}", f"{per:.2f}", f"{per_idle:.2f}", busy, load]
else:
    row = [profile, 0, v, f"{wall:.1f}", f"{cpu:.2f}", f"{pct:.2f}", "", "", "", busy, load]
print("\t".join(map(str, row)))
EOF
  join -t $'\t' <(echo "$before") <(echo "$after") | awk -F'\t' -v p="$profile" -v n="$n" -v v="$v" -v tk="$TICKS" \
    '{ printf "%s\t%s\t%s\t%s\t%.2f\n", p, n, v, $1, ($3 - $2) / tk }' >> "$out/threads.tsv"
  tail -1 "$out/results.tsv" >&2
  if [[ $n == 0 ]]; then
    idle_per_s=$(python3 -c "print(($b - $a) / $TICKS / ($t1 - $t0))")
  fi
}

for profile in $PROFILES; do
  http=$(free_port); rtmp=$(free_port)
  url=http://127.0.0.1:$http
  data=$(mktemp -d /tmp/podium-rtmp-cpu-data-XXXXXX)
  token=bench-$(openssl rand -hex 6)
  RUST_LOG=info "${pin_podium[@]}" "$PODIUM_BIN" serve --http-addr "127.0.0.1:$http" --udp-addr 127.0.0.1:0 \
    --rtmp-addr "127.0.0.1:$rtmp" --data-dir "$data" --publish-token "$token" \
    --admin-secret "$(openssl rand -hex 16)" > "$out/podium-$profile.log" 2>&1 &
  podium=$!
  pids+=("$podium")
  for _ in $(seq 100); do curl -fsS "$url/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  sleep 2
  echo "== $profile: idle" >&2
  measure "$profile" 0 0 "$podium"

  for n in $COUNTS; do
    srcs=(); names=()
    for i in $(seq "$n"); do
      name=cpu-$profile-$n-$i
      names+=("$name")
      "${pin_load[@]}" ffmpeg -hide_banner -nostats -loglevel warning -re -stream_loop -1 -i "$FIXTURES/$profile.flv" \
        -c copy -f flv "rtmp://127.0.0.1:$rtmp/live/$name?token=$token" \
        > "$out/ffmpeg-$profile-$n-$i.log" 2>&1 < /dev/null &
      srcs+=($!); pids+=($!)
    done
    for _ in $(seq 100); do
      [[ $(metric "$url" podium_rtmp_connections) == "$n" ]] && break; sleep 0.1
    done
    curl -fsS "$url/metrics" | grep -E '^podium_(rtmp|local)' > "$out/metrics-$profile-$n-start.txt"
    for v in $VIEWERS; do
      viewers=
      if [[ $v == 1 ]]; then
        : > "$out/viewers-$profile-$n.log"
        "${pin_load[@]}" node "$repo/bench/rtmp/whep-viewers.mjs" --url "$url" --streams "$(IFS=,; echo "${names[*]}")" \
          > "$out/viewers-$profile-$n.json" 2> "$out/viewers-$profile-$n.log" &
        viewers=$!; pids+=("$viewers")
        for _ in $(seq 300); do grep -q '^ready' "$out/viewers-$profile-$n.log" && break; sleep 0.2; done
        grep -q '^ready' "$out/viewers-$profile-$n.log" || { echo "viewers not ready" >&2; cat "$out/viewers-$profile-$n.log" >&2; exit 1; }
      fi
      echo "== $profile: $n sources, $v viewer(s) per stream" >&2
      sleep "$WARMUP"
      measure "$profile" "$n" "$v" "$podium"
      if [[ -n $viewers ]]; then kill -TERM "$viewers"; wait "$viewers" || true; fi
    done
    curl -fsS "$url/metrics" | grep -E '^podium_(rtmp|local)' > "$out/metrics-$profile-$n-end.txt"
    for p in "${srcs[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    for _ in $(seq 100); do
      [[ $(metric "$url" podium_rtmp_connections) == 0 ]] && break; sleep 0.1
    done
    sleep 2
  done
  kill "$podium"; wait "$podium" || true
  rm -rf "$data"
done
echo "load after: $(cat /proc/loadavg)" >> "$out/env.txt"
column -t -s $'\t' "$out/results.tsv" >&2
echo "results in $out" >&2
