// Shared helpers for the browser end-to-end tests: start a Podium server,
// launch Debian Chromium through playwright-core, open pages on the server.
//
// Run (from web/):   npm install && npm run test:e2e
//   one file:        node --test e2e/publish-view.test.js
// Environment:
//   PODIUM_BIN          server binary (default ../target/debug/podium)
//   CHROMIUM_BIN        browser binary (default /usr/bin/chromium; never `playwright install`)
//   PODIUM_E2E_VERBOSE  1 = stream server output and page consoles to stderr
//   PODIUM_E2E_WEB_DIR  serve the web app's top-level files (/, *.js, *.css, *.html, *.svg) to
//                       the browser from this directory instead of the server's copies
//                       (the binary embeds web/ at build time); `1` = this web/ folder.
//                       For working on web/ without rebuilding the server.
// Each test file starts its own server (fresh ports and data dir) and browser.
// On failure the error message carries a compact state dump and the path of a
// full dump (complete SDPs, all events, whole server log) under web/test-results/.
// In-page logic lives in page-harness.js (window.podiumE2E).
import { spawn } from 'node:child_process';
import { before, after } from 'node:test';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Podium binary: $PODIUM_BIN or <repo>/target/debug/podium. */
export const PODIUM_BIN = process.env.PODIUM_BIN || path.resolve(here, '../../target/debug/podium');
/** Chromium binary: $CHROMIUM_BIN or /usr/bin/chromium. */
export const CHROMIUM_BIN = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
/** Publish token given to every test server. */
export const PUBLISH_TOKEN = 'e2e-token';
/** Admin secret given to every test server (Bearer token of /api/admin/*). */
export const ADMIN_SECRET = 'e2e-admin-9d1b37c4e08a52f6b7c3d1e9';
/** Set PODIUM_E2E_VERBOSE=1 to stream server output and page console to stderr. */
const VERBOSE = !!process.env.PODIUM_E2E_VERBOSE;
/** Directory whose top-level web files replace the server's embedded ones (see header). */
const WEB_DIR = process.env.PODIUM_E2E_WEB_DIR === '1'
  ? path.resolve(here, '..')
  : (process.env.PODIUM_E2E_WEB_DIR ? path.resolve(process.env.PODIUM_E2E_WEB_DIR) : null);
const WEB_TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml',
};

export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection',
  '--autoplay-policy=no-user-gesture-required',
];

/** A free TCP port on `host` (default 127.0.0.1). */
export async function freeTcpPort(host = '127.0.0.1') {
  const server = net.createServer();
  server.listen(0, host);
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

/** Unique stream name for one test. */
export function uniqueStreamName(prefix = 'e2e') {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * Spawn `podium serve` on free ports with a fresh data dir and wait for /healthz.
 * `host` (default 127.0.0.1) is the IP of the HTTP, UDP and RTMP addresses (another loopback
 * address such as 127.0.0.2 gives each node of a local cluster its own IP).
 * @param {{extraArgs?: string[], host?: string}} [options]
 * @returns {Promise<{url: string, host: string, httpPort: number, rtmpPort: number, rtmpUrl: string, logs: () => string, stop: () => Promise<void>}>}
 */
export async function startServer({
  extraArgs = [], host = '127.0.0.1', dataDir: keptDir = null, httpPort: keptPort = null,
} = {}) {
  // A restart passes the previous server's port and data directory (`stop({keepData: true})`).
  const httpPort = keptPort ?? await freeTcpPort(host);
  // RTMP ingest on a free port of its own (the default 1935 would be shared by parallel servers).
  const rtmpPort = await freeTcpPort(host);
  const dataDir = keptDir ?? await mkdtemp(path.join(os.tmpdir(), 'podium-e2e-data-'));
  const args = [
    'serve',
    '--http-addr', `${host}:${httpPort}`,
    // Port 0: every media worker binds a free port of its own (a fixed port is a range).
    '--udp-addr', `${host}:0`,
    '--rtmp-addr', `${host}:${rtmpPort}`,
    '--data-dir', dataDir,
    '--publish-token', PUBLISH_TOKEN,
    '--admin-secret', ADMIN_SECRET,
    ...extraArgs,
  ];
  const child = spawn(PODIUM_BIN, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { RUST_LOG: 'info', ...process.env },
  });
  let output = '';
  const collect = (chunk) => {
    output += chunk;
    if (output.length > 2_000_000) output = output.slice(-1_000_000);
    if (VERBOSE) process.stderr.write(`[podium] ${chunk}`);
  };
  child.stdout.setEncoding('utf8').on('data', collect);
  child.stderr.setEncoding('utf8').on('data', collect);
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => { exited = { code, signal }; resolve(exited); });
    child.on('error', (err) => { exited = { error: err }; resolve(exited); });
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);

  const url = `http://${host}:${httpPort}`;
  const server = {
    url,
    host,
    httpPort,
    rtmpPort,
    /** The RTMP application URL publishers use (`rtmp://…/live`). */
    rtmpUrl: `rtmp://${host}:${rtmpPort}/live`,
    dataDir,
    process: child,
    /** Everything the server printed so far. */
    logs: () => output,
    /** Last `n` lines of server output. */
    tail: (n = 60) => output.split('\n').slice(-n).join('\n'),
    async stop({ keepData = false } = {}) {
      process.off('exit', killOnExit);
      if (!exited) {
        child.kill('SIGTERM');
        const res = await Promise.race([exitPromise, sleep(3000).then(() => null)]);
        if (!res) {
          child.kill('SIGKILL');
          await exitPromise;
        }
      }
      if (!keepData) await rm(dataDir, { recursive: true, force: true });
    },
  };

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) {
      await server.stop();
      throw new Error(`podium exited before becoming healthy (${JSON.stringify(exited)}): ${PODIUM_BIN} ${args.join(' ')}\n${output}`);
    }
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`podium did not answer GET /healthz with 200 within 30 s\n${output}`);
    }
    await sleep(100);
  }
  if (!WEB_DIR) await warnIfStaleAssets(url);
  return server;
}

/**
 * Call the admin API from Node: `method path` with the admin secret as Bearer token.
 * @returns {Promise<{status: number, body: any}>} HTTP status and parsed JSON body (null if none)
 */
export async function adminRequest(server, method, urlPath, body) {
  const headers = { Authorization: `Bearer ${ADMIN_SECRET}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${server.url}${urlPath}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed };
}

/**
 * Create a stored API token through the admin API (POST /api/admin/tokens).
 * `record` (publish tokens) lets the publisher record; left out of the body unless given.
 * @param {{label?: string, action?: 'publish'|'subscribe', streams: string[], multisource?: boolean, record?: boolean}} spec
 * @returns {Promise<{id: string, secret: string, token: object}>}
 */
export async function createToken(server, {
  label = 'e2e', action = 'publish', streams, multisource = false, record,
}) {
  const body = { label, action, streams, multisource, ...(record === undefined ? {} : { record }) };
  const res = await adminRequest(server, 'POST', '/api/admin/tokens', body);
  if (res.status !== 201 || res.body?.status !== 'success' || !res.body?.data?.secret || res.body?.data?.token?.id === undefined) {
    throw new Error(`POST /api/admin/tokens ${JSON.stringify(body)} → HTTP ${res.status} ${JSON.stringify(res.body)}`);
  }
  const { token, secret } = res.body.data;
  return { id: token.id, secret, token };
}

let staleWarned = false;
/** Warn (once) when the server's embedded web files differ from web/ on disk. */
async function warnIfStaleAssets(url) {
  if (staleWarned) return;
  const stale = [];
  for (const file of ['index.html', 'demo.html', 'podium.js', 'podium-migrate.js', 'demo.js', 'style.css', 'sio.js', 'app.js', 'app-store.js', 'app-ui.js', 'app-lobby.js', 'app-room.js', 'app-media.js', 'app.css']) {
    try {
      const [served, onDisk] = await Promise.all([
        fetch(`${url}/${file === 'index.html' ? '' : file}`).then((r) => r.text()),
        readFile(path.resolve(here, '..', file), 'utf8'),
      ]);
      if (served !== onDisk) stale.push(file);
    } catch {
      // not decisive; skip
    }
  }
  if (stale.length) {
    staleWarned = true;
    process.stderr.write(`[e2e] WARNING: the server serves older copies of ${stale.join(', ')} than web/ (they are embedded at build time). `
      + 'Rebuild the server, or set PODIUM_E2E_WEB_DIR=1 to test the working copy.\n');
  }
}

/**
 * Launch Chromium with fake media devices and a fresh profile.
 * Every page of the returned context gets the in-page test harness (e2e/page-harness.js).
 * @returns {Promise<{context: import('playwright-core').BrowserContext, close: () => Promise<void>}>}
 */
export async function launchBrowser() {
  const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'podium-e2e-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_BIN,
    headless: true,
    // A routed (fulfilled) document has no IP address space, so Chromium's Local Network
    // Access checks would block its WebSocket to 127.0.0.1.
    args: WEB_DIR ? [...CHROMIUM_ARGS, '--disable-features=LocalNetworkAccessChecks'] : CHROMIUM_ARGS,
  });
  await context.addInitScript({ path: path.join(here, 'page-harness.js') });
  if (WEB_DIR) {
    // Only same-origin top-level files (/, /podium.js, /demo.js, /style.css, ...); API and WS untouched.
    await context.route((url) => url.hostname === '127.0.0.1' && /^\/([\w.-]+\.(js|css|html|svg))?$/.test(url.pathname), (route) => {
      const { pathname } = new URL(route.request().url());
      const file = pathname === '/' ? 'index.html' : pathname.slice(1);
      return route.fulfill({ path: path.join(WEB_DIR, file), contentType: WEB_TYPES[path.extname(file)], headers: { 'cache-control': 'no-cache' } });
    });
  }
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Per-file suite setup: registers node:test `before`/`after` hooks that start a Podium server
 * (startServer) and, unless `browser: false`, a Chromium (launchBrowser), and close both after
 * the file's tests (browser first). Returns an object whose `server` and `browser` properties
 * are filled in by the `before` hook, so read them inside tests, not at module load.
 * @param {object} [options]
 * @param {string[]} [options.serverArgs] extra `podium serve` arguments (startServer `extraArgs`)
 * @param {boolean} [options.browser=true] launch a browser too
 * @param {(env: {server: object, browser: object|undefined}) => Promise<void>|void} [options.setup]
 *   runs at the end of the `before` hook
 * @param {(env: {server: object|undefined, browser: object|undefined}) => Promise<void>|void} [options.teardown]
 *   runs at the start of the `after` hook, before the browser and server are closed
 * @returns {{server: object|undefined, browser: object|undefined}}
 */
export function useServerAndBrowser({ serverArgs, browser: withBrowser = true, setup, teardown } = {}) {
  const env = { server: undefined, browser: undefined };
  before(async () => {
    env.server = await startServer(serverArgs ? { extraArgs: serverArgs } : undefined);
    if (withBrowser) env.browser = await launchBrowser();
    if (setup) await setup(env);
  });
  after(async () => {
    if (teardown) await teardown(env);
    await env.browser?.close();
    await env.server?.stop();
  });
  return env;
}

/**
 * Open a page on the server's origin (a secure context: http://127.0.0.1).
 * Page console output and errors are kept in `page.consoleLog` for diagnostics.
 * `path` defaults to the publish/view demo page, which runs nothing until clicked: a quiet
 * host for the in-page harness. Pass `{path: '/'}` for the rooms app.
 */
export async function openPage(browser, server, label, { path: pagePath = '/demo.html' } = {}) {
  const page = await browser.context.newPage();
  page.label = label;
  page.consoleLog = [];
  page.on('console', (msg) => {
    const line = `[${label}] ${msg.type()}: ${msg.text()}`;
    page.consoleLog.push(line);
    if (VERBOSE) process.stderr.write(`${line}\n`);
  });
  page.on('pageerror', (err) => {
    const line = `[${label}] pageerror: ${err.message}`;
    page.consoleLog.push(line);
    if (VERBOSE) process.stderr.write(`${line}\n`);
  });
  await page.goto(`${server.url}${pagePath}`);
  return page;
}

/** Call `podiumE2E[method](arg)` inside the page and return its (serialisable) result. */
export function inPage(page, method, arg) {
  return page.evaluate(([m, a]) => window.podiumE2E[m](a), [method, arg]);
}

/**
 * Wait until `predicate(podiumE2E, arg)` is truthy inside the page.
 * On timeout, throws an error describing `what` plus diagnostics from `pages` and `server`.
 */
export async function waitInPage(page, predicate, arg, { timeout = 20_000, what, pages = [page], server } = {}) {
  try {
    const handle = await page.waitForFunction(predicate, arg, { timeout, polling: 50 });
    const value = await handle.jsonValue();
    await handle.dispose();
    return value;
  } catch (err) {
    if (err?.name !== 'TimeoutError' && !/Timeout/i.test(err?.message ?? '')) throw err;
    throw new Error(`Timed out after ${timeout} ms waiting for ${what ?? 'condition'} on page ${page.label}\n${await diagnostics(pages, server)}`);
  }
}

/** Directory for full failure dumps (SDPs, all events, whole server log). */
export const RESULTS_DIR = path.resolve(here, '../test-results');

function compactSnapshot(snap) {
  const sdpInfo = (sdp) => {
    if (!sdp) return null;
    const lines = sdp.split(/\r?\n/);
    return lines.filter((l) => /^(m=|a=mid|a=(send|recv|sendrecv|inactive)|a=ice-lite|a=candidate|a=setup|a=msid:|a=group)/.test(l)
      || /^a=rtpmap:\d+ (opus|VP8|VP9|H264|AV1)\//i.test(l));
  };
  const pcCompact = (pc) => pc && {
    ...pc,
    localSdp: undefined,
    remoteSdp: undefined,
    remoteSdpSummary: sdpInfo(pc.remoteSdp),
  };
  return {
    ...snap,
    events: snap.events.map((e) => `${Math.round(e.t)}ms ${e.src}.${e.name} ${JSON.stringify(e.data)}`),
    sentCommands: snap.sentCommands.map((c) => `${Math.round(c.t)}ms ${c.name}#${c.transId}`),
    publisher: pcCompact(snap.publisher),
    viewer: pcCompact(snap.viewer),
  };
}

/**
 * Diagnostics for a failure: returns a compact text (events, stats, answer SDP
 * summary, server output tail) and writes the full dump, including complete
 * SDPs and the whole server output, to web/test-results/.
 */
export async function diagnostics(pages, server) {
  const compact = [];
  const full = [];
  for (const page of pages) {
    let snap = null;
    try {
      snap = await inPage(page, 'snapshot');
    } catch (err) {
      compact.push(`--- page ${page.label}: snapshot failed: ${err.message}`);
    }
    if (snap) {
      compact.push(`--- page ${page.label} ---\n${JSON.stringify(compactSnapshot(snap), null, 1)}`);
      full.push(`--- page ${page.label} ---\n${JSON.stringify(snap, null, 2)}`);
    }
    if (page.consoleLog?.length) {
      compact.push(`--- page ${page.label} console (tail) ---\n${page.consoleLog.slice(-20).join('\n')}`);
      full.push(`--- page ${page.label} console ---\n${page.consoleLog.join('\n')}`);
    }
  }
  if (server) {
    compact.push(`--- server output (tail) ---\n${server.tail(60)}`);
    full.push(`--- server output ---\n${server.logs()}`);
  }
  try {
    await mkdir(RESULTS_DIR, { recursive: true });
    const file = path.join(RESULTS_DIR, `failure-${new Date().toISOString().replace(/[:.]/g, '-')}.txt`);
    await writeFile(file, full.join('\n'));
    compact.push(`--- full dump (complete SDPs, all events, whole server log): ${file}`);
  } catch (err) {
    compact.push(`--- could not write full dump: ${err.message}`);
  }
  return compact.join('\n');
}

/** Run `fn`; if it throws, append diagnostics to the error message. */
export async function withDiagnostics(pages, server, fn) {
  try {
    return await fn();
  } catch (err) {
    if (!String(err?.message).includes('--- page')) {
      err.message += `\n${await diagnostics(pages, server)}`;
    }
    throw err;
  }
}

/** ffmpeg binary for RTMP publishers: $FFMPEG_BIN or `ffmpeg` on the PATH (Debian's 5.1 is enough). */
export const FFMPEG_BIN = process.env.FFMPEG_BIN || 'ffmpeg';

/** Every ffmpeg this process spawned (kept after exit, for diagnostics); live ones die with the process. */
const ffmpegChildren = [];
let ffmpegExitHook = false;

/**
 * ffmpeg arguments for an RTMP publisher of lavfi-generated media: H.264 baseline without
 * B-frames (what WebRTC decoders take) and AAC, in real time (`-re`).
 * @param {string} url `rtmp://…/live/STREAM?token=…[&sourceId=…][&priority=N]`
 * @param {object} [options]
 * @param {string} [options.video] lavfi video source or filtergraph (its output labelled `out0`)
 * @param {string|null} [options.audio] lavfi audio source; null = no audio
 * @param {number} [options.gop] keyframe interval in frames (`-g`)
 */
export function rtmpPublishArgs(url, {
  video = 'testsrc=size=640x360:rate=30', audio = 'sine=frequency=440:sample_rate=48000', gop = 30,
} = {}) {
  return [
    '-re', '-f', 'lavfi', '-i', video,
    ...(audio ? ['-re', '-f', 'lavfi', '-i', audio] : []),
    '-c:v', 'libx264', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p', '-bf', '0', '-g', String(gop),
    '-preset', 'veryfast', '-tune', 'zerolatency',
    ...(audio ? ['-c:a', 'aac', '-b:a', '96k'] : []),
    '-f', 'flv', url,
  ];
}

/**
 * Spawn ffmpeg (`-hide_banner -nostdin -nostats` + args) with its stderr collected.
 * Killed with SIGKILL when the test process exits; stop it yourself (`stop()`, or
 * `stopAllFfmpeg()` in an `after` hook) to end it earlier.
 */
export function spawnFfmpeg(args, { label = 'ffmpeg' } = {}) {
  const fullArgs = ['-hide_banner', '-nostdin', '-nostats', ...args];
  const child = spawn(FFMPEG_BIN, fullArgs, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk) => {
    stderr += chunk;
    if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
    if (VERBOSE) process.stderr.write(`[${label}] ${chunk}`);
  });
  let status = null;
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => { status = { code, signal }; resolve(status); });
    child.on('error', (err) => { status = { error: err.message }; resolve(status); });
  });
  if (!ffmpegExitHook) {
    ffmpegExitHook = true;
    process.on('exit', () => {
      for (const f of ffmpegChildren) if (f.running()) f.process.kill('SIGKILL');
    });
  }
  const ff = {
    label,
    args: fullArgs,
    process: child,
    pid: child.pid,
    /** Resolves with {code, signal} (or {error}) when the process ends. */
    exited,
    /** Resolves with the exit status, or null if still running after `ms` (no timer left behind). */
    exitedWithin(ms) {
      let timer;
      const timeout = new Promise((resolve) => { timer = setTimeout(resolve, ms, null); });
      return Promise.race([exited, timeout]).finally(() => clearTimeout(timer));
    },
    /** null while running, then {code, signal} or {error}. */
    status: () => status,
    running: () => status === null,
    /** Everything ffmpeg printed on stderr so far. */
    stderr: () => stderr,
    tail: (n = 15) => stderr.trimEnd().split('\n').slice(-n).join('\n'),
    /** Send a signal (no-op once it exited). */
    signal(sig) {
      if (status === null) child.kill(sig);
    },
    /** Stop with `signal` (SIGTERM: ffmpeg ends the stream cleanly), SIGKILL after `timeout` ms. */
    async stop({ signal = 'SIGTERM', timeout = 5000 } = {}) {
      if (status === null) {
        child.kill('SIGCONT'); // a SIGSTOPped ffmpeg would not act on SIGTERM
        child.kill(signal);
        if (!(await ff.exitedWithin(timeout))) child.kill('SIGKILL');
      }
      return exited;
    },
  };
  ffmpegChildren.push(ff);
  return ff;
}

/** Stop every ffmpeg still running (SIGKILL: for cleanup). */
export async function stopAllFfmpeg() {
  await Promise.all(ffmpegChildren.filter((f) => f.running()).map((f) => f.stop({ signal: 'SIGKILL' })));
}

/** Each spawned ffmpeg's label, exit status and stderr tail, for failure reports. */
export function ffmpegDiagnostics(n = 15) {
  return ffmpegChildren.map((f) => `--- ${f.label} (pid ${f.pid}, ${f.running() ? 'running' : `exited ${JSON.stringify(f.status())}`}) stderr tail ---\n${f.tail(n)}`).join('\n');
}

export { sleep };
