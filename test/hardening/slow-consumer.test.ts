import { describe, expect, it, vi } from 'vitest';
import { createParleyClient } from '@parley/sdk';
import { startServer } from '../helpers/server.js';
import { startPausingProxy } from '../helpers/pausing-proxy.js';
import { collect } from '../helpers/collect.js';
import { metric } from '../helpers/metrics.js';

/** Enough to fill loopback socket buffers many times over; the loop stops at the close. */
const maxBigSends = 400;
const padding = 'x'.repeat(50_000);

describe('slow consumers', () => {
  it('closes a client that stops reading; the sender and others are unaffected; on reconnect it gets every message once', async () => {
    await using t = await startServer({ sendBufferLimitBytes: 64 * 1024, maxTextLength: 60_000, sendRateLimit: null });
    const proxy = await startPausingProxy(t.url);
    const bob = createParleyClient({ url: proxy.url, token: await t.token('bob') });
    try {
      await bob.me.query();
      const alice = await t.client('alice');
      const carolInbox = collect(await t.client('carol'));
      const bobInbox = collect(bob);
      const sentToBob = ['first'];
      const sentToCarol: string[] = [];
      await alice.sendToUser.mutate({ to: 'bob', text: 'first' });
      await vi.waitFor(() => expect(bobInbox.texts()).toEqual(['first']));

      proxy.pause();
      const slowCloses = () => metric(t.url, 'parley_connection_closes_total', { reason: 'slow_consumer' });
      for (let i = 0; i < maxBigSends && (i % 10 !== 0 || (await slowCloses()) === 0); i++) {
        await alice.sendToUser.mutate({ to: 'bob', text: `big ${i}|${padding}` });
        sentToBob.push(`big ${i}`);
        await alice.sendToUser.mutate({ to: 'carol', text: `small ${i}` });
        sentToCarol.push(`small ${i}`);
      }
      // Closed either at once (its buffer passed the limit) or once it has taken nothing for
      // a few seconds while its subscription waited for it (backpressure).
      await vi.waitFor(async () => expect(await slowCloses()).toBe(1), { timeout: 10_000 });
      // Bob's socket is gone on the server while he is still stalled; carol's messages flowed throughout.
      await vi.waitFor(async () => expect(await metric(t.url, 'parley_connections')).toBe(2), { timeout: 5_000 });
      await vi.waitFor(() => expect(carolInbox.texts()).toEqual(sentToCarol));
      const received = bobInbox.messages.length;

      proxy.resume();
      const label = (text: string) => text.split('|')[0];
      await vi.waitFor(() => expect(bobInbox.texts().map(label)).toEqual(sentToBob), { timeout: 15_000 });
      expect(bobInbox.seqs()).toEqual(sentToBob.map((_, i) => i + 1));
      expect(received).toBeLessThan(sentToBob.length);
      expect(bobInbox.errors).toEqual([]);
    } finally {
      await bob.close();
      await proxy.close();
    }
  });
});
