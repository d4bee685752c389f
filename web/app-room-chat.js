// Rooms app: the room's chat and reactions. Messages are shown as text only (never HTML: the
// server keeps them as typed); authors and moderators delete them; a moderator can stop
// someone's chat. Reactions float over the tile of the speaker they are for.
import { canModerate, participant } from '/app-store.js';
import {
  busy, h, icon, setChildren, toastError,
} from '/app-ui.js';

/** The reactions the server accepts, in the order the bar shows them. */
export const REACTIONS = ['👏', '❤️', '😂', '😮', '🔥', '👍', '🙏', '💯'];
/** Longest message the server accepts (characters as people count them). */
const MAX_CHARS = 500;
/** Messages kept on screen (the server keeps the latest 50 for people who join later). */
const SHOWN = 200;
/** How long a floating reaction stays (ms), matching its CSS animation. */
const FLOAT_MS = 2200;

export class RoomChat {
  /** @param {import('/app-room.js').RoomPage} page */
  constructor(page) {
    this.page = page;
    /** @type {Map<number, {message: object, el: HTMLElement}>} */
    this.messages = new Map();
    this.build();
  }

  build() {
    this.list = h('ol', { class: 'chat-list', id: 'chat-list', 'aria-live': 'polite', 'aria-relevant': 'additions' });
    this.empty = h('p', { class: 'empty-line', id: 'chat-empty' }, 'No messages yet. Say hello!');
    this.input = h('textarea', {
      id: 'chat-input', name: 'text', rows: 1, maxlength: MAX_CHARS * 2, 'aria-label': 'Message the room', placeholder: 'Message the room…',
    });
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.form.requestSubmit();
      }
    });
    this.sendButton = h('button', { type: 'submit', class: 'btn btn-primary btn-sm', id: 'chat-send' }, 'Send');
    this.notice = h('p', { class: 'chat-notice', id: 'chat-muted-notice', hidden: true }, 'A moderator turned off your messages in this room.');
    this.form = h('form', { class: 'chat-form', id: 'chat-form' }, this.input, this.sendButton);
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.send();
    });
    this.reactions = h('div', { class: 'reaction-bar', id: 'reaction-bar', role: 'group', 'aria-label': 'React' },
      REACTIONS.map((emoji) => h('button', {
        type: 'button', class: 'reaction-button', dataset: { emoji }, 'aria-label': `React ${emoji}`, onclick: () => this.react(emoji),
      }, emoji)));
    this.el = h('section', { class: 'chat-panel', id: 'chat-panel', 'aria-labelledby': 'chat-heading' },
      h('h2', { class: 'section-title', id: 'chat-heading' }, icon('chat'), 'Chat'),
      this.list, this.empty, this.reactions, this.notice, this.form);
  }

  /** A chat event for this room: `chat-message`, `chat-history`, `chat-deleted`, `reaction`. */
  onEvent(event, args) {
    switch (event) {
      case 'chat-message':
        this.add(args[0]);
        break;
      case 'chat-history':
        for (const message of Array.isArray(args[0]) ? args[0] : []) this.add(message);
        break;
      case 'chat-deleted':
        this.remove(args[0]);
        break;
      case 'reaction':
        this.float(args[0], args[1], args[2]);
        break;
      default:
        break;
    }
  }

  add(message) {
    if (!message || typeof message.id !== 'number' || this.messages.has(message.id)) return;
    const mine = message.userId === this.page.myId;
    const time = new Date(Number(message.at) || Date.now());
    const el = h('li', { class: `chat-message${mine ? ' is-mine' : ''}`, dataset: { messageId: message.id, userId: message.userId } },
      h('span', { class: 'chat-meta' },
        h('strong', { class: 'chat-author' }, String(message.username ?? '')),
        h('time', { class: 'chat-time', datetime: time.toISOString() }, time.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }))),
      // Text, never markup: whatever was typed shows as typed.
      h('span', { class: 'chat-text' }, String(message.text ?? '')),
      h('button', {
        type: 'button', class: 'chat-delete', dataset: { action: 'delete-message' }, 'aria-label': 'Delete this message', hidden: true,
        onclick: (e) => busy(e.currentTarget, () => this.remove(message.id, true)),
      }, icon('x')));
    // Keep the order of numbers (a history can arrive after a live message).
    const after = [...this.messages.keys()].filter((id) => id > message.id).sort((a, b) => a - b)[0];
    this.list.insertBefore(el, after === undefined ? null : this.messages.get(after).el);
    this.messages.set(message.id, { message, el });
    while (this.messages.size > SHOWN) this.remove(Math.min(...this.messages.keys()));
    this.render();
    const nearBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 80;
    if (nearBottom || mine) this.list.scrollTop = this.list.scrollHeight;
  }

  /** Takes a message off the screen; `ask` the server first (a deletion for everyone). */
  async remove(id, ask = false) {
    if (ask) {
      try {
        await this.page.app.call('delete-message', this.page.roomId, id);
      } catch (err) {
        toastError(err, 'Could not delete the message');
        return;
      }
    }
    const entry = this.messages.get(id);
    if (!entry) return;
    entry.el.remove();
    this.messages.delete(id);
    this.render();
  }

  async send() {
    const text = this.input.value.trim();
    if (!text) return;
    try {
      await busy(this.sendButton, () => this.page.app.call('send-message', this.page.roomId, text));
      this.input.value = '';
      this.input.focus();
    } catch (err) {
      toastError(err, 'Message not sent');
    }
  }

  /** A reaction for the speaker who spoke last (or the host). */
  async react(emoji) {
    const room = this.page.store.room(this.page.roomId);
    if (!room) return;
    let target = room.ownerId;
    let latest = -Infinity;
    for (const [id, at] of this.page.loudAt) {
      if (at > latest && room.speakers.includes(id)) [target, latest] = [id, at];
    }
    try {
      await this.page.app.call('react', this.page.roomId, emoji, target);
    } catch (err) {
      toastError(err, 'Reaction');
    }
  }

  /** Floats `emoji` over the tile of `targetId` (the stage when there is none). */
  float(userId, emoji, targetId) {
    if (!REACTIONS.includes(emoji)) return;
    const { stage } = this.page.els;
    const tile = targetId ? [...stage.children].find((t) => t.dataset.userId === targetId) : null;
    const from = participant(this.page.store.room(this.page.roomId), userId)?.username ?? 'Someone';
    const el = h('span', { class: 'reaction-float', dataset: { emoji, from: userId }, 'aria-hidden': 'true', title: from }, emoji);
    (tile?.querySelector('.tile-media') ?? stage).append(el);
    setTimeout(() => el.remove(), FLOAT_MS);
  }

  /** Shows what I may do now: delete buttons, the composer or the muted notice. */
  render() {
    const room = this.page.store.room(this.page.roomId);
    const me = participant(room, this.page.myId);
    const moderating = canModerate(room, this.page.myId);
    for (const { message, el } of this.messages.values()) {
      el.querySelector('.chat-delete').hidden = !(moderating || message.userId === this.page.myId);
    }
    this.empty.hidden = this.messages.size > 0;
    const muted = !!me?.chatMuted;
    this.notice.hidden = !muted;
    this.input.disabled = muted || !me;
    this.sendButton.disabled = muted || !me;
    for (const b of this.reactions.children) b.disabled = !me;
  }

  clear() {
    this.messages.clear();
    setChildren(this.list);
    this.render();
  }
}
