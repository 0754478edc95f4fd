import { describe, expect, it } from 'vitest';
import { startServer } from '../helpers/server.js';
import { handshakeStatus, isClose, openRaw } from '../helpers/raw-ws.js';
import { metric } from '../helpers/metrics.js';

/** Opens a socket with `origin` and asks who it is: the reply proves the socket is usable. */
async function whoAmI(url: string, token: string, origin?: string): Promise<unknown> {
  const c = await openRaw(url, { token, ...(origin === undefined ? {} : { origin }) });
  try {
    const reply = await c.call('query', 'me');
    return isClose(reply) ? reply : reply.result?.data?.json;
  } finally {
    await c.close();
  }
}

describe('origin policy', () => {
  it('refuses a cross-origin handshake with 403 before the upgrade, by default', async () => {
    await using t = await startServer();
    const port = new URL(t.url).port;
    for (const origin of ['https://evil.example', `http://127.0.0.1:${Number(port) + 1}`, 'null']) {
      expect({ origin, status: await handshakeStatus(t.url, { origin }) }).toEqual({ origin, status: 403 });
    }
    expect(await metric(t.url, 'parley_connection_closes_total', { reason: 'origin' })).toBe(3);
    expect(await metric(t.url, 'parley_connections')).toBe(0);
  });

  it('accepts a same-origin handshake by default', async () => {
    await using t = await startServer();
    expect(await handshakeStatus(t.url, { origin: t.url })).toBe(101);
    expect(await whoAmI(t.url, await t.token('alice'), t.url)).toEqual({ userId: 'alice' });
  });

  it('accepts a client that sends no Origin (not a browser) on its valid token', async () => {
    await using t = await startServer({ allowedOrigins: ['https://chat.example.com'] });
    expect(await whoAmI(t.url, await t.token('alice'))).toEqual({ userId: 'alice' });
  });

  it('accepts exactly the allowedOrigins, compared case-insensitively, and then refuses the own origin', async () => {
    await using t = await startServer({ allowedOrigins: ['https://chat.example.com', 'http://localhost:5173'] });
    expect(await whoAmI(t.url, await t.token('alice'), 'https://Chat.Example.COM')).toEqual({ userId: 'alice' });
    expect(await handshakeStatus(t.url, { origin: 'http://localhost:5173' })).toBe(101);
    for (const origin of ['https://chat.example.com:8443', 'http://chat.example.com', 'https://evil.chat.example.com', t.url]) {
      expect({ origin, status: await handshakeStatus(t.url, { origin }) }).toEqual({ origin, status: 403 });
    }
  });
});
