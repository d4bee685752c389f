// podium.js with connection data handed out by someone else (the rooms server's tokens), in the
// browser: `new Publish({connectionData})` and `new View({tokenGenerator})` skip the Director,
// take the stream name from the JWT, and the generator is asked again on every connect.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { useServerAndBrowser, openPage, withDiagnostics } from './helpers.js';

const sockets = [];

const env = useServerAndBrowser({
  teardown: () => { for (const s of sockets) s.disconnect(); },
});

async function roomsUser(name) {
  const socket = io(`${env.server.url}/socket.io/`, { transports: ['websocket'], reconnection: false, forceNew: true });
  await new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('connect_error', reject); });
  sockets.push(socket);
  const call = async (event, ...args) => {
    const reply = await socket.timeout(5000).emitWithAck(event, ...args);
    if (reply?.error) throw new Error(`${event}: ${reply.error}`);
    return reply.data;
  };
  // First message after connecting: sent again if unanswered (see rooms-app.test.js).
  for (let attempt = 1; ; attempt++) {
    try {
      await socket.timeout(2500).emitWithAck('authenticate', name);
      break;
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
  return { socket, call, id: socket.id };
}

test('Publish({connectionData}) and View({tokenGenerator}) with rooms-server tokens', { timeout: 60_000 }, async () => {
  const host = await roomsUser('Token Host');
  const guest = await roomsUser('Token Guest');
  const roomId = await host.call('create-room', 'Token room', true);
  const hostTokens = await host.call('join-room', roomId);
  const guestTokens = await guest.call('join-room', roomId);
  const page = await openPage(env.browser, env.server, 'tokens');
  await withDiagnostics([page], env.server, async () => {
    const result = await page.evaluate(async ({ roomId, hostId, publisherToken, viewerToken, freshViewer }) => {
      const { Publish, View, decodeJwtClaims, PodiumError } = await import('/podium.js');
      const until = async (cond, what, ms = 15000) => {
        const end = performance.now() + ms;
        while (!cond()) {
          if (performance.now() > end) throw new Error(`timeout: ${what}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      const out = {};
      out.claims = decodeJwtClaims(publisherToken.jwt)?.millicast;
      try {
        // eslint-disable-next-line no-new
        new View({});
        out.noSource = 'accepted';
      } catch (err) {
        out.noSource = err.message;
      }
      try {
        // eslint-disable-next-line no-new
        new Publish({ connectionData: { urls: [] } });
      } catch (err) {
        out.badData = err.message;
      }

      const ctx = new AudioContext();
      await ctx.resume();
      const osc = ctx.createOscillator();
      const dest = ctx.createMediaStreamDestination();
      osc.connect(dest);
      osc.start();

      // A token bound to the host's sourceId refuses another sourceId.
      const wrong = new Publish({ connectionData: publisherToken });
      try {
        await wrong.connect({ mediaStream: dest.stream, sourceId: 'someone-else' });
        out.wrongSource = 'accepted';
      } catch (err) {
        out.wrongSource = err instanceof PodiumError ? err.message : String(err);
      }

      const pub = new Publish({ connectionData: publisherToken });
      out.pubStream = pub.streamName;
      await pub.connect({ mediaStream: dest.stream, sourceId: hostId, dtx: true });
      await until(() => pub.connectionState === 'connected', 'publisher connected');

      const handedOut = [viewerToken, freshViewer];
      let calls = 0;
      const view = new View({ tokenGenerator: async () => handedOut[calls++] });
      out.viewStreamBefore = view.streamName ?? null;
      const active = [];
      view.addEventListener('active', (e) => active.push(e.detail.sourceId));
      await view.connect({ multiplexedAudioTracks: 1, disableVideo: true });
      out.viewStream = view.streamName;
      await until(() => active.includes(hostId), 'active for the host source');
      view.stop();
      await view.connect({ multiplexedAudioTracks: 1, disableVideo: true });
      await until(() => view.connectionState === 'connected', 'second view connected');
      out.generatorCalls = calls;
      out.secondJwtUsed = view.directorData.jwt === freshViewer.jwt;
      out.active = active;
      view.stop();
      pub.stop();
      osc.stop();
      await ctx.close();
      return out;
    }, {
      roomId, hostId: host.id, publisherToken: hostTokens.publisherToken, viewerToken: guestTokens.viewerToken,
      freshViewer: (await guest.call('join-room', roomId)).viewerToken,
    });
    console.log(`[connection-data] ${JSON.stringify({ ...result, claims: undefined })}`);
    assert.equal(result.claims.streamName, roomId, 'the JWT names the room stream');
    assert.equal(result.claims.sourceId, host.id, 'the publish JWT is bound to the user id');
    assert.match(result.noSource, /streamName is required/);
    assert.match(result.badData, /connection data/);
    assert.notEqual(result.wrongSource, 'accepted', 'a bound token refuses another sourceId');
    assert.equal(result.pubStream, roomId, 'streamName from the JWT');
    assert.equal(result.viewStreamBefore, null, 'unknown until the generator has answered');
    assert.equal(result.viewStream, roomId);
    assert.equal(result.generatorCalls, 2, 'the token generator runs on every connect');
    assert.equal(result.secondJwtUsed, true);
  });
  await page.close();
});
