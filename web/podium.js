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
// Events are dispatched as `CustomEvent`s whose `detail` carries the payload.

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
 * Publishes a MediaStream to a Podium stream.
 *
 * Events (`CustomEvent`, payload in `detail`):
 * - `connectionState`: the peer connection state (`"connecting"`, `"connected"`, `"failed"`, `"closed"`, ...)
 * - `active`, `inactive`, `viewercount`, `stopped`: server signaling events (payload as sent by the server)
 * - `signalingClose`: the WebSocket closed unexpectedly (`{code, reason}`)
 */
export class Publish extends Connection {
  /**
   * @param {{endpoint?: string, token: string, streamName: string}} options
   *   `endpoint` is the server base URL (default `location.origin`).
   */
  constructor({ endpoint, token, streamName }) {
    super();
    if (!streamName) throw new TypeError('streamName is required');
    this.endpoint = trimEndpoint(endpoint);
    this.token = token;
    this.streamName = streamName;
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
   * @param {string[]} [options.events] Publisher events to ask for (`active`, `inactive`, `viewercount`).
   * @param {RTCConfiguration} [options.peerConfig] Extra RTCPeerConnection configuration.
   * @param {number} [options.timeoutMs] Signaling timeout.
   * @returns {Promise<object>} the `publish` response data.
   */
  async connect({ mediaStream, sourceId, codec = 'vp8', disableVideo = false, disableAudio = false, events, peerConfig, timeoutMs } = {}) {
    if (!mediaStream) throw new TypeError('mediaStream is required');
    if (!VIDEO_CODECS.includes(codec)) throw new TypeError(`Unsupported codec "${codec}" (use one of ${VIDEO_CODECS.join(', ')})`);
    if (this.peerConnection) throw new PodiumError('Already connected; call stop() first');

    const audioTracks = disableAudio ? [] : mediaStream.getAudioTracks();
    const videoTracks = disableVideo ? [] : mediaStream.getVideoTracks();
    if (audioTracks.length + videoTracks.length === 0) throw new PodiumError('Nothing to publish: no audio or video track');

    return this.guard(async () => {
      this.directorData = await Director.getPublisher({ endpoint: this.endpoint, token: this.token, streamName: this.streamName });
      const pc = this.createPeerConnection(peerConfig);
      for (const track of audioTracks) {
        pc.addTransceiver(track, { direction: 'sendonly', streams: [mediaStream] });
      }
      for (const track of videoTracks) {
        const transceiver = pc.addTransceiver(track, { direction: 'sendonly', streams: [mediaStream] });
        preferVideoCodec(transceiver, codec);
      }
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);

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
 * - `active`, `inactive`, `stopped`, `viewercount`, `vad`, `layers`, `updated`, `migrate`: server events.
 * - `connectionState`, `signalingClose`: as for {@link Publish}.
 */
export class View extends Connection {
  /**
   * @param {{endpoint?: string, streamName: string, streamAccountId?: string, token?: string}} options
   *   `endpoint` defaults to `location.origin`; `token` is a subscribe token for protected streams.
   */
  constructor({ endpoint, streamName, streamAccountId, token }) {
    super();
    if (!streamName) throw new TypeError('streamName is required');
    this.endpoint = trimEndpoint(endpoint);
    this.streamName = streamName;
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
    /** Mids of the default video/audio transceivers and of the multiplexed audio slots. */
    this.mids = { video: null, audio: null, multiplexed: [] };
  }

  /**
   * Start viewing.
   * @param {object} [options]
   * @param {string} [options.pinnedSourceId] Source carried by the default transceivers (default: main source).
   * @param {string[]} [options.excludedSourceIds] Sources never multiplexed to this viewer.
   * @param {string[]} [options.events] Events to receive (server default: all).
   * @param {boolean} [options.disableVideo] No video transceiver.
   * @param {boolean} [options.disableAudio] No main audio transceiver.
   * @param {number} [options.multiplexedAudioTracks=0] Number of extra audio slots for voice-activity multiplexing.
   * @param {RTCConfiguration} [options.peerConfig] Extra RTCPeerConnection configuration.
   * @param {number} [options.timeoutMs] Signaling timeout.
   * @returns {Promise<object>} the `view` response data.
   */
  async connect({
    pinnedSourceId, excludedSourceIds, events, disableVideo = false, disableAudio = false,
    multiplexedAudioTracks = 0, peerConfig, timeoutMs,
  } = {}) {
    if (this.peerConnection) throw new PodiumError('Already connected; call stop() first');
    this.activeSources.clear();

    return this.guard(async () => {
      this.directorData = await Director.getSubscriber({
        endpoint: this.endpoint, streamName: this.streamName, streamAccountId: this.streamAccountId, token: this.token,
      });
      const pc = this.createPeerConnection(peerConfig);

      const mainTransceivers = new Set();
      if (!disableVideo) mainTransceivers.add(pc.addTransceiver('video', { direction: 'recvonly' }));
      if (!disableAudio) mainTransceivers.add(pc.addTransceiver('audio', { direction: 'recvonly' }));
      const slots = [];
      for (let i = 0; i < multiplexedAudioTracks; i++) slots.push(pc.addTransceiver('audio', { direction: 'recvonly' }));

      pc.addEventListener('track', (ev) => this.#onTrack(ev, mainTransceivers.has(ev.transceiver)));

      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      for (const t of mainTransceivers) this.mids[t.receiver.track.kind] = t.mid;
      this.mids.multiplexed = slots.map((t) => t.mid);

      const signaling = await this.openSignaling(VIEWER_EVENTS, timeoutMs);
      const data = { streamId: this.streamName, sdp: pc.localDescription.sdp };
      if (pinnedSourceId !== undefined && pinnedSourceId !== null && pinnedSourceId !== '') data.pinnedSourceId = pinnedSourceId;
      if (excludedSourceIds?.length) data.excludedSourceIds = excludedSourceIds;
      if (events) data.events = events;
      if (multiplexedAudioTracks > 0) data.vad = true;
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
  }

  onSignalingEvent(name, data) {
    if (name === 'active') {
      this.activeSources.set(data?.sourceId ?? null, data);
    } else if (name === 'inactive') {
      this.activeSources.delete(data?.sourceId ?? null);
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
    }
    this.emit('track', { track, kind: track.kind, mid: transceiver.mid, transceiver, streams, main });
  }
}
