/**
 * @module sign-in-view
 * Register or sign in with a built-in account over plain HTTP (no token yet, so no
 * socket), then hand the session on.
 */
import { createParleyHttpClient } from '@parley/sdk';
import { byId } from './dom.js';
import { describeError } from './describe-error.js';
import { isUserId, userIdRule } from './user-id.js';
import type { StoredSession } from './session-store.js';

export interface SignInView {
  show(notice?: string): void;
}

export function createSignInView(onSignedIn: (session: StoredSession) => void): SignInView {
  const view = byId('sign-in-view', HTMLElement);
  const form = byId('sign-in-form', HTMLFormElement);
  const userField = byId('sign-in-user', HTMLInputElement);
  const passwordField = byId('sign-in-password', HTMLInputElement);
  const notice = byId('sign-in-notice', HTMLElement);
  const error = byId('sign-in-error', HTMLElement);
  const buttons = form.querySelectorAll('button');
  const http = createParleyHttpClient({ url: location.origin });

  const setBusy = (busy: boolean) => {
    form.setAttribute('aria-busy', String(busy));
    for (const button of buttons) button.disabled = busy;
  };

  const fail = (message: string, field: HTMLInputElement) => {
    error.textContent = message;
    field.setAttribute('aria-invalid', 'true');
    field.focus();
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const action = event.submitter instanceof HTMLButtonElement && event.submitter.value === 'register' ? 'register' : 'login';
    const userId = userField.value.trim();
    const password = passwordField.value;
    userField.removeAttribute('aria-invalid');
    passwordField.removeAttribute('aria-invalid');
    if (!isUserId(userId)) return fail(userIdRule, userField);
    if (password.length < 8) return fail('A password has at least 8 characters.', passwordField);
    error.textContent = '';
    setBusy(true);
    http.auth[action].mutate({ userId, password }).then(
      ({ token, expiresAt }) => {
        setBusy(false);
        passwordField.value = '';
        notice.textContent = '';
        view.hidden = true;
        onSignedIn({ userId, token, expiresAt: expiresAt.getTime() });
      },
      (reason: unknown) => {
        setBusy(false);
        fail(describeError(reason), passwordField);
      },
    );
  });

  return {
    show(message = '') {
      notice.textContent = message;
      error.textContent = '';
      passwordField.value = '';
      view.hidden = false;
      (userField.value === '' ? userField : passwordField).focus();
    },
  };
}
