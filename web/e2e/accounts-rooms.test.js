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

/** A socket.io client whose handshake sends `cookie`. */
async function clientWithCookie(cookie) {
  const socket = io(`${env.server.url}/socket.io/`, {
    transports: ['websocket'], reconnection: false, forceNew: true, extraHeaders: { cookie },
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

    // Signed out: the same cookie is a guest's, and the account's name is refused.
    const out = await fetch(`${env.server.url}/api/account/sign-out`, {
      method: 'POST', headers: { cookie: ann.cookie, 'x-csrf-token': ann.csrf },
    });
    assert.equal(out.status, 200);
    const stale = await clientWithCookie(ann.cookie);
    assert.match((await call(stale, 'authenticate', 'Ann Lee')).error ?? '', /belongs to an account/);
  } finally {
    for (const s of opened) s.disconnect();
  }
});
