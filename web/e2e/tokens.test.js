// Stored API tokens and ending sessions from the admin API, seen from the browser.
//
// (a) A publish token stored on the server (created from Node with POST /api/admin/tokens)
//     for stream A lets a page publish fake camera + mic to A (a viewer decodes frames); the
//     same page trying stream B gets the Director's refusal "StreamName is not valid for
//     token" as a PodiumError from Publish.connect(), and a JWT minted for A, sent in a
//     `publish` command naming B over the library's own Signaling class, gets an `error`
//     frame with that message.
// (b) Revoking that token (DELETE /api/admin/tokens/{id}) while the page publishes to A ends
//     the publication: the viewer gets `inactive` for the main source and the publishing
//     page sees its signaling close (reason "Token revoked").
// (c) POST /api/admin/kick {streamName, sourceId: null} does the same to a publisher that
//     uses the bootstrap --publish-token (reason "Kicked"); a second source of the stream
//     stays live.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServerAndBrowser, openPage, inPage, waitInPage, withDiagnostics, uniqueStreamName, adminRequest, createToken, PUBLISH_TOKEN, sleep,
} from './helpers.js';

const NOT_VALID_FOR_TOKEN = 'StreamName is not valid for token';

const env = useServerAndBrowser();

/** Start viewing `streamName` and wait for decoded main video and an `active` event for the main source. */
async function viewUntilPlaying(viewer, streamName, pages) {
  await inPage(viewer, 'startView', { streamName });
  await waitInPage(viewer, () => podiumE2E.hasEvent('active', null), null,
    { what: `active event for the main source of ${streamName}`, pages, server: env.server });
  await waitInPage(viewer, () => podiumE2E.timing.firstFrame !== null, null,
    { what: `first decoded video frame of ${streamName}`, timeout: 30_000, pages, server: env.server });
  const first = await inPage(viewer, 'mainInbound');
  await sleep(500);
  const second = await inPage(viewer, 'mainInbound');
  assert.ok(second.video?.framesDecoded > first.video?.framesDecoded,
    `viewer of ${streamName}: framesDecoded must keep increasing (${first.video?.framesDecoded} -> ${second.video?.framesDecoded})`);
}

/** The publishing page's `signalingClose` events: [{code, reason}]. */
async function signalingCloses(page) {
  const { events } = await inPage(page, 'snapshot');
  return events.filter((e) => e.src === 'pub' && e.name === 'signalingClose').map((e) => e.data);
}

test('stored publish token: publishes to its stream, refused for another one (Director and signaling)', { timeout: 120_000 }, async () => {
  const streamA = uniqueStreamName('tok-a');
  const streamB = uniqueStreamName('tok-b');
  const token = await createToken(env.server, { label: 'e2e-a', action: 'publish', streams: [streamA], multisource: false });
  const publisher = await openPage(env.browser, env.server, 'P-token-A');
  const viewer = await openPage(env.browser, env.server, 'V-A');
  const pages = [publisher, viewer];

  await withDiagnostics(pages, env.server, async () => {
    const { state } = await inPage(publisher, 'publish', { streamName: streamA, token: token.secret });
    assert.equal(state, 'connected', `publishing to ${streamA} with its stored token`);
    await viewUntilPlaying(viewer, streamA, pages);

    // Same page, same token, stream B: Publish.connect() fails at the Director.
    const refused = await publisher.evaluate(async ({ streamName, token: secret }) => {
      const { Publish } = await import('/podium.js');
      const pub = new Publish({ endpoint: location.origin, token: secret, streamName });
      try {
        const reply = await pub.connect({ mediaStream: podiumE2E.localStream });
        pub.stop();
        return { ok: true, reply: { ...reply, sdp: undefined } };
      } catch (err) {
        return {
          ok: false, name: err.name, message: err.message, status: err.status, data: err.data,
          connectionState: pub.connectionState,
        };
      }
    }, { streamName: streamB, token: token.secret });
    assert.equal(refused.ok, false, `publishing to ${streamB} with a token for ${streamA} only must fail (got ${JSON.stringify(refused)})`);
    assert.equal(refused.name, 'PodiumError', `the failure is a PodiumError: ${JSON.stringify(refused)}`);
    assert.equal(refused.message, NOT_VALID_FOR_TOKEN, `readable Director message: ${JSON.stringify(refused)}`);
    assert.equal(refused.status, 403, `Director HTTP status: ${JSON.stringify(refused)}`);
    assert.equal(refused.connectionState, 'new', `no peer connection is left behind: ${JSON.stringify(refused)}`);

    // A JWT the Director minted for A, used to publish B over raw signaling: error frame.
    const raw = await publisher.evaluate(async ({ streamA: a, streamB: b, token: secret }) => {
      const { Director, Signaling } = await import('/podium.js');
      const directorData = await Director.getPublisher({ endpoint: location.origin, token: secret, streamName: a });
      const pc = new RTCPeerConnection();
      for (const track of podiumE2E.localStream.getTracks()) pc.addTransceiver(track, { direction: 'sendonly' });
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      const closes = [];
      const signaling = await Signaling.open(directorData);
      signaling.addEventListener('close', (e) => closes.push(e.detail));
      try {
        const reply = await signaling.cmd('publish', { name: b, sdp: pc.localDescription.sdp, codec: 'vp8' });
        return { ok: true, reply: { ...reply, sdp: undefined } };
      } catch (err) {
        return { ok: false, name: err.name, message: err.message, command: err.command, data: err.data, closes };
      } finally {
        signaling.close();
        pc.close();
      }
    }, { streamA, streamB, token: token.secret });
    assert.equal(raw.ok, false, `a publish command naming ${streamB} with a JWT for ${streamA} must be refused (got ${JSON.stringify(raw)})`);
    assert.equal(raw.name, 'PodiumError', `an error frame rejects the command with a PodiumError: ${JSON.stringify(raw)}`);
    assert.equal(raw.command, 'publish', `the failed command: ${JSON.stringify(raw)}`);
    assert.equal(raw.message, NOT_VALID_FOR_TOKEN, `error frame message: ${JSON.stringify(raw)}`);

    // The refusals left the publication on A alone.
    const pubState = await publisher.evaluate(() => podiumE2E.pub.connectionState);
    assert.equal(pubState, 'connected', `the publication to ${streamA} is still connected after the refused attempts`);
    assert.equal(await viewer.evaluate(() => podiumE2E.hasEvent('inactive', null)), false,
      `the viewer of ${streamA} got no inactive event from the refused attempts`);
    console.log(`[tokens] Director refusal: ${JSON.stringify(refused)}; signaling refusal: ${JSON.stringify(raw)}`);
  });

  await Promise.all(pages.map((p) => p.close()));
});

test('revoking a stored token ends the publication it opened', { timeout: 120_000 }, async () => {
  const streamName = uniqueStreamName('tok-rev');
  const token = await createToken(env.server, { label: 'e2e-revoke', action: 'publish', streams: [streamName] });
  const publisher = await openPage(env.browser, env.server, 'P-revoked');
  const viewer = await openPage(env.browser, env.server, 'V-revoked');
  const pages = [publisher, viewer];

  await withDiagnostics(pages, env.server, async () => {
    await inPage(publisher, 'publish', { streamName, token: token.secret });
    await viewUntilPlaying(viewer, streamName, pages);
    assert.deepEqual(await signalingCloses(publisher), [], 'publisher signaling still open before the revocation');

    const res = await adminRequest(env.server, 'DELETE', `/api/admin/tokens/${encodeURIComponent(token.id)}`);
    assert.equal(res.status, 200, `DELETE /api/admin/tokens/${token.id}: ${JSON.stringify(res.body)}`);
    assert.equal(res.body?.data?.revoked, token.id, `revocation reply names the token: ${JSON.stringify(res.body)}`);
    assert.ok(res.body?.data?.sessionsEnded >= 1, `revocation ends the live publish session: ${JSON.stringify(res.body)}`);

    await waitInPage(viewer, () => podiumE2E.hasEvent('inactive', null), null,
      { what: 'inactive event for the main source after its token was revoked', pages, server: env.server });
    await waitInPage(publisher, () => podiumE2E.events.some((e) => e.src === 'pub' && e.name === 'signalingClose'), null,
      { what: 'publisher signalingClose after its token was revoked', pages, server: env.server });
    const closes = await signalingCloses(publisher);
    assert.equal(closes.length, 1, `one signaling close: ${JSON.stringify(closes)}`);
    assert.equal(closes[0].reason, 'Token revoked', `close reason: ${JSON.stringify(closes)}`);

    // The revoked secret no longer gets connection data from the Director.
    const director = await fetch(`${env.server.url}/api/director/publish`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token.secret}` },
      body: JSON.stringify({ streamName, streamType: 'WebRtc' }),
    });
    const directorBody = await director.json().catch(() => null);
    assert.equal(director.status, 401, `Director refuses the revoked token: HTTP ${director.status} ${JSON.stringify(directorBody)}`);
    assert.equal(directorBody?.status, 'fail', `Director refusal body: ${JSON.stringify(directorBody)}`);
    console.log(`[tokens] revoke: ${JSON.stringify(res.body)}; publisher close ${JSON.stringify(closes[0])}; Director afterwards: ${JSON.stringify(directorBody)}`);
  });

  await Promise.all(pages.map((p) => p.close()));
});

test('admin kick of the main source ends a bootstrap-token publisher, other sources stay', { timeout: 120_000 }, async () => {
  const streamName = uniqueStreamName('tok-kick');
  const publisher = await openPage(env.browser, env.server, 'P-kicked');
  const guest = await openPage(env.browser, env.server, 'P-guest');
  const viewer = await openPage(env.browser, env.server, 'V-kick');
  const pages = [publisher, guest, viewer];

  await withDiagnostics(pages, env.server, async () => {
    await inPage(publisher, 'publish', { streamName, token: PUBLISH_TOKEN });
    await inPage(guest, 'publish', { streamName, token: PUBLISH_TOKEN, sourceId: 'guest', video: false });
    await viewUntilPlaying(viewer, streamName, pages);
    await waitInPage(viewer, () => podiumE2E.hasEvent('active', 'guest'), null,
      { what: 'active event for source "guest"', pages, server: env.server });

    const res = await adminRequest(env.server, 'POST', '/api/admin/kick', { streamName, sourceId: null });
    assert.equal(res.status, 200, `POST /api/admin/kick: ${JSON.stringify(res.body)}`);
    assert.ok(res.body?.data?.sessionsEnded >= 1, `kick ends the main publisher's session: ${JSON.stringify(res.body)}`);

    await waitInPage(viewer, () => podiumE2E.hasEvent('inactive', null), null,
      { what: 'inactive event for the main source after the kick', pages, server: env.server });
    await waitInPage(publisher, () => podiumE2E.events.some((e) => e.src === 'pub' && e.name === 'signalingClose'), null,
      { what: 'publisher signalingClose after the kick', pages, server: env.server });
    const closes = await signalingCloses(publisher);
    assert.equal(closes.length, 1, `one signaling close: ${JSON.stringify(closes)}`);
    assert.equal(closes[0].reason, 'Kicked', `close reason: ${JSON.stringify(closes)}`);

    // Only the main source was targeted.
    assert.deepEqual(await signalingCloses(guest), [], 'the guest publisher keeps its signaling');
    assert.equal(await viewer.evaluate(() => podiumE2E.hasEvent('inactive', 'guest')), false,
      'the viewer got no inactive event for "guest"');
    const live = await viewer.evaluate(() => [...podiumE2E.view.activeSources.keys()]);
    assert.deepEqual(live, ['guest'], `only "guest" remains active: ${JSON.stringify(live)}`);

    // Nothing left to kick for the main source.
    const again = await adminRequest(env.server, 'POST', '/api/admin/kick', { streamName, sourceId: null });
    assert.equal(again.status, 404, `a second kick finds no session: HTTP ${again.status} ${JSON.stringify(again.body)}`);
    console.log(`[tokens] kick: ${JSON.stringify(res.body)}; publisher close ${JSON.stringify(closes[0])}; second kick: ${JSON.stringify(again.body)}`);
  });

  await Promise.all(pages.map((p) => p.close()));
});
