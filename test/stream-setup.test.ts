import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBus } from '../server/bus/memory-bus.js';
import { SqliteStore } from '../server/store/sqlite-store.js';
import { createLogger } from '../server/log.js';
import { MessageService } from '../server/messages/message-service.js';
import { createMessageProcedures } from '../server/router/message-procedures.js';
import { tempDir } from './helpers/server.js';

describe('opening a stream', () => {
  const dirs: string[] = [];
  const stores: SqliteStore[] = [];
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  async function setup() {
    const dir = tempDir();
    dirs.push(dir);
    const store = new SqliteStore(join(dir, 'parley.db'), createLogger('silent'));
    stores.push(store);
    await store.ensureUser('alice');
    await store.ensureUser('bob');
    await store.append({ from: 'alice', to: 'bob', text: 'one', clientMsgId: null });
    const bus = new MemoryBus();
    const messages = new MessageService(store, bus, { maxReplays: 4, maxReplaysPerUser: 2 });
    const procedures = createMessageProcedures({
      messages,
      maxTextLength: 100,
      maxSubscriptionsPerConnection: 10,
      sendLimiter: null,
      inFlight: { track: (work) => work() },
      metrics: {
        messageSent: () => {},
        messageDelivered: () => {},
        rateLimited: () => {},
        subscriptionOpened: () => {},
        subscriptionClosed: () => {},
      },
    });
    const ctx = { userId: 'bob', connection: { subscriptions: 0, backpressure: () => null } };
    return { bus, ctx, procedures };
  }

  it('leaves no bus listener and no counted subscription behind when it is refused, stopped before it opens, or dropped unstarted', async () => {
    const { bus, ctx, procedures } = await setup();

    // Refused: a cursor past the head.
    await expect(procedures.onMessage.run(ctx, { lastEventId: '9' }, new AbortController().signal)).rejects.toThrow(
      /past the end of your stream \(1\)/,
    );
    expect([bus.subscribedUsers, ctx.connection.subscriptions]).toEqual([0, 0]);

    // Stopped before the procedure ran (the transport's stop won the race).
    const stopped = new AbortController();
    stopped.abort();
    await expect(procedures.onMessage.run(ctx, {}, stopped.signal)).rejects.toMatchObject({ name: 'AbortError' });
    expect([bus.subscribedUsers, ctx.connection.subscriptions]).toEqual([0, 0]);

    // Opened, then stopped before anyone iterated it (as tRPC drops a stream whose socket closed meanwhile).
    const dropped = new AbortController();
    const events = await procedures.onMessage.run(ctx, {}, dropped.signal);
    expect([bus.subscribedUsers, ctx.connection.subscriptions]).toEqual([1, 1]);
    dropped.abort();
    await events.return(undefined);
    expect([bus.subscribedUsers, ctx.connection.subscriptions]).toEqual([0, 0]);

    // Opened and iterated: it delivers, and lets go once stopped.
    const running = new AbortController();
    const iterator = (await procedures.onMessage.run(ctx, {}, running.signal))[Symbol.asyncIterator]();
    const [eventId, message] = (await iterator.next()).value ?? [];
    expect([eventId, message?.text]).toEqual(['1', 'one']);
    running.abort();
    await iterator.return?.(undefined);
    expect([bus.subscribedUsers, ctx.connection.subscriptions]).toEqual([0, 0]);
  });
});
