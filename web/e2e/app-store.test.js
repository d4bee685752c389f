// The rooms app's client-side model (web/app-store.js), in Node: applying the server's
// broadcasts to cached room JSON, the derived stage/audience/counts, and the raised-hand queue.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Store, applyRoomEvent, audience, counts, initials, liveOrder, normalizeRoom, ownerName, roleOf, stage,
} from '../app-store.js';

const roomJson = () => ({
  id: 'r1',
  name: 'Friday chat',
  ownerId: 'ann',
  audioOnly: false,
  participants: [
    { id: 'ann', username: 'Ann', muted: false, raisedHand: false },
    { id: 'bob', username: 'Bob', muted: false, raisedHand: true },
    { id: 'cy', username: 'Cy', muted: true, raisedHand: false },
  ],
  speakers: ['cy', 'ann'],
});

test('derived views: stage (owner first), audience, counts, roles', () => {
  const room = normalizeRoom(roomJson());
  assert.deepEqual(stage(room).map((p) => p.id), ['ann', 'cy']);
  assert.deepEqual(audience(room).map((p) => p.id), ['bob']);
  assert.deepEqual(counts(room), { speakers: 2, audience: 1, total: 3 });
  assert.equal(ownerName(room), 'Ann');
  assert.equal(roleOf(room, 'ann'), 'owner');
  assert.equal(roleOf(room, 'cy'), 'speaker');
  assert.equal(roleOf(room, 'bob'), 'listener');
  assert.equal(roleOf(room, 'zed'), null);
  assert.equal(normalizeRoom({ id: 'x', name: 'n' }).audioOnly, true, 'audioOnly defaults to true');
});

test('broadcasts: joined, promoted (clears hand and mute), muted, raised hand, demoted, left', () => {
  let room = normalizeRoom(roomJson());
  room = applyRoomEvent(room, 'user-joined', [{ id: 'dee', username: 'Dee' }]);
  assert.equal(room.participants.at(-1).username, 'Dee');
  assert.equal(applyRoomEvent(room, 'user-joined', [{ id: 'dee', username: 'Dee' }]), room, 'a repeated join changes nothing');
  room = applyRoomEvent(room, 'user-promoted', ['bob', true]);
  assert.deepEqual(room.speakers, ['cy', 'ann', 'bob']);
  assert.equal(room.participants.find((p) => p.id === 'bob').raisedHand, false);
  room = applyRoomEvent(room, 'user-muted', ['bob', true]);
  assert.equal(room.participants.find((p) => p.id === 'bob').muted, true);
  room = applyRoomEvent(room, 'user-promoted', ['bob', false]);
  assert.deepEqual(room.speakers, ['cy', 'ann']);
  assert.equal(room.participants.find((p) => p.id === 'bob').muted, false, 'the audience is never muted');
  room = applyRoomEvent(room, 'user-raised-hand', ['dee', true]);
  assert.equal(room.participants.find((p) => p.id === 'dee').raisedHand, true);
  room = applyRoomEvent(room, 'user-left', ['cy']);
  assert.deepEqual(room.speakers, ['ann']);
  assert.equal(room.participants.some((p) => p.id === 'cy'), false);
  assert.equal(applyRoomEvent(room, 'user-left', ['nobody']), room);
});

test('store: live order, raised-hand queue in raising order, room updates and removal', () => {
  const store = new Store();
  const changes = [];
  const removed = [];
  store.addEventListener('change', (e) => changes.push(e.detail.roomId));
  store.addEventListener('room-removed', (e) => removed.push(e.detail.roomId));
  store.reset({ id: 'ann', username: 'Ann' }, [roomJson(), { id: 'r0', name: 'Quiet', ownerId: 'x', audioOnly: true, participants: [{ id: 'x', username: 'X' }], speakers: ['x'] }]);
  assert.deepEqual(store.handQueue('r1').map((p) => p.id), ['bob']);
  store.roomEvent('user-joined', 'r1', [{ id: 'dee', username: 'Dee' }]);
  store.roomEvent('user-raised-hand', 'r1', ['dee', true]);
  store.roomEvent('user-raised-hand', 'r1', ['bob', false]);
  store.roomEvent('user-raised-hand', 'r1', ['bob', true]);
  assert.deepEqual(store.handQueue('r1').map((p) => p.id), ['dee', 'bob'], 'oldest hand first');
  store.roomEvent('user-promoted', 'r1', ['dee', true]);
  assert.deepEqual(store.handQueue('r1').map((p) => p.id), ['bob']);

  store.putRoom({ id: 'r2', name: 'New', ownerId: 'q', audioOnly: true, participants: [{ id: 'q', username: 'Q' }], speakers: ['q'] });
  assert.deepEqual(store.live().map((r) => r.id), ['r1', 'r2', 'r0'], 'most people first, then newest');
  store.putRoom({ ...store.room('r1'), ownerId: 'cy' });
  assert.equal(store.room('r1').ownerId, 'cy');
  assert.deepEqual(store.handQueue('r1').map((p) => p.id), ['bob'], 'a room update keeps the queue');
  store.removeRoom('r2');
  assert.deepEqual(removed, ['r2']);
  assert.equal(store.room('r2'), undefined);
  assert.ok(changes.length >= 8);
  store.roomEvent('user-left', 'nope', ['x']); // unknown room: ignored
});

test('helpers: initials and live order', () => {
  assert.equal(initials('Ann Lee'), 'AL');
  assert.equal(initials('zoë'), 'Z');
  assert.equal(initials('mary-jane watson'), 'MJ');
  assert.equal(initials(''), '?');
  const a = normalizeRoom({ id: 'a', participants: [{ id: 1 }], speakers: [] });
  const b = normalizeRoom({ id: 'b', participants: [{ id: 1 }, { id: 2 }], speakers: [] });
  assert.deepEqual(liveOrder([a, b]).map((r) => r.id), ['b', 'a']);
});
