// Browser pages for the cluster tests (issue 15): the in-page harness window.clusterE2E (the
// OFFICIAL Millicast JS SDK, npm @millicast/sdk, served unmodified from node_modules, or
// Podium's own web/podium.js through window.podiumE2E), a recorder of every WebSocket frame,
// and the Node-side helpers that drive the pages and gather diagnostics on failure (page
// events, Director calls, WebSocket frames, SDK log, stats samples, each node's output tail,
// the cluster status; a full dump under web/test-results/).
//
//   before(async () => {
//     browser = await launchBrowser();
//     await browser.context.addInitScript(installWsRecorder);
//   });
//   const page = await openClusterPage(browser, node, 'view@node1');
//   await call(page, 'startView', { streamName, endpoints: [node.url] });
//   await waitIn(page, (h) => h.framesRising(1000), null, { what: 'frames' });
//
// PODIUM_E2E_CLUSTER_DUMP=1 writes every node's whole log to web/test-results/ after each
// withClusterDiagnostics block, passed or not.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RESULTS_DIR } from './helpers.js';
import { openSdkPage } from './sdk-page.js';
import { clusterStatus } from './cluster-helpers.js';

/** Account id of a default Podium server. */
export const ACCOUNT_ID = 'podium';
/** Longest single wait. */
export const WAIT = 45_000;
const DUMP_ALWAYS = !!process.env.PODIUM_E2E_CLUSTER_DUMP;
/** This working copy's browser library. */
const PODIUM_JS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'podium.js');

// ---------------------------------------------------------------------------
// In-page code

/** Init script: wraps window.WebSocket to log every frame (wall-clock `at`) in window.__wsLog. */
export function installWsRecorder() {
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
      let host = null;
      try { host = new URL(String(url)).host; } catch { /* keep null */ }
      log.push({ at: Date.now(), ws: id, kind: 'open-request', host, url: String(url).replace(/token=[^&]+/, 'token=<jwt>') });
      this.addEventListener('open', () => log.push({ at: Date.now(), ws: id, kind: 'open' }));
      this.addEventListener('message', (e) => log.push({ at: Date.now(), ws: id, kind: 'in', msg: parse(e.data) }));
      this.addEventListener('error', () => log.push({ at: Date.now(), ws: id, kind: 'error' }));
      this.addEventListener('close', (e) => log.push({ at: Date.now(), ws: id, kind: 'close', code: e.code, reason: e.reason, wasClean: e.wasClean }));
    }

    send(data) {
      log.push({ at: Date.now(), ws: this.__id, kind: 'out', msg: parse(data) });
      return super.send(data);
    }
  }
  window.WebSocket = RecordingWebSocket;
}

/**
 * Runs inside the page: loads the SDK and installs window.clusterE2E, which publishes or
 * views like an application would (Director + Publish/View, autoReconnect left on), samples
 * the RTCPeerConnection's stats every 50 ms and keeps everything for the test to read.
 * Role `podium-view` (startPodiumView) views with Podium's own library instead
 * (window.podiumE2E.startView, web/podium.js, unmodified behaviour) and samples every
 * RTCPeerConnection of the page, the one the view uses now (`pc`, `frames`) and the others
 * (`others`), every 20 ms.
 */
export async function installClusterHarness({ accountId }) {
  if (window.clusterE2E) return true;
  if (!window.podiumE2E) throw new Error('window.podiumE2E (e2e/page-harness.js) is missing in this page');
  const sdk = await import('/__sdk/millicast.js');
  const { Director, Publish, View } = sdk;
  const now = () => Date.now();
  const serials = new WeakMap();
  let nextSerial = 0;
  const h = {
    sdk,
    role: null,
    /** Director endpoints the tokenGenerator tries, in order (the test may change them). */
    endpoints: [],
    directorCalls: [],
    events: [],
    errors: [],
    samples: [],
    pcs: [],
    publish: null,
    view: null,
    localStream: null,
    /** The viewer's RTCPeerConnection once media flowed (compared with the current one later). */
    initialPc: null,

    push(src, name, data) {
      h.events.push({ at: now(), src, name, data });
    },

    /** A small number per RTCPeerConnection object (1 = the first the page used). */
    serialOf(pc) {
      if (!pc) return null;
      let s = serials.get(pc);
      if (s === undefined) {
        s = ++nextSerial;
        serials.set(pc, s);
        h.pcs.push({ serial: s, at: now() });
      }
      return s;
    },

    /** The SDK's current RTCPeerConnection (null while it reconnects). */
    currentPc() {
      if (h.role === 'view') return h.view?.webRTCPeer?.getRTCPeer() ?? null;
      if (h.role === 'podium-view') return window.podiumE2E.view?.peerConnection ?? null;
      if (h.role === 'pub') return h.publish?.getRTCPeerConnection() ?? null;
      return null;
    },

    /**
     * The tokenGenerator: the Director of h.endpoints[0]; the next endpoint only when a node
     * cannot be reached (fetch fails); a Director's own refusal (FetchError) goes to the SDK.
     */
    async director(kind, params) {
      let lastErr = null;
      for (const endpoint of [...h.endpoints]) {
        Director.setEndpoint(endpoint);
        const call = { at: now(), kind, endpoint };
        h.directorCalls.push(call);
        try {
          const data = kind === 'publish' ? await Director.getPublisher(params) : await Director.getSubscriber(params);
          call.ms = now() - call.at;
          call.url = data?.urls?.[0] ?? data?.wsUrl ?? null;
          return data;
        } catch (err) {
          call.ms = now() - call.at;
          call.error = `${err?.name}: ${err?.message}`;
          call.status = err?.status ?? null;
          lastErr = err;
          if (err?.name === 'FetchError') throw err;
        }
      }
      throw lastErr ?? new Error('no Director endpoint');
    },

    listen(src, target) {
      target.on('broadcastEvent', (e) => h.push(src, `broadcastEvent:${e.name}`, e.data ?? null));
      target.on('connectionStateChange', (s) => h.push(src, 'connectionStateChange', s));
      target.on('reconnect', (r) => h.push(src, 'reconnect', { timeout: r?.timeout, error: String(r?.error?.message ?? r?.error) }));
    },

    /** Publish the fake camera and mic; resolves once the RTCPeerConnection is connected. */
    async startPublish({ streamName, token, endpoints, timeout = 30000 }) {
      h.role = 'pub';
      h.endpoints = endpoints;
      const publish = new Publish(undefined, () => h.director('publish', { token, streamName }));
      h.publish = publish;
      h.listen('pub', publish);
      h.localStream = await window.podiumE2E.getMedia({ audio: true, video: true });
      try {
        await publish.connect({ mediaStream: h.localStream, codec: 'vp8' });
      } catch (err) {
        h.errors.push(`publish.connect threw: ${err?.stack ?? err}`);
        throw new Error(`publish.connect threw: ${err?.message ?? JSON.stringify(err)}`);
      }
      h.startSampler();
      await window.podiumE2E.until(() => publish.getRTCPeerConnection()?.connectionState === 'connected', timeout,
        () => `publisher connectionState=${publish.getRTCPeerConnection()?.connectionState}`);
      return { streamName: publish.streamName };
    },

    /** View with the SDK's View; resolves when view.connect() resolves. */
    async startView({ streamName, endpoints }) {
      h.role = 'view';
      h.endpoints = endpoints;
      const view = new View(undefined, () => h.director('subscribe', { streamName, streamAccountId: accountId }));
      h.view = view;
      h.listen('view', view);
      view.on('track', (e) => {
        h.push('view', 'track', { kind: e.track.kind, mid: e.transceiver?.mid ?? null });
        const el = document.createElement(e.track.kind === 'video' ? 'video' : 'audio');
        el.autoplay = true;
        el.playsInline = true;
        if (e.track.kind === 'video') el.muted = true;
        el.srcObject = new MediaStream([e.track]);
        document.body.append(el);
        el.play().catch(() => {});
      });
      h.startSampler();
      try {
        await view.connect({});
      } catch (err) {
        h.errors.push(`view.connect threw: ${err?.stack ?? err}`);
        throw new Error(`view.connect threw: ${err?.message ?? JSON.stringify(err)}`);
      }
      return { streamName: view.streamName };
    },

    /** Sampling period of startSampler (ms). */
    sampleEveryMs: 50,

    /**
     * Every sampleEveryMs: the current PC, its state and video frames decoded (viewer) or
     * encoded (publisher); with trackAllPcs(), also the video frames decoded by every other
     * open PC of the page (`others`: {serial: frames}).
     */
    startSampler() {
      if (h.samplerStarted) return;
      h.samplerStarted = true;
      const viewing = () => h.role === 'view' || h.role === 'podium-view';
      const videoFramesDecoded = async (pc) => {
        let frames = null;
        for (const s of (await pc.getStats()).values()) {
          if (s.kind === 'video' && s.type === 'inbound-rtp') frames = (frames ?? 0) + (s.framesDecoded ?? 0);
        }
        return frames;
      };
      const tick = async () => {
        try {
          const pc = h.currentPc();
          const sample = {
            at: now(), pc: h.serialOf(pc), state: pc?.connectionState ?? null, frames: null, packets: null, keyFrames: null, pli: null,
          };
          if (h.allPcs) {
            const others = {};
            for (const other of h.allPcs) {
              if (other === pc || other.connectionState === 'closed') continue;
              others[h.serialOf(other)] = await videoFramesDecoded(other);
            }
            sample.others = others;
          }
          if (pc && pc.connectionState !== 'closed') {
            const report = await pc.getStats();
            const add = (field, value) => { sample[field] = (sample[field] ?? 0) + (value ?? 0); };
            for (const s of report.values()) {
              if (s.kind !== 'video') continue;
              if (viewing() && s.type === 'inbound-rtp') {
                add('frames', s.framesDecoded);
                add('packets', s.packetsReceived);
                add('keyFrames', s.keyFramesDecoded);
                add('pli', s.pliCount);
              } else if (h.role === 'pub' && s.type === 'outbound-rtp') {
                add('frames', s.framesEncoded);
                add('packets', s.packetsSent);
                add('keyFrames', s.keyFramesEncoded);
                add('pli', s.pliCount);
              }
            }
          }
          h.samples.push(sample);
          if (h.samples.length > 12000) h.samples.splice(0, 2000);
        } catch (err) {
          if (h.errors.length < 50) h.errors.push(`sampler: ${err}`);
        }
        setTimeout(tick, h.sampleEveryMs);
      };
      tick();
    },

    /** Registers every RTCPeerConnection the page makes from now on (h.allPcs). */
    trackAllPcs() {
      if (h.allPcs) return;
      h.allPcs = [];
      const Native = window.RTCPeerConnection;
      window.RTCPeerConnection = class TrackedRTCPeerConnection extends Native {
        constructor(...args) {
          super(...args);
          h.allPcs.push(this);
          h.serialOf(this);
        }
      };
    },

    /**
     * View with Podium's library (window.podiumE2E.startView: new View({endpoint:
     * location.origin}), autoMigrate as the library sets it). Its library events go to
     * h.events (src 'view'); an application-style <video> plays view.mediaStream itself (the
     * MediaStream whose tracks a migration replaces) and every frame it presents is noted
     * (requestVideoFrameCallback, h.presented).
     */
    async startPodiumView({ streamName }) {
      h.role = 'podium-view';
      h.sampleEveryMs = 20;
      h.trackAllPcs();
      h.startSampler();
      const p = window.podiumE2E;
      try {
        await p.startView({ streamName });
      } catch (err) {
        h.errors.push(`podiumE2E.startView threw: ${err?.stack ?? err}`);
        throw new Error(`podiumE2E.startView threw: ${err?.message ?? JSON.stringify(err)}`);
      }
      const view = p.view;
      // Events the library dispatched before startView returned (recorded by page-harness).
      for (const e of p.events) if (e.src === 'view') h.push('view', e.name, e.data);
      const describe = (name, detail) => {
        if (name === 'migrateFailed') return { error: String(detail?.error?.message ?? detail?.error) };
        if (name === 'migrated') return { subscriberId: detail?.viewData?.subscriberId ?? null, streamViewId: detail?.viewData?.streamViewId ?? null };
        if (name === 'track') return { kind: detail.kind, mid: detail.mid, main: detail.main, pc: h.serialOf(view.peerConnection) };
        return detail ?? null;
      };
      for (const name of ['active', 'inactive', 'stopped', 'migrate', 'migrated', 'migrateFailed', 'connectionState', 'signalingClose', 'track']) {
        view.addEventListener(name, (e) => h.push('view', name, describe(name, e.detail)));
      }
      const el = document.createElement('video');
      el.autoplay = true;
      el.muted = true;
      el.playsInline = true;
      el.srcObject = view.mediaStream;
      document.body.append(el);
      el.play().catch(() => {});
      h.appVideo = el;
      h.presented = [];
      if (typeof el.requestVideoFrameCallback === 'function') {
        const onFrame = () => {
          h.presented.push(now());
          if (h.presented.length > 20000) h.presented.splice(0, 5000);
          el.requestVideoFrameCallback(onFrame);
        };
        el.requestVideoFrameCallback(onFrame);
      }
      return { streamName: view.streamName, pc: h.serialOf(view.peerConnection) };
    },

    /**
     * The main video as the podium-view shows it between `from` and `to` (wall clock): a new
     * frame is a rise of the current PC's framesDecoded over the last value seen for that PC
     * (also while it was not current yet, from `others`), or the first value > 0 of a PC never
     * seen (framesDecoded starts again at 0 on each RTCPeerConnection). Returns the longest
     * interval without a new frame ({ms, from, to}), the PC switches, and the longest gap
     * between frames presented by the <video> playing view.mediaStream.
     */
    frameGaps(from, to) {
      const last = new Map();
      let prevRise = null;
      let longest = { ms: 0, from: null, to: null };
      const switches = [];
      let prevPc = null;
      let rises = 0;
      for (const x of h.samples) {
        const seenBefore = x.pc !== null && last.has(x.pc);
        const before = seenBefore ? last.get(x.pc) : 0;
        const rose = x.frames !== null && x.frames > (before ?? 0);
        for (const [serial, frames] of Object.entries(x.others ?? {})) if (frames !== null) last.set(Number(serial), frames);
        if (x.frames !== null) last.set(x.pc, x.frames);
        if (x.at < from) {
          if (rose) prevRise = x.at;
          prevPc = x.pc;
          continue;
        }
        if (x.at > to) break;
        if (x.pc !== prevPc) {
          switches.push({ at: x.at, from: prevPc, to: x.pc, framesOnNewPc: x.frames });
          prevPc = x.pc;
        }
        if (rose) {
          rises++;
          const start = prevRise ?? from;
          if (x.at - start > longest.ms) longest = { ms: x.at - start, from: start, to: x.at };
          prevRise = x.at;
        }
      }
      // When each new PC decoded its first video frame (current or not yet current).
      for (const sw of switches) {
        const first = h.samples.find((x) => (x.pc === sw.to && x.frames > 0) || x.others?.[sw.to] > 0);
        sw.firstFrameAt = first?.at ?? null;
      }
      const tail = to - (prevRise ?? from);
      if (tail > longest.ms) longest = { ms: tail, from: prevRise ?? from, to, open: true };
      let presented = null;
      if (h.presented) {
        const ts = h.presented.filter((t) => t >= from - 1000 && t <= to);
        let gap = { ms: 0, from: null, to: null };
        let prev = null;
        let count = 0;
        for (const t of ts) {
          if (t >= from) {
            count++;
            const start = prev ?? from;
            if (t - start > gap.ms) gap = { ms: t - start, from: start, to: t };
          }
          prev = t;
        }
        presented = { frames: count, longest: gap };
      }
      return { longest, switches, rises, presented };
    },

    /** Number of the PC the view uses now; ws log hosts etc. are in wsHosts(). */
    currentPcSerial() {
      return h.serialOf(h.currentPc());
    },

    /** Video frames went up in the last `ms` on the current PC (the latest sample vs the one `ms` before). */
    framesRising(ms = 1000) {
      const s = h.samples;
      const last = s[s.length - 1];
      if (!last || last.frames === null) return false;
      const earlier = [...s].reverse().find((x) => x.pc === last.pc && x.frames !== null && last.at - x.at >= ms);
      return !!earlier && last.frames > earlier.frames;
    },

    /**
     * After the kill at `killAt`: the first rise of video frames that follows a stall of at
     * least `stallMs` (no rise on any PC): {gapMs, recoveredAt, lastFrameAt, pc, frames}; null
     * while not there. Frames the jitter buffer still decodes just after the kill are not it.
     */
    recovery(killAt, stallMs = 500, field = 'frames') {
      let prev = null;
      let lastRise = killAt;
      let stalled = false;
      for (const x of h.samples) {
        const rose = x[field] !== null && (prev && prev.pc === x.pc ? x[field] > prev[field] : x[field] > 0);
        if (x[field] !== null) prev = x;
        if (x.at <= killAt) continue;
        if (rose) {
          if (stalled) {
            return { gapMs: x.at - killAt, recoveredAt: x.at, lastFrameAt: lastRise, pc: x.pc, frames: x[field] };
          }
          lastRise = x.at;
        } else if (x.at - lastRise >= stallMs) {
          stalled = true;
        }
      }
      return null;
    },

    /**
     * When `field` (pli, keyFrames, …) went up after `at` (the first `max` times): on the same
     * PC, above the sample before; on a new PC, above 0. [{afterMs, value, pc}]
     */
    rises(at, field, max = 10) {
      const out = [];
      let prev = [...h.samples].reverse().find((x) => x.at <= at && x[field] !== null) ?? null;
      for (const x of h.samples) {
        if (x.at <= at || x[field] === null) continue;
        const rose = prev && prev.pc === x.pc ? x[field] > prev[field] : x[field] > 0;
        if (rose) out.push({ afterMs: x.at - at, value: x[field], pc: x.pc });
        prev = x;
        if (out.length >= max) break;
      }
      return out;
    },

    /** Hosts (`ip:port`) of the signaling WebSockets the page opened, in order. */
    wsHosts() {
      const log = window.__wsLog ?? [];
      return log.filter((e) => e.kind === 'open-request').map((e) => ({
        ws: e.ws, at: e.at, host: e.host, opened: log.some((o) => o.ws === e.ws && o.kind === 'open'),
      }));
    },

    /** Commands of `name` the page sent over signaling. */
    commandsSent(name) {
      return (window.__wsLog ?? []).filter((e) => e.kind === 'out' && e.msg?.name === name).length;
    },

    hasEventAfter(src, name, at) {
      return h.events.some((e) => e.src === src && e.name === name && e.at > at);
    },

    /** JSON-safe state for failure reports. */
    snapshot() {
      const pc = h.currentPc();
      let sdkLog = [];
      try { sdkLog = sdk.Logger.getHistory().slice(-60); } catch { /* ignore */ }
      return {
        url: location.href,
        role: h.role,
        endpoints: h.endpoints,
        events: h.events,
        errors: h.errors,
        directorCalls: h.directorCalls,
        pcs: h.pcs,
        pc: pc && {
          serial: h.serialOf(pc),
          connectionState: pc.connectionState,
          iceConnectionState: pc.iceConnectionState,
          signalingState: pc.signalingState,
          transceivers: pc.getTransceivers().map((t) => `${t.mid}:${t.receiver.track.kind}:${t.direction}/${t.currentDirection}`),
          remoteSdp: pc.remoteDescription?.sdp,
        },
        samePcAsInitial: h.initialPc ? pc === h.initialPc : null,
        podiumView: h.role === 'podium-view' ? (() => {
          const v = window.podiumE2E.view;
          return v && {
            mids: v.mids,
            mediaStream: v.mediaStream.getTracks().map((t) => `${t.kind}:${t.id}:${t.readyState}`),
            pcReceivers: v.peerConnection?.getReceivers().map((r) => `${r.track.kind}:${r.track.id}`) ?? null,
            autoMigrate: v.autoMigrate,
            podiumE2E: window.podiumE2E.snapshot(),
          };
        })() : undefined,
        allPcs: h.allPcs?.map((p) => `pc${h.serialOf(p)} ${p.connectionState}`),
        presented: h.presented ? { count: h.presented.length, last: h.presented.slice(-3) } : undefined,
        samples: h.samples,
        wsFrames: window.__wsLog ?? [],
        sdkLog,
      };
    },
  };
  window.clusterE2E = h;
  return true;
}

/** The node whose HTTP address is `host` (`ip:port`). */
export function nodeByHost(cluster, host) {
  return cluster.nodes.find((n) => new URL(n.url).host === host) ?? null;
}

/**
 * Open a page on `node` (its demo page: a quiet host), with the SDK and the harness in it.
 * `podiumJsFromDisk`: the page's /podium.js is this working copy's web/podium.js (the binary
 * serves the copy embedded when it was built).
 */
export async function openClusterPage(browser, node, label, { podiumJsFromDisk = false } = {}) {
  const page = await openSdkPage({ browser, server: node }, label);
  if (podiumJsFromDisk) {
    await page.route((url) => url.pathname === '/podium.js', (route) => route.fulfill({
      path: PODIUM_JS, contentType: 'text/javascript; charset=utf-8', headers: { 'cache-control': 'no-cache' },
    }));
    // The demo page imported the served copy already: load it again through the route.
    await page.reload();
  }
  await page.evaluate(installClusterHarness, { accountId: ACCOUNT_ID });
  return page;
}

export function call(page, method, arg) {
  return page.evaluate(([m, a]) => window.clusterE2E[m](a), [method, arg]);
}

/** Wait until `predicate(clusterE2E, arg)` is truthy in the page (polled every 100 ms). */
export async function waitIn(page, predicate, arg, { what, timeout = WAIT } = {}) {
  // A function, not a string expression: the page's CSP forbids eval.
  // eslint-disable-next-line no-new-func
  const fn = new Function('arg', `return (${predicate.toString()})(window.clusterE2E, arg);`);
  const started = Date.now();
  try {
    const handle = await page.waitForFunction(fn, arg ?? null, { timeout, polling: 100 });
    const value = await handle.jsonValue();
    await handle.dispose();
    return value;
  } catch (err) {
    if (err?.name !== 'TimeoutError' && !/Timeout/i.test(err?.message ?? '')) throw err;
    throw new Error(`Timed out after ${Date.now() - started} ms waiting for ${what} on page ${page.label}`);
  }
}

export const truncate = (s, n = 400) => (typeof s === 'string' && s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s);

function sdpSummary(sdp) {
  if (typeof sdp !== 'string') return sdp;
  return sdp.split(/\r?\n/).filter((l) => /^(m=|c=|a=mid|a=(send|recv|sendrecv|inactive)$|a=ice-lite|a=candidate|a=setup|a=msid:|a=group)/.test(l)
    || /^a=rtpmap:\d+ (opus|multiopus|VP8|VP9|H264|AV1)\//i.test(l));
}

/** One WebSocket frame for the compact report (times relative to `t0`, SDPs summarised). */
function compactFrame(f, t0) {
  const rel = `${f.at - t0}ms ws${f.ws} ${f.kind}`;
  if (f.kind !== 'in' && f.kind !== 'out') return `${rel} ${JSON.stringify({ ...f, at: undefined, ws: undefined, kind: undefined })}`;
  const msg = f.msg;
  if (msg && typeof msg === 'object' && msg.data && typeof msg.data === 'object' && typeof msg.data.sdp === 'string') {
    return `${rel} ${JSON.stringify({ ...msg, data: { ...msg.data, sdp: sdpSummary(msg.data.sdp) } })}`;
  }
  return `${rel} ${truncate(JSON.stringify(msg), 500)}`;
}

/** Samples around the kill (and the last ones), compacted: time, pc, state, frames. */
function compactSamples(samples, t0, killAt) {
  // Around the kill: about 2 samples per second and every change of PC or state.
  const every = Math.max(1, Math.round(500 / Math.max(1, (samples.at(-1)?.at - samples[0]?.at) / Math.max(1, samples.length - 1) || 50)));
  const pick = killAt
    ? samples.filter((s, i) => (s.at >= killAt - 1000 && s.at <= killAt + 60_000
      && (i % every === 0 || s.pc !== samples[i - 1]?.pc || s.state !== samples[i - 1]?.state)) || i >= samples.length - 5)
    : samples.slice(-20);
  return pick.map((s) => `${s.at - t0}ms pc${s.pc} ${s.state} frames=${s.frames} packets=${s.packets} keyFrames=${s.keyFrames} pli=${s.pli}${s.others ? ` others=${JSON.stringify(s.others)}` : ''}`).join('\n');
}

/**
 * Compact diagnostics (events, Director calls, WS frames, SDK log, page console, each node's
 * output tail, the cluster status from a live node); the full dump goes to web/test-results/.
 * Times are in ms relative to `killAt` when given (the kill, or whatever `atLabel` names;
 * negative before it), else to now.
 */
export async function clusterDiagnostics(pages, cluster, { killAt = null, atLabel = 'the kill', tag = 'cluster' } = {}) {
  const compact = [];
  const full = [];
  const t0 = killAt ?? Date.now();
  compact.push(`(times in ms relative to ${killAt ? atLabel : 'now'})`);
  for (const page of pages) {
    let snap = null;
    try {
      snap = await page.evaluate(() => window.clusterE2E?.snapshot() ?? { note: 'clusterE2E not installed', wsFrames: window.__wsLog ?? [] });
    } catch (err) {
      compact.push(`--- page ${page.label}: snapshot failed: ${err.message}`);
    }
    if (snap) {
      compact.push(`--- page ${page.label} (${snap.url}) ---\n${JSON.stringify({
        role: snap.role,
        endpoints: snap.endpoints,
        events: (snap.events ?? []).map((e) => `${e.at - t0}ms ${e.src}.${e.name} ${truncate(JSON.stringify(e.data), 300)}`),
        errors: snap.errors,
        directorCalls: (snap.directorCalls ?? []).map((c) => `${c.at - t0}ms ${c.kind} via ${c.endpoint} -> ${c.url ?? `${c.error} (HTTP ${c.status})`} in ${c.ms} ms`),
        pcs: (snap.pcs ?? []).map((p) => `pc${p.serial} first seen ${p.at - t0}ms`),
        pc: snap.pc && { ...snap.pc, remoteSdp: sdpSummary(snap.pc.remoteSdp) },
        samePcAsInitial: snap.samePcAsInitial,
        allPcs: snap.allPcs,
        presented: snap.presented,
        podiumView: snap.podiumView && {
          ...snap.podiumView,
          podiumE2E: {
            events: (snap.podiumView.podiumE2E?.events ?? []).map((e) => `${e.wall - t0}ms ${e.src}.${e.name} ${truncate(JSON.stringify(e.data), 200)}`),
            sentCommands: (snap.podiumView.podiumE2E?.sentCommands ?? []).map((c) => `${c.name}#${c.transId}`),
            errors: snap.podiumView.podiumE2E?.errors,
          },
        },
      }, null, 1)}`);
      compact.push(`--- page ${page.label} stats samples ---\n${compactSamples(snap.samples ?? [], t0, killAt)}`);
      compact.push(`--- page ${page.label} WebSocket frames ---\n${(snap.wsFrames ?? []).map((f) => compactFrame(f, t0)).join('\n')}`);
      const sdkLog = (snap.sdkLog ?? []).filter((l) => !/Getting RTC Peer|Broadcast status/.test(l));
      if (sdkLog.length) compact.push(`--- page ${page.label} SDK log (tail) ---\n${sdkLog.slice(-15).map((l) => truncate(l, 300)).join('\n')}`);
      full.push(`--- page ${page.label} ---\n${JSON.stringify(snap, null, 2)}`);
    }
    if (page.consoleLog?.length) {
      compact.push(`--- page ${page.label} console (tail) ---\n${page.consoleLog.slice(-15).map((l) => truncate(l, 300)).join('\n')}`);
      full.push(`--- page ${page.label} console ---\n${page.consoleLog.join('\n')}`);
    }
  }
  for (const node of cluster.nodes) {
    const state = node.killed() ? `killed ${cluster.killedAt[node.name] ? `at ${cluster.killedAt[node.name] - t0}ms` : '(exited)'}` : 'running';
    compact.push(`--- ${node.name} ${node.url} (${state}) output (tail) ---\n${node.tail(40)}`);
    full.push(`--- ${node.name} ${node.url} (${state}) output ---\n${node.logs()}`);
  }
  const live = cluster.nodes.find((n) => !n.killed());
  if (live) {
    try {
      const status = await clusterStatus(live);
      compact.push(`--- cluster status (GET /api/admin/cluster on ${live.name}) ---\n${JSON.stringify(status.body?.data ?? status)}`);
    } catch (err) {
      compact.push(`--- cluster status unavailable: ${err.message}`);
    }
  }
  try {
    await mkdir(RESULTS_DIR, { recursive: true });
    const file = path.join(RESULTS_DIR, `failure-${tag}-${new Date().toISOString().replace(/[:.]/g, '-')}.txt`);
    await writeFile(file, full.join('\n'));
    compact.push(`--- full dump (all events, frames, samples, SDK log, every node's whole log): ${file}`);
  } catch (err) {
    compact.push(`--- could not write full dump: ${err.message}`);
  }
  return compact.join('\n');
}

/**
 * Run fn(ctx); on failure append diagnostics (ctx.killAt set by the test once it killed, or
 * the moment of whatever it did, named by ctx.atLabel). `pages` may grow while fn runs.
 */
export async function withClusterDiagnostics(pages, cluster, ctx, fn) {
  try {
    return await fn();
  } catch (err) {
    try {
      err.message += `\n${await clusterDiagnostics(pages, cluster, { killAt: ctx.killAt, atLabel: ctx.atLabel, tag: ctx.tag })}`;
    } catch (diagErr) {
      err.message += `\n(diagnostics failed: ${diagErr.message})`;
    }
    throw err;
  } finally {
    if (DUMP_ALWAYS) {
      await mkdir(RESULTS_DIR, { recursive: true });
      const file = path.join(RESULTS_DIR, `${ctx.tag}-logs-${new Date().toISOString().replace(/[:.]/g, '-')}.txt`);
      await writeFile(file, cluster.nodes.map((n) => `--- ${n.name} ${n.url} ---\n${n.logs()}`).join('\n'));
      process.stderr.write(`[${ctx.tag}] node logs: ${file}\n`);
    }
  }
}

/** What set a `reconnect` event off, from the error the SDK put in it. */
export function triggerOf(error) {
  if (/wsConnectionError/i.test(error)) return 'WebSocket (signaling wsConnectionError)';
  if (/RTCPeerConnectionState|Connection state change/i.test(error)) return 'RTCPeerConnection state (connectionStateChange)';
  return `other (${error})`;
}

/** Events of `src` from `at` on, as `+Nms name data` (for the printed summary). */
export async function timeline(page, at, src) {
  const events = await page.evaluate(() => window.clusterE2E.events);
  return events.filter((e) => e.at >= at && (!src || e.src === src) && !/^track$/.test(e.name))
    .map((e) => `+${e.at - at}ms ${e.name}${e.data === null || e.data === undefined ? '' : ` ${truncate(JSON.stringify(e.data), 120)}`}`);
}

/** After `at`: when video packets, PLIs (sent by a viewer, received by a publisher), key frames and frames first went up. */
export async function mediaMilestones(page, at) {
  const m = await page.evaluate((t) => {
    const h = window.clusterE2E;
    return {
      packets: h.recovery(t, 500, 'packets'), frames: h.recovery(t, 500, 'frames'), keyFrames: h.rises(t, 'keyFrames', 3), pli: h.rises(t, 'pli', 12),
    };
  }, at);
  const one = (r) => (r ? `+${r.recoveredAt - at}ms (pc${r.pc})` : 'never');
  const many = (rs) => (rs.length ? rs.map((r) => `+${r.afterMs}ms (pc${r.pc} #${r.value})`).join(' ') : 'none');
  return `packets again ${one(m.packets)}, frames again ${one(m.frames)}, key frames ${many(m.keyFrames)}, PLI count rises ${many(m.pli)}`;
}

/** WebSocket error/close events of the page from `at` on. */
export async function wsEndings(page, at) {
  const log = await page.evaluate(() => window.__wsLog ?? []);
  return log.filter((e) => e.at >= at && (e.kind === 'error' || e.kind === 'close'))
    .map((e) => `+${e.at - at}ms ws${e.ws} ${e.kind}${e.kind === 'close' ? ` code=${e.code}` : ''}`);
}

