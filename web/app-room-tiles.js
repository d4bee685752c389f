// Rooms app: the room page's people — stage tiles (avatar or video: the host's main video,
// a speaker's projected camera, my own preview; badges; the owner's actions button), the
// audience and the raised-hands queue. Functions of the page (`RoomPage`) they draw for.
import { hasActions } from '/app-room-moderation.js';
import {
  avatar, busy, h, icon, setChildren,
} from '/app-ui.js';

/** Whether this member's tile or line opens an action sheet for me. */
const actionable = (page, p) => hasActions(page, page.store.room(page.roomId), p);

export function createTile(page, p) {
  const media = h('span', { class: 'tile-media' }, h('span', { class: 'tile-ring' }), avatar(p, 'lg'));
  const name = h('span', { class: 'tile-name' });
  const badges = h('span', { class: 'tile-badges' });
  const tag = actionable(page, p) ? 'button' : 'div';
  const body = h(tag, { class: 'tile-body', type: tag === 'button' ? 'button' : null }, media, name);
  const el = h('div', { class: 'tile', role: 'listitem', dataset: { userId: p.id, speaking: 'false' } }, body, badges);
  if (tag === 'button') body.addEventListener('click', () => page.openActions(p.id));
  return el;
}

export function updateTile(page, el, p, room) {
  const isOwner = p.id === room.ownerId;
  const isMe = p.id === page.myId;
  // The actions button exists only for the owner looking at someone else: rebuild if that changed.
  const wantButton = actionable(page, p);
  const body = el.querySelector('.tile-body');
  if ((body.tagName === 'BUTTON') !== wantButton) {
    const fresh = createTile(page, p);
    fresh.dataset.key = el.dataset.key;
    el.replaceChildren(...fresh.childNodes);
  }
  el.dataset.role = isOwner ? 'owner' : 'speaker';
  el.dataset.muted = String(p.muted);
  el.dataset.micUnavailable = String(p.micUnavailable);
  el.classList.toggle('is-muted', p.muted);
  el.classList.toggle('is-me', isMe);
  const video = isMe ? page.videoStreams.local
    : isOwner && !room.audioOnly ? page.videoStreams.remote : page.cameras.get(p.id) ?? null;
  setTileVideo(el, video, isMe);
  const tileBody = el.querySelector('.tile-body');
  tileBody.setAttribute('aria-label', `${p.username}${isMe ? ' (you)' : ''}, ${isOwner ? 'host' : p.moderator ? 'co-host' : 'speaker'}${p.micUnavailable ? ', no microphone' : p.muted ? ', muted' : ''}${wantButton ? '. Open actions' : ''}`);
  setChildren(el.querySelector('.tile-name'),
    h('span', { class: 'name-text' }, p.username),
    isMe ? h('span', { class: 'you' }, ' (you)') : null);
  setChildren(el.querySelector('.tile-badges'),
    isOwner ? h('span', { class: 'badge badge-host', title: 'Host' }, icon('crown'), h('span', {}, 'Host')) : null,
    !isOwner && p.moderator ? h('span', { class: 'badge badge-cohost', title: 'Co-host', dataset: { badge: 'co-host' } }, icon('shield'), h('span', {}, 'Co-host')) : null,
    p.micUnavailable
      ? h('span', { class: 'badge badge-no-mic', title: 'No microphone', dataset: { badge: 'no-mic' } }, icon('mic-off'), h('span', {}, 'No mic'))
      : null,
    p.muted && !p.micUnavailable ? h('span', { class: 'badge badge-muted', title: 'Muted', dataset: { badge: 'muted' } }, icon('mic-off'), h('span', { class: 'sr-only' }, 'Muted')) : null);
}

function setTileVideo(el, stream, mirror) {
  const media = el.querySelector('.tile-media');
  let video = media.querySelector('video');
  el.classList.toggle('tile-video', !!stream);
  if (!stream) {
    if (video) video.remove();
    return;
  }
  if (!video) {
    video = h('video', { autoplay: true, playsinline: true, muted: true, class: mirror ? 'mirror' : '' });
    video.muted = true;
    media.append(video);
  }
  if (video.srcObject !== stream) {
    video.srcObject = stream;
    video.play().catch(() => {});
  }
  video.classList.toggle('mirror', mirror);
}

export function createPerson(page, p) {
  const tag = actionable(page, p) ? 'button' : 'div';
  const body = h(tag, { class: 'person-body', type: tag === 'button' ? 'button' : null },
    h('span', { class: 'person-avatar' }, avatar(p, 'md'), h('span', { class: 'hand-badge', title: 'Hand raised' }, icon('hand'))),
    h('span', { class: 'person-name' }));
  if (tag === 'button') body.addEventListener('click', () => page.openActions(p.id));
  return h('li', { class: 'person', dataset: { userId: p.id } }, body);
}

export function updatePerson(page, el, p) {
  const isMe = p.id === page.myId;
  const wantButton = actionable(page, p);
  const body = el.querySelector('.person-body');
  if ((body.tagName === 'BUTTON') !== wantButton) el.replaceChildren(...createPerson(page, p).childNodes);
  el.dataset.hand = String(p.raisedHand);
  el.dataset.invited = String(p.invited);
  el.classList.toggle('is-invited', p.invited);
  el.classList.toggle('has-hand', p.raisedHand);
  el.classList.toggle('is-me', isMe);
  el.querySelector('.person-body').setAttribute('aria-label', `${p.username}${isMe ? ' (you)' : ''}${p.raisedHand ? ', hand raised' : ''}${p.invited ? ', invited to speak' : ''}${wantButton ? '. Open actions' : ''}`);
  setChildren(el.querySelector('.person-name'), p.username, isMe ? h('span', { class: 'you' }, ' (you)') : null,
    p.invited ? h('span', { class: 'pill pill-invited' }, 'Invited') : null);
}

export function createHand(page, p) {
  return h('li', { class: 'hand-row', dataset: { userId: p.id } },
    avatar(p, 'sm'),
    h('span', { class: 'hand-name' }, p.username,
      p.handReason ? h('span', { class: 'hand-reason' }, `“${p.handReason}”`) : null),
    h('span', { class: 'hand-actions' },
      h('button', { type: 'button', class: 'btn btn-ghost btn-sm', dataset: { action: 'deny' }, 'aria-label': `Deny ${p.username}`, onclick: (e) => busy(e.currentTarget, () => page.promote(p.id, false)) }, 'Deny'),
      h('button', { type: 'button', class: 'btn btn-primary btn-sm', dataset: { action: 'allow' }, 'aria-label': `Allow ${p.username} to speak`, onclick: (e) => busy(e.currentTarget, () => page.promote(p.id, true)) }, 'Allow')));
}
