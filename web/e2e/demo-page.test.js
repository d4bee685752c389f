// The demo page served at / : its assets are served with the right types, and
// its Publish and View panels work end to end in the browser.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, openPage, withDiagnostics, uniqueStreamName, PUBLISH_TOKEN,
} from './helpers.js';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('web assets are served at /<filename> with usable content types', async () => {
  const expectations = [
    ['/', /text\/html/],
    ['/podium.js', /(text|application)\/javascript/],
    ['/demo.js', /(text|application)\/javascript/],
    ['/style.css', /text\/css/],
  ];
  for (const [file, type] of expectations) {
    const res = await fetch(`${server.url}${file}`);
    assert.equal(res.status, 200, `GET ${file} status`);
    assert.match(res.headers.get('content-type') ?? '', type, `GET ${file} content-type (module scripts need a JavaScript MIME type)`);
  }
  const html = await (await fetch(`${server.url}/`)).text();
  assert.match(html, /<title>Podium<\/title>/);
});

test('Director rejects a wrong publish token with the server message', async () => {
  const page = await openPage(browser, server, 'director');
  const result = await page.evaluate(async () => {
    const { Director } = await import('/podium.js');
    try {
      await Director.getPublisher({ endpoint: location.origin, token: 'wrong-token', streamName: 'x' });
      return { ok: true };
    } catch (err) {
      return { ok: false, name: err.name, message: err.message, status: err.status };
    }
  });
  assert.equal(result.ok, false, 'publishing with a wrong token must fail');
  assert.equal(result.name, 'PodiumError');
  assert.ok(result.message.length > 0, `error carries the server message (${JSON.stringify(result)})`);
  console.log(`[demo-page] wrong-token rejection: ${JSON.stringify(result)}`);
  await page.close();
});

test('demo page publishes and views through its own UI', { timeout: 120_000 }, async () => {
  const streamName = uniqueStreamName('demo');
  const page = await openPage(browser, server, 'demo');
  await withDiagnostics([page], server, async () => {
    await page.goto(`${server.url}/?stream=${streamName}`);
    assert.equal(await page.inputValue('#publish-form [name=streamName]'), streamName);
    assert.equal(await page.inputValue('#view-form [name=streamName]'), streamName);

    await page.fill('#publish-form [name=token]', PUBLISH_TOKEN);
    await page.click('#publish-start');
    await page.waitForFunction(() => document.getElementById('publish-state').textContent === 'connected', null, { timeout: 20_000 })
      .catch(async (err) => { throw new Error(`publish panel never connected: state="${await page.textContent('#publish-state')}", error="${await page.textContent('#publish-error')}" (${err.message})`); });

    await page.click('#view-start');
    await page.waitForFunction(() => document.getElementById('view-video').videoWidth > 0, null, { timeout: 30_000 })
      .catch(async (err) => { throw new Error(`view panel never showed video: state="${await page.textContent('#view-state')}", error="${await page.textContent('#view-error')}" (${err.message})`); });
    await page.waitForFunction(() => document.querySelector('#view-sources .source-name')?.textContent === 'main', null, { timeout: 20_000 })
      .catch(async (err) => { throw new Error(`active source list: "${await page.textContent('#view-sources')}" (${err.message})`); });

    await page.click('#view-stop');
    await page.click('#publish-stop');
    assert.equal(await page.textContent('#view-state'), 'idle');
    assert.equal(await page.textContent('#publish-state'), 'idle');
  });
  await page.close();
});
