// Rooms app: the cameras of speakers in a video room. The host's video comes on the view's
// main transceiver (pinned); every other speaker who turns their camera on is a source with a
// video track (`active` event), projected onto a transceiver added for it (`addRemoteTrack` +
// `project`). Speakers publish simulcast, so each tile asks for the smallest encoding at least
// as wide as the tile shows it (stage tiles are small: the lowest); the choice follows the
// `layers` events as encodings come and go. A camera turned off (the source republishes
// without video) or a speaker gone (`inactive`) frees its transceiver for the next one.

/** The smallest active encoding at least `px` wide (else the widest); `null` to let the
 * server choose (nothing known yet, or the widest is wanted anyway). */
export function encodingFor(media, px) {
  const active = media?.active ?? [];
  if (active.length < 2) return null;
  const fit = active.find((l) => (l.width ?? 0) >= px) ?? active.at(-1);
  return fit === active.at(-1) ? null : fit.id;
}

export class SpeakerCameras {
  /**
   * @param {object} options
   * @param {import('/podium.js').View} options.view the room view
   * @param {string} options.myId
   * @param {string|null} options.ownerId whose video is the main one (not projected)
   * @param {(userId: string, stream: MediaStream|null) => void} options.onCamera
   * @param {() => number} options.tilePixels how many device pixels wide a tile shows a camera
   * @param {Promise<unknown>} options.ready the view's `connect()`: nothing is projected before
   */
  constructor({ view, myId, ownerId, onCamera, tilePixels, ready }) {
    this.view = view;
    this.myId = myId;
    this.ownerId = ownerId;
    this.onCamera = onCamera;
    this.tilePixels = tilePixels;
    /** userId → {mid, trackId, encoding, stream} */
    this.shown = new Map();
    this.freeMids = [];
    this.closed = false;
    // Renegotiations and projections one at a time (addRemoteTrack renegotiates locally).
    this.queue = ready.catch(() => {});
    view.addEventListener('active', (e) => this.#enqueue(() => this.#follow(e.detail)));
    view.addEventListener('inactive', (e) => this.#enqueue(() => this.#hide(e.detail?.sourceId)));
    view.addEventListener('layers', () => this.#enqueue(() => this.#fit()));
  }

  #enqueue(task) {
    this.queue = this.queue.then(() => (this.closed ? null : task())).catch(() => {});
  }

  async #follow(data) {
    const userId = data?.sourceId;
    if (!userId || userId === this.ownerId || userId === this.myId) return;
    const video = (data.tracks ?? []).find((t) => t.media === 'video');
    if (!video) {
      await this.#hide(userId);
      return;
    }
    if (this.shown.get(userId)?.trackId === video.trackId) return;
    const mid = this.shown.get(userId)?.mid ?? this.freeMids.pop() ?? (await this.view.addRemoteTrack('video')).mid;
    const transceiver = this.view.peerConnection.getTransceivers().find((t) => t.mid === mid);
    await this.view.project(userId, [{ trackId: video.trackId, mediaId: mid }]);
    const stream = new MediaStream([transceiver.receiver.track]);
    this.shown.set(userId, { mid, trackId: video.trackId, encoding: null, stream });
    this.onCamera(userId, stream);
    await this.#fit();
  }

  async #hide(userId) {
    const shown = this.shown.get(userId);
    if (!shown) return;
    this.shown.delete(userId);
    this.onCamera(userId, null);
    await this.view.unproject([shown.mid]).catch(() => {});
    this.freeMids.push(shown.mid);
  }

  /** Re-projects cameras whose encoding no longer suits their tile. */
  async #fit() {
    const px = this.tilePixels();
    for (const [userId, shown] of this.shown) {
      const encoding = encodingFor(this.view.layers.get(shown.mid), px);
      if (encoding === shown.encoding) continue;
      shown.encoding = encoding;
      await this.view.project(userId, [{ trackId: shown.trackId, mediaId: shown.mid, layer: encoding ? { encodingId: encoding } : {} }]);
    }
  }

  /** The view ends: every camera goes. */
  close() {
    this.closed = true;
    for (const userId of this.shown.keys()) this.onCamera(userId, null);
    this.shown.clear();
  }
}
