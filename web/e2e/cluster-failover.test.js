// Cluster failover (issue 15) with the OFFICIAL Millicast JS SDK (npm @millicast/sdk, test-only,
// served to the pages from node_modules through request interception, unmodified): three
// `podium serve --cluster` nodes on 127.0.0.1/.2/.3 sharing a private redis-server, with
// `--origin-max-viewers 0` (every viewer is sent to an edge that pulls the stream from its
// origin over a relay link). A node is killed with SIGKILL (kill -9: no clean leave, its
// Redis record just expires) while an SDK publisher and an SDK viewer are live.
//
//   (1) edge kill: the viewer's edge dies; the SDK notices on its own (no app code calls
//       reconnect), goes back through the Director and decodes video again on a live node.
//   (2) origin kill: the stream's origin dies; the publisher SDK reconnects on its own
//       through a surviving node's Director (a new origin is claimed); the viewer on its edge
//       keeps its RTCPeerConnection and its signaling (no second `view`), hears `inactive`
//       then `active`, and decodes video again.
//
// Each test prints `[cluster-failover] …` lines: the gap (kill → video frames decoded again,
// from getStats sampled every 50 ms in the page) and which SDK path triggered a reconnect
// (its `reconnect` event: "Signaling error: wsConnectionError" = the WebSocket, "Connection
// state change: …" = the RTCPeerConnection state). Timings are reported, never asserted.
//
// The Director calls of each page go through its tokenGenerator, which takes a list of
// Director endpoints (a node URL each; CORS is allowed on the Director) and moves to the next
// one only when a node cannot be reached at all (as behind a client-side failover list).
// Pages are opened on a node (its demo page, a quiet host); their Content Security Policy is
// enforced: a node's pages may connect to every node of the cluster (and nowhere else), since
// the SDK signals on the node the Director chose.
//
// Run alone:  cd web && node --test --test-concurrency=1 e2e/cluster-failover.test.js
// Debug:      PODIUM_E2E_VERBOSE=1 PODIUM_LOG=info,podium_server=debug (server output of all
//             nodes interleaved); PODIUM_E2E_CLUSTER_DUMP=1 writes every node's whole log to
//             web/test-results/ after each test, passed or not. On failure the message carries
//             page events, Director calls, WebSocket frames, the SDK log, each node's output
//             tail and the cluster status; a full dump goes to web/test-results/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  uniqueStreamName, PUBLISH_TOKEN, RESULTS_DIR, sleep, launchBrowser,
} from './helpers.js';
import { SDK_PKG, openSdkPage } from './sdk-page.js';
import {
  startRedis, startNode, clusterStatus, waitForNodes,
} from './cluster-helpers.js';

/** Account id of a default Podium server. */
const ACCOUNT_ID = 'podium';
/** Longest single wait. */
const WAIT = 45_000;
const DUMP_ALWAYS = !!process.env.PODIUM_E2E_CLUSTER_DUMP;

let browser;
before(async () => {
  browser = await launchBrowser();
  // Record every WebSocket frame in every page (installed before any page script).
  await browser.context.addInitScript(installWsRecorder);
});
after(async () => {
  await browser?.close();
});

// ---------------------------------------------------------------------------
// In-page code

/** Init script: wraps window.WebSocket to log every frame (wall-clock `at`) in window.__wsLog. */
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
 */
async function installClusterHarness({ accountId }) {
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

    /** Every 50 ms: the current PC, its state and video frames decoded (viewer) or encoded (publisher). */
    startSampler() {
      if (h.samplerStarted) return;
      h.samplerStarted = true;
      const tick = async () => {
        try {
          const pc = h.currentPc();
          const sample = {
            at: now(), pc: h.serialOf(pc), state: pc?.connectionState ?? null, frames: null, packets: null, keyFrames: null, pli: null,
          };
          if (pc && pc.connectionState !== 'closed') {
            const report = await pc.getStats();
            const add = (field, value) => { sample[field] = (sample[field] ?? 0) + (value ?? 0); };
            for (const s of report.values()) {
              if (s.kind !== 'video') continue;
              if (h.role === 'view' && s.type === 'inbound-rtp') {
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
        setTimeout(tick, 50);
      };
      tick();
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
        samples: h.samples,
        wsFrames: window.__wsLog ?? [],
        sdkLog,
      };
    },
  };
  window.clusterE2E = h;
  return true;
}

// ---------------------------------------------------------------------------
// Node-side helpers

/** Start a private Redis and three nodes (node i on 127.0.0.i), every viewer on an edge. */
async function startCluster() {
  const redis = await startRedis();
  const nodes = [];
  const cluster = {
    redis,
    nodes,
    killedAt: {},
    async stop() {
      await Promise.all(nodes.map((n) => n.stop().catch(() => {})));
      await redis.stop();
    },
  };
  try {
    for (const index of [1, 2, 3]) {
      nodes.push(await startNode({ redis, index, extraArgs: ['--origin-max-viewers', '0'] }));
    }
    await waitForNodes(nodes[0], 3);
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

/** The node whose HTTP address is `host` (`ip:port`). */
function nodeByHost(cluster, host) {
  return cluster.nodes.find((n) => new URL(n.url).host === host) ?? null;
}

/** Open a page on `node` (its demo page: a quiet host), with the SDK and the harness in it. */
async function openClusterPage(node, label) {
  const page = await openSdkPage({ browser, server: node }, label);
  await page.evaluate(installClusterHarness, { accountId: ACCOUNT_ID });
  return page;
}

function call(page, method, arg) {
  return page.evaluate(([m, a]) => window.clusterE2E[m](a), [method, arg]);
}

/** Wait until `predicate(clusterE2E, arg)` is truthy in the page (polled every 100 ms). */
async function waitIn(page, predicate, arg, { what, timeout = WAIT } = {}) {
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

const truncate = (s, n = 400) => (typeof s === 'string' && s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s);

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
  // Around the kill: every 10th sample (about 2 per second) and every change of PC or state.
  const pick = killAt
    ? samples.filter((s, i) => (s.at >= killAt - 1000 && s.at <= killAt + 60_000
      && (i % 10 === 0 || s.pc !== samples[i - 1]?.pc || s.state !== samples[i - 1]?.state)) || i >= samples.length - 5)
    : samples.slice(-20);
  return pick.map((s) => `${s.at - t0}ms pc${s.pc} ${s.state} frames=${s.frames} packets=${s.packets} keyFrames=${s.keyFrames} pli=${s.pli}`).join('\n');
}

/**
 * Compact diagnostics (events, Director calls, WS frames, SDK log, page console, each node's
 * output tail, the cluster status from a live node); the full dump goes to web/test-results/.
 * Times are in ms relative to the kill when there was one (negative before it).
 */
async function clusterDiagnostics(pages, cluster, { killAt = null, tag = 'cluster-failover' } = {}) {
  const compact = [];
  const full = [];
  const t0 = killAt ?? Date.now();
  compact.push(`(times in ms relative to ${killAt ? 'the kill' : 'now'})`);
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

/** Run fn(ctx); on failure append diagnostics (ctx.killAt set by the test once it killed). */
async function withClusterDiagnostics(pages, cluster, ctx, fn) {
  try {
    return await fn();
  } catch (err) {
    try {
      err.message += `\n${await clusterDiagnostics(pages, cluster, { killAt: ctx.killAt, tag: ctx.tag })}`;
    } catch (diagErr) {
      err.message += `\n(diagnostics failed: ${diagErr.message})`;
    }
    throw err;
  } finally {
    if (DUMP_ALWAYS) {
      await mkdir(RESULTS_DIR, { recursive: true });
      const file = path.join(RESULTS_DIR, `${ctx.tag}-logs-${new Date().toISOString().replace(/[:.]/g, '-')}.txt`);
      await writeFile(file, cluster.nodes.map((n) => `--- ${n.name} ${n.url} ---\n${n.logs()}`).join('\n'));
      process.stderr.write(`[cluster-failover] node logs: ${file}\n`);
    }
  }
}

/** SIGKILL `node`; returns the wall-clock time just before the signal. */
async function killNode(cluster, node) {
  const at = Date.now();
  cluster.killedAt[node.name] = at;
  await node.kill();
  return at;
}

/** What set a `reconnect` event off, from the error the SDK put in it. */
function triggerOf(error) {
  if (/wsConnectionError/i.test(error)) return 'WebSocket (signaling wsConnectionError)';
  if (/RTCPeerConnectionState|Connection state change/i.test(error)) return 'RTCPeerConnection state (connectionStateChange)';
  return `other (${error})`;
}

/** Events of `src` from `at` on, as `+Nms name data` (for the printed summary). */
async function timeline(page, at, src) {
  const events = await page.evaluate(() => window.clusterE2E.events);
  return events.filter((e) => e.at >= at && (!src || e.src === src) && !/^track$/.test(e.name))
    .map((e) => `+${e.at - at}ms ${e.name}${e.data === null || e.data === undefined ? '' : ` ${truncate(JSON.stringify(e.data), 120)}`}`);
}

/** After `at`: when video packets, PLIs (sent by a viewer, received by a publisher), key frames and frames first went up. */
async function mediaMilestones(page, at) {
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
async function wsEndings(page, at) {
  const log = await page.evaluate(() => window.__wsLog ?? []);
  return log.filter((e) => e.at >= at && (e.kind === 'error' || e.kind === 'close'))
    .map((e) => `+${e.at - at}ms ws${e.ws} ${e.kind}${e.kind === 'close' ? ` code=${e.code}` : ''}`);
}

// ---------------------------------------------------------------------------
// Tests

test(`cluster, @millicast/sdk ${SDK_PKG.version}: the viewer's edge is killed (SIGKILL); the SDK reconnects by itself and decodes video again`, { timeout: 300_000 }, async () => {
  const cluster = await startCluster();
  const [node1, node2, node3] = cluster.nodes;
  const streamName = uniqueStreamName('cl-edge');
  const ctx = { killAt: null, tag: 'cluster-failover-edge' };
  const pages = [];
  try {
    const pub = await openClusterPage(node1, 'pub@node1');
    pages.push(pub);
    const viewer = await openClusterPage(node3, 'view@node3');
    pages.push(viewer);
    await withClusterDiagnostics(pages, cluster, ctx, async () => {
      // Publisher through node 1's Director: it lands on the stream's origin.
      await call(pub, 'startPublish', { streamName, token: PUBLISH_TOKEN, endpoints: [node1.url] });
      const pubHosts = await call(pub, 'wsHosts');
      const origin = nodeByHost(cluster, pubHosts.at(-1).host);
      assert.ok(origin, `the publisher's WebSocket host ${pubHosts.at(-1).host} is a node`);

      // Viewer through node 3's Director (then the others', should node 3 be unreachable).
      await call(viewer, 'startView', { streamName, endpoints: [node3.url, node1.url, node2.url] });
      const viewHosts = await call(viewer, 'wsHosts');
      const edge = nodeByHost(cluster, viewHosts.at(-1).host);
      assert.ok(edge, `the viewer's WebSocket host ${viewHosts.at(-1).host} is a node`);
      assert.notEqual(edge, origin, `--origin-max-viewers 0: the viewer is on an edge, not on the origin ${origin.name}`);

      await waitIn(viewer, (h) => h.hasEventAfter('view', 'broadcastEvent:active', 0), null, { what: 'broadcastEvent "active"' });
      await waitIn(viewer, (h) => h.samples.some((s) => s.frames > 0), null, { what: 'first decoded video frame on the edge (inbound-rtp framesDecoded > 0)' });
      await waitIn(viewer, (h) => h.framesRising(1000), null, { what: 'framesDecoded rising on the edge' });
      const beforeKill = await viewer.evaluate(() => ({ pc: window.clusterE2E.serialOf(window.clusterE2E.currentPc()), reconnects: window.clusterE2E.events.filter((e) => e.name === 'reconnect').length }));
      assert.equal(beforeKill.reconnects, 0, 'no reconnect before the kill');

      // kill -9 the viewer's node.
      const killAt = await killNode(cluster, edge);
      ctx.killAt = killAt;

      // The SDK reconnects on its own (nothing here calls reconnect) and decodes again.
      await waitIn(viewer, (h, at) => h.hasEventAfter('view', 'reconnect', at), killAt,
        { what: `the SDK's own "reconnect" event after ${edge.name} was killed` });
      const rec = await waitIn(viewer, (h, at) => h.recovery(at), killAt,
        { what: 'video frames decoded again after the stall that followed the kill' });
      await waitIn(viewer, (h) => h.framesRising(1000), null, { what: 'framesDecoded rising on the new connection' });
      const first = await viewer.evaluate(() => window.clusterE2E.samples.at(-1));
      await sleep(1500);
      const second = await viewer.evaluate(() => window.clusterE2E.samples.at(-1));
      assert.equal(second.pc, first.pc, 'one RTCPeerConnection while checking');
      assert.ok(second.frames > first.frames, `video framesDecoded increases after the reconnect (${first.frames} -> ${second.frames})`);
      assert.notEqual(second.pc, beforeKill.pc, `the SDK made a new RTCPeerConnection (pc${beforeKill.pc} before the kill, pc${second.pc} now)`);
      assert.equal(second.state, 'connected', 'the new RTCPeerConnection is connected');

      const hosts = await call(viewer, 'wsHosts');
      const now = nodeByHost(cluster, hosts.at(-1).host);
      assert.ok(now && !now.killed(), `the viewer's last WebSocket (${hosts.at(-1).host}) is on a live node (${now?.name})`);
      assert.ok(hosts.at(-1).opened, 'the last WebSocket opened');

      const events = await viewer.evaluate(() => window.clusterE2E.events);
      const reconnects = events.filter((e) => e.src === 'view' && e.name === 'reconnect' && e.at > killAt);
      const trigger = triggerOf(reconnects[0].data.error);
      const directorCalls = (await viewer.evaluate(() => window.clusterE2E.directorCalls)).filter((c) => c.at > killAt)
        .map((c) => `+${c.at - killAt}ms via ${new URL(c.endpoint).host} -> ${c.url ? new URL(c.url).host : `${c.error}`}`);
      console.log(`[cluster-failover] edge kill: gap ${rec.gapMs} ms (SIGKILL of ${edge.name} -> video framesDecoded rising again on ${now.name}; last frame before the stall at +${rec.lastFrameAt - killAt} ms); origin ${origin.name}`);
      console.log(`[cluster-failover] edge kill: reconnect triggered by ${trigger}: first reconnect event at +${reconnects[0].at - killAt} ms ${JSON.stringify(reconnects[0].data)}; ${reconnects.length} reconnect event(s)`);
      console.log(`[cluster-failover] edge kill: viewer SDK events after the kill: ${(await timeline(viewer, killAt, 'view')).join(' | ')}`);
      console.log(`[cluster-failover] edge kill: viewer video after the kill: ${await mediaMilestones(viewer, killAt)}`);
      console.log(`[cluster-failover] edge kill: viewer WebSocket endings: ${(await wsEndings(viewer, killAt)).join(' | ') || 'none'}; Director calls: ${directorCalls.join(' | ')}`);
    });
  } finally {
    await Promise.all(pages.map((p) => p.close().catch(() => {})));
    await cluster.stop();
  }
});

test(`cluster, @millicast/sdk ${SDK_PKG.version}: the origin is killed (SIGKILL); the publisher reconnects, the viewer on its edge keeps its PeerConnection and decodes again`, { timeout: 300_000 }, async () => {
  const cluster = await startCluster();
  const [node1] = cluster.nodes;
  const streamName = uniqueStreamName('cl-origin');
  const ctx = { killAt: null, tag: 'cluster-failover-origin' };
  const pages = [];
  try {
    const pub = await openClusterPage(node1, 'pub@node1');
    pages.push(pub);
    await withClusterDiagnostics(pages, cluster, ctx, async () => {
      await call(pub, 'startPublish', { streamName, token: PUBLISH_TOKEN, endpoints: [node1.url] });
      const origin = nodeByHost(cluster, (await call(pub, 'wsHosts')).at(-1).host);
      assert.ok(origin, 'the publisher is on a node');

      // The viewer through another node's Director: it lands on an edge.
      const viaNode = cluster.nodes.find((n) => n !== origin && n !== node1) ?? cluster.nodes.find((n) => n !== origin);
      const viewer = await openClusterPage(viaNode, `view@${viaNode.name}`);
      pages.push(viewer);
      await call(viewer, 'startView', { streamName, endpoints: [viaNode.url] });
      const edge = nodeByHost(cluster, (await call(viewer, 'wsHosts')).at(-1).host);
      assert.ok(edge, 'the viewer is on a node');
      assert.notEqual(edge, origin, `--origin-max-viewers 0: the viewer is on an edge, not on the origin ${origin.name}`);
      const third = cluster.nodes.find((n) => n !== origin && n !== edge);

      await waitIn(viewer, (h) => h.hasEventAfter('view', 'broadcastEvent:active', 0), null, { what: 'broadcastEvent "active"' });
      await waitIn(viewer, (h) => h.samples.some((s) => s.frames > 0), null, { what: 'first decoded video frame on the edge' });
      await waitIn(viewer, (h) => h.framesRising(1000), null, { what: 'framesDecoded rising on the edge' });
      await viewer.evaluate(() => { window.clusterE2E.initialPc = window.clusterE2E.currentPc(); });
      const viewsBefore = await call(viewer, 'commandsSent', 'view');
      assert.equal(viewsBefore, 1, 'one view command before the kill');

      // The publisher's next Director calls go to nodes that survive (the edge's, then the third's).
      await pub.evaluate((eps) => { window.clusterE2E.endpoints = eps; }, [edge.url, third.url]);

      const killAt = await killNode(cluster, origin);
      ctx.killAt = killAt;

      // The publisher SDK reconnects by itself to a live node.
      await waitIn(pub, (h, at) => h.hasEventAfter('pub', 'reconnect', at), killAt,
        { what: `the publisher SDK's own "reconnect" event after the origin ${origin.name} was killed` });
      await waitIn(pub, (h, at) => {
        const pc = h.currentPc();
        const ws = h.wsHosts().filter((w) => w.at > at && w.opened);
        return pc?.connectionState === 'connected' && ws.length > 0 && h.framesRising(500);
      }, killAt, { what: 'the publisher connected again (a new WebSocket opened, PC connected, frames encoded)' });
      const pubHost = (await call(pub, 'wsHosts')).at(-1).host;
      const newOrigin = nodeByHost(cluster, pubHost);
      assert.ok(newOrigin && !newOrigin.killed(), `the publisher is on a live node now (${pubHost}: ${newOrigin?.name})`);

      // The viewer on the edge: `inactive`, then `active`, then frames, on the same PC.
      await waitIn(viewer, (h, at) => h.hasEventAfter('view', 'broadcastEvent:inactive', at), killAt,
        { what: 'broadcastEvent "inactive" on the edge after the origin died' });
      await waitIn(viewer, (h, at) => {
        const inactive = h.events.find((e) => e.src === 'view' && e.name === 'broadcastEvent:inactive' && e.at > at);
        return !!inactive && h.hasEventAfter('view', 'broadcastEvent:active', inactive.at);
      }, killAt, { what: 'broadcastEvent "active" after the "inactive" (the edge pulls the stream from the new origin)' });
      const rec = await waitIn(viewer, (h, at) => h.recovery(at), killAt,
        { what: 'video frames decoded again on the edge after the stall that followed the kill' });
      await waitIn(viewer, (h) => h.framesRising(1000), null, { what: 'framesDecoded rising again on the edge' });
      const first = await viewer.evaluate(() => window.clusterE2E.samples.at(-1));
      await sleep(1500);
      const second = await viewer.evaluate(() => window.clusterE2E.samples.at(-1));
      assert.ok(second.frames > first.frames, `video framesDecoded increases (${first.frames} -> ${second.frames})`);

      const kept = await viewer.evaluate(() => ({
        samePc: window.clusterE2E.currentPc() === window.clusterE2E.initialPc,
        state: window.clusterE2E.currentPc()?.connectionState,
        pcsSeen: window.clusterE2E.pcs.length,
        reconnects: window.clusterE2E.events.filter((e) => e.name === 'reconnect').length,
      }));
      assert.equal(kept.samePc, true, 'the viewer still uses the RTCPeerConnection it had before the kill');
      assert.equal(kept.state, 'connected', 'the viewer PC is connected');
      assert.equal(await call(viewer, 'commandsSent', 'view'), 1, 'no second view command');
      assert.equal((await call(viewer, 'wsHosts')).length, 1, 'the viewer opened no second WebSocket');
      assert.equal(kept.reconnects, 0, 'the viewer SDK did not reconnect');

      const pubEvents = await pub.evaluate(() => window.clusterE2E.events);
      const reconnects = pubEvents.filter((e) => e.src === 'pub' && e.name === 'reconnect' && e.at > killAt);
      const trigger = triggerOf(reconnects[0].data.error);
      const reconnected = pubEvents.find((e) => e.src === 'pub' && e.name === 'connectionStateChange' && e.data === 'connected' && e.at > reconnects[0].at);
      const status = await clusterStatus(newOrigin);
      const streamStatus = status.body?.data?.streams?.find((s) => s.stream === streamName);
      const viewerEvents = await timeline(viewer, killAt, 'view');
      const directorCalls = (await pub.evaluate(() => window.clusterE2E.directorCalls)).filter((c) => c.at > killAt)
        .map((c) => `+${c.at - killAt}ms via ${new URL(c.endpoint).host} -> ${c.url ? new URL(c.url).host : `${c.error}`}`);
      console.log(`[cluster-failover] origin kill: viewer gap ${rec.gapMs} ms (SIGKILL of the origin ${origin.name} -> video framesDecoded rising again on the edge ${edge.name}, same PeerConnection; last frame before the stall at +${rec.lastFrameAt - killAt} ms)`);
      console.log(`[cluster-failover] origin kill: publisher reconnect triggered by ${trigger}: first reconnect event at +${reconnects[0].at - killAt} ms ${JSON.stringify(reconnects[0].data)}; ${reconnects.length} reconnect event(s); publisher connected again at +${reconnected ? reconnected.at - killAt : '?'} ms; new origin ${newOrigin.name} (Redis: ${JSON.stringify(streamStatus ?? null)})`);
      console.log(`[cluster-failover] origin kill: publisher SDK events after the kill: ${(await timeline(pub, killAt, 'pub')).join(' | ')}`);
      console.log(`[cluster-failover] origin kill: publisher WebSocket endings: ${(await wsEndings(pub, killAt)).join(' | ') || 'none'}; Director calls: ${directorCalls.join(' | ')}`);
      console.log(`[cluster-failover] origin kill: viewer SDK events after the kill: ${viewerEvents.join(' | ')}`);
      console.log(`[cluster-failover] origin kill: viewer video after the kill: ${await mediaMilestones(viewer, killAt)}`);
      console.log(`[cluster-failover] origin kill: publisher video after the kill: ${await mediaMilestones(pub, killAt)}`);
    });
  } finally {
    await Promise.all(pages.map((p) => p.close().catch(() => {})));
    await cluster.stop();
  }
});
