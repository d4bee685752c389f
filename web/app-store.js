// Rooms app: the client-side model. Pure functions that apply the rooms server's broadcasts
// to cached room JSON (`{id, name, ownerId, audioOnly, participants:[{id, username, muted,
// raisedHand, invited, micUnavailable}], speakers:[userId…]}`), the derived views the UI needs,
// and a small store.
// No DOM, no sockets: usable (and tested) in Node.

/** A copy of a room as the server sends it, with defaults for optional fields. */
export function normalizeRoom(json) {
  return {
    id: String(json.id),
    name: String(json.name ?? ''),
    ownerId: json.ownerId ?? null,
    audioOnly: json.audioOnly !== false,
    participants: (json.participants ?? []).map((p) => ({
      id: p.id,
      username: String(p.username ?? ''),
      muted: !!p.muted,
      raisedHand: !!p.raisedHand,
      invited: !!p.invited,
      micUnavailable: !!p.micUnavailable,
      moderator: !!p.moderator,
      chatMuted: !!p.chatMuted,
      handReason: typeof p.handReason === 'string' ? p.handReason : null,
      accountId: p.accountId ?? null,
    })),
    speakers: [...(json.speakers ?? [])],
    /** Watch party: the stream everyone in the room watches (null: none). */
    content: typeof json.content === 'string' ? json.content : null,
    /** `public`, `followers` or `invite` (members of an invite-only room get its secret). */
    privacy: json.privacy ?? 'public',
    inviteSecret: json.inviteSecret ?? null,
    /** Being recorded for a replay (everyone sees it). */
    recording: json.recording === true,
  };
}

const withParticipant = (room, userId, change) => ({
  ...room,
  participants: room.participants.map((p) => (p.id === userId ? { ...p, ...change } : p)),
});

/**
 * Applies one server broadcast to a room (returns a new room, or the same one when nothing
 * changes; `null` when the room is gone).
 * @param {object} room normalized room
 * @param {string} event `user-joined`, `user-left`, `user-promoted`, `user-raised-hand`,
 *   `user-muted`, `user-invited`, `user-mic`, `user-moderator`, `user-chat-muted`,
 *   `room-recording`
 * @param {unknown[]} args the event's arguments after `roomId`
 */
export function applyRoomEvent(room, event, args) {
  switch (event) {
    case 'user-joined': {
      const [user] = args;
      if (!user?.id || room.participants.some((p) => p.id === user.id)) return room;
      const joined = {
        id: user.id,
        username: String(user.username ?? ''),
        muted: false,
        raisedHand: false,
        invited: false,
        micUnavailable: false,
        moderator: false,
        chatMuted: false,
        handReason: null,
        accountId: user.accountId ?? null,
      };
      return { ...room, participants: [...room.participants, joined] };
    }
    case 'user-left': {
      const [userId] = args;
      if (!room.participants.some((p) => p.id === userId)) return room;
      return {
        ...room,
        participants: room.participants.filter((p) => p.id !== userId),
        speakers: room.speakers.filter((id) => id !== userId),
      };
    }
    case 'user-promoted': {
      const [userId, promoted] = args;
      const on = room.speakers.includes(userId);
      if (promoted && !on) {
        const fresh = {
          muted: false, raisedHand: false, invited: false, micUnavailable: false, handReason: null,
        };
        return { ...withParticipant(room, userId, fresh), speakers: [...room.speakers, userId] };
      }
      if (!promoted && on) {
        // Moderators are on stage: stepping down ends the role.
        const off = { muted: false, micUnavailable: false, moderator: false };
        return { ...withParticipant(room, userId, off), speakers: room.speakers.filter((id) => id !== userId) };
      }
      return room;
    }
    case 'user-raised-hand': {
      const [userId, raised, reason] = args;
      return withParticipant(room, userId, { raisedHand: !!raised, handReason: raised && typeof reason === 'string' ? reason : null });
    }
    case 'room-recording':
      return room.recording === !!args[0] ? room : { ...room, recording: !!args[0] };
    case 'user-moderator': {
      const [userId, moderator] = args;
      return withParticipant(room, userId, { moderator: !!moderator });
    }
    case 'user-chat-muted': {
      const [userId, muted] = args;
      return withParticipant(room, userId, { chatMuted: !!muted });
    }
    case 'user-muted': {
      const [userId, muted] = args;
      return withParticipant(room, userId, { muted: !!muted });
    }
    case 'user-invited': {
      const [userId, invited] = args;
      return withParticipant(room, userId, { invited: !!invited });
    }
    case 'user-mic': {
      const [userId, available] = args;
      return withParticipant(room, userId, { micUnavailable: !available });
    }
    default:
      return room;
  }
}

/** The participant with this id, or undefined. */
export function participant(room, userId) {
  return room?.participants.find((p) => p.id === userId);
}

/** Stage: speakers as participants, owner first, then in stage order. */
export function stage(room) {
  const byId = new Map(room.participants.map((p) => [p.id, p]));
  const ids = [...room.speakers].sort((a, b) => (a === room.ownerId ? -1 : b === room.ownerId ? 1 : 0));
  return ids.map((id) => byId.get(id)).filter(Boolean);
}

/** Audience: members not on stage, in join order. */
export function audience(room) {
  const onStage = new Set(room.speakers);
  return room.participants.filter((p) => !onStage.has(p.id));
}

/** Counts for the Live now card. */
export function counts(room) {
  const speakers = room.speakers.filter((id) => room.participants.some((p) => p.id === id)).length;
  return { speakers, audience: room.participants.length - speakers, total: room.participants.length };
}

/** The owner's username ('' if unknown). */
export function ownerName(room) {
  return participant(room, room.ownerId)?.username ?? '';
}

/** My role in a room: `owner`, `speaker`, `listener`, or null when not a member. */
export function roleOf(room, userId) {
  if (!room || !participant(room, userId)) return null;
  if (room.ownerId === userId) return 'owner';
  return room.speakers.includes(userId) ? 'speaker' : 'listener';
}

/** Whether this member moderates the room: its owner, or a speaker made moderator. */
export function canModerate(room, userId) {
  if (!room || !userId) return false;
  return room.ownerId === userId || !!participant(room, userId)?.moderator;
}

/** Live now order: most people first, then the order the server listed them (newest first). */
export function liveOrder(rooms) {
  return [...rooms].map((room, i) => ({ room, i }))
    .sort((a, b) => counts(b.room).total - counts(a.room).total || a.i - b.i)
    .map((x) => x.room);
}

/** Up to two initials for an avatar: "Ann Lee" → "AL", "zoë" → "Z". */
export function initials(name) {
  const words = String(name ?? '').trim().split(/[\s._-]+/).filter(Boolean);
  const letters = words.slice(0, 2).map((w) => [...w][0].toUpperCase());
  return letters.join('') || '?';
}

/** A stable hue (0–359) for a name, for avatar colours. */
export function hueOf(text) {
  let h = 0;
  for (const ch of String(text ?? '')) h = (h * 31 + ch.codePointAt(0)) % 360;
  return h;
}

/**
 * The app's state: who I am and every live room, with change notifications.
 * Dispatches `change` (`detail: {roomId?}`) on every update, `room-removed` (`detail: {roomId}`).
 * Raised hands are also kept in the order they were raised (`handQueue(roomId)`), which the
 * room JSON does not carry.
 */
export class Store extends EventTarget {
  constructor() {
    super();
    /** @type {{id: string, username: string}|null} */
    this.me = null;
    /** @type {Map<string, object>} room id → normalized room, in server (listing) order */
    this.rooms = new Map();
    /** @type {Map<string, string[]>} room id → user ids with a raised hand, oldest first */
    this.hands = new Map();
  }

  #changed(roomId) {
    this.dispatchEvent(new CustomEvent('change', { detail: { roomId } }));
  }

  /** Replaces everything (after `authenticate`). */
  reset(me, rooms = []) {
    this.me = me;
    this.rooms = new Map(rooms.map((r) => [r.id, normalizeRoom(r)]));
    this.hands = new Map([...this.rooms.values()].map((r) => [r.id, r.participants.filter((p) => p.raisedHand).map((p) => p.id)]));
    this.#changed(undefined);
  }

  /** Forgets everything (signed out). */
  clear() {
    this.reset(null, []);
  }

  /** A room by id. */
  room(id) {
    return this.rooms.get(id);
  }

  /** Rooms in Live now order. */
  live() {
    return liveOrder([...this.rooms.values()]);
  }

  /** Raised hands of a room, oldest first, as participants. */
  handQueue(roomId) {
    const room = this.rooms.get(roomId);
    if (!room) return [];
    const ids = this.hands.get(roomId) ?? [];
    return ids.map((id) => participant(room, id)).filter((p) => p?.raisedHand && !room.speakers.includes(p.id));
  }

  /** `room-created` / `room-updated`: insert or replace the room. */
  putRoom(json) {
    const room = normalizeRoom(json);
    const isNew = !this.rooms.has(room.id);
    if (isNew) this.rooms = new Map([[room.id, room], ...this.rooms]); // newest first
    else this.rooms.set(room.id, room);
    const queue = (this.hands.get(room.id) ?? []).filter((id) => participant(room, id)?.raisedHand);
    for (const p of room.participants) if (p.raisedHand && !queue.includes(p.id)) queue.push(p.id);
    this.hands.set(room.id, queue);
    this.#changed(room.id);
  }

  /** `room-deleted` / `room-closed`. */
  removeRoom(roomId) {
    if (!this.rooms.delete(roomId)) return;
    this.hands.delete(roomId);
    this.dispatchEvent(new CustomEvent('room-removed', { detail: { roomId } }));
    this.#changed(roomId);
  }

  /** A `user-*` broadcast about a room. */
  roomEvent(event, roomId, args) {
    const room = this.rooms.get(roomId);
    if (!room) return;
    const next = applyRoomEvent(room, event, args);
    if (event === 'user-raised-hand' || event === 'user-left' || event === 'user-promoted') {
      const [userId, flag] = args;
      let queue = (this.hands.get(roomId) ?? []).filter((id) => id !== userId || (event === 'user-raised-hand' && flag));
      if (event === 'user-raised-hand' && flag && !queue.includes(userId)) queue = [...queue, userId];
      this.hands.set(roomId, queue);
    }
    if (next === room) return;
    this.rooms.set(roomId, next);
    this.#changed(roomId);
  }
}
