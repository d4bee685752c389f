// Takes the README screenshot of the publish/view demo page (/demo.html): docs/img/demo.png (1280×800).
// The rooms app screenshots (docs/img/lobby.png, room.png) come from e2e/rooms-app.test.js.
//
// Run by hand from web/:   node e2e/screenshot.mjs [output.png]
// (same environment variables as the tests: PODIUM_BIN, CHROMIUM_BIN, PODIUM_E2E_WEB_DIR, ...)
//
// Not a test: `node --test e2e/` only picks files named like *.test.js / *-test.js /
// *_test.js / test-*.js / test.js (or files under a test/ folder), so this file is skipped.
//
// What it shows: a fresh server; the demo page publishes the fake camera + mic as the main
// source of stream "demo" and views it in the View panel with 2 audio slots, while two other
// pages publish tones as sources "alice" and "bob" (both talking), so the slot table shows
// both speakers with live level meters.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  startServer, launchBrowser, openPage, inPage, PUBLISH_TOKEN, sleep,
} from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const output = path.resolve(process.argv[2] ?? path.join(here, '../../docs/img/demo.png'));
const STREAM = 'demo';
// Different loudness, so the two level meters differ.
const SPEAKERS = [{ id: 'alice', frequency: 330, amplitude: 0.3 }, { id: 'bob', frequency: 550, amplitude: 0.06 }];

/** Wait for `fn()` inside the page; on timeout say what was awaited and show `dump` (a selector's text). */
async function waitFor(page, what, fn, arg, dump) {
  try {
    await page.waitForFunction(fn, arg, { timeout: 30_000, polling: 100 });
  } catch (err) {
    const state = await page.innerText(dump).catch(() => '(unavailable)');
    throw new Error(`timed out waiting for ${what}; ${dump}: ${JSON.stringify(state)} (${err.message})`);
  }
}

const server = await startServer();
const browser = await launchBrowser();
try {
  // Two audio-only speakers, talking continuously.
  for (const sp of SPEAKERS) {
    const page = await openPage(browser, server, `tone-${sp.id}`);
    await inPage(page, 'publishTone', { streamName: STREAM, token: PUBLISH_TOKEN, sourceId: sp.id, frequency: sp.frequency, amplitude: sp.amplitude });
    await inPage(page, 'talk', true);
  }

  const page = await openPage(browser, server, 'demo');
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(`${server.url}/demo.html?stream=${STREAM}`);

  // Publish panel: fake camera + mic as the main source.
  await page.fill('#publish-form [name=token]', PUBLISH_TOKEN);
  await page.click('#publish-start');
  await waitFor(page, 'the Publish panel to connect', () => document.getElementById('publish-state').textContent === 'connected', null, '#publish-panel');

  // View panel: main source plus 2 audio slots.
  await page.fill('#view-form [name=slots]', '2');
  await page.click('#view-start');
  await waitFor(page, 'the viewed video to play', () => {
    const v = document.getElementById('view-video');
    return v.videoWidth > 0 && !v.paused && v.currentTime > 0.5;
  }, null, '#view-panel');
  await waitFor(page, 'the preview video to play', () => {
    const v = document.getElementById('publish-preview');
    return v.videoWidth > 0 && !v.paused && v.currentTime > 0.5;
  }, null, '#publish-panel');
  await waitFor(page, 'main, alice and bob in the active source list', () => {
    const names = [...document.querySelectorAll('#view-sources .source-name')].map((el) => el.textContent).sort();
    return names.join(',') === 'alice,bob,main';
  }, null, '#view-sources');
  await waitFor(page, 'both speakers shown speaking in the slot table', (ids) => {
    const rows = [...document.querySelectorAll('#view-slots tbody tr')];
    return ids.every((id) => rows.some((r) => {
      const speaker = r.querySelector('.speaker');
      return speaker.textContent === id && speaker.classList.contains('speaking')
        && parseFloat(r.querySelector('.meter-fill').style.width || '0') > 0;
    }));
  }, SPEAKERS.map((sp) => sp.id), '#view-slots-section');

  // Let the meters and the video settle, drop focus rings, then shoot.
  await sleep(1000);
  await page.evaluate(() => document.activeElement?.blur());
  await mkdir(path.dirname(output), { recursive: true });
  const size = await page.evaluate(() => ({ width: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight }));
  await page.screenshot({ path: output, fullPage: true });
  const slots = await page.innerText('#view-slots');
  console.log(`saved ${output} (${size.width}×${size.height}, full page at a 1280×800 viewport)\nslot table:\n${slots}`);
} finally {
  await browser.close();
  await server.stop();
}
