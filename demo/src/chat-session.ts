/**
 * @module chat-session
 * A signed-in user's page: one SDK client, the message subscription (resuming from the
 * last event id this browser handled), the conversation list, the open conversation and
 * the connection indicator. Ends when the user signs out or the server refuses the token.
 */
import {
  createParleyClient,
  localStorageCursorStore,
  subscribeMessages,
  type ConnectionState,
  type Message,
} from '@parley/sdk';
import { byId } from './dom.js';
import { isUnauthorized } from './describe-error.js';
import { indicatorState, showIndicator } from './connection-indicator.js';
import { ConversationList, conversationHref } from './conversation-list.js';
import { ConversationPane } from './conversation-pane.js';
import { UnreadCounts } from './unread-counts.js';
import { peerOf } from './peer.js';
import { isUserId, userIdRule } from './user-id.js';
import type { StoredSession } from './session-store.js';

export const sessionExpiredNotice = 'Your session has expired. Please sign in again.';

/** `setTimeout` fires at once for delays past this, so longer waits are re-armed. */
const maxTimerMs = 2 ** 31 - 1;

/** The peer named by a `#/<peer>` address, or null (no peer, or not a valid user id). */
function peerFromHash(): string | null {
  const match = /^#\/(.+)$/.exec(location.hash);
  if (!match?.[1]) return null;
  try {
    const peer = decodeURIComponent(match[1]);
    return isUserId(peer) ? peer : null;
  } catch {
    return null; // a malformed %-escape typed into the address bar
  }
}

export function startChatSession(session: StoredSession, onEnd: (notice: string) => void): void {
  const me = session.userId;
  const listeners = new AbortController();
  const { signal } = listeners;
  const view = byId('chat-view', HTMLElement);
  const indicator = byId('connection', HTMLElement);
  const account = byId('account', HTMLElement);
  const newConversation = byId('new-conversation-form', HTMLFormElement);
  const newPeer = byId('new-conversation-peer', HTMLInputElement);
  const newPeerError = byId('new-conversation-error', HTMLElement);

  let ended = false;
  let expiryTimer: ReturnType<typeof setTimeout> | undefined;
  const end = (notice: string) => {
    if (ended) return;
    ended = true;
    listeners.abort();
    clearTimeout(expiryTimer);
    subscription.unsubscribe();
    void client.close();
    pane.close();
    list.clear();
    view.hidden = true;
    account.hidden = true;
    indicator.hidden = true;
    // The next person to sign in here starts from the list, not from this one's conversation.
    history.replaceState(null, '', location.pathname);
    onEnd(notice);
  };

  let socketState: ConnectionState = 'idle';
  const updateIndicator = () => showIndicator(indicator, indicatorState(socketState, navigator.onLine));
  const client = createParleyClient({
    url: location.origin,
    token: () => session.token,
    onStateChange: (state) => {
      socketState = state;
      updateIndicator();
    },
  });

  const unread = new UnreadCounts(me);
  const list = new ConversationList(me, unread);
  const pane = new ConversationPane({
    client,
    me,
    signal,
    onSent: (message) => {
      if (ended) return; // answered after sign-out: the list belongs to the next session now
      list.update(message.to, message);
      list.render(pane.peer);
    },
    onUnauthorized: () => end(sessionExpiredNotice),
  });

  const isReading = (peer: string) => pane.peer === peer && document.visibilityState === 'visible';

  const receive = (message: Message) => {
    const peer = peerOf(message, me);
    list.update(peer, message);
    unread.record(peer, message.seq, isReading(peer));
    pane.receive(message);
    list.render(pane.peer);
  };

  const subscription = subscribeMessages(client, receive, {
    cursorStore: localStorageCursorStore(`parley:cursor:${me}`),
    onError: (error) => {
      if (isUnauthorized(error)) end(sessionExpiredNotice);
      else console.error('[parley demo]', error);
    },
  });

  const route = () => {
    const peer = peerFromHash();
    if (peer === null) pane.close();
    else {
      pane.open(peer);
      if (isReading(peer)) unread.clear(peer);
    }
    view.classList.toggle('has-conversation', peer !== null);
    list.render(pane.peer);
  };

  client.conversations.query().then(
    (conversations) => {
      if (ended) return;
      for (const { peer, lastMessage } of conversations) list.update(peer, lastMessage);
      list.render(pane.peer);
    },
    (error: unknown) => {
      if (isUnauthorized(error)) end(sessionExpiredNotice);
      else console.error('[parley demo] could not load conversations', error);
    },
  );

  newConversation.addEventListener(
    'submit',
    (event) => {
      event.preventDefault();
      const peer = newPeer.value.trim();
      if (!isUserId(peer)) {
        newPeerError.textContent = userIdRule;
        return;
      }
      newPeerError.textContent = '';
      newPeer.value = '';
      location.hash = conversationHref(peer);
    },
    { signal },
  );
  byId('sign-out', HTMLButtonElement).addEventListener('click', () => end('You have signed out.'), { signal });
  byId('back', HTMLButtonElement).addEventListener('click', () => (location.hash = ''), { signal });
  window.addEventListener('hashchange', route, { signal });
  window.addEventListener('online', updateIndicator, { signal });
  window.addEventListener('offline', updateIndicator, { signal });
  document.addEventListener(
    'visibilitychange',
    () => {
      if (pane.peer !== null && isReading(pane.peer)) {
        unread.clear(pane.peer);
        list.render(pane.peer);
      }
    },
    { signal },
  );
  // Another tab of the same user read or received something.
  window.addEventListener(
    'storage',
    (event) => {
      if (event.key === unread.key) list.render(pane.peer);
    },
    { signal },
  );

  const armExpiry = () => {
    const wait = session.expiresAt - Date.now();
    if (wait <= 0) end(sessionExpiredNotice);
    else expiryTimer = setTimeout(armExpiry, Math.min(wait, maxTimerMs));
  };

  byId('whoami', HTMLElement).textContent = `Signed in as ${me}`;
  account.hidden = false;
  indicator.hidden = false;
  view.hidden = false;
  updateIndicator();
  route();
  // Keyboard users start where the next step is: a conversation's composer, or the field to start one.
  if (pane.peer === null) newPeer.focus();
  // Last, so a token that expires right now ends a session that is fully shown.
  armExpiry();
}
