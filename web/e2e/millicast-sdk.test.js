// Protocol compatibility: the OFFICIAL Millicast JS SDK (npm @millicast/sdk,
// a devDependency used only by this test, never bundled or served by Podium)
// publishes and views through a real Podium server, used the way an app does:
//   Director.setEndpoint(origin) -> POST /api/director/{publish,subscribe}
//   new Publish(name, tokenGenerator).connect({mediaStream, sourceId, codec})
//   new View(name, tokenGenerator).connect({pinnedSourceId}) + 'track' / 'broadcastEvent'
// The SDK's browser ES module build is handed to the page through Playwright
// request interception (page.route on /__sdk/millicast.js), so the page still
// runs on the server's own origin (a secure context) while Podium knows nothing
// about the SDK.
//
// Scenarios:
//   (1) main-source publisher + viewer: `active` for the main source, SDK
//       `track` events, video framesDecoded increasing, audio packets arriving;
//   (2) audio-only publisher with sourceId "guest" + viewer with
//       pinnedSourceId "guest" (while a main source sends camera video and a
//       digitally silent audio track): audible guest audio, no main video;
//   (3) publish.stop() makes the viewer receive `inactive`.
// On failure the message carries the SDK-level events, every WebSocket frame
// the SDK sent/received (SDPs summarised), the SDK's own log tail, page
// consoles and the server log tail; a full dump goes to web/test-results/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  useServerAndBrowser, uniqueStreamName, PUBLISH_TOKEN, RESULTS_DIR, sleep,
} from './helpers.js';
import { SDK_PKG, openSdkPage as openSdkPageOf } from './sdk-page.js';

/** Account id of a default Podium server (config `account_id`, default "podium"). */
const ACCOUNT_ID = 'podium';

const env = useServerAndBrowser({
  // Record every WebSocket frame in every page (installed before any page script).
  setup: ({ browser }) => browser.context.addInitScript(installWsRecorder),
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
      this.addEventListener('open', () => log.push({ t: performance.now(), ws: id, kind: 'open' }));
      this.addEventListener('message', (e) => log.push({ t: performance.now(), ws: id, kind: 'in', msg: parse(e.data) }));
      this.addEventListener('error', () => log.push({ t: performance.now(), ws: id, kind: 'error' }));
      this.addEventListener('close', (e) => log.push({ t: performance.now(), ws: id, kind: 'close', code: e.code, reason: e.reason, wasClean: e.wasClean }));
    }

    send(data) {
      log.push({ t: performance.now(), ws: this.__id, kind: 'out', msg: parse(data) });
      return super.send(data);
    }
  }
  window.WebSocket = RecordingWebSocket;
}

/**
 * Runs inside the page: loads the SDK from /__sdk/millicast.js and installs
 * window.sdkE2E, which drives Publish/View like an application would and keeps
 * all state in the page.
 */
async function installSdkHarness() {
  if (window.sdkE2E) return true;
  // page-harness.js (window.podiumE2E), injected into every page by launchBrowser, supplies
  // getMedia and until.
  if (!window.podiumE2E) throw new Error('window.podiumE2E (e2e/page-harness.js) is missing in this page');
  const sdk = await import('/__sdk/millicast.js');
  const now = () => performance.now();
  const h = {
    sdk,
    events: [],
    errors: [],
    trackEvents: [],
    publish: null,
    view: null,
    localStream: null,
    timing: { viewConnectCalled: null, viewConnectResolved: null, firstFrame: null, firstAudioPacket: null, firstAudible: null },
    lastStats: null,

    push(src, name, data) {
      h.events.push({ t: now(), src, name, data });
    },

    /** Local media (fake camera/mic, or a digitally silent audio track): page-harness.js getMedia. */
    getMedia(options) {
      return window.podiumE2E.getMedia(options);
    },

    /** Publish with the SDK; resolves once the RTCPeerConnection is connected. */
    async startPublish({ streamName, token, sourceId, audio = true, video = true, silentAudio = false, timeout = 30000 }) {
      const { Director, Publish } = sdk;
      Director.setEndpoint(location.origin);
      const tokenGenerator = () => Director.getPublisher({ token, streamName });
      const publish = new Publish(streamName, tokenGenerator);
      h.publish = publish;
      publish.on('broadcastEvent', (e) => h.push('pub', `broadcastEvent:${e.name}`, e.data ?? null));
      publish.on('connectionStateChange', (s) => h.push('pub', 'connectionStateChange', s));
      publish.on('reconnect', (r) => h.push('pub', 'reconnect', { timeout: r?.timeout, error: String(r?.error) }));
      h.localStream = await h.getMedia({ audio, video, silentAudio });
      const options = { mediaStream: h.localStream, codec: 'vp8', disableVideo: !video };
      if (sourceId !== undefined) options.sourceId = sourceId;
      try {
        await publish.connect(options);
      } catch (err) {
        h.errors.push(`publish.connect threw: ${err?.stack ?? err}`);
        throw new Error(`publish.connect threw: ${err?.message ?? JSON.stringify(err)}`);
      }
      await h.until(() => publish.getRTCPeerConnection()?.connectionState === 'connected', timeout,
        () => `publisher connectionState=${publish.getRTCPeerConnection()?.connectionState}`);
      return { streamName: publish.streamName, connectionState: publish.getRTCPeerConnection().connectionState };
    },

    stopPublish() {
      h.publish.stop();
      for (const t of h.localStream?.getTracks() ?? []) t.stop();
      return true;
    },

    /** View with the SDK; resolves when view.connect() resolves. Media is checked with polls. */
    async startView({ streamName, pinnedSourceId }) {
      const { Director, View } = sdk;
      Director.setEndpoint(location.origin);
      const tokenGenerator = () => Director.getSubscriber({ streamName, streamAccountId: window.__accountId });
      const view = new View(streamName, tokenGenerator);
      h.view = view;
      view.on('broadcastEvent', (e) => h.push('view', `broadcastEvent:${e.name}`, e.data ?? null));
      view.on('connectionStateChange', (s) => h.push('view', 'connectionStateChange', s));
      view.on('reconnect', (r) => h.push('view', 'reconnect', { timeout: r?.timeout, error: String(r?.error) }));
      view.on('track', (e) => {
        const info = {
          kind: e.track.kind, mid: e.transceiver?.mid ?? null, trackId: e.track.id, streams: e.streams.map((s) => s.id),
        };
        h.trackEvents.push({ t: now(), ...info });
        h.push('view', 'track', info);
        // Render like an app: video through a muted <video>, audio through <audio>.
        const el = document.createElement(e.track.kind === 'video' ? 'video' : 'audio');
        el.autoplay = true;
        el.playsInline = true;
        if (e.track.kind === 'video') el.muted = true;
        el.srcObject = new MediaStream([e.track]);
        document.body.append(el);
        el.play().catch(() => {});
      });
      h.timing.viewConnectCalled = now();
      h.pollFirstMedia();
      const options = {};
      if (pinnedSourceId !== undefined) options.pinnedSourceId = pinnedSourceId;
      try {
        await view.connect(options);
      } catch (err) {
        h.errors.push(`view.connect threw: ${err?.stack ?? err}`);
        throw new Error(`view.connect threw: ${err?.message ?? JSON.stringify(err)}`);
      }
      h.timing.viewConnectResolved = now();
      const pc = view.webRTCPeer.getRTCPeer();
      return {
        streamName: view.streamName,
        transceivers: pc.getTransceivers().map((t) => ({ mid: t.mid, kind: t.receiver.track.kind, direction: t.direction })),
      };
    },

    /** Viewer RTCPeerConnection as the SDK exposes it (PeerConnection wrapper -> RTCPeerConnection). */
    viewerPc() {
      return h.view?.webRTCPeer?.getRTCPeer() ?? null;
    },

    /** inbound-rtp stats of the SDK viewer's RTCPeerConnection, keyed by mid. */
    async inbound() {
      const pc = h.viewerPc();
      const out = {};
      if (!pc) return out;
      const report = await pc.getStats();
      for (const s of report.values()) {
        if (s.type !== 'inbound-rtp') continue;
        out[s.mid] = {
          kind: s.kind,
          mid: s.mid,
          packetsReceived: s.packetsReceived,
          bytesReceived: s.bytesReceived,
          framesDecoded: s.framesDecoded,
          frameWidth: s.frameWidth,
          frameHeight: s.frameHeight,
          totalAudioEnergy: s.totalAudioEnergy,
          audioLevel: s.audioLevel,
        };
      }
      h.lastStats = out;
      return out;
    },

    /** Stats of the first video and first audio receiver (the SDK's default transceivers). */
    async mainInbound() {
      const pc = h.viewerPc();
      const stats = await h.inbound();
      if (!pc) return { video: null, audio: null };
      const mid = (kind) => pc.getTransceivers().find((t) => t.receiver.track.kind === kind)?.mid;
      return { video: stats[mid('video')] ?? null, audio: stats[mid('audio')] ?? null };
    },

    /** Poll getStats every 10 ms from view.connect() until first frame / audible audio (max 60 s). */
    pollFirstMedia() {
      const started = now();
      const tick = async () => {
        try {
          const { video, audio } = await h.mainInbound();
          const t = now();
          if (!h.timing.firstFrame && video?.framesDecoded > 0) h.timing.firstFrame = t;
          if (!h.timing.firstAudioPacket && audio?.packetsReceived > 0) h.timing.firstAudioPacket = t;
          if (!h.timing.firstAudible && audio?.totalAudioEnergy > 1e-3) h.timing.firstAudible = t;
        } catch (err) {
          h.errors.push(`stats poll: ${err}`);
        }
        const done = h.timing.firstFrame && h.timing.firstAudible;
        if (!done && now() - started < 60000) setTimeout(tick, 10);
      };
      setTimeout(tick, 0);
    },

    timings() {
      const rel = (t) => (t && h.timing.viewConnectCalled ? Math.round(t - h.timing.viewConnectCalled) : null);
      return {
        connectToConnectResolvedMs: rel(h.timing.viewConnectResolved),
        connectToFirstFrameMs: rel(h.timing.firstFrame),
        connectToFirstAudioPacketMs: rel(h.timing.firstAudioPacket),
        connectToFirstAudibleMs: rel(h.timing.firstAudible),
      };
    },

    hasEvent(src, name, sourceId) {
      return h.events.some((e) => e.src === src && e.name === name
        && (sourceId === undefined || (e.data?.sourceId ?? null) === sourceId));
    },

    /** Poll `cond` every 20 ms until truthy or `timeout` ms passed: page-harness.js until. */
    until(cond, timeout, describe) {
      return window.podiumE2E.until(cond, timeout, describe);
    },

    /** JSON-safe state dump for failure reports. */
    snapshot() {
      const pcInfo = (pc) => pc && {
        connectionState: pc.connectionState,
        iceConnectionState: pc.iceConnectionState,
        signalingState: pc.signalingState,
        transceivers: pc.getTransceivers().map((t) => `${t.mid}:${t.receiver.track.kind}:${t.direction}/${t.currentDirection}`),
        localSdp: pc.localDescription?.sdp,
        remoteSdp: pc.remoteDescription?.sdp,
      };
      let sdkLog = [];
      try { sdkLog = sdk.Logger.getHistory().slice(-40); } catch { /* ignore */ }
      return {
        url: location.href,
        events: h.events,
        errors: h.errors,
        timing: h.timing,
        lastStats: h.lastStats,
        publisher: h.publish ? { streamName: h.publish.streamName, pc: pcInfo(h.publish.getRTCPeerConnection()) } : null,
        viewer: h.view ? { streamName: h.view.streamName, mainSourceId: h.view.mainSourceId, isMainStreamActive: h.view.isMainStreamActive, pc: pcInfo(h.viewerPc()) } : null,
        wsFrames: window.__wsLog ?? [],
        sdkLog,
      };
    },
  };
  window.sdkE2E = h;
  return true;
}

// ---------------------------------------------------------------------------
// Node-side helpers

/** Requests/WebSockets the SDK pages opened to anything but the Podium server (must stay empty). */
const foreignRequests = [];

/** Open a page on the Podium origin and load the SDK into it through request interception. */
async function openSdkPage(label) {
  const page = await openSdkPageOf(env, label);
  const wsOrigin = env.server.url.replace(/^http/, 'ws');
  page.on('request', (r) => { if (!r.url().startsWith(`${env.server.url}/`)) foreignRequests.push(`[${label}] ${r.method()} ${r.url()}`); });
  page.on('websocket', (ws) => { if (!ws.url().startsWith(`${wsOrigin}/`)) foreignRequests.push(`[${label}] WebSocket ${ws.url()}`); });
  await page.evaluate((acct) => { window.__accountId = acct; }, ACCOUNT_ID);
  await page.evaluate(installSdkHarness);
  return page;
}

/** Call sdkE2E[method](arg) in the page. */
function sdkCall(page, method, arg) {
  return page.evaluate(([m, a]) => window.sdkE2E[m](a), [method, arg]);
}

const truncate = (s, n = 400) => (typeof s === 'string' && s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s);

/** SDP → the lines that matter for a quick look (in their original order, so misplaced lines show). */
function sdpSummary(sdp) {
  if (typeof sdp !== 'string') return sdp;
  return sdp.split(/\r?\n/).filter((l) => /^(m=|c=|b=|a=mid|a=(send|recv|sendrecv|inactive)$|a=ice-lite|a=candidate|a=setup|a=msid:|a=group)/.test(l)
    || /^a=rtpmap:\d+ (opus|multiopus|VP8|VP9|H264|AV1)\//i.test(l));
}

/** A WebSocket frame for the compact report: SDPs summarised, long strings cut. */
function compactFrame(f) {
  const rel = `${Math.round(f.t)}ms ws${f.ws} ${f.kind}`;
  if (f.kind !== 'in' && f.kind !== 'out') return `${rel} ${JSON.stringify({ ...f, t: undefined, ws: undefined, kind: undefined })}`;
  const msg = f.msg;
  if (msg && typeof msg === 'object' && msg.data && typeof msg.data === 'object' && typeof msg.data.sdp === 'string') {
    return `${rel} ${JSON.stringify({ ...msg, data: { ...msg.data, sdp: sdpSummary(msg.data.sdp) } })}`;
  }
  return `${rel} ${truncate(JSON.stringify(msg), 600)}`;
}

/** Compact + full diagnostics of SDK pages and the server. */
async function sdkDiagnostics(pages) {
  const compact = [];
  const full = [];
  for (const page of pages) {
    let snap = null;
    try {
      snap = await page.evaluate(() => window.sdkE2E?.snapshot() ?? { note: 'sdkE2E not installed', wsFrames: window.__wsLog ?? [] });
    } catch (err) {
      compact.push(`--- page ${page.label}: snapshot failed: ${err.message}`);
    }
    if (snap) {
      const pcCompact = (x) => x && { ...x, pc: x.pc && { ...x.pc, localSdp: undefined, remoteSdp: sdpSummary(x.pc.remoteSdp) } };
      compact.push(`--- page ${page.label} ---\n${JSON.stringify({
        events: (snap.events ?? []).map((e) => `${Math.round(e.t)}ms ${e.src}.${e.name} ${truncate(JSON.stringify(e.data), 300)}`),
        errors: snap.errors,
        timing: snap.timing,
        lastStats: snap.lastStats,
        publisher: pcCompact(snap.publisher),
        viewer: pcCompact(snap.viewer),
      }, null, 1)}`);
      compact.push(`--- page ${page.label} WebSocket frames ---\n${(snap.wsFrames ?? []).map(compactFrame).join('\n')}`);
      const sdkLog = (snap.sdkLog ?? []).filter((l) => !/Getting RTC Peer/.test(l));
      if (sdkLog.length) compact.push(`--- page ${page.label} SDK log (tail) ---\n${sdkLog.slice(-10).map((l) => truncate(l, 300)).join('\n')}`);
      full.push(`--- page ${page.label} ---\n${JSON.stringify(snap, null, 2)}`);
    }
    if (page.consoleLog?.length) {
      compact.push(`--- page ${page.label} console (tail) ---\n${page.consoleLog.slice(-15).map((l) => truncate(l, 300)).join('\n')}`);
      full.push(`--- page ${page.label} console ---\n${page.consoleLog.join('\n')}`);
    }
  }
  compact.push(`--- server output (tail) ---\n${env.server.tail(60)}`);
  full.push(`--- server output ---\n${env.server.logs()}`);
  try {
    await mkdir(RESULTS_DIR, { recursive: true });
    const file = path.join(RESULTS_DIR, `failure-millicast-sdk-${new Date().toISOString().replace(/[:.]/g, '-')}.txt`);
    await writeFile(file, full.join('\n'));
    compact.push(`--- full dump (complete SDPs, frames, SDK log, server log): ${file}`);
  } catch (err) {
    compact.push(`--- could not write full dump: ${err.message}`);
  }
  return compact.join('\n');
}

/** Run fn; on failure append SDK/server diagnostics to the error message. */
async function withSdkDiagnostics(pages, fn) {
  try {
    return await fn();
  } catch (err) {
    if (!String(err?.message).includes('--- page')) {
      try {
        err.message += `\n${await sdkDiagnostics(pages)}`;
      } catch (diagErr) {
        err.message += `\n(diagnostics failed: ${diagErr.message})\n--- server output (tail) ---\n${env.server.tail(60)}`;
      }
    }
    throw err;
  }
}

/** Wait until predicate(sdkE2E, arg) is truthy in the page; throws a descriptive error on timeout. */
async function waitSdk(page, predicate, arg, { what, timeout = 30_000 } = {}) {
  try {
    // A function, not a string expression: the page's CSP forbids eval, and Playwright
    // evaluates string expressions with it (functions go through the debugger instead).
    // eslint-disable-next-line no-new-func
    const fn = new Function('arg', `return (${predicate.toString()})(window.sdkE2E, arg);`);
    const handle = await page.waitForFunction(fn, arg ?? null, { timeout, polling: 50 });
    const value = await handle.jsonValue();
    await handle.dispose();
    return value;
  } catch (err) {
    if (err?.name !== 'TimeoutError' && !/Timeout/i.test(err?.message ?? '')) throw err;
    throw new Error(`Timed out after ${timeout} ms waiting for ${what} on page ${page.label}`);
  }
}

async function eventsOf(page, src, name) {
  return page.evaluate(([s, n]) => window.sdkE2E.events.filter((e) => e.src === s && e.name === n).map((e) => e.data), [src, name]);
}

// ---------------------------------------------------------------------------
// Tests

test(`@millicast/sdk ${SDK_PKG.version}: SDK publisher + SDK viewer get active, tracks, decoded video and audio`, { timeout: 180_000 }, async () => {
  const streamName = uniqueStreamName('sdk-pv');
  const pub = await openSdkPage('SDK-pub');
  const viewer = await openSdkPage('SDK-view');
  const pages = [pub, viewer];

  await withSdkDiagnostics(pages, async () => {
    const published = await sdkCall(pub, 'startPublish', { streamName, token: PUBLISH_TOKEN });
    assert.equal(published.streamName, streamName, 'SDK took the stream name from the director JWT (millicast.streamName)');

    const viewed = await sdkCall(viewer, 'startView', { streamName });
    assert.equal(viewed.streamName, streamName, 'viewer stream name from the subscribe JWT');

    await waitSdk(viewer, (h) => h.hasEvent('view', 'broadcastEvent:active', null), null,
      { what: 'broadcastEvent "active" for the main source (sourceId null/absent)' });
    const actives = await eventsOf(viewer, 'view', 'broadcastEvent:active');
    const mainActive = actives.find((d) => (d?.sourceId ?? null) === null);
    assert.ok(String(mainActive.streamId).endsWith(`/${streamName}`), `active streamId "<account>/${streamName}" (${mainActive.streamId})`);

    // The SDK releases its queued `track` events only after it has seen `active`.
    await waitSdk(viewer, (h) => h.trackEvents.some((t) => t.kind === 'video') && h.trackEvents.some((t) => t.kind === 'audio'), null,
      { what: 'SDK "track" events for video and audio (held by the SDK until it sees "active")' });

    await waitSdk(viewer, (h) => h.timing.firstFrame !== null, null,
      { what: 'first decoded video frame on the SDK viewer PC (inbound-rtp framesDecoded > 0)', timeout: 45_000 });
    const first = await sdkCall(viewer, 'mainInbound');
    await sleep(1500);
    const second = await sdkCall(viewer, 'mainInbound');
    assert.ok(second.video?.framesDecoded > first.video?.framesDecoded,
      `video framesDecoded increases (${first.video?.framesDecoded} -> ${second.video?.framesDecoded})`);
    assert.ok(second.audio?.packetsReceived > 0, `audio packetsReceived > 0 (${JSON.stringify(second.audio)})`);

    const timings = await sdkCall(viewer, 'timings');
    console.log(`[millicast-sdk] (1) view.connect() -> first decoded frame: ${timings.connectToFirstFrameMs} ms; all: ${JSON.stringify(timings)}`);
    console.log(`[millicast-sdk] (1) active events: ${JSON.stringify(actives)}`);
    assert.deepEqual(foreignRequests, [], 'the SDK talked only to the Podium server');
  });

  await Promise.all(pages.map((p) => p.close()));
});

test(`@millicast/sdk ${SDK_PKG.version}: viewer with pinnedSourceId "guest" receives the audio-only guest source`, { timeout: 180_000 }, async () => {
  const streamName = uniqueStreamName('sdk-pin');
  const main = await openSdkPage('SDK-pub-main');
  const guest = await openSdkPage('SDK-pub-guest');
  const viewer = await openSdkPage('SDK-view-pinned');
  const pages = [main, guest, viewer];

  await withSdkDiagnostics(pages, async () => {
    // The main source sends camera video and *silent* audio: audible sound on the
    // pinned viewer can only come from the guest, decoded video only from main.
    await sdkCall(main, 'startPublish', { streamName, token: PUBLISH_TOKEN, silentAudio: true });
    await sdkCall(guest, 'startPublish', { streamName, token: PUBLISH_TOKEN, sourceId: 'guest', video: false });
    await sdkCall(viewer, 'startView', { streamName, pinnedSourceId: 'guest' });

    await waitSdk(viewer, (h) => h.hasEvent('view', 'broadcastEvent:active', 'guest'), null,
      { what: 'broadcastEvent "active" for source "guest"' });
    await waitSdk(viewer, (h) => h.trackEvents.some((t) => t.kind === 'audio'), null,
      { what: 'SDK "track" event for audio' });
    await waitSdk(viewer, (h) => h.timing.firstAudioPacket !== null, null,
      { what: 'audio packets on the default audio transceiver (inbound-rtp packetsReceived > 0)', timeout: 45_000 });
    await waitSdk(viewer, (h) => h.timing.firstAudible !== null, null,
      { what: 'audible guest audio (totalAudioEnergy > 1e-3) on the default audio transceiver', timeout: 45_000 });
    const { audio } = await sdkCall(viewer, 'mainInbound');
    assert.ok(audio.packetsReceived > 0, `audio packetsReceived > 0 (${JSON.stringify(audio)})`);

    await sleep(1000);
    const { video } = await sdkCall(viewer, 'mainInbound');
    assert.ok(!video?.framesDecoded,
      `no main-source video on a viewer pinned to the audio-only guest (video inbound: ${JSON.stringify(video)})`);

    console.log(`[millicast-sdk] (2) timings: ${JSON.stringify(await sdkCall(viewer, 'timings'))}`);
    assert.deepEqual(foreignRequests, [], 'the SDK talked only to the Podium server');
  });

  await Promise.all(pages.map((p) => p.close()));
});

test(`@millicast/sdk ${SDK_PKG.version}: publish.stop() makes the SDK viewer receive "inactive"`, { timeout: 180_000 }, async () => {
  const streamName = uniqueStreamName('sdk-stop');
  const pub = await openSdkPage('SDK-pub');
  const viewer = await openSdkPage('SDK-view');
  const pages = [pub, viewer];

  await withSdkDiagnostics(pages, async () => {
    await sdkCall(pub, 'startPublish', { streamName, token: PUBLISH_TOKEN });
    await sdkCall(viewer, 'startView', { streamName });
    await waitSdk(viewer, (h) => h.hasEvent('view', 'broadcastEvent:active', null), null,
      { what: 'broadcastEvent "active" for the main source' });
    await waitSdk(viewer, (h) => h.timing.firstFrame !== null, null,
      { what: 'first decoded video frame', timeout: 45_000 });
    console.log(`[millicast-sdk] (3) view.connect() -> first decoded frame: ${(await sdkCall(viewer, 'timings')).connectToFirstFrameMs} ms`);

    await sdkCall(pub, 'stopPublish');
    await waitSdk(viewer, (h) => h.hasEvent('view', 'broadcastEvent:inactive', null), null,
      { what: 'broadcastEvent "inactive" for the main source after publish.stop()', timeout: 30_000 });
    const inactives = await eventsOf(viewer, 'view', 'broadcastEvent:inactive');
    assert.ok(String(inactives[0]?.streamId).endsWith(`/${streamName}`), `inactive streamId "<account>/${streamName}" (${inactives[0]?.streamId})`);
    console.log(`[millicast-sdk] (3) inactive events: ${JSON.stringify(inactives)}`);
    assert.deepEqual(foreignRequests, [], 'the SDK talked only to the Podium server');
  });

  await Promise.all(pages.map((p) => p.close()));
});
