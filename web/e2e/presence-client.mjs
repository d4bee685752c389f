// A rooms user in a process of its own, for the presence tests (rooms-presence.test.js): the
// parent can freeze it (SIGSTOP: its TCP connection stays open but it answers nothing, as a
// frozen laptop or a suspended tab would) or make it busy (a blocked event loop).
//
// Started with child_process.fork(thisFile, [serverUrl]) and driven over the IPC channel:
//   parent → child  {id, cmd: 'connect'}                       opens a socket.io connection
//                   {id, cmd: 'call', event, args, busyAfterMs?} an acked rooms command; with
//                       busyAfterMs the event loop is blocked that long right after the ack
//                   {id, cmd: 'busy', ms}                        blocks the event loop (busy-wait)
//                   {id, cmd: 'auto-resume', name, secret}       from now on, a lost connection is
//                       followed by a new one that resumes the user with `secret`
//                   {id, cmd: 'disconnect'}
//   child → parent  {id, ok, result | error}                     the answer to a command
//                   {event, args, t}                             every event the socket receives
//                   {status, ...}                                connection changes
// Options of the connection: socket.io-client over a WebSocket, no automatic reconnection.
import { io } from 'socket.io-client';

const serverUrl = process.argv[2];
if (!serverUrl || !process.send) {
  console.error('usage: fork(presence-client.mjs, [serverUrl]) with an IPC channel');
  process.exit(2);
}

/** @type {import('socket.io-client').Socket|null} */
let socket = null;
let resume = null; // {name, secret} after 'auto-resume'
let closing = false;

const send = (msg) => {
  try {
    process.send(msg);
  } catch {
    // parent gone
  }
};

function busyWait(ms) {
  const end = Date.now() + ms;
  let spins = 0;
  while (Date.now() < end) spins += 1;
  return spins;
}

function open() {
  const s = io(serverUrl, { transports: ['websocket'], reconnection: false, forceNew: true });
  s.onAny((event, ...args) => send({ event, args, t: Date.now() }));
  s.on('disconnect', (reason) => {
    send({ status: 'disconnected', reason, t: Date.now() });
    if (s === socket && resume && !closing) reconnectAndResume();
  });
  return new Promise((resolve, reject) => {
    s.once('connect', () => resolve(s));
    s.once('connect_error', (err) => reject(err));
  });
}

async function call(event, args, { timeout = 5000 } = {}) {
  if (!socket?.connected) throw new Error(`not connected (cannot send ${event})`);
  return socket.timeout(timeout).emitWithAck(event, ...args);
}

/** `authenticate`, repeated if unanswered (as the app does). */
async function authenticate(args) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await call('authenticate', args, { timeout: 2500 });
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
}

async function reconnectAndResume() {
  for (let attempt = 1; attempt <= 30 && !closing; attempt += 1) {
    try {
      socket = await open();
      const reply = await authenticate([resume.name, { resume: resume.secret, answersInvitations: true }]);
      if (reply?.data?.resumeSecret) resume.secret = reply.data.resumeSecret;
      send({ status: 'resumed', reply, t: Date.now() });
      return;
    } catch (err) {
      send({ status: 'resume-failed', error: String(err?.message ?? err), t: Date.now() });
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

process.on('message', async (msg) => {
  const { id, cmd } = msg;
  try {
    let result;
    switch (cmd) {
      case 'connect':
        socket = await open();
        result = { socketId: socket.id };
        break;
      case 'call': {
        const reply = msg.event === 'authenticate' ? await authenticate(msg.args) : await call(msg.event, msg.args);
        // Answer first, then block: the parent knows the command is done when the child freezes.
        send({ id, ok: true, result: reply });
        if (msg.busyAfterMs) busyWait(msg.busyAfterMs);
        return;
      }
      case 'busy': {
        const started = Date.now();
        const spins = busyWait(msg.ms);
        result = { ms: Date.now() - started, spins };
        break;
      }
      case 'auto-resume':
        resume = { name: msg.name, secret: msg.secret };
        result = true;
        break;
      case 'disconnect':
        closing = true;
        socket?.disconnect();
        result = true;
        break;
      default:
        throw new Error(`unknown command ${cmd}`);
    }
    send({ id, ok: true, result });
  } catch (err) {
    send({ id, ok: false, error: String(err?.message ?? err) });
  }
});

process.on('disconnect', () => process.exit(0)); // the parent went away
send({ status: 'ready', pid: process.pid });
