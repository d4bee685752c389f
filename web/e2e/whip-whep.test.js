// WHIP publishing and WHEP playback from plain-fetch pages (no podium.js): a page publishes a
// fake camera + mic over WHIP (POST offer, set the answer, trickle its candidates in a PATCH),
// another page views over WHEP and decodes video and audio, a Millicast-protocol viewer (the
// page harness over podium.js) gets the same source; DELETE of the WHIP resource ends the
// publication and the Millicast viewer gets `inactive`.
//
// Both plain pages call the server from another origin (localhost vs 127.0.0.1, the same
// server), as browser WHIP/WHEP clients do, so CORS is exercised for POST, PATCH and DELETE.
// The browser context bypasses the pages' own CSP (connect-src 'self') for that.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import {
  useServerAndBrowser, inPage, waitInPage, withDiagnostics, uniqueStreamName, PUBLISH_TOKEN, CHROMIUM_BIN, CHROMIUM_ARGS, sleep,
} from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));

const env = useServerAndBrowser({
  browser: false,
  async setup(e) {
    const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'podium-e2e-chromium-'));
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_BIN, headless: true, args: CHROMIUM_ARGS, bypassCSP: true,
    });
    e.browser = {
      context,
      async close() {
        await context.close().catch(() => {});
        await rm(userDataDir, { recursive: true, force: true });
      },
    };
  },
});

/** A page at `url` with console capture; `harness` adds the Millicast page harness. */
async function open(url, label, { harness = false } = {}) {
  const page = await env.browser.context.newPage();
  page.label = label;
  page.consoleLog = [];
  page.on('console', (msg) => page.consoleLog.push(`[${label}] ${msg.type()}: ${msg.text()}`));
  page.on('pageerror', (err) => page.consoleLog.push(`[${label}] pageerror: ${err.message}`));
  if (harness) await page.addInitScript({ path: path.join(here, 'page-harness.js') });
  await page.goto(url);
  return page;
}

/** In the page: WHIP-publish the fake camera + mic to `endpoint`; trickle candidates once gathered. */
async function whipPublish({ endpoint, token }) {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: false, autoGainControl: false, noiseSuppression: false },
    video: { width: 640, height: 360, frameRate: 30 },
  });
  const pc = new RTCPeerConnection();
  for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
  await pc.setLocalDescription(await pc.createOffer());
  const auth = { Authorization: `Bearer ${token}` };
  const res = await fetch(endpoint, {
    method: 'POST', headers: { ...auth, 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp,
  });
  const body = await res.text();
  if (res.status !== 201) throw new Error(`POST ${endpoint} → ${res.status} ${body}`);
  const location = new URL(res.headers.get('Location'), endpoint).href;
  const etag = res.headers.get('ETag');
  const contentType = res.headers.get('Content-Type');
  await pc.setRemoteDescription({ type: 'answer', sdp: body });
  // Trickle ICE (RFC 9725 §4.3.2): the first m-section's candidates, with the ICE credentials.
  while (pc.iceGatheringState !== 'complete') await new Promise((r) => setTimeout(r, 50));
  const sdp = pc.localDescription.sdp;
  const first = sdp.split(/\r\nm=/)[1].split('\r\n');
  const cred = (k) => sdp.match(new RegExp(`a=${k}:(\\S+)`))[1];
  const fragment = [`a=ice-ufrag:${cred('ice-ufrag')}`, `a=ice-pwd:${cred('ice-pwd')}`, `m=${first[0]}`,
    ...first.filter((l) => l.startsWith('a=mid:') || l.startsWith('a=candidate:')), 'a=end-of-candidates', ''].join('\r\n');
  const patch = await fetch(location, {
    method: 'PATCH', headers: { ...auth, 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': etag }, body: fragment,
  });
  window.whip = { pc, stream, location };
  return { location, etag, contentType, patchStatus: patch.status };
}

/** In the page: WHEP-view `endpoint` with a recvonly video + audio offer; play both. */
async function whepView({ endpoint }) {
  const pc = new RTCPeerConnection();
  const video = pc.addTransceiver('video', { direction: 'recvonly' });
  const audio = pc.addTransceiver('audio', { direction: 'recvonly' });
  await pc.setLocalDescription(await pc.createOffer());
  const res = await fetch(endpoint, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp });
  const body = await res.text();
  if (res.status !== 201) throw new Error(`POST ${endpoint} → ${res.status} ${body}`);
  const location = new URL(res.headers.get('Location'), endpoint).href;
  await pc.setRemoteDescription({ type: 'answer', sdp: body });
  // Separate elements: unplayed audio has no energy in the stats.
  const videoEl = Object.assign(document.createElement('video'), { autoplay: true, muted: true, playsInline: true });
  videoEl.srcObject = new MediaStream([video.receiver.track]);
  const audioEl = Object.assign(document.createElement('audio'), { autoplay: true });
  audioEl.srcObject = new MediaStream([audio.receiver.track]);
  document.body.append(videoEl, audioEl);
  videoEl.play().catch(() => {});
  audioEl.play().catch(() => {});
  window.whep = { pc, videoEl, location };
  return { location };
}

/** In the page: what the WHEP viewer decodes. */
async function whepStats() {
  const { pc, videoEl } = window.whep;
  const out = { videoWidth: videoEl.videoWidth, connectionState: pc.connectionState, video: null, audio: null };
  (await pc.getStats()).forEach((s) => {
    if (s.type !== 'inbound-rtp') return;
    if (s.kind === 'video') out.video = { framesDecoded: s.framesDecoded ?? 0, frameWidth: s.frameWidth ?? 0 };
    if (s.kind === 'audio') out.audio = { packetsReceived: s.packetsReceived ?? 0, totalAudioEnergy: s.totalAudioEnergy ?? 0 };
  });
  return out;
}

/** In the page: DELETE a resource (Authorization sent, as RFC 9725 clients do). */
async function deleteResource({ location, auth }) {
  const res = await fetch(location, { method: 'DELETE', headers: auth ?? {} });
  return res.status;
}

test('WHIP publish, WHEP and Millicast views, DELETE → inactive', { timeout: 120_000 }, async () => {
  const streamName = uniqueStreamName('whip');
  const { url, httpPort } = env.server;
  const otherOrigin = `http://localhost:${httpPort}`;
  // Plain documents of the server (no scripts): the clients below are all the page runs.
  const publisher = await open(`${otherOrigin}/healthz`, 'WHIP');
  const whep = await open(`${url}/healthz`, 'WHEP');
  const viewer = await open(`${url}/demo.html`, 'V-millicast', { harness: true });
  const pages = [publisher, whep, viewer];

  await withDiagnostics(pages, env.server, async () => {
    const pub = await publisher.evaluate(whipPublish, { endpoint: `${url}/whip/${streamName}`, token: PUBLISH_TOKEN });
    assert.ok(pub.location.startsWith(`${url}/whip/${streamName}/`), `Location readable across origins: ${pub.location}`);
    assert.match(pub.etag ?? '', /^".+"$/, 'ETag readable across origins');
    assert.equal(pub.contentType, 'application/sdp');
    assert.equal(pub.patchStatus, 204, 'trickle PATCH with If-Match accepted');
    await publisher.waitForFunction(() => window.whip.pc.connectionState === 'connected', null, { timeout: 20_000 });

    const { location: whepLocation } = await whep.evaluate(whepView, { endpoint: `${otherOrigin}/whep/${streamName}` });
    assert.ok(whepLocation.startsWith(`${otherOrigin}/whep/${streamName}/`), whepLocation);
    await whep.waitForFunction(() => window.whep.videoEl.videoWidth > 0, null, { timeout: 30_000, polling: 100 });
    const first = await whep.evaluate(whepStats);
    await sleep(1000);
    const second = await whep.evaluate(whepStats);
    assert.ok(second.videoWidth > 0, `WHEP video has a size (${second.videoWidth})`);
    assert.ok(second.video.framesDecoded > first.video.framesDecoded,
      `WHEP frames advance (${first.video.framesDecoded} -> ${second.video.framesDecoded})`);
    await whep.waitForFunction(async () => {
      let energy = 0;
      (await window.whep.pc.getStats()).forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'audio') energy = s.totalAudioEnergy ?? 0;
      });
      return energy > 1e-3;
    }, null, { timeout: 30_000, polling: 200 });

    await inPage(viewer, 'startView', { streamName });
    await waitInPage(viewer, () => podiumE2E.hasEvent('active', null), null,
      { what: 'active event for the WHIP source', pages, server: env.server });
    await waitInPage(viewer, () => podiumE2E.timing.firstFrame !== null, null,
      { what: 'first decoded video frame of the WHIP source', timeout: 30_000, pages, server: env.server });

    const auth = { Authorization: `Bearer ${PUBLISH_TOKEN}` };
    const status = await publisher.evaluate(deleteResource, { location: pub.location, auth });
    assert.equal(status, 200, 'DELETE of the WHIP session');
    await waitInPage(viewer, () => podiumE2E.hasEvent('inactive', null), null,
      { what: 'inactive event after the WHIP DELETE', timeout: 20_000, pages, server: env.server });
    const again = await publisher.evaluate(deleteResource, { location: pub.location });
    assert.equal(again, 404, 'the deleted resource is gone');
    assert.equal(await whep.evaluate(deleteResource, { location: whepLocation }), 200, 'DELETE of the WHEP session');

    console.log(`[whip-whep] WHEP stats: ${JSON.stringify(second)}; viewer timings: ${JSON.stringify(await inPage(viewer, 'viewTimings'))}`);
  });

  await Promise.all(pages.map((p) => p.close()));
});
