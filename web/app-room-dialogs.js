// Rooms app: the room page's questions — an invitation to speak (the microphone opens only on
// "Join the stage"), removing someone (for the room's lifetime) and leaving as the host.
// Each returns the open <dialog>; the caller keeps it to close it when the page goes away.
import { h, openDialog } from '/app-ui.js';

/** A two-button question: `cancel` closes, `confirm` (id `confirmId`) closes and acts. */
function ask({ title, labelledBy, text, cancel, confirm, confirmId, confirmClass, onConfirm, onCancel, id }) {
  const dialog = openDialog({
    title,
    labelledBy,
    content: h('div', id ? { id } : {},
      h('p', { class: 'dialog-text' }, text),
      h('div', { class: 'dialog-actions' },
        h('button', { type: 'button', class: 'btn btn-ghost', id: cancel.id, onclick: () => { dialog.close(); onCancel?.(); } }, cancel.label),
        h('button', {
          type: 'button', class: `btn ${confirmClass}`, id: confirmId, onclick: () => { dialog.close(); onConfirm(); },
        }, confirm))),
  });
  return dialog;
}

/** The host invites me on stage; `onAnswer(accept)`. */
export function inviteDialog({ host, onAnswer }) {
  return ask({
    title: 'Join the stage?',
    labelledBy: 'invite-title',
    id: 'invite-dialog',
    text: `${host} invites you to speak. Your microphone turns on only if you accept.`,
    cancel: { label: 'Not now', id: 'decline-invite' },
    confirm: 'Join the stage',
    confirmId: 'accept-invite',
    confirmClass: 'btn-primary',
    onConfirm: () => onAnswer(true),
    onCancel: () => onAnswer(false),
  });
}

/** The host removes `name` from the room. */
export function kickDialog({ name, onConfirm }) {
  return ask({
    title: `Remove ${name}?`,
    labelledBy: 'kick-title',
    text: `${name} leaves the room and cannot join it again while it is live.`,
    cancel: { label: 'Cancel' },
    confirm: 'Remove',
    confirmId: 'confirm-kick',
    confirmClass: 'btn-danger',
    onConfirm,
  });
}

/** The host leaves: `next` (a name) takes over, or the room ends when it is null. */
export function leaveDialog({ next, onConfirm }) {
  return ask({
    title: 'Leave the room?',
    labelledBy: 'leave-title',
    text: next ? `${next} will become the host and the room goes on.` : 'Nobody else is on stage, so the room will end for everyone.',
    cancel: { label: 'Stay' },
    confirm: next ? 'Leave' : 'End room',
    confirmId: 'confirm-leave',
    confirmClass: 'btn-danger',
    onConfirm,
  });
}
