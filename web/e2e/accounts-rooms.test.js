// Accounts in the rooms (issue 16): a socket.io client whose handshake carries a signed-in
// session cookie takes its account's name whatever it types, and its `accountId` shows in the
// room JSON; a guest cannot take an account's name (look-alikes included); a signed-out cookie
// is a guest again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { useServerAndBrowser } from './helpers.js';
import { call, sioClients, waitEvent } from './sio-helpers.js';

const env = useServerAndBrowser({ browser: false, teardown: () => sio.disconnectAll() });
const sio = sioClients(env);
const opened = [];

const PASSWORD = 'violet-kettle-41-drums';

/** Signs up `username`; returns {account, csrf, cookie}. */
async function signUp(username) {
  const r = await fetch(`${env.server.url}/api/account/sign-up`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: env.server.url },
    body: JSON.stringify({ username, password: PASSWORD }),
  });
  const body = await r.json();
  assert.equal(r.status, 201, JSON.stringify(body));
  const cookie = r.headers.get('set-cookie').split(';')[0];
  return { ...body.data, cookie };
}

/** A socket.io client whose handshake sends `cookie` (and `origin`, as a page would). */
async function clientWithCookie(cookie, origin) {
  const socket = io(`${env.server.url}/socket.io/`, {
    transports: ['websocket'], reconnection: false, forceNew: true, extraHeaders: origin ? { cookie, origin } : { cookie },
  });
  socket.seen = [];
  socket.onAny((name, ...args) => socket.seen.push({ name, args }));
  await new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('connect_error', reject); });
  opened.push(socket);
  return socket;
}

test('a signed-in socket is its account in the rooms; guests cannot take account names', async () => {
  try {
    const ann = await signUp('Ann Lee');
    const annSocket = await clientWithCookie(ann.cookie);
    const auth = await call(annSocket, 'authenticate', 'Someone Else', { answersInvitations: true });
    assert.equal(auth.data.user.username, 'Ann Lee', 'the account’s name, whatever was typed');
    assert.equal(auth.data.user.accountId, ann.account.id);
    assert.ok(auth.data.resumeSecret);
    // A page of another site cannot use the visitor's cookie to be them in the rooms.
    const hijack = await clientWithCookie(ann.cookie, 'http://evil.example');
    const refusedOrigin = await call(hijack, 'authenticate', 'Ann Lee', { answersInvitations: true });
    assert.equal(refusedOrigin.error, "Sign in from this server's own pages");
    const ours = await clientWithCookie(ann.cookie, env.server.url);
    const fromOurPage = await call(ours, 'authenticate', 'x', { answersInvitations: true });
    assert.match(fromOurPage.error ?? '', /another tab/, 'the account is signed in on annSocket: asked, not taken over');
    ours.disconnect();

    const guest = await sio.client();
    for (const name of ['ann lee', 'ANN LEE', '\u0430nn Lee']) {
      const refused = await call(guest, 'authenticate', name);
      assert.match(refused.error ?? '', /belongs to an account: sign in/, name);
    }
    const guestAuth = await call(guest, 'authenticate', 'Guest Gil');
    assert.equal(guestAuth.data.user.accountId, undefined, 'guests have no account');

    const roomId = (await call(annSocket, 'create-room', 'Accounts', true)).data;
    const [room] = await waitEvent(guest, 'room-created', (r) => r.id === roomId);
    assert.equal(room.participants[0].accountId, ann.account.id, 'members carry their account');
    await call(guest, 'join-room', roomId);
    const [, joined] = await waitEvent(annSocket, 'user-joined', (r, u) => u.username === 'Guest Gil');
    assert.equal(joined.accountId, undefined);

    // Signed out (from anywhere): the socket signed in with that session is disconnected
    // within the session check (5 s), and the same cookie is a guest's from then on.
    const closed = new Promise((resolve) => annSocket.once('disconnect', resolve));
    const out = await fetch(`${env.server.url}/api/account/sign-out`, {
      method: 'POST', headers: { cookie: ann.cookie, 'x-csrf-token': ann.csrf },
    });
    assert.equal(out.status, 200);
    const reason = await Promise.race([closed, new Promise((r) => setTimeout(() => r('still connected'), 8000))]);
    assert.equal(reason, 'io server disconnect', 'a socket does not outlive its session');
    const stale = await clientWithCookie(ann.cookie);
    assert.match((await call(stale, 'authenticate', 'Ann Lee')).error ?? '', /belongs to an account/);
  } finally {
    for (const s of opened) s.disconnect();
  }
});

test('followers hear when someone they follow goes on stage, and Live now puts those rooms first', async () => {
  const sockets = [];
  try {
    const host = await signUp('Hana Host');
    const fan = await signUp('Finn Fan');
    const speaker = await signUp('Sami Speaker');
    for (const followed of [host, speaker]) {
      const r = await fetch(`${env.server.url}/api/users/${followed.account.id}/follow`, {
        method: 'POST', headers: { cookie: fan.cookie, 'x-csrf-token': fan.csrf },
      });
      assert.equal(r.status, 200);
    }
    const fanSocket = await clientWithCookie(fan.cookie);
    const hostSocket = await clientWithCookie(host.cookie);
    const speakerSocket = await clientWithCookie(speaker.cookie);
    sockets.push(fanSocket, hostSocket, speakerSocket);
    for (const s of [fanSocket, hostSocket, speakerSocket]) await call(s, 'authenticate', 'x', { answersInvitations: true });

    // A busier room of strangers, then the followed host's room.
    const guests = [];
    for (const name of ['Gia', 'Gio', 'Guy']) {
      const g = await sio.client();
      await call(g, 'authenticate', name);
      guests.push(g);
    }
    const busy = (await call(guests[0], 'create-room', 'Strangers chat', true)).data;
    for (const g of guests.slice(1)) await call(g, 'join-room', busy);
    const roomId = (await call(hostSocket, 'create-room', 'Hana live', true)).data;
    const [notice] = await waitEvent(fanSocket, 'followed-live', (n) => n.roomId === roomId);
    assert.deepEqual(notice, { accountId: host.account.id, username: 'Hana Host', roomId, roomName: 'Hana live' });
    assert.ok(!guests[1].seen.some((e) => e.name === 'followed-live'), 'only followers are told');

    const ranked = (await call(fanSocket, 'live-now', null)).data;
    assert.deepEqual(ranked.map((r) => r.id).slice(0, 2), [roomId, busy], 'the followed host’s room first');
    assert.equal(ranked[0].speakers[0].followed, true);
    const guestView = (await call(guests[1], 'live-now')).data;
    assert.deepEqual(guestView.map((r) => r.id).slice(0, 2), [busy, roomId], 'a guest sees activity order');
    assert.deepEqual((await call(fanSocket, 'live-now', 'strangers')).data.map((r) => r.id), [busy], 'search');
    assert.match((await call(fanSocket, 'live-now', 42)).error, /Invalid search/);

    // A followed listener brought on stage is news too.
    await call(speakerSocket, 'join-room', roomId);
    await call(speakerSocket, 'raise-hand', roomId, true);
    const promotedId = (await waitEvent(hostSocket, 'user-joined', (r, u) => u.username === 'Sami Speaker'))[1].id;
    await call(hostSocket, 'promote-user', roomId, promotedId, true);
    const [stage] = await waitEvent(fanSocket, 'followed-live', (n) => n.accountId === speaker.account.id);
    assert.equal(stage.roomId, roomId);
    // Off and on stage again at once is not news: one notice per host per 10 minutes.
    await call(hostSocket, 'promote-user', roomId, promotedId, false);
    await call(speakerSocket, 'raise-hand', roomId, true);
    await call(hostSocket, 'promote-user', roomId, promotedId, true);
    await waitEvent(hostSocket, 'user-promoted', (r, u, on) => u === promotedId && on === true);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const notices = fanSocket.seen.filter((e) => e.name === 'followed-live' && e.args[0].accountId === speaker.account.id);
    assert.equal(notices.length, 1, 'no second notice within the cooldown');
    for (const g of guests) g.disconnect();
  } finally {
    for (const s of sockets) s.disconnect();
  }
});
