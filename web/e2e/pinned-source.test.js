// (b) A viewer pinned to the audio-only "guest" source gets the guest's audio
// on its default audio transceiver while a main source also publishes.
// The main source sends camera video and a digitally *silent* audio track, so
// audible energy (totalAudioEnergy > 1e-3; silence adds ~1e-9/s, the fake
// microphone's beep ~0.2/s) can only come from the guest, and decoded video
// frames would mean the viewer is (wrongly) fed the main source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServerAndBrowser, openPage, inPage, waitInPage, withDiagnostics, uniqueStreamName, PUBLISH_TOKEN, sleep,
} from './helpers.js';

const env = useServerAndBrowser();

test('viewer with pinnedSourceId "guest" receives the guest audio', { timeout: 120_000 }, async () => {
  const streamName = uniqueStreamName('pin');
  const main = await openPage(env.browser, env.server, 'P1-main');
  const guest = await openPage(env.browser, env.server, 'P2-guest');
  const viewer = await openPage(env.browser, env.server, 'V-pinned');
  const pages = [main, guest, viewer];

  await withDiagnostics(pages, env.server, async () => {
    await inPage(main, 'publish', { streamName, token: PUBLISH_TOKEN, silentAudio: true });
    await inPage(guest, 'publish', { streamName, token: PUBLISH_TOKEN, sourceId: 'guest', video: false });
    const { mids } = await inPage(viewer, 'startView', { streamName, pinnedSourceId: 'guest' });

    await waitInPage(viewer, () => podiumE2E.timing.firstAudible !== null, null,
      { what: 'audible guest audio (totalAudioEnergy > 1e-3) on the default audio transceiver', timeout: 30_000, pages, server: env.server });
    const { audio } = await inPage(viewer, 'mainInbound');
    assert.equal(audio.mid, mids.audio);
    assert.ok(audio.totalAudioEnergy > 1e-3, `audio totalAudioEnergy > 1e-3 (${audio.totalAudioEnergy})`);

    // The pinned source has no video: the default video transceiver must not decode the main camera.
    await sleep(1000);
    const { video } = await inPage(viewer, 'mainInbound');
    assert.ok(!video || !video.framesDecoded,
      `no main-source video on a viewer pinned to the audio-only guest (video inbound: ${JSON.stringify(video)})`);

    await waitInPage(viewer, () => podiumE2E.hasEvent('active', 'guest'), null,
      { what: 'active event for source "guest"', pages, server: env.server });

    console.log(`[pinned-source] timings: ${JSON.stringify(await inPage(viewer, 'viewTimings'))}`);
  });

  await Promise.all(pages.map((p) => p.close()));
});
