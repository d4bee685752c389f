// The official Millicast JS SDK (npm @millicast/sdk, test-only, never bundled) in a test
// page: the page is on the Podium origin and imports `/__sdk/millicast.js`, which is answered
// from node_modules through request interception, so the SDK is used unmodified.
import { createRequire } from 'node:module';
import path from 'node:path';
import { openPage } from './helpers.js';

const require = createRequire(import.meta.url);

/** The SDK's package.json (`version` for test names). */
export const SDK_PKG = require('@millicast/sdk/package.json');
/** The SDK's browser ES module build (package.json "module"). */
const SDK_FILE = path.join(path.dirname(require.resolve('@millicast/sdk/package.json')), SDK_PKG.module);
/** Where pages import the SDK from. */
export const SDK_URL_PATH = '/__sdk/millicast.js';

/**
 * Opens a page of `env`'s server whose `/__sdk/millicast.js` is the SDK, then runs
 * `install` in it (a harness that imports the SDK and puts itself on `window`), with `arg`.
 */
export async function openSdkPage(env, label, install, arg) {
  const page = await openPage(env.browser, env.server, label);
  await page.route(`**${SDK_URL_PATH}`, (route) => route.fulfill({ path: SDK_FILE, contentType: 'text/javascript; charset=utf-8' }));
  if (install) await page.evaluate(install, arg);
  return page;
}
