/**
 * @module slow-consumer
 * How the server writes to a socket whose client may not keep up, in one place:
 * - frames of one event-loop turn leave in one write per socket (a send's reply and the
 *   events it caused, or one event fanned out to many sockets), not one syscall each;
 * - a subscription waits (`backpressure`) while the client has a quarter of the limit
 *   unread, so a replay goes at the client's pace;
 * - a client past `maxBufferedBytes` unread, or that takes nothing for `stalledAfterMs`
 *   while a subscription waits, is closed as a slow consumer (it resumes from its last
 *   event id when it reconnects) instead of growing the server's memory.
 */
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { closes } from '../../../protocol/closes.js';

export interface SlowConsumerLimits {
  maxBufferedBytes: number;
  stalledAfterMs: number;
  /** Counts a slow-consumer close. */
  onSlowConsumer: () => void;
}

/** How long a slow consumer gets to take its close frame before the socket is destroyed. */
const slowCloseGraceMs = 1000;
/**
 * How often a waiting subscription looks again when no 'drain' will come: a socket only
 * emits one after a write it refused, at its highWaterMark (64 KiB from Node 22 on), which
 * can be above a small send buffer limit.
 */
const recheckMs = 10;

/**
 * Corks sockets written in this turn and uncorks them all in one `setImmediate`: one
 * timer per turn for the whole server, however many sockets a fan-out touches.
 */
export class TurnCorker {
  #corked: Duplex[] = [];
  readonly #flush = () => {
    const corked = this.#corked;
    this.#corked = [];
    for (const socket of corked) socket.uncork();
  };

  cork(socket: Duplex): void {
    if (socket.writableCorked > 0) return;
    if (this.#corked.length === 0) setImmediate(this.#flush);
    socket.cork();
    this.#corked.push(socket);
  }
}

/** The write side of one socket. */
export class Outbox {
  #waiter: { resolve: () => void; timer: NodeJS.Timeout; recheck: NodeJS.Timeout | null } | null = null;
  #closeTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Duplex,
    private readonly corker: TurnCorker,
    private readonly limits: SlowConsumerLimits,
  ) {}

  /** Sends one frame, unless the socket is closing or its client is too far behind. */
  send(frame: string): void {
    const ws = this.ws;
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > this.limits.maxBufferedBytes) return this.closeSlow();
    this.corker.cork(this.socket);
    ws.send(frame);
  }

  /** A promise to await before producing more while the client is behind; else null. */
  backpressure(): Promise<void> | null {
    const ws = this.ws;
    if (this.#caughtUp() || ws.readyState !== ws.OPEN) return null;
    return new Promise<void>((resolve) => {
      // Subscriptions of one socket wait together: each wakes on the same drain.
      const previous = this.#waiter;
      if (previous !== null) {
        this.#waiter = { ...previous, resolve: () => (previous.resolve(), resolve()) };
        return;
      }
      const timer = setTimeout(() => this.closeSlow(), this.limits.stalledAfterMs);
      // 'drain' comes only after a write the socket refused; otherwise look again soon.
      let recheck: NodeJS.Timeout | null = null;
      if (this.socket.writableNeedDrain) this.socket.once('drain', this.#drained);
      else recheck = setInterval(this.#recheck, recheckMs);
      this.#waiter = { resolve, timer, recheck };
    });
  }

  /** Frees what a waiting subscription holds: called on drain and when the socket closes. */
  release(): void {
    const waiter = this.#waiter;
    if (waiter === null) return;
    this.#waiter = null;
    clearTimeout(waiter.timer);
    if (waiter.recheck !== null) clearInterval(waiter.recheck);
    this.socket.off('drain', this.#drained);
    waiter.resolve();
  }

  /** Called once the socket has closed: nothing of it stays armed. */
  dispose(): void {
    this.release();
    if (this.#closeTimer !== null) clearTimeout(this.#closeTimer);
  }

  readonly #drained = () => this.release();
  readonly #recheck = () => {
    if (this.#caughtUp()) this.release();
  };

  /** Whether the client has less than a quarter of the limit still to take: more may be produced. */
  #caughtUp(): boolean {
    return this.ws.bufferedAmount < this.limits.maxBufferedBytes / 4;
  }

  /** Its close frame waits behind the unread data, so the socket is destroyed if it is not taken soon. */
  private closeSlow(): void {
    const ws = this.ws;
    if (ws.readyState !== ws.OPEN) return;
    this.limits.onSlowConsumer();
    ws.close(closes.slowConsumer.code, closes.slowConsumer.reason);
    this.#closeTimer = setTimeout(() => ws.terminate(), slowCloseGraceMs);
    this.release();
  }
}
