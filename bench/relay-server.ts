/**
 * @module relay-server
 * What the bench's two relays share: a bare `ws` server, authentication as Parley's
 * (the first frame is `{"method":"connectionParams","data":{"token":…}}`, an HS256 JWT
 * checked once per connection), `Map<userId, Set<socket>>`, `PING`/`PONG`, and the IPC
 * probe. Each relay supplies what it does with an authenticated frame.
 *
 * Environment: PORT (0), HOST (127.0.0.1), PARLEY_JWT_SECRET (required).
 */
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { jwtVerify } from 'jose';
import type { AddressInfo } from 'node:net';
import { installServerProbe } from './server-probe.js';

export interface Frame {
  id?: number | string | null;
  method?: string;
  params?: { path?: string; input?: { json?: { to?: unknown; text?: unknown; clientMsgId?: unknown } } };
  data?: { token?: unknown };
}

export interface Peer {
  user: string;
  /** The id of the `onMessage` subscription on this socket, if any. */
  subId: number | string | null;
}

/** Handles one parsed frame of an authenticated socket; `raw` is its bytes as received. */
export type FrameHandler = (ws: WebSocket, peer: Peer, frame: Frame, raw: Buffer) => void;

/** The sockets of each signed-in user. */
export const sockets = new Map<string, Set<WebSocket>>();

export function fail(ws: WebSocket, id: Frame['id'], message: string): void {
  ws.send(JSON.stringify({ id: id ?? null, error: { json: { message, code: -32600, data: { code: 'BAD_REQUEST' } } } }));
}

export function startRelay(name: string, handle: FrameHandler): void {
  const secretText = process.env['PARLEY_JWT_SECRET'];
  if (!secretText) throw new Error(`${name}: PARLEY_JWT_SECRET is required`);
  const secret = new TextEncoder().encode(secretText);

  async function authenticate(token: unknown): Promise<string> {
    if (typeof token !== 'string') throw new Error('no token');
    const { payload } = await jwtVerify(token, secret, { algorithms: ['HS256'], requiredClaims: ['sub', 'exp'] });
    if (typeof payload.sub !== 'string') throw new Error('no sub');
    return payload.sub;
  }

  const wss = new WebSocketServer({
    host: process.env['HOST'] ?? '127.0.0.1',
    port: Number(process.env['PORT'] ?? 0),
    perMessageDeflate: false,
  });

  wss.on('connection', (ws) => {
    let peer: Peer | null = null;
    let authed: Promise<boolean> | null = null;

    const onFrame = (data: RawData) => {
      const raw = data as Buffer;
      if (raw.length === 4 && raw.toString() === 'PING') return ws.send('PONG');
      let frame: Frame;
      try {
        frame = JSON.parse(raw.toString()) as Frame;
      } catch {
        return fail(ws, null, 'malformed JSON');
      }
      if (peer !== null) return handle(ws, peer, frame, raw);
      if (authed === null) {
        if (frame.method !== 'connectionParams') return ws.close(4000, 'connectionParams first');
        authed = authenticate(frame.data?.token).then(
          (user) => {
            peer = { user, subId: null };
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
        if (ok && peer) handle(ws, peer, frame, raw);
        return ok;
      });
    };

    ws.on('message', onFrame);
    ws.on('error', () => ws.terminate());
    ws.once('close', () => {
      if (peer === null) return;
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
}
