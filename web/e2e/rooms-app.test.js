// The rooms app at `/`, driven through its UI in headless Chromium against a real `podium serve`:
// a host creates a room; two listeners sign in and see it in Live now; one raises a hand, the
// host sees it and promotes them; the promoted user speaks (a generated tone) and the third
// user's page shows the speaking indicator on that user's tile; the host kicks a speaker whose
// media then stops for everyone; the host leaves and ownership passes on.
// Screenshots of the lobby and of a room with speakers go to web/test-results/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import {
  useServerAndBrowser, openPage, withDiagnostics, RESULTS_DIR, sleep,
} from './helpers.js';
import {
  botUser as botUserOf, signIn as signInTo, useToneMicrophone, waitFor, tileSel, assertFitsWidth,
} from './rooms-helpers.js';

const sockets = [];

const env = useServerAndBrowser({
  setup: () => mkdir(RESULTS_DIR, { recursive: true }),
  teardown: () => { for (const s of sockets) s.disconnect(); },
});

const botUser = (name) => botUserOf(env.server, sockets, name);
const signIn = (page, name, size) => signInTo(env.server, page, name, size);

test('sign-in shows readable errors; the lobby and a room fit a 375 px phone', { timeout: 60_000 }, async () => {
  const taken = await botUser('Taken Name');
  const page = await openPage(env.browser, env.server, 'phone', { path: '/' });
  await withDiagnostics([], env.server, async () => {
    await page.setViewportSize({ width: 375, height: 740 });
    await page.goto(`${env.server.url}/`);
    await page.fill('#username', 'taken name');
    await page.click('#signin-submit');
    const error = await waitFor(page, 'the username-taken error', () => {
      const el = document.getElementById('signin-error');
      return el && !el.hidden && el.textContent;
    });
    assert.match(error, /already taken/i, 'the server refusal is shown as is');
    await page.fill('#username', 'bad<name>');
    await page.click('#signin-submit');
    await waitFor(page, 'the invalid-character error', () => /can use letters.*“<”/i.test(document.getElementById('signin-error')?.textContent ?? ''));
    await assertFitsWidth(page, 'the sign-in page');

    await page.fill('#username', 'Phone User');
    await page.click('#signin-submit');
    await page.waitForSelector('#live-empty:not([hidden])');
    await assertFitsWidth(page, 'the empty lobby');

    // A room made elsewhere shows up live, without reloading.
    const roomId = await taken.call('create-room', 'A room with a rather long name to check wrapping on phones', true);
    await waitFor(page, 'the new room in Live now', (id) => !!document.querySelector(`#room-list [data-room-id="${id}"]`), roomId);
    await assertFitsWidth(page, 'the lobby with a room');
    await page.click(`#room-list [data-room-id="${roomId}"] button`);
    await waitFor(page, 'the room page as a listener', () => document.querySelector('.room')?.dataset.role === 'listener' && !!document.getElementById('toggle-hand'));
    await assertFitsWidth(page, 'the room page');
    await page.screenshot({ path: path.join(RESULTS_DIR, 'rooms-phone-listener.png'), fullPage: true });

    // The room ends when its host leaves with nobody on stage: the listener is told and sent back.
    await taken.call('leave-room', roomId);
    await waitFor(page, 'the lobby after the room ended', () => !!document.getElementById('live-title') && !document.querySelector('.room'));
    const toastText = await page.innerText('#toasts');
    assert.match(toastText, /ended/i, `a toast explains why (${toastText})`);
  });
  await page.close();
  taken.socket.disconnect();
});

test('a lost connection shows progress and walks back into the room; a reload signs back in', { timeout: 90_000 }, async () => {
  const owner = await botUser('Reconnect Host');
  const roomId = await owner.call('create-room', 'Flaky wifi club', true);
  const seen = [];
  owner.socket.onAny((name, ...args) => seen.push({ name, args }));
  const page = await openPage(env.browser, env.server, 'reconnect', { path: '/' });
  await withDiagnostics([], env.server, async () => {
    const firstId = await signIn(page, 'Roaming Reader');
    await page.click(`#room-list [data-room-id="${roomId}"] button`);
    await waitFor(page, 'the room page', () => document.querySelector('.room')?.dataset.role === 'listener');
    await waitFor(page, 'the audio to be live', () => document.getElementById('room-status')?.dataset.status === 'live');

    // The WebSocket to the rooms server drops (as on a network change).
    seen.length = 0;
    await page.evaluate(() => window.podiumApp.socket.ws.close());
    await waitFor(page, 'the reconnecting banner and room overlay', () => !document.getElementById('connection-banner').hidden
      && /Reconnecting|Signing you back|Connection lost/.test(document.getElementById('connection-banner').textContent)
      && !document.getElementById('room-overlay').hidden);
    const back = await waitFor(page, 'back in the room with live audio', () => document.querySelector('.room')?.dataset.role === 'listener'
      && document.getElementById('connection-banner').hidden
      && document.getElementById('room-status')?.dataset.status === 'live'
      && window.podiumApp.store.me.id, null, { timeout: 30_000 });
    // The page resumed its user (issue 11): same id, and the room saw nothing.
    assert.equal(back, firstId, 'a reconnection resumes the same user');
    assert.ok(!seen.some((e) => ['user-left', 'user-joined'].includes(e.name)), `the room saw nobody leave or join (${JSON.stringify(seen)})`);

    // A reload: the name is remembered for the tab, the room comes from the URL.
    await page.reload();
    const again = await waitFor(page, 'signed back in and in the room after a reload', () => document.querySelector('.room')?.dataset.role === 'listener'
      && document.getElementById('room-status')?.dataset.status === 'live' && window.podiumApp.store.me.id, null, { timeout: 30_000 });
    assert.equal(again, back, 'a reload resumes the same user');
    assert.ok(!seen.some((e) => ['user-left', 'user-joined'].includes(e.name)), 'the room saw nobody leave or join');
    assert.equal(await page.textContent('#me-name'), 'Roaming Reader');
  });
  await page.close();
  owner.socket.disconnect();
});

test('host, raised hand, promotion, speaking indicator, mute, kick and hand-over, through the UI', { timeout: 180_000 }, async () => {
  // Other rooms, so Live now looks like a real lobby.
  const bots = [];
  for (const name of ['Nora Lindqvist', 'Kenji Watanabe', 'Amara Okafor', 'Sam Rivera', 'Priya Nair', 'Jonas Weber', 'Elif Demir',
    'Tomás Ruiz', 'Aiko Sato', 'Olu Bakare', 'Hannah Berg', 'Lucía Romero', 'Ravi Menon', 'Felix Wagner', 'Mei Lin']) bots.push(await botUser(name));
  const [nora, kenji, amara, sam, priya, jonas, elif, tomas, aiko, olu, hannah, lucia, ravi, felix, mei] = bots;
  const coffee = await nora.call('create-room', 'Morning coffee ☕ open mic', true);
  await kenji.call('join-room', coffee);
  await nora.call('promote-user', coffee, kenji.id, true);
  await amara.call('join-room', coffee);
  await hannah.call('join-room', coffee);
  const rust = await elif.call('create-room', 'Rust async Q&A', false);
  await jonas.call('join-room', rust);
  const books = await lucia.call('create-room', 'Book club: Piranesi, chapters 1–5', true);
  await ravi.call('join-room', books);
  const games = await felix.call('create-room', 'Indie game devs: show & tell', false);
  await mei.call('join-room', games);
  await felix.call('promote-user', games, mei.id, true);

  const host = await openPage(env.browser, env.server, 'host', { path: '/' });
  const leo = await openPage(env.browser, env.server, 'leo', { path: '/' });
  const zoe = await openPage(env.browser, env.server, 'zoe', { path: '/' });
  const pages = [host, leo, zoe];
  await useToneMicrophone(leo, { frequency: 440 });
  await useToneMicrophone(zoe, { frequency: 660 });

  await withDiagnostics([], env.server, async () => {
    const hostId = await signIn(host, 'Maya Chen');
    const leoId = await signIn(leo, 'Leo Park');
    const zoeId = await signIn(zoe, 'Zoe Adams');

    // --- The host starts a video room from the UI.
    await host.click('#create-room');
    await host.fill('#room-name', 'Design review: onboarding');
    await host.click('#create-room-form label.choice:has(input[value="video"])');
    assert.equal(await host.isChecked('#create-room-form input[value="video"]'), true);
    await host.click('#create-room-submit');
    const roomId = await waitFor(host, 'the room page as owner', () => {
      const room = document.querySelector('.room');
      return room?.dataset.role === 'owner' && room.dataset.roomId;
    });
    await waitFor(host, 'the host tile with the camera preview', (id) => {
      const v = document.querySelector(`#stage .tile[data-user-id="${id}"] video`);
      return v && v.videoWidth > 0;
    }, hostId);
    await waitFor(host, 'the media to be live', () => document.getElementById('room-status')?.dataset.status === 'live');

    // --- Both listeners see it in Live now, with its owner and counts.
    for (const page of [leo, zoe]) {
      const card = await waitFor(page, 'the room card', (id) => {
        const li = document.querySelector(`#room-list [data-room-id="${id}"]`);
        return li && {
          owner: li.querySelector('.card-owner')?.textContent,
          speakers: li.querySelector('[data-count="speakers"] .n')?.textContent,
          audience: li.querySelector('[data-count="audience"] .n')?.textContent,
          video: li.dataset.audioOnly === 'false',
          title: li.querySelector('.card-title')?.textContent,
        };
      }, roomId);
      assert.deepEqual(card, { owner: 'Maya Chen', speakers: '1', audience: '0', video: true, title: 'Design review: onboarding' });
    }

    // --- Leo walks in; Zoe's card count goes up live; Zoe walks in.
    await leo.click(`#room-list [data-room-id="${roomId}"] button`);
    await waitFor(leo, 'Leo in the room as a listener', () => document.querySelector('.room')?.dataset.role === 'listener');
    await waitFor(zoe, 'the audience count to update live', (id) => document.querySelector(`#room-list [data-room-id="${id}"] [data-count="audience"] .n`)?.textContent === '1', roomId);
    await zoe.click(`#room-list [data-room-id="${roomId}"] button`);
    await waitFor(zoe, 'Zoe in the room as a listener', () => document.querySelector('.room')?.dataset.role === 'listener');
    for (const page of [leo, zoe]) {
      await waitFor(page, 'the host video on stage', (id) => {
        const v = document.querySelector(`#stage .tile[data-user-id="${id}"] video`);
        return v && v.videoWidth > 0 && !v.paused;
      }, hostId);
    }
    // Extra audience (socket-only users), for a realistic room.
    for (const bot of [sam, priya, tomas, aiko, olu]) await bot.call('join-room', roomId);

    // --- Leo raises his hand; the host sees it in the queue and allows him on stage.
    await leo.click('#toggle-hand');
    await waitFor(leo, 'the raise-hand button to show the raised state', () => document.getElementById('toggle-hand')?.getAttribute('aria-pressed') === 'true');
    await waitFor(host, 'Leo in the raised-hands queue', (id) => !!document.querySelector(`#hands-queue [data-user-id="${id}"]`), leoId);
    await waitFor(zoe, 'the raised-hand badge on Leo for everyone', (id) => document.querySelector(`#audience [data-user-id="${id}"]`)?.dataset.hand === 'true', leoId);
    assert.equal(await host.textContent('#hands-count'), '1');
    await host.click(`#hands-queue [data-user-id="${leoId}"] [data-action="allow"]`);

    await waitFor(leo, 'Leo on stage with a mic button', () => document.querySelector('.room')?.dataset.role === 'speaker' && !!document.getElementById('toggle-mic'));
    await waitFor(zoe, 'Leo on stage for Zoe', (id) => !!document.querySelector(`#stage .tile[data-user-id="${id}"]`), leoId);
    await waitFor(host, 'an empty raised-hands queue', () => document.getElementById('hands-count')?.textContent === '0');
    await waitFor(leo, 'Leo publishing', () => window.podiumApp.room?.media?.status.publish === 'live');
    const leoMic = await leo.evaluate(() => window.__tone.calls);
    assert.deepEqual(leoMic.map((c) => !!c.video), [false], 'a promoted speaker publishes audio only');

    // --- Leo speaks: Zoe sees the speaking indicator on Leo's tile (slot level via vad).
    await leo.evaluate(() => window.__tone.set(true));
    const speaking = await waitFor(zoe, 'the speaking indicator on Leo’s tile', (id) => {
      const tile = document.querySelector(`#stage .tile[data-user-id="${id}"]`);
      return tile?.dataset.speaking === 'true' && tile.dataset.slot ? { slot: tile.dataset.slot, level: tile.style.getPropertyValue('--level') } : null;
    }, leoId, { timeout: 20_000 });
    console.log(`[rooms-app] Zoe sees Leo speaking: ${JSON.stringify(speaking)}`);
    await waitFor(host, 'the speaking indicator on Leo’s tile for the host', (id) => document.querySelector(`#stage .tile[data-user-id="${id}"]`)?.dataset.speaking === 'true', leoId);
    await waitFor(leo, 'Leo’s own tile speaking (local level)', (id) => document.querySelector(`#stage .tile[data-user-id="${id}"]`)?.dataset.speaking === 'true', leoId);
    // Silence: the indicator goes off again.
    await leo.evaluate(() => window.__tone.set(false));
    await waitFor(zoe, 'Leo’s tile to stop speaking', (id) => document.querySelector(`#stage .tile[data-user-id="${id}"]`)?.dataset.speaking === 'false', leoId, { timeout: 10_000 });
    await leo.evaluate(() => window.__tone.set(true));

    // --- The host invites Zoe from the audience (per-user actions), then mutes her.
    await host.click(`#audience [data-user-id="${zoeId}"] button`);
    await host.click('dialog [data-action="promote"]');
    // Consent: she is asked first, and accepts.
    await waitFor(host, 'Zoe shown as invited', (id) => document.querySelector(`#audience [data-user-id="${id}"]`)?.dataset.invited === 'true', zoeId);
    await zoe.click('#accept-invite');
    await waitFor(zoe, 'Zoe on stage', () => document.querySelector('.room')?.dataset.role === 'speaker' && window.podiumApp.room?.media?.status.publish === 'live');
    await host.click(`${tileSel(zoeId)} .tile-body`);
    await host.click('dialog [data-action="mute"]');
    await waitFor(zoe, 'Zoe’s mic button to show muted', () => document.getElementById('toggle-mic')?.getAttribute('aria-pressed') === 'true');
    assert.equal(await zoe.evaluate(() => window.podiumApp.room.media.localStream.getAudioTracks()[0].enabled), false, 'the local track is disabled');
    await waitFor(leo, 'the muted badge on Zoe’s tile', (id) => document.querySelector(`#stage .tile[data-user-id="${id}"]`)?.dataset.muted === 'true', zoeId);
    // --- Screenshots: a room with speakers (host view with a raised hand; listener on a phone).
    await priya.call('raise-hand', roomId, true);
    await waitFor(host, 'Priya in the queue', (id) => !!document.querySelector(`#hands-queue [data-user-id="${id}"]`), priya.id);
    await waitFor(host, 'Leo speaking on the host page', (id) => document.querySelector(`#stage .tile[data-user-id="${id}"]`)?.dataset.speaking === 'true', leoId);
    await host.evaluate(() => { for (const t of document.querySelectorAll('.toast')) t.remove(); document.activeElement?.blur(); window.scrollTo(0, 0); });
    await sleep(300);
    await host.screenshot({ path: path.join(RESULTS_DIR, 'rooms-room-host.png') });
    // Zoe unmutes herself.
    await zoe.click('#toggle-mic');
    await waitFor(host, 'Zoe unmuted for the host', (id) => document.querySelector(`#stage .tile[data-user-id="${id}"]`)?.dataset.muted === 'false', zoeId);
    assert.equal(await zoe.evaluate(() => window.podiumApp.room.media.localStream.getAudioTracks()[0].enabled), true);

    // --- The host moves Zoe back to the audience; she asks again and is allowed from the toast.
    await host.click(`${tileSel(zoeId)} .tile-body`);
    await host.click('dialog [data-action="demote"]');
    await waitFor(zoe, 'Zoe in the audience, not publishing', () => document.querySelector('.room')?.dataset.role === 'listener'
      && !!document.getElementById('toggle-hand') && window.podiumApp.room.media.status.publish === 'idle' && !window.podiumApp.room.media.localStream);
    await waitFor(leo, 'Zoe in Leo’s audience list', (id) => !!document.querySelector(`#audience [data-user-id="${id}"]`) && !document.querySelector(`#stage [data-user-id="${id}"]`), zoeId);
    await zoe.click('#toggle-hand');
    await waitFor(host, 'the raised-hand toast on the host page', () => [...document.querySelectorAll('.toast')].some((t) => /Zoe Adams raised their hand/.test(t.textContent)));
    await host.click('.toast:has-text("Zoe Adams raised their hand") button:has-text("Allow to speak")');
    await waitFor(zoe, 'Zoe on stage again', () => document.querySelector('.room')?.dataset.role === 'speaker' && window.podiumApp.room?.media?.status.publish === 'live');

    const listener = await openPage(env.browser, env.server, 'listener-phone', { path: '/' });
    pages.push(listener);
    await signIn(listener, 'Ines Costa', { width: 390, height: 844 });
    await listener.click(`#room-list [data-room-id="${roomId}"] button`);
    await waitFor(listener, 'Leo speaking on the phone', (id) => document.querySelector(`#stage .tile[data-user-id="${id}"]`)?.dataset.speaking === 'true', leoId);
    await waitFor(listener, 'the host video on the phone', (id) => document.querySelector(`#stage .tile[data-user-id="${id}"] video`)?.videoWidth > 0, hostId);
    await assertFitsWidth(listener, 'the room page at phone width');
    await sleep(300);
    await listener.evaluate(() => { for (const t of document.querySelectorAll('.toast')) t.remove(); window.scrollTo(0, 0); });
    await listener.screenshot({ path: path.join(RESULTS_DIR, 'rooms-room-phone.png'), fullPage: true });
    await listener.click('#leave-room');
    await waitFor(listener, 'the listener back in the lobby', () => !!document.getElementById('live-title'));
    await sleep(500);
    await listener.screenshot({ path: path.join(RESULTS_DIR, 'rooms-lobby-phone.png') });

    // --- The host removes Leo (a speaker carried in Zoe's audio slot): his media stops for everyone.
    const zoeSlot = await waitFor(zoe, 'Leo in one of Zoe’s audio slots', (id) => document.querySelector(`#room-audio audio[data-source-id="${id}"]`)?.dataset.mid, leoId);
    await host.click(`${tileSel(leoId)} .tile-body`);
    await host.click('dialog [data-action="kick"]');
    await host.click('#confirm-kick');
    await waitFor(leo, 'Leo sent back to the lobby with a message', () => !!document.getElementById('live-title') && /removed you/i.test(document.getElementById('toasts').innerText));
    assert.equal(await leo.evaluate(() => window.podiumApp.room), null, 'no room page any more');
    for (const page of [zoe, host]) {
      await waitFor(page, 'Leo’s tile to disappear', (id) => !document.querySelector(`#stage .tile[data-user-id="${id}"]`), leoId);
    }
    await waitFor(zoe, 'Zoe’s slot carrying Leo to be emptied (vad without sourceId)', ([id, mid]) => {
      const view = window.podiumApp.room?.media?.view;
      return view && view.slots.get(mid) === undefined && !document.querySelector(`#room-audio audio[data-source-id="${id}"]`);
    }, [leoId, zoeSlot]);
    for (const page of [zoe, host]) {
      await waitFor(page, 'Leo’s source to be inactive', (id) => {
        const view = window.podiumApp.room?.media?.view;
        return view && !view.activeSources.has(id) && ![...view.slots.values()].includes(id);
      }, leoId);
    }

    // --- Lobby screenshot (Leo is back in Live now with three rooms live).
    await leo.evaluate(() => { for (const t of document.querySelectorAll('.toast')) t.remove(); document.activeElement?.blur(); });
    await waitFor(leo, 'five rooms in Live now', () => document.querySelectorAll('#room-list .room-card').length === 5);
    await sleep(300);
    const lobbyHeight = await leo.evaluate(() => Math.ceil(document.querySelector('.lobby-foot').getBoundingClientRect().bottom + window.scrollY + 28));
    await leo.screenshot({ path: path.join(RESULTS_DIR, 'rooms-lobby.png'), clip: { x: 0, y: 0, width: 1280, height: Math.min(lobbyHeight, 860) } });

    // --- The host leaves: ownership passes to Zoe, visible everywhere.
    await host.click('#leave-room');
    await host.click('#confirm-leave');
    await waitFor(host, 'the host back in the lobby', () => !!document.getElementById('live-title'));
    await waitFor(zoe, 'Zoe as the new owner', () => document.querySelector('.room')?.dataset.role === 'owner'
      && /Zoe Adams \(you\)/.test(document.getElementById('room-owner')?.textContent ?? '')
      && !document.getElementById('hands-panel').hidden);
    await waitFor(zoe, 'the hand-over toast', () => /you are the host/i.test(document.getElementById('toasts').innerText));
    for (const page of [host, leo]) {
      await waitFor(page, 'Zoe as host on the Live now card', (id) => document.querySelector(`#room-list [data-room-id="${id}"] .card-owner`)?.textContent === 'Zoe Adams', roomId);
    }
    // Zoe, host of a video room now, views without a pin and shows her camera.
    await waitFor(zoe, 'Zoe’s camera on stage', (id) => document.querySelector(`#stage .tile[data-user-id="${id}"] video`)?.videoWidth > 0, zoeId);
    const view = await zoe.evaluate(() => ({ pinned: window.podiumApp.room.media.viewSpec }));
    assert.equal(view.pinned.ownerId, zoeId, 'the view was re-pinned to the new owner (herself: no pin)');
  }).catch(async (err) => {
    const logs = pages.map((p) => `--- ${p.label} console (tail) ---\n${(p.consoleLog ?? []).slice(-15).join('\n')}`).join('\n');
    err.message += `\n${logs}`;
    for (const p of pages) await p.screenshot({ path: path.join(RESULTS_DIR, `rooms-failure-${p.label}.png`) }).catch(() => {});
    throw err;
  });
  await Promise.all(pages.map((p) => p.close()));
  for (const b of bots) b.socket.disconnect();
});
