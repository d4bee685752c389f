// Demo page logic: one Publish panel and one View panel, talking to the
// Podium server that served this page (same origin).
import { Publish, View } from '/podium.js';

const endpoint = location.origin;
const $ = (id) => document.getElementById(id);

// Prefill stream names from ?stream=<name>, or "demo".
const params = new URLSearchParams(location.search);
const defaultStream = params.get('stream') || 'demo';
$('publish-form').elements.streamName.value = defaultStream;
$('view-form').elements.streamName.value = defaultStream;
$('publish-form').elements.token.value = sessionStorage.getItem('podium.publishToken') ?? '';

function showError(el, err) {
  if (err) {
    el.textContent = err.message ?? String(err);
    el.hidden = false;
  } else {
    el.textContent = '';
    el.hidden = true;
  }
}

function setRunning(prefix, running) {
  $(`${prefix}-start`).disabled = running;
  $(`${prefix}-stop`).disabled = !running;
  for (const input of $(`${prefix}-form`).elements) {
    if (input.tagName !== 'BUTTON') input.disabled = running;
  }
}

// ---------------------------------------------------------------------------
// Publish panel
// ---------------------------------------------------------------------------

let publisher = null;
let localStream = null;

async function startPublish(event) {
  event.preventDefault();
  const form = $('publish-form').elements;
  const audioOnly = form.audioOnly.checked;
  showError($('publish-error'), null);
  setRunning('publish', true);
  $('publish-state').textContent = 'starting';
  sessionStorage.setItem('podium.publishToken', form.token.value);
  try {
    localStream = await navigator.mediaDevices.getUserMedia({
      audio: true,
      video: audioOnly ? false : { width: 1280, height: 720 },
    });
    $('publish-preview').srcObject = audioOnly ? null : localStream;

    publisher = new Publish({ endpoint, token: form.token.value, streamName: form.streamName.value.trim() });
    publisher.addEventListener('connectionState', (e) => { $('publish-state').textContent = e.detail; });
    publisher.addEventListener('viewercount', (e) => { $('publish-viewers').textContent = e.detail?.viewercount ?? '–'; });
    publisher.addEventListener('signalingClose', () => { $('publish-state').textContent = 'signaling closed'; });
    await publisher.connect({
      mediaStream: localStream,
      sourceId: form.sourceId.value.trim() || undefined,
      codec: form.codec.value,
      dtx: form.dtx.checked,
    });
  } catch (err) {
    stopPublish();
    showError($('publish-error'), err);
  }
}

function stopPublish() {
  publisher?.stop();
  publisher = null;
  for (const track of localStream?.getTracks() ?? []) track.stop();
  localStream = null;
  $('publish-preview').srcObject = null;
  $('publish-state').textContent = 'idle';
  $('publish-viewers').textContent = '–';
  setRunning('publish', false);
}

$('publish-form').addEventListener('submit', startPublish);
$('publish-stop').addEventListener('click', stopPublish);

// ---------------------------------------------------------------------------
// View panel
// ---------------------------------------------------------------------------

let viewer = null;

function renderSources() {
  const list = $('view-sources');
  list.replaceChildren();
  const sources = viewer ? [...viewer.activeSources.values()] : [];
  if (sources.length === 0) {
    const li = document.createElement('li');
    li.className = 'empty';
    li.textContent = 'none';
    list.append(li);
    return;
  }
  for (const source of sources) {
    const li = document.createElement('li');
    const name = document.createElement('span');
    name.className = 'source-name';
    name.textContent = source?.sourceId ?? 'main';
    const media = document.createElement('span');
    media.className = 'source-media';
    media.textContent = (source?.tracks ?? []).map((t) => t.media).sort().join(' + ');
    li.append(name, media);
    list.append(li);
  }
}

// ---------------------------------------------------------------------------
// Audio slots (voice-activity multiplexing)
// ---------------------------------------------------------------------------

/** Slot level above which its speaker counts as talking (linear audio level, 0..1). */
const SPEAKING_LEVEL = 0.01;
let levelTimer = null;

/** Meter width for a linear level: −60 dBov … 0 dBov mapped to 0 … 100 %. */
function meterPercent(level) {
  if (!level || level <= 0) return 0;
  return Math.max(0, Math.min(100, 100 * (1 + (20 * Math.log10(level)) / 60)));
}

/** One table row per slot: mid, speaker (from vad events), level meter. */
function renderSlots() {
  const section = $('view-slots-section');
  const body = $('view-slots').tBodies[0];
  const slots = viewer ? [...viewer.slots] : [];
  section.hidden = slots.length === 0;
  const rows = new Map([...body.rows].map((row) => [row.dataset.mid, row]));
  for (const [mid, sourceId] of slots) {
    let row = rows.get(mid);
    if (!row) {
      row = body.insertRow();
      row.dataset.mid = mid;
      const midCell = row.insertCell();
      midCell.className = 'slot-mid';
      midCell.textContent = mid;
      const speaker = document.createElement('span');
      speaker.className = 'speaker';
      row.insertCell().append(speaker);
      const meter = document.createElement('div');
      meter.className = 'meter';
      meter.setAttribute('role', 'meter');
      meter.setAttribute('aria-label', `Audio level of slot ${mid}`);
      meter.setAttribute('aria-valuemin', '0');
      meter.setAttribute('aria-valuemax', '1');
      meter.setAttribute('aria-valuenow', '0');
      const fill = document.createElement('div');
      fill.className = 'meter-fill';
      meter.append(fill);
      const levelCell = row.insertCell();
      levelCell.className = 'slot-level';
      levelCell.append(meter);
    }
    rows.delete(mid);
    const speaker = row.querySelector('.speaker');
    speaker.textContent = sourceId === undefined ? '—' : (sourceId ?? 'main');
    speaker.title = sourceId === undefined ? 'empty slot' : `source ${sourceId ?? 'main'}`;
    speaker.classList.toggle('empty', sourceId === undefined);
  }
  for (const row of rows.values()) row.remove();
}

/** Refresh the level meters (every 100 ms while viewing with slots). */
async function updateSlotLevels() {
  const view = viewer;
  if (!view || view.slots.size === 0) return;
  const levels = await view.slotLevels().catch(() => ({}));
  if (view !== viewer) return;
  for (const row of $('view-slots').tBodies[0].rows) {
    const level = levels[row.dataset.mid] ?? 0;
    const meter = row.querySelector('.meter');
    meter.setAttribute('aria-valuenow', level.toFixed(3));
    meter.title = level > 0 ? `${(20 * Math.log10(level)).toFixed(0)} dBov` : 'silent';
    row.querySelector('.meter-fill').style.width = `${meterPercent(level)}%`;
    const speaking = level > SPEAKING_LEVEL && view.slots.get(row.dataset.mid) !== undefined;
    row.querySelector('.speaker').classList.toggle('speaking', speaking);
  }
}

/** Play a slot's track through its own <audio> element. */
function attachSlotAudio(mid, track) {
  const box = $('view-slot-audio');
  let el = box.querySelector(`audio[data-mid="${CSS.escape(mid)}"]`);
  if (!el) {
    el = document.createElement('audio');
    el.autoplay = true;
    el.dataset.mid = mid;
    box.append(el);
  }
  el.srcObject = new MediaStream([track]);
  el.play().catch(() => {});
}

function clearSlots() {
  clearInterval(levelTimer);
  levelTimer = null;
  for (const el of $('view-slot-audio').querySelectorAll('audio')) el.srcObject = null;
  $('view-slot-audio').replaceChildren();
  $('view-slots').tBodies[0].replaceChildren();
  $('view-slots-section').hidden = true;
}

/** Parses "a, b c" into ["a", "b", "c"]. */
function parseSourceIds(text) {
  return text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
}

async function startView(event) {
  event.preventDefault();
  const form = $('view-form').elements;
  const slotCount = Math.max(0, Math.min(5, Math.trunc(Number(form.slots.value) || 0)));
  form.slots.value = String(slotCount);
  const excludedSourceIds = parseSourceIds(form.excludedSourceIds.value);
  showError($('view-error'), null);
  setRunning('view', true);
  $('view-state').textContent = 'starting';
  try {
    viewer = new View({ endpoint, streamName: form.streamName.value.trim() });
    viewer.addEventListener('connectionState', (e) => { $('view-state').textContent = e.detail; });
    viewer.addEventListener('active', renderSources);
    viewer.addEventListener('inactive', renderSources);
    viewer.addEventListener('stopped', () => { $('view-state').textContent = 'stopped by server'; });
    viewer.addEventListener('viewercount', (e) => { $('view-viewers').textContent = e.detail?.viewercount ?? '–'; });
    viewer.addEventListener('signalingClose', () => { $('view-state').textContent = 'signaling closed'; });
    viewer.addEventListener('track', (e) => {
      if (e.detail.main) attachMedia(viewer);
      else if (e.detail.kind === 'audio') attachSlotAudio(e.detail.mid, e.detail.track);
    });
    viewer.addEventListener('vad', () => { renderSlots(); updateSlotLevels(); });
    await viewer.connect({
      pinnedSourceId: form.pinnedSourceId.value.trim() || undefined,
      multiplexedAudioTracks: slotCount,
      excludedSourceIds,
    });
    renderSlots();
    if (slotCount > 0) levelTimer = setInterval(updateSlotLevels, 100);
  } catch (err) {
    stopView();
    showError($('view-error'), err);
  }
}

// Video and audio go to separate elements: a <video> element does not play the
// audio of a stream whose video track never gets a frame (audio-only source).
function attachMedia(view) {
  $('view-video').srcObject = new MediaStream(view.mediaStream.getVideoTracks());
  $('view-audio').srcObject = new MediaStream(view.mediaStream.getAudioTracks());
}

function stopView() {
  viewer?.stop();
  viewer = null;
  clearSlots();
  $('view-video').srcObject = null;
  $('view-audio').srcObject = null;
  $('view-state').textContent = 'idle';
  $('view-viewers').textContent = '–';
  renderSources();
  setRunning('view', false);
}

$('view-form').addEventListener('submit', startView);
$('view-stop').addEventListener('click', stopView);
