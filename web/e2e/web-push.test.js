// Web Push in headless Chromium (issue 16). Chromium's own push service cannot be reached
// offline, so the browser's subscription is the one a push service would hand out, pointing
// at a local push endpoint this test runs, which speaks the Web Push protocol: Ben turns
// notifications on in the app (permission, service worker, `pushManager.subscribe` with the
// server's VAPID key, the subscription sent to the server), closes the app; Ava goes live;
// the endpoint receives a POST whose VAPID token verifies with the server's key and whose
// aes128gcm payload decrypts with the subscription's keys; delivered to Ben's service worker
// (DevTools' push delivery), it shows a notification that opens Ava's room.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import {
  freeTcpPort, openPage, sleep, useServerAndBrowser, withDiagnostics,
} from './helpers.js';
import { apiInPage, signUpInPage, waitFor } from './rooms-helpers.js';

const signUp = (page, name) => signUpInPage(page, null, name);

const pushPort = await freeTcpPort();
const pushOrigin = `http://127.0.0.1:${pushPort}`;
const env = useServerAndBrowser({ serverArgs: ['--push-insecure-origin', pushOrigin, '--push-contact', 'mailto:ops@podium.test'] });

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const hmac = (key, data) => crypto.createHmac('sha256', key).update(data).digest();

/** RFC 8291 (aes128gcm, one record): the plaintext a push service would hand the browser. */
function decrypt(body, { ecdh, auth }) {
  const salt = body.subarray(0, 16);
  const idlen = body[20];
  const serverKey = body.subarray(21, 21 + idlen);
  const sealed = body.subarray(21 + idlen);
  const secret = ecdh.computeSecret(serverKey);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), ecdh.getPublicKey(), serverKey, Buffer.from([1])]);
  const prk = hmac(salt, hmac(hmac(auth, secret), keyInfo));
  const cek = hmac(prk, Buffer.from('Content-Encoding: aes128gcm\0\x01')).subarray(0, 16);
  const nonce = hmac(prk, Buffer.from('Content-Encoding: nonce\0\x01')).subarray(0, 12);
  const decipher = crypto.createDecipheriv('aes-128-gcm', cek, nonce);
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  const padded = Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]);
  let end = padded.length - 1;
  while (padded[end] === 0) end -= 1;
  assert.equal(padded[end], 2, 'the last record ends with the 0x02 delimiter');
  return padded.subarray(0, end).toString('utf8');
}

/** Checks `Authorization: vapid t=<JWT>, k=<key>` (RFC 8292); returns the claims. */
function verifyVapid(header, serverKey) {
  const match = /^vapid t=([\w-]+\.[\w-]+\.[\w-]+),\s*k=([\w-]+)$/.exec(header ?? '');
  assert.ok(match, `a VAPID authorization: ${header}`);
  const [, jwt, k] = match;
  assert.equal(k, serverKey, 'signed with the key the browser subscribed with');
  const point = Buffer.from(k, 'base64url');
  const key = crypto.createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: b64url(point.subarray(1, 33)), y: b64url(point.subarray(33)) },
    format: 'jwk',
  });
  const [head, claims, signature] = jwt.split('.');
  assert.equal(JSON.parse(Buffer.from(head, 'base64url')).alg, 'ES256');
  const valid = crypto.verify('sha256', Buffer.from(`${head}.${claims}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64url'));
  assert.ok(valid, 'the VAPID signature verifies');
  return JSON.parse(Buffer.from(claims, 'base64url'));
}

test('a follower with the app closed gets an encrypted push that opens the room', { timeout: 90_000 }, async () => {
  // The browser's side of a subscription: its P-256 key pair and auth secret.
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.generateKeys();
  const auth = crypto.randomBytes(16);
  const received = [];
  const endpoint = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      received.push({ url: req.url, headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(201).end();
    });
  });
  await new Promise((resolve) => endpoint.listen(pushPort, '127.0.0.1', resolve));

  const ava = await openPage(env.browser, env.server, 'ava', { path: '/' });
  const benOrigin = env.server.url.replace('127.0.0.1', 'localhost');
  await env.browser.context.grantPermissions(['notifications'], { origin: benOrigin });
  let ben = await env.browser.context.newPage();
  ben.label = 'ben';
  try {
    await withDiagnostics([ava, ben], env.server, async () => {
      await signUp(ava, 'Ava Live');
      const avaId = await ava.evaluate(() => window.podiumApp.account.account.id);
      await ben.goto(`${benOrigin}/`);
      await signUp(ben, 'Ben Away');
      const followed = await ben.evaluate(async (id) => (await fetch(`/api/users/${id}/follow`, {
        method: 'POST', headers: { 'x-csrf-token': window.podiumApp.account.csrf },
      })).status, avaId);
      assert.equal(followed, 200);

      // What a push service would hand out: an endpoint of ours and the browser's keys.
      const subscription = {
        endpoint: `${pushOrigin}/push/ben-1`,
        keys: { p256dh: b64url(ecdh.getPublicKey()), auth: b64url(auth) },
      };
      await ben.evaluate((sub) => {
        PushManager.prototype.subscribe = async function subscribe(options) {
          window.subscribedWith = {
            userVisibleOnly: options.userVisibleOnly,
            key: btoa(String.fromCharCode(...new Uint8Array(options.applicationServerKey)))
              .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''),
          };
          return { endpoint: sub.endpoint, toJSON: () => ({ ...sub, expirationTime: null }), unsubscribe: async () => true };
        };
      }, subscription);
      await ben.click('#push-toggle');
      await waitFor(ben, 'notifications on', () => document.getElementById('push-toggle')?.getAttribute('aria-pressed') === 'true', undefined, { dump: '#toasts' });
      const { publicKey } = (await (await fetch(`${env.server.url}/api/push/key`)).json()).data;
      const used = await ben.evaluate(() => window.subscribedWith);
      assert.deepEqual(used, { userVisibleOnly: true, key: publicKey }, 'subscribed with the server’s VAPID key');
      const worker = await ben.evaluate(async () => (await navigator.serviceWorker.getRegistration('/'))?.active?.scriptURL);
      assert.equal(worker, `${benOrigin}/sw.js`);

      // A subscription whose endpoint could reach inside is refused.
      const refused = await ben.evaluate(async () => {
        const r = await fetch('/api/account/push', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-csrf-token': window.podiumApp.account.csrf },
          body: JSON.stringify({ endpoint: 'https://169.254.169.254/latest', keys: { p256dh: 'x', auth: 'y' } }),
        });
        return [r.status, (await r.json()).data.message];
      });
      assert.deepEqual(refused, [400, 'Push endpoint refused: a private address']);

      // Ben closes the app; Ava goes live.
      await ben.close();
      await ava.click('#create-room');
      await ava.fill('#room-name', 'Late night jazz');
      await ava.click('#create-room-submit');
      const roomId = await waitFor(ava, 'the room page', () => document.querySelector('.room')?.dataset.role === 'owner' && document.querySelector('.room').dataset.roomId);
      const deadline = Date.now() + 15_000;
      while (received.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.equal(received.length, 1, 'one push');
      const [push] = received;
      assert.equal(push.url, '/push/ben-1');
      assert.equal(push.headers['content-encoding'], 'aes128gcm');
      assert.ok(Number(push.headers.ttl) > 0 && Number(push.headers.ttl) <= 3600, `TTL ${push.headers.ttl}`);
      const claims = verifyVapid(push.headers.authorization, publicKey);
      assert.equal(claims.aud, pushOrigin);
      assert.equal(claims.sub, 'mailto:ops@podium.test');
      assert.ok(claims.exp > Date.now() / 1000 && claims.exp <= Date.now() / 1000 + 24 * 3600, 'expires within a day');
      const plaintext = decrypt(push.body, { ecdh, auth });
      const notice = JSON.parse(plaintext);
      assert.equal(notice.title, 'Ava Live is live');
      assert.equal(notice.url, `/#/room/${roomId}`);

      // The service worker shows it (DevTools delivers the decrypted message as the browser would).
      ben = await env.browser.context.newPage();
      ben.label = 'ben-again';
      await ben.goto(`${benOrigin}/demo.html`);
      const cdp = await env.browser.context.newCDPSession(ben);
      const registrations = new Promise((resolve) => cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations: r }) => {
        const live = r.find((x) => !x.isDeleted && x.scopeURL === `${benOrigin}/`);
        if (live) resolve(live);
      }));
      await cdp.send('ServiceWorker.enable');
      const registration = await registrations;
      await cdp.send('ServiceWorker.deliverPushMessage', { origin: benOrigin, registrationId: registration.registrationId, data: plaintext });
      // Polled from here: a page predicate that returns a promise counts as done at once.
      let shown;
      for (let i = 0; i < 200 && !shown; i++) {
        if (i) await sleep(50);
        shown = await ben.evaluate(async () => {
          const reg = await navigator.serviceWorker.getRegistration('/');
          const [n] = await reg.getNotifications();
          return n ? { title: n.title, body: n.body, url: n.data.url } : null;
        });
      }
      assert.deepEqual(shown, { title: 'Ava Live is live', body: 'On stage in “Late night jazz”. Tap to listen.', url: `/#/room/${roomId}` });

      // A reminder of a room Ava scheduled reaches Ben by push too (his app is not open).
      const startsAt = Math.floor(Date.now() / 1000) + 4;
      const [made, { schedule }] = await apiInPage(ava, 'POST', '/api/schedules', { title: 'Jazz at dawn', startsAt });
      assert.equal(made, 200);
      const remind = await ben.evaluate(async (id) => {
        const { csrf } = (await (await fetch('/api/account/me')).json()).data;
        return (await fetch(`/api/schedules/${id}/remind`, { method: 'POST', headers: { 'x-csrf-token': csrf } })).status;
      }, schedule.id);
      assert.equal(remind, 200);
      const remindBy = Date.now() + 25_000;
      while (received.length < 2 && Date.now() < remindBy) await sleep(100);
      assert.equal(received.length, 2, 'the reminder pushed');
      const reminder = JSON.parse(decrypt(received[1].body, { ecdh, auth }));
      assert.deepEqual(
        [reminder.title, reminder.body, reminder.url],
        ['“Jazz at dawn” is starting', 'Ava Live scheduled it for now.', '/#/'],
      );

      // Ben turns notifications off: the subscription is forgotten (once); without the CSRF
      // token the request is refused and changes nothing.
      const off = await ben.evaluate(async (endpointUrl) => {
        const { csrf } = (await (await fetch('/api/account/me')).json()).data;
        const remove = (token) => fetch('/api/account/push', {
          method: 'DELETE',
          headers: { 'content-type': 'application/json', ...(token ? { 'x-csrf-token': token } : {}) },
          body: JSON.stringify({ endpoint: endpointUrl }),
        }).then(async (r) => [r.status, (await r.json()).data.changed ?? null]);
        return [await remove(null), await remove(csrf), await remove(csrf)];
      }, subscription.endpoint);
      assert.deepEqual(off, [[403, null], [200, true], [200, false]]);
    });
  } finally {
    endpoint.close();
    await Promise.all([ava.close(), ben.close()]).catch(() => {});
  }
});
