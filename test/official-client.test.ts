/**
 * The official tRPC client (`createWSClient` + `wsLink`, no Parley code) against Parley's
 * own WebSocket handler, in each of its modes: lazy or not, with connectionParams or
 * without, with tRPC's keep-alive. It must not be able to tell it from tRPC's adapter.
 */
import { describe, expect, it } from 'vitest';
import { createTRPCClient, createWSClient, wsLink } from '@trpc/client';
import superjson from 'superjson';
import { WebSocket } from 'ws';
import type { AppRouter } from '../server/index.js';
import { startServer, type TestServer } from './helpers/server.js';
import { until } from './helpers/frames.js';
import { openRaw } from './helpers/raw-ws.js';

type Mode = { lazy: boolean; connectionParams: boolean; keepAlive: boolean };

const modes: Mode[] = [
  { lazy: false, connectionParams: true, keepAlive: false },
  { lazy: true, connectionParams: true, keepAlive: false },
  { lazy: false, connectionParams: true, keepAlive: true },
  { lazy: true, connectionParams: true, keepAlive: true },
  { lazy: false, connectionParams: false, keepAlive: false },
  { lazy: true, connectionParams: false, keepAlive: true },
];

function officialClient(t: TestServer, mode: Mode, token: string) {
  const wsClient = createWSClient({
    url: `${t.url.replace('http', 'ws')}/trpc`,
    WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
    lazy: { enabled: mode.lazy, closeMs: 100 },
    keepAlive: { enabled: mode.keepAlive, intervalMs: 50, pongTimeoutMs: 1000 },
    ...(mode.connectionParams ? { connectionParams: () => ({ token }) } : {}),
  });
  const client = createTRPCClient<AppRouter>({ links: [wsLink({ client: wsClient, transformer: superjson })] });
  return { client, wsClient, [Symbol.asyncDispose]: () => wsClient.close() };
}

const name = (m: Mode) =>
  `${m.lazy ? 'lazy' : 'eager'}, ${m.connectionParams ? 'with' : 'without'} connectionParams${m.keepAlive ? ', keep-alive' : ''}`;

describe('the official @trpc/client wsLink against Parley', () => {
  for (const mode of modes) {
    it(`works unchanged: ${name(mode)}`, async () => {
      await using t = await startServer({ sendRateLimit: null });
      await t.client('bob');
      await using alice = officialClient(t, mode, await t.token('alice'));
      if (!mode.connectionParams) {
        // Without connectionParams the socket is anonymous: public calls work, the others say why not.
        await expect(alice.client.me.query()).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });
        await expect(alice.client.auth.login.mutate({ userId: 'carol', password: 'wrong password' })).rejects.toMatchObject({
          data: { code: 'UNAUTHORIZED' },
        });
        return;
      }
      await using bob = officialClient(t, mode, await t.token('bob'));
      expect(await alice.client.me.query()).toEqual({ userId: 'alice' });

      const received: Array<{ id: string; text: string; sentAt: unknown }> = [];
      const errors: unknown[] = [];
      let started = false;
      const subscription = bob.client.onMessage.subscribe(
        {},
        {
          onStarted: () => (started = true),
          onData: ({ id, data }) => received.push({ id, text: data.text, sentAt: data.sentAt }),
          onError: (e) => errors.push(e),
        },
      );
      await until('bob subscribed', () => started);
      // Sends batched by the link (one frame), each answered with the stored message.
      const sent = await Promise.all([1, 2, 3].map((i) => alice.client.sendToUser.mutate({ to: 'bob', text: `m${i}` })));
      expect(sent.map((m) => [m.seq, m.text, m.sentAt instanceof Date])).toEqual([
        [1, 'm1', true],
        [2, 'm2', true],
        [3, 'm3', true],
      ]);
      await until('three messages delivered', () => received.length === 3);
      expect(received.map((m) => [m.id, m.text, m.sentAt instanceof Date])).toEqual([
        ['1', 'm1', true],
        ['2', 'm2', true],
        ['3', 'm3', true],
      ]);
      // Validation errors reach the client as tRPC shapes them, with Parley's field errors.
      await expect(alice.client.sendToUser.mutate({ to: 'bob', text: '' })).rejects.toMatchObject({
        data: { code: 'BAD_REQUEST', fieldErrors: { text: expect.any(Array) } },
      });
      // Keep-alive PINGs are answered: the socket outlives several pong timeouts' worth of intervals.
      if (mode.keepAlive) await new Promise((resolve) => setTimeout(resolve, 300));
      await bob.client.ack.mutate({ upTo: 3 });
      subscription.unsubscribe();
      expect(errors).toEqual([]);
      expect(await alice.client.sendToUser.mutate({ to: 'bob', text: 'after' })).toMatchObject({ seq: 4 });
    });
  }

  it('reconnects when the server stops (reconnect notification, then 4003) and resumes its subscription from the last event id', async () => {
    const first = await startServer({ sendRateLimit: null });
    let current = first.url;
    const token = await first.token('bob');
    let connections = 0;
    const wsClient = createWSClient({
      // Each (re)connection goes where the server now is, as behind a load balancer.
      url: () => `${current.replace('http', 'ws')}/trpc`,
      WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
      connectionParams: () => ((connections += 1), { token }),
      retryDelayMs: () => 50,
    });
    const bob = createTRPCClient<AppRouter>({ links: [wsLink({ client: wsClient, transformer: superjson })] });
    const received: string[] = [];
    let started = 0;
    const subscription = bob.onMessage.subscribe({}, { onStarted: () => (started += 1), onData: ({ data }) => received.push(data.text) });
    await until('subscribed', () => started === 1);
    await (await first.http('alice')).sendToUser.mutate({ to: 'bob', text: 'before' });
    await until('first message', () => received.length === 1);
    const raw = await openRaw(first.url, { token: await first.token('carol') });
    // Stopping sends the notification, then closes the sockets; the next server takes the data dir.
    await first.stop();
    expect(raw.frames).toContainEqual({ id: null, method: 'reconnect' });
    await using second = await startServer({ sendRateLimit: null, dataDir: first.dataDir });
    current = second.url;
    await until('resubscribed on the next server', () => started === 2);
    await (await second.http('alice')).sendToUser.mutate({ to: 'bob', text: 'after' });
    await until('resumed', () => received.length === 2);
    // From its last event id: nothing missed, nothing twice.
    expect(received).toEqual(['before', 'after']);
    expect(connections).toBe(2);
    subscription.unsubscribe();
    await wsClient.close();
    await first.close();
  });
});
