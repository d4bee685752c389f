// Scheduled rooms in headless Chromium (issue 16): Ava schedules a room from the lobby; Ben,
// who follows her, sees it under Upcoming and asks to be reminded; when a room she scheduled
// starts, Ben's app tells him; Ava opens her scheduled room with one click. Bad schedules
// are refused with a clear message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  openPage, RESULTS_DIR, useServerAndBrowser, withDiagnostics,
} from './helpers.js';
import { apiInPage as call, signUpInPage, waitFor } from './rooms-helpers.js';

const signUp = async (page, url, name) => (await signUpInPage(page, url, name)).account;

const env = useServerAndBrowser();

test('schedule, see it under Upcoming, be reminded, open it with one click', { timeout: 90_000 }, async () => {
  const ava = await openPage(env.browser, env.server, 'ava', { path: '/' });
  const ben = await env.browser.context.newPage();
  ben.label = 'ben';
  try {
    await withDiagnostics([ava, ben], env.server, async () => {
      const avaId = await signUp(ava, env.server.url, 'Ava Planner');
      await signUp(ben, env.server.url.replace('127.0.0.1', 'localhost'), 'Ben Early');
      assert.equal((await call(ben, 'POST', `/api/users/${avaId}/follow`))[0], 200);

      // Ava schedules a room in the dialog (its default time is the next full hour).
      await ava.click('#schedule-room');
      await ava.fill('#schedule-title', 'Design crit');
      await ava.fill('#schedule-topic', 'Onboarding flows <b>and</b> empty states');
      await ava.click('#schedule-submit');
      await waitFor(ava, 'her own schedule listed', () => document.querySelector('#upcoming-list .upcoming-title')?.textContent === 'Design crit');

      // Bad schedules are refused with a reason.
      const past = await call(ava, 'POST', '/api/schedules', { title: 'Yesterday', startsAt: Math.floor(Date.now() / 1000) - 86_400 });
      assert.deepEqual(past, [400, { message: 'Pick a time in the future' }]);
      const nameless = await call(ava, 'POST', '/api/schedules', { title: ' ', startsAt: Math.floor(Date.now() / 1000) + 600 });
      assert.equal(nameless[0], 400);
      const forged = await ben.evaluate(async () => (await fetch('/api/schedules', {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: 'No CSRF', startsAt: Math.floor(Date.now() / 1000) + 600 }),
      })).status);
      assert.equal(forged, 403, 'a change without the CSRF token is refused');

      // One that starts in a few seconds, to see the reminder arrive.
      const [status, { schedule: soon }] = await call(ava, 'POST', '/api/schedules', { title: 'Quick sync', topic: '', startsAt: Math.floor(Date.now() / 1000) + 6 });
      assert.equal(status, 200);

      // Ben sees both under Upcoming (the topic as text), and asks to be reminded of the soon one.
      await ben.reload();
      await waitFor(ben, 'two upcoming rooms', () => document.querySelectorAll('#upcoming-list .upcoming-item').length === 2);
      const topic = await ben.evaluate(() => [...document.querySelectorAll('.upcoming-topic')].map((t) => [t.textContent, t.children.length]));
      assert.deepEqual(topic, [['Onboarding flows <b>and</b> empty states', 0]]);
      await ben.click(`#upcoming-list [data-schedule-id="${soon.id}"] [data-action="remind"]`);
      await waitFor(ben, 'the reminder set', (id) => document.querySelector(`[data-schedule-id="${id}"] [data-action="remind"]`)?.getAttribute('aria-pressed') === 'true', soon.id);
      const reminder = await waitFor(ben, 'the reminder at the start', (id) => document.querySelector(`[data-toast-id="schedule-${id}"]`)?.textContent, soon.id, { timeout: 25_000 });
      assert.match(reminder, /“Quick sync” by Ava Planner is starting/);

      // Ava starts the crit with one click: the room is live under its title.
      const crit = await ava.evaluate(() => [...document.querySelectorAll('#upcoming-list .upcoming-item')]
        .find((li) => li.querySelector('.upcoming-title')?.textContent === 'Design crit')?.dataset.scheduleId);
      await ava.click(`#upcoming-list [data-schedule-id="${crit}"] [data-action="start"]`);
      const title = await waitFor(ava, 'the room open as host', () => document.querySelector('.room')?.dataset.role === 'owner' && document.getElementById('room-title').textContent);
      assert.equal(title, 'Design crit');
      const [, upcoming] = await call(ben, 'GET', '/api/schedules');
      assert.ok(!upcoming.schedules.some((s) => s.id === crit), 'an opened schedule leaves Upcoming');
      // The lobby as Ben sees it now (the README's screenshot): Upcoming, and Ava's room live.
      await ben.setViewportSize({ width: 1280, height: 860 });
      await waitFor(ben, 'Ava’s room live and marked', () => document.querySelector('#room-list .room-card')?.dataset.followed === 'true');
      await ben.evaluate(() => document.getElementById('toasts').replaceChildren());
      await ben.screenshot({ path: path.join(RESULTS_DIR, 'rooms-lobby-upcoming.png') });
    });
  } finally {
    await Promise.all([ava.close(), ben.close()]).catch(() => {});
  }
});
