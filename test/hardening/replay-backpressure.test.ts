import { describe, expect, it, vi } from 'vitest';
import { startServer } from '../helpers/server.js';
import { collect } from '../helpers/collect.js';
import { metric } from '../helpers/metrics.js';

describe('replay backpressure', () => {
  it('replays a backlog far larger than the send buffer limit at the client’s pace, without a slow-consumer close', async () => {
    await using t = await startServer({ sendBufferLimitBytes: 32 * 1024, maxTextLength: 2000, sendRateLimit: null });
    const alice = await t.client('alice');
    await (await t.http('bob')).me.query();
    const count = 400;
    const text = (i: number) => `m${i}|${'y'.repeat(1000)}`;
    // In bursts whose replies (an echo of each message) stay well under alice's own send
    // buffer limit: only bob's replay is to meet the limit here.
    for (let from = 0; from < count; from += 10) {
      await Promise.all(
        Array.from({ length: 10 }, (_, j) =>
          alice.sendToUser.mutate({ to: 'bob', text: text(from + j), clientMsgId: `c${from + j}` }),
        ),
      );
    }

    const inbox = collect(await t.client('bob'), { lastEventId: '0' });
    await vi.waitFor(() => expect(inbox.messages).toHaveLength(count), { timeout: 20_000 });
    expect(inbox.seqs()).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    expect(await metric(t.url, 'parley_connection_closes_total', { reason: 'slow_consumer' })).toBe(0);
  });
});
