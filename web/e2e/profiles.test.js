// Profile pages in headless Chromium (issue 16): Ava edits her display name and bio and
// uploads a picture (the server re-encodes it; a file that is not an image is refused with a
// clear message); a bio with markup shows as text; Ben, who follows her, sees her profile with
// the counts, the Following state and himself in her followers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { openPage, useServerAndBrowser, withDiagnostics } from './helpers.js';
import { apiInPage, signUpInPage, waitFor } from './rooms-helpers.js';

const signUp = async (page, url, name) => (await signUpInPage(page, url, name)).account;

const env = useServerAndBrowser();
const BIO = 'Talks about <b>design</b> <img src=x onerror="window.__xss=1">';

/** A small solid-colour PNG (8-bit RGB). */
function png(width, height) {
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(zlib.crc32(body) >>> 0, 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const rows = Buffer.concat(Array.from({ length: height }, () => Buffer.concat([Buffer.from([0]), Buffer.alloc(width * 3, 0x6d)])));
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', header), chunk('IDAT', zlib.deflateSync(rows)), chunk('IEND', Buffer.alloc(0))]);
}

test('edit a profile with a picture; others see it, with followers', { timeout: 90_000 }, async () => {
  const ava = await openPage(env.browser, env.server, 'ava', { path: '/' });
  const ben = await env.browser.context.newPage();
  ben.label = 'ben';
  try {
    await withDiagnostics([ava, ben], env.server, async () => {
      const avaId = await signUp(ava, env.server.url, 'ava');
      await signUp(ben, env.server.url.replace('127.0.0.1', 'localhost'), 'Ben Reader');
      const followed = await ben.evaluate(async (id) => (await fetch(`/api/users/${id}/follow`, {
        method: 'POST', headers: { 'x-csrf-token': window.podiumApp.account.csrf },
      })).status, avaId);
      assert.equal(followed, 200);

      await ava.click('#my-profile');
      await ava.waitForSelector('#profile-form');
      // Not an image: refused, nothing changes.
      await ava.setInputFiles('#profile-avatar', { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('just some text') });
      await ava.click('#profile-save');
      const refused = await waitFor(ava, 'the refusal', () => {
        const el = document.getElementById('profile-error');
        return el && !el.hidden && el.textContent;
      });
      assert.match(refused, /image/i);
      await ava.fill('#profile-display-name', 'Ava Designer');
      await ava.fill('#profile-bio-input', BIO);
      await ava.setInputFiles('#profile-avatar', { name: 'me.png', mimeType: 'image/png', buffer: png(300, 200) });
      await ava.click('#profile-save');
      await waitFor(ava, 'the new name and picture', () => document.getElementById('profile-name')?.textContent === 'Ava Designer'
        && document.querySelector('.profile-head img.avatar-img')?.complete);
      const picture = await ava.evaluate(() => {
        const img = document.querySelector('.profile-head img.avatar-img');
        return [img.naturalWidth, img.naturalHeight];
      });
      assert.deepEqual(picture, [256, 256], 'resized square by the server');

      // Her upcoming room shows on her profile, its title as text.
      const startsAt = Math.floor(Date.now() / 1000) + 3 * 3600;
      const [scheduled] = await apiInPage(ava, 'POST', '/api/schedules', { title: '<i>Design</i> review', topic: 'Colour', startsAt });
      assert.equal(scheduled, 200);
      await ben.evaluate(() => { location.hash = '#/u/ava'; });
      const upcoming = await waitFor(ben, 'the upcoming room', () => {
        const title = document.querySelector('#profile-upcoming .upcoming-title');
        return title && [title.textContent, title.children.length];
      });
      assert.deepEqual(upcoming, ['<i>Design</i> review', 0]);
      const seen = await waitFor(ben, 'Ava’s profile', () => document.getElementById('profile-name')?.textContent === 'Ava Designer' && {
        bio: document.getElementById('profile-bio').textContent,
        markup: document.getElementById('profile-bio').children.length,
        follow: document.getElementById('profile-follow').textContent,
        followers: document.getElementById('profile-followers').textContent,
      });
      assert.deepEqual(seen, { bio: BIO, markup: 0, follow: 'Following', followers: '1 follower' });
      assert.equal(await ben.evaluate(() => window.__xss ?? null), null);
      await ben.click('#profile-followers');
      const names = await waitFor(ben, 'the followers list', () => {
        const shown = [...document.querySelectorAll('#followers-list li')]
          .map((li) => [...li.querySelectorAll('.person-link > span:not(.avatar)')].map((t) => t.textContent).join(''));
        return shown.length > 0 && shown;
      });
      assert.deepEqual(names, ['Ben Reader @Ben Reader']);
      await ben.click('#profile-follow');
      await waitFor(ben, 'unfollowed', () => document.getElementById('profile-follow')?.textContent === 'Follow'
        && document.getElementById('profile-followers').textContent === '0 followers');
    });
  } finally {
    await Promise.all([ava.close(), ben.close()]).catch(() => {});
  }
});
