/**
 * @module conversation-pane
 * The open conversation: its history (older pages load as the reader scrolls up), live
 * messages, and the composer. Messages are kept in id order, each shown once however it
 * arrived (history page, live stream, or the reply to our own send).
 */
import type { Message, ParleyClient } from '@parley/sdk';
import { byId } from './dom.js';
import { describeError, isUnauthorized } from './describe-error.js';
import { messageElement, pendingElement } from './message-element.js';
import { compareIds } from './message-order.js';
import { peerOf } from './peer.js';

export interface ConversationPaneOptions {
  client: ParleyClient;
  me: string;
  /** A message we sent was stored. */
  onSent(message: Message): void;
  /** The server refused our token. */
  onUnauthorized(): void;
  /** Removes the pane's listeners when the session ends. */
  signal: AbortSignal;
}

const pageSize = 30;
/** Older messages load once the reader is this close to the top (px). */
const loadOlderMargin = 200;
/** A reader this close to the bottom is following along: new messages stay in view. */
const followMargin = 80;

/** 128 random bits as hex (`crypto.randomUUID` needs a secure context; this does not). */
function newClientMsgId(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

export class ConversationPane {
  readonly #options: ConversationPaneOptions;
  readonly #placeholder = byId('conversation-placeholder', HTMLElement);
  readonly #body = byId('conversation-body', HTMLElement);
  readonly #title = byId('conversation-title', HTMLElement);
  readonly #scroller = byId('scroller', HTMLElement);
  readonly #loadOlderButton = byId('load-older', HTMLButtonElement);
  readonly #historyStart = byId('history-start', HTMLElement);
  readonly #list = byId('messages', HTMLOListElement);
  readonly #composer = byId('composer', HTMLFormElement);
  readonly #text = byId('composer-text', HTMLTextAreaElement);
  readonly #error = byId('composer-error', HTMLElement);

  #peer: string | null = null;
  /** Bumped on every switch, so answers for a conversation no longer open are dropped. */
  #generation = 0;
  #historyLoaded = false;
  #nextCursor: string | null = null;
  #loading = false;
  readonly #shown = new Set<string>();
  readonly #pending = new Map<string, HTMLLIElement>();

  constructor(options: ConversationPaneOptions) {
    this.#options = options;
    const { signal } = options;
    this.#composer.addEventListener(
      'submit',
      (event) => {
        event.preventDefault();
        this.#sendComposed();
      },
      { signal },
    );
    this.#text.addEventListener(
      'keydown',
      (event) => {
        if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
          event.preventDefault();
          this.#composer.requestSubmit();
        }
      },
      { signal },
    );
    this.#scroller.addEventListener(
      'scroll',
      () => {
        if (this.#scroller.scrollTop < loadOlderMargin) this.#loadOlder();
      },
      { signal, passive: true },
    );
    this.#loadOlderButton.addEventListener('click', () => this.#loadOlder(), { signal });
  }

  get peer(): string | null {
    return this.#peer;
  }

  open(peer: string): void {
    if (peer === this.#peer) return;
    this.#clear();
    this.#peer = peer;
    this.#title.textContent = peer;
    this.#list.setAttribute('aria-label', `Messages with ${peer}`);
    this.#placeholder.hidden = true;
    this.#body.hidden = false;
    this.#loadOlder();
    this.#text.focus();
  }

  close(): void {
    this.#clear();
    this.#peer = null;
    this.#body.hidden = true;
    this.#placeholder.hidden = false;
  }

  /** Shows `message` if it belongs to the open conversation. */
  receive(message: Message): void {
    if (peerOf(message, this.#options.me) !== this.#peer) return;
    const following = this.#isNearBottom();
    this.#insert(message);
    if (following) this.#scrollToBottom();
  }

  #clear(): void {
    this.#generation += 1;
    this.#historyLoaded = false;
    this.#nextCursor = null;
    this.#loading = false;
    this.#shown.clear();
    this.#pending.clear();
    this.#list.replaceChildren();
    this.#error.textContent = '';
    this.#loadOlderButton.hidden = false;
    this.#historyStart.hidden = true;
  }

  #insert(message: Message): void {
    if (this.#shown.has(message.id)) return;
    this.#shown.add(message.id);
    if (message.from === this.#options.me && message.clientMsgId !== null) {
      this.#pending.get(message.clientMsgId)?.remove();
      this.#pending.delete(message.clientMsgId);
    }
    // Stored messages in id order, then the ones still being sent.
    let before: Element | null = null;
    for (const child of this.#list.children) {
      const id = (child as HTMLElement).dataset['id'];
      if (id === undefined || compareIds(id, message.id) > 0) {
        before = child;
        break;
      }
    }
    this.#list.insertBefore(messageElement(message, this.#options.me), before);
  }

  #loadOlder(): void {
    const peer = this.#peer;
    if (peer === null || this.#loading || (this.#historyLoaded && this.#nextCursor === null)) return;
    this.#loading = true;
    const generation = this.#generation;
    const before = this.#nextCursor;
    this.#options.client.history
      .query({ with: peer, limit: pageSize, ...(before === null ? {} : { before }) })
      .then(
        (page) => {
          if (generation !== this.#generation) return;
          const first = !this.#historyLoaded;
          const fromBottom = this.#scroller.scrollHeight - this.#scroller.scrollTop;
          for (const message of page.items) this.#insert(message);
          this.#historyLoaded = true;
          this.#nextCursor = page.nextCursor;
          this.#loadOlderButton.hidden = page.nextCursor === null;
          this.#historyStart.hidden = page.nextCursor !== null;
          // Keep what the reader was looking at in place while older messages appear above.
          if (first) this.#scrollToBottom();
          else this.#scroller.scrollTop = this.#scroller.scrollHeight - fromBottom;
          this.#loading = false;
          // A short page leaves the top in view, and no scroll event will come to ask for more.
          if (this.#scroller.scrollTop < loadOlderMargin) this.#loadOlder();
        },
        (error: unknown) => {
          if (generation !== this.#generation) return;
          this.#loading = false;
          this.#report(error);
        },
      );
  }

  #sendComposed(): void {
    const peer = this.#peer;
    const text = this.#text.value.trim();
    if (peer === null || text === '') return;
    this.#text.value = '';
    this.#error.textContent = '';
    const clientMsgId = newClientMsgId();
    const pending = pendingElement(clientMsgId, text);
    this.#pending.set(clientMsgId, pending);
    this.#list.append(pending);
    this.#scrollToBottom();
    const generation = this.#generation;
    this.#options.client.sendToUser.mutate({ to: peer, text, clientMsgId }).then(
      (message) => {
        this.receive(message);
        this.#options.onSent(message);
      },
      (error: unknown) => {
        if (generation !== this.#generation) return;
        pending.remove();
        this.#pending.delete(clientMsgId);
        // Give the words back, so a failed send costs no retyping.
        if (this.#text.value === '') this.#text.value = text;
        this.#report(error);
      },
    );
  }

  #report(error: unknown): void {
    if (isUnauthorized(error)) this.#options.onUnauthorized();
    else this.#error.textContent = describeError(error);
  }

  #isNearBottom(): boolean {
    const s = this.#scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < followMargin;
  }

  #scrollToBottom(): void {
    this.#scroller.scrollTop = this.#scroller.scrollHeight;
  }
}
