/**
 * @module conversation-list
 * The sidebar: one link per peer with the last message and the unread count, most
 * recent first. Links point at `#/<peer>`, so opening one is ordinary navigation.
 */
import type { Message } from '@parley/sdk';
import { byId, textElement } from './dom.js';
import { formatTime } from './format-time.js';
import { compareIds } from './message-order.js';
import type { UnreadCounts } from './unread-counts.js';

export function conversationHref(peer: string): string {
  return `#/${encodeURIComponent(peer)}`;
}

export class ConversationList {
  readonly #me: string;
  readonly #unread: UnreadCounts;
  readonly #list = byId('conversation-list', HTMLUListElement);
  readonly #empty = byId('conversations-empty', HTMLElement);
  readonly #lastMessages = new Map<string, Message>();

  constructor(me: string, unread: UnreadCounts) {
    this.#me = me;
    this.#unread = unread;
  }

  /** Notes `message` as the conversation's last one, unless a later one is known. */
  update(peer: string, message: Message): void {
    const known = this.#lastMessages.get(peer);
    if (!known || compareIds(message.id, known.id) > 0) this.#lastMessages.set(peer, message);
  }

  render(openPeer: string | null): void {
    const focused = document.activeElement instanceof HTMLElement ? document.activeElement.dataset['peer'] : undefined;
    const entries = [...this.#lastMessages].sort(([, a], [, b]) => compareIds(b.id, a.id));
    this.#list.replaceChildren(...entries.map(([peer, last]) => this.#item(peer, last, peer === openPeer)));
    this.#empty.hidden = entries.length > 0;
    // Rebuilding the items must not throw a keyboard user's focus away.
    if (focused !== undefined) {
      for (const link of this.#list.querySelectorAll<HTMLElement>('[data-peer]')) {
        if (link.dataset['peer'] === focused) link.focus();
      }
    }
  }

  clear(): void {
    this.#lastMessages.clear();
    this.#list.replaceChildren();
    this.#empty.hidden = false;
  }

  #item(peer: string, last: Message, open: boolean): HTMLLIElement {
    const link = document.createElement('a');
    link.className = 'conversation-item';
    link.href = conversationHref(peer);
    link.dataset['peer'] = peer;
    if (open) link.setAttribute('aria-current', 'page');
    const time = textElement('time', 'time', formatTime(last.sentAt));
    time.dateTime = last.sentAt.toISOString();
    link.append(
      textElement('span', 'peer', peer),
      time,
      textElement('span', 'preview', `${last.from === this.#me ? 'You: ' : ''}${last.text}`),
    );
    const unread = this.#unread.get(peer);
    if (unread > 0) {
      const badge = textElement('span', 'badge', String(unread));
      badge.append(textElement('span', 'visually-hidden', ' unread'));
      link.append(badge);
    }
    const item = document.createElement('li');
    item.append(link);
    return item;
  }
}
