// Moving a View to another server, make-before-break (podium.js `View.replaceConnection`,
// which a `migrate` event from a draining server starts by itself): a second connection is
// opened through the Director with the options of the view's last `connect`; once its peer
// connection is up and its video has a frame, its tracks and state take the place of the old
// ones in the view, and the old connection is closed a second later. See docs/cluster.md.

/** Connections tried before giving up on servers that drain too. */
const MIGRATE_ATTEMPTS = 3;
/** Pause (ms) before asking the Director again after landing on a draining server. */
const MIGRATE_RETRY_MS = 500;
/** Longest wait (ms) for the new connection's first video frame before swapping anyway. */
const MIGRATE_FRAME_WAIT_MS = 3000;

/**
 * Moves `view` to a new connection made with `connectOptions`; resolves with the new `view`
 * response data. `PodiumError` is the library's error class (passed in: this module is
 * imported by podium.js).
 * @param {import('./podium.js').View} view
 * @param {object} connectOptions
 * @param {{timeoutMs: number, PodiumError: typeof Error}} options
 */
export async function moveView(view, connectOptions, { timeoutMs, PodiumError }) {
  const View = view.constructor;
  for (let attempt = 1; ; attempt++) {
    const next = new View({
      endpoint: view.endpoint,
      streamName: view.streamName,
      streamAccountId: view.streamAccountId,
      token: view.token,
      // Fixed connection data would lead back to the same server: the Director decides.
      tokenGenerator: view.tokenGenerator ?? undefined,
    });
    next.autoMigrate = false;
    // A Director that did not know yet that the server is draining may send the new
    // connection there too; that server then says `migrate` to it at once.
    let draining = false;
    next.addEventListener('migrate', () => {
      draining = true;
    });
    try {
      const reply = await next.connect(connectOptions);
      await waitForConnected(next, timeoutMs, PodiumError);
      // Swapped once the new video has a frame (if it has video), not a blank moment.
      await waitForFirstFrame(next, MIGRATE_FRAME_WAIT_MS);
      const old = { pc: view.peerConnection, signaling: view.signaling };
      if (!old.pc) throw new PodiumError('Stopped while migrating');
      if (draining) {
        if (attempt >= MIGRATE_ATTEMPTS) throw new PodiumError(`The new connection landed on a draining server ${attempt} times`);
        next.stop();
        await new Promise((resolve) => { setTimeout(resolve, MIGRATE_RETRY_MS); });
        if (!view.peerConnection) throw new PodiumError('Stopped while migrating');
        continue;
      }
      adopt(view, next, reply);
      setTimeout(() => {
        old.signaling?.close();
        if (old.pc.connectionState !== 'closed') old.pc.close();
      }, 1000);
      view.emit('migrated', { viewData: reply });
      return reply;
    } catch (err) {
      next.stop();
      throw err;
    }
  }
}

/** `view` takes over `next`'s connection and state; `next` forwards what it hears from now on. */
function adopt(view, next, reply) {
  const pc = next.peerConnection;
  view.peerConnection = pc;
  view.signaling = next.signaling;
  view.directorData = next.directorData;
  view.viewData = reply;
  view.mids = next.mids;
  view.slots = next.slots;
  view.slotTracks = next.slotTracks;
  view.layers = next.layers;
  view.activeSources = next.activeSources;
  next.peerConnection = null;
  next.signaling = null;
  // Its signaling handlers and track handler update `next`; they now act on the view.
  next.onSignalingEvent = (name, data) => view.onSignalingEvent(name, data);
  next.emit = (name, detail) => view.emit(name, detail);
  pc.addEventListener('connectionstatechange', () => {
    if (view.peerConnection === pc) view.emit('connectionState', pc.connectionState);
  });
  const { signaling } = view;
  signaling.addEventListener('close', (ev) => {
    if (view.signaling === signaling) view.emit('signalingClose', ev.detail);
  });
  const newTracks = next.mediaStream.getTracks();
  for (const track of view.mediaStream.getTracks()) view.mediaStream.removeTrack(track);
  for (const track of newTracks) view.mediaStream.addTrack(track);
  for (const transceiver of pc.getTransceivers()) {
    const { track } = transceiver.receiver;
    const main = newTracks.includes(track);
    if (!main && !view.slotTracks.has(transceiver.mid)) continue;
    view.emit('track', {
      track, kind: track.kind, mid: transceiver.mid, transceiver, streams: [], main,
    });
  }
}

/**
 * Resolves once `view`'s main video has decoded a frame, at once without a main video, or
 * after `limitMs` (a source without video frames must not hold a move back).
 */
async function waitForFirstFrame(view, limitMs) {
  const mid = view.mids.video;
  const pc = view.peerConnection;
  if (mid === null || mid === undefined || !pc) return;
  const deadline = performance.now() + limitMs;
  while (performance.now() < deadline) {
    const report = await pc.getStats();
    for (const s of report.values()) {
      if (s.type === 'inbound-rtp' && s.kind === 'video' && s.mid === mid && s.framesDecoded > 0) return;
    }
    await new Promise((resolve) => { setTimeout(resolve, 50); });
  }
}

/** Resolves when `connection`'s peer connection is connected; rejects on failure or timeout. */
function waitForConnected(connection, timeoutMs, PodiumError) {
  return new Promise((resolve, reject) => {
    const check = () => {
      const state = connection.connectionState;
      if (state === 'connected') {
        done();
        resolve();
      } else if (state === 'failed' || state === 'closed') {
        done();
        reject(new PodiumError(`The new connection ${state}`));
      }
    };
    const timer = setTimeout(() => {
      done();
      reject(new PodiumError(`The new connection did not come up within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      connection.removeEventListener('connectionState', check);
    };
    connection.addEventListener('connectionState', check);
    check();
  });
}
