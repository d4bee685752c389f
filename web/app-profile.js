// Rooms app: profile pages (`#/u/<username>`, issue 16): avatar, display name, bio, follower
// and following counts and lists, upcoming rooms; Follow and Block for others; for your own,
// editing the display name and bio and uploading an avatar (the server checks, resizes and
// re-encodes it), and deleting the account with its password.
import {
  api, setBlocked, setFollowing, userProfile,
} from '/app-account.js';
import { clock } from '/app-replay.js';
import { when } from '/app-schedule.js';
import {
  avatar, busy, h, icon, setChildren, toast, toastError,
} from '/app-ui.js';

/** An account's picture: the uploaded avatar, or initials on a colour. */
export function accountAvatar(account, size = 'lg') {
  if (!account.avatarVersion) return avatar({ username: account.displayName || account.username }, size);
  return h('img', {
    class: `avatar avatar-${size} avatar-img`,
    src: `/api/users/${encodeURIComponent(account.id)}/avatar?v=${account.avatarVersion}`,
    alt: '',
  });
}

/**
 * Renders the profile of `name` into `root`; returns `{destroy}`.
 * @param {HTMLElement} root
 * @param {object} app the shared app object
 * @param {string} name a username
 */
export function renderProfile(root, app, name) {
  let gone = false;
  const section = h('section', { class: 'profile', id: 'profile', 'aria-busy': 'true' },
    h('p', { class: 'lead' }, 'Loading…'));
  setChildren(root, section);
  document.title = `${name} · Podium`;

  async function load() {
    let profile;
    try {
      profile = await userProfile(name);
    } catch (err) {
      if (gone) return;
      setChildren(section,
        h('h1', { class: 'page-title' }, 'No such person'),
        h('p', { class: 'lead' }, err.status === 404 ? `Nobody here is called ${name}.` : err.message),
        h('a', { class: 'btn btn-primary', href: '#/' }, 'Back to Live now'));
      section.removeAttribute('aria-busy');
      return;
    }
    if (gone) return;
    const { account } = profile;
    const mine = app.account?.account.id === account.id;
    const lists = h('div', { class: 'profile-lists' });
    const upcoming = h('ul', { class: 'upcoming-list', id: 'profile-upcoming' });
    const replays = h('ul', { class: 'upcoming-list', id: 'profile-replays' });
    const count = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
    const follow = !mine && app.account
      ? h('button', {
        type: 'button',
        class: `btn ${profile.followedByMe ? 'btn-ghost' : 'btn-primary'}`,
        id: 'profile-follow',
        'aria-pressed': String(profile.followedByMe),
        onclick: (e) => busy(e.currentTarget, async () => {
          try {
            await setFollowing(app.account.csrf, account.id, !profile.followedByMe);
            load();
          } catch (err) {
            toastError(err, 'Follow');
          }
        }),
      }, profile.followedByMe ? 'Following' : 'Follow')
      : null;
    const block = !mine && app.account
      ? h('button', {
        type: 'button',
        class: 'btn btn-ghost',
        id: 'profile-block',
        onclick: (e) => busy(e.currentTarget, async () => {
          try {
            await setBlocked(app.account.csrf, account.id, !profile.blockedByMe);
            // Out of the rooms we host, now (the server checks the block itself).
            if (!profile.blockedByMe && app.socket) await app.call('apply-blocks').catch(() => {});
            load();
          } catch (err) {
            toastError(err, 'Block');
          }
        }),
      }, profile.blockedByMe ? 'Unblock' : 'Block')
      : null;
    const tab = (which, label, n) => h('button', {
      type: 'button', class: 'btn btn-ghost btn-sm', id: `profile-${which}`, onclick: () => showList(which),
    }, h('strong', {}, String(n)), ` ${label}`);
    setChildren(section,
      h('div', { class: 'profile-head' },
        accountAvatar(account, 'xl'),
        h('div', { class: 'profile-names' },
          h('h1', { class: 'page-title', id: 'profile-name' }, account.displayName),
          h('p', { class: 'muted-text', id: 'profile-username' }, `@${account.username}`),
          account.bio ? h('p', { class: 'profile-bio', id: 'profile-bio' }, account.bio) : null,
          h('div', { class: 'profile-counts' },
            tab('followers', profile.followers === 1 ? 'follower' : 'followers', profile.followers),
            tab('following', 'following', profile.following))),
        h('div', { class: 'profile-actions' }, follow, block)),
      mine ? editForm(account) : null,
      mine ? deleteForm() : null,
      h('h2', { class: 'section-title' }, icon('clock'), 'Upcoming rooms'),
      upcoming,
      h('h2', { class: 'section-title' }, icon('replay'), 'Replays'),
      replays,
      lists);
    section.removeAttribute('aria-busy');
    document.title = `${account.displayName} · Podium`;
    api('GET', `/api/users/${encodeURIComponent(account.id)}/schedules`).then(({ schedules }) => {
      setChildren(upcoming, schedules.length
        ? schedules.map((s) => h('li', { class: 'upcoming-item', dataset: { scheduleId: s.id } },
          h('div', { class: 'upcoming-when' }, when(s.startsAt)),
          h('div', { class: 'upcoming-text' }, h('strong', { class: 'upcoming-title' }, s.title),
            s.topic ? h('span', { class: 'upcoming-topic' }, s.topic) : null)))
        : h('li', { class: 'empty-line' }, 'Nothing scheduled.'));
    }, () => {});
    listReplays(replays, account, mine);

    async function showList(which) {
      try {
        const people = await api('GET', `/api/users/${encodeURIComponent(account.id)}/${which}`);
        setChildren(lists,
          h('h2', { class: 'section-title' }, which === 'followers' ? 'Followers' : 'Following'),
          people.length
            ? h('ul', { class: 'people-list', id: `${which}-list` }, people.map((p) => h('li', {},
              h('a', { class: 'person-link', href: `#/u/${encodeURIComponent(p.username)}` },
                accountAvatar(p, 'sm'), h('span', {}, p.displayName), h('span', { class: 'muted-text' }, ` @${p.username}`)))))
            : h('p', { class: 'empty-line' }, count(0, which === 'followers' ? 'follower' : 'account') + ' yet.'));
      } catch (err) {
        toastError(err, 'Could not load the list');
      }
    }
  }

  /** The person's recorded rooms I may listen to; mine can be deleted. */
  function listReplays(list, account, mine) {
    api('GET', `/api/users/${encodeURIComponent(account.id)}/replays`).then(({ replays }) => {
      if (gone) return;
      setChildren(list, replays.length
        ? replays.map((r) => h('li', { class: 'upcoming-item', dataset: { replayId: r.id } },
          h('div', { class: 'upcoming-when' }, when(Math.floor(r.startedMs / 1000))),
          h('div', { class: 'upcoming-text' },
            h('a', { class: 'upcoming-title replay-link', href: `#/replay/${encodeURIComponent(r.id)}` }, r.title),
            h('span', { class: 'upcoming-topic' }, `${clock((r.endedMs ?? r.startedMs) - r.startedMs)} · ${r.speakers.join(', ')}`)),
          mine ? h('button', {
            type: 'button', class: 'btn btn-ghost btn-sm replay-delete', onclick: (e) => busy(e.currentTarget, async () => {
              try {
                await api('DELETE', `/api/replays/${encodeURIComponent(r.id)}`, { csrf: app.account.csrf });
                listReplays(list, account, mine);
              } catch (err) {
                toastError(err, 'Could not delete the replay');
              }
            }),
          }, 'Delete') : null))
        : h('li', { class: 'empty-line' }, 'No replays yet.'));
    }, () => {});
  }

  /** My display name, bio and avatar. */
  function editForm(account) {
    const displayName = h('input', { id: 'profile-display-name', maxlength: 48, value: account.displayName });
    const bio = h('textarea', { id: 'profile-bio-input', maxlength: 560, rows: 3 }, account.bio);
    const file = h('input', { id: 'profile-avatar', type: 'file', accept: 'image/png,image/jpeg,image/webp,image/gif' });
    const error = h('p', { class: 'field-error', id: 'profile-error', role: 'alert', hidden: true });
    const save = h('button', { type: 'submit', class: 'btn btn-primary', id: 'profile-save' }, 'Save');
    const form = h('form', { class: 'form profile-form', id: 'profile-form' },
      h('h2', { class: 'section-title' }, 'Your profile'),
      h('label', { class: 'label', for: 'profile-display-name' }, 'Display name'), displayName,
      h('label', { class: 'label', for: 'profile-bio-input' }, 'Bio'), bio,
      h('label', { class: 'label', for: 'profile-avatar' }, 'Picture (PNG, JPEG, WebP or GIF, up to 2 MiB)'), file,
      error,
      h('div', { class: 'form-actions' }, save));
    const show = (message) => {
      error.textContent = message;
      error.hidden = !message;
    };
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      show('');
      try {
        await busy(save, async () => {
          await api('PATCH', '/api/account/profile', {
            body: { displayName: displayName.value, bio: bio.value },
            csrf: app.account.csrf,
          });
          const [picture] = file.files;
          if (picture) await uploadAvatar(picture);
        }, 'Saving…');
        toast('Profile saved.', { kind: 'success', id: 'profile' });
        load();
      } catch (err) {
        show(err.message);
      }
    });
    return form;
  }

  /** Deleting my account, for good, with my password. */
  function deleteForm() {
    const password = h('input', {
      id: 'delete-password', type: 'password', autocomplete: 'current-password', required: true,
    });
    const error = h('p', { class: 'field-error', id: 'delete-error', role: 'alert', hidden: true });
    const submit = h('button', { type: 'submit', class: 'btn btn-danger', id: 'delete-account' }, 'Delete my account');
    const form = h('form', { class: 'form profile-form', id: 'delete-form' },
      h('p', { class: 'muted-text' }, 'This deletes your profile and picture, who you follow and who follows you, your blocks, scheduled rooms and replays, for good. Others’ replays keep your voice under your name.'),
      h('label', { class: 'label', for: 'delete-password' }, 'Your password, to confirm'), password,
      error,
      h('div', { class: 'form-actions' }, submit));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      error.hidden = true;
      try {
        await busy(submit, () => api('DELETE', '/api/account', {
          body: { password: password.value }, csrf: app.account.csrf,
        }), 'Deleting…');
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
        return;
      }
      history.replaceState(null, '', '#/');
      app.signOut();
      toast('Your account and everything it kept are deleted.', { kind: 'success', title: 'Account deleted', id: 'account-deleted' });
    });
    return h('details', { class: 'danger-zone', id: 'danger-zone' },
      h('summary', { class: 'section-title' }, 'Delete your account'), form);
  }

  async function uploadAvatar(picture) {
    const response = await fetch('/api/account/avatar', {
      method: 'PUT',
      headers: { 'content-type': picture.type || 'application/octet-stream', 'x-csrf-token': app.account.csrf },
      body: picture,
      credentials: 'same-origin',
    });
    const reply = await response.json().catch(() => null);
    if (!response.ok) throw new Error(reply?.data?.message ?? `The server answered ${response.status}`);
  }

  load();
  return {
    destroy() {
      gone = true;
    },
  };
}
