/**
 * @module cork-per-turn
 * Every frame the server sends on a WebSocket goes through here:
 * - frames of one event-loop turn (a mutation's reply and the subscription data it
 *   caused, say) are held and leave in one write instead of one syscall each;
 * - a client that does not read (its send buffer is past `maxBufferedBytes`) is closed
 *   as a slow consumer instead of growing the server's memory; it resumes from its last
 *   event id when it reconnects.
 */
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { closes } from '../../protocol/closes.js';

/** How long a slow consumer gets to take its close frame before the socket is destroyed. */
const slowCloseGraceMs = 1000;

/** Closes a client that does not read; its close frame waits behind the unread data, so the socket is destroyed if it is not taken soon. */
export function closeAsSlowConsumer(ws: WebSocket): void {
  ws.close(closes.slowConsumer.code, closes.slowConsumer.reason);
  setTimeout(() => ws.terminate(), slowCloseGraceMs).unref();
}

export function corkPerTurn(
  ws: WebSocket,
  socket: Duplex,
  maxBufferedBytes: number,
  onSlowConsumer: () => void,
): void {
  const send = ws.send.bind(ws) as (...args: unknown[]) => void;
  let corked = false;
  const uncork = () => {
    corked = false;
    socket.uncork();
  };
  ws.send = ((...args: unknown[]) => {
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > maxBufferedBytes) {
      onSlowConsumer();
      closeAsSlowConsumer(ws);
      return;
    }
    if (!corked) {
      corked = true;
      socket.cork();
      setImmediate(uncork);
    }
    send(...args);
  }) as WebSocket['send'];
}
