// The publish/view demo page (/demo.html; the rooms app is at /): its assets are served with the
// right types, and its Publish and View panels work end to end in the browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServerAndBrowser, openPage, inPage, withDiagnostics, uniqueStreamName, PUBLISH_TOKEN,
} from './helpers.js';

const env = useServerAndBrowser();

test('web assets are served at /<filename> with usable content types', async () => {
  const expectations = [
    ['/', /text\/html/],
    ['/demo.html', /text\/html/],
    ['/podium.js', /(text|application)\/javascript/],
    ['/demo.js', /(text|application)\/javascript/],
    ['/style.css', /text\/css/],
    ['/sio.js', /(text|application)\/javascript/],
    ['/app.js', /(text|application)\/javascript/],
    ['/app-store.js', /(text|application)\/javascript/],
    ['/app-ui.js', /(text|application)\/javascript/],
    ['/app-lobby.js', /(text|application)\/javascript/],
    ['/app-room.js', /(text|application)\/javascript/],
    ['/app-media.js', /(text|application)\/javascript/],
    ['/app.css', /text\/css/],
    ['/favicon.svg', /image\/svg\+xml/],
  ];
  for (const [file, type] of expectations) {
    const res = await fetch(`${env.server.url}${file}`);
    assert.equal(res.status, 200, `GET ${file} status`);
    assert.match(res.headers.get('content-type') ?? '', type, `GET ${file} content-type (module scripts need a JavaScript MIME type)`);
  }
  const html = await (await fetch(`${env.server.url}/`)).text();
  assert.match(html, /<title>Podium<\/title>/);
  assert.match(html, /src="\/app\.js"/, '/ is the rooms app');
  const demo = await (await fetch(`${env.server.url}/demo.html`)).text();
  assert.match(demo, /<title>Podium · publish\/view demo<\/title>/);
  assert.match(demo, /src="\/demo\.js"/);
});

test('Director rejects a wrong publish token with the server message', async () => {
  const page = await openPage(env.browser, env.server, 'director');
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
  const page = await openPage(env.browser, env.server, 'demo');
  await withDiagnostics([page], env.server, async () => {
    await page.goto(`${env.server.url}/demo.html?stream=${streamName}`);
    assert.equal(await page.inputValue('#publish-form [name=streamName]'), streamName);
    assert.equal(await page.inputValue('#view-form [name=streamName]'), streamName);

    await page.fill('#publish-form [name=token]', PUBLISH_TOKEN);
    await page.check('#publish-form [name=dtx]');
    await page.click('#publish-start');
    await page.waitForFunction(() => document.getElementById('publish-state').textContent === 'connected', null, { timeout: 20_000 })
      .catch(async (err) => { throw new Error(`publish panel never connected: state="${await page.textContent('#publish-state')}", error="${await page.textContent('#publish-error')}" (${err.message})`); });

    const publishCmd = (await inPage(page, 'snapshot')).sentCommands.find((c) => c.name === 'publish');
    assert.equal(publishCmd?.usedtx, true, 'DTX checkbox: the publish offer carries usedtx=1');

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

test('demo page shows audio slots: speaker from vad events, live level, exclusions; fits a phone', { timeout: 120_000 }, async () => {
  const streamName = uniqueStreamName('demo-slots');
  const guest = await openPage(env.browser, env.server, 'tone-guest');
  const hidden = await openPage(env.browser, env.server, 'tone-hidden');
  const page = await openPage(env.browser, env.server, 'demo-slots');
  const pages = [guest, hidden, page];
  await withDiagnostics(pages, env.server, async () => {
    // Two audio-only speakers talk continuously; "hidden" is excluded by the viewer.
    await inPage(guest, 'publishTone', { streamName, token: PUBLISH_TOKEN, sourceId: 'guest', frequency: 440 });
    await inPage(hidden, 'publishTone', { streamName, token: PUBLISH_TOKEN, sourceId: 'hidden', frequency: 660 });
    await inPage(guest, 'talk', true);
    await inPage(hidden, 'talk', true);

    await page.setViewportSize({ width: 375, height: 800 });
    await page.goto(`${env.server.url}/demo.html?stream=${streamName}`);
    assert.equal(await page.isHidden('#view-slots-section'), true, 'no slot table before viewing');
    await page.fill('#view-form [name=slots]', '2');
    await page.fill('#view-form [name=excludedSourceIds]', 'hidden, nobody');
    await page.click('#view-start');

    await page.waitForFunction(() => document.querySelectorAll('#view-slots tbody tr').length === 2, null, { timeout: 20_000 })
      .catch(async (err) => { throw new Error(`slot table rows: "${await page.textContent('#view-slots-section')}", error="${await page.textContent('#view-error')}" (${err.message})`); });
    const viewCmd = (await inPage(page, 'snapshot')).sentCommands.find((c) => c.name === 'view');
    assert.equal(viewCmd?.vad, true, 'view command carries vad: true');
    assert.deepEqual(viewCmd?.excludedSourceIds, ['hidden', 'nobody'], 'view command carries the parsed excludedSourceIds');

    const speaking = await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll('#view-slots tbody tr')];
      const row = rows.find((r) => r.querySelector('.speaker').textContent === 'guest');
      const width = parseFloat(row?.querySelector('.meter-fill').style.width ?? '0');
      return row && row.querySelector('.speaker').classList.contains('speaking') && width > 0
        ? { mid: row.dataset.mid, width, level: row.querySelector('.meter').getAttribute('aria-valuenow') } : null;
    }, null, { timeout: 20_000, polling: 100 }).then((h) => h.jsonValue())
      .catch(async (err) => { throw new Error(`"guest" never shown speaking with a level: table "${await page.innerText('#view-slots')}" (${err.message})`); });
    const table = await page.innerText('#view-slots');
    assert.doesNotMatch(table, /hidden/, `the excluded source must not appear in the slot table:\n${table}`);
    assert.match(table, /—/, `the second slot stays empty:\n${table}`);

    // Phone width: nothing sticks out horizontally.
    const overflow = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
    assert.ok(overflow.scroll <= overflow.client, `page must fit 375 px without horizontal scrolling (${JSON.stringify(overflow)})`);
    console.log(`[demo-page] slot table at 375 px: ${JSON.stringify(speaking)}; ${JSON.stringify(overflow)}`);

    await page.click('#view-stop');
    assert.equal(await page.isHidden('#view-slots-section'), true, 'slot table hidden after stop');
  });
  await Promise.all(pages.map((p) => p.close()));
});
