// The outer layers in headless Chromium (issue 16), as three people with accounts and a guest
// use them: Ben follows Ava; Ava opens a room and Ben's page tells him, with the room first
// in Live now; Ben joins and Ava invites him to speak, and his microphone stays closed until he
// accepts; Ava makes him a co-host and he brings a guest with a raised hand (and a reason) on
// stage; Cy's chat message with markup arrives as text and his reaction floats over the host's
// tile; Ava removes and bans Cy, who cannot come back; a server restart keeps the accounts and
// the follow.
import path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  adminRequest, launchBrowser, openPage, RESULTS_DIR, startServer, useServerAndBrowser, withDiagnostics,
} from './helpers.js';
import {
  botUser, signUpInPage as signUp, tileSel, waitFor,
} from './rooms-helpers.js';

const sockets = [];
const env = useServerAndBrowser({ teardown: () => { for (const s of sockets) s.disconnect(); } });
/** Markup a careless page would run: it must show as text. */
const HOSTILE = '<img src=x onerror="window.__xss=1"><b>bold?</b> hi';

/** Opens the action sheet for `userId` (their tile on stage, or their line in the audience). */
async function openSheet(page, userId) {
  const sel = `${tileSel(userId)} .tile-body, #audience .person[data-user-id="${userId}"] .person-body`;
  await page.click(sel);
  await page.waitForSelector(`dialog[data-user-id="${userId}"]`);
}

test('follow, consent, co-hosts, chat, reactions, reports, bans and a restart', { timeout: 150_000 }, async () => {
  const ava = await openPage(env.browser, env.server, 'ava', { path: '/' });
  await ava.setViewportSize({ width: 1280, height: 860 });
  // Cookies are per site: Ben uses the other loopback name, Cy a browser of his own.
  const benUrl = env.server.url.replace('127.0.0.1', 'localhost');
  const ben = await env.browser.context.newPage();
  ben.label = 'ben';
  ben.consoleLog = [];
  const second = await launchBrowser();
  const cy = await openPage(second, env.server, 'cy', { path: '/' });
  try {
    await withDiagnostics([ava, ben, cy], env.server, async () => {
      const a = await signUp(ava, env.server.url, 'Ava Host');
      const b = await signUp(ben, benUrl, 'Ben Speaker');
      const c = await signUp(cy, env.server.url, 'Cy Listener');
      const follow = await ben.evaluate(async (id) => (await fetch(`/api/users/${id}/follow`, {
        method: 'POST', headers: { 'x-csrf-token': window.podiumApp.account.csrf },
      })).status, a.account);
      assert.equal(follow, 200);

      // Ava goes live; Ben is told, and her room is first in his Live now.
      await ava.click('#create-room');
      await ava.fill('#room-name', 'Ava takes questions');
      await ava.click('#create-room-submit');
      const roomId = await waitFor(ava, 'the room page as owner', () => document.querySelector('.room')?.dataset.role === 'owner' && document.querySelector('.room').dataset.roomId);
      await waitFor(ben, 'the followed-live notice', () => /Ava Host is on stage/.test(document.querySelector('[data-toast-id^="followed-"]')?.textContent ?? ''));
      await waitFor(ben, 'the room first, marked', (id) => {
        const first = document.querySelector('#room-list .room-card');
        return first?.dataset.roomId === id && first.dataset.followed === 'true';
      }, roomId);
      await ben.click('[data-toast-id^="followed-"] .btn-primary');
      await waitFor(ben, 'Ben in the room', (id) => document.querySelector('.room')?.dataset.roomId === id, roomId);
      await cy.click(`#room-list .room-card[data-room-id="${roomId}"] .room-card-link`);
      await waitFor(cy, 'Cy in the room', (id) => document.querySelector('.room')?.dataset.roomId === id, roomId);
      const dot = await botUser(env.server, sockets, 'Dot');
      await dot.call('join-room', roomId);

      // An invitation asks: no microphone until Ben accepts.
      await waitFor(ava, 'Ben in the audience', (id) => !!document.querySelector(`#audience .person[data-user-id="${id}"]`), b.user);
      await openSheet(ava, b.user);
      await ava.click('[data-action="promote"]');
      await ben.waitForSelector('#invite-dialog');
      const before = await ben.evaluate(() => ({
        publishing: !!window.podiumApp.room.media?.publishSpec,
        onStage: window.podiumApp.store.room(window.podiumApp.room.roomId).speakers.includes(window.podiumApp.store.me.id),
      }));
      assert.deepEqual(before, { publishing: false, onStage: false }, 'asked, not yet on stage');
      await ben.click('#accept-invite');
      await waitFor(ava, 'Ben on stage', (id) => !!document.querySelector(`#stage .tile[data-user-id="${id}"]`), b.user);
      await waitFor(ben, 'Ben publishing', () => !!window.podiumApp.room.media?.publishSpec);

      // Ava makes Ben a co-host; he brings Dot (hand raised, with a reason) on stage.
      await openSheet(ava, b.user);
      await ava.click('[data-action="moderate"]');
      await waitFor(cy, 'the co-host badge', (id) => !!document.querySelector(`#stage .tile[data-user-id="${id}"] [data-badge="co-host"]`), b.user);
      await dot.call('raise-hand', roomId, true, { reason: 'A question about pricing' });
      const reason = await waitFor(ben, 'the hand in Ben’s queue', (id) => document.querySelector(`#hands-queue .hand-row[data-user-id="${id}"] .hand-reason`)?.textContent, dot.user.id);
      assert.equal(reason, '“A question about pricing”');
      await ben.click(`#hands-queue .hand-row[data-user-id="${dot.user.id}"] [data-action="allow"]`);
      await waitFor(cy, 'Dot on stage', (id) => !!document.querySelector(`#stage .tile[data-user-id="${id}"]`), dot.user.id);

      // Chat reaches everyone, as text; a reaction floats over the host's tile.
      await cy.fill('#chat-input', HOSTILE);
      await cy.click('#chat-send');
      for (const page of [ava, ben, cy]) {
        const shown = await waitFor(page, 'the chat message', () => {
          const last = [...document.querySelectorAll('#chat-list .chat-message')].pop();
          return last && { text: last.querySelector('.chat-text').textContent, markup: last.querySelector('.chat-text').children.length };
        });
        assert.deepEqual(shown, { text: HOSTILE, markup: 0 }, `${page.label} shows the text, not markup`);
      }
      const seenByDot = await dot.waitEvent('chat-message');
      assert.equal(seenByDot.args[1].text, HOSTILE);
      assert.equal(await ava.evaluate(() => window.__xss ?? null), null, 'nothing ran');
      await cy.click('#reaction-bar [data-emoji="👏"]');
      for (const page of [ava, ben]) {
        await waitFor(page, 'the reaction over a speaker', () => !!document.querySelector('#stage .tile .reaction-float[data-emoji="👏"]'));
      }
      // The room with its chat, as the host sees it (the README's screenshot).
      await ava.evaluate(() => window.podiumApp.call('send-message', window.podiumApp.room.roomId, 'Welcome everyone! Questions go in the queue.'));
      await waitFor(ava, 'the host’s message', () => document.querySelectorAll('#chat-list .chat-message').length === 2);
      await ava.evaluate(() => document.getElementById('toasts').replaceChildren());
      await ava.screenshot({ path: path.join(RESULTS_DIR, 'rooms-room-chat.png') });
      // Too fast is refused cleanly (the server's pace: a burst of 5, then one a second).
      const refused = await ben.evaluate(async (id) => {
        const errors = [];
        for (let i = 0; i < 7; i++) {
          await window.podiumApp.call('send-message', id, `quick ${i}`).catch((err) => errors.push(err.message));
        }
        return errors;
      }, roomId);
      assert.ok(refused.length >= 1 && refused.every((m) => m === 'You are sending too fast; wait a moment'), JSON.stringify(refused));

      // Ben reports Cy to the operator, who finds it in the admin API.
      await openSheet(ben, c.user);
      await ben.click('[data-action="report"]');
      await ben.selectOption('#report-reason', 'spam');
      await ben.fill('#report-details', 'Posts markup in the chat');
      await ben.click('#report-submit');
      await waitFor(ben, 'the report thanked', () => !!document.querySelector('[data-toast-id="report"]'));
      const { status, body } = await adminRequest(env.server, 'GET', '/api/admin/reports');
      assert.equal(status, 200);
      const [report] = body.data.reports;
      assert.deepEqual(
        [report.kind, report.target, report.targetName, report.roomId, report.reason, report.details, report.reporterName],
        ['user', c.account, 'Cy Listener', roomId, 'spam', 'Posts markup in the chat', 'Ben Speaker'],
      );

      // The operator resolves it over HTTP: it leaves the open list, stays in the full one.
      const resolved = await adminRequest(env.server, 'POST', `/api/admin/reports/${report.id}/resolve`);
      assert.equal(resolved.status, 200);
      assert.equal((await adminRequest(env.server, 'GET', '/api/admin/reports')).body.data.reports.length, 0);
      const all = (await adminRequest(env.server, 'GET', '/api/admin/reports?all=true')).body.data.reports;
      assert.ok(all.length === 1 && all[0].resolvedAt > 0, JSON.stringify(all));
      assert.equal((await adminRequest(env.server, 'POST', '/api/admin/reports/999/resolve')).status, 404);

      // Ava deletes Cy's message with its button (gone for everyone) and turns his chat off.
      const cyMessage = `#chat-list .chat-message[data-user-id="${c.user}"]`;
      assert.equal(await ben.$eval(`${cyMessage} .chat-delete`, (el) => el.hidden), false, 'a co-host may delete it');
      assert.equal(await ava.$eval(`#chat-list .chat-message:not([data-user-id="${c.user}"]) .chat-delete`, (el) => el.hidden), false);
      await ava.click(`${cyMessage} .chat-delete`);
      for (const page of [ava, ben, cy]) {
        await waitFor(page, 'Cy’s message gone', (sel) => !document.querySelector(sel), cyMessage);
      }
      await openSheet(ava, c.user);
      await ava.click('[data-action="mute-chat"]');
      await waitFor(cy, 'Cy told his messages are off', () => !document.getElementById('chat-muted-notice').hidden && document.getElementById('chat-input').disabled);
      const muted = await cy.evaluate((id) => window.podiumApp.call('send-message', id, 'still here?').then(() => 'sent', (err) => err.message), roomId);
      assert.notEqual(muted, 'sent', 'a muted member cannot send');

      // Ava removes and bans Cy: he is sent out and cannot come back, even after a reload.
      await openSheet(ava, c.user);
      await ava.click('[data-action="kick"]');
      await ava.click('#confirm-ban');
      await waitFor(cy, 'Cy back in the lobby, told why', () => !document.querySelector('.room') && /removed you/.test(document.getElementById('toasts')?.textContent ?? ''));
      await cy.reload();
      await cy.waitForSelector('#live-title', { timeout: 15_000 });
      const again = await cy.evaluate((id) => window.podiumApp.call('join-room', id).then(() => 'joined', (err) => err.message), roomId);
      assert.equal(again, 'The host removed you from this room, so you cannot join it again');
    });

    // A restart keeps the accounts and the follow: Ben is still signed in, still following.
    const { httpPort, dataDir } = env.server;
    await env.server.stop({ keepData: true });
    env.server = await startServer({ httpPort, dataDir });
    await ben.reload();
    await ben.waitForSelector('#live-title', { timeout: 20_000 });
    const me = await ben.evaluate(async () => (await fetch('/api/account/me')).json());
    assert.equal(me.data.account.username, 'Ben Speaker');
    assert.equal(me.data.following, 1);
  } finally {
    await Promise.all([ava.close(), ben.close(), cy.close()]).catch(() => {});
    await second.close();
  }
});
