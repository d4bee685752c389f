// Watch party in the rooms app: a content stream (the fake camera and microphone, published
// from the demo page with the publish token) is attached by the room's host through the
// "Watch party" dialog; a wrong token is refused with the server's reason, and a room's own
// stream cannot be attached. The listener's page plays the content's video while the room's
// audio goes on (the host speaks, the listener sees it); stopping the party hides it. A
// second View on one page (the room's multiplexed audio plus the content's video) is exactly
// how a page watches two streams at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServerAndBrowser, openPage, inPage, withDiagnostics, uniqueStreamName, PUBLISH_TOKEN,
} from './helpers.js';
import { signIn as signInTo, useToneMicrophone, waitFor } from './rooms-helpers.js';

const env = useServerAndBrowser();
const signIn = (page, name) => signInTo(env.server, page, name);

/** Fills and submits the host's watch-party dialog; returns the error it shows, if any. */
async function attach(host, stream, token) {
  await host.click('#watch-party');
  await host.fill('#content-stream', stream);
  await host.fill('#content-token', token);
  await host.click('#attach-content');
  return waitFor(host, 'the dialog to close or show an error', () => {
    const error = document.getElementById('content-error');
    if (error && !error.hidden) return { error: error.textContent };
    return document.getElementById('watch-party-form') ? null : { ok: true };
  });
}

test('watch party: the host attaches a content stream, listeners watch it while the room talks', { timeout: 120_000 }, async () => {
  const content = uniqueStreamName('party');
  const feeder = await openPage(env.browser, env.server, 'content');
  const host = await openPage(env.browser, env.server, 'host', { path: '/' });
  const guest = await openPage(env.browser, env.server, 'guest', { path: '/' });
  await useToneMicrophone(host, { frequency: 440 });
  await withDiagnostics([feeder], env.server, async () => {
    await inPage(feeder, 'publish', { streamName: content, token: PUBLISH_TOKEN });
    const hostId = await signIn(host, 'Ana Host');
    await signIn(guest, 'Gus Guest');

    await host.click('#create-room');
    await host.fill('#room-name', 'Movie night');
    await host.click('#create-room-submit');
    const roomId = await waitFor(host, 'the room page as owner', () => {
      const room = document.querySelector('.room');
      return room?.dataset.role === 'owner' && room.dataset.roomId;
    });
    await waitFor(host, 'the host publishing', () => window.podiumApp.room?.media?.status.publish === 'live');

    // Refusals, shown in the dialog, change nothing.
    const wrong = await attach(host, content, 'not-a-token');
    assert.match(wrong.error ?? '', /may not publish/i, JSON.stringify(wrong));
    await host.fill('#content-stream', roomId);
    await host.fill('#content-token', PUBLISH_TOKEN);
    await host.click('#attach-content');
    await waitFor(host, 'a room refused as content', () => /is a room/i.test(document.getElementById('content-error')?.textContent ?? ''));
    await host.keyboard.press('Escape');
    assert.equal(await host.evaluate((id) => window.podiumApp.store.room(id).content ?? null, roomId), null);

    assert.deepEqual(await attach(host, content, PUBLISH_TOKEN), { ok: true });
    await guest.click(`#room-list [data-room-id="${roomId}"] button`);
    await waitFor(guest, 'the guest in the room', () => document.querySelector('.room')?.dataset.role === 'listener');
    const started = Date.now();
    await waitFor(guest, 'the content playing on the guest’s page', () => {
      const v = document.getElementById('content-video');
      return v && !document.getElementById('content-panel').hidden && v.videoWidth > 0 && v.currentTime > 0.5;
    }, null, { timeout: 30_000 });
    const playing = Date.now() - started;
    const t0 = await guest.evaluate(() => document.getElementById('content-video').currentTime);

    // The room talks over it: the host speaks, the guest sees it.
    await host.evaluate(() => window.__tone.set(true));
    await waitFor(guest, 'the host speaking for the guest', (id) => document.querySelector(`#stage .tile[data-user-id="${id}"]`)?.dataset.speaking === 'true', hostId, { timeout: 20_000 });
    const t1 = await guest.evaluate(() => document.getElementById('content-video').currentTime);
    assert.ok(t1 > t0, `the content keeps playing (${t0} -> ${t1})`);
    const caption = await guest.textContent('#content-caption');
    assert.match(caption, new RegExp(content));
    console.log(`[rooms-watch-party] content playing on the guest's page ${playing} ms after joining; room audio goes on`);

    // The host stops it: gone for everyone.
    await host.click('#watch-party');
    await host.click('#stop-content');
    await waitFor(guest, 'the content panel hidden', () => document.getElementById('content-panel').hidden);
    assert.equal(await guest.evaluate(() => document.getElementById('content-video').srcObject), null);
  });
  await Promise.all([feeder.close(), host.close(), guest.close()]);
});
