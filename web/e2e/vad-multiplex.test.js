// Audio multiplexing (VAD) end to end: four audio-only speakers take turns and the
// viewers' audio slots follow them.
//
// Speakers alice, bob, carol, dave each publish a generated tone (OscillatorNode at
// their own frequency → GainNode → MediaStreamAudioDestinationNode, Opus DTX on).
// Their gains are switched on a shared wall-clock schedule (Date.now(): all pages
// live in one browser process), one speaker at a time:
//   alice 0–2 s, bob 2.5–4.5 s, carol 5–7 s, dave 7.5–9.5 s.
// No main source exists, so the viewers' main transceivers stay empty.
//
// Viewer "V3" views with 3 slots and excludes carol (the spaces-app set-up): every
// speaker lands in an empty slot of its own. Viewer "V1" has a single slot, also
// excluding carol, so each new speaker must *switch* that slot — this is the case that
// shows whether switching upsets the receiver's jitter buffer.
//
// Asserted: vad events name alice, bob, dave in that order and never carol; while a
// speaker talks, the slot carrying it has clearly non-zero energy (inbound-rtp
// totalAudioEnergy delta), the speaker's frequency and a level > 0.01, while every other
// slot is near silent; while carol talks every slot is near silent; unpublishing a
// speaker empties its slot (vad without sourceId).
// Recorded (console.log only): per speaker and viewer the time from gain-up to the vad
// event and to an audible slot, the packets of each talk spurt that reached the slot versus
// those the speaker sent (a shortfall = dropped speech onset), the speakers' packet rate
// while silent (DTX), and the slots' concealment / jitter-buffer figures at the end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServerAndBrowser, openPage, inPage, waitInPage, withDiagnostics, uniqueStreamName, PUBLISH_TOKEN, sleep,
} from './helpers.js';

const SPEAKERS = [
  { id: 'alice', frequency: 330, from: 0, to: 2000 },
  { id: 'bob', frequency: 550, from: 2500, to: 4500 },
  { id: 'carol', frequency: 770, from: 5000, to: 7000 },
  { id: 'dave', frequency: 990, from: 7500, to: 9500 },
];
const EXCLUDED = 'carol';
/** Part of each talk spurt that is checked, relative to its start (the slot switch and
 *  the jitter buffer settle within the first few hundred ms). */
const CHECK_FROM_MS = 800;
const CHECK_TO_MS = 1600;
/** Energy (inbound-rtp totalAudioEnergy delta over the check window) of a talking slot:
 *  a 0.3-amplitude tone gives about 0.09 per second (0.07 per window); digital silence ~1e-9. */
const TALKING_ENERGY = 5e-3;
const SILENT_ENERGY = 5e-4;

const env = useServerAndBrowser();

/** The sample of `samples` taken closest to wall time `t`. */
function sampleAt(samples, t) {
  let best = null;
  for (const s of samples) if (!best || Math.abs(s.wall - t) < Math.abs(best.wall - t)) best = s;
  return best;
}

/** Per slot mid: totalAudioEnergy gained between wall times a and b. */
function energyBetween(samples, mids, a, b) {
  const sa = sampleAt(samples, a);
  const sb = sampleAt(samples, b);
  const out = {};
  for (const mid of mids) {
    out[mid] = (sb?.inbound[mid]?.totalAudioEnergy ?? 0) - (sa?.inbound[mid]?.totalAudioEnergy ?? 0);
  }
  return out;
}

const fmt = (x) => (typeof x === 'number' ? Number(x.toPrecision(3)) : x);
const fmtObj = (o) => JSON.stringify(Object.fromEntries(Object.entries(o).map(([k, v]) => [k, fmt(v)])));

/**
 * Check one viewer's slot samples against the talk schedule; returns a per-speaker report.
 * @param {string} label viewer label for messages
 * @param {object[]} samples startSlotMonitor samples
 * @param {string[]} mids the viewer's slot mids
 * @param {Object<string, number>} upAt speaker id → wall time its gain went up
 * @param {Object<string, object[]>} sentBySpeaker speaker id → its talkSent() notes
 */
function checkTalkSpurts(label, samples, mids, upAt, sentBySpeaker) {
  const report = {};
  for (const sp of SPEAKERS) {
    const a = upAt[sp.id] + CHECK_FROM_MS;
    const b = upAt[sp.id] + CHECK_TO_MS;
    const energy = energyBetween(samples, mids, a, b);
    const window = samples.filter((s) => s.wall >= a && s.wall <= b);
    assert.ok(window.length >= 5, `${label}: too few slot samples (${window.length}) in ${sp.id}'s check window — is the page starved?`);
    const carriers = new Set(window.map((s) => Object.keys(s.slots).find((mid) => s.slots[mid] === sp.id)).filter(Boolean));
    const ctx = () => `${label}, ${sp.id} talking (${sp.frequency} Hz): energy per slot ${fmtObj(energy)}; slots during window ${JSON.stringify(window[0].slots)} → ${JSON.stringify(window.at(-1).slots)}; levels ${JSON.stringify(window.map((s) => s.levels).filter((_, i) => i % 4 === 0))}; freqs ${JSON.stringify(window.map((s) => s.freq).filter((_, i) => i % 4 === 0))}`;
    if (sp.id === EXCLUDED) {
      assert.equal(carriers.size, 0, `excluded ${sp.id} must never be in a slot. ${ctx()}`);
      for (const mid of mids) {
        assert.ok(energy[mid] < SILENT_ENERGY, `slot ${mid} must be silent while only the excluded ${sp.id} talks. ${ctx()}`);
      }
      report[sp.id] = { energy };
      continue;
    }
    assert.equal(carriers.size, 1, `exactly one slot must carry ${sp.id} throughout its check window (got ${[...carriers]}). ${ctx()}`);
    const [mid] = carriers;
    assert.ok(energy[mid] > TALKING_ENERGY, `slot ${mid} carrying ${sp.id} must have clearly non-zero energy (> ${TALKING_ENERGY}). ${ctx()}`);
    for (const other of mids.filter((m) => m !== mid)) {
      assert.ok(energy[other] < Math.min(SILENT_ENERGY, energy[mid] / 20),
        `slot ${other} must be near silent while ${sp.id} talks in slot ${mid}. ${ctx()}`);
    }
    const loud = window.filter((s) => (s.levels[mid] ?? 0) > 0.01).length;
    assert.ok(loud >= window.length * 0.8, `slot ${mid} level must be > 0.01 while ${sp.id} talks (${loud}/${window.length} samples). ${ctx()}`);
    const rightTone = window.filter((s) => s.freq[mid] !== null && Math.abs(s.freq[mid] - sp.frequency) <= 30).length;
    assert.ok(rightTone >= window.length * 0.8,
      `slot ${mid} must play ${sp.id}'s ${sp.frequency} Hz tone (${rightTone}/${window.length} samples). ${ctx()}`);
    // First sample after gain-up where the carrying slot is audible (level > 0.01).
    const firstLoud = samples.find((s) => s.wall >= upAt[sp.id] && s.slots[mid] === sp.id && (s.levels[mid] ?? 0) > 0.01);
    // Packets of this talk spurt that reached the slot, to compare with what the speaker sent.
    const [on, off] = sentBySpeaker[sp.id] ?? [];
    const packetsIn = (t) => sampleAt(samples, t)?.inbound[mid]?.packetsReceived ?? 0;
    const received = on && off ? packetsIn(off.wall) - packetsIn(on.wall) : null;
    const sent = on && off ? off.packetsSent - on.packetsSent : null;
    report[sp.id] = { mid, energy, upToAudibleMs: firstLoud ? firstLoud.wall - upAt[sp.id] : null, sent, received };
  }
  return report;
}

test('vad multiplexing: slots follow four speakers taking turns, excluded speaker never appears', { timeout: 180_000 }, async () => {
  const streamName = uniqueStreamName('vad');
  const speakers = [];
  for (const sp of SPEAKERS) speakers.push({ ...sp, page: await openPage(env.browser, env.server, `P-${sp.id}`) });
  const v3 = await openPage(env.browser, env.server, 'V3-slots');
  const v1 = await openPage(env.browser, env.server, 'V1-slot');
  const viewers = [{ page: v3, label: 'V3', slots: 3 }, { page: v1, label: 'V1', slots: 1 }];
  const pages = [...speakers.map((s) => s.page), v3, v1];

  await withDiagnostics(pages, env.server, async () => {
    // Speakers publish silence first (gain 0); DTX must be negotiated.
    for (const sp of speakers) {
      const res = await inPage(sp.page, 'publishTone', { streamName, token: PUBLISH_TOKEN, sourceId: sp.id, frequency: sp.frequency, dtx: true });
      assert.equal(res.audioContextState, 'running', `${sp.id}: AudioContext must run (autoplay policy flag)`);
      assert.ok(res.answerHasDtx, `${sp.id}: the server's answer must carry usedtx=1 when the offer has it`);
    }

    for (const v of viewers) {
      const { mids } = await inPage(v.page, 'startView', { streamName, multiplexedAudioTracks: v.slots, excludedSourceIds: [EXCLUDED] });
      assert.equal(mids.multiplexed.length, v.slots, `${v.label}: ${v.slots} slot mids`);
      v.mids = mids.multiplexed;
      await waitInPage(v.page, () => podiumE2E.view?.connectionState === 'connected', null,
        { what: `${v.label} connected`, pages, server: env.server });
      await waitInPage(v.page, (n) => podiumE2E.view.slotTracks.size === n, v.slots,
        { what: `${v.label}: a track for each of its ${v.slots} slots`, pages, server: env.server });
      // Each slot is an msid stream of its own, apart from the main one (the ids are random
      // per view: see stream-ids.test.js).
      const answer = (await inPage(v.page, 'negotiationState')).remoteSdp;
      const msidStream = (mid) => {
        const section = answer.split(/\r?\nm=/).find((m) => new RegExp(`\\r?\\na=mid:${mid}\\r?\\n`).test(`\n${m}\n`));
        return /^a=msid:(\S+) \S+\r?$/m.exec(section ?? '')?.[1] ?? null;
      };
      const mainStream = msidStream(mids.audio);
      const slotStreams = v.mids.map(msidStream);
      assert.ok(mainStream && slotStreams.every(Boolean), `${v.label}: an msid stream for the main audio and every slot (${mainStream}, ${slotStreams})`);
      assert.equal(new Set([mainStream, ...slotStreams]).size, v.slots + 1,
        `${v.label}: each slot ${v.mids} its own msid stream, apart from the main one (${mainStream}, ${slotStreams})`);
      await inPage(v.page, 'startSlotMonitor', { intervalMs: 25 });
    }

    // DTX at work: packets sent by a silent speaker over one second.
    const silentBefore = await Promise.all(speakers.map((sp) => inPage(sp.page, 'outboundAudio')));
    await sleep(1000);
    const silentAfter = await Promise.all(speakers.map((sp) => inPage(sp.page, 'outboundAudio')));
    const silentRates = Object.fromEntries(speakers.map((sp, i) => [sp.id,
      Math.round(((silentAfter[i].packetsSent - silentBefore[i].packetsSent) * 1000) / (silentAfter[i].wall - silentBefore[i].wall))]));
    console.log(`[vad-multiplex] packets/s sent while silent (DTX): ${JSON.stringify(silentRates)}`);

    // Nobody has spoken yet: no slot may have been assigned.
    for (const v of viewers) {
      const early = (await inPage(v.page, 'snapshot')).events.filter((e) => e.name === 'vad');
      assert.deepEqual(early, [], `${v.label}: no vad event before anyone speaks`);
    }

    // Shared schedule, relative to a common start a little in the future.
    const t0 = Date.now() + 1000;
    await Promise.all(speakers.map((sp) => inPage(sp.page, 'scheduleTalk', [[t0 + sp.from, t0 + sp.to]])));
    const end = t0 + SPEAKERS.at(-1).to;
    await sleep(end - Date.now() + 1500);

    const upAt = {};
    const sentBySpeaker = {};
    for (const sp of speakers) {
      sentBySpeaker[sp.id] = await inPage(sp.page, 'talkSent');
      const log = await inPage(sp.page, 'talkLog');
      const up = log.find((l) => l.on);
      assert.ok(up, `${sp.id}: gain never went up (${JSON.stringify(log)})`);
      upAt[sp.id] = up.wall;
      const lateMs = up.wall - (t0 + sp.from);
      assert.ok(lateMs < 200, `${sp.id}: gain went up ${lateMs} ms late — page timers starved?`);
    }

    const results = {};
    for (const v of viewers) {
      const samples = await inPage(v.page, 'stopSlotMonitor');
      const snap = await inPage(v.page, 'snapshot');
      const vads = snap.events.filter((e) => e.name === 'vad');
      const named = vads.map((e) => e.data?.sourceId);
      const order = [...new Set(named)];
      assert.ok(!named.includes(EXCLUDED), `${v.label}: excluded ${EXCLUDED} must never be named in a vad event: ${JSON.stringify(vads.map((e) => e.data))}`);
      assert.deepEqual(order, ['alice', 'bob', 'dave'],
        `${v.label}: vad events must name alice, bob, dave in that order: ${JSON.stringify(vads.map((e) => ({ ...e.data, atMs: e.wall - t0 })))}`);
      for (const e of vads) {
        assert.ok(v.mids.includes(e.data.mediaId), `${v.label}: vad mediaId ${e.data.mediaId} is one of the slot mids ${v.mids}`);
      }
      if (v.slots >= 3) {
        // Enough slots for everyone: each speaker gets its own slot, no switching at all.
        assert.equal(vads.length, 3, `${v.label}: one vad event per eligible speaker: ${JSON.stringify(vads.map((e) => e.data))}`);
        assert.equal(new Set(vads.map((e) => e.data.mediaId)).size, 3, `${v.label}: three different slots`);
      }
      const vadAt = {};
      for (const e of vads) if (!(e.data.sourceId in vadAt)) vadAt[e.data.sourceId] = e.wall;
      const spurts = checkTalkSpurts(v.label, samples, v.mids, upAt, sentBySpeaker);
      const jitter = await inPage(v.page, 'slotJitterStats');
      results[v.label] = { vadAt, spurts, jitter, samples: samples.length };
    }

    // Report timings and jitter-buffer figures (no assertions).
    for (const [label, r] of Object.entries(results)) {
      const switchMs = Object.fromEntries(['alice', 'bob', 'dave'].map((id) => [id, r.vadAt[id] - upAt[id]]));
      const audibleMs = Object.fromEntries(Object.entries(r.spurts).filter(([, s]) => s.mid).map(([id, s]) => [id, s.upToAudibleMs]));
      const forwarded = Object.fromEntries(Object.entries(r.spurts).filter(([, s]) => s.mid).map(([id, s]) => [id, `${s.received}/${s.sent}`]));
      console.log(`[vad-multiplex] ${label}: gain-up → vad event (ms): ${JSON.stringify(switchMs)}; gain-up → slot level > 0.01 (ms, 25 ms sampling): ${JSON.stringify(audibleMs)}; `
        + `packets of each spurt received in the slot / sent by the speaker (±2, stats timing): ${JSON.stringify(forwarded)}`);
      console.log(`[vad-multiplex] ${label}: slot carrying each speaker: ${JSON.stringify(Object.fromEntries(Object.entries(r.spurts).map(([id, s]) => [id, s.mid ?? '-'])))}; energy in check windows: ${JSON.stringify(Object.fromEntries(Object.entries(r.spurts).map(([id, s]) => [id, JSON.parse(fmtObj(s.energy))])))}`);
      for (const [mid, s] of Object.entries(r.jitter)) {
        const avgMs = s.jitterBufferEmittedCount ? (1000 * s.jitterBufferDelay) / s.jitterBufferEmittedCount : null;
        const targetMs = s.jitterBufferEmittedCount ? (1000 * s.jitterBufferTargetDelay) / s.jitterBufferEmittedCount : null;
        console.log(`[vad-multiplex] ${label} slot ${mid}: packets ${s.packetsReceived} lost ${s.packetsLost} discarded ${s.packetsDiscarded}; `
          + `concealedSamples ${s.concealedSamples} (silent ${s.silentConcealedSamples}) of ${s.totalSamplesReceived}, concealmentEvents ${s.concealmentEvents}; `
          + `jitterBufferDelay/EmittedCount ${fmt(avgMs)} ms (target ${fmt(targetMs)} ms); inserted ${s.insertedSamplesForDeceleration} removed ${s.removedSamplesForAcceleration}; jitter ${s.jitter}`);
      }
    }

    // Unpublishing a speaker empties its slot: vad {mediaId} without sourceId.
    await inPage(speakers.find((s) => s.id === 'dave').page, 'stopPublish');
    for (const v of viewers) {
      const mid = results[v.label].spurts.dave.mid;
      const emptied = await waitInPage(v.page, (m) => {
        const e = podiumE2E.events.find((x) => x.name === 'vad' && x.data?.mediaId === m && !('sourceId' in x.data));
        return e ? { slot: podiumE2E.view.slots.has(m) ? (podiumE2E.view.slots.get(m) ?? '(empty)') : '(no such slot)' } : null;
      }, mid, { what: `${v.label}: vad {mediaId: "${mid}"} without sourceId after alice unpublished`, timeout: 20_000, pages, server: env.server });
      if (v.slots >= 3) {
        assert.equal(emptied.slot, '(empty)', `${v.label}: view.slots marks slot ${mid} empty`);
      }
    }
  });

  await Promise.all(pages.map((p) => p.close()));
});
