// Simulcast with the OFFICIAL Millicast JS SDK (npm @millicast/sdk, test-only, handed to the
// page through request interception as in millicast-sdk.test.js), used unmodified:
//   an SDK publisher with `simulcast: true` (VP8: the SDK adds an SSRC-group SIM of three
//   encodings to its offer) sends the fake camera at 1280x720; an SDK viewer gets `layers` events with
//   at least two active encodings, decodes the highest, `select`s the lowest and decodes a
//   narrower frame within seconds, then `select`s {} and is back on the highest.
//   A second viewer whose offer says `b=AS:250` (its downlink, as a page would declare it)
//   ends on a lower encoding than the first and its video keeps decoding.
// A viewer whose media goes through a throttling UDP proxy (udp-throttle.js) moves down when
// its downlink narrows to 400 kbit/s (found from its receiver estimates and reports), keeps
// decoding, and comes back to the highest when the limit is lifted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startThrottle } from './udp-throttle.js';
import {
  useServerAndBrowser, uniqueStreamName, PUBLISH_TOKEN, diagnostics,
} from './helpers.js';
import { SDK_PKG, openSdkPage as openSdkPageOf } from './sdk-page.js';

const env = useServerAndBrowser();

/** In the page: the SDK, a simulcast camera publisher and a viewer with stats and events. */
async function installSimulcastHarness() {
  const sdk = await import('/__sdk/millicast.js');
  const h = {
    layers: [],
    async publish({ streamName, token }) {
      sdk.Director.setEndpoint(location.origin);
      const publish = new sdk.Publish(streamName, () => sdk.Director.getPublisher({ token, streamName }));
      // The fake camera: a canvas track is content Chrome encodes like a screen (every
      // simulcast encoding at full size).
      const camera = await navigator.mediaDevices.getUserMedia({ video: { width: 1280, height: 720, frameRate: 30 }, audio: true });
      await publish.connect({ mediaStream: camera, codec: 'vp8', simulcast: true });
      h.publisher = publish;
      // Chromium 156 leaves the encodings of the SDK's SSRC-group SIM at full size (the first
      // says scaleResolutionDownBy 1, the others nothing); an app that wants distinct sizes
      // says so, as here: a quarter, a half, full (SIM order is lowest first).
      const sender = publish.webRTCPeer.getRTCPeer().getSenders().find((x) => x.track?.kind === 'video');
      const params = sender.getParameters();
      params.encodings.forEach((e, i) => { e.scaleResolutionDownBy = 2 ** (params.encodings.length - 1 - i); });
      await sender.setParameters(params);
      return true;
    },
    /** `kbps`: a `b=AS` line put into the viewer's offer (its declared downlink). */
    async view({ streamName, kbps, throttled }) {
      if (kbps) {
        // The SDK sends the offer createOffer made (and sets it locally): declare it there.
        const original = RTCPeerConnection.prototype.createOffer;
        RTCPeerConnection.prototype.createOffer = async function limited(...args) {
          const offer = await original.apply(this, args);
          return { type: 'offer', sdp: offer.sdp.replace(/(m=video[^\r\n]*\r\nc=[^\r\n]*\r\n)/, `$1b=AS:${kbps}\r\n`) };
        };
      }
      if (throttled) {
        // Media through the test's throttling proxy: the answer's candidate is replaced by it.
        const original = RTCPeerConnection.prototype.setRemoteDescription;
        RTCPeerConnection.prototype.setRemoteDescription = async function viaProxy(desc) {
          if (desc?.type === 'answer') {
            const m = /a=candidate:\S+ 1 udp \d+ (\S+) (\d+) typ host/i.exec(desc.sdp);
            const proxy = await window.throttleTarget(m[1], Number(m[2]));
            desc = { type: 'answer', sdp: desc.sdp.replaceAll(`${m[1]} ${m[2]} typ host`, `${proxy.address} ${proxy.port} typ host`) };
          }
          return original.call(this, desc);
        };
      }
      sdk.Director.setEndpoint(location.origin);
      const view = new sdk.View(streamName, () => sdk.Director.getSubscriber({ streamName, streamAccountId: 'podium' }));
      h.viewer = view;
      view.on('broadcastEvent', (e) => { if (e.name === 'layers') h.layers.push(e.data); });
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
    async select(layer) {
      await h.viewer.select(layer);
      return true;
    },
    async offerHas(text) {
      const pc = (h.viewer ?? h.publisher).webRTCPeer.getRTCPeer();
      return pc.localDescription.sdp.includes(text);
    },
    async remoteHas(text) {
      return h.viewer.webRTCPeer.getRTCPeer().remoteDescription.sdp.includes(text);
    },
    /** Width of the highest active encoding the latest `layers` event names (0: unknown). */
    async highestWidth() {
      const media = h.layers.map((e) => Object.values(e.medias ?? {})[0]).filter(Boolean).at(-1);
      return media?.active.at(-1)?.width ?? 0;
    },
    async video() {
      const report = await h.viewer.webRTCPeer.getRTCPeer().getStats();
      for (const s of report.values()) {
        if (s.type === 'inbound-rtp' && s.kind === 'video') return { frames: s.framesDecoded ?? 0, width: s.frameWidth ?? 0 };
      }
      return { frames: 0, width: 0 };
    },
  };
  window.simulcast = h;
  return true;
}

const openSdkPage = (label) => openSdkPageOf(env, label, installSimulcastHarness);

const call = (page, method, arg) => page.evaluate(([m, a]) => window.simulcast[m](a), [method, arg]);

/**
 * Waits until `ok(width, highest)` holds while frames keep being decoded (`highest`: the width
 * of the highest active encoding as the latest `layers` event says: the publisher's browser
 * may scale its encodings down under load); returns the time taken.
 */
async function untilWidth(viewer, ok, { timeout = 20_000, what, pages }) {
  const started = Date.now();
  let last = await call(viewer, 'video');
  let since = null;
  const trace = [];
  while (Date.now() - started < timeout) {
    await new Promise((r) => setTimeout(r, 200));
    const now = await call(viewer, 'video');
    const highest = await call(viewer, 'highestWidth');
    trace.push(`${now.width}/${now.frames}/${highest}`);
    if (ok(now.width, highest) && now.frames > last.frames) {
      since ??= Date.now();
      // Decoding goes on at that width for a moment: not a frozen last frame.
      if (Date.now() - since >= 600) {
        if (process.env.PODIUM_E2E_VERBOSE) console.log(what, trace.join(' '));
        return since - started;
      }
    } else {
      since = null;
    }
    last = now;
  }
  const layers = await viewer.evaluate(() => JSON.stringify(window.simulcast.layers.slice(-3)));
  throw new Error(`Timed out waiting for ${what}: ${trace.join(' ')}\nlayers: ${layers}\n${await diagnostics(pages, env.server)}`);
}

/** The latest `layers` of the viewer's video mid with at least `n` active encodings. */
async function untilLayers(viewer, mid, n, pages) {
  for (let i = 0; i < 100; i += 1) {
    const all = await viewer.evaluate(() => window.simulcast.layers);
    const media = all.map((e) => e.medias?.[mid]).filter(Boolean).at(-1);
    if (media && media.active.length >= n) return media;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no layers event with ${n} active encodings\n${await diagnostics(pages, env.server)}`);
}

test(`@millicast/sdk ${SDK_PKG.version}: simulcast publisher, layers events, select lowest and back; a limited downlink ends lower`, { timeout: 180_000 }, async () => {
  const streamName = uniqueStreamName('sdk-simulcast');
  const publisher = await openSdkPage('pub');
  const viewer = await openSdkPage('view');
  const pages = [publisher, viewer];
  await call(publisher, 'publish', { streamName, token: PUBLISH_TOKEN });
  const mid = await call(viewer, 'view', { streamName });

  const media = await untilLayers(viewer, mid, 2, pages);
  assert.ok(await call(publisher, 'offerHas', 'a=ssrc-group:SIM'), 'the SDK offered an SSRC-group SIM');
  const active = media.active;
  for (const l of active) assert.equal(typeof l.bitrate, 'number');
  const ranks = active.map((l) => l.simulcastIdx);
  assert.deepEqual(ranks, [...ranks].sort((a, b) => a - b), 'lowest first');
  const lowest = active[0];
  const highest = active.at(-1);
  assert.ok(highest.layers[0].encodingId === highest.id);
  const top = await untilWidth(viewer, (w, hi) => w >= 640 && w === hi, { what: 'the highest encoding decoded', pages });
  const topWidth = (await call(viewer, 'video')).width;

  const selected = Date.now();
  await call(viewer, 'select', { encodingId: lowest.id });
  await untilWidth(viewer, (w, hi) => w > 0 && w < hi, { what: 'the lowest encoding decoded', pages });
  const down = Date.now() - selected;
  const lowWidth = (await call(viewer, 'video')).width;

  const automatic = Date.now();
  await call(viewer, 'select', {});
  await untilWidth(viewer, (w, hi) => w === hi && w > lowWidth, { what: 'back to the highest', pages });
  const up = Date.now() - automatic;
  console.log(`[sdk-simulcast] ${active.length} active (${active.map((l) => `${l.id}:${l.width ?? '?'}w@${Math.round(l.bitrate / 1000)}k`).join(' ')}); first high frame ${top} ms; select lowest -> ${lowWidth} wide decoded in ${down} ms; select {} -> ${topWidth} in ${up} ms`);

  // A viewer that declares a 250 kbit/s downlink gets a lower encoding and keeps decoding.
  const limited = await openSdkPage('limited');
  pages.push(limited);
  await call(limited, 'view', { streamName, kbps: 250 });
  assert.ok(await call(limited, 'offerHas', 'b=AS:250'), 'the offer carries the limit');
  const settled = await untilWidth(limited, (w, hi) => w > 0 && w < hi, { what: 'the limited viewer on a lower encoding', pages });
  await new Promise((r) => setTimeout(r, 3000));
  const after = await untilWidth(limited, (w, hi) => w > 0 && w < hi, { what: 'the limited viewer still decoding low', pages });
  console.log(`[sdk-simulcast] limited viewer (b=AS:250) decoding ${(await call(limited, 'video')).width} wide after ${settled} ms, still after 3 s (${after} ms)`);
  await Promise.all(pages.map((p) => p.close()));
});

test(`@millicast/sdk ${SDK_PKG.version}: a viewer whose downlink narrows moves to a lower encoding without freezing, and back up when it widens`, { timeout: 180_000 }, async () => {
  const streamName = uniqueStreamName('sdk-bwe');
  const throttle = await startThrottle();
  const publisher = await openSdkPage('pub');
  const viewer = await openSdkPage('view');
  const pages = [publisher, viewer];
  try {
    await viewer.exposeFunction('throttleTarget', (address, port) => {
      throttle.targetFor(address, port);
      return { address: throttle.address, port: throttle.port };
    });
    await call(publisher, 'publish', { streamName, token: PUBLISH_TOKEN });
    const mid = await call(viewer, 'view', { streamName, throttled: true });
    await untilLayers(viewer, mid, 3, pages);
    assert.ok(await call(viewer, 'remoteHas', 'goog-remb'), 'the answer asks the viewer for receiver estimates');
    await untilWidth(viewer, (w, hi) => w >= 640 && w === hi, { what: 'the highest encoding through the proxy', pages });
    const top = (await call(viewer, 'video')).width;
    // Let the publisher's encodings reach their rates before the downlink narrows.
    await new Promise((r) => setTimeout(r, 4000));

    throttle.limit(400_000);
    const narrowed = Date.now();
    await untilWidth(viewer, (w) => w > 0 && w < top, { what: 'a lower encoding after the downlink narrowed', pages, timeout: 30_000 });
    const down = Date.now() - narrowed;
    const lowWidth = (await call(viewer, 'video')).width;
    const before = await call(viewer, 'video');
    await new Promise((r) => setTimeout(r, 3000));
    const after = await call(viewer, 'video');
    assert.ok(after.frames - before.frames > 30, `still decoding on the narrow link: ${before.frames} -> ${after.frames}`);

    throttle.limit(Infinity);
    const widened = Date.now();
    await untilWidth(viewer, (w, hi) => w === hi && w > lowWidth, { what: 'the highest again after the downlink widened', pages, timeout: 60_000 });
    const up = Date.now() - widened;
    console.log(`[sdk-simulcast] downlink 400 kbit/s: ${lowWidth} wide decoded ${down} ms after it narrowed (${throttle.stats.dropped} packets dropped); unlimited again: ${(await call(viewer, 'video')).width} after ${up} ms`);
  } finally {
    throttle.close();
    await Promise.all(pages.map((p) => p.close()));
  }
});
