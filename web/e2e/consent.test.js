// A viewer outlives the ICE consent window. Once a viewer's DTLS is done, Podium drops its
// str0m session and answers its consent checks itself (crates/media/src/sfu/lite.rs); a
// browser stops media after 30 s without valid answers (RFC 7675), so 40 s of decoding
// proves the answers are right.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServerAndBrowser, openPage, inPage, waitInPage, withDiagnostics, uniqueStreamName, PUBLISH_TOKEN, sleep,
} from './helpers.js';

const env = useServerAndBrowser();

test('a viewer keeps decoding past the consent window on Podium\'s own consent answers', { timeout: 120_000 }, async () => {
  const streamName = uniqueStreamName('consent');
  const main = await openPage(env.browser, env.server, 'P');
  const viewer = await openPage(env.browser, env.server, 'V');
  const pages = [main, viewer];

  await withDiagnostics(pages, env.server, async () => {
    await inPage(main, 'publish', { streamName, token: PUBLISH_TOKEN });
    await inPage(viewer, 'startView', { streamName });
    await waitInPage(viewer, () => podiumE2E.timing.firstFrame !== null, null,
      { what: 'first decoded video frame', timeout: 30_000, pages, server: env.server });
    await sleep(8000);
    const metrics = await (await fetch(`${env.server.url}/metrics`)).text();
    const dropped = metrics.split('\n').find((l) => l.startsWith('podium_viewers_without_rtc_total'));
    assert.ok(dropped && Number(dropped.split(' ').pop()) >= 1, `the viewer's str0m session was dropped: ${dropped}`);

    await sleep(40_000);
    const first = await inPage(viewer, 'mainInbound');
    await sleep(1500);
    const second = await inPage(viewer, 'mainInbound');
    assert.ok(second.video.framesDecoded > first.video.framesDecoded,
      `still decoding after 48 s (${first.video.framesDecoded} -> ${second.video.framesDecoded})`);
    assert.ok(second.audio.totalAudioEnergy > first.audio.totalAudioEnergy,
      `still hearing audio (${first.audio.totalAudioEnergy} -> ${second.audio.totalAudioEnergy})`);
  });

  await Promise.all(pages.map((p) => p.close()));
});
