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

async function startView(event) {
  event.preventDefault();
  const form = $('view-form').elements;
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
    viewer.addEventListener('track', (e) => { if (e.detail.main) attachMedia(viewer); });
    await viewer.connect({ pinnedSourceId: form.pinnedSourceId.value.trim() || undefined });
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
  $('view-video').srcObject = null;
  $('view-audio').srcObject = null;
  $('view-state').textContent = 'idle';
  $('view-viewers').textContent = '–';
  renderSources();
  setRunning('view', false);
}

$('view-form').addEventListener('submit', startView);
$('view-stop').addEventListener('click', stopView);
