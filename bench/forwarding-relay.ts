/**
 * @module forwarding-relay
 * The baseline Parley is measured against: the physical floor of relaying a message.
 * Each frame is parsed, the recipient's sockets are looked up, and the frame's own bytes
 * are forwarded to them: no reply to the sender, no re-serialisation, no persistence, no
 * validation beyond what routing needs. Writes of one event-loop turn to a socket leave in
 * one write (corked until the next tick).
 *
 * The load generator reads a forwarded `sendToUser` frame as the delivery (its id as the
 * seq) and as the completion of the send (see `repliesToSends` in ipc.ts).
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { fail, sockets, startRelay } from './relay-server.js';

const corked = new WeakSet<WebSocket>();

function forward(socket: WebSocket, raw: Buffer): void {
  if (!corked.has(socket)) {
    const tcp = (socket as unknown as { _socket?: Socket })._socket;
    if (tcp) {
      corked.add(socket);
      tcp.cork();
      process.nextTick(() => {
        corked.delete(socket);
        tcp.uncork();
      });
    }
  }
  socket.send(raw, { binary: false });
}

startRelay('forwarding relay', (ws, peer, frame, raw) => {
  if (frame.method === 'mutation' && frame.params?.path === 'sendToUser') {
    const to = frame.params.input?.json?.to;
    if (typeof to !== 'string') return fail(ws, frame.id, 'to must be a string');
    const recipients = sockets.get(to);
    if (recipients) for (const socket of recipients) forward(socket, raw);
    return;
  }
  // The subscription's start is the one reply: the load generator waits for it.
  if (frame.method === 'subscription' && frame.params?.path === 'onMessage' && frame.id !== undefined) {
    peer.subId = frame.id;
    return ws.send(JSON.stringify({ id: frame.id, result: { type: 'started' } }));
  }
  return fail(ws, frame.id, 'unknown call');
});
