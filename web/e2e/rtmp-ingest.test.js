// RTMP ingest seen from the browser: ffmpeg publishes a test pattern (H.264) and a 440 Hz sine
// (AAC) over RTMP; a Millicast-protocol viewer (the page harness over podium.js) decodes the
// video (640x360, frames advancing) and hears the tone (the server transcodes AAC to Opus:
// energy in the stats, RMS and the 440 Hz peak through a WebAudio AnalyserNode). A WebRTC
// publisher joins the same stream as source "guest" and the viewer gets `active` for both
// sources. A second RTMP publisher with a wrong token is refused (ffmpeg prints the server's
// reason and exits non-zero) while the first keeps streaming to the viewer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServerAndBrowser, openPage, inPage, waitInPage, withDiagnostics, uniqueStreamName, PUBLISH_TOKEN, sleep,
  spawnFfmpeg, rtmpPublishArgs, stopAllFfmpeg, ffmpegDiagnostics,
} from './helpers.js';

const env = useServerAndBrowser({ teardown: stopAllFfmpeg });

/** withDiagnostics plus every ffmpeg's exit status and stderr tail. */
async function withAllDiagnostics(pages, fn) {
  try {
    return await withDiagnostics(pages, env.server, fn);
  } catch (err) {
    err.message += `\n${ffmpegDiagnostics()}`;
    throw err;
  }
}

const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');

/** In the page: size of the element playing the viewer's main video, and its inbound stats. */
async function videoState() {
  const h = window.podiumE2E;
  const track = h.view.mediaStream.getVideoTracks()[0];
  const el = [...document.querySelectorAll('video')].find((v) => v.srcObject?.getVideoTracks?.()[0] === track);
  const { video, audio } = await h.mainInbound();
  return {
    videoWidth: el?.videoWidth ?? null,
    videoHeight: el?.videoHeight ?? null,
    framesDecoded: video?.framesDecoded ?? 0,
    frameWidth: video?.frameWidth ?? null,
    frameHeight: video?.frameHeight ?? null,
    keyFramesDecoded: video?.keyFramesDecoded ?? 0,
    totalAudioEnergy: audio?.totalAudioEnergy ?? 0,
    audioPackets: audio?.packetsReceived ?? 0,
    codec: video?.codecId ? (await h.view.getStats()).get(video.codecId)?.mimeType ?? null : null,
  };
}

/** In the page: an AnalyserNode on the viewer's main audio track; window.readAudioProbe() reads it. */
async function startAudioProbe() {
  const track = window.podiumE2E.view.mediaStream.getAudioTracks()[0];
  const ctx = new AudioContext();
  await ctx.resume();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 4096;
  analyser.smoothingTimeConstant = 0;
  ctx.createMediaStreamSource(new MediaStream([track])).connect(analyser);
  const time = new Float32Array(analyser.fftSize);
  const freq = new Float32Array(analyser.frequencyBinCount);
  window.readAudioProbe = () => {
    analyser.getFloatTimeDomainData(time);
    let sum = 0;
    for (const x of time) sum += x * x;
    analyser.getFloatFrequencyData(freq);
    let best = 1;
    for (let i = 2; i < freq.length; i++) if (freq[i] > freq[best]) best = i;
    return {
      rms: Math.sqrt(sum / time.length),
      peakHz: Math.round((best * ctx.sampleRate) / analyser.fftSize),
      peakDb: Math.round(freq[best]),
      state: ctx.state,
    };
  };
  return ctx.state;
}

test('ffmpeg over RTMP → WebRTC viewer: video and audio decoded, a WebRTC guest source joins, a bad token is refused', { timeout: 110_000 }, async () => {
  const { server } = env;
  const streamName = uniqueStreamName('rtmp');
  const viewer = await openPage(env.browser, server, 'V');
  const guest = await openPage(env.browser, server, 'P-guest');
  const pages = [viewer, guest];
  const rtmpKey = (token) => `${server.rtmpUrl}/${streamName}?token=${encodeURIComponent(token)}`;

  try {
    await withAllDiagnostics(pages, async () => {
      const main = spawnFfmpeg(rtmpPublishArgs(rtmpKey(PUBLISH_TOKEN)), { label: 'ffmpeg-main' });
      await inPage(viewer, 'startView', { streamName });
      await waitInPage(viewer, () => podiumE2E.hasEvent('active', null), null,
        { what: 'active event for the RTMP main source', timeout: 20_000, pages, server });
      await waitInPage(viewer, () => podiumE2E.timing.firstFrame !== null, null,
        { what: 'first decoded frame of the RTMP source', timeout: 30_000, pages, server });
      await waitInPage(viewer, () => {
        const el = [...document.querySelectorAll('video')].find((v) => v.srcObject?.getVideoTracks?.()[0] === podiumE2E.view.mediaStream.getVideoTracks()[0]);
        return el?.videoWidth > 0;
      }, null, { what: 'the video element has a size', timeout: 10_000, pages, server });

      // Video: H.264 passed through, 640x360, frames advancing.
      const v1 = await viewer.evaluate(videoState);
      await sleep(1000);
      const v2 = await viewer.evaluate(videoState);
      console.log(`[rtmp-ingest] viewer video: ${JSON.stringify(v2)}; timings ${JSON.stringify(await inPage(viewer, 'viewTimings'))}`);
      assert.equal(v2.codec, 'video/H264', 'the viewer receives H.264');
      assert.equal(v2.videoWidth, 640, 'videoWidth of the RTMP picture');
      assert.equal(v2.videoHeight, 360, 'videoHeight of the RTMP picture');
      assert.equal(v2.frameWidth, 640, 'inbound-rtp frameWidth');
      assert.ok(v2.framesDecoded >= v1.framesDecoded + 10,
        `frames decoded advance at about 30/s (${v1.framesDecoded} -> ${v2.framesDecoded} in 1 s)`);

      // Audio: AAC transcoded to Opus; energy in the stats, the tone in an AnalyserNode.
      await waitInPage(viewer, () => podiumE2E.timing.firstAudible !== null, null,
        { what: 'audible energy (totalAudioEnergy) of the RTMP audio', timeout: 20_000, pages, server });
      assert.equal(await viewer.evaluate(startAudioProbe), 'running', 'AudioContext running');
      const tone = await waitInPage(viewer, () => {
        const a = window.readAudioProbe();
        return a.rms > 0.01 && Math.abs(a.peakHz - 440) <= 30 ? a : false;
      }, null, { what: 'the 440 Hz tone (RMS > 0.01, spectral peak 440 ± 30 Hz) in an AnalyserNode', timeout: 15_000, pages, server });
      console.log(`[rtmp-ingest] viewer audio: ${JSON.stringify(tone)}, totalAudioEnergy ${v2.totalAudioEnergy}`);

      // A WebRTC publisher joins the stream as source "guest".
      await inPage(guest, 'publish', { streamName, token: PUBLISH_TOKEN, sourceId: 'guest' });
      await waitInPage(viewer, () => podiumE2E.hasEvent('active', 'guest'), null,
        { what: 'active event for the WebRTC source "guest"', timeout: 20_000, pages, server });
      const sources = (await inPage(viewer, 'snapshot')).events
        .filter((e) => e.src === 'view' && e.name === 'active').map((e) => e.data?.sourceId ?? null);
      assert.deepEqual([...new Set(sources)].sort(), ['guest', null].sort(), `active for both sources: ${JSON.stringify(sources)}`);

      // A second RTMP publisher with a wrong token: refused with the server's reason.
      const before = await viewer.evaluate(videoState);
      const badStart = Date.now();
      const bad = spawnFfmpeg(rtmpPublishArgs(rtmpKey('not-the-token')), { label: 'ffmpeg-bad-token' });
      const status = await bad.exitedWithin(15_000);
      const badExitMs = Date.now() - badStart;
      assert.ok(status, 'the refused ffmpeg exits within 15 s');
      assert.ok(status.code !== 0 && status.code !== null, `the refused ffmpeg exits non-zero (${JSON.stringify(status)})`);
      assert.match(bad.stderr(), /Server error: Unauthorized: Invalid token/, 'ffmpeg prints the server\'s reason');
      assert.match(stripAnsi(server.logs()), /RTMP publish refused: Unauthorized: Invalid token/, 'the server logs the refusal');

      // … while the first one keeps streaming to the viewer.
      await sleep(1500);
      const after = await viewer.evaluate(videoState);
      console.log(`[rtmp-ingest] refused ffmpeg: ${JSON.stringify(status)} after ${badExitMs} ms, "${bad.stderr().match(/Server error: .*/)?.[0]}"; viewer frames ${before.framesDecoded} -> ${after.framesDecoded}, audio energy ${before.totalAudioEnergy.toFixed(3)} -> ${after.totalAudioEnergy.toFixed(3)}`);
      assert.ok(main.running(), `the first ffmpeg still runs (${JSON.stringify(main.status())})`);
      assert.ok(after.framesDecoded >= before.framesDecoded + 20,
        `the viewer keeps decoding the first publisher (${before.framesDecoded} -> ${after.framesDecoded})`);
      assert.equal(after.frameWidth, 640, 'still the RTMP picture');
      assert.ok(after.totalAudioEnergy > before.totalAudioEnergy, 'audio energy keeps growing');
      const lost = (await inPage(viewer, 'snapshot')).events.filter((e) => e.src === 'view' && (e.name === 'inactive' || e.name === 'stopped'));
      assert.deepEqual(lost, [], 'no inactive/stopped event');

      await inPage(guest, 'stopPublish');
      await main.stop();
    });
  } finally {
    await stopAllFfmpeg();
    await Promise.all(pages.map((p) => p.close().catch(() => {})));
  }
});
