/**
 * @module main
 * The demo page's entry: a stored, unexpired session goes straight to the chat;
 * anything else to the sign-in form. Built only on the public SDK (`@parley/sdk`).
 */
import { startChatSession, sessionExpiredNotice } from './chat-session.js';
import { createSignInView } from './sign-in-view.js';
import { clearSession, loadSession, saveSession, type StoredSession } from './session-store.js';

const signIn = createSignInView((session) => {
  saveSession(session);
  startChat(session);
});

function startChat(session: StoredSession): void {
  startChatSession(session, (notice) => {
    clearSession();
    signIn.show(notice);
  });
}

const stored = loadSession();
if (stored === null) {
  signIn.show();
} else if (stored.expiresAt <= Date.now()) {
  clearSession();
  signIn.show(sessionExpiredNotice);
} else {
  startChat(stored);
}
