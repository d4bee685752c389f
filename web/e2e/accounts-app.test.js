// The rooms app with accounts, in headless Chromium (issue 16): create an account from the
// sign-in page, a reload keeps you signed in (the session cookie), a follower's page tells
// them when the person they follow opens a room and takes them there, a wrong password is
// refused without saying whether the name exists, and signing out ends the session.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useServerAndBrowser, openPage, withDiagnostics } from './helpers.js';
import { botUser, waitFor } from './rooms-helpers.js';

const sockets = [];
const env = useServerAndBrowser({ teardown: () => { for (const s of sockets) s.disconnect(); } });
const PASSWORD = 'violet-kettle-41-drums';

/** Fills the account form on `page` and presses `button` (`#account-signin` or `#account-signup`). */
async function accountForm(page, username, password, button) {
  await page.fill('#account-username', username);
  await page.fill('#account-password', password);
  await page.click(button);
}

async function inLobbyAs(page, name) {
  await page.waitForSelector('#live-title', { timeout: 15_000 });
  await waitFor(page, `signed in as ${name}`, (n) => document.getElementById('me-name')?.textContent === n, name);
}

test('sign up, stay signed in across a reload, hear that someone you follow is live', { timeout: 90_000 }, async () => {
  const host = await openPage(env.browser, env.server, 'host', { path: '/' });
  // A second browser context would share cookies in this persistent context: the fan signs in
  // on the other loopback name, a different site for cookies.
  const fanUrl = env.server.url.replace('127.0.0.1', 'localhost');
  const fan = await env.browser.context.newPage();
  await withDiagnostics([host, fan], env.server, async () => {
    await accountForm(host, 'Ada Host', PASSWORD, '#account-signup');
    await inLobbyAs(host, 'Ada Host');
    const hostId = await host.evaluate(() => window.podiumApp.account.account.id);

    await fan.goto(`${fanUrl}/`);
    await accountForm(fan, 'ada host', PASSWORD + 'x', '#account-signin');
    const wrong = await waitFor(fan, 'the sign-in error', () => {
      const el = document.getElementById('account-error');
      return el && !el.hidden && el.textContent;
    });
    assert.equal(wrong, 'Wrong username or password');
    await accountForm(fan, 'Ben Fan', PASSWORD, '#account-signup');
    await inLobbyAs(fan, 'Ben Fan');
    const followed = await fan.evaluate(async (id) => {
      const r = await fetch(`/api/users/${id}/follow`, { method: 'POST', headers: { 'x-csrf-token': window.podiumApp.account.csrf } });
      return r.status;
    }, hostId);
    assert.equal(followed, 200);

    // A reload keeps the account (the cookie), not just the tab's name.
    await fan.reload();
    await inLobbyAs(fan, 'Ben Fan');

    // A busier room of strangers: activity alone would list it first.
    const bots = [];
    for (const name of ['Gia', 'Gio', 'Guy']) bots.push(await botUser(env.server, sockets, name));
    const busy = await bots[0].call('create-room', 'Strangers chat', true);
    for (const bot of bots.slice(1)) await bot.call('join-room', busy);

    await host.click('#create-room');
    await host.fill('#room-name', 'Ada opens up');
    await host.click('#create-room-submit');
    const roomId = await waitFor(host, 'the room page as owner', () => document.querySelector('.room')?.dataset.role === 'owner' && document.querySelector('.room').dataset.roomId);
    const toastText = await waitFor(fan, 'the followed-live notice', () => document.querySelector('[data-toast-id^="followed-"]')?.textContent);
    assert.match(toastText, /Ada Host is on stage in “Ada opens up”/);
    // Live now puts the room of someone the fan follows first, marked, and search filters.
    const order = await waitFor(fan, 'the followed room first in Live now', (id) => {
      const cards = [...document.querySelectorAll('#room-list .room-card')];
      return cards[0]?.dataset.roomId === id && cards[0].dataset.followed === 'true' && cards.length === 2
        && cards.map((c) => c.dataset.roomId);
    }, roomId);
    assert.deepEqual(order, [roomId, busy]);
    await fan.fill('#live-search', 'strangers');
    await waitFor(fan, 'only the matching room', (id) => {
      const cards = [...document.querySelectorAll('#room-list .room-card')];
      return cards.length === 1 && cards[0].dataset.roomId === id;
    }, busy);
    await fan.fill('#live-search', 'nothing like this');
    await waitFor(fan, 'the no-match message', () => !document.getElementById('live-no-match').hidden);
    await fan.fill('#live-search', '');
    await waitFor(fan, 'both rooms again', () => document.querySelectorAll('#room-list .room-card').length === 2);
    await fan.click('[data-toast-id^="followed-"] .btn-primary');
    await waitFor(fan, 'the fan in the room', (id) => document.querySelector('.room')?.dataset.roomId === id, roomId);

    // Signing out ends the session: a reload shows the sign-in page.
    await fan.evaluate(() => window.podiumApp.goLobby());
    await fan.click('#sign-out');
    await fan.waitForSelector('#account-form');
    await fan.reload();
    await fan.waitForSelector('#account-form');
    const me = await fan.evaluate(async () => (await fetch('/api/account/me')).status);
    assert.equal(me, 401);
  });
  await Promise.all([host.close(), fan.close()]);
});
