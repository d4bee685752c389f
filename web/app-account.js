// Accounts in the rooms app (issue 16): sign up or sign in with a username and a password
// (the session is an HttpOnly cookie the server sets; the page only keeps the CSRF token it
// must send with every change), or stay a guest with just a name.
import { busy, h } from '/app-ui.js';

/** The API's `data`, or an Error with its readable message (`status` set). */
export async function api(method, path, { body, csrf } = {}) {
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (csrf) headers['x-csrf-token'] = csrf;
  let response;
  try {
    response = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin',
    });
  } catch (err) {
    throw new Error(`Cannot reach the server (${err.message}). Check your connection and try again.`);
  }
  const reply = await response.json().catch(() => null);
  if (!response.ok) {
    const err = new Error(reply?.data?.message ?? `The server answered ${response.status}`);
    err.status = response.status;
    throw err;
  }
  return reply?.data;
}

/** The signed-in account of this browser (`{account, csrf, followers, following}`), or null. */
export async function currentAccount() {
  try {
    return await api('GET', '/api/account/me');
  } catch (err) {
    if (err.status === 401) return null;
    throw err;
  }
}

/** Signs in (`mode` `sign-in`) or up (`sign-up`); returns `{account, csrf, …}`. */
export function accountSignIn(mode, username, password) {
  return api('POST', `/api/account/${mode}`, { body: { username, password } });
}

/** Ends this browser's session. */
export function accountSignOut(csrf) {
  return api('POST', '/api/account/sign-out', { body: {}, csrf });
}

/** Follows (or with `follow` false, unfollows) account `id`. */
export function setFollowing(csrf, id, follow) {
  return api(follow ? 'POST' : 'DELETE', `/api/users/${encodeURIComponent(id)}/follow`, { csrf });
}

/** A profile by username: `{account, followers, following, followedByMe, blockedByMe}`. */
export function userProfile(name) {
  return api('GET', `/api/users/${encodeURIComponent(name)}`);
}

/** Blocks (or with `block` false, unblocks) account `id`. */
export function setBlocked(csrf, id, block) {
  return api(block ? 'POST' : 'DELETE', `/api/users/${encodeURIComponent(id)}/block`, { csrf });
}

/**
 * The account half of the sign-in page: username and password, "Sign in" and "Create account".
 * `onSignedIn(data)` runs with the API's answer; its error (if it throws) is shown too.
 */
export function accountForm(onSignedIn) {
  const username = h('input', {
    id: 'account-username', name: 'username', required: true, maxlength: 160, autocomplete: 'username',
    autocapitalize: 'off', spellcheck: 'false',
  });
  const password = h('input', {
    id: 'account-password', name: 'password', type: 'password', required: true, maxlength: 256,
    autocomplete: 'current-password', 'aria-describedby': 'account-hint',
  });
  const errorEl = h('p', { class: 'field-error', id: 'account-error', role: 'alert', hidden: true });
  const signInButton = h('button', { type: 'submit', class: 'btn btn-primary', id: 'account-signin', value: 'sign-in' }, 'Sign in');
  const signUpButton = h('button', { type: 'submit', class: 'btn btn-ghost', id: 'account-signup', value: 'sign-up' }, 'Create account');
  const form = h('form', { class: 'form account-form', id: 'account-form', novalidate: true },
    h('h2', { class: 'signin-subtitle' }, 'Or use an account'),
    h('p', { class: 'field-hint' }, 'Keep your name, follow people and hear when they go live.'),
    h('label', { class: 'label', for: 'account-username' }, 'Username'),
    username,
    h('label', { class: 'label', for: 'account-password' }, 'Password'),
    password,
    h('p', { class: 'field-hint', id: 'account-hint' }, 'At least 8 characters, not easy to guess.'),
    errorEl,
    h('div', { class: 'form-actions' }, signInButton, signUpButton));
  const showError = (message) => {
    errorEl.textContent = message;
    errorEl.hidden = !message;
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const mode = e.submitter?.value === 'sign-up' ? 'sign-up' : 'sign-in';
    password.autocomplete = mode === 'sign-up' ? 'new-password' : 'current-password';
    if (!username.value.trim() || !password.value) {
      showError('Enter a username and a password.');
      return;
    }
    showError('');
    const button = mode === 'sign-up' ? signUpButton : signInButton;
    try {
      await busy(button, async () => onSignedIn(await accountSignIn(mode, username.value.trim(), password.value)),
        mode === 'sign-up' ? 'Creating…' : 'Signing in…');
    } catch (err) {
      showError(err.message);
    }
  });
  return form;
}
