// Rooms app: the "Live now" lobby — live list of rooms (updated from the server's broadcasts)
// and the "Start a room" dialog.
import { recordingPill } from '/app-room-recording.js';
import { scheduleDialog, upcomingSection } from '/app-schedule.js';
import { counts, ownerName, stage } from '/app-store.js';
import {
  avatar, busy, h, icon, openDialog, plural, renderKeyed, setChildren, toastError,
} from '/app-ui.js';

/**
 * Renders the lobby into `root` and keeps it live until the returned `destroy()` is called.
 * @param {HTMLElement} root
 * @param {{store: import('/app-store.js').Store, createRoom: (name: string, audioOnly: boolean) => Promise<string>, openRoom: (id: string) => void}} app
 */
/** How often the lobby asks the server for its ranking while rooms change. */
const RANK_EVERY = 3000;
/** The most cards a `live-now` answer has (the server's limit). */
const RANKED_LIMIT = 100;

export function renderLobby(root, app) {
  const { store } = app;
  const list = h('ul', { class: 'room-grid', id: 'room-list', 'aria-labelledby': 'live-title' });
  const summary = h('p', { class: 'lead', id: 'live-summary' });
  const search = h('input', {
    type: 'search', id: 'live-search', class: 'live-search', placeholder: 'Search rooms and people', 'aria-label': 'Search live rooms by title, host or speaker', maxlength: 80,
  });
  const noMatch = h('p', { class: 'lead', id: 'live-no-match', hidden: true }, 'No live room matches your search.');
  const empty = h('div', { class: 'empty-state', id: 'live-empty', hidden: true },
    h('div', { class: 'empty-art', 'aria-hidden': 'true' }, icon('audio')),
    h('h2', {}, 'No live rooms right now'),
    h('p', {}, 'Start one and invite people to talk. Rooms appear here the moment they go live.'),
    h('button', { type: 'button', class: 'btn btn-primary', onclick: () => openCreate() }, icon('plus'), 'Start a room'));

  const upcoming = upcomingSection(app);
  setChildren(root, h('section', { class: 'lobby', 'aria-labelledby': 'live-title' },
    h('div', { class: 'lobby-head' },
      h('div', {},
        h('h1', { id: 'live-title', class: 'page-title' }, h('span', { class: 'live-dot', 'aria-hidden': 'true' }), 'Live now'),
        summary),
      h('div', { class: 'lobby-actions' },
        app.account ? h('button', { type: 'button', class: 'btn btn-ghost', id: 'schedule-room', onclick: () => scheduleDialog(app, () => upcoming.refresh()) }, icon('clock'), 'Schedule') : null,
        h('button', { type: 'button', class: 'btn btn-primary', id: 'create-room', onclick: () => openCreate() }, icon('plus'), 'Start a room'))),
    upcoming.el,
    h('form', { class: 'form live-search-form', role: 'search', onsubmit: (e) => { e.preventDefault(); refreshRanking(); } }, search),
    noMatch,
    list,
    empty,
    h('p', { class: 'lobby-foot' }, 'Building on Podium? Try the ', h('a', { href: '/demo.html' }, 'publish/view demo'), '.')));

  function cardFor(room) {
    const button = h('button', { type: 'button', class: 'room-card-link', onclick: () => app.openRoom(room.id) });
    return h('li', { class: 'room-card', dataset: { roomId: room.id } }, button);
  }

  function updateCard(li, room) {
    const c = room.card ? { speakers: room.card.speakerCount, audience: room.card.audienceCount } : counts(room);
    const host = room.card ? room.card.ownerUsername : ownerName(room);
    const speakers = room.card ? room.card.speakers : stage(room);
    const button = li.firstElementChild;
    const followed = ranking?.followed.has(room.id) ?? false;
    li.dataset.followed = String(followed);
    button.setAttribute('aria-label', `Join ${room.name}, hosted by ${host || 'nobody'}: ${plural(c.speakers, 'speaker')}, ${c.audience} listening`);
    li.dataset.audioOnly = String(room.audioOnly);
    const names = speakers.slice(0, 3).map((p) => p.username);
    const more = speakers.length - names.length;
    setChildren(button,
      h('div', { class: 'card-top' },
        h('span', { class: 'pill pill-live' }, h('span', { class: 'live-dot', 'aria-hidden': 'true' }), 'Live'),
        h('span', { class: 'pill pill-kind', title: room.audioOnly ? 'Audio-only room' : 'Room with the host’s video' },
          icon(room.audioOnly ? 'audio' : 'video'), room.audioOnly ? 'Audio' : 'Video'),
        followed ? h('span', { class: 'pill pill-following', title: 'Someone you follow is on stage' }, 'Following') : null,
        room.privacy === 'followers' ? h('span', { class: 'pill pill-private', title: 'For the host’s followers' }, icon('lock'), 'Followers') : null,
        recordingPill(room)),
      h('h3', { class: 'card-title' }, room.name),
      h('div', { class: 'card-speakers' },
        h('span', { class: 'avatar-stack' }, speakers.slice(0, 4).map((p) => avatar(p, 'sm'))),
        h('span', { class: 'card-names' }, names.join(', ') + (more > 0 ? ` +${more}` : ''))),
      h('div', { class: 'card-foot' },
        h('span', { class: 'stat', dataset: { count: 'speakers' }, title: 'Speakers' }, icon('mic'), h('span', { class: 'n' }, c.speakers), h('span', { class: 'sr-only' }, ' speakers')),
        h('span', { class: 'stat', dataset: { count: 'audience' }, title: 'Listening' }, icon('headphones'), h('span', { class: 'n' }, c.audience), h('span', { class: 'sr-only' }, ' listening')),
        h('span', { class: 'card-host' }, host ? ['Hosted by ', h('strong', { class: 'card-owner' }, host)] : 'No host')));
  }

  document.title = 'Live now · Podium';

  // The order (people you follow first, then activity) and the search come from the server
  // (`live-now`); the cards' contents from the store, which broadcasts keep live.
  /** @type {{ids: string[], followed: Set<string>, query: string, known: Set<string>}|null} */
  let ranking = null;
  let rankTimer = null;
  let lastRanked = 0;
  async function refreshRanking() {
    clearTimeout(rankTimer);
    rankTimer = null;
    lastRanked = Date.now();
    const query = search.value.trim();
    // Rooms the server could have listed: one it left out is hidden from us (a block).
    const known = new Set(store.live().map((r) => r.id));
    try {
      const cards = await app.call('live-now', query || null);
      ranking = {
        ids: cards.map((c) => c.id),
        // Rooms only the ranking knows (followers-only rooms are not broadcast to everyone).
        cards: new Map(cards.map((c) => [c.id, c])),
        followed: new Set(cards.filter((c) => c.speakers.some((s) => s.followed)).map((c) => c.id)),
        query,
        known: cards.length < RANKED_LIMIT ? known : new Set(),
      };
      render();
    } catch {
      // Offline or throttled: the store's order until the next change.
    }
  }
  /** Asks again soon, at most every few seconds (each answer ranks every room). */
  const rankSoon = (delay = RANK_EVERY) => {
    if (rankTimer) return;
    rankTimer = setTimeout(refreshRanking, Math.max(300, lastRanked + delay - Date.now()));
  };
  search.addEventListener('input', () => {
    clearTimeout(rankTimer);
    rankTimer = setTimeout(refreshRanking, 400);
  });

  function ordered() {
    let rooms = store.live();
    if (!ranking) return rooms;
    const inStore = new Set(rooms.map((r) => r.id));
    const extra = [...ranking.cards.values()].filter((c) => !inStore.has(c.id)).map((card) => ({
      id: card.id, name: card.name, audioOnly: card.audioOnly, privacy: card.privacy, participants: [], card,
    }));
    rooms = [...rooms, ...extra];
    const at = new Map(ranking.ids.map((id, i) => [id, i]));
    if (ranking.query) rooms = rooms.filter((r) => at.has(r.id));
    else rooms = rooms.filter((r) => at.has(r.id) || !ranking.known.has(r.id));
    return rooms
      .map((room, i) => ({ room, rank: at.get(room.id) ?? ranking.ids.length + i }))
      .sort((a, b) => a.rank - b.rank)
      .map((x) => x.room);
  }

  function render() {
    const rooms = ordered();
    renderKeyed(list, rooms, (r) => r.id, cardFor, updateCard);
    const searching = Boolean(ranking?.query);
    noMatch.hidden = !(searching && rooms.length === 0);
    empty.hidden = rooms.length > 0 || searching;
    list.hidden = rooms.length === 0;
    const people = rooms.reduce((n, r) => n + (r.card ? r.card.speakerCount + r.card.audienceCount : r.participants.length), 0);
    summary.textContent = rooms.length
      ? `${plural(rooms.length, 'room')} live · ${plural(people, 'person', 'people')} talking and listening`
      : 'Nothing live at the moment.';
  }

  function openCreate() {
    const nameInput = h('input', {
      id: 'room-name', name: 'name', required: true, maxlength: 80, autocomplete: 'off', placeholder: 'e.g. Friday product chat',
    });
    const error = h('p', { class: 'field-error', id: 'room-name-error', role: 'alert', hidden: true });
    const submit = h('button', { type: 'submit', class: 'btn btn-primary', id: 'create-room-submit' }, 'Go live');
    const option = (value, title, text, iconName, checked) => h('label', { class: 'choice' },
      h('input', { type: 'radio', name: 'kind', value, checked }),
      h('span', { class: 'choice-box' }, icon(iconName, 'choice-icon'),
        h('span', { class: 'choice-text' }, h('strong', {}, title), h('span', {}, text))));
    const form = h('form', { class: 'form', id: 'create-room-form', novalidate: true },
      h('label', { class: 'label', for: 'room-name' }, 'Room name'),
      nameInput,
      error,
      h('fieldset', { class: 'choices' },
        h('legend', { class: 'label' }, 'Format'),
        option('audio', 'Audio only', 'Everyone on stage talks; no cameras.', 'audio', true),
        option('video', 'Audio + your video', 'Your camera is shown on stage while you host.', 'video', false)),
      h('label', { class: 'label', for: 'room-privacy' }, 'Who can join'),
      h('select', { id: 'room-privacy', name: 'privacy' },
        h('option', { value: 'public' }, 'Everyone (listed in Live now)'),
        app.account ? h('option', { value: 'followers' }, 'My followers') : null,
        h('option', { value: 'invite' }, 'Only people with the invite link')),
      h('div', { class: 'dialog-actions' },
        h('button', { type: 'button', class: 'btn btn-ghost', onclick: () => dialog.close() }, 'Cancel'),
        submit));
    const dialog = openDialog({ title: 'Start a room', content: form, labelledBy: 'create-title' });
    nameInput.focus();
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const name = nameInput.value.trim();
      const showError = (msg) => {
        error.textContent = msg;
        error.hidden = !msg;
        nameInput.setAttribute('aria-invalid', msg ? 'true' : 'false');
        if (msg) nameInput.setAttribute('aria-describedby', 'room-name-error');
      };
      if (!name) {
        showError('Give your room a name.');
        nameInput.focus();
        return;
      }
      showError('');
      const audioOnly = form.elements.kind.value !== 'video';
      const privacy = form.elements.privacy.value;
      try {
        const roomId = await busy(submit, () => app.createRoom(name, audioOnly, privacy), 'Starting…');
        dialog.close();
        app.openRoom(roomId);
      } catch (err) {
        showError(err.message);
        if (!err.fromServer) toastError(err, 'Could not start the room');
      }
    });
  }

  const changed = () => {
    render();
    rankSoon();
  };
  store.addEventListener('change', changed);
  render();
  refreshRanking();
  return {
    openCreate,
    destroy() {
      upcoming.destroy();
      clearTimeout(rankTimer);
      store.removeEventListener('change', changed);
    },
  };
}
