#!/usr/bin/env node
// RTMP glass-to-glass latency into a browser.
//
// ffmpeg encodes a test pattern with the wall-clock time burned in twice (as text, and as a
// 24-bit barcode of the epoch milliseconds along the bottom of the frame), and publishes it
// over RTMP to a Podium server this script starts. A headless Chromium page plays the stream
// over WHEP, next to the page's own clock (Date.now(), as text and as the same barcode,
// redrawn every animation frame). latency = page clock − burned clock.
//
// Two readings:
//  * screenshots (the method a person can check): every SHOT_EVERY_S seconds a PNG of the
//    page; both barcodes are decoded from the PNG's pixels (ffmpeg turns it into raw RGB),
//    and the two clocks are printed as text in the picture for reading by eye;
//  * every frame (automatic): requestVideoFrameCallback gives each decoded frame's expected
//    display time; the frame's barcode is read from a canvas. latency = display time − burned
//    time.
// A/V sync: the source beeps and flashes a box at the same media time every 2 s; the page
// detects both (AudioWorklet on the received audio, rVFC on the video) and reports
// audio − video offsets over the run (positive: sound after picture).
// It also prints the receiver's WebRTC stats (jitter buffer delays, decode time, losses,
// freezes) and the server's RTMP counters.
//
// Usage (from the repository root):
//   node bench/rtmp/glass-to-glass.mjs [--out DIR] [--warmup S] [--duration S] [--shots N]
// Environment: PODIUM_BIN (default target/release/podium, else target/debug/podium),
//   CHROMIUM_BIN (/usr/bin/chromium), FFMPEG (ffmpeg), X264_PRESET (veryfast), VBITRATE (2500k),
//   AUDIO_RATE (48000), AUDIO_CHANNELS (2), AUDIO_BITRATE (128k stereo, 64k mono).
// Output: DIR/shot-N.png, DIR/result.json, DIR/podium.log, DIR/ffmpeg.log (DIR defaults to a
// fresh directory under /tmp).
import { spawn, execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
// playwright-core is a dev dependency of web/ (npm install there).
const require = createRequire(path.join(repo, 'web/package.json'));
const { chromium } = require('playwright-core');

const { values: opt } = parseArgs({
  options: {
    out: { type: 'string' },
    warmup: { type: 'string', default: '8' },
    duration: { type: 'string', default: '30' },
    shots: { type: 'string', default: '8' },
    source: { type: 'string', default: 'rtmp' },
    'keep-server-log': { type: 'boolean', default: true },
  },
});
const WARMUP_S = Number(opt.warmup);
// rtmp: ffmpeg publishes over RTMP (the figure); whip: a browser page publishes a canvas (the
// same clock barcode and flash) and a WebAudio beep over WHIP, the WebRTC path to compare with.
const SOURCE = opt.source;
if (!['rtmp', 'whip'].includes(SOURCE)) throw new Error('--source rtmp|whip');
const DURATION_S = Number(opt.duration);
const SHOTS = Number(opt.shots);
const SHOT_EVERY_S = SHOTS > 1 ? DURATION_S / SHOTS : DURATION_S;

const PODIUM_BIN = process.env.PODIUM_BIN
  || [path.join(repo, 'target/release/podium'), path.join(repo, 'target/debug/podium')].find(existsSync);
const CHROMIUM_BIN = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const FFMPEG = process.env.FFMPEG || 'ffmpeg';
const PRESET = process.env.X264_PRESET || 'veryfast';
const VBITRATE = process.env.VBITRATE || '2500k';
const AUDIO_RATE = Number(process.env.AUDIO_RATE || 48000);
const AUDIO_CHANNELS = Number(process.env.AUDIO_CHANNELS || 2);
const AUDIO_BITRATE = process.env.AUDIO_BITRATE || (AUDIO_CHANNELS === 1 ? '64k' : '128k');
const FONT = '/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf';
const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--allow-loopback-in-peer-connection', '--autoplay-policy=no-user-gesture-required',
];

// Barcode geometry, in video pixels (1280×720) and page pixels: BITS cells of CELL×CELL px,
// bit i (of epoch ms mod 2^BITS) in cell i from the left, white = 1.
const W = 1280;
const H = 720;
const CELL = 48;
const BITS = 24;
const MOD = 2 ** BITS;
// Page layout (CSS px = screenshot px): clock text 0..80, video 80..800, page barcode 800..848.
const TOP = 80;
const PAGE_BAR_Y = TOP + H;
const VIEW_H = PAGE_BAR_Y + CELL;

async function freeTcpPort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Jiffies of all CPUs: [busy, total] from /proc/stat (the machine's load over a window). */
function cpuJiffies() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return [total - f[3] - f[4], total];
}

function stats(values) {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return { n: s.length, min: s[0], p10: q(0.1), median: q(0.5), p90: q(0.9), p99: q(0.99), max: s[s.length - 1], mean: Math.round(mean * 10) / 10 };
}

/** Latency in ms from two clocks given mod 2^24 ms (page − burned), in (−MOD/2, MOD/2]. */
function modDiff(page, burned) {
  let d = (page - burned) % MOD;
  if (d < 0) d += MOD;
  return d > MOD / 2 ? d - MOD : d;
}

/** Decode a barcode row (cell centres at y) of a raw RGB image; null if a cell is not clear. */
function decodeRow(rgb, width, y) {
  let value = 0;
  for (let i = 0; i < BITS; i += 1) {
    const x = i * CELL + CELL / 2;
    let sum = 0;
    // Mean luma of the 16×16 centre of the cell.
    for (let dy = -8; dy < 8; dy += 1) {
      for (let dx = -8; dx < 8; dx += 1) {
        const o = ((y + dy) * width + (x + dx)) * 3;
        sum += 0.299 * rgb[o] + 0.587 * rgb[o + 1] + 0.114 * rgb[o + 2];
      }
    }
    const luma = sum / 256;
    if (luma > 60 && luma < 195) return null;
    if (luma >= 195) value += 2 ** i;
  }
  return value;
}

/** Both barcodes of a screenshot PNG (decoded to raw RGB by ffmpeg). */
function readShot(file) {
  const rgb = execFileSync(FFMPEG, ['-v', 'error', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 64 << 20 });
  const burned = decodeRow(rgb, W, TOP + H - CELL / 2);
  const page = decodeRow(rgb, W, PAGE_BAR_Y + CELL / 2);
  return { burnedMs: burned, pageMs: page, latencyMs: burned === null || page === null ? null : modDiff(page, burned) };
}

// ---- in the page ----------------------------------------------------------------------------

/** Page: the clock (text + barcode, every animation frame) and the video element. */
function buildPage({ W, H, CELL, BITS, TOP }) {
  document.body.style.cssText = 'margin:0;background:#222;overflow:hidden';
  const clock = Object.assign(document.createElement('div'), { id: 'clock' });
  clock.style.cssText = `position:absolute;left:0;top:0;height:${TOP}px;width:${W}px;font:64px "DejaVu Sans Mono",monospace;color:#fff;background:#000;line-height:${TOP}px;padding-left:20px;box-sizing:border-box;white-space:pre`;
  const video = Object.assign(document.createElement('video'), { autoplay: true, muted: true, playsInline: true });
  video.style.cssText = `position:absolute;left:0;top:${TOP}px;width:${W}px;height:${H}px;background:#000`;
  const bar = document.createElement('div');
  bar.style.cssText = `position:absolute;left:0;top:${TOP + H}px;height:${CELL}px;width:${W}px;background:#808080;display:flex`;
  const cells = [];
  for (let i = 0; i < BITS; i += 1) {
    const c = document.createElement('div');
    c.style.cssText = `width:${CELL}px;height:${CELL}px;background:#000`;
    bar.append(c);
    cells.push(c);
  }
  const label = document.createElement('div');
  label.textContent = '← page clock, ms barcode';
  label.style.cssText = `position:absolute;left:${BITS * CELL + 6}px;top:${TOP + H + 4}px;font:13px sans-serif;color:#ddd;width:${W - BITS * CELL - 8}px`;
  document.body.append(clock, video, bar, label);
  const tick = () => {
    const now = Date.now();
    clock.textContent = `${(now / 1000).toFixed(3)}      page clock`;
    const ms = now % 2 ** BITS;
    for (let i = 0; i < BITS; i += 1) {
      const bit = Math.floor(ms / 2 ** i) % 2;
      const bg = bit ? '#fff' : '#000';
      if (cells[i].style.background !== bg) cells[i].style.background = bg;
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  window.bench = { video };
}

/** Page: WHEP-view `endpoint`, play audio and video, read every frame's barcode. */
async function whepView({ endpoint, W, H, CELL, BITS }) {
  const pc = new RTCPeerConnection();
  const video = pc.addTransceiver('video', { direction: 'recvonly' });
  const audio = pc.addTransceiver('audio', { direction: 'recvonly' });
  await pc.setLocalDescription(await pc.createOffer());
  const res = await fetch(endpoint, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp });
  const body = await res.text();
  if (res.status !== 201) throw new Error(`POST ${endpoint} → ${res.status} ${body}`);
  await pc.setRemoteDescription({ type: 'answer', sdp: body });
  const { video: videoEl } = window.bench;
  // One MediaStream for both tracks: Chromium synchronises audio and video of one stream.
  const stream = new MediaStream([video.receiver.track, audio.receiver.track]);
  videoEl.srcObject = new MediaStream([video.receiver.track]);
  const audioEl = Object.assign(document.createElement('audio'), { autoplay: true });
  audioEl.srcObject = stream;
  document.body.append(audioEl);
  videoEl.play().catch(() => {});
  audioEl.play().catch(() => {});

  // A/V sync: the source beeps (1 kHz, 100 ms) and flashes a white box (3 frames) every 2 s at
  // the same media time. Audio onsets come from an AudioWorklet on the received track, mapped
  // to the wall clock of their output (getOutputTimestamp); video onsets are the expected
  // display times of the first white frames.
  const audioOnsets = [];
  const videoOnsets = [];
  try {
    const ac = new AudioContext();
    const code = `class Onset extends AudioWorkletProcessor {
      constructor() { super(); this.quiet = 0; }
      process(inputs) {
        const ch = inputs[0] && inputs[0][0];
        if (!ch) return true;
        for (let i = 0; i < ch.length; i += 1) {
          if (Math.abs(ch[i]) > 0.15) {
            if (this.quiet > sampleRate * 0.5) this.port.postMessage(currentFrame + i);
            this.quiet = 0;
          } else this.quiet += 1;
        }
        return true;
      }
    }
    registerProcessor('onset', Onset);`;
    await ac.audioWorklet.addModule(URL.createObjectURL(new Blob([code], { type: 'text/javascript' })));
    const node = new AudioWorkletNode(ac, 'onset');
    node.port.onmessage = (e) => {
      const ts = ac.getOutputTimestamp();
      const perf = ts.performanceTime + (e.data / ac.sampleRate - ts.contextTime) * 1000;
      audioOnsets.push(perf + Date.now() - performance.now());
    };
    ac.createMediaStreamSource(new MediaStream([audio.receiver.track])).connect(node);
    node.connect(ac.destination);
    await ac.resume();
    window.bench.audioContext = ac;
  } catch (err) {
    console.error(`no audio onset detection: ${err}`);
  }
  const flashCanvas = Object.assign(document.createElement('canvas'), { width: 40, height: 40 });
  const flashCtx = flashCanvas.getContext('2d', { willReadFrequently: true });
  let lastFlash = true;

  const canvas = Object.assign(document.createElement('canvas'), { width: W, height: CELL });
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const samples = [];
  let undecodable = 0;
  const onFrame = (now, meta) => {
    // Wall clock of the frame's expected display time (performance → epoch offset taken now).
    const offset = Date.now() - performance.now();
    const display = meta.expectedDisplayTime + offset;
    const vw = videoEl.videoWidth;
    const vh = videoEl.videoHeight;
    if (vw > 0 && vh > 0) {
      // Source rectangles in the video's own pixels (a WebRTC sender may scale the picture).
      const sx = vw / W;
      const sy = vh / H;
      ctx.drawImage(videoEl, 0, (H - CELL) * sy, W * sx, CELL * sy, 0, 0, W, CELL);
      const px = ctx.getImageData(0, 0, W, CELL).data;
      let value = 0;
      let ok = true;
      for (let i = 0; i < BITS && ok; i += 1) {
        let sum = 0;
        for (let dy = -8; dy < 8; dy += 1) {
          for (let dx = -8; dx < 8; dx += 1) {
            const o = ((CELL / 2 + dy) * W + (i * CELL + CELL / 2 + dx)) * 4;
            sum += 0.299 * px[o] + 0.587 * px[o + 1] + 0.114 * px[o + 2];
          }
        }
        const luma = sum / 256;
        if (luma > 60 && luma < 195) ok = false;
        else if (luma >= 195) value += 2 ** i;
      }
      if (ok) samples.push({ display, burned: value, received: meta.receiveTime !== undefined ? meta.receiveTime + offset : null, rtp: meta.rtpTimestamp ?? null });
      else undecodable += 1;
      flashCtx.drawImage(videoEl, 1190 * sx, 130 * sy, 40 * sx, 40 * sy, 0, 0, 40, 40);
      const fp = flashCtx.getImageData(0, 0, 40, 40).data;
      let sum = 0;
      for (let o = 0; o < fp.length; o += 4) sum += fp[o + 1];
      const flash = sum / (fp.length / 4) > 128;
      if (flash && !lastFlash) videoOnsets.push({ display, burned: ok ? value : null });
      lastFlash = flash;
    }
    videoEl.requestVideoFrameCallback(onFrame);
  };
  videoEl.requestVideoFrameCallback(onFrame);
  Object.assign(window.bench, { pc, samples, audioOnsets, videoOnsets, undecodable: () => undecodable });
}

/**
 * Page: the playout positions of both tracks in the sender's NTP time (estimatedPlayoutTimestamp,
 * from the sender reports); their difference is the A/V offset as the receiver understands it
 * from the server's RTCP SRs (video − audio, ms; positive: audio played behind video).
 */
async function playoutOffset() {
  const t = {};
  (await window.bench.pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.estimatedPlayoutTimestamp !== undefined) t[s.kind] = s.estimatedPlayoutTimestamp;
  });
  return t.audio !== undefined && t.video !== undefined ? Math.round(t.video - t.audio) : null;
}

/**
 * Page (--source whip): publish a canvas with the page clock as barcode and text, a box that
 * flashes for 100 ms every even 2 s of the wall clock, and a 1 kHz beep scheduled at the same
 * instants, over WHIP.
 */
async function whipPublish({ endpoint, token, W, H, CELL, BITS }) {
  const canvas = Object.assign(document.createElement('canvas'), { width: W, height: H });
  const g = canvas.getContext('2d');
  document.body.append(canvas);
  const ac = new AudioContext({ sampleRate: 48000 });
  const osc = ac.createOscillator();
  osc.frequency.value = 1000;
  const gain = ac.createGain();
  gain.gain.value = 0;
  const dest = ac.createMediaStreamDestination();
  osc.connect(gain).connect(dest);
  osc.start();
  await ac.resume();
  let next = Math.ceil(Date.now() / 2000) * 2000 + 2000;
  const schedule = () => {
    while (next < Date.now() + 3000) {
      const at = ac.currentTime + (next - Date.now()) / 1000;
      if (at > ac.currentTime) {
        gain.gain.setValueAtTime(0.5, at);
        gain.gain.setValueAtTime(0, at + 0.1);
      }
      next += 2000;
    }
  };
  setInterval(schedule, 500);
  schedule();
  const draw = () => {
    const now = Date.now();
    g.fillStyle = '#404040';
    g.fillRect(0, 0, W, H);
    g.fillStyle = now % 2000 < 100 ? '#fff' : '#000';
    g.fillRect(1160, 100, 100, 100);
    const ms = now % 2 ** BITS;
    for (let i = 0; i < BITS; i += 1) {
      g.fillStyle = Math.floor(ms / 2 ** i) % 2 ? '#fff' : '#000';
      g.fillRect(i * CELL, H - CELL, CELL, CELL);
    }
    g.fillStyle = '#fff';
    g.font = '64px "DejaVu Sans Mono", monospace';
    g.fillText(`${(now / 1000).toFixed(3)}   drawn`, 20, 84);
    requestAnimationFrame(draw);
  };
  draw();
  const stream = new MediaStream([canvas.captureStream(30).getVideoTracks()[0], dest.stream.getAudioTracks()[0]]);
  const pc = new RTCPeerConnection();
  for (const track of stream.getTracks()) {
    const { sender } = pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
    if (track.kind === 'video') {
      const params = sender.getParameters();
      params.degradationPreference = 'maintain-resolution';
      await sender.setParameters(params).catch(() => {});
    }
  }
  await pc.setLocalDescription(await pc.createOffer());
  const res = await fetch(endpoint, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp });
  const body = await res.text();
  if (res.status !== 201) throw new Error(`POST ${endpoint} → ${res.status} ${body}`);
  await pc.setRemoteDescription({ type: 'answer', sdp: body });
  window.publisher = { pc, ac };
}

/** Page: the receiver's inbound-rtp stats. */
async function receiverStats() {
  const out = {};
  (await window.bench.pc.getStats()).forEach((s) => {
    if (s.type !== 'inbound-rtp') return;
    const keys = ['packetsReceived', 'packetsLost', 'packetsDiscarded', 'fecPacketsReceived', 'lastPacketReceivedTimestamp', 'jitter', 'jitterBufferDelay', 'jitterBufferTargetDelay', 'jitterBufferMinimumDelay', 'jitterBufferEmittedCount',
      'framesDecoded', 'framesDropped', 'framesReceived', 'keyFramesDecoded', 'totalDecodeTime', 'totalProcessingDelay', 'freezeCount', 'totalFreezesDuration',
      'pauseCount', 'nackCount', 'pliCount', 'firCount', 'concealedSamples', 'totalSamplesReceived', 'insertedSamplesForDeceleration', 'removedSamplesForAcceleration',
      'frameWidth', 'frameHeight', 'framesPerSecond', 'decoderImplementation', 'codecId'];
    out[s.kind] = Object.fromEntries(keys.filter((k) => s[k] !== undefined).map((k) => [k, s[k]]));
  });
  return out;
}

// ---- main -----------------------------------------------------------------------------------

async function main() {
  if (!PODIUM_BIN) throw new Error('no podium binary: build it or set PODIUM_BIN');
  const outDir = opt.out ? path.resolve(opt.out) : await mkdtemp(path.join(os.tmpdir(), 'podium-g2g-'));
  await mkdir(outDir, { recursive: true });
  const httpPort = await freeTcpPort();
  const rtmpPort = await freeTcpPort();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'podium-g2g-data-'));
  const token = `bench-${Math.random().toString(36).slice(2, 12)}`;
  const adminSecret = execFileSync('openssl', ['rand', '-hex', '16']).toString().trim();
  const url = `http://127.0.0.1:${httpPort}`;
  const streamName = `g2g-${Date.now().toString(36)}`;
  const children = [];
  const logs = { podium: '', ffmpeg: '' };
  const run = (name, bin, args, env) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    const keep = (chunk) => { logs[name] += chunk; if (logs[name].length > 4e6) logs[name] = logs[name].slice(-2e6); };
    child.stdout.setEncoding('utf8').on('data', keep);
    child.stderr.setEncoding('utf8').on('data', keep);
    children.push(child);
    return child;
  };
  process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));

  console.error(`podium: ${PODIUM_BIN}`);
  run('podium', PODIUM_BIN, ['serve', '--http-addr', `127.0.0.1:${httpPort}`, '--udp-addr', '127.0.0.1:0',
    '--rtmp-addr', `127.0.0.1:${rtmpPort}`, '--data-dir', dataDir, '--publish-token', token, '--admin-secret', adminSecret],
  { RUST_LOG: process.env.RUST_LOG || 'info' });
  for (let i = 0; ; i += 1) {
    try {
      if ((await fetch(`${url}/healthz`)).status === 200) break;
    } catch { /* not yet */ }
    if (i > 300) throw new Error(`podium not healthy:\n${logs.podium}`);
    await sleep(100);
  }

  // The clock is burned from the frame's pts after setpts=RTCTIME (µs, time base 1/1000000),
  // i.e. the moment the frame enters the filter graph, just before x264.
  const beep = '0.5*sin(2*PI*1000*t)*lt(mod(t,2),0.1)';
  const filter = [
    // flash: frames 0-2 of every 60 (media time 0–0.1 s of every 2 s), as the beep.
    '[0:v]format=yuv420p,drawbox=x=1160:y=100:w=100:h=100:color=black:t=fill,'
      + 'drawbox=x=1160:y=100:w=100:h=100:color=white:t=fill:enable=\'lt(mod(n,60),3)\','
      + 'settb=AVTB,setpts=RTCTIME,split[a][b]',
    `[b]crop=${W}:${CELL}:0:${H - CELL},geq=lum='255*mod(floor(floor(T*1000)/pow(2,floor(X/${CELL}))),2)':cb=128:cr=128[bar]`,
    `[a][bar]overlay=0:${H - CELL},drawtext=fontfile=${FONT}:text='%{pts\\:flt}   burned':fontsize=64:fontcolor=white:box=1:boxcolor=black:x=20:y=20,setpts=N/(30*TB)[v]`,
  ].join(';');
  const ffArgs = ['-hide_banner', '-nostats', '-loglevel', 'warning',
    '-re', '-f', 'lavfi', '-i', `testsrc=size=${W}x${H}:rate=30`,
    '-re', '-f', 'lavfi', '-i', `aevalsrc=exprs='${Array(AUDIO_CHANNELS).fill(beep).join('|')}':s=${AUDIO_RATE}`,
    '-filter_complex', filter, '-map', '[v]', '-map', '1:a',
    '-c:v', 'libx264', '-preset', PRESET, '-tune', 'zerolatency', '-profile:v', 'baseline', '-bf', '0', '-g', '30',
    '-b:v', VBITRATE, '-maxrate', VBITRATE, '-bufsize', VBITRATE,
    '-c:a', 'aac', '-b:a', AUDIO_BITRATE, '-ac', String(AUDIO_CHANNELS), '-ar', String(AUDIO_RATE),
    '-f', 'flv', `rtmp://127.0.0.1:${rtmpPort}/live/${streamName}?token=${token}`];
  if (SOURCE === 'rtmp') {
    console.error(`ffmpeg ${ffArgs.map((a) => (/[\s;'[\]]/.test(a) ? `"${a}"` : a)).join(' ')}`);
    run('ffmpeg', FFMPEG, ffArgs);
  }

  const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'podium-g2g-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_BIN, headless: true, args: CHROMIUM_ARGS, bypassCSP: true,
    viewport: { width: W, height: VIEW_H }, deviceScaleFactor: 1,
  });
  const result = { source: SOURCE, streamName, podium: PODIUM_BIN, preset: PRESET, videoBitrate: VBITRATE, warmupS: WARMUP_S, durationS: DURATION_S };
  try {
    const page = await context.newPage();
    const consoleLog = [];
    page.on('console', (m) => consoleLog.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => consoleLog.push(`pageerror: ${e.message}`));
    await page.goto(`${url}/healthz`);
    await page.setContent('<!doctype html><html><head><meta charset="utf-8"><title>glass to glass</title></head><body></body></html>');
    await page.evaluate(buildPage, { W, H, CELL, BITS, TOP });
    if (SOURCE === 'whip') {
      const publisher = await context.newPage();
      publisher.on('console', (m) => consoleLog.push(`publisher ${m.type()}: ${m.text()}`));
      await publisher.goto(`${url}/healthz`);
      await publisher.setContent('<!doctype html><html><head><meta charset="utf-8"><title>publisher</title></head><body style="margin:0"></body></html>');
      await publisher.evaluate(whipPublish, { endpoint: `${url}/whip/${streamName}`, token, W, H, CELL, BITS });
      await publisher.waitForFunction(() => window.publisher.pc.connectionState === 'connected', null, { timeout: 30_000 });
    }
    // Wait for the publication before viewing (a view of a stream not live yet also works).
    for (let i = 0; SOURCE === 'rtmp'; i += 1) {
      const m = await (await fetch(`${url}/metrics`)).text();
      if (/^podium_rtmp_publishes(_total)? [1-9]/m.test(m)) break;
      if (i > 100) throw new Error(`no RTMP publication:\n${logs.ffmpeg}\n${logs.podium.slice(-3000)}`);
      await sleep(100);
    }
    await page.evaluate(whepView, { endpoint: `${url}/whep/${streamName}`, W, H, CELL, BITS });
    await page.waitForFunction(() => window.bench.video.videoWidth > 0, null, { timeout: 30_000 });
    console.error(`playing; warm-up ${WARMUP_S} s`);
    await sleep(WARMUP_S * 1000);
    const statsBefore = await page.evaluate(receiverStats);
    const t0 = Date.now();
    const jiffies0 = cpuJiffies();
    result.loadavgBefore = readFileSync('/proc/loadavg', 'utf8').trim();
    await page.evaluate(() => { window.bench.samples.length = 0; });

    const shots = [];
    for (let i = 0; i < SHOTS; i += 1) {
      const due = t0 + (i + 0.5) * SHOT_EVERY_S * 1000;
      if (due > Date.now()) await sleep(due - Date.now());
      const file = path.join(outDir, `shot-${i + 1}.png`);
      await page.screenshot({ path: file });
      const read = readShot(file);
      read.srPlayoutOffsetMs = await page.evaluate(playoutOffset);
      shots.push({ file, ...read });
      console.error(`shot ${i + 1}: ${read.latencyMs === null ? 'barcode unreadable' : `${read.latencyMs} ms`}`);
    }
    const rest = t0 + DURATION_S * 1000 - Date.now();
    if (rest > 0) await sleep(rest);
    const { samples, undecodable, audioOnsets, videoOnsets } = await page.evaluate(() => ({
      samples: window.bench.samples, undecodable: window.bench.undecodable(), audioOnsets: window.bench.audioOnsets, videoOnsets: window.bench.videoOnsets,
    }));
    const statsAfter = await page.evaluate(receiverStats);
    const jiffies1 = cpuJiffies();
    result.machineBusyPct = Math.round((1000 * (jiffies1[0] - jiffies0[0])) / (jiffies1[1] - jiffies0[1])) / 10;
    result.loadavgAfter = readFileSync('/proc/loadavg', 'utf8').trim();
    result.topProcesses = execFileSync('ps', ['-eo', 'pcpu,etime,comm', '--sort=-pcpu']).toString().split('\n').slice(0, 8);

    const perFrame = samples.map((s) => modDiff(Math.round(s.display) % MOD, s.burned));
    const toReceive = samples.filter((s) => s.received !== null).map((s) => modDiff(Math.round(s.received) % MOD, s.burned));
    const delta = (k, f) => (statsAfter[k]?.[f] ?? 0) - (statsBefore[k]?.[f] ?? 0);
    const jb = (k) => { const n = delta(k, 'jitterBufferEmittedCount'); return n ? Math.round((delta(k, 'jitterBufferDelay') / n) * 1e4) / 10 : null; };
    const jbTarget = (k) => { const n = delta(k, 'jitterBufferEmittedCount'); return n ? Math.round((delta(k, 'jitterBufferTargetDelay') / n) * 1e4) / 10 : null; };
    // Pair each flash with the nearest beep (within 1 s); only onsets after t0.
    const av = videoOnsets.filter((v) => v.display >= t0).map((v) => {
      const a = audioOnsets.reduce((best, x) => (best === null || Math.abs(x - v.display) < Math.abs(best - v.display) ? x : best), null);
      return a !== null && Math.abs(a - v.display) < 1000 ? { atS: Math.round((v.display - t0) / 100) / 10, offsetMs: Math.round(a - v.display),
        videoLatencyMs: v.burned === null ? null : modDiff(Math.round(v.display) % MOD, v.burned),
        audioLatencyMs: v.burned === null ? null : modDiff(Math.round(a) % MOD, v.burned) } : null;
    }).filter(Boolean);
    Object.assign(result, {
      audio: { rate: AUDIO_RATE, channels: AUDIO_CHANNELS, bitrate: AUDIO_BITRATE },
      avSync: { pairs: av, offsetMs: stats(av.map((p) => p.offsetMs)), audioLatencyMs: stats(av.map((p) => p.audioLatencyMs).filter((x) => x !== null)),
        audioOnsets: audioOnsets.filter((a) => a >= t0).length, videoOnsets: videoOnsets.filter((v) => v.display >= t0).length },
      screenshots: shots.map((s) => ({ file: path.basename(s.file), burnedMsMod2e24: s.burnedMs, pageMsMod2e24: s.pageMs, latencyMs: s.latencyMs, srPlayoutOffsetMs: s.srPlayoutOffsetMs })),
      srPlayoutOffsetMs: stats(shots.map((s) => s.srPlayoutOffsetMs).filter((v) => v !== null)),
      screenshotLatencyMs: stats(shots.map((s) => s.latencyMs).filter((v) => v !== null)),
      perFrameLatencyMs: stats(perFrame),
      perFrameToReceiveMs: stats(toReceive),
      undecodableFrames: undecodable,
      window: {
        videoJitterBufferMs: jb('video'), videoJitterBufferTargetMs: jbTarget('video'), audioJitterBufferMs: jb('audio'), audioJitterBufferTargetMs: jbTarget('audio'),
        videoDecodeMsPerFrame: delta('video', 'framesDecoded') ? Math.round((delta('video', 'totalDecodeTime') / delta('video', 'framesDecoded')) * 1e4) / 10 : null,
        videoFramesDecoded: delta('video', 'framesDecoded'), videoFramesDropped: delta('video', 'framesDropped'),
        videoPacketsLost: delta('video', 'packetsLost'), audioPacketsLost: delta('audio', 'packetsLost'),
        videoFreezes: delta('video', 'freezeCount'), audioConcealedSamples: delta('audio', 'concealedSamples'),
        audioSamplesPlayed: delta('audio', 'totalSamplesReceived'), audioPacketsReceived: delta('audio', 'packetsReceived'),
        audioPacketsDiscarded: delta('audio', 'packetsDiscarded'), audioJitterMs: Math.round((statsAfter.audio?.jitter ?? 0) * 1000),
        videoJitterMs: Math.round((statsAfter.video?.jitter ?? 0) * 1000),
      },
      receiverStats: statsAfter,
      console: consoleLog,
    });
    const metrics = await (await fetch(`${url}/metrics`)).text();
    result.metrics = metrics.split('\n').filter((l) => /^podium_(rtmp|local)/.test(l));
  } finally {
    await context.close().catch(() => {});
    await rm(userDataDir, { recursive: true, force: true });
    for (const c of children.reverse()) {
      c.kill('SIGTERM');
      await Promise.race([new Promise((r) => c.once('exit', r)), sleep(3000)]);
    }
    await writeFile(path.join(outDir, 'podium.log'), logs.podium);
    await writeFile(path.join(outDir, 'ffmpeg.log'), logs.ffmpeg);
    await rm(dataDir, { recursive: true, force: true });
  }
  result.serverWarnings = logs.podium.split('\n').filter((l) => /WARN|ERROR/.test(l)).slice(0, 50);
  await writeFile(path.join(outDir, 'result.json'), `${JSON.stringify(result, null, 2)}\n`);
  const { receiverStats: _r, console: _c, ...summary } = result;
  console.log(JSON.stringify(summary, null, 2));
  console.error(`output in ${outDir}`);
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
