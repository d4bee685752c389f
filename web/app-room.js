// Rooms app: the room page — the stage (speakers as tiles with a live speaking indicator, the
// host's video in video rooms, muted badges), the audience (raised-hand badges), the owner's
// raised-hands queue and per-user actions, and the controls (mic, raise hand, leave).
import {
  audience, canModerate, participant, roleOf, stage,
} from '/app-store.js';
import { RoomMedia, SPEAKING_LEVEL } from '/app-media.js';
import { RoomChat } from '/app-room-chat.js';
import { announceRecording, recordButton, recordingPill } from '/app-room-recording.js';
import { inviteDialog, leaveDialog } from '/app-room-dialogs.js';
import {
  handDialog, muteSpeaker, openActions, promote, reportDialog,
} from '/app-room-moderation.js';
import { WatchParty, watchPartyDialog } from '/app-watch-party.js';
import {
  createHand, createPerson, createTile, updatePerson, updateTile,
} from '/app-room-tiles.js';
import {
  busy, h, icon, plural, renderKeyed, setChildren, toast, toastError,
} from '/app-ui.js';

/** How long (ms) a tile keeps showing "speaking" after the level drops. */
const SPEAKING_HOLD_MS = 350;
/** Level sampling period (ms). */
const LEVEL_PERIOD_MS = 120;

const STATUS_TEXT = {
  joining: 'Joining…',
  connecting: 'Connecting audio…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  failed: 'Audio unavailable',
  offline: 'Offline',
};

export class RoomPage {
  /**
   * @param {HTMLElement} root
   * @param {object} app the shared app object (store, call, goLobby, …) from app.js
   * @param {string} roomId
   * @param {string|null} invite the secret of an invite-only room's link
   */
  constructor(root, app, roomId, invite = null) {
    this.root = root;
    this.app = app;
    this.store = app.store;
    this.roomId = roomId;
    this.invite = invite;
    this.myId = null;
    this.ownerId = null;
    this.role = null;
    this.left = false;
    this.joined = false;
    this.media = null;
    this.phase = 'joining';
    this.videoStreams = { remote: null, local: null };
    /** Speakers' cameras (video rooms), by user id. */
    this.cameras = new Map();
    this.levels = new Map();
    this.loudAt = new Map();
    this.slotOf = new Map();
    this.onStoreChange = (e) => {
      if (!e.detail.roomId || e.detail.roomId === this.roomId) this.render();
    };
    this.onRoomRemoved = (e) => {
      if (e.detail.roomId === this.roomId && !this.left) this.exit('The room has ended.', 'info');
    };
    this.store.addEventListener('change', this.onStoreChange);
    this.store.addEventListener('room-removed', this.onRoomRemoved);
    this.build();
  }

  // --- lifecycle ------------------------------------------------------------------------

  /** Joins the room (or re-joins after a reconnection) and starts the media. */
  async enter() {
    this.phase = 'joining';
    this.renderStatus();
    let tokens;
    try {
      tokens = await this.app.call('join-room', this.roomId, ...(this.invite ? [{ invite: this.invite }] : []));
      // A private room reaches its members only this way.
      if (tokens?.room) this.store.putRoom(tokens.room);
    } catch (err) {
      if (this.left) return;
      this.left = true;
      toastError(err, 'Could not join the room');
      this.app.goLobby();
      return;
    }
    if (this.left) return;
    const room = this.store.room(this.roomId);
    if (!room) {
      this.exit('This room has just ended.', 'info');
      return;
    }
    this.joined = true;
    this.myId = this.store.me.id;
    this.ownerId = room.ownerId;
    this.role = roleOf(room, this.myId);
    this.phase = 'connecting';
    this.startMedia(room, tokens);
    this.render();
    // An invitation that came while this page was away (a reload, a reconnection).
    if (participant(room, this.myId)?.invited) this.askInvitation();
  }

  startMedia(room, tokens) {
    this.media?.close();
    const media = new RoomMedia({
      roomId: this.roomId,
      audioOnly: room.audioOnly,
      audioContainer: this.els.audio,
      freshToken: (kind) => this.freshToken(kind),
      tilePixels: () => (this.els.stage.querySelector('.tile-media')?.clientWidth || 112) * devicePixelRatio,
    });
    this.media = media;
    media.addEventListener('status', () => this.renderStatus());
    media.addEventListener('video', (e) => { this.videoStreams.remote = e.detail; this.render(); });
    media.addEventListener('local-video', (e) => { this.videoStreams.local = e.detail; this.render(); });
    media.addEventListener('camera', ({ detail: { userId, stream } }) => {
      if (stream) this.cameras.set(userId, stream);
      else this.cameras.delete(userId);
      this.render();
    });
    media.addEventListener('slots', (e) => { this.slotOf = invert(e.detail); this.renderSlots(); });
    media.addEventListener('error', (e) => toastError(e.detail));
    media.addEventListener('autoplay-blocked', () => {
      toast('Your browser paused the room’s sound until you interact with the page.', {
        id: 'autoplay',
        kind: 'warn',
        duration: 0,
        actions: [{ label: 'Turn on sound', primary: true, onClick: () => this.media?.resumePlayback() }],
      });
    });
    media.setMuted(!!participant(room, this.myId)?.muted);
    media.startView({ myId: this.myId, ownerId: room.ownerId, token: tokens.viewerToken });
    if (tokens.publisherToken) {
      const video = !room.audioOnly && room.ownerId === this.myId;
      this.publishMic({ video, token: tokens.publisherToken });
    }
    clearInterval(this.levelTimer);
    this.levelTimer = setInterval(() => this.sampleLevels(), LEVEL_PERIOD_MS);
  }

  /**
   * Publishes my microphone (and camera). A microphone that is denied or fails is shown to
   * everyone (`mic-state`), and I can retry or step down; one that works again clears it.
   */
  async publishMic({ video = false, token = null } = {}) {
    if (!this.media) return;
    try {
      await this.media.startPublish({ myId: this.myId, video, token });
      // Also after a reload: the room may still show the microphone that failed before.
      const shownMissing = participant(this.store.room(this.roomId), this.myId)?.micUnavailable;
      if (this.micFailed || shownMissing) {
        this.micFailed = false;
        document.querySelector('[data-toast-id="mic"]')?.remove();
        this.app.call('mic-state', this.roomId, true).catch(() => {});
      }
    } catch (err) {
      if (!err.device) {
        toastError(err, 'Microphone');
        return;
      }
      this.micFailed = true;
      this.app.call('mic-state', this.roomId, false).catch(() => {});
      toast(`${err.message}. Everyone sees that you have no microphone; allow it in your browser and try again, or step down.`, {
        kind: 'warn',
        id: 'mic',
        title: 'No microphone',
        duration: 0,
        actions: [{ label: 'Try again', primary: true, onClick: () => this.retryMic() }],
      });
      this.render();
    }
  }

  retryMic() {
    const room = this.store.room(this.roomId);
    if (!room || !room.speakers.includes(this.myId)) return;
    return this.publishMic({ video: !room.audioOnly && room.ownerId === this.myId });
  }

  /** New connection data for the media (reconnections, re-pins): asks join-room again. */
  async freshToken(kind) {
    const room = this.store.room(this.roomId);
    if (this.left || !participant(room, this.myId)) throw new Error('You are no longer in this room');
    const data = await this.app.call('join-room', this.roomId);
    const token = kind === 'view' ? data.viewerToken : data.publisherToken;
    if (!token) throw new Error('You are no longer a speaker');
    return token;
  }

  /** The socket dropped: the server ends our membership and media; wait for resume(). */
  onConnectionLost() {
    if (this.left) return;
    this.phase = 'offline';
    this.joined = false;
    clearInterval(this.levelTimer);
    this.media?.close();
    this.media = null;
    this.levels.clear();
    this.render();
  }

  /** Reconnected and signed in again (with a new user id): walk back in. */
  async resume() {
    if (this.left) return;
    const wasSpeaker = this.role === 'owner' || this.role === 'speaker';
    const wasOwner = this.role === 'owner';
    if (!this.store.room(this.roomId)) {
      this.exit('The room ended while you were offline.', 'info');
      return;
    }
    await this.enter();
    if (this.left) return;
    const hostNow = participant(this.store.room(this.roomId), this.store.room(this.roomId)?.ownerId)?.username;
    if (wasOwner && this.role !== 'owner') {
      toast(`You were away too long, so ${hostNow ?? 'someone else'} is the host now.${this.role === 'speaker' ? ' You are back on stage.' : ''}`, { kind: 'info', title: 'The room moved on' });
    } else if (wasSpeaker && this.role === 'listener') {
      toast('You were away too long and lost your seat on stage. Raise your hand to speak again.', { kind: 'info' });
    }
  }

  /** Leaves the page for the lobby with a message (kicked, room ended, …). */
  exit(message, kind = 'info', title) {
    if (this.left) return;
    this.left = true;
    this.teardown();
    if (message) toast(message, { kind, title });
    this.app.goLobby();
  }

  /** Leaves the room on purpose. */
  async leave() {
    if (this.left) return;
    this.left = true;
    this.teardown();
    this.app.call('leave-room', this.roomId).catch(() => {});
    this.app.goLobby();
  }

  teardown() {
    clearInterval(this.levelTimer);
    this.inviteDialog?.close();
    this.confirmDialog?.close();
    document.querySelector('[data-toast-id="mic"]')?.remove();
    this.media?.close();
    this.media = null;
    this.watchParty.close();
    this.contentDialog?.close();
    this.actionDialog?.close();
    this.handDialog?.close();
    this.reportDialog?.close();
    this.store.removeEventListener('change', this.onStoreChange);
    this.store.removeEventListener('room-removed', this.onRoomRemoved);
    // A private room is not announced to non-members: out of it, we would not hear it end.
    const room = this.store.room(this.roomId);
    if (room && room.privacy !== 'public') this.store.removeRoom(this.roomId);
  }

  /** Called by the router when the page goes away. */
  destroy({ leave }) {
    if (!this.left) {
      this.left = true;
      if (leave && this.joined) this.app.call('leave-room', this.roomId).catch(() => {});
    }
    this.teardown();
  }

  // --- server events ---------------------------------------------------------------------

  /** A room broadcast (already applied to the store). */
  onRoomEvent(event, roomId, args) {
    if (roomId !== this.roomId || this.left || !this.joined) return;
    const [userId, flag] = args;
    if (event === 'user-raised-hand' && flag && this.moderating && userId !== this.myId) {
      const name = participant(this.store.room(this.roomId), userId)?.username ?? 'Someone';
      const reason = typeof args[2] === 'string' ? ` “${args[2]}”` : '';
      toast(`${name} raised their hand.${reason} Invite them on stage?`, {
        id: `hand-${userId}`,
        title: 'Raised hand',
        actions: [
          { label: 'Deny', onClick: () => this.promote(userId, false) },
          { label: 'Allow to speak', primary: true, onClick: () => this.promote(userId, true) },
        ],
      });
    }
    if (event === 'user-left' && userId === this.myId) {
      this.exit('You are no longer in this room.', 'info');
    }
    if (event === 'user-muted' && userId === this.myId) this.media?.setMuted(!!flag);
    if (event === 'user-invited' && userId === this.myId && !flag) this.inviteDialog?.close();
    if (event === 'room-recording') announceRecording(this.store.room(this.roomId), !!userId);
    if (event === 'user-moderator' && userId === this.myId) {
      toast(flag ? 'You are a co-host now: you can invite people on stage and manage the room.' : 'You are no longer a co-host.', { kind: 'info', id: 'co-host' });
    }
    if (event === 'user-invited' && this.moderating && userId !== this.myId) {
      const name = participant(this.store.room(this.roomId), userId)?.username ?? 'They';
      if (flag) toast(`Invitation sent. ${name} joins the stage once they accept.`, { kind: 'info', id: `invite-${userId}` });
      else if (!this.store.room(this.roomId)?.speakers.includes(userId)) toast(`${name} stays in the audience.`, { kind: 'info', id: `invite-${userId}` });
    }
  }

  /** A chat event for a room: messages, history, deletions, reactions. */
  onChatEvent(event, roomId, args) {
    if (roomId !== this.roomId || this.left) return;
    this.chat.onEvent(event, args);
  }

  /** Whether I moderate this room (its host, or a co-host). */
  get moderating() {
    return this.joined && canModerate(this.store.room(this.roomId), this.myId);
  }

  /** The host invites me on stage: my microphone opens only if I accept. */
  askInvitation() {
    const room = this.store.room(this.roomId);
    const host = participant(room, room?.ownerId)?.username ?? 'The host';
    this.inviteDialog?.close();
    const answer = async (accept) => {
      try {
        await this.app.call('answer-invite', this.roomId, accept);
      } catch (err) {
        toastError(err, 'Invitation');
      }
    };
    this.inviteDialog = inviteDialog({ host, onAnswer: answer });
  }

  /** An event for me only: promoted, demoted, kicked, muted, room-closed. */
  onPersonalEvent(event, args) {
    if (this.left) return;
    switch (event) {
      case 'promoted': {
        const token = args[0]?.publisherToken;
        this.role = 'speaker';
        this.inviteDialog?.close();
        toast('You are on stage. Your microphone is on — say hi!', { kind: 'success', title: 'You can speak now' });
        if (this.media && token) {
          this.media.setMuted(false);
          this.publishMic({ video: false, token });
        }
        this.render();
        break;
      }
      case 'invited':
        this.askInvitation();
        break;
      case 'hand-denied':
        toast('The host declined your request to speak this time.', { kind: 'info', id: 'hand' });
        break;
      case 'demoted':
        this.role = 'listener';
        this.micFailed = false;
        document.querySelector('[data-toast-id="mic"]')?.remove();
        this.media?.stopPublish();
        toast('The host moved you to the audience. Raise your hand to speak again.', { kind: 'info' });
        this.render();
        break;
      case 'muted':
        this.media?.setMuted(true);
        toast('The host muted your microphone. You can unmute when you are ready.', { kind: 'warn', id: 'muted' });
        this.render();
        break;
      case 'kicked':
        this.exit('The host removed you from the room.', 'warn', 'Removed');
        break;
      case 'room-closed':
        this.exit('The host left and nobody was on stage to take over.', 'info', 'The room has ended');
        break;
      default:
        break;
    }
  }

  /** The room's owner changed (room-updated): re-pin the view; a new video host shows the camera. */
  onOwnerChanged(previous, next) {
    const room = this.store.room(this.roomId);
    const name = participant(room, next)?.username ?? 'Someone';
    if (next === this.myId) {
      toast('The host left, so you are the host now: invite people on stage and manage the room.', { kind: 'success', title: 'You are the host', duration: 8000 });
    } else {
      toast(`${name} is now the host.`, { kind: 'info' });
    }
    if (!this.media) return;
    this.media.repin({ myId: this.myId, ownerId: next });
    if (next === this.myId && !room.audioOnly) {
      // As the host of a video room, show my camera on stage.
      this.media.startPublish({ myId: this.myId, video: true }).catch((err) => toastError(err, 'Camera'));
    }
  }

  // --- owner actions -------------------------------------------------------------------------

  /** The host attaches (or stops) the stream everyone watches together. */
  openWatchParty() {
    const current = this.store.room(this.roomId)?.content ?? null;
    this.contentDialog = watchPartyDialog({
      current,
      onSubmit: ({ stream, token }) => this.app.call('set-content', this.roomId, ...(stream ? [stream, { token }] : [null])),
    });
  }

  promote(userId, on) {
    return promote(this, userId, on);
  }

  muteSpeaker(userId) {
    return muteSpeaker(this, userId);
  }

  /** The sheet of what I can do about a member (follow, block; moderate if I may). */
  openActions(userId) {
    this.actionDialog = openActions(this, userId);
  }

  /** Whether leaving now needs a confirmation: the host's leaving ends or hands over the room. */
  needsExitConfirm() {
    return this.joined && !this.left && this.role === 'owner' && !!this.store.room(this.roomId);
  }

  /** The in-app Leave button. */
  confirmLeave() {
    this.confirmExit(() => this.leave());
  }

  /**
   * Asks the host whether to leave (any way out: Leave, Back, the logo, Sign out) and calls
   * `onConfirmed` if they do; anyone else leaves at once.
   */
  confirmExit(onConfirmed) {
    const room = this.store.room(this.roomId);
    if (!this.needsExitConfirm()) {
      onConfirmed();
      return;
    }
    const next = stage(room).find((p) => p.id !== this.myId);
    this.confirmDialog = leaveDialog({ next: next?.username ?? null, onConfirm: onConfirmed });
  }

  // --- my controls ---------------------------------------------------------------------

  async toggleMic(button) {
    const me = participant(this.store.room(this.roomId), this.myId);
    if (!me) return;
    const muted = !me.muted;
    this.media?.setMuted(muted);
    try {
      await busy(button, () => this.app.call('mute', this.roomId, muted));
    } catch (err) {
      this.media?.setMuted(!muted);
      toastError(err, 'Microphone');
    }
  }

  /** A speaker of a video room turns their camera on or off (the publication is replaced). */
  async toggleCamera(button) {
    const on = !this.media?.publishSpec?.video;
    await busy(button, () => this.publishMic({ video: on }));
    this.render();
  }

  /** Back to the audience on my own: my publication stops. */
  async leaveStage() {
    try {
      await this.app.call('leave-stage', this.roomId);
      this.role = 'listener';
      this.micFailed = false;
      this.media?.stopPublish();
      document.querySelector('[data-toast-id="mic"]')?.remove();
      this.render();
    } catch (err) {
      toastError(err, 'Leave stage');
    }
  }

  /** Raises my hand at once (a reason can follow: "Say why") or lowers it. */
  async toggleHand(button) {
    const me = participant(this.store.room(this.roomId), this.myId);
    if (!me) return;
    const raise = !me.raisedHand;
    try {
      await busy(button, () => this.app.call('raise-hand', this.roomId, raise));
      if (raise) {
        toast('Hand raised. The host has been notified.', {
          kind: 'success',
          id: 'hand',
          actions: [{ label: 'Say why', onClick: () => this.giveReason() }],
        });
      }
    } catch (err) {
      toastError(err, 'Raise hand');
    }
  }

  /** Adds a reason to my raised hand, for the moderators' queue. */
  giveReason() {
    this.handDialog = handDialog(this, async (reason) => {
      if (!reason) return;
      try {
        await this.app.call('raise-hand', this.roomId, true, { reason });
      } catch (err) {
        toastError(err, 'Raise hand');
      }
    });
  }

  /** Puts the room's invite link on the clipboard (and shows it, where that is refused). */
  async copyInvite(room) {
    const link = inviteLink(room);
    try {
      await navigator.clipboard.writeText(link);
      toast('Invite link copied. Anyone with it can join.', { kind: 'success', id: 'invite-link' });
    } catch {
      toast(link, { title: 'Invite link', id: 'invite-link', duration: 0 });
    }
  }

  // --- levels ------------------------------------------------------------------------------

  async sampleLevels() {
    if (this.sampling || !this.media) return;
    this.sampling = true;
    try {
      this.levels = await this.media.levels();
    } finally {
      this.sampling = false;
    }
    this.renderLevels();
  }

  // --- rendering ------------------------------------------------------------------------------

  build() {
    const els = {};
    els.content = h('section', { class: 'content-section', id: 'content-panel', 'aria-label': 'Watch party' });
    this.watchParty = new WatchParty(els.content);
    els.title = h('h1', { class: 'room-title', id: 'room-title' }, '…');
    els.meta = h('p', { class: 'room-meta', id: 'room-meta' });
    els.status = h('span', { class: 'status-pill', id: 'room-status', role: 'status' });
    els.stageCount = h('span', { class: 'count', id: 'stage-count' });
    els.audienceCount = h('span', { class: 'count', id: 'audience-count' });
    els.stage = h('div', { class: 'stage', id: 'stage', role: 'list', 'aria-labelledby': 'stage-heading' });
    els.audience = h('ul', { class: 'audience', id: 'audience', 'aria-labelledby': 'audience-heading' });
    els.audienceEmpty = h('p', { class: 'empty-line', hidden: true }, 'Nobody in the audience yet.');
    els.handsList = h('ul', { class: 'hands-list', id: 'hands-queue' });
    els.handsEmpty = h('p', { class: 'empty-line' }, 'No raised hands right now. When listeners ask to speak, they show up here.');
    els.handsCount = h('span', { class: 'count', id: 'hands-count' });
    els.hands = h('aside', { class: 'hands-panel', id: 'hands-panel', 'aria-labelledby': 'hands-heading', hidden: true },
      h('h2', { class: 'section-title', id: 'hands-heading' }, icon('hand'), 'Raised hands ', els.handsCount),
      els.handsList, els.handsEmpty);
    this.chat = new RoomChat(this);
    els.audio = h('div', { class: 'room-audio', id: 'room-audio', hidden: true });
    els.overlay = h('div', { class: 'room-overlay', id: 'room-overlay', role: 'status', hidden: true });
    els.controls = h('div', { class: 'bar-center' });
    els.handsButton = h('button', {
      type: 'button', class: 'btn btn-round', id: 'hands-button', hidden: true, 'aria-controls': 'hands-panel',
      onclick: () => { els.hands.scrollIntoView({ behavior: 'smooth', block: 'start' }); els.handsList.querySelector('button')?.focus(); },
    });
    els.leave = h('button', { type: 'button', class: 'btn btn-leave', id: 'leave-room', 'aria-label': 'Leave the room', onclick: () => this.confirmLeave() }, icon('leave'), h('span', {}, 'Leave'));
    this.els = els;
    this.section = h('section', { class: 'room', dataset: { roomId: this.roomId } },
      h('header', { class: 'room-head' },
        h('a', {
          class: 'back-link',
          href: '#/',
          'aria-label': 'Back to Live now (leaves the room)',
          onclick: (e) => { e.preventDefault(); this.confirmLeave(); },
        }, icon('back'), h('span', {}, 'Live now')),
        h('div', { class: 'room-heading' }, els.title, els.meta),
        els.status),
      h('div', { class: 'room-body' },
        h('div', { class: 'room-main' },
          els.content,
          h('section', { class: 'stage-section', 'aria-labelledby': 'stage-heading' },
            h('h2', { class: 'section-title', id: 'stage-heading' }, icon('stage'), 'On stage ', els.stageCount),
            els.stage),
          h('section', { class: 'audience-section', 'aria-labelledby': 'audience-heading' },
            h('h2', { class: 'section-title', id: 'audience-heading' }, icon('headphones'), 'Listening ', els.audienceCount),
            els.audience, els.audienceEmpty)),
        h('div', { class: 'room-side' }, els.hands, this.chat.el)),
      h('footer', { class: 'room-bar' }, els.leave, els.controls, els.handsButton),
      els.overlay,
      els.audio);
    setChildren(this.root, this.section);
  }

  render() {
    if (this.left) return;
    const room = this.store.room(this.roomId);
    if (!room) return;
    if (this.joined && this.ownerId && room.ownerId !== this.ownerId) {
      const previous = this.ownerId;
      this.ownerId = room.ownerId;
      this.role = roleOf(room, this.myId);
      this.onOwnerChanged(previous, room.ownerId);
    }
    if (this.joined) this.role = roleOf(room, this.myId) ?? this.role;
    this.watchParty.update(this.joined ? room.content ?? null : null);
    const { els } = this;
    const role = this.joined ? this.role : null;
    this.section.dataset.role = role ?? 'none';
    document.title = `${room.name} · Podium`;
    els.title.textContent = room.name;
    const host = participant(room, room.ownerId);
    const speakers = stage(room);
    const listeners = audience(room);
    setChildren(els.meta,
      h('span', { class: 'pill pill-kind' }, icon(room.audioOnly ? 'audio' : 'video'), room.audioOnly ? 'Audio room' : 'Video room'),
      privacyPill(room),
      recordingPill(room, 'rec-indicator'),
      recordButton(this, room),
      this.app.account && role !== 'owner' ? h('button', {
        type: 'button', class: 'btn btn-ghost btn-sm', id: 'report-room', onclick: () => reportDialog(this, { kind: 'room', target: room.id, targetName: room.name, roomId: room.id }),
      }, icon('warn'), 'Report') : null,
      room.inviteSecret ? h('button', {
        type: 'button', class: 'btn btn-ghost btn-sm', id: 'copy-invite', onclick: () => this.copyInvite(room),
      }, icon('link'), 'Copy invite link') : null,
      h('span', {}, 'Hosted by ', h('strong', { id: 'room-owner' }, host ? (host.id === this.myId ? `${host.username} (you)` : host.username) : '—')),
      h('span', { class: 'dot-sep', 'aria-hidden': 'true' }, '·'),
      h('span', {}, plural(room.participants.length, 'person', 'people')));
    els.stageCount.textContent = String(speakers.length);
    els.audienceCount.textContent = String(listeners.length);

    renderKeyed(els.stage, speakers, (p) => p.id, (p) => createTile(this, p), (el, p) => updateTile(this, el, p, room));
    renderKeyed(els.audience, listeners, (p) => p.id, (p) => createPerson(this, p), (el, p) => updatePerson(this, el, p, room));
    els.audienceEmpty.hidden = listeners.length > 0;

    // Owner: raised hands queue.
    const isOwner = this.moderating;
    const queue = isOwner ? this.store.handQueue(this.roomId) : [];
    els.hands.hidden = !isOwner;
    els.handsButton.hidden = !isOwner;
    els.handsCount.textContent = String(queue.length);
    renderKeyed(els.handsList, queue, (p) => p.id, (p) => createHand(this, p), () => {});
    els.handsEmpty.hidden = queue.length > 0;
    setChildren(els.handsButton, icon('hand'),
      h('span', { class: 'sr-only' }, `Raised hands: ${queue.length}`),
      queue.length ? h('span', { class: 'badge-count', 'aria-hidden': 'true' }, String(queue.length)) : null);
    els.handsButton.title = `Raised hands (${queue.length})`;

    this.renderControls(room, role);
    this.chat.render();
    this.renderStatus();
    this.renderSlots();
    this.renderLevels();
  }

  renderControls(room, role) {
    const me = participant(room, this.myId);
    const { controls } = this.els;
    if (!role || !me) {
      controls.replaceChildren();
      // Forget what they showed: coming back in the same state (a reconnection) must draw them again.
      delete controls.dataset.key;
      return;
    }
    const key = `${role}:${me.muted}:${me.raisedHand}:${me.micUnavailable}:${me.invited}:${!!this.media?.publishSpec?.video}`;
    if (controls.dataset.key === key) return;
    controls.dataset.key = key;
    if (role === 'owner' || role === 'speaker') {
      const mic = me.micUnavailable
        ? h('button', {
          type: 'button', class: 'btn btn-mic is-muted', id: 'retry-mic', onclick: (e) => busy(e.currentTarget, () => this.retryMic()),
        }, icon('mic-off'), h('span', {}, 'Retry microphone'))
        : h('button', {
          type: 'button', class: `btn btn-mic ${me.muted ? 'is-muted' : ''}`, id: 'toggle-mic', 'aria-pressed': String(me.muted),
          onclick: (e) => this.toggleMic(e.currentTarget),
        }, icon(me.muted ? 'mic-off' : 'mic'), h('span', {}, me.muted ? 'Unmute' : 'Mute'));
      const camera = role === 'speaker' && !room.audioOnly
        ? h('button', {
          type: 'button', class: 'btn btn-ghost btn-sm', id: 'toggle-camera', 'aria-pressed': String(!!this.media?.publishSpec?.video),
          onclick: (e) => this.toggleCamera(e.currentTarget),
        }, icon('video'), h('span', {}, this.media?.publishSpec?.video ? 'Stop camera' : 'Camera'))
        : null;
      const stepDown = role === 'speaker'
        ? h('button', {
          type: 'button', class: 'btn btn-ghost btn-sm', id: 'leave-stage', onclick: (e) => busy(e.currentTarget, () => this.leaveStage()),
        }, icon('down'), h('span', {}, 'Leave stage'))
        : h('button', {
          type: 'button', class: 'btn btn-ghost btn-sm', id: 'watch-party', onclick: () => this.openWatchParty(),
        }, icon('video'), h('span', {}, 'Watch party'));
      setChildren(controls, mic, camera, stepDown);
    } else {
      const button = h('button', {
        type: 'button', class: `btn btn-hand ${me.raisedHand ? 'is-raised' : ''}`, id: 'toggle-hand', 'aria-pressed': String(me.raisedHand),
        onclick: (e) => this.toggleHand(e.currentTarget),
      }, icon('hand'), h('span', {}, me.raisedHand ? 'Lower hand' : 'Raise hand'));
      // A dismissed invitation can still be answered.
      const answer = me.invited
        ? h('button', { type: 'button', class: 'btn btn-primary', id: 'answer-invite', onclick: () => this.askInvitation() }, icon('up'), h('span', {}, 'Invited to speak'))
        : null;
      setChildren(controls, answer, button);
    }
  }

  renderStatus() {
    const { status, overlay } = this.els;
    let state;
    if (this.phase === 'joining') state = 'joining';
    else if (this.phase === 'offline' || this.app.connection === 'reconnecting') state = 'offline';
    else {
      const view = this.media?.status.view ?? 'idle';
      state = view === 'idle' ? 'connecting' : view;
    }
    status.dataset.status = state;
    setChildren(status, h('span', { class: 'status-dot', 'aria-hidden': 'true' }), STATUS_TEXT[state] ?? state);
    const overlayText = state === 'joining' ? 'Joining the room…' : state === 'offline' ? 'Connection lost. Reconnecting…' : null;
    overlay.hidden = !overlayText;
    if (overlayText) setChildren(overlay, h('div', { class: 'overlay-card' }, h('span', { class: 'spinner spinner-lg', 'aria-hidden': 'true' }), h('p', {}, overlayText)));
  }

  renderSlots() {
    for (const tile of this.els.stage.children) {
      const mid = this.slotOf.get(tile.dataset.userId);
      if (mid) tile.dataset.slot = mid;
      else delete tile.dataset.slot;
    }
  }

  renderLevels() {
    const now = performance.now();
    const room = this.store.room(this.roomId);
    for (const tile of this.els.stage.children) {
      const id = tile.dataset.userId;
      const p = participant(room, id);
      const level = p?.muted ? 0 : (this.levels.get(id) ?? 0);
      if (level > SPEAKING_LEVEL) this.loudAt.set(id, now);
      const speaking = now - (this.loudAt.get(id) ?? -Infinity) < SPEAKING_HOLD_MS;
      tile.dataset.speaking = String(speaking);
      tile.classList.toggle('speaking', speaking);
      tile.style.setProperty('--level', Math.min(1, Math.sqrt(level) * 1.6).toFixed(3));
    }
  }
}

/** The address that lets someone into an invite-only room. */
export function inviteLink(room) {
  const { origin, pathname } = location;
  return `${origin}${pathname}#/room/${encodeURIComponent(room.id)}?invite=${encodeURIComponent(room.inviteSecret)}`;
}

/** "Followers only" or "Invite only" (nothing for a public room). */
function privacyPill(room) {
  if (room.privacy === 'followers') return h('span', { class: 'pill pill-private', id: 'room-privacy' }, icon('lock'), 'Followers only');
  if (room.privacy === 'invite') return h('span', { class: 'pill pill-private', id: 'room-privacy' }, icon('lock'), 'Invite only');
  return null;
}

/** mid → userId map to userId → mid. */
function invert(map) {
  const out = new Map();
  for (const [mid, userId] of map) out.set(userId, mid);
  return out;
}
