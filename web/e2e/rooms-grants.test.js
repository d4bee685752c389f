// Room media is governed by membership, against a hostile member using the real
// socket.io-client and raw signaling WebSockets:
// - a speaker's publish token publishes only as the speaker's own source (not as the room's
//   main source), and demote, kick and disconnect end that publication;
// - a room's stream cannot be opened through the open Director, and a kicked member's unused
//   view token stops working;
// - repeated join-room calls do not pile up grants on the server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { useServerAndBrowser } from './helpers.js';
import { call, sioClients, waitEvent } from './sio-helpers.js';

const sockets = [];

const env = useServerAndBrowser({
  browser: false,
  // The join-room loop below is a burst far over the default command rates.
  serverArgs: ['--rooms-rate-per-user', '100000', '--rooms-rate-per-ip', '100000'],
  teardown: () => {
    sio.disconnectAll();
    for (const s of sockets) s.terminate();
  },
});
const sio = sioClients(env);
const client = () => sio.client();

/** A minimal but complete WebRTC publish offer (one Opus m-line), as a browser sends. */
const OFFER = [
  'v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0',
  'a=group:BUNDLE 0', 'a=msid-semantic: WMS s',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'c=IN IP4 0.0.0.0', 'a=rtcp:9 IN IP4 0.0.0.0',
  'a=ice-ufrag:hstl', 'a=ice-pwd:hostilehostilehostile123', 'a=ice-options:trickle',
  'a=fingerprint:sha-256 5B:1F:3A:0C:9D:2E:7A:44:10:8B:CE:21:6F:93:D0:11:AB:CD:EF:01:23:45:67:89:9A:BC:DE:F0:12:34:56:78',
  'a=setup:actpass', 'a=mid:0', 'a=sendonly', 'a=msid:s a', 'a=rtcp-mux',
  'a=rtpmap:111 opus/48000/2', 'a=fmtp:111 minptime=10;useinbandfec=1', 'a=ssrc:1001 cname:hostile',
  '',
].join('\r\n');

/**
 * A signaling WebSocket opened with Director-shaped connection data. Resolves with
 * `{ws, status, command(name, data), closed}`; `status` is the upgrade's HTTP status.
 */
async function signaling(data) {
  const ws = new WebSocket(`${data.urls[0]}?token=${data.jwt}`);
  sockets.push(ws);
  const status = await new Promise((resolve) => {
    ws.once('open', () => resolve(101));
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode));
    ws.once('error', () => resolve(0));
  });
  let next = 1;
  const pending = new Map();
  ws.on('message', (raw) => {
    const msg = JSON.parse(raw.toString());
    if (pending.has(msg.transId)) {
      pending.get(msg.transId)(msg);
      pending.delete(msg.transId);
    }
  });
  const closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  return {
    ws,
    status,
    closed,
    command(name, payload) {
      const transId = next++;
      ws.send(JSON.stringify({ type: 'cmd', transId, name, data: payload }));
      return new Promise((resolve) => pending.set(transId, resolve));
    },
  };
}

/** Publishes with `sourceId` (or as the main source when it is undefined); returns the reply. */
async function publish(grant, roomId, sourceId) {
  const s = await signaling(grant);
  assert.equal(s.status, 101);
  const data = { name: roomId, sdp: OFFER };
  if (sourceId !== undefined) data.sourceId = sourceId;
  return { s, reply: await s.command('publish', data) };
}

async function directorSubscribe(streamName) {
  const res = await fetch(`${env.server.url}/api/director/subscribe`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ streamName }),
  });
  return { status: res.status, body: await res.json() };
}

async function metric(name) {
  const text = await (await fetch(`${env.server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line.split(' ')[1]);
}

/** Host with a room, plus a member promoted to the stage; returns their grants. */
async function roomWithSpeaker(tag) {
  const host = await client();
  const guest = await client();
  await call(host, 'authenticate', `Host ${tag}`);
  await call(guest, 'authenticate', `Guest ${tag}`);
  const roomId = (await call(host, 'create-room', `Room ${tag}`, true)).data;
  const hostGrant = (await call(host, 'join-room', roomId)).data;
  const guestView = (await call(guest, 'join-room', roomId)).data.viewerToken;
  await call(host, 'promote-user', roomId, guest.id, true);
  const [, promoted] = await waitEvent(guest, 'promoted', (r) => r === roomId);
  return { host, guest, roomId, hostGrant, guestView, guestPublish: promoted.publisherToken };
}

test('a speaker publishes only as their own source, and demote ends it', async () => {
  const { host, guest, roomId, guestPublish } = await roomWithSpeaker('a');
  for (const sourceId of [undefined, '', null, host.id]) {
    const { s, reply } = await publish(guestPublish, roomId, sourceId);
    assert.equal(reply.type, 'error', `sourceId ${JSON.stringify(sourceId)} must be refused`);
    assert.equal(reply.data, 'sourceId is not valid for token');
    s.ws.close();
  }
  const { s, reply } = await publish(guestPublish, roomId, guest.id);
  assert.equal(reply.type, 'response', JSON.stringify(reply));
  await call(host, 'promote-user', roomId, guest.id, false);
  const closed = await s.closed;
  assert.equal(closed.reason, 'No longer allowed in this room');
  const again = await signaling(guestPublish);
  assert.equal(again.status, 401, 'the demoted speaker\'s token is dead');
});

test('kick and disconnect end a speaker\'s publication', async () => {
  const kicked = await roomWithSpeaker('b');
  const pub1 = await publish(kicked.guestPublish, kicked.roomId, kicked.guest.id);
  assert.equal(pub1.reply.type, 'response');
  await call(kicked.host, 'kick-user', kicked.roomId, kicked.guest.id);
  assert.equal((await pub1.s.closed).reason, 'No longer allowed in this room');

  const gone = await roomWithSpeaker('c');
  const pub2 = await publish(gone.guestPublish, gone.roomId, gone.guest.id);
  assert.equal(pub2.reply.type, 'response');
  gone.guest.disconnect();
  assert.equal((await pub2.s.closed).reason, 'No longer allowed in this room');
});

test('room streams are private: no Director views, and a kicked member\'s view token dies', async () => {
  const { host, guest, roomId, guestView } = await roomWithSpeaker('d');
  const open = await directorSubscribe(roomId);
  assert.equal(open.status, 403, JSON.stringify(open.body));
  assert.match(open.body.data.message, /private room/);
  assert.equal((await directorSubscribe('not-a-room')).status, 200, 'other streams stay open');

  const listener = await client();
  await call(listener, 'authenticate', 'Listener d');
  const unused = (await call(listener, 'join-room', roomId)).data.viewerToken;
  const viewing = await signaling(guestView);
  assert.equal(viewing.status, 101);
  await call(host, 'kick-user', roomId, listener.id);
  assert.equal((await signaling(unused)).status, 401, 'the kicked member\'s unused view token is refused');
  assert.equal(viewing.ws.readyState, WebSocket.OPEN, 'other members keep viewing');
  assert.ok(guest.connected);
});

test('join-room in a loop keeps one grant per member and kind', async () => {
  const { host, roomId } = await roomWithSpeaker('e');
  const before = await metric('podium_room_grants');
  const tokens = new Set();
  for (let i = 0; i < 300; i += 1) {
    const { data } = await call(host, 'join-room', roomId);
    tokens.add(data.publisherToken.jwt);
  }
  assert.ok(tokens.size > 1, 'every join still hands out a fresh JWT');
  assert.equal(await metric('podium_room_grants'), before, 'no grant was added');
});

test('join and leave racing each other leave no grant behind', async () => {
  const { roomId } = await roomWithSpeaker('f');
  const before = await metric('podium_room_grants');
  const racer = await client();
  await call(racer, 'authenticate', 'Racer f');
  // socket.io runs each message's handler as a task of its own: these really race.
  for (let i = 0; i < 40; i += 1) {
    await Promise.all([call(racer, 'join-room', roomId), call(racer, 'leave-room', roomId)]);
  }
  await call(racer, 'leave-room', roomId);
  assert.equal(await metric('podium_room_grants'), before, 'a grant outlived its membership');
});
