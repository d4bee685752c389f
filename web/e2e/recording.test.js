// Recording: the OFFICIAL Millicast JS SDK (npm @millicast/sdk, the way an app records on
// Millicast) publishes from Chromium's fake camera + microphone with VP8 + Opus, and the server
// writes the publication to DATA_DIR/recordings/STREAM/main-YYYYMMDDTHHMMSSZ-ID.webm, listed,
// downloaded and deleted through the admin API (/api/admin/recordings).
//
//   (1) a publish token with the `record` permission (admin API `record: true`; the Director's
//       JWT then carries `millicast.record`, the SDK's `recordingAvailable`) publishes with
//       `connect({record: true})` for about 4 s and stops; the file is listed (recording:false)
//       and downloaded; ffprobe finds a WebM (matroska,webm) with a VP8 video stream of the
//       camera's size and an Opus audio stream, as long as the publication (±1 s); ffmpeg
//       decodes it without a single error; the publisher got the `recording` event `started`
//       naming that file (`finished` cannot reach it: publish.stop() closes the socket first).
//   (2) `record` / `unrecord` commands mid-publication (SDK publish.record()/unrecord()):
//       publish without recording, record after 1 s, unrecord 2 s later, go on 1 s, stop: one
//       file of about 2 s; while it is written it is listed recording:true and DELETE answers
//       409; the publisher got `started` then `finished` (with the file's size in bytes).
//   (3) a token without the permission: the SDK itself refuses connect({record: true})
//       (recordingAvailable false, nothing sent); the same `publish` command with record:true
//       sent through the SDK's Signaling is refused by the server with "Token does not allow
//       recording"; a `record` command on a live publication too; nothing is listed.
//   (4) clean-up: DELETE every recording through the admin API; the list is empty, the files
//       are gone (404 on download).
// Needs ffprobe/ffmpeg on the PATH (Debian ffmpeg; FFPROBE_BIN / FFMPEG_BIN override).
// On failure the message carries the SDK events, the WebSocket frames, the SDK log, page
// consoles and the server log tail; a full dump goes to web/test-results/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  useServerAndBrowser, uniqueStreamName, adminRequest, createToken, ADMIN_SECRET, RESULTS_DIR, FFMPEG_BIN, sleep,
} from './helpers.js';
import { SDK_PKG, openSdkPage as openSdkPageOf } from './sdk-page.js';

const run = promisify(execFile);
const FFPROBE_BIN = process.env.FFPROBE_BIN || 'ffprobe';
/** The server's refusal of recording without the token permission. */
const NOT_RECORDABLE = 'Token does not allow recording';
/** A recording's file name: SOURCE-YYYYMMDDTHHMMSSZ-ID.webm (main source: "main"). */
const WEBM_NAME = /^main-(\d{8}T\d{6}Z)-\d+\.webm$/;

let workDir;
const env = useServerAndBrowser({
  setup: async ({ browser }) => {
    workDir = await mkdtemp(path.join(os.tmpdir(), 'podium-e2e-rec-'));
    // Record every WebSocket frame in every page (for failure reports).
    await browser.context.addInitScript(installWsRecorder);
  },
  teardown: async () => {
    if (workDir) await rm(workDir, { recursive: true, force: true });
  },
});

// ---------------------------------------------------------------------------
// In-page code

/** Init script: wraps window.WebSocket to log all frames in window.__wsLog. */
function installWsRecorder() {
  if (window.__wsLog) return;
  const log = [];
  window.__wsLog = log;
  const Native = window.WebSocket;
  const parse = (data) => {
    try { return JSON.parse(data); } catch { return String(data); }
  };
  class RecordingWebSocket extends Native {
    constructor(url, protocols) {
      super(url, protocols);
      const id = log.filter((e) => e.kind === 'open-request').length;
      this.__id = id;
      log.push({ t: performance.now(), ws: id, kind: 'open-request', url: String(url).replace(/token=[^&]+/, 'token=<jwt>') });
      this.addEventListener('message', (e) => log.push({ t: performance.now(), ws: id, kind: 'in', msg: parse(e.data) }));
      this.addEventListener('close', (e) => log.push({ t: performance.now(), ws: id, kind: 'close', code: e.code, reason: e.reason }));
    }

    send(data) {
      log.push({ t: performance.now(), ws: this.__id, kind: 'out', msg: parse(data) });
      return super.send(data);
    }
  }
  window.WebSocket = RecordingWebSocket;
}

/** Runs inside the page: loads the SDK and installs window.recE2E. */
async function installRecHarness() {
  if (window.recE2E) return true;
  if (!window.podiumE2E) throw new Error('window.podiumE2E (e2e/page-harness.js) is missing in this page');
  const sdk = await import('/__sdk/millicast.js');
  const errText = (e) => (typeof e === 'string' ? e : (e?.message ?? JSON.stringify(e)));
  const h = {
    events: [],
    errors: [],
    publish: null,
    localStream: null,

    push(name, data) {
      h.events.push({ t: performance.now(), wall: Date.now(), name, data });
    },

    /** Fake camera (640x360, kept at that size: contentHint "detail") + fake microphone. */
    async media() {
      const stream = await window.podiumE2E.getMedia({ audio: true, video: true });
      // Keep the encoder at the camera's size even on a loaded machine (maintain-resolution),
      // so the recording's frame size is the camera's.
      for (const t of stream.getVideoTracks()) t.contentHint = 'detail';
      return stream;
    },

    /**
     * SDK publish (VP8); `record` is passed to connect() when not undefined. Resolves once the
     * RTCPeerConnection is connected with the wall-clock time of that moment; a rejected
     * connect() resolves to {error}.
     */
    async startPublish({ streamName, token, record, timeout = 30000 }) {
      const { Director, Publish } = sdk;
      Director.setEndpoint(location.origin);
      const publish = new Publish(streamName, () => Director.getPublisher({ token, streamName }));
      h.publish = publish;
      publish.on('broadcastEvent', (e) => h.push(e.name, e.data ?? null));
      publish.on('connectionStateChange', (s) => h.push('connectionStateChange', s));
      h.localStream = await h.media();
      const options = { mediaStream: h.localStream, codec: 'vp8' };
      if (record !== undefined) options.record = record;
      try {
        await publish.connect(options);
      } catch (err) {
        h.errors.push(`publish.connect threw: ${errText(err)}`);
        for (const t of h.localStream.getTracks()) t.stop();
        return { error: errText(err), recordingAvailable: publish.recordingAvailable ?? null };
      }
      await window.podiumE2E.until(() => publish.getRTCPeerConnection()?.connectionState === 'connected', timeout,
        () => `publisher connectionState=${publish.getRTCPeerConnection()?.connectionState}`);
      const settings = h.localStream.getVideoTracks()[0].getSettings();
      return {
        connectedAt: Date.now(),
        recordingAvailable: publish.recordingAvailable,
        width: settings.width,
        height: settings.height,
      };
    },

    /** publish.record() / publish.unrecord(): resolves to {at: wall time when done} or {error}. */
    async sdkCall(method) {
      try {
        await h.publish[method]();
        return { at: Date.now() };
      } catch (err) {
        return { error: errText(err) };
      }
    },

    /** A raw command on the publisher's signaling (bypasses the SDK's recordingAvailable check). */
    async cmd(name) {
      try {
        return { ok: await h.publish.signaling.cmd(name) };
      } catch (err) {
        return { error: errText(err) };
      }
    },

    /** Millicast `publish` command with record:true through the SDK's Signaling class. */
    async signalingPublishWithRecord({ streamName, token }) {
      const { Director, Signaling } = sdk;
      Director.setEndpoint(location.origin);
      const data = await Director.getPublisher({ token, streamName });
      const signaling = new Signaling({ streamName, url: `${data.urls[0]}?token=${data.jwt}` });
      signaling.on('broadcastEvent', (e) => h.push(e.name, e.data ?? null));
      const stream = await h.media();
      const pc = new RTCPeerConnection();
      for (const t of stream.getTracks()) pc.addTrack(t, stream);
      const offer = await pc.createOffer();
      let result;
      try {
        await signaling.connect();
        const answer = await signaling.publish(offer.sdp, { codec: 'vp8', record: true });
        result = { answer: typeof answer === 'string' ? answer.slice(0, 40) : answer };
      } catch (err) {
        result = { error: errText(err) };
      }
      signaling.close();
      pc.close();
      for (const t of stream.getTracks()) t.stop();
      return result;
    },

    /** The video sender's outbound-rtp counters (keyframes sent, PLI/FIR received). */
    async videoSenderStats() {
      const report = await h.publish.getRTCPeerConnection().getStats();
      for (const r of report.values()) {
        if (r.type === 'outbound-rtp' && r.kind === 'video') {
          return { framesEncoded: r.framesEncoded, keyFramesEncoded: r.keyFramesEncoded, pliCount: r.pliCount, firCount: r.firCount, nackCount: r.nackCount };
        }
      }
      return null;
    },

    /** publish.stop() and the camera off; returns the wall-clock time. */
    stopPublish() {
      h.publish.stop();
      for (const t of h.localStream?.getTracks() ?? []) t.stop();
      return Date.now();
    },

    recordingEvents() {
      return h.events.filter((e) => e.name === 'recording').map((e) => ({ wall: e.wall, ...e.data }));
    },

    snapshot() {
      let sdkLog = [];
      try { sdkLog = sdk.Logger.getHistory().slice(-40); } catch { /* ignore */ }
      return { url: location.href, events: h.events, errors: h.errors, wsFrames: window.__wsLog ?? [], sdkLog };
    },
  };
  window.recE2E = h;
  return true;
}

// ---------------------------------------------------------------------------
// Node-side helpers

/** Open a page on the Podium origin with the SDK (request interception) and the harness. */
function openSdkPage(label) {
  return openSdkPageOf(env, label, installRecHarness);
}

/** Call recE2E[method](arg) in the page. */
function pageCall(page, method, arg) {
  return page.evaluate(([m, a]) => window.recE2E[m](a), [method, arg]);
}

const truncate = (s, n = 400) => (typeof s === 'string' && s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s);

function compactFrame(f) {
  const head = `${Math.round(f.t)}ms ws${f.ws} ${f.kind}`;
  if (f.kind !== 'in' && f.kind !== 'out') return `${head} ${JSON.stringify({ ...f, t: undefined, ws: undefined, kind: undefined })}`;
  const msg = f.msg;
  if (msg?.data && typeof msg.data.sdp === 'string') return `${head} ${JSON.stringify({ ...msg, data: { ...msg.data, sdp: `<sdp ${msg.data.sdp.length} chars>` } })}`;
  return `${head} ${truncate(JSON.stringify(msg), 600)}`;
}

/** Compact + full diagnostics of the pages, the recordings list and the server. */
async function recDiagnostics(pages) {
  const compact = [];
  const full = [];
  for (const page of pages) {
    let snap = null;
    try {
      snap = await page.evaluate(() => window.recE2E?.snapshot() ?? { note: 'recE2E not installed', wsFrames: window.__wsLog ?? [] });
    } catch (err) {
      compact.push(`--- page ${page.label}: snapshot failed: ${err.message}`);
    }
    if (snap) {
      compact.push(`--- page ${page.label} events ---\n${(snap.events ?? []).map((e) => `${Math.round(e.t)}ms ${e.name} ${truncate(JSON.stringify(e.data), 300)}`).join('\n')}`);
      if (snap.errors?.length) compact.push(`--- page ${page.label} errors ---\n${snap.errors.join('\n')}`);
      compact.push(`--- page ${page.label} WebSocket frames ---\n${(snap.wsFrames ?? []).map(compactFrame).join('\n')}`);
      if (snap.sdkLog?.length) compact.push(`--- page ${page.label} SDK log (tail) ---\n${snap.sdkLog.slice(-10).map((l) => truncate(l, 300)).join('\n')}`);
      full.push(`--- page ${page.label} ---\n${JSON.stringify(snap, null, 2)}`);
    }
    if (page.consoleLog?.length) {
      compact.push(`--- page ${page.label} console (tail) ---\n${page.consoleLog.slice(-15).map((l) => truncate(l, 300)).join('\n')}`);
      full.push(`--- page ${page.label} console ---\n${page.consoleLog.join('\n')}`);
    }
  }
  try {
    compact.push(`--- GET /api/admin/recordings ---\n${JSON.stringify(await adminRequest(env.server, 'GET', '/api/admin/recordings'))}`);
  } catch (err) {
    compact.push(`--- GET /api/admin/recordings failed: ${err.message}`);
  }
  compact.push(`--- server output (tail) ---\n${env.server.tail(60)}`);
  full.push(`--- server output ---\n${env.server.logs()}`);
  try {
    await mkdir(RESULTS_DIR, { recursive: true });
    const file = path.join(RESULTS_DIR, `failure-recording-${new Date().toISOString().replace(/[:.]/g, '-')}.txt`);
    await writeFile(file, full.join('\n'));
    compact.push(`--- full dump (SDK events, frames, SDK log, server log): ${file}`);
  } catch (err) {
    compact.push(`--- could not write full dump: ${err.message}`);
  }
  return compact.join('\n');
}

async function withRecDiagnostics(pages, fn) {
  try {
    return await fn();
  } catch (err) {
    if (!String(err?.message).includes('--- page')) {
      try {
        err.message += `\n${await recDiagnostics(pages)}`;
      } catch (diagErr) {
        err.message += `\n(diagnostics failed: ${diagErr.message})\n--- server output (tail) ---\n${env.server.tail(60)}`;
      }
    }
    throw err;
  }
}

/** GET /api/admin/recordings → the recordings array (asserts the envelope). */
async function listRecordings() {
  const res = await adminRequest(env.server, 'GET', '/api/admin/recordings');
  assert.equal(res.status, 200, `GET /api/admin/recordings → ${res.status} ${JSON.stringify(res.body)}`);
  assert.equal(res.body?.status, 'success', `GET /api/admin/recordings body ${JSON.stringify(res.body)}`);
  assert.ok(Array.isArray(res.body?.data?.recordings), `data.recordings is an array: ${JSON.stringify(res.body)}`);
  return res.body.data.recordings;
}

/** Poll the list until `pred(recordings of streamName)` is truthy; returns that value. */
async function waitForRecordings(streamName, pred, { what, timeout = 20_000 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = (await listRecordings()).filter((r) => r.stream === streamName);
    const value = pred(last);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeout} ms waiting for ${what}; recordings of ${streamName}: ${JSON.stringify(last)}`);
    await sleep(250);
  }
}

/** Poll the page's recording events until `pred(events)` is truthy; a `failed` event fails at once. */
async function waitForEvents(page, pred, { what, timeout = 15_000 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const events = await pageCall(page, 'recordingEvents');
    if (pred(events)) return events;
    const failed = events.find((e) => e.status === 'failed');
    if (failed) throw new Error(`The server reports the recording failed (reason "${failed.reason}") while waiting for ${what}; recording events: ${JSON.stringify(events)}`);
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeout} ms waiting for ${what}; recording events: ${JSON.stringify(events)}`);
    await sleep(100);
  }
}

function recordingUrl(rec) {
  return `/api/admin/recordings/${encodeURIComponent(rec.stream)}/${encodeURIComponent(rec.file)}`;
}

/** Download a recording through the admin API to a temp file; returns its path and headers. */
async function download(rec) {
  const res = await fetch(`${env.server.url}${recordingUrl(rec)}`, {
    headers: { Authorization: `Bearer ${ADMIN_SECRET}` }, signal: AbortSignal.timeout(30_000),
  });
  const body = Buffer.from(await res.arrayBuffer());
  assert.equal(res.status, 200, `GET ${recordingUrl(rec)} → ${res.status} ${truncate(body.toString('utf8'), 300)}`);
  const file = path.join(workDir, `${rec.stream}-${rec.file}`);
  await writeFile(file, body);
  return { file, size: body.length, contentType: res.headers.get('content-type'), disposition: res.headers.get('content-disposition') };
}

async function ffprobe(file) {
  const { stdout } = await run(FFPROBE_BIN, ['-v', 'error', '-show_streams', '-show_format', '-of', 'json', file], { maxBuffer: 16 << 20 });
  return JSON.parse(stdout);
}

/** `ffmpeg -v error -i FILE -f null -`: everything it printed (errors only) and its exit code. */
async function decodeErrors(file) {
  try {
    const { stdout, stderr } = await run(FFMPEG_BIN, ['-hide_banner', '-nostdin', '-v', 'error', '-i', file, '-f', 'null', '-'], { maxBuffer: 16 << 20 });
    return { code: 0, output: `${stdout}${stderr}`.trim() };
  } catch (err) {
    return { code: err.code, output: `${err.stdout ?? ''}${err.stderr ?? err.message}`.trim() };
  }
}

/** Number of decoded frames per stream kind (`-show_entries stream=… -count_frames`). */
async function countFrames(file) {
  const { stdout } = await run(FFPROBE_BIN, ['-v', 'error', '-count_frames', '-show_entries', 'stream=codec_type,nb_read_frames', '-of', 'json', file], { maxBuffer: 16 << 20 });
  const out = {};
  for (const s of JSON.parse(stdout).streams ?? []) out[s.codec_type] = Number(s.nb_read_frames);
  return out;
}

/**
 * Download `rec`, then check it with ffprobe/ffmpeg: a WebM with one VP8 video stream of
 * `width`x`height` and one Opus audio stream, `expectedSec` long (±1 s), decoding cleanly.
 * Returns a summary for the log.
 */
async function checkWebm(rec, { width, height, expectedSec }) {
  const dl = await download(rec);
  assert.equal(dl.size, rec.bytes, `downloaded size = listed bytes (${dl.size} vs ${rec.bytes})`);
  assert.match(dl.disposition ?? '', new RegExp(`attachment; filename="${rec.file.replace(/\./g, '\\.')}"`), `Content-Disposition ${dl.disposition}`);
  const probe = await ffprobe(dl.file);
  const video = probe.streams.filter((s) => s.codec_type === 'video');
  const audio = probe.streams.filter((s) => s.codec_type === 'audio');
  const streams = probe.streams.map((s) => `${s.codec_type}:${s.codec_name}${s.width ? ` ${s.width}x${s.height}` : ''}${s.sample_rate ? ` ${s.sample_rate}Hz/${s.channels}ch` : ''}`);
  assert.equal(probe.format.format_name, 'matroska,webm', `container (ffprobe format_name ${probe.format.format_name})`);
  assert.equal(video.length, 1, `one video stream (${JSON.stringify(streams)})`);
  assert.equal(audio.length, 1, `one audio stream (${JSON.stringify(streams)})`);
  assert.equal(video[0].codec_name, 'vp8', `video codec (${JSON.stringify(streams)})`);
  assert.equal(audio[0].codec_name, 'opus', `audio codec (${JSON.stringify(streams)})`);
  assert.equal(video[0].width, width, `video width = the camera's (${video[0].width} vs ${width})`);
  assert.equal(video[0].height, height, `video height = the camera's (${video[0].height} vs ${height})`);
  assert.equal(Number(audio[0].sample_rate), 48000, `Opus at 48 kHz (${audio[0].sample_rate})`);
  const duration = Number(probe.format.duration);
  assert.ok(Number.isFinite(duration), `the container has a duration (format.duration ${probe.format.duration})`);
  assert.ok(Math.abs(duration - expectedSec) <= 1, `duration ${duration.toFixed(2)} s within ±1 s of the recorded time ${expectedSec.toFixed(2)} s`);
  const decoded = await decodeErrors(dl.file);
  assert.equal(decoded.code, 0, `ffmpeg decode exit code (output: ${truncate(decoded.output, 2000)})`);
  assert.equal(decoded.output, '', `ffmpeg -v error decodes the whole file without an error (got: ${truncate(decoded.output, 2000)})`);
  const frames = await countFrames(dl.file);
  // The fake camera sends 30 fps (the encoder may drop some on a loaded machine); Opus 50 packets/s.
  assert.ok(frames.video >= expectedSec * 10, `decoded video frames ${frames.video} for ${expectedSec.toFixed(1)} s`);
  assert.ok(frames.audio >= expectedSec * 40, `decoded audio frames ${frames.audio} for ${expectedSec.toFixed(1)} s`);
  return {
    file: rec.file, bytes: rec.bytes, contentType: dl.contentType, format: probe.format.format_name, duration, streams, frames,
  };
}

/** The file name's YYYYMMDDTHHMMSSZ as ms since the epoch. */
function stampOf(name) {
  const m = WEBM_NAME.exec(name);
  if (!m) return NaN;
  const s = m[1];
  return Date.UTC(+s.slice(0, 4), +s.slice(4, 6) - 1, +s.slice(6, 8), +s.slice(9, 11), +s.slice(11, 13), +s.slice(13, 15));
}

const secs = (ms) => ms / 1000;

// ---------------------------------------------------------------------------
// Tests

let recordToken;
let plainToken;
/** Stream names of tests (1) and (2), for the clean-up test. */
const recordedStreams = [];

async function tokens() {
  if (!recordToken) recordToken = await createToken(env.server, { label: 'rec', streams: ['*'], record: true });
  if (!plainToken) plainToken = await createToken(env.server, { label: 'norec', streams: ['*'], record: false });
  return { recordToken, plainToken };
}

test(`@millicast/sdk ${SDK_PKG.version}: connect({record: true}) writes a WebM with VP8 + Opus, downloadable and decodable`, { timeout: 120_000 }, async () => {
  const { recordToken: token } = await tokens();
  assert.equal(token.token.record, true, `the admin API reply shows the record permission: ${JSON.stringify(token.token)}`);
  const streamName = uniqueStreamName('rec');
  recordedStreams.push(streamName);
  const pub = await openSdkPage('SDK-pub-record');
  await withRecDiagnostics([pub], async () => {
    const t0 = Date.now();
    const started = await pageCall(pub, 'startPublish', { streamName, token: token.secret, record: true });
    assert.equal(started.error, undefined, `publish.connect({record: true}) succeeds: ${started.error}`);
    assert.equal(started.recordingAvailable, true, 'the Director JWT carries millicast.record (SDK recordingAvailable)');

    await waitForEvents(pub, (ev) => ev.some((e) => e.status === 'started'), { what: 'the recording event "started"' });
    const live = await waitForRecordings(streamName, (rs) => rs.length === 1 && rs[0].recording === true && rs,
      { what: 'the file listed with recording:true while publishing' });
    assert.match(live[0].file, WEBM_NAME, 'file name SOURCE-YYYYMMDDTHHMMSSZ-ID.webm');
    assert.ok(Math.abs(stampOf(live[0].file) - t0) < 60_000, `the name's time ${live[0].file} is about now (${new Date(t0).toISOString()})`);

    await sleep(4000);
    const stoppedAt = await pageCall(pub, 'stopPublish');
    const recordedSec = secs(stoppedAt - started.connectedAt);

    const [rec] = await waitForRecordings(streamName, (rs) => rs.length === 1 && rs[0].recording === false && rs,
      { what: 'the file listed with recording:false after publish.stop()' });
    assert.equal(rec.file, live[0].file, 'the same file');
    assert.ok(rec.bytes > 10_000, `a few seconds of VP8 + Opus (${rec.bytes} bytes)`);
    assert.ok(Number.isFinite(Date.parse(rec.modifiedAt)) || Number.isFinite(rec.modifiedAt), `modifiedAt ${rec.modifiedAt}`);

    const summary = await checkWebm(rec, { width: started.width, height: started.height, expectedSec: recordedSec });
    assert.match(summary.contentType ?? '', /^video\/webm/, `Content-Type ${summary.contentType}`);

    const events = await pageCall(pub, 'recordingEvents');
    const startedEv = events.filter((e) => e.status === 'started');
    assert.equal(startedEv.length, 1, `one "started" event: ${JSON.stringify(events)}`);
    assert.equal(path.posix.basename(startedEv[0].file), rec.file, `the "started" event names the file (${startedEv[0].file})`);
    assert.ok(!events.some((e) => e.status === 'failed'), `no "failed" event: ${JSON.stringify(events)}`);
    console.log(`[recording] (1) published ${recordedSec.toFixed(2)} s (connected → stop); ${JSON.stringify(summary)}; events ${JSON.stringify(events)}`);
  });
  await pub.close();
});

test(`@millicast/sdk ${SDK_PKG.version}: publish.record() / unrecord() mid-publication record the 2 s in between`, { timeout: 120_000 }, async () => {
  const { recordToken: token } = await tokens();
  const streamName = uniqueStreamName('rec-cmd');
  recordedStreams.push(streamName);
  const pub = await openSdkPage('SDK-pub-record-cmd');
  await withRecDiagnostics([pub], async () => {
    const started = await pageCall(pub, 'startPublish', { streamName, token: token.secret });
    assert.equal(started.error, undefined, `publish.connect() succeeds: ${started.error}`);
    assert.equal(started.recordingAvailable, true, 'recordingAvailable');
    await sleep(1000);
    assert.deepEqual((await listRecordings()).filter((r) => r.stream === streamName), [], 'nothing recorded without record');

    const senderBefore = await pageCall(pub, 'videoSenderStats');
    const rec1 = await pageCall(pub, 'sdkCall', 'record');
    assert.equal(rec1.error, undefined, `publish.record() succeeds: ${rec1.error}`);
    // The file starts at a video keyframe: the server has to ask the publisher for one at once
    // (a browser sends them rarely on its own).
    let startedEvents;
    try {
      startedEvents = await waitForEvents(pub, (ev) => ev.some((e) => e.status === 'started'),
        { what: 'the recording event "started" after record() (the file starts at a keyframe the server asks for)', timeout: 3000 });
    } catch (err) {
      const senderAfter = await pageCall(pub, 'videoSenderStats');
      err.message += `\npublisher video sender before record(): ${JSON.stringify(senderBefore)}; now: ${JSON.stringify(senderAfter)}`;
      throw err;
    }
    const startedEv = startedEvents.find((e) => e.status === 'started');
    const live = await waitForRecordings(streamName, (rs) => rs.length === 1 && rs[0].recording === true && rs,
      { what: 'the file listed with recording:true after "started"', timeout: 2000 });
    const del = await adminRequest(env.server, 'DELETE', recordingUrl(live[0]));
    assert.equal(del.status, 409, `DELETE while it is written → 409 (${del.status} ${JSON.stringify(del.body)})`);
    await sleep(Math.max(0, rec1.at + 2000 - Date.now()));
    const unrec = await pageCall(pub, 'sdkCall', 'unrecord');
    assert.equal(unrec.error, undefined, `publish.unrecord() succeeds: ${unrec.error}`);
    // From the first written media (about "started") to unrecord().
    const recordedSec = secs(unrec.at - Math.max(rec1.at, startedEv.wall));

    // Finished while the publication goes on: the publisher hears `finished`.
    const events = await waitForEvents(pub, (ev) => ev.some((e) => e.status === 'finished'), { what: 'the recording event "finished" after unrecord()' });
    const [rec] = await waitForRecordings(streamName, (rs) => rs.length === 1 && rs[0].recording === false && rs,
      { what: 'the file listed with recording:false after unrecord()', timeout: 5000 });
    await sleep(1000);
    await pageCall(pub, 'stopPublish');

    assert.deepEqual(events.map((e) => e.status), ['started', 'finished'], `events started then finished: ${JSON.stringify(events)}`);
    for (const e of events) assert.equal(path.posix.basename(e.file), rec.file, `event "${e.status}" names the file (${e.file})`);
    const finished = events[1];
    assert.equal(finished.bytes, rec.bytes, `"finished" bytes = listed bytes (${finished.bytes} vs ${rec.bytes})`);

    await sleep(1000);
    const after = (await listRecordings()).filter((r) => r.stream === streamName);
    assert.deepEqual(after.map((r) => [r.file, r.recording, r.bytes]), [[rec.file, false, rec.bytes]],
      'still one file, unchanged by the publication going on and stopping');

    const summary = await checkWebm(rec, { width: started.width, height: started.height, expectedSec: recordedSec });
    console.log(`[recording] (2) record → unrecord ${recordedSec.toFixed(2)} s; ${JSON.stringify(summary)}; events ${JSON.stringify(events)}`);
  });
  await pub.close();
});

test(`@millicast/sdk ${SDK_PKG.version}: a token without the record permission cannot record`, { timeout: 120_000 }, async () => {
  const { plainToken: token } = await tokens();
  assert.ok(!token.token.record, `the token has no record permission: ${JSON.stringify(token.token)}`);
  const streamName = uniqueStreamName('rec-denied');
  const pub = await openSdkPage('SDK-pub-norecord');
  await withRecDiagnostics([pub], async () => {
    // The SDK reads millicast.record from the Director JWT and refuses before any command.
    const sdkRefusal = await pageCall(pub, 'startPublish', { streamName, token: token.secret, record: true });
    assert.equal(sdkRefusal.recordingAvailable, false, `the JWT says no recording (recordingAvailable ${sdkRefusal.recordingAvailable})`);
    assert.match(sdkRefusal.error ?? '', /recording is not available/, `the SDK refuses connect({record: true}): ${sdkRefusal.error}`);

    // The same `publish` command sent anyway (SDK Signaling.publish): the server refuses.
    const serverRefusal = await pageCall(pub, 'signalingPublishWithRecord', { streamName, token: token.secret });
    assert.equal(serverRefusal.error, NOT_RECORDABLE, `publish with record:true is refused: ${JSON.stringify(serverRefusal)}`);

    // Publishing without recording works; the `record` command on it is refused.
    const published = await pageCall(pub, 'startPublish', { streamName, token: token.secret });
    assert.equal(published.error, undefined, `publish without record succeeds: ${published.error}`);
    const recordCmd = await pageCall(pub, 'cmd', 'record');
    assert.equal(recordCmd.error, NOT_RECORDABLE, `the record command is refused: ${JSON.stringify(recordCmd)}`);
    await sleep(1500);
    const events = await pageCall(pub, 'recordingEvents');
    assert.deepEqual(events, [], 'no recording event');
    assert.deepEqual((await listRecordings()).filter((r) => r.stream === streamName), [], 'nothing listed for the stream');
    await pageCall(pub, 'stopPublish');
    console.log(`[recording] (3) refusals: SDK "${sdkRefusal.error}"; server publish "${serverRefusal.error}"; record cmd "${recordCmd.error}"`);
  });
  await pub.close();
});

test('clean-up: DELETE every recording through the admin API leaves the list empty', { timeout: 60_000 }, async () => {
  await withRecDiagnostics([], async () => {
    const all = await listRecordings();
    // Tests (1) and (2) check their own files; here only that there is something to delete.
    assert.ok(all.length > 0, `recordings of the earlier tests (${recordedStreams.join(', ')}) are listed before the clean-up: ${JSON.stringify(all)}`);
    for (const rec of all) {
      assert.equal(rec.recording, false, `nothing is being written any more: ${JSON.stringify(rec)}`);
      const res = await adminRequest(env.server, 'DELETE', recordingUrl(rec));
      assert.ok(res.status === 200 || res.status === 204, `DELETE ${recordingUrl(rec)} → ${res.status} ${JSON.stringify(res.body)}`);
    }
    assert.deepEqual(await listRecordings(), [], 'the list is empty after the deletes');
    for (const rec of all) {
      const res = await adminRequest(env.server, 'GET', recordingUrl(rec));
      assert.equal(res.status, 404, `a deleted recording is gone: GET ${recordingUrl(rec)} → ${res.status}`);
      const again = await adminRequest(env.server, 'DELETE', recordingUrl(rec));
      assert.equal(again.status, 404, `DELETE of a deleted recording → 404 (${again.status})`);
    }
    const noAuth = await fetch(`${env.server.url}/api/admin/recordings`);
    assert.equal(noAuth.status, 401, `the list needs the admin secret (${noAuth.status})`);
    console.log(`[recording] (4) deleted ${all.length} recordings: ${all.map((r) => `${r.stream}/${r.file}`).join(', ')}`);
  });
});
