// Podium's service worker: shows a Web Push notification (someone you follow is live) while
// the app is closed, and opens the room when it is clicked. It caches nothing.
/* eslint-env serviceworker */

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('push', (event) => {
  let notice = {};
  try {
    notice = event.data ? event.data.json() : {};
  } catch {
    notice = { title: 'Podium', body: event.data?.text() ?? '' };
  }
  // Only addresses of this app: a notice is never a way to send someone elsewhere.
  let url = '/';
  try {
    const target = new URL(String(notice.url ?? '/'), self.location.origin);
    if (target.origin === self.location.origin) url = target.pathname + target.search + target.hash;
  } catch {
    url = '/';
  }
  event.waitUntil(self.registration.showNotification(String(notice.title || 'Podium'), {
    body: String(notice.body || ''),
    tag: String(notice.tag || 'podium'),
    icon: '/favicon.svg',
    data: { url },
  }));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const target = new URL(event.notification.data?.url || '/', self.location.origin).href;
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const open = windows.find((w) => new URL(w.url).origin === self.location.origin);
    if (open) {
      await open.focus();
      // navigate() works on windows this worker controls; otherwise open a new one.
      const moved = await open.navigate(target).catch(() => null);
      if (moved) return moved;
    }
    return self.clients.openWindow(target);
  })());
});
