// In-page test harness, injected into every test page as a Playwright init
// script (classic script, runs before the page's own scripts). It drives the
// library through a dynamic import('/podium.js') and keeps all state in the
// page so that the Node side only exchanges small JSON values.
(() => {
  if (window.podiumE2E) return;

  const now = () => performance.now();
  const lib = () => import('/podium.js');

  // Record every signaling command the page sends (name + time), to measure
  // "view → first media" and to detect renegotiation.
  const sentCommands = [];
  const origSend = WebSocket.prototype.send;
  WebSocket.prototype.send = function send(data) {
    try {
      const msg = JSON.parse(data);
      if (msg?.type === 'cmd') {
        const sdp = msg.data?.sdp;
        sentCommands.push({
          name: msg.name,
          transId: msg.transId,
          t: now(),
          // Whether the offer asks for Opus DTX (only for commands carrying an SDP).
          usedtx: typeof sdp === 'string' ? /usedtx=1/.test(sdp) : undefined,
          vad: msg.data?.vad,
          excludedSourceIds: msg.data?.excludedSourceIds,
        });
      }
    } catch {
      // not JSON: ignore
    }
    return origSend.call(this, data);
  };

  // totalAudioEnergy above this means audible sound: the fake microphone's beep
  // adds about 0.2 per second, a digitally silent track about 1e-9 per second.
  const AUDIBLE_ENERGY = 1e-3;

  const SERVER_EVENTS = ['active', 'inactive', 'stopped', 'viewercount', 'vad', 'layers', 'updated', 'migrate'];

  const h = {
    /** @type {import('/podium.js').Publish|null} */
    pub: null,
    /** @type {import('/podium.js').View|null} */
    view: null,
    localStream: null,
    /** Library events seen by this page: {src: 'pub'|'view', name, data, t}. */
    events: [],
    sentCommands,
    publishReply: null,
    viewReply: null,
    /** Times (performance.now) of view command sent, first decoded frame, first audio packet. */
    timing: { viewSent: null, firstFrame: null, firstAudioPacket: null, firstAudioEnergy: null, firstAudible: null },
    AUDIBLE_ENERGY,
    lastInbound: null,
    errors: [],

    record(src, target) {
      for (const name of [...SERVER_EVENTS, 'connectionState', 'signalingClose']) {
        target.addEventListener(name, (e) => h.events.push({ src, name, data: e.detail ?? null, t: now(), wall: Date.now() }));
      }
    },

    /** Local media: fake camera + fake mic (audio processing off), or variants. */
    async getMedia({ audio = true, video = true, silentAudio = false, size = [640, 360] } = {}) {
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: audio && !silentAudio ? { echoCancellation: false, autoGainControl: false, noiseSuppression: false } : false,
        video: video ? { width: size[0], height: size[1], frameRate: 30 } : false,
      });
      if (audio && silentAudio) {
        // A real, continuously sent audio track that carries digital silence.
        const ctx = new AudioContext();
        const osc = ctx.createOscillator();
        const gain = ctx.createGain();
        gain.gain.value = 0;
        const dest = ctx.createMediaStreamDestination();
        osc.connect(gain).connect(dest);
        osc.start();
        h.audioContext = ctx;
        stream.addTrack(dest.stream.getAudioTracks()[0]);
      }
      return stream;
    },

    /**
     * Publish a generated tone: OscillatorNode(frequency) → GainNode → MediaStreamAudioDestinationNode.
     * The gain starts at 0 (digital silence); talk()/scheduleTalk() switch it. No getUserMedia.
     */
    async publishTone({ streamName, token, sourceId, frequency = 440, amplitude = 0.3, dtx = true, timeout = 20000 }) {
      const { Publish } = await lib();
      const ctx = new AudioContext();
      await ctx.resume();
      const osc = ctx.createOscillator();
      osc.frequency.value = frequency;
      const gain = ctx.createGain();
      gain.gain.value = 0;
      const dest = ctx.createMediaStreamDestination();
      osc.connect(gain).connect(dest);
      osc.start();
      h.tone = { ctx, osc, gain, amplitude, frequency, log: [] };
      h.localStream = dest.stream;
      const pub = new Publish({ endpoint: location.origin, token, streamName });
      h.pub = pub;
      h.record('pub', pub);
      h.publishReply = await pub.connect({ mediaStream: h.localStream, sourceId, dtx });
      await h.until(() => pub.connectionState === 'connected', timeout, () => `publisher connectionState=${pub.connectionState}`);
      return { state: pub.connectionState, audioContextState: ctx.state, answerHasDtx: /usedtx=1/.test(pub.peerConnection.remoteDescription.sdp) };
    },

    /** Switch the tone on (gain = amplitude) or off (gain 0); logs and returns Date.now(). */
    talk(on) {
      h.tone.gain.gain.value = on ? h.tone.amplitude : 0;
      const wall = Date.now();
      h.tone.log.push({ on, wall });
      return wall;
    },

    /**
     * Switch the tone on/off at the given wall-clock times (Date.now() ms): [[on, off], ...].
     * The publisher's packetsSent is also noted at each switch-on and 100 ms after each switch-off.
     */
    scheduleTalk(intervals) {
      const noteSent = async (label) => {
        const out = await h.outboundAudio().catch(() => null);
        if (out) h.tone.sent.push({ label, ...out });
      };
      h.tone.sent = [];
      for (const [on, off] of intervals) {
        setTimeout(() => { h.talk(true); noteSent('on'); }, Math.max(0, on - Date.now()));
        setTimeout(() => h.talk(false), Math.max(0, off - Date.now()));
        setTimeout(() => noteSent('off+100'), Math.max(0, off + 100 - Date.now()));
      }
      return true;
    },

    /** The tone's on/off log: [{on, wall}]. */
    talkLog() {
      return h.tone?.log ?? [];
    },

    /** packetsSent noted by scheduleTalk: [{label, packetsSent, wall}]. */
    talkSent() {
      return h.tone?.sent ?? [];
    },

    /** Outbound audio RTP counters of the publisher (to see DTX at work). */
    async outboundAudio() {
      if (!h.pub?.peerConnection) return null;
      const report = await h.pub.getStats();
      for (const s of report.values()) {
        if (s.type === 'outbound-rtp' && s.kind === 'audio') {
          return { packetsSent: s.packetsSent, bytesSent: s.bytesSent, wall: Date.now() };
        }
      }
      return null;
    },

    /** Publish and wait until the peer connection is connected. */
    async publish({ streamName, token, sourceId, audio = true, video = true, silentAudio = false, codec = 'vp8', simulcast = false, size, timeout = 20000 }) {
      const { Publish } = await lib();
      h.localStream = await h.getMedia({ audio, video, silentAudio, size });
      const pub = new Publish({ endpoint: location.origin, token, streamName });
      h.pub = pub;
      h.record('pub', pub);
      h.publishReply = await pub.connect({ mediaStream: h.localStream, sourceId, codec, simulcast });
      await h.until(() => pub.connectionState === 'connected', timeout, () => `publisher connectionState=${pub.connectionState}`);
      return { reply: h.publishReply, state: pub.connectionState };
    },

    stopPublish() {
      h.pub?.stop();
      for (const t of h.localStream?.getTracks() ?? []) t.stop();
      return true;
    },

    /** Start viewing (does not wait for media); starts the first-media stats poller. */
    async startView({ streamName, pinnedSourceId, excludedSourceIds, disableVideo, disableAudio, multiplexedAudioTracks, layer }) {
      const { View } = await lib();
      const view = new View({ endpoint: location.origin, streamName });
      h.view = view;
      h.record('view', view);
      view.addEventListener('track', (e) => {
        h.events.push({
          src: 'view', name: 'track', data: { kind: e.detail.kind, mid: e.detail.mid, main: e.detail.main }, t: now(), wall: Date.now(),
        });
        // Multiplexed slots are played too: Chrome decodes (and reports energy and
        // jitter-buffer stats for) remote audio only while something plays it.
        if (!e.detail.main && e.detail.kind === 'audio') {
          const el = document.createElement('audio');
          el.autoplay = true;
          el.dataset.mid = e.detail.mid;
          el.srcObject = new MediaStream([e.detail.track]);
          document.body.append(el);
          el.play().catch(() => {});
        }
      });
      view.addEventListener('connectionState', (e) => {
        if (e.detail === 'connected' && !h.firstMediaPoller) h.pollFirstMedia();
      });
      const sentBefore = sentCommands.length;
      h.viewReply = await view.connect({ pinnedSourceId, excludedSourceIds, disableVideo, disableAudio, multiplexedAudioTracks, layer });
      const viewCmd = sentCommands.slice(sentBefore).find((c) => c.name === 'view');
      h.timing.viewSent = viewCmd?.t ?? null;
      // Play video and audio through separate elements: Chrome does not render the
      // audio of a <video> element whose video track never gets a frame (e.g. when
      // the pinned source is audio-only), and unplayed audio has totalAudioEnergy 0.
      const videoEl = document.createElement('video');
      videoEl.autoplay = true;
      videoEl.muted = true;
      videoEl.playsInline = true;
      videoEl.srcObject = new MediaStream(view.mediaStream.getVideoTracks());
      const audioEl = document.createElement('audio');
      audioEl.autoplay = true;
      audioEl.srcObject = new MediaStream(view.mediaStream.getAudioTracks());
      document.body.append(videoEl, audioEl);
      videoEl.play().catch(() => {});
      audioEl.play().catch(() => {});
      return { reply: { ...h.viewReply, sdp: undefined }, mids: view.mids };
    },

    stopView() {
      h.view?.stop();
      return true;
    },

    /** Poll getStats every 10 ms until the first decoded frame and first audio packet/energy are seen (max 60 s). */
    pollFirstMedia() {
      const started = now();
      const tick = async () => {
        if (!h.view?.peerConnection) return;
        try {
          const inbound = await h.inbound();
          const t = now();
          const video = inbound.byMid[h.view.mids.video];
          const audio = inbound.byMid[h.view.mids.audio];
          if (!h.timing.firstFrame && video?.framesDecoded > 0) h.timing.firstFrame = t;
          if (!h.timing.firstAudioPacket && audio?.packetsReceived > 0) h.timing.firstAudioPacket = t;
          if (!h.timing.firstAudioEnergy && audio?.totalAudioEnergy > 0) h.timing.firstAudioEnergy = t;
          if (!h.timing.firstAudible && audio?.totalAudioEnergy > AUDIBLE_ENERGY) h.timing.firstAudible = t;
        } catch (err) {
          h.errors.push(String(err));
        }
        const done = (h.timing.firstFrame || !h.view?.mids.video) && (h.timing.firstAudible || !h.view?.mids.audio);
        if (!done && now() - started < 60000) h.firstMediaPoller = setTimeout(tick, 10);
      };
      h.firstMediaPoller = setTimeout(tick, 0);
    },

    /**
     * Watch the main video's framesDecoded every 20 ms until stopFrameWatch();
     * reports the longest interval without a newly decoded frame.
     */
    startFrameWatch() {
      const w = { start: now(), lastFrames: null, lastChange: now(), maxStallMs: 0, samples: 0, stop: false };
      h.frameWatch = w;
      const tick = async () => {
        if (w.stop || !h.view?.peerConnection) return;
        const { video } = await h.mainInbound();
        const t = now();
        const frames = video?.framesDecoded ?? 0;
        w.samples++;
        if (frames !== w.lastFrames) {
          w.lastFrames = frames;
          w.lastChange = t;
        } else {
          w.maxStallMs = Math.max(w.maxStallMs, t - w.lastChange);
        }
        setTimeout(tick, 20);
      };
      tick();
      return true;
    },

    stopFrameWatch() {
      const w = h.frameWatch;
      if (!w) return null;
      w.stop = true;
      return { maxStallMs: Math.round(w.maxStallMs), samples: w.samples, durationMs: Math.round(now() - w.start) };
    },

    /** Inbound RTP stats of the viewer, keyed by mid. */
    async inbound() {
      const out = { byMid: {} };
      if (!h.view?.peerConnection) return out;
      const report = await h.view.getStats();
      for (const s of report.values()) {
        if (s.type !== 'inbound-rtp') continue;
        out.byMid[s.mid] = {
          kind: s.kind,
          mid: s.mid,
          ssrc: s.ssrc,
          packetsReceived: s.packetsReceived,
          bytesReceived: s.bytesReceived,
          framesDecoded: s.framesDecoded,
          framesReceived: s.framesReceived,
          keyFramesDecoded: s.keyFramesDecoded,
          frameWidth: s.frameWidth,
          frameHeight: s.frameHeight,
          freezeCount: s.freezeCount,
          totalAudioEnergy: s.totalAudioEnergy,
          audioLevel: s.audioLevel,
          codecId: s.codecId,
        };
      }
      h.lastInbound = out;
      return out;
    },

    /**
     * Sample the multiplexed slots every `intervalMs` until stopSlotMonitor(): per slot mid the
     * source (view.slots), view.slotLevels(), inbound-rtp counters and the dominant frequency
     * of the played audio (AnalyserNode), each sample stamped with Date.now().
     */
    startSlotMonitor({ intervalMs = 25 } = {}) {
      const view = h.view;
      const ctx = new AudioContext();
      ctx.resume().catch(() => {});
      const analysers = {};
      for (const [mid, track] of view.slotTracks) {
        const src = ctx.createMediaStreamSource(new MediaStream([track]));
        const analyser = ctx.createAnalyser();
        analyser.fftSize = 4096;
        analyser.smoothingTimeConstant = 0;
        src.connect(analyser);
        analysers[mid] = analyser;
      }
      const m = { stop: false, samples: [], ctx, analysers };
      h.slotMonitor = m;
      const bins = new Float32Array(2048);
      const peak = (analyser) => {
        analyser.getFloatFrequencyData(bins);
        let best = 0;
        for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
        return bins[best] > -60 ? Math.round((best * ctx.sampleRate) / analyser.fftSize) : null;
      };
      const tick = async () => {
        if (m.stop || !view.peerConnection) return;
        try {
          const wall = Date.now();
          const levels = await view.slotLevels();
          const report = await view.getStats();
          const inbound = {};
          for (const s of report.values()) {
            if (s.type !== 'inbound-rtp' || !view.slots.has(s.mid)) continue;
            inbound[s.mid] = {
              packetsReceived: s.packetsReceived,
              totalAudioEnergy: s.totalAudioEnergy,
              totalSamplesDuration: s.totalSamplesDuration,
              audioLevel: s.audioLevel,
            };
          }
          const freq = {};
          for (const [mid, a] of Object.entries(analysers)) freq[mid] = peak(a);
          m.samples.push({ wall, slots: Object.fromEntries([...view.slots].map(([k, v]) => [k, v === undefined ? '(empty)' : v])), levels, inbound, freq });
        } catch (err) {
          h.errors.push(String(err));
        }
        setTimeout(tick, intervalMs);
      };
      tick();
      return [...view.slotTracks.keys()];
    },

    /** Stop the slot monitor; returns its samples. */
    stopSlotMonitor() {
      const m = h.slotMonitor;
      if (!m) return [];
      m.stop = true;
      m.ctx.close().catch(() => {});
      return m.samples;
    },

    /** Final jitter-buffer / concealment figures per multiplexed slot mid. */
    async slotJitterStats() {
      const out = {};
      if (!h.view?.peerConnection) return out;
      const report = await h.view.getStats();
      for (const s of report.values()) {
        if (s.type !== 'inbound-rtp' || !h.view.slots.has(s.mid)) continue;
        out[s.mid] = {
          ssrc: s.ssrc,
          packetsReceived: s.packetsReceived,
          packetsLost: s.packetsLost,
          packetsDiscarded: s.packetsDiscarded,
          jitter: s.jitter,
          totalSamplesReceived: s.totalSamplesReceived,
          concealedSamples: s.concealedSamples,
          silentConcealedSamples: s.silentConcealedSamples,
          concealmentEvents: s.concealmentEvents,
          insertedSamplesForDeceleration: s.insertedSamplesForDeceleration,
          removedSamplesForAcceleration: s.removedSamplesForAcceleration,
          jitterBufferDelay: s.jitterBufferDelay,
          jitterBufferEmittedCount: s.jitterBufferEmittedCount,
          jitterBufferTargetDelay: s.jitterBufferTargetDelay,
          jitterBufferMinimumDelay: s.jitterBufferMinimumDelay,
          totalAudioEnergy: s.totalAudioEnergy,
          totalSamplesDuration: s.totalSamplesDuration,
        };
      }
      return out;
    },

    /** Raw getSynchronizationSources() of every slot receiver (diagnostics). */
    slotSyncSources() {
      const out = {};
      for (const t of h.view?.peerConnection?.getTransceivers() ?? []) {
        if (!h.view.slots.has(t.mid)) continue;
        out[t.mid] = t.receiver.getSynchronizationSources().map((s) => ({ ...s, nowPerf: performance.now(), nowEpoch: Date.now() }));
      }
      return out;
    },

    /** Outbound video stats of the publisher (keyframes sent, PLI/FIR received). */
    async outboundVideo() {
      if (!h.pub?.peerConnection) return null;
      const report = await h.pub.getStats();
      for (const s of report.values()) {
        if (s.type === 'outbound-rtp' && s.kind === 'video') {
          return {
            framesEncoded: s.framesEncoded, keyFramesEncoded: s.keyFramesEncoded, pliCount: s.pliCount,
            firCount: s.firCount, nackCount: s.nackCount, frameWidth: s.frameWidth, frameHeight: s.frameHeight,
          };
        }
      }
      return null;
    },

    /** Inbound stats of the main video and main audio transceivers. */
    async mainInbound() {
      const inbound = await h.inbound();
      return {
        video: inbound.byMid[h.view?.mids.video] ?? null,
        audio: inbound.byMid[h.view?.mids.audio] ?? null,
      };
    },

    /** Timings relative to the view command, in ms. */
    viewTimings() {
      const rel = (t) => (t && h.timing.viewSent ? Math.round(t - h.timing.viewSent) : null);
      return {
        viewToFirstFrameMs: rel(h.timing.firstFrame),
        viewToFirstAudioPacketMs: rel(h.timing.firstAudioPacket),
        viewToFirstAudioEnergyMs: rel(h.timing.firstAudioEnergy),
        viewToFirstAudibleMs: rel(h.timing.firstAudible),
      };
    },

    /** Signaling/SDP state used to detect renegotiation. */
    negotiationState() {
      const pc = h.view?.peerConnection;
      return {
        commands: sentCommands.map((c) => c.name),
        signalingState: pc?.signalingState ?? null,
        connectionState: pc?.connectionState ?? null,
        localSdp: pc?.localDescription?.sdp ?? null,
        remoteSdp: pc?.remoteDescription?.sdp ?? null,
        transceivers: pc?.getTransceivers().map((t) => `${t.mid}:${t.receiver.track.kind}:${t.currentDirection}`) ?? [],
      };
    },

    hasEvent(name, sourceId, src = 'view') {
      return h.events.some((e) => e.src === src && e.name === name
        && (sourceId === undefined || (e.data?.sourceId ?? null) === sourceId));
    },

    async until(cond, timeout, describe) {
      const end = now() + timeout;
      while (!cond()) {
        if (now() > end) throw new Error(`timeout after ${timeout} ms: ${describe ? describe() : ''}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },

    /** JSON-safe dump of everything useful for a failure report. */
    snapshot() {
      const pcInfo = (c) => c?.peerConnection && {
        connectionState: c.peerConnection.connectionState,
        iceConnectionState: c.peerConnection.iceConnectionState,
        signalingState: c.peerConnection.signalingState,
        localSdp: c.peerConnection.localDescription?.sdp,
        remoteSdp: c.peerConnection.remoteDescription?.sdp,
      };
      return {
        url: location.href,
        events: h.events,
        sentCommands,
        timing: h.timing,
        lastInbound: h.lastInbound,
        errors: h.errors,
        publisher: h.pub && { ...pcInfo(h.pub), publishReply: h.publishReply && { ...h.publishReply, sdp: undefined } },
        viewer: h.view && {
          ...pcInfo(h.view),
          mids: h.view.mids,
          slots: Object.fromEntries([...h.view.slots].map(([k, v]) => [k, v === undefined ? '(empty)' : v])),
          viewReply: h.viewReply && { ...h.viewReply, sdp: undefined },
        },
        tone: h.tone && { frequency: h.tone.frequency, log: h.tone.log, contextState: h.tone.ctx.state },
      };
    },
  };

  window.podiumE2E = h;
})();
