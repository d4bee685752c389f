// Presence, resume and consent in the rooms server and app (issue 11), against a real
// `podium serve`, with socket.io clients in processes of their own (web/e2e/presence-client.mjs:
// frozen with SIGSTOP, or busy) and the app in headless Chromium:
//   - a frozen client (TCP open, no pongs) leaves its rooms within 10 s (not before its hold),
//     a frozen host hands the room over, and the name is free again;
//   - a client busy for 2 s is not dropped;
//   - a speaker and a host who reload come back unseen, in their role, publishing again;
//   - a speaker frozen for 20 s (a page paused through CDP; a client process stopped with
//     SIGSTOP that resumes with its secret) is seen leaving, then comes back on stage, still muted;
//   - an invitation is asked first (no microphone before "Join the stage"), can be declined;
//   - a denied microphone is shown to everyone ("No mic"), and the speaker can step down.
// Screenshots of the invitation dialog and the "No mic" tile go to web/test-results/.
// The scenarios run in parallel (one server and browser for the file); the heavier browser
// scenarios take turns in one lane so their timings do not starve each other.
//
// Run: cd web && PODIUM_E2E_WEB_DIR=1 node --test e2e/rooms-presence.test.js
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  useServerAndBrowser, openPage, RESULTS_DIR, sleep,
} from './helpers.js';
import {
  botUser as botUserOf, signIn as signInTo, useToneMicrophone, waitFor, tileSel, until,
} from './rooms-helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const sockets = [];
const children = new Set();

const env = useServerAndBrowser({
  // The scenarios run side by side from one address: rates that leave them room (rates are
  // not what this file tests).
  serverArgs: ['--rooms-rate-per-ip', '2000', '--rate-per-ip', '200'],
  setup: () => mkdir(RESULTS_DIR, { recursive: true }),
  teardown: () => {
    for (const s of sockets) s.disconnect();
    for (const c of children) killChild(c);
  },
});

const botUser = (name) => botUserOf(env.server, sockets, name);
const signIn = (page, name, size) => signInTo(env.server, page, name, size);
process.on('exit', () => { for (const c of children) killChild(c); });

const log = (...args) => console.log('[rooms-presence]', ...args);
const secs = (ms) => `${(ms / 1000).toFixed(2)} s`;

/** Runs `fn` when the lane is free (one heavy browser scenario at a time). */
const lane = (() => {
  let tail = Promise.resolve();
  return (fn) => {
    const run = tail.then(fn, fn);
    tail = run.catch(() => {});
    return run;
  };
})();

// ---------------------------------------------------------------------------------------
// socket.io users: in this process (bots) and in child processes (freezable)
// ---------------------------------------------------------------------------------------

/** Matches a room broadcast about `userId` in `roomId` (`user-joined` carries `{id}`). */
const about = (roomId, userId) => (e) => e.args[0] === roomId && (e.args[1] === userId || e.args[1]?.id === userId);

function killChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    child.kill('SIGCONT');
    child.kill('SIGKILL');
  } catch {
    // gone
  }
}

/** A rooms user in a child process (presence-client.mjs), driven over IPC. */
async function childUser(label) {
  const child = fork(path.join(here, 'presence-client.mjs'), [`${env.server.url}/socket.io/`], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(child);
  const pending = new Map();
  const events = [];
  const statuses = [];
  let nextId = 1;
  let readyResolve;
  const ready = new Promise((resolve) => { readyResolve = resolve; });
  child.on('message', (m) => {
    if (m.id) {
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (!p) return;
      clearTimeout(p.timer);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`${label} ${p.what}: ${m.error}`));
    } else if (m.event) {
      events.push({ name: m.event, args: m.args, t: m.t });
    } else if (m.status) {
      statuses.push(m);
      if (m.status === 'ready') readyResolve();
    }
  });
  child.on('exit', (code, signal) => {
    children.delete(child);
    for (const p of pending.values()) p.reject(new Error(`${label}: child exited (${code ?? signal}) during ${p.what}`));
    pending.clear();
  });
  await ready;
  const cmd = (name, extra = {}, timeout = 15_000) => new Promise((resolve, reject) => {
    const id = nextId++;
    const what = name === 'call' ? extra.event : name;
    const timer = setTimeout(() => { pending.delete(id); reject(new Error(`${label}: no answer to ${what} within ${timeout} ms`)); }, timeout);
    pending.set(id, { resolve, reject, what, timer });
    child.send({ id, cmd: name, ...extra });
  });
  const call = async (event, ...args) => {
    const reply = await cmd('call', { event, args });
    if (reply?.error) throw new Error(`${label} ${event}: ${reply.error}`);
    return reply?.data;
  };
  await cmd('connect');
  return {
    child, label, events, statuses, cmd, call,
    freeze: () => child.kill('SIGSTOP'),
    thaw: () => child.kill('SIGCONT'),
    kill: () => killChild(child),
  };
}

// ---------------------------------------------------------------------------------------
// Pages of the app
// ---------------------------------------------------------------------------------------

/** getUserMedia always refuses, as when the user blocks the microphone; calls are counted. */
async function denyMicrophone(page) {
  await page.addInitScript(() => {
    window.__denied = { calls: 0 };
    navigator.mediaDevices.getUserMedia = async () => {
      window.__denied.calls += 1;
      throw new DOMException('Permission denied', 'NotAllowedError');
    };
  });
}

/** A page of the app, signed in as `name` (with the tone microphone unless `tone: false`). */
async function appPage(label, name, { tone = true, deny = false, width, height } = {}) {
  const page = await openPage(env.browser, env.server, label, { path: '/' });
  if (deny) await denyMicrophone(page);
  else if (tone) await useToneMicrophone(page, typeof tone === 'object' ? tone : undefined);
  const id = await signIn(page, name, width ? { width, height } : undefined);
  page.userId = id;
  return page;
}

/** The host starts a room from the lobby's "Start a room" dialog; returns its id. */
async function createRoomInUi(page, name, { video = false } = {}) {
  await page.click('#create-room');
  await page.fill('#room-name', name);
  if (video) await page.click('#create-room-form label.choice:has(input[value="video"])');
  await page.click('#create-room-submit');
  const roomId = await waitFor(page, 'the room page as owner', () => {
    const room = document.querySelector('.room');
    return room?.dataset.role === 'owner' && room.dataset.roomId;
  });
  await waitFor(page, 'the host publishing', () => window.podiumApp.room?.media?.status.publish === 'live');
  return roomId;
}

/** Walks into a room from Live now, as a listener. */
async function joinFromLobby(page, roomId) {
  await waitFor(page, 'the room in Live now', (id) => !!document.querySelector(`#room-list [data-room-id="${id}"] button`), roomId);
  await page.click(`#room-list [data-room-id="${roomId}"] button`);
  await waitFor(page, 'the room page as a listener', () => document.querySelector('.room')?.dataset.role === 'listener'
    && document.getElementById('room-status')?.dataset.status === 'live');
}

/** The page walks into the bot host's room, raises a hand and is allowed on stage (publishing). */
async function onStageByHand(page, host, roomId) {
  await joinFromLobby(page, roomId);
  await page.click('#toggle-hand');
  await host.waitEvent('user-raised-hand', (e) => about(roomId, page.userId)(e) && e.args[2] === true);
  await host.call('promote-user', roomId, page.userId, true);
  await waitFor(page, 'the speaker publishing', () => document.querySelector('.room')?.dataset.role === 'speaker'
    && window.podiumApp.room?.media?.status.publish === 'live');
}

/** Raises the hand on `page`; the host page allows it from the raised-hands queue. */
async function raiseAndAllow(page, host) {
  await page.click('#toggle-hand');
  await waitFor(host, 'the raised hand in the queue', (id) => !!document.querySelector(`#hands-queue [data-user-id="${id}"] [data-action="allow"]`), page.userId);
  await host.click(`#hands-queue [data-user-id="${page.userId}"] [data-action="allow"]`);
  await waitFor(page, 'the speaker role', () => document.querySelector('.room')?.dataset.role === 'speaker');
}

/**
 * Freezes the page's JavaScript — no timers, no WebSocket messages, so no socket.io pongs —
 * while its connections stay open, as for a frozen tab or a laptop put to sleep.
 * Page.setWebLifecycleState('frozen') first; if the page still runs (headless Chromium 148
 * ignores it: timers go on, no `freeze` event), the debugger pauses its main thread instead
 * (Debugger.pause), which stops the same things. Returns `{how, at, thaw()}`.
 */
async function freezePage(page) {
  const cdp = await page.context().newCDPSession(page);
  await page.evaluate(() => {
    clearInterval(window.__beatTimer);
    window.__beat = Date.now();
    window.__beatTimer = setInterval(() => { window.__beat = Date.now(); }, 50);
  });
  let at = Date.now();
  await cdp.send('Page.setWebLifecycleState', { state: 'frozen' }).catch(() => {});
  await sleep(600);
  const probe = await Promise.race([page.evaluate(() => Date.now() - window.__beat), sleep(1000).then(() => 'no answer')]);
  if (typeof probe !== 'number' || probe > 300) {
    return {
      how: 'Page.setWebLifecycleState',
      at,
      thaw: async () => { await cdp.send('Page.setWebLifecycleState', { state: 'active' }); await cdp.detach().catch(() => {}); },
    };
  }
  await cdp.send('Page.setWebLifecycleState', { state: 'active' }).catch(() => {});
  await cdp.send('Debugger.enable');
  const paused = new Promise((resolve) => { cdp.once('Debugger.paused', resolve); });
  await cdp.send('Debugger.pause');
  await Promise.race([paused, sleep(5000).then(() => { throw new Error('Debugger.pause did not pause the page'); })]);
  at = Date.now();
  return {
    how: 'Debugger.pause (Page.setWebLifecycleState did not stop the page\'s timers in this Chromium)',
    at,
    thaw: async () => {
      await cdp.send('Debugger.resume');
      await cdp.send('Debugger.disable').catch(() => {});
      await cdp.detach().catch(() => {});
    },
  };
}

const role = (page) => page.evaluate(() => document.querySelector('.room')?.dataset.role ?? null);

/** Closes pages; on failure, screenshots and console tails go with the error. */
async function withPages(pages, fn) {
  try {
    await fn();
  } catch (err) {
    err.message += `\n${pages.map((p) => `--- ${p.label} console (tail) ---\n${(p.consoleLog ?? []).slice(-15).join('\n')}`).join('\n')}`;
    for (const p of pages) await p.screenshot({ path: path.join(RESULTS_DIR, `rooms-presence-failure-${p.label}.png`) }).catch(() => {});
    err.message += `\n--- server output (tail) ---\n${env.server.tail(30)}`;
    throw err;
  } finally {
    await Promise.all(pages.map((p) => p.close({ runBeforeUnload: false }).catch(() => {})));
  }
}

/** Removes toasts and focus rings so screenshots show the state, not the last notification. */
async function quiet(page) {
  await page.evaluate(() => { for (const t of document.querySelectorAll('.toast')) t.remove(); document.activeElement?.blur?.(); window.scrollTo(0, 0); });
}

/** Screenshots `page` at phone and desktop sizes, light and dark: `<name>-{phone,desktop}-{light,dark}.png`. */
async function screenshots(page, name, { prepare } = {}) {
  const files = [];
  await page.bringToFront();
  for (const [size, viewport] of [['phone', { width: 390, height: 844 }], ['desktop', { width: 1440, height: 900 }]]) {
    for (const scheme of ['light', 'dark']) {
      await page.setViewportSize(viewport);
      await page.emulateMedia({ colorScheme: scheme });
      if (prepare) await prepare();
      await sleep(350);
      // Finite animations (the dialog's entrance) at their end: a background tab may not have run them yet.
      await page.evaluate(() => Promise.race([
        Promise.all(document.getAnimations().filter((a) => Number.isFinite(a.effect?.getComputedTiming().endTime)).map((a) => a.finished.catch(() => {}))),
        new Promise((resolve) => { setTimeout(resolve, 2000); }),
      ]));
      const file = path.join(RESULTS_DIR, `${name}-${size}-${scheme}.png`);
      await page.screenshot({ path: file });
      files.push(file);
    }
  }
  await page.emulateMedia({ colorScheme: 'light' });
  log(`screenshots: ${files.map((f) => path.relative(process.cwd(), f)).join(', ')}`);
  return files;
}

// ---------------------------------------------------------------------------------------
// The scenarios
// ---------------------------------------------------------------------------------------

describe('rooms presence', { concurrency: true }, () => {
  test('1a. a frozen speaker (SIGSTOP, TCP open) is seen leaving within 10 s, and the name is free again', { timeout: 60_000 }, async () => {
    const host = await botUser('Presence Host One');
    const roomId = await host.call('create-room', 'Frozen speaker club', true);
    const frozen = await childUser('Frozen Speaker');
    try {
      const auth = await frozen.call('authenticate', 'Frozen Speaker', { answersInvitations: true });
      const userId = auth.user.id;
      assert.ok(auth.resumeSecret, `a resume secret comes with the sign-in (${JSON.stringify(auth)})`);
      await frozen.call('join-room', roomId);
      await frozen.call('raise-hand', roomId, true);
      await host.waitEvent('user-raised-hand', about(roomId, userId));
      await host.call('promote-user', roomId, userId, true);
      await until('the frozen speaker to be promoted', () => frozen.events.find((e) => e.name === 'promoted' && e.args[0] === roomId));
      await host.waitEvent('user-promoted', (e) => about(roomId, userId)(e) && e.args[2] === true);

      const from = host.seen.length;
      const frozenAt = Date.now();
      frozen.freeze();
      const left = await host.waitEvent('user-left', about(roomId, userId), { from, timeout: 15_000 });
      const detection = left.t - frozenAt;
      log(`frozen speaker: user-left ${secs(detection)} after SIGSTOP (hold 8.5 s after last heard; ping 3 s, pong timeout 4 s)`);
      assert.ok(detection <= 10_000, `the room hears the frozen speaker left within 10 s (took ${detection} ms)`);
      assert.ok(detection >= 5_000, `…but not before its hold: others see nothing for at least 8.5 s after it was last heard, at most 3 s before the freeze (took ${detection} ms)`);
      const between = host.seen.slice(from).filter((e) => e.t < left.t && about(roomId, userId)(e));
      assert.deepEqual(between.map((e) => e.name), [], 'nothing about the frozen speaker before it left');

      // Its name is free again: a new client signs in as "Frozen Speaker".
      const again = await botUser('Frozen Speaker');
      assert.notEqual(again.id, userId, 'a new user, not the frozen one');
      log(`frozen speaker: the name was free again ${secs(Date.now() - left.t)} after user-left`);
      again.socket.disconnect();
    } finally {
      frozen.kill();
      host.socket.disconnect();
    }
  });

  test('1b. a frozen host (SIGSTOP) hands the room over to the speaker within 10 s', { timeout: 60_000 }, async () => {
    const hostChild = await childUser('Frozen Host');
    const speaker = await botUser('Second Speaker');
    const watcher = await botUser('Host Watcher');
    try {
      const auth = await hostChild.call('authenticate', 'Frozen Host', { answersInvitations: true });
      const hostId = auth.user.id;
      const roomId = await hostChild.call('create-room', 'Frozen host club', true);
      await speaker.call('join-room', roomId);
      await hostChild.call('promote-user', roomId, speaker.id, true);
      await speaker.waitEvent('user-promoted', (e) => about(roomId, speaker.id)(e) && e.args[2] === true);
      await watcher.call('join-room', roomId);

      const from = watcher.seen.length;
      const frozenAt = Date.now();
      hostChild.freeze();
      const handOver = await watcher.waitEvent('room-updated', (e) => e.args[0]?.id === roomId && e.args[0]?.ownerId === speaker.id, { from, timeout: 15_000 });
      const left = await watcher.waitEvent('user-left', about(roomId, hostId), { from, timeout: 1000 });
      const detection = handOver.t - frozenAt;
      log(`frozen host: user-left ${secs(left.t - frozenAt)} and room-updated (owner → ${speaker.name}) ${secs(detection)} after SIGSTOP`);
      assert.ok(detection <= 10_000, `the room is handed over within 10 s (took ${detection} ms)`);
      assert.ok(detection >= 5_000, `…not before the host's hold (took ${detection} ms)`);
      assert.deepEqual(handOver.args[0].speakers, [speaker.id], 'the new owner is the only one on stage');
      // The room goes on: the new owner can run it.
      await speaker.call('promote-user', roomId, watcher.id, true);
      await watcher.waitEvent('promoted', (e) => e.args[0] === roomId);
    } finally {
      hostChild.kill();
      for (const b of [speaker, watcher]) b.socket.disconnect();
    }
  });

  test('2. a client whose event loop is blocked for 2 s is not dropped', { timeout: 60_000 }, async () => {
    const host = await botUser('Patient Host');
    const roomId = await host.call('create-room', 'Busy client club', true);
    const busy = await childUser('Busy Listener');
    try {
      const auth = await busy.call('authenticate', 'Busy Listener', { answersInvitations: true });
      const userId = auth.user.id;
      const from = host.seen.length;
      // Joins, and blocks its event loop for 2 s right after the answer…
      const joinedAt = Date.now();
      const reply = await busy.cmd('call', { event: 'join-room', args: [roomId], busyAfterMs: 2000 });
      assert.ok(reply?.data?.viewerToken, `joined (${JSON.stringify(reply)})`);
      await host.waitEvent('user-joined', about(roomId, userId), { from });
      // …and again, twice, at other moments of the 3 s ping cycle (each answers when done).
      const blocks = [];
      for (const gap of [700, 1600]) {
        await sleep(gap);
        blocks.push((await busy.cmd('busy', { ms: 2000 })).ms);
      }
      log(`busy client: blocked 2000 ms after joining, then ${blocks.join(' ms and ')} ms; watching 12 s for user-left`);
      for (;;) {
        const gone = host.seen.slice(from).find((e) => e.name === 'user-left' && about(roomId, userId)(e));
        assert.equal(gone, undefined, `the busy client was dropped ${gone && gone.t - joinedAt} ms after joining`);
        if (Date.now() - joinedAt >= 12_000) break;
        await sleep(100);
      }
      assert.deepEqual(busy.statuses.filter((s) => s.status === 'disconnected'), [], 'its connection stayed up');
      // Still in the room, answering.
      await busy.call('raise-hand', roomId, true);
      await host.waitEvent('user-raised-hand', (e) => about(roomId, userId)(e) && e.args[2] === true, { from });
    } finally {
      busy.kill();
      host.socket.disconnect();
    }
  });

  test('3. a speaker and a host who reload come back unseen, in their role, publishing again', { timeout: 300_000 }, () => lane(async () => {
    const host = await appPage('reload-host', 'Rhea Host', { tone: { frequency: 330 } });
    const speaker = await appPage('reload-speaker', 'Sol Speaker', { tone: { frequency: 440 } });
    const listener = await appPage('reload-listener', 'Lin Listener', { tone: false });
    host.on('dialog', (d) => d.accept().catch(() => {})); // the host's "Leave site?" on reload
    const observer = await botUser('Reload Observer');
    await withPages([host, speaker, listener], async () => {
      const roomId = await createRoomInUi(host, 'Reload-proof video room', { video: true });
      await joinFromLobby(speaker, roomId);
      await raiseAndAllow(speaker, host);
      await waitFor(speaker, 'the speaker publishing', () => window.podiumApp.room?.media?.status.publish === 'live');
      await joinFromLobby(listener, roomId);
      await observer.call('join-room', roomId);
      await waitFor(listener, 'the host video', (id) => document.querySelector(`#stage .tile[data-user-id="${id}"] video`)?.videoWidth > 0, host.userId);
      await speaker.evaluate(() => window.__tone.set(true));
      await waitFor(listener, 'the speaker heard (speaking indicator)', (id) => document.querySelector(`#stage .tile[data-user-id="${id}"]`)?.dataset.speaking === 'true', speaker.userId);
      await speaker.evaluate(() => window.__tone.set(false));
      await waitFor(listener, 'the speaker silent', (id) => document.querySelector(`#stage .tile[data-user-id="${id}"]`)?.dataset.speaking === 'false', speaker.userId);
      const from = observer.seen.length;

      // --- The speaker reloads.
      let t0 = Date.now();
      await speaker.reload();
      const speakerBack = await waitFor(speaker, 'the speaker back on stage, publishing', () => document.querySelector('.room')?.dataset.role === 'speaker'
        && window.podiumApp.room?.media?.status.publish === 'live' && window.podiumApp.store.me.id, null, { timeout: 30_000 });
      const speakerResume = Date.now() - t0;
      assert.equal(speakerBack, speaker.userId, 'the same user after the reload');
      await speaker.evaluate(() => window.__tone.set(true));
      await waitFor(listener, 'the listener hearing the speaker again', (id) => document.querySelector(`#stage .tile[data-user-id="${id}"]`)?.dataset.speaking === 'true', speaker.userId, { timeout: 20_000 });
      const speakerHeard = Date.now() - t0;
      log(`reload, speaker: publishing live again ${secs(speakerResume)} after reload(); heard by the listener after ${secs(speakerHeard)}`);
      assert.equal(await role(speaker), 'speaker');
      await waitFor(host, 'the speaker still on the host’s stage', (id) => !!document.querySelector(`#stage .tile[data-user-id="${id}"]`), speaker.userId);

      // --- The host reloads (accepting the browser's "Leave site?").
      t0 = Date.now();
      await host.reload();
      const hostBack = await waitFor(host, 'the host back as owner, publishing', () => document.querySelector('.room')?.dataset.role === 'owner'
        && window.podiumApp.room?.media?.status.publish === 'live' && window.podiumApp.store.me.id, null, { timeout: 30_000 });
      const hostResume = Date.now() - t0;
      assert.equal(hostBack, host.userId, 'the same user after the reload');
      // The host's camera reaches the listener again: frames advance (the old publisher is gone),
      // counted across a replaced <video> or stream.
      await listener.evaluate(() => { window.__frames = { el: null, last: 0, advanced: 0 }; });
      await waitFor(listener, 'new frames of the host video', (id) => {
        const state = window.__frames;
        const el = document.querySelector(`#stage .tile[data-user-id="${id}"] video`);
        const n = el?.getVideoPlaybackQuality().totalVideoFrames ?? 0;
        if (el !== state.el || n < state.last) Object.assign(state, { el, last: n });
        else if (n > state.last) Object.assign(state, { advanced: state.advanced + n - state.last, last: n });
        return state.advanced > 15;
      }, host.userId, { timeout: 20_000 });
      const hostSeen = Date.now() - t0;
      log(`reload, host: publishing live again ${secs(hostResume)} after reload(); video frames at the listener again after ${secs(hostSeen)}`);
      await waitFor(host, 'the host page showing the speaker and the raised-hands panel', (id) => !!document.querySelector(`#stage .tile[data-user-id="${id}"]`)
        && !document.getElementById('hands-panel').hidden, speaker.userId);
      await waitFor(listener, 'the speaker still heard after the host reload', (id) => document.querySelector(`#stage .tile[data-user-id="${id}"]`)?.dataset.speaking === 'true', speaker.userId);
      assert.equal(await role(speaker), 'speaker');
      assert.equal(await role(listener), 'listener');

      // --- Nobody saw anything.
      await sleep(1000);
      const ids = [host.userId, speaker.userId];
      const noise = observer.seen.slice(from).filter((e) => (['user-left', 'user-joined', 'user-promoted'].includes(e.name) && ids.some((id) => about(roomId, id)(e)))
        || (e.name === 'room-updated' && e.args[0]?.id === roomId)
        || (e.name === 'room-deleted' && e.args[0] === roomId));
      assert.deepEqual(noise.map((e) => [e.name, ...e.args]), [], 'the room saw nobody leave, join or change');
      log(`reload: the observer saw ${observer.seen.length - from} events in all during both reloads, none about them`);
    });
    observer.socket.disconnect();
  }));

  test('4. a speaker frozen for 20 s is seen leaving, then gets the stage back, still muted', { timeout: 120_000 }, async () => {
    const host = await botUser('Freeze Host');
    const roomId = await host.call('create-room', 'Frozen tab club', true);
    const page = await appPage('frozen-speaker', 'Fern Frozen', { tone: { frequency: 520 } });
    await withPages([page], async () => {
      await onStageByHand(page, host, roomId);
      // Muted before the freeze.
      await page.click('#toggle-mic');
      await host.waitEvent('user-muted', (e) => about(roomId, page.userId)(e) && e.args[2] === true);

      const from = host.seen.length;
      const frozen = await freezePage(page);
      const frozenAt = frozen.at;
      let left;
      try {
        left = await host.waitEvent('user-left', about(roomId, page.userId), { from, timeout: 15_000 });
      } catch (err) {
        await frozen.thaw().catch(() => {});
        err.message = `a page frozen with ${frozen.how} was not seen leaving: ${err.message}`;
        throw err;
      }
      const detection = left.t - frozenAt;
      log(`frozen page (${frozen.how}): user-left ${secs(detection)} after the freeze`);
      assert.ok(detection <= 10_000 && detection >= 5_000, `seen leaving after its hold, within 10 s (took ${detection} ms)`);
      await sleep(Math.max(0, frozenAt + 20_000 - Date.now()));
      const thawedAt = Date.now();
      await frozen.thaw();

      const joined = await host.waitEvent('user-joined', about(roomId, page.userId), { from, timeout: 20_000 });
      const promoted = await host.waitEvent('user-promoted', (e) => about(roomId, page.userId)(e) && e.args[2] === true && e.t >= joined.t, { from });
      const muted = await host.waitEvent('user-muted', (e) => about(roomId, page.userId)(e) && e.args[2] === true && e.t >= joined.t, { from });
      const back = await waitFor(page, 'the page back as a muted speaker, publishing', () => {
        const app = window.podiumApp;
        const track = app.room?.media?.localStream?.getAudioTracks()[0];
        return document.querySelector('.room')?.dataset.role === 'speaker'
          && app.room.media.status.publish === 'live'
          && document.getElementById('toggle-mic')?.getAttribute('aria-pressed') === 'true'
          && track && track.enabled === false && app.store.me.id;
      }, null, { timeout: 30_000 }).catch(async (err) => {
        err.message += ` state: ${JSON.stringify(await page.evaluate(() => {
          const app = window.podiumApp;
          const track = app.room?.media?.localStream?.getAudioTracks()[0];
          return {
            role: document.querySelector('.room')?.dataset.role,
            connection: app.connection,
            media: app.room?.media?.status,
            toggleMic: document.getElementById('toggle-mic')?.getAttribute('aria-pressed'),
            track: track ? { enabled: track.enabled, state: track.readyState } : null,
            toasts: document.getElementById('toasts')?.innerText,
          };
        }).catch((e) => e.message))}`;
        throw err;
      });
      const roleBack = Date.now() - thawedAt;
      assert.equal(back, page.userId, 'the same user id');
      const order = host.seen.slice(from).filter((e) => about(roomId, page.userId)(e)).map((e) => [e.name, e.args[2] ?? '']);
      log(`frozen page: unfrozen at ${secs(thawedAt - frozenAt)}; user-joined ${secs(joined.t - thawedAt)}, user-promoted ${secs(promoted.t - thawedAt)}, user-muted ${secs(muted.t - thawedAt)} after; speaker, muted and publishing on the page ${secs(roleBack)} after (events: ${JSON.stringify(order)})`);
      assert.deepEqual(order.slice(0, 4).map((e) => e[0]), ['user-left', 'user-joined', 'user-promoted', 'user-muted'], 'left, then joined, promoted, muted again');
      const toasts = await page.innerText('#toasts');
      assert.doesNotMatch(toasts, /lost your seat/i, 'no "lost your seat" message');
    });
    host.socket.disconnect();
  });

  test('4c. a speaker who walks out while offline is not kept on stage when the tab reconnects', { timeout: 90_000 }, async () => {
    const host = await botUser('Walkout Host');
    const roomId = await host.call('create-room', 'Walk-out while offline', true);
    const page = await appPage('walkout-speaker', 'Wes Walkout', { tone: { frequency: 480 } });
    await withPages([page], async () => {
      await onStageByHand(page, host, roomId);
      const from = host.seen.length;
      // Offline: the rooms socket drops and cannot come back (it dials a closed port).
      await page.evaluate(() => {
        const socket = window.podiumApp.socket;
        window.__realWebSocket = socket.WebSocket;
        // Same origin (the page's Content-Security-Policy allows no other), a path nothing serves.
        const nowhere = `${location.origin.replace(/^http/, 'ws')}/offline-for-this-test`;
        socket.WebSocket = class extends window.__realWebSocket { constructor() { super(nowhere); } };
        socket.ws.close();
      });
      await waitFor(page, 'the room page offline', () => document.getElementById('room-status')?.dataset.status === 'offline');
      // They walk out (the Leave button; a speaker is not asked), then the network comes back.
      await page.click('#leave-room');
      await waitFor(page, 'the lobby', () => !!document.getElementById('live-title') && !document.querySelector('.room'));
      await page.evaluate(() => { window.podiumApp.socket.WebSocket = window.__realWebSocket; });
      const left = await host.waitEvent('user-left', about(roomId, page.userId), { from, timeout: 20_000 });
      const resumed = await waitFor(page, 'signed back in with the same id', () => window.podiumApp.connection === 'online' && window.podiumApp.store.me.id);
      assert.equal(resumed, page.userId, 'the tab resumed its user');
      assert.ok(!host.seen.slice(from).some((e) => e.name === 'user-promoted' && about(roomId, page.userId)(e)), 'not put back on stage');
      log(`walk-out while offline: the room saw ${left.name} once the tab was back, and no promotion`);
    });
  });

  test('4b. a client process frozen for 20 s (SIGSTOP) resumes with its secret: back on stage, still muted', { timeout: 90_000 }, async () => {
    const host = await botUser('Freeze Host Two');
    const roomId = await host.call('create-room', 'Frozen process club', true);
    const sleeper = await childUser('Sleepy Speaker');
    try {
      const auth = await sleeper.call('authenticate', 'Sleepy Speaker', { answersInvitations: true });
      const userId = auth.user.id;
      await sleeper.call('join-room', roomId);
      await sleeper.call('raise-hand', roomId, true);
      await host.waitEvent('user-raised-hand', (e) => about(roomId, userId)(e) && e.args[2] === true);
      await host.call('promote-user', roomId, userId, true);
      await until('the sleeper promoted', () => sleeper.events.find((e) => e.name === 'promoted' && e.args[0] === roomId));
      await sleeper.call('mute', roomId, true);
      await host.waitEvent('user-muted', (e) => about(roomId, userId)(e) && e.args[2] === true);
      // On its next lost connection it reconnects and resumes, as the app does.
      await sleeper.cmd('auto-resume', { name: 'Sleepy Speaker', secret: auth.resumeSecret });

      const from = host.seen.length;
      const frozenAt = Date.now();
      sleeper.freeze();
      const left = await host.waitEvent('user-left', about(roomId, userId), { from, timeout: 15_000 });
      const detection = left.t - frozenAt;
      assert.ok(detection <= 10_000 && detection >= 5_000, `seen leaving after its hold, within 10 s (took ${detection} ms)`);
      await sleep(Math.max(0, frozenAt + 20_000 - Date.now()));
      const thawedAt = Date.now();
      sleeper.thaw();
      const resumed = await until('the sleeper to resume', () => sleeper.statuses.find((s) => s.status === 'resumed'), { timeout: 15_000 })
        .catch((err) => { err.message += ` (statuses: ${JSON.stringify(sleeper.statuses)})`; throw err; });
      assert.equal(resumed.reply?.error, undefined, `the resume is accepted (${JSON.stringify(resumed.reply)})`);
      const data = resumed.reply.data;
      assert.equal(data.user.id, userId, 'the same user id');
      const seat = data.seats?.find((r) => r.id === roomId);
      assert.ok(seat, `the room is among the seats (${JSON.stringify(data.seats)})`);
      assert.ok(seat.speakers.includes(userId), 'back on stage in the seat JSON');
      assert.equal(seat.participants.find((p) => p.id === userId)?.muted, true, 'still muted in the seat JSON');
      const joined = await host.waitEvent('user-joined', about(roomId, userId), { from });
      const promoted = await host.waitEvent('user-promoted', (e) => about(roomId, userId)(e) && e.args[2] === true && e.t >= joined.t, { from });
      const muted = await host.waitEvent('user-muted', (e) => about(roomId, userId)(e) && e.args[2] === true && e.t >= joined.t, { from });
      log(`frozen process: user-left ${secs(detection)} after SIGSTOP; SIGCONT at ${secs(thawedAt - frozenAt)}; resumed ${secs(resumed.t - thawedAt)}, user-promoted ${secs(promoted.t - thawedAt)}, user-muted ${secs(muted.t - thawedAt)} after SIGCONT`);
      // A speaker again: it can get its publisher token anew.
      const tokens = await sleeper.call('join-room', roomId);
      assert.ok(tokens.publisherToken, 'join-room gives a publisher token again');
    } finally {
      sleeper.kill();
      host.socket.disconnect();
    }
  });

  test('5. an invitation is asked first: no microphone until accepted; declined, then accepted', { timeout: 300_000 }, () => lane(async () => {
    const host = await appPage('consent-host', 'Cora Host', { tone: { frequency: 300 } });
    const guest = await appPage('consent-guest', 'Gus Guest', { tone: { frequency: 600 } });
    await withPages([host, guest], async () => {
      const roomId = await createRoomInUi(host, 'Ask first, then talk');
      await joinFromLobby(guest, roomId);
      const invite = async () => {
        await waitFor(host, 'the guest in the audience', (id) => !!document.querySelector(`#audience [data-user-id="${id}"] button`), guest.userId);
        await host.click(`#audience [data-user-id="${guest.userId}"] button`);
        await host.click('dialog [data-action="promote"]');
        await waitFor(guest, 'the invitation dialog', () => !!document.querySelector('dialog[open] #invite-dialog'));
        await waitFor(host, 'the guest shown as invited', (id) => document.querySelector(`#audience [data-user-id="${id}"]`)?.dataset.invited === 'true', guest.userId);
      };
      const notOnStage = async (what) => {
        assert.equal(await role(guest), 'listener', `${what}: still a listener`);
        assert.equal(await guest.evaluate(() => window.__tone.calls.length), 0, `${what}: getUserMedia was not called`);
        assert.equal(await guest.evaluate(() => window.podiumApp.room.media.status.publish), 'idle', `${what}: not publishing`);
        for (const p of [host, guest]) assert.equal(await p.$(tileSel(guest.userId)), null, `${what}: not on the stage of ${p.label}`);
      };

      await invite();
      await sleep(1000); // nothing else happens while the question is open
      await notOnStage('invited');
      await guest.click('#decline-invite');
      await waitFor(host, 'the invitation over on the host page', (id) => document.querySelector(`#audience [data-user-id="${id}"]`)?.dataset.invited === 'false', guest.userId);
      await waitFor(guest, 'the dialog closed', () => !document.querySelector('dialog[open] #invite-dialog'));
      await sleep(500);
      await notOnStage('declined');

      await invite();
      const t0 = Date.now();
      await guest.click('#accept-invite');
      await waitFor(guest, 'the guest on stage, publishing', () => document.querySelector('.room')?.dataset.role === 'speaker'
        && window.podiumApp.room?.media?.status.publish === 'live');
      log(`consent: accepted → publishing in ${secs(Date.now() - t0)}`);
      const calls = await guest.evaluate(() => window.__tone.calls);
      assert.deepEqual(calls.map((c) => [!!c.audio, !!c.video]), [[true, false]], 'the microphone opened once, after accepting');
      await waitFor(host, 'the guest on the host’s stage', (id) => !!document.querySelector(`#stage .tile[data-user-id="${id}"]`), guest.userId);
      await guest.evaluate(() => window.__tone.set(true));
      await waitFor(host, 'the guest heard by the host', (id) => document.querySelector(`#stage .tile[data-user-id="${id}"]`)?.dataset.speaking === 'true', guest.userId);
    });
  }));

  test('6. a denied microphone shows "No mic" to everyone; the speaker can retry or step down', { timeout: 300_000 }, () => lane(async () => {
    const host = await appPage('nomic-host', 'Hana Host', { tone: { frequency: 350 } });
    const denied = await appPage('nomic-speaker', 'Dev Denied', { deny: true });
    const other = await appPage('nomic-listener', 'Oli Other', { tone: false });
    await withPages([host, denied, other], async () => {
      const roomId = await createRoomInUi(host, 'Microphones welcome');
      await joinFromLobby(denied, roomId);
      await joinFromLobby(other, roomId);
      await raiseAndAllow(denied, host);
      for (const p of [host, other]) {
        const badge = await waitFor(p, 'the "No mic" tile', (id) => {
          const tile = document.querySelector(`#stage .tile[data-user-id="${id}"]`);
          return tile?.dataset.micUnavailable === 'true' && tile.querySelector('[data-badge="no-mic"]')?.textContent;
        }, denied.userId);
        assert.equal(badge.trim(), 'No mic', `${p.label}: the badge reads "No mic"`);
      }
      await waitFor(denied, 'Retry microphone and Leave stage on the speaker page', () => !!document.getElementById('retry-mic') && !!document.getElementById('leave-stage')
        && !document.getElementById('toggle-mic'));
      assert.equal(await denied.evaluate(() => window.__denied.calls), 1, 'getUserMedia was asked once');
      assert.equal(await role(denied), 'speaker');
      // Retrying fails again: still "No mic", asked again.
      await denied.click('#retry-mic');
      await waitFor(denied, 'a second getUserMedia', () => window.__denied.calls === 2);
      await sleep(500);
      assert.equal(await host.getAttribute(tileSel(denied.userId), 'data-mic-unavailable'), 'true', 'still no mic after a failed retry');
      await quiet(host);

      // Step down: back in the audience for everyone.
      await denied.click('#leave-stage');
      await waitFor(denied, 'the speaker back in the audience', () => document.querySelector('.room')?.dataset.role === 'listener' && !!document.getElementById('toggle-hand'));
      for (const p of [host, other]) {
        await waitFor(p, 'the speaker in the audience, off stage', (id) => !!document.querySelector(`#audience [data-user-id="${id}"]`)
          && !document.querySelector(`#stage [data-user-id="${id}"]`), denied.userId);
      }
      assert.equal(await denied.evaluate(() => window.podiumApp.room.media.status.publish), 'idle');
    });
  }));

  test('7. screenshots: the invitation dialog and the "No mic" tile, phone and desktop, light and dark', { timeout: 300_000 }, () => lane(async () => {
    // The invitation (listener's view), in a room a socket.io user hosts.
    const bots = [];
    for (const name of ['Nadia Haddad', 'Marco Bianchi', 'Yuki Tanaka', 'Grace Owusu']) bots.push(await botUser(name));
    const [nadia, marco, yuki, grace] = bots;
    const inviteRoom = await nadia.call('create-room', 'Product roadmap AMA', true);
    await marco.call('join-room', inviteRoom);
    await nadia.call('promote-user', inviteRoom, marco.id, true);
    await yuki.call('join-room', inviteRoom);
    const guest = await appPage('shot-guest', 'Ivy Invited', { tone: true, width: 390, height: 844 });
    const host = await appPage('shot-host', 'Theo Host', { tone: true });
    await withPages([guest, host], async () => {
      await joinFromLobby(guest, inviteRoom);
      await nadia.call('promote-user', inviteRoom, guest.userId, true);
      await waitFor(guest, 'the invitation dialog', () => !!document.querySelector('dialog[open] #invite-dialog'));
      await waitFor(guest, 'the invited badge', (id) => document.querySelector(`#audience [data-user-id="${id}"]`)?.dataset.invited === 'true', guest.userId);
      await guest.evaluate(() => { for (const t of document.querySelectorAll('.toast')) t.remove(); });
      await screenshots(guest, 'rooms-invite', {
        prepare: () => waitFor(guest, 'the invitation dialog still open', () => !!document.querySelector('dialog[open] #invite-dialog')),
      });
      assert.equal(await guest.evaluate(() => window.__tone.calls.length), 0, 'no microphone while the invitation is open');

      // The "No mic" tile (host's view): a speaker whose microphone failed.
      const roomId = await createRoomInUi(host, 'Late night synth jam');
      for (const bot of [yuki, grace]) await bot.call('join-room', roomId);
      await host.evaluate(([id]) => window.podiumApp.room.promote(id, true), [yuki.id]);
      await yuki.waitEvent('promoted', (e) => e.args[0] === roomId);
      await yuki.call('mic-state', roomId, false);
      await waitFor(host, 'the "No mic" tile', (id) => document.querySelector(`#stage .tile[data-user-id="${id}"] [data-badge="no-mic"]`), yuki.id);
      await screenshots(host, 'rooms-no-mic', { prepare: () => quiet(host) });
    });
    for (const b of bots) b.socket.disconnect();
  }));
});
