// Speakers' cameras in a video room: a speaker (not the host) turns the camera on; the
// listener's page shows it on that speaker's stage tile through projection (a transceiver the
// page added, `project` of the speaker's source), at the small encoding the tile needs (the
// speaker publishes simulcast; stage tiles are about 112 px wide, so 320 wide is plenty),
// while the host's video stays on the main transceiver at full size. Turning the camera off
// takes the video off the tile.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useServerAndBrowser, openPage, withDiagnostics } from './helpers.js';
import { signIn as signInTo, useToneMicrophone, waitFor } from './rooms-helpers.js';

const env = useServerAndBrowser();
const signIn = (page, name) => signInTo(env.server, page, name);

const tileVideo = (page, userId) => page.evaluate((id) => {
  const v = document.querySelector(`#stage .tile[data-user-id="${id}"] video`);
  return v ? { width: v.videoWidth, time: v.currentTime } : null;
}, userId);

test('video room: a speaker’s camera on their tile for everyone, at the encoding the tile needs', { timeout: 120_000 }, async () => {
  const host = await openPage(env.browser, env.server, 'host', { path: '/' });
  const speaker = await openPage(env.browser, env.server, 'speaker', { path: '/' });
  const guest = await openPage(env.browser, env.server, 'guest', { path: '/' });
  await useToneMicrophone(host, { frequency: 440 });
  await useToneMicrophone(speaker, { frequency: 660 });
  await withDiagnostics([], env.server, async () => {
    const hostId = await signIn(host, 'Hana Host');
    const speakerId = await signIn(speaker, 'Sol Speaker');
    await signIn(guest, 'Gia Guest');

    await host.click('#create-room');
    await host.fill('#room-name', 'Show and tell');
    await host.click('#create-room-form label.choice:has(input[value="video"])');
    await host.click('#create-room-submit');
    const roomId = await waitFor(host, 'the room page as owner', () => {
      const room = document.querySelector('.room');
      return room?.dataset.role === 'owner' && room.dataset.roomId;
    });
    for (const page of [speaker, guest]) {
      await page.click(`#room-list [data-room-id="${roomId}"] button`);
      await waitFor(page, 'in the room as a listener', () => document.querySelector('.room')?.dataset.role === 'listener');
    }
    await speaker.click('#toggle-hand');
    await waitFor(host, 'the raised hand', (id) => !!document.querySelector(`#hands-queue [data-user-id="${id}"]`), speakerId);
    await host.click(`#hands-queue [data-user-id="${speakerId}"] [data-action="allow"]`);
    await waitFor(speaker, 'on stage, publishing', () => window.podiumApp.room?.media?.status.publish === 'live');

    await speaker.click('#toggle-camera');
    await waitFor(speaker, 'my own camera on my tile', (id) => document.querySelector(`#stage .tile[data-user-id="${id}"] video`)?.videoWidth > 0, speakerId);
    const on = Date.now();
    await waitFor(guest, 'the speaker’s camera on their tile', (id) => {
      const v = document.querySelector(`#stage .tile[data-user-id="${id}"] video`);
      return v && v.videoWidth > 0 && v.currentTime > 0;
    }, speakerId, { timeout: 30_000 });
    const shown = Date.now() - on;
    await waitFor(guest, 'the small encoding for the small tile', (id) => document.querySelector(`#stage .tile[data-user-id="${id}"] video`)?.videoWidth <= 320, speakerId, { timeout: 20_000 })
      .catch(async (err) => {
        // What the page knew: the tile's pixels, the encodings it was told of, what it asked.
        const state = await guest.evaluate(() => {
          const c = window.podiumApp.room?.media?.cameras;
          return c && { px: c.tilePixels(), shown: [...c.shown].map(([u, s]) => [u, s.mid, s.encoding]), layers: [...c.view.layers] };
        });
        throw new Error(`${err.message}\nguest cameras: ${JSON.stringify(state)}`);
      });
    const small = Date.now() - on;
    const before = await tileVideo(guest, speakerId);
    await new Promise((r) => setTimeout(r, 1500));
    const after = await tileVideo(guest, speakerId);
    assert.ok(after.time > before.time, `the camera keeps playing (${before.time} -> ${after.time})`);
    // Automatic: the highest layer the host's browser sends. Under load the browser scales its
    // layers down, so the test compares with what it sends now rather than a fixed size.
    let hostVideo;
    let sentWidth = 0;
    for (let i = 0; i < 50; i++) {
      if (i) await new Promise((r) => setTimeout(r, 200));
      sentWidth = await host.evaluate(async () => {
        const stats = await window.podiumApp.room.media.publisher.peerConnection.getStats();
        let widest = 0;
        stats.forEach((r) => {
          // A layer the browser stopped keeps its last size in the stats: only live ones.
          if (r.type === 'outbound-rtp' && r.kind === 'video' && r.active !== false && (r.framesPerSecond ?? 0) > 0) {
            widest = Math.max(widest, r.frameWidth ?? 0);
          }
        });
        return widest;
      });
      hostVideo = await tileVideo(guest, hostId);
      if (hostVideo && sentWidth > 0 && hostVideo.width >= sentWidth) break;
    }
    assert.ok(hostVideo && sentWidth > 0 && hostVideo.width >= sentWidth, `the host's video is the widest layer sent (${sentWidth}): ${JSON.stringify(hostVideo)}`);
    console.log(`[rooms-cameras] speaker camera on the guest's tile after ${shown} ms, at 320 wide after ${small} ms; host video ${hostVideo.width} wide (widest sent ${sentWidth})`);

    await speaker.click('#toggle-camera');
    await waitFor(guest, 'the camera off the tile', (id) => !document.querySelector(`#stage .tile[data-user-id="${id}"] video`), speakerId, { timeout: 15_000 });
  });
  await Promise.all([host.close(), speaker.close(), guest.close()]);
});
