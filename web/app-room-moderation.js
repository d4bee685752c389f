// Rooms app: what one can do about another member, from their tile or their line in the
// audience. Everyone signed in with an account can follow or block a member who has one;
// moderators (the host and the co-hosts the host named) also move them on and off the stage,
// mute them, stop their chat, name or unname co-hosts, and remove them (for now or for good).
import {
  api, setBlocked, setFollowing, userProfile,
} from '/app-account.js';
import { canModerate, participant } from '/app-store.js';
import {
  avatar, busy, h, icon, openDialog, toast, toastError,
} from '/app-ui.js';

/** Calls the rooms server, with a readable error for `what` if it refuses. */
async function attempt(page, what, event, ...args) {
  try {
    await page.app.call(event, page.roomId, ...args);
  } catch (err) {
    toastError(err, what);
  }
}

export const promote = (page, userId, on) => attempt(page, on ? 'Could not invite to the stage' : 'Could not update', 'promote-user', userId, on);
export const muteSpeaker = (page, userId) => attempt(page, 'Could not mute', 'mute-speaker', userId);
const setModerator = (page, userId, on) => attempt(page, 'Could not change the co-hosts', 'set-moderator', userId, on);
const muteChat = (page, userId, muted) => attempt(page, 'Could not change their chat', 'mute-chat', userId, muted);
const kick = (page, userId, ban) => attempt(page, 'Could not remove', 'kick-user', userId, { ban });

/** Whether I can open a sheet for this member at all (anyone signed in can report). */
export function hasActions(page, room, p) {
  if (!p || p.id === page.myId) return false;
  const moderating = canModerate(room, page.myId) && (p.id !== room.ownerId || room.ownerId === page.myId);
  return moderating || !!page.app.account;
}

/** The action sheet for one member. */
export function openActions(page, userId) {
  const room = page.store.room(page.roomId);
  const p = participant(room, userId);
  if (!hasActions(page, room, p)) return null;
  const onStage = room.speakers.includes(userId);
  const moderating = canModerate(room, page.myId) && userId !== room.ownerId;
  let dialog;
  const act = (action, label, iconName, fn, cls = '') => h('button', {
    type: 'button', class: `sheet-action ${cls}`.trim(), dataset: { action },
    onclick: async (e) => { await busy(e.currentTarget, fn); dialog.close(); },
  }, icon(iconName), label);
  const role = userId === room.ownerId ? 'Host' : p.moderator ? 'Co-host' : onStage ? 'Speaker' : 'Listener';
  const state = onStage ? (p.muted ? ' · muted' : '') : (p.raisedHand ? ' · hand raised' : '');
  const social = h('div', { class: 'sheet-social', id: 'sheet-social' });
  const content = h('div', { class: 'sheet' },
    h('div', { class: 'sheet-person' }, avatar(p, 'lg'),
      h('div', {}, h('strong', {}, p.username),
        h('span', { class: 'muted-text' }, `${role}${state}`),
        p.raisedHand && p.handReason ? h('span', { class: 'hand-reason' }, `“${p.handReason}”`) : null)),
    social,
    moderating ? h('div', { class: 'sheet-actions' },
      onStage
        ? act('demote', 'Move to audience', 'down', () => promote(page, userId, false))
        : (p.invited ? null : act('promote', p.raisedHand ? 'Allow to speak' : 'Invite to speak', 'up', () => promote(page, userId, true))),
      onStage && !p.muted ? act('mute', 'Mute microphone', 'mic-off', () => muteSpeaker(page, userId)) : null,
      onStage ? act(p.moderator ? 'unmoderate' : 'moderate', p.moderator ? 'Remove as co-host' : 'Make co-host', 'shield', () => setModerator(page, userId, !p.moderator)) : null,
      p.raisedHand && !onStage ? act('deny', 'Lower their hand', 'hand', () => promote(page, userId, false)) : null,
      p.invited && !onStage ? act('withdraw', 'Withdraw the invitation', 'down', () => promote(page, userId, false)) : null,
      act(p.chatMuted ? 'unmute-chat' : 'mute-chat', p.chatMuted ? 'Allow their messages' : 'Turn off their messages', 'chat', () => muteChat(page, userId, !p.chatMuted)),
      act('kick', 'Remove from room', 'kick', () => confirmKick(page, userId), 'danger')) : null);
  if (page.app.account) {
    content.append(h('div', { class: 'sheet-actions' }, act('report', 'Report to the server’s operator', 'warn', () => reportDialog(page, {
      kind: 'user', target: p.accountId ?? p.username, targetName: p.username, roomId: page.roomId,
    }))));
  }
  dialog = openDialog({ title: p.username, content, labelledBy: 'actions-title', className: 'dialog-sheet' });
  dialog.dataset.userId = userId;
  if (page.app.account && p.accountId) fillSocial(page, social, p, () => dialog.close());
  return dialog;
}

/** Follow and block buttons for a member with an account, from their profile. */
async function fillSocial(page, el, p, close) {
  let profile;
  try {
    profile = await userProfile(p.username);
  } catch {
    return; // Their account may be gone; the room actions still work.
  }
  const { csrf } = page.app.account;
  const { id } = profile.account;
  const count = h('span', { class: 'muted-text', id: 'sheet-followers' }, `${profile.followers} follower${profile.followers === 1 ? '' : 's'}`);
  const follow = h('button', {
    type: 'button',
    class: `btn btn-sm ${profile.followedByMe ? 'btn-ghost' : 'btn-primary'}`,
    id: 'sheet-follow',
    'aria-pressed': String(profile.followedByMe),
    onclick: (e) => busy(e.currentTarget, async () => {
      try {
        await setFollowing(csrf, id, !profile.followedByMe);
        profile.followedByMe = !profile.followedByMe;
        profile.followers += profile.followedByMe ? 1 : -1;
        follow.textContent = profile.followedByMe ? 'Following' : 'Follow';
        follow.setAttribute('aria-pressed', String(profile.followedByMe));
        follow.classList.toggle('btn-primary', !profile.followedByMe);
        follow.classList.toggle('btn-ghost', profile.followedByMe);
        count.textContent = `${profile.followers} follower${profile.followers === 1 ? '' : 's'}`;
      } catch (err) {
        toastError(err, 'Follow');
      }
    }),
  }, profile.followedByMe ? 'Following' : 'Follow');
  const block = h('button', {
    type: 'button',
    class: 'btn btn-sm btn-ghost',
    id: 'sheet-block',
    onclick: (e) => busy(e.currentTarget, async () => {
      try {
        await setBlocked(csrf, id, !profile.blockedByMe);
        // Out of the rooms we host, now (the server checks the block itself).
        if (!profile.blockedByMe) await page.app.call('apply-blocks').catch(() => {});
        toast(profile.blockedByMe
          ? `${p.username} is no longer blocked.`
          : `${p.username} is blocked: you no longer see each other’s chat, and they cannot join rooms you host.`, { kind: 'info' });
        close();
      } catch (err) {
        toastError(err, 'Block');
      }
    }),
  }, profile.blockedByMe ? 'Unblock' : 'Block');
  el.replaceChildren(count, follow, block);
}

/** Removing someone: for now (they may come back) or for good (a ban for the room's life). */
function confirmKick(page, userId) {
  const p = participant(page.store.room(page.roomId), userId);
  if (!p) return;
  let dialog;
  const choose = (ban) => { dialog.close(); kick(page, userId, ban); };
  dialog = openDialog({
    title: `Remove ${p.username}?`,
    labelledBy: 'kick-title',
    content: h('div', {},
      h('p', { class: 'dialog-text' }, `${p.username} leaves the room. With a ban, they cannot come back while it is live, under any name or account.`),
      h('div', { class: 'dialog-actions' },
        h('button', { type: 'button', class: 'btn btn-ghost', onclick: () => dialog.close() }, 'Cancel'),
        h('button', { type: 'button', class: 'btn btn-ghost', id: 'confirm-kick', onclick: () => choose(false) }, 'Remove'),
        h('button', { type: 'button', class: 'btn btn-danger', id: 'confirm-ban', onclick: () => choose(true) }, 'Remove and ban'))),
  });
  page.confirmDialog = dialog;
}

/** Why my hand is raised: a reason the moderators see in their queue. */
export function handDialog(page, onSubmit) {
  const reason = h('input', {
    id: 'hand-reason', name: 'reason', maxlength: 100, autocomplete: 'off', placeholder: 'e.g. A question about pricing',
  });
  let dialog;
  const form = h('form', { class: 'form', id: 'hand-form' },
    h('label', { class: 'label', for: 'hand-reason' }, 'What would you like to say?'),
    reason,
    h('div', { class: 'dialog-actions' },
      h('button', { type: 'button', class: 'btn btn-ghost', onclick: () => dialog.close() }, 'Cancel'),
      h('button', { type: 'submit', class: 'btn btn-primary', id: 'hand-submit' }, 'Send')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    dialog.close();
    onSubmit(reason.value.trim() || null);
  });
  dialog = openDialog({ title: 'Say why', content: form, labelledBy: 'hand-title' });
  reason.focus();
  return dialog;
}

const REASONS = [
  ['spam', 'Spam or scam'],
  ['harassment', 'Harassment or bullying'],
  ['hate', 'Hate speech'],
  ['sexual', 'Sexual content'],
  ['violence', 'Violence or threats'],
  ['other', 'Something else'],
];

/** Reports a person or a room to the server's operator (stored; listed in the admin API). */
export function reportDialog(page, target) {
  const reason = h('select', { id: 'report-reason', name: 'reason', required: true },
    REASONS.map(([value, label]) => h('option', { value }, label)));
  const details = h('textarea', { id: 'report-details', name: 'details', rows: 3, maxlength: 2000, placeholder: 'What happened? (optional)' });
  const error = h('p', { class: 'field-error', id: 'report-error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'btn btn-danger', id: 'report-submit' }, 'Send report');
  let dialog;
  const form = h('form', { class: 'form', id: 'report-form' },
    h('p', { class: 'dialog-text' }, `The operator of this server reads reports and can act on them. ${target.targetName} is not told who reported.`),
    h('label', { class: 'label', for: 'report-reason' }, 'Reason'), reason,
    h('label', { class: 'label', for: 'report-details' }, 'Details'), details,
    error,
    h('div', { class: 'dialog-actions' },
      h('button', { type: 'button', class: 'btn btn-ghost', onclick: () => dialog.close() }, 'Cancel'),
      submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await busy(submit, () => api('POST', '/api/reports', {
        body: { ...target, reason: reason.value, details: details.value },
        csrf: page.app.account.csrf,
      }), 'Sending…');
      dialog.close();
      toast('Thank you. Your report went to the server’s operator.', { kind: 'success', id: 'report' });
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    }
  });
  dialog = openDialog({ title: `Report ${target.targetName}`, content: form, labelledBy: 'report-title' });
  page.reportDialog = dialog;
  return dialog;
}
