// (c) The main publisher is replaced by a new publication (a second page
// publishes again without sourceId while the first still runs, then the first
// stops). The viewer keeps decoding frames across both switches and is not
// renegotiated.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServerAndBrowser, openPage, inPage, waitInPage, withDiagnostics, uniqueStreamName, PUBLISH_TOKEN, sleep,
} from './helpers.js';

const env = useServerAndBrowser();

async function framesAdvanceWithinOneSecond(viewer, label) {
  const before = (await inPage(viewer, 'mainInbound')).video;
  await sleep(1000);
  const after = (await inPage(viewer, 'mainInbound')).video;
  assert.ok(after && after.framesDecoded > (before?.framesDecoded ?? 0),
    `${label}: framesDecoded increases within 1 s (${before?.framesDecoded} -> ${after?.framesDecoded})`);
  return { before, after };
}

test('replacing the main publisher keeps the viewer decoding without renegotiation', { timeout: 150_000 }, async () => {
  const streamName = uniqueStreamName('rep');
  const first = await openPage(env.browser, env.server, 'P1-first');
  const second = await openPage(env.browser, env.server, 'P2-replacement');
  const viewer = await openPage(env.browser, env.server, 'V');
  const pages = [first, second, viewer];

  await withDiagnostics(pages, env.server, async () => {
    await inPage(first, 'publish', { streamName, token: PUBLISH_TOKEN });
    await inPage(viewer, 'startView', { streamName });
    await waitInPage(viewer, () => podiumE2E.timing.firstFrame !== null, null,
      { what: 'first decoded video frame from the first publisher', timeout: 30_000, pages, server: env.server });
    await framesAdvanceWithinOneSecond(viewer, 'first publisher');
    const negotiatedBefore = await inPage(viewer, 'negotiationState');
    console.log(`[replace-publisher] timings: ${JSON.stringify(await inPage(viewer, 'viewTimings'))}`);

    // Switch 1: a new publication of the main source while the first one still runs.
    await inPage(viewer, 'startFrameWatch');
    await inPage(second, 'publish', { streamName, token: PUBLISH_TOKEN });
    const s1 = await framesAdvanceWithinOneSecond(viewer, 'after the replacement publication connected');

    // Switch 2: the first publisher goes away; only the replacement is left.
    await inPage(first, 'stopPublish');
    const s2 = await framesAdvanceWithinOneSecond(viewer, 'after the first publisher stopped');
    await sleep(1000);
    const s3 = (await inPage(viewer, 'mainInbound')).video;
    assert.ok(s3.framesDecoded > s2.after.framesDecoded, `frames keep coming from the replacement (${s2.after.framesDecoded} -> ${s3.framesDecoded})`);
    const watch = await inPage(viewer, 'stopFrameWatch');
    console.log(`[replace-publisher] longest video stall across both switches: ${JSON.stringify(watch)}`);
    console.log(`[replace-publisher] framesDecoded: switch1 ${s1.before?.framesDecoded}->${s1.after.framesDecoded}, switch2 ${s2.before?.framesDecoded}->${s2.after.framesDecoded}, end ${s3.framesDecoded}`);
    console.log(`[replace-publisher] keyFramesDecoded: switch1 ${s1.before?.keyFramesDecoded}->${s1.after.keyFramesDecoded}, switch2 ${s2.before?.keyFramesDecoded}->${s2.after.keyFramesDecoded}, end ${s3.keyFramesDecoded}; viewer ssrc ${s1.before?.ssrc}->${s3.ssrc}`);
    console.log(`[replace-publisher] replacement publisher outbound video: ${JSON.stringify(await inPage(second, 'outboundVideo'))}`);

    const negotiatedAfter = await inPage(viewer, 'negotiationState');
    assert.deepEqual(negotiatedAfter.commands, ['view'], 'the viewer sent no command other than the initial view');
    assert.equal(negotiatedAfter.signalingState, 'stable');
    assert.equal(negotiatedAfter.localSdp, negotiatedBefore.localSdp, 'local description unchanged');
    assert.equal(negotiatedAfter.remoteSdp, negotiatedBefore.remoteSdp, 'remote description unchanged');
    assert.deepEqual(negotiatedAfter.transceivers, negotiatedBefore.transceivers, 'transceivers unchanged');
    assert.equal(negotiatedAfter.connectionState, 'connected');

    const { events } = await inPage(viewer, 'snapshot');
    console.log(`[replace-publisher] viewer events: ${JSON.stringify(events.filter((e) => e.name !== 'track').map((e) => [e.name, e.data]))}`);
  });

  await Promise.all(pages.map((p) => p.close()));
});
