// socket.io-client helpers shared by the rooms server tests: clients that record every event
// they receive, acked calls, and waiting for an event.
import http from 'node:http';
import { io } from 'socket.io-client';
import { sleep } from './helpers.js';

/**
 * Clients of the server in `env` (from `useServerAndBrowser`); call `disconnectAll()` in the
 * teardown.
 */
export function sioClients(env) {
  const clients = [];
  return {
    /** A connected client on `namespace` whose `seen` lists every event it received. */
    async client(namespace = '/socket.io/') {
      const socket = await connectClient(`${env.server.url}${namespace}`);
      clients.push(socket);
      return socket;
    },
    disconnectAll() {
      for (const c of clients) c.disconnect();
    },
  };
}

/**
 * A socket.io client connected to `url` (a server's URL and namespace) whose `seen` lists
 * every event it received.
 */
export async function connectClient(url) {
  // One engine connection per client, as in a real app (socketioxide ids one connection's
  // sockets by its engine id, so two namespaces multiplexed on one connection would collide).
  const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
  socket.seen = [];
  socket.onAny((name, ...args) => socket.seen.push({ name, args }));
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  return socket;
}

/** HTTP status of a WebSocket upgrade to signaling with this Director data (101 = accepted). */
export function signalingStatus(connectionData) {
  const url = new URL(`${connectionData.urls[0]}?token=${connectionData.jwt}`.replace(/^ws/, 'http'));
  return new Promise((resolve, reject) => {
    const req = http.get(url, {
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
      },
    });
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve(res.statusCode); });
    req.on('response', (res) => { res.resume(); resolve(res.statusCode); });
    req.on('error', reject);
  });
}

/** Emits with an ack, the way the demo does (`socket.emit(event, ...args, cb)`). */
export function call(socket, event, ...args) {
  return socket.timeout(5000).emitWithAck(event, ...args);
}

/**
 * The arguments of the first `name` event matching `predicate` among those received after the
 * first `since` ones (waits up to `timeout` ms).
 */
export async function waitEvent(socket, name, predicate = () => true, { timeout = 5000, since = 0 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const hit = socket.seen.slice(since).find((e) => e.name === name && predicate(...e.args));
    if (hit) return hit.args;
    if (Date.now() > deadline) {
      throw new Error(`no ${name} event within ${timeout} ms; got ${JSON.stringify(socket.seen.map((e) => e.name))}`);
    }
    await sleep(20);
  }
}
