// Blocks in headless Chromium (issue 16): Ann hosts a room and Bob listens. Ann blocks Bob
// from his member sheet: Bob is taken out of the room at once (told he was removed) and
// cannot come back by its link while the block stands. Once Ann unblocks him, he can join
// again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPage, useServerAndBrowser, withDiagnostics } from './helpers.js';
import { apiInPage, signUpInPage as signUp, waitFor } from './rooms-helpers.js';

const env = useServerAndBrowser();

test('a host’s block takes the blocked listener out of the room and keeps them out until unblocked', { timeout: 90_000 }, async () => {
  const ann = await openPage(env.browser, env.server, 'ann', { path: '/' });
  await ann.setViewportSize({ width: 1280, height: 860 });
  // Bob on another origin: his own cookie.
  const bobUrl = env.server.url.replace('127.0.0.1', 'localhost');
  const bob = await env.browser.context.newPage();
  bob.label = 'bob';
  bob.consoleLog = [];
  await bob.setViewportSize({ width: 1280, height: 860 });
  try {
    await withDiagnostics([ann, bob], env.server, async () => {
      await signUp(ann, env.server.url, 'Ann Blocks');
      const b = await signUp(bob, bobUrl, 'Bob Blocked');
      await ann.click('#create-room');
      await ann.fill('#room-name', 'No Bob here');
      await ann.click('#create-room-submit');
      const roomId = await waitFor(ann, 'the room page as owner', () => document.querySelector('.room')?.dataset.role === 'owner' && document.querySelector('.room').dataset.roomId);
      const link = `${bobUrl}/#/room/${roomId}`;
      await bob.goto(link);
      const person = `#audience .person[data-user-id="${b.user}"]`;
      await waitFor(ann, 'Bob in the audience', (sel) => !!document.querySelector(sel), person);

      await ann.click(`${person} .person-body`);
      await ann.click('#sheet-block');
      await waitFor(bob, 'Bob told he was removed', () => [...document.querySelectorAll('.toast')].some((t) => /removed you/.test(t.textContent)));
      await waitFor(bob, 'Bob out of the room', () => !document.querySelector('.room'));
      await waitFor(ann, 'Bob gone from the audience', (sel) => !document.querySelector(sel), person);
      const room = await ann.evaluate((id) => window.podiumApp.store.room(id), roomId);
      assert.deepEqual(room.participants.map((p) => p.username), ['Ann Blocks']);

      // The link does not take him back.
      await bob.goto(`${bobUrl}/#/`);
      await bob.waitForSelector('#live-title');
      await bob.goto(link);
      await waitFor(bob, 'Bob refused', () => [...document.querySelectorAll('.toast')].some((t) => /does not allow you/.test(t.textContent)));
      await bob.waitForSelector('#live-title');
      const after = await ann.evaluate((id) => window.podiumApp.store.room(id), roomId);
      assert.deepEqual(after.participants.map((p) => p.username), ['Ann Blocks'], 'he did not get in');

      // Unblocked (Ann stays in her room: leaving it would end it), he may come in again.
      const [status] = await apiInPage(ann, 'DELETE', `/api/users/${b.account}/block`);
      assert.equal(status, 200);
      await bob.goto(`${bobUrl}/#/`);
      await bob.waitForSelector('#live-title');
      await bob.goto(link);
      await waitFor(bob, 'Bob in the room again', (id) => document.querySelector('.room')?.dataset.roomId === id && document.querySelector('.room').dataset.role === 'listener', roomId);
    });
  } finally {
    await Promise.all([ann.close(), bob.close()]);
  }
});
