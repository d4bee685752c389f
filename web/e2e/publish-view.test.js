// (a) Main source (fake camera + mic) and an audio-only "guest" source publish
// to one stream; a viewer decodes the main video, hears the main audio and is
// told about both sources through `active` events.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServerAndBrowser, openPage, inPage, waitInPage, withDiagnostics, uniqueStreamName, PUBLISH_TOKEN, sleep,
} from './helpers.js';

const env = useServerAndBrowser();

test('viewer receives main video + audio and active events for main and guest sources', { timeout: 120_000 }, async () => {
  const streamName = uniqueStreamName('pv');
  const main = await openPage(env.browser, env.server, 'P1-main');
  const guest = await openPage(env.browser, env.server, 'P2-guest');
  const viewer = await openPage(env.browser, env.server, 'V');
  const pages = [main, guest, viewer];

  await withDiagnostics(pages, env.server, async () => {
    await inPage(main, 'publish', { streamName, token: PUBLISH_TOKEN });
    await inPage(guest, 'publish', { streamName, token: PUBLISH_TOKEN, sourceId: 'guest', video: false });
    const { mids } = await inPage(viewer, 'startView', { streamName });
    assert.ok(mids.video && mids.audio, `viewer has main video and audio transceivers (mids ${JSON.stringify(mids)})`);

    await waitInPage(viewer, () => podiumE2E.timing.firstFrame !== null, null,
      { what: 'first decoded video frame', timeout: 30_000, pages, server: env.server });
    const first = await inPage(viewer, 'mainInbound');
    await sleep(1000);
    const second = await inPage(viewer, 'mainInbound');
    assert.ok(second.video.framesDecoded > first.video.framesDecoded,
      `framesDecoded increases (${first.video.framesDecoded} -> ${second.video.framesDecoded})`);

    await waitInPage(viewer, () => podiumE2E.timing.firstAudible !== null, null,
      { what: 'audible main audio (totalAudioEnergy > 1e-3)', timeout: 30_000, pages, server: env.server });
    const audio = (await inPage(viewer, 'mainInbound')).audio;
    assert.ok(audio.totalAudioEnergy > 0, `main audio totalAudioEnergy > 0 (${audio.totalAudioEnergy})`);

    await waitInPage(viewer, () => podiumE2E.hasEvent('active', null), null,
      { what: 'active event for the main source', pages, server: env.server });
    await waitInPage(viewer, () => podiumE2E.hasEvent('active', 'guest'), null,
      { what: 'active event for source "guest"', pages, server: env.server });

    const { events } = await inPage(viewer, 'snapshot');
    const actives = events.filter((e) => e.name === 'active').map((e) => e.data);
    const mainActive = actives.find((d) => (d.sourceId ?? null) === null);
    const guestActive = actives.find((d) => d.sourceId === 'guest');
    assert.ok(String(mainActive.streamId).endsWith(`/${streamName}`), `active streamId is "<account>/${streamName}" (${mainActive.streamId})`);
    assert.ok(mainActive.tracks?.some((t) => t.media === 'video'), `main source lists a video track: ${JSON.stringify(mainActive.tracks)}`);
    assert.ok(mainActive.tracks?.some((t) => t.media === 'audio'), `main source lists an audio track: ${JSON.stringify(mainActive.tracks)}`);
    assert.ok(guestActive.tracks?.some((t) => t.media === 'audio'), `guest source lists an audio track: ${JSON.stringify(guestActive.tracks)}`);

    console.log(`[publish-view] timings: ${JSON.stringify(await inPage(viewer, 'viewTimings'))}`);
    console.log(`[publish-view] active events: ${JSON.stringify(actives)}`);
  });

  await Promise.all(pages.map((p) => p.close()));
});
