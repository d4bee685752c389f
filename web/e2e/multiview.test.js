// The multiview demo page (web/multiview.html): three simulcast publishers (fake camera at
// 1280x720, rids l/m/h) in one stream, the main source and sources "b" and "c"; one page
// opens /multiview.html?stream=… and shows a tile per source, each decoding. The large tile
// decodes the full 1280 width, the thumbnails are held on their lowest encoding (320 wide);
// clicking a tile makes it the large one, clicking the main tile swaps back. A source that
// stops publishing leaves the grid, and when it comes back its tile reuses the freed
// transceiver. Switch times are logged, not asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServerAndBrowser, openPage, inPage, withDiagnostics, uniqueStreamName, PUBLISH_TOKEN, sleep,
} from './helpers.js';

const env = useServerAndBrowser();

const SIZE = [1280, 720];
const FULL = 1280;
const LOWEST = 320;

/** The page's tiles (source '' = main), with decoded frames per mid from the peer connection. */
function tiles(page) {
  return page.evaluate(async () => {
    const frames = {};
    const pc = window.multiviewPeerConnections.at(-1);
    for (const s of (await pc?.getStats())?.values() ?? []) {
      if (s.type === 'inbound-rtp' && s.kind === 'video') frames[s.mid] = s.framesDecoded ?? 0;
    }
    return [...document.querySelectorAll('#tiles li[data-mid]')].map((li) => ({
      source: li.dataset.source,
      mid: li.dataset.mid,
      large: li.querySelector('button').getAttribute('aria-pressed') === 'true',
      width: li.querySelector('video').videoWidth,
      caption: li.querySelector('.size').textContent,
      frames: frames[li.dataset.mid] ?? 0,
    }));
  });
}

/** Page state for failure messages: tiles, state, error text. */
async function describe(page) {
  const extra = await page.evaluate(() => ({
    state: document.getElementById('view-state').textContent,
    error: document.getElementById('view-error').textContent,
    transceivers: window.multiviewPeerConnections.at(-1)?.getTransceivers().map((t) => `${t.mid}:${t.receiver.track.kind}`),
  }));
  return JSON.stringify({ tiles: await tiles(page), ...extra });
}

/**
 * Polls the tiles until `ok(tiles)` has held for `holdMs`; returns the time until it first
 * held (from `started`) and the tiles.
 */
async function until(page, what, ok, { timeout = 20_000, holdMs = 0, started = Date.now() } = {}) {
  let since = null;
  while (Date.now() - started < timeout) {
    const current = await tiles(page);
    if (ok(current)) {
      since ??= Date.now();
      if (Date.now() - since >= holdMs) return { ms: since - started, tiles: current };
    } else {
      since = null;
    }
    await sleep(100);
  }
  throw new Error(`Timed out after ${timeout} ms waiting for ${what}: ${await describe(page)}`);
}

const bySource = (ts) => Object.fromEntries(ts.map((t) => [t.source, t]));
const widths = (ts) => ts.map((t) => `${t.source || 'main'}=${t.width}`).join(' ');

/**
 * `large` decodes a high encoding, every other tile the lowest (a quarter of the top: at most
 * 320 wide; the publishers' browsers may scale their encodings down under load, so the large
 * one is only required to be at least half the full width).
 */
const layout = (large, count = 3) => (ts) => ts.length === count
  && ts.every((t) => t.large === (t.source === large)
    && (t.source === large ? t.width >= FULL / 2 : t.width > 0 && t.width <= LOWEST));

/** Waits until every tile decoded more frames than in `before` (by source). */
function decodingSince(page, before, what) {
  return until(page, what, (ts) => ts.length === before.length
    && ts.every((t) => t.width > 0 && t.frames > (bySource(before)[t.source]?.frames ?? 0) + 5));
}

test('multiview page: a tile per source, click to enlarge (1280) with thumbnails on their lowest encoding (320), sources leave and come back', { timeout: 90_000 }, async () => {
  const streamName = uniqueStreamName('multiview');
  const publishers = {
    '': await openPage(env.browser, env.server, 'pub-main'),
    b: await openPage(env.browser, env.server, 'pub-b'),
    c: await openPage(env.browser, env.server, 'pub-c'),
  };
  const viewer = await openPage(env.browser, env.server, 'multiview');
  const pages = [...Object.values(publishers), viewer];
  const publish = (sourceId) => inPage(publishers[sourceId], 'publish', {
    streamName, token: PUBLISH_TOKEN, sourceId: sourceId || undefined, simulcast: true, size: SIZE,
  });

  await withDiagnostics(pages, env.server, async () => {
    await Promise.all(['', 'b', 'c'].map(publish));

    // Keep the page's peer connection reachable for getStats (the page holds it in a module).
    await viewer.addInitScript(() => {
      const Native = window.RTCPeerConnection;
      window.multiviewPeerConnections = [];
      window.RTCPeerConnection = class extends Native {
        constructor(...args) {
          super(...args);
          window.multiviewPeerConnections.push(this);
        }
      };
    });
    const opened = Date.now();
    await viewer.goto(`${env.server.url}/multiview.html?stream=${encodeURIComponent(streamName)}`);

    const three = await until(viewer, 'three tiles', (ts) => ts.length === 3, { started: opened });
    assert.deepEqual(three.tiles.map((t) => t.source).sort(), ['', 'b', 'c']);
    assert.equal(new Set(three.tiles.map((t) => t.mid)).size, 3, 'one transceiver per tile');
    const decoding = await decodingSince(viewer, three.tiles, 'frames decoded on all three tiles');
    for (const t of decoding.tiles) assert.match(t.caption, /^\d+×\d+$/, `tile ${t.source || 'main'} shows its decoded size`);
    const initial = await until(viewer, 'main large at 1280, b and c at 320', layout(''), { holdMs: 1000, started: opened });
    console.log(`[multiview] page open -> 3 tiles ${three.ms} ms, all decoding ${three.ms + decoding.ms} ms, main large (${widths(initial.tiles)}) ${initial.ms} ms`);

    let clicked = Date.now();
    await viewer.click('#tiles li[data-source="b"] button');
    const toB = await until(viewer, 'b large at 1280, main and c at 320', layout('b'), { holdMs: 1000, started: clicked });
    assert.equal((await tiles(viewer))[0].source, 'b', 'the large tile comes first');
    console.log(`[multiview] click b -> ${widths(toB.tiles)} in ${toB.ms} ms`);

    clicked = Date.now();
    await viewer.click('#tiles li[data-source=""] button');
    const toMain = await until(viewer, 'main large at 1280, b and c at 320 again', layout(''), { holdMs: 1000, started: clicked });
    console.log(`[multiview] click main -> ${widths(toMain.tiles)} in ${toMain.ms} ms`);

    const transceiversBefore = await viewer.evaluate(() => window.multiviewPeerConnections.at(-1).getTransceivers().length);
    const midOfC = bySource(toMain.tiles).c.mid;
    let t0 = Date.now();
    await inPage(publishers.c, 'stopPublish');
    const gone = await until(viewer, 'the tile of c removed', (ts) => ts.length === 2 && !bySource(ts).c, { started: t0 });
    console.log(`[multiview] c stops publishing -> tile gone in ${gone.ms} ms`);

    t0 = Date.now();
    await publish('c');
    const back = await until(viewer, 'a tile for c again, decoding at 320', (ts) => ts.length === 3
      && bySource(ts).c?.width > 0 && bySource(ts).c.width <= LOWEST && bySource(ts).c.frames > 0, { started: t0 });
    assert.equal(bySource(back.tiles).c.mid, midOfC, 'c is back on the transceiver it left');
    const transceiversAfter = await viewer.evaluate(() => window.multiviewPeerConnections.at(-1).getTransceivers().length);
    assert.equal(transceiversAfter, transceiversBefore, 'no transceiver added for the returning source');
    await decodingSince(viewer, back.tiles, 'frames decoded on all three tiles after c came back');
    console.log(`[multiview] c publishes again -> tile back on mid ${midOfC}, 320 wide, in ${back.ms} ms (from its publish call)`);
  });
  await Promise.all(pages.map((p) => p.close()));
});
