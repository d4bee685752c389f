// A socket.io client that stops reading (here: a long-polling client that never polls
// again, as a frozen tab would) must not silently miss room events: once its queue is
// full it is treated as gone (everyone hears it left, its seat and name are freed) and it
// is told to disconnect, so it can reconnect and resync.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useServerAndBrowser, sleep } from './helpers.js';
import { call, sioClients } from './sio-helpers.js';

const env = useServerAndBrowser({
  browser: false,
  // The flood must reach the slow client's queue, not the command rates.
  serverArgs: ['--rooms-rate-per-user', '100000', '--rooms-rate-per-ip', '100000'],
  teardown: () => sio.disconnectAll(),
});
const sio = sioClients(env);
const client = () => sio.client();

/** A hand-driven engine.io v4 long-polling client on the `/socket.io/` namespace. */
async function pollingClient() {
  const base = `${env.server.url}/socket.io/?EIO=4&transport=polling`;
  const open = await (await fetch(base)).text();
  const { sid } = JSON.parse(open.slice(1));
  const url = `${base}&sid=${sid}`;
  const post = (body) => fetch(url, { method: 'POST', body, headers: { 'content-type': 'text/plain;charset=UTF-8' } });
  const packets = [];
  const poll = async () => {
    const text = await (await fetch(url)).text();
    packets.push(...text.split('\x1e'));
  };
  await post('40/socket.io/,');
  await poll();
  const nsSid = JSON.parse(packets.find((p) => p.startsWith('40/socket.io/,')).slice('40/socket.io/,'.length)).sid;
  let ack = 0;
  return {
    id: nsSid,
    packets,
    poll,
    async call(event, ...args) {
      ack += 1;
      const id = ack;
      await post(`42/socket.io/,${id}${JSON.stringify([event, ...args])}`);
      for (let i = 0; i < 20; i += 1) {
        const reply = packets.find((p) => p.startsWith(`43/socket.io/,${id}[`));
        if (reply) return JSON.parse(reply.slice(`43/socket.io/,${id}`.length))[0];
        await poll();
      }
      throw new Error(`no ack for ${event}: ${packets.join(' | ')}`);
    },
  };
}

async function metric(name) {
  const text = await (await fetch(`${env.server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line.split(' ')[1]);
}

test('a client that stops reading is disconnected and leaves its rooms, not silently skipped', async () => {
  const host = await client();
  const flapper = await client();
  await call(host, 'authenticate', 'Host');
  await call(flapper, 'authenticate', 'Flapper');
  const roomId = (await call(host, 'create-room', 'Busy room', true)).data;
  await call(host, 'join-room', roomId);
  await call(flapper, 'join-room', roomId);

  const slow = await pollingClient();
  assert.equal((await slow.call('authenticate', 'Slowpoke')).data.user.username, 'Slowpoke');
  assert.ok((await slow.call('join-room', roomId)).data.viewerToken);
  // From here on the slow client never polls: its queue fills with room events.
  const before = await metric('podium_rooms_clients_overflowed_total');
  for (let i = 0; i < 400; i += 1) await call(flapper, 'raise-hand', roomId, i % 2 === 0);

  const deadline = Date.now() + 5000;
  while (!host.seen.some((e) => e.name === 'user-left' && e.args[1] === slow.id)) {
    assert.ok(Date.now() < deadline, 'the room never heard the slow client leave');
    await sleep(20);
  }
  assert.equal(await metric('podium_rooms_clients_overflowed_total'), before + 1);
  // Others in the room lost nothing.
  const hands = host.seen.filter((e) => e.name === 'user-raised-hand' && e.args[1] === flapper.id).length;
  assert.equal(hands, 400);
  // Its name is free again; when it finally reads, it finds the disconnect.
  const other = await client();
  assert.equal((await call(other, 'authenticate', 'Slowpoke')).data.user.username, 'Slowpoke');
  for (let i = 0; i < 50 && !slow.packets.includes('41/socket.io/,'); i += 1) await slow.poll();
  assert.ok(slow.packets.includes('41/socket.io/,'), 'the slow client is told to disconnect');
});
