// Rooms across a cluster (issue 15): socket.io clients (the real socket.io-client from npm)
// connected to different `podium serve --cluster` nodes share one set of rooms. Names are
// unique cluster-wide, raise hand / promote / demote / kick cross nodes, the member tokens one
// node mints open signaling on the node they name (grants reach every node, and so do their
// revocations), a dead node's users leave their rooms, and the rooms authority's own death
// loses no room: another node takes over from the state in Redis.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  launchBrowser, openPage, sleep, withDiagnostics,
} from './helpers.js';
import { clusterStatus, killNode, startCluster } from './cluster-helpers.js';
import {
  signIn, tileSel, useToneMicrophone, waitFor,
} from './rooms-helpers.js';
import {
  call, connectClient, signalingStatus, waitEvent,
} from './sio-helpers.js';

let cluster;
let browser;
const sockets = [];

before(async () => {
  cluster = await startCluster({ count: 3 });
  browser = await launchBrowser();
});

after(async () => {
  for (const s of sockets) s.disconnect();
  await browser?.close();
  await cluster?.stop();
});

/** A socket.io client of `node` recording every event it receives. */
async function client(node) {
  const socket = await connectClient(`${node.url}/socket.io/`);
  sockets.push(socket);
  return socket;
}

/** The node holding the rooms authority's lease, as `GET /api/admin/cluster` names it. */
async function authority(askNode, { timeout = 10_000, not } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const status = await clusterStatus(askNode).catch(() => null);
    const name = status?.body?.data?.rooms_authority;
    if (name && name !== not) return cluster.nodes.find((n) => n.name === name);
    if (Date.now() > deadline) throw new Error(`no rooms authority: ${JSON.stringify(status?.body)}`);
    await sleep(100);
  }
}

/** Repeats an acked call until it succeeds (while the authority changes hands). */
async function callUntilDone(socket, timeout, event, ...args) {
  const deadline = Date.now() + timeout;
  for (;;) {
    let reply;
    try {
      reply = await call(socket, event, ...args);
    } catch (err) {
      reply = { error: err.message };
    }
    if (!reply.error) return reply;
    if (Date.now() > deadline) throw new Error(`${event} kept failing: ${reply.error}`);
    await sleep(200);
  }
}

test('the rooms app on two nodes: a raised hand, a promotion and a new speaker heard across them', { timeout: 120_000 }, async () => {
  const [nodeA, nodeB] = cluster.nodes;
  const host = await openPage(browser, nodeA, 'host', { path: '/' });
  const guest = await openPage(browser, nodeB, 'guest', { path: '/' });
  await useToneMicrophone(host, { frequency: 440 });
  await useToneMicrophone(guest, { frequency: 660 });
  await withDiagnostics([host, guest], nodeA, async () => {
    const hostId = await signIn(nodeA, host, 'Maya Chen');
    const guestId = await signIn(nodeB, guest, 'Leo Park');
    await host.click('#create-room');
    await host.fill('#room-name', 'One room, two nodes');
    await host.click('#create-room-submit');
    const roomId = await waitFor(host, 'the room page as owner', () => {
      const room = document.querySelector('.room');
      return room?.dataset.role === 'owner' && room.dataset.roomId;
    });
    await waitFor(guest, 'the room in Live now on the other node', (id) => !!document.querySelector(`#room-list [data-room-id="${id}"]`), roomId);
    await guest.click(`#room-list [data-room-id="${roomId}"] button`);
    await waitFor(guest, 'the guest in the room as a listener', () => document.querySelector('.room')?.dataset.role === 'listener');
    await guest.click('#toggle-hand');
    await waitFor(host, 'the guest in the raised-hands queue', (id) => !!document.querySelector(`#hands-queue [data-user-id="${id}"]`), guestId);
    await host.click(`#hands-queue [data-user-id="${guestId}"] [data-action="allow"]`);
    await waitFor(guest, 'the guest on stage', () => document.querySelector('.room')?.dataset.role === 'speaker');
    await waitFor(guest, 'the guest publishing', () => window.podiumApp.room?.media?.status.publish === 'live');
    await guest.evaluate(() => window.__tone.set(true));
    // The host hears the guest: their page shows the guest speaking (levels of the slot the
    // origin's ranking put them in, through an edge since every viewer is on one).
    await waitFor(host, 'the guest speaking on the host’s page', (id) => document.querySelector(`#stage .tile[data-user-id="${id}"]`)?.dataset.speaking === 'true', guestId, { timeout: 30_000 });
    await host.evaluate(() => window.__tone.set(true));
    await waitFor(guest, 'the host speaking on the guest’s page', (id) => document.querySelector(`#stage .tile[data-user-id="${id}"]`)?.dataset.speaking === 'true', hostId, { timeout: 30_000 });
    assert.ok(await guest.$(tileSel(hostId)), 'the host is on the guest’s stage');
  });
  await Promise.all([host.close(), guest.close()]);
});

test('Redis restarted empty: the rooms, hands and grants carry on', { timeout: 60_000 }, async () => {
  const [nodeA, nodeB, nodeC] = cluster.nodes;
  const rita = await client(nodeA);
  const sam = await client(nodeB);
  await call(rita, 'authenticate', 'Rita');
  await call(sam, 'authenticate', 'Sam');
  const roomId = (await call(rita, 'create-room', 'Through a Redis restart', true)).data;
  await call(rita, 'join-room', roomId);
  await waitEvent(sam, 'room-created', (room) => room.id === roomId);
  await call(sam, 'join-room', roomId);
  const [, { id: samId }] = await waitEvent(rita, 'user-joined', (r, u) => u.username === 'Sam');

  const restartedAt = Date.now();
  await cluster.redis.restart();
  const mark = rita.seen.length;
  assert.deepEqual(await callUntilDone(sam, 15_000, 'raise-hand', roomId, true), { data: null });
  console.log(`# [cluster-rooms] Redis restarted empty: commands answered again ${((Date.now() - restartedAt) / 1000).toFixed(1)} s later`);
  await waitEvent(rita, 'user-raised-hand', (r, u, raised) => u === samId && raised, { since: mark });
  assert.deepEqual(await callUntilDone(rita, 10_000, 'promote-user', roomId, samId, true), { data: null });
  const [, grant] = await waitEvent(sam, 'promoted', (r) => r === roomId);
  assert.equal(await signalingStatus(grant.publisherToken), 101, 'grants are in force again on every node');
  const uma = await client(nodeC);
  const { data } = await callUntilDone(uma, 10_000, 'authenticate', 'Uma');
  assert.ok(data.rooms.some((r) => r.id === roomId && r.speakers.includes(samId)), 'a newcomer sees the room as it was');
  assert.match((await call(uma, 'authenticate', 'rita')).error ?? '', /./, 'and the names taken before');
  for (const s of [rita, sam, uma]) s.disconnect();
});

test('a frozen authority (SIGSTOP) loses its lease; after it wakes every node is served by its successor', { timeout: 60_000 }, async () => {
  const frozen = await authority(cluster.nodes[0]);
  const [other] = cluster.nodes.filter((n) => n !== frozen);
  const vera = await client(frozen);
  const walt = await client(other);
  await call(vera, 'authenticate', 'Vera');
  await call(walt, 'authenticate', 'Walt');
  const roomId = (await call(walt, 'create-room', 'Frozen authority', true)).data;
  await call(walt, 'join-room', roomId);
  await call(vera, 'join-room', roomId);
  const [, { id: veraId }] = await waitEvent(walt, 'user-joined', (r, u) => u.username === 'Vera');

  frozen.process.kill('SIGSTOP');
  try {
    const successor = await authority(other, { not: frozen.name, timeout: 10_000 });
    assert.notEqual(successor.name, frozen.name);
  } finally {
    frozen.process.kill('SIGCONT');
  }
  // The woken node's own client is served (by the successor), and so is everyone else.
  const mark = walt.seen.length;
  assert.deepEqual(await callUntilDone(vera, 10_000, 'raise-hand', roomId, true), { data: null });
  await waitEvent(walt, 'user-raised-hand', (r, u, raised) => u === veraId && raised, { since: mark });
  assert.deepEqual(await call(walt, 'promote-user', roomId, veraId, true), { data: null });
  const [, grant] = await waitEvent(vera, 'promoted', (r) => r === roomId);
  assert.equal(await signalingStatus(grant.publisherToken), 101);
  assert.notEqual((await authority(other)).name, frozen.name, 'the lease stays with the successor');
  for (const s of [vera, walt]) s.disconnect();
});

test('two nodes, one room: hands, promotions, tokens, a dead node and a dead authority', async () => {
  const leader = await authority(cluster.nodes[0]);
  const others = cluster.nodes.filter((n) => n !== leader);
  // The host and Alice on the nodes that stay; Bob on the authority's node.
  const host = await client(others[0]);
  const alice = await client(others[1]);
  const bob = await client(leader);

  const auth = await call(host, 'authenticate', 'Host');
  assert.equal(auth.data.user.username, 'Host');
  assert.match((await call(alice, 'authenticate', 'HOST')).error, /taken/i, 'names are unique across nodes');
  await call(alice, 'authenticate', 'Alice');
  await call(bob, 'authenticate', 'Bob');

  const roomId = (await call(host, 'create-room', 'Across nodes', true)).data;
  const [room] = await waitEvent(alice, 'room-created');
  assert.equal(room.id, roomId, 'a room created on one node is announced on the others');
  const hostJoin = await call(host, 'join-room', roomId);
  assert.equal(await signalingStatus(hostJoin.data.publisherToken), 101, "the owner's publish token opens signaling where it points");
  const aliceJoin = await call(alice, 'join-room', roomId);
  assert.equal(await signalingStatus(aliceJoin.data.viewerToken), 101, "a listener's view token from another node works");
  await call(bob, 'join-room', roomId);
  const [, { id: bobId }] = await waitEvent(host, 'user-joined', (r, u) => r === roomId && u.username === 'Bob');
  const [, { id: aliceId }] = await waitEvent(host, 'user-joined', (r, u) => u.username === 'Alice');

  // Live now, a read answered without a decision, from every node.
  for (const s of [host, alice, bob]) {
    const cards = (await call(s, 'live-now')).data;
    assert.ok(cards.some((r) => r.id === roomId && r.speakers.length === 1), JSON.stringify(cards));
  }

  // Raise hand on node B, seen by the owner on node A; promote from A, token minted on B.
  assert.deepEqual(await call(alice, 'raise-hand', roomId, true), { data: null });
  await waitEvent(host, 'user-raised-hand', (r, u, raised) => r === roomId && raised === true);
  assert.deepEqual(await call(host, 'promote-user', roomId, aliceId, true), { data: null });
  const [promotedRoom, grant] = await waitEvent(alice, 'promoted');
  assert.equal(promotedRoom, roomId);
  await waitEvent(bob, 'user-promoted', (r, u, p) => u === aliceId && p === true);
  assert.equal(await signalingStatus(grant.publisherToken), 101, 'the promoted speaker can publish');
  assert.deepEqual(await call(host, 'promote-user', roomId, aliceId, false), { data: null });
  await waitEvent(alice, 'demoted', (r) => r === roomId);
  assert.equal(await signalingStatus(grant.publisherToken), 401, 'the demotion revoked the token on every node');

  // What a hop to the authority costs: acks of a command from its own node and from another
  // (printed, not asserted).
  const ackTimes = async (socket) => {
    const times = [];
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      assert.deepEqual(await call(socket, 'raise-hand', roomId, false), { data: null });
      times.push(performance.now() - started);
      await sleep(150); // within the per-user command rate
    }
    times.sort((x, y) => x - y);
    return `median ${times[10].toFixed(2)} ms, p90 ${times[18].toFixed(2)} ms`;
  };
  console.log(`# [cluster-rooms] ack of a rooms command: on the authority's node ${await ackTimes(bob)}; on another node ${await ackTimes(host)}`);

  // The authority's node dies (with Bob on it): another node takes over from Redis; Bob
  // leaves after the hold; the room and its other members carry on.
  const killedAt = await killNode(cluster, leader);
  const mark = host.seen.length;
  assert.deepEqual(await callUntilDone(alice, 15_000, 'raise-hand', roomId, true), { data: null });
  const answeredAfter = (Date.now() - killedAt) / 1000;
  const successor = await authority(others[0], { not: leader.name });
  assert.notEqual(successor.name, leader.name);
  await waitEvent(host, 'user-raised-hand', (r, u, raised) => u === aliceId && raised === true, { since: mark });
  const [, leftId] = await waitEvent(host, 'user-left', (r, u) => r === roomId && u === bobId, { timeout: 20_000 });
  assert.equal(leftId, bobId);
  console.log(`# [cluster-rooms] ${leader.name} (authority) killed: ${successor.name} took over, commands answered again after ${answeredAfter.toFixed(1)} s; Bob's user-left after ${((Date.now() - killedAt) / 1000).toFixed(1)} s`);
  assert.deepEqual(await call(host, 'promote-user', roomId, aliceId, true), { data: null });
  const [, again] = await waitEvent(alice, 'promoted', (r, g) => g.publisherToken.jwt !== grant.publisherToken.jwt);
  assert.equal(await signalingStatus(again.publisherToken), 101, 'grants work under the new authority');
  // (asked of the node the new token names: the old one may name the dead node)
  const revoked = { ...grant.publisherToken, urls: again.publisherToken.urls };
  assert.equal(await signalingStatus(revoked), 401, 'and revoked ones stay revoked');
  const rejoin = (await call(host, 'join-room', roomId)).data;
  assert.ok(rejoin.publisherToken, 'the host is still the owner');
});
