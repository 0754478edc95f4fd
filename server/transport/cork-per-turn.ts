/**
 * @module cork-per-turn
 * Holds a WebSocket's frames until the end of the event-loop turn, so the frames of one
 * turn (a mutation's reply and the subscription data it caused, say) leave in one write
 * instead of one syscall each.
 */
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';

export function corkPerTurn(ws: WebSocket, socket: Duplex): void {
  const send = ws.send.bind(ws) as (...args: unknown[]) => void;
  let corked = false;
  const uncork = () => {
    corked = false;
    socket.uncork();
  };
  ws.send = ((...args: unknown[]) => {
    if (!corked) {
      corked = true;
      socket.cork();
      setImmediate(uncork);
    }
    send(...args);
  }) as WebSocket['send'];
}
