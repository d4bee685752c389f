// The rooms server's limits against one hostile user, with the real socket.io-client:
// command rates per user (others keep being served), rooms one user may host, and a capped
// room list in the authenticate reply.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useServerAndBrowser, sleep } from './helpers.js';
import { call, sioClients } from './sio-helpers.js';

const env = useServerAndBrowser({
  browser: false,
  teardown: () => sio.disconnectAll(),
});
const sio = sioClients(env);
const client = () => sio.client();

test('a flooding user is slowed down while others are served', async () => {
  const host = await client();
  const flooder = await client();
  const bystander = await client();
  await call(host, 'authenticate', 'Host');
  await call(flooder, 'authenticate', 'Flooder');
  await call(bystander, 'authenticate', 'Bystander');
  const roomId = (await call(host, 'create-room', 'Quiet room', true)).data;
  await call(host, 'join-room', roomId);
  await call(flooder, 'join-room', roomId);
  await call(bystander, 'join-room', roomId);
  await sleep(2100); // the joins above used part of each user's burst
  const replies = await Promise.all(
    Array.from({ length: 200 }, (_, i) => call(flooder, 'raise-hand', roomId, i % 2 === 0)),
  );
  const refused = replies.filter((r) => /Too many requests/.test(r.error ?? '')).length;
  assert.ok(refused >= 170, `only ${refused} of 200 refused`);
  // The others are not affected: the flooder's refusals did not use up the address's share.
  assert.deepEqual(await call(bystander, 'raise-hand', roomId, true), { data: null });
  await sleep(300);
  const hands = host.seen.filter((e) => e.name === 'user-raised-hand').length;
  assert.ok(hands <= 32, `${hands} raised-hand broadcasts reached the host`);
});

test('one user hosts at most 3 rooms; the sign-in reply lists at most 100 rooms', async () => {
  const owner = await client();
  await call(owner, 'authenticate', 'Owner');
  for (let i = 0; i < 3; i += 1) {
    assert.ok((await call(owner, 'create-room', `Room ${i}`, true)).data);
    await sleep(150);
  }
  const fourth = await call(owner, 'create-room', 'One too many', true);
  assert.match(fourth.error, /at most 3 rooms/);
  // Many hosts, many rooms (paced under the command rates).
  for (let h = 0; h < 34; h += 1) {
    const other = await client();
    await call(other, 'authenticate', `Host ${h}`);
    for (let i = 0; i < 3; i += 1) await call(other, 'create-room', `Room ${h}.${i}`, true);
    if (h % 10 === 9) await sleep(1000);
  }
  const late = await client();
  const { data } = await call(late, 'authenticate', 'Latecomer');
  assert.equal(data.rooms.length, 100, 'the list is capped');
});
