import { startServer, launchBrowser, openPage, inPage, uniqueStreamName, PUBLISH_TOKEN, sleep } from './helpers.js';
const server = await startServer();
const browser = await launchBrowser();
const streamName = uniqueStreamName('probe');
const m = await openPage(browser, server, 'main');
const a = await openPage(browser, server, 'alice');
const v = await openPage(browser, server, 'v');
const v2 = await openPage(browser, server, 'v2');
try {
  await inPage(m, 'publishTone', { streamName, token: PUBLISH_TOKEN, frequency: 440, dtx: true });
  await inPage(a, 'publishTone', { streamName, token: PUBLISH_TOKEN, sourceId: 'alice', frequency: 660, dtx: true });
  await inPage(v, 'startView', { streamName, multiplexedAudioTracks: 2, pinnedSourceId: 'alice' });
  await inPage(m, 'talk', true); await inPage(a, 'talk', true);
  await sleep(1500);
  // late joiner while both talk
  const t = Date.now();
  await inPage(v2, 'startView', { streamName, multiplexedAudioTracks: 2 });
  await sleep(1500);
  for (const p of [v, v2]) {
    const snap = await inPage(p, 'snapshot');
    console.log(p.label, JSON.stringify(snap.viewer.slots), JSON.stringify(snap.events.filter(e => ['vad','active'].includes(e.name)).map(e => [e.name, e.data?.mediaId, e.data?.sourceId, e.wall - t])));
    console.log(p.label, JSON.stringify(await p.evaluate(() => podiumE2E.view.slotLevels())));
  }
  // Stop alice (pinned for v): what happens?
  await inPage(a, 'stopPublish');
  await sleep(2500);
  for (const p of [v, v2]) {
    const snap = await inPage(p, 'snapshot');
    console.log(p.label, JSON.stringify(snap.viewer.slots), JSON.stringify(snap.events.filter(e => ['vad','inactive'].includes(e.name)).map(e => [e.name, e.data?.mediaId, e.data?.sourceId, e.wall - t])));
  }
} finally {
  await browser.close(); await server.stop();
}
