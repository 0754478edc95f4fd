import { describe, expect, it, vi } from 'vitest';
import { createParleyClient } from '@parley/sdk';
import { startServer } from './helpers/server.js';
import { startStallingProxy } from './helpers/stalling-proxy.js';
import { collect } from './helpers/collect.js';

describe('SDK keep-alive', () => {
  it('closes a socket that went silent without a close, reconnects (here to the next url) and resumes', async () => {
    await using t = await startServer();
    const target = new URL(t.url);
    const proxy = await startStallingProxy(target.hostname, Number(target.port));
    try {
      const alice = await t.client('alice');
      const states: string[] = [];
      const bob = createParleyClient({
        url: [`http://127.0.0.1:${proxy.port}`, t.url],
        token: await t.token('bob'),
        keepAlive: { intervalMs: 200, pongTimeoutMs: 400 },
        onStateChange: (state) => states.push(state),
      });
      try {
        await bob.me.query();
        const inbox = collect(bob);
        await alice.sendToUser.mutate({ to: 'bob', text: 'before' });
        await vi.waitFor(() => expect(inbox.texts()).toEqual(['before']));

        // Nothing passes any more, and no close reaches either side: only the probe can tell.
        proxy.stall();
        await alice.sendToUser.mutate({ to: 'bob', text: 'while stalled' });
        await vi.waitFor(() => expect(inbox.texts()).toEqual(['before', 'while stalled']), { timeout: 10_000 });
        expect(inbox.seqs()).toEqual([1, 2]);
        expect(states).toContain('reconnecting');
        expect(bob.connectionState).toBe('connected');
      } finally {
        await bob.close();
      }
    } finally {
      await proxy.close();
    }
  });

  it('keeps a live socket whose traffic answers the probe', async () => {
    await using t = await startServer();
    const states: string[] = [];
    const bob = createParleyClient({
      url: t.url,
      token: await t.token('bob'),
      keepAlive: { intervalMs: 100, pongTimeoutMs: 300 },
      onStateChange: (state) => states.push(state),
    });
    try {
      await bob.me.query();
      await new Promise((resolve) => setTimeout(resolve, 1200));
      expect(await bob.me.query()).toEqual({ userId: 'bob' });
      expect(states).toEqual(['connecting', 'connected']);
    } finally {
      await bob.close();
    }
  });
});
