#!/usr/bin/env node
// Cheap WHEP viewers for the CPU benchmark: one headless Chromium, one page per stream, each
// a recvonly audio + video RTCPeerConnection over WHEP. The viewers receive every packet
// (ICE, DTLS, SRTP, RTCP feedback as a real viewer), but by default drop the encoded frames
// through encoded insertable streams instead of decoding them, so the browser costs little
// CPU next to the server under test (--decode to decode and play them).
//
// Usage: node bench/rtmp/whep-viewers.mjs --url http://127.0.0.1:8080 --streams a,b,c [--decode]
// Runs until SIGINT/SIGTERM, then prints per-stream receive counters as JSON on stdout.
// Prints "ready" on stderr when every viewer has received video.
import { createRequire } from 'node:module';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.resolve(here, '../../web/package.json'));
const { chromium } = require('playwright-core');

const { values: opt } = parseArgs({
  options: { url: { type: 'string' }, streams: { type: 'string' }, decode: { type: 'boolean', default: false } },
});
if (!opt.url || !opt.streams) {
  console.error('usage: whep-viewers.mjs --url URL --streams a,b,c [--decode]');
  process.exit(2);
}
const streams = opt.streams.split(',').filter(Boolean);

async function view({ endpoint, decode }) {
  const pc = new RTCPeerConnection(decode ? {} : { encodedInsertableStreams: true });
  const video = pc.addTransceiver('video', { direction: 'recvonly' });
  const audio = pc.addTransceiver('audio', { direction: 'recvonly' });
  const drops = { video: 0, audio: 0 };
  if (!decode) {
    for (const [kind, t] of [['video', video], ['audio', audio]]) {
      const { readable } = t.receiver.createEncodedStreams();
      // Read and drop: nothing reaches the decoder.
      readable.pipeTo(new WritableStream({ write() { drops[kind] += 1; } })).catch(() => {});
    }
  }
  await pc.setLocalDescription(await pc.createOffer());
  const res = await fetch(endpoint, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp });
  const body = await res.text();
  if (res.status !== 201) throw new Error(`POST ${endpoint} → ${res.status} ${body}`);
  await pc.setRemoteDescription({ type: 'answer', sdp: body });
  if (decode) {
    const v = Object.assign(document.createElement('video'), { autoplay: true, muted: true, playsInline: true });
    v.srcObject = new MediaStream([video.receiver.track, audio.receiver.track]);
    document.body.append(v);
    v.play().catch(() => {});
  }
  window.viewer = { pc, drops };
}

async function counters() {
  const out = { connectionState: window.viewer.pc.connectionState, framesDropped: window.viewer.drops };
  (await window.viewer.pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp') {
      out[s.kind] = { packetsReceived: s.packetsReceived, packetsLost: s.packetsLost, bytesReceived: s.bytesReceived, framesDecoded: s.framesDecoded };
    }
  });
  return out;
}

const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'podium-bench-viewers-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
  headless: true,
  bypassCSP: true,
  // This script handles the signals (it reports before closing the browser).
  handleSIGINT: false,
  handleSIGTERM: false,
  handleSIGHUP: false,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--allow-loopback-in-peer-connection', '--autoplay-policy=no-user-gesture-required'],
});
const pages = [];
let stopping = false;
async function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  const report = {};
  for (const [i, page] of pages.entries()) report[streams[i]] = await page.evaluate(counters).catch((e) => ({ error: String(e) }));
  console.log(JSON.stringify(report));
  await context.close().catch(() => {});
  await rm(userDataDir, { recursive: true, force: true });
  process.exit(code);
}
process.on('SIGINT', () => stop());
process.on('SIGTERM', () => stop());
try {
  for (const name of streams) {
    const page = await context.newPage();
    await page.goto(`${opt.url}/healthz`);
    await page.evaluate(view, { endpoint: `${opt.url}/whep/${encodeURIComponent(name)}`, decode: opt.decode });
    pages.push(page);
  }
  for (const page of pages) {
    await page.waitForFunction(async () => {
      let n = 0;
      (await window.viewer.pc.getStats()).forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') n = s.packetsReceived; });
      return n > 0;
    }, null, { timeout: 30_000, polling: 200 });
  }
  console.error('ready');
} catch (err) {
  console.error(err);
  await stop(1);
}
