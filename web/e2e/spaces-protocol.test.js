// The rooms server speaks the millicast-spaces socket.io protocol: driven here by the real
// socket.io-client 4 from npm, as the original Spaces app does (websocket transport, the URL
// path `/socket.io/` as namespace), against a running `podium serve`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useServerAndBrowser } from './helpers.js';
import {
  call, signalingStatus, sioClients, waitEvent,
} from './sio-helpers.js';

const env = useServerAndBrowser({
  browser: false,
  teardown: () => sio.disconnectAll(),
});
const sio = sioClients(env);
const client = (namespace) => sio.client(namespace);

test('authenticate, create, join, raise hand, promote, mute, kick, leave and disconnect', async () => {
  const host = await client();
  const alice = await client();
  const bob = await client('/'); // the default namespace works as well

  assert.match((await call(host, 'join-room', 'nope')).error, /sign/i, 'unauthenticated commands are refused');
  const auth = await call(host, 'authenticate', 'Host');
  assert.equal(auth.data.user.username, 'Host');
  assert.equal(auth.data.user.id, host.id);
  assert.deepEqual(auth.data.rooms, []);
  assert.match((await call(alice, 'authenticate', 'host')).error, /taken/i, 'usernames are unique');
  assert.match((await call(alice, 'authenticate', '')).error, /username/i);
  await call(alice, 'authenticate', 'Alice');
  await call(bob, 'authenticate', 'Bob');

  const created = await call(host, 'create-room', 'Friday chat', true);
  const roomId = created.data;
  assert.match(roomId, /^[0-9a-f-]{36}$/);
  const [room] = await waitEvent(alice, 'room-created');
  assert.equal(room.id, roomId);
  assert.equal(room.ownerId, host.id);
  assert.equal(room.audioOnly, true);

  const hostJoin = await call(host, 'join-room', roomId);
  assert.ok(hostJoin.data.publisherToken?.jwt, 'the owner gets a publish token');
  const join = await call(alice, 'join-room', roomId);
  assert.ok(join.data.viewerToken.urls[0].endsWith('/ws/v2/sub'));
  assert.equal(join.data.publisherToken, null, 'listeners get no publish token');
  await waitEvent(bob, 'user-joined', (r, u) => r === roomId && u.id === alice.id);
  await call(bob, 'join-room', roomId);

  assert.deepEqual(await call(alice, 'raise-hand', roomId, true), { data: null });
  await waitEvent(host, 'user-raised-hand', (r, u, raised) => u === alice.id && raised === true);

  const denied = await call(alice, 'promote-user', roomId, bob.id, true);
  assert.match(denied.error, /host and moderators/i);
  assert.deepEqual(await call(host, 'promote-user', roomId, alice.id, true), { data: null });
  const [promotedRoom, grant] = await waitEvent(alice, 'promoted');
  assert.equal(promotedRoom, roomId);
  assert.ok(grant.publisherToken.jwt);
  await waitEvent(bob, 'user-promoted', (r, u, p) => u === alice.id && p === true);

  // Demoting stops the speaker's media and their unused publish token no longer opens signaling.
  assert.equal(await signalingStatus(grant.publisherToken), 101, 'the fresh publish token works');
  const second = await call(host, 'promote-user', roomId, bob.id, true);
  assert.deepEqual(second, { data: null });
  const [, bobGrant] = await waitEvent(bob, 'promoted');
  assert.deepEqual(await call(host, 'promote-user', roomId, bob.id, false), { data: null });
  await waitEvent(bob, 'demoted', (r) => r === roomId);
  assert.equal(await signalingStatus(bobGrant.publisherToken), 401, 'a demoted speaker cannot publish');

  assert.deepEqual(await call(host, 'mute-speaker', roomId, alice.id), { data: null });
  await waitEvent(alice, 'muted', (r) => r === roomId);
  await waitEvent(bob, 'user-muted', (r, u, m) => u === alice.id && m === true);
  assert.match((await call(bob, 'mute', roomId, true)).error, /speaker/i, 'only speakers mute');

  assert.deepEqual(await call(host, 'kick-user', roomId, bob.id), { data: null });
  await waitEvent(bob, 'kicked', (r) => r === roomId);
  await waitEvent(alice, 'user-left', (r, u) => u === bob.id);
  assert.match((await call(host, 'kick-user', roomId, bob.id)).error, /./, 'kicking someone gone is an error');

  // Bad input is an error in the ack, never a crash.
  assert.match((await call(host, 'promote-user', roomId)).error, /userId/);
  assert.match((await call(host, 'raise-hand', 42, 'x')).error, /roomId/);

  // The owner disconnects: ownership passes to the longest-standing speaker (Alice).
  const hostId = host.id; // socket.io-client clears it on disconnect
  host.disconnect();
  await waitEvent(alice, 'user-left', (r, u) => u === hostId);
  const [updated] = await waitEvent(alice, 'room-updated');
  assert.equal(updated.ownerId, alice.id);
});
