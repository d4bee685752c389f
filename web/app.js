// Podium rooms app (served at /): sign in with a name, see the rooms that are live now, walk
// into one, listen, raise your hand, take the stage.
//
// Modules (all plain ES modules served by `podium serve`, no build step):
//   app.js        this file: socket connection to the rooms server, sign-in, reconnection,
//                 routing (#/ lobby, #/room/<id> room page), top bar, asking the host before
//                 any way out of a room (Back, logo, Sign out, closing the tab)
//   app-store.js  client-side model: cached rooms updated from the server's broadcasts
//   app-lobby.js  "Live now" list and the "Start a room" dialog
//   app-room.js   the room page: stage, audience, raised hands, owner actions, controls
//   app-room-dialogs.js  the room page's questions: invitation, remove someone, leave as host
//   app-media.js  the room's audio/video with podium.js (View with 3 audio slots, Publish)
//   app-ui.js     DOM helpers, icons, avatars, toasts, dialogs
//   app-account.js  accounts: sign up / sign in with a password, the session, following
//   sio.js        the socket.io client (socket.io v5 over a WebSocket)
// The rooms protocol is the millicast-spaces one (authenticate, create-room, join-room, …);
// see docs/ and the protocol reference §9.
import { connect } from '/sio.js';
import { Store } from '/app-store.js';
import { renderLobby } from '/app-lobby.js';
import { RoomPage } from '/app-room.js';
import { accountForm, accountSignOut, currentAccount } from '/app-account.js';
import { renderProfile } from '/app-profile.js';
import { renderReplay } from '/app-replay.js';
import { pushButton } from '/app-push.js';
import {
  avatar, busy, h, icon, setChildren, toast, toastError,
} from '/app-ui.js';

const USERNAME_KEY = 'podium.rooms.username';
/** The secret that lets this tab resume its user after a reload (see `authenticate`). */
const SECRET_KEY = 'podium.rooms.resume';
const main = document.getElementById('main');
const store = new Store();

/** Everything the views share. Also exposed as `window.podiumApp` for debugging and tests. */
const app = {
  store,
  /** @type {import('/sio.js').Socket|null} */
  socket: null,
  username: null,
  /** `signed-out` | `signing-in` | `online` | `reconnecting` */
  connection: 'signed-out',
  /** The signed-in account (`{account, csrf, …}`), or null for a guest. */
  account: null,
  /** The account's username while it is signed in in another tab or window (this one waits). */
  elsewhere: null,
  /** @type {RoomPage|null} */
  room: null,
  lobby: null,
  call,
  createRoom,
  openRoom,
  goLobby,
  signOut,
};
window.podiumApp = app;

// ---------------------------------------------------------------------------------------
// Server calls
// ---------------------------------------------------------------------------------------

/**
 * Sends a rooms command and returns the ack's `data`; throws an Error with the server's
 * readable message (`err.fromServer = true`) for an `{error}` ack.
 */
async function call(event, ...args) {
  if (!app.socket?.connected) throw new Error('Not connected to the server. Please wait a moment and try again.');
  const reply = await app.socket.emitWithAck(event, ...args);
  if (reply && typeof reply === 'object' && 'error' in reply && reply.error) {
    const err = new Error(String(reply.error));
    err.fromServer = true;
    throw err;
  }
  return reply?.data;
}

/**
 * `authenticate`, sent again if unanswered. It is the first message after connecting, and a
 * server may not listen yet at that moment (socketioxide runs an async namespace handler after
 * it has acknowledged the connection, so a message that arrives first is dropped without an
 * ack). Repeating it is safe: the same name gets the same answer.
 */
/**
 * Signs in on the current socket. With `resume`, comes back as the user this tab signed in as
 * before (a reload, a dropped network) with the secret the server gave it: same id, rooms and
 * role. The server's newest secret is kept in sessionStorage (this tab only).
 */
async function authenticate(username, { resume = false, takeOver = false } = {}) {
  const secret = resume ? sessionStorage.getItem(SECRET_KEY) : null;
  // Resuming keeps only the room this tab shows: one walked out of while offline is left.
  // Taking over moves the account's user from its other tab, seats and all.
  const options = secret
    ? { resume: secret, rooms: shownRooms(), answersInvitations: true }
    : { answersInvitations: true, ...(takeOver ? { takeOver: true } : {}) };
  for (let attempt = 1; ; attempt++) {
    try {
      if (!app.socket?.connected) throw new Error('Not connected to the server.');
      const reply = await app.socket.timeout(attempt < 3 ? 2500 : 10000).emitWithAck('authenticate', username, options);
      if (reply?.error) {
        const err = new Error(String(reply.error));
        err.fromServer = true;
        err.expired = !!secret && /expired/i.test(err.message);
        err.elsewhere = /another tab/i.test(err.message);
        throw err;
      }
      const data = reply?.data;
      if (data?.resumeSecret) sessionStorage.setItem(SECRET_KEY, data.resumeSecret);
      if (data) data.resumed = !!secret;
      return data;
    } catch (err) {
      if (err.code !== 'timeout' || attempt >= 3) throw err;
    }
  }
}

/** Resumes when this tab has a secret, else (or when it expired) signs in afresh. */
async function authenticateOrResume(username) {
  if (!sessionStorage.getItem(SECRET_KEY)) return authenticate(username);
  try {
    return await authenticate(username, { resume: true });
  } catch (err) {
    if (!err.expired) throw err;
    sessionStorage.removeItem(SECRET_KEY);
  }
  // An account's user may still come back with its seats (see `authenticate`); if another
  // tab has it, this throws with `elsewhere`.
  const data = await authenticate(username);
  if (!data.seats?.length) {
    toast('You were away too long, so your places in rooms were given up. You are signed in again.', { kind: 'info', id: 'seat-lost' });
  }
  return data;
}

/** The rooms this tab shows: the room page's, or the one its address names (a reload). */
function shownRooms() {
  if (app.room) return app.room.left ? [] : [app.room.roomId];
  const { roomId } = parseHash(location.hash);
  return roomId ? [roomId] : [];
}

/** Every room the sign-in reply names: the listing plus the rooms we are (back) in. */
function roomsOf(data) {
  const seen = new Set();
  return [...(data.seats ?? []), ...(data.rooms ?? [])].filter((r) => !seen.has(r.id) && seen.add(r.id));
}

async function createRoom(name, audioOnly, privacy = 'public') {
  return call('create-room', name, audioOnly, ...(privacy === 'public' ? [] : [{ privacy }]));
}

function openRoom(roomId) {
  location.hash = `#/room/${encodeURIComponent(roomId)}`;
}

function goLobby() {
  if (location.hash === '#/' || location.hash === '') route();
  else location.hash = '#/';
}

// ---------------------------------------------------------------------------------------
// Connection: sign-in, server events, reconnection
// ---------------------------------------------------------------------------------------

const ROOM_EVENTS = ['user-joined', 'user-left', 'user-promoted', 'user-raised-hand', 'user-muted', 'user-invited', 'user-mic', 'user-moderator', 'user-chat-muted', 'room-recording'];
const CHAT_EVENTS = ['chat-message', 'chat-history', 'chat-deleted', 'reaction'];
const PERSONAL_EVENTS = ['promoted', 'demoted', 'kicked', 'muted', 'room-closed', 'invited', 'hand-denied'];

function wire(socket) {
  socket.on('room-created', (room) => store.putRoom(room));
  socket.on('room-updated', (room) => store.putRoom(room));
  socket.on('room-deleted', (roomId) => store.removeRoom(roomId));
  for (const event of ROOM_EVENTS) {
    socket.on(event, (roomId, ...args) => {
      store.roomEvent(event, roomId, args);
      app.room?.onRoomEvent(event, roomId, args);
    });
  }
  for (const event of CHAT_EVENTS) {
    socket.on(event, (roomId, ...args) => app.room?.onChatEvent(event, roomId, args));
  }
  for (const event of PERSONAL_EVENTS) {
    socket.on(event, (roomId, ...args) => {
      if (app.room?.roomId === roomId) app.room.onPersonalEvent(event, args);
      if (event === 'room-closed') store.removeRoom(roomId);
    });
  }
  socket.on('followed-live', (notice) => {
    toast(`${notice.username} is on stage in “${notice.roomName}”.`, {
      title: 'Someone you follow is live',
      id: `followed-${notice.roomId}`,
      actions: [{ label: 'Join', primary: true, onClick: () => openRoom(notice.roomId) }],
    });
  });
  socket.on('schedule-starting', (notice) => {
    toast(`“${notice.title}” by ${notice.hostName} is starting.`, {
      title: 'Reminder',
      id: `schedule-${notice.scheduleId}`,
      actions: notice.roomId ? [{ label: 'Join', primary: true, onClick: () => openRoom(notice.roomId) }] : [],
    });
  });
  // Another tab or device took this user over: the server closes this socket next.
  socket.on('signed-in-elsewhere', () => { socket.movedAway = true; });
  socket.on('disconnect', (reason) => {
    if (reason === 'io client disconnect' || app.socket !== socket) return;
    app.room?.onConnectionLost();
    if (reason === 'io server disconnect' && socket.movedAway) {
      movedAway();
      return;
    }
    if (reason === 'io server disconnect') {
      // The server closed our session on purpose: no automatic reconnection.
      toast('The server ended your session. Sign in again to continue.', { kind: 'warn', title: 'Signed out' });
      signOut();
      return;
    }
    setConnection('reconnecting');
  });
  socket.on('reconnect_attempt', (attempt, delay) => {
    setConnection('reconnecting', `Reconnecting in ${Math.max(1, Math.round(delay / 1000))} s (attempt ${attempt})…`);
  });
  socket.on('connect', () => {
    if (app.connection === 'reconnecting') resume();
  });
}

/**
 * Signs in: connects, authenticates, fills the store; returns the sign-in's data. With
 * `takeOver`, the account's user moves here from its other tab. Throws a readable Error.
 */
async function signIn(username, { takeOver = false } = {}) {
  const socket = connect(location.origin, { namespace: '/', timeout: 10000, ackTimeout: 10000 });
  wire(socket);
  setConnection('signing-in');
  try {
    await socket.connect();
  } catch (err) {
    socket.disconnect();
    setConnection('signed-out');
    throw new Error(`Cannot reach the rooms server (${err.message}). Check your connection and try again.`);
  }
  app.socket = socket;
  try {
    // A reload of a signed-in tab comes back as the same user, seats and all.
    const data = !takeOver && username === sessionStorage.getItem(USERNAME_KEY)
      ? await authenticateOrResume(username) : await authenticate(username, { takeOver });
    app.username = data.user.username;
    app.elsewhere = null;
    store.reset(data.user, roomsOf(data));
    // Seats this tab did not ask for (taken over from another tab, or from one closed a
    // moment ago): show the room, if the address is the lobby's (not a room, a profile…).
    const seat = data.seats?.[0];
    const lobby = Object.keys(parseHash(location.hash)).length === 0;
    if (seat && lobby) history.replaceState(null, '', `#/room/${encodeURIComponent(seat.id)}`);
    sessionStorage.setItem(USERNAME_KEY, app.username);
    setConnection('online');
    return data;
  } catch (err) {
    app.socket = null;
    socket.disconnect();
    setConnection('signed-out');
    throw err;
  }
}

/**
 * Signs in as the browser's account. If it is signed in in another tab or window, this tab
 * waits and offers to continue here (see `renderElsewhere`) rather than taking it over.
 */
async function signInAccount(username) {
  try {
    await signIn(username);
  } catch (err) {
    if (!err.elsewhere) throw err;
    app.elsewhere = username;
  }
}

/** Another tab or device took this user over: stop here, without leaving (the seats moved). */
function movedAway() {
  const socket = app.socket;
  app.socket = null;
  app.elsewhere = app.username;
  app.room?.destroy({ leave: false });
  app.room = null;
  app.profile?.destroy();
  app.profile = null;
  socket?.disconnect();
  store.clear();
  sessionStorage.removeItem(SECRET_KEY);
  setConnection('signed-out');
  if (!app.account) {
    // A guest's name has no account to come back with: this tab signs in anew.
    toast('You continued in another tab, so this one stopped.', { kind: 'info', title: 'Open in another tab', id: 'elsewhere' });
    sessionStorage.removeItem(USERNAME_KEY);
  }
  route();
}

/** After a reconnection: authenticate again (same name), then restore the page. */
async function resume() {
  setConnection('reconnecting', 'Signing you back in…');
  const deadline = Date.now() + 60000;
  for (;;) {
    try {
      const data = await authenticateOrResume(app.username);
      store.reset(data.user, roomsOf(data));
      break;
    } catch (err) {
      // The server may still hold our old connection (and name) for a little while.
      if (!app.socket?.connected) return; // lost again: the next `connect` resumes
      if (err.elsewhere) {
        // Another tab or device has this account's user now: ask, do not take it back.
        movedAway();
        return;
      }
      if (!/taken/i.test(err.message) || Date.now() > deadline) {
        toastError(err, 'Could not sign you back in');
        signOut();
        return;
      }
      setConnection('reconnecting', 'Waiting for the server to release your name…');
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  setConnection('online');
  toast('You are back online.', { kind: 'success', id: 'connection' });
  if (app.room) app.room.resume();
  else route();
}

/**
 * Leaves the rooms and shows the sign-in page; with `endSession` (the Sign out button) also
 * ends the account's session in this browser. A socket the server closed (another tab took
 * over, the session ended) leaves the session as it is.
 */
function signOut({ endSession = false } = {}) {
  const socket = app.socket;
  app.socket = null;
  if (app.account) {
    const { csrf } = app.account;
    app.account = null;
    if (endSession) accountSignOut(csrf).catch((err) => toastError(err, 'Could not end your session'));
  }
  sessionStorage.removeItem(SECRET_KEY);
  // Leave every room now, for good (a dropped connection would hold the seats a while).
  if (socket?.connected) socket.emit('sign-out');
  app.room?.destroy({ leave: true });
  app.room = null;
  socket?.disconnect();
  store.clear();
  app.username = null;
  sessionStorage.removeItem(USERNAME_KEY);
  setConnection('signed-out');
  if (location.hash.startsWith('#/room/')) history.replaceState(null, '', '#/');
  route();
}

// ---------------------------------------------------------------------------------------
// Top bar and connection banner
// ---------------------------------------------------------------------------------------

const userSlot = document.getElementById('topbar-user');
const banner = document.getElementById('connection-banner');

function setConnection(state, detail) {
  app.connection = state;
  document.body.dataset.connection = state;
  if (state === 'reconnecting') {
    banner.hidden = false;
    setChildren(banner, h('span', { class: 'spinner', 'aria-hidden': 'true' }),
      h('span', {}, h('strong', {}, 'Connection lost. '), detail ?? 'Reconnecting…'));
  } else {
    banner.hidden = true;
    banner.replaceChildren();
  }
  renderUser();
}

function renderUser() {
  const me = store.me;
  if (!me || app.connection === 'signed-out') {
    userSlot.replaceChildren();
    return;
  }
  setChildren(userSlot,
    app.account
      ? h('a', { class: 'user-chip', id: 'my-profile', href: `#/u/${encodeURIComponent(me.username)}`, title: `Your profile (${me.username})` }, avatar(me, 'xs'), h('span', { class: 'user-name', id: 'me-name' }, me.username))
      : h('span', { class: 'user-chip', title: `Signed in as ${me.username}` }, avatar(me, 'xs'), h('span', { class: 'user-name', id: 'me-name' }, me.username)),
    app.account ? pushButton(app, renderUser) : null,
    h('button', { type: 'button', class: 'btn btn-ghost btn-sm', id: 'sign-out', onclick: () => whenExitConfirmed(() => signOut({ endSession: true })) }, 'Sign out'));
}
store.addEventListener('change', () => renderUser());

// ---------------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------------

function renderSignIn({ error, autoName } = {}) {
  const input = h('input', {
    id: 'username', name: 'username', required: true, maxlength: 160, autocomplete: 'nickname', autocapitalize: 'words',
    spellcheck: 'false', placeholder: 'e.g. Ada Lovelace', 'aria-describedby': 'username-hint',
  });
  const errorEl = h('p', { class: 'field-error', id: 'signin-error', role: 'alert', hidden: !error }, error ?? '');
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block', id: 'signin-submit' }, 'Continue');
  const form = h('form', { class: 'form', id: 'signin-form', novalidate: true },
    h('label', { class: 'label', for: 'username' }, 'Your name'),
    input,
    h('p', { class: 'field-hint', id: 'username-hint' }, 'This is how others see you: letters, digits, emoji, spaces, apostrophes and - _ . (up to 32 characters).'),
    errorEl,
    submit);
  setChildren(main, h('section', { class: 'signin' },
    h('div', { class: 'signin-card' },
      h('div', { class: 'signin-art', 'aria-hidden': 'true' },
        ...['#7c5cff', '#22c55e', '#f59e0b', '#ef4444'].map((c, i) => h('span', { class: 'bubble', style: `--c:${c};--i:${i}` }))),
      h('h1', { class: 'signin-title' }, 'Talk live, together.'),
      h('p', { class: 'signin-lead' }, 'Drop into live audio rooms. Listen in, raise your hand, and take the stage when the host invites you.'),
      form,
      accountForm(async (data) => {
        app.account = data;
        await signInAccount(data.account.username);
        route();
      }))));
  const showError = (msg) => {
    errorEl.textContent = msg;
    errorEl.hidden = !msg;
    input.setAttribute('aria-invalid', msg ? 'true' : 'false');
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = input.value.trim();
    if (!name) {
      showError('Please enter a name.');
      input.focus();
      return;
    }
    showError('');
    try {
      await busy(submit, () => signIn(name), 'Signing in…');
      route();
    } catch (err) {
      showError(err.message);
      input.focus();
    }
  });
  if (autoName) input.value = autoName;
  if (error) input.setAttribute('aria-invalid', 'true');
  input.focus();
}

/** This account is in use in another tab or window: continue there, or here. */
function renderElsewhere() {
  const name = app.elsewhere;
  const useHere = h('button', { type: 'button', class: 'btn btn-primary btn-block', id: 'use-here' }, 'Use here');
  useHere.addEventListener('click', async () => {
    try {
      // Back in the room this user was in, from the lobby's address (see `signIn`).
      await busy(useHere, () => signIn(name, { takeOver: true }), 'Moving here…');
      route();
    } catch (err) {
      toastError(err, 'Could not continue here');
    }
  });
  setChildren(main, h('section', { class: 'signin' },
    h('div', { class: 'signin-card', id: 'elsewhere' },
      h('h1', { class: 'signin-title' }, 'Podium is open in another tab'),
      h('p', { class: 'signin-lead' },
        `You are signed in as ${name} in another tab or window. Continue there, or use Podium here: the other one stops, and your places in rooms come here.`),
      useHere)));
}

function showLoading(text) {
  setChildren(main, h('div', { class: 'page-loading', role: 'status' }, h('span', { class: 'spinner spinner-lg', 'aria-hidden': 'true' }), h('p', {}, text)));
}

/**
 * What a hash asks for: `#/room/<id>` → `{roomId}`; `#/` or nothing → `{}` (the lobby); a room
 * link whose id cannot be decoded (`#/room/%E0%A4%A`) → `{invalid: true}`; any other hash →
 * `{unknown: true}`.
 */
function parseHash(hash) {
  const match = /^#\/room\/([^?]+)(?:\?invite=([^&]*))?$/.exec(hash);
  if (match) {
    try {
      return { roomId: decodeURIComponent(match[1]), invite: match[2] ? decodeURIComponent(match[2]) : null };
    } catch {
      return { invalid: true };
    }
  }
  const replay = /^#\/replay\/([A-Za-z0-9]+)$/.exec(hash);
  if (replay) return { replay: replay[1] };
  const person = /^#\/u\/(.+)$/.exec(hash);
  if (person) {
    try {
      return { profile: decodeURIComponent(person[1]) };
    } catch {
      return { invalid: true };
    }
  }
  if (hash === '' || hash === '#' || hash === '#/') return {};
  return { unknown: true };
}

/** Renders the view for the current hash (a room link opened while signed out waits in the hash). */
function route() {
  const target = parseHash(location.hash);
  if (target.invalid || target.unknown) {
    // The lobby, at an address that says so.
    history.replaceState(null, '', '#/');
    if (target.invalid) {
      toast('That room link is not valid. Check the link, or pick a room from Live now.', { kind: 'warn', id: 'bad-link', title: 'Invalid link' });
    }
  }
  const roomId = target.roomId ?? null;
  if (app.connection === 'signed-out' || app.connection === 'signing-in' || !store.me) {
    app.room?.destroy({ leave: false });
    app.room = null;
    app.lobby?.destroy();
    app.lobby = null;
    if (app.connection !== 'signing-in') {
      if (app.elsewhere && app.account) {
        renderElsewhere();
        return;
      }
      if (!accountTried) {
        // A browser signed in to an account comes back as it, whatever the tab knew.
        accountTried = true;
        showLoading('Loading…');
        currentAccount().then(async (data) => {
          if (!data) return route();
          app.account = data;
          await signInAccount(data.account.username);
          return route();
        }).catch((err) => renderSignIn({ error: err.message }));
        return;
      }
      const saved = sessionStorage.getItem(USERNAME_KEY);
      if (saved && !autoTried && !app.account) {
        autoTried = true;
        showLoading(`Signing in as ${saved}…`);
        signIn(saved).then(() => route(), (err) => renderSignIn({ error: err.message, autoName: saved }));
        return;
      }
      renderSignIn();
    }
    return;
  }
  app.profile?.destroy();
  app.profile = null;
  if (target.profile || target.replay) {
    app.room?.destroy({ leave: true });
    app.room = null;
    app.lobby?.destroy();
    app.lobby = null;
    app.profile = target.replay ? renderReplay(main, app, target.replay) : renderProfile(main, app, target.profile);
  } else if (roomId) {
    if (app.room?.roomId === roomId) return;
    app.room?.destroy({ leave: true });
    app.lobby?.destroy();
    app.lobby = null;
    app.room = new RoomPage(main, app, roomId, target.invite);
    roomHash = location.hash;
    app.room.enter();
  } else {
    if (app.room) {
      app.room.destroy({ leave: true });
      app.room = null;
    }
    if (!app.lobby) app.lobby = renderLobby(main, app);
  }
  main.focus({ preventScroll: true });
}
let autoTried = false;
let accountTried = false;

// ---------------------------------------------------------------------------------------
// Leaving a room: the host is asked first, whichever way out they take
// ---------------------------------------------------------------------------------------

/** The hash the current room page was opened with (put back when the host stays). */
let roomHash = null;

/**
 * Whether leaving the room page now needs the user's confirmation: the room page says so
 * (`needsExitConfirm()`: the host, whose leaving ends the room or hands it over).
 */
function exitNeedsConfirm() {
  return !!(app.room && !app.room.left && app.room.needsExitConfirm?.());
}

/** Runs `proceed` now, or once the host has confirmed leaving the room (not if they stay). */
function whenExitConfirmed(proceed) {
  if (exitNeedsConfirm() && typeof app.room.confirmExit === 'function') app.room.confirmExit(proceed);
  else proceed();
}

/** Goes to `hash` without asking again (confirmed already). */
function leaveTo(hash, { replace = false } = {}) {
  if (location.hash !== hash) history[replace ? 'replaceState' : 'pushState'](null, '', hash);
  route();
}

/**
 * The hash changed (Back, Forward, a typed or followed link). Leaving the room page when the
 * host must confirm: the room's address is put back at once (pushState, no hashchange, so the
 * page stays as it is) and the room page asks; if the host confirms, go where they were going.
 */
function onHashChange() {
  if (app.room && !app.room.left && parseHash(location.hash).roomId !== app.room.roomId && exitNeedsConfirm()) {
    const away = location.hash || '#/';
    history.pushState(null, '', roomHash ?? `#/room/${encodeURIComponent(app.room.roomId)}`);
    // Back pressed again while the question is open: one question is enough.
    if (document.querySelector('dialog[open] #confirm-leave')) return;
    whenExitConfirmed(() => leaveTo(away, { replace: true }));
    return;
  }
  route();
}

// The logo: a link to #/ that asks the host first.
document.querySelector('.topbar .brand')?.addEventListener('click', (e) => {
  if (!exitNeedsConfirm()) return;
  e.preventDefault();
  whenExitConfirmed(() => leaveTo('#/'));
});

// The skip link moves the focus; it must not change the hash (the router would leave the room).
document.querySelector('.skip-link')?.addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});

// Closing the tab, reloading or leaving the site: the browser's own "Leave site?" question.
window.addEventListener('beforeunload', (e) => {
  if (!exitNeedsConfirm()) return;
  e.preventDefault();
  e.returnValue = '';
});

window.addEventListener('hashchange', onHashChange);
route();
