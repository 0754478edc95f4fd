/**
 * PARLEY_TRUST_PROXY (issue 11, item 5, "Proxies"): behind a trusted proxy every
 * per-address limit keys on the client that proxy names in X-Forwarded-For, not on the
 * proxy; a peer that is not trusted cannot choose its address by sending the header.
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import WebSocket from 'ws';
import { describe, expect, it, vi } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';
import { wsUrl } from '../helpers/raw-ws.js';

const proxy = '127.0.0.2';
const stranger = '127.0.0.3';
const sockets: WebSocket[] = [];

/** A WebSocket from `localAddress` carrying `forwardedFor`; resolves with `me`'s user id, or the close code. */
async function socketFrom(t: TestServer, localAddress: string, forwardedFor: string, userId: string): Promise<string | number> {
  const ws = new WebSocket(wsUrl(t.url, true), { localAddress, headers: { 'x-forwarded-for': forwardedFor } });
  sockets.push(ws);
  ws.on('error', () => {});
  return new Promise((resolve) => {
    ws.once('close', (code) => resolve(code));
    ws.once('open', () => {
      void t.token(userId).then((token) => {
        ws.send(JSON.stringify({ method: 'connectionParams', data: { token } }));
        ws.send(JSON.stringify({ id: 1, method: 'query', params: { path: 'me', input: { json: null } } }));
      });
    });
    ws.on('message', (data: Buffer) => {
      const reply = JSON.parse(data.toString()) as { id?: number; result?: { data: { json: { userId: string } } } };
      if (reply.id === 1 && reply.result) resolve(reply.result.data.json.userId);
    });
  });
}

/** A failing sign-in over HTTP from `localAddress`; resolves with the tRPC error code. */
function failedLogin(t: TestServer, localAddress: string, forwardedFor: string, userId: string): Promise<string> {
  const { hostname, port } = new URL(t.url);
  const body = JSON.stringify({ json: { userId, password: 'not the password' } });
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: hostname,
        port,
        localAddress,
        method: 'POST',
        path: '/trpc/auth.login',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor, connection: 'close' },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve((JSON.parse(text) as { error: { json: { data: { code: string } } } }).error.json.data.code));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('behind a trusted proxy', () => {
  it('caps WebSockets per forwarded client address, and an untrusted peer’s X-Forwarded-For is ignored', async () => {
    await using t = await startServer({ trustProxy: [proxy], maxConnectionsPerIp: 2 });
    try {
      expect(await socketFrom(t, proxy, '203.0.113.1', 'alice')).toBe('alice');
      expect(await socketFrom(t, proxy, '203.0.113.1', 'bob')).toBe('bob');
      expect(await socketFrom(t, proxy, '203.0.113.1', 'carol')).toBe(4408);
      // Another client behind the same proxy has its own count.
      expect(await socketFrom(t, proxy, '198.51.100.1, 203.0.113.2', 'dave')).toBe('dave');

      // A peer we do not trust is counted as itself, whatever it claims.
      expect(await socketFrom(t, stranger, '192.0.2.1', 'erin')).toBe('erin');
      expect(await socketFrom(t, stranger, '192.0.2.2', 'frank')).toBe('frank');
      expect(await socketFrom(t, stranger, '192.0.2.3', 'grace')).toBe(4408);
    } finally {
      for (const ws of sockets.splice(0)) ws.terminate();
    }
  });

  it('counts sign-in attempts per forwarded client address', async () => {
    await using t = await startServer({ trustProxy: [proxy], loginRateLimit: { perSecond: 2 / 60, burst: 2 } });
    expect(await failedLogin(t, proxy, '203.0.113.1', 'user-a')).toBe('UNAUTHORIZED');
    expect(await failedLogin(t, proxy, '203.0.113.1', 'user-b')).toBe('UNAUTHORIZED');
    expect(await failedLogin(t, proxy, '203.0.113.1', 'user-c')).toBe('TOO_MANY_REQUESTS');
    // The proxy's other clients are not refused for the first one's attempts.
    expect(await failedLogin(t, proxy, '203.0.113.2', 'user-d')).toBe('UNAUTHORIZED');
  });

  it('does not cap a trusted proxy’s connections per address before the upgrade: its clients are not known yet', async () => {
    await using t = await startServer({ trustProxy: [proxy], maxConnectionsPerIp: 2, idleTimeoutMs: 60_000 });
    const { hostname, port } = new URL(t.url);
    const open = (localAddress: string) =>
      new Promise<{ closed: () => boolean; destroy: () => void }>((resolve, reject) => {
        const socket = connect({ host: hostname, port: Number(port), localAddress });
        let closed = false;
        socket.on('error', () => {});
        socket.once('close', () => (closed = true));
        socket.once('connect', () => resolve({ closed: () => closed, destroy: () => socket.destroy() }));
        socket.once('error', reject);
      });
    const viaProxy = await Promise.all(Array.from({ length: 5 }, () => open(proxy)));
    const fromStranger = await Promise.all(Array.from({ length: 3 }, () => open(stranger)));
    try {
      // The stranger's third is refused at accept; the proxy's five, opened before, were not.
      await vi.waitFor(() => expect(fromStranger.filter((c) => c.closed())).toHaveLength(1));
      expect(viaProxy.filter((c) => c.closed())).toHaveLength(0);
    } finally {
      for (const c of [...viaProxy, ...fromStranger]) c.destroy();
    }
  });
});
