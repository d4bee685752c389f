// Cluster drain (issue 15): three `podium serve --cluster` nodes on 127.0.0.1/.2/.3 sharing a
// private redis-server, with `--origin-max-viewers 0` (every viewer on an edge) and
// `--drain-grace 4`. A publisher (official SDK, fake camera + mic) goes through node 1's
// Director; two viewers end up on the same edge E:
//   A: Podium's own library (web/podium.js through window.podiumE2E.startView, unmodified:
//      autoMigrate on), which acts on `migrate` by itself, make-before-break;
//   B: the OFFICIAL Millicast JS SDK's View (npm @millicast/sdk, unmodified), which does not
//      act on `migrate` (0.6.1 listens for it on its Signaling object, which only ever emits
//      `broadcastEvent`).
// Then E is drained (POST /api/admin/cluster/drain {"drain": true} on E, admin Bearer):
//   (1) A hears `migrate`, opens a second connection through the Director on a live node
//       other than E (a first try that a Director still sent to E is dropped by podium.js and
//       the Director asked again), fires `migrated` before the grace runs out (before E ends
//       its sessions, and A's old WebSocket is closed by the library), and its main video keeps
//       being decoded (the longest interval without a new decoded frame around the move is
//       printed, framesDecoded restarting at 0 on the new RTCPeerConnection accounted for);
//   (2) B hears the `migrate` broadcastEvent, is disconnected by E when the grace is over
//       (WebSocket close reason "This node is draining: reconnect"), reconnects by itself
//       through the Director to a node other than E and decodes again (the gap disconnect →
//       frames again and what set off the SDK's reconnect are printed);
//   (3) GET /api/admin/cluster lists E as draining, and Director subscribe calls to every
//       live node (E's own included) never return E's URL, once the listing says draining
//       and again after the grace; E's node record ends with no viewers.
// Timings are printed (`[cluster-drain] …` lines), never asserted.
//
// The pages of A use this working copy's web/podium.js (routed from disk): the binary serves
// the copy embedded at build time, which may predate View.replaceConnection().
//
// Run alone:  cd web && node --test --test-concurrency=1 e2e/cluster-drain.test.js
// Debug:      PODIUM_E2E_VERBOSE=1 PODIUM_LOG=info,podium_server=debug (server output of all
//             nodes interleaved); PODIUM_E2E_CLUSTER_DUMP=1 writes every node's whole log to
//             web/test-results/. On failure the message carries page events, Director calls,
//             WebSocket frames, stats samples, the SDK log, each node's output tail and the
//             cluster status (times relative to the drain request); a full dump goes to
//             web/test-results/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  uniqueStreamName, PUBLISH_TOKEN, sleep, launchBrowser, adminRequest,
} from './helpers.js';
import { SDK_PKG } from './sdk-page.js';
import { clusterStatus, startCluster } from './cluster-helpers.js';
import {
  ACCOUNT_ID, WAIT, installWsRecorder, openClusterPage, call, waitIn, nodeByHost, withClusterDiagnostics,
  triggerOf, timeline, mediaMilestones, wsEndings, truncate,
} from './cluster-page.js';

/** --drain-grace (seconds). */
const GRACE_S = 4;
/** Placements of viewer B tried before giving up on getting it onto A's edge. */
const B_ATTEMPTS = 10;
const LOG = '[cluster-drain]';

let browser;
before(async () => {
  browser = await launchBrowser();
  // Record every WebSocket frame in every page (installed before any page script).
  await browser.context.addInitScript(installWsRecorder);
});
after(async () => {
  await browser?.close();
});

/** The `ip:port` of a URL (http or ws). */
const hostOf = (url) => new URL(url).host;

/** `rounds` Director subscribe calls to each live node: [{via, host, node, status, error}]. */
async function directorPlacements(cluster, streamName, rounds) {
  const out = [];
  for (let round = 0; round < rounds; round++) {
    for (const node of cluster.nodes.filter((n) => !n.killed())) {
      const entry = { via: node.name };
      try {
        const res = await fetch(`${node.url}/api/director/subscribe`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ streamName, streamAccountId: ACCOUNT_ID }),
          signal: AbortSignal.timeout(10_000),
        });
        entry.status = res.status;
        const body = await res.json().catch(() => null);
        const url = body?.data?.urls?.[0];
        if (url) {
          entry.host = hostOf(url);
          entry.node = nodeByHost(cluster, entry.host)?.name ?? null;
        } else {
          entry.error = truncate(JSON.stringify(body), 200);
        }
      } catch (err) {
        entry.error = err.message;
      }
      out.push(entry);
    }
  }
  return out;
}

/** `node1->node3` counts of Director placements. */
function placementSummary(placements) {
  const counts = {};
  for (const p of placements) {
    const key = `via ${p.via} -> ${p.node ?? p.host ?? `HTTP ${p.status} ${p.error}`}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return Object.entries(counts).map(([k, n]) => `${k} x${n}`).join(', ');
}

/** `GET /api/admin/cluster` on `via`: the node record of `name` (or null). */
async function nodeRecord(via, name) {
  const res = await clusterStatus(via);
  return { record: res.body?.data?.nodes?.find((n) => n.id === name) ?? null, status: res };
}

test(`cluster drain, podium.js (autoMigrate) and @millicast/sdk ${SDK_PKG.version} viewers on the drained edge: podium.js moves make-before-break, the SDK is disconnected after --drain-grace and reconnects elsewhere; no placement on the drained node`, { timeout: 300_000 }, async () => {
  const cluster = await startCluster({ extraArgs: ['--drain-grace', String(GRACE_S)] });
  const [node1] = cluster.nodes;
  const streamName = uniqueStreamName('cl-drain');
  const ctx = { killAt: null, atLabel: 'the drain request', tag: 'cluster-drain' };
  const pages = [];
  try {
    await withClusterDiagnostics(pages, cluster, ctx, async () => {
      // Publisher through node 1's Director: it lands on the stream's origin.
      const pub = await openClusterPage(browser, node1, 'pub@node1');
      pages.push(pub);
      await call(pub, 'startPublish', { streamName, token: PUBLISH_TOKEN, endpoints: [node1.url] });
      const origin = nodeByHost(cluster, (await call(pub, 'wsHosts')).at(-1).host);
      assert.ok(origin, 'the publisher is on a node');

      // Viewer A, podium.js, in a page of the origin (its Director is the page's own node).
      const a = await openClusterPage(browser, origin, `A-podiumjs@${origin.name}`, { podiumJsFromDisk: true });
      pages.push(a);
      const lib = await a.evaluate(async () => {
        const { View } = await import('/podium.js');
        return { replaceConnection: typeof View.prototype.replaceConnection === 'function', autoMigrate: new View({ streamName: 'x' }).autoMigrate };
      });
      assert.deepEqual(lib, { replaceConnection: true, autoMigrate: true }, 'web/podium.js has View.replaceConnection() and autoMigrate on by default');
      await call(a, 'startPodiumView', { streamName });
      const edge = nodeByHost(cluster, (await call(a, 'wsHosts')).at(-1).host);
      assert.ok(edge, 'viewer A signals with a node');
      assert.notEqual(edge, origin, `--origin-max-viewers 0: viewer A is on an edge, not on the origin ${origin.name}`);
      await waitIn(a, (h) => h.samples.some((s) => s.frames > 0), null, { what: `viewer A's first decoded video frame on ${edge.name}` });
      await waitIn(a, (h) => h.framesRising(1000), null, { what: `viewer A's framesDecoded rising on ${edge.name}` });

      // Viewer B, the SDK, through the origin's Director until it is placed on A's edge (the
      // placement prefers edges that already carry the stream).
      let b = null;
      const bPlacements = [];
      for (let attempt = 1; attempt <= B_ATTEMPTS && !b; attempt++) {
        const page = await openClusterPage(browser, origin, `B-sdk#${attempt}@${origin.name}`);
        pages.push(page);
        const endpoints = [origin.url, ...cluster.nodes.filter((n) => n !== origin).map((n) => n.url)];
        await call(page, 'startView', { streamName, endpoints });
        const placed = nodeByHost(cluster, (await call(page, 'wsHosts')).at(-1).host);
        bPlacements.push(placed?.name ?? '?');
        if (placed === edge) {
          b = page;
        } else {
          await page.evaluate(() => window.clusterE2E.view.stop());
          pages.splice(pages.indexOf(page), 1);
          await page.close();
          await sleep(500);
        }
      }
      assert.ok(b, `viewer B was placed on A's edge ${edge.name} within ${B_ATTEMPTS} Director calls (got ${bPlacements.join(', ')})`);
      await waitIn(b, (h) => h.hasEventAfter('view', 'broadcastEvent:active', 0), null, { what: 'viewer B: broadcastEvent "active"' });
      await waitIn(b, (h) => h.framesRising(1000), null, { what: `viewer B's framesDecoded rising on ${edge.name}` });
      await waitIn(a, (h) => h.framesRising(1000), null, { what: `viewer A's framesDecoded still rising on ${edge.name}` });
      const third = cluster.nodes.find((n) => n !== origin && n !== edge);
      const before = await nodeRecord(origin, edge.name);
      assert.equal(before.record?.state, 'serving', `${edge.name} is serving before the drain: ${JSON.stringify(before.status.body)}`);
      const aBefore = await a.evaluate(() => ({ pc: window.clusterE2E.currentPcSerial(), ws: window.clusterE2E.wsHosts().length }));
      const bBefore = await b.evaluate(() => ({ pc: window.clusterE2E.serialOf(window.clusterE2E.currentPc()), ws: window.clusterE2E.wsHosts().length }));
      console.log(`${LOG} setup: origin ${origin.name}, edge E = ${edge.name}, third node ${third.name}; viewer A (podium.js) on ${edge.name}; viewer B (SDK) placed ${bPlacements.join(', ')} (${bPlacements.length} Director call(s))`);

      // Drain E.
      const drainAt = Date.now();
      ctx.killAt = drainAt;
      const drained = await adminRequest(edge, 'POST', '/api/admin/cluster/drain', { drain: true });
      const drainAnsweredMs = Date.now() - drainAt;
      assert.equal(drained.status, 200, `POST /api/admin/cluster/drain on ${edge.name}: ${JSON.stringify(drained.body)}`);

      // (3a) The cluster lists E as draining.
      let record = null;
      const statusDeadline = Date.now() + WAIT;
      for (;;) {
        record = (await nodeRecord(origin, edge.name)).record;
        if (record?.state === 'draining') break;
        assert.ok(Date.now() < statusDeadline, `GET /api/admin/cluster lists ${edge.name} as draining within ${WAIT} ms (last record ${JSON.stringify(record)})`);
        await sleep(50);
      }
      const drainingListedMs = Date.now() - drainAt;

      // (3b) From now on no Director places a viewer on E (Directors reuse their view of the
      // cluster for a moment: asked once every node's view is newer than the listing).
      await sleep(700);
      const placementsEarly = await directorPlacements(cluster, streamName, 2);
      const onEdgeEarly = placementsEarly.filter((p) => p.node === edge.name || p.host === hostOf(edge.url));
      assert.deepEqual(onEdgeEarly, [], `no Director subscribe call returns the draining ${edge.name} (${placementSummary(placementsEarly)})`);
      assert.ok(placementsEarly.every((p) => p.node && p.node !== edge.name), `every Director call placed the viewer on a live node: ${JSON.stringify(placementsEarly)}`);

      // (1) Viewer A: `migrate`, then `migrated` (or `migrateFailed`).
      await waitIn(a, (h, at) => h.hasEventAfter('view', 'migrate', at), drainAt, { what: 'viewer A (podium.js): the "migrate" event' });
      const aMoved = await waitIn(a, (h, at) => h.events.find((e) => e.src === 'view' && (e.name === 'migrated' || e.name === 'migrateFailed') && e.at > at) ?? null,
        drainAt, { what: 'viewer A (podium.js): "migrated" (View.replaceConnection done)' });
      assert.equal(aMoved.name, 'migrated', `viewer A moved (got ${aMoved.name} ${JSON.stringify(aMoved.data)})`);
      // Its signaling now: the last WebSocket it opened (a Director that did not know of the
      // drain yet may have sent a first try to E, which podium.js drops when E says `migrate`).
      const aHosts = await call(a, 'wsHosts');
      const aNew = aHosts.filter((w) => w.at > drainAt);
      assert.ok(aNew.length >= 1, `viewer A opened a new signaling WebSocket after the drain (${JSON.stringify(aHosts)})`);
      const aNode = nodeByHost(cluster, aNew.at(-1).host);
      assert.ok(aNode && aNode !== edge && !aNode.killed(), `viewer A's new signaling is on a live node other than ${edge.name} (${aNew.at(-1).host}: ${aNode?.name})`);
      assert.ok(aNew.at(-1).opened, "viewer A's new WebSocket opened");

      // (2) Viewer B: the migrate broadcastEvent, then E disconnects it when the grace is over.
      await waitIn(b, (h, at) => h.hasEventAfter('view', 'broadcastEvent:migrate', at), drainAt, { what: 'viewer B (SDK): broadcastEvent "migrate"' });
      const bClose = await waitIn(b, (h, at) => {
        const log = window.__wsLog ?? [];
        const ws = log.find((e) => e.kind === 'open-request' && e.host === at.host);
        return log.find((e) => e.kind === 'close' && e.ws === ws?.ws && e.at > at.drainAt) ?? null;
      }, { host: hostOf(edge.url), drainAt }, { what: `viewer B (SDK): its WebSocket to ${edge.name} closed by the drained node (grace ${GRACE_S} s)` });
      assert.match(bClose.reason ?? '', /draining/i, `viewer B's WebSocket to ${edge.name} was closed by the drain (code ${bClose.code}, reason "${bClose.reason}")`);
      const bDiscAt = bClose.at;
      const bWsBeforeDisc = (await call(b, 'wsHosts')).filter((w) => w.at > drainAt && w.at < bDiscAt);
      assert.deepEqual(bWsBeforeDisc, [], 'viewer B (the SDK, which does not act on "migrate") opened no connection before the drained node disconnected it');

      // A moved before the grace ran out: `migrated` before E ended its sessions, and its old
      // WebSocket was closed by the library, not by the drain.
      assert.ok(aMoved.at < bDiscAt, `viewer A's "migrated" (+${aMoved.at - drainAt} ms) came before ${edge.name} ended its sessions (+${bDiscAt - drainAt} ms)`);
      const aOldClose = await waitIn(a, (h, ws) => (window.__wsLog ?? []).find((e) => e.kind === 'close' && e.ws === ws) ?? null,
        aHosts.find((w) => w.at <= drainAt && w.host === hostOf(edge.url)).ws, { what: "viewer A's old WebSocket (to the drained node) closed" });
      assert.doesNotMatch(aOldClose.reason ?? '', /draining/i, `viewer A's old WebSocket was closed by the library after the move, not by the drain (code ${aOldClose.code}, reason "${aOldClose.reason}")`);

      // B reconnects by itself, through the Director, onto a node other than E.
      await waitIn(b, (h, at) => h.hasEventAfter('view', 'reconnect', at), bDiscAt - 1, { what: "viewer B (SDK): its own \"reconnect\" event after the drained node disconnected it" });
      const bRec = await waitIn(b, (h, at) => h.recovery(at), bDiscAt, { what: 'viewer B (SDK): video frames decoded again after the disconnection' });
      await waitIn(b, (h) => h.framesRising(1000), null, { what: 'viewer B (SDK): framesDecoded rising on the new connection' });
      const bFirst = await b.evaluate(() => window.clusterE2E.samples.at(-1));
      // A keeps decoding after its move.
      await waitIn(a, (h) => h.framesRising(1000), null, { what: 'viewer A (podium.js): framesDecoded rising after the move' });
      const aFirst = await a.evaluate(() => window.clusterE2E.samples.at(-1));
      await sleep(1500);
      const bSecond = await b.evaluate(() => window.clusterE2E.samples.at(-1));
      const aSecond = await a.evaluate(() => window.clusterE2E.samples.at(-1));
      assert.equal(aSecond.pc, aFirst.pc, 'viewer A: one RTCPeerConnection while checking');
      assert.notEqual(aSecond.pc, aBefore.pc, `viewer A uses a new RTCPeerConnection (pc${aBefore.pc} before the drain, pc${aSecond.pc} now)`);
      assert.equal(aSecond.state, 'connected', "viewer A's new RTCPeerConnection is connected");
      assert.ok(aSecond.frames > aFirst.frames, `viewer A: video framesDecoded increases after the move (${aFirst.frames} -> ${aSecond.frames})`);
      const aStream = await a.evaluate(() => {
        const v = window.podiumE2E.view;
        const receivers = v.peerConnection.getReceivers().map((r) => r.track);
        const tracks = v.mediaStream.getTracks();
        return { count: tracks.length, fromCurrentPc: tracks.every((t) => receivers.includes(t)), live: tracks.every((t) => t.readyState === 'live') };
      });
      assert.deepEqual(aStream, { count: 2, fromCurrentPc: true, live: true }, "viewer A's view.mediaStream holds the new connection's live audio and video tracks");
      assert.equal(bSecond.pc, bFirst.pc, 'viewer B: one RTCPeerConnection while checking');
      assert.notEqual(bSecond.pc, bBefore.pc, `viewer B's SDK made a new RTCPeerConnection (pc${bBefore.pc} before, pc${bSecond.pc} now)`);
      assert.equal(bSecond.state, 'connected', "viewer B's new RTCPeerConnection is connected");
      assert.ok(bSecond.frames > bFirst.frames, `viewer B: video framesDecoded increases after the reconnect (${bFirst.frames} -> ${bSecond.frames})`);
      const bHosts = await call(b, 'wsHosts');
      const bNode = nodeByHost(cluster, bHosts.at(-1).host);
      assert.ok(bNode && bNode !== edge && !bNode.killed(), `viewer B's last WebSocket is on a live node other than ${edge.name} (${bHosts.at(-1).host}: ${bNode?.name})`);
      assert.ok(bHosts.at(-1).opened, "viewer B's last WebSocket opened");

      // (3c) Still no placement on E, it is still listed draining, and its load shows no
      // viewer (its node record; the per-stream counts are printed below).
      const placementsLate = await directorPlacements(cluster, streamName, 2);
      const onEdgeLate = placementsLate.filter((p) => p.node === edge.name || p.host === hostOf(edge.url));
      assert.deepEqual(onEdgeLate, [], `no Director subscribe call returns the draining ${edge.name} after the grace (${placementSummary(placementsLate)})`);
      let finalStatus = null;
      const viewersDeadline = Date.now() + WAIT;
      for (;;) {
        finalStatus = (await clusterStatus(origin)).body?.data;
        const e = finalStatus?.nodes?.find((n) => n.id === edge.name);
        if (e?.state === 'draining' && e.viewers === 0) break;
        assert.ok(Date.now() < viewersDeadline, `GET /api/admin/cluster: ${edge.name} draining with no viewers within ${WAIT} ms (${JSON.stringify(finalStatus)})`);
        await sleep(200);
      }

      // Figures.
      const aEvents = await a.evaluate(() => window.clusterE2E.events);
      const aMigrateAt = aEvents.find((e) => e.src === 'view' && e.name === 'migrate' && e.at > drainAt).at;
      const gapTo = Date.now() - 200;
      const gaps = await a.evaluate(([from, to]) => window.clusterE2E.frameGaps(from, to), [drainAt - 1000, gapTo]);
      const rel = (t) => (t === null || t === undefined ? '?' : `+${t - drainAt}ms`);
      const sw = gaps.switches.filter((s) => s.from !== null).map((s) => `pc${s.from}->pc${s.to} at ${rel(s.at)} (${s.framesOnNewPc ? `the new PC had decoded ${s.framesOnNewPc} frames` : 'the new PC had decoded no frame yet'}; its first frame at ${rel(s.firstFrameAt)})`).join(', ') || 'none';
      const bEvents = await b.evaluate(() => window.clusterE2E.events);
      const bMigrate = bEvents.find((e) => e.src === 'view' && e.name === 'broadcastEvent:migrate' && e.at > drainAt);
      const bReconnects = bEvents.filter((e) => e.src === 'view' && e.name === 'reconnect' && e.at >= bDiscAt - 1);
      const bState = bEvents.filter((e) => e.src === 'view' && e.name === 'connectionStateChange' && e.at > drainAt)
        .map((e) => `${rel(e.at)} ${e.data}`).join(', ');
      const bDirector = (await b.evaluate(() => window.clusterE2E.directorCalls)).filter((c) => c.at > drainAt)
        .map((c) => `${rel(c.at)} via ${hostOf(c.endpoint)} -> ${c.url ? nodeByHost(cluster, hostOf(c.url))?.name ?? hostOf(c.url) : c.error}`);
      const streamStatus = finalStatus.streams?.find((x) => x.stream === streamName);
      console.log(`${LOG} drain of ${edge.name}: POST answered in ${drainAnsweredMs} ms; GET /api/admin/cluster lists it draining at +${drainingListedMs} ms (record ${JSON.stringify(record)})`);
      console.log(`${LOG} viewer A (podium.js): migrate at ${rel(aMigrateAt)}, migrated at ${rel(aMoved.at)} (new signaling on ${aNode.name}, WebSocket opened at ${rel(aNew.at(-1).at)}${aNew.length > 1 ? `; WebSockets opened after the drain: ${aNew.map((w) => `${nodeByHost(cluster, w.host)?.name ?? w.host} at ${rel(w.at)}`).join(', ')}` : ''}), old WebSocket to ${edge.name} closed at ${rel(aOldClose.at)} (code ${aOldClose.code}); PC switch ${sw}`);
      console.log(`${LOG} viewer A (podium.js): longest interval without a new decoded video frame from -1000ms to ${rel(gapTo)}: ${gaps.longest.ms} ms (${rel(gaps.longest.from)} .. ${rel(gaps.longest.to)}${gaps.longest.open ? ', still open' : ''}; ${gaps.rises} frame rises sampled every 20 ms)${gaps.presented ? `; <video> playing view.mediaStream: ${gaps.presented.frames} frames presented, longest gap ${gaps.presented.longest.ms} ms (${rel(gaps.presented.longest.from)} .. ${rel(gaps.presented.longest.to)})` : ''}`);
      console.log(`${LOG} viewer A (podium.js) events after the drain: ${(await timeline(a, drainAt, 'view')).join(' | ')}`);
      console.log(`${LOG} viewer B (SDK): broadcastEvent migrate at ${rel(bMigrate?.at)}, no action on it; disconnected by ${edge.name} at ${rel(bDiscAt)} (WebSocket close code ${bClose.code} "${bClose.reason}"); gap ${bRec.gapMs} ms (disconnection -> video framesDecoded rising again on ${bNode.name}; last frame before the stall at ${rel(bRec.lastFrameAt)})`);
      console.log(`${LOG} viewer B (SDK): reconnect triggered by ${bReconnects.length ? triggerOf(bReconnects[0].data.error) : '?'}: first reconnect event at +${bReconnects.length ? bReconnects[0].at - bDiscAt : '?'} ms after the disconnection ${JSON.stringify(bReconnects[0]?.data ?? null)}; ${bReconnects.length} reconnect event(s); connectionStateChange ${bState || 'none'}`);
      console.log(`${LOG} viewer B (SDK) events after the drain: ${(await timeline(b, drainAt, 'view')).join(' | ')}`);
      console.log(`${LOG} viewer B (SDK) video after the disconnection: ${await mediaMilestones(b, bDiscAt)}; WebSocket endings after the drain: ${(await wsEndings(b, drainAt)).join(' | ') || 'none'}; Director calls: ${bDirector.join(' | ')}`);
      console.log(`${LOG} Directors after the drain: ${placementSummary([...placementsEarly, ...placementsLate])} (none on ${edge.name}); nodes ${finalStatus.nodes.map((n) => `${n.id} ${n.state} viewers=${n.viewers}`).join(', ')}; stream ${JSON.stringify(streamStatus ?? null)}`);
      if (streamStatus?.viewers?.[edge.name]) {
        // Each node HSETs its non-zero counts into the stream's viewers hash and the whole
        // key's TTL is refreshed by whichever node writes: a node whose count fell to 0 keeps
        // its last count there while other nodes serve the stream.
        console.log(`${LOG} NOTE: the stream's per-node viewer counts still list ${edge.name} with ${streamStatus.viewers[edge.name]} although its node record says viewers=0 (stale field in Redis)`);
      }
    });
  } finally {
    await Promise.all(pages.map((p) => p.close().catch(() => {})));
    await cluster.stop();
  }
});
