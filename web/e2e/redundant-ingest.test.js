// Redundant ingest over RTMP, seen from the browser: two ffmpeg publishers of the same stream's
// main source, `priority=1` (a blue picture, started first) and `priority=2` (red). A
// Millicast-protocol viewer (the page harness over podium.js) samples the centre pixel of every
// presented video frame (requestVideoFrameCallback → canvas) with its time.
//
// Asserted: when 2 starts, the viewer switches to red and stays there while both run; when 2
// stops cleanly (SIGTERM: ffmpeg unpublishes, the server closes the publication) the viewer
// shows blue with no gap of 1 s or more between presented frames, and without renegotiation
// (no signaling command after `view`, same SDPs, transceivers and track, no new `track`,
// `signalingstatechange` or `negotiationneeded`, no `active`/`inactive`). When 2 is published
// again the viewer returns to red.
// RTMP cannot ask an encoder for a keyframe, so after a switch the viewer shows 1's picture from
// 1's next keyframe on (GOP here: 0.5 s). Until then Chrome either freezes on 2's last frame
// (its decoder refuses 1's P-frames and sends PLIs: the frame gap grows up to the GOP) or
// decodes 1's P-frames on 2's reference frames, which still looks red at the centre (the static
// background is all skip blocks): no gap, and "last red" is then a frame of 1. Both are printed.
// Measured and printed only: the stall failover (2's ffmpeg SIGSTOPped: its TCP connection
// stays open and silent, the server's 1 s stall rule switches to 1, whose next keyframe the
// viewer decodes) and the return to red after SIGCONT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServerAndBrowser, openPage, inPage, waitInPage, withDiagnostics, uniqueStreamName, PUBLISH_TOKEN, sleep,
  spawnFfmpeg, rtmpPublishArgs, stopAllFfmpeg, ffmpegDiagnostics,
} from './helpers.js';

const env = useServerAndBrowser({ teardown: stopAllFfmpeg });

/** Keyframe interval of both encoders, in frames at 30 fps (0.5 s). */
const GOP = 15;

/** withDiagnostics plus every ffmpeg's exit status and stderr tail. */
async function withAllDiagnostics(pages, fn) {
  try {
    return await withDiagnostics(pages, env.server, fn);
  } catch (err) {
    err.message += `\n${ffmpegDiagnostics()}`;
    throw err;
  }
}

/** lavfi graph: a plain `color` picture with a small moving test pattern at the top left. */
const picture = (color) => `color=c=${color}:size=320x240:rate=30[bg];testsrc=size=80x60:rate=30[fg];[bg][fg]overlay=x=mod(n*4\\,240):y=0[out0]`;

/**
 * In the page: sample the centre pixel of every frame the viewer's main video element presents
 * (requestVideoFrameCallback), classified red / blue / other, with Date.now() and
 * performance.now(). Also counts the peer connection's renegotiation signals from now on.
 */
function startColorSampler() {
  const h = window.podiumE2E;
  const track = h.view.mediaStream.getVideoTracks()[0];
  const el = [...document.querySelectorAll('video')].find((v) => v.srcObject?.getVideoTracks?.()[0] === track);
  const canvas = Object.assign(document.createElement('canvas'), { width: 1, height: 1 });
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const classify = (r, g, b) => {
    if (r > 150 && g < 90 && b < 90) return 'red';
    if (b > 150 && r < 90 && g < 90) return 'blue';
    return 'other';
  };
  const s = { samples: [], stop: false, trackId: track.id, signaling: 0, negotiationNeeded: 0, tracks: 0 };
  const pc = h.view.peerConnection;
  pc.addEventListener('signalingstatechange', () => { s.signaling++; });
  pc.addEventListener('negotiationneeded', () => { s.negotiationNeeded++; });
  pc.addEventListener('track', () => { s.tracks++; });
  const onFrame = (perf, meta) => {
    if (s.stop) return;
    const w = el.videoWidth;
    const hh = el.videoHeight;
    ctx.drawImage(el, Math.floor(w / 2), Math.floor(hh / 2), 1, 1, 0, 0, 1, 1);
    const [r, g, b] = ctx.getImageData(0, 0, 1, 1).data;
    const color = classify(r, g, b);
    s.samples.push({
      wall: Date.now(), perf, presented: meta.presentedFrames, color, ...(color === 'other' ? { rgb: [r, g, b] } : {}),
    });
    el.requestVideoFrameCallback(onFrame);
  };
  el.requestVideoFrameCallback(onFrame);
  window.colorSampler = s;
  return { trackId: track.id, videoWidth: el.videoWidth, videoHeight: el.videoHeight };
}

/** In the page: the sampler's counters and the samples from `since` (Date.now() ms) on. */
function colorSamples({ since = 0 } = {}) {
  const s = window.colorSampler;
  const track = window.podiumE2E.view.mediaStream.getVideoTracks()[0];
  return {
    samples: s.samples.filter((x) => x.wall >= since),
    total: s.samples.length,
    signaling: s.signaling,
    negotiationNeeded: s.negotiationNeeded,
    tracks: s.tracks,
    trackId: track.id,
    sameTrack: track.id === s.trackId,
    trackState: track.readyState,
  };
}

/**
 * Wait until the viewer presents `color` in `run` consecutive frames from `since` on;
 * returns the first sample of that run.
 */
function waitForColor(viewer, color, since, { timeout = 15_000, run = 5, what, pages } = {}) {
  return waitInPage(viewer, ([c, from, n]) => {
    const xs = window.colorSampler.samples;
    let i = xs.findIndex((x) => x.wall >= from);
    if (i < 0) return false;
    for (; i + n <= xs.length; i++) {
      if (xs.slice(i, i + n).every((x) => x.color === c)) return xs[i];
    }
    return false;
  }, [color, since, run], { timeout, what: what ?? `${color} on the viewer`, pages, server: env.server });
}

/** In the page: the main video's inbound-rtp counters (decoding, freezes, keyframe requests). */
async function videoCounters() {
  const h = window.podiumE2E;
  let out = null;
  (await h.view.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.mid === h.view.mids.video) {
      out = {
        framesDecoded: s.framesDecoded, keyFramesDecoded: s.keyFramesDecoded, framesDropped: s.framesDropped,
        freezeCount: s.freezeCount, totalFreezesDuration: s.totalFreezesDuration, pliCount: s.pliCount, firCount: s.firCount,
        nackCount: s.nackCount, packetsLost: s.packetsLost,
      };
    }
  });
  return out;
}

/** Counter differences b − a. */
const delta = (a, b) => Object.fromEntries(Object.keys(b ?? {}).map((k) => [k, Math.round(((b[k] ?? 0) - (a?.[k] ?? 0)) * 1000) / 1000]));

/** Frame timing around a switch: samples from `from` to `to` (Date.now() ms). */
function frameGaps(samples, from, to) {
  const xs = samples.filter((x) => x.wall >= from && x.wall <= to);
  let maxGap = 0;
  let at = null;
  for (let i = 1; i < xs.length; i++) {
    const gap = xs[i].perf - xs[i - 1].perf;
    if (gap > maxGap) {
      maxGap = gap;
      at = xs[i - 1].wall;
    }
  }
  const colors = {};
  for (const x of xs) colors[x.color] = (colors[x.color] ?? 0) + 1;
  return { maxGapMs: Math.round(maxGap), maxGapAt: at, frames: xs.length, colors };
}

/** Colour runs (colour × frames) of samples, e.g. "red×30 other×2 blue×20". */
function runs(samples) {
  const out = [];
  for (const x of samples) {
    const last = out[out.length - 1];
    if (last && last[0] === x.color) last[1]++;
    else out.push([x.color, 1]);
  }
  return out.map(([c, n]) => `${c}×${n}`).join(' ');
}

test('redundant RTMP ingest: priority 2 wins over 1; when 2 stops the viewer keeps decoding 1 (gap < 1 s), no renegotiation', { timeout: 110_000 }, async () => {
  const { server } = env;
  const streamName = uniqueStreamName('red');
  const viewer = await openPage(env.browser, server, 'V');
  const pages = [viewer];
  const key = (priority) => `${server.rtmpUrl}/${streamName}?token=${encodeURIComponent(PUBLISH_TOKEN)}&priority=${priority}`;
  const publish = (priority, color, label) => spawnFfmpeg(
    rtmpPublishArgs(key(priority), { video: picture(color), audio: `sine=frequency=${priority * 440}:sample_rate=48000`, gop: GOP }),
    { label },
  );

  try {
    await withAllDiagnostics(pages, async () => {
      // Priority 1 (blue) alone.
      const p1 = publish(1, 'blue', 'ffmpeg-p1-blue');
      await inPage(viewer, 'startView', { streamName });
      await waitInPage(viewer, () => podiumE2E.hasEvent('active', null), null,
        { what: 'active event for the main source', timeout: 20_000, pages, server });
      await waitInPage(viewer, () => {
        const el = [...document.querySelectorAll('video')].find((v) => v.srcObject?.getVideoTracks?.()[0] === podiumE2E.view.mediaStream.getVideoTracks()[0]);
        return el?.videoWidth > 0;
      }, null, { what: 'the first video frame', timeout: 30_000, pages, server });
      const sampler = await viewer.evaluate(startColorSampler);
      assert.deepEqual([sampler.videoWidth, sampler.videoHeight], [320, 240], 'the RTMP picture size');
      await waitForColor(viewer, 'blue', 0, { what: 'blue (priority 1) on the viewer', pages });

      // Priority 2 (red) starts: the viewer switches to it and stays there while both run.
      const p2Start = Date.now();
      let p2 = publish(2, 'red', 'ffmpeg-p2-red');
      const red = await waitForColor(viewer, 'red', p2Start, { what: 'red (priority 2) after it started', pages });
      await sleep(1500);
      const settled = await viewer.evaluate(colorSamples, { since: red.wall + 300 });
      console.log(`[redundant-ingest] priority 2 shown ${red.wall - p2Start} ms after its ffmpeg was spawned; then ${runs(settled.samples)}`);
      assert.ok(settled.samples.length >= 20, `frames keep coming while both publish (${settled.samples.length})`);
      assert.ok(settled.samples.every((x) => x.color === 'red'), `only red while both publish: ${runs(settled.samples)}`);
      assert.ok(p1.running() && p2.running(), 'both publishers run');
      const negotiatedBefore = await inPage(viewer, 'negotiationState');
      const eventsBefore = (await inPage(viewer, 'snapshot')).events.filter((e) => e.src === 'view').length;

      // Clean stop of 2: its RTMP connection closes, the viewer fails over to 1 at once.
      const countersBeforeStop = await viewer.evaluate(videoCounters);
      const stopAt = Date.now();
      const p2Exit = await p2.stop();
      const blue = await waitForColor(viewer, 'blue', stopAt, { timeout: 10_000, what: 'blue (priority 1) after priority 2 stopped', pages });
      await sleep(1000);
      const around = (await viewer.evaluate(colorSamples, { since: stopAt - 1000 })).samples;
      const gaps = frameGaps(around, stopAt - 1000, blue.wall + 1000);
      const lastRed = around.filter((x) => x.color === 'red' && x.wall <= blue.wall).pop();
      const clean = {
        ...gaps,
        stopToBlueMs: blue.wall - stopAt,
        lastRedToBlueMs: lastRed ? Math.round(blue.perf - lastRed.perf) : null,
        ffmpegExit: p2Exit,
        viewerCounters: delta(countersBeforeStop, await viewer.evaluate(videoCounters)),
      };
      console.log(`[redundant-ingest] clean stop of priority 2: largest gap between presented frames ${clean.maxGapMs} ms, `
        + `last red → first blue ${clean.lastRedToBlueMs} ms, SIGTERM → first blue ${clean.stopToBlueMs} ms; ${JSON.stringify(clean)}`);
      console.log(`[redundant-ingest] frames around the clean stop: ${runs(around.filter((x) => x.wall <= blue.wall + 1000))}`);
      assert.ok(clean.maxGapMs < 1000, `largest gap between presented frames across the failover < 1000 ms (${clean.maxGapMs} ms)`);
      assert.ok(clean.lastRedToBlueMs !== null && clean.lastRedToBlueMs < 1000,
        `last frame of priority 2 → first frame of priority 1 < 1000 ms (${clean.lastRedToBlueMs} ms)`);
      const afterStop = await viewer.evaluate(colorSamples, { since: blue.wall + 300 });
      assert.ok(afterStop.samples.length >= 15 && afterStop.samples.every((x) => x.color === 'blue'),
        `the viewer keeps decoding priority 1: ${runs(afterStop.samples)}`);

      // No renegotiation.
      const negotiatedAfter = await inPage(viewer, 'negotiationState');
      assert.deepEqual(negotiatedAfter.commands, ['view'], 'the viewer sent no command other than the initial view');
      assert.equal(negotiatedAfter.signalingState, 'stable');
      assert.equal(negotiatedAfter.localSdp, negotiatedBefore.localSdp, 'local description unchanged');
      assert.equal(negotiatedAfter.remoteSdp, negotiatedBefore.remoteSdp, 'remote description unchanged');
      assert.deepEqual(negotiatedAfter.transceivers, negotiatedBefore.transceivers, 'transceivers unchanged');
      assert.equal(negotiatedAfter.connectionState, 'connected');
      assert.equal(afterStop.signaling, 0, 'no signalingstatechange since the first frame');
      assert.equal(afterStop.negotiationNeeded, 0, 'no negotiationneeded since the first frame');
      assert.equal(afterStop.tracks, 0, 'no new track event since the first frame');
      assert.ok(afterStop.sameTrack && afterStop.trackState === 'live', 'the same live receiver track keeps delivering');
      const newEvents = (await inPage(viewer, 'snapshot')).events.filter((e) => e.src === 'view').slice(eventsBefore)
        .filter((e) => e.name !== 'viewercount');
      assert.deepEqual(newEvents, [], 'no active/inactive/track event at the failover');

      // Priority 2 again: the viewer returns to red.
      const againStart = Date.now();
      p2 = publish(2, 'red', 'ffmpeg-p2-red-again');
      const redAgain = await waitForColor(viewer, 'red', againStart, { what: 'red after priority 2 published again', pages });
      console.log(`[redundant-ingest] priority 2 published again: red ${redAgain.wall - againStart} ms after its ffmpeg was spawned`);
      await sleep(1500);

      // Measured only: the stall rule (SIGSTOP keeps the TCP connection open and silent).
      const countersBeforeStall = await viewer.evaluate(videoCounters);
      const stallAt = Date.now();
      p2.signal('SIGSTOP');
      const blueAfterStall = await waitForColor(viewer, 'blue', stallAt, { timeout: 10_000, what: 'blue after priority 2 stalled (SIGSTOP)', pages });
      await sleep(500);
      const stallSamples = (await viewer.evaluate(colorSamples, { since: stallAt - 500 })).samples;
      const stall = {
        ...frameGaps(stallSamples, stallAt - 500, blueAfterStall.wall + 500),
        sigstopToBlueMs: blueAfterStall.wall - stallAt,
        viewerCounters: delta(countersBeforeStall, await viewer.evaluate(videoCounters)),
      };
      console.log(`[redundant-ingest] stall of priority 2 (SIGSTOP): blue ${stall.sigstopToBlueMs} ms after SIGSTOP `
        + `(1 s stall rule + priority 1's next keyframe, GOP ${GOP} frames = ${Math.round((GOP / 30) * 1000)} ms); ${JSON.stringify(stall)}`);
      console.log(`[redundant-ingest] frames around the stall: ${runs(stallSamples.filter((x) => x.wall <= blueAfterStall.wall + 500))}`);

      const contAt = Date.now();
      p2.signal('SIGCONT');
      let resume = null;
      try {
        const redResumed = await waitForColor(viewer, 'red', contAt, { timeout: 10_000, what: 'red after SIGCONT', pages });
        resume = redResumed.wall - contAt;
      } catch (err) {
        resume = `not seen: ${err.message.split('\n')[0]}`;
      }
      console.log(`[redundant-ingest] priority 2 resumed (SIGCONT): red after ${JSON.stringify(resume)} ms`);

      const final = await viewer.evaluate(colorSamples, {});
      assert.deepEqual((await inPage(viewer, 'negotiationState')).commands, ['view'], 'still no renegotiation at the end');
      assert.ok(final.sameTrack && final.signaling === 0 && final.tracks === 0, `no renegotiation at the end: ${JSON.stringify({ ...final, samples: undefined })}`);
      await p2.stop();
      await p1.stop();
    });
  } finally {
    await stopAllFfmpeg();
    await Promise.all(pages.map((p) => p.close().catch(() => {})));
  }
});
