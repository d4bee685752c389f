// Replays in headless Chromium (issue 16): Ava hosts a room with Ben on stage and records it.
// Both see the REC sign. Each speaks in turn with a tone microphone (Ava first, then Ben). Once
// Ava stops, the replay is on her profile. Ben opens it from there: his and Ava's lanes show
// their turns in the order they spoke, playing sounds each file at its place on one clock, and
// seeking into Ben's turn lights Ben up. A track's file is served with ranges and only to
// those the room's privacy allows; Ava deletes the replay and its files go.
import path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  openPage, RESULTS_DIR, sleep, useServerAndBrowser, withDiagnostics,
} from './helpers.js';
import {
  apiInPage, signUpInPage as signUp, tileSel, useToneMicrophone, waitFor,
} from './rooms-helpers.js';

const env = useServerAndBrowser();
/** How long each speaks. */
const TURN_MS = 2500;

test('record a room, then replay it with who spoke when', { timeout: 150_000 }, async () => {
  const ava = await openPage(env.browser, env.server, 'ava', { path: '/' });
  await useToneMicrophone(ava, { frequency: 330 });
  await ava.setViewportSize({ width: 1280, height: 860 });
  const benUrl = env.server.url.replace('127.0.0.1', 'localhost');
  const ben = await env.browser.context.newPage();
  ben.label = 'ben';
  ben.consoleLog = [];
  await useToneMicrophone(ben, { frequency: 550 });
  try {
    await withDiagnostics([ava, ben], env.server, async () => {
      const a = await signUp(ava, env.server.url, 'Ava Host');
      const b = await signUp(ben, benUrl, 'Ben Speaker');

      await ava.click('#create-room');
      await ava.fill('#room-name', 'Ava records a chat');
      await ava.click('#create-room-submit');
      const roomId = await waitFor(ava, 'the room page as owner', () => document.querySelector('.room')?.dataset.role === 'owner' && document.querySelector('.room').dataset.roomId);
      await ben.goto(`${benUrl}/#/room/${roomId}`);
      await waitFor(ava, 'Ben in the audience', (id) => !!document.querySelector(`#audience .person[data-user-id="${id}"]`), b.user);
      await ava.click(`#audience .person[data-user-id="${b.user}"] .person-body`);
      await ava.click('[data-action="promote"]');
      await ben.click('#accept-invite');
      await waitFor(ben, 'Ben publishing', () => !!window.podiumApp.room.media?.publishSpec);
      await waitFor(ava, 'Ben on stage', (sel) => !!document.querySelector(sel), tileSel(b.user));

      // Recording is shown to everyone in the room.
      assert.equal(await ben.$('#toggle-recording'), null, 'only moderators record');
      await ava.click('#toggle-recording');
      for (const page of [ava, ben]) await page.waitForSelector('#rec-indicator');
      await waitFor(ben, 'Ben told of the recording', () => /being recorded/.test(document.querySelector('[data-toast-id="recording"]')?.textContent ?? ''));
      await sleep(500);

      // Ava speaks, then Ben.
      await ava.evaluate(() => window.__tone.set(true));
      await sleep(TURN_MS);
      await ava.evaluate(() => window.__tone.set(false));
      await sleep(1200);
      await ben.evaluate(() => window.__tone.set(true));
      await sleep(TURN_MS);
      await ben.evaluate(() => window.__tone.set(false));
      await sleep(1200);
      await ava.click('#toggle-recording');
      await waitFor(ben, 'the REC sign gone', () => !document.getElementById('rec-indicator'));

      // The replay is listed on Ava's profile once its files are complete.
      let listed = [];
      for (let i = 0; i < 200 && !listed.length; i++) {
        if (i) await sleep(200);
        [, { replays: listed }] = await apiInPage(ben, 'GET', `/api/users/${a.account}/replays`);
      }
      assert.equal(listed.length, 1);
      assert.deepEqual([...listed[0].speakers].sort(), ['Ava Host', 'Ben Speaker']);
      assert.equal(listed[0].title, 'Ava records a chat');

      await ben.goto(`${benUrl}/#/u/${encodeURIComponent('Ava Host')}`);
      await ben.click('#profile-replays .replay-link');
      await ben.waitForSelector('#replay-lanes');
      const [, detail] = await apiInPage(ben, 'GET', `/api/replays/${listed[0].id}`);
      const turnsOf = (name) => detail.tracks.filter((t) => t.username === name)
        .flatMap((t) => t.speech.map(([s, e]) => [t.offsetMs + s, t.offsetMs + e]));
      const avaTurns = turnsOf('Ava Host');
      const benTurns = turnsOf('Ben Speaker');
      console.log(`[replay] Ava's turns ${JSON.stringify(avaTurns)}, Ben's ${JSON.stringify(benTurns)}, tracks ${JSON.stringify(detail.tracks.map((t) => [t.username, t.offsetMs, t.durationMs]))}`);
      assert.equal(avaTurns.length, 1, 'one turn for Ava');
      assert.equal(benTurns.length, 1, 'one turn for Ben');
      const [[a0, a1]] = avaTurns;
      const [[b0, b1]] = benTurns;
      assert.ok(a1 <= b0, 'Ava spoke before Ben');
      for (const [s, e] of [[a0, a1], [b0, b1]]) {
        assert.ok(Math.abs((e - s) - TURN_MS) < 800, `a turn about ${TURN_MS} ms long: ${e - s}`);
      }
      assert.ok(Math.abs((b0 - a0) - (TURN_MS + 1200)) < 800, `Ben started about ${TURN_MS + 1200} ms after Ava: ${b0 - a0}`);
      for (const name of ['Ava Host', 'Ben Speaker']) {
        const turns = await ben.$$(`#replay-lanes .replay-lane[data-username="${name}"] .replay-turn`);
        assert.equal(turns.length, 1, `${name}'s lane shows a turn`);
      }

      // Playing sounds the files; seeking into Ben's turn lights Ben up.
      await ben.click('#replay-play');
      await waitFor(ben, 'a file playing on the clock', () => [...document.querySelectorAll('#replay audio')].some((el) => !el.paused && el.currentTime > 0.2));
      await ben.evaluate((ms) => {
        const seek = document.getElementById('replay-seek');
        seek.value = String(ms);
        seek.dispatchEvent(new Event('input'));
      }, Math.round((b0 + b1) / 2));
      await waitFor(ben, 'Ben speaking in the replay', () => document.getElementById('replay-speaking')?.dataset.speaking === 'Ben Speaker'
        && document.querySelector('.replay-lane[data-username="Ben Speaker"]').classList.contains('is-speaking'));
      const playing = await waitFor(ben, 'Ben’s file playing at his turn', () => {
        const lane = [...document.querySelectorAll('#replay audio')].find((el) => !el.paused);
        return lane && lane.currentTime;
      });
      assert.ok(playing > 0);
      await ben.click('#replay-play');
      const lanes = await ben.$$eval('#replay-lanes .replay-lane', (els) => els.map((el) => el.dataset.username));
      assert.deepEqual(lanes, ['Ava Host', 'Ben Speaker'], 'lanes in the order people were heard');
      await ben.evaluate(() => document.getElementById('toasts').replaceChildren());
      await ben.screenshot({ path: path.join(RESULTS_DIR, 'rooms-replay.png') });

      // A track's file: ranges for seeking; a stranger's request for a missing one is 404.
      const ranged = await ben.evaluate(async (url) => {
        const r = await fetch(url, { headers: { range: 'bytes=0-99' } });
        return [r.status, r.headers.get('content-type'), (await r.arrayBuffer()).byteLength, r.headers.get('cache-control')];
      }, detail.tracks[0].url);
      assert.deepEqual(ranged, [206, 'video/webm', 100, 'private, no-store']);
      // A public room's replay is anyone's, signed in or not.
      const anonymous = await fetch(`${env.server.url}/api/replays/${listed[0].id}`);
      assert.equal(anonymous.status, 200);
      assert.equal((await anonymous.json()).data.tracks.length, 2);
      const missing = await ben.evaluate(async (id) => (await fetch(`/api/replays/${id}/tracks/99`)).status, listed[0].id);
      assert.equal(missing, 404);

      // Only the host deletes; the files go with it.
      const [refused] = await apiInPage(ben, 'DELETE', `/api/replays/${listed[0].id}`);
      assert.equal(refused, 404);
      await ava.click('#leave-room');
      await ava.click('#confirm-leave');
      await ava.waitForSelector('#live-title');
      await ava.click('#my-profile');
      await ava.click('#profile-replays .replay-delete');
      await waitFor(ava, 'the list empty', () => /No replays yet/.test(document.getElementById('profile-replays')?.textContent ?? ''));
      const gone = await ben.evaluate(async (url) => (await fetch(url)).status, detail.tracks[0].url);
      assert.equal(gone, 404);
    });
  } finally {
    await Promise.all([ava.close(), ben.close()]).catch(() => {});
  }
});
