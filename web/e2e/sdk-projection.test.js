// Projection with the OFFICIAL Millicast JS SDK (npm @millicast/sdk, test-only, handed to the
// page through request interception as in millicast-sdk.test.js), used unmodified:
//   two SDK publishers in one stream, the main source (a 640x360 canvas) and source "b"
//   (a 320x180 canvas); an SDK viewer pinned to the main source calls
//   view.addRemoteTrack('video') (the SDK renegotiates locally and answers itself), then
//   view.project('b', [{trackId: 'video0', mediaId}]): frames are decoded on both mids,
//   640 wide on the default one and 320 on the added one; re-projecting swaps them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServerAndBrowser, uniqueStreamName, PUBLISH_TOKEN, diagnostics,
} from './helpers.js';
import { SDK_PKG, openSdkPage as openSdkPageOf } from './sdk-page.js';

const env = useServerAndBrowser();

/** In the page: the SDK, canvas publishers and a viewer with per-mid stats. */
async function installProjectionHarness() {
  const sdk = await import('/__sdk/millicast.js');
  const h = {
    events: [],
    canvasStream(width, height, label) {
      const canvas = document.createElement('canvas');
      canvas.width = width;
      canvas.height = height;
      const ctx = canvas.getContext('2d');
      let n = 0;
      const draw = () => {
        n += 1;
        ctx.fillStyle = `hsl(${(n * 7) % 360} 70% 50%)`;
        ctx.fillRect(0, 0, width, height);
        ctx.fillStyle = '#fff';
        ctx.font = `${Math.round(height / 4)}px sans-serif`;
        ctx.fillText(`${label} ${n}`, 10, height / 2);
      };
      draw();
      setInterval(draw, 33);
      return canvas.captureStream(30);
    },
    async publish({ streamName, token, sourceId, width, height }) {
      sdk.Director.setEndpoint(location.origin);
      const publish = new sdk.Publish(streamName, () => sdk.Director.getPublisher({ token, streamName }));
      const options = { mediaStream: h.canvasStream(width, height, sourceId ?? 'main'), codec: 'vp8' };
      if (sourceId) options.sourceId = sourceId;
      await publish.connect(options);
      (h.publishers ??= []).push(publish);
      return true;
    },
    async view({ streamName }) {
      sdk.Director.setEndpoint(location.origin);
      const view = new sdk.View(streamName, () => sdk.Director.getSubscriber({ streamName, streamAccountId: 'podium' }));
      h.view = view;
      view.on('broadcastEvent', (e) => h.events.push({ name: e.name, data: e.data }));
      view.on('track', (e) => {
        const el = document.createElement(e.track.kind === 'video' ? 'video' : 'audio');
        el.autoplay = true;
        el.muted = true;
        el.srcObject = new MediaStream([e.track]);
        document.body.append(el);
        el.play().catch(() => {});
      });
      await view.connect();
      const pc = view.webRTCPeer.getRTCPeer();
      return pc.getTransceivers().find((t) => t.receiver.track.kind === 'video').mid;
    },
    async addRemoteTrack() {
      const transceiver = await h.view.addRemoteTrack('video', [new MediaStream()]);
      return transceiver.mid;
    },
    async project({ sourceId, mediaId }) {
      await h.view.project(sourceId, [{ trackId: 'video0', mediaId }]);
      return true;
    },
    /** Decoded frames and width per video mid. */
    async videoStats() {
      const report = await h.view.webRTCPeer.getRTCPeer().getStats();
      const out = {};
      for (const s of report.values()) {
        if (s.type === 'inbound-rtp' && s.kind === 'video') out[s.mid] = { frames: s.framesDecoded ?? 0, width: s.frameWidth ?? 0 };
      }
      return out;
    },
  };
  window.projection = h;
  return true;
}

const openSdkPage = (label) => openSdkPageOf(env, label, installProjectionHarness);

const call = (page, method, arg) => page.evaluate(([m, a]) => window.projection[m](a), [method, arg]);

/** Waits until both mids decode new frames at the expected widths; returns how long it took. */
async function untilDecoding(viewer, expected, { timeout = 20_000, what }) {
  const started = Date.now();
  let first = await call(viewer, 'videoStats');
  let last = first;
  while (Date.now() - started < timeout) {
    await new Promise((r) => setTimeout(r, 250));
    last = await call(viewer, "videoStats");
    const ok = Object.entries(expected).every(([mid, width]) => last[mid]?.width === width
      && last[mid].frames > (first[mid]?.frames ?? 0) + 5);
    if (ok) return Date.now() - started;
    // Count frames from the time the widths are right, so old frames do not pass.
    for (const [mid, width] of Object.entries(expected)) {
      if (last[mid]?.width !== width) first = { ...first, [mid]: last[mid] };
    }
  }
  throw new Error(`Timed out waiting for ${what}: ${JSON.stringify(last)}\n${await diagnostics([viewer], env.server)}`);
}

test(`@millicast/sdk ${SDK_PKG.version}: addRemoteTrack + project shows source b beside the pinned main source; re-projecting swaps them`, { timeout: 180_000 }, async () => {
  const streamName = uniqueStreamName('sdk-proj');
  const publisher = await openSdkPage('pub');
  const viewer = await openSdkPage('view');
  await call(publisher, 'publish', { streamName, token: PUBLISH_TOKEN, width: 640, height: 360 });
  await call(publisher, 'publish', { streamName, token: PUBLISH_TOKEN, sourceId: 'b', width: 320, height: 180 });

  const mainMid = await call(viewer, 'view', { streamName });
  await untilDecoding(viewer, { [mainMid]: 640 }, { what: 'the pinned main source on the default transceiver' });

  const added = await call(viewer, 'addRemoteTrack');
  assert.notEqual(added, mainMid);
  await call(viewer, 'project', { sourceId: 'b', mediaId: added });
  const projectedIn = await untilDecoding(viewer, { [mainMid]: 640, [added]: 320 },
    { what: 'source b (320 wide) on the added mid beside main (640)' });

  await call(viewer, 'project', { sourceId: null, mediaId: added });
  await call(viewer, 'project', { sourceId: 'b', mediaId: mainMid });
  const swappedIn = await untilDecoding(viewer, { [mainMid]: 320, [added]: 640 },
    { what: 'the two sources swapped between the mids' });
  console.log(`[sdk-projection] project -> frames on the added mid: ${projectedIn} ms; swap -> both decoding: ${swappedIn} ms`);

  const events = await viewer.evaluate(() => window.projection.events.map((e) => e.name));
  assert.ok(events.includes('active'), `active events (${events})`);
  await Promise.all([publisher.close(), viewer.close()]);
});
