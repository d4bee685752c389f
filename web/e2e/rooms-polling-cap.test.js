// Long-polling socket.io clients hold no TCP connection between polls, so the HTTP port's
// per-address connection cap cannot see them: the rooms server counts its sockets per address
// too, and refuses the CONNECT of one too many.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useServerAndBrowser } from './helpers.js';

const env = useServerAndBrowser({
  browser: false,
  serverArgs: ['--max-connections-per-ip', '10'],
});

/** Opens a polling socket on `/socket.io/`; returns the packets of its CONNECT answer. */
async function pollingConnect() {
  return (await pollingSocket()).packets;
}

/** A polling socket on `/socket.io/`: its CONNECT answer and a way to leave the namespace. */
async function pollingSocket() {
  const base = `${env.server.url}/socket.io/?EIO=4&transport=polling`;
  const open = await (await fetch(base)).text();
  const { sid } = JSON.parse(open.slice(1));
  const url = `${base}&sid=${sid}`;
  await fetch(url, { method: 'POST', body: '40/socket.io/,', headers: { 'content-type': 'text/plain;charset=UTF-8' } });
  const packets = [];
  // The answer may come after a poll that carries something else (a ping): poll on.
  for (let i = 0; i < 5 && !packets.some((p) => /^4[04]\/socket\.io\/,/.test(p)); i += 1) {
    packets.push(...(await (await fetch(url)).text()).split('\x1e'));
  }
  const post = (body) => fetch(url, { method: 'POST', body, headers: { 'content-type': 'text/plain;charset=UTF-8' } });
  return { packets, leave: () => post('41/socket.io/,') };
}

test('one address holds at most its share of socket.io sockets, polling ones included', async () => {
  const sockets = [];
  for (let i = 0; i < 10; i += 1) {
    const socket = await pollingSocket();
    assert.ok(socket.packets.some((p) => p.startsWith('40/socket.io/,{"sid"')), `socket ${i}: ${socket.packets}`);
    sockets.push(socket);
  }
  const refused = await pollingConnect();
  const error = refused.find((p) => p.startsWith('44/socket.io/,'));
  assert.ok(error, `the 11th CONNECT is refused: ${refused}`);
  assert.match(error, /Too many connections from your address/);
  // A socket that leaves gives its place back.
  await sockets[0].leave();
  await new Promise((r) => setTimeout(r, 200));
  const again = await pollingConnect();
  assert.ok(again.some((p) => p.startsWith('40/socket.io/,{"sid"')), `after a leave: ${again}`);
});
