// Rooms app: the media of one room, with podium.js (protocol reference §9.4).
//
// - Everyone views the room's stream: 3 multiplexed audio slots (the most active speakers),
//   their own source excluded, the owner pinned to the main transceivers (owner's audio, and
//   video in video rooms). The owner pins nothing and gets no main audio/video.
// - Speakers publish their microphone with `sourceId` = their user id and Opus DTX; the owner
//   of a video room also publishes the camera.
// - Tokens come from the rooms server: the first from `join-room`/`promoted`, later ones (for
//   reconnections and re-pins; JWTs are short-lived) from `tokenGenerator`s that ask again.
// - Levels: who is audible right now, per user id: slot levels (whoever `vad` put in each
//   slot), the main audio level (the owner), and my own from the publisher's media-source stats.
//
// Dispatches `status` (`detail: {view, publish}` each `idle|connecting|live|reconnecting|failed`),
// `video` (`detail: MediaStream|null`, the owner's video for the stage), `local-video`
// (`detail: MediaStream|null`, my camera preview), `slots` (`detail: Map mid → userId`), `error`,
// `camera` (`detail: {userId, stream: MediaStream|null}`, a speaker's camera in a video room),
// `autoplay-blocked` (the browser refused to play sound without a user gesture: call
// `resumePlayback()` from a click).
import { Publish, View } from '/podium.js';
import { SpeakerCameras } from '/app-cameras.js';

/** Speaking threshold on the linear 0..1 audio level. */
export const SPEAKING_LEVEL = 0.02;

/** Retry delays (ms) after a lost view or publication. */
const RETRY_DELAYS = [500, 1000, 2000, 4000, 8000];

export class RoomMedia extends EventTarget {
  /**
   * @param {object} options
   * @param {string} options.roomId
   * @param {boolean} options.audioOnly
   * @param {HTMLElement} options.audioContainer where the `<audio>` elements go (hidden)
   * @param {(kind: 'view'|'publish') => Promise<object>} options.freshToken asks the rooms
   *   server for new connection data (throws when no longer allowed)
   * @param {(constraints: MediaStreamConstraints) => Promise<MediaStream>} [options.getUserMedia]
   * @param {() => number} [options.tilePixels] device pixels a stage tile shows a camera at
   */
  constructor({ roomId, audioOnly, audioContainer, freshToken, getUserMedia, tilePixels }) {
    super();
    this.roomId = roomId;
    this.audioOnly = audioOnly;
    this.audioContainer = audioContainer;
    this.freshToken = freshToken;
    this.getUserMedia = getUserMedia ?? ((c) => navigator.mediaDevices.getUserMedia(c));
    this.tilePixels = tilePixels ?? (() => 112 * devicePixelRatio);
    /** @type {SpeakerCameras|null} */
    this.cameras = null;
    /** @type {View|null} */
    this.view = null;
    /** @type {Publish|null} */
    this.publisher = null;
    /** @type {MediaStream|null} */
    this.localStream = null;
    this.status = { view: 'idle', publish: 'idle' };
    this.viewSpec = null;
    this.publishSpec = null;
    this.muted = false;
    this.closed = false;
    this.retry = { view: null, publish: null };
    this.attempt = { view: 0, publish: 0 };
    /** Main (pinned owner) audio element and one element per slot, by mid. */
    this.audioEls = new Map();
    this.generation = { view: 0, publish: 0 };
  }

  #setStatus(kind, value) {
    if (this.status[kind] === value) return;
    this.status = { ...this.status, [kind]: value };
    this.dispatchEvent(new CustomEvent('status', { detail: this.status }));
  }

  #emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }

  // --- viewing -----------------------------------------------------------------------

  /**
   * Starts (or restarts, e.g. after an ownership change) the view.
   * @param {{myId: string, ownerId: string|null, token?: object}} spec `token`: connection
   *   data to use first (from join-room); later connections ask for fresh ones.
   */
  async startView({ myId, ownerId, token }) {
    const isOwner = ownerId === myId;
    this.viewSpec = { myId, ownerId, isOwner };
    this.#stopView();
    const generation = ++this.generation.view;
    let first = token ?? null;
    const view = new View({
      tokenGenerator: async () => {
        if (first) {
          const t = first;
          first = null;
          return t;
        }
        return this.freshToken('view');
      },
    });
    this.view = view;
    view.addEventListener('track', (e) => this.#onTrack(e.detail));
    view.addEventListener('vad', () => this.#emit('slots', this.slotSpeakers()));
    view.addEventListener('connectionState', (e) => {
      if (this.view !== view) return;
      if (e.detail === 'connected') {
        this.attempt.view = 0;
        this.#setStatus('view', 'live');
      } else if (e.detail === 'failed') {
        this.#lost('view', generation);
      }
    });
    view.addEventListener('signalingClose', () => {
      if (this.view === view) this.#lost('view', generation);
    });
    this.#setStatus('view', this.attempt.view ? 'reconnecting' : 'connecting');
    const connecting = view.connect({
      pinnedSourceId: isOwner ? null : ownerId,
      excludedSourceIds: [myId],
      multiplexedAudioTracks: 3,
      disableVideo: this.audioOnly || isOwner,
      disableAudio: isOwner,
    });
    if (!this.audioOnly) {
      this.cameras = new SpeakerCameras({
        view,
        myId,
        ownerId,
        onCamera: (userId, stream) => this.#emit('camera', { userId, stream }),
        tilePixels: this.tilePixels,
        ready: connecting,
      });
    }
    try {
      await connecting;
    } catch (err) {
      if (this.view !== view || this.closed) return;
      this.#lost('view', generation, err);
    }
  }

  /** Re-pins the view after the owner changed (restarts it with a fresh token). */
  repin({ myId, ownerId }) {
    if (this.closed || (this.viewSpec && this.viewSpec.ownerId === ownerId && this.viewSpec.myId === myId)) return Promise.resolve();
    return this.startView({ myId, ownerId });
  }

  #onTrack({ track, mid, main, kind }) {
    if (kind === 'video') {
      if (main) this.#emit('video', new MediaStream([track]));
      return;
    }
    let el = this.audioEls.get(mid);
    if (!el) {
      el = document.createElement('audio');
      el.autoplay = true;
      el.dataset.mid = mid;
      el.dataset.role = main ? 'main' : 'slot';
      this.audioContainer.append(el);
      this.audioEls.set(mid, el);
    }
    el.srcObject = new MediaStream([track]);
    // Plays after the user's click (join); without one (a reload) the browser may refuse.
    // Playing also matters for levels: Chrome only measures audio that plays.
    el.play().catch((err) => {
      if (err?.name === 'NotAllowedError' && !this.autoplayBlocked) {
        this.autoplayBlocked = true;
        this.#emit('autoplay-blocked');
      }
    });
    this.#emit('slots', this.slotSpeakers());
  }

  /** Starts every audio element again (call from a click after `autoplay-blocked`). */
  resumePlayback() {
    this.autoplayBlocked = false;
    for (const el of this.audioEls.values()) el.play().catch(() => {});
  }

  /** mid → user id of every slot carrying someone; the main audio mid → the pinned owner. */
  slotSpeakers() {
    const out = new Map();
    const view = this.view;
    if (!view) return out;
    for (const [mid, sourceId] of view.slots) if (sourceId) out.set(mid, sourceId);
    if (view.mids.audio !== null && this.viewSpec?.ownerId && !this.viewSpec.isOwner) out.set(view.mids.audio, this.viewSpec.ownerId);
    for (const [mid, el] of this.audioEls) el.dataset.sourceId = out.get(mid) ?? '';
    return out;
  }

  #stopView() {
    this.cameras?.close();
    this.cameras = null;
    this.view?.stop();
    this.view = null;
    for (const el of this.audioEls.values()) {
      el.srcObject = null;
      el.remove();
    }
    this.audioEls.clear();
    this.#emit('video', null);
    this.#emit('slots', new Map());
  }

  // --- publishing --------------------------------------------------------------------

  /**
   * Starts publishing my microphone (and camera when `video`).
   * @param {{myId: string, video: boolean, token?: object}} spec
   */
  async startPublish({ myId, video, token }) {
    this.publishSpec = { myId, video };
    this.#stopPublisher();
    const generation = ++this.generation.publish;
    this.#setStatus('publish', this.attempt.publish ? 'reconnecting' : 'connecting');
    try {
      if (!this.localStream || (video && this.localStream.getVideoTracks().length === 0)) {
        this.#stopLocalStream();
        this.localStream = await this.getUserMedia({
          audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
          video: video ? { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } } : false,
        });
      } else if (!video) {
        for (const t of this.localStream.getVideoTracks()) {
          t.stop();
          this.localStream.removeTrack(t);
        }
      }
      if (generation !== this.generation.publish || this.closed) return;
      for (const t of this.localStream.getAudioTracks()) t.enabled = !this.muted;
      this.#emit('local-video', this.localStream.getVideoTracks().length ? this.localStream : null);
    } catch (err) {
      if (generation !== this.generation.publish) return;
      this.publishSpec = null;
      this.#setStatus('publish', 'failed');
      const failure = new Error(`Could not use your microphone${video ? ' or camera' : ''}: ${err.message || err.name}`);
      failure.device = true; // permission denied or no working device (not a network problem)
      throw failure;
    }
    let first = token ?? null;
    const publisher = new Publish({
      tokenGenerator: async () => {
        if (first) {
          const t = first;
          first = null;
          return t;
        }
        return this.freshToken('publish');
      },
    });
    this.publisher = publisher;
    publisher.addEventListener('connectionState', (e) => {
      if (this.publisher !== publisher) return;
      if (e.detail === 'connected') {
        this.attempt.publish = 0;
        this.#setStatus('publish', 'live');
      } else if (e.detail === 'failed') {
        this.#lost('publish', generation);
      }
    });
    publisher.addEventListener('signalingClose', () => {
      if (this.publisher === publisher) this.#lost('publish', generation);
    });
    try {
      await publisher.connect({
        mediaStream: this.localStream, sourceId: myId, disableVideo: !video, dtx: true, codec: 'vp8', simulcast: video,
      });
    } catch (err) {
      if (this.publisher !== publisher || this.closed) return;
      this.#lost('publish', generation, err);
    }
  }

  /** Stops publishing and releases the microphone/camera (demoted, left). */
  stopPublish() {
    this.publishSpec = null;
    this.generation.publish += 1;
    clearTimeout(this.retry.publish);
    this.attempt.publish = 0;
    this.#stopPublisher();
    this.#stopLocalStream();
    this.#setStatus('publish', 'idle');
  }

  #stopPublisher() {
    this.publisher?.stop();
    this.publisher = null;
  }

  #stopLocalStream() {
    for (const t of this.localStream?.getTracks() ?? []) t.stop();
    this.localStream = null;
    this.#emit('local-video', null);
  }

  /** Mutes/unmutes the microphone locally (the publication stays up). */
  setMuted(muted) {
    this.muted = muted;
    for (const t of this.localStream?.getAudioTracks() ?? []) t.enabled = !muted;
  }

  /** True while publishing (or trying to). */
  get publishing() {
    return this.publishSpec !== null;
  }

  // --- recovery -------------------------------------------------------------------

  /** A view or publication ended unexpectedly: retry with backoff and a fresh token. */
  #lost(kind, generation, err) {
    if (this.closed || generation !== this.generation[kind]) return;
    if (kind === 'publish' && !this.publishSpec) return;
    clearTimeout(this.retry[kind]);
    const attempt = this.attempt[kind]++;
    if (attempt >= RETRY_DELAYS.length) {
      this.#setStatus(kind, 'failed');
      this.#emit('error', new Error(kind === 'view'
        ? `Lost the room's audio and could not reconnect${err ? `: ${err.message}` : ''}`
        : `Lost your microphone connection and could not reconnect${err ? `: ${err.message}` : ''}`));
      return;
    }
    this.#setStatus(kind, 'reconnecting');
    this.retry[kind] = setTimeout(() => {
      if (this.closed || generation !== this.generation[kind]) return;
      if (kind === 'view') this.startView({ myId: this.viewSpec.myId, ownerId: this.viewSpec.ownerId });
      else if (this.publishSpec) {
        this.startPublish(this.publishSpec).catch((e) => this.#emit('error', e));
      }
    }, RETRY_DELAYS[attempt]);
  }

  // --- levels -------------------------------------------------------------------------

  /**
   * Current audio level of everyone audible, by user id (0..1).
   * @returns {Promise<Map<string, number>>}
   */
  async levels() {
    const out = new Map();
    const view = this.view;
    if (view?.peerConnection) {
      try {
        const byMid = await view.audioLevels({ maxAgeMs: 500 });
        for (const [mid, userId] of this.slotSpeakers()) {
          const level = byMid[mid];
          if (typeof level === 'number') out.set(userId, Math.max(out.get(userId) ?? 0, level));
        }
      } catch {
        // closed meanwhile
      }
    }
    if (this.publisher?.peerConnection && this.publishSpec) {
      try {
        const level = await this.publisher.audioLevel();
        if (typeof level === 'number') out.set(this.publishSpec.myId, this.muted ? 0 : level);
      } catch {
        // closed meanwhile
      }
    }
    return out;
  }

  /** Stops everything (left the room, kicked, room closed). */
  close() {
    this.closed = true;
    clearTimeout(this.retry.view);
    clearTimeout(this.retry.publish);
    this.generation.view += 1;
    this.generation.publish += 1;
    this.#stopView();
    this.#stopPublisher();
    this.#stopLocalStream();
    this.publishSpec = null;
    this.#setStatus('view', 'idle');
    this.#setStatus('publish', 'idle');
  }
}
