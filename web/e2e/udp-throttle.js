// A userspace UDP proxy that limits the server→client direction of each client it carries:
// the "downlink" of a viewer, for tests of bandwidth estimation. (This machine's kernel has
// no netem; a token bucket with a bounded queue behaves like a bottleneck link: packets wait
// while the queue holds less than `queueMs` of data at the current rate, and are dropped
// after that.) The client sends to the proxy; the proxy relays from one socket per client, so
// the server sees one address per client and ICE, DTLS and SRTP pass through untouched.
import dgram from 'node:dgram';

export async function startThrottle({ queueMs = 150 } = {}) {
  const front = dgram.createSocket('udp4');
  await new Promise((resolve) => front.bind(0, '127.0.0.1', resolve));
  const routes = new Map(); // client "ip:port" -> { back, client, target }
  let rate = Infinity; // bytes per second, server→client
  const stats = { forwarded: 0, dropped: 0 };

  const queue = []; // [{ data, route }]
  let queuedBytes = 0;
  let tokens = 0;
  let last = Date.now();

  const drain = () => {
    const now = Date.now();
    if (rate !== Infinity) {
      // A burst of at most 10 ms (or one full packet) at the current rate.
      tokens = Math.min(tokens + (rate * (now - last)) / 1000, Math.max(rate * 0.01, 1500));
    }
    last = now;
    while (queue.length && (rate === Infinity || tokens >= queue[0].data.length)) {
      const { data, route } = queue.shift();
      queuedBytes -= data.length;
      if (rate !== Infinity) tokens -= data.length;
      front.send(data, route.client.port, route.client.address);
      stats.forwarded += 1;
    }
  };
  const timer = setInterval(drain, 2);

  const toClient = (route, data) => {
    if (rate !== Infinity && queuedBytes + data.length > (rate * queueMs) / 1000) {
      stats.dropped += 1;
      return;
    }
    queue.push({ data, route });
    queuedBytes += data.length;
    if (rate === Infinity) drain();
  };

  // Targets are given per client before it sends (see `route`): the proxy stands for one
  // server address at a time, the one `targetFor` last named.
  let target = null;
  front.on('message', (data, client) => {
    const key = `${client.address}:${client.port}`;
    let route = routes.get(key);
    if (!route) {
      if (!target) return;
      const back = dgram.createSocket('udp4');
      back.bind(0, '127.0.0.1');
      route = { back, client, target };
      back.on('message', (reply) => toClient(route, reply));
      routes.set(key, route);
    }
    route.back.send(data, route.target.port, route.target.address);
  });

  return {
    address: '127.0.0.1',
    port: front.address().port,
    stats,
    /** The server address new clients are relayed to. */
    targetFor(address, port) { target = { address, port }; },
    /** Limits server→client to `bitsPerSecond` (Infinity: no limit). */
    limit(bitsPerSecond) { drain(); rate = bitsPerSecond / 8; tokens = 0; },
    close() {
      clearInterval(timer);
      for (const r of routes.values()) r.back.close();
      front.close();
    },
  };
}
