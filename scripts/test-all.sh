#!/usr/bin/env bash
# Runs every Podium test on a fresh Debian machine: installs what is missing (Chromium for the
# browser tests, cmake for libopus, npm packages), then lint, unit/integration tests, and
# browser end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
# cmake builds the bundled libopus (opus crate → opusic-sys) for the RTMP audio transcoder.
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
# ffmpeg publishes over RTMP in the browser tests (an encoder as broadcasters run it).
command -v ffmpeg >/dev/null 2>&1 || need_apt+=(ffmpeg)
# redis-server is the cluster's shared state in the cluster tests (each starts its own).
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
# Colour emoji for the rooms app's reactions (the screenshots the browser tests take).
[ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || need_apt+=(fonts-noto-color-emoji)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

echo "==> cargo fmt"
cargo fmt --all --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> cargo tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
  cargo test --doc --workspace --locked
else
  cargo test --workspace --locked
fi

echo "==> browser end-to-end tests (headless Chromium)"
cargo build --locked -p podium
(cd web && npm ci --no-audit --no-fund && npm run test:e2e)

echo "==> all tests passed"
