// Multiview page: one View of a stream, one grid tile per live video source.
//
// The main source arrives on the view's own video transceiver; every other source is
// projected onto a transceiver added for it (addRemoteTrack + project). Transceivers of
// sources that left are kept and reused, so a stream whose sources come and go does not
// grow the peer connection. One tile is large and gets the best layer the server's
// bandwidth estimate allows; the thumbnails are held on their lowest simulcast encoding,
// which keeps the downlink small however many sources there are.
import { View } from '/podium.js';

const $ = (id) => document.getElementById(id);

/** The viewing session in progress (null when stopped); see startView. */
let session = null;

function showError(err) {
  const el = $('view-error');
  el.textContent = err ? (err.message ?? String(err)) : '';
  el.hidden = !err;
}

function announce(text) {
  $('announce').textContent = text;
}

function setRunning(running) {
  $('view-start').disabled = running;
  $('view-stop').disabled = !running;
  $('view-form').elements.streamName.disabled = running;
}

const sourceName = (sourceId) => sourceId ?? 'main';

// ---------------------------------------------------------------------------
// Tiles
// ---------------------------------------------------------------------------

function createTile(s, sourceId, transceiver) {
  const li = document.createElement('li');
  li.dataset.source = sourceId ?? '';
  li.dataset.mid = transceiver.mid;
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'tile';
  button.title = `Watch ${sourceName(sourceId)} large`;
  const video = document.createElement('video');
  video.autoplay = true;
  video.muted = true;
  video.playsInline = true;
  video.srcObject = new MediaStream([transceiver.receiver.track]);
  const caption = document.createElement('span');
  caption.className = 'caption';
  const name = document.createElement('span');
  name.className = 'source-name';
  name.textContent = sourceName(sourceId);
  const size = document.createElement('span');
  size.className = 'size';
  size.textContent = 'no video yet';
  // `resize` fires whenever the decoded frame size changes (e.g. a layer switch).
  video.addEventListener('resize', () => { size.textContent = `${video.videoWidth}×${video.videoHeight}`; });
  caption.append(name, size);
  button.append(video, caption);
  li.append(button);
  button.addEventListener('click', () => s.run(() => makeLarge(s, sourceId)));
  video.play().catch(() => {});
  // `applied`: the layer last asked for (undefined = nothing sent yet, null = automatic).
  return { sourceId, transceiver, mid: transceiver.mid, li, button, video, applied: undefined };
}

/** Puts the large tile first (in the DOM, so focus order follows the layout) and marks it. */
function renderTiles(s) {
  const list = $('tiles');
  const empty = list.querySelector('.empty');
  empty.hidden = s.tiles.size > 0;
  for (const tile of s.tiles.values()) {
    const large = tile.sourceId === s.large;
    tile.li.classList.toggle('large', large);
    tile.button.setAttribute('aria-pressed', String(large));
    if (large && list.firstElementChild !== tile.li) {
      const hadFocus = tile.li.contains(document.activeElement);
      list.prepend(tile.li);
      if (hadFocus) tile.button.focus();
      tile.video.play().catch(() => {});
    }
  }
}

// ---------------------------------------------------------------------------
// Sources and layers
// ---------------------------------------------------------------------------

/**
 * The layer a tile should get: null (automatic) for the large tile, the lowest active
 * encoding for a thumbnail. Also null while the server has listed fewer than two
 * encodings for the tile's mid (nothing to choose from, or not known yet: the `layers`
 * event that lists them runs this again).
 */
function wantedLayer(s, tile) {
  const active = s.view.layers.get(tile.mid)?.active ?? [];
  return tile.sourceId !== s.large && active.length > 1 ? active[0].id : null;
}

/** Sends the project / select that each tile whose wanted layer changed needs. */
async function applyLayers(s) {
  const pending = [...s.tiles.values()]
    .map((tile) => ({ tile, layer: wantedLayer(s, tile) }))
    .filter(({ tile, layer }) => layer !== tile.applied);
  // Thumbnails down first: the large tile's up-switch then has the downlink to itself.
  pending.sort((a, b) => Number(a.layer === null) - Number(b.layer === null));
  for (const { tile, layer } of pending) {
    if (tile.sourceId === null) {
      await s.view.select(layer ? { encodingId: layer } : {});
    } else {
      // This is also what starts a new tile's projection.
      const mapping = { trackId: 'video0', mediaId: tile.mid };
      if (layer) mapping.layer = { encodingId: layer };
      await s.view.project(tile.sourceId, [mapping]);
    }
    tile.applied = layer;
  }
}

async function addSource(s, sourceId) {
  if (s.tiles.has(sourceId)) return;
  let transceiver;
  if (sourceId === null) {
    transceiver = s.view.peerConnection.getTransceivers().find((t) => t.mid === s.view.mids.video);
  } else {
    transceiver = s.free.shift() ?? await s.view.addRemoteTrack('video');
  }
  const tile = createTile(s, sourceId, transceiver);
  s.tiles.set(sourceId, tile);
  $('tiles').append(tile.li);
  // The first source is large; the main source also takes over from a projected one shown
  // only because the main source was not live yet.
  if (s.large === undefined || (sourceId === null && !s.chosen)) s.large = sourceId;
  renderTiles(s);
  announce(`Source ${sourceName(sourceId)} is live`);
  await applyLayers(s);
}

async function removeSource(s, sourceId) {
  const tile = s.tiles.get(sourceId);
  if (!tile) return;
  s.tiles.delete(sourceId);
  tile.video.srcObject = null;
  tile.li.remove();
  if (s.large === sourceId) {
    // The main source if live, else the oldest remaining one.
    s.large = s.tiles.has(null) ? null : (s.tiles.keys().next().value);
    s.chosen = false;
  }
  renderTiles(s);
  announce(`Source ${sourceName(sourceId)} left`);
  if (sourceId !== null) {
    await s.view.unproject([tile.mid]);
    s.free.push(tile.transceiver);
  }
  await applyLayers(s);
}

async function makeLarge(s, sourceId) {
  if (!s.tiles.has(sourceId) || s.large === sourceId) return;
  s.large = sourceId;
  s.chosen = true;
  renderTiles(s);
  announce(`Watching ${sourceName(sourceId)} large`);
  await applyLayers(s);
}

// ---------------------------------------------------------------------------
// Viewing
// ---------------------------------------------------------------------------

function startView(event) {
  event?.preventDefault();
  const streamName = $('view-form').elements.streamName.value.trim();
  if (!streamName) return;
  history.replaceState(null, '', `?stream=${encodeURIComponent(streamName)}`);
  showError(null);
  setRunning(true);
  $('view-state').textContent = 'starting';

  const view = new View({ endpoint: location.origin, streamName });
  const s = {
    view,
    /** sourceId (null = main) → tile */
    tiles: new Map(),
    /** Added transceivers no source is projected onto any more. */
    free: [],
    /** sourceId of the large tile; undefined while there is no tile. */
    large: undefined,
    /** Whether the viewer picked the large tile (then a returning main source does not take over). */
    chosen: false,
    queue: Promise.resolve(),
    // Commands run one at a time, in event order: addRemoteTrack renegotiates locally, and a
    // source's inactive must not overtake its active. Work left over from a stopped view is dropped.
    run(fn) {
      s.queue = s.queue.then(() => (session === s ? fn() : undefined)).catch((err) => {
        if (session === s) showError(err);
      });
      return s.queue;
    },
  };
  session = s;

  view.addEventListener('connectionState', (e) => { $('view-state').textContent = e.detail; });
  view.addEventListener('stopped', () => { $('view-state').textContent = 'stopped by server'; });
  view.addEventListener('signalingClose', () => { $('view-state').textContent = 'signaling closed'; });
  view.addEventListener('track', (e) => {
    if (e.detail.main && e.detail.kind === 'audio') $('main-audio').srcObject = new MediaStream([e.detail.track]);
  });
  view.addEventListener('active', (e) => {
    const sourceId = e.detail?.sourceId ?? null;
    if ((e.detail?.tracks ?? []).some((t) => t.media === 'video')) s.run(() => addSource(s, sourceId));
  });
  view.addEventListener('inactive', (e) => s.run(() => removeSource(s, e.detail?.sourceId ?? null)));
  view.addEventListener('layers', () => s.run(() => applyLayers(s)));

  // Connecting is the queue's first task, so events that come before the view's answer
  // (possible: the server announces live sources at once) wait for it.
  s.run(() => view.connect()).then(() => {
    if (session === s && !view.peerConnection) stopView();
  });
}

function stopView() {
  const s = session;
  session = null;
  s?.view.stop();
  for (const tile of s?.tiles.values() ?? []) {
    tile.video.srcObject = null;
    tile.li.remove();
  }
  $('tiles').querySelector('.empty').hidden = false;
  $('main-audio').srcObject = null;
  $('view-state').textContent = 'idle';
  setRunning(false);
}

$('view-form').addEventListener('submit', startView);
$('view-stop').addEventListener('click', stopView);

const initial = new URLSearchParams(location.search).get('stream');
if (initial) {
  $('view-form').elements.streamName.value = initial;
  startView();
}
