// Podium's browser library with rid-based simulcast: Publish.connect({simulcast: true}) sends
// the fake camera (1280x720) as encodings l/m/h; a View keeps the `layers` events in
// view.layers, decodes the highest, select()s `l` and decodes a narrower frame, then select()s
// automatic and is back on the highest. A view that names `layer: {encodingId: 'l'}` starts on it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServerAndBrowser, openPage, inPage, waitInPage, withDiagnostics, uniqueStreamName, PUBLISH_TOKEN,
} from './helpers.js';

const env = useServerAndBrowser();

/** The decoded width of the main video, and the widths of its active encodings (lowest first). */
const widths = (page) => page.evaluate(async () => ({
  w: (await podiumE2E.mainInbound()).video?.frameWidth ?? 0,
  encodings: (podiumE2E.view.layers.get(podiumE2E.view.mids.video)?.active ?? []).map((l) => l.width ?? 0),
}));

/**
 * Polls until `ok(width, encodings)`; returns how long that took. The encodings' widths come
 * from the latest `layers` event: the publisher's browser may scale them down under load.
 */
async function untilWidth(page, ok, what, timeout = 20_000) {
  const started = Date.now();
  let last = null;
  while (Date.now() - started < timeout) {
    last = await widths(page);
    if (last.encodings.length && ok(last.w, last.encodings)) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`Timed out waiting for ${what} (${JSON.stringify(last)})`);
}

test('podium.js: a simulcast publisher (rids l, m, h), layers on the view, select and back', { timeout: 120_000 }, async () => {
  const streamName = uniqueStreamName('sim');
  const publisher = await openPage(env.browser, env.server, 'pub');
  const viewer = await openPage(env.browser, env.server, 'view');
  const pages = [publisher, viewer];
  await withDiagnostics(pages, env.server, async () => {
    await inPage(publisher, 'publish', { streamName, token: PUBLISH_TOKEN, simulcast: true, size: [1280, 720] });
    const offer = await publisher.evaluate(() => podiumE2E.pub.peerConnection.localDescription.sdp);
    assert.match(offer, /a=simulcast:send l;m;h/, 'the offer declares the three rids');
    const { mids } = await inPage(viewer, 'startView', { streamName });

    await waitInPage(viewer, (mid) => (podiumE2E.view.layers.get(mid)?.active.length ?? 0) >= 2, mids.video,
      { what: 'a layers event with two active encodings', timeout: 30_000, pages, server: env.server });
    const active = await viewer.evaluate((mid) => podiumE2E.view.layers.get(mid).active, mids.video);
    const ids = active.map((l) => l.id);
    assert.ok(ids.every((id) => ['l', 'm', 'h'].includes(id)), `encodings named by their rids: ${ids}`);
    assert.equal(ids[0], 'l', 'lowest first');

    await untilWidth(viewer, (w, e) => w >= 640 && w === e.at(-1), 'the highest encoding decoded', 30_000);
    await viewer.evaluate(() => podiumE2E.view.select({ encodingId: 'l' }));
    const down = await untilWidth(viewer, (w, e) => w === e[0] && w < e.at(-1), 'the l encoding decoded');
    const low = (await widths(viewer)).w;
    await viewer.evaluate(() => podiumE2E.view.select());
    const up = await untilWidth(viewer, (w, e) => w === e.at(-1) && w > low, 'back to the highest');
    const high = (await widths(viewer)).w;
    console.log(`[podium-simulcast] rids ${ids.join(',')}; select l -> ${low} wide in ${down} ms; automatic -> ${high} in ${up} ms`);

    // A viewer that asks for `l` in its view decodes it from its first frames on.
    const small = await openPage(env.browser, env.server, 'view-l');
    pages.push(small);
    await inPage(small, 'startView', { streamName, layer: { encodingId: 'l' } });
    await untilWidth(small, (w, e) => w > 0 && e.length >= 2, 'the first frames of the view asking for l');
    const first = (await widths(small)).w;
    assert.ok(first > 0 && first <= low, `decoded ${first} wide from the start (l is ${low})`);
  });
});
