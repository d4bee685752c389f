// (d) Stopping a publisher makes the viewer receive an `inactive` event for
// that source: first the "guest" source, then the main source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServerAndBrowser, openPage, inPage, waitInPage, withDiagnostics, uniqueStreamName, PUBLISH_TOKEN,
} from './helpers.js';

const env = useServerAndBrowser();

test('stopping a publisher sends inactive for its source to viewers', { timeout: 120_000 }, async () => {
  const streamName = uniqueStreamName('inact');
  const main = await openPage(env.browser, env.server, 'P1-main');
  const guest = await openPage(env.browser, env.server, 'P2-guest');
  const viewer = await openPage(env.browser, env.server, 'V');
  const pages = [main, guest, viewer];

  await withDiagnostics(pages, env.server, async () => {
    await inPage(main, 'publish', { streamName, token: PUBLISH_TOKEN });
    await inPage(guest, 'publish', { streamName, token: PUBLISH_TOKEN, sourceId: 'guest', video: false });
    await inPage(viewer, 'startView', { streamName });
    await waitInPage(viewer, () => podiumE2E.hasEvent('active', null) && podiumE2E.hasEvent('active', 'guest'), null,
      { what: 'active events for main and guest', pages, server: env.server });
    await waitInPage(viewer, () => podiumE2E.timing.firstFrame !== null, null,
      { what: 'first decoded video frame', timeout: 30_000, pages, server: env.server });
    await waitInPage(viewer, () => podiumE2E.timing.firstAudioPacket !== null, null,
      { what: 'first main audio packet', timeout: 30_000, pages, server: env.server });
    console.log(`[inactive] timings: ${JSON.stringify(await inPage(viewer, 'viewTimings'))}`);

    await inPage(guest, 'stopPublish');
    await waitInPage(viewer, () => podiumE2E.hasEvent('inactive', 'guest'), null,
      { what: 'inactive event for source "guest" after its publisher stopped', timeout: 20_000, pages, server: env.server });
    assert.equal(await viewer.evaluate(() => podiumE2E.hasEvent('inactive', null)), false,
      'main source still active after the guest stopped');

    await inPage(main, 'stopPublish');
    await waitInPage(viewer, () => podiumE2E.hasEvent('inactive', null), null,
      { what: 'inactive event for the main source after its publisher stopped', timeout: 20_000, pages, server: env.server });
    const remaining = await viewer.evaluate(() => [...podiumE2E.view.activeSources.keys()]);
    assert.deepEqual(remaining, [], 'no active source left');

    const { events } = await inPage(viewer, 'snapshot');
    const inactives = events.filter((e) => e.name === 'inactive').map((e) => e.data);
    for (const d of inactives) {
      assert.ok(String(d.streamId).endsWith(`/${streamName}`), `inactive streamId is "<account>/${streamName}" (${d.streamId})`);
    }
    console.log(`[inactive] inactive events: ${JSON.stringify(inactives)}`);
  });

  await Promise.all(pages.map((p) => p.close()));
});
