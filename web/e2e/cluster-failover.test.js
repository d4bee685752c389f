// Cluster failover (issue 15) with the OFFICIAL Millicast JS SDK (npm @millicast/sdk, test-only,
// served to the pages from node_modules through request interception, unmodified): three
// `podium serve --cluster` nodes on 127.0.0.1/.2/.3 sharing a private redis-server, with
// `--origin-max-viewers 0` (every viewer is sent to an edge that pulls the stream from its
// origin over a relay link). A node is killed with SIGKILL (kill -9: no clean leave, its
// Redis record just expires) while an SDK publisher and an SDK viewer are live.
//
//   (1) edge kill: the viewer's edge dies; the SDK notices on its own (no app code calls
//       reconnect), goes back through the Director and decodes video again on a live node.
//   (2) origin kill: the stream's origin dies; the publisher SDK reconnects on its own
//       through a surviving node's Director (a new origin is claimed); the viewer on its edge
//       keeps its RTCPeerConnection and its signaling (no second `view`), hears `inactive`
//       then `active`, and decodes video again.
//
// Each test prints `[cluster-failover] …` lines: the gap (kill → video frames decoded again,
// from getStats sampled every 50 ms in the page) and which SDK path triggered a reconnect
// (its `reconnect` event: "Signaling error: wsConnectionError" = the WebSocket, "Connection
// state change: …" = the RTCPeerConnection state). Timings are reported, never asserted.
//
// The Director calls of each page go through its tokenGenerator, which takes a list of
// Director endpoints (a node URL each; CORS is allowed on the Director) and moves to the next
// one only when a node cannot be reached at all (as behind a client-side failover list).
// Pages are opened on a node (its demo page, a quiet host); their Content Security Policy is
// enforced: a node's pages may connect to every node of the cluster (and nowhere else), since
// the SDK signals on the node the Director chose.
//
// Run alone:  cd web && node --test --test-concurrency=1 e2e/cluster-failover.test.js
// Debug:      PODIUM_E2E_VERBOSE=1 PODIUM_LOG=info,podium_server=debug (server output of all
//             nodes interleaved); PODIUM_E2E_CLUSTER_DUMP=1 writes every node's whole log to
//             web/test-results/ after each test, passed or not. On failure the message carries
//             page events, Director calls, WebSocket frames, the SDK log, each node's output
//             tail and the cluster status; a full dump goes to web/test-results/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  uniqueStreamName, PUBLISH_TOKEN, sleep, launchBrowser,
} from './helpers.js';
import { SDK_PKG } from './sdk-page.js';
import {
  clusterStatus, startCluster, killNode,
} from './cluster-helpers.js';
import {
  installWsRecorder, openClusterPage as openPageOn, call, waitIn, nodeByHost, withClusterDiagnostics,
  triggerOf, timeline, mediaMilestones, wsEndings,
} from './cluster-page.js';

let browser;
before(async () => {
  browser = await launchBrowser();
  // Record every WebSocket frame in every page (installed before any page script).
  await browser.context.addInitScript(installWsRecorder);
});
after(async () => {
  await browser?.close();
});

/** A page on `node` with the SDK and window.clusterE2E (cluster-page.js). */
const openClusterPage = (node, label) => openPageOn(browser, node, label);

// ---------------------------------------------------------------------------
// Tests

test(`cluster, @millicast/sdk ${SDK_PKG.version}: the viewer's edge is killed (SIGKILL); the SDK reconnects by itself and decodes video again`, { timeout: 300_000 }, async () => {
  const cluster = await startCluster();
  const [node1, node2, node3] = cluster.nodes;
  const streamName = uniqueStreamName('cl-edge');
  const ctx = { killAt: null, tag: 'cluster-failover-edge' };
  const pages = [];
  try {
    const pub = await openClusterPage(node1, 'pub@node1');
    pages.push(pub);
    const viewer = await openClusterPage(node3, 'view@node3');
    pages.push(viewer);
    await withClusterDiagnostics(pages, cluster, ctx, async () => {
      // Publisher through node 1's Director: it lands on the stream's origin.
      await call(pub, 'startPublish', { streamName, token: PUBLISH_TOKEN, endpoints: [node1.url] });
      const pubHosts = await call(pub, 'wsHosts');
      const origin = nodeByHost(cluster, pubHosts.at(-1).host);
      assert.ok(origin, `the publisher's WebSocket host ${pubHosts.at(-1).host} is a node`);

      // Viewer through node 3's Director (then the others', should node 3 be unreachable).
      await call(viewer, 'startView', { streamName, endpoints: [node3.url, node1.url, node2.url] });
      const viewHosts = await call(viewer, 'wsHosts');
      const edge = nodeByHost(cluster, viewHosts.at(-1).host);
      assert.ok(edge, `the viewer's WebSocket host ${viewHosts.at(-1).host} is a node`);
      assert.notEqual(edge, origin, `--origin-max-viewers 0: the viewer is on an edge, not on the origin ${origin.name}`);

      await waitIn(viewer, (h) => h.hasEventAfter('view', 'broadcastEvent:active', 0), null, { what: 'broadcastEvent "active"' });
      await waitIn(viewer, (h) => h.samples.some((s) => s.frames > 0), null, { what: 'first decoded video frame on the edge (inbound-rtp framesDecoded > 0)' });
      await waitIn(viewer, (h) => h.framesRising(1000), null, { what: 'framesDecoded rising on the edge' });
      const beforeKill = await viewer.evaluate(() => ({ pc: window.clusterE2E.serialOf(window.clusterE2E.currentPc()), reconnects: window.clusterE2E.events.filter((e) => e.name === 'reconnect').length }));
      assert.equal(beforeKill.reconnects, 0, 'no reconnect before the kill');

      // kill -9 the viewer's node.
      const killAt = await killNode(cluster, edge);
      ctx.killAt = killAt;

      // The SDK reconnects on its own (nothing here calls reconnect) and decodes again.
      await waitIn(viewer, (h, at) => h.hasEventAfter('view', 'reconnect', at), killAt,
        { what: `the SDK's own "reconnect" event after ${edge.name} was killed` });
      const rec = await waitIn(viewer, (h, at) => h.recovery(at), killAt,
        { what: 'video frames decoded again after the stall that followed the kill' });
      await waitIn(viewer, (h) => h.framesRising(1000), null, { what: 'framesDecoded rising on the new connection' });
      const first = await viewer.evaluate(() => window.clusterE2E.samples.at(-1));
      await sleep(1500);
      const second = await viewer.evaluate(() => window.clusterE2E.samples.at(-1));
      assert.equal(second.pc, first.pc, 'one RTCPeerConnection while checking');
      assert.ok(second.frames > first.frames, `video framesDecoded increases after the reconnect (${first.frames} -> ${second.frames})`);
      assert.notEqual(second.pc, beforeKill.pc, `the SDK made a new RTCPeerConnection (pc${beforeKill.pc} before the kill, pc${second.pc} now)`);
      assert.equal(second.state, 'connected', 'the new RTCPeerConnection is connected');

      const hosts = await call(viewer, 'wsHosts');
      const now = nodeByHost(cluster, hosts.at(-1).host);
      assert.ok(now && !now.killed(), `the viewer's last WebSocket (${hosts.at(-1).host}) is on a live node (${now?.name})`);
      assert.ok(hosts.at(-1).opened, 'the last WebSocket opened');

      const events = await viewer.evaluate(() => window.clusterE2E.events);
      const reconnects = events.filter((e) => e.src === 'view' && e.name === 'reconnect' && e.at > killAt);
      const trigger = triggerOf(reconnects[0].data.error);
      const directorCalls = (await viewer.evaluate(() => window.clusterE2E.directorCalls)).filter((c) => c.at > killAt)
        .map((c) => `+${c.at - killAt}ms via ${new URL(c.endpoint).host} -> ${c.url ? new URL(c.url).host : `${c.error}`}`);
      console.log(`[cluster-failover] edge kill: gap ${rec.gapMs} ms (SIGKILL of ${edge.name} -> video framesDecoded rising again on ${now.name}; last frame before the stall at +${rec.lastFrameAt - killAt} ms); origin ${origin.name}`);
      console.log(`[cluster-failover] edge kill: reconnect triggered by ${trigger}: first reconnect event at +${reconnects[0].at - killAt} ms ${JSON.stringify(reconnects[0].data)}; ${reconnects.length} reconnect event(s)`);
      console.log(`[cluster-failover] edge kill: viewer SDK events after the kill: ${(await timeline(viewer, killAt, 'view')).join(' | ')}`);
      console.log(`[cluster-failover] edge kill: viewer video after the kill: ${await mediaMilestones(viewer, killAt)}`);
      console.log(`[cluster-failover] edge kill: viewer WebSocket endings: ${(await wsEndings(viewer, killAt)).join(' | ') || 'none'}; Director calls: ${directorCalls.join(' | ')}`);
    });
  } finally {
    await Promise.all(pages.map((p) => p.close().catch(() => {})));
    await cluster.stop();
  }
});

test(`cluster, @millicast/sdk ${SDK_PKG.version}: the origin is killed (SIGKILL); the publisher reconnects, the viewer on its edge keeps its PeerConnection and decodes again`, { timeout: 300_000 }, async () => {
  const cluster = await startCluster();
  const [node1] = cluster.nodes;
  const streamName = uniqueStreamName('cl-origin');
  const ctx = { killAt: null, tag: 'cluster-failover-origin' };
  const pages = [];
  try {
    const pub = await openClusterPage(node1, 'pub@node1');
    pages.push(pub);
    await withClusterDiagnostics(pages, cluster, ctx, async () => {
      await call(pub, 'startPublish', { streamName, token: PUBLISH_TOKEN, endpoints: [node1.url] });
      const origin = nodeByHost(cluster, (await call(pub, 'wsHosts')).at(-1).host);
      assert.ok(origin, 'the publisher is on a node');

      // The viewer through another node's Director: it lands on an edge.
      const viaNode = cluster.nodes.find((n) => n !== origin && n !== node1) ?? cluster.nodes.find((n) => n !== origin);
      const viewer = await openClusterPage(viaNode, `view@${viaNode.name}`);
      pages.push(viewer);
      await call(viewer, 'startView', { streamName, endpoints: [viaNode.url] });
      const edge = nodeByHost(cluster, (await call(viewer, 'wsHosts')).at(-1).host);
      assert.ok(edge, 'the viewer is on a node');
      assert.notEqual(edge, origin, `--origin-max-viewers 0: the viewer is on an edge, not on the origin ${origin.name}`);
      const third = cluster.nodes.find((n) => n !== origin && n !== edge);

      await waitIn(viewer, (h) => h.hasEventAfter('view', 'broadcastEvent:active', 0), null, { what: 'broadcastEvent "active"' });
      await waitIn(viewer, (h) => h.samples.some((s) => s.frames > 0), null, { what: 'first decoded video frame on the edge' });
      await waitIn(viewer, (h) => h.framesRising(1000), null, { what: 'framesDecoded rising on the edge' });
      await viewer.evaluate(() => { window.clusterE2E.initialPc = window.clusterE2E.currentPc(); });
      const viewsBefore = await call(viewer, 'commandsSent', 'view');
      assert.equal(viewsBefore, 1, 'one view command before the kill');

      // The publisher's next Director calls go to nodes that survive (the edge's, then the third's).
      await pub.evaluate((eps) => { window.clusterE2E.endpoints = eps; }, [edge.url, third.url]);

      const killAt = await killNode(cluster, origin);
      ctx.killAt = killAt;

      // The publisher SDK reconnects by itself to a live node.
      await waitIn(pub, (h, at) => h.hasEventAfter('pub', 'reconnect', at), killAt,
        { what: `the publisher SDK's own "reconnect" event after the origin ${origin.name} was killed` });
      await waitIn(pub, (h, at) => {
        const pc = h.currentPc();
        const ws = h.wsHosts().filter((w) => w.at > at && w.opened);
        return pc?.connectionState === 'connected' && ws.length > 0 && h.framesRising(500);
      }, killAt, { what: 'the publisher connected again (a new WebSocket opened, PC connected, frames encoded)' });
      const pubHost = (await call(pub, 'wsHosts')).at(-1).host;
      const newOrigin = nodeByHost(cluster, pubHost);
      assert.ok(newOrigin && !newOrigin.killed(), `the publisher is on a live node now (${pubHost}: ${newOrigin?.name})`);

      // The viewer on the edge: `inactive`, then `active`, then frames, on the same PC.
      await waitIn(viewer, (h, at) => h.hasEventAfter('view', 'broadcastEvent:inactive', at), killAt,
        { what: 'broadcastEvent "inactive" on the edge after the origin died' });
      await waitIn(viewer, (h, at) => {
        const inactive = h.events.find((e) => e.src === 'view' && e.name === 'broadcastEvent:inactive' && e.at > at);
        return !!inactive && h.hasEventAfter('view', 'broadcastEvent:active', inactive.at);
      }, killAt, { what: 'broadcastEvent "active" after the "inactive" (the edge pulls the stream from the new origin)' });
      const rec = await waitIn(viewer, (h, at) => h.recovery(at), killAt,
        { what: 'video frames decoded again on the edge after the stall that followed the kill' });
      await waitIn(viewer, (h) => h.framesRising(1000), null, { what: 'framesDecoded rising again on the edge' });
      const first = await viewer.evaluate(() => window.clusterE2E.samples.at(-1));
      await sleep(1500);
      const second = await viewer.evaluate(() => window.clusterE2E.samples.at(-1));
      assert.ok(second.frames > first.frames, `video framesDecoded increases (${first.frames} -> ${second.frames})`);

      const kept = await viewer.evaluate(() => ({
        samePc: window.clusterE2E.currentPc() === window.clusterE2E.initialPc,
        state: window.clusterE2E.currentPc()?.connectionState,
        pcsSeen: window.clusterE2E.pcs.length,
        reconnects: window.clusterE2E.events.filter((e) => e.name === 'reconnect').length,
      }));
      assert.equal(kept.samePc, true, 'the viewer still uses the RTCPeerConnection it had before the kill');
      assert.equal(kept.state, 'connected', 'the viewer PC is connected');
      assert.equal(await call(viewer, 'commandsSent', 'view'), 1, 'no second view command');
      assert.equal((await call(viewer, 'wsHosts')).length, 1, 'the viewer opened no second WebSocket');
      assert.equal(kept.reconnects, 0, 'the viewer SDK did not reconnect');

      const pubEvents = await pub.evaluate(() => window.clusterE2E.events);
      const reconnects = pubEvents.filter((e) => e.src === 'pub' && e.name === 'reconnect' && e.at > killAt);
      const trigger = triggerOf(reconnects[0].data.error);
      const reconnected = pubEvents.find((e) => e.src === 'pub' && e.name === 'connectionStateChange' && e.data === 'connected' && e.at > reconnects[0].at);
      const status = await clusterStatus(newOrigin);
      const streamStatus = status.body?.data?.streams?.find((s) => s.stream === streamName);
      const viewerEvents = await timeline(viewer, killAt, 'view');
      const directorCalls = (await pub.evaluate(() => window.clusterE2E.directorCalls)).filter((c) => c.at > killAt)
        .map((c) => `+${c.at - killAt}ms via ${new URL(c.endpoint).host} -> ${c.url ? new URL(c.url).host : `${c.error}`}`);
      console.log(`[cluster-failover] origin kill: viewer gap ${rec.gapMs} ms (SIGKILL of the origin ${origin.name} -> video framesDecoded rising again on the edge ${edge.name}, same PeerConnection; last frame before the stall at +${rec.lastFrameAt - killAt} ms)`);
      console.log(`[cluster-failover] origin kill: publisher reconnect triggered by ${trigger}: first reconnect event at +${reconnects[0].at - killAt} ms ${JSON.stringify(reconnects[0].data)}; ${reconnects.length} reconnect event(s); publisher connected again at +${reconnected ? reconnected.at - killAt : '?'} ms; new origin ${newOrigin.name} (Redis: ${JSON.stringify(streamStatus ?? null)})`);
      console.log(`[cluster-failover] origin kill: publisher SDK events after the kill: ${(await timeline(pub, killAt, 'pub')).join(' | ')}`);
      console.log(`[cluster-failover] origin kill: publisher WebSocket endings: ${(await wsEndings(pub, killAt)).join(' | ') || 'none'}; Director calls: ${directorCalls.join(' | ')}`);
      console.log(`[cluster-failover] origin kill: viewer SDK events after the kill: ${viewerEvents.join(' | ')}`);
      console.log(`[cluster-failover] origin kill: viewer video after the kill: ${await mediaMilestones(viewer, killAt)}`);
      console.log(`[cluster-failover] origin kill: publisher video after the kill: ${await mediaMilestones(pub, killAt)}`);
    });
  } finally {
    await Promise.all(pages.map((p) => p.close().catch(() => {})));
    await cluster.stop();
  }
});
