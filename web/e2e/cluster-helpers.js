// Helpers for browser end-to-end tests of a Podium cluster (issue 15): a private
// redis-server on a unix socket, and `podium serve --cluster` nodes, node i on 127.0.0.i
// (HTTP, UDP media and relay all on that loopback address), built on helpers.js's startServer.
//
//   const redis = await startRedis();
//   const node1 = await startNode({ redis, index: 1, extraArgs: ['--origin-max-viewers', '0'] });
//   ...
//   await node1.kill();   // SIGKILL (kill -9): no clean leave, its Redis record expires
//   await node1.stop(); await redis.stop();
//
// Environment: REDIS_SERVER_BIN (default `redis-server` on the PATH, Debian package redis-server).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  adminRequest, sleep, startServer,
} from './helpers.js';

/** redis-server binary: $REDIS_SERVER_BIN or `redis-server` on the PATH. */
export const REDIS_BIN = process.env.REDIS_SERVER_BIN || 'redis-server';

/** Whether something accepts connections on the unix socket `socketPath`. */
function socketAccepts(socketPath) {
  return new Promise((resolve) => {
    const s = net.connect(socketPath);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** A redis-server process with `args`: {child, exited (promise), output (), gone ()}. */
function spawnRedis(args) {
  const child = spawn(REDIS_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (chunk) => {
    output += chunk;
    if (output.length > 200_000) output = output.slice(-100_000);
  };
  child.stdout.setEncoding('utf8').on('data', collect);
  child.stderr.setEncoding('utf8').on('data', collect);
  let exitedWith = null;
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => { exitedWith = { code, signal }; resolve(exitedWith); });
    child.on('error', (err) => { exitedWith = { error: err.message }; resolve(exitedWith); });
  });
  return {
    child, exited, output: () => output, exitedWith: () => exitedWith,
  };
}

/**
 * Start a private redis-server (no TCP port, a unix socket in a fresh temp dir, no
 * persistence) and wait until it accepts connections.
 * @returns {Promise<{url: string, socket: string, process: import('node:child_process').ChildProcess, logs: () => string, restart: () => Promise<void>, stop: () => Promise<void>}>}
 *   `url` is what `podium serve --cluster` takes (`redis+unix:///…/r.sock`); `restart()`
 *   kills it (SIGKILL) and starts an empty one on the same socket.
 */
export async function startRedis() {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'podium-e2e-redis-'));
  const socket = path.join(dir, 'r.sock');
  const args = ['--port', '0', '--unixsocket', socket, '--save', '', '--appendonly', 'no', '--dir', dir];
  let current = spawnRedis(args);
  const killOnExit = () => current.child.kill('SIGKILL');
  process.on('exit', killOnExit);
  const halt = async () => {
    if (current.exitedWith()) return;
    current.child.kill('SIGTERM');
    const res = await Promise.race([current.exited, sleep(3000).then(() => null)]);
    if (!res) {
      current.child.kill('SIGKILL');
      await current.exited;
    }
  };
  const ready = async () => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (current.exitedWith()) {
        throw new Error(`redis-server exited before accepting connections (${JSON.stringify(current.exitedWith())}): ${REDIS_BIN} ${args.join(' ')}\n${current.output()}`);
      }
      if (await socketAccepts(socket)) return;
      if (Date.now() > deadline) throw new Error(`redis-server did not accept connections on ${socket} within 10 s\n${current.output()}`);
      await sleep(50);
    }
  };
  const redis = {
    url: `redis+unix://${socket}`,
    socket,
    get process() { return current.child; },
    logs: () => current.output(),
    async restart() {
      current.child.kill('SIGKILL');
      await current.exited;
      await rm(socket, { force: true });
      current = spawnRedis(args);
      await ready();
    },
    async stop() {
      process.off('exit', killOnExit);
      await halt();
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    await ready();
  } catch (err) {
    await redis.stop();
    throw err;
  }
  return redis;
}

/**
 * Start node `index` (1-based) of a cluster on `redis`: `podium serve` on 127.0.0.<index>
 * (HTTP, UDP, RTMP and the relay on that IP; free ports) named `node<index>`, plus `extraArgs`.
 * Returns startServer's server with `name`, `index`, `host`, `killed()` and `kill()` (SIGKILL,
 * resolves when the process is gone). `stop()` still cleans up a killed node.
 */
export async function startNode({ redis, index, extraArgs = [] }) {
  const host = `127.0.0.${index}`;
  const name = `node${index}`;
  const server = await startServer({
    host,
    extraArgs: ['--cluster', redis.url, '--node-name', name, '--relay-addr', `${host}:0`, ...extraArgs],
  });
  const child = server.process;
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  const exited = gone() ? Promise.resolve() : once(child, 'exit');
  server.name = name;
  server.index = index;
  /** true once the process ended (killed or not). */
  server.killed = gone;
  /** `kill -9` the node; resolves when the process has exited. */
  server.kill = async () => {
    if (!gone()) child.kill('SIGKILL');
    await exited;
  };
  return server;
}

/** `GET /api/admin/cluster` on `node`: {status, body} (body.data = {nodes, streams}). */
export function clusterStatus(node) {
  return adminRequest(node, 'GET', '/api/admin/cluster');
}

/**
 * Wait until `node`'s view of the cluster (Redis) lists `count` nodes, then a little longer so
 * that every Director's cached view (refreshed every 500 ms) has them too.
 */
export async function waitForNodes(node, count, { timeout = 15_000 } = {}) {
  const deadline = Date.now() + timeout;
  let last = null;
  for (;;) {
    try {
      last = await clusterStatus(node);
      if (last.status === 200 && last.body?.data?.nodes?.length === count) break;
    } catch (err) {
      last = { error: err.message };
    }
    if (Date.now() > deadline) {
      throw new Error(`the cluster did not list ${count} nodes within ${timeout} ms: ${JSON.stringify(last)}\n${node.tail(40)}`);
    }
    await sleep(100);
  }
  await sleep(700);
  return last.body.data;
}

/**
 * Start a private Redis and three nodes (node i on 127.0.0.i) with `--origin-max-viewers 0`
 * (every viewer on an edge) plus `extraArgs`, and wait until each Director knows all three.
 * Returns {redis, nodes, killedAt, stop()}.
 */
export async function startCluster({ extraArgs = [], count = 3 } = {}) {
  const redis = await startRedis();
  const nodes = [];
  const cluster = {
    redis,
    nodes,
    /** Wall-clock time each killed node (by name) got its SIGKILL. */
    killedAt: {},
    async stop() {
      await Promise.all(nodes.map((n) => n.stop().catch(() => {})));
      await redis.stop();
    },
  };
  try {
    for (let index = 1; index <= count; index++) {
      nodes.push(await startNode({ redis, index, extraArgs: ['--origin-max-viewers', '0', ...extraArgs] }));
    }
    await waitForNodes(nodes[0], count);
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

/** SIGKILL `node` of `cluster`; returns the wall-clock time just before the signal. */
export async function killNode(cluster, node) {
  const at = Date.now();
  cluster.killedAt[node.name] = at;
  await node.kill();
  return at;
}
