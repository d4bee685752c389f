// Every view gets media stream and track ids of its own (issue 11), as from browsers and
// Millicast. The Millicast Spaces app keys an <audio> element by remote stream id, skips a
// stream whose id is already an element id in the page and keeps the previous room's
// elements: with fixed ids (podium-main, podium-slot-N) nobody was heard in the second room
// of a browser session.
//
// One page opens two views of stream A and one of stream B, each with two audio slots, and
// afterwards (the others stopped, their elements kept) a view of stream C: the next room.
// Asserted, from the answers' a=msid lines and the MediaStreams of the `track` events:
// within a view main video and audio share one stream and each slot is a stream of its own;
// no stream or track id is shared between views; an app that keys elements by stream id
// (as Spaces does) never skips a stream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServerAndBrowser, openPage, waitInPage, withDiagnostics, uniqueStreamName,
} from './helpers.js';

const SLOTS = 2;

const env = useServerAndBrowser();

/**
 * Start a view of `streamName` in the page, kept as `window.streamIds[label]`. Its `track`
 * events are recorded, and each event's streams get an element with id = stream id, unless
 * the page has one already (the Spaces app's rule): then the stream is noted as skipped when
 * that element belongs to another view.
 * @returns {Promise<{mids: object, answer: string}>}
 */
function startView(page, label, streamName) {
  return page.evaluate(async ([viewLabel, name, slots]) => {
    const { View } = await import('/podium.js');
    window.streamIds ??= {};
    const view = new View({ endpoint: location.origin, streamName: name });
    const rec = { view, tracks: [], skipped: [] };
    window.streamIds[viewLabel] = rec;
    view.addEventListener('track', (e) => {
      const { kind, mid, main, streams } = e.detail;
      rec.tracks.push({ kind, mid, main, streams: streams.map((s) => s.id) });
      for (const stream of streams) {
        const existing = document.getElementById(stream.id);
        if (existing) {
          if (existing.dataset.view !== viewLabel) rec.skipped.push({ mid, stream: stream.id, of: existing.dataset.view });
          continue;
        }
        const el = document.createElement('audio');
        el.id = stream.id;
        el.dataset.view = viewLabel;
        el.muted = true;
        el.srcObject = stream;
        document.body.append(el);
      }
    });
    await view.connect({ multiplexedAudioTracks: slots });
    return { mids: view.mids, answer: view.peerConnection.remoteDescription.sdp };
  }, [label, streamName, SLOTS]);
}

/** The `a=msid` stream and track id of each mid of an answer: {mid: {stream, track}}. */
function answerMsids(answer) {
  const out = {};
  for (const section of answer.split(/\r?\nm=/).slice(1)) {
    const mid = /^a=mid:(\S+)\r?$/m.exec(section)?.[1];
    const msid = /^a=msid:(\S+) (\S+)\r?$/m.exec(section);
    if (mid && msid) out[mid] = { stream: msid[1], track: msid[2] };
  }
  return out;
}

/** Wait until view `label` is connected with a track event for all its m-lines; returns them. */
async function connectedTracks(page, label, count, pages) {
  await waitInPage(page, ([l, n]) => {
    const rec = window.streamIds?.[l];
    return rec?.view.connectionState === 'connected' && rec.tracks.length === n;
  }, [label, count], { what: `view ${label} connected with ${count} track events`, pages, server: env.server });
  return page.evaluate((l) => ({ tracks: window.streamIds[l].tracks, skipped: window.streamIds[l].skipped }), label);
}

/**
 * Check one view: main video and audio in one stream, each slot a stream of its own, the
 * track events' streams as in the answer. Returns the view's stream ids and track ids.
 */
function checkView(label, { mids, answer }, { tracks, skipped }) {
  const msids = answerMsids(answer);
  const ctx = `view ${label}: msids ${JSON.stringify(msids)}, track events ${JSON.stringify(tracks)}`;
  assert.equal(mids.multiplexed.length, SLOTS, ctx);
  const allMids = [mids.video, mids.audio, ...mids.multiplexed];
  for (const mid of allMids) {
    assert.ok(msids[mid], `${label}: an a=msid for mid ${mid}. ${ctx}`);
    const events = tracks.filter((t) => t.mid === mid);
    assert.equal(events.length, 1, `${label}: one track event for mid ${mid}. ${ctx}`);
    assert.deepEqual(events[0].streams, [msids[mid].stream], `${label}: the track of mid ${mid} is in the answer's stream. ${ctx}`);
  }
  const main = msids[mids.video].stream;
  assert.equal(msids[mids.audio].stream, main, `${label}: main video and audio share one stream. ${ctx}`);
  const slotStreams = mids.multiplexed.map((mid) => msids[mid].stream);
  assert.equal(new Set([main, ...slotStreams]).size, SLOTS + 1, `${label}: each slot a stream of its own, apart from the main one. ${ctx}`);
  const trackIds = allMids.map((mid) => msids[mid].track);
  assert.equal(new Set(trackIds).size, allMids.length, `${label}: a track id per m-line. ${ctx}`);
  assert.deepEqual(skipped, [], `${label}: no stream skipped for an element id already in the page. ${ctx}`);
  return { streams: [main, ...slotStreams], tracks: trackIds };
}

test('every view has stream and track ids of its own; main audio+video share a stream', { timeout: 120_000 }, async () => {
  const streamA = uniqueStreamName('ids-a');
  const streamB = uniqueStreamName('ids-b');
  const streamC = uniqueStreamName('ids-c');
  const page = await openPage(env.browser, env.server, 'V-ids');
  const pages = [page];

  await withDiagnostics(pages, env.server, async () => {
    const views = [['A1', streamA], ['A2', streamA], ['B', streamB]];
    const started = {};
    for (const [label, name] of views) started[label] = await startView(page, label, name);
    const ids = {};
    for (const [label] of views) {
      ids[label] = checkView(label, started[label], await connectedTracks(page, label, 2 + SLOTS, pages));
    }

    // The next room: the views end, their elements stay in the page (as in the Spaces app).
    await page.evaluate(() => { for (const rec of Object.values(window.streamIds)) rec.view.stop(); });
    started.C = await startView(page, 'C', streamC);
    ids.C = checkView('C', started.C, await connectedTracks(page, 'C', 2 + SLOTS, pages));

    const owner = { streams: new Map(), tracks: new Map() };
    for (const [label, { streams, tracks }] of Object.entries(ids)) {
      for (const [kind, list] of [['streams', streams], ['tracks', tracks]]) {
        for (const id of list) {
          assert.ok(!owner[kind].has(id), `${kind.slice(0, -1)} id ${id} of views ${owner[kind].get(id)} and ${label}: ${JSON.stringify(ids)}`);
          owner[kind].set(id, label);
        }
      }
    }
    console.log(`[stream-ids] ${JSON.stringify(ids)}`);
    await page.evaluate(() => window.streamIds.C.view.stop());
  });

  await page.close();
});
