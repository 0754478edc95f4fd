/**
 * @module trpc-shaped-relay
 * An extra row beside the forwarding relay: a bare `ws` relay that answers as tRPC would.
 * Each send builds a message object, stringifies it to the recipient's subscription (a
 * tracked envelope, superjson-shaped) and replies to the sender with it, uncorked; no
 * persistence, no framework. A per-recipient counter stands in for Parley's stream seq.
 */
import type { WebSocket } from 'ws';
import { fail, sockets, startRelay, type Frame, type Peer } from './relay-server.js';

const subscriptions = new WeakMap<WebSocket, Peer>();
const seqs = new Map<string, number>();

function reply(ws: WebSocket, id: Frame['id'], result: unknown): void {
  ws.send(JSON.stringify({ id, result }));
}

function relay(ws: WebSocket, peer: Peer, frame: Frame): void {
  const input = frame.params?.input?.json;
  const to = input?.to;
  const text = input?.text;
  if (typeof to !== 'string' || typeof text !== 'string') return fail(ws, frame.id, 'to and text must be strings');
  const seq = (seqs.get(to) ?? 0) + 1;
  seqs.set(to, seq);
  const id = String(seq);
  const message = {
    id,
    seq,
    from: peer.user,
    to,
    text,
    clientMsgId: typeof input?.clientMsgId === 'string' ? input.clientMsgId : null,
    sentAt: new Date().toISOString(),
  };
  for (const socket of sockets.get(to) ?? []) {
    const subId = subscriptions.get(socket)?.subId;
    if (subId === null || subId === undefined) continue;
    reply(socket, subId, {
      type: 'data',
      id,
      data: { json: { id, data: message }, meta: { values: { 'data.sentAt': ['Date'] }, v: 1 } },
    });
  }
  reply(ws, frame.id, { type: 'data', data: { json: message, meta: { values: { sentAt: ['Date'] }, v: 1 } } });
}

startRelay('tRPC-shaped relay', (ws, peer, frame) => {
  switch (frame.method) {
    case 'mutation':
      if (frame.params?.path === 'sendToUser') return relay(ws, peer, frame);
      return fail(ws, frame.id, 'unknown mutation');
    case 'subscription':
      if (frame.params?.path !== 'onMessage' || frame.id === undefined) return fail(ws, frame.id, 'unknown subscription');
      peer.subId = frame.id;
      subscriptions.set(ws, peer);
      return reply(ws, frame.id, { type: 'started' });
    case 'subscription.stop':
      if (peer.subId === frame.id) peer.subId = null;
      return reply(ws, frame.id, { type: 'stopped' });
    case 'query':
      if (frame.params?.path === 'me') return reply(ws, frame.id, { type: 'data', data: { json: { userId: peer.user } } });
      return fail(ws, frame.id, 'unknown query');
    default:
      return fail(ws, frame.id, 'unknown method');
  }
});
