// Shared by the rooms app's browser tests (rooms-app, rooms-ui-polish, rooms-presence): pages
// of the app driven through its UI, a tone microphone, and socket.io-client users ("bots").
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { sleep } from './helpers.js';

/**
 * Replaces getUserMedia in this page (before its scripts run): the microphone is a generated
 * tone (OscillatorNode → GainNode, silent until `window.__tone.set(true)`), the camera is the
 * fake device's. No audio processing, so the level the SFU reads is the tone's.
 * `window.__tone.calls` lists every getUserMedia call.
 */
export async function useToneMicrophone(page, { frequency = 440, amplitude = 0.35 } = {}) {
  await page.addInitScript(([freq, amp]) => {
    const original = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
    const tone = { calls: [], on: false };
    window.__tone = tone;
    tone.set = (on) => {
      tone.on = on;
      if (tone.gain) tone.gain.gain.value = on ? amp : 0;
      return on;
    };
    navigator.mediaDevices.getUserMedia = async (constraints = {}) => {
      tone.calls.push(JSON.parse(JSON.stringify(constraints)));
      const stream = new MediaStream();
      if (constraints.audio) {
        const ctx = new AudioContext();
        await ctx.resume();
        const osc = ctx.createOscillator();
        osc.frequency.value = freq;
        const gain = ctx.createGain();
        gain.gain.value = tone.on ? amp : 0;
        const dest = ctx.createMediaStreamDestination();
        osc.connect(gain).connect(dest);
        osc.start();
        tone.ctx = ctx;
        tone.gain = gain;
        stream.addTrack(dest.stream.getAudioTracks()[0]);
      }
      if (constraints.video) {
        const cam = await original({ video: constraints.video });
        for (const t of cam.getVideoTracks()) stream.addTrack(t);
      }
      return stream;
    };
  }, [frequency, amplitude]);
}

/** Opens the app of `server` at `/` and signs in through the form; returns my user id. */
export async function signIn(server, page, name, { width = 1280, height = 860 } = {}) {
  await page.setViewportSize({ width, height });
  await page.goto(`${server.url}/`);
  await page.fill('#username', name);
  await page.click('#signin-submit');
  await page.waitForSelector('#live-title', { timeout: 10_000 })
    .catch(async (err) => { throw new Error(`${name}: no lobby after sign-in; page says: ${await page.innerText('main').catch(() => '?')} (${err.message})`); });
  return page.evaluate(() => window.podiumApp.store.me.id);
}

/** Waits for `fn(arg)` to be truthy in the page; on timeout says what and shows `dump`'s text. */
export async function waitFor(page, what, fn, arg, { timeout = 20_000, dump = 'main' } = {}) {
  try {
    const handle = await page.waitForFunction(fn, arg, { timeout, polling: 50 });
    const value = await handle.jsonValue();
    await handle.dispose();
    return value;
  } catch (err) {
    const text = await page.innerText(dump).catch(() => '(unavailable)');
    throw new Error(`[${page.label}] timed out waiting for ${what}. ${dump}: ${JSON.stringify(text.slice(0, 1500))} (${err.message.split('\n')[0]})`);
  }
}

/** Waits until `find()` returns something truthy (polling), or throws `what` after `timeout`. */
export async function until(what, find, { timeout = 10_000, every = 20 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const hit = find();
    if (hit) return hit;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(every);
  }
}

/** A stage tile's selector. */
export const tileSel = (id) => `#stage .tile[data-user-id="${id}"]`;

/** No horizontal scrolling at the page's current width. */
export async function assertFitsWidth(page, what) {
  const size = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
  assert.ok(size.scroll <= size.client, `${what} must fit ${size.client} px without horizontal scrolling (${JSON.stringify(size)})`);
}

/**
 * A socket.io-client user of `server`, signed in as `name` (a legacy client, as the demo app:
 * no `answersInvitations`, so the owner's promote-user puts it on stage at once). Its socket is
 * pushed to `sockets` (the test file disconnects them at the end). `seen` records every event
 * with the time it arrived; `waitEvent(event, match)` waits for one.
 */
export async function botUser(server, sockets, name) {
  const socket = io(`${server.url}/socket.io/`, { transports: ['websocket'], reconnection: false, forceNew: true });
  const seen = [];
  socket.onAny((event, ...args) => seen.push({ name: event, args, t: Date.now() }));
  await new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('connect_error', reject); });
  sockets.push(socket);
  const call = async (event, ...args) => {
    const reply = await socket.timeout(5000).emitWithAck(event, ...args).catch((err) => {
      throw new Error(`${name} ${event}(${JSON.stringify(args)}): ${err.message}`);
    });
    if (reply?.error) throw new Error(`${name} ${event}: ${reply.error}`);
    return reply?.data;
  };
  // authenticate is the first message after connecting: repeated if unanswered, as the app does
  // (the server may drop a message that arrives before its namespace handler has run).
  let user;
  for (let attempt = 1; ; attempt++) {
    const reply = await socket.timeout(2500).emitWithAck('authenticate', name).catch((err) => (attempt < 3 ? null : Promise.reject(err)));
    if (reply === null) continue;
    if (reply.error) throw new Error(`${name} authenticate: ${reply.error}`);
    user = reply.data.user;
    break;
  }
  /** The first event `event` matching `match` (seen from index `from` on). */
  const waitEvent = (event, match = () => true, { timeout = 10_000, from = 0 } = {}) => until(
    `${name} to receive ${event}`,
    () => seen.slice(from).find((e) => e.name === event && match(e)),
    { timeout },
  ).catch((err) => {
    err.message += `; ${name} saw ${JSON.stringify(seen.slice(from).slice(-20).map((e) => [e.name, ...e.args.map((a) => (typeof a === 'object' ? a?.id ?? '…' : a))]))}`;
    throw err;
  });
  return { socket, call, id: user.id, user, name, seen, waitEvent };
}

/** A password strong enough for sign-up (the tests' accounts all use it). */
export const ACCOUNT_PASSWORD = 'amber-lantern-73-oboes';

/**
 * Opens the app at `url` (or stays, when `url` is null) and creates account `name` with the
 * sign-in page's account form; returns `{user, account}` (the rooms user id, the account id).
 */
export async function signUpInPage(page, url, name) {
  if (url) await page.goto(`${url}/`);
  await page.fill('#account-username', name);
  await page.fill('#account-password', ACCOUNT_PASSWORD);
  await page.click('#account-signup');
  await page.waitForSelector('#live-title', { timeout: 15_000 });
  await waitFor(page, `signed in as ${name}`, (n) => document.getElementById('me-name')?.textContent === n, name);
  return page.evaluate(() => ({ user: window.podiumApp.store.me.id, account: window.podiumApp.account.account.id }));
}

/** The account API from inside a signed-in page, with its CSRF token: `[status, data]`. */
export function apiInPage(page, method, urlPath, body) {
  return page.evaluate(async ([m, p, b]) => {
    const r = await fetch(p, {
      method: m,
      headers: { 'content-type': 'application/json', 'x-csrf-token': window.podiumApp.account.csrf },
      body: b === undefined ? undefined : JSON.stringify(b),
    });
    return [r.status, (await r.json()).data];
  }, [method, urlPath, body]);
}
