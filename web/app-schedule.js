// Rooms app: scheduled rooms (issue 16). A signed-in host schedules a room (title, topic,
// time); the people who follow them see it under "Upcoming" in the lobby and can ask to be
// reminded (in the app, and by Web Push when it is closed); the host opens it with one click.
import { api } from '/app-account.js';
import {
  busy, h, icon, openDialog, renderKeyed, setChildren, toast, toastError,
} from '/app-ui.js';

/** How often Upcoming is read again while the lobby is open. */
const REFRESH_MS = 30_000;

/** "Today 18:30", "Tomorrow 09:00", "Fri 5 Dec 20:00". */
export function when(unixSeconds, now = Date.now()) {
  const at = new Date(unixSeconds * 1000);
  const time = at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const day = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((day(at) - day(new Date(now))) / 86_400_000);
  if (days === 0) return `Today ${time}`;
  if (days === 1) return `Tomorrow ${time}`;
  return `${at.toLocaleDateString([], { weekday: 'short', day: 'numeric', month: 'short' })} ${time}`;
}

/**
 * The Upcoming section of the lobby: returns `{el, refresh, destroy}`.
 * @param {object} app the shared app object (account, createRoom, openRoom)
 */
export function upcomingSection(app) {
  const list = h('ul', { class: 'upcoming-list', id: 'upcoming-list' });
  const el = h('section', { class: 'upcoming', id: 'upcoming', 'aria-labelledby': 'upcoming-title', hidden: true },
    h('h2', { class: 'section-title', id: 'upcoming-title' }, icon('clock'), 'Upcoming'),
    list);
  let timer = null;

  function row() {
    return h('li', { class: 'upcoming-item' });
  }

  function update(li, s) {
    const mine = s.host === app.account?.account.id;
    // Past its time and not opened yet: the host may still start it (for a while).
    const due = s.startsAt * 1000 <= Date.now();
    li.dataset.scheduleId = s.id;
    li.classList.toggle('is-due', due);
    setChildren(li,
      h('div', { class: 'upcoming-when' }, due ? 'Starting now' : when(s.startsAt)),
      h('div', { class: 'upcoming-text' },
        h('strong', { class: 'upcoming-title' }, s.title),
        h('span', { class: 'upcoming-host' }, mine ? 'You host' : `Hosted by ${s.hostName}`),
        s.topic ? h('span', { class: 'upcoming-topic' }, s.topic) : null),
      h('div', { class: 'upcoming-actions' },
        mine
          ? [
            h('button', { type: 'button', class: 'btn btn-primary btn-sm', dataset: { action: 'start' }, onclick: (e) => busy(e.currentTarget, () => start(s)) }, 'Start now'),
            h('button', { type: 'button', class: 'btn btn-ghost btn-sm', dataset: { action: 'cancel' }, onclick: (e) => busy(e.currentTarget, () => cancel(s)) }, 'Cancel'),
          ]
          : due ? h('span', { class: 'muted-text' }, 'Waiting for the host')
          : h('button', {
            type: 'button',
            class: `btn btn-sm ${s.remindMe ? 'btn-ghost' : 'btn-primary'}`,
            dataset: { action: 'remind' },
            'aria-pressed': String(s.remindMe),
            onclick: (e) => busy(e.currentTarget, () => remind(s, !s.remindMe)),
          }, icon('bell'), s.remindMe ? 'Reminder set' : 'Remind me')));
  }

  async function refresh() {
    clearTimeout(timer);
    timer = setTimeout(refresh, REFRESH_MS);
    if (!app.account) {
      el.hidden = true;
      return;
    }
    try {
      const { schedules } = await api('GET', '/api/schedules');
      renderKeyed(list, schedules, (s) => s.id, row, update);
      el.hidden = schedules.length === 0;
    } catch {
      // Offline: keep what is shown until the next try.
    }
  }

  async function start(s) {
    try {
      const roomId = await app.createRoom(s.title, s.audioOnly);
      await api('POST', `/api/schedules/${encodeURIComponent(s.id)}/opened`, { body: { roomId }, csrf: app.account.csrf });
      app.openRoom(roomId);
    } catch (err) {
      toastError(err, 'Could not start the room');
    }
  }

  async function cancel(s) {
    try {
      await api('DELETE', `/api/schedules/${encodeURIComponent(s.id)}`, { csrf: app.account.csrf });
      refresh();
    } catch (err) {
      toastError(err, 'Could not cancel');
    }
  }

  async function remind(s, on) {
    try {
      await api(on ? 'POST' : 'DELETE', `/api/schedules/${encodeURIComponent(s.id)}/remind`, { csrf: app.account.csrf });
      if (on) toast(`We will tell you when “${s.title}” starts.`, { kind: 'success', id: 'reminder' });
      refresh();
    } catch (err) {
      toastError(err, 'Reminder');
    }
  }

  refresh();
  return { el, refresh, destroy: () => clearTimeout(timer) };
}

/** The "Schedule" dialog; `onDone()` after a room is scheduled. */
export function scheduleDialog(app, onDone) {
  const pad = (n) => String(n).padStart(2, '0');
  const soon = new Date(Date.now() + 3600_000);
  soon.setMinutes(0, 0, 0);
  const local = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
  const title = h('input', { id: 'schedule-title', name: 'title', required: true, maxlength: 80, autocomplete: 'off', placeholder: 'e.g. Friday product chat' });
  const topic = h('textarea', { id: 'schedule-topic', name: 'topic', rows: 2, maxlength: 560, placeholder: 'What it is about (optional)' });
  const at = h('input', { id: 'schedule-at', name: 'at', type: 'datetime-local', required: true, value: local(soon), min: local(new Date()) });
  const error = h('p', { class: 'field-error', id: 'schedule-error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', id: 'schedule-submit' }, 'Schedule');
  let dialog;
  const form = h('form', { class: 'form', id: 'schedule-form', novalidate: true },
    h('label', { class: 'label', for: 'schedule-title' }, 'Title'), title,
    h('label', { class: 'label', for: 'schedule-topic' }, 'Topic'), topic,
    h('label', { class: 'label', for: 'schedule-at' }, 'Starts'), at,
    error,
    h('div', { class: 'dialog-actions' },
      h('button', { type: 'button', class: 'btn btn-ghost', onclick: () => dialog.close() }, 'Cancel'),
      submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const startsAt = Math.floor(new Date(at.value).getTime() / 1000);
    if (!title.value.trim() || !Number.isFinite(startsAt)) {
      error.textContent = 'Give the room a title and a time.';
      error.hidden = false;
      return;
    }
    try {
      await busy(submit, () => api('POST', '/api/schedules', {
        body: { title: title.value, topic: topic.value, startsAt, audioOnly: true },
        csrf: app.account.csrf,
      }), 'Scheduling…');
      dialog.close();
      toast('Scheduled. The people who follow you see it under Upcoming.', { kind: 'success', id: 'scheduled' });
      onDone();
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    }
  });
  dialog = openDialog({ title: 'Schedule a room', content: form, labelledBy: 'schedule-title-heading' });
  title.focus();
  return dialog;
}
