// Rooms app: a replay (`#/replay/<id>`). The server keeps one file per speaker's
// publication, each placed on the room's clock, with when it held speech. The page plays
// them together on one clock (each <audio> is started, stopped and pulled back in line as
// the clock passes its span), draws each speaker's turns on a timeline, and lights up whoever
// is speaking at the current moment. Seeking moves the clock; every file follows.
import { api } from '/app-account.js';
import {
  avatar, h, icon, setChildren, toastError,
} from '/app-ui.js';

/** How far a file may drift from the clock before it is put back in place. */
const DRIFT_MS = 250;

/** 75 000 → "1:15". */
export function clock(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const hours = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60));
  const ss = String(s % 60).padStart(2, '0');
  return hours ? `${hours}:${mm.padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

/**
 * Who speaks at `t` (ms on the replay's clock): the usernames whose tracks hold a turn then.
 * @param {{username: string, offsetMs: number, speech: number[][]}[]} tracks
 */
export function speakingAt(tracks, t) {
  const names = new Set();
  for (const track of tracks) {
    const local = t - track.offsetMs;
    if (track.speech.some(([a, b]) => local >= a && local < b)) names.add(track.username);
  }
  return names;
}

/** The replay's length: its recorded span, or as far as a track reaches. */
export function lengthOf(replay, tracks) {
  const span = replay.endedMs ? replay.endedMs - replay.startedMs : 0;
  const reach = Math.max(0, ...tracks.map((t) => t.offsetMs + (t.durationMs ?? 0)));
  return Math.max(span, reach);
}

/**
 * Renders replay `id` into `root`; returns `{destroy}`.
 * @param {HTMLElement} root
 * @param {object} app the shared app object
 * @param {string} id
 */
export function renderReplay(root, app, id) {
  const section = h('section', { class: 'replay', id: 'replay', 'aria-busy': 'true' },
    h('p', { class: 'lead' }, 'Loading…'));
  setChildren(root, section);
  let player = null;
  let gone = false;

  api('GET', `/api/replays/${encodeURIComponent(id)}`).then(({ replay, tracks }) => {
    if (gone) return;
    player = new ReplayPlayer(section, replay, tracks);
    document.title = `${replay.title} (replay) · Podium`;
  }, (err) => {
    if (gone) return;
    setChildren(section,
      h('h1', { class: 'page-title' }, 'Replay not available'),
      h('p', { class: 'lead', id: 'replay-error' }, err.status === 404
        ? 'There is no such replay, or it is not shared with you.'
        : err.message),
      h('a', { class: 'btn btn-primary', href: '#/' }, 'Back to Live now'));
    section.removeAttribute('aria-busy');
  });

  return {
    destroy() {
      gone = true;
      player?.destroy();
    },
  };
}

/** Plays a replay's tracks on one clock. */
class ReplayPlayer {
  constructor(section, replay, tracks) {
    this.replay = replay;
    this.tracks = tracks.filter((t) => t.durationMs !== 0);
    this.length = lengthOf(replay, this.tracks);
    this.position = 0;
    this.playing = false;
    this.startedAt = 0;
    this.timer = null;
    this.audios = this.tracks.map((t) => {
      const audio = new Audio();
      audio.preload = 'auto';
      audio.src = t.url;
      audio.dataset.track = String(t.n);
      audio.addEventListener('error', () => toastError(new Error(`${t.username}’s audio could not be loaded`), 'Replay'));
      // A file whose length the server did not learn (a stop mid-recording) says it here.
      audio.addEventListener('loadedmetadata', () => {
        if (t.durationMs == null && Number.isFinite(audio.duration)) this.extend(t.offsetMs + audio.duration * 1000);
      });
      return audio;
    });
    this.render(section);
    this.tick();
  }

  render(section) {
    const { replay } = this;
    // Lanes in the order people were first heard (or first recorded, if never heard).
    const firstHeard = (t) => t.offsetMs + (t.speech[0]?.[0] ?? (t.durationMs ?? 0));
    const order = [...this.tracks].sort((x, y) => firstHeard(x) - firstHeard(y));
    const people = [...new Set(order.map((t) => t.username))];
    this.rows = new Map();
    /** Each drawn turn, on the replay's clock. */
    this.turns = [];
    const lanes = people.map((name) => {
      const bar = h('div', { class: 'replay-lane-bar' },
        this.tracks.filter((t) => t.username === name).flatMap((t) => t.speech.map(([a, b]) => {
          const el = h('span', { class: 'replay-turn' });
          this.turns.push({ el, from: t.offsetMs + a, to: t.offsetMs + b });
          return el;
        })));
      const row = h('li', { class: 'replay-lane', dataset: { username: name } },
        h('div', { class: 'replay-who' }, avatar({ username: name }, 'sm'), h('span', { class: 'replay-name' }, name)),
        bar);
      this.rows.set(name, row);
      return row;
    });
    this.playButton = h('button', {
      type: 'button', class: 'btn btn-primary', id: 'replay-play', onclick: () => (this.playing ? this.pause() : this.play()),
    }, icon('play'), 'Play');
    this.seek = h('input', {
      type: 'range', id: 'replay-seek', min: 0, max: this.length, step: 100, value: 0, 'aria-label': 'Position',
    });
    this.seek.addEventListener('input', () => this.moveTo(Number(this.seek.value)));
    this.time = h('span', { class: 'replay-time', id: 'replay-time' }, `0:00 / ${clock(this.length)}`);
    this.now = h('p', { class: 'replay-now', id: 'replay-speaking', 'aria-live': 'polite' }, '');
    const when = new Date(replay.startedMs);
    setChildren(section,
      h('p', { class: 'eyebrow' }, icon('replay'), 'Replay'),
      h('h1', { class: 'page-title', id: 'replay-title' }, replay.title),
      h('p', { class: 'lead' },
        'Hosted by ', h('a', { href: `#/u/${encodeURIComponent(replay.hostName)}`, id: 'replay-host' }, replay.hostName),
        ` · ${when.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' })} · ${clock(this.length)}`),
      h('div', { class: 'replay-controls' }, this.playButton, this.seek, this.time),
      this.now,
      lanes.length
        ? h('ul', { class: 'replay-lanes', id: 'replay-lanes' }, lanes)
        : h('p', { class: 'empty-line' }, 'Nobody was heard in this recording.'),
      ...this.audios);
    section.removeAttribute('aria-busy');
    this.placeTurns();
  }

  /** Places the turns on the lanes for the replay's length. */
  placeTurns() {
    for (const { el, from, to } of this.turns) {
      el.style.left = `${pct(from, this.length)}%`;
      el.style.width = `${Math.max(0.4, pct(to - from, this.length))}%`;
    }
  }

  /** Makes the replay at least `ms` long. */
  extend(ms) {
    if (ms <= this.length) return;
    this.length = ms;
    this.seek.max = String(Math.round(ms));
    this.placeTurns();
    this.paint();
  }

  /** The clock's current time (ms). */
  current() {
    return this.playing ? Math.min(this.length, performance.now() - this.startedAt) : this.position;
  }

  play() {
    if (this.position >= this.length) this.position = 0;
    this.startedAt = performance.now() - this.position;
    this.playing = true;
    setChildren(this.playButton, icon('pause'), 'Pause');
    this.sync(true);
  }

  pause() {
    this.position = this.current();
    this.playing = false;
    setChildren(this.playButton, icon('play'), 'Play');
    for (const audio of this.audios) audio.pause();
  }

  moveTo(ms) {
    this.position = Math.max(0, Math.min(this.length, ms));
    if (this.playing) this.startedAt = performance.now() - this.position;
    this.sync(true);
    this.paint();
  }

  /** Starts, stops and re-aligns each file to the clock. */
  sync(force = false) {
    const t = this.current();
    this.tracks.forEach((track, i) => {
      const audio = this.audios[i];
      const local = t - track.offsetMs;
      const end = track.durationMs ?? (Number.isFinite(audio.duration) ? audio.duration * 1000 : Infinity);
      const inside = local >= 0 && local < end;
      if (!this.playing || !inside) {
        if (!audio.paused) audio.pause();
        if (force && inside) audio.currentTime = local / 1000;
        return;
      }
      // A file still seeking or buffering is left to catch up rather than sent again.
      const settled = !audio.seeking && audio.readyState >= HTMLMediaElement.HAVE_FUTURE_DATA;
      if (force || (settled && Math.abs(audio.currentTime * 1000 - local) > DRIFT_MS)) audio.currentTime = local / 1000;
      if (audio.paused) audio.play().catch(() => {});
    });
  }

  paint() {
    const t = this.current();
    if (document.activeElement !== this.seek) this.seek.value = String(Math.round(t));
    this.time.textContent = `${clock(t)} / ${clock(this.length)}`;
    const speaking = speakingAt(this.tracks, t);
    for (const [name, row] of this.rows) row.classList.toggle('is-speaking', speaking.has(name));
    const names = [...speaking];
    this.now.textContent = names.length ? `Speaking: ${names.join(', ')}` : '';
    this.now.dataset.speaking = names.join(',');
  }

  tick() {
    this.timer = setTimeout(() => this.tick(), 100);
    if (this.playing) {
      this.sync();
      if (this.current() >= this.length) {
        this.pause();
        this.position = this.length;
      }
    }
    this.paint();
  }

  destroy() {
    clearTimeout(this.timer);
    for (const audio of this.audios) {
      audio.pause();
      audio.removeAttribute('src');
      audio.load();
    }
  }
}

function pct(ms, length) {
  return length > 0 ? (100 * ms) / length : 0;
}
