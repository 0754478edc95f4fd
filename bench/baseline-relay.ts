/**
 * @module baseline-relay
 * The floor Parley is measured against: a bare `ws` relay doing the same routing and
 * nothing else. `Map<userId, Set<socket>>`, `JSON.parse` of each frame, forward to the
 * recipient's sockets, a reply to the sender; no persistence, no validation beyond what
 * routing needs, no framework.
 *
 * It speaks the subset of tRPC's WebSocket frames the load generator uses, with the same
 * shapes Parley sends (`{ json, meta }` payloads, tracked ids), so the generator does the
 * same work per message against both. Authentication mirrors Parley's: the first frame is
 * `{"method":"connectionParams","data":{"token":…}}`, an HS256 JWT checked once per
 * connection. A per-recipient counter stands in for Parley's stream seq.
 *
 * Environment: PORT (0), HOST (127.0.0.1), PARLEY_JWT_SECRET (required).
 */
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { jwtVerify } from 'jose';
import type { AddressInfo } from 'node:net';
import { installServerProbe } from './server-probe.js';

interface Peer {
  user: string | null;
  /** The id of the `onMessage` subscription on this socket, if any. */
  subId: number | string | null;
}

interface Frame {
  id?: number | string | null;
  method?: string;
  params?: { path?: string; input?: { json?: { to?: unknown; text?: unknown; clientMsgId?: unknown } } };
  data?: { token?: unknown };
}

const secretText = process.env['PARLEY_JWT_SECRET'];
if (!secretText) throw new Error('baseline relay: PARLEY_JWT_SECRET is required');
const secret = new TextEncoder().encode(secretText);

const sockets = new Map<string, Set<WebSocket>>();
const peers = new WeakMap<WebSocket, Peer>();
const seqs = new Map<string, number>();

const wss = new WebSocketServer({
  host: process.env['HOST'] ?? '127.0.0.1',
  port: Number(process.env['PORT'] ?? 0),
  perMessageDeflate: false,
});

function reply(ws: WebSocket, id: Frame['id'], result: unknown): void {
  ws.send(JSON.stringify({ id, result }));
}

function fail(ws: WebSocket, id: Frame['id'], message: string): void {
  ws.send(JSON.stringify({ id: id ?? null, error: { json: { message, code: -32600, data: { code: 'BAD_REQUEST' } } } }));
}

function relay(ws: WebSocket, peer: Peer & { user: string }, frame: Frame): void {
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
  const recipients = sockets.get(to);
  if (recipients) {
    for (const socket of recipients) {
      const subId = peers.get(socket)?.subId;
      if (subId === null || subId === undefined) continue;
      reply(socket, subId, {
        type: 'data',
        id,
        data: { json: { id, data: message }, meta: { values: { 'data.sentAt': ['Date'] }, v: 1 } },
      });
    }
  }
  reply(ws, frame.id, { type: 'data', data: { json: message, meta: { values: { sentAt: ['Date'] }, v: 1 } } });
}

function handle(ws: WebSocket, peer: Peer & { user: string }, frame: Frame): void {
  switch (frame.method) {
    case 'mutation':
      if (frame.params?.path === 'sendToUser') return relay(ws, peer, frame);
      return fail(ws, frame.id, 'unknown mutation');
    case 'subscription':
      if (frame.params?.path !== 'onMessage' || frame.id === undefined) return fail(ws, frame.id, 'unknown subscription');
      peer.subId = frame.id;
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
}

async function authenticate(token: unknown): Promise<string> {
  if (typeof token !== 'string') throw new Error('no token');
  const { payload } = await jwtVerify(token, secret, { algorithms: ['HS256'], requiredClaims: ['sub', 'exp'] });
  if (typeof payload.sub !== 'string') throw new Error('no sub');
  return payload.sub;
}

wss.on('connection', (ws) => {
  const peer: Peer = { user: null, subId: null };
  peers.set(ws, peer);
  let authed: Promise<boolean> | null = null;

  const onFrame = (raw: RawData) => {
    const text = raw.toString();
    if (text === 'PING') return ws.send('PONG');
    let frame: Frame;
    try {
      frame = JSON.parse(text) as Frame;
    } catch {
      return fail(ws, null, 'malformed JSON');
    }
    if (peer.user !== null) return handle(ws, peer as Peer & { user: string }, frame);
    if (authed === null) {
      if (frame.method !== 'connectionParams') return ws.close(4000, 'connectionParams first');
      authed = authenticate(frame.data?.token).then(
        (user) => {
          peer.user = user;
          let set = sockets.get(user);
          if (!set) sockets.set(user, (set = new Set()));
          set.add(ws);
          return true;
        },
        () => {
          fail(ws, null, 'UNAUTHORIZED');
          ws.close(4001, 'unauthorized');
          return false;
        },
      );
      return;
    }
    // Frames that arrive while the token is being checked wait for it, in order.
    authed = authed.then((ok) => {
      if (ok) handle(ws, peer as Peer & { user: string }, frame);
      return ok;
    });
  };

  ws.on('message', onFrame);
  ws.on('error', () => ws.terminate());
  ws.once('close', () => {
    if (peer.user === null) return;
    const set = sockets.get(peer.user);
    set?.delete(ws);
    if (set?.size === 0) sockets.delete(peer.user);
  });
});

const probe = installServerProbe(async () => {
  for (const ws of wss.clients) ws.terminate();
  await new Promise<void>((resolve) => wss.close(() => resolve()));
});
wss.once('listening', () => {
  const { port, address } = wss.address() as AddressInfo;
  probe.ready(`http://${address}:${port}`);
});
