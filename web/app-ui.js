// Rooms app: small DOM helpers shared by the views — element builder, icons, avatars, toasts,
// confirmation/menu dialogs and keyed list rendering. No framework.
import { hueOf, initials } from '/app-store.js';

/**
 * Creates an element: `h('button', {class: 'btn', onclick}, 'Label', childNode)`.
 * Attributes: `class`, `dataset` (object), `style` (object or string), `on<event>` handlers,
 * booleans (`true` → present, `false`/null → absent); everything else via setAttribute.
 * A `style` string is set through the CSSOM (`style.cssText`), not as a `style` attribute:
 * the page's CSP (`style-src 'self'`) blocks inline style attributes, CSSOM changes are allowed.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'style' && typeof value === 'object') Object.assign(el.style, value);
    else if (key === 'style') el.style.cssText = String(value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'html') el.innerHTML = value; // only for trusted, static markup (icons)
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the children of `el`. */
export function setChildren(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

// Icons: 24×24 stroke icons drawn for this app (currentColor, 2 px, round caps).
const ICONS = {
  mic: '<rect x="9" y="3" width="6" height="11" rx="3"/><path d="M5 11a7 7 0 0 0 14 0M12 18v3M8.5 21h7"/>',
  'mic-off': '<path d="M15 9.5V6a3 3 0 0 0-5.6-1.5M9 9v2a3 3 0 0 0 4.7 2.5M5 11a7 7 0 0 0 11.3 5.5M19 11a7 7 0 0 1-.5 2.6M12 18v3M8.5 21h7M3 3l18 18"/>',
  hand: '<path d="M8 12V5.5a1.5 1.5 0 0 1 3 0V11M11 10V4a1.5 1.5 0 0 1 3 0v7M14 10.5V5.5a1.5 1.5 0 0 1 3 0V14a7 7 0 0 1-7 7h-.6a6 6 0 0 1-4.5-2l-3-3.6a1.6 1.6 0 0 1 2.3-2.2L8 16"/>',
  video: '<rect x="2.5" y="6" width="13" height="12" rx="2.5"/><path d="M15.5 10.5l6-3.5v10l-6-3.5"/>',
  audio: '<path d="M4 10v4M8 7v10M12 4v16M16 8v8M20 11v2"/>',
  crown: '<path d="M3 8l4.5 4L12 5l4.5 7L21 8l-2 11H5z"/>',
  leave: '<path d="M14 4h4a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2h-4M9 16l-4-4 4-4M5 12h10"/>',
  plus: '<path d="M12 5v14M5 12h14"/>',
  check: '<path d="M5 12.5l4.5 4.5L19 7.5"/>',
  x: '<path d="M6 6l12 12M18 6L6 18"/>',
  users: '<circle cx="9" cy="8" r="3.5"/><path d="M2.5 20a6.5 6.5 0 0 1 13 0M16 4.6a3.5 3.5 0 0 1 0 6.8M18 14.2a6.5 6.5 0 0 1 3.5 5.8"/>',
  headphones: '<path d="M4 15v-3a8 8 0 0 1 16 0v3"/><rect x="3" y="14" width="4.5" height="7" rx="1.8"/><rect x="16.5" y="14" width="4.5" height="7" rx="1.8"/>',
  stage: '<path d="M3 20h18M6 20V10l6-5 6 5v10M10 20v-5h4v5"/>',
  back: '<path d="M15 5l-7 7 7 7"/>',
  clock: '<circle cx="12" cy="12" r="9.5"/><path d="M12 7v5l3 2"/>',
  bell: '<path d="M6 16V11a6 6 0 0 1 12 0v5l1.5 2h-15zM10 20.5a2 2 0 0 0 4 0"/>',
  chat: '<path d="M4 5h16v11H9.5L4 20z"/>',
  shield: '<path d="M12 3l8 3v6c0 5-3.4 8-8 9-4.6-1-8-4-8-9V6z"/>',
  link: '<path d="M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1"/>',
  lock: '<rect x="5" y="11" width="14" height="10" rx="2"/><path d="M8 11V8a4 4 0 0 1 8 0v3"/>',
  more: '<circle cx="5" cy="12" r="1.3"/><circle cx="12" cy="12" r="1.3"/><circle cx="19" cy="12" r="1.3"/>',
  warn: '<path d="M12 3l10 18H2zM12 10v5M12 18h.01"/>',
  info: '<circle cx="12" cy="12" r="9.5"/><path d="M12 11v6M12 7.5h.01"/>',
  logo: '<circle cx="12" cy="12" r="9.5"/><path d="M8 14.5v-5M12 17V7M16 14.5v-5"/>',
  wifi: '<path d="M2.5 9a14 14 0 0 1 19 0M5.5 12.5a9.5 9.5 0 0 1 13 0M8.8 15.8a4.8 4.8 0 0 1 6.4 0M12 19.5h.01"/>',
  kick: '<circle cx="10" cy="8" r="3.5"/><path d="M3.5 20a6.5 6.5 0 0 1 11-4.7M16 16l5 5M21 16l-5 5"/>',
  down: '<path d="M12 5v14M6 13l6 6 6-6"/>',
  up: '<path d="M12 19V5M6 11l6-6 6 6"/>',
  record: '<circle cx="12" cy="12" r="9.5"/><circle cx="12" cy="12" r="4" fill="currentColor"/>',
  stop: '<rect x="6" y="6" width="12" height="12" rx="2"/>',
  play: '<path d="M7 4.5v15l12.5-7.5z"/>',
  pause: '<path d="M8 5v14M16 5v14"/>',
  replay: '<path d="M4 12a8 8 0 1 0 2.4-5.7M4 4v4.5h4.5"/><path d="M10.5 9v6l4.5-3z"/>',
};

/** An inline SVG icon (decorative: aria-hidden). */
export function icon(name, cls = '') {
  const span = document.createElement('span');
  span.className = `icon ${cls}`.trim();
  span.setAttribute('aria-hidden', 'true');
  span.innerHTML = `<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">${ICONS[name] ?? ''}</svg>`;
  return span;
}

/** A round avatar with initials, coloured from the username (stable across reconnections). */
export function avatar(user, size = 'md') {
  const hue = hueOf(user.username ?? user.id);
  return h('span', {
    class: `avatar avatar-${size}`,
    style: `--hue:${hue}`,
    'aria-hidden': 'true',
  }, initials(user.username));
}

/** Human plural: `plural(1, 'speaker')` → "1 speaker". */
export function plural(n, word, many = `${word}s`) {
  return `${n} ${n === 1 ? word : many}`;
}

// ---------------------------------------------------------------------------------------
// Toasts
// ---------------------------------------------------------------------------------------

const toastRegion = () => document.getElementById('toasts');

/**
 * Shows a toast. `kind`: `info` | `success` | `error` | `warn`. `actions`: buttons
 * `[{label, onClick, primary}]` (the toast closes after one is used). Errors stay 8 s,
 * others 5 s (`duration: 0` = until closed). Returns `{close}`.
 * Raised-hand toasts (`id` `hand-<userId>`) are compact (`toast-compact`): one line and small
 * buttons on phones, where at most two show at a time (the hands queue keeps them all).
 */
export function toast(message, { kind = 'info', title, actions = [], duration, id } = {}) {
  const region = toastRegion();
  if (!region) return { close() {} };
  if (id) region.querySelector(`[data-toast-id="${CSS.escape(id)}"]`)?.remove();
  const iconName = { error: 'warn', warn: 'warn', success: 'check', info: 'info' }[kind] ?? 'info';
  const compact = typeof id === 'string' && id.startsWith('hand-');
  const el = h('div', {
    class: `toast toast-${kind}${compact ? ' toast-compact' : ''}`,
    role: kind === 'error' ? 'alert' : 'status',
    dataset: id ? { toastId: id } : {},
  });
  let timer = null;
  const close = () => {
    clearTimeout(timer);
    el.classList.add('leaving');
    setTimeout(() => el.remove(), 180);
  };
  const body = h('div', { class: 'toast-body' },
    title ? h('strong', { class: 'toast-title' }, title) : null,
    h('span', { class: 'toast-message' }, message));
  const buttons = actions.length
    ? h('div', { class: 'toast-actions' }, actions.map((a) => h('button', {
      type: 'button',
      class: a.primary ? 'btn btn-primary btn-sm' : 'btn btn-ghost btn-sm',
      onclick: () => { close(); a.onClick?.(); },
    }, a.label)))
    : null;
  el.append(icon(iconName, 'toast-icon'), h('div', { class: 'toast-content' }, body, buttons),
    h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss', onclick: close }, icon('x')));
  region.append(el);
  const ms = duration ?? (actions.length ? 10000 : kind === 'error' ? 8000 : 5000);
  if (ms > 0) timer = setTimeout(close, ms);
  return { close, element: el };
}

/** Shows an error as a toast, with its readable message. */
export function toastError(err, title) {
  const message = typeof err === 'string' ? err : (err?.message || 'Something went wrong');
  return toast(message, { kind: 'error', title });
}

// ---------------------------------------------------------------------------------------
// Dialogs
// ---------------------------------------------------------------------------------------

/**
 * Opens a modal `<dialog>` with `content` (nodes) and returns it. Closed by Escape, by the
 * close button, or by `dialog.close()`; removed from the DOM when closed.
 */
export function openDialog({ title, content, labelledBy = 'dialog-title', className = '' }) {
  const dialog = h('dialog', { class: `dialog ${className}`.trim(), 'aria-labelledby': labelledBy },
    h('div', { class: 'dialog-head' },
      h('h2', { id: labelledBy, class: 'dialog-title' }, title),
      h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Close', onclick: () => dialog.close() }, icon('x'))),
    h('div', { class: 'dialog-body' }, content));
  dialog.addEventListener('close', () => dialog.remove());
  // A click on the backdrop (outside the box) closes it.
  dialog.addEventListener('click', (e) => {
    if (e.target !== dialog) return;
    const r = dialog.getBoundingClientRect();
    if (e.clientX < r.left || e.clientX > r.right || e.clientY < r.top || e.clientY > r.bottom) dialog.close();
  });
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

/** Makes `button` show a spinner and be disabled while `task()` runs. */
export async function busy(button, task, label) {
  const old = button ? [...button.childNodes] : null;
  if (button) {
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    if (label) setChildren(button, h('span', { class: 'spinner', 'aria-hidden': 'true' }), label);
  }
  try {
    return await task();
  } finally {
    if (button) {
      button.disabled = false;
      button.removeAttribute('aria-busy');
      if (label) setChildren(button, ...old);
    }
  }
}

/**
 * Keyed list rendering: makes `container`'s children match `items`, reusing the element of
 * each key (`create(item)` for new keys, `update(el, item)` for every item), in order.
 */
export function renderKeyed(container, items, key, create, update) {
  const existing = new Map();
  for (const el of [...container.children]) {
    if (el.dataset.key !== undefined) existing.set(el.dataset.key, el);
  }
  let previous = null;
  const keep = new Set();
  for (const item of items) {
    const k = String(key(item));
    keep.add(k);
    let el = existing.get(k);
    if (!el) {
      el = create(item);
      el.dataset.key = k;
    }
    update(el, item);
    const next = previous ? previous.nextElementSibling : container.firstElementChild;
    if (next !== el) container.insertBefore(el, next);
    previous = el;
  }
  for (const [k, el] of existing) if (!keep.has(k)) el.remove();
}
