/**
 * @module unread-counts
 * Unread messages per peer, kept by the page in `localStorage` (one key per user).
 *
 * The server's `conversations().unread` counts messages not yet acknowledged, and the SDK
 * acknowledges each message as soon as the page has it (that is what lets the stream
 * resume on any device), so "unread" has to be the page's own: counted when a message
 * arrives outside the open conversation, cleared when that conversation is opened.
 * `countedUpTo` (a stream seq) keeps a message from being counted twice, e.g. by two tabs.
 */
interface Stored {
  countedUpTo: number;
  counts: Record<string, number>;
}

export class UnreadCounts {
  readonly #key: string;

  constructor(userId: string) {
    this.#key = `parley:unread:${userId}`;
  }

  /** The storage key, to recognise changes made by another tab. */
  get key(): string {
    return this.#key;
  }

  get(peer: string): number {
    return this.#load().counts[peer] ?? 0;
  }

  /** Records the arrival of stream entry `seq` from `peer`; it counts unless already read. */
  record(peer: string, seq: number, read: boolean): void {
    const stored = this.#load();
    if (seq <= stored.countedUpTo) return;
    stored.countedUpTo = seq;
    if (!read) stored.counts[peer] = (stored.counts[peer] ?? 0) + 1;
    this.#save(stored);
  }

  clear(peer: string): void {
    const stored = this.#load();
    if (!stored.counts[peer]) return;
    delete stored.counts[peer];
    this.#save(stored);
  }

  #load(): Stored {
    const raw = localStorage.getItem(this.#key);
    if (raw !== null) {
      try {
        const value = JSON.parse(raw) as Partial<Stored>;
        if (typeof value.countedUpTo === 'number' && value.counts && typeof value.counts === 'object') {
          return { countedUpTo: value.countedUpTo, counts: value.counts };
        }
      } catch {
        // Unreadable: start counting afresh rather than fail the page.
      }
    }
    return { countedUpTo: 0, counts: {} };
  }

  #save(stored: Stored): void {
    localStorage.setItem(this.#key, JSON.stringify(stored));
  }
}
