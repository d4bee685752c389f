// Podium browser client library.
//
// A small, dependency-free ES module that talks the Millicast wire protocol
// (Director HTTP API + WebSocket JSON signaling) to a Podium server using only
// standard browser APIs (fetch, WebSocket, RTCPeerConnection, EventTarget).
//
//   import { Publish, View } from '/podium.js';
//
//   const pub = new Publish({ endpoint: location.origin, token, streamName: 'demo' });
//   await pub.connect({ mediaStream: await navigator.mediaDevices.getUserMedia({ audio: true, video: true }) });
//
//   const view = new View({ endpoint: location.origin, streamName: 'demo' });
//   view.addEventListener('active', (e) => console.log('source live', e.detail.sourceId));
//   await view.connect();
//   videoElement.srcObject = view.mediaStream;
//
// Connection data from elsewhere (e.g. tokens handed out by Podium's rooms server): pass the
// Director reply itself, or a function returning it (called again on every connect, like the
// Millicast SDK's tokenGenerator); the stream name then comes from the JWT:
//
//   const pub = new Publish({ tokenGenerator: async () => (await askMyServer()).publisherToken });
//   const view = new View({ connectionData: joinReply.viewerToken });
//
// Events are dispatched as `CustomEvent`s whose `detail` carries the payload.

import { moveView } from './podium-migrate.js';

/** Default timeout (ms) for opening the WebSocket and for each signaling command. */
export const DEFAULT_TIMEOUT_MS = 15000;

/** Video codecs a publisher may ask for. */
export const VIDEO_CODECS = Object.freeze(['vp8', 'vp9', 'h264', 'av1']);

/** Events a viewer may subscribe to (the server sends all of them when `events` is omitted). */
export const VIEWER_EVENTS = Object.freeze([
  'active', 'inactive', 'stopped', 'viewercount', 'vad', 'layers', 'updated', 'migrate',
]);

/** Error thrown for a `status: "fail"` Director reply or an `error` signaling reply. */
export class PodiumError extends Error {
  /**
   * @param {string} message
   * @param {{status?: number, data?: unknown, command?: string}} [info]
   */
  constructor(message, { status, data, command } = {}) {
    super(message);
    this.name = 'PodiumError';
    /** HTTP status of a failed Director request, if any. */
    this.status = status;
    /** Raw `data` of the failure reply. */
    this.data = data;
    /** Name of the signaling command that failed, if any. */
    this.command = command;
  }
}

// ---------------------------------------------------------------------------
// Director
// ---------------------------------------------------------------------------

function trimEndpoint(endpoint) {
  const base = endpoint ?? globalThis.location?.origin;
  if (!base) throw new TypeError('endpoint is required');
  return String(base).replace(/\/+$/, '');
}

async function directorRequest(url, body, token) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
  let reply;
  try {
    reply = await res.json();
  } catch {
    throw new PodiumError(`Director request failed: HTTP ${res.status} ${res.statusText}`, { status: res.status });
  }
  if (reply?.status === 'fail') {
    const message = reply.data?.message ?? `Director request failed: HTTP ${res.status}`;
    throw new PodiumError(message, { status: res.status, data: reply.data });
  }
  if (!reply?.data || !Array.isArray(reply.data.urls) || reply.data.urls.length === 0) {
    throw new PodiumError(`Unexpected Director reply (HTTP ${res.status})`, { status: res.status, data: reply });
  }
  return reply.data;
}

/**
 * Director HTTP API helpers. Both return the reply's `data`
 * (`{urls, jwt, iceServers, streamAccountId, ...}`) or throw a {@link PodiumError}.
 */
export const Director = Object.freeze({
  /**
   * Ask for publishing connection data.
   * @param {{endpoint?: string, token: string, streamName: string, streamType?: string}} options
   *   `endpoint` defaults to `location.origin`.
   * @returns {Promise<DirectorData>}
   */
  getPublisher({ endpoint, token, streamName, streamType = 'WebRtc' }) {
    return directorRequest(`${trimEndpoint(endpoint)}/api/director/publish`, { streamName, streamType }, token);
  },

  /**
   * Ask for viewing connection data. No token is needed for open streams.
   * @param {{endpoint?: string, streamName: string, streamAccountId?: string, token?: string}} options
   * @returns {Promise<DirectorData>}
   */
  getSubscriber({ endpoint, streamName, streamAccountId, token }) {
    const body = { streamName };
    if (streamAccountId) body.streamAccountId = streamAccountId;
    return directorRequest(`${trimEndpoint(endpoint)}/api/director/subscribe`, body, token);
  },
});

/**
 * @typedef {object} DirectorData
 * @property {string[]} urls WebSocket URLs; the first one is used.
 * @property {string} jwt Token appended to the WebSocket URL.
 * @property {RTCIceServer[]} [iceServers]
 * @property {string} [streamAccountId]
 */

/** WebSocket URL for Director data: plain concatenation, as every Millicast client does. */
export function signalingUrl(directorData) {
  return `${directorData.urls[0]}?token=${directorData.jwt}`;
}

/**
 * Decodes the claims of a signaling JWT (no signature check: the server does that).
 * @param {string} jwt
 * @returns {object|null} e.g. `{exp, millicast: {type, streamName, streamAccountId, sourceId, ...}}`
 */
export function decodeJwtClaims(jwt) {
  try {
    const part = String(jwt).split('.')[1];
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

/** Checks that `data` looks like a Director reply (`{urls: [..], jwt}`), or throws. */
function checkConnectionData(data, where) {
  if (!data || !Array.isArray(data.urls) || data.urls.length === 0 || typeof data.jwt !== 'string' || !data.jwt) {
    throw new PodiumError(`${where} did not provide connection data ({urls, jwt, ...})`, { data });
  }
  return data;
}

/** Normalises Director ICE servers (`userName` → `username`) for RTCPeerConnection. */
function toRtcIceServers(iceServers) {
  return (iceServers ?? []).map(({ urls, url, username, userName, credential }) => {
    const server = { urls: urls ?? url };
    if (username ?? userName) server.username = username ?? userName;
    if (credential) server.credential = credential;
    return server;
  });
}

// ---------------------------------------------------------------------------
// Signaling
// ---------------------------------------------------------------------------

/**
 * WebSocket JSON signaling (medooze transaction-manager framing).
 *
 * Server events are re-dispatched as `CustomEvent(name, {detail: data})`.
 * Also dispatches `close` (`detail: {code, reason}`) when the socket closes.
 */
export class Signaling extends EventTarget {
  /**
   * @param {string} url Full WebSocket URL, i.e. `urls[0] + "?token=" + jwt`.
   * @param {{timeoutMs?: number}} [options]
   */
  constructor(url, { timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
    super();
    this.url = url;
    this.timeoutMs = timeoutMs;
    /** @type {WebSocket|null} */
    this.ws = null;
    this.nextTransId = 0;
    /** @type {Map<number, {resolve: Function, reject: Function, name: string, timer: any}>} */
    this.pending = new Map();
  }

  /**
   * Build the signaling URL from Director data and open it.
   * @param {DirectorData} directorData
   * @param {{timeoutMs?: number}} [options]
   * @returns {Promise<Signaling>}
   */
  static async open(directorData, options) {
    const signaling = new Signaling(signalingUrl(directorData), options);
    await signaling.connect();
    return signaling;
  }

  /** True while the socket is open. */
  get isOpen() {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  /**
   * Open the WebSocket.
   * @returns {Promise<void>} resolves once the socket is open.
   */
  connect() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      this.ws = ws;
      let opened = false;
      const timer = setTimeout(() => {
        if (!opened) {
          ws.close();
          reject(new PodiumError(`WebSocket did not open within ${this.timeoutMs} ms`));
        }
      }, this.timeoutMs);
      ws.onopen = () => {
        opened = true;
        clearTimeout(timer);
        resolve();
      };
      ws.onerror = () => {
        if (!opened) {
          clearTimeout(timer);
          reject(new PodiumError(`WebSocket connection to ${this.url.split('?')[0]} failed`));
        }
      };
      ws.onclose = (ev) => {
        clearTimeout(timer);
        if (!opened) reject(new PodiumError(`WebSocket closed before opening (code ${ev.code})`));
        this.#failPending(new PodiumError(`WebSocket closed (code ${ev.code})`));
        if (this.ws === ws) this.ws = null;
        this.dispatchEvent(new CustomEvent('close', { detail: { code: ev.code, reason: ev.reason } }));
      };
      ws.onmessage = (ev) => this.#onMessage(ev.data);
    });
  }

  /**
   * Send a command and wait for its response.
   * @param {string} name Command name (`publish`, `view`, `project`, ...).
   * @param {object} [data] Command payload; omitted from the frame when undefined.
   * @returns {Promise<any>} the response `data`; rejects with a {@link PodiumError} on an `error` reply.
   */
  cmd(name, data) {
    if (!this.isOpen) return Promise.reject(new PodiumError(`Cannot send "${name}": WebSocket is not open`));
    const transId = this.nextTransId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(transId);
        reject(new PodiumError(`No reply to "${name}" within ${this.timeoutMs} ms`, { command: name }));
      }, this.timeoutMs);
      this.pending.set(transId, { resolve, reject, name, timer });
      this.ws.send(JSON.stringify({ type: 'cmd', transId, name, data }));
    });
  }

  /** Close the socket and reject every pending command. */
  close() {
    const ws = this.ws;
    this.ws = null;
    this.#failPending(new PodiumError('Signaling closed'));
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close();
  }

  #onMessage(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return; // unparseable frames are ignored
    }
    switch (msg?.type) {
      case 'response':
      case 'error': {
        const entry = this.pending.get(msg.transId);
        if (!entry) return; // unknown transId: ignore
        this.pending.delete(msg.transId);
        clearTimeout(entry.timer);
        if (msg.type === 'response') {
          entry.resolve(msg.data);
        } else {
          const reason = typeof msg.data === 'string' ? msg.data : (msg.data?.message ?? JSON.stringify(msg.data));
          entry.reject(new PodiumError(reason, { data: msg.data, command: entry.name }));
        }
        break;
      }
      case 'event':
        if (typeof msg.name === 'string') {
          this.dispatchEvent(new CustomEvent(msg.name, { detail: msg.data }));
        }
        break;
      default:
        break;
    }
  }

  #failPending(error) {
    for (const entry of this.pending.values()) {
      clearTimeout(entry.timer);
      entry.reject(error);
    }
    this.pending.clear();
  }
}

// ---------------------------------------------------------------------------
// Shared base for Publish and View
// ---------------------------------------------------------------------------

class Connection extends EventTarget {
  /** @type {RTCPeerConnection|null} */
  peerConnection = null;
  /** @type {Signaling|null} */
  signaling = null;
  /** @type {DirectorData|null} Director reply used for the current connection. */
  directorData = null;

  /**
   * Where connection data comes from: `{connectionData}` (a Director reply), `{tokenGenerator}`
   * (a function returning one, or a promise of one), or the Director (`endpoint` + token).
   * @param {{connectionData?: DirectorData, tokenGenerator?: () => DirectorData|Promise<DirectorData>, streamName?: string}} options
   */
  setSource({ connectionData, tokenGenerator, streamName }) {
    if (tokenGenerator !== undefined && typeof tokenGenerator !== 'function') throw new TypeError('tokenGenerator must be a function');
    if (connectionData !== undefined && connectionData !== null) checkConnectionData(connectionData, 'connectionData');
    this.connectionData = connectionData ?? null;
    this.tokenGenerator = tokenGenerator ?? null;
    if (!streamName && !this.connectionData && !this.tokenGenerator) throw new TypeError('streamName is required');
    /** Stream name; with connection data or a token generator it may come from the JWT. */
    this.streamName = streamName || (this.connectionData ? decodeJwtClaims(this.connectionData.jwt)?.millicast?.streamName : undefined);
  }

  /** Connection data for the next connection: the given one, the generator's, or the Director's. */
  async resolveConnectionData(fromDirector) {
    let data;
    if (this.tokenGenerator) {
      data = checkConnectionData(await this.tokenGenerator(), 'tokenGenerator');
    } else if (this.connectionData) {
      data = this.connectionData;
    } else {
      return fromDirector();
    }
    if (!this.streamName) {
      this.streamName = decodeJwtClaims(data.jwt)?.millicast?.streamName;
      if (!this.streamName) throw new PodiumError('No streamName given and none in the JWT');
    }
    return data;
  }

  /** Current `RTCPeerConnection.connectionState`, or `"new"` before connecting. */
  get connectionState() {
    return this.peerConnection?.connectionState ?? 'new';
  }

  /**
   * Passthrough to `RTCPeerConnection.getStats()`.
   * @param {MediaStreamTrack|null} [selector]
   * @returns {Promise<RTCStatsReport>}
   */
  getStats(selector = null) {
    if (!this.peerConnection) return Promise.reject(new PodiumError('Not connected'));
    return this.peerConnection.getStats(selector);
  }

  /** Close the peer connection and the signaling socket. Safe to call more than once. */
  stop() {
    const pc = this.peerConnection;
    const signaling = this.signaling;
    this.peerConnection = null;
    this.signaling = null;
    signaling?.close();
    if (pc && pc.connectionState !== 'closed') {
      pc.close();
      // close() does not fire connectionstatechange; report it ourselves.
      this.emit('connectionState', 'closed');
    }
  }

  /** Create the peer connection and hook connection-state reporting. */
  createPeerConnection(rtcConfiguration) {
    const pc = new RTCPeerConnection({
      ...rtcConfiguration,
      iceServers: rtcConfiguration?.iceServers ?? toRtcIceServers(this.directorData?.iceServers),
    });
    pc.addEventListener('connectionstatechange', () => {
      if (this.peerConnection === pc) this.emit('connectionState', pc.connectionState);
    });
    this.peerConnection = pc;
    return pc;
  }

  /** Open signaling and forward the given server events to this object. */
  async openSignaling(eventNames, timeoutMs) {
    const signaling = new Signaling(signalingUrl(this.directorData), { timeoutMs });
    for (const name of eventNames) {
      signaling.addEventListener(name, (ev) => this.onSignalingEvent(name, ev.detail));
    }
    signaling.addEventListener('close', (ev) => {
      if (this.signaling === signaling) this.emit('signalingClose', ev.detail);
    });
    this.signaling = signaling;
    await signaling.connect();
    return signaling;
  }

  /** Hook for subclasses; default re-dispatches the event unchanged. */
  onSignalingEvent(name, data) {
    this.emit(name, data);
  }

  /** Run `fn`; on failure tear everything down and rethrow. */
  async guard(fn) {
    try {
      return await fn();
    } catch (err) {
      this.stop();
      throw err;
    }
  }

  /** Dispatch `CustomEvent(name, {detail})` on this object. */
  emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }
}

// ---------------------------------------------------------------------------
// Publish
// ---------------------------------------------------------------------------

/** Puts `codec` first in the transceiver's codec list (others keep their order). */
function preferVideoCodec(transceiver, codec) {
  if (typeof transceiver.setCodecPreferences !== 'function' || !globalThis.RTCRtpReceiver?.getCapabilities) return;
  const caps = RTCRtpReceiver.getCapabilities('video');
  if (!caps) return;
  const wanted = `video/${codec}`.toLowerCase();
  const preferred = caps.codecs.filter((c) => c.mimeType.toLowerCase() === wanted);
  if (preferred.length === 0) return;
  const rest = caps.codecs.filter((c) => c.mimeType.toLowerCase() !== wanted);
  try {
    transceiver.setCodecPreferences([...preferred, ...rest]);
  } catch {
    // Not fatal: the server picks the codec named in the publish command.
  }
}

/**
 * Adds `usedtx=1` to the fmtp line of every Opus payload type of an SDP (creating the
 * fmtp line if there is none). With it in the offer the server puts `usedtx=1` in its
 * answer, and the browser then sends almost nothing while the microphone is silent
 * (Opus discontinuous transmission). Other lines are left untouched.
 * @param {string} sdp
 * @returns {string} the munged SDP
 */
export function enableOpusDtx(sdp) {
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const lines = sdp.split(/\r?\n/);
  const opusPts = new Set();
  for (const line of lines) {
    const m = /^a=rtpmap:(\d+) opus\//i.exec(line);
    if (m) opusPts.add(m[1]);
  }
  if (opusPts.size === 0) return sdp;
  const withFmtp = new Set();
  const out = lines.map((line) => {
    const m = /^a=fmtp:(\d+) (.*)$/.exec(line);
    if (!m || !opusPts.has(m[1])) return line;
    withFmtp.add(m[1]);
    if (/(^|;)\s*usedtx=/.test(m[2])) return line.replace(/usedtx=\d/, 'usedtx=1');
    return `${line};usedtx=1`;
  });
  // Opus payload types without any fmtp line get one right after their rtpmap.
  const result = [];
  for (const line of out) {
    result.push(line);
    const m = /^a=rtpmap:(\d+) opus\//i.exec(line);
    if (m && !withFmtp.has(m[1])) result.push(`a=fmtp:${m[1]} usedtx=1`);
  }
  return result.join(eol);
}

/**
 * Publishes a MediaStream to a Podium stream.
 *
 * Events (`CustomEvent`, payload in `detail`):
 * - `connectionState`: the peer connection state (`"connecting"`, `"connected"`, `"failed"`, `"closed"`, ...)
 * - `active`, `inactive`, `viewercount`, `stopped`: server signaling events (payload as sent by the server)
 * - `signalingClose`: the WebSocket closed unexpectedly (`{code, reason}`)
 */
/** The encodings of a simulcast publisher, lowest first (rid-based, RFC 8853). */
export const SIMULCAST_ENCODINGS = Object.freeze([
  Object.freeze({ rid: 'l', scaleResolutionDownBy: 4, maxBitrate: 200_000 }),
  Object.freeze({ rid: 'm', scaleResolutionDownBy: 2, maxBitrate: 700_000 }),
  Object.freeze({ rid: 'h', scaleResolutionDownBy: 1, maxBitrate: 2_500_000 }),
]);

export class Publish extends Connection {
  /**
   * @param {object} options
   * @param {string} [options.streamName] Stream to publish (optional with `connectionData` or
   *   `tokenGenerator`: then taken from the JWT's `millicast.streamName`).
   * @param {string} [options.token] Publish token for the Director.
   * @param {string} [options.endpoint] Server base URL for the Director (default `location.origin`).
   * @param {DirectorData} [options.connectionData] Ready connection data (skips the Director).
   * @param {() => DirectorData|Promise<DirectorData>} [options.tokenGenerator] Called on every
   *   {@link Publish#connect} for fresh connection data (skips the Director).
   */
  constructor({ endpoint, token, streamName, connectionData, tokenGenerator }) {
    super();
    this.setSource({ connectionData, tokenGenerator, streamName });
    this.endpoint = connectionData || tokenGenerator ? endpoint : trimEndpoint(endpoint);
    this.token = token;
    /** Response `data` of the `publish` command (`publisherId`, `streamId`, ...). */
    this.publishData = null;
  }

  /**
   * Start publishing.
   * @param {object} options
   * @param {MediaStream} options.mediaStream Local media to send.
   * @param {string} [options.sourceId] Multisource id; omit for the main source.
   * @param {'vp8'|'vp9'|'h264'|'av1'} [options.codec='vp8'] Preferred video codec.
   * @param {boolean} [options.disableVideo] Do not send the stream's video track.
   * @param {boolean} [options.disableAudio] Do not send the stream's audio track.
   * @param {boolean} [options.dtx=false] Opus DTX (discontinuous transmission): `usedtx=1` is
   *   added to the offer's Opus fmtp and the server mirrors it in its answer, so the browser
   *   sends only a few packets per second while the audio is silent. Recommended for
   *   speakers of a multiplexed (voice-activity) audio room.
   * @param {boolean} [options.simulcast=false] Send the video as three encodings (rids
   *   `l`, `m`, `h`: a quarter, half and full size) so each viewer gets the one its
   *   downlink carries or the one it `select`s. Browsers send fewer encodings for small
   *   sources (Chromium: one below 640x360).
   * @param {string[]} [options.events] Publisher events to ask for (`active`, `inactive`, `viewercount`).
   * @param {RTCConfiguration} [options.peerConfig] Extra RTCPeerConnection configuration.
   * @param {number} [options.timeoutMs] Signaling timeout.
   * @returns {Promise<object>} the `publish` response data.
   */
  async connect({
    mediaStream, sourceId, codec = 'vp8', disableVideo = false, disableAudio = false, dtx = false, simulcast = false, events, peerConfig, timeoutMs,
  } = {}) {
    if (!mediaStream) throw new TypeError('mediaStream is required');
    if (!VIDEO_CODECS.includes(codec)) throw new TypeError(`Unsupported codec "${codec}" (use one of ${VIDEO_CODECS.join(', ')})`);
    if (this.peerConnection) throw new PodiumError('Already connected; call stop() first');

    const audioTracks = disableAudio ? [] : mediaStream.getAudioTracks();
    const videoTracks = disableVideo ? [] : mediaStream.getVideoTracks();
    if (audioTracks.length + videoTracks.length === 0) throw new PodiumError('Nothing to publish: no audio or video track');

    return this.guard(async () => {
      this.directorData = await this.resolveConnectionData(
        () => Director.getPublisher({ endpoint: this.endpoint, token: this.token, streamName: this.streamName }),
      );
      const pc = this.createPeerConnection(peerConfig);
      for (const track of audioTracks) {
        pc.addTransceiver(track, { direction: 'sendonly', streams: [mediaStream] });
      }
      for (const track of videoTracks) {
        const init = { direction: 'sendonly', streams: [mediaStream] };
        if (simulcast) init.sendEncodings = SIMULCAST_ENCODINGS.map((e) => ({ ...e }));
        const transceiver = pc.addTransceiver(track, init);
        preferVideoCodec(transceiver, codec);
      }
      const offer = await pc.createOffer();
      await pc.setLocalDescription({ type: 'offer', sdp: dtx ? enableOpusDtx(offer.sdp) : offer.sdp });

      const signaling = await this.openSignaling(['active', 'inactive', 'viewercount', 'stopped'], timeoutMs);
      const data = { name: this.streamName, sdp: pc.localDescription.sdp, codec };
      if (sourceId !== undefined && sourceId !== null && sourceId !== '') data.sourceId = String(sourceId);
      if (events) data.events = events;
      const reply = await signaling.cmd('publish', data);
      if (this.peerConnection !== pc) throw new PodiumError('Stopped while connecting');
      await pc.setRemoteDescription({ type: 'answer', sdp: reply.sdp });
      this.publishData = reply;
      return reply;
    });
  }

  /**
   * Level (0..1, linear) of the local audio being sent, from the peer connection's
   * `media-source` stats: what the microphone captures (0 while the track is disabled).
   * @returns {Promise<number|null>} null when not connected or no audio is sent
   */
  async audioLevel() {
    const pc = this.peerConnection;
    if (!pc) return null;
    const report = await pc.getStats();
    for (const s of report.values()) {
      if (s.type === 'media-source' && s.kind === 'audio' && typeof s.audioLevel === 'number') return s.audioLevel;
    }
    return null;
  }
}

// ---------------------------------------------------------------------------
// View
// ---------------------------------------------------------------------------

/**
 * Views a Podium stream.
 *
 * Events (`CustomEvent`, payload in `detail`):
 * - `track`: `{track, mid, kind, transceiver, streams, main}`; `main` is true for the
 *   default (pinned source) video/audio transceivers, false for multiplexed audio slots.
 * - `vad`: `{mediaId, sourceId?}` — the audio slot with mid `mediaId` now carries `sourceId`
 *   (`null` = the main source); without `sourceId` the slot was emptied (its source ended).
 *   {@link View#slots} is already updated when this event is dispatched.
 * - `active`, `inactive`, `stopped`, `viewercount`, `layers`, `updated`, `migrate`: server events.
 *   On `migrate` the view moves by itself ({@link View#autoMigrate}).
 * - `migrated`: `{viewData}` — {@link View#replaceConnection} finished: new tracks are in place.
 * - `migrateFailed`: `{error}` — an automatic move failed (the old connection goes on).
 * - `connectionState`, `signalingClose`: as for {@link Publish}.
 *
 * Audio multiplexing: `connect({multiplexedAudioTracks: 3})` asks for three audio slots; the
 * server forwards the stream's most active speakers (other than the pinned source and
 * `excludedSourceIds`) into them and announces every change with a `vad` event:
 *
 *   view.addEventListener('vad', () => console.log([...view.slots]));  // [['2','alice'], ['3', undefined], ...]
 *   setInterval(async () => console.log(await view.slotLevels()), 100); // {'2': 0.31, '3': 0, ...}
 */
export class View extends Connection {
  /** The options of the last {@link View#connect}, for {@link View#replaceConnection}. */
  #lastConnect = null;

  /** The replacement in progress, if any. */
  #replacing = null;

  /**
   * Whether a `migrate` event (the server is draining) makes this view move to another
   * server by itself, make-before-break ({@link View#replaceConnection}). Default true.
   */
  autoMigrate = true;

  /**
   * @param {object} options
   * @param {string} [options.streamName] Stream to view (optional with `connectionData` or
   *   `tokenGenerator`: then taken from the JWT's `millicast.streamName`).
   * @param {string} [options.endpoint] Server base URL for the Director (default `location.origin`).
   * @param {string} [options.streamAccountId]
   * @param {string} [options.token] Subscribe token for protected streams.
   * @param {DirectorData} [options.connectionData] Ready connection data (skips the Director).
   * @param {() => DirectorData|Promise<DirectorData>} [options.tokenGenerator] Called on every
   *   {@link View#connect} for fresh connection data (skips the Director).
   */
  constructor({ endpoint, streamName, streamAccountId, token, connectionData, tokenGenerator }) {
    super();
    this.setSource({ connectionData, tokenGenerator, streamName });
    this.endpoint = connectionData || tokenGenerator ? endpoint : trimEndpoint(endpoint);
    this.streamAccountId = streamAccountId;
    this.token = token;
    /**
     * Main (pinned source) video and audio tracks. Tip: play the audio through its
     * own `<audio>` element; Chrome does not render a `<video>` element's audio while
     * its video track has no frame yet (e.g. when the pinned source is audio-only).
     */
    this.mediaStream = new MediaStream();
    /** Live sources from `active`/`inactive` events, keyed by sourceId (`null` = main source). */
    this.activeSources = new Map();
    /** Response `data` of the `view` command (`subscriberId`, `streamViewId`, ...). */
    this.viewData = null;
    /**
     * Mids of the default video/audio transceivers, of the multiplexed audio slots and of
     * the transceivers added with {@link View#addRemoteTrack}.
     */
    this.mids = { video: null, audio: null, multiplexed: [], projected: [] };
    /**
     * Multiplexed audio slots, in transceiver order: mid → sourceId of the speaker the slot
     * carries (`null` = the main source, `undefined` = empty). Filled with `undefined` by
     * {@link View#connect} and kept up to date from `vad` events.
     * @type {Map<string, string|null|undefined>}
     */
    this.slots = new Map();
    /**
     * Remote audio track of each multiplexed slot, by mid (one continuous track per slot,
     * whichever speaker it carries). Play each through its own `<audio>` element.
     * @type {Map<string, MediaStreamTrack>}
     */
    this.slotTracks = new Map();
    /**
     * Simulcast encodings of what each video transceiver carries, by mid, from `layers`
     * events: `{active: [{id, simulcastIdx, bitrate, width, height, layers}], inactive, layers}`
     * with `active` lowest first. Pass an `id` to {@link View#select} (main video) or as a
     * projection's `layer: {encodingId}`.
     * @type {Map<string, object>}
     */
    this.layers = new Map();
  }

  /**
   * Start viewing.
   * @param {object} [options]
   * @param {string} [options.pinnedSourceId] Source carried by the default transceivers (default: main source).
   * @param {string[]} [options.excludedSourceIds] Sources never multiplexed into this viewer's
   *   audio slots (typically the viewer's own sourceId, so it does not hear itself).
   * @param {string[]} [options.events] Events to receive (server default: all).
   * @param {boolean} [options.disableVideo] No video transceiver.
   * @param {boolean} [options.disableAudio] No main audio transceiver.
   * @param {number} [options.multiplexedAudioTracks=0] Number of audio slots for voice-activity
   *   multiplexing: that many recvonly audio transceivers are added after the main ones and
   *   `vad: true` is sent. See {@link View#slots}, {@link View#slotTracks}, {@link View#slotLevels}.
   * @param {{encodingId: string}} [options.layer] The main video's simulcast encoding from the
   *   start (as {@link View#select} later); without it the server chooses.
   * @param {RTCConfiguration} [options.peerConfig] Extra RTCPeerConnection configuration.
   * @param {number} [options.timeoutMs] Signaling timeout.
   * @returns {Promise<object>} the `view` response data.
   */
  async connect({
    pinnedSourceId, excludedSourceIds, events, disableVideo = false, disableAudio = false,
    multiplexedAudioTracks = 0, layer, peerConfig, timeoutMs,
  } = {}) {
    if (this.peerConnection) throw new PodiumError('Already connected; call stop() first');
    this.#lastConnect = {
      pinnedSourceId, excludedSourceIds, events, disableVideo, disableAudio, multiplexedAudioTracks, layer, peerConfig, timeoutMs,
    };
    const slotCount = Number(multiplexedAudioTracks ?? 0);
    if (!Number.isInteger(slotCount) || slotCount < 0) {
      throw new TypeError(`multiplexedAudioTracks must be a non-negative integer (got ${multiplexedAudioTracks})`);
    }
    if (excludedSourceIds !== undefined && excludedSourceIds !== null && !Array.isArray(excludedSourceIds)) {
      throw new TypeError('excludedSourceIds must be an array of sourceIds');
    }
    this.activeSources.clear();
    this.slots.clear();
    this.slotTracks.clear();

    return this.guard(async () => {
      this.directorData = await this.resolveConnectionData(() => Director.getSubscriber({
        endpoint: this.endpoint, streamName: this.streamName, streamAccountId: this.streamAccountId, token: this.token,
      }));
      const pc = this.createPeerConnection(peerConfig);

      const mainTransceivers = new Set();
      if (!disableVideo) mainTransceivers.add(pc.addTransceiver('video', { direction: 'recvonly' }));
      if (!disableAudio) mainTransceivers.add(pc.addTransceiver('audio', { direction: 'recvonly' }));
      const slots = [];
      for (let i = 0; i < slotCount; i++) slots.push(pc.addTransceiver('audio', { direction: 'recvonly' }));

      pc.addEventListener('track', (ev) => this.#onTrack(ev, mainTransceivers.has(ev.transceiver)));

      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      for (const t of mainTransceivers) this.mids[t.receiver.track.kind] = t.mid;
      this.mids.multiplexed = slots.map((t) => t.mid);
      this.mids.projected = [];
      for (const mid of this.mids.multiplexed) this.slots.set(mid, undefined);

      const signaling = await this.openSignaling(VIEWER_EVENTS, timeoutMs);
      const data = { streamId: this.streamName, sdp: pc.localDescription.sdp };
      if (pinnedSourceId !== undefined && pinnedSourceId !== null && pinnedSourceId !== '') data.pinnedSourceId = pinnedSourceId;
      if (excludedSourceIds?.length) data.excludedSourceIds = excludedSourceIds.map(String);
      if (events) data.events = events;
      if (slotCount > 0) data.vad = true;
      if (layer) data.layer = layer;
      const reply = await signaling.cmd('view', data);
      if (this.peerConnection !== pc) throw new PodiumError('Stopped while connecting');
      await pc.setRemoteDescription({ type: 'answer', sdp: reply.sdp });
      this.viewData = reply;
      return reply;
    });
  }

  /** @override */
  stop() {
    super.stop();
    for (const track of this.mediaStream.getTracks()) this.mediaStream.removeTrack(track);
    this.slotTracks.clear();
    this.layers.clear();
    for (const mid of this.slots.keys()) this.slots.set(mid, undefined);
  }

  /**
   * Current audio level (0..1, linear) of each multiplexed audio slot, keyed by mid.
   *
   * The level comes from the slot receiver's `getSynchronizationSources()`: the RFC 6464
   * audio level the server writes on every packet, as of the last packet played out (so play
   * each slot track, see {@link View#slotTracks}); an entry older than `maxAgeMs` counts as
   * silence (0). When the browser reports no synchronization source for a slot, the slot's
   * inbound-rtp `audioLevel` (measured on the decoded audio) is used instead; `null` when
   * neither exists yet (nothing received on that slot).
   * @param {{maxAgeMs?: number}} [options]
   * @returns {Promise<Object<string, number|null>>} e.g. `{"2": 0.31, "3": 0, "4": null}`
   */
  async slotLevels({ maxAgeMs = 1000 } = {}) {
    return this.#levels(new Set(this.slots.keys()), maxAgeMs);
  }

  /**
   * Like {@link View#slotLevels}, plus the main (pinned source) audio transceiver: current
   * audio level (0..1) of every received audio track, keyed by mid. Use `mids.audio` to find
   * the pinned source's level, {@link View#slots} for the speaker of each slot. Play the main
   * audio too (its level may come from the decoded audio).
   * @param {{maxAgeMs?: number}} [options]
   * @returns {Promise<Object<string, number|null>>}
   */
  async audioLevels({ maxAgeMs = 1000 } = {}) {
    const mids = new Set(this.slots.keys());
    if (this.mids.audio !== null) mids.add(this.mids.audio);
    return this.#levels(mids, maxAgeMs);
  }

  async #levels(wanted, maxAgeMs) {
    const pc = this.peerConnection;
    const levels = {};
    if (!pc) return levels;
    const missing = [];
    for (const transceiver of pc.getTransceivers()) {
      const { mid } = transceiver;
      if (!wanted.has(mid)) continue;
      const sources = transceiver.receiver.getSynchronizationSources?.() ?? [];
      const latest = sources.reduce((a, b) => (!a || b.timestamp > a.timestamp ? b : a), null);
      if (latest && typeof latest.audioLevel === 'number') {
        levels[mid] = syncSourceAge(latest.timestamp) > maxAgeMs ? 0 : latest.audioLevel;
      } else {
        levels[mid] = null;
        missing.push(mid);
      }
    }
    if (missing.length > 0) {
      const report = await pc.getStats();
      for (const s of report.values()) {
        if (s.type === 'inbound-rtp' && s.kind === 'audio' && missing.includes(s.mid) && typeof s.audioLevel === 'number') {
          levels[s.mid] = s.audioLevel;
        }
      }
    }
    return levels;
  }

  /**
   * Moves this view to a new connection, make-before-break: a second connection is opened
   * through the Director (or the token generator) with the options of the last
   * {@link View#connect}; once its peer connection is up, its tracks take the place of the
   * old ones in {@link View#mediaStream} (and are announced with `track` events, slots
   * included), and the old connection closes a second later. The server asks for this with
   * a `migrate` event when it is drained ({@link View#autoMigrate}). Should the new
   * connection hear `migrate` too (placed on a draining server by a Director that did not
   * know yet), it is dropped and the Director asked again, up to 3 times 0.5 s apart.
   * Projections made on the old connection are not carried over (listen for `migrated` to
   * make them again).
   * @param {{timeoutMs?: number}} [options] how long the new connection may take to come up
   * @returns {Promise<object>} the new `view` response data
   */
  async replaceConnection({ timeoutMs = 20000 } = {}) {
    if (!this.#lastConnect || !this.peerConnection) throw new PodiumError('Not connected');
    if (this.#replacing) return this.#replacing;
    this.#replacing = moveView(this, this.#lastConnect, { timeoutMs, PodiumError }).finally(() => {
      this.#replacing = null;
    });
    return this.#replacing;
  }

  /**
   * Adds a receiving transceiver for projection and renegotiates locally, without the server
   * (as the Millicast SDK's `addRemoteTrack` does): the answer to the new offer is made here
   * from the server's previous answer, the new m-line copying its first m-line of the kind.
   * Project a source onto the returned transceiver's `mid` with {@link View#project}.
   * @param {'audio'|'video'} kind
   * @returns {Promise<RTCRtpTransceiver>}
   */
  async addRemoteTrack(kind) {
    if (kind !== 'audio' && kind !== 'video') throw new TypeError(`kind must be audio or video (got ${kind})`);
    const pc = this.peerConnection;
    if (!pc?.remoteDescription) throw new PodiumError('Not connected');
    const transceiver = pc.addTransceiver(kind, { direction: 'recvonly' });
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const answer = renegotiatedAnswer(pc.remoteDescription.sdp, pc.localDescription.sdp);
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    this.mids.projected.push(transceiver.mid);
    return transceiver;
  }

  /**
   * Sends a source's tracks to transceivers of this view (`project`).
   * @param {string|null} sourceId The source (`null` = main source).
   * @param {Array<{trackId?: string, media?: 'audio'|'video', mediaId?: string, layer?: object, promote?: boolean}>} mapping
   */
  async project(sourceId, mapping) {
    if (!Array.isArray(mapping) || mapping.length === 0) throw new TypeError('mapping must be a non-empty array');
    return this.#command('project', { sourceId: sourceId ?? null, mapping });
  }

  /**
   * Stops sending on transceivers (`unproject`).
   * @param {string[]} mediaIds
   */
  async unproject(mediaIds) {
    if (!Array.isArray(mediaIds)) throw new TypeError('mediaIds must be an array of mids');
    return this.#command('unproject', { mediaIds: mediaIds.map(String) });
  }

  /**
   * Chooses the main video's simulcast layer (`select`); no layer (or `{}`) returns to
   * automatic selection. Layers are listed by `layers` events.
   * @param {{encodingId?: string}} [layer]
   */
  async select(layer = {}) {
    return this.#command('select', { layer: layer ?? {} });
  }

  async #command(name, data) {
    if (!this.signaling) throw new PodiumError('Not connected');
    return this.signaling.cmd(name, data);
  }

  onSignalingEvent(name, data) {
    if (name === 'migrate' && this.autoMigrate) {
      // The server is being drained: move now, before it disconnects us.
      this.replaceConnection().catch((err) => this.emit('migrateFailed', { error: err }));
    }
    if (name === 'active') {
      this.activeSources.set(data?.sourceId ?? null, data);
    } else if (name === 'inactive') {
      this.activeSources.delete(data?.sourceId ?? null);
    } else if (name === 'layers' && data && typeof data.medias === 'object' && data.medias) {
      for (const [mid, media] of Object.entries(data.medias)) this.layers.set(mid, media);
    } else if (name === 'vad' && data && typeof data.mediaId === 'string') {
      // `sourceId` absent = slot emptied; `null` = main source.
      this.slots.set(data.mediaId, 'sourceId' in data ? data.sourceId ?? null : undefined);
    }
    super.onSignalingEvent(name, data);
  }

  #onTrack(ev, main) {
    const { track, transceiver, streams } = ev;
    if (main) {
      for (const old of this.mediaStream.getTracks()) {
        if (old.kind === track.kind && old !== track) this.mediaStream.removeTrack(old);
      }
      if (!this.mediaStream.getTracks().includes(track)) this.mediaStream.addTrack(track);
    } else if (this.mids.multiplexed.includes(transceiver.mid)) {
      this.slotTracks.set(transceiver.mid, track);
    }
    this.emit('track', { track, kind: track.kind, mid: transceiver.mid, transceiver, streams, main });
  }
}

/**
 * The answer to a locally renegotiated offer, made from the server's previous answer: each
 * m-line of the offer keeps its previous answer or, new, copies the previous answer's first
 * m-line of its kind (codecs, header extensions, transport) under its own mid, without
 * SSRCs or msid (the server sends it with the MID header extension, see
 * docs/projection.md). Every mid is bundled.
 * @param {string} previousAnswer
 * @param {string} offer
 * @returns {string}
 */
export function renegotiatedAnswer(previousAnswer, offer) {
  const split = (sdp) => {
    const sections = [[]];
    for (const line of sdp.split(/\r?\n/)) {
      if (!line) continue;
      if (line.startsWith('m=')) sections.push([]);
      sections.at(-1).push(line);
    }
    return sections;
  };
  const midOf = (section) => section.find((l) => l.startsWith('a=mid:'))?.slice(6);
  const kindOf = (section) => section[0].slice(2).split(' ')[0];
  const [session, ...answered] = split(previousAnswer);
  const offered = split(offer).slice(1);
  const out = [];
  for (const section of offered) {
    const mid = midOf(section);
    const previous = answered.find((a) => midOf(a) === mid);
    if (previous) {
      out.push(previous);
      continue;
    }
    const template = answered.find((a) => kindOf(a) === kindOf(section) && !a[0].split(' ')[1].startsWith('0'));
    if (!template) throw new PodiumError(`The server's answer has no ${kindOf(section)} m-line to copy`);
    out.push(template
      .filter((l) => !l.startsWith('a=ssrc') && !l.startsWith('a=msid'))
      .map((l) => (l.startsWith('a=mid:') ? `a=mid:${mid}` : l)));
  }
  const mids = out.map(midOf);
  const head = session.map((l) => (l.startsWith('a=group:BUNDLE') ? `a=group:BUNDLE ${mids.join(' ')}` : l));
  return [...head, ...out.flat()].join('\r\n') + '\r\n';
}

/**
 * Age in ms of an `RTCRtpSynchronizationSource.timestamp`. Its clock differs between
 * browsers: Chrome reports Unix epoch ms, the current spec `performance.timeOrigin`-relative
 * ms; an epoch value is recognisable by its size.
 */
function syncSourceAge(timestamp) {
  return timestamp > 1e12 ? Date.now() - timestamp : performance.now() - timestamp;
}
