// socket.io-client helpers shared by the rooms server tests: clients that record every event
// they receive, acked calls, and waiting for an event.
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
      // One engine connection per client, as in a real app (socketioxide ids one connection's
      // sockets by its engine id, so two namespaces multiplexed on one connection would collide).
      const socket = io(`${env.server.url}${namespace}`, { transports: ['websocket'], reconnection: false, forceNew: true });
      socket.seen = [];
      socket.onAny((name, ...args) => socket.seen.push({ name, args }));
      await new Promise((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('connect_error', reject);
      });
      clients.push(socket);
      return socket;
    },
    disconnectAll() {
      for (const c of clients) c.disconnect();
    },
  };
}

/** Emits with an ack, the way the demo does (`socket.emit(event, ...args, cb)`). */
export function call(socket, event, ...args) {
  return socket.timeout(5000).emitWithAck(event, ...args);
}

/** The arguments of the first `name` event matching `predicate` (waits up to 5 s). */
export async function waitEvent(socket, name, predicate = () => true) {
  const deadline = Date.now() + 5000;
  for (;;) {
    const hit = socket.seen.find((e) => e.name === name && predicate(...e.args));
    if (hit) return hit.args;
    if (Date.now() > deadline) {
      throw new Error(`no ${name} event; got ${JSON.stringify(socket.seen.map((e) => e.name))}`);
    }
    await sleep(20);
  }
}
