// Deleting an account in headless Chromium (issue 16): Zoe opens "Delete your account" on her
// profile. A wrong password is refused on the form and changes nothing; hers deletes the
// account: the app is signed out, her session is gone, her profile is gone, and her name can
// be taken again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPage, useServerAndBrowser, withDiagnostics } from './helpers.js';
import { ACCOUNT_PASSWORD, signUpInPage as signUp, waitFor } from './rooms-helpers.js';

const env = useServerAndBrowser();

const status = (page, path) => page.evaluate(async (p) => (await fetch(p)).status, path);

test('delete your account from your profile, with your password', { timeout: 60_000 }, async () => {
  const zoe = await openPage(env.browser, env.server, 'zoe', { path: '/' });
  await zoe.setViewportSize({ width: 1280, height: 860 });
  try {
    await withDiagnostics([zoe], env.server, async () => {
      await signUp(zoe, env.server.url, 'Zoe Leaves');
      await zoe.goto(`${env.server.url}/#/u/${encodeURIComponent('Zoe Leaves')}`);
      await zoe.click('#danger-zone summary');
      await zoe.fill('#delete-password', 'not-my-password-9');
      await zoe.click('#delete-account');
      await waitFor(zoe, 'the refusal on the form', () => /Wrong username or password/.test(document.getElementById('delete-error')?.textContent ?? ''));
      assert.equal(await status(zoe, '/api/account/me'), 200, 'nothing changed');

      await zoe.fill('#delete-password', ACCOUNT_PASSWORD);
      await zoe.click('#delete-account');
      await zoe.waitForSelector('#signin-form');
      assert.equal(new URL(zoe.url()).hash, '#/', 'her profile’s address is gone too');
      await waitFor(zoe, 'told', () => /deleted/.test(document.querySelector('[data-toast-id="account-deleted"]')?.textContent ?? ''));
      assert.equal(await status(zoe, '/api/account/me'), 401);
      assert.equal(await status(zoe, `/api/users/${encodeURIComponent('Zoe Leaves')}`), 404);
      // The name is free again.
      await zoe.reload();
      await signUp(zoe, null, 'Zoe Leaves');
    });
  } finally {
    await zoe.close();
  }
});
