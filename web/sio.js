// sio.js — a small socket.io client for the browser (and Node with a WebSocket class).
//
// Speaks the socket.io protocol v5 on top of engine.io protocol v4, over a plain WebSocket
// only (no HTTP long-polling, no binary attachments). It is enough for a JSON event API such
// as Podium's rooms server, and needs no build step:
//
//   import { connect } from '/sio.js';
//
//   const socket = connect(location.origin, { namespace: '/' });
//   socket.on('room-created', (room) => console.log('new room', room.name));
//   socket.on('disconnect', (reason) => console.log('lost the server:', reason));
//   await socket.connect();                       // resolves once the namespace is joined
//   console.log('my id', socket.id);
//   const reply = await socket.emitWithAck('authenticate', 'Ann');   // the server's ack args[0]
//
// Wire format (what goes through the WebSocket, one packet per frame):
//   URL                 <origin>/socket.io/?EIO=4&transport=websocket     (ws: or wss:)
//   engine.io           0{"sid","pingInterval","pingTimeout",…} open (server → client)
//                       1 close · 2 ping (server) · 3 pong (client answer) · 4<socket.io packet> message · 6 noop
//   socket.io packet    <type>[<namespace>,][<ack id>][<JSON>]   — the namespace part is left out for "/"
//                       0 CONNECT      client: 40/socket.io/,        server: 40/socket.io/,{"sid":"…"}
//                       1 DISCONNECT   41/socket.io/,
//                       2 EVENT        42/socket.io/,["name",arg…]   with an ack id: 42/socket.io/,12["name",arg…]
//                       3 ACK          43/socket.io/,12[arg…]
//                       4 CONNECT_ERROR 44/socket.io/,{"message":"…"}
//   (5/6, binary events and acks, are not supported: they are ignored.)
// The socket id (`socket.id`, which servers such as Podium use as the user id) is the sid of the
// namespace CONNECT answer, not the engine.io sid.
//
// Differences from socket.io-client, on purpose:
// - Emitting while disconnected does not buffer: `emit` returns false and `emitWithAck`
//   rejects at once. A reconnect is a new socket id, so replaying old messages would be wrong.
// - Pending acks are rejected when the connection drops.
// - `connect()` returns a promise; the first connection is not retried automatically (the
//   caller shows the error), later losses are, with backoff (`reconnect_attempt`, `connect`).
// - Manager events live on the socket: `reconnect_attempt` (attempt, delayMs), `reconnect_failed`.

/** Events emitted by the client itself; a server event with one of these names is ignored. */
export const RESERVED_EVENTS = Object.freeze(['connect', 'connect_error', 'disconnect', 'reconnect_attempt', 'reconnect_failed']);

const ENGINE = { OPEN: '0', CLOSE: '1', PING: '2', PONG: '3', MESSAGE: '4', UPGRADE: '5', NOOP: '6' };
const SIO = { CONNECT: 0, DISCONNECT: 1, EVENT: 2, ACK: 3, CONNECT_ERROR: 4, BINARY_EVENT: 5, BINARY_ACK: 6 };

/** Error for a failed connection, a `CONNECT_ERROR`, a timed-out or dropped ack. */
export class SocketError extends Error {
  /**
   * @param {string} message
   * @param {{code?: string, data?: unknown}} [info] `code`: `timeout`, `disconnected`,
   *   `connect_error`, `connect_timeout`, `transport`.
   */
  constructor(message, { code, data } = {}) {
    super(message);
    this.name = 'SocketError';
    this.code = code;
    this.data = data;
  }
}

/**
 * Encodes a socket.io packet as an engine.io message frame (`4…`).
 * @param {{type: number, nsp?: string, id?: number, data?: unknown}} packet
 * @returns {string}
 */
export function encodePacket({ type, nsp = '/', id, data }) {
  let out = ENGINE.MESSAGE + String(type);
  if (nsp && nsp !== '/') out += `${nsp},`;
  if (id !== undefined && id !== null) out += String(id);
  if (data !== undefined) out += JSON.stringify(data);
  return out;
}

/**
 * Decodes the socket.io packet inside an engine.io message frame (the text after `4`).
 * @param {string} text e.g. `2/socket.io/,12["ev",1]`
 * @returns {{type: number, nsp: string, id?: number, data?: unknown}|null} null if malformed
 */
export function decodePacket(text) {
  const type = Number(text[0]);
  if (!Number.isInteger(type) || type < 0 || type > 6) return null;
  let i = 1;
  if (type === SIO.BINARY_EVENT || type === SIO.BINARY_ACK) {
    const dash = text.indexOf('-', i);
    if (dash < 0) return null;
    i = dash + 1;
  }
  let nsp = '/';
  if (text[i] === '/') {
    const comma = text.indexOf(',', i);
    const end = comma < 0 ? text.length : comma;
    nsp = text.slice(i, end);
    i = comma < 0 ? text.length : comma + 1;
  }
  let id;
  const digits = /^\d+/.exec(text.slice(i));
  if (digits) {
    id = Number(digits[0]);
    i += digits[0].length;
  }
  let data;
  if (i < text.length) {
    try {
      data = JSON.parse(text.slice(i));
    } catch {
      return null;
    }
  }
  return { type, nsp, id, data };
}

/** The engine.io WebSocket URL for a server origin (`http(s)://host[:port]`) and engine path. */
export function engineUrl(origin, path = '/socket.io/') {
  const url = new URL(path, origin);
  url.protocol = url.protocol === 'https:' || url.protocol === 'wss:' ? 'wss:' : 'ws:';
  url.search = '?EIO=4&transport=websocket';
  return url.toString();
}

/**
 * A socket.io connection to one namespace.
 *
 * Lifecycle events (`on(name, handler)`): `connect` (after every successful (re)connection;
 * `socket.id` is set), `disconnect` (reason: `io server disconnect`, `io client disconnect`,
 * `transport close`, `transport error`, `ping timeout`), `connect_error` (SocketError),
 * `reconnect_attempt` (attempt number, delay in ms before it), `reconnect_failed`.
 */
export class Socket {
  /**
   * @param {string} origin Server origin, e.g. `location.origin` or `http://127.0.0.1:8080`.
   * @param {object} [options]
   * @param {string} [options.namespace='/'] socket.io namespace.
   * @param {string} [options.path='/socket.io/'] engine.io endpoint path.
   * @param {object} [options.auth] Payload of the namespace CONNECT packet.
   * @param {boolean} [options.reconnection=true] Reconnect after a lost connection.
   * @param {number} [options.reconnectionAttempts=Infinity]
   * @param {number} [options.reconnectionDelay=1000] First delay (ms); doubles each attempt…
   * @param {number} [options.reconnectionDelayMax=5000] …up to this.
   * @param {number} [options.randomizationFactor=0.5] Jitter: delay × (1 ± factor).
   * @param {number} [options.timeout=10000] Connection timeout (WebSocket + open + CONNECT), ms.
   * @param {number} [options.ackTimeout=10000] Default `emitWithAck` timeout, ms.
   * @param {typeof WebSocket} [options.WebSocket] WebSocket class (default: the global one;
   *   in Node 20 pass the `ws` package's).
   */
  constructor(origin, {
    namespace = '/', path = '/socket.io/', auth, reconnection = true, reconnectionAttempts = Infinity,
    reconnectionDelay = 1000, reconnectionDelayMax = 5000, randomizationFactor = 0.5,
    timeout = 10000, ackTimeout = 10000, WebSocket: WebSocketClass = globalThis.WebSocket,
  } = {}) {
    if (!WebSocketClass) throw new TypeError('No WebSocket implementation: pass options.WebSocket');
    if (!namespace.startsWith('/')) throw new TypeError('namespace must start with "/"');
    this.url = engineUrl(origin, path);
    this.namespace = namespace;
    this.options = {
      auth, reconnection, reconnectionAttempts, reconnectionDelay, reconnectionDelayMax, randomizationFactor, timeout, ackTimeout,
    };
    this.WebSocket = WebSocketClass;
    /** Socket id given by the server for this namespace (null while disconnected). */
    this.id = null;
    /** True while the namespace is joined. */
    this.connected = false;
    /** True while a reconnection is scheduled or under way. */
    this.reconnecting = false;
    /** Engine.io handshake of the current connection (`{sid, pingInterval, pingTimeout, …}`). */
    this.handshake = null;
    this.ws = null;
    this.handlers = new Map();
    this.anyHandlers = [];
    this.acks = new Map();
    this.nextAckId = 0;
    this.attempts = 0;
    this.everConnected = false;
    this.closedByUser = false;
    this.pingTimer = null;
    this.reconnectTimer = null;
    /** The connection attempt under way: `{promise, fail}`. */
    this.opening = null;
  }

  // --- events -------------------------------------------------------------------------

  /** Adds a handler for a server event or a lifecycle event. Returns `this`. */
  on(event, handler) {
    if (!this.handlers.has(event)) this.handlers.set(event, []);
    this.handlers.get(event).push(handler);
    return this;
  }

  /** Removes a handler (or every handler of `event` when `handler` is omitted). */
  off(event, handler) {
    if (!handler) this.handlers.delete(event);
    else this.handlers.set(event, (this.handlers.get(event) ?? []).filter((h) => h !== handler && h.inner !== handler));
    return this;
  }

  /** Adds a handler that runs once. */
  once(event, handler) {
    const wrapper = (...args) => {
      this.off(event, wrapper);
      handler(...args);
    };
    wrapper.inner = handler;
    return this.on(event, wrapper);
  }

  /** Adds a handler called with `(event, ...args)` for every server event. */
  onAny(handler) {
    this.anyHandlers.push(handler);
    return this;
  }

  #fire(event, ...args) {
    for (const handler of [...(this.handlers.get(event) ?? [])]) {
      try {
        handler(...args);
      } catch (err) {
        queueMicrotask(() => { throw err; }); // report, but keep the connection going
      }
    }
  }

  // --- sending ------------------------------------------------------------------------

  /**
   * Emits an event. A function as last argument is an ack callback: called with the
   * server's ack arguments (never called if the connection drops first).
   * @returns {boolean} false if not connected (nothing was sent)
   */
  emit(event, ...args) {
    if (RESERVED_EVENTS.includes(event)) throw new TypeError(`"${event}" is a reserved event name`);
    if (!this.connected) return false;
    let id;
    if (typeof args[args.length - 1] === 'function') {
      const callback = args.pop();
      id = this.nextAckId++;
      this.acks.set(id, { resolve: (ackArgs) => callback(...ackArgs), reject: () => {} });
    }
    this.#send(encodePacket({ type: SIO.EVENT, nsp: this.namespace, id, data: [event, ...args] }));
    return true;
  }

  /**
   * Emits an event and waits for the server's ack.
   * @param {string} event
   * @param {...unknown} args
   * @returns {Promise<unknown>} the ack's first argument; rejects with a {@link SocketError}
   *   (`code` `disconnected` or `timeout`) if not connected, if the connection drops, or
   *   after `ackTimeout` ms.
   */
  emitWithAck(event, ...args) {
    return this.timeout(this.options.ackTimeout).emitWithAck(event, ...args);
  }

  /** `socket.timeout(ms).emitWithAck(event, ...args)`, as in socket.io-client. */
  timeout(ms) {
    return {
      emitWithAck: (event, ...args) => new Promise((resolve, reject) => {
        if (RESERVED_EVENTS.includes(event)) throw new TypeError(`"${event}" is a reserved event name`);
        if (!this.connected) {
          reject(new SocketError(`Not connected to the server (cannot send "${event}")`, { code: 'disconnected' }));
          return;
        }
        const id = this.nextAckId++;
        const timer = setTimeout(() => {
          this.acks.delete(id);
          reject(new SocketError(`The server did not answer "${event}" within ${ms} ms`, { code: 'timeout' }));
        }, ms);
        this.acks.set(id, {
          resolve: (ackArgs) => { clearTimeout(timer); resolve(ackArgs[0]); },
          reject: (err) => { clearTimeout(timer); reject(err); },
        });
        this.#send(encodePacket({ type: SIO.EVENT, nsp: this.namespace, id, data: [event, ...args] }));
      }),
    };
  }

  #send(frame) {
    if (this.ws && this.ws.readyState === 1) this.ws.send(frame);
  }

  // --- connection ---------------------------------------------------------------------

  /**
   * Opens the connection and joins the namespace.
   * @returns {Promise<Socket>} resolves when connected (`socket.id` set); rejects with a
   *   {@link SocketError} if this attempt fails (no automatic retry before the first success).
   */
  connect() {
    if (this.connected) return Promise.resolve(this);
    if (this.opening) return this.opening.promise;
    this.closedByUser = false;
    clearTimeout(this.reconnectTimer);
    this.reconnecting = false;
    return this.#open();
  }

  /** Leaves the namespace and closes the connection; no reconnection follows. */
  disconnect() {
    this.closedByUser = true;
    clearTimeout(this.reconnectTimer);
    this.reconnecting = false;
    this.opening?.fail(new SocketError('Disconnected by the client before the connection was made', { code: 'disconnected' }));
    if (this.connected) this.#send(encodePacket({ type: SIO.DISCONNECT, nsp: this.namespace }));
    this.#teardown('io client disconnect');
    return this;
  }

  /** Alias of {@link Socket#disconnect}. */
  close() {
    return this.disconnect();
  }

  #open() {
    const opening = {};
    this.opening = opening;
    opening.promise = new Promise((resolve, reject) => {
      let settled = false;
      const fail = (err) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (this.opening === opening) this.opening = null;
        this.#fire('connect_error', err);
        reject(err);
      };
      opening.fail = (err) => {
        fail(err);
        this.#dropTransport('io client disconnect', false);
      };
      const timer = setTimeout(() => {
        fail(new SocketError(`Could not connect to ${this.url.split('?')[0]} within ${this.options.timeout} ms`, { code: 'connect_timeout' }));
        this.#dropTransport('transport error', false);
      }, this.options.timeout);

      let ws;
      try {
        ws = new this.WebSocket(this.url);
      } catch (err) {
        fail(new SocketError(`Could not open a WebSocket to ${this.url.split('?')[0]}: ${err.message}`, { code: 'transport' }));
        return;
      }
      this.ws = ws;
      ws.onmessage = (ev) => {
        if (this.ws !== ws) return;
        const text = typeof ev.data === 'string' ? ev.data : String(ev.data);
        this.#onFrame(text, {
          connected: () => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            if (this.opening === opening) this.opening = null;
            resolve(this);
          },
          refused: (err) => {
            fail(err);
            this.#dropTransport('io server disconnect', false);
          },
        });
      };
      ws.onclose = () => {
        if (this.ws !== ws) return;
        fail(new SocketError(`The connection to ${this.url.split('?')[0]} closed before the namespace was joined`, { code: 'transport' }));
        this.#dropTransport('transport close', true);
      };
      ws.onerror = () => {
        // A close event always follows; it carries the handling.
      };
    });
    return opening.promise;
  }

  #onFrame(text, pending) {
    this.#armPingTimer();
    switch (text[0]) {
      case ENGINE.OPEN: {
        try {
          this.handshake = JSON.parse(text.slice(1));
        } catch {
          this.handshake = {};
        }
        this.#armPingTimer();
        const auth = this.options.auth;
        this.#send(encodePacket({ type: SIO.CONNECT, nsp: this.namespace, data: auth === undefined ? undefined : auth }));
        break;
      }
      case ENGINE.PING:
        this.#send(ENGINE.PONG + text.slice(1));
        break;
      case ENGINE.CLOSE:
        this.#dropTransport('transport close', true);
        break;
      case ENGINE.MESSAGE: {
        const packet = decodePacket(text.slice(1));
        if (!packet || packet.nsp !== this.namespace) return;
        this.#onPacket(packet, pending);
        break;
      }
      default:
        break; // pong, noop, upgrade: nothing to do
    }
  }

  #onPacket(packet, pending) {
    switch (packet.type) {
      case SIO.CONNECT: {
        this.id = packet.data?.sid ?? null;
        this.connected = true;
        this.reconnecting = false;
        this.attempts = 0;
        this.everConnected = true;
        pending.connected();
        this.#fire('connect');
        break;
      }
      case SIO.CONNECT_ERROR: {
        const message = packet.data?.message ?? 'The server refused the connection';
        pending.refused(new SocketError(message, { code: 'connect_error', data: packet.data?.data }));
        break;
      }
      case SIO.DISCONNECT:
        this.closedByUser = true; // socket.io semantics: a server disconnect is not retried
        this.#teardown('io server disconnect');
        break;
      case SIO.EVENT: {
        if (!Array.isArray(packet.data) || typeof packet.data[0] !== 'string') return;
        const [event, ...args] = packet.data;
        if (packet.id !== undefined) {
          let sent = false;
          args.push((...ackArgs) => {
            if (sent) return;
            sent = true;
            this.#send(encodePacket({ type: SIO.ACK, nsp: this.namespace, id: packet.id, data: ackArgs }));
          });
        }
        for (const handler of [...this.anyHandlers]) {
          try {
            handler(event, ...args);
          } catch (err) {
            queueMicrotask(() => { throw err; });
          }
        }
        if (!RESERVED_EVENTS.includes(event)) this.#fire(event, ...args);
        break;
      }
      case SIO.ACK: {
        const entry = this.acks.get(packet.id);
        if (!entry) return;
        this.acks.delete(packet.id);
        entry.resolve(Array.isArray(packet.data) ? packet.data : []);
        break;
      }
      default:
        break; // binary packets are not supported
    }
  }

  #armPingTimer() {
    clearTimeout(this.pingTimer);
    const { pingInterval, pingTimeout } = this.handshake ?? {};
    if (!pingInterval) return;
    this.pingTimer = setTimeout(() => this.#dropTransport('ping timeout', true), pingInterval + (pingTimeout ?? 20000));
  }

  /** The transport is gone (or must go): clean up and maybe schedule a reconnection. */
  #dropTransport(reason, mayReconnect) {
    this.#teardown(reason);
    if (mayReconnect && this.everConnected && !this.closedByUser && this.options.reconnection) this.#scheduleReconnect();
  }

  #teardown(reason) {
    clearTimeout(this.pingTimer);
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onmessage = null;
      ws.onclose = null;
      ws.onerror = null;
      try {
        if (ws.readyState <= 1) ws.close();
      } catch {
        // already closing
      }
    }
    const err = new SocketError(`The connection to the server was lost (${reason})`, { code: 'disconnected' });
    for (const entry of this.acks.values()) entry.reject(err);
    this.acks.clear();
    const wasConnected = this.connected;
    this.connected = false;
    this.id = null;
    if (wasConnected) this.#fire('disconnect', reason);
  }

  /** Delay before reconnection attempt `attempt` (1-based), with jitter. */
  reconnectDelay(attempt) {
    const { reconnectionDelay, reconnectionDelayMax, randomizationFactor } = this.options;
    const base = Math.min(reconnectionDelay * 2 ** (attempt - 1), reconnectionDelayMax);
    const jitter = 1 + randomizationFactor * (2 * Math.random() - 1);
    return Math.round(Math.min(base * jitter, reconnectionDelayMax));
  }

  #scheduleReconnect() {
    if (this.reconnectTimer && this.reconnecting) return;
    if (this.attempts >= this.options.reconnectionAttempts) {
      this.reconnecting = false;
      this.#fire('reconnect_failed');
      return;
    }
    this.attempts += 1;
    const delay = this.reconnectDelay(this.attempts);
    this.reconnecting = true;
    this.#fire('reconnect_attempt', this.attempts, delay);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.closedByUser) return;
      this.#open().catch(() => {
        if (!this.closedByUser && !this.connected && !this.ws) this.#scheduleReconnect();
      });
    }, delay);
  }
}

/**
 * Creates a {@link Socket} (not yet connected; call `connect()`).
 * @param {string} origin Server origin.
 * @param {ConstructorParameters<typeof Socket>[1]} [options]
 */
export function connect(origin, options) {
  return new Socket(origin, options);
}
