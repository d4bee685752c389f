// One account in two tabs (issue 16): Tia hosts a room on stage in her first tab and opens
// Podium in a second one. The second tab does not take her over unasked: it says she is in
// another tab and offers "Use here". Used, it moves her there with her room and her place on
// stage (publishing from the new tab), and the first tab stops without leaving and offers the
// same. Lee, listening, sees Tia on stage throughout and hears her from the tab she uses.
// Closing her tabs and opening a new one within the hold takes her back without asking.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  openPage, RESULTS_DIR, sleep, useServerAndBrowser, withDiagnostics,
} from './helpers.js';
import {
  signUpInPage as signUp, tileSel, useToneMicrophone, waitFor,
} from './rooms-helpers.js';

const env = useServerAndBrowser();

/** A new tab on `url` (the same browser, so the same cookies for the same origin). */
async function newTab(label, url) {
  const page = await env.browser.context.newPage();
  page.label = label;
  page.consoleLog = [];
  page.on('console', (m) => page.consoleLog.push(`${m.type()}: ${m.text()}`));
  await useToneMicrophone(page);
  await page.setViewportSize({ width: 1280, height: 860 });
  if (url) await page.goto(url);
  return page;
}

/** Whether the page is on `roomId`'s page as its owner, publishing. */
function hostingAndPublishing(page, roomId) {
  return waitFor(page, 'the room page as its owner, publishing', (id) => {
    const room = document.querySelector('.room');
    return room?.dataset.roomId === id && room.dataset.role === 'owner'
      && !!window.podiumApp.room?.media?.publishSpec;
  }, roomId, { timeout: 20_000 });
}

test('a second tab of an account asks, then takes the user over with their place on stage', { timeout: 120_000 }, async () => {
  const first = await openPage(env.browser, env.server, 'tia-1', { path: '/' });
  await useToneMicrophone(first);
  await first.setViewportSize({ width: 1280, height: 860 });
  // Lee is a guest on another origin (so without Tia's cookie).
  const leeUrl = env.server.url.replace('127.0.0.1', 'localhost');
  const lee = await newTab('lee', `${leeUrl}/`);
  const pages = [first, lee];
  try {
    await withDiagnostics(pages, env.server, async () => {
      const tia = await signUp(first, env.server.url, 'Tia Tabs');
      await first.click('#create-room');
      await first.fill('#room-name', 'Two tabs');
      await first.click('#create-room-submit');
      const roomId = await waitFor(first, 'the room page', () => document.querySelector('.room')?.dataset.roomId);
      await hostingAndPublishing(first, roomId);

      await lee.fill('#username', 'Lee Listens');
      await lee.click('#signin-submit');
      await lee.waitForSelector('#live-title');
      await lee.goto(`${leeUrl}/#/room/${roomId}`);
      await waitFor(lee, 'Tia on stage', (sel) => !!document.querySelector(sel), tileSel(tia.user));
      // Lee records who leaves the room.
      await lee.evaluate(() => {
        window.__left = [];
        window.podiumApp.socket.on('user-left', (roomId, userId) => window.__left.push(userId));
      });

      // The second tab asks first: the first one goes on as it was.
      const second = await newTab('tia-2', `${env.server.url}/`);
      pages.push(second);
      await second.waitForSelector('#elsewhere #use-here');
      assert.match(await second.innerText('#elsewhere'), /signed in as Tia Tabs in another tab/);
      await second.screenshot({ path: path.join(RESULTS_DIR, 'open-in-another-tab.png') });
      await sleep(1500);
      assert.equal(await first.evaluate(() => window.podiumApp.connection), 'online');
      await hostingAndPublishing(first, roomId);
      assert.equal(await second.$('#elsewhere #use-here') !== null, true, 'still asking');

      // Used here: Tia is back in her room from this tab, owner and publishing.
      await second.click('#use-here');
      await hostingAndPublishing(second, roomId);
      assert.equal(await second.evaluate(() => window.podiumApp.store.me.id), tia.user, 'the same user');
      await first.waitForSelector('#elsewhere #use-here');
      assert.equal(await first.evaluate(() => window.podiumApp.room), null, 'the first tab stopped');
      const room = await lee.evaluate((id) => window.podiumApp.store.room(id), roomId);
      assert.deepEqual(room.participants.map((p) => p.username).sort(), ['Lee Listens', 'Tia Tabs'], 'nobody left');
      assert.equal(room.ownerId, tia.user);
      assert.deepEqual(await lee.evaluate(() => window.__left), [], 'nobody was seen leaving');
      await waitFor(lee, 'Tia still on stage', (sel) => !!document.querySelector(sel), tileSel(tia.user));
      // Lee hears the tab Tia uses now.
      await second.evaluate(() => window.__tone.set(true));
      await waitFor(lee, 'Tia heard', (sel) => document.querySelector(sel)?.dataset.speaking === 'true', tileSel(tia.user), { timeout: 15_000 });

      // And back: the first tab takes her over again, only when asked.
      await first.click('#use-here');
      await hostingAndPublishing(first, roomId);
      await second.waitForSelector('#elsewhere #use-here');

      // A tab closed a moment ago hands her seat to the next without asking: a new tab on
      // the lobby's address goes straight back into her room, on stage.
      await first.close();
      await second.close();
      const third = await newTab('tia-3', `${env.server.url}/`);
      pages.push(third);
      await hostingAndPublishing(third, roomId);
      assert.deepEqual(await lee.evaluate(() => window.__left), [], 'nobody was seen leaving');
    });
  } finally {
    await Promise.all(pages.map((p) => p.close()));
  }
});
