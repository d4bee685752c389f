// Rooms app: recording a room for its replay. Moderators of a room whose host has an account
// start and stop it; everyone in the room sees the REC sign while it runs, and is told when it
// starts and stops (nobody is recorded without being shown). The replay appears on the host's
// profile once the recording stops.
import { participant } from '/app-store.js';
import {
  busy, h, icon, toast, toastError,
} from '/app-ui.js';

/** The REC sign, while the room is being recorded (`id` for the room page's own). */
export function recordingPill(room, id) {
  if (!room.recording) return null;
  return h('span', { class: 'pill pill-rec', id, title: 'This room is being recorded for a replay' },
    h('span', { class: 'rec-dot', 'aria-hidden': 'true' }), 'REC');
}

/** The moderators' Record / Stop recording button (rooms opened by someone with an account). */
export function recordButton(page, room) {
  if (!page.moderating || !participant(room, room.ownerId)?.accountId) return null;
  const on = room.recording;
  return h('button', {
    type: 'button',
    class: `btn btn-ghost btn-sm ${on ? 'is-recording' : ''}`,
    id: 'toggle-recording',
    'aria-pressed': String(on),
    onclick: (e) => busy(e.currentTarget, async () => {
      try {
        await page.app.call('set-recording', page.roomId, !on);
      } catch (err) {
        toastError(err, on ? 'Could not stop recording' : 'Could not record');
      }
    }),
  }, icon(on ? 'stop' : 'record'), on ? 'Stop recording' : 'Record');
}

/** Tells a member that recording started or stopped. */
export function announceRecording(room, on) {
  const host = participant(room, room?.ownerId)?.username ?? 'the host';
  toast(on
    ? 'This room is being recorded. Everyone on stage is heard in the replay.'
    : `The replay will be on ${host}’s profile.`, {
    kind: on ? 'warn' : 'info', id: 'recording', title: on ? 'Recording' : 'Recording stopped',
  });
}
