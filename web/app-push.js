// Web Push in the rooms app (issue 16): an account can have this browser notified when
// someone it follows goes live while the app is closed. The browser's push service gets the
// server's VAPID public key; the subscription goes to the server, which encrypts each notice
// to it (`/sw.js` shows it and opens the room on a click).
import { busy, h, icon, toast, toastError } from '/app-ui.js';

/** `off`, `on`, `denied` (the browser blocks notifications) or `unsupported`. */
let state = null;

const supported = () => 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;

/** base64url → bytes (the VAPID key for `applicationServerKey`). */
function bytes(base64url) {
  const base64 = base64url.replace(/-/g, '+').replace(/_/g, '/');
  return Uint8Array.from(atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4)), (c) => c.charCodeAt(0));
}

async function registration() {
  return navigator.serviceWorker.register('/sw.js', { scope: '/' });
}

/** Asks the server (with the CSRF token) and throws its message on a refusal. */
async function send(method, path, csrf, body) {
  const response = await fetch(path, {
    method,
    headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
    body: JSON.stringify(body),
    credentials: 'same-origin',
  });
  const reply = await response.json().catch(() => null);
  if (!response.ok) throw new Error(reply?.data?.message ?? `The server answered ${response.status}`);
  return reply?.data;
}

/** Whether this browser is subscribed now (and the server has its subscription). */
async function refresh() {
  if (!supported()) return 'unsupported';
  if (Notification.permission === 'denied') return 'denied';
  const reg = await navigator.serviceWorker.getRegistration('/');
  const sub = await reg?.pushManager.getSubscription();
  return sub ? 'on' : 'off';
}

/** Turns notifications on: permission, service worker, push subscription, then the server. */
export async function enablePush(csrf) {
  if (!supported()) throw new Error('This browser cannot show notifications from websites.');
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') {
    state = permission === 'denied' ? 'denied' : 'off';
    throw new Error('Notifications are blocked for this site: allow them in the browser’s site settings.');
  }
  const { publicKey } = await fetch('/api/push/key').then((r) => r.json()).then((r) => r.data);
  const reg = await registration();
  await navigator.serviceWorker.ready;
  const sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: bytes(publicKey) });
  await send('POST', '/api/account/push', csrf, sub.toJSON());
  state = 'on';
}

/** Turns them off for this browser. */
export async function disablePush(csrf) {
  const reg = await navigator.serviceWorker.getRegistration('/');
  const sub = await reg?.pushManager.getSubscription();
  if (sub) {
    await send('DELETE', '/api/account/push', csrf, { endpoint: sub.endpoint }).catch(() => {});
    await sub.unsubscribe();
  }
  state = 'off';
}

/** The top bar's bell: on or off for this browser; `onChange` redraws it. */
export function pushButton(app, onChange) {
  if (state === null) {
    state = 'off';
    refresh().then((s) => { state = s; onChange(); }, () => {});
  }
  if (state === 'unsupported') return null;
  const on = state === 'on';
  return h('button', {
    type: 'button',
    class: `btn btn-ghost btn-sm${on ? ' is-on' : ''}`,
    id: 'push-toggle',
    'aria-pressed': String(on),
    title: on ? 'Notifications on: you hear when people you follow go live' : 'Get a notification when people you follow go live',
    onclick: (e) => busy(e.currentTarget, async () => {
      try {
        if (on) await disablePush(app.account.csrf);
        else {
          await enablePush(app.account.csrf);
          toast('You will get a notification when someone you follow goes live, even with Podium closed.', { kind: 'success', id: 'push' });
        }
      } catch (err) {
        toastError(err, 'Notifications');
      }
      onChange();
    }),
  }, icon('bell'), h('span', { class: 'sr-only' }, on ? 'Notifications on' : 'Turn on notifications'));
}
