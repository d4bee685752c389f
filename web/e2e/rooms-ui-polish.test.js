// The rooms app's rough edges (issue 11, items 5, 9 and 10), in headless Chromium against a real
// `podium serve`:
//   * a malformed room link (#/room/%E0%A4%A) or an unknown hash shows the lobby, with a toast
//     for the bad link, and no uncaught error;
//   * every way out of a room page (logo, Sign out, Back, closing the tab) asks the host first:
//     app.js's side against a stubbed room page, then the real confirmation dialog of the room
//     page (`needsExitConfirm()` / `confirmExit(onConfirmed)` of app-room.js, dialog with
//     `#confirm-leave` and a "Stay" button);
//   * contrast: every visible text of the sign-in page, the lobby, the host's room page (with
//     raised-hand toasts) and the action sheet is ≥ 4.5:1 (≥ 3:1 for large text), light and dark;
//   * phone width: raised-hand toasts are compact (at most two, a small part of the screen),
//     names wrap between words and nothing scrolls sideways; desktop: the raised-hands queue is
//     beside a stage that uses the width.
// Screenshots of the host's room with raised hands pending, at 390×844 and 1440×900 in light
// and dark, go to web/test-results/rooms-polish-*.png.
//
// Run (from web/): PODIUM_E2E_WEB_DIR=1 node --test e2e/rooms-ui-polish.test.js
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import {
  useServerAndBrowser, openPage, withDiagnostics, RESULTS_DIR, sleep,
} from './helpers.js';
import {
  botUser as botUserOf, signIn as signInTo, waitFor, assertFitsWidth,
} from './rooms-helpers.js';

const sockets = [];

const env = useServerAndBrowser({
  setup: () => mkdir(RESULTS_DIR, { recursive: true }),
  teardown: () => { for (const s of sockets) s.disconnect(); },
});

const botUser = (name) => botUserOf(env.server, sockets, name);
const signIn = (page, name, size) => signInTo(env.server, page, name, size);

/** Starts a room from the lobby's dialog; resolves with its id once the page shows me as its owner. */
async function startRoom(page, name, { video = false } = {}) {
  await page.click('#create-room');
  await page.fill('#room-name', name);
  if (video) await page.click('#create-room-form label.choice:has(input[value="video"])');
  await page.click('#create-room-submit');
  return waitFor(page, `the room page of "${name}" as owner`, () => {
    const room = document.querySelector('.room');
    return room?.dataset.role === 'owner' && window.podiumApp.room?.joined && room.dataset.roomId;
  });
}

/** Records uncaught page errors (`pageerror`) of `page` into the returned array. */
function pageErrors(page) {
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  return errors;
}

const toastText = (page) => page.evaluate(() => document.getElementById('toasts').innerText);

test('a malformed room link or an unknown hash shows the lobby, with a clear toast and no uncaught error', { timeout: 60_000 }, async () => {
  const page = await openPage(env.browser, env.server, 'links', { path: '/' });
  const errors = pageErrors(page);
  await withDiagnostics([], env.server, async () => {
    // A display name as people type it: an apostrophe, an accent, an emoji with a skin tone.
    await signIn(page, "Sinéad O'Brien 👩🏽‍💻");
    assert.equal(await page.textContent('#me-name'), "Sinéad O'Brien 👩🏽‍💻");

    // Followed while signed in (a hash change).
    await page.goto(`${env.server.url}/#/room/%E0%A4%A`);
    await waitFor(page, 'the invalid-link toast', () => /That room link is not valid/.test(document.getElementById('toasts').innerText));
    await waitFor(page, 'the lobby at #/', () => !!document.getElementById('live-title') && !document.querySelector('.room') && location.hash === '#/');

    // Opened as a page (a reload signs back in from the tab's session, then routes).
    await page.evaluate(() => { for (const t of document.querySelectorAll('.toast')) t.remove(); });
    await page.goto(`${env.server.url}/?load=1#/room/%E0%A4%A`);
    await waitFor(page, 'the lobby after loading a bad room link', () => !!document.getElementById('live-title') && location.hash === '#/', null, { timeout: 30_000 });
    assert.match(await toastText(page), /That room link is not valid/);

    // Unknown hash paths: the lobby, quietly.
    await page.evaluate(() => { for (const t of document.querySelectorAll('.toast')) t.remove(); });
    await page.goto(`${env.server.url}/#/whatever/else`);
    await waitFor(page, 'the lobby for an unknown hash', () => !!document.getElementById('live-title') && location.hash === '#/');
    assert.doesNotMatch(await toastText(page), /not valid/, 'an unknown path is not an error');

    // Signed out: the bad link waits for the sign-in form without breaking it.
    const fresh = await openPage(env.browser, env.server, 'links-fresh', { path: '/#/room/%E0%A4%A' });
    const freshErrors = pageErrors(fresh);
    await waitFor(fresh, 'the sign-in form', () => !!document.getElementById('signin-form'));
    assert.match(await toastText(fresh), /That room link is not valid/);
    await fresh.close();
    assert.deepEqual(freshErrors, [], 'no uncaught errors (signed out)');
    assert.deepEqual(errors, [], 'no uncaught errors');
  });
  await page.close();
});

test('app.js asks the room page before the logo, Sign out, Back and closing the tab take the host out', { timeout: 90_000 }, async () => {
  const page = await openPage(env.browser, env.server, 'exits', { path: '/' });
  const errors = pageErrors(page);
  // The room page's side of the contract, stubbed: needsExitConfirm() is true, confirmExit()
  // records the question and keeps `onConfirmed` for the test to call.
  const stub = () => page.evaluate(() => {
    const room = window.podiumApp.room;
    window.__exit = { asked: 0, onConfirmed: null, room, section: document.querySelector('.room') };
    room.needsExitConfirm = () => !room.left;
    room.confirmExit = (onConfirmed) => { window.__exit.asked += 1; window.__exit.onConfirmed = onConfirmed; };
  });
  const state = () => page.evaluate(() => ({
    asked: window.__exit.asked,
    sameRoomPage: window.podiumApp.room === window.__exit.room && document.querySelector('.room') === window.__exit.section,
    inRoom: !!document.querySelector('.room') && !window.podiumApp.room?.left,
    hash: location.hash,
    signedIn: !!document.getElementById('me-name'),
  }));
  await withDiagnostics([], env.server, async () => {
    await signIn(page, 'Careful Host');
    const roomId = await startRoom(page, 'Stay or go');
    const roomHash = `#/room/${encodeURIComponent(roomId)}`;
    await stub();

    await page.click('.topbar .brand');
    assert.deepEqual(await state(), { asked: 1, sameRoomPage: true, inRoom: true, hash: roomHash, signedIn: true }, 'the logo asks first');
    await page.click('#sign-out');
    assert.deepEqual(await state(), { asked: 2, sameRoomPage: true, inRoom: true, hash: roomHash, signedIn: true }, 'Sign out asks first');
    const unload = await page.evaluate(() => {
      const e = new Event('beforeunload', { cancelable: true });
      window.dispatchEvent(e);
      return e.defaultPrevented;
    });
    assert.equal(unload, true, 'closing or reloading the tab asks (beforeunload)');

    // Back: the room's address comes back and the same page stays (not re-entered), then asks.
    await page.goBack();
    await waitFor(page, 'the question after Back', () => window.__exit.asked === 3);
    await sleep(200);
    assert.deepEqual(await state(), { asked: 3, sameRoomPage: true, inRoom: true, hash: roomHash, signedIn: true }, 'Back asks first and keeps the room page');
    // Back again while the question is open: still in the room.
    await page.evaluate(() => document.body.append(Object.assign(document.createElement('dialog'), { id: 'fake-question', innerHTML: '<button id="confirm-leave">Leave</button>' })));
    await page.evaluate(() => document.getElementById('fake-question').show());
    await page.goBack();
    await sleep(300);
    assert.deepEqual(await state(), { asked: 3, sameRoomPage: true, inRoom: true, hash: roomHash, signedIn: true }, 'one question at a time');
    await page.evaluate(() => document.getElementById('fake-question').remove());

    // The host confirms: Back goes on to the lobby and the room is left (it ends: nobody else on stage).
    await page.evaluate(() => window.__exit.onConfirmed());
    await waitFor(page, 'the lobby after confirming Back', () => !!document.getElementById('live-title') && !window.podiumApp.room && location.hash === '#/');
    await waitFor(page, 'the room to end', (id) => !window.podiumApp.store.room(id), roomId);
    assert.equal(await page.evaluate(() => window.podiumApp.store.me?.username), 'Careful Host');

    // The logo, confirmed.
    await startRoom(page, 'Logo exit');
    await stub();
    await page.click('.topbar .brand');
    assert.equal((await state()).asked, 1);
    await page.evaluate(() => window.__exit.onConfirmed());
    await waitFor(page, 'the lobby after confirming the logo', () => !!document.getElementById('live-title') && !window.podiumApp.room && location.hash === '#/');

    // Sign out, confirmed.
    await startRoom(page, 'Sign-out exit');
    await stub();
    await page.click('#sign-out');
    assert.equal((await state()).asked, 1);
    await page.evaluate(() => window.__exit.onConfirmed());
    await waitFor(page, 'the sign-in form after confirming Sign out', () => !!document.getElementById('signin-form') && !window.podiumApp.room);

    // Nothing to confirm (a listener, or before the room page says so): the logo just leaves.
    await signIn(page, 'Careful Again');
    await startRoom(page, 'No question');
    await page.evaluate(() => { window.podiumApp.room.needsExitConfirm = () => false; });
    await page.click('.topbar .brand');
    await waitFor(page, 'the lobby straight away', () => !!document.getElementById('live-title') && !window.podiumApp.room);
    assert.deepEqual(errors, [], 'no uncaught errors');
  });
  await page.close();
});

/**
 * In-page: the contrast of every visible text (its colour over the composited backgrounds of
 * its ancestors). Returns `{checked, failures, bySelector}`; `bySelector` has the lowest ratio
 * of the texts inside each of `selectors`.
 */
function auditContrast(selectors) {
  const parse = (str) => {
    let m = /^rgba?\(([^)]+)\)$/.exec(str);
    if (m) {
      const p = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
      return [p[0], p[1], p[2], p[3] ?? 1];
    }
    m = /^color\(srgb ([^)]+)\)$/.exec(str);
    if (m) {
      const p = m[1].split(/[\s/]+/).filter(Boolean).map(Number);
      return [p[0] * 255, p[1] * 255, p[2] * 255, p[3] ?? 1];
    }
    return null;
  };
  const over = (top, below) => {
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + below[i] * (1 - a)).concat(1);
  };
  const lum = (c) => {
    const l = c.slice(0, 3).map((v) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2];
  };
  const ratio = (a, b) => {
    const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const name = (el) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${[...el.classList].map((c) => `.${c}`).join('')}`;
  const failures = [];
  const bySelector = Object.fromEntries(selectors.map((s) => [s, null]));
  let checked = 0;
  for (const el of document.querySelectorAll('body *')) {
    const text = [...el.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.textContent).join('').trim();
    if (!text || ['SCRIPT', 'STYLE', 'NOSCRIPT', 'OPTION'].includes(el.tagName)) continue;
    if (el.closest('[hidden], :disabled, .sr-only, .toast.leaving')) continue;
    const style = getComputedStyle(el);
    const rect = el.getBoundingClientRect();
    if (style.visibility !== 'visible' || rect.width <= 1 || rect.height <= 1 || !el.checkVisibility({ opacityProperty: true })) continue;
    // Backgrounds from the root down to the element, composited.
    const chain = [];
    let opacity = 1;
    for (let a = el; a; a = a.parentElement) {
      chain.push(a);
      opacity *= Number(getComputedStyle(a).opacity);
    }
    if (opacity < 0.99) continue; // fading in or out
    let bg = [255, 255, 255, 1];
    for (const a of chain.reverse()) {
      const c = parse(getComputedStyle(a).backgroundColor);
      if (c && c[3] > 0) bg = over(c, bg);
    }
    const fg = parse(style.color);
    if (!fg) continue;
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    const need = large ? 3 : 4.5;
    const r = ratio(over(fg, bg), bg);
    checked += 1;
    const entry = { el: name(el), text: text.slice(0, 40), ratio: Math.round(r * 100) / 100, need, color: style.color, background: bg.slice(0, 3).map(Math.round).join(',') };
    if (r < need - 0.005) failures.push(entry);
    for (const s of selectors) {
      if (el.closest(s) && (!bySelector[s] || r < bySelector[s].ratio)) bySelector[s] = entry;
    }
  }
  return { checked, failures, bySelector };
}

test('phone and desktop: compact raised-hand toasts, names, the stage and the hands queue, contrast in light and dark; screenshots', { timeout: 240_000 }, async () => {
  const host = await openPage(env.browser, env.server, 'polish-host', { path: '/' });
  const errors = pageErrors(host);
  const bots = {};
  for (const name of ['Leo Park', 'Alexandra Nguyen', 'Priya Nair', 'Tomás Ruiz', 'Christopher Lee', 'Wolfeschlegelsteinhausenberger', 'Sam Rivera', 'Mei Lin']) {
    bots[name] = await botUser(name);
  }
  const hands = ['Priya Nair', 'Christopher Lee', 'Wolfeschlegelsteinhausenberger'].map((n) => bots[n]);
  const figures = [];
  await withDiagnostics([], env.server, async () => {
    // The sign-in page and the lobby first (a room is live, so the lobby has a card).
    const other = await bots['Mei Lin'].call('create-room', 'Morning coffee ☕ open mic', true);
    await bots['Sam Rivera'].call('join-room', other);
    for (const scheme of ['light', 'dark']) {
      await host.emulateMedia({ colorScheme: scheme });
      await host.goto(`${env.server.url}/`);
      await host.waitForSelector('#signin-form');
      await sleep(250);
      const signin = await host.evaluate(auditContrast, ['.btn-primary', '.field-hint', '.signin-lead', '.label']);
      figures.push({ scheme, page: 'sign-in', ...signin });
    }
    await host.emulateMedia({ colorScheme: 'light' });
    const hostId = await signIn(host, 'Maya Chen', { width: 1440, height: 900 });
    await waitFor(host, 'the other room in Live now', (id) => !!document.querySelector(`#room-list [data-room-id="${id}"]`), other);
    for (const scheme of ['light', 'dark']) {
      await host.emulateMedia({ colorScheme: scheme });
      await sleep(250);
      const lobby = await host.evaluate(auditContrast, ['.btn-primary', '.lead', '.pill-live', '.pill-kind', '.card-names', '.card-foot', '.lobby-foot']);
      figures.push({ scheme, page: 'lobby', ...lobby });
    }
    await host.emulateMedia({ colorScheme: 'light' });

    // The host's video room: two speakers on stage, an audience, three raised hands.
    const roomId = await startRoom(host, 'Design review: onboarding', { video: true });
    for (const bot of Object.values(bots)) if (bot.name !== 'Mei Lin' && bot.name !== 'Sam Rivera') await bot.call('join-room', roomId);
    await bots['Sam Rivera'].call('leave-room', other);
    await bots['Sam Rivera'].call('join-room', roomId);
    for (const name of ['Leo Park', 'Alexandra Nguyen']) {
      await host.evaluate(([id, user]) => window.podiumApp.call('promote-user', id, user, true), [roomId, bots[name].id]);
    }
    await waitFor(host, 'two speakers and the host on stage', () => document.querySelectorAll('#stage .tile').length === 3);
    await waitFor(host, 'the media to be live', () => document.getElementById('room-status')?.dataset.status === 'live', null, { timeout: 30_000 });
    await waitFor(host, 'the camera preview', (id) => document.querySelector(`#stage .tile[data-user-id="${id}"] video`)?.videoWidth > 0, hostId);

    /** Three raised hands, raised again now: their toasts are fresh (they last 10 s). */
    const raiseHands = async () => {
      await host.evaluate(() => { for (const t of document.querySelectorAll('.toast')) t.remove(); });
      for (const bot of hands) await bot.call('raise-hand', roomId, false).catch(() => {});
      for (const bot of hands) await bot.call('raise-hand', roomId, true);
      await waitFor(host, 'three raised-hand toasts and three hands in the queue', () => document.querySelectorAll('.toast[data-toast-id^="hand-"]').length === 3
        && document.querySelectorAll('#hands-queue .hand-row').length === 3);
      await host.evaluate(() => { document.activeElement?.blur(); window.scrollTo(0, 0); });
      await host.mouse.move(0, 0);
      await sleep(400);
    };

    for (const scheme of ['light', 'dark']) {
      await host.emulateMedia({ colorScheme: scheme });

      // --- Phone.
      await host.setViewportSize({ width: 390, height: 844 });
      await raiseHands();
      await assertFitsWidth(host, `the host's room at 390 px (${scheme})`);
      const phone = await host.evaluate(() => {
        const visible = [...document.querySelectorAll('.toast')].filter((t) => t.checkVisibility());
        const top = Math.min(...visible.map((t) => t.getBoundingClientRect().top));
        const bottom = Math.max(...visible.map((t) => t.getBoundingClientRect().bottom));
        return {
          visible: visible.length,
          compact: visible.every((t) => t.classList.contains('toast-compact')),
          share: (bottom - top) / window.innerHeight,
          handsButton: !!document.getElementById('hands-button')?.checkVisibility({ visibilityProperty: true }),
        };
      });
      assert.equal(phone.compact, true, 'raised-hand toasts are compact');
      assert.ok(phone.visible >= 1 && phone.visible <= 2, `at most two raised-hand toasts show on a phone (${phone.visible})`);
      assert.ok(phone.share <= 0.2, `the toasts cover at most a fifth of the phone screen (${(phone.share * 100).toFixed(1)} %)`);
      assert.ok(phone.handsButton, 'the raised-hands button is in the bar on phones');
      // Names wrap between words: no word of these names is split over two lines.
      const split = await host.evaluate(() => {
        const out = [];
        for (const el of document.querySelectorAll('#stage .tile-name .name-text, #audience .person-name, #hands-queue .hand-name')) {
          const node = el.firstChild;
          if (!node || node.nodeType !== Node.TEXT_NODE || /Wolfe/.test(node.textContent)) continue;
          const re = /\S+/g;
          for (let m = re.exec(node.textContent); m; m = re.exec(node.textContent)) {
            const range = document.createRange();
            range.setStart(node, m.index);
            range.setEnd(node, m.index + m[0].length);
            const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
            if (lines.size > 1) out.push(m[0]);
          }
        }
        return out;
      });
      assert.deepEqual(split, [], 'words of names are not broken across lines');
      const longName = await host.evaluate((id) => {
        const el = document.querySelector(`#audience [data-user-id="${id}"] .person-name`);
        const r = el.getBoundingClientRect();
        const li = el.closest('li').getBoundingClientRect();
        const lineHeight = parseFloat(getComputedStyle(el).lineHeight);
        return { inside: r.left >= li.left - 0.5 && r.right <= li.right + 0.5, lines: Math.round(r.height / lineHeight), overflow: el.scrollWidth - el.clientWidth };
      }, bots.Wolfeschlegelsteinhausenberger.id);
      assert.ok(longName.inside && longName.lines <= 2, `a very long name stays in its tile, on at most two lines (${JSON.stringify(longName)})`);
      await host.screenshot({ path: path.join(RESULTS_DIR, `rooms-polish-host-phone-${scheme}.png`) });
      const phoneAudit = await host.evaluate(auditContrast, ['.btn-primary', '.room-meta', '.count', '.status-pill', '.hand-name', '.toast-message', '.pill-kind']);
      figures.push({ scheme, page: 'room 390', ...phoneAudit });

      // --- Desktop.
      await host.setViewportSize({ width: 1440, height: 900 });
      await raiseHands();
      await assertFitsWidth(host, `the host's room at 1440 px (${scheme})`);
      const desk = await host.evaluate(() => {
        const rect = (sel) => document.querySelector(sel).getBoundingClientRect();
        const stage = rect('.stage-section');
        const hands = rect('#hands-panel');
        const video = rect('#stage .tile.tile-video .tile-media');
        const tile = rect('#stage .tile:not(.tile-video) .avatar');
        return {
          handsBeside: hands.left >= stage.right - 1 && Math.abs(hands.top - stage.top) < 4,
          used: (hands.right - stage.left) / window.innerWidth,
          videoWidth: video.width,
          avatar: tile.width,
        };
      });
      assert.ok(desk.handsBeside, `the raised-hands queue is beside the stage on desktop (${JSON.stringify(desk)})`);
      assert.ok(desk.used >= 0.85, `the room uses the desktop's width (${JSON.stringify(desk)})`);
      assert.ok(desk.videoWidth >= 560, `the host's video is large on desktop (${JSON.stringify(desk)})`);
      assert.ok(desk.avatar >= 90, `speaker tiles are larger on desktop (${JSON.stringify(desk)})`);
      await host.screenshot({ path: path.join(RESULTS_DIR, `rooms-polish-host-desktop-${scheme}.png`) });
      const deskAudit = await host.evaluate(auditContrast, ['.btn-primary', '.room-meta', '.count', '.status-pill', '.btn-leave', '.hand-name', '.toast-message', '.section-title', '.badge-host']);
      figures.push({ scheme, page: 'room 1440', ...deskAudit });

      // In between: nothing scrolls sideways from a small phone to a laptop.
      if (scheme === 'light') {
        for (const [width, height] of [[320, 640], [768, 1024], [1024, 768], [1280, 800]]) {
          await host.setViewportSize({ width, height });
          await sleep(150);
          await assertFitsWidth(host, `the host's room at ${width} px`);
        }
        await host.setViewportSize({ width: 1440, height: 900 });
      }

      // The action sheet (muted texts, the danger action).
      await host.click(`#audience [data-user-id="${bots['Priya Nair'].id}"] button`);
      await host.waitForSelector('dialog[open] .sheet');
      await sleep(250);
      const sheet = await host.evaluate(auditContrast, ['.muted-text', '.sheet-action', '.sheet-action.danger', '.dialog-title']);
      figures.push({ scheme, page: 'action sheet', ...sheet });
      await host.keyboard.press('Escape');
    }

    // The figures, then the verdict.
    for (const f of figures) {
      const mins = Object.entries(f.bySelector).map(([s, e]) => `${s} ${e ? e.ratio : 'n/a'}`).join(', ');
      console.log(`[contrast] ${f.scheme.padEnd(5)} ${f.page.padEnd(12)} ${f.checked} texts; lowest: ${mins}`);
    }
    const failures = figures.flatMap((f) => f.failures.map((e) => `${f.scheme} ${f.page}: ${e.el} "${e.text}" ${e.ratio} < ${e.need} (${e.color} on rgb(${e.background}))`));
    assert.deepEqual(failures, [], 'every text meets WCAG AA contrast');
    const missing = figures.flatMap((f) => Object.entries(f.bySelector).filter(([, e]) => !e).map(([s]) => `${f.scheme} ${f.page}: ${s}`));
    assert.deepEqual(missing, [], 'every audited kind of text was on screen');
    assert.deepEqual(errors, [], 'no uncaught errors');
  }).catch(async (err) => {
    await host.screenshot({ path: path.join(RESULTS_DIR, 'rooms-polish-failure.png') }).catch(() => {});
    throw err;
  });
  await host.close();
  for (const bot of Object.values(bots)) bot.socket.disconnect();
});

test('the room page asks the host before the logo, Sign out or Back take them out (confirmExit dialog)', { timeout: 60_000 }, async () => {
  const page = await openPage(env.browser, env.server, 'exit-dialog', { path: '/' });
  const errors = pageErrors(page);
  await withDiagnostics([], env.server, async () => {
    await signIn(page, 'Dialog Host');
    const roomId = await startRoom(page, 'Are you sure?');
    const contract = await page.evaluate(() => ({
      needsExitConfirm: typeof window.podiumApp.room.needsExitConfirm,
      confirmExit: typeof window.podiumApp.room.confirmExit,
    }));
    assert.deepEqual(contract, { needsExitConfirm: 'function', confirmExit: 'function' },
      'app-room.js RoomPage must provide needsExitConfirm() and confirmExit(onConfirmed)');
    assert.equal(await page.evaluate(() => window.podiumApp.room.needsExitConfirm()), true, 'the host must confirm');

    const question = 'dialog[open]:has(#confirm-leave)';
    const stay = async (what) => {
      await page.waitForSelector(question, { timeout: 5000 }).catch(() => { throw new Error(`${what}: no confirmation dialog with #confirm-leave`); });
      await page.click(`${question} button:has-text("Stay")`);
      await page.waitForSelector(question, { state: 'detached', timeout: 5000 });
      const still = await page.evaluate((id) => ({ room: document.querySelector('.room')?.dataset.roomId, role: document.querySelector('.room')?.dataset.role }), roomId);
      assert.deepEqual(still, { room: roomId, role: 'owner' }, `${what}: Stay keeps the host in the room`);
    };
    await page.click('.topbar .brand');
    await stay('the logo');
    await page.click('#sign-out');
    await stay('Sign out');
    await page.goBack();
    await stay('Back');
    assert.equal(await page.evaluate(() => location.hash), `#/room/${encodeURIComponent(roomId)}`);

    // Confirmed: out to the lobby, and the room (nobody else on stage) ends.
    await page.click('.topbar .brand');
    await page.click(`${question} #confirm-leave`);
    await waitFor(page, 'the lobby after confirming', () => !!document.getElementById('live-title') && !window.podiumApp.room);
    await waitFor(page, 'the room to end', (id) => !window.podiumApp.store.room(id), roomId);
    assert.deepEqual(errors, [], 'no uncaught errors');
  });
  await page.close();
});
