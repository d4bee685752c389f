// Rooms app: watch party. The host attaches a stream (the content: a film, a match, a
// screen, fed by RTMP or the demo page) that everyone in the room watches while the room
// talks. The content is a second stream viewed beside the room's own: its own View, its own
// <video> (with its sound), and the room's audio goes on untouched. The host proves they may
// publish to it with the publish token they use for it; the server checks that, and that
// anyone may watch it.
import { View } from '/podium.js';
import { h, openDialog } from '/app-ui.js';

/** The content panel of a room page: shows `room.content` while it is set. */
export class WatchParty {
  /** @param {HTMLElement} panel the (initially hidden) section the video goes in */
  constructor(panel) {
    this.panel = panel;
    this.stream = null;
    this.view = null;
    this.video = h('video', { class: 'content-video', id: 'content-video', autoplay: true, playsInline: true, controls: true });
    this.caption = h('p', { class: 'content-caption', id: 'content-caption' });
    panel.append(this.video, this.caption);
    panel.hidden = true;
  }

  /** Shows `stream` (`null`: nothing); a change replaces the view. */
  update(stream) {
    if (stream === this.stream) return;
    this.stop();
    this.stream = stream;
    this.panel.hidden = !stream;
    if (!stream) return;
    this.caption.textContent = `Watching together: ${stream}`;
    this.start(stream);
  }

  async start(stream) {
    const view = new View({ endpoint: location.origin, streamName: stream });
    this.view = view;
    view.addEventListener('track', () => {
      if (this.view !== view) return;
      this.video.srcObject = view.mediaStream;
      this.video.play().catch(() => {
        // Autoplay with sound refused: play muted until the user turns it on.
        this.video.muted = true;
        this.video.play().catch(() => {});
      });
    });
    view.addEventListener('stopped', () => {
      if (this.view === view) this.caption.textContent = `Waiting for ${stream} to go live…`;
    });
    try {
      await view.connect({ events: ['active', 'inactive', 'stopped'] });
    } catch (err) {
      if (this.view !== view) return;
      this.caption.textContent = `Could not watch ${stream}: ${err.message}`;
      // Not live yet (or gone for a moment): try again shortly while it is still attached.
      setTimeout(() => { if (this.view === view) this.start(stream); }, 3000);
    }
  }

  stop() {
    this.view?.stop();
    this.view = null;
    this.video.srcObject = null;
  }

  close() {
    this.stop();
    this.stream = null;
  }
}

/**
 * The host's watch-party dialog: attach a stream (name and the publish token that proves it
 * is theirs) or, when one is attached, stop it. `onSubmit({stream, token})`, `stream` null
 * to stop; it returns a promise (an error is shown in the dialog).
 */
export function watchPartyDialog({ current, onSubmit }) {
  const stream = h('input', { id: 'content-stream', name: 'stream', required: true, maxLength: 64, autocomplete: 'off', value: current ?? '' });
  const token = h('input', { id: 'content-token', name: 'token', type: 'password', autocomplete: 'off' });
  const error = h('p', { class: 'field-error', id: 'content-error', role: 'alert', hidden: true });
  const submit = async (value) => {
    error.hidden = true;
    try {
      await onSubmit(value);
      dialog.close();
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    }
  };
  const form = h('form', {
    class: 'form',
    id: 'watch-party-form',
    onsubmit: (e) => { e.preventDefault(); submit({ stream: stream.value.trim(), token: token.value }); },
  },
  h('p', { class: 'dialog-text' }, 'Everyone in the room watches this stream while you talk. Publish to it (RTMP, the demo page) with your publish token.'),
  h('label', { class: 'label', for: 'content-stream' }, 'Stream name'),
  stream,
  h('label', { class: 'label', for: 'content-token' }, 'Publish token'),
  token,
  error,
  h('div', { class: 'dialog-actions' },
    current ? h('button', { type: 'button', class: 'btn btn-danger', id: 'stop-content', onclick: () => submit({ stream: null }) }, 'Stop watch party') : null,
    h('button', { type: 'button', class: 'btn btn-ghost', onclick: () => dialog.close() }, 'Cancel'),
    h('button', { type: 'submit', class: 'btn btn-primary', id: 'attach-content' }, current ? 'Change' : 'Start watch party')));
  const dialog = openDialog({ title: 'Watch party', labelledBy: 'watch-party-title', content: form });
  return dialog;
}
