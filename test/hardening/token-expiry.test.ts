import { describe, expect, it, vi } from 'vitest';
import { createParleyClient, subscribeMessages, type Message, type ParleyConnectionClosedError } from '@parley/sdk';
import { startServer } from '../helpers/server.js';
import { recordingWebSocket } from '../helpers/recording-ws.js';
import { metric } from '../helpers/metrics.js';

describe('tokens on live connections', () => {
  it('closes the socket when its token expires (4001); the SDK fetches a new token, reconnects and resumes with no loss or duplicate', async () => {
    await using t = await startServer();
    const alice = await t.client('alice');
    const sockets = recordingWebSocket();
    const tokenCalls: number[] = [];
    const bob = createParleyClient({
      url: t.url,
      WebSocket: sockets.WebSocket,
      // The first token lives 1-2 s (exp has whole seconds); the next ones an hour.
      token: () => {
        tokenCalls.push(Date.now());
        return t.token('bob', tokenCalls.length === 1 ? 2 : 3600);
      },
    });
    const received: Message[] = [];
    const errors: unknown[] = [];
    const subscription = subscribeMessages(bob, (m) => void received.push(m), { onError: (e) => errors.push(e) });
    try {
      await bob.me.query();
      const sent: string[] = [];
      const send = async (text: string) => {
        await alice.sendToUser.mutate({ to: 'bob', text });
        sent.push(text);
      };
      for (const text of ['before 1', 'before 2', 'before 3']) await send(text);
      await vi.waitFor(() => expect(received.map((m) => m.text)).toEqual(sent));

      // Keep sending (at the rate limit's 20/s) through the expiry and the reconnect.
      for (let i = 0; i < 200 && !(sockets.record.opened >= 2 && bob.connectionState === 'connected'); i++) {
        await send(`during ${i}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(sockets.record.closeCodes[0]).toBe(4001);
      expect(tokenCalls).toHaveLength(2);
      for (const text of ['after 1', 'after 2', 'after 3']) await send(text);

      await vi.waitFor(() => expect(received.map((m) => m.text)).toEqual(sent), { timeout: 10_000 });
      expect(received.map((m) => m.seq)).toEqual(sent.map((_, i) => i + 1));
      expect(errors).toEqual([]);
      expect(await metric(t.url, 'parley_connection_closes_total', { reason: 'token_expired' })).toBe(1);
    } finally {
      subscription.unsubscribe();
      await bob.close();
    }
  });

  it('answers calls on a refused token with UNAUTHORIZED, then closes with 4401 and the SDK stops for good', async () => {
    await using t = await startServer();
    const sockets = recordingWebSocket();
    const closed: ParleyConnectionClosedError[] = [];
    const client = createParleyClient({
      url: t.url,
      token: 'not.a.jwt',
      WebSocket: sockets.WebSocket,
      onClosed: (e) => closed.push(e),
    });
    try {
      await expect(client.me.query()).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });
      await vi.waitFor(() => expect(client.connectionState).toBe('closed'), { timeout: 5000 });
      expect(closed).toHaveLength(1);
      expect(closed[0]).toMatchObject({ code: 4401, reason: 'token refused' });
      expect(closed[0]?.message).not.toContain('not.a.jwt');
      expect(sockets.record).toEqual({ opened: 1, closeCodes: [4401] });
    } finally {
      await client.close();
    }
  });
});
